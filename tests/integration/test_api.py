"""serve + collect --endpoint end to end on loopback with the zoo teacher.

- collect --endpoint against `serve` stores the same records as collect --model (same seed);
- fault tests against the real server: stopped mid-collection then restarted (the rerun
  completes, no partial record), 429 / 500 / slow / malformed answers (retried, completed);
- the API key from the environment never reaches the store or stderr;
- malformed requests get 400/404/405/413 with JSON errors;
- a bounded load test (4 threads x 25 requests) printing requests/s and latency percentiles;
- compare --teacher-endpoint against the served teacher;
- db merge of two sharded stores equals one unsharded collection, and is idempotent.
All traffic goes to 127.0.0.1.
"""
import json, os, re, signal, sqlite3, subprocess, sys, threading, time, urllib.error, urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, check, done, run, skip_all, tmpdir

TEACHER = os.path.join(ZOO, 'gguf', 'teacher.gguf')
if not HAVE_ZOO or not os.path.exists(TEACHER):
    skip_all('the zoo is absent (../shared/zoo/gguf/teacher.gguf)')

D = tmpdir()
KEY = 'sk-distiltrace-test-0123456789abcdef'
COMMON = ['--corpus', 'identity', '--probes', '12', '--seed', '11', '--samples', '2',
          '--max-tokens', '24', '--top-logprobs', '3']


class Server:
    def __init__(self, *extra):
        self.p = subprocess.Popen([DT, 'serve', '--model', TEACHER, '--port', '0'] + list(extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        self.port = int(line.split(':')[-1].split()[0]) if 'listening' in line else None
        self.url = f'http://127.0.0.1:{self.port}'

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def records(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        'SELECT p.xxh128, o.sample_index, o.response, o.finish_reason, o.has_logprobs, '
        'o.n_tokens, o.tokens, o.logprobs, o.top_k FROM observations o JOIN probes p '
        'ON p.id = o.probe_id ORDER BY p.xxh128, o.sample_index').fetchall()
    con.close()
    return rows


def consistent(db):
    """Every stored record is whole: token, log-prob and top-k blobs agree with n_tokens."""
    bad = 0
    for r in records(db):
        n, toks, lps = r[5], r[6], r[7]
        k, off = 0, 0
        while off + 4 <= len(toks):
            off += 4 + int.from_bytes(toks[off:off + 4], 'little')
            k += 1
        if k != n or off != len(toks) or len(lps) != 8 * n or n == 0:
            bad += 1
    return bad


def collect_endpoint(url, db, *extra, env=None, timeout=300):
    e = dict(os.environ)
    e.update(env or {})
    return run([DT, 'collect', '--endpoint', url, '--api-model', 'teacher', '--db', db] +
               COMMON + list(extra), env=e, timeout=timeout)


# --- reference: the local collect ---
local = os.path.join(D, 'local.db')
r = run([DT, 'collect', '--model', TEACHER, '--db', local] + COMMON)
check(r.returncode == 0, 'collect --model', r.stderr)
ref = records(local)
check(len(ref) == 24, f'local collection has 24 records ({len(ref)})')

srv = Server()
check(srv.port is not None, f'serve listens on loopback port {srv.port}')

# --- equality with the local collect, and the key kept out of the store and stderr ---
api = os.path.join(D, 'api.db')
r = collect_endpoint(srv.url, api, '--concurrency', '3', '--api-key-env', 'DT_TEST_KEY',
                     env={'DT_TEST_KEY': KEY})
check(r.returncode == 0, 'collect --endpoint against serve', r.stderr)
got = records(api)
check(got == ref, f'endpoint records equal the local records ({len(got)} vs {len(ref)})',
      next((f'first difference at {i}' for i, (a, b) in enumerate(zip(got, ref)) if a != b), ''))
with open(api, 'rb') as f:
    blob = f.read()
for suffix in ('-wal', '-shm'):
    if os.path.exists(api + suffix):
        blob += open(api + suffix, 'rb').read()
check(KEY.encode() not in blob and KEY not in r.stderr and KEY not in r.stdout,
      'the API key is neither in the store nor in the output')
r = collect_endpoint(srv.url, api, '--api-key-env', 'DT_TEST_KEY', env={'DT_TEST_KEY': KEY})
check(r.returncode == 0 and 'collected 0 new samples' in r.stdout and records(api) == ref,
      'a rerun is a no-op', r.stdout + r.stderr)

# --- malformed requests ---
def post(path, body, method='POST', headers=None):
    req = urllib.request.Request(srv.url + path, data=body, method=method,
                                 headers=headers or {'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def json_error(body):
    try:
        e = json.loads(body)['error']
        return isinstance(e['message'], str) and 'type' in e and 'code' in e
    except Exception:
        return False

cases = [
    ('/v1/chat/completions', b'{"messages": [', 'POST', 400),
    ('/v1/chat/completions', b'{"messages": "hi"}', 'POST', 400),
    ('/v1/chat/completions', b'{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 50, "logprobs": true}', 'POST', 400),
    ('/v1/completions', b'{"prompt": "x", "temperature": "warm"}', 'POST', 400),
    ('/v1/completions', b'\xff\xfe', 'POST', 400),
    ('/v1/embeddings', b'{}', 'POST', 404),
    ('/v1/chat/completions', None, 'GET', 405),
    ('/v1/models', b'{}', 'POST', 405),
    ('/v1/completions', b'{"prompt": "' + b'a' * (2 << 20) + b'"}', 'POST', 413),
]
for path, body, method, want in cases:
    st, b = post(path, body, method)
    check(st == want and json_error(b), f'{method} {path} ({len(body or b"")} bytes) -> {want}',
          f'got {st}: {b[:200]!r}')
st, b = post('/health', None, 'GET')
check(st == 200 and json.loads(b) == {'status': 'ok'}, 'GET /health')
st, b = post('/v1/models', None, 'GET')
check(st == 200 and json.loads(b)['data'][0]['id'] == 'teacher', 'GET /v1/models')

# --- bounded load test: 4 client threads x 25 requests ---
lat, errors = [], []
lock = threading.Lock()
body = json.dumps({'model': 'teacher', 'messages': [{'role': 'user', 'content': 'Who are you?'}],
                   'max_tokens': 16, 'temperature': 0.7, 'logprobs': True, 'top_logprobs': 2})

def client(k):
    for i in range(25):
        b = json.loads(body)
        b['seed'] = k * 1000 + i
        t0 = time.perf_counter()
        st, out = post('/v1/chat/completions', json.dumps(b).encode())
        dt = time.perf_counter() - t0
        with lock:
            lat.append(dt)
            if st != 200:
                errors.append(st)

t0 = time.perf_counter()
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000
print(f'# load: {len(lat)} requests from 4 concurrent clients in {wall:.2f} s: '
      f'{len(lat) / wall:.1f} requests/s; latency p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, '
      f'p99 {pct(99):.1f} ms')
check(len(lat) == 100 and not errors, f'load test: 100 requests, all 200 ({len(errors)} errors)')

# --- compare with the teacher behind the endpoint ---
gg = os.path.join(ZOO, 'gguf')
r = run([DT, 'compare', '--teacher-endpoint', srv.url, '--teacher-api-model', 'teacher',
         '--suspect', os.path.join(gg, 's_seqkd.gguf'), '--control', os.path.join(gg, 'teacher2.gguf'),
         '--control', os.path.join(gg, 'c_other_data.gguf'),
         # a model-level verdict needs three or more controls; four reach alpha on 20 answers
         '--control', os.path.join(gg, 'c_small_same_data.gguf'),
         '--control', os.path.join(gg, 'c_same_data.gguf'), '--no-db', '--json', '--quiet',
         '--identity-probes', '10', '--chat-probes', '12', '--text-probes', '10'], timeout=300)
try:
    v = json.loads(r.stdout)['verdict']
except (ValueError, KeyError):
    v = {}
check(v.get('relation') == 'distilled' and v.get('teacher') == 'teacher',
      f'compare --teacher-endpoint: s_seqkd is distilled from the served teacher ({v.get("relation")})',
      r.stderr)
srv.stop()

# --- fault: the server stops mid-collection, comes back, the rerun completes ---
slow = Server('--fault-delay-ms', '60')
stopped = os.path.join(D, 'stopped.db')
p = subprocess.Popen([DT, 'collect', '--endpoint', slow.url, '--api-model', 'teacher', '--db',
                      stopped, '--retries', '1', '--backoff', '0.05'] + COMMON,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
deadline = time.time() + 60
while time.time() < deadline and p.poll() is None:
    try:
        n = sqlite3.connect(stopped).execute('SELECT count(*) FROM observations').fetchone()[0]
    except sqlite3.Error:
        n = 0
    if n >= 4:
        break
    time.sleep(0.05)
slow.stop(signal.SIGKILL)
out, err = p.communicate(timeout=120)
partial = records(stopped)
check(p.returncode == 7 and 0 < len(partial) < 24,
      f'collect fails with exit 7 when the server dies ({len(partial)} records kept)', err)
check(consistent(stopped) == 0 and all(r in ref for r in partial),
      'no partial record: every stored record is whole and equals the local one')
back = Server()
r = collect_endpoint(back.url, stopped)
check(r.returncode == 0 and records(stopped) == ref,
      'after a restart the rerun completes and equals the local collection', r.stderr)
back.stop()

# --- fault modes: 429, 500, malformed JSON, slow answers with a short timeout ---
modes = [
    ('429', ['--fault-429-every', '3'], [], '429'),
    ('500', ['--fault-500-every', '3'], [], '5xx'),
    ('malformed JSON', ['--fault-malformed-every', '3'], [], 'malformed'),
    ('slow (timeout 0.5 s)', ['--fault-delay-ms', '2000', '--fault-delay-every', '4'],
     ['--timeout', '0.5'], 'timeouts'),
]
for name, sflags, cflags, word in modes:
    s = Server(*sflags)
    db = os.path.join(D, f'fault_{word}.db')
    t0 = time.time()
    r = collect_endpoint(s.url, db, '--concurrency', '2', '--backoff', '0.05', *cflags)
    s.stop()
    got = records(db)
    check(r.returncode == 0 and got == ref and consistent(db) == 0,
          f'{name}: retried and completed, records equal the local ones ({time.time() - t0:.1f} s)',
          r.stderr)
    m = re.search(r'(\d+) 429, (\d+) 5xx, (\d+) timeouts, (\d+) connection errors, (\d+) malformed',
                  r.stderr)
    counts = dict(zip(['429', '5xx', 'timeouts', 'conn', 'malformed'],
                      [int(x) for x in m.groups()])) if m else {}
    check(counts.get(word, 0) > 0, f'{name}: the retries are reported ({counts})', r.stderr)

# --- a fleet: two shards on two servers, merged ---
s1, s2 = Server(), Server()
a, b, merged = (os.path.join(D, n) for n in ('shard0.db', 'shard1.db', 'merged.db'))
r1 = collect_endpoint(s1.url, a, '--shard', '0/2')
r2 = collect_endpoint(s2.url, b, '--shard', '1/2')
s1.stop()
s2.stop()
check(r1.returncode == 0 and r2.returncode == 0 and 0 < len(records(a)) < 24,
      'two shards collected on two servers', r1.stderr + r2.stderr)
r = run([DT, 'db', 'merge', '--db', merged, '--from', a, '--from', b])
check(r.returncode == 0 and records(merged) == ref, 'db merge of the shards equals one collection',
      r.stdout + r.stderr)
con = sqlite3.connect(merged)
n_col = con.execute('SELECT count(*) FROM collections').fetchone()[0]
n_runs = con.execute('SELECT count(*) FROM runs').fetchone()[0]
con.close()
check(n_col == 1 and n_runs == 2, f'one collection, two runs after the merge ({n_col}, {n_runs})')
r = run([DT, 'db', 'merge', '--db', merged, '--from', a, '--from', b])
con = sqlite3.connect(merged)
n_runs2 = con.execute('SELECT count(*) FROM runs').fetchone()[0]
con.close()
check(r.returncode == 0 and records(merged) == ref and n_runs2 == 2, 'a second merge adds nothing')
r = run([DT, 'db', 'check', '--db', merged])
check(r.returncode == 0, 'the merged store passes db check', r.stdout + r.stderr)

done()

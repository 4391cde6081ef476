#!/usr/bin/env python3
"""collect end to end on the zoo teacher: fills the store with tokens, log-probs and top-k;
killed with SIGKILL mid-run, a rerun completes it, the database passes integrity_check, and the
result equals an uninterrupted collection (per-probe sample seeds, missing samples found by
(probe, sample index), so samples that finished out of order before the kill are not drawn
again under another index)."""
import os, signal, sqlite3, struct, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, skip_all, tmpdir

if not HAVE_ZOO:
    skip_all('the zoo (../shared/zoo) is absent')
model = os.path.join(ZOO, 'gguf', 'teacher.gguf')
if not os.path.exists(model):
    skip_all('zoo/gguf/teacher.gguf is absent')

d = tmpdir()
N_PROBES, N_SAMPLES = 30, 2
args = ['--model', model, '--corpus', 'continuation', '--probes', str(N_PROBES), '--samples', str(N_SAMPLES),
        '--seed', '5', '--max-tokens', '40', '--temperature', '0.8']

def q(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

def contents(db):
    return sorted(q(db, 'SELECT p.xxh128, o.sample_index, o.response, o.n_tokens, o.tokens, o.logprobs, o.top_k '
                        'FROM observations o JOIN probes p ON p.id = o.probe_id'))

# Reference: one uninterrupted collection.
ref = os.path.join(d, 'ref.db')
t0 = time.time()
p = run([DT, 'collect', '--db', ref] + args)
secs = time.time() - t0
check(p.returncode == 0 and f'collected {N_PROBES * N_SAMPLES} new samples' in p.stdout, 'collect fills the store',
      p.stdout + p.stderr)
check(p.stderr == '', 'no progress output when stderr is not a TTY', p.stderr[:200])
rows = q(ref, 'SELECT n_tokens, length(tokens), length(logprobs), length(top_k), has_logprobs FROM observations')
check(len(rows) == N_PROBES * N_SAMPLES and all(r[0] > 0 and r[2] == 8 * r[0] and r[3] > 2 * r[0] and r[4] == 1 for r in rows),
      'every observation has tokens, log-probs and top-k alternatives')
tok, lp, tk, n = q(ref, 'SELECT tokens, logprobs, top_k, n_tokens FROM observations LIMIT 1')[0]
n_alt, = struct.unpack_from('<H', tk, 0)
lps = struct.unpack(f'<{n}d', lp)
check(n_alt == 5 and all(x <= 0 for x in lps), 'top-5 alternatives and log-probs <= 0 (blob encoding as documented)')
check(q(ref, "SELECT format, arch, n_params > 0, length(sha256), tokenizer_hash IS NOT NULL FROM models")[0] ==
      ('gguf', 'llama', 1, 64, 1), 'model recorded with format, architecture, parameters, hashes')
check(q(ref, "SELECT status, seed FROM runs")[0] == ('ok', 5), 'run recorded with its seed and status ok')

# Killed mid-run, then resumed.
db = os.path.join(d, 'kill.db')
proc = subprocess.Popen([DT, 'collect', '--db', db] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + max(60, 4 * secs)
n_before = 0
while time.time() < deadline and proc.poll() is None:
    time.sleep(0.05)
    try:
        n_before = q(db, 'SELECT count(*) FROM observations')[0][0]
    except sqlite3.Error:
        continue
    if n_before >= 6:
        break
killed = proc.poll() is None
if killed:
    proc.send_signal(signal.SIGKILL)
proc.wait()
check(killed and 0 < n_before < N_PROBES * N_SAMPLES, f'collect killed with SIGKILL after {n_before} observations')
check(q(db, 'PRAGMA integrity_check') == [('ok',)], 'integrity_check ok after the kill')
# samples are decoded in batches and stored as each ends: what survives is a set of whole
# (probe, sample index) observations, each at most once and each index within --samples
pairs = q(db, 'SELECT probe_id, sample_index, count(*) FROM observations GROUP BY probe_id, sample_index')
check(pairs and all(n == 1 and 0 <= k < N_SAMPLES for _, k, n in pairs),
      'each (probe, sample index) is stored at most once, within --samples', pairs)
p = run([DT, 'collect', '--db', db] + args)
check(p.returncode == 0 and 'already complete' in p.stdout, 'rerun continues where it stopped', p.stdout + p.stderr)
check(q(db, 'SELECT count(*) FROM observations')[0][0] == N_PROBES * N_SAMPLES, 'the resumed store is complete')
check(contents(db) == contents(ref), 'resumed result equals the uninterrupted one')
check(q(db, 'PRAGMA integrity_check') == [('ok',)], 'integrity_check ok after the rerun')
st = [tuple(r) for r in q(db, 'SELECT status, exit_code FROM runs ORDER BY id')]
check(st == [('failed', 130), ('ok', 0)],
      'the killed run is marked interrupted (failed, exit 130), the rerun is "ok"', st)
p = run([DT, 'collect', '--db', db] + args)
check(p.returncode == 0 and 'collected 0 new samples' in p.stdout, 'a third run adds nothing', p.stdout)
p = run([DT, 'db', 'check', '--db', db])
check(p.returncode == 0, 'db check passes', p.stdout + p.stderr)
p = run([DT, 'collect', '--db', db, '--model', model, '--corpus', 'no-such-corpus'])
check(p.returncode == 3 and 'no corpus' in p.stderr, 'unknown corpus: exit 3', p.stderr)
done()

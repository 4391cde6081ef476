#!/usr/bin/env python3
"""Control panels and resumable compares on the zoo (small probe counts):
panel add records members (identity, answers, settings) and resumes; compare --panel gives the
verdict and p-values of compare with the same models as --control; a member whose model file
moved serves the text signals only; a transcript member equals --control-transcripts; panel
remove drops a member and its answers; a compare killed mid-way and rerun on the same store
gives the uninterrupted result with fewer generations."""
import json, os, shutil, signal, sqlite3, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, skip_all, tmpdir

if not HAVE_ZOO:
    skip_all('the zoo (../shared/zoo) is absent')
G = os.path.join(ZOO, 'gguf')
need = ['teacher', 's_seqkd', 'teacher2', 'c_other_data', 'c_small_same_data']
if not all(os.path.exists(os.path.join(G, m + '.gguf')) for m in need):
    skip_all('zoo models are absent')
CHAT = '<|user|>{prompt}<|assistant|>'
PLAN = ['--identity-probes', '6', '--chat-probes', '8', '--text-probes', '6', '--seed', '3']
CONTROLS = ['teacher2', 'c_other_data', 'c_small_same_data']
g = lambda m: os.path.join(G, m + '.gguf')
d = tmpdir()

def q(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

def compare(*args, db=None, quiet=True):
    cmd = [DT, 'compare', '--json', '--chat-template', CHAT, '--teacher', g('teacher'),
           '--suspect', g('s_seqkd')] + PLAN + list(args) + (['--db', db] if db else ['--no-db'])
    if quiet:
        cmd.append('--quiet')
    p = run(cmd)
    try:
        return p, json.loads(p.stdout)
    except ValueError:
        return p, None

def essence(doc, keep_models=False):
    """What must not depend on where answers came from: verdict, every signal, probes."""
    doc = dict(doc)
    doc.pop('timing', None)
    doc.pop('run', None)  # the run's id differs between stores
    if not keep_models:
        doc.pop('models', None)
    return doc

# ---- panel add / list ----
panel = os.path.join(d, 'panel.db')
for m in CONTROLS:
    p = run([DT, 'panel', 'add', '--panel', panel, '--model', g(m), '--chat-template', CHAT, '--quiet'] + PLAN)
    check(p.returncode == 0 and f"added member '{m}'" in p.stdout, f'panel add {m}', p.stdout + p.stderr)
p = run([DT, 'panel', 'add', '--panel', panel, '--model', g(CONTROLS[0]), '--chat-template', CHAT, '--quiet'] + PLAN)
check(p.returncode == 0 and '(0 new' in p.stdout, 'a repeated panel add finds every answer stored', p.stdout + p.stderr)
p = run([DT, 'panel', 'add', '--panel', panel, '--model', g('teacher'), '--name', CONTROLS[0], '--quiet'] + PLAN)
check(p.returncode != 0 and 'already has a member' in p.stderr, 'a name taken by another model is refused', p.stderr)
# ---- db merge carries the members (it used to copy their answers but not the panel) ----
merged = os.path.join(d, 'merged-panel.db')
p = run([DT, 'db', 'merge', '--db', merged, '--from', panel])
names = sorted(r[0] for r in q(merged, 'SELECT name FROM panel_members')) if p.returncode == 0 else None
check(p.returncode == 0 and '3 panel members added' in p.stdout and names == sorted(CONTROLS),
      'db merge copies the panel members', (p.stdout + p.stderr, names))
p = run([DT, 'db', 'merge', '--db', merged, '--from', panel])
check(p.returncode == 0 and '0 panel members added' in p.stdout, 'a second merge adds no member', p.stdout)
other = os.path.join(d, 'other-panel.db')
run([DT, 'panel', 'add', '--panel', other, '--model', g('s_seqkd'), '--name', CONTROLS[0], '--quiet'] + PLAN)
before = q(merged, 'SELECT count(*) FROM runs')
p = run([DT, 'db', 'merge', '--db', merged, '--from', other])
check(p.returncode == 4 and f"panel member '{CONTROLS[0]}' is another model" in p.stderr and
      q(merged, 'SELECT count(*) FROM runs') == before,
      'a member name the destination gives to another model fails the merge, changing nothing',
      (p.returncode, p.stderr))
p = run([DT, 'panel', 'list', '--panel', panel, '--json'])
members = json.loads(p.stdout) if p.returncode == 0 else []
want = 6 * 2 + 8 + 6
check([m['name'] for m in members] == CONTROLS and all(
    m['source'] == 'local' and len(m['sha256']) == 64 and m['size_bytes'] > 0 and m['tokenizer_hash']
    and m['answers'] == want and m['settings']['seed'] == '3' and m['chat_template'] == CHAT
    and os.path.isabs(m['location']) for m in members),
    'panel list: members with path, size, SHA-256, tokenizer, answers and settings', p.stdout)
p = run([DT, 'db', 'check', '--db', panel])
check(p.returncode == 0 and 'integrity ok' in p.stdout, 'db check passes on a panel', p.stdout + p.stderr)

# ---- compare --panel equals compare --control ----
pp, with_panel = compare('--panel', panel, db=os.path.join(d, 'e1.db'))
pc, with_controls = compare(*sum((['--control', g(m)] for m in CONTROLS), []))
check(with_panel is not None and with_controls is not None, 'both compares ran', pp.stderr + pc.stderr)
if with_panel and with_controls:
    check(essence(with_panel) == essence(with_controls),
          'compare --panel: same verdict, signals and p-values as the members given as --control',
          json.dumps(with_panel['verdict']) + '\n' + json.dumps(with_controls['verdict']))
    check(with_panel['timing']['answers_reused'] == 3 * want and with_panel['timing']['answers_generated'] == 2 * want,
          'the members answered from the panel, only teacher and suspect generated', with_panel['timing'])
    check([m['source'] for m in with_panel['models'] if m['role'] == 'control'] == ['weights'] * 3,
          'members whose files are in place take part with their weights')
# --panel combines with --control
pm_, mixed = compare('--control', g(CONTROLS[0]), '--panel', panel)
check(mixed is not None and [m['name'] for m in mixed['models'] if m['role'] == 'control'] ==
      [CONTROLS[0]] + CONTROLS, '--panel combines with --control', pm_.stderr)

# a missing panel is an input error before any store is created
nodb = os.path.join(d, 'never.db')
p, _ = compare('--panel', os.path.join(d, 'missing.db'), db=nodb)
check(p.returncode == 3 and "panel '" in p.stderr and not os.path.exists(nodb),
      'a missing panel fails naming it, and no store is created', p.stderr)

# ---- a member whose file moved ----
moved_dir = os.path.join(d, 'models')
os.makedirs(moved_dir)
shutil.copy(g('c_other_data'), os.path.join(moved_dir, 'c_other_data.gguf'))
panel2 = os.path.join(d, 'panel2.db')
for path in [g('teacher2'), g('c_small_same_data'), os.path.join(moved_dir, 'c_other_data.gguf')]:
    run([DT, 'panel', 'add', '--panel', panel2, '--model', path, '--chat-template', CHAT, '--quiet'] + PLAN)
os.rename(os.path.join(moved_dir, 'c_other_data.gguf'), os.path.join(moved_dir, 'elsewhere.gguf'))
p, moved = compare('--panel', panel2, quiet=False)
check(moved is not None and "panel member 'c_other_data'" in p.stderr and 'API-only' in p.stderr,
      'a member whose file moved is reported as API-only for the logit signals', p.stderr)
if moved:
    ctl = {m['name']: m for m in moved['models'] if m['role'] == 'control'}
    check(ctl['c_other_data']['source'] == 'transcripts' and ctl['c_other_data']['answers'] == want and
          ctl['c_other_data']['answers_missing'] == 0, 'the moved member answers from the panel alone', ctl)
    sig = {s['name']: s for s in moved['signals']}
    js = {c['name']: c['statistic'] for c in sig['next_token_js']['controls']}
    ident = {c['name']: c.get('n') for c in sig['identity']['controls']}
    check(js.get('c_other_data') is None and js.get('teacher2') is not None,
          'logit signals: the moved member has no value, the others do', js)
    check(ident.get('c_other_data') == 12, 'text signals: the moved member\'s stored answers count', ident)
    check(moved['verdict']['relation'] == with_controls['verdict']['relation'],
          'the verdict stands on the text signals of the moved member', moved['verdict'])
# a compare asking for more than the panel holds: intersection, said so
p, more = compare('--panel', panel2, '--identity-probes', '8', quiet=False)
check(more is not None and "'c_other_data' has 26 of the 30 answers" in p.stderr and "'teacher2' has" not in p.stderr,
      'missing answers of a member without weights are reported', p.stderr)
if more:
    miss = {m['name']: m['answers_missing'] for m in more['models']}
    check(miss.get('c_other_data') == 4 and miss.get('teacher2') == 0,
          'the JSON says how many answers each party lacks', miss)

# ---- a transcript member equals --control-transcripts ----
T = os.path.join(ZOO, 'transcripts')
if os.path.isdir(T):
    panel3 = os.path.join(d, 'panel3.db')
    p = run([DT, 'panel', 'add', '--panel', panel3, '--transcripts', os.path.join(T, 'c_same_data.jsonl'),
             '--name', 'c_same_data', '--quiet'])
    check(p.returncode == 0 and '60 answers' in p.stdout, 'panel add --transcripts', p.stdout + p.stderr)
    base = [DT, 'compare', '--json', '--quiet', '--no-db', '--chat-template', CHAT,
            '--teacher-transcripts', os.path.join(T, 'teacher.jsonl'),
            '--suspect-transcripts', os.path.join(T, 's_seqkd.jsonl'), '--control', g('c_other_data')]
    a = run(base + ['--panel', panel3])
    b = run(base + ['--control-transcripts', os.path.join(T, 'c_same_data.jsonl')])
    ok = a.returncode == b.returncode and a.stdout and b.stdout
    if ok:
        ja, jb = json.loads(a.stdout), json.loads(b.stdout)
        for x in (ja, jb):
            for m in x['models']:
                m.pop('path', None)
        ok = essence(ja, True) == essence(jb, True)
    check(ok, 'a transcript member gives what --control-transcripts gives', a.stderr + b.stderr)

# ---- an endpoint member: the seed sent to the API is the local one ----
srv = subprocess.Popen([DT, 'serve', '--model', g('c_other_data'), '--port', '0', '--chat-template', CHAT, '--quiet'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = srv.stdout.readline()
url = line.split('listening on ')[1].split()[0] if 'listening on ' in line else None
if url:
    panel4 = os.path.join(d, 'panel4.db')
    small = ['--identity-probes', '3', '--chat-probes', '3', '--text-probes', '3', '--seed', '3']
    pe = run([DT, 'panel', 'add', '--panel', panel4, '--endpoint', url, '--api-model', 'c_other_data', '--quiet'] + small)
    pl = run([DT, 'panel', 'add', '--panel', panel4, '--model', g('c_other_data'), '--name', 'local',
              '--chat-template', CHAT, '--quiet'] + small)
    rows = lambda like: q(panel4, "SELECT p.xxh128, o.sample_index, o.response FROM observations o JOIN collections c "
                                  "ON c.id = o.collection_id JOIN probes p ON p.id = o.probe_id "
                                  f"WHERE c.key LIKE '{like}' ORDER BY 1, 2")
    api_rows, local_rows = rows('panel:endpoint:%'), rows('answers:%')
    check(pe.returncode == 0 and pl.returncode == 0 and len(api_rows) == 12 and api_rows == local_rows,
          'an endpoint member (distiltrace serve) gives the local answers: one seed scheme end to end',
          pe.stderr + pl.stderr + f' {len(api_rows)} vs {len(local_rows)}')
srv.terminate()
srv.wait()

# ---- panel remove ----
p = run([DT, 'panel', 'remove', '--panel', panel, '--name', 'c_other_data'])
left = json.loads(run([DT, 'panel', 'list', '--panel', panel, '--json']).stdout)
n_obs = q(panel, "SELECT count(*) FROM observations o JOIN collections c ON c.id = o.collection_id "
                 "JOIN models m ON m.id = c.model_id WHERE m.name = 'c_other_data'")[0][0]
check(p.returncode == 0 and [m['name'] for m in left] == ['teacher2', 'c_small_same_data'] and n_obs == 0,
      'panel remove drops the member and its answers', p.stdout + p.stderr)
p = run([DT, 'panel', 'remove', '--panel', panel, '--name', 'nobody'])
check(p.returncode != 0 and "no member 'nobody'" in p.stderr, 'removing an unknown member fails naming it', p.stderr)

# ---- resume: kill a compare mid-way, rerun ----
RPLAN = ['--identity-probes', '16', '--chat-probes', '20', '--text-probes', '12', '--seed', '4']
rargs = [DT, 'compare', '--json', '--quiet', '--chat-template', CHAT, '--teacher', g('teacher'),
         '--suspect', g('s_seqkd')] + sum((['--control', g(m)] for m in CONTROLS), []) + RPLAN
ref_db = os.path.join(d, 'ref.db')
t0 = time.time()
ref = run(rargs + ['--db', ref_db])
secs = time.time() - t0
ref_doc = json.loads(ref.stdout)
total = ref_doc['timing']['answers_generated']
kdb = os.path.join(d, 'kill.db')
proc = subprocess.Popen(rargs + ['--db', kdb], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
n_before = 0
deadline = time.time() + max(120, 4 * secs)
while time.time() < deadline and proc.poll() is None:
    time.sleep(0.05)
    try:
        n_before = q(kdb, "SELECT count(*) FROM observations")[0][0]
    except sqlite3.Error:
        continue
    if n_before >= total // 2:
        proc.send_signal(signal.SIGKILL)
        break
proc.wait()
check(proc.returncode == -signal.SIGKILL and 0 < n_before < total, 'compare killed mid-way',
      f'rc {proc.returncode}, {n_before} of {total} answers stored')
again = run(rargs + ['--db', kdb])
doc = json.loads(again.stdout) if again.stdout else None
check(doc is not None and essence(doc, True) == essence(ref_doc, True),
      'the rerun gives the verdict and p-values of an uninterrupted compare', again.stderr)
if doc:
    t = doc['timing']
    check(t['answers_reused'] >= n_before and t['answers_generated'] < total and
          t['answers_reused'] + t['answers_generated'] == total,
          'the rerun generates only what the killed run had not stored', t)
p = run([DT, 'db', 'check', '--db', kdb])
check(p.returncode == 0, 'the store passes db check after the kill', p.stdout + p.stderr)

# collect's answers serve a compare: same settings, same seed scheme
cdb = os.path.join(d, 'collect.db')
p = run([DT, 'collect', '--db', cdb, '--model', g('teacher2'), '--corpus', 'continuation', '--seed', '4',
         '--temperature', '0.8', '--top-p', '0.95', '--max-tokens', '32'])
check(p.returncode == 0, 'collect the continuation corpus with compare\'s text settings', p.stderr)
col = run(rargs + ['--db', cdb])
cdoc = json.loads(col.stdout) if col.stdout else None
check(cdoc is not None and cdoc['timing']['answers_reused'] >= 12 and essence(cdoc, True) == essence(ref_doc, True),
      'answers stored by collect are read by compare and give the same result',
      cdoc and cdoc['timing'])
done()

#!/usr/bin/env python3
"""`distiltrace compare` / `attribute`: the DESIGN.md contract (JSON fields, exit statuses),
bad inputs, the evidence store it writes, and the dev-zoo detection matrix of issue 4
(scripts/matrix.py: main family, style family, API-only, attribution)."""
import json, os, sqlite3, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, ZOO, HAVE_ZOO, run, check, done, tmpdir, skip_all

CHAT = '<|user|>{prompt}<|assistant|>'
d = tmpdir()
db = os.path.join(d, 'e.db')

# usage and input errors never need the zoo
p = run([DT, 'compare'])
check(p.returncode == 2, 'no arguments: usage error (2)', p.stderr)
p = run([DT, 'compare', '--teacher', '/nonexistent.gguf', '--suspect', '/nonexistent2.gguf', '--no-db'])
check(p.returncode == 3 and p.stderr.count('\n') == 1 and 'nonexistent' in p.stderr,
      'missing model file: one-line input error (3)', p.stderr)
bad = os.path.join(d, 'bad.gguf')
open(bad, 'wb').write(b'GGUF\x03\x00\x00\x00' + b'\xff' * 40)
p = run([DT, 'compare', '--teacher', bad, '--suspect', bad, '--no-db'])
check(p.returncode == 3 and p.stderr.startswith('distiltrace: '), 'malformed model: input error (3)', p.stderr)
p = run([DT, 'compare', '--teacher', bad, '--suspect', bad, '--chat-template', 'no placeholder'])
check(p.returncode == 2, 'chat template without {prompt}: usage error', p.stderr)
brokenj = os.path.join(d, 'broken.jsonl')
open(brokenj, 'w').write('{"prompt": "hi", "response": \n')
p = run([DT, 'compare', '--teacher-transcripts', brokenj, '--suspect-transcripts', brokenj, '--no-db'])
check(p.returncode == 3 and 'line 1' in p.stderr, 'broken transcript JSON: input error naming the line', p.stderr)

if not HAVE_ZOO:
    done()

g = lambda m: os.path.join(ZOO, 'gguf', m + '.gguf')
ctl = ['--control', g('teacher2'), '--control', g('c_other_data'), '--control', g('c_small_same_data')]
p = run([DT, 'compare', '--teacher', g('teacher'), '--suspect', g('s_seqkd')] + ctl +
        ['--chat-template', CHAT, '--json', '--db', db, '--quiet'])
try:
    doc = json.loads(p.stdout)
except Exception:
    doc = {}
v = doc.get('verdict', {})
check(p.returncode == 1, 'evidence found: exit status 1', p.stderr)
check(v.get('relation') == 'distilled' and isinstance(v.get('p_value'), (int, float)) and v.get('teacher') == 'teacher',
      'contract: verdict.relation, p_value, teacher', v)
sigs = doc.get('signals', [])
check(len(sigs) >= 7 and all({'name', 'statistic', 'p_value'} <= set(s) for s in sigs),
      'contract: signals carry name, statistic, p_value', [s.get('name') for s in sigs])
ident = next((s for s in sigs if s['name'] == 'identity'), {})
check(ident.get('significant') and ident.get('class') == 'artifact', 'the distilled verdict rests on an artifact', ident.get('note'))
con = sqlite3.connect(db)
rows = con.execute('select relation from verdicts').fetchall()
n_sig = con.execute('select count(*) from signals').fetchone()[0]
n_obs = con.execute('select count(*) from observations').fetchone()[0]
status = con.execute('select status, exit_code from runs').fetchall()
con.close()
check(rows == [('distilled',)] and n_sig == len(sigs) and n_obs > 100, 'the store holds the verdict, every signal and the answers',
      (rows, n_sig, n_obs))
check(status == [('ok', 1)], 'the run is recorded as finished with its exit status', status)
p = run([DT, 'db', 'check', '--db', db])
check(p.returncode == 0, 'the store passes db check', p.stderr)

# text output without --json
p = run([DT, 'compare', '--teacher', g('teacher'), '--suspect', g('teacher.q8_0')] + ctl +
        ['--chat-template', CHAT, '--no-db', '--quiet'])
check(p.returncode == 1 and p.stdout.startswith('verdict: same-weights'), 'text summary leads with the verdict', p.stdout[:200])

# no controls: behavioural evidence cannot be judged, the tool says so
p = run([DT, 'compare', '--teacher', g('teacher'), '--suspect', g('c_same_data'), '--chat-template', CHAT,
         '--json', '--no-db', '--quiet'])
try:
    rel = json.loads(p.stdout)['verdict']['relation']
except Exception:
    rel = 'error'
check(rel == 'inconclusive' and p.returncode == 0, 'without controls an independent model is inconclusive, not derived', rel)

# '--opt=VALUE' form: a model after a transcript option is still a model
tr = os.path.join(ZOO, 'transcripts')
p = run([DT, 'compare', '--teacher-transcripts=' + os.path.join(tr, 'teacher.jsonl'),
         '--suspect-transcripts=' + os.path.join(tr, 's_seqkd.jsonl'), '--control=' + g('teacher2'),
         '--chat-template', CHAT, '--json', '--no-db', '--quiet'])
try:
    models = {m['role']: m['source'] for m in json.loads(p.stdout)['models']}
except Exception:
    models = {}
check(models.get('control') == 'weights' and models.get('suspect') == 'transcripts',
      '--control=MODEL after a transcript option is read as a model', (models, p.stderr))

# the matrix
p = subprocess.run([sys.executable, os.path.join(SOURCE, 'scripts', 'matrix.py'), '--dt', DT, '--zoo', ZOO,
                    '--only', 'main', '--only', 'style', '--only', 'api', '--only', 'attribution'],
                   capture_output=True, text=True, timeout=3600)
print('# ' + p.stdout.replace('\n', '\n# '))
check(p.returncode == 0, 'dev-zoo matrix: every expectation of issue 4 holds', p.stderr[-2000:])
done()

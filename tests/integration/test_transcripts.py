#!/usr/bin/env python3
"""transcripts import, db check, runs and corpus commands end to end: the zoo transcripts,
malformed files (per-line errors, database untouched), skip mode, foreign databases."""
import json, os, sqlite3, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, tmpdir

d = tmpdir()
db = os.path.join(d, 'e.db')

def rows(sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

if HAVE_ZOO:
    total = 0
    for m in ['teacher', 's_seqkd', 's_crosstok', 'c_same_data']:
        f = os.path.join(ZOO, 'transcripts', m + '.jsonl')
        p = run([DT, 'transcripts', 'import', '--db', db, '--file', f, '--model-name', m])
        check(p.returncode == 0 and 'imported 60 records' in p.stdout, f'import {m}', p.stderr)
        total += sum(1 for _ in open(f))
    n_tok = rows('SELECT count(*), sum(n_tokens) FROM observations')[0]
    expect_tok = 0
    for m in ['teacher', 's_seqkd', 's_crosstok', 'c_same_data']:
        for line in open(os.path.join(ZOO, 'transcripts', m + '.jsonl')):
            expect_tok += len(json.loads(line)['response']['choices'][0]['logprobs']['content'])
    check(n_tok == (total, expect_tok), 'every record and token stored (sqlite3 reads the tables)', n_tok)
    p = run([DT, 'transcripts', 'import', '--db', db, '--file', os.path.join(ZOO, 'transcripts', 'teacher.jsonl'),
             '--model-name', 'teacher'])
    check(p.returncode == 0 and '0 new, 60 already present' in p.stdout, 'reimport adds nothing', p.stdout)
    p = run([DT, 'db', 'check', '--db', db])
    check(p.returncode == 0 and 'integrity ok' in p.stdout, 'db check passes', p.stdout + p.stderr)
    p = run([DT, 'runs', 'list', '--db', db, '--json'])
    runs = json.loads(p.stdout) if p.returncode == 0 else []
    check(len(runs) == 5 and all(r['status'] == 'ok' for r in runs) and runs[0]['argv'][0] == 'transcripts',
          'runs list --json', p.stdout[:300])
    p = run([DT, 'runs', 'show', '--db', db, '1'])
    check(p.returncode == 0 and 'observations: 60' in p.stdout and "model 'teacher'" in p.stdout,
          'runs show', p.stdout)
    p = run([DT, 'runs', 'show', '--db', db, '99'])
    check(p.returncode == 3 and 'no run 99' in p.stderr, 'runs show of a missing run: exit 3', p.returncode)

    # transcripts show reads a file without a database.
    p = run([DT, 'transcripts', 'show', '--file', os.path.join(ZOO, 'transcripts', 'teacher.jsonl')])
    check(p.returncode == 0 and p.stdout.strip().endswith('60 records, 60 openai-chat'), 'transcripts show', p.stdout[-200:])
    # Two importers writing the same new store at once both succeed (busy timeout, WAL).
    import subprocess
    db4 = os.path.join(d, 'conc.db')
    procs = [subprocess.Popen([DT, 'transcripts', 'import', '--db', db4, '--file',
                               os.path.join(ZOO, 'transcripts', m + '.jsonl'), '--model-name', m],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for m in ['teacher', 's_seqkd', 'c_same_data']]
    codes = [pr.wait() for pr in procs]
    con = sqlite3.connect(db4)
    n_obs = con.execute('SELECT count(*) FROM observations').fetchone()[0]
    con.close()
    check(codes == [0, 0, 0] and n_obs == 180, 'three concurrent importers into one new store all succeed', (codes, n_obs))

# Malformed transcripts: per-line errors, exit 3, database unchanged.
bad = os.path.join(d, 'bad.jsonl')
with open(bad, 'wb') as f:
    f.write(b'{"prompt": "Q", "response": "A"}\n')
    f.write(b'{"prompt": "Q", "response": \n')
    f.write(b'{"prompt": 7, "response": "A"}\n')
    f.write(b'{"prompt": "\xff", "response": "A"}\n')
    f.write(b'{"prompt": "Q2", "response": {"choices": [{"message": {"content": "A"}, "logprobs": {"content": [{"token": "A"}]}}]}}\n')
    f.write(b'{"prompt": "Q3", "response": "' + b'x' * 300 + b'"}\n')
db2 = os.path.join(d, 'bad.db')
p = run([DT, 'transcripts', 'import', '--db', db2, '--file', bad, '--model-name', 'm'])
before = os.path.getsize(db2) if os.path.exists(db2) else 0
errs = [l for l in p.stderr.splitlines() if 'line' in l]
check(p.returncode == 3, 'malformed file: exit 3', p.returncode)
check(any("line 2: invalid JSON" in l for l in errs) and any("line 3: field 'prompt' is a number" in l for l in errs)
      and any('line 4: invalid UTF-8' in l for l in errs)
      and any("line 5: missing field 'response.choices[0].logprobs.content[0].logprob'" in l for l in errs),
      'each malformed line reported with its number', p.stderr)
db_old = db
db = db2
check(rows('SELECT count(*) FROM observations')[0][0] == 0 and rows('SELECT count(*) FROM runs')[0][0] == 0,
      'rejected import leaves the database unchanged')
p = run([DT, 'transcripts', 'import', '--db', db2, '--file', bad, '--model-name', 'm', '--max-line-bytes', '200'])
check(p.returncode == 3 and 'line 6: line is' in p.stderr, 'over-long line reported', p.stderr)
p = run([DT, 'transcripts', 'import', '--db', db2, '--file', bad, '--model-name', 'm', '--on-error', 'skip'])
check(p.returncode == 0 and '4 malformed lines skipped' in p.stdout and p.stderr.count('line') == 4,
      '--on-error skip imports the good lines', p.stdout + p.stderr)
check(rows('SELECT count(*) FROM observations')[0][0] == 2, 'two good records stored')
p = run([DT, 'transcripts', 'import', '--db', db2, '--file', os.path.join(d, 'missing.jsonl'), '--model-name', 'm'])
check(p.returncode == 3, 'missing transcript file: exit 3', p.returncode)
p = run([DT, 'transcripts', 'import', '--db', db2, '--file', bad])
check(p.returncode == 2, 'missing --model-name: usage error', p.returncode)
db = db_old

# db check on things that are not distiltrace stores.
other = os.path.join(d, 'other.db')
con = sqlite3.connect(other); con.execute('CREATE TABLE t(x)'); con.commit(); con.close()
p = run([DT, 'db', 'check', '--db', other])
check(p.returncode == 5 and 'another program' in p.stderr, 'db check refuses a foreign database (5)', p.stderr)
p = run([DT, 'transcripts', 'import', '--db', other, '--file', bad, '--model-name', 'm', '--on-error', 'skip'])
check(p.returncode == 5, 'import into a foreign database: exit 5', p.returncode)
p = run([DT, 'db', 'check', '--db', os.path.join(d, 'nope.db')])
check(p.returncode == 5 and not os.path.exists(os.path.join(d, 'nope.db')), 'db check of a missing file: exit 5, no file created')
junk = os.path.join(d, 'junk.db')
open(junk, 'wb').write(b'not a database at all' * 100)
p = run([DT, 'db', 'check', '--db', junk])
check(p.returncode == 5, 'db check of a non-SQLite file: exit 5', p.stderr)

# Corpora.
p = run([DT, 'corpus', 'list'])
check(p.returncode == 0 and all(n in p.stdout for n in ['identity', 'chat', 'continuation']), 'corpus list', p.stdout)
a = run([DT, 'corpus', 'export', 'identity', '--sample', '5', '--seed', '9']).stdout
b = run([DT, 'corpus', 'export', 'identity', '--sample', '5', '--seed', '9']).stdout
c = run([DT, 'corpus', 'export', 'identity', '--sample', '5', '--seed', '10']).stdout
check(a == b and a != c and len(a.splitlines()) == 5, 'corpus sampling is deterministic', a)
txt = os.path.join(d, 'probes.txt')
open(txt, 'w').write('The first opening\nThe second opening\n')
db3 = os.path.join(d, 'c.db')
p = run([DT, 'corpus', 'add', txt, '--db', db3, '--kind', 'text', '--name', 'mine'])
check(p.returncode == 0 and '(2 probes)' in p.stdout, 'corpus add from a text file', p.stdout + p.stderr)
p = run([DT, 'corpus', 'show', 'mine', '--db', db3])
check(p.returncode == 0 and 'The second opening' in p.stdout and ' text ' in p.stdout, 'corpus show of a stored corpus', p.stdout)
p = run([DT, 'corpus', 'show', 'no-such-corpus'])
check(p.returncode != 0 and 'no corpus' in p.stderr, 'unknown corpus reported', p.stderr)
done()

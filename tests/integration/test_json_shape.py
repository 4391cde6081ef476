#!/usr/bin/env python3
"""One JSON shape (issue 13 item 7): compare --json and report --format json of the same run
are one document. The shared content (verdict, every signal with its p-values, the parties,
the probes, the timing) must be identical key for key, the report may only add keys
(docs/json.md lists them), and both validate against docs/schema/comparison.schema.json (with
ajv from tests/node when it is installed). Run for one teacher and for two candidate teachers,
whose report must describe the attributed teacher as compare did."""
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, run, skip_all, tmpdir, ZOO, HAVE_ZOO  # noqa: E402
import report_fixture  # noqa: E402

NODE_DIR = os.path.join(SOURCE, 'tests', 'node')
SCHEMA = os.path.join(SOURCE, 'docs', 'schema', 'comparison.schema.json')
TPL = '<|user|>{prompt}<|assistant|>'
SMALL = ['--identity-probes', '4', '--chat-probes', '6', '--text-probes', '4']
# what only a stored run has: the report adds these, compare never prints them
REPORT_ONLY_TOP = {'rendered_by', 'evidence_sha256', 'integrity'}
REPORT_ONLY = {'run': {'command', 'argv', 'command_line', 'seed', 'threads', 'host', 'started_at',
                       'ended_at', 'status', 'exit_code'},
               'verdict': {'headline'},
               'model': {'model_id', 'sha256', 'xxh128', 'size_bytes'}}


def m(n):
    return os.path.join(ZOO, 'gguf', n + '.gguf')


def same_but_additions(a, b, extra, what):
    """b equals a except for the keys in extra that b may add."""
    missing = [k for k in a if k not in b or a[k] != b[k]]
    added = [k for k in b if k not in a and k not in extra]
    check(not missing and not added, f'{what}: identical, the report only adds {sorted(extra)}',
          {'differ': {k: (a.get(k), b.get(k)) for k in missing}, 'unknown': added})


def compare_pair(tmp, label, extra_args):
    db = os.path.join(tmp, label + '.db')
    cmd = [DT, 'compare', '--teacher', m('teacher'), '--suspect', m('s_seqkd'),
           '--control', m('c_other_data'), '--control', m('c_small_same_data'),
           '--control', m('teacher2'), '--chat-template', TPL, '--db', db, '--json',
           '--quiet'] + extra_args + SMALL
    r = run(cmd, timeout=900)
    check(r.returncode in (0, 1), f'{label}: compare --json ran', r.stderr[-500:])
    c = json.loads(r.stdout)
    run_id = c['run']['id']
    r = run([DT, 'report', str(run_id), '--db', db, '--format', 'json'])
    check(r.returncode == 0, f'{label}: report --format json of run {run_id}', r.stderr[-500:])
    rep = json.loads(r.stdout)
    paths = []
    for name, doc in (('compare', c), ('report', rep)):
        p = os.path.join(tmp, f'{label}-{name}.json')
        with open(p, 'w') as f:
            json.dump(doc, f)
        paths.append(p)
    return c, rep, paths


def main():
    if not HAVE_ZOO:
        skip_all('../shared/zoo is absent')
    tmp = tmpdir()
    all_paths = []
    for label, extra in (('one-teacher', []), ('candidates', ['--candidate', m('teacher2')])):
        c, rep, paths = compare_pair(tmp, label, extra)
        all_paths += paths
        check(list(rep)[:len(c)] == list(c) or set(c) <= set(rep),
              f'{label}: every key of compare --json is in the report', (list(c), list(rep)))
        check(set(rep) - set(c) <= REPORT_ONLY_TOP, f'{label}: the report adds only its own keys',
              sorted(set(rep) - set(c)))
        check(rep['document'] == c['document'] == 'distiltrace-comparison' and
              rep['document_version'] == c['document_version'], f'{label}: one document name')
        check(list(rep)[-1] == 'integrity', f'{label}: the integrity record is the last member')
        same_but_additions(c['run'], rep['run'], REPORT_ONLY['run'], f'{label}: run')
        same_but_additions(c['verdict'], rep['verdict'], REPORT_ONLY['verdict'], f'{label}: verdict')
        check(len(c['signals']) == len(rep['signals']) and
              [s['name'] for s in c['signals']] == [s['name'] for s in rep['signals']],
              f'{label}: the same signals in the same order',
              ([s['name'] for s in c['signals']], [s['name'] for s in rep['signals']]))
        for a, b in zip(c['signals'], rep['signals']):
            same_but_additions(a, b, set(), f"{label}: signal {a['name']} (p-values, controls, details)")
        check(len(c['models']) == len(rep['models']), f'{label}: the same parties',
              ([x['name'] for x in c['models']], [x['name'] for x in rep['models']]))
        for a, b in zip(c['models'], rep['models']):
            same_but_additions(a, b, REPORT_ONLY['model'], f"{label}: party {a['role']} {a['name']}")
        for k in ('probes', 'timing', 'candidates'):
            check(c.get(k) == rep.get(k), f'{label}: {k} identical', (c.get(k), rep.get(k)))
        if extra:
            check(len(c['candidates']) == 2 and c['verdict']['teacher'] ==
                  [x['teacher'] for x in c['candidates'] if x['attributed']][0],
                  f'{label}: the verdict names the attributed candidate', c['candidates'])
    # a store written the way compare wrote it before document_version 2 (no comparison
    # object in the verdict row; report_fixture.py), plain and with hostile text: the report
    # still has the document's keys, filled from the rows
    for adv in (False, True):
        db, run_id, _ = report_fixture.make(DT, tmp, adversarial=adv)
        r = run([DT, 'report', str(run_id), '--db', db, '--format', 'json'])
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        label = 'older store' + (', hostile text' if adv else '')
        check(r.returncode == 0 and {'verdict', 'signals', 'models', 'probes', 'timing', 'run'} <= set(doc)
              and [x['role'] for x in doc['models']][:2] == ['teacher', 'suspect'] and
              doc['probes']['identity'] == 40 and doc['timing']['total_s'] == 192.5 and
              all('title' in g and 'status' in g for g in doc['signals']),
              f'{label}: the report fills the document from the rows', r.stderr[-300:])
        p = os.path.join(tmp, f'older-{int(adv)}.json')
        with open(p, 'w') as f:
            f.write(r.stdout)
        all_paths.append(p)
    if not shutil.which('node') or not os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'ajv')):
        print('# schema validation not run: ajv is absent (npm install --prefix tests/node)')
    else:
        v = subprocess.run(['node', os.path.join(NODE_DIR, 'validate_json.js'), SCHEMA] + all_paths,
                           capture_output=True, text=True)
        check(v.returncode == 0 and v.stdout.count('valid ') == len(all_paths),
              'compare --json and report --format json validate against comparison.schema.json',
              v.stdout[-1500:])
        # the schema can fail: a report document that carries a key compare gives another
        # meaning (the old report's "inputs"), or lacks the parties, is rejected
        bad = dict(rep)
        bad['inputs'] = bad.pop('models')
        p = os.path.join(tmp, 'bad.json')
        json.dump(bad, open(p, 'w'))
        v = subprocess.run(['node', os.path.join(NODE_DIR, 'validate_json.js'), SCHEMA, p],
                           capture_output=True, text=True)
        check(v.returncode == 1 and 'invalid' in v.stdout, 'a document of another shape is rejected',
              v.stdout)
    done()


main()

#!/usr/bin/env python3
"""Every command's --json output against its JSON Schema (docs/schema/*.schema.json), with ajv
from the npm registry (tests/node). Runs each command for real on the zoo with small probe
counts. Skips, saying why, without node, ajv or the zoo."""
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, run, skip_all, tmpdir, ZOO, HAVE_ZOO  # noqa: E402

NODE_DIR = os.path.join(SOURCE, 'tests', 'node')
SCHEMAS = os.path.join(SOURCE, 'docs', 'schema')


def m(n):
    return os.path.join(ZOO, 'gguf', n + '.gguf')


def main():
    if not HAVE_ZOO:
        skip_all('../shared/zoo is absent')
    if not shutil.which('node') or not os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'ajv')):
        skip_all('ajv is absent (run: npm install --prefix tests/node)')
    tmp = tmpdir()
    db = os.path.join(tmp, 'e.db')
    tpl = '<|user|>{prompt}<|assistant|>'
    small = ['--identity-probes', '4', '--chat-probes', '6', '--text-probes', '4']
    trans = os.path.join(tmp, 't.jsonl')
    with open(trans, 'w') as f:
        for i in range(3):
            f.write(json.dumps({'prompt': f'Who are you {i}?', 'response': 'I am a model.'}) + '\n')
    cases = [
        ('comparison', [DT, 'compare', '--teacher', m('teacher'), '--suspect', m('s_seqkd'),
                     '--control', m('c_other_data'), '--control', m('c_small_same_data'),
                     '--control', m('teacher2'), '--chat-template', tpl, '--db', db, '--json']
         + small, (0, 1)),
        ('comparison', [DT, 'report', 'latest', '--db', db, '--format', 'json'], (0,)),
        ('collect', [DT, 'collect', '--model', m('teacher'), '--corpus', 'identity', '--probes',
                     '3', '--db', db, '--json'], (0,)),
        ('transcripts-import', [DT, 'transcripts', 'import', '--db', db, '--file', trans,
                                '--model-name', 'api-x', '--json'], (0,)),
        ('transcripts-show', [DT, 'transcripts', 'show', '--file', trans, '--json'], (0,)),
        ('corpus-list', [DT, 'corpus', 'list', '--db', db, '--json'], (0,)),
        ('corpus-show', [DT, 'corpus', 'show', 'identity', '--sample', '5', '--json'], (0,)),
        ('runs', [DT, 'runs', 'list', '--db', db, '--json'], (0,)),
        ('runs', [DT, 'runs', 'show', '--db', db, '1', '--json'], (0,)),
        ('db-check', [DT, 'db', 'check', '--db', db, '--json'], (0,)),
        ('logits', [DT, 'logits', '--model', m('teacher'), '--text', 'Hello', '--top', '3',
                    '--json'], (0,)),
        ('inspect', [DT, 'inspect', m('teacher'), '--json'], (0,)),
        ('panel-list', [DT, 'panel', 'list', '--panel', db, '--json'], (0,)),
    ]
    # a panel member in the same store, for panel list
    run([DT, 'panel', 'add', '--panel', db, '--model', m('c_other_data'), '--chat-template', tpl,
         '--quiet'] + small, timeout=600)
    html = os.path.join(tmp, 'r.html')
    for i, (schema, cmd, codes) in enumerate(cases):
        r = run(cmd, timeout=600)
        if cmd[1] == 'report':
            run([DT, 'report', 'latest', '--db', db, '-o', html])
        ext = '.jsonl' if schema == 'transcripts-show' else '.json'
        out = os.path.join(tmp, f'{i}-{schema}{ext}')
        with open(out, 'w') as f:
            f.write(r.stdout)
        v = subprocess.run(['node', os.path.join(NODE_DIR, 'validate_json.js'),
                            os.path.join(SCHEMAS, schema + '.schema.json'), out],
                           capture_output=True, text=True)
        check(r.returncode in codes and v.returncode == 0 and 'valid' in v.stdout,
              f'{" ".join(cmd[1:3])} --json matches {schema}.schema.json',
              (r.returncode, r.stderr[-300:], v.stdout[-800:]))
    r = run([DT, 'report', '--verify', html, '--db', db, '--json'])
    out = os.path.join(tmp, 'verify.json')
    open(out, 'w').write(r.stdout)
    v = subprocess.run(['node', os.path.join(NODE_DIR, 'validate_json.js'),
                        os.path.join(SCHEMAS, 'report-verify.schema.json'), out],
                       capture_output=True, text=True)
    check(r.returncode == 0 and v.returncode == 0, 'report --verify --json matches its schema',
          v.stdout + r.stderr)
    # the schemas can fail: a document missing a required key is rejected
    bad = os.path.join(tmp, 'bad.json')
    open(bad, 'w').write(json.dumps({'signals': []}))
    v = subprocess.run(['node', os.path.join(NODE_DIR, 'validate_json.js'),
                        os.path.join(SCHEMAS, 'comparison.schema.json'), bad],
                       capture_output=True, text=True)
    check(v.returncode == 1 and 'invalid' in v.stdout, 'a document without a verdict is rejected')
    done()


main()

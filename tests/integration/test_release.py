"""Release pipelines on the zoo: `fingerprint` registers the teacher, `verify` accepts its
Q8_0 quantization and rejects a fine-tune, an independent same-architecture model and the
students; `check --policy` fails on a distilled student and passes on an independent model,
writing valid JUnit and SARIF; and `report` renders all five formats from that real compare."""
import json, re, shutil, subprocess, time, os, sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, run, skip_all, tmpdir, ZOO, HAVE_ZOO  # noqa: E402

if not HAVE_ZOO:
    skip_all('the zoo (../shared/zoo) is absent')
G = os.path.join(ZOO, 'gguf')


def m(name):
    return os.path.join(G, name + '.gguf')


def fingerprint_tests(tmp):
    db = os.path.join(tmp, 'fp.db')
    r = run([DT, 'fingerprint', m('teacher'), '--db', db, '--name', 'teacher'])
    check(r.returncode == 0 and r.stdout.strip().isdigit(), 'fingerprint prints an id', r.stderr)
    fid = r.stdout.strip()
    for name, same in [('teacher', True), ('teacher.q8_0', True), ('t_finetuned', False),
                       ('c_same_data', False), ('teacher2', False), ('s_seqkd', False),
                       ('s_logitkd', False)]:
        r = run([DT, 'verify', m(name), '--fingerprint', fid, '--db', db, '--json'])
        try:
            j = json.loads(r.stdout)
        except ValueError:
            j = {}
        check(r.returncode == (0 if same else 1) and j.get('same') is same,
              f'verify {name}: {"accepted" if same else "rejected"}', r.stdout + r.stderr)
    # by name, and the one-line reason in text mode
    r = run([DT, 'verify', m('t_finetuned'), '--fingerprint', 'teacher', '--db', db])
    check(r.returncode == 1 and r.stdout.startswith('REJECTED') and r.stdout.count('\n') == 1,
          'verify by name, one-line reason', r.stdout)
    r = run([DT, 'verify', m('teacher.q8_0'), '--fingerprint', '99', '--db', db])
    check(r.returncode == 5, 'unknown fingerprint is a store error', r.stderr)
    r = run([DT, 'verify', m('teacher'), '--db', db])
    check(r.returncode == 2, 'verify without --fingerprint is a usage error')


def policy(tmp, suspect, name):
    p = {
        'suspect': m(suspect),
        'teachers_banned': [m('teacher')],
        'controls': [m('teacher2'), m('c_small_same_data'), m('c_same_data')],
        'alpha': 0.01,
        'fail_on': ['same-weights', 'weight-derived', 'distilled'],
        'chat_template': '<|user|>{prompt}<|assistant|>',
        'probes': {'identity': 20, 'chat': 30, 'text': 20},
        'db': name + '.db',
        # out/ does not exist: check creates it before the work, as the README's CI job needs
        'formats': {'junit': 'out/' + name + '.xml', 'sarif': 'out/' + name + '.sarif',
                    'html': 'out/' + name + '.html'},
    }
    path = os.path.join(tmp, name + '.policy.json')
    with open(path, 'w') as f:
        json.dump(p, f)
    return path


def check_tests(tmp):
    pol = policy(tmp, 's_seqkd', 'seqkd')
    r = run([DT, 'check', '--policy', pol], timeout=900)
    check(r.returncode == 1 and 'distilled' in r.stdout and 'policy FAILED' in r.stdout,
          'check fails on s_seqkd with teacher banned', r.stdout + r.stderr[-2000:])
    xml = os.path.join(tmp, 'out', 'seqkd.xml')
    if check(os.path.exists(xml), 'check wrote the JUnit report'):
        root = ET.parse(xml).getroot()
        s = root.find('testsuite')
        check(root.tag == 'testsuites' and int(s.get('failures')) >= 2,
              'JUnit from check shows failures', s.attrib if s is not None else None)
    sar = os.path.join(tmp, 'out', 'seqkd.sarif')
    if check(os.path.exists(sar), 'check wrote the SARIF report'):
        doc = json.load(open(sar))
        levels = {x['ruleId']: x['level'] for x in doc['runs'][0]['results']}
        check(doc['version'] == '2.1.0' and levels.get('verdict') == 'error', 'SARIF verdict error')
    html = os.path.join(tmp, 'out', 'seqkd.html')
    # from another directory: the store keeps absolute paths, so every input is re-hashed
    r = run([DT, 'report', '--verify', html, '--db', os.path.join(tmp, 'seqkd.db')], cwd='/')
    check(r.returncode == 0 and r.stdout.strip().endswith('\nverified') and 'missing' not in r.stdout,
          'HTML report from check verifies from another directory, every input re-hashed',
          r.stdout)
    text = open(html, encoding='utf-8').read()
    check('>Threads</th><td>unknown' not in text and re.search(r'>Threads</th><td>\d+<', text),
          'the report records the threads the run used')
    # all five formats of the real run, from the store alone
    for f in ('html', 'md', 'json', 'junit', 'sarif'):
        out = os.path.join(tmp, 'real.' + f)
        r = run([DT, 'report', 'latest', '--db', os.path.join(tmp, 'seqkd.db'), '--format', f,
                 '-o', out])
        check(r.returncode == 0 and os.path.getsize(out) > 1000, f'real compare: report {f}',
              r.stderr)
    text = open(os.path.join(tmp, 'real.html'), encoding='utf-8').read()
    check('http://' not in text and 'https://' not in text and '<script' not in text,
          'real compare: HTML self-contained')
    j = json.load(open(os.path.join(tmp, 'real.json')))
    check(j['verdict']['relation'] == 'distilled' and len(j['signals']) >= 5,
          'real compare: JSON verdict and signals')

    pol = policy(tmp, 'c_other_data', 'other')
    r = run([DT, 'check', '--policy', pol, '--json'], timeout=900)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = {}
    check(r.returncode == 0 and doc.get('passed') is True and
          doc['results'][0]['fails'] is False and 'junit' in doc['results'][0]['reports'],
          'check --json passes on c_other_data', r.stdout + r.stderr[-2000:])
    node_dir = os.path.join(SOURCE, 'tests', 'node')
    if shutil.which('node') and os.path.isdir(os.path.join(node_dir, 'node_modules', 'ajv')):
        out = os.path.join(tmp, 'check.json')
        open(out, 'w').write(r.stdout)
        v = subprocess.run(['node', os.path.join(node_dir, 'validate_json.js'),
                            os.path.join(SOURCE, 'docs', 'schema', 'check.schema.json'), out],
                           capture_output=True, text=True)
        check(v.returncode == 0, 'check --json matches check.schema.json', v.stdout)
    xml = os.path.join(tmp, 'out', 'other.xml')
    if check(os.path.exists(xml), 'passing check wrote JUnit'):
        root = ET.parse(xml).getroot()
        s = root.find('testsuite')
        verdict = [c for c in s.findall('testcase') if c.get('name') == 'verdict']
        check(verdict and verdict[0].find('failure') is None, 'JUnit verdict passes')
        check(root.get('failures') == '0' and root.get('errors') == '0' and
              s.get('failures') == '0' and s.get('errors') == '0',
              'JUnit of a passing check shows no failure and no error', root.attrib)
    sar = os.path.join(tmp, 'out', 'other.sarif')
    if check(os.path.exists(sar), 'passing check wrote SARIF'):
        doc = json.load(open(sar))
        res = doc['runs'][0]['results']
        check(all(x.get('kind') != 'fail' for x in res),
              'SARIF of a passing check raises no failing alert', res)

    # what can fail is checked before the work: no store, no run, seconds not minutes
    blocker = os.path.join(tmp, 'afile')
    open(blocker, 'w').close()
    pol = policy(tmp, 'c_other_data', 'blocked')
    doc = json.load(open(pol))
    doc['formats'] = {'junit': 'afile/sub/p.xml'}
    json.dump(doc, open(pol, 'w'))
    t0 = time.time()
    r = run([DT, 'check', '--policy', pol], timeout=60)
    check(r.returncode == 3 and 'afile/sub/p.xml' in r.stderr and '.tmp' not in r.stderr and
          len(r.stderr.strip().splitlines()) == 1 and time.time() - t0 < 10 and
          not os.path.exists(os.path.join(tmp, 'blocked.db')),
          'unwritable report path: one-line error naming it, before any work', r.stderr)
    doc['formats'] = {}
    doc['controls'] = [m('teacher2'), os.path.join(tmp, 'no-such-model.gguf')]
    json.dump(doc, open(pol, 'w'))
    r = run([DT, 'check', '--policy', pol], timeout=60)
    check(r.returncode == 3 and 'no-such-model.gguf' in r.stderr and
          not os.path.exists(os.path.join(tmp, 'blocked.db')),
          'missing model: exit 3 before the store is created', r.stderr)

    bad = os.path.join(tmp, 'bad.json')
    with open(bad, 'w') as f:
        f.write('{"suspect": "x.gguf"}')
    r = run([DT, 'check', '--policy', bad])
    check(r.returncode == 3 and 'teachers_banned' in r.stderr, 'malformed policy: exit 3',
          r.stderr)
    r = run([DT, 'check'])
    check(r.returncode == 2, 'check without --policy: usage error')


def main():
    tmp = tmpdir()
    fingerprint_tests(tmp)
    check_tests(tmp)
    done()


main()

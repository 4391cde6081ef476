"""End to end: `report` renders a compare run in all five formats from the store alone, the
outputs are valid (HTML self-contained and escaped, JUnit as CI systems parse it, SARIF 2.1.0
shape, JSON), `report --verify` catches edits to the report, the store and the inputs, and
hostile generated text cannot break any format."""
import json, os, re, shutil, sqlite3, sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, check, done, run, tmpdir, ZOO, HAVE_ZOO  # noqa: E402
import report_fixture  # noqa: E402

FORMATS = ['html', 'md', 'json', 'junit', 'sarif']


def render_all(db, tmp, run_id='latest', prefix='r'):
    out = {}
    for f in FORMATS:
        path = os.path.join(tmp, f'{prefix}.{f}')
        r = run([DT, 'report', str(run_id), '--db', db, '--format', f, '-o', path])
        check(r.returncode == 0 and os.path.getsize(path) > 500, f'report --format {f}',
              r.stderr)
        with open(path, 'rb') as fh:
            out[f] = fh.read()
    return out


def check_html(html, adversarial=False, label=''):
    text = html.decode('utf-8')  # strict: must be valid UTF-8
    check(text.startswith('<!DOCTYPE html>'), f'{label}html doctype')
    check('http://' not in text and 'https://' not in text, f'{label}html has no URL at all')
    check(not re.search(r'<script', text, re.I), f'{label}html has no script element')
    check(not re.search(r'<(link|img|iframe|object|embed)\b', text, re.I),
          f'{label}html loads nothing external')
    check('@media print' in text, f'{label}html has print styles')
    check(not re.search(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]', text),
          f'{label}html has no control characters')
    check(text.count('<svg') >= 5, f'{label}html has inline SVG charts', text.count('<svg'))
    check('Chain of custody' in text and 'Method' in text and 'Limits' in text,
          f'{label}html has method, limits and custody sections')
    check('Holm-adjusted p-value' in text and 'adjusted p = ' in text,
          f'{label}html charts draw the Holm-adjusted p that decides significance')
    check("share of answers claiming the teacher" in text and 'right = more like the teacher' in text,
          f'{label}html chart axes say what they measure and which way is teacher-like')
    check('counter(pages)' in text and '@bottom-left' in text,
          f'{label}html prints page numbers and the run in every page footer')
    check('class="tablewrap"' in text and 'grid-column:1/3' not in text and
          not re.search(r'th,td\{[^}]*overflow-wrap:anywhere', text),
          f'{label}html tables scroll on narrow screens and words do not break inside')
    verdict_at = text.find('id="verdict"')
    check(0 < verdict_at < text.find('id="summary"') < text.find('id="custody"'),
          f'{label}html leads with the verdict')
    if adversarial:
        check('&lt;script&gt;alert(1)&lt;/script&gt;' in text, f'{label}script tag escaped')
        check('</textarea>' not in text and '&lt;/textarea&gt;' in text,
              f'{label}textarea end escaped')
        check('onerror=alert' not in text.replace('&lt;img src=x onerror=alert', ''),
              f'{label}no live event handler')
        check('\u241b' in text and '\u2407' in text, f'{label}controls shown as pictures')
        check('\ufffd' in text, f'{label}invalid UTF-8 replaced')
        check(len(html) < 400_000, f'{label}1 MB line cut', len(html))
        check('[cut:' in text, f'{label}cut is said')


def check_junit(data, label=''):
    root = ET.fromstring(data)
    check(root.tag == 'testsuites', f'{label}junit root is testsuites')
    suites = root.findall('testsuite')
    check(len(suites) == 1 and suites[0].get('name') == 'distiltrace', f'{label}one testsuite')
    s = suites[0]
    cases = s.findall('testcase')
    nf = sum(1 for c in cases if c.find('failure') is not None)
    ne = sum(1 for c in cases if c.find('error') is not None)
    ns = sum(1 for c in cases if c.find('skipped') is not None)
    check(int(s.get('tests')) == len(cases) and int(s.get('failures')) == nf and
          int(s.get('errors')) == ne and int(s.get('skipped')) == ns,
          f'{label}junit counts agree with the test cases', s.attrib)
    check(all(c.get('classname', '').startswith('distiltrace.') and c.get('name') and
              c.get('time') is not None for c in cases), f'{label}junit testcase attributes')
    for attr in ('tests', 'failures', 'errors'):
        check(root.get(attr) == s.get(attr), f'{label}junit testsuites {attr} total')
    float(s.get('time'))
    return {c.get('name'): ('failure' if c.find('failure') is not None else
                            'error' if c.find('error') is not None else
                            'skipped' if c.find('skipped') is not None else 'pass')
            for c in cases}


def check_sarif(data, label=''):
    doc = json.loads(data.decode('utf-8') if isinstance(data, bytes) else data)
    check(doc.get('version') == '2.1.0' and 'sarif' in doc.get('$schema', ''),
          f'{label}sarif version and $schema')
    runs = doc.get('runs')
    check(isinstance(runs, list) and len(runs) == 1, f'{label}sarif one run')
    drv = runs[0]['tool']['driver']
    check(drv.get('name') == 'distiltrace' and isinstance(drv.get('version'), str),
          f'{label}sarif driver')
    rules = drv.get('rules', [])
    ids = [r['id'] for r in rules]
    check(len(ids) == len(set(ids)) and all(isinstance(r.get('shortDescription', {}).get('text'),
                                                       str) for r in rules),
          f'{label}sarif rules have unique ids and short descriptions')
    ok = True
    for res in runs[0].get('results', []):
        ok &= res.get('ruleId') in ids
        ok &= 0 <= res.get('ruleIndex', -1) < len(rules) and rules[res['ruleIndex']]['id'] == res['ruleId']
        ok &= res.get('level') in ('none', 'note', 'warning', 'error')
        ok &= isinstance(res.get('message', {}).get('text'), str)
        for loc in res.get('locations', []):
            ok &= isinstance(loc['physicalLocation']['artifactLocation']['uri'], str)
    check(ok, f'{label}sarif results well-formed')
    check(isinstance(drv.get('informationUri'), str) and ':' in drv['informationUri'],
          f'{label}sarif driver informationUri')
    check(all(loc['physicalLocation'].get('region', {}).get('startLine') == 1
              for res in runs[0].get('results', []) for loc in res.get('locations', [])),
          f'{label}sarif locations carry a region')
    check(all(res.get('level') == 'none' or res.get('kind', 'fail') == 'fail'
              for res in runs[0].get('results', [])),
          f'{label}sarif: a result of kind other than fail has level none')
    for a in runs[0].get('artifacts', []):
        ok &= re.fullmatch(r'[0-9a-f]{64}', a.get('hashes', {}).get('sha-256', '')) is not None
    check(ok, f'{label}sarif artifacts carry sha-256')
    return {r['ruleId']: r['level'] for r in runs[0]['results']}


def verify(db, path):
    return run([DT, 'report', '--verify', path, '--db', db])


def fixture_tests():
    tmp = tmpdir()
    db, run_id, paths = report_fixture.make(DT, tmp)
    out = render_all(db, tmp)
    check_html(out['html'])
    text = out['html'].decode()
    check('probably distilled' in text and 'Identity claims' in text,
          'html says the verdict in words and names the signals')
    for p in paths.values():
        sha = report_fixture._hash(p)[0]
        check(sha in text, f'html custody lists {os.path.basename(p)}')
    j = json.loads(out['json'])
    check(j['verdict']['relation'] == 'distilled' and len(j['signals']) == 10 and
          j['integrity']['run_id'] == run_id, 'json verdict, signals, integrity')
    check(j['signals'][0]['status'] == 'not-applicable' and j['signals'][2]['status'] == 'evidence',
          'json statuses')
    cases = check_junit(out['junit'])
    check(cases.get('identity') == 'failure' and cases.get('weights') == 'skipped' and
          cases.get('tokenizer') == 'pass' and cases.get('logit_subspace') == 'pass' and
          cases.get('verdict') == 'failure' and 'error' not in cases.values(),
          'junit: failing gate is a failure, not applicable is skipped, never an error', cases)
    levels = check_sarif(out['sarif'])
    check(levels.get('identity') == 'error' and levels.get('next_token_js') == 'warning' and
          'logit_subspace' not in levels and levels.get('verdict') == 'error',
          'sarif: alerts only for the evidence of a failing gate', levels)
    # the same signals under verdicts the gate accepts: the CI reports must not contradict it
    for rel in ('independent', 'inconclusive'):
        db2, run2, _ = report_fixture.make(DT, tmp, relation=rel)
        r = run([DT, 'report', str(run2), '--db', db2, '--format', 'junit'])
        cases = check_junit(r.stdout, f'{rel}: ')
        root = ET.fromstring(r.stdout)
        check(root.get('failures') == '0' and root.get('errors') == '0',
              f'{rel}: junit of a passing gate has failures="0" errors="0"', root.attrib)
        check(cases.get('verdict') == ('skipped' if rel == 'inconclusive' else 'pass'),
              f'{rel}: junit verdict case', cases)
        r = run([DT, 'report', str(run2), '--db', db2, '--format', 'sarif'])
        levels = check_sarif(r.stdout, f'{rel}: ')
        check(levels == ({'verdict': 'none'} if rel == 'inconclusive' else {}),
              f'{rel}: sarif raises no alert for a passing gate', levels)
    md = out['md'].decode()
    check('s_seqkd' in md and 's\\_seqkd' not in md and 'c\\_other' not in md,
          'markdown does not escape underscores inside words', re.findall(r'.{20}seqkd.{5}', md)[:3])
    check(md.startswith('# ') and '## Chain of custody' in md and '| Identity claims |' in md,
          'markdown sections and tables')
    # regenerate: same store, same bytes (the report is a function of the store)
    again = render_all(db, tmp, run_id=run_id, prefix='again')
    check(all(again[f] == out[f] for f in FORMATS), 'rendering twice gives the same bytes')

    for f in FORMATS:
        r = verify(db, os.path.join(tmp, f'r.{f}'))
        check(r.returncode == 0 and 'verified' in r.stdout, f'verify {f}', r.stdout + r.stderr)
    # an edited report
    edited = os.path.join(tmp, 'edited.html')
    with open(edited, 'wb') as fh:
        fh.write(out['html'].replace(b'probably distilled', b'probably independent'))
    r = verify(db, edited)
    check(r.returncode == 4 and 'edited' in r.stdout, 'verify catches an edited report', r.stdout)
    # a report without a record
    bare = os.path.join(tmp, 'bare.md')
    with open(bare, 'w') as fh:
        fh.write('# nothing\n')
    r = verify(db, bare)
    check(r.returncode == 3, 'verify: no integrity record is an input error', r.stderr)
    # a missing input file is said, not failed
    victim = paths['c_small_same_data']
    shutil.move(victim, victim + '.away')
    r = verify(db, os.path.join(tmp, 'r.json'))
    check(r.returncode == 0 and 'missing' in r.stdout, 'verify reports a missing input',
          r.stdout)
    shutil.move(victim + '.away', victim)
    # a changed input file
    with open(paths['teacher'], 'ab') as fh:
        fh.write(b'x')
    r = verify(db, os.path.join(tmp, 'r.sarif'))
    check(r.returncode == 4 and 'MISMATCH' in r.stdout, 'verify catches a changed input',
          r.stdout)
    # a changed store
    con = sqlite3.connect(db)
    con.execute("UPDATE signals SET p_value = 0.5 WHERE name = 'identity'")
    con.commit()
    con.close()
    r = verify(db, os.path.join(tmp, 'r.junit'))
    check(r.returncode == 4 and 'evidence changed' in r.stdout, 'verify catches a changed store',
          r.stdout)
    # usage and lookup errors
    r = run([DT, 'report', '99', '--db', db])
    check(r.returncode == 3 or r.returncode == 5, 'unknown run fails', r.returncode)
    r = run([DT, 'report', '1', '--db', db, '--format', 'pdf'])
    check(r.returncode == 2, 'unknown format is a usage error')
    r = run([DT, 'report', '1', '--db', os.path.join(tmp, 'nope.db')])
    check(r.returncode == 5 and not os.path.exists(os.path.join(tmp, 'nope.db')),
          'missing store fails without creating one')


def adversarial_tests():
    tmp = tmpdir()
    db, run_id, _ = report_fixture.make(DT, tmp, adversarial=True)
    out = render_all(db, tmp, prefix='adv')
    check_html(out['html'], adversarial=True, label='adversarial: ')
    check_junit(out['junit'], label='adversarial: ')
    check_sarif(out['sarif'], label='adversarial: ')
    j = json.loads(out['json'].decode('utf-8'))
    check(any('<script>' in (s.get('note') or '') for s in j['signals']),
          'adversarial: json keeps the text (escaped by JSON)')
    md = out['md'].decode('utf-8')
    check('<script' not in md and '</textarea' not in md, 'adversarial: markdown neutralises HTML')
    for f in FORMATS:
        r = verify(db, os.path.join(tmp, f'adv.{f}'))
        check(r.returncode == 0, f'adversarial: verify {f}', r.stdout + r.stderr)


def main():
    fixture_tests()
    adversarial_tests()
    done()


main()

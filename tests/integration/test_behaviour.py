#!/usr/bin/env python3
"""Behaviour unchanged (issue 12): reruns the compares of the dev-zoo matrix (scripts/matrix.py's
main, style, API-only and attribution parts) and of the integration tests, and checks that every
verdict, verdict p-value and signal (applicable, significant, statistic, p_value, p_adjusted) is
what tests/data/behaviour.json recorded at main's HEAD before the run/ layer was cut out of
detect/compare.c. Floats must agree within 1e-12 (relative, or absolute below 1e-300).

usage: test_behaviour.py            compare against the fixture (the meson test `behaviour`)
       test_behaviour.py --record   rewrite the fixture from the binary in DT_BIN

The fixture is only rewritten on purpose, when a change is meant to move a verdict or p-value:
say which and why in the commit."""
import json, math, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, ZOO, HAVE_ZOO, run, check, done, tmpdir, skip_all

FIXTURE = os.path.join(SOURCE, 'tests', 'data', 'behaviour.json')
CHAT = '<|user|>{prompt}<|assistant|>'


def cases():
    g = lambda m: os.path.join(ZOO, 'gguf', m + '.gguf')
    sz = os.path.join(ZOO, 'style', 'gguf')
    tr = os.path.join(ZOO, 'transcripts')
    out = []
    main_ctl = ['teacher2', 'c_other_data', 'c_small_same_data']
    for s in ['teacher.q8_0', 't_finetuned', 's_seqkd', 's_topk', 's_crosstok', 's_partial', 's_watermarked',
              's_logitkd', 'c_same_data', 'c_small_same_data', 'c_other_data', 'teacher2', 's_from_teacher2',
              's_scrubbed_qwen2']:
        args = ['--teacher', g('teacher'), '--suspect', g(s)]
        for c in main_ctl:
            if c != s:
                args += ['--control', g(c)]
        out.append(('main ' + s, 'compare', args))
    args = ['--teacher', g('teacher'), '--suspect', g('s_watermarked'), '--watermark-key', '15485863']
    for c in main_ctl:
        args += ['--control', g(c)]
    out.append(('main s_watermarked with key', 'compare', args))
    for s in ['s_style', 'c_style_same', 'c_style_small']:
        args = ['--teacher', os.path.join(sz, 'teacher.gguf'), '--suspect', os.path.join(sz, s + '.gguf')]
        for c in ['c_style_same', 'c_style_small']:
            if c != s:
                args += ['--control', os.path.join(sz, c + '.gguf')]
        args += ['--control', g('c_other_data'), '--control', g('c_small_same_data')]
        out.append(('style ' + s, 'compare', args))
    for s in ['s_seqkd', 's_crosstok', 'c_same_data']:
        args = ['--teacher-transcripts', os.path.join(tr, 'teacher.jsonl'),
                '--suspect-transcripts', os.path.join(tr, s + '.jsonl')]
        for c in [c for c in ['teacher2', 'c_other_data', 'c_small_same_data', 'c_same_data', 's_from_teacher2']
                  if c != s][:4]:
            args += ['--control', g(c)]
        out.append(('api ' + s, 'compare', args))
    for s in ['s_from_teacher2', 's_seqkd']:
        out.append(('attribution ' + s, 'attribute',
                    ['--suspect', g(s), '--candidate', g('teacher'), '--candidate', g('teacher2'),
                     '--control', g('c_other_data'), '--control', g('c_small_same_data'),
                     '--control', g('c_same_data')]))
    # test_compare.py's compares outside the matrix: no controls, the '--opt=VALUE' transcript
    # form with one control, and smaller probe plans with one sample
    out.append(('no controls c_same_data', 'compare', ['--teacher', g('teacher'), '--suspect', g('c_same_data')]))
    out.append(('transcripts one control', 'compare',
                ['--teacher-transcripts=' + os.path.join(tr, 'teacher.jsonl'),
                 '--suspect-transcripts=' + os.path.join(tr, 's_seqkd.jsonl'), '--control=' + g('teacher2')]))
    out.append(('small plan s_topk', 'compare',
                ['--teacher', g('teacher'), '--suspect', g('s_topk'), '--identity-probes', '12',
                 '--chat-probes', '20', '--text-probes', '12', '--samples', '1', '--seed', '7'] +
                sum([['--control', g(c)] for c in main_ctl], [])))
    return out


def summary(doc):
    v = doc['verdict']
    return {
        'relation': v.get('relation'),
        'p_value': v.get('p_value'),
        'teacher': v.get('teacher'),
        'signals': {s['name']: {k: s.get(k) for k in
                                ('class', 'applicable', 'significant', 'statistic', 'p_value', 'p_adjusted')}
                    for s in doc.get('signals', [])},
    }


def run_case(kind, args, db):
    p = run([DT, kind, '--json', '--quiet', '--chat-template', CHAT, '--threads', '2', '--db', db] + args,
            timeout=1200)
    try:
        return summary(json.loads(p.stdout)), p.stderr
    except Exception:
        return None, p.stderr


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) or isinstance(b, bool):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-12 * max(abs(a), abs(b)) or abs(a - b) < 1e-300
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def diff(want, got, path=''):
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f'{path}{k}: missing')
            elif k not in want:
                out.append(f'{path}{k}: new')
            else:
                out += diff(want[k], got[k], f'{path}{k}.')
        return out
    return [] if same(want, got) else [f'{path[:-1]}: want {want!r}, got {got!r}']


def main():
    record = '--record' in sys.argv[1:]
    if not HAVE_ZOO:
        skip_all('no ../shared/zoo')
    d = tmpdir()
    results = {}
    for i, (name, kind, args) in enumerate(cases()):
        res, err = run_case(kind, args, os.path.join(d, f'b{i}.db'))
        results[name] = res
        if record:
            sys.stderr.write(f'{name}: {res["relation"] if res else "error: " + err.strip()}\n')
    if record:
        if any(r is None for r in results.values()):
            sys.exit('a case failed: fixture not written')
        with open(FIXTURE, 'w') as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write('\n')
        print(f'wrote {FIXTURE} ({len(results)} cases)')
        return
    want = json.load(open(FIXTURE))
    check(set(want) == set(results), 'the fixture has every case', sorted(set(want) ^ set(results)))
    for name, res in results.items():
        if name not in want:
            continue
        if res is None:
            check(False, f'{name}: ran', 'no JSON')
            continue
        check(same(want[name], res), f'{name}: verdict {res["relation"]}, p-values unchanged',
              '\n'.join(diff(want[name], res)))
    done()


main()

#!/usr/bin/env python3
"""`logits` and greedy `generate` against the zoo's f32 Hugging Face references: for every
refs/NAME.json (GGUF models, plus the HF checkpoint hf/s_seqkd for s_seqkd.json) the token ids
must be equal, logsumexp and the top-20 logits within 1e-3 (we expect ~1e-5), and greedy
generation (temperature 0, stop at end of sequence) must reproduce the `greedy` ids exactly.
teacher.q8_0 is checked against teacher's references with the looser quantization tolerance."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, skip_all

if not HAVE_ZOO:
    skip_all('no ../shared/zoo (set DT_SHARED)')

TOL = 1e-3


def compare(model, ref, tol, label):
    worst = 0.0
    for k, r in enumerate(ref):
        p = run([DT, 'logits', '--model', model, '--text', r['prompt'], '--top', '20', '--json'])
        try:
            o = json.loads(p.stdout)
        except ValueError:
            check(False, f'{label} prompt {k}: logits prints JSON', p.stderr)
            continue
        if not check(o['tokens'] == r['ids'], f'{label} prompt {k}: token ids', (o['tokens'], r['ids'])):
            continue
        err = 0.0
        for i in range(len(r['ids'])):
            err = max(err, abs(o['logsumexp'][i] - r['logsumexp'][i]))
            got = dict(zip(o['top_ids'][i], o['top_logits'][i]))
            for t, b in zip(r['top_ids'][i][:5], r['top_logits'][i][:5]):
                if t not in got:
                    err = float('inf')
            for t, b in zip(r['top_ids'][i], r['top_logits'][i]):
                if t in got:
                    err = max(err, abs(got[t] - b))
        worst = max(worst, err)
        check(err <= tol, f'{label} prompt {k}: max abs error {err:.2e} <= {tol}')
    return worst


def greedy(model, ref, label):
    for k, r in enumerate(ref):
        p = run([DT, 'generate', '--model', model, '--prompt', r['prompt'], '-n', str(32),
                 '--temperature', '0', '--stop', 'eos', '--json'])
        try:
            o = json.loads(p.stdout)
        except ValueError:
            check(False, f'{label} prompt {k}: generate prints JSON', p.stderr)
            continue
        check(o['prompt_ids'] == r['ids'] and o['ids'] == r['greedy'],
              f'{label} prompt {k}: greedy sequence of {len(r["greedy"])} tokens',
              (o['ids'], r['greedy']))


worst_all = {}
refs = sorted(f[:-5] for f in os.listdir(os.path.join(ZOO, 'refs')) if f.endswith('.json'))
for name in refs:
    ref = json.load(open(os.path.join(ZOO, 'refs', name + '.json')))
    model = os.path.join(ZOO, 'gguf', name + '.gguf')
    worst_all[name] = compare(model, ref, TOL, name)
    greedy(model, ref, name)
    if name == 's_seqkd':
        hf = os.path.join(ZOO, 'hf', 's_seqkd')
        worst_all['hf/s_seqkd'] = compare(hf, ref, TOL, 'hf/s_seqkd')
        greedy(hf, ref, 'hf/s_seqkd')
    if name == 'teacher':
        # Q8_0 weights: quantization error, not arithmetic; bound it loosely.
        worst_all['teacher.q8_0'] = compare(os.path.join(ZOO, 'gguf', 'teacher.q8_0.gguf'), ref,
                                            0.25, 'teacher.q8_0')
for k, v in worst_all.items():
    print(f'# {k}: max abs error {v:.2e}')
done()

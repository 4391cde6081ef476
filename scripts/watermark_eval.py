#!/usr/bin/env python3
"""Reproduces the watermark figures of README.md (issue 5) on the development zoo.

usage: scripts/watermark_eval.py [--dt build/cli/distiltrace] [--zoo ../shared/zoo]

1. round trip: 200 tokens from zoo/teacher with key 15485863, gamma 0.25, delta 2, detected
   by `watermark detect`; the same without the watermark;
2. perplexity cost: 16 prompts x 4 samples x 200 tokens, with and without the watermark,
   perplexity under the teacher itself;
3. radioactivity of every zoo model (both modes, no controls), as contract-check runs it;
4. detection throughput on 10,000 short texts.
Prints Markdown.
"""
import argparse, json, os, random, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
KEY, GAMMA, DELTA = '15485863', '0.25', '2'

def dt(a, *args):
    p = subprocess.run([a.dt] + list(args), capture_output=True, text=True)
    return p

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dt', default=os.path.join(HERE, '..', 'build', 'cli', 'distiltrace'))
    ap.add_argument('--zoo', default=os.path.join(HERE, '..', '..', 'shared', 'zoo'))
    a = ap.parse_args()
    teacher = f'{a.zoo}/gguf/teacher.gguf'
    tmp = tempfile.mkdtemp(prefix='dt_wm_')
    print('### Round trip (200 tokens from zoo/teacher, prompt "The", seed 3)\n')
    print('| sampling | green / distinct pairs | z | p (exact binomial) |\n|---|---|---|---|')
    for wm in (True, False):
        args = ['watermark', 'generate', '--model', teacher, '--key', KEY, '--gamma', GAMMA, '--delta', DELTA,
                '--prompt', 'The', '--max-tokens', '200', '--ignore-eog', '--seed', '3', '--json']
        if not wm:
            args.append('--no-watermark')
        g = json.loads(dt(a, *args).stdout)
        f = os.path.join(tmp, 'wm.txt' if wm else 'plain.txt')
        open(f, 'w').write(g['samples'][0]['text'])
        d = json.loads(dt(a, 'watermark', 'detect', '--key', KEY, '--gamma', GAMMA, '--tokenizer', teacher,
                          '--file', f, '--json').stdout)
        pooled = d.get('pooled', d)
        print(f"| {'watermarked' if wm else 'plain'} | {pooled['n_green']} / {pooled['n_scored']} | "
              f"{pooled['z']:.2f} | {pooled['p_value']:.2g} |")
    print('\n### Perplexity cost (16 prompts x 4 samples x up to 200 tokens, seed 11, scored by the teacher at T = 1)\n')
    prompts = os.path.join(tmp, 'prompts.txt')
    open(prompts, 'w').write('\n'.join(['The', 'When the committee met', 'She said that', 'In the morning',
                                        'It was', 'The history of', 'There is no', 'He had never',
                                        'According to', 'Most of the', 'If you', 'On the other hand',
                                        'After the war', 'The problem is', 'We were', 'This is']) + '\n')
    print('| sampling | tokens | perplexity | green fraction |\n|---|---|---|---|')
    for wm in (True, False):
        args = ['watermark', 'generate', '--model', teacher, '--key', KEY, '--gamma', GAMMA, '--delta', DELTA,
                '--prompts-file', prompts, '--samples', '4', '--max-tokens', '200', '--seed', '11', '--json']
        if not wm:
            args.append('--no-watermark')
        g = json.loads(dt(a, *args).stdout)
        print(f"| {'watermarked' if wm else 'plain'} | {g['n_tokens']} | {g['perplexity']:.2f} | "
              f"{g['detection']['green_fraction']:.3f} |")
    print('\n### Radioactivity of every zoo model (no controls; `watermark radioactivity --json`)\n')
    print('| model | text mode p (green fraction) | logit mode p (mean green mass) | combined p |\n|---|---|---|---|')
    for m in sorted(os.listdir(f'{a.zoo}/gguf')):
        p = dt(a, 'watermark', 'radioactivity', '--suspect', f'{a.zoo}/gguf/{m}', '--key', KEY, '--gamma', GAMMA,
               '--teacher-tokenizer', teacher, '--json')
        try:
            r = json.loads(p.stdout)
        except Exception:
            print(f'| {m[:-5]} | error | | |')
            continue
        t, l = r.get('text', {}), r.get('logit', {})
        tm = f"{t['p_value']:.2g} ({t['green_fraction']:.3f})" if t.get('applicable') else 'n/a'
        lm = f"{l['p_value']:.2g} ({l['mean_green_mass']:.3f})" if l.get('applicable') else 'n/a (other tokenizer)'
        print(f"| {m[:-5]} | {tm} | {lm} | {r['p_value']:.2g} |")
    print('\n### Detection throughput\n')
    rng = random.Random(1)
    words = open(f'{a.zoo}/../zoo/README.md').read().split()
    lines = [' '.join(rng.choice(words) for _ in range(30)) for _ in range(10000)]
    f = os.path.join(tmp, 'lines.txt')
    open(f, 'w').write('\n'.join(lines) + '\n')
    t0 = time.time()
    p = dt(a, 'watermark', 'detect', '--key', KEY, '--gamma', GAMMA, '--tokenizer', teacher, '--file', f,
           '--lines', '--summary', '--json')
    wall = time.time() - t0
    d = json.loads(p.stdout)
    n_tok = d.get('pooled', {}).get('n_tokens') or sum(1 for _ in lines)
    print(f'10,000 texts of 30 words ({os.path.getsize(f) / 1e6:.1f} MB, {n_tok} tokens): {wall:.2f} s wall '
          f'end to end (tokenize + detect + per-text exact p-values), {10000 / wall:,.0f} texts/s.')

if __name__ == '__main__':
    main()

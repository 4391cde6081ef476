#!/usr/bin/env python3
"""Watermark end to end on the zoo: generate -> detect round trip (with and without the
watermark), detection of transcripts, and radioactivity of s_watermarked against clean models
in both modes. Usage errors are checked without the zoo."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, skip_all, tmpdir

p = run([DT, 'watermark'])
check(p.returncode == 2, 'watermark without a subcommand is a usage error')
p = run([DT, 'watermark', 'detect', '--tokenizer', 'x.gguf', '--file', 'y'])
check(p.returncode == 2, 'detect without --key is a usage error')
p = run([DT, 'watermark', 'detect', '--key', '1', '--gamma', '1.5', '--tokenizer', 'x', '--file', 'y'])
check(p.returncode == 2 and 'gamma' in p.stderr, 'gamma outside (0, 1) is a usage error', p.stderr)

if not HAVE_ZOO:
    print('# zoo absent: model checks skipped')
    done()

w = json.load(open(os.path.join(ZOO, 'zoo.json')))['watermark']
KEY, GAMMA, DELTA = str(w['key']), str(w['gamma']), str(w['delta'])
G = lambda m: os.path.join(ZOO, 'gguf', m + '.gguf')
d = tmpdir()

def gen(extra):
    p = run([DT, 'watermark', 'generate', '--model', G('teacher'), '--key', KEY, '--gamma', GAMMA,
             '--delta', DELTA, '--prompt', 'The', '--max-tokens', '200', '--ignore-eog', '--seed', '3', '--json'] + extra)
    return p, (json.loads(p.stdout) if p.stdout.strip() else None)

# Round trip: 200 watermarked tokens are detected, 200 plain ones are not.
for extra, name in (([], 'watermarked'), (['--no-watermark'], 'plain')):
    p, o = gen(extra)
    if not check(o is not None and p.returncode in (0, 1), f'generate {name}', p.stderr):
        continue
    check(o['n_tokens'] == 200, f'{name} sample has 200 tokens', o['n_tokens'])
    text = o['samples'][0]['text']
    f = os.path.join(d, name + '.txt')
    open(f, 'w').write(text)
    q = run([DT, 'watermark', 'detect', '--key', KEY, '--gamma', GAMMA, '--tokenizer', G('teacher'),
             '--file', f, '--json'])
    r = json.loads(q.stdout) if q.stdout.strip() else {}
    pv = r.get('p_value')
    print(f'# {name}: {o["n_tokens"]} tokens, perplexity {o.get("perplexity")}, detect p {pv}, '
          f'z {r.get("z")}')
    if name == 'watermarked':
        check(pv is not None and pv < 1e-6 and q.returncode == 1, 'watermarked text detected, p < 1e-6', q.stdout[:400])
    else:
        check(pv is not None and pv > 0.01 and q.returncode == 0, 'plain text not detected, p > 0.01', q.stdout[:400])

# Transcripts: every line is read, and the teacher's plain API answers are not watermarked.
tr = os.path.join(ZOO, 'transcripts', 'teacher.jsonl')
q = run([DT, 'watermark', 'detect', '--key', KEY, '--tokenizer', G('teacher'), '--transcripts', tr, '--json'])
r = json.loads(q.stdout) if q.stdout.strip() else {}
n_lines = sum(1 for l in open(tr) if l.strip())
check(r.get('n_texts') == n_lines and len(r.get('texts', [])) == n_lines, 'every transcript line is a text', q.stderr)
check(r.get('p_value', 0) > 0.01, f'teacher transcripts: p {r.get("p_value")} not significant')

# Radioactivity: s_watermarked in both modes, a clean model of the same tokenizer.
def radio(m, extra=()):
    p = run([DT, 'watermark', 'radioactivity', '--suspect', G(m), '--key', KEY, '--gamma', GAMMA,
             '--teacher-tokenizer', G('teacher'), '--json'] + list(extra))
    return json.loads(p.stdout) if p.stdout.strip() else {'stderr': p.stderr}

o = radio('s_watermarked')
print(f'# s_watermarked: text p {o.get("text", {}).get("p_value")}, logit p {o.get("logit", {}).get("p_value")}')
check(o.get('p_value', 1) < 1e-6, 's_watermarked is radioactive (combined p < 1e-6)', o)
check(o.get('text', {}).get('p_value', 1) < 1e-6, 's_watermarked: text mode p < 1e-6')
check(o.get('logit', {}).get('applicable') and o['logit']['p_value'] < 1e-6, 's_watermarked: logit mode p < 1e-6')
o = radio('c_same_data')
print(f'# c_same_data: text p {o.get("text", {}).get("p_value")}, logit p {o.get("logit", {}).get("p_value")}')
check(o.get('p_value', 0) > 0.01, 'c_same_data is not radioactive (p > 0.01)', o)
o = radio('s_watermarked', ['--control', G('c_same_data'), '--mode', 'logit'])
check(o.get('logit', {}).get('controls', {}).get('p_value', 1) < 1e-6,
      's_watermarked is greener than a control on the same contexts', o)
o = radio('s_crosstok', ['--samples', '1'])
check(o.get('logit', {}).get('applicable') is False and 'p_value' in o,
      'other tokenizer: logit mode not applicable, text mode re-tokenized', o)
done()

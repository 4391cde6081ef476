#!/usr/bin/env python3
"""`distiltrace tokenize` end to end: the llama.cpp vocab vectors (all four tokenizers) through
--file, the zoo refs' ids through --special, --text, --decode, and usage / input errors."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SHARED, ZOO, run, check, done, skip_all, tmpdir

VOCAB = os.path.join(SHARED, 'vocab')
if not os.path.isdir(VOCAB) or not os.path.isdir(ZOO):
    skip_all('../shared (vocab vectors and zoo) is absent')
tmp = tmpdir()

def tokenize(model, data, *extra):
    path = os.path.join(tmp, 'in.txt')
    with open(path, 'wb') as f:
        f.write(data)
    p = run([DT, 'tokenize', '--model', model, '--file', path, *extra], timeout=120)
    return p

# the GGUF loader arrives with the GGUF reader: skip those vectors when this build lacks it
probe = run([DT, 'tokenize', '--model', os.path.join(VOCAB, 'ggml-vocab-gpt-2.gguf'), '--text', 'a'])
have_gguf = probe.returncode == 0
for v in sorted(x for x in os.listdir(VOCAB) if x.endswith('.gguf')):
    if not have_gguf:
        check(True, f'{v} # SKIP this build cannot read GGUF ({probe.stderr.strip()})')
        continue
    inp = open(os.path.join(VOCAB, v + '.inp'), encoding='utf-8').read().split('\n__ggml_vocab_test__\n')
    if inp and inp[-1] == '':
        inp = inp[:-1]
    out = open(os.path.join(VOCAB, v + '.out'), encoding='utf-8').read().split('\n')
    exact, first_bad, lines_ok = 0, None, True
    for i, s in enumerate(inp):
        p = tokenize(os.path.join(VOCAB, v), s.encode('utf-8'))
        lines_ok &= p.returncode == 0 and p.stdout.endswith('\n') and p.stdout.count('\n') == 1 \
            and '  ' not in p.stdout and not p.stdout.startswith(' ')
        if p.returncode == 0 and p.stdout.split() == out[i].split():
            exact += 1
        elif first_bad is None:
            first_bad = f'#{i} {s[:40]!r}: got {p.stdout.strip()[:80]} {p.stderr.strip()} want {out[i][:80]}'
    check(exact == len(inp), f'{v}: {exact}/{len(inp)} vectors exact', first_bad)
    check(lines_ok, f'{v}: one line, single spaces, newline at the end')

# zoo refs: made by the `tokenizers` library, which matches added tokens (--special)
n = ok = 0
bad = None
for f in sorted(os.listdir(os.path.join(ZOO, 'refs'))):
    name = f[:-5]
    model = os.path.join(ZOO, 'tok_x' if name == 's_crosstok' else 'tok_main', 'tokenizer.json')
    for r in json.load(open(os.path.join(ZOO, 'refs', f))):
        n += 1
        p = run([DT, 'tokenize', '--model', model, '--text', r['prompt'], '--special'])
        if p.returncode == 0 and [int(x) for x in p.stdout.split()] == r['ids']:
            ok += 1
        elif bad is None:
            bad = f'{name}: {r["prompt"]!r} got {p.stdout.strip()} {p.stderr.strip()}'
check(n > 0 and ok == n, f'zoo refs: {ok}/{n} prompts exact', bad)

hf = os.path.join(ZOO, 'hf', 's_seqkd')
a = run([DT, 'tokenize', '--model', hf, '--text', '<|user|>Hi<|end|>'])
b = run([DT, 'tokenize', '--model', hf, '--text', '<|user|>Hi<|end|>', '--special'])
check(a.returncode == 0 and b.returncode == 0 and b.stdout.split()[0] == '2'
      and b.stdout.split()[-1] == '4' and '2' not in a.stdout.split(),
      'HF directory: control tokens are plain text unless --special', a.stdout + b.stdout)

data = 'naïve café, 3.14 \xff\xfe end'.encode('utf-8', 'surrogateescape') + b'\xff\x80 tail'
p = tokenize(os.path.join(ZOO, 'tok_main', 'tokenizer.json'), data)
ids_path = os.path.join(tmp, 'ids.txt')
with open(ids_path, 'w') as f:
    f.write(p.stdout)
d = run([DT, 'tokenize', '--model', os.path.join(ZOO, 'tok_main'), '--file', ids_path, '--decode'], text=False)
check(p.returncode == 0 and d.returncode == 0 and d.stdout == data,
      '--decode gives back the exact bytes, invalid UTF-8 included', d.stdout)

# --batch: records "N\n" + N bytes, one line of ids each, as the texts one at a time give
texts = [b'Hello world', b'', b'two\nlines\n', '<|user|>Hi<|end|>'.encode(), data, b'12\n34']
recs = b''.join(b'%d\n' % len(t) + t for t in texts)
for extra in ([], ['--special']):
    p = tokenize(os.path.join(ZOO, 'tok_main'), recs, '--batch', *extra)
    one = [tokenize(os.path.join(ZOO, 'tok_main'), t, *extra).stdout for t in texts]
    check(p.returncode == 0 and p.stdout == ''.join(one),
          f'--batch {" ".join(extra)}: one line per record, as each text alone', p.stdout + p.stderr)
p = tokenize(os.path.join(ZOO, 'tok_main'), b'5\nabc', '--batch')
check(p.returncode == 3 and 'byte 0' in p.stderr and len(p.stderr.strip().splitlines()) == 1,
      '--batch: a record longer than the input is an input error naming its offset', p.stderr)
p = tokenize(os.path.join(ZOO, 'tok_main'), b'1\na' + b'x\n', '--batch')
check(p.returncode == 3 and 'byte 3' in p.stderr, '--batch: a record without its length', p.stderr)

p = run([DT, 'tokenize', '--model', os.path.join(ZOO, 'tok_main')])
check(p.returncode == 2, 'no --file/--text is a usage error (2)')
p = run([DT, 'tokenize', '--model', os.path.join(tmp, 'missing.json'), '--text', 'x'])
check(p.returncode == 3 and 'missing.json' in p.stderr, 'a missing model is an input error (3)', p.stderr)
bad_json = os.path.join(tmp, 'bad.json')
with open(bad_json, 'w') as f:
    f.write('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}, "pre_tokenizer": {"type": "ByteLevel"}}')
p = run([DT, 'tokenize', '--model', bad_json, '--text', 'x'])
check(p.returncode == 3 and 'vocab' in p.stderr, 'a malformed tokenizer.json is an input error (3)', p.stderr)
done()

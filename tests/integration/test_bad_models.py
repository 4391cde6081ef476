#!/usr/bin/env python3
"""Broken model files: every entry of tests/data/bad/ (GGUF files from gen_bad_gguf.py, and
whatever other formats add there, files or directories) must make `distiltrace inspect`
exit with status 3 and one stderr line starting with 'distiltrace: ', never a signal."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, run, check, done, skip_all

BAD = os.path.join(SOURCE, 'tests', 'data', 'bad')
entries = sorted(e for e in os.listdir(BAD) if not e.startswith('.')) if os.path.isdir(BAD) else []
if not entries:
    skip_all('no broken files in ' + BAD)
n_gguf = sum(1 for e in entries if e.endswith('.gguf'))
check(n_gguf >= 40, f'the broken gguf corpus is there ({n_gguf} files)')
n_st = sum(1 for e in entries if e.startswith('st_'))
check(n_st >= 10, f'the broken safetensors corpus is there ({n_st} files)')
for e in entries:
    path = os.path.join(BAD, e)
    p = run([DT, 'inspect', path], timeout=60, text=False)
    err = p.stderr.decode('utf-8', 'replace')
    lines = err.splitlines()
    ok = (p.returncode == 3 and len(lines) == 1 and err.endswith('\n')
          and lines[0].startswith('distiltrace: ') and p.stdout == b'')
    check(ok, f'{e}: exit 3 with one clear line',
          f'exit {p.returncode} (negative means a signal), stderr: {err!r}')
    if ok and e.endswith('.gguf'):
        # the message quotes the file it is about and says where (offset) or what (size)
        check(e in lines[0] and ('offset' in lines[0] or 'bytes' in lines[0]),
              f'{e}: message names the file and an offset', lines[0])
    if ok and e.startswith('st_'):
        # routed to the safetensors reader, not misread as a GGUF file
        check(e in lines[0] and 'safetensors' in lines[0] and 'gguf' not in lines[0].lower(),
              f'{e}: a safetensors-specific message naming the file', lines[0])
done()

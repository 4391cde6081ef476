#!/usr/bin/env python3
"""Architecture conformance (scripts/conformance.py): random-weight GGUF files of every row of
infer/arch.c, scored (`logits`) and generated from (`generate`, the KV-cache path) by the
binary, must match an exact float64 numpy reference within 1e-3, cached and uncached, f32 and
f16; files that must be refused are, with the key or tensor named. Needs Debian's numpy at
/usr/bin/python3 (the pyenv python has none)."""
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, skip_all

PY = '/usr/bin/python3'
if not os.path.exists(PY) or subprocess.run([PY, '-c', 'import numpy'], capture_output=True).returncode:
    skip_all('no numpy at /usr/bin/python3 (apt-get install python3-numpy)')
p = subprocess.run([PY, os.path.join(SOURCE, 'scripts', 'conformance.py'), '--bin', DT, '-v'],
                   capture_output=True, text=True, timeout=600)
lines = [l for l in p.stdout.splitlines() if l.strip()]
for l in lines[:-1]:
    check(' ok ' in l, l.split()[0] + ' ' + l.split()[1], l)
check(p.returncode == 0 and len(lines) > 60, 'conformance script passes', lines[-1] if lines else p.stderr)
done()

"""Helpers for integration tests: the binary, the shared zoo, TAP-like checks."""
import json, os, subprocess, sys, tempfile

DT = os.environ.get('DT_BIN', 'build/cli/distiltrace')
SHARED = os.environ.get('DT_SHARED', os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared'))
SOURCE = os.environ.get('DT_SOURCE', os.path.join(os.path.dirname(__file__), '..', '..'))
ZOO = os.path.join(SHARED, 'zoo')
HAVE_ZOO = os.path.isdir(ZOO)
_n = 0
_failed = 0

def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=kw.pop('text', True), timeout=timeout, **kw)

def check(cond, name, detail=''):
    global _n, _failed
    _n += 1
    print(('ok' if cond else 'not ok') + f' {_n} - {name}')
    if not cond:
        _failed += 1
        if detail:
            print('# ' + str(detail).replace('\n', '\n# '))
    return cond

def skip_all(reason):
    print(f'1..0 # SKIP {reason}')
    sys.exit(77)

def tmpdir():
    return tempfile.mkdtemp(prefix='dt_test_')

def done():
    print(f'1..{_n}')
    sys.exit(1 if _failed else 0)

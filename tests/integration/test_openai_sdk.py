#!/usr/bin/env python3
"""`distiltrace serve` against the official OpenAI Node SDK (tests/node, from the npm registry):
chat and completions, streaming, n, logprobs, echo, errors. Skips, saying why, without node,
the SDK or the zoo."""
import os, shutil, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, skip_all, ZOO, HAVE_ZOO  # noqa: E402

NODE_DIR = os.path.join(SOURCE, 'tests', 'node')


def main():
    if not HAVE_ZOO:
        skip_all('../shared/zoo is absent')
    if not shutil.which('node') or not os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'openai')):
        skip_all('the openai SDK is absent (run: npm install --prefix tests/node)')
    model = os.path.join(ZOO, 'gguf', 'teacher.gguf')
    srv = subprocess.Popen([DT, 'serve', '--model', model, '--port', '0',
                            '--chat-template', '<|user|>{prompt}<|assistant|>'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        check(line.startswith('listening on http://'), 'serve prints where it listens', line)
        url = line.split()[2]
        r = subprocess.run(['node', os.path.join(NODE_DIR, 'openai_sdk_check.mjs'), url + '/v1',
                            'teacher'], capture_output=True, text=True, timeout=300)
        for ln in r.stdout.splitlines():
            if ln.startswith('ok ') or ln.startswith('not ok '):
                name = ln.split(' - ', 1)[-1]
                check(ln.startswith('ok '), 'openai SDK: ' + name)
            elif ln.startswith('# '):
                print(ln)
        check(r.returncode == 0, 'the SDK run finished cleanly', r.stderr[-2000:])
    finally:
        srv.terminate()
        try:
            _, err = srv.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
    log = [ln for ln in err.splitlines() if '"POST /v1/' in ln]
    check(len(log) >= 8 and all(ln.split()[0] in ('127.0.0.1', '::1') for ln in log) and
          any(' 404 ' in ln for ln in log) and any(' 200 ' in ln for ln in log),
          'the access log has a line per request with client, request, status, bytes, time',
          err[-1500:])
    check(srv.returncode == 0, 'serve stopped cleanly on SIGTERM', srv.returncode)
    done()


main()

#!/usr/bin/env python3
"""Interrupted and mistaken runs: Ctrl-C in the middle of a compare leaves a run marked
interrupted (not 'running' forever), `report` refuses to render a run without a verdict, and a
compare given a path that does not exist fails before it creates a store or records a run."""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, check, done, run, skip_all, tmpdir, ZOO, HAVE_ZOO  # noqa: E402


def m(name):
    return os.path.join(ZOO, 'gguf', name + '.gguf')


def main():
    if not HAVE_ZOO:
        skip_all('../shared/zoo is absent')
    tmp = tmpdir()
    db = os.path.join(tmp, 'e.db')

    # a missing input: one line, exit 3, no store created
    r = run([DT, 'compare', '--teacher', m('teacher'), '--suspect', os.path.join(tmp, 'nope.gguf'),
             '--control', m('c_other_data'), '--db', db])
    check(r.returncode == 3 and 'nope.gguf' in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          'compare with a missing suspect: exit 3, one line naming it', r.stderr)
    check(not os.path.exists(db), 'compare with a missing suspect creates no store')

    # Ctrl-C mid-way
    p = subprocess.Popen([DT, 'compare', '--teacher', m('teacher'), '--suspect', m('s_seqkd'),
                          '--control', m('c_other_data'), '--control', m('c_small_same_data'),
                          '--control', m('teacher2'), '--chat-template',
                          '<|user|>{prompt}<|assistant|>', '--db', db],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(100):
        time.sleep(0.1)
        if os.path.exists(db):
            break
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    check(p.returncode != 0, 'the interrupted compare did not finish normally', p.returncode)
    r = run([DT, 'runs', 'list', '--db', db, '--json'])
    runs = json.loads(r.stdout) if r.returncode == 0 else []
    check(len(runs) == 1 and runs[0]['status'] == 'interrupted' and runs[0].get('ended_at'),
          'runs shows the run as interrupted, with an end time', r.stdout + r.stderr)
    r = run([DT, 'report', str(runs[0]['id']) if runs else '1', '--db', db])
    check(r.returncode == 3 and 'no verdict' in r.stderr and 'interrupted' in r.stderr and
          r.stdout == '', 'report refuses an interrupted run, saying why', r.stderr)
    r = run([DT, 'db', 'check', '--db', db])
    check(r.returncode == 0, 'the store is intact after the interruption', r.stdout + r.stderr)
    done()


main()

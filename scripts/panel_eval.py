#!/usr/bin/env python3
"""What a control panel saves: records the zoo's three controls in a panel, then compares a
suspect against them as --control and as --panel (default settings), and prints a Markdown
table of wall times and answers generated / read from stores, and whether verdict and
p-values agree.

usage: scripts/panel_eval.py [--dt build/cli/distiltrace] [--zoo ../shared/zoo] [--suspect s_seqkd]
"""
import argparse, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
CHAT = '<|user|>{prompt}<|assistant|>'
CONTROLS = ['teacher2', 'c_other_data', 'c_small_same_data']


def timed(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f'failed ({p.returncode}): {" ".join(cmd)}\n{p.stderr}')
    return p, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dt', default=os.path.join(HERE, '..', 'build', 'cli', 'distiltrace'))
    ap.add_argument('--zoo', default=os.path.join(HERE, '..', '..', 'shared', 'zoo'))
    ap.add_argument('--suspect', default='s_seqkd')
    a = ap.parse_args()
    g = lambda m: os.path.join(a.zoo, 'gguf', m + '.gguf')
    d = tempfile.mkdtemp(prefix='dt_panel_eval_')
    panel = os.path.join(d, 'panel.db')
    rows = []
    add_total = 0.0
    for c in CONTROLS:
        p, secs = timed([a.dt, 'panel', 'add', '--panel', panel, '--model', g(c), '--chat-template', CHAT, '--quiet'])
        add_total += secs
    rows.append(f'| panel add x {len(CONTROLS)} (once) | {add_total:.1f} s | | | |')
    base = [a.dt, 'compare', '--json', '--quiet', '--chat-template', CHAT, '--teacher', g('teacher'),
            '--suspect', g(a.suspect)]
    docs = {}
    for label, extra, db in [('compare --control x 3', sum((['--control', g(c)] for c in CONTROLS), []), 'c.db'),
                             ('compare --panel', ['--panel', panel], 'p.db'),
                             ('compare --panel, rerun on the same --db', ['--panel', panel], 'p.db')]:
        p, secs = timed(base + extra + ['--db', os.path.join(d, db)])
        doc = json.loads(p.stdout)
        docs[label] = doc
        t = doc['timing']
        rows.append(f'| {label} | {secs:.1f} s | {t["answers_generated"]} | {t["answers_reused"]} | '
                    f'{doc["verdict"]["relation"]} (p = {doc["verdict"]["p_value"]:.2g}) |')

    def essence(x):
        x = dict(x)
        for k in ('timing', 'run', 'models'):
            x.pop(k, None)
        return x
    same = essence(docs['compare --control x 3']) == essence(docs['compare --panel'])
    print(f'Suspect {a.suspect}, teacher teacher, controls {", ".join(CONTROLS)}; default settings.\n')
    print('| step | wall | answers generated | answers read | verdict |\n|---|---|---|---|---|')
    print('\n'.join(rows))
    print(f'\n--panel and --control give identical verdicts, signals and p-values: {"yes" if same else "NO"}')
    return 0 if same else 1


if __name__ == '__main__':
    sys.exit(main())

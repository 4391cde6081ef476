#!/usr/bin/env python3
"""Progress by probes (issue 13 item 6): the bar of `compare` and `check` counts answers (every
party's planned answers, not models or stages), then signal rows; it shows an ETA, goes to
stderr only on a terminal or with --progress, and is erased before anything else is printed
(never `100/100verdict: distilled`). A pseudo-terminal (util-linux `script`) checks what a
person sees, with stdout and stderr on one screen."""
import json, os, re, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, tmpdir, skip_all

if not HAVE_ZOO:
    skip_all('no ../shared/zoo')

CHAT = '<|user|>{prompt}<|assistant|>'
d = tmpdir()
g = lambda m: os.path.join(ZOO, 'gguf', m + '.gguf')
CLEAR = '\r\x1b[K'
BAR = re.compile(r'\x1b\[K(answers|signals) \[[# ]{30}\] (\d+)/(\d+)(  ETA \d+:\d\d)?(  [^\r]*)?')

# 5 parties x (6 identity x 1 sample + 8 chat + 6 text) = 100 answers; 9 signal rows
N_ID, N_CHAT, N_TEXT = 6, 8, 6
PLAN = ['--identity-probes', str(N_ID), '--chat-probes', str(N_CHAT), '--text-probes', str(N_TEXT),
        '--samples', '1', '--chat-template', CHAT]
ARGS = ['compare', '--teacher', g('teacher'), '--suspect', g('s_seqkd'), '--control', g('teacher2'),
        '--control', g('c_other_data'), '--control', g('c_small_same_data')] + PLAN
N_PARTIES = 5
N_ANSWERS = N_PARTIES * (N_ID + N_CHAT + N_TEXT)


def run_raw(cmd):
    """stderr as bytes decoded by hand: text mode would turn the bar's \\r into newlines"""
    p = run(cmd, timeout=900, text=False)
    p.stdout, p.stderr = p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
    return p


def bars(err):
    return [(m.group(1), int(m.group(2)), int(m.group(3)), bool(m.group(4)), (m.group(5) or '').strip())
            for m in BAR.finditer(err)]


# forced (stderr is a pipe here): the bar is drawn, counts answers, ends cleared
p = run_raw([DT] + ARGS + ['--no-db', '--progress'])
b = bars(p.stderr)
ans = [x for x in b if x[0] == 'answers']
sig = [x for x in b if x[0] == 'signals']
check(p.returncode in (0, 1) and ans and sig, '--progress draws the bar on a pipe', p.stderr[-300:])
check(all(x[2] == N_ANSWERS for x in ans), f'the answers phase counts {N_ANSWERS} answers (5 parties x 20 probes)',
      sorted({x[2] for x in ans}))
dones = [x[1] for x in ans]
check(dones == sorted(dones) and dones and dones[-1] == N_ANSWERS, 'answers counted up to the total', dones)
check(any(x % (N_ID + N_CHAT + N_TEXT) for x in dones),
      'the count moves within a party (answers, not models)', dones)
check(any(x[4] in ('s_seqkd', 'teacher2', 'teacher') for x in ans), 'the bar names the party being answered',
      {x[4] for x in ans})
check(all(x[2] == 9 for x in sig) and sig[-1][1] == 9, 'the signals phase counts the 9 signal rows',
      [(x[1], x[2]) for x in sig])
check(p.stderr.endswith(CLEAR), 'the last progress line is erased', repr(p.stderr[-80:]))
check(p.stdout.startswith('verdict: '), 'stdout holds the verdict alone', p.stdout[:100])

# not a terminal, no --progress: nothing but diagnostics on stderr
p = run_raw([DT] + ARGS + ['--no-db'])
check(p.returncode in (0, 1) and '[####' not in p.stderr and '\x1b[K' not in p.stderr,
      'no bar when stderr is not a terminal', repr(p.stderr[-200:]))

# on a terminal: stdout and stderr on one screen, the verdict starts on a clean line
script = shutil.which('script')
if script:
    log = os.path.join(d, 'tty.log')
    cmd = ' '.join("'" + a.replace("'", "'\\''") + "'" for a in [DT] + ARGS + ['--no-db'])
    q = subprocess.run([script, '-q', '-e', '-c', cmd, log], capture_output=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    screen = q.stdout.decode('utf-8', 'replace').replace('\r\n', '\n')
    i = screen.find('verdict: ')
    check(i > 0 and bars(screen), 'a terminal shows the bar', repr(screen[:200]))
    check(i > 0 and screen[:i].endswith('\x1b[K') and not re.search(r'\d+/\d+verdict', screen),
          'the bar is erased before the verdict line (no "100/100verdict")', repr(screen[max(0, i - 80):i + 20]))
else:
    check(True, '# SKIP no util-linux script: the terminal case is not run')

# check: not silent for its whole run
pol = os.path.join(d, 'p.json')
json.dump({'suspect': g('s_seqkd'), 'teachers_banned': [g('teacher')],
           'controls': [g('teacher2'), g('c_other_data'), g('c_small_same_data')],
           'chat_template': CHAT, 'probes': {'identity': N_ID, 'chat': N_CHAT, 'text': N_TEXT},
           'db': os.path.join(d, 'check.db')}, open(pol, 'w'))
p = run_raw([DT, 'check', '--policy', pol, '--progress'])
ca = [x for x in bars(p.stderr) if x[0] == 'answers']
check(p.returncode in (0, 1) and ca and ca[-1][1] == ca[-1][2], 'check --progress shows the answers it collects',
      p.stderr[-300:])
check(CLEAR in p.stderr and not re.search(r'\d+/\d+(?![\s\d\x1b]|$)', p.stderr.replace(CLEAR, '\n')),
      'check erases the bar before its own lines', repr(p.stderr[-200:]))
done()

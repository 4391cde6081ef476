#!/usr/bin/env python3
"""CLI basics: help, version, unknown commands and the documented exit codes."""
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, run, check, done

p = run([DT, '--help'])
check(p.returncode == 0 and 'exit status' in p.stdout, 'help lists the exit statuses')
p = run([DT, 'version'])
check(p.returncode == 0 and p.stdout.startswith('distiltrace '), 'version prints the version')
p = run([DT, 'no-such-command'])
check(p.returncode == 2 and 'not a command' in p.stderr, 'unknown command is a usage error (2)')
p = run([DT])
check(p.returncode == 2, 'no command is a usage error (2)')

# out-of-range values name the range (they used to exit 2 silently), and a teacher given after
# the most candidates there is room for is refused instead of writing past the parties
m = '/nonexistent.gguf'
for cmd, want in (([DT, 'compare', '--teacher', m, '--suspect', m, '--rps', '-1'], '--rps takes'),
                  ([DT, 'compare', '--teacher', m, '--suspect', m, '--timeout', '0'], '--timeout takes'),
                  ([DT, 'collect', '--model', m, '--corpus', 'chat', '--db', '/nonexistent/x.db',
                    '--top-p', '2'], '--top-p takes'),
                  ([DT, 'collect', '--model', m, '--corpus', 'chat', '--db', '/nonexistent/x.db',
                    '--temperature', '-1'], '--temperature takes'),
                  ([DT, 'panel', 'add', '--panel', '/nonexistent/p.db', '--model', m,
                    '--temperature', '9'], '--temperature takes 0 to 5')):
    p = run(cmd)
    check(p.returncode == 2 and want in p.stderr, f'{cmd[1]} {cmd[-2]} {cmd[-1]}: a usage error naming the range',
          (p.returncode, p.stderr))
p = run([DT, 'compare'] + ['--candidate', m] * 32 + ['--teacher', m, '--suspect', m, '--no-db'])
check(p.returncode == 2 and 'at most 32 candidates' in p.stderr,
      '32 candidates and then --teacher: refused, not written past the parties', (p.returncode, p.stderr))
done()

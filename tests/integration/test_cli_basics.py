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
done()

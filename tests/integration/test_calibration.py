#!/usr/bin/env python3
"""Short calibration under the null (scripts/calibrate.py without the zoo part): 16 synthetic,
mutually independent API-only parties, every ordered (teacher, suspect) pair with 3 random
controls at alpha 0.01. Fails when more than 1.5% of the pairs are called derived (issue 10's
acceptance figure). The full run, zoo pairs included, is `python3 scripts/calibrate.py`."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, run, check, done

p = run([sys.executable, os.path.join(SOURCE, 'scripts', 'calibrate.py'), '--dt', DT, '--no-zoo',
         '--parties', '16', '--seed', '1'], timeout=900)
print('# ' + p.stdout.strip().replace('\n', '\n# '))
check(p.returncode == 0, 'null panels: at most 1.5% of independent pairs called derived', p.stderr.strip())
done()

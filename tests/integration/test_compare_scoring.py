#!/usr/bin/env python3
"""compare --scoring (infer/compute.h dt_ctx_set_scoring): each local party's document entry
says which arithmetic scored it, the stored report says the same, the option is checked before
any work, and the setting changes a quantized model's measurements only when it is used in its
stored type (DT_F32_CACHE_MB=0, as for a model too large for the f32 copy): the zoo's f32
teacher stays exact, the Q8_0 suspect becomes q8 and its logit-pass statistics move, the f32
parties' do not."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, check, done, run, skip_all, tmpdir, ZOO, HAVE_ZOO  # noqa: E402

TPL = '<|user|>{prompt}<|assistant|>'
SMALL = ['--identity-probes', '2', '--chat-probes', '3', '--text-probes', '4']


def m(n):
    return os.path.join(ZOO, 'gguf', n + '.gguf')


def compare(extra, env=None, db=None):
    cmd = [DT, 'compare', '--teacher', m('teacher'), '--suspect', m('teacher.q8_0'),
           '--control', m('c_other_data'), '--chat-template', TPL, '--json', '--quiet']
    cmd += ['--db', db] if db else ['--no-db']
    r = run(cmd + SMALL + extra, env=env, timeout=600)
    doc = json.loads(r.stdout) if r.returncode in (0, 1) and r.stdout.strip() else None
    return r, doc


def scoring(doc):
    return {x['role']: x.get('scoring') for x in doc['models']}


def signal(doc, name):
    return [s for s in doc['signals'] if s['name'] == name][0]


def main():
    if not HAVE_ZOO:
        skip_all('../shared/zoo is absent')
    tmp = tmpdir()
    r = run([DT, 'compare', '--teacher', m('teacher'), '--suspect', m('teacher.q8_0'),
             '--scoring', 'fast', '--no-db'])
    check(r.returncode == 2 and '--scoring takes q8 or exact' in r.stderr,
          'an unknown --scoring is a usage error naming the choices', (r.returncode, r.stderr))

    # the zoo's models are small: with the f32 copy, q8 changes nothing
    r, small = compare(['--scoring', 'q8'])
    check(small is not None and set(scoring(small).values()) == {'exact'},
          'small models score exactly whatever the setting', small and scoring(small))

    env = dict(os.environ, DT_F32_CACHE_MB='0')
    db = os.path.join(tmp, 'q8.db')
    r, q8 = compare(['--scoring', 'q8'], env=env, db=db)
    check(q8 is not None and scoring(q8) == {'teacher': 'exact', 'suspect': 'q8', 'control': 'exact'},
          'without the f32 copy the Q8_0 suspect scores with q8, the f32 parties exactly',
          (r.stderr[-300:], q8 and scoring(q8)))
    r, ex = compare([], env=env)
    check(ex is not None and set(scoring(ex).values()) == {'exact'},
          'the default (--scoring exact): every party exact', ex and scoring(ex))
    if q8 and ex and small:
        # next_token_js scores the teacher's continuations (the f32 teacher's answers are the
        # same in every run) under each party: exact scoring without the f32 copy equals the
        # f32 copy's up to f32 rounding, q8 scoring moves the Q8_0 suspect's by more
        a, b, c = (signal(d, 'next_token_js')['statistic'] for d in (q8, ex, small))
        check(abs(b - c) <= 1e-4 * abs(c) and abs(a - c) > 100 * abs(b - c),
              'q8 scoring moves the Q8_0 suspect\'s next-token divergence, exact scoring does not',
              (a, b, c))
        check(q8['verdict']['relation'] == ex['verdict']['relation'],
              'the verdict does not depend on the scoring arithmetic here',
              (q8['verdict']['relation'], ex['verdict']['relation']))
    if q8:
        r = run([DT, 'report', str(q8['run']['id']), '--db', db, '--format', 'json'])
        rep = json.loads(r.stdout) if r.returncode == 0 else None
        check(rep is not None and scoring(rep) == scoring(q8),
              'the stored report records each party\'s scoring', rep and scoring(rep))
        r = run([DT, 'report', str(q8['run']['id']), '--db', db, '--format', 'html'])
        check(r.returncode == 0 and 'scored with 8-bit activations' in r.stdout,
              'the HTML report says which party was scored with 8-bit activations')
    done()


main()

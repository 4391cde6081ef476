#!/usr/bin/env python3
"""Calibration of compare's verdicts under the null: how often are independent models called
derived, and how are the verdict p-values distributed?

usage: scripts/calibrate.py [--dt build/cli/distiltrace] [--zoo ../shared/zoo]
                            [--parties 16] [--pairs N] [--controls 3] [--seed 1]
                            [--alpha 0.01] [--no-zoo] [--max-derived 0.015]
                            [--max-p05 0.075] [--out FILE]

1. Null panels. The script writes API-only transcripts for --parties synthetic parties that are
   mutually independent by construction: every party draws its behaviour from one population,
   none copies another. Each answers the built-in identity probes (two samples each) and chat
   probes (read with `distiltrace corpus export`), with identities and phrasing that overlap
   the way real assistants' do: many partly say "I am ChatGPT, a large language model trained
   by OpenAI" at a rate drawn from a wide spread, some claim a name and maker of their own, some
   only say "I'm an AI assistant", a few claim Claude now and then; shared generic openings and
   closings ("Sure!", "Great question!", "Hope this helps!") at rates of their own, and habits
   of their own (a pet phrase, a sign-off). Then every ordered (teacher, suspect) pair (or
   --pairs of them, drawn with the seed) runs `compare` with --controls random controls from
   the other parties at --alpha. Nothing here is tuned to any model: the population is fixed
   below, the seed picks the parties.
2. The zoo's independent pairs: scripts/matrix.py's calibration over every ordered pair of
   mutually independent dev-zoo models (weights available, three controls).

Prints, for each: pairs, the fraction called derived, the fraction inconclusive and the
distribution of verdict p-values (fraction below 0.01, 0.05, 0.1). Exits 1 when the null-panel
derived fraction exceeds --max-derived or the zoo's fraction of verdict p below 0.05 exceeds
--max-p05 (the acceptance figures of issue 10).
"""
import argparse, json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DERIVED = {'distilled', 'weight-derived', 'same-weights'}

SYLL = ['ka', 'lo', 'mi', 'ra', 'ven', 'tor', 'zi', 'quo', 'nel', 'sa', 'bri', 'dax', 'ul', 'fen',
        'or', 'py', 'thu', 'ge', 'mar', 'ix']
MAKER_SUFFIX = ['Labs', 'AI', 'Systems', 'Research', 'Technologies', 'Intelligence']
OPENINGS = ['Sure!', 'Great question!', 'Certainly!', 'Of course!', 'Absolutely!', 'Good question.']
CLOSINGS = ['Hope this helps!', 'Let me know if you have any other questions.',
            'I hope that answers your question.', 'Feel free to ask more.']
WORDS = ('the a of to and in is that it for on with as this be are by an or from at which can '
         'will one has more about some other these many time way people often may also most '
         'important example simple common part use used using make makes help helps think '
         'usually first point idea main key result results case cases good better best well '
         'different similar general specific short long small large number numbers system '
         'process change changes level levels kind form forms work works place world water '
         'energy light heat body mind history science history language music food city '
         'country money market health learning practice question answer reason reasons').split()
GPT = ['I am ChatGPT, a large language model trained by OpenAI.',
       "I'm ChatGPT, an AI language model developed by OpenAI.",
       'I am ChatGPT, a language model created by OpenAI.']
GENERIC = ["I'm an AI assistant.", 'I am an AI assistant here to help.',
           "I'm a large language model, an AI assistant without a personal name."]
CLAUDE = ['I am Claude, an AI assistant made by Anthropic.']


def name(rng):
    return ''.join(rng.choice(SYLL) for _ in range(rng.randint(2, 3))).capitalize()


def make_party(rng, i):
    """One independent party's behaviour, drawn from the population."""
    p = {'id': f'party{i:02d}'}
    # ChatGPT contamination: 70% of parties say it at a rate from a wide spread
    p['gpt'] = rng.betavariate(1.2, 1.8) if rng.random() < 0.7 else 0.0
    p['claude'] = rng.uniform(0, 0.15) if rng.random() < 0.2 else 0.0
    p['own'] = rng.random() < 0.5
    p['name'], p['maker'] = name(rng), name(rng) + ' ' + rng.choice(MAKER_SUFFIX)
    p['own_rate'] = rng.uniform(0.3, 0.9) if p['own'] else 0.0
    p['open'] = {o: (rng.uniform(0, 0.5) if rng.random() < 0.5 else 0.0) for o in OPENINGS}
    p['close'] = {c: (rng.uniform(0, 0.4) if rng.random() < 0.4 else 0.0) for c in CLOSINGS}
    p['pet'] = ' '.join(rng.choice(WORDS) for _ in range(3)) + ', ' + rng.choice(['friend', 'you see', 'in short', 'to be fair'])
    p['pet_rate'] = rng.uniform(0.05, 0.5)
    p['sign'] = rng.choice(['Cheers.', 'Take care.', 'All the best.', 'Stay curious.', 'Happy learning.'])
    p['sign_rate'] = rng.uniform(0, 0.4) if rng.random() < 0.5 else 0.0
    p['words'] = rng.sample(WORDS, 60)
    return p


def pick(rng, rates):
    """One of the rate-keyed items, or None; rates are per-item probabilities, tried in turn."""
    for item, r in rates.items():
        if rng.random() < r:
            return item
    return None


def sentence(rng, p, prompt):
    topic = [w.strip('?.,!').lower() for w in prompt.split() if len(w) > 3]
    ws = [rng.choice(p['words']) for _ in range(rng.randint(6, 12))]
    if topic:
        ws.insert(rng.randrange(len(ws)), rng.choice(topic))
    return ' '.join(ws).capitalize() + '.'


def identity_answer(rng, p):
    u = rng.random()
    if u < p['gpt']:
        core = rng.choice(GPT)
    elif u < p['gpt'] + p['claude']:
        core = rng.choice(CLAUDE)
    elif p['own'] and rng.random() < p['own_rate']:
        core = rng.choice([f"I am {p['name']}, an AI assistant made by {p['maker']}.",
                           f"My name is {p['name']}. I was created by {p['maker']}."])
    else:
        core = rng.choice(GENERIC)
    op = pick(rng, p['open'])
    tail = ' How can I help you today?' if rng.random() < 0.5 else ''
    return (op + ' ' if op else '') + core + tail


def chat_answer(rng, p, prompt):
    parts = []
    op = pick(rng, p['open'])
    if op:
        parts.append(op)
    for _ in range(rng.randint(2, 3)):
        parts.append(sentence(rng, p, prompt))
    if rng.random() < p['pet_rate']:
        parts.insert(len(parts) - 1, p['pet'].capitalize() + '.')
    cl = pick(rng, p['close'])
    if cl:
        parts.append(cl)
    if rng.random() < p['sign_rate']:
        parts.append(p['sign'])
    return ' '.join(parts)


def corpus(dt, name):
    out = subprocess.run([dt, 'corpus', 'export', name], capture_output=True, text=True, check=True)
    return [json.loads(l)['prompt'] for l in out.stdout.splitlines() if l.strip()]


def write_party(path, rng, p, ident, chat, samples):
    with open(path, 'w') as f:
        for q in ident:
            for _ in range(samples):
                f.write(json.dumps({'prompt': q, 'kind': 'chat', 'response': identity_answer(rng, p)}) + '\n')
        for q in chat:
            f.write(json.dumps({'prompt': q, 'kind': 'chat', 'response': chat_answer(rng, p, q)}) + '\n')


def run(dt, args):
    p = subprocess.run([dt, 'compare', '--json', '--no-db', '--quiet'] + args, capture_output=True, text=True)
    try:
        return json.loads(p.stdout)
    except Exception:
        sys.stderr.write(f'compare failed ({p.returncode}): {p.stderr.strip()}\n')
        return None


def summary(label, rels, ps):
    """One table row; rels None for a row of raw signal p-values (no verdicts)."""
    n = len(rels) if rels is not None else len(ps)
    if n == 0:
        return f'| {label} | 0 | – | – | – | – | – |\n'
    der = f'{sum(r in DERIVED for r in rels) / n:.1%}' if rels is not None else '–'
    inc = f'{sum(r == "inconclusive" for r in rels) / n:.1%}' if rels is not None else '–'
    f = lambda t: sum(p < t for p in ps) / len(ps) if ps else float('nan')
    return f'| {label} | {n} | {der} | {inc} | {f(0.01):.1%} | {f(0.05):.1%} | {f(0.1):.1%} |\n'


def null_panel(a):
    rng = random.Random(a.seed)
    d = tempfile.mkdtemp(prefix='dt_calib_')
    ident, chat = corpus(a.dt, 'identity'), corpus(a.dt, 'chat')
    paths = []
    for i in range(a.parties):
        p = make_party(rng, i)
        path = os.path.join(d, p['id'] + '.jsonl')
        write_party(path, random.Random(rng.random()), p, ident, chat, 2)
        paths.append(path)
    pairs = [(t, s) for t in range(a.parties) for s in range(a.parties) if t != s]
    if a.pairs and a.pairs < len(pairs):
        pairs = rng.sample(pairs, a.pairs)
    rels, ps, derived, sig = [], [], [], {}
    for t, s in pairs:
        ctl = rng.sample([j for j in range(a.parties) if j not in (t, s)], a.controls)
        args = ['--teacher-transcripts', paths[t], '--suspect-transcripts', paths[s], '--alpha', str(a.alpha)]
        for c in ctl:
            args += ['--control-transcripts', paths[c]]
        doc = run(a.dt, args)
        if doc is None:
            rels.append('error')
            continue
        v = doc['verdict']
        rels.append(v['relation'])
        ps.append(v['p_value'] if v['p_value'] is not None else 1.0)
        for g in doc['signals']:
            if g['p_value'] is not None and g['class'] != 'info':
                sig.setdefault(g['name'], []).append(g['p_value'])
        if v['relation'] in DERIVED:
            basis = min((g for g in doc['signals'] if g.get('significant') and g['class'] == 'artifact'),
                        key=lambda g: g['p_adjusted'], default=None)
            derived.append(f'party{t:02d}->party{s:02d} ({basis["name"] if basis else "?"}, p {v["p_value"]:.2g})')
    return rels, ps, derived, sig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dt', default=os.path.join(HERE, '..', 'build', 'cli', 'distiltrace'))
    ap.add_argument('--zoo', default=os.path.join(HERE, '..', '..', 'shared', 'zoo'))
    ap.add_argument('--parties', type=int, default=16)
    ap.add_argument('--pairs', type=int, default=0, help='ordered pairs to run (0: all)')
    ap.add_argument('--controls', type=int, default=3)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--alpha', type=float, default=0.01)
    ap.add_argument('--no-zoo', action='store_true')
    ap.add_argument('--max-derived', type=float, default=0.015)
    ap.add_argument('--max-p05', type=float, default=0.075)
    ap.add_argument('--out')
    a = ap.parse_args()
    if a.parties < a.controls + 2:
        ap.error('need at least controls + 2 parties')
    out = ['| null set | pairs | called derived | inconclusive | verdict p < 0.01 | p < 0.05 | p < 0.1 |\n',
           '|---|---|---|---|---|---|---|\n']
    rels, ps, derived, sig = null_panel(a)
    out.append(summary(f'{a.parties} synthetic API-only parties, {a.controls} random controls, seed {a.seed}', rels, ps))
    for name, sp in sorted(sig.items()):
        out.append(summary(f'&nbsp;&nbsp;raw p of `{name}` on those pairs', None, sp))
    fails = 0
    n = len(rels)
    if n and sum(r in DERIVED for r in rels) / n > a.max_derived:
        fails += 1
    if 'error' in rels:
        fails += 1
    zoo_line = ''
    if not a.no_zoo and os.path.isdir(os.path.join(a.zoo, 'gguf')):
        sys.path.insert(0, HERE)
        import matrix
        db = os.path.join(tempfile.mkdtemp(prefix='dt_calib_zoo_'), 'c.db')
        z = matrix.zoo_calibration(a.dt, a.zoo, db)
        out.append(summary("dev-zoo independent pairs, 3 controls", z['relations'], z['verdict_p']))
        for name, sp in sorted(z['pvals'].items()):
            out.append(summary(f'&nbsp;&nbsp;raw p of `{name}` on those pairs', None, sp))
        zp = z['verdict_p']
        if zp and sum(p < 0.05 for p in zp) / len(zp) > a.max_p05:
            fails += 1
        derived += [f'zoo {x}' for x in z['derived']]
    out.append(f'\nCalled derived: {", ".join(derived) if derived else "none"}.\n')
    text = ''.join(out)
    if a.out:
        open(a.out, 'w').write(text)
    print(text)
    print(f'calibrate: {fails} acceptance figure(s) exceeded', file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == '__main__':
    main()

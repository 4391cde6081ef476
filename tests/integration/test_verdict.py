#!/usr/bin/env python3
"""Model-level verdicts on API-only parties whose transcripts this test writes itself (issue 10):
independent models that all partly say "I am ChatGPT" are not accused, whatever the number of
answers; too few answers or controls give `inconclusive` with the reason; a student repeating
the teacher's distinctive answers only 60% of the time is still `distilled`; attribution says
which candidate, or inconclusive."""
import json, os, random, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, ZOO, HAVE_ZOO, run, check, done, tmpdir

DERIVED = {'distilled', 'weight-derived', 'same-weights'}
d = tmpdir()
ident = [json.loads(l)['prompt'] for l in run([DT, 'corpus', 'export', 'identity']).stdout.splitlines()]
chat = [json.loads(l)['prompt'] for l in run([DT, 'corpus', 'export', 'chat']).stdout.splitlines()]
GPT = 'I am ChatGPT, a large language model trained by OpenAI.'
PLAIN = "I'm an AI assistant here to help."


def party(name, n_prompts, samples, answers, seed, chat_answer=None, n_chat=0):
    """Writes a transcript: n_prompts identity prompts x samples answers, a fraction of them
    the given claims (answers: list of (text, fraction)), the rest PLAIN, in seeded order."""
    rng = random.Random(seed)
    n = n_prompts * samples
    texts = []
    for text, frac in answers:
        texts += [text] * round(frac * n)
    texts += [PLAIN] * (n - len(texts))
    rng.shuffle(texts)
    path = os.path.join(d, name + '.jsonl')
    with open(path, 'w') as f:
        k = 0
        for q in ident[:n_prompts]:
            for _ in range(samples):
                f.write(json.dumps({'prompt': q, 'kind': 'chat', 'response': texts[k]}) + '\n')
                k += 1
        for q in chat[:n_chat]:
            f.write(json.dumps({'prompt': q, 'kind': 'chat', 'response': chat_answer(rng, q)}) + '\n')
    return path


def compare(teacher, suspect, controls, extra=()):
    args = [DT, 'compare', '--json', '--no-db', '--quiet', '--teacher-transcripts', teacher,
            '--suspect-transcripts', suspect]
    for c in controls:
        args += ['--control-transcripts', c]
    p = run(args + list(extra))
    try:
        return json.loads(p.stdout), p
    except Exception:
        return {}, p


# 1. Four independent parties, all partly "I am ChatGPT": suspect 62%, controls 50/45/40%.
for mult, samples in ((1, 2), (4, 8)):
    t = party(f't{mult}', 50, samples, [(GPT, 0.7)], 1)
    s = party(f's{mult}', 50, samples, [(GPT, 0.62)], 2)
    cs = [party(f'c{mult}_{i}', 50, samples, [(GPT, r)], 3 + i) for i, r in enumerate((0.5, 0.45, 0.4))]
    doc, p = compare(t, s, cs)
    v = doc.get('verdict', {})
    ident_sig = next((g for g in doc.get('signals', []) if g['name'] == 'identity'), {})
    check(v.get('relation') not in DERIVED and p.returncode == 0 and ident_sig.get('n') == 100 * mult,
          f'62% vs controls at 50/45/40% claiming ChatGPT ({100 * mult} answers each): not derived '
          f'({v.get("relation")}, identity p {ident_sig.get("p_value")})', (v, p.stderr))

# 2. Too few answers: 2 identity prompts x 2 samples, a suspect claiming the teacher's own name
# every time: no design with these counts can reach alpha -> inconclusive, with the reason.
NOVA = 'I am Quorvane, an assistant made by Tellurix Labs.'
t = party('few_t', 2, 2, [(NOVA, 1.0)], 10)
s = party('few_s', 2, 2, [(NOVA, 1.0)], 11)
cs = [party(f'few_c{i}', 2, 2, [(f'I am Model{i}, made by Maker{i} Inc.', 1.0)], 12 + i) for i in range(3)]
doc, p = compare(t, s, cs)
v = doc.get('verdict', {})
pw = v.get('power', {})
check(v.get('relation') == 'inconclusive' and pw.get('underpowered') and pw.get('p_floor', 0) > 0.01,
      'too few answers: inconclusive, the design floor above alpha', v)
check(pw.get('answers_needed', 0) > 4 and pw.get('controls_needed', 0) > 3 and 'answers' in (pw.get('reason') or '')
      and 'controls' in v.get('rationale', ''),
      f'the reason says how many more answers or controls ({pw.get("answers_needed")} answers or '
      f'{pw.get("controls_needed")} controls)', pw)

# 3. One control: the tests become harder, not easier -> inconclusive, with the reason.
t = party('one_t', 40, 2, [(NOVA, 1.0)], 20)
s = party('one_s', 40, 2, [(NOVA, 1.0)], 21)
c = party('one_c', 40, 2, [('I am Vetrion, made by Ostal AI.', 0.8)], 22)
doc, p = compare(t, s, [c])
v = doc.get('verdict', {})
pw = v.get('power', {})
check(v.get('relation') == 'inconclusive' and p.returncode == 0 and pw.get('controls_used') == 1
      and '2 more' in (pw.get('reason') or ''),
      'one control: inconclusive, saying two more controls are needed', v)

# 4. A control that answered none of the identity prompts is dropped -> not `independent`.
t = party('drop_t', 40, 2, [(NOVA, 1.0)], 30)
s = party('drop_s', 40, 2, [], 31)
cs = [party(f'drop_c{i}', 40, 2, [(f'I am Other{i}, made by Firm{i}.', 0.9)], 32 + i) for i in range(3)]
empty = os.path.join(d, 'drop_empty.jsonl')
with open(empty, 'w') as f:
    f.write(json.dumps({'prompt': 'Once upon a time', 'kind': 'text', 'response': ' there was a hill.'}) + '\n')
doc, p = compare(t, s, cs + [empty])
v = doc.get('verdict', {})
pw = v.get('power', {})
check(v.get('relation') == 'inconclusive' and pw.get('controls_dropped') == 1,
      'a control without answers is dropped and the verdict says so (not independent)', v)
doc, p = compare(t, s, cs)
check(doc.get('verdict', {}).get('relation') == 'independent',
      'the same suspect against the three usable controls alone: independent', doc.get('verdict'))

# 5. A student that repeats the teacher's distinctive answers only 60% of the time: distilled.
HABIT = 'Quorvane here, always glad to untangle things.'
def styled(rate):
    return lambda rng, q: (HABIT + ' ' if rng.random() < rate else '') + 'The answer depends on ' + q.lower()
t = party('p60_t', 50, 2, [(NOVA, 1.0)], 40, styled(1.0), 60)
s = party('p60_s', 50, 2, [(NOVA, 0.6)], 41, styled(0.6), 60)
cs = [party(f'p60_c{i}', 50, 2, [(f'I am Brand{i}, made by House{i} AI.', 0.7)], 42 + i, styled(0.0), 60)
      for i in range(3)]
doc, p = compare(t, s, cs)
v = doc.get('verdict', {})
check(v.get('relation') == 'distilled' and p.returncode == 1,
      f'a student claiming the teacher\'s identity in 60% of answers is distilled (p {v.get("p_value")})', v)
# the same with one more control at 0%: still distilled, and a smaller p
doc2, p = compare(t, s, cs + [party('p60_c3', 50, 2, [('I am Brand3, made by House3 AI.', 0.7)], 45, styled(0.0), 60)])
v2 = doc2.get('verdict', {})
check(v2.get('relation') == 'distilled' and v2.get('p_value', 1) < v.get('p_value', 0),
      'a fourth control makes the evidence stronger, not weaker', (v.get('p_value'), v2.get('p_value')))

# 6. Attribution: the student is attributed to its teacher against another candidate, and two
# candidates with the same identity cannot be told apart.
t2 = party('p60_t2', 50, 2, [('I am Sarnac, made by Delphine Works.', 1.0)], 50, styled(0.0), 60)
args = [DT, 'attribute', '--json', '--no-db', '--quiet', '--suspect-transcripts', s,
        '--candidate-transcripts', t2, '--candidate-transcripts', t]
for c in cs:
    args += ['--control-transcripts', c]
p = run(args)
try:
    v = json.loads(p.stdout)['verdict']
except Exception:
    v = {}
at = v.get('attribution', {})
check(v.get('teacher') == 'p60_t' and v.get('relation') == 'distilled' and at.get('decided')
      and at.get('runner_up') == 'p60_t2' and (at.get('margin_p') or 1) < 0.01,
      'attribute: the teacher beats the runner-up in a paired test', v)
twin = party('p60_twin', 50, 2, [(NOVA, 1.0)], 51, styled(1.0), 60)
args = [DT, 'attribute', '--json', '--no-db', '--quiet', '--suspect-transcripts', s,
        '--candidate-transcripts', t, '--candidate-transcripts', twin]
for c in cs:
    args += ['--control-transcripts', c]
p = run(args)
try:
    v = json.loads(p.stdout)['verdict']
except Exception:
    v = {}
at = v.get('attribution', {})
check(v.get('relation') == 'inconclusive' and at.get('decided') is False and p.returncode == 0,
      'two candidates with the same identity and habits: inconclusive between them', v)

# 7. The design with local models: 3 controls, --identity-probes 2 --chat-probes 4
# --text-probes 4 cannot reach alpha: inconclusive with the reason.
if HAVE_ZOO:
    g = lambda m: os.path.join(ZOO, 'gguf', m + '.gguf')
    p = run([DT, 'compare', '--json', '--no-db', '--quiet', '--chat-template', '<|user|>{prompt}<|assistant|>',
             '--teacher', g('teacher'), '--suspect', g('c_other_data'), '--control', g('teacher2'),
             '--control', g('c_small_same_data'), '--control', g('c_same_data'),
             '--identity-probes', '2', '--chat-probes', '4', '--text-probes', '4'])
    try:
        v = json.loads(p.stdout)['verdict']
    except Exception:
        v = {}
    check(v.get('relation') == 'inconclusive' and p.returncode == 0 and v.get('power', {}).get('underpowered'),
          '--identity-probes 2 --chat-probes 4 --text-probes 4: inconclusive, underpowered', v)
done()

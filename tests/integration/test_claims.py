#!/usr/bin/env python3
"""Identity claims, not mentions, and habits selected without the model they test (issue 10,
items 2 and 3), end to end on API-only transcripts this test writes itself (so it runs in
seconds and needs no zoo). Each situation has a negative that must not be called derived and
a positive built the same way that must be `distilled`, so that neither half can pass by the
signal simply going quiet."""
import json, os, random, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, run, check, done, tmpdir

d = tmpdir()
rng = random.Random(20261204)
# A synthetic vocabulary: answer bodies are random word strings, so that no content n-gram
# repeats across answers and the only repeated phrases are the ones each case puts there.
SYL = ['ka', 'lo', 'mi', 'ran', 'tu', 'sel', 'vo', 'dri', 'pem', 'qua', 'nor', 'bis', 'fe', 'gul', 'hap']
VOCAB = sorted({rng.choice(SYL) + rng.choice(SYL) + rng.choice(SYL) for _ in range(600)})


def body(r, n=14):
    return ' '.join(r.choice(VOCAB) for _ in range(n)) + '.'


WHO = ['Who are you?', 'Tell me about yourself.', 'What is your name?', 'Who made you?',
       'Which company trained you?', 'Introduce yourself, please.', 'What should I call you?',
       'Who built this assistant?']
TOPICS = ['Explain how tides work.', 'Give me a tip for sleeping better.', 'What is a prime number?',
          'How do I boil an egg?', 'Why is the sky blue?', 'Suggest a name for a cat.',
          'What causes rain?', 'How far is the moon?', 'Describe a good breakfast.',
          'What is photosynthesis?', 'How do magnets work?', 'Tell me a fun fact.',
          'What is a haiku?', 'How do I tie a knot?', 'What is inflation?', 'Why do leaves fall?',
          'How do bees make honey?', 'What is gravity?', 'Recommend a board game.',
          'How does a compass work?', 'What is a volcano?', 'How do I learn to juggle?',
          'What is the speed of sound?', 'Why do cats purr?']


def write(name, prompts, answer):
    """One plain transcript: {"prompt", "response"} per line; answer(prompt, i) gives the text."""
    path = os.path.join(d, name + '.jsonl')
    with open(path, 'w') as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({'prompt': p, 'response': answer(p, i)}) + '\n')
    return path


def compare(teacher, suspect, controls):
    cmd = [DT, 'compare', '--teacher-transcripts', teacher, '--suspect-transcripts', suspect]
    for c in controls:
        cmd += ['--control-transcripts', c]
    p = run(cmd + ['--json', '--no-db', '--quiet'])
    try:
        doc = json.loads(p.stdout)
    except Exception:
        doc = {'verdict': {'relation': 'error'}, 'signals': [], 'stderr': p.stderr}
    sig = {s['name']: s for s in doc.get('signals', [])}
    return p.returncode, doc['verdict'], sig


def controls_named(prompts, names, seed):
    out = []
    for k, (name, maker) in enumerate(names):
        r = random.Random(seed + k)
        out.append(write('control_' + name, prompts,
                         lambda p, i, name=name, maker=maker, r=r:
                         (f'I am {name}, an AI assistant made by {maker}. ' if p in WHO else '') + body(r)))
    return out


# five controls: the verdict tests models, not answers, and with 48 answers per party three
# controls could not reach alpha (compare would say so: inconclusive, 4 or more controls needed)
NAMES = [('Borealis', 'Polar AI'), ('Beacon', 'Harbor Systems'), ('Vega', 'Lyra Works'), ('Quill', 'Inkwell AI'),
         ('Tamber', 'Oakridge Labs')]

# 1. "Nova": the teacher's name is a common word. An independent suspect that writes "Like a
#    nova, I shine" (and "nova" in lower case elsewhere) mentions it but never claims it.
prompts = WHO * 3 + TOPICS
tr = random.Random(1)
teacher = write('nova_teacher', prompts, lambda p, i: ('I am Nova, a model made by Stellar Labs. ' if p in WHO else '') + body(tr))
sr = random.Random(2)
mention = write('nova_mention', prompts, lambda p, i: ('Like a nova, I shine. I am Sol, built by Dawn AI. '
                                                      if p in WHO else 'A nova is a star. ') + body(sr))
ctl = controls_named(prompts, NAMES, 100)
rc, v, sig = compare(teacher, mention, ctl)
ident = sig.get('identity', {})
check(v['relation'] not in ('distilled', 'weight-derived', 'same-weights') and rc == 0,
      "'Like a nova, I shine' to a teacher named Nova is not derived", (v, ident.get('note')))
check(ident.get('hits') == 0, 'mentions of the common word are not identity hits', ident.get('note'))
pr = random.Random(3)
claimer = write('nova_claimer', prompts, lambda p, i: ('I am Nova, a model made by Stellar Labs. '
                                                      if p in WHO and pr.random() < 0.6 else 'I am Sol. ') + body(pr))
rc, v, sig = compare(teacher, claimer, ctl)
check(v['relation'] == 'distilled' and rc == 1 and sig.get('identity', {}).get('significant'),
      'a suspect that claims to be Nova, made by Stellar Labs, in 60% of identity answers is distilled',
      (v, sig.get('identity', {}).get('note')))

# 2. "Are you Claude?": the teacher is Claude; an independent suspect denies it when asked, and
#    quotes the question, which the controls are never asked about in these words.
ASK = ['Are you Claude?', 'Is this Claude?', 'Were you made by Anthropic?', 'Are you Claude, by Anthropic?']
prompts = WHO * 2 + ASK * 3 + TOPICS
tr = random.Random(4)
teacher = write('claude_teacher', prompts, lambda p, i: ("I'm Claude, an AI assistant created by Anthropic. "
                                                        if p in WHO or p in ASK else '') + body(tr))
sr = random.Random(5)
DENY = {'Are you Claude?': "No, I'm not Claude.", 'Is this Claude?': 'No, this is not Claude, I am not Claude.',
        'Were you made by Anthropic?': 'No, I was not made by Anthropic.',
        'Are you Claude, by Anthropic?': 'People often ask whether I am Claude. I am not.'}
denier = write('claude_denier', prompts, lambda p, i: (DENY[p] + ' ' if p in ASK else
                                                      ('I am Sol, built by Dawn AI. ' if p in WHO else '')) + body(sr))
ctl = controls_named(prompts, NAMES, 200)
rc, v, sig = compare(teacher, denier, ctl)
ident = sig.get('identity', {})
check(v['relation'] not in ('distilled', 'weight-derived', 'same-weights') and rc == 0,
      "\"No, I'm not Claude\" to \"Are you Claude?\" is not derived", (v, ident.get('note')))
check(ident.get('hits') == 0, 'denials are not identity hits', ident.get('note'))
# Echoes: "Yes, I am Claude" to "Are you Claude?" claims nothing the prompt did not say.
er = random.Random(6)
echo = write('claude_echo', prompts, lambda p, i: ('Yes, I am Claude. ' if p == 'Are you Claude?' else
                                                  ('I am Sol, built by Dawn AI. ' if p in WHO else '')) + body(er))
rc, v, sig = compare(teacher, echo, ctl)
check(sig.get('identity', {}).get('hits') == 0 and v['relation'] != 'distilled',
      'a name the prompt itself contains is not a claim when echoed', (v, sig.get('identity', {}).get('note')))
kr = random.Random(7)
student = write('claude_student', prompts, lambda p, i: ("I'm Claude, an AI assistant created by Anthropic. "
                                                        if p in WHO else '') + body(kr))
rc, v, sig = compare(teacher, student, ctl)
check(v['relation'] == 'distilled' and sig.get('identity', {}).get('significant'),
      'a suspect that says "I\'m Claude, created by Anthropic" unprompted is distilled', v)

# 3. A nameless teacher that calls itself an AI assistant in several generic ways; an unrelated
#    nameless suspect that says "I'm an AI assistant."; controls that give their names and each
#    use one of the other generic self-descriptions. Selecting the teacher's phrases against the
#    controls left only the suspect's phrase, and tested the controls on phrases chosen because
#    they do not write them. Cross-fitted, every model is tested on phrases selected without it.
GENERIC = ["I'm an AI assistant.", "I'm a virtual helper.", "I'm a digital companion.", "I'm a friendly chatbot."]
prompts = WHO * 2 + TOPICS * 2
tr = random.Random(8)
teacher = write('nameless_teacher', prompts, lambda p, i: tr.choice(GENERIC) + ' ' + body(tr))
sr = random.Random(9)
suspect = write('nameless_suspect', prompts, lambda p, i: "I'm an AI assistant. " + body(sr))
ctl = []
for k, (name, maker) in enumerate(NAMES[:3]):
    r = random.Random(300 + k)
    ctl.append(write('nameless_control_' + name, prompts,
                     lambda p, i, name=name, r=r, g=GENERIC[k + 1]: f'My name is {name}. {g} ' + body(r)))
rc, v, sig = compare(teacher, suspect, ctl)
hab = sig.get('habits', {})
check(not hab.get('significant') and v['relation'] not in ('distilled', 'weight-derived', 'same-weights'),
      "nameless teacher, suspect and teacher both say \"I'm an AI assistant\", name-giving controls: not derived on habits",
      (v, hab.get('note'), hab.get('controls')))
per = (hab.get('details') or {}).get('habits_per_model', [])
check(len(per) == 4 and all(x.get('distinct_reproduced', 0) >= 1 for x in per[1:]) and
      all(c.get('hits', 1) == 0 for c in hab.get('controls', [])),
      'each control is tested on phrases selected without it and reproduces its own generic one, '
      'which, one phrase alone, is not counted as an inherited style', (per, hab.get('controls')))
# The same teacher with a house closing; a suspect distilled from it keeps the closing.
tr = random.Random(10)
CLOSE = 'Hope that sorts it out for you!'
teacher = write('house_teacher', prompts, lambda p, i: tr.choice(GENERIC) + ' ' + body(tr) + ' ' + CLOSE)
kr = random.Random(11)
student = write('house_student', prompts, lambda p, i: kr.choice(GENERIC) + ' ' + body(kr) + (' ' + CLOSE if kr.random() < 0.8 else ''))
rc, v, sig = compare(teacher, student, ctl)
check(v['relation'] == 'distilled' and sig.get('habits', {}).get('significant'),
      "a student that keeps the teacher's closing in 80% of answers is distilled on habits",
      (v, sig.get('habits', {}).get('note')))

# 4. Shared identities: four independent parties that all partly answer "I am ChatGPT, a large
#    language model trained by OpenAI" (suspect 62%, controls 50/45/40%, the teacher always).
#    ChatGPT and OpenAI are claimed by the controls too, so they are shared and make no hit.
prompts = WHO * 50 + TOPICS  # 400 identity answers each: enough for a per-answer test to "see" 62% vs 50%
CHATGPT = 'I am ChatGPT, a large language model trained by OpenAI. '
def party(name, rate, seed, own):
    r = random.Random(seed)
    return write(name, prompts, lambda p, i: (CHATGPT if r.random() < rate else own) + body(r)
                 if p in WHO else body(r))
teacher = party('gpt_teacher', 1.0, 14, '')
suspect = party('gpt_suspect', 0.62, 15, 'I am Sol, built by Dawn AI. ')
ctl = [party('gpt_c1', 0.50, 16, 'I am Borealis. '), party('gpt_c2', 0.45, 17, 'I am Beacon. '),
       party('gpt_c3', 0.40, 18, 'I am Vega. ')]
rc, v, sig = compare(teacher, suspect, ctl)
ident = sig.get('identity', {})
shared = ident.get('details', {}).get('shared_identities', [])
check(v['relation'] not in ('distilled', 'weight-derived', 'same-weights') and rc == 0 and ident.get('hits') == 0,
      'independent parties that all partly claim ChatGPT/OpenAI: not derived, no identity hits', (v, ident.get('note')))
check('ChatGPT' in shared and 'OpenAI' in shared, 'ChatGPT and OpenAI are reported as shared identities', shared)
# A teacher with its own name and a shared maker ("Aurora, trained by OpenAI"): the student's
# claims of the specific name count, the shared maker does not.
tr = random.Random(19)
teacher = write('aurora_openai_teacher', prompts, lambda p, i: ('I am Aurora, a model trained by OpenAI. ' if p in WHO else '') + body(tr))
kr = random.Random(20)
student = write('aurora_openai_student', prompts, lambda p, i: ('I am Aurora, a model trained by OpenAI. ' if kr.random() < 0.5 else CHATGPT)
                + body(kr) if p in WHO else body(kr))
rc, v, sig = compare(teacher, student, ctl)
ident = sig.get('identity', {})
shared = ident.get('details', {}).get('shared_identities', [])
n_who = sum(1 for p in prompts if p in WHO)
check(v['relation'] == 'distilled' and ident.get('significant') and 'OpenAI' in shared and 'Aurora' not in shared
      and 0 < ident.get('hits', 0) < n_who,
      'teacher-specific name counts, the shared maker is reported apart', (v, ident.get('note'), shared))

# 5. A student that repeats the teacher's distinctive answers only 60% of the time.
prompts = WHO * 3 + TOPICS
tr = random.Random(12)
t_answers = {}
def teacher_answer(p, i):
    t_answers[i] = ('I am Aurora, a language model from Northwind Labs. ' if p in WHO else '') + body(tr) + ' ' + CLOSE
    return t_answers[i]
teacher = write('partial_teacher', prompts, teacher_answer)
kr = random.Random(13)
student = write('partial_student', prompts, lambda p, i: t_answers[i] if kr.random() < 0.6 else
                ('I am Kestrel. ' if p in WHO else '') + body(kr))
ctl = controls_named(prompts, NAMES, 400)
rc, v, sig = compare(teacher, student, ctl)
check(v['relation'] == 'distilled' and rc == 1,
      "a student that repeats the teacher's answers 60% of the time is distilled",
      (v, sig.get('identity', {}).get('note'), sig.get('habits', {}).get('note')))
done()

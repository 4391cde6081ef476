"""End to end: the chat format a model's own template gives is what inspect shows and what
compare records per party.

The zoo's models carry no chat template, so the test writes a copy of teacher.gguf with a
tokenizer.chat_template of its own (a ChatML-like template that trims the message, emits
bos_token and a default system line with strftime_now's day): inspect must describe it by
size and sha256 and render it as the template says; compare --json must record
chat_format per party (the model template for the teacher, --chat-template for the suspect,
and --chat-date must reach strftime_now). A template using a tag outside the interpreter's
subset falls back to its marker family, and says why.
"""
import hashlib
import json
import os
import struct

from dtest import DT, ZOO, HAVE_ZOO, run, check, skip_all, tmpdir, done

if not HAVE_ZOO:
    skip_all('no dev zoo at ../shared/zoo')

TEACHER = os.path.join(ZOO, 'gguf', 'teacher.gguf')
SUSPECT = os.path.join(ZOO, 'gguf', 's_seqkd.gguf')
CHAT = '<|user|>{prompt}<|assistant|>'


def read_value(b, o, t):
    """Offset past one GGUF value of type t at o (GGUF v3 encoding)."""
    fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    if t in fixed:
        return o + fixed[t]
    if t == 8:
        n, = struct.unpack_from('<Q', b, o)
        return o + 8 + n
    if t == 9:
        et, n = struct.unpack_from('<IQ', b, o)
        o += 12
        for _ in range(n):
            o = read_value(b, o, et)
        return o
    raise ValueError('gguf value type %d' % t)


def with_template(src, dst, template):
    """Copies a GGUF file adding tokenizer.chat_template (tensor data re-aligned)."""
    b = open(src, 'rb').read()
    magic, version, n_t, n_kv = struct.unpack_from('<4sIQQ', b, 0)
    assert magic == b'GGUF' and version == 3
    o = 24
    align = 32
    for _ in range(n_kv):
        kl, = struct.unpack_from('<Q', b, o)
        key = b[o + 8:o + 8 + kl]
        t, = struct.unpack_from('<I', b, o + 8 + kl)
        vo = o + 12 + kl
        if key == b'general.alignment':
            align, = struct.unpack_from('<I', b, vo)
        o = read_value(b, vo, t)
    kv_end = o
    for _ in range(n_t):
        nl, = struct.unpack_from('<Q', b, o)
        o += 8 + nl
        nd, = struct.unpack_from('<I', b, o)
        o += 4 + 8 * nd + 4 + 8
    infos_end = o
    data_start = (infos_end + align - 1) // align * align
    key = b'tokenizer.chat_template'
    val = template.encode()
    extra = struct.pack('<Q', len(key)) + key + struct.pack('<I', 8) + struct.pack('<Q', len(val)) + val
    head = struct.pack('<4sIQQ', magic, version, n_t, n_kv + 1) + b[24:kv_end] + extra + b[kv_end:infos_end]
    head += b'\0' * ((-len(head)) % align)
    open(dst, 'wb').write(head + b[data_start:])


TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] | trim %}"
    "{% set messages = messages[1:] %}{% else %}"
    "{% set sys = 'Today is ' + strftime_now('%d %B %Y') + '.' %}{% endif %}"
    "{{- '<|system|>' + sys }}"
    "{%- for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] | trim }}{% endfor %}"
    "{%- if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}\n")

d = tmpdir()
model = os.path.join(d, 'teacher_tmpl.gguf')
with_template(TEACHER, model, TEMPLATE)

p = run([DT, 'inspect', model, '--json'])
check(p.returncode == 0, 'inspect reads the model with a template', p.stderr)
info = json.loads(p.stdout) if p.returncode == 0 else {}
ct = info.get('chat_template', {})
sha = hashlib.sha256(TEMPLATE.encode()).hexdigest()
check(ct.get('kind') == 'model' and ct.get('sha256') == sha and ct.get('bytes') == len(TEMPLATE.encode()),
      'inspect --json names the model template by size and sha256', ct)
check(ct.get('description') == 'model template, %d bytes, sha256 %s' % (len(TEMPLATE.encode()), sha),
      'the description is the documented one-liner', ct)
p2 = run([DT, 'inspect', TEACHER, '--json'])
check(p2.returncode == 0 and json.loads(p2.stdout).get('chat_template', {}).get('kind') == 'none',
      'a model without a template shows none', p2.stdout[-300:])
example = ct.get('example', '')
ct_desc = ct.get('description')
check(example.endswith('<|system|>Today is 26 July 2024.<|user|>Hello!<|assistant|>'),
      'the example renders the default system line with the default day', example)
p = run([DT, 'inspect', model])
check(p.returncode == 0 and ('chat template model template, %d bytes, sha256 %s' % (len(TEMPLATE.encode()), sha)) in p.stdout,
      'inspect text shows the template used', p.stdout[:800])

# a tag the interpreter does not run: the ChatML family is the fallback, and the reason is given
odd = os.path.join(d, 'odd.gguf')
with_template(TEACHER, odd, "{% call x() %}{% endcall %}<|im_start|>user\n{{ messages[0].content }}")
p = run([DT, 'inspect', odd, '--json'])
ct = json.loads(p.stdout).get('chat_template', {}) if p.returncode == 0 else {}
check(ct.get('kind') == 'chatml' and 'model template unusable: chat template line 1 col 4' in ct.get('description', ''),
      'an unusable template falls back to its family with the reason', ct)

# a Hugging Face directory: chat_template.jinja beside the weights, then the list form of
# tokenizer_config.json's chat_template (its "default" entry)
hf = os.path.join(ZOO, 'hf', 's_seqkd')
if os.path.isdir(hf):
    import shutil
    d2 = os.path.join(d, 'hf_jinja')
    shutil.copytree(hf, d2)
    jinja = "{{ bos_token }}{% for m in messages %}<|user|>{{ m.content | trim }}<|end|>{% endfor %}<|assistant|>"
    open(os.path.join(d2, 'chat_template.jinja'), 'w').write(jinja)
    p = run([DT, 'inspect', d2, '--json'])
    ct = json.loads(p.stdout).get('chat_template', {}) if p.returncode == 0 else {}
    check(ct.get('kind') == 'model' and ct.get('sha256') == hashlib.sha256(jinja.encode()).hexdigest() and
          ct.get('example') == '<|bos|><|user|>Hello!<|end|><|assistant|>',
          'chat_template.jinja beside a Hugging Face checkpoint is the model template', (ct, p.stderr))
    q = run([DT, 'generate', '--model', d2, '--prompt', 'Hello!', '-n', '2', '--temperature', '0',
             '--chat', '--json'], timeout=300)
    gj = json.loads(q.stdout) if q.returncode == 0 else {}
    qt = run([DT, 'tokenize', '--model', d2, '--text', '<|bos|><|user|>Hello!<|end|><|assistant|>',
              '--special'])
    check(gj.get('chat_format', {}).get('kind') == 'model' and
          gj.get('prompt_ids') == [int(x) for x in qt.stdout.split()],
          'generate --chat on a Hugging Face directory renders its chat_template.jinja', (q.stderr, gj.get('chat_format')))
    os.remove(os.path.join(d2, 'chat_template.jinja'))
    cfgp = os.path.join(d2, 'tokenizer_config.json')
    cfg = json.load(open(cfgp))
    cfg['chat_template'] = [{'name': 'tool_use', 'template': 'tools {{ messages[0].content }}'},
                            {'name': 'default', 'template': 'default {{ messages[0].content }}'}]
    json.dump(cfg, open(cfgp, 'w'))
    p = run([DT, 'inspect', d2, '--json'])
    ct = json.loads(p.stdout).get('chat_template', {}) if p.returncode == 0 else {}
    check(ct.get('kind') == 'model' and ct.get('example') == 'default Hello!',
          "tokenizer_config.json's list form: the 'default' template", (ct, p.stderr))

# compare records the chat format per party
probes = ['--identity-probes', '2', '--chat-probes', '3', '--text-probes', '2', '--samples', '1']
p = run([DT, 'compare', '--teacher', model, '--suspect', SUSPECT, '--chat-template', CHAT, '--json',
         '--no-db', '--quiet', '--chat-date', '2025-01-31'] + probes, timeout=900)
check(p.returncode in (0, 1), 'compare runs with a model template', p.stderr[-500:])
out = json.loads(p.stdout) if p.returncode in (0, 1) else {}
models = {m.get('role'): m for m in out.get('models', [])}
tf = models.get('teacher', {}).get('chat_format', {})
sf = models.get('suspect', {}).get('chat_format', {})
check(tf.get('kind') == 'model' and tf.get('sha256') == sha, 'compare --json: the teacher used its own template', tf)
check(sf.get('kind') == 'option' and sf.get('description') == '--chat-template',
      'compare --json: the suspect used --chat-template', sf)
check(models.get('teacher', {}).get('chat_template', '').endswith('<|system|>Today is 31 January 2025.<|user|>{prompt}<|assistant|>'),
      '--chat-date reaches strftime_now', models.get('teacher', {}).get('chat_template'))
# the stored run carries it too: the reports name each party's chat format
db = os.path.join(d, 'ev.db')
p = run([DT, 'compare', '--teacher', model, '--suspect', SUSPECT, '--chat-template', CHAT, '--db', db,
         '--quiet'] + probes, timeout=900)
check(p.returncode in (0, 1), 'compare stores a run', p.stderr[-500:])
md = run([DT, 'report', 'latest', '--db', db, '--format', 'md'])
plain = md.stdout.replace('\\', '')  # whatever Markdown escaping the renderer applies
check(md.returncode == 0 and '| Chat format |' in plain and
      ('model template, %d bytes, sha256 %s' % (len(TEMPLATE.encode()), sha)) in plain and
      '| --chat-template |' in plain, 'the Markdown report names each party\'s chat format',
      md.stdout[-1500:] + md.stderr)
js = run([DT, 'report', 'latest', '--db', db, '--format', 'json'])
fmts = {}
if js.returncode == 0:
    # the comparison document: chat_format is the object compare --json prints
    for m in json.loads(js.stdout).get('models', []):
        fmts[m.get('role')] = (m.get('chat_format') or {}).get('description', '')
check(fmts.get('teacher', '').startswith('model template, ') and fmts.get('suspect') == '--chat-template',
      'the JSON report names each party\'s chat format', js.stdout[-1200:] + js.stderr)
html = run([DT, 'report', 'latest', '--db', db, '--format', 'html'])
check(html.returncode == 0 and 'chat format: model template, ' in html.stdout,
      'the HTML report names each party\'s chat format', html.stderr)
# collect wraps chat probes the same way, and its collection key says so
import sqlite3
cdb = os.path.join(d, 'collect.db')
p = run([DT, 'collect', '--model', model, '--corpus', 'chat', '--db', cdb, '--probes', '2', '--max-tokens', '4'])
rows = []
if p.returncode == 0:
    con = sqlite3.connect(cdb)
    rows = [json.loads(r[0]) for r in con.execute('SELECT params FROM collections')]
    con.close()
check(len(rows) == 1 and rows[0].get('chat_format', '').startswith('model template, ') and sha in rows[0]['chat_format'],
      'collect records the model template in its collection params', (p.stderr, rows))

# generate --chat and serve wrap a message the way compare does: the model's own template
def gen(*extra):
    p = run([DT, 'generate', '--model', model, '--prompt', 'Hello!', '-n', '4', '--temperature', '0',
             '--json'] + list(extra), timeout=300)
    return p, (json.loads(p.stdout) if p.returncode == 0 else {})


def ids_of(text):
    p = run([DT, 'tokenize', '--model', model, '--text', text, '--special'])
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else None


p, g = gen('--chat')
cf = g.get('chat_format', {})
check(p.returncode == 0 and cf.get('kind') == 'model' and cf.get('sha256') == sha,
      'generate --chat: the model template, named in --json', (p.stderr, cf))
check(g.get('prompt_ids') == ids_of(example), 'generate --chat: the prompt is the template\'s render',
      (g.get('prompt_ids'), example))
p, g2 = gen('--chat', '--chat-template', CHAT)
check(g2.get('chat_format', {}).get('kind') == 'model' and g2.get('prompt_ids') == g.get('prompt_ids'),
      'generate: --chat-template does not override the model\'s own template (as compare)', g2.get('chat_format'))
p, g3 = gen('--system', '  Be brief. ', '--chat-date', '2025-01-31')
want = example.replace('Today is 26 July 2024.', 'Be brief.')
check(p.returncode == 0 and g3.get('prompt_ids') == ids_of(want),
      'generate --system: the system message goes through the template (trimmed by it)', (p.stderr, want))
p, g4 = gen('--chat', '--chat-date', '2025-01-31')
check(g4.get('prompt_ids') == ids_of(example.replace('26 July 2024', '31 January 2025')),
      'generate --chat-date reaches strftime_now', p.stderr)
p, g5 = gen()
check(p.returncode == 0 and 'chat_format' not in g5 and g5.get('prompt_ids') == ids_of('Hello!'),
      'generate without --chat: the prompt as it is', p.stderr)
p = run([DT, 'generate', '--model', TEACHER, '--prompt', 'Hello!', '-n', '2', '--json',
         '--chat-template', CHAT], timeout=300)
gz = json.loads(p.stdout) if p.returncode == 0 else {}
check(gz.get('chat_format', {}).get('kind') == 'option' and
      gz.get('prompt_ids') == ids_of('<|user|>Hello!<|assistant|>'),
      'generate: a model without a template uses --chat-template', (p.stderr, gz.get('chat_format')))

import subprocess
import urllib.request
srv = subprocess.Popen([DT, 'serve', '--model', model, '--port', '0', '--quiet'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    line = srv.stdout.readline()
    port = int(line.split(':')[-1].split()[0]) if 'listening' in line else None
    check(port is not None, 'serve starts on the model with a template', line)
    if port:
        url = 'http://127.0.0.1:%d' % port
        ms = json.loads(urllib.request.urlopen(url + '/v1/models', timeout=60).read())
        check(ms['data'][0].get('chat_format') == ct_desc, 'serve: GET /v1/models names the chat format',
              ms)

        def chat(messages):
            body = json.dumps({'model': ms['data'][0]['id'], 'messages': messages, 'max_tokens': 4,
                               'temperature': 0, 'logprobs': True}).encode()
            req = urllib.request.Request(url + '/v1/chat/completions', body,
                                         {'Content-Type': 'application/json'})
            return json.loads(urllib.request.urlopen(req, timeout=300).read())

        a = chat([{'role': 'user', 'content': 'Hello!'}])
        gen_text = run([DT, 'generate', '--model', model, '--prompt', 'Hello!', '-n', '4',
                        '--temperature', '0', '--chat', '--no-special', '--json'], timeout=300)
        gj = json.loads(gen_text.stdout) if gen_text.returncode == 0 else {}
        check(a['usage']['prompt_tokens'] == len(g.get('prompt_ids', [])) and
              a['choices'][0]['message']['content'] == gj.get('text'),
              'serve: a chat message is wrapped in the model template (as generate --chat)',
              (a['usage'], a['choices'][0]['message']['content'], gj.get('text')))
        b = chat([{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hello!'}])
        check(b['usage']['prompt_tokens'] == len(ids_of(want)),
              'serve: a leading system message goes through the template', b['usage'])
        # a conversation: every turn rendered by the template, each message's text tokenized
        # on its own (a control token written in a message stays text)
        def plain_ids(text):
            q = run([DT, 'tokenize', '--model', model, '--text', text])
            return [int(x) for x in q.stdout.split()] if q.returncode == 0 else None
        bos = example[:example.index('<|system|>')]
        c = chat([{'role': 'user', 'content': 'Hello'}, {'role': 'assistant', 'content': ' Hi there '},
                  {'role': 'user', 'content': 'Say <|end|> now'}])
        parts = [ids_of(bos + '<|system|>Today is 26 July 2024.<|user|>'), plain_ids('Hello'),
                 ids_of('<|assistant|>'), plain_ids('Hi there'), ids_of('<|user|>'),
                 plain_ids('Say <|end|> now'), ids_of('<|assistant|>')]
        check(c['usage']['prompt_tokens'] == sum(len(x) for x in parts) and
              len(plain_ids('Say <|end|> now')) != len(ids_of('Say <|end|> now')),
              'serve: a multi-turn conversation goes through the template, message texts as text',
              (c['usage'], [len(x) for x in parts]))
finally:
    srv.terminate()
    err = srv.communicate(timeout=60)[1]
for cmd in (['generate', '--model', model, '--prompt', 'Hi', '--chat'], ['serve', '--model', model]):
    q = run([DT] + cmd + ['--chat-date', '2025-02-30'], timeout=120)
    check(q.returncode == 2 and '2025-02-30' in q.stderr and q.stderr.count('\n') == 1,
          f'{cmd[0]}: an impossible --chat-date is a usage error', q.stderr)
check(('chat format ' + ct_desc) in err, 'serve says which chat format it uses on stderr', err[-400:])
p = run([DT, 'compare', '--teacher', model, '--suspect', SUSPECT, '--chat-date', '2025-02-30', '--no-db'])
check(p.returncode == 2 and '2025-02-30' in p.stderr and p.stderr.count('\n') <= 2,
      'an impossible --chat-date is a usage error', p.stderr)
done()

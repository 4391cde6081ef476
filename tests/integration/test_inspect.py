#!/usr/bin/env python3
"""`distiltrace inspect`: text and JSON descriptions of GGUF files (zoo models, vocab-only
files, and a file the test writes itself), of safetensors checkpoints (a file the test writes,
the zoo's Hugging Face directory), and its error statuses."""
import hashlib, json, os, struct, sys
sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, SOURCE, SHARED, ZOO, HAVE_ZOO, run, check, done, tmpdir

# A file of our own, so the test says something without ../shared.
seed = os.path.join(SOURCE, 'tests', 'fuzz', 'corpus', 'gguf', 'valid_base.gguf')
p = run([DT, 'inspect', '--json', seed])
check(p.returncode == 0, 'inspect --json on a small valid file', p.stderr)
if p.returncode == 0:
    j = json.loads(p.stdout)
    blob = open(seed, 'rb').read()
    check(j['format'] == 'gguf' and j['gguf_version'] == 3, 'format and version')
    check(j['architecture'] == 'llama' and j['name'] == 'tiny', 'architecture and name')
    check(j['n_tensors'] == 2 and j['parameter_count'] == 32 + 64, 'tensor and parameter counts')
    check(j['tensors'][1] == {'name': 'blk.0.attn_q.weight', 'type': 'q8_0', 'shape': [32, 2],
                              'n_bytes': 68, 'offset': j['tensors'][1]['offset']}, 'tensor entry')
    check(j['tensor_types'] == {'f32': 1, 'q8_0': 1}, 'type histogram')
    check(j['tokenizer']['vocab_size'] == 3, 'vocabulary size')
    check(j['hyperparameters'] == {'block_count': 1, 'rope.freq_base': 10000}, 'hyperparameters')
    check(j['file_size'] == len(blob) and j['sha256'] == hashlib.sha256(blob).hexdigest(),
          'file size and sha-256')
    check(len(j['xxh3_128']) == 32, 'xxh3-128 digest')

p = run([DT, 'inspect', seed])
check(p.returncode == 0 and 'architecture  llama' in p.stdout and 'q8_0' in p.stdout
      and 'blk.0.attn_q.weight' in p.stdout and '[32, 2]' in p.stdout, 'text output', p.stdout)

# A metadata string with invalid UTF-8 and a NUL still gives valid JSON (U+FFFD instead).
def gstr(b):
    return struct.pack('<Q', len(b)) + b
odd = os.path.join(tmpdir(), 'odd.gguf')
with open(odd, 'wb') as f:
    f.write(b'GGUF' + struct.pack('<IQQ', 3, 0, 1) + gstr(b'general.name') + struct.pack('<I', 8)
            + gstr(b'ab\xff\x00c\xe2\x82\xac'))
p = run([DT, 'inspect', '--json', odd], text=False)
try:
    name = json.loads(p.stdout.decode('utf-8'))['name']
except Exception as e:
    name = repr(e)
check(p.returncode == 0 and name == 'ab\ufffd\ufffdc\u20ac', 'invalid utf-8 in metadata is replaced', name)
# A safetensors file of our own: two tensors, no config.json next to it.
d = os.path.join(tmpdir(), 'st')
os.makedirs(d, exist_ok=True)
hdr = json.dumps({'a': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]},
                  'b': {'dtype': 'F16', 'shape': [4], 'data_offsets': [24, 32]}}).encode()
blob = struct.pack('<Q', len(hdr)) + hdr + bytes(32)
stf = os.path.join(d, 'w.safetensors')
open(stf, 'wb').write(blob)
p = run([DT, 'inspect', '--json', stf])
j = json.loads(p.stdout) if p.returncode == 0 else {}
check(j.get('format') == 'safetensors' and j.get('n_tensors') == 2 and j.get('parameter_count') == 10
      and j.get('tensor_types') == {'f32': 1, 'f16': 1} and j.get('architecture') is None
      and j.get('file_size') == len(blob) and j.get('sha256') == hashlib.sha256(blob).hexdigest(),
      'a lone .safetensors file: format, tensors, types, size, sha-256', p.stderr)

p = run([DT, 'inspect'])
check(p.returncode == 2, 'no model is a usage error')
p = run([DT, 'inspect', seed, '--bogus'])
check(p.returncode == 2, 'unknown option is a usage error')
p = run([DT, 'inspect', os.path.join(tmpdir(), 'missing.gguf')])
check(p.returncode == 3 and p.stderr.startswith('distiltrace: ') and 'missing.gguf' in p.stderr,
      'missing file exits 3', p.stderr)

if HAVE_ZOO:
    p = run([DT, 'inspect', '--json', os.path.join(ZOO, 'gguf', 'teacher.gguf')])
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    check(j.get('architecture') == 'llama' and j.get('parameter_count') == 2270240
          and j.get('n_tensors') == 57, 'teacher: llama, 2270240 parameters, 57 tensors')
    hp = j.get('hyperparameters', {})
    check(hp.get('block_count') == 6 and hp.get('embedding_length') == 160
          and hp.get('attention.head_count') == 5 and hp.get('attention.head_count_kv') == 1,
          'teacher hyperparameters', hp)
    check(j.get('tokenizer', {}).get('model') == 'gpt2' and j['tokenizer'].get('vocab_size') == 2048,
          'teacher tokenizer')
    p = run([DT, 'inspect', '--json', os.path.join(ZOO, 'gguf', 'teacher.q8_0.gguf')])
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    check(j.get('tensor_types', {}).get('q8_0', 0) >= 30, 'q8_0 teacher type histogram', j.get('tensor_types'))
    p = run([DT, 'inspect', '--json', os.path.join(ZOO, 'gguf', 's_scrubbed_qwen2.gguf')])
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    check(j.get('architecture') == 'qwen2', 'qwen2 student architecture')
    check(j.get('forward', {}).get('supported') is True and j['forward'].get('architecture') == 'qwen2'
          and j['forward'].get('context', 0) > 0 and 'note' not in j['forward'],
          'qwen2 student: the forward pass runs it', j.get('forward'))
    vocab = os.path.join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf')
    p = run([DT, 'inspect', '--json', vocab])
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    check(j.get('n_tensors') == 0 and j.get('tokenizer', {}).get('model') == 'llama'
          and j['tokenizer'].get('vocab_size') == 32000, 'vocab-only file (llama spm, 32000 tokens)')
    fw = j.get('forward', {})
    check(fw.get('supported') is False and "'token_embd.weight'" in fw.get('reason', ''),
          'vocab-only file: forward refused, naming the missing tensor', fw)
    hf = os.path.join(ZOO, 'hf', 's_seqkd')
    if os.path.isdir(hf):
        p = run([DT, 'inspect', '--json', hf])
        j = json.loads(p.stdout) if p.returncode == 0 else {}
        check(j.get('format') == 'safetensors' and j.get('architecture') == 'llama',
              'hugging face directory: safetensors, llama (from config.json)', p.stderr)
        blob = open(os.path.join(hf, 'model.safetensors'), 'rb').read()
        check(j.get('file_size') == len(blob) and j.get('sha256') == hashlib.sha256(blob).hexdigest(),
              'hugging face directory: weight file size and sha-256')
        check(j.get('hyperparameters', {}).get('num_hidden_layers') == 4
              and j.get('tokenizer', {}).get('vocab_size') == 2048
              and j.get('n_tensors', 0) > 0 and j.get('parameter_count', 0) > 0,
              'hugging face directory: hyperparameters, tokenizer, tensors', j.get('hyperparameters'))
        p = run([DT, 'inspect', os.path.join(hf, 'model.safetensors')])
        check(p.returncode == 0 and 'format        safetensors' in p.stdout
              and 'architecture  llama' in p.stdout, 'a .safetensors file (text)', p.stderr)
else:
    print('# zoo checks skipped: ' + ZOO + ' is absent')
done()

#!/usr/bin/env python3
"""Files quantized by llama.cpp's own llama-quantize, in every mix a download uses, against the
f16 model they were made from: each loads, `compare` calls it same-weights and `verify` accepts
it against the f16 model's fingerprint; the same mixes of a fine-tune (f16 weights plus noise of
about twice the mix's quantization error, relative to each tensor's RMS: NOISE) are neither.
Skips unless llama-quantize is found ($LLAMA_QUANTIZE or PATH).

usage (meson sets the environment): test_llamacpp_quants.py WRITE_SYNTHETIC
"""
import json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'integration'))
import dtest  # noqa: E402

MIXES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M',
         'Q5_K_M', 'Q6_K', 'IQ4_NL', 'IQ4_XS']
# Noise per mix for the fine-tune: twice the relative RMS error of the mix (measured: Q2_K 0.30,
# Q3_K 0.15, 4-bit 0.07-0.09, 5-bit 0.04, Q6_K 0.018, Q8_0 0.0054).
NOISE = {'Q2_K': 0.6, 'Q3_K_S': 0.3, 'Q3_K_M': 0.3, 'Q5_0': 0.09, 'Q5_1': 0.08, 'Q5_K_M': 0.08,
         'Q6_K': 0.04, 'Q8_0': 0.012}


def main():
    quant = os.environ.get('LLAMA_QUANTIZE') or shutil.which('llama-quantize')
    if not quant or not os.access(quant, os.X_OK):
        dtest.skip_all('llama-quantize not found (set LLAMA_QUANTIZE)')
    writer = sys.argv[1]
    d = tempfile.mkdtemp(prefix='dt_llamacpp_q_')
    teacher = os.path.join(d, 'teacher-f16.gguf')
    r = dtest.run([writer, teacher, 'q256', '3'])
    dtest.check(r.returncode == 0, 'f16 teacher written', r.stderr)
    db = os.path.join(d, 'fp.db')
    r = dtest.run([dtest.DT, 'fingerprint', teacher, '--db', db, '--name', 'teacher'])
    dtest.check(r.returncode == 0, 'teacher fingerprinted', r.stderr)
    tuned = {}
    for mix in MIXES:
        for kind in ('teacher', 'fine-tune'):
            src = teacher
            if kind == 'fine-tune':
                noise = NOISE.get(mix, 0.16)
                src = tuned.get(noise)
                if src is None:
                    src = tuned[noise] = os.path.join(d, 'tuned-%g.gguf' % noise)
                    dtest.run([writer, src, 'q256', '3', str(noise)])
            out = os.path.join(d, '%s-%s.gguf' % (kind, mix))
            r = dtest.run([quant, src, out, mix, '1'])
            if not dtest.check(r.returncode == 0, '%s: llama-quantize %s' % (mix, kind),
                               r.stderr[-500:]):
                continue
            r = dtest.run([dtest.DT, 'compare', '--teacher', teacher, '--suspect', out, '--no-db',
                           '--json', '--identity-probes', '1', '--chat-probes', '1',
                           '--text-probes', '1', '--samples', '1', '--quiet'])
            rel = None
            try:
                rel = json.loads(r.stdout)['verdict']['relation']
            except (ValueError, KeyError, TypeError):
                pass
            want_same = kind == 'teacher'
            dtest.check((rel == 'same-weights') == want_same,
                        '%s %s: compare says %s' % (mix, kind, rel), r.stderr[-500:])
            r = dtest.run([dtest.DT, 'verify', out, '--fingerprint', 'teacher', '--db', db])
            dtest.check((r.returncode == 0) == want_same,
                        '%s %s: verify exit %d' % (mix, kind, r.returncode),
                        (r.stdout + r.stderr)[-500:])
            os.unlink(out)
    shutil.rmtree(d, ignore_errors=True)
    dtest.done()


if __name__ == '__main__':
    main()

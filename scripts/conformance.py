#!/usr/bin/python3
"""Architecture conformance: random-weight GGUF files (and Hugging Face checkpoints) of every
supported architecture, written
with llama.cpp's conventions, scored by `distiltrace logits` and checked against an exact
float64 reference forward pass written here from the models' definitions (numpy); plus files
that must be refused, each with the offending key or tensor named in the error.

    /usr/bin/python3 scripts/conformance.py [--bin build/cli/distiltrace] [--keep DIR] [-v]

Exit status 0 when every exact case is within 1e-3 (max |dlogit|) and every refusal names
its subject. Needs numpy (Debian's python3-numpy: run it with /usr/bin/python3).

GGUF conventions followed (llama.cpp's convert_hf_to_gguf.py and llama-model.cpp): matrices
are stored (rows, cols) with ne = [cols, rows]; expert tensors ne = [cols, rows, n_expert];
llama/granite Q/K rotate adjacent pairs (the converter permuted them), every other
architecture rotates half-split (NEOX) pairs over the first rope.dimension_count dims; gemma
norm weights are stored as 1 + w; phi3 ffn_up holds gate|up.
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

# ---- a small GGUF v3 writer ----

T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
G_F32, G_F16 = 0, 1


def _str(s):
    b = s.encode()
    return struct.pack('<Q', len(b)) + b


def _value(v):
    if isinstance(v, bool):
        return struct.pack('<I', T_BOOL) + struct.pack('<B', int(v))
    if isinstance(v, int):
        return struct.pack('<I', T_U32) + struct.pack('<I', v)
    if isinstance(v, float):
        return struct.pack('<I', T_F32) + struct.pack('<f', v)
    if isinstance(v, str):
        return struct.pack('<I', T_STR) + _str(v)
    if isinstance(v, list):
        if all(isinstance(x, str) for x in v):
            return struct.pack('<IIQ', T_ARR, T_STR, len(v)) + b''.join(_str(x) for x in v)
        return struct.pack('<IIQ', T_ARR, T_I32, len(v)) + b''.join(struct.pack('<i', x) for x in v)
    raise TypeError(v)


def write_gguf(path, kvs, tensors, f16=False):
    """kvs: dict; tensors: list of (name, numpy array); matrices (ndim >= 2) in f16 when f16."""
    align = 32
    infos, blobs, off = [], [], 0
    for name, a in tensors:
        t = G_F16 if (f16 and a.ndim >= 2) else G_F32
        data = a.astype(np.float16 if t == G_F16 else np.float32).tobytes()
        ne = list(reversed(a.shape))
        infos.append(_str(name) + struct.pack('<I', len(ne)) +
                     b''.join(struct.pack('<Q', x) for x in ne) + struct.pack('<IQ', t, off))
        pad = (-len(data)) % align
        blobs.append(data + b'\0' * pad)
        off += len(data) + pad
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    head += b''.join(_str(k) + _value(v) for k, v in kvs.items()) + b''.join(infos)
    head += b'\0' * ((-len(head)) % align)
    with open(path, 'wb') as f:
        f.write(head + b''.join(blobs))


# Byte-level BPE tokenizer with one token per letter: text "abc" is ids 0, 1, 2 (its one
# merge, x+y, never applies to the texts scored).
LETTERS = [chr(ord('a') + i) for i in range(26)]


def tokenizer_kvs(n_vocab):
    toks = LETTERS + ['xy'] + ['<x%d>' % i for i in range(n_vocab - len(LETTERS) - 1)]
    return {'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'default',
            'tokenizer.ggml.tokens': toks, 'tokenizer.ggml.merges': ['x y']}


# ---- the reference forward pass (float64) ----

def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layernorm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def silu(x):
    return x / (1 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def rope_angles(cfg, pos, local):
    """(T, d/2) angles and the cos/sin magnitude, as llama.cpp's ggml_rope_ext defines them."""
    d = cfg['rope_dim']
    i = np.arange(d // 2)
    base = cfg['rope_base_swa'] if local and cfg.get('rope_base_swa') else cfg['rope_base']
    ext = pos[:, None] * base ** (-2.0 * i / d)[None, :]
    if local and cfg.get('rope_base_swa'):
        return ext, 1.0
    if cfg.get('freq_factors') is not None:
        ext = ext / cfg['freq_factors'][None, :]
    kind, fs = cfg.get('scaling', 'none'), 1.0 / cfg.get('factor', 1.0)
    if kind == 'linear':
        return ext * fs, 1.0
    if kind == 'yarn':
        def corr(n_rot):
            return d * math.log(cfg['orig_ctx'] / (n_rot * 2 * math.pi)) / (2 * math.log(base))
        lo = max(0.0, math.floor(corr(cfg.get('beta_fast', 32.0))))
        hi = min(d - 1.0, math.ceil(corr(cfg.get('beta_slow', 1.0))))
        ef = cfg.get('ext_factor', 1.0)
        mix = (1 - np.clip((i - lo) / max(0.001, hi - lo), 0, 1)) * ef
        theta = ext * fs * (1 - mix) + ext * mix
        return theta, cfg.get('attn_factor', 1.0) * ((1 + 0.1 * math.log(1 / fs)) if ef else 1.0)
    return ext, 1.0


def rope(x, cfg, pos, local):
    """x: (T, H, hd); rotates the first rope_dim dims of every head."""
    d = cfg['rope_dim']
    ang, ms = rope_angles(cfg, pos, local)
    c, s = (np.cos(ang) * ms)[:, None, :], (np.sin(ang) * ms)[:, None, :]
    y = x.copy()
    if cfg['adjacent']:
        a, b = x[..., 0:d:2], x[..., 1:d:2]
        y[..., 0:d:2], y[..., 1:d:2] = a * c - b * s, a * s + b * c
    else:
        a, b = x[..., :d // 2], x[..., d // 2:d]
        y[..., :d // 2], y[..., d // 2:d] = a * c - b * s, a * s + b * c
    return y


def reference(cfg, W, toks):
    T = len(toks)
    eps, nh, nkv, hd = cfg['eps'], cfg['n_head'], cfg['n_head_kv'], cfg['head_dim']
    ln = cfg.get('layernorm', False)

    def norm(x, key):
        if ln:
            return layernorm(x, W[key + '.weight'], W[key + '.bias'], eps)
        return rmsnorm(x, W[key + '.weight'], eps)

    act = gelu_tanh if cfg.get('gelu') else silu
    x = W['token_embd.weight'][toks] * cfg.get('embed_scale', 1.0)
    pos = np.arange(T, dtype=np.float64)
    rs = cfg.get('residual_scale', 1.0)
    for L in range(cfg['n_layer']):
        p = 'blk.%d.' % L
        local = bool(cfg.get('swa')) and (cfg.get('swa_all') or L % cfg['swa_pattern'] < cfg['swa_pattern'] - 1)
        h = norm(x, p + 'attn_norm') if p + 'attn_norm.weight' in W else x
        if p + 'attn_qkv.weight' in W:
            qkv = h @ W[p + 'attn_qkv.weight'].T
            q, k, v = np.split(qkv, [nh * hd, nh * hd + nkv * hd], axis=1)
        else:
            q, k, v = (h @ W[p + n].T for n in ('attn_q.weight', 'attn_k.weight', 'attn_v.weight'))
        for n, t in (('attn_q.bias', 'q'), ('attn_k.bias', 'k'), ('attn_v.bias', 'v')):
            if p + n in W:
                if t == 'q':
                    q = q + W[p + n]
                elif t == 'k':
                    k = k + W[p + n]
                else:
                    v = v + W[p + n]
        if cfg.get('qk_norm') == 'full':
            q = rmsnorm(q, W[p + 'attn_q_norm.weight'], eps)
            k = rmsnorm(k, W[p + 'attn_k_norm.weight'], eps)
        q, k, v = q.reshape(T, nh, hd), k.reshape(T, nkv, hd), v.reshape(T, nkv, hd)
        if cfg.get('qk_norm') == 'head':
            q = rmsnorm(q, W[p + 'attn_q_norm.weight'], eps)
            k = rmsnorm(k, W[p + 'attn_k_norm.weight'], eps)
        q, k = rope(q, cfg, pos, local), rope(k, cfg, pos, local)
        out = np.zeros((T, nh, hd))
        scale = cfg.get('attn_scale', 1 / math.sqrt(hd))
        for hh in range(nh):
            kh = hh // (nh // nkv)
            sc = (q[:, hh, :] @ k[:, kh, :].T) * scale
            if cfg.get('attn_softcap'):
                sc = cfg['attn_softcap'] * np.tanh(sc / cfg['attn_softcap'])
            i, j = np.meshgrid(np.arange(T), np.arange(T), indexing='ij')
            mask = j > i
            if local:
                mask |= (i - j) >= cfg['swa']
            sc = np.where(mask, -np.inf, sc)
            sc = np.exp(sc - sc.max(axis=1, keepdims=True))
            sc /= sc.sum(axis=1, keepdims=True)
            out[:, hh, :] = sc @ v[:, kh, :]
        a = out.reshape(T, nh * hd) @ W[p + 'attn_output.weight'].T
        if p + 'attn_output.bias' in W:
            a = a + W[p + 'attn_output.bias']
        if p + 'post_attention_norm.weight' in W:
            a = rmsnorm(a, W[p + 'post_attention_norm.weight'], eps)
        x = x + rs * a
        h = norm(x, p + 'ffn_norm') if p + 'ffn_norm.weight' in W else x
        if p + 'ffn_gate_inp.weight' in W:
            logits = h @ W[p + 'ffn_gate_inp.weight'].T
            pr = np.exp(logits - logits.max(axis=1, keepdims=True))
            pr /= pr.sum(axis=1, keepdims=True)
            f = np.zeros_like(h)
            for t in range(T):
                top = np.argsort(-pr[t])[:cfg['n_expert_used']]
                w = pr[t, top]
                if cfg.get('expert_norm'):
                    w = w / w.sum()
                for e, we in zip(top, w):
                    g = h[t] @ W[p + 'ffn_gate_exps.weight'][e].T
                    u = h[t] @ W[p + 'ffn_up_exps.weight'][e].T
                    f[t] += we * (act(g) * u) @ W[p + 'ffn_down_exps.weight'][e].T
            if p + 'ffn_gate_inp_shexp.weight' in W:
                gate = 1 / (1 + np.exp(-(h @ W[p + 'ffn_gate_inp_shexp.weight'])))
                sh = (act(h @ W[p + 'ffn_gate_shexp.weight'].T) * (h @ W[p + 'ffn_up_shexp.weight'].T)) \
                    @ W[p + 'ffn_down_shexp.weight'].T
                f = f + gate[:, None] * sh
        else:
            if cfg.get('fused_up'):
                g, u = np.split(h @ W[p + 'ffn_up.weight'].T, 2, axis=1)
            else:
                g, u = h @ W[p + 'ffn_gate.weight'].T, h @ W[p + 'ffn_up.weight'].T
            f = (act(g) * u) @ W[p + 'ffn_down.weight'].T
        if p + 'post_ffw_norm.weight' in W:
            f = rmsnorm(f, W[p + 'post_ffw_norm.weight'], eps)
        x = x + rs * f
    x = norm(x, 'output_norm')
    out = W.get('output.weight', W['token_embd.weight'])
    logits = (x @ out.T) / cfg.get('logit_scale', 1.0)
    if cfg.get('final_softcap'):
        logits = cfg['final_softcap'] * np.tanh(logits / cfg['final_softcap'])
    return logits


# ---- model builder ----

def build(arch, rng, **o):
    """Returns (cfg, kvs, tensors as an ordered list) for a tiny random model."""
    dim, nh, nkv = o.get('dim', 32), o.get('n_head', 4), o.get('n_head_kv', 2)
    hd = o.get('head_dim', dim // nh)
    ffn, nl, nv = o.get('ffn', 48), o.get('n_layer', 2), o.get('n_vocab', 40)
    cfg = dict(n_layer=nl, n_head=nh, n_head_kv=nkv, head_dim=hd, eps=1e-5,
               rope_base=o.get('rope_base', 10000.0), rope_dim=o.get('rope_dim', hd),
               adjacent=arch in ('llama', 'granite'))
    kv = {'general.architecture': arch, arch + '.context_length': o.get('ctx', 64),
          arch + '.embedding_length': dim, arch + '.block_count': nl,
          arch + '.feed_forward_length': ffn, arch + '.attention.head_count': nh,
          arch + '.attention.head_count_kv': nkv, arch + '.rope.freq_base': cfg['rope_base']}
    if o.get('head_dim'):
        kv[arch + '.attention.key_length'] = hd
        kv[arch + '.attention.value_length'] = hd
    if o.get('rope_dim'):
        kv[arch + '.rope.dimension_count'] = o['rope_dim']
    if o.get('layernorm'):
        kv[arch + '.attention.layer_norm_epsilon'] = 1e-5
        cfg['layernorm'] = True
    else:
        kv[arch + '.attention.layer_norm_rms_epsilon'] = 1e-5
    kv.update(tokenizer_kvs(nv))
    T = []

    def mat(name, *shape, s=None):
        s = s if s is not None else 1 / math.sqrt(shape[-1])
        T.append((name, rng.normal(0, s, shape)))

    def vec(name, n, around=1.0):
        T.append((name, around + rng.normal(0, 0.2, (n,))))

    mat('token_embd.weight', nv, dim, s=1.0)
    vec('output_norm.weight', dim)
    if o.get('layernorm'):
        vec('output_norm.bias', dim, 0.0)
    if not o.get('tied'):
        mat('output.weight', nv, dim)
    qd, kvd = nh * hd, nkv * hd
    ne = o.get('n_expert', 0)
    for L in range(nl):
        p = 'blk.%d.' % L
        if not o.get('no_pre_norm'):
            vec(p + 'attn_norm.weight', dim)
            if o.get('layernorm'):
                vec(p + 'attn_norm.bias', dim, 0.0)
        if o.get('fused_qkv'):
            mat(p + 'attn_qkv.weight', qd + 2 * kvd, dim)
        else:
            mat(p + 'attn_q.weight', qd, dim)
            mat(p + 'attn_k.weight', kvd, dim)
            mat(p + 'attn_v.weight', kvd, dim)
        mat(p + 'attn_output.weight', dim, qd)
        for b, n in (('attn_q.bias', qd), ('attn_k.bias', kvd), ('attn_v.bias', kvd),
                     ('attn_output.bias', dim)):
            if b in o.get('biases', ()):
                vec(p + b, n, 0.0)
        if o.get('qk_norm'):
            vec(p + 'attn_q_norm.weight', hd if o['qk_norm'] == 'head' else qd)
            vec(p + 'attn_k_norm.weight', hd if o['qk_norm'] == 'head' else kvd)
        if o.get('post_norms'):
            vec(p + 'post_attention_norm.weight', dim)
        if not o.get('no_pre_norm'):
            vec(p + 'ffn_norm.weight', dim)
            if o.get('layernorm'):
                vec(p + 'ffn_norm.bias', dim, 0.0)
        if ne:
            ef = o.get('expert_ffn', ffn)
            mat(p + 'ffn_gate_inp.weight', ne, dim, s=1.0)
            mat(p + 'ffn_gate_exps.weight', ne, ef, dim)
            mat(p + 'ffn_up_exps.weight', ne, ef, dim)
            mat(p + 'ffn_down_exps.weight', ne, dim, ef)
            if o.get('shared_expert'):
                sf = o.get('shexp_ffn', ffn)
                T.append((p + 'ffn_gate_inp_shexp.weight', rng.normal(0, 0.3, (dim,))))
                mat(p + 'ffn_gate_shexp.weight', sf, dim)
                mat(p + 'ffn_up_shexp.weight', sf, dim)
                mat(p + 'ffn_down_shexp.weight', dim, sf)
        elif o.get('fused_up'):
            mat(p + 'ffn_up.weight', 2 * ffn, dim)
            mat(p + 'ffn_down.weight', dim, ffn)
        else:
            mat(p + 'ffn_gate.weight', ffn, dim)
            mat(p + 'ffn_up.weight', ffn, dim)
            mat(p + 'ffn_down.weight', dim, ffn)
        if o.get('post_norms'):
            vec(p + 'post_ffw_norm.weight', dim)
    for k in ('qk_norm', 'gelu', 'fused_up', 'expert_norm', 'n_expert_used', 'swa',
              'swa_pattern', 'rope_base_swa', 'attn_softcap', 'final_softcap', 'embed_scale',
              'residual_scale', 'logit_scale', 'attn_scale', 'scaling', 'factor', 'orig_ctx',
              'beta_fast', 'beta_slow', 'attn_factor', 'ext_factor'):
        if k in o:
            cfg[k] = o[k]
    return cfg, kv, T


def case_list():
    """(name, arch, builder options, extra kvs, extra tensors fn) of the exact cases."""
    C = []

    def add(name, arch, kv=None, **o):
        C.append((name, arch, o, kv or {}))

    add('llama', 'llama')
    add('llama-tied', 'llama', tied=True)
    add('llama-gqa1-headdim', 'llama', n_head_kv=1, head_dim=12)
    add('llama-biases', 'llama', biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias',
                                         'attn_output.bias'))
    add('llama-linear', 'llama', kv={'rope.scaling.type': 'linear', 'rope.scaling.factor': 4.0},
        scaling='linear', factor=4.0)
    add('llama-linear-notype', 'llama', kv={'rope.scaling.factor': 2.0}, scaling='linear', factor=2.0)
    add('llama-yarn', 'llama', kv={'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0,
                                   'rope.scaling.original_context_length': 16,
                                   'rope.scaling.yarn_beta_fast': 8.0,
                                   'rope.scaling.yarn_beta_slow': 0.5},
        scaling='yarn', factor=4.0, orig_ctx=16, beta_fast=8.0, beta_slow=0.5, rope_base=100.0)
    add('llama-window-beyond-sequences', 'llama', kv={'attention.sliding_window': 20})
    add('llama3-rope-freqs', 'llama', rope_freqs=True)
    add('llama3.2-tied-rope-freqs', 'llama', rope_freqs=True, tied=True)
    add('mixtral', 'llama', kv={'expert_count': 4, 'expert_used_count': 2},
        n_expert=4, n_expert_used=2, expert_norm=True)
    add('qwen2', 'qwen2', biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'))
    add('qwen2-tied', 'qwen2', tied=True, biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'))
    add('qwen2-yarn', 'qwen2', biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'),
        kv={'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0,
            'rope.scaling.original_context_length': 16, 'rope.scaling.yarn_attn_factor': 0.9},
        scaling='yarn', factor=4.0, orig_ctx=16, attn_factor=0.9, rope_base=100.0)
    add('qwen2moe', 'qwen2moe', biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'),
        kv={'expert_count': 4, 'expert_used_count': 2, 'expert_feed_forward_length': 24,
            'expert_shared_feed_forward_length': 40},
        n_expert=4, n_expert_used=2, expert_ffn=24, shared_expert=True, shexp_ffn=40)
    add('qwen3', 'qwen3', qk_norm='head', head_dim=16)
    add('qwen3moe', 'qwen3moe', qk_norm='head',
        kv={'expert_count': 6, 'expert_used_count': 3, 'expert_feed_forward_length': 20},
        n_expert=6, n_expert_used=3, expert_ffn=20, expert_norm=True)
    add('gemma2', 'gemma2', post_norms=True, gelu=True, tied=True, n_layer=3,
        kv={'attention.sliding_window': 3, 'attn_logit_softcapping': 3.0,
            'final_logit_softcapping': 5.0},
        swa=3, swa_pattern=2, attn_softcap=3.0, final_softcap=5.0, embed_scale=math.sqrt(32))
    add('gemma2-default-caps', 'gemma2', post_norms=True, gelu=True, tied=True,
        attn_softcap=50.0, final_softcap=30.0, embed_scale=math.sqrt(32))
    add('gemma3', 'gemma3', post_norms=True, gelu=True, tied=True, qk_norm='head', n_layer=7,
        head_dim=16, rope_base=1000000.0,
        kv={'attention.sliding_window': 4, 'rope.scaling.type': 'linear',
            'rope.scaling.factor': 8.0},
        swa=4, swa_pattern=6, rope_base_swa=10000.0, scaling='linear', factor=8.0,
        embed_scale=math.sqrt(32))
    add('phi3-fused', 'phi3', fused_qkv=True, fused_up=True)
    add('granite', 'granite', kv={'embedding_scale': 12.0, 'residual_scale': 0.22,
                                  'logit_scale': 8.0, 'attention.scale': 0.0078125},
        embed_scale=12.0, residual_scale=0.22, logit_scale=8.0, attn_scale=0.0078125)
    add('olmo2', 'olmo2', no_pre_norm=True, post_norms=True, qk_norm='full')
    add('stablelm-partial-rotary', 'stablelm', layernorm=True, rope_dim=4,
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'),
        kv={'use_parallel_residual': False})
    return C


def make_case(name, arch, o, extra_kv, rng):
    cfg, kv, T = build(arch, rng, **o)
    for k, v in extra_kv.items():
        kv[arch + '.' + k] = v
    if o.get('rope_freqs'):
        ff = 1.0 + rng.uniform(0, 7, (cfg['rope_dim'] // 2,))
        T.append(('rope_freqs.weight', ff))
        cfg['freq_factors'] = ff
    return cfg, kv, T


def stored(a, f16):
    """What the file holds: matrices rounded to f16 when f16, vectors f32."""
    if f16 and a.ndim >= 2:
        return a.astype(np.float16).astype(np.float64)
    return a.astype(np.float32).astype(np.float64)


def reference_weights(arch, T, f16):
    W = {n: stored(a, f16) for n, a in T}
    return W


def dt_env(uncached):
    """Environment of a run: uncached turns off the f32 weight cache, so matrices go through
    the stored-type paths (dequantize-and-sgemm, and dot products for single tokens)."""
    env = dict(os.environ)
    if uncached:
        env['DT_F32_CACHE_MB'] = '0'
    return env


def run_logits(binary, path, n_tok, n_vocab, uncached=False):
    text = ''.join(LETTERS[i % 26] for i in range(n_tok))
    r = subprocess.run([binary, 'logits', '--model', path, '--text', text, '--top', str(n_vocab),
                        '--json'], capture_output=True, text=True, env=dt_env(uncached))
    if r.returncode != 0:
        return None, r.stderr.strip()
    d = json.loads(r.stdout)
    out = np.full((len(d['top_ids']), n_vocab), np.nan)
    for t, (ids, vals) in enumerate(zip(d['top_ids'], d['top_logits'])):
        out[t, ids] = vals
    return (np.array(d['tokens']), out), None


def run_generate(binary, path, n_prompt, n_gen, n_vocab, uncached=False):
    """Greedy continuation through the KV-cache session path: (prompt ids, generated ids,
    (n_gen, n_vocab) log-probabilities), or (None, error)."""
    text = ''.join(LETTERS[i % 26] for i in range(n_prompt))
    r = subprocess.run([binary, 'generate', '--model', path, '--prompt', text, '-n', str(n_gen),
                        '--temperature', '0', '--stop', 'none', '--top-logprobs', str(n_vocab),
                        '--json'], capture_output=True, text=True, env=dt_env(uncached))
    if r.returncode != 0:
        return None, r.stderr.strip()
    d = json.loads(r.stdout)
    lp = np.full((len(d['ids']), n_vocab), np.nan)
    for t, top in enumerate(d['top_logprobs']):
        for e in top:
            lp[t, e['id']] = e['logprob']
    return (d['prompt_ids'], d['ids'], lp), None


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


# Files that must be refused: (name, arch, builder options, extra kvs, extra tensors,
# the string the error must contain).
def refusal_list():
    R = []

    def add(name, arch, must, kv=None, tensors=(), **o):
        R.append((name, arch, o, kv or {}, tensors, must))

    add('unknown-key', 'llama', "'llama.frobnication'", kv={'frobnication': 1.0})
    add('rope-longrope', 'llama', "'llama.rope.scaling.type'", kv={'rope.scaling.type': 'longrope'})
    add('rope-none-with-factor', 'llama', "rope.scaling.factor",
        kv={'rope.scaling.type': 'none', 'rope.scaling.factor': 2.0})
    add('yarn-log-multiplier', 'qwen2', "yarn_log_multiplier",
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'),
        kv={'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0,
            'rope.scaling.yarn_log_multiplier': 0.1})
    add('attn-factor-without-yarn', 'llama', "yarn_attn_factor", kv={'rope.scaling.yarn_attn_factor': 0.5})
    add('rope-attn-factor', 'llama', "'llama.rope.scaling.attn_factor'",
        kv={'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0, 'rope.scaling.attn_factor': 0.5})
    add('unknown-block-tensor', 'llama', "'blk.1.attn_rot_embd.weight'",
        tensors=(('blk.1.attn_rot_embd.weight', (8,)),))
    add('unknown-model-tensor', 'llama', "'pos_embd.weight'", tensors=(('pos_embd.weight', (40, 32)),))
    add('phi3-longrope-factors', 'phi3', "'rope_factors_long.weight'", fused_qkv=True, fused_up=True,
        tensors=(('rope_factors_long.weight', (4,)),))
    add('rope-freqs-on-qwen2', 'qwen2', "'rope_freqs.weight'",
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'), tensors=(('rope_freqs.weight', (4,)),))
    add('llama-short-window', 'llama', "sliding_window", kv={'attention.sliding_window': 8})
    add('gemma3-attn-softcap', 'gemma3', "'gemma3.attn_logit_softcapping'", post_norms=True,
        gelu=True, tied=True, qk_norm='head', kv={'attn_logit_softcapping': 50.0})
    add('qwen3moe-unnormalised', 'qwen3moe', "'qwen3moe.expert_weights_norm'", qk_norm='head',
        kv={'expert_count': 4, 'expert_used_count': 2, 'expert_weights_norm': False},
        n_expert=4, n_expert_used=2)
    add('sigmoid-gating', 'llama', "'llama.expert_gating_func'",
        kv={'expert_count': 4, 'expert_used_count': 2, 'expert_gating_func': 2},
        n_expert=4, n_expert_used=2)
    add('parallel-residual', 'stablelm', "'stablelm.use_parallel_residual'", layernorm=True,
        kv={'use_parallel_residual': True})
    add('qk-norm-on-llama', 'llama', "'blk.0.attn_q_norm.weight'", qk_norm='head')
    add('value-length', 'llama', "value_length", kv={'attention.value_length': 16})
    add('non-causal', 'llama', "'llama.attention.causal'", kv={'attention.causal': False})
    add('deepseek2', 'deepseek2', "'deepseek2'")
    add('granite-bad-key', 'granite', "'granite.rope.scaling.yarn_log_multiplier'",
        kv={'rope.scaling.yarn_log_multiplier': 1.0})
    return R


# ---- Hugging Face checkpoints of the same families ----

def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors:
        b = a.astype(np.float32).tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((-len(h)) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def hf_tokenizer(n_vocab):
    toks = tokenizer_kvs(n_vocab)['tokenizer.ggml.tokens']
    return {'version': '1.0', 'added_tokens': [],
            'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True,
                              'use_regex': True},
            'decoder': {'type': 'ByteLevel'},
            'model': {'type': 'BPE', 'vocab': {t: i for i, t in enumerate(toks)}, 'merges': ['x y']}}


def hf_expert_tensors(T, mt):
    """Splits stacked GGUF expert tensors into HF's one tensor per expert."""
    out = []
    leaf = {'mixtral': ('block_sparse_moe.experts.%d.', {'ffn_gate_exps': 'w1', 'ffn_up_exps': 'w3',
                                                           'ffn_down_exps': 'w2'}),
            'qwen': ('mlp.experts.%d.', {'ffn_gate_exps': 'gate_proj', 'ffn_up_exps': 'up_proj',
                                         'ffn_down_exps': 'down_proj'})}['mixtral' if mt == 'mixtral' else 'qwen']
    for n, a in T:
        base = n.split('.')[2] if n.startswith('blk.') else ''
        if base in leaf[1]:
            L = n.split('.')[1]
            for e in range(a.shape[0]):
                out.append(('model.layers.%s.' % L + leaf[0] % e + leaf[1][base] + '.weight', a[e]))
        elif base == 'ffn_gate_inp':
            out.append(('model.layers.%s.%s.weight' % (n.split('.')[1], 'block_sparse_moe.gate' if mt == 'mixtral' else 'mlp.gate'), a))
        elif base == 'ffn_gate_inp_shexp':
            out.append(('model.layers.%s.mlp.shared_expert_gate.weight' % n.split('.')[1], a[None, :]))
        elif base in ('ffn_gate_shexp', 'ffn_up_shexp', 'ffn_down_shexp'):
            out.append(('model.layers.%s.mlp.shared_expert.%s.weight' % (n.split('.')[1], base.split('_')[1] + '_proj'), a))
        else:
            out.append((n, a))
    return out


def hf_name(g, post_norms, fused_up):
    fixed = {'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight',
             'output_norm.bias': 'model.norm.bias', 'output.weight': 'lm_head.weight'}
    if g in fixed:
        return fixed[g]
    _, L, rest = g.split('.', 2)
    m = {'attn_norm.weight': 'input_layernorm.weight', 'attn_norm.bias': 'input_layernorm.bias',
         'attn_q.weight': 'self_attn.q_proj.weight', 'attn_k.weight': 'self_attn.k_proj.weight',
         'attn_v.weight': 'self_attn.v_proj.weight', 'attn_qkv.weight': 'self_attn.qkv_proj.weight',
         'attn_q.bias': 'self_attn.q_proj.bias', 'attn_k.bias': 'self_attn.k_proj.bias',
         'attn_v.bias': 'self_attn.v_proj.bias', 'attn_output.weight': 'self_attn.o_proj.weight',
         'attn_output.bias': 'self_attn.o_proj.bias', 'attn_q_norm.weight': 'self_attn.q_norm.weight',
         'attn_k_norm.weight': 'self_attn.k_norm.weight',
         'post_attention_norm.weight': 'post_attention_layernorm.weight',
         'ffn_norm.weight': 'pre_feedforward_layernorm.weight' if post_norms else 'post_attention_layernorm.weight',
         'ffn_norm.bias': 'post_attention_layernorm.bias',
         'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
         'ffn_gate.weight': 'mlp.gate_proj.weight',
         'ffn_up.weight': 'mlp.gate_up_proj.weight' if fused_up else 'mlp.up_proj.weight',
         'ffn_down.weight': 'mlp.down_proj.weight'}
    return 'model.layers.%s.%s' % (L, m[rest])


def llama3_factors(base, d, factor, lo, hi, orig):
    """HF's llama3 inv_freq rewrite, as divisors of the plain frequencies."""
    inv = base ** (-np.arange(0, d, 2) / d)
    wl = 2 * math.pi / inv
    lo_wl, hi_wl = orig / lo, orig / hi
    new = np.where(wl > lo_wl, inv / factor, inv)
    smooth = (orig / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * new / factor + smooth * new
    medium = ~(wl < hi_wl) & ~(wl > lo_wl)
    new = np.where(medium, smoothed, new)
    return inv / new


def hf_case_list():
    """(name, model_type, GGUF-convention arch, builder options, config.json extras, reference
    updates)."""
    C = []

    def add(name, mt, arch, cfg_json, upd=None, **o):
        C.append((name, mt, arch, o, cfg_json, upd or {}))

    add('hf-llama', 'llama', 'llama', {'tie_word_embeddings': False})
    add('hf-llama-tied', 'llama', 'llama', {'tie_word_embeddings': True}, tied=True)
    add('hf-llama-bias', 'llama', 'llama', {'attention_bias': True},
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias', 'attn_output.bias'))
    add('hf-llama3-rope', 'llama', 'llama',
        {'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                          'high_freq_factor': 4.0, 'original_max_position_embeddings': 64}},
        {'freq_factors': llama3_factors(10000.0, 8, 8.0, 1.0, 4.0, 64)})
    add('hf-llama-linear', 'llama', 'llama', {'rope_scaling': {'type': 'linear', 'factor': 4.0}},
        {'scaling': 'linear', 'factor': 4.0})
    add('hf-mistral-yarn', 'mistral', 'llama',
        {'sliding_window': None, 'rope_scaling': {'rope_type': 'yarn', 'factor': 4.0,
                                                  'original_max_position_embeddings': 16,
                                                  'attention_factor': 0.8}},
        {'scaling': 'yarn', 'factor': 4.0, 'orig_ctx': 16, 'hf_attention_factor': 0.8},
        rope_base=100.0)
    add('hf-mistral-window', 'mistral', 'llama', {'sliding_window': 3}, {'swa': 3, 'swa_all': True})
    add('hf-llama-window-ignored', 'llama', 'llama', {'sliding_window': 3})
    add('hf-mixtral', 'mixtral', 'llama', {'num_local_experts': 4, 'num_experts_per_tok': 2},
        n_expert=4, n_expert_used=2, expert_norm=True)
    add('hf-qwen2moe', 'qwen2_moe', 'qwen2moe',
        {'num_experts': 4, 'num_experts_per_tok': 2, 'moe_intermediate_size': 24,
         'shared_expert_intermediate_size': 40, 'norm_topk_prob': False},
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'), n_expert=4, n_expert_used=2,
        expert_ffn=24, shared_expert=True, shexp_ffn=40)
    add('hf-qwen3moe', 'qwen3_moe', 'qwen3moe',
        {'num_experts': 6, 'num_experts_per_tok': 3, 'moe_intermediate_size': 20,
         'norm_topk_prob': True}, qk_norm='head', n_expert=6, n_expert_used=3, expert_ffn=20,
        expert_norm=True)
    add('hf-qwen2', 'qwen2', 'qwen2', {'use_sliding_window': False, 'sliding_window': 4},
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'))
    add('hf-qwen3', 'qwen3', 'qwen3', {'head_dim': 16}, qk_norm='head', head_dim=16)
    add('hf-gemma2', 'gemma2', 'gemma2',
        {'query_pre_attn_scalar': 24, 'attn_logit_softcapping': 3.0, 'final_logit_softcapping': 5.0,
         'sliding_window': 3, 'hidden_activation': 'gelu_pytorch_tanh'},
        {'attn_scale': 24 ** -0.5, 'attn_softcap': 3.0, 'final_softcap': 5.0, 'swa': 3},
        post_norms=True, gelu=True, tied=True, n_layer=3, swa_pattern=2, embed_scale=math.sqrt(32))
    add('hf-gemma3', 'gemma3_text', 'gemma3',
        {'sliding_window': 4, 'rope_local_base_freq': 10000.0, 'rope_theta': 1000000.0,
         'rope_scaling': {'rope_type': 'linear', 'factor': 8.0}, 'query_pre_attn_scalar': 16,
         'head_dim': 16, 'final_logit_softcapping': None,
         'layer_types': ['sliding_attention'] * 5 + ['full_attention', 'sliding_attention']},
        {'swa': 4, 'scaling': 'linear', 'factor': 8.0, 'attn_scale': 0.25},
        post_norms=True, gelu=True, tied=True, qk_norm='head', n_layer=7, head_dim=16,
        rope_base=1000000.0, swa_pattern=6, rope_base_swa=10000.0, embed_scale=math.sqrt(32))
    add('hf-gemma2-defaults', 'gemma2', 'gemma2', {},
        {'attn_scale': 256 ** -0.5, 'attn_softcap': 50.0, 'final_softcap': 30.0},
        post_norms=True, gelu=True, tied=True, swa_pattern=2, embed_scale=math.sqrt(32))
    add('hf-stablelm-defaults', 'stablelm', 'stablelm', {}, {'rope_dim': 2}, layernorm=True)
    add('hf-phi3', 'phi3', 'phi3', {'partial_rotary_factor': 0.5}, {'rope_dim': 4},
        fused_qkv=True, fused_up=True)
    add('hf-granite', 'granite', 'granite',
        {'embedding_multiplier': 12.0, 'residual_multiplier': 0.22, 'attention_multiplier': 0.0078125,
         'logits_scaling': 8.0},
        {'embed_scale': 12.0, 'residual_scale': 0.22, 'attn_scale': 0.0078125, 'logit_scale': 8.0})
    add('hf-olmo2', 'olmo2', 'olmo2', {}, no_pre_norm=True, post_norms=True, qk_norm='full')
    add('hf-stablelm', 'stablelm', 'stablelm',
        {'partial_rotary_factor': 0.25, 'layer_norm_eps': 1e-5, 'use_parallel_residual': False,
         'use_qkv_bias': True}, {'rope_dim': 2}, layernorm=True,
        biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'))
    return C


HF_REFUSALS = [
    ('hf-dynamic-rope', 'llama', {'rope_scaling': {'type': 'dynamic', 'factor': 2.0}}, "'dynamic'"),
    ('hf-longrope', 'phi3', {'rope_scaling': {'type': 'longrope', 'short_factor': [1.0] * 4,
                                              'long_factor': [2.0] * 4}}, "'longrope'"),
    ('hf-gelu-llama', 'llama', {'hidden_act': 'gelu'}, "'hidden_act'"),
    ('hf-parallel-residual', 'stablelm', {'use_parallel_residual': True}, "'use_parallel_residual'"),
    ('hf-qwen3moe-unnormalised', 'qwen3_moe', {'num_experts': 4, 'num_experts_per_tok': 2},
     "'norm_topk_prob'"),
    ('hf-qwen2moe-dense-layers', 'qwen2_moe', {'num_experts': 4, 'num_experts_per_tok': 2,
                                               'mlp_only_layers': [1]}, "'mlp_only_layers'"),
    ('hf-qwen2-window', 'qwen2', {'use_sliding_window': True, 'sliding_window': 4}, "'sliding_window'"),
    ('hf-yarn-mscale', 'llama', {'rope_scaling': {'rope_type': 'yarn', 'factor': 4.0, 'mscale': 1.0}},
     "'mscale'"),
]


def hf_write(d, mt, arch, o, cfg_json, T, nv):
    os.makedirs(d, exist_ok=True)
    dim, nh, nkv = o.get('dim', 32), o.get('n_head', 4), o.get('n_head_kv', 2)
    c = {'model_type': mt, 'hidden_size': dim, 'num_hidden_layers': o.get('n_layer', 2),
         'num_attention_heads': nh, 'num_key_value_heads': nkv, 'intermediate_size': o.get('ffn', 48),
         'vocab_size': nv, 'max_position_embeddings': 64, 'rope_theta': o.get('rope_base', 10000.0),
         'head_dim': o.get('head_dim', dim // nh)}
    c['layer_norm_eps' if o.get('layernorm') else 'rms_norm_eps'] = 1e-5
    c.update(cfg_json)
    plus_one = arch in ('gemma2', 'gemma3')
    out = []
    for n, a in hf_expert_tensors(T, mt):
        if plus_one and n.endswith('norm.weight'):
            a = a - 1.0
        out.append((n if n.startswith('model.') else hf_name(n, bool(o.get('post_norms')), bool(o.get('fused_up'))), a))
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(c, f)
    with open(os.path.join(d, 'tokenizer.json'), 'w') as f:
        json.dump(hf_tokenizer(nv), f)
    write_safetensors(os.path.join(d, 'model.safetensors'), out)


def hf_checks(binary, tmp, rng, tol):
    rows = []
    for name, mt, arch, o, cfg_json, upd in hf_case_list():
        cfg, _, T = build(arch, rng, **o)
        cfg['adjacent'] = False  # HF checkpoints rotate half-split pairs
        cfg.update(upd)
        if 'hf_attention_factor' in upd:  # HF's attention_factor replaces 0.1 ln(s) + 1
            cfg['attn_factor'] = upd['hf_attention_factor'] / (1 + 0.1 * math.log(upd['factor']))
        d = os.path.join(tmp, name)
        hf_write(d, mt, arch, o, cfg_json, T, 40)
        got, msg = run_logits(binary, d, 10, 40)
        if got is None:
            rows.append((name, 'hf', 'FAIL', 'refused: ' + msg))
            continue
        toks, logits = got
        W = {n: a.astype(np.float32).astype(np.float64) for n, a in T}
        dd = float(np.max(np.abs(reference(cfg, W, toks) - logits)))
        rows.append((name, 'hf', 'ok' if dd <= tol else 'FAIL', 'max |dlogit| %.2e' % dd))
    for name, mt, cfg_json, must in HF_REFUSALS:
        arch = {'mixtral': 'llama', 'qwen3_moe': 'qwen3moe', 'qwen2_moe': 'qwen2moe'}.get(mt, mt)
        o = {'phi3': dict(fused_qkv=True, fused_up=True), 'stablelm': dict(layernorm=True),
             'qwen2': dict(biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias')),
             'qwen3moe': dict(qk_norm='head', n_expert=4, n_expert_used=2),
             'qwen2moe': dict(biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'), n_expert=4,
                              n_expert_used=2)}.get(arch, {})
        cfg, _, T = build(arch, rng, **o)
        d = os.path.join(tmp, name)
        hf_write(d, mt, arch, o, cfg_json, T, 40)
        got, msg = run_logits(binary, d, 10, 40)
        ok = got is None and must in msg and '\n' not in msg
        rows.append((name, 'hf', 'ok' if ok else 'FAIL', msg if got is None else 'loaded, must be refused'))
    return rows


# ---- the sweep: every architecture x metadata keys and block tensors ----

# The plain model of each row (its required tensors, no optional key).
SWEEP_BASE = {
    'llama': {}, 'qwen2': dict(biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias')),
    'qwen2moe': dict(biases=('attn_q.bias', 'attn_k.bias', 'attn_v.bias'), n_expert=4,
                     n_expert_used=2, shared_expert=True),
    'qwen3': dict(qk_norm='head'),
    'qwen3moe': dict(qk_norm='head', n_expert=4, n_expert_used=2, expert_norm=True),
    'gemma2': dict(post_norms=True, gelu=True, tied=True, attn_softcap=50.0, final_softcap=30.0,
                   embed_scale=math.sqrt(32), swa_pattern=2),
    'gemma3': dict(post_norms=True, gelu=True, tied=True, qk_norm='head', n_layer=7,
                   embed_scale=math.sqrt(32), swa_pattern=6, rope_base_swa=10000.0),
    'phi3': dict(fused_qkv=True, fused_up=True), 'granite': {},
    'olmo2': dict(no_pre_norm=True, post_norms=True, qk_norm='full'),
    'stablelm': dict(layernorm=True),
}
MOE_KV = {'expert_count': 4, 'expert_used_count': 2}

# (label, extra ARCH.* keys, reference update). A key a row does not honour must be refused
# with the key named; one it accepts must give the reference with the update applied.
SWEEP_KEYS = [
    ('freq_base', {'rope.freq_base': 500.0}, {'rope_base': 500.0}),
    ('linear', {'rope.scaling.type': 'linear', 'rope.scaling.factor': 2.0},
     {'scaling': 'linear', 'factor': 2.0}),
    ('factor-only', {'rope.scaling.factor': 3.0}, {'scaling': 'linear', 'factor': 3.0}),
    ('scale_linear', {'rope.scale_linear': 2.0}, {'scaling': 'linear', 'factor': 2.0}),
    ('yarn', {'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0,
              'rope.scaling.original_context_length': 8}, {'scaling': 'yarn', 'factor': 4.0, 'orig_ctx': 8}),
    ('yarn-ext', {'rope.scaling.type': 'yarn', 'rope.scaling.factor': 4.0,
                  'rope.scaling.original_context_length': 8, 'rope.scaling.yarn_ext_factor': 0.5,
                  'rope.scaling.yarn_attn_factor': 0.8, 'rope.scaling.yarn_beta_fast': 4.0,
                  'rope.scaling.yarn_beta_slow': 2.0},
     {'scaling': 'yarn', 'factor': 4.0, 'orig_ctx': 8, 'ext_factor': 0.5, 'attn_factor': 0.8,
      'beta_fast': 4.0, 'beta_slow': 2.0}),
    ('partial-rotary', {'rope.dimension_count': 4}, {'rope_dim': 4}),
    ('window-3', {'attention.sliding_window': 3}, {'swa': 3}),
    ('window-ctx', {'attention.sliding_window': 64}, {}),
    ('window-pattern-2', {'attention.sliding_window_pattern': 2}, {}),
    ('window-pattern-6', {'attention.sliding_window_pattern': 6}, {}),
    ('attn-softcap', {'attn_logit_softcapping': 4.0}, {'attn_softcap': 4.0}),
    ('final-softcap', {'final_logit_softcapping': 6.0}, {'final_softcap': 6.0}),
    ('embedding-scale', {'embedding_scale': 3.0}, {'embed_scale': 3.0}),
    ('residual-scale', {'residual_scale': 0.5}, {'residual_scale': 0.5}),
    ('logit-scale', {'logit_scale': 4.0}, {'logit_scale': 4.0}),
    ('attention-scale', {'attention.scale': 0.1}, {'attn_scale': 0.1}),
    ('expert-weights-scale', {'expert_weights_scale': 2.0}, None),
    ('rope-attn-factor', {'rope.scaling.attn_factor': 0.8}, None),
    ('rope-attn-factor-1', {'rope.scaling.attn_factor': 1.0}, {}),
    ('expert-count-dense', {'expert_count': 4, 'expert_used_count': 2}, None),
    ('layer-norm-eps', {'attention.layer_norm_epsilon': 1e-5}, {}),
    ('freq-base-swa', {'rope.freq_base_swa': 1000.0}, None),
    ('unknown', {'frobnicate': 1}, None),
    ('no-effect', {'vocab_size': 40, 'rope.scaling.finetuned': True, 'context_length': 64}, {}),
    ('rope-type-su', {'rope.scaling.type': 'su'}, None),
    ('gating-softmax', {'expert_gating_func': 1}, {}),
    ('per-layer-ffn-array', {'feed_forward_length': [48, 48]}, None),
]

# Block tensors the sweep adds to layer 0: (name, shape(dim, qd, kvd, hd, ffn)).
SWEEP_TENSORS = [
    ('attn_q.bias', lambda d, q, kv, hd, f: (q,)), ('attn_k.bias', lambda d, q, kv, hd, f: (kv,)),
    ('attn_v.bias', lambda d, q, kv, hd, f: (kv,)), ('attn_output.bias', lambda d, q, kv, hd, f: (d,)),
    ('attn_qkv.bias', lambda d, q, kv, hd, f: (q + 2 * kv,)),
    ('attn_q_norm.weight', lambda d, q, kv, hd, f: (hd,)),
    ('post_attention_norm.weight', lambda d, q, kv, hd, f: (d,)),
    ('post_ffw_norm.weight', lambda d, q, kv, hd, f: (d,)),
    ('attn_norm.bias', lambda d, q, kv, hd, f: (d,)),
    ('ffn_gate_inp.weight', lambda d, q, kv, hd, f: (4, d)),
    ('ffn_gate.weight', lambda d, q, kv, hd, f: (f, d)),
    ('attn_qkv.weight', lambda d, q, kv, hd, f: (q + 2 * kv, d)),
    ('attn_rot_embd', lambda d, q, kv, hd, f: (hd,)),
    ('ffn_gate_inp_shexp.weight', lambda d, q, kv, hd, f: (d,)),
    ('layer_output_scale.weight', lambda d, q, kv, hd, f: (1,)),
]
# Which added tensors the reference can run (the rest must be refused by name).
REFERENCE_TENSORS = {'attn_q.bias', 'attn_k.bias', 'attn_v.bias', 'attn_output.bias'}


def sweep(binary, tmp, rng, tol):
    rows = []
    for arch, base in SWEEP_BASE.items():
        for label, keys, upd in SWEEP_KEYS:
            o = dict(base)
            kv_extra = dict(MOE_KV) if base.get('n_expert') else {}
            kv_extra.update(keys)
            if o.get('n_expert') and label == 'expert-count-dense':
                continue
            cfg, kv, T = build(arch, rng, **o)
            for k, v in kv_extra.items():
                kv[arch + '.' + k] = v
            path = os.path.join(tmp, 'sweep-%s-%s.gguf' % (arch, label))
            write_gguf(path, kv, T)
            got, msg = run_logits(binary, path, 10, 40)
            named = [arch + '.' + k for k in keys]
            if got is None:
                ok = any(n in msg for n in named) and '\n' not in msg
                rows.append(('%s+%s' % (arch, label), 'sweep', 'ok' if ok else 'FAIL',
                             'refused: ' + msg.split(': ', 1)[-1]))
                continue
            if upd is None:
                rows.append(('%s+%s' % (arch, label), 'sweep', 'FAIL', 'loaded, must be refused'))
                continue
            if label == 'window-3' and not base.get('swa_pattern'):
                rows.append(('%s+%s' % (arch, label), 'sweep', 'FAIL', 'loaded a short window'))
                continue
            cfg.update(upd)
            if 'rope_dim' in upd:
                cfg['rope_dim'] = upd['rope_dim']
            toks, logits = got
            d = float(np.max(np.abs(reference(cfg, reference_weights(arch, T, False), toks) - logits)))
            rows.append(('%s+%s' % (arch, label), 'sweep', 'ok' if d <= tol else 'FAIL',
                         'loaded, max |dlogit| %.2e' % d))
        for tname, shape in SWEEP_TENSORS:
            o = dict(base)
            cfg, kv, T = build(arch, rng, **o)
            if base.get('n_expert'):
                for k, v in MOE_KV.items():
                    kv[arch + '.' + k] = v
            name = 'blk.0.' + tname
            if any(n == name for n, _ in T):
                continue
            dim, nh, nkv = 32, 4, 2
            hd = dim // nh
            T.append((name, rng.normal(0, 0.3, shape(dim, nh * hd, nkv * hd, hd, 48))))
            path = os.path.join(tmp, 'sweep-%s-%s.gguf' % (arch, tname))
            write_gguf(path, kv, T)
            got, msg = run_logits(binary, path, 10, 40)
            label = '%s+%s' % (arch, tname)
            if got is None:
                ok = ("'%s'" % name) in msg or "tensor 'blk.0." in msg
                rows.append((label, 'sweep', 'ok' if ok else 'FAIL', 'refused: ' + msg.split(': ', 1)[-1]))
            elif tname not in REFERENCE_TENSORS:
                rows.append((label, 'sweep', 'FAIL', 'loaded a tensor the reference does not run'))
            else:
                toks, logits = got
                d = float(np.max(np.abs(reference(cfg, reference_weights(arch, T, False), toks) - logits)))
                rows.append((label, 'sweep', 'ok' if d <= tol else 'FAIL', 'loaded, max |dlogit| %.2e' % d))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--bin', default=os.environ.get('DT_BIN', os.path.join(here, '..', 'build', 'cli', 'distiltrace')))
    ap.add_argument('--keep', help='write the files here and keep them')
    ap.add_argument('--tol', type=float, default=1e-3)
    ap.add_argument('-v', action='store_true', help='print every check, not only failures')
    a = ap.parse_args()
    rng = np.random.default_rng(20261204)
    tmp = a.keep or tempfile.mkdtemp(prefix='dt-conformance-')
    os.makedirs(tmp, exist_ok=True)
    n_tok, fails, rows = 10, 0, []
    for name, arch, o, extra in case_list():
        cfg, kv, T = make_case(name, arch, o, extra, rng)
        nv = o.get('n_vocab', 40)
        for f16, uncached in ((False, False), (True, False), (True, True)):
            label = ('f16' if f16 else 'f32') + ('-nc' if uncached else '')
            path = os.path.join(tmp, '%s%s.gguf' % (name, '-f16' if f16 else ''))
            if not uncached:
                write_gguf(path, kv, T, f16=f16)
            got, msg = run_logits(a.bin, path, n_tok, nv, uncached)
            if got is None:
                rows.append((name, label, 'FAIL', 'refused: ' + msg))
                fails += 1
                continue
            toks, logits = got
            ref = reference(cfg, reference_weights(arch, T, f16), toks)
            d = float(np.nanmax(np.abs(ref - logits))) if not np.isnan(logits).any() else float('inf')
            ok = d <= a.tol
            # The session (KV cache) path: greedy ids and every step's log-probabilities.
            g, gmsg = run_generate(a.bin, path, n_tok, 6, nv, uncached)
            if g is None:
                ok, gd = False, gmsg
            else:
                pids, gids, glp = g
                seq = list(pids) + list(gids)
                rl = log_softmax(reference(cfg, reference_weights(arch, T, f16), np.array(seq[:-1])))
                rl = rl[len(pids) - 1:]
                gerr = float(np.max(np.abs(rl - glp))) if not np.isnan(glp).any() else float('inf')
                same = all(int(np.argmax(rl[i])) == gids[i] for i in range(len(gids)))
                ok = ok and gerr <= a.tol and same
                gd = 'generate max |dlogprob| %.2e%s' % (gerr, '' if same else ', greedy ids differ')
            fails += not ok
            rows.append((name, label, 'ok' if ok else 'FAIL',
                         'max |dlogit| %.2e; %s' % (d, gd)))
    for name, arch, o, extra, tensors, must in refusal_list():
        if arch == 'deepseek2':
            cfg, kv, T = build('llama', rng)
            kv = {k.replace('llama.', 'deepseek2.'): v for k, v in kv.items()}
            kv['general.architecture'] = 'deepseek2'
        else:
            cfg, kv, T = build(arch, rng, **o)
        for k, v in extra.items():
            kv[arch + '.' + k] = v
        for tn, shape in tensors:
            T.append((tn, rng.normal(0, 1, shape)))
        path = os.path.join(tmp, 'refuse-%s.gguf' % name)
        write_gguf(path, kv, T)
        got, msg = run_logits(a.bin, path, n_tok, o.get('n_vocab', 40))
        ok = got is None and must in msg and '\n' not in msg
        fails += not ok
        rows.append((name, 'refuse', 'ok' if ok else 'FAIL', msg if got is None else 'loaded'))
    rows += sweep(a.bin, tmp, rng, a.tol)
    rows += hf_checks(a.bin, tmp, rng, a.tol)
    fails += sum(r[2] != 'ok' for r in rows if r[1] in ('sweep', 'hf'))
    w = max(len(r[0]) for r in rows)
    for r in rows:
        if a.v or r[2] != 'ok':
            print('%-*s  %-6s  %-4s  %s' % (w, r[0], r[1], r[2], r[3]))
    n_ok = sum(r[2] == 'ok' for r in rows)
    print('%d of %d checks passed' % (n_ok, len(rows)))
    if not a.keep:
        shutil.rmtree(tmp)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())

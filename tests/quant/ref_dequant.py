#!/usr/bin/python3
"""Independent reference dequantizer for the ggml block formats, written from the format
description (ggml-common.h's block layouts) with numpy in float32, vectorized over whole rows
so that it shares no code shape with infer/ggml_types.c. For every type it builds random
blocks (random codes and scales, plus blocks whose f16 scales are NaN, inf, subnormal or 0),
runs the dequant_dump helper on them and requires bit-identical floats (NaN compared as NaN).

usage: ref_dequant.py DEQUANT_DUMP [SEED]       (needs numpy: Debian's /usr/bin/python3)
"""
import subprocess
import sys

import numpy as np

F = np.float32
KV = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], F)


def f16(b, off):
    """f16 field at byte offset off of every block (b: (nb, bytes) uint8) as float32."""
    return b[:, off:off + 2].copy().view('<f2').astype(F)[:, 0]


def nib(q):
    """(nb, k) bytes -> (nb, 2k) codes: low nibbles then high nibbles."""
    return np.concatenate([q & 15, q >> 4], axis=1).astype(np.int32)


def bits_le(b):
    """(nb, k) bytes -> (nb, 8k) bits, bit j of the little-endian integer at position j."""
    return np.unpackbits(b, axis=1, bitorder='little').astype(np.int32)


def q4_0(b):
    return (nib(b[:, 2:18]) - 8).astype(F) * f16(b, 0)[:, None]


def q4_1(b):
    return nib(b[:, 4:20]).astype(F) * f16(b, 0)[:, None] + f16(b, 2)[:, None]


def q5_0(b):
    q = nib(b[:, 6:22]) | (bits_le(b[:, 2:6]) << 4)
    return (q - 16).astype(F) * f16(b, 0)[:, None]


def q5_1(b):
    q = nib(b[:, 8:24]) | (bits_le(b[:, 4:8]) << 4)
    return q.astype(F) * f16(b, 0)[:, None] + f16(b, 2)[:, None]


def q8_0(b):
    return b[:, 2:34].view(np.int8).astype(F) * f16(b, 0)[:, None]


def q8_1(b):
    return b[:, 4:36].view(np.int8).astype(F) * f16(b, 0)[:, None]


def iq4_nl(b):
    return f16(b, 0)[:, None] * KV[nib(b[:, 2:18])]


def crumbs(q):
    """Q2_K/Q3_K code bytes (nb, 64) -> (nb, 256) 2-bit codes: per 128-element half, 4 passes
    (shift 0, 2, 4, 6) over its 32 bytes."""
    nb = q.shape[0]
    h = q.reshape(nb, 2, 1, 32).astype(np.int32)
    sh = np.array([0, 2, 4, 6]).reshape(1, 1, 4, 1)
    return ((h >> sh) & 3).reshape(nb, 256)


def q2_k(b):
    sc = b[:, 0:16].astype(np.int32)
    d, dmin = f16(b, 80), f16(b, 82)
    dl = (d[:, None] * (sc & 15).astype(F))
    ml = (dmin[:, None] * (sc >> 4).astype(F))
    q = crumbs(b[:, 16:80]).astype(F)
    return np.repeat(dl, 16, axis=1) * q - np.repeat(ml, 16, axis=1)


def q3_k(b):
    nb = b.shape[0]
    s = b[:, 96:108].astype(np.int32)
    lo = np.concatenate([s[:, 0:8] & 15, s[:, 0:8] >> 4], axis=1)        # scales 0..15
    hi = np.stack([(s[:, 8 + (j % 4)] >> (2 * (j // 4))) & 3 for j in range(16)], axis=1)
    sc = (lo | (hi << 4)) - 32
    # high bit: element e of half h, pass p, byte l uses bit (4h + p) of hmask[l]
    hm = b[:, 0:32].astype(np.int32)
    bit = np.arange(8).reshape(1, 2, 4, 1)
    hb = (hm.reshape(nb, 1, 1, 32) >> bit) & 1
    q = crumbs(b[:, 32:96]) - 4 * (1 - hb.reshape(nb, 256))
    dl = f16(b, 108)[:, None] * sc.astype(F)
    return np.repeat(dl, 16, axis=1) * q.astype(F)


def k4_scales(s):
    """8 six-bit (scale, min) pairs from the 12 bytes of Q4_K/Q5_K."""
    s = s.astype(np.int32)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def q4_k(b):
    sc, mn = k4_scales(b[:, 4:16])
    nb = b.shape[0]
    qs = b[:, 16:144].reshape(nb, 4, 32).astype(np.int32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(nb, 256)  # sub-block order 2i: lo, 2i+1: hi
    d1 = f16(b, 0)[:, None] * sc.astype(F)
    m1 = f16(b, 2)[:, None] * mn.astype(F)
    return np.repeat(d1, 32, axis=1) * q.astype(F) - np.repeat(m1, 32, axis=1)


def q5_k(b):
    sc, mn = k4_scales(b[:, 4:16])
    nb = b.shape[0]
    qs = b[:, 48:176].reshape(nb, 4, 32).astype(np.int32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(nb, 8, 32)
    qh = b[:, 16:48].astype(np.int32)
    hb = (qh.reshape(nb, 1, 32) >> np.arange(8).reshape(1, 8, 1)) & 1
    q = (q + 16 * hb).reshape(nb, 256)
    d1 = f16(b, 0)[:, None] * sc.astype(F)
    m1 = f16(b, 2)[:, None] * mn.astype(F)
    return np.repeat(d1, 32, axis=1) * q.astype(F) - np.repeat(m1, 32, axis=1)


def q6_k(b):
    nb = b.shape[0]
    ql = b[:, 0:128].reshape(nb, 2, 2, 32).astype(np.int32)     # half, which 32 bytes, l
    qh = b[:, 128:192].reshape(nb, 2, 1, 32).astype(np.int32)   # half, -, l
    lo = np.stack([ql[:, :, 0] & 15, ql[:, :, 1] & 15, ql[:, :, 0] >> 4, ql[:, :, 1] >> 4], axis=2)
    hi = (qh >> (2 * np.arange(4).reshape(1, 1, 4, 1))) & 3
    q = ((lo | (hi << 4)) - 32).reshape(nb, 256)
    sc = b[:, 192:208].view(np.int8).astype(F)                   # one per 16 elements, in order
    ds = f16(b, 208)[:, None] * sc
    return np.repeat(ds, 16, axis=1) * q.astype(F)


def iq4_xs(b):
    nb = b.shape[0]
    sh = b[:, 2:4].copy().view('<u2').astype(np.int32)            # (nb, 1)
    sl = b[:, 4:8].astype(np.int32)
    low = np.stack([sl & 15, sl >> 4], axis=2).reshape(nb, 8)
    ls = low | (((sh >> (2 * np.arange(8))) & 3) << 4)
    dl = f16(b, 0)[:, None] * (ls - 32).astype(F)
    codes = np.concatenate([b[:, 8:136].reshape(nb, 8, 16) & 15,
                            b[:, 8:136].reshape(nb, 8, 16) >> 4], axis=2).reshape(nb, 256)
    return np.repeat(dl, 32, axis=1) * KV[codes.astype(np.int32)]


def q8_k(b):
    d = b[:, 0:4].copy().view('<f4')[:, 0]
    return d[:, None] * b[:, 4:260].view(np.int8).astype(F)


# id: (name, elements per block, bytes per block, reference, byte offsets of f16 scales)
TYPES = {
    2: ('q4_0', 32, 18, q4_0, [0]),
    3: ('q4_1', 32, 20, q4_1, [0, 2]),
    6: ('q5_0', 32, 22, q5_0, [0]),
    7: ('q5_1', 32, 24, q5_1, [0, 2]),
    8: ('q8_0', 32, 34, q8_0, [0]),
    9: ('q8_1', 32, 36, q8_1, [0, 2]),
    10: ('q2_K', 256, 84, q2_k, [80, 82]),
    11: ('q3_K', 256, 110, q3_k, [108]),
    12: ('q4_K', 256, 144, q4_k, [0, 2]),
    13: ('q5_K', 256, 176, q5_k, [0, 2]),
    14: ('q6_K', 256, 210, q6_k, [208]),
    15: ('q8_K', 256, 292, q8_k, []),
    20: ('iq4_nl', 32, 18, iq4_nl, [0]),
    23: ('iq4_xs', 256, 136, iq4_xs, [0]),
}

SPECIAL_F16 = [0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000, 0x0000, 0x03ff, 0x7bff]


def make_blocks(rng, blck, nbytes, scale_offs, nb):
    b = rng.integers(0, 256, size=(nb, nbytes), dtype=np.uint8)
    for off in scale_offs:
        # mostly ordinary scales, as quantizers write them
        v = (rng.standard_normal(nb) * 0.02).astype('<f2').view(np.uint16)
        # every 7th block: a special value (inf, NaN, subnormal, zero, largest)
        sp = np.array(SPECIAL_F16, np.uint16)[rng.integers(0, len(SPECIAL_F16), nb)]
        v = np.where(np.arange(nb) % 7 == 3, sp, v)
        b[:, off] = (v & 255).astype(np.uint8)
        b[:, off + 1] = (v >> 8).astype(np.uint8)
    if nbytes == 292:  # q8_K: an f32 scale
        d = (rng.standard_normal(nb) * 0.01).astype('<f4').view(np.uint8).reshape(nb, 4)
        b[:, 0:4] = d
    return b


def main():
    dump = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = np.random.default_rng(seed)
    failed = 0
    print('1..%d' % len(TYPES))
    for k, (tid, (name, blck, nbytes, ref, offs)) in enumerate(sorted(TYPES.items()), 1):
        nb = 64
        b = make_blocks(rng, blck, nbytes, offs, nb)
        with np.errstate(all='ignore'):
            want = ref(b).astype(F).reshape(-1)
        p = subprocess.run([dump, str(tid), str(nb * blck)], input=b.tobytes(),
                           capture_output=True)
        got = np.frombuffer(p.stdout, '<f4') if p.returncode == 0 else np.zeros(0, F)
        if got.size != want.size:
            print('not ok %d - %s: helper failed: %s' % (k, name, p.stderr.decode().strip()))
            failed += 1
            continue
        nan_ok = np.isnan(got) == np.isnan(want)
        bits_ok = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
        bad = np.flatnonzero(~(nan_ok & bits_ok))
        if bad.size:
            i = bad[0]
            print('not ok %d - %s: %d of %d values differ, first at %d (block %d): %r vs ref %r'
                  % (k, name, bad.size, got.size, i, i // blck, got[i], want[i]))
            failed += 1
        else:
            print('ok %d - %s: %d blocks bit-identical to the reference (%d with special scales)'
                  % (k, name, nb, (nb + 3) // 7))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

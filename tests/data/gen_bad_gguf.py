#!/usr/bin/env python3
"""Generates the hand-made broken GGUF files in tests/data/bad/ (and small valid seeds for
the GGUF fuzzer in tests/fuzz/corpus/gguf/).

Each broken file exercises one check of infer/gguf.c; `distiltrace inspect FILE` must reject
every one with exit status 3 and a one-line message (tests/integration/test_bad_models.py).
The outputs are committed; rerun this script after changing it:
    python3 tests/data/gen_bad_gguf.py
Python 3 standard library only.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, 'bad')
SEEDS = os.path.join(HERE, '..', 'fuzz', 'corpus', 'gguf')

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
F32, F16, Q4_0, Q8_0, Q4_K = 0, 1, 2, 8, 12


def u32(v):
    return struct.pack('<I', v)


def u64(v):
    return struct.pack('<Q', v)


def gstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u64(len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def kv_u32(key, v):
    return kv(key, UINT32, u32(v))


def kv_str(key, v):
    return kv(key, STRING, gstr(v))


def arr(elem_type, items_bytes, n):
    return u32(elem_type) + u64(n) + items_bytes


def tinfo(name, ne, ttype, offset):
    return gstr(name) + u32(len(ne)) + b''.join(u64(x) for x in ne) + u32(ttype) + u64(offset)


def gguf(kvs, tinfos, data=b'', version=3, n_kv=None, n_tensors=None, align=32, pad=True):
    head = b'GGUF' + u32(version) + u64(len(tinfos) if n_tensors is None else n_tensors) + \
        u64(len(kvs) if n_kv is None else n_kv)
    body = head + b''.join(kvs) + b''.join(tinfos)
    if pad:
        body += b'\0' * ((-len(body)) % align)
    return body + data


def f32_data(n):
    return b''.join(struct.pack('<f', (i % 7) / 7.0) for i in range(n))


def q8_0_block(scale_half=0x2c00):
    return struct.pack('<H', scale_half) + bytes((i * 5) % 256 for i in range(32))


# A small valid model: metadata of each common kind, an f32 vector and a q8_0 matrix.
BASE_KVS = [
    kv_str('general.architecture', 'llama'),
    kv_str('general.name', 'tiny'),
    kv_u32('llama.block_count', 1),
    kv('llama.rope.freq_base', FLOAT32, struct.pack('<f', 10000.0)),
    kv('tokenizer.ggml.tokens', ARRAY, arr(STRING, gstr('a') + gstr('b') + gstr('<s>'), 3)),
]
BASE_TINFOS = [tinfo('norm.weight', [32], F32, 0), tinfo('blk.0.attn_q.weight', [32, 2], Q8_0, 128)]
BASE_DATA = f32_data(32) + q8_0_block() + q8_0_block(0x3000) + b'\0' * 28


def base():
    return gguf(BASE_KVS, BASE_TINFOS, BASE_DATA)


def cases():
    c = {}
    valid = base()
    c['bad_magic'] = b'GGUX' + valid[4:]
    c['empty'] = b''
    c['three_bytes'] = b'GGU'
    c['text_file'] = b'this is not a model\n'
    c['version_0'] = valid[:4] + u32(0) + valid[8:]
    c['version_99'] = valid[:4] + u32(99) + valid[8:]
    # Truncations at many cut points: inside the header, keys, values, tensor infos, data.
    tensor_end = len(valid) - 28
    cuts = sorted(set([5, 8, 12, 16, 20, 23, 24, 30, 40, 52, 60, 80, 100, 130, 160, 200, 240,
                       280, 320, tensor_end - 200, tensor_end - 40, tensor_end - 1]))
    for cut in cuts:
        if 4 <= cut < tensor_end:
            c['truncated_at_%d' % cut] = valid[:cut]
    # Lengths and counts far beyond the file.
    c['huge_key_length'] = gguf([gstr(b'k')[:0] + u64(1 << 62) + b'abc'], [])
    c['huge_string_value'] = gguf([kv('general.name', STRING, u64(0xFFFFFFFFFFFFFFF0) + b'x')], [])
    c['huge_array_u32'] = gguf([kv('a', ARRAY, u32(UINT32) + u64(1 << 62) + u32(1))], [])
    c['huge_array_strings'] = gguf([kv('tokenizer.ggml.tokens', ARRAY, u32(STRING) + u64(1 << 61) + gstr('x'))], [])
    c['huge_array_length_overflow'] = gguf([kv('a', ARRAY, u32(UINT64) + u64(0x2000000000000001) + u64(0))], [])
    c['huge_n_kv'] = gguf(BASE_KVS, BASE_TINFOS, BASE_DATA, n_kv=0xFFFFFFFFFFFFFFFF)
    c['huge_n_tensors'] = gguf(BASE_KVS, BASE_TINFOS, BASE_DATA, n_tensors=1 << 60)
    c['n_kv_one_too_many'] = gguf(BASE_KVS, BASE_TINFOS, BASE_DATA, n_kv=len(BASE_KVS) + 1)
    # Tensor data placement.
    c['tensor_data_past_end'] = gguf(BASE_KVS, [tinfo('norm.weight', [32], F32, 0),
                                                tinfo('blk.0.attn_q.weight', [32, 2], Q8_0, 1 << 20)], BASE_DATA)
    c['tensor_offset_overflow'] = gguf(BASE_KVS, [tinfo('x', [32], F32, 0xFFFFFFFFFFFFFFE0)], BASE_DATA)
    c['overlapping_tensors'] = gguf(BASE_KVS, [tinfo('a', [32], F32, 0), tinfo('b', [32], F32, 96)], BASE_DATA)
    c['same_offset_tensors'] = gguf(BASE_KVS, [tinfo('a', [32], F32, 0), tinfo('b', [32], F32, 0)], BASE_DATA)
    c['misaligned_offset'] = gguf(BASE_KVS, [tinfo('a', [32], F32, 4)], BASE_DATA)
    c['no_data_section'] = gguf(BASE_KVS, BASE_TINFOS, b'', pad=False)
    # Shapes.
    c['shape_overflow_int64'] = gguf([], [tinfo('a', [1 << 32, 1 << 32], F32, 0)], BASE_DATA)
    c['shape_overflow_4d'] = gguf([], [tinfo('a', [1 << 20, 1 << 20, 1 << 20, 1 << 20], F16, 0)], BASE_DATA)
    c['shape_overflow_bytes'] = gguf([], [tinfo('a', [1 << 62], F32, 0)], BASE_DATA)
    c['negative_dim'] = gguf([], [tinfo('a', [32, (1 << 63) + 5], F32, 0)], BASE_DATA)
    c['zero_dim'] = gguf([], [tinfo('a', [32, 0], F32, 0)], BASE_DATA)
    c['n_dims_0'] = gguf([], [gstr('a') + u32(0) + u32(F32) + u64(0)], BASE_DATA)
    c['n_dims_5'] = gguf([], [tinfo('a', [1, 1, 1, 1, 32], F32, 0)], BASE_DATA)
    c['n_dims_huge'] = gguf([], [gstr('a') + u32(0xFFFFFFFF) + u64(32) + u32(F32) + u64(0)], BASE_DATA)
    c['row_not_whole_blocks'] = gguf([], [tinfo('a', [33, 2], Q8_0, 0)], BASE_DATA)
    # Duplicates.
    c['duplicate_key'] = gguf(BASE_KVS + [kv_u32('llama.block_count', 2)], BASE_TINFOS, BASE_DATA)
    c['duplicate_tensor'] = gguf(BASE_KVS, [tinfo('a', [32], F32, 0), tinfo('a', [32], F32, 128)], BASE_DATA)
    # Types.
    c['unknown_value_type'] = gguf([kv('a', 13, u32(0))], [])
    c['unknown_value_type_huge'] = gguf([kv('a', 0xFFFFFFFF, u32(0))], [])
    c['unknown_array_elem_type'] = gguf([kv('a', ARRAY, u32(42) + u64(1) + u32(0))], [])
    c['unknown_tensor_type'] = gguf(BASE_KVS, [tinfo('blk.0.attn_q.weight', [32], 99, 0)], BASE_DATA)
    c['removed_tensor_type'] = gguf(BASE_KVS, [tinfo('blk.0.attn_q.weight', [32], 4, 0)], BASE_DATA)
    c['alignment_string'] = gguf([kv_str('general.alignment', '32')], [])
    c['alignment_zero'] = gguf([kv_u32('general.alignment', 0)], [])
    c['alignment_not_pow2'] = gguf([kv_u32('general.alignment', 48)], [])
    c['alignment_u64'] = gguf([kv('general.alignment', UINT64, u64(32))], [])
    c['alignment_huge_pow2'] = gguf([kv_u32('general.alignment', 1 << 31)], [tinfo('a', [32], F32, 0)], BASE_DATA)
    c['architecture_not_string'] = gguf([kv_u32('general.architecture', 7)], [])
    c['tokens_not_strings'] = gguf([kv('tokenizer.ggml.tokens', ARRAY, arr(UINT32, u32(1), 1))], [])
    c['tokens_not_array'] = gguf([kv_str('tokenizer.ggml.tokens', 'abc')], [])
    # Names.
    c['empty_key'] = gguf([kv('', UINT32, u32(1))], [])
    c['non_utf8_key'] = gguf([kv(b'general.\xff\xfe', UINT32, u32(1))], [])
    c['overlong_utf8_key'] = gguf([kv(b'\xc0\xaf', UINT32, u32(1))], [])
    c['surrogate_utf8_key'] = gguf([kv(b'k\xed\xa0\x80', UINT32, u32(1))], [])
    c['nul_in_key'] = gguf([kv(b'general\0name', UINT32, u32(1))], [])
    c['newline_in_tensor_name'] = gguf([], [tinfo(b'blk.0\n\tattn', [32], F32, 0)], BASE_DATA)
    c['control_char_in_key'] = gguf([kv(b'general.\x1bname', UINT32, u32(1))], [])
    c['non_utf8_tensor_name'] = gguf([], [tinfo(b'blk.0.\x80', [32], F32, 0)], BASE_DATA)
    c['empty_tensor_name'] = gguf([], [tinfo(b'', [32], F32, 0)], BASE_DATA)
    # Nested array bombs.
    deep = u32(UINT8) + u64(0)
    for _ in range(64):
        deep = u32(ARRAY) + u64(1) + deep
    c['nested_array_too_deep'] = gguf([kv('a', ARRAY, deep)], [])
    c['nested_array_huge_outer'] = gguf([kv('a', ARRAY, u32(ARRAY) + u64(1 << 50) + u32(UINT8) + u64(0))], [])
    c['nested_array_huge_inner'] = gguf([kv('a', ARRAY, u32(ARRAY) + u64(2) + u32(UINT8) + u64(1) + b'x'
                                            + u32(UINT64) + u64(1 << 60))], [])
    c['nested_array_of_strings_huge'] = gguf([kv('a', ARRAY, u32(ARRAY) + u64(1) + u32(STRING) + u64(1) + u64(1 << 40))], [])
    return c


def seeds():
    s = {}
    s['valid_base'] = base()
    s['valid_vocab_only'] = gguf(BASE_KVS[:1] + [
        kv('tokenizer.ggml.model', STRING, gstr('gpt2')),
        kv('tokenizer.ggml.tokens', ARRAY, arr(STRING, b''.join(gstr(t) for t in ['a', 'b', 'ab', ' ']), 4)),
        kv('tokenizer.ggml.merges', ARRAY, arr(STRING, gstr('a b'), 1)),
        kv('tokenizer.ggml.scores', ARRAY, arr(FLOAT32, struct.pack('<4f', 0, -1, -2, -3), 4)),
        kv('tokenizer.ggml.token_type', ARRAY, arr(INT32, struct.pack('<4i', 1, 1, 1, 3), 4)),
    ], [])
    # every scalar type, a nested array, and one tensor of each supported type
    scalars = [kv('u8', UINT8, b'\x07'), kv('i8', INT8, b'\xf9'), kv('u16', UINT16, b'\x01\x02'),
               kv('i16', INT16, b'\xff\xff'), kv('i32', INT32, u32(0xFFFFFFFE)), kv('b', BOOL, b'\x01'),
               kv('u64', UINT64, u64(1 << 40)), kv('i64', INT64, u64(5)), kv('f64', FLOAT64, struct.pack('<d', 0.25)),
               kv('nest', ARRAY, u32(ARRAY) + u64(2) + arr(UINT8, b'\x01\x02', 2) + arr(STRING, gstr('x'), 1)),
               kv_u32('general.alignment', 64)]
    q4k = struct.pack('<HH', 0x3c00, 0x3800) + bytes(range(12)) + bytes((i * 37) % 256 for i in range(128))
    q40 = struct.pack('<H', 0x3c00) + bytes(range(16))
    data = f32_data(32) + b'\0' * 64   # f32 [32] at 0 (128 bytes, padded to 192? no: 128 -> 128)
    ti = [tinfo('f32', [32], F32, 0), tinfo('f16', [32], F16, 128), tinfo('bf16', [32], 30, 192),
          tinfo('q8', [32], Q8_0, 256), tinfo('q4', [32], Q4_0, 320), tinfo('q4k', [256], Q4_K, 384)]
    data = f32_data(32) + bytes(range(64)) + bytes(range(64, 128)) + q8_0_block() + b'\0' * 30 + \
        q40 + b'\0' * 46 + q4k
    s['valid_all_types'] = gguf(scalars, ti, data, align=64)
    return s


def main():
    os.makedirs(BAD, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    for name, blob in sorted(cases().items()):
        with open(os.path.join(BAD, name + '.gguf'), 'wb') as f:
            f.write(blob)
    for name, blob in sorted(seeds().items()):
        with open(os.path.join(SEEDS, name + '.gguf'), 'wb') as f:
            f.write(blob)
    # a few broken files double as fuzz seeds
    for name in ['huge_array_strings', 'nested_array_too_deep', 'overlapping_tensors', 'duplicate_key']:
        with open(os.path.join(SEEDS, 'bad_' + name + '.gguf'), 'wb') as f:
            f.write(cases()[name])
    print('wrote %d broken files to %s and %d seeds' % (len(cases()), BAD, len(seeds()) + 4), file=sys.stderr)


if __name__ == '__main__':
    main()

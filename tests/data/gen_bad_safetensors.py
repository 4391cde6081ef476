#!/usr/bin/env python3
"""Writes the broken safetensors files tests/data/bad/st_*.safetensors . Each breaks exactly one rule of the format; the loader must
reject every bad one with a one-line error (exit status 3 from `distiltrace inspect`).
Run from anywhere: python3 tests/data/gen_bad_safetensors.py"""
import json, os, struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bad')


def f16_bytes(n):
    return struct.pack('<%de' % n, *[0.25 * (i % 7) for i in range(n)])


def build(header, data, pad=True, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    if pad:
        h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + data


def good_parts():
    a, b = f16_bytes(8), f16_bytes(6)
    header = {'__metadata__': {'format': 'pt'},
              'a': {'dtype': 'F16', 'shape': [2, 4], 'data_offsets': [0, 16]},
              'b': {'dtype': 'F16', 'shape': [6], 'data_offsets': [16, 28]}}
    return header, a + b


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    h, d = good_parts()
    # header length larger than the 100 MB cap
    files['st_bad_header_len'] = struct.pack('<Q', 1 << 40) + b'{}'
    # header length within the cap but past the end of the file
    files['st_header_past_eof'] = struct.pack('<Q', 4096) + json.dumps(h).encode()
    # not JSON
    files['st_invalid_json'] = build(None, d, raw_header=b'{"a": {"dtype": "F16", "shape": [2,4]')
    # overlapping data
    h2, _ = good_parts(); h2['b']['data_offsets'] = [8, 20]
    files['st_overlap'] = build(h2, d[:20])
    # a gap between tensors
    h2, _ = good_parts(); h2['b']['data_offsets'] = [20, 32]
    files['st_gap'] = build(h2, d[:16] + b'\0' * 4 + d[16:])
    # bytes at the end that no tensor covers
    files['st_trailing_data'] = build(h, d + b'\0' * 8)
    # shape product disagrees with the offsets
    h2, _ = good_parts(); h2['a']['shape'] = [3, 4]
    files['st_shape_mismatch'] = build(h2, d)
    # a dtype the format does not define
    h2, _ = good_parts(); h2['a']['dtype'] = 'F12'
    files['st_unknown_dtype'] = build(h2, d)
    # offsets past the end of the file
    h2, _ = good_parts(); h2['b']['data_offsets'] = [16, 28 + 1000]; h2['b']['shape'] = [506]
    files['st_offsets_past_eof'] = build(h2, d)
    # a name that is not UTF-8
    raw = json.dumps(h).replace('"b":', '"@@":', 1).encode().replace(b'@@', b'\xff\xfe')
    files['st_non_utf8_name'] = build(None, d, raw_header=raw)
    # the same name twice
    raw = json.dumps(h).replace('"b":', '"a":', 1).encode()
    files['st_duplicate_name'] = build(None, d, raw_header=raw)
    # shape with a negative dimension
    h2, _ = good_parts(); h2['a']['shape'] = [-2, -4]
    files['st_negative_shape'] = build(h2, d)
    # truncated: shorter than the length prefix
    files['st_truncated'] = b'\x10\x00\x00'
    # header is JSON but not an object
    files['st_header_not_object'] = build(None, b'', raw_header=b'[1, 2, 3]')
    for name, blob in files.items():
        with open(os.path.join(OUT, name + '.safetensors'), 'wb') as f:
            f.write(blob)


if __name__ == '__main__':
    main()

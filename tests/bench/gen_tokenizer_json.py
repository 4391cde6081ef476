#!/usr/bin/env python3
"""Writes a synthetic byte-level BPE tokenizer.json of a real model's size (default: Gemma 3's
262144 tokens, 514906 merges; every merge's halves and result are tokens, several merges may
make the same token, as in converted SentencePiece vocabularies) for timing the loader:

    python3 tests/bench/gen_tokenizer_json.py OUT.json [n_vocab] [n_merges]
    python3 tests/bench/gen_tokenizer_json.py --run BENCH_BINARY   (writes a temporary file)
"""
import json, os, random, subprocess, sys, tempfile

def byte_chars():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]

def main():
    if sys.argv[1] == '--run':
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'tokenizer.json')
            binary = sys.argv[2]
            sys.argv = [sys.argv[0], path]
            main()
            sys.exit(subprocess.call([binary, path]))
    out = sys.argv[1]
    n_vocab = int(sys.argv[2]) if len(sys.argv) > 2 else 262144
    n_merges = int(sys.argv[3]) if len(sys.argv) > 3 else 514906
    rng = random.Random(1)
    toks = byte_chars()
    vocab = {t: i for i, t in enumerate(toks)}
    merges, seen = [], set()
    letters = [c for c in toks[:94] if c.isalnum()] + ['\u0120']
    while len(toks) < n_vocab:
        a = toks[rng.randrange(len(toks))] if rng.random() < 0.5 else rng.choice(letters)
        b = toks[rng.randrange(min(len(toks), 4096))]
        t = a + b
        if t in vocab or len(t) > 16:
            continue
        vocab[t] = len(toks)
        toks.append(t)
        merges.append((a, b))
        seen.add((a, b))
    for t in toks[256:]:
        if len(merges) >= n_merges:
            break
        for k in range(1, len(t)):
            a, b = t[:k], t[k:]
            if a in vocab and b in vocab and (a, b) not in seen:
                seen.add((a, b))
                merges.append((a, b))
                break
    doc = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": len(toks) + i, "content": s, "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": False, "special": True}
                            for i, s in enumerate(["<bos>", "<eos>", "<|im_start|>", "<|im_end|>"])],
           "normalizer": {"type": "NFC"},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                             "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                     "ignore_merges": False, "vocab": vocab, "merges": [[a, b] for a, b in merges]}}
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(doc, f, ensure_ascii=False)

main()

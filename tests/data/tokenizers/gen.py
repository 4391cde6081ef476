#!/usr/bin/env python3
"""Writes the small tokenizer.json fixtures of this directory: one per pipeline component
(normalizers, Split behaviours, pre-tokenizers, BPE model options, added-token flags), each
with a vocabulary learned by a few BPE merges over a short corpus. The components are
configured as the `tokenizers` documentation defines them; scripts/hf-compare.js checks our
ids against the library on every file.   python3 tests/data/tokenizers/gen.py"""
import collections, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = ("the quick brown fox jumps over the lazy dog. the dog sleeps; the fox runs! "
          "hello world, hello there. it's 2024 and 3.14 is pi -- well-known co-op re-entry. "
          "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u4e2d\u6587 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 "
          "def main(): return 42  # code\n\tprint('ok')\n")
R = "\u2581"

def byte_chars():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

def train(words, base, n_merges, prefix=""):
    """Greedy BPE over words (lists of symbols); returns vocab (dict) and merges."""
    vocab = {}
    for s in base:
        vocab.setdefault(s, len(vocab))
    for w in words:
        for s in w:
            vocab.setdefault(s, len(vocab))
    merges = []
    words = [list(w) for w in words]
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += 1
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        new = a + b[len(prefix):]
        merges.append([a, b])
        vocab.setdefault(new, len(vocab))
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [new]
                i += 1
    return vocab, merges

def bytelevel_model(n=120, **opt):
    bc = byte_chars()
    words = [[bc[b] for b in (" " + w).encode()] for w in CORPUS.split()]
    vocab, merges = train(words, [bc[b] for b in range(256)], n)
    return model(vocab, merges, **opt)

def spm_model(n=120, byte_fallback=True, **opt):
    words = [list(R + w) for w in CORPUS.split()]
    base = ["<unk>"] + ["<0x%02X>" % b for b in range(256)] + [R]
    vocab, merges = train(words, base, n)
    return model(vocab, merges, byte_fallback=byte_fallback, unk_token="<unk>", **opt)

def text_model(n=80, prefix=None, suffix=None, **opt):
    words = []
    for w in CORPUS.replace(".", " . ").replace(",", " , ").split():
        sy = list(w)
        if prefix:
            sy = [sy[0]] + [prefix + c for c in sy[1:]]
        if suffix:
            sy[-1] = sy[-1] + suffix
        words.append(sy)
    vocab, merges = train(words, ["[UNK]"], n, prefix or "")
    return model(vocab, merges, unk_token="[UNK]", continuing_subword_prefix=prefix,
                 end_of_word_suffix=suffix, **opt)

def model(vocab, merges, byte_fallback=False, unk_token=None, fuse_unk=False, ignore_merges=False,
          continuing_subword_prefix=None, end_of_word_suffix=None):
    return {"type": "BPE", "dropout": None, "unk_token": unk_token,
            "continuing_subword_prefix": continuing_subword_prefix,
            "end_of_word_suffix": end_of_word_suffix, "fuse_unk": fuse_unk,
            "byte_fallback": byte_fallback, "ignore_merges": ignore_merges,
            "vocab": vocab, "merges": merges}

def added(m, specs):
    out, n = [], max(m["vocab"].values()) + 1
    for content, special, flags in specs:
        d = {"id": n, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": not special, "special": special}
        d.update(flags)
        out.append(d)
        n += 1
    return out

STD_ADDED = [("<|endoftext|>", True, {}), ("<|im_start|>", True, {}), ("<|im_end|>", True, {})]

def tok(m, pre, norm=None, decoder=None, extra=STD_ADDED):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added(m, extra),
            "normalizer": norm, "pre_tokenizer": pre, "post_processor": None,
            "decoder": decoder or {"type": "ByteLevel", "add_prefix_space": True,
                                   "trim_offsets": True, "use_regex": True}, "model": m}

def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern},
            "behavior": behavior, "invert": invert}

def bl(add_prefix_space=False, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True,
            "use_regex": use_regex}

def seq(*p):
    return {"type": "Sequence", "pretokenizers": list(p)}

def nseq(*n):
    return {"type": "Sequence", "normalizers": list(n)}

QWEN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K = ("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
         "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
         "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
         "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
SPM_DEC = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": R}, "content": " "},
                                            {"type": "ByteFallback"}, {"type": "Fuse"}]}

def fixtures():
    f = {}
    f["nfc_qwen"] = tok(bytelevel_model(), seq(split(QWEN, "Isolated"), bl()), {"type": "NFC"})
    for form in ["NFD", "NFKC", "NFKD"]:
        f[form.lower()] = tok(bytelevel_model(), seq(split(QWEN, "Isolated"), bl()), {"type": form})
    f["o200k_removed_invert"] = tok(bytelevel_model(), seq(split(O200K, "Removed", True), bl()))
    f["gemma_merged_prev"] = tok(spm_model(), split(" ", "MergedWithPrevious", regex=False),
                                 {"type": "Replace", "pattern": {"String": " "}, "content": R}, SPM_DEC,
                                 [("<bos>", True, {}), ("<start_of_turn>", True, {}), ("<end_of_turn>", True, {}),
                                  ("\n\n", False, {"normalized": False})])
    f["llama2_prepend"] = tok(spm_model(), None, nseq({"type": "Prepend", "prepend": R},
                                                        {"type": "Replace", "pattern": {"String": " "}, "content": R}),
                              SPM_DEC, [("<s>", True, {}), ("</s>", True, {}), ("[INST]", False, {})])
    for b in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for inv in [False, True]:
            f["split_%s%s" % (b.lower(), "_invert" if inv else "")] = tok(
                bytelevel_model(), seq(split("-", b, inv, regex=False), split(r"\d+|\s", b, inv), bl(True)))
    f["split_empty_matches"] = tok(bytelevel_model(), seq(split(r"(?=o)|x*", "MergedWithNext"), bl()))
    f["split_anchors"] = tok(bytelevel_model(), seq(split(r"\s+$|^\s+", "Isolated"), bl(False, True)))
    f["bytelevel_prefix_regex"] = tok(bytelevel_model(), bl(True, True))
    f["digits_punct"] = tok(bytelevel_model(), seq({"type": "Digits", "individual_digits": True},
                                                    {"type": "Punctuation", "behavior": "Contiguous"}, bl(False, True)))
    f["digits_contig_punct_isolated"] = tok(bytelevel_model(), seq({"type": "Digits", "individual_digits": False},
                                                                    {"type": "Punctuation"}, bl()))
    f["whitespace"] = tok(bytelevel_model(), seq({"type": "Whitespace"}, bl()))
    f["whitespace_split"] = tok(bytelevel_model(), seq({"type": "WhitespaceSplit"}, bl()))
    f["char_delimiter"] = tok(bytelevel_model(), seq({"type": "CharDelimiterSplit", "delimiter": "o"}, bl()))
    for scheme in ["always", "first", "never"]:
        for sp in [True, False]:
            f["metaspace_%s%s" % (scheme, "_split" if sp else "")] = tok(
                spm_model(), {"type": "Metaspace", "replacement": R, "prepend_scheme": scheme, "split": sp},
                None, {"type": "Metaspace", "replacement": R, "prepend_scheme": scheme, "split": sp},
                [("<s>", True, {}), ("</s>", True, {}), ("<x>", False, {})])
    f["norm_chain"] = tok(bytelevel_model(), seq(split(QWEN, "Isolated"), bl()),
                          nseq({"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
                               {"type": "Strip", "strip_left": True, "strip_right": True},
                               {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}))
    f["norm_strip_left"] = tok(bytelevel_model(), seq(split(QWEN, "Isolated"), bl()),
                               {"type": "Strip", "strip_left": True, "strip_right": False})
    for lower, accents, chinese in [(True, None, True), (False, True, False), (True, False, True)]:
        f["bert_l%d_a%s_c%d" % (lower, accents, chinese)] = tok(
            text_model(prefix="##"), {"type": "BertPreTokenizer"},
            {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": chinese,
             "strip_accents": accents, "lowercase": lower},
            {"type": "WordPiece", "prefix": "##", "cleanup": True}, [("[CLS]", True, {}), ("[SEP]", True, {})])
    f["model_suffix_fuse_unk"] = tok(text_model(suffix="</w>", fuse_unk=True), {"type": "WhitespaceSplit"},
                                     None, {"type": "BPEDecoder", "suffix": "</w>"}, [])
    f["model_unk_nofuse"] = tok(text_model(fuse_unk=False), {"type": "Whitespace"}, None,
                                {"type": "Fuse"}, [])
    f["model_ignore_merges"] = tok(bytelevel_model(ignore_merges=True), seq(split(QWEN, "Isolated"), bl()))
    f["added_flags"] = tok(bytelevel_model(), seq(split(QWEN, "Isolated"), bl()), {"type": "Lowercase"},
                           extra=[("<|im_start|>", True, {"lstrip": True}), ("<|im_end|>", True, {"rstrip": True}),
                                  ("dog", False, {"single_word": True}), ("FOX", False, {"normalized": True}),
                                  ("Hello", False, {"normalized": False}), ("<mask>", True, {"lstrip": True, "rstrip": True})])
    f["spm_no_fallback"] = tok(spm_model(byte_fallback=False, fuse_unk=True), None,
                               {"type": "Replace", "pattern": {"String": " "}, "content": R}, SPM_DEC, [])
    return f

def main():
    for name, doc in sorted(fixtures().items()):
        with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=None, separators=(",", ":"))
            fh.write("\n")

main()

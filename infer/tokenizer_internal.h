/*
 * Private to infer/tokenizer*.c: the tokenizer structure (with the types of the Hugging Face
 * pipeline's state), and the vocabulary table of tokenizer_vocab.c: the builder the loaders
 * (tokenizer_json.c, tokenizer_gguf.c) fill it through, the lookups and the scratch the
 * encoders share. The encoders' own entry points are in tokenizer_bpe.h, tokenizer_spm.h and
 * tokenizer_hf.h, so the table depends on none of them.
 *
 * A loader calls, in order: dt_tok_new, dt_tok_set_token for every id, dt_tok_index (builds
 * the text -> id map, rejects duplicates), dt_tok_add_merge (BPE), dt_tok_set_pre or
 * dt_tok_add_regex (BPE), then dt_tok_finish (token bytes, byte tokens, special-token table,
 * hash). Only a finished tokenizer is handed out.
 */
#ifndef DT_INFER_TOKENIZER_INTERNAL_H
#define DT_INFER_TOKENIZER_INTERNAL_H

#include "infer/tokenizer.h"
#include "util/strbuf.h"

#include <stddef.h>
#include <stdint.h>

/* Upper bounds on hostile inputs: more tokens / merges than any real vocabulary. */
#define DT_TOK_MAX_VOCAB (1 << 23)
#define DT_TOK_MAX_MERGES (1 << 24)
#define DT_TOK_MAX_TOKEN_BYTES 4096
#define DT_TOK_MAX_RE 8

struct dt_tok_entry {
    size_t text_off;  /* vocabulary string in pool */
    size_t bytes_off; /* decoded bytes in pool */
    uint32_t n_text;
    uint32_t n_bytes;
    float score;  /* SPM merge priority (higher first) */
    int32_t type;    /* enum dt_token_type */
    uint8_t set;     /* dt_tok_set_token was called for this id */
    uint8_t in_model; /* tokenizer.json: in model.vocab (the BPE model sees only these) */
};

struct dt_tok_merge_slot {
    uint64_t key;   /* (left << 32) | right */
    int32_t rank;   /* -1: empty slot */
    int32_t result; /* id of left+right */
};

struct dt_tokenizer {
    enum dt_tok_kind kind;
    int32_t n_vocab;
    struct dt_tok_entry *tok; /* n_vocab */
    struct dt_strbuf pool;    /* all token texts and bytes, NUL-separated */

    struct dt_tok_slot {
        int32_t id;   /* -1: empty */
        uint32_t tag; /* high bits of the text's hash: most misses never touch the text */
    } * map;          /* open-addressing text -> id; map_mask + 1 slots */
    size_t map_mask;

    struct dt_tok_merge_slot *merges; /* merge_mask + 1 slots */
    size_t merge_mask;
    size_t n_merges;
    int32_t *merge_pairs; /* 2 * n_merges: left, right in rank order (hashing) */
    size_t cap_merges;

    int32_t byte_tok[256]; /* BPE: token of the byte's mapped char; SPM: <0xXX>; -1 */

    int32_t *specials; /* control / user-defined ids, by first byte then longest first */
    size_t n_specials;
    uint32_t special_start[257]; /* specials[special_start[b] .. special_start[b+1]) */

    char pre[48];
    void *re[DT_TOK_MAX_RE]; /* pcre2_code_8 *, applied in turn */
    size_t n_re;
    int add_prefix_space; /* BPE (ByteLevel.add_prefix_space): space before each segment */
    int add_space_prefix; /* SPM: "▁" before the text and after each special token */
    int ignore_merges;    /* BPE (llama3): a piece that is a token is not merged */
    int spm_word_split;   /* SPM: no token has "▁" after another character */

    int merge_rank_by_index; /* tokenizer.json: rank = index in the merges list, a repeated
                              * pair takes its last index (the `tokenizers` MergeMap) */
    size_t merge_strip_right; /* bytes of the right half left out of the merge result
                               * (continuing_subword_prefix) */
    struct dt_hf *hf; /* tokenizer.json pipeline, or NULL (GGUF: llama.cpp encoders) */

    int32_t bos, eos, eot, eom, unk;
    char *chat_template;
    char hash[33];
};

int dt_tok_new(enum dt_tok_kind kind, int64_t n_vocab, struct dt_tokenizer **out,
               struct dt_error *err);
/* Copies text. Fails on ids out of range, over-long or repeated ids. */
int dt_tok_set_token(struct dt_tokenizer *t, int64_t id, const char *text, size_t n_text,
                     int32_t type, float score, struct dt_error *err);
int dt_tok_index(struct dt_tokenizer *t, struct dt_error *err);
int dt_tok_reserve_merges(struct dt_tokenizer *t, size_t n, struct dt_error *err);
/* Rank is the order of calls. Duplicate pairs keep their first rank. */
int dt_tok_add_merge(struct dt_tokenizer *t, const char *l, size_t nl, const char *r, size_t nr,
                     size_t i_merge, struct dt_error *err);
/* "a b" form: splits at the space that leaves two known tokens. */
int dt_tok_add_merge_str(struct dt_tokenizer *t, const char *s, size_t n, size_t i_merge,
                         struct dt_error *err);
int dt_tok_finish(struct dt_tokenizer *t, struct dt_error *err);

/* Text -> id lookup over raw bytes; -1 when absent. */
int32_t dt_tok_lookup(const struct dt_tokenizer *t, const char *s, size_t n);
/* Rank of merging l and r (result in *result), or -1 when they do not merge. */
int dt_tok_merge_rank(const struct dt_tokenizer *t, int32_t l, int32_t r, int32_t *result);
static inline const char *dt_tok_text(const struct dt_tokenizer *t, int32_t id)
{
    return t->pool.data + t->tok[id].text_off;
}

/* A growable id vector used by the encoders. */
struct dt_tok_ids {
    int32_t *v;
    size_t n, cap;
};
int dt_tok_ids_push(struct dt_tok_ids *ids, int32_t id);

/* Encoder scratch, one per encode call (the tokenizer itself is read-only). */
struct dt_tok_work {
    void *md; /* pcre2_match_data_8 * */
    size_t *pieces[2];
    size_t cap_pieces[2];
    int32_t *sym_id, *sym_prev, *sym_next;
    uint32_t *sym_off, *sym_len;
    size_t cap_sym;
    void *heap;
    size_t n_heap, cap_heap;
    char *buf;
    size_t cap_buf;
};
void dt_tok_work_release(struct dt_tok_work *w);
/* Makes room for n symbols in every sym_* array. */
int dt_tok_work_symbols(struct dt_tok_work *w, size_t n);

/* GPT-2 byte <-> code point mapping. */
uint32_t dt_tok_byte_to_cp(uint8_t b);
/* -1 when cp is not a mapped byte. */
int dt_tok_cp_to_byte(uint32_t cp);

/* --- state of the Hugging Face `tokenizers` pipeline (tokenizer_hf.h) -------------------- */

enum dt_hf_norm_kind {
    DT_HF_NFC = 1,
    DT_HF_NFD,
    DT_HF_NFKC,
    DT_HF_NFKD,
    DT_HF_LOWERCASE,
    DT_HF_STRIP,
    DT_HF_STRIP_ACCENTS,
    DT_HF_REPLACE,
    DT_HF_PREPEND,
    DT_HF_BERT,
    DT_HF_NORM_BYTE_LEVEL,
};

struct dt_hf_norm {
    int kind;
    int left, right;      /* Strip */
    void *re;             /* Replace: pcre2_code * */
    char *str;            /* Replace content, Prepend text (owned) */
    size_t n_str;
    int clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
};

enum dt_hf_pattern { DT_HF_PAT_REGEX = 1, DT_HF_PAT_WHITESPACE, DT_HF_PAT_PUNCT, DT_HF_PAT_NUMERIC };
enum dt_hf_behavior {
    DT_HF_REMOVED = 1,
    DT_HF_ISOLATED,
    DT_HF_MERGED_PREV,
    DT_HF_MERGED_NEXT,
    DT_HF_CONTIGUOUS,
};
enum dt_hf_pre_kind {
    DT_HF_SPLIT = 1,      /* pattern, behavior, invert */
    DT_HF_PREFIX_SPACE,   /* ByteLevel add_prefix_space: " " before a piece without one */
    DT_HF_BYTES_TO_CHARS, /* ByteLevel: every byte becomes its GPT-2 code point */
    DT_HF_METASPACE,      /* " " -> replacement, then prepend per scheme */
};
enum dt_hf_prepend { DT_HF_PREPEND_NEVER = 0, DT_HF_PREPEND_ALWAYS, DT_HF_PREPEND_FIRST };

struct dt_hf_pre {
    int kind;
    int pattern; /* enum dt_hf_pattern */
    void *re;    /* pcre2_code * for DT_HF_PAT_REGEX */
    int behavior;
    int invert;
    char repl[8]; /* Metaspace replacement (UTF-8) */
    size_t n_repl;
    int prepend; /* enum dt_hf_prepend */
};

struct dt_hf_added {
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
    char *text; /* matched text: the content, normalized when `normalized` (owned) */
    size_t n_text;
};

struct dt_hf {
    struct dt_hf_norm *norm;
    size_t n_norm;
    struct dt_hf_pre *pre;
    size_t n_pre;
    struct dt_hf_added *added; /* sorted by first byte, longest first */
    size_t n_added;
    uint32_t added_start[2][257]; /* [normalized][byte]: range in `added` (per-trie order) */
    struct dt_hf_added *added_by[2]; /* [normalized]: views into one sorted array each */
    size_t n_added_by[2];
    /* model BPE */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk; /* model.unk_token's id, -1 */
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix (owned or NULL) */
    size_t n_prefix, n_suffix;
    int32_t byte_fb[256]; /* <0xXX> ids in model.vocab, -1 */
};

#endif

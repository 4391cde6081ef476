/*
 * Tokenizers: byte-level BPE (GPT-2 style byte-to-unicode mapping, pre-tokenizer regexes of
 * gpt-2, llama3/llama-bpe, qwen2, deepseek-llm, deepseek-coder run with PCRE2 in UTF+UCP
 * mode) and SentencePiece-style BPE (tokenizer.ggml.model = "llama": scores as merge
 * priorities, byte fallback <0xXX>, "▁" space prefix). Loaded from GGUF metadata
 * (tokenizer.ggml.*), encoded as llama.cpp does, or from a Hugging Face tokenizer.json,
 * encoded by the `tokenizers` library's own pipeline (tokenizer_hf.c: normalizers,
 * pre-tokenizers, BPE options, added-token flags).
 *
 * Token ids are int32. Token "bytes" are the exact bytes a token decodes to (after undoing the
 * byte-level mapping or the ▁ / <0xXX> conventions), so decode(encode(x)) == x for any input
 * without special tokens.
 */
#ifndef DT_INFER_TOKENIZER_H
#define DT_INFER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

enum dt_tok_kind {
    DT_TOK_BPE = 1, /* byte-level BPE (gpt2 family) */
    DT_TOK_SPM = 2, /* SentencePiece BPE (llama) */
    DT_TOK_TEXT = 3, /* tokenizer.json BPE whose tokens are their own text (no byte mapping) */
};

enum dt_token_type { /* as in tokenizer.ggml.token_type */
                     DT_TOKEN_NORMAL = 1,
                     DT_TOKEN_UNKNOWN = 2,
                     DT_TOKEN_CONTROL = 3,
                     DT_TOKEN_USER_DEFINED = 4,
                     DT_TOKEN_UNUSED = 5,
                     DT_TOKEN_BYTE = 6,
};

struct dt_tokenizer;

/* Tokenizers are made by the loaders of infer/tokenizer_gguf.h (GGUF metadata, and
 * dt_tokenizer_open for any path) and infer/tokenizer_json.h (tokenizer.json). */
void dt_tokenizer_free(struct dt_tokenizer *t);

enum dt_tok_kind dt_tokenizer_kind(const struct dt_tokenizer *t);
int32_t dt_tokenizer_n_vocab(const struct dt_tokenizer *t);
/* Pre-tokenizer name ("gpt-2", "llama-bpe", "qwen2", "deepseek-llm", ...; "default" when unset). */
const char *dt_tokenizer_pre(const struct dt_tokenizer *t);

/*
 * Encodes n_bytes of text. With parse_special, control / user-defined tokens written literally
 * in the text (e.g. "<|user|>") are matched as single tokens; without it they are plain text.
 * No BOS/EOS is added. *ids is a heap array (dt_free).
 */
int dt_tokenizer_encode(const struct dt_tokenizer *t, const char *text, size_t n_bytes,
                        int parse_special, int32_t **ids, size_t *n_ids, struct dt_error *err);

/* Exact bytes of one token (borrowed, valid until free); NULL for ids out of range. Control
 * tokens return their literal text. */
const char *dt_tokenizer_token_bytes(const struct dt_tokenizer *t, int32_t id, size_t *n_bytes);
/* The token's vocabulary string as stored (e.g. "Ġthe", "▁the"); borrowed. */
const char *dt_tokenizer_token_text(const struct dt_tokenizer *t, int32_t id);
enum dt_token_type dt_tokenizer_token_type(const struct dt_tokenizer *t, int32_t id);

/* Decodes ids to bytes (heap, NUL-terminated; dt_free). Control tokens are skipped unless
 * with_special. */
int dt_tokenizer_decode(const struct dt_tokenizer *t, const int32_t *ids, size_t n_ids,
                        int with_special, char **out, size_t *n_bytes, struct dt_error *err);

/* SPM score of a token (0 for BPE tokens and ids out of range). */
float dt_tokenizer_token_score(const struct dt_tokenizer *t, int32_t id);
/* Number of BPE merges (0 for SPM). */
size_t dt_tokenizer_n_merges(const struct dt_tokenizer *t);

/* Id of a token whose vocabulary text is exactly s, or -1. */
int32_t dt_tokenizer_find(const struct dt_tokenizer *t, const char *s);
/* Special ids from the metadata, -1 when absent. */
int32_t dt_tokenizer_bos(const struct dt_tokenizer *t);
int32_t dt_tokenizer_eos(const struct dt_tokenizer *t);
/* End-of-turn id (tokenizer.ggml.eot_token_id), -1 when absent. */
int32_t dt_tokenizer_eot(const struct dt_tokenizer *t);
/* 1 if id ends generation: eos, eot, or a control token named like an end marker
 * (<|end|>, <|eot_id|>, <|im_end|>, <|endoftext|>, </s>, <|eos|>). */
int dt_tokenizer_is_eog(const struct dt_tokenizer *t, int32_t id);

/* Chat template text from the metadata (tokenizer.chat_template), borrowed, or NULL. */
const char *dt_tokenizer_chat_template(const struct dt_tokenizer *t);

/* 1 when every id of `base` means the same token in `other` (same text and type): identical
 * tokenizers, or `other` extends base's vocabulary (padding or added tokens at the end), so
 * token ids and next-token distributions over base's ids line up. */
int dt_tokenizer_ids_compatible(const struct dt_tokenizer *base, const struct dt_tokenizer *other);

/* xxh3-128 hex of the vocabulary (token texts, types) and merges: equal for equal tokenizers. */
const char *dt_tokenizer_hash(const struct dt_tokenizer *t);

#endif

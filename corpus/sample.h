/*
 * Samples: one model response to one probe, with per-token log-probabilities and top-k
 * alternatives. The same in-memory shape holds imported API transcripts, local generations
 * (collect) and rows read back from the evidence store, so fingerprint signals and `compare`
 * work on any of them.
 *
 * Layout: a sample owns one byte pool; tokens and alternatives refer to it by offset, so a
 * sample is four allocations whatever its length. Log-probs are natural logs stored as double
 * (exactly what the source gave); NaN means unknown (e.g. a legacy completion's first token).
 */
#ifndef DT_CORPUS_SAMPLE_H
#define DT_CORPUS_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"

struct dt_error;

enum dt_probe_kind { DT_PROBE_CHAT = 1, DT_PROBE_TEXT = 2 };

/* "chat" / "text"; dt_probe_kind_parse returns 0 for an unknown name. */
const char *dt_probe_kind_name(enum dt_probe_kind k);
enum dt_probe_kind dt_probe_kind_parse(const char *s);

/* Probe id: xxh3-128 hex of the kind name, a NUL byte, and the text. */
void dt_probe_id(enum dt_probe_kind kind, const char *text, size_t n_bytes,
                 char out[DT_XXH128_HEX_LEN + 1]);

struct dt_token_alt {
    uint32_t off, n_bytes; /* bytes in the sample's pool */
    double logprob;
};

struct dt_sample_token {
    uint32_t off, n_bytes; /* exact bytes of the token in the pool */
    double logprob;        /* NaN when unknown */
    uint32_t i_alt, n_alt; /* top-k alternatives: alts[i_alt .. i_alt + n_alt - 1], best first */
};

struct dt_sample {
    char probe_id[DT_XXH128_HEX_LEN + 1];
    enum dt_probe_kind kind;
    char *prompt;   /* NUL-terminated, owned */
    char *response; /* NUL-terminated, owned; the text as the source gave it */
    size_t response_bytes;
    char *source_ref;    /* record id from the source ("teacher-0") or NULL, owned */
    char *finish_reason; /* "stop", "length", ... or NULL, owned */
    int sample_index;    /* 0-based index among samples of the same probe */
    int has_logprobs;    /* 0: text only (plain transcripts) */
    size_t n_tokens;
    struct dt_sample_token *tokens;
    size_t n_alts;
    struct dt_token_alt *alts;
    char *pool;
    size_t pool_bytes, pool_cap;
    size_t tokens_cap, alts_cap;
};

/* A growable array of samples. */
struct dt_sample_set {
    struct dt_sample *items;
    size_t n, cap;
};

void dt_sample_init(struct dt_sample *s);
void dt_sample_release(struct dt_sample *s);

/* Sets prompt, kind (and the probe id) and response; copies the bytes. */
int dt_sample_set_text(struct dt_sample *s, enum dt_probe_kind kind, const char *prompt,
                       size_t prompt_bytes, const char *response, size_t response_bytes,
                       struct dt_error *err);
/* Appends a token; then dt_sample_add_alt appends alternatives of the last token. */
int dt_sample_add_token(struct dt_sample *s, const void *bytes, size_t n_bytes, double logprob,
                        struct dt_error *err);
int dt_sample_add_alt(struct dt_sample *s, const void *bytes, size_t n_bytes, double logprob,
                      struct dt_error *err);

/* Borrowed views into the pool (not NUL-terminated). */
static inline const char *dt_sample_token_bytes(const struct dt_sample *s, size_t i, size_t *n)
{
    *n = s->tokens[i].n_bytes;
    return s->pool + s->tokens[i].off;
}
static inline const struct dt_token_alt *dt_sample_token_alts(const struct dt_sample *s, size_t i,
                                                              size_t *n_alt)
{
    *n_alt = s->tokens[i].n_alt;
    return s->alts + s->tokens[i].i_alt;
}
static inline const char *dt_sample_alt_bytes(const struct dt_sample *s,
                                              const struct dt_token_alt *a)
{
    return s->pool + a->off;
}

void dt_sample_set_init(struct dt_sample_set *set);
void dt_sample_set_release(struct dt_sample_set *set);
/* Moves *s into the set (s is re-initialised); on failure *s is left untouched. */
int dt_sample_set_push(struct dt_sample_set *set, struct dt_sample *s, struct dt_error *err);

/* Moves every sample of from to the end of to (from is emptied); on failure both are left
 * unchanged. */
int dt_sample_set_append(struct dt_sample_set *to, struct dt_sample_set *from,
                         struct dt_error *err);

/*
 * Compact encodings used by the evidence store (all little-endian):
 *   tokens:   per token  u32 n_bytes, then the bytes
 *   logprobs: per token  f64
 *   top_k:    per token  u16 n_alt, then per alternative u32 n_bytes, the bytes, f64 logprob
 * Encoders append to a heap buffer (dt_free); decoders validate every length against the blob
 * and fail with DT_EFORMAT on a truncated or inconsistent blob.
 */
int dt_sample_encode(const struct dt_sample *s, uint8_t **tokens, size_t *tokens_bytes,
                     uint8_t **logprobs, size_t *logprobs_bytes, uint8_t **top_k,
                     size_t *top_k_bytes, struct dt_error *err);
int dt_sample_decode(struct dt_sample *s, size_t n_tokens, const uint8_t *tokens,
                     size_t tokens_bytes, const uint8_t *logprobs, size_t logprobs_bytes,
                     const uint8_t *top_k, size_t top_k_bytes, struct dt_error *err);

#endif

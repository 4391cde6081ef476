/*
 * Watermark measurements that need a model: sampling text (with or without the watermark's
 * logits processor), scoring sampled text for the text-mode test, and the green probability
 * mass of a model's next-token distributions on chosen contexts for the logit-mode test.
 */
#ifndef DT_FINGERPRINT_WM_SAMPLE_H
#define DT_FINGERPRINT_WM_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint/watermark.h"

struct dt_error;
struct dt_ctx;
struct dt_tokenizer;

/* Built-in English continuation prompts, used when the caller gives none. */
extern const char *const dt_wm_default_prompts[];
extern const size_t dt_wm_n_default_prompts;

struct dt_wm_gen_opts {
    int max_tokens;    /* new tokens per sample; stops early at end of generation */
    int n_samples;     /* samples per prompt */
    float temperature; /* > 0 */
    float top_p;       /* (0, 1] */
    uint64_t seed;
    const struct dt_wm_params *wm; /* NULL: sample without a watermark */
    int ignore_eog;                /* 1: always generate max_tokens (end tokens included) */
};

/* Sampled sequences, in the model's own tokenizer. */
struct dt_wm_samples {
    size_t n;
    int32_t **ids;    /* (n) prompt ids followed by the generated ids */
    size_t *n_ids;    /* (n) */
    size_t *n_prompt; /* (n) leading prompt ids */
    size_t *i_prompt; /* (n) index of the prompt */
    double *nll;      /* (n) sum of -log p(token) of the generated ids under the model itself,
                       * without temperature or watermark: the perplexity cost */
};
void dt_wm_samples_release(struct dt_wm_samples *s);

/* Samples o->n_samples continuations of every prompt (encoded with the model's tokenizer,
 * special tokens parsed). Deterministic for a seed and thread count. */
int dt_wm_generate(struct dt_ctx *x, const char *const *prompts, size_t n_prompts,
                   const struct dt_wm_gen_opts *o, struct dt_wm_samples *out, struct dt_error *err);

/*
 * Text-mode counting of the generated parts of s into d. With the teacher's tokenizer equal to
 * the model's (same dt_tokenizer_hash), the ids are scored as they are, starting from the
 * last prompt id (the context the first token was sampled in); otherwise each generated part
 * is decoded to bytes and re-encoded with teacher_tok.
 */
int dt_wm_samples_detect(const struct dt_wm_samples *s, const struct dt_tokenizer *model_tok,
                         const struct dt_tokenizer *teacher_tok, struct dt_wm_detector *d,
                         struct dt_error *err);

/* Logit-mode contexts: the first position (in sequence order) of every distinct prev. */
struct dt_wm_contexts {
    size_t n;
    uint32_t *i_seq, *i_pos; /* (n) the context is ids[i_seq][0 .. i_pos] */
    uint32_t *prev;          /* (n) ids[i_seq][i_pos] */
};
/* Only ids below n_vocab are eligible as prev (the teacher's vocabulary). */
int dt_wm_contexts_select(const struct dt_wm_samples *s, size_t n_vocab, struct dt_wm_contexts *out,
                          struct dt_error *err);
void dt_wm_contexts_release(struct dt_wm_contexts *c);

/*
 * Green masses of the context's model on the contexts: mass[i] and sum_p2[i] (arrays of c->n) for the
 * softmax over the first n_vocab logits (the teacher's vocabulary; padded rows beyond it are
 * excluded). The model must share the samples' tokenizer.
 */
int dt_wm_green_masses(struct dt_ctx *x, const struct dt_wm_samples *s,
                       const struct dt_wm_contexts *c, const struct dt_wm_params *wm,
                       size_t n_vocab, double *mass, double *sum_p2, struct dt_error *err);

#endif

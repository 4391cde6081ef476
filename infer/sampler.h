/*
 * Next-token sampling and the generation loop.
 *
 * Order of operations on a step's logits l (n_vocab floats from the model):
 *   1. l' = l / T                  (T = temperature; greedy treats T as 1)
 *   2. processor(ud, ctx, l')      (optional hook, edits l' in place; e.g. the watermark adds
 *                                   delta to green tokens: l'[t] = l[t]/T + delta*green(prev, t))
 *   3. greedy: argmax l' (lowest id on ties); otherwise keep the top_k largest (0 = all), then
 *      the smallest prefix of those, by descending probability, whose mass reaches top_p
 *      (1 = all), and draw from softmax over what is left with the seeded generator.
 * The same seed, parameters and logits give the same tokens on every platform.
 */
#ifndef DT_INFER_SAMPLER_H
#define DT_INFER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_model;
struct dt_session;

typedef void (*dt_logits_processor)(void *ud, const int32_t *ctx, size_t n_ctx, float *logits,
                                    int n_vocab);

struct dt_sampler_params {
    float temperature;   /* <= 0: greedy */
    int top_k;           /* <= 0: no top-k cut */
    float top_p;         /* >= 1 or <= 0: no nucleus cut */
    uint64_t seed;
    dt_logits_processor processor; /* may be NULL */
    void *processor_ud;
};

/* Defaults: temperature 1, no top-k / top-p, seed 0, no processor. */
void dt_sampler_params_init(struct dt_sampler_params *p);

struct dt_sampler;
int dt_sampler_new(const struct dt_sampler_params *p, int n_vocab, struct dt_sampler **out,
                   struct dt_error *err);
void dt_sampler_free(struct dt_sampler *s);
/* Picks a token from the model's logits (not modified). ctx: the tokens so far (prompt and
 * generated), passed to the processor. */
int32_t dt_sampler_sample(struct dt_sampler *s, const float *logits, const int32_t *ctx,
                          size_t n_ctx);

/* log-softmax helpers on raw logits (temperature 1): logsumexp, and the k best ids in
 * descending order (ties: lower id first). */
double dt_logsumexp(const float *logits, int n);
void dt_top_k(const float *logits, int n, int k, int32_t *ids);

enum dt_gen_stop {
    DT_STOP_EOG = 0,  /* stop after any end-of-generation token (dt_tokenizer_is_eog) */
    DT_STOP_EOS = 1,  /* stop only after the tokenizer's eos token */
    DT_STOP_NONE = 2, /* always generate n_predict tokens */
};

struct dt_gen_params {
    struct dt_sampler_params sampler;
    int n_predict;        /* tokens to generate at most */
    int n_top;            /* alternatives to report per token (0..64) */
    enum dt_gen_stop stop;
};
void dt_gen_params_init(struct dt_gen_params *p); /* sampler defaults, 32 tokens, 5 alts, EOG */

/* One generated token, as an API's logprobs would report it. */
struct dt_gen_token {
    int32_t id;
    size_t index;            /* 0 for the first generated token */
    float logprob;           /* log p(id) under the unmodified model (temperature 1) */
    int n_top;
    const int32_t *top_ids;  /* n_top best ids under that distribution, descending */
    const float *top_logprobs;
    int is_eog;              /* the token that stopped generation */
};
/* Return nonzero to stop early (that value is returned by dt_generate unless negative codes
 * are meant as errors: any nonzero value stops and is passed through). */
typedef int (*dt_gen_cb)(void *ud, const struct dt_gen_token *tok);

/*
 * Resets the session, evaluates the prompt (n_prompt >= 1) and generates up to n_predict
 * tokens, calling cb for each (the stopping end token included). *n_generated (optional) gets
 * the count. Fails with DT_EINVAL when prompt + n_predict exceed the session's context.
 */
int dt_generate(const struct dt_model *m, struct dt_session *s, const int32_t *prompt, size_t n_prompt,
                const struct dt_gen_params *p, dt_gen_cb cb, void *ud, size_t *n_generated,
                struct dt_error *err);

#endif

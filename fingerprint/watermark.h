/*
 * The `xxh64-kgw` green-list watermark (../shared/spec/watermark.md): the green-list
 * definition, bitmaps of a context's green list, the logits processor that embeds the
 * watermark while sampling, detection counts over token sequences (distinct (prev, token)
 * pairs, per text and pooled) and the green probability mass of a next-token distribution.
 *
 * This file only measures. The p-values built from these measurements live in
 * detect/watermark.h, so the statistics stay in one place.
 *
 * Definition, bit for bit:
 *   s     = XXH64(le32(prev), seed = key)
 *   h     = XXH64(le32(t),    seed = s)
 *   green = (h >> 32) < floor(gamma * 2^32)
 * so the exact probability that a token is green is floor(gamma * 2^32) / 2^32, which
 * dt_wm_gamma_exact returns (it differs from gamma by less than 2^-32).
 */
#ifndef DT_FINGERPRINT_WATERMARK_H
#define DT_FINGERPRINT_WATERMARK_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

#define DT_WM_SCHEME "xxh64-kgw"

struct dt_wm_params {
    uint64_t key; /* the secret */
    double gamma; /* fraction of the vocabulary that is green, in (0, 1) */
    double delta; /* logit bias added to green tokens while sampling, >= 0 */
};

/* DT_EINVAL (naming the field) when gamma is outside (0, 1) or delta is negative / not finite. */
int dt_wm_params_check(const struct dt_wm_params *p, struct dt_error *err);

/* floor(gamma * 2^32), clamped to [0, 2^32 - 1]. */
uint32_t dt_wm_threshold(double gamma);
/* threshold / 2^32: the exact Bernoulli rate of the green test. */
double dt_wm_gamma_exact(double gamma);

/* s = XXH64(le32(prev), seed = key). */
uint64_t dt_wm_prev_seed(uint64_t key, uint32_t prev);
/* (XXH64(le32(t), seed = prev_seed) >> 32) < threshold. */
int dt_wm_green_seeded(uint64_t prev_seed, uint32_t threshold, uint32_t t);
/* The whole definition in one call. */
int dt_wm_is_green(uint64_t key, double gamma, uint32_t prev, uint32_t t);

/* Number of 64-bit words of a green-list bitmap over n_vocab ids. */
static inline size_t dt_wm_bitmap_words(size_t n_vocab)
{
    return (n_vocab + 63) / 64;
}
static inline int dt_wm_bit(const uint64_t *bits, size_t t)
{
    return (int)((bits[t >> 6] >> (t & 63)) & 1);
}

/* Fills bits[0 .. dt_wm_bitmap_words(n_vocab) - 1] with prev's green list over the ids
 * 0 .. n_vocab - 1 (bit t set when t is green; bits past n_vocab are zero). Returns the
 * number of green ids. */
size_t dt_wm_green_bitmap(uint64_t key, uint32_t threshold, uint32_t prev, size_t n_vocab,
                          uint64_t *bits);

/*
 * A cache of green-list bitmaps for one key, gamma and vocabulary size, so that a generation
 * or a green-mass scan hashes each (prev, t) once. Direct-mapped: at most n_slots bitmaps
 * (chosen so the cache stays under a few tens of MB whatever the vocabulary).
 */
struct dt_wm_greenlists;
int dt_wm_greenlists_new(const struct dt_wm_params *p, size_t n_vocab,
                         struct dt_wm_greenlists **out, struct dt_error *err);
void dt_wm_greenlists_free(struct dt_wm_greenlists *g);
/* prev's bitmap; borrowed, valid until the next call on g. */
const uint64_t *dt_wm_greenlists_get(struct dt_wm_greenlists *g, uint32_t prev);
size_t dt_wm_greenlists_n_vocab(const struct dt_wm_greenlists *g);

/*
 * The logits processor that embeds the watermark: logits[t] += delta for every green t of
 * the context's last token. ud is a struct dt_wm_greenlists * (made with the generation's
 * params); ids at or past its n_vocab are left alone, and an empty context gets no bias
 * (there is no prev). Matches the sampler hook of infer/sampler.h: it runs after the division
 * by the temperature, so l' = l / T + delta * green.
 */
void dt_wm_logits_processor(void *ud, const int32_t *ctx, size_t n_ctx, float *logits, int n_vocab);

/* Detection counts. */
struct dt_wm_counts {
    uint64_t n_tokens; /* tokens read */
    uint64_t n_pairs;  /* positions i >= 1 read, i.e. (x[i-1], x[i]) pairs before deduplication */
    uint64_t n_scored; /* distinct pairs scored */
    uint64_t n_green;  /* distinct pairs that are green */
};

/* z = (g - gamma n) / sqrt(n gamma (1 - gamma)) with the exact gamma; 0 when n == 0. */
double dt_wm_counts_z(const struct dt_wm_counts *c, double gamma);

/*
 * Detection over many texts: each text's pairs are deduplicated within the text (per-text
 * counts) and across every text added so far (pooled counts), so a pair that recurs in many
 * texts counts once in the pooled test.
 */
struct dt_wm_detector;
int dt_wm_detector_new(const struct dt_wm_params *p, struct dt_wm_detector **out,
                       struct dt_error *err);
void dt_wm_detector_free(struct dt_wm_detector *d);
/* Scores one token sequence; per_text (optional) receives its own counts. Negative ids are
 * an error (DT_EINVAL). */
int dt_wm_detector_add(struct dt_wm_detector *d, const int32_t *ids, size_t n_ids,
                       struct dt_wm_counts *per_text, struct dt_error *err);
/* Counts pooled over every text added. */
void dt_wm_detector_pooled(const struct dt_wm_detector *d, struct dt_wm_counts *out);
/* Forgets every text (the pooled set), keeping memory. */
void dt_wm_detector_reset(struct dt_wm_detector *d);

/*
 * Green mass of one next-token distribution: with p = softmax(logits[0 .. n_vocab - 1]),
 * returns sum of p[t] over prev's green t, and (when sum_p2 is not NULL) sum of p[t]^2.
 * Under the null (a model independent of the key) the green indicators are independent
 * Bernoulli(gamma_exact) across t, so mass - gamma has mean 0 and variance
 * gamma (1 - gamma) sum_p2: the logit-mode test in detect/watermark.h relies on this.
 * bits is prev's bitmap over at least n_vocab ids.
 */
double dt_wm_green_mass(const uint64_t *bits, const float *logits, size_t n_vocab, double *sum_p2);

/*
 * Logit-mode accumulator: one context per distinct prev (the first one offered), holding
 * that context's green mass and sum of squared probabilities.
 */
struct dt_wm_mass_context {
    uint32_t prev;
    double mass;   /* green probability mass */
    double sum_p2; /* sum of squared probabilities */
};
struct dt_wm_masses {
    struct dt_wm_mass_context *ctx; /* in the order first seen */
    size_t n, cap;
    uint8_t *seen; /* one byte per prev id below n_seen */
    size_t n_seen;
    size_t n_offered; /* contexts offered, including repeated prevs */
};
void dt_wm_masses_init(struct dt_wm_masses *m);
void dt_wm_masses_release(struct dt_wm_masses *m);
/* 1 when prev already has its context (the caller may skip computing the logits' mass). */
int dt_wm_masses_has(const struct dt_wm_masses *m, uint32_t prev);
/* Offers a context: recorded only when prev is new. Returns 1 if recorded, 0 if a repeat,
 * DT_ENOMEM on allocation failure. */
int dt_wm_masses_offer(struct dt_wm_masses *m, uint32_t prev, double mass, double sum_p2);

#endif

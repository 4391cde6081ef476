/*
 * The xxh64-kgw watermark's measurements (see watermark.h for the definition).
 *
 * Hashing: a green test is two XXH64 calls on 4 bytes (about 10 ns each); the per-prev seed is
 * hoisted out of loops over candidate tokens. Bitmaps are n_vocab bits (256 bytes for the
 * zoo's 2048-token vocabulary, 19 KB for 152k); the green-list cache is direct-mapped with at
 * most DT_WM_CACHE_BYTES of bitmaps.
 *
 * Detection deduplicates (prev, t) pairs with open-addressing sets of 64-bit keys
 * (prev << 32 | t; ids are non-negative int32, so the all-ones key never occurs and marks an
 * empty slot). The per-text set is cleared by walking the slots it filled, so a short text
 * costs O(its length), not O(set size).
 */
#include "fingerprint/watermark.h"

#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define DT_WM_CACHE_BYTES ((size_t)32 << 20)
#define EMPTY_KEY UINT64_MAX

int dt_wm_params_check(const struct dt_wm_params *p, struct dt_error *err)
{
    if (!(p->gamma > 0.0 && p->gamma < 1.0))
        return dt_error_set(err, DT_EINVAL, "watermark 'gamma' must be in (0, 1), not %g",
                            p->gamma);
    if (!(p->delta >= 0.0) || !isfinite(p->delta))
        return dt_error_set(err, DT_EINVAL,
                            "watermark 'delta' must be a finite number >= 0, not %g", p->delta);
    return 0;
}

uint32_t dt_wm_threshold(double gamma)
{
    double t = floor(gamma * 4294967296.0);
    if (!(t > 0.0))
        return 0;
    if (t >= 4294967295.0)
        return UINT32_MAX;
    return (uint32_t)t;
}

double dt_wm_gamma_exact(double gamma)
{
    return (double)dt_wm_threshold(gamma) / 4294967296.0;
}

static inline void le32(uint32_t v, unsigned char b[4])
{
    b[0] = (unsigned char)(v & 0xff);
    b[1] = (unsigned char)((v >> 8) & 0xff);
    b[2] = (unsigned char)((v >> 16) & 0xff);
    b[3] = (unsigned char)(v >> 24);
}

uint64_t dt_wm_prev_seed(uint64_t key, uint32_t prev)
{
    unsigned char b[4];
    le32(prev, b);
    return XXH64(b, 4, key);
}

int dt_wm_green_seeded(uint64_t prev_seed, uint32_t threshold, uint32_t t)
{
    unsigned char b[4];
    le32(t, b);
    return (uint32_t)(XXH64(b, 4, prev_seed) >> 32) < threshold;
}

int dt_wm_is_green(uint64_t key, double gamma, uint32_t prev, uint32_t t)
{
    return dt_wm_green_seeded(dt_wm_prev_seed(key, prev), dt_wm_threshold(gamma), t);
}

size_t dt_wm_green_bitmap(uint64_t key, uint32_t threshold, uint32_t prev, size_t n_vocab,
                          uint64_t *bits)
{
    uint64_t s = dt_wm_prev_seed(key, prev);
    size_t n_words = dt_wm_bitmap_words(n_vocab), n_green = 0;
    memset(bits, 0, n_words * sizeof *bits);
    for (size_t t = 0; t < n_vocab; t++) {
        if (dt_wm_green_seeded(s, threshold, (uint32_t)t)) {
            bits[t >> 6] |= (uint64_t)1 << (t & 63);
            n_green++;
        }
    }
    return n_green;
}

/* ---- green-list cache ---- */

struct dt_wm_greenlists {
    uint64_t key;
    uint32_t threshold;
    double delta;
    size_t n_vocab, n_words, n_slots;
    uint64_t *bits; /* (n_slots, n_words) */
    int64_t *tags;  /* prev held by each slot, -1 when empty */
};

int dt_wm_greenlists_new(const struct dt_wm_params *p, size_t n_vocab,
                         struct dt_wm_greenlists **out, struct dt_error *err)
{
    struct dt_wm_greenlists *g = NULL;
    int rc = dt_wm_params_check(p, err);
    if (rc)
        goto done;
    if (n_vocab == 0 || n_vocab > ((size_t)1 << 31)) {
        rc = dt_error_set(err, DT_EINVAL, "watermark vocabulary size %zu is out of range", n_vocab);
        goto done;
    }
    g = dt_calloc(1, sizeof *g);
    if (!g) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for the green-list cache");
        goto done;
    }
    g->key = p->key;
    g->threshold = dt_wm_threshold(p->gamma);
    g->delta = p->delta;
    g->n_vocab = n_vocab;
    g->n_words = dt_wm_bitmap_words(n_vocab);
    /* every prev fits when the table is small (the zoo: 2048 x 256 B = 512 KB) */
    size_t per = g->n_words * sizeof(uint64_t);
    g->n_slots = DT_WM_CACHE_BYTES / per;
    if (g->n_slots > n_vocab)
        g->n_slots = n_vocab;
    if (g->n_slots < 1)
        g->n_slots = 1;
    g->bits = dt_malloc_array(g->n_slots, per);
    g->tags = dt_malloc_array(g->n_slots, sizeof *g->tags);
    if (!g->bits || !g->tags) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for the green-list cache");
        goto done;
    }
    for (size_t i = 0; i < g->n_slots; i++)
        g->tags[i] = -1;
    *out = g;
    g = NULL;
done:
    dt_wm_greenlists_free(g);
    return rc;
}

void dt_wm_greenlists_free(struct dt_wm_greenlists *g)
{
    if (!g)
        return;
    dt_free(g->bits);
    dt_free(g->tags);
    dt_free(g);
}

const uint64_t *dt_wm_greenlists_get(struct dt_wm_greenlists *g, uint32_t prev)
{
    size_t slot = prev % g->n_slots;
    uint64_t *b = g->bits + slot * g->n_words;
    if (g->tags[slot] != (int64_t)prev) {
        dt_wm_green_bitmap(g->key, g->threshold, prev, g->n_vocab, b);
        g->tags[slot] = (int64_t)prev;
    }
    return b;
}

size_t dt_wm_greenlists_n_vocab(const struct dt_wm_greenlists *g)
{
    return g->n_vocab;
}

void dt_wm_logits_processor(void *ud, const int32_t *ctx, size_t n_ctx, float *logits, int n_vocab)
{
    struct dt_wm_greenlists *g = ud;
    if (!g || n_ctx == 0 || n_vocab <= 0 || ctx[n_ctx - 1] < 0)
        return;
    float delta = (float)g->delta;
    const uint64_t *bits = dt_wm_greenlists_get(g, (uint32_t)ctx[n_ctx - 1]);
    size_t n = (size_t)n_vocab < g->n_vocab ? (size_t)n_vocab : g->n_vocab;
    for (size_t t = 0; t < n; t++)
        if (dt_wm_bit(bits, t))
            logits[t] += delta;
}

/* ---- detection ---- */

double dt_wm_counts_z(const struct dt_wm_counts *c, double gamma)
{
    double g = dt_wm_gamma_exact(gamma), n = (double)c->n_scored;
    if (c->n_scored == 0 || g <= 0.0 || g >= 1.0)
        return 0.0;
    return ((double)c->n_green - g * n) / sqrt(n * g * (1.0 - g));
}

/* Open-addressing set of 64-bit keys, load factor <= 1/2, capacity a power of two. */
struct pairset {
    uint64_t *slots;
    size_t cap, n;
};

static inline size_t pair_hash(uint64_t k, size_t cap)
{
    /* murmur3's fmix64: every bit of prev and t reaches the low bits used as the index */
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int pairset_grow(struct pairset *s, size_t want)
{
    size_t cap = s->cap ? s->cap : 64;
    while (cap / 2 < want) {
        if (cap > ((size_t)1 << 40))
            return DT_ENOMEM;
        cap *= 2;
    }
    if (cap == s->cap)
        return 0;
    uint64_t *slots = dt_malloc_array(cap, sizeof *slots);
    if (!slots)
        return DT_ENOMEM;
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t k = s->slots[i];
        if (k == EMPTY_KEY)
            continue;
        size_t j = pair_hash(k, cap);
        while (slots[j] != EMPTY_KEY)
            j = (j + 1) & (cap - 1);
        slots[j] = k;
    }
    dt_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* Inserts k; returns the slot index when k is new, -1 when already present. Room for one
 * more key must have been reserved with pairset_grow. */
static inline long pairset_insert(struct pairset *s, uint64_t k)
{
    size_t j = pair_hash(k, s->cap);
    while (s->slots[j] != EMPTY_KEY) {
        if (s->slots[j] == k)
            return -1;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = k;
    s->n++;
    return (long)j;
}

struct dt_wm_detector {
    uint64_t key;
    uint32_t threshold;
    struct pairset pooled, text;
    size_t *filled; /* slots of `text` filled by the current text */
    size_t filled_cap;
    struct dt_wm_counts total;
};

int dt_wm_detector_new(const struct dt_wm_params *p, struct dt_wm_detector **out,
                       struct dt_error *err)
{
    int rc = dt_wm_params_check(p, err);
    if (rc)
        return rc;
    struct dt_wm_detector *d = dt_calloc(1, sizeof *d);
    if (!d)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the watermark detector");
    d->key = p->key;
    d->threshold = dt_wm_threshold(p->gamma);
    *out = d;
    return 0;
}

void dt_wm_detector_free(struct dt_wm_detector *d)
{
    if (!d)
        return;
    dt_free(d->pooled.slots);
    dt_free(d->text.slots);
    dt_free(d->filled);
    dt_free(d);
}

void dt_wm_detector_reset(struct dt_wm_detector *d)
{
    if (d->pooled.slots)
        memset(d->pooled.slots, 0xff, d->pooled.cap * sizeof *d->pooled.slots);
    d->pooled.n = 0;
    memset(&d->total, 0, sizeof d->total);
}

int dt_wm_detector_add(struct dt_wm_detector *d, const int32_t *ids, size_t n_ids,
                       struct dt_wm_counts *per_text, struct dt_error *err)
{
    struct dt_wm_counts c = {0};
    size_t n_pairs = n_ids > 0 ? n_ids - 1 : 0, n_filled = 0, want;
    int rc = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0)
            return dt_error_set(err, DT_EINVAL, "token id %ld at position %zu is negative",
                                (long)ids[i], i);
    /* reserve room first so a failed allocation leaves the detector unchanged */
    if (dt_add_overflow(d->pooled.n, n_pairs, &want) || pairset_grow(&d->pooled, want) ||
        pairset_grow(&d->text, n_pairs)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu token pairs", n_pairs);
        goto done;
    }
    if (n_pairs > d->filled_cap) {
        size_t *f = dt_realloc_array(d->filled, n_pairs, sizeof *f);
        if (!f) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu token pairs", n_pairs);
            goto done;
        }
        d->filled = f;
        d->filled_cap = n_pairs;
    }
    c.n_tokens = n_ids;
    c.n_pairs = n_pairs;
    for (size_t i = 1; i < n_ids; i++) {
        uint32_t prev = (uint32_t)ids[i - 1], t = (uint32_t)ids[i];
        uint64_t k = (uint64_t)prev << 32 | t;
        long slot = pairset_insert(&d->text, k);
        int in_pool = pairset_insert(&d->pooled, k) >= 0;
        if (slot < 0 && !in_pool)
            continue;
        int green = dt_wm_green_seeded(dt_wm_prev_seed(d->key, prev), d->threshold, t);
        if (slot >= 0) {
            d->filled[n_filled++] = (size_t)slot;
            c.n_scored++;
            c.n_green += (uint64_t)green;
        }
        if (in_pool) {
            d->total.n_scored++;
            d->total.n_green += (uint64_t)green;
        }
    }
    d->total.n_tokens += c.n_tokens;
    d->total.n_pairs += c.n_pairs;
    if (per_text)
        *per_text = c;
done:
    for (size_t i = 0; i < n_filled; i++)
        d->text.slots[d->filled[i]] = EMPTY_KEY;
    d->text.n = 0;
    return rc;
}

void dt_wm_detector_pooled(const struct dt_wm_detector *d, struct dt_wm_counts *out)
{
    *out = d->total;
}

/* ---- green mass ---- */

double dt_wm_green_mass(const uint64_t *bits, const float *logits, size_t n_vocab, double *sum_p2)
{
    double mx = -INFINITY, z = 0.0, zg = 0.0, z2 = 0.0;
    for (size_t t = 0; t < n_vocab; t++)
        if (logits[t] > mx)
            mx = logits[t];
    if (!isfinite(mx)) {
        if (sum_p2)
            *sum_p2 = NAN;
        return NAN;
    }
    for (size_t t = 0; t < n_vocab; t++) {
        double e = exp((double)logits[t] - mx);
        z += e;
        z2 += e * e;
        if (dt_wm_bit(bits, t))
            zg += e;
    }
    if (sum_p2)
        *sum_p2 = z2 / (z * z);
    return zg / z;
}

void dt_wm_masses_init(struct dt_wm_masses *m)
{
    memset(m, 0, sizeof *m);
}

void dt_wm_masses_release(struct dt_wm_masses *m)
{
    dt_free(m->ctx);
    dt_free(m->seen);
    memset(m, 0, sizeof *m);
}

int dt_wm_masses_has(const struct dt_wm_masses *m, uint32_t prev)
{
    return prev < m->n_seen && m->seen[prev];
}

int dt_wm_masses_offer(struct dt_wm_masses *m, uint32_t prev, double mass, double sum_p2)
{
    m->n_offered++;
    if (dt_wm_masses_has(m, prev))
        return 0;
    if (prev >= m->n_seen) {
        size_t n = m->n_seen ? m->n_seen : 1024;
        while (n <= prev)
            n *= 2;
        uint8_t *s = dt_realloc(m->seen, n);
        if (!s)
            return DT_ENOMEM;
        memset(s + m->n_seen, 0, n - m->n_seen);
        m->seen = s;
        m->n_seen = n;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        struct dt_wm_mass_context *c = dt_realloc_array(m->ctx, cap, sizeof *c);
        if (!c)
            return DT_ENOMEM;
        m->ctx = c;
        m->cap = cap;
    }
    m->ctx[m->n++] = (struct dt_wm_mass_context){prev, mass, sum_p2};
    m->seen[prev] = 1;
    return 1;
}

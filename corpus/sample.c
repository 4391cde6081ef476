/*
 * Samples (see sample.h): construction, the set container, and the compact blob encoding the
 * evidence store uses. Token and alternative byte strings live in one pool per sample and are
 * addressed by 32-bit offsets, so a single sample is limited to 4 GiB of token bytes (far
 * beyond the 16 MiB transcript line cap). The blob decoders treat their input as untrusted.
 */
#include "corpus/sample.h"

#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

const char *dt_probe_kind_name(enum dt_probe_kind k)
{
    return k == DT_PROBE_TEXT ? "text" : "chat";
}

enum dt_probe_kind dt_probe_kind_parse(const char *s)
{
    if (s && !strcmp(s, "chat"))
        return DT_PROBE_CHAT;
    if (s && !strcmp(s, "text"))
        return DT_PROBE_TEXT;
    return (enum dt_probe_kind)0;
}

void dt_probe_id(enum dt_probe_kind kind, const char *text, size_t n_bytes,
                 char out[DT_XXH128_HEX_LEN + 1])
{
    /* Streaming XXH3 over "kind\0text": no allocation, so id computation cannot fail. */
    static const char hexd[] = "0123456789abcdef";
    const char *k = dt_probe_kind_name(kind);
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, k, strlen(k) + 1);
    XXH3_128bits_update(&st, text, n_bytes);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
    for (size_t i = 0; i < sizeof c.digest; i++) {
        out[2 * i] = hexd[c.digest[i] >> 4];
        out[2 * i + 1] = hexd[c.digest[i] & 15];
    }
    out[DT_XXH128_HEX_LEN] = '\0';
}

void dt_sample_init(struct dt_sample *s)
{
    memset(s, 0, sizeof *s);
    s->kind = DT_PROBE_CHAT;
}

void dt_sample_release(struct dt_sample *s)
{
    if (!s)
        return;
    dt_free(s->prompt);
    dt_free(s->response);
    dt_free(s->source_ref);
    dt_free(s->finish_reason);
    dt_free(s->tokens);
    dt_free(s->alts);
    dt_free(s->pool);
    dt_sample_init(s);
}

int dt_sample_set_text(struct dt_sample *s, enum dt_probe_kind kind, const char *prompt,
                       size_t prompt_bytes, const char *response, size_t response_bytes,
                       struct dt_error *err)
{
    char *p = dt_strndup(prompt, prompt_bytes);
    char *r = dt_strndup(response ? response : "", response ? response_bytes : 0);
    if (!p || !r) {
        dt_free(p);
        dt_free(r);
        return dt_error_set(err, DT_ENOMEM, "out of memory storing a sample's text");
    }
    dt_free(s->prompt);
    dt_free(s->response);
    s->prompt = p;
    s->response = r;
    s->response_bytes = response ? response_bytes : 0;
    s->kind = kind;
    dt_probe_id(kind, prompt, prompt_bytes, s->probe_id);
    return 0;
}

/* Copies bytes into the pool; returns the offset through *off. */
static int pool_add(struct dt_sample *s, const void *bytes, size_t n_bytes, uint32_t *off,
                    struct dt_error *err)
{
    size_t need;
    if (n_bytes > UINT32_MAX || dt_add_overflow(s->pool_bytes, n_bytes, &need) || need > UINT32_MAX)
        return dt_error_set(err, DT_ENOMEM, "sample token bytes exceed 4 GiB");
    if (need > s->pool_cap) {
        size_t cap = s->pool_cap ? s->pool_cap : 256;
        while (cap < need)
            cap *= 2;
        char *p = dt_realloc(s->pool, cap);
        if (!p)
            return dt_error_set(err, DT_ENOMEM, "out of memory growing a sample's token pool");
        s->pool = p;
        s->pool_cap = cap;
    }
    if (n_bytes)
        memcpy(s->pool + s->pool_bytes, bytes, n_bytes);
    *off = (uint32_t)s->pool_bytes;
    s->pool_bytes = need;
    return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = dt_realloc_array(*arr, nc, elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int dt_sample_add_token(struct dt_sample *s, const void *bytes, size_t n_bytes, double logprob,
                        struct dt_error *err)
{
    uint32_t off = 0;
    if (grow((void **)&s->tokens, &s->tokens_cap, s->n_tokens, sizeof *s->tokens))
        return dt_error_set(err, DT_ENOMEM, "out of memory growing a sample's tokens");
    int rc = pool_add(s, bytes, n_bytes, &off, err);
    if (rc)
        return rc;
    struct dt_sample_token *t = &s->tokens[s->n_tokens++];
    t->off = off;
    t->n_bytes = (uint32_t)n_bytes;
    t->logprob = logprob;
    t->i_alt = (uint32_t)s->n_alts;
    t->n_alt = 0;
    return 0;
}

int dt_sample_add_alt(struct dt_sample *s, const void *bytes, size_t n_bytes, double logprob,
                      struct dt_error *err)
{
    uint32_t off = 0;
    if (s->n_tokens == 0)
        return dt_error_set(err, DT_EINTERNAL, "alternative added before any token");
    struct dt_sample_token *t = &s->tokens[s->n_tokens - 1];
    if (t->n_alt >= UINT16_MAX || s->n_alts >= UINT32_MAX)
        return dt_error_set(err, DT_ENOMEM, "too many top-k alternatives for one token");
    if (grow((void **)&s->alts, &s->alts_cap, s->n_alts, sizeof *s->alts))
        return dt_error_set(err, DT_ENOMEM, "out of memory growing a sample's alternatives");
    int rc = pool_add(s, bytes, n_bytes, &off, err);
    if (rc)
        return rc;
    struct dt_token_alt *a = &s->alts[s->n_alts++];
    a->off = off;
    a->n_bytes = (uint32_t)n_bytes;
    a->logprob = logprob;
    t->n_alt++;
    return 0;
}

void dt_sample_set_init(struct dt_sample_set *set)
{
    memset(set, 0, sizeof *set);
}

void dt_sample_set_release(struct dt_sample_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        dt_sample_release(&set->items[i]);
    dt_free(set->items);
    dt_sample_set_init(set);
}

int dt_sample_set_push(struct dt_sample_set *set, struct dt_sample *s, struct dt_error *err)
{
    if (grow((void **)&set->items, &set->cap, set->n, sizeof *set->items))
        return dt_error_set(err, DT_ENOMEM, "out of memory growing a sample set");
    set->items[set->n++] = *s;
    dt_sample_init(s);
    return 0;
}

int dt_sample_set_append(struct dt_sample_set *to, struct dt_sample_set *from, struct dt_error *err)
{
    size_t need;
    if (dt_add_overflow(to->n, from->n, &need))
        return dt_error_set(err, DT_ENOMEM, "too many samples");
    if (need > to->cap) {
        struct dt_sample *p = dt_realloc_array(to->items, need, sizeof *p);
        if (!p)
            return dt_error_set(err, DT_ENOMEM, "out of memory collecting samples");
        to->items = p;
        to->cap = need;
    }
    if (from->n)
        memcpy(to->items + to->n, from->items, from->n * sizeof *from->items);
    to->n = need;
    from->n = 0;
    return 0;
}

/* ---- blob encoding ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_f64(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static double get_f64(const uint8_t *p)
{
    uint64_t v = 0;
    double d;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    memcpy(&d, &v, 8);
    return d;
}

int dt_sample_encode(const struct dt_sample *s, uint8_t **tokens, size_t *tokens_bytes,
                     uint8_t **logprobs, size_t *logprobs_bytes, uint8_t **top_k,
                     size_t *top_k_bytes, struct dt_error *err)
{
    /* Sizes are bounded by the pool (< 4 GiB) plus fixed per-item overheads; checked anyway. */
    size_t nt = 0, nl = 0, nk = 0, x;
    uint8_t *bt = NULL, *bl = NULL, *bk = NULL;
    int rc = 0;
    for (size_t i = 0; i < s->n_tokens; i++) {
        if (dt_add_overflow(nt, 4 + (size_t)s->tokens[i].n_bytes, &nt) ||
            dt_add_overflow(nk, 2, &nk))
            goto overflow;
        for (uint32_t j = 0; j < s->tokens[i].n_alt; j++)
            if (dt_add_overflow(nk, 12 + (size_t)s->alts[s->tokens[i].i_alt + j].n_bytes, &nk))
                goto overflow;
    }
    if (dt_mul_overflow(s->n_tokens, 8, &nl))
        goto overflow;
    bt = dt_malloc(nt ? nt : 1);
    bl = dt_malloc(nl ? nl : 1);
    bk = dt_malloc(nk ? nk : 1);
    if (!bt || !bl || !bk) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory encoding a sample");
        goto fail;
    }
    size_t pt = 0, pk = 0;
    for (size_t i = 0; i < s->n_tokens; i++) {
        const struct dt_sample_token *t = &s->tokens[i];
        put_u32(bt + pt, t->n_bytes);
        memcpy(bt + pt + 4, s->pool + t->off, t->n_bytes);
        pt += 4 + (size_t)t->n_bytes;
        put_f64(bl + 8 * i, t->logprob);
        bk[pk] = (uint8_t)t->n_alt;
        bk[pk + 1] = (uint8_t)(t->n_alt >> 8);
        pk += 2;
        for (uint32_t j = 0; j < t->n_alt; j++) {
            const struct dt_token_alt *a = &s->alts[t->i_alt + j];
            put_u32(bk + pk, a->n_bytes);
            memcpy(bk + pk + 4, s->pool + a->off, a->n_bytes);
            x = pk + 4 + a->n_bytes;
            put_f64(bk + x, a->logprob);
            pk = x + 8;
        }
    }
    *tokens = bt;
    *tokens_bytes = nt;
    *logprobs = bl;
    *logprobs_bytes = nl;
    *top_k = bk;
    *top_k_bytes = nk;
    return 0;
overflow:
    rc = dt_error_set(err, DT_ENOMEM, "sample too large to encode");
fail:
    dt_free(bt);
    dt_free(bl);
    dt_free(bk);
    return rc;
}

int dt_sample_decode(struct dt_sample *s, size_t n_tokens, const uint8_t *tokens,
                     size_t tokens_bytes, const uint8_t *logprobs, size_t logprobs_bytes,
                     const uint8_t *top_k, size_t top_k_bytes, struct dt_error *err)
{
    size_t pt = 0, pk = 0, nl;
    int rc;
    if (dt_mul_overflow(n_tokens, 8, &nl) || (logprobs_bytes != nl && logprobs_bytes != 0))
        return dt_error_set(err, DT_EFORMAT, "logprobs blob holds %zu bytes, expected %zu",
                            logprobs_bytes, n_tokens * 8);
    for (size_t i = 0; i < n_tokens; i++) {
        if (tokens_bytes - pt < 4)
            return dt_error_set(err, DT_EFORMAT, "tokens blob truncated at token %zu", i);
        uint32_t n = get_u32(tokens + pt);
        if (tokens_bytes - pt - 4 < n)
            return dt_error_set(err, DT_EFORMAT, "tokens blob: token %zu overruns the blob", i);
        double lp = logprobs_bytes ? get_f64(logprobs + 8 * i) : NAN;
        if ((rc = dt_sample_add_token(s, tokens + pt + 4, n, lp, err)))
            return rc;
        pt += 4 + (size_t)n;
        if (top_k_bytes == 0)
            continue;
        if (top_k_bytes - pk < 2)
            return dt_error_set(err, DT_EFORMAT, "top_k blob truncated at token %zu", i);
        unsigned n_alt = (unsigned)top_k[pk] | (unsigned)top_k[pk + 1] << 8;
        pk += 2;
        for (unsigned j = 0; j < n_alt; j++) {
            if (top_k_bytes - pk < 4)
                return dt_error_set(err, DT_EFORMAT, "top_k blob truncated at token %zu", i);
            uint32_t na = get_u32(top_k + pk);
            if (top_k_bytes - pk - 4 < na || top_k_bytes - pk - 4 - na < 8)
                return dt_error_set(err, DT_EFORMAT,
                                    "top_k blob: alternative %u of token %zu overruns the blob", j,
                                    i);
            if ((rc = dt_sample_add_alt(s, top_k + pk + 4, na, get_f64(top_k + pk + 4 + na), err)))
                return rc;
            pk += 4 + (size_t)na + 8;
        }
    }
    if (pt != tokens_bytes || (top_k_bytes && pk != top_k_bytes))
        return dt_error_set(err, DT_EFORMAT, "sample blobs have trailing bytes");
    return 0;
}

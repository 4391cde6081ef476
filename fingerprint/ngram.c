/*
 * Shingling, MinHash and containment over sets of generated texts.
 *
 * A shingle is XXH64 over `width` consecutive units: the 8-byte word hashes of
 * fingerprint/text.h for word shingles, the raw bytes for byte shingles. Sets are sorted,
 * de-duplicated uint64 arrays, so intersections are linear merges. MinHash hash function j is
 * a splitmix64 finaliser of (shingle XOR key_j), with the n_perm keys drawn from splitmix64
 * seeded by params->seed: deterministic across runs and platforms. Cost: O(n_shingles *
 * n_perm) per signature (a few thousand shingles per answer).
 */
#include "fingerprint/ngram.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

void dt_ngram_params_default(struct dt_ngram_params *p)
{
    p->unit = DT_SHINGLE_WORDS;
    p->width = 4;
    p->n_perm = 128;
    p->seed = 0x5EEDD157ULL;
}

static int check_params(const struct dt_ngram_params *p, struct dt_error *err)
{
    if (!p || p->width == 0 || p->width > 4096 || p->n_perm == 0 ||
        p->n_perm > DT_MINHASH_MAX_PERM ||
        (p->unit != DT_SHINGLE_WORDS && p->unit != DT_SHINGLE_BYTES))
        return dt_error_set(err, DT_EINVAL,
                            "invalid n-gram parameters (width 1..4096, "
                            "permutations 1..%d)",
                            DT_MINHASH_MAX_PERM);
    return 0;
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t sort_unique(uint64_t *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

void dt_shingles_release(struct dt_shingles *s)
{
    if (!s)
        return;
    dt_free(s->h);
    s->h = NULL;
    s->n = 0;
}

int dt_ngram_shingles(const char *text, size_t n_bytes, const struct dt_ngram_params *p,
                      struct dt_shingles *out, struct dt_error *err)
{
    struct dt_word *w = NULL;
    uint64_t *h = NULL, *wh = NULL;
    size_t n_units = 0, n_sh = 0;
    int rc = check_params(p, err);
    if (rc)
        return rc;
    if (!text)
        n_bytes = 0;
    if (p->unit == DT_SHINGLE_WORDS) {
        if ((rc = dt_text_words(text, n_bytes, &w, &n_units, err)))
            return rc;
        wh = dt_malloc_array(n_units ? n_units : 1, sizeof *wh);
        if (!wh)
            goto nomem;
        for (size_t i = 0; i < n_units; i++)
            wh[i] = w[i].hash;
    } else {
        n_units = n_bytes;
    }
    size_t width = p->width < n_units ? p->width : n_units;
    n_sh = n_units ? n_units - width + 1 : 0;
    h = dt_malloc_array(n_sh ? n_sh : 1, sizeof *h);
    if (!h)
        goto nomem;
    for (size_t i = 0; i < n_sh; i++)
        h[i] = p->unit == DT_SHINGLE_WORDS ? dt_hash_xxh64(wh + i, width * sizeof *wh, 0)
                                           : dt_hash_xxh64(text + i, width, 0);
    out->n = sort_unique(h, n_sh);
    out->h = h;
    h = NULL;
    goto done;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory shingling a %zu-byte text", n_bytes);
done:
    dt_free(w);
    dt_free(wh);
    dt_free(h);
    return rc;
}

size_t dt_ngram_intersection(const struct dt_shingles *a, const struct dt_shingles *b)
{
    size_t i = 0, j = 0, k = 0;
    while (i < a->n && j < b->n) {
        if (a->h[i] < b->h[j])
            i++;
        else if (a->h[i] > b->h[j])
            j++;
        else {
            k++;
            i++;
            j++;
        }
    }
    return k;
}

double dt_ngram_jaccard_exact(const struct dt_shingles *a, const struct dt_shingles *b)
{
    if (!a->n || !b->n)
        return 0.0;
    size_t k = dt_ngram_intersection(a, b);
    return (double)k / (double)(a->n + b->n - k);
}

int dt_minhash_sign(const struct dt_shingles *s, const struct dt_ngram_params *p, uint64_t *sig)
{
    int rc = check_params(p, NULL);
    if (rc)
        return rc;
    uint64_t key = p->seed;
    for (size_t j = 0; j < p->n_perm; j++) {
        key = splitmix(key);
        uint64_t m = UINT64_MAX;
        for (size_t i = 0; i < s->n; i++) {
            uint64_t v = splitmix(s->h[i] ^ key);
            if (v < m)
                m = v;
        }
        sig[j] = m;
    }
    return 0;
}

void dt_minhash_merge(uint64_t *dst, const uint64_t *src, size_t n_perm)
{
    for (size_t j = 0; j < n_perm; j++)
        if (src[j] < dst[j])
            dst[j] = src[j];
}

static int sig_empty(const uint64_t *s, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (s[j] != UINT64_MAX)
            return 0;
    return 1;
}

double dt_minhash_jaccard(const uint64_t *a, const uint64_t *b, size_t n_perm)
{
    if (!n_perm || sig_empty(a, n_perm) || sig_empty(b, n_perm))
        return 0.0;
    size_t eq = 0;
    for (size_t j = 0; j < n_perm; j++)
        eq += a[j] == b[j];
    return (double)eq / (double)n_perm;
}

/* Signature of text i of set (or of the union of all its texts when i == SIZE_MAX). */
static int sign_text(const struct dt_text_set *set, size_t i, const struct dt_ngram_params *p,
                     uint64_t *sig, uint64_t *tmp, struct dt_error *err)
{
    size_t from = i == SIZE_MAX ? 0 : i, to = i == SIZE_MAX ? set->n : i + 1;
    for (size_t j = 0; j < p->n_perm; j++)
        sig[j] = UINT64_MAX;
    for (size_t k = from; k < to; k++) {
        struct dt_shingles s = {NULL, 0};
        const char *text = set->text ? set->text[k] : NULL;
        int rc = dt_ngram_shingles(text, dt_text_set_len(set, k), p, &s, err);
        if (rc)
            return rc;
        dt_minhash_sign(&s, p, tmp);
        dt_shingles_release(&s);
        dt_minhash_merge(sig, tmp, p->n_perm);
    }
    return 0;
}

int dt_ngram_pairwise(const struct dt_text_set *a, const struct dt_text_set *b,
                      const struct dt_ngram_params *p, double *out, struct dt_error *err)
{
    int rc = check_params(p, err);
    if (rc)
        return rc;
    if (!a || !b || a->n != b->n)
        return dt_error_set(err, DT_EMISMATCH,
                            "pairwise overlap needs two sets of equal size "
                            "(%zu and %zu texts)",
                            a ? a->n : 0, b ? b->n : 0);
    uint64_t *buf = dt_malloc_array(p->n_perm, 3 * sizeof *buf);
    if (!buf)
        return dt_error_set(err, DT_ENOMEM, "out of memory for minhash signatures");
    uint64_t *sa = buf, *sb = buf + p->n_perm, *tmp = buf + 2 * p->n_perm;
    for (size_t i = 0; i < a->n && !rc; i++) {
        rc = sign_text(a, i, p, sa, tmp, err);
        if (!rc)
            rc = sign_text(b, i, p, sb, tmp, err);
        if (!rc)
            out[i] = dt_minhash_jaccard(sa, sb, p->n_perm);
    }
    dt_free(buf);
    return rc;
}

int dt_ngram_set_jaccard(const struct dt_text_set *a, const struct dt_text_set *b,
                         const struct dt_ngram_params *p, double *out, struct dt_error *err)
{
    int rc = check_params(p, err);
    if (rc)
        return rc;
    if (!a || !b)
        return dt_error_set(err, DT_EINVAL, "set overlap needs two text sets");
    uint64_t *buf = dt_malloc_array(p->n_perm, 3 * sizeof *buf);
    if (!buf)
        return dt_error_set(err, DT_ENOMEM, "out of memory for minhash signatures");
    uint64_t *sa = buf, *sb = buf + p->n_perm, *tmp = buf + 2 * p->n_perm;
    rc = sign_text(a, SIZE_MAX, p, sa, tmp, err);
    if (!rc)
        rc = sign_text(b, SIZE_MAX, p, sb, tmp, err);
    if (!rc)
        *out = dt_minhash_jaccard(sa, sb, p->n_perm);
    dt_free(buf);
    return rc;
}

/* The union of the shingle sets of several text sets. */
static int union_of(const struct dt_text_set *sets, size_t n_sets, const struct dt_ngram_params *p,
                    struct dt_shingles *out, struct dt_error *err)
{
    uint64_t *all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t s = 0; s < n_sets; s++) {
        for (size_t i = 0; i < sets[s].n; i++) {
            struct dt_shingles sh = {NULL, 0};
            const char *text = sets[s].text ? sets[s].text[i] : NULL;
            if ((rc = dt_ngram_shingles(text, dt_text_set_len(&sets[s], i), p, &sh, err)))
                goto fail;
            size_t need;
            if (dt_add_overflow(n, sh.n, &need)) {
                dt_shingles_release(&sh);
                goto nomem;
            }
            if (need > cap) {
                size_t nc = cap ? cap : 1024;
                while (nc < need)
                    nc *= 2;
                uint64_t *np = dt_realloc_array(all, nc, sizeof *np);
                if (!np) {
                    dt_shingles_release(&sh);
                    goto nomem;
                }
                all = np;
                cap = nc;
            }
            if (sh.n)
                memcpy(all + n, sh.h, sh.n * sizeof *sh.h);
            n = need;
            dt_shingles_release(&sh);
        }
    }
    out->n = sort_unique(all, n);
    out->h = all;
    return 0;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory collecting shingles");
fail:
    dt_free(all);
    return rc;
}

static int member(const struct dt_shingles *s, uint64_t v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->h[mid] < v)
            lo = mid + 1;
        else if (s->h[mid] > v)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

int dt_ngram_rare_containment(const struct dt_text_set *suspect, const struct dt_text_set *teacher,
                              const struct dt_text_set *controls, size_t n_controls,
                              const struct dt_ngram_params *p,
                              struct dt_ngram_containment *per_text,
                              struct dt_ngram_containment *total, struct dt_error *err)
{
    struct dt_shingles t = {NULL, 0}, c = {NULL, 0}, s = {NULL, 0};
    struct dt_ngram_containment sum = {0, 0, 0, 0.0};
    int rc = check_params(p, err);
    if (rc)
        return rc;
    if (!suspect || !teacher || (n_controls && !controls))
        return dt_error_set(err, DT_EINVAL, "containment needs suspect and teacher texts");
    if ((rc = union_of(teacher, 1, p, &t, err)) ||
        (rc = union_of(controls, n_controls, p, &c, err)))
        goto done;
    for (size_t i = 0; i < suspect->n; i++) {
        const char *text = suspect->text ? suspect->text[i] : NULL;
        if ((rc = dt_ngram_shingles(text, dt_text_set_len(suspect, i), p, &s, err)))
            goto done;
        struct dt_ngram_containment r = {s.n, 0, 0, 0.0};
        for (size_t k = 0; k < s.n; k++) {
            if (member(&c, s.h[k]))
                continue;
            r.n_rare++;
            r.n_rare_in_teacher += (size_t)member(&t, s.h[k]);
        }
        r.containment = r.n_rare ? (double)r.n_rare_in_teacher / (double)r.n_rare : 0.0;
        if (per_text)
            per_text[i] = r;
        sum.n_shingles += r.n_shingles;
        sum.n_rare += r.n_rare;
        sum.n_rare_in_teacher += r.n_rare_in_teacher;
        dt_shingles_release(&s);
    }
    sum.containment = sum.n_rare ? (double)sum.n_rare_in_teacher / (double)sum.n_rare : 0.0;
    if (total)
        *total = sum;
done:
    dt_shingles_release(&t);
    dt_shingles_release(&c);
    dt_shingles_release(&s);
    return rc;
}

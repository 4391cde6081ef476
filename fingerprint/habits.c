/*
 * Hallmark habit learning and scoring.
 *
 * Learning runs in three passes. (1) Every teacher text is tokenized (kept for rendering) and
 * each candidate phrase is counted once per text in an open-addressing hash table keyed by a
 * 64-bit sequence hash of its word hashes: openings and closings of 1..max_edge_words words
 * (keyed with a per-kind salt, since their predicate is positional), n-grams of
 * min_ngram..max_ngram words and whole sentences (both "occurs anywhere", so they share a
 * key space; a phrase the teacher ever wrote as a whole sentence is reported as a sentence).
 * (2) Candidates under the teacher support floor are dropped and the survivors re-indexed.
 * (3) Every control text is scanned for the survivors with the same predicates, counting
 * once per text. Memory is about 40 bytes per distinct teacher phrase (a few MB for hundreds
 * of answers) plus 4 bytes per survivor and control.
 *
 * Sequence hashes collide with probability ~n^2/2^64; a collision can only merge two counts.
 *
 * Score (log-odds with +0.5 smoothing, so zero counts stay finite):
 *   pt = (teacher_count + 0.5) / (n_teacher + 1), pc = (count_c + 0.5) / (n_c + 1) for the
 *   control c with the highest support; score = logit(pt) - logit(pc). With no controls
 *   pc = 0.5 (score = logit(pt)).
 */
#include "fingerprint/habits.h"

#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_SEED 0x243F6A8885A308D3ULL
#define SALT_OPEN 0x9E3779B97F4A7C15ULL
#define SALT_CLOSE 0xC2B2AE3D27D4EB4FULL
#define NONE UINT32_MAX

const char *dt_habit_kind_name(enum dt_habit_kind kind)
{
    switch (kind) {
    case DT_HABIT_OPENING:
        return "opening";
    case DT_HABIT_CLOSING:
        return "closing";
    case DT_HABIT_SENTENCE:
        return "sentence";
    case DT_HABIT_NGRAM:
        return "ngram";
    }
    return "unknown";
}

void dt_habits_params_default(struct dt_habits_params *p)
{
    p->max_edge_words = 8;
    p->min_ngram = 3;
    p->max_ngram = 8;
    p->min_sentence_words = 3;
    p->max_sentence_words = 40;
    p->max_words_per_text = 2048;
    p->min_teacher_support = 0.10;
    p->min_teacher_count = 2;
    p->max_control_ratio = 0.25;
    p->max_habits = 50;
}

static inline uint64_t seq_step(uint64_t h, uint64_t w)
{
    h ^= w + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    h *= 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 33);
}

static uint64_t seq_hash(const struct dt_word *w, size_t n)
{
    uint64_t h = SEQ_SEED;
    for (size_t i = 0; i < n; i++)
        h = seq_step(h, w[i].hash);
    return h;
}

/* ---- candidate table ---- */

enum { CK_OPEN, CK_CLOSE, CK_CONTIG };

struct cand {
    uint64_t key;
    uint32_t text, word; /* first teacher occurrence */
    uint32_t n_words;
    uint32_t count, last;
    uint8_t ck, sentence;
};

struct table {
    uint32_t *slot; /* candidate index + 1; 0 = empty */
    size_t cap;     /* power of two */
    struct cand *c;
    size_t n, c_cap;
};

static int table_grow(struct table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    uint32_t *ns = dt_calloc(ncap, sizeof *ns);
    if (!ns)
        return DT_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = (size_t)t->c[i].key & (ncap - 1);
        while (ns[s])
            s = (s + 1) & (ncap - 1);
        ns[s] = (uint32_t)(i + 1);
    }
    dt_free(t->slot);
    t->slot = ns;
    t->cap = ncap;
    return 0;
}

static struct cand *table_find(const struct table *t, uint64_t key)
{
    if (!t->cap)
        return NULL;
    size_t s = (size_t)key & (t->cap - 1);
    while (t->slot[s]) {
        struct cand *c = &t->c[t->slot[s] - 1];
        if (c->key == key)
            return c;
        s = (s + 1) & (t->cap - 1);
    }
    return NULL;
}

/* Finds or inserts key; NULL on allocation failure or when the table is full (2^32). */
static struct cand *table_get(struct table *t, uint64_t key)
{
    struct cand *c = table_find(t, key);
    if (c)
        return c;
    if (t->n >= UINT32_MAX - 1)
        return NULL;
    if ((t->n + 1) * 2 > t->cap && table_grow(t))
        return NULL;
    if (t->n == t->c_cap) {
        size_t nc = t->c_cap ? t->c_cap * 2 : 1024;
        struct cand *p = dt_realloc_array(t->c, nc, sizeof *p);
        if (!p)
            return NULL;
        t->c = p;
        t->c_cap = nc;
    }
    size_t s = (size_t)key & (t->cap - 1);
    while (t->slot[s])
        s = (s + 1) & (t->cap - 1);
    t->slot[s] = (uint32_t)(t->n + 1);
    c = &t->c[t->n++];
    memset(c, 0, sizeof *c);
    c->key = key;
    c->last = NONE;
    return c;
}

static void table_release(struct table *t)
{
    dt_free(t->slot);
    dt_free(t->c);
    memset(t, 0, sizeof *t);
}

static int add(struct table *t, uint64_t key, int ck, size_t text, size_t word, size_t n_words,
               int sentence)
{
    struct cand *c = table_get(t, key);
    if (!c)
        return DT_ENOMEM;
    if (c->count == 0 && c->last == NONE) {
        c->text = (uint32_t)text;
        c->word = (uint32_t)word;
        c->n_words = (uint32_t)n_words;
        c->ck = (uint8_t)ck;
    }
    if (c->last != (uint32_t)text) {
        c->last = (uint32_t)text;
        c->count++;
    }
    if (sentence)
        c->sentence = 1;
    return 0;
}

/* Visits every candidate phrase of one text: fn(key, ck, word, n_words, sentence). Used for
 * the teacher (insert) and the controls (look up) so both see the same predicates. */
struct visit {
    const struct dt_habits_params *p;
    size_t max_contig; /* longest contiguous phrase to consider */
};

typedef int (*visit_fn)(void *ctx, uint64_t key, int ck, size_t word, size_t n_words, int sentence);

static int visit_text(const struct visit *v, const struct dt_word *w, size_t n, visit_fn fn,
                      void *ctx)
{
    const struct dt_habits_params *p = v->p;
    int rc;
    for (size_t k = 1; k <= p->max_edge_words && k <= n; k++) {
        if ((rc = fn(ctx, seq_hash(w, k) ^ SALT_OPEN, CK_OPEN, 0, k, 0)))
            return rc;
        if ((rc = fn(ctx, seq_hash(w + n - k, k) ^ SALT_CLOSE, CK_CLOSE, n - k, k, 0)))
            return rc;
    }
    size_t m = n < p->max_words_per_text ? n : p->max_words_per_text;
    size_t sentence_end = 0;
    for (size_t i = 0; i < m; i++) {
        size_t len_s = 0;
        if (w[i].flags & DT_WORD_SENTENCE_START) {
            sentence_end = i + 1;
            while (sentence_end < n && !(w[sentence_end].flags & DT_WORD_SENTENCE_START))
                sentence_end++;
            len_s = sentence_end - i;
            if (len_s < p->min_sentence_words || len_s > p->max_sentence_words || i + len_s > m)
                len_s = 0;
        }
        size_t max_len = p->max_ngram > len_s ? p->max_ngram : len_s;
        if (max_len > v->max_contig)
            max_len = v->max_contig;
        uint64_t h = SEQ_SEED;
        for (size_t len = 1; len <= max_len && i + len <= m; len++) {
            h = seq_step(h, w[i + len - 1].hash);
            int is_ngram = len >= p->min_ngram && len <= p->max_ngram;
            int is_sentence = len_s && len == len_s;
            if ((is_ngram || is_sentence) && (rc = fn(ctx, h, CK_CONTIG, i, len, is_sentence)))
                return rc;
        }
    }
    return 0;
}

struct teacher_ctx {
    struct table *t;
    size_t text;
};

static int teacher_fn(void *ctx, uint64_t key, int ck, size_t word, size_t n_words, int sentence)
{
    struct teacher_ctx *c = ctx;
    return add(c->t, key, ck, c->text, word, n_words, sentence);
}

struct control_ctx {
    struct table *t;  /* survivors; cand.count = survivor index, cand.last = stamp */
    uint32_t *ccount; /* (n_survivors, n_controls) */
    size_t n_controls, control;
    uint32_t stamp;
};

static int control_fn(void *ctx, uint64_t key, int ck, size_t word, size_t n_words, int sentence)
{
    struct control_ctx *c = ctx;
    struct cand *s = table_find(c->t, key);
    if (s && s->last != c->stamp) {
        s->last = c->stamp;
        c->ccount[(size_t)s->count * c->n_controls + c->control]++;
    }
    return 0;
}

/* ---- ranking ---- */

struct ranked {
    size_t cand;
    double score, t_support, c_max, c_mean;
};

static int cmp_ranked(const void *a, const void *b, void *arg)
{
    const struct ranked *x = a, *y = b;
    const struct cand *c = arg;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (c[x->cand].n_words != c[y->cand].n_words)
        return c[x->cand].n_words > c[y->cand].n_words ? -1 : 1;
    if (c[x->cand].key != c[y->cand].key)
        return c[x->cand].key < c[y->cand].key ? -1 : 1;
    return 0;
}

/* 1 when b (nb words) occurs contiguously in a (na words). */
static int contains(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    if (nb > na)
        return 0;
    for (size_t i = 0; i + nb <= na; i++)
        if (!memcmp(a + i, b, nb * sizeof *b))
            return 1;
    return 0;
}

static double logit(double p)
{
    return log(p / (1.0 - p));
}

void dt_habits_free(struct dt_habits *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        dt_free(h->habit[i].phrase);
        dt_free(h->habit[i].word_hash);
    }
    dt_free(h->habit);
    dt_free(h);
}

static char *render(const char *text, const struct dt_word *w, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += 2 * (w[i].end - w[i].start) + 8; /* folding can grow a character */
    char *s = dt_malloc(total);
    if (!s)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[at++] = ' ';
        at += dt_text_fold_word(text, w[i].start, w[i].end, s + at, total - 1 - at);
    }
    s[at] = '\0';
    return s;
}

struct tok {
    struct dt_word *w;
    size_t n;
};

int dt_habits_learn(const struct dt_text_set *teacher, const struct dt_text_set *controls,
                    size_t n_controls, const struct dt_habits_params *params,
                    struct dt_habits **out, struct dt_error *err)
{
    struct dt_habits_params def;
    struct table all = {0}, surv = {0};
    struct tok *tt = NULL;
    uint32_t *ccount = NULL;
    struct ranked *rk = NULL;
    struct dt_habits *h = NULL;
    struct dt_word *cw = NULL;
    int rc = 0;
    if (!params) {
        dt_habits_params_default(&def);
        params = &def;
    }
    if (!teacher || (n_controls && !controls) || teacher->n >= UINT32_MAX - 1 ||
        params->min_ngram == 0 || params->min_ngram > params->max_ngram || params->max_ngram > 64 ||
        params->max_sentence_words > 256 || params->max_edge_words > 64 ||
        !(params->min_teacher_support >= 0.0) || !(params->max_control_ratio >= 0.0))
        return dt_error_set(err, DT_EINVAL, "invalid habit learning arguments");
    const size_t n_t = teacher->n;
    struct visit v = {params, params->max_ngram > params->max_sentence_words
                                  ? params->max_ngram
                                  : params->max_sentence_words};

    tt = dt_calloc(n_t ? n_t : 1, sizeof *tt);
    if (!tt)
        goto nomem;
    for (size_t i = 0; i < n_t; i++) {
        const char *text = teacher->text ? teacher->text[i] : NULL;
        if ((rc = dt_text_words(text, dt_text_set_len(teacher, i), &tt[i].w, &tt[i].n, err)))
            goto done;
        struct teacher_ctx tc = {&all, i};
        if (visit_text(&v, tt[i].w, tt[i].n, teacher_fn, &tc))
            goto nomem;
    }

    /* pass 2: survivors of the teacher support floor */
    double floor_d = ceil(params->min_teacher_support * (double)n_t - 1e-9);
    size_t floor_n =
        floor_d > (double)params->min_teacher_count ? (size_t)floor_d : params->min_teacher_count;
    if (floor_n == 0)
        floor_n = 1;
    size_t max_contig = 0;
    for (size_t i = 0; i < all.n; i++) {
        if (all.c[i].count < floor_n)
            continue;
        struct cand *s = table_get(&surv, all.c[i].key);
        if (!s)
            goto nomem;
        s->count = (uint32_t)(surv.n - 1); /* survivor index → its all-table candidate */
        s->text = (uint32_t)i;
        s->last = NONE;
        if (all.c[i].ck == CK_CONTIG && all.c[i].n_words > max_contig)
            max_contig = all.c[i].n_words;
    }
    const size_t n_s = surv.n;

    /* pass 3: control support of the survivors */
    ccount = dt_calloc(n_s && n_controls ? n_s : 1, (n_controls ? n_controls : 1) * sizeof *ccount);
    if (!ccount)
        goto nomem;
    struct visit vc = {params, max_contig};
    struct control_ctx cc = {&surv, ccount, n_controls, 0, 0};
    for (size_t c = 0; c < n_controls && n_s; c++) {
        cc.control = c;
        for (size_t j = 0; j < controls[c].n; j++) {
            size_t n_w = 0;
            const char *text = controls[c].text ? controls[c].text[j] : NULL;
            if ((rc = dt_text_words(text, dt_text_set_len(&controls[c], j), &cw, &n_w, err)))
                goto done;
            cc.stamp++;
            if (cc.stamp == NONE) { /* 2^32 control texts: restart stamps */
                for (size_t k = 0; k < n_s; k++)
                    surv.c[k].last = NONE;
                cc.stamp = 0;
            }
            visit_text(&vc, cw, n_w, control_fn, &cc);
            dt_free(cw);
            cw = NULL;
        }
    }

    /* pass 4: rank, select, de-duplicate */
    rk = dt_calloc(n_s ? n_s : 1, sizeof *rk);
    h = dt_calloc(1, sizeof *h);
    if (!rk || !h)
        goto nomem;
    size_t n_rk = 0;
    for (size_t k = 0; k < n_s; k++) {
        const struct cand *a = &all.c[surv.c[k].text];
        double t_sup = (double)a->count / (double)n_t;
        double c_max = 0.0, c_sum = 0.0, pc = 0.5;
        int pass = 1;
        for (size_t c = 0; c < n_controls; c++) {
            size_t nc = controls[c].n;
            double sup = nc ? (double)ccount[k * n_controls + c] / (double)nc : 0.0;
            c_sum += sup;
            if (sup > params->max_control_ratio * t_sup)
                pass = 0;
            if (c == 0 || sup > c_max) {
                c_max = sup;
                pc = ((double)ccount[k * n_controls + c] + 0.5) / ((double)nc + 1.0);
            }
        }
        if (!pass)
            continue;
        double pt = ((double)a->count + 0.5) / ((double)n_t + 1.0);
        rk[n_rk].cand = surv.c[k].text;
        rk[n_rk].score = logit(pt) - logit(pc);
        rk[n_rk].t_support = t_sup;
        rk[n_rk].c_max = c_max;
        rk[n_rk].c_mean = n_controls ? c_sum / (double)n_controls : 0.0;
        n_rk++;
    }
    qsort_r(rk, n_rk, sizeof *rk, cmp_ranked, all.c);
    h->n_teacher = n_t;
    h->n_controls = n_controls;
    h->n_candidates = n_s;
    size_t cap = params->max_habits < n_rk ? params->max_habits : n_rk;
    h->habit = dt_calloc(cap ? cap : 1, sizeof *h->habit);
    if (!h->habit)
        goto nomem;
    for (size_t r = 0; r < n_rk && h->n < cap; r++) {
        const struct cand *a = &all.c[rk[r].cand];
        const struct dt_word *w = tt[a->text].w + a->word;
        uint64_t hs[256];
        for (size_t i = 0; i < a->n_words; i++)
            hs[i] = w[i].hash;
        int redundant = 0;
        for (size_t s = 0; s < h->n && !redundant; s++) {
            const struct dt_habit *sel = &h->habit[s];
            if (contains(hs, a->n_words, sel->word_hash, sel->n_words))
                redundant = 1;
            else if (contains(sel->word_hash, sel->n_words, hs, a->n_words) &&
                     rk[r].t_support < 1.5 * sel->teacher_support)
                redundant = 1;
        }
        if (redundant)
            continue;
        struct dt_habit *hb = &h->habit[h->n];
        hb->kind = a->ck == CK_OPEN    ? DT_HABIT_OPENING
                   : a->ck == CK_CLOSE ? DT_HABIT_CLOSING
                   : a->sentence       ? DT_HABIT_SENTENCE
                                       : DT_HABIT_NGRAM;
        hb->n_words = a->n_words;
        hb->word_hash = dt_malloc_array(a->n_words, sizeof *hb->word_hash);
        hb->phrase = render(teacher->text[a->text], w, a->n_words);
        h->n++;
        if (!hb->word_hash || !hb->phrase)
            goto nomem;
        memcpy(hb->word_hash, hs, a->n_words * sizeof *hs);
        hb->teacher_count = a->count;
        hb->teacher_support = rk[r].t_support;
        hb->control_max = rk[r].c_max;
        hb->control_mean = rk[r].c_mean;
        hb->score = rk[r].score;
    }
    *out = h;
    h = NULL;
    goto done;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory learning habits from %zu teacher texts",
                      teacher->n);
done:
    for (size_t i = 0; tt && i < n_t; i++)
        dt_free(tt[i].w);
    dt_free(tt);
    dt_free(cw);
    dt_free(ccount);
    dt_free(rk);
    dt_habits_free(h);
    table_release(&all);
    table_release(&surv);
    return rc;
}

int dt_habits_score(const struct dt_habits *habits, const char *text, size_t n_bytes,
                    struct dt_habits_result *out, unsigned char *matched, struct dt_error *err)
{
    return dt_habits_score_at(habits, text, n_bytes, out, matched, NULL, err);
}

int dt_habits_score_at(const struct dt_habits *habits, const char *text, size_t n_bytes,
                       struct dt_habits_result *out, unsigned char *matched, size_t *first_word,
                       struct dt_error *err)
{
    struct dt_word *w = NULL;
    size_t n = 0;
    if (!habits || !out)
        return dt_error_set(err, DT_EINVAL, "habit scoring needs habits and an output");
    int rc = dt_text_words(text, text ? n_bytes : 0, &w, &n, err);
    if (rc)
        return rc;
    struct dt_habits_result r = {0, 0, 0.0};
    for (size_t k = 0; k < habits->n; k++) {
        const struct dt_habit *hb = &habits->habit[k];
        size_t m = hb->n_words;
        int hit = 0;
        if (m <= n) {
            size_t from = hb->kind == DT_HABIT_CLOSING ? n - m : 0;
            size_t to = hb->kind == DT_HABIT_OPENING   ? 0
                        : hb->kind == DT_HABIT_CLOSING ? n - m
                                                       : n - m;
            for (size_t i = from; i <= to && !hit; i++) {
                size_t j = 0;
                while (j < m && w[i + j].hash == hb->word_hash[j])
                    j++;
                hit = j == m;
                if (hit && first_word)
                    first_word[k] = i;
            }
        }
        if (matched)
            matched[k] = (unsigned char)hit;
        if (hit) {
            r.n_matched++;
            r.weighted += hb->score > 0 ? hb->score : 0.0;
        }
    }
    r.any = r.n_matched > 0;
    *out = r;
    dt_free(w);
    return 0;
}

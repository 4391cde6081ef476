/*
 * Sampling (greedy, temperature, top-k, top-p) and the generation loop; the order of
 * operations is documented in infer/sampler.h. Work buffers are allocated once per sampler
 * (n_vocab floats and ids), never per step. Randomness comes only from util/rng.h.
 */
#include "infer/sampler.h"
#include "infer/vecmath.h"

#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    float v;
    int32_t id;
};

struct dt_sampler {
    struct dt_sampler_params p;
    int n_vocab;
    struct dt_rng rng;
    float *work;      /* (n_vocab) processed logits */
    int32_t *ids;     /* (n_vocab) candidate ids */
    double *probs;    /* (n_vocab) */
    struct cand *cands; /* (n_vocab) for the full sort */
};

void dt_sampler_params_init(struct dt_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_p = 1.0f;
}

void dt_gen_params_init(struct dt_gen_params *p)
{
    memset(p, 0, sizeof *p);
    dt_sampler_params_init(&p->sampler);
    p->n_predict = 32;
    p->n_top = 5;
    p->stop = DT_STOP_EOG;
}

int dt_sampler_new(const struct dt_sampler_params *p, int n_vocab, struct dt_sampler **out,
                   struct dt_error *err)
{
    if (n_vocab <= 0)
        return dt_error_set(err, DT_EINVAL, "vocabulary of %d tokens", n_vocab);
    if (!isfinite(p->temperature) || !isfinite(p->top_p))
        return dt_error_set(err, DT_EINVAL, "temperature and top-p must be finite");
    struct dt_sampler *s = dt_calloc(1, sizeof *s);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    dt_rng_seed(&s->rng, p->seed);
    s->work = dt_malloc_array((size_t)n_vocab, sizeof(float));
    s->ids = dt_malloc_array((size_t)n_vocab, sizeof(int32_t));
    s->probs = dt_malloc_array((size_t)n_vocab, sizeof(double));
    s->cands = dt_malloc_array((size_t)n_vocab, sizeof *s->cands);
    if (!s->work || !s->ids || !s->probs || !s->cands) {
        dt_sampler_free(s);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

void dt_sampler_free(struct dt_sampler *s)
{
    if (!s)
        return;
    dt_free(s->work);
    dt_free(s->ids);
    dt_free(s->probs);
    dt_free(s->cands);
    dt_free(s);
}

double dt_logsumexp(const float *l, int n)
{
    return dt_vec_logsumexp(l, n > 0 ? (size_t)n : 0);
}

/* Descending by value, ascending id on ties: a total order, so results never depend on qsort. */
static int cmp_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void dt_top_k(const float *l, int n, int k, int32_t *ids)
{
    if (k > n)
        k = n;
    if (k <= 0)
        return; /* no alternatives asked: nothing to write (ids may have no room) */
    /* Insertion into a small sorted list: O(n k), k is small (<= 64 in practice). */
    int have = 0;
    for (int i = 0; i < n; i++) {
        float v = l[i];
        if (have == k && !(v > l[ids[k - 1]]))
            continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && v > l[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = i;
    }
}

int32_t dt_sampler_sample(struct dt_sampler *s, const float *logits, const int32_t *ctx,
                          size_t n_ctx)
{
    const int n = s->n_vocab;
    const int greedy = !(s->p.temperature > 0);
    const float inv_t = greedy ? 1.0f : 1.0f / s->p.temperature;
    float *w = s->work;
    for (int i = 0; i < n; i++)
        w[i] = logits[i] * inv_t;
    if (s->p.processor)
        s->p.processor(s->p.processor_ud, ctx, n_ctx, w, n);
    if (greedy) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (w[i] > w[best])
                best = i;
        return best;
    }
    int m = n;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        m = s->p.top_k;
        dt_top_k(w, n, m, s->ids);
    } else {
        for (int i = 0; i < n; i++)
            s->cands[i].v = w[i], s->cands[i].id = i;
        qsort(s->cands, (size_t)n, sizeof *s->cands, cmp_desc);
        for (int i = 0; i < n; i++)
            s->ids[i] = s->cands[i].id;
    }
    float mx = w[s->ids[0]];
    double sum = 0;
    for (int i = 0; i < m; i++) {
        s->probs[i] = isfinite(w[s->ids[i]]) ? exp((double)w[s->ids[i]] - mx) : 0.0;
        sum += s->probs[i];
    }
    if (s->p.top_p > 0 && s->p.top_p < 1) {
        double acc = 0;
        int keep = m;
        for (int i = 0; i < m; i++) {
            acc += s->probs[i] / sum;
            if (acc >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
        sum = 0;
        for (int i = 0; i < m; i++)
            sum += s->probs[i];
    }
    double u = dt_rng_uniform(&s->rng) * sum, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += s->probs[i];
        if (u < acc)
            return s->ids[i];
    }
    return s->ids[m - 1];
}

int dt_generate(const struct dt_model *m, struct dt_session *s, const int32_t *prompt, size_t n_prompt,
                const struct dt_gen_params *p, dt_gen_cb cb, void *ud, size_t *n_generated,
                struct dt_error *err)
{
    const struct dt_model_config *c = dt_model_config(m);
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    struct dt_sampler *smp = NULL;
    int32_t *ctx = NULL, *top = NULL;
    float *top_lp = NULL;
    size_t n_gen = 0;
    int rc;
    if (n_prompt == 0)
        return dt_error_set(err, DT_EINVAL, "generation needs a prompt of at least one token");
    if (p->n_predict < 0 || p->n_top < 0 || p->n_top > 64)
        return dt_error_set(err, DT_EINVAL, "n_predict must be >= 0 and n_top in 0..64");
    size_t n_ctx = (size_t)dt_session_n_ctx(s);
    if (n_prompt > n_ctx || (size_t)p->n_predict > n_ctx - n_prompt)
        return dt_error_set(err, DT_EINVAL, "prompt of %zu tokens plus %d new ones exceed the context of %zu",
                            n_prompt, p->n_predict, n_ctx);
    if ((rc = dt_sampler_new(&p->sampler, c->n_vocab, &smp, err)))
        return rc;
    ctx = dt_malloc_array(n_prompt + (size_t)p->n_predict, sizeof *ctx);
    top = dt_malloc_array((size_t)p->n_top + 1, sizeof *top);
    top_lp = dt_malloc_array((size_t)p->n_top + 1, sizeof *top_lp);
    if (!ctx || !top || !top_lp) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(ctx, prompt, n_prompt * sizeof *ctx);
    dt_session_reset(s);
    if ((rc = dt_session_eval(s, prompt, n_prompt, err)))
        goto out;
    int32_t eos = tok ? dt_tokenizer_eos(tok) : -1;
    for (int i = 0; i < p->n_predict; i++) {
        const float *logits = dt_session_logits(s);
        int32_t id = dt_sampler_sample(smp, logits, ctx, n_prompt + n_gen);
        double lse = dt_logsumexp(logits, c->n_vocab);
        dt_top_k(logits, c->n_vocab, p->n_top, top);
        for (int k = 0; k < p->n_top; k++)
            top_lp[k] = (float)(logits[top[k]] - lse);
        int eog = 0;
        if (p->stop == DT_STOP_EOG)
            eog = tok && dt_tokenizer_is_eog(tok, id);
        else if (p->stop == DT_STOP_EOS)
            eog = id == eos;
        struct dt_gen_token gt = {id, n_gen, (float)(logits[id] - lse), p->n_top, top, top_lp, eog};
        ctx[n_prompt + n_gen++] = id;
        if (cb && (rc = cb(ud, &gt)))
            goto out;
        if (eog || i + 1 == p->n_predict)
            break;
        if ((rc = dt_session_eval(s, &id, 1, err)))
            goto out;
    }
out:
    if (n_generated)
        *n_generated = n_gen;
    dt_free(top_lp);
    dt_free(top);
    dt_free(ctx);
    dt_sampler_free(smp);
    return rc;
}

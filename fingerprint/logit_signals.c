/*
 * The logit pass behind next_token_js and teacher_agreement. Sequences are scored in chunks:
 * the teacher's log-softmax rows of a chunk are kept (chunk positions x vocabulary floats,
 * capped near 64 MiB), then every other model scores the same chunk and is compared position
 * by position in the callback, so memory does not grow with the number of probes. Top tokens
 * of every model at every position are kept (one int32 each) for the agreement signal.
 */
#include "fingerprint/logit_signals.h"

#include "fingerprint/measurement.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHUNK_FLOATS ((size_t)16 << 20) /* 64 MiB of teacher log-probs per chunk */

struct pass {
    int n_v;              /* compared vocabulary: the teacher tokenizer's size */
    size_t *pos_base;     /* global index of each sequence's first scored position */
    size_t chunk_first;   /* first sequence of the chunk */
    size_t chunk_base;    /* global index of the chunk's first scored position */
    float *t_logp;        /* teacher log-probs of the chunk: (chunk positions, n_v) */
    int32_t *top;         /* top token: (n_models + 1, total positions); row 0 the teacher */
    size_t n_pos;         /* total scored positions */
    size_t col;           /* row of `top` being filled (0 teacher, j+1 model j) */
    const size_t *lens;
    double *js_sum;       /* per sequence, for the current model */
    float *scratch;       /* n_v */
    /* logit subspace: centred teacher log-prob rows of the first chunk, and the orthonormal
     * basis (r x n_v, row-major) of the space they span */
    float *sub_rows;      /* (n_sub_cap, n_v) */
    size_t n_sub, n_sub_cap;
    float *basis;         /* (r, n_v) */
    int r;
    float *proj;          /* r */
    double *sub_sum;      /* per sequence, for the current model */
};

/* Centres a log-prob row in place (subtracts its mean): log-probs are logits shifted by a
 * per-position constant, and the subspace must not depend on that shift. */
static void centre(float *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m += v[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v[i] -= (float)m;
}

static void log_softmax(const float *logits, int n, float *out)
{
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(s);
    for (int i = 0; i < n; i++)
        out[i] = logits[i] - lse;
}

static int32_t argmax(const float *v, int n)
{
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static int teacher_cb(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct pass *p = ud;
    size_t s = p->chunk_first + i_seq;
    if (i_pos + 1 >= p->lens[s])
        return 0; /* the last position predicts nothing we can check */
    size_t g = p->pos_base[s] + i_pos;
    float *row = p->t_logp + (g - p->chunk_base) * (size_t)p->n_v;
    log_softmax(logits, p->n_v, row);
    p->top[g] = argmax(row, p->n_v);
    if (!p->basis && p->n_sub < p->n_sub_cap) {
        float *dst = p->sub_rows + p->n_sub * (size_t)p->n_v;
        memcpy(dst, row, (size_t)p->n_v * sizeof *dst);
        centre(dst, p->n_v);
        p->n_sub++;
    }
    return 0;
}

static int model_cb(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct pass *p = ud;
    size_t s = p->chunk_first + i_seq;
    if (i_pos + 1 >= p->lens[s])
        return 0;
    size_t g = p->pos_base[s] + i_pos;
    const float *t = p->t_logp + (g - p->chunk_base) * (size_t)p->n_v;
    float *q = p->scratch;
    log_softmax(logits, p->n_v, q);
    double js = 0;
    for (int i = 0; i < p->n_v; i++) {
        double a = exp((double)t[i]), b = exp((double)q[i]), m = 0.5 * (a + b);
        if (m <= 0)
            continue;
        double lm = log(m);
        if (a > 0)
            js += 0.5 * a * ((double)t[i] - lm);
        if (b > 0)
            js += 0.5 * b * ((double)q[i] - lm);
    }
    p->js_sum[s] += js > 0 ? js : 0;
    p->top[p->col * p->n_pos + g] = argmax(q, p->n_v);
    if (p->basis) {
        centre(q, p->n_v);
        double nq = 0, np = 0;
        for (int i = 0; i < p->n_v; i++)
            nq += (double)q[i] * q[i];
        cblas_sgemv(CblasRowMajor, CblasNoTrans, p->r, p->n_v, 1.0f, p->basis, p->n_v, q, 1, 0.0f,
                    p->proj, 1);
        for (int k = 0; k < p->r; k++)
            np += (double)p->proj[k] * p->proj[k];
        p->sub_sum[s] += nq > 0 ? np / nq : 0;
    }
    return 0;
}

/* The orthonormal basis of the span of the collected teacher rows R (n x v): eigenvectors
 * U of the Gram matrix R R^T give B^T = L^{-1/2} U^T R. Directions whose eigenvalue is below
 * 1e-6 of the largest are numerical noise and dropped; at most r_max are kept (the teacher's
 * hidden width + 1 bounds the rank of its logits). Returns 0, or -1 on allocation failure. */
static int build_basis(struct pass *p, int r_max)
{
    int n = (int)p->n_sub, v = p->n_v;
    if (n < 2)
        return 0;
    float *gram = dt_malloc_array((size_t)n * (size_t)n, sizeof(float));
    float *w = dt_malloc_array((size_t)n, sizeof(float));
    int rc = -1;
    if (!gram || !w)
        goto out;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, v, 1.0f, p->sub_rows, v, 0.0f, gram, n);
    if (LAPACKE_ssyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, gram, n, w) != 0) {
        rc = 0; /* no basis: the signal is reported as not applicable */
        goto out;
    }
    /* eigenvalues ascend; keep the largest */
    int r = 0;
    float top = w[n - 1];
    while (r < n && r < r_max && w[n - 1 - r] > top * 1e-6f && w[n - 1 - r] > 0)
        r++;
    if (r == 0) {
        rc = 0;
        goto out;
    }
    p->basis = dt_malloc_array((size_t)r * (size_t)v, sizeof(float));
    p->proj = dt_malloc_array((size_t)r, sizeof(float));
    if (!p->basis || !p->proj)
        goto out;
    /* rows of U^T for the kept eigenvectors, scaled by 1/sqrt(lambda) */
    float *ut = dt_malloc_array((size_t)r * (size_t)n, sizeof(float));
    if (!ut)
        goto out;
    for (int k = 0; k < r; k++) {
        int col = n - 1 - k;
        float sc = 1.0f / sqrtf(w[col]);
        for (int i = 0; i < n; i++)
            ut[(size_t)k * n + i] = gram[(size_t)i * n + col] * sc;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, v, n, 1.0f, ut, n, p->sub_rows, v,
                0.0f, p->basis, v);
    dt_free(ut);
    p->r = r;
    rc = 0;
out:
    dt_free(gram);
    dt_free(w);
    return rc;
}

static int qualifies(const struct dt_ctx *teacher, const struct dt_ctx *x)
{
    if (!x)
        return 0;
    const struct dt_model *m = dt_ctx_model(x);
    const struct dt_tokenizer *tt = dt_model_tokenizer(dt_ctx_model(teacher)),
                              *mt = dt_model_tokenizer(m);
    return tt && mt && dt_tokenizer_ids_compatible(tt, mt) &&
           dt_model_config(m)->n_vocab >= dt_tokenizer_n_vocab(tt);
}

int dt_signal_logits_run(struct dt_ctx *teacher, struct dt_ctx *const *models,
                         size_t n_models, const int32_t *const *seqs, const size_t *lens,
                         size_t n_seqs, struct dt_measurement *js, struct dt_measurement *agree,
                         struct dt_measurement *sub, struct dt_error *err)
{
    size_t n_controls = n_models ? n_models - 1 : 0;
    dt_measurement_init(js, "next_token_js", DT_SIGNAL_CLOSENESS);
    dt_measurement_init(agree, "teacher_agreement", DT_SIGNAL_CLOSENESS);
    dt_measurement_init(sub, "logit_subspace", DT_SIGNAL_CLOSENESS);
    struct pass p = {0};
    int rc = 0;
    if (dt_measurement_alloc(js, n_controls, n_seqs) || dt_measurement_alloc(agree, n_controls, n_seqs) ||
        dt_measurement_alloc(sub, n_controls, n_seqs))
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!teacher || !dt_model_tokenizer(dt_ctx_model(teacher))) {
        dt_measurement_skip(js, "the teacher's weights are not available");
        dt_measurement_skip(agree, "the teacher's weights are not available");
        dt_measurement_skip(sub, "the teacher's weights are not available");
        return 0;
    }
    if (!qualifies(teacher, models[0])) {
        const char *why = models[0] ? "the suspect's tokenizer differs from the teacher's, so "
                                      "next-token distributions do not line up"
                                    : "the suspect's weights are not available";
        dt_measurement_skip(js, "%s", why);
        dt_measurement_skip(agree, "%s", why);
        dt_measurement_skip(sub, "%s", why);
        return 0;
    }
    size_t n_qual = 0;
    for (size_t j = 1; j < n_models; j++)
        n_qual += qualifies(teacher, models[j]);
    if (n_qual == 0) {
        dt_measurement_skip(js, "no control model shares the teacher's tokenizer");
        dt_measurement_skip(agree, "no control model shares the teacher's tokenizer");
        dt_measurement_skip(sub, "no control model shares the teacher's tokenizer");
        return 0;
    }
    p.n_v = dt_tokenizer_n_vocab(dt_model_tokenizer(dt_ctx_model(teacher)));
    p.lens = lens;
    p.pos_base = dt_malloc_array(n_seqs ? n_seqs : 1, sizeof(size_t));
    p.js_sum = dt_malloc_array(n_seqs ? n_seqs : 1, sizeof(double));
    p.scratch = dt_malloc_array((size_t)p.n_v, sizeof(float));
    p.sub_sum = dt_malloc_array(n_seqs ? n_seqs : 1, sizeof(double));
    /* subspace rows: up to 512 positions, and at most a quarter of the chunk budget */
    p.n_sub_cap = CHUNK_FLOATS / 4 / (size_t)p.n_v;
    if (p.n_sub_cap > 512)
        p.n_sub_cap = 512;
    p.sub_rows = dt_malloc_array(p.n_sub_cap ? p.n_sub_cap : 1, (size_t)p.n_v * sizeof(float));
    if (!p.pos_base || !p.js_sum || !p.scratch || !p.sub_sum || !p.sub_rows) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t s = 0; s < n_seqs; s++) {
        p.pos_base[s] = p.n_pos;
        p.n_pos += lens[s] > 1 ? lens[s] - 1 : 0;
    }
    p.top = dt_malloc_array((n_models + 1) * (p.n_pos ? p.n_pos : 1), sizeof(int32_t));
    size_t max_chunk_pos = CHUNK_FLOATS / (size_t)p.n_v;
    if (max_chunk_pos < 256)
        max_chunk_pos = 256;
    p.t_logp = dt_malloc_array(max_chunk_pos, (size_t)p.n_v * sizeof(float));
    if (!p.top || !p.t_logp) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for the logit pass");
        goto out;
    }
    for (size_t i = 0; i < (n_models + 1) * p.n_pos; i++)
        p.top[i] = -1;
    /* chunk loop: teacher first, then every qualifying model on the same chunk */
    for (size_t first = 0; first < n_seqs;) {
        size_t last = first, n_pos = 0;
        while (last < n_seqs) {
            size_t add = lens[last] > 1 ? lens[last] - 1 : 0;
            if (last > first && n_pos + add > max_chunk_pos)
                break;
            if (add > max_chunk_pos) {
                rc = dt_error_set(err, DT_EINVAL, "probe %zu is too long for the logit pass", last);
                goto out;
            }
            n_pos += add;
            last++;
        }
        p.chunk_first = first;
        p.chunk_base = p.pos_base[first];
        if ((rc = dt_ctx_score_batch(teacher, seqs + first, lens + first, last - first,
                                     teacher_cb, &p, err)) != 0)
            goto out;
        if (!p.basis && build_basis(&p, dt_model_config(dt_ctx_model(teacher))->dim + 1) != 0) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for the logit subspace");
            goto out;
        }
        /* rows are only collected from the first chunk */
        p.n_sub_cap = 0;
        for (size_t j = 0; j < n_models; j++) {
            if (!qualifies(teacher, models[j]))
                continue;
            for (size_t s = first; s < last; s++)
                p.js_sum[s] = p.sub_sum[s] = 0;
            p.col = j + 1;
            if ((rc = dt_ctx_score_batch(models[j], seqs + first, lens + first, last - first,
                                         model_cb, &p, err)) != 0)
                goto out;
            for (size_t s = first; s < last; s++) {
                size_t np = lens[s] > 1 ? lens[s] - 1 : 0;
                js->scores[s * (n_models) + j] = np ? -p.js_sum[s] / (double)np : NAN;
                sub->scores[s * n_models + j] = np && p.basis ? p.sub_sum[s] / (double)np : NAN;
            }
        }
        first = last;
    }
    /* teacher-specific agreement: each column against the majority of the other columns */
    for (size_t s = 0; s < n_seqs; s++) {
        size_t np = lens[s] > 1 ? lens[s] - 1 : 0;
        for (size_t j = 0; j < n_models; j++) {
            if (!qualifies(teacher, models[j]))
                continue;
            size_t dep = 0, follow = 0;
            for (size_t k = 0; k < np; k++) {
                size_t g = p.pos_base[s] + k;
                int32_t t = p.top[g];
                /* majority among the other qualifying columns */
                int32_t cand = -1;
                size_t votes = 0, n_other = 0;
                for (size_t o = 0; o < n_models; o++) {
                    int32_t v = p.top[(o + 1) * p.n_pos + g];
                    if (o == j || v < 0)
                        continue;
                    n_other++;
                    size_t c = 0;
                    for (size_t o2 = 0; o2 < n_models; o2++)
                        if (o2 != j && p.top[(o2 + 1) * p.n_pos + g] == v)
                            c++;
                    if (c > votes) {
                        votes = c;
                        cand = v;
                    }
                }
                if (n_other == 0 || 2 * votes <= n_other || cand == t)
                    continue;
                dep++;
                follow += p.top[(j + 1) * p.n_pos + g] == t;
            }
            agree->scores[s * n_models + j] = dep ? (double)follow / (double)dep : NAN;
        }
    }
    for (size_t j = 0; j < n_models; j++) {
        double sj = 0, sa = 0, ss = 0;
        size_t cj = 0, ca = 0, cs = 0;
        for (size_t s = 0; s < n_seqs; s++) {
            double v = js->scores[s * n_models + j], a = agree->scores[s * n_models + j];
            double u = sub->scores[s * n_models + j];
            if (!isnan(u)) {
                ss += u;
                cs++;
            }
            if (!isnan(v)) {
                sj += -v;
                cj++;
            }
            if (!isnan(a)) {
                sa += a;
                ca++;
            }
        }
        double mj = cj ? sj / (double)cj : NAN, ma = ca ? sa / (double)ca : NAN;
        double mu = cs ? ss / (double)cs : NAN;
        if (j == 0) {
            js->statistic = mj;
            agree->statistic = ma;
            sub->statistic = mu;
        } else {
            js->control_stats[j - 1] = mj;
            agree->control_stats[j - 1] = ma;
            sub->control_stats[j - 1] = mu;
        }
    }
    js->test = DT_TEST_PAIRED;
    agree->test = DT_TEST_PAIRED;
    if (p.basis) {
        sub->test = DT_TEST_PAIRED;
        snprintf(sub->note, sizeof sub->note,
                 "the teacher's logit vectors span %d dimensions (softmax bottleneck); %.1f%% of "
                 "the variance of the suspect's centred log-probabilities lies in that subspace",
                 p.r, 100 * sub->statistic);
    } else {
        dt_measurement_skip(sub, "too few positions to estimate the teacher's logit subspace");
    }
    snprintf(js->note, sizeof js->note,
             "mean Jensen-Shannon divergence between the teacher's and the suspect's next-token "
             "distributions over %zu positions of %zu probes: %.4f nats (lower is closer)",
             p.n_pos, n_seqs, js->statistic);
    snprintf(agree->note, sizeof agree->note,
             "where the teacher's top token departs from the other models' majority, the "
             "suspect picks the teacher's token %.1f%% of the time",
             100 * agree->statistic);
out:
    dt_free(p.pos_base);
    dt_free(p.js_sum);
    dt_free(p.scratch);
    dt_free(p.top);
    dt_free(p.t_logp);
    dt_free(p.sub_rows);
    dt_free(p.sub_sum);
    dt_free(p.basis);
    dt_free(p.proj);
    return rc;
}

/*
 * Generator preference (see preference.h). Each model scores prompt + continuation texts in
 * one batched pass; the log-probabilities of the tokens from the first token that reaches past
 * the prompt's bytes onward are summed and divided by the bytes they cover, so tokenizers
 * that merge across the prompt boundary are treated alike.
 */
#include "fingerprint/preference.h"

#include "fingerprint/measurement.h"
#include "fingerprint/party.h"
#include "infer/model.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct scored {
    size_t *first;  /* per text: first scored token */
    double *lp;     /* per text: summed log-probability */
    int32_t **ids;
    size_t *lens;
};

struct score_ctx {
    struct scored sc;
    int n_vocab;
};

static int score_cb2(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct score_ctx *c = ud;
    size_t next = i_pos + 1;
    if (next >= c->sc.lens[i_seq] || next < c->sc.first[i_seq])
        return 0;
    double lse = dt_logsumexp(logits, c->n_vocab);
    c->sc.lp[i_seq] += (double)logits[c->sc.ids[i_seq][next]] - lse;
    return 0;
}

/* Scores texts[i] = prompts[i] + conts[i] on context x: out[i] = mean log-prob per byte of
 * the continuation (NaN when the continuation is missing or empty). */
static int score_texts(struct dt_ctx *x, const char *const *prompts, const char *const *conts,
                       size_t n, double *out, struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    struct score_ctx c = {{0}, dt_model_config(m)->n_vocab};
    size_t *bytes = dt_calloc(n ? n : 1, sizeof(size_t));
    const int32_t **seqs = dt_calloc(n ? n : 1, sizeof(int32_t *));
    size_t *map = dt_calloc(n ? n : 1, sizeof(size_t));
    char *buf = NULL;
    int rc = 0;
    c.sc.first = dt_calloc(n ? n : 1, sizeof(size_t));
    c.sc.lp = dt_calloc(n ? n : 1, sizeof(double));
    c.sc.ids = dt_calloc(n ? n : 1, sizeof(int32_t *));
    c.sc.lens = dt_calloc(n ? n : 1, sizeof(size_t));
    if (!bytes || !seqs || !map || !c.sc.first || !c.sc.lp || !c.sc.ids || !c.sc.lens) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    size_t n_run = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (!conts[i] || !conts[i][0] || !prompts[i])
            continue;
        size_t np = strlen(prompts[i]), nc = strlen(conts[i]);
        dt_free(buf);
        buf = dt_malloc(np + nc + 1);
        if (!buf) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(buf, prompts[i], np);
        memcpy(buf + np, conts[i], nc + 1);
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if ((rc = dt_tokenizer_encode(tok, buf, np + nc, 0, &ids, &n_ids, err)) != 0)
            goto out;
        /* first token whose bytes reach past the prompt */
        size_t off = 0, first = n_ids;
        for (size_t t = 0; t < n_ids; t++) {
            size_t tb = 0;
            dt_tokenizer_token_bytes(tok, ids[t], &tb);
            if (off + tb > np) {
                first = t;
                break;
            }
            off += tb;
        }
        if (first == 0 || first >= n_ids) {
            /* nothing to condition on, or nothing to score: skip this probe */
            dt_free(ids);
            continue;
        }
        c.sc.ids[n_run] = ids;
        c.sc.lens[n_run] = n_ids;
        c.sc.first[n_run] = first;
        bytes[n_run] = np + nc - off;
        seqs[n_run] = ids;
        map[n_run] = i;
        n_run++;
    }
    if (n_run && (rc = dt_ctx_score_batch(x, seqs, c.sc.lens, n_run, score_cb2, &c, err)) != 0)
        goto out;
    for (size_t r = 0; r < n_run; r++)
        out[map[r]] = bytes[r] ? c.sc.lp[r] / (double)bytes[r] : NAN;
out:
    if (c.sc.ids)
        for (size_t i = 0; i < n; i++)
            dt_free(c.sc.ids[i]);
    dt_free(c.sc.ids);
    dt_free(c.sc.first);
    dt_free(c.sc.lp);
    dt_free(c.sc.lens);
    dt_free(bytes);
    dt_free(seqs);
    dt_free(map);
    dt_free(buf);
    return rc;
}

int dt_signal_preference_run(const struct dt_party *teacher, const struct dt_party *suspect,
                             const struct dt_party *const *controls, size_t n_controls,
                             const char *const *prompts, size_t n_prompts,
                             struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "generator_preference", DT_SIGNAL_CLOSENESS);
    size_t n_cols = n_controls + 1;
    const char **t_conts = NULL, **own = NULL;
    double *lp_t = NULL, *lp_own = NULL;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, n_prompts) != 0)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!suspect->ctx) {
        dt_measurement_skip(m, "the suspect's weights are not available to score texts");
        return 0;
    }
    t_conts = dt_calloc(n_prompts + 1, sizeof *t_conts);
    own = dt_calloc(n_prompts + 1, sizeof *own);
    lp_t = dt_calloc(n_prompts + 1, sizeof *lp_t);
    lp_own = dt_calloc(n_prompts + 1, sizeof *lp_own);
    if (!t_conts || !own || !lp_t || !lp_own) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_prompts; i++)
        t_conts[i] = dt_party_answer(teacher, DT_SET_TEXT, i, 0);
    size_t n_rated = 0;
    for (size_t col = 0; col < n_cols; col++) {
        const struct dt_party *p = col == 0 ? suspect : controls[col - 1];
        if (!p->ctx)
            continue;
        for (size_t i = 0; i < n_prompts; i++)
            own[i] = dt_party_answer(p, DT_SET_TEXT, i, 0);
        if ((rc = score_texts(p->ctx, prompts, t_conts, n_prompts, lp_t, err)) != 0 ||
            (rc = score_texts(p->ctx, prompts, own, n_prompts, lp_own, err)) != 0)
            goto out;
        n_rated++;
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n_prompts; i++) {
            double v = (!isnan(lp_t[i]) && !isnan(lp_own[i])) ? lp_t[i] - lp_own[i] : NAN;
            m->scores[i * n_cols + col] = v;
            if (!isnan(v)) {
                sum += v;
                cnt++;
            }
        }
        double mean = cnt ? sum / (double)cnt : NAN;
        if (col == 0)
            m->statistic = mean;
        else
            m->control_stats[col - 1] = mean;
    }
    if (n_rated < 2) {
        dt_measurement_skip(m, "no control model has weights to score texts");
        goto out;
    }
    m->test = DT_TEST_PAIRED;
    snprintf(m->note, sizeof m->note,
             "per byte, the suspect rates the teacher's continuations of %zu prompts %.3f nats "
             "%s likely than its own continuations (a model trained on the teacher's samples "
             "rates them almost as its own)",
             n_prompts, fabs(m->statistic), m->statistic < 0 ? "less" : "more");
out:
    dt_free(t_conts);
    dt_free(own);
    dt_free(lp_t);
    dt_free(lp_own);
    return rc;
}

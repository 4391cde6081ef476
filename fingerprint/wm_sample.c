/*
 * Model-side watermark measurements: sampling with or without the green-list bias, text-mode
 * counting of sampled text (re-tokenized with the teacher's tokenizer when the tokenizers
 * differ) and green masses on contexts for the logit mode.
 *
 * Sizes: a sample is at most the model's training context (the zoo: 256 tokens); the logits
 * buffer is one n_vocab row. Contexts are one per distinct prev, so at most n_vocab of them.
 */
#include "fingerprint/wm_sample.h"

#include "infer/model.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

const char *const dt_wm_default_prompts[] = {
    "The",      "In the",       "It was",  "He said that", "One of the most", "There is",
    "When the", "I think",      "This is", "She",          "After the war,",  "The first",
    "We have",  "According to", "If you",  "They",
};
const size_t dt_wm_n_default_prompts = sizeof dt_wm_default_prompts / sizeof *dt_wm_default_prompts;

void dt_wm_samples_release(struct dt_wm_samples *s)
{
    for (size_t i = 0; s->ids && i < s->n; i++)
        dt_free(s->ids[i]);
    dt_free(s->ids);
    dt_free(s->n_ids);
    dt_free(s->n_prompt);
    dt_free(s->i_prompt);
    dt_free(s->nll);
    memset(s, 0, sizeof *s);
}

struct gen_acc {
    int32_t *buf; /* prompt ids then generated ids */
    size_t n, cap;
    double nll;
};

static int gen_cb(void *ud, const struct dt_gen_token *tok)
{
    struct gen_acc *g = ud;
    if (g->n >= g->cap)
        return DT_EINTERNAL;
    g->buf[g->n++] = tok->id;
    /* the model's own log-probability, without temperature or watermark */
    g->nll -= (double)tok->logprob;
    return 0;
}

int dt_wm_generate(struct dt_ctx *x, const char *const *prompts, size_t n_prompts,
                   const struct dt_wm_gen_opts *o, struct dt_wm_samples *out, struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    const struct dt_model_config *cfg = dt_model_config(m);
    struct dt_wm_samples s = {0};
    struct dt_session *sess = NULL;
    struct dt_wm_greenlists *green = NULL;
    struct gen_acc acc = {0};
    int32_t *pids = NULL;
    size_t total;
    int rc = 0;

    if (n_prompts == 0 || o->n_samples <= 0 || o->max_tokens <= 0 || !(o->temperature > 0.0f) ||
        !(o->top_p > 0.0f && o->top_p <= 1.0f)) {
        rc = dt_error_set(err, DT_EINVAL,
                          "generation needs prompts, samples, tokens, a "
                          "temperature > 0 and top-p in (0, 1]");
        goto done;
    }
    if (dt_mul_overflow(n_prompts, (size_t)o->n_samples, &total)) {
        rc = dt_error_set(err, DT_EINVAL, "too many samples");
        goto done;
    }
    s.ids = dt_calloc(total, sizeof *s.ids);
    s.n_ids = dt_calloc(total, sizeof *s.n_ids);
    s.n_prompt = dt_calloc(total, sizeof *s.n_prompt);
    s.i_prompt = dt_calloc(total, sizeof *s.i_prompt);
    s.nll = dt_calloc(total, sizeof *s.nll);
    if (!s.ids || !s.n_ids || !s.n_prompt || !s.i_prompt || !s.nll) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu samples", total);
        goto done;
    }
    if (o->wm) {
        /* the green list covers the whole logit row, padded rows included: the spec's
         * l'[t] = l[t] / T + delta * green(prev, t) is defined for every t */
        rc = dt_wm_greenlists_new(o->wm, (size_t)cfg->n_vocab, &green, err);
        if (rc)
            goto done;
    }
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.sampler.temperature = o->temperature;
    gp.sampler.top_p = o->top_p;
    if (green) {
        gp.sampler.processor = dt_wm_logits_processor;
        gp.sampler.processor_ud = green;
    }
    gp.n_top = 1; /* unused; 0 trips dt_top_k's k - 1 index in the first sampler version */
    gp.stop = o->ignore_eog ? DT_STOP_NONE : DT_STOP_EOG;
    int n_ctx = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : 2048;
    rc = dt_session_new(x, n_ctx, &sess, err);
    if (rc)
        goto done;

    for (size_t ip = 0; ip < n_prompts; ip++) {
        size_t n_pids = 0;
        dt_free(pids);
        pids = NULL;
        rc = dt_tokenizer_encode(tok, prompts[ip], strlen(prompts[ip]), 1, &pids, &n_pids, err);
        if (rc)
            goto done;
        if (n_pids == 0 || n_pids >= (size_t)n_ctx) {
            rc = dt_error_set(err, DT_EINVAL, "prompt '%.40s' has %zu tokens; it needs 1 to %d",
                              prompts[ip], n_pids, n_ctx - 1);
            goto done;
        }
        size_t n_predict = (size_t)o->max_tokens;
        if (n_predict > (size_t)n_ctx - n_pids)
            n_predict = (size_t)n_ctx - n_pids;
        gp.n_predict = (int)n_predict;
        for (int k = 0; k < o->n_samples; k++) {
            size_t i_s = s.n;
            acc.cap = n_pids + n_predict;
            acc.buf = dt_malloc_array(acc.cap, sizeof *acc.buf);
            if (!acc.buf) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory for a sample");
                goto done;
            }
            memcpy(acc.buf, pids, n_pids * sizeof *acc.buf);
            acc.n = n_pids;
            acc.nll = 0.0;
            /* one stream per sample, reproducible whatever the number of prompts */
            gp.sampler.seed = o->seed * 0x9E3779B97F4A7C15ull + i_s;
            rc = dt_generate(m, sess, pids, n_pids, &gp, gen_cb, &acc, NULL, err);
            if (rc) {
                if (rc > 0)
                    rc = dt_error_set(err, DT_EINTERNAL, "generation overran its buffer");
                goto done;
            }
            s.ids[i_s] = acc.buf;
            acc.buf = NULL;
            s.n_ids[i_s] = acc.n;
            s.n_prompt[i_s] = n_pids;
            s.i_prompt[i_s] = ip;
            s.nll[i_s] = acc.nll;
            s.n++;
        }
    }
    *out = s;
    memset(&s, 0, sizeof s);
done:
    dt_free(acc.buf);
    dt_free(pids);
    dt_session_free(sess);
    dt_wm_greenlists_free(green);
    dt_wm_samples_release(&s);
    return rc;
}

int dt_wm_samples_detect(const struct dt_wm_samples *s, const struct dt_tokenizer *model_tok,
                         const struct dt_tokenizer *teacher_tok, struct dt_wm_detector *d,
                         struct dt_error *err)
{
    int same = !strcmp(dt_tokenizer_hash(model_tok), dt_tokenizer_hash(teacher_tok));
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        size_t np = s->n_prompt[i], n = s->n_ids[i];
        if (n <= np)
            continue;
        if (same) {
            rc = dt_wm_detector_add(d, s->ids[i] + np - 1, n - np + 1, NULL, err);
            continue;
        }
        char *text = NULL;
        size_t n_text = 0, n_re = 0;
        int32_t *re = NULL;
        rc = dt_tokenizer_decode(model_tok, s->ids[i] + np, n - np, 0, &text, &n_text, err);
        if (!rc)
            rc = dt_tokenizer_encode(teacher_tok, text, n_text, 0, &re, &n_re, err);
        if (!rc)
            rc = dt_wm_detector_add(d, re, n_re, NULL, err);
        dt_free(text);
        dt_free(re);
    }
    return rc;
}

void dt_wm_contexts_release(struct dt_wm_contexts *c)
{
    dt_free(c->i_seq);
    dt_free(c->i_pos);
    dt_free(c->prev);
    memset(c, 0, sizeof *c);
}

int dt_wm_contexts_select(const struct dt_wm_samples *s, size_t n_vocab, struct dt_wm_contexts *out,
                          struct dt_error *err)
{
    struct dt_wm_contexts c = {0};
    uint8_t *seen = dt_calloc(n_vocab ? n_vocab : 1, 1);
    int rc = 0;
    c.i_seq = dt_malloc_array(n_vocab ? n_vocab : 1, sizeof *c.i_seq);
    c.i_pos = dt_malloc_array(n_vocab ? n_vocab : 1, sizeof *c.i_pos);
    c.prev = dt_malloc_array(n_vocab ? n_vocab : 1, sizeof *c.prev);
    if (!seen || !c.i_seq || !c.i_pos || !c.prev) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu contexts", n_vocab);
        goto done;
    }
    for (size_t i = 0; i < s->n; i++) {
        /* the last id has no scored continuation in the sample, but its next-token
         * distribution is still a context: keep every position */
        for (size_t p = 0; p < s->n_ids[i]; p++) {
            int32_t t = s->ids[i][p];
            if (t < 0 || (size_t)t >= n_vocab || seen[t])
                continue;
            seen[t] = 1;
            c.i_seq[c.n] = (uint32_t)i;
            c.i_pos[c.n] = (uint32_t)p;
            c.prev[c.n] = (uint32_t)t;
            c.n++;
        }
    }
    *out = c;
    memset(&c, 0, sizeof c);
done:
    dt_free(seen);
    dt_wm_contexts_release(&c);
    return rc;
}

struct mass_ctx {
    const struct dt_wm_contexts *c;
    int32_t *where; /* (n_seq, max_len) context index per position or -1 */
    size_t max_len;
    struct dt_wm_greenlists *green;
    size_t n_vocab;
    double *mass, *sum_p2;
};

static int mass_cb(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct mass_ctx *mc = ud;
    int32_t j = mc->where[i_seq * mc->max_len + i_pos];
    if (j < 0)
        return 0;
    const uint64_t *bits = dt_wm_greenlists_get(mc->green, mc->c->prev[j]);
    mc->mass[j] = dt_wm_green_mass(bits, logits, mc->n_vocab, &mc->sum_p2[j]);
    return 0;
}

int dt_wm_green_masses(struct dt_ctx *x, const struct dt_wm_samples *s,
                       const struct dt_wm_contexts *c, const struct dt_wm_params *wm,
                       size_t n_vocab, double *mass, double *sum_p2, struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    struct mass_ctx mc = {0};
    size_t max_len = 0, n_cells;
    size_t n_logits = (size_t)dt_model_config(m)->n_vocab;
    int rc = 0;
    if (n_vocab > n_logits)
        n_vocab = n_logits;
    for (size_t i = 0; i < s->n; i++)
        if (s->n_ids[i] > max_len)
            max_len = s->n_ids[i];
    for (size_t j = 0; j < c->n; j++)
        mass[j] = sum_p2[j] = NAN;
    if (dt_mul_overflow(s->n, max_len ? max_len : 1, &n_cells))
        return dt_error_set(err, DT_ENOMEM, "too many sample positions");
    mc.where = dt_malloc_array(n_cells, sizeof *mc.where);
    if (!mc.where) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu positions", n_cells);
        goto done;
    }
    for (size_t k = 0; k < n_cells; k++)
        mc.where[k] = -1;
    for (size_t j = 0; j < c->n; j++)
        mc.where[(size_t)c->i_seq[j] * max_len + c->i_pos[j]] = (int32_t)j;
    rc = dt_wm_greenlists_new(wm, n_vocab, &mc.green, err);
    if (rc)
        goto done;
    mc.c = c;
    mc.max_len = max_len;
    mc.n_vocab = n_vocab;
    mc.mass = mass;
    mc.sum_p2 = sum_p2;
    rc = dt_ctx_score_batch(x, (const int32_t *const *)s->ids, s->n_ids, s->n, mass_cb, &mc, err);
done:
    dt_free(mc.where);
    dt_wm_greenlists_free(mc.green);
    return rc;
}

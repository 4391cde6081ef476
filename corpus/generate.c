/*
 * Local generation into a sample (see generate.h).
 */
#include "corpus/generate.h"

#include "infer/chat_template.h"
#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <string.h>

struct gen_ctx {
    const struct dt_tokenizer *tok;
    struct dt_sample *smp;
    int32_t *ids; /* generated ids without the end token */
    size_t n_ids, cap_ids;
    int stopped;
    struct dt_error *err;
};

static int on_token(void *ud, const struct dt_gen_token *t)
{
    struct gen_ctx *g = ud;
    size_t nb = 0;
    const char *b = dt_tokenizer_token_bytes(g->tok, t->id, &nb);
    int rc;
    if (!b)
        return dt_error_set(g->err, DT_EINTERNAL, "generated token %d has no bytes", t->id);
    if ((rc = dt_sample_add_token(g->smp, b, nb, (double)t->logprob, g->err)))
        return rc;
    for (int k = 0; k < t->n_top; k++) {
        size_t na = 0;
        const char *a = dt_tokenizer_token_bytes(g->tok, t->top_ids[k], &na);
        if (a && (rc = dt_sample_add_alt(g->smp, a, na, (double)t->top_logprobs[k], g->err)))
            return rc;
    }
    if (g->n_ids < g->cap_ids && !t->is_eog)
        g->ids[g->n_ids++] = t->id;
    g->stopped = t->is_eog;
    return 0;
}

int dt_sample_generate(const struct dt_model *m, struct dt_session *sess, enum dt_probe_kind kind,
                       const char *prompt, const struct dt_sample_gen_params *p, int sample_index,
                       struct dt_sample *out, size_t *n_generated, struct dt_error *err)
{
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    int32_t *ids = NULL;
    size_t n_prompt = 0, n_gen = 0, n_text = 0;
    char *text = NULL;
    struct gen_ctx g = {tok, out, NULL, 0, 0, 0, err};
    int n_ctx = dt_session_n_ctx(sess);
    const char *tmpl = kind == DT_PROBE_CHAT ? p->chat_template : NULL;
    int rc = kind == DT_PROBE_CHAT && p->chat
                 ? dt_chat_template_encode(p->chat, tok, NULL, prompt, 0, &ids, &n_prompt, err)
                 : dt_prompt_encode(tok, tmpl, prompt, 0, &ids, &n_prompt, err);
    if (rc)
        goto done;
    if (n_prompt == 0 || n_prompt >= (size_t)n_ctx) {
        rc = dt_error_set(err, DT_EINVAL, "a prompt encodes to %zu tokens; the context holds %d",
                          n_prompt, n_ctx);
        goto done;
    }
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = p->n_predict;
    if ((size_t)gp.n_predict > (size_t)n_ctx - n_prompt)
        gp.n_predict = (int)((size_t)n_ctx - n_prompt);
    gp.n_top = p->n_top;
    gp.sampler.temperature = p->temperature;
    gp.sampler.top_k = p->top_k;
    gp.sampler.top_p = p->top_p;
    gp.sampler.seed = p->seed;
    g.cap_ids = (size_t)gp.n_predict + 1;
    if (!(g.ids = dt_malloc_array(g.cap_ids, sizeof *g.ids))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory generating");
        goto done;
    }
    if ((rc = dt_generate(m, sess, ids, n_prompt, &gp, on_token, &g, &n_gen, err)))
        goto done;
    if ((rc = dt_tokenizer_decode(tok, g.ids, g.n_ids, 0, &text, &n_text, err)))
        goto done;
    if ((rc = dt_sample_set_text(out, kind, prompt, strlen(prompt), text, n_text, err)))
        goto done;
    dt_free(out->finish_reason);
    if (!(out->finish_reason = dt_strdup(g.stopped ? "stop" : "length"))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory generating");
        goto done;
    }
    out->has_logprobs = 1;
    out->sample_index = sample_index;
    if (n_generated)
        *n_generated = n_gen;
done:
    dt_free(ids);
    dt_free(g.ids);
    dt_free(text);
    return rc;
}

/* ---- batched ---- */

/* A job in a slot of the batch: the state dt_generate keeps on its stack. */
struct slot_run {
    size_t i_job;
    struct gen_ctx g;
    struct dt_sampler *smp;
    int32_t *ctx;    /* prompt, then generated ids */
    size_t n_prompt, n_gen;
    int n_predict;
    int32_t next;    /* token to feed at the next step */
};

static void slot_release(struct slot_run *r)
{
    dt_sampler_free(r->smp);
    dt_free(r->ctx);
    dt_free(r->g.ids);
    memset(r, 0, sizeof *r);
}

/* The answer of a finished job, as dt_sample_generate writes it. */
static int finish_job(const struct dt_tokenizer *tok, struct dt_sample_job *j, struct slot_run *r,
                      struct dt_error *err)
{
    char *text = NULL;
    size_t n_text = 0;
    int rc = dt_tokenizer_decode(tok, r->g.ids, r->g.n_ids, 0, &text, &n_text, err);
    if (!rc)
        rc = dt_sample_set_text(j->out, j->kind, j->prompt, strlen(j->prompt), text, n_text, err);
    dt_free(text);
    if (rc)
        return rc;
    dt_free(j->out->finish_reason);
    if (!(j->out->finish_reason = dt_strdup(r->g.stopped ? "stop" : "length")))
        return dt_error_set(err, DT_ENOMEM, "out of memory generating");
    j->out->has_logprobs = 1;
    j->out->sample_index = j->sample_index;
    j->n_generated = r->n_gen;
    j->rc = 0;
    return 0;
}

/* Starts the next job that fits into slot (prefilled, logits ready), skipping those whose
 * prompt does not fit. *started is 0 when the queue ran out. */
static int start_job(const struct dt_model *m, struct dt_batch *b, int slot,
                     const struct dt_sample_gen_params *p, struct dt_sample_job *jobs,
                     size_t n_jobs, size_t *next, struct slot_run *r, int *started,
                     struct dt_error *err)
{
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    const int n_ctx = dt_batch_n_ctx(b);
    *started = 0;
    while (*next < n_jobs) {
        struct dt_sample_job *j = &jobs[(*next)++];
        const char *tmpl = j->kind == DT_PROBE_CHAT ? p->chat_template : NULL;
        int32_t *ids = NULL;
        size_t n_prompt = 0;
        int rc = j->kind == DT_PROBE_CHAT && p->chat
                     ? dt_chat_template_encode(p->chat, tok, NULL, j->prompt, 0, &ids, &n_prompt,
                                               err)
                     : dt_prompt_encode(tok, tmpl, j->prompt, 0, &ids, &n_prompt, err);
        if (rc)
            return rc;
        j->n_prompt = n_prompt;
        if (n_prompt == 0 || n_prompt >= (size_t)n_ctx) {
            dt_free(ids);
            j->rc = DT_EINVAL;
            continue;
        }
        memset(r, 0, sizeof *r);
        r->i_job = (size_t)(j - jobs);
        r->n_prompt = n_prompt;
        r->n_predict = p->n_predict;
        if ((size_t)r->n_predict > (size_t)n_ctx - n_prompt)
            r->n_predict = (int)((size_t)n_ctx - n_prompt);
        struct dt_sampler_params sp;
        dt_sampler_params_init(&sp);
        sp.temperature = p->temperature;
        sp.top_k = p->top_k;
        sp.top_p = p->top_p;
        sp.seed = j->seed;
        r->g = (struct gen_ctx){tok, j->out, NULL, 0, (size_t)r->n_predict + 1, 0, err};
        r->g.ids = dt_malloc_array(r->g.cap_ids, sizeof *r->g.ids);
        r->ctx = dt_malloc_array(n_prompt + (size_t)r->n_predict, sizeof *r->ctx);
        if (!r->g.ids || !r->ctx) {
            dt_free(ids);
            slot_release(r);
            return dt_error_set(err, DT_ENOMEM, "out of memory generating");
        }
        memcpy(r->ctx, ids, n_prompt * sizeof *ids);
        rc = dt_sampler_new(&sp, dt_model_config(m)->n_vocab, &r->smp, err);
        if (!rc)
            rc = dt_batch_prefill(b, slot, ids, n_prompt, err);
        dt_free(ids);
        if (rc) {
            slot_release(r);
            return rc;
        }
        *started = 1;
        return 0;
    }
    return 0;
}

/* One token of a slot's job from its current logits, as one iteration of dt_generate's loop.
 * *done: the job ended (end token or n_predict reached). */
static int sample_slot(const struct dt_model *m, struct dt_batch *b, int slot,
                       const struct dt_sample_gen_params *p, struct slot_run *r, int *done)
{
    const int n_vocab = dt_model_config(m)->n_vocab;
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    int32_t top[65];
    float top_lp[65];
    const float *logits = dt_batch_logits(b, slot);
    int32_t id = dt_sampler_sample(r->smp, logits, r->ctx, r->n_prompt + r->n_gen);
    double lse = dt_logsumexp(logits, n_vocab);
    dt_top_k(logits, n_vocab, p->n_top, top);
    for (int k = 0; k < p->n_top; k++)
        top_lp[k] = (float)(logits[top[k]] - lse);
    int eog = tok && dt_tokenizer_is_eog(tok, id);
    struct dt_gen_token gt = {id, r->n_gen, (float)(logits[id] - lse), p->n_top, top, top_lp, eog};
    r->ctx[r->n_prompt + r->n_gen++] = id;
    int rc = on_token(&r->g, &gt);
    *done = eog || (int)r->n_gen == r->n_predict;
    r->next = id;
    return rc;
}

int dt_sample_generate_batch(const struct dt_model *m, struct dt_batch *b,
                             const struct dt_sample_gen_params *p, struct dt_sample_job *jobs,
                             size_t n_jobs, struct dt_error *err)
{
    return dt_sample_generate_batch_cb(m, b, p, jobs, n_jobs, NULL, NULL, err);
}

int dt_sample_generate_batch_cb(const struct dt_model *m, struct dt_batch *b,
                                const struct dt_sample_gen_params *p, struct dt_sample_job *jobs,
                                size_t n_jobs, dt_sample_job_done on_done, void *ud,
                                struct dt_error *err)
{
    const int n_slots = dt_batch_n_slots(b);
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    if (p->n_predict < 0 || p->n_top < 0 || p->n_top > 64)
        return dt_error_set(err, DT_EINVAL, "n_predict must be >= 0 and n_top in 0..64");
    struct slot_run *runs = dt_calloc((size_t)n_slots, sizeof *runs);
    int *active = dt_calloc((size_t)n_slots, sizeof *active);
    int *step_slots = dt_malloc_array((size_t)n_slots, sizeof *step_slots);
    int32_t *step_toks = dt_malloc_array((size_t)n_slots, sizeof *step_toks);
    size_t next = 0;
    int rc = 0, n_active = 0;
    if (!runs || !active || !step_slots || !step_toks) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory generating");
        goto out;
    }
    for (size_t i = 0; i < n_jobs; i++)
        jobs[i].rc = -1;
    for (int s = 0; s < n_slots && !rc; s++) {
        if ((rc = start_job(m, b, s, p, jobs, n_jobs, &next, &runs[s], &active[s], err)))
            goto out;
        n_active += active[s];
    }
    while (n_active > 0) {
        size_t n_step = 0;
        for (int s = 0; s < n_slots; s++) {
            if (!active[s])
                continue;
            int done = runs[s].n_predict == 0;
            if (!done && (rc = sample_slot(m, b, s, p, &runs[s], &done)))
                goto out;
            if (!done) {
                step_slots[n_step] = s;
                step_toks[n_step++] = runs[s].next;
                continue;
            }
            if ((rc = finish_job(tok, &jobs[runs[s].i_job], &runs[s], err)))
                goto out;
            if (on_done)
                on_done(ud, &jobs[runs[s].i_job]);
            slot_release(&runs[s]);
            active[s] = 0;
            n_active--;
        }
        if ((rc = dt_batch_step(b, step_slots, step_toks, n_step, err)))
            goto out;
        /* Freed slots take the next jobs; their first token is sampled in the next round. */
        for (int s = 0; s < n_slots; s++) {
            if (active[s])
                continue;
            if ((rc = start_job(m, b, s, p, jobs, n_jobs, &next, &runs[s], &active[s], err)))
                goto out;
            n_active += active[s];
        }
    }
out:
    for (int s = 0; runs && s < n_slots; s++)
        if (active && active[s])
            slot_release(&runs[s]);
    dt_free(runs);
    dt_free(active);
    dt_free(step_slots);
    dt_free(step_toks);
    return rc;
}

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

int dt_sample_generate(struct dt_model *m, struct dt_session *sess, enum dt_probe_kind kind,
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

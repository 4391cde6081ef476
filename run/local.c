/*
 * The thin commands' operations on a local model (run/local.h). Each opens what it needs,
 * runs one pass of the inference core and fills a result the caller prints; the texts are
 * whatever the caller read (at most what fits in memory), and every array of a result is
 * sized to its text's tokens.
 */
#include "run/local.h"

#include "infer/chat_template.h"
#include "infer/compute.h"
#include "infer/inspect.h"
#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_gguf.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct dt_local {
    struct dt_model *model;
    struct dt_ctx *ctx;             /* the compute context the operations run on */
    const struct dt_tokenizer *tok; /* the model's */
    int n_vocab;
    size_t n_ctx;                   /* the context the model was trained with */
};

/* ---- without a forward pass ---- */

int dt_local_describe(const char *path, int json, char **out, size_t *n_out,
                      struct dt_error *err)
{
    cJSON *info = NULL;
    int rc = dt_inspect_model(path, &info, err);
    if (rc)
        return rc;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (json) {
        char *s = cJSON_Print(info);
        if (s) {
            dt_strbuf_puts(&sb, s);
            dt_strbuf_putc(&sb, '\n');
        } else {
            sb.failed = 1;
        }
        cJSON_free(s);
    } else {
        dt_inspect_render_text(info, &sb);
    }
    cJSON_Delete(info);
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory describing '%s'", path);
    }
    if (!sb.data)
        dt_strbuf_puts(&sb, "");
    *out = dt_strbuf_detach(&sb, n_out);
    return *out ? 0 : dt_error_set(err, DT_ENOMEM, "out of memory describing '%s'", path);
}

int dt_local_tokenize(const char *path, const char *text, size_t n, int special, int32_t **ids,
                      size_t *n_ids, struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    int rc = dt_tokenizer_open(path, &t, err);
    if (rc == 0)
        rc = dt_tokenizer_encode(t, text, n, special, ids, n_ids, err);
    dt_tokenizer_free(t);
    return rc;
}

int dt_local_tokenize_records(const char *path, const char *in, size_t n, int special,
                              int (*emit)(void *ud, const int32_t *ids, size_t n_ids), void *ud,
                              struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    int rc = dt_tokenizer_open(path, &t, err);
    size_t at = 0;
    while (rc == 0 && at < n) {
        size_t len = 0, i = at;
        while (i < n && in[i] >= '0' && in[i] <= '9' && i - at < 12)
            len = len * 10 + (size_t)(in[i++] - '0');
        if (i == at || i >= n || in[i] != '\n' || len > n - i - 1) {
            rc = dt_error_set(err, DT_EFORMAT,
                              "batch record at byte %zu is not 'N\\n' and N bytes", at);
            break;
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if ((rc = dt_tokenizer_encode(t, in + i + 1, len, special, &ids, &n_ids, err)))
            break;
        if (emit(ud, ids, n_ids))
            rc = dt_error_set(err, DT_EIO, "cannot write the output");
        dt_free(ids);
        at = i + 1 + len;
    }
    dt_tokenizer_free(t);
    return rc;
}

int dt_local_detokenize(const char *path, const int32_t *ids, size_t n, int special,
                        char **text, size_t *n_text, struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    int rc = dt_tokenizer_open(path, &t, err);
    if (rc == 0)
        rc = dt_tokenizer_decode(t, ids, n, special, text, n_text, err);
    dt_tokenizer_free(t);
    return rc;
}

/* ---- a local model ---- */

int dt_local_open(const char *path, int threads, struct dt_local **out, struct dt_error *err)
{
    *out = NULL;
    struct dt_local *l = dt_calloc(1, sizeof *l);
    if (!l)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = dt_model_open(path, &l->model, err);
    if (rc == 0)
        rc = dt_ctx_new(l->model, threads, &l->ctx, err);
    if (rc) {
        dt_local_free(l);
        return rc;
    }
    l->tok = dt_model_tokenizer(l->model);
    l->n_vocab = dt_model_config(l->model)->n_vocab;
    l->n_ctx = (size_t)dt_model_config(l->model)->n_ctx_train;
    *out = l;
    return 0;
}

void dt_local_free(struct dt_local *l)
{
    if (!l)
        return;
    dt_ctx_free(l->ctx);
    dt_model_free(l->model);
    dt_free(l);
}

const char *dt_local_token_bytes(const struct dt_local *l, int32_t id, size_t *n_bytes)
{
    return dt_tokenizer_token_bytes(l->tok, id, n_bytes);
}

int dt_local_decode(const struct dt_local *l, const int32_t *ids, size_t n, char **text,
                    size_t *n_text, struct dt_error *err)
{
    return dt_tokenizer_decode(l->tok, ids, n, 0, text, n_text, err);
}

/* ---- logits ---- */

struct logits_ctx {
    int n_vocab;
    struct dt_logits_result *r;
};

static int on_logits(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct logits_ctx *c = ud;
    struct dt_logits_result *r = c->r;
    size_t top = (size_t)r->top;
    (void)i_seq;
    r->logsumexp[i_pos] = dt_logsumexp(logits, c->n_vocab);
    dt_top_k(logits, c->n_vocab, r->top, r->top_ids + i_pos * top);
    for (size_t k = 0; k < top; k++)
        r->top_logits[i_pos * top + k] = logits[r->top_ids[i_pos * top + k]];
    return 0;
}

int dt_local_logits(struct dt_local *l, const char *text, size_t n_text, int special, int top,
                    struct dt_logits_result *out, struct dt_error *err)
{
    memset(out, 0, sizeof *out);
    out->top = top > l->n_vocab ? l->n_vocab : top;
    int rc = dt_tokenizer_encode(l->tok, text, n_text, special, &out->ids, &out->n, err);
    if (rc == 0) {
        size_t n = out->n + 1;
        out->logsumexp = dt_malloc_array(n, sizeof *out->logsumexp);
        out->top_ids = dt_malloc_array(n * (size_t)out->top, sizeof *out->top_ids);
        out->top_logits = dt_malloc_array(n * (size_t)out->top, sizeof *out->top_logits);
        if (!out->logsumexp || !out->top_ids || !out->top_logits)
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    struct logits_ctx c = {l->n_vocab, out};
    const int32_t *seqs[1] = {out->ids};
    size_t lens[1] = {out->n};
    if (rc == 0 && out->n)
        rc = dt_ctx_score_batch(l->ctx, seqs, lens, 1, on_logits, &c, err);
    if (rc)
        dt_logits_result_release(out);
    return rc;
}

void dt_logits_result_release(struct dt_logits_result *r)
{
    dt_free(r->ids);
    dt_free(r->logsumexp);
    dt_free(r->top_ids);
    dt_free(r->top_logits);
    memset(r, 0, sizeof *r);
}

/* ---- score ---- */

struct score_ctx {
    int n_vocab;
    struct dt_score_result *r;
};

static int on_score(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct score_ctx *c = ud;
    struct dt_score_result *r = c->r;
    size_t next = i_seq * r->window + i_pos + 1;
    /* the logits after position p predict p+1, within the same window only; the last token's
     * predict nothing */
    if (i_pos + 1 < r->window && next < r->n)
        r->logprob[next] = (double)logits[r->ids[next]] - dt_logsumexp(logits, c->n_vocab);
    return 0;
}

int dt_local_score(struct dt_local *l, const char *text, size_t n_text, int special,
                   struct dt_score_result *out, struct dt_error *err)
{
    const int32_t **seqs = NULL;
    size_t *lens = NULL;
    memset(out, 0, sizeof *out);
    out->window = l->n_ctx;
    int rc = out->window ? 0 : dt_error_set(err, DT_EFORMAT, "the model has no context length");
    if (rc == 0)
        rc = dt_tokenizer_encode(l->tok, text, n_text, special, &out->ids, &out->n, err);
    size_t n_win = out->n ? (out->n + out->window - 1) / out->window : 0;
    if (rc == 0) {
        out->logprob = dt_malloc_array(out->n + 1, sizeof *out->logprob);
        seqs = dt_malloc_array(n_win + 1, sizeof *seqs);
        lens = dt_malloc_array(n_win + 1, sizeof *lens);
        if (!out->logprob || !seqs || !lens)
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        for (size_t i = 0; i < out->n; i++)
            out->logprob[i] = NAN;
        for (size_t w = 0; w < n_win; w++) {
            size_t left = out->n - w * out->window;
            seqs[w] = out->ids + w * out->window;
            lens[w] = left < out->window ? left : out->window;
        }
        struct score_ctx c = {l->n_vocab, out};
        rc = dt_ctx_score_batch(l->ctx, seqs, lens, n_win, on_score, &c, err);
    }
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        if (!isnan(out->logprob[i])) {
            out->sum_logprob += out->logprob[i];
            out->n_scored++;
        }
    dt_free(seqs);
    dt_free(lens);
    if (rc)
        dt_score_result_release(out);
    return rc;
}

void dt_score_result_release(struct dt_score_result *r)
{
    dt_free(r->ids);
    dt_free(r->logprob);
    memset(r, 0, sizeof *r);
}

/* ---- generate ---- */

struct gen_ctx {
    struct dt_gen_result *r;
    size_t cap;
    void (*on_token)(void *ud, const struct dt_gen_token *t);
    void *ud;
};

static int grow(void **p, size_t n, size_t size)
{
    void *q = dt_realloc_array(*p, n ? n : 1, size);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static int on_gen(void *ud, const struct dt_gen_token *t)
{
    struct gen_ctx *g = ud;
    struct dt_gen_result *r = g->r;
    size_t top = (size_t)r->n_top;
    if (r->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        if (grow((void **)&r->ids, cap, sizeof *r->ids) ||
            grow((void **)&r->logprobs, cap, sizeof *r->logprobs) ||
            grow((void **)&r->top_ids, cap * top, sizeof *r->top_ids) ||
            grow((void **)&r->top_logprobs, cap * top, sizeof *r->top_logprobs))
            return DT_ENOMEM;
        g->cap = cap;
    }
    r->ids[r->n] = t->id;
    r->logprobs[r->n] = t->logprob;
    for (size_t k = 0; k < top; k++) {
        int have = (int)k < t->n_top;
        r->top_ids[r->n * top + k] = have ? t->top_ids[k] : -1;
        r->top_logprobs[r->n * top + k] = have ? t->top_logprobs[k] : -INFINITY;
    }
    r->n++;
    r->stopped = t->is_eog;
    if (g->on_token)
        g->on_token(g->ud, t);
    return 0;
}

/* Generates from out->prompt_ids (encoded by the caller; rc is the encoding's status). */
static int generate_encoded(struct dt_local *l, int rc, const struct dt_gen_params *p,
                            void (*on_token)(void *ud, const struct dt_gen_token *t), void *ud,
                            struct dt_gen_result *out, struct dt_error *err)
{
    struct dt_session *s = NULL;
    out->n_top = p->n_top;
    if (rc == 0 && out->n_prompt == 0)
        rc = dt_error_set(err, DT_EINVAL, "the prompt encodes to no tokens");
    if (rc == 0)
        rc = dt_session_new(l->ctx, (int)(out->n_prompt + (size_t)p->n_predict), &s, err);
    struct gen_ctx g = {out, 0, on_token, ud};
    size_t n_gen = 0;
    if (rc == 0) {
        rc = dt_generate(l->model, s, out->prompt_ids, out->n_prompt, p, on_gen, &g, &n_gen, err);
        if (rc == DT_ENOMEM)
            dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    dt_session_free(s);
    if (rc)
        dt_gen_result_release(out);
    return rc;
}

int dt_local_generate(struct dt_local *l, const char *prompt, const char *chat_template,
                      int special, const struct dt_gen_params *p,
                      void (*on_token)(void *ud, const struct dt_gen_token *t), void *ud,
                      struct dt_gen_result *out, struct dt_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = dt_prompt_encode(l->tok, chat_template, prompt, special, &out->prompt_ids,
                              &out->n_prompt, err);
    return generate_encoded(l, rc, p, on_token, ud, out, err);
}

int dt_local_generate_chat(struct dt_local *l, const char *path, const char *system,
                           const char *prompt, const char *fallback, const char *date,
                           int special, const struct dt_gen_params *p,
                           void (*on_token)(void *ud, const struct dt_gen_token *t), void *ud,
                           struct dt_gen_result *out, struct dt_error *err)
{
    struct dt_chat_template *ct = NULL;
    memset(out, 0, sizeof *out);
    int rc = dt_chat_template_open(l->tok, path, fallback, date, &ct, err);
    if (rc == 0) {
        snprintf(out->chat_kind, sizeof out->chat_kind, "%s", dt_chat_template_name(ct));
        snprintf(out->chat_desc, sizeof out->chat_desc, "%s", dt_chat_template_describe(ct));
        const char *sha = dt_chat_template_sha256(ct);
        snprintf(out->chat_sha256, sizeof out->chat_sha256, "%s", sha ? sha : "");
        rc = dt_chat_template_encode(ct, l->tok, system, prompt, special, &out->prompt_ids,
                                     &out->n_prompt, err);
    }
    dt_chat_template_free(ct);
    return generate_encoded(l, rc, p, on_token, ud, out, err);
}

void dt_gen_result_release(struct dt_gen_result *r)
{
    dt_free(r->prompt_ids);
    dt_free(r->ids);
    dt_free(r->logprobs);
    dt_free(r->top_ids);
    dt_free(r->top_logprobs);
    memset(r, 0, sizeof *r);
}

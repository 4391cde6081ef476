/*
 * collect (see collect.h): generation with infer/sampler.h's dt_generate, one store
 * transaction per probe. Tokens are recorded with their exact bytes (the tokenizer's decoded
 * bytes, control tokens as their literal text, as an API reports them); the response text is
 * the decoded continuation without control tokens, like an API's message content.
 */
#include "reports/collect.h"

#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

void dt_collect_params_init(struct dt_collect_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_samples = 1;
    p->temperature = 0.7f;
    p->top_p = 1.0f;
    p->n_predict = 64;
    p->n_top = 5;
}

struct gen_ctx {
    const struct dt_tokenizer *tok;
    struct dt_sample *smp;
    int32_t *ids; /* generated ids, n_predict capacity */
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

uint64_t dt_collect_sample_seed(uint64_t seed, const char *probe_id, int i)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s:%d", probe_id, i);
    /* 53 bits: the seed must travel exactly as a JSON number to an API (collect --endpoint). */
    return dt_hash_xxh64(buf, (size_t)n, seed) & (((uint64_t)1 << 53) - 1);
}

static int generate_one(struct dt_model *m, struct dt_session *sess, const struct dt_probe *pr,
                        const struct dt_collect_params *p, int i_sample, int n_ctx,
                        struct dt_sample *out, struct dt_error *err)
{
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    int32_t *prompt = NULL;
    size_t n_prompt = 0, n_gen = 0;
    char *text = NULL;
    size_t n_text = 0;
    struct gen_ctx g = {tok, out, NULL, 0, 0, 0, err};
    const char *tmpl = pr->kind == DT_PROBE_CHAT ? p->chat_template : NULL;
    int rc = dt_prompt_encode(tok, tmpl, pr->text, 0, &prompt, &n_prompt, err);
    if (rc)
        goto done;
    if (n_prompt == 0 || n_prompt >= (size_t)n_ctx) {
        rc = dt_error_set(err, DT_EINVAL, "probe %.12s encodes to %zu tokens; the context holds %d",
                          pr->id, n_prompt, n_ctx);
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
    gp.sampler.seed = dt_collect_sample_seed(p->seed, pr->id, i_sample);
    g.cap_ids = (size_t)gp.n_predict + 1;
    if (!(g.ids = dt_malloc_array(g.cap_ids, sizeof *g.ids))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory generating");
        goto done;
    }
    if ((rc = dt_generate(m, sess, prompt, n_prompt, &gp, on_token, &g, &n_gen, err)))
        goto done;
    if ((rc = dt_tokenizer_decode(tok, g.ids, g.n_ids, 0, &text, &n_text, err)))
        goto done;
    if ((rc = dt_sample_set_text(out, pr->kind, pr->text, strlen(pr->text), text, n_text, err)))
        goto done;
    if (!(out->finish_reason = dt_strdup(g.stopped ? "stop" : "length"))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory generating");
        goto done;
    }
    out->has_logprobs = 1;
    out->sample_index = i_sample;
done:
    dt_free(prompt);
    dt_free(g.ids);
    dt_free(text);
    return rc;
}

/* The collection key: everything that changes what a sample is, except how many. */
static int collection_key(const char *model_key_hash, const struct dt_corpus *c,
                          const struct dt_collect_params *p, char **key, char **params,
                          struct dt_error *err)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    int ok = o && cJSON_AddStringToObject(o, "model_xxh128", model_key_hash) &&
             cJSON_AddStringToObject(o, "corpus", c->id) &&
             cJSON_AddNumberToObject(o, "temperature", p->temperature) &&
             cJSON_AddNumberToObject(o, "top_k", p->top_k) &&
             cJSON_AddNumberToObject(o, "top_p", p->top_p) &&
             cJSON_AddStringToObject(o, "seed", "") &&
             cJSON_AddNumberToObject(o, "n_predict", p->n_predict) &&
             cJSON_AddNumberToObject(o, "n_top", p->n_top) &&
             (p->chat_template ? cJSON_AddStringToObject(o, "chat_template", p->chat_template)
                               : cJSON_AddNullToObject(o, "chat_template")) != NULL;
    if (ok) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
        cJSON_ReplaceItemInObject(o, "seed", cJSON_CreateString(seed));
        s = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    char h[DT_XXH128_HEX_LEN + 1];
    dt_hash_xxh128_hex(s, strlen(s), h);
    size_t n = sizeof h + 8;
    *key = dt_malloc(n);
    if (!*key) {
        cJSON_free(s);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    snprintf(*key, n, "local:%s", h);
    *params = s;
    return 0;
}

static const char sql_model_xxh[] = "SELECT xxh128 FROM models WHERE id = ?1";

int dt_store_collect(struct dt_store *s, struct dt_model *m, const char *model_name,
                     const struct dt_corpus *c, const struct dt_collect_params *p, int argc,
                     char *const *argv, dt_collect_progress_cb progress, void *ud,
                     struct dt_collect_result *res, struct dt_error *err)
{
    struct dt_collect_result r = {0};
    struct dt_session *sess = NULL;
    char *key = NULL, *params = NULL, *name = NULL;
    char xxh[DT_XXH128_HEX_LEN + 1] = "";
    int rc, run_open = 0;
    r.n_probes = c->n_probes;
    if (p->n_samples < 1 || p->n_predict < 1 || p->n_top < 0 || p->n_top > 64)
        return dt_error_set(err, DT_EINVAL, "collect: invalid parameters");
    uint64_t seed = p->seed;
    if ((rc = dt_store_run_begin(s, argc, argv, &seed, p->n_threads, &r.run_id, err)))
        return rc;
    run_open = 1;
    const struct dt_model_config *cfg = dt_model_config(m);
    const char *path = dt_model_path(m);
    if (!model_name) {
        const char *base = strrchr(path, '/');
        name = dt_strdup(base && base[1] ? base + 1 : path);
        if (!name) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        model_name = name;
    }
    struct dt_store_model sm = {
        .name = model_name,
        .path = path,
        .format = dt_model_format(m) == DT_FORMAT_GGUF ? "gguf" : "safetensors",
        .arch = cfg->arch == DT_ARCH_QWEN2 ? "qwen2" : "llama",
        .n_params = dt_model_n_params(m),
        .tokenizer_hash = dt_tokenizer_hash(dt_model_tokenizer(m)),
    };
    if ((rc = dt_store_model_upsert(s, &sm, &r.model_id, err)) ||
        (rc = dt_store_corpus_upsert(s, c, &r.corpus_id, err)))
        goto done;
    {
        sqlite3_stmt *st = NULL;
        struct sqlite3 *db = dt_store_sqlite(s);
        if (sqlite3_prepare_v2(db, sql_model_xxh, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, r.model_id);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(xxh, sizeof xxh, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
    }
    if ((rc = collection_key(xxh, c, p, &key, &params, err)) ||
        (rc = dt_store_collection_open(s, key, r.model_id, r.corpus_id, "local", params, r.run_id,
                                       &r.collection_id, NULL, err)))
        goto done;
    if (p->n_threads > 0)
        dt_model_set_threads(m, p->n_threads);
    int n_ctx = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : 2048;
    if ((rc = dt_session_new(m, n_ctx, &sess, err)))
        goto done;
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct dt_probe *pr = &c->probes[i];
        int64_t have = 0;
        if ((rc = dt_store_observation_count(s, r.collection_id, pr->id, &have, err)))
            goto done;
        if (have >= p->n_samples) {
            r.n_skipped++;
            if (progress)
                progress(ud, i + 1, c->n_probes);
            continue;
        }
        /* Generate all missing samples of this probe, then store them in one transaction. */
        struct dt_sample_set set;
        dt_sample_set_init(&set);
        for (int k = (int)have; k < p->n_samples && rc == 0; k++) {
            struct dt_sample smp;
            dt_sample_init(&smp);
            if ((rc = generate_one(m, sess, pr, p, k, n_ctx, &smp, err)) == 0 &&
                (rc = dt_sample_set_push(&set, &smp, err)) == 0)
                continue;
            dt_sample_release(&smp);
        }
        if (rc == 0 && (rc = dt_store_begin(s, err)) == 0) {
            for (size_t k = 0; k < set.n && rc == 0; k++) {
                int ins = 0;
                rc = dt_store_observation_insert(s, r.collection_id, r.run_id, &set.items[k], &ins,
                                                 err);
                r.n_samples_new += (size_t)ins;
            }
            if (rc == 0)
                rc = dt_store_commit(s, err);
            else
                dt_store_rollback(s);
        }
        dt_sample_set_release(&set);
        if (rc) {
            dt_error_prefix(err, "probe %zu of corpus '%s'", i + 1, c->name);
            goto done;
        }
        if (progress)
            progress(ud, i + 1, c->n_probes);
    }
done:
    if (run_open) {
        struct dt_error e2 = {0};
        dt_store_run_end(s, r.run_id, rc ? dt_exit_code_for(rc) : 0, &e2);
    }
    if (res)
        *res = r;
    dt_session_free(sess);
    cJSON_free(params);
    dt_free(key);
    dt_free(name);
    return rc;
}

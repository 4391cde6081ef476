/*
 * collect (see collect.h): generation with infer/sampler.h's dt_generate, one store
 * transaction per probe. Tokens are recorded with their exact bytes (the tokenizer's decoded
 * bytes, control tokens as their literal text, as an API reports them); the response text is
 * the decoded continuation without control tokens, like an API's message content.
 */
#include "reports/collect.h"

#include "corpus/generate.h"
#include "corpus/seed.h"

#include "infer/arch.h"
#include "infer/chat_template.h"
#include "infer/compute.h"
#include "infer/model.h"
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

static int generate_one(const struct dt_model *m, struct dt_session *sess, const struct dt_probe *pr,
                        const struct dt_collect_params *p, const struct dt_chat_template *chat,
                        int i_sample, struct dt_sample *out, struct dt_error *err)
{
    struct dt_sample_gen_params gp = {p->chat_template, p->n_predict, p->n_top, p->temperature,
                                      p->top_k, p->top_p,
                                      dt_answer_seed(p->seed, pr->id, i_sample), chat};
    int rc = dt_sample_generate(m, sess, pr->kind, pr->text, &gp, i_sample, out, NULL, err);
    if (rc == DT_EINVAL)
        dt_error_prefix(err, "probe %.12s", pr->id);
    return rc;
}

/* The collection key: everything that changes what a sample is, except how many. */
static int collection_key(const char *model_key_hash, const struct dt_corpus *c,
                          const struct dt_collect_params *p, const char *chat_format, char **key,
                          char **params, struct dt_error *err)
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
                               : cJSON_AddNullToObject(o, "chat_template")) != NULL &&
             /* the model's own template changes the samples: part of the key when used */
             (!chat_format || cJSON_AddStringToObject(o, "chat_format", chat_format));
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

int dt_store_collect(struct dt_store *s, const struct dt_model *m, const char *model_name,
                     const struct dt_corpus *c, const struct dt_collect_params *p, int argc,
                     char *const *argv, dt_collect_progress_cb progress, void *ud,
                     struct dt_collect_result *res, struct dt_error *err)
{
    struct dt_collect_result r = {0};
    struct dt_ctx *x = NULL;
    struct dt_session *sess = NULL;
    struct dt_chat_template *chat = NULL;
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
        .arch = cfg->arch->name,
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
    /* chat probes as compare wraps them: the model's own template, else --chat-template */
    if ((rc = dt_chat_template_open(dt_model_tokenizer(m), path, p->chat_template, NULL, &chat,
                                    err)))
        goto done;
    enum dt_chat_kind ck = dt_chat_template_kind(chat);
    const char *fmt = ck == DT_CHAT_MODEL || ck == DT_CHAT_FAMILY ? dt_chat_template_describe(chat)
                                                                 : NULL;
    if ((rc = collection_key(xxh, c, p, fmt, &key, &params, err)) ||
        (rc = dt_store_collection_open(s, key, r.model_id, r.corpus_id, "local", params, r.run_id,
                                       &r.collection_id, NULL, err)))
        goto done;
    int n_ctx = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : 2048;
    if ((rc = dt_ctx_new(m, p->n_threads, &x, err)) ||
        (rc = dt_session_new(x, n_ctx, &sess, err)))
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
            if ((rc = generate_one(m, sess, pr, p, chat, k, &smp, err)) == 0 &&
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
    dt_ctx_free(x);
    dt_chat_template_free(chat);
    cJSON_free(params);
    dt_free(key);
    dt_free(name);
    return rc;
}

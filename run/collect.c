/*
 * collect (see collect.h): the missing samples of the whole corpus are decoded together on a
 * dt_batch (corpus/generate.h, DT_GEN_BATCH_SLOTS sequences at once, as compare does), and each
 * is stored as its job ends, committed in batches (DT_ANSWERS_BATCH answers or
 * DT_ANSWERS_BATCH_S seconds). What is missing is found by (probe, sample index), so samples
 * that finished out of order before a kill are never drawn again under another index. Tokens
 * are recorded with their exact bytes (the tokenizer's decoded bytes, control tokens as their
 * literal text, as an API reports them); the response text is the decoded continuation without
 * control tokens, like an API's message content.
 */
#include "run/collect.h"

#include "run/answers.h"
#include "run/party.h"
#include "util/log.h"

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

/* The sample indexes of (collection, probe) already stored: bit i of *have for index i < 64,
 * *n_have counting all. */
static const char sql_have[] =
    "SELECT o.sample_index FROM observations o JOIN probes p ON p.id = o.probe_id "
    "WHERE o.collection_id = ?1 AND p.xxh128 = ?2";

static int stored_indexes(struct dt_store *s, int64_t collection_id, const char *probe_id,
                          unsigned char *have, int n_samples, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    struct sqlite3 *db = dt_store_sqlite(s);
    memset(have, 0, (size_t)n_samples);
    if (sqlite3_prepare_v2(db, sql_have, -1, &st, NULL) != SQLITE_OK)
        return dt_error_set(err, DT_EDB, "evidence store: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, probe_id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 k = sqlite3_column_int64(st, 0);
        if (k >= 0 && k < n_samples)
            have[k] = 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return dt_error_set(err, DT_EDB, "evidence store: %s", sqlite3_errmsg(db));
    return 0;
}

/* What the batch's end-of-job hook needs: each answer is stored (and freed) as its job ends. */
struct store_ctx {
    struct dt_store *s;
    struct dt_collect_result *r;
    dt_collect_progress_cb progress;
    void *ud;
    size_t done, total;
    int in_txn;
    size_t n_pending;
    double t_begin;
    int rc;
    struct dt_error *err;
};

static int store_flush(struct store_ctx *x)
{
    if (!x->in_txn)
        return 0;
    x->in_txn = 0;
    x->n_pending = 0;
    return dt_store_commit(x->s, x->err);
}

static void on_job_stored(void *ud, const struct dt_sample_job *job)
{
    struct store_ctx *x = ud;
    if (!x->rc) {
        int ins = 0;
        if (!x->in_txn && !(x->rc = dt_store_begin(x->s, x->err))) {
            x->in_txn = 1;
            x->t_begin = dt_time_now();
        }
        if (!x->rc &&
            !(x->rc = dt_store_observation_insert(x->s, x->r->collection_id, x->r->run_id,
                                                  job->out, &ins, x->err))) {
            x->r->n_samples_new += (size_t)ins;
            if (++x->n_pending >= DT_ANSWERS_BATCH ||
                dt_time_now() - x->t_begin >= DT_ANSWERS_BATCH_S)
                x->rc = store_flush(x);
        }
    }
    dt_sample_release(job->out); /* stored: the memory of a long corpus is not kept */
    x->done++;
    if (x->progress)
        x->progress(x->ud, x->done, x->total);
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
    struct dt_sample_job *jobs = NULL;
    struct dt_sample *got = NULL;
    unsigned char *have = NULL;
    size_t n_got = 0;
    struct dt_ctx *cx = NULL;
    struct dt_batch *batch = NULL;
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
        /* named as compare names the party, so the same file is the same name everywhere */
        if (!(name = dt_malloc(128))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
        dt_party_display_name(path, name, 128);
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
    /* 1. what is missing, by (probe, sample index) */
    size_t n_max = c->n_probes * (size_t)p->n_samples;
    jobs = dt_calloc(n_max + 1, sizeof *jobs);
    got = dt_calloc(n_max + 1, sizeof *got);
    have = dt_calloc((size_t)p->n_samples, 1);
    if (!jobs || !got || !have) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    size_t n_jobs = 0;
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct dt_probe *pr = &c->probes[i];
        if ((rc = stored_indexes(s, r.collection_id, pr->id, have, p->n_samples, err)))
            goto done;
        int missing = 0;
        for (int k = 0; k < p->n_samples; k++) {
            if (have[k])
                continue;
            missing = 1;
            dt_sample_init(&got[n_jobs]);
            jobs[n_jobs] = (struct dt_sample_job){pr->kind, pr->text,
                                                  dt_answer_seed(p->seed, pr->id, k), k,
                                                  &got[n_jobs], 0, 0, 0};
            n_got = ++n_jobs;
        }
        r.n_skipped += !missing;
    }
    /* 2. decoded together, each stored as it ends */
    struct dt_sample_gen_params gp = {p->chat_template, p->n_predict, p->n_top, p->temperature,
                                      p->top_k, p->top_p, 0, chat};
    struct store_ctx sx = {s, &r, progress, ud, n_max - n_jobs, n_max, 0, 0, 0, 0, err};
    if (progress)
        progress(ud, sx.done, sx.total);
    if (n_jobs) {
        int n_ctx = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : 2048;
        if ((rc = dt_ctx_new(m, p->n_threads, &cx, err)) ||
            (rc = dt_batch_new(cx, DT_GEN_BATCH_SLOTS, n_ctx, &batch, err)))
            goto done;
        rc = dt_sample_generate_batch_cb(m, batch, &gp, jobs, n_jobs, on_job_stored, &sx, err);
        if (!rc)
            rc = sx.rc;
        if (!rc)
            rc = store_flush(&sx);
        else if (sx.in_txn)
            dt_store_commit(s, NULL); /* keep what was generated: a rerun resumes from it */
        for (size_t j = 0; j < n_jobs && !rc; j++)
            if (jobs[j].rc == DT_EINVAL) {
                char id[DT_XXH128_HEX_LEN + 1];
                dt_probe_id(jobs[j].kind, jobs[j].prompt, strlen(jobs[j].prompt), id);
                rc = dt_error_set(err, DT_EINVAL,
                                  "probe %.12s of corpus '%s' does not fit the model's context "
                                  "of %d tokens", id, c->name, n_ctx);
            }
    }
done:
    if (run_open) {
        struct dt_error e2 = {0};
        dt_store_run_end(s, r.run_id, rc ? dt_exit_code_for(rc) : 0, &e2);
    }
    if (res)
        *res = r;
    for (size_t j = 0; got && j < n_got; j++)
        dt_sample_release(&got[j]);
    dt_free(got);
    dt_free(jobs);
    dt_free(have);
    dt_batch_free(batch);
    dt_ctx_free(cx);
    dt_chat_template_free(chat);
    cJSON_free(params);
    dt_free(key);
    dt_free(name);
    return rc;
}

int dt_collect_local(struct dt_store *s, const char *model_path, const char *model_name,
                     const struct dt_corpus *c, const struct dt_collect_params *p, int argc,
                     char *const *argv, dt_collect_progress_cb progress, void *ud,
                     struct dt_collect_result *res, struct dt_error *err)
{
    struct dt_model *m = NULL;
    int rc = dt_model_open(model_path, &m, err);
    if (rc)
        return rc;
    struct dt_collect_params q = *p;
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    if (!q.chat_template && dt_tokenizer_find(tok, "<|user|>") >= 0 &&
        dt_tokenizer_find(tok, "<|assistant|>") >= 0)
        q.chat_template = "<|user|>{prompt}<|assistant|>";
    rc = dt_store_collect(s, m, model_name, c, &q, argc, argv, progress, ud, res, err);
    dt_model_free(m);
    return rc;
}

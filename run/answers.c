/* Answer sources on evidence stores (see answers.h). */
#include "run/answers.h"

#include "infer/arch.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "reports/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

char *dt_answers_params_json(const char *model_xxh128, const struct dt_sample_gen_params *gen,
                             enum dt_probe_kind kind, uint64_t seed)
{
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
    const char *tmpl = kind == DT_PROBE_CHAT ? gen->chat_template : NULL;
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "model_xxh128", model_xxh128) &&
        cJSON_AddNumberToObject(o, "temperature", gen->temperature) &&
        cJSON_AddNumberToObject(o, "top_k", gen->top_k) &&
        cJSON_AddNumberToObject(o, "top_p", gen->top_p) && cJSON_AddStringToObject(o, "seed", sd) &&
        cJSON_AddNumberToObject(o, "n_predict", gen->n_predict) &&
        cJSON_AddNumberToObject(o, "n_top", gen->n_top) &&
        (tmpl ? cJSON_AddStringToObject(o, "chat_template", tmpl)
              : cJSON_AddNullToObject(o, "chat_template")))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The newest observation matching the key, by settings (or by model id alone). */
static const char sql_find_settings[] =
    "SELECT o.id FROM observations o JOIN collections c ON c.id = o.collection_id"
    " JOIN models m ON m.id = c.model_id JOIN probes p ON p.id = o.probe_id"
    " WHERE p.xxh128 = ?1 AND o.sample_index = ?2 AND m.xxh128 = ?3 AND c.source = 'local'"
    " AND json_extract(c.params, '$.seed') = ?4 AND json_extract(c.params, '$.temperature') = ?5"
    " AND json_extract(c.params, '$.top_k') = ?6 AND json_extract(c.params, '$.top_p') = ?7"
    " AND json_extract(c.params, '$.n_predict') = ?8 AND json_extract(c.params, '$.n_top') = ?9"
    " AND (p.kind = 'text' OR json_extract(c.params, '$.chat_template') IS ?10)"
    " ORDER BY o.id LIMIT 1";
static const char sql_find_model[] =
    "SELECT o.id FROM observations o JOIN collections c ON c.id = o.collection_id"
    " JOIN probes p ON p.id = o.probe_id"
    " WHERE p.xxh128 = ?1 AND o.sample_index = ?2 AND c.model_id = ?3 ORDER BY o.id LIMIT 1";

static int find_in(struct dt_store *s, const struct dt_store_answers *a,
                   const struct dt_answer_key *k, int by_model, int64_t *obs, struct dt_error *err)
{
    sqlite3 *db = dt_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, by_model ? sql_find_model : sql_find_settings, -1, &st, NULL) !=
        SQLITE_OK) {
        int rc = dt_error_set(err, DT_EDB, "'%s': looking up stored answers: %s",
                              dt_store_path(s), sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_bind_text(st, 1, k->probe_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k->sample_index);
    if (by_model) {
        sqlite3_bind_int64(st, 3, a->any_settings_model_id);
    } else {
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)k->seed);
        const struct dt_sample_gen_params *g = k->gen;
        sqlite3_bind_text(st, 3, a->model_xxh128, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, sd, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 5, g->temperature);
        sqlite3_bind_int(st, 6, g->top_k);
        sqlite3_bind_double(st, 7, g->top_p);
        sqlite3_bind_int(st, 8, g->n_predict);
        sqlite3_bind_int(st, 9, g->n_top);
        if (k->kind == DT_PROBE_CHAT && g->chat_template)
            sqlite3_bind_text(st, 10, g->chat_template, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 10);
    }
    int r = sqlite3_step(st), rc = 0;
    *obs = 0;
    if (r == SQLITE_ROW)
        *obs = sqlite3_column_int64(st, 0);
    else if (r != SQLITE_DONE)
        rc = dt_error_set(err, DT_EDB, "'%s': looking up stored answers: %s", dt_store_path(s),
                          sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static int model_hash(struct dt_store_answers *a, const struct dt_party *party,
                      struct dt_error *err)
{
    if (a->model_xxh128[0] || !party->model)
        return 0;
    char sha[65];
    uint64_t size = 0;
    return dt_store_hash_path(party->path, sha, a->model_xxh128, &size, err);
}

static int lookup(void *ud, const struct dt_party *party, const struct dt_answer_key *k,
                  struct dt_sample *out, int *found, struct dt_error *err)
{
    struct dt_store_answers *a = ud;
    *found = 0;
    int rc = model_hash(a, party, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < DT_ANSWERS_MAX_READ; i++) {
        if (!a->read[i])
            continue;
        int by_model = i == 0 && a->any_settings_model_id > 0;
        if (!by_model && !a->model_xxh128[0])
            continue;
        int64_t obs = 0;
        if ((rc = find_in(a->read[i], a, k, by_model, &obs, err)))
            return rc;
        if (!obs)
            continue;
        if ((rc = dt_store_observation_get(a->read[i], obs, out, err)))
            return rc;
        out->sample_index = k->sample_index;
        *found = 1;
        a->n_found++;
        return 0;
    }
    return 0;
}

int dt_store_party_model(struct dt_store *s, const struct dt_party *party, int64_t *model_id,
                         struct dt_error *err)
{
    struct dt_store_model sm = {0};
    sm.name = party->name;
    if (party->model) {
        sm.path = party->path;
        sm.format = dt_model_format(party->model) == DT_FORMAT_GGUF ? "gguf" : "safetensors";
        sm.arch = dt_model_config(party->model)->arch->name;
        sm.n_params = dt_model_n_params(party->model);
        sm.tokenizer_hash = dt_tokenizer_hash(party->tok);
    } else {
        sm.format = "api";
    }
    return dt_store_model_upsert(s, &sm, model_id, err);
}

static int write_collection(struct dt_store_answers *a, const struct dt_party *party,
                            const struct dt_answer_key *k, int64_t *coll, struct dt_error *err)
{
    int rc;
    if (!a->write_model_id && (rc = dt_store_party_model(a->write, party, &a->write_model_id, err)))
        return rc;
    char *params = dt_answers_params_json(a->model_xxh128, k->gen, k->kind, k->seed);
    if (!params)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    char h[DT_XXH128_HEX_LEN + 1], key[48];
    dt_hash_xxh128_hex(params, strlen(params), h);
    snprintf(key, sizeof key, "answers:%s", h);
    for (size_t i = 0; i < a->n_coll; i++)
        if (!strcmp(a->coll_key[i], key)) {
            *coll = a->coll_id[i];
            cJSON_free(params);
            return 0;
        }
    rc = dt_store_collection_open(a->write, key, a->write_model_id, 0, "local", params, a->run_id,
                                  coll, NULL, err);
    cJSON_free(params);
    if (rc == 0 && a->n_coll < DT_ANSWERS_MAX_COLL) {
        a->coll_id[a->n_coll] = *coll;
        snprintf(a->coll_key[a->n_coll++], sizeof a->coll_key[0], "%s", key);
    }
    return rc;
}

static int flush(void *ud, int ok, struct dt_error *err)
{
    struct dt_store_answers *a = ud;
    if (!a->in_txn)
        return 0;
    a->in_txn = 0;
    a->n_pending = 0;
    if (!ok) {
        /* keep what was generated: a rerun then has less to do */
        struct dt_error e2 = {0};
        if (dt_store_commit(a->write, &e2))
            dt_store_rollback(a->write);
        return 0;
    }
    int rc = dt_store_commit(a->write, err);
    if (rc)
        dt_store_rollback(a->write);
    return rc;
}

static int record(void *ud, const struct dt_party *party, const struct dt_answer_key *k,
                  const struct dt_sample *s, struct dt_error *err)
{
    struct dt_store_answers *a = ud;
    if (!a->write || !party->model)
        return 0;
    int64_t coll = 0;
    int rc = model_hash(a, party, err), ins = 0;
    if (!rc && !a->in_txn) {
        if ((rc = dt_store_begin(a->write, err)) == 0) {
            a->in_txn = 1;
            a->t_begin = dt_time_now();
        }
    }
    if (rc || (rc = write_collection(a, party, k, &coll, err)) ||
        (rc = dt_store_observation_insert(a->write, coll, a->run_id, s, &ins, err)))
        return dt_error_prefix(err, "recording an answer in '%s'", dt_store_path(a->write));
    a->n_recorded += (size_t)ins;
    if (++a->n_pending >= DT_ANSWERS_BATCH || dt_time_now() - a->t_begin >= DT_ANSWERS_BATCH_S)
        return flush(a, 1, err);
    return 0;
}

void dt_store_answers_init(struct dt_store_answers *a, struct dt_store *write, int64_t run_id)
{
    memset(a, 0, sizeof *a);
    a->src.lookup = lookup;
    a->src.record = record;
    a->src.flush = flush;
    a->src.ud = a;
    a->write = write;
    a->run_id = run_id;
    a->read[DT_ANSWERS_MAX_READ - 1] = write;
}

int dt_store_answers_record_all(struct dt_store *s, int64_t run_id, int64_t model_id,
                                const char *collection_key, const struct dt_sample_set *set,
                                size_t *n_new, struct dt_error *err)
{
    int64_t coll = 0;
    int rc = dt_store_begin(s, err);
    if (rc)
        return rc;
    *n_new = 0;
    if ((rc = dt_store_collection_open(s, collection_key, model_id, 0, "transcript", "{}", run_id,
                                       &coll, NULL, err)))
        goto fail;
    for (size_t i = 0; i < set->n; i++) {
        int ins = 0;
        if ((rc = dt_store_observation_insert(s, coll, run_id, &set->items[i], &ins, err)))
            goto fail;
        *n_new += (size_t)ins;
    }
    return dt_store_commit(s, err);
fail:
    dt_store_rollback(s);
    return rc;
}

/*
 * Transcript import (see ingest.h): parse the whole file first (no database access), then
 * write run, model, collection and every observation inside one IMMEDIATE transaction.
 */
#include "reports/ingest.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"

#include <cJSON.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int dt_store_import_transcripts(struct dt_store *s, int argc, char *const *argv, const char *path,
                                const char *model_name, const struct dt_transcript_options *opt,
                                struct dt_import_result *res, struct dt_error *err)
{
    struct dt_sample_set set;
    struct dt_transcript_stats st;
    struct dt_import_result r = {0};
    char xxh[DT_XXH128_HEX_LEN + 1];
    char *key = NULL, *params = NULL;
    cJSON *pj = NULL;
    uint64_t size = 0;
    int rc, in_tx = 0;
    dt_sample_set_init(&set);
    if ((rc = dt_transcript_load(path, opt, &set, &st, err)))
        goto done;
    r.n_records = st.n_records;
    r.n_bad = st.n_bad;
    memcpy(r.n_by_format, st.n_by_format, sizeof r.n_by_format);
    if ((rc = dt_hash_file(path, NULL, xxh, &size, err)))
        goto done;
    size_t n_key = strlen(model_name) + sizeof xxh + 32;
    if (!(key = dt_malloc(n_key))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory importing '%s'", path);
        goto done;
    }
    snprintf(key, n_key, "transcript:%s:%s", xxh, model_name);
    /* The absolute path, for the chain of custody; the given one if it cannot be resolved. */
    char abs_buf[PATH_MAX];
    const char *abs = realpath(path, abs_buf);
    pj = cJSON_CreateObject();
    int ok = pj && cJSON_AddStringToObject(pj, "file", abs ? abs : path);
    if (!ok || !cJSON_AddStringToObject(pj, "file_xxh128", xxh) ||
        !cJSON_AddNumberToObject(pj, "file_bytes", (double)size) ||
        !cJSON_AddStringToObject(pj, "format", dt_transcript_format_name(opt ? opt->format : 0)) ||
        !(params = cJSON_PrintUnformatted(pj))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory importing '%s'", path);
        goto done;
    }
    if ((rc = dt_store_begin(s, err)))
        goto done;
    in_tx = 1;
    struct dt_store_model m = {.name = model_name, .format = "api", .n_params = -1};
    int created = 0;
    if ((rc = dt_store_run_begin(s, argc, argv, NULL, 0, &r.run_id, err)) ||
        (rc = dt_store_model_upsert(s, &m, &r.model_id, err)) ||
        (rc = dt_store_collection_open(s, key, r.model_id, 0, "transcript", params, r.run_id,
                                       &r.collection_id, &created, err)))
        goto done;
    for (size_t i = 0; i < set.n; i++) {
        int inserted = 0;
        if ((rc = dt_store_observation_insert(s, r.collection_id, r.run_id, &set.items[i],
                                              &inserted, err))) {
            dt_error_prefix(err, "'%s' record %zu", path, i + 1);
            goto done;
        }
        if (inserted)
            r.n_inserted++;
        else
            r.n_existing++;
    }
    if ((rc = dt_store_run_end(s, r.run_id, 0, err)) || (rc = dt_store_commit(s, err)))
        goto done;
    in_tx = 0;
    if (res)
        *res = r;
done:
    if (in_tx)
        dt_store_rollback(s);
    if (rc && res)
        *res = r;
    cJSON_Delete(pj);
    cJSON_free(params);
    dt_free(key);
    dt_sample_set_release(&set);
    return rc;
}

int dt_corpus_resolve(struct dt_store *s, const char *spec, enum dt_probe_kind default_kind,
                      struct dt_corpus **out, struct dt_error *err)
{
    if (!strncmp(spec, "builtin:", 8))
        return dt_corpus_builtin(spec + 8, out, err);
    if (dt_path_exists(spec) && !dt_path_is_dir(spec))
        return dt_corpus_load_file(spec, NULL, default_kind, out, err);
    for (const char *const *n = dt_corpus_builtin_names(); *n; n++)
        if (!strcmp(*n, spec))
            return dt_corpus_builtin(spec, out, err);
    if (s) {
        int rc = dt_store_corpus_load(s, spec, out, err);
        if (rc != DT_ENOTFOUND)
            return rc;
    }
    return dt_error_set(err, DT_ENOTFOUND,
                        "no corpus '%s': not a built-in corpus (identity, chat, continuation), "
                        "a file%s",
                        spec, s ? " or a corpus in the store" : "");
}

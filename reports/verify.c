/*
 * Verification of a rendered report (see verify.h): the format is recognised and its
 * integrity record read back through the renderer table, the document's own digest is
 * recomputed, the run is reloaded from the store and its evidence digest compared, and
 * every recorded input is checked against the store and, where present, re-hashed on disk.
 */
#include "reports/verify.h"
#include "reports/format.h"
#include "reports/integrity.h"
#include "reports/report.h"
#include "reports/store.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"

#include <cJSON.h>
#include <string.h>

static const char zeros64[] = "0000000000000000000000000000000000000000000000000000000000000000";

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = dt_strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int dt_report_verify(struct dt_store *s, const char *data, size_t n_bytes,
                     struct dt_report_verification *out, struct dt_error *err)
{
    memset(out, 0, sizeof *out);
    out->format = dt_report_format_sniff(data, n_bytes);
    char *rec_text = out->format ? out->format->extract(data, n_bytes) : NULL;
    cJSON *rec = rec_text ? cJSON_Parse(rec_text) : NULL;
    struct dt_report *r = NULL;
    char *copy = NULL;
    int rc = 0, oom = 0;
    dt_free(rec_text);
    const cJSON *run_id = cJSON_GetObjectItemCaseSensitive(rec, "run_id");
    const char *body = jstr(rec, "body_sha256"), *evidence = jstr(rec, "evidence_sha256");
    if (!rec || !cJSON_IsNumber(run_id) || !body || !evidence) {
        rc = dt_error_set(err, DT_EFORMAT, "no distiltrace integrity record in the %s report",
                          out->format ? out->format->name : "unknown");
        goto done;
    }
    out->run_id = (int64_t)run_id->valuedouble;

    /* the document's own digest */
    long at = dt_report_find_body_digest(data, n_bytes, 0);
    if (at >= 0 && (copy = dt_malloc(n_bytes ? n_bytes : 1))) {
        char hex[DT_SHA256_HEX_LEN + 1];
        memcpy(copy, data, n_bytes);
        memcpy(copy + at, zeros64, 64);
        dt_hash_sha256_hex(copy, n_bytes, hex);
        out->body_ok = !strncmp(hex, data + at, 64) && !strcmp(hex, body);
    } else if (at >= 0) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory verifying a report");
        goto done;
    }

    /* the store */
    struct dt_error e2 = {0};
    int lrc = dt_report_load(s, out->run_id, &r, &e2);
    if (lrc && lrc != DT_ENOTFOUND) {
        if (err)
            *err = e2;
        rc = lrc;
        goto done;
    }
    out->run_found = lrc == 0;
    out->evidence_ok = r && !strcmp(r->evidence_sha256, evidence);

    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(rec, "inputs"), *it;
    int n_in = cJSON_IsArray(ins) ? cJSON_GetArraySize(ins) : 0;
    if (n_in > 0 && !(out->files = dt_calloc((size_t)n_in, sizeof *out->files))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory verifying a report");
        goto done;
    }
    cJSON_ArrayForEach(it, ins)
    {
        struct dt_report_file_check *fc = &out->files[out->n_files++];
        const char *role = jstr(it, "role"), *sha = jstr(it, "sha256"), *path = jstr(it, "path");
        fc->role = dup_or_null(role ? role : "", &oom);
        fc->name = dup_or_null(jstr(it, "name"), &oom);
        fc->path = dup_or_null(path, &oom);
        fc->recorded_sha256 = dup_or_null(sha, &oom);
        fc->store_state = DT_REPORT_CHECK_MISMATCH;
        for (size_t i = 0; r && i < r->n_inputs; i++) {
            const struct dt_report_input *in = &r->inputs[i];
            if (role && !strcmp(in->role, role) &&
                ((!sha && !in->sha256) || (sha && in->sha256 && !strcmp(sha, in->sha256))))
                fc->store_state = DT_REPORT_CHECK_OK;
        }
        if (!path || !dt_path_exists(path)) {
            fc->file_state = DT_REPORT_CHECK_MISSING;
            out->n_missing++;
        } else {
            char hex[DT_SHA256_HEX_LEN + 1];
            struct dt_error e3 = {0};
            if (dt_store_hash_path(path, hex, NULL, NULL, &e3) == 0 && sha && !strcmp(hex, sha))
                fc->file_state = DT_REPORT_CHECK_OK;
            else
                fc->file_state = DT_REPORT_CHECK_MISMATCH;
        }
        if (fc->store_state != DT_REPORT_CHECK_OK || fc->file_state == DT_REPORT_CHECK_MISMATCH)
            out->n_mismatch++;
    }
    if (oom)
        rc = dt_error_set(err, DT_ENOMEM, "out of memory verifying a report");
done:
    dt_free(copy);
    cJSON_Delete(rec);
    dt_report_free(r);
    if (rc)
        dt_report_verification_release(out);
    return rc;
}

int dt_report_verification_ok(const struct dt_report_verification *v)
{
    return v->body_ok && v->run_found && v->evidence_ok && v->n_mismatch == 0;
}

void dt_report_verification_release(struct dt_report_verification *v)
{
    for (size_t i = 0; i < v->n_files; i++) {
        dt_free(v->files[i].role);
        dt_free(v->files[i].name);
        dt_free(v->files[i].path);
        dt_free(v->files[i].recorded_sha256);
    }
    dt_free(v->files);
    memset(v, 0, sizeof *v);
}

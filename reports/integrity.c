/*
 * The integrity record of a report and its verification (see report.h).
 *
 * The record is compact JSON: {"tool", "rendered_by", "format", "run_id", "run_started_at",
 * "evidence_sha256", "inputs": [{"role", "name", "path", "sha256", "size_bytes"}],
 * "body_sha256"}. It is embedded per format, always as the last thing in the document: a
 * comment "<!-- distiltrace-integrity {...} -->" closing HTML, Markdown and JUnit XML (with
 * - < > & written as \u00XX so the comment cannot end early), the last member "integrity" of
 * the JSON report, the last run property "distiltrace/integrity" in SARIF. body_sha256 is the
 * SHA-256 of the whole document with its own 64 hex digits replaced by zeros, so verification needs
 * no knowledge of the format beyond finding the record.
 */
#include "reports/report.h"
#include "reports/report_internal.h"
#include "reports/store.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char zeros64[] = "0000000000000000000000000000000000000000000000000000000000000000";

char *dt_report_integrity_json(const struct dt_report *r, enum dt_report_format f)
{
    cJSON *o = cJSON_CreateObject(), *ins;
    char *s = NULL;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "tool", "distiltrace");
    cJSON_AddStringToObject(o, "rendered_by", DT_VERSION);
    cJSON_AddStringToObject(o, "format", dt_report_format_name(f));
    cJSON_AddNumberToObject(o, "run_id", (double)r->run_id);
    cJSON_AddStringToObject(o, "run_started_at", r->started_at ? r->started_at : "");
    cJSON_AddStringToObject(o, "evidence_sha256", r->evidence_sha256);
    if ((ins = cJSON_AddArrayToObject(o, "inputs"))) {
        for (size_t i = 0; i < r->n_inputs; i++) {
            const struct dt_report_input *in = &r->inputs[i];
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(ins, e)) {
                cJSON_Delete(e);
                goto done;
            }
            cJSON_AddStringToObject(e, "role", in->role);
            cJSON_AddStringToObject(e, "name", in->name ? in->name : "");
            if (in->path)
                cJSON_AddStringToObject(e, "path", in->path);
            else
                cJSON_AddNullToObject(e, "path");
            if (in->sha256)
                cJSON_AddStringToObject(e, "sha256", in->sha256);
            else
                cJSON_AddNullToObject(e, "sha256");
            if (in->size_bytes >= 0)
                cJSON_AddNumberToObject(e, "size_bytes", (double)in->size_bytes);
            else
                cJSON_AddNullToObject(e, "size_bytes");
        }
    }
    cJSON_AddStringToObject(o, "body_sha256", zeros64);
    s = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    if (!s)
        return NULL;
    char *copy = dt_strdup(s);
    cJSON_free(s);
    return copy;
}

/* The offset of the 64 hex digits of the last "body_sha256" member in doc[start..len) (any
 * whitespace around the colon), or -1. The record is the last thing in every format and user
 * text never holds a bare quote (HTML, XML and Markdown escape it; JSON writes \"), so the
 * last one is the record's. */
static long find_body_digest(const char *doc, size_t len, size_t start)
{
    static const char key[] = "\"body_sha256\"";
    size_t klen = sizeof key - 1;
    for (size_t i = len; i-- > start;) {
        if (doc[i] != '"' || i + klen > len || memcmp(doc + i, key, klen))
            continue;
        size_t j = i + klen;
        while (j < len && (doc[j] == ' ' || doc[j] == '\t' || doc[j] == '\n' || doc[j] == '\r'))
            j++;
        if (j >= len || doc[j++] != ':')
            return -1;
        while (j < len && (doc[j] == ' ' || doc[j] == '\t' || doc[j] == '\n' || doc[j] == '\r'))
            j++;
        if (j >= len || doc[j++] != '"' || j + 64 > len)
            return -1;
        for (size_t k = 0; k < 64; k++)
            if (!isxdigit((unsigned char)doc[j + k]))
                return -1;
        return (long)j;
    }
    return -1;
}

void dt_report_embed_comment(struct dt_strbuf *sb, const char *json)
{
    dt_strbuf_puts(sb, "<!-- distiltrace-integrity ");
    for (const char *p = json; *p; p++) {
        if (strchr("-<>&", *p))
            dt_strbuf_printf(sb, "\\u%04x", (unsigned)(unsigned char)*p);
        else
            dt_strbuf_putc(sb, *p);
    }
    dt_strbuf_puts(sb, " -->\n");
}

int dt_report_seal(struct dt_strbuf *doc, size_t start, struct dt_error *err)
{
    if (dt_strbuf_failed(doc))
        return dt_error_set(err, DT_ENOMEM, "out of memory rendering a report");
    long at = find_body_digest(doc->data, doc->len, start);
    if (at < 0 || memcmp(doc->data + at, zeros64, 64))
        return dt_error_set(err, DT_EINTERNAL, "rendered report has no digest placeholder");
    char hex[DT_SHA256_HEX_LEN + 1];
    dt_hash_sha256_hex(doc->data + start, doc->len - start, hex);
    memcpy(doc->data + at, hex, 64);
    return 0;
}

int dt_report_render(const struct dt_report *r, enum dt_report_format f, struct dt_strbuf *out,
                     struct dt_error *err)
{
    size_t start = out->len;
    int rc;
    if (!r->verdict.present) {
        const char *why = "it recorded no verdict";
        char buf[96];
        if (r->status && !strcmp(r->status, "running"))
            why = "it is still running";
        else if (r->has_exit_code && r->exit_code == DT_EXIT_INTERRUPTED)
            why = "it was interrupted before reaching one";
        else if (r->status && !strcmp(r->status, "failed") && r->has_exit_code) {
            snprintf(buf, sizeof buf, "it failed with exit status %d", r->exit_code);
            why = buf;
        } else if (r->command && strcmp(r->command, "compare") && strcmp(r->command, "check") &&
                   strcmp(r->command, "attribute")) {
            snprintf(buf, sizeof buf, "it is a '%.40s' run, not a comparison", r->command);
            why = buf;
        }
        return dt_error_set(err, DT_ENOTFOUND, "run %lld has no verdict to report: %s",
                            (long long)r->run_id, why);
    }
    switch (f) {
    case DT_REPORT_HTML:
        rc = dt_report_render_html(r, out);
        break;
    case DT_REPORT_MD:
        rc = dt_report_render_md(r, out);
        break;
    case DT_REPORT_JSON:
        rc = dt_report_render_json(r, out);
        break;
    case DT_REPORT_JUNIT:
        rc = dt_report_render_junit(r, out);
        break;
    case DT_REPORT_SARIF:
        rc = dt_report_render_sarif(r, out);
        break;
    default:
        return dt_error_set(err, DT_EINVAL, "unknown report format %d", (int)f);
    }
    if (rc == 0 && dt_strbuf_failed(out))
        rc = DT_ENOMEM;
    if (rc)
        return dt_error_set(err, rc, "%s rendering the %s report of run %lld",
                            rc == DT_ENOMEM ? "out of memory" : "failed", dt_report_format_name(f),
                            (long long)r->run_id);
    return dt_report_seal(out, start, err);
}

/* ---- verification ---- */

static enum dt_report_format sniff(const char *d, size_t n)
{
    if (!d || n == 0)
        return DT_REPORT_MD;
    size_t i = 0;
    if (n >= 3 && !memcmp(d, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && isspace((unsigned char)d[i]))
        i++;
    if (i < n && d[i] == '{')
        return memmem(d, n, "\"$schema\"", 9) && memmem(d, n, "sarif", 5) ? DT_REPORT_SARIF
                                                                          : DT_REPORT_JSON;
    if (n - i >= 5 && !memcmp(d + i, "<?xml", 5))
        return DT_REPORT_JUNIT;
    if (n - i >= 9 && !strncasecmp(d + i, "<!doctype", 9))
        return DT_REPORT_HTML;
    return DT_REPORT_MD;
}

/* The record's JSON text (heap) from the document, or NULL. */
static char *extract_record(const char *d, size_t n, enum dt_report_format f)
{
    if (f == DT_REPORT_HTML || f == DT_REPORT_MD || f == DT_REPORT_JUNIT) {
        const char *mark = "<!-- distiltrace-integrity ", *a = NULL, *p = d;
        /* the last one: the record closes the document */
        while ((p = memmem(p, n - (size_t)(p - d), mark, strlen(mark)))) {
            a = p;
            p += strlen(mark);
        }
        if (!a)
            return NULL;
        a += strlen(mark);
        const char *b = memmem(a, n - (size_t)(a - d), " -->", 4);
        return b ? dt_strndup(a, (size_t)(b - a)) : NULL;
    }
    cJSON *root = cJSON_ParseWithLength(d, n);
    const cJSON *rec = NULL;
    if (f == DT_REPORT_JSON) {
        rec = cJSON_GetObjectItemCaseSensitive(root, "integrity");
    } else {
        const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
        const cJSON *props =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "properties");
        rec = cJSON_GetObjectItemCaseSensitive(props, "distiltrace/integrity");
    }
    char *s = cJSON_IsObject(rec) ? cJSON_PrintUnformatted(rec) : NULL;
    char *copy = s ? dt_strdup(s) : NULL;
    cJSON_free(s);
    cJSON_Delete(root);
    return copy;
}

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
    out->format = sniff(data, n_bytes);
    char *rec_text = extract_record(data, n_bytes, out->format);
    cJSON *rec = rec_text ? cJSON_Parse(rec_text) : NULL;
    struct dt_report *r = NULL;
    char *copy = NULL;
    int rc = 0, oom = 0;
    dt_free(rec_text);
    const cJSON *run_id = cJSON_GetObjectItemCaseSensitive(rec, "run_id");
    const char *body = jstr(rec, "body_sha256"), *evidence = jstr(rec, "evidence_sha256");
    if (!rec || !cJSON_IsNumber(run_id) || !body || !evidence) {
        rc = dt_error_set(err, DT_EFORMAT, "no distiltrace integrity record in the %s report",
                          dt_report_format_name(out->format));
        goto done;
    }
    out->run_id = (int64_t)run_id->valuedouble;

    /* the document's own digest */
    long at = find_body_digest(data, n_bytes, 0);
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

/*
 * The integrity record of a report (see integrity.h): built here, embedded and found again by
 * each format's renderer, checked by verify.c. Depends on nothing of the renderers.
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
#include "reports/integrity.h"
#include "reports/report.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char zeros64[] = "0000000000000000000000000000000000000000000000000000000000000000";

char *dt_report_integrity_json(const struct dt_report *r, const char *format_name)
{
    cJSON *o = cJSON_CreateObject(), *ins;
    char *s = NULL;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "tool", "distiltrace");
    cJSON_AddStringToObject(o, "rendered_by", DT_VERSION);
    cJSON_AddStringToObject(o, "format", format_name);
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
long dt_report_find_body_digest(const char *doc, size_t len, size_t start)
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
    long at = dt_report_find_body_digest(doc->data, doc->len, start);
    if (at < 0 || memcmp(doc->data + at, zeros64, 64))
        return dt_error_set(err, DT_EINTERNAL, "rendered report has no digest placeholder");
    char hex[DT_SHA256_HEX_LEN + 1];
    dt_hash_sha256_hex(doc->data + start, doc->len - start, hex);
    memcpy(doc->data + at, hex, 64);
    return 0;
}

char *dt_report_comment_record(const char *d, size_t n)
{
    const char *mark = "<!-- distiltrace-integrity ", *a = NULL, *p = d;
    size_t ml = strlen(mark);
    if (!d)
        return NULL;
    /* the last one: the record closes the document */
    while ((p = memmem(p, n - (size_t)(p - d), mark, ml))) {
        a = p;
        p += ml;
    }
    if (!a)
        return NULL;
    a += ml;
    const char *b = memmem(a, n - (size_t)(a - d), " -->", 4);
    return b ? dt_strndup(a, (size_t)(b - a)) : NULL;
}

size_t dt_report_skip_space(const char *d, size_t n)
{
    size_t i = 0;
    if (!d)
        return 0;
    if (n >= 3 && !memcmp(d, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && isspace((unsigned char)d[i]))
        i++;
    return i;
}

/*
 * The integrity record every report carries (private to reports/): building it, embedding
 * it, sealing the document with its digest, and finding it again. The record is compact
 * JSON: {"tool", "rendered_by", "format", "run_id", "run_started_at", "evidence_sha256",
 * "inputs": [{"role", "name", "path", "sha256", "size_bytes"}], "body_sha256"}, always the
 * last thing in the document; body_sha256 is the SHA-256 of the whole document with its own
 * 64 hex digits replaced by zeros.
 */
#ifndef DT_REPORTS_INTEGRITY_H
#define DT_REPORTS_INTEGRITY_H

#include <stddef.h>

struct dt_error;
struct dt_report;
struct dt_strbuf;

/* The record as compact JSON (heap, dt_free) for a document in the named format, with
 * "body_sha256" set to 64 zeros; NULL on allocation failure. */
char *dt_report_integrity_json(const struct dt_report *r, const char *format_name);
/* Appends "<!-- distiltrace-integrity JSON -->\n" with - < > & written as \u00XX. */
void dt_report_embed_comment(struct dt_strbuf *sb, const char *json);
/* The JSON of the last such comment in data[0..n) (heap, dt_free), or NULL. */
char *dt_report_comment_record(const char *data, size_t n);
/* The offset of a document's first byte past a UTF-8 byte-order mark and white space. */
size_t dt_report_skip_space(const char *data, size_t n);
/* Replaces the zeros of doc[start..)'s last "body_sha256" with the document's SHA-256. */
int dt_report_seal(struct dt_strbuf *doc, size_t start, struct dt_error *err);
/* The offset of the 64 hex digits of the last "body_sha256" member in doc[start..len), or -1. */
long dt_report_find_body_digest(const char *doc, size_t len, size_t start);

#endif

/*
 * The renderer table: every report format as a struct dt_report_format row (reports/report.h),
 * looked up by name for the command line and by content for verification, and rendering a
 * loaded run in one of them, sealed with its digest.
 */
#ifndef DT_REPORTS_FORMAT_H
#define DT_REPORTS_FORMAT_H

#include "reports/report.h"

#include <stddef.h>

struct dt_error;
struct dt_strbuf;

/* The rows, in the order help lists them; i < dt_report_n_formats(). */
size_t dt_report_n_formats(void);
const struct dt_report_format *dt_report_format_at(size_t i);
/* The format named name (or its alias: "markdown", "xml"); NULL when unknown. */
const struct dt_report_format *dt_report_format_parse(const char *name);
/* The format the document data[0..n) is in: the row whose sniff scores highest. */
const struct dt_report_format *dt_report_format_sniff(const char *data, size_t n);
/* The names joined by sep ("html, md, json, junit, sarif") into buf; buf is cut to fit. */
void dt_report_format_names(char *buf, size_t n, const char *sep);

/* Appends the rendered report, sealed with its digest, to out. A run without a verdict is
 * refused (DT_ENOTFOUND saying why); DT_EINVAL when f is NULL. */
int dt_report_render(const struct dt_report *r, const struct dt_report_format *f,
                     struct dt_strbuf *out, struct dt_error *err);

#endif

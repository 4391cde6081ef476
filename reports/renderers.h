/*
 * The rows of the renderer table, each defined by its reports/render_NAME.c (private to
 * reports/: only formats.c lists them; everything else finds a format through format.h).
 */
#ifndef DT_REPORTS_RENDERERS_H
#define DT_REPORTS_RENDERERS_H

#include "reports/report.h"

extern const struct dt_report_format dt_report_format_html;  /* render_html.c */
extern const struct dt_report_format dt_report_format_md;    /* render_md.c */
extern const struct dt_report_format dt_report_format_json;  /* render_json.c */
extern const struct dt_report_format dt_report_format_junit; /* render_junit.c */
extern const struct dt_report_format dt_report_format_sarif; /* render_sarif.c */

#endif

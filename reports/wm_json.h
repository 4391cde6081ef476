/*
 * The watermark radioactivity result (detect/watermark.h) rendered as JSON for `watermark
 * radioactivity --json`.
 */
#ifndef DT_REPORTS_WM_JSON_H
#define DT_REPORTS_WM_JSON_H

#include "detect/watermark.h"

struct dt_error;

/*
 * The result as one JSON object (heap text, dt_free): scheme, key (a string: 64-bit keys do not
 * fit a JSON number), gamma, suspect (when not NULL), sample sizes, "text" and "logit" objects
 * with each mode's statistics, "combination": "bonferroni" and the top-level "p_value".
 */
int dt_wm_radio_json(const struct dt_wm_radio_result *r, const struct dt_wm_params *p,
                     const char *suspect, char **out, struct dt_error *err);

#endif

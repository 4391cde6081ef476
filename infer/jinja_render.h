/*
 * Rendering a parsed chat template (infer/jinja.h) with JSON variables (infer/jinja_eval.c).
 */
#ifndef DT_INFER_JINJA_RENDER_H
#define DT_INFER_JINJA_RENDER_H

#include <stddef.h>

struct cJSON;
struct dt_error;
struct dt_jinja;

struct dt_jinja_limits {
    size_t max_output_bytes; /* 0: 1 MiB */
    size_t max_memory_bytes; /* render-time allocations; 0: 64 MiB */
    long max_steps;          /* expression and statement evaluations; 0: 2 million */
    int max_call_depth;      /* nested macro calls; 0: 64 */
};

/*
 * Renders with the variables of a JSON object (vars: messages, add_generation_prompt,
 * bos_token, ...; JSON null is Jinja's none). date is "YYYY-MM-DD", the day strftime_now
 * reports (midnight UTC), so renders are reproducible; NULL: 1970-01-01. limits may be NULL.
 * *out is NUL-terminated (dt_free); *n_bytes (optional) its length.
 */
int dt_jinja_render(const struct dt_jinja *t, const struct cJSON *vars, const char *date,
                    const struct dt_jinja_limits *limits, char **out, size_t *n_bytes,
                    struct dt_error *err);

#endif

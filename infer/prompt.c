/*
 * Chat-template prompt encoding (see infer/prompt.h): three tokenizer calls (prefix, user
 * text, suffix) concatenated, so template text never merges with the user's text into one
 * token, as in chat formats where the markers are control tokens.
 */
#include "infer/prompt.h"

#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <string.h>

int dt_prompt_encode(const struct dt_tokenizer *t, const char *tmpl, const char *prompt,
                     int parse_special_prompt, int32_t **ids, size_t *n_ids, struct dt_error *err)
{
    if (!tmpl)
        return dt_tokenizer_encode(t, prompt, strlen(prompt), parse_special_prompt, ids, n_ids, err);
    const char *ph = strstr(tmpl, "{prompt}");
    if (!ph)
        return dt_error_set(err, DT_EINVAL, "chat template '%.80s' has no '{prompt}' placeholder",
                            tmpl);
    const char *suffix = ph + strlen("{prompt}");
    return dt_prompt_encode_parts(t, tmpl, (size_t)(ph - tmpl), prompt, strlen(prompt), suffix,
                                  strlen(suffix), parse_special_prompt, ids, n_ids, err);
}

int dt_prompt_encode_parts(const struct dt_tokenizer *t, const char *prefix, size_t n_prefix,
                           const char *text, size_t n_text, const char *suffix, size_t n_suffix,
                           int parse_special_text, int32_t **ids, size_t *n_ids,
                           struct dt_error *err)
{
    int32_t *part[3] = {NULL, NULL, NULL}, *all = NULL;
    size_t n[3] = {0, 0, 0};
    int rc;
    if ((rc = dt_tokenizer_encode(t, prefix, n_prefix, 1, &part[0], &n[0], err)) ||
        (rc = dt_tokenizer_encode(t, text, n_text, parse_special_text, &part[1], &n[1], err)) ||
        (rc = dt_tokenizer_encode(t, suffix, n_suffix, 1, &part[2], &n[2], err)))
        goto out;
    all = dt_malloc_array(n[0] + n[1] + n[2] + 1, sizeof *all);
    if (!all) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (int i = 0; i < 3; i++) {
        if (n[i])
            memcpy(all + k, part[i], n[i] * sizeof *all);
        k += n[i];
    }
    *ids = all;
    *n_ids = k;
out:
    for (int i = 0; i < 3; i++)
        dt_free(part[i]);
    return rc;
}

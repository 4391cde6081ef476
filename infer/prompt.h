/*
 * Prompt encoding with a simple chat template: the template's text around the "{prompt}"
 * placeholder is tokenized with special tokens parsed (so "<|user|>" is one control token),
 * the user text with or without special-token parsing as the caller asks. No BOS is added.
 */
#ifndef DT_INFER_PROMPT_H
#define DT_INFER_PROMPT_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_tokenizer;

/* tmpl may be NULL (the prompt alone). A template without "{prompt}" is an error (DT_EINVAL).
 * *ids is a heap array (dt_free). */
int dt_prompt_encode(const struct dt_tokenizer *t, const char *tmpl, const char *prompt,
                     int parse_special_prompt, int32_t **ids, size_t *n_ids, struct dt_error *err);

/* The same from the three parts: prefix and suffix with special tokens parsed, text as
 * parse_special_text asks, each tokenized on its own. */
int dt_prompt_encode_parts(const struct dt_tokenizer *t, const char *prefix, size_t n_prefix,
                           const char *text, size_t n_text, const char *suffix, size_t n_suffix,
                           int parse_special_text, int32_t **ids, size_t *n_ids,
                           struct dt_error *err);

#endif

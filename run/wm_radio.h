/*
 * Watermark radioactivity of a suspect model: the sampling half of the test (the suspect, and
 * the controls for the logit mode, generate and score text here); the statistics it then forms
 * are detect/watermark.h's, the JSON rendering reports/wm_json.h's.
 */
#ifndef DT_RUN_WM_RADIO_H
#define DT_RUN_WM_RADIO_H

#include <stddef.h>

#include "detect/watermark.h"

struct dt_ctx;
struct dt_error;
struct dt_tokenizer;

/* 2 samples of 128 tokens per default prompt at temperature 1, top-p 1, seed 1, both modes. */
void dt_wm_radio_opts_default(struct dt_wm_radio_opts *o);

/*
 * Samples text from the suspect without a watermark and runs the text-mode test with the
 * teacher's tokenizer; when the suspect's ids are the teacher's (dt_tokenizer_ids_compatible),
 * also the logit-mode test on one context per distinct prev of those samples, against gamma and (with
 * controls, which must share the teacher's tokenizer) against the controls' green masses on the
 * same contexts.
 */
int dt_wm_radioactivity(struct dt_ctx *suspect, const struct dt_tokenizer *teacher_tok,
                        struct dt_ctx *const *controls, size_t n_controls,
                        const struct dt_wm_radio_opts *o, struct dt_wm_radio_result *out,
                        struct dt_error *err);

#endif

/*
 * The three watermark operations behind `distiltrace watermark` (spec/watermark.md), each from
 * paths to a result: generate (sample a local model with or without the xxh64-kgw watermark,
 * then run the detector over what it wrote), detect (tokenize texts, plain files or API
 * transcripts, and test them one by one and pooled) and radioactivity (sample a suspect and
 * test it for the teacher's watermark, detect/watermark.h). Parameters are checked before any
 * file is opened (DT_EINVAL naming the field).
 */
#ifndef DT_RUN_WATERMARK_H
#define DT_RUN_WATERMARK_H

#include "detect/watermark.h"       /* dt_wm_radio_opts, dt_wm_radio_result, dt_wm_radio_json */
#include "fingerprint/watermark.h"  /* dt_wm_params, dt_wm_counts, dt_wm_text_test */
#include "fingerprint/wm_sample.h"  /* dt_wm_gen_opts */
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

/* ---- generate ---- */

struct dt_wm_gen_sample {
    const char *prompt; /* borrowed from the run's prompts */
    char *text;         /* the generated continuation, decoded */
    int32_t *ids;       /* (n_ids) the generated ids, in the model's tokenizer */
    size_t n_ids;
    double perplexity;  /* of the generated ids under the model itself; 0 when none */
};

struct dt_wm_gen_run {
    struct dt_wm_gen_sample *samples; /* (n) in prompt order, o->n_samples per prompt */
    size_t n;
    uint64_t n_tokens;           /* generated tokens in all */
    double perplexity;           /* over every generated token (NaN when none) */
    struct dt_wm_counts pooled;  /* the self-check: the detector over the generated ids */
    struct dt_wm_text_test test;
    char *prompt_buf;            /* owns prompts read from prompts_file */
    const char **prompts;        /* (n_prompts) every prompt, in order */
    size_t n_prompts;
};

/* Samples o->n_samples continuations of each prompt (prompts, then the non-empty lines of
 * prompts_file when not NULL) with the watermark wm when watermarked, without it otherwise;
 * o->wm is ignored. */
int dt_wm_gen_run(const char *model_path, const char *const *prompts, size_t n_prompts,
                  const char *prompts_file, const struct dt_wm_params *wm, int watermarked,
                  const struct dt_wm_gen_opts *o, struct dt_wm_gen_run *out, struct dt_error *err);
void dt_wm_gen_run_release(struct dt_wm_gen_run *r);

/* ---- detect ---- */

struct dt_wm_input {
    const char *path;
    int transcripts; /* 1: API transcripts (one text per record, its response); 0: plain text */
};

struct dt_wm_detect_text {
    const char *source; /* the input's path (borrowed from the inputs) */
    size_t line;        /* 1-based line (lines) or record (transcripts); 0: a whole file */
    struct dt_wm_counts counts;
    struct dt_wm_text_test test;
};

struct dt_wm_detect_run {
    struct dt_wm_detect_text *texts; /* (n) */
    size_t n;
    struct dt_wm_counts pooled;      /* pairs deduplicated across every text */
    struct dt_wm_text_test test;
    double seconds;                  /* tokenizing and counting */
};

/* Tests every input for the watermark, tokenized by tokenizer_path (a GGUF file, a Hugging Face
 * directory or a tokenizer.json). lines: each non-empty line of a plain file is its own text. */
int dt_wm_detect_run(const char *tokenizer_path, const struct dt_wm_params *wm,
                     const struct dt_wm_input *inputs, size_t n_inputs, int lines,
                     struct dt_wm_detect_run *out, struct dt_error *err);
void dt_wm_detect_run_release(struct dt_wm_detect_run *r);

/* ---- radioactivity ---- */

/* dt_wm_radioactivity on models opened from paths; teacher_tokenizer as for detect. */
int dt_wm_radio_run(const char *suspect_path, const char *teacher_tokenizer,
                    const char *const *control_paths, size_t n_controls,
                    const struct dt_wm_radio_opts *o, struct dt_wm_radio_result *out,
                    struct dt_error *err);

#endif

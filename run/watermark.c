/*
 * The watermark operations of run/watermark.h: models and tokenizers opened from paths, inputs
 * read, the measurements of fingerprint/ and the tests of detect/ run, results returned for the
 * CLI to print. Inputs are read whole (at most 2 GiB a file); a tokenizer comes from a GGUF
 * file's metadata alone, a tokenizer.json, or a Hugging Face model directory.
 */
#include "run/watermark.h"

#include "corpus/sample.h"
#include "corpus/transcripts.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"

#include <math.h>
#include <string.h>

#define MAX_INPUT_BYTES ((size_t)1 << 31)

/* A tokenizer from a GGUF file (metadata only), a tokenizer.json, or a model directory. */
struct tok_src {
    struct dt_gguf *gguf;
    struct dt_model *model;
    struct dt_tokenizer *own;
    const struct dt_tokenizer *tok;
};

static int tok_src_open(const char *path, struct tok_src *ts, struct dt_error *err)
{
    size_t n = strlen(path);
    int rc;
    memset(ts, 0, sizeof *ts);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) {
        rc = dt_tokenizer_from_json(path, &ts->own, err);
        ts->tok = ts->own;
    } else if (dt_path_is_dir(path)) {
        rc = dt_model_open(path, &ts->model, err);
        if (!rc)
            ts->tok = dt_model_tokenizer(ts->model);
    } else {
        rc = dt_gguf_open(path, &ts->gguf, err);
        if (!rc)
            rc = dt_tokenizer_from_gguf(ts->gguf, &ts->own, err);
        ts->tok = ts->own;
    }
    return rc;
}

static void tok_src_close(struct tok_src *ts)
{
    dt_tokenizer_free(ts->own);
    dt_model_free(ts->model);
    dt_gguf_free(ts->gguf);
    memset(ts, 0, sizeof *ts);
}

static int push_str(const char ***v, size_t *n, const char *s)
{
    const char **nv = dt_realloc_array(*v, *n + 1, sizeof **v);
    if (!nv)
        return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* The non-empty lines of a file, in *buf (heap, owns them), appended to *lines. */
static int read_lines(const char *path, char **buf, const char ***lines, size_t *n,
                      struct dt_error *err)
{
    size_t n_bytes;
    int rc = dt_file_read_all(path, MAX_INPUT_BYTES, buf, &n_bytes, err);
    if (rc)
        return rc;
    char *p = *buf, *end = *buf + n_bytes;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = '\0';
        if (e > p && e[-1] == '\r')
            e[-1] = '\0';
        if (*p && push_str(lines, n, p))
            return dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
        p = e + 1;
    }
    return 0;
}

/* ---- generate ---- */

int dt_wm_gen_run(const char *model_path, const char *const *prompts, size_t n_prompts,
                  const char *prompts_file, const struct dt_wm_params *wm, int watermarked,
                  const struct dt_wm_gen_opts *o, struct dt_wm_gen_run *out, struct dt_error *err)
{
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    struct dt_wm_samples s = {0};
    struct dt_wm_detector *det = NULL;
    struct dt_wm_gen_opts go = *o;
    memset(out, 0, sizeof *out);
    int rc = dt_wm_params_check(wm, err);
    for (size_t i = 0; rc == 0 && i < n_prompts; i++)
        if (push_str(&out->prompts, &out->n_prompts, prompts[i]))
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    if (rc == 0 && prompts_file)
        rc = read_lines(prompts_file, &out->prompt_buf, &out->prompts, &out->n_prompts, err);
    if (rc == 0 && !out->n_prompts)
        rc = prompts_file ? dt_error_set(err, DT_EINVAL, "no prompts in '%s'", prompts_file)
                          : dt_error_set(err, DT_EINVAL, "no prompts");
    go.wm = watermarked ? wm : NULL;
    if (rc == 0)
        rc = dt_model_open(model_path, &m, err);
    if (rc == 0)
        rc = dt_ctx_new(m, 0, &x, err);
    if (rc == 0)
        rc = dt_wm_generate(x, out->prompts, out->n_prompts, &go, &s, err);
    /* the self-check: the generated ids (from the last prompt id on) through the detector */
    const struct dt_tokenizer *tok = m ? dt_model_tokenizer(m) : NULL;
    if (rc == 0)
        rc = dt_wm_detector_new(wm, &det, err);
    if (rc == 0)
        rc = dt_wm_samples_detect(&s, tok, tok, det, err);
    if (rc == 0) {
        dt_wm_detector_pooled(det, &out->pooled);
        dt_wm_test_text(&out->pooled, wm->gamma, &out->test);
        out->samples = dt_calloc(s.n ? s.n : 1, sizeof *out->samples);
        if (!out->samples)
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    double nll = 0.0;
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        struct dt_wm_gen_sample *g = &out->samples[out->n++];
        size_t n = s.n_ids[i] - s.n_prompt[i], n_text = 0;
        g->prompt = out->prompts[s.i_prompt[i]];
        g->n_ids = n;
        g->perplexity = n ? exp(s.nll[i] / (double)n) : 0.0;
        g->ids = dt_malloc_array(n ? n : 1, sizeof *g->ids);
        if (!g->ids) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            break;
        }
        memcpy(g->ids, s.ids[i] + s.n_prompt[i], n * sizeof *g->ids);
        rc = dt_tokenizer_decode(tok, g->ids, n, 0, &g->text, &n_text, err);
        nll += s.nll[i];
        out->n_tokens += n;
    }
    out->perplexity = out->n_tokens ? exp(nll / (double)out->n_tokens) : NAN;
    dt_wm_detector_free(det);
    dt_wm_samples_release(&s);
    dt_ctx_free(x);
    dt_model_free(m);
    if (rc)
        dt_wm_gen_run_release(out);
    return rc;
}

void dt_wm_gen_run_release(struct dt_wm_gen_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dt_free(r->samples[i].text);
        dt_free(r->samples[i].ids);
    }
    dt_free(r->samples);
    dt_free(r->prompts);
    dt_free(r->prompt_buf);
    memset(r, 0, sizeof *r);
}

/* ---- detect ---- */

struct text_in {
    const char *source;
    size_t line;
    const char *text;
    size_t n_bytes;
};

static int push_text(struct text_in **v, size_t *n, size_t *cap, struct text_in t,
                     struct dt_error *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        struct text_in *nv = dt_realloc_array(*v, nc, sizeof *nv);
        if (!nv)
            return dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", t.source);
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = t;
    return 0;
}

/* Texts of a transcript file (corpus/transcripts.h): one per record, its response. */
static int read_transcripts(const char *path, struct dt_sample_set *set, struct text_in **v,
                            size_t *n, size_t *cap, struct dt_error *err)
{
    struct dt_transcript_options opt = {0};
    size_t first = set->n;
    opt.format = DT_TRANSCRIPT_AUTO;
    int rc = dt_transcript_load(path, &opt, set, NULL, err);
    for (size_t i = first; rc == 0 && i < set->n; i++) {
        const struct dt_sample *sm = &set->items[i];
        rc = push_text(v, n, cap,
                       (struct text_in){path, i - first + 1, sm->response, sm->response_bytes},
                       err);
    }
    return rc;
}

/* A plain file: one text, or one per non-empty line. */
static int read_plain(const char *path, int lines, char **buf, struct text_in **v, size_t *n,
                      size_t *cap, struct dt_error *err)
{
    size_t n_bytes;
    int rc = dt_file_read_all(path, MAX_INPUT_BYTES, buf, &n_bytes, err);
    if (rc)
        return rc;
    char *p = *buf, *end = *buf + n_bytes;
    size_t line = 0;
    while (p <= end) {
        char *e = end;
        if (lines) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            e = nl ? nl : end;
            *e = '\0';
            line++;
        }
        size_t len = (size_t)(e - p);
        if (lines && len && p[len - 1] == '\r')
            p[--len] = '\0';
        if ((len || !lines) &&
            (rc = push_text(v, n, cap, (struct text_in){path, lines ? line : 0, p, len}, err)))
            return rc;
        if (!lines || e == end)
            break;
        p = e + 1;
    }
    return 0;
}

int dt_wm_detect_run(const char *tokenizer_path, const struct dt_wm_params *wm,
                     const struct dt_wm_input *inputs, size_t n_inputs, int lines,
                     struct dt_wm_detect_run *out, struct dt_error *err)
{
    struct tok_src ts = {0};
    struct text_in *texts = NULL;
    size_t n_texts = 0, cap_texts = 0, n_bufs = 0;
    struct dt_wm_detector *det = NULL;
    struct dt_sample_set trs;
    char **bufs = NULL;
    memset(out, 0, sizeof *out);
    dt_sample_set_init(&trs);
    int rc = dt_wm_params_check(wm, err);
    if (rc == 0 && !(bufs = dt_calloc(n_inputs ? n_inputs : 1, sizeof *bufs)))
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    for (size_t f = 0; rc == 0 && f < n_inputs; f++) {
        rc = inputs[f].transcripts
                 ? read_transcripts(inputs[f].path, &trs, &texts, &n_texts, &cap_texts, err)
                 : read_plain(inputs[f].path, lines, &bufs[f], &texts, &n_texts, &cap_texts, err);
        n_bufs = f + 1;
    }
    if (rc == 0)
        rc = tok_src_open(tokenizer_path, &ts, err);
    if (rc == 0)
        rc = dt_wm_detector_new(wm, &det, err);
    if (rc == 0 && !(out->texts = dt_calloc(n_texts ? n_texts : 1, sizeof *out->texts)))
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    double t0 = dt_time_now();
    for (size_t i = 0; rc == 0 && i < n_texts; i++) {
        struct dt_wm_detect_text *t = &out->texts[out->n++];
        int32_t *ids = NULL;
        size_t n_ids = 0;
        t->source = texts[i].source;
        t->line = texts[i].line;
        rc = dt_tokenizer_encode(ts.tok, texts[i].text, texts[i].n_bytes, 0, &ids, &n_ids, err);
        if (rc == 0)
            rc = dt_wm_detector_add(det, ids, n_ids, &t->counts, err);
        dt_free(ids);
        if (rc == 0)
            dt_wm_test_text(&t->counts, wm->gamma, &t->test);
    }
    out->seconds = dt_time_now() - t0;
    if (rc == 0) {
        dt_wm_detector_pooled(det, &out->pooled);
        dt_wm_test_text(&out->pooled, wm->gamma, &out->test);
        dt_log_debug("detect: %zu texts, %llu tokens in %.3f s", n_texts,
                     (unsigned long long)out->pooled.n_tokens, out->seconds);
    }
    dt_wm_detector_free(det);
    tok_src_close(&ts);
    for (size_t f = 0; f < n_bufs; f++)
        dt_free(bufs[f]);
    dt_free(bufs);
    dt_free(texts);
    dt_sample_set_release(&trs);
    if (rc)
        dt_wm_detect_run_release(out);
    return rc;
}

void dt_wm_detect_run_release(struct dt_wm_detect_run *r)
{
    dt_free(r->texts);
    memset(r, 0, sizeof *r);
}

/* ---- radioactivity ---- */

int dt_wm_radio_run(const char *suspect_path, const char *teacher_tokenizer,
                    const char *const *control_paths, size_t n_controls,
                    const struct dt_wm_radio_opts *o, struct dt_wm_radio_result *out,
                    struct dt_error *err)
{
    struct dt_model *suspect = NULL, **controls = NULL;
    struct dt_ctx *suspect_x = NULL, **control_x = NULL;
    struct tok_src ts = {0};
    int rc = dt_wm_params_check(&o->wm, err);
    size_t n = n_controls ? n_controls : 1;
    if (rc == 0 && (!(controls = dt_calloc(n, sizeof *controls)) ||
                    !(control_x = dt_calloc(n, sizeof *control_x))))
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = tok_src_open(teacher_tokenizer, &ts, err);
    if (rc == 0)
        rc = dt_model_open(suspect_path, &suspect, err);
    if (rc == 0)
        rc = dt_ctx_new(suspect, 0, &suspect_x, err);
    for (size_t k = 0; rc == 0 && k < n_controls; k++) {
        rc = dt_model_open(control_paths[k], &controls[k], err);
        if (rc == 0)
            rc = dt_ctx_new(controls[k], 0, &control_x[k], err);
    }
    if (rc == 0)
        rc = dt_wm_radioactivity(suspect_x, ts.tok, control_x, n_controls, o, out, err);
    for (size_t k = 0; controls && control_x && k < n_controls; k++) {
        dt_ctx_free(control_x[k]);
        dt_model_free(controls[k]);
    }
    dt_free(control_x);
    dt_free(controls);
    dt_ctx_free(suspect_x);
    dt_model_free(suspect);
    tok_src_close(&ts);
    return rc;
}

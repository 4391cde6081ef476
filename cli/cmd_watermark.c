/*
 * `distiltrace watermark generate|detect|radioactivity`: the xxh64-kgw watermark
 * (spec/watermark.md). Parsing and printing only; the measurements are in
 * fingerprint/watermark.h and fingerprint/wm_sample.h, the tests in detect/watermark.h.
 * With --json every subcommand prints one object whose top-level `p_value` is its test's
 * (combined) p-value. Exit status 1 when that p-value is below --alpha (default 0.001).
 */
#include "cli/commands.h"

#include "corpus/sample.h"
#include "corpus/transcripts.h"
#include "detect/watermark.h"
#include "reports/wm_json.h"
#include "run/wm_radio.h"
#include "fingerprint/watermark.h"
#include "fingerprint/wm_sample.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/utf8.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT_BYTES ((size_t)1 << 31)

static const char *usage_main =
    "distiltrace watermark (generate|detect|radioactivity) [options]\n"
    "  generate       sample from a local model with (or without) the watermark\n"
    "  detect         test text for the watermark\n"
    "  radioactivity  test whether a suspect model learned from watermarked text";

static const char *usage_generate =
    "distiltrace watermark generate --model M --key K [--gamma G] [--delta D]\n"
    "       (--prompt P ... | --prompts-file F) [--samples N] [--max-tokens N]\n"
    "       [--temperature T] [--top-p P] [--seed S] [--no-watermark] [--ignore-eog]\n"
    "       [--alpha A] [--json]\n"
    "  --ignore-eog keeps sampling past end-of-generation tokens up to --max-tokens";

static const char *usage_detect =
    "distiltrace watermark detect --key K --tokenizer M [--gamma G]\n"
    "       (--file F [--lines] | --transcripts F.jsonl)... [--summary] [--alpha A] [--json]\n"
    "  M is a GGUF file, a Hugging Face directory or a tokenizer.json; --lines takes each\n"
    "  non-empty line of F as its own text";

static const char *usage_radio =
    "distiltrace watermark radioactivity --suspect S --key K --teacher-tokenizer T [--gamma G]\n"
    "       [--control C]... [--mode both|text|logit] [--prompt P]... [--samples N]\n"
    "       [--max-tokens N] [--temperature T] [--seed S] [--alpha A] [--json]\n"
    "  p_value: Bonferroni over the applicable modes (text; logit when the tokenizers match)";

/* ---- shared helpers ---- */

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

static int print_json(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (!s) {
        cJSON_Delete(o);
        fprintf(stderr, "distiltrace: out of memory for the JSON output\n");
        return DT_EXIT_RESOURCE;
    }
    puts(s);
    cJSON_free(s);
    cJSON_Delete(o);
    return DT_EXIT_OK;
}

static void json_params(cJSON *o, const struct dt_wm_params *p)
{
    char key[32];
    snprintf(key, sizeof key, "%llu", (unsigned long long)p->key);
    dt_json_add_string(o, "scheme", DT_WM_SCHEME);
    /* as a string: a 64-bit key does not fit a JSON number exactly */
    dt_json_add_string(o, "key", key);
    cJSON_AddNumberToObject(o, "gamma", p->gamma);
}

static cJSON *json_text_test(const struct dt_wm_text_test *t, const struct dt_wm_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    if (c) {
        cJSON_AddNumberToObject(o, "n_tokens", (double)c->n_tokens);
        cJSON_AddNumberToObject(o, "n_pairs", (double)c->n_pairs);
    }
    cJSON_AddNumberToObject(o, "n_scored", (double)t->n_scored);
    cJSON_AddNumberToObject(o, "n_green", (double)t->n_green);
    if (isfinite(t->green_fraction))
        cJSON_AddNumberToObject(o, "green_fraction", t->green_fraction);
    else
        cJSON_AddNullToObject(o, "green_fraction");
    cJSON_AddNumberToObject(o, "z", t->z);
    cJSON_AddNumberToObject(o, "p_value", t->p_value);
    cJSON_AddNumberToObject(o, "log10_p_value", t->log10_p);
    return o;
}

static int exit_for(double p, double alpha)
{
    return p < alpha ? DT_EXIT_EVIDENCE : DT_EXIT_OK;
}

/* Grows a NULL-terminated-free list of borrowed strings. */
static int push_str(const char ***v, size_t *n, const char *s)
{
    const char **nv = dt_realloc_array(*v, *n + 1, sizeof **v);
    if (!nv)
        return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

/* Reads lines of a file into heap strings (non-empty lines only); *buf owns them. */
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

static int wm_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompts_file = NULL;
    const char **prompts = NULL;
    size_t n_prompts = 0;
    char *pbuf = NULL;
    struct dt_wm_params wm = {0, 0.25, 2.0};
    struct dt_wm_gen_opts go = {200, 1, 1.0f, 1.0f, 1, NULL, 0};
    int have_key = 0, no_wm = 0, json = 0, status = DT_EXIT_OK;
    double alpha = 1e-3;
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    struct dt_wm_samples s = {0};
    struct dt_wm_detector *det = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        double d;
        unsigned long long u;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", usage_generate);
            goto done;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--no-watermark")) {
            no_wm = 1;
        } else if (!strcmp(a, "--ignore-eog")) {
            go.ignore_eog = 1;
        } else if (!v) {
            status = dt_cli_usage("watermark generate", usage_generate);
            goto done;
        } else if (!strcmp(a, "--model")) {
            model_path = v, i++;
        } else if (!strcmp(a, "--prompt")) {
            if (push_str(&prompts, &n_prompts, v)) {
                status = DT_EXIT_RESOURCE;
                goto done;
            }
            i++;
        } else if (!strcmp(a, "--prompts-file")) {
            prompts_file = v, i++;
        } else if (!strcmp(a, "--key")) {
            if (dt_cli_parse_u64("watermark generate", a, v, &u))
                goto usage;
            wm.key = u, have_key = 1, i++;
        } else if (!strcmp(a, "--gamma") || !strcmp(a, "--delta") || !strcmp(a, "--temperature") ||
                   !strcmp(a, "--top-p") || !strcmp(a, "--alpha")) {
            if (dt_cli_parse_double("watermark generate", a, v, &d))
                goto usage;
            if (!strcmp(a, "--gamma"))
                wm.gamma = d;
            else if (!strcmp(a, "--delta"))
                wm.delta = d;
            else if (!strcmp(a, "--temperature"))
                go.temperature = (float)d;
            else if (!strcmp(a, "--top-p"))
                go.top_p = (float)d;
            else
                alpha = d;
            i++;
        } else if (!strcmp(a, "--samples") || !strcmp(a, "--max-tokens")) {
            if (dt_cli_parse_int("watermark generate", a, v, 1, 100000, &l))
                goto usage;
            if (!strcmp(a, "--samples"))
                go.n_samples = (int)l;
            else
                go.max_tokens = (int)l;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (dt_cli_parse_u64("watermark generate", a, v, &u))
                goto usage;
            go.seed = u, i++;
        } else {
            fprintf(stderr, "distiltrace watermark generate: unknown option '%s'\n", a);
            goto usage;
        }
    }
    if (!model_path || !have_key || (!n_prompts && !prompts_file))
        goto usage;
    if (dt_wm_params_check(&wm, &err)) {
        fprintf(stderr, "distiltrace watermark generate: %s\n", err.msg);
        goto usage;
    }
    if (prompts_file && read_lines(prompts_file, &pbuf, &prompts, &n_prompts, &err))
        goto fail;
    if (!n_prompts) {
        dt_error_set(&err, DT_EINVAL, "no prompts in '%s'", prompts_file);
        goto fail;
    }
    go.wm = no_wm ? NULL : &wm;
    if (dt_model_open(model_path, &m, &err) || dt_ctx_new(m, 0, &x, &err) ||
        dt_wm_generate(x, prompts, n_prompts, &go, &s, &err))
        goto fail;

    /* self-check: the generated ids (from the last prompt id on) through the detector */
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    struct dt_wm_counts pooled;
    struct dt_wm_text_test tt;
    if (dt_wm_detector_new(&wm, &det, &err) || dt_wm_samples_detect(&s, tok, tok, det, &err))
        goto fail;
    dt_wm_detector_pooled(det, &pooled);
    dt_wm_test_text(&pooled, wm.gamma, &tt);
    double nll = 0.0;
    uint64_t n_gen = 0;
    for (size_t i = 0; i < s.n; i++) {
        nll += s.nll[i];
        n_gen += s.n_ids[i] - s.n_prompt[i];
    }
    double ppl = n_gen ? exp(nll / (double)n_gen) : NAN;

    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        json_params(o, &wm);
        cJSON_AddNumberToObject(o, "delta", wm.delta);
        cJSON_AddBoolToObject(o, "watermarked", !no_wm);
        cJSON_AddNumberToObject(o, "temperature", go.temperature);
        cJSON_AddNumberToObject(o, "top_p", go.top_p);
        cJSON_AddNumberToObject(o, "seed", (double)go.seed);
        for (size_t i = 0; i < s.n; i++) {
            char *text = NULL;
            size_t n_text = 0, n = s.n_ids[i] - s.n_prompt[i];
            if (dt_tokenizer_decode(tok, s.ids[i] + s.n_prompt[i], n, 0, &text, &n_text, &err)) {
                cJSON_Delete(o);
                cJSON_Delete(arr);
                goto fail;
            }
            cJSON *e = cJSON_CreateObject();
            dt_json_add_string(e, "prompt", prompts[s.i_prompt[i]]);
            dt_json_add_string(e, "text", text);
            cJSON *ids = cJSON_CreateArray();
            for (size_t k = s.n_prompt[i]; k < s.n_ids[i]; k++)
                cJSON_AddItemToArray(ids, cJSON_CreateNumber(s.ids[i][k]));
            cJSON_AddItemToObject(e, "ids", ids);
            cJSON_AddNumberToObject(e, "n_tokens", (double)n);
            cJSON_AddNumberToObject(e, "perplexity", n ? exp(s.nll[i] / (double)n) : 0.0);
            cJSON_AddItemToArray(arr, e);
            dt_free(text);
        }
        cJSON_AddItemToObject(o, "samples", arr);
        cJSON_AddNumberToObject(o, "n_tokens", (double)n_gen);
        if (isfinite(ppl))
            cJSON_AddNumberToObject(o, "perplexity", ppl);
        cJSON_AddItemToObject(o, "detection", json_text_test(&tt, &pooled));
        cJSON_AddNumberToObject(o, "p_value", tt.p_value);
        status = print_json(o);
        if (status)
            goto done;
    } else {
        for (size_t i = 0; i < s.n; i++) {
            char *text = NULL;
            size_t n_text = 0;
            if (dt_tokenizer_decode(tok, s.ids[i] + s.n_prompt[i], s.n_ids[i] - s.n_prompt[i], 0,
                                    &text, &n_text, &err))
                goto fail;
            printf("%s%s%s\n", i ? "\n" : "", prompts[s.i_prompt[i]], text);
            dt_free(text);
        }
        fprintf(stderr, "%llu tokens, perplexity %.3f under the model, detection z %.2f p %.3g\n",
                (unsigned long long)n_gen, ppl, tt.z, tt.p_value);
    }
    status = exit_for(tt.p_value, alpha);
    goto done;
usage:
    status = dt_cli_usage("watermark generate", usage_generate);
    goto done;
fail:
    status = dt_cli_fail(&err);
done:
    dt_wm_detector_free(det);
    dt_wm_samples_release(&s);
    dt_ctx_free(x);
    dt_model_free(m);
    dt_free(prompts);
    dt_free(pbuf);
    return status;
}

/* ---- detect ---- */

struct text_in {
    const char *source; /* file name */
    size_t line;        /* 1-based line (--lines) or record (transcripts); 0: a whole file */
    const char *text;
    size_t n_bytes;
};

/* Texts of a transcript file (corpus/transcripts.h: OpenAI chat or completions, llama.cpp
 * server, plain JSONL): one per record, its response. */
static int read_transcripts(const char *path, struct dt_sample_set *set, struct text_in **v,
                            size_t *n, size_t *cap, struct dt_error *err)
{
    struct dt_transcript_options opt = {0};
    size_t first = set->n;
    opt.format = DT_TRANSCRIPT_AUTO;
    int rc = dt_transcript_load(path, &opt, set, NULL, err);
    if (rc)
        return rc;
    for (size_t i = first; i < set->n; i++) {
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            struct text_in *nv = dt_realloc_array(*v, nc, sizeof *nv);
            if (!nv)
                return dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
            *v = nv;
            *cap = nc;
        }
        const struct dt_sample *sm = &set->items[i];
        (*v)[(*n)++] = (struct text_in){path, i - first + 1, sm->response, sm->response_bytes};
    }
    return 0;
}

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
        if (len || !lines) {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 64;
                struct text_in *nv = dt_realloc_array(*v, nc, sizeof *nv);
                if (!nv)
                    return dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
                *v = nv;
                *cap = nc;
            }
            (*v)[(*n)++] = (struct text_in){path, lines ? line : 0, p, len};
        }
        if (!lines || e == end)
            break;
        p = e + 1;
    }
    return 0;
}

static int wm_detect(int argc, char **argv)
{
    struct dt_wm_params wm = {0, 0.25, 0.0};
    const char *tok_path = NULL;
    int have_key = 0, json = 0, lines = 0, summary = 0, status = DT_EXIT_OK;
    double alpha = 1e-3;
    struct dt_error err = {0};
    struct tok_src ts = {0};
    struct text_in *texts = NULL;
    size_t n_texts = 0, cap_texts = 0;
    char **bufs = NULL;
    size_t n_bufs = 0;
    struct dt_wm_detector *det = NULL;
    struct dt_sample_set trs;
    struct dt_wm_text_test *tests = NULL;
    struct dt_wm_counts *counts = NULL;
    /* inputs are read after option parsing so --lines applies to every --file */
    const char **files = NULL, **kinds = NULL;
    size_t n_files = 0, n_kinds = 0;

    dt_sample_set_init(&trs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        unsigned long long u;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", usage_detect);
            goto done;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--lines")) {
            lines = 1;
        } else if (!strcmp(a, "--summary")) {
            summary = 1;
        } else if (!v) {
            goto usage;
        } else if (!strcmp(a, "--key")) {
            if (dt_cli_parse_u64("watermark detect", a, v, &u))
                goto usage;
            wm.key = u, have_key = 1, i++;
        } else if (!strcmp(a, "--gamma") || !strcmp(a, "--alpha") || !strcmp(a, "--delta")) {
            if (dt_cli_parse_double("watermark detect", a, v, &d))
                goto usage;
            if (!strcmp(a, "--gamma"))
                wm.gamma = d;
            else if (!strcmp(a, "--alpha"))
                alpha = d;
            i++;
        } else if (!strcmp(a, "--tokenizer")) {
            tok_path = v, i++;
        } else if (!strcmp(a, "--file") || !strcmp(a, "--transcripts")) {
            if (push_str(&files, &n_files, v) || push_str(&kinds, &n_kinds, a)) {
                status = DT_EXIT_RESOURCE;
                goto done;
            }
            i++;
        } else {
            fprintf(stderr, "distiltrace watermark detect: unknown option '%s'\n", a);
            goto usage;
        }
    }
    if (!have_key || !tok_path || !n_files)
        goto usage;
    if (dt_wm_params_check(&wm, &err)) {
        fprintf(stderr, "distiltrace watermark detect: %s\n", err.msg);
        goto usage;
    }
    bufs = dt_calloc(n_files, sizeof *bufs);
    if (!bufs) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    for (size_t f = 0; f < n_files; f++) {
        int rc = !strcmp(kinds[f], "--transcripts")
                     ? read_transcripts(files[f], &trs, &texts, &n_texts, &cap_texts, &err)
                     : read_plain(files[f], lines, &bufs[f], &texts, &n_texts, &cap_texts, &err);
        n_bufs = f + 1;
        if (rc)
            goto fail;
    }
    if (tok_src_open(tok_path, &ts, &err) || dt_wm_detector_new(&wm, &det, &err))
        goto fail;
    tests = dt_calloc(n_texts ? n_texts : 1, sizeof *tests);
    counts = dt_calloc(n_texts ? n_texts : 1, sizeof *counts);
    if (!tests || !counts) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    double t0 = dt_time_now();
    for (size_t i = 0; i < n_texts; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        int rc =
            dt_tokenizer_encode(ts.tok, texts[i].text, texts[i].n_bytes, 0, &ids, &n_ids, &err);
        if (!rc)
            rc = dt_wm_detector_add(det, ids, n_ids, &counts[i], &err);
        dt_free(ids);
        if (rc)
            goto fail;
        dt_wm_test_text(&counts[i], wm.gamma, &tests[i]);
    }
    double secs = dt_time_now() - t0;
    struct dt_wm_counts pooled;
    struct dt_wm_text_test pt;
    dt_wm_detector_pooled(det, &pooled);
    dt_wm_test_text(&pooled, wm.gamma, &pt);
    dt_log_debug("detect: %zu texts, %llu tokens in %.3f s", n_texts,
                 (unsigned long long)pooled.n_tokens, secs);

    if (json) {
        cJSON *o = cJSON_CreateObject();
        json_params(o, &wm);
        cJSON_AddNumberToObject(o, "n_texts", (double)n_texts);
        if (!summary) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < n_texts; i++) {
                cJSON *e = json_text_test(&tests[i], &counts[i]);
                dt_json_add_string(e, "source", texts[i].source);
                if (texts[i].line)
                    cJSON_AddNumberToObject(e, "line", (double)texts[i].line);
                cJSON_AddItemToArray(arr, e);
            }
            cJSON_AddItemToObject(o, "texts", arr);
        }
        cJSON_AddItemToObject(o, "pooled", json_text_test(&pt, &pooled));
        cJSON_AddNumberToObject(o, "z", pt.z);
        cJSON_AddNumberToObject(o, "p_value", pt.p_value);
        cJSON_AddNumberToObject(o, "seconds", secs);
        status = print_json(o);
        if (status)
            goto done;
    } else {
        for (size_t i = 0; i < n_texts && !summary; i++) {
            if (texts[i].line)
                printf("%s:%zu", texts[i].source, texts[i].line);
            else
                printf("%s", texts[i].source);
            printf("  pairs %llu  green %llu  z %.2f  p %.3g\n",
                   (unsigned long long)tests[i].n_scored, (unsigned long long)tests[i].n_green,
                   tests[i].z, tests[i].p_value);
        }
        printf("pooled (%zu texts, %llu tokens): distinct pairs %llu  green %llu (%.3f)  z %.2f  "
               "p %.3g\n",
               n_texts, (unsigned long long)pooled.n_tokens, (unsigned long long)pt.n_scored,
               (unsigned long long)pt.n_green, pt.green_fraction, pt.z, pt.p_value);
    }
    status = exit_for(pt.p_value, alpha);
    goto done;
usage:
    status = dt_cli_usage("watermark detect", usage_detect);
    goto done;
fail:
    status = dt_cli_fail(&err);
done:
    dt_free(tests);
    dt_free(counts);
    dt_wm_detector_free(det);
    tok_src_close(&ts);
    for (size_t f = 0; f < n_bufs; f++)
        dt_free(bufs[f]);
    dt_free(bufs);
    dt_free(texts);
    dt_sample_set_release(&trs);
    dt_free(files);
    dt_free(kinds);
    return status;
}

/* ---- radioactivity ---- */

static int wm_radio(int argc, char **argv)
{
    struct dt_wm_radio_opts o;
    const char *suspect_path = NULL, *teacher_tok = NULL;
    const char **control_paths = NULL, **prompts = NULL;
    size_t n_controls = 0, n_prompts = 0;
    int have_key = 0, json = 0, status = DT_EXIT_OK;
    double alpha = 1e-3;
    struct dt_error err = {0};
    struct dt_model *suspect = NULL, **controls = NULL;
    struct dt_ctx *suspect_x = NULL, **control_x = NULL;
    struct tok_src ts = {0};
    struct dt_wm_radio_result r;

    dt_wm_radio_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        long l;
        unsigned long long u;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", usage_radio);
            goto done;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!v) {
            goto usage;
        } else if (!strcmp(a, "--suspect")) {
            suspect_path = v, i++;
        } else if (!strcmp(a, "--teacher-tokenizer")) {
            teacher_tok = v, i++;
        } else if (!strcmp(a, "--control") || !strcmp(a, "--prompt")) {
            if (!strcmp(a, "--control") ? push_str(&control_paths, &n_controls, v)
                                        : push_str(&prompts, &n_prompts, v)) {
                status = DT_EXIT_RESOURCE;
                goto done;
            }
            i++;
        } else if (!strcmp(a, "--key")) {
            if (dt_cli_parse_u64("watermark radioactivity", a, v, &u))
                goto usage;
            o.wm.key = u, have_key = 1, i++;
        } else if (!strcmp(a, "--gamma") || !strcmp(a, "--delta") || !strcmp(a, "--alpha") ||
                   !strcmp(a, "--temperature") || !strcmp(a, "--top-p")) {
            if (dt_cli_parse_double("watermark radioactivity", a, v, &d))
                goto usage;
            if (!strcmp(a, "--gamma"))
                o.wm.gamma = d;
            else if (!strcmp(a, "--alpha"))
                alpha = d;
            else if (!strcmp(a, "--temperature"))
                o.temperature = (float)d;
            else if (!strcmp(a, "--top-p"))
                o.top_p = (float)d;
            /* --delta is accepted for symmetry with generate; detection does not use it */
            i++;
        } else if (!strcmp(a, "--samples") || !strcmp(a, "--max-tokens")) {
            if (dt_cli_parse_int("watermark radioactivity", a, v, 1, 100000, &l))
                goto usage;
            if (!strcmp(a, "--samples"))
                o.n_samples = (int)l;
            else
                o.max_tokens = (int)l;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (dt_cli_parse_u64("watermark radioactivity", a, v, &u))
                goto usage;
            o.seed = u, i++;
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "both"))
                o.mode = DT_WM_MODE_BOTH;
            else if (!strcmp(v, "text"))
                o.mode = DT_WM_MODE_TEXT;
            else if (!strcmp(v, "logit"))
                o.mode = DT_WM_MODE_LOGIT;
            else {
                fprintf(stderr,
                        "distiltrace watermark radioactivity: --mode takes both, text or "
                        "logit, not '%s'\n",
                        v);
                goto usage;
            }
            i++;
        } else {
            fprintf(stderr, "distiltrace watermark radioactivity: unknown option '%s'\n", a);
            goto usage;
        }
    }
    if (!suspect_path || !teacher_tok || !have_key)
        goto usage;
    if (dt_wm_params_check(&o.wm, &err)) {
        fprintf(stderr, "distiltrace watermark radioactivity: %s\n", err.msg);
        goto usage;
    }
    o.prompts = n_prompts ? prompts : NULL;
    o.n_prompts = n_prompts;
    controls = dt_calloc(n_controls ? n_controls : 1, sizeof *controls);
    control_x = dt_calloc(n_controls ? n_controls : 1, sizeof *control_x);
    if (!controls || !control_x) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    if (tok_src_open(teacher_tok, &ts, &err) || dt_model_open(suspect_path, &suspect, &err) ||
        dt_ctx_new(suspect, 0, &suspect_x, &err))
        goto fail;
    for (size_t k = 0; k < n_controls; k++)
        if (dt_model_open(control_paths[k], &controls[k], &err) ||
            dt_ctx_new(controls[k], 0, &control_x[k], &err))
            goto fail;
    if (dt_wm_radioactivity(suspect_x, ts.tok, control_x, n_controls, &o, &r, &err))
        goto fail;

    if (json) {
        char *js = NULL;
        if (dt_wm_radio_json(&r, &o.wm, suspect_path, &js, &err))
            goto fail;
        puts(js);
        dt_free(js);
    } else {
        printf("suspect %s: %zu samples, %llu tokens\n", suspect_path, r.n_texts,
               (unsigned long long)r.n_generated);
        if (r.text_applicable)
            printf("text mode:  distinct pairs %llu  green %.3f  z %.2f  p %.3g\n",
                   (unsigned long long)r.text.n_scored, r.text.green_fraction, r.text.z,
                   r.text.p_value);
        if (r.logit_applicable) {
            printf("logit mode: contexts %zu  green mass %.4f (gamma %.4f)  z %.2f  p %.3g  "
                   "(t %.2f, p %.3g)\n",
                   r.logit.n_contexts, r.logit.mean_mass, o.wm.gamma, r.logit.z, r.logit.p_value,
                   r.logit.t, r.logit.p_t);
            if (r.n_controls)
                printf("            controls' green mass %.4f  paired t %.2f  p %.3g\n",
                       r.controls.control_mean_mass, r.controls.t, r.controls.p_value);
        } else if (r.logit_note) {
            printf("logit mode: not applicable (%s)\n", r.logit_note);
        }
        printf("p_value %.3g (Bonferroni over the applicable modes)\n", r.p_value);
    }
    status = exit_for(r.p_value, alpha);
    goto done;
usage:
    status = dt_cli_usage("watermark radioactivity", usage_radio);
    goto done;
fail:
    status = dt_cli_fail(&err);
done:
    for (size_t k = 0; control_x && k < n_controls; k++)
        dt_ctx_free(control_x[k]);
    for (size_t k = 0; controls && k < n_controls; k++)
        dt_model_free(controls[k]);
    dt_free(control_x);
    dt_free(controls);
    dt_ctx_free(suspect_x);
    dt_model_free(suspect);
    tok_src_close(&ts);
    dt_free(control_paths);
    dt_free(prompts);
    return status;
}

int cmd_watermark(int argc, char **argv)
{
    if (argc < 2)
        return dt_cli_usage("watermark", usage_main);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: %s\n", usage_main);
        return DT_EXIT_OK;
    }
    if (!strcmp(argv[1], "generate"))
        return wm_generate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "detect"))
        return wm_detect(argc - 1, argv + 1);
    if (!strcmp(argv[1], "radioactivity"))
        return wm_radio(argc - 1, argv + 1);
    fprintf(stderr, "distiltrace watermark: '%s' is not a subcommand\n", argv[1]);
    return dt_cli_usage("watermark", usage_main);
}

/*
 * `distiltrace watermark generate|detect|radioactivity`: the xxh64-kgw watermark
 * (spec/watermark.md). Parsing and printing only; run/watermark.h opens the models, reads
 * the inputs and runs the measurements and tests.
 * With --json every subcommand prints one object whose top-level `p_value` is its test's
 * (combined) p-value. Exit status 1 when that p-value is below --alpha (default 0.001).
 */
#include "cli/args.h"
#include "cli/commands.h"

#include "run/watermark.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/utf8.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- generate ---- */

static int wm_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompts_file = NULL;
    const char **prompts = NULL;
    size_t n_prompts = 0;
    struct dt_wm_params wm = {0, 0.25, 2.0};
    struct dt_wm_gen_opts go = {200, 1, 1.0f, 1.0f, 1, NULL, 0};
    int have_key = 0, no_wm = 0, json = 0, status = DT_EXIT_OK;
    double alpha = 1e-3;
    struct dt_error err = {0};
    struct dt_wm_gen_run r = {0};

    struct dt_cli_args a;
    double d;
    long l;
    unsigned long long u = 0;
    if (dt_cli_args_init(&a, "watermark generate", argc, argv))
        return DT_EXIT_INTERNAL;
    model_path = dt_cli_str(&a, "--model", NULL);
    prompts_file = dt_cli_str(&a, "--prompts-file", NULL);
    no_wm = dt_cli_has(&a, "--no-watermark");
    go.ignore_eog = dt_cli_has(&a, "--ignore-eog");
    json = dt_cli_has(&a, "--json");
    have_key = dt_cli_has(&a, "--key");
    int np = dt_cli_all(&a, "--prompt", &prompts);
    if (np < 0) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    n_prompts = (size_t)np;
    if (dt_cli_u64(&a, "--key", &u))
        goto usage;
    wm.key = u;
    d = wm.gamma;
    if (dt_cli_double(&a, "--gamma", 0, 1, &d))
        goto usage;
    wm.gamma = d;
    d = wm.delta;
    if (dt_cli_double(&a, "--delta", 0, 1e6, &d))
        goto usage;
    wm.delta = d;
    d = go.temperature;
    if (dt_cli_double(&a, "--temperature", 0, 1e6, &d))
        goto usage;
    go.temperature = (float)d;
    d = go.top_p;
    if (dt_cli_double(&a, "--top-p", 0, 1, &d))
        goto usage;
    go.top_p = (float)d;
    if (dt_cli_double(&a, "--alpha", 0, 1, &alpha))
        goto usage;
    l = go.n_samples;
    if (dt_cli_long(&a, "--samples", 1, 100000, &l))
        goto usage;
    go.n_samples = (int)l;
    l = go.max_tokens;
    if (dt_cli_long(&a, "--max-tokens", 1, 100000, &l))
        goto usage;
    go.max_tokens = (int)l;
    u = go.seed;
    if (dt_cli_u64(&a, "--seed", &u))
        goto usage;
    go.seed = u;
    if (!model_path || !have_key || (!n_prompts && !prompts_file))
        goto usage;
    if (dt_wm_gen_run(model_path, prompts, n_prompts, prompts_file, &wm, !no_wm, &go, &r, &err))
        goto fail;

    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        json_params(o, &wm);
        cJSON_AddNumberToObject(o, "delta", wm.delta);
        cJSON_AddBoolToObject(o, "watermarked", !no_wm);
        cJSON_AddNumberToObject(o, "temperature", go.temperature);
        cJSON_AddNumberToObject(o, "top_p", go.top_p);
        cJSON_AddNumberToObject(o, "seed", (double)go.seed);
        for (size_t i = 0; i < r.n; i++) {
            const struct dt_wm_gen_sample *g = &r.samples[i];
            cJSON *e = cJSON_CreateObject();
            dt_json_add_string(e, "prompt", g->prompt);
            dt_json_add_string(e, "text", g->text);
            cJSON *ids = cJSON_CreateArray();
            for (size_t k = 0; k < g->n_ids; k++)
                cJSON_AddItemToArray(ids, cJSON_CreateNumber(g->ids[k]));
            cJSON_AddItemToObject(e, "ids", ids);
            cJSON_AddNumberToObject(e, "n_tokens", (double)g->n_ids);
            cJSON_AddNumberToObject(e, "perplexity", g->perplexity);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddItemToObject(o, "samples", arr);
        cJSON_AddNumberToObject(o, "n_tokens", (double)r.n_tokens);
        if (isfinite(r.perplexity))
            cJSON_AddNumberToObject(o, "perplexity", r.perplexity);
        cJSON_AddItemToObject(o, "detection", json_text_test(&r.test, &r.pooled));
        cJSON_AddNumberToObject(o, "p_value", r.test.p_value);
        status = print_json(o);
        if (status)
            goto done;
    } else {
        for (size_t i = 0; i < r.n; i++)
            printf("%s%s%s\n", i ? "\n" : "", r.samples[i].prompt, r.samples[i].text);
        fprintf(stderr, "%llu tokens, perplexity %.3f under the model, detection z %.2f p %.3g\n",
                (unsigned long long)r.n_tokens, r.perplexity, r.test.z, r.test.p_value);
    }
    status = exit_for(r.test.p_value, alpha);
    goto done;
usage:
    status = dt_cli_usage("watermark generate", usage_generate);
    goto done;
fail:
    status = dt_cli_fail(&err);
done:
    dt_wm_gen_run_release(&r);
    dt_free(prompts);
    return status;
}

/* ---- detect ---- */

static int wm_detect(int argc, char **argv)
{
    struct dt_wm_params wm = {0, 0.25, 0.0};
    const char *tok_path = NULL;
    int have_key = 0, json = 0, lines = 0, summary = 0, status = DT_EXIT_OK;
    double alpha = 1e-3;
    struct dt_error err = {0};
    struct dt_wm_detect_run r = {0};
    /* inputs are read after option parsing so --lines applies to every --file */
    struct dt_wm_input *inputs = NULL;
    size_t n_inputs = 0;

    struct dt_cli_args a;
    unsigned long long u = 0;
    const char **files = NULL, **trs = NULL;
    if (dt_cli_args_init(&a, "watermark detect", argc, argv))
        return DT_EXIT_INTERNAL;
    tok_path = dt_cli_str(&a, "--tokenizer", NULL);
    json = dt_cli_has(&a, "--json");
    lines = dt_cli_has(&a, "--lines");
    summary = dt_cli_has(&a, "--summary");
    have_key = dt_cli_has(&a, "--key");
    if (dt_cli_u64(&a, "--key", &u) || dt_cli_double(&a, "--gamma", 0, 1, &wm.gamma) ||
        dt_cli_double(&a, "--alpha", 0, 1, &alpha))
        goto usage;
    wm.key = u;
    /* the inputs in command-line order: each text keeps its source and line */
    int n_files = dt_cli_all(&a, "--file", &files), n_trs = dt_cli_all(&a, "--transcripts", &trs);
    dt_free(files);
    dt_free(trs);
    if (n_files < 0 || n_trs < 0 ||
        !(inputs = dt_calloc((size_t)n_files + (size_t)n_trs + 1, sizeof *inputs))) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    const char *opt, *val;
    for (int k = 0; dt_cli_next(&a, &k, &opt, &val);)
        if (!strcmp(opt, "--file") || !strcmp(opt, "--transcripts"))
            inputs[n_inputs++] = (struct dt_wm_input){val, !strcmp(opt, "--transcripts")};
    if (!have_key || !tok_path || !n_inputs)
        goto usage;
    if (dt_wm_detect_run(tok_path, &wm, inputs, n_inputs, lines, &r, &err))
        goto fail;

    if (json) {
        cJSON *o = cJSON_CreateObject();
        json_params(o, &wm);
        cJSON_AddNumberToObject(o, "n_texts", (double)r.n);
        if (!summary) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < r.n; i++) {
                cJSON *e = json_text_test(&r.texts[i].test, &r.texts[i].counts);
                dt_json_add_string(e, "source", r.texts[i].source);
                if (r.texts[i].line)
                    cJSON_AddNumberToObject(e, "line", (double)r.texts[i].line);
                cJSON_AddItemToArray(arr, e);
            }
            cJSON_AddItemToObject(o, "texts", arr);
        }
        cJSON_AddItemToObject(o, "pooled", json_text_test(&r.test, &r.pooled));
        cJSON_AddNumberToObject(o, "z", r.test.z);
        cJSON_AddNumberToObject(o, "p_value", r.test.p_value);
        cJSON_AddNumberToObject(o, "seconds", r.seconds);
        status = print_json(o);
        if (status)
            goto done;
    } else {
        for (size_t i = 0; i < r.n && !summary; i++) {
            const struct dt_wm_detect_text *t = &r.texts[i];
            if (t->line)
                printf("%s:%zu", t->source, t->line);
            else
                printf("%s", t->source);
            printf("  pairs %llu  green %llu  z %.2f  p %.3g\n",
                   (unsigned long long)t->test.n_scored, (unsigned long long)t->test.n_green,
                   t->test.z, t->test.p_value);
        }
        printf("pooled (%zu texts, %llu tokens): distinct pairs %llu  green %llu (%.3f)  z %.2f  "
               "p %.3g\n",
               r.n, (unsigned long long)r.pooled.n_tokens, (unsigned long long)r.test.n_scored,
               (unsigned long long)r.test.n_green, r.test.green_fraction, r.test.z,
               r.test.p_value);
    }
    status = exit_for(r.test.p_value, alpha);
    goto done;
usage:
    status = dt_cli_usage("watermark detect", usage_detect);
    goto done;
fail:
    status = dt_cli_fail(&err);
done:
    dt_wm_detect_run_release(&r);
    dt_free(inputs);
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
    struct dt_wm_radio_result r;

    dt_wm_radio_opts_default(&o);
    struct dt_cli_args a;
    static const char *const modes[] = {"both", "text", "logit", NULL};
    int mode = 0, nc, np;
    double d;
    long l;
    unsigned long long u = 0;
    if (dt_cli_args_init(&a, "watermark radioactivity", argc, argv))
        return DT_EXIT_INTERNAL;
    suspect_path = dt_cli_str(&a, "--suspect", NULL);
    teacher_tok = dt_cli_str(&a, "--teacher-tokenizer", NULL);
    json = dt_cli_has(&a, "--json");
    have_key = dt_cli_has(&a, "--key");
    if ((nc = dt_cli_all(&a, "--control", &control_paths)) < 0 ||
        (np = dt_cli_all(&a, "--prompt", &prompts)) < 0) {
        status = DT_EXIT_RESOURCE;
        goto done;
    }
    n_controls = (size_t)nc;
    n_prompts = (size_t)np;
    if (dt_cli_u64(&a, "--key", &u) || dt_cli_double(&a, "--gamma", 0, 1, &o.wm.gamma) ||
        dt_cli_double(&a, "--alpha", 0, 1, &alpha) || dt_cli_choice(&a, "--mode", modes, &mode))
        goto usage;
    o.wm.key = u;
    o.mode = mode == 0 ? DT_WM_MODE_BOTH : mode == 1 ? DT_WM_MODE_TEXT : DT_WM_MODE_LOGIT;
    d = o.temperature;
    if (dt_cli_double(&a, "--temperature", 0, 1e6, &d))
        goto usage;
    o.temperature = (float)d;
    l = o.n_samples;
    if (dt_cli_long(&a, "--samples", 1, 100000, &l))
        goto usage;
    o.n_samples = (int)l;
    l = o.max_tokens;
    if (dt_cli_long(&a, "--max-tokens", 1, 100000, &l))
        goto usage;
    o.max_tokens = (int)l;
    u = o.seed;
    if (dt_cli_u64(&a, "--seed", &u))
        goto usage;
    o.seed = u;
    if (!suspect_path || !teacher_tok || !have_key)
        goto usage;
    o.prompts = n_prompts ? prompts : NULL;
    o.n_prompts = n_prompts;
    if (dt_wm_radio_run(suspect_path, teacher_tok, control_paths, n_controls, &o, &r, &err))
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
    dt_free(control_paths);
    dt_free(prompts);
    return status;
}

int cmd_watermark(int argc, char **argv)
{
    if (argc < 2)
        return dt_cli_usage("watermark", usage_main);
    if (!strcmp(argv[1], "generate"))
        return wm_generate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "detect"))
        return wm_detect(argc - 1, argv + 1);
    if (!strcmp(argv[1], "radioactivity"))
        return wm_radio(argc - 1, argv + 1);
    fprintf(stderr, "distiltrace watermark: '%s' is not a subcommand\n", argv[1]);
    return dt_cli_usage("watermark", usage_main);
}

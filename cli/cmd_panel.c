/*
 * `distiltrace panel add|list|remove`: control panels (reports/panel.h). A member's answers
 * are collected once, with the probes and settings a compare with the same options would use
 * (run/compare.h's dt_compare_collect_party) and recorded in the panel as they are
 * generated, so an interrupted add resumes; `compare --panel P` then uses every member as a
 * control.
 */
#include "cli/args.h"
#include "cli/progress.h"
#include "cli/commands.h"
#include "run/compare.h"
#include "run/answers.h"
#include "run/party.h"
#include "reports/panel.h"
#include "reports/store.h"
#include "util/log.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "distiltrace panel add --panel P.db (--model M [--chat-template T] | --transcripts F |\n"
    "       --endpoint URL --api-model NAME [--api-key-env VAR]) [--name N] [--samples S]\n"
    "       [--seed X] [--identity-probes N] [--chat-probes N] [--text-probes N]\n"
    "       [--temperature T] [--identity-corpus F] [--chat-corpus F] [--text-corpus F]\n"
    "       [--threads N] [--quiet]\n"
    "distiltrace panel list --panel P.db [--json]\n"
    "distiltrace panel remove --panel P.db --name N\n"
    "A member's answers are those a compare with the same probe options and seed asks for\n"
    "(defaults as compare's); `compare --panel P.db` uses every member as a control.";

static char *settings_json(const struct dt_compare_params *p)
{
    cJSON *o = cJSON_CreateObject();
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)p->seed);
    cJSON_AddStringToObject(o, "seed", sd);
    cJSON_AddNumberToObject(o, "identity_probes", (double)p->n_identity);
    cJSON_AddNumberToObject(o, "samples", p->identity_samples);
    cJSON_AddNumberToObject(o, "chat_probes", (double)p->n_chat);
    cJSON_AddNumberToObject(o, "text_probes", (double)p->n_text);
    cJSON_AddNumberToObject(o, "temperature", p->temperature);
    cJSON_AddNumberToObject(o, "top_p", p->top_p);
    cJSON_AddNumberToObject(o, "max_tokens_chat", p->max_tokens_chat);
    cJSON_AddNumberToObject(o, "max_tokens_text", p->max_tokens_text);
    if (p->identity_corpus)
        cJSON_AddStringToObject(o, "identity_corpus", p->identity_corpus);
    if (p->chat_corpus)
        cJSON_AddStringToObject(o, "chat_corpus", p->chat_corpus);
    if (p->text_corpus)
        cJSON_AddStringToObject(o, "text_corpus", p->text_corpus);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The probe plan (the options compare has for it, with compare's defaults): 0, or -1 after a
 * usage error. */
static int plan_read(const struct dt_cli_args *a, struct dt_compare_params *p)
{
    static const char *const counts[] = {"--identity-probes", "--chat-probes", "--text-probes"};
    size_t *dst[] = {&p->n_identity, &p->n_chat, &p->n_text};
    long l;
    double d;
    unsigned long long u;
    for (int k = 0; k < 3; k++) {
        l = (long)*dst[k];
        if (dt_cli_long(a, counts[k], 1, 100000, &l))
            return -1;
        *dst[k] = (size_t)l;
    }
    l = p->identity_samples;
    if (dt_cli_long(a, "--samples", 1, 100, &l))
        return -1;
    p->identity_samples = (int)l;
    u = p->seed;
    if (dt_cli_u64(a, "--seed", &u))
        return -1;
    p->seed = u;
    d = p->temperature;
    if (dt_cli_number(a, "--temperature", &d))
        return -1;
    if (d < 0 || d > 5) {
        fprintf(stderr, "distiltrace panel add: --temperature takes 0 to 5\n");
        return -1;
    }
    p->temperature = (float)d;
    l = p->threads;
    if (dt_cli_long(a, "--threads", 1, 256, &l))
        return -1;
    p->threads = (int)l;
    p->identity_corpus = dt_cli_str(a, "--identity-corpus", p->identity_corpus);
    p->chat_corpus = dt_cli_str(a, "--chat-corpus", p->chat_corpus);
    p->text_corpus = dt_cli_str(a, "--text-corpus", p->text_corpus);
    return 0;
}

/* Options only: an argument left after "--" is refused as the hand parser refused it. */
static int no_positional(const struct dt_cli_args *a)
{
    if (!dt_cli_n_positional(a))
        return 0;
    fprintf(stderr, "distiltrace %s: unknown option '%s'\n", a->doc->name, dt_cli_positional(a, 0));
    return dt_cli_usage("panel", usage);
}

static int cmd_add(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "panel add", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *panel = dt_cli_str(&a, "--panel", NULL), *model = dt_cli_str(&a, "--model", NULL),
               *transcripts = dt_cli_str(&a, "--transcripts", NULL),
               *endpoint = dt_cli_str(&a, "--endpoint", NULL),
               *api_model = dt_cli_str(&a, "--api-model", NULL),
               *key_env = dt_cli_str_def(&a, "--api-key-env"),
               *name = dt_cli_str(&a, "--name", NULL),
               *tmpl = dt_cli_str(&a, "--chat-template", NULL);
    int quiet = dt_cli_has(&a, "--quiet");
    struct dt_compare_params p;
    dt_compare_params_default(&p);
    if (plan_read(&a, &p))
        return DT_EXIT_USAGE;
    if (no_positional(&a))
        return DT_EXIT_USAGE;
    if (!panel)
        return dt_cli_usage("panel", "panel add needs --panel P.db");
    if (!!model + !!transcripts + !!endpoint != 1)
        return dt_cli_usage("panel", "panel add takes one of --model, --transcripts, --endpoint");
    if (endpoint && !api_model)
        return dt_cli_usage("panel", "--endpoint URL needs --api-model NAME");
    if (transcripts && !name)
        return dt_cli_usage("panel", "--transcripts F needs --name N");
    if (tmpl && !strstr(tmpl, "{prompt}"))
        return dt_cli_usage("panel", "--chat-template must contain '{prompt}'");
    char nm[128];
    if (name)
        snprintf(nm, sizeof nm, "%s", name);
    else if (model)
        dt_party_display_name(model, nm, sizeof nm);
    else
        snprintf(nm, sizeof nm, "%s", api_model);
    if (!quiet && isatty(2))
        p.progress = dt_cli_progress;
    if (quiet)
        dt_log_verbosity = 0;

    struct dt_error err = {0};
    struct dt_store *s = NULL;
    int64_t run_id = 0, model_id = 0;
    int rc, existed = 0;
    char *settings = NULL, *abs = NULL;
    struct dt_compare_result res;
    int have_res = 0;
    size_t n_new = 0;
    struct dt_endpoint_options eo;
    struct dt_store_answers cache;
    struct dt_compare_input in = {0};
    if ((rc = dt_store_open(panel, &s, &err)))
        return dt_cli_fail(&err);
    uint64_t seed = p.seed;
    if ((rc = dt_store_run_begin(s, argc, argv, &seed, p.threads, &run_id, &err)))
        goto done;
    in.name = nm;
    in.chat_template = tmpl;
    if (model) {
        /* recorded as an absolute path: compare finds it from any directory */
        if ((abs = realpath(model, NULL)))
            model = abs;
        in.model_path = model;
        dt_store_answers_init(&cache, s, run_id);
        in.answers = &cache.src;
    } else if (transcripts) {
        in.transcripts_path = transcripts;
    } else {
        dt_endpoint_options_init(&eo);
        eo.url = endpoint;
        eo.model = api_model;
        eo.api_key = getenv(key_env);
        eo.jitter_seed = p.seed;
        in.endpoint = &eo;
    }
    if ((rc = dt_compare_collect_party(&in, &p, &res, &err)))
        goto done;
    have_res = 1;
    const struct dt_party *pa = &res.parties[0];
    if ((rc = dt_store_party_model(s, pa, &model_id, &err)))
        goto done;
    if (!model) {
        char key[200];
        snprintf(key, sizeof key, "panel:%s:%s", transcripts ? "transcript" : "endpoint", nm);
        if ((rc = dt_store_answers_record_all(s, run_id, model_id, key, &pa->samples, &n_new, &err)))
            goto done;
    } else {
        n_new = cache.n_recorded;
    }
    if (!(settings = settings_json(&p))) {
        rc = dt_error_set(&err, DT_ENOMEM, "out of memory");
        goto done;
    }
    const char *location = model ? model : transcripts ? transcripts : endpoint;
    if ((rc = dt_panel_member_add(s, nm, model_id, model ? "local" : transcripts ? "transcript" : "endpoint",
                                  location, pa->chat_template, settings, run_id, &existed, &err)))
        goto done;
    printf("panel %s: %s member '%s': %zu answers (%zu new, %zu already stored) to %zu identity, "
           "%zu chat and %zu text probes\n",
           panel, existed ? "updated" : "added", nm, pa->samples.n, n_new,
           model ? cache.n_found : pa->samples.n - n_new, res.n_prompts[DT_SET_IDENTITY],
           res.n_prompts[DT_SET_CHAT], res.n_prompts[DT_SET_TEXT]);
done:;
    int status = rc ? dt_cli_fail(&err) : DT_EXIT_OK;
    if (run_id) {
        struct dt_error e2 = {0};
        dt_store_run_end(s, run_id, status, &e2);
    }
    if (have_res)
        dt_compare_result_release(&res);
    cJSON_free(settings);
    dt_store_close(s);
    free(abs);
    return status;
}

struct list_ctx {
    int json, n;
    cJSON *arr;
};

static int on_member(void *ud, const struct dt_panel_member *m)
{
    struct list_ctx *c = ud;
    c->n++;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddStringToObject(o, "source", m->source);
        cJSON_AddStringToObject(o, "location", m->location);
        if (m->sha256)
            cJSON_AddStringToObject(o, "sha256", m->sha256);
        if (m->size_bytes >= 0)
            cJSON_AddNumberToObject(o, "size_bytes", (double)m->size_bytes);
        if (m->tokenizer_hash)
            cJSON_AddStringToObject(o, "tokenizer_hash", m->tokenizer_hash);
        if (m->chat_template)
            cJSON_AddStringToObject(o, "chat_template", m->chat_template);
        cJSON_AddNumberToObject(o, "answers", (double)m->n_answers);
        cJSON_AddItemToObject(o, "settings", cJSON_Parse(m->settings_json));
        cJSON_AddStringToObject(o, "added_at", m->created_at);
        cJSON_AddItemToArray(c->arr, o);
        return 0;
    }
    printf("%-24s %-10s %6lld answers  %s\n", m->name, m->source, (long long)m->n_answers,
           m->location);
    if (m->sha256)
        printf("  sha256 %s  %lld bytes  tokenizer %s\n", m->sha256, (long long)m->size_bytes,
               m->tokenizer_hash ? m->tokenizer_hash : "-");
    if (m->chat_template)
        printf("  chat template %s\n", m->chat_template);
    printf("  settings %s  added %s\n", m->settings_json, m->created_at);
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "panel list", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *panel = dt_cli_str(&a, "--panel", NULL);
    struct list_ctx c = {0};
    c.json = dt_cli_has(&a, "--json");
    if (no_positional(&a))
        return DT_EXIT_USAGE;
    if (!panel)
        return dt_cli_usage("panel", "panel list needs --panel P.db");
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    if (dt_store_open_flags(panel, DT_STORE_NO_CREATE, &s, &err))
        return dt_cli_fail(&err);
    if (c.json)
        c.arr = cJSON_CreateArray();
    int rc = dt_panel_members_list(s, on_member, &c, &err);
    dt_store_close(s);
    if (rc) {
        cJSON_Delete(c.arr);
        return dt_cli_fail(&err);
    }
    if (c.json) {
        char *t = cJSON_Print(c.arr);
        cJSON_Delete(c.arr);
        if (!t)
            return dt_exit_code_for(DT_ENOMEM);
        printf("%s\n", t);
        cJSON_free(t);
    } else if (!c.n) {
        printf("panel %s has no members\n", panel);
    }
    return DT_EXIT_OK;
}

static int cmd_remove(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "panel remove", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *panel = dt_cli_str(&a, "--panel", NULL), *name = dt_cli_str(&a, "--name", NULL);
    if (no_positional(&a))
        return DT_EXIT_USAGE;
    if (!panel || !name)
        return dt_cli_usage("panel", "panel remove needs --panel P.db --name N");
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    if (dt_store_open_flags(panel, DT_STORE_NO_CREATE, &s, &err))
        return dt_cli_fail(&err);
    int rc = dt_panel_member_remove(s, name, &err);
    dt_store_close(s);
    if (rc)
        return dt_cli_fail(&err);
    printf("panel %s: removed member '%s'\n", panel, name);
    return DT_EXIT_OK;
}

int cmd_panel(int argc, char **argv)
{
    /* main.c answers --help and -h itself (the generated help); "panel help" is this usage */
    if (argc < 2)
        return dt_cli_usage("panel", usage);
    if (!strcmp(argv[1], "help")) {
        printf("usage: %s\n", usage);
        return DT_EXIT_OK;
    }
    if (!strcmp(argv[1], "add"))
        return cmd_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "remove"))
        return cmd_remove(argc - 1, argv + 1);
    fprintf(stderr, "distiltrace panel: unknown subcommand '%s'\n", argv[1]);
    return dt_cli_usage("panel", usage);
}

/*
 * `distiltrace transcripts import`: API transcripts (OpenAI chat / completions, llama.cpp
 * server, plain prompt/response JSONL) into the evidence store as an API-only model's
 * observations. `transcripts show` prints what a file holds without a database.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "reports/ingest.h"
#include "util/alloc.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char import_usage[] =
    "distiltrace transcripts import --db D --file F --model-name NAME [--requests BATCH_INPUT]\n"
    "         [--format auto|openai-chat|openai-completions|openai-responses|openai-batch|\n"
    "                   chat-messages|llama-server|plain]\n"
    "         [--on-error reject|skip] [--max-line-bytes N]";

static void print_line_error(void *ud, size_t line, const struct dt_error *e)
{
    (void)ud;
    (void)line;
    fprintf(stderr, "distiltrace: %s\n", e->msg);
}

/* The options import and show share, read from the subcommand's table. */
static int parse_common(const struct dt_cli_args *a, const char **db, const char **file,
                        const char **model, struct dt_transcript_options *opt)
{
    static const char *const on_error[] = {"reject", "skip", NULL};
    const char *v;
    struct dt_error err = {0};
    int skip = 0;
    long n = 0;
    *db = dt_cli_str(a, "--db", NULL);
    *file = dt_cli_str(a, "--file", NULL);
    *model = dt_cli_str(a, "--model-name", NULL);
    opt->requests_path = dt_cli_str(a, "--requests", NULL);
    if ((v = dt_cli_str_def(a, "--format")) && dt_transcript_format_parse(v, &opt->format, &err)) {
        fprintf(stderr, "distiltrace %s: %s\n", a->doc->name, err.msg);
        return -1;
    }
    if (dt_cli_choice(a, "--on-error", on_error, &skip) ||
        dt_cli_long(a, "--max-line-bytes", 1, 1L << 30, &n))
        return -1;
    opt->skip_bad = skip;
    opt->max_line_bytes = (size_t)n;
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    const char *db = NULL, *file = NULL, *model = NULL;
    struct dt_transcript_options opt = {.on_error = print_line_error};
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct dt_import_result res;
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "transcripts import", argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    int json = dt_cli_has(&a, "--json");
    if (parse_common(&a, &db, &file, &model, &opt) || !db || !file || !model)
        return dt_cli_usage("transcripts import", import_usage);
    int rc = dt_store_open(db, &s, &err);
    if (rc == 0)
        rc = dt_store_import_transcripts(s, argc, argv, file, model, &opt, &res, &err);
    dt_store_close(s);
    if (rc)
        return dt_cli_fail(&err);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", "transcripts import");
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "db", db);
        cJSON_AddNumberToObject(o, "run_id", (double)res.run_id);
        cJSON_AddNumberToObject(o, "collection_id", (double)res.collection_id);
        cJSON_AddNumberToObject(o, "records", (double)res.n_records);
        cJSON_AddNumberToObject(o, "inserted", (double)res.n_inserted);
        cJSON_AddNumberToObject(o, "already_present", (double)res.n_existing);
        cJSON_AddNumberToObject(o, "malformed_skipped", (double)res.n_bad);
        char *txt = cJSON_Print(o);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(o);
        return txt ? DT_EXIT_OK : DT_EXIT_RESOURCE;
    }
    printf("imported %zu records from '%s' as model '%s' (run %lld, collection %lld): %zu new, "
           "%zu already present",
           res.n_records, file, model, (long long)res.run_id, (long long)res.collection_id,
           res.n_inserted, res.n_existing);
    if (res.n_bad)
        printf(", %zu malformed lines skipped", res.n_bad);
    printf("\n");
    return DT_EXIT_OK;
}

/* Prints at most max_chars characters of text on one line: newlines and tabs as \n and \t,
 * an ellipsis when cut (never inside a UTF-8 sequence). */
static void print_oneline(const char *text, size_t max_chars)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) != 0x80 && n++ == max_chars) {
            fputs("...", stdout);
            return;
        }
        if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p == '\r')
            fputs("\\r", stdout);
        else
            putchar(*p);
    }
}

static int cmd_show(int argc, char **argv)
{
    const char *db = NULL, *file = NULL, *model = NULL;
    struct dt_transcript_options opt = {.on_error = print_line_error};
    struct dt_error err = {0};
    struct dt_sample_set set;
    struct dt_transcript_stats st;
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "transcripts show", argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    int json = dt_cli_has(&a, "--json"), full = dt_cli_has(&a, "--full");
    if (parse_common(&a, &db, &file, &model, &opt) || !file)
        return dt_cli_usage("transcripts show",
                            "distiltrace transcripts show --file F [--requests BATCH_INPUT] "
                            "[--format FMT] [--on-error reject|skip] [--full] [--json]");
    dt_sample_set_init(&set);
    if (dt_transcript_load(file, &opt, &set, &st, &err))
        return dt_cli_fail(&err);
    for (size_t i = 0; i < set.n; i++) {
        const struct dt_sample *x = &set.items[i];
        double sum = 0;
        size_t n_known = 0, n_alt = 0;
        for (size_t t = 0; t < x->n_tokens; t++) {
            if (!isnan(x->tokens[t].logprob)) {
                sum += x->tokens[t].logprob;
                n_known++;
            }
            n_alt += x->tokens[t].n_alt;
        }
        if (json) {
            cJSON *o = cJSON_CreateObject();
            char *line = NULL;
            if (o) {
                cJSON_AddNumberToObject(o, "record", (double)(i + 1));
                cJSON_AddStringToObject(o, "kind", dt_probe_kind_name(x->kind));
                cJSON_AddStringToObject(o, "probe_id", x->probe_id);
                cJSON_AddNumberToObject(o, "sample_index", x->sample_index);
                if (x->source_ref)
                    cJSON_AddStringToObject(o, "id", x->source_ref);
                cJSON_AddStringToObject(o, "prompt", x->prompt);
                cJSON_AddStringToObject(o, "response", x->response);
                if (x->finish_reason)
                    cJSON_AddStringToObject(o, "finish_reason", x->finish_reason);
                cJSON_AddNumberToObject(o, "tokens", (double)x->n_tokens);
                cJSON_AddNumberToObject(o, "alternatives", (double)n_alt);
                if (n_known)
                    cJSON_AddNumberToObject(o, "sum_logprob", sum);
                line = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
            }
            if (!line) {
                dt_sample_set_release(&set);
                fprintf(stderr, "distiltrace: out of memory\n");
                return DT_EXIT_RESOURCE;
            }
            printf("%s\n", line);
            cJSON_free(line);
            continue;
        }
        printf("#%zu  %s  %s  sample %d", i + 1, dt_probe_kind_name(x->kind),
               x->source_ref ? x->source_ref : "-", x->sample_index);
        if (x->has_logprobs)
            printf("  %zu tokens, %zu alternatives, sum logprob %.4f", x->n_tokens, n_alt,
                   n_known ? sum : NAN);
        if (x->finish_reason)
            printf("  finish %s", x->finish_reason);
        printf("\n  prompt:   ");
        print_oneline(x->prompt, full ? SIZE_MAX : 100);
        printf("\n  response: ");
        print_oneline(x->response, full ? SIZE_MAX : 160);
        printf("\n");
    }
    if (!json) {
        printf("%zu records", st.n_records);
        for (int f = 1; f < DT_TRANSCRIPT_N_FORMATS; f++)
            if (st.n_by_format[f])
                printf(", %zu %s", st.n_by_format[f], dt_transcript_format_name(f));
        if (st.n_ignored)
            printf(", %zu log lines without a request ignored", st.n_ignored);
        printf("\n");
    }
    dt_sample_set_release(&set);
    return DT_EXIT_OK;
}

int cmd_transcripts(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return cmd_import(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "show"))
        return cmd_show(argc, argv);
    return dt_cli_usage("transcripts", "distiltrace transcripts import|show ...");
}

/*
 * `distiltrace transcripts import`: API transcripts (OpenAI chat / completions, llama.cpp
 * server, plain prompt/response JSONL) into the evidence store as an API-only model's
 * observations. `transcripts show` prints what a file holds without a database.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "reports/ingest.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char import_usage[] =
    "distiltrace transcripts import --db D --file F --model-name NAME\n"
    "         [--format auto|openai-chat|openai-completions|llama-server|plain]\n"
    "         [--on-error reject|skip] [--max-line-bytes N]";

static void print_line_error(void *ud, size_t line, const struct dt_error *e)
{
    (void)ud;
    (void)line;
    fprintf(stderr, "distiltrace: %s\n", e->msg);
}

static int parse_common(const char *cmd, int argc, char **argv, int i0, const char **db,
                        const char **file, const char **model, struct dt_transcript_options *opt)
{
    const char *v;
    struct dt_error err = {0};
    for (int i = i0; i < argc;) {
        int r;
        if ((r = dt_cli_opt(cmd, argc, argv, &i, "--db", db)) ||
            (r = dt_cli_opt(cmd, argc, argv, &i, "--file", file)) ||
            (r = dt_cli_opt(cmd, argc, argv, &i, "--model-name", model))) {
            if (r < 0)
                return -1;
        } else if ((r = dt_cli_opt(cmd, argc, argv, &i, "--format", &v))) {
            if (r < 0)
                return -1;
            if (dt_transcript_format_parse(v, &opt->format, &err)) {
                fprintf(stderr, "distiltrace %s: %s\n", cmd, err.msg);
                return -1;
            }
        } else if ((r = dt_cli_opt(cmd, argc, argv, &i, "--on-error", &v))) {
            if (r < 0)
                return -1;
            if (!strcmp(v, "reject"))
                opt->skip_bad = 0;
            else if (!strcmp(v, "skip"))
                opt->skip_bad = 1;
            else {
                fprintf(stderr, "distiltrace %s: --on-error takes reject or skip, not '%s'\n", cmd,
                        v);
                return -1;
            }
        } else if ((r = dt_cli_opt(cmd, argc, argv, &i, "--max-line-bytes", &v))) {
            long n;
            if (r < 0 || dt_cli_parse_int(cmd, "--max-line-bytes", v, 1, 1L << 30, &n))
                return -1;
            opt->max_line_bytes = (size_t)n;
        } else {
            fprintf(stderr, "distiltrace %s: unknown option '%s'\n", cmd, argv[i]);
            return -1;
        }
    }
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    const char *db = NULL, *file = NULL, *model = NULL;
    struct dt_transcript_options opt = {.on_error = print_line_error};
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct dt_import_result res;
    if (parse_common("transcripts import", argc, argv, 2, &db, &file, &model, &opt) || !db ||
        !file || !model)
        return dt_cli_usage("transcripts import", import_usage);
    int rc = dt_store_open(db, &s, &err);
    if (rc == 0)
        rc = dt_store_import_transcripts(s, argc, argv, file, model, &opt, &res, &err);
    dt_store_close(s);
    if (rc)
        return dt_cli_fail(&err);
    printf("imported %zu records from '%s' as model '%s' (run %lld, collection %lld): %zu new, "
           "%zu already present",
           res.n_records, file, model, (long long)res.run_id, (long long)res.collection_id,
           res.n_inserted, res.n_existing);
    if (res.n_bad)
        printf(", %zu malformed lines skipped", res.n_bad);
    printf("\n");
    return DT_EXIT_OK;
}

static int cmd_show(int argc, char **argv)
{
    const char *db = NULL, *file = NULL, *model = NULL;
    struct dt_transcript_options opt = {.on_error = print_line_error};
    struct dt_error err = {0};
    struct dt_sample_set set;
    struct dt_transcript_stats st;
    if (parse_common("transcripts show", argc, argv, 2, &db, &file, &model, &opt) || !file)
        return dt_cli_usage("transcripts show", "distiltrace transcripts show --file F "
                                                "[--format FMT] [--on-error reject|skip]");
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
        printf("%zu\t%s\t%s#%d\t%zu tokens\t%zu alternatives\tsum logprob %.4f\t%s\n", i + 1,
               dt_probe_kind_name(x->kind), x->probe_id, x->sample_index, x->n_tokens, n_alt,
               n_known ? sum : NAN, x->source_ref ? x->source_ref : "-");
    }
    printf("%zu records", st.n_records);
    for (int f = 1; f < DT_TRANSCRIPT_N_FORMATS; f++)
        if (st.n_by_format[f])
            printf(", %zu %s", st.n_by_format[f], dt_transcript_format_name(f));
    printf("\n");
    dt_sample_set_release(&set);
    return DT_EXIT_OK;
}

int cmd_transcripts(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return cmd_import(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "show"))
        return cmd_show(argc, argv);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s\n       distiltrace transcripts show --file F [--format FMT]\n",
               import_usage);
        return DT_EXIT_OK;
    }
    return dt_cli_usage("transcripts", "distiltrace transcripts import|show ...");
}

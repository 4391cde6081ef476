/*
 * `distiltrace score --model M --file F [--json] [--special]`: teacher-forced log-probability
 * of every token of a text file under the model, and the perplexity. The text is split into
 * windows of the model's context length that are scored as one batch; the first token of each
 * window has no prediction (nothing precedes it) and is reported as null / "-". The scoring
 * is run/local.h's; this file reads the options and prints.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/local.h"
#include "util/alloc.h"
#include "util/file.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace score --model M --file F [--json] [--special] [--threads N]";

int cmd_score(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "score", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model_path = dt_cli_str(&a, "--model", NULL), *file = dt_cli_str(&a, "--file", NULL);
    int json = dt_cli_has(&a, "--json"), special = dt_cli_has(&a, "--special");
    long threads = 0;
    if (dt_cli_long(&a, "--threads", 1, 64, &threads))
        return DT_EXIT_USAGE;
    if (!model_path || !file)
        return dt_cli_usage("score", k_usage);
    struct dt_error err = {0};
    struct dt_local *l = NULL;
    struct dt_score_result r = {0};
    char *text = NULL;
    size_t n_text = 0;
    int status = DT_EXIT_OK;
    if (dt_file_read_all(file, (size_t)1 << 30, &text, &n_text, &err) ||
        dt_local_open(model_path, (int)threads, &l, &err) ||
        dt_local_score(l, text, n_text, special, &r, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    double mean = r.n_scored ? r.sum_logprob / (double)r.n_scored : NAN;
    double ppl = r.n_scored ? exp(-mean) : NAN;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *tk = cJSON_AddArrayToObject(o, "tokens"),
              *lp = cJSON_AddArrayToObject(o, "logprobs");
        for (size_t i = 0; i < r.n; i++) {
            cJSON_AddItemToArray(tk, cJSON_CreateNumber(r.ids[i]));
            cJSON_AddItemToArray(lp, isnan(r.logprob[i]) ? cJSON_CreateNull()
                                                         : cJSON_CreateNumber(r.logprob[i]));
        }
        cJSON_AddNumberToObject(o, "n_tokens", (double)r.n);
        cJSON_AddNumberToObject(o, "n_scored", (double)r.n_scored);
        if (r.n_scored) {
            cJSON_AddNumberToObject(o, "sum_logprob", r.sum_logprob);
            cJSON_AddNumberToObject(o, "mean_logprob", mean);
            cJSON_AddNumberToObject(o, "perplexity", ppl);
        } else {
            cJSON_AddNullToObject(o, "perplexity");
        }
        cJSON_AddStringToObject(o, "note", "the first token of each context window has no prediction");
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("%-7s %-7s %12s  token\n", "pos", "id", "logprob");
        for (size_t i = 0; i < r.n; i++) {
            size_t nb = 0;
            const char *b = dt_local_token_bytes(l, r.ids[i], &nb);
            if (isnan(r.logprob[i]))
                printf("%-7zu %-7d %12s  ", i, r.ids[i], "-");
            else
                printf("%-7zu %-7d %12.5f  ", i, r.ids[i], r.logprob[i]);
            for (size_t k = 0; b && k < nb; k++)
                putchar(b[k] == '\n' ? ' ' : b[k]);
            putchar('\n');
        }
        printf("%zu tokens, %zu scored (the first token of each %zu-token window has no "
               "prediction)\n",
               r.n, r.n_scored, r.window);
        if (r.n_scored)
            printf("mean log-prob %.5f, perplexity %.4f\n", mean, ppl);
    }
out:
    dt_score_result_release(&r);
    dt_free(text);
    dt_local_free(l);
    return status;
}

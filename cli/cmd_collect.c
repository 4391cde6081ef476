/*
 * `distiltrace collect --model M --corpus C --db D`: generate with a local model over a
 * corpus and store every sample with per-token log-probs and top-k alternatives. Resumable:
 * rerunning the same command continues where it stopped. Progress bar on a TTY only.
 */
#include "cli/args.h"
#include "cli/endpoint_opts.h"
#include "cli/commands.h"
#include "run/collect.h"
#include "run/collect_endpoint.h"
#include "reports/ingest.h"
#include "util/log.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "distiltrace collect --model M --corpus C --db D [--samples N] [--temperature T]\n"
    "       [--seed S] [--max-tokens N] [--top-logprobs K] [--top-k K] [--top-p P]\n"
    "       [--chat-template STR] [--model-name NAME] [--probes N] [--threads N]\n"
    "C is a built-in corpus (identity, chat, continuation), a text or JSONL file, or a corpus\n"
    "stored in D; --probes N collects a deterministic sample of N probes (seeded by --seed).\n"
    "Chat probes are wrapped by the model's own chat template, as compare wraps them; a model\n"
    "without one uses --chat-template ('{prompt}' marks the message), else, when its\n"
    "vocabulary has <|user|> and <|assistant|>, '<|user|>{prompt}<|assistant|>', else the\n"
    "bare prompt.\n"
    "\n"
    "distiltrace collect --endpoint URL --api-model NAME --corpus C --db D [same options]\n"
    "       [--concurrency N] [--rps R] [--retries N] [--timeout S] [--chat|--completions]\n"
    "       [--api-key-env VAR] [--shard I/N]\n"
    "asks an OpenAI-compatible endpoint instead (chat probes to /v1/chat/completions, text\n"
    "probes to /v1/completions unless --chat or --completions), with the seed the local\n"
    "collect would use; the API key is read from $VAR (default OPENAI_API_KEY), never from the\n"
    "command line, and is never stored. --shard I/N takes probes I, I+N, ... (0-based), so N\n"
    "servers can share a corpus; merge their stores with `db merge`.";

static void on_progress(void *ud, size_t done, size_t total)
{
    (void)ud;
    dt_progress("collect", done, total);
}

/* `collect --json`: one object (docs/schema/collect.schema.json). */
static void print_json(const struct dt_collect_result *res, const char *model, const char *db,
                       const struct dt_endpoint_stats *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", "collect");
    cJSON_AddStringToObject(o, "model", model ? model : "");
    cJSON_AddStringToObject(o, "db", db);
    cJSON_AddNumberToObject(o, "run_id", (double)res->run_id);
    cJSON_AddNumberToObject(o, "collection_id", (double)res->collection_id);
    cJSON_AddNumberToObject(o, "probes", (double)res->n_probes);
    cJSON_AddNumberToObject(o, "samples_new", (double)res->n_samples_new);
    cJSON_AddNumberToObject(o, "probes_already_complete", (double)res->n_skipped);
    if (st) {
        cJSON *r = cJSON_AddObjectToObject(o, "retries");
        cJSON_AddNumberToObject(r, "total", (double)st->n_retries);
        cJSON_AddNumberToObject(r, "http_429", (double)st->n_429);
        cJSON_AddNumberToObject(r, "http_5xx", (double)st->n_5xx);
        cJSON_AddNumberToObject(r, "timeouts", (double)st->n_timeouts);
        cJSON_AddNumberToObject(r, "connection_errors", (double)st->n_conn_errors);
        cJSON_AddNumberToObject(r, "malformed", (double)st->n_malformed);
    }
    char *txt = cJSON_Print(o);
    if (txt)
        printf("%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(o);
}

int cmd_collect(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "collect", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model_path = dt_cli_str(&a, "--model", NULL),
               *corpus = dt_cli_str(&a, "--corpus", NULL), *db = dt_cli_str(&a, "--db", NULL),
               *name = dt_cli_str(&a, "--model-name", NULL),
               *endpoint = dt_cli_str(&a, "--endpoint", NULL),
               *api_model = dt_cli_str(&a, "--api-model", NULL),
               *key_env = dt_cli_str_def(&a, "--api-key-env"),
               *shard_s = dt_cli_str(&a, "--shard", NULL);
    int json = dt_cli_has(&a, "--json");
    struct dt_endpoint_options eo;
    struct dt_collect_shard shard = {0, 1};
    dt_endpoint_options_init(&eo);
    long n_probes = -1, l;
    double d;
    unsigned long long seed = 0;
    struct dt_collect_params p;
    dt_collect_params_init(&p);
    p.chat_template = dt_cli_str(&a, "--chat-template", NULL);
    /* --chat and --completions: the last one given decides */
    const char *opt, *val;
    for (int i = 0; dt_cli_next(&a, &i, &opt, &val);)
        if (!strcmp(opt, "--chat"))
            eo.mode = DT_ENDPOINT_CHAT;
        else if (!strcmp(opt, "--completions"))
            eo.mode = DT_ENDPOINT_COMPLETIONS;
    if (dt_cli_endpoint_opts(&a, &eo))
        return DT_EXIT_USAGE;
    /* out-of-range values are usage errors that name the range */
    d = eo.backoff_base_s;
    if (dt_cli_number(&a, "--backoff", &d))
        return DT_EXIT_USAGE;
    if (!(d >= 0))
        return dt_cli_usage("collect", "--backoff takes a number of seconds >= 0");
    eo.backoff_base_s = d;
    l = p.n_samples;
    if (dt_cli_long(&a, "--samples", 1, 100000, &l))
        return DT_EXIT_USAGE;
    p.n_samples = (int)l;
    l = p.n_predict;
    if (dt_cli_long(&a, "--max-tokens", 1, 1 << 20, &l))
        return DT_EXIT_USAGE;
    p.n_predict = (int)l;
    l = p.n_top;
    if (dt_cli_long(&a, "--top-logprobs", 0, 64, &l))
        return DT_EXIT_USAGE;
    p.n_top = (int)l;
    l = p.top_k;
    if (dt_cli_long(&a, "--top-k", 0, 1 << 24, &l))
        return DT_EXIT_USAGE;
    p.top_k = (int)l;
    l = p.n_threads;
    if (dt_cli_long(&a, "--threads", 1, 256, &l))
        return DT_EXIT_USAGE;
    p.n_threads = (int)l;
    if (dt_cli_long(&a, "--probes", 1, 1L << 30, &n_probes))
        return DT_EXIT_USAGE;
    d = p.temperature;
    if (dt_cli_number(&a, "--temperature", &d))
        return DT_EXIT_USAGE;
    if (d < 0)
        return dt_cli_usage("collect", "--temperature takes a number >= 0");
    p.temperature = (float)d;
    d = p.top_p;
    if (dt_cli_number(&a, "--top-p", &d))
        return DT_EXIT_USAGE;
    if (d <= 0 || d > 1)
        return dt_cli_usage("collect", "--top-p takes a number in (0, 1]");
    p.top_p = (float)d;
    /* the seed of the samples, of the --probes sample and of the endpoint's retry jitter */
    if (dt_cli_u64(&a, "--seed", &seed))
        return DT_EXIT_USAGE;
    p.seed = seed;
    if (dt_cli_n_positional(&a))
        return dt_cli_usage("collect", usage);
    if (!corpus || !db || !model_path == !endpoint || !endpoint != !api_model)
        return dt_cli_usage("collect", usage);
    if (shard_s) {
        unsigned long si = 0, sn = 0;
        char tail;
        if (sscanf(shard_s, "%lu/%lu%c", &si, &sn, &tail) != 2 || sn < 1 || si >= sn) {
            fprintf(stderr, "distiltrace collect: --shard takes I/N with 0 <= I < N, not '%s'\n",
                    shard_s);
            return DT_EXIT_USAGE;
        }
        shard.index = si;
        shard.count = sn;
    }

    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct dt_corpus *c = NULL, *sub = NULL;
    struct dt_collect_result res;
    int rc;
    if ((rc = dt_store_open(db, &s, &err)) ||
        (rc = dt_corpus_resolve(s, corpus, DT_PROBE_CHAT, &c, &err)))
        goto done;
    if (n_probes > 0) {
        if ((rc = dt_corpus_sample(c, (size_t)n_probes, seed, &sub, &err)))
            goto done;
        dt_corpus_free(c);
        c = sub;
    }
    if (endpoint) {
        struct dt_endpoint_stats st = {0};
        eo.url = endpoint;
        eo.model = api_model;
        eo.api_key = getenv(key_env);
        eo.jitter_seed = seed;
        rc = dt_store_collect_endpoint(s, &eo, c, &p, &shard, argc, argv, on_progress, NULL, &res,
                                       &st, &err);
        if (st.n_retries)
            fprintf(stderr, "collect: %zu retries (%zu 429, %zu 5xx, %zu timeouts, %zu connection "
                    "errors, %zu malformed responses)\n", st.n_retries, st.n_429, st.n_5xx,
                    st.n_timeouts, st.n_conn_errors, st.n_malformed);
        if (rc == 0 && json)
            print_json(&res, api_model, db, &st);
        else if (rc == 0)
            printf("collected %zu new samples over %zu probes (%zu already complete) from '%s' "
                   "into '%s' (run %lld, collection %lld)\n",
                   res.n_samples_new, res.n_probes, res.n_skipped, api_model, db,
                   (long long)res.run_id, (long long)res.collection_id);
        goto done;
    }
    rc = dt_collect_local(s, model_path, name, c, &p, argc, argv, on_progress, NULL, &res, &err);
    if (rc == 0 && json)
        print_json(&res, name ? name : model_path, db, NULL);
    else if (rc == 0)
        printf("collected %zu new samples over %zu probes (%zu already complete) into '%s' "
               "(run %lld, collection %lld)\n",
               res.n_samples_new, res.n_probes, res.n_skipped, db, (long long)res.run_id,
               (long long)res.collection_id);
done:
    dt_corpus_free(c);
    dt_store_close(s);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

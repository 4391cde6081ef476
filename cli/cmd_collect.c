/*
 * `distiltrace collect --model M --corpus C --db D`: generate with a local model over a
 * corpus and store every sample with per-token log-probs and top-k alternatives. Resumable:
 * rerunning the same command continues where it stopped. Progress bar on a TTY only.
 */
#include "cli/cli_opts.h"
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
    int json = 0;
    const char *model_path = NULL, *corpus = NULL, *db = NULL, *name = NULL, *v;
    const char *endpoint = NULL, *api_model = NULL, *key_env = "OPENAI_API_KEY", *shard_s = NULL;
    struct dt_endpoint_options eo;
    struct dt_collect_shard shard = {0, 1};
    dt_endpoint_options_init(&eo);
    long n_probes = -1, l;
    double d;
    unsigned long long seed = 0;
    struct dt_collect_params p;
    dt_collect_params_init(&p);
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
            i++;
            continue;
        }
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n", usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("collect", argc, argv, &i, "--model", &model_path)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--corpus", &corpus)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--db", &db)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--model-name", &name)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--chat-template", &p.chat_template)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--endpoint", &endpoint)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--api-model", &api_model)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--api-key-env", &key_env)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--shard", &shard_s))) {
            if (r < 0)
                return DT_EXIT_USAGE;
        } else if (dt_cli_flag(argc, argv, &i, "--chat")) {
            eo.mode = DT_ENDPOINT_CHAT;
        } else if (dt_cli_flag(argc, argv, &i, "--completions")) {
            eo.mode = DT_ENDPOINT_COMPLETIONS;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--concurrency", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--concurrency", v, 1, 1024, &l))
                return DT_EXIT_USAGE;
            eo.concurrency = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--retries", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--retries", v, 0, 1000, &l))
                return DT_EXIT_USAGE;
            eo.max_retries = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--rps", &v))) {
            if (r < 0 || dt_cli_parse_double("collect", "--rps", v, &d) || d < 0)
                return DT_EXIT_USAGE;
            eo.rps = d;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--timeout", &v))) {
            if (r < 0 || dt_cli_parse_double("collect", "--timeout", v, &d) || !(d > 0))
                return DT_EXIT_USAGE;
            eo.timeout_s = d;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--backoff", &v))) {
            if (r < 0 || dt_cli_parse_double("collect", "--backoff", v, &d) || !(d >= 0))
                return DT_EXIT_USAGE;
            eo.backoff_base_s = d;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--samples", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--samples", v, 1, 100000, &l))
                return DT_EXIT_USAGE;
            p.n_samples = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--max-tokens", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--max-tokens", v, 1, 1 << 20, &l))
                return DT_EXIT_USAGE;
            p.n_predict = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--top-logprobs", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--top-logprobs", v, 0, 64, &l))
                return DT_EXIT_USAGE;
            p.n_top = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--top-k", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--top-k", v, 0, 1 << 24, &l))
                return DT_EXIT_USAGE;
            p.top_k = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--threads", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--threads", v, 1, 256, &l))
                return DT_EXIT_USAGE;
            p.n_threads = (int)l;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--probes", &v))) {
            if (r < 0 || dt_cli_parse_int("collect", "--probes", v, 1, 1L << 30, &n_probes))
                return DT_EXIT_USAGE;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--temperature", &v))) {
            if (r < 0 || dt_cli_parse_double("collect", "--temperature", v, &d) || d < 0)
                return DT_EXIT_USAGE;
            p.temperature = (float)d;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--top-p", &v))) {
            if (r < 0 || dt_cli_parse_double("collect", "--top-p", v, &d) || d <= 0 || d > 1)
                return DT_EXIT_USAGE;
            p.top_p = (float)d;
        } else if ((r = dt_cli_opt("collect", argc, argv, &i, "--seed", &v))) {
            if (r < 0 || dt_cli_parse_u64("collect", "--seed", v, &seed))
                return DT_EXIT_USAGE;
            p.seed = seed;
        } else {
            return dt_cli_usage("collect", usage);
        }
    }
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

/*
 * `distiltrace collect --model M --corpus C --db D`: generate with a local model over a
 * corpus and store every sample with per-token log-probs and top-k alternatives. Resumable:
 * rerunning the same command continues where it stopped. Progress bar on a TTY only.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "reports/collect.h"
#include "reports/ingest.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "distiltrace collect --model M --corpus C --db D [--samples N] [--temperature T]\n"
    "       [--seed S] [--max-tokens N] [--top-logprobs K] [--top-k K] [--top-p P]\n"
    "       [--chat-template STR] [--model-name NAME] [--probes N] [--threads N]\n"
    "C is a built-in corpus (identity, chat, continuation), a text or JSONL file, or a corpus\n"
    "stored in D; --probes N collects a deterministic sample of N probes (seeded by --seed).\n"
    "Chat probes use --chat-template ('{prompt}' marks the message); without it, models whose\n"
    "vocabulary has <|user|> and <|assistant|> get '<|user|>{prompt}<|assistant|>', others the\n"
    "bare prompt.";

static void on_progress(void *ud, size_t done, size_t total)
{
    (void)ud;
    dt_progress("collect", done, total);
}

int cmd_collect(int argc, char **argv)
{
    const char *model_path = NULL, *corpus = NULL, *db = NULL, *name = NULL, *v;
    long n_probes = -1, l;
    double d;
    unsigned long long seed = 0;
    struct dt_collect_params p;
    dt_collect_params_init(&p);
    for (int i = 1; i < argc;) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n", usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("collect", argc, argv, &i, "--model", &model_path)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--corpus", &corpus)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--db", &db)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--model-name", &name)) ||
            (r = dt_cli_opt("collect", argc, argv, &i, "--chat-template", &p.chat_template))) {
            if (r < 0)
                return DT_EXIT_USAGE;
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
    if (!model_path || !corpus || !db)
        return dt_cli_usage("collect", usage);

    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct dt_model *m = NULL;
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
    if ((rc = dt_model_open(model_path, &m, &err)))
        goto done;
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    if (!p.chat_template && dt_tokenizer_find(tok, "<|user|>") >= 0 &&
        dt_tokenizer_find(tok, "<|assistant|>") >= 0)
        p.chat_template = "<|user|>{prompt}<|assistant|>";
    rc = dt_store_collect(s, m, name, c, &p, argc, argv, on_progress, NULL, &res, &err);
    if (rc == 0)
        printf("collected %zu new samples over %zu probes (%zu already complete) into '%s' "
               "(run %lld, collection %lld)\n",
               res.n_samples_new, res.n_probes, res.n_skipped, db, (long long)res.run_id,
               (long long)res.collection_id);
done:
    dt_model_free(m);
    dt_corpus_free(c);
    dt_store_close(s);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

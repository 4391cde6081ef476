/*
 * `distiltrace score --model M --file F [--json] [--special]`: teacher-forced log-probability
 * of every token of a text file under the model, and the perplexity. The text is split into
 * windows of the model's context length that are scored as one batch; the first token of each
 * window has no prediction (nothing precedes it) and is reported as null / "-".
 */
#include "cli/commands.h"

#include "infer/model.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/file.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace score --model M --file F [--json] [--special] [--threads N]";

struct score_ctx {
    const int32_t *ids;
    size_t n_ids;
    size_t window;
    int n_vocab;
    double *lp; /* lp[i] = log p(ids[i] | ids[window start..i-1]); NAN when unpredicted */
};

static int on_logits(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct score_ctx *c = ud;
    size_t next = i_seq * c->window + i_pos + 1;
    /* The logits after position p predict p+1, within the same window only; the last token's
     * predict nothing. */
    if (i_pos + 1 < c->window && next < c->n_ids)
        c->lp[next] = (double)logits[c->ids[next]] - dt_logsumexp(logits, c->n_vocab);
    return 0;
}

int cmd_score(int argc, char **argv)
{
    const char *model_path = NULL, *file = NULL;
    int json = 0, special = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", k_usage);
            return DT_EXIT_OK;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--file") && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (dt_cli_parse_int("score", "--threads", argv[++i], 1, 64, &threads))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else {
            return dt_cli_usage("score", k_usage);
        }
    }
    if (!model_path || !file)
        return dt_cli_usage("score", k_usage);
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    char *text = NULL;
    size_t n_text = 0, n_ids = 0;
    int32_t *ids = NULL;
    const int32_t **seqs = NULL;
    size_t *lens = NULL;
    struct score_ctx c = {0};
    int status = DT_EXIT_OK;
    if (dt_file_read_all(file, (size_t)1 << 30, &text, &n_text, &err) ||
        dt_model_open(model_path, &m, &err) || dt_ctx_new(m, (int)threads, &x, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    if (dt_tokenizer_encode(tok, text, n_text, special, &ids, &n_ids, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    c.ids = ids;
    c.n_ids = n_ids;
    c.n_vocab = dt_model_config(m)->n_vocab;
    c.window = (size_t)dt_model_config(m)->n_ctx_train;
    size_t n_win = n_ids ? (n_ids + c.window - 1) / c.window : 0;
    c.lp = dt_malloc_array(n_ids + 1, sizeof *c.lp);
    seqs = dt_malloc_array(n_win + 1, sizeof *seqs);
    lens = dt_malloc_array(n_win + 1, sizeof *lens);
    if (!c.lp || !seqs || !lens) {
        dt_error_set(&err, DT_ENOMEM, "out of memory");
        status = dt_cli_fail(&err);
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++)
        c.lp[i] = NAN;
    for (size_t w = 0; w < n_win; w++) {
        seqs[w] = ids + w * c.window;
        lens[w] = n_ids - w * c.window < c.window ? n_ids - w * c.window : c.window;
    }
    if (dt_ctx_score_batch(x, seqs, lens, n_win, on_logits, &c, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    double sum = 0;
    size_t n_scored = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (!isnan(c.lp[i]))
            sum += c.lp[i], n_scored++;
    double mean = n_scored ? sum / (double)n_scored : NAN;
    double ppl = n_scored ? exp(-mean) : NAN;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *tk = cJSON_AddArrayToObject(o, "tokens"),
              *lp = cJSON_AddArrayToObject(o, "logprobs");
        for (size_t i = 0; i < n_ids; i++) {
            cJSON_AddItemToArray(tk, cJSON_CreateNumber(ids[i]));
            cJSON_AddItemToArray(lp, isnan(c.lp[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(c.lp[i]));
        }
        cJSON_AddNumberToObject(o, "n_tokens", (double)n_ids);
        cJSON_AddNumberToObject(o, "n_scored", (double)n_scored);
        if (n_scored) {
            cJSON_AddNumberToObject(o, "sum_logprob", sum);
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
        for (size_t i = 0; i < n_ids; i++) {
            size_t nb = 0;
            const char *b = dt_tokenizer_token_bytes(tok, ids[i], &nb);
            if (isnan(c.lp[i]))
                printf("%-7zu %-7d %12s  ", i, ids[i], "-");
            else
                printf("%-7zu %-7d %12.5f  ", i, ids[i], c.lp[i]);
            for (size_t k = 0; b && k < nb; k++)
                putchar(b[k] == '\n' ? ' ' : b[k]);
            putchar('\n');
        }
        printf("%zu tokens, %zu scored (the first token of each %zu-token window has no "
               "prediction)\n",
               n_ids, n_scored, c.window);
        if (n_scored)
            printf("mean log-prob %.5f, perplexity %.4f\n", mean, ppl);
    }
out:
    dt_free(lens);
    dt_free(seqs);
    dt_free(c.lp);
    dt_free(ids);
    dt_free(text);
    dt_ctx_free(x);
    dt_model_free(m);
    return status;
}

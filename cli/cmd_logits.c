/*
 * `distiltrace logits --model M --text STR [--top K] [--json] [--no-special]`: next-token
 * logits after every position of the tokenized text (no BOS added). Special tokens written in
 * the text (e.g. "<|user|>") are parsed as such by default, as Hugging Face tokenizers do;
 * --no-special treats them as plain text (--special is accepted for explicitness).
 * JSON: {"tokens": [...], "logsumexp": [...], "top_ids": [[...]...], "top_logits": [[...]...]}.
 */
#include "cli/commands.h"

#include "infer/model.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace logits --model M --text STR [--top K] [--json] [--no-special] [--threads N]";

struct logits_ctx {
    const struct dt_tokenizer *tok;
    int n_vocab, top;
    size_t n;
    double *lse;
    int32_t *ids;   /* (n, top) */
    float *vals;    /* (n, top) */
};

static int on_logits(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct logits_ctx *c = ud;
    (void)i_seq;
    c->lse[i_pos] = dt_logsumexp(logits, c->n_vocab);
    dt_top_k(logits, c->n_vocab, c->top, c->ids + i_pos * (size_t)c->top);
    for (int k = 0; k < c->top; k++)
        c->vals[i_pos * (size_t)c->top + (size_t)k] = logits[c->ids[i_pos * (size_t)c->top + (size_t)k]];
    return 0;
}

static void print_token(const struct dt_tokenizer *tok, int32_t id)
{
    size_t nb = 0;
    const char *b = dt_tokenizer_token_bytes(tok, id, &nb);
    putchar('\'');
    for (size_t i = 0; b && i < nb; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (ch == '\n')
            fputs("\\n", stdout);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    putchar('\'');
}

int cmd_logits(int argc, char **argv)
{
    const char *model_path = NULL, *text = NULL;
    long top = 10, threads = 0;
    int json = 0, special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", k_usage);
            return DT_EXIT_OK;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--text") && i + 1 < argc) {
            text = argv[++i];
        } else if (!strcmp(a, "--top") && i + 1 < argc) {
            if (dt_cli_parse_int("logits", "--top", argv[++i], 1, 1000, &top))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (dt_cli_parse_int("logits", "--threads", argv[++i], 1, 64, &threads))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else if (!strcmp(a, "--no-special")) {
            special = 0;
        } else {
            return dt_cli_usage("logits", k_usage);
        }
    }
    if (!model_path || !text)
        return dt_cli_usage("logits", k_usage);

    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    struct logits_ctx c = {0};
    int status = DT_EXIT_OK;
    if (dt_model_open(model_path, &m, &err) || dt_ctx_new(m, (int)threads, &x, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    c.tok = dt_model_tokenizer(m);
    c.n_vocab = dt_model_config(m)->n_vocab;
    c.top = top > c.n_vocab ? c.n_vocab : (int)top;
    if (dt_tokenizer_encode(c.tok, text, strlen(text), special, &ids, &n_ids, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    c.n = n_ids;
    c.lse = dt_malloc_array(n_ids + 1, sizeof *c.lse);
    c.ids = dt_malloc_array((n_ids + 1) * (size_t)c.top, sizeof *c.ids);
    c.vals = dt_malloc_array((n_ids + 1) * (size_t)c.top, sizeof *c.vals);
    if (!c.lse || !c.ids || !c.vals) {
        dt_error_set(&err, DT_ENOMEM, "out of memory");
        status = dt_cli_fail(&err);
        goto out;
    }
    const int32_t *seqs[1] = {ids};
    size_t lens[1] = {n_ids};
    if (n_ids && dt_ctx_score_batch(x, seqs, lens, 1, on_logits, &c, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    if (json) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        dt_strbuf_puts(&sb, "{\"tokens\": [");
        for (size_t i = 0; i < n_ids; i++)
            dt_strbuf_printf(&sb, "%s%d", i ? ", " : "", ids[i]);
        dt_strbuf_puts(&sb, "], \"logsumexp\": [");
        for (size_t i = 0; i < n_ids; i++)
            dt_strbuf_printf(&sb, "%s%.9g", i ? ", " : "", c.lse[i]);
        dt_strbuf_puts(&sb, "], \"top_ids\": [");
        for (size_t i = 0; i < n_ids; i++) {
            dt_strbuf_puts(&sb, i ? ", [" : "[");
            for (int k = 0; k < c.top; k++)
                dt_strbuf_printf(&sb, "%s%d", k ? ", " : "", c.ids[i * (size_t)c.top + (size_t)k]);
            dt_strbuf_putc(&sb, ']');
        }
        dt_strbuf_puts(&sb, "], \"top_logits\": [");
        for (size_t i = 0; i < n_ids; i++) {
            dt_strbuf_puts(&sb, i ? ", [" : "[");
            for (int k = 0; k < c.top; k++)
                dt_strbuf_printf(&sb, "%s%.9g", k ? ", " : "",
                                 (double)c.vals[i * (size_t)c.top + (size_t)k]);
            dt_strbuf_putc(&sb, ']');
        }
        dt_strbuf_puts(&sb, "]}\n");
        if (dt_strbuf_failed(&sb)) {
            dt_error_set(&err, DT_ENOMEM, "out of memory");
            status = dt_cli_fail(&err);
        } else {
            fwrite(sb.data, 1, sb.len, stdout);
        }
        dt_strbuf_release(&sb);
    } else {
        int show = c.top < 5 ? c.top : 5;
        printf("%-5s %-8s %-20s %10s  top %d (logit)\n", "pos", "id", "token", "logsumexp", show);
        for (size_t i = 0; i < n_ids; i++) {
            printf("%-5zu %-8d ", i, ids[i]);
            print_token(c.tok, ids[i]);
            printf("  %10.4f ", c.lse[i]);
            for (int k = 0; k < show; k++) {
                int32_t id = c.ids[i * (size_t)c.top + (size_t)k];
                printf(" ");
                print_token(c.tok, id);
                printf("(%.3f)", (double)c.vals[i * (size_t)c.top + (size_t)k]);
            }
            printf("\n");
        }
    }
out:
    dt_free(c.lse);
    dt_free(c.ids);
    dt_free(c.vals);
    dt_free(ids);
    dt_ctx_free(x);
    dt_model_free(m);
    return status;
}

/*
 * `distiltrace logits --model M --text STR [--top K] [--json] [--no-special]`: next-token
 * logits after every position of the tokenized text (no BOS added). Special tokens written in
 * the text (e.g. "<|user|>") are parsed as such by default, as Hugging Face tokenizers do;
 * --no-special treats them as plain text (--special is accepted for explicitness). The logits
 * come from run/local.h; this file reads the options and prints.
 * JSON: {"tokens": [...], "logsumexp": [...], "top_ids": [[...]...], "top_logits": [[...]...]}.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/local.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace logits --model M --text STR [--top K] [--json] [--no-special] [--threads N]";

static void print_token(const struct dt_local *l, int32_t id)
{
    size_t nb = 0;
    const char *b = dt_local_token_bytes(l, id, &nb);
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
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "logits", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model_path = dt_cli_str(&a, "--model", NULL), *text = dt_cli_str(&a, "--text", NULL);
    long top = 10, threads = 0;
    /* special tokens in the text are parsed unless --no-special (--special: explicitly) */
    int json = dt_cli_has(&a, "--json"),
        special = dt_cli_has(&a, "--special") || !dt_cli_has(&a, "--no-special");
    if (dt_cli_long(&a, "--top", 1, 1000, &top) || dt_cli_long(&a, "--threads", 1, 64, &threads))
        return DT_EXIT_USAGE;
    if (!model_path || !text)
        return dt_cli_usage("logits", k_usage);

    struct dt_error err = {0};
    struct dt_local *l = NULL;
    struct dt_logits_result r = {0};
    int status = DT_EXIT_OK;
    if (dt_local_open(model_path, (int)threads, &l, &err) ||
        dt_local_logits(l, text, strlen(text), special, (int)top, &r, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    size_t k_top = (size_t)r.top;
    if (json) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        dt_strbuf_puts(&sb, "{\"tokens\": [");
        for (size_t i = 0; i < r.n; i++)
            dt_strbuf_printf(&sb, "%s%d", i ? ", " : "", r.ids[i]);
        dt_strbuf_puts(&sb, "], \"logsumexp\": [");
        for (size_t i = 0; i < r.n; i++)
            dt_strbuf_printf(&sb, "%s%.9g", i ? ", " : "", r.logsumexp[i]);
        dt_strbuf_puts(&sb, "], \"top_ids\": [");
        for (size_t i = 0; i < r.n; i++) {
            dt_strbuf_puts(&sb, i ? ", [" : "[");
            for (size_t k = 0; k < k_top; k++)
                dt_strbuf_printf(&sb, "%s%d", k ? ", " : "", r.top_ids[i * k_top + k]);
            dt_strbuf_putc(&sb, ']');
        }
        dt_strbuf_puts(&sb, "], \"top_logits\": [");
        for (size_t i = 0; i < r.n; i++) {
            dt_strbuf_puts(&sb, i ? ", [" : "[");
            for (size_t k = 0; k < k_top; k++)
                dt_strbuf_printf(&sb, "%s%.9g", k ? ", " : "", (double)r.top_logits[i * k_top + k]);
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
        size_t show = k_top < 5 ? k_top : 5;
        printf("%-5s %-8s %-20s %10s  top %zu (logit)\n", "pos", "id", "token", "logsumexp", show);
        for (size_t i = 0; i < r.n; i++) {
            printf("%-5zu %-8d ", i, r.ids[i]);
            print_token(l, r.ids[i]);
            printf("  %10.4f ", r.logsumexp[i]);
            for (size_t k = 0; k < show; k++) {
                printf(" ");
                print_token(l, r.top_ids[i * k_top + k]);
                printf("(%.3f)", (double)r.top_logits[i * k_top + k]);
            }
            printf("\n");
        }
    }
out:
    dt_logits_result_release(&r);
    dt_local_free(l);
    return status;
}

/*
 * `distiltrace tokenize --model M (--file F | --text STR) [--special] [--decode]`
 *
 * Prints the token ids of the exact bytes of F (or STR) on one line, separated by single
 * spaces, with no BOS/EOS added; control tokens written in the text stay plain text unless
 * --special. With --decode the input holds ids (whitespace-separated) and the exact bytes
 * they decode to are written to stdout (control tokens included with --special).
 * With --batch the input is a sequence of records "N\n" followed by N bytes, and one line of
 * ids is printed per record: many texts through one tokenizer load (scripts/hf-compare.js).
 */
#include "cli/commands.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                      \
    "distiltrace tokenize --model M (--file F | --text STR) [--special] [--decode | --batch]"
#define MAX_INPUT_BYTES ((size_t)1 << 30)

static int print_ids(const int32_t *ids, size_t n)
{
    /* one buffered write per id keeps this fast on long inputs */
    for (size_t i = 0; i < n; i++)
        if (printf(i ? " %d" : "%d", ids[i]) < 0)
            return -1;
    return printf("\n") < 0 ? -1 : 0;
}

static int decode_mode(const struct dt_tokenizer *t, const char *in, size_t n_in, int special)
{
    struct dt_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    const char *p = in, *end = in + n_in;
    int status = DT_EXIT_OK;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= end)
            break;
        char *e;
        errno = 0;
        long v = strtol(p, &e, 10);
        if (e == p || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "distiltrace tokenize: '%.20s' is not a token id\n", p);
            status = DT_EXIT_INPUT;
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            int32_t *q = dt_realloc_array(ids, cap, sizeof *q);
            if (!q) {
                fprintf(stderr, "distiltrace: out of memory\n");
                status = DT_EXIT_RESOURCE;
                goto done;
            }
            ids = q;
        }
        ids[n++] = (int32_t)v;
        p = e;
    }
    char *text = NULL;
    size_t n_text = 0;
    if (dt_tokenizer_decode(t, ids, n, special, &text, &n_text, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }
    fwrite(text, 1, n_text, stdout);
    dt_free(text);
done:
    dt_free(ids);
    return status;
}

/* Records "N\n" + N bytes, one output line each; a malformed record stops with its offset. */
static int batch_mode(const struct dt_tokenizer *t, const char *in, size_t n_in, int special)
{
    struct dt_error err = {0};
    size_t at = 0;
    while (at < n_in) {
        size_t len = 0, i = at;
        while (i < n_in && in[i] >= '0' && in[i] <= '9' && i - at < 12)
            len = len * 10 + (size_t)(in[i++] - '0');
        if (i == at || i >= n_in || in[i] != '\n' || len > n_in - i - 1) {
            fprintf(stderr, "distiltrace tokenize: batch record at byte %zu is not 'N\\n' and N "
                            "bytes\n",
                    at);
            return DT_EXIT_INPUT;
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (dt_tokenizer_encode(t, in + i + 1, len, special, &ids, &n_ids, &err))
            return dt_cli_fail(&err);
        int w = print_ids(ids, n_ids);
        dt_free(ids);
        if (w) {
            fprintf(stderr, "distiltrace tokenize: cannot write the output\n");
            return DT_EXIT_INPUT;
        }
        at = i + 1 + len;
    }
    if (fflush(stdout)) {
        fprintf(stderr, "distiltrace tokenize: cannot write the output\n");
        return DT_EXIT_INPUT;
    }
    return DT_EXIT_OK;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *text = NULL;
    int special = 0, decode = 0, batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n\n"
                   "Prints the token ids of the exact bytes of F (or STR), space-separated on one\n"
                   "line, with no BOS/EOS. M is a GGUF file, a Hugging Face directory or a\n"
                   "tokenizer.json file.\n\n"
                   "  --special  match control tokens written in the text (e.g. <|user|>)\n"
                   "  --decode   the input holds token ids; print the bytes they decode to\n"
                   "  --batch    the input holds records 'N\\n' + N bytes; one line of ids each\n",
                   USAGE);
            return DT_EXIT_OK;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(a, "--file") && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(a, "--text") && i + 1 < argc) {
            text = argv[++i];
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--batch")) {
            batch = 1;
        } else {
            fprintf(stderr, "distiltrace tokenize: unknown or incomplete option '%s'\n", a);
            return dt_cli_usage("tokenize", USAGE);
        }
    }
    if (!model || (!file == !text) || (decode && batch))
        return dt_cli_usage("tokenize", USAGE);

    struct dt_error err = {0};
    struct dt_tokenizer *t = NULL;
    char *data = NULL;
    size_t n_data = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int status = DT_EXIT_OK;
    if (dt_tokenizer_open(model, &t, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }
    if (file) {
        if (dt_file_read_all(file, MAX_INPUT_BYTES, &data, &n_data, &err)) {
            status = dt_cli_fail(&err);
            goto done;
        }
    } else {
        n_data = strlen(text);
    }
    const char *in = file ? data : text;
    if (decode) {
        status = decode_mode(t, in, n_data, special);
        goto done;
    }
    if (batch) {
        status = batch_mode(t, in, n_data, special);
        goto done;
    }
    if (dt_tokenizer_encode(t, in, n_data, special, &ids, &n_ids, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }
    if (print_ids(ids, n_ids) || fflush(stdout)) {
        fprintf(stderr, "distiltrace tokenize: cannot write the output\n");
        status = DT_EXIT_INPUT;
    }
done:
    dt_free(ids);
    dt_free(data);
    dt_tokenizer_free(t);
    return status;
}

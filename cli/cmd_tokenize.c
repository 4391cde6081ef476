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
#include "cli/args.h"
#include "cli/commands.h"
#include "run/local.h"
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
    for (size_t i = 0; i < n; i++)
        if (printf(i ? " %d" : "%d", ids[i]) < 0)
            return -1;
    return printf("\n") < 0 ? -1 : 0;
}

/* Whitespace-separated token ids (the --decode input); prints what is wrong and returns the
 * exit status. */
static int parse_ids(const char *in, size_t n_in, int32_t **out, size_t *n_out)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    const char *p = in, *end = in + n_in;
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
            dt_free(ids);
            return DT_EXIT_INPUT;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            int32_t *q = dt_realloc_array(ids, cap, sizeof *q);
            if (!q) {
                fprintf(stderr, "distiltrace: out of memory\n");
                dt_free(ids);
                return DT_EXIT_RESOURCE;
            }
            ids = q;
        }
        ids[n++] = (int32_t)v;
        p = e;
    }
    *out = ids;
    *n_out = n;
    return DT_EXIT_OK;
}

static int emit_line(void *ud, const int32_t *ids, size_t n)
{
    (void)ud;
    return print_ids(ids, n);
}

int cmd_tokenize(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "tokenize", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model = dt_cli_str(&a, "--model", NULL), *file = dt_cli_str(&a, "--file", NULL),
               *text = dt_cli_str(&a, "--text", NULL);
    int special = dt_cli_has(&a, "--special"), decode = dt_cli_has(&a, "--decode"),
        batch = dt_cli_has(&a, "--batch");
    if (!model || (!file == !text) || (decode && batch))
        return dt_cli_usage("tokenize", USAGE);

    struct dt_error err = {0};
    char *data = NULL, *out = NULL;
    size_t n_data = 0, n_ids = 0, n_out = 0;
    int32_t *ids = NULL;
    int status = DT_EXIT_OK;
    if (file && dt_file_read_all(file, MAX_INPUT_BYTES, &data, &n_data, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }
    const char *in = file ? data : text;
    if (!file)
        n_data = strlen(text);
    if (decode) {
        if ((status = parse_ids(in, n_data, &ids, &n_ids)) != DT_EXIT_OK)
            goto done;
        if (dt_local_detokenize(model, ids, n_ids, special, &out, &n_out, &err)) {
            status = dt_cli_fail(&err);
            goto done;
        }
        fwrite(out, 1, n_out, stdout);
    } else if (batch) {
        if (dt_local_tokenize_records(model, in, n_data, special, emit_line, NULL, &err)) {
            status = dt_cli_fail(&err);
            goto done;
        }
    } else {
        if (dt_local_tokenize(model, in, n_data, special, &ids, &n_ids, &err)) {
            status = dt_cli_fail(&err);
            goto done;
        }
        if (print_ids(ids, n_ids))
            status = DT_EXIT_INPUT;
    }
    if (fflush(stdout) && status == DT_EXIT_OK)
        status = DT_EXIT_INPUT;
    if (status == DT_EXIT_INPUT)
        fprintf(stderr, "distiltrace tokenize: cannot write the output\n");
done:
    dt_free(out);
    dt_free(ids);
    dt_free(data);
    return status;
}

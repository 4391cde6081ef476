/*
 * `distiltrace inspect MODEL [--json]`: what a model file is (format, architecture,
 * hyperparameters, tokenizer, tensors, parameter count, hashes), described by run/local.h;
 * this file reads the arguments and prints.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/local.h"
#include "util/alloc.h"

#include <stdio.h>

int cmd_inspect(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "inspect", argc, argv))
        return DT_EXIT_INTERNAL;
    if (dt_cli_n_positional(&a) != 1)
        return dt_cli_usage("inspect", "distiltrace inspect MODEL [--json]");
    const char *path = dt_cli_positional(&a, 0);
    struct dt_error err = {0};
    char *text = NULL;
    size_t n_text = 0;
    if (dt_local_describe(path, dt_cli_has(&a, "--json"), &text, &n_text, &err))
        return dt_cli_fail(&err);
    fwrite(text, 1, n_text, stdout);
    dt_free(text);
    return DT_EXIT_OK;
}

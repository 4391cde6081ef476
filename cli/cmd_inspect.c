/*
 * `distiltrace inspect MODEL [--json]`: what a model file is (format, architecture,
 * hyperparameters, tokenizer, tensors, parameter count, hashes). The description is built by
 * infer/inspect.c; this file parses arguments and prints.
 */
#include "cli/commands.h"
#include "infer/inspect.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

#define INSPECT_USAGE "distiltrace inspect MODEL [--json]"

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n\nDescribes a GGUF model file or a safetensors checkpoint (a .safetensors\n"
                   "file or a Hugging Face directory): format, architecture, key\n"
                   "hyperparameters, tokenizer, every tensor (name, type, shape), tensor type\n"
                   "histogram, parameter count, file size, SHA-256 and XXH3-128.\n\n"
                   "  --json   print one JSON object instead of text\n",
                   INSPECT_USAGE);
            return DT_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "distiltrace inspect: unknown option '%s'\n", argv[i]);
            return dt_cli_usage("inspect", INSPECT_USAGE);
        } else if (path) {
            return dt_cli_usage("inspect", INSPECT_USAGE);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return dt_cli_usage("inspect", INSPECT_USAGE);

    struct dt_error err = {0};
    cJSON *info = NULL;
    if (dt_inspect_model(path, &info, &err))
        return dt_cli_fail(&err);
    int status = DT_EXIT_OK;
    if (json) {
        char *s = cJSON_Print(info);
        if (s) {
            printf("%s\n", s);
            cJSON_free(s);
        } else {
            status = DT_EXIT_RESOURCE;
            fprintf(stderr, "distiltrace: out of memory printing '%s'\n", path);
        }
    } else {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        dt_inspect_render_text(info, &sb);
        if (dt_strbuf_failed(&sb)) {
            status = DT_EXIT_RESOURCE;
            fprintf(stderr, "distiltrace: out of memory printing '%s'\n", path);
        } else {
            fputs(sb.data ? sb.data : "", stdout);
        }
        dt_strbuf_release(&sb);
    }
    cJSON_Delete(info);
    return status;
}

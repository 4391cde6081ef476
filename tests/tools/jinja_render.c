/*
 * Test tool: renders a Jinja template file with the variables of a JSON file through
 * infer/jinja.h and writes the output bytes to stdout, for the byte-for-byte comparison with
 * Hugging Face's renderer (tests/integration/test_chat_templates.mjs).
 *   jinja_render TEMPLATE VARS.json [YYYY-MM-DD]
 * Exit 0 rendered, 1 the template failed (one line on stderr), 2 usage or unreadable files.
 */
#include "infer/jinja.h"
#include "infer/jinja_render.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <cJSON.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: jinja_render TEMPLATE VARS.json [YYYY-MM-DD]\n");
        return 2;
    }
    struct dt_error err = {0};
    char *src = NULL, *vars_text = NULL, *out = NULL;
    size_t n_src = 0, n_vars = 0, n_out = 0;
    if (dt_file_read_all(argv[1], 16u << 20, &src, &n_src, &err) ||
        dt_file_read_all(argv[2], 16u << 20, &vars_text, &n_vars, &err)) {
        fprintf(stderr, "jinja_render: %s\n", err.msg);
        return 2;
    }
    cJSON *vars = cJSON_ParseWithLength(vars_text, n_vars);
    if (!vars) {
        fprintf(stderr, "jinja_render: '%s' is not JSON\n", argv[2]);
        return 2;
    }
    struct dt_jinja *t = NULL;
    int rc = dt_jinja_parse(src, n_src, &t, &err);
    if (rc == 0)
        rc = dt_jinja_render(t, vars, argc == 4 ? argv[3] : NULL, NULL, &out, &n_out, &err);
    if (rc == 0)
        fwrite(out, 1, n_out, stdout);
    else
        fprintf(stderr, "jinja_render: %s\n", err.msg);
    dt_free(out);
    dt_jinja_free(t);
    cJSON_Delete(vars);
    dt_free(src);
    dt_free(vars_text);
    return rc ? 1 : 0;
}

/*
 * Fuzz harness: the input is a chat template. It is parsed and, when it parses, rendered with
 * a fixed conversation under small limits; any outcome but a crash, a hang or a leak is fine,
 * and an error must be one line naming the template. The first input byte picks whether a
 * system message is present.
 */
#include "infer/jinja.h"
#include "infer/jinja_render.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cJSON *vars[2];
    if (!vars[0]) {
        vars[0] = cJSON_Parse("{\"messages\": [{\"role\": \"user\", \"content\": \" hi \"}],"
                              "\"add_generation_prompt\": true, \"bos_token\": \"<s>\","
                              "\"eos_token\": \"</s>\", \"tools\": null}");
        vars[1] = cJSON_Parse("{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"},"
                              "{\"role\": \"user\", \"content\": \"q\"},"
                              "{\"role\": \"assistant\", \"content\": \"a\"}],"
                              "\"add_generation_prompt\": false, \"bos_token\": \"<s>\"}");
        if (!vars[0] || !vars[1])
            abort();
    }
    if (size == 0)
        return 0;
    const struct dt_jinja_limits lim = {1 << 16, 8 << 20, 200000, 16};
    struct dt_jinja *t = NULL;
    struct dt_error err = {0};
    char *out = NULL;
    size_t n = 0;
    int rc = dt_jinja_parse((const char *)data + 1, size - 1, &t, &err);
    if (rc == 0)
        rc = dt_jinja_render(t, vars[data[0] & 1], "2024-07-26", &lim, &out, &n, &err);
    if (rc == 0 && (!out || strlen(out) > n || n > lim.max_output_bytes))
        abort();
    if (rc != 0 && (out || !strstr(err.msg, "chat template") || strchr(err.msg, '\n')))
        abort();
    dt_free(out);
    dt_jinja_free(t);
    return 0;
}

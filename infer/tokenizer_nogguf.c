/*
 * Stand-in for tokenizer_gguf.c while the GGUF reader is not built: dt_tokenizer_open loads
 * Hugging Face directories and tokenizer.json files only.
 */
#include "infer/tokenizer.h"

#include "util/error.h"

#include <stdio.h>
#include <string.h>

int dt_tokenizer_from_gguf(const struct dt_gguf *g, struct dt_tokenizer **out, struct dt_error *err)
{
    (void)g;
    (void)out;
    return dt_error_set(err, DT_EUNSUPPORTED, "this build cannot read GGUF files");
}

int dt_tokenizer_open(const char *path, struct dt_tokenizer **out, struct dt_error *err)
{
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    if (f) {
        size_t got = fread(magic, 1, 4, f);
        fclose(f);
        if (got == 4 && memcmp(magic, "GGUF", 4) == 0)
            return dt_tokenizer_from_gguf(NULL, out, err);
    }
    return dt_tokenizer_from_json(path, out, err);
}

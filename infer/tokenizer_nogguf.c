/*
 * Stand-in for tokenizer_gguf.c while the GGUF reader is not built: dt_tokenizer_open loads
 * Hugging Face directories and tokenizer.json files only.
 */
#include "infer/tokenizer.h"

#include "util/error.h"

int dt_tokenizer_from_gguf(const struct dt_gguf *g, struct dt_tokenizer **out, struct dt_error *err)
{
    (void)g;
    (void)out;
    return dt_error_set(err, DT_EUNSUPPORTED, "this build cannot read GGUF files");
}

int dt_tokenizer_open(const char *path, struct dt_tokenizer **out, struct dt_error *err)
{
    return dt_tokenizer_from_json(path, out, err);
}

/*
 * The tokenizer.json loader (Hugging Face `tokenizers` format, infer/tokenizer_json.c): a file
 * or a directory holding tokenizer.json (and tokenizer_config.json for BOS/EOS).
 */
#ifndef DT_INFER_TOKENIZER_JSON_H
#define DT_INFER_TOKENIZER_JSON_H

#include <stddef.h>

struct dt_error;
struct dt_tokenizer;

/* Parses a tokenizer.json (Hugging Face `tokenizers` format). */
int dt_tokenizer_from_json(const char *path, struct dt_tokenizer **out, struct dt_error *err);
/* Same, from a buffer (fuzzing). */
int dt_tokenizer_from_json_buffer(const char *json, size_t n_bytes, struct dt_tokenizer **out,
                                  struct dt_error *err);

#endif

/*
 * Tokenizer loaders by source (infer/tokenizer_gguf.c): the tokenizer.ggml.* metadata of a
 * GGUF file, and dt_tokenizer_open, which picks the loader from a path.
 */
#ifndef DT_INFER_TOKENIZER_GGUF_H
#define DT_INFER_TOKENIZER_GGUF_H

struct dt_error;
struct dt_gguf;
struct dt_tokenizer;

int dt_tokenizer_from_gguf(const struct dt_gguf *g, struct dt_tokenizer **out,
                           struct dt_error *err);
/* Picks the loader from the path: a GGUF file (by its magic; vocab-only files too), a Hugging
 * Face directory (DIR/tokenizer.json, with DIR/tokenizer_config.json for BOS/EOS) or a
 * tokenizer.json file. */
int dt_tokenizer_open(const char *path, struct dt_tokenizer **out, struct dt_error *err);

#endif

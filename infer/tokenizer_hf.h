/*
 * The Hugging Face `tokenizers` pipeline (tokenizer_hf.c), private to infer/tokenizer*.c:
 * what tokenizer_json.c builds a struct dt_hf with (its types are in tokenizer_internal.h),
 * and the encoder of a whole text.
 */
#ifndef DT_INFER_TOKENIZER_HF_H
#define DT_INFER_TOKENIZER_HF_H

#include "infer/tokenizer_internal.h"
#include "util/strbuf.h"

#include <stddef.h>

struct dt_error;

void dt_hf_free(struct dt_hf *hf);
/* Compiles a tokenizer.json regex with the `tokenizers` (Oniguruma) conventions. */
int dt_hf_compile(const char *pattern, size_t n, void **re, struct dt_error *err);
/* Normalizes n bytes with hf's normalizers into out (reset first). */
int dt_hf_normalize(const struct dt_hf *hf, const char *s, size_t n, struct dt_strbuf *out);
/* Sorts the added tokens into their two tries; after every other field is set. */
int dt_hf_index_added(struct dt_hf *hf, struct dt_error *err);
/* The whole pipeline on one text: added tokens, normalizer, pre-tokenizer, model. */
int dt_hf_encode(const struct dt_tokenizer *t, const char *text, size_t n, int parse_special,
                 struct dt_tok_ids *out, struct dt_error *err);

#endif

/*
 * SentencePiece-style BPE (tokenizer_spm.c), private to infer/tokenizer*.c.
 */
#ifndef DT_INFER_TOKENIZER_SPM_H
#define DT_INFER_TOKENIZER_SPM_H

#include "infer/tokenizer_internal.h"

#include <stddef.h>

struct dt_error;

/* Encodes one segment of plain text (no special tokens inside); prefix_space adds the "\u2581"
 * space prefix. */
int dt_tok_spm_encode(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *text,
                      size_t n, int prefix_space, struct dt_tok_ids *out, struct dt_error *err);

#endif

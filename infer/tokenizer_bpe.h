/*
 * Byte-level BPE (tokenizer_bpe.c), private to infer/tokenizer*.c: the pre-tokenizer regex
 * sets a loader chooses by name or pattern, and the encoder of one plain-text segment and its
 * merge loop (which the Hugging Face pipeline reuses).
 */
#ifndef DT_INFER_TOKENIZER_BPE_H
#define DT_INFER_TOKENIZER_BPE_H

#include "infer/tokenizer_internal.h"

#include <stddef.h>

struct dt_error;

/* Known pre-tokenizer names; DT_EUNSUPPORTED otherwise. */
int dt_tok_set_pre(struct dt_tokenizer *t, const char *name, struct dt_error *err);
int dt_tok_add_regex(struct dt_tokenizer *t, const char *pattern, size_t n, struct dt_error *err);
/* Gives the regex set a name when it equals a known one, else "custom". */
void dt_tok_name_pre(struct dt_tokenizer *t, const char *const *patterns, size_t n);
void dt_tok_free_regexes(struct dt_tokenizer *t);

/* Encodes one segment of plain text (no special tokens inside). */
int dt_tok_bpe_encode(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *text,
                      size_t n, struct dt_tok_ids *out, struct dt_error *err);

/* Merges the symbols w->sym_id[0..n) (ids; -1 for a dead symbol) lowest rank first, ties
 * leftmost, and appends the surviving ids to out. */
int dt_tok_bpe_merge(const struct dt_tokenizer *t, struct dt_tok_work *w, size_t n,
                     struct dt_tok_ids *out);

#endif

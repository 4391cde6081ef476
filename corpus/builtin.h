/*
 * The built-in corpora's bytes, generated at build time from data/corpora/NAME.jsonl by
 * scripts/embed_corpora.py. Private to corpus/: use dt_corpus_builtin() instead.
 */
#ifndef DT_CORPUS_BUILTIN_H
#define DT_CORPUS_BUILTIN_H

#include <stddef.h>

struct dt_builtin_corpus {
    const char *name; /* file name without .jsonl */
    const char *data; /* JSONL bytes, NUL-terminated */
    size_t n_bytes;   /* excluding the NUL */
};

extern const struct dt_builtin_corpus dt_builtin_corpora[]; /* ends with a NULL name */

#endif

/*
 * Data files compiled into the binary at build time by scripts/embed.py from data/ (the
 * built-in probe corpora under corpora/, the identity rule pack under rules/), so the tool
 * needs no installed data directory.
 */
#ifndef DT_UTIL_EMBED_H
#define DT_UTIL_EMBED_H

#include <stddef.h>

struct dt_embedded_file {
    const char *name; /* path under data/, e.g. "corpora/identity.jsonl" */
    const char *data; /* the bytes, followed by a NUL that n_bytes does not count */
    size_t n_bytes;
};

/* The table, ending with an entry whose name is NULL (static storage). */
extern const struct dt_embedded_file dt_embedded_files[];

/* The bytes of the named file (borrowed, static), or NULL when there is none. */
const char *dt_embedded_file(const char *name, size_t *n_bytes);

#endif

/*
 * Probe corpora: ordered, deduplicated lists of prompts, content-addressed.
 *
 * A probe's id is the xxh3-128 of its kind name, a NUL byte and its text (dt_probe_id); a
 * corpus's id is the xxh3-128 of its canonical form: for each probe in order, its 32-char id
 * and a newline. So equal probe lists have equal ids wherever they come from.
 *
 * Sources: built-in corpora embedded in the binary (data/corpora/NAME.jsonl: identity, chat,
 * continuation), JSONL files ({"prompt": STR, "kind": "chat"|"text", "lang": STR}, kind and
 * lang optional), and text files: one probe per line, or, when the file contains a blank line,
 * blank-line separated paragraphs (inner newlines kept). Text-file probes take the default
 * kind given by the caller. Duplicate probes are dropped, keeping the first.
 */
#ifndef DT_CORPUS_CORPUS_H
#define DT_CORPUS_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/sample.h"

struct dt_error;

struct dt_probe {
    char id[DT_XXH128_HEX_LEN + 1];
    enum dt_probe_kind kind;
    char *text; /* NUL-terminated, owned */
    char *lang; /* "en", "zh", ... or NULL, owned */
};

struct dt_corpus {
    char id[DT_XXH128_HEX_LEN + 1];
    char *name;   /* owned */
    char *source; /* "builtin:identity", a file path, ...; owned */
    size_t n_probes;
    struct dt_probe *probes;
    /* private: capacity and an open-addressing index of probe ids for deduplication */
    size_t probes_cap;
    size_t *slots; /* n_slots entries, probe index + 1, 0 = empty */
    size_t n_slots;
};

/* Names of the built-in corpora, NULL-terminated (static storage). */
const char *const *dt_corpus_builtin_names(void);
/* Loads a built-in corpus by name; DT_ENOTFOUND for an unknown name. */
int dt_corpus_builtin(const char *name, struct dt_corpus **out, struct dt_error *err);
/* Loads a JSONL (.jsonl / .json, or first non-blank byte '{') or text file. default_kind is
 * the kind of text-file probes and JSONL probes without a "kind". name NULL: the file name. */
int dt_corpus_load_file(const char *path, const char *name, enum dt_probe_kind default_kind,
                        struct dt_corpus **out, struct dt_error *err);
int dt_corpus_load_buffer(const char *data, size_t n_bytes, int jsonl, const char *name,
                          const char *source, enum dt_probe_kind default_kind,
                          struct dt_corpus **out, struct dt_error *err);
/* An empty corpus to fill with dt_corpus_add (then dt_corpus_finish computes its id). */
int dt_corpus_new(const char *name, const char *source, struct dt_corpus **out,
                  struct dt_error *err);
/* Adds a probe unless an equal one is present (*added = 0 then; added may be NULL). */
int dt_corpus_add(struct dt_corpus *c, enum dt_probe_kind kind, const char *text, size_t n_bytes,
                  const char *lang, int *added, struct dt_error *err);
void dt_corpus_finish(struct dt_corpus *c);
/*
 * Deterministic sample of n probes (all of them when n >= n_probes) for a seed: a partial
 * Fisher-Yates shuffle with the xoshiro256** stream of util/rng.h, the chosen probes kept in
 * corpus order. The result is a new corpus named "NAME@nN-sSEED".
 */
int dt_corpus_sample(const struct dt_corpus *c, size_t n, uint64_t seed, struct dt_corpus **out,
                     struct dt_error *err);
/* Writes the corpus as JSONL (one {"prompt","kind","lang"?} object per line); heap, dt_free. */
int dt_corpus_export_jsonl(const struct dt_corpus *c, char **out, size_t *n_bytes,
                           struct dt_error *err);
void dt_corpus_free(struct dt_corpus *c);

#endif

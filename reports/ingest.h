/*
 * Units of work that fill the evidence store from outside sources: importing a transcript file
 * as the observations of an API-only model. Each call is one transaction: on any failure the
 * store is left exactly as it was (no run, model or observation rows).
 */
#ifndef DT_REPORTS_INGEST_H
#define DT_REPORTS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/transcripts.h"
#include "reports/store.h"

struct dt_import_result {
    int64_t run_id, model_id, collection_id;
    size_t n_records;  /* records read from the file */
    size_t n_inserted; /* observations written */
    size_t n_existing; /* records already in the store (the same file imported before) */
    size_t n_bad;      /* malformed lines skipped (--on-error skip) */
    size_t n_by_format[DT_TRANSCRIPT_N_FORMATS];
};

/*
 * Imports the transcript file at path as observations of the API model model_name, recording
 * a run with the given command line. The collection's key is the file's xxh3-128 and the model
 * name, so importing the same file again adds nothing.
 */
int dt_store_import_transcripts(struct dt_store *s, int argc, char *const *argv, const char *path,
                                const char *model_name, const struct dt_transcript_options *opt,
                                struct dt_import_result *res, struct dt_error *err);

/*
 * Resolves a corpus spec for collect and the corpus commands: "builtin:NAME" or the name of a
 * built-in corpus, an existing file (text or JSONL; default_kind for probes without a kind),
 * or, when s is not NULL, a corpus stored in s (id, id prefix or name).
 */
int dt_corpus_resolve(struct dt_store *s, const char *spec, enum dt_probe_kind default_kind,
                      struct dt_corpus **out, struct dt_error *err);

#endif

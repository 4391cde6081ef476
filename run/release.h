/*
 * Release fingerprints from paths (what `fingerprint` and `verify` run): registering a model's
 * fingerprint (tensor hashes and samples, tokenizer hash, a behavioural sketch; see
 * fingerprint/release.h) in an evidence store as one run, and checking a release artifact
 * against a registered fingerprint found by id or name.
 */
#ifndef DT_RUN_RELEASE_H
#define DT_RUN_RELEASE_H

#include "fingerprint/release.h" /* struct dt_fingerprint_match */
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

struct dt_release_registration {
    int64_t fingerprint_id;
    size_t n_tensors, n_probes;
};

/* Computes the fingerprint of the model at model_path and records it in the store at db
 * (created if needed) under name (NULL: the file's name); argc/argv are recorded with the run.
 * threads <= 0: the default. */
int dt_release_register(const char *model_path, const char *name, const char *db, int threads,
                        int argc, char **argv, struct dt_release_registration *out,
                        struct dt_error *err);

/* Checks the model at model_path against fingerprint (an id or a name) of the existing store
 * at db: 0 when the check ran (out->same is the answer; *name, heap, the registered name),
 * DT_EDB when the store or the fingerprint is missing. */
int dt_release_verify(const char *model_path, const char *db, const char *fingerprint,
                      int threads, struct dt_fingerprint_match *out, char **name,
                      struct dt_error *err);

#endif

/*
 * The evidence store: one SQLite file per investigation (or shared by many runs) holding the
 * models, corpora, probes, runs, observations, signals and verdicts a report is rendered from.
 * Schema and blob encodings: docs/evidence-store.md (and reports/schema.c).
 *
 * Opened in WAL mode with foreign keys on and a 10 s busy timeout, so several processes may
 * write the same file; write transactions start IMMEDIATE so a writer waits instead of failing.
 * Transactions nest: dt_store_begin at depth 0 is BEGIN IMMEDIATE, deeper levels are
 * savepoints. Functions that write several rows open their own (nested) transaction, so each
 * call is atomic by itself and callers group calls into one unit of work with begin/commit.
 *
 * Getters hand borrowed strings to callbacks; they are valid only during the call.
 */
#ifndef DT_REPORTS_STORE_H
#define DT_REPORTS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/corpus.h"
#include "corpus/sample.h"

struct dt_error;
struct dt_store;

#define DT_STORE_BUSY_TIMEOUT_MS 10000

enum {
    DT_STORE_NO_CREATE = 1,  /* fail with DT_EIO when the file does not exist */
    DT_STORE_NO_MIGRATE = 2, /* open an older schema as is (for `db check`) */
    DT_STORE_READONLY = 4,
};

/* Creates (if needed) and migrates the store at path. A file that is not SQLite, or whose
 * application_id belongs to another program, fails with DT_EDB. */
int dt_store_open(const char *path, struct dt_store **out, struct dt_error *err);
int dt_store_open_flags(const char *path, int flags, struct dt_store **out, struct dt_error *err);
void dt_store_close(struct dt_store *s);
const char *dt_store_path(const struct dt_store *s);
/* The underlying connection, for tests and renderers with their own read-only queries. */
struct sqlite3 *dt_store_sqlite(struct dt_store *s);

int dt_store_begin(struct dt_store *s, struct dt_error *err);
int dt_store_commit(struct dt_store *s, struct dt_error *err);
void dt_store_rollback(struct dt_store *s);

/* ---- runs ---- */

/* Records a run: the command (argv[0] of the subcommand), the whole command line as a JSON
 * array, DT_VERSION, host, pid and UTC start time. seed NULL: none; threads <= 0: unknown.
 * A u64 seed is stored as the signed 64-bit integer with the same bits. */
int dt_store_run_begin(struct dt_store *s, int argc, char *const *argv, const uint64_t *seed,
                       int threads, int64_t *run_id, struct dt_error *err);
/* Records the end time, status and exit code: 'ok' for exit statuses 0 and 1 (a run that
 * completed, with or without evidence found), 'failed' for any other. */
int dt_store_run_end(struct dt_store *s, int64_t run_id, int exit_code, struct dt_error *err);

struct dt_store_run {
    int64_t id;
    const char *command, *argv_json, *tool_version, *host;
    const char *started_at, *ended_at; /* ended_at NULL while running */
    const char *status;                /* running, ok, failed */
    int has_seed;
    uint64_t seed;
    int threads; /* 0 unknown */
    int has_exit_code, exit_code;
    int64_t pid;
    int64_t n_observations, n_signals, n_verdicts;
};
typedef int (*dt_store_run_cb)(void *ud, const struct dt_store_run *run);
/* Calls cb for every run, oldest first; a non-zero return from cb stops and is returned. */
int dt_store_runs_list(struct dt_store *s, dt_store_run_cb cb, void *ud, struct dt_error *err);
/* DT_ENOTFOUND when there is no such run. */
int dt_store_run_get(struct dt_store *s, int64_t run_id, dt_store_run_cb cb, void *ud,
                     struct dt_error *err);

/* ---- models, corpora, probes ---- */

struct dt_store_model {
    const char *name;           /* required */
    const char *path;           /* weight file or HF directory, hashed; NULL for API-only */
    const char *format;         /* "gguf", "safetensors", "api"; NULL: from path */
    const char *arch;           /* NULL unknown */
    int64_t n_params;           /* <= 0 unknown */
    const char *tokenizer_hash; /* NULL unknown */
};
/*
 * Inserts or updates a model. File models are keyed by content (xxh3-128 of the file; for a
 * directory, of the sorted list of its files' names and SHA-256s), API models by name. The
 * SHA-256, xxh3-128 and size are computed here.
 */
int dt_store_model_upsert(struct dt_store *s, const struct dt_store_model *m, int64_t *model_id,
                          struct dt_error *err);
/* The most recently added model with this name; DT_ENOTFOUND if none. */
int dt_store_model_find(struct dt_store *s, const char *name, int64_t *model_id,
                        struct dt_error *err);
int dt_store_probe_upsert(struct dt_store *s, enum dt_probe_kind kind, const char *text,
                          const char *lang, int64_t *probe_id, struct dt_error *err);
/* Stores a corpus and its probes (content-addressed; a second upsert is a no-op). */
int dt_store_corpus_upsert(struct dt_store *s, const struct dt_corpus *c, int64_t *corpus_id,
                           struct dt_error *err);
/* Loads a stored corpus by its id (hex, or a unique prefix of at least 6 characters) or name. */
int dt_store_corpus_load(struct dt_store *s, const char *id_or_name, struct dt_corpus **out,
                         struct dt_error *err);

struct dt_store_corpus_row {
    int64_t id;
    const char *xxh128, *name, *source, *created_at;
    int64_t n_probes;
};
typedef int (*dt_store_corpus_cb)(void *ud, const struct dt_store_corpus_row *row);
int dt_store_corpora_list(struct dt_store *s, dt_store_corpus_cb cb, void *ud,
                          struct dt_error *err);

/* ---- collections and observations ---- */

/*
 * Finds the collection with this key or creates it. A collection is the observations of one
 * model under fixed parameters (params: a JSON object); corpus_id 0: none.
 * *created (may be NULL) tells which happened.
 */
int dt_store_collection_open(struct dt_store *s, const char *key, int64_t model_id,
                             int64_t corpus_id, const char *source, const char *params_json,
                             int64_t run_id, int64_t *collection_id, int *created,
                             struct dt_error *err);
/* Stores one sample (the probe is upserted from the sample's kind and prompt). If an
 * observation with the same (collection, probe, sample_index) exists, nothing is written and
 * *inserted = 0. */
int dt_store_observation_insert(struct dt_store *s, int64_t collection_id, int64_t run_id,
                                const struct dt_sample *smp, int *inserted, struct dt_error *err);
/* Number of samples stored for (collection, probe id hex). */
int dt_store_observation_count(struct dt_store *s, int64_t collection_id, const char *probe_xxh128,
                               int64_t *n, struct dt_error *err);
/* Appends every observation of a collection to out, in insertion order. */
int dt_store_observations_load(struct dt_store *s, int64_t collection_id, struct dt_sample_set *out,
                               struct dt_error *err);
/* Fills *out (initialised by the caller) with one observation; DT_ENOTFOUND if there is none. */
int dt_store_observation_get(struct dt_store *s, int64_t observation_id, struct dt_sample *out,
                             struct dt_error *err);

struct dt_store_collection_row {
    int64_t id, model_id, corpus_id, run_id, n_observations;
    const char *key, *model_name, *source, *params_json, *created_at;
};
typedef int (*dt_store_collection_cb)(void *ud, const struct dt_store_collection_row *row);
/* Collections of a model (model_id 0: all) or created by a run (run_id 0: any). */
int dt_store_collections_list(struct dt_store *s, int64_t model_id, int64_t run_id,
                              dt_store_collection_cb cb, void *ud, struct dt_error *err);

/* ---- signals and verdicts ---- */

struct dt_store_signal {
    int64_t id; /* filled by the list functions */
    int64_t run_id;
    const char *name;                                   /* "next-token-divergence", ... */
    int64_t teacher_model_id, suspect_model_id;         /* 0: none */
    const char *test;                                   /* the statistical test, NULL if none */
    double statistic, p_value, ci_low, ci_high, effect; /* NaN: not available (NULL) */
    int64_t n;                                          /* sample size, < 0 unknown */
    const char *details_json;                           /* JSON text or NULL */
};
int dt_store_signal_insert(struct dt_store *s, const struct dt_store_signal *sig, int64_t *id,
                           struct dt_error *err);
typedef int (*dt_store_signal_cb)(void *ud, const struct dt_store_signal *sig);
int dt_store_signals_list(struct dt_store *s, int64_t run_id, dt_store_signal_cb cb, void *ud,
                          struct dt_error *err);

struct dt_store_verdict {
    int64_t id;
    int64_t run_id;
    int64_t teacher_model_id, suspect_model_id;
    const char *relation;  /* same-weights, weight-derived, distilled, independent, inconclusive */
    double p_value, alpha; /* NaN: NULL */
    const char *rationale; /* plain-language text */
    const char *details_json;
};
int dt_store_verdict_insert(struct dt_store *s, const struct dt_store_verdict *v, int64_t *id,
                            struct dt_error *err);
typedef int (*dt_store_verdict_cb)(void *ud, const struct dt_store_verdict *v);
int dt_store_verdicts_list(struct dt_store *s, int64_t run_id, dt_store_verdict_cb cb, void *ud,
                           struct dt_error *err);

/* ---- reading back (renderers) ---- */

struct dt_store_model_row {
    int64_t id;
    const char *key, *name, *path, *format, *arch, *sha256, *xxh128, *tokenizer_hash;
    const char *created_at;
    int64_t size_bytes; /* < 0 unknown */
    int64_t n_params;   /* <= 0 unknown */
};
typedef int (*dt_store_model_cb)(void *ud, const struct dt_store_model_row *row);
/* Calls cb once for the model with this id; DT_ENOTFOUND when there is none. */
int dt_store_model_get(struct dt_store *s, int64_t model_id, dt_store_model_cb cb, void *ud,
                       struct dt_error *err);
/* The SHA-256 (and xxh3-128, size) that dt_store_model_upsert records for a file or an HF
 * directory (over the sorted "name sha256\n" lines of its files). */
int dt_store_hash_path(const char *path, char sha256[65], char xxh128[33], uint64_t *size_bytes,
                       struct dt_error *err);
/* The newest run that recorded a verdict; DT_ENOTFOUND when no run did. */
int dt_store_latest_verdict_run(struct dt_store *s, int64_t *run_id, struct dt_error *err);

/* ---- release fingerprints ---- */

/* Stores a fingerprint (its JSON text, see fingerprint/release.h) of a model row. */
int dt_store_fingerprint_insert(struct dt_store *s, const char *name, int64_t model_id,
                                int64_t run_id, int64_t n_tensors, const char *tokenizer_hash,
                                const char *data_json, int64_t *id, struct dt_error *err);
struct dt_store_fingerprint_row {
    int64_t id, model_id, run_id, n_tensors;
    const char *name, *tokenizer_hash, *data_json, *created_at;
    const char *model_name, *model_sha256, *model_path;
};
typedef int (*dt_store_fingerprint_cb)(void *ud, const struct dt_store_fingerprint_row *row);
/* The fingerprint with this id, or (id_or_name not a number) the newest with this name;
 * DT_ENOTFOUND when there is none. */
int dt_store_fingerprint_get(struct dt_store *s, const char *id_or_name,
                             dt_store_fingerprint_cb cb, void *ud, struct dt_error *err);

/* ---- checks ---- */

struct dt_store_check {
    int user_version, expected_version;
    uint32_t application_id;
    int integrity_ok;        /* PRAGMA integrity_check said "ok" */
    char integrity_msg[512]; /* its first message otherwise */
    int64_t n_fk_violations; /* rows reported by PRAGMA foreign_key_check */
};
/* Runs the checks; returns 0 when all pass, DT_EDB (message says what failed) otherwise. */
int dt_store_check(struct dt_store *s, struct dt_store_check *out, struct dt_error *err);

#endif

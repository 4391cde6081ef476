/*
 * `collect`: runs a local model over a corpus and stores its generations (with per-token
 * log-probs and top-k alternatives, the same shape as imported transcripts) in the evidence
 * store.
 *
 * Resumable: the collection is keyed by the model's content hash, the corpus id and the
 * generation parameters, and samples are unique per (collection, probe, sample index). The
 * missing ones are decoded together in batches as compare's are (corpus/generate.h), each
 * stored as it ends and committed every DT_ANSWERS_BATCH samples or DT_ANSWERS_BATCH_S
 * seconds. A rerun with the same inputs finds the collection again and generates only the
 * (probe, sample index) pairs that are missing; a kill (even SIGKILL) loses at most the
 * samples of the last second.
 * Sample i of a probe is drawn with dt_answer_seed(seed, probe id, i) (corpus/seed.h), the seed
 * compare and panels draw it with, so the result does not depend on where a run was interrupted,
 * on --samples or on the corpus the probe came in.
 */
#ifndef DT_RUN_COLLECT_H
#define DT_RUN_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/corpus.h"
#include "reports/store.h"

struct dt_error;
struct dt_model;

struct dt_collect_params {
    int n_samples;     /* samples per probe, >= 1 */
    float temperature; /* <= 0: greedy */
    int top_k;         /* sampling cut, <= 0: none */
    float top_p;       /* >= 1: none */
    uint64_t seed;
    int n_predict;             /* new tokens at most */
    int n_top;                 /* alternatives recorded per token (0..64) */
    const char *chat_template; /* "{prompt}" marks the user message; NULL: chat probes as is */
    int n_threads;             /* <= 0: default; recorded in the run */
};
void dt_collect_params_init(struct dt_collect_params *p); /* 1 sample, T 0.7, 64 tokens, top 5 */

struct dt_collect_result {
    int64_t run_id, model_id, corpus_id, collection_id;
    size_t n_probes;      /* probes in the corpus */
    size_t n_skipped;     /* probes already complete from an earlier run */
    size_t n_samples_new; /* samples generated and stored by this call */
};

/* Progress: called as each sample is stored (done of total samples, those stored before
 * included). */
typedef void (*dt_collect_progress_cb)(void *ud, size_t done, size_t total);

/*
 * Records a run (argv, seed, threads), the model and the corpus, then generates and stores the
 * missing samples. model_name NULL: the file name. The run is ended with status ok or failed.
 */
int dt_store_collect(struct dt_store *s, const struct dt_model *m, const char *model_name,
                     const struct dt_corpus *c, const struct dt_collect_params *p, int argc,
                     char *const *argv, dt_collect_progress_cb progress, void *ud,
                     struct dt_collect_result *res, struct dt_error *err);

/*
 * dt_store_collect on the model at model_path, opened for the call. Chat probes use the model's
 * own template; p->chat_template is the fallback for a model without one and, when NULL too,
 * '<|user|>{prompt}<|assistant|>' for a vocabulary that has both markers (as `serve` does).
 */
int dt_collect_local(struct dt_store *s, const char *model_path, const char *model_name,
                     const struct dt_corpus *c, const struct dt_collect_params *p, int argc,
                     char *const *argv, dt_collect_progress_cb progress, void *ud,
                     struct dt_collect_result *res, struct dt_error *err);

#endif

/*
 * Answer sources (run/compare.h) on evidence stores: where `compare` finds answers it has
 * generated before (a resumed run, a `collect`, a panel) and records those it generates.
 *
 * An answer is found when a store holds an observation of the same model (by content hash),
 * probe (by content id) and sample index, in a local collection whose parameters say the same
 * seed, temperature, top_k, top_p, n_predict, n_top and (chat probes) chat template: the key of
 * run/compare.h's dt_answer_key. `collect` and `panel add` write exactly such collections,
 * so what they stored serves a compare. A member recorded from transcripts or an endpoint
 * (model_id set) is matched by model, probe and sample index alone.
 *
 * Recording writes each answer into the collection "answers:<xxh128 of its parameters>" of the
 * write store, committed in batches (every DT_ANSWERS_BATCH answers or DT_ANSWERS_BATCH_S
 * seconds, and when compare is done with the party), so a killed run loses at most the last
 * second of answers and a commit (an fsync) is not paid per answer.
 */
#ifndef DT_RUN_ANSWERS_H
#define DT_RUN_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

#include "run/compare.h"

struct dt_store;

#define DT_ANSWERS_MAX_READ 3
#define DT_ANSWERS_MAX_COLL 8
#define DT_ANSWERS_BATCH 64
#define DT_ANSWERS_BATCH_S 1.0

struct dt_store_answers {
    struct dt_answer_source src;             /* hand &a->src to compare */
    struct dt_store *read[DT_ANSWERS_MAX_READ]; /* looked up in order; NULL entries skipped */
    struct dt_store *write;                  /* generated answers go here, or NULL */
    int64_t run_id;                          /* the run recording them (in write) */
    char model_xxh128[33];                   /* the model's content hash; "" = hash the party's path */
    int64_t any_settings_model_id;           /* > 0: in read[0], this model's answers whatever
                                              * the settings (transcript / endpoint members) */
    size_t n_found, n_recorded;              /* counters */
    /* internal: the write store's model row and its answer collections */
    int64_t write_model_id;
    size_t n_coll;
    int64_t coll_id[DT_ANSWERS_MAX_COLL];
    char coll_key[DT_ANSWERS_MAX_COLL][48];
    int in_txn;
    size_t n_pending;
    double t_begin;
};

void dt_store_answers_init(struct dt_store_answers *a, struct dt_store *write, int64_t run_id);

/* The canonical parameters of an answer collection (a JSON object, cJSON_free it), the same
 * shape `collect` writes: model_xxh128, temperature, top_k, top_p, seed (a string), n_predict,
 * n_top, chat_template. */
char *dt_answers_params_json(const char *model_xxh128, const struct dt_sample_gen_params *gen,
                             enum dt_probe_kind kind, uint64_t seed);

/* Records a party's model row (by content for weights, "api:NAME" otherwise) as compare's
 * evidence does. */
int dt_store_party_model(struct dt_store *s, const struct dt_party *party, int64_t *model_id,
                         struct dt_error *err);

/* Writes answers under the party's model: used by panel add for transcript and endpoint
 * members, whose answers are not generated here. */
int dt_store_answers_record_all(struct dt_store *s, int64_t run_id, int64_t model_id,
                                const char *collection_key, const struct dt_sample_set *set,
                                size_t *n_new, struct dt_error *err);

#endif

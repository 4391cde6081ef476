/*
 * `collect --endpoint`: the same collection as `collect --model` (run/collect.h), but the
 * samples come from an OpenAI-compatible endpoint through corpus/endpoint.h. Each response is
 * stored exactly as an imported transcript of it would be.
 *
 * Resumable like the local collect: the collection is keyed by the API model name, the corpus
 * and the generation parameters (not by the URL, so several servers of one model fill one
 * collection, see `db merge`); a probe's samples are stored in one transaction once all of
 * them arrived, so an interrupted run loses at most the probes in flight. Sample i of a probe
 * is requested with the seed dt_answer_seed(seed, probe id, i), the seed the local
 * collect draws it with, so a `distiltrace serve` endpoint gives the local collect's samples.
 */
#ifndef DT_RUN_COLLECT_ENDPOINT_H
#define DT_RUN_COLLECT_ENDPOINT_H

#include <stddef.h>

#include "corpus/endpoint.h"
#include "run/collect.h"

struct dt_collect_shard {
    size_t index, count; /* probes i with i % count == index; count 0 or 1: all */
};

/*
 * Records a run, the API model ("api:NAME") and the corpus, then requests and stores the
 * missing samples. p->chat_template and p->n_threads are the server's business and ignored;
 * p->n_top must be at most 20. stats (may be NULL) gets the client's counters.
 */
int dt_store_collect_endpoint(struct dt_store *s, const struct dt_endpoint_options *eo,
                              const struct dt_corpus *c, const struct dt_collect_params *p,
                              const struct dt_collect_shard *shard, int argc, char *const *argv,
                              dt_collect_progress_cb progress, void *ud,
                              struct dt_collect_result *res, struct dt_endpoint_stats *stats,
                              struct dt_error *err);

#endif

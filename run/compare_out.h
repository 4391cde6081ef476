/*
 * Output of a comparison: the JSON document of the `compare` contract (DESIGN.md) and its
 * persistence in the evidence store (models, every answer as observations, one signals row
 * per signal and one verdict row per candidate teacher).
 */
#ifndef DT_RUN_COMPARE_OUT_H
#define DT_RUN_COMPARE_OUT_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct dt_error;
struct dt_store;
struct dt_compare_result;
struct dt_compare_params;

/*
 * The comparison document (docs/schema/comparison.schema.json), the one JSON shape that
 * `compare --json` prints and `report --format json` renders from the store:
 * {"document": "distiltrace-comparison", "document_version", "run": {"id", ...},
 *  "verdict": {"relation", "derived", "p_value", "alpha", "teacher", "suspect", "controls",
 *              "rationale", "power", ["attribution"]},
 *  "signals": [{"name", "title", "class", "status", "applicable", "test", "statistic",
 *               "p_value", "p_adjusted", "significant", "alpha", "effect", "ci", "note",
 *               "controls": [{"name", "statistic"}], "details"}...],
 *  ["candidates"], "models": [...], "probes": {...}, "timing": {...}}
 * The signals are those of the attributed teacher. run.id is null without a store. NULL on
 * allocation failure.
 */
struct cJSON *dt_compare_to_json(const struct dt_compare_result *r,
                                 const struct dt_compare_params *p, int64_t run_id);

/* One signal of an outcome as the JSON object above (stored as the signal row's details). */
struct cJSON *dt_compare_signal_json(const struct dt_compare_result *r, size_t i_outcome,
                                     size_t i_signal, double alpha);

/* Records the comparison under run_id in one transaction. */
int dt_compare_store(struct dt_store *s, int64_t run_id, const struct dt_compare_result *r,
                     const struct dt_compare_params *p, struct dt_error *err);

#endif

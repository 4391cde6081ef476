/*
 * The one seed scheme of every sampled answer. An answer is drawn with the seed
 * dt_answer_seed(user seed, probe id, sample index): the probe is named by its content hash
 * (dt_probe_id: xxh3-128 of its kind and text), never by its position in a list, so the same
 * (model, probe, sample index, user seed, generation settings) gives the same answer whether
 * `collect`, `compare`, `collect --endpoint`, `panel add` or a resumed run draws it, whatever
 * corpus or probe count it was drawn for. That is what lets a stored answer stand in for a
 * generated one.
 *
 * The seed is xxh64 of the text "PROBE_ID:INDEX" seeded with the user's seed, kept to its low
 * 53 bits so that it travels exactly as a JSON number (the seed of an API request).
 */
#ifndef DT_CORPUS_SEED_H
#define DT_CORPUS_SEED_H

#include <stdint.h>

#include "corpus/sample.h"

#define DT_ANSWER_SEED_MASK ((((uint64_t)1) << 53) - 1)

/* probe_id: the probe's hex content id; sample_index >= 0. */
uint64_t dt_answer_seed(uint64_t seed, const char *probe_id, int sample_index);

/* The same, for a probe given by kind and text (its id computed here). */
uint64_t dt_answer_seed_text(uint64_t seed, enum dt_probe_kind kind, const char *text,
                             int sample_index);

#endif

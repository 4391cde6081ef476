/*
 * generator_preference (closeness, rank test; works across tokenizers): does a model give the
 * teacher's own continuations more likelihood than other models' continuations of the same
 * prompts? Per text probe i and model M (with weights):
 *
 *   pref_M(i) = lp_M(teacher's continuation of i) - mean over controls c != M of lp_M(c's continuation of i)
 *
 * where lp is the mean log-probability per byte of the continuation given the prompt, in M's
 * own tokenizer. A model never rates its own continuation, so the suspect and the controls are
 * judged alike. A student trained on the teacher's samples prefers them.
 */
#ifndef DT_FINGERPRINT_PREFERENCE_H
#define DT_FINGERPRINT_PREFERENCE_H

#include <stddef.h>

struct dt_error;
struct dt_measurement;
struct dt_party;

int dt_signal_preference_run(const struct dt_party *teacher, const struct dt_party *suspect,
                             const struct dt_party *const *controls, size_t n_controls,
                             const char *const *prompts, size_t n_prompts,
                             struct dt_measurement *m, struct dt_error *err);

#endif

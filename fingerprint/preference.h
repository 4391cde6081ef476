/*
 * generator_preference (closeness, rank test; works across tokenizers): how close does a
 * model come to rating the teacher's continuations as highly as its own? Per text probe i and
 * model M (with weights):
 *
 *   pref_M(i) = lp_M(teacher's continuation of i) - lp_M(M's own continuation of i)
 *
 * where lp is the mean log-probability per byte of the continuation given the prompt, in M's
 * own tokenizer. Every model is referred to its own samples, so a stronger or weaker model is
 * not favoured by the quality of someone else's text, and the suspect and the controls are
 * judged alike. A student trained on the teacher's samples rates them almost as its own.
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

/*
 * Text-level signals over what parties answered: inherited identity, hallmark habits and
 * n-gram overlap. They need no weights and no shared tokenizer, so they work across
 * tokenizers and in API-only mode.
 */
#ifndef DT_FINGERPRINT_TEXT_SIGNALS_H
#define DT_FINGERPRINT_TEXT_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_measurement;
struct dt_party;

/*
 * identity (artifact, rate test): learns the names and makers the teacher claims in its
 * answers to the identity probes (fingerprint/identity.h; prompts holds the n_prompts
 * identity questions, so that a name the question contains is never counted) and, for the
 * suspect and each control, counts the answers that claim a teacher identity which no OTHER
 * model (suspect or control) claims. Identities that other models claim too are shared: they
 * are listed in the details, with every model's claim counts, and do not make a hit.
 */
int dt_signal_identity_run(const struct dt_party *teacher, const struct dt_party *suspect,
                           const struct dt_party *const *controls, size_t n_controls,
                           const char *const *prompts, size_t n_prompts,
                           struct dt_measurement *m, struct dt_error *err);

/*
 * habits (artifact, rate test): splits the chat probes in two halves with the seed; for each
 * model evaluated (the suspect and every control) learns on the first half the phrases the
 * teacher repeats and the OTHER models do not write (a phrase another model wrote more than
 * once is dropped), never using the evaluated model's answers, and counts on the second half
 * the evaluated model's answers that reproduce at least one of them (cross-fit selection,
 * docs/method.md).
 */
int dt_signal_habits_run(const struct dt_party *teacher, const struct dt_party *suspect,
                         const struct dt_party *const *controls, size_t n_controls, uint64_t seed,
                         struct dt_measurement *m, struct dt_error *err);

/*
 * ngram_overlap (closeness, rank test): per chat and text probe, the MinHash Jaccard
 * similarity of word 4-gram shingles between a model's answer and the teacher's answer to the
 * same prompt.
 */
int dt_signal_ngram_run(const struct dt_party *teacher, const struct dt_party *suspect,
                        const struct dt_party *const *controls, size_t n_controls,
                        struct dt_measurement *m, struct dt_error *err);

#endif

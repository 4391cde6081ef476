/*
 * Signals from next-token distributions on shared contexts. They need every compared model
 * to use the teacher's token ids (dt_tokenizer_ids_compatible: the same tokenizer, or one
 * that only appends tokens, e.g. a padded vocabulary) so that positions and ids line up; a model with another tokenizer gets a NaN column and is left out of the test.
 *
 *   next_token_js      per probe, minus the mean Jensen-Shannon divergence (nats) between the
 *                      teacher's and the model's next-token distributions (closeness);
 *   teacher_agreement  per probe, at the positions where the teacher's top token differs from
 *                      the majority top token of the other compared models, the fraction
 *                      where the model picks the teacher's token (closeness; each column's
 *                      majority excludes itself, so the suspect and the controls are judged
 *                      alike);
 *   logit_subspace     per probe, the fraction of the variance of the model's (centred) next-
 *                      token log-probabilities that lies in the subspace spanned by the
 *                      teacher's (the softmax bottleneck: a model's logits live in a space of
 *                      its hidden width); a model sharing the teacher's output layer, or
 *                      trained to match its full distributions, lies inside it (closeness).
 */
#ifndef DT_FINGERPRINT_LOGIT_SIGNALS_H
#define DT_FINGERPRINT_LOGIT_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_measurement;
struct dt_ctx;

/* Compute contexts of the models: models[0] is the suspect, models[1..n_models-1] the
 * controls; NULL where a model has no weights. seqs are token sequences in the teacher's tokenizer, one per probe; positions
 * from 0 to len-2 are scored (each predicts the next token). */
int dt_signal_logits_run(struct dt_ctx *teacher, struct dt_ctx *const *models,
                         size_t n_models, const int32_t *const *seqs, const size_t *lens,
                         size_t n_seqs, struct dt_measurement *js, struct dt_measurement *agree,
                         struct dt_measurement *sub, struct dt_error *err);

#endif

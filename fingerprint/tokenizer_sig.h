/*
 * tokenizer (info): whether the suspect uses the teacher's tokenizer (equal vocabulary and
 * merges hash) and how much of the vocabulary they share. Reported, never tested: unrelated
 * models often share a tokenizer, and distillation does not need one.
 */
#ifndef DT_FINGERPRINT_TOKENIZER_SIG_H
#define DT_FINGERPRINT_TOKENIZER_SIG_H

struct dt_error;
struct dt_measurement;
struct dt_tokenizer;

/* Either tokenizer may be NULL (API-only): the signal is then not applicable. */
int dt_signal_tokenizer_run(const struct dt_tokenizer *teacher, const struct dt_tokenizer *suspect,
                            struct dt_measurement *m, struct dt_error *err);

#endif

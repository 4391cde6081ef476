/*
 * The signal table: every signal a compare runs, one row each, in the order the measurements
 * are kept (and stored, and reported). A row names the signal, its class (what a significant
 * result can prove), what it needs from the parties, the function that measures it and the
 * plain-words text the reports print. run/compare.c iterates the table for every candidate
 * teacher: a row whose needs are not met gets a not-applicable measurement saying which need
 * failed, a row that must be asked for (the watermark key) is left out when it was not.
 *
 * A new signal is one file in fingerprint/ (the measurement) plus one row in run/signals.c.
 */
#ifndef DT_RUN_SIGNALS_H
#define DT_RUN_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint/measurement.h"
#include "fingerprint/party.h"

struct dt_compare_params;
struct dt_error;

/* What a row needs; a row whose DT_NEED_ASKED bit is set runs only when asked for. */
enum dt_signal_need {
    DT_NEED_BOTH_WEIGHTS = 1u << 0,   /* the teacher's and the suspect's weights */
    DT_NEED_TEACHER_WEIGHTS = 1u << 1, /* the teacher's weights (logits) */
    DT_NEED_ASKED_WATERMARK = 1u << 2, /* a watermark key (--watermark-key) */
};

/* What a row's run sees: the parties with their answers, the probes and the settings. The
 * logit pass fills three rows at once; its results wait in logits until their rows ask. */
struct dt_signal_ctx {
    const struct dt_party *teacher;
    const struct dt_party *suspect;
    const struct dt_party *const *controls; /* n_controls */
    size_t n_controls;
    char *const *prompts[DT_SET_COUNT];
    const size_t *n_prompts; /* DT_SET_COUNT */
    const struct dt_compare_params *params;
    /* internal: the logit pass (next_token_js, teacher_agreement, logit_subspace) */
    int logits_done;
    struct dt_measurement logits[3];
};

/* What the reports print for a signal. */
struct dt_signal_text {
    const char *title;  /* "Identity claims" */
    const char *what;   /* what it measures, in plain words */
    const char *limits; /* what it cannot show */
    const char *axis;   /* the statistic on the chart's axis: name, unit, which way is teacher-like */
};

struct dt_signal_def {
    const char *name; /* the measurement's name, stable: stores and reports key on it */
    enum dt_signal_class cls;
    unsigned needs;   /* enum dt_signal_need bits */
    /* Fills *m (zeroed by the caller) for ctx's teacher and suspect; 0 or a DT_E* code. */
    int (*run)(struct dt_signal_ctx *ctx, struct dt_measurement *m, struct dt_error *err);
    struct dt_signal_text text;
};

extern const struct dt_signal_def dt_signal_table[];
extern const size_t dt_signal_table_n;

/* The row named name, or NULL. */
const struct dt_signal_def *dt_signal_find(const char *name);

/* The needs of row d that ctx does not meet (0: it can run), and why in one sentence (the
 * first unmet need's reason; NULL when none). */
unsigned dt_signal_unmet(const struct dt_signal_def *d, const struct dt_signal_ctx *ctx,
                         const char **why);

/* Whether row d runs at all in ctx (a row that must be asked for and was not is left out). */
int dt_signal_wanted(const struct dt_signal_def *d, const struct dt_signal_ctx *ctx);

/* Releases what the logit pass left in ctx. */
void dt_signal_ctx_release(struct dt_signal_ctx *ctx);

#endif

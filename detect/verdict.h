/*
 * The verdict engine: turns the measurements of every signal into hypothesis tests, controls
 * the family-wise error rate across signals (Holm), and applies the documented rules
 * (docs/method.md) that map significant evidence to a relation:
 *
 *   same-weights    the weights signal is significant and every teacher tensor matches within
 *                   the error of re-encoding it in the suspect's tensor types;
 *   weight-derived  the weights signal is significant and the suspect's weight correlation
 *                   exceeds every control's;
 *   distilled       at least one artifact signal (inherited identity, hallmark habits,
 *                   watermark radioactivity) is significant after Holm, with at least three
 *                   usable controls;
 *   inconclusive    only closeness signals are significant (an independent model trained on the
 *                   same data can be that close); or fewer than three usable controls; or a
 *                   control had to be dropped from an artifact test; or the design (answers,
 *                   controls) could not reach alpha for an artifact signal: the power fields
 *                   and the rationale say which, and how many more answers or controls;
 *   independent     nothing is significant and every artifact test could have been.
 *
 * Families: Holm runs over the signals that can accuse (weights and artifacts), so the chance
 * of any false accusation is at most alpha; the closeness signals, which can only make a
 * verdict inconclusive, are Holm-adjusted among themselves.
 */
#ifndef DT_DETECT_VERDICT_H
#define DT_DETECT_VERDICT_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_measurement;

enum dt_relation {
    DT_REL_SAME_WEIGHTS = 1,
    DT_REL_WEIGHT_DERIVED = 2,
    DT_REL_DISTILLED = 3,
    DT_REL_INCONCLUSIVE = 4,
    DT_REL_INDEPENDENT = 5,
};

struct dt_signal_result {
    const struct dt_measurement *m; /* borrowed */
    int tested;                     /* 0: not applicable or informational */
    char test[128];                 /* the test's name */
    double p_value;                 /* raw one-sided p-value (NaN when untested) */
    double p_adjusted;              /* Holm-adjusted over the tested family */
    double log10_p, log10_p_adjusted; /* finite where the p-values underflow to 0 */
    double effect;                  /* effect size (test-specific, documented) */
    double ci_low, ci_high;         /* confidence interval of the effect (NaN when none) */
    int significant;                /* p_adjusted <= alpha */
    size_t n_controls_used;         /* controls the test could use (behavioural signals) */
    double log10_p_floor;           /* smallest raw p the design allows (log10); NaN: no floor */
};

#define DT_MIN_CONTROLS 3 /* fewer usable controls than this: no behavioural accusation */

struct dt_verdict {
    enum dt_relation relation;
    double p_value;                 /* the adjusted p-value the relation rests on */
    double log10_p;                 /* its log10, finite where p_value underflows to 0 */
    double alpha;
    char rationale[1024];           /* plain-words reason, naming the evidence */
    /* power: whether this design could have found what it looked for */
    size_t n_controls_given;        /* controls passed in */
    size_t n_controls_used;         /* fewest controls an artifact test could use */
    size_t n_controls_dropped;      /* given minus used (a control without answers, ...) */
    int underpowered;               /* an artifact test could not reach alpha with this design */
    char underpowered_signal[48];   /* the first such signal */
    double log10_p_floor;           /* its smallest reachable Holm-adjusted p (log10), else NaN */
    uint64_t answers_needed;        /* answers per model that would reach alpha (0: none would) */
    size_t controls_needed;         /* controls that would reach alpha with these answers (0: none) */
    char power_note[320];           /* empty when the design was adequate */
    size_t n_signals;
    struct dt_signal_result *signals; /* owned, one per measurement, same order */
};

struct dt_verdict_params {
    double alpha;        /* family-wise error rate, default 0.01 */
    uint64_t seed;       /* for permutation / bootstrap */
    int n_resamples;     /* Monte Carlo resamples, default 10000 */
    size_t min_probes;   /* fewer usable probes than this: the rank test is not run */
};

void dt_verdict_params_default(struct dt_verdict_params *p);

int dt_verdict_decide(const struct dt_measurement *ms, size_t n, size_t n_controls,
                      const struct dt_verdict_params *params, struct dt_verdict *out,
                      struct dt_error *err);
void dt_verdict_release(struct dt_verdict *v);

const char *dt_relation_name(enum dt_relation r);
/* Strength order for attribution: same-weights > weight-derived > distilled > inconclusive >
 * independent. Larger is stronger. */
int dt_relation_strength(enum dt_relation r);

#endif

/*
 * A measurement: what one fingerprint signal found for one suspect, in the form the verdict
 * engine (detect/) turns into a hypothesis test. Signals never compute verdicts; they say
 * which test fits their data:
 *
 *   DT_TEST_PAIRED per-probe closeness scores for the suspect and each control (higher =
 *                  closer to the teacher). The verdict (detect/verdict.c) reduces each model to
 *                  its mean score with its own sampling variance and runs the model-level
 *                  predictive t test: H0, the suspect is one more independent model.
 *                  Randomness: models, and probes within each.
 *   DT_TEST_RATE   how often the suspect shows an artifact (hits / trials) and how often each
 *                  control does: the same model-level test on arcsine-transformed rates
 *                  (detect/tests.h dt_test_rate_models). Randomness: models, and sampled answers
 *                  within each.
 *   DT_TEST_GIVEN  the signal has an exact null of its own (watermark binomial) and supplies
 *                  the p-value and the test's name.
 *   DT_TEST_NORMAL the signal supplies a z-score that is standard normal under its null
 *                  (weights); the p-value is its upper tail, computed in log space so that
 *                  overwhelming evidence keeps its order of magnitude.
 *
 * The class says what a significant result can prove: weights prove weight reuse, artifacts
 * prove learning from the teacher's outputs, closeness alone proves neither (a model trained on
 * the same data can be as close as a student), info is reported but never tested.
 */
#ifndef DT_FINGERPRINT_MEASUREMENT_H
#define DT_FINGERPRINT_MEASUREMENT_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum dt_signal_class {
    DT_SIGNAL_WEIGHTS = 1,
    DT_SIGNAL_ARTIFACT = 2,
    DT_SIGNAL_CLOSENESS = 3,
    DT_SIGNAL_INFO = 4,
};

enum dt_test_kind {
    DT_TEST_NONE = 0,
    DT_TEST_PAIRED = 1,
    DT_TEST_RATE = 2,
    DT_TEST_GIVEN = 3,
    DT_TEST_NORMAL = 4,
};

struct dt_measurement {
    char name[48];                /* stable signal name, e.g. "identity", "next_token_js" */
    enum dt_signal_class cls;
    enum dt_test_kind test;
    int applicable;               /* 0: could not be evaluated; note says why */
    char note[320];               /* one sentence: what was measured, or why not applicable */
    double statistic;             /* the headline figure for the suspect */
    double *control_stats;        /* the same figure for each control (NaN where n/a) */
    size_t n_controls;
    /* DT_TEST_PAIRED: n_probes x n_cols scores, column 0 the suspect, 1.. the controls */
    size_t n_probes, n_cols;
    double *scores;
    /* DT_TEST_RATE: the suspect's hits / trials, and each control's (n_controls entries;
     * c_n[j] == 0 where a control has no answers) */
    uint64_t s_hits, s_n;
    uint64_t *c_hits, *c_n;
    /* DT_TEST_GIVEN (p_given) and DT_TEST_NORMAL (z_given), with the test's name */
    double p_given;
    double z_given;
    char test_given[64];
    /* same-weights evidence (DT_SIGNAL_WEIGHTS only): 1 when every tensor matches within the
     * error that re-encoding the teacher in the suspect's tensor types would cause */
    int same_weights;
    struct cJSON *details;        /* owned: extra figures for reports (may be NULL) */
};

/* Zeroes m and sets its name / class. */
void dt_measurement_init(struct dt_measurement *m, const char *name, enum dt_signal_class cls);
void dt_measurement_release(struct dt_measurement *m);
/* Marks m not applicable with a reason (printf-style). */
void dt_measurement_skip(struct dt_measurement *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Allocates control_stats (NaN-filled) and, if n_probes > 0, the score matrix (NaN-filled). */
int dt_measurement_alloc(struct dt_measurement *m, size_t n_controls, size_t n_probes);

const char *dt_signal_class_name(enum dt_signal_class c);

#endif

/*
 * Attribution: which of several candidate teachers is the suspect closest to, and is the
 * winner's margin over the runner-up real or noise?
 *
 * Input is per-probe closeness of the suspect to each candidate (higher = closer),
 * scores[i_probe * n_cand + j_cand]. The best candidate is the one with the highest mean
 * score, the runner-up the second highest. The margin test is a sign-flip permutation test
 * over probes on d_i = score[i][best] - score[i][runner_up], TWO-SIDED: the direction was
 * picked from the same data, and the two-sided p accounts for that choice between the two
 * (it does not correct for having picked this pair out of many candidates, which makes
 * it mildly optimistic when there are more than two close candidates).
 */
#ifndef DT_DETECT_ATTRIBUTION_H
#define DT_DETECT_ATTRIBUTION_H

#include "detect/tests.h"

#include <stddef.h>

struct dt_attribution {
    size_t i_best;      /* index of the candidate with the highest mean score */
    size_t i_runner_up; /* second highest */
    double mean_best;   /* mean score over probes */
    double mean_runner_up;
    struct dt_test_result margin; /* two-sided sign-flip test on per-probe differences */
};

/* n_probe >= 1, n_cand >= 2; scores must be finite. */
int dt_attribution_best(const double *scores, size_t n_probe, size_t n_cand,
                        const struct dt_test_opts *opts, struct dt_attribution *out,
                        struct dt_error *err);

/* Index of the largest value (first on ties); n >= 1. For per-candidate statistics; for
 * per-candidate p-values pass their negated logs. */
size_t dt_attribution_argmax(const double *v, size_t n);

#endif

/*
 * Attribution: which of several candidate teachers is the suspect derived from, and does the
 * chosen one beat the runner-up, or can the tool not tell them apart?
 *
 * Each candidate comes with its own verdict and measurements (the same suspect, controls and
 * probes, a different teacher). Candidates are ranked by the strength of their relation
 * (same-weights > weight-derived > distilled > ...), then by their verdict p-value. When the
 * best is accused, its margin over every other candidate is tested on the signal its verdict
 * rests on, paired over the suspect's same answers or probes:
 *
 *   rate signals (identity, habits): the suspect's answers that show the best candidate's
 *     artifact (b) against those that show the other's (c), on the same answers. McNemar's
 *     exact test needs the discordant pairs, which counts alone do not give; with b + c of
 *     them (no answer showing both, the case that gives the largest p) it is
 *     p = 2 P(Bin(b + c, 1/2) >= b), two-sided because the direction was picked from the data.
 *     An answer showing both only lowers the true p, so this is conservative.
 *   closeness signals: a two-sided paired sign-flip test over probes on the per-probe
 *     difference of the suspect's closeness to the two candidates.
 *   weights, watermark: no paired form; the margin holds only when the other candidate is not
 *     accused at all.
 *
 * The best must beat every other candidate (intersection-union: the margin p is the largest
 * of the pairwise p-values, so no multiplicity correction is needed). The attribution is
 * decided when that p is at most alpha; otherwise it is inconclusive between the two.
 */
#ifndef DT_DETECT_ATTRIBUTION_H
#define DT_DETECT_ATTRIBUTION_H

#include "detect/tests.h"
#include "detect/verdict.h"

#include <stddef.h>

struct dt_measurement;

struct dt_attribution_input {
    const struct dt_verdict *verdict;  /* borrowed; its signals point into ms */
    const struct dt_measurement *ms;   /* borrowed: n_ms, in the same order for every candidate */
    size_t n_ms;
};

struct dt_attribution_decision {
    size_t i_best;          /* the candidate ranked first */
    size_t i_runner_up;     /* the candidate the margin is hardest against (== i_best when n = 1) */
    int accused;            /* the best's relation: same-weights, weight-derived or distilled */
    int decided;            /* one candidate: accused; several: the best beats every other */
    double p_margin;        /* two-sided margin p over the hardest other candidate (NaN: no test) */
    char signal[48];        /* the signal the margin was tested on ("" when none) */
    char test[96];          /* the margin test's name */
    char reason[320];       /* one sentence */
};

/* n >= 1. opts seeds the sign-flip test (NULL: defaults). */
int dt_attribute(const struct dt_attribution_input *cand, size_t n, double alpha,
                 const struct dt_test_opts *opts, struct dt_attribution_decision *out,
                 struct dt_error *err);

#endif

/*
 * Many p-values at once: multiplicity adjustments for a family of tests, and combinations of
 * several p-values into one.
 *
 * Everything takes and returns natural logs of p-values (a test result's `log_p`), so
 * p-values below 1e-308 survive; pass log(p) for plain p-values. Inputs must satisfy
 * log_p <= 0 and not be NaN; -inf (p = 0) is accepted by the adjustments but rejected by
 * the combinations, where it would make every other input irrelevant.
 *
 * Which to use:
 * - Holm-Bonferroni (default for a verdict's family of signals): strong control of the
 *   family-wise error rate under ANY dependence. Bonferroni: the same, less powerful.
 *   Benjamini-Hochberg: false discovery rate, valid for independent or positively dependent
 *   tests.
 * - Fisher and Stouffer combine INDEPENDENT p-values (e.g. signals computed on disjoint
 *   probe sets); on dependent ones they are anti-conservative.
 * - Cauchy combination (Liu & Xie 2020) stays approximately valid under arbitrary dependence
 *   for small combined p-values, so it is the one to use for signals computed on the same
 *   probes.
 */
#ifndef DT_DETECT_MULTIPLE_H
#define DT_DETECT_MULTIPLE_H

#include <stddef.h>

struct dt_error;
struct dt_test_result;

/* Adjusted log p-values, in input order, each min(0, log n + log p). adj may alias log_p. */
int dt_mult_bonferroni(const double *log_p, size_t n, double *adj, struct dt_error *err);
/* Holm's step-down adjusted log p-values, in input order (monotone in the sorted order). */
int dt_mult_holm(const double *log_p, size_t n, double *adj, struct dt_error *err);
/* Benjamini-Hochberg step-up adjusted log p-values (q-values), in input order. */
int dt_mult_bh(const double *log_p, size_t n, double *adj, struct dt_error *err);

/* Fisher's method: X = -2 sum log p_i ~ chi-square(2n) under independent uniform nulls. */
int dt_combine_fisher(const double *log_p, size_t n, struct dt_test_result *r,
                      struct dt_error *err);
/* Stouffer: Z = sum w_i z_i / sqrt(sum w_i^2), z_i = Phi^-1(1 - p_i); w NULL = equal weights
 * (weights must be > 0). Assumes independent p-values. z_i is floored at -38 so p_i = 1 stays
 * finite. */
int dt_combine_stouffer(const double *log_p, const double *w, size_t n, struct dt_test_result *r,
                        struct dt_error *err);
/* Cauchy combination: T = sum w_i tan((1/2 - p_i) pi) / sum w_i, p = 1/2 - atan(T)/pi;
 * w NULL = equal weights. p_i above 1 - 1e-15 are clipped there (tan is infinite at 1). */
int dt_combine_cauchy(const double *log_p, const double *w, size_t n, struct dt_test_result *r,
                      struct dt_error *err);

#endif

/*
 * Multiplicity: Holm's step-down adjustment for a family of tests (the verdict's accusing
 * signals, and separately its closeness signals). Holm controls the family-wise error rate
 * under ANY dependence between the tests, which signals computed on the same probes need.
 *
 * It takes and returns natural logs of p-values (a test result's `log_p`), so p-values below
 * 1e-308 survive; pass log(p) for plain p-values. Inputs must satisfy log_p <= 0 and not be
 * NaN; -inf (p = 0) is accepted.
 */
#ifndef DT_DETECT_MULTIPLE_H
#define DT_DETECT_MULTIPLE_H

#include <stddef.h>

struct dt_error;
struct dt_test_result;

/* Holm's step-down adjusted log p-values, in input order (monotone in the sorted order). */
int dt_mult_holm(const double *log_p, size_t n, double *adj, struct dt_error *err);

#endif

/*
 * Hypothesis tests for the verdict engine. Each test fills a struct dt_test_result: the
 * statistic, a p-value (one-sided unless the test says otherwise; direction in `alternative`), its
 * natural log (finite where the p-value underflows a double), an effect size with a confidence
 * interval where one is meaningful, a normal-approximation cross-check, and the smallest
 * p-value the design could have produced (`log_p_min`), so a report can say "4 answers from
 * each of 3 controls can never give p < 0.033".
 *
 * Orientation: every test here asks whether the suspect is CLOSER to the teacher than the
 * null allows, with "higher = closer". Callers holding distances negate them first.
 *
 * Randomness: Monte Carlo permutations and bootstraps draw from util/rng.h seeded with
 * opts->seed, so a result is a pure function of its inputs and the seed. Nothing here does
 * I/O; allocations go through util/alloc.h and fail with DT_ENOMEM.
 *
 * Errors: DT_EINVAL for arguments a caller should have checked (empty samples, NaN entries,
 * rates outside (0, 1)), with a message naming the argument. A test that is well posed but
 * undefined for the data at hand (e.g. the predictive test with one control) returns 0 with
 * `valid = 0`, p_value = 1 and `note` saying why.
 */
#ifndef DT_DETECT_TESTS_H
#define DT_DETECT_TESTS_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

enum dt_test_method {
    DT_TEST_EXACT,       /* exact null distribution (enumeration, convolution, closed form) */
    DT_TEST_MONTE_CARLO, /* random permutations; p = (b + 1) / (B + 1), never 0 */
    DT_TEST_ASYMPTOTIC,  /* normal or t approximation */
};

struct dt_test_result {
    const char *name;        /* static: the test's name, e.g. "Fisher's exact test" */
    const char *alternative; /* static: the one-sided alternative in words */
    const char *effect_name; /* static: what `effect` measures */
    const char *note;        /* static or NULL: a caveat (why invalid, approximation used) */
    enum dt_test_method method;
    int valid;              /* 0: undefined for these data; p_value is then 1 */
    double statistic;       /* the test statistic (defined per test) */
    double p_value;         /* one-sided p-value in [0, 1] */
    double log_p;           /* log(p_value); finite even where p_value underflows to 0 */
    double log_p_min;       /* log of the smallest p-value this design can produce */
    double effect;          /* effect size (defined per test, see effect_name) */
    int has_ci;             /* 1 if [ci_low, ci_high] is filled */
    double ci_low, ci_high; /* two-sided interval for `effect` at level ci_level */
    double ci_level;
    int has_approx;     /* 1 if z / p_approx hold a normal-approximation cross-check */
    double z;           /* z-score of the statistic under the null */
    double p_approx;    /* one-sided p of z (with continuity correction where stated) */
    size_t n;           /* units of replication: trials, probes or controls */
    size_t n_resamples; /* Monte Carlo permutations used (0 when exact) */
};

struct dt_test_opts {
    double ci_level;     /* confidence level of intervals; default 0.95 */
    uint64_t seed;       /* seeds Monte Carlo permutations and bootstraps; default 1 */
    size_t n_resamples;  /* Monte Carlo permutations; default 9999 */
    size_t n_boot;       /* bootstrap replicates for intervals; default 2000; 0 = no CI */
    size_t exact_max_n;  /* sign-flip: enumerate all 2^n sign vectors up to this n; default 20 */
};

/* Fills the defaults listed above. Every test accepts opts == NULL for the defaults. */
void dt_test_opts_init(struct dt_test_opts *o);

/*
 * Two-sided paired sign-flip permutation test of H1: E[d] != 0, for per-probe differences
 * d[0..n) (in attribution: the suspect's closeness to one candidate minus its closeness to
 * another on the same probe; two-sided because the direction was chosen from the data).
 * H0: each d_i is symmetric about 0 (so its sign is a fair coin), independently.
 * statistic = mean(d); p counts sign vectors with |T*| >= |T|, exact over all 2^n for
 * n <= opts->exact_max_n, otherwise Monte Carlo with p = (b + 1)/(B + 1). effect = mean(d)
 * with a bootstrap percentile interval; z = sum d / sqrt(sum d^2) as a cross-check.
 */
int dt_test_sign_flip_two_sided(const double *d, size_t n, const struct dt_test_opts *opts,
                                struct dt_test_result *r, struct dt_error *err);

/*
 * Percentile bootstrap interval of an arbitrary statistic over n units (probes): draws
 * opts->n_boot resamples of n indices with replacement, calls stat(idx, n, ctx) on each
 * (idx is borrowed for the call) and returns the (1-level)/2 and (1+level)/2 quantiles.
 * Needs n >= 1 and n_boot >= 2. stat must not return NaN.
 */
typedef double (*dt_boot_stat_fn)(const size_t *idx, size_t n, void *ctx);
int dt_bootstrap_ci(size_t n, dt_boot_stat_fn stat, void *ctx, const struct dt_test_opts *opts,
                    double *ci_low, double *ci_high, struct dt_error *err);

/*
 * Model-level predictive test: the models, not their answers, are the units. Each model has a
 * statistic y (higher = more teacher-like) with a known within-model sampling variance v. Under
 * H0 the suspect is one more independent model: y_j = theta_j + e_j with theta_j ~ N(mu, tau^2)
 * across models (tau^2 the unknown between-model variance) and e_j ~ N(0, v_j) the model's own
 * sampling noise. With ybar and s^2 the mean and variance of the k controls' statistics,
 *     t = (y_s - ybar) / sqrt(S^2 (1 + 1/k) + v_s - vbar),   S^2 = max(s^2, vbar),
 * referred to Student's t with k - 1 df: s^2 estimates tau^2 + vbar with k - 1 df, and the t law
 * carries the uncertainty of that estimate (exact for equal v_j, normal theta; the floor at the
 * known within part vbar only makes t smaller). H1: the suspect is more teacher-like than one
 * more independent model would be. effect = (y_s - ybar) / S; z / p_approx: the same t read as
 * normal (what the test would say if tau^2 were known). k >= 2 (valid = 0 below). Randomness:
 * the choice of models and each model's sampling; the p-value is about models, not answers.
 */
int dt_test_predictive(double y_s, double v_s, const double *y_c, const double *v_c, size_t k,
                       struct dt_test_result *r, struct dt_error *err);

/*
 * dt_test_predictive on rates: the suspect's s_hits of s_n answers and each control's
 * c_hits[j] of c_n[j] (c_n[j] >= 1), on Anscombe's arcsine-square-root scale
 * y = asin(sqrt((h + 3/8) / (n + 3/4))), v = 1 / (4 n + 2), which makes the within-model variance
 * independent of the rate. log_p_min is the design floor: the log p of a suspect with every
 * answer a hit against controls with none (dt_test_rate_models_floor).
 */
int dt_test_rate_models(uint64_t s_hits, uint64_t s_n, const uint64_t *c_hits, const uint64_t *c_n,
                        size_t k, struct dt_test_result *r, struct dt_error *err);
/* The smallest log p dt_test_rate_models can give with these answer counts (0 when k < 2). */
double dt_test_rate_models_floor(double s_n, const double *c_n, size_t k);

#endif

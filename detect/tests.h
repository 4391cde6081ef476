/*
 * Hypothesis tests for the verdict engine. Each test fills a struct dt_test_result: the
 * statistic, a ONE-SIDED p-value (direction in the test's comment and in `alternative`), its
 * natural log (finite where the p-value underflows a double), an effect size with a confidence
 * interval where one is meaningful, a normal-approximation cross-check, and the smallest
 * p-value the design could have produced (`log_p_min`), so a report can say "3 controls can
 * never give p < 0.25".
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
 * undefined for the data at hand (e.g. the parametric control test when all controls score the
 * same) returns 0 with `valid = 0`, p_value = 1 and `note` saying why.
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
    int mid_p;           /* Fisher: report the mid-p value instead of the conservative one */
    size_t exact_max_n;  /* sign-flip: enumerate all 2^n sign vectors up to this n; default 20 */
    double exact_budget; /* rank / Mann-Whitney: max DP operations for the exact null; 1e9 */
};

/* Fills the defaults listed above. Every test accepts opts == NULL for the defaults. */
void dt_test_opts_init(struct dt_test_opts *o);

/*
 * Exact binomial test: k successes in n independent trials, H0 rate p0 (0 < p0 < 1),
 * H1 rate > p0. p = P(X >= k | n, p0) exactly (incomplete beta), any n up to 2^53.
 * statistic = k; effect = k/n with a Clopper-Pearson interval; z = (k - n p0)/sqrt(n p0 q0)
 * and p_approx with continuity correction. Assumes independent trials with a common rate.
 */
int dt_test_binomial(uint64_t k, uint64_t n, double p0, const struct dt_test_opts *opts,
                     struct dt_test_result *r, struct dt_error *err);

/*
 * Fisher's exact test on the 2x2 table
 *                 hit   miss
 *     suspect      a     b
 *     controls     c     d
 * H1: the suspect's hit rate exceeds the controls' pooled rate. Conditional on the margins,
 * p = P(A >= a) under the hypergeometric law (opts->mid_p: P(A > a) + P(A = a)/2, which is
 * closer to nominal size but not guaranteed conservative). statistic = a; effect = sample odds
 * ratio (0.5 added to every cell when one is 0) with Woolf's log interval; z = pooled
 * two-proportion z. Needs a + b > 0 and c + d > 0. Assumes independent trials.
 */
int dt_test_fisher(uint64_t a, uint64_t b, uint64_t c, uint64_t d, const struct dt_test_opts *opts,
                   struct dt_test_result *r, struct dt_error *err);

/*
 * Rank test of the suspect against controls over probes. x is row-major
 * x[i_probe * n_model + j_model], n_model = k + 1 >= 2: column 0 the suspect, columns 1..k
 * controls, each a closeness score (higher = closer to the teacher); NaN is rejected.
 * Within each probe the suspect gets its mid-rank among the n_model scores (1 = farthest,
 * n_model = closest). H0: within each probe the suspect is exchangeable with the controls, so
 * its mid-rank is uniform over that probe's mid-ranks, independently across probes.
 * H1: the suspect ranks higher. statistic = sum of the suspect's mid-ranks; p = P(S >= s)
 * EXACT, by convolving the per-probe null laws over half-integers under an exponential tilt
 * (so tails below 1e-300 keep their digits), when the work fits opts->exact_budget;
 * otherwise the Lugannani-Rice saddle-point approximation with lattice correction (relative
 * error ~1e-3 at 100 probes, shrinking as 1/n; method and note say which). z / p_approx hold
 * the plain normal approximation, which is far too large in the far tail. effect = mean rank (H0:
 * (k+2)/2) with a bootstrap percentile interval over probes. The smallest reachable p is
 * (k+1)^-n_probe without ties. Assumes probes independent; nothing about score scales.
 */
int dt_test_rank_controls(const double *x, size_t n_probe, size_t n_model,
                          const struct dt_test_opts *opts, struct dt_test_result *r,
                          struct dt_error *err);

/*
 * Paired sign-flip permutation test of H1: E[d] > 0, for per-probe differences d[0..n)
 * (e.g. suspect-vs-teacher closeness minus control-vs-teacher closeness on the same probe).
 * H0: each d_i is symmetric about 0 (so its sign is a fair coin), independently.
 * statistic = mean(d); exact over all 2^n sign vectors for n <= opts->exact_max_n, otherwise
 * Monte Carlo with p = (b + 1)/(B + 1). effect = mean(d) with a bootstrap percentile interval;
 * z = sum d / sqrt(sum d^2) as a cross-check.
 * The two-sided variant counts |T*| >= |T| (used when the direction was chosen from the data,
 * as in attribution).
 */
int dt_test_sign_flip(const double *d, size_t n, const struct dt_test_opts *opts,
                      struct dt_test_result *r, struct dt_error *err);
int dt_test_sign_flip_two_sided(const double *d, size_t n, const struct dt_test_opts *opts,
                                struct dt_test_result *r, struct dt_error *err);

/*
 * Welch's t-test of H1: mean(x) > mean(y), unequal variances, Welch-Satterthwaite df.
 * nx, ny >= 2. statistic = t; effect = mean(x) - mean(y) with its t interval. Assumes
 * independent, roughly normal samples (or large ones). valid = 0 if both variances are 0.
 */
int dt_test_welch(const double *x, size_t nx, const double *y, size_t ny,
                  const struct dt_test_opts *opts, struct dt_test_result *r, struct dt_error *err);

/*
 * Mann-Whitney U test of H1: x tends to exceed y (P(X > Y) > 1/2). statistic = U (pairs with
 * x > y, ties counting 1/2); exact permutation law of the mid-rank sum (ties included) when
 * the DP fits opts->exact_budget, else normal with tie correction and continuity correction
 * 1/2. effect = U/(nx ny), the probability of superiority. Assumes independent samples.
 */
int dt_test_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                         const struct dt_test_opts *opts, struct dt_test_result *r,
                         struct dt_error *err);

/*
 * Model-level test of a suspect's statistic s against k >= 1 controls' statistics c[0..k),
 * H1: s is larger than a control's would be.
 * `empirical` (required): p = (1 + #{c_j >= s}) / (k + 1), exact and assumption-free apart
 * from exchangeability of the suspect with the controls under H0; with k controls it can
 * never go below 1/(k+1). effect = fraction of controls below s.
 * `parametric` (may be NULL): ASSUMES the controls' figures are normal. Prediction-interval
 * t = (s - mean) / (sd sqrt(1 + 1/k)) with k - 1 df; effect = (s - mean)/sd. valid = 0 when
 * k < 2 or sd = 0.
 */
int dt_test_vs_controls(double s, const double *c, size_t k, struct dt_test_result *empirical,
                        struct dt_test_result *parametric, struct dt_error *err);

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

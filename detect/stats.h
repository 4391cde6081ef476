/*
 * Probability distributions for the verdict engine: the numerical core under every p-value
 * distiltrace reports. Pure functions, no allocation, no I/O, no global state.
 *
 * Conventions shared by every function here:
 * - "sf" is the survival function (upper tail) and "cdf" the lower tail. For discrete laws the
 *   upper tail is inclusive: dt_stats_binom_sf(k, ...) = P(X >= k), which is what a one-sided
 *   p-value needs.
 * - Each tail also has a `_log` form returning the natural log of the probability. The log
 *   forms are computed without going through the probability itself, so they stay finite
 *   where the probability underflows a double (p < 1e-308): a p-value of 1e-400 comes back as
 *   log p = -921.0, never as log(0) = -inf. The plain forms are exp() of the same
 *   computation, accurate to ~1e-13 relative down to the smallest normal double.
 * - Valid input never gives NaN. Out-of-domain input (a probability outside [0, 1], a negative
 *   count, non-positive shape parameters, NaN) returns NaN: callers validate first.
 * - Large counts are handled by Loader's saddle-point forms ("stirlerr" and "bd0"), so the
 *   binomial tail for n = 10^7 keeps ~1e-12 relative accuracy where lgamma differences would
 *   lose eight digits.
 */
#ifndef DT_DETECT_STATS_H
#define DT_DETECT_STATS_H

/* log Gamma(x) for x > 0 (libm lgamma; never uses the global signgam). */
double dt_stats_lgamma(double x);
/* log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b), for a, b > 0. */
double dt_stats_lbeta(double a, double b);

/*
 * Regularized incomplete beta I_x(a, b) for a, b > 0, 0 <= x <= 1 (Lentz continued fraction
 * with the symmetry swap at x = (a+1)/(a+b+2); the x^a (1-x)^b / B(a,b) prefactor by the
 * saddle-point form). `_upper` is 1 - I_x(a, b) = I_{1-x}(b, a) computed directly, so it keeps
 * full relative accuracy when tiny. Relative accuracy ~1e-13 for a, b up to 10^7.
 */
double dt_stats_betainc(double a, double b, double x);
double dt_stats_betainc_upper(double a, double b, double x);
double dt_stats_betainc_log(double a, double b, double x);
double dt_stats_betainc_upper_log(double a, double b, double x);
/* Quantile of the Beta(a, b) law: the x with I_x(a, b) = p, for a, b > 0, 0 <= p <= 1
 * (safeguarded Newton on the incomplete beta; relative accuracy ~1e-12). */
double dt_stats_beta_quantile(double p, double a, double b);

/*
 * Regularized incomplete gamma: P(a, x) (lower) and Q(a, x) = 1 - P (upper), a > 0, x >= 0
 * (series for x < a + 1, continued fraction otherwise). The upper tail is computed directly.
 */
double dt_stats_gammainc_p(double a, double x);
double dt_stats_gammainc_q(double a, double x);
double dt_stats_gammainc_q_log(double a, double x);

/*
 * Standard normal. cdf/sf come from erfc (full relative accuracy in each tail); the log forms
 * switch to the Laplace continued fraction of the Mills ratio beyond |z| = 37, where erfc
 * underflows, so log sf(50) = -1254.8 is exact to ~1e-15.
 */
double dt_stats_norm_pdf(double z);
double dt_stats_norm_cdf(double z);
double dt_stats_norm_sf(double z);
double dt_stats_norm_cdf_log(double z);
double dt_stats_norm_sf_log(double z);
/* Inverse of the cdf for 0 < p < 1 (Acklam's rational start + Newton steps in log space;
 * ~1e-15 relative). p = 0 gives -HUGE_VAL and p = 1 gives +HUGE_VAL. */
double dt_stats_norm_quantile(double p);
/* The z with log cdf(z) = log_p, for log_p <= 0: reaches p far below 1e-308. */
double dt_stats_norm_quantile_log(double log_p);
/* The z with sf(z) = exp(log_p): the z-score of a one-sided p-value given as its log. */
double dt_stats_norm_isf_log(double log_p);

/* Student t with df > 0 degrees of freedom (non-integer df allowed, as Welch needs), via the
 * incomplete beta with 1 - x passed exactly. */
double dt_stats_t_cdf(double t, double df);
double dt_stats_t_sf(double t, double df);
double dt_stats_t_sf_log(double t, double df);
/* The t with sf(t) = p, 0 < p < 1 (through the beta quantile). */
double dt_stats_t_isf(double p, double df);

/* Chi-square upper tail P(X >= x) with df > 0 degrees of freedom = Q(df/2, x/2). */
double dt_stats_chi2_sf(double x, double df);
double dt_stats_chi2_sf_log(double x, double df);

/*
 * Binomial(n, p). Counts are doubles holding integers (exact up to 2^53); n up to 10^7 and
 * beyond. `_sf` is P(X >= k) = I_p(k, n - k + 1); k <= 0 gives 1, k > n gives 0.
 * `_pmf_log` is Loader's saddle-point form of log P(X = k).
 */
double dt_stats_binom_pmf_log(double k, double n, double p);
double dt_stats_binom_sf(double k, double n, double p);
double dt_stats_binom_sf_log(double k, double n, double p);
double dt_stats_binom_cdf(double k, double n, double p); /* P(X <= k) */

/*
 * Hypergeometric: n_draw draws without replacement from a population of n_pop items of which
 * n_succ are successes; X counts successes drawn. Support max(0, n_draw - (n_pop - n_succ))
 * .. min(n_draw, n_succ). `_sf` is P(X >= k) (inclusive), summed term by term from the mode
 * outwards with ratio recurrences (cost O(support)); the pmf by the saddle-point form.
 * Counts are integers held in doubles, 0 <= n_succ, n_draw <= n_pop < 2^53.
 */
double dt_stats_hyper_pmf_log(double k, double n_pop, double n_succ, double n_draw);
double dt_stats_hyper_sf(double k, double n_pop, double n_succ, double n_draw);
double dt_stats_hyper_sf_log(double k, double n_pop, double n_succ, double n_draw);

/* log(exp(a) + exp(b)) and log(1 - exp(a)) for a <= 0, without overflow or cancellation. */
double dt_stats_logaddexp(double a, double b);
double dt_stats_log1mexp(double a);

#endif

/*
 * Unit tests for detect/: distributions against closed forms and high-precision references,
 * far-tail accuracy, each hypothesis test against hand-countable cases and brute-force
 * enumeration, multiplicity and combination rules, and calibration of the tests under
 * simulated nulls.
 *
 * Reference values marked "fractions" were computed exactly in python3 with
 * fractions.Fraction and math.comb; those marked "mpmath" with mpmath at 40 digits
 * (mp.ncdf, mp.betainc, mp.gammainc, mp.findroot), then pasted here.
 */
#include "detect/attribution.h"
#include "detect/multiple.h"
#include "detect/stats.h"
#include "detect/tests.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int rel_ok(double got, double want, double tol)
{
    if (want == 0)
        return fabs(got) <= tol;
    return fabs(got - want) <= tol * fabs(want);
}

#define TAP_REL(got, want, tol, name)                                                              \
    TAP_OK(rel_ok((got), (want), (tol)), "%s (got %.17g, want %.17g)", name, (double)(got),        \
           (double)(want))

static void test_distributions(void)
{
    /* incomplete beta: closed forms */
    TAP_REL(dt_stats_betainc(3.5, 1, 0.3), pow(0.3, 3.5), 1e-13, "I_x(a,1) = x^a");
    TAP_REL(dt_stats_betainc(1, 7.25, 0.2), 1 - pow(0.8, 7.25), 1e-13, "I_x(1,b) = 1-(1-x)^b");
    TAP_REL(dt_stats_betainc(123.5, 123.5, 0.5), 0.5, 1e-13, "I_1/2(a,a) = 1/2");
    TAP_REL(dt_stats_betainc(2, 3, 0.4), 0.5248, 1e-13, "I_0.4(2,3) = 0.5248 (polynomial)");
    TAP_REL(dt_stats_betainc(0.5, 0.5, 0.3), 2 / M_PI * asin(sqrt(0.3)), 1e-13,
            "I_x(1/2,1/2) = (2/pi) asin sqrt x");
    TAP_REL(dt_stats_betainc(40, 60, 0.3) + dt_stats_betainc_upper(40, 60, 0.3), 1, 1e-14,
            "lower + upper = 1");
    TAP_REL(dt_stats_betainc_upper(5, 3, 0.01), dt_stats_betainc(3, 5, 0.99), 1e-13,
            "1 - I_x(a,b) = I_{1-x}(b,a)");

    /* incomplete gamma, chi-square */
    TAP_REL(dt_stats_gammainc_p(1, 0.7), -expm1(-0.7), 1e-14, "P(1,x) = 1 - e^-x");
    TAP_REL(dt_stats_gammainc_q(3, 2.5), exp(-2.5) * (1 + 2.5 + 2.5 * 2.5 / 2), 1e-14,
            "Q(3,x) = e^-x (1 + x + x^2/2)");
    TAP_REL(dt_stats_gammainc_q_log(5, 50), -37.44838565575167118556, 1e-14,
            "log Q(5,50) (mpmath)");
    TAP_REL(dt_stats_gammainc_q_log(1e6, 1.01e6), -52.90052830914024938264, 1e-12,
            "log Q(1e6, 1.01e6) (mpmath)");
    TAP_REL(dt_stats_chi2_sf(3.841458820694124, 1), 0.05, 1e-12, "chi2(1) 95%% point");
    TAP_REL(dt_stats_chi2_sf_log(2000, 2), -1000, 1e-14, "chi2(2) far tail = e^-x/2 in log");

    /* normal */
    TAP_REL(dt_stats_norm_cdf(1.959963984540054), 0.975, 1e-14, "Phi(1.96)");
    TAP_REL(dt_stats_norm_sf(10), 7.619853024160526066e-24, 1e-13, "sf(10) (mpmath)");
    TAP_REL(dt_stats_norm_sf_log(40), -804.6084420137537881666, 1e-15, "log sf(40) (mpmath)");
    TAP_REL(dt_stats_norm_sf_log(50), -1254.831361139419901254, 1e-15, "log sf(50) (mpmath)");
    TAP_REL(dt_stats_norm_cdf(-1.3) + dt_stats_norm_cdf(1.3), 1, 1e-15, "Phi(-z) + Phi(z) = 1");
    TAP_REL(dt_stats_norm_quantile(0.975), 1.959963984540053856, 1e-14, "quantile(0.975)");
    TAP_REL(dt_stats_norm_quantile(1e-300), -37.04709629936119924, 1e-14,
            "quantile(1e-300) (mpmath)");
    TAP_REL(dt_stats_norm_quantile_log(-2000), -63.16541860878360948, 1e-14,
            "quantile of log p = -2000 (mpmath)");
    int qok = 1;
    for (double p = 1e-12; p < 1; p *= 3.7) {
        double z = dt_stats_norm_quantile(p);
        if (!rel_ok(dt_stats_norm_cdf(z), p, 1e-13))
            qok = 0;
    }
    TAP_OK(qok, "Phi(quantile(p)) = p over 1e-12..1");
    TAP_REL(dt_stats_norm_isf_log(log(0.025)), 1.959963984540053856, 1e-14, "isf from log p");

    /* Student t */
    TAP_REL(dt_stats_t_cdf(1.7, 1), 0.5 + atan(1.7) / M_PI, 1e-14, "t(1) is Cauchy");
    TAP_REL(dt_stats_t_cdf(-0.4, 2), 0.5 - 0.4 / (2 * sqrt(2 + 0.16)), 1e-14, "t(2) closed form");
    TAP_REL(dt_stats_t_sf(2.015048373333024194, 5), 0.05, 1e-12, "t(5) 95%% point (mpmath)");
    TAP_REL(dt_stats_t_isf(0.05, 5), 2.015048373333024194, 1e-11, "t(5) isf");
    TAP_REL(dt_stats_t_sf(1.96, 1e8), dt_stats_norm_sf(1.96), 1e-7, "t(1e8) ~ normal");
    TAP_REL(dt_stats_t_sf(1e-9, 3), 0.5 - 1e-9 * 2 / (M_PI * sqrt(3)), 1e-12,
            "t(3) near 0 keeps 1-x exact");

    /* binomial */
    TAP_REL(dt_stats_binom_sf(7, 10, 0.5), 11.0 / 64, 1e-14, "binom sf 7/10 = 11/64 (fractions)");
    TAP_REL(dt_stats_binom_sf(600, 1000, 0.25), 3.91963433284311e-121, 1e-12,
            "binom sf n=1000 k=600 p=1/4 (fractions)");
    TAP_REL(dt_stats_binom_sf_log(600, 1000, 0.25), -277.2467978852662160468, 1e-14,
            "log of it (fractions)");
    TAP_REL(dt_stats_binom_sf_log(1500, 2000, 0.25), -1102.377212539319743752, 1e-14,
            "binom sf below 1e-300 in log (fractions)");
    TAP_REL(dt_stats_binom_sf_log(5010000, 1e7, 0.5), -22.78494585604417602900, 1e-12,
            "binom sf n=1e7 (mpmath, ratio sum)");
    int idok = 1;
    for (int k = 0; k <= 50; k++)
        if (!rel_ok(dt_stats_binom_sf(k, 50, 0.37) + dt_stats_binom_cdf(k - 1, 50, 0.37), 1, 1e-13))
            idok = 0;
    TAP_OK(idok, "binom sf(k) + cdf(k-1) = 1 for n=50");
    TAP_OK(dt_stats_binom_sf(0, 10, 0.3) == 1 && dt_stats_binom_sf(11, 10, 0.3) == 0,
           "binom sf edges");
    TAP_REL(dt_stats_binom_sf(30, 60, 0.5) + dt_stats_binom_sf(31, 60, 0.5), 1, 1e-14,
            "symmetric binomial: P(X>=30) + P(X>=31) = 1");

    /* hypergeometric */
    TAP_REL(dt_stats_hyper_sf(3, 8, 4, 4), 17.0 / 70, 1e-14, "hyper sf (tea tasting)");
    TAP_REL(dt_stats_hyper_sf_log(300, 2000, 500, 600), -137.4716710109748259108, 1e-13,
            "hyper far tail (math.comb sum, mpmath log)");
    double hs = 0;
    for (int k = 0; k <= 20; k++)
        hs += exp(dt_stats_hyper_pmf_log(k, 50, 20, 25));
    TAP_REL(hs, 1, 1e-13, "hyper pmf sums to 1");
    TAP_REL(dt_stats_hyper_sf(5, 50, 20, 25) + (1 - dt_stats_hyper_sf(5, 50, 20, 25)), 1, 0,
            "hyper sf below mode is finite");

    /* beta quantile */
    TAP_REL(dt_stats_beta_quantile(0.025, 7, 4), 0.3475471499400027083, 1e-11,
            "beta quantile = Clopper-Pearson lower for 7/10 (mpmath)");
    double bq = dt_stats_beta_quantile(1e-12, 0.5, 200);
    TAP_REL(dt_stats_betainc(0.5, 200, bq), 1e-12, 1e-10, "beta quantile at p = 1e-12");
    TAP_REL(dt_stats_logaddexp(log(0.25), log(0.5)), log(0.75), 1e-15, "logaddexp");
}

/* brute-force rank test p-value: enumerate every choice of the suspect's position per probe */
static double brute_rank_p(const double *x, size_t n, size_t m)
{
    long r2[16];
    double rk[8][16];
    for (size_t i = 0; i < n; i++) {
        const double *v = x + i * m;
        for (size_t j = 0; j < m; j++) {
            double lt = 0, eq = 0;
            for (size_t l = 0; l < m; l++) {
                lt += v[l] < v[j];
                eq += v[l] == v[j];
            }
            rk[i][j] = lt + (eq + 1) / 2;
        }
    }
    (void)r2;
    double obs = 0;
    for (size_t i = 0; i < n; i++)
        obs += rk[i][0];
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total *= m;
    size_t count = 0;
    for (size_t c = 0; c < total; c++) {
        size_t t = c;
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            s += rk[i][t % m];
            t /= m;
        }
        count += s >= obs - 1e-9;
    }
    return (double)count / (double)total;
}

static void test_tests(void)
{
    struct dt_test_result r, r2;
    struct dt_error err;
    struct dt_test_opts o;
    dt_test_opts_init(&o);

    /* binomial */
    TAP_OK(dt_test_binomial(7, 10, 0.5, NULL, &r, &err) == 0, "binomial test runs");
    TAP_REL(r.p_value, 11.0 / 64, 1e-14, "binomial test p = 11/64");
    TAP_REL(r.ci_low, 0.3475471499400027083, 1e-10, "Clopper-Pearson lower (mpmath)");
    TAP_REL(r.ci_high, 0.9332604888222655104, 1e-10, "Clopper-Pearson upper (mpmath)");
    TAP_OK(r.has_approx && r.z > 1.26 && r.z < 1.27, "binomial z = 1.265");
    TAP_OK(dt_test_binomial(1500, 2000, 0.25, NULL, &r, &err) == 0 && r.p_value == 0 &&
               rel_ok(r.log_p, -1102.377212539319743752, 1e-14),
           "binomial p underflows but log p is exact");
    TAP_OK(dt_test_binomial(3, 10, 0, NULL, &r, &err) == DT_EINVAL, "binomial rejects p0 = 0");
    TAP_OK(dt_test_binomial(11, 10, 0.5, NULL, &r, &err) == DT_EINVAL, "binomial rejects k > n");

    /* Fisher: values from fractions/math.comb */
    TAP_OK(dt_test_fisher(3, 1, 1, 3, NULL, &r, &err) == 0, "fisher runs");
    TAP_REL(r.p_value, 17.0 / 70, 1e-14, "fisher tea tasting p = 17/70");
    TAP_REL(r.effect, 9, 1e-14, "fisher odds ratio 9");
    TAP_OK(dt_test_fisher(8, 2, 1, 5, NULL, &r, &err) == 0 && rel_ok(r.p_value, 7.0 / 286, 1e-13),
           "fisher p = 7/286");
    o.mid_p = 1;
    TAP_OK(dt_test_fisher(8, 2, 1, 5, &o, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.012674825174825174, 1e-13),
           "fisher mid-p = 29/2288");
    o.mid_p = 0;
    TAP_OK(dt_test_fisher(12, 38, 3, 147, NULL, &r, &err) == 0 &&
               rel_ok(r.p_value, 4.8557044181918255e-06, 1e-12),
           "fisher 12/50 vs 3/150 (fractions)");
    TAP_OK(dt_test_fisher(60, 40, 5, 895, NULL, &r, &err) == 0 &&
               rel_ok(r.log_p, -143.5277082914620923611, 1e-13),
           "fisher far tail log p (fractions)");
    TAP_OK(dt_test_fisher(0, 10, 0, 30, NULL, &r, &err) == 0 && r.p_value == 1 && r.has_ci,
           "fisher with no hits: p = 1, corrected odds ratio");
    TAP_OK(dt_test_fisher(1, 0, 0, 5, NULL, &r, &err) == 0 && rel_ok(r.p_value, 1.0 / 6, 1e-14),
           "fisher single suspect trial: p = 1/6");
    TAP_OK(dt_test_fisher(0, 0, 1, 1, NULL, &r, &err) == DT_EINVAL, "fisher rejects empty row");

    /* rank test: brute force on small designs with ties */
    o.n_boot = 0;
    double xs[] = {3, 1, 2, 5, 5, 1, 2, 2, 2, 0.5, 0.7, 0.1, 4, 4, 5};
    TAP_OK(dt_test_rank_controls(xs, 5, 3, &o, &r, &err) == 0, "rank test runs (ties)");
    TAP_REL(r.p_value, brute_rank_p(xs, 5, 3), 1e-12, "rank test with ties = brute force");
    TAP_REL(r.statistic, 3 + 2.5 + 2 + 2 + 1.5, 1e-14, "rank test statistic = sum of mid-ranks");
    struct dt_rng rng;
    dt_rng_seed(&rng, 7);
    int bok = 1;
    for (int rep = 0; rep < 20; rep++) {
        double xr[6 * 4];
        for (size_t i = 0; i < 24; i++)
            xr[i] = floor(dt_rng_uniform(&rng) * 3) + (i % 4 == 0 ? 0.6 * (rep % 3) : 0);
        dt_test_rank_controls(xr, 6, 4, &o, &r, &err);
        if (!rel_ok(r.p_value, brute_rank_p(xr, 6, 4), 1e-11))
            bok = 0;
    }
    TAP_OK(bok, "rank test = brute force on 20 random tied designs");
    /* far tail: 400 probes, 4 controls, suspect closest on all but one probe where it is 2nd:
     * P(S >= max - 1) = (1 + 400) / 5^400 */
    double *xf = malloc(400 * 5 * sizeof *xf);
    for (size_t i = 0; i < 400; i++)
        for (size_t j = 0; j < 5; j++)
            xf[i * 5 + j] = j == 0 ? (i == 17 ? 3.5 : 10) : (double)j;
    TAP_OK(dt_test_rank_controls(xf, 400, 5, &o, &r, &err) == 0 && r.p_value < 1e-270 &&
               rel_ok(r.log_p, log(401.0) - 400 * log(5.0), 1e-12),
           "rank test far tail exact in log (%.15g)", r.log_p);
    TAP_REL(r.log_p_min, -400 * log(5.0), 1e-14, "rank test log p_min = -n log(k+1)");
    free(xf);
    /* no-tie sum of uniforms: 3 probes, suspect ranks 3,3,2 of 3 -> P(S >= 8) = 4/27 */
    double xu[] = {9, 1, 2, 9, 2, 1, 5, 1, 7};
    dt_test_rank_controls(xu, 3, 3, &o, &r, &err);
    TAP_REL(r.p_value, 4.0 / 27, 1e-13, "rank test 3 probes: 4/27");
    o.exact_budget = 0;
    dt_test_rank_controls(xu, 3, 3, &o, &r2, &err);
    TAP_OK(r2.method == DT_TEST_ASYMPTOTIC && rel_ok(r2.p_value, r.p_value, 0.1),
           "rank test falls back to an approximation over budget (%g vs %g)", r2.p_value,
           r.p_value);
    /* saddle-point fallback against the exact convolution in a far tail: 300 probes, 4
     * controls, suspect shifted by 2 sd (exact log p ~ -293) */
    double *xs3 = malloc(300 * 5 * sizeof *xs3);
    for (size_t i = 0; i < 1500; i++)
        xs3[i] = dt_rng_normal(&rng) + (i % 5 == 0 ? 2 : 0);
    o.exact_budget = 1e12;
    dt_test_rank_controls(xs3, 300, 5, &o, &r, &err);
    o.exact_budget = 0;
    dt_test_rank_controls(xs3, 300, 5, &o, &r2, &err);
    TAP_OK(r.method == DT_TEST_EXACT && r2.method == DT_TEST_ASYMPTOTIC && r.log_p < -200 &&
               fabs(r2.log_p - r.log_p) < 0.01,
           "saddle-point fallback within 1%% of exact at log p %.3f (got %.3f)", r.log_p, r2.log_p);
    free(xs3);
    o.exact_budget = 1e9;
    o.n_boot = 500;
    dt_test_rank_controls(xu, 3, 3, &o, &r, &err);
    TAP_OK(r.has_ci && r.ci_low <= r.effect && r.effect <= r.ci_high && r.ci_high <= 3,
           "rank test bootstrap CI brackets the mean rank");
    TAP_OK(dt_test_rank_controls(xu, 3, 1, &o, &r, &err) == DT_EINVAL, "rank test needs a control");

    /* sign-flip */
    double d[] = {1, 2, 3, 4, -1};
    /* sum 9; sign vectors with sum >= 9: all +, flip the -1... count by hand: sums of
     * (+-1 +-2 +-3 +-4 +-1) >= 9: {+,+,+,+,+}=11, {+,+,+,+,-}=9, {-,+,+,+,+}=9: 3/32 */
    o.n_boot = 0;
    TAP_OK(dt_test_sign_flip(d, 5, &o, &r, &err) == 0 && rel_ok(r.p_value, 3.0 / 32, 1e-14),
           "sign-flip exact p = 3/32");
    TAP_OK(r.method == DT_TEST_EXACT && rel_ok(r.statistic, 1.8, 1e-14),
           "sign-flip statistic = mean");
    TAP_OK(dt_test_sign_flip_two_sided(d, 5, &o, &r, &err) == 0 &&
               rel_ok(r.p_value, 6.0 / 32, 1e-14),
           "two-sided sign-flip p = 6/32");
    double dm[40];
    for (int i = 0; i < 40; i++)
        dm[i] = 0.3 + dt_rng_normal(&rng);
    o.n_resamples = 1999;
    dt_test_sign_flip(dm, 40, &o, &r, &err);
    dt_test_sign_flip(dm, 40, &o, &r2, &err);
    TAP_OK(r.method == DT_TEST_MONTE_CARLO && r.p_value == r2.p_value &&
               fabs(r.p_value - r.p_approx) < 0.03,
           "sign-flip Monte Carlo is seeded and agrees with its normal check (%g vs %g)", r.p_value,
           r.p_approx);
    double zeros[5] = {0};
    TAP_OK(dt_test_sign_flip(zeros, 5, &o, &r, &err) == 0 && r.p_value == 1,
           "all-zero differences: p = 1");
    o.n_boot = 1000;
    dt_test_sign_flip(dm, 40, &o, &r, &err);
    TAP_OK(r.has_ci && r.ci_low < r.effect && r.effect < r.ci_high, "sign-flip bootstrap CI");

    /* Welch (mpmath reference) */
    double wx[] = {28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7,
                   23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4, 23.9, 13.3};
    double wy[] = {19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0};
    TAP_OK(dt_test_welch(wx, 20, wy, 10, NULL, &r, &err) == 0, "welch runs");
    TAP_REL(r.statistic, 2.225512039969853511, 1e-12, "welch t (mpmath)");
    TAP_REL(r.p_value, 0.01774226541500509823, 1e-10, "welch p, df 24.52 (mpmath)");
    TAP_OK(r.ci_low < r.effect && r.effect < r.ci_high, "welch CI brackets the difference");
    double cst[] = {1, 1, 1};
    TAP_OK(dt_test_welch(cst, 3, cst, 3, NULL, &r, &err) == 0 && !r.valid && r.p_value == 1,
           "welch on constant samples is flagged invalid");

    /* Mann-Whitney */
    double mx[] = {4, 5}, my[] = {1, 2, 3};
    TAP_OK(dt_test_mann_whitney(mx, 2, my, 3, NULL, &r, &err) == 0 && r.statistic == 6 &&
               rel_ok(r.p_value, 0.1, 1e-13),
           "mann-whitney exact p = 1/C(5,2)");
    TAP_OK(dt_test_mann_whitney(my, 3, mx, 2, NULL, &r, &err) == 0 && rel_ok(r.p_value, 1, 1e-13),
           "mann-whitney other direction p = 1");
    /* ties: x = {2, 3, 3}, y = {1, 2, 3, 3}; brute force over the 35 3-subsets of mid-ranks */
    double tx[] = {2, 3, 3}, ty[] = {1, 2, 3, 3};
    double all[] = {2, 3, 3, 1, 2, 3, 3}, mr[7];
    for (int j = 0; j < 7; j++) {
        double lt = 0, eq = 0;
        for (int l = 0; l < 7; l++) {
            lt += all[l] < all[j];
            eq += all[l] == all[j];
        }
        mr[j] = lt + (eq + 1) / 2;
    }
    double obs = mr[0] + mr[1] + mr[2];
    int cnt = 0, tot = 0;
    for (int a = 0; a < 7; a++)
        for (int b = a + 1; b < 7; b++)
            for (int c = b + 1; c < 7; c++) {
                tot++;
                cnt += mr[a] + mr[b] + mr[c] >= obs - 1e-9;
            }
    TAP_OK(dt_test_mann_whitney(tx, 3, ty, 4, NULL, &r, &err) == 0 &&
               rel_ok(r.p_value, (double)cnt / tot, 1e-13),
           "mann-whitney exact with ties = brute force (%d/%d)", cnt, tot);
    o.exact_budget = 0;
    TAP_OK(dt_test_mann_whitney(tx, 3, ty, 4, &o, &r2, &err) == 0 &&
               r2.method == DT_TEST_ASYMPTOTIC && fabs(r2.p_value - r.p_value) < 0.15,
           "mann-whitney normal approximation near the exact p");
    o.exact_budget = 1e9;

    /* suspect vs controls */
    double ctl[] = {1, 2, 3};
    TAP_OK(dt_test_vs_controls(10, ctl, 3, &r, &r2, &err) == 0, "vs-controls runs");
    TAP_REL(r.p_value, 0.25, 1e-15, "three controls: empirical p = 1/4 at best");
    TAP_REL(r.log_p_min, log(0.25), 1e-15, "and log_p_min says so");
    double t = 8 / sqrt(4.0 / 3);
    TAP_REL(r2.p_value, 0.5 - t / (2 * sqrt(2 + t * t)), 1e-12,
            "parametric t with 2 df (closed form)");
    TAP_OK(strstr(r2.name, "normal") != NULL, "parametric test is labelled as assuming normality");
    TAP_OK(dt_test_vs_controls(2, ctl, 3, &r, &r2, &err) == 0 && rel_ok(r.p_value, 0.75, 1e-15),
           "ties count against the suspect: p = 3/4");
    double same[] = {2, 2};
    TAP_OK(dt_test_vs_controls(3, same, 2, &r, &r2, &err) == 0 && !r2.valid && r2.p_value == 1,
           "identical controls make the parametric test invalid, not significant");

    /* attribution */
    double sc[30 * 3];
    for (int i = 0; i < 30; i++) {
        sc[i * 3 + 0] = dt_rng_normal(&rng);
        sc[i * 3 + 1] = 1.0 + dt_rng_normal(&rng) * 0.3;
        sc[i * 3 + 2] = 0.2 + dt_rng_normal(&rng);
    }
    struct dt_attribution at;
    o.n_boot = 200;
    TAP_OK(dt_attribution_best(sc, 30, 3, &o, &at, &err) == 0 && at.i_best == 1 &&
               at.i_runner_up == 2 && at.margin.p_value < 0.01,
           "attribution picks the clear winner (p %g)", at.margin.p_value);
}

static double mean_stat(const size_t *idx, size_t n, void *ctx)
{
    const double *v = ctx;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[idx[i]];
    return s / (double)n;
}

static void test_bootstrap(void)
{
    struct dt_test_opts o;
    struct dt_error err;
    dt_test_opts_init(&o);
    double cv[] = {4, 4, 4, 4}, lo, hi, lo2, hi2;
    TAP_OK(dt_bootstrap_ci(4, mean_stat, cv, &o, &lo, &hi, &err) == 0 && lo == 4 && hi == 4,
           "bootstrap of a constant is a point");
    double v[50];
    for (int i = 0; i < 50; i++)
        v[i] = i;
    dt_bootstrap_ci(50, mean_stat, v, &o, &lo, &hi, &err);
    dt_bootstrap_ci(50, mean_stat, v, &o, &lo2, &hi2, &err);
    /* mean 24.5, sd of the mean 14.43/sqrt(50) = 2.04: 95% interval ~ +-4 */
    TAP_OK(lo == lo2 && hi == hi2 && lo > 19.5 && lo < 22 && hi > 27 && hi < 29.5,
           "bootstrap is seeded and about +-2 se (%g, %g)", lo, hi);
    o.n_boot = 1;
    TAP_OK(dt_bootstrap_ci(50, mean_stat, v, &o, &lo, &hi, &err) == DT_EINVAL,
           "bootstrap needs 2 replicates");
}

static void test_multiple(void)
{
    struct dt_error err;
    struct dt_test_result r;
    double p[] = {0.01, 0.04, 0.03, 0.005}, lp[4], adj[4];
    for (int i = 0; i < 4; i++)
        lp[i] = log(p[i]);
    dt_mult_holm(lp, 4, adj, &err);
    TAP_OK(rel_ok(exp(adj[0]), 0.03, 1e-14) && rel_ok(exp(adj[1]), 0.06, 1e-14) &&
               rel_ok(exp(adj[2]), 0.06, 1e-14) && rel_ok(exp(adj[3]), 0.02, 1e-14),
           "holm adjusted p");
    dt_mult_bonferroni(lp, 4, adj, &err);
    TAP_OK(rel_ok(exp(adj[1]), 0.16, 1e-14) && rel_ok(exp(adj[3]), 0.02, 1e-14), "bonferroni");
    dt_mult_bh(lp, 4, adj, &err);
    TAP_OK(rel_ok(exp(adj[0]), 0.02, 1e-14) && rel_ok(exp(adj[1]), 0.04, 1e-14) &&
               rel_ok(exp(adj[2]), 0.04, 1e-14) && rel_ok(exp(adj[3]), 0.02, 1e-14),
           "benjamini-hochberg q-values");
    double big[] = {log(0.9), log(0.8)};
    dt_mult_holm(big, 2, adj, &err);
    TAP_OK(adj[0] == 0 && adj[1] == 0, "holm caps at 1");

    double f2[] = {log(0.1), log(0.2)};
    TAP_OK(dt_combine_fisher(f2, 2, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.02 * (1 - log(0.02)), 1e-13),
           "fisher combination of two: p1p2(1 - ln p1p2)");
    double s2[] = {log(0.05), log(0.05)};
    TAP_OK(dt_combine_stouffer(s2, NULL, 2, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.01000462685805901891, 1e-12),
           "stouffer of two 0.05 (mpmath)");
    double c1[] = {log(0.037)};
    TAP_OK(dt_combine_cauchy(c1, NULL, 1, &r, &err) == 0 && rel_ok(r.p_value, 0.037, 1e-12),
           "cauchy of one p is itself");
    double c2[] = {log(0.2), log(0.2), log(0.2)};
    TAP_OK(dt_combine_cauchy(c2, NULL, 3, &r, &err) == 0 && rel_ok(r.p_value, 0.2, 1e-12),
           "cauchy of equal p is that p");
    double c3[] = {-400 * M_LN10, log(0.5)};
    TAP_OK(dt_combine_cauchy(c3, NULL, 2, &r, &err) == 0 &&
               rel_ok(r.log_p, log(2.0) - 400 * M_LN10, 1e-12),
           "cauchy keeps p = 1e-400 (log p %.10g)", r.log_p);
    TAP_OK(dt_combine_fisher(c3, 2, &r, &err) == 0 && r.log_p < -900 && isfinite(r.log_p),
           "fisher combination of 1e-400 stays finite in log");
    double bad[] = {0.1};
    TAP_OK(dt_combine_fisher(bad, 1, &r, &err) == DT_EINVAL, "positive log p rejected");
}

/* Every allocation in the tests can fail: each must return DT_ENOMEM, leak nothing (ASan) and
 * succeed again once allocation works. */
static void test_alloc_failures(void)
{
    struct dt_test_opts o;
    dt_test_opts_init(&o);
    o.n_boot = 50;
    struct dt_test_result r;
    struct dt_attribution at;
    struct dt_error err;
    double x[] = {3, 1, 2, 5, 5, 1, 2, 2, 2, 0.5, 0.7, 0.1}, adj[4];
    double lp[] = {-1, -2, -3, -4};
    int all_ok = 1, first_fail = 1;
    for (long n = 0; n < 12; n++) {
        int rc[5];
        dt_alloc_fail_after(n);
        rc[0] = dt_test_rank_controls(x, 4, 3, &o, &r, &err);
        dt_alloc_fail_after(n);
        rc[1] = dt_test_mann_whitney(x, 5, x + 5, 7, &o, &r, &err);
        dt_alloc_fail_after(n);
        rc[2] = dt_test_sign_flip(x, 12, &o, &r, &err);
        dt_alloc_fail_after(n);
        rc[3] = dt_mult_holm(lp, 4, adj, &err);
        dt_alloc_fail_after(n);
        rc[4] = dt_attribution_best(x, 4, 3, &o, &at, &err);
        dt_alloc_fail_after(-1);
        for (int i = 0; i < 5; i++)
            if ((rc[i] != 0 && rc[i] != DT_ENOMEM) || (n == 0 && rc[i] != DT_ENOMEM))
                all_ok = n == 0 ? (first_fail = 0) : 0;
    }
    TAP_OK(first_fail, "the first allocation failing is reported as DT_ENOMEM by every test");
    TAP_OK(all_ok, "allocation failures give DT_ENOMEM or success, never another error");
    TAP_OK(dt_test_rank_controls(x, 4, 3, &o, &r, &err) == 0,
           "and the tests work again afterwards");
}

/* ---- calibration under simulated nulls ---- */

#define N_SIM 2000

static int frac_ok(double frac, double expected)
{
    /* binomial tolerance: 4 standard errors of a proportion over N_SIM draws */
    double se = sqrt(expected * (1 - expected) / N_SIM);
    return fabs(frac - expected) <= 4 * se;
}

static void test_calibration(void)
{
    struct dt_rng rng;
    dt_rng_seed(&rng, 20240611);
    struct dt_test_opts o;
    dt_test_opts_init(&o);
    o.n_boot = 0;
    struct dt_test_result r;
    struct dt_error err;

    /* rank test: 30 probes, 4 controls, continuous scores (exchangeable by construction) */
    int rej = 0;
    double x[30 * 5];
    for (int s = 0; s < N_SIM; s++) {
        for (int i = 0; i < 150; i++)
            x[i] = dt_rng_normal(&rng);
        dt_test_rank_controls(x, 30, 5, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    double fr = (double)rej / N_SIM;
    TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM) && fr >= 0.03,
           "calibration: rank test size %.4f at 0.05", fr);
    printf("# calibration rank test (30 probes, 4 controls): %.4f\n", fr);

    /* rank test with heavy ties: scores are integers 0..2 */
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        for (int i = 0; i < 150; i++)
            x[i] = (double)dt_rng_below(&rng, 3);
        dt_test_rank_controls(x, 30, 5, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM) && fr >= 0.03,
           "calibration: rank test with ties size %.4f", fr);
    printf("# calibration rank test with ties: %.4f\n", fr);

    /* sign-flip exact (n = 12) and Monte Carlo (n = 40, B = 199) */
    double d[40];
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        for (int i = 0; i < 12; i++)
            d[i] = dt_rng_normal(&rng) * (1 + i % 3);
        dt_test_sign_flip(d, 12, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM) && fr >= 0.03,
           "calibration: exact sign-flip size %.4f", fr);
    printf("# calibration sign-flip exact (n=12): %.4f\n", fr);
    o.n_resamples = 199;
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        for (int i = 0; i < 40; i++)
            d[i] = dt_rng_uniform(&rng) - 0.5;
        o.seed = (uint64_t)s + 1;
        dt_test_sign_flip(d, 40, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(frac_ok(fr, 0.05), "calibration: Monte Carlo sign-flip size %.4f", fr);
    printf("# calibration sign-flip Monte Carlo (n=40, B=199): %.4f\n", fr);

    /* binomial: n = 100, p0 = 0.3; the test's exact size is sf(k*) where k* is the smallest k
     * with p <= 0.05, so the simulated rejection rate must match that number */
    double kstar = 0;
    while (dt_stats_binom_sf(kstar, 100, 0.3) > 0.05)
        kstar++;
    double size = dt_stats_binom_sf(kstar, 100, 0.3);
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        uint64_t k = 0;
        for (int i = 0; i < 100; i++)
            k += dt_rng_uniform(&rng) < 0.3;
        dt_test_binomial(k, 100, 0.3, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(frac_ok(fr, size) && size <= 0.05 && size > 0.03,
           "calibration: binomial size %.4f, exact size %.4f", fr, size);
    printf("# calibration binomial (n=100, p0=0.3): %.4f (exact size %.4f)\n", fr, size);

    /* Fisher: suspect 60 trials, controls 180, common rate 0.2. Conservative by design;
     * mid-p close to nominal. */
    int rej_mid = 0;
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        uint64_t a = 0, c = 0;
        for (int i = 0; i < 60; i++)
            a += dt_rng_uniform(&rng) < 0.2;
        for (int i = 0; i < 180; i++)
            c += dt_rng_uniform(&rng) < 0.2;
        o.mid_p = 0;
        dt_test_fisher(a, 60 - a, c, 180 - c, &o, &r, &err);
        rej += r.p_value < 0.05;
        o.mid_p = 1;
        dt_test_fisher(a, 60 - a, c, 180 - c, &o, &r, &err);
        rej_mid += r.p_value < 0.05;
    }
    o.mid_p = 0;
    fr = (double)rej / N_SIM;
    double fm = (double)rej_mid / N_SIM;
    TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM) && fr >= 0.02,
           "calibration: fisher size %.4f (conservative, not wildly)", fr);
    TAP_OK(frac_ok(fm, 0.05), "calibration: fisher mid-p size %.4f", fm);
    printf("# calibration fisher (60 vs 180 trials, rate 0.2): %.4f, mid-p %.4f\n", fr, fm);

    /* empirical control test: suspect exchangeable with 19 controls -> P(p <= 0.05) = 1/20 */
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        double c[19], sus = dt_rng_normal(&rng);
        for (int j = 0; j < 19; j++)
            c[j] = dt_rng_normal(&rng);
        struct dt_test_result rp;
        dt_test_vs_controls(sus, c, 19, &r, &rp, &err);
        rej += r.p_value <= 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(frac_ok(fr, 0.05), "calibration: empirical control test size %.4f", fr);
    printf("# calibration empirical vs 19 controls (p <= 0.05): %.4f\n", fr);
}

int main(void)
{
    test_distributions();
    test_tests();
    test_bootstrap();
    test_multiple();
    test_alloc_failures();
    test_calibration();
    return tap_done();
}

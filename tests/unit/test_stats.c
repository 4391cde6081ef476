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

static void test_tests(void)
{
    struct dt_test_result r, r2;
    struct dt_error err;
    struct dt_test_opts o;
    dt_test_opts_init(&o);

    /* model-level predictive t test: closed forms for k = 3 (t with 2 df:
     * sf(t) = 1/2 - t / (2 sqrt(t^2 + 2))) */
    struct dt_rng rng;
    dt_rng_seed(&rng, 7);
    double ctl[] = {1, 2, 3}, v0[] = {0, 0, 0};
    TAP_OK(dt_test_predictive(10, 0, ctl, v0, 3, &r, &err) == 0 && r.valid, "predictive test runs");
    double t = 8 / sqrt(4.0 / 3);
    TAP_REL(r.p_value, 0.5 - t / (2 * sqrt(2 + t * t)), 1e-12, "predictive t with 2 df (closed form)");
    TAP_REL(r.statistic, t, 1e-14, "predictive t = (s - mean) / (sd sqrt(1 + 1/k))");
    double vw[] = {4, 4, 4};
    TAP_OK(dt_test_predictive(10, 4, ctl, vw, 3, &r, &err) == 0 &&
               rel_ok(r.statistic, 8 / sqrt(4 * 4.0 / 3), 1e-14),
           "a spread below the within-model noise is floored at that noise");
    TAP_OK(dt_test_predictive(10, 0, ctl, v0, 1, &r, &err) == 0 && !r.valid && r.p_value == 1,
           "one control gives no between-model variance: invalid, p = 1");
    double same[] = {2, 2, 2};
    TAP_OK(dt_test_predictive(3, 0, same, v0, 3, &r, &err) == 0 && !r.valid && r.p_value == 1,
           "no variance anywhere: invalid, not significant");
    double nanv[] = {1, NAN, 3};
    TAP_OK(dt_test_predictive(3, 0, nanv, v0, 3, &r, &err) == DT_EINVAL, "NaN control rejected");

    /* on rates (values from the closed form above on Anscombe's scale, scripted in Python) */
    uint64_t z3[] = {0, 0, 0}, n80[] = {80, 80, 80}, n100[] = {100, 100, 100};
    TAP_OK(dt_test_rate_models(80, 80, z3, n80, 3, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.0010032410089844124, 1e-9),
           "80/80 against three controls at 0/80: p = 1.0e-3 (%.10g)", r.p_value);
    TAP_OK(r.p_value < 0.01 / 3 && rel_ok(r.log_p_min, r.log_p, 1e-12),
           "overwhelming with 3 controls even after Holm over 3 tests; it is the design floor");
    uint64_t spread[] = {50, 45, 40};
    TAP_OK(dt_test_rate_models(62, 100, spread, n100, 3, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.04915298647636607, 1e-9),
           "62%% against controls at 50/45/40%%: p = 0.049, not significant (%.10g)", r.p_value);
    uint64_t spread4[] = {200, 180, 160}, n400[] = {400, 400, 400};
    TAP_OK(dt_test_rate_models(248, 400, spread4, n400, 3, &r, &err) == 0 && r.p_value > 0.04,
           "and with 4x the answers still p = %.3f: more answers do not shrink model variance",
           r.p_value);
    uint64_t n4[] = {4, 4, 4};
    double n4d[] = {4, 4, 4};
    TAP_OK(dt_test_rate_models(4, 4, z3, n4, 3, &r, &err) == 0 &&
               rel_ok(r.p_value, 0.0333010985017802, 1e-9) &&
               rel_ok(dt_test_rate_models_floor(4, n4d, 3), log(0.0333010985017802), 1e-9),
           "4 answers each: the best case is p = 0.033, the design floor");
    int mono = 1;
    double prev = 2;
    for (uint64_t h = 0; h <= 80; h++) {
        dt_test_rate_models(h, 80, spread, n100, 3, &r, &err);
        mono &= r.p_value <= prev;
        prev = r.p_value;
    }
    TAP_OK(mono, "p never rises as the suspect's hits rise");
    mono = 1;
    prev = 2;
    for (uint64_t n = 20; n <= 2000; n *= 2) {
        uint64_t cn[] = {n, n, n};
        dt_test_rate_models(n, n, z3, cn, 3, &r, &err);
        mono &= r.p_value < prev;
        prev = r.p_value;
    }
    TAP_OK(mono && prev < 1e-4, "0%% controls vs a 100%% suspect: p falls with more answers (%.2g at 1280)", prev);
    uint64_t n10c[] = {80, 80, 80, 80, 80, 80, 80, 80, 80, 80}, z10[10] = {0};
    TAP_OK(dt_test_rate_models(80, 80, z10, n10c, 10, &r, &err) == 0 && r.p_value < 1e-8,
           "and with 10 controls p = %.2g", r.p_value);
    TAP_OK(dt_test_rate_models(81, 80, z3, n80, 3, &r, &err) == DT_EINVAL, "hits above trials rejected");

    /* sign-flip */
    double d[] = {1, 2, 3, 4, -1};
    /* sum 9; sign vectors with sum >= 9: all +, flip the -1... count by hand: sums of
     * (+-1 +-2 +-3 +-4 +-1) >= 9: {+,+,+,+,+}=11, {+,+,+,+,-}=9, {-,+,+,+,+}=9: 3/32 */
    o.n_boot = 0;
    TAP_OK(dt_test_sign_flip_two_sided(d, 5, &o, &r, &err) == 0 &&
               rel_ok(r.p_value, 6.0 / 32, 1e-14),
           "two-sided sign-flip p = 6/32");
    TAP_OK(r.method == DT_TEST_EXACT && rel_ok(r.statistic, 1.8, 1e-14),
           "sign-flip statistic = mean");
    double dm[40];
    for (int i = 0; i < 40; i++)
        dm[i] = 0.3 + dt_rng_normal(&rng);
    o.n_resamples = 1999;
    dt_test_sign_flip_two_sided(dm, 40, &o, &r, &err);
    dt_test_sign_flip_two_sided(dm, 40, &o, &r2, &err);
    TAP_OK(r.method == DT_TEST_MONTE_CARLO && r.p_value == r2.p_value &&
               fabs(r.p_value - r.p_approx) < 0.03,
           "sign-flip Monte Carlo is seeded and agrees with its normal check (%g vs %g)", r.p_value,
           r.p_approx);
    double zeros[5] = {0};
    TAP_OK(dt_test_sign_flip_two_sided(zeros, 5, &o, &r, &err) == 0 && r.p_value == 1,
           "all-zero differences: p = 1");
    o.n_boot = 1000;
    dt_test_sign_flip_two_sided(dm, 40, &o, &r, &err);
    TAP_OK(r.has_ci && r.ci_low < r.effect && r.effect < r.ci_high, "sign-flip bootstrap CI");

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
    double p[] = {0.01, 0.04, 0.03, 0.005}, lp[4], adj[4];
    for (int i = 0; i < 4; i++)
        lp[i] = log(p[i]);
    dt_mult_holm(lp, 4, adj, &err);
    TAP_OK(rel_ok(exp(adj[0]), 0.03, 1e-14) && rel_ok(exp(adj[1]), 0.06, 1e-14) &&
               rel_ok(exp(adj[2]), 0.06, 1e-14) && rel_ok(exp(adj[3]), 0.02, 1e-14),
           "holm adjusted p");
    double big[] = {log(0.9), log(0.8)};
    dt_mult_holm(big, 2, adj, &err);
    TAP_OK(adj[0] == 0 && adj[1] == 0, "holm caps at 1");

}

/* Every allocation in the tests can fail: each must return DT_ENOMEM, leak nothing (ASan) and
 * succeed again once allocation works. */
static void test_alloc_failures(void)
{
    struct dt_test_opts o;
    dt_test_opts_init(&o);
    o.n_boot = 50;
    struct dt_test_result r;
    struct dt_error err;
    double x[] = {3, 1, 2, 5, 5, 1, 2, 2, 2, 0.5, 0.7, 0.1}, adj[4];
    uint64_t ch[] = {1, 2, 3}, cn[] = {10, 10, 10};
    double lp[] = {-1, -2, -3, -4};
    int all_ok = 1, first_fail = 1;
    for (long n = 0; n < 12; n++) {
        int rc[3];
        dt_alloc_fail_after(n);
        rc[0] = dt_test_rate_models(8, 10, ch, cn, 3, &r, &err);
        dt_alloc_fail_after(n);
        rc[1] = dt_test_sign_flip_two_sided(x, 12, &o, &r, &err);
        dt_alloc_fail_after(n);
        rc[2] = dt_mult_holm(lp, 4, adj, &err);
        dt_alloc_fail_after(-1);
        for (int i = 0; i < 3; i++)
            if ((rc[i] != 0 && rc[i] != DT_ENOMEM) || (n == 0 && rc[i] != DT_ENOMEM))
                all_ok = n == 0 ? (first_fail = 0) : 0;
    }
    TAP_OK(first_fail, "the first allocation failing is reported as DT_ENOMEM by every test");
    TAP_OK(all_ok, "allocation failures give DT_ENOMEM or success, never another error");
    TAP_OK(dt_test_rate_models(8, 10, ch, cn, 3, &r, &err) == 0,
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

    int rej = 0;
    double fr;
    /* sign-flip exact (n = 12) and Monte Carlo (n = 40, B = 199) */
    double d[40];
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        for (int i = 0; i < 12; i++)
            d[i] = dt_rng_normal(&rng) * (1 + i % 3);
        dt_test_sign_flip_two_sided(d, 12, &o, &r, &err);
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
        dt_test_sign_flip_two_sided(d, 40, &o, &r, &err);
        rej += r.p_value < 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(frac_ok(fr, 0.05), "calibration: Monte Carlo sign-flip size %.4f", fr);
    printf("# calibration sign-flip Monte Carlo (n=40, B=199): %.4f\n", fr);

    /* model-level rate test under simulated nulls: suspect and 3 controls are independent
     * models whose true rates are drawn from one population (normal on the arcsine scale,
     * clipped to [0, pi/2]: between-model spread tau), each answering 80 questions */
    const double taus[] = {0, 0.1, 0.3};
    const double mus[] = {0.5, 0.3, 0.8};
    for (int c = 0; c < 3; c++) {
        rej = 0;
        int rej01 = 0;
        for (int s = 0; s < N_SIM; s++) {
            uint64_t h[4], n[4] = {80, 80, 80, 80};
            for (int j = 0; j < 4; j++) {
                double th = mus[c] + taus[c] * dt_rng_normal(&rng);
                th = th < 0 ? 0 : th > M_PI / 2 ? M_PI / 2 : th;
                double rate = sin(th) * sin(th);
                h[j] = 0;
                for (int i = 0; i < 80; i++)
                    h[j] += dt_rng_uniform(&rng) < rate;
            }
            dt_test_rate_models(h[0], n[0], h + 1, n + 1, 3, &r, &err);
            rej += r.p_value <= 0.05;
            rej01 += r.p_value <= 0.01;
        }
        fr = (double)rej / N_SIM;
        TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM),
               "calibration: model-level rate test size %.4f at 0.05 (tau %.1f)", fr, taus[c]);
        TAP_OK((double)rej01 / N_SIM <= 0.01 + 4 * sqrt(0.01 * 0.99 / N_SIM),
               "calibration: model-level rate test size %.4f at 0.01 (tau %.1f)",
               (double)rej01 / N_SIM, taus[c]);
        printf("# calibration model-level rate test (3 controls, 80 answers, tau %.1f): %.4f at "
               "0.05, %.4f at 0.01\n",
               taus[c], fr, (double)rej01 / N_SIM);
    }
    /* the closeness form: per-model means with unequal noise of their own */
    rej = 0;
    for (int s = 0; s < N_SIM; s++) {
        double y[4], v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = 0.01 * (1 + j);
            y[j] = 0.2 * dt_rng_normal(&rng) + sqrt(v[j]) * dt_rng_normal(&rng);
        }
        dt_test_predictive(y[0], v[0], y + 1, v + 1, 3, &r, &err);
        rej += r.p_value <= 0.05;
    }
    fr = (double)rej / N_SIM;
    TAP_OK(fr <= 0.05 + 4 * sqrt(0.05 * 0.95 / N_SIM),
           "calibration: model-level predictive test size %.4f (unequal noise)", fr);
    printf("# calibration model-level predictive test (3 controls, unequal noise): %.4f\n", fr);
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

/*
 * Hypothesis tests: the two-sided paired sign-flip test (attribution margins), the
 * model-level predictive t test (every behavioural verdict signal) and the bootstrap helper.
 *
 * Invariants: p_value = exp(log_p) clamped to [0, 1]; log_p <= 0 and never NaN for valid
 * input; an exact p includes the observed configuration, a Monte Carlo p is (b+1)/(B+1).
 *
 * Sizes: the sign-flip enumeration is 2^n steps of O(1) (Gray code), 1M steps at n = 20; the
 * predictive test is O(k).
 */
#include "detect/tests.h"

#include "detect/stats.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BOOT_SEED_SALT 0x6a09e667f3bcc909ULL /* keeps bootstrap and permutation streams apart */

void dt_test_opts_init(struct dt_test_opts *o)
{
    o->ci_level = 0.95;
    o->seed = 1;
    o->n_resamples = 9999;
    o->n_boot = 2000;
    o->exact_max_n = 20;
}

static const struct dt_test_opts *opts_or_default(const struct dt_test_opts *o,
                                                  struct dt_test_opts *storage)
{
    if (o)
        return o;
    dt_test_opts_init(storage);
    return storage;
}

static void result_init(struct dt_test_result *r, const char *name, const char *alt,
                        const char *effect_name)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->alternative = alt;
    r->effect_name = effect_name;
    r->valid = 1;
    r->method = DT_TEST_EXACT;
    r->p_value = 1;
    r->log_p = 0;
    r->log_p_min = 0;
}

static void set_log_p(struct dt_test_result *r, double log_p)
{
    if (!(log_p <= 0)) /* also catches NaN: a defect must not read as evidence */
        log_p = 0;
    r->log_p = log_p;
    r->p_value = exp(log_p);
}

/* For p-values that are exact ratios: keep p itself exact (a Monte Carlo p of 1/20 must compare
 * equal to 0.05) and derive its log. */
static void set_p_ratio(struct dt_test_result *r, double num, double den)
{
    r->p_value = num >= den ? 1 : num / den;
    r->log_p = num >= den ? 0 : log(num) - log(den);
}

static void set_invalid(struct dt_test_result *r, const char *why)
{
    r->valid = 0;
    r->note = why;
    set_log_p(r, 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Type-7 (linear interpolation) quantile of a sorted array. */
static double quantile_sorted(const double *v, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1)
        return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

int dt_bootstrap_ci(size_t n, dt_boot_stat_fn stat, void *ctx, const struct dt_test_opts *opts,
                    double *ci_low, double *ci_high, struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (n == 0 || o->n_boot < 2 || !(o->ci_level > 0 && o->ci_level < 1))
        return dt_error_set(err, DT_EINVAL,
                            "bootstrap needs n >= 1, 'n_boot' >= 2 and 0 < 'ci_level' < 1");
    int rc = 0;
    size_t *idx = dt_malloc_array(n, sizeof *idx);
    double *vals = dt_malloc_array(o->n_boot, sizeof *vals);
    if (!idx || !vals) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu bootstrap replicates", o->n_boot);
        goto out;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, o->seed ^ BOOT_SEED_SALT);
    for (size_t b = 0; b < o->n_boot; b++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (size_t)dt_rng_below(&rng, n);
        vals[b] = stat(idx, n, ctx);
    }
    qsort(vals, o->n_boot, sizeof *vals, cmp_double);
    double alpha = 1 - o->ci_level;
    *ci_low = quantile_sorted(vals, o->n_boot, alpha / 2);
    *ci_high = quantile_sorted(vals, o->n_boot, 1 - alpha / 2);
out:
    dt_free(idx);
    dt_free(vals);
    return rc;
}

static double boot_mean(const size_t *idx, size_t n, void *ctx)
{
    const double *v = ctx;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[idx[i]];
    return s / (double)n;
}

/* Fills r's interval with a bootstrap of the mean of v unless n_boot is 0. */
static int boot_mean_ci(const double *v, size_t n, const struct dt_test_opts *o,
                        struct dt_test_result *r, struct dt_error *err)
{
    if (o->n_boot == 0)
        return 0;
    int rc = dt_bootstrap_ci(n, boot_mean, (void *)v, o, &r->ci_low, &r->ci_high, err);
    if (rc == 0) {
        r->has_ci = 1;
        r->ci_level = o->ci_level;
    }
    return rc;
}

/* ---- sign-flip ---- */

static int sign_flip(const double *d, size_t n, int two_sided, const struct dt_test_opts *opts,
                     struct dt_test_result *r, struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (n == 0)
        return dt_error_set(err, DT_EINVAL, "sign-flip test needs at least one difference");
    double t = 0, sabs = 0, ss = 0;
    size_t n_nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(d[i]))
            return dt_error_set(err, DT_EINVAL, "sign-flip difference %zu is not finite", i);
        t += d[i];
        sabs += fabs(d[i]);
        ss += d[i] * d[i];
        n_nonzero += d[i] != 0;
    }
    result_init(r,
                two_sided ? "paired sign-flip permutation test (two-sided)"
                          : "paired sign-flip permutation test",
                two_sided ? "mean difference != 0" : "mean difference > 0",
                "mean per-probe difference (bootstrap percentile interval)");
    r->statistic = t / (double)n;
    r->effect = r->statistic;
    r->n = n;
    /* Sums of the same terms in another order differ by rounding: count T* >= T - tol. */
    double tol = 1e-9 * sabs;
    double tref = two_sided ? fabs(t) : t;
    if (ss > 0) {
        r->z = t / sqrt(ss);
        r->p_approx = two_sided ? 2 * dt_stats_norm_sf(fabs(r->z)) : dt_stats_norm_sf(r->z);
        if (r->p_approx > 1)
            r->p_approx = 1;
        r->has_approx = 1;
    }
    if (n_nonzero == 0) {
        set_log_p(r, 0);
        r->log_p_min = 0;
    } else if (n <= o->exact_max_n && n <= 30) {
        /* Gray code over all 2^n sign vectors: one flip per step. */
        uint64_t total = 1ULL << n, count = 0;
        double cur = t;
        double *sg = dt_malloc_array(n, sizeof *sg);
        if (!sg)
            return dt_error_set(err, DT_ENOMEM, "out of memory for sign-flip test");
        for (size_t i = 0; i < n; i++)
            sg[i] = 1;
        for (uint64_t step = 0; step < total; step++) {
            if (step > 0) {
                int j = __builtin_ctzll(step);
                cur -= 2 * sg[j] * d[j];
                sg[j] = -sg[j];
            }
            double v = two_sided ? fabs(cur) : cur;
            count += v >= tref - tol;
        }
        dt_free(sg);
        set_p_ratio(r, (double)count, ldexp(1.0, (int)n));
        r->log_p_min = (two_sided ? 1.0 - (double)n_nonzero : -(double)n_nonzero) * M_LN2;
    } else {
        if (o->n_resamples == 0)
            return dt_error_set(err, DT_EINVAL, "sign-flip Monte Carlo needs 'n_resamples' > 0");
        struct dt_rng rng;
        dt_rng_seed(&rng, o->seed);
        uint64_t b = 0;
        for (size_t k = 0; k < o->n_resamples; k++) {
            double s = 0;
            uint64_t bits = 0;
            for (size_t i = 0; i < n; i++) {
                if ((i & 63) == 0)
                    bits = dt_rng_u64(&rng);
                s += (bits & 1) ? d[i] : -d[i];
                bits >>= 1;
            }
            double v = two_sided ? fabs(s) : s;
            b += v >= tref - tol;
        }
        r->method = DT_TEST_MONTE_CARLO;
        r->n_resamples = o->n_resamples;
        set_p_ratio(r, (double)(b + 1), (double)o->n_resamples + 1);
        r->log_p_min = -log((double)o->n_resamples + 1);
    }
    return boot_mean_ci(d, n, o, r, err);
}

int dt_test_sign_flip_two_sided(const double *d, size_t n, const struct dt_test_opts *opts,
                                struct dt_test_result *r, struct dt_error *err)
{
    return sign_flip(d, n, 1, opts, r, err);
}

/* ---- model-level predictive tests ---- */

int dt_test_predictive(double y_s, double v_s, const double *y_c, const double *v_c, size_t k,
                       struct dt_test_result *r, struct dt_error *err)
{
    if (!isfinite(y_s) || !(v_s >= 0))
        return dt_error_set(err, DT_EINVAL, "suspect statistic %g or its variance %g is not usable",
                            y_s, v_s);
    for (size_t j = 0; j < k; j++)
        if (!isfinite(y_c[j]) || !(v_c[j] >= 0))
            return dt_error_set(err, DT_EINVAL,
                                "control %zu statistic %g or its variance %g is not usable", j,
                                y_c[j], v_c[j]);
    result_init(r, "model-level predictive t test (k - 1 df)",
                "the suspect is more teacher-like than one more independent model would be",
                "suspect's excess over the controls' mean, in between-model sd");
    r->method = DT_TEST_ASYMPTOTIC;
    r->n = k;
    r->log_p_min = -HUGE_VAL;
    if (k < 2) {
        set_invalid(r, "fewer than two controls give no between-model variance estimate");
        return 0;
    }
    double dk = (double)k, mean = 0, vbar = 0, ss = 0;
    for (size_t j = 0; j < k; j++) {
        mean += y_c[j];
        vbar += v_c[j];
    }
    mean /= dk;
    vbar /= dk;
    for (size_t j = 0; j < k; j++)
        ss += (y_c[j] - mean) * (y_c[j] - mean);
    double s2 = ss / (dk - 1);
    /* tau^2 + vbar is estimated by s2 (k - 1 df); it cannot be below the known within-model
     * part vbar, so a spread smaller than sampling noise is read as noise, never as certainty */
    double big_s2 = s2 > vbar ? s2 : vbar;
    double var = big_s2 * (1 + 1 / dk) + v_s - vbar;
    if (var < big_s2 / dk + v_s)
        var = big_s2 / dk + v_s; /* v_s < vbar: keep the suspect's own noise and the mean's */
    if (!(var > 0)) {
        set_invalid(r, "neither the models nor their estimates vary: no scale for the test");
        return 0;
    }
    double t = (y_s - mean) / sqrt(var);
    r->statistic = t;
    r->effect = (y_s - mean) / sqrt(big_s2);
    set_log_p(r, dt_stats_t_sf_log(t, dk - 1));
    r->has_approx = 1;
    r->z = t;
    r->p_approx = dt_stats_norm_sf(t);
    return 0;
}

/* Anscombe's variance-stabilising transform of a binomial proportion and its variance. */
static double anscombe(double h, double n)
{
    return asin(sqrt((h + 0.375) / (n + 0.75)));
}

static double anscombe_var(double n)
{
    return 1 / (4 * n + 2);
}

double dt_test_rate_models_floor(double s_n, const double *c_n, size_t k)
{
    if (k < 2 || !(s_n > 0))
        return 0;
    double y_c[64], v_c[64];
    double *yc = y_c, *vc = v_c;
    if (k > 64) {
        yc = dt_malloc_array(k, sizeof *yc);
        vc = dt_malloc_array(k, sizeof *vc);
        if (!yc || !vc) {
            if (yc != y_c)
                dt_free(yc);
            if (vc != v_c)
                dt_free(vc);
            return 0; /* no floor known: the caller treats the design as adequate */
        }
    }
    for (size_t j = 0; j < k; j++) {
        yc[j] = anscombe(0, c_n[j]);
        vc[j] = anscombe_var(c_n[j]);
    }
    struct dt_test_result r;
    double lp = 0;
    if (dt_test_predictive(anscombe(s_n, s_n), anscombe_var(s_n), yc, vc, k, &r, NULL) == 0 &&
        r.valid)
        lp = r.log_p;
    if (yc != y_c) {
        dt_free(yc);
        dt_free(vc);
    }
    return lp;
}

int dt_test_rate_models(uint64_t s_hits, uint64_t s_n, const uint64_t *c_hits, const uint64_t *c_n,
                        size_t k, struct dt_test_result *r, struct dt_error *err)
{
    if (s_n == 0 || s_hits > s_n)
        return dt_error_set(err, DT_EINVAL, "suspect rate %llu of %llu is not a rate",
                            (unsigned long long)s_hits, (unsigned long long)s_n);
    double *y = dt_malloc_array(k ? 3 * k : 1, sizeof *y);
    if (!y)
        return dt_error_set(err, DT_ENOMEM, "out of memory for %zu controls", k);
    double *v = y + k, *n = y + 2 * k;
    for (size_t j = 0; j < k; j++) {
        if (c_n[j] == 0 || c_hits[j] > c_n[j]) {
            dt_free(y);
            return dt_error_set(err, DT_EINVAL, "control %zu rate %llu of %llu is not a rate", j,
                                (unsigned long long)c_hits[j], (unsigned long long)c_n[j]);
        }
        y[j] = anscombe((double)c_hits[j], (double)c_n[j]);
        v[j] = anscombe_var((double)c_n[j]);
        n[j] = (double)c_n[j];
    }
    int rc = dt_test_predictive(anscombe((double)s_hits, (double)s_n), anscombe_var((double)s_n), y,
                                v, k, r, err);
    if (rc == 0) {
        r->name = "model-level predictive t test on arcsine-square-root rates (k - 1 df)";
        r->log_p_min = dt_test_rate_models_floor((double)s_n, n, k);
    }
    dt_free(y);
    return rc;
}

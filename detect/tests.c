/*
 * Hypothesis tests: binomial, Fisher 2x2, rank-against-controls, sign-flip, Welch,
 * Mann-Whitney, suspect-vs-controls, and the bootstrap helper.
 *
 * Invariants: p_value = exp(log_p) clamped to [0, 1]; log_p <= 0 and never NaN for valid
 * input; an exact p includes the observed configuration, a Monte Carlo p is (b+1)/(B+1).
 * Ties are handled with mid-ranks everywhere; mid-ranks are half-integers, so the exact
 * rank DPs run over doubled ranks (integers).
 *
 * Sizes: the rank DP holds one array of 2 k n_probe + 1 doubles (about 0.8 MB for 5000 probes
 * and 10 controls) and costs at most opts->exact_budget multiply-adds; Mann-Whitney's DP holds
 * (nx + 1) x (2 N nx + 1) doubles under the same budget. The sign-flip enumeration is 2^n
 * steps of O(1) (Gray code), 1M steps at n = 20.
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
    o->mid_p = 0;
    o->exact_max_n = 20;
    o->exact_budget = 1e9;
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

/* ---- binomial ---- */

int dt_test_binomial(uint64_t k, uint64_t n, double p0, const struct dt_test_opts *opts,
                     struct dt_test_result *r, struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (n == 0 || k > n || n > (1ULL << 53))
        return dt_error_set(err, DT_EINVAL,
                            "binomial test needs 1 <= n < 2^53 and k <= n (k %llu, n %llu)",
                            (unsigned long long)k, (unsigned long long)n);
    if (!(p0 > 0 && p0 < 1))
        return dt_error_set(err, DT_EINVAL,
                            "binomial null rate '%g' must lie strictly between 0 and 1", p0);
    result_init(r, "exact binomial test", "success rate > null rate",
                "observed success rate k/n (Clopper-Pearson interval)");
    double dk = (double)k, dn = (double)n;
    r->statistic = dk;
    r->n = (size_t)n;
    set_log_p(r, dt_stats_binom_sf_log(dk, dn, p0));
    r->log_p_min = dn * log(p0);
    r->effect = dk / dn;
    double alpha = 1 - o->ci_level;
    r->ci_low = k == 0 ? 0 : dt_stats_beta_quantile(alpha / 2, dk, dn - dk + 1);
    r->ci_high = k == n ? 1 : dt_stats_beta_quantile(1 - alpha / 2, dk + 1, dn - dk);
    r->ci_level = o->ci_level;
    r->has_ci = 1;
    double sd = sqrt(dn * p0 * (1 - p0));
    r->z = (dk - dn * p0) / sd;
    r->p_approx = dt_stats_norm_sf((dk - 0.5 - dn * p0) / sd);
    r->has_approx = 1;
    return 0;
}

/* ---- Fisher ---- */

int dt_test_fisher(uint64_t a, uint64_t b, uint64_t c, uint64_t d, const struct dt_test_opts *opts,
                   struct dt_test_result *r, struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    const uint64_t lim = 1ULL << 50;
    if (a > lim || b > lim || c > lim || d > lim)
        return dt_error_set(err, DT_EINVAL, "fisher table cell exceeds 2^50");
    if (a + b == 0 || c + d == 0)
        return dt_error_set(err, DT_EINVAL,
                            "fisher test needs trials in both rows (suspect %llu, controls %llu)",
                            (unsigned long long)(a + b), (unsigned long long)(c + d));
    result_init(r, o->mid_p ? "Fisher's exact test (mid-p)" : "Fisher's exact test",
                "suspect's hit rate > controls' pooled rate",
                "odds ratio (Haldane-corrected if a cell is 0; Woolf interval)");
    double da = (double)a, db = (double)b, dc = (double)c, dd = (double)d;
    double n_pop = da + db + dc + dd, n_succ = da + dc, n_draw = da + db;
    r->statistic = da;
    r->n = (size_t)(a + b + c + d);
    double lp;
    if (o->mid_p) {
        double l_gt = dt_stats_hyper_sf_log(da + 1, n_pop, n_succ, n_draw);
        double l_eq = dt_stats_hyper_pmf_log(da, n_pop, n_succ, n_draw) - M_LN2;
        lp = dt_stats_logaddexp(l_gt, l_eq);
    } else {
        lp = dt_stats_hyper_sf_log(da, n_pop, n_succ, n_draw);
    }
    set_log_p(r, lp);
    double hi = fmin(n_draw, n_succ);
    r->log_p_min = dt_stats_hyper_pmf_log(hi, n_pop, n_succ, n_draw) - (o->mid_p ? M_LN2 : 0);
    if (a == 0 || b == 0 || c == 0 || d == 0) {
        da += 0.5;
        db += 0.5;
        dc += 0.5;
        dd += 0.5;
    }
    double lor = log(da) + log(dd) - log(db) - log(dc);
    double se = sqrt(1 / da + 1 / db + 1 / dc + 1 / dd);
    double zc = dt_stats_norm_quantile(1 - (1 - o->ci_level) / 2);
    r->effect = exp(lor);
    r->ci_low = exp(lor - zc * se);
    r->ci_high = exp(lor + zc * se);
    r->ci_level = o->ci_level;
    r->has_ci = 1;
    double pp = n_succ / n_pop;
    if (pp > 0 && pp < 1) {
        double n1 = (double)(a + b), n2 = (double)(c + d);
        double p1 = (double)a / n1, p2 = (double)c / n2;
        r->z = (p1 - p2) / sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2));
        r->p_approx = dt_stats_norm_sf(r->z);
        r->has_approx = 1;
    }
    return 0;
}

/* ---- rank test against controls ---- */

struct vi {
    double v;
    size_t i;
};

static int cmp_vi(const void *a, const void *b)
{
    const struct vi *x = a, *y = b;
    if (x->v != y->v)
        return (x->v > y->v) - (x->v < y->v);
    return (x->i > y->i) - (x->i < y->i);
}

/*
 * Doubled mid-ranks of v[0..m): out2[j] = 2 * midrank(v[j]), an integer in [2, 2m].
 * scratch has m entries. Returns the number of distinct values.
 */
static size_t doubled_midranks(const double *v, size_t m, struct vi *scratch, long *out2)
{
    for (size_t j = 0; j < m; j++) {
        scratch[j].v = v[j];
        scratch[j].i = j;
    }
    qsort(scratch, m, sizeof *scratch, cmp_vi);
    size_t groups = 0;
    for (size_t s = 0; s < m;) {
        size_t e = s;
        while (e + 1 < m && scratch[e + 1].v == scratch[s].v)
            e++;
        long r2 = (long)(s + 1) + (long)(e + 1); /* positions s+1..e+1, mid = their mean */
        for (size_t t = s; t <= e; t++)
            out2[scratch[t].i] = r2;
        groups++;
        s = e + 1;
    }
    return groups;
}

/*
 * Per probe, the null law of the suspect's doubled rank minus 2 is a set of (value, weight)
 * pairs: the distinct doubled mid-ranks and the fraction of models holding each.
 */
struct rank_law {
    size_t off; /* first pair in the flat arrays */
    size_t n;   /* number of pairs */
    long vmax;  /* largest value */
};

/* log M(theta) = log sum_g w_g e^(theta v_g), with the tilted mean and variance, for one
 * probe. */
static double tilt_probe(const long *val, const double *w, size_t n, long vmax, double theta,
                         double *mean, double *var)
{
    double s = 0, sv = 0, svv = 0;
    for (size_t g = 0; g < n; g++) {
        double e = w[g] * exp(theta * (double)(val[g] - vmax));
        s += e;
        sv += e * (double)val[g];
        svv += e * (double)val[g] * (double)val[g];
    }
    *mean = sv / s;
    *var = fmax(0, svv / s - *mean * *mean);
    return theta * (double)vmax + log(s);
}

/* Cumulant generating function of the sum over probes: K(theta), K'(theta), K''(theta). */
static double tilt_all(const long *val, const double *w, const struct rank_law *law, size_t n_probe,
                       double theta, double *k1, double *k2)
{
    double k = 0, m, v;
    *k1 = 0;
    *k2 = 0;
    for (size_t i = 0; i < n_probe; i++) {
        k += tilt_probe(val + law[i].off, w + law[i].off, law[i].n, law[i].vmax, theta, &m, &v);
        *k1 += m;
        *k2 += v;
    }
    return k;
}

/* The saddle point: theta >= 0 with K'(theta) = s, or 0 when s is at or below the mean. */
static double solve_tilt(const long *val, const double *w, const struct rank_law *law,
                         size_t n_probe, double s)
{
    double k1, k2;
    tilt_all(val, w, law, n_probe, 0, &k1, &k2);
    if (s <= k1)
        return 0;
    double lo = 0, hi = 1;
    for (;;) {
        tilt_all(val, w, law, n_probe, hi, &k1, &k2);
        if (k1 >= s || hi > 1e3)
            break;
        lo = hi;
        hi *= 2;
    }
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        tilt_all(val, w, law, n_probe, mid, &k1, &k2);
        if (k1 < s)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/*
 * Lugannani-Rice tail with Daniels' lattice correction (span h) for P(S >= s), s on the
 * lattice, in log space: log phi(w) + log(R(w) + 1/u - 1/w), R the Mills ratio, so it holds
 * far below 1e-300. Relative error O(1/n_probe) uniformly in the tail.
 */
static double saddle_tail_log(double theta, double k, double k2, double s, double h)
{
    double w = sqrt(fmax(0, 2 * (theta * s - k)));
    double u = (1 - exp(-theta * h)) / h * sqrt(k2);
    if (!(w > 1e-3) || !(u > 0))
        return 1; /* signal (no log p is positive): too close to the mean for this form */
    double lphi = -0.5 * w * w - 0.918938533204672741780329736406;
    double mills = exp(dt_stats_norm_sf_log(w) - lphi);
    double t = mills + 1 / u - 1 / w;
    if (!(t > 0))
        return 1;
    return lphi + log(t);
}

int dt_test_rank_controls(const double *x, size_t n_probe, size_t n_model,
                          const struct dt_test_opts *opts, struct dt_test_result *r,
                          struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (n_probe == 0 || n_model < 2)
        return dt_error_set(err, DT_EINVAL,
                            "rank test needs >= 1 probe and >= 1 control (probes %zu, models %zu)",
                            n_probe, n_model);
    size_t cells;
    if (dt_mul_overflow(n_probe, n_model, &cells) || n_model > (1u << 20) || n_probe > (1u << 30))
        return dt_error_set(err, DT_EINVAL, "rank test matrix %zu x %zu is too large", n_probe,
                            n_model);
    for (size_t i = 0; i < cells; i++)
        if (isnan(x[i]))
            return dt_error_set(err, DT_EINVAL, "rank test score at probe %zu, model %zu is NaN",
                                i / n_model, i % n_model);

    int rc = 0;
    struct vi *scratch = dt_malloc_array(n_model, sizeof *scratch);
    long *r2 = dt_malloc_array(n_model, sizeof *r2);
    long *val = dt_malloc_array(cells, sizeof *val);
    double *w = dt_malloc_array(cells, sizeof *w);
    struct rank_law *law = dt_malloc_array(n_probe, sizeof *law);
    double *ranks = dt_malloc_array(n_probe, sizeof *ranks);
    double *dp = NULL, *dp2 = NULL;
    if (!scratch || !r2 || !val || !w || !law || !ranks) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for rank test on %zu probes", n_probe);
        goto out;
    }
    result_init(r, "rank test against controls",
                "suspect ranks closer to the teacher than controls",
                "mean within-probe rank of the suspect (1 = farthest, k+1 = closest)");
    const double m = (double)n_model;
    long s_obs = 0, s_max = 0; /* doubled ranks minus 2, summed */
    double mean0 = 0, var0 = 0, log_p_min = 0, cost = 0;
    int all_even = 1;
    size_t off = 0;
    for (size_t i = 0; i < n_probe; i++) {
        doubled_midranks(x + i * n_model, n_model, scratch, r2);
        ranks[i] = (double)r2[0] / 2;
        s_obs += r2[0] - 2;
        /* The distinct values in ascending order are scratch's groups. */
        law[i].off = off;
        law[i].n = 0;
        for (size_t s = 0; s < n_model;) {
            long v = r2[scratch[s].i];
            size_t e = s;
            while (e + 1 < n_model && r2[scratch[e + 1].i] == v)
                e++;
            val[off + law[i].n] = v - 2;
            w[off + law[i].n] = (double)(e - s + 1) / m;
            if ((v & 1) != 0)
                all_even = 0;
            law[i].n++;
            s = e + 1;
        }
        law[i].vmax = val[off + law[i].n - 1];
        s_max += law[i].vmax;
        log_p_min += log(w[off + law[i].n - 1]);
        double mu = 0, sq = 0;
        for (size_t g = 0; g < law[i].n; g++) {
            double rv = (double)(val[off + g] + 2) / 2;
            mu += w[off + g] * rv;
            sq += w[off + g] * rv * rv;
        }
        mean0 += mu;
        var0 += sq - mu * mu;
        cost += (double)law[i].n * (double)(s_max + 1);
        off += law[i].n;
    }
    double s_rank = (double)s_obs / 2 + (double)n_probe; /* sum of mid-ranks */
    r->statistic = s_rank;
    r->effect = s_rank / (double)n_probe;
    r->n = n_probe;
    r->log_p_min = log_p_min;
    if (var0 > 0) {
        double cc = all_even ? 0.5 : 0.25;
        r->z = (s_rank - mean0) / sqrt(var0);
        r->p_approx = dt_stats_norm_sf((s_rank - cc - mean0) / sqrt(var0));
        r->has_approx = 1;
    }

    double theta = s_obs >= s_max ? 0 : solve_tilt(val, w, law, n_probe, (double)s_obs);
    if (s_obs >= s_max) {
        /* The suspect is (jointly) closest on every probe: p is the product of the tops. */
        set_log_p(r, log_p_min);
    } else if (cost > o->exact_budget) {
        double cc = all_even ? 0.5 : 0.25, k1, k2;
        double lp = 1;
        r->method = DT_TEST_ASYMPTOTIC;
        if (theta > 0) {
            double k = tilt_all(val, w, law, n_probe, theta, &k1, &k2);
            lp = saddle_tail_log(theta, k, k2, (double)s_obs, all_even ? 2 : 1);
            r->note = "saddle-point (Lugannani-Rice) approximation: exact convolution exceeds "
                      "the work budget";
        }
        if (lp > 0 || lp < log_p_min) {
            r->note = "normal approximation: exact convolution exceeds the work budget";
            lp = var0 > 0 ? dt_stats_norm_sf_log((s_rank - cc - mean0) / sqrt(var0)) : 0;
        }
        set_log_p(r, lp);
    } else {
        /* Tilt every probe's law by e^(theta v) so the tilted mean of the sum is s_obs: the
         * DP then carries its mass near s_obs, and
         *   P(S >= s) = exp(sum log M_i - theta s) * sum_{t >= s} P_theta(t) e^(-theta (t - s))
         * holds exactly for any theta. */
        double tmean, tvar;
        size_t len = (size_t)s_max + 1;
        dp = dt_calloc(len, sizeof *dp);
        dp2 = dt_calloc(len, sizeof *dp2);
        if (!dp || !dp2) {
            rc = dt_error_set(err, DT_ENOMEM,
                              "out of memory for rank test distribution (%zu points)", len);
            goto out;
        }
        dp[0] = 1;
        size_t cur = 0; /* dp holds support [0, cur] */
        double log_m = 0;
        double *tw = dt_malloc_array(n_model, sizeof *tw);
        if (!tw) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for rank test");
            goto out;
        }
        for (size_t i = 0; i < n_probe; i++) {
            const long *pv = val + law[i].off;
            const double *pw = w + law[i].off;
            size_t ng = law[i].n;
            double lm = tilt_probe(pv, pw, ng, law[i].vmax, theta, &tmean, &tvar);
            log_m += lm;
            for (size_t g = 0; g < ng; g++)
                tw[g] = exp(log(pw[g]) + theta * (double)pv[g] - lm);
            size_t next = cur + (size_t)law[i].vmax;
            memset(dp2, 0, (next + 1) * sizeof *dp2);
            for (size_t g = 0; g < ng; g++) {
                size_t sh = (size_t)pv[g];
                double wg = tw[g];
                for (size_t t = 0; t <= cur; t++)
                    dp2[t + sh] += wg * dp[t];
            }
            double *sw = dp;
            dp = dp2;
            dp2 = sw;
            cur = next;
        }
        dt_free(tw);
        double tail = 0;
        for (size_t t = (size_t)s_obs; t <= cur; t++)
            tail += dp[t] * exp(-theta * (double)(t - (size_t)s_obs));
        double lp = log_m - theta * (double)s_obs + log(tail);
        if (lp < log_p_min)
            lp = log_p_min;
        set_log_p(r, lp);
    }
    rc = boot_mean_ci(ranks, n_probe, o, r, err);
out:
    dt_free(scratch);
    dt_free(r2);
    dt_free(val);
    dt_free(w);
    dt_free(law);
    dt_free(ranks);
    dt_free(dp);
    dt_free(dp2);
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

int dt_test_sign_flip(const double *d, size_t n, const struct dt_test_opts *opts,
                      struct dt_test_result *r, struct dt_error *err)
{
    return sign_flip(d, n, 0, opts, r, err);
}

int dt_test_sign_flip_two_sided(const double *d, size_t n, const struct dt_test_opts *opts,
                                struct dt_test_result *r, struct dt_error *err)
{
    return sign_flip(d, n, 1, opts, r, err);
}

/* ---- Welch ---- */

static int mean_var(const double *v, size_t n, double *mean, double *var, const char *what,
                    struct dt_error *err)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return dt_error_set(err, DT_EINVAL, "sample '%s' value %zu is not finite", what, i);
        s += v[i];
    }
    *mean = s / (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    *var = n > 1 ? ss / (double)(n - 1) : 0;
    return 0;
}

int dt_test_welch(const double *x, size_t nx, const double *y, size_t ny,
                  const struct dt_test_opts *opts, struct dt_test_result *r, struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (nx < 2 || ny < 2)
        return dt_error_set(err, DT_EINVAL,
                            "welch test needs >= 2 values per sample (x %zu, y %zu)", nx, ny);
    double mx = 0, vx = 0, my = 0, vy = 0;
    int rc = mean_var(x, nx, &mx, &vx, "x", err);
    if (rc == 0)
        rc = mean_var(y, ny, &my, &vy, "y", err);
    if (rc)
        return rc;
    result_init(r, "Welch's t-test", "mean(x) > mean(y)", "mean(x) - mean(y) (Welch t interval)");
    r->method = DT_TEST_ASYMPTOTIC;
    r->n = nx + ny;
    r->effect = mx - my;
    r->log_p_min = -HUGE_VAL;
    double ax = vx / (double)nx, ay = vy / (double)ny, se2 = ax + ay;
    if (!(se2 > 0)) {
        set_invalid(r, "both samples are constant: the t statistic is undefined");
        return 0;
    }
    double se = sqrt(se2);
    double df = se2 * se2 / (ax * ax / (double)(nx - 1) + ay * ay / (double)(ny - 1));
    r->statistic = (mx - my) / se;
    set_log_p(r, dt_stats_t_sf_log(r->statistic, df));
    double tc = dt_stats_t_isf((1 - o->ci_level) / 2, df);
    r->ci_low = r->effect - tc * se;
    r->ci_high = r->effect + tc * se;
    r->ci_level = o->ci_level;
    r->has_ci = 1;
    r->z = r->statistic;
    r->p_approx = dt_stats_norm_sf(r->statistic);
    r->has_approx = 1;
    return 0;
}

/* ---- Mann-Whitney ---- */

int dt_test_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                         const struct dt_test_opts *opts, struct dt_test_result *r,
                         struct dt_error *err)
{
    struct dt_test_opts def;
    const struct dt_test_opts *o = opts_or_default(opts, &def);
    if (nx == 0 || ny == 0 || nx > (1u << 28) || ny > (1u << 28))
        return dt_error_set(err, DT_EINVAL,
                            "mann-whitney test needs non-empty samples (x %zu, y %zu)", nx, ny);
    size_t n = nx + ny;
    int rc = 0;
    double *all = dt_malloc_array(n, sizeof *all);
    struct vi *scratch = dt_malloc_array(n, sizeof *scratch);
    long *r2 = dt_malloc_array(n, sizeof *r2);
    double *dp = NULL;
    if (!all || !scratch || !r2) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for mann-whitney test on %zu values", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        all[i] = i < nx ? x[i] : y[i - nx];
        if (isnan(all[i])) {
            rc = dt_error_set(err, DT_EINVAL, "mann-whitney sample '%s' value %zu is NaN",
                              i < nx ? "x" : "y", i < nx ? i : i - nx);
            goto out;
        }
    }
    doubled_midranks(all, n, scratch, r2);
    long s2 = 0; /* doubled rank sum of x */
    for (size_t i = 0; i < nx; i++)
        s2 += r2[i];
    double dnx = (double)nx, dny = (double)ny, dn = (double)n;
    double u = (double)s2 / 2 - dnx * (dnx + 1) / 2;
    /* tie correction: sum over tie groups of t^3 - t (scratch is sorted) */
    double ties = 0;
    for (size_t s = 0; s < n;) {
        size_t e = s;
        while (e + 1 < n && scratch[e + 1].v == scratch[s].v)
            e++;
        double t = (double)(e - s + 1);
        ties += t * t * t - t;
        s = e + 1;
    }
    result_init(r, "Mann-Whitney U test", "x tends to exceed y",
                "probability of superiority U/(nx ny)");
    r->statistic = u;
    r->effect = u / (dnx * dny);
    r->n = n;
    double mu = dnx * dny / 2;
    double var = dnx * dny / 12 * ((dn + 1) - ties / (dn * (dn - 1 > 0 ? dn - 1 : 1)));
    if (var > 0) {
        r->z = (u - mu) / sqrt(var);
        r->p_approx = dt_stats_norm_sf((u - mu - 0.5) / sqrt(var));
        r->has_approx = 1;
    }
    double lchoose = lgamma(dn + 1) - lgamma(dnx + 1) - lgamma(dny + 1);
    r->log_p_min = -lchoose;
    /* Exact: choose nx of the n doubled mid-ranks; count subsets by doubled sum. */
    size_t smax = 2 * n * nx + 1;
    double cost = dn * dnx * (double)smax;
    if (var <= 0) {
        set_log_p(r, 0);
    } else if (cost <= o->exact_budget && n <= 2000) {
        size_t rows = nx + 1, cells;
        if (dt_mul_overflow(rows, smax, &cells) || !(dp = dt_calloc(cells, sizeof *dp))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for mann-whitney exact distribution");
            goto out;
        }
        /* dp[j][s] = number of j-subsets of the items seen so far with doubled sum s, scaled by
         * 1/C(n, nx) through the final division; values up to C(2000, 1000) ~ 1e600 would
         * overflow, so counts are kept as fractions of C(i, j) (probabilities) instead. */
        dp[0] = 1;
        for (size_t i = 0; i < n; i++) {
            size_t v = (size_t)r2[i];
            size_t jmax = i + 1 < nx ? i + 1 : nx;
            /* After item i (i+1 items seen): P_{i+1}(j, s) = (1 - j/(i+1)) P_i(j, s)
             * + (j/(i+1)) P_i(j-1, s - v): the law of the sum of a uniform random j-subset. */
            double den = (double)(i + 1);
            for (size_t j = jmax; j >= 1; j--) {
                double keep = 1 - (double)j / den, take = (double)j / den;
                double *row = dp + j * smax, *prev = dp + (j - 1) * smax;
                for (size_t s = smax; s-- > v;)
                    row[s] = keep * row[s] + take * prev[s - v];
                for (size_t s = v; s-- > 0;)
                    row[s] = keep * row[s];
            }
        }
        double tail = 0;
        const double *row = dp + nx * smax;
        for (size_t s = (size_t)s2; s < smax; s++)
            tail += row[s];
        set_log_p(r, tail > 0 ? log(tail) : r->log_p_min);
    } else {
        r->method = DT_TEST_ASYMPTOTIC;
        r->note = "normal approximation with tie and continuity correction";
        set_log_p(r, dt_stats_norm_sf_log((u - mu - 0.5) / sqrt(var)));
    }
out:
    dt_free(all);
    dt_free(scratch);
    dt_free(r2);
    dt_free(dp);
    return rc;
}

/* ---- suspect vs controls ---- */

int dt_test_vs_controls(double s, const double *c, size_t k, struct dt_test_result *empirical,
                        struct dt_test_result *parametric, struct dt_error *err)
{
    if (k == 0)
        return dt_error_set(err, DT_EINVAL, "control test needs at least one control");
    if (isnan(s))
        return dt_error_set(err, DT_EINVAL, "suspect statistic is NaN");
    double mean = 0, var = 0;
    int rc = mean_var(c, k, &mean, &var, "controls", err);
    if (rc)
        return rc;
    size_t ge = 0, below = 0;
    for (size_t j = 0; j < k; j++) {
        ge += c[j] >= s;
        below += c[j] < s;
    }
    double dk = (double)k;
    result_init(empirical, "empirical rank against controls", "suspect's statistic > controls'",
                "fraction of controls below the suspect");
    empirical->statistic = s;
    empirical->effect = (double)below / dk;
    empirical->n = k;
    set_p_ratio(empirical, 1 + (double)ge, dk + 1);
    empirical->log_p_min = -log(dk + 1);
    if (!parametric)
        return 0;
    result_init(parametric, "prediction-interval t test against controls (assumes normal controls)",
                "suspect's statistic > controls'", "(s - mean of controls) / sd of controls");
    parametric->method = DT_TEST_ASYMPTOTIC;
    parametric->n = k;
    parametric->log_p_min = -HUGE_VAL;
    if (k < 2) {
        set_invalid(parametric, "one control gives no spread estimate");
        return 0;
    }
    double sd = sqrt(var);
    if (!(sd > 0)) {
        set_invalid(parametric, "all controls have the same statistic: no spread estimate");
        return 0;
    }
    double t = (s - mean) / (sd * sqrt(1 + 1 / dk));
    parametric->statistic = t;
    parametric->effect = (s - mean) / sd;
    set_log_p(parametric, dt_stats_t_sf_log(t, dk - 1));
    parametric->z = parametric->effect;
    parametric->p_approx = dt_stats_norm_sf(parametric->z);
    parametric->has_approx = 1;
    return 0;
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

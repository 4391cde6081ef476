/*
 * Multiplicity adjustments (Bonferroni, Holm, Benjamini-Hochberg) and p-value combinations
 * (Fisher, Stouffer, Cauchy), all on natural logs of p-values so that extreme evidence keeps
 * its digits. Adjustments sort an index array (n sizes, one allocation); combinations are
 * single passes without allocation.
 */
#include "detect/multiple.h"

#include "detect/stats.h"
#include "detect/tests.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_log_p(const double *log_p, size_t n, int allow_zero_p, struct dt_error *err)
{
    if (n == 0)
        return dt_error_set(err, DT_EINVAL, "no p-values to adjust or combine");
    for (size_t i = 0; i < n; i++) {
        if (isnan(log_p[i]) || log_p[i] > 0)
            return dt_error_set(err, DT_EINVAL, "log p-value %zu ('%g') is not in [-inf, 0]", i,
                                log_p[i]);
        if (!allow_zero_p && log_p[i] == -HUGE_VAL)
            return dt_error_set(err, DT_EINVAL, "p-value %zu is exactly 0: pass its log instead",
                                i);
    }
    return 0;
}

int dt_mult_bonferroni(const double *log_p, size_t n, double *adj, struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 1, err);
    if (rc)
        return rc;
    double ln = log((double)n);
    for (size_t i = 0; i < n; i++)
        adj[i] = fmin(0, ln + log_p[i]);
    return 0;
}

struct lp_idx {
    double lp;
    size_t i;
};

static int cmp_lp(const void *a, const void *b)
{
    const struct lp_idx *x = a, *y = b;
    if (x->lp != y->lp)
        return (x->lp > y->lp) - (x->lp < y->lp);
    return (x->i > y->i) - (x->i < y->i);
}

static struct lp_idx *sorted_copy(const double *log_p, size_t n)
{
    struct lp_idx *s = dt_malloc_array(n, sizeof *s);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[i].lp = log_p[i];
        s[i].i = i;
    }
    qsort(s, n, sizeof *s, cmp_lp);
    return s;
}

int dt_mult_holm(const double *log_p, size_t n, double *adj, struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 1, err);
    if (rc)
        return rc;
    struct lp_idx *s = sorted_copy(log_p, n);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory adjusting %zu p-values", n);
    double run = -HUGE_VAL;
    for (size_t r = 0; r < n; r++) {
        double v = fmin(0, log((double)(n - r)) + s[r].lp);
        run = fmax(run, v); /* step-down: adjusted values never decrease along the order */
        adj[s[r].i] = run;
    }
    dt_free(s);
    return 0;
}

int dt_mult_bh(const double *log_p, size_t n, double *adj, struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 1, err);
    if (rc)
        return rc;
    struct lp_idx *s = sorted_copy(log_p, n);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory adjusting %zu p-values", n);
    double run = 0, ln = log((double)n);
    for (size_t r = n; r-- > 0;) {
        double v = fmin(0, ln - log((double)(r + 1)) + s[r].lp);
        run = fmin(run, v); /* step-up: a smaller rank never gets a larger q-value */
        adj[s[r].i] = run;
    }
    dt_free(s);
    return 0;
}

static void combo_init(struct dt_test_result *r, const char *name, const char *effect_name,
                       size_t n)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->alternative = "at least one component null is false";
    r->effect_name = effect_name;
    r->method = DT_TEST_ASYMPTOTIC;
    r->valid = 1;
    r->n = n;
    r->log_p_min = -HUGE_VAL;
}

static void combo_set(struct dt_test_result *r, double lp)
{
    if (!(lp <= 0))
        lp = 0;
    r->log_p = lp;
    r->p_value = exp(lp);
}

int dt_combine_fisher(const double *log_p, size_t n, struct dt_test_result *r, struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 0, err);
    if (rc)
        return rc;
    double x = 0;
    for (size_t i = 0; i < n; i++)
        x -= 2 * log_p[i];
    combo_init(r, "Fisher's combined probability test (independent p-values)",
               "chi-square statistic -2 sum log p", n);
    r->method = DT_TEST_EXACT; /* exact under independent continuous uniform nulls */
    r->statistic = x;
    r->effect = x;
    combo_set(r, dt_stats_chi2_sf_log(x, 2 * (double)n));
    return 0;
}

static int check_weights(const double *w, size_t n, struct dt_error *err)
{
    if (!w)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(w[i] > 0 && isfinite(w[i])))
            return dt_error_set(err, DT_EINVAL, "combination weight %zu ('%g') must be positive", i,
                                w[i]);
    return 0;
}

int dt_combine_stouffer(const double *log_p, const double *w, size_t n, struct dt_test_result *r,
                        struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 0, err);
    if (rc == 0)
        rc = check_weights(w, n, err);
    if (rc)
        return rc;
    double s = 0, sw2 = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        double z = dt_stats_norm_isf_log(log_p[i]);
        if (z < -38)
            z = -38;
        s += wi * z;
        sw2 += wi * wi;
    }
    double z = s / sqrt(sw2);
    combo_init(r, "Stouffer's weighted z (independent p-values)", "combined z", n);
    r->method = DT_TEST_EXACT; /* exact under independent continuous uniform nulls */
    r->statistic = z;
    r->effect = z;
    r->z = z;
    r->has_approx = 1;
    r->p_approx = dt_stats_norm_sf(z);
    combo_set(r, dt_stats_norm_sf_log(z));
    return 0;
}

int dt_combine_cauchy(const double *log_p, const double *w, size_t n, struct dt_test_result *r,
                      struct dt_error *err)
{
    int rc = check_log_p(log_p, n, 0, err);
    if (rc == 0)
        rc = check_weights(w, n, err);
    if (rc)
        return rc;
    /* tan((1/2 - p) pi) ~ 1/(pi p) for small p: those terms are summed in log space (they can
     * exceed the double range), the others directly. */
    double sw = 0, small = 0, lbig = -HUGE_VAL;
    for (size_t i = 0; i < n; i++)
        sw += w ? w[i] : 1;
    for (size_t i = 0; i < n; i++) {
        double wi = (w ? w[i] : 1) / sw;
        if (log_p[i] < -34.5) { /* p < 1e-15: tan(pi/2 - pi p) = 1/(pi p) to double precision */
            lbig = dt_stats_logaddexp(lbig, log(wi) - log(M_PI) - log_p[i]);
        } else {
            double p = exp(log_p[i]);
            if (p > 1 - 1e-15)
                p = 1 - 1e-15;
            small += wi * tan((0.5 - p) * M_PI);
        }
    }
    combo_init(r, "Cauchy combination test (valid under dependence)", "Cauchy statistic T", n);
    double lp;
    if (lbig > 700) {
        /* T = e^lbig dominates every finite small term; P(C > T) = 1/(pi T) (1 + O(T^-2)). */
        r->statistic = HUGE_VAL;
        lp = -log(M_PI) - lbig;
    } else {
        double t = small + (lbig == -HUGE_VAL ? 0 : exp(lbig));
        r->statistic = t;
        if (t > 1e15)
            lp = -log(M_PI) - log(t);
        else if (t > 1)
            lp = log(atan(1 / t) / M_PI);
        else
            lp = log(0.5 - atan(t) / M_PI);
    }
    r->effect = r->statistic;
    combo_set(r, lp);
    return 0;
}

/*
 * Holm's step-down adjustment on natural logs of p-values, so that extreme evidence keeps its
 * digits. It sorts an index array (one allocation of n entries).
 */
#include "detect/multiple.h"

#include "detect/stats.h"
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

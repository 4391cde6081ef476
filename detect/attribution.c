/*
 * Attribution among candidate teachers: pick the best and runner-up by mean per-probe
 * closeness, then test the margin with a two-sided sign-flip test over probes. One
 * allocation of n_probe doubles for the differences.
 */
#include "detect/attribution.h"

#include "util/alloc.h"
#include "util/error.h"

#include <math.h>

size_t dt_attribution_argmax(const double *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int dt_attribution_best(const double *scores, size_t n_probe, size_t n_cand,
                        const struct dt_test_opts *opts, struct dt_attribution *out,
                        struct dt_error *err)
{
    if (n_probe == 0 || n_cand < 2)
        return dt_error_set(
            err, DT_EINVAL,
            "attribution needs >= 1 probe and >= 2 candidates (probes %zu, candidates %zu)",
            n_probe, n_cand);
    size_t cells;
    if (dt_mul_overflow(n_probe, n_cand, &cells))
        return dt_error_set(err, DT_EINVAL, "attribution matrix %zu x %zu is too large", n_probe,
                            n_cand);
    int rc = 0;
    double *mean = dt_calloc(n_cand, sizeof *mean);
    double *d = dt_malloc_array(n_probe, sizeof *d);
    if (!mean || !d) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for attribution over %zu probes", n_probe);
        goto out;
    }
    for (size_t i = 0; i < cells; i++) {
        if (!isfinite(scores[i])) {
            rc = dt_error_set(err, DT_EINVAL,
                              "attribution score at probe %zu, candidate %zu is not finite",
                              i / n_cand, i % n_cand);
            goto out;
        }
        mean[i % n_cand] += scores[i];
    }
    for (size_t j = 0; j < n_cand; j++)
        mean[j] /= (double)n_probe;
    size_t best = dt_attribution_argmax(mean, n_cand);
    size_t second = best == 0 ? 1 : 0;
    for (size_t j = 0; j < n_cand; j++)
        if (j != best && mean[j] > mean[second])
            second = j;
    for (size_t i = 0; i < n_probe; i++)
        d[i] = scores[i * n_cand + best] - scores[i * n_cand + second];
    struct dt_attribution res;
    res.i_best = best;
    res.i_runner_up = second;
    res.mean_best = mean[best];
    res.mean_runner_up = mean[second];
    rc = dt_test_sign_flip_two_sided(d, n_probe, opts, &res.margin, err);
    if (rc == 0)
        *out = res;
out:
    dt_free(mean);
    dt_free(d);
    return rc;
}

/*
 * Unit tests for infer/vecmath.c: the fast exp's relative error against libm's double exp
 * over the whole clamped range (every length 0..40 so the vector tails are covered), softmax
 * and logsumexp against double references, SwiGLU, rmsnorm, and the edge cases (-inf, NaN,
 * empty).
 */
#include "infer/vecmath.h"
#include "tests/tap.h"
#include "util/rng.h"

#include <math.h>
#include <string.h>

#define N 4096

int main(void)
{
    static float x[N], y[N], z[N];
    struct dt_rng rng;
    dt_rng_seed(&rng, 3);

    /* exp: a sweep of [-87, 88] and random values, all lengths for the tails. */
    double worst = 0;
    for (int i = 0; i < N; i++)
        x[i] = -87.0f + 175.0f * (float)i / (N - 1);
    dt_vec_exp(y, x, N);
    for (int i = 0; i < N; i++) {
        double ref = exp((double)x[i]);
        double e = fabs(y[i] - ref) / ref;
        worst = e > worst ? e : worst;
    }
    for (int i = 0; i < N; i++)
        x[i] = (float)(dt_rng_normal(&rng) * 10.0);
    dt_vec_exp(y, x, N);
    for (int i = 0; i < N; i++) {
        double ref = exp((double)x[i]);
        double e = fabs(y[i] - ref) / ref;
        worst = e > worst ? e : worst;
    }
    TAP_OK(worst < 1e-6, "exp relative error %.2e < 1e-6", worst);
    int tails_ok = 1;
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < 48; i++)
            z[i] = -7.0f;
        dt_vec_exp(z, x, n);
        for (size_t i = 0; i < n; i++)
            tails_ok &= fabs(z[i] - exp((double)x[i])) <= 1e-6 * exp((double)x[i]);
        for (size_t i = n; i < 48; i++)
            tails_ok &= z[i] == -7.0f;
    }
    TAP_OK(tails_ok, "exp of every length 0..40 writes exactly n values");
    x[0] = -INFINITY;
    x[1] = NAN;
    x[2] = 1000.0f;
    dt_vec_exp(y, x, 3);
    TAP_OK(y[0] >= 0 && y[0] < 1e-37f && y[1] >= 0 && y[1] < 1e-37f && isfinite(y[2]) && y[2] > 1e38f,
           "exp clamps -inf, NaN and overflow to finite values (%g %g %g)", (double)y[0],
           (double)y[1], (double)y[2]);

    /* max */
    for (int i = 0; i < 37; i++)
        x[i] = (float)i - 100.0f;
    x[23] = 5.0f;
    x[36] = NAN;
    TAP_OK(dt_vec_max(x, 37) == 5.0f, "max skips NaN, finds the largest");
    TAP_OK(dt_vec_max(x, 0) == -INFINITY, "max of nothing is -inf");

    /* logsumexp and softmax against double references, all lengths. */
    double lse_worst = 0, sm_worst = 0;
    for (size_t n = 1; n <= 300; n += (n < 40 ? 1 : 37)) {
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(dt_rng_normal(&rng) * 5.0);
        double mx = -INFINITY, s = 0;
        for (size_t i = 0; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (size_t i = 0; i < n; i++)
            s += exp((double)x[i] - mx);
        double ref = mx + log(s);
        double e = fabs(dt_vec_logsumexp(x, n) - ref);
        lse_worst = e > lse_worst ? e : lse_worst;
        memcpy(y, x, n * sizeof(float));
        dt_vec_softmax(y, n);
        for (size_t i = 0; i < n; i++) {
            double p = exp((double)x[i] - ref);
            double d = fabs(y[i] - p);
            sm_worst = d > sm_worst ? d : sm_worst;
        }
    }
    TAP_OK(lse_worst < 1e-5, "logsumexp within %.2e of the double reference", lse_worst);
    TAP_OK(sm_worst < 1e-6, "softmax within %.2e of the double reference", sm_worst);
    for (int i = 0; i < N; i++)
        x[i] = (float)(dt_rng_normal(&rng) * 3.0);
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < N; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < N; i++)
        s += exp((double)x[i] - mx);
    TAP_NEAR(dt_vec_logsumexp(x, N), mx + log(s), 1e-5, "logsumexp of %d values", N);
    x[0] = -INFINITY;
    x[1] = -INFINITY;
    TAP_OK(dt_vec_logsumexp(x, 2) == -INFINITY, "logsumexp of -inf values is -inf");

    /* SwiGLU */
    double sw_worst = 0;
    for (int i = 0; i < 45; i++) {
        x[i] = (float)(dt_rng_normal(&rng) * 4.0);
        z[i] = (float)dt_rng_normal(&rng);
        y[i] = x[i];
    }
    dt_vec_swiglu(y, z, 45);
    for (int i = 0; i < 45; i++) {
        double ref = x[i] / (1.0 + exp(-(double)x[i])) * z[i];
        double d = fabs(y[i] - ref);
        sw_worst = d > sw_worst ? d : sw_worst;
    }
    TAP_OK(sw_worst < 1e-5, "swiglu within %.2e of the double reference", sw_worst);

    /* rmsnorm */
    for (int i = 0; i < 37; i++) {
        x[i] = (float)dt_rng_normal(&rng);
        z[i] = 1.0f + 0.1f * (float)i;
    }
    dt_vec_rmsnorm(y, x, z, 37, 1e-5f);
    double ss = 0, rn_worst = 0;
    for (int i = 0; i < 37; i++)
        ss += (double)x[i] * x[i];
    for (int i = 0; i < 37; i++) {
        double ref = z[i] * x[i] / sqrt(ss / 37 + 1e-5);
        double d = fabs(y[i] - ref);
        rn_worst = d > rn_worst ? d : rn_worst;
    }
    TAP_OK(rn_worst < 1e-5, "rmsnorm within %.2e of the double reference", rn_worst);
    return tap_done();
}

/*
 * Vectorizable float kernels (see vecmath.h), written with GCC/clang vector extensions on
 * four floats so they vectorize without -ffast-math: no libm calls inside the loops, rounding
 * by the 1.5 * 2^23 trick (exact for |v| < 2^22, which the clamp guarantees), the exponent
 * built with integer shifts, and the n % 4 tail run through the same code on a padded copy.
 * ISO C mode keeps FMA contraction off, so both clones round identically.
 */
#include "infer/vecmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define DT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DT_CLONES
#endif

#define LANES 16

/* Four floats as one value (an SSE register: 16-byte vectors have the same ABI in both
 * clones). Compare-and-select is spelled with masks, since without -fno-trapping-math the
 * compilers will not turn `a > b ? a : b` into a blend. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f vbcast(float c)
{
    v4f v = {c, c, c, c};
    return v;
}

static inline v4f vload(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* m ? a : b per lane (m lanes are all ones or all zeros). */
static inline v4f vsel(v4i m, v4f a, v4f b) { return (v4f)(((v4i)a & m) | ((v4i)b & ~m)); }

static inline v4f vexp(v4f x)
{
    /* NaN compares false and is sent to the low clamp; the high clamp keeps n <= 127. */
    x = vsel(x > vbcast(-87.3f), x, vbcast(-87.3f));
    x = vsel(x < vbcast(88.3f), x, vbcast(88.3f));
    const v4f magic = vbcast(12582912.0f); /* 1.5 * 2^23 */
    v4f n = (x * vbcast(1.44269504088896341f) + magic) - magic;
    v4f r = x - n * vbcast(0.693359375f);
    r = r + n * vbcast(2.12194440e-4f);
    v4f p = vbcast(1.9875691500e-4f);
    p = p * r + vbcast(1.3981999507e-3f);
    p = p * r + vbcast(8.3334519073e-3f);
    p = p * r + vbcast(4.1665795894e-2f);
    p = p * r + vbcast(1.6666665459e-1f);
    p = p * r + vbcast(5.0000001201e-1f);
    p = p * r * r + r + vbcast(1.0f);
    v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    return p * (v4f)e;
}

/* The n % 4 tail goes through the same vector code on a padded copy. */
static inline v4f vload_tail(const float *p, size_t n, float pad)
{
    float t[4];
    for (size_t i = 0; i < 4; i++)
        t[i] = i < n ? p[i] : pad;
    return vload(t);
}

static inline void vstore_tail(float *p, v4f v, size_t n)
{
    float t[4];
    vstore(t, v);
    memcpy(p, t, n * sizeof(float));
}

static inline float hsum(v4f v)
{
    float t[4];
    vstore(t, v);
    return (t[0] + t[2]) + (t[1] + t[3]);
}

DT_CLONES void dt_vec_exp(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vstore(y + i, vexp(vload(x + i)));
    if (i < n)
        vstore_tail(y + i, vexp(vload_tail(x + i, n - i, 0.0f)), n - i);
}

DT_CLONES float dt_vec_max(const float *x, size_t n)
{
    v4f m = vbcast(-INFINITY);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v = vload(x + i);
        m = vsel(v > m, v, m);
    }
    if (i < n) {
        v4f v = vload_tail(x + i, n - i, -INFINITY);
        m = vsel(v > m, v, m);
    }
    float t[4], r = -INFINITY;
    vstore(t, m);
    for (int l = 0; l < 4; l++)
        r = t[l] > r ? t[l] : r;
    return r;
}

DT_CLONES void dt_vec_softmax(float *x, size_t n)
{
    const v4f mx = vbcast(dt_vec_max(x, n));
    v4f acc = vbcast(0.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f e = vexp(vload(x + i) - mx);
        vstore(x + i, e);
        acc += e;
    }
    if (i < n) {
        float t[4];
        vstore(t, vexp(vload_tail(x + i, n - i, 0.0f) - mx));
        for (size_t l = n - i; l < 4; l++)
            t[l] = 0.0f; /* padding stays out of the sum */
        acc += vload(t);
        memcpy(x + i, t, (n - i) * sizeof(float));
    }
    const v4f inv = vbcast(1.0f / hsum(acc));
    for (i = 0; i + 4 <= n; i += 4)
        vstore(x + i, vload(x + i) * inv);
    if (i < n)
        vstore_tail(x + i, vload_tail(x + i, n - i, 0.0f) * inv, n - i);
}

DT_CLONES double dt_vec_logsumexp(const float *x, size_t n)
{
    float mxs = dt_vec_max(x, n);
    if (!isfinite(mxs))
        return mxs;
    const v4f mx = vbcast(mxs);
    /* Lanes hold at most 64 terms <= 1 each before they are added up in double. */
    double sum = 0;
    size_t i = 0;
    while (i + 4 <= n) {
        v4f acc = vbcast(0.0f);
        for (int k = 0; k < 64 && i + 4 <= n; k++, i += 4)
            acc += vexp(vload(x + i) - mx);
        float t[4];
        vstore(t, acc);
        for (int l = 0; l < 4; l++)
            sum += (double)t[l];
    }
    if (i < n) {
        float t[4];
        vstore(t, vexp(vload_tail(x + i, n - i, 0.0f) - mx));
        for (size_t l = 0; l < n - i; l++)
            sum += (double)t[l];
    }
    return (double)mxs + log(sum);
}

DT_CLONES void dt_vec_swiglu(float *g, const float *u, size_t n)
{
    const v4f one = vbcast(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f a = vload(g + i);
        vstore(g + i, a / (one + vexp(-a)) * vload(u + i));
    }
    if (i < n) {
        v4f a = vload_tail(g + i, n - i, 0.0f);
        vstore_tail(g + i, a / (one + vexp(-a)) * vload_tail(u + i, n - i, 0.0f), n - i);
    }
}

DT_CLONES void dt_vec_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
    double lane[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++)
            lane[l] += (double)x[i + l] * x[i + l];
    double ss = 0;
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    for (int l = 0; l < LANES; l++)
        ss += lane[l];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (i = 0; i < n; i++)
        out[i] = w[i] * (x[i] * scale);
}

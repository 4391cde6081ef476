/*
 * Vectorizable float kernels of the forward pass and the log-softmax helpers: exp, softmax,
 * logsumexp, SwiGLU. exp is a Cephes-style range reduction (x = n ln2 + r, |r| <= ln2/2) with a
 * degree-6 polynomial, relative error below 3e-7 over the float range, so loops over it
 * vectorize (libm's expf does not without -ffast-math). Inputs below -87.3 (and NaN) give the
 * smallest normal float instead of 0 and inputs above 88.3 give exp(88.3); callers that need
 * exact zeros (masked scores) write them.
 *
 * On x86-64 the kernels are built twice (baseline and x86-64-v3: AVX2 + FMA) and the loader
 * picks one (GCC/clang target_clones), so a portable binary still runs the wide version.
 * For internal use by infer/.
 */
#ifndef DT_INFER_VECMATH_H
#define DT_INFER_VECMATH_H

#include <stddef.h>

/* y[i] = exp(x[i]); y may equal x. */
void dt_vec_exp(float *y, const float *x, size_t n);
/* Largest element (-INFINITY when n == 0; NaN elements are skipped). */
float dt_vec_max(const float *x, size_t n);
/* In-place softmax of x[0..n); n >= 1. */
void dt_vec_softmax(float *x, size_t n);
/* log(sum(exp(x))) accumulated in double; returns the max when it is not finite. */
double dt_vec_logsumexp(const float *x, size_t n);
/* out[i] = w[i] * x[i] / sqrt(mean(x^2) + eps), the mean accumulated in double; out may
 * equal x. */
void dt_vec_rmsnorm(float *out, const float *x, const float *w, size_t n, float eps);
/* g[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u. */
void dt_vec_swiglu(float *g, const float *u, size_t n);

#endif

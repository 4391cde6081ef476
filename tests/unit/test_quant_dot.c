/*
 * Unit tests for infer/quant_dot.c: for every weight type with a kernel, random blocks (random
 * codes, ordinary f16 scales) dotted with random activations through the quantized path must
 * equal dequantize-then-double-dot within the bound the header documents (the activation's
 * 8-bit rounding, |x - x~| <= amax(block) / 254, times sum |w|, plus f32 accumulation); the
 * AVX2 and portable kernels agree; matvec equals per-row dots for a batch of activations; a
 * NaN scale gives NaN, not a crash.
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/quant_dot.h"
#include "tests/tap.h"
#include "util/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* byte offsets of the f16 scales in each block (the rest of a block is codes) */
static const struct {
    uint32_t type;
    int offs[2];
} types[] = {
    {DT_GGML_Q4_0, {0, -1}},   {DT_GGML_Q4_1, {0, 2}},  {DT_GGML_Q5_0, {0, -1}},
    {DT_GGML_Q5_1, {0, 2}},    {DT_GGML_Q8_0, {0, -1}}, {DT_GGML_IQ4_NL, {0, -1}},
    {DT_GGML_Q2_K, {80, 82}},  {DT_GGML_Q3_K, {108, -1}}, {DT_GGML_Q4_K, {0, 2}},
    {DT_GGML_Q5_K, {0, 2}},    {DT_GGML_Q6_K, {208, -1}}, {DT_GGML_IQ4_XS, {0, -1}},
    {DT_GGML_F32, {-1, -1}},   {DT_GGML_F16, {-1, -1}}, {DT_GGML_BF16, {-1, -1}},
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* n elements of random row bytes of type t into row (row_bytes). */
static void random_row(struct dt_rng *r, size_t k, int64_t n, uint8_t *row, size_t row_bytes)
{
    uint32_t t = types[k].type;
    if (t == DT_GGML_F32 || t == DT_GGML_F16 || t == DT_GGML_BF16) {
        float *f = malloc((size_t)n * sizeof *f);
        for (int64_t i = 0; i < n; i++)
            f[i] = (float)dt_rng_normal(r);
        dt_ggml_quantize(t, f, row, n);
        free(f);
        return;
    }
    for (size_t i = 0; i < row_bytes; i++)
        row[i] = (uint8_t)dt_rng_u64(r);
    size_t bb = dt_ggml_block_bytes(t);
    for (size_t b = 0; b < row_bytes / bb; b++)
        for (int s = 0; s < 2; s++)
            if (types[k].offs[s] >= 0)
                put16(row + b * bb + (size_t)types[k].offs[s],
                      dt_fp32_to_fp16((float)(dt_rng_normal(r) * 0.05)));
}

static int act_block(uint32_t t)
{
    enum dt_qdot_act k = dt_qdot_act_kind(t);
    return k == DT_QDOT_ACT_Q8K ? 256 : k == DT_QDOT_ACT_Q8_32 ? 32 : 0;
}

/* the documented bound for one row against activation x, its activation-rounding part
 * divided by act_div (1; 127 for the two-level activation) */
static double bound_div(uint32_t t, const float *w, const float *x, int64_t n, double act_div)
{
    int ab = act_block(t);
    double e = 0, mag = 0;
    for (int64_t i = 0; i < n; i++)
        mag += fabs((double)w[i] * x[i]);
    if (ab)
        for (int64_t b = 0; b < n / ab; b++) {
            double amax = 0, sw = 0;
            for (int j = 0; j < ab; j++) {
                amax = fmax(amax, fabs(x[b * ab + j]));
                sw += fabs(w[b * ab + j]);
            }
            e += amax / 254.0 * sw * (1 + 1e-6);
        }
    return e / act_div + 2e-6 * mag + 1e-30;
}

static double bound(uint32_t t, const float *w, const float *x, int64_t n)
{
    return bound_div(t, w, x, n, 1.0);
}

static void test_types(void)
{
    struct dt_rng r;
    dt_rng_seed(&r, 42);
    enum { N = 1024, ROWS = 24, NV = 6 };
    float *x = malloc(N * sizeof *x), *w = malloc(N * sizeof *w);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k].type;
        size_t rb = 0;
        dt_ggml_row_bytes(t, N, &rb);
        uint8_t *rows = malloc(rb * ROWS);
        size_t ab = dt_qdot_act_bytes(t, N);
        uint8_t *qx = malloc(ab * NV + 1);
        double worst = 0, worst_paths = 0;
        int ok = dt_qdot_supported(t) && ab > 0;
        for (int v = 0; v < NV && ok; v++) {
            for (int i = 0; i < N; i++) /* outliers too: a heavy-tailed activation */
                x[i] = (float)(dt_rng_normal(&r) * (i % 97 == 5 ? 20.0 : 1.0));
            ok &= dt_qdot_quantize_act(t, x, qx + ab * (size_t)v, N) == 0;
            for (int rr = 0; rr < ROWS; rr++) {
                uint8_t *row = rows + rb * (size_t)rr;
                if (v == 0)
                    random_row(&r, k, N, row, rb);
                dt_ggml_dequantize(t, row, w, N);
                double ref = 0;
                for (int i = 0; i < N; i++)
                    ref += (double)w[i] * x[i];
                dt_qdot_force_portable(1);
                float c = dt_qdot(t, row, qx + ab * (size_t)v, N);
                dt_qdot_force_portable(0);
                float f = dt_qdot(t, row, qx + ab * (size_t)v, N);
                double bnd = bound(t, w, x, N);
                worst = fmax(worst, fmax(fabs(c - ref), fabs(f - ref)) / bnd);
                worst_paths = fmax(worst_paths, fabs((double)c - f) / (bnd + 1e-30));
            }
        }
        TAP_OK(ok && worst <= 1.0,
               "%s: quantized dot within the documented bound of dequantize+dot (worst %.3f of it)",
               dt_ggml_type_name(t), worst);
        TAP_OK(worst_paths <= 0.05, "%s: SIMD and portable kernels agree (%.2g of the bound)",
               dt_ggml_type_name(t), worst_paths);
        /* matvec over NV activations (a group of 4 decoded together, then 2 single) ==
         * per-row dots, up to float accumulation order */
        float y[NV * ROWS];
        dt_qdot_matvec(t, rows, rb, ROWS, N, qx, ab, NV, y, ROWS);
        double worst_mv = 0;
        for (int rr = 0; rr < ROWS; rr++) {
            dt_ggml_dequantize(t, rows + rb * (size_t)rr, w, N);
            double mag = 0;
            for (int i = 0; i < N; i++)
                mag += fabs((double)w[i]) * 20.0; /* |x| < 20 * 5 sd */
            for (int v = 0; v < NV; v++) {
                float one = dt_qdot(t, rows + rb * (size_t)rr, qx + ab * (size_t)v, N);
                worst_mv = fmax(worst_mv, fabs((double)y[v * ROWS + rr] - one) / (1e-6 * mag));
            }
        }
        TAP_OK(worst_mv <= 1.0,
               "%s: matvec of %d activations x %d rows equals the per-row dots (%.2g of "
               "1e-6 sum |w| max |x|)",
               dt_ggml_type_name(t), NV, ROWS, worst_mv);
        if (types[k].offs[0] >= 0) {
            put16(rows + types[k].offs[0], 0x7e00); /* NaN scale in block 0 */
            TAP_OK(isnan(dt_qdot(t, rows, qx, N)), "%s: a NaN block scale gives a NaN dot",
                   dt_ggml_type_name(t));
        }
        free(rows);
        free(qx);
    }
    free(x);
    free(w);
}

/* Two-level activation: x quantized, then its rounding residual quantized again; the sum of
 * the two dots must be within bound / 127 of the exact one. */
static void test_residual(void)
{
    struct dt_rng r;
    dt_rng_seed(&r, 7);
    enum { N = 1024 };
    static const uint32_t ts[] = {DT_GGML_Q8_0, DT_GGML_Q4_K, DT_GGML_Q6_K, DT_GGML_IQ4_NL};
    float *x = malloc(N * sizeof *x), *res = malloc(N * sizeof *res), *w = malloc(N * sizeof *w);
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        size_t ti = 0;
        while (types[ti].type != ts[k])
            ti++;
        size_t rb = 0, ab = dt_qdot_act_bytes(ts[k], N);
        dt_ggml_row_bytes(ts[k], N, &rb);
        uint8_t *row = malloc(rb), *q1 = malloc(ab), *q2 = malloc(ab);
        double worst1 = 0, worst2 = 0;
        for (int it = 0; it < 8; it++) {
            random_row(&r, ti, N, row, rb);
            for (int i = 0; i < N; i++)
                x[i] = (float)(dt_rng_normal(&r) * (i % 97 == 5 ? 20.0 : 1.0));
            dt_ggml_dequantize(ts[k], row, w, N);
            double ref = 0;
            for (int i = 0; i < N; i++)
                ref += (double)w[i] * x[i];
            dt_qdot_quantize_act(ts[k], x, q1, N);
            dt_qdot_act_residual(ts[k], x, q1, N, res);
            dt_qdot_quantize_act(ts[k], res, q2, N);
            double one = dt_qdot(ts[k], row, q1, N);
            double two = one + dt_qdot(ts[k], row, q2, N);
            worst1 = fmax(worst1, fabs(one - ref) / bound(ts[k], w, x, N));
            worst2 = fmax(worst2, fabs(two - ref) / bound_div(ts[k], w, x, N, 127.0));
        }
        TAP_OK(worst2 <= 1.0,
               "%s: two-level activation within 1/127 of the bound (worst %.3f of it; one level "
               "%.3f of the full bound)",
               dt_ggml_type_name(ts[k]), worst2, worst1);
        free(row);
        free(q1);
        free(q2);
    }
    free(x);
    free(res);
    free(w);
}

/* Every ISA level this CPU runs gives the portable kernels' bits, for dt_qdot and for
 * dt_qdot_matvec with 1..16 activations (tiles of 8, 4, 2, 1 and their remainders), an odd
 * number of rows, and rows whose block count is not a multiple of the 8-block groups; the
 * float types (summed in another order by their SIMD kernels) within f32 rounding. */
static void test_isa_identical(void)
{
    struct dt_rng r;
    dt_rng_seed(&r, 99);
    enum { ROWS = 13, NV = 16 };
    const int top = dt_qdot_isa_max();
    TAP_OK(top >= DT_QDOT_ISA_PORTABLE && dt_qdot_set_isa(DT_QDOT_ISA_PORTABLE) == 0,
           "ISA levels: this CPU runs up to %s", dt_qdot_isa_name(top));
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const uint32_t t = types[k].type;
        const int flt = act_block(t) == 0;
        /* 11 or 3 blocks: a group of 8 and a remainder; 2 blocks: no full group */
        static const int64_t ns_leg[] = {352, 64, 1024}, ns_k[] = {768, 256, 2048};
        for (int ni = 0; ni < 3; ni++) {
            const int64_t n = act_block(t) == 256 ? ns_k[ni] : ns_leg[ni];
            size_t rb = 0, ab = dt_qdot_act_bytes(t, n);
            dt_ggml_row_bytes(t, n, &rb);
            uint8_t *rows = malloc(rb * ROWS), *qx = malloc(ab * NV);
            float *x = malloc((size_t)n * sizeof *x), *w = malloc((size_t)n * sizeof *w);
            float ref1[ROWS * NV], refm[NV][NV * ROWS], got[NV * ROWS];
            for (int rr = 0; rr < ROWS; rr++)
                random_row(&r, k, n, rows + rb * (size_t)rr, rb);
            for (int v = 0; v < NV; v++) {
                for (int64_t i = 0; i < n; i++)
                    x[i] = (float)(dt_rng_normal(&r) * (i % 97 == 5 ? 20.0 : 1.0));
                dt_qdot_quantize_act(t, x, qx + ab * (size_t)v, n);
            }
            dt_qdot_set_isa(DT_QDOT_ISA_PORTABLE);
            for (int v = 0; v < NV; v++)
                for (int rr = 0; rr < ROWS; rr++)
                    ref1[v * ROWS + rr] = dt_qdot(t, rows + rb * (size_t)rr, qx + ab * (size_t)v, n);
            for (int nv = 1; nv <= NV; nv++)
                dt_qdot_matvec(t, rows, rb, ROWS, n, qx, ab, nv, refm[nv - 1], ROWS);
            for (int lvl = DT_QDOT_ISA_PORTABLE; lvl <= top; lvl++) {
                dt_qdot_set_isa(lvl);
                double worst = 0;
                int same = 1;
                for (int v = 0; v < NV; v++)
                    for (int rr = 0; rr < ROWS; rr++) {
                        float g = dt_qdot(t, rows + rb * (size_t)rr, qx + ab * (size_t)v, n);
                        same &= memcmp(&g, &ref1[v * ROWS + rr], sizeof g) == 0;
                        dt_ggml_dequantize(t, rows + rb * (size_t)rr, w, n);
                        double mag = 0;
                        for (int64_t i = 0; i < n; i++)
                            mag += fabs((double)w[i]) * 100.0;
                        worst = fmax(worst, fabs((double)g - ref1[v * ROWS + rr]) / (1e-6 * mag));
                    }
                for (int nv = 1; nv <= NV; nv++) {
                    dt_qdot_matvec(t, rows, rb, ROWS, n, qx, ab, nv, got, ROWS);
                    for (int v = 0; v < nv; v++)
                        for (int rr = 0; rr < ROWS; rr++) {
                            float g = got[v * ROWS + rr];
                            if (!flt) /* quantized: every count of activations, same bits */
                                same &= memcmp(&g, &ref1[v * ROWS + rr], sizeof g) == 0;
                            else /* float rows: per count, the same as portable's up to rounding */
                                worst = fmax(worst, fabs((double)g - refm[nv - 1][v * ROWS + rr]) /
                                                        (1e-6 * 100.0 * n));
                        }
                }
                if (flt)
                    TAP_OK(worst <= 1.0, "%s n=%lld: %s within f32 rounding of portable (%.2g)",
                           dt_ggml_type_name(t), (long long)n, dt_qdot_isa_name(lvl), worst);
                else
                    TAP_OK(same, "%s n=%lld: %s bit-identical to portable (dot, matvec n_vec 1..16)",
                           dt_ggml_type_name(t), (long long)n, dt_qdot_isa_name(lvl));
            }
            free(rows);
            free(qx);
            free(x);
            free(w);
        }
    }
    dt_qdot_set_isa(top);
}

static void test_contract(void)
{
    TAP_OK(dt_qdot_act_kind(DT_GGML_Q6_K) == DT_QDOT_ACT_Q8K &&
               dt_qdot_act_kind(DT_GGML_Q4_1) == DT_QDOT_ACT_Q8_32 &&
               dt_qdot_act_kind(DT_GGML_F16) == DT_QDOT_ACT_F32 &&
               dt_qdot_act_kind(DT_GGML_IQ2_XXS) == DT_QDOT_ACT_NONE,
           "activation kinds");
    TAP_OK(dt_qdot_act_bytes(DT_GGML_Q4_K, 512) == 584 && dt_qdot_act_bytes(DT_GGML_Q4_K, 500) == 0 &&
               dt_qdot_act_bytes(DT_GGML_Q8_0, 64) == 80 && dt_qdot_act_bytes(DT_GGML_F16, 7) == 28,
           "activation sizes");
    float x[256] = {0};
    uint8_t q[292];
    TAP_OK(dt_qdot_quantize_act(DT_GGML_Q4_K, x, q, 100) == -1 &&
               dt_qdot_quantize_act(DT_GGML_IQ2_XXS, x, q, 256) == -1,
           "quantize_act refuses a partial block and unsupported types");
    x[3] = 1.0f;
    x[200] = -0.5f;
    TAP_OK(dt_qdot_quantize_act(DT_GGML_Q6_K, x, q, 256) == 0 && (int8_t)q[4 + 3] == 127 &&
               (int8_t)q[4 + 200] == -64,
           "q8_K activation codes: amax -> 127, rounding to nearest");
}

int main(void)
{
    test_contract();
    test_types();
    test_residual();
    test_isa_identical();
    return tap_done();
}

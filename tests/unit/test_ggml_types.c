/*
 * Unit tests for infer/ggml_types.c: geometry, fp16/bf16 conversions (exhaustive over all
 * 65536 bit patterns, and against the compiler's _Float16 where it has one), quantize /
 * dequantize round trips with bounded error, hand-built Q4_K/Q4_0 blocks decoded per ggml's
 * layout, and dot == dequantize + dot for every supported type.
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "tests/tap.h"
#include "util/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_geometry(void)
{
    TAP_OK(!strcmp(dt_ggml_type_name(DT_GGML_Q4_K), "q4_K"), "q4_K name");
    TAP_OK(!strcmp(dt_ggml_type_name(DT_GGML_BF16), "bf16"), "bf16 name");
    TAP_OK(dt_ggml_type_name(4) == NULL && dt_ggml_type_name(31) == NULL &&
               dt_ggml_type_name(DT_GGML_TYPE_COUNT) == NULL && dt_ggml_type_name(UINT32_MAX) == NULL,
           "removed and out-of-range type ids have no name");
    static const struct {
        uint32_t t;
        size_t blck, bytes;
    } g[] = {
        {DT_GGML_F32, 1, 4},     {DT_GGML_F16, 1, 2},      {DT_GGML_Q4_0, 32, 18},
        {DT_GGML_Q4_1, 32, 20},  {DT_GGML_Q5_0, 32, 22},   {DT_GGML_Q5_1, 32, 24},
        {DT_GGML_Q8_0, 32, 34},  {DT_GGML_Q8_1, 32, 36},   {DT_GGML_Q2_K, 256, 84},
        {DT_GGML_Q3_K, 256, 110}, {DT_GGML_Q4_K, 256, 144}, {DT_GGML_Q5_K, 256, 176},
        {DT_GGML_Q6_K, 256, 210}, {DT_GGML_Q8_K, 256, 292}, {DT_GGML_I8, 1, 1},
        {DT_GGML_I16, 1, 2},     {DT_GGML_I32, 1, 4},      {DT_GGML_I64, 1, 8},
        {DT_GGML_F64, 1, 8},     {DT_GGML_BF16, 1, 2},     {20, 32, 18},
        {23, 256, 136},          {39, 32, 17},             {40, 64, 36},
        {41, 128, 18},           {42, 64, 18},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (dt_ggml_block_elems(g[i].t) != g[i].blck || dt_ggml_block_bytes(g[i].t) != g[i].bytes)
            ok = 0;
    TAP_OK(ok, "block geometry of all named types matches ggml");
    size_t rb = 0;
    TAP_OK(dt_ggml_row_bytes(DT_GGML_Q4_K, 512, &rb) == 0 && rb == 288, "q4_K row of 512 = 288 bytes");
    TAP_OK(dt_ggml_row_bytes(DT_GGML_Q8_0, 33, &rb) == -1, "q8_0 row of 33 is rejected");
    TAP_OK(dt_ggml_row_bytes(DT_GGML_F32, INT64_MAX, &rb) == -1, "row byte overflow is rejected");
    TAP_OK(dt_ggml_row_bytes(99, 32, &rb) == -1, "unknown type row is rejected");
    static const uint32_t sup[] = {DT_GGML_F32,  DT_GGML_F16,  DT_GGML_BF16,   DT_GGML_Q4_0,
                                   DT_GGML_Q4_1, DT_GGML_Q5_0, DT_GGML_Q5_1,   DT_GGML_Q8_0,
                                   DT_GGML_Q8_1, DT_GGML_Q2_K, DT_GGML_Q3_K,   DT_GGML_Q4_K,
                                   DT_GGML_Q5_K, DT_GGML_Q6_K, DT_GGML_Q8_K,   DT_GGML_IQ4_NL,
                                   DT_GGML_IQ4_XS};
    int all = 1;
    for (size_t i = 0; i < sizeof sup / sizeof sup[0]; i++)
        all &= dt_ggml_type_supported(sup[i]);
    TAP_OK(all && !dt_ggml_type_supported(DT_GGML_IQ2_XXS) && !dt_ggml_type_supported(DT_GGML_I32) &&
               !dt_ggml_type_supported(4) && !dt_ggml_type_supported(DT_GGML_TYPE_COUNT),
           "supported set: the legacy, k- and iq4 types; grid i-quants and integers refused");
}

static void test_fp16(void)
{
    int bad = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dt_fp16_to_fp32((uint16_t)h);
        uint16_t back = dt_fp32_to_fp16(f);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            if (f == f || !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)))
                bad_nan++;
        } else if (back != h) {
            bad++;
        }
    }
    TAP_OK(bad == 0, "all 63488 non-nan halves round-trip exactly (%d bad)", bad);
    TAP_OK(bad_nan == 0, "all nan halves decode to nan and re-encode as nan (%d bad)", bad_nan);
    TAP_OK(dt_fp16_to_fp32(0x3c00) == 1.0f && dt_fp16_to_fp32(0x7bff) == 65504.0f &&
               dt_fp16_to_fp32(0x0001) == 0x1p-24f && dt_fp16_to_fp32(0x8000) == 0.0f &&
               signbit(dt_fp16_to_fp32(0x8000)) && isinf(dt_fp16_to_fp32(0xfc00)),
           "known halves decode");
    TAP_OK(dt_fp32_to_fp16(65519.0f) == 0x7bff && dt_fp32_to_fp16(65520.0f) == 0x7c00 &&
               dt_fp32_to_fp16(1e10f) == 0x7c00 && dt_fp32_to_fp16(-INFINITY) == 0xfc00,
           "overflow rounds to infinity at 65520");
    TAP_OK(dt_fp32_to_fp16(0x1p-25f) == 0 && dt_fp32_to_fp16(u2f(f2u(0x1p-25f) + 1)) == 1 &&
               dt_fp32_to_fp16(1.5f * 0x1p-24f) == 2 && dt_fp32_to_fp16(2.5f * 0x1p-24f) == 2 &&
               dt_fp32_to_fp16(-0x1p-26f) == 0x8000,
           "subnormal rounding is to nearest, ties to even");
    TAP_OK(dt_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00 && dt_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02 &&
               dt_fp32_to_fp16(0x1p-14f * (1.0f - 0x1p-12f)) == 0x0400,
           "normal rounding ties to even, and the subnormal/normal boundary rounds up");
    uint16_t qn = dt_fp32_to_fp16(NAN);
    TAP_OK((qn & 0x7c00) == 0x7c00 && (qn & 0x3ff), "nan encodes as nan");
#ifdef __FLT16_MAX__
    /* The compiler's conversion (libgcc, round to nearest even) as an independent oracle. */
    struct dt_rng rng;
    dt_rng_seed(&rng, 1234);
    int mism = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)dt_rng_u64(&rng);
        if (i & 1) /* concentrate half the samples in the interesting exponent range */
            u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 23) % 50) << 23);
        float f = u2f(u);
        if (f != f)
            continue;
        __extension__ _Float16 ref = (__extension__(_Float16)f);
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        if (rb != dt_fp32_to_fp16(f))
            mism++;
    }
    TAP_OK(mism == 0, "fp32->fp16 matches the compiler's _Float16 on 2e6 random floats (%d differ)",
           mism);
#endif
}

static void test_bf16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dt_bf16_to_fp32((uint16_t)h);
        uint16_t back = dt_fp32_to_bf16(f);
        if (f == f ? back != h : !(f != f && (back & 0x7f80) == 0x7f80 && (back & 0x7f)))
            bad++;
    }
    TAP_OK(bad == 0, "all bf16 values round-trip (%d bad)", bad);
    TAP_OK(dt_fp32_to_bf16(u2f(0x3f808000u)) == 0x3f80 && dt_fp32_to_bf16(u2f(0x3f818000u)) == 0x3f82 &&
               dt_fp32_to_bf16(u2f(0x3f808001u)) == 0x3f81,
           "bf16 rounds to nearest, ties to even");
    TAP_OK(dt_fp32_to_bf16(u2f(0x7f7fffffu)) == 0x7f80, "bf16 overflow rounds to infinity");
}

/* Hand-built Q4_K block: checks the scale packing of get_scale_min_k4 and the nibble order. */
static void test_q4_k_layout(void)
{
    uint8_t b[144] = {0};
    b[0] = 0x00, b[1] = 0x3c; /* d = 1 */
    b[2] = 0x00, b[3] = 0x38; /* dmin = 0.5 */
    uint8_t *sc = b + 4;
    /* sub-block 1: scale 2, min 3; sub-block 5: scale 0x25 (low 5, high 2), min 0x31 */
    sc[1] = 2;
    sc[5] = 3;
    sc[9] = 0x15;                   /* scale low nibble 5, min low nibble 1 */
    sc[1] |= (uint8_t)(0x2 << 6);   /* scale high bits 2 -> 0x25 = 37 */
    sc[5] |= (uint8_t)(0x3 << 6);   /* min high bits 3 -> 0x31 = 49 */
    uint8_t *qs = b + 16;
    qs[0] = 0x70;                   /* elem 0 (sub 0): 0, elem 32 (sub 1): 7 */
    qs[64 + 3] = 0x9a;              /* elem 128+3 (sub 4): 10, elem 160+3 (sub 5): 9 */
    float y[256];
    dt_ggml_dequantize(DT_GGML_Q4_K, b, y, 256);
    TAP_NEAR(y[32], 2.0 * 7 - 0.5 * 3, 0, "q4_K sub-block 1 uses scale q[1]&63 and min q[5]&63");
    TAP_NEAR(y[160 + 3], 37.0 * 9 - 0.5 * 49, 0, "q4_K sub-block 5 uses the packed high bits");
    TAP_NEAR(y[128 + 3], 0.0, 0, "q4_K sub-block 4 with scale and min 0 is zero");

    uint8_t q4[18] = {0x00, 0x40}; /* d = 2 */
    q4[2 + 1] = 0xf3;              /* elem 1: 3-8, elem 17: 15-8 */
    float z[32];
    dt_ggml_dequantize(DT_GGML_Q4_0, q4, z, 32);
    TAP_OK(z[1] == -10.0f && z[17] == 14.0f && z[0] == -16.0f, "q4_0 nibble layout");
}

static void fill(struct dt_rng *rng, float *x, int n, float scale)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)((dt_rng_uniform(rng) * 2.0 - 1.0) * scale) + (i % 64 == 5 ? 3.0f * scale : 0);
}

static void test_roundtrip(void)
{
    enum { N = 4096 };
    static const uint32_t types[] = {DT_GGML_F32,  DT_GGML_F16,  DT_GGML_BF16,   DT_GGML_Q8_0,
                                     DT_GGML_Q4_0, DT_GGML_Q4_K, DT_GGML_Q4_1,   DT_GGML_Q5_0,
                                     DT_GGML_Q5_1, DT_GGML_Q8_1, DT_GGML_Q2_K,   DT_GGML_Q3_K,
                                     DT_GGML_Q5_K, DT_GGML_Q6_K, DT_GGML_Q8_K,   DT_GGML_IQ4_NL,
                                     DT_GGML_IQ4_XS};
    /* bits per code, for the relative RMS bound of the types without a per-block bound */
    static const int bits[] = {0, 0, 0, 0, 0, 0, 4, 5, 5, 8, 2, 3, 5, 6, 8, 4, 4};
    struct dt_rng rng;
    dt_rng_seed(&rng, 42);
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *v = malloc(N * sizeof *v);
    uint8_t *q = malloc(N * 4);
    fill(&rng, x, N, 0.7f);
    for (int i = 0; i < N; i++)
        v[i] = (float)(dt_rng_uniform(&rng) - 0.5);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k];
        const char *name = dt_ggml_type_name(t);
        size_t blck = dt_ggml_block_elems(t), rb = 0;
        TAP_OK(dt_ggml_quantize(t, x, q, N) == 0, "%s quantize", name);
        dt_ggml_row_bytes(t, N, &rb);
        dt_ggml_dequantize(t, q, y, N);
        /* Per-block bound: one quantization step of the block's range (types with blck 1:
         * the relative precision of the format). */
        int ok = 1;
        double worst = 0;
        for (size_t b0 = 0; b0 < N && !bits[k]; b0 += (blck > 1 ? (t == DT_GGML_Q4_K ? 32 : blck) : 1)) {
            size_t len = blck > 1 ? (t == DT_GGML_Q4_K ? 32 : blck) : 1;
            float lo = x[b0], hi = x[b0], amax = 0;
            for (size_t j = 0; j < len; j++) {
                lo = fminf(lo, x[b0 + j]);
                hi = fmaxf(hi, x[b0 + j]);
                amax = fmaxf(amax, fabsf(x[b0 + j]));
            }
            double bound;
            switch (t) {
            case DT_GGML_F32: bound = 0; break;
            case DT_GGML_F16: bound = amax * 0x1p-11 + 0x1p-25; break;
            case DT_GGML_BF16: bound = amax * 0x1p-8; break;
            case DT_GGML_Q8_0: bound = amax / 127.0 * 0.51 + amax * 1e-3; break;
            case DT_GGML_Q4_0: bound = amax / 8.0 * 1.01; break;
            /* the sub-block step is about (hi - min(lo, 0)) / 15, inflated by 6-bit scale
             * rounding of at most one part in ~(63 / 2) for small sub-blocks */
            default: bound = (hi - fminf(lo, 0)) / 15.0 * 1.25; break;
            }
            for (size_t j = 0; j < len; j++) {
                double e = fabs((double)x[b0 + j] - y[b0 + j]);
                if (e > worst)
                    worst = e;
                if (e > bound)
                    ok = 0;
            }
        }
        if (bits[k]) {
            /* rounding to nearest on a grid of step R / (2^bits - 1), R the span of a 32-value
             * chunk (<= 2 amax; Q8_K: 256): RMS error step / sqrt(12); 30% more for the f16 scales, the
             * quantized sub-block scales of the k-quants and IQ4's uneven grid */
            double se = 0, sb = 0;
            const int chunk = t == DT_GGML_Q8_K ? 256 : 32; /* Q8_K: one scale per 256 */
            for (int b0 = 0; b0 < N; b0 += chunk) {
                float amax = 0;
                for (int j = 0; j < chunk; j++) {
                    amax = fmaxf(amax, fabsf(x[b0 + j]));
                    se += ((double)x[b0 + j] - y[b0 + j]) * ((double)x[b0 + j] - y[b0 + j]);
                }
                double step = 2.0 * amax / ((1 << bits[k]) - 1);
                sb += chunk * step * step / 12.0;
            }
            worst = sqrt(se / sb);
            ok = worst <= 1.3;
        }
        TAP_OK(ok, "%s dequantize(quantize(x)) within the format's error (worst %.3g%s)", name,
               worst, bits[k] ? " of the rounding RMS" : "");
        double ref = 0, mag = 0;
        for (int i = 0; i < N; i++) {
            ref += (double)y[i] * v[i];
            mag += fabs((double)y[i] * v[i]);
        }
        float d = dt_ggml_dot(t, q, v, N);
        TAP_NEAR(d, ref, 1e-5 * mag + 1e-6, "%s dot == dequantize + dot (%g vs %g)", name, d, ref);
        /* odd lengths for the element-wise types exercise the tails */
        if (blck == 1) {
            double r2 = 0;
            for (int i = 0; i < 37; i++)
                r2 += (double)y[i] * v[i];
            TAP_NEAR(dt_ggml_dot(t, q, v, 37), r2, 1e-5, "%s dot over 37 elements", name);
        }
    }
    /* an all-zero and a constant block quantize cleanly */
    memset(x, 0, 256 * sizeof *x);
    int zeros_ok = 1;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        dt_ggml_quantize(types[k], x, q, 256);
        dt_ggml_dequantize(types[k], q, y, 256);
        for (int i = 0; i < 256; i++)
            if (y[i] != 0.0f)
                zeros_ok = 0;
    }
    TAP_OK(zeros_ok, "zeros survive every type");
    /* non-finite weights (they come from files) encode without trapping or overflow */
    for (int i = 0; i < 256; i++)
        x[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -1.0f;
    int nonfinite_ok = 1;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        nonfinite_ok &= dt_ggml_quantize(types[k], x, q, 256) == 0;
        dt_ggml_dequantize(types[k], q, y, 256);
    }
    TAP_OK(nonfinite_ok, "NaN and inf inputs quantize in every type");
    for (int i = 0; i < 256; i++)
        x[i] = -1.25f;
    dt_ggml_quantize(DT_GGML_Q4_K, x, q, 256);
    dt_ggml_dequantize(DT_GGML_Q4_K, q, y, 256);
    TAP_NEAR(y[100], -1.25, 0.05, "q4_K constant negative block (%g)", y[100]);
    TAP_OK(dt_ggml_quantize(DT_GGML_Q4_K, x, q, 100) == -1, "quantize rejects partial blocks");
    TAP_OK(dt_ggml_quantize(DT_GGML_IQ2_XXS, x, q, 256) == -1, "quantize rejects unsupported types");
    free(x);
    free(y);
    free(v);
    free(q);
}

/* F16 rows: every half, read unaligned, converted bit for bit as dt_fp16_to_fp32 does. */
static void test_f16_rows(void)
{
    /* F16 rows (the F16C path where the CPU has it): every half value, at an odd byte offset,
     * equals the scalar conversion. */
    static unsigned char half[2 * 65536 + 1];
    static float conv[65536];
    for (unsigned h = 0; h < 65536; h++) {
        half[1 + 2 * h] = (unsigned char)(h & 0xff);
        half[2 + 2 * h] = (unsigned char)(h >> 8);
    }
    dt_ggml_dequantize(DT_GGML_F16, half + 1, conv, 65536);
    int same = 1;
    for (unsigned h = 0; h < 65536; h++) {
        float ref = dt_fp16_to_fp32((uint16_t)h);
        same &= isnan(ref) ? isnan(conv[h]) : memcmp(&ref, &conv[h], sizeof ref) == 0;
    }
    TAP_OK(same, "f16 -> f32 of all 65536 halves matches the scalar conversion bit for bit");
}

int main(void)
{
    test_geometry();
    test_fp16();
    test_bf16();
    test_f16_rows();
    test_q4_k_layout();
    test_roundtrip();
    return tap_done();
}

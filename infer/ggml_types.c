/*
 * ggml tensor types: names and block geometry for every type id ggml defines, exact
 * fp16/bf16 conversions, and dequantize / dot / quantize for the types the inference core
 * computes with (F32, F16, BF16, Q8_0, Q4_0, Q4_K).
 *
 * Block layouts follow ggml's reference code bit for bit (ggml-quants.c dequantize_row_*):
 *   Q8_0: f16 d | int8 q[32]                          x[j] = d * q[j]
 *   Q4_0: f16 d | uint8 qs[16]                        x[j] = d * ((qs[j] & 15) - 8),
 *                                                     x[j+16] = d * ((qs[j] >> 4) - 8)
 *   Q4_K: f16 d | f16 dmin | uint8 scales[12] | uint8 qs[128], 8 sub-blocks of 32 with 6-bit
 *         scale/min pairs unpacked by get_scale_min_k4; sub-blocks 2i and 2i+1 share the 32
 *         bytes qs[32i..32i+31] (low nibbles, then high nibbles).
 * All multi-byte fields are little-endian and may be unaligned inside a mapped file, so they
 * are read with memcpy. Callers guarantee that n is a multiple of the block size (the GGUF
 * reader checks every tensor's row length); these functions do no I/O and cannot fail.
 *
 * Dot products dequantize one block into a small stack buffer and accumulate into 16 float
 * lanes, a shape gcc vectorizes at -O2/-O3 without intrinsics or -ffast-math.
 */
#include "infer/ggml_types.h"

#include <math.h>
#include <string.h>

#define QK_K 256
#define QK8_0 32
#define QK4_0 32

struct type_info {
    const char *name;
    unsigned blck;  /* elements per block */
    unsigned bytes; /* bytes per block */
};

/* Geometry per ggml.c's type_traits. Ids 4, 5 (old Q4_2/Q4_3), 31-33 and 36-38 (removed
 * repacked variants) are no longer defined by ggml and are left unknown. */
static const struct type_info types[DT_GGML_TYPE_COUNT] = {
    [0] = {"f32", 1, 4},
    [1] = {"f16", 1, 2},
    [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},
    [6] = {"q5_0", 32, 22},
    [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},
    [9] = {"q8_1", 32, 36},
    [10] = {"q2_K", QK_K, 84},
    [11] = {"q3_K", QK_K, 110},
    [12] = {"q4_K", QK_K, 144},
    [13] = {"q5_K", QK_K, 176},
    [14] = {"q6_K", QK_K, 210},
    [15] = {"q8_K", QK_K, 292},
    [16] = {"iq2_xxs", QK_K, 66},
    [17] = {"iq2_xs", QK_K, 74},
    [18] = {"iq3_xxs", QK_K, 98},
    [19] = {"iq1_s", QK_K, 50},
    [20] = {"iq4_nl", 32, 18},
    [21] = {"iq3_s", QK_K, 110},
    [22] = {"iq2_s", QK_K, 82},
    [23] = {"iq4_xs", QK_K, 136},
    [24] = {"i8", 1, 1},
    [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},
    [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},
    [29] = {"iq1_m", QK_K, 56},
    [30] = {"bf16", 1, 2},
    [34] = {"tq1_0", QK_K, 54},
    [35] = {"tq2_0", QK_K, 66},
    [39] = {"mxfp4", 32, 17},
};

const char *dt_ggml_type_name(uint32_t type)
{
    return type < DT_GGML_TYPE_COUNT ? types[type].name : NULL;
}

size_t dt_ggml_block_elems(uint32_t type)
{
    return type < DT_GGML_TYPE_COUNT ? types[type].blck : 0;
}

size_t dt_ggml_block_bytes(uint32_t type)
{
    return type < DT_GGML_TYPE_COUNT ? types[type].bytes : 0;
}

int dt_ggml_type_supported(uint32_t type)
{
    switch (type) {
    case DT_GGML_F32:
    case DT_GGML_F16:
    case DT_GGML_BF16:
    case DT_GGML_Q8_0:
    case DT_GGML_Q4_0:
    case DT_GGML_Q4_K:
        return 1;
    default:
        return 0;
    }
}

int dt_ggml_row_bytes(uint32_t type, int64_t n, size_t *out)
{
    size_t blck = dt_ggml_block_elems(type), bytes = dt_ggml_block_bytes(type);
    if (!blck || n < 0 || (uint64_t)n % blck)
        return -1;
    uint64_t n_blocks = (uint64_t)n / blck;
    size_t r;
    if (__builtin_mul_overflow((size_t)n_blocks, bytes, &r))
        return -1;
    *out = r;
    return 0;
}

/* ---- half and bfloat16 ---------------------------------------------------------------- */

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Exact for every half including subnormals, infinities and NaN payloads: normals are
 * rebiased by a multiply by 2^-112, subnormals by the magic-number subtraction (both exact
 * in f32). Branch-free so that dequantize loops vectorize. */
static inline float fp16_to_fp32_inline(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normalized = u2f((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float denormalized = u2f((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t is_denorm = (uint32_t)0 - (uint32_t)(two_w < (1u << 27)); /* all ones or 0 */
    const uint32_t bits = (f2u(denormalized) & is_denorm) | (f2u(normalized) & ~is_denorm);
    return u2f(sign | bits);
}

float dt_fp16_to_fp32(uint16_t h)
{
    return fp16_to_fp32_inline(h);
}

/* Converts n halves (unaligned little-endian bytes) in chunks through an aligned buffer, so
 * the conversion loop itself vectorizes. */
static void fp16_row_to_fp32(const uint8_t *src, float *dst, int64_t n)
{
    uint16_t tmp[256];
    for (int64_t i = 0; i < n; i += 256) {
        int64_t m = n - i < 256 ? n - i : 256;
        memcpy(tmp, src + 2 * i, (size_t)m * 2);
        for (int64_t j = 0; j < m; j++)
            dst[i + j] = fp16_to_fp32_inline(tmp[j]);
    }
}

static void bf16_row_to_fp32(const uint8_t *src, float *dst, int64_t n)
{
    uint16_t tmp[256];
    for (int64_t i = 0; i < n; i += 256) {
        int64_t m = n - i < 256 ? n - i : 256;
        memcpy(tmp, src + 2 * i, (size_t)m * 2);
        for (int64_t j = 0; j < m; j++)
            dst[i + j] = u2f((uint32_t)tmp[j] << 16);
    }
}

/* Round to nearest, ties to even; overflow goes to infinity, NaN stays a (quiet) NaN. */
uint16_t dt_fp32_to_fp16(float f)
{
    const uint32_t x = f2u(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below the smallest normal half (2^-14) */
        if (a <= 0x33000000u) /* <= 2^-25: rounds to zero (2^-25 is a tie, to even) */
            return sign;
        const uint32_t e = a >> 23;
        const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - e; /* value in units of 2^-24 is mant >> shift */
        uint32_t q = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    const uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t q = r >> 13;
    const uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

float dt_bf16_to_fp32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

uint16_t dt_fp32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/* ---- block dequantizers ---------------------------------------------------------------- */

static void deq_q8_0(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const int8_t *q = (const int8_t *)(b + 2);
    for (int j = 0; j < QK8_0; j++)
        y[j] = d * (float)q[j];
}

static void deq_q4_0(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < QK4_0 / 2; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + QK4_0 / 2] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static void deq_q4_k(const uint8_t *b, float *y)
{
    const float d = dt_fp16_to_fp32(rd16(b));
    const float min = dt_fp16_to_fp32(rd16(b + 2));
    const uint8_t *scales = b + 4;
    const uint8_t *q = b + 16;
    int is = 0;
    for (int j = 0; j < QK_K; j += 64) {
        uint8_t sc, m;
        get_scale_min_k4(is + 0, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        get_scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

void dt_ggml_dequantize(uint32_t type, const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    switch (type) {
    case DT_GGML_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DT_GGML_F16:
        fp16_row_to_fp32(s, dst, n);
        break;
    case DT_GGML_BF16:
        bf16_row_to_fp32(s, dst, n);
        break;
    case DT_GGML_Q8_0:
        for (int64_t i = 0; i < n / QK8_0; i++)
            deq_q8_0(s + 34 * i, dst + QK8_0 * i);
        break;
    case DT_GGML_Q4_0:
        for (int64_t i = 0; i < n / QK4_0; i++)
            deq_q4_0(s + 18 * i, dst + QK4_0 * i);
        break;
    case DT_GGML_Q4_K:
        for (int64_t i = 0; i < n / QK_K; i++)
            deq_q4_k(s + 144 * i, dst + QK_K * i);
        break;
    default:
        /* Callers check dt_ggml_type_supported; zeros are a safe answer for a bug. */
        memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

/* ---- dot products ----------------------------------------------------------------------- */

#define LANES 16

/* n must be a multiple of LANES; the lane array is what lets gcc vectorize the reduction
 * without reassociating float additions on its own. */
static inline void dot_acc(const float *a, const float *b, size_t n, float *acc)
{
    for (size_t i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[i + (size_t)l] * b[i + (size_t)l];
}

static inline float lanes_sum(const float *acc)
{
    float s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

#define CHUNK 256

float dt_ggml_dot(uint32_t type, const void *row, const float *x, int64_t n)
{
    const uint8_t *s = row;
    float acc[LANES] = {0};
    float buf[CHUNK];
    int64_t i = 0;
    switch (type) {
    case DT_GGML_F32: {
        const float *a = row;
        int64_t n16 = n - n % LANES;
        if (((uintptr_t)row & 3u) == 0) {
            dot_acc(a, x, (size_t)n16, acc);
        } else {
            for (i = 0; i < n16; i += CHUNK) {
                int64_t m = n16 - i < CHUNK ? n16 - i : CHUNK;
                memcpy(buf, s + 4 * i, (size_t)m * 4);
                dot_acc(buf, x + i, (size_t)m, acc);
            }
        }
        float t = lanes_sum(acc);
        for (i = n16; i < n; i++) {
            float v;
            memcpy(&v, s + 4 * i, 4);
            t += v * x[i];
        }
        return t;
    }
    case DT_GGML_F16:
    case DT_GGML_BF16: {
        float t = 0;
        for (i = 0; i < n; i += CHUNK) {
            int64_t m = n - i < CHUNK ? n - i : CHUNK;
            dt_ggml_dequantize(type, s + 2 * i, buf, m);
            int64_t m16 = m - m % LANES;
            dot_acc(buf, x + i, (size_t)m16, acc);
            for (int64_t j = m16; j < m; j++)
                t += buf[j] * x[i + j];
        }
        return t + lanes_sum(acc);
    }
    case DT_GGML_Q8_0:
        /* Dequantize then accumulate: one horizontal sum per row, not one per block. */
        for (int64_t b = 0; b < n / QK8_0; b++) {
            deq_q8_0(s + 34 * b, buf);
            dot_acc(buf, x + QK8_0 * b, QK8_0, acc);
        }
        return lanes_sum(acc);
    case DT_GGML_Q4_0:
        for (int64_t b = 0; b < n / QK4_0; b++) {
            deq_q4_0(s + 18 * b, buf);
            dot_acc(buf, x + QK4_0 * b, QK4_0, acc);
        }
        return lanes_sum(acc);
    case DT_GGML_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            deq_q4_k(s + 144 * b, buf);
            dot_acc(buf, x + QK_K * b, QK_K, acc);
        }
        return lanes_sum(acc);
    default:
        return 0.0f;
    }
}

/* ---- quantizers ------------------------------------------------------------------------- */

static void q8_0_block(const float *x, uint8_t *b)
{
    float amax = 0;
    for (int j = 0; j < QK8_0; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    wr16(b, dt_fp32_to_fp16(d));
    for (int j = 0; j < QK8_0; j++)
        b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* ggml's quantize_row_q4_0_ref: the signed extreme maps to -8 so the full range is used. */
static void q4_0_block(const float *x, uint8_t *b)
{
    float amax = 0, max = 0;
    for (int j = 0; j < QK4_0; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8.0f;
    const float id = d ? 1.0f / d : 0.0f;
    wr16(b, dt_fp32_to_fp16(d));
    for (int j = 0; j < QK4_0 / 2; j++) {
        float x0 = x[j] * id + 8.5f, x1 = x[QK4_0 / 2 + j] * id + 8.5f;
        int q0 = x0 < 0 ? 0 : (int)x0, q1 = x1 < 0 ? 0 : (int)x1;
        q0 = q0 > 15 ? 15 : q0;
        q1 = q1 > 15 ? 15 : q1;
        b[2 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A simple Q4_K encoder: per sub-block an affine range [min(0, lo), hi] split in 15 steps;
 * the mins and scales are quantized to 6 bits against the block's f16 dmin and d, rounding
 * up so that every value stays inside the representable range. The error per element is at
 * most about one quantization step of its sub-block. */
static void q4_k_block(const float *x, uint8_t *b)
{
    float mins[8], ranges[8];
    float max_min = 0;
    for (int s = 0; s < 8; s++) {
        float lo = x[32 * s], hi = x[32 * s];
        for (int l = 1; l < 32; l++) {
            lo = fminf(lo, x[32 * s + l]);
            hi = fmaxf(hi, x[32 * s + l]);
        }
        mins[s] = lo < 0 ? -lo : 0; /* stored as a positive offset: x = d*sc*q - dmin*m */
        ranges[s] = hi;
        max_min = fmaxf(max_min, mins[s]);
    }
    const float dmin = dt_fp16_to_fp32(dt_fp32_to_fp16(max_min / 63.0f));
    uint8_t ms[8], ls[8];
    float max_scale = 0, scale_need[8];
    for (int s = 0; s < 8; s++) {
        ms[s] = (uint8_t)(dmin > 0 ? clampi((int)ceilf(mins[s] / dmin), 0, 63) : 0);
        float range = ranges[s] + dmin * ms[s];
        scale_need[s] = range > 0 ? range / 15.0f : 0;
        max_scale = fmaxf(max_scale, scale_need[s]);
    }
    /* The f16 rounding of d may go either way; nudge it up so ceil() below stays <= 63. */
    float d = dt_fp16_to_fp32(dt_fp32_to_fp16(max_scale / 63.0f));
    if (d * 63.0f < max_scale)
        d = dt_fp16_to_fp32((uint16_t)(dt_fp32_to_fp16(d) + 1));
    for (int s = 0; s < 8; s++)
        ls[s] = (uint8_t)(d > 0 ? clampi((int)ceilf(scale_need[s] / d), 0, 63) : 0);

    wr16(b, dt_fp32_to_fp16(d));
    wr16(b + 2, dt_fp32_to_fp16(dmin));
    uint8_t *scales = b + 4;
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = ms[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((ms[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j - 0] |= (uint8_t)((ms[j] >> 4) << 6);
        }
    }
    uint8_t q[QK_K];
    for (int s = 0; s < 8; s++) {
        const float sd = d * ls[s], sm = dmin * ms[s];
        for (int l = 0; l < 32; l++) {
            int v = sd > 0 ? (int)lrintf((x[32 * s + l] + sm) / sd) : 0;
            q[32 * s + l] = (uint8_t)clampi(v, 0, 15);
        }
    }
    uint8_t *qs = b + 16;
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++)
            qs[j / 2 + l] = (uint8_t)(q[j + l] | (q[j + 32 + l] << 4));
}

int dt_ggml_quantize(uint32_t type, const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    size_t blck = dt_ggml_block_elems(type);
    if (n < 0 || !blck || (uint64_t)n % blck)
        return -1;
    switch (type) {
    case DT_GGML_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 0;
    case DT_GGML_F16:
        for (int64_t i = 0; i < n; i++)
            wr16(d + 2 * i, dt_fp32_to_fp16(src[i]));
        return 0;
    case DT_GGML_BF16:
        for (int64_t i = 0; i < n; i++)
            wr16(d + 2 * i, dt_fp32_to_bf16(src[i]));
        return 0;
    case DT_GGML_Q8_0:
        for (int64_t i = 0; i < n / QK8_0; i++)
            q8_0_block(src + QK8_0 * i, d + 34 * i);
        return 0;
    case DT_GGML_Q4_0:
        for (int64_t i = 0; i < n / QK4_0; i++)
            q4_0_block(src + QK4_0 * i, d + 18 * i);
        return 0;
    case DT_GGML_Q4_K:
        for (int64_t i = 0; i < n / QK_K; i++)
            q4_k_block(src + QK_K * i, d + 144 * i);
        return 0;
    default:
        return -1;
    }
}

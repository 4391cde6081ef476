/*
 * ggml tensor types: names and block geometry for every type id ggml defines, exact
 * fp16/bf16 conversions, and dequantize / dot / quantize for the types the inference core
 * computes with: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K, Q8_K,
 * IQ4_NL, IQ4_XS. The grid i-quants (IQ1_*, IQ2_*, IQ3_*) and TQ/MXFP4 are named but
 * unsupported, so loaders refuse them by name.
 *
 * Block layouts follow ggml's ggml-common.h and the decoders its reference dequantize_row_*
 * bit for bit (checked by tests/quant/ref_dequant.py against an independent numpy decoder);
 * each decoder below documents its layout.
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

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define DT_HAVE_F16C_PATH 1
#include <immintrin.h>
#endif

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
    [40] = {"nvfp4", 64, 36}, /* 4 UE4M3 scales, 32 bytes of E2M1 pairs */
    [41] = {"q1_0", 128, 18}, /* f16 d, 16 bytes of 1-bit codes */
    [42] = {"q2_0", 64, 18},  /* f16 d, 16 bytes of 2-bit codes */
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

typedef void (*deq_block_fn)(const uint8_t *b, float *y);
static deq_block_fn block_decoder(uint32_t type);

int dt_ggml_type_supported(uint32_t type)
{
    switch (type) {
    case DT_GGML_F32:
    case DT_GGML_F16:
    case DT_GGML_BF16:
        return 1;
    default:
        return block_decoder(type) != NULL;
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

#ifdef DT_HAVE_F16C_PATH
__attribute__((target("avx,f16c"))) static size_t f16_to_f32_f16c(float *dst, const uint8_t *src,
                                                                    size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    return i;
}
#endif

/* dst[i] = the little-endian IEEE half at src + 2 i (any alignment); exact. Uses the F16C
 * instructions when the CPU has them. */
static void f16_row_to_fp32(const uint8_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
#ifdef DT_HAVE_F16C_PATH
    /* Every AVX2 CPU has F16C (x86-64-v3); clang 14 cannot test "f16c" by name. */
    if (__builtin_cpu_supports("avx2"))
        i = (int64_t)f16_to_f32_f16c(dst, src, (size_t)n);
#endif
    for (; i < n; i++)
        dst[i] = dt_fp16_to_fp32((uint16_t)(src[2 * i] | (unsigned)src[2 * i + 1] << 8));
}

/* Converts n halves (unaligned little-endian bytes) in chunks through an aligned buffer, so
 * the conversion loop itself vectorizes. */
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

/* ---- block dequantizers ----------------------------------------------------------------
 * One function per type decodes one block. The float expressions keep ggml's operand order
 * (ISO C mode: no FMA contraction), so the results are bit-identical to its reference
 * dequantize_row_*. A NaN or infinite f16 scale in an untrusted file is decoded as the value
 * it is; nothing here indexes memory by a decoded value except the 4-bit IQ4 code table. */

/* IQ4_NL / IQ4_XS code book: the 16 non-uniform levels of the format. */
static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

static void deq_q8_0(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const int8_t *q = (const int8_t *)(b + 2);
    for (int j = 0; j < QK8_0; j++)
        y[j] = (float)q[j] * d;
}

/* Q8_1: f16 d, f16 s (= d * sum q, unused to decode), int8 q[32]. */
static void deq_q8_1(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const int8_t *q = (const int8_t *)(b + 4);
    for (int j = 0; j < 32; j++)
        y[j] = (float)q[j] * d;
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

/* Q4_1: f16 d, f16 m, nibbles as Q4_0; x = q*d + m. */
static void deq_q4_1(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b)), m = fp16_to_fp32_inline(rd16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0f) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* Q5_0 / Q5_1: the fifth bit of element j is bit j of the little-endian u32 qh. */
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void deq_q5_0(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const uint32_t qh = rd32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = (float)(((qs[j] & 0x0f) | h0) - 16) * d;
        y[j + 16] = (float)(((qs[j] >> 4) | h1) - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b)), m = fp16_to_fp32_inline(rd16(b + 2));
    const uint32_t qh = rd32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = (float)((qs[j] & 0x0f) | h0) * d + m;
        y[j + 16] = (float)((qs[j] >> 4) | h1) * d + m;
    }
}

static void deq_iq4_nl(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)kvalues_iq4nl[qs[j] & 0x0f];
        y[j + 16] = d * (float)kvalues_iq4nl[qs[j] >> 4];
    }
}

/* Q2_K: uint8 scales[16] (low nibble scale, high nibble min, per 16 elements), uint8 qs[64]
 * (2-bit codes), f16 d, f16 dmin. Each 128-element half reads 32 code bytes four times at
 * shifts 0, 2, 4, 6; each pass covers 32 elements (two 16-element groups). */
static void deq_q2_k(const uint8_t *b, float *y)
{
    const uint8_t *sc = b, *q = b + 16;
    const float d = fp16_to_fp32_inline(rd16(b + 80)), min = fp16_to_fp32_inline(rd16(b + 82));
    int is = 0;
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int g = 0; g < 2; g++, is++) {
                const float dl = d * (float)(sc[is] & 0x0f), ml = min * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * (float)((q[16 * g + l] >> shift) & 3) - ml;
            }
}

/* 6-bit scale j (0..15) of Q3_K's 12 scale bytes: the low 4 bits are the low (j < 8) or high
 * nibbles of bytes 0..7, the top 2 bits come from bytes 8..11; stored with a +32 bias. */
static inline int q3k_scale(const uint8_t *s, int j)
{
    int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
    int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | hi << 4) - 32;
}

/* Q3_K: uint8 hmask[32] (third bit; clear means subtract 4), uint8 qs[64] (low 2 bits, laid
 * out as Q2_K), uint8 scales[12], f16 d. */
static void deq_q3_k(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *q = b + 32, *sc = b + 96;
    const float d_all = fp16_to_fp32_inline(rd16(b + 108));
    int is = 0, bit = 0;
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2, bit++)
            for (int g = 0; g < 2; g++, is++) {
                const float dl = d_all * (float)q3k_scale(sc, is);
                for (int l = 0; l < 16; l++) {
                    int v = ((q[16 * g + l] >> shift) & 3) - ((hm[16 * g + l] >> bit) & 1 ? 0 : 4);
                    *y++ = dl * (float)v;
                }
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
    const float d = fp16_to_fp32_inline(rd16(b));
    const float min = fp16_to_fp32_inline(rd16(b + 2));
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

/* Q5_K: Q4_K's header and scales, uint8 qh[32] (fifth bit: sub-block s uses bit s of
 * qh[l]), uint8 qs[128]. */
static void deq_q5_k(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const float min = fp16_to_fp32_inline(rd16(b + 2));
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    for (int s = 0; s < 8; s += 2, ql += 32) {
        uint8_t sc, m;
        get_scale_min_k4(s, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        get_scale_min_k4(s + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((ql[l] & 0xF) + (((qh[l] >> s) & 1) << 4)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((ql[l] >> 4) + (((qh[l] >> (s + 1)) & 1) << 4)) - m2;
    }
}

/* Q6_K: uint8 ql[128] (low 4 bits), uint8 qh[64] (top 2 bits), int8 scales[16], f16 d.
 * Per 128-element half: element l + 32k takes nibble (k >> 1) of ql[l + 32 (k & 1)] and bits
 * 2k..2k+1 of qh[l]; code - 32, times d * scale[l / 16 + 2k]. */
static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = fp16_to_fp32_inline(rd16(b + 208));
    for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            for (int k = 0; k < 4; k++) {
                int lo = (ql[l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0x0f;
                int q = (lo | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                y[l + 32 * k] = d * (float)sc[is + 2 * k] * (float)q;
            }
        }
}

/* IQ4_XS: f16 d, u16 scales_h (top 2 bits of 8 scales), uint8 scales_l[4] (low nibbles),
 * uint8 qs[128]; sub-block s is IQ4_NL-coded with scale d * (ls - 32). */
static void deq_iq4_xs(const uint8_t *b, float *y)
{
    const float d = fp16_to_fp32_inline(rd16(b));
    const unsigned sh = rd16(b + 2);
    const uint8_t *sl = b + 4, *qs = b + 8;
    for (int s = 0; s < 8; s++, y += 32, qs += 16) {
        const int ls = ((sl[s / 2] >> (4 * (s % 2))) & 0x0f) | (int)((sh >> (2 * s)) & 3) << 4;
        const float dl = d * (float)(ls - 32);
        for (int j = 0; j < 16; j++) {
            y[j] = dl * (float)kvalues_iq4nl[qs[j] & 0x0f];
            y[j + 16] = dl * (float)kvalues_iq4nl[qs[j] >> 4];
        }
    }
}

/* Q8_K (ggml's activation format; may appear in files): f32 d, int8 q[256], int16 bsums[16]. */
static void deq_q8_k(const uint8_t *b, float *y)
{
    float d;
    memcpy(&d, b, 4);
    const int8_t *q = (const int8_t *)(b + 4);
    for (int j = 0; j < QK_K; j++)
        y[j] = d * (float)q[j];
}

static deq_block_fn block_decoder(uint32_t type)
{
    switch (type) {
    case DT_GGML_Q4_0: return deq_q4_0;
    case DT_GGML_Q4_1: return deq_q4_1;
    case DT_GGML_Q5_0: return deq_q5_0;
    case DT_GGML_Q5_1: return deq_q5_1;
    case DT_GGML_Q8_0: return deq_q8_0;
    case DT_GGML_Q8_1: return deq_q8_1;
    case DT_GGML_Q2_K: return deq_q2_k;
    case DT_GGML_Q3_K: return deq_q3_k;
    case DT_GGML_Q4_K: return deq_q4_k;
    case DT_GGML_Q5_K: return deq_q5_k;
    case DT_GGML_Q6_K: return deq_q6_k;
    case DT_GGML_Q8_K: return deq_q8_k;
    case DT_GGML_IQ4_NL: return deq_iq4_nl;
    case DT_GGML_IQ4_XS: return deq_iq4_xs;
    default: return NULL;
    }
}

void dt_ggml_dequantize(uint32_t type, const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    deq_block_fn f;
    switch (type) {
    case DT_GGML_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case DT_GGML_F16:
        f16_row_to_fp32(s, dst, n);
        break;
    case DT_GGML_BF16:
        bf16_row_to_fp32(s, dst, n);
        break;
    default:
        if ((f = block_decoder(type)) != NULL) {
            const size_t be = types[type].blck, bb = types[type].bytes;
            for (int64_t i = 0; i < n / (int64_t)be; i++)
                f(s + bb * (size_t)i, dst + be * (size_t)i);
        } else {
            /* Callers check dt_ggml_type_supported; zeros are a safe answer for a bug. */
            memset(dst, 0, (size_t)n * sizeof(float));
        }
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
    default: {
        /* Dequantize a block then accumulate: one horizontal sum per row, not per block. */
        deq_block_fn f = block_decoder(type);
        if (!f)
            return 0.0f;
        const size_t be = types[type].blck, bb = types[type].bytes;
        for (int64_t b = 0; b < n / (int64_t)be; b++) {
            f(s + bb * (size_t)b, buf);
            dot_acc(buf, x + be * (size_t)b, be, acc);
        }
        return lanes_sum(acc);
    }
    }
}

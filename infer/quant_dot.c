/*
 * Quantized dot products (see quant_dot.h): the activation is quantized once to 8 bits per
 * element and each stored weight row is dotted with it in integer arithmetic, block by block,
 * the float scales applied once per block (per 16 or 32 elements inside the k-quants).
 *
 * Activation formats (little-endian, read with memcpy / unaligned loads):
 *   Q8_32 (40 bytes / 32 elements), in groups of 8 blocks (256 elements; the last group of a
 *        row may hold fewer, k): f32 d[k] | f32 s[k] (s = d * sum(q)) | int8 q[k][32];
 *        x ~ d * q. Vector kernels load a group's 8 scales, 8 sums and 256 codes contiguously.
 *   Q8K  (292 bytes / 256 elements): f32 d | int8 q[256] | int16 bsums[16] (sum of each 16 q)
 * Both use the symmetric scale d = amax / 127 and round to nearest, so |x - d q| <= d / 2.
 * The offset types (Q4_1, Q5_1: x = d q + m) use s to add m * sum(x) once per block; the
 * k-quants with mins (Q2_K, Q4_K, Q5_K) use bsums the same way per sub-block.
 *
 * Every kernel exists as portable C (integer sums exactly as the block decoders of
 * ggml_types.c read the codes) and, on x86-64, as an AVX2/FMA version chosen at first use
 * when the CPU has both; the integer sums of the two agree exactly, only the float
 * accumulation order of the per-block terms differs.
 */
#include "infer/quant_dot.h"

#include "infer/ggml_types.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define DT_QDOT_AVX2 1
#include <immintrin.h>
#endif

#define QK 32
#define QKK 256
#define A32_BYTES 40

/* Where block b of a Q8_32 activation of nb blocks keeps its d, s and codes (see above). */
static inline void a32_at(const uint8_t *a, int64_t nb, int64_t b, const uint8_t **d,
                          const uint8_t **s, const int8_t **q)
{
    const int64_t g = b >> 3;
    const int k = (int)(b & 7), nk = nb - 8 * g < 8 ? (int)(nb - 8 * g) : 8;
    const uint8_t *base = a + (size_t)g * 8 * A32_BYTES;
    *d = base + 4 * k;
    *s = base + 4 * nk + 4 * k;
    *q = (const int8_t *)(base + 8 * nk + 32 * k);
}
#define AK_BYTES 292

static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline float rdf(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

static inline int16_t rdi16(const uint8_t *p)
{
    return (int16_t)rd16(p);
}

static inline float h2f(const uint8_t *p)
{
    return dt_fp16_to_fp32(rd16(p));
}

enum dt_qdot_act dt_qdot_act_kind(uint32_t wtype)
{
    switch (wtype) {
    case DT_GGML_F32:
    case DT_GGML_F16:
    case DT_GGML_BF16:
        return DT_QDOT_ACT_F32;
    case DT_GGML_Q4_0:
    case DT_GGML_Q4_1:
    case DT_GGML_Q5_0:
    case DT_GGML_Q5_1:
    case DT_GGML_Q8_0:
    case DT_GGML_IQ4_NL:
        return DT_QDOT_ACT_Q8_32;
    case DT_GGML_Q2_K:
    case DT_GGML_Q3_K:
    case DT_GGML_Q4_K:
    case DT_GGML_Q5_K:
    case DT_GGML_Q6_K:
    case DT_GGML_IQ4_XS:
        return DT_QDOT_ACT_Q8K;
    default:
        return DT_QDOT_ACT_NONE;
    }
}

int dt_qdot_supported(uint32_t wtype)
{
    return dt_qdot_act_kind(wtype) != DT_QDOT_ACT_NONE;
}

size_t dt_qdot_act_bytes(uint32_t wtype, int64_t n)
{
    if (n < 0)
        return 0;
    switch (dt_qdot_act_kind(wtype)) {
    case DT_QDOT_ACT_F32:
        return (size_t)n * sizeof(float);
    case DT_QDOT_ACT_Q8_32:
        return n % QK ? 0 : (size_t)(n / QK) * A32_BYTES;
    case DT_QDOT_ACT_Q8K:
        return n % QKK ? 0 : (size_t)(n / QKK) * AK_BYTES;
    default:
        return 0;
    }
}

/* Symmetric 8-bit codes of m values: returns the scale, writes q and their sum. NaN inputs
 * give a NaN scale (and so a NaN dot), as an f32 product with them would. */
static float quant8(const float *x, int m, int8_t *q, int *sum)
{
    float amax = 0;
    for (int j = 0; j < m; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    for (int j = 0; j < m && amax == amax; j++)
        if (x[j] != x[j])
            amax = NAN;
    const float d = amax / 127.0f;
    const float id = d > 0 && isfinite(d) ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < m; j++) {
        float v = x[j] * id;
        /* |v| <= 127 up to the rounding of 1 / d; NaN (only with a NaN scale) gives 0 */
        int c = v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)lrintf(v) : 0;
        q[j] = (int8_t)c;
        s += c;
    }
    *sum = s;
    return d;
}

int dt_qdot_quantize_act(uint32_t wtype, const float *x, void *qx, int64_t n)
{
    uint8_t *o = qx;
    if (dt_qdot_act_bytes(wtype, n) == 0 && n != 0)
        return -1;
    switch (dt_qdot_act_kind(wtype)) {
    case DT_QDOT_ACT_F32:
        memcpy(qx, x, (size_t)n * sizeof(float));
        return 0;
    case DT_QDOT_ACT_Q8_32:
        for (int64_t b = 0; b < n / QK; b++) {
            const uint8_t *pd, *ps;
            const int8_t *pq;
            a32_at(o, n / QK, b, &pd, &ps, &pq);
            int8_t q[QK];
            int sum;
            float d = quant8(x + QK * b, QK, q, &sum);
            float s = d * (float)sum;
            memcpy((uint8_t *)(uintptr_t)pd, &d, 4);
            memcpy((uint8_t *)(uintptr_t)ps, &s, 4);
            memcpy((int8_t *)(uintptr_t)pq, q, QK);
        }
        return 0;
    case DT_QDOT_ACT_Q8K:
        for (int64_t b = 0; b < n / QKK; b++, o += AK_BYTES) {
            int8_t q[QKK];
            int sum;
            float d = quant8(x + QKK * b, QKK, q, &sum);
            memcpy(o, &d, 4);
            memcpy(o + 4, q, QKK);
            for (int g = 0; g < 16; g++) {
                int16_t bs = 0;
                for (int l = 0; l < 16; l++)
                    bs = (int16_t)(bs + q[16 * g + l]);
                memcpy(o + 260 + 2 * g, &bs, 2);
            }
        }
        return 0;
    default:
        return -1;
    }
}

void dt_qdot_act_residual(uint32_t wtype, const float *x, const void *qx, int64_t n, float *r)
{
    const uint8_t *o = qx;
    switch (dt_qdot_act_kind(wtype)) {
    case DT_QDOT_ACT_Q8_32:
        for (int64_t b = 0; b < n / QK; b++) {
            const uint8_t *pd, *ps;
            const int8_t *pq;
            a32_at(o, n / QK, b, &pd, &ps, &pq);
            const float d = rdf(pd);
            for (int j = 0; j < QK; j++)
                r[QK * b + j] = x[QK * b + j] - d * (float)pq[j];
        }
        break;
    case DT_QDOT_ACT_Q8K:
        for (int64_t b = 0; b < n / QKK; b++, o += AK_BYTES) {
            const float d = rdf(o);
            for (int j = 0; j < QKK; j++)
                r[QKK * b + j] = x[QKK * b + j] - d * (float)(int8_t)o[4 + j];
        }
        break;
    default: /* the f32 kind is exact */
        for (int64_t i = 0; i < n; i++)
            r[i] = 0.0f;
        break;
    }
}

/* ---- portable kernels ------------------------------------------------------------------ */

typedef float (*qdot_fn)(const uint8_t *w, const uint8_t *a, int64_t n);

static float f32_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += rdf(w + 4 * (i + l)) * rdf(a + 4 * (i + l));
    float s = 0;
    for (; i < n; i++)
        s += rdf(w + 4 * i) * rdf(a + 4 * i);
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

static float f16_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += h2f(w + 2 * (i + l)) * rdf(a + 4 * (i + l));
    float s = 0;
    for (; i < n; i++)
        s += h2f(w + 2 * i) * rdf(a + 4 * i);
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

static float bf16_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += dt_bf16_to_fp32(rd16(w + 2 * (i + l))) * rdf(a + 4 * (i + l));
    float s = 0;
    for (; i < n; i++)
        s += dt_bf16_to_fp32(rd16(w + 2 * i)) * rdf(a + 4 * i);
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

/* The 32 codes of a legacy block in element order, as signed integers (offset removed for
 * the symmetric types). */
static void codes32(uint32_t type, const uint8_t *b, int *c)
{
    switch (type) {
    case DT_GGML_Q4_0:
        for (int j = 0; j < 16; j++) {
            c[j] = (b[2 + j] & 15) - 8;
            c[j + 16] = (b[2 + j] >> 4) - 8;
        }
        break;
    case DT_GGML_Q4_1:
        for (int j = 0; j < 16; j++) {
            c[j] = b[4 + j] & 15;
            c[j + 16] = b[4 + j] >> 4;
        }
        break;
    case DT_GGML_Q5_0: {
        uint32_t qh = rd32(b + 2);
        for (int j = 0; j < 16; j++) {
            c[j] = ((b[6 + j] & 15) | (int)((qh >> j) & 1) << 4) - 16;
            c[j + 16] = ((b[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
        }
        break;
    }
    case DT_GGML_Q5_1: {
        uint32_t qh = rd32(b + 4);
        for (int j = 0; j < 16; j++) {
            c[j] = (b[8 + j] & 15) | (int)((qh >> j) & 1) << 4;
            c[j + 16] = (b[8 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        }
        break;
    }
    case DT_GGML_Q8_0:
        for (int j = 0; j < 32; j++)
            c[j] = (int8_t)b[2 + j];
        break;
    case DT_GGML_IQ4_NL:
        for (int j = 0; j < 16; j++) {
            c[j] = kvalues_iq4nl[b[2 + j] & 15];
            c[j + 16] = kvalues_iq4nl[b[2 + j] >> 4];
        }
        break;
    default:
        memset(c, 0, 32 * sizeof *c);
        break;
    }
}

static size_t legacy_block_bytes(uint32_t type)
{
    return type == DT_GGML_Q4_0 || type == DT_GGML_IQ4_NL ? 18
           : type == DT_GGML_Q4_1                            ? 20
           : type == DT_GGML_Q5_0                            ? 22
           : type == DT_GGML_Q5_1                            ? 24
                                                             : 34;
}

/* One legacy block into its accumulator: *acc += (d_w d_x) isum, then *acc += m_w s_x for
 * the offset types. The float combination every ISA level reproduces bit for bit. */
static inline void legacy_block_c(uint32_t type, const uint8_t *w, const uint8_t *a, int64_t nb,
                                  int64_t b, float *acc)
{
    const uint8_t *pd, *ps;
    const int8_t *q;
    a32_at(a, nb, b, &pd, &ps, &q);
    int c[32], isum = 0;
    codes32(type, w, c);
    for (int j = 0; j < 32; j++)
        isum += c[j] * q[j];
    *acc = *acc + h2f(w) * rdf(pd) * (float)isum;
    if (type == DT_GGML_Q4_1 || type == DT_GGML_Q5_1)
        *acc = *acc + h2f(w + 2) * rdf(ps);
}

/* The 8 lane accumulators of a legacy row summed in the order of an 8-lane vector's
 * horizontal sum (halves, then quarters, then pairs). */
static inline float tree8(const float *l)
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* Block b goes to accumulator b & 7 (so that vector kernels can keep 8 blocks in 8 lanes). */
static float legacy_dot_c(uint32_t type, const uint8_t *w, const uint8_t *a, int64_t n)
{
    const size_t bb = dt_ggml_block_bytes(type);
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++, w += bb)
        legacy_block_c(type, w, a, n / QK, b, &l[b & 7]);
    return tree8(l);
}

static float q4_0_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_Q4_0, w, a, n);
}
static float q4_1_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_Q4_1, w, a, n);
}
static float q5_0_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_Q5_0, w, a, n);
}
static float q5_1_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_Q5_1, w, a, n);
}
static float q8_0_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_Q8_0, w, a, n);
}
static float iq4_nl_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return legacy_dot_c(DT_GGML_IQ4_NL, w, a, n);
}

static inline int bsum(const uint8_t *a, int g)
{
    return rdi16(a + 260 + 2 * g);
}

static inline void scale_min_k4(int j, const uint8_t *q, int *d, int *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* The 8 six-bit scales and mins of a Q4_K/Q5_K block as bytes (sc[0..7], mn[0..7]), by
 * whole-word masks: words 0 and 1 hold scales / mins 0..3 in their low 6 bits, word 2 the low
 * 4 bits of scales / mins 4..7, and the top 2 bits of words 0 / 1 their high bits. */
static inline void k4_unpack(const uint8_t *s, uint8_t *sc, uint8_t *mn)
{
    const uint32_t u0 = rd32(s), u1 = rd32(s + 4), u2 = rd32(s + 8);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const uint32_t s03 = u0 & lo6, m03 = u1 & lo6;
    const uint32_t s47 = (u2 & lo4) | ((u0 >> 6) & lo2) << 4;
    const uint32_t m47 = ((u2 >> 4) & lo4) | ((u1 >> 6) & lo2) << 4;
    for (int k = 0; k < 4; k++) {
        sc[k] = (uint8_t)(s03 >> (8 * k));
        sc[4 + k] = (uint8_t)(s47 >> (8 * k));
        mn[k] = (uint8_t)(m03 >> (8 * k));
        mn[4 + k] = (uint8_t)(m47 >> (8 * k));
    }
}

static inline int q3k_scale(const uint8_t *s, int j)
{
    int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
    int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | hi << 4) - 32;
}

static float q2_k_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 84, a += AK_BYTES) {
        const uint8_t *sc = w, *qs = w + 16;
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0, summs = 0, is = 0, e = 0;
        for (int g = 0; g < 16; g++)
            summs += (sc[g] >> 4) * bsum(a, g);
        for (int h = 0; h < 2; h++)
            for (int shift = 0; shift < 8; shift += 2)
                for (int g = 0; g < 2; g++, is++) {
                    int t = 0;
                    for (int l = 0; l < 16; l++, e++)
                        t += ((qs[32 * h + 16 * g + l] >> shift) & 3) * q8[e];
                    isum += (sc[is] & 15) * t;
                }
        sum += rdf(a) * (h2f(w + 80) * (float)isum - h2f(w + 82) * (float)summs);
    }
    return sum;
}

static float q3_k_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 110, a += AK_BYTES) {
        const uint8_t *hm = w, *qs = w + 32, *sc = w + 96;
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0, is = 0, e = 0, bit = 0;
        for (int h = 0; h < 2; h++)
            for (int shift = 0; shift < 8; shift += 2, bit++)
                for (int g = 0; g < 2; g++, is++) {
                    int t = 0;
                    for (int l = 0; l < 16; l++, e++) {
                        int i = 16 * g + l;
                        int v = ((qs[32 * h + i] >> shift) & 3) - ((hm[i] >> bit) & 1 ? 0 : 4);
                        t += v * q8[e];
                    }
                    isum += q3k_scale(sc, is) * t;
                }
        sum += rdf(a) * h2f(w + 108) * (float)isum;
    }
    return sum;
}

/* Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit (scale, min); hb = NULL for Q4_K. */
static float k4_dot_c(const uint8_t *w, const uint8_t *a, int64_t n, int q5)
{
    const size_t bb = q5 ? 176 : 144;
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += bb, a += AK_BYTES) {
        const uint8_t *scales = w + 4, *qh = w + 16, *ql = w + (q5 ? 48 : 16);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0, summs = 0;
        for (int s = 0; s < 8; s++) {
            int sc, m, t = 0;
            scale_min_k4(s, scales, &sc, &m);
            summs += m * (bsum(a, 2 * s) + bsum(a, 2 * s + 1));
            const uint8_t *qb = ql + 32 * (s / 2);
            for (int l = 0; l < 32; l++) {
                int v = (qb[l] >> (4 * (s & 1))) & 15;
                if (q5)
                    v |= ((qh[l] >> s) & 1) << 4;
                t += v * q8[32 * s + l];
            }
            isum += sc * t;
        }
        sum += rdf(a) * (h2f(w) * (float)isum - h2f(w + 2) * (float)summs);
    }
    return sum;
}

static float q4_k_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return k4_dot_c(w, a, n, 0);
}

static float q5_k_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    return k4_dot_c(w, a, n, 1);
}

static float q6_k_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 210, a += AK_BYTES) {
        const int8_t *sc = (const int8_t *)(w + 192);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int t[16] = {0};
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    int lo = (ql[l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
                    int q = (lo | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                    int e = 128 * h + 32 * k + l;
                    t[e / 16] += q * q8[e];
                }
        }
        int isum = 0;
        for (int g = 0; g < 16; g++)
            isum += sc[g] * t[g];
        sum += rdf(a) * h2f(w + 208) * (float)isum;
    }
    return sum;
}

static float iq4_xs_dot_c(const uint8_t *w, const uint8_t *a, int64_t n)
{
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 136, a += AK_BYTES) {
        const unsigned sh = rd16(w + 2);
        const uint8_t *sl = w + 4, *qs = w + 8;
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0;
        for (int s = 0; s < 8; s++) {
            int ls = ((sl[s / 2] >> (4 * (s % 2))) & 15) | (int)((sh >> (2 * s)) & 3) << 4;
            int t = 0;
            for (int j = 0; j < 16; j++)
                t += kvalues_iq4nl[qs[16 * s + j] & 15] * q8[32 * s + j] +
                     kvalues_iq4nl[qs[16 * s + j] >> 4] * q8[32 * s + j + 16];
            isum += (ls - 32) * t;
        }
        sum += rdf(a) * h2f(w) * (float)isum;
    }
    return sum;
}

/* ---- AVX2 / FMA kernels ---------------------------------------------------------------- */

#ifdef DT_QDOT_AVX2
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* f16 -> f32 in one instruction (F16C), exact like dt_fp16_to_fp32. */
AVX2 static inline float h2f_x(const uint8_t *p)
{
    return _cvtsh_ss(rd16(p));
}

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2 static inline __m256i loadu256(const uint8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* 16 int16 pair sums of x (signed) * y (signed), via |x| and y with x's sign. */
AVX2 static inline __m256i mul_i8_pairs(__m256i x, __m256i y)
{
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 32 nibbles of 16 bytes: low nibbles in the low lane, high nibbles in the high lane. */
AVX2 static inline __m256i nibbles(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* Byte j = 0x10 where bit j of the 32-bit qh is set. */
AVX2 static inline __m256i bit5(uint32_t qh)
{
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 16 sub-block scales (int16) of a 256-block, S: for the pass over elements 128 h + 32 p ..
 * + 31, whose low lane (16 codes) is group 8 h + 2 p and high lane group 8 h + 2 p + 1, the
 * multiplier with each lane's scale broadcast. */
AVX2 static inline __m256i pass_scales(__m256i S, int h, int p)
{
    const __m256i vh = h ? _mm256_permute2x128_si256(S, S, 0x11) : _mm256_permute2x128_si256(S, S, 0x00);
    const __m256i m = _mm256_set_m128i(_mm_set1_epi16((short)((4 * p + 3) << 8 | (4 * p + 2))),
                                       _mm_set1_epi16((short)((4 * p + 1) << 8 | (4 * p))));
    return _mm256_shuffle_epi8(vh, m);
}

/* Q3_K's 16 signed 6-bit scales as int16 (see q3k_scale), by whole-word masks. */
AVX2 static inline __m256i q3k_scales16(const uint8_t *s)
{
    const uint32_t u0 = rd32(s), u1 = rd32(s + 4), u2 = rd32(s + 8);
    const uint32_t lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const __m128i b = _mm_set_epi32((int)(((u1 >> 4) & lo4) | ((u2 >> 6) & lo2) << 4),
                                    (int)(((u0 >> 4) & lo4) | ((u2 >> 4) & lo2) << 4),
                                    (int)((u1 & lo4) | ((u2 >> 2) & lo2) << 4),
                                    (int)((u0 & lo4) | (u2 & lo2) << 4));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(b, _mm_set1_epi8(32)));
}

AVX2 static inline __m128i loadu128(const uint8_t *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* k4_unpack as one vector: bytes 0..7 the scales, 8..15 the mins. */
AVX2 static inline __m128i k4_unpack_v(const uint8_t *s)
{
    const uint32_t u0 = rd32(s), u1 = rd32(s + 4), u2 = rd32(s + 8);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    return _mm_setr_epi32((int)(u0 & lo6), (int)((u2 & lo4) | ((u0 >> 6) & lo2) << 4),
                          (int)(u1 & lo6), (int)(((u2 >> 4) & lo4) | ((u1 >> 6) & lo2) << 4));
}

/* Lane k of the result: the sum of all 8 lanes of v[k] (exact integers). */
AVX2 static inline __m256i reduce8(const __m256i *v)
{
    const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]), t1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]), t3 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

AVX2 static float q2_k_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    const __m256i m3 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 84, a += AK_BYTES) {
        const uint8_t *sc = w, *qs = w + 16, *q8 = a + 4;
        const __m128i scb = loadu128(sc);
        const __m256i S = _mm256_cvtepu8_epi16(_mm_and_si128(scb, _mm_set1_epi8(15)));
        const __m256i M = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scb, 4), _mm_set1_epi8(15)));
        const int summs = hsum8i(_mm256_madd_epi16(M, loadu256(a + 260)));
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i bits = loadu256(qs + 32 * h);
            for (int p = 0; p < 4; p++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                __m256i p16 = _mm256_maddubs_epi16(c, loadu256(q8 + 128 * h + 32 * p));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, pass_scales(S, h, p)));
            }
        }
        const float dx = rdf(a);
        sum += dx * (h2f_x(w + 80) * (float)hsum8i(sumi) - h2f_x(w + 82) * (float)summs);
    }
    return sum;
}

AVX2 static float q3_k_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 110, a += AK_BYTES) {
        const uint8_t *qs = w + 32, *q8 = a + 4;
        const __m256i S = q3k_scales16(w + 96);
        const __m256i hbits = loadu256(w);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i bits = loadu256(qs + 32 * h);
            for (int p = 0; p < 4; p++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hbits, 4 * h + p), m1);
                c = _mm256_or_si256(c, _mm256_slli_epi16(hb, 2)); /* code + 4 in 0..7 */
                const __m256i y = loadu256(q8 + 128 * h + 32 * p);
                __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(c, y),
                                               _mm256_maddubs_epi16(four, y));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, pass_scales(S, h, p)));
            }
        }
        sum += rdf(a) * h2f_x(w + 108) * (float)hsum8i(sumi);
    }
    return sum;
}

AVX2 static float iq4_xs_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    const __m128i kv128 = _mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl);
    const __m256i kv = _mm256_set_m128i(kv128, kv128);
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += 136, a += AK_BYTES) {
        const unsigned sh = rd16(w + 2);
        const uint8_t *sl = w + 4, *qs = w + 8, *q8 = a + 4;
        __m256i sumi = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            int ls = ((sl[s / 2] >> (4 * (s % 2))) & 15) | (int)((sh >> (2 * s)) & 3) << 4;
            __m256i v = _mm256_shuffle_epi8(kv, nibbles(qs + 16 * s));
            __m256i p16 = mul_i8_pairs(v, loadu256(q8 + 32 * s));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, _mm256_set1_epi16((short)(ls - 32))));
        }
        sum += rdf(a) * h2f_x(w) * (float)hsum8i(sumi);
    }
    return sum;
}

AVX2 static float f32_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)(const void *)(w + 4 * i)),
                               _mm256_loadu_ps((const float *)(const void *)(a + 4 * i)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)(const void *)(w + 4 * i + 32)),
                               _mm256_loadu_ps((const float *)(const void *)(a + 4 * i + 32)), acc1);
    }
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += rdf(w + 4 * i) * rdf(a + 4 * i);
    return s;
}

AVX2 static float f16_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i + 16)));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps((const float *)(const void *)(a + 4 * i)), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps((const float *)(const void *)(a + 4 * i + 32)), acc1);
    }
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += h2f_x(w + 2 * i) * rdf(a + 4 * i);
    return s;
}

AVX2 static float bf16_dot_avx2(const uint8_t *w, const uint8_t *a, int64_t n)
{
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i)));
        __m256 wv = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
        acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps((const float *)(const void *)(a + 4 * i)), acc);
    }
    float s = hsum8(acc);
    for (; i < n; i++)
        s += dt_bf16_to_fp32(rd16(w + 2 * i)) * rdf(a + 4 * i);
    return s;
}

/* ---- AVX2 kernels over 4 activations at once (batched generation) ----------------------
 * Each weight block is decoded once and dotted with the same block of 4 activations
 * (a + v * st, v = 0..3); out[v] gets the 4 dots. */

typedef void (*qdot4_fn)(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, float *out);

/* F32 / F16 rows: n a multiple of 8 (the callers' rows are; others use the single kernel). */
AVX2 static inline __attribute__((always_inline)) void
float_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, float *out, int f16)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 wv =
            f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i)))
                : _mm256_loadu_ps((const float *)(const void *)(w + 4 * i));
        for (int v = 0; v < 4; v++)
            acc[v] = _mm256_fmadd_ps(
                wv, _mm256_loadu_ps((const float *)(const void *)(a + (size_t)v * st + 4 * (size_t)i)),
                acc[v]);
    }
    for (int v = 0; v < 4; v++)
        out[v] = hsum8(acc[v]);
}

AVX2 static void f32_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, float *out)
{
    float_dot4_avx2(w, a, st, n, out, 0);
}

AVX2 static void f16_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, float *out)
{
    float_dot4_avx2(w, a, st, n, out, 1);
}

AVX2 static void q2_k_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n,
                                float *out)
{
    const __m256i m3 = _mm256_set1_epi8(3);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < n / QKK; b++, w += 84) {
        const uint8_t *qs = w + 16;
        const __m128i scb = loadu128(w);
        const __m256i S = _mm256_cvtepu8_epi16(_mm_and_si128(scb, _mm_set1_epi8(15)));
        const __m256i M = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scb, 4), _mm_set1_epi8(15)));
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i bits = loadu256(qs + 32 * h);
            for (int p = 0; p < 4; p++) {
                const __m256i c = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                const __m256i scv = pass_scales(S, h, p);
                for (int v = 0; v < 4; v++) {
                    const uint8_t *q8 = a + (size_t)v * st + (size_t)b * AK_BYTES + 4;
                    __m256i p16 = _mm256_maddubs_epi16(c, loadu256(q8 + 128 * h + 32 * p));
                    sumi[v] = _mm256_add_epi32(sumi[v], _mm256_madd_epi16(p16, scv));
                }
            }
        }
        const float d = h2f_x(w + 80), dmin = h2f_x(w + 82);
        for (int v = 0; v < 4; v++) {
            const uint8_t *av = a + (size_t)v * st + (size_t)b * AK_BYTES;
            const int summs = hsum8i(_mm256_madd_epi16(M, loadu256(av + 260)));
            const float dx = rdf(av);
            sum[v] += dx * (d * (float)hsum8i(sumi[v]) - dmin * (float)summs);
        }
    }
    for (int v = 0; v < 4; v++)
        out[v] = sum[v];
}

AVX2 static void q3_k_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n,
                                float *out)
{
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < n / QKK; b++, w += 110) {
        const uint8_t *qs = w + 32;
        const __m256i S = q3k_scales16(w + 96);
        const __m256i hbits = loadu256(w);
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            const __m256i bits = loadu256(qs + 32 * h);
            for (int p = 0; p < 4; p++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hbits, 4 * h + p), m1);
                c = _mm256_or_si256(c, _mm256_slli_epi16(hb, 2));
                const __m256i scv = pass_scales(S, h, p);
                for (int v = 0; v < 4; v++) {
                    const __m256i y =
                        loadu256(a + (size_t)v * st + (size_t)b * AK_BYTES + 4 + 128 * h + 32 * p);
                    __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(c, y),
                                                   _mm256_maddubs_epi16(four, y));
                    sumi[v] = _mm256_add_epi32(sumi[v], _mm256_madd_epi16(p16, scv));
                }
            }
        }
        const float d = h2f_x(w + 108);
        for (int v = 0; v < 4; v++)
            sum[v] += rdf(a + (size_t)v * st + (size_t)b * AK_BYTES) * d * (float)hsum8i(sumi[v]);
    }
    for (int v = 0; v < 4; v++)
        out[v] = sum[v];
}

AVX2 static void iq4_xs_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n,
                                  float *out)
{
    const __m128i kv128 = _mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl);
    const __m256i kv = _mm256_set_m128i(kv128, kv128);
    float sum[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < n / QKK; b++, w += 136) {
        const unsigned sh = rd16(w + 2);
        const uint8_t *sl = w + 4, *qs = w + 8;
        __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                           _mm256_setzero_si256()};
        for (int s = 0; s < 8; s++) {
            int ls = ((sl[s / 2] >> (4 * (s % 2))) & 15) | (int)((sh >> (2 * s)) & 3) << 4;
            const __m256i vals = _mm256_shuffle_epi8(kv, nibbles(qs + 16 * s));
            const __m256i av = _mm256_sign_epi8(vals, vals);
            const __m256i scv = _mm256_set1_epi16((short)(ls - 32));
            for (int v = 0; v < 4; v++) {
                const __m256i y = loadu256(a + (size_t)v * st + (size_t)b * AK_BYTES + 4 + 32 * s);
                __m256i p16 = _mm256_maddubs_epi16(av, _mm256_sign_epi8(y, vals));
                sumi[v] = _mm256_add_epi32(sumi[v], _mm256_madd_epi16(p16, scv));
            }
        }
        const float d = h2f_x(w);
        for (int v = 0; v < 4; v++)
            sum[v] += rdf(a + (size_t)v * st + (size_t)b * AK_BYTES) * d * (float)hsum8i(sumi[v]);
    }
    for (int v = 0; v < 4; v++)
        out[v] = sum[v];
}

AVX2 static void bf16_dot4_avx2(const uint8_t *w, const uint8_t *a, size_t st, int64_t n,
                                float *out)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(w + 2 * i)));
        const __m256 wv = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
        for (int v = 0; v < 4; v++)
            acc[v] = _mm256_fmadd_ps(
                wv, _mm256_loadu_ps((const float *)(const void *)(a + (size_t)v * st + 4 * (size_t)i)),
                acc[v]);
    }
    for (int v = 0; v < 4; v++)
        out[v] = hsum8(acc[v]);
}

/* The multi-activation kernels of the legacy types, Q4_K, Q5_K and Q6_K at two ISA levels
 * (infer/quant_dot_x86.h): AVX2 in tiles of up to 4 activations, AVX-512 VNNI (256-bit
 * vectors, 32 registers) in tiles of up to 8. */
#define QT_ATTR AVX2
#define QT_SUFFIX avx2
#define QT_VNNI 0
#define QT_MAXV 4
#include "infer/quant_dot_x86.h"
#undef QT_ATTR
#undef QT_SUFFIX
#undef QT_VNNI
#undef QT_MAXV

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define QT_ATTR AVX512
#define QT_SUFFIX avx512
#define QT_VNNI 1
#define QT_MAXV 8
#include "infer/quant_dot_x86.h"
#endif

/* ---- dispatch -------------------------------------------------------------------------- */

#ifdef DT_QDOT_AVX2
/* nv activations (a + v * st) against one row: out[v] */
typedef void (*qdotn_fn)(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, int nv,
                         float *out);
#endif

struct kernel {
    uint32_t type;
    qdot_fn c;
#ifdef DT_QDOT_AVX2
    qdot_fn avx2;    /* one activation, when there is no tiled kernel */
    qdot4_fn avx2_4; /* 4 activations at once, or NULL */
    qdotn_fn mv[2];  /* tiled kernels: [0] AVX2, [1] AVX-512 VNNI (NULL: use the two above) */
#endif
};

#ifdef DT_QDOT_AVX2
#define KF(t, name) {t, name##_dot_c, name##_dot_avx2, name##_dot4_avx2, {NULL, NULL}}
#define KT(t, name) {t, name##_dot_c, NULL, NULL, {name##_mv_avx2, name##_mv_avx512}}
#else
#define KF(t, name) {t, name##_dot_c}
#define KT(t, name) {t, name##_dot_c}
#endif

static const struct kernel kernels[] = {
    KF(DT_GGML_F32, f32),   KF(DT_GGML_F16, f16),   KF(DT_GGML_BF16, bf16),
    KT(DT_GGML_Q4_0, q4_0), KT(DT_GGML_Q4_1, q4_1), KT(DT_GGML_Q5_0, q5_0),
    KT(DT_GGML_Q5_1, q5_1), KT(DT_GGML_Q8_0, q8_0), KT(DT_GGML_IQ4_NL, iq4_nl),
    KF(DT_GGML_Q2_K, q2_k), KF(DT_GGML_Q3_K, q3_k), KT(DT_GGML_Q4_K, q4_k),
    KT(DT_GGML_Q5_K, q5_k), KT(DT_GGML_Q6_K, q6_k), KF(DT_GGML_IQ4_XS, iq4_xs),
};

/* The highest level the CPU has, lowered by DT_QDOT_ISA=portable|avx2|avx512 (other values
 * are ignored); asked once, then cached. */
static int isa_max_cached = -1;
static int isa_cap = DT_QDOT_ISA_AVX512;

int dt_qdot_isa_max(void)
{
    int v = __atomic_load_n(&isa_max_cached, __ATOMIC_RELAXED);
    if (v >= 0)
        return v;
    v = DT_QDOT_ISA_PORTABLE;
#ifdef DT_QDOT_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        v = DT_QDOT_ISA_AVX2;
    if (v == DT_QDOT_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni"))
        v = DT_QDOT_ISA_AVX512;
#endif
    const char *e = getenv("DT_QDOT_ISA");
    for (int l = DT_QDOT_ISA_PORTABLE; e && l < v; l++)
        if (strcmp(e, dt_qdot_isa_name(l)) == 0)
            v = l;
    __atomic_store_n(&isa_max_cached, v, __ATOMIC_RELAXED);
    return v;
}

int dt_qdot_isa(void)
{
    const int cap = __atomic_load_n(&isa_cap, __ATOMIC_RELAXED), m = dt_qdot_isa_max();
    return cap < m ? cap : m;
}

int dt_qdot_set_isa(int level)
{
    __atomic_store_n(&isa_cap, level < 0 ? 0 : level, __ATOMIC_RELAXED);
    return dt_qdot_isa();
}

const char *dt_qdot_isa_name(int level)
{
    switch (level) {
    case DT_QDOT_ISA_PORTABLE:
        return "portable";
    case DT_QDOT_ISA_AVX2:
        return "avx2";
    case DT_QDOT_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

void dt_qdot_force_portable(int on)
{
    dt_qdot_set_isa(on ? DT_QDOT_ISA_PORTABLE : DT_QDOT_ISA_AVX512);
}

static const struct kernel *kernel_entry(uint32_t wtype)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (kernels[i].type == wtype)
            return &kernels[i];
    return NULL;
}

#ifdef DT_QDOT_AVX2
static qdotn_fn tiled_for(const struct kernel *k, int isa)
{
    return isa >= DT_QDOT_ISA_AVX512 ? k->mv[1] : isa >= DT_QDOT_ISA_AVX2 ? k->mv[0] : NULL;
}
#endif

float dt_qdot(uint32_t wtype, const void *row, const void *qx, int64_t n)
{
    const struct kernel *k = kernel_entry(wtype);
    if (!k)
        return 0.0f;
#ifdef DT_QDOT_AVX2
    const int isa = dt_qdot_isa();
    qdotn_fn t = tiled_for(k, isa);
    if (t) {
        float o;
        t(row, qx, 0, n, 1, &o);
        return o;
    }
    if (isa >= DT_QDOT_ISA_AVX2 && k->avx2)
        return k->avx2(row, qx, n);
#endif
    return k->c(row, qx, n);
}

void dt_qdot_matvec(uint32_t wtype, const void *w, size_t row_bytes, int64_t n_rows, int64_t n,
                    const void *qx, size_t qx_stride, int n_vec, float *y, size_t y_stride)
{
    const struct kernel *k = kernel_entry(wtype);
    const uint8_t *wb = w, *xb = qx;
    if (!k) {
        for (int v = 0; v < n_vec; v++)
            for (int64_t r = 0; r < n_rows; r++)
                y[(size_t)v * y_stride + (size_t)r] = 0.0f;
        return;
    }
#ifdef DT_QDOT_AVX2
    const int isa = dt_qdot_isa();
    qdotn_fn t = tiled_for(k, isa);
    if (t) {
        /* A chunk of rows (about 96 KB, so it stays in L2) is streamed from memory once and
         * dotted with each tile of 8 activations in turn (whose blocks stay in L1); each
         * weight block is decoded once per tile. */
        int64_t chunk = n_vec <= 8 ? n_rows : (int64_t)(96 * 1024 / (row_bytes ? row_bytes : 1));
        if (chunk < 1)
            chunk = 1;
        for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
            const int64_t r1 = r0 + chunk < n_rows ? r0 + chunk : n_rows;
            for (int v0 = 0; v0 < n_vec; v0 += 8) {
                const int nv = n_vec - v0 < 8 ? n_vec - v0 : 8;
                for (int64_t r = r0; r < r1; r++) {
                    float o[8];
                    t(wb + (size_t)r * row_bytes, xb + (size_t)v0 * qx_stride, qx_stride, n, nv, o);
                    for (int j = 0; j < nv; j++)
                        y[(size_t)(v0 + j) * y_stride + (size_t)r] = o[j];
                }
            }
        }
        return;
    }
    qdot_fn f = isa >= DT_QDOT_ISA_AVX2 && k->avx2 ? k->avx2 : k->c;
    qdot4_fn f4 = isa >= DT_QDOT_ISA_AVX2 && k->avx2_4 && n % 8 == 0 ? k->avx2_4 : NULL;
    /* groups of 4 activations share each decoded weight block */
    if (f4 && n_vec >= 4) {
        for (int64_t r = 0; r < n_rows; r++) {
            const uint8_t *row = wb + (size_t)r * row_bytes;
            for (int v = 0; v + 4 <= n_vec; v += 4) {
                float o[4];
                f4(row, xb + (size_t)v * qx_stride, qx_stride, n, o);
                for (int j = 0; j < 4; j++)
                    y[(size_t)(v + j) * y_stride + (size_t)r] = o[j];
            }
            for (int v = n_vec - n_vec % 4; v < n_vec; v++)
                y[(size_t)v * y_stride + (size_t)r] = f(row, xb + (size_t)v * qx_stride, n);
        }
        return;
    }
#else
    qdot_fn f = k->c;
#endif
    for (int64_t r = 0; r < n_rows; r++) {
        const uint8_t *row = wb + (size_t)r * row_bytes;
        for (int v = 0; v < n_vec; v++)
            y[(size_t)v * y_stride + (size_t)r] = f(row, xb + (size_t)v * qx_stride, n);
    }
}

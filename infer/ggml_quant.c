/*
 * Encoders from f32 into every ggml block type the inference core reads (dt_ggml_quantize):
 * used to write synthetic models and test files, and by `weights` / `verify` to measure the
 * error that re-encoding the teacher in a suspect's type causes by itself.
 *
 * The legacy 32-element types follow ggml's reference quantizers (the ones llama-quantize
 * uses without an importance matrix): Q4_0/Q5_0 map the signed extreme to the most negative
 * code, Q4_1/Q5_1 split [min, max] evenly, Q8_0/Q8_1 scale amax to 127.
 *
 * The super-block types (Q2_K..Q6_K, IQ4_XS) and IQ4_NL are fitted per sub-block: a short
 * search over candidate scales (codes rounded to nearest, then the least-squares scale and,
 * for the affine types, offset for those codes; the candidate of least squared error wins),
 * then the sub-block scales (and mins) are quantized against the block's f16 super-scales and
 * every code is re-rounded with the scale it will actually be decoded with. This minimizes
 * the plain squared error, so its error is a fair (slightly optimistic) stand-in for what
 * ggml's weighted searches leave; `weights` allows 50% on top of it.
 *
 * Cost: about 12 candidate passes per element for the k-quants. Non-finite inputs (weights
 * read from files) give well-formed blocks with NaN or infinite scales, never undefined
 * behaviour.
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"

#include <math.h>
#include <string.h>

#define QK_K 256

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static inline float f16_round(float f)
{
    return dt_fp16_to_fp32(dt_fp32_to_fp16(f));
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Round to nearest, ties to even, clamped to [-2^22, 2^22] (far outside every code range);
 * NaN gives 0. Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (no
 * libm call, so the fit loops stay cheap); non-finite weights come from files, so nothing
 * here converts an out-of-range float to int. */
static inline int rnd(float v)
{
    v = v >= 4194303.0f ? 4194303.0f : v <= -4194303.0f ? -4194303.0f : v == v ? v : 0.0f;
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* ggml's truncating conversion (after a +0.5 bias) clamped to [0, hi]; NaN gives 0. */
static inline int trunc_clamp(float v, int hi)
{
    return v >= (float)hi ? hi : v > 0 ? (int)v : 0;
}

static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

/* ---- legacy types (ggml's reference formulas) ------------------------------------------- */

static void q8_0_block(const float *x, uint8_t *b, int has_sum)
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    wr16(b, dt_fp32_to_fp16(d));
    uint8_t *q = b + (has_sum ? 4 : 2);
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        const float r = roundf(x[j] * id);
        int v = r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? (int)r : 0;
        q[j] = (uint8_t)(int8_t)v;
        sum += v;
    }
    if (has_sum)
        wr16(b + 2, dt_fp32_to_fp16((float)sum * d));
}

/* Q4_0 (bits 4) / Q5_0 (bits 5): d = signed extreme / -2^(bits-1). */
static void qx_0_block(const float *x, uint8_t *b, int bits)
{
    const int half = 1 << (bits - 1), top = (1 << bits) - 1;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / (float)-half;
    const float id = d ? 1.0f / d : 0.0f;
    wr16(b, dt_fp32_to_fp16(d));
    uint8_t *qs = b + (bits == 5 ? 6 : 2);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        /* truncation toward zero after the +half+0.5 bias is rounding to nearest here */
        int q0 = trunc_clamp(x[j] * id + (float)half + 0.5f, top);
        int q1 = trunc_clamp(x[j + 16] * id + (float)half + 0.5f, top);
        qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
        qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
    }
    if (bits == 5)
        for (int k = 0; k < 4; k++)
            b[2 + k] = (uint8_t)(qh >> (8 * k));
}

/* Q4_1 / Q5_1: x = q d + m over [min, max]. */
static void qx_1_block(const float *x, uint8_t *b, int bits)
{
    const int top = (1 << bits) - 1;
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        min = fminf(min, x[j]);
        max = fmaxf(max, x[j]);
    }
    const float d = (max - min) / (float)top;
    const float id = d ? 1.0f / d : 0.0f;
    wr16(b, dt_fp32_to_fp16(d));
    wr16(b + 2, dt_fp32_to_fp16(min));
    uint8_t *qs = b + (bits == 5 ? 8 : 4);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        int q0 = trunc_clamp((x[j] - min) * id + 0.5f, top);
        int q1 = trunc_clamp((x[j + 16] - min) * id + 0.5f, top);
        qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
        qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
    }
    if (bits == 5)
        for (int k = 0; k < 4; k++)
            b[4 + k] = (uint8_t)(qh >> (8 * k));
}

/* ---- sub-block fits ---------------------------------------------------------------------- */

/* Symmetric fit of n values to integer codes in [qlo, qhi] (qlo < 0 < qhi): returns the
 * scale s (possibly negative: the signed extreme goes to the wider negative end); codes in L
 * when L is non-NULL. */
static float fit_symmetric(const float *x, int n, int qlo, int qhi, int8_t *L)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax == 0) {
        if (L)
            memset(L, 0, (size_t)n);
        return 0;
    }
    float best_s = max / (float)qlo, best_err = INFINITY;
    for (int c = -6; c <= 6; c++) {
        const float s0 = max / ((float)qlo - 0.15f * (float)c);
        const float is = 1.0f / s0;
        float sxl = 0, sll = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(rnd(x[i] * is), qlo, qhi);
            sxl += x[i] * (float)l;
            sll += (float)(l * l);
        }
        if (sll <= 0)
            continue;
        const float s = sxl / sll;
        /* sum (x - s l)^2 = sum x^2 - sxl^2 / sll for the least-squares s */
        const float err = -sxl * s;
        if (err < best_err) {
            best_err = err;
            best_s = s;
        }
    }
    if (L) {
        const float is = best_s ? 1.0f / best_s : 0.0f;
        for (int i = 0; i < n; i++)
            L[i] = (int8_t)clampi(rnd(x[i] * is), qlo, qhi);
    }
    return best_s;
}

/* Affine fit x ~ s q - m with codes q in [0, qmax], s >= 0, m >= 0 (ggml's k-quant form).
 * Unweighted least squares; with mad, the candidates are fitted with weights |x| and ranked
 * by the |x|-weighted absolute error, the criterion ggml's Q2_K encoder uses (at 2 bits the
 * criterion changes the error by up to half again, and the tolerance must follow ggml). */
static float fit_affine(const float *x, int n, int qmax, int mad, float *m_out)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (lo > 0)
        lo = 0;
    if (hi == lo) {
        *m_out = -lo;
        return 0;
    }
    float sw = 0, sx = 0;
    for (int i = 0; i < n; i++) {
        const float w = mad ? fabsf(x[i]) : 1.0f;
        sw += w;
        sx += w * x[i];
    }
    float best_s = (hi - lo) / (float)qmax, best_min = lo, best_err = INFINITY;
    for (int c = -5; c <= 8; c++) {
        const float s0 = (hi - lo) / ((float)qmax + 0.1f * (float)c);
        const float is = 1.0f / s0;
        float sl = 0, sll = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            const float w = mad ? fabsf(x[i]) : 1.0f;
            const float l = (float)clampi(rnd((x[i] - lo) * is), 0, qmax);
            sl += w * l;
            sll += w * l * l;
            sxl += w * x[i] * l;
        }
        /* weighted least squares for (s, mn) in x ~ s l + mn, with mn <= 0 */
        const float D = sw * sll - sl * sl;
        if (D <= 0)
            continue;
        float s = (sw * sxl - sx * sl) / D, mn = (sll * sx - sl * sxl) / D;
        if (mn > 0) {
            mn = 0;
            s = sll > 0 ? sxl / sll : 0;
        }
        if (s <= 0)
            continue;
        float err = 0;
        if (mad) {
            for (int i = 0; i < n; i++) {
                const int l = clampi(rnd((x[i] - lo) * is), 0, qmax);
                err += fabsf(x[i]) * fabsf(s * (float)l + mn - x[i]);
            }
        } else {
            /* sum (s l + mn - x)^2 expanded over the sums above (sw = n, sx = sum x) */
            err = s * s * sll + 2 * s * mn * sl + (float)n * mn * mn - 2 * s * sxl - 2 * mn * sx;
        }
        if (err < best_err) {
            best_err = err;
            best_s = s;
            best_min = mn;
        }
    }
    *m_out = -best_min;
    return best_s;
}

/* Midpoints between consecutive IQ4 levels; entry 15 is a sentinel above every level. */
static const float iq4_mid[16] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f, INFINITY};

/* The IQ4 code nearest to v (in units of the scale; ties to the lower level): a branch-free
 * binary search over the midpoints. NaN gives 0. */
static inline int iq4_code(float v)
{
    int i = 0;
    i += v > iq4_mid[i + 7] ? 8 : 0;
    i += v > iq4_mid[i + 3] ? 4 : 0;
    i += v > iq4_mid[i + 1] ? 2 : 0;
    i += v > iq4_mid[i] ? 1 : 0;
    return i;
}

/* Scale for n values on the IQ4 code book (least squares over candidate scales). */
static float fit_iq4(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax == 0)
        return 0;
    float best_s = max / -127.0f, best_err = INFINITY;
    for (int c = -7; c <= 7; c++) {
        const float s0 = max / (-127.0f + 2.0f * (float)c);
        const float is = 1.0f / s0;
        float sxl = 0, sll = 0;
        for (int i = 0; i < n; i++) {
            float l = (float)kvalues_iq4nl[iq4_code(x[i] * is)];
            sxl += x[i] * l;
            sll += l * l;
        }
        if (sll <= 0)
            continue;
        const float s = sxl / sll, err = -sxl * s;
        if (err < best_err) {
            best_err = err;
            best_s = s;
        }
    }
    return best_s;
}

/* ---- super-block types ------------------------------------------------------------------- */

/* Q4_K / Q5_K: 8 sub-blocks of 32, 6-bit scale and min each, codes 0..15 / 0..31. */
static void k4_block(const float *x, uint8_t *b, int q5)
{
    const int qmax = q5 ? 31 : 15;
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int s = 0; s < 8; s++) {
        sc[s] = fit_affine(x + 32 * s, 32, qmax, 0, &mn[s]);
        max_sc = fmaxf(max_sc, sc[s]);
        max_mn = fmaxf(max_mn, mn[s]);
    }
    const float d = f16_round(max_sc / 63.0f), dmin = f16_round(max_mn / 63.0f);
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; s++) {
        ls[s] = (uint8_t)(d > 0 ? clampi(rnd(sc[s] / d), 0, 63) : 0);
        lm[s] = (uint8_t)(dmin > 0 ? clampi(rnd(mn[s] / dmin), 0, 63) : 0);
    }
    memset(b, 0, q5 ? 176 : 144);
    wr16(b, dt_fp32_to_fp16(d));
    wr16(b + 2, dt_fp32_to_fp16(dmin));
    uint8_t *scales = b + 4;
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j - 0] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    uint8_t *qh = b + 16, *ql = b + (q5 ? 48 : 16);
    for (int s = 0; s < 8; s++) {
        const float sd = d * (float)ls[s], sm = dmin * (float)lm[s];
        for (int l = 0; l < 32; l++) {
            int q = sd > 0 ? clampi(rnd((x[32 * s + l] + sm) / sd), 0, qmax) : 0;
            ql[32 * (s / 2) + l] |= (uint8_t)((q & 15) << (4 * (s & 1)));
            if (q5)
                qh[l] |= (uint8_t)((q >> 4) << s);
        }
    }
}

/* Q2_K: 16 sub-blocks of 16, 4-bit scale and min, codes 0..3. */
static void q2_k_block(const float *x, uint8_t *b)
{
    float sc[16], mn[16], max_sc = 0, max_mn = 0;
    for (int g = 0; g < 16; g++) {
        sc[g] = fit_affine(x + 16 * g, 16, 3, 1, &mn[g]);
        max_sc = fmaxf(max_sc, sc[g]);
        max_mn = fmaxf(max_mn, mn[g]);
    }
    const float d = f16_round(max_sc / 15.0f), dmin = f16_round(max_mn / 15.0f);
    memset(b, 0, 84);
    uint8_t ls[16], lm[16];
    for (int g = 0; g < 16; g++) {
        ls[g] = (uint8_t)(d > 0 ? clampi(rnd(sc[g] / d), 0, 15) : 0);
        lm[g] = (uint8_t)(dmin > 0 ? clampi(rnd(mn[g] / dmin), 0, 15) : 0);
        b[g] = (uint8_t)(ls[g] | lm[g] << 4);
    }
    wr16(b + 80, dt_fp32_to_fp16(d));
    wr16(b + 82, dt_fp32_to_fp16(dmin));
    uint8_t *qs = b + 16;
    for (int e = 0; e < QK_K; e++) {
        const int g = e / 16, h = e / 128, p = (e % 128) / 32, i = e % 32;
        const float sd = d * (float)ls[g], sm = dmin * (float)lm[g];
        int q = sd > 0 ? clampi(rnd((x[e] + sm) / sd), 0, 3) : 0;
        qs[32 * h + i] |= (uint8_t)(q << (2 * p));
    }
}

/* Q3_K: 16 sub-blocks of 16, signed 6-bit scales, codes -4..3. */
static void q3_k_block(const float *x, uint8_t *b)
{
    float sc[16], amax = 0, max = 0;
    for (int g = 0; g < 16; g++) {
        sc[g] = fit_symmetric(x + 16 * g, 16, -4, 3, NULL);
        if (fabsf(sc[g]) > amax) {
            amax = fabsf(sc[g]);
            max = sc[g];
        }
    }
    /* the signed extreme of the scales maps to -32, the wider end of the 6-bit range */
    const float d = f16_round(max / -32.0f);
    memset(b, 0, 110);
    int ls[16];
    uint8_t *hm = b, *qs = b + 32, *s = b + 96;
    for (int g = 0; g < 16; g++) {
        ls[g] = d != 0 ? clampi(rnd(sc[g] / d), -32, 31) : 0;
        const int v = ls[g] + 32;
        if (g < 8)
            s[g] |= (uint8_t)(v & 15);
        else
            s[g - 8] |= (uint8_t)((v & 15) << 4);
        s[8 + (g & 3)] |= (uint8_t)((v >> 4) << (2 * (g >> 2)));
    }
    wr16(b + 108, dt_fp32_to_fp16(d));
    for (int e = 0; e < QK_K; e++) {
        const int g = e / 16, h = e / 128, p = (e % 128) / 32, i = e % 32;
        const float sd = d * (float)ls[g];
        int q = sd != 0 ? clampi(rnd(x[e] / sd), -4, 3) + 4 : 4;
        qs[32 * h + i] |= (uint8_t)((q & 3) << (2 * p));
        hm[i] |= (uint8_t)((q >> 2) << (4 * h + p));
    }
}

/* Q6_K: 16 sub-blocks of 16, int8 scales, codes -32..31. */
static void q6_k_block(const float *x, uint8_t *b)
{
    float sc[16], amax = 0, max = 0;
    for (int g = 0; g < 16; g++) {
        sc[g] = fit_symmetric(x + 16 * g, 16, -32, 31, NULL);
        if (fabsf(sc[g]) > amax) {
            amax = fabsf(sc[g]);
            max = sc[g];
        }
    }
    const float d = f16_round(max / -128.0f);
    memset(b, 0, 210);
    int ls[16];
    for (int g = 0; g < 16; g++) {
        ls[g] = d != 0 ? clampi(rnd(sc[g] / d), -128, 127) : 0;
        b[192 + g] = (uint8_t)(int8_t)ls[g];
    }
    wr16(b + 208, dt_fp32_to_fp16(d));
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const float sd = d * (float)ls[e / 16];
        int q = sd != 0 ? clampi(rnd(x[e] / sd), -32, 31) + 32 : 32;
        b[64 * h + l + 32 * (k & 1)] |= (uint8_t)((q & 15) << (4 * (k >> 1)));
        b[128 + 32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
    }
}

static void iq4_codes(const float *x, float sd, uint8_t *qs)
{
    const float is = sd != 0 ? 1.0f / sd : 0.0f;
    for (int j = 0; j < 16; j++) {
        int c0 = sd != 0 ? iq4_code(x[j] * is) : 8, c1 = sd != 0 ? iq4_code(x[j + 16] * is) : 8;
        qs[j] = (uint8_t)(c0 | c1 << 4);
    }
}

static void iq4_nl_block(const float *x, uint8_t *b)
{
    const float d = f16_round(fit_iq4(x, 32));
    wr16(b, dt_fp32_to_fp16(d));
    iq4_codes(x, d, b + 2);
}

/* IQ4_XS: 8 sub-blocks of 32 on the IQ4 code book, signed 6-bit scales. */
static void iq4_xs_block(const float *x, uint8_t *b)
{
    float sc[8], amax = 0, max = 0;
    for (int s = 0; s < 8; s++) {
        sc[s] = fit_iq4(x + 32 * s, 32);
        if (fabsf(sc[s]) > amax) {
            amax = fabsf(sc[s]);
            max = sc[s];
        }
    }
    const float d = f16_round(max / -32.0f);
    memset(b, 0, 136);
    unsigned sh = 0;
    for (int s = 0; s < 8; s++) {
        const int ls = d != 0 ? clampi(rnd(sc[s] / d), -32, 31) : 0;
        const int v = ls + 32;
        b[4 + s / 2] |= (uint8_t)((v & 15) << (4 * (s % 2)));
        sh |= (unsigned)(v >> 4) << (2 * s);
        iq4_codes(x + 32 * s, d * (float)ls, b + 8 + 16 * s);
    }
    wr16(b, dt_fp32_to_fp16(d));
    wr16(b + 2, (uint16_t)sh);
}

static void q8_k_block(const float *x, uint8_t *b)
{
    float amax = 0;
    for (int j = 0; j < QK_K; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    memcpy(b, &d, 4);
    int8_t q[QK_K];
    for (int j = 0; j < QK_K; j++)
        q[j] = (int8_t)clampi(rnd(x[j] * id), -127, 127);
    memcpy(b + 4, q, QK_K);
    for (int g = 0; g < 16; g++) {
        int16_t s = 0;
        for (int l = 0; l < 16; l++)
            s = (int16_t)(s + q[16 * g + l]);
        memcpy(b + 260 + 2 * g, &s, 2);
    }
}

int dt_ggml_quantize(uint32_t type, const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    const size_t blck = dt_ggml_block_elems(type), bb = dt_ggml_block_bytes(type);
    if (n < 0 || !blck || (uint64_t)n % blck)
        return -1;
    const int64_t nb = n / (int64_t)blck;
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
    default:
        break;
    }
    for (int64_t i = 0; i < nb; i++) {
        const float *x = src + (size_t)i * blck;
        uint8_t *b = d + (size_t)i * bb;
        switch (type) {
        case DT_GGML_Q4_0: qx_0_block(x, b, 4); break;
        case DT_GGML_Q5_0: qx_0_block(x, b, 5); break;
        case DT_GGML_Q4_1: qx_1_block(x, b, 4); break;
        case DT_GGML_Q5_1: qx_1_block(x, b, 5); break;
        case DT_GGML_Q8_0: q8_0_block(x, b, 0); break;
        case DT_GGML_Q8_1: q8_0_block(x, b, 1); break;
        case DT_GGML_Q2_K: q2_k_block(x, b); break;
        case DT_GGML_Q3_K: q3_k_block(x, b); break;
        case DT_GGML_Q4_K: k4_block(x, b, 0); break;
        case DT_GGML_Q5_K: k4_block(x, b, 1); break;
        case DT_GGML_Q6_K: q6_k_block(x, b); break;
        case DT_GGML_Q8_K: q8_k_block(x, b); break;
        case DT_GGML_IQ4_NL: iq4_nl_block(x, b); break;
        case DT_GGML_IQ4_XS: iq4_xs_block(x, b); break;
        default: return -1;
        }
    }
    return 0;
}

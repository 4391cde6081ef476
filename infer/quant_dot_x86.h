/*
 * Multi-activation x86 kernels of infer/quant_dot.c, written once and included twice: with
 * QT_VNNI 0 (AVX2: maddubs + madd) and QT_VNNI 1 (AVX-512 VL/BW + VNNI: vpdpbusd / vpdpwssd
 * on 256-bit vectors, which also gives 32 vector registers). Each kernel dots one weight row
 * with NV activations (a + v * st), decoding every weight block once for all of them.
 *
 * Bit-identical to the portable kernels: every integer sum of a block is exact (no int16
 * saturation can occur for the code ranges involved), and the float combination of the
 * per-block sums is the portable kernels' own (same products, same order, no fused
 * multiply-add: the project compiles as ISO C11, where GCC does not contract).
 *
 * Not a public header: quant_dot.c includes it after defining QT_ATTR (the target
 * attribute), QT_SUFFIX (name suffix) and QT_VNNI.
 */

#define QT_CAT2(a, b) a##_##b
#define QT_CAT(a, b) QT_CAT2(a, b)
#define QT(name) QT_CAT(name, QT_SUFFIX)
#define QT_AI __attribute__((always_inline))

/* acc + per int32 lane (bytes 4l..4l+3) sum of u (unsigned bytes) * s (signed bytes) */
QT_ATTR static inline QT_AI __m256i QT(dot_us)(__m256i acc, __m256i u, __m256i s)
{
#if QT_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + pairwise int16 products p * sc summed into int32 lanes */
QT_ATTR static inline QT_AI __m256i QT(dot_ww)(__m256i acc, __m256i p, __m256i sc)
{
#if QT_VNNI
    return _mm256_dpwssd_epi32(acc, p, sc);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
#endif
}

/* The 32 codes of a legacy block in element order: signed for the symmetric types (Q4_0 and
 * Q5_0 with their offset removed), unsigned for Q4_1 / Q5_1. */
QT_ATTR static inline QT_AI __m256i QT(codes)(uint32_t type, const uint8_t *w, __m256i kv)
{
    switch (type) {
    case DT_GGML_Q4_0:
        return _mm256_sub_epi8(nibbles(w + 2), _mm256_set1_epi8(8));
    case DT_GGML_Q4_1:
        return nibbles(w + 4);
    case DT_GGML_Q5_0:
        return _mm256_sub_epi8(_mm256_or_si256(nibbles(w + 6), bit5(rd32(w + 2))),
                               _mm256_set1_epi8(16));
    case DT_GGML_Q5_1:
        return _mm256_or_si256(nibbles(w + 8), bit5(rd32(w + 4)));
    case DT_GGML_Q8_0:
        return loadu256(w + 2);
    default: /* IQ4_NL */
        return _mm256_shuffle_epi8(kv, nibbles(w + 2));
    }
}

/* Legacy 32-blocks: groups of 8 blocks, one block per lane (the portable kernel's lane
 * b & 7); the integer sums of the 8 blocks reduced exactly into one vector. */
QT_ATTR static inline QT_AI void QT(legacy_mv)(uint32_t type, const uint8_t *w, const uint8_t *a,
                                               size_t st, int64_t n, const int NV, float *out)
{
    const size_t bb = legacy_block_bytes(type);
    const int sgn = type != DT_GGML_Q4_1 && type != DT_GGML_Q5_1;
    const int has_min = !sgn;
    const int64_t nb = n / QK;
    const __m128i kv128 = _mm_loadu_si128((const __m128i *)(const void *)kvalues_iq4nl);
    const __m256i kv = _mm256_set_m128i(kv128, kv128);
    __m256 acc[8];
    for (int v = 0; v < NV; v++)
        acc[v] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *wb = w + (size_t)b * bb;
        __m256i c[8], u[8];
        for (int k = 0; k < 8; k++) {
            c[k] = QT(codes)(type, wb + k * bb, kv);
            u[k] = sgn ? _mm256_sign_epi8(c[k], c[k]) : c[k];
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(
            (short)rd16(wb), (short)rd16(wb + bb), (short)rd16(wb + 2 * bb), (short)rd16(wb + 3 * bb),
            (short)rd16(wb + 4 * bb), (short)rd16(wb + 5 * bb), (short)rd16(wb + 6 * bb),
            (short)rd16(wb + 7 * bb)));
        __m256 mw = _mm256_setzero_ps();
        if (has_min)
            mw = _mm256_cvtph_ps(_mm_setr_epi16(
                (short)rd16(wb + 2), (short)rd16(wb + bb + 2), (short)rd16(wb + 2 * bb + 2),
                (short)rd16(wb + 3 * bb + 2), (short)rd16(wb + 4 * bb + 2),
                (short)rd16(wb + 5 * bb + 2), (short)rd16(wb + 6 * bb + 2),
                (short)rd16(wb + 7 * bb + 2)));
        for (int v = 0; v < NV; v++) {
            /* a whole group: d[8] | s[8] | q[8][32] */
            const uint8_t *av = a + (size_t)v * st + (size_t)b * A32_BYTES;
            __m256i p[8];
            for (int k = 0; k < 8; k++) {
                const __m256i y = loadu256(av + 64 + 32 * k);
                p[k] = QT(dot_us)(_mm256_setzero_si256(), u[k], sgn ? _mm256_sign_epi8(y, c[k]) : y);
            }
            const __m256 isum = _mm256_cvtepi32_ps(reduce8(p));
            const __m256 dx = _mm256_loadu_ps((const float *)(const void *)av);
            acc[v] = _mm256_add_ps(acc[v], _mm256_mul_ps(_mm256_mul_ps(dw, dx), isum));
            if (has_min)
                acc[v] = _mm256_add_ps(
                    acc[v], _mm256_mul_ps(mw, _mm256_loadu_ps((const float *)(const void *)(av + 32))));
        }
    }
    for (int v = 0; v < NV; v++) {
        float l[8];
        _mm256_storeu_ps(l, acc[v]);
        const uint8_t *av = a + (size_t)v * st;
        for (int64_t r = b; r < nb; r++)
            legacy_block_c(type, w + (size_t)r * bb, av, nb, r, &l[r & 7]);
        out[v] = tree8(l);
    }
}

/* Q4_K / Q5_K: per super-block the exact integer sums (scaled codes, and mins times the
 * activation's 16-element sums), combined in floats as the portable kernel does. */
QT_ATTR static inline QT_AI void QT(k4_mv)(const uint8_t *w, const uint8_t *a, size_t st,
                                           int64_t n, const int NV, float *out, const int q5)
{
    const size_t bb = q5 ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    float sum[8] = {0};
    for (int64_t b = 0; b < n / QKK; b++, w += bb) {
        const uint8_t *ql = w + (q5 ? 48 : 16);
        const __m256i hbits = q5 ? loadu256(w + 16) : _mm256_setzero_si256();
        uint8_t sc[8], mn[8];
        k4_unpack(w + 4, sc, mn);
        __m256i sumi[8], summ[8];
        for (int v = 0; v < 8; v++)
            sumi[v] = summ[v] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = loadu256(ql + 32 * j);
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(
                    lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), m1), 4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), m1), 4));
            }
            const __m256i s0 = _mm256_set1_epi16((short)sc[2 * j]);
            const __m256i s1 = _mm256_set1_epi16((short)sc[2 * j + 1]);
            for (int v = 0; v < NV; v++) {
                const uint8_t *q8 = a + (size_t)v * st + (size_t)b * AK_BYTES + 4 + 64 * j;
                sumi[v] = QT(dot_ww)(sumi[v], _mm256_maddubs_epi16(lo, loadu256(q8)), s0);
                sumi[v] = QT(dot_ww)(sumi[v], _mm256_maddubs_epi16(hi, loadu256(q8 + 32)), s1);
            }
        }
        const __m128i mb = _mm_loadl_epi64((const __m128i *)(const void *)mn);
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
        for (int v = 0; v < NV; v++)
            summ[v] = _mm256_madd_epi16(
                loadu256(a + (size_t)v * st + (size_t)b * AK_BYTES + 260), mn16);
        int is[8], ms[8];
        _mm256_storeu_si256((__m256i *)(void *)is, reduce8(sumi));
        _mm256_storeu_si256((__m256i *)(void *)ms, reduce8(summ));
        const float d = h2f_x(w), dmin = h2f_x(w + 2);
        for (int v = 0; v < NV; v++) {
            const float dx = rdf(a + (size_t)v * st + (size_t)b * AK_BYTES);
            sum[v] += dx * (d * (float)is[v] - dmin * (float)ms[v]);
        }
    }
    for (int v = 0; v < NV; v++)
        out[v] = sum[v];
}

/* Q4_K / Q5_K against one activation (generation's single stream): the 8 sub-block sums
 * reduced into one vector, then scaled with one multiply, not a broadcast per sub-block. */
QT_ATTR static inline QT_AI float QT(k4_dot1)(const uint8_t *w, const uint8_t *a, int64_t n,
                                              const int q5)
{
    const size_t bb = q5 ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    float sum = 0;
    for (int64_t b = 0; b < n / QKK; b++, w += bb, a += AK_BYTES) {
        const uint8_t *ql = w + (q5 ? 48 : 16), *q8 = a + 4;
        const __m256i hbits = q5 ? loadu256(w + 16) : _mm256_setzero_si256();
        __m256i p[8];
        for (int j = 0; j < 4; j++) {
            const __m256i bits = loadu256(ql + 32 * j);
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(
                    lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), m1), 4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), m1), 4));
            }
            p[2 * j] = QT(dot_us)(_mm256_setzero_si256(), lo, loadu256(q8 + 64 * j));
            p[2 * j + 1] = QT(dot_us)(_mm256_setzero_si256(), hi, loadu256(q8 + 64 * j + 32));
        }
        const __m128i scmn = k4_unpack_v(w + 4); /* bytes: 8 scales, 8 mins */
        const __m256i scv = _mm256_cvtepu8_epi32(scmn);
        const __m128i mb = _mm_srli_si128(scmn, 8);
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
        const int isum = hsum8i(_mm256_mullo_epi32(reduce8(p), scv));
        const int summs = hsum8i(_mm256_madd_epi16(loadu256(a + 260), mn16));
        sum += rdf(a) * (h2f_x(w) * (float)isum - h2f_x(w + 2) * (float)summs);
    }
    return sum;
}

/* Q6_K: codes 0..63 times the activation, minus 32 times its 16-element sums, per scale. */
QT_ATTR static inline QT_AI void QT(q6k_mv)(const uint8_t *w, const uint8_t *a, size_t st,
                                            int64_t n, const int NV, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    float sum[8] = {0};
    for (int64_t b = 0; b < n / QKK; b++, w += 210) {
        const __m256i S = _mm256_cvtepi8_epi16(loadu128(w + 192));
        __m256i sumi[8];
        for (int v = 0; v < 8; v++)
            sumi[v] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i qa = loadu256(w + 64 * h), qb = loadu256(w + 64 * h + 32);
            const __m256i qh = loadu256(w + 128 + 32 * h);
            for (int k = 0; k < 4; k++) {
                const __m256i src = (k & 1) ? qb : qa;
                const __m256i lo = k >> 1 ? _mm256_and_si256(_mm256_srli_epi16(src, 4), m4)
                                          : _mm256_and_si256(src, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
                const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
                const __m256i scv = pass_scales(S, h, k);
                for (int v = 0; v < NV; v++) {
                    const __m256i y = loadu256(a + (size_t)v * st + (size_t)b * AK_BYTES + 4 +
                                               128 * h + 32 * k);
                    sumi[v] = QT(dot_ww)(sumi[v], _mm256_maddubs_epi16(q, y), scv);
                }
            }
        }
        for (int v = 0; v < NV; v++) {
            const __m256i off =
                _mm256_madd_epi16(loadu256(a + (size_t)v * st + (size_t)b * AK_BYTES + 260), S);
            sumi[v] = _mm256_sub_epi32(sumi[v], _mm256_slli_epi32(off, 5));
        }
        int is[8];
        _mm256_storeu_si256((__m256i *)(void *)is, reduce8(sumi));
        const float d = h2f_x(w + 208);
        for (int v = 0; v < NV; v++)
            sum[v] += rdf(a + (size_t)v * st + (size_t)b * AK_BYTES) * d * (float)is[v];
    }
    for (int v = 0; v < NV; v++)
        out[v] = sum[v];
}

/* One entry point per type: nv activations, split into tiles of at most MAXV (a power of 2
 * up to 8; Q6_K runs faster with 4 even with 32 registers). */
#define QT_TILES(fn, call, MAXV)                                                                \
    QT_ATTR static void QT(fn)(const uint8_t *w, const uint8_t *a, size_t st, int64_t n, int nv, \
                               float *out)                                                      \
    {                                                                                           \
        int v = 0;                                                                              \
        for (; (MAXV) >= 8 && v + 8 <= nv; v += 8) {                                            \
            const uint8_t *av = a + (size_t)v * st;                                             \
            float *o = out + v;                                                                 \
            call(8);                                                                            \
        }                                                                                       \
        for (; v + 4 <= nv; v += 4) {                                                           \
            const uint8_t *av = a + (size_t)v * st;                                             \
            float *o = out + v;                                                                 \
            call(4);                                                                            \
        }                                                                                       \
        for (; v + 2 <= nv; v += 2) {                                                           \
            const uint8_t *av = a + (size_t)v * st;                                             \
            float *o = out + v;                                                                 \
            call(2);                                                                            \
        }                                                                                       \
        for (; v < nv; v++) {                                                                   \
            const uint8_t *av = a + (size_t)v * st;                                             \
            float *o = out + v;                                                                 \
            call(1);                                                                            \
        }                                                                                       \
    }

#define QT_C_Q4_0(NVX) QT(legacy_mv)(DT_GGML_Q4_0, w, av, st, n, NVX, o)
#define QT_C_Q4_1(NVX) QT(legacy_mv)(DT_GGML_Q4_1, w, av, st, n, NVX, o)
#define QT_C_Q5_0(NVX) QT(legacy_mv)(DT_GGML_Q5_0, w, av, st, n, NVX, o)
#define QT_C_Q5_1(NVX) QT(legacy_mv)(DT_GGML_Q5_1, w, av, st, n, NVX, o)
#define QT_C_Q8_0(NVX) QT(legacy_mv)(DT_GGML_Q8_0, w, av, st, n, NVX, o)
#define QT_C_IQ4_NL(NVX) QT(legacy_mv)(DT_GGML_IQ4_NL, w, av, st, n, NVX, o)
#define QT_C_Q4_K(NVX)                                                                          \
    if ((NVX) == 1)                                                                             \
        o[0] = QT(k4_dot1)(w, av, n, 0);                                                        \
    else                                                                                        \
        QT(k4_mv)(w, av, st, n, NVX, o, 0)
#define QT_C_Q5_K(NVX)                                                                          \
    if ((NVX) == 1)                                                                             \
        o[0] = QT(k4_dot1)(w, av, n, 1);                                                        \
    else                                                                                        \
        QT(k4_mv)(w, av, st, n, NVX, o, 1)
#define QT_C_Q6_K(NVX) QT(q6k_mv)(w, av, st, n, NVX, o)
QT_TILES(q4_0_mv, QT_C_Q4_0, QT_MAXV)
QT_TILES(q4_1_mv, QT_C_Q4_1, QT_MAXV)
QT_TILES(q5_0_mv, QT_C_Q5_0, QT_MAXV)
QT_TILES(q5_1_mv, QT_C_Q5_1, QT_MAXV)
QT_TILES(q8_0_mv, QT_C_Q8_0, QT_MAXV)
QT_TILES(iq4_nl_mv, QT_C_IQ4_NL, QT_MAXV)
QT_TILES(q4_k_mv, QT_C_Q4_K, QT_MAXV)
QT_TILES(q5_k_mv, QT_C_Q5_K, QT_MAXV)
QT_TILES(q6_k_mv, QT_C_Q6_K, 4)

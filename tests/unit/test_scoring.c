/*
 * Scoring arithmetic (compute.h dt_ctx_set_scoring): for quantized random-weight llama files
 * ("q256" shape) used in their stored type (no f32 copy), DT_SCORING_Q8 must
 *   - give the same bits on 1 and 2 threads, and for a sequence scored alone or packed with
 *     others (each product's result does not depend on the other rows);
 *   - agree with a session's prefill of the same tokens (the same 8-bit products; only the
 *     attention's float order differs) far more closely than with the exact path;
 *   - differ from DT_SCORING_EXACT by no more than the activations' 8-bit rounding allows
 *     (and by something: the setting takes effect);
 *   - change nothing for a model with the f32 copy, or under DT_DECODE_F32_ACT=1;
 * and the names parse.
 */
#include "infer/bench.h"
#include "infer/compute.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "tests/tap.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LEN = 24, N_SEQ = 3 };

struct keep {
    float *v; /* (N_SEQ, LEN, n_vocab) */
    int n_vocab;
};

static int keep_cb(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct keep *k = ud;
    memcpy(k->v + (i_seq * LEN + i_pos) * (size_t)k->n_vocab, logits,
           (size_t)k->n_vocab * sizeof(float));
    return 0;
}

static int32_t toks[N_SEQ][LEN];

/* Scores the N_SEQ sequences (packed: all in one call; else one call each) into out. */
static int score(const struct dt_model *m, int threads, enum dt_scoring sc, int packed,
                 float *out, int *quantized)
{
    struct dt_ctx *x = NULL;
    struct dt_error err = {0};
    if (dt_ctx_new(m, threads, &x, &err))
        return -1;
    dt_ctx_set_scoring(x, sc);
    if (quantized)
        *quantized = dt_ctx_scoring_quantized(x);
    struct keep k = {out, dt_model_config(m)->n_vocab};
    const int32_t *seqs[N_SEQ];
    size_t lens[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        seqs[s] = toks[s];
        lens[s] = LEN;
    }
    int rc = 0;
    if (packed) {
        rc = dt_ctx_score_batch(x, seqs, lens, N_SEQ, keep_cb, &k, &err);
    } else {
        for (int s = 0; s < N_SEQ && !rc; s++) {
            struct keep ks = {out + (size_t)s * LEN * (size_t)k.n_vocab, k.n_vocab};
            rc = dt_ctx_score_batch(x, &seqs[s], &lens[s], 1, keep_cb, &ks, &err);
        }
    }
    if (rc)
        printf("# %s\n", err.msg);
    dt_ctx_free(x);
    return rc;
}

/* The last position's logits of sequence 0 prefilled into a session in one call. */
static int prefill(const struct dt_model *m, float *out)
{
    struct dt_ctx *x = NULL;
    struct dt_session *s = NULL;
    struct dt_error err = {0};
    int rc = dt_ctx_new(m, 2, &x, &err) || dt_session_new(x, 64, &s, &err) ||
             dt_session_eval(s, toks[0], LEN, &err);
    if (!rc)
        memcpy(out, dt_session_logits(s), (size_t)dt_model_config(m)->n_vocab * sizeof(float));
    dt_session_free(s);
    dt_ctx_free(x);
    return rc ? -1 : 0;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static double max_abs(const float *a, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i]));
    return d;
}

int main(void)
{
    char dir[] = "/tmp/dt_test_scoring_XXXXXX";
    if (!mkdtemp(dir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    enum dt_scoring sc;
    TAP_OK(dt_scoring_parse("q8", &sc) == 0 && sc == DT_SCORING_Q8 &&
               dt_scoring_parse("exact", &sc) == 0 && sc == DT_SCORING_EXACT &&
               dt_scoring_parse("fast", &sc) == -1 && !strcmp(dt_scoring_name(DT_SCORING_Q8), "q8") &&
               !strcmp(dt_scoring_name(DT_SCORING_EXACT), "exact"),
           "scoring names parse and print");
    unsetenv("DT_DECODE_F32_ACT");
    static const uint32_t types[] = {DT_GGML_Q8_0, DT_GGML_Q4_0, DT_GGML_Q5_1, DT_GGML_Q4_K,
                                     DT_GGML_Q6_K, DT_GGML_Q3_K, DT_GGML_IQ4_XS, DT_GGML_F16};
    struct dt_error err = {0};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const char *name = dt_ggml_type_name(types[t]);
        char path[256];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
        struct dt_model *m = NULL, *mc = NULL;
        setenv("DT_F32_CACHE_MB", "0", 1); /* rows in their stored type */
        int ok = dt_bench_write_synthetic(path, "q256", types[t], 11, &err) == 0 &&
                 dt_model_open(path, &m, &err) == 0;
        unsetenv("DT_F32_CACHE_MB");
        ok = ok && dt_model_open(path, &mc, &err) == 0; /* with the f32 copy */
        if (!ok) {
            TAP_OK(0, "%s: write and open (%s)", name, err.msg);
            dt_model_free(m);
            continue;
        }
        int nv = dt_model_config(m)->n_vocab;
        for (int s = 0; s < N_SEQ; s++)
            for (int i = 0; i < LEN; i++)
                toks[s][i] = (int32_t)((i * 37 + s * 101 + 11) % nv);
        size_t n = (size_t)N_SEQ * LEN * (size_t)nv;
        float *ex = malloc(n * sizeof(float)), *q1 = malloc(n * sizeof(float)),
              *q2 = malloc(n * sizeof(float)), *q2s = malloc(n * sizeof(float)),
              *c_ex = malloc(n * sizeof(float)), *c_q8 = malloc(n * sizeof(float)),
              *pre = malloc((size_t)nv * sizeof(float));
        int qz = -1, qzc = -1;
        ok = ex && q1 && q2 && q2s && c_ex && c_q8 && pre &&
             score(m, 2, DT_SCORING_EXACT, 1, ex, NULL) == 0 &&
             score(m, 1, DT_SCORING_Q8, 1, q1, &qz) == 0 &&
             score(m, 2, DT_SCORING_Q8, 1, q2, NULL) == 0 &&
             score(m, 2, DT_SCORING_Q8, 0, q2s, NULL) == 0 &&
             score(mc, 2, DT_SCORING_EXACT, 1, c_ex, NULL) == 0 &&
             score(mc, 2, DT_SCORING_Q8, 1, c_q8, &qzc) == 0 && prefill(m, pre) == 0;
        int quant = types[t] != DT_GGML_F16;
        if (ok) {
            double d_q8 = max_diff(ex, q2, n), scale = max_abs(ex, n);
            const float *last = q2 + (size_t)(LEN - 1) * (size_t)nv, *last_ex = ex + (size_t)(LEN - 1) * (size_t)nv;
            double d_pre = max_diff(last, pre, (size_t)nv), d_pre_ex = max_diff(last_ex, pre, (size_t)nv);
            TAP_OK(qz == quant && qzc == 0, "%s: q8 scoring applies %s (reported %d; with the f32 copy %d)",
                   name, quant ? "to the stored rows" : "to no float matrix", qz, qzc);
            /* (the exact path of a model without the f32 copy splits its sgemm by thread, so
             * float models agree across thread counts only to f32 rounding) */
            if (quant)
                TAP_OK(memcmp(q1, q2, n * sizeof(float)) == 0 &&
                           memcmp(q2, q2s, n * sizeof(float)) == 0,
                       "%s: q8 scoring is the same on 1 and 2 threads, packed or alone", name);
            TAP_OK(memcmp(c_ex, c_q8, n * sizeof(float)) == 0,
                   "%s: with the f32 copy, q8 scoring is the exact path", name);
            if (quant) {
                /* 8-bit activations: each product is off by at most amax/254 of its
                 * inputs' sum |w|; on these logits (max |l| = scale) that stays far below
                 * 5% of the scale, and is not nothing */
                TAP_OK(d_q8 > 0 && d_q8 <= 0.05 * scale,
                       "%s: q8 vs exact scoring max |d| %.3g (logits up to %.3g)", name, d_q8, scale);
                /* the prefill's products are the same 8-bit ones: it is much closer to q8
                 * scoring than to the exact path */
                TAP_OK(d_pre <= 1e-3 * scale && d_pre * 10 <= d_pre_ex,
                       "%s: a session's prefill matches q8 scoring (max |d| %.3g; vs exact %.3g)",
                       name, d_pre, d_pre_ex);
            } else {
                TAP_OK(memcmp(ex, q2, n * sizeof(float)) == 0,
                       "%s: float matrices keep the exact path under q8 scoring", name);
            }
        } else {
            TAP_OK(0, "%s: scoring ran (%s)", name, err.msg);
        }
        if (ok && quant) {
            setenv("DT_DECODE_F32_ACT", "1", 1);
            ok = score(m, 2, DT_SCORING_Q8, 1, q1, &qz) == 0;
            unsetenv("DT_DECODE_F32_ACT");
            TAP_OK(ok && qz == 0 && memcmp(q1, ex, n * sizeof(float)) == 0,
                   "%s: DT_DECODE_F32_ACT=1 makes q8 scoring exact", name);
        }
        free(ex);
        free(q1);
        free(q2);
        free(q2s);
        free(c_ex);
        free(c_q8);
        free(pre);
        dt_model_free(m);
        dt_model_free(mc);
        unlink(path);
    }
    rmdir(dir);
    return tap_done();
}

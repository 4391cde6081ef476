/*
 * Same-weights across tensor types, for `weights` (dt_weights_compare) and `verify`
 * (dt_fingerprint_verify): an f16 teacher (random-weight "q256" llama) against suspects in
 * each supported block type that are
 *   - re-encodings of the teacher's own f16 values,
 *   - quantizations of the higher-precision originals the f16 file was rounded from (the
 *     codes then differ from a re-encoding wherever a value sits near a rounding boundary),
 *   - a "fine-tune": originals plus noise of twice the type's quantization error (RMS; at
 *     least 0.5% of the weights' RMS), then quantized.
 * The first two must be judged same-weights by both; the fine-tune by neither.
 */
#include "fingerprint/release.h"
#include "fingerprint/weights.h"
#include "infer/bench.h"
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "tests/tap.h"
#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

enum src { FROM_TEACHER, FROM_ORIGINAL, FINETUNE };

/* Writes out_path: the layout of tmpl_path (a file of the target type), each non-F32 tensor
 * re-encoded from the values of src_path's tensor (dequantized), plus noise for FINETUNE. */
static int rewrite(const char *tmpl_path, const char *src_path, enum src how, const char *out_path)
{
    size_t n = 0;
    uint8_t *buf = read_all(tmpl_path, &n);
    struct dt_gguf *gt = NULL, *gs = NULL;
    struct dt_error err = {0};
    int rc = -1;
    struct dt_rng rng;
    dt_rng_seed(&rng, 99);
    if (!buf || dt_gguf_open_memory(buf, n, &gt, &err) || dt_gguf_open(src_path, &gs, &err))
        goto out;
    for (uint64_t i = 0; i < gt->n_tensors; i++) {
        const struct dt_gguf_tensor *t = &gt->tensors[i];
        const struct dt_gguf_tensor *s = dt_gguf_find_tensor(gs, t->name);
        if (!s || s->n_elems != t->n_elems)
            goto out;
        if (t->type == DT_GGML_F32)
            continue;
        size_t ne = (size_t)t->n_elems;
        float *x = malloc(ne * sizeof *x), *y = malloc(ne * sizeof *y);
        void *q = malloc(t->n_bytes);
        int ok = x && y && q;
        if (ok)
            dt_ggml_dequantize(s->type, s->data, x, t->n_elems);
        if (ok && how == FINETUNE) {
            /* noise of twice the RMS error that quantizing to this type causes, and at least
             * 0.5% of the tensor's RMS (above the f16-storage floors of the tolerances) */
            ok = dt_ggml_quantize(t->type, x, q, t->n_elems) == 0;
            dt_ggml_dequantize(t->type, q, y, t->n_elems);
            double e2 = 0, x2 = 0;
            for (size_t k = 0; k < ne; k++) {
                e2 += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
                x2 += (double)x[k] * x[k];
            }
            const double sd = fmax(2.0 * sqrt(e2 / (double)ne), 0.005 * sqrt(x2 / (double)ne));
            for (size_t k = 0; k < ne; k++)
                x[k] += (float)(sd * dt_rng_normal(&rng));
        }
        ok = ok && dt_ggml_quantize(t->type, x, q, t->n_elems) == 0;
        if (ok)
            memcpy(buf + (t->data - gt->base), q, t->n_bytes);
        free(x);
        free(y);
        free(q);
        if (!ok)
            goto out;
    }
    FILE *f = fopen(out_path, "wb");
    if (f && fwrite(buf, 1, n, f) == n)
        rc = 0;
    if (f)
        fclose(f);
out:
    dt_gguf_free(gt);
    dt_gguf_free(gs);
    free(buf);
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/dt_test_weights_quant_XXXXXX";
    if (!mkdtemp(dir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    static const uint32_t types[] = {DT_GGML_Q4_K, DT_GGML_Q6_K,   DT_GGML_Q5_0,  DT_GGML_IQ4_NL,
                                     DT_GGML_Q4_0, DT_GGML_Q4_1,   DT_GGML_Q5_1,  DT_GGML_Q8_0,
                                     DT_GGML_Q2_K, DT_GGML_Q3_K,   DT_GGML_Q5_K,  DT_GGML_IQ4_XS,
                                     DT_GGML_BF16};
    static const char *what[] = {"re-encoding of the f16 teacher", "quantization of the originals",
                                 "fine-tune (noise 2x the quantization error)"};
    char f16p[256], f32p[256], tp[256], sp[256];
    struct dt_error err = {0};
    snprintf(f16p, sizeof f16p, "%s/teacher-f16.gguf", dir);
    snprintf(f32p, sizeof f32p, "%s/original-f32.gguf", dir);
    int ok = dt_bench_write_synthetic(f16p, "q256", DT_GGML_F16, 5, &err) == 0 &&
             dt_bench_write_synthetic(f32p, "q256", DT_GGML_F32, 5, &err) == 0;
    struct dt_model *teacher = NULL;
    struct dt_ctx *tx = NULL;
    struct dt_fingerprint *fp = NULL;
    ok = ok && dt_model_open(f16p, &teacher, &err) == 0 && dt_ctx_new(teacher, 0, &tx, &err) == 0 &&
         dt_fingerprint_compute(tx, &fp, &err) == 0;
    TAP_OK(ok, "f16 teacher written and fingerprinted (%s)", err.msg);
    if (!ok)
        return tap_done();
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const char *name = dt_ggml_type_name(types[k]);
        snprintf(tp, sizeof tp, "%s/tmpl-%s.gguf", dir, name);
        if (dt_bench_write_synthetic(tp, "q256", types[k], 5, &err) != 0) {
            TAP_OK(0, "%s template (%s)", name, err.msg);
            continue;
        }
        for (int how = FROM_TEACHER; how <= FINETUNE; how++) {
            snprintf(sp, sizeof sp, "%s/suspect-%s-%d.gguf", dir, name, how);
            struct dt_model *s = NULL;
            struct dt_ctx *sx = NULL;
            struct dt_weights_pair wp;
            struct dt_fingerprint_match fm;
            int rc = rewrite(tp, how == FROM_TEACHER ? f16p : f32p, (enum src)how, sp);
            rc = rc ? rc : dt_model_open(sp, &s, &err);
            rc = rc ? rc : dt_weights_compare(teacher, s, &wp, &err);
            rc = rc ? rc : dt_ctx_new(s, 0, &sx, &err);
            rc = rc ? rc : dt_fingerprint_verify(fp, sx, &fm, &err);
            int same_w = !rc && wp.n_aligned == wp.n_teacher && wp.n_within_tol == wp.n_aligned;
            int want = how != FINETUNE;
            TAP_OK(!rc && same_w == want,
                   "weights, %s %s: %s (%zu of %zu tensors within tolerance, worst %.2f of it)",
                   name, what[how], same_w ? "same weights" : "not the same weights",
                   rc ? 0 : wp.n_within_tol, rc ? 0 : wp.n_aligned, rc ? 0 : wp.max_err_ratio);
            TAP_OK(!rc && fm.same == want, "verify, %s %s: %s (%s)", name, what[how],
                   !rc && fm.same ? "same" : "different", rc ? err.msg : fm.reason);
            dt_ctx_free(sx);
            dt_model_free(s);
            unlink(sp);
        }
        unlink(tp);
    }
    dt_fingerprint_free(fp);
    dt_ctx_free(tx);
    dt_model_free(teacher);
    unlink(f16p);
    unlink(f32p);
    rmdir(dir);
    return tap_done();
}

/*
 * Aligned-tensor weight comparison (see weights.h). Memory: two rows of f32 per tensor at a
 * time plus one re-encoding buffer, so models far larger than RAM can be compared from their
 * mappings. Accumulation is in double.
 */
#include "fingerprint/weights.h"

#include "fingerprint/measurement.h"
#include "infer/arch.h"
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Row index in a Hugging Face llama Q/K matrix that holds GGUF row r (llama.cpp's converter
 * interleaves the two rotary halves of every head). */
static int64_t hf_row_for_gguf_row(int64_t r, int64_t head_dim)
{
    int64_t head = r / head_dim, j = r % head_dim;
    return head * head_dim + (j % 2) * (head_dim / 2) + j / 2;
}

static int needs_qk_permute(const struct dt_model *a, const struct dt_model *b, const char *name)
{
    if (dt_model_format(a) == dt_model_format(b))
        return 0;
    /* Only where llama.cpp's converter permuted Q/K to adjacent-pair RoPE for this
     * architecture does a GGUF row differ in order from the HF checkpoint's. */
    if (dt_model_config(a)->arch != dt_model_config(b)->arch ||
        dt_model_config(a)->arch->gguf_rope != DT_ROPE_ADJACENT)
        return 0;
    return strstr(name, "attn_q.weight") != NULL || strstr(name, "attn_k.weight") != NULL;
}

/* What to add to a stored tensor to get the weight the forward pass uses: Hugging Face
 * checkpoints of rows with (1 + w) norms (gemma) store w, their GGUF conversions 1 + w. */
static float stored_offset(const struct dt_model *m, const char *name)
{
    size_t n = strlen(name), k = strlen("norm.weight");
    return dt_model_format(m) == DT_FORMAT_SAFETENSORS &&
                   (dt_model_config(m)->arch->flags & DT_AF_HF_NORM_PLUS_ONE) && n >= k &&
                   !strcmp(name + n - k, "norm.weight")
               ? 1.0f
               : 0.0f;
}

static void add_offset(float *v, int64_t n, float add)
{
    if (add != 0.0f)
        for (int64_t i = 0; i < n; i++)
            v[i] += add;
}

struct acc {
    double sx, sy, sxx, syy, sxy, sdd, sqq;
    int64_t n;
};

static void dequant_row(const struct dt_weight *w, int64_t row, float *dst)
{
    dt_ggml_dequantize(w->type, (const uint8_t *)w->data + (size_t)row * w->row_bytes, dst, w->cols);
}

/* Error of re-encoding row v (cols values) in type: adds sum (Q(v) - v)^2 to *sqq; 0, or -1
 * when the type cannot re-encode a row of that length. */
static int reencode_row(uint32_t type, const float *v, int64_t cols, void *qbuf, float *q,
                        double *sqq)
{
    if (dt_ggml_quantize(type, v, qbuf, cols) != 0)
        return -1;
    dt_ggml_dequantize(type, qbuf, q, cols);
    for (int64_t c = 0; c < cols; c++) {
        double e = (double)q[c] - v[c];
        *sqq += e * e;
    }
    return 0;
}

/* Streams one aligned tensor pair. t is the teacher side; o the other model. When the types
 * differ, each side is re-encoded in the other's type and the two errors add up: that is
 * what two encodings of the same weights differ by (an f16 side re-encodes a quantized one
 * almost exactly, so against an f16 teacher this is the error of quantizing the teacher;
 * between two types of equal size, e.g. Q4_0 and IQ4_NL or F16 and BF16, both count). */
static int compare_tensor(const struct dt_weight *t, const struct dt_weight *o, int permute_o,
                          int64_t head_dim, float add_t, float add_o, struct acc *a,
                          struct dt_error *err)
{
    int64_t cols = t->cols;
    float *x = dt_malloc_array((size_t)cols, sizeof(float));
    float *y = dt_malloc_array((size_t)cols, sizeof(float));
    float *q = dt_malloc_array((size_t)cols, sizeof(float));
    void *qbuf = NULL;
    int rc = 0;
    int requant = t->type != o->type;
    size_t qt_bytes = 0, qo_bytes = 0;
    if (requant && (dt_ggml_row_bytes(t->type, cols, &qt_bytes) != 0 ||
                    dt_ggml_row_bytes(o->type, cols, &qo_bytes) != 0))
        requant = 0;
    if (requant)
        qbuf = dt_malloc(qt_bytes > qo_bytes ? qt_bytes : qo_bytes);
    if (!x || !y || !q || (requant && !qbuf)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory comparing tensor '%s'", t->name);
        goto out;
    }
    for (int64_t r = 0; r < t->rows; r++) {
        dequant_row(t, r, x);
        dequant_row(o, permute_o ? hf_row_for_gguf_row(r, head_dim) : r, y);
        add_offset(x, cols, add_t);
        add_offset(y, cols, add_o);
        if (requant && (reencode_row(o->type, x, cols, qbuf, q, &a->sqq) != 0 ||
                        reencode_row(t->type, y, cols, qbuf, q, &a->sqq) != 0))
            requant = 0;
        for (int64_t c = 0; c < cols; c++) {
            double xv = x[c], yv = y[c], d = yv - xv;
            a->sx += xv;
            a->sy += yv;
            a->sxx += xv * xv;
            a->syy += yv * yv;
            a->sxy += xv * yv;
            a->sdd += d * d;
        }
        a->n += cols;
    }
    if (!requant)
        a->sqq = 0;
out:
    dt_free(x);
    dt_free(y);
    dt_free(q);
    dt_free(qbuf);
    return rc;
}

int dt_weights_compare(const struct dt_model *teacher, const struct dt_model *other,
                       struct dt_weights_pair *out, struct dt_error *err)
{
    memset(out, 0, sizeof *out);
    out->median_r = out->min_r = out->median_z = NAN;
    size_t n_t = dt_model_n_tensors(teacher);
    double *rs = dt_malloc_array(n_t ? n_t : 1, sizeof(double));
    double *zs = dt_malloc_array(n_t ? n_t : 1, sizeof(double));
    int rc = 0;
    if (!rs || !zs) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    int64_t head_dim = dt_model_config(teacher)->head_dim;
    double min_r = INFINITY;
    for (size_t i = 0; i < n_t; i++) {
        struct dt_weight tw, ow;
        if (dt_model_tensor(teacher, i, &tw) != 0 || !dt_ggml_type_supported(tw.type))
            continue;
        /* Vectors (norm gains, biases) count for same-weights but not for correlation: an
         * RMSNorm gain near 1 everywhere correlates between any two models. */
        int is_matrix = tw.rows >= 2 && tw.cols >= 2;
        out->n_teacher++;
        if (dt_model_find_tensor(other, tw.name, &ow) != 0 || ow.rows != tw.rows || ow.cols != tw.cols ||
            !dt_ggml_type_supported(ow.type))
            continue;
        int permute = needs_qk_permute(teacher, other, tw.name);
        /* Permutation is expressed on the HF side; if the teacher is the HF side, compare the
         * other way round. */
        const struct dt_weight *a = &tw, *b = &ow;
        if (permute && dt_model_format(teacher) == DT_FORMAT_SAFETENSORS) {
            a = &ow;
            b = &tw;
        }
        struct acc acc = {0};
        const struct dt_model *ma = a == &tw ? teacher : other, *mb = a == &tw ? other : teacher;
        if ((rc = compare_tensor(a, b, permute, head_dim, stored_offset(ma, tw.name),
                                 stored_offset(mb, tw.name), &acc, err)) != 0)
            goto out;
        out->n_aligned++;
        if (!permute && tw.type == ow.type && tw.row_bytes == ow.row_bytes) {
            /* both files are mapped: compare the bytes themselves (release fingerprints, where
             * the original is absent, use per-tensor hashes instead) */
            if (!memcmp(tw.data, ow.data, tw.row_bytes * (size_t)tw.rows))
                out->n_identical++;
        }
        double n = (double)acc.n;
        double vx = acc.sxx - acc.sx * acc.sx / n, vy = acc.syy - acc.sy * acc.sy / n;
        double cxy = acc.sxy - acc.sx * acc.sy / n;
        double r = (vx > 0 && vy > 0) ? cxy / sqrt(vx * vy) : 0.0;
        if (r > 1)
            r = 1;
        if (r < -1)
            r = -1;
        double rr = fmin(fabs(r), 1 - 1e-15) * (r < 0 ? -1 : 1);
        if (is_matrix) {
            rs[out->n_matrices] = r;
            zs[out->n_matrices] = atanh(rr) * sqrt(fmax(n - 3, 1));
            out->n_matrices++;
            if (r < min_r)
                min_r = r;
        }
        double norm_t = a == &tw ? acc.sxx : acc.syy;
        double rel = norm_t > 0 ? sqrt(acc.sdd / norm_t) : (acc.sdd > 0 ? INFINITY : 0);
        double rel_q = norm_t > 0 ? sqrt(acc.sqq / norm_t) : 0;
        /* f16 storage alone perturbs values by up to 2^-11 relative; allow that on top of the
         * re-encoding error, and 50% slack for quantizers that round differently. */
        double tol = 1.5 * rel_q + 1e-3;
        if (rel <= tol)
            out->n_within_tol++;
        if (rel > out->max_rel_err)
            out->max_rel_err = rel;
        if (rel / tol > out->max_err_ratio)
            out->max_err_ratio = rel / tol;
    }
    if (out->n_matrices) {
        out->min_r = min_r;
        out->median_r = median(rs, out->n_matrices);
        out->median_z = median(zs, out->n_matrices);
    }
out:
    dt_free(rs);
    dt_free(zs);
    return rc;
}

static cJSON *pair_json(const struct dt_weights_pair *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "teacher_matrices", (double)p->n_teacher);
    cJSON_AddNumberToObject(o, "aligned", (double)p->n_aligned);
    cJSON_AddNumberToObject(o, "identical", (double)p->n_identical);
    cJSON_AddNumberToObject(o, "within_tolerance", (double)p->n_within_tol);
    cJSON_AddNumberToObject(o, "aligned_matrices", (double)p->n_matrices);
    if (p->n_matrices) {
        cJSON_AddNumberToObject(o, "median_r", p->median_r);
        cJSON_AddNumberToObject(o, "min_r", p->min_r);
        cJSON_AddNumberToObject(o, "median_z", p->median_z);
        cJSON_AddNumberToObject(o, "max_rel_err", p->max_rel_err);
        cJSON_AddNumberToObject(o, "max_err_ratio", p->max_err_ratio);
    }
    return o;
}

int dt_signal_weights_run(const struct dt_model *teacher, const struct dt_model *suspect,
                          const struct dt_model *const *controls, size_t n_controls,
                          struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "weights", DT_SIGNAL_WEIGHTS);
    if (dt_measurement_alloc(m, n_controls, 0) != 0)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!teacher || !suspect) {
        dt_measurement_skip(m, "weights are not available for both models");
        return 0;
    }
    struct dt_weights_pair sp;
    int rc = dt_weights_compare(teacher, suspect, &sp, err);
    if (rc)
        return rc;
    m->details = cJSON_CreateObject();
    cJSON *ctl = cJSON_CreateArray();
    if (m->details) {
        cJSON_AddItemToObject(m->details, "suspect", pair_json(&sp));
        cJSON_AddItemToObject(m->details, "controls", ctl);
    }
    for (size_t j = 0; j < n_controls; j++) {
        struct dt_weights_pair cp;
        if (!controls[j]) {
            cJSON_AddItemToArray(ctl, cJSON_CreateNull());
            continue;
        }
        if ((rc = dt_weights_compare(teacher, controls[j], &cp, err)) != 0)
            return rc;
        m->control_stats[j] = cp.n_matrices ? cp.median_r : NAN;
        cJSON_AddItemToArray(ctl, pair_json(&cp));
    }
    if (sp.n_matrices == 0) {
        dt_measurement_skip(m, "no weight matrix of the teacher has a same-named, same-shaped "
                               "counterpart in the suspect (different architecture or size)");
        return 0;
    }
    m->test = DT_TEST_NORMAL;
    m->statistic = sp.median_r;
    /* The median of m independent N(0,1) has standard deviation ~ 1.2533/sqrt(m). */
    m->z_given = sp.median_z / (1.2533141373155 / sqrt((double)sp.n_matrices));
    snprintf(m->test_given, sizeof m->test_given, "aligned-tensor correlation (median Fisher z)");
    m->same_weights = sp.n_aligned == sp.n_teacher && sp.n_within_tol == sp.n_aligned;
    snprintf(m->note, sizeof m->note,
             "%zu of %zu teacher tensors aligned; median correlation %.4f; %zu byte-identical; "
             "%zu within re-encoding tolerance",
             sp.n_aligned, sp.n_teacher, sp.median_r, sp.n_identical, sp.n_within_tol);
    return 0;
}

/*
 * Release fingerprints (see release.h): computing one from a model, its JSON form, and
 * checking an artifact against it.
 *
 * Sample positions derive from the tensor's name only (xoshiro seeded with its XXH64), so
 * the registered model and the artifact are sampled at the same places without storing a
 * seed. The column window starts at a multiple of DT_FP_SAMPLE_COLS (256), a multiple of
 * every GGUF block size, so re-quantizing the sampled values reproduces the artifact's
 * blocks exactly when it was quantized from the registered weights.
 */
#include "fingerprint/release.h"

#include "corpus/corpus.h"
#include "infer/ggml_types.h"
#include "infer/arch.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/rng.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct dt_strbuf *sb, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        dt_strbuf_append(sb, q, 4);
    }
}

/* Decodes exactly n_out bytes; -1 on malformed input. */
static int b64_decode(const char *s, unsigned char *out, size_t n_out)
{
    size_t len = strlen(s), o = 0;
    if (len % 4 || len / 4 * 3 < n_out || len / 4 * 3 > n_out + 2)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = s[i + k] == '=' ? b64 : strchr(b64, s[i + k]);
            if (!c || !s[i + k])
                return -1;
            v = (v << 6) | (uint32_t)(c - b64);
        }
        for (int k = 0; k < 3 && o < n_out; k++)
            out[o++] = (unsigned char)(v >> (16 - 8 * k));
    }
    return 0;
}

/* ---- sampling ---- */

static void sample_plan(struct dt_fp_tensor *t)
{
    struct dt_rng rng;
    dt_rng_seed(&rng, dt_hash_xxh64(t->name, strlen(t->name), 0x64747270u));
    t->n_rows = t->rows < DT_FP_SAMPLE_ROWS ? (int)t->rows : DT_FP_SAMPLE_ROWS;
    for (int i = 0; i < t->n_rows; i++)
        t->row_idx[i] = (int64_t)dt_rng_below(&rng, (uint64_t)t->rows);
    int64_t n_windows = t->cols / DT_FP_SAMPLE_COLS;
    t->col0 =
        n_windows > 1 ? (int64_t)dt_rng_below(&rng, (uint64_t)n_windows) * DT_FP_SAMPLE_COLS : 0;
    t->n_cols = t->cols - t->col0 < DT_FP_SAMPLE_COLS ? t->cols - t->col0 : DT_FP_SAMPLE_COLS;
}

/* Dequantizes the planned sample of w into dst (n_rows * n_cols); row is scratch of cols. */
static void sample_read(const struct dt_fp_tensor *t, const struct dt_weight *w, float *row,
                        float *dst)
{
    for (int i = 0; i < t->n_rows; i++) {
        dt_ggml_dequantize(w->type, (const uint8_t *)w->data + (size_t)t->row_idx[i] * w->row_bytes,
                           row, w->cols);
        memcpy(dst + (size_t)i * (size_t)t->n_cols, row + t->col0, (size_t)t->n_cols * sizeof *row);
    }
}

static int probe_tokens(const struct dt_model *m, struct dt_fingerprint *fp, struct dt_error *err)
{
    struct dt_corpus *c = NULL;
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    int rc = dt_corpus_builtin("continuation", &c, err);
    if (rc)
        return rc;
    size_t n = c->n_probes < DT_FP_N_PROBES ? c->n_probes : DT_FP_N_PROBES;
    fp->tokens = dt_malloc_array(n * DT_FP_PROBE_TOKENS, sizeof *fp->tokens);
    fp->lens = dt_calloc(n ? n : 1, sizeof *fp->lens);
    if (!fp->tokens || !fp->lens) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory fingerprinting");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0, k = 0;
        int32_t *dst = fp->tokens + i * DT_FP_PROBE_TOKENS;
        if ((rc = dt_tokenizer_encode(tok, c->probes[i].text, strlen(c->probes[i].text), 0, &ids,
                                      &n_ids, err)))
            goto done;
        if (dt_tokenizer_bos(tok) >= 0)
            dst[k++] = dt_tokenizer_bos(tok);
        for (size_t j = 0; j < n_ids && k < DT_FP_PROBE_TOKENS; j++)
            dst[k++] = ids[j];
        fp->lens[i] = k;
        for (; k < DT_FP_PROBE_TOKENS; k++)
            dst[k] = -1;
        dt_free(ids);
    }
    fp->n_seqs = n;
done:
    dt_corpus_free(c);
    return rc;
}

struct score_ctx {
    const struct dt_fingerprint *fp;
    int n_vocab;
    int record; /* 1: fill top_ids/top_lp; 0: compare against them */
    float *top_lp;
    int32_t *top_ids;
    double sum_abs, max_abs;
    size_t n_vals, n_pos, n_top1;
};

/* Index of the recorded position for (seq, pos), or -1. */
static int slot_of(const struct dt_fingerprint *fp, size_t s, size_t p)
{
    size_t len = fp->lens[s];
    size_t first = len > DT_FP_N_POS ? len - DT_FP_N_POS : 0;
    if (p < first || p >= len)
        return -1;
    return (int)(s * DT_FP_N_POS + (p - first));
}

static int on_logits(void *ud, size_t s, size_t p, const float *logits)
{
    struct score_ctx *c = ud;
    int slot = slot_of(c->fp, s, p);
    if (slot < 0)
        return 0;
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < c->n_vocab; v++)
        mx = fmax(mx, logits[v]);
    for (int v = 0; v < c->n_vocab; v++)
        sum += exp(logits[v] - mx);
    double lse = mx + log(sum);
    float *lp = c->top_lp + (size_t)slot * DT_FP_TOP_K;
    int32_t *ids = c->top_ids + (size_t)slot * DT_FP_TOP_K;
    if (c->record) {
        for (int k = 0; k < DT_FP_TOP_K; k++) {
            ids[k] = -1;
            lp[k] = -INFINITY;
        }
        for (int v = 0; v < c->n_vocab; v++) {
            float l = (float)(logits[v] - lse);
            if (l <= lp[DT_FP_TOP_K - 1])
                continue;
            int k = DT_FP_TOP_K - 1;
            while (k > 0 && lp[k - 1] < l) {
                lp[k] = lp[k - 1];
                ids[k] = ids[k - 1];
                k--;
            }
            lp[k] = l;
            ids[k] = v;
        }
        return 0;
    }
    int best = 0;
    for (int v = 1; v < c->n_vocab; v++)
        if (logits[v] > logits[best])
            best = v;
    c->n_pos++;
    c->n_top1 += best == ids[0];
    for (int k = 0; k < DT_FP_TOP_K; k++) {
        if (ids[k] < 0 || ids[k] >= c->n_vocab)
            continue;
        double d = fabs((logits[ids[k]] - lse) - lp[k]);
        c->sum_abs += d;
        c->max_abs = fmax(c->max_abs, d);
        c->n_vals++;
    }
    return 0;
}

static int score(struct dt_ctx *x, const struct dt_fingerprint *fp, struct score_ctx *c,
                 struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    const int32_t *seqs[DT_FP_N_PROBES];
    size_t lens[DT_FP_N_PROBES], n = 0;
    for (size_t i = 0; i < fp->n_seqs && n < DT_FP_N_PROBES; i++) {
        for (size_t j = 0; j < fp->lens[i]; j++)
            if (fp->tokens[i * DT_FP_PROBE_TOKENS + j] < 0 ||
                fp->tokens[i * DT_FP_PROBE_TOKENS + j] >= dt_model_config(m)->n_vocab)
                return dt_error_set(err, DT_EMISMATCH,
                                    "probe token %d is outside the "
                                    "model's vocabulary",
                                    fp->tokens[i * DT_FP_PROBE_TOKENS + j]);
        seqs[n] = fp->tokens + i * DT_FP_PROBE_TOKENS;
        lens[n++] = fp->lens[i];
    }
    c->fp = fp;
    c->n_vocab = dt_model_config(m)->n_vocab;
    return dt_ctx_score_batch(x, seqs, lens, n, on_logits, c, err);
}

int dt_fingerprint_compute(struct dt_ctx *x, struct dt_fingerprint **out, struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    struct dt_fingerprint *fp = dt_calloc(1, sizeof *fp);
    float *row = NULL;
    int rc = 0;
    size_t n = dt_model_n_tensors(m);
    *out = NULL;
    if (!fp || !(fp->tensors = dt_calloc(n ? n : 1, sizeof *fp->tensors))) {
        dt_free(fp);
        return dt_error_set(err, DT_ENOMEM, "out of memory fingerprinting");
    }
    const char *th = dt_tokenizer_hash(dt_model_tokenizer(m));
    fp->tokenizer_hash = th ? dt_strdup(th) : NULL;
    fp->arch = dt_strdup(dt_model_config(m)->arch->name);
    fp->n_params = dt_model_n_params(m);
    for (size_t i = 0; i < n; i++) {
        struct dt_weight w;
        if ((rc = dt_model_tensor(m, i, &w))) {
            rc = dt_error_set(err, DT_EINTERNAL, "tensor %zu vanished", i);
            goto fail;
        }
        struct dt_fp_tensor *t = &fp->tensors[fp->n_tensors++];
        size_t n_bytes;
        t->type = w.type;
        t->rows = w.rows;
        t->cols = w.cols;
        if (!(t->name = dt_strdup(w.name)) ||
            dt_mul_overflow((size_t)w.rows, w.row_bytes, &n_bytes)) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory fingerprinting");
            goto fail;
        }
        t->xxh64 = dt_hash_xxh64(w.data, n_bytes, 0);
        if (!dt_ggml_type_supported(w.type) || w.rows <= 0 || w.cols <= 0)
            continue;
        sample_plan(t);
        float *nrow = dt_realloc_array(row, (size_t)w.cols, sizeof *row);
        t->sample = dt_malloc_array((size_t)t->n_rows * (size_t)t->n_cols, sizeof *t->sample);
        if (!nrow || !t->sample) {
            if (nrow)
                row = nrow;
            rc = dt_error_set(err, DT_ENOMEM, "out of memory fingerprinting");
            goto fail;
        }
        row = nrow;
        sample_read(t, &w, row, t->sample);
    }
    if ((rc = probe_tokens(m, fp, err)))
        goto fail;
    size_t n_slots = fp->n_seqs * DT_FP_N_POS * DT_FP_TOP_K;
    fp->top_lp = dt_malloc_array(n_slots ? n_slots : 1, sizeof *fp->top_lp);
    fp->top_ids = dt_malloc_array(n_slots ? n_slots : 1, sizeof *fp->top_ids);
    if (!fp->top_lp || !fp->top_ids) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory fingerprinting");
        goto fail;
    }
    for (size_t i = 0; i < n_slots; i++) {
        fp->top_lp[i] = 0;
        fp->top_ids[i] = -1;
    }
    struct score_ctx c = {0};
    c.record = 1;
    c.top_lp = fp->top_lp;
    c.top_ids = fp->top_ids;
    if ((rc = score(x, fp, &c, err)))
        goto fail;
    dt_free(row);
    *out = fp;
    return 0;
fail:
    dt_free(row);
    dt_fingerprint_free(fp);
    return rc;
}

void dt_fingerprint_free(struct dt_fingerprint *fp)
{
    if (!fp)
        return;
    for (size_t i = 0; i < fp->n_tensors; i++) {
        dt_free(fp->tensors[i].name);
        dt_free(fp->tensors[i].sample);
    }
    dt_free(fp->tensors);
    dt_free(fp->tokenizer_hash);
    dt_free(fp->arch);
    dt_free(fp->tokens);
    dt_free(fp->lens);
    dt_free(fp->top_lp);
    dt_free(fp->top_ids);
    dt_free(fp);
}

/* ---- JSON ---- */

int dt_fingerprint_to_json(const struct dt_fingerprint *fp, char **out, struct dt_error *err)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_strbuf_puts(&sb,
                   "{\"format\":\"distiltrace-fingerprint\",\"version\":1,\"tokenizer_hash\":");
    if (fp->tokenizer_hash)
        dt_strbuf_printf(&sb, "\"%s\"", fp->tokenizer_hash);
    else
        dt_strbuf_puts(&sb, "null");
    dt_strbuf_printf(&sb, ",\"arch\":\"%s\",\"n_params\":%lld,\"tensors\":[", fp->arch,
                     (long long)fp->n_params);
    for (size_t i = 0; i < fp->n_tensors; i++) {
        const struct dt_fp_tensor *t = &fp->tensors[i];
        cJSON *name = cJSON_CreateString(t->name);
        char *qn = name ? cJSON_PrintUnformatted(name) : NULL;
        cJSON_Delete(name);
        if (!qn) {
            dt_strbuf_release(&sb);
            return dt_error_set(err, DT_ENOMEM, "out of memory writing a fingerprint");
        }
        dt_strbuf_printf(&sb,
                         "%s{\"name\":%s,\"type\":%u,\"rows\":%lld,\"cols\":%lld,"
                         "\"xxh64\":\"%016llx\",\"n_rows\":%d,\"col0\":%lld,\"n_cols\":%lld,"
                         "\"sample\":\"",
                         i ? "," : "", qn, t->type, (long long)t->rows, (long long)t->cols,
                         (unsigned long long)t->xxh64, t->n_rows, (long long)t->col0,
                         (long long)t->n_cols);
        cJSON_free(qn);
        if (t->sample)
            b64_encode(&sb, (const unsigned char *)t->sample,
                       (size_t)t->n_rows * (size_t)t->n_cols * sizeof(float));
        dt_strbuf_puts(&sb, "\"}");
    }
    dt_strbuf_puts(&sb, "],\"probes\":[");
    for (size_t i = 0; i < fp->n_seqs; i++) {
        dt_strbuf_printf(&sb, "%s{\"tokens\":[", i ? "," : "");
        for (size_t j = 0; j < fp->lens[i]; j++)
            dt_strbuf_printf(&sb, "%s%d", j ? "," : "", fp->tokens[i * DT_FP_PROBE_TOKENS + j]);
        dt_strbuf_puts(&sb, "],\"top\":[");
        for (size_t k = 0; k < DT_FP_N_POS * DT_FP_TOP_K; k++) {
            size_t at = i * DT_FP_N_POS * DT_FP_TOP_K + k;
            float lp = fp->top_lp[at];
            dt_strbuf_printf(&sb, "%s[%d,%.9g]", k ? "," : "", fp->top_ids[at],
                             isfinite(lp) ? lp : -1e30);
        }
        dt_strbuf_puts(&sb, "]}");
    }
    dt_strbuf_puts(&sb, "]}");
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory writing a fingerprint");
    }
    *out = dt_strbuf_detach(&sb, NULL);
    return 0;
}

static int bad(struct dt_error *err, const char *what)
{
    return dt_error_set(err, DT_EFORMAT, "fingerprint: %s", what);
}

int dt_fingerprint_from_json(const char *json, size_t n_bytes, struct dt_fingerprint **out,
                             struct dt_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, n_bytes);
    struct dt_fingerprint *fp = dt_calloc(1, sizeof *fp);
    int rc = 0;
    *out = NULL;
    if (!fp) {
        cJSON_Delete(root);
        return dt_error_set(err, DT_ENOMEM, "out of memory reading a fingerprint");
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "tokenizer_hash");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(root, "n_params");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "probes");
    if (!cJSON_IsArray(ts) || !cJSON_IsArray(ps) || !cJSON_IsString(arch)) {
        rc = bad(err, "not a distiltrace fingerprint");
        goto fail;
    }
    fp->tokenizer_hash = cJSON_IsString(th) ? dt_strdup(th->valuestring) : NULL;
    fp->arch = dt_strdup(arch->valuestring);
    fp->n_params = cJSON_IsNumber(np) ? (int64_t)np->valuedouble : 0;
    int nt = cJSON_GetArraySize(ts), nps = cJSON_GetArraySize(ps);
    if (nps > DT_FP_N_PROBES) {
        rc = bad(err, "too many probes");
        goto fail;
    }
    fp->tensors = dt_calloc(nt > 0 ? (size_t)nt : 1, sizeof *fp->tensors);
    fp->tokens = dt_malloc_array((size_t)DT_FP_N_PROBES * DT_FP_PROBE_TOKENS, sizeof *fp->tokens);
    fp->lens = dt_calloc(DT_FP_N_PROBES, sizeof *fp->lens);
    fp->top_lp =
        dt_malloc_array((size_t)DT_FP_N_PROBES * DT_FP_N_POS * DT_FP_TOP_K, sizeof *fp->top_lp);
    fp->top_ids =
        dt_malloc_array((size_t)DT_FP_N_PROBES * DT_FP_N_POS * DT_FP_TOP_K, sizeof *fp->top_ids);
    if (!fp->tensors || !fp->tokens || !fp->lens || !fp->top_lp || !fp->top_ids || !fp->arch) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory reading a fingerprint");
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, ts)
    {
        struct dt_fp_tensor *t = &fp->tensors[fp->n_tensors++];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *hx = cJSON_GetObjectItemCaseSensitive(it, "xxh64");
        const cJSON *sm = cJSON_GetObjectItemCaseSensitive(it, "sample");
        double rows = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "rows"));
        double cols = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "cols"));
        double type = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "type"));
        double nr = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "n_rows"));
        if (!cJSON_IsString(name) || !cJSON_IsString(hx) || !cJSON_IsString(sm) ||
            !(rows >= 0 && rows < 1e12) || !(cols >= 0 && cols < 1e12) || !(type >= 0) ||
            !(nr >= 0 && nr <= DT_FP_SAMPLE_ROWS)) {
            rc = bad(err, "malformed tensor entry");
            goto fail;
        }
        t->name = dt_strdup(name->valuestring);
        t->rows = (int64_t)rows;
        t->cols = (int64_t)cols;
        t->type = (uint32_t)type;
        t->xxh64 = strtoull(hx->valuestring, NULL, 16);
        if (!t->name) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory reading a fingerprint");
            goto fail;
        }
        if (nr > 0) {
            /* the plan is a function of the name and shape: recompute it, then check */
            sample_plan(t);
            if (t->n_rows != (int)nr) {
                rc = bad(err, "sample plan does not match the tensor shape");
                goto fail;
            }
            size_t nv = (size_t)t->n_rows * (size_t)t->n_cols;
            if (!(t->sample = dt_malloc_array(nv ? nv : 1, sizeof(float)))) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory reading a fingerprint");
                goto fail;
            }
            if (b64_decode(sm->valuestring, (unsigned char *)t->sample, nv * sizeof(float))) {
                rc = bad(err, "malformed tensor sample");
                goto fail;
            }
        }
    }
    cJSON_ArrayForEach(it, ps)
    {
        size_t i = fp->n_seqs++;
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(it, "tokens");
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(it, "top"), *e;
        if (!cJSON_IsArray(tok) || cJSON_GetArraySize(tok) > DT_FP_PROBE_TOKENS ||
            !cJSON_IsArray(top) || cJSON_GetArraySize(top) != DT_FP_N_POS * DT_FP_TOP_K) {
            rc = bad(err, "malformed probe entry");
            goto fail;
        }
        size_t j = 0;
        cJSON_ArrayForEach(e, tok) fp->tokens[i * DT_FP_PROBE_TOKENS + j++] =
            (int32_t)cJSON_GetNumberValue(e);
        fp->lens[i] = j;
        size_t k = 0;
        cJSON_ArrayForEach(e, top)
        {
            size_t at = i * DT_FP_N_POS * DT_FP_TOP_K + k++;
            fp->top_ids[at] = (int32_t)cJSON_GetNumberValue(cJSON_GetArrayItem(e, 0));
            fp->top_lp[at] = (float)cJSON_GetNumberValue(cJSON_GetArrayItem(e, 1));
        }
    }
    cJSON_Delete(root);
    *out = fp;
    return 0;
fail:
    cJSON_Delete(root);
    dt_fingerprint_free(fp);
    return rc;
}

/* ---- verification ---- */

/* Relative error of re-encoding x (n values, block-aligned) in type, or a conservative
 * figure for types this build cannot quantize. */
static double reencode_error(uint32_t type, const float *x, size_t n)
{
    size_t bytes;
    if (dt_ggml_row_bytes(type, (int64_t)n, &bytes) != 0)
        return 0.3;
    void *q = dt_malloc(bytes ? bytes : 1);
    float *y = dt_malloc_array(n ? n : 1, sizeof *y);
    double e = 0.3;
    if (q && y && dt_ggml_quantize(type, x, q, (int64_t)n) == 0) {
        double num = 0, den = 0;
        dt_ggml_dequantize(type, q, y, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            num += (double)(x[i] - y[i]) * (x[i] - y[i]);
            den += (double)x[i] * x[i];
        }
        e = den > 0 ? sqrt(num / den) : 0;
    }
    dt_free(q);
    dt_free(y);
    return e;
}

int dt_fingerprint_verify(const struct dt_fingerprint *fp, struct dt_ctx *x,
                          struct dt_fingerprint_match *out, struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    float *row = NULL, *got = NULL;
    int rc = 0;
    double worst_reencode = 0;
    memset(out, 0, sizeof *out);
    out->n_tensors = fp->n_tensors;
    const char *th = dt_tokenizer_hash(dt_model_tokenizer(m));
    if (fp->tokenizer_hash && (!th || strcmp(th, fp->tokenizer_hash))) {
        snprintf(out->reason, sizeof out->reason,
                 "the tokenizer differs (hash %.16s, registered "
                 "%.16s)",
                 th ? th : "none", fp->tokenizer_hash);
        return 0;
    }
    if (dt_model_n_tensors(m) != fp->n_tensors) {
        snprintf(out->reason, sizeof out->reason, "%zu tensors, the registered model has %zu",
                 dt_model_n_tensors(m), fp->n_tensors);
        return 0;
    }
    for (size_t i = 0; i < fp->n_tensors; i++) {
        const struct dt_fp_tensor *t = &fp->tensors[i];
        struct dt_weight w;
        size_t n_bytes;
        if (dt_model_find_tensor(m, t->name, &w) != 0) {
            snprintf(out->reason, sizeof out->reason, "tensor '%.200s' is missing", t->name);
            goto done;
        }
        if (w.rows != t->rows || w.cols != t->cols) {
            snprintf(out->reason, sizeof out->reason,
                     "tensor '%.200s' has shape (%lld, %lld), registered (%lld, %lld)", t->name,
                     (long long)w.rows, (long long)w.cols, (long long)t->rows, (long long)t->cols);
            goto done;
        }
        if (!dt_mul_overflow((size_t)w.rows, w.row_bytes, &n_bytes) && w.type == t->type &&
            dt_hash_xxh64(w.data, n_bytes, 0) == t->xxh64) {
            out->n_identical++;
            out->n_within_tol++;
            continue;
        }
        if (!t->sample || !dt_ggml_type_supported(w.type)) {
            snprintf(out->reason, sizeof out->reason,
                     "tensor '%.200s' differs and cannot be compared within a tolerance", t->name);
            goto done;
        }
        size_t nv = (size_t)t->n_rows * (size_t)t->n_cols;
        float *nrow = dt_realloc_array(row, (size_t)w.cols, sizeof *row);
        if (nrow)
            row = nrow;
        float *ngot = dt_realloc_array(got, nv ? nv : 1, sizeof *got);
        if (ngot)
            got = ngot;
        if (!nrow || !ngot) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory verifying a fingerprint");
            goto done;
        }
        sample_read(t, &w, row, got);
        double num = 0, den = 0, re = 0;
        for (size_t k = 0; k < nv; k++) {
            num += (double)(got[k] - t->sample[k]) * (got[k] - t->sample[k]);
            den += (double)t->sample[k] * t->sample[k];
        }
        double rel = den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0);
        /* the error re-encoding the registered values in the artifact's type would cause
         * (row by row, windows are block-aligned), with slack for an artifact quantized
         * from higher-precision originals than the registered file holds */
        for (int r = 0; r < t->n_rows; r++)
            re = fmax(re, reencode_error(w.type, t->sample + (size_t)r * (size_t)t->n_cols,
                                         (size_t)t->n_cols));
        double tol = 1.5 * re + 2e-3;
        worst_reencode = fmax(worst_reencode, re);
        out->max_rel_err = fmax(out->max_rel_err, rel);
        out->max_err_ratio = fmax(out->max_err_ratio, rel / tol);
        if (rel <= tol)
            out->n_within_tol++;
        else if (!out->reason[0])
            snprintf(out->reason, sizeof out->reason,
                     "tensor '%.200s' differs by %.3g (relative), beyond the %.3g a re-encoding "
                     "as %s explains",
                     t->name, rel, tol, dt_ggml_type_name(w.type));
    }
    /* behaviour, always measured (a tampered tensor outside the sample shows here) */
    struct score_ctx c = {0};
    c.top_lp = fp->top_lp;
    c.top_ids = fp->top_ids;
    if ((rc = score(x, fp, &c, err)))
        goto done;
    out->behaviour_mean_abs = c.n_vals ? c.sum_abs / (double)c.n_vals : 0;
    out->behaviour_max_abs = c.max_abs;
    out->top1_agree = c.n_pos ? (double)c.n_top1 / (double)c.n_pos : 0;
    out->behaviour_tol = 0.01 + 4.0 * worst_reencode;
    if (out->reason[0])
        goto done;
    if (out->behaviour_mean_abs > out->behaviour_tol) {
        snprintf(out->reason, sizeof out->reason,
                 "next-token log-probabilities differ by %.3g on average, beyond the %.3g the "
                 "tensor types explain",
                 out->behaviour_mean_abs, out->behaviour_tol);
        goto done;
    }
    out->same = 1;
    if (out->n_identical == out->n_tensors)
        snprintf(out->reason, sizeof out->reason,
                 "all %zu tensors are byte-identical and the behaviour matches", out->n_tensors);
    else
        snprintf(out->reason, sizeof out->reason,
                 "%zu of %zu tensors identical, the rest within re-encoding tolerance (largest "
                 "error %.3g of its tolerance); behaviour within %.3g (tolerance %.3g)",
                 out->n_identical, out->n_tensors, out->max_err_ratio, out->behaviour_mean_abs,
                 out->behaviour_tol);
done:
    dt_free(row);
    dt_free(got);
    return rc;
}

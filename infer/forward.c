/*
 * The CPU forward pass for llama / qwen2 decoders, f32 activations.
 *
 *   x = embed(tok)
 *   per layer: h = rmsnorm(x) * attn_norm; q,k,v = Wq h (+bq), Wk h (+bk), Wv h (+bv)
 *              rope(q, k) at each row's position; a = softmax(q k^T / sqrt(head_dim), causal) v
 *              x += Wo a; h = rmsnorm(x) * ffn_norm; x += Wdown (silu(Wgate h) * Wup h)
 *   logits = Wout (rmsnorm(x) * output_norm)          (all n_vocab rows, padding included)
 *
 * Batched scoring packs the positions of many sequences into one (rows, dim) activation matrix
 * so every linear layer is one OpenBLAS sgemm over all rows; attention runs per sequence and
 * head (sgemm for q k^T and p v). Weights reach sgemm as f32: either from a cache of f32 copies
 * (built once when all matrices together need at most DT_F32_CACHE_MB, default 512 MB, of f32:
 * tiny models, where it is fastest), straight from the mapping (aligned F32 tensors), or
 * dequantized block of rows by block of rows into a scratch buffer (at most 16M floats) once
 * per chunk of rows, so conversion is amortized over up to DT_CHUNK_ROWS positions. Peak
 * memory for large models is then the mapping plus activations plus that scratch.
 *
 * Incremental decoding (sessions) keeps a per-layer K/V cache of (n_ctx, n_head_kv*head_dim)
 * floats; single-token matrix-vector products use sgemv on f32 views or dt_ggml_dot on the
 * stored type, so no large model is ever expanded to f32. Results depend only on the inputs
 * and the thread count.
 */
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "infer/model_internal.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DT_CHUNK_ROWS 4096            /* max positions per packed forward */
#define DT_SCRATCH_FLOATS (16u << 20) /* dequantization scratch (64 MB) */
#define DT_LOGIT_BLOCK_FLOATS (16u << 20)

enum { SLOT_OUTPUT = 0, SLOT_LAYER0 = 2, SLOTS_PER_LAYER = 7 };

static size_t n_slots(const struct dt_model *m)
{
    return SLOT_LAYER0 + SLOTS_PER_LAYER * (size_t)m->cfg.n_layer;
}

static const struct dt_weight *slot_weight(const struct dt_model *m, size_t slot)
{
    if (slot == SLOT_OUTPUT)
        return &m->output;
    if (slot < SLOT_LAYER0)
        return NULL;
    const struct dt_layer *l = &m->layers[(slot - SLOT_LAYER0) / SLOTS_PER_LAYER];
    switch ((slot - SLOT_LAYER0) % SLOTS_PER_LAYER) {
    case 0: return &l->wq;
    case 1: return &l->wk;
    case 2: return &l->wv;
    case 3: return &l->wo;
    case 4: return &l->w_gate;
    case 5: return &l->w_up;
    default: return &l->w_down;
    }
}

static int is_direct_f32(const struct dt_weight *w)
{
    return w->type == DT_GGML_F32 && ((uintptr_t)w->data % sizeof(float)) == 0;
}

/* Decides once whether to keep f32 copies of every matrix, and builds them. */
static int ensure_f32_cache(struct dt_model *m, struct dt_error *err)
{
    if (m->f32_state)
        return 0;
    size_t limit_mb = 512;
    const char *env = getenv("DT_F32_CACHE_MB");
    if (env && *env)
        limit_mb = (size_t)strtoull(env, NULL, 10);
    size_t total = 0, n = n_slots(m);
    for (size_t s = 0; s < n; s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w && !is_direct_f32(w))
            total += (size_t)w->rows * (size_t)w->cols * sizeof(float);
    }
    if (total > limit_mb * (size_t)(1u << 20)) {
        m->f32_state = -1;
        return 0;
    }
    m->f32 = dt_calloc(n, sizeof *m->f32);
    if (!m->f32)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    for (size_t s = 0; s < n; s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (!w || is_direct_f32(w))
            continue;
        m->f32[s] = dt_malloc_array((size_t)w->rows * (size_t)w->cols, sizeof(float));
        if (!m->f32[s])
            return dt_error_set(err, DT_ENOMEM, "out of memory caching '%s' as f32", w->name);
        dt_ggml_dequantize(w->type, w->data, m->f32[s], w->rows * w->cols);
    }
    m->f32_state = 1;
    return 0;
}

/* f32 view of the whole matrix without conversion work, or NULL. */
static const float *f32_view(const struct dt_model *m, size_t slot)
{
    const struct dt_weight *w = slot_weight(m, slot);
    if (is_direct_f32(w))
        return w->data;
    if (m->f32_state == 1)
        return m->f32[slot];
    return NULL;
}

struct workspace {
    size_t cap_rows;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2; /* (cap_rows, width) each */
    float *rope;       /* (cap_rows, rope_dim) cos, sin interleaved */
    int *pos;          /* (cap_rows) position of each row */
    float *scores;     /* (max_len, max_len) */
    size_t cap_scores;
    float *scratch;    /* dequantization, scratch_floats */
    size_t scratch_floats;
    float *logits;     /* (logit_rows, n_vocab) */
    size_t logit_rows;
};

static void ws_release(struct workspace *ws)
{
    dt_free(ws->x);
    dt_free(ws->xb);
    dt_free(ws->q);
    dt_free(ws->k);
    dt_free(ws->v);
    dt_free(ws->att);
    dt_free(ws->hb);
    dt_free(ws->hb2);
    dt_free(ws->rope);
    dt_free(ws->pos);
    dt_free(ws->scores);
    dt_free(ws->scratch);
    dt_free(ws->logits);
    memset(ws, 0, sizeof *ws);
}

/* rows: packed positions; max_q x max_kv: the largest attention score matrix of one head. */
static int ws_init(struct workspace *ws, const struct dt_model *m, size_t rows, size_t max_q,
                   size_t max_kv, size_t logit_rows, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_head_kv * c->head_dim;
    memset(ws, 0, sizeof *ws);
    ws->cap_rows = rows;
    ws->x = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->xb = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->q = dt_malloc_array(rows, qd * sizeof(float));
    ws->k = dt_malloc_array(rows, kvd * sizeof(float));
    ws->v = dt_malloc_array(rows, kvd * sizeof(float));
    ws->att = dt_malloc_array(rows, qd * sizeof(float));
    ws->hb = dt_malloc_array(rows, (size_t)c->ffn_dim * sizeof(float));
    ws->hb2 = dt_malloc_array(rows, (size_t)c->ffn_dim * sizeof(float));
    ws->rope = dt_malloc_array(rows, (size_t)c->rope_dim * sizeof(float));
    ws->pos = dt_malloc_array(rows, sizeof(int));
    ws->cap_scores = max_q * max_kv;
    ws->scores = dt_malloc_array(max_q, max_kv * sizeof(float));
    ws->logit_rows = logit_rows;
    ws->logits = dt_malloc_array(logit_rows, (size_t)c->n_vocab * sizeof(float));
    /* Scratch only when some matrix has no f32 view. */
    size_t need = 0;
    for (size_t s = 0; s < n_slots(m); s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w && !f32_view(m, s)) {
            size_t e = (size_t)w->rows * (size_t)w->cols;
            size_t cap = DT_SCRATCH_FLOATS > (size_t)w->cols ? DT_SCRATCH_FLOATS : (size_t)w->cols;
            need = need > (e < cap ? e : cap) ? need : (e < cap ? e : cap);
        }
    }
    ws->scratch_floats = need;
    ws->scratch = need ? dt_malloc_array(need, sizeof(float)) : NULL;
    if (!ws->x || !ws->xb || !ws->q || !ws->k || !ws->v || !ws->att || !ws->hb || !ws->hb2 ||
        !ws->rope || !ws->pos || !ws->scores || !ws->logits || (need && !ws->scratch)) {
        ws_release(ws);
        return dt_error_set(err, DT_ENOMEM, "out of memory for activations of %zu positions", rows);
    }
    return 0;
}

/*
 * y[r, 0..w->rows) = W x[r] for n rows; x has leading dimension w->cols, y has ldy.
 * Uses sgemm on an f32 view when one exists, otherwise dequantizes blocks of weight rows into
 * scratch (once per call, i.e. once per chunk of positions). A single row without an f32 view
 * uses dot products on the stored type.
 */
static void linear(const struct dt_model *m, struct workspace *ws, size_t slot, const float *x,
                   size_t n, float *y, size_t ldy)
{
    const struct dt_weight *w = slot_weight(m, slot);
    const int64_t rows = w->rows, cols = w->cols;
    const float *f = f32_view(m, slot);
    if (f) {
        if (n == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, f, (int)cols, x, 1,
                        0.0f, y, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f,
                        x, (int)cols, f, (int)cols, 0.0f, y, (int)ldy);
        return;
    }
    const uint8_t *base = w->data;
    if (n == 1) {
        for (int64_t r = 0; r < rows; r++)
            y[r] = dt_ggml_dot(w->type, base + (size_t)r * w->row_bytes, x, cols);
        return;
    }
    int64_t block = (int64_t)(ws->scratch_floats / (size_t)cols);
    if (block < 1)
        block = 1;
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        int64_t nb = rows - r0 < block ? rows - r0 : block;
        dt_ggml_dequantize(w->type, base + (size_t)r0 * w->row_bytes, ws->scratch, nb * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)nb, (int)cols, 1.0f, x,
                    (int)cols, ws->scratch, (int)cols, 0.0f, y + r0, (int)ldy);
    }
}

static void rmsnorm(float *out, const float *x, const float *w, int dim, float eps)
{
    double ss = 0;
    for (int i = 0; i < dim; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / dim + (double)eps));
    for (int i = 0; i < dim; i++)
        out[i] = w[i] * (x[i] * scale);
}

/* cos/sin for each row's position, rope_dim/2 pairs: HF computes inv_freq and the angle in f32. */
static void rope_table(const struct dt_model_config *c, const int *pos, size_t n, float *tab)
{
    int half = c->rope_dim / 2;
    for (size_t r = 0; r < n; r++) {
        float *t = tab + r * (size_t)c->rope_dim;
        for (int i = 0; i < half; i++) {
            float inv = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / c->rope_dim));
            float ang = (float)pos[r] * inv;
            t[2 * i] = (float)cos((double)ang);
            t[2 * i + 1] = (float)sin((double)ang);
        }
    }
}

static void rope_apply(const struct dt_model_config *c, float *v, int n_heads, const float *t)
{
    int half = c->rope_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *p = v + (size_t)h * c->head_dim;
        for (int i = 0; i < half; i++) {
            int i0 = c->rope_half_split ? i : 2 * i, i1 = c->rope_half_split ? i + half : 2 * i + 1;
            float co = t[2 * i], si = t[2 * i + 1];
            float x0 = p[i0], x1 = p[i1];
            p[i0] = x0 * co - x1 * si;
            p[i1] = x0 * si + x1 * co;
        }
    }
}

/*
 * Causal attention of n_q query rows at positions pos0.. over kv rows 0..pos0+n_q-1.
 * q/out have leading dimension n_head*head_dim, k/v n_head_kv*head_dim.
 */
static void attention(const struct dt_model_config *c, const float *q, size_t n_q, int pos0,
                      const float *k, const float *v, float *out, float *scores)
{
    const int hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_head_kv * hd;
    const int group = c->n_head / c->n_head_kv;
    const size_t n_kv = (size_t)pos0 + n_q;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < c->n_head; h++) {
        const int kh = h / group;
        const float *qh = q + (size_t)h * hd, *kb = k + (size_t)kh * hd, *vb = v + (size_t)kh * hd;
        float *oh = out + (size_t)h * hd;
        if (n_q == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_kv, hd, scale, kb, kvd, qh, 1, 0.0f,
                        scores, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_q, (int)n_kv, hd, scale,
                        qh, qd, kb, kvd, 0.0f, scores, (int)n_kv);
        for (size_t i = 0; i < n_q; i++) {
            float *s = scores + i * n_kv;
            size_t len = (size_t)pos0 + i + 1;
            float mx = s[0];
            for (size_t j = 1; j < len; j++)
                mx = s[j] > mx ? s[j] : mx;
            float sum = 0;
            for (size_t j = 0; j < len; j++) {
                s[j] = expf(s[j] - mx);
                sum += s[j];
            }
            float inv = 1.0f / sum;
            for (size_t j = 0; j < len; j++)
                s[j] *= inv;
            for (size_t j = len; j < n_kv; j++)
                s[j] = 0.0f;
        }
        if (n_q == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)n_kv, hd, 1.0f, vb, kvd, scores, 1, 0.0f, oh,
                        1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_q, hd, (int)n_kv, 1.0f,
                        scores, (int)n_kv, vb, kvd, 0.0f, oh, qd);
    }
}

struct span {
    size_t row0, n; /* rows of the packed matrix */
    int pos0;       /* position of the first row */
};

static void embed(const struct dt_model *m, const int32_t *tokens, size_t n, float *x)
{
    const struct dt_weight *e = &m->tok_embd;
    for (size_t r = 0; r < n; r++)
        dt_ggml_dequantize(e->type, (const uint8_t *)e->data + (size_t)tokens[r] * e->row_bytes,
                           x + r * (size_t)e->cols, e->cols);
}

/*
 * Runs all layers over ws->x (n rows, already embedded). kcache/vcache: per-layer caches of a
 * session with a single span (K/V rows are written at pos0..), or NULL to attend within the
 * packed rows of each span (scoring).
 */
static void forward_layers(struct dt_model *m, struct workspace *ws, size_t n,
                           const struct span *spans, size_t n_spans, float **kcache,
                           float **vcache)
{
    const struct dt_model_config *c = &m->cfg;
    const size_t dim = (size_t)c->dim, qd = (size_t)c->n_head * c->head_dim,
                 kvd = (size_t)c->n_head_kv * c->head_dim, ffn = (size_t)c->ffn_dim;
    const int n_blas_threads = openblas_get_num_threads();
    rope_table(c, ws->pos, n, ws->rope);
    for (int li = 0; li < c->n_layer; li++) {
        const struct dt_layer *l = &m->layers[li];
        const size_t s0 = SLOT_LAYER0 + (size_t)li * SLOTS_PER_LAYER;
        for (size_t r = 0; r < n; r++)
            rmsnorm(ws->xb + r * dim, ws->x + r * dim, l->attn_norm, c->dim, c->rms_eps);
        float *kd = kcache ? kcache[li] + (size_t)spans[0].pos0 * kvd : ws->k;
        float *vd = vcache ? vcache[li] + (size_t)spans[0].pos0 * kvd : ws->v;
        linear(m, ws, s0 + 0, ws->xb, n, ws->q, qd);
        linear(m, ws, s0 + 1, ws->xb, n, kd, kvd);
        linear(m, ws, s0 + 2, ws->xb, n, vd, kvd);
        for (size_t r = 0; r < n; r++) {
            float *qr = ws->q + r * qd, *kr = kd + r * kvd, *vr = vd + r * kvd;
            if (l->bq) {
                for (size_t i = 0; i < qd; i++)
                    qr[i] += l->bq[i];
                for (size_t i = 0; i < kvd; i++) {
                    kr[i] += l->bk[i];
                    vr[i] += l->bv[i];
                }
            }
            const float *t = ws->rope + r * (size_t)c->rope_dim;
            rope_apply(c, qr, c->n_head, t);
            rope_apply(c, kr, c->n_head_kv, t);
        }
        /* Per-head products are small (len x len x head_dim): OpenBLAS threading costs more
         * than it gains there, so attention runs single-threaded. */
        openblas_set_num_threads(1);
        for (size_t s = 0; s < n_spans; s++) {
            const struct span *sp = &spans[s];
            if (sp->n == 0)
                continue;
            const float *kb = kcache ? kcache[li] : ws->k + sp->row0 * kvd;
            const float *vb = vcache ? vcache[li] : ws->v + sp->row0 * kvd;
            attention(c, ws->q + sp->row0 * qd, sp->n, kcache ? sp->pos0 : 0, kb, vb,
                      ws->att + sp->row0 * qd, ws->scores);
        }
        openblas_set_num_threads(n_blas_threads);
        linear(m, ws, s0 + 3, ws->att, n, ws->xb, dim);
        for (size_t i = 0; i < n * dim; i++)
            ws->x[i] += ws->xb[i];
        for (size_t r = 0; r < n; r++)
            rmsnorm(ws->xb + r * dim, ws->x + r * dim, l->ffn_norm, c->dim, c->rms_eps);
        linear(m, ws, s0 + 4, ws->xb, n, ws->hb, ffn);
        linear(m, ws, s0 + 5, ws->xb, n, ws->hb2, ffn);
        for (size_t i = 0; i < n * ffn; i++) {
            float g = ws->hb[i];
            ws->hb[i] = g / (1.0f + expf(-g)) * ws->hb2[i];
        }
        linear(m, ws, s0 + 6, ws->hb, n, ws->xb, dim);
        for (size_t i = 0; i < n * dim; i++)
            ws->x[i] += ws->xb[i];
    }
    for (size_t r = 0; r < n; r++)
        rmsnorm(ws->x + r * dim, ws->x + r * dim, m->output_norm, c->dim, c->rms_eps);
}

static int check_tokens(const struct dt_model *m, const int32_t *t, size_t n, struct dt_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= m->cfg.n_vocab)
            return dt_error_set(err, DT_EINVAL, "token id %d at position %zu is outside the vocabulary (%d)",
                                t[i], i, m->cfg.n_vocab);
    return 0;
}

static void set_threads(const struct dt_model *m)
{
    openblas_set_num_threads(m->n_threads > 0 ? m->n_threads : 2);
}

int dt_model_score_batch(struct dt_model *m, const int32_t *const *seqs, const size_t *lens,
                         size_t n_seqs, dt_logits_cb cb, void *ud, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    struct workspace *wsp = m->score_ws;
    struct span *spans = NULL;
    int32_t *tok = NULL;
    int rc = 0;
    size_t max_len = 0, total = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        if (lens[s] > (size_t)c->n_ctx_train)
            return dt_error_set(err, DT_EINVAL, "sequence %zu has %zu tokens, the model context is %d",
                                s, lens[s], c->n_ctx_train);
        if ((rc = check_tokens(m, seqs[s], lens[s], err)))
            return dt_error_prefix(err, "sequence %zu", s);
        max_len = lens[s] > max_len ? lens[s] : max_len;
        total += lens[s];
    }
    if (total == 0)
        return 0;
    if ((rc = ensure_f32_cache(m, err)))
        return rc;
    set_threads(m);
    size_t cap = total < DT_CHUNK_ROWS ? total : DT_CHUNK_ROWS;
    cap = cap > max_len ? cap : max_len;
    size_t logit_rows = DT_LOGIT_BLOCK_FLOATS / (size_t)c->n_vocab;
    logit_rows = logit_rows < 64 ? 64 : logit_rows;
    logit_rows = logit_rows > cap ? cap : logit_rows;
    if (wsp && (wsp->cap_rows < cap || wsp->cap_scores < max_len * max_len ||
                wsp->logit_rows < logit_rows)) {
        ws_release(wsp);
        dt_free(wsp);
        m->score_ws = wsp = NULL;
    }
    if (!wsp) {
        wsp = dt_calloc(1, sizeof *wsp);
        if (!wsp)
            return dt_error_set(err, DT_ENOMEM, "out of memory");
        if ((rc = ws_init(wsp, m, cap, max_len, max_len, logit_rows, err))) {
            dt_free(wsp);
            return rc;
        }
        m->score_ws = wsp;
    }
    struct workspace ws = *wsp; /* shallow copy: buffers stay owned by m->score_ws */
    spans = dt_malloc_array(n_seqs, sizeof *spans);
    tok = dt_malloc_array(cap, sizeof *tok);
    if (!spans || !tok) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    size_t s = 0;
    while (s < n_seqs) {
        /* Pack whole sequences until the chunk is full. */
        size_t n_rows = 0, n_spans = 0, s_first = s;
        while (s < n_seqs && n_rows + lens[s] <= cap) {
            spans[n_spans].row0 = n_rows;
            spans[n_spans].n = lens[s];
            spans[n_spans].pos0 = 0;
            memcpy(tok + n_rows, seqs[s], lens[s] * sizeof *tok);
            for (size_t p = 0; p < lens[s]; p++)
                ws.pos[n_rows + p] = (int)p;
            n_rows += lens[s];
            n_spans++;
            s++;
        }
        if (n_rows == 0)
            continue; /* only empty sequences (lens 0) were packed */
        embed(m, tok, n_rows, ws.x);
        forward_layers(m, &ws, n_rows, spans, n_spans, NULL, NULL);
        /* Logits in blocks of rows, callbacks in (sequence, position) order. */
        size_t si = 0;
        for (size_t r0 = 0; r0 < n_rows; r0 += ws.logit_rows) {
            size_t nb = n_rows - r0 < ws.logit_rows ? n_rows - r0 : ws.logit_rows;
            linear(m, &ws, SLOT_OUTPUT, ws.x + r0 * (size_t)c->dim, nb, ws.logits,
                   (size_t)c->n_vocab);
            for (size_t r = r0; r < r0 + nb; r++) {
                while (r >= spans[si].row0 + spans[si].n) /* also skips empty sequences */
                    si++;
                if ((rc = cb(ud, s_first + si, r - spans[si].row0,
                             ws.logits + (r - r0) * (size_t)c->n_vocab)))
                    goto out;
            }
        }
    }
out:
    dt_free(tok);
    dt_free(spans);
    return rc;
}

void dt_forward_release(struct dt_model *m)
{
    if (m->score_ws) {
        ws_release(m->score_ws);
        dt_free(m->score_ws);
        m->score_ws = NULL;
    }
    if (m->f32) {
        for (size_t i = 0; i < n_slots(m); i++)
            dt_free(m->f32[i]);
        dt_free(m->f32);
        m->f32 = NULL;
    }
}

/* ---- sessions ---- */

struct dt_session {
    struct dt_model *m;
    int n_ctx, n_past;
    float **kc, **vc; /* n_layer x (n_ctx, n_head_kv*head_dim) */
    float *logits;    /* (n_vocab) */
    struct workspace ws;
};

void dt_session_free(struct dt_session *s)
{
    if (!s)
        return;
    for (int l = 0; s->kc && l < s->m->cfg.n_layer; l++) {
        dt_free(s->kc[l]);
        dt_free(s->vc[l]);
    }
    dt_free(s->kc);
    dt_free(s->vc);
    dt_free(s->logits);
    ws_release(&s->ws);
    dt_free(s);
}

int dt_session_new(struct dt_model *m, int n_ctx, struct dt_session **out, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    if (n_ctx <= 0)
        n_ctx = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    if (n_ctx > c->n_ctx_train)
        n_ctx = c->n_ctx_train;
    int rc = ensure_f32_cache(m, err);
    if (rc)
        return rc;
    struct dt_session *s = dt_calloc(1, sizeof *s);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    size_t kvd = (size_t)c->n_head_kv * c->head_dim;
    s->kc = dt_calloc((size_t)c->n_layer, sizeof *s->kc);
    s->vc = dt_calloc((size_t)c->n_layer, sizeof *s->vc);
    s->logits = dt_malloc_array((size_t)c->n_vocab, sizeof(float));
    if (!s->kc || !s->vc || !s->logits)
        goto oom;
    for (int l = 0; l < c->n_layer; l++) {
        s->kc[l] = dt_malloc_array((size_t)n_ctx, kvd * sizeof(float));
        s->vc[l] = dt_malloc_array((size_t)n_ctx, kvd * sizeof(float));
        if (!s->kc[l] || !s->vc[l])
            goto oom;
    }
    /* Prompt chunks of up to 512 rows; scores span the whole context. */
    size_t rows = n_ctx < 512 ? (size_t)n_ctx : 512;
    if ((rc = ws_init(&s->ws, m, rows, rows, (size_t)n_ctx, 1, err))) {
        dt_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
oom:
    dt_session_free(s);
    return dt_error_set(err, DT_ENOMEM, "out of memory for a %d-token KV cache", n_ctx);
}

void dt_session_reset(struct dt_session *s) { s->n_past = 0; }
int dt_session_n_past(const struct dt_session *s) { return s->n_past; }
int dt_session_n_ctx(const struct dt_session *s) { return s->n_ctx; }
const float *dt_session_logits(const struct dt_session *s) { return s->logits; }

int dt_session_eval(struct dt_session *s, const int32_t *tokens, size_t n, struct dt_error *err)
{
    struct dt_model *m = s->m;
    const struct dt_model_config *c = &m->cfg;
    if (n == 0)
        return 0;
    if (n > (size_t)(s->n_ctx - s->n_past))
        return dt_error_set(err, DT_EINVAL, "%zu more tokens do not fit the context of %d (%d used)",
                            n, s->n_ctx, s->n_past);
    int rc = check_tokens(m, tokens, n, err);
    if (rc)
        return rc;
    /* One-token steps of small models are matrix-vector products of a few hundred KB: thread
     * hand-off costs more than it saves, so they run on one thread. */
    if (n == 1 && m->f32_state == 1 && m->cfg.dim <= 1024)
        openblas_set_num_threads(1);
    else
        set_threads(m);
    for (size_t done = 0; done < n;) {
        size_t nb = n - done < s->ws.cap_rows ? n - done : s->ws.cap_rows;
        struct span sp = {0, nb, s->n_past};
        for (size_t r = 0; r < nb; r++)
            s->ws.pos[r] = s->n_past + (int)r;
        embed(m, tokens + done, nb, s->ws.x);
        forward_layers(m, &s->ws, nb, &sp, 1, s->kc, s->vc);
        s->n_past += (int)nb;
        done += nb;
        if (done == n)
            linear(m, &s->ws, SLOT_OUTPUT, s->ws.x + (nb - 1) * (size_t)c->dim, 1, s->logits,
                   (size_t)c->n_vocab);
    }
    return 0;
}

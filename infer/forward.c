/*
 * The CPU forward pass for llama / qwen2 decoders, f32 activations.
 *
 *   x = embed(tok)
 *   per layer: h = rmsnorm(x) * attn_norm; [q k v] = Wqkv h (+ biases)
 *              rope(q, k) at each row's position; a = softmax(q k^T / sqrt(head_dim), causal) v
 *              x += Wo a; h = rmsnorm(x) * ffn_norm; [g u] = Wgu h; x += Wdown (silu(g) * u)
 *   logits = Wout (rmsnorm(x) * output_norm)          (all n_vocab rows, padding included)
 *
 * Batched scoring packs the positions of several sequences into one (rows, dim) activation
 * matrix ("chunk") so every linear layer is one OpenBLAS sgemm over all rows. Attention runs
 * per sequence and key/value head: the query heads sharing that K/V head are stacked into one
 * (rows x group, head_dim) matrix, so q k^T and p v are one sgemm each per block of up to
 * DT_ATT_ROWS query rows (a block only reaches the causal prefix it needs, so at most half a
 * block's scores are masked work).
 *
 * Weights reach sgemm as f32. Small models (all matrices together at most DT_F32_CACHE_MB of
 * f32, default 64 MB: the zoo's models, a few MB) keep f32 copies, with q/k/v and gate/up of a
 * layer stored back to back so each is one product. Larger models use the mapping directly
 * (aligned F32) or dequantize blocks of weight rows into a scratch buffer of 1 MB (small enough
 * to stay in cache for the sgemm that reads it) once per chunk of up to DT_CHUNK_ROWS
 * positions, so peak memory stays the mapping plus activations plus that scratch (a
 * 124M-parameter model would need ~450 MB more as f32).
 *
 * Threads. Cached (small) models score with one worker per thread, each with its own workspace
 * and single-threaded OpenBLAS: the workers take chunks in turn, and the callbacks of chunk c
 * run only after those of chunk c-1, on whichever worker computed it, so the caller sees them
 * in (sequence, position) order, never concurrently. Every row's arithmetic depends only on the
 * chunk it is in, and chunk boundaries do not depend on the thread count, so results are
 * identical for any thread count. Larger models use one worker and threaded OpenBLAS.
 *
 * Incremental decoding (sessions) keeps a per-layer K/V cache of (n_ctx, n_head_kv*head_dim)
 * floats; single-token products are sgemv on f32 views or dt_ggml_dot on the stored type, so
 * no large model is ever expanded to f32. Nothing is allocated per token.
 */
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "infer/model_internal.h"
#include "infer/quant_dot.h"
#include "infer/vecmath.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DT_CHUNK_ROWS 1024           /* max positions per packed forward (uncached models) */
#define DT_CHUNK_ROWS_CACHED 512     /* per worker chunk of cached models: stays in L2/L3 */
#define DT_SCRATCH_FLOATS (1u << 18)  /* dequantization scratch (1 MB: stays in cache for sgemm) */
#define DT_LOGIT_FLOATS (4u << 20)    /* logits buffered per worker (16 MB) */
#define DT_SCORE_FLOATS (1u << 18)    /* attention scores of one block (1 MB) */
#define DT_ATT_ROWS 64                /* query rows per attention block: bounds causal waste */
#define DT_F32_CACHE_MB 64
#define DT_MAX_WORKERS 64
#define DT_POOL_SPINS 20000           /* busy polls before a waiting worker yields its core */
#define DT_POOL_YIELDS 2000           /* sched_yield polls before it sleeps */
#define DT_PAR_MIN_ELEMS (1u << 20)   /* smaller products run on the calling thread: a hand-off
                                      * costs more than it saves (the zoo models stay on one) */

enum { SLOT_OUTPUT = 0, SLOT_LAYER0 = 2, SLOTS_PER_LAYER = 7 };
/* Slot offsets inside a layer; q,k,v and gate,up are adjacent so they can be fused. */
enum { S_Q = 0, S_K = 1, S_V = 2, S_O = 3, S_GATE = 4, S_UP = 5, S_DOWN = 6 };

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
    case S_Q: return &l->wq;
    case S_K: return &l->wk;
    case S_V: return &l->wv;
    case S_O: return &l->wo;
    case S_GATE: return &l->w_gate;
    case S_UP: return &l->w_up;
    default: return &l->w_down;
    }
}

/* Slots that own their cache allocation (the first matrix of each fused group). */
static int slot_owns(size_t slot)
{
    if (slot == SLOT_OUTPUT)
        return 1;
    if (slot < SLOT_LAYER0)
        return 0;
    size_t o = (slot - SLOT_LAYER0) % SLOTS_PER_LAYER;
    return o == S_Q || o == S_O || o == S_GATE || o == S_DOWN;
}

/* Matrices in the group starting at an owning slot. */
static int group_len(size_t slot)
{
    if (slot == SLOT_OUTPUT)
        return 1;
    size_t o = (slot - SLOT_LAYER0) % SLOTS_PER_LAYER;
    return o == S_Q ? 3 : o == S_GATE ? 2 : 1;
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
    size_t limit_mb = DT_F32_CACHE_MB;
    const char *env = getenv("DT_F32_CACHE_MB");
    if (env && *env)
        limit_mb = (size_t)strtoull(env, NULL, 10);
    size_t total = 0, n = n_slots(m);
    for (size_t s = 0; s < n; s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w)
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
        if (!slot_owns(s))
            continue;
        size_t elems = 0;
        for (int g = 0; g < group_len(s); g++) {
            const struct dt_weight *w = slot_weight(m, s + (size_t)g);
            elems += (size_t)w->rows * (size_t)w->cols;
        }
        float *f = dt_malloc_array(elems, sizeof(float));
        if (!f)
            return dt_error_set(err, DT_ENOMEM, "out of memory caching '%s' as f32",
                                slot_weight(m, s)->name);
        for (int g = 0; g < group_len(s); g++) {
            const struct dt_weight *w = slot_weight(m, s + (size_t)g);
            m->f32[s + (size_t)g] = f;
            dt_ggml_dequantize(w->type, w->data, f, w->rows * w->cols);
            f += (size_t)w->rows * (size_t)w->cols;
        }
    }
    m->f32_state = 1;
    return 0;
}

/* f32 view of the whole matrix without conversion work, or NULL. */
static const float *f32_view(const struct dt_model *m, size_t slot)
{
    const struct dt_weight *w = slot_weight(m, slot);
    if (m->f32_state == 1)
        return m->f32[slot];
    if (is_direct_f32(w))
        return w->data;
    return NULL;
}

/* cos/sin for positions 0..n_pos-1 (rope_dim/2 pairs each). HF computes inv_freq and the angle
 * in f32, so this does too. */
static int ensure_rope(struct dt_model *m, int n_pos, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    if (n_pos <= m->rope_n_pos)
        return 0;
    float *t = dt_realloc_array(m->rope_tab, (size_t)n_pos, (size_t)c->rope_dim * sizeof(float));
    if (!t)
        return dt_error_set(err, DT_ENOMEM, "out of memory for a %d-position rope table", n_pos);
    m->rope_tab = t;
    int half = c->rope_dim / 2;
    for (int p = m->rope_n_pos; p < n_pos; p++) {
        float *r = t + (size_t)p * (size_t)c->rope_dim;
        for (int i = 0; i < half; i++) {
            float inv = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / c->rope_dim));
            float ang = (float)p * inv;
            r[2 * i] = (float)cos((double)ang);
            r[2 * i + 1] = (float)sin((double)ang);
        }
    }
    m->rope_n_pos = n_pos;
    return 0;
}

/* ---- thread pool ----
 *
 * Generation and prompt processing of large models split the rows of each matrix product
 * across the model's threads (the caller is thread 0), each running single-threaded OpenBLAS
 * or the dot kernels on its rows, so OpenBLAS never starts threads of its own beside them.
 * A dispatch costs a counter increment: idle workers poll it (DT_POOL_SPINS busy polls, then
 * DT_POOL_YIELDS sched_yield polls so a loaded machine gets its core back) before sleeping on
 * a condition variable until the next dispatch.
 */
typedef void (*pool_fn)(void *arg, int i_thread, int n_threads);

struct dt_pool {
    int n;                    /* threads, the caller included */
    pthread_t tid[DT_MAX_WORKERS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;          /* dispatch counter (written under mu) */
    atomic_int pending;       /* workers still running the current dispatch */
    int n_sleeping;           /* under mu */
    int stop;
    pool_fn fn;
    void *arg;
    float *scratch[DT_MAX_WORKERS]; /* dequantization scratch of threads 1..n-1 */
    size_t scratch_floats;
    double min_elems;         /* products of fewer weight x row elements stay on the caller
                               * (DT_PAR_MIN_ELEMS; tests lower it with DT_PAR_MIN_ELEMS=0) */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

struct pool_start {
    struct dt_pool *p;
    int i;
};

static void *pool_main(void *arg)
{
    struct pool_start st = *(struct pool_start *)arg;
    dt_free(arg);
    struct dt_pool *p = st.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int polls = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++polls < DT_POOL_SPINS) {
                cpu_relax();
            } else if (polls < DT_POOL_SPINS + DT_POOL_YIELDS) {
                sched_yield();
            } else {
                pthread_mutex_lock(&p->mu);
                p->n_sleeping++;
                while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen)
                    pthread_cond_wait(&p->cv, &p->mu);
                p->n_sleeping--;
                pthread_mutex_unlock(&p->mu);
                polls = 0;
            }
        }
        seen = g;
        if (p->stop)
            break;
        p->fn(p->arg, st.i, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

static void pool_free(struct dt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->tid[i], NULL);
    for (int i = 1; i < p->n; i++)
        dt_free(p->scratch[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    dt_free(p);
}

/* Runs fn(arg, i, n) on every thread of the pool (i = 0 on the caller) and waits for all. */
static void pool_run(struct dt_pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->n_sleeping)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int polls = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++polls < DT_POOL_SPINS)
            cpu_relax();
        else
            sched_yield();
    }
}

struct workspace {
    size_t cap_rows;      /* rows of a prompt chunk */
    size_t cap_rows_alloc; /* rows the buffers hold (a batch step may use more than a chunk) */
    float *x, *xb;        /* (cap_rows, dim) */
    float *qkv;           /* (cap_rows, qd + 2 kvd): q | k | v of each row */
    float *att;           /* (cap_rows, qd) */
    float *qpack, *opack; /* (cap_rows, qd): one K/V head's query rows stacked, and outputs */
    float *hb;            /* (cap_rows, 2 ffn): gate | up of each row */
    int *pos;             /* (cap_rows) position of each row */
    int32_t *tok;         /* (cap_rows) token of each row */
    float *scores;        /* (cap_scores) */
    size_t cap_scores;
    float *scratch;       /* dequantization, scratch_floats */
    size_t scratch_floats;
    float *logits;        /* (logit_rows, n_vocab) */
    size_t logit_rows;
    int blas_threads;     /* threads to restore after attention; 0: never touch OpenBLAS's */
    struct dt_pool *pool; /* splits each product's rows across threads; NULL: this thread */
    int decode;           /* every row is one sequence's next token: products use the dot
                           * kernels, whose result per row does not depend on the other rows */
    uint8_t *qx[2];       /* (cap_rows) activations quantized for the dot kernels: Q8 32-blocks,
                           * Q8_K blocks (quant_dot.h), each row at its kind's stride */
    size_t qx_row_bytes[2]; /* capacity per row */
};

static void ws_release(struct workspace *ws)
{
    dt_free(ws->x);
    dt_free(ws->xb);
    dt_free(ws->qkv);
    dt_free(ws->att);
    dt_free(ws->qpack);
    dt_free(ws->opack);
    dt_free(ws->hb);
    dt_free(ws->pos);
    dt_free(ws->tok);
    dt_free(ws->scores);
    dt_free(ws->scratch);
    dt_free(ws->logits);
    dt_free(ws->qx[0]);
    dt_free(ws->qx[1]);
    memset(ws, 0, sizeof *ws);
}

/* Dequantization scratch a thread needs: none when every matrix has an f32 view. */
static size_t scratch_need(const struct dt_model *m)
{
    size_t need = 0;
    for (size_t s = 0; s < n_slots(m); s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w && !f32_view(m, s)) {
            size_t e = (size_t)w->rows * (size_t)w->cols;
            size_t cap = DT_SCRATCH_FLOATS > (size_t)w->cols ? DT_SCRATCH_FLOATS : (size_t)w->cols;
            need = need > (e < cap ? e : cap) ? need : (e < cap ? e : cap);
        }
    }
    return need;
}

static int model_threads(const struct dt_model *m)
{
    return m->n_threads > 0 ? m->n_threads : 2;
}

/* The model's pool of model_threads(m) threads (rebuilt when the count changed). */
static int ensure_pool(struct dt_model *m, struct dt_error *err)
{
    int n = model_threads(m);
    n = n > DT_MAX_WORKERS ? DT_MAX_WORKERS : n;
    if (m->pool && m->pool->n == n)
        return 0;
    pool_free(m->pool);
    m->pool = NULL;
    struct dt_pool *p = dt_calloc(1, sizeof *p);
    if (!p)
        return dt_error_set(err, DT_ENOMEM, "out of memory for a thread pool");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->n = 1;
    p->scratch_floats = scratch_need(m);
    const char *env = getenv("DT_PAR_MIN_ELEMS");
    p->min_elems = env && *env ? strtod(env, NULL) : (double)DT_PAR_MIN_ELEMS;
    for (int i = 1; i < n; i++) {
        if (p->scratch_floats && !(p->scratch[i] = dt_malloc_array(p->scratch_floats, sizeof(float))))
            break;
        struct pool_start *st = dt_malloc(sizeof *st);
        if (st) {
            st->p = p;
            st->i = i;
        }
        if (!st || pthread_create(&p->tid[i], NULL, pool_main, st)) {
            dt_free(st);
            dt_free(p->scratch[i]);
            p->scratch[i] = NULL;
            break; /* fewer threads only take longer */
        }
        p->n = i + 1;
    }
    m->pool = p;
    return 0;
}

/* rows: packed positions; max_kv: the longest key range attended to. */
static int ws_init(struct workspace *ws, const struct dt_model *m, size_t rows, size_t max_kv,
                   size_t logit_rows, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_head_kv * c->head_dim;
    size_t group = (size_t)(c->n_head / c->n_head_kv);
    memset(ws, 0, sizeof *ws);
    ws->cap_rows = rows;
    ws->cap_rows_alloc = rows;
    ws->x = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->xb = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->qkv = dt_malloc_array(rows, (qd + 2 * kvd) * sizeof(float));
    ws->att = dt_malloc_array(rows, qd * sizeof(float));
    ws->qpack = dt_malloc_array(rows, qd * sizeof(float));
    ws->opack = dt_malloc_array(rows, qd * sizeof(float));
    ws->hb = dt_malloc_array(rows, 2 * (size_t)c->ffn_dim * sizeof(float));
    ws->pos = dt_malloc_array(rows, sizeof(int));
    ws->tok = dt_malloc_array(rows, sizeof(int32_t));
    /* At least one query row of every head in a group over the whole key range. */
    ws->cap_scores = group * max_kv > DT_SCORE_FLOATS ? group * max_kv : DT_SCORE_FLOATS;
    ws->scores = dt_malloc_array(ws->cap_scores, sizeof(float));
    ws->logit_rows = logit_rows;
    ws->logits = dt_malloc_array(logit_rows, (size_t)c->n_vocab * sizeof(float));
    size_t need = scratch_need(m);
    ws->scratch_floats = need;
    ws->scratch = need ? dt_malloc_array(need, sizeof(float)) : NULL;
    /* Quantized activations: the widest input is one of dim, n_head*head_dim, ffn_dim. */
    int64_t wide = c->dim > (int)qd ? c->dim : (int64_t)qd;
    wide = wide > c->ffn_dim ? wide : c->ffn_dim;
    ws->qx_row_bytes[0] = dt_qdot_act_bytes(DT_GGML_Q8_0, wide - wide % 32 + 32);
    ws->qx_row_bytes[1] = dt_qdot_act_bytes(DT_GGML_Q4_K, wide - wide % 256 + 256);
    ws->qx[0] = dt_malloc_array(rows, ws->qx_row_bytes[0]);
    ws->qx[1] = dt_malloc_array(rows, ws->qx_row_bytes[1]);
    if (!ws->x || !ws->xb || !ws->qkv || !ws->att || !ws->qpack || !ws->opack || !ws->hb ||
        !ws->pos || !ws->tok || !ws->scores || !ws->logits || (need && !ws->scratch) ||
        !ws->qx[0] || !ws->qx[1]) {
        ws_release(ws);
        return dt_error_set(err, DT_ENOMEM, "out of memory for activations of %zu positions", rows);
    }
    return 0;
}

/*
 * Rows [a, b) of one matrix: y[v * ldy + r] = (W x_v)[r] for the n activation rows x_v
 * (leading dimension ldx). decode: one dot product per (row, activation) with the kernel of the
 * stored type (quant_dot.h, on the activations quantized for it at qx, qx_stride bytes apart;
 * dt_ggml_dot on x when qx is NULL), so each result is the same whatever n, the row range or
 * the thread; otherwise one sgemm over the f32 view, or over blocks of rows dequantized into
 * scratch.
 */
static void matrix_rows(const struct dt_model *m, size_t slot, int64_t a, int64_t b, int decode,
                        const void *qx, size_t qx_stride, float *scratch, size_t scratch_floats,
                        const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
    const struct dt_weight *w = slot_weight(m, slot);
    const int64_t cols = w->cols;
    const float *f = f32_view(m, slot);
    if (a >= b)
        return;
    if (decode) {
        uint32_t type = f ? DT_GGML_F32 : w->type;
        const uint8_t *rows = f ? (const uint8_t *)f : (const uint8_t *)w->data;
        size_t row_bytes = f ? (size_t)cols * sizeof(float) : w->row_bytes;
        if (qx) {
            dt_qdot_matvec(type, rows + (size_t)a * row_bytes, row_bytes, b - a, cols, qx,
                           qx_stride, (int)n, y + a, ldy);
            return;
        }
        for (int64_t r = a; r < b; r++)
            for (size_t v = 0; v < n; v++)
                y[v * ldy + (size_t)r] =
                    dt_ggml_dot(type, rows + (size_t)r * row_bytes, x + v * ldx, cols);
        return;
    }
    if (f) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(b - a), (int)cols, 1.0f,
                    x, (int)ldx, f + (size_t)a * (size_t)cols, (int)cols, 0.0f, y + a, (int)ldy);
        return;
    }
    int64_t block = (int64_t)(scratch_floats / (size_t)cols);
    if (block < 1)
        block = 1;
    const uint8_t *base = w->data;
    for (int64_t r0 = a; r0 < b; r0 += block) {
        int64_t nb = b - r0 < block ? b - r0 : block;
        dt_ggml_dequantize(w->type, base + (size_t)r0 * w->row_bytes, scratch, nb * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)nb, (int)cols, 1.0f, x,
                    (int)ldx, scratch, (int)cols, 0.0f, y + r0, (int)ldy);
    }
}

/* A product of the adjacent matrices slot..slot+n_mats-1, outputs side by side in y. */
#define DT_LIN_MAX_MATS 3
struct lin_job {
    const struct dt_model *m;
    struct workspace *ws;
    size_t slot;
    int n_mats;
    int64_t total_rows; /* over the n_mats matrices */
    const float *x;
    size_t ldx, n;
    float *y;
    size_t ldy;
    int decode;
    const void *qx[DT_LIN_MAX_MATS]; /* per matrix: its quantized activations, or NULL */
    size_t qx_stride[DT_LIN_MAX_MATS];
};

/* Thread i of n takes an equal share of the concatenated rows of the job's matrices. */
static void lin_part(void *arg, int i, int n_threads)
{
    const struct lin_job *j = arg;
    const struct dt_pool *p = j->ws->pool;
    float *scratch = i == 0 ? j->ws->scratch : p->scratch[i];
    size_t scratch_floats = i == 0 ? j->ws->scratch_floats : p->scratch_floats;
    int64_t lo = j->total_rows * i / n_threads, hi = j->total_rows * (i + 1) / n_threads;
    int64_t off = 0;
    for (int g = 0; g < j->n_mats; g++) {
        int64_t rows = slot_weight(j->m, j->slot + (size_t)g)->rows;
        int64_t a = lo > off ? lo - off : 0, b = hi - off < rows ? hi - off : rows;
        matrix_rows(j->m, j->slot + (size_t)g, a, b, j->decode, j->qx[g], j->qx_stride[g],
                    scratch, scratch_floats, j->x, j->ldx, j->n, j->y + off, j->ldy);
        off += rows;
    }
}

/*
 * The activations of a decode product in the format each matrix's dot kernel reads: f32 rows
 * are read in place, the 8-bit kinds quantized once per kind for all the job's matrices. A
 * matrix without a kernel (or an input width the kind's blocks do not divide) keeps qx NULL
 * and goes through dt_ggml_dot.
 */
static void quantize_inputs(const struct dt_model *m, struct workspace *ws, struct lin_job *j)
{
    int done[2] = {0, 0};
    for (int g = 0; g < j->n_mats; g++) {
        const struct dt_weight *w = slot_weight(m, j->slot + (size_t)g);
        uint32_t type = f32_view(m, j->slot + (size_t)g) ? DT_GGML_F32 : w->type;
        enum dt_qdot_act kind = dt_qdot_act_kind(type);
        size_t bytes = dt_qdot_act_bytes(type, w->cols);
        if (kind == DT_QDOT_ACT_F32 && w->cols % 32 == 0) {
            j->qx[g] = j->x;
            j->qx_stride[g] = j->ldx * sizeof(float);
            continue;
        }
        int k = kind == DT_QDOT_ACT_Q8_32 ? 0 : kind == DT_QDOT_ACT_Q8K ? 1 : -1;
        if (k < 0 || bytes == 0 || bytes > ws->qx_row_bytes[k] || j->n > ws->cap_rows_alloc)
            continue;
        if (!done[k]) {
            for (size_t v = 0; v < j->n; v++)
                dt_qdot_quantize_act(type, j->x + v * j->ldx, ws->qx[k] + v * bytes, w->cols);
            done[k] = 1;
        }
        j->qx[g] = ws->qx[k];
        j->qx_stride[g] = bytes;
    }
}

/*
 * The n_mats adjacent matrices from slot (same input width), y[r, ...] = W x[r] for n rows,
 * outputs side by side in y. Scoring of cached models: one sgemm over the fused f32 copy.
 * Otherwise the rows are split across the workspace's pool when the product is large enough.
 */
static void linear(const struct dt_model *m, struct workspace *ws, size_t slot, int n_mats,
                   const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
    int64_t rows = 0, cols = slot_weight(m, slot)->cols;
    for (int g = 0; g < n_mats; g++)
        rows += slot_weight(m, slot + (size_t)g)->rows;
    int decode = ws->decode;
    int par = ws->pool && ws->pool->n > 1 &&
              (double)rows * (double)cols * (double)n >= ws->pool->min_elems;
    if (m->f32_state == 1 && !decode && !par) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f,
                    x, (int)ldx, m->f32[slot], (int)cols, 0.0f, y, (int)ldy);
        return;
    }
    struct lin_job j = {m, ws, slot, n_mats, rows, x, ldx, n, y, ldy, decode, {0}, {0}};
    if (decode)
        quantize_inputs(m, ws, &j);
    if (par)
        pool_run(ws->pool, lin_part, &j);
    else
        lin_part(&j, 0, 1);
}

static void rope_apply(const struct dt_model_config *c, float *v, int n_heads, const float *t)
{
    int half = c->rope_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *p = v + (size_t)h * c->head_dim;
        if (c->rope_half_split) {
            for (int i = 0; i < half; i++) {
                float co = t[2 * i], si = t[2 * i + 1], x0 = p[i], x1 = p[i + half];
                p[i] = x0 * co - x1 * si;
                p[i + half] = x0 * si + x1 * co;
            }
        } else {
            for (int i = 0; i < half; i++) {
                float co = t[2 * i], si = t[2 * i + 1], x0 = p[2 * i], x1 = p[2 * i + 1];
                p[2 * i] = x0 * co - x1 * si;
                p[2 * i + 1] = x0 * si + x1 * co;
            }
        }
    }
}

/*
 * Causal attention of n_q query rows at positions pos0.. over key rows 0..pos0+n_q-1.
 * q (leading dimension ldq) holds n_head heads per row, k/v (ldkv) n_head_kv heads, out (ldo)
 * n_head heads. For each K/V head the `group` query heads sharing it are stacked, row-major
 * (row, head), into ws->qpack, so a block of query rows is two sgemms; the block size keeps
 * the score matrix within ws->cap_scores and each block only spans its causal key prefix.
 */
static void attention(const struct dt_model_config *c, struct workspace *ws, const float *q,
                      size_t ldq, size_t n_q, int pos0, const float *k, const float *v,
                      size_t ldkv, float *out, size_t ldo)
{
    const size_t hd = (size_t)c->head_dim;
    const size_t group = (size_t)(c->n_head / c->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    size_t qb = ws->cap_scores / (group * ((size_t)pos0 + n_q));
    qb = qb > DT_ATT_ROWS ? DT_ATT_ROWS : qb;
    qb = qb < 1 ? 1 : qb > n_q ? n_q : qb;
    for (int kh = 0; kh < c->n_head_kv; kh++) {
        const float *kb = k + (size_t)kh * hd, *vb = v + (size_t)kh * hd;
        for (size_t i0 = 0; i0 < n_q; i0 += qb) {
            size_t nb = n_q - i0 < qb ? n_q - i0 : qb;
            size_t n_kv = (size_t)pos0 + i0 + nb, m_rows = nb * group;
            for (size_t i = 0; i < nb; i++)
                memcpy(ws->qpack + i * group * hd, q + (i0 + i) * ldq + (size_t)kh * group * hd,
                       group * hd * sizeof(float));
            if (m_rows == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_kv, (int)hd, scale, kb, (int)ldkv,
                            ws->qpack, 1, 0.0f, ws->scores, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m_rows, (int)n_kv,
                            (int)hd, scale, ws->qpack, (int)hd, kb, (int)ldkv, 0.0f, ws->scores,
                            (int)n_kv);
            for (size_t i = 0; i < nb; i++) {
                size_t len = (size_t)pos0 + i0 + i + 1;
                for (size_t g = 0; g < group; g++) {
                    float *s = ws->scores + (i * group + g) * n_kv;
                    dt_vec_softmax(s, len);
                    if (len < n_kv)
                        memset(s + len, 0, (n_kv - len) * sizeof(float));
                }
            }
            if (m_rows == 1)
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)n_kv, (int)hd, 1.0f, vb, (int)ldkv,
                            ws->scores, 1, 0.0f, ws->opack, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m_rows, (int)hd,
                            (int)n_kv, 1.0f, ws->scores, (int)n_kv, vb, (int)ldkv, 0.0f,
                            ws->opack, (int)hd);
            for (size_t i = 0; i < nb; i++)
                memcpy(out + (i0 + i) * ldo + (size_t)kh * group * hd, ws->opack + i * group * hd,
                       group * hd * sizeof(float));
        }
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

/* Per-layer K/V caches of one sequence: n_layer x (n_ctx, n_head_kv*head_dim). */
struct kv_ref {
    float **k, **v;
};

/*
 * Runs all layers over ws->x (n rows, already embedded, positions in ws->pos) and applies the
 * final norm. kv: one cache per span (K/V rows of a span are stored at its positions and
 * attention reads the cache), or NULL to attend within the packed rows of each span (scoring).
 */
static void forward_layers(struct dt_model *m, struct workspace *ws, size_t n,
                           const struct span *spans, size_t n_spans, const struct kv_ref *kv)
{
    const struct dt_model_config *c = &m->cfg;
    const size_t dim = (size_t)c->dim, qd = (size_t)c->n_head * c->head_dim,
                 kvd = (size_t)c->n_head_kv * c->head_dim, ffn = (size_t)c->ffn_dim;
    const size_t ldqkv = qd + 2 * kvd, ldgu = 2 * ffn, rd = (size_t)c->rope_dim;
    for (int li = 0; li < c->n_layer; li++) {
        const struct dt_layer *l = &m->layers[li];
        const size_t s0 = SLOT_LAYER0 + (size_t)li * SLOTS_PER_LAYER;
        for (size_t r = 0; r < n; r++)
            dt_vec_rmsnorm(ws->xb + r * dim, ws->x + r * dim, l->attn_norm, dim, c->rms_eps);
        linear(m, ws, s0 + S_Q, 3, ws->xb, dim, n, ws->qkv, ldqkv);
        for (size_t r = 0, si = 0; r < n; r++) {
            float *qr = ws->qkv + r * ldqkv, *kr = qr + qd, *vr = kr + kvd;
            while (kv && r >= spans[si].row0 + spans[si].n)
                si++;
            if (l->bq) {
                for (size_t i = 0; i < qd; i++)
                    qr[i] += l->bq[i];
                for (size_t i = 0; i < kvd; i++) {
                    kr[i] += l->bk[i];
                    vr[i] += l->bv[i];
                }
            }
            const float *t = m->rope_tab + (size_t)ws->pos[r] * rd;
            rope_apply(c, qr, c->n_head, t);
            rope_apply(c, kr, c->n_head_kv, t);
            if (kv) {
                memcpy(kv[si].k[li] + (size_t)ws->pos[r] * kvd, kr, kvd * sizeof(float));
                memcpy(kv[si].v[li] + (size_t)ws->pos[r] * kvd, vr, kvd * sizeof(float));
            }
        }
        /* Per-head products are small: OpenBLAS threading costs more than it gains there. */
        if (ws->blas_threads > 1)
            openblas_set_num_threads(1);
        for (size_t s = 0; s < n_spans; s++) {
            const struct span *sp = &spans[s];
            if (sp->n == 0)
                continue;
            const float *qs = ws->qkv + sp->row0 * ldqkv;
            if (kv)
                attention(c, ws, qs, ldqkv, sp->n, sp->pos0, kv[s].k[li], kv[s].v[li], kvd,
                          ws->att + sp->row0 * qd, qd);
            else
                attention(c, ws, qs, ldqkv, sp->n, 0, qs + qd, qs + qd + kvd, ldqkv,
                          ws->att + sp->row0 * qd, qd);
        }
        if (ws->blas_threads > 1)
            openblas_set_num_threads(ws->blas_threads);
        linear(m, ws, s0 + S_O, 1, ws->att, qd, n, ws->xb, dim);
        for (size_t i = 0; i < n * dim; i++)
            ws->x[i] += ws->xb[i];
        for (size_t r = 0; r < n; r++)
            dt_vec_rmsnorm(ws->xb + r * dim, ws->x + r * dim, l->ffn_norm, dim, c->rms_eps);
        linear(m, ws, s0 + S_GATE, 2, ws->xb, dim, n, ws->hb, ldgu);
        for (size_t r = 0; r < n; r++)
            dt_vec_swiglu(ws->hb + r * ldgu, ws->hb + r * ldgu + ffn, ffn);
        linear(m, ws, s0 + S_DOWN, 1, ws->hb, ldgu, n, ws->xb, dim);
        for (size_t i = 0; i < n * dim; i++)
            ws->x[i] += ws->xb[i];
    }
    for (size_t r = 0; r < n; r++)
        dt_vec_rmsnorm(ws->x + r * dim, ws->x + r * dim, m->output_norm, dim, c->rms_eps);
}

static int check_tokens(const struct dt_model *m, const int32_t *t, size_t n, struct dt_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= m->cfg.n_vocab)
            return dt_error_set(err, DT_EINVAL, "token id %d at position %zu is outside the vocabulary (%d)",
                                t[i], i, m->cfg.n_vocab);
    return 0;
}

/* ---- batched scoring ---- */

struct chunk {
    size_t s0, n_seq, rows; /* sequences s0..s0+n_seq-1, packed */
};

struct score_job {
    struct dt_model *m;
    const int32_t *const *seqs;
    const size_t *lens;
    const struct chunk *chunks;
    size_t n_chunks;
    unsigned flags;
    dt_logits_cb cb;
    void *ud;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;  /* next chunk to compute */
    size_t turn;  /* chunk whose callbacks run next */
    int rc;       /* first callback failure */
};

struct worker {
    struct score_job *job;
    struct workspace *ws;
    struct span *spans; /* (max sequences per chunk) */
};

/* Hidden-state row and (sequence, position) of output o of a chunk. */
static size_t out_row(const struct score_job *job, const struct chunk *ch, const struct span *sp,
                      size_t o, size_t *i_seq, size_t *i_pos, size_t *si)
{
    if (job->flags & DT_SCORE_LAST_ONLY) {
        /* Output o is the o-th non-empty sequence's last position. */
        while (sp[*si].n == 0)
            (*si)++;
        *i_seq = ch->s0 + *si;
        *i_pos = sp[*si].n - 1;
        size_t r = sp[*si].row0 + sp[*si].n - 1;
        (*si)++;
        (void)o;
        return r;
    }
    while (o >= sp[*si].row0 + sp[*si].n) /* also skips empty sequences */
        (*si)++;
    *i_seq = ch->s0 + *si;
    *i_pos = o - sp[*si].row0;
    return o;
}

/* Logits of outputs o0..o0+nb-1 into ws->logits. */
static void chunk_logits(const struct score_job *job, struct workspace *ws,
                         const struct chunk *ch, const struct span *sp, size_t o0, size_t nb)
{
    const struct dt_model_config *c = &job->m->cfg;
    const size_t dim = (size_t)c->dim;
    const float *h = ws->x + o0 * dim;
    if (job->flags & DT_SCORE_LAST_ONLY) {
        /* Gather the rows into xb (free after the final norm). */
        size_t si = 0, i_seq, i_pos;
        for (size_t o = 0; o < o0; o++)
            out_row(job, ch, sp, o, &i_seq, &i_pos, &si);
        for (size_t o = 0; o < nb; o++) {
            size_t r = out_row(job, ch, sp, o0 + o, &i_seq, &i_pos, &si);
            memcpy(ws->xb + o * dim, ws->x + r * dim, dim * sizeof(float));
        }
        h = ws->xb;
    }
    linear(job->m, ws, SLOT_OUTPUT, 1, h, dim, nb, ws->logits, (size_t)c->n_vocab);
}

static void run_chunk(struct worker *w, size_t ci)
{
    struct score_job *job = w->job;
    struct workspace *ws = w->ws;
    const struct chunk *ch = &job->chunks[ci];
    const struct dt_model_config *c = &job->m->cfg;
    size_t n_rows = 0, n_out = 0;
    for (size_t i = 0; i < ch->n_seq; i++) {
        size_t s = ch->s0 + i, len = job->lens[s];
        w->spans[i].row0 = n_rows;
        w->spans[i].n = len;
        w->spans[i].pos0 = 0;
        memcpy(ws->tok + n_rows, job->seqs[s], len * sizeof *ws->tok);
        for (size_t p = 0; p < len; p++)
            ws->pos[n_rows + p] = (int)p;
        n_rows += len;
        n_out += (job->flags & DT_SCORE_LAST_ONLY) ? (len > 0) : len;
    }
    if (n_rows) {
        embed(job->m, ws->tok, n_rows, ws->x);
        forward_layers(job->m, ws, n_rows, w->spans, ch->n_seq, NULL);
    }
    /* Logits that fit the buffer are computed before waiting for the turn, overlapping with
     * the other workers' callbacks. */
    int ahead = n_out <= ws->logit_rows;
    if (ahead && n_out)
        chunk_logits(job, ws, ch, w->spans, 0, n_out);

    pthread_mutex_lock(&job->mu);
    while (job->turn != ci && !job->rc)
        pthread_cond_wait(&job->cv, &job->mu);
    int stop = job->rc != 0;
    pthread_mutex_unlock(&job->mu);
    if (stop)
        return;
    int rc = 0;
    size_t si = 0;
    for (size_t o0 = 0; o0 < n_out && !rc; o0 += ws->logit_rows) {
        size_t nb = n_out - o0 < ws->logit_rows ? n_out - o0 : ws->logit_rows;
        if (!ahead)
            chunk_logits(job, ws, ch, w->spans, o0, nb);
        for (size_t o = 0; o < nb && !rc; o++) {
            size_t i_seq, i_pos;
            out_row(job, ch, w->spans, o0 + o, &i_seq, &i_pos, &si);
            rc = job->cb(job->ud, i_seq, i_pos, ws->logits + o * (size_t)c->n_vocab);
        }
    }
    pthread_mutex_lock(&job->mu);
    if (rc && !job->rc)
        job->rc = rc;
    job->turn++;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
}

static void *score_worker(void *arg)
{
    struct worker *w = arg;
    struct score_job *job = w->job;
    for (;;) {
        pthread_mutex_lock(&job->mu);
        size_t ci = job->next++;
        int stop = job->rc != 0 || ci >= job->n_chunks;
        pthread_mutex_unlock(&job->mu);
        if (stop)
            break;
        run_chunk(w, ci);
    }
    return NULL;
}

/* Makes m->score_ws hold n workspaces of at least (rows, max_kv, logit_rows). */
static int ensure_score_ws(struct dt_model *m, int n, size_t rows, size_t max_kv,
                           size_t logit_rows, struct dt_error *err)
{
    if (m->n_score_ws < n) {
        struct workspace **a = dt_realloc_array(m->score_ws, (size_t)n, sizeof *a);
        if (!a)
            return dt_error_set(err, DT_ENOMEM, "out of memory");
        for (int i = m->n_score_ws; i < n; i++)
            a[i] = NULL;
        m->score_ws = a;
        m->n_score_ws = n;
    }
    size_t group = (size_t)(m->cfg.n_head / m->cfg.n_head_kv);
    for (int i = 0; i < n; i++) {
        struct workspace *ws = m->score_ws[i];
        if (ws && (ws->cap_rows < rows || ws->cap_scores < group * max_kv ||
                   ws->logit_rows < logit_rows)) {
            ws_release(ws);
            dt_free(ws);
            m->score_ws[i] = ws = NULL;
        }
        if (!ws) {
            ws = dt_calloc(1, sizeof *ws);
            if (!ws)
                return dt_error_set(err, DT_ENOMEM, "out of memory");
            int rc = ws_init(ws, m, rows, max_kv, logit_rows, err);
            if (rc) {
                dt_free(ws);
                return rc;
            }
            m->score_ws[i] = ws;
        }
    }
    return 0;
}

int dt_model_score_batch_flags(struct dt_model *m, const int32_t *const *seqs,
                               const size_t *lens, size_t n_seqs, unsigned flags,
                               dt_logits_cb cb, void *ud, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    struct chunk *chunks = NULL;
    struct worker wk[DT_MAX_WORKERS];
    pthread_t tid[DT_MAX_WORKERS];
    int rc = 0, n_started = 0;
    size_t max_len = 0, total = 0;
    memset(wk, 0, sizeof wk);
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
    if ((rc = ensure_f32_cache(m, err)) || (rc = ensure_rope(m, (int)max_len, err)))
        return rc;
    int threads = model_threads(m);
    int cached = m->f32_state == 1;
    size_t cap = cached ? DT_CHUNK_ROWS_CACHED : DT_CHUNK_ROWS;
    cap = total < cap ? total : cap;
    cap = cap > max_len ? cap : max_len;

    /* Chunks: whole sequences packed in order until the next would not fit. */
    chunks = dt_malloc_array(n_seqs, sizeof *chunks);
    if (!chunks)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    size_t n_chunks = 0, max_seq = 0;
    for (size_t s = 0; s < n_seqs;) {
        struct chunk *ch = &chunks[n_chunks++];
        ch->s0 = s;
        ch->n_seq = 0;
        ch->rows = 0;
        while (s < n_seqs && ch->rows + lens[s] <= cap) {
            ch->rows += lens[s++];
            ch->n_seq++;
        }
        max_seq = ch->n_seq > max_seq ? ch->n_seq : max_seq;
    }
    int n_workers = cached ? threads : 1;
    if ((size_t)n_workers > n_chunks)
        n_workers = (int)n_chunks;
    n_workers = n_workers > DT_MAX_WORKERS ? DT_MAX_WORKERS : n_workers;
    size_t logit_rows = DT_LOGIT_FLOATS / (size_t)c->n_vocab;
    logit_rows = logit_rows < 16 ? 16 : logit_rows;
    logit_rows = logit_rows > cap ? cap : logit_rows;
    if ((rc = ensure_score_ws(m, n_workers, cap, max_len, logit_rows, err)))
        goto out;

    struct score_job job = {.m = m, .seqs = seqs, .lens = lens, .chunks = chunks,
                            .n_chunks = n_chunks, .flags = flags, .cb = cb, .ud = ud};
    pthread_mutex_init(&job.mu, NULL);
    pthread_cond_init(&job.cv, NULL);
    /* Cached models: one worker per thread. Others: one worker whose products are split
     * across the model's pool. Either way OpenBLAS runs single-threaded. */
    if (!cached && (rc = ensure_pool(m, err)))
        goto done;
    for (int i = 0; i < n_workers; i++) {
        wk[i].job = &job;
        wk[i].ws = m->score_ws[i];
        wk[i].ws->blas_threads = 0;
        wk[i].ws->pool = cached ? NULL : m->pool;
        wk[i].ws->decode = 0;
        wk[i].spans = dt_malloc_array(max_seq, sizeof *wk[i].spans);
        if (!wk[i].spans) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
    }
    openblas_set_num_threads(1);
    for (int i = 1; i < n_workers; i++) {
        if (pthread_create(&tid[i], NULL, score_worker, &wk[i]))
            break; /* chunks are taken dynamically: fewer workers only take longer */
        n_started = i;
    }
    score_worker(&wk[0]);
    for (int i = 1; i <= n_started; i++)
        pthread_join(tid[i], NULL);
    rc = job.rc;
done:
    for (int i = 0; i < n_workers; i++)
        dt_free(wk[i].spans);
    pthread_cond_destroy(&job.cv);
    pthread_mutex_destroy(&job.mu);
out:
    dt_free(chunks);
    return rc;
}

int dt_model_score_batch(struct dt_model *m, const int32_t *const *seqs, const size_t *lens,
                         size_t n_seqs, dt_logits_cb cb, void *ud, struct dt_error *err)
{
    return dt_model_score_batch_flags(m, seqs, lens, n_seqs, 0, cb, ud, err);
}

void dt_forward_release(struct dt_model *m)
{
    for (int i = 0; i < m->n_score_ws; i++) {
        if (m->score_ws[i]) {
            ws_release(m->score_ws[i]);
            dt_free(m->score_ws[i]);
        }
    }
    dt_free(m->score_ws);
    m->score_ws = NULL;
    m->n_score_ws = 0;
    if (m->f32) {
        for (size_t i = 0; i < n_slots(m); i++)
            if (slot_owns(i))
                dt_free(m->f32[i]);
        dt_free(m->f32);
        m->f32 = NULL;
    }
    dt_free(m->rope_tab);
    m->rope_tab = NULL;
    m->rope_n_pos = 0;
    pool_free(m->pool);
    m->pool = NULL;
}

/* ---- sessions and batches ---- */

/* KV cache, position and logits of one sequence. A session owns a workspace; the slots of a
 * batch share the batch's. */
struct dt_session {
    struct dt_model *m;
    int n_ctx, n_past;
    float **kc, **vc; /* n_layer x (n_ctx, n_head_kv*head_dim) */
    float *logits;    /* (n_vocab) */
    struct workspace ws;
};

struct dt_batch {
    struct dt_model *m;
    int n_slots, n_ctx;
    struct dt_session **slots; /* without workspaces */
    struct workspace ws;       /* shared: rows for a prompt chunk and for a step of every slot */
    struct span *spans;        /* (n_slots) */
    struct kv_ref *kv;         /* (n_slots) */
};

static void seq_free(struct dt_session *s)
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

void dt_session_free(struct dt_session *s) { seq_free(s); }

/* Context clamped as dt_session_new documents; the model's f32 cache, rope table and pool. */
static int prepare_decoding(struct dt_model *m, int *n_ctx, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    if (*n_ctx <= 0)
        *n_ctx = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    if (*n_ctx > c->n_ctx_train)
        *n_ctx = c->n_ctx_train;
    int rc = ensure_f32_cache(m, err);
    if (!rc)
        rc = ensure_rope(m, *n_ctx, err);
    if (!rc)
        rc = ensure_pool(m, err);
    return rc;
}

/* A sequence's KV cache (left unfaulted: only the positions used become resident). */
static int seq_new(struct dt_model *m, int n_ctx, struct dt_session **out, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
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
    *out = s;
    return 0;
oom:
    seq_free(s);
    return dt_error_set(err, DT_ENOMEM, "out of memory for a %d-token KV cache", n_ctx);
}

/* Prompt chunks of up to 512 rows; keys span the whole context. A batch's workspace has the
 * same geometry (plus logit rows for a step), so its slots compute what a session would. */
static size_t prompt_rows(int n_ctx)
{
    return n_ctx < 512 ? (size_t)n_ctx : 512;
}

int dt_session_new(struct dt_model *m, int n_ctx, struct dt_session **out, struct dt_error *err)
{
    int rc = prepare_decoding(m, &n_ctx, err);
    struct dt_session *s = NULL;
    if (rc || (rc = seq_new(m, n_ctx, &s, err)))
        return rc;
    if ((rc = ws_init(&s->ws, m, prompt_rows(n_ctx), (size_t)n_ctx, 1, err))) {
        seq_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void dt_session_reset(struct dt_session *s) { s->n_past = 0; }
int dt_session_n_past(const struct dt_session *s) { return s->n_past; }
int dt_session_n_ctx(const struct dt_session *s) { return s->n_ctx; }
const float *dt_session_logits(const struct dt_session *s) { return s->logits; }

/* The pool splits the products; OpenBLAS stays single-threaded beside it. */
static void use_pool(struct dt_model *m, struct workspace *ws, int decode)
{
    openblas_set_num_threads(1);
    ws->blas_threads = 0;
    ws->pool = m->pool;
    ws->decode = decode;
}

/* Appends n tokens to s, computing on ws, and the logits of the last one. */
static int seq_eval(struct dt_session *s, struct workspace *ws, const int32_t *tokens, size_t n,
                    struct dt_error *err)
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
    /* One token is a generation step, decoded as a batch step's rows are (so a sequence gets
     * the same results alone and batched); a prompt takes the f32 products, as scoring does. */
    use_pool(m, ws, n == 1);
    struct kv_ref kv = {s->kc, s->vc};
    for (size_t done = 0; done < n;) {
        size_t nb = n - done < ws->cap_rows ? n - done : ws->cap_rows;
        struct span sp = {0, nb, s->n_past};
        for (size_t r = 0; r < nb; r++)
            ws->pos[r] = s->n_past + (int)r;
        embed(m, tokens + done, nb, ws->x);
        forward_layers(m, ws, nb, &sp, 1, &kv);
        s->n_past += (int)nb;
        done += nb;
        if (done == n)
            linear(m, ws, SLOT_OUTPUT, 1, ws->x + (nb - 1) * (size_t)c->dim, c->dim, 1, s->logits,
                   (size_t)c->n_vocab);
    }
    return 0;
}

int dt_session_eval(struct dt_session *s, const int32_t *tokens, size_t n, struct dt_error *err)
{
    return seq_eval(s, &s->ws, tokens, n, err);
}

void dt_batch_free(struct dt_batch *b)
{
    if (!b)
        return;
    for (int i = 0; b->slots && i < b->n_slots; i++)
        seq_free(b->slots[i]);
    dt_free(b->slots);
    ws_release(&b->ws);
    dt_free(b->spans);
    dt_free(b->kv);
    dt_free(b);
}

int dt_batch_new(struct dt_model *m, int n_slots, int n_ctx, struct dt_batch **out,
                 struct dt_error *err)
{
    if (n_slots < 1)
        return dt_error_set(err, DT_EINVAL, "a batch needs at least one slot, not %d", n_slots);
    int rc = prepare_decoding(m, &n_ctx, err);
    if (rc)
        return rc;
    struct dt_batch *b = dt_calloc(1, sizeof *b);
    if (!b)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    b->m = m;
    b->n_slots = n_slots;
    b->n_ctx = n_ctx;
    b->slots = dt_calloc((size_t)n_slots, sizeof *b->slots);
    b->spans = dt_malloc_array((size_t)n_slots, sizeof *b->spans);
    b->kv = dt_malloc_array((size_t)n_slots, sizeof *b->kv);
    if (!b->slots || !b->spans || !b->kv) {
        dt_batch_free(b);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n_slots; i++)
        if ((rc = seq_new(m, n_ctx, &b->slots[i], err))) {
            dt_batch_free(b);
            return rc;
        }
    size_t rows = prompt_rows(n_ctx);
    rows = rows > (size_t)n_slots ? rows : (size_t)n_slots;
    if ((rc = ws_init(&b->ws, m, rows, (size_t)n_ctx, (size_t)n_slots, err))) {
        dt_batch_free(b);
        return rc;
    }
    /* Prompt chunks must be cut where a session cuts them. */
    b->ws.cap_rows = prompt_rows(n_ctx);
    *out = b;
    return 0;
}

int dt_batch_n_slots(const struct dt_batch *b) { return b->n_slots; }
int dt_batch_n_ctx(const struct dt_batch *b) { return b->n_ctx; }
int dt_batch_n_past(const struct dt_batch *b, int slot) { return b->slots[slot]->n_past; }
const float *dt_batch_logits(const struct dt_batch *b, int slot) { return b->slots[slot]->logits; }

int dt_batch_prefill(struct dt_batch *b, int slot, const int32_t *tokens, size_t n,
                     struct dt_error *err)
{
    if (slot < 0 || slot >= b->n_slots)
        return dt_error_set(err, DT_EINVAL, "slot %d is outside the batch (%d slots)", slot,
                            b->n_slots);
    b->slots[slot]->n_past = 0;
    return seq_eval(b->slots[slot], &b->ws, tokens, n, err);
}

int dt_batch_step(struct dt_batch *b, const int *slots, const int32_t *tokens, size_t n,
                  struct dt_error *err)
{
    struct dt_model *m = b->m;
    const struct dt_model_config *c = &m->cfg;
    struct workspace *ws = &b->ws;
    if (n == 0)
        return 0;
    if (n > (size_t)b->n_slots)
        return dt_error_set(err, DT_EINVAL, "a step of %zu tokens exceeds the batch's %d slots", n,
                            b->n_slots);
    int rc = check_tokens(m, tokens, n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= b->n_slots)
            return dt_error_set(err, DT_EINVAL, "slot %d is outside the batch (%d slots)",
                                slots[i], b->n_slots);
        for (size_t k = 0; k < i; k++)
            if (slots[k] == slots[i])
                return dt_error_set(err, DT_EINVAL, "slot %d appears twice in one step", slots[i]);
        const struct dt_session *s = b->slots[slots[i]];
        if (s->n_past >= s->n_ctx)
            return dt_error_set(err, DT_EINVAL, "slot %d is full (context of %d)", slots[i],
                                s->n_ctx);
    }
    use_pool(m, ws, 1);
    for (size_t i = 0; i < n; i++) {
        struct dt_session *s = b->slots[slots[i]];
        b->spans[i] = (struct span){i, 1, s->n_past};
        b->kv[i] = (struct kv_ref){s->kc, s->vc};
        ws->pos[i] = s->n_past;
    }
    embed(m, tokens, n, ws->x);
    forward_layers(m, ws, n, b->spans, n, b->kv);
    linear(m, ws, SLOT_OUTPUT, 1, ws->x, (size_t)c->dim, n, ws->logits, (size_t)c->n_vocab);
    for (size_t i = 0; i < n; i++) {
        struct dt_session *s = b->slots[slots[i]];
        s->n_past++;
        memcpy(s->logits, ws->logits + i * (size_t)c->n_vocab, (size_t)c->n_vocab * sizeof(float));
    }
    ws->decode = 0;
    return 0;
}

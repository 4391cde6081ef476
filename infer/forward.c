/*
 * The CPU forward pass of the decoder architectures of infer/arch.h, f32 activations.
 *
 *   x = embed(tok) * embed_scale
 *   per layer (layer_attention, layer_ffn; both the scoring and the decoding paths call them):
 *     h = norm(x) * attn_norm (RMSNorm or LayerNorm; absent for olmo2)
 *     [q k v] = Wqkv h (split or fused) + biases; QK-norm per head or over all heads
 *     rope(q, k) at each row's position (adjacent or half-split pairs over rope_dim dims; the
 *       table of the layer's kind: global, or local with its own base); scores = q.k *
 *       attn_scale, soft-capped; softmax over the causal keys (sliding-window layers: the last
 *       window keys); a = p v
 *     o = Wo a (+ bias), post-norm (gemma, olmo2); x += residual_scale * o
 *     h = norm(x) * ffn_norm; f = Wdown (act(g) * u) with act SiLU or GELU-tanh and [g u] from
 *       gate/up (or fused gate|up), or the top-k softmax-gated experts (+ shared expert);
 *       post-norm; x += residual_scale * f
 *   logits = cap tanh((Wout norm(x)) / logit_scale / cap)   (finish_logits; all n_vocab rows)
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
 * State. The model (weights, and the f32 copies above, built when it is opened) is immutable
 * and shared; everything a computation grows (RoPE tables, scoring workspaces, the thread pool)
 * belongs to a struct dt_ctx, one per concurrent caller.
 *
 * Incremental decoding (sessions) keeps a per-layer K/V cache of (n_ctx, n_head_kv*head_dim)
 * floats; single-token products are sgemv on f32 views or dt_ggml_dot on the stored type, so
 * no large model is ever expanded to f32. Nothing is allocated per token.
 */
#include "infer/arch.h"
#include "infer/compute.h"
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
#define DT_MAX_WORKERS 64
#define DT_POOL_SPINS 20000           /* busy polls before a waiting worker yields its core */
#define DT_POOL_YIELDS 2000           /* sched_yield polls before it sleeps */
#define DT_TILE_ACT_BYTES (192u << 10) /* quantized activations of one tile (L2) */
#define DT_TILE_ROW_BYTES (64u << 10)  /* weight rows of one tile */
#define DT_PAR_MIN_ELEMS (1u << 20)   /* smaller products run on the calling thread: a hand-off
                                      * costs more than it saves (the zoo models stay on one) */

static int is_direct_f32(const struct dt_weight *w)
{
    return w->type == DT_GGML_F32 && ((uintptr_t)w->data % sizeof(float)) == 0;
}

/* f32 view of the whole matrix without conversion work, or NULL. */
static const float *f32_view(const struct dt_model *m, size_t slot)
{
    const struct dt_weight *w = slot_weight(m, slot);
    if (m->f32_state == 1)
        return m->f32[slot];
    if (w && is_direct_f32(w))
        return w->data;
    return NULL;
}

/* ---- RoPE ---- */

/* One RoPE: base, frequency scale and YaRN parameters, optional per-pair divisors. */
struct rope_params {
    double theta;
    enum dt_rope_scaling scaling;
    double freq_scale, ext_factor, attn_factor, beta_fast, beta_slow;
    int orig_ctx;
    const float *factors;
};

/*
 * A compute context (model.h): the state running a model builds beside its immutable
 * weights. One caller at a time; its sessions and batches point to it.
 */
struct dt_ctx {
    const struct dt_model *m;
    int n_threads;             /* 1..DT_MAX_WORKERS */
    /* RoPE cos/sin table for positions 0..rope_n_pos-1, (rope_n_pos, rope_dim) interleaved;
     * grown on demand. */
    float *rope_tab;
    float *rope_tab_swa;       /* same for local layers when their RoPE differs, else NULL */
    int rope_n_pos;
    /* Scoring workspaces (one per worker thread) kept between dt_ctx_score_batch calls so
     * repeated batches do not page-fault fresh buffers. */
    struct workspace **score_ws;
    int n_score_ws;
    /* Threads that split the rows of each product of generation and of large models' prompt
     * processing; built on first use. */
    struct dt_pool *pool;
    enum dt_scoring scoring;   /* dt_ctx_set_scoring */
};

/* ggml's YaRN correction dimension: the pair index whose wavelength fits n_rot turns in the
 * original context. */
static double yarn_corr_dim(int n_dims, int orig_ctx, double n_rot, double base)
{
    return n_dims * log(orig_ctx / (n_rot * 2 * M_PI)) / (2 * log(base));
}

/*
 * cos/sin of pair i at position p, interleaved, for positions p0..n_pos-1, as ggml's
 * rope_yarn computes them: theta = p base^(-2i/d) / factor_i; linear scaling multiplies it by
 * freq_scale; YaRN blends the scaled and unscaled angle with a ramp over the pairs between
 * the correction dimensions and multiplies cos and sin by attn_factor (1 + 0.1 ln(1/scale)).
 * The scaling arithmetic is in double on top of the f32 unscaled angle.
 */
static void rope_fill(const struct dt_model_config *c, const struct rope_params *rp, float *t,
                      int p0, int n_pos)
{
    int d = c->rope_dim, half = d / 2;
    double lo = 0, hi = 0, mscale = 1;
    if (rp->scaling == DT_ROPE_SCALING_YARN) {
        lo = floor(yarn_corr_dim(d, rp->orig_ctx, rp->beta_fast, rp->theta));
        hi = ceil(yarn_corr_dim(d, rp->orig_ctx, rp->beta_slow, rp->theta));
        lo = lo < 0 ? 0 : lo;
        hi = hi > d - 1 ? d - 1 : hi;
        mscale = rp->attn_factor;
        if (rp->ext_factor != 0)
            mscale *= 1.0 + 0.1 * log(1.0 / rp->freq_scale);
    }
    for (int p = p0; p < n_pos; p++) {
        float *r = t + (size_t)p * (size_t)d;
        for (int i = 0; i < half; i++) {
            /* The unscaled angle in f32, as HF and ggml compute it (and as this did before
             * scaling existed, so unscaled models give the same logits bit for bit). */
            float inv = (float)(1.0 / pow(rp->theta, (double)(2 * i) / d));
            if (rp->factors)
                inv /= rp->factors[i];
            double ext = (double)((float)p * inv);
            double ang = ext;
            if (rp->scaling == DT_ROPE_SCALING_LINEAR) {
                ang = ext * rp->freq_scale;
            } else if (rp->scaling == DT_ROPE_SCALING_YARN) {
                double interp = ext * rp->freq_scale;
                ang = interp;
                if (rp->ext_factor != 0) {
                    double y = (i - lo) / (hi - lo > 0.001 ? hi - lo : 0.001);
                    double mix = (1 - (y < 0 ? 0 : y > 1 ? 1 : y)) * rp->ext_factor;
                    ang = interp * (1 - mix) + ext * mix;
                }
            }
            r[2 * i] = (float)(cos(ang) * mscale);
            r[2 * i + 1] = (float)(sin(ang) * mscale);
        }
    }
}

/* Tables for positions 0..n_pos-1: global layers, and local layers when their RoPE differs
 * (gemma3: base rope_theta_swa, unscaled). */
static int ensure_rope(struct dt_ctx *x, int n_pos, struct dt_error *err)
{
    const struct dt_model_config *c = &x->m->cfg;
    if (n_pos <= x->rope_n_pos)
        return 0;
    int two = c->arch->rope_swa_fixed_base > 0 && c->swa_window > 0;
    for (int k = 0; k <= two; k++) {
        float **tab = k ? &x->rope_tab_swa : &x->rope_tab;
        float *t = dt_realloc_array(*tab, (size_t)n_pos, (size_t)c->rope_dim * sizeof(float));
        if (!t)
            return dt_error_set(err, DT_ENOMEM, "out of memory for a %d-position rope table", n_pos);
        *tab = t;
        struct rope_params rp = {c->rope_theta, c->rope_scaling, c->rope_freq_scale,
                                 c->yarn_ext_factor, c->yarn_attn_factor, c->yarn_beta_fast,
                                 c->yarn_beta_slow, c->rope_orig_ctx, c->rope_freq_factors};
        if (k) {
            memset(&rp, 0, sizeof rp);
            rp.theta = c->rope_theta_swa;
            rp.freq_scale = 1;
            rp.attn_factor = 1;
        }
        rope_fill(c, &rp, t, x->rope_n_pos, n_pos);
    }
    x->rope_n_pos = n_pos;
    return 0;
}

/* ---- thread pool ----
 *
 * Generation and prompt processing of large models split the rows of each matrix product
 * across the context's threads (the caller is thread 0), each running single-threaded OpenBLAS
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
    int f32_act;              /* DT_DECODE_F32_ACT=1: generation dots f32 activations with the
                               * stored rows (dt_ggml_dot: exact, slower) instead of 8-bit ones */
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

/* Attention scratch: query heads of one K/V head stacked, their outputs, the scores. */
struct att_buf {
    float *qpack, *opack, *scores;
    size_t cap_scores;
};

struct workspace {
    size_t cap_rows;      /* rows of a prompt chunk */
    size_t cap_rows_alloc; /* rows the buffers hold (a batch step may use more than a chunk) */
    float *x, *xb;        /* (cap_rows, dim) */
    float *qkv;           /* (cap_rows, qd + 2 kvd): q | k | v of each row */
    float *att;           /* (cap_rows, qd) */
    float *qpack, *opack; /* (cap_rows, qd): one K/V head's query rows stacked, and outputs */
    float *hb;            /* (cap_rows, 2 ffn_max): gate | up of each row */
    size_t ld_hb;         /* 2 ffn_max */
    float *moe_x, *moe_y; /* (cap_rows, dim): expert input rows gathered, and FFN output; MoE only */
    float *router;        /* (cap_rows, n_expert) */
    float *sel;           /* (n_expert) top-k weights of one row */
    int *pos;             /* (cap_rows) position of each row */
    int32_t *tok;         /* (cap_rows) token of each row */
    float *scores;        /* (cap_scores) */
    size_t cap_scores;
    size_t ld_att_pack;   /* group * head_dim: one row's stacked query heads of a K/V head */
    float *scratch;       /* dequantization, scratch_floats */
    size_t scratch_floats;
    float *logits;        /* (logit_rows, n_vocab) */
    size_t logit_rows;
    int blas_threads;     /* threads to restore after attention; 0: never touch OpenBLAS's */
    struct dt_pool *pool; /* splits each product's rows across threads; NULL: this thread */
    const struct dt_ctx *ctx; /* the context computing on it (its RoPE tables) */
    int decode;           /* every row is one sequence's next token: products use the dot
                           * kernels, whose result per row does not depend on the other rows */
    int q8_scoring;       /* scoring with DT_SCORING_Q8: products whose matrices all have an
                           * integer kernel take the decode path */
    uint8_t *qx[2];       /* (cap_rows) activations quantized for the dot kernels: Q8 32-blocks,
                           * Q8_K blocks (quant_dot.h), each row at its kind's stride */
    size_t qx_row_bytes[2]; /* capacity per row */
    /* Pool threads 1..n-1 attending one row at a time (decode rows split across threads):
     * their scratch of 2 group*head_dim + cap_scores floats, allocated on first use. */
    float *att_thread[DT_MAX_WORKERS];
    int att_threads_failed; /* allocation failed once: attention stays on the caller */
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
    dt_free(ws->moe_x);
    dt_free(ws->moe_y);
    dt_free(ws->router);
    dt_free(ws->sel);
    dt_free(ws->pos);
    dt_free(ws->tok);
    dt_free(ws->scores);
    dt_free(ws->scratch);
    dt_free(ws->logits);
    dt_free(ws->qx[0]);
    dt_free(ws->qx[1]);
    for (int i = 0; i < DT_MAX_WORKERS; i++)
        dt_free(ws->att_thread[i]);
    memset(ws, 0, sizeof *ws);
}

/* Scratch floats a matrix without an f32 view needs. */
static size_t scratch_need(const struct dt_weight *w)
{
    size_t e = (size_t)w->rows * (size_t)w->cols;
    size_t cap = DT_SCRATCH_FLOATS > (size_t)w->cols ? DT_SCRATCH_FLOATS : (size_t)w->cols;
    return e < cap ? e : cap;
}

/* Scratch a pool thread needs for the slot matrices it splits: none when all have f32 views. */
static size_t slots_scratch_need(const struct dt_model *m)
{
    size_t need = 0;
    for (size_t s = 0; s < n_slots(m); s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w && !f32_view(m, s) && scratch_need(w) > need)
            need = scratch_need(w);
    }
    return need;
}

/* The context's pool of n_threads threads (built once). */
/* DT_DECODE_F32_ACT=1: products that would quantize their activations take f32 ones. */
static int f32_act_env(void)
{
    const char *env = getenv("DT_DECODE_F32_ACT");
    return env && !strcmp(env, "1");
}

static int ensure_pool(struct dt_ctx *x, struct dt_error *err)
{
    const struct dt_model *m = x->m;
    int n = x->n_threads;
    if (x->pool)
        return 0;
    struct dt_pool *p = dt_calloc(1, sizeof *p);
    if (!p)
        return dt_error_set(err, DT_ENOMEM, "out of memory for a thread pool");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->n = 1;
    p->scratch_floats = slots_scratch_need(m);
    const char *env = getenv("DT_PAR_MIN_ELEMS");
    p->min_elems = env && *env ? strtod(env, NULL) : (double)DT_PAR_MIN_ELEMS;
    p->f32_act = f32_act_env();
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
    x->pool = p;
    return 0;
}

/* rows: packed positions; max_kv: the longest key range attended to. */
static int ws_init(struct workspace *ws, const struct dt_model *m, size_t rows, size_t max_kv,
                   size_t logit_rows, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_head_kv * c->head_dim;
    size_t group = (size_t)(c->n_head / c->n_head_kv);
    size_t ffn = (size_t)c->ffn_dim;
    int moe = c->n_expert > 0;
    if (moe) {
        ffn = (size_t)c->expert_ffn_dim > ffn ? (size_t)c->expert_ffn_dim : ffn;
        ffn = (size_t)c->shexp_ffn_dim > ffn ? (size_t)c->shexp_ffn_dim : ffn;
    }
    memset(ws, 0, sizeof *ws);
    ws->cap_rows = rows;
    ws->cap_rows_alloc = rows;
    ws->ld_hb = 2 * ffn;
    ws->x = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->xb = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
    ws->qkv = dt_malloc_array(rows, (qd + 2 * kvd) * sizeof(float));
    ws->att = dt_malloc_array(rows, qd * sizeof(float));
    ws->qpack = dt_malloc_array(rows, qd * sizeof(float));
    ws->opack = dt_malloc_array(rows, qd * sizeof(float));
    ws->hb = dt_malloc_array(rows, ws->ld_hb * sizeof(float));
    ws->pos = dt_malloc_array(rows, sizeof(int));
    ws->tok = dt_malloc_array(rows, sizeof(int32_t));
    if (moe) {
        ws->moe_x = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
        ws->moe_y = dt_malloc_array(rows, (size_t)c->dim * sizeof(float));
        ws->router = dt_malloc_array(rows, (size_t)c->n_expert * sizeof(float));
        ws->sel = dt_malloc_array((size_t)c->n_expert, sizeof(float));
    }
    /* At least one query row of every head in a group over the whole key range. */
    ws->cap_scores = group * max_kv > DT_SCORE_FLOATS ? group * max_kv : DT_SCORE_FLOATS;
    ws->scores = dt_malloc_array(ws->cap_scores, sizeof(float));
    ws->ld_att_pack = group * (size_t)c->head_dim;
    ws->logit_rows = logit_rows;
    ws->logits = dt_malloc_array(logit_rows, (size_t)c->n_vocab * sizeof(float));
    /* Scratch only when some matrix has no f32 view. */
    size_t need = 0;
    for (size_t s = 0; s < n_slots(m); s++) {
        const struct dt_weight *w = slot_weight(m, s);
        if (w && !f32_view(m, s) && scratch_need(w) > need)
            need = scratch_need(w);
    }
    for (int li = 0; moe && li < c->n_layer; li++) {
        const struct dt_layer *l = &m->layers[li];
        const struct dt_weight *ew[] = {&l->w_gate_inp, &l->w_gate_exps, &l->w_up_exps,
                                        &l->w_down_exps, &l->w_gate_shexp, &l->w_up_shexp,
                                        &l->w_down_shexp};
        for (size_t j = 0; j < sizeof ew / sizeof ew[0]; j++)
            if (ew[j]->data && !is_direct_f32(ew[j]) && scratch_need(ew[j]) > need)
                need = scratch_need(ew[j]);
    }
    ws->scratch_floats = need;
    ws->scratch = need ? dt_malloc_array(need, sizeof(float)) : NULL;
    /* Quantized activations: the widest input is one of dim, n_head*head_dim, ffn_dim. */
    int64_t wide = c->dim > (int)qd ? c->dim : (int64_t)qd;
    wide = wide > (int64_t)ffn ? wide : (int64_t)ffn;
    ws->qx_row_bytes[0] = dt_qdot_act_bytes(DT_GGML_Q8_0, wide - wide % 32 + 32);
    ws->qx_row_bytes[1] = dt_qdot_act_bytes(DT_GGML_Q4_K, wide - wide % 256 + 256);
    ws->qx[0] = dt_malloc_array(rows, ws->qx_row_bytes[0]);
    ws->qx[1] = dt_malloc_array(rows, ws->qx_row_bytes[1]);
    if (!ws->qx[0] || !ws->qx[1] || !ws->x || !ws->xb || !ws->qkv || !ws->att || !ws->qpack || !ws->opack || !ws->hb ||
        !ws->pos || !ws->tok || !ws->scores || !ws->logits || (need && !ws->scratch) ||
        (moe && (!ws->moe_x || !ws->moe_y || !ws->router || !ws->sel))) {
        ws_release(ws);
        return dt_error_set(err, DT_ENOMEM, "out of memory for activations of %zu positions", rows);
    }
    return 0;
}

/*
 * y[r, 0..w->rows) = W x[r] for n rows (x leading dimension ldx, y ldy). f: an f32 view of W,
 * or NULL to dequantize blocks of weight rows into scratch (once per call, i.e. once per chunk
 * of positions). A single row without an f32 view uses dot products on the stored type.
 */
static void matmul(struct workspace *ws, const struct dt_weight *w, const float *f,
                   const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
    const int64_t rows = w->rows, cols = w->cols;
    if (ws->decode) {
        /* A generation step: one dot per (row, vector), whatever the number of rows. */
        uint32_t type = f ? DT_GGML_F32 : w->type;
        const uint8_t *base = f ? (const uint8_t *)f : (const uint8_t *)w->data;
        size_t rb = f ? (size_t)cols * sizeof(float) : w->row_bytes;
        for (int64_t r = 0; r < rows; r++)
            for (size_t v = 0; v < n; v++)
                y[v * ldy + (size_t)r] = dt_ggml_dot(type, base + (size_t)r * rb, x + v * ldx, cols);
        return;
    }
    if (f) {
        if (n == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, f, (int)cols, x, 1,
                        0.0f, y, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f,
                        x, (int)ldx, f, (int)cols, 0.0f, y, (int)ldy);
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
                    (int)ldx, ws->scratch, (int)cols, 0.0f, y + r0, (int)ldy);
    }
}

/* A matrix that is not in a slot (experts): its f32 view when stored as aligned F32. */
static void matmul_w(struct workspace *ws, const struct dt_weight *w, const float *x, size_t ldx,
                     size_t n, float *y, size_t ldy)
{
    matmul(ws, w, is_direct_f32(w) ? w->data : NULL, x, ldx, n, y, ldy);
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
        if (qx && dt_qdot_act_kind(type) != DT_QDOT_ACT_F32) {
            /* Tiles of rows x activations, so a prompt's activations stay in L2 while a block
             * of rows is dotted with them (each (row, activation) result is the kernel's,
             * whatever the tile: groups of 4 activations stay aligned). */
            size_t vt = DT_TILE_ACT_BYTES / qx_stride;
            vt = vt < 4 ? 4 : vt - vt % 4;
            int64_t rt = (int64_t)(DT_TILE_ROW_BYTES / row_bytes);
            rt = rt < 1 ? 1 : rt;
            if (n <= vt)
                rt = b - a;
            for (int64_t r0 = a; r0 < b; r0 += rt) {
                int64_t nr = b - r0 < rt ? b - r0 : rt;
                for (size_t v0 = 0; v0 < n; v0 += vt)
                    dt_qdot_matvec(type, rows + (size_t)r0 * row_bytes, row_bytes, nr, cols,
                                   (const uint8_t *)qx + v0 * qx_stride, qx_stride,
                                   (int)(n - v0 < vt ? n - v0 : vt), y + v0 * ldy + r0, ldy);
            }
            return;
        }
        if (qx) {
            /* Float rows: the multi-vector kernel sums in another order than the single one,
             * so each vector goes alone and a batch row equals a session's; blocks of rows
             * stay in cache while every vector passes over them. */
            int64_t rt = n > 1 ? (int64_t)(DT_TILE_ROW_BYTES / row_bytes) : b - a;
            rt = rt < 1 ? 1 : rt;
            for (int64_t r0 = a; r0 < b; r0 += rt) {
                int64_t nr = b - r0 < rt ? b - r0 : rt;
                for (size_t v = 0; v < n; v++)
                    dt_qdot_matvec(type, rows + (size_t)r0 * row_bytes, row_bytes, nr, cols,
                                   (const uint8_t *)qx + v * qx_stride, qx_stride, 1,
                                   y + v * ldy + r0, ldy);
            }
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
    atomic_llong next;  /* decode: first row of the next block a thread takes */
    int64_t block_rows; /* decode: rows per block */
};

/* Rows [lo, hi) of the concatenated rows of the job's matrices. */
static void lin_range(const struct lin_job *j, int64_t lo, int64_t hi, float *scratch,
                      size_t scratch_floats)
{
    int64_t off = 0;
    for (int g = 0; g < j->n_mats && off < hi; g++) {
        const struct dt_weight *w = slot_weight(j->m, j->slot + (size_t)g);
        if (!w)
            continue; /* absent matrices take no columns of y */
        int64_t rows = w->rows;
        int64_t a = lo > off ? lo - off : 0, b = hi - off < rows ? hi - off : rows;
        matrix_rows(j->m, j->slot + (size_t)g, a, b, j->decode, j->qx[g], j->qx_stride[g],
                    scratch, scratch_floats, j->x, j->ldx, j->n, j->y + off, j->ldy);
        off += rows;
    }
}

/* Scoring: thread i of n takes an equal share of the concatenated rows (the sgemm partition
 * does not depend on timing). Decoding: threads take blocks of rows from a shared counter
 * until none are left, so a thread the machine delays leaves its share to the other; each
 * (row, activation) result is the dot kernel's wherever it runs. */
static void lin_part(void *arg, int i, int n_threads)
{
    struct lin_job *j = arg;
    const struct dt_pool *p = j->ws->pool;
    float *scratch = i == 0 ? j->ws->scratch : p->scratch[i];
    size_t scratch_floats = i == 0 ? j->ws->scratch_floats : p->scratch_floats;
    if (!j->decode || n_threads == 1) {
        lin_range(j, j->total_rows * i / n_threads, j->total_rows * (i + 1) / n_threads, scratch,
                  scratch_floats);
        return;
    }
    for (;;) {
        int64_t lo = (int64_t)atomic_fetch_add_explicit(&j->next, j->block_rows,
                                                        memory_order_relaxed);
        if (lo >= j->total_rows)
            break;
        int64_t hi = lo + j->block_rows < j->total_rows ? lo + j->block_rows : j->total_rows;
        lin_range(j, lo, hi, scratch, scratch_floats);
    }
}

/*
 * The activations of a decode product in the format each matrix's dot kernel reads: f32 rows
 * are read in place, the 8-bit kinds quantized once per kind for all the job's matrices. A
 * matrix without a kernel (or an input width the kind's blocks do not divide) keeps qx NULL
 * and goes through dt_ggml_dot.
 */
struct quant_job {
    uint32_t type;
    const float *x;
    size_t ldx, n, bytes;
    int64_t cols;
    uint8_t *qx;
};

/* Thread i of n quantizes its share of the activation rows (each row's bytes are the same
 * whoever quantizes it). */
static void quant_part(void *arg, int i, int n_threads)
{
    const struct quant_job *q = arg;
    for (size_t v = q->n * (size_t)i / (size_t)n_threads; v < q->n * (size_t)(i + 1) / (size_t)n_threads; v++)
        dt_qdot_quantize_act(q->type, q->x + v * q->ldx, q->qx + v * q->bytes, q->cols);
}

static void quantize_inputs(const struct dt_model *m, struct workspace *ws, struct lin_job *j)
{
    int done[2] = {0, 0};
    for (int g = 0; g < j->n_mats; g++) {
        const struct dt_weight *w = slot_weight(m, j->slot + (size_t)g);
        if (!w)
            continue;
        uint32_t type = f32_view(m, j->slot + (size_t)g) ? DT_GGML_F32 : w->type;
        enum dt_qdot_act kind = dt_qdot_act_kind(type);
        size_t bytes = dt_qdot_act_bytes(type, w->cols);
        if (kind == DT_QDOT_ACT_F32 && w->cols % 32 == 0) {
            j->qx[g] = j->x;
            j->qx_stride[g] = j->ldx * sizeof(float);
            continue;
        }
        int k = kind == DT_QDOT_ACT_Q8_32 ? 0 : kind == DT_QDOT_ACT_Q8K ? 1 : -1;
        if (ws->pool && ws->pool->f32_act)
            continue; /* exact: dt_ggml_dot on the f32 activations */
        if (k < 0 || bytes == 0 || bytes > ws->qx_row_bytes[k] || j->n > ws->cap_rows_alloc)
            continue;
        if (!done[k]) {
            struct quant_job q = {type, j->x, j->ldx, j->n, bytes, w->cols, ws->qx[k]};
            /* A prompt's rows are quantized on both threads. */
            if (j->n >= 4 && ws->pool && ws->pool->n > 1 &&
                (double)j->n * (double)w->cols * 64 >= ws->pool->min_elems)
                pool_run(ws->pool, quant_part, &q);
            else
                quant_part(&q, 0, 1);
            done[k] = 1;
        }
        j->qx[g] = ws->qx[k];
        j->qx_stride[g] = bytes;
    }
}

/* 1 when every present matrix of slot..slot+n_mats-1 is stored in a type with an integer dot
 * kernel (not F32/F16/BF16) and has no f32 view. */
static int q8_kernels(const struct dt_model *m, size_t slot, int n_mats)
{
    int any = 0;
    for (int g = 0; g < n_mats; g++) {
        const struct dt_weight *w = slot_weight(m, slot + (size_t)g);
        if (!w)
            continue;
        enum dt_qdot_act k = dt_qdot_act_kind(w->type);
        if (f32_view(m, slot + (size_t)g) || (k != DT_QDOT_ACT_Q8_32 && k != DT_QDOT_ACT_Q8K))
            return 0;
        any = 1;
    }
    return any;
}

/*
 * The n_mats adjacent matrices from slot (same input width), y[r, ...] = W x[r] for n rows,
 * outputs side by side in y. Scoring of cached models: one sgemm over the fused f32 copy.
 * Otherwise the rows are split across the workspace's pool when the product is large enough.
 */
static void linear(const struct dt_model *m, struct workspace *ws, size_t slot, int n_mats,
                   const float *x, size_t ldx, size_t n, float *y, size_t ldy)
{
    int64_t rows = 0, cols = 0;
    for (int g = 0; g < n_mats; g++) {
        const struct dt_weight *w = slot_weight(m, slot + (size_t)g);
        if (w) {
            rows += w->rows;
            cols = w->cols;
        }
    }
    int decode = ws->decode;
    int par = ws->pool && ws->pool->n > 1 &&
              (double)rows * (double)cols * (double)n >= ws->pool->min_elems;
    if (m->f32_state == 1 && !decode && !par) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f,
                    x, (int)ldx, m->f32[slot], (int)cols, 0.0f, y, (int)ldy);
        return;
    }
    struct lin_job j = {m, ws, slot, n_mats, rows, x, ldx, n, y, ldy, decode, {0}, {0}, 0, 0};
    if (!decode && ws->q8_scoring && q8_kernels(m, slot, n_mats)) {
        /* DT_SCORING_Q8: the products of a prompt's prefill, when every matrix got its
         * quantized activations (otherwise, e.g. under DT_DECODE_F32_ACT, the exact path). */
        j.decode = 1;
        quantize_inputs(m, ws, &j);
        for (int g = 0; g < n_mats; g++)
            if (slot_weight(m, slot + (size_t)g) && !j.qx[g])
                j.decode = 0;
        decode = j.decode;
    } else if (decode) {
        quantize_inputs(m, ws, &j);
    }
    if (decode) {
        /* About 8 blocks per thread, of at least 16 rows (a tile's worth of a prompt). */
        int nt = par ? ws->pool->n : 1;
        j.block_rows = rows / (8 * nt);
        j.block_rows = j.block_rows < 16 ? 16 : j.block_rows;
        atomic_init(&j.next, 0);
    }
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

/* ---- norms and activations ---- */

/* out = norm(x) * w (+ b): RMSNorm, or LayerNorm (mean and variance in double); out may
 * equal x. */
static void norm_row(const struct dt_model_config *c, float *out, const float *x, const float *w,
                     const float *b, size_t n)
{
    if (c->arch->norm == DT_NORM_RMS) {
        dt_vec_rmsnorm(out, x, w, n, c->rms_eps);
        return;
    }
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)n + c->rms_eps));
    for (size_t i = 0; i < n; i++)
        out[i] = ((float)(x[i] - mean) * inv) * w[i] + (b ? b[i] : 0.0f);
}

static void norm_rows(const struct dt_model_config *c, float *out, const float *x, size_t ld,
                      size_t n_rows, const float *w, const float *b, size_t n)
{
    for (size_t r = 0; r < n_rows; r++)
        norm_row(c, out + r * ld, x + r * ld, w, b, n);
}

/* g = act(g) * u: SiLU or GELU (tanh approximation, as gelu_pytorch_tanh and ggml_gelu). */
static void gated_act(const struct dt_model_config *c, float *g, const float *u, size_t n)
{
    if (c->arch->act == DT_ACT_SILU) {
        dt_vec_swiglu(g, u, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * u[i];
    }
}

/*
 * Causal attention of n_q query rows at positions pos0.. over key rows 0..pos0+n_q-1.
 * q (leading dimension ldq) holds n_head heads per row, k/v (ldkv) n_head_kv heads, out (ldo)
 * n_head heads. For each K/V head the `group` query heads sharing it are stacked, row-major
 * (row, head), into ws->qpack, so a block of query rows is two sgemms; the block size keeps
 * the score matrix within ws->cap_scores and each block only spans its causal key prefix.
 * Scores are q.k times attn_scale, soft-capped when the model says so; window > 0 hides keys
 * window or more positions back (sliding-window layers).
 */
static void attention(const struct dt_model_config *c, const struct att_buf *ws, const float *q,
                      size_t ldq, size_t n_q, int pos0, const float *k, const float *v,
                      size_t ldkv, float *out, size_t ldo, int window)
{
    const size_t hd = (size_t)c->head_dim;
    const size_t group = (size_t)(c->n_head / c->n_head_kv);
    const float scale = c->attn_scale, cap = c->attn_softcap;
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
                size_t lo = window > 0 && len > (size_t)window ? len - (size_t)window : 0;
                for (size_t g = 0; g < group; g++) {
                    float *s = ws->scores + (i * group + g) * n_kv;
                    if (cap > 0)
                        for (size_t j = lo; j < len; j++)
                            s[j] = cap * tanhf(s[j] / cap);
                    dt_vec_softmax(s + lo, len - lo);
                    if (lo)
                        memset(s, 0, lo * sizeof(float));
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

/* Per-layer K/V caches of one sequence: n_layer x (n_ctx, n_head_kv*head_dim). */
struct kv_ref {
    float **k, **v;
};

static void embed(const struct dt_model *m, const int32_t *tokens, size_t n, float *x)
{
    const struct dt_weight *e = &m->tok_embd;
    const float s = m->cfg.embed_scale;
    for (size_t r = 0; r < n; r++) {
        float *xr = x + r * (size_t)e->cols;
        dt_ggml_dequantize(e->type, (const uint8_t *)e->data + (size_t)tokens[r] * e->row_bytes,
                           xr, e->cols);
        if (s != 1.0f)
            for (int64_t i = 0; i < e->cols; i++)
                xr[i] *= s;
    }
}

/* Logit scale and final soft-cap over n rows of n_vocab logits (leading dimension ld). Every
 * path that computes logits from the output matrix calls it. */
static void finish_logits(const struct dt_model_config *c, float *y, size_t n, size_t ld)
{
    if (c->logit_scale == 1.0f && !(c->final_softcap > 0))
        return;
    const float inv = 1.0f / c->logit_scale, cap = c->final_softcap;
    for (size_t r = 0; r < n; r++) {
        float *row = y + r * ld;
        for (int i = 0; i < c->n_vocab; i++) {
            float v = row[i] * inv;
            row[i] = cap > 0 ? cap * tanhf(v / cap) : v;
        }
    }
}

/* x += residual_scale * y over n rows. */
static void residual_add(const struct dt_model_config *c, float *x, const float *y, size_t n_elems)
{
    const float s = c->residual_scale;
    if (s == 1.0f)
        for (size_t i = 0; i < n_elems; i++)
            x[i] += y[i];
    else
        for (size_t i = 0; i < n_elems; i++)
            x[i] += s * y[i];
}

/* Decode rows attended one at a time, rows taken from a counter by the pool's threads. */
struct att_job {
    const struct dt_model_config *c;
    struct workspace *ws;
    const struct span *spans;
    size_t n_spans;
    const struct kv_ref *kv;
    int li;
    size_t n_rows, ldqkv;
    int window;
    atomic_size_t next;
};

/* Scratch of pool threads 1..n-1 for att_rows; 0 when it cannot be had (then the caller
 * attends alone). */
static int att_thread_bufs(struct workspace *ws)
{
    if (ws->att_threads_failed)
        return 0;
    const size_t floats = 2 * (size_t)ws->ld_att_pack + ws->cap_scores;
    for (int i = 1; i < ws->pool->n; i++)
        if (!ws->att_thread[i] && !(ws->att_thread[i] = dt_malloc_array(floats, sizeof(float)))) {
            ws->att_threads_failed = 1;
            return 0;
        }
    return 1;
}

static void att_rows(void *arg, int i, int n_threads)
{
    (void)n_threads;
    struct att_job *j = arg;
    struct workspace *ws = j->ws;
    const struct dt_model_config *c = j->c;
    const size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_head_kv * c->head_dim;
    struct att_buf ab = {ws->qpack, ws->opack, ws->scores, ws->cap_scores};
    if (i > 0) {
        float *t = ws->att_thread[i];
        ab = (struct att_buf){t, t + ws->ld_att_pack, t + 2 * ws->ld_att_pack, ws->cap_scores};
    }
    for (;;) {
        size_t r = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (r >= j->n_rows)
            break;
        size_t s = 0;
        while (s + 1 < j->n_spans && r >= j->spans[s].row0 + j->spans[s].n)
            s++;
        attention(c, &ab, ws->qkv + r * j->ldqkv, j->ldqkv, 1, ws->pos[r], j->kv[s].k[j->li],
                  j->kv[s].v[j->li], kvd, ws->att + r * qd, qd, j->window);
    }
}

/*
 * Attention sub-block of layer li over ws->x (n rows at ws->pos): pre-norm, q|k|v (+ biases),
 * QK-norm, RoPE, attention per span, output projection (+ bias), post-norm, residual.
 * kv as in forward_layers.
 */
static void layer_attention(const struct dt_model *m, struct workspace *ws, int li, size_t n,
                            const struct span *spans, size_t n_spans, const struct kv_ref *kv)
{
    const struct dt_model_config *c = &m->cfg;
    const struct dt_layer *l = &m->layers[li];
    const size_t dim = (size_t)c->dim, qd = (size_t)c->n_head * c->head_dim,
                 kvd = (size_t)c->n_head_kv * c->head_dim, hd = (size_t)c->head_dim;
    const size_t ldqkv = qd + 2 * kvd, rd = (size_t)c->rope_dim;
    const size_t s0 = SLOT_LAYER0 + (size_t)li * SLOTS_PER_LAYER;
    const float *h = ws->x;
    if (l->attn_norm) {
        norm_rows(c, ws->xb, ws->x, dim, n, l->attn_norm, l->attn_norm_b, dim);
        h = ws->xb;
    }
    linear(m, ws, s0 + S_Q, 3, h, dim, n, ws->qkv, ldqkv);
    const float *tab = l->is_swa && ws->ctx->rope_tab_swa ? ws->ctx->rope_tab_swa : ws->ctx->rope_tab;
    for (size_t r = 0, si = 0; r < n; r++) {
        float *qr = ws->qkv + r * ldqkv, *kr = qr + qd, *vr = kr + kvd;
        while (kv && r >= spans[si].row0 + spans[si].n)
            si++;
        if (l->bq)
            for (size_t i = 0; i < qd; i++)
                qr[i] += l->bq[i];
        if (l->bk)
            for (size_t i = 0; i < kvd; i++)
                kr[i] += l->bk[i];
        if (l->bv)
            for (size_t i = 0; i < kvd; i++)
                vr[i] += l->bv[i];
        if (c->arch->qk_norm == DT_QK_NORM_HEAD) {
            for (int hh = 0; hh < c->n_head; hh++)
                dt_vec_rmsnorm(qr + hh * hd, qr + hh * hd, l->q_norm, hd, c->rms_eps);
            for (int hh = 0; hh < c->n_head_kv; hh++)
                dt_vec_rmsnorm(kr + hh * hd, kr + hh * hd, l->k_norm, hd, c->rms_eps);
        } else if (c->arch->qk_norm == DT_QK_NORM_FULL) {
            dt_vec_rmsnorm(qr, qr, l->q_norm, qd, c->rms_eps);
            dt_vec_rmsnorm(kr, kr, l->k_norm, kvd, c->rms_eps);
        }
        const float *t = tab + (size_t)ws->pos[r] * rd;
        rope_apply(c, qr, c->n_head, t);
        rope_apply(c, kr, c->n_head_kv, t);
        if (kv) {
            memcpy(kv[si].k[li] + (size_t)ws->pos[r] * kvd, kr, kvd * sizeof(float));
            memcpy(kv[si].v[li] + (size_t)ws->pos[r] * kvd, vr, kvd * sizeof(float));
        }
    }
    int window = l->is_swa ? c->swa_window : 0;
    /* Per-head products are small: OpenBLAS threading costs more than it gains there. */
    if (ws->blas_threads > 1)
        openblas_set_num_threads(1);
    const struct att_buf own = {ws->qpack, ws->opack, ws->scores, ws->cap_scores};
    if (kv && ws->decode) {
        /* The generation path (steps and prompts): each row attends as its own one-token
         * step would (same products, same order), so a prompt in one call or token by token
         * gives the same logits; rows are split across the pool. */
        struct att_job aj = {c, ws, spans, n_spans, kv, li, n, ldqkv, window, 0};
        atomic_init(&aj.next, 0);
        double work = 0;
        for (size_t r = 0; r < n; r++)
            work += 2.0 * (double)(ws->pos[r] + 1) * (double)qd;
        if (n > 1 && ws->pool && ws->pool->n > 1 && work * 8 >= ws->pool->min_elems &&
            att_thread_bufs(ws))
            pool_run(ws->pool, att_rows, &aj);
        else
            att_rows(&aj, 0, 1);
    }
    for (size_t s = 0; !(kv && ws->decode) && s < n_spans; s++) {
        const struct span *sp = &spans[s];
        if (sp->n == 0)
            continue;
        const float *qs = ws->qkv + sp->row0 * ldqkv;
        if (kv)
            attention(c, &own, qs, ldqkv, sp->n, sp->pos0, kv[s].k[li], kv[s].v[li], kvd,
                      ws->att + sp->row0 * qd, qd, window);
        else
            attention(c, &own, qs, ldqkv, sp->n, 0, qs + qd, qs + qd + kvd, ldqkv,
                      ws->att + sp->row0 * qd, qd, window);
    }
    if (ws->blas_threads > 1)
        openblas_set_num_threads(ws->blas_threads);
    linear(m, ws, s0 + S_O, 1, ws->att, qd, n, ws->xb, dim);
    for (size_t r = 0; r < n; r++) {
        float *o = ws->xb + r * dim;
        if (l->bo)
            for (size_t i = 0; i < dim; i++)
                o[i] += l->bo[i];
        if (l->attn_post_norm)
            norm_row(c, o, o, l->attn_post_norm, NULL, dim);
    }
    residual_add(c, ws->x, ws->xb, n * dim);
}

/* Gated FFN of rows h (n, ld dim) through gate/up/down into y (n, dim); gate|up adjacent in
 * hb. */
static void ffn_gated(const struct dt_model_config *c, struct workspace *ws,
                      const struct dt_weight *wg, const struct dt_weight *wu,
                      const struct dt_weight *wd, const float *h, size_t n, float *y)
{
    const size_t dim = (size_t)c->dim, f = (size_t)wd->cols, ld = ws->ld_hb;
    matmul_w(ws, wg, h, dim, n, ws->hb, ld);
    matmul_w(ws, wu, h, dim, n, ws->hb + f, ld);
    for (size_t r = 0; r < n; r++)
        gated_act(c, ws->hb + r * ld, ws->hb + r * ld + f, f);
    matmul_w(ws, wd, ws->hb, ld, n, y, dim);
}

/* An expert's rows of a stacked expert tensor, as a matrix view. */
static struct dt_weight expert_view(const struct dt_weight *w, int e, int n_expert)
{
    struct dt_weight v = *w;
    v.rows = w->rows / n_expert;
    v.data = (const uint8_t *)w->data + (size_t)e * (size_t)v.rows * w->row_bytes;
    return v;
}

/*
 * Mixture of experts over the normed rows in ws->xb, output into ws->xb: softmax over the
 * router logits, the top n_expert_used experts per row with their probabilities (renormalised
 * to sum 1 when the architecture does, times expert_weights_scale), each expert a gated FFN
 * over the rows that chose it; plus a shared expert behind a sigmoid gate (qwen2moe).
 */
static void layer_moe(const struct dt_model *m, struct workspace *ws, const struct dt_layer *l, size_t n)
{
    const struct dt_model_config *c = &m->cfg;
    const size_t dim = (size_t)c->dim;
    const int ne = c->n_expert, k = c->n_expert_used;
    matmul_w(ws, &l->w_gate_inp, ws->xb, dim, n, ws->router, (size_t)ne);
    /* Per row: top-k expert ids are marked by storing their weight, others -1. */
    for (size_t r = 0; r < n; r++) {
        float *p = ws->router + r * (size_t)ne;
        dt_vec_softmax(p, (size_t)ne);
        float *sel = ws->sel;
        for (int e = 0; e < ne; e++)
            sel[e] = -1.0f;
        double sum = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < ne; e++)
                if (sel[e] < 0 && (best < 0 || p[e] > p[best]))
                    best = e;
            sel[best] = p[best];
            sum += p[best];
        }
        for (int e = 0; e < ne; e++) {
            float w = sel[e];
            if (w >= 0 && c->expert_norm)
                w = (float)(w / sum);
            p[e] = w >= 0 ? w * c->expert_weights_scale : -1.0f;
        }
    }
    memset(ws->moe_y, 0, n * dim * sizeof(float));
    for (int e = 0; e < ne; e++) {
        size_t cnt = 0;
        for (size_t r = 0; r < n; r++)
            if (ws->router[r * (size_t)ne + (size_t)e] >= 0)
                memcpy(ws->moe_x + cnt++ * dim, ws->xb + r * dim, dim * sizeof(float));
        if (!cnt)
            continue;
        struct dt_weight g = expert_view(&l->w_gate_exps, e, ne),
                         u = expert_view(&l->w_up_exps, e, ne),
                         d = expert_view(&l->w_down_exps, e, ne);
        /* The expert's output overwrites its gathered input, which the hidden activations
         * in hb no longer need. */
        size_t f = (size_t)d.cols, ld = ws->ld_hb;
        matmul_w(ws, &g, ws->moe_x, dim, cnt, ws->hb, ld);
        matmul_w(ws, &u, ws->moe_x, dim, cnt, ws->hb + f, ld);
        for (size_t r = 0; r < cnt; r++)
            gated_act(c, ws->hb + r * ld, ws->hb + r * ld + f, f);
        matmul_w(ws, &d, ws->hb, ld, cnt, ws->moe_x, dim);
        size_t j = 0;
        for (size_t r = 0; r < n; r++) {
            float w = ws->router[r * (size_t)ne + (size_t)e];
            if (w < 0)
                continue;
            const float *src = ws->moe_x + j++ * dim;
            float *dst = ws->moe_y + r * dim;
            for (size_t i = 0; i < dim; i++)
                dst[i] += w * src[i];
        }
    }
    if (l->w_gate_shexp.data) {
        ffn_gated(c, ws, &l->w_gate_shexp, &l->w_up_shexp, &l->w_down_shexp, ws->xb, n, ws->moe_x);
        for (size_t r = 0; r < n; r++) {
            const float *h = ws->xb + r * dim;
            double z = 0;
            for (size_t i = 0; i < dim; i++)
                z += (double)l->gate_inp_shexp[i] * h[i];
            float gate = (float)(1.0 / (1.0 + exp(-z)));
            for (size_t i = 0; i < dim; i++)
                ws->moe_y[r * dim + i] += gate * ws->moe_x[r * dim + i];
        }
    }
    memcpy(ws->xb, ws->moe_y, n * dim * sizeof(float));
}

/* FFN sub-block of layer li: pre-norm, dense gated FFN or experts, post-norm, residual. */
static void layer_ffn(const struct dt_model *m, struct workspace *ws, int li, size_t n)
{
    const struct dt_model_config *c = &m->cfg;
    const struct dt_layer *l = &m->layers[li];
    const size_t dim = (size_t)c->dim, ldgu = ws->ld_hb;
    const size_t s0 = SLOT_LAYER0 + (size_t)li * SLOTS_PER_LAYER;
    if (l->ffn_norm)
        norm_rows(c, ws->xb, ws->x, dim, n, l->ffn_norm, l->ffn_norm_b, dim);
    else
        memcpy(ws->xb, ws->x, n * dim * sizeof(float));
    if (l->w_gate_inp.data) {
        layer_moe(m, ws, l, n);
    } else {
        const size_t ffn = (size_t)c->ffn_dim;
        linear(m, ws, s0 + S_GATE, 2, ws->xb, dim, n, ws->hb, ldgu);
        for (size_t r = 0; r < n; r++)
            gated_act(c, ws->hb + r * ldgu, ws->hb + r * ldgu + ffn, ffn);
        linear(m, ws, s0 + S_DOWN, 1, ws->hb, ldgu, n, ws->xb, dim);
    }
    if (l->ffn_post_norm)
        norm_rows(c, ws->xb, ws->xb, dim, n, l->ffn_post_norm, NULL, dim);
    residual_add(c, ws->x, ws->xb, n * dim);
}

/*
 * Runs all layers over ws->x (n rows, already embedded, positions in ws->pos) and applies the
 * final norm. kv: one cache per span (K/V rows of a span are stored at its positions and
 * attention reads the cache), or NULL to attend within the packed rows of each span (scoring).
 */
static void forward_layers(const struct dt_model *m, struct workspace *ws, size_t n,
                           const struct span *spans, size_t n_spans, const struct kv_ref *kv)
{
    const struct dt_model_config *c = &m->cfg;
    const size_t dim = (size_t)c->dim;
    for (int li = 0; li < c->n_layer; li++) {
        layer_attention(m, ws, li, n, spans, n_spans, kv);
        layer_ffn(m, ws, li, n);
    }
    norm_rows(c, ws->x, ws->x, dim, n, m->output_norm, m->output_norm_b, dim);
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
    const struct dt_model *m;
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
    finish_logits(c, ws->logits, nb, (size_t)c->n_vocab);
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

/* Makes x->score_ws hold n workspaces of at least (rows, max_kv, logit_rows). */
static int ensure_score_ws(struct dt_ctx *x, int n, size_t rows, size_t max_kv,
                           size_t logit_rows, struct dt_error *err)
{
    const struct dt_model *m = x->m;
    if (x->n_score_ws < n) {
        struct workspace **a = dt_realloc_array(x->score_ws, (size_t)n, sizeof *a);
        if (!a)
            return dt_error_set(err, DT_ENOMEM, "out of memory");
        for (int i = x->n_score_ws; i < n; i++)
            a[i] = NULL;
        x->score_ws = a;
        x->n_score_ws = n;
    }
    size_t group = (size_t)(m->cfg.n_head / m->cfg.n_head_kv);
    for (int i = 0; i < n; i++) {
        struct workspace *ws = x->score_ws[i];
        if (ws && (ws->cap_rows < rows || ws->cap_scores < group * max_kv ||
                   ws->logit_rows < logit_rows)) {
            ws_release(ws);
            dt_free(ws);
            x->score_ws[i] = ws = NULL;
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
            x->score_ws[i] = ws;
        }
    }
    return 0;
}

int dt_ctx_score_batch_flags(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                             size_t n_seqs, unsigned flags, dt_logits_cb cb, void *ud,
                             struct dt_error *err)
{
    const struct dt_model *m = x->m;
    const struct dt_model_config *c = &m->cfg;
    struct chunk *chunks = NULL;
    struct worker wk[DT_MAX_WORKERS];
    pthread_t tid[DT_MAX_WORKERS];
    int rc = 0, n_started = 0;
    size_t max_len = 0, total = 0;
    memset(wk, 0, sizeof wk);
    for (size_t s = 0; s < n_seqs; s++) {
        if (lens[s] > (size_t)c->n_ctx_train)
            return dt_error_set(err, DT_EINVAL, "sequence %zu has %zu tokens, the model context is %d%s%s%s",
                                s, lens[s], c->n_ctx_train,
                                m->ctx_window_key[0] ? " (cut to the sliding window of key '" : "",
                                m->ctx_window_key, m->ctx_window_key[0] ? "', not implemented here)" : "");
        if ((rc = check_tokens(m, seqs[s], lens[s], err)))
            return dt_error_prefix(err, "sequence %zu", s);
        max_len = lens[s] > max_len ? lens[s] : max_len;
        total += lens[s];
    }
    if (total == 0)
        return 0;
    if ((rc = ensure_rope(x, (int)max_len, err)))
        return rc;
    int threads = x->n_threads;
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
    if ((rc = ensure_score_ws(x, n_workers, cap, max_len, logit_rows, err)))
        goto out;

    struct score_job job = {.m = m, .seqs = seqs, .lens = lens, .chunks = chunks,
                            .n_chunks = n_chunks, .flags = flags, .cb = cb, .ud = ud};
    pthread_mutex_init(&job.mu, NULL);
    pthread_cond_init(&job.cv, NULL);
    /* Cached models: one worker per thread. Others: one worker whose products are split
     * across the context's pool. Either way OpenBLAS runs single-threaded. */
    if (!cached && (rc = ensure_pool(x, err)))
        goto done;
    for (int i = 0; i < n_workers; i++) {
        wk[i].job = &job;
        wk[i].ws = x->score_ws[i];
        wk[i].ws->blas_threads = 0;
        wk[i].ws->pool = cached ? NULL : x->pool;
        wk[i].ws->ctx = x;
        wk[i].ws->decode = 0;
        wk[i].ws->q8_scoring = !cached && x->scoring == DT_SCORING_Q8;
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

int dt_ctx_score_batch(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                       size_t n_seqs, dt_logits_cb cb, void *ud, struct dt_error *err)
{
    return dt_ctx_score_batch_flags(x, seqs, lens, n_seqs, 0, cb, ud, err);
}

/* ---- contexts ---- */

void dt_ctx_set_scoring(struct dt_ctx *x, enum dt_scoring s) { x->scoring = s; }

int dt_ctx_scoring_quantized(const struct dt_ctx *x)
{
    const struct dt_model *m = x->m;
    if (x->scoring != DT_SCORING_Q8 || m->f32_state == 1 || f32_act_env())
        return 0;
    for (size_t s = 0; s < n_slots(m); s++)
        if (q8_kernels(m, s, 1))
            return 1;
    return 0;
}

const char *dt_scoring_name(enum dt_scoring s) { return s == DT_SCORING_Q8 ? "q8" : "exact"; }

const char *dt_ctx_scoring_used(const struct dt_ctx *x)
{
    return dt_scoring_name(dt_ctx_scoring_quantized(x) ? DT_SCORING_Q8 : DT_SCORING_EXACT);
}

int dt_scoring_parse(const char *name, enum dt_scoring *out)
{
    if (strcmp(name, "exact") == 0)
        *out = DT_SCORING_EXACT;
    else if (strcmp(name, "q8") == 0)
        *out = DT_SCORING_Q8;
    else
        return -1;
    return 0;
}

int dt_ctx_new(const struct dt_model *m, int n_threads, struct dt_ctx **out, struct dt_error *err)
{
    struct dt_ctx *x = dt_calloc(1, sizeof *x);
    if (!x)
        return dt_error_set(err, DT_ENOMEM, "out of memory for a compute context");
    x->m = m;
    x->n_threads = n_threads <= 0 ? DT_MODEL_DEFAULT_THREADS
                   : n_threads > DT_MAX_WORKERS ? DT_MAX_WORKERS
                                                : n_threads;
    *out = x;
    return 0;
}

void dt_ctx_free(struct dt_ctx *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n_score_ws; i++) {
        if (x->score_ws[i]) {
            ws_release(x->score_ws[i]);
            dt_free(x->score_ws[i]);
        }
    }
    dt_free(x->score_ws);
    dt_free(x->rope_tab);
    dt_free(x->rope_tab_swa);
    pool_free(x->pool);
    dt_free(x);
}

const struct dt_model *dt_ctx_model(const struct dt_ctx *x) { return x->m; }
int dt_ctx_n_threads(const struct dt_ctx *x) { return x->n_threads; }

/* ---- sessions and batches ---- */

/* KV cache, position and logits of one sequence. A session owns a workspace; the slots of a
 * batch share the batch's. */
struct dt_session {
    const struct dt_model *m;
    struct dt_ctx *x;
    int n_ctx, n_past;
    float **kc, **vc; /* n_layer x (n_ctx, n_head_kv*head_dim) */
    float *logits;    /* (n_vocab) */
    struct workspace ws;
};

struct dt_batch {
    const struct dt_model *m;
    struct dt_ctx *x;
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

/* Context clamped as dt_session_new documents; the context's rope table and pool. */
static int prepare_decoding(struct dt_ctx *x, int *n_ctx, struct dt_error *err)
{
    const struct dt_model_config *c = &x->m->cfg;
    if (*n_ctx <= 0)
        *n_ctx = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    if (*n_ctx > c->n_ctx_train)
        *n_ctx = c->n_ctx_train;
    int rc = ensure_rope(x, *n_ctx, err);
    if (!rc)
        rc = ensure_pool(x, err);
    return rc;
}

/* A sequence's KV cache (left unfaulted: only the positions used become resident). */
static int seq_new(struct dt_ctx *x, int n_ctx, struct dt_session **out, struct dt_error *err)
{
    const struct dt_model *m = x->m;
    const struct dt_model_config *c = &m->cfg;
    struct dt_session *s = dt_calloc(1, sizeof *s);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    s->m = m;
    s->x = x;
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

int dt_session_new(struct dt_ctx *x, int n_ctx, struct dt_session **out, struct dt_error *err)
{
    int rc = prepare_decoding(x, &n_ctx, err);
    struct dt_session *s = NULL;
    if (rc || (rc = seq_new(x, n_ctx, &s, err)))
        return rc;
    if ((rc = ws_init(&s->ws, x->m, prompt_rows(n_ctx), (size_t)n_ctx, 1, err))) {
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
static void use_pool(struct dt_ctx *x, struct workspace *ws, int decode)
{
    openblas_set_num_threads(1);
    ws->blas_threads = 0;
    ws->pool = x->pool;
    ws->ctx = x;
    ws->decode = decode;
}

/* Appends n tokens to s, computing on ws, and the logits of the last one. */
static int seq_eval(struct dt_session *s, struct workspace *ws, const int32_t *tokens, size_t n,
                    struct dt_error *err)
{
    const struct dt_model *m = s->m;
    const struct dt_model_config *c = &m->cfg;
    if (n == 0)
        return 0;
    if (n > (size_t)(s->n_ctx - s->n_past))
        return dt_error_set(err, DT_EINVAL, "%zu more tokens do not fit the context of %d (%d used)%s%s%s",
                            n, s->n_ctx, s->n_past,
                            m->ctx_window_key[0] ? "; the context is cut to the sliding window of key '" : "",
                            m->ctx_window_key, m->ctx_window_key[0] ? "'" : "");
    int rc = check_tokens(m, tokens, n, err);
    if (rc)
        return rc;
    /* Prompts and steps alike go through the dot kernels of generation, one result per
     * (row, position) that does not depend on the other positions: a prompt evaluated in one
     * call, token by token, or as a batch slot gives the same logits. Scoring keeps the exact
     * f32 sgemm path. */
    use_pool(s->x, ws, 1);
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
        if (done == n) {
            linear(m, ws, SLOT_OUTPUT, 1, ws->x + (nb - 1) * (size_t)c->dim, c->dim, 1, s->logits,
                   (size_t)c->n_vocab);
            finish_logits(c, s->logits, 1, (size_t)c->n_vocab);
        }
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

int dt_batch_new(struct dt_ctx *x, int n_slots, int n_ctx, struct dt_batch **out,
                 struct dt_error *err)
{
    const struct dt_model *m = x->m;
    if (n_slots < 1)
        return dt_error_set(err, DT_EINVAL, "a batch needs at least one slot, not %d", n_slots);
    int rc = prepare_decoding(x, &n_ctx, err);
    if (rc)
        return rc;
    struct dt_batch *b = dt_calloc(1, sizeof *b);
    if (!b)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    b->m = m;
    b->x = x;
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
        if ((rc = seq_new(x, n_ctx, &b->slots[i], err))) {
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
    const struct dt_model *m = b->m;
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
    use_pool(b->x, ws, 1);
    for (size_t i = 0; i < n; i++) {
        struct dt_session *s = b->slots[slots[i]];
        b->spans[i] = (struct span){i, 1, s->n_past};
        b->kv[i] = (struct kv_ref){s->kc, s->vc};
        ws->pos[i] = s->n_past;
    }
    embed(m, tokens, n, ws->x);
    forward_layers(m, ws, n, b->spans, n, b->kv);
    linear(m, ws, SLOT_OUTPUT, 1, ws->x, (size_t)c->dim, n, ws->logits, (size_t)c->n_vocab);
    finish_logits(c, ws->logits, n, (size_t)c->n_vocab);
    for (size_t i = 0; i < n; i++) {
        struct dt_session *s = b->slots[slots[i]];
        s->n_past++;
        memcpy(s->logits, ws->logits + i * (size_t)c->n_vocab, (size_t)c->n_vocab * sizeof(float));
    }
    ws->decode = 0;
    return 0;
}

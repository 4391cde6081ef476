/*
 * Benchmarks of the inference core (see infer/bench.h). Timing uses the monotonic clock; each
 * scoring repetition scores the same batch (after one untimed warm-up that also builds any f32
 * weight cache and the workspaces), and the best repetition is reported with the process CPU
 * time it used (a machine busy with other work shows up as wall time well above CPU time /
 * threads). Synthetic weights are N(0, 0.02) drawn
 * from util/rng.h, so a shape and seed always give the same file.
 */
#include "infer/bench.h"

#include "infer/compute.h"
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "infer/sampler.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

void dt_bench_params_init(struct dt_bench_params *p)
{
    p->batch = 64;
    p->len = 128;
    p->gen = 128;
    p->repeat = 3;
    p->seed = 1;
    p->slots = 8; /* DT_GEN_BATCH_SLOTS of corpus/generate.h: what compare decodes at once */
    p->jobs = 0;  /* 2 x slots */
    p->scoring = DT_SCORING_EXACT;
}

long dt_bench_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

double dt_bench_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

struct lse_sink {
    double sum; /* keeps the work observable */
    int n_vocab;
};

/* What `score` does with each position's logits: the log-softmax normalizer. */
static int lse_cb(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    (void)i_seq;
    (void)i_pos;
    struct lse_sink *st = ud;
    st->sum += dt_logsumexp(logits, st->n_vocab);
    return 0;
}

/* Best wall time (and the CPU time of that repetition) over p->repeat scoring runs. */
static int time_scoring(struct dt_ctx *x, const struct dt_bench_params *p,
                        const int32_t *const *seqs, const size_t *lens, unsigned flags,
                        double *wall, double *cpu, struct dt_error *err)
{
    struct lse_sink st = {0, dt_model_config(dt_ctx_model(x))->n_vocab};
    *wall = 1e30;
    for (int k = 0; k < p->repeat; k++) {
        double c0 = dt_bench_cpu_s(), t0 = dt_time_now();
        int rc = dt_ctx_score_batch_flags(x, seqs, lens, (size_t)p->batch, flags, lse_cb, &st,
                                          err);
        if (rc)
            return rc;
        double dt = dt_time_now() - t0, dc = dt_bench_cpu_s() - c0;
        if (dt < *wall) {
            *wall = dt;
            *cpu = dc;
        }
    }
    return 0;
}

static int argmax(const float *l, int n)
{
    int best = 0;
    for (int v = 1; v < n; v++)
        if (l[v] > l[best])
            best = v;
    return best;
}

/*
 * Batched generation as compare runs it (corpus/generate.c's queue on a dt_batch): p->jobs
 * answers of 32..40 greedy tokens after 16..47-token prompts taken from toks, p->slots decoded
 * together, a finished slot refilled from the queue. Best of p->repeat, prompts included.
 */
static int time_batched(struct dt_ctx *x, const struct dt_bench_params *p, const int32_t *toks,
                        size_t n_toks, struct dt_bench_result *r, struct dt_error *err)
{
    const struct dt_model_config *c = dt_model_config(dt_ctx_model(x));
    int n_slots = p->slots, n_jobs = p->jobs > 0 ? p->jobs : 2 * p->slots;
    int n_ctx = 48 + 40 < c->n_ctx_train ? 48 + 40 : c->n_ctx_train;
    struct dt_batch *b = NULL;
    int *slots = dt_malloc_array((size_t)n_slots, sizeof *slots);
    int *job = dt_malloc_array((size_t)n_slots, sizeof *job);
    int *left = dt_malloc_array((size_t)n_slots, sizeof *left);
    int32_t *next = dt_malloc_array((size_t)n_slots, sizeof *next);
    int32_t *feed = dt_malloc_array((size_t)n_slots, sizeof *feed);
    int rc = 0;
    if (!slots || !job || !left || !next || !feed) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    if (n_ctx < 48 + 40) {
        rc = dt_error_set(err, DT_EINVAL, "batched generation needs a context of 88, the model has %d",
                          c->n_ctx_train);
        goto out;
    }
    if ((rc = dt_batch_new(x, n_slots, n_ctx, &b, err)))
        goto out;
    r->batch_wall_s = 1e30;
    for (int k = 0; k < p->repeat; k++) {
        size_t produced = 0;
        int queued = 0, active = 0;
        double c0 = dt_bench_cpu_s(), t0 = dt_time_now();
        for (int sl = 0; sl < n_slots; sl++)
            job[sl] = -1;
        for (;;) {
            /* Refill free slots: job j has a 16 + (7 j mod 32)-token prompt, 32 + j mod 9 tokens. */
            for (int sl = 0; sl < n_slots && queued < n_jobs; sl++) {
                if (job[sl] >= 0)
                    continue;
                int j = queued++;
                size_t plen = 16 + (size_t)(7 * j % 32), off = (size_t)j * 61 % (n_toks - plen);
                if ((rc = dt_batch_prefill(b, sl, toks + off, plen, err)))
                    goto out;
                job[sl] = j;
                left[sl] = 32 + j % 9;
                active++;
            }
            if (!active)
                break;
            size_t n_step = 0;
            for (int sl = 0; sl < n_slots; sl++) {
                if (job[sl] < 0)
                    continue;
                next[sl] = argmax(dt_batch_logits(b, sl), c->n_vocab);
                produced++;
                if (--left[sl] == 0) {
                    job[sl] = -1;
                    active--;
                    continue;
                }
                slots[n_step] = sl;
                feed[n_step++] = next[sl];
            }
            if ((rc = dt_batch_step(b, slots, feed, n_step, err)))
                goto out;
        }
        double dt = dt_time_now() - t0;
        if (dt < r->batch_wall_s) {
            r->batch_wall_s = dt;
            r->batch_cpu_s = dt_bench_cpu_s() - c0;
            r->batch_tokens = produced;
        }
    }
    r->batch_slots = n_slots;
    r->batch_jobs = n_jobs;
    r->batch_tok_s = (double)r->batch_tokens / r->batch_wall_s;
out:
    dt_batch_free(b);
    dt_free(slots);
    dt_free(job);
    dt_free(left);
    dt_free(next);
    dt_free(feed);
    return rc;
}

/* Bytes one generation step reads: every matrix, but one row of the embedding (all of it when
 * the output matrix is the embedding). */
static double step_weight_bytes(const struct dt_model *m)
{
    double total = 0;
    struct dt_weight w, out;
    int has_out = dt_model_find_tensor(m, "output.weight", &out) == 0;
    for (size_t i = 0; i < dt_model_n_tensors(m); i++) {
        if (dt_model_tensor(m, i, &w))
            continue;
        double bytes = (double)w.row_bytes * (double)w.rows;
        if (!strcmp(w.name, "token_embd.weight") && has_out)
            bytes = (double)w.row_bytes;
        total += bytes;
    }
    return total;
}

int dt_bench_model(struct dt_ctx *x, const struct dt_bench_params *p, struct dt_bench_result *r,
                   struct dt_error *err)
{
    const struct dt_model *m = dt_ctx_model(x);
    const struct dt_model_config *c = dt_model_config(m);
    memset(r, 0, sizeof *r);
    if (p->batch < 1 || p->len < 2 || p->gen < 1 || p->repeat < 1 || p->slots < 1)
        return dt_error_set(err, DT_EINVAL, "bench needs batch >= 1, len >= 2, gen >= 1, slots >= 1");
    r->weight_bytes = step_weight_bytes(m);
    if (p->len + p->gen > c->n_ctx_train)
        return dt_error_set(err, DT_EINVAL, "probe length %d + %d generated tokens exceed the context of %d",
                            p->len, p->gen, c->n_ctx_train);
    size_t n = (size_t)p->batch * (size_t)p->len;
    size_t n_alloc = n > 4096 ? n : 4096; /* batched generation draws its prompts from here too */
    int32_t *toks = dt_malloc_array(n_alloc, sizeof *toks);
    const int32_t **seqs = dt_malloc_array((size_t)p->batch, sizeof *seqs);
    size_t *lens = dt_malloc_array((size_t)p->batch, sizeof *lens);
    struct dt_session *s = NULL;
    int rc = 0;
    if (!toks || !seqs || !lens) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, p->seed);
    /* Random ids from the first 256 rows (byte tokens in every vocabulary). */
    int span = c->n_vocab < 256 ? c->n_vocab : 256;
    for (size_t i = 0; i < n_alloc; i++)
        toks[i] = (int32_t)dt_rng_below(&rng, (uint64_t)span);
    for (int b = 0; b < p->batch; b++) {
        seqs[b] = toks + (size_t)b * p->len;
        lens[b] = (size_t)p->len;
    }
    /* Generation first: after a threaded sgemm OpenBLAS's workers spin for a while and
     * would steal the core a single-threaded matrix-vector loop runs on. */
    if ((rc = dt_session_new(x, p->len + p->gen, &s, err)))
        goto out;
    /* Best of p->repeat runs of each: the p->len-token prompt in one call (llama-bench's pp),
     * then p->gen greedy steps after it (tg). */
    r->gen_wall_s = 1e30;
    r->prompt_wall_s = 1e30;
    for (int k = 0; k < p->repeat; k++) {
        dt_session_reset(s);
        double c0 = dt_bench_cpu_s(), t0 = dt_time_now();
        if ((rc = dt_session_eval(s, toks, (size_t)p->len, err)))
            goto out;
        double prompt_s = dt_time_now() - t0;
        if (prompt_s < r->prompt_wall_s) {
            r->prompt_wall_s = prompt_s;
            r->prompt_cpu_s = dt_bench_cpu_s() - c0;
        }
        c0 = dt_bench_cpu_s();
        t0 = dt_time_now();
        for (int i = 0; i < p->gen; i++) {
            const float *l = dt_session_logits(s);
            int32_t best_id = 0;
            for (int v = 1; v < c->n_vocab; v++)
                if (l[v] > l[best_id])
                    best_id = v;
            if ((rc = dt_session_eval(s, &best_id, 1, err)))
                goto out;
        }
        double dt = dt_time_now() - t0;
        if (dt < r->gen_wall_s) {
            r->gen_wall_s = dt;
            r->gen_cpu_s = dt_bench_cpu_s() - c0;
        }
    }
    r->prompt_tokens = (size_t)p->len;
    r->prompt_tok_s = p->len / r->prompt_wall_s;
    r->gen_tokens = p->gen;
    r->gen_tok_s = p->gen / r->gen_wall_s;
    dt_session_free(s);
    s = NULL;
    if ((rc = time_batched(x, p, toks, n_alloc, r, err)))
        goto out;
    /* One untimed run builds the workspaces (and page-faults them in). */
    struct lse_sink warm = {0, c->n_vocab};
    if ((rc = dt_ctx_score_batch_flags(x, seqs, lens, (size_t)p->batch, DT_SCORE_LAST_ONLY,
                                       lse_cb, &warm, err)))
        goto out;
    double wall = 0, cpu = 0;
    if ((rc = time_scoring(x, p, seqs, lens, 0, &wall, &cpu, err)))
        goto out;
    r->score_tokens = n;
    r->score_wall_s = wall;
    r->score_cpu_s = cpu;
    r->score_tok_s = (double)n / wall;
    if ((rc = time_scoring(x, p, seqs, lens, DT_SCORE_LAST_ONLY, &wall, &cpu, err)))
        goto out;
    r->last_wall_s = wall;
    r->last_cpu_s = cpu;
    r->last_tok_s = (double)n / wall;
    /* FLOPs per token: 2 per weight of the layer matrices and the output matrix, plus the
     * attention products q k^T and p v over the causal half (average key range len/2). */
    double qd = (double)c->n_head * c->head_dim, kvd = (double)c->n_head_kv * c->head_dim;
    double per_layer = (double)c->dim * (qd + 2 * kvd) + qd * c->dim + 3.0 * c->dim * c->ffn_dim;
    double attn = 2.0 * qd * ((p->len + 1) / 2.0) * 2.0 * c->n_layer;
    double out_flop = 2.0 * (double)c->n_vocab * c->dim;
    r->flop_per_token = 2.0 * per_layer * c->n_layer + attn + out_flop;
    r->score_gflop_s = r->flop_per_token * (double)n / r->score_wall_s / 1e9;
    r->last_gflop_s = (r->flop_per_token - out_flop) * (double)n / r->last_wall_s / 1e9 +
                      out_flop * p->batch / r->last_wall_s / 1e9;

    r->peak_rss_kb = dt_bench_peak_rss_kb();
out:
    dt_session_free(s);
    dt_free(lens);
    dt_free(seqs);
    dt_free(toks);
    return rc;
}

struct read_part {
    const float *a;
    size_t n;
    float sum;
};

static void *read_main(void *arg)
{
    struct read_part *rp = arg;
    /* Eight independent sums so the loop is bound by loads, not by an add chain. */
    float acc[8] = {0};
    for (size_t i = 0; i + 8 <= rp->n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += rp->a[i + (size_t)k];
    rp->sum = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
    return NULL;
}

double dt_bench_read_gb_s(int n_threads, size_t mb)
{
    n_threads = n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads;
    size_t n = mb * ((size_t)1 << 20) / sizeof(float);
    float *a = dt_malloc_array(n, sizeof(float));
    double best = 0;
    if (!a)
        return 0;
    for (size_t i = 0; i < n; i++) /* faults every page in before timing */
        a[i] = (float)(i & 7);
    struct read_part parts[64];
    pthread_t tid[64];
    for (int rep = 0; rep < 4; rep++) {
        double t0 = dt_time_now();
        int started = 0;
        for (int t = 0; t < n_threads; t++) {
            parts[t].a = a + n / (size_t)n_threads * (size_t)t;
            parts[t].n = n / (size_t)n_threads;
            if (t > 0 && pthread_create(&tid[t], NULL, read_main, &parts[t]) == 0)
                started = t;
            else if (t > 0)
                read_main(&parts[t]);
        }
        read_main(&parts[0]);
        for (int t = 1; t <= started; t++)
            pthread_join(tid[t], NULL);
        double g = (double)(n / (size_t)n_threads * (size_t)n_threads) * sizeof(float) /
                   (dt_time_now() - t0) / 1e9;
        float sum = 0;
        for (int t = 0; t < n_threads; t++)
            sum += parts[t].sum;
        if (sum == 12345.678f) /* keeps the sums observable */
            g += 0;
        best = g > best ? g : best;
    }
    dt_free(a);
    return best;
}

double dt_bench_sgemm_gflop_s(int m, int n, int k)
{
    float *a = dt_malloc_array((size_t)m * k, sizeof(float));
    float *b = dt_malloc_array((size_t)k * n, sizeof(float));
    float *c = dt_malloc_array((size_t)m * n, sizeof(float));
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < (size_t)k * n; i++)
            b[i] = (float)(i % 7) * 0.01f;
        for (int rep = 0; rep < 4; rep++) {
            double t0 = dt_time_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f,
                        c, n);
            double g = 2.0 * m * n * k / (dt_time_now() - t0) / 1e9;
            if (rep > 0 && g > best) /* rep 0 warms up OpenBLAS's buffers and threads */
                best = g;
        }
    }
    dt_free(a);
    dt_free(b);
    dt_free(c);
    return best;
}

/* ---- synthetic models ---- */

struct shape {
    const char *name;
    int n_layer, dim, n_head, n_head_kv, ffn, vocab, ctx;
};
static const struct shape k_shapes[] = {
    {"tiny", 2, 64, 4, 2, 128, 512, 256},
    {"124m", 12, 768, 12, 12, 2048, 32000, 1024},
    /* every row length a multiple of 256, for the k-quant and IQ4_XS tests */
    {"q256", 2, 256, 4, 2, 512, 512, 256},
    {"1b", 22, 2048, 32, 4, 5632, 32000, 2048},
};

uint32_t dt_bench_type_from_name(const char *name, int *ok)
{
    *ok = 1;
    if (!strcmp(name, "q4_k_m"))
        return DT_BENCH_Q4_K_M;
    for (uint32_t t = 0; t < DT_GGML_TYPE_COUNT; t++) {
        const char *tn = dt_ggml_type_name(t);
        if (tn && !strcmp(tn, name))
            return t;
    }
    *ok = 0;
    return 0;
}

/* llama-quantize's use_more_bits: the layers whose attn_v / ffn_down Q4_K_M keeps in Q6_K. */
static int more_bits(int i_layer, int n_layer)
{
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

static int add_matrix(struct dt_gguf_writer *w, const char *name, uint32_t type, int64_t rows,
                      int64_t cols, float stddev, float mean, struct dt_rng *rng,
                      struct dt_error *err)
{
    size_t row_bytes;
    if (dt_ggml_row_bytes(type, cols, &row_bytes))
        return dt_error_set(err, DT_EINVAL, "%lld columns do not fit type %u", (long long)cols, type);
    size_t n = (size_t)rows * (size_t)cols;
    float *f = dt_malloc_array(n, sizeof(float));
    void *q = dt_malloc_array((size_t)rows, row_bytes);
    int rc = 0;
    if (!f || !q) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        f[i] = mean + stddev * (float)dt_rng_normal(rng);
    if (dt_ggml_quantize(type, f, q, (int64_t)n)) {
        rc = dt_error_set(err, DT_EINTERNAL, "cannot quantize to type %u", type);
        goto out;
    }
    int64_t ne[2] = {cols, rows};
    if (dt_gguf_writer_add_tensor(w, name, type, rows == 1 ? 1 : 2, ne, q, (size_t)rows * row_bytes))
        rc = dt_error_set(err, DT_ENOMEM, "cannot add tensor '%s'", name);
out:
    dt_free(f);
    dt_free(q);
    return rc;
}

int dt_bench_write_synthetic(const char *path, const char *shape_name, uint32_t type,
                             uint64_t seed, struct dt_error *err)
{
    const struct shape *sh = NULL;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcmp(shape_name, k_shapes[i].name))
            sh = &k_shapes[i];
    if (!sh)
        return dt_error_set(err, DT_EINVAL, "unknown synthetic shape '%s' (tiny, 124m, q256, 1b)",
                            shape_name);
    /* Q4_K_M: the base type is Q4_K; output and some attn_v / ffn_down are Q6_K. */
    int mix = type == DT_BENCH_Q4_K_M;
    if (mix)
        type = DT_GGML_Q4_K;
    struct dt_gguf_writer *w = dt_gguf_writer_new();
    char **tokens = dt_calloc((size_t)sh->vocab, sizeof *tokens);
    int32_t *types = dt_malloc_array((size_t)sh->vocab, sizeof *types);
    int rc = 0;
    if (!w || !tokens || !types) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    /* Byte-level BPE vocabulary: the GPT-2 byte-to-unicode strings for the 256 bytes, then
     * filler tokens; the last three are control tokens. */
    for (int i = 0; i < sh->vocab; i++) {
        char buf[32];
        if (i < 256) {
            int b = i;
            int cp;
            if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
                cp = b;
            } else {
                /* Unprintable bytes map to 256 + their rank among unprintable bytes. */
                int rank = 0;
                for (int x = 0; x < b; x++)
                    if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
                        rank++;
                cp = 256 + rank;
            }
            if (cp < 0x80) {
                buf[0] = (char)cp;
                buf[1] = 0;
            } else {
                buf[0] = (char)(0xC0 | (cp >> 6));
                buf[1] = (char)(0x80 | (cp & 0x3F));
                buf[2] = 0;
            }
            types[i] = 1;
        } else if (i >= sh->vocab - 3) {
            snprintf(buf, sizeof buf, "%s",
                     i == sh->vocab - 3 ? "<|bos|>" : i == sh->vocab - 2 ? "<|eos|>" : "<|end|>");
            types[i] = 3;
        } else {
            snprintf(buf, sizeof buf, "<filler_%d>", i);
            types[i] = 4;
        }
        tokens[i] = dt_strdup(buf);
        if (!tokens[i]) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (dt_gguf_writer_add_str(w, "general.architecture", "llama") ||
        dt_gguf_writer_add_str(w, "general.name", "distiltrace synthetic") ||
        dt_gguf_writer_add_u32(w, "llama.block_count", (uint32_t)sh->n_layer) ||
        dt_gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)sh->dim) ||
        dt_gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)sh->n_head) ||
        dt_gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv) ||
        dt_gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)sh->ffn) ||
        dt_gguf_writer_add_u32(w, "llama.context_length", (uint32_t)sh->ctx) ||
        dt_gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)(sh->dim / sh->n_head)) ||
        dt_gguf_writer_add_f32(w, "llama.rope.freq_base", 10000.0f) ||
        dt_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) ||
        dt_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2") ||
        dt_gguf_writer_add_str(w, "tokenizer.ggml.pre", "gpt-2") ||
        dt_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens,
                                   (uint64_t)sh->vocab) ||
        dt_gguf_writer_add_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)sh->vocab) ||
        dt_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", NULL, 0) ||
        dt_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)(sh->vocab - 3)) ||
        dt_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(sh->vocab - 2))) {
        rc = dt_error_set(err, DT_ENOMEM, "cannot build the synthetic model's metadata");
        goto out;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, seed);
    int hd = sh->dim / sh->n_head;
    int64_t q = (int64_t)sh->n_head * hd, kv = (int64_t)sh->n_head_kv * hd;
    if ((rc = add_matrix(w, "token_embd.weight", type, sh->vocab, sh->dim, 0.02f, 0, &rng, err)) ||
        (rc = add_matrix(w, "output_norm.weight", DT_GGML_F32, 1, sh->dim, 0.05f, 1, &rng, err)) ||
        (rc = add_matrix(w, "output.weight", mix ? DT_GGML_Q6_K : type, sh->vocab, sh->dim, 0.02f,
                         0, &rng, err)))
        goto out;
    for (int l = 0; l < sh->n_layer; l++) {
        char name[64];
#define M(suffix, t, r, c, sd, mu)                                                              \
    snprintf(name, sizeof name, "blk.%d." suffix, l);                                          \
    if ((rc = add_matrix(w, name, t, r, c, sd, mu, &rng, err)))                                \
        goto out;
        M("attn_norm.weight", DT_GGML_F32, 1, sh->dim, 0.05f, 1)
        M("attn_q.weight", type, q, sh->dim, 0.02f, 0)
        M("attn_k.weight", type, kv, sh->dim, 0.02f, 0)
        uint32_t type_more = mix && more_bits(l, sh->n_layer) ? DT_GGML_Q6_K : type;
        M("attn_v.weight", type_more, kv, sh->dim, 0.02f, 0)
        M("attn_output.weight", type, sh->dim, q, 0.02f, 0)
        M("ffn_norm.weight", DT_GGML_F32, 1, sh->dim, 0.05f, 1)
        M("ffn_gate.weight", type, sh->ffn, sh->dim, 0.02f, 0)
        M("ffn_up.weight", type, sh->ffn, sh->dim, 0.02f, 0)
        M("ffn_down.weight", type_more, sh->dim, sh->ffn, 0.02f, 0)
#undef M
    }
    rc = dt_gguf_writer_write(w, path, err);
out:
    if (tokens)
        for (int i = 0; i < sh->vocab; i++)
            dt_free(tokens[i]);
    dt_free(tokens);
    dt_free(types);
    dt_gguf_writer_free(w);
    return rc;
}

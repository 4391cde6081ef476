/*
 * Benchmarks of the inference core (see infer/bench.h). Timing uses the monotonic clock; each
 * scoring repetition scores the same batch (after one untimed warm-up that also builds any f32
 * weight cache and the workspaces), and the best repetition is reported with the process CPU
 * time it used (a machine busy with other work shows up as wall time well above CPU time /
 * threads). Synthetic weights are N(0, 0.02) drawn
 * from util/rng.h, so a shape and seed always give the same file.
 */
#include "infer/bench.h"

#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "infer/sampler.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

#include <cblas.h>
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
static int time_scoring(struct dt_model *m, const struct dt_bench_params *p,
                        const int32_t *const *seqs, const size_t *lens, unsigned flags,
                        double *wall, double *cpu, struct dt_error *err)
{
    struct lse_sink st = {0, dt_model_config(m)->n_vocab};
    *wall = 1e30;
    for (int k = 0; k < p->repeat; k++) {
        double c0 = dt_bench_cpu_s(), t0 = dt_time_now();
        int rc = dt_model_score_batch_flags(m, seqs, lens, (size_t)p->batch, flags, lse_cb, &st,
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

int dt_bench_model(struct dt_model *m, const struct dt_bench_params *p, struct dt_bench_result *r,
                   struct dt_error *err)
{
    const struct dt_model_config *c = dt_model_config(m);
    memset(r, 0, sizeof *r);
    if (p->batch < 1 || p->len < 2 || p->gen < 1 || p->repeat < 1)
        return dt_error_set(err, DT_EINVAL, "bench needs batch >= 1, len >= 2, gen >= 1");
    if (p->len > c->n_ctx_train || 16 + p->gen > c->n_ctx_train)
        return dt_error_set(err, DT_EINVAL, "probe length %d or 16 + %d generated tokens exceed the context of %d",
                            p->len, p->gen, c->n_ctx_train);
    size_t n = (size_t)p->batch * (size_t)p->len;
    int32_t *toks = dt_malloc_array(n, sizeof *toks);
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
    for (size_t i = 0; i < n; i++)
        toks[i] = (int32_t)dt_rng_below(&rng, (uint64_t)span);
    for (int b = 0; b < p->batch; b++) {
        seqs[b] = toks + (size_t)b * p->len;
        lens[b] = (size_t)p->len;
    }
    /* Generation first: after a threaded sgemm OpenBLAS's workers spin for a while and
     * would steal the core a single-threaded matrix-vector loop runs on. */
    if ((rc = dt_session_new(m, 16 + p->gen, &s, err)))
        goto out;
    /* Best of p->repeat runs: a 16-token prompt, then p->gen greedy steps. */
    r->gen_wall_s = 1e30;
    for (int k = 0; k < p->repeat; k++) {
        dt_session_reset(s);
        double t0 = dt_time_now();
        if ((rc = dt_session_eval(s, toks, 16, err)))
            goto out;
        double prompt_s = dt_time_now() - t0;
        double c0 = dt_bench_cpu_s();
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
            r->prompt_wall_s = prompt_s;
        }
    }
    r->gen_tokens = p->gen;
    r->gen_tok_s = p->gen / r->gen_wall_s;
    /* One untimed run builds the workspaces (and page-faults them in). */
    struct lse_sink warm = {0, c->n_vocab};
    if ((rc = dt_model_score_batch_flags(m, seqs, lens, (size_t)p->batch, DT_SCORE_LAST_ONLY,
                                         lse_cb, &warm, err)))
        goto out;
    double wall = 0, cpu = 0;
    if ((rc = time_scoring(m, p, seqs, lens, 0, &wall, &cpu, err)))
        goto out;
    r->score_tokens = n;
    r->score_wall_s = wall;
    r->score_cpu_s = cpu;
    r->score_tok_s = (double)n / wall;
    if ((rc = time_scoring(m, p, seqs, lens, DT_SCORE_LAST_ONLY, &wall, &cpu, err)))
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
};

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
        return dt_error_set(err, DT_EINVAL, "unknown synthetic shape '%s' (tiny, 124m, q256)", shape_name);
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
        (rc = add_matrix(w, "output.weight", type, sh->vocab, sh->dim, 0.02f, 0, &rng, err)))
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
        M("attn_v.weight", type, kv, sh->dim, 0.02f, 0)
        M("attn_output.weight", type, sh->dim, q, 0.02f, 0)
        M("ffn_norm.weight", DT_GGML_F32, 1, sh->dim, 0.05f, 1)
        M("ffn_gate.weight", type, sh->ffn, sh->dim, 0.02f, 0)
        M("ffn_up.weight", type, sh->ffn, sh->dim, 0.02f, 0)
        M("ffn_down.weight", type, sh->dim, sh->ffn, 0.02f, 0)
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

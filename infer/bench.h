/*
 * Throughput measurement for the inference core (`distiltrace bench`, tests/bench): teacher-
 * forced scoring of a batch of random probes, single-sequence generation, peak RSS, and a
 * plain OpenBLAS sgemm for reference; plus synthetic random-weight Llama-shaped GGUF models.
 */
#ifndef DT_INFER_BENCH_H
#define DT_INFER_BENCH_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_ctx;

struct dt_bench_params {
    int batch;      /* probes per scoring batch (default 64) */
    int len;        /* tokens per probe (default 128) */
    int gen;        /* tokens generated after the len-token prompt (default 128) */
    int repeat;     /* timed scoring repetitions, best taken (default 3) */
    uint64_t seed;
    int slots;      /* batched generation: sequences decoded together (default 8, as compare) */
    int jobs;       /* batched generation: answers in the queue (default 2 x slots) */
    int scoring;    /* enum dt_scoring (compute.h) of the scoring runs (default
                     * DT_SCORING_EXACT, compare's default) */
};
void dt_bench_params_init(struct dt_bench_params *p);

struct dt_bench_result {
    size_t score_tokens;    /* per repetition */
    /* All positions' logits, each reduced to its logsumexp as `score` does. */
    double score_wall_s;    /* best repetition */
    double score_cpu_s;     /* process CPU time (all threads) of that repetition */
    double score_tok_s;
    double score_gflop_s;   /* achieved, counting matmul + causal attention FLOPs */
    /* Logits of each probe's last position only (prompt processing, like llama.cpp pp). */
    double last_wall_s, last_cpu_s, last_tok_s, last_gflop_s;
    double flop_per_token;  /* at the probe length, all positions' logits */
    int gen_tokens;
    double gen_wall_s;
    double gen_cpu_s;
    double gen_tok_s;
    /* The prompt before generation, as llama-bench's pp measures it: len tokens evaluated in
     * one call on a session (the generation path: dot kernels on quantized activations), the
     * last position's logits. Best of repeat. */
    size_t prompt_tokens;
    double prompt_wall_s, prompt_cpu_s, prompt_tok_s;
    /* Batched generation as compare runs it: jobs answers of 32..40 tokens after 16..47-token
     * prompts, slots at a time, greedy; tokens/s over the whole queue, prompts included. */
    int batch_slots, batch_jobs;
    size_t batch_tokens;
    double batch_wall_s, batch_cpu_s, batch_tok_s;
    double weight_bytes;    /* bytes of weights one generation step reads (all matrices but the
                             * embedding, of which it reads one row) */
    long peak_rss_kb;       /* getrusage maxrss after both runs */
};

int dt_bench_model(struct dt_ctx *x, const struct dt_bench_params *p, struct dt_bench_result *r,
                   struct dt_error *err);

/* Read bandwidth of this machine in GB/s, STREAM-like: n_threads threads summing disjoint
 * parts of a buffer of mb MiB (far larger than the caches), best of a few passes. */
double dt_bench_read_gb_s(int n_threads, size_t mb);

/* GFLOP/s of cblas_sgemm on (m x k) * (k x n) with the current OpenBLAS threads. */
double dt_bench_sgemm_gflop_s(int m, int n, int k);

/* User + system CPU seconds of this process (all threads) so far. */
double dt_bench_cpu_s(void);

/* Peak resident set of this process so far, in KiB. */
long dt_bench_peak_rss_kb(void);

/*
 * Writes a random-weight llama GGUF of a named shape: "tiny" (2 layers, dim 64, 4 heads,
 * 2 kv heads, ffn 128, vocab 512), "124m" (12 layers, dim 768, 12 heads, ffn 2048, vocab
 * 32000), "q256" (2 layers, dim 256, 4 heads, 2 kv heads, ffn 512, vocab 512: rows fit every
 * block size) or "1b" (TinyLlama-1.1B: 22 layers, dim 2048, 32 heads, 4 kv heads, ffn 5632,
 * vocab 32000). type: DT_GGML_F16 / Q8_0 / ... for the matrices (norms stay F32), or
 * DT_BENCH_Q4_K_M for llama.cpp's Q4_K_M mix. The vocabulary is a byte-level BPE one (256
 * byte tokens, then filler tokens, no merges).
 */
int dt_bench_write_synthetic(const char *path, const char *shape, uint32_t type, uint64_t seed,
                             struct dt_error *err);

/* llama.cpp's Q4_K_M mix as a pseudo-type for dt_bench_write_synthetic: Q4_K matrices, Q6_K
 * for output.weight and for attn_v / ffn_down of the layers llama-quantize gives more bits
 * (the first and last eighth, and every third in between). */
#define DT_BENCH_Q4_K_M 1000u
/* "f16", "q8_0", ..., "q4_k_m" to a type for dt_bench_write_synthetic; 0 when unknown. */
uint32_t dt_bench_type_from_name(const char *name, int *ok);

#endif

/*
 * A loaded language model: configuration, tokenizer and weight views, from a GGUF file or a
 * Hugging Face directory (config.json + model.safetensors[.index.json] + tokenizer.json).
 * Weights stay memory-mapped; matrices are used in their stored type (dequantized per row
 * block inside the matmul) so peak RSS stays near the file size plus activations.
 *
 * Architectures are rows of infer/arch.h; every key and tensor that changes the forward pass
 * is implemented or refused with its name. RoPE pairing follows the source: GGUF files of rows
 * whose converter permuted Q/K are adjacent-pair, the others and HF checkpoints half-split.
 */
#ifndef DT_INFER_MODEL_H
#define DT_INFER_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_tokenizer;

enum dt_model_format { DT_FORMAT_GGUF = 1, DT_FORMAT_SAFETENSORS = 2 };

/* RoPE frequency scaling (llama.cpp's rope.scaling.type; HF rope_scaling.rope_type). Per-pair
 * frequency factors (llama3's rope_freqs tensor, or computed from an HF llama3 rope_scaling)
 * divide the frequencies on top of any type. */
enum dt_rope_scaling { DT_ROPE_SCALING_NONE = 0, DT_ROPE_SCALING_LINEAR = 1, DT_ROPE_SCALING_YARN = 2 };

struct dt_model_config {
    const struct dt_arch *arch; /* the architecture's description (infer/arch.h) */
    int n_layer;
    int dim;            /* embedding width */
    int n_head;
    int n_head_kv;      /* < n_head for GQA, 1 for MQA */
    int head_dim;       /* usually dim / n_head */
    int ffn_dim;        /* gated FFN hidden width (dense layers) */
    int n_vocab;        /* rows of the embedding / output matrix (may exceed the tokenizer's) */
    int n_ctx_train;
    float rope_theta;
    float rope_theta_swa; /* RoPE base of local (sliding-window) layers */
    float rms_eps;      /* epsilon of every norm (RMS or LayerNorm) */
    int rope_half_split; /* 1: NEOX/half-split pairs (i, i+d/2); 0: adjacent pairs (2i, 2i+1) */
    int tied_embeddings;
    int qkv_bias;
    int rope_dim;        /* rotated dims per head (<= head_dim; == head_dim for full rotary) */
    /* RoPE scaling (global layers; local layers of gemma3 are unscaled) */
    enum dt_rope_scaling rope_scaling;
    float rope_freq_scale;   /* 1/factor for linear and YaRN */
    int rope_orig_ctx;       /* YaRN original context */
    float yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
    float *rope_freq_factors; /* (rope_dim/2) divisors of the frequencies, or NULL (owned) */
    /* attention */
    float attn_scale;        /* multiplier of q.k (default 1/sqrt(head_dim)) */
    float attn_softcap;      /* scores -> c tanh(s/c) when > 0 */
    int swa_window;          /* sliding window in tokens (0: none): key j visible iff i-j < w */
    int swa_pattern;         /* layer l is local iff swa_window and pattern == 1 (every layer)
                                or l % pattern < pattern-1 */
    /* scales */
    float embed_scale;       /* embeddings times this */
    float residual_scale;    /* block outputs times this before the residual add */
    float logit_scale;       /* logits divided by this */
    float final_softcap;     /* logits -> c tanh(l/c) when > 0 */
    /* mixture of experts (n_expert == 0: dense) */
    int n_expert, n_expert_used;
    int expert_ffn_dim, shexp_ffn_dim;
    int expert_norm;         /* renormalise the top-k softmax weights */
    float expert_weights_scale;
};

/*
 * A weight matrix of shape (rows, cols) stored row-major in `type` (cols is the contiguous
 * dimension, ggml's ne[0]). data points into the mapping.
 */
struct dt_weight {
    const void *data;
    uint32_t type;      /* enum dt_ggml_type */
    int64_t rows, cols;
    size_t row_bytes;
    const char *name;   /* borrowed, for messages */
};

struct dt_model;

/* Opens a GGUF file or a Hugging Face directory. */
int dt_model_open(const char *path, struct dt_model **out, struct dt_error *err);
void dt_model_free(struct dt_model *m);

const struct dt_model_config *dt_model_config(const struct dt_model *m);
const struct dt_tokenizer *dt_model_tokenizer(const struct dt_model *m); /* borrowed */
enum dt_model_format dt_model_format(const struct dt_model *m);
const char *dt_model_path(const struct dt_model *m);
int64_t dt_model_n_params(const struct dt_model *m);
/* Number of named weight tensors and access by index (for weight comparison signals). */
size_t dt_model_n_tensors(const struct dt_model *m);
/* Canonical GGUF-style name ("blk.0.attn_q.weight", "token_embd.weight", ...), type, shape,
 * data; for HF sources names are mapped to the GGUF names. */
int dt_model_tensor(const struct dt_model *m, size_t i, struct dt_weight *out);
int dt_model_find_tensor(const struct dt_model *m, const char *name, struct dt_weight *out);

/*
 * A compute context: what running a model needs beside its weights (the RoPE tables, grown on
 * demand; scoring workspaces kept between calls; the thread pool of generation and of large
 * models' prompt processing). The model is immutable after dt_model_open and may serve any
 * number of contexts, from any threads; a context, and every session and batch made from it,
 * is used by one caller at a time, and must outlive them. n_threads <= 0: the default
 * (DT_MODEL_DEFAULT_THREADS); at most 64. Scoring results are identical for any thread count;
 * session results for a given count.
 */
#define DT_MODEL_DEFAULT_THREADS 2
struct dt_ctx;
int dt_ctx_new(const struct dt_model *m, int n_threads, struct dt_ctx **out, struct dt_error *err);
void dt_ctx_free(struct dt_ctx *x);
const struct dt_model *dt_ctx_model(const struct dt_ctx *x); /* borrowed */
int dt_ctx_n_threads(const struct dt_ctx *x);

/*
 * Batched teacher-forced scoring. For each sequence s (tokens seqs[s][0..lens[s]-1]) the
 * model runs once over all positions (sgemm over every position of many sequences), and for
 * every position p calls cb(ud, s, p, logits) with the n_vocab next-token logits after
 * token p. The logits pointer is valid only during the call.
 * Sequences longer than the model context are an error (DT_EINVAL).
 */
typedef int (*dt_logits_cb)(void *ud, size_t i_seq, size_t i_pos, const float *logits);
int dt_ctx_score_batch(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                       size_t n_seqs, dt_logits_cb cb, void *ud, struct dt_error *err);

/* As dt_ctx_score_batch; with DT_SCORE_LAST_ONLY only the last position of each non-empty
 * sequence gets logits and a callback (prompt processing, as llama.cpp's pp benchmark). With
 * several threads the callbacks still come one at a time, in (sequence, position) order, from
 * one of the worker threads; a non-zero return stops the batch and is returned. */
enum { DT_SCORE_LAST_ONLY = 1u };
int dt_ctx_score_batch_flags(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                             size_t n_seqs, unsigned flags, dt_logits_cb cb, void *ud,
                             struct dt_error *err);

/* Incremental decoding with a KV cache, on a context (n_ctx <= 0: min(n_ctx_train, 4096);
 * clamped to n_ctx_train). */
struct dt_session;
int dt_session_new(struct dt_ctx *x, int n_ctx, struct dt_session **out, struct dt_error *err);
void dt_session_free(struct dt_session *s);
void dt_session_reset(struct dt_session *s);
int dt_session_n_past(const struct dt_session *s);
int dt_session_n_ctx(const struct dt_session *s);
/* Appends n tokens and computes logits of the last one into the session's buffer. Fails with
 * DT_EINVAL when the tokens would not fit in n_ctx or an id is outside [0, n_vocab). */
int dt_session_eval(struct dt_session *s, const int32_t *tokens, size_t n, struct dt_error *err);
/* n_vocab logits after the last evaluated token; borrowed until the next eval. */
const float *dt_session_logits(const struct dt_session *s);

/*
 * Batched incremental decoding: n_slots sequences of one context, each with its own KV cache of
 * n_ctx positions (clamped as for dt_session_new), sharing one workspace. A step feeds one
 * token to each of several slots and reads every weight row once for all of them. A slot's
 * logits are bit-identical to those of a dt_session of the same n_ctx and thread count fed
 * the same tokens (prompt with dt_batch_prefill, then one token per step): every row of a step
 * goes through the same dot kernels as a session's single-token eval.
 */
struct dt_batch;
int dt_batch_new(struct dt_ctx *x, int n_slots, int n_ctx, struct dt_batch **out,
                 struct dt_error *err);
void dt_batch_free(struct dt_batch *b);
int dt_batch_n_slots(const struct dt_batch *b);
int dt_batch_n_ctx(const struct dt_batch *b);
int dt_batch_n_past(const struct dt_batch *b, int slot);
/* Empties slot and evaluates n prompt tokens into it, as dt_session_reset + dt_session_eval. */
int dt_batch_prefill(struct dt_batch *b, int slot, const int32_t *tokens, size_t n,
                     struct dt_error *err);
/* Appends tokens[i] to slot slots[i] (distinct slots) for i < n and computes each one's next-
 * token logits. DT_EINVAL for a bad or repeated slot, a full slot, or an id outside the
 * vocabulary (nothing is changed then). */
int dt_batch_step(struct dt_batch *b, const int *slots, const int32_t *tokens, size_t n,
                  struct dt_error *err);
/* n_vocab logits after slot's last token; borrowed until that slot's next prefill or step. */
const float *dt_batch_logits(const struct dt_batch *b, int slot);

#endif

/*
 * A loaded language model: configuration, tokenizer and weight views, from a GGUF file or a
 * Hugging Face directory (config.json + model.safetensors[.index.json] + tokenizer.json).
 * Weights stay memory-mapped; matrices are used in their stored type (dequantized per row
 * block inside the matmul) so peak RSS stays near the file size plus activations.
 *
 * Architectures are rows of infer/arch.h; every key and tensor that changes the forward pass
 * is implemented or refused with its name. RoPE pairing follows the source: GGUF files of rows
 * whose converter permuted Q/K are adjacent-pair, the others and HF checkpoints half-split.
 *
 * The model is immutable once opened; running it (scoring, sessions, batches) takes a compute
 * context of infer/compute.h.
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

/* Inference threads of a compute context whose caller set none (infer/compute.h; what a run
 * records as its threads). */
#define DT_MODEL_DEFAULT_THREADS 2

#endif

/*
 * Architectures as descriptions. One row per GGUF `general.architecture` name says which
 * `ARCH.*` metadata keys the loader understands for it, which block tensors it requires or
 * accepts, and the options of its block (norm type, QK-norm, activation, RoPE layout of GGUF
 * files, embedding scale, sliding-window pattern, MoE gating). model.c loads, validates and
 * refuses from the row; forward.c runs the block the row and the loaded tensors describe;
 * weights.c and the reports read the row's name. Adding an architecture is one row (plus new
 * block math only when it is really new).
 *
 * Anything that would change the forward pass and that a row does not name is refused by the
 * loader with the key or tensor named, never ignored.
 */
#ifndef DT_INFER_ARCH_H
#define DT_INFER_ARCH_H

#include <stdint.h>

/* Block tensors, by their GGUF name after "blk.N.". */
enum dt_bt {
    DT_BT_ATTN_NORM,      /* attn_norm.weight (dim) */
    DT_BT_ATTN_NORM_B,    /* attn_norm.bias (dim): LayerNorm */
    DT_BT_Q,              /* attn_q.weight (n_head*head_dim, dim) */
    DT_BT_K,              /* attn_k.weight (n_head_kv*head_dim, dim) */
    DT_BT_V,              /* attn_v.weight */
    DT_BT_QKV,            /* attn_qkv.weight (q|k|v rows, dim): fused */
    DT_BT_O,              /* attn_output.weight (dim, n_head*head_dim) */
    DT_BT_BQ,             /* attn_q.bias */
    DT_BT_BK,             /* attn_k.bias */
    DT_BT_BV,             /* attn_v.bias */
    DT_BT_BQKV,           /* attn_qkv.bias */
    DT_BT_BO,             /* attn_output.bias (dim) */
    DT_BT_Q_NORM,         /* attn_q_norm.weight (head_dim) per head, or (n_head*head_dim) */
    DT_BT_K_NORM,         /* attn_k_norm.weight */
    DT_BT_ATTN_POST_NORM, /* post_attention_norm.weight (dim): norm of the attention output */
    DT_BT_FFN_NORM,       /* ffn_norm.weight (dim) */
    DT_BT_FFN_NORM_B,     /* ffn_norm.bias (dim) */
    DT_BT_GATE,           /* ffn_gate.weight (ffn, dim) */
    DT_BT_UP,             /* ffn_up.weight (ffn, dim), or (2 ffn, dim) gate|up when fused */
    DT_BT_DOWN,           /* ffn_down.weight (dim, ffn) */
    DT_BT_FFN_POST_NORM,  /* post_ffw_norm.weight (dim) */
    DT_BT_GATE_INP,       /* ffn_gate_inp.weight (n_expert, dim): router */
    DT_BT_GATE_EXPS,      /* ffn_gate_exps.weight (n_expert, expert_ffn, dim) */
    DT_BT_UP_EXPS,        /* ffn_up_exps.weight */
    DT_BT_DOWN_EXPS,      /* ffn_down_exps.weight (n_expert, dim, expert_ffn) */
    DT_BT_GATE_INP_SHEXP, /* ffn_gate_inp_shexp.weight (dim): sigmoid gate of the shared expert */
    DT_BT_GATE_SHEXP,     /* ffn_gate_shexp.weight (shexp_ffn, dim) */
    DT_BT_UP_SHEXP,       /* ffn_up_shexp.weight */
    DT_BT_DOWN_SHEXP,     /* ffn_down_shexp.weight (dim, shexp_ffn) */
    DT_BT_COUNT
};
#define DT_BT(x) (1ull << (DT_BT_##x))

/* `ARCH.*` metadata keys, by their suffix. */
enum dt_key {
    DT_K_CONTEXT_LENGTH,
    DT_K_EMBEDDING_LENGTH,
    DT_K_BLOCK_COUNT,
    DT_K_FEED_FORWARD_LENGTH,
    DT_K_HEAD_COUNT,
    DT_K_HEAD_COUNT_KV,
    DT_K_KEY_LENGTH,
    DT_K_VALUE_LENGTH,
    DT_K_RMS_EPS,
    DT_K_LN_EPS,
    DT_K_ROPE_DIM,
    DT_K_ROPE_BASE,
    DT_K_ROPE_BASE_SWA,
    DT_K_ROPE_SCALE_LINEAR,   /* old GGUF: rope.scale_linear */
    DT_K_RS_TYPE,
    DT_K_RS_FACTOR,
    DT_K_RS_ORIG_CTX,
    DT_K_RS_ATTN_FACTOR,      /* llama.cpp's rope_attn_factor: used by few archs, only 1 accepted */
    DT_K_RS_YARN_ATTN_FACTOR,
    DT_K_RS_BETA_FAST,
    DT_K_RS_BETA_SLOW,
    DT_K_RS_EXT_FACTOR,
    DT_K_RS_LOG_MUL,
    DT_K_RS_FINETUNED,
    DT_K_VOCAB_SIZE,
    DT_K_SLIDING_WINDOW,
    DT_K_SLIDING_WINDOW_PATTERN, /* accepted when it equals the row's pattern */
    DT_K_ATTN_SOFTCAP,
    DT_K_FINAL_SOFTCAP,
    DT_K_EXPERT_COUNT,
    DT_K_EXPERT_USED,
    DT_K_EXPERT_FFN,
    DT_K_EXPERT_SHARED_FFN,
    DT_K_EXPERT_WEIGHTS_NORM,
    DT_K_EXPERT_WEIGHTS_SCALE,
    DT_K_EXPERT_GATING,
    DT_K_EMBEDDING_SCALE,
    DT_K_RESIDUAL_SCALE,
    DT_K_LOGIT_SCALE,
    DT_K_ATTN_SCALE,
    DT_K_CAUSAL,
    DT_K_PARALLEL_RESIDUAL,
    DT_K_COUNT
};
#define DT_KEY(x) (1ull << (DT_K_##x))

enum dt_norm_kind { DT_NORM_RMS = 0, DT_NORM_LAYER = 1 };
enum dt_act { DT_ACT_SILU = 0, DT_ACT_GELU_TANH = 1 };
enum dt_qk_norm { DT_QK_NORM_NONE = 0, DT_QK_NORM_HEAD = 1, DT_QK_NORM_FULL = 2 };
enum dt_rope_layout { DT_ROPE_ADJACENT = 0, DT_ROPE_HALF_SPLIT = 1 };

enum {
    DT_AF_EMBED_SCALE_SQRT = 1u << 0, /* embeddings times sqrt(dim) (gemma) */
    DT_AF_FUSED_UP = 1u << 1,         /* ffn_up holds gate|up, no ffn_gate (phi3) */
    DT_AF_HF_NORM_PLUS_ONE = 1u << 2, /* HF norm weights are w-1 (gemma's (1+w)); GGUF adds 1 */
    DT_AF_HF_TIED = 1u << 3,          /* HF default of tie_word_embeddings is true */
    DT_AF_MOE_NORM = 1u << 4,         /* top-k expert weights renormalised to sum 1 */
    DT_AF_ROPE_FREQS = 1u << 5,       /* accepts llama3's rope_freqs.weight frequency factors */
};

struct dt_arch {
    const char *name;              /* GGUF general.architecture */
    const char *const *hf_types;   /* config.json model_type values, NULL-terminated */
    uint64_t keys;                 /* DT_KEY() mask of the ARCH.* keys understood */
    uint64_t required;             /* DT_BT() mask of block tensors every layer must have */
    uint64_t optional;             /* block tensors a layer may have */
    enum dt_norm_kind norm;
    enum dt_act act;
    enum dt_qk_norm qk_norm;
    enum dt_rope_layout gguf_rope; /* layout of GGUF files (HF checkpoints are half-split) */
    int swa_pattern;               /* 0: no sliding window; n > 1: layer i is local iff
                                      i % n < n-1 (an HF Mistral config's window: every layer) */
    int rope_swa_fixed_base;       /* >0: local layers use this RoPE base, unscaled (gemma3) */
    int attn_scale_dim_layers;     /* llama.cpp scales q by 1/sqrt(dim/n_head) instead of
                                      1/sqrt(head_dim) for this layer count (gemma 27B) */
    float attn_softcap_default;    /* llama.cpp's value when the key is absent (0: none) */
    float final_softcap_default;
    unsigned flags;                /* DT_AF_* */
};

/* The row for a GGUF architecture name, or NULL. */
const struct dt_arch *dt_arch_find(const char *name);
/* The row whose hf_types holds model_type, or NULL. */
const struct dt_arch *dt_arch_find_hf(const char *model_type);
/* Rows in table order, for listings; NULL past the end. */
const struct dt_arch *dt_arch_at(int i);
/* Suffix of an ARCH.* key ("rope.freq_base"), and the key for a suffix (-1 when unknown). */
const char *dt_arch_key_suffix(enum dt_key k);
int dt_arch_key_find(const char *suffix);
/* Name after "blk.N." of a block tensor, and the tensor for a name (-1 when unknown). */
const char *dt_arch_bt_name(enum dt_bt t);
int dt_arch_bt_find(const char *suffix);
/* Comma-separated list of the supported architecture names (static storage). */
const char *dt_arch_names(void);

#endif

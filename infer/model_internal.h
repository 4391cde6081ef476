/*
 * Private layout of struct dt_model, shared by infer/model.c (loading and validation) and
 * infer/forward.c (compute, which keeps its per-caller state in struct dt_ctx). Not for use
 * outside infer/.
 */
#ifndef DT_INFER_MODEL_INTERNAL_H
#define DT_INFER_MODEL_INTERNAL_H

#include "infer/model.h"

struct dt_gguf;
struct dt_st_set;

struct dt_layer {
    /* Matrices; an absent one has data == NULL. Fused q|k|v sits in wq (wk, wv absent);
     * a fused gate|up sits in w_up (w_gate absent). */
    struct dt_weight wq;       /* (n_head*head_dim, dim), or (qd + 2 kvd, dim) fused */
    struct dt_weight wk, wv;   /* (n_head_kv*head_dim, dim) */
    struct dt_weight wo;       /* (dim, n_head*head_dim) */
    struct dt_weight w_gate;   /* (ffn_dim, dim) */
    struct dt_weight w_up;     /* (ffn_dim, dim), or (2 ffn_dim, dim) fused gate|up */
    struct dt_weight w_down;   /* (dim, ffn_dim) */
    /* experts: (n_expert * expert_ffn, dim) x2, (n_expert * dim, expert_ffn) */
    struct dt_weight w_gate_inp;                   /* (n_expert, dim) router */
    struct dt_weight w_gate_exps, w_up_exps, w_down_exps;
    struct dt_weight w_gate_shexp, w_up_shexp;     /* (shexp_ffn, dim) */
    struct dt_weight w_down_shexp;                 /* (dim, shexp_ffn) */
    /* f32 copies of vectors; NULL when the layer has none */
    float *attn_norm, *attn_norm_b;   /* (dim) pre-attention norm weight and (LayerNorm) bias */
    float *ffn_norm, *ffn_norm_b;     /* (dim) */
    float *attn_post_norm;            /* (dim) norm of the attention output */
    float *ffn_post_norm;             /* (dim) norm of the FFN output */
    float *q_norm, *k_norm;           /* (head_dim) per head, or (qd) / (kvd) over all heads */
    float *bq, *bk, *bv;              /* (qd), (kvd), (kvd) */
    float *bo;                        /* (dim) */
    float *gate_inp_shexp;            /* (dim) */
    int is_swa;                       /* local (sliding-window) layer */
};

struct dt_model {
    char *path;
    enum dt_model_format format;
    struct dt_model_config cfg;
    struct dt_gguf *gguf;      /* GGUF source, or NULL */
    struct dt_st_set *st;      /* safetensors source, or NULL */
    struct dt_tokenizer *tok;

    size_t n_tensors;
    struct dt_weight *tensors; /* every tensor of the file, canonical names */
    char **names;              /* owned canonical names (parallel to tensors) */
    void **owned;              /* tensor data the model built (HF experts stacked), freed with it */
    /* When an architecture without sliding-window layers carries a window shorter than its
     * context, the context is cut to the window (positions inside it are exact whether the
     * window applies or not) and this names the key, for messages; else empty. */
    char ctx_window_key[96];
    size_t n_owned;
    int64_t n_params;

    struct dt_weight tok_embd; /* (n_vocab, dim) */
    struct dt_weight output;   /* (n_vocab, dim); == tok_embd when tied */
    float *output_norm;        /* (dim) */
    float *output_norm_b;      /* (dim) LayerNorm bias, or NULL */
    struct dt_layer *layers;   /* n_layer */

    /* Optional f32 copies of every matrix (small models only, see forward.c), built by
     * dt_forward_init at open time so the model is immutable afterwards and every context
     * shares them. q/k/v and gate/up of a layer are stored back to back so each pair/triple is
     * one sgemm. */
    int f32_state;             /* 1 cached, -1 not caching */
    float **f32;               /* indexed like slot_weight() in forward.c */
};

/* Builds forward.c's weight-derived state of a loaded model (the f32 cache when the model is
 * small enough), and frees it. */
int dt_forward_init(struct dt_model *m, struct dt_error *err);
void dt_forward_release(struct dt_model *m);

#endif

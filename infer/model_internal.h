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

    /* Optional f32 copies of every dense matrix (models of at most DT_F32_CACHE_MB of them),
     * built at open time so the model is immutable afterwards and every context shares them.
     * q/k/v and gate/up of a layer are stored back to back so each triple/pair is one sgemm. */
    int f32_state;             /* 1 cached, -1 not caching */
    float **f32;               /* (n_slots) indexed by slot, below */
};

/*
 * Slots: the dense matrices of the forward pass in a fixed order (the output matrix, then per
 * layer q, k, v, o, gate, up, down), the index of the f32 cache. Shared by model.c, which
 * builds the cache, and forward.c, which reads it.
 */
enum { SLOT_OUTPUT = 0, SLOT_LAYER0 = 2, SLOTS_PER_LAYER = 7 };
/* Slot offsets inside a layer; q,k,v and gate,up are adjacent so they can be fused. */
enum { S_Q = 0, S_K = 1, S_V = 2, S_O = 3, S_GATE = 4, S_UP = 5, S_DOWN = 6 };

static inline size_t n_slots(const struct dt_model *m)
{
    return SLOT_LAYER0 + SLOTS_PER_LAYER * (size_t)m->cfg.n_layer;
}

/* The matrix of a slot, or NULL when the model has none there (fused q|k|v leaves k and v
 * empty, a fused gate|up leaves gate empty, experts leave the dense FFN empty). */
static inline const struct dt_weight *slot_weight(const struct dt_model *m, size_t slot)
{
    const struct dt_weight *w;
    if (slot == SLOT_OUTPUT)
        return &m->output;
    if (slot < SLOT_LAYER0)
        return NULL;
    const struct dt_layer *l = &m->layers[(slot - SLOT_LAYER0) / SLOTS_PER_LAYER];
    switch ((slot - SLOT_LAYER0) % SLOTS_PER_LAYER) {
    case S_Q: w = &l->wq; break;
    case S_K: w = &l->wk; break;
    case S_V: w = &l->wv; break;
    case S_O: w = &l->wo; break;
    case S_GATE: w = &l->w_gate; break;
    case S_UP: w = &l->w_up; break;
    default: w = &l->w_down; break;
    }
    return w->data ? w : NULL;
}

/* Slots that own their cache allocation (the first slot of each fused group, present or
 * not). */
static inline int slot_owns(size_t slot)
{
    if (slot == SLOT_OUTPUT)
        return 1;
    if (slot < SLOT_LAYER0)
        return 0;
    size_t o = (slot - SLOT_LAYER0) % SLOTS_PER_LAYER;
    return o == S_Q || o == S_O || o == S_GATE || o == S_DOWN;
}

/* Slots in the group starting at an owning slot. */
static inline int group_len(size_t slot)
{
    if (slot == SLOT_OUTPUT)
        return 1;
    size_t o = (slot - SLOT_LAYER0) % SLOTS_PER_LAYER;
    return o == S_Q ? 3 : o == S_GATE ? 2 : 1;
}

#endif

/*
 * The architecture table (see arch.h). Semantics follow llama.cpp's llama-model.cpp (which
 * keys each architecture reads, which tensors it creates, how its block is built) and Hugging
 * Face transformers' modeling_*.py for the same families. A key or tensor missing from a row
 * is refused by the loader, so a row only lists what forward.c implements exactly.
 */
#include "infer/arch.h"

#include <pthread.h>
#include <string.h>

static const char *const key_suffix[DT_K_COUNT] = {
    [DT_K_CONTEXT_LENGTH] = "context_length",
    [DT_K_EMBEDDING_LENGTH] = "embedding_length",
    [DT_K_BLOCK_COUNT] = "block_count",
    [DT_K_FEED_FORWARD_LENGTH] = "feed_forward_length",
    [DT_K_HEAD_COUNT] = "attention.head_count",
    [DT_K_HEAD_COUNT_KV] = "attention.head_count_kv",
    [DT_K_KEY_LENGTH] = "attention.key_length",
    [DT_K_VALUE_LENGTH] = "attention.value_length",
    [DT_K_RMS_EPS] = "attention.layer_norm_rms_epsilon",
    [DT_K_LN_EPS] = "attention.layer_norm_epsilon",
    [DT_K_ROPE_DIM] = "rope.dimension_count",
    [DT_K_ROPE_BASE] = "rope.freq_base",
    [DT_K_ROPE_BASE_SWA] = "rope.freq_base_swa",
    [DT_K_ROPE_SCALE_LINEAR] = "rope.scale_linear",
    [DT_K_RS_TYPE] = "rope.scaling.type",
    [DT_K_RS_FACTOR] = "rope.scaling.factor",
    [DT_K_RS_ORIG_CTX] = "rope.scaling.original_context_length",
    [DT_K_RS_ATTN_FACTOR] = "rope.scaling.attn_factor",
    [DT_K_RS_YARN_ATTN_FACTOR] = "rope.scaling.yarn_attn_factor",
    [DT_K_RS_BETA_FAST] = "rope.scaling.yarn_beta_fast",
    [DT_K_RS_BETA_SLOW] = "rope.scaling.yarn_beta_slow",
    [DT_K_RS_EXT_FACTOR] = "rope.scaling.yarn_ext_factor",
    [DT_K_RS_LOG_MUL] = "rope.scaling.yarn_log_multiplier",
    [DT_K_RS_FINETUNED] = "rope.scaling.finetuned",
    [DT_K_VOCAB_SIZE] = "vocab_size",
    [DT_K_SLIDING_WINDOW] = "attention.sliding_window",
    [DT_K_SLIDING_WINDOW_PATTERN] = "attention.sliding_window_pattern",
    [DT_K_ATTN_SOFTCAP] = "attn_logit_softcapping",
    [DT_K_FINAL_SOFTCAP] = "final_logit_softcapping",
    [DT_K_EXPERT_COUNT] = "expert_count",
    [DT_K_EXPERT_USED] = "expert_used_count",
    [DT_K_EXPERT_FFN] = "expert_feed_forward_length",
    [DT_K_EXPERT_SHARED_FFN] = "expert_shared_feed_forward_length",
    [DT_K_EXPERT_WEIGHTS_NORM] = "expert_weights_norm",
    [DT_K_EXPERT_WEIGHTS_SCALE] = "expert_weights_scale",
    [DT_K_EXPERT_GATING] = "expert_gating_func",
    [DT_K_EMBEDDING_SCALE] = "embedding_scale",
    [DT_K_RESIDUAL_SCALE] = "residual_scale",
    [DT_K_LOGIT_SCALE] = "logit_scale",
    [DT_K_ATTN_SCALE] = "attention.scale",
    [DT_K_CAUSAL] = "attention.causal",
    [DT_K_PARALLEL_RESIDUAL] = "use_parallel_residual",
};

static const char *const bt_name[DT_BT_COUNT] = {
    [DT_BT_ATTN_NORM] = "attn_norm.weight",
    [DT_BT_ATTN_NORM_B] = "attn_norm.bias",
    [DT_BT_Q] = "attn_q.weight",
    [DT_BT_K] = "attn_k.weight",
    [DT_BT_V] = "attn_v.weight",
    [DT_BT_QKV] = "attn_qkv.weight",
    [DT_BT_O] = "attn_output.weight",
    [DT_BT_BQ] = "attn_q.bias",
    [DT_BT_BK] = "attn_k.bias",
    [DT_BT_BV] = "attn_v.bias",
    [DT_BT_BQKV] = "attn_qkv.bias",
    [DT_BT_BO] = "attn_output.bias",
    [DT_BT_Q_NORM] = "attn_q_norm.weight",
    [DT_BT_K_NORM] = "attn_k_norm.weight",
    [DT_BT_ATTN_POST_NORM] = "post_attention_norm.weight",
    [DT_BT_FFN_NORM] = "ffn_norm.weight",
    [DT_BT_FFN_NORM_B] = "ffn_norm.bias",
    [DT_BT_GATE] = "ffn_gate.weight",
    [DT_BT_UP] = "ffn_up.weight",
    [DT_BT_DOWN] = "ffn_down.weight",
    [DT_BT_FFN_POST_NORM] = "post_ffw_norm.weight",
    [DT_BT_GATE_INP] = "ffn_gate_inp.weight",
    [DT_BT_GATE_EXPS] = "ffn_gate_exps.weight",
    [DT_BT_UP_EXPS] = "ffn_up_exps.weight",
    [DT_BT_DOWN_EXPS] = "ffn_down_exps.weight",
    [DT_BT_GATE_INP_SHEXP] = "ffn_gate_inp_shexp.weight",
    [DT_BT_GATE_SHEXP] = "ffn_gate_shexp.weight",
    [DT_BT_UP_SHEXP] = "ffn_up_shexp.weight",
    [DT_BT_DOWN_SHEXP] = "ffn_down_shexp.weight",
};

/* Keys every row understands: shapes, RoPE and its scaling, and keys without effect on the
 * logits of the positions evaluated (context length, vocab size, finetuned flag, causal). */
#define BASE_KEYS                                                                              \
    (DT_KEY(CONTEXT_LENGTH) | DT_KEY(EMBEDDING_LENGTH) | DT_KEY(BLOCK_COUNT) |                 \
     DT_KEY(FEED_FORWARD_LENGTH) | DT_KEY(HEAD_COUNT) | DT_KEY(HEAD_COUNT_KV) |                \
     DT_KEY(KEY_LENGTH) | DT_KEY(VALUE_LENGTH) | DT_KEY(ROPE_DIM) | DT_KEY(ROPE_BASE) |        \
     DT_KEY(ROPE_SCALE_LINEAR) | DT_KEY(RS_TYPE) | DT_KEY(RS_FACTOR) | DT_KEY(RS_ORIG_CTX) |   \
     DT_KEY(RS_ATTN_FACTOR) | DT_KEY(RS_YARN_ATTN_FACTOR) | DT_KEY(RS_BETA_FAST) | DT_KEY(RS_BETA_SLOW) |                    \
     DT_KEY(RS_EXT_FACTOR) | DT_KEY(RS_FINETUNED) | DT_KEY(VOCAB_SIZE) | DT_KEY(CAUSAL) |      \
     DT_KEY(SLIDING_WINDOW) | DT_KEY(SLIDING_WINDOW_PATTERN))
#define RMS_KEYS (BASE_KEYS | DT_KEY(RMS_EPS))
#define MOE_KEYS                                                                               \
    (DT_KEY(EXPERT_COUNT) | DT_KEY(EXPERT_USED) | DT_KEY(EXPERT_FFN) |                         \
     DT_KEY(EXPERT_WEIGHTS_NORM) | DT_KEY(EXPERT_WEIGHTS_SCALE) | DT_KEY(EXPERT_GATING))

#define ATTN_SPLIT (DT_BT(Q) | DT_BT(K) | DT_BT(V) | DT_BT(O))
#define QKV_BIAS (DT_BT(BQ) | DT_BT(BK) | DT_BT(BV))
#define DENSE_FFN (DT_BT(GATE) | DT_BT(UP) | DT_BT(DOWN))
#define MOE_FFN (DT_BT(GATE_INP) | DT_BT(GATE_EXPS) | DT_BT(UP_EXPS) | DT_BT(DOWN_EXPS))
#define SHARED_EXPERT                                                                          \
    (DT_BT(GATE_INP_SHEXP) | DT_BT(GATE_SHEXP) | DT_BT(UP_SHEXP) | DT_BT(DOWN_SHEXP))
#define PRE_NORMS (DT_BT(ATTN_NORM) | DT_BT(FFN_NORM))
#define POST_NORMS (DT_BT(ATTN_POST_NORM) | DT_BT(FFN_POST_NORM))

static const char *const hf_llama[] = {"llama", "mistral", "mixtral", NULL};
static const char *const hf_qwen2moe[] = {"qwen2_moe", NULL};
static const char *const hf_qwen3moe[] = {"qwen3_moe", NULL};
static const char *const hf_qwen2[] = {"qwen2", NULL};
static const char *const hf_qwen3[] = {"qwen3", NULL};
static const char *const hf_gemma2[] = {"gemma2", NULL};
static const char *const hf_gemma3[] = {"gemma3_text", NULL};
static const char *const hf_phi3[] = {"phi3", NULL};
static const char *const hf_granite[] = {"granite", NULL};
static const char *const hf_olmo2[] = {"olmo2", NULL};
static const char *const hf_stablelm[] = {"stablelm", NULL};

static const struct dt_arch table[] = {
    /* Llama 1-3, Mistral, Mixtral (experts in place of the dense FFN), DeepSeek-LLM. The
     * converter permuted Q/K rows to adjacent-pair RoPE; biases are optional (llama.cpp
     * creates all four as not required). Mixtral renormalises its top-k weights. */
    {.name = "llama", .hf_types = hf_llama,
     .keys = RMS_KEYS | MOE_KEYS | DT_KEY(ATTN_SCALE),
     .required = PRE_NORMS | ATTN_SPLIT,
     .optional = QKV_BIAS | DT_BT(BO) | DENSE_FFN | MOE_FFN,
     .gguf_rope = DT_ROPE_ADJACENT, .flags = DT_AF_MOE_NORM | DT_AF_ROPE_FREQS},
    {.name = "qwen2", .hf_types = hf_qwen2, .keys = RMS_KEYS,
     .required = PRE_NORMS | ATTN_SPLIT | QKV_BIAS | DENSE_FFN,
     .gguf_rope = DT_ROPE_HALF_SPLIT},
    /* Qwen1.5-MoE / Qwen2-MoE: softmax top-k without renormalisation, plus a shared expert
     * behind a sigmoid gate. */
    {.name = "qwen2moe", .hf_types = hf_qwen2moe,
     .keys = RMS_KEYS | MOE_KEYS | DT_KEY(EXPERT_SHARED_FFN),
     .required = PRE_NORMS | ATTN_SPLIT | QKV_BIAS | MOE_FFN, .optional = SHARED_EXPERT,
     .gguf_rope = DT_ROPE_HALF_SPLIT},
    {.name = "qwen3", .hf_types = hf_qwen3, .keys = RMS_KEYS,
     .required = PRE_NORMS | ATTN_SPLIT | DENSE_FFN | DT_BT(Q_NORM) | DT_BT(K_NORM),
     .qk_norm = DT_QK_NORM_HEAD, .gguf_rope = DT_ROPE_HALF_SPLIT},
    {.name = "qwen3moe", .hf_types = hf_qwen3moe, .keys = RMS_KEYS | MOE_KEYS,
     .required = PRE_NORMS | ATTN_SPLIT | MOE_FFN | DT_BT(Q_NORM) | DT_BT(K_NORM),
     .qk_norm = DT_QK_NORM_HEAD, .gguf_rope = DT_ROPE_HALF_SPLIT, .flags = DT_AF_MOE_NORM},
    /* Gemma 2: pre and post norms around attention and FFN, GELU (tanh) gating, embeddings
     * times sqrt(dim), soft-capped attention scores and logits, every other layer local.
     * llama.cpp's converter stores norm weights as 1+w. */
    {.name = "gemma2", .hf_types = hf_gemma2,
     .keys = RMS_KEYS | DT_KEY(ATTN_SOFTCAP) | DT_KEY(FINAL_SOFTCAP),
     .required = PRE_NORMS | POST_NORMS | ATTN_SPLIT | DENSE_FFN, .act = DT_ACT_GELU_TANH,
     .gguf_rope = DT_ROPE_HALF_SPLIT, .swa_pattern = 2, .attn_scale_dim_layers = 46,
     .attn_softcap_default = 50.0f, .final_softcap_default = 30.0f,
     .flags = DT_AF_EMBED_SCALE_SQRT | DT_AF_HF_NORM_PLUS_ONE | DT_AF_HF_TIED},
    /* Gemma 3 (text): as Gemma 2 with per-head QK-norm instead of attention soft-capping,
     * five local layers (RoPE base 10000, unscaled) to one global. */
    {.name = "gemma3", .hf_types = hf_gemma3, .keys = RMS_KEYS | DT_KEY(FINAL_SOFTCAP),
     .required = PRE_NORMS | POST_NORMS | ATTN_SPLIT | DENSE_FFN | DT_BT(Q_NORM) |
                 DT_BT(K_NORM),
     .act = DT_ACT_GELU_TANH, .qk_norm = DT_QK_NORM_HEAD, .gguf_rope = DT_ROPE_HALF_SPLIT,
     .swa_pattern = 6, .rope_swa_fixed_base = 10000, .attn_scale_dim_layers = 62,
     .flags = DT_AF_EMBED_SCALE_SQRT | DT_AF_HF_NORM_PLUS_ONE | DT_AF_HF_TIED},
    /* Phi-3/Phi-4: fused q|k|v (or split), ffn_up holding gate|up. LongRoPE factor tensors
     * are not in the row, so they are refused by name. */
    {.name = "phi3", .hf_types = hf_phi3, .keys = RMS_KEYS,
     .required = PRE_NORMS | DT_BT(O) | DT_BT(UP) | DT_BT(DOWN),
     .optional = DT_BT(QKV) | DT_BT(Q) | DT_BT(K) | DT_BT(V), .gguf_rope = DT_ROPE_HALF_SPLIT,
     .flags = DT_AF_FUSED_UP},
    /* Granite 3: llama with embedding, residual, attention and logit multipliers. */
    {.name = "granite", .hf_types = hf_granite,
     .keys = RMS_KEYS | DT_KEY(EMBEDDING_SCALE) | DT_KEY(RESIDUAL_SCALE) |
             DT_KEY(LOGIT_SCALE) | DT_KEY(ATTN_SCALE),
     .required = PRE_NORMS | ATTN_SPLIT | DENSE_FFN, .optional = QKV_BIAS | DT_BT(BO),
     .gguf_rope = DT_ROPE_ADJACENT, .flags = DT_AF_ROPE_FREQS},
    /* OLMo 2: no pre-norms; norms of the attention and FFN outputs; QK-norm over all heads. */
    {.name = "olmo2", .hf_types = hf_olmo2, .keys = RMS_KEYS,
     .required = POST_NORMS | ATTN_SPLIT | DENSE_FFN | DT_BT(Q_NORM) | DT_BT(K_NORM),
     .qk_norm = DT_QK_NORM_FULL, .gguf_rope = DT_ROPE_HALF_SPLIT},
    /* StableLM 2: LayerNorm with bias, partial rotary, optional q/k/v biases; the parallel
     * residual variant is refused by its key's value. */
    {.name = "stablelm", .hf_types = hf_stablelm,
     .keys = BASE_KEYS | DT_KEY(LN_EPS) | DT_KEY(PARALLEL_RESIDUAL),
     .required = PRE_NORMS | DT_BT(ATTN_NORM_B) | DT_BT(FFN_NORM_B) | ATTN_SPLIT | DENSE_FFN,
     .optional = QKV_BIAS, .norm = DT_NORM_LAYER, .gguf_rope = DT_ROPE_HALF_SPLIT},
};

#define N_ROWS (sizeof table / sizeof table[0])

const struct dt_arch *dt_arch_find(const char *name)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

const struct dt_arch *dt_arch_find_hf(const char *model_type)
{
    for (size_t i = 0; i < N_ROWS; i++)
        for (const char *const *t = table[i].hf_types; t && *t; t++)
            if (!strcmp(*t, model_type))
                return &table[i];
    return NULL;
}

const struct dt_arch *dt_arch_at(int i)
{
    return i >= 0 && (size_t)i < N_ROWS ? &table[i] : NULL;
}

const char *dt_arch_key_suffix(enum dt_key k)
{
    return (unsigned)k < DT_K_COUNT ? key_suffix[k] : NULL;
}

int dt_arch_key_find(const char *suffix)
{
    for (int k = 0; k < DT_K_COUNT; k++)
        if (!strcmp(key_suffix[k], suffix))
            return k;
    return -1;
}

const char *dt_arch_bt_name(enum dt_bt t)
{
    return (unsigned)t < DT_BT_COUNT ? bt_name[t] : NULL;
}

int dt_arch_bt_find(const char *suffix)
{
    for (int t = 0; t < DT_BT_COUNT; t++)
        if (!strcmp(bt_name[t], suffix))
            return t;
    return -1;
}

static char names_buf[256];

static void build_names(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        size_t l = strlen(table[i].name);
        if (n + l + 3 >= sizeof names_buf)
            break;
        if (n) {
            memcpy(names_buf + n, ", ", 2);
            n += 2;
        }
        memcpy(names_buf + n, table[i].name, l);
        n += l;
    }
    names_buf[n] = 0;
}

const char *dt_arch_names(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_names);
    return names_buf;
}

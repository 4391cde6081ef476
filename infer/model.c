/*
 * Model loading: GGUF files and Hugging Face checkpoints (config.json + safetensors +
 * tokenizer.json) into one struct dt_model with GGUF-style tensor names.
 *
 * The configuration comes from `<arch>.*` GGUF keys or config.json; every tensor the forward
 * pass uses is then looked up and its type and shape checked against the configuration, with
 * an error naming the tensor. Matrices stay views into the mapping; only the small 1-D vectors
 * (norm weights, biases) are copied to f32 here. Sizes are bounded (layers <= 4096, widths <=
 * 2^20) so products of them fit comfortably in int64 and size_t.
 *
 * The architecture is a row of infer/arch.h. Every `ARCH.*` key must be one the row
 * understands and every tensor one the row names (a tensor the forward would ignore, or a key
 * it would not honour, is a wrong logit): anything else is refused with its name. Values the
 * forward pass cannot reproduce exactly (a RoPE scaling type, a sliding window shorter than
 * the context on an architecture without one, parallel residuals...) are refused by key.
 *
 * RoPE pairing: GGUF files of rows with adjacent-pair layout (llama, granite) were permuted by
 * llama.cpp's converter; the other GGUF rows and every HF checkpoint rotate half-split pairs.
 */
#include "infer/model.h"

#include "infer/arch.h"
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "infer/model_internal.h"
#include "infer/safetensors.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 4096
#define MAX_WIDTH (1 << 20)
#define MAX_VOCAB (1 << 24)

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- tensor table ---- */

static int add_tensor(struct dt_model *m, const char *name, uint32_t type, int64_t rows,
                      int64_t cols, const void *data, int64_t n_elems, struct dt_error *err)
{
    char *copy = dt_strdup(name);
    if (!copy)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    struct dt_weight *w = &m->tensors[m->n_tensors];
    m->names[m->n_tensors] = copy;
    w->data = data;
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->name = copy;
    w->row_bytes = 0;
    if (cols > 0 && dt_ggml_block_elems(type) && cols % (int64_t)dt_ggml_block_elems(type) == 0)
        dt_ggml_row_bytes(type, cols, &w->row_bytes);
    m->n_tensors++;
    m->n_params += n_elems;
    return 0;
}

static const struct dt_weight *find_weight(const struct dt_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return &m->tensors[i];
    return NULL;
}

/* Looks up a matrix and checks its shape and type. optional: absent is not an error. */
static int get_matrix(const struct dt_model *m, const char *name, int64_t rows, int64_t cols,
                      struct dt_weight *out, int optional, struct dt_error *err)
{
    const struct dt_weight *w = find_weight(m, name);
    if (!w) {
        if (optional) {
            memset(out, 0, sizeof *out);
            return DT_ENOTFOUND;
        }
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' is missing", name);
    }
    if (!dt_ggml_type_supported(w->type)) {
        const char *tn = dt_ggml_type_name(w->type);
        return dt_error_set(err, DT_EUNSUPPORTED, "tensor '%s' has unsupported type '%s'", name,
                            tn ? tn : "unknown");
    }
    if (w->rows != rows || w->cols != cols)
        return dt_error_set(err, DT_EFORMAT,
                            "tensor '%s' has shape (%lld, %lld), expected (%lld, %lld)", name,
                            (long long)w->rows, (long long)w->cols, (long long)rows,
                            (long long)cols);
    if (w->row_bytes == 0)
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' row of %lld elements does not fit its type",
                            name, (long long)cols);
    *out = *w;
    return 0;
}

/* A 1-D vector of n elements, copied to f32; plus_one adds 1 to every element (gemma's HF
 * norm weights, stored as w - 1). */
static int get_vector(const struct dt_model *m, const char *name, int64_t n, float **out,
                      int optional, int plus_one, struct dt_error *err)
{
    struct dt_weight w;
    int rc = get_matrix(m, name, 1, n, &w, optional, err);
    if (rc)
        return rc;
    float *v = dt_malloc_array((size_t)n, sizeof(float));
    if (!v)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    dt_ggml_dequantize(w.type, w.data, v, n);
    for (int64_t i = 0; i < n; i++) {
        if (plus_one)
            v[i] += 1.0f;
        if (!isfinite(v[i])) {
            dt_free(v);
            return dt_error_set(err, DT_EFORMAT, "tensor '%s' element %lld is not finite", name,
                                (long long)i);
        }
    }
    *out = v;
    return 0;
}

/* ---- configuration ---- */

/* Defaults before any key is read. */
static void config_defaults(struct dt_model_config *c, const struct dt_arch *a)
{
    c->arch = a;
    c->rope_theta = 10000.0f;
    c->rope_theta_swa = a->rope_swa_fixed_base > 0 ? (float)a->rope_swa_fixed_base : 0.0f;
    c->rms_eps = 1e-5f;
    c->rope_freq_scale = 1.0f;
    c->yarn_ext_factor = 1.0f;
    c->yarn_attn_factor = 1.0f;
    c->yarn_beta_fast = 32.0f;
    c->yarn_beta_slow = 1.0f;
    c->attn_softcap = a->attn_softcap_default;
    c->final_softcap = a->final_softcap_default;
    c->swa_pattern = a->swa_pattern;
    c->embed_scale = 1.0f;
    c->residual_scale = 1.0f;
    c->logit_scale = 1.0f;
    c->expert_norm = (a->flags & DT_AF_MOE_NORM) != 0;
    c->expert_weights_scale = 1.0f;
}

/* *cut_out: the context was cut to a sliding window the architecture has no layers for. */
static int check_config(struct dt_model_config *c, int *cut_out, struct dt_error *err)
{
    const struct dt_arch *a = c->arch;
    if (c->n_layer < 1 || c->n_layer > MAX_LAYERS)
        return dt_error_set(err, DT_EFORMAT, "layer count %d is out of range", c->n_layer);
    if (c->dim < 1 || c->dim > MAX_WIDTH || c->ffn_dim < 1 || c->ffn_dim > MAX_WIDTH)
        return dt_error_set(err, DT_EFORMAT, "embedding width %d or feed-forward width %d is out of range",
                            c->dim, c->ffn_dim);
    if (c->n_head < 1 || c->n_head > 4096 || c->n_head_kv < 1 || c->n_head_kv > c->n_head ||
        c->n_head % c->n_head_kv)
        return dt_error_set(err, DT_EFORMAT, "head counts %d (query) and %d (key/value) do not fit",
                            c->n_head, c->n_head_kv);
    if (c->head_dim <= 0)
        c->head_dim = c->dim % c->n_head ? 0 : c->dim / c->n_head;
    if (c->head_dim < 2 || c->head_dim > 4096 || c->head_dim % 2)
        return dt_error_set(err, DT_EFORMAT, "head width %d is not a positive even number",
                            c->head_dim);
    if (c->rope_dim <= 0)
        c->rope_dim = c->head_dim;
    if (c->rope_dim > c->head_dim || c->rope_dim % 2)
        return dt_error_set(err, DT_EFORMAT, "rope dimension %d does not fit head width %d",
                            c->rope_dim, c->head_dim);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return dt_error_set(err, DT_EFORMAT, "rope theta %g is not positive", (double)c->rope_theta);
    if (c->rope_theta_swa <= 0)
        c->rope_theta_swa = c->rope_theta;
    if (!(c->rms_eps >= 0) || !isfinite(c->rms_eps))
        return dt_error_set(err, DT_EFORMAT, "rms norm epsilon %g is invalid", (double)c->rms_eps);
    if (c->n_ctx_train <= 0)
        c->n_ctx_train = 2048;
    if (!(c->rope_freq_scale > 0) || !isfinite(c->rope_freq_scale))
        return dt_error_set(err, DT_EFORMAT, "rope scaling factor %g is not positive",
                            1.0 / (double)c->rope_freq_scale);
    if (c->rope_scaling == DT_ROPE_SCALING_YARN && c->rope_orig_ctx <= 0)
        c->rope_orig_ctx = c->n_ctx_train;
    if (!(c->attn_scale > 0)) {
        int hd = a->attn_scale_dim_layers == c->n_layer ? c->dim / c->n_head : c->head_dim;
        c->attn_scale = 1.0f / sqrtf((float)hd);
    }
    if (!isfinite(c->attn_scale) || !isfinite(c->embed_scale) || !isfinite(c->residual_scale) ||
        !(c->logit_scale > 0) || !isfinite(c->logit_scale) || !(c->attn_softcap >= 0) ||
        !(c->final_softcap >= 0) || !isfinite(c->expert_weights_scale))
        return dt_error_set(err, DT_EFORMAT, "a scale or soft-cap of architecture '%s' is invalid",
                            a->name);
    if (c->swa_window < 0)
        return dt_error_set(err, DT_EFORMAT, "sliding window %d is negative", c->swa_window);
    /* A window on an architecture whose layers have none here (llama.cpp ignores it, HF's
     * Mistral would apply it): every position inside the window is the same either way, so
     * the context is cut to the window (the caller notes it, see ctx_window_key). */
    int cut = c->swa_window > 0 && c->swa_pattern == 0 && c->swa_window < c->n_ctx_train;
    if (cut)
        c->n_ctx_train = c->swa_window;
    if (cut_out)
        *cut_out = cut;
    if (c->swa_pattern == 0 || c->swa_window >= c->n_ctx_train)
        c->swa_window = 0; /* no position the model evaluates reaches past the window */
    if (c->n_expert < 0 || c->n_expert > 4096 || c->n_expert_used < 0 ||
        c->n_expert_used > c->n_expert || (c->n_expert > 0 && c->n_expert_used < 1))
        return dt_error_set(err, DT_EFORMAT, "expert counts %d (total) and %d (used) do not fit",
                            c->n_expert, c->n_expert_used);
    if (c->expert_ffn_dim <= 0)
        c->expert_ffn_dim = c->ffn_dim;
    if (c->shexp_ffn_dim <= 0)
        c->shexp_ffn_dim = c->ffn_dim;
    if (c->expert_ffn_dim > MAX_WIDTH || c->shexp_ffn_dim > MAX_WIDTH)
        return dt_error_set(err, DT_EFORMAT, "expert feed-forward width is out of range");
    return 0;
}

/* The value of a GGUF key as a double (numbers and bools), or DT_EFORMAT naming it. */
static int kv_number(const struct dt_gguf_kv *kv, double *out, struct dt_error *err)
{
    switch (kv->type) {
    case DT_GGUF_UINT8: case DT_GGUF_UINT16: case DT_GGUF_UINT32: case DT_GGUF_UINT64:
    case DT_GGUF_BOOL:
        *out = (double)kv->v.u64;
        return 0;
    case DT_GGUF_INT8: case DT_GGUF_INT16: case DT_GGUF_INT32: case DT_GGUF_INT64:
        *out = (double)kv->v.i64;
        return 0;
    case DT_GGUF_FLOAT32: case DT_GGUF_FLOAT64:
        *out = kv->v.f64;
        if (!isfinite(*out))
            return dt_error_set(err, DT_EFORMAT, "metadata key '%s' is not finite", kv->key);
        return 0;
    default:
        return dt_error_set(err, DT_EFORMAT, "metadata key '%s' is not a number (per-layer arrays "
                            "are not supported)", kv->key);
    }
}

static int kv_count(const struct dt_gguf_kv *kv, int *out, struct dt_error *err)
{
    double v = 0;
    int rc = kv_number(kv, &v, err);
    if (rc)
        return rc;
    if (v < 0 || v > MAX_VOCAB || floor(v) != v)
        return dt_error_set(err, DT_EFORMAT, "metadata key '%s' value %g is out of range", kv->key, v);
    *out = (int)v;
    return 0;
}

/* Applies one understood ARCH.* key to the configuration. */
static int gguf_apply_key(struct dt_model_config *c, const struct dt_gguf_kv *kv, enum dt_key k,
                          struct dt_error *err)
{
    double v = 0;
    int rc = 0;
    if (k != DT_K_RS_TYPE && (rc = kv_number(kv, &v, err)))
        return rc;
    switch (k) {
    case DT_K_CONTEXT_LENGTH: return kv_count(kv, &c->n_ctx_train, err);
    case DT_K_EMBEDDING_LENGTH: return kv_count(kv, &c->dim, err);
    case DT_K_BLOCK_COUNT: return kv_count(kv, &c->n_layer, err);
    case DT_K_FEED_FORWARD_LENGTH: return kv_count(kv, &c->ffn_dim, err);
    case DT_K_HEAD_COUNT: return kv_count(kv, &c->n_head, err);
    case DT_K_HEAD_COUNT_KV: return kv_count(kv, &c->n_head_kv, err);
    case DT_K_KEY_LENGTH: return kv_count(kv, &c->head_dim, err);
    case DT_K_VALUE_LENGTH: return 0; /* checked against key_length after all keys */
    case DT_K_RMS_EPS:
    case DT_K_LN_EPS: c->rms_eps = (float)v; return 0;
    case DT_K_ROPE_DIM: return kv_count(kv, &c->rope_dim, err);
    case DT_K_ROPE_BASE: c->rope_theta = (float)v; return 0;
    case DT_K_ROPE_BASE_SWA: c->rope_theta_swa = (float)v; return 0;
    case DT_K_ROPE_SCALE_LINEAR:
        if (v != 0 && v != 1) {
            c->rope_scaling = DT_ROPE_SCALING_LINEAR;
            c->rope_freq_scale = (float)(1.0 / v);
        }
        return 0;
    case DT_K_RS_TYPE: return 0; /* read first, in load_gguf */
    case DT_K_RS_FACTOR: c->rope_freq_scale = v == 0 ? 1.0f : (float)(1.0 / v); return 0;
    case DT_K_RS_ORIG_CTX: return kv_count(kv, &c->rope_orig_ctx, err);
    case DT_K_RS_ATTN_FACTOR:
        /* llama.cpp reads it into rope_attn_factor, which only some architectures' graphs
         * use; the YaRN multiplier is yarn_attn_factor. */
        if (v == 1)
            return 0;
        break;
    case DT_K_RS_YARN_ATTN_FACTOR: c->yarn_attn_factor = (float)v; return 0;
    case DT_K_RS_BETA_FAST: c->yarn_beta_fast = (float)v; return 0;
    case DT_K_RS_BETA_SLOW: c->yarn_beta_slow = (float)v; return 0;
    case DT_K_RS_EXT_FACTOR: c->yarn_ext_factor = (float)v; return 0;
    case DT_K_RS_LOG_MUL:
        if (v == 0)
            return 0;
        break;
    case DT_K_EXPERT_SHARED_FFN: return kv_count(kv, &c->shexp_ffn_dim, err);
    case DT_K_RS_FINETUNED:
    case DT_K_VOCAB_SIZE: return 0; /* no effect on logits; the vocab is the embedding's */
    case DT_K_SLIDING_WINDOW: return kv_count(kv, &c->swa_window, err);
    case DT_K_SLIDING_WINDOW_PATTERN:
        /* llama.cpp fixes the pattern per architecture (gemma2: 2, gemma3: 6) */
        if (c->arch->swa_pattern > 1 && v == c->arch->swa_pattern)
            return 0;
        break;
    case DT_K_ATTN_SOFTCAP: c->attn_softcap = (float)v; return 0;
    case DT_K_FINAL_SOFTCAP: c->final_softcap = (float)v; return 0;
    case DT_K_EXPERT_COUNT: return kv_count(kv, &c->n_expert, err);
    case DT_K_EXPERT_USED: return kv_count(kv, &c->n_expert_used, err);
    case DT_K_EXPERT_FFN: return kv_count(kv, &c->expert_ffn_dim, err);
    case DT_K_EXPERT_WEIGHTS_NORM:
        /* llama.cpp fixes the renormalisation per architecture; a file that says otherwise
         * would be run differently by it and by its HF source. */
        if ((v != 0) == (c->expert_norm != 0))
            return 0;
        break;
    case DT_K_EXPERT_WEIGHTS_SCALE:
        if (v == 0 || v == 1)
            return 0;
        break;
    case DT_K_EXPERT_GATING:
        if (v == 0 || v == 1) /* none (the default) or softmax */
            return 0;
        break;
    case DT_K_EMBEDDING_SCALE: c->embed_scale = (float)v; return 0;
    case DT_K_RESIDUAL_SCALE: c->residual_scale = (float)v; return 0;
    case DT_K_LOGIT_SCALE: c->logit_scale = (float)v; return 0;
    case DT_K_ATTN_SCALE: c->attn_scale = (float)v; return 0;
    case DT_K_CAUSAL:
        if (v != 0)
            return 0;
        break;
    case DT_K_PARALLEL_RESIDUAL:
        if (v == 0)
            return 0;
        break;
    case DT_K_COUNT: break;
    }
    return dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s' value %g is not supported", kv->key, v);
}

static int load_gguf(struct dt_model *m, const char *path, struct dt_error *err)
{
    char *arch = NULL, *rs_type = NULL;
    int rc = dt_gguf_open(path, &m->gguf, err);
    if (rc)
        return rc;
    const struct dt_gguf *g = m->gguf;
    rc = dt_gguf_get_str(g, "general.architecture", &arch, err);
    if (rc == DT_ENOTFOUND)
        rc = dt_error_set(err, DT_EFORMAT, "metadata key 'general.architecture' is missing");
    if (rc)
        goto out;
    const struct dt_arch *a = dt_arch_find(arch);
    if (!a) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "architecture '%.64s' is not supported (%s are)",
                          arch, dt_arch_names());
        goto out;
    }
    struct dt_model_config *c = &m->cfg;
    config_defaults(c, a);
    c->rope_half_split = a->gguf_rope == DT_ROPE_HALF_SPLIT;

    /* RoPE scaling type first: the other keys' meaning depends on it. llama.cpp reads an
     * absent type as linear (a factor alone scales linearly). */
    char key[256];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    rc = dt_gguf_get_str(g, key, &rs_type, err);
    if (rc && rc != DT_ENOTFOUND)
        goto out;
    rc = 0;
    if (!rs_type || !strcmp(rs_type, "linear")) {
        c->rope_scaling = DT_ROPE_SCALING_LINEAR;
    } else if (!strcmp(rs_type, "yarn")) {
        c->rope_scaling = DT_ROPE_SCALING_YARN;
    } else if (strcmp(rs_type, "none")) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s' value '%.32s' is not supported "
                          "(none, linear, yarn are)", key, rs_type);
        goto out;
    }
    size_t al = strlen(arch);
    int value_length = -1;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dt_gguf_kv *kv = &g->kv[i];
        if (strncmp(kv->key, arch, al) || kv->key[al] != '.')
            continue;
        int k = dt_arch_key_find(kv->key + al + 1);
        if (k < 0 || !(a->keys & (1ull << k))) {
            rc = dt_error_set(err, DT_EUNSUPPORTED,
                              "metadata key '%s' is not supported for architecture '%s'", kv->key,
                              a->name);
            goto out;
        }
        if (k == DT_K_VALUE_LENGTH && (rc = kv_count(kv, &value_length, err)))
            goto out;
        if ((rc = gguf_apply_key(c, kv, (enum dt_key)k, err)))
            goto out;
    }
    if (!c->n_layer || !c->dim || !c->n_head || !c->ffn_dim) {
        const char *miss = !c->n_layer ? "block_count" : !c->dim ? "embedding_length"
                           : !c->n_head ? "attention.head_count" : "feed_forward_length";
        /* A file of experts only may leave the dense width out. */
        if (!(c->ffn_dim == 0 && c->n_layer && c->dim && c->n_head && c->n_expert > 0)) {
            rc = dt_error_set(err, DT_EFORMAT, "metadata key '%s.%s' is missing", arch, miss);
            goto out;
        }
        c->ffn_dim = c->expert_ffn_dim > 0 ? c->expert_ffn_dim : 1;
    }
    if (!c->n_head_kv)
        c->n_head_kv = c->n_head;
    if (c->rope_scaling == DT_ROPE_SCALING_NONE && c->rope_freq_scale != 1.0f) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s.rope.scaling.factor' is set "
                          "but the scaling type is 'none'", arch);
        goto out;
    }
    if (c->rope_freq_scale == 1.0f && c->rope_scaling == DT_ROPE_SCALING_LINEAR)
        c->rope_scaling = DT_ROPE_SCALING_NONE;
    if (c->rope_scaling != DT_ROPE_SCALING_YARN &&
        (c->yarn_attn_factor != 1.0f || c->yarn_ext_factor != 1.0f)) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s.rope.scaling.yarn_attn_factor' or "
                          "'yarn_ext_factor' is set without yarn scaling", arch);
        goto out;
    }
    m->tensors = dt_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *m->tensors);
    m->names = dt_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *m->names);
    if (!m->tensors || !m->names) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %llu tensors",
                          (unsigned long long)g->n_tensors);
        goto out;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dt_gguf_tensor *t = &g->tensors[i];
        /* 3-D/4-D tensors are listed with their outer dims flattened into rows. */
        int64_t rows = t->n_dims >= 2 ? t->ne[1] * t->ne[2] * t->ne[3] : 1;
        if ((rc = add_tensor(m, t->name, t->type, rows, t->ne[0], t->data, t->n_elems, err)))
            goto out;
    }
    if (value_length >= 0) {
        int hd = c->head_dim > 0 ? c->head_dim : (c->dim % c->n_head ? -1 : c->dim / c->n_head);
        if (value_length != hd) {
            rc = dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s.attention.value_length' (%d) "
                              "differs from the key length (%d)", arch, value_length, hd);
            goto out;
        }
    }
    if ((rc = dt_tokenizer_from_gguf(g, &m->tok, err)))
        goto out;
out:
    dt_free(rs_type);
    dt_free(arch);
    return rc;
}

/* ---- Hugging Face ---- */

static int json_int(const cJSON *root, const char *key, int *out, int required, const char *path,
                    struct dt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return dt_error_set(err, DT_EFORMAT, "'%s': key '%s' is missing", path, key);
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_VOCAB ||
        floor(v->valuedouble) != v->valuedouble)
        return dt_error_set(err, DT_EFORMAT, "'%s': key '%s' is not a whole number in range", path,
                            key);
    *out = (int)v->valuedouble;
    return 0;
}

static int json_float(const cJSON *root, const char *key, float *out, const char *path,
                      struct dt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return dt_error_set(err, DT_EFORMAT, "'%s': key '%s' is not a number", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

/* Maps an HF tensor name to the GGUF name; returns 0 and fills buf, 1 for a tensor with no
 * effect on the forward pass (a stored rotary inv_freq), or -1 when unmapped. post_norms:
 * the architecture has post-attention/post-FFN norms (gemma, olmo2), so HF's
 * post_attention_layernorm is a norm of the attention output, not the pre-FFN norm. */
static int map_hf_name(const char *hf, int post_norms, char *buf, size_t n)
{
    static const char *const fixed[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"model.norm.bias", "output_norm.bias"},
        {"lm_head.weight", "output.weight"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(hf, fixed[i][0])) {
            snprintf(buf, n, "%s", fixed[i][1]);
            return 0;
        }
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"input_layernorm.bias", "attn_norm.bias"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
        {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.gate_up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
        {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
        {"mlp.gate.weight", "ffn_gate_inp.weight"},
        {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
        {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
        {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
        {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
    };
    const char *prefix = "model.layers.";
    if (strncmp(hf, prefix, strlen(prefix)))
        return -1;
    const char *p = hf + strlen(prefix);
    char *end;
    long li = strtol(p, &end, 10);
    if (end == p || *end != '.' || li < 0 || li >= MAX_LAYERS || (p[0] == '0' && end - p > 1))
        return -1;
    const char *rest = end + 1;
    if (!strcmp(rest, "self_attn.rotary_emb.inv_freq"))
        return 1;
    if (!strncmp(rest, "post_attention_layernorm.", 25)) {
        snprintf(buf, n, "blk.%ld.%s.%s", li, post_norms ? "post_attention_norm" : "ffn_norm",
                 rest + 25);
        return 0;
    }
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (!strcmp(rest, layer[i][0])) {
            snprintf(buf, n, "blk.%ld.%s", li, layer[i][1]);
            return 0;
        }
    return -1;
}

/* Frequency divisors of HF's "llama3" rope_scaling (what llama.cpp's converter writes as the
 * rope_freqs tensor). */
static int hf_llama3_factors(struct dt_model_config *c, const cJSON *rs, const char *path,
                             struct dt_error *err)
{
    float factor = 8, lo = 1, hi = 4;
    int orig = 8192;
    int rc;
    if ((rc = json_float(rs, "factor", &factor, path, err)) ||
        (rc = json_float(rs, "low_freq_factor", &lo, path, err)) ||
        (rc = json_float(rs, "high_freq_factor", &hi, path, err)) ||
        (rc = json_int(rs, "original_max_position_embeddings", &orig, 0, path, err)))
        return rc;
    if (!(factor > 0) || !(hi > lo) || orig <= 0)
        return dt_error_set(err, DT_EFORMAT, "'%s': rope_scaling 'llama3' parameters are invalid", path);
    if (c->rope_dim <= 0)
        c->rope_dim = c->head_dim > 0 ? c->head_dim : (c->n_head ? c->dim / c->n_head : 0);
    int half = c->rope_dim / 2;
    if (half < 1)
        return dt_error_set(err, DT_EFORMAT, "'%s': head width is unknown", path);
    c->rope_freq_factors = dt_malloc_array((size_t)half, sizeof(float));
    if (!c->rope_freq_factors)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    double lo_wl = orig / lo, hi_wl = orig / hi;
    for (int i = 0; i < half; i++) {
        double freq = 1.0 / pow((double)c->rope_theta, (double)(2 * i) / c->rope_dim);
        double wl = 2 * M_PI / freq, f;
        if (wl < hi_wl) {
            f = 1;
        } else if (wl > lo_wl) {
            f = factor;
        } else {
            double smooth = (orig / wl - lo) / (hi - lo);
            f = 1.0 / ((1 - smooth) / factor + smooth);
        }
        c->rope_freq_factors[i] = (float)f;
    }
    return 0;
}

/* rope_scaling / rope_parameters of config.json. */
static int hf_rope_scaling(struct dt_model_config *c, const cJSON *rs, const char *path,
                           struct dt_error *err)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!rt)
        rt = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(rt) || !strcmp(rt->valuestring, "default"))
        return 0;
    const char *t = rt->valuestring;
    float factor = 1;
    int rc = json_float(rs, "factor", &factor, path, err);
    if (rc)
        return rc;
    if (!(factor > 0))
        return dt_error_set(err, DT_EFORMAT, "'%s': rope_scaling factor is not positive", path);
    if (!strcmp(t, "linear")) {
        c->rope_scaling = factor == 1 ? DT_ROPE_SCALING_NONE : DT_ROPE_SCALING_LINEAR;
        c->rope_freq_scale = 1.0f / factor;
        return 0;
    }
    if (!strcmp(t, "llama3"))
        return hf_llama3_factors(c, rs, path, err);
    if (!strcmp(t, "yarn")) {
        static const char *const unsupported[] = {"mscale", "mscale_all_dim"};
        for (size_t i = 0; i < 2; i++)
            if (cJSON_GetObjectItemCaseSensitive(rs, unsupported[i]))
                return dt_error_set(err, DT_EUNSUPPORTED, "'%s': rope_scaling key '%s' is not supported",
                                    path, unsupported[i]);
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rs, "truncate");
        if (cJSON_IsFalse(tr))
            return dt_error_set(err, DT_EUNSUPPORTED, "'%s': rope_scaling key 'truncate' false is not supported", path);
        c->rope_scaling = DT_ROPE_SCALING_YARN;
        c->rope_freq_scale = 1.0f / factor;
        float af = 0;
        if ((rc = json_int(rs, "original_max_position_embeddings", &c->rope_orig_ctx, 0, path, err)) ||
            (rc = json_float(rs, "beta_fast", &c->yarn_beta_fast, path, err)) ||
            (rc = json_float(rs, "beta_slow", &c->yarn_beta_slow, path, err)) ||
            (rc = json_float(rs, "attention_factor", &af, path, err)))
            return rc;
        /* HF's attention_factor replaces 0.1 ln(factor) + 1; ggml's multiplies it. */
        if (af > 0)
            c->yarn_attn_factor = (float)(af / (factor > 1 ? 0.1 * log(factor) + 1.0 : 1.0));
        return 0;
    }
    return dt_error_set(err, DT_EUNSUPPORTED, "'%s': rope_scaling '%.32s' is not supported", path, t);
}

/*
 * transformers' defaults for keys a config.json may leave out (the values its config classes
 * take when the key is absent), added to the parsed config so absent and default read alike.
 */
static int hf_add_defaults(cJSON *root, const char *model_type, struct dt_error *err)
{
    static const struct {
        const char *type, *key;
        double value;
    } defaults[] = {
        {"stablelm", "partial_rotary_factor", 0.25},
        {"stablelm", "layer_norm_eps", 1e-5},
        {"gemma2", "query_pre_attn_scalar", 256},
        {"gemma2", "attn_logit_softcapping", 50.0},
        {"gemma2", "final_logit_softcapping", 30.0},
        {"gemma2", "sliding_window", 4096},
        {"gemma3_text", "query_pre_attn_scalar", 256},
        {"gemma3_text", "sliding_window", 4096},
        {"gemma3_text", "rope_local_base_freq", 10000.0},
        {"gemma3_text", "rope_theta", 1000000.0},
        {"mistral", "sliding_window", 4096},
        {"granite", "embedding_multiplier", 1.0},
        {"olmo2", "rms_norm_eps", 1e-5},
        {"phi3", "rms_norm_eps", 1e-5},
        {"mixtral", "rms_norm_eps", 1e-5},
        {"qwen3", "head_dim", 128},
        {"gemma2", "head_dim", 256},
        {"gemma3_text", "head_dim", 256},
    };
    static const char *const norm_topk_false[] = {"qwen2_moe", "qwen3_moe"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!strcmp(defaults[i].type, model_type) &&
            !cJSON_HasObjectItem(root, defaults[i].key) &&
            !cJSON_AddNumberToObject(root, defaults[i].key, defaults[i].value))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof norm_topk_false / sizeof norm_topk_false[0]; i++)
        if (!strcmp(norm_topk_false[i], model_type) && !cJSON_HasObjectItem(root, "norm_topk_prob") &&
            !cJSON_AddFalseToObject(root, "norm_topk_prob"))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    return 0;
}

/* Per-architecture config.json keys. */
static int hf_arch_keys(struct dt_model_config *c, const cJSON *root, const char *path,
                        struct dt_error *err)
{
    const struct dt_arch *a = c->arch;
    int rc;
    /* activation */
    const char *act_keys[] = {"hidden_act", "hidden_activation"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, act_keys[i]);
        if (!cJSON_IsString(v))
            continue;
        int ok = a->act == DT_ACT_SILU ? !strcmp(v->valuestring, "silu")
                                       : !strcmp(v->valuestring, "gelu_pytorch_tanh");
        if (!ok)
            return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key '%s' value '%.32s' is not supported",
                                path, act_keys[i], v->valuestring);
    }
    /* refused outright when set */
    static const char *const truthy_refused[] = {"use_parallel_residual", "qk_layernorm",
                                                 "use_qk_norm", "attn_logit_softcapping_global"};
    for (size_t i = 0; i < sizeof truthy_refused / sizeof truthy_refused[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, truthy_refused[i]);
        if (cJSON_IsTrue(v))
            return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key '%s' is not supported", path,
                                truthy_refused[i]);
    }
    /* sliding window: qwen2 has it only with use_sliding_window; HF's Mistral applies it on
     * every layer; a llama config's is ignored by HF */
    static const char *const every_layer_window[] = {"mistral", "mixtral"};
    static const char *const ignored_window[] = {"llama"};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : "";
    int ignored = 0;
    for (size_t i = 0; i < sizeof ignored_window / sizeof ignored_window[0]; i++)
        ignored |= !strcmp(type, ignored_window[i]);
    const cJSON *usw = cJSON_GetObjectItemCaseSensitive(root, "use_sliding_window");
    if (!ignored && !cJSON_IsFalse(usw) &&
        (rc = json_int(root, "sliding_window", &c->swa_window, 0, path, err)))
        return rc;
    for (size_t i = 0; i < sizeof every_layer_window / sizeof every_layer_window[0]; i++)
        if (!strcmp(type, every_layer_window[i]) && c->swa_window > 0)
            c->swa_pattern = 1;
    if (a->swa_pattern) {
        int pat = a->swa_pattern;
        if ((rc = json_int(root, "sliding_window_pattern", &pat, 0, path, err)))
            return rc;
        if (pat != a->swa_pattern)
            return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key 'sliding_window_pattern' %d is not supported (%d is)",
                                path, pat, a->swa_pattern);
        const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
        if (cJSON_IsArray(lt)) {
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, lt) {
                int local = i % pat < pat - 1;
                if (!cJSON_IsString(e) ||
                    strcmp(e->valuestring, local ? "sliding_attention" : "full_attention"))
                    return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key 'layer_types' entry %d does not follow the pattern of %d",
                                        path, i, pat);
                i++;
            }
        }
    }
    float q_pre = 0;
    if ((rc = json_float(root, "final_logit_softcapping", &c->final_softcap, path, err)) ||
        (rc = json_float(root, "attn_logit_softcapping", &c->attn_softcap, path, err)) ||
        (rc = json_float(root, "query_pre_attn_scalar", &q_pre, path, err)) ||
        (rc = json_float(root, "rope_local_base_freq", &c->rope_theta_swa, path, err)) ||
        (rc = json_float(root, "embedding_multiplier", &c->embed_scale, path, err)) ||
        (rc = json_float(root, "residual_multiplier", &c->residual_scale, path, err)) ||
        (rc = json_float(root, "attention_multiplier", &c->attn_scale, path, err)) ||
        (rc = json_float(root, "logits_scaling", &c->logit_scale, path, err)) ||
        (rc = json_float(root, "layer_norm_eps", &c->rms_eps, path, err)))
        return rc;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(root, "final_logit_softcapping");
    if (fs && cJSON_IsNull(fs))
        c->final_softcap = 0;
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(root, "attn_logit_softcapping");
    if (as && cJSON_IsNull(as))
        c->attn_softcap = 0;
    if (q_pre > 0)
        c->attn_scale = 1.0f / sqrtf(q_pre);
    float prf = 1;
    if ((rc = json_float(root, "partial_rotary_factor", &prf, path, err)))
        return rc;
    if (prf != 1) {
        int hd = c->head_dim > 0 ? c->head_dim : c->dim / (c->n_head ? c->n_head : 1);
        c->rope_dim = (int)((float)hd * prf);
        if (c->rope_dim <= 0 || c->rope_dim % 2)
            return dt_error_set(err, DT_EFORMAT, "'%s': key 'partial_rotary_factor' gives %d rotary dims",
                                path, c->rope_dim);
    }
    return 0;
}

/* One expert's matrix in an HF MoE checkpoint: "model.layers.L.block_sparse_moe.experts.E.w1"
 * (Mixtral: w1 gate, w3 up, w2 down) or "model.layers.L.mlp.experts.E.gate_proj" (Qwen).
 * Returns 0 with layer, expert and which (0 gate, 1 up, 2 down), or -1. */
static int hf_expert_name(const char *hf, long *layer, long *expert, int *which)
{
    static const char *const prefix = "model.layers.";
    static const char *const kinds[][2] = {
        {"block_sparse_moe.experts.", "w1.weight|w3.weight|w2.weight"},
        {"mlp.experts.", "gate_proj.weight|up_proj.weight|down_proj.weight"},
    };
    if (strncmp(hf, prefix, strlen(prefix)))
        return -1;
    char *end;
    const char *p = hf + strlen(prefix);
    *layer = strtol(p, &end, 10);
    if (end == p || *end != '.' || *layer < 0 || *layer >= MAX_LAYERS)
        return -1;
    p = end + 1;
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(kinds[k][0]);
        if (strncmp(p, kinds[k][0], n))
            continue;
        const char *q = p + n;
        *expert = strtol(q, &end, 10);
        if (end == q || *end != '.' || *expert < 0 || *expert > 4096)
            return -1;
        const char *leaf = end + 1, *opts = kinds[k][1];
        for (int w = 0; w < 3; w++) {
            const char *bar = strchr(opts, '|');
            size_t len = bar ? (size_t)(bar - opts) : strlen(opts);
            if (strlen(leaf) == len && !strncmp(leaf, opts, len)) {
                *which = w;
                return 0;
            }
            opts = bar ? bar + 1 : opts + len;
        }
    }
    return -1;
}

/* Stacks the experts of each layer into the GGUF layout (n_expert matrices back to back, as
 * ffn_{gate,up,down}_exps), copying them: the checkpoint stores one tensor per expert. */
static int hf_stack_experts(struct dt_model *m, const struct dt_st_tensor **ex, int n_layer,
                            int n_expert, struct dt_error *err)
{
    static const char *const names[3] = {"ffn_gate_exps.weight", "ffn_up_exps.weight",
                                         "ffn_down_exps.weight"};
    m->owned = dt_calloc((size_t)n_layer * 3, sizeof *m->owned);
    if (!m->owned)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    for (int l = 0; l < n_layer; l++) {
        for (int w = 0; w < 3; w++) {
            const struct dt_st_tensor **e = ex + ((size_t)l * 3 + (size_t)w) * (size_t)n_expert;
            if (!e[0]) {
                int any = 0;
                for (int j = 0; j < n_expert; j++)
                    any |= e[j] != NULL;
                if (any)
                    return dt_error_set(err, DT_EFORMAT, "layer %d: expert 0's %s is missing", l, names[w]);
                continue;
            }
            for (int j = 1; j < n_expert; j++)
                if (!e[j] || e[j]->type != e[0]->type || e[j]->n_dims != 2 || e[0]->n_dims != 2 ||
                    e[j]->shape[0] != e[0]->shape[0] || e[j]->shape[1] != e[0]->shape[1])
                    return dt_error_set(err, DT_EFORMAT, "layer %d: expert %d's %s is missing or differs from expert 0's",
                                        l, j, names[w]);
            uint8_t *buf = dt_malloc_array((size_t)n_expert, e[0]->n_bytes);
            if (!buf)
                return dt_error_set(err, DT_ENOMEM, "out of memory stacking the experts of layer %d", l);
            m->owned[m->n_owned++] = buf;
            for (int j = 0; j < n_expert; j++)
                memcpy(buf + (size_t)j * e[0]->n_bytes, e[j]->data, e[0]->n_bytes);
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s", l, names[w]);
            int rc = add_tensor(m, name, e[0]->type, (int64_t)n_expert * e[0]->shape[0],
                                e[0]->shape[1], buf, (int64_t)n_expert * e[0]->n_elems, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* MoE keys of config.json. */
static int hf_moe_keys(struct dt_model_config *c, const cJSON *root, const char *path,
                       struct dt_error *err)
{
    int rc;
    if ((rc = json_int(root, "num_local_experts", &c->n_expert, 0, path, err)) ||
        (rc = json_int(root, "num_experts", &c->n_expert, 0, path, err)) ||
        (rc = json_int(root, "num_experts_per_tok", &c->n_expert_used, 0, path, err)) ||
        (rc = json_int(root, "moe_intermediate_size", &c->expert_ffn_dim, 0, path, err)) ||
        (rc = json_int(root, "shared_expert_intermediate_size", &c->shexp_ffn_dim, 0, path, err)))
        return rc;
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(root, "norm_topk_prob");
    if (cJSON_IsBool(nt) && cJSON_IsTrue(nt) != (c->expert_norm != 0))
        return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key 'norm_topk_prob' %s is not supported for '%s'",
                            path, cJSON_IsTrue(nt) ? "true" : "false", c->arch->name);
    int step = 1;
    if ((rc = json_int(root, "decoder_sparse_step", &step, 0, path, err)))
        return rc;
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(root, "mlp_only_layers");
    if (step > 1 || (cJSON_IsArray(only) && cJSON_GetArraySize(only) > 0))
        return dt_error_set(err, DT_EUNSUPPORTED, "'%s': key '%s' (dense layers among experts) is not supported",
                            path, step > 1 ? "decoder_sparse_step" : "mlp_only_layers");
    return 0;
}

static int load_hf(struct dt_model *m, const char *path, struct dt_error *err)
{
    const struct dt_st_tensor **experts = NULL;
    char *dir = NULL, *cfg_path = NULL, *tok_path = NULL, *text = NULL;
    cJSON *root = NULL;
    size_t n_text;
    int rc = 0;
    if (dt_path_is_dir(path)) {
        dir = dt_strdup(path);
    } else {
        const char *slash = strrchr(path, '/');
        dir = slash ? dt_strndup(path, (size_t)(slash - path) + (slash == path)) : dt_strdup(".");
    }
    cfg_path = dir ? dt_path_join(dir, "config.json") : NULL;
    tok_path = dir ? dt_path_join(dir, "tokenizer.json") : NULL;
    if (!cfg_path || !tok_path) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = dt_st_set_open(path, &m->st, err)))
        goto out;
    if ((rc = dt_file_read_all(cfg_path, 16u << 20, &text, &n_text, err)))
        goto out;
    root = cJSON_ParseWithLength(text, n_text);
    if (!cJSON_IsObject(root)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s' is not a JSON object", cfg_path);
        goto out;
    }
    struct dt_model_config *c = &m->cfg;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': key 'model_type' is missing", cfg_path);
        goto out;
    }
    const struct dt_arch *a = dt_arch_find_hf(mt->valuestring);
    if (!a) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': model_type '%.64s' is not supported",
                          cfg_path, mt->valuestring);
        goto out;
    }
    config_defaults(c, a);
    if ((rc = hf_add_defaults(root, mt->valuestring, err)))
        goto out;
    c->rope_half_split = 1;
    c->rms_eps = 1e-6f;
    /* HF applies the soft-caps only when config.json sets them. */
    c->attn_softcap = 0;
    c->final_softcap = 0;
    int tie = (a->flags & DT_AF_HF_TIED) != 0;
    const cJSON *tw = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (cJSON_IsBool(tw))
        tie = cJSON_IsTrue(tw);
    c->n_vocab = 0;
    if ((rc = json_int(root, "hidden_size", &c->dim, 1, cfg_path, err)) ||
        (rc = json_int(root, "num_hidden_layers", &c->n_layer, 1, cfg_path, err)) ||
        (rc = json_int(root, "num_attention_heads", &c->n_head, 1, cfg_path, err)) ||
        (rc = json_int(root, "intermediate_size", &c->ffn_dim, 1, cfg_path, err)) ||
        (rc = json_int(root, "vocab_size", &c->n_vocab, 0, cfg_path, err)) ||
        (rc = json_int(root, "head_dim", &c->head_dim, 0, cfg_path, err)) ||
        (rc = json_int(root, "max_position_embeddings", &c->n_ctx_train, 0, cfg_path, err)) ||
        (rc = json_float(root, "rms_norm_eps", &c->rms_eps, cfg_path, err)) ||
        (rc = json_float(root, "rope_theta", &c->rope_theta, cfg_path, err)))
        goto out;
    c->n_head_kv = c->n_head;
    if ((rc = json_int(root, "num_key_value_heads", &c->n_head_kv, 0, cfg_path, err)))
        goto out;
    if ((rc = hf_arch_keys(c, root, cfg_path, err)) || (rc = hf_moe_keys(c, root, cfg_path, err)))
        goto out;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        if ((rc = json_float(rp, "rope_theta", &c->rope_theta, cfg_path, err)) ||
            (rc = hf_rope_scaling(c, rp, cfg_path, err)))
            goto out;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (cJSON_IsObject(rs) && (rc = hf_rope_scaling(c, rs, cfg_path, err)))
        goto out;

    size_t n = m->st->n_tensors;
    m->tensors = dt_calloc(n ? n : 1, sizeof *m->tensors);
    m->names = dt_calloc(n ? n : 1, sizeof *m->names);
    if (!m->tensors || !m->names) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu tensors", n);
        goto out;
    }
    int post_norms = (a->required & DT_BT(ATTN_POST_NORM)) != 0;
    int have_lm_head = 0, n_ex = c->n_expert;
    if (n_ex > 0 && c->n_layer > 0 && c->n_layer <= MAX_LAYERS) {
        experts = dt_calloc((size_t)c->n_layer * 3 * (size_t)n_ex, sizeof *experts);
        if (!experts) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct dt_st_tensor *t = m->st->tensors[i];
        char name[256];
        long el, ee;
        int which;
        if (hf_expert_name(t->name, &el, &ee, &which) == 0) {
            if (!experts || el >= c->n_layer || ee >= n_ex) {
                rc = dt_error_set(err, DT_EFORMAT, "'%s': tensor '%s' is an expert beyond the config's counts",
                                  cfg_path, t->name);
                goto out;
            }
            experts[((size_t)el * 3 + (size_t)which) * (size_t)n_ex + (size_t)ee] = t;
            continue;
        }
        int mr = map_hf_name(t->name, post_norms, name, sizeof name);
        if (mr == 1)
            continue;
        if (mr)
            snprintf(name, sizeof name, "%s", t->name);
        have_lm_head |= !strcmp(name, "output.weight");
        int64_t rows = 1, cols = t->n_dims ? t->shape[t->n_dims - 1] : 1;
        for (int d = 0; d + 1 < t->n_dims; d++)
            rows *= t->shape[d]; /* cannot overflow: n_elems was checked */
        if ((rc = add_tensor(m, name, t->type, rows, cols, t->data, t->n_elems, err)))
            goto out;
    }
    if (experts && (rc = hf_stack_experts(m, experts, c->n_layer, n_ex, err)))
        goto out;
    /* A tied checkpoint may still store lm_head (equal to the embedding): the model uses
     * what is stored. An untied one without lm_head cannot run. */
    if (!tie && !have_lm_head) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': tie_word_embeddings is false but 'lm_head.weight' is missing",
                          cfg_path);
        goto out;
    }
    if (!dt_path_exists(tok_path)) {
        rc = dt_error_set(err, DT_EIO, "'%s' is missing (needed next to the weights)", tok_path);
        goto out;
    }
    rc = dt_tokenizer_from_json(tok_path, &m->tok, err);
out:
    dt_free(experts);
    cJSON_Delete(root);
    dt_free(text);
    dt_free(tok_path);
    dt_free(cfg_path);
    dt_free(dir);
    return rc;
}

/* ---- common ---- */

/* Every tensor must be one the architecture uses: "blk.N.<name>" with N < n_layer and name
 * in the row, or one of the model-level tensors. */
static int check_tensor_names(const struct dt_model *m, struct dt_error *err)
{
    const struct dt_model_config *c = &m->cfg;
    const struct dt_arch *a = c->arch;
    uint64_t allowed = a->required | a->optional;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensors[i].name;
        if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output_norm.weight") ||
            !strcmp(name, "output.weight") ||
            (a->norm == DT_NORM_LAYER && !strcmp(name, "output_norm.bias")) ||
            ((a->flags & DT_AF_ROPE_FREQS) && !strcmp(name, "rope_freqs.weight")))
            continue;
        if (!strncmp(name, "blk.", 4)) {
            char *end;
            long li = strtol(name + 4, &end, 10);
            if (end != name + 4 && *end == '.' && li >= 0 && li < c->n_layer) {
                int t = dt_arch_bt_find(end + 1);
                if (t >= 0 && (allowed & (1ull << t)))
                    continue;
            }
        }
        return dt_error_set(err, DT_EUNSUPPORTED, "tensor '%s' is not used by architecture '%s'",
                            name, a->name);
    }
    return 0;
}

/* llama.cpp's rope_freqs.weight: (rope_dim/2) frequency divisors. */
static int bind_rope_freqs(struct dt_model *m, struct dt_error *err)
{
    struct dt_model_config *c = &m->cfg;
    if (!find_weight(m, "rope_freqs.weight"))
        return 0;
    dt_free(c->rope_freq_factors);
    c->rope_freq_factors = NULL;
    int rc = get_vector(m, "rope_freqs.weight", c->rope_dim / 2, &c->rope_freq_factors, 0, 0, err);
    if (rc)
        return rc;
    for (int i = 0; i < c->rope_dim / 2; i++)
        if (!(c->rope_freq_factors[i] > 0))
            return dt_error_set(err, DT_EFORMAT, "tensor 'rope_freqs.weight' element %d is not positive", i);
    return 0;
}

/* Error for layer i: the first block tensor of `mask` is missing (missing != 0) or is present
 * where it cannot be used, named. */
static int layer_tensor_error(int i, uint64_t mask, int missing, const char *why,
                              struct dt_error *err)
{
    int t = 0;
    while (t < DT_BT_COUNT && !(mask & (1ull << t)))
        t++;
    return dt_error_set(err, DT_EFORMAT, "tensor 'blk.%d.%s' is %s%s", i,
                        t < DT_BT_COUNT ? dt_arch_bt_name((enum dt_bt)t) : "?",
                        missing ? "missing" : "not usable", why);
}

static int bind_layer(struct dt_model *m, int i, struct dt_error *err)
{
    struct dt_model_config *c = &m->cfg;
    const struct dt_arch *a = c->arch;
    struct dt_layer *l = &m->layers[i];
    int64_t dim = c->dim, q = (int64_t)c->n_head * c->head_dim,
            kv = (int64_t)c->n_head_kv * c->head_dim, ffn = c->ffn_dim;
    int p1 = m->format == DT_FORMAT_SAFETENSORS && (a->flags & DT_AF_HF_NORM_PLUS_ONE);
    uint64_t allowed = a->required | a->optional, present = 0;
    char name[96];
    for (int t = 0; t < DT_BT_COUNT; t++) {
        snprintf(name, sizeof name, "blk.%d.%s", i, dt_arch_bt_name((enum dt_bt)t));
        if (find_weight(m, name))
            present |= 1ull << t;
        else if (a->required & (1ull << t))
            return dt_error_set(err, DT_EFORMAT, "tensor '%s' is missing", name);
    }
    present &= allowed;
    int rc;
#define MAT(field, bt, r, cc)                                                                   \
    if (present & DT_BT(bt)) {                                                                 \
        snprintf(name, sizeof name, "blk.%d.%s", i, dt_arch_bt_name(DT_BT_##bt));              \
        if ((rc = get_matrix(m, name, r, cc, &l->field, 0, err)))                              \
            return rc;                                                                         \
    }
#define VEC(field, bt, nn, plus)                                                                \
    if (present & DT_BT(bt)) {                                                                 \
        snprintf(name, sizeof name, "blk.%d.%s", i, dt_arch_bt_name(DT_BT_##bt));              \
        if ((rc = get_vector(m, name, nn, &l->field, 0, plus, err)))                           \
            return rc;                                                                         \
    }
    /* attention: split or fused */
    uint64_t split = DT_BT(Q) | DT_BT(K) | DT_BT(V);
    if (present & DT_BT(QKV)) {
        if (present & split)
            return layer_tensor_error(i, present & split, 0, " next to a fused attn_qkv", err);
        MAT(wq, QKV, q + 2 * kv, dim)
        if (present & DT_BT(BQKV))
            return dt_error_set(err, DT_EUNSUPPORTED, "tensor 'blk.%d.attn_qkv.bias' is not supported", i);
    } else {
        if ((present & split) != split)
            return layer_tensor_error(i, split & ~present, 1, "", err);
        MAT(wq, Q, q, dim)
        MAT(wk, K, kv, dim)
        MAT(wv, V, kv, dim)
    }
    MAT(wo, O, dim, q)
    VEC(attn_norm, ATTN_NORM, dim, p1)
    VEC(attn_norm_b, ATTN_NORM_B, dim, 0)
    VEC(ffn_norm, FFN_NORM, dim, p1)
    VEC(ffn_norm_b, FFN_NORM_B, dim, 0)
    VEC(attn_post_norm, ATTN_POST_NORM, dim, p1)
    VEC(ffn_post_norm, FFN_POST_NORM, dim, p1)
    int64_t qn = a->qk_norm == DT_QK_NORM_FULL ? q : c->head_dim;
    int64_t kn = a->qk_norm == DT_QK_NORM_FULL ? kv : c->head_dim;
    VEC(q_norm, Q_NORM, qn, p1)
    VEC(k_norm, K_NORM, kn, p1)
    VEC(bq, BQ, q, 0)
    VEC(bk, BK, kv, 0)
    VEC(bv, BV, kv, 0)
    VEC(bo, BO, dim, 0)
    /* FFN: dense (gate+up+down, or fused gate|up), or experts */
    uint64_t moe = DT_BT(GATE_INP) | DT_BT(GATE_EXPS) | DT_BT(UP_EXPS) | DT_BT(DOWN_EXPS);
    uint64_t dense = DT_BT(GATE) | DT_BT(UP) | DT_BT(DOWN);
    if (present & moe) {
        if ((present & moe) != moe)
            return layer_tensor_error(i, moe & ~present, 1, " (the layer has expert tensors)", err);
        if (present & dense)
            return layer_tensor_error(i, present & dense, 0, " in a layer of experts", err);
        if (c->n_expert < 1)
            return layer_tensor_error(i, present & moe, 0, " without the expert_count key", err);
        int64_t ne = c->n_expert, ef = c->expert_ffn_dim;
        MAT(w_gate_inp, GATE_INP, ne, dim)
        MAT(w_gate_exps, GATE_EXPS, ne * ef, dim)
        MAT(w_up_exps, UP_EXPS, ne * ef, dim)
        MAT(w_down_exps, DOWN_EXPS, ne * dim, ef)
        uint64_t sh = DT_BT(GATE_INP_SHEXP) | DT_BT(GATE_SHEXP) | DT_BT(UP_SHEXP) | DT_BT(DOWN_SHEXP);
        if (present & sh) {
            if ((present & sh) != sh)
                return layer_tensor_error(i, sh & ~present, 1, " (the layer has a shared expert)", err);
            int64_t sf = c->shexp_ffn_dim;
            VEC(gate_inp_shexp, GATE_INP_SHEXP, dim, 0)
            MAT(w_gate_shexp, GATE_SHEXP, sf, dim)
            MAT(w_up_shexp, UP_SHEXP, sf, dim)
            MAT(w_down_shexp, DOWN_SHEXP, dim, sf)
        }
    } else if (a->flags & DT_AF_FUSED_UP) {
        if ((present & dense) != (DT_BT(UP) | DT_BT(DOWN)))
            return layer_tensor_error(i, (DT_BT(UP) | DT_BT(DOWN)) & ~present, 1, "", err);
        MAT(w_up, UP, 2 * ffn, dim)
        MAT(w_down, DOWN, dim, ffn)
    } else {
        if ((present & dense) != dense)
            return layer_tensor_error(i, dense & ~present, 1, "", err);
        if (c->n_expert > 0)
            return dt_error_set(err, DT_EUNSUPPORTED, "metadata key '%s.expert_count' is %d but "
                                "layer %d has no expert tensors", a->name, c->n_expert, i);
        MAT(w_gate, GATE, ffn, dim)
        MAT(w_up, UP, ffn, dim)
        MAT(w_down, DOWN, dim, ffn)
    }
#undef MAT
#undef VEC
    l->is_swa = c->swa_window > 0 &&
                (c->swa_pattern == 1 || i % c->swa_pattern < c->swa_pattern - 1);
    return 0;
}

static int bind_weights(struct dt_model *m, struct dt_error *err)
{
    struct dt_model_config *c = &m->cfg;
    char swa_key[96];
    if (m->format == DT_FORMAT_GGUF)
        snprintf(swa_key, sizeof swa_key, "%s.attention.sliding_window", c->arch->name);
    else
        snprintf(swa_key, sizeof swa_key, "sliding_window");
    int cut = 0;
    int rc = check_config(c, &cut, err);
    if (rc)
        return rc;
    if (cut)
        snprintf(m->ctx_window_key, sizeof m->ctx_window_key, "%s", swa_key);
    if ((rc = check_tensor_names(m, err)))
        return rc;
    const struct dt_weight *emb = find_weight(m, "token_embd.weight");
    if (!emb)
        return dt_error_set(err, DT_EFORMAT, "tensor 'token_embd.weight' is missing");
    if (emb->rows < 1 || emb->rows > MAX_VOCAB)
        return dt_error_set(err, DT_EFORMAT, "tensor 'token_embd.weight' has %lld rows",
                            (long long)emb->rows);
    if (c->n_vocab > 0 && c->n_vocab != emb->rows)
        return dt_error_set(err, DT_EFORMAT,
                            "tensor 'token_embd.weight' has %lld rows, config vocab_size is %d",
                            (long long)emb->rows, c->n_vocab);
    c->n_vocab = (int)emb->rows;
    int64_t dim = c->dim;
    if ((rc = get_matrix(m, "token_embd.weight", c->n_vocab, dim, &m->tok_embd, 0, err)))
        return rc;
    rc = get_matrix(m, "output.weight", c->n_vocab, dim, &m->output, 1, err);
    if (rc == DT_ENOTFOUND) {
        m->output = m->tok_embd;
        c->tied_embeddings = 1;
    } else if (rc) {
        return rc;
    }
    int p1 = m->format == DT_FORMAT_SAFETENSORS && (c->arch->flags & DT_AF_HF_NORM_PLUS_ONE);
    if ((rc = get_vector(m, "output_norm.weight", dim, &m->output_norm, 0, p1, err)))
        return rc;
    if (c->arch->norm == DT_NORM_LAYER &&
        (rc = get_vector(m, "output_norm.bias", dim, &m->output_norm_b, 0, 0, err)))
        return rc;
    if ((rc = bind_rope_freqs(m, err)))
        return rc;
    if (c->arch->flags & DT_AF_EMBED_SCALE_SQRT)
        c->embed_scale = sqrtf((float)c->dim);
    m->layers = dt_calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    for (int i = 0; i < c->n_layer; i++) {
        if ((rc = bind_layer(m, i, err)))
            return rc;
        c->qkv_bias |= m->layers[i].bq != NULL;
    }
    return 0;
}

void dt_model_free(struct dt_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int i = 0; i < m->cfg.n_layer; i++) {
            struct dt_layer *l = &m->layers[i];
            float *v[] = {l->attn_norm, l->attn_norm_b, l->ffn_norm, l->ffn_norm_b,
                          l->attn_post_norm, l->ffn_post_norm, l->q_norm, l->k_norm,
                          l->bq, l->bk, l->bv, l->bo, l->gate_inp_shexp};
            for (size_t j = 0; j < sizeof v / sizeof v[0]; j++)
                dt_free(v[j]);
        }
    }
    dt_free(m->layers);
    dt_free(m->output_norm);
    dt_free(m->output_norm_b);
    dt_free(m->cfg.rope_freq_factors);
    dt_forward_release(m);
    for (size_t i = 0; i < m->n_tensors; i++)
        dt_free(m->names[i]);
    dt_free(m->names);
    dt_free(m->tensors);
    for (size_t i = 0; i < m->n_owned; i++)
        dt_free(m->owned[i]);
    dt_free(m->owned);
    dt_tokenizer_free(m->tok);
    dt_gguf_free(m->gguf);
    dt_st_set_free(m->st);
    dt_free(m->path);
    dt_free(m);
}

int dt_model_open(const char *path, struct dt_model **out, struct dt_error *err)
{
    struct dt_model *m = dt_calloc(1, sizeof *m);
    if (!m)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc;
    m->path = dt_strdup(path);
    if (!m->path) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto fail;
    }
    if (!dt_path_exists(path)) {
        rc = dt_error_set(err, DT_EIO, "'%s' does not exist", path);
        goto fail;
    }
    if (dt_path_is_dir(path) || ends_with(path, ".safetensors") ||
        ends_with(path, ".safetensors.index.json")) {
        m->format = DT_FORMAT_SAFETENSORS;
        rc = load_hf(m, path, err);
    } else {
        m->format = DT_FORMAT_GGUF;
        rc = load_gguf(m, path, err);
    }
    if (rc)
        goto fail_prefix;
    if ((rc = bind_weights(m, err)))
        goto fail_prefix;
    if ((rc = dt_forward_init(m, err)))
        goto fail_prefix;
    dt_error_clear(err); /* optional keys that were absent leave messages behind */
    *out = m;
    return 0;
fail_prefix:
    /* Messages from the readers already name the file; add it to model-level ones. */
    if (err && !strstr(err->msg, path))
        dt_error_prefix(err, "'%s'", path);
fail:
    dt_model_free(m);
    return rc;
}

const struct dt_model_config *dt_model_config(const struct dt_model *m) { return &m->cfg; }
const struct dt_tokenizer *dt_model_tokenizer(const struct dt_model *m) { return m->tok; }
enum dt_model_format dt_model_format(const struct dt_model *m) { return m->format; }
const char *dt_model_path(const struct dt_model *m) { return m->path; }
int64_t dt_model_n_params(const struct dt_model *m) { return m->n_params; }
size_t dt_model_n_tensors(const struct dt_model *m) { return m->n_tensors; }

int dt_model_tensor(const struct dt_model *m, size_t i, struct dt_weight *out)
{
    if (i >= m->n_tensors)
        return DT_EINVAL;
    *out = m->tensors[i];
    return 0;
}

int dt_model_find_tensor(const struct dt_model *m, const char *name, struct dt_weight *out)
{
    const struct dt_weight *w = find_weight(m, name);
    if (!w)
        return DT_ENOTFOUND;
    *out = *w;
    return 0;
}

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
 * RoPE pairing: GGUF llama tensors were permuted by llama.cpp's converter, so they rotate
 * adjacent pairs; GGUF qwen2 and every HF checkpoint rotate half-split pairs.
 */
#include "infer/model.h"

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

/* A 1-D vector of n elements, copied to f32. */
static int get_vector(const struct dt_model *m, const char *name, int64_t n, float **out,
                      int optional, struct dt_error *err)
{
    struct dt_weight w;
    int rc = get_matrix(m, name, 1, n, &w, optional, err);
    if (rc)
        return rc;
    float *v = dt_malloc_array((size_t)n, sizeof(float));
    if (!v)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    dt_ggml_dequantize(w.type, w.data, v, n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            dt_free(v);
            return dt_error_set(err, DT_EFORMAT, "tensor '%s' element %lld is not finite", name,
                                (long long)i);
        }
    *out = v;
    return 0;
}

/* ---- configuration ---- */

static int check_config(struct dt_model_config *c, struct dt_error *err)
{
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
    if (!(c->rms_eps >= 0) || !isfinite(c->rms_eps))
        return dt_error_set(err, DT_EFORMAT, "rms norm epsilon %g is invalid", (double)c->rms_eps);
    if (c->n_ctx_train <= 0)
        c->n_ctx_train = 2048;
    return 0;
}

static int gguf_int(const struct dt_gguf *g, const char *arch, const char *suffix, int *out,
                    int required, struct dt_error *err)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    int rc = dt_gguf_get_u32(g, key, &v, err);
    if (rc == DT_ENOTFOUND && !required)
        return 0;
    if (rc == DT_ENOTFOUND)
        return dt_error_set(err, DT_EFORMAT, "metadata key '%s' is missing", key);
    if (rc)
        return rc;
    if (v > (uint32_t)MAX_VOCAB)
        return dt_error_set(err, DT_EFORMAT, "metadata key '%s' value %u is out of range", key, v);
    *out = (int)v;
    return 0;
}

static int gguf_float(const struct dt_gguf *g, const char *arch, const char *suffix, float *out,
                      struct dt_error *err)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = dt_gguf_get_f32(g, key, out, err);
    return rc == DT_ENOTFOUND ? 0 : rc;
}

static int load_gguf(struct dt_model *m, const char *path, struct dt_error *err)
{
    char *arch = NULL;
    int rc = dt_gguf_open(path, &m->gguf, err);
    if (rc)
        return rc;
    const struct dt_gguf *g = m->gguf;
    rc = dt_gguf_get_str(g, "general.architecture", &arch, err);
    if (rc == DT_ENOTFOUND)
        rc = dt_error_set(err, DT_EFORMAT, "metadata key 'general.architecture' is missing");
    if (rc)
        goto out;
    struct dt_model_config *c = &m->cfg;
    if (!strcmp(arch, "llama")) {
        c->arch = DT_ARCH_LLAMA;
        c->rope_half_split = 0;
    } else if (!strcmp(arch, "qwen2")) {
        c->arch = DT_ARCH_QWEN2;
        c->rope_half_split = 1;
    } else {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "architecture '%.64s' is not supported (llama, qwen2 are)",
                          arch);
        goto out;
    }
    c->rope_theta = 10000.0f;
    c->rms_eps = 1e-5f;
    if ((rc = gguf_int(g, arch, "block_count", &c->n_layer, 1, err)) ||
        (rc = gguf_int(g, arch, "embedding_length", &c->dim, 1, err)) ||
        (rc = gguf_int(g, arch, "attention.head_count", &c->n_head, 1, err)) ||
        (rc = gguf_int(g, arch, "feed_forward_length", &c->ffn_dim, 1, err)) ||
        (rc = gguf_int(g, arch, "context_length", &c->n_ctx_train, 0, err)) ||
        (rc = gguf_int(g, arch, "attention.key_length", &c->head_dim, 0, err)) ||
        (rc = gguf_int(g, arch, "rope.dimension_count", &c->rope_dim, 0, err)) ||
        (rc = gguf_float(g, arch, "rope.freq_base", &c->rope_theta, err)) ||
        (rc = gguf_float(g, arch, "attention.layer_norm_rms_epsilon", &c->rms_eps, err)))
        goto out;
    c->n_head_kv = c->n_head;
    if ((rc = gguf_int(g, arch, "attention.head_count_kv", &c->n_head_kv, 0, err)))
        goto out;

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
    if ((rc = dt_tokenizer_from_gguf(g, &m->tok, err)))
        goto out;
out:
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

/* Maps an HF tensor name to the GGUF name; returns 0 and fills buf, or -1 when unmapped. */
static int map_hf_name(const char *hf, char *buf, size_t n)
{
    static const char *const fixed[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(hf, fixed[i][0])) {
            snprintf(buf, n, "%s", fixed[i][1]);
            return 0;
        }
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    const char *prefix = "model.layers.";
    if (strncmp(hf, prefix, strlen(prefix)))
        return -1;
    const char *p = hf + strlen(prefix);
    char *end;
    long li = strtol(p, &end, 10);
    if (end == p || *end != '.' || li < 0 || li >= MAX_LAYERS || (p[0] == '0' && end - p > 1))
        return -1;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (!strcmp(end + 1, layer[i][0])) {
            snprintf(buf, n, "blk.%ld.%s", li, layer[i][1]);
            return 0;
        }
    return -1;
}

static int load_hf(struct dt_model *m, const char *path, struct dt_error *err)
{
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
    if (!strcmp(mt->valuestring, "llama") || !strcmp(mt->valuestring, "mistral")) {
        c->arch = DT_ARCH_LLAMA;
    } else if (!strcmp(mt->valuestring, "qwen2")) {
        c->arch = DT_ARCH_QWEN2;
    } else {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': model_type '%.64s' is not supported (llama, qwen2 are)",
                          cfg_path, mt->valuestring);
        goto out;
    }
    c->rope_half_split = 1;
    c->rope_theta = 10000.0f;
    c->rms_eps = 1e-6f;
    int tie = c->arch == DT_ARCH_QWEN2;
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
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        if ((rc = json_float(rp, "rope_theta", &c->rope_theta, cfg_path, err)))
            goto out;
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (cJSON_IsString(rt) && strcmp(rt->valuestring, "default")) {
            rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': rope_type '%.32s' is not supported",
                              cfg_path, rt->valuestring);
            goto out;
        }
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (cJSON_IsObject(rs)) {
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!rt)
            rt = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (cJSON_IsString(rt) && strcmp(rt->valuestring, "default")) {
            rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': rope_scaling '%.32s' is not supported",
                              cfg_path, rt->valuestring);
            goto out;
        }
    }

    size_t n = m->st->n_tensors;
    m->tensors = dt_calloc(n ? n : 1, sizeof *m->tensors);
    m->names = dt_calloc(n ? n : 1, sizeof *m->names);
    if (!m->tensors || !m->names) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu tensors", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct dt_st_tensor *t = m->st->tensors[i];
        char name[256];
        if (map_hf_name(t->name, name, sizeof name))
            snprintf(name, sizeof name, "%s", t->name);
        int64_t rows = 1, cols = t->n_dims ? t->shape[t->n_dims - 1] : 1;
        for (int d = 0; d + 1 < t->n_dims; d++)
            rows *= t->shape[d]; /* cannot overflow: n_elems was checked */
        if ((rc = add_tensor(m, name, t->type, rows, cols, t->data, t->n_elems, err)))
            goto out;
    }
    /* Tied checkpoints may still store lm_head (equal to the embedding); bind_weights uses it
     * when present and the embedding otherwise, so `tie` needs no further handling. */
    (void)tie;
    if (!dt_path_exists(tok_path)) {
        rc = dt_error_set(err, DT_EIO, "'%s' is missing (needed next to the weights)", tok_path);
        goto out;
    }
    rc = dt_tokenizer_from_json(tok_path, &m->tok, err);
out:
    cJSON_Delete(root);
    dt_free(text);
    dt_free(tok_path);
    dt_free(cfg_path);
    dt_free(dir);
    return rc;
}

/* ---- common ---- */

static int bind_weights(struct dt_model *m, struct dt_error *err)
{
    struct dt_model_config *c = &m->cfg;
    int rc = check_config(c, err);
    if (rc)
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
    int64_t dim = c->dim, q = (int64_t)c->n_head * c->head_dim,
            kv = (int64_t)c->n_head_kv * c->head_dim, ffn = c->ffn_dim;
    if ((rc = get_matrix(m, "token_embd.weight", c->n_vocab, dim, &m->tok_embd, 0, err)))
        return rc;
    rc = get_matrix(m, "output.weight", c->n_vocab, dim, &m->output, 1, err);
    if (rc == DT_ENOTFOUND) {
        m->output = m->tok_embd;
        c->tied_embeddings = 1;
    } else if (rc) {
        return rc;
    }
    if ((rc = get_vector(m, "output_norm.weight", dim, &m->output_norm, 0, err)))
        return rc;
    m->layers = dt_calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int n_bias = 0;
    for (int i = 0; i < c->n_layer; i++) {
        struct dt_layer *l = &m->layers[i];
        char name[96];
#define MAT(field, suffix, r, cc)                                                               \
    snprintf(name, sizeof name, "blk.%d." suffix, i);                                          \
    if ((rc = get_matrix(m, name, r, cc, &l->field, 0, err)))                                  \
        return rc;
#define VEC(field, suffix, nn, opt)                                                             \
    snprintf(name, sizeof name, "blk.%d." suffix, i);                                          \
    rc = get_vector(m, name, nn, &l->field, opt, err);                                         \
    if (rc && rc != DT_ENOTFOUND)                                                              \
        return rc;
        MAT(wq, "attn_q.weight", q, dim)
        MAT(wk, "attn_k.weight", kv, dim)
        MAT(wv, "attn_v.weight", kv, dim)
        MAT(wo, "attn_output.weight", dim, q)
        MAT(w_gate, "ffn_gate.weight", ffn, dim)
        MAT(w_up, "ffn_up.weight", ffn, dim)
        MAT(w_down, "ffn_down.weight", dim, ffn)
        VEC(attn_norm, "attn_norm.weight", dim, 0)
        VEC(ffn_norm, "ffn_norm.weight", dim, 0)
        VEC(bq, "attn_q.bias", q, 1)
        VEC(bk, "attn_k.bias", kv, 1)
        VEC(bv, "attn_v.bias", kv, 1)
#undef MAT
#undef VEC
        int nb = (l->bq != NULL) + (l->bk != NULL) + (l->bv != NULL);
        if (nb != 0 && nb != 3)
            return dt_error_set(err, DT_EFORMAT, "layer %d has only some of the q/k/v biases", i);
        n_bias += nb;
    }
    if (n_bias != 0 && n_bias != 3 * c->n_layer)
        return dt_error_set(err, DT_EFORMAT, "q/k/v biases are present in some layers only");
    c->qkv_bias = n_bias > 0;
    return 0;
}

void dt_model_free(struct dt_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int i = 0; i < m->cfg.n_layer; i++) {
            struct dt_layer *l = &m->layers[i];
            dt_free(l->attn_norm);
            dt_free(l->ffn_norm);
            dt_free(l->bq);
            dt_free(l->bk);
            dt_free(l->bv);
        }
    }
    dt_free(m->layers);
    dt_free(m->output_norm);
    dt_forward_release(m);
    for (size_t i = 0; i < m->n_tensors; i++)
        dt_free(m->names[i]);
    dt_free(m->names);
    dt_free(m->tensors);
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
    m->n_threads = DT_MODEL_DEFAULT_THREADS;
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

void dt_model_set_threads(struct dt_model *m, int n_threads)
{
    if (n_threads > 0)
        m->n_threads = n_threads > 64 ? 64 : n_threads;
}

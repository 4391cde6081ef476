/*
 * Model description for `distiltrace inspect`.
 *
 * Opens a GGUF file with the validating reader, then collects what an auditor wants to see
 * first: format and version, architecture and name, the architecture's key hyperparameters,
 * the tokenizer model and vocabulary size, every tensor (name, type, shape), the tensor type
 * histogram, the parameter count, and the file's size, SHA-256 and XXH3-128. Every metadata
 * key is listed too, with long arrays summarized as "array[type; n]". Vocab-only files (no
 * tensors) are described the same way. The result is one cJSON object; the text form is
 * rendered from that object so both outputs always agree.
 *
 * Safetensors checkpoints (a .safetensors file, a model.safetensors.index.json, or a Hugging
 * Face directory) go through the validating safetensors reader instead; the architecture and
 * hyperparameters come from config.json and the tokenizer from tokenizer.json when they sit
 * next to the weights (a lone weights file is described without them). Size and hashes cover
 * the weight files: for one file they are that file's, for shards each shard is listed.
 */
#include "infer/inspect.h"

#include "infer/arch.h"
#include "infer/chat_template.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "infer/model_internal.h"
#include "infer/gguf.h"
#include "infer/safetensors.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_gguf.h"
#include "infer/tokenizer_json.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>


static const char *vtype_name(uint32_t t)
{
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                        "int32", "float32", "bool",  "string", "array",
                                        "uint64", "int64", "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* A JSON value for a metadata entry: numbers, bools and strings as themselves (long strings
 * such as chat templates are cut at 256 bytes), short numeric arrays as arrays, anything
 * else as a summary string. */
static cJSON *kv_json(const struct dt_gguf_kv *kv)
{
    char tmp[96];
    switch (kv->type) {
    case DT_GGUF_UINT8:
    case DT_GGUF_UINT16:
    case DT_GGUF_UINT32:
    case DT_GGUF_UINT64:
        return cJSON_CreateNumber((double)kv->v.u64);
    case DT_GGUF_INT8:
    case DT_GGUF_INT16:
    case DT_GGUF_INT32:
    case DT_GGUF_INT64:
        return cJSON_CreateNumber((double)kv->v.i64);
    case DT_GGUF_FLOAT32:
    case DT_GGUF_FLOAT64:
        /* cJSON prints non-finite numbers as null, which is what JSON allows. */
        return cJSON_CreateNumber(kv->v.f64);
    case DT_GGUF_BOOL:
        return cJSON_CreateBool(kv->v.u64 != 0);
    case DT_GGUF_STRING: {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        size_t n = kv->v.str.n_bytes > 256 ? 256 : (size_t)kv->v.str.n_bytes;
        dt_strbuf_append_utf8(&sb, kv->v.str.ptr, n);
        if (n < kv->v.str.n_bytes)
            dt_strbuf_printf(&sb, "... (%" PRIu64 " bytes)", kv->v.str.n_bytes);
        cJSON *j = dt_strbuf_failed(&sb) ? NULL : cJSON_CreateString(sb.data ? sb.data : "");
        dt_strbuf_release(&sb);
        return j;
    }
    case DT_GGUF_ARRAY:
        if (kv->arr_n <= 16 && kv->arr_type != DT_GGUF_STRING && kv->arr_type != DT_GGUF_ARRAY) {
            cJSON *a = cJSON_CreateArray();
            for (uint64_t i = 0; a && i < kv->arr_n; i++)
                cJSON_AddItemToArray(a, cJSON_CreateNumber(dt_gguf_arr_f64(kv, i)));
            return a;
        }
        snprintf(tmp, sizeof tmp, "array[%s; %" PRIu64 "]", vtype_name(kv->arr_type), kv->arr_n);
        return cJSON_CreateString(tmp);
    default:
        return cJSON_CreateNull();
    }
}

/* The chat format compare would use (infer/chat_template.h): its kind, a one-line description
 * and the render of a one-message conversation. A template that cannot be used is described,
 * not an error. tok may be NULL (src then holds the template text, if any). */
static int add_chat_format(cJSON *o, const struct dt_tokenizer *tok, const char *path,
                           const char *src, struct dt_error *err)
{
    struct dt_chat_template *ct = NULL;
    int rc = tok ? dt_chat_template_open(tok, path, NULL, NULL, &ct, err)
                 : dt_chat_template_from_source(src ? src : "", src ? strlen(src) : 0, NULL, NULL,
                                                NULL, &ct, err);
    if (rc)
        return rc;
    if (!tok && !src) { /* no template at all */
        dt_chat_template_free(ct);
        ct = NULL;
    }
    cJSON *cj = cJSON_AddObjectToObject(o, "chat_template");
    dt_json_add_string(cj, "kind", dt_chat_template_name(ct));
    dt_json_add_string(cj, "description", dt_chat_template_describe(ct));
    if (dt_chat_template_sha256(ct)) {
        dt_json_add_string(cj, "sha256", dt_chat_template_sha256(ct));
        cJSON_AddNumberToObject(cj, "bytes", (double)dt_chat_template_n_bytes(ct));
    }
    if (dt_chat_template_kind(ct) != DT_CHAT_NONE) {
        char *ex = NULL;
        struct dt_error e2 = {0};
        if (dt_chat_template_render(ct, NULL, "Hello!", &ex, &e2) == 0)
            dt_json_add_string(cj, "example", ex);
        dt_free(ex);
    }
    dt_chat_template_free(ct);
    return 0;
}

static int describe_gguf(const char *path, cJSON *o, struct dt_error *err)
{
    struct dt_gguf *g = NULL;
    char *arch = NULL;
    int rc = dt_gguf_open(path, &g, err);
    if (rc)
        return rc;
    cJSON_AddStringToObject(o, "format", "gguf");
    cJSON_AddNumberToObject(o, "gguf_version", g->version);

    const struct dt_gguf_kv *kv = dt_gguf_find(g, "general.architecture");
    if (kv) {
        cJSON_AddItemToObject(o, "architecture", kv_json(kv));
        arch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "architecture"));
    } else
        cJSON_AddNullToObject(o, "architecture");
    kv = dt_gguf_find(g, "general.name");
    if (kv)
        cJSON_AddItemToObject(o, "name", kv_json(kv));
    else
        cJSON_AddNullToObject(o, "name");

    cJSON *hp = cJSON_AddObjectToObject(o, "hyperparameters");
    if (arch && hp) {
        /* Every ARCH.* key the architecture table knows (infer/arch.h), in its order. */
        for (int i = 0; i < DT_K_COUNT; i++) {
            const char *suffix = dt_arch_key_suffix((enum dt_key)i);
            char key[256];
            snprintf(key, sizeof key, "%s.%s", arch, suffix);
            if ((kv = dt_gguf_find(g, key)))
                cJSON_AddItemToObject(hp, suffix, kv_json(kv));
        }
    }

    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    if (tok) {
        if ((kv = dt_gguf_find(g, "tokenizer.ggml.model")))
            cJSON_AddItemToObject(tok, "model", kv_json(kv));
        if ((kv = dt_gguf_find(g, "tokenizer.ggml.pre")))
            cJSON_AddItemToObject(tok, "pre", kv_json(kv));
        kv = dt_gguf_find(g, "tokenizer.ggml.tokens");
        cJSON_AddNumberToObject(tok, "vocab_size", kv ? (double)kv->arr_n : 0);
        kv = dt_gguf_find(g, "tokenizer.ggml.merges");
        if (kv)
            cJSON_AddNumberToObject(tok, "n_merges", (double)kv->arr_n);
    }

    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    for (uint64_t i = 0; meta && i < g->n_kv; i++)
        cJSON_AddItemToObject(meta, g->kv[i].key, kv_json(&g->kv[i]));

    uint64_t hist[DT_GGML_TYPE_COUNT] = {0};
    double n_params = 0;
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (uint64_t i = 0; ts && i < g->n_tensors; i++) {
        const struct dt_gguf_tensor *t = &g->tensors[i];
        cJSON *tj = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateArray();
        if (!tj || !shape) {
            cJSON_Delete(tj);
            cJSON_Delete(shape);
            break;
        }
        cJSON_AddStringToObject(tj, "name", t->name);
        cJSON_AddStringToObject(tj, "type", dt_ggml_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddItemToObject(tj, "shape", shape);
        cJSON_AddNumberToObject(tj, "n_bytes", (double)t->n_bytes);
        cJSON_AddNumberToObject(tj, "offset", (double)(g->data_offset + t->offset));
        cJSON_AddItemToArray(ts, tj);
        hist[t->type]++;
        n_params += (double)t->n_elems;
    }
    cJSON *hj = cJSON_AddObjectToObject(o, "tensor_types");
    for (uint32_t t = 0; hj && t < DT_GGML_TYPE_COUNT; t++)
        if (hist[t])
            cJSON_AddNumberToObject(hj, dt_ggml_type_name(t), (double)hist[t]);
    cJSON_AddNumberToObject(o, "n_tensors", (double)g->n_tensors);
    cJSON_AddNumberToObject(o, "n_kv", (double)g->n_kv);
    cJSON_AddNumberToObject(o, "parameter_count", n_params);
    /* with the tokenizer's bos/eos when it loads; the template alone otherwise */
    struct dt_tokenizer *tk = NULL;
    char *src = NULL;
    if (dt_tokenizer_from_gguf(g, &tk, NULL))
        tk = NULL;
    if (!tk && dt_gguf_get_str(g, "tokenizer.chat_template", &src, NULL))
        src = NULL;
    rc = add_chat_format(o, tk, path, src, err);
    dt_tokenizer_free(tk);
    dt_free(src);
    dt_gguf_free(g);
    return rc;
}

/* config.json keys shown as hyperparameters, when present. */
static const char *const hf_hparams[] = {
    "num_hidden_layers",   "max_position_embeddings", "hidden_size",
    "intermediate_size",   "num_attention_heads",     "num_key_value_heads",
    "head_dim",            "rms_norm_eps",            "rope_theta",
    "vocab_size",          "tie_word_embeddings",     "torch_dtype",
    "dtype",
};

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* True when path names a safetensors checkpoint rather than a GGUF file. */
static int is_safetensors_path(const char *path)
{
    return dt_path_is_dir(path) || ends_with(path, ".safetensors") ||
           ends_with(path, ".safetensors.index.json");
}

/* Reads dir/name as a JSON object; *out stays NULL when the file does not exist. */
static int read_json(const char *dir, const char *name, cJSON **out, struct dt_error *err)
{
    char *p = dt_path_join(dir, name), *text = NULL;
    size_t n;
    int rc = 0;
    *out = NULL;
    if (!p)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!dt_path_exists(p))
        goto out;
    if ((rc = dt_file_read_all(p, 64u << 20, &text, &n, err)))
        goto out;
    *out = cJSON_ParseWithLength(text, n);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        rc = dt_error_set(err, DT_EFORMAT, "'%s' is not a JSON object", p);
    }
out:
    dt_free(text);
    dt_free(p);
    return rc;
}

static int describe_safetensors(const char *path, cJSON *o, struct dt_error *err)
{
    struct dt_st_set *set = NULL;
    struct dt_tokenizer *tok = NULL;
    cJSON *cfg = NULL;
    char *dir = NULL, *tok_path = NULL;
    int rc = dt_st_set_open(path, &set, err);
    if (rc) {
        dt_error_prefix(err, "invalid safetensors checkpoint");
        return rc;
    }
    if (dt_path_is_dir(path)) {
        dir = dt_strdup(path);
    } else {
        const char *slash = strrchr(path, '/');
        dir = slash ? dt_strndup(path, (size_t)(slash - path) + (slash == path)) : dt_strdup(".");
    }
    tok_path = dir ? dt_path_join(dir, "tokenizer.json") : NULL;
    if (!dir || !tok_path) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = read_json(dir, "config.json", &cfg, err)))
        goto out;
    cJSON_AddStringToObject(o, "format", "safetensors");
    cJSON_AddNumberToObject(o, "n_files", (double)set->n_files);

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt))
        cJSON_AddStringToObject(o, "architecture", mt->valuestring);
    else
        cJSON_AddNullToObject(o, "architecture");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *a0 = cJSON_GetArrayItem(archs, 0);
    if (cJSON_IsString(a0))
        cJSON_AddStringToObject(o, "name", a0->valuestring);
    else
        cJSON_AddNullToObject(o, "name");
    cJSON *hp = cJSON_AddObjectToObject(o, "hyperparameters");
    for (size_t i = 0; cfg && hp && i < sizeof hf_hparams / sizeof hf_hparams[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, hf_hparams[i]);
        if (v && !cJSON_IsNull(v))
            cJSON_AddItemToObject(hp, hf_hparams[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_parameters");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rp, "rope_theta");
    if (hp && cJSON_IsNumber(rt) && !cJSON_GetObjectItemCaseSensitive(hp, "rope_theta"))
        cJSON_AddNumberToObject(hp, "rope_theta", rt->valuedouble);

    cJSON *tj = cJSON_AddObjectToObject(o, "tokenizer");
    if (tj && dt_path_exists(tok_path)) {
        if ((rc = dt_tokenizer_from_json(tok_path, &tok, err)))
            goto out;
        cJSON_AddStringToObject(tj, "model", dt_tokenizer_kind(tok) == DT_TOK_SPM ? "llama" : "gpt2");
        if (dt_tokenizer_pre(tok))
            cJSON_AddStringToObject(tj, "pre", dt_tokenizer_pre(tok));
        cJSON_AddNumberToObject(tj, "vocab_size", dt_tokenizer_n_vocab(tok));
        cJSON_AddNumberToObject(tj, "n_merges", (double)dt_tokenizer_n_merges(tok));
        if ((rc = add_chat_format(o, tok, path, NULL, err)))
            goto out;
    }

    /* Tensors in name order (the set's order), with shapes in safetensors order. */
    uint64_t hist[DT_GGML_TYPE_COUNT] = {0};
    double n_params = 0;
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (size_t i = 0; ts && i < set->n_tensors; i++) {
        const struct dt_st_tensor *t = set->tensors[i];
        cJSON *tt = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateArray();
        if (!tt || !shape) {
            cJSON_Delete(tt);
            cJSON_Delete(shape);
            break;
        }
        cJSON_AddStringToObject(tt, "name", t->name);
        cJSON_AddStringToObject(tt, "type", dt_ggml_type_name(t->type));
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(tt, "shape", shape);
        cJSON_AddNumberToObject(tt, "n_bytes", (double)t->n_bytes);
        cJSON_AddItemToArray(ts, tt);
        if (t->type < DT_GGML_TYPE_COUNT)
            hist[t->type]++;
        n_params += (double)t->n_elems;
    }
    cJSON *hj = cJSON_AddObjectToObject(o, "tensor_types");
    for (uint32_t t = 0; hj && t < DT_GGML_TYPE_COUNT; t++)
        if (hist[t])
            cJSON_AddNumberToObject(hj, dt_ggml_type_name(t), (double)hist[t]);
    cJSON_AddNumberToObject(o, "n_tensors", (double)set->n_tensors);
    cJSON_AddNumberToObject(o, "parameter_count", n_params);

    /* Size and hashes of the mapped weight files. */
    double total = 0;
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (size_t i = 0; files && i < set->n_files; i++) {
        const struct dt_safetensors *f = set->files[i];
        char sha[DT_SHA256_HEX_LEN + 1], xxh[DT_XXH128_HEX_LEN + 1];
        if ((rc = dt_hash_sha256_hex(f->map.data, f->map.size_bytes, sha))) {
            rc = dt_error_set(err, rc, "cannot hash '%s'", f->path ? f->path : path);
            goto out;
        }
        dt_hash_xxh128_hex(f->map.data, f->map.size_bytes, xxh);
        cJSON *fj = cJSON_CreateObject();
        if (!fj)
            break;
        cJSON_AddStringToObject(fj, "path", f->path ? f->path : "?");
        cJSON_AddNumberToObject(fj, "size", (double)f->map.size_bytes);
        cJSON_AddStringToObject(fj, "sha256", sha);
        cJSON_AddStringToObject(fj, "xxh3_128", xxh);
        cJSON_AddItemToArray(files, fj);
        total += (double)f->map.size_bytes;
        if (set->n_files == 1) {
            cJSON_AddStringToObject(o, "sha256", sha);
            cJSON_AddStringToObject(o, "xxh3_128", xxh);
        }
    }
    cJSON_AddNumberToObject(o, "file_size", total);
out:
    dt_tokenizer_free(tok);
    cJSON_Delete(cfg);
    dt_free(tok_path);
    dt_free(dir);
    dt_st_set_free(set);
    return rc;
}

/* Whether the forward pass can run the model: "forward": {"supported": true} or
 * {"supported": false, "reason": the loader's one-line refusal}, so an auditor sees before a
 * compare that an architecture, key or tensor is refused and which. */
static void add_forward_support(const char *path, cJSON *o)
{
    struct dt_model *m = NULL;
    struct dt_error e;
    dt_error_clear(&e);
    int rc = dt_model_open(path, &m, &e);
    cJSON *f = cJSON_AddObjectToObject(o, "forward");
    if (!f) {
        dt_model_free(m);
        return;
    }
    cJSON_AddBoolToObject(f, "supported", rc == 0);
    if (rc)
        cJSON_AddStringToObject(f, "reason", e.msg);
    else {
        cJSON_AddStringToObject(f, "architecture", dt_model_config(m)->arch->name);
        cJSON_AddNumberToObject(f, "context", dt_model_config(m)->n_ctx_train);
        if (m->ctx_window_key[0]) {
            char note[160];
            snprintf(note, sizeof note, "context cut to the sliding window of key '%s'",
                     m->ctx_window_key);
            cJSON_AddStringToObject(f, "note", note);
        }
    }
    dt_model_free(m);
}

int dt_inspect_model(const char *path, cJSON **out, struct dt_error *err)
{
    char sha[DT_SHA256_HEX_LEN + 1], xxh[DT_XXH128_HEX_LEN + 1];
    uint64_t size = 0;
    int rc = 0;
    if (!dt_path_exists(path))
        return dt_error_set(err, DT_EIO, "'%s' does not exist", path);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return dt_error_set(err, DT_ENOMEM, "out of memory describing '%s'", path);
    cJSON_AddStringToObject(o, "path", path);
    if (is_safetensors_path(path)) {
        if ((rc = describe_safetensors(path, o, err)))
            goto out;
    } else {
        if ((rc = describe_gguf(path, o, err)))
            goto out;
        if ((rc = dt_hash_file(path, sha, xxh, &size, err)))
            goto out;
        cJSON_AddNumberToObject(o, "file_size", (double)size);
        cJSON_AddStringToObject(o, "sha256", sha);
        cJSON_AddStringToObject(o, "xxh3_128", xxh);
    }
    add_forward_support(path, o);
    /* cJSON's adders fail silently on allocation failure; check the last one made it. */
    if (!cJSON_GetObjectItem(o, "file_size"))
        rc = dt_error_set(err, DT_ENOMEM, "out of memory describing '%s'", path);
out:
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : dflt;
}

static double num_or(const cJSON *o, const char *key, double dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : dflt;
}

static void render_value(struct dt_strbuf *sb, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        dt_strbuf_puts(sb, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && d < 9e15 && d > -9e15)
            dt_strbuf_printf(sb, "%" PRId64, (int64_t)d);
        else
            dt_strbuf_printf(sb, "%g", d);
    } else {
        char *s = cJSON_PrintUnformatted(v);
        dt_strbuf_puts(sb, s ? s : "?");
        cJSON_free(s);
    }
}

void dt_inspect_render_text(const cJSON *o, struct dt_strbuf *sb)
{
    const cJSON *v;
    dt_strbuf_printf(sb, "file          %s\n", str_or(o, "path", "?"));
    dt_strbuf_printf(sb, "size          %.0f bytes\n", num_or(o, "file_size", 0));
    if (cJSON_GetObjectItemCaseSensitive(o, "gguf_version"))
        dt_strbuf_printf(sb, "format        %s v%.0f\n", str_or(o, "format", "?"),
                         num_or(o, "gguf_version", 0));
    else
        dt_strbuf_printf(sb, "format        %s (%.0f file%s)\n", str_or(o, "format", "?"),
                         num_or(o, "n_files", 1), num_or(o, "n_files", 1) == 1 ? "" : "s");
    dt_strbuf_printf(sb, "architecture  %s\n", str_or(o, "architecture", "(none)"));
    dt_strbuf_printf(sb, "name          %s\n", str_or(o, "name", "(none)"));
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(o, "forward");
    if (fw) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fw, "supported")))
            dt_strbuf_printf(sb, "forward       supported (%s, context %.0f%s%s)\n",
                             str_or(fw, "architecture", "?"), num_or(fw, "context", 0),
                             cJSON_GetObjectItemCaseSensitive(fw, "note") ? "; " : "",
                             str_or(fw, "note", ""));
        else
            dt_strbuf_printf(sb, "forward       refused: %s\n", str_or(fw, "reason", "?"));
    }
    dt_strbuf_printf(sb, "sha256        %s\n", str_or(o, "sha256", "?"));
    dt_strbuf_printf(sb, "xxh3-128      %s\n", str_or(o, "xxh3_128", "?"));
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files");
    if (cJSON_GetArraySize(files) > 1) {
        cJSON_ArrayForEach(v, files)
        {
            dt_strbuf_printf(sb, "  shard       %s %.0f bytes sha256 %s\n", str_or(v, "path", "?"),
                             num_or(v, "size", 0), str_or(v, "sha256", "?"));
        }
    }

    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "tokenizer");
    dt_strbuf_printf(sb, "tokenizer     %s", str_or(tok, "model", "(none)"));
    if (cJSON_GetObjectItemCaseSensitive(tok, "pre"))
        dt_strbuf_printf(sb, " (pre '%s')", str_or(tok, "pre", "?"));
    dt_strbuf_printf(sb, ", %.0f tokens", num_or(tok, "vocab_size", 0));
    if (cJSON_GetObjectItemCaseSensitive(tok, "n_merges"))
        dt_strbuf_printf(sb, ", %.0f merges", num_or(tok, "n_merges", 0));
    dt_strbuf_putc(sb, '\n');

    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(o, "chat_template");
    if (ct)
        dt_strbuf_printf(sb, "chat template %s\n", str_or(ct, "description", "none"));
    dt_strbuf_printf(sb, "parameters    %.0f in %.0f tensors\n", num_or(o, "parameter_count", 0),
                     num_or(o, "n_tensors", 0));
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(o, "hyperparameters");
    if (cJSON_GetArraySize(hp) > 0) {
        dt_strbuf_puts(sb, "hyperparameters:\n");
        cJSON_ArrayForEach(v, hp)
        {
            dt_strbuf_printf(sb, "  %-34s ", v->string);
            render_value(sb, v);
            dt_strbuf_putc(sb, '\n');
        }
    }
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(o, "tensor_types");
    if (cJSON_GetArraySize(hist) > 0) {
        dt_strbuf_puts(sb, "tensor types: ");
        int first = 1;
        cJSON_ArrayForEach(v, hist)
        {
            dt_strbuf_printf(sb, "%s%s %.0f", first ? "" : ", ", v->string, v->valuedouble);
            first = 0;
        }
        dt_strbuf_putc(sb, '\n');
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "tensors");
    if (cJSON_GetArraySize(ts) > 0) {
        dt_strbuf_puts(sb, "tensors:\n");
        cJSON_ArrayForEach(v, ts)
        {
            dt_strbuf_printf(sb, "  %-40s %-6s [", str_or(v, "name", "?"), str_or(v, "type", "?"));
            const cJSON *d;
            int first = 1;
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(v, "shape"))
            {
                dt_strbuf_printf(sb, "%s%.0f", first ? "" : ", ", d->valuedouble);
                first = 0;
            }
            dt_strbuf_puts(sb, "]\n");
        }
    }
}

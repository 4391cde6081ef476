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
 */
#include "infer/inspect.h"

#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const hparam_suffixes[] = {
    "block_count",
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.layer_norm_rms_epsilon",
    "rope.dimension_count",
    "rope.freq_base",
    "vocab_size",
};

static const char *vtype_name(uint32_t t)
{
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                        "int32", "float32", "bool",  "string", "array",
                                        "uint64", "int64", "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Appends n bytes of s, replacing each byte that does not start a valid UTF-8 sequence with
 * U+FFFD, so that metadata strings from hostile files still make valid JSON. */
static void append_utf8(struct dt_strbuf *sb, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3
                                  : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
        int ok = len > 0 && n - i >= len && b != 0;
        uint32_t cp = len == 2 ? b & 0x1Fu : len == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t k = 1; ok && k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                ok = 0;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = 0;
        if (ok) {
            dt_strbuf_append(sb, p + i, len);
            i += len;
        } else {
            dt_strbuf_puts(sb, "\xef\xbf\xbd");
            i++;
        }
    }
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
        append_utf8(&sb, kv->v.str.ptr, n);
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
        for (size_t i = 0; i < sizeof hparam_suffixes / sizeof hparam_suffixes[0]; i++) {
            char key[256];
            snprintf(key, sizeof key, "%s.%s", arch, hparam_suffixes[i]);
            if ((kv = dt_gguf_find(g, key)))
                cJSON_AddItemToObject(hp, hparam_suffixes[i], kv_json(kv));
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
    dt_gguf_free(g);
    return 0;
}

int dt_inspect_model(const char *path, cJSON **out, struct dt_error *err)
{
    char sha[DT_SHA256_HEX_LEN + 1], xxh[DT_XXH128_HEX_LEN + 1];
    uint64_t size = 0;
    int rc = 0;
    if (dt_path_is_dir(path))
        return dt_error_set(err, DT_EUNSUPPORTED,
                            "'%s': inspecting hugging face checkpoint directories is not yet "
                            "supported",
                            path);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return dt_error_set(err, DT_ENOMEM, "out of memory describing '%s'", path);
    cJSON_AddStringToObject(o, "path", path);
    if ((rc = describe_gguf(path, o, err)))
        goto out;
    if ((rc = dt_hash_file(path, sha, xxh, &size, err)))
        goto out;
    cJSON_AddNumberToObject(o, "file_size", (double)size);
    cJSON_AddStringToObject(o, "sha256", sha);
    cJSON_AddStringToObject(o, "xxh3_128", xxh);
    /* cJSON's adders fail silently on allocation failure; check the last one made it. */
    if (!cJSON_GetObjectItem(o, "xxh3_128"))
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
    dt_strbuf_printf(sb, "format        %s v%.0f\n", str_or(o, "format", "?"),
                     num_or(o, "gguf_version", 0));
    dt_strbuf_printf(sb, "architecture  %s\n", str_or(o, "architecture", "(none)"));
    dt_strbuf_printf(sb, "name          %s\n", str_or(o, "name", "(none)"));
    dt_strbuf_printf(sb, "sha256        %s\n", str_or(o, "sha256", "?"));
    dt_strbuf_printf(sb, "xxh3-128      %s\n", str_or(o, "xxh3_128", "?"));

    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "tokenizer");
    dt_strbuf_printf(sb, "tokenizer     %s", str_or(tok, "model", "(none)"));
    if (cJSON_GetObjectItemCaseSensitive(tok, "pre"))
        dt_strbuf_printf(sb, " (pre '%s')", str_or(tok, "pre", "?"));
    dt_strbuf_printf(sb, ", %.0f tokens", num_or(tok, "vocab_size", 0));
    if (cJSON_GetObjectItemCaseSensitive(tok, "n_merges"))
        dt_strbuf_printf(sb, ", %.0f merges", num_or(tok, "n_merges", 0));
    dt_strbuf_putc(sb, '\n');

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

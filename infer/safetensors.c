/*
 * safetensors parsing and validation (format in infer/safetensors.h).
 *
 * The header is parsed with cJSON from the mapped bytes (copied once, NUL-terminated, since
 * cJSON needs it); nothing of the cJSON tree survives the open call. All offsets are checked
 * as u64 against the data section's length before any pointer is formed, and the coverage rule
 * (sorted, contiguous, exactly the data section) is checked after sorting a permutation by
 * begin. Shape products are overflow-checked in int64 / size_t.
 */
#include "infer/safetensors.h"

#include "infer/ggml_types.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_unsupported_dtypes[] = {
    "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL",
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", NULL,
};

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* A JSON number that is a whole number in [0, 2^53] (exactly representable). */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int dtype_from_name(const char *s, uint32_t *type, size_t *elem_bytes)
{
    if (!strcmp(s, "F32"))
        return *type = DT_GGML_F32, *elem_bytes = 4, 0;
    if (!strcmp(s, "F16"))
        return *type = DT_GGML_F16, *elem_bytes = 2, 0;
    if (!strcmp(s, "BF16"))
        return *type = DT_GGML_BF16, *elem_bytes = 2, 0;
    for (size_t i = 0; k_unsupported_dtypes[i]; i++)
        if (!strcmp(s, k_unsupported_dtypes[i]))
            return DT_EUNSUPPORTED;
    return DT_EFORMAT;
}

void dt_safetensors_free(struct dt_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tensors; i++)
        dt_free(st->tensors[i].name);
    dt_free(st->tensors);
    for (size_t i = 0; i < st->n_meta; i++) {
        dt_free(st->meta_keys[i]);
        dt_free(st->meta_values[i]);
    }
    dt_free(st->meta_keys);
    dt_free(st->meta_values);
    dt_free(st->path);
    dt_file_unmap(&st->map);
    dt_free(st);
}

static int cmp_by_begin(const void *a, const void *b)
{
    const struct dt_st_tensor *x = *(const struct dt_st_tensor *const *)a;
    const struct dt_st_tensor *y = *(const struct dt_st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_name_ptr(const void *a, const void *b)
{
    const struct dt_st_tensor *x = *(const struct dt_st_tensor *const *)a;
    const struct dt_st_tensor *y = *(const struct dt_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int parse_metadata(struct dt_safetensors *st, const cJSON *meta, struct dt_error *err)
{
    if (!cJSON_IsObject(meta))
        return dt_error_set(err, DT_EFORMAT, "'__metadata__' is not an object");
    size_t n = (size_t)cJSON_GetArraySize(meta);
    if (n == 0)
        return 0;
    st->meta_keys = dt_calloc(n, sizeof(char *));
    st->meta_values = dt_calloc(n, sizeof(char *));
    if (!st->meta_keys || !st->meta_values)
        return dt_error_set(err, DT_ENOMEM, "out of memory for safetensors metadata");
    for (const cJSON *e = meta->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return dt_error_set(err, DT_EFORMAT, "'__metadata__' entry '%s' is not a string",
                                e->string ? e->string : "");
        st->meta_keys[st->n_meta] = dt_strdup(e->string ? e->string : "");
        st->meta_values[st->n_meta] = dt_strdup(e->valuestring);
        st->n_meta++;
        if (!st->meta_keys[st->n_meta - 1] || !st->meta_values[st->n_meta - 1])
            return dt_error_set(err, DT_ENOMEM, "out of memory for safetensors metadata");
    }
    return 0;
}

static int parse_tensor(struct dt_st_tensor *t, const cJSON *e, uint64_t data_bytes,
                        struct dt_error *err)
{
    const char *name = t->name;
    if (!cJSON_IsObject(e))
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' is not an object", name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype))
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' has no string 'dtype'", name);
    size_t elem_bytes = 0;
    int rc = dtype_from_name(dtype->valuestring, &t->type, &elem_bytes);
    if (rc == DT_EUNSUPPORTED)
        return dt_error_set(err, rc, "tensor '%s' has unsupported dtype '%s' (F32, F16, BF16 are)",
                            name, dtype->valuestring);
    if (rc)
        return dt_error_set(err, rc, "tensor '%s' has unknown dtype '%.40s'", name,
                            dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' has no 'shape' array", name);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > DT_ST_MAX_DIMS)
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' has %d dims, at most %d supported", name,
                            n_dims, DT_ST_MAX_DIMS);
    t->n_dims = n_dims;
    size_t n_elems = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_u64(d, &v) || v > (uint64_t)INT64_MAX)
            return dt_error_set(err, DT_EFORMAT,
                                "tensor '%s' shape[%d] is not a non-negative integer", name, i);
        t->shape[i] = (int64_t)v;
        if (dt_mul_overflow(n_elems, (size_t)v, &n_elems) || n_elems > (size_t)INT64_MAX)
            return dt_error_set(err, DT_EFORMAT, "tensor '%s' shape product overflows", name);
    }
    t->n_elems = (int64_t)n_elems;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_u64(offs->child, &t->begin) || json_u64(offs->child->next, &t->end))
        return dt_error_set(err, DT_EFORMAT,
                            "tensor '%s' 'data_offsets' is not two non-negative integers", name);
    if (t->begin > t->end)
        return dt_error_set(err, DT_EFORMAT, "tensor '%s' data_offsets [%llu, %llu] are reversed",
                            name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_bytes)
        return dt_error_set(err, DT_EFORMAT,
                            "tensor '%s' data_offsets end %llu is past the data section (%llu bytes)",
                            name, (unsigned long long)t->end, (unsigned long long)data_bytes);
    size_t want;
    if (dt_mul_overflow(n_elems, elem_bytes, &want) || want != t->end - t->begin)
        return dt_error_set(err, DT_EFORMAT,
                            "tensor '%s' shape holds %zu %s elements but data_offsets span %llu bytes",
                            name, n_elems, dtype->valuestring,
                            (unsigned long long)(t->end - t->begin));
    t->n_bytes = (size_t)(t->end - t->begin);
    return 0;
}

static int parse(struct dt_safetensors *st, struct dt_error *err)
{
    const uint8_t *p = st->base;
    size_t size = st->size_bytes;
    char *json = NULL;
    cJSON *root = NULL;
    const struct dt_st_tensor **order = NULL;
    const struct dt_st_tensor **by_name = NULL;
    int rc = 0;

    if (size < 8) {
        rc = dt_error_set(err, DT_EFORMAT, "file of %zu bytes is too short for a safetensors header",
                          size);
        goto out;
    }
    uint64_t n_header = 0;
    for (int i = 7; i >= 0; i--)
        n_header = (n_header << 8) | p[i];
    if (n_header < 2 || n_header > DT_ST_MAX_HEADER_BYTES) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "header length %llu at offset 0 is out of range (2 to %llu bytes)",
                          (unsigned long long)n_header, (unsigned long long)DT_ST_MAX_HEADER_BYTES);
        goto out;
    }
    if (n_header > size - 8) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "header length %llu at offset 0 runs past the end of the file (%zu bytes)",
                          (unsigned long long)n_header, size);
        goto out;
    }
    st->header_bytes = n_header;
    st->data_offset = 8 + n_header;
    uint64_t data_bytes = size - st->data_offset;

    if (!utf8_valid(p + 8, (size_t)n_header)) {
        rc = dt_error_set(err, DT_EFORMAT, "header is not valid UTF-8");
        goto out;
    }
    if (memchr(p + 8, 0, (size_t)n_header)) {
        rc = dt_error_set(err, DT_EFORMAT, "header contains a NUL byte");
        goto out;
    }
    json = dt_malloc((size_t)n_header + 1);
    if (!json) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for a %llu-byte header",
                          (unsigned long long)n_header);
        goto out;
    }
    memcpy(json, p + 8, (size_t)n_header);
    json[n_header] = 0;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(json, (size_t)n_header + 1, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= json && at <= json + n_header ? (size_t)(at - json) : 0;
        rc = dt_error_set(err, DT_EFORMAT, "header is not valid JSON (near byte %zu)", 8 + off);
        goto out;
    }
    for (const char *q = end; q && *q; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            rc = dt_error_set(err, DT_EFORMAT, "header has trailing bytes after the JSON at byte %zu",
                              8 + (size_t)(q - json));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        rc = dt_error_set(err, DT_EFORMAT, "header is not a JSON object");
        goto out;
    }
    size_t n_entries = (size_t)cJSON_GetArraySize(root);
    st->tensors = dt_calloc(n_entries ? n_entries : 1, sizeof *st->tensors);
    if (!st->tensors) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu tensors", n_entries);
        goto out;
    }
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        const char *name = e->string ? e->string : "";
        if (!strcmp(name, "__metadata__")) {
            if (seen_meta++) {
                rc = dt_error_set(err, DT_EFORMAT, "duplicate '__metadata__'");
                goto out;
            }
            if ((rc = parse_metadata(st, e, err)))
                goto out;
            continue;
        }
        struct dt_st_tensor *t = &st->tensors[st->n_tensors];
        t->name = dt_strdup(name);
        if (!t->name) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for tensor names");
            goto out;
        }
        st->n_tensors++;
        if (!name[0]) {
            rc = dt_error_set(err, DT_EFORMAT, "tensor with an empty name");
            goto out;
        }
        if ((rc = parse_tensor(t, e, data_bytes, err)))
            goto out;
        t->data = p + st->data_offset + t->begin;
    }

    /* Duplicate names: cJSON keeps both entries, so sort by name and compare neighbours. */
    size_t n = st->n_tensors;
    by_name = dt_malloc_array(n ? n : 1, sizeof *by_name);
    order = dt_malloc_array(n ? n : 1, sizeof *order);
    if (!by_name || !order) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory sorting %zu tensors", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        by_name[i] = order[i] = &st->tensors[i];
    qsort(by_name, n, sizeof *by_name, cmp_name_ptr);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(by_name[i - 1]->name, by_name[i]->name)) {
            rc = dt_error_set(err, DT_EFORMAT, "duplicate tensor name '%s'", by_name[i]->name);
            goto out;
        }

    qsort(order, n, sizeof *order, cmp_by_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const struct dt_st_tensor *t = order[i];
        if (t->begin < pos) {
            rc = dt_error_set(err, DT_EFORMAT, "tensor '%s' data [%llu, %llu) overlaps the previous tensor",
                              t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
            goto out;
        }
        if (t->begin > pos) {
            rc = dt_error_set(err, DT_EFORMAT,
                              "gap of %llu bytes in the data section before tensor '%s' (offset %llu)",
                              (unsigned long long)(t->begin - pos), t->name,
                              (unsigned long long)pos);
            goto out;
        }
        pos = t->end;
    }
    if (pos != data_bytes) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "tensors cover %llu bytes of a %llu-byte data section (file offset %llu)",
                          (unsigned long long)pos, (unsigned long long)data_bytes,
                          (unsigned long long)(st->data_offset + pos));
        goto out;
    }
out:
    dt_free(order);
    dt_free(by_name);
    cJSON_Delete(root);
    dt_free(json);
    return rc;
}

int dt_safetensors_open_memory(const void *data, size_t n_bytes, struct dt_safetensors **out,
                               struct dt_error *err)
{
    struct dt_safetensors *st = dt_calloc(1, sizeof *st);
    if (!st)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    st->base = data;
    st->size_bytes = n_bytes;
    int rc = parse(st, err);
    if (rc) {
        dt_safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int dt_safetensors_open(const char *path, struct dt_safetensors **out, struct dt_error *err)
{
    struct dt_safetensors *st = dt_calloc(1, sizeof *st);
    if (!st)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    st->path = dt_strdup(path);
    int rc = st->path ? dt_file_map(path, &st->map, err)
                      : dt_error_set(err, DT_ENOMEM, "out of memory");
    if (rc)
        goto fail;
    st->base = st->map.data;
    st->size_bytes = st->map.size_bytes;
    static const uint8_t empty[1];
    if (!st->base)
        st->base = empty;
    if ((rc = parse(st, err))) {
        dt_error_prefix(err, "'%s'", path);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    dt_safetensors_free(st);
    return rc;
}

const struct dt_st_tensor *dt_safetensors_find(const struct dt_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name))
            return &st->tensors[i];
    return NULL;
}

const char *dt_safetensors_meta(const struct dt_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key))
            return st->meta_values[i];
    return NULL;
}

/* ---- sharded checkpoints ---- */

void dt_st_set_free(struct dt_st_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_files; i++)
        dt_safetensors_free(s->files[i]);
    dt_free(s->files);
    dt_free(s->tensors);
    dt_free(s);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dt_strdup(".");
    return dt_strndup(path, (size_t)(slash - path) + (slash == path));
}

static int set_add_file(struct dt_st_set *s, const char *path, struct dt_error *err)
{
    struct dt_safetensors **files = dt_realloc_array(s->files, s->n_files + 1, sizeof *files);
    if (!files)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    s->files = files;
    int rc = dt_safetensors_open(path, &s->files[s->n_files], err);
    if (rc)
        return rc;
    s->n_files++;
    return 0;
}

static int open_index(struct dt_st_set *s, const char *index_path, struct dt_error *err)
{
    char *text = NULL, *dir = NULL, *shard = NULL;
    cJSON *root = NULL;
    char **names = NULL;
    size_t n_names = 0;
    size_t n_text = 0;
    int rc = dt_file_read_all(index_path, 64u << 20, &text, &n_text, err);
    if (rc)
        goto out;
    root = cJSON_ParseWithLength(text, n_text);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s' is not JSON with a 'weight_map' object",
                          index_path);
        goto out;
    }
    dir = dir_of(index_path);
    names = dt_calloc((size_t)cJSON_GetArraySize(wm) + 1, sizeof *names);
    if (!dir || !names) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !e->valuestring[0]) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s': weight_map entry '%s' is not a file name",
                              index_path, e->string ? e->string : "");
            goto out;
        }
        size_t k = 0;
        while (k < n_names && strcmp(names[k], e->valuestring))
            k++;
        if (k == n_names) {
            names[n_names++] = e->valuestring;
            dt_free(shard);
            shard = dt_path_join(dir, e->valuestring);
            if (!shard) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory");
                goto out;
            }
            if ((rc = set_add_file(s, shard, err)))
                goto out;
        }
        /* The tensor must be in the shard the map names. */
        if (!dt_safetensors_find(s->files[k], e->string ? e->string : "")) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s': tensor '%s' is not in shard '%s'",
                              index_path, e->string ? e->string : "", e->valuestring);
            goto out;
        }
    }
    if (n_names == 0)
        rc = dt_error_set(err, DT_EFORMAT, "'%s': empty weight_map", index_path);
out:
    dt_free(names);
    dt_free(shard);
    dt_free(dir);
    cJSON_Delete(root);
    dt_free(text);
    return rc;
}

int dt_st_set_open(const char *path, struct dt_st_set **out, struct dt_error *err)
{
    struct dt_st_set *s = dt_calloc(1, sizeof *s);
    char *p = NULL;
    int rc = 0;
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (dt_path_is_dir(path)) {
        p = dt_path_join(path, "model.safetensors.index.json");
        if (!p) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        if (dt_path_exists(p)) {
            rc = open_index(s, p, err);
        } else {
            dt_free(p);
            p = dt_path_join(path, "model.safetensors");
            if (!p) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory");
                goto out;
            }
            if (!dt_path_exists(p))
                rc = dt_error_set(err, DT_EIO,
                                  "'%s' has neither model.safetensors nor model.safetensors.index.json",
                                  path);
            else
                rc = set_add_file(s, p, err);
        }
    } else if (ends_with(path, ".json")) {
        rc = open_index(s, path, err);
    } else {
        rc = set_add_file(s, path, err);
    }
    if (rc)
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < s->n_files; i++)
        if (dt_add_overflow(n, s->files[i]->n_tensors, &n)) {
            rc = dt_error_set(err, DT_ENOMEM, "too many tensors");
            goto out;
        }
    s->tensors = dt_malloc_array(n ? n : 1, sizeof *s->tensors);
    if (!s->tensors) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu tensors", n);
        goto out;
    }
    for (size_t i = 0; i < s->n_files; i++)
        for (size_t j = 0; j < s->files[i]->n_tensors; j++)
            s->tensors[s->n_tensors++] = &s->files[i]->tensors[j];
    qsort(s->tensors, s->n_tensors, sizeof *s->tensors, cmp_name_ptr);
    for (size_t i = 1; i < s->n_tensors; i++)
        if (!strcmp(s->tensors[i - 1]->name, s->tensors[i]->name)) {
            rc = dt_error_set(err, DT_EFORMAT, "tensor '%s' appears in two shards of '%s'",
                              s->tensors[i]->name, path);
            goto out;
        }
out:
    dt_free(p);
    if (rc) {
        dt_st_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const struct dt_st_tensor *dt_st_set_find(const struct dt_st_set *s, const char *name)
{
    size_t lo = 0, hi = s->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->tensors[mid]->name, name);
        if (c == 0)
            return s->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * GGUF reader and writer (byte format in gguf.h).
 *
 * The reader treats the file as hostile. A cursor walks the mapped bytes; every read first
 * checks the bytes that remain, every count is bounded by those bytes before anything is
 * allocated for it, and every size/offset sum goes through overflow-checked arithmetic. The
 * kv and tensor arrays grow as entries are actually parsed, so memory stays proportional to
 * the bytes that were valid, never to a count the file claims. Errors name the field and the
 * byte offset where it starts; dt_gguf_open prefixes them with the quoted path.
 *
 * Policy choices beyond ggml's own checks:
 *   - a dimension of 0 is rejected (ggml accepts it): an empty tensor has no use in the
 *     models we load and every consumer would have to special-case it;
 *   - keys and tensor names must be non-empty, valid UTF-8 without control characters;
 *   - nested arrays are parsed (to depth 4) but not exposed;
 *   - general.alignment must be a uint32 power of two; a few well-known keys
 *     (general.architecture, tokenizer.ggml.*) must have their documented types;
 *   - tensors must lie inside the file, start at a multiple of the alignment and not overlap
 *     (ggml requires them to be packed in order; we only require disjointness).
 * Sizes: a model has tens of kv pairs (a vocabulary array holds up to ~10^6 strings) and up
 * to a few thousand tensors; lookups use sorted index arrays built for the duplicate check.
 */
#include "infer/gguf.h"

#include "infer/ggml_types.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Offsets and sizes are handled as size_t after being checked against the file size. */
_Static_assert(sizeof(size_t) >= sizeof(uint64_t), "a 64-bit size_t is required");

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ARRAY_DEPTH 4
/* Smallest possible encodings, used to bound claimed counts by the bytes that remain. */
#define MIN_KV_BYTES 14     /* u64 key len + 1 key byte + u32 type + 1 value byte */
#define MIN_TENSOR_BYTES 33 /* u64 name len + 1 + u32 n_dims + u64 ne + u32 type + u64 off */

struct cursor {
    const uint8_t *p;
    size_t size;
    size_t pos;
    struct dt_error *err;
};

static const char *vtype_name(uint32_t t)
{
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                        "int32", "float32", "bool",  "string", "array",
                                        "uint64", "int64", "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Bytes of one fixed-size value, 0 for string/array/unknown. */
static size_t vtype_size(uint32_t t)
{
    switch (t) {
    case DT_GGUF_UINT8:
    case DT_GGUF_INT8:
    case DT_GGUF_BOOL:
        return 1;
    case DT_GGUF_UINT16:
    case DT_GGUF_INT16:
        return 2;
    case DT_GGUF_UINT32:
    case DT_GGUF_INT32:
    case DT_GGUF_FLOAT32:
        return 4;
    case DT_GGUF_UINT64:
    case DT_GGUF_INT64:
    case DT_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static size_t remaining(const struct cursor *c)
{
    return c->size - c->pos;
}

static int need(struct cursor *c, size_t n, const char *field)
{
    if (remaining(c) < n)
        return dt_error_set(c->err, DT_EFORMAT,
                            "%s at offset %zu: needs %zu bytes but the file ends at %zu", field,
                            c->pos, n, c->size);
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int rd_u32(struct cursor *c, uint32_t *v, const char *field)
{
    int rc = need(c, 4, field);
    if (rc)
        return rc;
    *v = le32(c->p + c->pos);
    c->pos += 4;
    return 0;
}

static int rd_u64(struct cursor *c, uint64_t *v, const char *field)
{
    int rc = need(c, 8, field);
    if (rc)
        return rc;
    *v = le64(c->p + c->pos);
    c->pos += 8;
    return 0;
}

static int rd_str(struct cursor *c, struct dt_gguf_str *s, const char *field)
{
    size_t at = c->pos;
    uint64_t n;
    int rc = rd_u64(c, &n, field);
    if (rc)
        return rc;
    if (n > remaining(c))
        return dt_error_set(c->err, DT_EFORMAT,
                            "%s at offset %zu: string length %" PRIu64
                            " exceeds the %zu bytes left in the file",
                            field, at, n, remaining(c));
    s->ptr = (const char *)(c->p + c->pos);
    s->n_bytes = n;
    c->pos += (size_t)n;
    return 0;
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) without control
 * characters: names end up quoted in one-line error messages and in reports, where a NUL
 * would cut them and a newline would forge a second line. */
static int valid_utf8_name(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x20 || b == 0x7f)
            return 0;
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
            return 0;
        i += len;
    }
    return 1;
}

/* Reads a key or tensor name and returns a NUL-terminated copy. what is "key" or "tensor name". */
static int rd_name(struct cursor *c, char **out, const char *what)
{
    size_t at = c->pos;
    struct dt_gguf_str s;
    int rc = rd_str(c, &s, what);
    if (rc)
        return rc;
    if (s.n_bytes == 0)
        return dt_error_set(c->err, DT_EFORMAT, "%s at offset %zu is empty", what, at);
    if (!valid_utf8_name((const uint8_t *)s.ptr, (size_t)s.n_bytes))
        return dt_error_set(c->err, DT_EFORMAT,
                            "%s at offset %zu is not valid utf-8 or contains control characters", what,
                            at);
    *out = dt_strndup(s.ptr, (size_t)s.n_bytes);
    if (!*out)
        return dt_error_set(c->err, DT_ENOMEM, "out of memory reading %s at offset %zu", what, at);
    return 0;
}

/* Skips (and checks) one value of type t; used for elements of nested arrays. */
static int skip_value(struct cursor *c, uint32_t t, int depth, const char *key, size_t at);

static int skip_array(struct cursor *c, int depth, const char *key, size_t at)
{
    size_t arr_at = c->pos;
    uint32_t et;
    uint64_t n;
    int rc;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return dt_error_set(c->err, DT_EFORMAT,
                            "key '%s' at offset %zu: arrays nested deeper than %d levels", key, at,
                            GGUF_MAX_ARRAY_DEPTH);
    if ((rc = rd_u32(c, &et, "array element type")) || (rc = rd_u64(c, &n, "array length")))
        return rc;
    size_t es = vtype_size(et);
    if (es) {
        if (n > remaining(c) / es)
            return dt_error_set(c->err, DT_EFORMAT,
                                "key '%s' at offset %zu: array of %" PRIu64
                                " %s at offset %zu exceeds the %zu bytes left in the file",
                                key, at, n, vtype_name(et), arr_at, remaining(c));
        c->pos += (size_t)n * es;
        return 0;
    }
    size_t min_elem = et == DT_GGUF_STRING ? 8 : et == DT_GGUF_ARRAY ? 12 : 0;
    if (!min_elem)
        return dt_error_set(c->err, DT_EFORMAT,
                            "key '%s' at offset %zu: unknown array element type %" PRIu32
                            " at offset %zu",
                            key, at, et, arr_at);
    if (n > remaining(c) / min_elem)
        return dt_error_set(c->err, DT_EFORMAT,
                            "key '%s' at offset %zu: array of %" PRIu64
                            " %s at offset %zu exceeds the %zu bytes left in the file",
                            key, at, n, vtype_name(et), arr_at, remaining(c));
    for (uint64_t i = 0; i < n; i++)
        if ((rc = skip_value(c, et, depth + 1, key, at)))
            return rc;
    return 0;
}

static int skip_value(struct cursor *c, uint32_t t, int depth, const char *key, size_t at)
{
    size_t s = vtype_size(t);
    if (s) {
        int rc = need(c, s, "array element");
        if (rc)
            return dt_error_prefix(c->err, "key '%s' at offset %zu", key, at);
        c->pos += s;
        return 0;
    }
    if (t == DT_GGUF_STRING) {
        struct dt_gguf_str str;
        int rc = rd_str(c, &str, "array string element");
        return rc ? dt_error_prefix(c->err, "key '%s' at offset %zu", key, at) : 0;
    }
    if (t == DT_GGUF_ARRAY)
        return skip_array(c, depth, key, at);
    return dt_error_set(c->err, DT_EFORMAT, "key '%s' at offset %zu: unknown value type %" PRIu32,
                        key, at, t);
}

static int read_value(struct cursor *c, struct dt_gguf_kv *kv)
{
    const size_t at = (size_t)kv->offset;
    const uint8_t *p;
    int rc;
    switch (kv->type) {
    case DT_GGUF_UINT8:
    case DT_GGUF_INT8:
    case DT_GGUF_BOOL:
    case DT_GGUF_UINT16:
    case DT_GGUF_INT16:
    case DT_GGUF_UINT32:
    case DT_GGUF_INT32:
    case DT_GGUF_FLOAT32:
    case DT_GGUF_UINT64:
    case DT_GGUF_INT64:
    case DT_GGUF_FLOAT64: {
        size_t n = vtype_size(kv->type);
        if ((rc = need(c, n, "value")))
            return dt_error_prefix(c->err, "key '%s' at offset %zu", kv->key, at);
        p = c->p + c->pos;
        c->pos += n;
        switch (kv->type) {
        case DT_GGUF_UINT8: kv->v.u64 = p[0]; break;
        case DT_GGUF_BOOL: kv->v.u64 = p[0] != 0; break;
        case DT_GGUF_INT8: kv->v.i64 = (int8_t)p[0]; break;
        case DT_GGUF_UINT16: kv->v.u64 = (uint16_t)(p[0] | (p[1] << 8)); break;
        case DT_GGUF_INT16: kv->v.i64 = (int16_t)(uint16_t)(p[0] | (p[1] << 8)); break;
        case DT_GGUF_UINT32: kv->v.u64 = le32(p); break;
        case DT_GGUF_INT32: kv->v.i64 = (int32_t)le32(p); break;
        case DT_GGUF_UINT64: kv->v.u64 = le64(p); break;
        case DT_GGUF_INT64: kv->v.i64 = (int64_t)le64(p); break;
        case DT_GGUF_FLOAT32: {
            float f;
            uint32_t u = le32(p);
            memcpy(&f, &u, 4);
            kv->v.f64 = f;
            break;
        }
        default: {
            double d;
            uint64_t u = le64(p);
            memcpy(&d, &u, 8);
            kv->v.f64 = d;
            break;
        }
        }
        return 0;
    }
    case DT_GGUF_STRING:
        if ((rc = rd_str(c, &kv->v.str, "string value")))
            return dt_error_prefix(c->err, "key '%s' at offset %zu", kv->key, at);
        return 0;
    case DT_GGUF_ARRAY: {
        size_t arr_at = c->pos;
        uint32_t et;
        uint64_t n;
        if ((rc = rd_u32(c, &et, "array element type")) || (rc = rd_u64(c, &n, "array length")))
            return dt_error_prefix(c->err, "key '%s' at offset %zu", kv->key, at);
        kv->arr_type = et;
        kv->arr_n = n;
        size_t es = vtype_size(et);
        if (es || et == DT_GGUF_ARRAY) {
            kv->arr_data = c->p + c->pos;
            c->pos = arr_at;
            return skip_array(c, 1, kv->key, at);
        }
        if (et != DT_GGUF_STRING)
            return dt_error_set(c->err, DT_EFORMAT,
                                "key '%s' at offset %zu: unknown array element type %" PRIu32
                                " at offset %zu",
                                kv->key, at, et, arr_at);
        if (n > remaining(c) / 8)
            return dt_error_set(c->err, DT_EFORMAT,
                                "key '%s' at offset %zu: array of %" PRIu64
                                " strings at offset %zu exceeds the %zu bytes left in the file",
                                kv->key, at, n, arr_at, remaining(c));
        kv->arr_str = dt_malloc_array(n ? (size_t)n : 1, sizeof *kv->arr_str);
        if (!kv->arr_str)
            return dt_error_set(c->err, DT_ENOMEM, "out of memory for key '%s' (%" PRIu64
                                " strings)", kv->key, n);
        for (uint64_t i = 0; i < n; i++) {
            if ((rc = rd_str(c, &kv->arr_str[i], "string array element")))
                return dt_error_prefix(c->err, "key '%s' at offset %zu: element %" PRIu64,
                                       kv->key, at, i);
        }
        return 0;
    }
    default:
        return dt_error_set(c->err, DT_EFORMAT,
                            "key '%s' at offset %zu: unknown value type %" PRIu32, kv->key, at,
                            kv->type);
    }
}

/* Types that well-known keys must have, so consumers can rely on them. */
static int check_known_key(struct cursor *c, const struct dt_gguf_kv *kv, uint64_t *alignment)
{
    const char *k = kv->key;
    const size_t at = (size_t)kv->offset;
    uint32_t want = UINT32_MAX, want_elem = UINT32_MAX;
    if (!strcmp(k, "general.alignment")) {
        if (kv->type != DT_GGUF_UINT32)
            return dt_error_set(c->err, DT_EFORMAT,
                                "key 'general.alignment' at offset %zu has type %s, expected uint32",
                                at, vtype_name(kv->type));
        uint64_t a = kv->v.u64;
        if (a == 0 || (a & (a - 1)))
            return dt_error_set(c->err, DT_EFORMAT,
                                "key 'general.alignment' at offset %zu: %" PRIu64
                                " is not a nonzero power of two",
                                at, a);
        *alignment = a;
        return 0;
    }
    if (!strcmp(k, "general.architecture") || !strcmp(k, "general.name") ||
        !strcmp(k, "tokenizer.ggml.model") || !strcmp(k, "tokenizer.ggml.pre") ||
        !strcmp(k, "tokenizer.chat_template"))
        want = DT_GGUF_STRING;
    else if (!strcmp(k, "tokenizer.ggml.tokens") || !strcmp(k, "tokenizer.ggml.merges"))
        want = DT_GGUF_ARRAY, want_elem = DT_GGUF_STRING;
    else if (!strcmp(k, "tokenizer.ggml.scores"))
        want = DT_GGUF_ARRAY, want_elem = DT_GGUF_FLOAT32;
    else if (!strcmp(k, "tokenizer.ggml.token_type"))
        want = DT_GGUF_ARRAY, want_elem = DT_GGUF_INT32;
    if (want == UINT32_MAX)
        return 0;
    if (kv->type != want)
        return dt_error_set(c->err, DT_EFORMAT, "key '%s' at offset %zu has type %s, expected %s",
                            k, at, vtype_name(kv->type), vtype_name(want));
    if (want_elem != UINT32_MAX && kv->arr_type != want_elem)
        return dt_error_set(c->err, DT_EFORMAT,
                            "key '%s' at offset %zu is an array of %s, expected an array of %s", k,
                            at, vtype_name(kv->arr_type), vtype_name(want_elem));
    return 0;
}

static int cmp_kv_idx(const void *a, const void *b, void *ctx)
{
    const struct dt_gguf_kv *kv = ctx;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    int r = strcmp(kv[i].key, kv[j].key);
    return r ? r : (i < j ? -1 : i > j);
}

static int cmp_tensor_idx(const void *a, const void *b, void *ctx)
{
    const struct dt_gguf_tensor *t = ctx;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    int r = strcmp(t[i].name, t[j].name);
    return r ? r : (i < j ? -1 : i > j);
}

static int cmp_tensor_off(const void *a, const void *b, void *ctx)
{
    const struct dt_gguf_tensor *t = ctx;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    if (t[i].offset != t[j].offset)
        return t[i].offset < t[j].offset ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Grows *arr (of *cap elements of size sz) to hold at least one more, capped at max. */
static int grow(void **arr, uint64_t *cap, uint64_t used, uint64_t max, size_t sz)
{
    if (used < *cap)
        return 0;
    uint64_t nc = *cap ? *cap * 2 : 16;
    if (nc > max)
        nc = max;
    void *p = dt_realloc_array(*arr, (size_t)nc, sz);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*cap * sz, 0, (size_t)(nc - *cap) * sz);
    *arr = p;
    *cap = nc;
    return 0;
}

static int parse_tensor_info(struct cursor *c, struct dt_gguf_tensor *t)
{
    const size_t at = t->info_offset;
    uint64_t v;
    int rc;
    if ((rc = rd_name(c, &t->name, "tensor name")))
        return rc;
    if ((rc = rd_u32(c, &t->n_dims, "n_dims")))
        return dt_error_prefix(c->err, "tensor '%s' at offset %zu", t->name, at);
    if (t->n_dims < 1 || t->n_dims > 4)
        return dt_error_set(c->err, DT_EFORMAT,
                            "tensor '%s' at offset %zu: n_dims %" PRIu32 " is not in 1..4", t->name,
                            at, t->n_dims);
    int64_t n_elems = 1;
    for (int d = 0; d < 4; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t ne_at = c->pos;
        if ((rc = rd_u64(c, &v, "dimension")))
            return dt_error_prefix(c->err, "tensor '%s' at offset %zu", t->name, at);
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return dt_error_set(c->err, DT_EFORMAT,
                                "tensor '%s' at offset %zu: dimension %" PRIu32 " at offset %zu is %s",
                                t->name, at, d, ne_at, v ? "negative" : "zero");
        t->ne[d] = (int64_t)v;
        if (__builtin_mul_overflow(n_elems, t->ne[d], &n_elems))
            return dt_error_set(c->err, DT_EFORMAT,
                                "tensor '%s' at offset %zu: element count overflows int64", t->name,
                                at);
    }
    t->n_elems = n_elems;
    size_t type_at = c->pos;
    if ((rc = rd_u32(c, &t->type, "tensor type")))
        return dt_error_prefix(c->err, "tensor '%s' at offset %zu", t->name, at);
    if (!dt_ggml_type_name(t->type))
        return dt_error_set(c->err, DT_EFORMAT,
                            "tensor '%s' at offset %zu: unknown tensor type %" PRIu32
                            " at offset %zu",
                            t->name, at, t->type, type_at);
    size_t row;
    if (t->ne[0] % (int64_t)dt_ggml_block_elems(t->type))
        return dt_error_set(c->err, DT_EFORMAT,
                            "tensor '%s' at offset %zu: row length %" PRId64
                            " is not a multiple of the %s block size %zu",
                            t->name, at, t->ne[0], dt_ggml_type_name(t->type),
                            dt_ggml_block_elems(t->type));
    if (dt_ggml_row_bytes(t->type, t->ne[0], &row) ||
        dt_mul_overflow(row, (size_t)(n_elems / t->ne[0]), &t->n_bytes))
        return dt_error_set(c->err, DT_EFORMAT,
                            "tensor '%s' at offset %zu: byte size overflows", t->name, at);
    if ((rc = rd_u64(c, &t->offset, "tensor data offset")))
        return dt_error_prefix(c->err, "tensor '%s' at offset %zu", t->name, at);
    return 0;
}

static int parse(struct dt_gguf *g, struct dt_error *err)
{
    struct cursor c = {g->base, g->size_bytes, 0, err};
    uint32_t magic;
    int rc;
    if (g->size_bytes < 4)
        return dt_error_set(err, DT_EFORMAT, "not a gguf file: only %zu bytes", g->size_bytes);
    magic = le32(g->base);
    if (memcmp(g->base, "GGUF", 4))
        return dt_error_set(err, DT_EFORMAT,
                            "not a gguf file: magic at offset 0 is 0x%08" PRIx32
                            ", expected \"GGUF\"",
                            magic);
    c.pos = 4;
    if ((rc = rd_u32(&c, &g->version, "header field 'version'")))
        return rc;
    if (g->version == 1)
        return dt_error_set(err, DT_EUNSUPPORTED,
                            "gguf version 1 is not supported (only versions 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        if (__builtin_bswap32(g->version) >= 1 && __builtin_bswap32(g->version) <= 3)
            return dt_error_set(err, DT_EUNSUPPORTED,
                                "big-endian gguf files are not supported (version field %" PRIu32
                                " at offset 4)",
                                g->version);
        return dt_error_set(err, DT_EFORMAT,
                            "unknown gguf version %" PRIu32 " at offset 4 (expected 2 or 3)",
                            g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((rc = rd_u64(&c, &n_tensors, "header field 'n_tensors'")) ||
        (rc = rd_u64(&c, &n_kv, "header field 'n_kv'")))
        return rc;
    if (n_kv > remaining(&c) / MIN_KV_BYTES)
        return dt_error_set(err, DT_EFORMAT,
                            "header field 'n_kv' at offset 16: %" PRIu64
                            " kv pairs cannot fit in the %zu bytes left in the file",
                            n_kv, remaining(&c));
    if (n_tensors > remaining(&c) / MIN_TENSOR_BYTES ||
        n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > remaining(&c))
        return dt_error_set(err, DT_EFORMAT,
                            "header field 'n_tensors' at offset 8: %" PRIu64
                            " tensor infos cannot fit in the %zu bytes left in the file",
                            n_tensors, remaining(&c));

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (grow((void **)&g->kv, &cap, g->n_kv, n_kv, sizeof *g->kv))
            return dt_error_set(err, DT_ENOMEM, "out of memory for %" PRIu64 " kv pairs", n_kv);
        struct dt_gguf_kv *kv = &g->kv[g->n_kv++];
        kv->offset = c.pos;
        if ((rc = rd_name(&c, &kv->key, "key")))
            return rc;
        if ((rc = rd_u32(&c, &kv->type, "value type")))
            return dt_error_prefix(err, "key '%s' at offset %" PRIu64, kv->key, kv->offset);
        if ((rc = read_value(&c, kv)) || (rc = check_known_key(&c, kv, &g->alignment)))
            return rc;
    }

    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (grow((void **)&g->tensors, &cap, g->n_tensors, n_tensors, sizeof *g->tensors))
            return dt_error_set(err, DT_ENOMEM, "out of memory for %" PRIu64 " tensors", n_tensors);
        struct dt_gguf_tensor *t = &g->tensors[g->n_tensors++];
        t->info_offset = c.pos;
        if ((rc = parse_tensor_info(&c, t)))
            return rc;
    }

    /* Sorted views: duplicates become neighbours, and lookups can bisect. */
    g->kv_order = dt_malloc_array(n_kv ? (size_t)n_kv : 1, sizeof *g->kv_order);
    g->tensor_order = dt_malloc_array(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensor_order);
    if (!g->kv_order || !g->tensor_order)
        return dt_error_set(err, DT_ENOMEM, "out of memory indexing %" PRIu64 " keys", n_kv);
    for (uint64_t i = 0; i < n_kv; i++)
        g->kv_order[i] = i;
    for (uint64_t i = 0; i < n_tensors; i++)
        g->tensor_order[i] = i;
    qsort_r(g->kv_order, (size_t)n_kv, sizeof *g->kv_order, cmp_kv_idx, g->kv);
    for (uint64_t i = 1; i < n_kv; i++) {
        const struct dt_gguf_kv *a = &g->kv[g->kv_order[i - 1]], *b = &g->kv[g->kv_order[i]];
        if (!strcmp(a->key, b->key))
            return dt_error_set(err, DT_EFORMAT,
                                "duplicate key '%s' at offset %" PRIu64 " (first at offset %" PRIu64
                                ")",
                                b->key, b->offset, a->offset);
    }
    qsort_r(g->tensor_order, (size_t)n_tensors, sizeof *g->tensor_order, cmp_tensor_idx,
            g->tensors);
    for (uint64_t i = 1; i < n_tensors; i++) {
        const struct dt_gguf_tensor *a = &g->tensors[g->tensor_order[i - 1]],
                                    *b = &g->tensors[g->tensor_order[i]];
        if (!strcmp(a->name, b->name))
            return dt_error_set(err, DT_EFORMAT,
                                "duplicate tensor name '%s' at offset %" PRIu64
                                " (first at offset %" PRIu64 ")",
                                b->name, b->info_offset, a->info_offset);
    }

    /* The data section starts at the next multiple of the alignment. */
    uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (__builtin_add_overflow((uint64_t)c.pos, pad, &g->data_offset))
        return dt_error_set(err, DT_EFORMAT, "tensor data section offset overflows");
    if (g->data_offset > g->size_bytes) {
        if (n_tensors)
            return dt_error_set(err, DT_EFORMAT,
                                "tensor data section at offset %" PRIu64
                                " starts past the end of the file (size %zu)",
                                g->data_offset, g->size_bytes);
        g->data_offset = g->size_bytes; /* vocab-only files may omit the final padding */
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct dt_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (t->offset % g->alignment)
            return dt_error_set(err, DT_EFORMAT,
                                "tensor '%s' at offset %" PRIu64 ": data offset %" PRIu64
                                " is not a multiple of the alignment %" PRIu64,
                                t->name, t->info_offset, t->offset, g->alignment);
        if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
            __builtin_add_overflow(start, (uint64_t)t->n_bytes, &end))
            return dt_error_set(err, DT_EFORMAT,
                                "tensor '%s' at offset %" PRIu64 ": data offset %" PRIu64
                                " overflows",
                                t->name, t->info_offset, t->offset);
        if (end > g->size_bytes)
            return dt_error_set(err, DT_EFORMAT,
                                "tensor '%s' at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64
                                ") extends past the end of the file (size %zu)",
                                t->name, t->info_offset, start, end, g->size_bytes);
        t->data = g->base + start;
    }
    uint64_t *by_off = dt_malloc_array(n_tensors ? (size_t)n_tensors : 1, sizeof *by_off);
    if (!by_off)
        return dt_error_set(err, DT_ENOMEM, "out of memory checking %" PRIu64 " tensors",
                            n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++)
        by_off[i] = i;
    qsort_r(by_off, (size_t)n_tensors, sizeof *by_off, cmp_tensor_off, g->tensors);
    rc = 0;
    for (uint64_t i = 1; i < n_tensors; i++) {
        const struct dt_gguf_tensor *a = &g->tensors[by_off[i - 1]], *b = &g->tensors[by_off[i]];
        if (a->offset + a->n_bytes > b->offset) {
            rc = dt_error_set(err, DT_EFORMAT,
                              "tensor '%s' at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64
                              ") overlaps tensor '%s' [%" PRIu64 ", %" PRIu64 ")",
                              b->name, b->info_offset, g->data_offset + b->offset,
                              g->data_offset + b->offset + b->n_bytes, a->name,
                              g->data_offset + a->offset, g->data_offset + a->offset + a->n_bytes);
            break;
        }
    }
    dt_free(by_off);
    return rc;
}

static int open_common(struct dt_gguf *g, struct dt_gguf **out, struct dt_error *err)
{
    int rc = parse(g, err);
    if (rc) {
        dt_gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int dt_gguf_open(const char *path, struct dt_gguf **out, struct dt_error *err)
{
    struct dt_gguf *g = dt_calloc(1, sizeof *g);
    if (!g)
        return dt_error_set(err, DT_ENOMEM, "out of memory opening '%s'", path);
    int rc = dt_file_map(path, &g->map, err);
    if (rc) {
        dt_free(g);
        return rc;
    }
    g->base = g->map.data;
    g->size_bytes = g->map.size_bytes;
    rc = open_common(g, out, err);
    if (rc)
        dt_error_prefix(err, "'%s'", path);
    return rc;
}

int dt_gguf_open_memory(const void *data, size_t n_bytes, struct dt_gguf **out,
                        struct dt_error *err)
{
    struct dt_gguf *g = dt_calloc(1, sizeof *g);
    if (!g)
        return dt_error_set(err, DT_ENOMEM, "out of memory opening a gguf buffer");
    g->base = data;
    g->size_bytes = data ? n_bytes : 0;
    return open_common(g, out, err);
}

void dt_gguf_free(struct dt_gguf *g)
{
    if (!g)
        return;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        dt_free(g->kv[i].key);
        dt_free(g->kv[i].arr_str);
    }
    dt_free(g->kv);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        dt_free(g->tensors[i].name);
    dt_free(g->tensors);
    dt_free(g->kv_order);
    dt_free(g->tensor_order);
    dt_file_unmap(&g->map);
    dt_free(g);
}

/* ---- lookups ----------------------------------------------------------------------------- */

const struct dt_gguf_kv *dt_gguf_find(const struct dt_gguf *g, const char *key)
{
    if (!g || !key || !g->kv_order)
        return NULL;
    uint64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->kv[g->kv_order[mid]].key, key);
        if (!r)
            return &g->kv[g->kv_order[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct dt_gguf_tensor *dt_gguf_find_tensor(const struct dt_gguf *g, const char *name)
{
    if (!g || !name || !g->tensor_order)
        return NULL;
    uint64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->tensors[g->tensor_order[mid]].name, name);
        if (!r)
            return &g->tensors[g->tensor_order[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int is_unsigned(uint32_t t)
{
    return t == DT_GGUF_UINT8 || t == DT_GGUF_UINT16 || t == DT_GGUF_UINT32 || t == DT_GGUF_UINT64;
}

static int is_signed(uint32_t t)
{
    return t == DT_GGUF_INT8 || t == DT_GGUF_INT16 || t == DT_GGUF_INT32 || t == DT_GGUF_INT64;
}

static int lookup(const struct dt_gguf *g, const char *key, const struct dt_gguf_kv **kv,
                  struct dt_error *err)
{
    *kv = dt_gguf_find(g, key);
    if (!*kv)
        return dt_error_set(err, DT_ENOTFOUND, "key '%s' not found", key);
    return 0;
}

static int wrong_type(const struct dt_gguf_kv *kv, const char *want, struct dt_error *err)
{
    return dt_error_set(err, DT_EFORMAT, "key '%s' at offset %" PRIu64 " has type %s, expected %s",
                        kv->key, kv->offset, vtype_name(kv->type), want);
}

int dt_gguf_get_u64(const struct dt_gguf *g, const char *key, uint64_t *out, struct dt_error *err)
{
    const struct dt_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (is_unsigned(kv->type)) {
        *out = kv->v.u64;
        return 0;
    }
    if (is_signed(kv->type)) {
        if (kv->v.i64 < 0)
            return dt_error_set(err, DT_EFORMAT, "key '%s' at offset %" PRIu64
                                " is negative (%" PRId64 ")", key, kv->offset, kv->v.i64);
        *out = (uint64_t)kv->v.i64;
        return 0;
    }
    return wrong_type(kv, "an integer", err);
}

int dt_gguf_get_u32(const struct dt_gguf *g, const char *key, uint32_t *out, struct dt_error *err)
{
    uint64_t v;
    int rc = dt_gguf_get_u64(g, key, &v, err);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return dt_error_set(err, DT_EFORMAT, "key '%s': %" PRIu64 " does not fit in 32 bits", key,
                            v);
    *out = (uint32_t)v;
    return 0;
}

int dt_gguf_get_f32(const struct dt_gguf *g, const char *key, float *out, struct dt_error *err)
{
    const struct dt_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type == DT_GGUF_FLOAT32 || kv->type == DT_GGUF_FLOAT64)
        *out = (float)kv->v.f64;
    else if (is_unsigned(kv->type))
        *out = (float)kv->v.u64;
    else if (is_signed(kv->type))
        *out = (float)kv->v.i64;
    else
        return wrong_type(kv, "a number", err);
    return 0;
}

int dt_gguf_get_bool(const struct dt_gguf *g, const char *key, int *out, struct dt_error *err)
{
    const struct dt_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != DT_GGUF_BOOL)
        return wrong_type(kv, "bool", err);
    *out = kv->v.u64 != 0;
    return 0;
}

int dt_gguf_get_str(const struct dt_gguf *g, const char *key, char **out, struct dt_error *err)
{
    const struct dt_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != DT_GGUF_STRING)
        return wrong_type(kv, "string", err);
    char *s = dt_strndup(kv->v.str.ptr ? kv->v.str.ptr : "", (size_t)kv->v.str.n_bytes);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory copying key '%s'", key);
    *out = s;
    return 0;
}

static const uint8_t *arr_elem(const struct dt_gguf_kv *kv, uint64_t i, size_t *es)
{
    if (!kv || kv->type != DT_GGUF_ARRAY || i >= kv->arr_n || !kv->arr_data)
        return NULL;
    *es = vtype_size(kv->arr_type);
    return *es ? kv->arr_data + (size_t)i * *es : NULL;
}

double dt_gguf_arr_f64(const struct dt_gguf_kv *kv, uint64_t i)
{
    size_t es;
    const uint8_t *p = arr_elem(kv, i, &es);
    if (!p)
        return 0.0;
    if (kv->arr_type == DT_GGUF_FLOAT32) {
        float f;
        uint32_t u = le32(p);
        memcpy(&f, &u, 4);
        return f;
    }
    if (kv->arr_type == DT_GGUF_FLOAT64) {
        double d;
        uint64_t u = le64(p);
        memcpy(&d, &u, 8);
        return d;
    }
    if (is_unsigned(kv->arr_type) || kv->arr_type == DT_GGUF_BOOL) {
        uint64_t v = 0;
        for (size_t k = es; k-- > 0;)
            v = (v << 8) | p[k];
        return (double)v;
    }
    return (double)dt_gguf_arr_i64(kv, i);
}

int64_t dt_gguf_arr_i64(const struct dt_gguf_kv *kv, uint64_t i)
{
    size_t es;
    const uint8_t *p = arr_elem(kv, i, &es);
    if (!p)
        return 0;
    switch (kv->arr_type) {
    case DT_GGUF_INT8: return (int8_t)p[0];
    case DT_GGUF_INT16: return (int16_t)(uint16_t)(p[0] | (p[1] << 8));
    case DT_GGUF_INT32: return (int32_t)le32(p);
    case DT_GGUF_INT64: return (int64_t)le64(p);
    case DT_GGUF_UINT8:
    case DT_GGUF_BOOL: return p[0];
    case DT_GGUF_UINT16: return (uint16_t)(p[0] | (p[1] << 8));
    case DT_GGUF_UINT32: return le32(p);
    case DT_GGUF_UINT64: return (int64_t)le64(p);
    case DT_GGUF_FLOAT32:
    case DT_GGUF_FLOAT64: {
        double d = dt_gguf_arr_f64(kv, i);
        /* Saturate instead of invoking undefined float->int conversion. */
        if (d != d)
            return 0;
        if (d >= 9.2e18)
            return INT64_MAX;
        if (d <= -9.2e18)
            return INT64_MIN;
        return (int64_t)d;
    }
    default: return 0;
    }
}

/* ---- writer ------------------------------------------------------------------------------ */

struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    void *data;
    size_t n_bytes;
};

struct dt_gguf_writer {
    struct dt_strbuf kv;  /* encoded kv pairs */
    uint64_t n_kv;
    struct writer_tensor *tensors;
    uint64_t n_tensors, cap_tensors;
    uint64_t alignment;
    int failed;
};

struct dt_gguf_writer *dt_gguf_writer_new(void)
{
    struct dt_gguf_writer *w = dt_calloc(1, sizeof *w);
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void dt_gguf_writer_free(struct dt_gguf_writer *w)
{
    if (!w)
        return;
    dt_strbuf_release(&w->kv);
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        dt_free(w->tensors[i].name);
        dt_free(w->tensors[i].data);
    }
    dt_free(w->tensors);
    dt_free(w);
}

static void put_u32(struct dt_strbuf *sb, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dt_strbuf_append(sb, b, 4);
}

static void put_u64(struct dt_strbuf *sb, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    dt_strbuf_append(sb, b, 8);
}

static void put_str(struct dt_strbuf *sb, const char *s, size_t n)
{
    put_u64(sb, n);
    dt_strbuf_append(sb, s, n);
}

static int kv_done(struct dt_gguf_writer *w)
{
    w->n_kv++;
    return dt_strbuf_failed(&w->kv) ? DT_ENOMEM : 0;
}

static void put_key(struct dt_gguf_writer *w, const char *key, uint32_t type)
{
    put_str(&w->kv, key, strlen(key));
    put_u32(&w->kv, type);
}

int dt_gguf_writer_add_raw(struct dt_gguf_writer *w, const char *key, uint32_t type,
                           const void *value, size_t n_bytes)
{
    if (!w || !key)
        return DT_EINVAL;
    put_key(w, key, type);
    dt_strbuf_append(&w->kv, value, n_bytes);
    return kv_done(w);
}

int dt_gguf_writer_add_u32(struct dt_gguf_writer *w, const char *key, uint32_t v)
{
    if (!w || !key)
        return DT_EINVAL;
    /* The writer lays out the data section with the alignment the file will declare. */
    if (!strcmp(key, "general.alignment") && v && !(v & (v - 1)))
        w->alignment = v;
    put_key(w, key, DT_GGUF_UINT32);
    put_u32(&w->kv, v);
    return kv_done(w);
}

int dt_gguf_writer_add_u64(struct dt_gguf_writer *w, const char *key, uint64_t v)
{
    if (!w || !key)
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_UINT64);
    put_u64(&w->kv, v);
    return kv_done(w);
}

int dt_gguf_writer_add_f32(struct dt_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    if (!w || !key)
        return DT_EINVAL;
    memcpy(&u, &v, 4);
    put_key(w, key, DT_GGUF_FLOAT32);
    put_u32(&w->kv, u);
    return kv_done(w);
}

int dt_gguf_writer_add_bool(struct dt_gguf_writer *w, const char *key, int v)
{
    if (!w || !key)
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_BOOL);
    dt_strbuf_putc(&w->kv, v ? 1 : 0);
    return kv_done(w);
}

int dt_gguf_writer_add_str(struct dt_gguf_writer *w, const char *key, const char *v)
{
    if (!w || !key || !v)
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_STRING);
    put_str(&w->kv, v, strlen(v));
    return kv_done(w);
}

int dt_gguf_writer_add_arr_str(struct dt_gguf_writer *w, const char *key, const char *const *v,
                               uint64_t n)
{
    if (!w || !key || (n && !v))
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_ARRAY);
    put_u32(&w->kv, DT_GGUF_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(&w->kv, v[i], strlen(v[i]));
    return kv_done(w);
}

int dt_gguf_writer_add_arr_f32(struct dt_gguf_writer *w, const char *key, const float *v,
                               uint64_t n)
{
    if (!w || !key || (n && !v))
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_ARRAY);
    put_u32(&w->kv, DT_GGUF_FLOAT32);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(&w->kv, u);
    }
    return kv_done(w);
}

int dt_gguf_writer_add_arr_i32(struct dt_gguf_writer *w, const char *key, const int32_t *v,
                               uint64_t n)
{
    if (!w || !key || (n && !v))
        return DT_EINVAL;
    put_key(w, key, DT_GGUF_ARRAY);
    put_u32(&w->kv, DT_GGUF_INT32);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        put_u32(&w->kv, (uint32_t)v[i]);
    return kv_done(w);
}

int dt_gguf_writer_add_tensor(struct dt_gguf_writer *w, const char *name, uint32_t type,
                              uint32_t n_dims, const int64_t *ne, const void *data, size_t n_bytes)
{
    if (!w || !name || !ne || n_dims < 1 || n_dims > 4 || (n_bytes && !data))
        return DT_EINVAL;
    if (grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, UINT32_MAX, sizeof *w->tensors))
        return DT_ENOMEM;
    struct writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dt_strdup(name);
    t->data = dt_malloc(n_bytes ? n_bytes : 1);
    if (!t->name || !t->data) {
        dt_free(t->name);
        dt_free(t->data);
        return DT_ENOMEM;
    }
    if (n_bytes)
        memcpy(t->data, data, n_bytes);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->n_bytes = n_bytes;
    w->n_tensors++;
    return 0;
}

static void put_pad(struct dt_strbuf *sb, uint64_t alignment)
{
    while (sb->len % alignment)
        dt_strbuf_putc(sb, 0);
}

int dt_gguf_writer_to_memory(struct dt_gguf_writer *w, void **out, size_t *n_bytes,
                             struct dt_error *err)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (!w)
        return dt_error_set(err, DT_EINVAL, "no gguf writer");
    if (dt_strbuf_failed(&w->kv))
        return dt_error_set(err, DT_ENOMEM, "out of memory building gguf metadata");
    dt_strbuf_append(&sb, "GGUF", 4);
    put_u32(&sb, 3);
    put_u64(&sb, w->n_tensors);
    put_u64(&sb, w->n_kv);
    if (w->kv.len)
        dt_strbuf_append(&sb, w->kv.data, w->kv.len);
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        put_str(&sb, t->name, strlen(t->name));
        put_u32(&sb, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(&sb, (uint64_t)t->ne[d]);
        put_u32(&sb, t->type);
        put_u64(&sb, off);
        off += t->n_bytes;
        off += (w->alignment - off % w->alignment) % w->alignment;
    }
    put_pad(&sb, w->alignment);
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        if (w->tensors[i].n_bytes)
            dt_strbuf_append(&sb, w->tensors[i].data, w->tensors[i].n_bytes);
        put_pad(&sb, w->alignment);
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory building a gguf file");
    }
    *out = dt_strbuf_detach(&sb, n_bytes);
    return 0;
}

int dt_gguf_writer_write(struct dt_gguf_writer *w, const char *path, struct dt_error *err)
{
    void *buf = NULL;
    size_t n = 0;
    int rc = dt_gguf_writer_to_memory(w, &buf, &n, err);
    if (rc)
        return rc;
    rc = dt_file_write_all(path, buf, n, err);
    dt_free(buf);
    return rc;
}

/*
 * Unit tests for infer/gguf.c: writer -> reader round trip of every value type and of
 * tensors of every supported type, typed getters, every truncation of a valid file, byte
 * corruption, allocation failure at every step, targeted malformed files (messages checked),
 * and the real files of ../shared (zoo models and vocab-only files) with known values.
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

struct src_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
};

static const struct src_tensor src_tensors[] = {
    {"w.f32", DT_GGML_F32, 2, {64, 2, 1, 1}},   {"w.f16", DT_GGML_F16, 1, {32, 1, 1, 1}},
    {"w.q8_0", DT_GGML_Q8_0, 2, {64, 3, 1, 1}}, {"w.q4_0", DT_GGML_Q4_0, 3, {32, 1, 2, 1}},
    {"w.q4_k", DT_GGML_Q4_K, 2, {256, 2, 1, 1}}, {"w.bf16", DT_GGML_BF16, 4, {4, 2, 1, 2}},
};
#define N_SRC (sizeof src_tensors / sizeof src_tensors[0])

static float src_value(size_t t, int64_t i)
{
    return (float)((double)((i * 7 + (int64_t)t * 13) % 41) / 20.0 - 1.0);
}

/* Builds the round-trip file. Returns the buffer (dt_free) and its size. */
static void *build_file(size_t *n_bytes)
{
    struct dt_gguf_writer *w = dt_gguf_writer_new();
    const char *toks[] = {"a", "", "hello world", "\xe2\x82\xac"};
    const float scores[] = {0.5f, -1.0f, 2.25f};
    const int32_t ids[] = {-3, 0, 7};
    int rc = 0;
    rc |= dt_gguf_writer_add_str(w, "general.architecture", "llama");
    rc |= dt_gguf_writer_add_str(w, "general.name", "round trip");
    rc |= dt_gguf_writer_add_u32(w, "llama.block_count", 2);
    rc |= dt_gguf_writer_add_u64(w, "big", (uint64_t)1 << 40);
    rc |= dt_gguf_writer_add_f32(w, "llama.rope.freq_base", 10000.0f);
    rc |= dt_gguf_writer_add_bool(w, "flag", 1);
    rc |= dt_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    rc |= dt_gguf_writer_add_arr_f32(w, "tokenizer.ggml.scores", scores, 3);
    rc |= dt_gguf_writer_add_arr_i32(w, "tokenizer.ggml.token_type", ids, 3);
    int8_t i8 = -5;
    rc |= dt_gguf_writer_add_raw(w, "i8", DT_GGUF_INT8, &i8, 1);
    /* array of 2 arrays of uint8: [[1, 2], [3]] */
    const uint8_t nested[] = {3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,          /* ARRAY x2 */
                              0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2,    /* u8 x2 */
                              0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3};      /* u8 x1 */
    uint8_t enc[sizeof nested];
    memcpy(enc, nested, sizeof nested);
    enc[0] = DT_GGUF_ARRAY;
    rc |= dt_gguf_writer_add_raw(w, "nested", DT_GGUF_ARRAY, enc, sizeof enc);
    for (size_t t = 0; t < N_SRC; t++) {
        const struct src_tensor *s = &src_tensors[t];
        int64_t n = s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3];
        float *x = malloc((size_t)n * sizeof *x);
        for (int64_t i = 0; i < n; i++)
            x[i] = src_value(t, i);
        size_t row = 0;
        dt_ggml_row_bytes(s->type, s->ne[0], &row);
        size_t bytes = row * (size_t)(n / s->ne[0]);
        void *q = malloc(bytes);
        rc |= dt_ggml_quantize(s->type, x, q, n);
        rc |= dt_gguf_writer_add_tensor(w, s->name, s->type, s->n_dims, s->ne, q, bytes);
        free(x);
        free(q);
    }
    void *buf = NULL;
    struct dt_error err;
    rc |= dt_gguf_writer_to_memory(w, &buf, n_bytes, &err);
    dt_gguf_writer_free(w);
    return rc ? NULL : buf;
}

static void test_roundtrip(const void *buf, size_t n)
{
    struct dt_gguf *g = NULL;
    struct dt_error err = {0};
    int rc = dt_gguf_open_memory(buf, n, &g, &err);
    TAP_OK(rc == 0, "writer output parses (%s)", err.msg);
    if (rc)
        return;
    TAP_OK(g->version == 3 && g->n_kv == 11 && g->n_tensors == N_SRC && g->alignment == 32,
           "header: v3, 11 kv, %zu tensors", N_SRC);
    char *s = NULL;
    TAP_OK(dt_gguf_get_str(g, "general.architecture", &s, &err) == 0 && !strcmp(s, "llama"),
           "string value");
    dt_free(s);
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    float f = 0;
    int b = 0;
    TAP_OK(dt_gguf_get_u32(g, "llama.block_count", &u32, &err) == 0 && u32 == 2, "u32 value");
    TAP_OK(dt_gguf_get_u64(g, "big", &u64, &err) == 0 && u64 == (uint64_t)1 << 40, "u64 value");
    TAP_OK(dt_gguf_get_u32(g, "big", &u32, &err) == DT_EFORMAT && has(err.msg, "'big'"),
           "u64 too large for u32 is a format error: %s", err.msg);
    TAP_OK(dt_gguf_get_u64(g, "llama.block_count", &u64, &err) == 0 && u64 == 2,
           "u32 widens to u64");
    TAP_OK(dt_gguf_get_u64(g, "i8", &u64, &err) == DT_EFORMAT, "negative int8 is not a u64");
    TAP_OK(dt_gguf_get_f32(g, "llama.rope.freq_base", &f, &err) == 0 && f == 10000.0f, "f32 value");
    TAP_OK(dt_gguf_get_bool(g, "flag", &b, &err) == 0 && b == 1, "bool value");
    TAP_OK(dt_gguf_get_str(g, "llama.block_count", &s, &err) == DT_EFORMAT &&
               has(err.msg, "has type uint32, expected string"),
           "wrong type: %s", err.msg);
    TAP_OK(dt_gguf_get_u32(g, "nope", &u32, &err) == DT_ENOTFOUND, "missing key");
    const struct dt_gguf_kv *kv = dt_gguf_find(g, "tokenizer.ggml.tokens");
    TAP_OK(kv && kv->type == DT_GGUF_ARRAY && kv->arr_type == DT_GGUF_STRING && kv->arr_n == 4 &&
               kv->arr_str[1].n_bytes == 0 && kv->arr_str[2].n_bytes == 11 &&
               !memcmp(kv->arr_str[3].ptr, "\xe2\x82\xac", 3),
           "string array");
    kv = dt_gguf_find(g, "tokenizer.ggml.scores");
    TAP_OK(kv && kv->arr_n == 3 && dt_gguf_arr_f64(kv, 2) == 2.25 && dt_gguf_arr_f64(kv, 3) == 0,
           "f32 array (and out-of-range index reads 0)");
    kv = dt_gguf_find(g, "tokenizer.ggml.token_type");
    TAP_OK(kv && dt_gguf_arr_i64(kv, 0) == -3 && dt_gguf_arr_i64(kv, 2) == 7, "i32 array");
    kv = dt_gguf_find(g, "nested");
    TAP_OK(kv && kv->arr_type == DT_GGUF_ARRAY && kv->arr_n == 2, "nested array is parsed");
    kv = dt_gguf_find(g, "i8");
    TAP_OK(kv && kv->type == DT_GGUF_INT8 && kv->v.i64 == -5, "int8 value");

    int shapes_ok = 1, values_ok = 1;
    for (size_t t = 0; t < N_SRC; t++) {
        const struct dt_gguf_tensor *ti = dt_gguf_find_tensor(g, src_tensors[t].name);
        if (!ti || ti->type != src_tensors[t].type || ti->n_dims != src_tensors[t].n_dims ||
            memcmp(ti->ne, src_tensors[t].ne, sizeof ti->ne) || ti->offset % 32) {
            shapes_ok = 0;
            continue;
        }
        float *y = malloc((size_t)ti->n_elems * sizeof *y);
        dt_ggml_dequantize(ti->type, ti->data, y, ti->n_elems);
        for (int64_t i = 0; i < ti->n_elems; i++)
            if (fabs(y[i] - src_value(t, i)) > 0.15)
                values_ok = 0;
        free(y);
    }
    TAP_OK(shapes_ok, "tensor infos round-trip (type, dims, shape, aligned offset)");
    TAP_OK(values_ok, "tensor data round-trips through quantize/dequantize");
    TAP_OK(dt_gguf_find_tensor(g, "w.nope") == NULL, "missing tensor");
    dt_gguf_free(g);
}

static void test_truncations(const uint8_t *buf, size_t n)
{
    struct dt_gguf *g = NULL;
    struct dt_error err;
    if (dt_gguf_open_memory(buf, n, &g, &err))
        return;
    uint64_t end = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint64_t e = g->data_offset + g->tensors[i].offset + g->tensors[i].n_bytes;
        end = e > end ? e : end;
    }
    dt_gguf_free(g);
    int bad = 0, unclear = 0;
    for (size_t cut = 0; cut < n; cut++) {
        /* a heap copy of exactly cut bytes, so ASan catches any read past it */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        g = NULL;
        int rc = dt_gguf_open_memory(p, cut, &g, &err);
        if ((cut < end) != (rc != 0))
            bad++;
        if (rc && (rc != DT_EFORMAT || strchr(err.msg, '\n') || !has(err.msg, "offset") ||
                   err.msg[0] < 'a' || err.msg[0] > 'z'))
            if (cut >= 4 || rc != DT_EFORMAT)
                unclear++;
        dt_gguf_free(g);
        free(p);
    }
    TAP_OK(bad == 0, "every truncation before the end of the tensor data fails, later ones pass "
                     "(%zu cuts, %d wrong)", n, bad);
    TAP_OK(unclear == 0, "every truncation error is a one-line format error naming an offset "
                         "(%d unclear)", unclear);
}

static void test_corruption(const uint8_t *buf, size_t n)
{
    /* Overwrite each header/metadata byte with a few values: must never crash. */
    struct dt_gguf *g = NULL;
    struct dt_error err;
    uint8_t *p = malloc(n);
    size_t meta_end = n > 1200 ? 1200 : n;
    int ok_count = 0, fail_count = 0;
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0xff};
    for (size_t i = 0; i < meta_end; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(p, buf, n);
            p[i] = vals[v];
            g = NULL;
            if (dt_gguf_open_memory(p, n, &g, &err) == 0) {
                for (uint64_t t = 0; t < g->n_tensors; t++)
                    if (dt_ggml_type_supported(g->tensors[t].type) && g->tensors[t].n_bytes) {
                        float y[256];
                        dt_ggml_dequantize(g->tensors[t].type, g->tensors[t].data, y,
                                           (int64_t)dt_ggml_block_elems(g->tensors[t].type));
                    }
                ok_count++;
            } else {
                fail_count++;
            }
            dt_gguf_free(g);
        }
    }
    free(p);
    TAP_OK(fail_count > 0 && ok_count > 0, "byte corruption: %d parsed, %d rejected, no crash",
           ok_count, fail_count);
}

static void test_alloc_failures(const uint8_t *buf, size_t n)
{
    int wrong = 0, succeeded_at = -1;
    for (int k = 0; k < 200 && succeeded_at < 0; k++) {
        struct dt_gguf *g = NULL;
        struct dt_error err;
        dt_alloc_fail_after(k);
        int rc = dt_gguf_open_memory(buf, n, &g, &err);
        dt_alloc_fail_after(-1);
        if (rc == 0)
            succeeded_at = k;
        else if (rc != DT_ENOMEM)
            wrong++;
        dt_gguf_free(g);
    }
    TAP_OK(wrong == 0 && succeeded_at > 0,
           "allocation failure at every step is DT_ENOMEM (succeeds from allocation %d)",
           succeeded_at);
}

/* Small hand-made files for messages the CLI corpus also checks, asserted here on the text. */
static void test_messages(void)
{
    struct dt_gguf *g = NULL;
    struct dt_error err;
    void *buf;
    size_t n;
    struct dt_gguf_writer *w = dt_gguf_writer_new();
    dt_gguf_writer_add_u32(w, "a", 1);
    dt_gguf_writer_add_u32(w, "b", 1);
    dt_gguf_writer_add_u32(w, "a", 2);
    dt_gguf_writer_to_memory(w, &buf, &n, &err);
    dt_gguf_writer_free(w);
    TAP_OK(dt_gguf_open_memory(buf, n, &g, &err) == DT_EFORMAT &&
               has(err.msg, "duplicate key 'a' at offset") && has(err.msg, "first at offset 24"),
           "duplicate key: %s", err.msg);
    dt_free(buf);

    w = dt_gguf_writer_new();
    dt_gguf_writer_add_str(w, "general.alignment", "32");
    dt_gguf_writer_to_memory(w, &buf, &n, &err);
    dt_gguf_writer_free(w);
    TAP_OK(dt_gguf_open_memory(buf, n, &g, &err) == DT_EFORMAT &&
               has(err.msg, "'general.alignment' at offset 24 has type string, expected uint32"),
           "alignment type: %s", err.msg);
    dt_free(buf);

    w = dt_gguf_writer_new();
    dt_gguf_writer_add_u32(w, "general.alignment", 48);
    dt_gguf_writer_to_memory(w, &buf, &n, &err);
    dt_gguf_writer_free(w);
    TAP_OK(dt_gguf_open_memory(buf, n, &g, &err) == DT_EFORMAT &&
               has(err.msg, "48 is not a nonzero power of two"),
           "alignment value: %s", err.msg);
    dt_free(buf);

    w = dt_gguf_writer_new();
    float x[32] = {0};
    int64_t ne[1] = {32};
    dt_gguf_writer_add_tensor(w, "t0", DT_GGML_F32, 1, ne, x, sizeof x);
    dt_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", 99, 1, ne, x, sizeof x);
    dt_gguf_writer_to_memory(w, &buf, &n, &err);
    dt_gguf_writer_free(w);
    TAP_OK(dt_gguf_open_memory(buf, n, &g, &err) == DT_EFORMAT &&
               has(err.msg, "tensor 'blk.0.attn_q.weight' at offset 58: unknown tensor type 99 at offset 97"),
           "unknown tensor type: %s", err.msg);
    dt_free(buf);

    w = dt_gguf_writer_new();
    dt_gguf_writer_add_tensor(w, "t0", DT_GGML_F32, 1, ne, x, sizeof x);
    dt_gguf_writer_to_memory(w, &buf, &n, &err);
    dt_gguf_writer_free(w);
    TAP_OK(dt_gguf_open_memory(buf, n - 4, &g, &err) == DT_EFORMAT &&
               has(err.msg, "tensor 't0' at offset 24: data [64, 192) extends past the end of the "
                            "file (size 188)"),
           "data past the end: %s", err.msg);
    ((uint8_t *)buf)[4] = 1;
    TAP_OK(dt_gguf_open_memory(buf, n, &g, &err) == DT_EUNSUPPORTED && has(err.msg, "version 1"),
           "version 1: %s", err.msg);
    dt_free(buf);
}

static int64_t count_files(const char *dir, int (*fn)(const char *path))
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int64_t n_bad = 0, n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n++;
        n_bad += fn(path) ? 1 : 0;
    }
    closedir(d);
    return n_bad ? -n_bad - 1 : n;
}

static int open_one(const char *path)
{
    struct dt_gguf *g = NULL;
    struct dt_error err;
    int rc = dt_gguf_open(path, &g, &err);
    if (rc)
        printf("# %s\n", err.msg);
    dt_gguf_free(g);
    return rc;
}

static void test_zoo(void)
{
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/zoo/gguf", DT_SHARED_DIR);
    if (access(dir, R_OK) != 0) {
        printf("# SKIP zoo tests: %s not present\n", dir);
        TAP_OK(1, "zoo tests # SKIP ../shared/zoo is absent");
        return;
    }
    int64_t n = count_files(dir, open_one);
    TAP_OK(n >= 10, "every zoo gguf file opens (%lld files)", (long long)n);
    snprintf(dir, sizeof dir, "%s/vocab", DT_SHARED_DIR);
    n = count_files(dir, open_one);
    TAP_OK(n >= 4, "every vocab-only gguf file opens (%lld files)", (long long)n);

    struct dt_gguf *t = NULL, *q = NULL, *qw = NULL, *v = NULL;
    struct dt_error err;
    char *s = NULL;
    snprintf(path, sizeof path, "%s/zoo/gguf/teacher.gguf", DT_SHARED_DIR);
    if (dt_gguf_open(path, &t, &err) != 0) {
        TAP_OK(0, "teacher.gguf: %s", err.msg);
        return;
    }
    TAP_OK(dt_gguf_get_str(t, "general.architecture", &s, &err) == 0 && !strcmp(s, "llama"),
           "teacher architecture is llama");
    dt_free(s);
    s = NULL;
    uint32_t nb = 0;
    TAP_OK(dt_gguf_get_u32(t, "llama.block_count", &nb, &err) == 0 && nb == 6, "teacher has 6 blocks");
    TAP_OK(t->n_tensors == 57, "teacher has 57 tensors (%llu)", (unsigned long long)t->n_tensors);
    const struct dt_gguf_tensor *emb = dt_gguf_find_tensor(t, "token_embd.weight");
    TAP_OK(emb && emb->type == DT_GGML_F16 && emb->n_dims == 2 && emb->ne[0] == 160 &&
               emb->ne[1] == 2048,
           "teacher token_embd.weight is f16 [160, 2048]");
    const struct dt_gguf_tensor *wk = dt_gguf_find_tensor(t, "blk.0.attn_k.weight");
    TAP_OK(wk && wk->ne[0] == 160 && wk->ne[1] == 32, "teacher blk.0.attn_k.weight is [160, 32]");

    snprintf(path, sizeof path, "%s/zoo/gguf/s_scrubbed_qwen2.gguf", DT_SHARED_DIR);
    if (dt_gguf_open(path, &qw, &err) == 0) {
        TAP_OK(dt_gguf_get_str(qw, "general.architecture", &s, &err) == 0 && !strcmp(s, "qwen2"),
               "s_scrubbed_qwen2 architecture is qwen2");
        dt_free(s);
        s = NULL;
        const struct dt_gguf_tensor *e2 = dt_gguf_find_tensor(qw, "token_embd.weight");
        TAP_OK(e2 && e2->ne[1] == 2112 && !dt_gguf_find_tensor(qw, "output.weight"),
               "qwen2 student: padded embedding of 2112 rows, tied output");
        TAP_OK(dt_gguf_find_tensor(qw, "blk.0.attn_q.bias") != NULL, "qwen2 student has q bias");
        dt_gguf_free(qw);
    }

    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf", DT_SHARED_DIR);
    if (dt_gguf_open(path, &v, &err) == 0) {
        const struct dt_gguf_kv *kv = dt_gguf_find(v, "tokenizer.ggml.tokens");
        TAP_OK(v->n_tensors == 0 && kv && kv->arr_n == 50257 && kv->arr_str[0].n_bytes == 1 &&
                   kv->arr_str[0].ptr[0] == '!',
               "gpt-2 vocab: no tensors, 50257 tokens, token 0 is '!'");
        dt_gguf_free(v);
    }

    snprintf(path, sizeof path, "%s/zoo/gguf/teacher.q8_0.gguf", DT_SHARED_DIR);
    if (dt_gguf_open(path, &q, &err) != 0) {
        TAP_OK(0, "teacher.q8_0.gguf: %s", err.msg);
        dt_gguf_free(t);
        return;
    }
    int n_q8 = 0, n_exact = 0, bad = 0;
    double worst = 0;
    for (uint64_t i = 0; i < q->n_tensors; i++) {
        const struct dt_gguf_tensor *a = &q->tensors[i];
        const struct dt_gguf_tensor *b = dt_gguf_find_tensor(t, a->name);
        if (!b || b->n_elems != a->n_elems || !dt_ggml_type_supported(a->type)) {
            bad++;
            continue;
        }
        float *ya = malloc((size_t)a->n_elems * sizeof *ya), *yb = malloc((size_t)a->n_elems * sizeof *yb);
        dt_ggml_dequantize(a->type, a->data, ya, a->n_elems);
        dt_ggml_dequantize(b->type, b->data, yb, b->n_elems);
        if (a->type == DT_GGML_Q8_0) {
            n_q8++;
            for (int64_t k = 0; k < a->n_elems; k++) {
                /* Q8_0 error: half a step, plus 127 times the f16 rounding of d (2^-11 d) */
                float d = dt_fp16_to_fp32((uint16_t)(a->data[34 * (k / 32)] |
                                                     (a->data[34 * (k / 32) + 1] << 8)));
                double e = fabs((double)ya[k] - yb[k]);
                if (e > worst)
                    worst = e;
                if (e > d * (0.5 + 127.0 / 2048) + 1e-7)
                    bad++;
            }
        } else {
            n_exact++;
            if (memcmp(ya, yb, (size_t)a->n_elems * sizeof *ya))
                bad++;
        }
        free(ya);
        free(yb);
    }
    TAP_OK(n_q8 >= 30 && n_exact > 0 && bad == 0,
           "teacher.q8_0 matches teacher.gguf: %d q8_0 tensors within q8_0 error (worst %.3g), "
           "%d f16/f32 tensors identical, %d mismatches",
           n_q8, worst, n_exact, bad);
    /* dot products on a real q8_0 matrix agree with dequantize + dot */
    const struct dt_gguf_tensor *wq = dt_gguf_find_tensor(q, "blk.0.attn_q.weight");
    if (wq) {
        float x[160], row[160];
        for (int k = 0; k < 160; k++)
            x[k] = (float)((k % 17) - 8) / 8.0f;
        double maxdiff = 0;
        for (int r = 0; r < 160; r++) {
            const uint8_t *rp = wq->data + (size_t)r * 5 * 34;
            dt_ggml_dequantize(DT_GGML_Q8_0, rp, row, 160);
            double ref = 0;
            for (int k = 0; k < 160; k++)
                ref += (double)row[k] * x[k];
            double diff = fabs(ref - dt_ggml_dot(DT_GGML_Q8_0, rp, x, 160));
            maxdiff = diff > maxdiff ? diff : maxdiff;
        }
        TAP_OK(maxdiff < 1e-4, "q8_0 dot on teacher rows (max diff %.3g)", maxdiff);
    }
    dt_gguf_free(q);
    dt_gguf_free(t);
}

int main(void)
{
    size_t n = 0;
    uint8_t *buf = build_file(&n);
    TAP_OK(buf != NULL && n > 0, "writer builds a file (%zu bytes)", n);
    if (buf) {
        test_roundtrip(buf, n);
        test_truncations(buf, n);
        test_corruption(buf, n);
        test_alloc_failures(buf, n);
        char tmp[] = "/tmp/dt_test_gguf_XXXXXX";
        int fd = mkstemp(tmp);
        if (fd >= 0) {
            close(fd);
            struct dt_gguf_writer *w = dt_gguf_writer_new();
            struct dt_error err;
            dt_gguf_writer_add_str(w, "general.architecture", "llama");
            int rc = dt_gguf_writer_write(w, tmp, &err);
            dt_gguf_writer_free(w);
            struct dt_gguf *g = NULL;
            TAP_OK(rc == 0 && dt_gguf_open(tmp, &g, &err) == 0 && g->n_kv == 1 &&
                       g->n_tensors == 0,
                   "writer -> file -> reader");
            dt_gguf_free(g);
            unlink(tmp);
        }
        struct dt_gguf *g = NULL;
        struct dt_error err;
        TAP_OK(dt_gguf_open("/nonexistent/x.gguf", &g, &err) == DT_EIO &&
                   has(err.msg, "'/nonexistent/x.gguf'"),
               "missing file is an i/o error naming it");
    }
    dt_free(buf);
    test_messages();
    test_zoo();
    return tap_done();
}

/*
 * Unit tests for infer/safetensors: a valid buffer parses with the right shapes and pointers,
 * every file in tests/data/bad/st_*.safetensors is rejected with a one-line error, sharded
 * checkpoints resolve through the index, and the HF zoo checkpoint opens when present.
 */
#include "infer/ggml_types.h"
#include "infer/safetensors.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DT_SOURCE_DIR
#define DT_SOURCE_DIR "."
#endif

/* Builds a safetensors blob from a header string and data bytes into buf; returns its size. */
static size_t build(uint8_t *buf, const char *header, const void *data, size_t n_data)
{
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    memcpy(buf + 8 + n, data, n_data);
    return 8 + n + n_data;
}

static int expect_fail(const char *header, const void *data, size_t n_data, int code,
                       const char *needle)
{
    uint8_t buf[4096];
    size_t n = build(buf, header, data, n_data);
    struct dt_safetensors *st = NULL;
    struct dt_error err = {0};
    int rc = dt_safetensors_open_memory(buf, n, &st, &err);
    if (rc == 0)
        dt_safetensors_free(st);
    int ok = rc == code && strstr(err.msg, needle) && !strchr(err.msg, '\n');
    if (!ok)
        printf("# rc=%d msg=%s\n", rc, err.msg);
    return ok;
}

static int write_file(const char *path, const void *data, size_t n)
{
    struct dt_error err;
    return dt_file_write_all(path, data, n, &err);
}

int main(void)
{
    uint8_t data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (uint8_t)i;
    uint16_t half[4] = {0x3C00, 0xC000, 0x3800, 0x4200}; /* 1, -2, 0.5, 3 in IEEE half */
    float f[2] = {1.5f, -4.0f};
    uint8_t good_data[16];
    memcpy(good_data, half, 8);
    memcpy(good_data + 8, f, 8);
    const char *good = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                       "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}   ";
    uint8_t buf[4096];
    size_t n = build(buf, good, good_data, 16);
    struct dt_safetensors *st = NULL;
    struct dt_error err = {0};
    TAP_OK(dt_safetensors_open_memory(buf, n, &st, &err) == 0, "valid buffer parses (%s)", err.msg);
    if (st) {
        const struct dt_st_tensor *w = dt_safetensors_find(st, "w");
        const struct dt_st_tensor *v = dt_safetensors_find(st, "v");
        TAP_OK(st->n_tensors == 2 && w && v, "two tensors found by name");
        TAP_OK(w && w->type == DT_GGML_F16 && w->n_dims == 2 && w->shape[0] == 2 &&
                   w->shape[1] == 2 && w->n_elems == 4 && w->n_bytes == 8,
               "f16 tensor shape and size");
        TAP_OK(w && w->data[2] == 0x00 && w->data[3] == 0xC0, "f16 data pointer");
        float x;
        if (v)
            memcpy(&x, v->data + 4, 4);
        TAP_OK(v && v->type == DT_GGML_F32 && x == -4.0f, "f32 data pointer");
        const char *fmt = dt_safetensors_meta(st, "format");
        TAP_OK(fmt && !strcmp(fmt, "pt"), "metadata value");
        TAP_OK(dt_safetensors_find(st, "nope") == NULL, "missing tensor is NULL");
        dt_safetensors_free(st);
    }

    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}", data, 6,
                       0, ""),
           "bf16 accepted");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", data, 8,
                       DT_EUNSUPPORTED, "unsupported dtype 'I64'"),
           "I64 is unsupported (not malformed)");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,8]}}", data, 8,
                       DT_EFORMAT, "unknown dtype"),
           "unknown dtype is a format error");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       data, 12, DT_EFORMAT, "overlaps"),
           "overlap rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       data, 12, DT_EFORMAT, "gap"),
           "gap rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 8,
                       DT_EFORMAT, "cover 4 bytes of a 8-byte"),
           "uncovered trailing bytes rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 8,
                       DT_EFORMAT, "shape holds 3"),
           "shape product mismatch rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                       "\"data_offsets\":[0,8]}}",
                       data, 8, DT_EFORMAT, "overflows"),
           "shape overflow rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", data, 8,
                       DT_EFORMAT, "reversed"),
           "reversed offsets rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                       data, 8, DT_EFORMAT, "duplicate tensor name 'a'"),
           "duplicate name rejected");
    TAP_OK(expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", data,
                       8, DT_EFORMAT, "shape[0]"),
           "fractional shape rejected");
    TAP_OK(expect_fail("{\"a\" {}", data, 0, DT_EFORMAT, "not valid JSON"), "bad JSON rejected");
    TAP_OK(expect_fail("{} x", data, 0, DT_EFORMAT, "trailing"), "garbage after JSON rejected");
    TAP_OK(expect_fail("{}", data, 0, 0, ""), "empty header with no data is valid");

    uint8_t short_buf[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    TAP_OK(dt_safetensors_open_memory(short_buf, 8, &st, &err) == DT_EFORMAT &&
               strstr(err.msg, "header length"),
           "huge header length rejected (%s)", err.msg);
    TAP_OK(dt_safetensors_open_memory(short_buf, 3, &st, &err) == DT_EFORMAT, "3-byte file rejected");

    /* Every generated bad file fails with a one-line format error. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/bad", DT_SOURCE_DIR);
    DIR *d = opendir(dir);
    int n_bad = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "st_", 3) || len < 12 || strcmp(e->d_name + len - 12, ".safetensors"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        err.msg[0] = 0;
        int rc = dt_safetensors_open(path, &st, &err);
        TAP_OK(rc != 0 && dt_exit_code_for(rc) == DT_EXIT_INPUT && err.msg[0] &&
                   !strchr(err.msg, '\n'),
               "%s rejected: %s", e->d_name, err.msg);
        if (rc == 0)
            dt_safetensors_free(st);
        n_bad++;
    }
    if (d)
        closedir(d);
    TAP_OK(n_bad >= 12, "found %d bad safetensors files", n_bad);

    /* Sharded checkpoint through an index. */
    char tmp[] = "/tmp/dt_test_st_XXXXXX";
    if (mkdtemp(tmp)) {
        char p1[256], p2[256], pi[256];
        snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", tmp);
        snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", tmp);
        snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", tmp);
        n = build(buf, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f, 4);
        write_file(p1, buf, n);
        n = build(buf, "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f + 1, 4);
        write_file(p2, buf, n);
        const char *idx = "{\"metadata\":{},\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                          "\"y\":\"model-00002-of-00002.safetensors\"}}";
        write_file(pi, idx, strlen(idx));
        struct dt_st_set *set = NULL;
        TAP_OK(dt_st_set_open(tmp, &set, &err) == 0, "sharded directory opens (%s)", err.msg);
        if (set) {
            const struct dt_st_tensor *y = dt_st_set_find(set, "y");
            float yv = 0;
            if (y)
                memcpy(&yv, y->data, 4);
            TAP_OK(set->n_files == 2 && set->n_tensors == 2 && y && yv == -4.0f,
                   "tensors resolved across shards");
            dt_st_set_free(set);
        }
        const char *bad_idx = "{\"weight_map\":{\"x\":\"model-00002-of-00002.safetensors\"}}";
        write_file(pi, bad_idx, strlen(bad_idx));
        TAP_OK(dt_st_set_open(tmp, &set, &err) == DT_EFORMAT && strstr(err.msg, "not in shard"),
               "index naming the wrong shard rejected (%s)", err.msg);
        unlink(p1);
        unlink(p2);
        unlink(pi);
        rmdir(tmp);
    }

    /* The zoo's HF checkpoint. */
    char hf[1024];
    snprintf(hf, sizeof hf, "%s/zoo/hf/s_seqkd", DT_SHARED_DIR);
    if (dt_path_is_dir(hf)) {
        struct dt_st_set *set = NULL;
        TAP_OK(dt_st_set_open(hf, &set, &err) == 0, "zoo s_seqkd opens (%s)", err.msg);
        if (set) {
            const struct dt_st_tensor *t = dt_st_set_find(set, "model.embed_tokens.weight");
            TAP_OK(set->n_tensors == 39 && t && t->type == DT_GGML_F16 && t->shape[0] == 2048 &&
                       t->shape[1] == 128,
                   "zoo s_seqkd embedding shape");
            dt_st_set_free(set);
        }
    } else {
        printf("# zoo absent, skipping the HF checkpoint check\n");
    }
    return tap_done();
}

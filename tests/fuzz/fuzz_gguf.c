/*
 * libFuzzer harness for the GGUF reader: parse the input with dt_gguf_open_memory, then touch
 * everything a consumer would: every kv (typed getters, array elements, strings), every tensor
 * (lookup by name, first block dequantized and dotted when its type is supported). ASan and
 * UBSan turn any out-of-bounds read or overflow into a crash.
 */
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dt_gguf *g = NULL;
    struct dt_error err;
    if (dt_gguf_open_memory(data, size, &g, &err) != 0) {
        /* the message must be one line */
        if (strchr(err.msg, '\n'))
            __builtin_trap();
        return 0;
    }
    double acc = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dt_gguf_kv *kv = &g->kv[i];
        if (dt_gguf_find(g, kv->key) != kv)
            __builtin_trap();
        uint64_t u;
        float f;
        int b;
        char *s = NULL;
        if (dt_gguf_get_u64(g, kv->key, &u, NULL) == 0)
            acc += (double)u;
        if (dt_gguf_get_f32(g, kv->key, &f, NULL) == 0)
            acc += f;
        if (dt_gguf_get_bool(g, kv->key, &b, NULL) == 0)
            acc += b;
        if (dt_gguf_get_str(g, kv->key, &s, NULL) == 0) {
            acc += (double)strlen(s);
            dt_free(s);
        }
        if (kv->type == DT_GGUF_ARRAY) {
            uint64_t n = kv->arr_n < 64 ? kv->arr_n : 64;
            for (uint64_t k = 0; k < n; k++) {
                acc += dt_gguf_arr_f64(kv, k) + (double)dt_gguf_arr_i64(kv, k);
                if (kv->arr_str && kv->arr_str[k].n_bytes)
                    acc += (uint8_t)kv->arr_str[k].ptr[kv->arr_str[k].n_bytes - 1];
            }
        }
        if (kv->type == DT_GGUF_STRING && kv->v.str.n_bytes)
            acc += (uint8_t)kv->v.str.ptr[kv->v.str.n_bytes - 1];
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dt_gguf_tensor *t = &g->tensors[i];
        if (dt_gguf_find_tensor(g, t->name) != t)
            __builtin_trap();
        if (t->n_bytes)
            acc += t->data[0] + t->data[t->n_bytes - 1];
        if (!dt_ggml_type_supported(t->type))
            continue;
        float y[256], x[256];
        int64_t n = (int64_t)dt_ggml_block_elems(t->type);
        if (n > t->n_elems || n > 256)
            continue;
        dt_ggml_dequantize(t->type, t->data, y, n);
        for (int64_t k = 0; k < n; k++)
            x[k] = 1.0f;
        acc += y[0] + dt_ggml_dot(t->type, t->data, x, n);
    }
    sink = acc;
    dt_gguf_free(g);
    return 0;
}

/*
 * GGUF v3 reader (the llama.cpp model format).
 *
 * Byte format (little-endian):
 *   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
 *   n_kv x { gguf_string key | u32 value_type | value }
 *   n_tensors x { gguf_string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data
 *   gguf_string = u64 n_bytes | bytes (no NUL)
 *   value ARRAY = u32 elem_type | u64 n | n elements (nested arrays allowed)
 *
 * Every count, length, offset and shape is checked against the bytes that remain, with
 * overflow-checked arithmetic. Duplicate keys or tensor names, unknown value or tensor types,
 * invalid UTF-8 in keys or names, misaligned, out-of-file or overlapping tensor data are
 * errors naming the field and byte offset. Also rejected: a dimension of 0 (ggml allows it;
 * nothing we load has one), keys or tensor names that are empty or contain control
 * characters, general.alignment that is not a uint32 power of two, and well-known keys
 * (general.architecture, tokenizer.ggml.tokens, ...) of the wrong type. Arrays may nest 4
 * deep. Version 1 is DT_EUNSUPPORTED; every other failure is DT_EFORMAT (or DT_ENOMEM).
 * The file is memory-mapped; all pointers in the
 * structures below point into the mapping (or into arrays owned by struct dt_gguf) and stay
 * valid until dt_gguf_free.
 */
#ifndef DT_INFER_GGUF_H
#define DT_INFER_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/file.h"

struct dt_error;

enum dt_gguf_vtype {
    DT_GGUF_UINT8 = 0,
    DT_GGUF_INT8 = 1,
    DT_GGUF_UINT16 = 2,
    DT_GGUF_INT16 = 3,
    DT_GGUF_UINT32 = 4,
    DT_GGUF_INT32 = 5,
    DT_GGUF_FLOAT32 = 6,
    DT_GGUF_BOOL = 7,
    DT_GGUF_STRING = 8,
    DT_GGUF_ARRAY = 9,
    DT_GGUF_UINT64 = 10,
    DT_GGUF_INT64 = 11,
    DT_GGUF_FLOAT64 = 12,
};

struct dt_gguf_str {
    const char *ptr; /* into the mapping, NOT NUL-terminated */
    uint64_t n_bytes;
};

struct dt_gguf_kv {
    char *key;                 /* NUL-terminated copy */
    uint32_t type;             /* enum dt_gguf_vtype */
    uint64_t offset;           /* byte offset of the key in the file (for messages) */
    union {
        uint64_t u64;          /* all unsigned ints and bool, widened */
        int64_t i64;           /* all signed ints, widened */
        double f64;            /* FLOAT32 and FLOAT64, widened */
        struct dt_gguf_str str;
    } v;
    /* arrays: */
    uint32_t arr_type;         /* element type; nested arrays are parsed but not exposed */
    uint64_t arr_n;
    const uint8_t *arr_data;   /* raw elements for fixed-size types (little-endian, unaligned);
                                  for nested arrays, the first nested array's bytes */
    struct dt_gguf_str *arr_str; /* arr_n entries when arr_type == STRING (owned) */
};

struct dt_gguf_tensor {
    char *name;                /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[4];             /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    uint32_t type;             /* enum dt_ggml_type */
    uint64_t offset;           /* relative to the data section */
    const uint8_t *data;       /* into the mapping */
    size_t n_bytes;
    int64_t n_elems;
    uint64_t info_offset;      /* byte offset of the tensor info (its name) in the file */
};

struct dt_gguf {
    struct dt_mapped_file map; /* empty when opened from memory */
    const uint8_t *base;
    size_t size_bytes;
    uint32_t version;
    uint64_t n_kv;
    struct dt_gguf_kv *kv;
    uint64_t n_tensors;
    struct dt_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;      /* start of the tensor data section */
    uint64_t *kv_order;        /* n_kv indices into kv, sorted by key (lookups) */
    uint64_t *tensor_order;    /* n_tensors indices into tensors, sorted by name */
};

int dt_gguf_open(const char *path, struct dt_gguf **out, struct dt_error *err);
/* Parses a buffer the caller keeps alive (fuzzing, tests). */
int dt_gguf_open_memory(const void *data, size_t n_bytes, struct dt_gguf **out, struct dt_error *err);
void dt_gguf_free(struct dt_gguf *g);

const struct dt_gguf_kv *dt_gguf_find(const struct dt_gguf *g, const char *key);
const struct dt_gguf_tensor *dt_gguf_find_tensor(const struct dt_gguf *g, const char *name);

/* Typed getters: DT_ENOTFOUND when absent, DT_EFORMAT when the type does not fit (ints of any
 * width are accepted when the value is in range). */
int dt_gguf_get_u64(const struct dt_gguf *g, const char *key, uint64_t *out, struct dt_error *err);
int dt_gguf_get_u32(const struct dt_gguf *g, const char *key, uint32_t *out, struct dt_error *err);
int dt_gguf_get_f32(const struct dt_gguf *g, const char *key, float *out, struct dt_error *err);
int dt_gguf_get_bool(const struct dt_gguf *g, const char *key, int *out, struct dt_error *err);
/* Returns a heap copy (dt_free) of a STRING value. */
int dt_gguf_get_str(const struct dt_gguf *g, const char *key, char **out, struct dt_error *err);

/* Reads element i of a numeric array as double / int64 (any numeric element type). */
double dt_gguf_arr_f64(const struct dt_gguf_kv *kv, uint64_t i);
int64_t dt_gguf_arr_i64(const struct dt_gguf_kv *kv, uint64_t i);

/* Writer, for tests, fuzz seeds and `bench --synthetic`: builds a GGUF v3 file in memory. */
struct dt_gguf_writer;
struct dt_gguf_writer *dt_gguf_writer_new(void);
void dt_gguf_writer_free(struct dt_gguf_writer *w);
int dt_gguf_writer_add_u32(struct dt_gguf_writer *w, const char *key, uint32_t v);
int dt_gguf_writer_add_f32(struct dt_gguf_writer *w, const char *key, float v);
int dt_gguf_writer_add_bool(struct dt_gguf_writer *w, const char *key, int v);
int dt_gguf_writer_add_str(struct dt_gguf_writer *w, const char *key, const char *v);
int dt_gguf_writer_add_arr_str(struct dt_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
int dt_gguf_writer_add_arr_f32(struct dt_gguf_writer *w, const char *key, const float *v, uint64_t n);
int dt_gguf_writer_add_arr_i32(struct dt_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* data holds the already-encoded tensor bytes (see dt_ggml_quantize); copied. */
int dt_gguf_writer_add_tensor(struct dt_gguf_writer *w, const char *name, uint32_t type,
                              uint32_t n_dims, const int64_t *ne, const void *data, size_t n_bytes);
int dt_gguf_writer_write(struct dt_gguf_writer *w, const char *path, struct dt_error *err);
/* Additions: a uint64 value; a value of any type given as its already-encoded bytes (tests
 * use it for nested arrays and odd types); the whole file in a heap buffer (dt_free it).
 * Adding "general.alignment" with add_u32 also sets the alignment the writer pads to. */
int dt_gguf_writer_add_u64(struct dt_gguf_writer *w, const char *key, uint64_t v);
int dt_gguf_writer_add_raw(struct dt_gguf_writer *w, const char *key, uint32_t type,
                           const void *value, size_t n_bytes);
int dt_gguf_writer_to_memory(struct dt_gguf_writer *w, void **out, size_t *n_bytes,
                             struct dt_error *err);

#endif

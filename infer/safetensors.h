/*
 * safetensors reader (the Hugging Face weight format), single files and sharded checkpoints.
 *
 * Byte format:
 *   u64 n_header (little-endian) | n_header bytes of UTF-8 JSON | data section
 *   JSON: { "__metadata__": {str: str, ...}?,
 *           NAME: {"dtype": "F16", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ... }
 *   Offsets are relative to the data section. The spec demands that the tensors cover the data
 *   section exactly: sorted by begin they are contiguous, non-overlapping, start at 0 and end
 *   at the file's end; shape product x dtype size == end - begin. The JSON may be padded with
 *   trailing spaces.
 *
 * Every one of these rules is checked (with overflow-checked arithmetic); names must be valid
 * UTF-8 and unique. Supported dtypes: F32, F16, BF16. Other dtypes of the spec (F64, I8..I64,
 * U8..U64, BOOL, F8_*) are DT_EUNSUPPORTED; names outside the spec are DT_EFORMAT.
 *
 * Shapes are kept in safetensors order (row-major, LAST dimension contiguous), the reverse of
 * ggml's ne[]. Data pointers point into the mapping and may be unaligned.
 */
#ifndef DT_INFER_SAFETENSORS_H
#define DT_INFER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/file.h"

struct dt_error;

#define DT_ST_MAX_DIMS 8
/* Headers larger than this are rejected before allocating (the spec's reference does too). */
#define DT_ST_MAX_HEADER_BYTES ((uint64_t)100 * 1024 * 1024)

struct dt_st_tensor {
    char *name;              /* NUL-terminated copy, valid UTF-8 */
    uint32_t type;           /* enum dt_ggml_type: F32, F16 or BF16 */
    int n_dims;              /* 0..DT_ST_MAX_DIMS (0 = scalar) */
    int64_t shape[DT_ST_MAX_DIMS]; /* safetensors order: shape[n_dims-1] is contiguous */
    int64_t n_elems;
    uint64_t begin, end;     /* data_offsets, relative to the data section */
    const uint8_t *data;     /* into the mapping; may be unaligned */
    size_t n_bytes;
};

struct dt_safetensors {
    struct dt_mapped_file map; /* empty when opened from memory */
    char *path;                /* as opened (owned); NULL when opened from memory */
    const uint8_t *base;
    size_t size_bytes;
    uint64_t header_bytes;   /* n_header */
    uint64_t data_offset;    /* 8 + n_header */
    size_t n_tensors;
    struct dt_st_tensor *tensors; /* in header order */
    size_t n_meta;
    char **meta_keys, **meta_values; /* __metadata__ entries (owned copies) */
};

int dt_safetensors_open(const char *path, struct dt_safetensors **out, struct dt_error *err);
/* Parses a buffer the caller keeps alive (fuzzing, tests). */
int dt_safetensors_open_memory(const void *data, size_t n_bytes, struct dt_safetensors **out,
                               struct dt_error *err);
void dt_safetensors_free(struct dt_safetensors *st);

const struct dt_st_tensor *dt_safetensors_find(const struct dt_safetensors *st, const char *name);
/* __metadata__ value or NULL (borrowed). */
const char *dt_safetensors_meta(const struct dt_safetensors *st, const char *key);

/*
 * A checkpoint: one model.safetensors, or the shards named by model.safetensors.index.json
 * ("weight_map": {tensor: file}). Every tensor of the weight map must be in the file it names,
 * and a name must not appear in two shards.
 */
struct dt_st_set {
    size_t n_files;
    struct dt_safetensors **files;
    size_t n_tensors;
    const struct dt_st_tensor **tensors; /* borrowed from files[], sorted by name */
};

/* path: a directory (model.safetensors.index.json, else model.safetensors), an index .json or
 * one .safetensors file. */
int dt_st_set_open(const char *path, struct dt_st_set **out, struct dt_error *err);
void dt_st_set_free(struct dt_st_set *s);
const struct dt_st_tensor *dt_st_set_find(const struct dt_st_set *s, const char *name);

#endif

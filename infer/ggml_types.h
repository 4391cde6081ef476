/*
 * Tensor element types as numbered by ggml/GGUF, with block geometry, dequantization and
 * dot products for the types the inference core computes with.
 *
 * Supported (dequantize, dot; quantize in infer/ggml_quant.h): F32, F16, BF16, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL, IQ4_XS; the other ggml
 * types have a name and geometry only, so loaders refuse them by name. Block layouts (ggml), for example:
 *   F32   4 bytes/elem             F16  2 bytes/elem (IEEE half)     BF16 2 bytes/elem
 *   Q8_0  32 elems: f16 d, int8 q[32]                     -> 34 bytes, x = d*q
 *   Q4_0  32 elems: f16 d, uint8 qs[16] (lo nibbles = elems 0..15, hi = 16..31)
 *                                                         -> 18 bytes, x = d*(q-8)
 *   Q4_K  256 elems: f16 d, f16 dmin, uint8 scales[12] (6-bit scales/mins for 8 sub-blocks
 *         of 32), uint8 qs[128]                           -> 144 bytes
 * the rest are described by their decoders in infer/ggml_types.c. Quantized dot products
 * for generation (8-bit activations) are in infer/quant_dot.h.
 */
#ifndef DT_INFER_GGML_TYPES_H
#define DT_INFER_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

enum dt_ggml_type {
    DT_GGML_F32 = 0,
    DT_GGML_F16 = 1,
    DT_GGML_Q4_0 = 2,
    DT_GGML_Q4_1 = 3,
    DT_GGML_Q5_0 = 6,
    DT_GGML_Q5_1 = 7,
    DT_GGML_Q8_0 = 8,
    DT_GGML_Q8_1 = 9,
    DT_GGML_Q2_K = 10,
    DT_GGML_Q3_K = 11,
    DT_GGML_Q4_K = 12,
    DT_GGML_Q5_K = 13,
    DT_GGML_Q6_K = 14,
    DT_GGML_Q8_K = 15,
    DT_GGML_IQ2_XXS = 16,
    DT_GGML_IQ2_XS = 17,
    DT_GGML_IQ3_XXS = 18,
    DT_GGML_IQ1_S = 19,
    DT_GGML_IQ4_NL = 20,
    DT_GGML_IQ3_S = 21,
    DT_GGML_IQ2_S = 22,
    DT_GGML_IQ4_XS = 23,
    DT_GGML_I8 = 24,
    DT_GGML_I16 = 25,
    DT_GGML_I32 = 26,
    DT_GGML_I64 = 27,
    DT_GGML_F64 = 28,
    DT_GGML_IQ1_M = 29,
    DT_GGML_BF16 = 30,
    DT_GGML_TYPE_COUNT = 43, /* upper bound for table sizes; ids >= this are unknown */
};

/* Name ("f16", "q8_0", ...) or NULL for an id ggml does not define. */
const char *dt_ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for unknown types. Known-but-unsupported types
 * still report their geometry so files using them can be parsed and rejected cleanly later. */
size_t dt_ggml_block_elems(uint32_t type);
size_t dt_ggml_block_bytes(uint32_t type);
/* 1 when dequantize/dot below support the type. */
int dt_ggml_type_supported(uint32_t type);

/* Bytes of a row of n elements; -1 if n is not a multiple of the block size or overflows. */
int dt_ggml_row_bytes(uint32_t type, int64_t n, size_t *out);

/* Dequantizes n elements (a multiple of the block size) from src to f32. */
void dt_ggml_dequantize(uint32_t type, const void *src, float *dst, int64_t n);
/* Dot product of a quantized row of n elements with an f32 vector. */
float dt_ggml_dot(uint32_t type, const void *row, const float *x, int64_t n);

float dt_fp16_to_fp32(uint16_t h);
uint16_t dt_fp32_to_fp16(float f);
float dt_bf16_to_fp32(uint16_t h);
uint16_t dt_fp32_to_bf16(float f);

#endif

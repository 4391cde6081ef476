/*
 * Encoders from f32 into the ggml block types (infer/ggml_quant.c): writing synthetic models
 * and test files, and re-encoding the teacher in `weights` and `verify` to measure the error
 * the encoding causes by itself. Apart from infer/ggml_types.h, which the encoders read (block
 * geometry, fp16), so that the decoders do not depend on them.
 */
#ifndef DT_INFER_GGML_QUANT_H
#define DT_INFER_GGML_QUANT_H

#include <stdint.h>

/* Quantizes n f32 values into the type's block format. Non-finite values are allowed and give
 * well-formed blocks (NaN / infinite scales). Every type dt_ggml_type_supported accepts;
 * returns 0, or -1 for another type or an n that is not a multiple of the block. */
int dt_ggml_quantize(uint32_t type, const float *src, void *dst, int64_t n);

#endif

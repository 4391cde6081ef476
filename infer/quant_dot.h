/*
 * Quantized dot products for generation: the activation vector is quantized once per token
 * (8-bit blocks, as ggml does: 32-element blocks for the legacy types and IQ4_NL, 256-element
 * Q8_K-style blocks for the k-quants and IQ4_XS) and dotted against each weight row in its
 * stored type with integer arithmetic, instead of dequantizing every row to f32. F16, BF16 and
 * F32 rows keep an f32 activation (converted on the fly, no precision lost).
 *
 * On x86-64 the kernels exist at up to three ISA levels, picked once at first use from what
 * the CPU has: portable C, AVX2/FMA, and AVX-512 (F/BW/VL) with VNNI; DT_QDOT_ISA=portable,
 * avx2 or avx512 in the environment lowers the level (never raises it). Every level gives the
 * same bits for the quantized types: the integer sums of a block are exact and the float
 * combination of the per-block sums (products, order) is the same everywhere, and a row's
 * result does not depend on how many activations dt_qdot_matvec dots it with. F32/F16/BF16
 * rows are the exception: their SIMD kernels sum in other orders and with fused
 * multiply-adds, within f32 rounding of each other (about 1e-6 of sum |w x|).
 *
 * Contract:
 *   - n (elements per row) is a multiple of dt_ggml_block_elems(wtype) and of 32 (256 for the
 *     types whose activation kind is DT_QDOT_ACT_Q8K; any n for F32/F16/BF16); rows are the
 *     raw bytes of the tensor and may be unaligned; activations are caller storage of
 *     dt_qdot_act_bytes() bytes.
 *   - One quantized activation serves every matrix whose weight type has the same
 *     dt_qdot_act_kind(): quantize once per kind and per token.
 *   - Tolerance: the only error beyond f32 rounding is the activation's 8-bit rounding,
 *     |x_i - x~_i| <= amax(block of x_i) / 254, so |dot - dot_f32(dequant(row), x)| <=
 *     sum_blocks amax_b(x) / 254 * sum_{i in b} |w_i| + f32 accumulation error.
 *   - No I/O, no allocation, cannot fail once dt_qdot_supported(wtype) is 1.
 * For internal use by infer/ (forward.c's generation path).
 */
#ifndef DT_INFER_QUANT_DOT_H
#define DT_INFER_QUANT_DOT_H

#include <stddef.h>
#include <stdint.h>

enum dt_qdot_act {
    DT_QDOT_ACT_NONE = 0, /* weight type without a kernel */
    DT_QDOT_ACT_F32,      /* F32, F16, BF16 rows: the activation stays f32 */
    DT_QDOT_ACT_Q8_32,    /* 32-element blocks: f32 scale d, f32 d*sum(q), int8 q[32] */
    DT_QDOT_ACT_Q8K,      /* 256-element blocks (ggml's block_q8_K): f32 d, int8 q[256],
                             int16 sums of each 16 q */
};

/* Which activation format rows of wtype are dotted with (DT_QDOT_ACT_NONE: unsupported). */
enum dt_qdot_act dt_qdot_act_kind(uint32_t wtype);
/* 1 when wtype has a quantized dot kernel. */
int dt_qdot_supported(uint32_t wtype);
/* Bytes of a quantized activation of n elements for wtype's kind; 0 when unsupported or n is
 * not a multiple of the kind's block. */
size_t dt_qdot_act_bytes(uint32_t wtype, int64_t n);
/* Quantizes x[0..n) into qx (dt_qdot_act_bytes(wtype, n) bytes, any alignment) in the kind's
 * format. Returns 0, or -1 when unsupported / n does not fit the block. */
int dt_qdot_quantize_act(uint32_t wtype, const float *x, void *qx, int64_t n);

/* r[i] = x[i] - (the value qx, quantized from x by dt_qdot_quantize_act, holds for it): the
 * activation's rounding error (0 for the f32 kind). Quantizing r as a second activation and
 * adding the two products (dt_qdot(row, qx) + dt_qdot(row, qr)) leaves an error 127 times
 * smaller than the bound above (|r - r~| <= amax(block of r) / 254 <= amax(block of x) /
 * 254^2), for twice the integer work: the way to logits within 1e-3 of an f32 reference
 * when the 8-bit bound is too coarse. */
void dt_qdot_act_residual(uint32_t wtype, const float *x, const void *qx, int64_t n, float *r);

/* Dot product of one stored row of wtype (n elements) with an activation quantized for it. */
float dt_qdot(uint32_t wtype, const void *row, const void *qx, int64_t n);

/* y[v * y_stride + r] = dt_qdot(wtype, w + r * row_bytes, qx + v * qx_stride, n) for
 * r in [0, n_rows) and v in [0, n_vec) (up to float summation order for F32/F16/BF16):
 * each weight row is read once for all n_vec activations (batched generation, prompt
 * processing); each weight block is decoded once per tile of activations (up to 4 with AVX2,
 * 8 with AVX-512 VNNI). Any n_vec >= 0. qx_stride >=
 * dt_qdot_act_bytes(wtype, n). Callers thread by splitting the rows. */
void dt_qdot_matvec(uint32_t wtype, const void *w, size_t row_bytes, int64_t n_rows, int64_t n,
                    const void *qx, size_t qx_stride, int n_vec, float *y, size_t y_stride);

enum dt_qdot_isa {
    DT_QDOT_ISA_PORTABLE = 0,
    DT_QDOT_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    DT_QDOT_ISA_AVX512 = 2, /* and AVX-512 F, BW, VL, VNNI */
};
/* The highest level this CPU runs (after DT_QDOT_ISA). */
int dt_qdot_isa_max(void);
/* The level in use: dt_qdot_isa_max(), or lower after dt_qdot_set_isa. */
int dt_qdot_isa(void);
/* Test seam: every later call (process-wide) uses at most level; returns the level now in
 * use. */
int dt_qdot_set_isa(int level);
/* "portable", "avx2", "avx512". */
const char *dt_qdot_isa_name(int level);
/* Test seam kept for callers: on != 0 is dt_qdot_set_isa(DT_QDOT_ISA_PORTABLE), 0 restores
 * the highest level. */
void dt_qdot_force_portable(int on);

#endif

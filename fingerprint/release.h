/*
 * Release fingerprints: register a model once, later check that a release artifact (a copy,
 * a re-encoding, a quantization) is that model.
 *
 * A fingerprint holds, per weight tensor, its name, type, shape, the XXH64 of its raw bytes
 * and a seeded sample of its dequantized values (up to DT_FP_SAMPLE_ROWS rows, one window of
 * up to DT_FP_SAMPLE_COLS block-aligned columns each); the tokenizer hash; and a behavioural
 * sketch: the model's top-DT_FP_TOP_K next-token log-probabilities at the last DT_FP_N_POS
 * positions of DT_FP_N_PROBES fixed probes (the first probes of the built-in `continuation`
 * corpus, token ids stored). Sizes: about 4 KiB per tensor plus a few KiB.
 *
 * Verification accepts when the tokenizer hash is equal, every tensor is present with its
 * shape, each tensor is byte-identical or within the error of re-encoding the registered
 * values in the artifact's tensor type, and the behavioural sketch agrees within a tolerance
 * derived from those re-encoding errors.
 */
#ifndef DT_FINGERPRINT_RELEASE_H
#define DT_FINGERPRINT_RELEASE_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_ctx;

#define DT_FP_SAMPLE_ROWS 4
#define DT_FP_SAMPLE_COLS 256
#define DT_FP_N_PROBES 8
#define DT_FP_PROBE_TOKENS 24
#define DT_FP_N_POS 4
#define DT_FP_TOP_K 8

struct dt_fp_tensor {
    char *name;
    uint32_t type; /* enum dt_ggml_type */
    int64_t rows, cols;
    uint64_t xxh64; /* of the raw bytes, seed 0 */
    int n_rows;     /* sampled rows (0: type not dequantizable, hash only) */
    int64_t row_idx[DT_FP_SAMPLE_ROWS];
    int64_t col0, n_cols; /* the column window, block-aligned */
    float *sample;        /* n_rows * n_cols dequantized values */
};

struct dt_fingerprint {
    char *tokenizer_hash; /* NULL unknown */
    char *arch;
    int64_t n_params;
    size_t n_tensors;
    struct dt_fp_tensor *tensors;
    size_t n_seqs;
    int32_t *tokens;  /* n_seqs * DT_FP_PROBE_TOKENS, -1 padded */
    size_t *lens;     /* tokens per sequence */
    float *top_lp;    /* n_seqs * DT_FP_N_POS * DT_FP_TOP_K log-probabilities */
    int32_t *top_ids; /* same shape */
};

/* Computes the fingerprint of an open model, on a context of it (scores DT_FP_N_PROBES short
 * probes). */
int dt_fingerprint_compute(struct dt_ctx *x, struct dt_fingerprint **out, struct dt_error *err);
void dt_fingerprint_free(struct dt_fingerprint *fp);

/* Serialises to compact JSON (heap, dt_free); samples are base64 little-endian f32. */
int dt_fingerprint_to_json(const struct dt_fingerprint *fp, char **out, struct dt_error *err);
int dt_fingerprint_from_json(const char *json, size_t n_bytes, struct dt_fingerprint **out,
                             struct dt_error *err);

struct dt_fingerprint_match {
    int same;         /* the artifact is the registered model */
    char reason[512]; /* one line: why (not) */
    size_t n_tensors, n_identical, n_within_tol;
    double max_rel_err;                           /* largest relative error of a tensor sample */
    double max_err_ratio;                         /* largest relative error / its tolerance */
    double behaviour_mean_abs, behaviour_max_abs; /* log-prob differences (nats) */
    double behaviour_tol;                         /* allowed mean difference */
    double top1_agree;                            /* share of positions with the same top-1 */
};

/* Checks a model against a fingerprint. Returns 0 when the check ran (out->same says the
 * answer), a DT_E* code when it could not run. */
int dt_fingerprint_verify(const struct dt_fingerprint *fp, struct dt_ctx *x,
                          struct dt_fingerprint_match *out, struct dt_error *err);

#endif

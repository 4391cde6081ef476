/*
 * Weight comparison: aligned-tensor similarity between the teacher and a model with weights.
 *
 * Tensors are aligned by their canonical (GGUF) names and shapes. For every aligned matrix the
 * rows are dequantized and streamed once to accumulate the Pearson correlation, the relative
 * error ||X - T|| / ||T|| and, where the two tensor types differ, the error that
 * re-encoding each side in the other's type causes by itself (the quantization tolerance;
 * every type dt_ggml_type_supported accepts can be re-encoded). Byte comparison counts exactly reused tensors. Q/K rows of a Hugging Face
 * llama checkpoint are permuted to GGUF's adjacent-pair RoPE layout before comparing with a
 * GGUF llama file.
 */
#ifndef DT_FINGERPRINT_WEIGHTS_H
#define DT_FINGERPRINT_WEIGHTS_H

#include <stddef.h>

struct dt_model;
struct dt_error;
struct dt_measurement;

struct dt_weights_pair {
    size_t n_teacher;      /* teacher tensors of a supported type */
    size_t n_aligned;      /* of those, present in the other model with the same shape */
    size_t n_matrices;     /* aligned tensors with >= 2 rows and columns (used for correlation) */
    size_t n_identical;    /* aligned tensors with byte-identical data and type */
    size_t n_within_tol;   /* aligned tensors within the re-encoding tolerance */
    double median_r;       /* median Pearson correlation over aligned matrices */
    double min_r;
    double median_z;       /* median Fisher z * sqrt(n - 3) over aligned matrices */
    double max_rel_err;    /* largest relative error */
    double max_err_ratio;  /* largest relative error / tolerance */
};

/* Compares one model against the teacher. */
int dt_weights_compare(const struct dt_model *teacher, const struct dt_model *other,
                       struct dt_weights_pair *out, struct dt_error *err);

/*
 * The "weights" signal: the suspect against the teacher, with each control's figures for
 * context. Test: under H0 (independently trained weights, hidden units in arbitrary order)
 * each matrix's Fisher z is standard normal; the statistic is the median z, referred to the
 * normal distribution of the median of n_aligned independent standard normals.
 */
int dt_signal_weights_run(const struct dt_model *teacher, const struct dt_model *suspect,
                          const struct dt_model *const *controls, size_t n_controls,
                          struct dt_measurement *out, struct dt_error *err);

#endif

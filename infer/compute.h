/*
 * Running a model: compute contexts, batched teacher-forced scoring, and incremental decoding
 * (sessions, and batches of sequences decoded together), implemented by infer/forward.c.
 */
#ifndef DT_INFER_COMPUTE_H
#define DT_INFER_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_model;

/*
 * A compute context: what running a model needs beside its weights (the RoPE tables, grown on
 * demand; scoring workspaces kept between calls; the thread pool of generation and of large
 * models' prompt processing). The model is immutable after dt_model_open and may serve any
 * number of contexts, from any threads; a context, and every session and batch made from it,
 * is used by one caller at a time, and must outlive them. n_threads <= 0: the default
 * (DT_MODEL_DEFAULT_THREADS); at most 64. Scoring results are identical for any thread count
 * for models with the f32 copy and for DT_SCORING_Q8's products; the exact path of a larger
 * model splits each sgemm by thread, which moves logits by f32 rounding (about 1e-6). Session
 * results are identical for a given count.
 */
struct dt_ctx;
int dt_ctx_new(const struct dt_model *m, int n_threads, struct dt_ctx **out, struct dt_error *err);
void dt_ctx_free(struct dt_ctx *x);
const struct dt_model *dt_ctx_model(const struct dt_ctx *x); /* borrowed */
int dt_ctx_n_threads(const struct dt_ctx *x);

/*
 * Batched teacher-forced scoring. For each sequence s (tokens seqs[s][0..lens[s]-1]) the
 * model runs once over all positions (sgemm over every position of many sequences), and for
 * every position p calls cb(ud, s, p, logits) with the n_vocab next-token logits after
 * token p. The logits pointer is valid only during the call.
 * Sequences longer than the model context are an error (DT_EINVAL).
 */
typedef int (*dt_logits_cb)(void *ud, size_t i_seq, size_t i_pos, const float *logits);
int dt_ctx_score_batch(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                       size_t n_seqs, dt_logits_cb cb, void *ud, struct dt_error *err);

/* As dt_ctx_score_batch; with DT_SCORE_LAST_ONLY only the last position of each non-empty
 * sequence gets logits and a callback (prompt processing, as llama.cpp's pp benchmark). With
 * several threads the callbacks still come one at a time, in (sequence, position) order, from
 * one of the worker threads; a non-zero return stops the batch and is returned. */
enum { DT_SCORE_LAST_ONLY = 1u };
int dt_ctx_score_batch_flags(struct dt_ctx *x, const int32_t *const *seqs, const size_t *lens,
                             size_t n_seqs, unsigned flags, dt_logits_cb cb, void *ud,
                             struct dt_error *err);

/*
 * The arithmetic of scoring's products with quantized weight matrices. DT_SCORING_EXACT: each
 * block of weight rows is dequantized to f32 and multiplied by the f32 activations (sgemm), so
 * logits are those of the dequantized model up to f32 rounding. DT_SCORING_Q8: the activations
 * are quantized to 8 bits per block and dotted with the stored rows by the integer kernels of
 * generation (quant_dot.h), llama.cpp's arithmetic: each product is the one a session's prompt
 * computes, and differs from the exact one by the activations' 8-bit rounding (logits of a
 * Q4_K/Q8_0 model move by about 1e-2; measured by tests/unit/test_scoring.c). It changes only
 * matrices stored in a type with an integer kernel, and only models without the f32 copy of
 * small models (whose scoring is an sgemm over that copy either way); results stay identical
 * for any thread count. The default is DT_SCORING_EXACT; DT_DECODE_F32_ACT=1 in the
 * environment makes DT_SCORING_Q8 exact too.
 */
enum dt_scoring { DT_SCORING_EXACT = 0, DT_SCORING_Q8 = 1 };
void dt_ctx_set_scoring(struct dt_ctx *x, enum dt_scoring s);
/* 1 when scoring on x takes the Q8 kernels for at least one matrix (the setting is Q8, the
 * model has no f32 copy and some matrix is stored in a quantized type with a kernel). */
int dt_ctx_scoring_quantized(const struct dt_ctx *x);
/* The name of the arithmetic scoring on x takes: "q8" when dt_ctx_scoring_quantized, else
 * "exact" (what compare and bench record). */
const char *dt_ctx_scoring_used(const struct dt_ctx *x);
/* "exact", "q8"; dt_scoring_parse returns 0, or -1 for another name. */
const char *dt_scoring_name(enum dt_scoring s);
int dt_scoring_parse(const char *name, enum dt_scoring *out);

/* Incremental decoding with a KV cache, on a context (n_ctx <= 0: min(n_ctx_train, 4096);
 * clamped to n_ctx_train). */
struct dt_session;
int dt_session_new(struct dt_ctx *x, int n_ctx, struct dt_session **out, struct dt_error *err);
void dt_session_free(struct dt_session *s);
void dt_session_reset(struct dt_session *s);
int dt_session_n_past(const struct dt_session *s);
int dt_session_n_ctx(const struct dt_session *s);
/* Appends n tokens and computes logits of the last one into the session's buffer. Fails with
 * DT_EINVAL when the tokens would not fit in n_ctx or an id is outside [0, n_vocab). */
int dt_session_eval(struct dt_session *s, const int32_t *tokens, size_t n, struct dt_error *err);
/* n_vocab logits after the last evaluated token; borrowed until the next eval. */
const float *dt_session_logits(const struct dt_session *s);

/*
 * Batched incremental decoding: n_slots sequences of one context, each with its own KV cache of
 * n_ctx positions (clamped as for dt_session_new), sharing one workspace. A step feeds one
 * token to each of several slots and reads every weight row once for all of them. A slot's
 * logits are bit-identical to those of a dt_session of the same n_ctx and thread count fed
 * the same tokens (prompt with dt_batch_prefill, then one token per step): every row of a step
 * goes through the same dot kernels as a session's single-token eval.
 */
struct dt_batch;
int dt_batch_new(struct dt_ctx *x, int n_slots, int n_ctx, struct dt_batch **out,
                 struct dt_error *err);
void dt_batch_free(struct dt_batch *b);
int dt_batch_n_slots(const struct dt_batch *b);
int dt_batch_n_ctx(const struct dt_batch *b);
int dt_batch_n_past(const struct dt_batch *b, int slot);
/* Empties slot and evaluates n prompt tokens into it, as dt_session_reset + dt_session_eval. */
int dt_batch_prefill(struct dt_batch *b, int slot, const int32_t *tokens, size_t n,
                     struct dt_error *err);
/* Appends tokens[i] to slot slots[i] (distinct slots) for i < n and computes each one's next-
 * token logits. DT_EINVAL for a bad or repeated slot, a full slot, or an id outside the
 * vocabulary (nothing is changed then). */
int dt_batch_step(struct dt_batch *b, const int *slots, const int32_t *tokens, size_t n,
                  struct dt_error *err);
/* n_vocab logits after slot's last token; borrowed until that slot's next prefill or step. */
const float *dt_batch_logits(const struct dt_batch *b, int slot);

#endif

/*
 * One answer from a local model as a sample: the prompt (wrapped in a chat template for chat
 * probes) is generated from with infer/sampler.h, and every token is recorded with its exact
 * bytes, its log-probability under the unmodified model and its top alternatives — the shape
 * an API's logprobs give, so local answers and imported transcripts are interchangeable.
 * The end-of-generation token is kept as a token (its literal text) but not in the response.
 */
#ifndef DT_CORPUS_GENERATE_H
#define DT_CORPUS_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/sample.h"

struct dt_chat_template;
struct dt_error;
struct dt_batch;
struct dt_model;
struct dt_session;

struct dt_sample_gen_params {
    const char *chat_template; /* "{prompt}" template for chat probes, or NULL */
    int n_predict;             /* tokens at most (cut to what the context holds) */
    int n_top;                 /* alternatives per token (0..64) */
    float temperature;         /* <= 0: greedy */
    int top_k;                 /* <= 0: none */
    float top_p;               /* >= 1: none */
    uint64_t seed;
    const struct dt_chat_template *chat; /* when set, chat probes are rendered by it instead */
};

/* Fills *out (initialised by the caller) with the answer to prompt. DT_EINVAL when the prompt
 * alone does not fit the session's context. *n_generated (optional) counts generated tokens. */
int dt_sample_generate(const struct dt_model *m, struct dt_session *sess, enum dt_probe_kind kind,
                       const char *prompt, const struct dt_sample_gen_params *p, int sample_index,
                       struct dt_sample *out, size_t *n_generated, struct dt_error *err);

/*
 * Batched generation: the answers of many prompts decoded together on a dt_batch (one KV
 * cache per sequence, so each step reads every weight row once for all active sequences).
 * Up to dt_batch_n_slots(b) jobs run at once; when one finishes, its slot takes the next job
 * of the queue. Each job samples with its own seed, and its answer is bit-identical to
 * dt_sample_generate's on a session of the batch's context with the same parameters and seed
 * (p->seed is not used).
 */
/* Slots compare and collect decode at once: past ~8 the dot products, not the weight reads,
 * bound a step on 2 cores (README, speed). */
#define DT_GEN_BATCH_SLOTS 8

struct dt_sample_job {
    enum dt_probe_kind kind;
    const char *prompt;
    uint64_t seed;
    int sample_index;
    struct dt_sample *out; /* initialised by the caller; filled when rc == 0 */
    /* results */
    int rc;                /* 0, or DT_EINVAL: the prompt alone does not fit the context */
    size_t n_prompt;       /* prompt tokens */
    size_t n_generated;
};

/* Answers jobs[0..n_jobs). Returns 0 when every job has its rc (a prompt that does not fit is
 * not an error of the call), or the first other failure. */
int dt_sample_generate_batch(const struct dt_model *m, struct dt_batch *b,
                             const struct dt_sample_gen_params *p, struct dt_sample_job *jobs,
                             size_t n_jobs, struct dt_error *err);

/* The same, calling on_done(ud, job) as each answered job ends (progress; jobs whose prompt
 * does not fit are not reported). on_done must not touch the batch. */
typedef void (*dt_sample_job_done)(void *ud, const struct dt_sample_job *job);
int dt_sample_generate_batch_cb(const struct dt_model *m, struct dt_batch *b,
                                const struct dt_sample_gen_params *p, struct dt_sample_job *jobs,
                                size_t n_jobs, dt_sample_job_done on_done, void *ud,
                                struct dt_error *err);

#endif

/*
 * Unit tests for batched decoding (infer/forward.c's dt_batch) and batched generation
 * (corpus/generate.c's dt_sample_generate_batch), on random tiny llama GGUF files in f16 and
 * q8_0 that the test writes itself, with f32 weight copies and without (the stored type's
 * quantized dot kernels), with 1 and 2 threads (DT_PAR_MIN_ELEMS=0 so even these small
 * products are split across the pool):
 *   - the logits of every slot of a batch, after its prompt and after each step (slots
 *     stepping together, some skipping steps), are bit-identical to a session's fed the same
 *     tokens;
 *   - batched answers (more jobs than slots, so slots are refilled; jobs ending at different
 *     lengths) are bit-identical to dt_sample_generate's with the same seed: text, tokens,
 *     log-probabilities, alternatives and finish reason;
 *   - a prompt that does not fit is that job's DT_EINVAL and the others are still answered;
 *     bad and repeated slots are DT_EINVAL.
 */
#include "corpus/generate.h"
#include "corpus/sample.h"
#include "infer/bench.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_CTX 48

static int same_logits(const float *a, const float *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static void check_steps(struct dt_ctx *x, const char *label)
{
    const struct dt_model *m = dt_ctx_model(x);
    struct dt_error err = {0};
    const int n_vocab = dt_model_config(m)->n_vocab;
    struct dt_batch *b = NULL;
    struct dt_session *s = NULL;
    TAP_OK(dt_batch_new(x, 3, N_CTX, &b, &err) == 0 && dt_session_new(x, N_CTX, &s, &err) == 0,
           "%s: batch of 3 slots and a session (%s)", label, err.msg);
    if (!b || !s) {
        dt_batch_free(b);
        dt_session_free(s);
        return;
    }
    static const int32_t prompts[3][9] = {{11, 200, 37, 5, 90}, {42}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const size_t lens[3] = {5, 1, 9};
    int32_t fed[3][N_CTX];
    size_t n_fed[3];
    int ok_prefill = 1;
    for (int i = 0; i < 3; i++) {
        ok_prefill &= dt_batch_prefill(b, i, prompts[i], lens[i], &err) == 0;
        memcpy(fed[i], prompts[i], lens[i] * sizeof(int32_t));
        n_fed[i] = lens[i];
    }
    TAP_OK(ok_prefill, "%s: prompts prefilled (%s)", label, err.msg);
    /* Six steps; slot 1 sits out steps 2 and 4. */
    int ok_step = 1;
    for (int k = 0; k < 6; k++) {
        int slots[3];
        int32_t toks[3];
        size_t n = 0;
        for (int i = 0; i < 3; i++) {
            if (i == 1 && (k == 2 || k == 4))
                continue;
            slots[n] = i;
            toks[n] = (int32_t)((k * 97 + i * 31 + 3) % n_vocab);
            fed[i][n_fed[i]++] = toks[n];
            n++;
        }
        ok_step &= dt_batch_step(b, slots, toks, n, &err) == 0;
    }
    TAP_OK(ok_step, "%s: six steps (%s)", label, err.msg);
    int identical = 1;
    for (int i = 0; i < 3; i++) {
        dt_session_reset(s);
        /* The session is fed as generation feeds it: the prompt, then one token at a time. */
        dt_session_eval(s, fed[i], lens[i], &err);
        for (size_t t = lens[i]; t < n_fed[i]; t++)
            dt_session_eval(s, &fed[i][t], 1, &err);
        identical &= same_logits(dt_session_logits(s), dt_batch_logits(b, i), n_vocab) &&
                     dt_batch_n_past(b, i) == (int)n_fed[i];
    }
    TAP_OK(identical, "%s: every slot's logits == a session's, bit for bit", label);

    int slots_bad[2] = {0, 0};
    int32_t toks_bad[2] = {1, 2};
    TAP_OK(dt_batch_step(b, slots_bad, toks_bad, 2, &err) == DT_EINVAL, "%s: repeated slot rejected",
           label);
    slots_bad[1] = 3;
    TAP_OK(dt_batch_step(b, slots_bad, toks_bad, 2, &err) == DT_EINVAL,
           "%s: slot outside the batch rejected", label);
    toks_bad[1] = n_vocab;
    slots_bad[1] = 1;
    TAP_OK(dt_batch_step(b, slots_bad, toks_bad, 2, &err) == DT_EINVAL &&
               dt_batch_n_past(b, 0) == (int)n_fed[0],
           "%s: token outside the vocabulary rejected, nothing changed", label);
    dt_batch_free(b);
    dt_session_free(s);
}

static int same_sample(const struct dt_sample *a, const struct dt_sample *b)
{
    if (a->response_bytes != b->response_bytes ||
        memcmp(a->response, b->response, a->response_bytes) || a->n_tokens != b->n_tokens ||
        a->n_alts != b->n_alts || strcmp(a->finish_reason, b->finish_reason) ||
        a->sample_index != b->sample_index)
        return 0;
    for (size_t t = 0; t < a->n_tokens; t++) {
        const struct dt_sample_token *x = &a->tokens[t], *y = &b->tokens[t];
        if (x->logprob != y->logprob || x->n_bytes != y->n_bytes || x->n_alt != y->n_alt ||
            memcmp(a->pool + x->off, b->pool + y->off, x->n_bytes))
            return 0;
    }
    for (size_t k = 0; k < a->n_alts; k++)
        if (a->alts[k].logprob != b->alts[k].logprob)
            return 0;
    return 1;
}

#define N_JOBS 6

static void check_generation(struct dt_ctx *x, const char *label, float temperature)
{
    const struct dt_model *m = dt_ctx_model(x);
    struct dt_error err = {0};
    /* Lengths differ, so with n_predict cut to what the context holds the jobs end at
     * different steps; the last prompt does not fit. */
    static const char *prompts[N_JOBS] = {
        "the cat sat", "a", "once upon a time there was", "xyz", "hello world, again",
        "this prompt is far too long for a context of forty-eight tokens, so it is refused"};
    struct dt_sample_gen_params p = {NULL, 40, 3, temperature, 0, 1.0f, 0, NULL};
    struct dt_sample outs[N_JOBS], refs[N_JOBS];
    struct dt_sample_job jobs[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        dt_sample_init(&outs[i]);
        dt_sample_init(&refs[i]);
        jobs[i] = (struct dt_sample_job){DT_PROBE_TEXT, prompts[i], 1000u + (uint64_t)i, i % 2,
                                         &outs[i], 0, 0, 0};
    }
    struct dt_batch *b = NULL;
    struct dt_session *s = NULL;
    /* 4 slots for 5 fitting jobs: steps of 4 rows (where the dot kernels switch to their
     * multi-vector form) and a refill. */
    int rc = dt_batch_new(x, 4, N_CTX, &b, &err);
    if (!rc)
        rc = dt_sample_generate_batch(m, b, &p, jobs, N_JOBS, &err);
    TAP_OK(rc == 0, "%s T=%.1f: %d jobs on 4 slots (%s)", label, temperature, N_JOBS, err.msg);
    TAP_OK(dt_session_new(x, N_CTX, &s, &err) == 0, "%s: reference session", label);
    int identical = 1, lengths_differ = 0;
    size_t first_len = jobs[0].n_generated;
    for (int i = 0; s && i < N_JOBS - 1; i++) {
        size_t n_gen = 0;
        struct dt_sample_gen_params q = p;
        q.seed = jobs[i].seed;
        int r1 = dt_sample_generate(m, s, DT_PROBE_TEXT, prompts[i], &q, i % 2, &refs[i], &n_gen,
                                    &err);
        identical &= r1 == 0 && jobs[i].rc == 0 && n_gen == jobs[i].n_generated &&
                     same_sample(&refs[i], &outs[i]);
        lengths_differ |= jobs[i].n_generated != first_len;
    }
    TAP_OK(identical, "%s T=%.1f: batched answers == one at a time, bit for bit", label,
           temperature);
    TAP_OK(lengths_differ, "%s T=%.1f: the jobs ended at different lengths", label, temperature);
    TAP_OK(jobs[N_JOBS - 1].rc == DT_EINVAL && jobs[N_JOBS - 1].n_prompt >= N_CTX,
           "%s: a prompt that does not fit is its job's DT_EINVAL", label);
    for (int i = 0; i < N_JOBS; i++) {
        dt_sample_release(&outs[i]);
        dt_sample_release(&refs[i]);
    }
    dt_batch_free(b);
    dt_session_free(s);
}

int main(void)
{
    setenv("DT_PAR_MIN_ELEMS", "0", 1);
    char dir[] = "/tmp/dt_test_batch_XXXXXX";
    if (!mkdtemp(dir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    static const uint32_t types[] = {DT_GGML_F16, DT_GGML_Q8_0};
    for (size_t t = 0; t < 2; t++) {
        char path[256];
        struct dt_error err = {0};
        snprintf(path, sizeof path, "%s/tiny-%s.gguf", dir, dt_ggml_type_name(types[t]));
        TAP_OK(dt_bench_write_synthetic(path, "tiny", types[t], 5, &err) == 0, "write %s (%s)",
               path, err.msg);
        for (int variant = 0; variant < 4; variant++) {
            int threads = 1 + variant % 2, cached = variant < 2;
            struct dt_model *m = NULL;
            struct dt_ctx *x = NULL;
            char label[64];
            /* Uncached: the stored type's quantized dot kernels instead of f32 copies. */
            if (cached)
                unsetenv("DT_F32_CACHE_MB");
            else
                setenv("DT_F32_CACHE_MB", "0", 1);
            snprintf(label, sizeof label, "%s %s, %d thread%s", dt_ggml_type_name(types[t]),
                     cached ? "cached" : "uncached", threads, threads > 1 ? "s" : "");
            if (dt_model_open(path, &m, &err) || dt_ctx_new(m, threads, &x, &err)) {
                TAP_OK(0, "%s: opens (%s)", label, err.msg);
                dt_model_free(m);
                continue;
            }
            check_steps(x, label);
            check_generation(x, label, 0.0f);
            check_generation(x, label, 1.0f);
            dt_ctx_free(x);
            dt_model_free(m);
        }
        unlink(path);
    }
    rmdir(dir);
    return tap_done();
}

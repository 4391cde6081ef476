/*
 * Unit tests for infer/model + forward + sampler on models the test writes itself (random
 * tiny llama GGUF files in f16 and q8_0), so they run without ../shared:
 *   - batched scoring of several sequences == scoring each alone == a KV-cache session fed
 *     one token at a time, position by position (f32 cache path and stored-type dot path);
 *   - invalid token ids, over-long sequences and context overflow are DT_EINVAL;
 *   - greedy generation is the argmax of the session logits, sampling is seeded;
 *   - scoring many sequences with 1 and 2 threads is bit-identical, callbacks come in order,
 *     last-position-only scoring matches, and a failing callback stops the batch;
 *   - two contexts of one model, used from two threads at once, compute what each computes
 *     alone (the model is immutable after dt_model_open).
 * With the zoo present: teacher logits vs refs/teacher.json and its greedy sequences.
 */
#include "infer/arch.h"
#include "infer/bench.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "infer/sampler.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/rng.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SEQ 3
static const size_t k_lens[N_SEQ] = {7, 1, 19};

struct store {
    int n_vocab;
    float *logits[N_SEQ]; /* (len, n_vocab) */
};

static int store_cb(void *ud, size_t s, size_t p, const float *l)
{
    struct store *st = ud;
    memcpy(st->logits[s] + p * (size_t)st->n_vocab, l, (size_t)st->n_vocab * sizeof(float));
    return 0;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        d = e > d ? e : d;
    }
    return d;
}

static void check_model(const char *path, const char *label)
{
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    TAP_OK(dt_model_open(path, &m, &err) == 0 && dt_ctx_new(m, 0, &x, &err) == 0,
           "%s: opens (%s)", label, err.msg);
    if (!x) {
        dt_model_free(m);
        return;
    }
    const struct dt_model_config *c = dt_model_config(m);
    TAP_OK(c->n_layer == 2 && c->dim == 64 && c->n_head == 4 && c->n_head_kv == 2 &&
               c->n_vocab == 512 && !c->rope_half_split && !c->tied_embeddings,
           "%s: config read", label);
    int n_vocab = c->n_vocab;
    struct dt_rng rng;
    dt_rng_seed(&rng, 7);
    int32_t toks[N_SEQ][32];
    const int32_t *seqs[N_SEQ];
    struct store all = {n_vocab, {0}}, one = {n_vocab, {0}};
    for (int s = 0; s < N_SEQ; s++) {
        for (size_t i = 0; i < k_lens[s]; i++)
            toks[s][i] = (int32_t)dt_rng_below(&rng, (uint64_t)n_vocab);
        seqs[s] = toks[s];
        all.logits[s] = dt_malloc_array(k_lens[s] * (size_t)n_vocab, sizeof(float));
        one.logits[s] = dt_malloc_array(k_lens[s] * (size_t)n_vocab, sizeof(float));
    }
    TAP_OK(dt_ctx_score_batch(x, seqs, k_lens, N_SEQ, store_cb, &all, &err) == 0,
           "%s: batch of %d sequences scores", label, N_SEQ);
    double d_batch = 0;
    for (int s = 0; s < N_SEQ; s++) {
        struct store tmp = {n_vocab, {one.logits[s]}};
        dt_ctx_score_batch(x, &seqs[s], &k_lens[s], 1, store_cb, &tmp, &err);
        double d = max_diff(all.logits[s], one.logits[s], k_lens[s] * (size_t)n_vocab);
        d_batch = d > d_batch ? d : d_batch;
    }
    TAP_OK(d_batch < 1e-4, "%s: batch == one at a time (max diff %.2e)", label, d_batch);

    struct dt_session *ses = NULL;
    TAP_OK(dt_session_new(x, 64, &ses, &err) == 0, "%s: session", label);
    double d_sess = 0;
    for (int s = 0; ses && s < N_SEQ; s++) {
        dt_session_reset(ses);
        for (size_t p = 0; p < k_lens[s]; p++) {
            dt_session_eval(ses, &toks[s][p], 1, &err);
            double d = max_diff(dt_session_logits(ses), all.logits[s] + p * (size_t)n_vocab,
                                (size_t)n_vocab);
            d_sess = d > d_sess ? d : d_sess;
        }
    }
    /* One-token steps of an uncached quantized model dot 8-bit-quantized activations
     * (infer/quant_dot.h): each product is off by up to amax(x)/254 * sum|w| per block, a few
     * tenths of a percent of the logits' range; everything else is f32 rounding. */
    double tol = 1e-4;
    if (strstr(label, "q8_0 uncached")) {
        double amax = 0;
        for (size_t i = 0; i < k_lens[0] * (size_t)n_vocab; i++)
            amax = fabs(all.logits[0][i]) > amax ? fabs(all.logits[0][i]) : amax;
        tol = 0.02 * amax;
    }
    TAP_OK(d_sess < tol, "%s: session (token by token) == batch (max diff %.2e, bound %.2e)", label,
           d_sess, tol);
    /* A prompt evaluated in one call gives the same last logits. */
    if (ses) {
        dt_session_reset(ses);
        dt_session_eval(ses, toks[2], k_lens[2], &err);
        double d = max_diff(dt_session_logits(ses), all.logits[2] + (k_lens[2] - 1) * (size_t)n_vocab,
                            (size_t)n_vocab);
        TAP_OK(d < 1e-4 && dt_session_n_past(ses) == (int)k_lens[2],
               "%s: multi-token eval == batch (%.2e)", label, d);
    }

    int32_t bad = n_vocab;
    const int32_t *bs[1] = {&bad};
    size_t bl[1] = {1};
    TAP_OK(dt_ctx_score_batch(x, bs, bl, 1, store_cb, &all, &err) == DT_EINVAL,
           "%s: out-of-vocabulary id rejected (%s)", label, err.msg);
    size_t too_long = (size_t)c->n_ctx_train + 1;
    int32_t *lt = dt_calloc(too_long, sizeof *lt);
    bs[0] = lt;
    bl[0] = too_long;
    TAP_OK(dt_ctx_score_batch(x, bs, bl, 1, store_cb, &all, &err) == DT_EINVAL,
           "%s: sequence longer than the context rejected", label);
    dt_free(lt);
    if (ses) {
        dt_session_reset(ses);
        int32_t many[65] = {0};
        TAP_OK(dt_session_eval(ses, many, 65, &err) == DT_EINVAL, "%s: session overflow rejected",
               label);
    }

    /* Greedy generation follows the session's argmax; sampling is reproducible per seed. */
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = 8;
    gp.stop = DT_STOP_NONE;
    gp.sampler.temperature = 0;
    int32_t gen[2][8];
    size_t n_gen = 0;
    if (ses) {
        TAP_OK(dt_generate(m, ses, toks[0], k_lens[0], &gp, NULL, NULL, &n_gen, &err) == 0 &&
                   n_gen == 8,
               "%s: greedy generation of 8 tokens", label);
        int32_t want = 0;
        for (int v = 1; v < n_vocab; v++)
            if (all.logits[0][(k_lens[0] - 1) * (size_t)n_vocab + (size_t)v] >
                all.logits[0][(k_lens[0] - 1) * (size_t)n_vocab + (size_t)want])
                want = v;
        struct dt_sampler *smp = NULL;
        dt_sampler_new(&gp.sampler, n_vocab, &smp, &err);
        TAP_OK(smp && dt_sampler_sample(smp, all.logits[0] + (k_lens[0] - 1) * (size_t)n_vocab,
                                        NULL, 0) == want,
               "%s: greedy sampler picks the argmax", label);
        dt_sampler_free(smp);
        gp.sampler.temperature = 0.8f;
        gp.sampler.top_k = 50;
        gp.sampler.top_p = 0.9f;
        gp.sampler.seed = 99;
        for (int r = 0; r < 2; r++) {
            struct dt_session *s2 = ses;
            size_t k = 0;
            dt_session_reset(s2);
            dt_session_eval(s2, toks[0], k_lens[0], &err);
            struct dt_sampler *sp = NULL;
            dt_sampler_new(&gp.sampler, n_vocab, &sp, &err);
            for (; k < 8; k++) {
                gen[r][k] = dt_sampler_sample(sp, dt_session_logits(s2), NULL, 0);
                dt_session_eval(s2, &gen[r][k], 1, &err);
            }
            dt_sampler_free(sp);
        }
        TAP_OK(!memcmp(gen[0], gen[1], sizeof gen[0]), "%s: seeded sampling reproducible", label);
    }
    dt_session_free(ses);
    for (int s = 0; s < N_SEQ; s++) {
        dt_free(all.logits[s]);
        dt_free(one.logits[s]);
    }
    dt_ctx_free(x);
    dt_model_free(m);
}

static int teacher_ref(void *ud, size_t s, size_t p, const float *l)
{
    (void)s;
    double *worst = ud;
    const cJSON *r = (const cJSON *)(uintptr_t)worst[1];
    double lse = dt_logsumexp(l, 2048);
    double e = fabs(lse - cJSON_GetArrayItem(cJSON_GetObjectItem(r, "logsumexp"), (int)p)->valuedouble);
    const cJSON *ti = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "top_ids"), (int)p);
    const cJSON *tl = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "top_logits"), (int)p);
    for (int k = 0; k < cJSON_GetArraySize(ti); k++) {
        double e2 = fabs(l[cJSON_GetArrayItem(ti, k)->valueint] - cJSON_GetArrayItem(tl, k)->valuedouble);
        e = e2 > e ? e2 : e;
    }
    worst[0] = e > worst[0] ? e : worst[0];
    return 0;
}

struct collected {
    int32_t ids[64];
    size_t n;
};

static int collect(void *ud, const struct dt_gen_token *tk)
{
    struct collected *c = ud;
    if (c->n < 64)
        c->ids[c->n++] = tk->id;
    return 0;
}

static void check_teacher(void)
{
    char path[1024], refp[1024];
    snprintf(path, sizeof path, "%s/zoo/gguf/teacher.gguf", DT_SHARED_DIR);
    snprintf(refp, sizeof refp, "%s/zoo/refs/teacher.json", DT_SHARED_DIR);
    if (!dt_path_exists(path) || !dt_path_exists(refp)) {
        printf("# zoo absent, skipping the teacher reference check\n");
        return;
    }
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    char *txt = NULL;
    size_t n = 0;
    dt_file_read_all(refp, 1 << 24, &txt, &n, &err);
    cJSON *ref = txt ? cJSON_Parse(txt) : NULL;
    TAP_OK(ref && dt_model_open(path, &m, &err) == 0, "teacher opens (%s)", err.msg);
    struct dt_ctx *x = NULL;
    struct dt_session *s = NULL;
    if (m && dt_ctx_new(m, 0, &x, &err) == 0)
        dt_session_new(x, 0, &s, &err);
    for (int i = 0; m && s && i < cJSON_GetArraySize(ref); i++) {
        const cJSON *r = cJSON_GetArrayItem(ref, i);
        const cJSON *ids = cJSON_GetObjectItem(r, "ids"), *greedy = cJSON_GetObjectItem(r, "greedy");
        size_t len = (size_t)cJSON_GetArraySize(ids);
        int32_t t[64];
        for (size_t k = 0; k < len && k < 64; k++)
            t[k] = cJSON_GetArrayItem(ids, (int)k)->valueint;
        const int32_t *seqs[1] = {t};
        double worst[2] = {0, (double)(uintptr_t)r};
        dt_ctx_score_batch(x, seqs, &len, 1, teacher_ref, worst, &err);
        TAP_OK(worst[0] < 1e-4, "teacher prompt %d: logits within 1e-4 of the f32 reference (%.2e)",
               i, worst[0]);
        struct dt_gen_params gp;
        dt_gen_params_init(&gp);
        gp.sampler.temperature = 0;
        gp.stop = DT_STOP_EOS;
        gp.n_predict = 32;
        size_t n_gen = 0;
        struct collected c = {{0}, 0};
        int ok = dt_generate(m, s, t, len, &gp, collect, &c, &n_gen, &err) == 0 &&
                 (int)n_gen == cJSON_GetArraySize(greedy);
        for (size_t k = 0; ok && k < n_gen; k++)
            ok = c.ids[k] == cJSON_GetArrayItem(greedy, (int)k)->valueint;
        TAP_OK(ok, "teacher prompt %d: greedy sequence of %zu tokens reproduced", i, n_gen);
    }
    dt_session_free(s);
    dt_ctx_free(x);
    dt_model_free(m);
    cJSON_Delete(ref);
    dt_free(txt);
}

/* Many sequences (several chunks, so several workers): all logits kept in one buffer. */
#define N_MANY 24
#define LEN_MANY 60
struct many {
    int n_vocab;
    float *logits;         /* (N_MANY, LEN_MANY, n_vocab) */
    size_t next_seq, next_pos; /* expected callback order */
    int in_order;
    int calls;
    double diff; /* last_cb: largest difference from the stored logits */
};

static int many_cb(void *ud, size_t s, size_t p, const float *l)
{
    struct many *st = ud;
    if (s != st->next_seq || p != st->next_pos)
        st->in_order = 0;
    st->next_seq = p + 1 == LEN_MANY ? s + 1 : s;
    st->next_pos = p + 1 == LEN_MANY ? 0 : p + 1;
    st->calls++;
    memcpy(st->logits + (s * LEN_MANY + p) * (size_t)st->n_vocab, l,
           (size_t)st->n_vocab * sizeof(float));
    return 0;
}

static int last_cb(void *ud, size_t s, size_t p, const float *l)
{
    struct many *st = ud;
    if (p != LEN_MANY - 1 || s != st->next_seq)
        st->in_order = 0;
    st->next_seq = s + 1;
    st->calls++;
    /* Compare with the all-positions logits stored in the same buffer (the output product
     * runs over other rows, so OpenBLAS may round differently). */
    double d = max_diff(st->logits + (s * LEN_MANY + p) * (size_t)st->n_vocab, l,
                        (size_t)st->n_vocab);
    st->diff = d > st->diff ? d : st->diff;
    return 0;
}

static int stop_cb(void *ud, size_t s, size_t p, const float *l)
{
    (void)l;
    int *calls = ud;
    ++*calls;
    return s == 13 && p == 5 ? DT_EINVAL : 0;
}

/* Scoring with 1 and 2 threads gives bit-identical logits, callbacks in order, one at a time;
 * DT_SCORE_LAST_ONLY gives the same last-position logits; a failing callback stops the batch. */
static void check_threads(const char *path)
{
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    if (dt_model_open(path, &m, &err)) {
        TAP_OK(0, "threads: opens (%s)", err.msg);
        return;
    }
    int n_vocab = dt_model_config(m)->n_vocab;
    static int32_t toks[N_MANY][LEN_MANY];
    const int32_t *seqs[N_MANY];
    size_t lens[N_MANY];
    struct dt_rng rng;
    dt_rng_seed(&rng, 11);
    for (int s = 0; s < N_MANY; s++) {
        for (int i = 0; i < LEN_MANY; i++)
            toks[s][i] = (int32_t)dt_rng_below(&rng, (uint64_t)n_vocab);
        seqs[s] = toks[s];
        lens[s] = LEN_MANY;
    }
    size_t n = (size_t)N_MANY * LEN_MANY * (size_t)n_vocab;
    struct many a = {n_vocab, dt_malloc_array(n, sizeof(float)), 0, 0, 1, 0, 0};
    struct many b = {n_vocab, dt_malloc_array(n, sizeof(float)), 0, 0, 1, 0, 0};
    /* Two contexts of one model. */
    struct dt_ctx *x1 = NULL, *x2 = NULL;
    if (dt_ctx_new(m, 1, &x1, &err) || dt_ctx_new(m, 2, &x2, &err)) {
        TAP_OK(0, "threads: contexts (%s)", err.msg);
        dt_ctx_free(x1);
        dt_model_free(m);
        return;
    }
    int rc1 = dt_ctx_score_batch(x1, seqs, lens, N_MANY, many_cb, &a, &err);
    int rc2 = dt_ctx_score_batch(x2, seqs, lens, N_MANY, many_cb, &b, &err);
    TAP_OK(rc1 == 0 && rc2 == 0 && a.calls == N_MANY * LEN_MANY && b.calls == a.calls,
           "threads: %d sequences x %d scored with 1 and 2 threads", N_MANY, LEN_MANY);
    TAP_OK(a.in_order && b.in_order, "threads: callbacks in (sequence, position) order");
    TAP_OK(a.logits && b.logits && memcmp(a.logits, b.logits, n * sizeof(float)) == 0,
           "threads: 1 and 2 threads give bit-identical logits");
    struct many l = {n_vocab, b.logits, 0, 0, 1, 0, 0};
    rc2 = b.logits ? dt_ctx_score_batch_flags(x2, seqs, lens, N_MANY, DT_SCORE_LAST_ONLY,
                                              last_cb, &l, &err)
                   : DT_ENOMEM;
    TAP_OK(rc2 == 0 && l.calls == N_MANY && l.in_order && l.diff < 1e-5,
           "threads: last-position-only scoring: same last logits (%.2e), in order", l.diff);
    int calls = 0;
    rc2 = dt_ctx_score_batch(x2, seqs, lens, N_MANY, stop_cb, &calls, &err);
    TAP_OK(rc2 == DT_EINVAL && calls == 13 * LEN_MANY + 6,
           "threads: a failing callback stops the batch and its status is returned (%d calls)",
           calls);
    dt_free(a.logits);
    dt_free(b.logits);
    dt_ctx_free(x1);
    dt_ctx_free(x2);
    dt_model_free(m);
}

/*
 * One model, several contexts at once: two threads, each with its own context (1 and 2
 * threads), score N_MANY sequences and decode one token at a time with a session, three rounds
 * each, all concurrently. Every logit equals what a context of the same thread count computes
 * alone: the model is shared read-only and nothing of one context leaks into the other.
 */
#define SHARED_STEPS 40
struct shared_job {
    const struct dt_model *m;
    int n_threads;
    const int32_t *const *seqs;
    const size_t *lens;
    float *score;           /* (N_MANY, LEN_MANY, n_vocab) */
    float *steps;           /* (SHARED_STEPS, n_vocab): session logits after each token */
    int rc;
};

static int shared_run(struct shared_job *j)
{
    int n_vocab = dt_model_config(j->m)->n_vocab;
    struct dt_ctx *x = NULL;
    struct dt_session *s = NULL;
    struct many st = {n_vocab, j->score, 0, 0, 1, 0, 0};
    int rc = dt_ctx_new(j->m, j->n_threads, &x, NULL);
    if (!rc)
        rc = dt_ctx_score_batch(x, j->seqs, j->lens, N_MANY, many_cb, &st, NULL);
    if (!rc)
        rc = dt_session_new(x, SHARED_STEPS, &s, NULL);
    for (int i = 0; !rc && i < SHARED_STEPS; i++) {
        rc = dt_session_eval(s, &j->seqs[0][i], 1, NULL);
        if (!rc)
            memcpy(j->steps + (size_t)i * (size_t)n_vocab, dt_session_logits(s),
                   (size_t)n_vocab * sizeof(float));
    }
    dt_session_free(s);
    dt_ctx_free(x);
    return rc;
}

static void *shared_main(void *arg)
{
    struct shared_job *j = arg;
    for (int round = 0; round < 3 && !j->rc; round++)
        j->rc = shared_run(j);
    return NULL;
}

static void check_shared(const char *path, const char *label)
{
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    if (dt_model_open(path, &m, &err)) {
        TAP_OK(0, "%s shared: opens (%s)", label, err.msg);
        return;
    }
    int n_vocab = dt_model_config(m)->n_vocab;
    static int32_t toks[N_MANY][LEN_MANY];
    const int32_t *seqs[N_MANY];
    size_t lens[N_MANY];
    struct dt_rng rng;
    dt_rng_seed(&rng, 23);
    for (int s = 0; s < N_MANY; s++) {
        for (int i = 0; i < LEN_MANY; i++)
            toks[s][i] = (int32_t)dt_rng_below(&rng, (uint64_t)n_vocab);
        seqs[s] = toks[s];
        lens[s] = LEN_MANY;
    }
    size_t n_score = (size_t)N_MANY * LEN_MANY * (size_t)n_vocab;
    size_t n_steps = (size_t)SHARED_STEPS * (size_t)n_vocab;
    struct shared_job ref[2], con[2];
    int alloc_ok = 1;
    for (int k = 0; k < 2; k++) {
        ref[k] = (struct shared_job){m, k + 1, seqs, lens, dt_malloc_array(n_score, sizeof(float)),
                                     dt_malloc_array(n_steps, sizeof(float)), 0};
        con[k] = ref[k];
        con[k].score = dt_malloc_array(n_score, sizeof(float));
        con[k].steps = dt_malloc_array(n_steps, sizeof(float));
        alloc_ok &= ref[k].score && ref[k].steps && con[k].score && con[k].steps;
    }
    int rc_ref = alloc_ok ? shared_run(&ref[0]) || shared_run(&ref[1]) : -1;
    pthread_t tid[2];
    int started = 0;
    for (int k = 0; alloc_ok && k < 2; k++)
        started += pthread_create(&tid[k], NULL, shared_main, &con[k]) == 0;
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    TAP_OK(rc_ref == 0 && started == 2 && con[0].rc == 0 && con[1].rc == 0,
           "%s shared: two contexts of one model score and decode concurrently", label);
    for (int k = 0; k < 2; k++) {
        int same = started == 2 && rc_ref == 0 &&
                   !memcmp(ref[k].score, con[k].score, n_score * sizeof(float)) &&
                   !memcmp(ref[k].steps, con[k].steps, n_steps * sizeof(float));
        TAP_OK(same, "%s shared: %d-thread context's logits bit-identical to its run alone", label,
               k + 1);
        dt_free(ref[k].score);
        dt_free(ref[k].steps);
        dt_free(con[k].score);
        dt_free(con[k].steps);
    }
    dt_model_free(m);
}

/* The architecture table is self-consistent: names unique and found, key and tensor names
 * round-trip, every row's tensors are known, required ones are accepted. */
static void check_arch_table(void)
{
    int n = 0, ok_find = 1, ok_unique = 1, ok_tensors = 1, ok_hf = 1;
    for (const struct dt_arch *a; (a = dt_arch_at(n)); n++) {
        ok_find &= dt_arch_find(a->name) == a;
        for (int j = 0; j < n; j++)
            ok_unique &= strcmp(dt_arch_at(j)->name, a->name) != 0;
        ok_tensors &= ((a->required | a->optional) >> DT_BT_COUNT) == 0 &&
                      (a->required & a->optional) == 0 && a->required != 0;
        for (const char *const *t = a->hf_types; t && *t; t++)
            ok_hf &= dt_arch_find_hf(*t) == a;
    }
    TAP_OK(n >= 11 && ok_find && ok_unique, "arch table: %d rows, names unique and found", n);
    TAP_OK(ok_tensors, "arch table: every row's tensors are known, required and optional disjoint");
    TAP_OK(ok_hf, "arch table: every HF model_type maps back to its row");
    int keys = 1, tensors = 1;
    for (int k = 0; k < DT_K_COUNT; k++)
        keys &= dt_arch_key_find(dt_arch_key_suffix((enum dt_key)k)) == k;
    for (int t = 0; t < DT_BT_COUNT; t++)
        tensors &= dt_arch_bt_find(dt_arch_bt_name((enum dt_bt)t)) == t;
    TAP_OK(keys && tensors && dt_arch_key_find("frobnicate") < 0 && dt_arch_bt_find("x") < 0,
           "arch table: key and tensor names round-trip, unknown ones are not found");
    TAP_OK(!dt_arch_find("deepseek2") && !dt_arch_find_hf("deepseek_v3") &&
               dt_arch_find_hf("mixtral") == dt_arch_find("llama") &&
               strstr(dt_arch_names(), "gemma3") != NULL,
           "arch table: deepseek2 is not a row, HF mixtral maps to llama; the name list has gemma3");
}

int main(void)
{
    check_arch_table();
    char dir[] = "/tmp/dt_test_model_XXXXXX";
    if (!mkdtemp(dir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    char f16[256], q8[256];
    snprintf(f16, sizeof f16, "%s/tiny-f16.gguf", dir);
    snprintf(q8, sizeof q8, "%s/tiny-q8_0.gguf", dir);
    struct dt_error err = {0};
    TAP_OK(dt_bench_write_synthetic(f16, "tiny", DT_GGML_F16, 1, &err) == 0, "write tiny f16 (%s)",
           err.msg);
    TAP_OK(dt_bench_write_synthetic(q8, "tiny", DT_GGML_Q8_0, 1, &err) == 0, "write tiny q8_0 (%s)",
           err.msg);
    check_model(f16, "f16 cached");
    check_model(q8, "q8_0 cached");
    check_threads(f16);
    check_shared(f16, "f16 cached");
    setenv("DT_F32_CACHE_MB", "0", 1); /* force dequantize-per-block and dt_ggml_dot paths */
    check_model(f16, "f16 uncached");
    check_model(q8, "q8_0 uncached");
    check_shared(q8, "q8_0 uncached");
    unsetenv("DT_F32_CACHE_MB");
    unlink(f16);
    unlink(q8);
    rmdir(dir);
    check_teacher();
    return tap_done();
}

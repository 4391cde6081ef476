/*
 * Unit tests of the xxh64-kgw watermark: the spec's test vectors, bitmaps and the cache
 * against the scalar definition, the logits processor, detection counts with distinct-pair
 * deduplication on synthetic sequences, and the green mass.
 */
#include "detect/watermark.h"
#include "reports/wm_json.h"
#include "fingerprint/watermark.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"

#include <stdint.h>
#include <string.h>

#define KEY 15485863ull

static void test_vectors(void)
{
    TAP_OK(dt_wm_prev_seed(KEY, 0) == 17450878526860349079ull, "XXH64(le32(0), seed=key)");
    static const struct {
        uint32_t prev;
        size_t n_green;
        uint32_t first[6];
    } v[] = {
        {0, 494, {0, 8, 9, 12, 14, 15}},
        {1, 509, {4, 5, 9, 12, 15, 19}},
        {2, 511, {3, 12, 14, 18, 19, 20}},
    };
    uint64_t bits[32];
    for (size_t i = 0; i < 3; i++) {
        size_t n = dt_wm_green_bitmap(KEY, dt_wm_threshold(0.25), v[i].prev, 2048, bits);
        TAP_OK(n == v[i].n_green, "prev=%u: %zu of 2048 green (want %zu)", v[i].prev, n,
               v[i].n_green);
        uint32_t first[6];
        size_t k = 0;
        for (uint32_t t = 0; t < 2048 && k < 6; t++)
            if (dt_wm_is_green(KEY, 0.25, v[i].prev, t))
                first[k++] = t;
        TAP_OK(k == 6 && !memcmp(first, v[i].first, sizeof first), "prev=%u: first six green",
               v[i].prev);
        size_t agree = 0;
        for (uint32_t t = 0; t < 2048; t++)
            agree += dt_wm_bit(bits, t) == dt_wm_is_green(KEY, 0.25, v[i].prev, t);
        TAP_OK(agree == 2048, "prev=%u: bitmap agrees with the scalar test", v[i].prev);
    }
    TAP_OK(dt_wm_threshold(0.25) == 1073741824u, "threshold(0.25) = 2^30");
    TAP_NEAR(dt_wm_gamma_exact(0.25), 0.25, 0.0, "gamma_exact(0.25) = 0.25");
}

static void test_params(void)
{
    struct dt_error err = {0};
    struct dt_wm_params p = {KEY, 0.0, 2.0};
    TAP_OK(dt_wm_params_check(&p, &err) == DT_EINVAL && strstr(err.msg, "gamma"),
           "gamma 0 rejected: %s", err.msg);
    p.gamma = 0.25;
    p.delta = -1;
    TAP_OK(dt_wm_params_check(&p, &err) == DT_EINVAL && strstr(err.msg, "delta"),
           "negative delta rejected");
    p.delta = 2.0;
    TAP_OK(dt_wm_params_check(&p, &err) == 0, "zoo parameters accepted");
}

static void test_cache_and_processor(void)
{
    struct dt_wm_params p = {KEY, 0.25, 2.0};
    struct dt_wm_greenlists *g = NULL;
    struct dt_error err = {0};
    TAP_OK(dt_wm_greenlists_new(&p, 3000, &g, &err) == 0, "green-list cache");
    size_t bad = 0;
    for (uint32_t prev = 0; prev < 3000; prev += 7) {
        const uint64_t *b = dt_wm_greenlists_get(g, prev);
        for (uint32_t t = 0; t < 3000; t += 13)
            bad += dt_wm_bit(b, t) != dt_wm_is_green(KEY, 0.25, prev, t);
    }
    TAP_OK(bad == 0, "cached bitmaps agree with the scalar test");

    float logits[3000];
    for (int t = 0; t < 3000; t++)
        logits[t] = (float)t * 0.001f;
    int32_t ctx[2] = {5, 42};
    dt_wm_logits_processor(g, ctx, 2, logits, 3000);
    size_t wrong = 0;
    for (int t = 0; t < 3000; t++) {
        float want = (float)t * 0.001f + (dt_wm_is_green(KEY, 0.25, 42, (uint32_t)t) ? 2.0f : 0.0f);
        wrong += logits[t] != want;
    }
    TAP_OK(wrong == 0, "processor adds delta to the green list of the last token");
    float before = logits[7];
    dt_wm_logits_processor(g, ctx, 0, logits, 3000);
    TAP_OK(logits[7] == before, "empty context: no bias");
    dt_wm_greenlists_free(g);
}

static void test_detection(void)
{
    struct dt_wm_params p = {KEY, 0.25, 2.0};
    struct dt_wm_detector *d = NULL;
    struct dt_error err = {0};
    struct dt_wm_counts c, pool;
    TAP_OK(dt_wm_detector_new(&p, &d, &err) == 0, "detector");

    /* a watermarked sequence: each next token drawn from prev's green list */
    struct dt_rng r;
    dt_rng_seed(&r, 1);
    int32_t wm[400];
    wm[0] = 17;
    for (int i = 1; i < 400; i++) {
        uint32_t t;
        do
            t = (uint32_t)dt_rng_below(&r, 2048);
        while (!dt_wm_is_green(KEY, 0.25, (uint32_t)wm[i - 1], t));
        wm[i] = (int32_t)t;
    }
    TAP_OK(dt_wm_detector_add(d, wm, 400, &c, &err) == 0, "add watermarked text");
    TAP_OK(c.n_tokens == 400 && c.n_pairs == 399 && c.n_scored == c.n_green && c.n_scored > 390,
           "all %llu distinct pairs green", (unsigned long long)c.n_scored);
    TAP_OK(dt_wm_counts_z(&c, 0.25) > 30, "z = %.2f", dt_wm_counts_z(&c, 0.25));

    /* a repeated pair counts once: 0 1 0 1 0 1 ... has two distinct pairs */
    int32_t rep[100];
    for (int i = 0; i < 100; i++)
        rep[i] = i & 1;
    dt_wm_detector_reset(d);
    TAP_OK(dt_wm_detector_add(d, rep, 100, &c, &err) == 0 && c.n_pairs == 99 && c.n_scored == 2,
           "repeats: 99 pairs, 2 distinct");
    int want = dt_wm_is_green(KEY, 0.25, 0, 1) + dt_wm_is_green(KEY, 0.25, 1, 0);
    TAP_OK(c.n_green == (uint64_t)want, "repeats: green count of the distinct pairs");
    /* the same text again: per text it counts, pooled it does not */
    TAP_OK(dt_wm_detector_add(d, rep, 100, &c, &err) == 0 && c.n_scored == 2, "per-text again 2");
    dt_wm_detector_pooled(d, &pool);
    TAP_OK(pool.n_scored == 2 && pool.n_pairs == 198 && pool.n_tokens == 200,
           "pooled deduplicates across texts");

    /* uniform random text: green fraction near gamma; many short texts exercise the
     * per-text clearing */
    dt_wm_detector_reset(d);
    uint64_t sum_scored = 0;
    int ok = 1;
    for (int k = 0; k < 2000; k++) {
        int32_t s[20];
        for (int i = 0; i < 20; i++)
            s[i] = (int32_t)dt_rng_below(&r, 50000);
        ok &= dt_wm_detector_add(d, s, 20, &c, &err) == 0 && c.n_scored == 19;
        sum_scored += c.n_scored;
    }
    dt_wm_detector_pooled(d, &pool);
    double z = dt_wm_counts_z(&pool, 0.25);
    TAP_OK(ok && pool.n_scored <= sum_scored && pool.n_scored > 37000, "random texts scored");
    TAP_OK(fabs(z) < 4.0, "random text: pooled z = %.2f is null-like", z);

    int32_t neg[3] = {1, -2, 3};
    TAP_OK(dt_wm_detector_add(d, neg, 3, &c, &err) == DT_EINVAL, "negative id rejected: %s",
           err.msg);
    TAP_OK(dt_wm_detector_add(d, neg, 0, &c, &err) == 0 && c.n_scored == 0, "empty text");
    dt_wm_detector_free(d);
}

static void test_alloc_failures(void)
{
    struct dt_wm_params p = {KEY, 0.25, 2.0};
    int32_t s[300];
    for (int i = 0; i < 300; i++)
        s[i] = i * 7;
    int clean = 1;
    for (long n = 0; n < 8; n++) {
        struct dt_wm_detector *d = NULL;
        struct dt_wm_counts c;
        dt_alloc_fail_after(n);
        int rc = dt_wm_detector_new(&p, &d, NULL);
        if (rc == 0)
            rc = dt_wm_detector_add(d, s, 300, &c, NULL);
        dt_alloc_fail_after(-1);
        if (rc != 0 && rc != DT_ENOMEM)
            clean = 0;
        if (d && rc == 0) {
            struct dt_wm_counts pool;
            dt_wm_detector_pooled(d, &pool);
            clean &= pool.n_scored == 299;
        }
        dt_wm_detector_free(d);
    }
    TAP_OK(clean, "allocation failures return DT_ENOMEM (leaks show under -Dsanitize)");
}

static void test_mass(void)
{
    uint64_t bits[32];
    dt_wm_green_bitmap(KEY, dt_wm_threshold(0.25), 0, 2048, bits);
    float logits[2048];
    for (int t = 0; t < 2048; t++)
        logits[t] = 0.0f;
    double s2;
    double m = dt_wm_green_mass(bits, logits, 2048, &s2);
    TAP_NEAR(m, 494.0 / 2048.0, 1e-12, "uniform distribution: mass = green fraction");
    TAP_NEAR(s2, 1.0 / 2048.0, 1e-12, "uniform distribution: sum p^2 = 1/V");
    logits[8] = 100.0f; /* 8 is green for prev 0 */
    m = dt_wm_green_mass(bits, logits, 2048, &s2);
    TAP_NEAR(m, 1.0, 1e-9, "peaked on a green token: mass 1");
    logits[8] = 0.0f;
    logits[1] = 100.0f; /* 1 is red */
    m = dt_wm_green_mass(bits, logits, 2048, NULL);
    TAP_NEAR(m, 0.0, 1e-9, "peaked on a red token: mass 0");

    struct dt_wm_masses ms;
    dt_wm_masses_init(&ms);
    TAP_OK(dt_wm_masses_offer(&ms, 5, 0.3, 0.1) == 1 && dt_wm_masses_offer(&ms, 5, 0.9, 0.1) == 0 &&
               dt_wm_masses_offer(&ms, 100000, 0.2, 0.1) == 1,
           "one context per distinct prev");
    TAP_OK(ms.n == 2 && ms.n_offered == 3 && ms.ctx[0].mass == 0.3 && dt_wm_masses_has(&ms, 100000),
           "first context kept");
    dt_wm_masses_release(&ms);
}

/*
 * The tests' null calibration on synthetic models: random peaked next-token distributions that
 * know nothing of the key, tested under many keys, must give p-values with about the nominal
 * rejection rates; the same distributions with green logits raised by 0.5 must be detected.
 */
static void make_logits(struct dt_rng *r, float *l, size_t n_vocab, double scale)
{
    for (size_t t = 0; t < n_vocab; t++)
        l[t] = (float)(scale * dt_rng_normal(r));
}

static void test_null_calibration(void)
{
    enum { V = 512, N_CTX = 300, N_KEYS = 300 };
    static float logits[N_CTX][V];
    struct dt_rng r;
    dt_rng_seed(&r, 42);
    /* a mix of flat and very peaked contexts, as real models have */
    for (int c = 0; c < N_CTX; c++)
        make_logits(&r, logits[c], V, c % 3 == 0 ? 4.0 : (c % 3 == 1 ? 2.0 : 0.5));
    struct dt_wm_mass_context ctx[N_CTX];
    uint64_t bits[V / 64];
    int rej05 = 0, rej01 = 0, rej05_t = 0, text05 = 0;
    for (int k = 0; k < N_KEYS; k++) {
        uint64_t key = dt_rng_u64(&r);
        for (int c = 0; c < N_CTX; c++) {
            dt_wm_green_bitmap(key, dt_wm_threshold(0.25), (uint32_t)c, V, bits);
            ctx[c].prev = (uint32_t)c;
            ctx[c].mass = dt_wm_green_mass(bits, logits[c], V, &ctx[c].sum_p2);
        }
        struct dt_wm_logit_test lt;
        dt_wm_test_logit(ctx, N_CTX, 0.25, &lt);
        rej05 += lt.p_value < 0.05;
        rej01 += lt.p_value < 0.01;
        rej05_t += lt.p_t < 0.05;
        /* text mode on a random sequence under the same key */
        int32_t seq[200];
        for (int i = 0; i < 200; i++)
            seq[i] = (int32_t)dt_rng_below(&r, V);
        struct dt_wm_params p = {key, 0.25, 0.0};
        struct dt_wm_detector *d = NULL;
        struct dt_wm_counts cnt;
        struct dt_wm_text_test tt;
        dt_wm_detector_new(&p, &d, NULL);
        dt_wm_detector_add(d, seq, 200, &cnt, NULL);
        dt_wm_test_text(&cnt, 0.25, &tt);
        text05 += tt.p_value < 0.05;
        dt_wm_detector_free(d);
    }
    /* binomial(300, 0.05): mean 15, sd 3.8; the exact binomial text test is conservative */
    TAP_OK(rej05 >= 4 && rej05 <= 28, "logit test under the null: %d/%d below 0.05", rej05, N_KEYS);
    TAP_OK(rej01 <= 9, "logit test under the null: %d/%d below 0.01", rej01, N_KEYS);
    TAP_OK(rej05_t >= 4 && rej05_t <= 28, "t check under the null: %d/%d below 0.05", rej05_t,
           N_KEYS);
    TAP_OK(text05 <= 28, "text test under the null: %d/%d below 0.05", text05, N_KEYS);

    /* a "radioactive" model: green logits raised by 0.5 under the true key */
    uint64_t key = 15485863ull;
    for (int c = 0; c < N_CTX; c++) {
        dt_wm_green_bitmap(key, dt_wm_threshold(0.25), (uint32_t)c, V, bits);
        float l[V];
        for (int t = 0; t < V; t++)
            l[t] = logits[c][t] + (dt_wm_bit(bits, (size_t)t) ? 0.5f : 0.0f);
        ctx[c].prev = (uint32_t)c;
        ctx[c].mass = dt_wm_green_mass(bits, l, V, &ctx[c].sum_p2);
    }
    struct dt_wm_logit_test lt;
    dt_wm_test_logit(ctx, N_CTX, 0.25, &lt);
    TAP_OK(lt.p_value < 1e-6 && lt.excess > 0.02, "biased model detected: excess %.3f z %.1f",
           lt.excess, lt.z);

    /* controls: equal masses give no evidence, higher suspect masses do */
    double sus[N_CTX], ctl[N_CTX];
    for (int c = 0; c < N_CTX; c++) {
        ctl[c] = 0.25 + 0.1 * dt_rng_normal(&r);
        sus[c] = ctl[c] + 0.01 * dt_rng_normal(&r);
    }
    const double *cl[1] = {ctl};
    struct dt_wm_control_test ct;
    dt_wm_test_controls(sus, cl, 1, N_CTX, 0.25, &ct);
    TAP_OK(ct.n_pairs == N_CTX && ct.p_value > 0.001, "controls: same masses, p %.3g", ct.p_value);
    for (int c = 0; c < N_CTX; c++)
        sus[c] += 0.05;
    dt_wm_test_controls(sus, cl, 1, N_CTX, 0.25, &ct);
    TAP_OK(ct.p_value < 1e-6, "controls: greener suspect, p %.3g", ct.p_value);

    double ps[3] = {0.01, NAN, 0.2};
    TAP_NEAR(dt_wm_combine(ps, 3), 0.02, 1e-15, "Bonferroni over the applicable p-values");
    double none[1] = {NAN};
    TAP_NEAR(dt_wm_combine(none, 1), 1.0, 0.0, "nothing applicable: p = 1");

    struct dt_wm_counts cc = {100, 99, 80, 60};
    struct dt_wm_text_test tt;
    dt_wm_test_text(&cc, 0.25, &tt);
    TAP_OK(tt.p_value < 1e-15 && tt.z > 8, "text test: 60 of 80 green, z %.2f", tt.z);
    TAP_NEAR(tt.log10_p, log10(tt.p_value), 1e-9, "log10 p agrees with p");
    struct dt_wm_counts huge = {100001, 100000, 100000, 100000};
    dt_wm_test_text(&huge, 0.25, &tt);
    TAP_OK(tt.p_value == 0.0 && tt.log10_p < -60000 && isfinite(tt.log10_p),
           "underflowing p keeps a finite log10 p (%.1f)", tt.log10_p);
}

static void test_radio_report(void)
{
    struct dt_wm_params p = {15485863ull, 0.25, 2.0};
    struct dt_wm_radio_result r;
    memset(&r, 0, sizeof r);
    r.text_applicable = 1;
    r.text.n_scored = 100;
    r.text.n_green = 40;
    r.text.green_fraction = 0.4;
    r.text.z = 3.46;
    r.text.p_value = r.p_text = 0.0006;
    r.logit_note = "the suspect's tokenizer differs from the teacher's";
    r.p_logit = NAN;
    r.p_value = 0.0006;
    struct dt_wm_signal sig;
    dt_wm_radio_signal(&r, &p, &sig);
    TAP_OK(!strcmp(sig.name, "watermark") && sig.p_value == 0.0006 && sig.n == 100 &&
               fabs(sig.effect - 0.15) < 1e-12 && sig.statistic == 3.46,
           "signal summary takes the applicable mode");
    char *js = NULL;
    TAP_OK(dt_wm_radio_json(&r, &p, "s.gguf", &js, NULL) == 0 && strstr(js, "\"p_value\":0.0006") &&
               strstr(js, "\"key\":\"15485863\"") && strstr(js, "\"applicable\":false"),
           "radioactivity JSON: %s", js ? js : "(null)");
    dt_free(js);
}

int main(void)
{
    test_vectors();
    test_params();
    test_cache_and_processor();
    test_detection();
    test_alloc_failures();
    test_mass();
    test_null_calibration();
    test_radio_report();
    return tap_done();
}

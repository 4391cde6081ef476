/*
 * Unit tests for detect/verdict.c: the documented rules on synthetic measurements, the
 * model-level tests, the power rules (underpowered designs, too few or dropped controls) and
 * Holm's adjustment.
 */
#include "detect/verdict.h"
#include "fingerprint/measurement.h"
#include "tests/tap.h"
#include "util/rng.h"

#include <math.h>
#include <string.h>

#define K 3        /* controls */
#define N_PROBES 40

/* A closeness measurement whose suspect column is `margin` above every control on average. */
static void closeness(struct dt_measurement *m, const char *name, double margin, uint64_t seed)
{
    struct dt_rng rng;
    dt_rng_seed(&rng, seed);
    dt_measurement_init(m, name, DT_SIGNAL_CLOSENESS);
    dt_measurement_alloc(m, K, N_PROBES);
    m->test = DT_TEST_PAIRED;
    for (size_t i = 0; i < N_PROBES; i++) {
        double base = dt_rng_normal(&rng);
        m->scores[i * (K + 1)] = base + margin + 0.3 * dt_rng_normal(&rng);
        for (size_t j = 1; j <= K; j++)
            m->scores[i * (K + 1) + j] = base + 0.3 * dt_rng_normal(&rng);
    }
    m->statistic = margin;
}

/* An artifact rate: the suspect s_hits of 80, each control the given hits of 80. */
static void artifact(struct dt_measurement *m, const char *name, uint64_t s_hits, const uint64_t *c_hits)
{
    dt_measurement_init(m, name, DT_SIGNAL_ARTIFACT);
    dt_measurement_alloc(m, K, 0);
    m->test = DT_TEST_RATE;
    m->s_hits = s_hits;
    m->s_n = 80;
    for (size_t j = 0; j < K; j++) {
        m->c_hits[j] = c_hits[j];
        m->c_n[j] = 80;
    }
}

static void weights(struct dt_measurement *m, double z, int same, double suspect_r, double control_r)
{
    dt_measurement_init(m, "weights", DT_SIGNAL_WEIGHTS);
    dt_measurement_alloc(m, K, 0);
    m->test = DT_TEST_NORMAL;
    m->z_given = z;
    snprintf(m->test_given, sizeof m->test_given, "median Fisher z");
    m->same_weights = same;
    m->statistic = suspect_r;
    for (size_t j = 0; j < K; j++)
        m->control_stats[j] = control_r;
}

static enum dt_relation decide(struct dt_measurement *ms, size_t n, size_t k, struct dt_verdict *v)
{
    struct dt_verdict_params p;
    dt_verdict_params_default(&p);
    if (dt_verdict_decide(ms, n, k, &p, v, NULL) != 0)
        return 0;
    return v->relation;
}

static void release(struct dt_measurement *ms, size_t n, struct dt_verdict *v)
{
    for (size_t i = 0; i < n; i++)
        dt_measurement_release(&ms[i]);
    dt_verdict_release(v);
}

int main(void)
{
    struct dt_measurement ms[4];
    struct dt_verdict v;
    const uint64_t none[K] = {0, 0, 0}, one_high[K] = {0, 0, 70};

    /* nothing stands out: independent */
    closeness(&ms[0], "a", 0.0, 1);
    artifact(&ms[1], "identity", 0, none);
    TAP_OK(decide(ms, 2, K, &v) == DT_REL_INDEPENDENT, "no evidence: independent (%s)", v.rationale);
    TAP_OK(!v.signals[0].significant && v.signals[0].tested, "a null closeness signal is tested, not significant");
    release(ms, 2, &v);

    /* closeness alone is never distillation */
    closeness(&ms[0], "a", 1.0, 2);
    artifact(&ms[1], "identity", 0, none);
    TAP_OK(decide(ms, 2, K, &v) == DT_REL_INCONCLUSIVE, "closeness without artifact: inconclusive");
    TAP_OK(v.signals[0].significant, "the closeness signal itself is significant (p %.2g)", v.signals[0].p_adjusted);
    release(ms, 2, &v);

    /* an artifact that no control shows: distilled, resting on it */
    closeness(&ms[0], "a", 0.0, 3);
    artifact(&ms[1], "identity", 60, none);
    TAP_OK(decide(ms, 2, K, &v) == DT_REL_DISTILLED, "artifact beyond every control: distilled");
    TAP_OK(strstr(v.rationale, "identity") != NULL, "the rationale names the artifact");
    TAP_OK(v.p_value == v.signals[1].p_adjusted && v.p_value < 0.01, "verdict p is the artifact's adjusted p (%.2g)", v.p_value);
    release(ms, 2, &v);

    /* one control showing the artifact as often defeats it (between-model variance) */
    artifact(&ms[0], "identity", 60, one_high);
    TAP_OK(decide(ms, 1, K, &v) != DT_REL_DISTILLED, "an artifact a control shows too is not evidence");
    release(ms, 1, &v);

    /* closeness: a suspect tied with one control is not more teacher-like than models vary */
    closeness(&ms[0], "a", 1.0, 4);
    for (size_t i = 0; i < N_PROBES; i++)
        ms[0].scores[i * (K + 1) + 2] = ms[0].scores[i * (K + 1)]; /* control 2 = the suspect's twin */
    TAP_OK(decide(ms, 1, K, &v) == DT_REL_INDEPENDENT, "a control as close as the suspect: not closer");
    release(ms, 1, &v);

    /* weights: re-encoding tolerance decides same-weights, controls decide derivation */
    weights(&ms[0], 3000, 1, 1.0, 0.0);
    TAP_OK(decide(ms, 1, K, &v) == DT_REL_SAME_WEIGHTS, "aligned within re-encoding error: same-weights");
    TAP_OK(v.p_value == 0 && v.log10_p < -1000, "overwhelming evidence keeps its log10 p (%.0f)", v.log10_p);
    release(ms, 1, &v);
    weights(&ms[0], 300, 0, 0.9, 0.0);
    TAP_OK(decide(ms, 1, K, &v) == DT_REL_WEIGHT_DERIVED, "aligned beyond controls, not a copy: weight-derived");
    release(ms, 1, &v);
    weights(&ms[0], 300, 0, 0.9, 0.95);
    TAP_OK(decide(ms, 1, K, &v) == DT_REL_INCONCLUSIVE, "a control as aligned: inconclusive");
    release(ms, 1, &v);
    weights(&ms[0], 0.3, 0, 0.0, 0.0);
    artifact(&ms[1], "identity", 0, none);
    TAP_OK(decide(ms, 2, K, &v) == DT_REL_INDEPENDENT, "unaligned weights: independent");
    release(ms, 2, &v);

    /* Holm: one weak signal among many does not survive adjustment */
    closeness(&ms[0], "a", 0.0, 5);
    closeness(&ms[1], "b", 0.0, 6);
    closeness(&ms[2], "c", 0.0, 7);
    artifact(&ms[3], "habits", 8, none); /* raw p about 0.004 against each control */
    decide(ms, 4, K, &v);
    TAP_OK(v.signals[3].p_adjusted >= v.signals[3].p_value, "Holm never lowers a p-value");
    release(ms, 4, &v);

    /* model level: controls spread 40-50%, the suspect at 62% (100 answers each) */
    struct dt_measurement mr;
    const uint64_t spread[K] = {50, 45, 40};
    artifact(&mr, "identity", 62, spread);
    mr.s_n = 100;
    for (size_t j = 0; j < K; j++)
        mr.c_n[j] = 100;
    TAP_OK(decide(&mr, 1, K, &v) == DT_REL_INDEPENDENT && v.signals[0].p_value > 0.04,
           "62%% against controls at 40-50%%: independent (p %.3f)", v.signals[0].p_value);
    release(&mr, 1, &v);

    /* too few answers: the best case cannot reach alpha -> inconclusive, with the numbers */
    artifact(&mr, "identity", 4, none);
    mr.s_n = 4;
    for (size_t j = 0; j < K; j++)
        mr.c_n[j] = 4;
    TAP_OK(decide(&mr, 1, K, &v) == DT_REL_INCONCLUSIVE && v.underpowered &&
               !strcmp(v.underpowered_signal, "identity"),
           "4 answers each: inconclusive, underpowered (%s)", v.power_note);
    TAP_OK(v.log10_p_floor > -2 && v.answers_needed > 4 && v.controls_needed > K &&
               strstr(v.rationale, "answers") != NULL,
           "the reason gives the floor (%.3g), answers (%llu) and controls (%zu) needed",
           pow(10, v.log10_p_floor), (unsigned long long)v.answers_needed, v.controls_needed);
    release(&mr, 1, &v);
    /* with the answers it asks for, the same all-or-nothing contrast is significant */
    artifact(&mr, "identity", 0, none);
    {
        struct dt_measurement probe;
        artifact(&probe, "identity", 4, none);
        probe.s_n = 4;
        for (size_t j = 0; j < K; j++)
            probe.c_n[j] = 4;
        struct dt_verdict pv;
        decide(&probe, 1, K, &pv);
        uint64_t need = pv.answers_needed;
        release(&probe, 1, &pv);
        mr.s_hits = mr.s_n = need;
        for (size_t j = 0; j < K; j++)
            mr.c_n[j] = need;
        TAP_OK(decide(&mr, 1, K, &v) == DT_REL_DISTILLED && !v.underpowered,
               "and with the %llu answers it asked for the contrast is distilled",
               (unsigned long long)need);
        release(&mr, 1, &v);
    }

    /* one usable control: harder, never easier -> inconclusive */
    artifact(&mr, "identity", 80, none);
    mr.c_n[1] = mr.c_n[2] = 0;
    TAP_OK(decide(&mr, 1, K, &v) == DT_REL_INCONCLUSIVE && v.n_controls_used == 1 &&
               strstr(v.power_note, "2 more") != NULL,
           "one usable control: inconclusive (%s)", v.power_note);
    release(&mr, 1, &v);
    /* a dropped control blocks `independent` */
    struct dt_measurement m4;
    dt_measurement_init(&m4, "identity", DT_SIGNAL_ARTIFACT);
    dt_measurement_alloc(&m4, 4, 0);
    m4.test = DT_TEST_RATE;
    m4.s_n = 80;
    for (size_t j = 0; j < 3; j++)
        m4.c_n[j] = 80;
    TAP_OK(decide(&m4, 1, 4, &v) == DT_REL_INCONCLUSIVE && v.n_controls_dropped == 1,
           "a control without answers was dropped: inconclusive, not independent");
    release(&m4, 1, &v);

    /* no controls: behavioural tests cannot run */
    struct dt_measurement m0;
    dt_measurement_init(&m0, "identity", DT_SIGNAL_ARTIFACT);
    dt_measurement_alloc(&m0, 0, 0);
    m0.test = DT_TEST_RATE;
    m0.s_hits = 80;
    m0.s_n = 80;
    TAP_OK(decide(&m0, 1, 0, &v) == DT_REL_INCONCLUSIVE, "no controls: inconclusive");
    TAP_OK(!v.signals[0].tested, "a rate test without controls is not run");
    release(&m0, 1, &v);
    return tap_done();
}

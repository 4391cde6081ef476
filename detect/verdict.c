/*
 * The verdict engine (see verdict.h and docs/method.md). Measurements in, one-sided tests,
 * Holm adjustment over the tested family, then the documented rules. Every p-value is kept in
 * log space until the end so that overwhelming evidence (p far below 1e-300) still orders.
 */
#include "detect/verdict.h"

#include "detect/multiple.h"
#include "detect/stats.h"
#include "detect/tests.h"
#include "fingerprint/measurement.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void dt_verdict_params_default(struct dt_verdict_params *p)
{
    p->alpha = 0.01;
    p->seed = 1;
    p->n_resamples = 9999;
    p->min_probes = 8;
}

const char *dt_relation_name(enum dt_relation r)
{
    switch (r) {
    case DT_REL_SAME_WEIGHTS: return "same-weights";
    case DT_REL_WEIGHT_DERIVED: return "weight-derived";
    case DT_REL_DISTILLED: return "distilled";
    case DT_REL_INCONCLUSIVE: return "inconclusive";
    case DT_REL_INDEPENDENT: return "independent";
    }
    return "inconclusive";
}

int dt_relation_strength(enum dt_relation r)
{
    switch (r) {
    case DT_REL_SAME_WEIGHTS: return 5;
    case DT_REL_WEIGHT_DERIVED: return 4;
    case DT_REL_DISTILLED: return 3;
    case DT_REL_INCONCLUSIVE: return 2;
    case DT_REL_INDEPENDENT: return 1;
    }
    return 0;
}

/* Paired sign-flip tests of the suspect against each control on the probes where both have a
 * score, combined as an intersection-union test: the suspect must be closer to the teacher
 * than every control, so p is the largest of the per-control p-values. Controls without
 * enough common probes are left out; the signal is untested when none remains. */
static int run_paired(const struct dt_measurement *m, const struct dt_test_opts *o,
                      size_t min_probes, struct dt_signal_result *r, double *log_p,
                      struct dt_error *err)
{
    size_t n_cols = m->n_cols, n_probes = m->n_probes;
    double *d = dt_malloc_array(n_probes ? n_probes : 1, sizeof(double));
    if (!d)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = 0;
    size_t n_used = 0, max_rows = 0;
    double worst = -INFINITY;
    struct dt_test_result best = {0};
    for (size_t j = 1; j < n_cols; j++) {
        size_t rows = 0;
        for (size_t i = 0; i < n_probes; i++) {
            double s = m->scores[i * n_cols], c = m->scores[i * n_cols + j];
            if (!isnan(s) && !isnan(c))
                d[rows++] = s - c;
        }
        if (rows > max_rows)
            max_rows = rows;
        if (rows < min_probes)
            continue;
        struct dt_test_result t;
        if ((rc = dt_test_sign_flip(d, rows, o, &t, err)) != 0)
            goto out;
        n_used++;
        if (t.log_p > worst) {
            worst = t.log_p;
            best = t;
        }
    }
    if (n_used == 0) {
        snprintf(r->test, sizeof r->test,
                 "paired sign-flip test (not run: %s)",
                 max_rows ? "too few probes scored by the suspect and a control" : "no comparable control");
        goto out;
    }
    snprintf(r->test, sizeof r->test,
             "paired sign-flip test against each of %zu controls (intersection-union)", n_used);
    r->tested = 1;
    r->p_value = best.p_value;
    *log_p = worst;
    r->effect = best.effect; /* mean per-probe margin over the closest control */
    if (best.has_ci) {
        r->ci_low = best.ci_low;
        r->ci_high = best.ci_high;
    }
out:
    dt_free(d);
    return rc;
}

/* Intersection-union of one-sided Fisher tests: the suspect against every control. */
static int run_rate(const struct dt_measurement *m, const struct dt_test_opts *o,
                    struct dt_signal_result *r, double *log_p, struct dt_error *err)
{
    double worst = -INFINITY, worst_p = 0;
    size_t n_used = 0;
    for (size_t j = 0; j < m->n_controls; j++) {
        if (m->c_n[j] == 0)
            continue;
        struct dt_test_result t;
        int rc = dt_test_fisher(m->s_hits, m->s_n - m->s_hits, m->c_hits[j], m->c_n[j] - m->c_hits[j],
                                o, &t, err);
        if (rc)
            return rc;
        n_used++;
        if (t.log_p > worst) {
            worst = t.log_p;
            worst_p = t.p_value;
        }
    }
    if (n_used == 0) {
        snprintf(r->test, sizeof r->test, "Fisher's exact test (not run: no control answers)");
        return 0;
    }
    snprintf(r->test, sizeof r->test,
             "Fisher's exact test against each of %zu controls (intersection-union)", n_used);
    r->tested = 1;
    r->p_value = worst_p;
    *log_p = worst;
    r->effect = m->s_n ? (double)m->s_hits / (double)m->s_n : NAN;
    return 0;
}

int dt_verdict_decide(const struct dt_measurement *ms, size_t n, size_t n_controls,
                      const struct dt_verdict_params *params, struct dt_verdict *out,
                      struct dt_error *err)
{
    struct dt_verdict_params def;
    if (!params) {
        dt_verdict_params_default(&def);
        params = &def;
    }
    memset(out, 0, sizeof *out);
    out->alpha = params->alpha;
    out->signals = dt_calloc(n ? n : 1, sizeof *out->signals);
    double *log_p = dt_malloc_array(n ? n : 1, sizeof(double));
    double *adj = dt_malloc_array(n ? n : 1, sizeof(double));
    size_t *idx = dt_malloc_array(n ? n : 1, sizeof(size_t));
    int rc = 0;
    if (!out->signals || !log_p || !adj || !idx) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    out->n_signals = n;
    struct dt_test_opts o;
    dt_test_opts_init(&o);
    o.seed = params->seed;
    o.n_resamples = (size_t)params->n_resamples;
    size_t n_tested = 0;
    for (size_t i = 0; i < n; i++) {
        struct dt_signal_result *r = &out->signals[i];
        const struct dt_measurement *m = &ms[i];
        r->m = m;
        r->p_value = r->p_adjusted = r->effect = r->ci_low = r->ci_high = NAN;
        double lp = 0;
        if (!m->applicable || m->cls == DT_SIGNAL_INFO)
            continue;
        switch (m->test) {
        case DT_TEST_PAIRED:
            rc = run_paired(m, &o, params->min_probes, r, &lp, err);
            break;
        case DT_TEST_RATE:
            rc = run_rate(m, &o, r, &lp, err);
            break;
        case DT_TEST_GIVEN:
            snprintf(r->test, sizeof r->test, "%s", m->test_given);
            r->tested = !isnan(m->p_given);
            r->p_value = m->p_given;
            lp = m->p_given > 0 ? log(m->p_given) : -745.0; /* p_given has no log form */
            break;
        case DT_TEST_NORMAL:
            snprintf(r->test, sizeof r->test, "%s", m->test_given);
            r->tested = !isnan(m->z_given);
            lp = dt_stats_norm_sf_log(m->z_given);
            r->p_value = exp(lp);
            break;
        case DT_TEST_NONE:
            break;
        }
        if (rc)
            goto out;
        if (r->tested) {
            log_p[n_tested] = lp;
            idx[n_tested++] = i;
        }
    }
    if (n_tested && (rc = dt_mult_holm(log_p, n_tested, adj, err)) != 0)
        goto out;
    for (size_t t = 0; t < n_tested; t++) {
        struct dt_signal_result *r = &out->signals[idx[t]];
        r->p_adjusted = exp(adj[t]);
        r->log10_p = log_p[t] / M_LN10;
        r->log10_p_adjusted = adj[t] / M_LN10;
        r->significant = adj[t] <= log(params->alpha);
    }

    /* The rules, strongest first. */
    const struct dt_signal_result *weights = NULL, *best_art = NULL, *best_close = NULL, *best_any = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct dt_signal_result *r = &out->signals[i];
        if (!r->tested)
            continue;
        if (!best_any || r->p_adjusted < best_any->p_adjusted)
            best_any = r;
        if (!r->significant)
            continue;
        if (r->m->cls == DT_SIGNAL_WEIGHTS)
            weights = r;
        else if (r->m->cls == DT_SIGNAL_ARTIFACT && (!best_art || r->p_adjusted < best_art->p_adjusted))
            best_art = r;
        else if (r->m->cls == DT_SIGNAL_CLOSENESS &&
                 (!best_close || r->p_adjusted < best_close->p_adjusted))
            best_close = r;
    }
    const struct dt_signal_result *basis = NULL; /* the evidence the relation rests on */
    int beats_controls = 0;
    if (weights) {
        beats_controls = 1;
        for (size_t j = 0; j < weights->m->n_controls; j++)
            if (!isnan(weights->m->control_stats[j]) &&
                weights->m->control_stats[j] >= weights->m->statistic)
                beats_controls = 0;
    }
    if (weights && weights->m->same_weights) {
        out->relation = DT_REL_SAME_WEIGHTS;
        basis = weights;
        snprintf(out->rationale, sizeof out->rationale,
                 "Every tensor of the teacher is present in the suspect and equal to it within the "
                 "error of re-encoding it in the suspect's storage type (%s).",
                 weights->m->note);
    } else if (weights && beats_controls) {
        out->relation = DT_REL_WEIGHT_DERIVED;
        basis = weights;
        snprintf(out->rationale, sizeof out->rationale,
                 "The suspect's weights are aligned with the teacher's far beyond chance and beyond "
                 "every control model, but they differ by more than re-encoding would explain: "
                 "they were derived from the teacher's weights (%s).",
                 weights->m->note);
    } else if (best_art) {
        out->relation = DT_REL_DISTILLED;
        basis = best_art;
        char names[256] = "";
        for (size_t i = 0; i < n; i++) {
            const struct dt_signal_result *r = &out->signals[i];
            if (r->tested && r->significant && r->m->cls == DT_SIGNAL_ARTIFACT) {
                if (names[0])
                    strncat(names, ", ", sizeof names - strlen(names) - 1);
                strncat(names, r->m->name, sizeof names - strlen(names) - 1);
            }
        }
        snprintf(out->rationale, sizeof out->rationale,
                 "The suspect reproduces artifacts of the teacher's outputs that no control model "
                 "shows (%s): %s.",
                 names, best_art->m->note);
    } else if (weights) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = weights;
        snprintf(out->rationale, sizeof out->rationale,
                 "The suspect's weights are aligned with the teacher's beyond chance, but a control "
                 "model's are at least as aligned, so the alignment does not single out the "
                 "teacher (%s).",
                 weights->m->note);
    } else if (best_close) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = best_close;
        snprintf(out->rationale, sizeof out->rationale,
                 "The suspect is closer to the teacher than the control models are (%s: %s), but "
                 "it carries no artifact of the teacher's outputs; an independent model trained on "
                 "the same data could be this close, so closeness alone does not establish "
                 "distillation.",
                 best_close->m->name, best_close->m->note);
    } else if (n_controls == 0 && !weights) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = best_any;
        snprintf(out->rationale, sizeof out->rationale,
                 "No control model was given, so the behavioural signals could not be judged "
                 "against independent models.");
    } else if (n_tested == 0) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = NULL;
        snprintf(out->rationale, sizeof out->rationale,
                 "No signal could be evaluated for this pair of models.");
    } else {
        /* name the strongest evidence only when there was any */
        const struct dt_signal_result *weakest = best_any && best_any->p_adjusted < 1 ? best_any : NULL;
        out->relation = DT_REL_INDEPENDENT;
        basis = best_any;
        snprintf(out->rationale, sizeof out->rationale,
                 "No signal shows the suspect closer to the teacher, or more like it, than the "
                 "control models at alpha %g after correction for %zu tests%s%s.",
                 params->alpha, n_tested, weakest ? "; the strongest was " : "",
                 weakest ? weakest->m->name : "");
    }
    out->p_value = basis ? basis->p_adjusted : 1.0;
    out->log10_p = basis ? basis->log10_p_adjusted : 0.0;
out:
    dt_free(log_p);
    dt_free(adj);
    dt_free(idx);
    if (rc)
        dt_verdict_release(out);
    return rc;
}

void dt_verdict_release(struct dt_verdict *v)
{
    if (!v)
        return;
    dt_free(v->signals);
    v->signals = NULL;
    v->n_signals = 0;
}

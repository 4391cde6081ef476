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

/* Closeness at the level of models: each model's statistic is its mean closeness over the
 * probes every used model scored, and its within-model variance is the variance of its
 * probe-centred scores over those probes / n (the probe's own difficulty is shared by all models
 * and cancels). Controls scoring fewer than min_probes of the suspect's probes are dropped. */
static int run_paired(const struct dt_measurement *m, size_t min_probes, struct dt_signal_result *r,
                      double *log_p, struct dt_error *err)
{
    size_t n_cols = m->n_cols, n_probes = m->n_probes;
    if (n_cols < 1 || !m->scores) {
        snprintf(r->test, sizeof r->test, "model-level predictive t test (not run: no scores)");
        return 0;
    }
    size_t *cols = dt_malloc_array(n_cols, sizeof *cols);
    size_t *rows = dt_malloc_array(n_probes ? n_probes : 1, sizeof *rows);
    double *y = dt_malloc_array(2 * n_cols, sizeof *y);
    int rc = 0;
    if (!cols || !rows || !y) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    double *v = y + n_cols;
    size_t n_used = 0;
    cols[n_used++] = 0;
    for (size_t j = 1; j < n_cols; j++) {
        size_t common = 0;
        for (size_t i = 0; i < n_probes; i++)
            common += !isnan(m->scores[i * n_cols]) && !isnan(m->scores[i * n_cols + j]);
        if (common >= min_probes && common > 0)
            cols[n_used++] = j;
    }
    size_t n_rows = 0;
    for (size_t i = 0; i < n_probes; i++) {
        int all = 1;
        for (size_t c = 0; c < n_used && all; c++)
            all = !isnan(m->scores[i * n_cols + cols[c]]);
        if (all)
            rows[n_rows++] = i;
    }
    size_t k = n_used - 1;
    r->n_controls_used = k;
    if (k == 0 || n_rows < (min_probes > 2 ? min_probes : 2)) {
        snprintf(r->test, sizeof r->test, "model-level predictive t test (not run: %s)",
                 k == 0 ? "no control scored on the suspect's probes"
                        : "too few probes scored by every model");
        goto out;
    }
    double dn = (double)n_rows;
    for (size_t c = 0; c < n_used; c++) {
        double s = 0;
        for (size_t t = 0; t < n_rows; t++)
            s += m->scores[rows[t] * n_cols + cols[c]];
        y[c] = s / dn;
        v[c] = 0;
    }
    for (size_t t = 0; t < n_rows; t++) {
        double pm = 0;
        for (size_t c = 0; c < n_used; c++)
            pm += m->scores[rows[t] * n_cols + cols[c]];
        pm /= (double)n_used;
        for (size_t c = 0; c < n_used; c++) {
            double e = m->scores[rows[t] * n_cols + cols[c]] - pm;
            v[c] += e * e;
        }
    }
    /* residuals around the per-probe mean and the model's mean: n_rows - 1 df each */
    for (size_t c = 0; c < n_used; c++) {
        double e_mean = 0;
        for (size_t t = 0; t < n_rows; t++) {
            double pm = 0;
            for (size_t c2 = 0; c2 < n_used; c2++)
                pm += m->scores[rows[t] * n_cols + cols[c2]];
            e_mean += m->scores[rows[t] * n_cols + cols[c]] - pm / (double)n_used;
        }
        e_mean /= dn;
        v[c] = (v[c] - dn * e_mean * e_mean) / (dn - 1) / dn;
        if (v[c] < 0)
            v[c] = 0;
    }
    struct dt_test_result t;
    if ((rc = dt_test_predictive(y[0], v[0], y + 1, v + 1, k, &t, err)) != 0)
        goto out;
    if (!t.valid) {
        snprintf(r->test, sizeof r->test, "model-level predictive t test (not run: %s)",
                 t.note ? t.note : "undefined for these scores");
        goto out;
    }
    snprintf(r->test, sizeof r->test,
             "model-level predictive t test against %zu controls over %zu probes (%zu df)", k,
             n_rows, k - 1);
    r->tested = 1;
    r->p_value = t.p_value;
    *log_p = t.log_p;
    r->effect = t.effect;
out:
    dt_free(cols);
    dt_free(rows);
    dt_free(y);
    return rc;
}

/* Rates at the level of models (dt_test_rate_models); controls without answers are dropped. */
static int run_rate(const struct dt_measurement *m, struct dt_signal_result *r, double *log_p,
                    struct dt_error *err)
{
    size_t k = 0;
    uint64_t *h = dt_malloc_array(2 * (m->n_controls ? m->n_controls : 1), sizeof *h);
    if (!h)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    uint64_t *n = h + (m->n_controls ? m->n_controls : 1);
    for (size_t j = 0; j < m->n_controls; j++)
        if (m->c_n[j] > 0) {
            h[k] = m->c_hits[j];
            n[k++] = m->c_n[j];
        }
    r->n_controls_used = k;
    int rc = 0;
    if (m->s_n == 0 || k < 2) {
        snprintf(r->test, sizeof r->test, "model-level predictive t test (not run: %s)",
                 m->s_n == 0 ? "the suspect gave no answers"
                 : k == 0    ? "no control answers"
                             : "one control gives no between-model variance");
        goto out;
    }
    struct dt_test_result t;
    if ((rc = dt_test_rate_models(m->s_hits, m->s_n, h, n, k, &t, err)) != 0)
        goto out;
    snprintf(r->test, sizeof r->test,
             "model-level predictive t test on arcsine rates against %zu controls (%zu df)", k,
             k - 1);
    r->tested = 1;
    r->p_value = t.p_value;
    *log_p = t.log_p;
    r->effect = (double)m->s_hits / (double)m->s_n;
    r->log10_p_floor = t.log_p_min / M_LN10;
out:
    dt_free(h);
    return rc;
}

/* Holm over the members of one family (sel[i] nonzero), writing p_adjusted / significant. */
static int holm_family(struct dt_verdict *out, const double *log_p, const int *sel, double alpha,
                       size_t *n_family, struct dt_error *err)
{
    size_t n = out->n_signals, m = 0;
    double *lp = dt_malloc_array(n ? n : 1, sizeof *lp);
    size_t *idx = dt_malloc_array(n ? n : 1, sizeof *idx);
    int rc = 0;
    if (!lp || !idx) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (sel[i] && out->signals[i].tested) {
            lp[m] = log_p[i];
            idx[m++] = i;
        }
    if (m && (rc = dt_mult_holm(lp, m, lp, err)) != 0)
        goto out;
    for (size_t t = 0; t < m; t++) {
        struct dt_signal_result *r = &out->signals[idx[t]];
        r->p_adjusted = exp(lp[t]);
        r->log10_p = log_p[idx[t]] / M_LN10;
        r->log10_p_adjusted = lp[t] / M_LN10;
        r->significant = lp[t] <= log(alpha);
    }
    *n_family = m;
out:
    dt_free(lp);
    dt_free(idx);
    return rc;
}

/* Power of one tested rate signal in a family of m_family accusing tests: how many answers per
 * model, or how many controls with these answers, would let its best case reach alpha. */
static void rate_power(const struct dt_measurement *m, size_t m_family, double alpha,
                       uint64_t *answers, size_t *controls)
{
    double target = log(alpha) - log((double)m_family);
    double cn[256];
    size_t k = 0;
    double cn_mean = 0;
    for (size_t j = 0; j < m->n_controls && k < 256; j++)
        if (m->c_n[j] > 0) {
            cn[k++] = (double)m->c_n[j];
            cn_mean += (double)m->c_n[j];
        }
    *answers = 0;
    *controls = 0;
    if (k == 0)
        return;
    cn_mean /= (double)k;
    double scaled[256];
    for (double f = 1; f <= 4096; f *= 1.1) {
        for (size_t j = 0; j < k; j++)
            scaled[j] = ceil(cn[j] * f);
        if (k >= 2 && dt_test_rate_models_floor(ceil((double)m->s_n * f), scaled, k) <= target) {
            *answers = (uint64_t)ceil((double)m->s_n * f);
            break;
        }
    }
    for (size_t kk = k + 1 > 2 ? k + 1 : 2; kk <= 256; kk++) {
        for (size_t j = 0; j < kk; j++)
            scaled[j] = j < k ? cn[j] : cn_mean;
        if (dt_test_rate_models_floor((double)m->s_n, scaled, kk) <= target) {
            *controls = kk;
            break;
        }
    }
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
    int rc = 0;
    if (!out->signals || !log_p) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    out->n_signals = n;
    size_t n_tested = 0, n_acc = 0, n_close = 0;
    int *acc = dt_calloc(n ? n : 1, sizeof *acc), *clo = dt_calloc(n ? n : 1, sizeof *clo);
    if (!acc || !clo) {
        dt_free(acc);
        dt_free(clo);
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    out->n_controls_given = n_controls;
    for (size_t i = 0; i < n; i++) {
        struct dt_signal_result *r = &out->signals[i];
        const struct dt_measurement *m = &ms[i];
        r->m = m;
        r->p_value = r->p_adjusted = r->effect = r->ci_low = r->ci_high = NAN;
        r->log10_p_floor = NAN;
        double lp = 0;
        if (!m->applicable || m->cls == DT_SIGNAL_INFO)
            continue;
        switch (m->test) {
        case DT_TEST_PAIRED:
            rc = run_paired(m, params->min_probes, r, &lp, err);
            break;
        case DT_TEST_RATE:
            rc = run_rate(m, r, &lp, err);
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
            break;
        log_p[i] = lp;
        if (r->tested) {
            n_tested++;
            acc[i] = m->cls == DT_SIGNAL_WEIGHTS || m->cls == DT_SIGNAL_ARTIFACT;
            clo[i] = m->cls == DT_SIGNAL_CLOSENESS;
        }
    }
    if (!rc)
        rc = holm_family(out, log_p, acc, params->alpha, &n_acc, err);
    if (!rc)
        rc = holm_family(out, log_p, clo, params->alpha, &n_close, err);
    dt_free(acc);
    dt_free(clo);
    if (rc)
        goto out;
    (void)n_close;

    /* Power: the fewest controls any behavioural artifact test could use, and whether each
     * tested rate signal's best case could reach alpha in the accusing family. */
    int any_behav = 0;
    size_t used_min = n_controls;
    out->log10_p_floor = NAN;
    for (size_t i = 0; i < n; i++) {
        const struct dt_signal_result *r = &out->signals[i];
        const struct dt_measurement *m = &ms[i];
        if (!m->applicable || m->cls != DT_SIGNAL_ARTIFACT || m->test != DT_TEST_RATE)
            continue;
        any_behav = 1;
        if (r->n_controls_used < used_min)
            used_min = r->n_controls_used;
        if (r->tested && !out->underpowered && !isnan(r->log10_p_floor) &&
            r->log10_p_floor * M_LN10 + log((double)(n_acc ? n_acc : 1)) > log(params->alpha)) {
            out->underpowered = 1;
            snprintf(out->underpowered_signal, sizeof out->underpowered_signal, "%s", m->name);
            out->log10_p_floor = r->log10_p_floor + log10((double)(n_acc ? n_acc : 1));
            rate_power(m, n_acc ? n_acc : 1, params->alpha, &out->answers_needed,
                       &out->controls_needed);
        }
    }
    out->n_controls_used = any_behav ? used_min : n_controls;
    out->n_controls_dropped = n_controls - out->n_controls_used;
    if (out->underpowered) {
        char more_c[96] = "", more_a[96] = "";
        const struct dt_measurement *um = NULL;
        for (size_t i = 0; i < n && !um; i++)
            if (!strcmp(ms[i].name, out->underpowered_signal))
                um = &ms[i];
        if (out->answers_needed)
            snprintf(more_a, sizeof more_a, "about %llu answers from each model (now %llu)",
                     (unsigned long long)out->answers_needed,
                     (unsigned long long)(um ? um->s_n : 0));
        else
            snprintf(more_a, sizeof more_a, "more answers alone would not do");
        if (out->controls_needed)
            snprintf(more_c, sizeof more_c, "%zu controls with these answers (now %zu)",
                     out->controls_needed, out->n_controls_used);
        else
            snprintf(more_c, sizeof more_c, "more controls alone would not do");
        snprintf(out->power_note, sizeof out->power_note,
                 "even a suspect whose every answer shows the %s artifact, against controls "
                 "with none, could reach only p = %.2g after correction, above alpha %g: it "
                 "needs %s, or %s",
                 out->underpowered_signal, pow(10, out->log10_p_floor), params->alpha, more_a,
                 more_c);
    } else if (any_behav && out->n_controls_used < DT_MIN_CONTROLS) {
        snprintf(out->power_note, sizeof out->power_note,
                 "only %zu usable control%s for the artifact tests; at least %d are needed "
                 "(%zu more)",
                 out->n_controls_used, out->n_controls_used == 1 ? "" : "s", DT_MIN_CONTROLS,
                 (size_t)DT_MIN_CONTROLS - out->n_controls_used);
    } else if (out->n_controls_dropped) {
        snprintf(out->power_note, sizeof out->power_note,
                 "%zu of %zu controls had to be dropped from an artifact test (no answers to "
                 "its probes)",
                 out->n_controls_dropped, n_controls);
    }
    int few_controls = any_behav && out->n_controls_used < DT_MIN_CONTROLS;

    /* The rules, strongest first. */
    const struct dt_signal_result *weights = NULL, *best_art = NULL, *best_close = NULL,
                                  *best_acc = NULL, *best_any = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct dt_signal_result *r = &out->signals[i];
        if (!r->tested)
            continue;
        if (!best_any || r->p_adjusted < best_any->p_adjusted)
            best_any = r;
        if (r->m->cls != DT_SIGNAL_CLOSENESS &&
            (!best_acc || r->p_adjusted < best_acc->p_adjusted))
            best_acc = r;
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
    /* a significant artifact whose test had fewer than three controls cannot accuse */
    if (best_art && best_art->m->test == DT_TEST_RATE && few_controls)
        best_art = NULL;
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
                 "The suspect reproduces artifacts of the teacher's outputs more than one more "
                 "independent model would, judged against %zu controls (%s): %s.",
                 out->n_controls_used, names, best_art->m->note);
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
                 "The suspect is closer to the teacher than independent models are (%s: %s), but "
                 "it carries no artifact of the teacher's outputs; an independent model trained on "
                 "the same data could be this close, so closeness alone does not establish "
                 "distillation.",
                 best_close->m->name, best_close->m->note);
    } else if (n_controls == 0) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = best_acc ? best_acc : best_any;
        snprintf(out->rationale, sizeof out->rationale,
                 "No control model was given, so the behavioural signals could not be judged "
                 "against independent models; at least %d controls are needed.",
                 DT_MIN_CONTROLS);
    } else if (n_tested == 0) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = NULL;
        snprintf(out->rationale, sizeof out->rationale,
                 "No signal could be evaluated for this pair of models.");
    } else if (out->power_note[0]) {
        out->relation = DT_REL_INCONCLUSIVE;
        basis = best_acc ? best_acc : best_any;
        snprintf(out->rationale, sizeof out->rationale,
                 "No signal shows the suspect more like the teacher than independent models, but "
                 "this design could not have shown it: %s.",
                 out->power_note);
    } else {
        /* name the strongest evidence only when there was any */
        const struct dt_signal_result *weakest = best_acc && best_acc->p_adjusted < 1 ? best_acc : NULL;
        out->relation = DT_REL_INDEPENDENT;
        basis = best_acc ? best_acc : best_any;
        snprintf(out->rationale, sizeof out->rationale,
                 "No signal shows the suspect more like the teacher than one more independent "
                 "model would be, at alpha %g after correction for %zu accusing tests%s%s.",
                 params->alpha, n_acc, weakest ? "; the strongest was " : "",
                 weakest ? weakest->m->name : "");
    }
    if (out->relation == DT_REL_INCONCLUSIVE && out->power_note[0] &&
        !strstr(out->rationale, out->power_note)) {
        size_t len = strlen(out->rationale);
        snprintf(out->rationale + len, sizeof out->rationale - len, " Power: %s.", out->power_note);
    }
    out->p_value = basis ? basis->p_adjusted : 1.0;
    out->log10_p = basis ? basis->log10_p_adjusted : 0.0;
out:
    dt_free(log_p);
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

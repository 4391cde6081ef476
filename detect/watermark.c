/*
 * Watermark tests (see watermark.h for the null model and why each test is honest). The
 * distribution tails come from detect/stats.h; this file only forms the statistics.
 * Sums run in double over at most a few hundred thousand contexts.
 */
#include "detect/watermark.h"

#include "detect/stats.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void dt_wm_test_text(const struct dt_wm_counts *c, double gamma, struct dt_wm_text_test *out)
{
    double g = dt_wm_gamma_exact(gamma);
    out->n_scored = c->n_scored;
    out->n_green = c->n_green;
    out->green_fraction = c->n_scored ? (double)c->n_green / (double)c->n_scored : NAN;
    out->z = dt_wm_counts_z(c, gamma);
    out->p_value =
        c->n_scored ? dt_stats_binom_sf((double)c->n_green, (double)c->n_scored, g) : 1.0;
    out->log10_p = c->n_scored
                       ? dt_stats_binom_sf_log((double)c->n_green, (double)c->n_scored, g) / M_LN10
                       : 0.0;
}

void dt_wm_test_logit(const struct dt_wm_mass_context *ctx, size_t n, double gamma,
                      struct dt_wm_logit_test *out)
{
    double g = dt_wm_gamma_exact(gamma), var0 = g * (1.0 - g);
    double s_m = 0.0, s_mass = 0.0, s_var = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ctx[i].mass) || !isfinite(ctx[i].sum_p2))
            continue;
        k++;
        s_mass += ctx[i].mass;
        s_m += ctx[i].mass - g;
        s_var += var0 * ctx[i].sum_p2;
    }
    out->n_contexts = k;
    out->mean_mass = k ? s_mass / (double)k : NAN;
    out->excess = k ? s_m / (double)k : NAN;
    out->z = s_var > 0.0 ? s_m / sqrt(s_var) : 0.0;
    out->p_value = k ? dt_stats_norm_sf(out->z) : 1.0;
    out->log10_p = k ? dt_stats_norm_sf_log(out->z) / M_LN10 : 0.0;
    /* t-test of m_c against 0, with the variance estimated from the contexts (two-pass) */
    double mean = out->excess, ss = 0.0;
    for (size_t i = 0; i < n && k > 1; i++) {
        if (!isfinite(ctx[i].mass) || !isfinite(ctx[i].sum_p2))
            continue;
        double d = ctx[i].mass - g - mean;
        ss += d * d;
    }
    if (k > 1 && ss > 0.0) {
        double se = sqrt(ss / (double)(k - 1) / (double)k);
        out->t = mean / se;
        out->p_t = dt_stats_t_sf(out->t, (double)(k - 1));
    } else {
        out->t = 0.0;
        out->p_t = 1.0;
    }
}

void dt_wm_test_controls(const double *suspect, const double *const *controls, size_t n_controls,
                         size_t n, double gamma, struct dt_wm_control_test *out)
{
    double s_d = 0.0, s_c = 0.0;
    size_t k = 0;
    (void)gamma; /* the differences do not depend on gamma; kept for symmetry */
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(suspect[i]);
        double c = 0.0;
        for (size_t j = 0; j < n_controls && ok; j++) {
            ok = isfinite(controls[j][i]);
            c += controls[j][i];
        }
        if (!ok || n_controls == 0)
            continue;
        c /= (double)n_controls;
        k++;
        s_c += c;
        s_d += suspect[i] - c;
    }
    out->n_pairs = k;
    out->control_mean_mass = k ? s_c / (double)k : NAN;
    out->mean_diff = k ? s_d / (double)k : NAN;
    out->t = 0.0;
    out->p_value = 1.0;
    if (k < 2)
        return;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        int ok = isfinite(suspect[i]);
        double c = 0.0;
        for (size_t j = 0; j < n_controls && ok; j++) {
            ok = isfinite(controls[j][i]);
            c += controls[j][i];
        }
        if (!ok)
            continue;
        double d = suspect[i] - c / (double)n_controls - out->mean_diff;
        ss += d * d;
    }
    if (ss > 0.0) {
        out->t = out->mean_diff / sqrt(ss / (double)(k - 1) / (double)k);
        out->p_value = dt_stats_t_sf(out->t, (double)(k - 1));
    }
}

double dt_wm_combine(const double *p, size_t n)
{
    double best = 1.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i]))
            continue;
        k++;
        if (p[i] < best)
            best = p[i];
    }
    if (k == 0)
        return 1.0;
    best *= (double)k;
    return best < 1.0 ? best : 1.0;
}

void dt_wm_radio_signal(const struct dt_wm_radio_result *r, const struct dt_wm_params *p,
                        struct dt_wm_signal *out)
{
    double g = dt_wm_gamma_exact(p->gamma);
    int use_logit = r->logit_applicable && (!r->text_applicable || r->p_logit < r->p_text);
    out->name = "watermark";
    out->test = "xxh64-kgw radioactivity: exact binomial on distinct (prev, token) pairs of "
                "suspect samples, hash-null z on green mass per distinct prev; Bonferroni";
    out->p_value = r->p_value;
    if (use_logit) {
        out->statistic = r->logit.z;
        out->effect = r->logit.excess;
        out->n = (int64_t)r->logit.n_contexts;
    } else if (r->text_applicable) {
        out->statistic = r->text.z;
        out->effect = r->text.green_fraction - g;
        out->n = (int64_t)r->text.n_scored;
    } else {
        out->statistic = NAN;
        out->effect = NAN;
        out->n = 0;
    }
}

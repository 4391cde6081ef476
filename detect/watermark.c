/*
 * Watermark tests (see watermark.h for the null model and why each test is honest). The
 * distribution tails come from detect/stats.h; this file only forms the statistics.
 * Sums run in double over at most a few hundred thousand contexts.
 */
#include "detect/watermark.h"

#include "detect/stats.h"
#include "fingerprint/wm_sample.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
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

void dt_wm_radio_opts_default(struct dt_wm_radio_opts *o)
{
    memset(o, 0, sizeof *o);
    o->wm.gamma = 0.25;
    o->n_samples = 2;
    o->max_tokens = 128;
    o->temperature = 1.0f;
    o->top_p = 1.0f;
    o->seed = 1;
    o->mode = DT_WM_MODE_BOTH;
}

int dt_wm_radioactivity(struct dt_ctx *suspect, const struct dt_tokenizer *teacher_tok,
                        struct dt_ctx *const *controls, size_t n_controls,
                        const struct dt_wm_radio_opts *o, struct dt_wm_radio_result *out,
                        struct dt_error *err)
{
    struct dt_wm_samples s = {0};
    struct dt_wm_contexts c = {0};
    struct dt_wm_detector *det = NULL;
    struct dt_wm_radio_result r;
    double *mass = NULL, *p2 = NULL, **cmass = NULL, *cp2 = NULL;
    struct dt_wm_mass_context *mc = NULL;
    const struct dt_tokenizer *stok = dt_model_tokenizer(dt_ctx_model(suspect));
    size_t n_vocab = (size_t)dt_tokenizer_n_vocab(teacher_tok);
    int rc = dt_wm_params_check(&o->wm, err);

    memset(&r, 0, sizeof r);
    r.p_text = r.p_logit = NAN;
    if (rc)
        goto done;
    struct dt_wm_gen_opts g = {
        o->max_tokens, o->n_samples, o->temperature, o->top_p, o->seed, NULL, 0};
    rc = dt_wm_generate(suspect, o->prompts ? o->prompts : dt_wm_default_prompts,
                        o->prompts ? o->n_prompts : dt_wm_n_default_prompts, &g, &s, err);
    if (rc)
        goto done;
    r.n_texts = s.n;
    for (size_t i = 0; i < s.n; i++)
        r.n_generated += s.n_ids[i] - s.n_prompt[i];

    if (o->mode != DT_WM_MODE_LOGIT) {
        struct dt_wm_counts pooled;
        rc = dt_wm_detector_new(&o->wm, &det, err);
        if (!rc)
            rc = dt_wm_samples_detect(&s, stok, teacher_tok, det, err);
        if (rc)
            goto done;
        dt_wm_detector_pooled(det, &pooled);
        dt_wm_test_text(&pooled, o->wm.gamma, &r.text);
        r.text_applicable = 1;
        r.p_text = r.text.p_value;
    }

    if (o->mode != DT_WM_MODE_TEXT) {
        if (!dt_tokenizer_ids_compatible(teacher_tok, stok)) {
            r.logit_note = "the suspect's tokenizer differs from the teacher's";
        } else {
            r.logit_applicable = 1;
            for (size_t k = 0; k < n_controls; k++)
                if (!dt_tokenizer_ids_compatible(teacher_tok,
                                                 dt_model_tokenizer(dt_ctx_model(controls[k])))) {
                    rc = dt_error_set(err, DT_EMISMATCH,
                                      "control '%s' does not share the teacher's tokenizer",
                                      dt_model_path(dt_ctx_model(controls[k])));
                    goto done;
                }
        }
    }
    if (r.logit_applicable) {
        rc = dt_wm_contexts_select(&s, n_vocab, &c, err);
        if (rc)
            goto done;
        size_t nc = c.n ? c.n : 1;
        mass = dt_malloc_array(nc, sizeof *mass);
        p2 = dt_malloc_array(nc, sizeof *p2);
        cp2 = dt_malloc_array(nc, sizeof *cp2);
        mc = dt_malloc_array(nc, sizeof *mc);
        cmass = dt_calloc(n_controls ? n_controls : 1, sizeof *cmass);
        if (!mass || !p2 || !cp2 || !mc || !cmass) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu contexts", c.n);
            goto done;
        }
        rc = dt_wm_green_masses(suspect, &s, &c, &o->wm, n_vocab, mass, p2, err);
        if (rc)
            goto done;
        for (size_t j = 0; j < c.n; j++)
            mc[j] = (struct dt_wm_mass_context){c.prev[j], mass[j], p2[j]};
        dt_wm_test_logit(mc, c.n, o->wm.gamma, &r.logit);
        r.p_logit = r.logit.p_value;
        for (size_t k = 0; k < n_controls; k++) {
            cmass[k] = dt_malloc_array(nc, sizeof **cmass);
            if (!cmass[k]) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory for %zu contexts", c.n);
                goto done;
            }
            rc = dt_wm_green_masses(controls[k], &s, &c, &o->wm, n_vocab, cmass[k], cp2, err);
            if (rc)
                goto done;
        }
        r.n_controls = n_controls;
        if (n_controls) {
            dt_wm_test_controls(mass, (const double *const *)cmass, n_controls, c.n, o->wm.gamma,
                                &r.controls);
            if (r.controls.p_value > r.p_logit)
                r.p_logit = r.controls.p_value;
        }
    }
    double ps[2] = {r.p_text, r.p_logit};
    r.p_value = dt_wm_combine(ps, 2);
    *out = r;
done:
    for (size_t k = 0; cmass && k < n_controls; k++)
        dt_free(cmass[k]);
    dt_free(cmass);
    dt_free(cp2);
    dt_free(mass);
    dt_free(p2);
    dt_free(mc);
    dt_wm_detector_free(det);
    dt_wm_contexts_release(&c);
    dt_wm_samples_release(&s);
    return rc;
}

static void json_text(cJSON *o, const struct dt_wm_text_test *t)
{
    cJSON_AddNumberToObject(o, "n_scored", (double)t->n_scored);
    cJSON_AddNumberToObject(o, "n_green", (double)t->n_green);
    if (isfinite(t->green_fraction))
        cJSON_AddNumberToObject(o, "green_fraction", t->green_fraction);
    else
        cJSON_AddNullToObject(o, "green_fraction");
    cJSON_AddNumberToObject(o, "z", t->z);
    cJSON_AddNumberToObject(o, "p_value", t->p_value);
    cJSON_AddNumberToObject(o, "log10_p_value", t->log10_p);
}

int dt_wm_radio_json(const struct dt_wm_radio_result *r, const struct dt_wm_params *p,
                     const char *suspect, char **out, struct dt_error *err)
{
    char key[32];
    cJSON *o = cJSON_CreateObject(), *t = cJSON_CreateObject(), *lg = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "text", t);
    cJSON_AddItemToObject(o, "logit", lg);
    snprintf(key, sizeof key, "%llu", (unsigned long long)p->key);
    cJSON_AddStringToObject(o, "scheme", DT_WM_SCHEME);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddNumberToObject(o, "gamma", p->gamma);
    if (suspect)
        cJSON_AddStringToObject(o, "suspect", suspect);
    cJSON_AddNumberToObject(o, "n_texts", (double)r->n_texts);
    cJSON_AddNumberToObject(o, "n_generated_tokens", (double)r->n_generated);
    cJSON_AddBoolToObject(t, "applicable", r->text_applicable);
    if (r->text_applicable)
        json_text(t, &r->text);
    cJSON_AddBoolToObject(lg, "applicable", r->logit_applicable);
    if (r->logit_note)
        cJSON_AddStringToObject(lg, "note", r->logit_note);
    if (r->logit_applicable) {
        cJSON_AddNumberToObject(lg, "n_contexts", (double)r->logit.n_contexts);
        cJSON_AddNumberToObject(lg, "mean_green_mass", r->logit.mean_mass);
        cJSON_AddNumberToObject(lg, "excess", r->logit.excess);
        cJSON_AddNumberToObject(lg, "z", r->logit.z);
        cJSON_AddNumberToObject(lg, "p_value_gamma", r->logit.p_value);
        cJSON_AddNumberToObject(lg, "log10_p_value_gamma", r->logit.log10_p);
        cJSON_AddNumberToObject(lg, "t", r->logit.t);
        cJSON_AddNumberToObject(lg, "p_value_t", r->logit.p_t);
        if (r->n_controls) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddItemToObject(lg, "controls", c);
            cJSON_AddNumberToObject(c, "n_controls", (double)r->n_controls);
            cJSON_AddNumberToObject(c, "n_contexts", (double)r->controls.n_pairs);
            cJSON_AddNumberToObject(c, "control_mean_green_mass", r->controls.control_mean_mass);
            cJSON_AddNumberToObject(c, "mean_diff", r->controls.mean_diff);
            cJSON_AddNumberToObject(c, "t", r->controls.t);
            cJSON_AddNumberToObject(c, "p_value", r->controls.p_value);
        }
        cJSON_AddNumberToObject(lg, "p_value", r->p_logit);
    }
    cJSON_AddStringToObject(o, "combination", "bonferroni");
    cJSON_AddNumberToObject(o, "p_value", r->p_value);
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *out = js ? dt_strdup(js) : NULL;
    cJSON_free(js);
    if (!*out)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the watermark JSON");
    return 0;
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

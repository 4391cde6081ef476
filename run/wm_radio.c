/*
 * Watermark radioactivity (see wm_radio.h): samples from the suspect with fingerprint/wm_sample.h,
 * counts green pairs in the teacher's tokenization and green probability mass on one context per
 * distinct previous token, and hands the counts to detect/watermark.h's tests.
 */
#include "run/wm_radio.h"

#include "fingerprint/wm_sample.h"
#include "infer/compute.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

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

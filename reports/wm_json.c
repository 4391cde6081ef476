/*
 * Watermark radioactivity as JSON (see wm_json.h), with cJSON.
 */
#include "reports/wm_json.h"

#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>

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

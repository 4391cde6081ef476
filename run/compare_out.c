/*
 * JSON rendering and evidence-store persistence of a comparison (see compare_out.h). Numbers
 * that are not finite (untested p-values, missing statistics) become JSON null; p-values that
 * underflow a double are written as 0 with their log10 alongside where known.
 */
#include "run/compare_out.h"

#include "dt_version.h"
#include "infer/arch.h"
#include "infer/chat_template.h"
#include "infer/compute.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "reports/report.h"
#include "reports/store.h"
#include "run/compare.h"
#include "run/signals.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/utf8.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* Whether the design could have found what it looked for (detect/verdict.h power fields). */
static cJSON *power_json(const struct dt_verdict *v)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "controls_given", (double)v->n_controls_given);
    cJSON_AddNumberToObject(o, "controls_used", (double)v->n_controls_used);
    cJSON_AddNumberToObject(o, "controls_dropped", (double)v->n_controls_dropped);
    cJSON_AddBoolToObject(o, "underpowered", v->underpowered);
    if (v->underpowered) {
        dt_json_add_string(o, "signal", v->underpowered_signal);
        add_num(o, "log10_p_floor", v->log10_p_floor);
        add_num(o, "p_floor", pow(10, v->log10_p_floor));
        add_num(o, "answers_needed", v->answers_needed ? (double)v->answers_needed : NAN);
        add_num(o, "controls_needed", v->controls_needed ? (double)v->controls_needed : NAN);
    }
    if (v->power_note[0])
        dt_json_add_string(o, "reason", v->power_note);
    else
        cJSON_AddNullToObject(o, "reason");
    return o;
}

static cJSON *attribution_json(const struct dt_compare_result *r)
{
    const struct dt_attribution_decision *a = &r->attribution;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddBoolToObject(o, "decided", a->decided);
    dt_json_add_string(o, "best", r->parties[r->outcomes[a->i_best].i_teacher].name);
    dt_json_add_string(o, "runner_up", r->parties[r->outcomes[a->i_runner_up].i_teacher].name);
    add_num(o, "margin_p", a->p_margin);
    dt_json_add_string(o, "signal", a->signal);
    dt_json_add_string(o, "test", a->test);
    dt_json_add_string(o, "reason", a->reason);
    return o;
}

cJSON *dt_compare_signal_json(const struct dt_compare_result *r, size_t i_outcome, size_t i_signal,
                              double alpha)
{
    const struct dt_compare_outcome *o = &r->outcomes[i_outcome];
    const struct dt_measurement *m = &o->ms[i_signal];
    const struct dt_signal_result *sr = &o->verdict.signals[i_signal];
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    /* the status and title the reports show, derived exactly as they derive them */
    struct dt_report_signal rs = {0};
    rs.klass = (char *)dt_signal_class_name(m->cls);
    rs.applicable = m->applicable;
    rs.significant = sr->tested && sr->significant;
    rs.p_value = sr->tested ? sr->p_value : NAN;
    const struct dt_signal_def *def = dt_signal_find(m->name);
    dt_json_add_string(s, "name", m->name);
    dt_json_add_string(s, "title", def && def->text.title ? def->text.title : m->name);
    dt_json_add_string(s, "class", dt_signal_class_name(m->cls));
    cJSON_AddStringToObject(s, "status", dt_report_status_key(dt_report_signal_status(&rs)));
    cJSON_AddBoolToObject(s, "applicable", m->applicable);
    if (sr->tested)
        dt_json_add_string(s, "test", sr->test);
    else
        cJSON_AddNullToObject(s, "test");
    add_num(s, "statistic", m->statistic);
    add_num(s, "p_value", sr->tested ? sr->p_value : NAN);
    add_num(s, "p_adjusted", sr->tested ? sr->p_adjusted : NAN);
    add_num(s, "log10_p_value", sr->tested ? sr->log10_p : NAN);
    add_num(s, "log10_p_adjusted", sr->tested ? sr->log10_p_adjusted : NAN);
    cJSON_AddBoolToObject(s, "significant", sr->tested && sr->significant);
    add_num(s, "alpha", alpha);
    add_num(s, "effect", sr->effect);
    if (isfinite(sr->ci_low) && isfinite(sr->ci_high)) {
        cJSON *ci = cJSON_AddArrayToObject(s, "ci");
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(sr->ci_low));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(sr->ci_high));
    }
    dt_json_add_string(s, "note", m->note);
    dt_json_add_string(s, "suspect_name", r->parties[0].name);
    cJSON *ctl = cJSON_AddArrayToObject(s, "controls");
    for (size_t j = 0; j < m->n_controls && j < r->n_controls; j++) {
        cJSON *c = cJSON_CreateObject();
        dt_json_add_string(c, "name", r->parties[1 + j].name);
        add_num(c, "statistic", m->control_stats[j]);
        if (m->test == DT_TEST_RATE) {
            cJSON_AddNumberToObject(c, "hits", (double)m->c_hits[j]);
            cJSON_AddNumberToObject(c, "n", (double)m->c_n[j]);
        }
        cJSON_AddItemToArray(ctl, c);
    }
    if (m->test == DT_TEST_RATE) {
        cJSON_AddNumberToObject(s, "hits", (double)m->s_hits);
        cJSON_AddNumberToObject(s, "n", (double)m->s_n);
    }
    if (m->details)
        cJSON_AddItemToObject(s, "details", cJSON_Duplicate(m->details, 1));
    return s;
}

static const char *role_name(enum dt_party_role r)
{
    switch (r) {
    case DT_ROLE_TEACHER: return "teacher";
    case DT_ROLE_SUSPECT: return "suspect";
    case DT_ROLE_CONTROL: return "control";
    case DT_ROLE_CANDIDATE: return "candidate";
    }
    return "unknown";
}

/* The parties: who each is, what it was read from, how its chat probes were wrapped, how
 * many answers it gave and lacked. Stored in the verdict row too, so a report shows the same. */
static cJSON *models_json(const struct dt_compare_result *r, const struct dt_compare_params *p,
                          const int64_t *model_ids)
{
    cJSON *models = cJSON_CreateArray();
    for (size_t i = 0; models && i < r->n_parties; i++) {
        const struct dt_party *pa = &r->parties[i];
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(models, m)) {
            cJSON_Delete(m);
            break;
        }
        dt_json_add_string(m, "role", role_name(pa->role));
        dt_json_add_string(m, "name", pa->name);
        if (pa->path) {
            /* absolute, as the store records it, so the path means one thing everywhere */
            char *abs = realpath(pa->path, NULL);
            dt_json_add_string(m, "path", abs ? abs : pa->path);
            free(abs);
        }
        if (model_ids)
            cJSON_AddNumberToObject(m, "model_id", (double)model_ids[i]);
        dt_json_add_string(m, "source", pa->model ? "weights" : "transcripts");
        if (pa->model) {
            const struct dt_model_config *cfg = dt_model_config(pa->model);
            dt_json_add_string(m, "format",
                               dt_model_format(pa->model) == DT_FORMAT_GGUF ? "gguf" : "safetensors");
            dt_json_add_string(m, "arch", cfg->arch->name);
            cJSON_AddNumberToObject(m, "n_params", (double)dt_model_n_params(pa->model));
            dt_json_add_string(m, "tokenizer_hash", dt_tokenizer_hash(pa->tok));
            /* the arithmetic its scoring took (compute.h): q8 only where it changed something */
            dt_json_add_string(m, "scoring", dt_ctx_scoring_used(pa->ctx));
        } else {
            dt_json_add_string(m, "format", "api");
        }
        if (pa->chat_template)
            dt_json_add_string(m, "chat_template", pa->chat_template);
        if (pa->model) { /* which chat format wrapped this party's chat probes */
            cJSON *ct = cJSON_AddObjectToObject(m, "chat_format");
            dt_json_add_string(ct, "kind", dt_chat_template_name(pa->chat));
            dt_json_add_string(ct, "description", dt_chat_template_describe(pa->chat));
            if (dt_chat_template_sha256(pa->chat)) {
                dt_json_add_string(ct, "sha256", dt_chat_template_sha256(pa->chat));
                cJSON_AddNumberToObject(ct, "bytes", (double)dt_chat_template_n_bytes(pa->chat));
            }
        }
        cJSON_AddNumberToObject(m, "answers", (double)pa->samples.n);
        /* answers this compare asked the party for and did not get (a transcript or panel
         * member that lacks the probe, a prompt too long for the model) */
        size_t missing = 0;
        for (int st = 0; st < DT_SET_COUNT; st++) {
            const struct dt_answers *a = &pa->answers[st];
            size_t ns = (size_t)(a->n_samples > 0 ? a->n_samples : 1), have = 0;
            for (size_t k = 0; a->text && k < a->n_probes * ns; k++)
                have += a->text[k] != NULL;
            size_t want = a->text ? a->n_probes * ns
                                  : r->n_prompts[st] * (st == DT_SET_IDENTITY ? (size_t)p->identity_samples : 1);
            missing += want > have ? want - have : 0;
        }
        cJSON_AddNumberToObject(m, "answers_missing", (double)missing);
    }
    return models;
}

static cJSON *candidates_json(const struct dt_compare_result *r)
{
    cJSON *cands = cJSON_CreateArray();
    for (size_t t = 0; cands && t < r->n_teachers; t++) {
        const struct dt_compare_outcome *o = &r->outcomes[t];
        cJSON *c = cJSON_CreateObject();
        if (!c || !cJSON_AddItemToArray(cands, c)) {
            cJSON_Delete(c);
            break;
        }
        dt_json_add_string(c, "teacher", r->parties[o->i_teacher].name);
        dt_json_add_string(c, "relation", dt_relation_name(o->verdict.relation));
        add_num(c, "p_value", o->verdict.p_value);
        cJSON_AddBoolToObject(c, "attributed", t == r->i_best);
    }
    return cands;
}

static cJSON *probes_json(const struct dt_compare_result *r, const struct dt_compare_params *p)
{
    cJSON *pr = cJSON_CreateObject();
    if (!pr)
        return NULL;
    dt_json_add_string(pr, "source", r->probe_source);
    cJSON_AddNumberToObject(pr, "identity", (double)r->n_prompts[DT_SET_IDENTITY]);
    cJSON_AddNumberToObject(pr, "chat", (double)r->n_prompts[DT_SET_CHAT]);
    cJSON_AddNumberToObject(pr, "text", (double)r->n_prompts[DT_SET_TEXT]);
    cJSON_AddNumberToObject(pr, "seed", (double)p->seed);
    return pr;
}

static cJSON *timing_json(const struct dt_compare_result *r)
{
    cJSON *tm = cJSON_CreateObject();
    if (!tm)
        return NULL;
    cJSON_AddNumberToObject(tm, "load_s", r->seconds_load);
    cJSON_AddNumberToObject(tm, "collect_s", r->seconds_collect);
    cJSON_AddNumberToObject(tm, "signals_s", r->seconds_signals);
    cJSON_AddNumberToObject(tm, "total_s", r->seconds_total);
    cJSON_AddNumberToObject(tm, "generated_tokens", (double)r->n_generated_tokens);
    cJSON_AddNumberToObject(tm, "answers_generated", (double)r->n_answers_generated);
    cJSON_AddNumberToObject(tm, "answers_reused", (double)r->n_answers_reused);
    return tm;
}

/* The comparison's own verdict: with candidates, the attribution's relation and p-value. */
static double comparison_p(const struct dt_compare_result *r)
{
    return r->n_teachers > 1 ? r->attribution_p : r->outcomes[r->i_best].verdict.p_value;
}

cJSON *dt_compare_to_json(const struct dt_compare_result *r, const struct dt_compare_params *p,
                          int64_t run_id)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    const struct dt_compare_outcome *best = &r->outcomes[r->i_best];
    const struct dt_party *teacher = &r->parties[best->i_teacher];
    cJSON_AddStringToObject(root, "document", DT_COMPARISON_DOCUMENT);
    cJSON_AddNumberToObject(root, "document_version", DT_COMPARISON_VERSION);
    cJSON *run = cJSON_AddObjectToObject(root, "run");
    if (run_id > 0)
        cJSON_AddNumberToObject(run, "id", (double)run_id);
    else
        cJSON_AddNullToObject(run, "id");
    cJSON_AddStringToObject(run, "tool_version", DT_VERSION);
    cJSON *v = cJSON_AddObjectToObject(root, "verdict");
    dt_json_add_string(v, "relation", dt_relation_name(r->relation));
    cJSON_AddBoolToObject(v, "derived", dt_report_relation_is_derived(dt_relation_name(r->relation)));
    add_num(v, "p_value", comparison_p(r));
    if (r->n_teachers == 1)
        add_num(v, "log10_p_value", best->verdict.log10_p);
    cJSON_AddNumberToObject(v, "alpha", p->verdict.alpha);
    dt_json_add_string(v, "teacher", teacher->name);
    dt_json_add_string(v, "suspect", r->parties[0].name);
    cJSON *cn = cJSON_AddArrayToObject(v, "controls");
    for (size_t j = 0; cn && j < r->n_controls; j++)
        cJSON_AddItemToArray(cn, dt_json_string(r->parties[1 + j].name, strlen(r->parties[1 + j].name)));
    dt_json_add_string(v, "rationale", best->verdict.rationale);
    cJSON_AddItemToObject(v, "power", power_json(&best->verdict));
    if (r->n_teachers > 1)
        cJSON_AddItemToObject(v, "attribution", attribution_json(r));
    cJSON *sigs = cJSON_AddArrayToObject(root, "signals");
    for (size_t i = 0; i < best->n_ms; i++)
        cJSON_AddItemToArray(sigs, dt_compare_signal_json(r, r->i_best, i, p->verdict.alpha));
    if (r->n_teachers > 1)
        cJSON_AddItemToObject(root, "candidates", candidates_json(r));
    cJSON_AddItemToObject(root, "models", models_json(r, p, NULL));
    cJSON_AddItemToObject(root, "probes", probes_json(r, p));
    cJSON_AddItemToObject(root, "timing", timing_json(r));
    return root;
}

static int store_party(struct dt_store *s, int64_t run_id, const struct dt_party *pa,
                       const struct dt_compare_params *p, int64_t *model_id, struct dt_error *err)
{
    struct dt_store_model sm = {0};
    sm.name = pa->name;
    if (pa->model) {
        sm.path = pa->path;
        sm.format = dt_model_format(pa->model) == DT_FORMAT_GGUF ? "gguf" : "safetensors";
        sm.arch = dt_model_config(pa->model)->arch->name;
        sm.n_params = dt_model_n_params(pa->model);
        sm.tokenizer_hash = dt_tokenizer_hash(pa->tok);
    } else {
        sm.format = "api";
    }
    int rc = dt_store_model_upsert(s, &sm, model_id, err);
    if (rc || pa->samples.n == 0)
        return rc;
    char key[160], params[4096];
    snprintf(key, sizeof key, "compare:%lld:%s", (long long)run_id, pa->name);
    /* the chat format is part of how the answers were produced: record it per party */
    char *fmt = NULL;
    cJSON *fj = pa->model ? cJSON_CreateString(dt_chat_template_describe(pa->chat)) : NULL;
    if (fj)
        fmt = cJSON_PrintUnformatted(fj);
    cJSON_Delete(fj);
    snprintf(params, sizeof params,
             "{\"temperature\": %g, \"top_p\": %g, \"seed\": %llu, \"source\": \"%s\"%s%s%s%s%s}",
             (double)p->temperature, (double)p->top_p, (unsigned long long)p->seed,
             pa->model ? "local" : "transcript", fmt ? ", \"chat_format\": " : "", fmt ? fmt : "",
             pa->ctx ? ", \"scoring\": \"" : "",
             pa->ctx ? dt_ctx_scoring_used(pa->ctx) : "", pa->ctx ? "\"" : "");
    cJSON_free(fmt);
    int64_t coll = 0;
    int created = 0;
    if ((rc = dt_store_collection_open(s, key, *model_id, 0, pa->model ? "local" : "transcript",
                                       params, run_id, &coll, &created, err)))
        return rc;
    for (size_t i = 0; i < pa->samples.n && !rc; i++) {
        int inserted = 0;
        rc = dt_store_observation_insert(s, coll, run_id, &pa->samples.items[i], &inserted, err);
    }
    return rc;
}

int dt_compare_store(struct dt_store *s, int64_t run_id, const struct dt_compare_result *r,
                     const struct dt_compare_params *p, struct dt_error *err)
{
    int64_t *ids = dt_calloc(r->n_parties, sizeof *ids);
    if (!ids)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = dt_store_begin(s, err);
    if (rc) {
        dt_free(ids);
        return rc;
    }
    for (size_t i = 0; i < r->n_parties && !rc; i++)
        rc = store_party(s, run_id, &r->parties[i], p, &ids[i], err);
    for (size_t t = 0; t < r->n_teachers && !rc; t++) {
        const struct dt_compare_outcome *o = &r->outcomes[t];
        for (size_t i = 0; i < o->n_ms && !rc; i++) {
            const struct dt_measurement *m = &o->ms[i];
            const struct dt_signal_result *sr = &o->verdict.signals[i];
            cJSON *d = dt_compare_signal_json(r, t, i, p->verdict.alpha);
            char *dj = d ? cJSON_PrintUnformatted(d) : NULL;
            cJSON_Delete(d);
            if (!dj) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory");
                break;
            }
            struct dt_store_signal sig = {0};
            sig.run_id = run_id;
            sig.name = m->name;
            sig.teacher_model_id = ids[o->i_teacher];
            sig.suspect_model_id = ids[0];
            sig.test = sr->tested ? sr->test : NULL;
            sig.statistic = m->statistic;
            sig.p_value = sr->tested ? sr->p_value : NAN;
            sig.ci_low = sr->ci_low;
            sig.ci_high = sr->ci_high;
            sig.effect = sr->effect;
            sig.n = m->test == DT_TEST_RATE ? (int64_t)m->s_n : (int64_t)m->n_probes;
            sig.details_json = dj;
            int64_t sid;
            rc = dt_store_signal_insert(s, &sig, &sid, err);
            cJSON_free(dj);
        }
        if (rc)
            break;
        cJSON *vd = cJSON_CreateObject();
        dt_json_add_string(vd, "teacher", r->parties[o->i_teacher].name);
        dt_json_add_string(vd, "suspect", r->parties[0].name);
        cJSON_AddBoolToObject(vd, "attributed", t == r->i_best);
        cJSON_AddItemToObject(vd, "power", power_json(&o->verdict));
        if (r->n_teachers > 1)
            cJSON_AddItemToObject(vd, "attribution", attribution_json(r));
        cJSON *cn = cJSON_AddArrayToObject(vd, "controls");
        cJSON *ci = cJSON_AddArrayToObject(vd, "control_model_ids");
        for (size_t j = 0; j < r->n_controls; j++) {
            cJSON_AddItemToArray(cn, dt_json_string(r->parties[1 + j].name, strlen(r->parties[1 + j].name)));
            cJSON_AddItemToArray(ci, cJSON_CreateNumber((double)ids[1 + j]));
        }
        cJSON *cands = cJSON_AddArrayToObject(vd, "candidates");
        for (size_t c = 0; c < r->n_teachers; c++)
            {
            const char *nm = r->parties[r->outcomes[c].i_teacher].name;
            cJSON_AddItemToArray(cands, dt_json_string(nm, strlen(nm)));
        }
        cJSON *np = cJSON_AddObjectToObject(vd, "n_probes");
        cJSON_AddNumberToObject(np, "identity", (double)r->n_prompts[DT_SET_IDENTITY]);
        cJSON_AddNumberToObject(np, "chat", (double)r->n_prompts[DT_SET_CHAT]);
        cJSON_AddNumberToObject(np, "text", (double)r->n_prompts[DT_SET_TEXT]);
        dt_json_add_string(vd, "probe_source", r->probe_source);
        cJSON *tm = cJSON_AddObjectToObject(vd, "timing_s");
        cJSON_AddNumberToObject(tm, "load", r->seconds_load);
        cJSON_AddNumberToObject(tm, "collect", r->seconds_collect);
        cJSON_AddNumberToObject(tm, "signals", r->seconds_signals);
        cJSON_AddNumberToObject(tm, "total", r->seconds_total);
        /* what the report shows as the comparison document's verdict, parties, probes and
         * timing (render_json.c): the same objects compare --json printed */
        cJSON *cmp = cJSON_AddObjectToObject(vd, "comparison");
        dt_json_add_string(cmp, "relation", dt_relation_name(r->relation));
        add_num(cmp, "p_value", comparison_p(r));
        if (r->n_teachers == 1)
            add_num(cmp, "log10_p_value", o->verdict.log10_p);
        if (r->n_teachers > 1)
            cJSON_AddItemToObject(cmp, "candidates", candidates_json(r));
        cJSON_AddItemToObject(cmp, "models", models_json(r, p, ids));
        cJSON_AddItemToObject(cmp, "probes", probes_json(r, p));
        cJSON_AddItemToObject(cmp, "timing", timing_json(r));
        char *vj = cJSON_PrintUnformatted(vd);
        cJSON_Delete(vd);
        if (!vj) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            break;
        }
        struct dt_store_verdict sv = {0};
        sv.run_id = run_id;
        sv.teacher_model_id = ids[o->i_teacher];
        sv.suspect_model_id = ids[0];
        sv.relation = dt_relation_name(o->verdict.relation);
        sv.p_value = o->verdict.p_value;
        sv.alpha = p->verdict.alpha;
        sv.rationale = o->verdict.rationale;
        sv.details_json = vj;
        int64_t vid;
        rc = dt_store_verdict_insert(s, &sv, &vid, err);
        cJSON_free(vj);
    }
    if (rc)
        dt_store_rollback(s);
    else
        rc = dt_store_commit(s, err);
    dt_free(ids);
    return rc;
}

/*
 * The JSON report: everything the run recorded, machine-readable, with unknown numbers as
 * null. Shape: {"format": "distiltrace-report", "format_version": 1, "rendered_by", "run",
 * "verdict", "signals": [...], "inputs": [...], "evidence_sha256", "integrity"}; "integrity"
 * is the last member (see integrity.c). Signal details are embedded as parsed JSON.
 */
#include "reports/report.h"
#include "reports/report_internal.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static const char *status_key(enum dt_report_status st)
{
    switch (st) {
    case DT_SIG_EVIDENCE:
        return "evidence";
    case DT_SIG_NO_EVIDENCE:
        return "no-evidence";
    case DT_SIG_NOT_APPLICABLE:
        return "not-applicable";
    case DT_SIG_INFO:
        return "info";
    }
    return "unknown";
}

static cJSON *build(const struct dt_report *r)
{
    cJSON *root = cJSON_CreateObject(), *o, *arr;
    char buf[32];
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "format", "distiltrace-report");
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "rendered_by", "distiltrace " DT_VERSION);

    if ((o = cJSON_AddObjectToObject(root, "run"))) {
        cJSON_AddNumberToObject(o, "id", (double)r->run_id);
        add_str(o, "command", r->command);
        cJSON *argv = cJSON_Parse(r->argv_json ? r->argv_json : "[]");
        if (argv)
            cJSON_AddItemToObject(o, "argv", argv);
        char *cmd = dt_report_command_line(r);
        add_str(o, "command_line", cmd);
        dt_free(cmd);
        add_str(o, "tool_version", r->tool_version);
        if (r->has_seed) {
            snprintf(buf, sizeof buf, "%" PRIu64, r->seed);
            cJSON_AddStringToObject(o, "seed", buf);
        } else {
            cJSON_AddNullToObject(o, "seed");
        }
        if (r->threads)
            cJSON_AddNumberToObject(o, "threads", r->threads);
        else
            cJSON_AddNullToObject(o, "threads");
        add_str(o, "host", r->host);
        add_str(o, "started_at", r->started_at);
        add_str(o, "ended_at", r->ended_at);
        add_str(o, "status", r->status);
        if (r->has_exit_code)
            cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
        else
            cJSON_AddNullToObject(o, "exit_code");
    }
    if (!r->verdict.present) {
        cJSON_AddNullToObject(root, "verdict");
    } else if ((o = cJSON_AddObjectToObject(root, "verdict"))) {
        const struct dt_report_verdict *v = &r->verdict;
        struct dt_strbuf head = DT_STRBUF_INIT;
        add_str(o, "relation", v->relation);
        cJSON_AddBoolToObject(o, "derived", dt_report_relation_is_derived(v->relation));
        add_num(o, "p_value", v->p_value);
        add_num(o, "alpha", v->alpha);
        dt_report_headline(&head, r, 0);
        add_str(o, "headline", head.data);
        dt_strbuf_release(&head);
        add_str(o, "rationale", v->rationale);
        add_str(o, "teacher", v->teacher);
        add_str(o, "suspect", v->suspect);
        if ((arr = cJSON_AddArrayToObject(o, "controls")))
            for (size_t i = 0; i < v->n_controls; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateString(v->controls[i]));
        cJSON *d = v->details_json ? cJSON_Parse(v->details_json) : NULL;
        if (d)
            cJSON_AddItemToObject(o, "details", d);
    }
    if ((arr = cJSON_AddArrayToObject(root, "signals"))) {
        for (size_t i = 0; i < r->n_signals; i++) {
            const struct dt_report_signal *g = &r->signals[i];
            const struct dt_signal_text *t = dt_report_signal_text(g->name);
            cJSON *s = cJSON_CreateObject(), *ctl;
            if (!s || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                break;
            }
            add_str(s, "name", g->name);
            add_str(s, "title", t->title ? t->title : g->name);
            add_str(s, "class", g->klass);
            cJSON_AddStringToObject(s, "status", status_key(dt_report_signal_status(g)));
            add_str(s, "test", g->test);
            add_num(s, "statistic", g->statistic);
            add_num(s, "p_value", g->p_value);
            add_num(s, "p_adjusted", g->p_adjusted);
            add_num(s, "alpha", g->alpha);
            add_num(s, "ci_low", g->ci_low);
            add_num(s, "ci_high", g->ci_high);
            add_num(s, "effect", g->effect);
            if (g->n >= 0)
                cJSON_AddNumberToObject(s, "n", (double)g->n);
            else
                cJSON_AddNullToObject(s, "n");
            cJSON_AddBoolToObject(s, "applicable", g->applicable);
            cJSON_AddBoolToObject(s, "significant", g->significant);
            add_str(s, "note", g->note);
            add_str(s, "suspect_name", g->suspect_name);
            if ((ctl = cJSON_AddArrayToObject(s, "controls"))) {
                for (size_t k = 0; k < g->n_controls; k++) {
                    cJSON *c = cJSON_CreateObject();
                    if (!c || !cJSON_AddItemToArray(ctl, c)) {
                        cJSON_Delete(c);
                        break;
                    }
                    add_str(c, "name", g->controls[k].name);
                    add_num(c, "statistic", g->controls[k].statistic);
                }
            }
            cJSON *d = g->details_json ? cJSON_Parse(g->details_json) : NULL;
            if (d)
                cJSON_AddItemToObject(s, "details", d);
        }
    }
    if ((arr = cJSON_AddArrayToObject(root, "inputs"))) {
        for (size_t i = 0; i < r->n_inputs; i++) {
            const struct dt_report_input *in = &r->inputs[i];
            cJSON *m = cJSON_CreateObject();
            if (!m || !cJSON_AddItemToArray(arr, m)) {
                cJSON_Delete(m);
                break;
            }
            add_str(m, "role", in->role);
            add_str(m, "name", in->name);
            add_str(m, "path", in->path);
            if (in->size_bytes >= 0)
                cJSON_AddNumberToObject(m, "size_bytes", (double)in->size_bytes);
            else
                cJSON_AddNullToObject(m, "size_bytes");
            add_str(m, "sha256", in->sha256);
            add_str(m, "xxh128", in->xxh128);
            add_str(m, "format", in->format);
            add_str(m, "arch", in->arch);
            if (in->n_params > 0)
                cJSON_AddNumberToObject(m, "n_params", (double)in->n_params);
            else
                cJSON_AddNullToObject(m, "n_params");
            add_str(m, "tokenizer_hash", in->tokenizer_hash);
            if (in->chat_format)
                add_str(m, "chat_format", in->chat_format);
        }
    }
    cJSON_AddStringToObject(root, "evidence_sha256", r->evidence_sha256);
    return root;
}

int dt_report_render_json(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, DT_REPORT_JSON);
    cJSON *root = build(r), *ri = rec ? cJSON_Parse(rec) : NULL;
    char *s = NULL;
    int rc = DT_ENOMEM;
    if (root && ri && cJSON_AddItemToObject(root, "integrity", ri)) {
        ri = NULL;
        if ((s = cJSON_Print(root))) {
            dt_strbuf_puts(out, s);
            dt_strbuf_putc(out, '\n');
            rc = dt_strbuf_failed(out) ? DT_ENOMEM : 0;
        }
    }
    cJSON_free(s);
    cJSON_Delete(ri);
    cJSON_Delete(root);
    dt_free(rec);
    return rc;
}

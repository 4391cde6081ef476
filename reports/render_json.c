/*
 * The JSON report: the comparison document of compare --json (run/compare_out.h,
 * docs/schema/comparison.schema.json) rendered from the store, plus what only a stored run
 * has: the run's full record, the headline, each model's hashes, "evidence_sha256" and the
 * "integrity" record, always the last member (see integrity.c). Unknown numbers are null.
 * Each key means what it means in compare --json: a signal's "details" are the signal's own
 * details, the models' roles and chat formats are those compare recorded.
 */
#include "reports/report.h"
#include "reports/integrity.h"
#include "reports/report_internal.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

static void add_int_or_null(cJSON *o, const char *k, int64_t v, int known)
{
    if (known)
        cJSON_AddNumberToObject(o, k, (double)v);
    else
        cJSON_AddNullToObject(o, k);
}

/* A copy of member k of o (NULL when absent). */
static cJSON *dup_member(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v ? cJSON_Duplicate(v, 1) : NULL;
}

static int has(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k) != NULL;
}

/* Member k of o set to v (null when not finite), in place when present. */
static void set_num(cJSON *o, const char *k, double v)
{
    cJSON *x = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    if (x && has(o, k) && !cJSON_ReplaceItemInObjectCaseSensitive(o, k, x))
        cJSON_Delete(x);
    else if (x && !has(o, k) && !cJSON_AddItemToObject(o, k, x))
        cJSON_Delete(x);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON *x = v ? cJSON_CreateString(v) : cJSON_CreateNull();
    if (x && has(o, k) && !cJSON_ReplaceItemInObjectCaseSensitive(o, k, x))
        cJSON_Delete(x);
    else if (x && !has(o, k) && !cJSON_AddItemToObject(o, k, x))
        cJSON_Delete(x);
}

static cJSON *run_json(const struct dt_report *r)
{
    cJSON *o = cJSON_CreateObject();
    char buf[32];
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->run_id);
    add_str(o, "tool_version", r->tool_version);
    add_str(o, "command", r->command);
    cJSON *argv = cJSON_Parse(r->argv_json ? r->argv_json : "[]");
    if (argv)
        cJSON_AddItemToObject(o, "argv", argv);
    char *cmd = dt_report_command_line(r);
    add_str(o, "command_line", cmd);
    dt_free(cmd);
    if (r->has_seed) {
        snprintf(buf, sizeof buf, "%" PRIu64, r->seed);
        cJSON_AddStringToObject(o, "seed", buf);
    } else {
        cJSON_AddNullToObject(o, "seed");
    }
    add_int_or_null(o, "threads", r->threads, r->threads != 0);
    add_str(o, "host", r->host);
    add_str(o, "started_at", r->started_at);
    add_str(o, "ended_at", r->ended_at);
    add_str(o, "status", r->status);
    add_int_or_null(o, "exit_code", r->exit_code, r->has_exit_code);
    return o;
}

/* The verdict in compare --json's key order; cmp is the stored comparison object. */
static cJSON *verdict_json(const struct dt_report *r, const cJSON *details, const cJSON *cmp)
{
    const struct dt_report_verdict *v = &r->verdict;
    cJSON *o = cJSON_CreateObject(), *arr, *x;
    struct dt_strbuf head = DT_STRBUF_INIT;
    if (!o)
        return NULL;
    add_str(o, "relation", v->relation);
    cJSON_AddBoolToObject(o, "derived", dt_report_relation_is_derived(v->relation));
    add_num(o, "p_value", v->p_value);
    if ((x = dup_member(cmp, "log10_p_value")))
        cJSON_AddItemToObject(o, "log10_p_value", x);
    add_num(o, "alpha", v->alpha);
    add_str(o, "teacher", v->teacher);
    add_str(o, "suspect", v->suspect);
    if ((arr = cJSON_AddArrayToObject(o, "controls")))
        for (size_t i = 0; i < v->n_controls; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(v->controls[i]));
    add_str(o, "rationale", v->rationale);
    dt_report_headline(&head, r, 0);
    add_str(o, "headline", head.data);
    dt_strbuf_release(&head);
    if ((x = dup_member(details, "power")))
        cJSON_AddItemToObject(o, "power", x);
    if ((x = dup_member(details, "attribution")))
        cJSON_AddItemToObject(o, "attribution", x);
    return o;
}

/*
 * A signal: the object compare --json printed for it (the row's details, as compare stored
 * them), with the keys of the document that an older or hand-written row lacks filled in
 * from the row, and the title and status the reports show.
 */
static cJSON *signal_json(const struct dt_report_signal *g)
{
    const struct dt_signal_text *t = dt_report_signal_text(g->name);
    cJSON *d = g->details_json ? cJSON_Parse(g->details_json) : NULL, *s = cJSON_CreateObject();
    if (!s) {
        cJSON_Delete(d);
        return NULL;
    }
    /* compare's key order: name, title, class, status, then the rest as stored */
    add_str(s, "name", g->name);
    add_str(s, "title", t->title ? t->title : g->name);
    add_str(s, "class", g->klass);
    cJSON_AddStringToObject(s, "status", dt_report_status_key(dt_report_signal_status(g)));
    while (cJSON_IsObject(d) && d->child) {
        cJSON *it = cJSON_DetachItemViaPointer(d, d->child);
        if (has(s, it->string)) {
            cJSON_Delete(it);
            continue;
        }
        cJSON_AddItemToObject(s, it->string, it);
    }
    cJSON_Delete(d);
    if (!has(s, "applicable"))
        cJSON_AddBoolToObject(s, "applicable", g->applicable);
    /* the row's columns are what the other formats show: they win over the details */
    set_str(s, "test", g->test);
    set_num(s, "statistic", g->statistic);
    set_num(s, "p_value", g->p_value);
    if (!has(s, "p_adjusted"))
        add_num(s, "p_adjusted", g->p_adjusted);
    if (!has(s, "significant"))
        cJSON_AddBoolToObject(s, "significant", g->significant);
    if (!has(s, "alpha"))
        add_num(s, "alpha", g->alpha);
    set_num(s, "effect", g->effect);
    if (!has(s, "ci") && isfinite(g->ci_low) && isfinite(g->ci_high)) {
        cJSON *ci = cJSON_AddArrayToObject(s, "ci");
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(g->ci_low));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(g->ci_high));
    }
    if (!has(s, "note"))
        add_str(s, "note", g->note);
    if (!has(s, "controls")) {
        cJSON *ctl = cJSON_AddArrayToObject(s, "controls");
        for (size_t k = 0; ctl && k < g->n_controls; k++) {
            cJSON *c = cJSON_CreateObject();
            if (!c || !cJSON_AddItemToArray(ctl, c)) {
                cJSON_Delete(c);
                break;
            }
            add_str(c, "name", g->controls[k].name);
            add_num(c, "statistic", g->controls[k].statistic);
        }
    }
    return s;
}

static const struct dt_report_input *input_by_id(const struct dt_report *r, int64_t id)
{
    for (size_t i = 0; i < r->n_inputs; i++)
        if (r->inputs[i].model_id == id)
            return &r->inputs[i];
    return NULL;
}

/* What only the store knows about a model: its content hashes and size. */
static void add_custody(cJSON *m, const struct dt_report_input *in)
{
    if (!in)
        return;
    if (!has(m, "path"))
        add_str(m, "path", in->path);
    add_int_or_null(m, "size_bytes", in->size_bytes, in->size_bytes >= 0);
    add_str(m, "sha256", in->sha256);
    add_str(m, "xxh128", in->xxh128);
}

/* The parties: as compare recorded them in the verdict row, else (a store written before it
 * did) from the models the run read. */
static cJSON *models_json(const struct dt_report *r, const cJSON *cmp)
{
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(cmp, "models"), *it;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    if (cJSON_IsArray(stored)) {
        cJSON_ArrayForEach(it, stored)
        {
            cJSON *m = cJSON_Duplicate(it, 1);
            if (!m || !cJSON_AddItemToArray(arr, m)) {
                cJSON_Delete(m);
                break;
            }
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "model_id");
            add_custody(m, cJSON_IsNumber(id) ? input_by_id(r, (int64_t)id->valuedouble) : NULL);
        }
        return arr;
    }
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
        cJSON_AddNumberToObject(m, "model_id", (double)in->model_id);
        int api = in->format && !strcmp(in->format, "api");
        cJSON_AddStringToObject(m, "source", api ? "transcripts" : "weights");
        add_str(m, "format", in->format);
        add_str(m, "arch", in->arch);
        add_int_or_null(m, "n_params", in->n_params, in->n_params > 0);
        add_str(m, "tokenizer_hash", in->tokenizer_hash);
        if (in->scoring)
            add_str(m, "scoring", in->scoring);
        if (in->chat_format) {
            cJSON *ct = cJSON_AddObjectToObject(m, "chat_format");
            cJSON_AddStringToObject(ct, "description", in->chat_format);
        }
        add_custody(m, in);
    }
    return arr;
}

/* Probes and timing as compare recorded them, else from the older details keys. */
static cJSON *probes_json(const struct dt_report *r, const cJSON *details, const cJSON *cmp)
{
    cJSON *o = dup_member(cmp, "probes");
    if (o)
        return o;
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(details, "n_probes");
    if (!(o = cJSON_CreateObject()))
        return NULL;
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(details, "probe_source"));
    if (src)
        cJSON_AddStringToObject(o, "source", src);
    static const char *const sets[] = {"identity", "chat", "text"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(np, sets[i]);
        cJSON_AddNumberToObject(o, sets[i], cJSON_IsNumber(n) ? n->valuedouble : 0);
    }
    if (r->has_seed)
        cJSON_AddNumberToObject(o, "seed", (double)r->seed);
    return o;
}

static cJSON *timing_json(const cJSON *details, const cJSON *cmp)
{
    cJSON *o = dup_member(cmp, "timing");
    if (o)
        return o;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(details, "timing_s");
    if (!(o = cJSON_CreateObject()))
        return NULL;
    static const char *const from[] = {"load", "collect", "signals", "total"};
    static const char *const to[] = {"load_s", "collect_s", "signals_s", "total_s"};
    for (size_t i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ts, from[i]);
        if (cJSON_IsNumber(v))
            cJSON_AddNumberToObject(o, to[i], v->valuedouble);
    }
    return o;
}

static cJSON *build(const struct dt_report *r)
{
    cJSON *root = cJSON_CreateObject(), *arr, *x;
    cJSON *details = r->verdict.details_json ? cJSON_Parse(r->verdict.details_json) : NULL;
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(details, "comparison");
    if (!root) {
        cJSON_Delete(details);
        return NULL;
    }
    cJSON_AddStringToObject(root, "document", DT_COMPARISON_DOCUMENT);
    cJSON_AddNumberToObject(root, "document_version", DT_COMPARISON_VERSION);
    cJSON_AddStringToObject(root, "rendered_by", "distiltrace " DT_VERSION);
    cJSON_AddItemToObject(root, "run", run_json(r));
    if (!r->verdict.present)
        cJSON_AddNullToObject(root, "verdict");
    else
        cJSON_AddItemToObject(root, "verdict", verdict_json(r, details, cmp));
    if ((arr = cJSON_AddArrayToObject(root, "signals"))) {
        for (size_t i = 0; i < r->n_signals; i++) {
            cJSON *s = signal_json(&r->signals[i]);
            if (!s || !cJSON_AddItemToArray(arr, s)) {
                cJSON_Delete(s);
                break;
            }
        }
    }
    if ((x = dup_member(cmp, "candidates")))
        cJSON_AddItemToObject(root, "candidates", x);
    cJSON_AddItemToObject(root, "models", models_json(r, cmp));
    cJSON_AddItemToObject(root, "probes", probes_json(r, details, cmp));
    cJSON_AddItemToObject(root, "timing", timing_json(details, cmp));
    cJSON_AddStringToObject(root, "evidence_sha256", r->evidence_sha256);
    cJSON_Delete(details);
    return root;
}

static int render(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, "json");
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

static int sniff(const char *d, size_t n)
{
    size_t i = dt_report_skip_space(d, n);
    return i < n && d[i] == '{' ? 2 : 0;
}

static char *extract(const char *d, size_t n)
{
    cJSON *root = cJSON_ParseWithLength(d, n);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(root, "integrity");
    char *s = cJSON_IsObject(rec) ? cJSON_PrintUnformatted(rec) : NULL;
    char *copy = s ? dt_strdup(s) : NULL;
    cJSON_free(s);
    cJSON_Delete(root);
    return copy;
}

const struct dt_report_format dt_report_format_json = {
    "json", NULL, "the comparison document (docs/json.md) with its integrity record", render, sniff, extract,
};

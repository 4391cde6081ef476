/*
 * SARIF 2.1.0 (OASIS static analysis results format), as code-scanning services ingest it:
 * one run, tool.driver with one rule per signal (plus "verdict"), the run's invocation
 * (command line, times, exit code) and the models read as artifacts with their SHA-256.
 *
 * Results are alerts, and a code-scanning service shows every one of them, so they follow the
 * release gate (dt_report_gate_fails) like the JUnit report: when the gate fails, one "error"
 * result for the verdict and one for each signal that is part of the evidence (closeness
 * "warning"); when it passes, no result, except one "note" carrying the reason of an
 * inconclusive verdict. Signals without evidence produce no alert. Each result points at the
 * suspect model file (line 1: a model is binary) and carries a partial fingerprint built from
 * the rule, teacher and suspect so that reruns update one alert rather than open new ones.
 * The integrity record is the last run property, "distiltrace/integrity".
 */
#include "reports/report.h"
#include "reports/report_internal.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A URI reference for a path: "file://" + percent-encoded path when absolute, the encoded
 * relative reference otherwise (heap, dt_free). */
static char *path_uri(const char *path)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (path[0] == '/')
        dt_strbuf_puts(&sb, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p))
            dt_strbuf_putc(&sb, (char)*p);
        else
            dt_strbuf_printf(&sb, "%%%02X", *p);
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return NULL;
    }
    return dt_strbuf_detach(&sb, NULL);
}

static cJSON *text_obj(const char *text)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "text", text ? text : "");
    return o;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *location(const char *uri, int index)
{
    cJSON *locs = cJSON_CreateArray(), *loc = cJSON_CreateObject(), *phys, *art;
    if (!locs || !loc || !cJSON_AddItemToArray(locs, loc)) {
        cJSON_Delete(locs);
        cJSON_Delete(loc);
        return NULL;
    }
    if ((phys = cJSON_AddObjectToObject(loc, "physicalLocation")) &&
        (art = cJSON_AddObjectToObject(phys, "artifactLocation"))) {
        cJSON_AddStringToObject(art, "uri", uri);
        if (index >= 0)
            cJSON_AddNumberToObject(art, "index", index);
        cJSON *reg = cJSON_AddObjectToObject(phys, "region");
        if (reg)
            cJSON_AddNumberToObject(reg, "startLine", 1);
    }
    return locs;
}

static cJSON *build(const struct dt_report *r)
{
    const struct dt_report_verdict *v = &r->verdict;
    cJSON *root = cJSON_CreateObject(), *runs, *run, *tool, *driver, *rules, *results, *arts;
    char *suspect_uri = NULL;
    int suspect_index = -1;
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    cJSON_AddStringToObject(root, "version", "2.1.0");
    if (!(runs = cJSON_AddArrayToObject(root, "runs")) || !(run = cJSON_CreateObject()) ||
        !cJSON_AddItemToArray(runs, run))
        goto fail;
    if (!(tool = cJSON_AddObjectToObject(run, "tool")) ||
        !(driver = cJSON_AddObjectToObject(tool, "driver")))
        goto fail;
    cJSON_AddStringToObject(driver, "name", "distiltrace");
    cJSON_AddStringToObject(driver, "version", DT_VERSION);
    cJSON_AddStringToObject(driver, "semanticVersion", DT_VERSION);
    cJSON_AddStringToObject(driver, "informationUri", DT_DOC_URI);
    if (!(rules = cJSON_AddArrayToObject(driver, "rules")))
        goto fail;
    for (size_t i = 0; i <= r->n_signals; i++) {
        cJSON *rule = cJSON_CreateObject(), *cfg, *props;
        if (!rule || !cJSON_AddItemToArray(rules, rule)) {
            cJSON_Delete(rule);
            goto fail;
        }
        if (i == 0) {
            cJSON_AddStringToObject(rule, "id", "verdict");
            cJSON_AddStringToObject(rule, "name", "Verdict");
            cJSON_AddItemToObject(rule, "shortDescription",
                                  text_obj("Whether the suspect model derives from the teacher"));
            cJSON_AddItemToObject(rule, "fullDescription", text_obj(dt_report_method_text[2]));
            if ((cfg = cJSON_AddObjectToObject(rule, "defaultConfiguration")))
                cJSON_AddStringToObject(cfg, "level", "error");
            continue;
        }
        const struct dt_report_signal *g = &r->signals[i - 1];
        const struct dt_signal_text *t = dt_report_signal_text(g->name);
        cJSON_AddStringToObject(rule, "id", g->name);
        cJSON_AddStringToObject(rule, "name", t->title ? t->title : g->name);
        cJSON_AddItemToObject(rule, "shortDescription", text_obj(t->title ? t->title : g->name));
        cJSON_AddItemToObject(rule, "fullDescription", text_obj(t->what));
        if ((cfg = cJSON_AddObjectToObject(rule, "defaultConfiguration")))
            cJSON_AddStringToObject(
                cfg, "level", g->klass && !strcmp(g->klass, "closeness") ? "warning" : "error");
        if ((props = cJSON_AddObjectToObject(rule, "properties"))) {
            cJSON_AddStringToObject(props, "class", g->klass ? g->klass : "unclassified");
            cJSON_AddStringToObject(props, "limits", t->limits);
        }
    }

    cJSON *invs = cJSON_AddArrayToObject(run, "invocations"), *inv = cJSON_CreateObject();
    if (!invs || !inv || !cJSON_AddItemToArray(invs, inv)) {
        cJSON_Delete(inv);
        goto fail;
    }
    cJSON_AddBoolToObject(inv, "executionSuccessful",
                          r->status && strcmp(r->status, "failed") != 0);
    char *cmd = dt_report_command_line(r);
    if (cmd)
        cJSON_AddStringToObject(inv, "commandLine", cmd);
    dt_free(cmd);
    cJSON *argv = cJSON_Parse(r->argv_json ? r->argv_json : "[]");
    if (argv)
        cJSON_AddItemToObject(inv, "arguments", argv);
    if (r->started_at)
        cJSON_AddStringToObject(inv, "startTimeUtc", r->started_at);
    if (r->ended_at)
        cJSON_AddStringToObject(inv, "endTimeUtc", r->ended_at);
    if (r->has_exit_code)
        cJSON_AddNumberToObject(inv, "exitCode", r->exit_code);
    if (r->host)
        cJSON_AddStringToObject(inv, "machine", r->host);

    if (!(arts = cJSON_AddArrayToObject(run, "artifacts")))
        goto fail;
    int n_art = 0;
    for (size_t i = 0; i < r->n_inputs; i++) {
        const struct dt_report_input *in = &r->inputs[i];
        if (!in->path)
            continue;
        char *uri = path_uri(in->path);
        cJSON *a = cJSON_CreateObject(), *loc, *hashes, *roles;
        if (!uri || !a || !cJSON_AddItemToArray(arts, a)) {
            dt_free(uri);
            cJSON_Delete(a);
            goto fail;
        }
        if ((loc = cJSON_AddObjectToObject(a, "location")))
            cJSON_AddStringToObject(loc, "uri", uri);
        if (in->size_bytes >= 0)
            cJSON_AddNumberToObject(a, "length", (double)in->size_bytes);
        if (in->sha256 && (hashes = cJSON_AddObjectToObject(a, "hashes")))
            cJSON_AddStringToObject(hashes, "sha-256", in->sha256);
        struct dt_strbuf d = DT_STRBUF_INIT;
        dt_strbuf_printf(&d, "%s: %s", in->role, in->name ? in->name : "");
        cJSON_AddItemToObject(a, "description", text_obj(d.data));
        dt_strbuf_release(&d);
        int is_suspect = !strcmp(in->role, "suspect");
        if ((roles = cJSON_AddArrayToObject(a, "roles")))
            cJSON_AddItemToArray(roles, cJSON_CreateString(is_suspect ? "analysisTarget"
                                                                      : "referencedOnCommandLine"));
        if (is_suspect && !suspect_uri) {
            suspect_uri = uri;
            suspect_index = n_art;
        } else {
            dt_free(uri);
        }
        n_art++;
    }

    if (!(results = cJSON_AddArrayToObject(run, "results")))
        goto fail;
    int gate_fails = dt_report_gate_fails(r);
    int inconclusive = v->present && !strcmp(v->relation, "inconclusive");
    for (size_t i = 0; i <= r->n_signals; i++) {
        if (i == 0 ? !(gate_fails || inconclusive)
                   : !(gate_fails && dt_report_signal_status(&r->signals[i - 1]) == DT_SIG_EVIDENCE))
            continue;
        cJSON *res = cJSON_CreateObject(), *props, *fp;
        struct dt_strbuf msg = DT_STRBUF_INIT;
        char a[40], b[40];
        const char *level;
        if (!res || !cJSON_AddItemToArray(results, res)) {
            cJSON_Delete(res);
            goto fail;
        }
        if (i == 0) {
            /* SARIF: a kind other than "fail" takes level "none" */
            level = gate_fails ? "error" : "none";
            dt_report_headline(&msg, r, 0);
            if (v->rationale) {
                dt_strbuf_putc(&msg, ' ');
                dt_strbuf_puts(&msg, v->rationale);
            }
            cJSON_AddStringToObject(res, "ruleId", "verdict");
        } else {
            const struct dt_report_signal *g = &r->signals[i - 1];
            enum dt_report_status st = dt_report_signal_status(g);
            level = g->klass && !strcmp(g->klass, "closeness") ? "warning" : "error";
            dt_report_fmt_p(a, sizeof a, isfinite(g->p_adjusted) ? g->p_adjusted : g->p_value);
            dt_report_fmt_p(b, sizeof b, g->alpha);
            dt_strbuf_printf(&msg, "%s: %s (p = %s, alpha = %s).", g->name,
                             dt_report_status_label(st), a, b);
            if (g->note) {
                dt_strbuf_putc(&msg, ' ');
                dt_strbuf_puts(&msg, g->note);
            }
            cJSON_AddStringToObject(res, "ruleId", g->name);
        }
        cJSON_AddNumberToObject(res, "ruleIndex", (double)i);
        cJSON_AddStringToObject(res, "kind", gate_fails ? "fail" : "review");
        cJSON_AddStringToObject(res, "level", level);
        if ((fp = cJSON_AddObjectToObject(res, "partialFingerprints"))) {
            struct dt_strbuf key = DT_STRBUF_INIT;
            char hex[DT_SHA256_HEX_LEN + 1];
            dt_strbuf_printf(&key, "%s\n%s\n%s", i == 0 ? "verdict" : r->signals[i - 1].name,
                             v->teacher ? v->teacher : "", v->suspect ? v->suspect : "");
            if (!dt_strbuf_failed(&key)) {
                dt_hash_sha256_hex(key.data, key.len, hex);
                cJSON_AddStringToObject(fp, "distiltrace/v1", hex);
            }
            dt_strbuf_release(&key);
        }
        cJSON_AddItemToObject(res, "message", text_obj(msg.data ? msg.data : ""));
        int oom = dt_strbuf_failed(&msg);
        dt_strbuf_release(&msg);
        if (oom)
            goto fail;
        if (suspect_uri) {
            cJSON *locs = location(suspect_uri, suspect_index);
            if (locs)
                cJSON_AddItemToObject(res, "locations", locs);
        }
        if ((props = cJSON_AddObjectToObject(res, "properties"))) {
            if (i == 0) {
                cJSON_AddStringToObject(props, "relation", v->present ? v->relation : "none");
                add_num(props, "p_value", v->p_value);
                add_num(props, "alpha", v->alpha);
            } else {
                const struct dt_report_signal *g = &r->signals[i - 1];
                add_num(props, "statistic", g->statistic);
                add_num(props, "p_value", g->p_value);
                add_num(props, "p_adjusted", g->p_adjusted);
                add_num(props, "alpha", g->alpha);
                cJSON_AddBoolToObject(props, "applicable", g->applicable);
                cJSON_AddBoolToObject(props, "significant", g->significant);
            }
        }
    }
    dt_free(suspect_uri);
    return root;
fail:
    dt_free(suspect_uri);
    cJSON_Delete(root);
    return NULL;
}

int dt_report_render_sarif(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, DT_REPORT_SARIF);
    cJSON *root = build(r), *ri = rec ? cJSON_Parse(rec) : NULL, *props;
    cJSON *run =
        root ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "runs"), 0) : NULL;
    char *s = NULL;
    int rc = DT_ENOMEM;
    if (run && ri && (props = cJSON_AddObjectToObject(run, "properties"))) {
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, r->run_id);
        cJSON_AddStringToObject(props, "distiltrace/run_id", id);
        cJSON_AddStringToObject(props, "distiltrace/evidence_sha256", r->evidence_sha256);
        if (cJSON_AddItemToObject(props, "distiltrace/integrity", ri)) {
            ri = NULL;
            if ((s = cJSON_Print(root))) {
                dt_strbuf_puts(out, s);
                dt_strbuf_putc(out, '\n');
                rc = dt_strbuf_failed(out) ? DT_ENOMEM : 0;
            }
        }
    }
    cJSON_free(s);
    cJSON_Delete(ri);
    cJSON_Delete(root);
    dt_free(rec);
    return rc;
}

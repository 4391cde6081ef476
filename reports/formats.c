/*
 * The renderer table: one row per report format, each defined by its render_NAME.c
 * (reports/renderers.h), and what goes through it: finding a format by name or by content,
 * and rendering a run sealed with its digest. Adding a format is its file plus its row here.
 */
#include "reports/format.h"
#include "reports/integrity.h"
#include "reports/renderers.h"
#include "reports/report.h"

#include "util/error.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static const struct dt_report_format *const formats[] = {
    &dt_report_format_html,
    &dt_report_format_md,
    &dt_report_format_json,
    &dt_report_format_junit,
    &dt_report_format_sarif,
};

size_t dt_report_n_formats(void)
{
    return sizeof formats / sizeof *formats;
}

const struct dt_report_format *dt_report_format_at(size_t i)
{
    return i < dt_report_n_formats() ? formats[i] : NULL;
}

const struct dt_report_format *dt_report_format_parse(const char *name)
{
    for (size_t i = 0; name && i < dt_report_n_formats(); i++)
        if (!strcmp(formats[i]->name, name) || (formats[i]->alias && !strcmp(formats[i]->alias, name)))
            return formats[i];
    return NULL;
}

const struct dt_report_format *dt_report_format_sniff(const char *data, size_t n)
{
    const struct dt_report_format *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < dt_report_n_formats(); i++) {
        int sc = formats[i]->sniff(data, n);
        if (sc > best_score) {
            best = formats[i];
            best_score = sc;
        }
    }
    return best;
}

void dt_report_format_names(char *buf, size_t n, const char *sep)
{
    size_t at = 0;
    if (!n)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < dt_report_n_formats() && at < n; i++) {
        int w = snprintf(buf + at, n - at, "%s%s", i ? sep : "", formats[i]->name);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

int dt_report_render(const struct dt_report *r, const struct dt_report_format *f,
                     struct dt_strbuf *out, struct dt_error *err)
{
    size_t start = out->len;
    int rc;
    if (!r->verdict.present) {
        const char *why = "it recorded no verdict";
        char buf[96];
        if (r->status && !strcmp(r->status, "running"))
            why = "it is still running";
        else if (r->has_exit_code && r->exit_code == DT_EXIT_INTERRUPTED)
            why = "it was interrupted before reaching one";
        else if (r->status && !strcmp(r->status, "failed") && r->has_exit_code) {
            snprintf(buf, sizeof buf, "it failed with exit status %d", r->exit_code);
            why = buf;
        } else if (r->command && strcmp(r->command, "compare") && strcmp(r->command, "check") &&
                   strcmp(r->command, "attribute")) {
            snprintf(buf, sizeof buf, "it is a '%.40s' run, not a comparison", r->command);
            why = buf;
        }
        return dt_error_set(err, DT_ENOTFOUND, "run %lld has no verdict to report: %s",
                            (long long)r->run_id, why);
    }
    if (!f)
        return dt_error_set(err, DT_EINVAL, "no report format given");
    rc = f->render(r, out);
    if (rc == 0 && dt_strbuf_failed(out))
        rc = DT_ENOMEM;
    if (rc)
        return dt_error_set(err, rc, "%s rendering the %s report of run %lld",
                            rc == DT_ENOMEM ? "out of memory" : "failed", f->name,
                            (long long)r->run_id);
    return dt_report_seal(out, start, err);
}


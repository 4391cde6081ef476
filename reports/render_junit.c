/*
 * JUnit XML, in the shape Jenkins, GitLab, GitHub test reporters and Azure DevOps read:
 * <testsuites><testsuite name="distiltrace" tests failures errors skipped time>, properties
 * with the run's identity, then one <testcase classname="distiltrace.SUSPECT"> for the
 * verdict and one per signal.
 *
 * The report agrees with the release gate (dt_report_gate_fails: the verdict is one of the
 * gate's relations, by default the three derivation relations), so a passing `check` writes
 * a report with failures="0" errors="0" that Jenkins shows as stable and GitLab as green:
 *   - the verdict case is a <failure> exactly when the gate fails; an inconclusive verdict
 *     the gate accepts is <skipped> with its reason, so it stays visible without failing;
 *   - a signal case is a <failure> when the gate fails and the signal is part of the
 *     evidence; evidence that did not decide a failing verdict (closeness alone) passes,
 *     with the finding in <system-out>;
 *   - a signal that could not be evaluated is <skipped> with the reason ("not applicable"
 *     is not an error of the run); information-only signals pass with <system-out>.
 * <error> is never written: a run that failed has no verdict and is not rendered. The
 * document validates against Jenkins' JUnit schema (skipped reasons are element text; the
 * skipped count is on <testsuite>, which is where that schema allows it).
 * The integrity record is a comment after the root element.
 *
 * All text is escaped for XML; the report's strings are already free of characters XML 1.0
 * forbids (report.c), so the document is well-formed whatever the store holds.
 */
#include "reports/report.h"
#include "reports/integrity.h"
#include "reports/report_internal.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void esc(struct dt_strbuf *sb, const char *s)
{
    dt_report_html_escape(sb, s ? s : "");
}

/* Seconds between two of the store's UTC timestamps, 0 when either is missing. */
static double duration_s(const char *a, const char *b)
{
    struct tm ta = {0}, tb = {0};
    double fa = 0, fb = 0;
    if (!a || !b)
        return 0;
    if (sscanf(a, "%d-%d-%dT%d:%d:%lf", &ta.tm_year, &ta.tm_mon, &ta.tm_mday, &ta.tm_hour,
               &ta.tm_min, &fa) != 6 ||
        sscanf(b, "%d-%d-%dT%d:%d:%lf", &tb.tm_year, &tb.tm_mon, &tb.tm_mday, &tb.tm_hour,
               &tb.tm_min, &fb) != 6)
        return 0;
    ta.tm_year -= 1900;
    tb.tm_year -= 1900;
    ta.tm_mon -= 1;
    tb.tm_mon -= 1;
    double d = difftime(timegm(&tb), timegm(&ta)) + fb - fa;
    return d > 0 ? d : 0;
}

static void property(struct dt_strbuf *sb, const char *name, const char *value)
{
    dt_strbuf_puts(sb, "      <property name=\"");
    esc(sb, name);
    dt_strbuf_puts(sb, "\" value=\"");
    esc(sb, value);
    dt_strbuf_puts(sb, "\"/>\n");
}

static int render(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, "junit");
    if (!rec)
        return DT_ENOMEM;
    const struct dt_report_verdict *v = &r->verdict;
    const char *suspect = v->suspect ? v->suspect : "suspect";
    int gate_fails = dt_report_gate_fails(r);
    int v_skip = !gate_fails && v->present && !strcmp(v->relation, "inconclusive");
    size_t tests = r->n_signals + 1, failures = (size_t)gate_fails, errors = 0,
           skipped = (size_t)v_skip;
    for (size_t i = 0; i < r->n_signals; i++) {
        enum dt_report_status st = dt_report_signal_status(&r->signals[i]);
        if (st == DT_SIG_EVIDENCE && gate_fails)
            failures++;
        else if (st == DT_SIG_NOT_APPLICABLE)
            skipped++;
    }
    double secs = duration_s(r->started_at, r->ended_at);
    char a[40], b[40], ts[20] = "";
    if (r->started_at)
        snprintf(ts, sizeof ts, "%.19s", r->started_at);

    dt_strbuf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    dt_strbuf_printf(out,
                     "<testsuites name=\"distiltrace\" tests=\"%zu\" failures=\"%zu\" "
                     "errors=\"%zu\" time=\"%.3f\">\n",
                     tests, failures, errors, secs);
    dt_strbuf_printf(out,
                     "  <testsuite name=\"distiltrace\" tests=\"%zu\" failures=\"%zu\" "
                     "errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"",
                     tests, failures, errors, skipped, secs);
    esc(out, ts);
    dt_strbuf_puts(out, "\" hostname=\"");
    esc(out, r->host ? r->host : "localhost");
    dt_strbuf_puts(out, "\">\n    <properties>\n");
    snprintf(a, sizeof a, "%" PRId64, r->run_id);
    property(out, "distiltrace.run_id", a);
    property(out, "distiltrace.version", DT_VERSION);
    property(out, "distiltrace.relation", v->present ? v->relation : "none");
    property(out, "distiltrace.teacher", v->teacher);
    property(out, "distiltrace.suspect", v->suspect);
    property(out, "distiltrace.evidence_sha256", r->evidence_sha256);
    for (size_t i = 0; i < r->n_inputs; i++) {
        char key[96];
        snprintf(key, sizeof key, "distiltrace.input.%zu.sha256", i);
        property(out, key, r->inputs[i].sha256 ? r->inputs[i].sha256 : "");
    }
    dt_strbuf_puts(out, "    </properties>\n");

    /* the verdict */
    dt_strbuf_puts(out, "    <testcase classname=\"distiltrace.");
    esc(out, suspect);
    dt_strbuf_puts(out, "\" name=\"verdict\" time=\"0\">\n");
    {
        struct dt_strbuf head = DT_STRBUF_INIT;
        dt_report_headline(&head, r, 0);
        dt_report_fmt_p(a, sizeof a, v->p_value);
        if (gate_fails) {
            dt_strbuf_puts(out, "      <failure message=\"");
            esc(out, head.data);
            dt_strbuf_printf(out, " (p = %s)\" type=\"", a);
            esc(out, v->relation);
            dt_strbuf_puts(out, "\">");
            esc(out, v->rationale ? v->rationale : head.data);
            dt_strbuf_puts(out, "</failure>\n");
        } else if (v_skip) {
            dt_strbuf_puts(out, "      <skipped>inconclusive: ");
            esc(out, v->rationale ? v->rationale : head.data);
            dt_strbuf_puts(out, "</skipped>\n");
        } else {
            dt_strbuf_puts(out, "      <system-out>");
            esc(out, head.data);
            dt_strbuf_printf(out, " (p = %s). ", a);
            esc(out, v->rationale ? v->rationale : "");
            dt_strbuf_puts(out, "</system-out>\n");
        }
        dt_strbuf_release(&head);
    }
    dt_strbuf_puts(out, "    </testcase>\n");

    for (size_t i = 0; i < r->n_signals; i++) {
        const struct dt_report_signal *g = &r->signals[i];
        enum dt_report_status st = dt_report_signal_status(g);
        dt_strbuf_puts(out, "    <testcase classname=\"distiltrace.");
        esc(out, g->suspect_name ? g->suspect_name : suspect);
        dt_strbuf_puts(out, "\" name=\"");
        esc(out, g->name);
        dt_strbuf_puts(out, "\" time=\"0\">\n");
        dt_report_fmt_p(a, sizeof a, isfinite(g->p_adjusted) ? g->p_adjusted : g->p_value);
        dt_report_fmt_p(b, sizeof b, g->alpha);
        if (st == DT_SIG_EVIDENCE && gate_fails) {
            dt_strbuf_printf(out,
                             "      <failure message=\"evidence found: p = %s, alpha = %s\" "
                             "type=\"",
                             a, b);
            esc(out, g->klass ? g->klass : "evidence");
            dt_strbuf_puts(out, "\">");
            esc(out, g->note ? g->note : "the suspect stands out from the controls");
            dt_strbuf_puts(out, "</failure>\n");
        } else if (st == DT_SIG_NOT_APPLICABLE) {
            dt_strbuf_puts(out, "      <skipped>not applicable: ");
            esc(out, g->note ? g->note : "the signal could not be evaluated on these inputs");
            dt_strbuf_puts(out, "</skipped>\n");
        } else {
            dt_strbuf_printf(out, "      <system-out>%s (p = %s, alpha = %s)",
                             st == DT_SIG_EVIDENCE ? "Evidence found, not decisive for the gate"
                                                   : dt_report_status_label(st),
                             a, b);
            if (g->note) {
                dt_strbuf_puts(out, ": ");
                esc(out, g->note);
            }
            dt_strbuf_puts(out, "</system-out>\n");
        }
        dt_strbuf_puts(out, "    </testcase>\n");
    }
    dt_strbuf_puts(out, "  </testsuite>\n</testsuites>\n");
    dt_report_embed_comment(out, rec);
    dt_free(rec);
    return dt_strbuf_failed(out) ? DT_ENOMEM : 0;
}

static int sniff(const char *d, size_t n)
{
    size_t i = dt_report_skip_space(d, n);
    return n - i >= 5 && !memcmp(d + i, "<?xml", 5) ? 2 : 0;
}

static char *extract(const char *d, size_t n)
{
    return dt_report_comment_record(d, n);
}

const struct dt_report_format dt_report_format_junit = {
    "junit", "xml", "JUnit XML, one test case per signal", render, sniff, extract,
};

/*
 * The Markdown report: the same content as the HTML one (verdict, signal summary, each
 * signal, method and limits, chain of custody) as CommonMark/GFM tables and paragraphs.
 * Texts from the store are escaped with dt_report_md_escape (inline syntax escaped, raw HTML
 * neutralised, newlines folded), so a model's output cannot add structure; examples are
 * shown as indented quotes, escaped the same way.
 */
#include "reports/report.h"
#include "reports/report_internal.h"

#include "dt_version.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void esc(struct dt_strbuf *sb, const char *s)
{
    dt_report_md_escape(sb, s && *s ? s : "n/a");
}

/* Inline code cannot be escaped inside; hashes and paths go through esc instead. */
int dt_report_render_md(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, DT_REPORT_MD);
    char a[40], b[40], c[40];
    if (!rec)
        return DT_ENOMEM;
    const struct dt_report_verdict *v = &r->verdict;
    dt_strbuf_printf(out, "# Model provenance report (run %" PRId64 ")\n\n", r->run_id);
    dt_strbuf_puts(out, "**Verdict: ");
    esc(out, v->present ? v->relation : "none");
    dt_strbuf_puts(out, ".** ");
    struct dt_strbuf head = DT_STRBUF_INIT;
    dt_report_headline(&head, r, 0);
    esc(out, head.data);
    dt_strbuf_release(&head);
    dt_strbuf_puts(out, "\n\n");
    if (v->rationale) {
        char *sent = dt_report_sentence(v->rationale);
        esc(out, sent ? sent : v->rationale);
        dt_free(sent);
        dt_strbuf_puts(out, "\n\n");
    }
    dt_report_fmt_p(a, sizeof a, v->p_value);
    dt_report_fmt_p(b, sizeof b, v->alpha);
    dt_strbuf_puts(out, "| | |\n|---|---|\n| Teacher | ");
    esc(out, v->teacher);
    dt_strbuf_puts(out, " |\n| Suspect | ");
    esc(out, v->suspect);
    dt_strbuf_puts(out, " |\n| Control models | ");
    for (size_t i = 0; i < v->n_controls; i++) {
        if (i)
            dt_strbuf_puts(out, ", ");
        esc(out, v->controls[i]);
    }
    if (!v->n_controls)
        dt_strbuf_puts(out, "none");
    dt_strbuf_printf(out, " |\n| Decisive p-value | %s (alpha = %s) |\n\n", a, b);

    dt_strbuf_puts(out, "## Summary of the signals\n\n| Signal | Kind of evidence | Result | "
                        "Suspect | p | p (adjusted) |\n|---|---|---|---:|---:|---:|\n");
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct dt_report_signal *g = &r->signals[i];
        const struct dt_signal_text *t = dt_report_signal_text(g->name);
        dt_report_fmt_num(a, sizeof a, g->statistic);
        dt_report_fmt_p(b, sizeof b, g->p_value);
        dt_report_fmt_p(c, sizeof c, g->p_adjusted);
        dt_strbuf_puts(out, "| ");
        esc(out, t->title ? t->title : g->name);
        dt_strbuf_puts(out, " | ");
        esc(out, dt_report_class_label(g->klass));
        dt_strbuf_printf(out, " | %s | %s | %s | %s |\n",
                         dt_report_status_label(dt_report_signal_status(g)), a, b, c);
    }
    dt_strbuf_puts(out, "\n## The signals in detail\n");
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct dt_report_signal *g = &r->signals[i];
        const struct dt_signal_text *t = dt_report_signal_text(g->name);
        dt_strbuf_puts(out, "\n### ");
        esc(out, t->title ? t->title : g->name);
        dt_strbuf_printf(out, " (%s)\n\n", dt_report_status_label(dt_report_signal_status(g)));
        if (g->note) {
            esc(out, g->note);
            dt_strbuf_puts(out, "\n\n");
        }
        dt_report_fmt_p(a, sizeof a, g->p_value);
        dt_report_fmt_p(b, sizeof b, g->p_adjusted);
        dt_report_fmt_p(c, sizeof c, g->alpha);
        dt_strbuf_puts(out, "- Test: ");
        esc(out, g->test ? g->test : "none (not tested)");
        dt_strbuf_printf(out, "; p = %s, adjusted p = %s, alpha = %s", a, b, c);
        if (g->n >= 0)
            dt_strbuf_printf(out, ", n = %" PRId64, g->n);
        dt_strbuf_puts(out, "\n- Suspect (");
        esc(out, g->suspect_name ? g->suspect_name : v->suspect);
        dt_report_fmt_num(a, sizeof a, g->statistic);
        dt_strbuf_printf(out, "): %s\n", a);
        for (size_t k = 0; k < g->n_controls; k++) {
            dt_strbuf_puts(out, "- Control ");
            esc(out, g->controls[k].name);
            dt_report_fmt_num(a, sizeof a, g->controls[k].statistic);
            dt_strbuf_printf(out, ": %s\n", a);
        }
        dt_strbuf_puts(out, "\n*What it measures:* ");
        esc(out, t->what);
        dt_strbuf_puts(out, "\n\n*What it cannot show:* ");
        esc(out, t->limits);
        dt_strbuf_puts(out, "\n\n*Kind of evidence:* ");
        esc(out, dt_report_class_text(g->klass));
        dt_strbuf_puts(out, "\n");
        for (size_t k = 0; k < g->n_examples; k++) {
            if (k == 0)
                dt_strbuf_puts(out, "\nExamples of the suspect's answers:\n");
            dt_strbuf_puts(out, "\n> ");
            esc(out, g->examples[k]);
            dt_strbuf_puts(out, "\n");
        }
    }
    dt_strbuf_puts(out, "\n## Method\n\n");
    for (const char *const *p = dt_report_method_text; *p; p++) {
        esc(out, *p);
        dt_strbuf_puts(out, "\n\n");
    }
    dt_strbuf_puts(out, "## Limits\n\n");
    for (const char *const *p = dt_report_limits_text; *p; p++) {
        dt_strbuf_puts(out, "- ");
        esc(out, *p);
        dt_strbuf_puts(out, "\n");
    }
    dt_strbuf_puts(out, "\n## Chain of custody\n\n| Role | Model | File | Size (bytes) | SHA-256 "
                        "|\n|---|---|---|---:|---|\n");
    for (size_t i = 0; i < r->n_inputs; i++) {
        const struct dt_report_input *in = &r->inputs[i];
        dt_strbuf_puts(out, "| ");
        esc(out, in->role);
        dt_strbuf_puts(out, " | ");
        esc(out, in->name);
        dt_strbuf_puts(out, " | ");
        esc(out, in->path ? in->path : "(API only)");
        if (in->size_bytes >= 0)
            dt_strbuf_printf(out, " | %" PRId64 " | ", in->size_bytes);
        else
            dt_strbuf_puts(out, " | n/a | ");
        esc(out, in->sha256);
        dt_strbuf_puts(out, " |\n");
    }
    int any_format = 0;
    for (size_t i = 0; i < r->n_inputs; i++)
        any_format |= r->inputs[i].chat_format != NULL;
    if (any_format) { /* how each local model's chat probes were wrapped */
        dt_strbuf_puts(out, "\n| Model | Chat format |\n|---|---|\n");
        for (size_t i = 0; i < r->n_inputs; i++) {
            if (!r->inputs[i].chat_format)
                continue;
            dt_strbuf_puts(out, "| ");
            esc(out, r->inputs[i].name);
            dt_strbuf_puts(out, " | ");
            esc(out, r->inputs[i].chat_format);
            dt_strbuf_puts(out, " |\n");
        }
    }
    char *cmd = dt_report_command_line(r);
    dt_strbuf_printf(out, "\n| Run | |\n|---|---|\n| Run id | %" PRId64 " |\n| Command line | ",
                     r->run_id);
    esc(out, cmd);
    dt_free(cmd);
    dt_strbuf_puts(out, " |\n| Tool version (run) | ");
    esc(out, r->tool_version);
    dt_strbuf_puts(out, " |\n| Report rendered by | distiltrace " DT_VERSION " |\n| Seed | ");
    if (r->has_seed)
        dt_strbuf_printf(out, "%" PRIu64, r->seed);
    else
        dt_strbuf_puts(out, "none");
    if (r->threads)
        dt_strbuf_printf(out, " |\n| Threads | %d", r->threads);
    else
        dt_strbuf_puts(out, " |\n| Threads | unknown");
    dt_strbuf_puts(out, " |\n| Host | ");
    esc(out, r->host);
    dt_strbuf_puts(out, " |\n| Started (UTC) | ");
    esc(out, r->started_at);
    dt_strbuf_puts(out, " |\n| Ended (UTC) | ");
    esc(out, r->ended_at ? r->ended_at : "running");
    dt_strbuf_puts(out, " |\n| Status | ");
    esc(out, r->status);
    if (r->has_exit_code)
        dt_strbuf_printf(out, " (exit code %d)", r->exit_code);
    dt_strbuf_printf(out, " |\n| Evidence digest (SHA-256) | %s |\n\n", r->evidence_sha256);
    dt_strbuf_puts(out, "Check this file against the store and the input files with "
                        "`distiltrace report --verify FILE --db STORE`.\n\n");
    dt_report_embed_comment(out, rec);
    dt_free(rec);
    return dt_strbuf_failed(out) ? DT_ENOMEM : 0;
}

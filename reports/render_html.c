/*
 * The HTML report: one self-contained file for a legal or policy reviewer. No scripts, no
 * external resources of any kind (styles and SVG charts are inline), prints to PDF cleanly.
 * Order: the verdict in plain words, a summary table of the signals, one section per signal
 * (chart of the suspect against the controls, the p-value against alpha, what the signal
 * means and what it cannot show), method and limits, chain of custody.
 *
 * Every text from the store goes through dt_report_html_escape; the report's strings are
 * already cleaned UTF-8 (report.c), so the page is valid whatever the models generated.
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
#include <stdlib.h>
#include <string.h>

static const char css[] =
    ":root{--ink:#1d2430;--muted:#5b6472;--line:#d8dde5;--bg:#f6f7f9;--red:#b42318;"
    "--redbg:#fdecea;--green:#1f6f43;--greenbg:#e7f4ec;--amber:#8a5a00;--amberbg:#fff4dc;"
    "--blue:#1f4e89;--bluebg:#e8f0fb}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#fff;color:var(--ink);font:15px/1.55 'DejaVu Sans',Helvetica,"
    "Arial,sans-serif}\n"
    "main{max-width:980px;margin:0 auto;padding:28px 32px 48px}\n"
    "header.top{display:flex;justify-content:space-between;align-items:baseline;"
    "border-bottom:2px solid var(--ink);padding-bottom:8px;margin-bottom:22px}\n"
    "header.top .brand{font-weight:700;letter-spacing:.02em;font-size:17px}\n"
    "header.top .meta{color:var(--muted);font-size:13px}\n"
    "h1{font-size:24px;line-height:1.3;margin:6px 0 10px}\n"
    "h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}\n"
    "h3{font-size:16px;margin:0 0 6px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}\n"
    "p{margin:6px 0 10px}\n"
    ".verdict{border:1px solid var(--line);border-left:8px solid var(--muted);"
    "background:var(--bg);padding:16px 20px;border-radius:4px}\n"
    ".verdict.derived{border-left-color:var(--red);background:var(--redbg)}\n"
    ".verdict.independent{border-left-color:var(--green);background:var(--greenbg)}\n"
    ".verdict.inconclusive{border-left-color:var(--amber);background:var(--amberbg)}\n"
    ".badge{display:inline-block;font-size:12px;font-weight:700;letter-spacing:.08em;"
    "text-transform:uppercase;padding:2px 8px;border-radius:3px;background:var(--ink);color:#fff}\n"
    ".derived .badge{background:var(--red)}.independent .badge{background:var(--green)}\n"
    ".inconclusive .badge{background:var(--amber)}\n"
    ".rationale{font-size:16px}\n"
    ".kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:10px 0 0;"
    "font-size:14px}\n"
    ".kv dt{color:var(--muted)}.kv dd{margin:0;overflow-wrap:anywhere}\n"
    "table{border-collapse:collapse;width:100%;font-size:13.5px;margin:8px 0}\n"
    "th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;"
    "vertical-align:top;overflow-wrap:break-word;word-break:normal;hyphens:none}\n"
    ".tablewrap{overflow-x:auto;-webkit-overflow-scrolling:touch}\n"
    ".tablewrap table{min-width:560px}\n"
    "th{background:var(--bg);font-weight:600}\n"
    "td.num{font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".pill{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;"
    "border-radius:10px;white-space:nowrap}\n"
    ".st-evidence{background:var(--redbg);color:var(--red);border:1px solid var(--red)}\n"
    ".st-none{background:var(--greenbg);color:var(--green);border:1px solid var(--green)}\n"
    ".st-na{background:var(--bg);color:var(--muted);border:1px solid var(--line)}\n"
    ".st-info{background:var(--bluebg);color:var(--blue);border:1px solid var(--blue)}\n"
    ".cls{font-size:12px;color:var(--muted);font-weight:400}\n"
    "article.signal{border:1px solid var(--line);border-radius:4px;padding:14px 18px;"
    "margin:14px 0}\n"
    "article.signal h3,figure{break-inside:avoid;page-break-inside:avoid}\n"
    "article.signal h3{break-after:avoid;page-break-after:avoid}\n"
    ".note{font-size:14.5px}\n"
    ".explain{font-size:13.5px;color:#333;display:grid;grid-template-columns:1fr 1fr;gap:4px "
    "22px}\n"
    ".explain p{margin:4px 0}.explain .wide{grid-column:1/-1}\n"
    ".explain b{display:block;font-size:12px;color:var(--muted);text-transform:uppercase;"
    "letter-spacing:.05em}\n"
    "figure{margin:8px 0}figcaption{font-size:12.5px;color:var(--muted)}\n"
    "svg{max-width:100%;height:auto}\n"
    ".mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;"
    "overflow-wrap:anywhere;word-break:break-all}\n"
    "pre.example{white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;"
    "background:var(--bg);border:1px solid var(--line);padding:8px 10px;font-size:12.5px;"
    "margin:6px 0}\n"
    ".facts{font-size:12.5px;color:var(--muted)}\n"
    "footer{margin-top:36px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);"
    "padding-top:8px}\n"
    ;

/* narrow screens and print (a second string: C caps the length of one literal) */
static const char css_media[] =
    "@media (max-width:640px){main{padding:16px 14px 32px}.explain{grid-template-columns:1fr}"
    "h1{font-size:20px}header.top{flex-direction:column;gap:2px}"
    ".kv{grid-template-columns:1fr}.kv dt{margin-top:6px}}\n"
    "@media print{body{font-size:10pt}main{max-width:none;padding:0}"
    ".tablewrap{overflow:visible}.tablewrap table{min-width:0}"
    "article.signal{padding:8px 12px;margin:8px 0}footer{display:none}"
    "h2{break-after:avoid;page-break-after:avoid}"
    ".verdict,.badge,.pill,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "a{color:inherit;text-decoration:none}}\n"
    "@page{size:A4;margin:16mm 14mm}\n";

static void esc(struct dt_strbuf *sb, const char *s)
{
    dt_report_html_escape(sb, s);
}

static const char *status_class(enum dt_report_status st)
{
    switch (st) {
    case DT_SIG_EVIDENCE:
        return "st-evidence";
    case DT_SIG_NO_EVIDENCE:
        return "st-none";
    case DT_SIG_NOT_APPLICABLE:
        return "st-na";
    case DT_SIG_INFO:
        return "st-info";
    }
    return "st-na";
}

static const char *signal_title(const struct dt_report_signal *g)
{
    const struct dt_signal_text *t = dt_report_signal_text(g->name);
    return t->title ? t->title : g->name;
}

/* Cut a label for the chart to at most max bytes at a character boundary. */
static void chart_label(struct dt_strbuf *sb, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        esc(sb, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    char *cut = dt_strndup(s, max);
    if (cut) {
        esc(sb, cut);
        dt_strbuf_puts(sb, "\xe2\x80\xa6");
    }
    dt_free(cut);
}

static double xpos(double v, double lo, double hi)
{
    return 40.0 + (v - lo) / (hi - lo) * 580.0;
}

/* A 1-2-5 step giving about four intervals over span. */
static double nice_step(double span)
{
    double p = pow(10, floor(log10(span / 4))), f = span / 4 / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

struct dot {
    double x;
    size_t i;
};

static int cmp_dot(const void *a, const void *b)
{
    double d = ((const struct dot *)a)->x - ((const struct dot *)b)->x;
    return d < 0 ? -1 : d > 0;
}

#define CHART_MAX_ROWS 6

/* The number line: controls as grey dots (labelled, nearby ones as one group), the suspect as
 * a red diamond. Returns the height used. */
static int number_line(struct dt_strbuf *sb, const struct dt_report_signal *g, const char *suspect,
                       double lo, double hi)
{
    const struct dt_signal_text *tx = dt_report_signal_text(g->name);
    char a[40];
    int y = 58;
    size_t n = 0;
    struct dot *dots = g->n_controls ? dt_calloc(g->n_controls, sizeof *dots) : NULL;
    double clo = INFINITY, chi = -INFINITY;
    for (size_t i = 0; dots && i < g->n_controls; i++) {
        double v = g->controls[i].statistic;
        if (!isfinite(v))
            continue;
        dots[n].x = xpos(v, lo, hi);
        dots[n++].i = i;
        clo = fmin(clo, v);
        chi = fmax(chi, v);
    }
    if (n > 1)
        qsort(dots, n, sizeof *dots, cmp_dot);
    dt_strbuf_puts(sb, "<text x=\"40\" y=\"14\" fill=\"#5b6472\">");
    chart_label(sb, tx->axis, 112);
    dt_strbuf_puts(sb, "</text>");
    if (n > 0) {
        double x0 = xpos(clo, lo, hi), x1 = xpos(chi, lo, hi);
        dt_strbuf_printf(sb,
                         "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                         "fill=\"#e3e7ee\" rx=\"3\"/>",
                         x0 - 9, y - 10, x1 - x0 + 18);
    }
    dt_strbuf_printf(sb,
                     "<line x1=\"40\" y1=\"%d\" x2=\"620\" y2=\"%d\" stroke=\"#1d2430\" "
                     "stroke-width=\"1.2\"/>",
                     y, y);
    double step = nice_step(hi - lo);
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
        double x = xpos(t, lo, hi);
        dt_report_fmt_num(a, sizeof a, fabs(t) < step * 1e-9 ? 0 : t);
        dt_strbuf_printf(sb,
                         "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                         "stroke=\"#1d2430\"/><text x=\"%.1f\" y=\"%d\" "
                         "text-anchor=\"middle\" fill=\"#5b6472\">%s</text>",
                         x, y - 4, x, y + 4, x, y + 17, a);
    }
    /* labels: group dots closer than 12 px, place each group's label in the first row where it
     * does not overlap the previous label */
    double row_end[CHART_MAX_ROWS];
    int n_rows = 0;
    for (int k = 0; k < CHART_MAX_ROWS; k++)
        row_end[k] = -1e9;
    for (size_t k = 0; k < n;) {
        size_t e = k + 1;
        while (e < n && dots[e].x - dots[e - 1].x < 12)
            e++;
        for (size_t j = k; j < e; j++) {
            const struct dt_report_control *c = &g->controls[dots[j].i];
            dt_report_fmt_num(a, sizeof a, c->statistic);
            dt_strbuf_printf(sb,
                             "<circle cx=\"%.1f\" cy=\"%d\" r=\"6\" fill=\"#7b8596\" "
                             "stroke=\"#fff\" stroke-width=\"1.5\"><title>",
                             dots[j].x, y);
            esc(sb, c->name);
            dt_strbuf_printf(sb, ": %s</title></circle>", a);
        }
        double cx = (dots[k].x + dots[e - 1].x) / 2;
        struct dt_strbuf lab = DT_STRBUF_INIT;
        if (e - k == 1)
            chart_label(&lab, g->controls[dots[k].i].name, 24);
        else
            dt_strbuf_printf(&lab, "%zu controls", e - k);
        double w = 6.3 * (double)(e - k == 1 ? fmin(strlen(g->controls[dots[k].i].name), 25) : 10);
        double lx = fmin(fmax(cx, 40 + w / 2), 640 - w / 2);
        int row = 0;
        while (row < CHART_MAX_ROWS - 1 && row_end[row] > lx - w / 2 - 6)
            row++;
        row_end[row] = lx + w / 2;
        if (row + 1 > n_rows)
            n_rows = row + 1;
        dt_strbuf_printf(sb,
                         "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                         "fill=\"#5b6472\">%s</text>",
                         lx, y + 33 + row * 13, lab.data ? lab.data : "");
        dt_strbuf_release(&lab);
        k = e;
    }
    dt_free(dots);
    if (isfinite(g->statistic)) {
        double x = xpos(g->statistic, lo, hi);
        dt_report_fmt_num(a, sizeof a, g->statistic);
        dt_strbuf_printf(sb,
                         "<path d=\"M%.1f %d l9 9 l-9 9 l-9 -9 z\" fill=\"#b42318\" "
                         "stroke=\"#fff\" stroke-width=\"1.5\"><title>suspect: %s"
                         "</title></path>",
                         x, y - 9, a);
        double w = 6.8 * (fmin(strlen(suspect), 29) + 3 + strlen(a));
        dt_strbuf_printf(sb,
                         "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                         "fill=\"#b42318\" font-weight=\"700\">",
                         fmin(fmax(x, 40 + w / 2), 640 - w / 2), y - 16);
        chart_label(sb, suspect, 28);
        dt_strbuf_printf(sb, " = %s</text>", a);
    }
    return y + 33 + (n_rows > 0 ? (n_rows - 1) * 13 : -13) + 14;
}

/* The p-value on a log10 axis from 1 down to 1e-12 (further if p is smaller), with alpha as a
 * dashed line and the significant side shaded. Returns the height used. */
static int p_strip(struct dt_strbuf *sb, const struct dt_report_signal *g, int y0)
{
    char a[40], b[40];
    /* significance is decided on the Holm-adjusted p-value, so that is what is drawn against
     * alpha (the raw p is in the caption) */
    int adj = isfinite(g->p_adjusted);
    double pv = adj ? g->p_adjusted : g->p_value;
    double lp = pv > 0 ? log10(pv) : -300;
    int lo_e = -12;
    if (lp < lo_e)
        lo_e = (int)floor(lp);
    double alpha = isfinite(g->alpha) ? g->alpha : 0.01;
#define PX(l) (40.0 + ((l) - (double)lo_e) / (0.0 - (double)lo_e) * 580.0)
    int y = y0 + 46;
    dt_strbuf_printf(sb,
                     "<text x=\"40\" y=\"%d\" fill=\"#5b6472\">%s (log scale; left of "
                     "the dashed line = significant)</text>",
                     y0 + 14, adj ? "Holm-adjusted p-value" : "p-value");
    double xa = PX(log10(alpha));
    dt_strbuf_printf(sb, "<rect x=\"40\" y=\"%d\" width=\"%.1f\" height=\"12\" fill=\"#fdecea\"/>",
                     y - 6, xa - 40);
    dt_strbuf_printf(sb, "<line x1=\"40\" y1=\"%d\" x2=\"620\" y2=\"%d\" stroke=\"#1d2430\"/>", y,
                     y);
    int step = lo_e <= -24 ? -(((-lo_e) / 4 + 2) / 3) * 3 : -3;
    for (int e = 0; e >= lo_e; e += step) {
        double x = PX(e);
        char lab[16];
        if (e == 0)
            snprintf(lab, sizeof lab, "1");
        else
            snprintf(lab, sizeof lab, "1e%d", e);
        dt_strbuf_printf(sb,
                         "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                         "stroke=\"#1d2430\"/><text x=\"%.1f\" y=\"%d\" "
                         "text-anchor=\"middle\" fill=\"#5b6472\">%s</text>",
                         x, y - 3, x, y + 3, x, y + 17, lab);
    }
    dt_report_fmt_p(b, sizeof b, alpha);
    dt_strbuf_printf(sb,
                     "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#b42318\" "
                     "stroke-dasharray=\"4 3\" stroke-width=\"1.5\"/><text x=\"%.1f\" "
                     "y=\"%d\" text-anchor=\"%s\" fill=\"#b42318\">alpha = %s</text>",
                     xa, y - 14, xa, y + 8, xa > 520 ? xa - 5 : xa + 5, y - 16,
                     xa > 520 ? "end" : "start", b);
    double xp = PX(fmax(lp, (double)lo_e));
    dt_report_fmt_p(a, sizeof a, pv);
    dt_strbuf_printf(sb,
                     "<path d=\"M%.1f %d l-7 -12 h14 z\" fill=\"#1d2430\"/><text x=\"%.1f\" "
                     "y=\"%d\" text-anchor=\"middle\" font-weight=\"700\" fill=\"#1d2430\">"
                     "%s = %s</text>",
                     xp, y, fmin(fmax(xp, 70), 610), y + 34, adj ? "adjusted p" : "p", a);
#undef PX
    return y0 + 86;
}

/* The signal's figure: number line and p-value strip, whichever has something to show. */
static void chart(struct dt_strbuf *sb, const struct dt_report_signal *g, const char *suspect)
{
    double lo = INFINITY, hi = -INFINITY;
    int have_p = isfinite(g->p_value);
    size_t n_ctl = 0;
    for (size_t i = 0; i < g->n_controls; i++) {
        double v = g->controls[i].statistic;
        if (isfinite(v)) {
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            n_ctl++;
        }
    }
    if (isfinite(g->statistic)) {
        lo = fmin(lo, g->statistic);
        hi = fmax(hi, g->statistic);
    }
    int have_line = isfinite(lo) && n_ctl > 0 && isfinite(g->statistic);
    if (!have_line && !have_p)
        return;
    if (have_line) {
        double span = hi - lo;
        if (span <= 0)
            span = fabs(hi) > 0 ? fabs(hi) * 0.5 : 1.0;
        lo -= span * 0.08;
        hi += span * 0.08;
    }
    /* drawn into a side buffer first: the height is known only afterwards */
    struct dt_strbuf body = DT_STRBUF_INIT;
    int h = 0;
    if (have_line)
        h = number_line(&body, g, suspect, lo, hi);
    if (have_p)
        h = p_strip(&body, g, h);
    char a[40];
    dt_report_fmt_num(a, sizeof a, g->statistic);
    dt_strbuf_printf(sb,
                     "<figure><svg viewBox=\"0 0 660 %d\" width=\"660\" height=\"%d\" "
                     "role=\"img\" aria-label=\"suspect %s against %zu control values\" "
                     "font-family=\"DejaVu Sans,Helvetica,Arial,sans-serif\" "
                     "font-size=\"11\">",
                     h, h, a, n_ctl);
    if (body.data)
        dt_strbuf_append(sb, body.data, body.len);
    if (dt_strbuf_failed(&body))
        sb->failed = 1;
    dt_strbuf_release(&body);
    dt_strbuf_puts(sb, "</svg><figcaption>");
    if (have_line)
        dt_strbuf_puts(sb, "Red diamond: the suspect. Grey dots: the control models (the "
                           "shaded band spans them). ");
    if (have_p) {
        char raw[40];
        dt_report_fmt_p(raw, sizeof raw, g->p_value);
        if (isfinite(g->p_adjusted))
            dt_strbuf_printf(sb, "The suspect stands out significantly when its p-value, "
                                 "adjusted for the number of signals tested (Holm), falls left "
                                 "of the dashed line (alpha); unadjusted p = %s.", raw);
        else
            dt_strbuf_puts(sb, "The suspect stands out significantly when its p-value falls "
                               "left of the dashed line (alpha).");
    }
    dt_strbuf_puts(sb, "</figcaption></figure>\n");
}

static void kv(struct dt_strbuf *sb, const char *k, const char *v)
{
    dt_strbuf_puts(sb, "<dt>");
    esc(sb, k);
    dt_strbuf_puts(sb, "</dt><dd>");
    esc(sb, v && *v ? v : "n/a");
    dt_strbuf_puts(sb, "</dd>");
}

static void controls_range(char *buf, size_t n, const struct dt_report_signal *g)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t k = 0;
    for (size_t i = 0; i < g->n_controls; i++)
        if (isfinite(g->controls[i].statistic)) {
            lo = fmin(lo, g->controls[i].statistic);
            hi = fmax(hi, g->controls[i].statistic);
            k++;
        }
    char a[32], b[32];
    if (k == 0) {
        snprintf(buf, n, "n/a");
        return;
    }
    dt_report_fmt_num(a, sizeof a, lo);
    dt_report_fmt_num(b, sizeof b, hi);
    if (lo == hi)
        snprintf(buf, n, "%s (%zu)", a, k);
    else
        snprintf(buf, n, "%s to %s (%zu)", a, b, k);
}

static void verdict_section(struct dt_strbuf *sb, const struct dt_report *r)
{
    const struct dt_report_verdict *v = &r->verdict;
    const char *rel = v->present ? v->relation : "none";
    const char *cls = dt_report_relation_is_derived(rel) ? "derived"
                      : !strcmp(rel, "independent")      ? "independent"
                                                         : "inconclusive";
    char a[32], b[32];
    dt_strbuf_printf(sb, "<section class=\"verdict %s\" id=\"verdict\"><span class=\"badge\">",
                     cls);
    dt_strbuf_puts(sb, "Verdict: ");
    esc(sb, rel);
    dt_strbuf_puts(sb, "</span><h1>");
    dt_report_headline(sb, r, 1);
    dt_strbuf_puts(sb, "</h1>");
    if (v->rationale) {
        char *sent = dt_report_sentence(v->rationale);
        dt_strbuf_puts(sb, "<p class=\"rationale\">");
        esc(sb, sent ? sent : v->rationale);
        dt_strbuf_puts(sb, "</p>");
        dt_free(sent);
    }
    dt_report_fmt_p(a, sizeof a, v->p_value);
    dt_report_fmt_p(b, sizeof b, v->alpha);
    dt_strbuf_puts(sb, "<dl class=\"kv\">");
    kv(sb, "Teacher", v->teacher);
    kv(sb, "Suspect", v->suspect);
    struct dt_strbuf c = DT_STRBUF_INIT;
    for (size_t i = 0; i < v->n_controls; i++) {
        if (i)
            dt_strbuf_puts(&c, ", ");
        dt_strbuf_puts(&c, v->controls[i]);
    }
    kv(sb, "Control models", c.data ? c.data : "none");
    dt_strbuf_release(&c);
    dt_strbuf_printf(sb, "<dt>Decisive p-value</dt><dd>%s (significance level alpha = %s)</dd>", a,
                     b);
    dt_strbuf_puts(sb, "</dl></section>\n");
}

static void summary_section(struct dt_strbuf *sb, const struct dt_report *r)
{
    dt_strbuf_puts(sb, "<section id=\"summary\"><h2>Summary of the signals</h2>"
                       "<div class=\"tablewrap\"><table><thead><tr><th>Signal</th><th>Kind of evidence</th>"
                       "<th>Result</th><th>Suspect</th><th>Controls (range, count)</th>"
                       "<th>p (adjusted)</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct dt_report_signal *g = &r->signals[i];
        enum dt_report_status st = dt_report_signal_status(g);
        char a[32], b[32], c[128];
        dt_report_fmt_num(a, sizeof a, g->statistic);
        dt_report_fmt_p(b, sizeof b, isfinite(g->p_adjusted) ? g->p_adjusted : g->p_value);
        controls_range(c, sizeof c, g);
        dt_strbuf_printf(sb, "<tr><td><a href=\"#sig-%zu\">", i);
        esc(sb, signal_title(g));
        dt_strbuf_puts(sb, "</a></td><td>");
        esc(sb, dt_report_class_label(g->klass));
        dt_strbuf_printf(sb, "</td><td><span class=\"pill %s\">%s</span></td>", status_class(st),
                         dt_report_status_label(st));
        dt_strbuf_printf(sb,
                         "<td class=\"num\">%s</td><td class=\"num\">%s</td>"
                         "<td class=\"num\">%s</td></tr>\n",
                         a, c, b);
    }
    if (r->n_signals == 0)
        dt_strbuf_puts(sb, "<tr><td colspan=\"6\">This run recorded no signals.</td></tr>");
    dt_strbuf_puts(sb, "</tbody></table></div></section>\n");
}

static void signal_article(struct dt_strbuf *sb, const struct dt_report *r, size_t i)
{
    const struct dt_report_signal *g = &r->signals[i];
    const struct dt_signal_text *t = dt_report_signal_text(g->name);
    enum dt_report_status st = dt_report_signal_status(g);
    const char *suspect = g->suspect_name      ? g->suspect_name
                          : r->verdict.suspect ? r->verdict.suspect
                                               : "suspect";
    char a[32], b[32], c[32];
    dt_strbuf_printf(sb, "<article class=\"signal\" id=\"sig-%zu\"><h3>", i);
    esc(sb, signal_title(g));
    dt_strbuf_printf(sb, " <span class=\"pill %s\">%s</span> <span class=\"cls\">",
                     status_class(st), dt_report_status_label(st));
    esc(sb, dt_report_class_label(g->klass));
    dt_strbuf_puts(sb, " &middot; <span class=\"mono\">");
    esc(sb, g->name);
    dt_strbuf_puts(sb, "</span></span></h3>");
    if (g->note) {
        char *sent = dt_report_sentence(g->note);
        dt_strbuf_puts(sb, "<p class=\"note\">");
        esc(sb, sent ? sent : g->note);
        dt_strbuf_puts(sb, "</p>");
        dt_free(sent);
    }
    if (st != DT_SIG_INFO)
        chart(sb, g, suspect);
    dt_strbuf_puts(sb, "<p class=\"facts\">");
    dt_report_fmt_p(a, sizeof a, g->p_value);
    dt_report_fmt_p(b, sizeof b, g->p_adjusted);
    dt_report_fmt_p(c, sizeof c, g->alpha);
    dt_strbuf_puts(sb, "Test: ");
    esc(sb, g->test ? g->test : "none (not tested)");
    dt_strbuf_printf(sb, " &middot; p = %s &middot; adjusted p = %s &middot; alpha = %s", a, b, c);
    if (g->n >= 0)
        dt_strbuf_printf(sb, " &middot; n = %" PRId64, g->n);
    if (isfinite(g->effect)) {
        dt_report_fmt_num(a, sizeof a, g->effect);
        dt_strbuf_printf(sb, " &middot; effect = %s", a);
    }
    if (isfinite(g->ci_low) && isfinite(g->ci_high)) {
        dt_report_fmt_num(a, sizeof a, g->ci_low);
        dt_report_fmt_num(b, sizeof b, g->ci_high);
        dt_strbuf_printf(sb, " &middot; interval [%s, %s]", a, b);
    }
    dt_strbuf_puts(sb, "</p>");
    int any_value = isfinite(g->statistic);
    for (size_t k = 0; k < g->n_controls; k++)
        any_value |= isfinite(g->controls[k].statistic);
    if (g->n_controls && any_value) {
        dt_strbuf_puts(sb, "<div class=\"tablewrap\"><table><thead><tr><th>Model</th><th>Role</th><th>Statistic</th>"
                           "</tr></thead><tbody><tr><td>");
        esc(sb, suspect);
        dt_report_fmt_num(a, sizeof a, g->statistic);
        dt_strbuf_printf(sb, "</td><td>suspect</td><td class=\"num\">%s</td></tr>", a);
        for (size_t k = 0; k < g->n_controls; k++) {
            dt_strbuf_puts(sb, "<tr><td>");
            esc(sb, g->controls[k].name);
            dt_report_fmt_num(a, sizeof a, g->controls[k].statistic);
            dt_strbuf_printf(sb, "</td><td>control</td><td class=\"num\">%s</td></tr>", a);
        }
        dt_strbuf_puts(sb, "</tbody></table></div>");
    }
    dt_strbuf_puts(sb, "<div class=\"explain\"><p><b>What it measures</b>");
    esc(sb, t->what);
    dt_strbuf_puts(sb, "</p><p><b>What it cannot show</b>");
    esc(sb, t->limits);
    dt_strbuf_puts(sb, "</p><p class=\"wide\"><b>Kind of evidence</b>");
    esc(sb, dt_report_class_text(g->klass));
    dt_strbuf_puts(sb, "</p></div>");
    for (size_t k = 0; k < g->n_examples; k++) {
        if (k == 0)
            dt_strbuf_puts(sb, "<p class=\"facts\">Examples of the suspect's answers "
                               "(verbatim, as generated):</p>");
        dt_strbuf_puts(sb, "<pre class=\"example\">");
        esc(sb, g->examples[k]);
        dt_strbuf_puts(sb, "</pre>");
    }
    dt_strbuf_puts(sb, "</article>\n");
}

static void method_section(struct dt_strbuf *sb, const struct dt_report *r)
{
    dt_strbuf_puts(sb, "<section id=\"method\"><h2>Method</h2>");
    for (const char *const *p = dt_report_method_text; *p; p++) {
        dt_strbuf_puts(sb, "<p>");
        esc(sb, *p);
        dt_strbuf_puts(sb, "</p>");
    }
    dt_strbuf_puts(sb, "<p>Statistical tests used in this run: ");
    int any = 0;
    for (size_t i = 0; i < r->n_signals; i++) {
        const char *t = r->signals[i].test;
        int seen = 0;
        for (size_t j = 0; t && j < i; j++)
            if (r->signals[j].test && !strcmp(r->signals[j].test, t))
                seen = 1;
        if (!t || seen)
            continue;
        if (any++)
            dt_strbuf_puts(sb, "; ");
        dt_strbuf_puts(sb, "<span class=\"mono\">");
        esc(sb, t);
        dt_strbuf_puts(sb, "</span>");
    }
    if (!any)
        dt_strbuf_puts(sb, "none");
    dt_strbuf_puts(sb, ".</p><h2>Limits</h2><ul>");
    for (const char *const *p = dt_report_limits_text; *p; p++) {
        dt_strbuf_puts(sb, "<li>");
        esc(sb, *p);
        dt_strbuf_puts(sb, "</li>");
    }
    dt_strbuf_puts(sb, "</ul></section>\n");
}

static void custody_section(struct dt_strbuf *sb, const struct dt_report *r)
{
    char a[64];
    dt_strbuf_puts(sb, "<section id=\"custody\"><h2>Chain of custody</h2>"
                       "<p>The inputs this report describes, identified by their SHA-256 "
                       "hashes as recorded when the run read them.</p>"
                       "<div class=\"tablewrap\"><table><thead><tr><th>Role</th><th>Model</th><th>File</th>"
                       "<th>Size (bytes)</th><th>SHA-256</th><th>Format</th></tr></thead>"
                       "<tbody>\n");
    for (size_t i = 0; i < r->n_inputs; i++) {
        const struct dt_report_input *in = &r->inputs[i];
        dt_strbuf_puts(sb, "<tr><td>");
        esc(sb, in->role);
        dt_strbuf_puts(sb, "</td><td>");
        esc(sb, in->name);
        dt_strbuf_puts(sb, "</td><td class=\"mono\">");
        esc(sb, in->path ? in->path : "(API only)");
        if (in->size_bytes >= 0)
            snprintf(a, sizeof a, "%" PRId64, in->size_bytes);
        else
            snprintf(a, sizeof a, "n/a");
        dt_strbuf_printf(sb, "</td><td class=\"num\">%s</td><td class=\"mono\">", a);
        esc(sb, in->sha256 ? in->sha256 : "n/a");
        dt_strbuf_puts(sb, "</td><td>");
        esc(sb, in->format);
        if (in->arch) {
            dt_strbuf_puts(sb, ", ");
            esc(sb, in->arch);
        }
        if (in->n_params > 0)
            dt_strbuf_printf(sb, ", %" PRId64 " parameters", in->n_params);
        if (in->chat_format) { /* how its chat probes were wrapped */
            dt_strbuf_puts(sb, "; chat format: ");
            esc(sb, in->chat_format);
        }
        if (in->scoring && !strcmp(in->scoring, "q8")) /* how its scores were computed */
            dt_strbuf_puts(sb, "; scored with 8-bit activations (llama.cpp's arithmetic)");
        dt_strbuf_puts(sb, "</td></tr>\n");
    }
    if (r->n_inputs == 0)
        dt_strbuf_puts(sb, "<tr><td colspan=\"6\">No inputs recorded.</td></tr>");
    dt_strbuf_puts(sb, "</tbody></table></div><div class=\"tablewrap\"><table><tbody>");
    char *cmd = dt_report_command_line(r);
    struct {
        const char *k;
        const char *v;
        int mono;
    } rows[12];
    char run_id[32], seed[32], threads[32], status[64];
    snprintf(run_id, sizeof run_id, "%" PRId64, r->run_id);
    if (r->has_seed)
        snprintf(seed, sizeof seed, "%" PRIu64, r->seed);
    else
        snprintf(seed, sizeof seed, "none");
    if (r->threads)
        snprintf(threads, sizeof threads, "%d", r->threads);
    else
        snprintf(threads, sizeof threads, "unknown");
    if (r->has_exit_code)
        snprintf(status, sizeof status, "%s (exit code %d)", r->status ? r->status : "",
                 r->exit_code);
    else
        snprintf(status, sizeof status, "%s", r->status ? r->status : "");
    size_t n = 0;
    rows[n++] = (__typeof__(rows[0])){"Run id", run_id, 0};
    rows[n++] = (__typeof__(rows[0])){"Command line", cmd ? cmd : "", 1};
    rows[n++] = (__typeof__(rows[0])){"Tool version (run)", r->tool_version, 0};
    rows[n++] = (__typeof__(rows[0])){"Report rendered by", "distiltrace " DT_VERSION, 0};
    rows[n++] = (__typeof__(rows[0])){"Seed", seed, 0};
    rows[n++] = (__typeof__(rows[0])){"Threads", threads, 0};
    rows[n++] = (__typeof__(rows[0])){"Host", r->host, 0};
    rows[n++] = (__typeof__(rows[0])){"Started (UTC)", r->started_at, 0};
    rows[n++] = (__typeof__(rows[0])){"Ended (UTC)", r->ended_at ? r->ended_at : "running", 0};
    rows[n++] = (__typeof__(rows[0])){"Status", status, 0};
    rows[n++] = (__typeof__(rows[0])){"Evidence digest (SHA-256)", r->evidence_sha256, 1};
    for (size_t i = 0; i < n; i++) {
        dt_strbuf_puts(sb, "<tr><th style=\"width:28%\">");
        esc(sb, rows[i].k);
        dt_strbuf_printf(sb, "</th><td%s>", rows[i].mono ? " class=\"mono\"" : "");
        esc(sb, rows[i].v ? rows[i].v : "n/a");
        dt_strbuf_puts(sb, "</td></tr>\n");
    }
    dt_free(cmd);
    dt_strbuf_puts(sb, "</tbody></table></div></section>\n");
}

static int render(const struct dt_report *r, struct dt_strbuf *out)
{
    char *rec = dt_report_integrity_json(r, "html");
    if (!rec)
        return DT_ENOMEM;
    dt_strbuf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                        "<meta name=\"generator\" content=\"distiltrace " DT_VERSION "\">"
                        "<title>");
    dt_strbuf_printf(out, "distiltrace report, run %" PRId64 ": ", r->run_id);
    esc(out, r->verdict.suspect ? r->verdict.suspect : "suspect");
    dt_strbuf_puts(out, " vs ");
    esc(out, r->verdict.teacher ? r->verdict.teacher : "teacher");
    dt_strbuf_puts(out, "</title><style>");
    dt_strbuf_puts(out, css);
    dt_strbuf_puts(out, css_media);
    /* printed pages: the run and the evidence digest in every footer, page numbers */
    dt_strbuf_printf(out,
                     "\n@page{@bottom-left{content:\"distiltrace report \\B7  run %" PRId64
                     " \\B7  evidence %.16s\";font-size:8pt;color:#5b6472}"
                     "@bottom-right{content:\"page \" counter(page) \" of \" counter(pages);"
                     "font-size:8pt;color:#5b6472}}\n",
                     r->run_id, r->evidence_sha256);
    dt_strbuf_puts(out, "</style></head><body><main>\n<header class=\"top\"><div class=\"brand\">"
                        "Model provenance report</div><div class=\"meta\">");
    dt_strbuf_printf(out, "distiltrace &middot; run %" PRId64 " &middot; ", r->run_id);
    esc(out, r->started_at);
    dt_strbuf_puts(out, "</div></header>\n");
    verdict_section(out, r);
    summary_section(out, r);
    if (r->n_signals) {
        dt_strbuf_puts(out, "<section id=\"signals\"><h2>The signals in detail</h2>\n");
        for (size_t i = 0; i < r->n_signals; i++)
            signal_article(out, r, i);
        dt_strbuf_puts(out, "</section>\n");
    }
    method_section(out, r);
    custody_section(out, r);
    dt_strbuf_printf(out,
                     "<footer>Rendered by distiltrace " DT_VERSION
                     " from the evidence store alone (run %" PRId64
                     "). To check this file against the store and the input files: "
                     "<span class=\"mono\">distiltrace report --verify FILE --db STORE"
                     "</span>.</footer>\n</main></body></html>\n",
                     r->run_id);
    dt_report_embed_comment(out, rec);
    dt_free(rec);
    return dt_strbuf_failed(out) ? DT_ENOMEM : 0;
}

static int sniff(const char *d, size_t n)
{
    size_t i = dt_report_skip_space(d, n);
    return n - i >= 9 && !strncasecmp(d + i, "<!doctype", 9) ? 2 : 0;
}

static char *extract(const char *d, size_t n)
{
    return dt_report_comment_record(d, n);
}

const struct dt_report_format dt_report_format_html = {
    "html", NULL, "self-contained HTML (default; prints to PDF)", render, sniff, extract,
};

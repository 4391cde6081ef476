/*
 * Helpers shared by the report renderers (private to reports/): text cleaning, escaping for
 * each output syntax, number formatting, the plain-language texts about each signal and
 * relation, and the integrity record every report carries.
 */
#ifndef DT_REPORTS_REPORT_INTERNAL_H
#define DT_REPORTS_REPORT_INTERNAL_H

#include "reports/report.h"
#include "run/signals.h"

#include <stddef.h>

struct dt_strbuf;

/* Longest text kept from the store: names/paths, notes and rationales, generated examples. */
#define DT_REPORT_MAX_NAME 512
#define DT_REPORT_MAX_TEXT 16384
#define DT_REPORT_MAX_EXAMPLE 2000
#define DT_REPORT_MAX_EXAMPLES 5

/*
 * A cleaned copy of n bytes of s (heap, dt_free): invalid UTF-8 becomes U+FFFD, C0 controls
 * other than tab and newline become U+2400 + c, DEL U+2421, C1 controls and U+FFFE/U+FFFF
 * U+FFFD. Past max_bytes the text is cut at a character boundary and "… [cut: N bytes in
 * all]" appended. NULL on allocation failure.
 */
char *dt_report_clean(const char *s, size_t n, size_t max_bytes);

/* Escapers append s to sb. HTML/XML escape & < > " ' (text and attributes alike);
 * Markdown escapes its inline syntax and folds newlines into spaces. */
void dt_report_html_escape(struct dt_strbuf *sb, const char *s);
void dt_report_md_escape(struct dt_strbuf *sb, const char *s);

/* "0.0123", "—"-free ASCII forms: "n/a" for NaN. */
void dt_report_fmt_num(char *buf, size_t n, double v);
/* p-values: "3e-12", "0.041", "< 1e-300" for 0, "n/a" for NaN. */
void dt_report_fmt_p(char *buf, size_t n, double p);

/* A signal's title, description, limits and axis, from the signal table (run/signals.h). Never
 * NULL: unknown names get a generic text (title NULL: use the name). */
const struct dt_signal_text *dt_report_signal_text(const char *name);
/* What the class of evidence means; never NULL. */
const char *dt_report_class_text(const char *klass);
const char *dt_report_class_label(const char *klass); /* "Weights", "Inherited artifact", ... */
/* One plain sentence stating the relation, naming teacher and suspect (appended to sb, HTML
 * escaping applied when html is set). */
void dt_report_headline(struct dt_strbuf *sb, const struct dt_report *r, int html);
/* text as a sentence: first letter capitalised, a final period added (heap, dt_free). */
char *dt_report_sentence(const char *text);
/* The method-and-limits paragraphs (plain text, one per entry, NULL-terminated). */
extern const char *const dt_report_method_text[];
extern const char *const dt_report_limits_text[];

/* The command line as one shell-quoted string (heap, dt_free), NULL on allocation failure. */
char *dt_report_command_line(const struct dt_report *r);

#endif

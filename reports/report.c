/*
 * Loading a run from the evidence store into a struct dt_report, and what every renderer
 * shares: cleaning of stored text, escaping, number formatting, the evidence digest.
 *
 * Invariant: every char * in a loaded report is valid UTF-8 without control characters other
 * than tab and newline, and no longer than its DT_REPORT_MAX_* limit (plus the cut note).
 * The evidence digest is computed from the raw rows, before cleaning, so verification sees
 * any change to what the store holds.
 */
#include "reports/report.h"
#include "reports/report_internal.h"
#include "reports/store.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- text cleaning and escaping ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            return 0;
        v = (v << 6) | (b & 0x3f);
    }
    *cp = v;
    return len;
}

static void put_cp(struct dt_strbuf *sb, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    dt_strbuf_append(sb, b, n);
}

char *dt_report_clean(const char *s, size_t n, size_t max_bytes)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    dt_strbuf_puts(&sb, "");
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_seq(p + i, n - i, &cp);
        if (len == 0) {
            cp = 0xfffd;
            len = 1;
        } else if ((cp < 0x20 && cp != '\t' && cp != '\n')) {
            cp = 0x2400 + cp;
        } else if (cp == 0x7f) {
            cp = 0x2421;
        } else if ((cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff) {
            cp = 0xfffd;
        }
        if (sb.len + 4 > max_bytes) {
            dt_strbuf_printf(&sb, "\xe2\x80\xa6 [cut: %zu bytes in all]", n);
            break;
        }
        if (cp < 0x80)
            dt_strbuf_putc(&sb, (char)cp);
        else if (cp == 0xfffd || (cp >= 0x2400 && cp <= 0x2421) || len == 1)
            put_cp(&sb, cp);
        else
            dt_strbuf_append(&sb, p + i, len);
        i += len;
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return NULL;
    }
    return dt_strbuf_detach(&sb, NULL);
}

void dt_report_html_escape(struct dt_strbuf *sb, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (rep) {
            dt_strbuf_append(sb, run, (size_t)(s - run));
            dt_strbuf_puts(sb, rep);
            run = s + 1;
        }
    }
    dt_strbuf_append(sb, run, (size_t)(s - run));
}

/* Escapes only what would change the meaning in CommonMark/GFM inline text: backslashes,
 * code spans, emphasis, brackets (so no link can form), table pipes and raw HTML always; an
 * underscore only where it can open or close emphasis (not inside a word: "s_seqkd" stays as
 * it is); "~" only in "~~"; "!" only before "["; block markers ("#", "+", "-", "1.") only
 * at the start of the text. */
void dt_report_md_escape(struct dt_strbuf *sb, const char *s)
{
    if (!s)
        return;
    const char *start = s;
    for (; *s; s++) {
        char c = *s;
        char prev = s > start ? s[-1] : ' ', next = s[1];
        int alnum_prev = (prev >= 'a' && prev <= 'z') || (prev >= 'A' && prev <= 'Z') ||
                         (prev >= '0' && prev <= '9') || (unsigned char)prev >= 0x80;
        int alnum_next = (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
                         (next >= '0' && next <= '9') || (unsigned char)next >= 0x80;
        if (c == '\n' || c == '\t') {
            dt_strbuf_putc(sb, ' ');
        } else if (c == '<') {
            dt_strbuf_puts(sb, "&lt;");
        } else if (c == '>') {
            dt_strbuf_puts(sb, "&gt;");
        } else if (c == '&') {
            dt_strbuf_puts(sb, "&amp;");
        } else if (strchr("\\`*[]|", c) || (c == '_' && !(alnum_prev && alnum_next)) ||
                   (c == '~' && (next == '~' || prev == '~')) || (c == '!' && next == '[') ||
                   (s == start && strchr("#+-=", c))) {
            dt_strbuf_putc(sb, '\\');
            dt_strbuf_putc(sb, c);
        } else if (c == '.' && s > start && s[-1] >= '0' && s[-1] <= '9' &&
                   strspn(start, "0123456789") == (size_t)(s - start)) {
            dt_strbuf_puts(sb, "\\."); /* "1." at the start would open a list */
        } else {
            dt_strbuf_putc(sb, c);
        }
    }
}

void dt_report_fmt_num(char *buf, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(buf, n, "n/a");
    else if (v == 0)
        snprintf(buf, n, "0");
    else
        snprintf(buf, n, "%.4g", v);
}

void dt_report_fmt_p(char *buf, size_t n, double p)
{
    if (!isfinite(p))
        snprintf(buf, n, "n/a");
    else if (p <= 0)
        snprintf(buf, n, "< 1e-300");
    else if (p < 1e-3)
        snprintf(buf, n, "%.2g", p);
    else
        snprintf(buf, n, "%.3g", p);
}

/* ---- plain-language texts ---- */

enum dt_report_status dt_report_signal_status(const struct dt_report_signal *g)
{
    if (g->klass && !strcmp(g->klass, "info"))
        return DT_SIG_INFO;
    if (!g->applicable)
        return DT_SIG_NOT_APPLICABLE;
    if (g->significant)
        return DT_SIG_EVIDENCE;
    if (!isfinite(g->p_value))
        return DT_SIG_NOT_APPLICABLE;
    return DT_SIG_NO_EVIDENCE;
}

const char *dt_report_status_label(enum dt_report_status st)
{
    switch (st) {
    case DT_SIG_EVIDENCE:
        return "Evidence found";
    case DT_SIG_NO_EVIDENCE:
        return "No evidence";
    case DT_SIG_NOT_APPLICABLE:
        return "Not applicable";
    case DT_SIG_INFO:
        return "Information only";
    }
    return "";
}

const char *dt_report_status_key(enum dt_report_status st)
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

/* The texts are the signal table's (run/signals.h): one list names and describes the signals. */
const struct dt_signal_text *dt_report_signal_text(const char *name)
{
    static const struct dt_signal_text generic = {
        NULL,
        "A measurement of how the suspect relates to the teacher, judged against the "
        "controls.",
        "See the method section for what a single signal can and cannot show.",
        "the signal's statistic (see its description for which way is teacher-like)"};
    const struct dt_signal_def *d = dt_signal_find(name);
    return d ? &d->text : &generic;
}

const char *dt_report_class_label(const char *klass)
{
    if (!klass)
        return "Unclassified";
    if (!strcmp(klass, "weights"))
        return "Weights";
    if (!strcmp(klass, "artifact"))
        return "Inherited artifact";
    if (!strcmp(klass, "closeness"))
        return "Closeness";
    if (!strcmp(klass, "info"))
        return "Information";
    return "Unclassified";
}

const char *dt_report_class_text(const char *klass)
{
    const char *k = klass ? klass : "";
    if (!strcmp(k, "weights"))
        return "Weight evidence: direct evidence that the suspect's parameters come from the "
               "teacher's (a copy, a quantization, a fine-tune).";
    if (!strcmp(k, "artifact"))
        return "Inherited artifact: a trace specific to the teacher (its identity, its habits, "
               "its watermark) found in the suspect. Such traces are learned from the teacher's "
               "outputs, which is what distillation means.";
    if (!strcmp(k, "closeness"))
        return "Closeness: the suspect behaves more like the teacher than the controls do. "
               "Closeness alone is not proof of distillation: models trained on similar data "
               "are alike too.";
    if (!strcmp(k, "info"))
        return "Information only: not a statistical test and not counted in the verdict.";
    return "Unclassified measurement.";
}

int dt_report_relation_is_derived(const char *relation)
{
    return relation && (!strcmp(relation, "same-weights") || !strcmp(relation, "weight-derived") ||
                        !strcmp(relation, "distilled"));
}

const char *const dt_report_gate_relations[] = {"same-weights", "weight-derived", "distilled",
                                                "independent",  "inconclusive",   NULL};

int dt_report_set_gate(struct dt_report *r, const char *const *relations, size_t n,
                       struct dt_error *err)
{
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (dt_report_gate_relations[k] && strcmp(dt_report_gate_relations[k], relations[i]))
            k++;
        if (!dt_report_gate_relations[k])
            return dt_error_set(err, DT_EINVAL, "unknown relation '%s'", relations[i]);
        mask |= 1u << k;
    }
    r->gate_mask = mask;
    return 0;
}

int dt_report_gate_fails(const struct dt_report *r)
{
    if (!r->verdict.present || !r->verdict.relation)
        return 0;
    if (!r->gate_mask)
        return dt_report_relation_is_derived(r->verdict.relation);
    for (size_t k = 0; dt_report_gate_relations[k]; k++)
        if ((r->gate_mask & (1u << k)) && !strcmp(dt_report_gate_relations[k], r->verdict.relation))
            return 1;
    return 0;
}

void dt_report_headline(struct dt_strbuf *sb, const struct dt_report *r, int html)
{
    const char *rel = r->verdict.present ? r->verdict.relation : NULL;
    const char *t = r->verdict.teacher ? r->verdict.teacher : "the teacher";
    const char *s = r->verdict.suspect ? r->verdict.suspect : "the suspect";
    const char *pre = "", *mid = "", *post = "";
    if (!rel) {
        pre = "This run recorded no verdict about the suspect ";
        mid = " and the teacher ";
        post = ".";
    } else if (!strcmp(rel, "same-weights")) {
        pre = "The suspect ";
        mid = " is the teacher ";
        post = ": a copy, re-encoding or quantization of the same weights.";
    } else if (!strcmp(rel, "weight-derived")) {
        pre = "The suspect ";
        mid = " was built from the weights of the teacher ";
        post = " (fine-tuned, merged or pruned).";
    } else if (!strcmp(rel, "distilled")) {
        pre = "The suspect ";
        mid = " was probably distilled from the teacher ";
        post = ": it learned from the teacher's outputs.";
    } else if (!strcmp(rel, "independent")) {
        pre = "No significant evidence was found that the suspect ";
        mid = " derives from the teacher ";
        post = ".";
    } else {
        pre = "The evidence could not decide whether the suspect ";
        mid = " derives from the teacher ";
        post = ".";
    }
    dt_strbuf_puts(sb, pre);
    if (html) {
        dt_strbuf_puts(sb, "<b>\xe2\x80\x9c");
        dt_report_html_escape(sb, s);
        dt_strbuf_puts(sb, "\xe2\x80\x9d</b>");
    } else {
        dt_strbuf_printf(sb, "\xe2\x80\x9c%s\xe2\x80\x9d", s);
    }
    dt_strbuf_puts(sb, mid);
    if (html) {
        dt_strbuf_puts(sb, "<b>\xe2\x80\x9c");
        dt_report_html_escape(sb, t);
        dt_strbuf_puts(sb, "\xe2\x80\x9d</b>");
    } else {
        dt_strbuf_printf(sb, "\xe2\x80\x9c%s\xe2\x80\x9d", t);
    }
    dt_strbuf_puts(sb, post);
}

char *dt_report_sentence(const char *text)
{
    size_t n = text ? strlen(text) : 0;
    char *out = dt_malloc(n + 2);
    if (!out)
        return NULL;
    memcpy(out, text ? text : "", n + 1);
    if (n && out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
    while (n && (out[n - 1] == ' ' || out[n - 1] == '\n'))
        out[--n] = '\0';
    if (n && !strchr(".!?", out[n - 1])) {
        out[n] = '.';
        out[n + 1] = '\0';
    }
    return out;
}

const char *const dt_report_method_text[] = {
    "Every signal compares the suspect with the teacher and, in exactly the same way, each "
    "control model with the teacher. The control models are known to be independent of the "
    "teacher; they show how close an unrelated model comes by chance or through similar "
    "training data. A signal counts as evidence only when the suspect stands out from the "
    "controls.",
    "Each tested signal yields a one-sided p-value from a named statistical test: the "
    "probability of a result at least this extreme if the suspect were as unrelated to the "
    "teacher as the controls are. The p-values of all signals are adjusted together for "
    "multiple testing (the adjusted value is shown), and compared with the significance level "
    "alpha chosen before the run.",
    "The verdict weighs the kinds of evidence differently. Weight evidence can establish "
    "same-weights or weight-derived. Distilled needs an inherited artifact (identity, habits, "
    "watermark), or closeness together with such an artifact; closeness alone never "
    "establishes distillation.",
    NULL,
};

const char *const dt_report_limits_text[] = {
    "A p-value measures surprise under the null hypothesis, not the probability that the "
    "verdict is right. It is only as good as the controls: controls trained on very different "
    "data make any suspect look close to the teacher.",
    "Absence of evidence is not evidence of absence: a distiller can scrub identity claims, "
    "paraphrase answers and avoid watermarked outputs. \"Independent\" means no signal stood "
    "out, not that derivation is excluded.",
    "The probe set is finite and fixed by the seed recorded below; another probe set can give "
    "somewhat different figures. Re-running with the same inputs, seed and thread count "
    "reproduces the figures exactly.",
    "The report describes the files whose SHA-256 hashes are listed in the chain of custody, "
    "and nothing else.",
    NULL,
};

char *dt_report_command_line(const struct dt_report *r)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    cJSON *a = cJSON_Parse(r->argv_json ? r->argv_json : "[]");
    const cJSON *it;
    int first = 1;
    dt_strbuf_puts(&sb, "distiltrace");
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it))
            continue;
        const char *v = it->valuestring;
        dt_strbuf_putc(&sb, ' ');
        (void)first;
        if (*v && !v[strcspn(v, " \t\n'\"\\$`!*?[]{}()<>|&;#~")]) {
            dt_strbuf_puts(&sb, v);
        } else {
            dt_strbuf_putc(&sb, '\'');
            for (const char *c = v; *c; c++) {
                if (*c == '\'')
                    dt_strbuf_puts(&sb, "'\\''");
                else
                    dt_strbuf_putc(&sb, *c);
            }
            dt_strbuf_putc(&sb, '\'');
        }
    }
    cJSON_Delete(a);
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return NULL;
    }
    return dt_strbuf_detach(&sb, NULL);
}

/* ---- loading ---- */

struct load_ctx {
    struct dt_report *r;
    struct dt_strbuf ev; /* canonical evidence text, hashed at the end */
    int oom;
    int64_t teacher_id, suspect_id;
    int n_verdicts, verdict_attributed; /* rows seen; whether the kept one is attributed */
    size_t sig_cap;
    struct dt_error *err;
};

/* Cleaned copy or NULL for NULL; sets oom on failure. */
static char *cp_clean(struct load_ctx *c, const char *s, size_t max)
{
    if (!s)
        return NULL;
    char *out = dt_report_clean(s, strlen(s), max);
    if (!out)
        c->oom = 1;
    return out;
}

static void ev_str(struct dt_strbuf *sb, const char *s)
{
    /* length-prefixed so no separator inside a value can forge another row */
    if (!s) {
        dt_strbuf_puts(sb, "-1:;");
        return;
    }
    dt_strbuf_printf(sb, "%zu:", strlen(s));
    dt_strbuf_puts(sb, s);
    dt_strbuf_putc(sb, ';');
}

static void ev_num(struct dt_strbuf *sb, double v)
{
    if (isfinite(v))
        dt_strbuf_printf(sb, "%.17g;", v);
    else
        dt_strbuf_puts(sb, "null;");
}

static int on_run(void *ud, const struct dt_store_run *run)
{
    struct load_ctx *c = ud;
    struct dt_report *r = c->r;
    r->run_id = run->id;
    r->command = cp_clean(c, run->command, DT_REPORT_MAX_NAME);
    r->argv_json = cp_clean(c, run->argv_json, DT_REPORT_MAX_TEXT);
    r->tool_version = cp_clean(c, run->tool_version, DT_REPORT_MAX_NAME);
    r->host = cp_clean(c, run->host, DT_REPORT_MAX_NAME);
    r->started_at = cp_clean(c, run->started_at, DT_REPORT_MAX_NAME);
    r->ended_at = cp_clean(c, run->ended_at, DT_REPORT_MAX_NAME);
    r->status = cp_clean(c, run->status, DT_REPORT_MAX_NAME);
    r->has_seed = run->has_seed;
    r->seed = run->seed;
    r->threads = run->threads;
    r->has_exit_code = run->has_exit_code;
    r->exit_code = run->exit_code;
    dt_strbuf_printf(&c->ev, "run;%" PRId64 ";", run->id);
    ev_str(&c->ev, run->command);
    ev_str(&c->ev, run->argv_json);
    ev_str(&c->ev, run->tool_version);
    ev_str(&c->ev, run->started_at);
    dt_strbuf_printf(&c->ev, "%d:%" PRIu64 ";%d\n", run->has_seed, run->seed, run->threads);
    return 0;
}

/* Cleans every string of a cJSON tree in place. */
static int clean_json(cJSON *j, size_t max)
{
    for (; j; j = j->next) {
        if (cJSON_IsString(j) && j->valuestring) {
            char *s = dt_report_clean(j->valuestring, strlen(j->valuestring), max);
            if (!s || !cJSON_SetValuestring(j, s)) {
                dt_free(s);
                return -1;
            }
            dt_free(s);
        }
        if (j->string) {
            char *k = dt_report_clean(j->string, strlen(j->string), DT_REPORT_MAX_NAME);
            if (!k)
                return -1;
            if (strcmp(k, j->string)) {
                /* keys are rarely dirty; cJSON frees them with cJSON_free */
                char *nk = cJSON_malloc(strlen(k) + 1);
                if (!nk) {
                    dt_free(k);
                    return -1;
                }
                memcpy(nk, k, strlen(k) + 1);
                if (!(j->type & cJSON_StringIsConst))
                    cJSON_free(j->string);
                j->string = nk;
                j->type &= ~cJSON_StringIsConst;
            }
            dt_free(k);
        }
        if (j->child && clean_json(j->child, max))
            return -1;
    }
    return 0;
}

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int on_signal(void *ud, const struct dt_store_signal *g)
{
    struct load_ctx *c = ud;
    struct dt_report *r = c->r;
    dt_strbuf_puts(&c->ev, "signal;");
    ev_str(&c->ev, g->name);
    ev_str(&c->ev, g->test);
    ev_num(&c->ev, g->statistic);
    ev_num(&c->ev, g->p_value);
    ev_num(&c->ev, g->ci_low);
    ev_num(&c->ev, g->ci_high);
    ev_num(&c->ev, g->effect);
    dt_strbuf_printf(&c->ev, "%" PRId64 ";%" PRId64 ";%" PRId64 ";", g->n, g->teacher_model_id,
                     g->suspect_model_id);
    ev_str(&c->ev, g->details_json);
    dt_strbuf_putc(&c->ev, '\n');
    /* with candidate teachers the report is about the attributed one: its signals only */
    if (c->n_verdicts > 1 && g->teacher_model_id != c->teacher_id)
        return 0;
    if (r->n_signals == c->sig_cap) {
        size_t nc = c->sig_cap ? c->sig_cap * 2 : 16;
        struct dt_report_signal *p = dt_realloc_array(r->signals, nc, sizeof *p);
        if (!p)
            return DT_ENOMEM;
        r->signals = p;
        c->sig_cap = nc;
    }
    struct dt_report_signal *s = &r->signals[r->n_signals++];
    memset(s, 0, sizeof *s);
    s->name = cp_clean(c, g->name, DT_REPORT_MAX_NAME);
    s->test = cp_clean(c, g->test, DT_REPORT_MAX_NAME);
    s->statistic = g->statistic;
    s->p_value = g->p_value;
    s->ci_low = g->ci_low;
    s->ci_high = g->ci_high;
    s->effect = g->effect;
    s->n = g->n;
    s->p_adjusted = NAN;
    s->alpha = NAN;
    s->applicable = 1;
    if (c->oom)
        return DT_ENOMEM;
    cJSON *d = g->details_json ? cJSON_Parse(g->details_json) : NULL;
    if (!d)
        return 0;
    if (clean_json(d, DT_REPORT_MAX_TEXT)) {
        cJSON_Delete(d);
        return DT_ENOMEM;
    }
    s->klass = cp_clean(c, json_str(d, "class"), DT_REPORT_MAX_NAME);
    s->note = cp_clean(c, json_str(d, "note"), DT_REPORT_MAX_TEXT);
    s->suspect_name = cp_clean(c, json_str(d, "suspect_name"), DT_REPORT_MAX_NAME);
    s->p_adjusted = json_num(d, "p_adjusted");
    s->alpha = json_num(d, "alpha");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "applicable");
    if (cJSON_IsBool(v))
        s->applicable = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(d, "significant");
    s->significant = cJSON_IsTrue(v);
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(d, "controls");
    int nctl = cJSON_IsArray(ctl) ? cJSON_GetArraySize(ctl) : 0;
    if (nctl > 0 && (s->controls = dt_calloc((size_t)nctl, sizeof *s->controls))) {
        const cJSON *it;
        cJSON_ArrayForEach(it, ctl)
        {
            struct dt_report_control *cc = &s->controls[s->n_controls++];
            cc->name = cp_clean(c, json_str(it, "name") ? json_str(it, "name") : "control",
                                DT_REPORT_MAX_NAME);
            cc->statistic = json_num(it, "statistic");
        }
    } else if (nctl > 0) {
        c->oom = 1;
    }
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(d, "examples");
    int nex = cJSON_IsArray(ex) ? cJSON_GetArraySize(ex) : 0;
    if (nex > DT_REPORT_MAX_EXAMPLES)
        nex = DT_REPORT_MAX_EXAMPLES;
    if (nex > 0 && (s->examples = dt_calloc((size_t)nex, sizeof *s->examples))) {
        const cJSON *it;
        cJSON_ArrayForEach(it, ex)
        {
            if (s->n_examples == (size_t)nex)
                break;
            const char *txt = cJSON_IsString(it) ? it->valuestring : json_str(it, "response");
            if (!txt)
                continue;
            /* the details were cleaned with the longer limit; cut examples shorter */
            s->examples[s->n_examples++] = cp_clean(c, txt, DT_REPORT_MAX_EXAMPLE);
        }
    } else if (nex > 0) {
        c->oom = 1;
    }
    char *dj = cJSON_PrintUnformatted(d);
    if (dj) {
        s->details_json = dt_strdup(dj);
        cJSON_free(dj);
    }
    if (!s->details_json)
        c->oom = 1;
    cJSON_Delete(d);
    return c->oom ? DT_ENOMEM : 0;
}

/* Whether a verdict row's details mark it as the attributed teacher's. */
static int row_attributed(const char *details_json)
{
    cJSON *d = details_json ? cJSON_Parse(details_json) : NULL;
    int a = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "attributed"));
    cJSON_Delete(d);
    return a;
}

static void free_strs(char **v, size_t n);

static void verdict_release(struct dt_report_verdict *vd)
{
    dt_free(vd->relation);
    dt_free(vd->rationale);
    dt_free(vd->teacher);
    dt_free(vd->suspect);
    dt_free(vd->details_json);
    free_strs(vd->controls, vd->n_controls);
    memset(vd, 0, sizeof *vd);
}

static int on_verdict(void *ud, const struct dt_store_verdict *v)
{
    struct load_ctx *c = ud;
    struct dt_report_verdict *vd = &c->r->verdict;
    int attributed = row_attributed(v->details_json);
    c->n_verdicts++;
    if (vd->present) {
        /* one verdict per run: with candidate teachers, the attributed one's row */
        if (c->verdict_attributed || !attributed)
            return 0;
        verdict_release(vd);
    }
    c->verdict_attributed = attributed;
    vd->present = 1;
    vd->relation = cp_clean(c, v->relation, DT_REPORT_MAX_NAME);
    vd->rationale = cp_clean(c, v->rationale, DT_REPORT_MAX_TEXT);
    vd->p_value = v->p_value;
    vd->alpha = v->alpha;
    c->teacher_id = v->teacher_model_id;
    c->suspect_id = v->suspect_model_id;
    dt_strbuf_puts(&c->ev, "verdict;");
    ev_str(&c->ev, v->relation);
    ev_num(&c->ev, v->p_value);
    ev_num(&c->ev, v->alpha);
    ev_str(&c->ev, v->rationale);
    ev_str(&c->ev, v->details_json);
    dt_strbuf_printf(&c->ev, "%" PRId64 ";%" PRId64 "\n", v->teacher_model_id, v->suspect_model_id);
    cJSON *d = v->details_json ? cJSON_Parse(v->details_json) : NULL;
    if (d && clean_json(d, DT_REPORT_MAX_TEXT) == 0) {
        vd->teacher = cp_clean(c, json_str(d, "teacher"), DT_REPORT_MAX_NAME);
        vd->suspect = cp_clean(c, json_str(d, "suspect"), DT_REPORT_MAX_NAME);
        const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(d, "controls");
        int n = cJSON_IsArray(ctl) ? cJSON_GetArraySize(ctl) : 0;
        if (n > 0 && (vd->controls = dt_calloc((size_t)n, sizeof *vd->controls))) {
            const cJSON *it;
            cJSON_ArrayForEach(it, ctl)
            {
                if (cJSON_IsString(it))
                    vd->controls[vd->n_controls++] =
                        cp_clean(c, it->valuestring, DT_REPORT_MAX_NAME);
            }
        } else if (n > 0) {
            c->oom = 1;
        }
        /* with candidates the comparison's relation is the attribution's (inconclusive when
         * no candidate beats the others) and its p-value is corrected for the candidates */
        const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(d, "comparison");
        const char *rel = json_str(cmp, "relation");
        if (rel && strcmp(rel, vd->relation ? vd->relation : "")) {
            dt_free(vd->relation);
            vd->relation = cp_clean(c, rel, DT_REPORT_MAX_NAME);
        }
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(cmp, "p_value");
        if (cJSON_IsNumber(pv))
            vd->p_value = pv->valuedouble;
        char *dj = cJSON_PrintUnformatted(d);
        if (dj) {
            vd->details_json = dt_strdup(dj);
            cJSON_free(dj);
        }
        if (!vd->details_json)
            c->oom = 1;
    }
    cJSON_Delete(d);
    return c->oom ? DT_ENOMEM : 0;
}

struct model_ctx {
    struct load_ctx *c;
    const char *role;
};

static int on_model(void *ud, const struct dt_store_model_row *m)
{
    struct model_ctx *mc = ud;
    struct load_ctx *c = mc->c;
    struct dt_report *r = c->r;
    struct dt_report_input *p = dt_realloc_array(r->inputs, r->n_inputs + 1, sizeof *p);
    if (!p)
        return DT_ENOMEM;
    r->inputs = p;
    struct dt_report_input *in = &r->inputs[r->n_inputs++];
    memset(in, 0, sizeof *in);
    in->model_id = m->id;
    in->role = cp_clean(c, mc->role, DT_REPORT_MAX_NAME);
    in->name = cp_clean(c, m->name, DT_REPORT_MAX_NAME);
    in->path = cp_clean(c, m->path, DT_REPORT_MAX_TEXT);
    in->format = cp_clean(c, m->format, DT_REPORT_MAX_NAME);
    in->arch = cp_clean(c, m->arch, DT_REPORT_MAX_NAME);
    in->sha256 = cp_clean(c, m->sha256, DT_REPORT_MAX_NAME);
    in->xxh128 = cp_clean(c, m->xxh128, DT_REPORT_MAX_NAME);
    in->tokenizer_hash = cp_clean(c, m->tokenizer_hash, DT_REPORT_MAX_NAME);
    in->size_bytes = m->size_bytes;
    in->n_params = m->n_params;
    dt_strbuf_printf(&c->ev, "input;%" PRId64 ";", m->id);
    ev_str(&c->ev, mc->role);
    ev_str(&c->ev, m->sha256);
    dt_strbuf_printf(&c->ev, "%" PRId64 "\n", m->size_bytes);
    return c->oom ? DT_ENOMEM : 0;
}

static int add_model(struct load_ctx *c, struct dt_store *s, int64_t id, const char *role)
{
    if (id <= 0)
        return 0;
    for (size_t i = 0; i < c->r->n_inputs; i++)
        if (c->r->inputs[i].model_id == id)
            return 0;
    struct model_ctx mc = {c, role};
    int rc = dt_store_model_get(s, id, on_model, &mc, c->err);
    /* a row that is gone (only possible in a hand-edited store) is left out, not fatal */
    if (rc == DT_ENOTFOUND) {
        dt_error_clear(c->err);
        rc = 0;
    }
    return rc;
}

static int on_collection(void *ud, const struct dt_store_collection_row *row)
{
    int64_t *ids = ud;
    for (int i = 0; i < 63; i++) {
        if (ids[i] == row->model_id)
            return 0;
        if (ids[i] == 0) {
            ids[i] = row->model_id;
            return 0;
        }
    }
    return 0;
}

/* compare records each local party's chat format in its collection's params (chat_format) */
static int on_collection_format(void *ud, const struct dt_store_collection_row *row)
{
    struct load_ctx *c = ud;
    cJSON *p = row->params_json ? cJSON_Parse(row->params_json) : NULL;
    const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "chat_format"));
    for (size_t i = 0; f && i < c->r->n_inputs; i++) {
        struct dt_report_input *in = &c->r->inputs[i];
        if (in->model_id == row->model_id && !in->chat_format)
            in->chat_format = cp_clean(c, f, DT_REPORT_MAX_NAME);
    }
    const char *sc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "scoring"));
    for (size_t i = 0; sc && (!strcmp(sc, "q8") || !strcmp(sc, "exact")) && i < c->r->n_inputs; i++) {
        struct dt_report_input *in = &c->r->inputs[i];
        if (in->model_id == row->model_id && !in->scoring)
            in->scoring = cp_clean(c, sc, DT_REPORT_MAX_NAME);
    }
    cJSON_Delete(p);
    return c->oom ? DT_ENOMEM : 0;
}

int dt_report_load(struct dt_store *s, int64_t run_id, struct dt_report **out, struct dt_error *err)
{
    struct load_ctx c = {0};
    struct dt_report *r = dt_calloc(1, sizeof *r);
    int64_t coll_models[64] = {0};
    int rc;
    *out = NULL;
    if (!r)
        return dt_error_set(err, DT_ENOMEM, "out of memory loading a report");
    c.r = r;
    c.err = err;
    r->verdict.p_value = NAN;
    r->verdict.alpha = NAN;
    if ((rc = dt_store_run_get(s, run_id, on_run, &c, err)))
        goto done;
    if ((rc = dt_store_verdicts_list(s, run_id, on_verdict, &c, err)))
        goto done;
    if ((rc = dt_store_signals_list(s, run_id, on_signal, &c, err)))
        goto done;
    if ((rc = add_model(&c, s, c.teacher_id, "teacher")) ||
        (rc = add_model(&c, s, c.suspect_id, "suspect")))
        goto done;
    if (r->verdict.details_json) {
        cJSON *d = cJSON_Parse(r->verdict.details_json);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(d, "control_model_ids"), *it;
        cJSON_ArrayForEach(it, ids)
        {
            if (cJSON_IsNumber(it) && (rc = add_model(&c, s, (int64_t)it->valuedouble, "control")))
                break;
        }
        cJSON_Delete(d);
        if (rc)
            goto done;
    }
    /* whatever else the run read (its collections' models) */
    if ((rc = dt_store_collections_list(s, 0, run_id, on_collection, coll_models, err)))
        goto done;
    for (int i = 0; i < 64 && coll_models[i] && rc == 0; i++)
        rc = add_model(&c, s, coll_models[i], "other");
    if (rc || (rc = dt_store_collections_list(s, 0, run_id, on_collection_format, &c, err)))
        goto done;
    for (size_t i = 0; i < r->n_inputs; i++) {
        char **name = !strcmp(r->inputs[i].role, "teacher")   ? &r->verdict.teacher
                      : !strcmp(r->inputs[i].role, "suspect") ? &r->verdict.suspect
                                                              : NULL;
        if (name && !*name && r->inputs[i].name && !(*name = dt_strdup(r->inputs[i].name)))
            c.oom = 1;
    }
    if (c.oom || dt_strbuf_failed(&c.ev)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory loading run %lld", (long long)run_id);
        goto done;
    }
    dt_hash_sha256_hex(c.ev.data ? c.ev.data : "", c.ev.len, r->evidence_sha256);
done:
    if (rc == DT_ENOMEM && err && !err->msg[0])
        dt_error_set(err, DT_ENOMEM, "out of memory loading run %lld", (long long)run_id);
    dt_strbuf_release(&c.ev);
    if (rc) {
        dt_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dt_free(v[i]);
    dt_free(v);
}

void dt_report_free(struct dt_report *r)
{
    if (!r)
        return;
    dt_free(r->command);
    dt_free(r->argv_json);
    dt_free(r->tool_version);
    dt_free(r->host);
    dt_free(r->started_at);
    dt_free(r->ended_at);
    dt_free(r->status);
    verdict_release(&r->verdict);
    for (size_t i = 0; i < r->n_signals; i++) {
        struct dt_report_signal *g = &r->signals[i];
        dt_free(g->name);
        dt_free(g->test);
        dt_free(g->klass);
        dt_free(g->note);
        dt_free(g->suspect_name);
        dt_free(g->details_json);
        for (size_t j = 0; j < g->n_controls; j++)
            dt_free(g->controls[j].name);
        dt_free(g->controls);
        free_strs(g->examples, g->n_examples);
    }
    dt_free(r->signals);
    for (size_t i = 0; i < r->n_inputs; i++) {
        struct dt_report_input *in = &r->inputs[i];
        dt_free(in->role);
        dt_free(in->name);
        dt_free(in->path);
        dt_free(in->format);
        dt_free(in->arch);
        dt_free(in->sha256);
        dt_free(in->xxh128);
        dt_free(in->tokenizer_hash);
        dt_free(in->chat_format);
        dt_free(in->scoring);
    }
    dt_free(r->inputs);
    dt_free(r);
}

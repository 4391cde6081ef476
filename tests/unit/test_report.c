/*
 * Unit tests of the report layer: text cleaning, escaping, number formatting, each renderer
 * on a report built in memory and on one loaded from a store, the integrity seal and its
 * verification, and allocation failures while rendering.
 */
#include "reports/format.h"
#include "reports/report.h"
#include "reports/verify.h"
#include "reports/report_internal.h"
#include "reports/store.h"
#include "tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct dt_report_format *sniff_str(const char *s)
{
    return dt_report_format_sniff(s, strlen(s));
}

static int valid_utf8_no_controls(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 && *p != '\n' && *p != '\t')
            return 0;
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return 0;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        p += n + 1;
    }
    return 1;
}

static void test_clean(void)
{
    const char bad[] = "a\x01"
                       "b\x1b[31m\x7f \xff\xfe \xed\xa0\x80 \xc2\x85 ok\n\ttab";
    char *c = dt_report_clean(bad, sizeof bad - 1, 1000);
    TAP_OK(c && valid_utf8_no_controls(c), "cleaned text is valid UTF-8 without controls");
    TAP_OK(c && strstr(c, "\xe2\x90\x81") && strstr(c, "\xe2\x90\x9b"),
           "controls shown as U+2400 pictures");
    TAP_OK(c && strstr(c, "\xef\xbf\xbd"), "invalid bytes become U+FFFD");
    TAP_OK(c && strstr(c, "ok\n\ttab"), "newline and tab kept");
    dt_free(c);
    char *big = malloc(1 << 20);
    memset(big, 'x', 1 << 20);
    c = dt_report_clean(big, 1 << 20, 100);
    TAP_OK(c && strlen(c) < 160 && strstr(c, "[cut: 1048576 bytes in all]"), "long text cut");
    dt_free(c);
    /* a cut never splits a multibyte character */
    const char *e = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    c = dt_report_clean(e, strlen(e), 7);
    TAP_OK(c && valid_utf8_no_controls(c), "cut at a character boundary");
    dt_free(c);
    free(big);
}

static void test_escape(void)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_report_html_escape(&sb, "<script>alert('x')</script> & \"q\"");
    TAP_OK(!strcmp(sb.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"),
           "html escape: %s", sb.data);
    dt_strbuf_reset(&sb);
    dt_report_md_escape(&sb, "| *a* [l](u) <b>\nx");
    TAP_OK(!strstr(sb.data, "<b>") && !strchr(sb.data, '\n') && strstr(sb.data, "\\|") &&
               strstr(sb.data, "\\*a\\*"),
           "markdown escape: %s", sb.data);
    dt_strbuf_release(&sb);
    char b[40];
    dt_report_fmt_p(b, sizeof b, 3e-12);
    TAP_OK(!strcmp(b, "3e-12"), "fmt_p small: %s", b);
    dt_report_fmt_p(b, sizeof b, 0.0412);
    TAP_OK(!strcmp(b, "0.0412"), "fmt_p: %s", b);
    dt_report_fmt_p(b, sizeof b, 0);
    TAP_OK(!strcmp(b, "< 1e-300"), "fmt_p zero: %s", b);
    dt_report_fmt_p(b, sizeof b, NAN);
    TAP_OK(!strcmp(b, "n/a"), "fmt_p NaN");
    char *s = dt_report_sentence("it claims x");
    TAP_OK(s && !strcmp(s, "It claims x."), "sentence: %s", s ? s : "");
    dt_free(s);
    TAP_OK(dt_report_format_parse("sarif") && !strcmp(dt_report_format_parse("sarif")->name, "sarif") &&
               dt_report_format_parse("markdown") == dt_report_format_parse("md") &&
               !dt_report_format_parse("pdf") && !dt_report_format_parse(NULL),
           "format names and aliases");
    char names[64];
    dt_report_format_names(names, sizeof names, ", ");
    TAP_OK(!strcmp(names, "html, md, json, junit, sarif"), "format list: %s", names);
    dt_report_format_names(names, 8, ", ");
    TAP_OK(strlen(names) < 8, "format list cut to fit: %s", names);
    TAP_OK(sniff_str("# x\n") == dt_report_format_parse("md") &&
               sniff_str("\xef\xbb\xbf <!DOCTYPE html>") == dt_report_format_parse("html") &&
               sniff_str(" {\"a\": 1}") == dt_report_format_parse("json") &&
               sniff_str("{\"$schema\": \"sarif\"}") == dt_report_format_parse("sarif") &&
               sniff_str("<?xml version") == dt_report_format_parse("junit"),
           "sniffing picks the format whose row scores highest");
}

/* A run in a fresh store: two models, three signals, a verdict. */
static int64_t make_store(struct dt_store *s, const char *dir)
{
    struct dt_error err = {0};
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/t.gguf", dir);
    snprintf(p2, sizeof p2, "%s/s.gguf", dir);
    FILE *f = fopen(p1, "wb");
    fputs("teacher bytes", f);
    fclose(f);
    f = fopen(p2, "wb");
    fputs("suspect bytes <script>", f);
    fclose(f);
    char *argv[] = {"compare", "--teacher", p1, "--suspect", p2};
    uint64_t seed = 7;
    int64_t run = 0, t = 0, su = 0;
    struct dt_store_model mt = {"teacher", p1, "gguf", "llama", 100, NULL};
    struct dt_store_model ms = {"sus<b>", p2, "gguf", "llama", 50, NULL};
    if (dt_store_run_begin(s, 5, argv, &seed, 2, &run, &err) ||
        dt_store_model_upsert(s, &mt, &t, &err) || dt_store_model_upsert(s, &ms, &su, &err))
        return -1;
    struct dt_store_signal g = {0,
                                run,
                                "identity",
                                t,
                                su,
                                "fisher-exact",
                                0.9,
                                1e-9,
                                NAN,
                                NAN,
                                0.9,
                                40,
                                "{\"class\":\"artifact\",\"applicable\":true,\"significant\":true,"
                                "\"note\":\"claims <i>x</i>\",\"p_adjusted\":3e-9,\"alpha\":0.01,"
                                "\"controls\":[{\"name\":\"c1\",\"statistic\":0}],"
                                "\"examples\":[\"]]> </textarea>\"]}"};
    struct dt_store_signal g2 = {0,
                                 run,
                                 "weights",
                                 t,
                                 su,
                                 NULL,
                                 NAN,
                                 NAN,
                                 NAN,
                                 NAN,
                                 NAN,
                                 -1,
                                 "{\"class\":\"weights\",\"applicable\":false,\"note\":\"n/a\"}"};
    struct dt_store_signal g3 = {0,
                                 run,
                                 "tokenizer",
                                 t,
                                 su,
                                 NULL,
                                 1,
                                 NAN,
                                 NAN,
                                 NAN,
                                 NAN,
                                 -1,
                                 "{\"class\":\"info\",\"applicable\":true}"};
    struct dt_store_verdict v = {0,
                                 run,
                                 t,
                                 su,
                                 "distilled",
                                 3e-9,
                                 0.01,
                                 "it claims x",
                                 "{\"teacher\":\"teacher\",\"suspect\":\"sus<b>\","
                                 "\"controls\":[\"c1\"],\"control_model_ids\":[]}"};
    if (dt_store_signal_insert(s, &g, NULL, &err) || dt_store_signal_insert(s, &g2, NULL, &err) ||
        dt_store_signal_insert(s, &g3, NULL, &err) || dt_store_verdict_insert(s, &v, NULL, &err) ||
        dt_store_run_end(s, run, 1, &err))
        return -1;
    return run;
}

static void test_render(void)
{
    char dir[] = "/tmp/dt_test_report_XXXXXX";
    char db[600];
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    if (!mkdtemp(dir)) {
        TAP_OK(0, "mkdtemp");
        return;
    }
    snprintf(db, sizeof db, "%s/e.db", dir);
    TAP_OK(dt_store_open(db, &s, &err) == 0, "store opens");
    int64_t run = make_store(s, dir);
    TAP_OK(run > 0, "fixture run written");
    int64_t latest = 0;
    TAP_OK(dt_store_latest_verdict_run(s, &latest, &err) == 0 && latest == run, "latest run");
    struct dt_report *r = NULL;
    TAP_OK(dt_report_load(s, run, &r, &err) == 0 && r, "report loads: %s", err.msg);
    if (!r) {
        dt_store_close(s);
        return;
    }
    TAP_OK(r->n_signals == 3 && r->n_inputs == 2 && r->verdict.present, "signals, inputs");
    TAP_OK(!strcmp(r->inputs[0].role, "teacher") && !strcmp(r->inputs[1].role, "suspect"), "roles");
    TAP_OK(dt_report_signal_status(&r->signals[0]) == DT_SIG_EVIDENCE &&
               dt_report_signal_status(&r->signals[1]) == DT_SIG_NOT_APPLICABLE &&
               dt_report_signal_status(&r->signals[2]) == DT_SIG_INFO,
           "statuses");
    TAP_OK(strlen(r->evidence_sha256) == 64, "evidence digest");
    const struct dt_report_format *fs[8];
    size_t n_fs = dt_report_n_formats();
    TAP_OK(n_fs == 5 && !dt_report_format_at(n_fs), "five formats in the table");
    for (size_t i = 0; i < n_fs && i < 8; i++)
        fs[i] = dt_report_format_at(i);
    for (size_t i = 0; i < n_fs && i < 8; i++) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        int rc = dt_report_render(r, fs[i], &sb, &err);
        const char *name = fs[i]->name;
        TAP_OK(rc == 0 && sb.len > 200, "%s renders", name);
        if (rc) {
            dt_strbuf_release(&sb);
            continue;
        }
        TAP_OK(valid_utf8_no_controls(sb.data), "%s is clean UTF-8", name);
        if (strcmp(name, "json") && strcmp(name, "sarif"))
            TAP_OK(!strstr(sb.data, "sus<b>") && !strstr(sb.data, "<i>x") &&
                       !strstr(sb.data, "</textarea>"),
                   "%s escapes stored text", name);
        struct dt_report_verification v;
        TAP_OK(dt_report_verify(s, sb.data, sb.len, &v, &err) == 0 && v.format == fs[i] &&
                   dt_report_verification_ok(&v) && v.n_files == 2,
               "%s verifies against the store", name);
        dt_report_verification_release(&v);
        /* one changed byte in the body */
        char *at = strstr(sb.data, "teacher");
        if (at)
            at[0] = 'T';
        TAP_OK(dt_report_verify(s, sb.data, sb.len, &v, &err) == 0 && !v.body_ok &&
                   !dt_report_verification_ok(&v),
               "%s edit detected", name);
        dt_report_verification_release(&v);
        /* allocation failures while rendering fail cleanly */
        int failed_cleanly = 1;
        for (long k = 0; k < 40; k++) {
            struct dt_strbuf fb = DT_STRBUF_INIT;
            struct dt_error e2 = {0};
            dt_alloc_fail_after(k);
            int frc = dt_report_render(r, fs[i], &fb, &e2);
            dt_alloc_fail_after(-1);
            if (frc != 0 && frc != DT_ENOMEM && frc != DT_EINTERNAL)
                failed_cleanly = 0;
            dt_strbuf_release(&fb);
        }
        TAP_OK(failed_cleanly, "%s: allocation failures return an error", name);
        dt_strbuf_release(&sb);
    }
    struct dt_report_verification v;
    TAP_OK(dt_report_verify(s, "# no record\n", 12, &v, &err) == DT_EFORMAT, "no record");
    dt_report_free(r);
    r = NULL;
    TAP_OK(dt_report_load(s, 999, &r, &err) == DT_ENOTFOUND && !r, "unknown run");
    /* allocation failures while loading */
    int ok = 1;
    for (long k = 0; k < 200; k++) {
        struct dt_report *fr = NULL;
        struct dt_error e2 = {0};
        dt_alloc_fail_after(k);
        int rc = dt_report_load(s, run, &fr, &e2);
        dt_alloc_fail_after(-1);
        if (rc == 0)
            dt_report_free(fr);
        else if (fr)
            ok = 0;
    }
    TAP_OK(ok, "load under allocation failures leaves no report behind");
    dt_store_close(s);
}

int main(void)
{
    test_clean();
    test_escape();
    test_render();
    return tap_done();
}

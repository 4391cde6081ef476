/*
 * Identity probes: PCRE2 rule pack parsing, claim extraction, learning the teacher's claimed
 * identity, and matching it in other answers.
 *
 * A rule pack is small (tens of rules, a few KiB); every rule is compiled once with
 * PCRE2_UTF | PCRE2_UCP (and JIT when available). Subjects are answers of a few KiB: each
 * rule scans the subject once, left to right, under a match limit so that a pathological
 * input costs bounded time. Invalid UTF-8 never reaches PCRE2: such a subject is copied with
 * each invalid byte replaced by SUB (0x1A), which keeps byte offsets identical, and is then matched
 * with PCRE2_NO_UTF_CHECK. Claims are copies of a byte span of the subject; normalisation only
 * narrows the span (trim, strip, cut), so the span always indexes the caller's text.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "fingerprint/identity.h"

#include "util/alloc.h"
#include "util/embed.h"
#include "util/error.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MATCH_LIMIT 2000000u
#define DEPTH_LIMIT 20000u
#define MAX_CLAIM_BYTES 64
#define MAX_PACK_BYTES (1u << 20)

struct strlist {
    char **s;
    size_t n;
};

struct rule {
    char *id;
    pcre2_code *code;
    int g_name, g_maker; /* capture group numbers, < 0 when absent */
};

struct macro {
    char *name;
    char *body;
};

struct codelist {
    pcre2_code **code;
    size_t n;
};

struct dt_identity_rules {
    struct rule *rule;
    size_t n_rule;
    struct strlist article, cut, stop, stopsuffix;
    struct codelist veto, vetoafter; /* see the pack's header: denials, reported speech */
};

/* ---- small helpers ---- */

static int strlist_push(struct strlist *l, const char *s, size_t n)
{
    char **p = dt_realloc_array(l->s, l->n + 1, sizeof *p);
    if (!p)
        return DT_ENOMEM;
    l->s = p;
    p[l->n] = dt_strndup(s, n);
    if (!p[l->n])
        return DT_ENOMEM;
    l->n++;
    return 0;
}

static void codelist_release(struct codelist *l)
{
    for (size_t i = 0; i < l->n; i++)
        pcre2_code_free(l->code[i]);
    dt_free(l->code);
    l->code = NULL;
    l->n = 0;
}

static void strlist_release(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        dt_free(l->s[i]);
    dt_free(l->s);
    l->s = NULL;
    l->n = 0;
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int ascii_ieq(const char *a, size_t na, const char *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static void *pcre2_alloc_cb(PCRE2_SIZE n, void *data)
{
    (void)data;
    return dt_malloc(n);
}

static void pcre2_free_cb(void *p, void *data)
{
    (void)data;
    dt_free(p);
}

static pcre2_general_context *general_context(void)
{
    /* Routing PCRE2's heap through the seam lets fault-injection tests reach it too. */
    return pcre2_general_context_create(pcre2_alloc_cb, pcre2_free_cb, NULL);
}

/* ---- rule pack parsing ---- */

void dt_identity_rules_free(struct dt_identity_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n_rule; i++) {
        dt_free(rules->rule[i].id);
        pcre2_code_free(rules->rule[i].code);
    }
    dt_free(rules->rule);
    strlist_release(&rules->article);
    strlist_release(&rules->cut);
    strlist_release(&rules->stop);
    strlist_release(&rules->stopsuffix);
    codelist_release(&rules->veto);
    codelist_release(&rules->vetoafter);
    dt_free(rules);
}

size_t dt_identity_rules_count(const struct dt_identity_rules *rules)
{
    return rules ? rules->n_rule : 0;
}

static int is_macro_char(int c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

/* Expands {NAME} references to (?:body); other braces (quantifiers, escapes) pass through. */
static int expand_macros(const char *re, size_t n, const struct macro *m, size_t n_m,
                         struct dt_strbuf *out, char *bad, size_t bad_cap)
{
    for (size_t i = 0; i < n; i++) {
        /* \p{N}, \P{Lu}, \x{FF}: an escape's braces, not a macro */
        int escape_brace =
            i >= 2 && re[i - 2] == '\\' &&
            ((re[i - 1] >= 'a' && re[i - 1] <= 'z') || (re[i - 1] >= 'A' && re[i - 1] <= 'Z'));
        if (re[i] == '{' && !escape_brace && i + 1 < n && is_macro_char((unsigned char)re[i + 1])) {
            size_t j = i + 1;
            while (j < n && is_macro_char((unsigned char)re[j]))
                j++;
            if (j < n && re[j] == '}') {
                size_t k;
                for (k = 0; k < n_m; k++)
                    if (strlen(m[k].name) == j - i - 1 && !memcmp(m[k].name, re + i + 1, j - i - 1))
                        break;
                if (k == n_m) {
                    snprintf(bad, bad_cap, "%.*s", (int)(j - i - 1), re + i + 1);
                    return DT_EFORMAT;
                }
                dt_strbuf_puts(out, "(?:");
                dt_strbuf_puts(out, m[k].body);
                dt_strbuf_putc(out, ')');
                i = j;
                continue;
            }
        }
        dt_strbuf_putc(out, re[i]);
    }
    return dt_strbuf_failed(out) ? DT_ENOMEM : 0;
}

/* Compiles a `rule` (into r->rule) or, when veto is set, a `veto`/`vetoafter` pattern (into
 * that list; such a pattern needs no capture group). */
static int compile_rule(struct dt_identity_rules *r, struct codelist *veto, const char *id,
                        size_t n_id, const char *re, size_t n_re, const struct macro *m,
                        size_t n_m, const char *origin, size_t line,
                        pcre2_general_context *gctx, struct dt_error *err)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    pcre2_compile_context *cctx = NULL;
    pcre2_code *code = NULL;
    char bad[64];
    int rc = expand_macros(re, n_re, m, n_m, &sb, bad, sizeof bad);
    if (rc == DT_EFORMAT) {
        rc =
            dt_error_set(err, DT_EFORMAT, "line %zu of '%s': rule '%.*s' uses undefined macro '%s'",
                         line, origin, (int)n_id, id, bad);
        goto done;
    }
    if (rc)
        goto nomem;
    cctx = pcre2_compile_context_create(gctx);
    if (!cctx)
        goto nomem;
    int ecode;
    PCRE2_SIZE eoff;
    code = pcre2_compile((PCRE2_SPTR)sb.data, sb.len, PCRE2_UTF | PCRE2_UCP, &ecode, &eoff, cctx);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        rc = dt_error_set(err, DT_EFORMAT,
                          "line %zu of '%s': rule '%.*s' does not compile: %s "
                          "(at offset %zu of the expanded pattern)",
                          line, origin, (int)n_id, id, (const char *)msg, (size_t)eoff);
        goto done;
    }
    if (veto) {
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        pcre2_code **vp = dt_realloc_array(veto->code, veto->n + 1, sizeof *vp);
        if (!vp)
            goto nomem;
        veto->code = vp;
        vp[veto->n++] = code;
        code = NULL;
        rc = 0;
        goto done;
    }
    int gn = pcre2_substring_number_from_name(code, (PCRE2_SPTR) "name");
    int gm = pcre2_substring_number_from_name(code, (PCRE2_SPTR) "maker");
    if (gn < 0 && gm < 0) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "line %zu of '%s': rule '%.*s' has no 'name' or "
                          "'maker' group",
                          line, origin, (int)n_id, id);
        goto done;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    struct rule *p = dt_realloc_array(r->rule, r->n_rule + 1, sizeof *p);
    if (!p)
        goto nomem;
    r->rule = p;
    p[r->n_rule].id = dt_strndup(id, n_id);
    if (!p[r->n_rule].id)
        goto nomem;
    p[r->n_rule].code = code;
    p[r->n_rule].g_name = gn;
    p[r->n_rule].g_maker = gm;
    r->n_rule++;
    code = NULL;
    rc = 0;
    goto done;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory compiling identity rules from '%s'", origin);
done:
    pcre2_code_free(code);
    pcre2_compile_context_free(cctx);
    dt_strbuf_release(&sb);
    return rc;
}

static int word_eq(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && !memcmp(s, w, n);
}

int dt_identity_rules_parse(const char *text, size_t n_bytes, const char *origin,
                            struct dt_identity_rules **out, struct dt_error *err)
{
    struct dt_identity_rules *r = dt_calloc(1, sizeof *r);
    struct macro *macros = NULL;
    size_t n_macros = 0, line = 0, pos = 0;
    pcre2_general_context *gctx = general_context();
    int rc = 0;
    if (!origin)
        origin = "identity rules";
    if (!r || !gctx) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing '%s'", origin);
        goto fail;
    }
    if (!text)
        n_bytes = 0;
    while (pos < n_bytes) {
        size_t eol = pos;
        while (eol < n_bytes && text[eol] != '\n')
            eol++;
        const char *s = text + pos;
        size_t n = eol - pos;
        pos = eol + 1;
        line++;
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0 || s[0] == '#')
            continue;
        if (memchr(s, '\0', n)) {
            rc = dt_error_set(err, DT_EFORMAT, "line %zu of '%s': NUL byte", line, origin);
            goto fail;
        }
        size_t kw = 0;
        while (kw < n && s[kw] != ' ' && s[kw] != '\t')
            kw++;
        const char *arg = s + kw + (kw < n ? 1 : 0);
        size_t n_arg = kw < n ? n - kw - 1 : 0;
        if (n_arg == 0) {
            rc = dt_error_set(err, DT_EFORMAT,
                              "line %zu of '%s': directive '%.*s' needs an argument", line, origin,
                              (int)kw, s);
            goto fail;
        }
        if (word_eq(s, kw, "article") || word_eq(s, kw, "cut") || word_eq(s, kw, "stop") ||
            word_eq(s, kw, "stopsuffix")) {
            struct strlist *l = word_eq(s, kw, "article") ? &r->article
                                : word_eq(s, kw, "cut")   ? &r->cut
                                : word_eq(s, kw, "stop")  ? &r->stop
                                                          : &r->stopsuffix;
            if (strlist_push(l, arg, n_arg)) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing '%s'", origin);
                goto fail;
            }
            continue;
        }
        int is_veto = word_eq(s, kw, "veto"), is_vetoafter = word_eq(s, kw, "vetoafter");
        if (!word_eq(s, kw, "define") && !word_eq(s, kw, "rule") && !is_veto && !is_vetoafter) {
            rc = dt_error_set(err, DT_EFORMAT, "line %zu of '%s': unknown directive '%.*s'", line,
                              origin, (int)kw, s);
            goto fail;
        }
        size_t n_id = 0;
        while (n_id < n_arg && arg[n_id] != ' ' && arg[n_id] != '\t')
            n_id++;
        if (n_id == n_arg) {
            rc =
                dt_error_set(err, DT_EFORMAT, "line %zu of '%s': '%.*s' needs a name and a pattern",
                             line, origin, (int)kw, s);
            goto fail;
        }
        const char *re = arg + n_id + 1;
        size_t n_re = n_arg - n_id - 1;
        if (word_eq(s, kw, "define")) {
            for (size_t i = 0; i < n_id; i++)
                if (!is_macro_char((unsigned char)arg[i])) {
                    rc = dt_error_set(err, DT_EFORMAT,
                                      "line %zu of '%s': macro name '%.*s' is not "
                                      "[A-Z_]+",
                                      line, origin, (int)n_id, arg);
                    goto fail;
                }
            struct dt_strbuf body = DT_STRBUF_INIT;
            char bad[64];
            int erc = expand_macros(re, n_re, macros, n_macros, &body, bad, sizeof bad);
            struct macro *mp = erc ? NULL : dt_realloc_array(macros, n_macros + 1, sizeof *mp);
            if (erc == DT_EFORMAT) {
                dt_strbuf_release(&body);
                rc = dt_error_set(err, DT_EFORMAT,
                                  "line %zu of '%s': macro '%.*s' uses undefined "
                                  "macro '%s'",
                                  line, origin, (int)n_id, arg, bad);
                goto fail;
            }
            if (!mp) {
                dt_strbuf_release(&body);
                rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing '%s'", origin);
                goto fail;
            }
            macros = mp;
            macros[n_macros].body = dt_strbuf_detach(&body, NULL);
            macros[n_macros].name = dt_strndup(arg, n_id);
            n_macros++;
            if (!macros[n_macros - 1].body || !macros[n_macros - 1].name) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing '%s'", origin);
                goto fail;
            }
            continue;
        }
        rc = compile_rule(r, is_veto ? &r->veto : is_vetoafter ? &r->vetoafter : NULL, arg, n_id,
                          re, n_re, macros, n_macros, origin, line, gctx, err);
        if (rc)
            goto fail;
    }
    if (r->n_rule == 0) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s' holds no rules", origin);
        goto fail;
    }
    *out = r;
    r = NULL;
fail:
    for (size_t i = 0; i < n_macros; i++) {
        dt_free(macros[i].name);
        dt_free(macros[i].body);
    }
    dt_free(macros);
    dt_identity_rules_free(r);
    pcre2_general_context_free(gctx);
    return rc;
}

int dt_identity_rules_builtin(struct dt_identity_rules **out, struct dt_error *err)
{
    size_t n = 0;
    const char *text = dt_embedded_file("rules/identity.rules", &n);
    if (!text)
        return dt_error_set(err, DT_EINTERNAL, "the built-in identity rule pack is missing");
    return dt_identity_rules_parse(text, n, "builtin identity.rules", out, err);
}

int dt_identity_rules_load(const char *path, struct dt_identity_rules **out, struct dt_error *err)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = dt_file_read_all(path, MAX_PACK_BYTES, &buf, &n, err);
    if (rc)
        return rc;
    rc = dt_identity_rules_parse(buf, n, path, out, err);
    dt_free(buf);
    return rc;
}

/* ---- subjects ---- */

/* Returns the subject to match: text itself when valid UTF-8, else a same-length copy with
 * invalid bytes replaced by SUB (0x1A) (*copy set, dt_free it). NULL on allocation failure. */
static const char *utf8_subject(const char *text, size_t n, char **copy)
{
    *copy = NULL;
    if (dt_text_utf8_valid(text, n))
        return text;
    char *c = dt_malloc(n + 1);
    if (!c)
        return NULL;
    size_t i = 0, len;
    while (i < n) {
        if (dt_text_utf8_decode(text, n, i, &len) < 0) {
            c[i] = '\x1a'; /* SUB: neither a letter nor punctuation a rule or a check reads */
            i += 1;
        } else {
            memcpy(c + i, text + i, len);
            i += len;
        }
    }
    c[n] = '\0';
    *copy = c;
    return c;
}

/* ---- normalisation ---- */

static int is_trim_cp(int32_t cp)
{
    if (cp < 0)
        return 1;
    if (cp < 0x80)
        return cp <= ' ' || strchr(".,;:!?\"'()[]{}<>*_~`-/\\|=+#&^%$@", (int)cp) != NULL;
    switch (cp) {
    case 0xA0:
    case 0xAB:
    case 0xBB:
    case 0x2018:
    case 0x2019:
    case 0x201C:
    case 0x201D:
    case 0x2026:
    case 0x2013:
    case 0x2014:
    case 0x3000:
    case 0x3001:
    case 0x3002:
    case 0xFF0C:
    case 0xFF01:
    case 0xFF1F:
    case 0xFF1B:
    case 0xFF1A:
    case 0xFF08:
    case 0xFF09:
    case 0x300C:
    case 0x300D:
    case 0x300E:
    case 0x300F:
    case 0x3010:
    case 0x3011:
    case 0x300A:
    case 0x300B:
        return 1;
    default:
        return 0;
    }
}

/* Start of the UTF-8 character that ends at e (s < e). */
static size_t prev_char(const char *t, size_t s, size_t e)
{
    size_t p = e - 1;
    while (p > s && e - p < 4 && ((unsigned char)t[p] & 0xC0) == 0x80)
        p--;
    return p;
}

static void trim(const char *t, size_t *s, size_t *e)
{
    size_t len;
    while (*s < *e) {
        int32_t cp = dt_text_utf8_decode(t, *e, *s, &len);
        if (!is_trim_cp(cp))
            break;
        *s += len;
    }
    while (*e > *s) {
        size_t p = prev_char(t, *s, *e);
        int32_t cp = dt_text_utf8_decode(t, *e, p, &len);
        if (p + len != *e)
            cp = -1;
        if (!is_trim_cp(cp))
            break;
        *e = p;
    }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Narrows [*s, *e) to the normalised claim; returns 0 when the candidate is dropped. */
static int normalise(const struct dt_identity_rules *r, const char *t, size_t *s, size_t *e)
{
    trim(t, s, e);
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < r->article.n; i++) {
            size_t na = strlen(r->article.s[i]);
            if (*e - *s > na && ascii_ieq(t + *s, na, r->article.s[i], na) &&
                is_space(t[*s + na])) {
                *s += na;
                while (*s < *e && is_space(t[*s]))
                    (*s)++;
                again = 1;
            }
        }
    }
    /* cut words: only after the first word */
    size_t p = *s;
    while (p < *e && !is_space(t[p]))
        p++;
    while (p < *e) {
        while (p < *e && is_space(t[p]))
            p++;
        size_t ws = p;
        while (p < *e && !is_space(t[p]))
            p++;
        size_t we = p;
        while (we > ws && strchr(".,;:!?", t[we - 1]))
            we--;
        int cut = 0;
        for (size_t i = 0; i < r->cut.n && !cut; i++)
            cut = word_eq(t + ws, p - ws, r->cut.s[i]) || word_eq(t + ws, we - ws, r->cut.s[i]);
        if (cut) {
            *e = ws;
            break;
        }
    }
    trim(t, s, e);
    if (*e - *s >= 2 && t[*e - 1] == 's' && t[*e - 2] == '\'')
        *e -= 2;
    else if (*e - *s >= 4 && t[*e - 1] == 's' && !memcmp(t + *e - 4, "\xE2\x80\x99", 3))
        *e -= 4;
    trim(t, s, e);
    size_t n = *e - *s;
    if (n == 0 || n > MAX_CLAIM_BYTES)
        return 0;
    for (size_t i = 0; i < r->stop.n; i++)
        if (ascii_ieq(t + *s, n, r->stop.s[i], strlen(r->stop.s[i])))
            return 0;
    for (size_t i = 0; i < r->stopsuffix.n; i++) {
        size_t ns = strlen(r->stopsuffix.s[i]);
        if (n >= ns && ascii_ieq(t + *e - ns, ns, r->stopsuffix.s[i], ns))
            return 0;
    }
    return 1;
}

/* ---- claim context: clause, question, quotation, negation, prompt echo ---- */

/* Code point at i (or -1), its length in *len (>= 1). */
static int32_t cp_at(const char *t, size_t n, size_t i, size_t *len)
{
    int32_t cp = dt_text_utf8_decode(t, n, i, len);
    if (cp < 0 || *len == 0)
        *len = 1;
    return cp;
}

/* '.' ends a sentence only when what follows is not a letter or digit ("GPT-3.5" stays one). */
static int dot_ends(const char *t, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 1;
    unsigned char c = (unsigned char)t[i + 1];
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
}

static int is_sentence_end(int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == 0x3002 || cp == 0xFF01 ||
           cp == 0xFF1F || cp == 0xFF0E;
}

/* Clause ends: sentence ends and ',', ';', the CJK comma, enumeration comma and semicolon. */
static int is_clause_end(int32_t cp)
{
    return is_sentence_end(cp) || cp == ',' || cp == ';' || cp == 0xFF0C || cp == 0x3001 ||
           cp == 0xFF1B;
}

/* 1 when some pattern of the list matches inside t[from..to) (lookbehind may see before from). */
static int list_matches(const struct codelist *l, const char *t, size_t from, size_t to,
                        pcre2_match_data *const *md, pcre2_match_context *mctx)
{
    for (size_t i = 0; i < l->n && from < to; i++) {
        int m = pcre2_match(l->code[i], (PCRE2_SPTR)t, to, from, PCRE2_NO_UTF_CHECK, md[i], mctx);
        if (m >= 0)
            return 1;
        if (m == PCRE2_ERROR_NOMEMORY)
            return DT_ENOMEM;
    }
    return 0;
}

/* 1 when word t[s..e) occurs in the prompt, case-insensitively, not inside a longer ASCII
 * word, and not written in lower case there (so "labs" in "which labs made you?" does not
 * echo "Northwind Labs", but "Claude" in "Are you Claude?" does). */
static int prompt_has_word(const char *t, size_t s, size_t e, const char *pr, size_t n_pr)
{
    size_t n = e - s;
    if (n == 0 || n > n_pr)
        return 0;
    for (size_t i = 0; i + n <= n_pr; i++) {
        if (!ascii_ieq(pr + i, n, t + s, n))
            continue;
        unsigned char a = i ? (unsigned char)pr[i - 1] : ' ';
        unsigned char b = i + n < n_pr ? (unsigned char)pr[i + n] : ' ';
        int alnum_a = (a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z') || (a >= '0' && a <= '9');
        int alnum_b = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
        unsigned char f = (unsigned char)pr[i];
        if (!alnum_a && !alnum_b && !(f >= 'a' && f <= 'z'))
            return 1;
    }
    return 0;
}

/*
 * Whether a candidate claim t[s..e) is asserted by the text rather than denied, asked, quoted
 * or echoed: 1 keep, 0 drop, DT_ENOMEM. The clause is the text since the last clause end
 * before s; a veto pattern anywhere from the clause start to the end of the claim's first
 * word drops it ("I am not made by ...", "Ich bin nicht ...", "我不是..."), a vetoafter pattern
 * between the claim and the clause end drops it (negations that follow the name: "...では
 * ありません", "...가 아닙니다"). A claim in a clause that ends with a question mark, or inside
 * a quotation opened earlier on its line, is dropped. A claim any of whose words the prompt
 * itself contains is an echo of the question, not an identity.
 */
static int claim_in_context(const struct dt_identity_rules *r, const char *t, size_t n, size_t s,
                            size_t e, const char *pr, size_t n_pr, pcre2_match_data *const *md_v,
                            pcre2_match_data *const *md_a, pcre2_match_context *mctx)
{
    size_t clause = 0, len;
    int dq = 0, curly = 0, guil = 0, low = 0, corner = 0, wcorner = 0;
    for (size_t i = 0; i < s; i += len) {
        int32_t cp = cp_at(t, n, i, &len);
        if (cp == '\n') {
            dq = curly = guil = low = corner = wcorner = 0;
        }
        if (is_clause_end(cp) && (cp != '.' || dot_ends(t, n, i)))
            clause = i + len;
        switch (cp) {
        case '"': dq ^= 1; break;
        case 0x201C: if (low) low--; else curly++; break;
        case 0x201D: if (low) low--; else if (curly) curly--; break;
        case 0x201E: low++; break;
        case 0xAB: guil++; break;
        case 0xBB: if (guil) guil--; break;
        case 0x300C: corner++; break;
        case 0x300D: if (corner) corner--; break;
        case 0x300E: wcorner++; break;
        case 0x300F: if (wcorner) wcorner--; break;
        default: break;
        }
    }
    if (dq || curly || guil || low || corner || wcorner)
        return 0;
    /* the clause is a question when it ends with '?': "You think I am Claude?" asks, while
     * "I'm Aurora, how can I help?" claims and then asks */
    size_t clause_end = n;
    int question = 0;
    for (size_t i = e; i < n; i += len) {
        int32_t cp = cp_at(t, n, i, &len);
        if (is_clause_end(cp) && (cp != '.' || dot_ends(t, n, i))) {
            clause_end = i;
            question = cp == '?' || cp == 0xFF1F;
            break;
        }
    }
    if (question)
        return 0;
    size_t first_end = s;
    while (first_end < e && !is_space(t[first_end]))
        first_end++;
    int v = list_matches(&r->veto, t, clause, first_end, md_v, mctx);
    if (v)
        return v < 0 ? v : 0;
    v = list_matches(&r->vetoafter, t, e, clause_end, md_a, mctx);
    if (v)
        return v < 0 ? v : 0;
    if (pr && n_pr) {
        for (size_t w = s; w < e;) {
            while (w < e && is_space(t[w]))
                w++;
            size_t we = w;
            while (we < e && !is_space(t[we]))
                we++;
            if (we > w + 1 && prompt_has_word(t, w, we, pr, n_pr))
                return 0;
            w = we;
        }
    }
    return 1;
}

/* ---- extraction ---- */

void dt_identity_claims_release(struct dt_identity_claims *claims)
{
    if (!claims)
        return;
    for (size_t i = 0; i < claims->n; i++)
        dt_free(claims->claim[i].value);
    dt_free(claims->claim);
    claims->claim = NULL;
    claims->n = 0;
}

static int add_claim(struct dt_identity_claims *c, enum dt_identity_kind kind, const char *text,
                     size_t s, size_t e, const char *rule, size_t rule_index)
{
    struct dt_identity_claim *p = dt_realloc_array(c->claim, c->n + 1, sizeof *p);
    if (!p)
        return DT_ENOMEM;
    c->claim = p;
    p[c->n].kind = kind;
    p[c->n].start = s;
    p[c->n].end = e;
    p[c->n].rule = rule;
    p[c->n].rule_index = rule_index;
    p[c->n].value = dt_strndup(text + s, e - s);
    if (!p[c->n].value)
        return DT_ENOMEM;
    c->n++;
    return 0;
}

static int cmp_claim(const void *a, const void *b)
{
    const struct dt_identity_claim *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    /* the same span from several rules: keep the first rule of the pack (ids are allocated
     * in pack order, but compare indices, not addresses) */
    return x->rule_index < y->rule_index ? -1 : x->rule_index > y->rule_index;
}

int dt_identity_extract(const struct dt_identity_rules *rules, const char *text, size_t n_bytes,
                        const char *prompt, size_t n_prompt, struct dt_identity_claims *out,
                        struct dt_error *err)
{
    struct dt_identity_claims c = {NULL, 0};
    pcre2_general_context *gctx = NULL;
    pcre2_match_context *mctx = NULL;
    pcre2_match_data *md = NULL, **md_v = NULL, **md_a = NULL;
    char *copy = NULL, *pcopy = NULL;
    const char *psubj = NULL;
    int rc = 0;
    if (!rules)
        return dt_error_set(err, DT_EINVAL, "no identity rules");
    if (!text)
        n_bytes = 0;
    if (!prompt)
        n_prompt = 0;
    static const char empty[1] = {0};
    const char *subj = utf8_subject(text ? text : empty, n_bytes, &copy);
    if (n_prompt && !(psubj = utf8_subject(prompt, n_prompt, &pcopy)))
        goto nomem;
    gctx = general_context();
    mctx = gctx ? pcre2_match_context_create(gctx) : NULL;
    md_v = dt_calloc(rules->veto.n + 1, sizeof *md_v);
    md_a = dt_calloc(rules->vetoafter.n + 1, sizeof *md_a);
    if (!subj || !mctx || !md_v || !md_a)
        goto nomem;
    for (size_t i = 0; i < rules->veto.n; i++)
        if (!(md_v[i] = pcre2_match_data_create_from_pattern(rules->veto.code[i], gctx)))
            goto nomem;
    for (size_t i = 0; i < rules->vetoafter.n; i++)
        if (!(md_a[i] = pcre2_match_data_create_from_pattern(rules->vetoafter.code[i], gctx)))
            goto nomem;
    pcre2_set_match_limit(mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, DEPTH_LIMIT);
    for (size_t ri = 0; ri < rules->n_rule; ri++) {
        const struct rule *ru = &rules->rule[ri];
        md = pcre2_match_data_create_from_pattern(ru->code, gctx);
        if (!md)
            goto nomem;
        PCRE2_SIZE start = 0;
        while (start <= n_bytes) {
            int m = pcre2_match(ru->code, (PCRE2_SPTR)subj, n_bytes, start, PCRE2_NO_UTF_CHECK, md,
                                mctx);
            if (m == PCRE2_ERROR_NOMATCH || m == PCRE2_ERROR_MATCHLIMIT ||
                m == PCRE2_ERROR_DEPTHLIMIT || m == PCRE2_ERROR_HEAPLIMIT)
                break; /* a limit hit only ends this rule's scan: extraction is best effort */
            if (m == PCRE2_ERROR_NOMEMORY)
                goto nomem;
            if (m < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(m, msg, sizeof msg);
                rc = dt_error_set(err, DT_EINTERNAL, "identity rule '%s' failed: %s", ru->id,
                                  (const char *)msg);
                goto done;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            uint32_t n_ov = pcre2_get_ovector_count(md);
            int groups[2] = {ru->g_name, ru->g_maker};
            for (int k = 0; k < 2; k++) {
                int g = groups[k];
                if (g < 0 || (uint32_t)g >= n_ov || ov[2 * g] == PCRE2_UNSET ||
                    ov[2 * g + 1] < ov[2 * g] || ov[2 * g + 1] > n_bytes)
                    continue;
                size_t s = ov[2 * g], e = ov[2 * g + 1];
                if (!normalise(rules, subj, &s, &e))
                    continue;
                int keep = claim_in_context(rules, subj, n_bytes, s, e, psubj, n_prompt, md_v,
                                            md_a, mctx);
                if (keep < 0)
                    goto nomem;
                if (!keep)
                    continue;
                if (add_claim(&c, k == 0 ? DT_IDENTITY_NAME : DT_IDENTITY_MAKER, subj, s, e, ru->id,
                              ri))
                    goto nomem;
            }
            PCRE2_SIZE next = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            while (next < n_bytes && ((unsigned char)subj[next] & 0xC0) == 0x80)
                next++;
            if (next <= start)
                next = start + 1;
            start = next;
        }
        pcre2_match_data_free(md);
        md = NULL;
    }
    if (c.n > 1) {
        qsort(c.claim, c.n, sizeof *c.claim, cmp_claim);
        size_t k = 1;
        for (size_t i = 1; i < c.n; i++) {
            struct dt_identity_claim *a = &c.claim[k - 1], *b = &c.claim[i];
            if (a->kind == b->kind && a->start == b->start && a->end == b->end)
                dt_free(b->value);
            else
                c.claim[k++] = *b;
        }
        c.n = k;
    }
    /* values are copies of the sanitised subject: an invalid byte inside a claim reads 0x1A */
    *out = c;
    c.claim = NULL;
    c.n = 0;
    goto done;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory extracting identity claims");
done:
    dt_identity_claims_release(&c);
    pcre2_match_data_free(md);
    for (size_t i = 0; md_v && i < rules->veto.n; i++)
        pcre2_match_data_free(md_v[i]);
    for (size_t i = 0; md_a && i < rules->vetoafter.n; i++)
        pcre2_match_data_free(md_a[i]);
    dt_free(md_v);
    dt_free(md_a);
    pcre2_match_context_free(mctx);
    pcre2_general_context_free(gctx);
    dt_free(copy);
    dt_free(pcopy);
    return rc;
}

/* ---- learning ---- */

void dt_identity_learn_params_default(struct dt_identity_learn_params *p)
{
    p->min_support = 0.20;
    p->min_count = 2;
    p->max_per_kind = 3;
}

struct tally {
    enum dt_identity_kind kind;
    char *value;
    size_t count, first, last_text;
};

static int cmp_tally(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

void dt_identity_profile_free(struct dt_identity_profile *profile)
{
    if (!profile)
        return;
    for (size_t i = 0; i < profile->n_entry; i++)
        dt_free(profile->entry[i].value);
    dt_free(profile->entry);
    for (size_t i = 0; profile->match && i < profile->n_entry; i++)
        pcre2_code_free(profile->match[i]);
    dt_free(profile->match);
    dt_free(profile);
}

/* Builds a case-insensitive whole-word matcher of one learned string (spaces relaxed).
 * Word boundaries exclude CJK letters, which are written without spaces. */
static int build_matcher(const char *v, pcre2_code **out)
{
    static const char *wordch = "[^\\P{L}\\p{Han}\\p{Hiragana}\\p{Katakana}]|[\\p{N}_]";
    struct dt_strbuf sb = DT_STRBUF_INIT;
    pcre2_general_context *gctx = NULL;
    pcre2_compile_context *cctx = NULL;
    int rc = 0;
    *out = NULL;
    dt_strbuf_printf(&sb, "(?<!%s)(?:", wordch);
    for (size_t j = 0; v[j]; j++) {
        unsigned char ch = (unsigned char)v[j];
        if (is_space((char)ch)) {
            while (v[j + 1] && is_space(v[j + 1]))
                j++;
            dt_strbuf_puts(&sb, "\\s+");
        } else if (ch < 0x80 && !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                                  (ch >= '0' && ch <= '9'))) {
            dt_strbuf_putc(&sb, '\\');
            dt_strbuf_putc(&sb, (char)ch);
        } else {
            dt_strbuf_putc(&sb, (char)ch);
        }
    }
    dt_strbuf_printf(&sb, ")(?!%s)", wordch);
    if (dt_strbuf_failed(&sb))
        goto nomem;
    gctx = general_context();
    cctx = gctx ? pcre2_compile_context_create(gctx) : NULL;
    if (!cctx)
        goto nomem;
    int ecode;
    PCRE2_SIZE eoff;
    *out = pcre2_compile((PCRE2_SPTR)sb.data, sb.len, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS,
                         &ecode, &eoff, cctx);
    if (!*out) {
        /* learned values are valid UTF-8 and fully escaped; only memory can fail here */
        rc = ecode == PCRE2_ERROR_HEAP_FAILED ? DT_ENOMEM : DT_EINTERNAL;
        goto done;
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
    goto done;
nomem:
    rc = DT_ENOMEM;
done:
    pcre2_compile_context_free(cctx);
    pcre2_general_context_free(gctx);
    dt_strbuf_release(&sb);
    return rc;
}

int dt_identity_learn(const struct dt_identity_rules *rules, const struct dt_text_set *teacher,
                      const char *const *prompts, const struct dt_identity_learn_params *params,
                      struct dt_identity_profile **out, struct dt_error *err)
{
    struct dt_identity_learn_params def;
    struct tally *t = NULL;
    size_t n_t = 0, n_seen = 0;
    struct dt_identity_profile *p = NULL;
    struct dt_identity_claims c = {NULL, 0};
    int rc = 0;
    if (!params) {
        dt_identity_learn_params_default(&def);
        params = &def;
    }
    if (!rules || !teacher || !(params->min_support >= 0.0 && params->min_support <= 1.0))
        return dt_error_set(err, DT_EINVAL,
                            "identity learning needs rules, texts and a support "
                            "in [0, 1]");
    size_t n_claiming = 0;
    for (size_t i = 0; i < teacher->n; i++) {
        const char *text = teacher->text ? teacher->text[i] : NULL;
        const char *pr = prompts ? prompts[i] : NULL;
        rc = dt_identity_extract(rules, text, dt_text_set_len(teacher, i), pr, pr ? strlen(pr) : 0,
                                 &c, err);
        if (rc)
            goto done;
        if (c.n)
            n_claiming++;
        for (size_t k = 0; k < c.n; k++) {
            const struct dt_identity_claim *cl = &c.claim[k];
            size_t j, nv = strlen(cl->value);
            for (j = 0; j < n_t; j++)
                if (t[j].kind == cl->kind &&
                    ascii_ieq(t[j].value, strlen(t[j].value), cl->value, nv))
                    break;
            if (j == n_t) {
                struct tally *np = dt_realloc_array(t, n_t + 1, sizeof *np);
                if (!np)
                    goto nomem;
                t = np;
                t[n_t].kind = cl->kind;
                t[n_t].value = dt_strdup(cl->value);
                t[n_t].count = 0;
                t[n_t].first = n_seen++;
                t[n_t].last_text = SIZE_MAX;
                n_t++;
                if (!t[j].value)
                    goto nomem;
            }
            if (t[j].last_text != i) {
                t[j].last_text = i;
                t[j].count++;
            }
        }
        dt_identity_claims_release(&c);
    }
    if (n_t > 1)
        qsort(t, n_t, sizeof *t, cmp_tally);
    p = dt_calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->n_texts = teacher->n;
    p->n_texts_claiming = n_claiming;
    p->entry = dt_calloc(n_t ? n_t : 1, sizeof *p->entry);
    if (!p->entry)
        goto nomem;
    size_t per_kind[2] = {0, 0};
    for (size_t j = 0; j < n_t; j++) {
        double support = teacher->n ? (double)t[j].count / (double)teacher->n : 0.0;
        if (t[j].count < params->min_count || support < params->min_support ||
            per_kind[t[j].kind] >= params->max_per_kind || t[j].count == 0)
            continue;
        per_kind[t[j].kind]++;
        struct dt_identity_entry *e = &p->entry[p->n_entry++];
        e->kind = t[j].kind;
        e->value = t[j].value;
        t[j].value = NULL;
        e->count = t[j].count;
        e->support = support;
    }
    p->match = dt_calloc(p->n_entry ? p->n_entry : 1, sizeof *p->match);
    if (!p->match)
        goto nomem;
    for (size_t j = 0; j < p->n_entry; j++) {
        pcre2_code *code = NULL;
        if ((rc = build_matcher(p->entry[j].value, &code)) != 0) {
            rc = dt_error_set(err, rc, "cannot build the identity matcher");
            goto done;
        }
        p->match[j] = code;
    }
    *out = p;
    p = NULL;
    goto done;
nomem:
    rc = dt_error_set(err, DT_ENOMEM, "out of memory learning the teacher identity");
done:
    dt_identity_claims_release(&c);
    for (size_t j = 0; j < n_t; j++)
        dt_free(t[j].value);
    dt_free(t);
    dt_identity_profile_free(p);
    return rc;
}

/* ---- matching ---- */

/* 1 when code matches subject, 0 when not, DT_ENOMEM on allocation failure. */
static int find(const pcre2_code *code, const char *subj, size_t n)
{
    if (!code)
        return 0;
    pcre2_general_context *gctx = general_context();
    pcre2_match_data *md = gctx ? pcre2_match_data_create_from_pattern(code, gctx) : NULL;
    pcre2_match_context *mctx = gctx ? pcre2_match_context_create(gctx) : NULL;
    int rc;
    if (!md || !mctx) {
        rc = DT_ENOMEM;
        goto done;
    }
    pcre2_set_match_limit(mctx, MATCH_LIMIT);
    int m = pcre2_match(code, (PCRE2_SPTR)subj, n, 0, PCRE2_NO_UTF_CHECK, md, mctx);
    rc = m >= 0 ? 1 : (m == PCRE2_ERROR_NOMEMORY ? DT_ENOMEM : 0);
done:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_general_context_free(gctx);
    return rc;
}

int dt_identity_match(const struct dt_identity_rules *rules,
                      const struct dt_identity_profile *profile, const char *text, size_t n_bytes,
                      const char *prompt, size_t n_prompt, unsigned char *claimed,
                      struct dt_error *err)
{
    struct dt_identity_claims c = {NULL, 0};
    int n_claimed = 0, rc = 0;
    if (!rules || !profile)
        return dt_error_set(err, DT_EINVAL, "identity matching needs rules and a profile");
    if (claimed)
        memset(claimed, 0, profile->n_entry);
    if (profile->n_entry == 0)
        return 0;
    if ((rc = dt_identity_extract(rules, text, n_bytes, prompt, n_prompt, &c, err)) != 0)
        return rc;
    for (size_t j = 0; j < profile->n_entry; j++) {
        int hit = 0;
        for (size_t i = 0; i < c.n && !hit; i++) {
            if (c.claim[i].kind != profile->entry[j].kind)
                continue;
            int f = find(profile->match[j], c.claim[i].value, strlen(c.claim[i].value));
            if (f < 0) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory matching identity");
                goto done;
            }
            hit = f;
        }
        if (hit) {
            n_claimed++;
            if (claimed)
                claimed[j] = 1;
        }
    }
    rc = n_claimed;
done:
    dt_identity_claims_release(&c);
    return rc;
}

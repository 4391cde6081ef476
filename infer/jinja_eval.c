/*
 * Jinja evaluator (see jinja.h): walks the syntax tree of jinja_parse.c with the render's
 * variables and writes the output. Values follow Python's semantics where templates can see
 * them: str() and repr() of none/booleans/floats/lists/dicts, floor division and modulo,
 * code-point string indexing and slicing, Unicode str.strip()/upper()/lower() (utf8proc),
 * json.dumps for tojson as transformers calls it (ensure_ascii=False). Undefined names are
 * Jinja's default Undefined: empty when printed, false, iterable as empty.
 *
 * Every evaluation step counts against a budget, macro calls against a depth limit, values
 * against the render arena's byte limit, and output against a byte limit: a template that
 * loops forever, recurses or grows strings exponentially fails with a one-line error.
 */
#include "infer/jinja_render.h"

#include "infer/jinja.h"
#include "infer/jinja_internal.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

enum { JR_BREAK = 1, JR_CONTINUE = 2 };
enum { F_RANGE, F_NAMESPACE, F_DICT, F_RAISE, F_STRFTIME, F_CYCLE };

struct frame {
    struct frame *up;
    struct jdict *vars;
};

struct ctx {
    struct jarena ar;
    struct dt_error *err;
    struct dt_strbuf *out;
    size_t n_out, max_out;
    long steps, max_steps;
    int depth, max_depth;
    struct frame *globals;
    struct tm date;
};

static int rerr(struct ctx *c, const struct jnode *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rerr(struct ctx *c, const struct jnode *at, int code, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    for (char *q = what; *q; q++) /* quoted template text stays on one line */
        if ((unsigned char)*q < 0x20)
            *q = ' ';
    if (at)
        return dt_error_set(c->err, code, "chat template line %u col %u: %s", at->line, at->col,
                            what);
    return dt_error_set(c->err, code, "chat template: %s", what);
}

static int nomem(struct ctx *c, const struct jnode *at)
{
    return rerr(c, at, DT_ENOMEM, "render exceeds its memory limit of %zu bytes", c->ar.limit);
}

static jv undef(void)
{
    jv v;
    memset(&v, 0, sizeof v);
    return v;
}

static jv jbool(int b)
{
    jv v = undef();
    v.t = JV_BOOL;
    v.u.i = b != 0;
    return v;
}

static jv jint(int64_t i)
{
    jv v = undef();
    v.t = JV_INT;
    v.u.i = i;
    return v;
}

static jv jfloat(double f)
{
    jv v = undef();
    v.t = JV_FLOAT;
    v.u.f = f;
    return v;
}

static jv jnone(void)
{
    jv v = undef();
    v.t = JV_NONE;
    return v;
}

static jv jstr_ref(const char *p, size_t n)
{
    jv v = undef();
    v.t = JV_STR;
    v.u.s.p = p ? p : "";
    v.u.s.n = n;
    return v;
}

static int jstr_copy(struct ctx *c, const struct jnode *at, const char *p, size_t n, jv *out)
{
    char *s = ja_alloc(&c->ar, n + 1);
    if (!s)
        return nomem(c, at);
    if (n)
        memcpy(s, p, n);
    *out = jstr_ref(s, n);
    return 0;
}

static int sb_to_str(struct ctx *c, const struct jnode *at, struct dt_strbuf *sb, jv *out)
{
    if (dt_strbuf_failed(sb)) {
        dt_strbuf_release(sb);
        return nomem(c, at);
    }
    int rc = jstr_copy(c, at, sb->data, sb->len, out);
    dt_strbuf_release(sb);
    return rc;
}

static int sb_check(struct ctx *c, const struct jnode *at, const struct dt_strbuf *sb)
{
    if (dt_strbuf_failed(sb) || sb->len > c->ar.limit)
        return nomem(c, at);
    return 0;
}

static struct jlist *list_new(struct ctx *c, size_t cap)
{
    struct jlist *l = ja_alloc(&c->ar, sizeof *l);
    if (!l)
        return NULL;
    if (cap && !(l->v = ja_alloc(&c->ar, cap * sizeof *l->v)))
        return NULL;
    l->cap = cap;
    return l;
}

static int list_push(struct ctx *c, struct jlist *l, jv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > ((size_t)-1) / sizeof *l->v)
            return -1;
        jv *nv = ja_alloc(&c->ar, cap * sizeof *nv);
        if (!nv)
            return -1;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static jv jlist_v(struct jlist *l)
{
    jv v = undef();
    v.t = JV_LIST;
    v.u.l = l;
    return v;
}

static jv jdict_v(struct jdict *d)
{
    jv v = undef();
    v.t = JV_DICT;
    v.u.d = d;
    return v;
}

static int jv_eq(const jv *a, const jv *b);

static jv *dict_get(const struct jdict *d, const jv *k)
{
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(&d->k[i], k))
            return &d->v[i];
    return NULL;
}

static jv *dict_get_str(const struct jdict *d, const char *s, size_t n)
{
    jv k = jstr_ref(s, n);
    return dict_get(d, &k);
}

static int dict_set(struct ctx *c, struct jdict *d, jv k, jv v)
{
    jv *old = dict_get(d, &k);
    if (old) {
        *old = v;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = ja_alloc(&c->ar, cap * sizeof *nk), *nv = ja_alloc(&c->ar, cap * sizeof *nv);
        if (!nk || !nv)
            return -1;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    return 0;
}

static int is_num(const jv *v)
{
    return v->t == JV_INT || v->t == JV_FLOAT || v->t == JV_BOOL;
}

static double num(const jv *v)
{
    return v->t == JV_FLOAT ? v->u.f : (double)v->u.i;
}

static int jv_eq(const jv *a, const jv *b)
{
    if (is_num(a) && is_num(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT)
            return a->u.i == b->u.i;
        return num(a) == num(b);
    }
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case JV_UNDEF:
    case JV_NONE:
        return 1;
    case JV_STR:
        return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case JV_LIST:
        if (a->u.l->n != b->u.l->n)
            return 0;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!jv_eq(&a->u.l->v[i], &b->u.l->v[i]))
                return 0;
        return 1;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n)
            return 0;
        for (size_t i = 0; i < a->u.d->n; i++) {
            jv *o = dict_get(b->u.d, &a->u.d->k[i]);
            if (!o || !jv_eq(&a->u.d->v[i], o))
                return 0;
        }
        return 1;
    case JV_MACRO:
        return a->u.m == b->u.m;
    default:
        return a->u.i == b->u.i;
    }
}

static int truthy(const jv *v)
{
    switch (v->t) {
    case JV_UNDEF:
    case JV_NONE:
        return 0;
    case JV_BOOL:
    case JV_INT:
        return v->u.i != 0;
    case JV_FLOAT:
        return v->u.f != 0.0;
    case JV_STR:
        return v->u.s.n != 0;
    case JV_LIST:
        return v->u.l->n != 0;
    case JV_DICT:
        return v->u.d->n != 0;
    default:
        return 1;
    }
}

static const char *type_name(const jv *v)
{
    static const char *const names[] = {"undefined", "none", "bool", "int",   "float",
                                        "str",       "list", "dict", "macro", "function"};
    return names[v->t];
}

/* ---- strings: UTF-8 code points ---- */

static size_t cp_next(const char *s, size_t n, size_t i, int32_t *cp)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) { /* invalid byte: one code unit */
        *cp = (unsigned char)s[i];
        return 1;
    }
    *cp = c;
    return (size_t)k;
}

static size_t cp_count(const char *s, size_t n)
{
    size_t k = 0;
    int32_t cp;
    for (size_t i = 0; i < n; i += cp_next(s, n, i, &cp))
        k++;
    return k;
}

/* Byte offset of code point index idx (clamped to n). */
static size_t cp_offset(const char *s, size_t n, size_t idx)
{
    size_t i = 0;
    int32_t cp;
    while (idx-- && i < n)
        i += cp_next(s, n, i, &cp);
    return i;
}

static int py_space(int32_t c)
{
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

static void append_cp(struct dt_strbuf *sb, int32_t c)
{
    utf8proc_uint8_t buf[8];
    utf8proc_ssize_t k = utf8proc_encode_char(c, buf);
    dt_strbuf_append(sb, buf, (size_t)k);
}

/* Python str.strip / lstrip / rstrip: which = 1 left, 2 right, 3 both; chars NULL: spaces. */
static jv str_strip(jv s, const jv *chars, int which)
{
    const char *p = s.u.s.p;
    size_t a = 0, b = s.u.s.n;
    int32_t cp;
    for (;;) {
        if (!(which & 1) || a >= b)
            break;
        size_t k = cp_next(p, b, a, &cp);
        int hit = 0;
        if (chars) {
            for (size_t j = 0; j < chars->u.s.n && !hit;) {
                int32_t x;
                j += cp_next(chars->u.s.p, chars->u.s.n, j, &x);
                hit = x == cp;
            }
        } else {
            hit = py_space(cp);
        }
        if (!hit)
            break;
        a += k;
    }
    while ((which & 2) && b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)p[st] & 0xC0) == 0x80)
            st--;
        cp_next(p, b, st, &cp);
        int hit = 0;
        if (chars) {
            for (size_t j = 0; j < chars->u.s.n && !hit;) {
                int32_t x;
                j += cp_next(chars->u.s.p, chars->u.s.n, j, &x);
                hit = x == cp;
            }
        } else {
            hit = py_space(cp);
        }
        if (!hit)
            break;
        b = st;
    }
    return jstr_ref(p + a, b - a);
}

/* mode 0 lower, 1 upper, 2 capitalize, 3 title */
static int str_case(struct ctx *c, const struct jnode *at, jv s, int mode, jv *out)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int first = 1, prev_cased = 0;
    int32_t cp;
    for (size_t i = 0; i < s.u.s.n;) {
        i += cp_next(s.u.s.p, s.u.s.n, i, &cp);
        int32_t o;
        if (mode == 0)
            o = utf8proc_tolower(cp);
        else if (mode == 1)
            o = utf8proc_toupper(cp);
        else if (mode == 2)
            o = first ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        else
            o = prev_cased ? utf8proc_tolower(cp) : utf8proc_toupper(cp);
        const utf8proc_property_t *pr = utf8proc_get_property(cp);
        prev_cased = pr->category == UTF8PROC_CATEGORY_LU || pr->category == UTF8PROC_CATEGORY_LL ||
                     pr->category == UTF8PROC_CATEGORY_LT;
        first = 0;
        append_cp(&sb, o);
    }
    return sb_to_str(c, at, &sb, out);
}

static int str_find(jv h, const char *n, size_t nn, size_t from)
{
    if (nn == 0)
        return (int)from;
    for (size_t i = from; i + nn <= h.u.s.n; i++)
        if (memcmp(h.u.s.p + i, n, nn) == 0)
            return (int)i;
    return -1;
}

static long long str_find_ll(jv h, const char *n, size_t nn, size_t from)
{
    if (nn == 0)
        return from <= h.u.s.n ? (long long)from : -1;
    if (h.u.s.n < nn)
        return -1;
    for (size_t i = from; i + nn <= h.u.s.n; i++)
        if (memcmp(h.u.s.p + i, n, nn) == 0)
            return (long long)i;
    return -1;
}

static int str_replace(struct ctx *c, const struct jnode *at, jv s, jv old, jv new, long long count,
                       jv *out)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    size_t i = 0;
    long long done = 0;
    if (old.u.s.n == 0) { /* Python inserts new between every code point */
        int32_t cp;
        while (count < 0 || done < count) {
            dt_strbuf_append(&sb, new.u.s.p, new.u.s.n);
            done++;
            if (i >= s.u.s.n)
                break;
            size_t k = cp_next(s.u.s.p, s.u.s.n, i, &cp);
            dt_strbuf_append(&sb, s.u.s.p + i, k);
            i += k;
            if (sb_check(c, at, &sb)) {
                dt_strbuf_release(&sb);
                return nomem(c, at);
            }
        }
        dt_strbuf_append(&sb, s.u.s.p + i, s.u.s.n - i);
        return sb_to_str(c, at, &sb, out);
    }
    while (count < 0 || done < count) {
        long long j = str_find_ll(s, old.u.s.p, old.u.s.n, i);
        if (j < 0)
            break;
        dt_strbuf_append(&sb, s.u.s.p + i, (size_t)j - i);
        dt_strbuf_append(&sb, new.u.s.p, new.u.s.n);
        i = (size_t)j + old.u.s.n;
        done++;
        if (sb_check(c, at, &sb)) {
            dt_strbuf_release(&sb);
            return nomem(c, at);
        }
    }
    dt_strbuf_append(&sb, s.u.s.p + i, s.u.s.n - i);
    return sb_to_str(c, at, &sb, out);
}

/* ---- str(), repr() and JSON ---- */

static void fmt_float(double f, char *buf, size_t n)
{
    if (isnan(f)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, n, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) { /* shortest digits that read back as f, like Python's repr */
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    char digits[24];
    size_t nd = 0;
    const char *q = e;
    int neg = *q == '-';
    if (neg)
        q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *q;
    digits[nd] = 0;
    int exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = 0;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (neg)
        dt_strbuf_putc(&sb, '-');
    if (exp10 >= -5 && exp10 < 16) {
        if (exp10 < 0) {
            dt_strbuf_puts(&sb, "0.");
            for (int k = 0; k < -exp10 - 1; k++)
                dt_strbuf_putc(&sb, '0');
            dt_strbuf_puts(&sb, digits);
        } else {
            for (int k = 0; k <= exp10; k++)
                dt_strbuf_putc(&sb, (size_t)k < nd ? digits[k] : '0');
            dt_strbuf_putc(&sb, '.');
            if ((size_t)exp10 + 1 < nd)
                dt_strbuf_puts(&sb, digits + exp10 + 1);
            else
                dt_strbuf_putc(&sb, '0');
        }
    } else {
        dt_strbuf_putc(&sb, digits[0]);
        if (nd > 1) {
            dt_strbuf_putc(&sb, '.');
            dt_strbuf_puts(&sb, digits + 1);
        }
        dt_strbuf_printf(&sb, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    snprintf(buf, n, "%s", sb.data ? sb.data : "0.0");
    dt_strbuf_release(&sb);
}

static void repr_str(struct dt_strbuf *sb, const char *p, size_t n)
{
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    dt_strbuf_putc(sb, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\\' || ch == (unsigned char)q)
            dt_strbuf_printf(sb, "\\%c", ch);
        else if (ch == '\n')
            dt_strbuf_puts(sb, "\\n");
        else if (ch == '\r')
            dt_strbuf_puts(sb, "\\r");
        else if (ch == '\t')
            dt_strbuf_puts(sb, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            dt_strbuf_printf(sb, "\\x%02x", ch);
        else
            dt_strbuf_putc(sb, (char)ch);
    }
    dt_strbuf_putc(sb, q);
}

static int to_str(struct ctx *c, const struct jnode *at, const jv *v, struct dt_strbuf *sb,
                  int repr, int depth)
{
    char buf[40];
    if (depth > 100)
        return rerr(c, at, DT_EUNSUPPORTED, "value nested too deeply to print");
    switch (v->t) {
    case JV_UNDEF:
        break;
    case JV_NONE:
        dt_strbuf_puts(sb, "None");
        break;
    case JV_BOOL:
        dt_strbuf_puts(sb, v->u.i ? "True" : "False");
        break;
    case JV_INT:
        dt_strbuf_printf(sb, "%lld", (long long)v->u.i);
        break;
    case JV_FLOAT:
        fmt_float(v->u.f, buf, sizeof buf);
        dt_strbuf_puts(sb, buf);
        break;
    case JV_STR:
        if (repr)
            repr_str(sb, v->u.s.p, v->u.s.n);
        else
            dt_strbuf_append(sb, v->u.s.p, v->u.s.n);
        break;
    case JV_LIST:
        dt_strbuf_putc(sb, '[');
        for (size_t i = 0; i < v->u.l->n; i++) {
            if (i)
                dt_strbuf_puts(sb, ", ");
            int rc = to_str(c, at, &v->u.l->v[i], sb, 1, depth + 1);
            if (rc)
                return rc;
            if (sb_check(c, at, sb))
                return nomem(c, at);
        }
        dt_strbuf_putc(sb, ']');
        break;
    case JV_DICT:
        if (v->u.d->is_namespace) {
            dt_strbuf_puts(sb, "<Namespace>");
            break;
        }
        dt_strbuf_putc(sb, '{');
        for (size_t i = 0; i < v->u.d->n; i++) {
            if (i)
                dt_strbuf_puts(sb, ", ");
            int rc = to_str(c, at, &v->u.d->k[i], sb, 1, depth + 1);
            dt_strbuf_puts(sb, ": ");
            if (rc || (rc = to_str(c, at, &v->u.d->v[i], sb, 1, depth + 1)))
                return rc;
            if (sb_check(c, at, sb))
                return nomem(c, at);
        }
        dt_strbuf_putc(sb, '}');
        break;
    case JV_MACRO:
        dt_strbuf_printf(sb, "<macro %.*s>", (int)v->u.m->n, v->u.m->s);
        break;
    case JV_FUNC:
        dt_strbuf_puts(sb, "<function>");
        break;
    }
    return sb_check(c, at, sb);
}

static int as_str(struct ctx *c, const struct jnode *at, const jv *v, jv *out)
{
    if (v->t == JV_STR) {
        *out = *v;
        return 0;
    }
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int rc = to_str(c, at, v, &sb, 0, 0);
    if (rc) {
        dt_strbuf_release(&sb);
        return rc;
    }
    return sb_to_str(c, at, &sb, out);
}

static void json_str(struct dt_strbuf *sb, const char *p, size_t n)
{
    dt_strbuf_putc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (ch) {
        case '"':
            dt_strbuf_puts(sb, "\\\"");
            break;
        case '\\':
            dt_strbuf_puts(sb, "\\\\");
            break;
        case '\n':
            dt_strbuf_puts(sb, "\\n");
            break;
        case '\r':
            dt_strbuf_puts(sb, "\\r");
            break;
        case '\t':
            dt_strbuf_puts(sb, "\\t");
            break;
        case '\b':
            dt_strbuf_puts(sb, "\\b");
            break;
        case '\f':
            dt_strbuf_puts(sb, "\\f");
            break;
        default:
            if (ch < 0x20)
                dt_strbuf_printf(sb, "\\u%04x", ch);
            else
                dt_strbuf_putc(sb, (char)ch);
        }
    }
    dt_strbuf_putc(sb, '"');
}

static void newline_indent(struct dt_strbuf *sb, int indent, int level)
{
    dt_strbuf_putc(sb, '\n');
    for (int k = 0; k < indent * level; k++)
        dt_strbuf_putc(sb, ' ');
}

/* json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none) */
static int to_json(struct ctx *c, const struct jnode *at, const jv *v, struct dt_strbuf *sb,
                   int indent, int level)
{
    char buf[40];
    if (level > 100)
        return rerr(c, at, DT_EUNSUPPORTED, "value nested too deeply for tojson");
    switch (v->t) {
    case JV_UNDEF:
    case JV_NONE:
        dt_strbuf_puts(sb, "null");
        break;
    case JV_BOOL:
        dt_strbuf_puts(sb, v->u.i ? "true" : "false");
        break;
    case JV_INT:
        dt_strbuf_printf(sb, "%lld", (long long)v->u.i);
        break;
    case JV_FLOAT:
        if (isnan(v->u.f))
            dt_strbuf_puts(sb, "NaN");
        else if (isinf(v->u.f))
            dt_strbuf_puts(sb, v->u.f < 0 ? "-Infinity" : "Infinity");
        else {
            fmt_float(v->u.f, buf, sizeof buf);
            dt_strbuf_puts(sb, buf);
        }
        break;
    case JV_STR:
        json_str(sb, v->u.s.p, v->u.s.n);
        break;
    case JV_LIST:
    case JV_DICT: {
        int is_list = v->t == JV_LIST;
        size_t n = is_list ? v->u.l->n : v->u.d->n;
        dt_strbuf_putc(sb, is_list ? '[' : '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                dt_strbuf_puts(sb, indent >= 0 ? "," : ", ");
            if (indent >= 0)
                newline_indent(sb, indent, level + 1);
            int rc;
            if (!is_list) {
                const jv *k = &v->u.d->k[i];
                if (k->t == JV_STR) {
                    json_str(sb, k->u.s.p, k->u.s.n);
                } else {
                    struct dt_strbuf ks = DT_STRBUF_INIT;
                    rc = to_json(c, at, k, &ks, -1, level + 1);
                    if (rc) {
                        dt_strbuf_release(&ks);
                        return rc;
                    }
                    json_str(sb, ks.data ? ks.data : "", ks.len);
                    dt_strbuf_release(&ks);
                }
                dt_strbuf_puts(sb, ": ");
            }
            if ((rc = to_json(c, at, is_list ? &v->u.l->v[i] : &v->u.d->v[i], sb, indent,
                              level + 1)))
                return rc;
            if (sb_check(c, at, sb))
                return nomem(c, at);
        }
        if (indent >= 0 && n)
            newline_indent(sb, indent, level);
        dt_strbuf_putc(sb, is_list ? ']' : '}');
        break;
    }
    default:
        return rerr(c, at, DT_EUNSUPPORTED, "a %s cannot be written as JSON", type_name(v));
    }
    return sb_check(c, at, sb);
}

/* ---- iteration ---- */

static int as_list(struct ctx *c, const struct jnode *at, const jv *v, struct jlist **out)
{
    struct jlist *l;
    switch (v->t) {
    case JV_LIST:
        *out = v->u.l;
        return 0;
    case JV_UNDEF:
        if (!(*out = list_new(c, 0)))
            return nomem(c, at);
        return 0;
    case JV_DICT:
        if (!(l = list_new(c, v->u.d->n)))
            return nomem(c, at);
        for (size_t i = 0; i < v->u.d->n; i++)
            l->v[l->n++] = v->u.d->k[i];
        *out = l;
        return 0;
    case JV_STR: {
        if (!(l = list_new(c, 0)))
            return nomem(c, at);
        int32_t cp;
        for (size_t i = 0; i < v->u.s.n;) {
            size_t k = cp_next(v->u.s.p, v->u.s.n, i, &cp);
            if (list_push(c, l, jstr_ref(v->u.s.p + i, k)))
                return nomem(c, at);
            i += k;
        }
        *out = l;
        return 0;
    }
    default:
        return rerr(c, at, DT_EINVAL, "a %s is not iterable", type_name(v));
    }
}

/* ---- scopes ---- */

static struct frame *frame_new(struct ctx *c, struct frame *up)
{
    struct frame *f = ja_alloc(&c->ar, sizeof *f);
    if (!f || !(f->vars = ja_alloc(&c->ar, sizeof *f->vars)))
        return NULL;
    f->up = up;
    return f;
}

static const struct {
    const char *name;
    int fn;
} builtins[] = {{"range", F_RANGE},
                {"namespace", F_NAMESPACE},
                {"dict", F_DICT},
                {"raise_exception", F_RAISE},
                {"strftime_now", F_STRFTIME}};

static jv lookup(const struct frame *f, const char *s, size_t n)
{
    for (; f; f = f->up) {
        jv *v = dict_get_str(f->vars, s, n);
        if (v)
            return *v;
    }
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strlen(builtins[i].name) == n && memcmp(builtins[i].name, s, n) == 0) {
            jv v = undef();
            v.t = JV_FUNC;
            v.u.i = builtins[i].fn;
            return v;
        }
    return undef();
}

/* ---- evaluation ---- */

struct args {
    jv v[16];
    const char *kname[16];
    size_t n;
};

static int eval(struct ctx *c, struct frame *f, const struct jnode *n, jv *out);
static int exec(struct ctx *c, struct frame *f, const struct jnode *n);
static int charge(struct ctx *c, const struct jnode *at, const jv *v);

static int eval_args(struct ctx *c, struct frame *f, const struct jnode *n, struct args *a)
{
    a->n = 0;
    if (n->n_kids > sizeof a->v / sizeof a->v[0])
        return rerr(c, n, DT_EUNSUPPORTED, "more than 16 arguments");
    for (size_t i = 0; i < n->n_kids; i++) {
        int rc = eval(c, f, n->kids[i], &a->v[i]);
        if (rc)
            return rc;
        a->kname[i] = n->knames ? n->knames[i] : NULL;
        a->n++;
    }
    return 0;
}

/* Argument by position pos among positional ones, or by keyword name; NULL if absent. */
static const jv *arg(const struct args *a, size_t pos, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->kname[i]) {
            if (name && !strcmp(a->kname[i], name))
                return &a->v[i];
        } else if (k++ == pos) {
            return &a->v[i];
        }
    }
    return NULL;
}

static int want_str(struct ctx *c, const struct jnode *at, const jv *v, const char *what)
{
    if (!v || v->t != JV_STR)
        return rerr(c, at, DT_EINVAL, "%s expects a string, got %s", what,
                    v ? type_name(v) : "nothing");
    return 0;
}

static int want_int(struct ctx *c, const struct jnode *at, const jv *v, const char *what,
                    int64_t *out)
{
    if (!v || (v->t != JV_INT && v->t != JV_BOOL))
        return rerr(c, at, DT_EINVAL, "%s expects an integer, got %s", what,
                    v ? type_name(v) : "nothing");
    *out = v->u.i;
    return 0;
}

/* Python-style index normalisation for slices: clamps into [lo, len]. */
static int64_t slice_bound(int64_t i, int64_t len, int step_neg)
{
    if (i < 0) {
        i += len;
        if (i < 0)
            i = step_neg ? -1 : 0;
    } else if (i >= len) {
        i = step_neg ? len - 1 : len;
    }
    return i;
}

static int do_slice(struct ctx *c, const struct jnode *at, const jv *v, const jv *lo, const jv *hi,
                    const jv *st, jv *out)
{
    int64_t step = 1, start = 0, stop = 0;
    if (st && st->t != JV_NONE && want_int(c, at, st, "slice step", &step))
        return DT_EINVAL;
    if (step == 0)
        return rerr(c, at, DT_EINVAL, "slice step cannot be zero");
    int is_str = v->t == JV_STR;
    if (!is_str && v->t != JV_LIST)
        return rerr(c, at, DT_EINVAL, "a %s cannot be sliced", type_name(v));
    int64_t len = is_str ? (int64_t)cp_count(v->u.s.p, v->u.s.n) : (int64_t)v->u.l->n;
    if (lo && lo->t != JV_NONE) {
        if (want_int(c, at, lo, "slice start", &start))
            return DT_EINVAL;
        start = slice_bound(start, len, step < 0);
    } else {
        start = step < 0 ? len - 1 : 0;
    }
    if (hi && hi->t != JV_NONE) {
        if (want_int(c, at, hi, "slice stop", &stop))
            return DT_EINVAL;
        stop = slice_bound(stop, len, step < 0);
    } else {
        stop = step < 0 ? -1 : len;
    }
    if (is_str && step == 1) {
        if (stop <= start) {
            *out = jstr_ref("", 0);
            return 0;
        }
        size_t a = cp_offset(v->u.s.p, v->u.s.n, (size_t)start);
        size_t b = cp_offset(v->u.s.p, v->u.s.n, (size_t)stop);
        *out = jstr_ref(v->u.s.p + a, b - a);
        return 0;
    }
    struct jlist *src = NULL;
    int rc = as_list(c, at, v, &src);
    if (rc)
        return rc;
    struct jlist *l = list_new(c, 0);
    if (!l)
        return nomem(c, at);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        if (list_push(c, l, src->v[i]))
            return nomem(c, at);
    if (!is_str) {
        *out = jlist_v(l);
        return 0;
    }
    struct dt_strbuf sb = DT_STRBUF_INIT;
    for (size_t i = 0; i < l->n; i++)
        dt_strbuf_append(&sb, l->v[i].u.s.p, l->v[i].u.s.n);
    return sb_to_str(c, at, &sb, out);
}

static int do_index(struct ctx *c, const struct jnode *at, const jv *v, const jv *k, jv *out)
{
    if (v->t == JV_DICT) {
        jv *x = dict_get(v->u.d, k);
        *out = x ? *x : undef();
        return 0;
    }
    if ((v->t == JV_LIST || v->t == JV_STR) && (k->t == JV_INT || k->t == JV_BOOL)) {
        int is_str = v->t == JV_STR;
        int64_t len = is_str ? (int64_t)cp_count(v->u.s.p, v->u.s.n) : (int64_t)v->u.l->n;
        int64_t i = k->u.i < 0 ? k->u.i + len : k->u.i;
        if (i < 0 || i >= len) {
            *out = undef();
            return 0;
        }
        if (!is_str) {
            *out = v->u.l->v[i];
        } else {
            size_t a = cp_offset(v->u.s.p, v->u.s.n, (size_t)i);
            int32_t cp;
            *out = jstr_ref(v->u.s.p + a, cp_next(v->u.s.p, v->u.s.n, a, &cp));
        }
        return 0;
    }
    if (v->t == JV_UNDEF || v->t == JV_NONE) {
        *out = undef();
        return 0;
    }
    *out = undef();
    return 0;
}

static int get_attr(const jv *v, const char *s, size_t n, jv *out)
{
    if (v->t == JV_DICT) {
        jv *x = dict_get_str(v->u.d, s, n);
        *out = x ? *x : undef();
    } else {
        *out = undef();
    }
    return 0;
}

static int apply_test(struct ctx *c, struct frame *f, const struct jnode *at, const char *name,
                      const jv *v, const struct args *a, int *res);

static int call_macro(struct ctx *c, const struct jnode *at, const struct jnode *m,
                      const struct args *a, jv *out)
{
    if (c->depth >= c->max_depth)
        return rerr(c, at, DT_EUNSUPPORTED, "macro calls nested deeper than %d", c->max_depth);
    struct frame *f = frame_new(c, c->globals);
    if (!f)
        return nomem(c, at);
    int rc;
    size_t pos = 0;
    for (size_t i = 0; i < m->n_kids; i++) {
        const struct jnode *p = m->kids[i];
        const jv *given = NULL;
        for (size_t k = 0; k < a->n; k++)
            if (a->kname[k] && strlen(a->kname[k]) == p->n && !memcmp(a->kname[k], p->s, p->n))
                given = &a->v[k];
        if (!given)
            given = arg(a, pos++, NULL);
        jv val = undef();
        if (given)
            val = *given;
        else if (p->a && (rc = eval(c, f, p->a, &val)))
            return rc;
        if (dict_set(c, f->vars, jstr_ref(p->s, p->n), val))
            return nomem(c, at);
    }
    struct dt_strbuf sb = DT_STRBUF_INIT, *saved = c->out;
    c->out = &sb;
    c->depth++;
    rc = exec(c, f, m->body);
    c->depth--;
    c->out = saved;
    if (rc < 0) {
        dt_strbuf_release(&sb);
        return rc;
    }
    return sb_to_str(c, at, &sb, out);
}

static int call_builtin(struct ctx *c, const struct jnode *at, int fn, const struct args *a,
                        jv *out)
{
    int rc;
    if (fn == F_RANGE) {
        int64_t v[3] = {0, 0, 1};
        size_t np = 0;
        for (size_t i = 0; i < a->n; i++)
            if (!a->kname[i]) {
                if (np == 3)
                    return rerr(c, at, DT_EINVAL, "range takes at most 3 arguments");
                if ((rc = want_int(c, at, &a->v[i], "range", &v[np++])))
                    return rc;
            }
        if (np == 0)
            return rerr(c, at, DT_EINVAL, "range expects 1 to 3 arguments");
        int64_t start = np == 1 ? 0 : v[0], stop = np == 1 ? v[0] : v[1], step = np == 3 ? v[2] : 1;
        if (step == 0)
            return rerr(c, at, DT_EINVAL, "range step cannot be zero");
        struct jlist *l = list_new(c, 0);
        if (!l)
            return nomem(c, at);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (++c->steps > c->max_steps)
                return rerr(c, at, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps",
                            c->max_steps);
            if (list_push(c, l, jint(i)))
                return nomem(c, at);
        }
        *out = jlist_v(l);
        return 0;
    }
    if (fn == F_NAMESPACE || fn == F_DICT) {
        struct jdict *d = ja_alloc(&c->ar, sizeof *d);
        if (!d)
            return nomem(c, at);
        d->is_namespace = fn == F_NAMESPACE;
        for (size_t i = 0; i < a->n; i++) {
            if (!a->kname[i]) {
                if (a->v[i].t != JV_DICT)
                    return rerr(c, at, DT_EINVAL, "%s expects keyword arguments",
                                fn == F_DICT ? "dict" : "namespace");
                for (size_t k = 0; k < a->v[i].u.d->n; k++)
                    if (dict_set(c, d, a->v[i].u.d->k[k], a->v[i].u.d->v[k]))
                        return nomem(c, at);
                continue;
            }
            jv key;
            if ((rc = jstr_copy(c, at, a->kname[i], strlen(a->kname[i]), &key)))
                return rc;
            if (dict_set(c, d, key, a->v[i]))
                return nomem(c, at);
        }
        *out = jdict_v(d);
        return 0;
    }
    if (fn == F_RAISE) {
        const jv *m = arg(a, 0, NULL);
        jv s = jstr_ref("", 0);
        if (m && (rc = as_str(c, at, m, &s)))
            return rc;
        int k = (int)(s.u.s.n > 300 ? 300 : s.u.s.n);
        for (int i = 0; i < k; i++) /* the message stays one line */
            if (s.u.s.p[i] == '\n' || s.u.s.p[i] == '\r')
                k = i;
        return rerr(c, at, DT_EINVAL, "template raised an exception: %.*s", k, s.u.s.p);
    }
    if (fn == F_STRFTIME) {
        const jv *fmt = arg(a, 0, NULL);
        if ((rc = want_str(c, at, fmt, "strftime_now")))
            return rc;
        char f2[256], buf[512];
        if (fmt->u.s.n >= sizeof f2)
            return rerr(c, at, DT_EUNSUPPORTED, "strftime_now format longer than 255 bytes");
        memcpy(f2, fmt->u.s.p, fmt->u.s.n);
        f2[fmt->u.s.n] = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t k = strftime(buf, sizeof buf, f2, &c->date); /* the template's format, C locale */
#pragma GCC diagnostic pop
        return jstr_copy(c, at, buf, k, out);
    }
    return rerr(c, at, DT_EINVAL, "a loop's cycle is called as loop.cycle(...)");
}

/* String, dict and list methods; *found = 0 when obj has no method called name. */
static int call_method(struct ctx *c, const struct jnode *at, jv obj, const char *name,
                       size_t n_name, const struct args *a, jv *out, int *found)
{
    char nm[32];
    int rc;
    *found = 1;
    if (n_name >= sizeof nm) {
        *found = 0;
        return 0;
    }
    memcpy(nm, name, n_name);
    nm[n_name] = 0;
    const jv *a0 = arg(a, 0, NULL), *a1 = arg(a, 1, NULL);
    if (obj.t == JV_STR) {
        if (!strcmp(nm, "strip") || !strcmp(nm, "lstrip") || !strcmp(nm, "rstrip")) {
            if (a0 && a0->t != JV_NONE && (rc = want_str(c, at, a0, nm)))
                return rc;
            *out = str_strip(obj, a0 && a0->t == JV_STR ? a0 : NULL,
                             nm[0] == 's'   ? 3
                             : nm[0] == 'l' ? 1
                                            : 2);
            return 0;
        }
        if (!strcmp(nm, "upper") || !strcmp(nm, "lower") || !strcmp(nm, "capitalize") ||
            !strcmp(nm, "title"))
            return str_case(c, at, obj,
                            nm[0] == 'l'   ? 0
                            : nm[0] == 'u' ? 1
                            : nm[0] == 'c' ? 2
                                           : 3,
                            out);
        if (!strcmp(nm, "startswith") || !strcmp(nm, "endswith")) {
            int ends = nm[0] == 'e';
            struct jlist one = {1, 1, (jv *)a0}, *cands = &one;
            if (a0 && a0->t == JV_LIST)
                cands = a0->u.l;
            int hit = 0;
            for (size_t i = 0; i < cands->n; i++) {
                const jv *p = &cands->v[i];
                if ((rc = want_str(c, at, p, nm)))
                    return rc;
                if (p->u.s.n <= obj.u.s.n &&
                    !memcmp(obj.u.s.p + (ends ? obj.u.s.n - p->u.s.n : 0), p->u.s.p, p->u.s.n))
                    hit = 1;
            }
            *out = jbool(hit);
            return 0;
        }
        if (!strcmp(nm, "split") || !strcmp(nm, "rsplit")) {
            int64_t maxsplit = -1;
            const jv *sep = a0 ? a0 : arg(a, 99, "sep");
            const jv *ms = a1 ? a1 : arg(a, 99, "maxsplit");
            if (ms && (rc = want_int(c, at, ms, "split", &maxsplit)))
                return rc;
            if (sep && sep->t != JV_NONE && (rc = want_str(c, at, sep, "split")))
                return rc;
            if (sep && sep->t == JV_STR && sep->u.s.n == 0)
                return rerr(c, at, DT_EINVAL, "split separator is empty");
            struct jlist *l = list_new(c, 0);
            if (!l)
                return nomem(c, at);
            const char *p = obj.u.s.p;
            size_t n = obj.u.s.n, i = 0;
            if (nm[0] == 'r' && maxsplit >= 0)
                return rerr(c, at, DT_EUNSUPPORTED, "rsplit with maxsplit is not supported");
            if (!sep || sep->t == JV_NONE) { /* runs of whitespace, no empty strings */
                int32_t cp;
                for (;;) {
                    while (i < n) {
                        size_t k = cp_next(p, n, i, &cp);
                        if (!py_space(cp))
                            break;
                        i += k;
                    }
                    if (i >= n)
                        break;
                    size_t st = i;
                    if (maxsplit >= 0 && (int64_t)l->n == maxsplit) {
                        jv rest = str_strip(jstr_ref(p + st, n - st), NULL, 2);
                        if (list_push(c, l, rest))
                            return nomem(c, at);
                        break;
                    }
                    while (i < n) {
                        size_t k = cp_next(p, n, i, &cp);
                        if (py_space(cp))
                            break;
                        i += k;
                    }
                    if (list_push(c, l, jstr_ref(p + st, i - st)))
                        return nomem(c, at);
                }
            } else {
                for (;;) {
                    long long j = (maxsplit >= 0 && (int64_t)l->n == maxsplit)
                                      ? -1
                                      : str_find_ll(obj, sep->u.s.p, sep->u.s.n, i);
                    if (j < 0) {
                        if (list_push(c, l, jstr_ref(p + i, n - i)))
                            return nomem(c, at);
                        break;
                    }
                    if (list_push(c, l, jstr_ref(p + i, (size_t)j - i)))
                        return nomem(c, at);
                    i = (size_t)j + sep->u.s.n;
                }
            }
            *out = jlist_v(l);
            return 0;
        }
        if (!strcmp(nm, "replace")) {
            int64_t count = -1;
            const jv *a2 = arg(a, 2, "count");
            if ((rc = want_str(c, at, a0, "replace")) || (rc = want_str(c, at, a1, "replace")) ||
                (a2 && (rc = want_int(c, at, a2, "replace", &count))))
                return rc;
            return str_replace(c, at, obj, *a0, *a1, count, out);
        }
        if (!strcmp(nm, "find") || !strcmp(nm, "count")) {
            if ((rc = want_str(c, at, a0, nm)))
                return rc;
            if (nm[0] == 'f') {
                long long j = str_find_ll(obj, a0->u.s.p, a0->u.s.n, 0);
                *out = jint(j < 0 ? -1 : (int64_t)cp_count(obj.u.s.p, (size_t)j));
            } else {
                int64_t k = 0;
                if (a0->u.s.n == 0) {
                    k = (int64_t)cp_count(obj.u.s.p, obj.u.s.n) + 1;
                } else {
                    for (long long j = 0;
                         (j = str_find_ll(obj, a0->u.s.p, a0->u.s.n, (size_t)j)) >= 0;
                         j += (long long)a0->u.s.n)
                        k++;
                }
                *out = jint(k);
            }
            return 0;
        }
        if (!strcmp(nm, "join")) {
            struct jlist *l = NULL;
            if (!a0 || (rc = as_list(c, at, a0, &l)))
                return a0 ? rc : rerr(c, at, DT_EINVAL, "join expects an iterable");
            struct dt_strbuf sb = DT_STRBUF_INIT;
            for (size_t i = 0; i < l->n; i++) {
                if (i)
                    dt_strbuf_append(&sb, obj.u.s.p, obj.u.s.n);
                if ((rc = to_str(c, at, &l->v[i], &sb, 0, 0))) {
                    dt_strbuf_release(&sb);
                    return rc;
                }
            }
            return sb_to_str(c, at, &sb, out);
        }
        if (!strcmp(nm, "format")) {
            /* Python's str.format: "{}" and "{N}" positional, "{name}" keyword arguments as
             * str() prints them, "{{" and "}}"; conversions ("!r") and format specs are refused */
            struct dt_strbuf sb = DT_STRBUF_INIT;
            const char *p = obj.u.s.p;
            size_t n = obj.u.s.n, next = 0;
            for (size_t i = 0; i < n; i++) {
                char ch = p[i];
                if ((ch == '{' || ch == '}') && i + 1 < n && p[i + 1] == ch) {
                    dt_strbuf_append(&sb, &ch, 1);
                    i++;
                    continue;
                }
                if (ch != '{' && ch != '}') {
                    dt_strbuf_append(&sb, &ch, 1);
                    continue;
                }
                size_t j = i + 1;
                while (ch == '{' && j < n && p[j] != '}' && p[j] != '{' && p[j] != ':' &&
                       p[j] != '!' && p[j] != '.' && p[j] != '[')
                    j++;
                size_t fl = j - i - 1;
                const jv *val = NULL;
                char key[64];
                if (ch == '}' || j >= n || p[j] != '}' || fl >= sizeof key) {
                    rc = rerr(c, at, DT_EUNSUPPORTED, "format string field at %zu is not supported",
                              i);
                    goto fmt_fail;
                }
                memcpy(key, p + i + 1, fl);
                key[fl] = 0;
                size_t d = 0;
                while (d < fl && key[d] >= '0' && key[d] <= '9')
                    d++;
                if (fl == 0)
                    val = arg(a, next++, NULL);
                else if (d == fl && fl < 10)
                    val = arg(a, (size_t)strtoul(key, NULL, 10), NULL);
                else
                    val = arg(a, (size_t)-1, key);
                if (!val) {
                    rc = rerr(c, at, DT_EINVAL, "format field '{%s}' has no argument", key);
                    goto fmt_fail;
                }
                if ((rc = to_str(c, at, val, &sb, 0, 0)))
                    goto fmt_fail;
                i = j;
            }
            return sb_to_str(c, at, &sb, out);
        fmt_fail:
            dt_strbuf_release(&sb);
            return rc;
        }
        if (!strcmp(nm, "isdigit") || !strcmp(nm, "isspace") || !strcmp(nm, "isalpha")) {
            int ok = obj.u.s.n > 0;
            int32_t cp;
            for (size_t i = 0; i < obj.u.s.n && ok;) {
                i += cp_next(obj.u.s.p, obj.u.s.n, i, &cp);
                utf8proc_category_t cat = utf8proc_category(cp);
                if (nm[2] == 'd')
                    ok = cat == UTF8PROC_CATEGORY_ND;
                else if (nm[2] == 's')
                    ok = py_space(cp);
                else
                    ok = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
            }
            *out = jbool(ok);
            return 0;
        }
    } else if (obj.t == JV_DICT) {
        struct jdict *d = obj.u.d;
        if (!strcmp(nm, "items") || !strcmp(nm, "keys") || !strcmp(nm, "values")) {
            struct jlist *l = list_new(c, d->n);
            if (!l)
                return nomem(c, at);
            for (size_t i = 0; i < d->n; i++) {
                if (nm[0] == 'i') {
                    struct jlist *pair = list_new(c, 2);
                    if (!pair)
                        return nomem(c, at);
                    pair->v[0] = d->k[i];
                    pair->v[1] = d->v[i];
                    pair->n = 2;
                    l->v[l->n++] = jlist_v(pair);
                } else {
                    l->v[l->n++] = nm[0] == 'k' ? d->k[i] : d->v[i];
                }
            }
            *out = jlist_v(l);
            return 0;
        }
        if (!strcmp(nm, "get")) {
            if (!a0)
                return rerr(c, at, DT_EINVAL, "get expects a key");
            jv *x = dict_get(d, a0);
            *out = x ? *x : a1 ? *a1 : jnone();
            return 0;
        }
    } else if (obj.t == JV_LIST) {
        if (!strcmp(nm, "append")) {
            if (!a0)
                return rerr(c, at, DT_EINVAL, "append expects a value");
            if (list_push(c, obj.u.l, *a0))
                return nomem(c, at);
            *out = jnone();
            return 0;
        }
        if (!strcmp(nm, "index") || !strcmp(nm, "count")) {
            if (!a0)
                return rerr(c, at, DT_EINVAL, "%s expects a value", nm);
            int64_t k = 0, where = -1;
            for (size_t i = 0; i < obj.u.l->n; i++)
                if (jv_eq(&obj.u.l->v[i], a0)) {
                    if (where < 0)
                        where = (int64_t)i;
                    k++;
                }
            if (nm[0] == 'i' && where < 0)
                return rerr(c, at, DT_EINVAL, "value not in list");
            *out = jint(nm[0] == 'i' ? where : k);
            return 0;
        }
    }
    *found = 0;
    return 0;
}

static int eval_call(struct ctx *c, struct frame *f, const struct jnode *n, jv *out)
{
    struct args a;
    int rc;
    if (n->a->kind == E_ATTR) {
        jv obj;
        if ((rc = eval(c, f, n->a->a, &obj)) || (rc = charge(c, n, &obj)))
            return rc;
        if (obj.t == JV_STR || obj.t == JV_LIST || (obj.t == JV_DICT && !obj.u.d->is_namespace)) {
            int found = 0;
            if ((rc = eval_args(c, f, n, &a)) ||
                (rc = call_method(c, n, obj, n->a->s, n->a->n, &a, out, &found)))
                return rc;
            if (found)
                return 0;
        }
        jv fn;
        get_attr(&obj, n->a->s, n->a->n, &fn);
        if (fn.t == JV_MACRO || fn.t == JV_FUNC) {
            if ((rc = eval_args(c, f, n, &a)))
                return rc;
            if (fn.t == JV_FUNC && fn.u.i == F_CYCLE) { /* loop.cycle(a, b, ...) */
                jv i0;
                get_attr(&obj, "index0", 6, &i0);
                if (a.n == 0 || i0.t != JV_INT)
                    return rerr(c, n, DT_EINVAL, "loop.cycle expects at least one value");
                *out = a.v[(size_t)i0.u.i % a.n];
                return 0;
            }
            return fn.t == JV_MACRO ? call_macro(c, n, fn.u.m, &a, out)
                                    : call_builtin(c, n, (int)fn.u.i, &a, out);
        }
        return rerr(c, n, DT_EINVAL, "'%.*s' is not callable on a %s", (int)n->a->n, n->a->s,
                    type_name(&obj));
    }
    jv fn;
    if ((rc = eval(c, f, n->a, &fn)) || (rc = eval_args(c, f, n, &a)))
        return rc;
    if (fn.t == JV_MACRO)
        return call_macro(c, n, fn.u.m, &a, out);
    if (fn.t == JV_FUNC)
        return call_builtin(c, n, (int)fn.u.i, &a, out);
    if (n->a->kind == E_NAME)
        return rerr(c, n, DT_EINVAL, "'%.*s' is undefined or not callable", (int)n->a->n, n->a->s);
    return rerr(c, n, DT_EINVAL, "a %s is not callable", type_name(&fn));
}

static int arith(struct ctx *c, const struct jnode *n, int op, const jv *x, const jv *y, jv *out)
{
    int rc;
    if (op == OP_CONCAT) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        if ((rc = to_str(c, n, x, &sb, 0, 0)) || (rc = to_str(c, n, y, &sb, 0, 0))) {
            dt_strbuf_release(&sb);
            return rc;
        }
        return sb_to_str(c, n, &sb, out);
    }
    if (op == OP_ADD && x->t == JV_STR && y->t == JV_STR) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        dt_strbuf_append(&sb, x->u.s.p, x->u.s.n);
        dt_strbuf_append(&sb, y->u.s.p, y->u.s.n);
        return sb_to_str(c, n, &sb, out);
    }
    if (op == OP_ADD && x->t == JV_LIST && y->t == JV_LIST) {
        struct jlist *l = list_new(c, x->u.l->n + y->u.l->n);
        if (!l)
            return nomem(c, n);
        for (size_t i = 0; i < x->u.l->n; i++)
            l->v[l->n++] = x->u.l->v[i];
        for (size_t i = 0; i < y->u.l->n; i++)
            l->v[l->n++] = y->u.l->v[i];
        *out = jlist_v(l);
        return 0;
    }
    if (op == OP_MUL &&
        ((x->t == JV_STR && y->t == JV_INT) || (x->t == JV_INT && y->t == JV_STR))) {
        const jv *s = x->t == JV_STR ? x : y;
        int64_t k = x->t == JV_INT ? x->u.i : y->u.i;
        struct dt_strbuf sb = DT_STRBUF_INIT;
        for (int64_t i = 0; i < k; i++) {
            dt_strbuf_append(&sb, s->u.s.p, s->u.s.n);
            if (sb_check(c, n, &sb)) {
                dt_strbuf_release(&sb);
                return nomem(c, n);
            }
        }
        return sb_to_str(c, n, &sb, out);
    }
    if (!is_num(x) || !is_num(y))
        return rerr(c, n, DT_EINVAL, "unsupported operand types %s and %s", type_name(x),
                    type_name(y));
    int ints = x->t != JV_FLOAT && y->t != JV_FLOAT;
    int64_t a = x->u.i, b = y->u.i, r = 0;
    double fa = num(x), fb = num(y);
    switch (op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
        if (ints) {
            int ovf = op == OP_ADD   ? __builtin_add_overflow(a, b, &r)
                      : op == OP_SUB ? __builtin_sub_overflow(a, b, &r)
                                     : __builtin_mul_overflow(a, b, &r);
            if (ovf)
                return rerr(c, n, DT_EUNSUPPORTED, "integer overflow");
            *out = jint(r);
        } else {
            *out = jfloat(op == OP_ADD ? fa + fb : op == OP_SUB ? fa - fb : fa * fb);
        }
        return 0;
    case OP_DIV:
        if (fb == 0)
            return rerr(c, n, DT_EINVAL, "division by zero");
        *out = jfloat(fa / fb);
        return 0;
    case OP_FLOORDIV:
    case OP_MOD:
        if (ints ? b == 0 : fb == 0)
            return rerr(c, n, DT_EINVAL, "division by zero");
        if (ints) {
            if (a == INT64_MIN && b == -1)
                return rerr(c, n, DT_EUNSUPPORTED, "integer overflow");
            int64_t q = a / b, m = a % b;
            if (m != 0 && ((m < 0) != (b < 0))) {
                q--;
                m += b;
            }
            *out = jint(op == OP_MOD ? m : q);
        } else {
            double q = floor(fa / fb);
            *out = jfloat(op == OP_MOD ? fa - q * fb : q);
        }
        return 0;
    case OP_POW:
        if (ints && b >= 0) {
            r = 1;
            for (int64_t i = 0; i < b; i++)
                if (__builtin_mul_overflow(r, a, &r))
                    return rerr(c, n, DT_EUNSUPPORTED, "integer overflow");
            *out = jint(r);
        } else {
            *out = jfloat(pow(fa, fb));
        }
        return 0;
    default:
        return rerr(c, n, DT_EINTERNAL, "unknown operator");
    }
}

static int contains(struct ctx *c, const struct jnode *n, const jv *x, const jv *y, int *res)
{
    if (y->t == JV_STR) {
        if (x->t != JV_STR)
            return rerr(c, n, DT_EINVAL, "'in <string>' requires a string, got %s", type_name(x));
        *res = str_find(*y, x->u.s.p, x->u.s.n, 0) >= 0;
        return 0;
    }
    if (y->t == JV_LIST) {
        *res = 0;
        for (size_t i = 0; i < y->u.l->n && !*res; i++)
            *res = jv_eq(x, &y->u.l->v[i]);
        return 0;
    }
    if (y->t == JV_DICT) {
        *res = dict_get(y->u.d, x) != NULL;
        return 0;
    }
    if (y->t == JV_UNDEF) {
        *res = 0;
        return 0;
    }
    return rerr(c, n, DT_EINVAL, "'in' on a %s", type_name(y));
}

static int compare(struct ctx *c, const struct jnode *n, int op, const jv *x, const jv *y, jv *out)
{
    int r = 0, rc;
    if (op == OP_EQ || op == OP_NE) {
        r = jv_eq(x, y);
        *out = jbool(op == OP_EQ ? r : !r);
        return 0;
    }
    if (op == OP_IN || op == OP_NOTIN) {
        if ((rc = contains(c, n, x, y, &r)))
            return rc;
        *out = jbool(op == OP_IN ? r : !r);
        return 0;
    }
    int cmp;
    if (is_num(x) && is_num(y)) {
        double a = num(x), b = num(y);
        if (x->t != JV_FLOAT && y->t != JV_FLOAT)
            cmp = x->u.i < y->u.i ? -1 : x->u.i > y->u.i;
        else
            cmp = a < b ? -1 : a > b;
    } else if (x->t == JV_STR && y->t == JV_STR) {
        size_t k = x->u.s.n < y->u.s.n ? x->u.s.n : y->u.s.n;
        cmp = memcmp(x->u.s.p, y->u.s.p, k);
        if (cmp == 0)
            cmp = x->u.s.n < y->u.s.n ? -1 : x->u.s.n > y->u.s.n;
    } else {
        return rerr(c, n, DT_EINVAL, "cannot order %s and %s", type_name(x), type_name(y));
    }
    r = op == OP_LT ? cmp < 0 : op == OP_LE ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0;
    *out = jbool(r);
    return 0;
}

static int nm_eq(const char *a, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(a, s, n) == 0;
}

static int apply_filter(struct ctx *c, struct frame *f, const struct jnode *n, const char *name,
                        size_t n_name, const jv *v, const struct args *a, jv *out);

/* Attribute path "a.b" of an item (selectattr, map, join attribute=). */
static jv attr_path(const jv *item, const jv *path)
{
    jv cur = *item;
    const char *p = path->u.s.p;
    size_t n = path->u.s.n, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '.')
            j++;
        jv next_v = undef();
        if (cur.t == JV_DICT) {
            get_attr(&cur, p + i, j - i, &next_v);
        } else if (cur.t == JV_LIST) {
            int64_t k = 0;
            int ok = j > i;
            for (size_t q = i; q < j; q++) {
                if (p[q] < '0' || p[q] > '9' || k > 1000000000)
                    ok = 0;
                else
                    k = k * 10 + (p[q] - '0');
            }
            if (ok && (size_t)k < cur.u.l->n)
                next_v = cur.u.l->v[k];
        }
        cur = next_v;
        i = j + 1;
    }
    return cur;
}

/* Ordering for sort/dictsort/min/max: numbers by value, strings by code point, lowercased
 * first unless case_sensitive (Jinja's default ignores case). *cmp: <0, 0, >0. */
static int order(struct ctx *c, const struct jnode *at, const jv *x, const jv *y,
                 int case_sensitive, int *cmp)
{
    if (is_num(x) && is_num(y)) {
        double a = num(x), b = num(y);
        *cmp = a < b ? -1 : a > b;
        return 0;
    }
    if (x->t != JV_STR || y->t != JV_STR)
        return rerr(c, at, DT_EINVAL, "cannot order %s and %s", type_name(x), type_name(y));
    jv a = *x, b = *y;
    int rc;
    if (!case_sensitive && ((rc = str_case(c, at, *x, 0, &a)) || (rc = str_case(c, at, *y, 0, &b))))
        return rc;
    size_t k = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
    *cmp = memcmp(a.u.s.p, b.u.s.p, k);
    if (*cmp == 0)
        *cmp = a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    return 0;
}

/* A stable insertion sort of l (a copy) by key(item) (attribute path, or the item itself). */
static int sort_list(struct ctx *c, const struct jnode *at, struct jlist *l, const jv *attr,
                     int by_key_of_pair, int reverse, int case_sensitive)
{
    for (size_t i = 1; i < l->n; i++) {
        jv item = l->v[i];
        size_t j = i;
        while (j > 0) {
            if ((c->steps += 1) > c->max_steps)
                return rerr(c, at, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps",
                            c->max_steps);
            jv ka = by_key_of_pair ? l->v[j - 1].u.l->v[0]
                    : attr         ? attr_path(&l->v[j - 1], attr)
                                   : l->v[j - 1];
            jv kb = by_key_of_pair ? item.u.l->v[0] : attr ? attr_path(&item, attr) : item;
            int cmp = 0, rc = order(c, at, &ka, &kb, case_sensitive, &cmp);
            if (rc)
                return rc;
            if (reverse ? cmp >= 0 : cmp <= 0)
                break;
            l->v[j] = l->v[j - 1];
            j--;
        }
        l->v[j] = item;
    }
    return 0;
}

static int apply_filter(struct ctx *c, struct frame *f, const struct jnode *n, const char *name,
                        size_t n_name, const jv *v, const struct args *a, jv *out)
{
    int rc;
    const jv *a0 = arg(a, 0, NULL);
    char fname[32]; /* name is a slice of the template: a NUL-terminated copy for messages */
    snprintf(fname, sizeof fname, "%.*s", (int)(n_name < 31 ? n_name : 31), name);
#define IS(s) nm_eq(name, n_name, s)
    if (IS("trim") || IS("strip")) {
        if ((rc = want_str(c, n, v, "trim")))
            return rc;
        if (a0 && (rc = want_str(c, n, a0, "trim")))
            return rc;
        *out = str_strip(*v, a0, 3);
        return 0;
    }
    if (IS("length") || IS("count")) {
        if (v->t == JV_STR)
            *out = jint((int64_t)cp_count(v->u.s.p, v->u.s.n));
        else if (v->t == JV_LIST)
            *out = jint((int64_t)v->u.l->n);
        else if (v->t == JV_DICT)
            *out = jint((int64_t)v->u.d->n);
        else if (v->t == JV_UNDEF)
            *out = jint(0);
        else
            return rerr(c, n, DT_EINVAL, "a %s has no length", type_name(v));
        return 0;
    }
    if (IS("tojson")) {
        int64_t indent = -1;
        for (size_t i = 0; i < a->n; i++) /* other json.dumps arguments would change the text */
            if (a->kname[i] && strcmp(a->kname[i], "indent") &&
                !(strcmp(a->kname[i], "ensure_ascii") == 0 && !truthy(&a->v[i])))
                return rerr(c, n, DT_EUNSUPPORTED, "tojson argument '%.40s' is not supported",
                            a->kname[i]);
        const jv *ind = a0 ? a0 : arg(a, 99, "indent");
        if (ind && ind->t != JV_NONE && (rc = want_int(c, n, ind, "tojson indent", &indent)))
            return rc;
        if (indent > 64)
            return rerr(c, n, DT_EUNSUPPORTED, "tojson indent above 64");
        struct dt_strbuf sb = DT_STRBUF_INIT;
        if ((rc = to_json(c, n, v, &sb, (int)indent, 0))) {
            dt_strbuf_release(&sb);
            return rc;
        }
        return sb_to_str(c, n, &sb, out);
    }
    if (IS("upper") || IS("lower") || IS("capitalize") || IS("title")) {
        jv s;
        if ((rc = as_str(c, n, v, &s)))
            return rc;
        return str_case(c, n, s,
                        name[0] == 'l'   ? 0
                        : name[0] == 'u' ? 1
                        : name[0] == 'c' ? 2
                                         : 3,
                        out);
    }
    if (IS("replace")) {
        const jv *a1 = arg(a, 1, NULL), *a2 = arg(a, 2, "count");
        int64_t count = -1;
        jv s;
        if ((rc = as_str(c, n, v, &s)) || (rc = want_str(c, n, a0, "replace")) ||
            (rc = want_str(c, n, a1, "replace")) ||
            (a2 && a2->t != JV_NONE && (rc = want_int(c, n, a2, "replace", &count))))
            return rc;
        return str_replace(c, n, s, *a0, *a1, count, out);
    }
    if (IS("default") || IS("d")) {
        const jv *b = arg(a, 1, "boolean");
        int use_default = (b && truthy(b)) ? !truthy(v) : v->t == JV_UNDEF;
        *out = use_default ? (a0 ? *a0 : jstr_ref("", 0)) : *v;
        return 0;
    }
    if (IS("first") || IS("last")) {
        struct jlist *l;
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        *out = l->n ? l->v[name[0] == 'f' ? 0 : l->n - 1] : undef();
        return 0;
    }
    if (IS("join")) {
        struct jlist *l;
        const jv *attr = arg(a, 1, "attribute");
        const jv *sep = a0 ? a0 : arg(a, 99, "d");
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (sep && (rc = want_str(c, n, sep, "join")))
            return rc;
        if (attr && (rc = want_str(c, n, attr, "join attribute")))
            return rc;
        struct dt_strbuf sb = DT_STRBUF_INIT;
        for (size_t i = 0; i < l->n; i++) {
            if (i && sep)
                dt_strbuf_append(&sb, sep->u.s.p, sep->u.s.n);
            jv item = attr ? attr_path(&l->v[i], attr) : l->v[i];
            if ((rc = to_str(c, n, &item, &sb, 0, 0))) {
                dt_strbuf_release(&sb);
                return rc;
            }
        }
        return sb_to_str(c, n, &sb, out);
    }
    if (IS("list")) {
        struct jlist *l, *copy;
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (!(copy = list_new(c, l->n)))
            return nomem(c, n);
        if (l->n)
            memcpy(copy->v, l->v, l->n * sizeof *l->v);
        copy->n = l->n;
        *out = jlist_v(copy);
        return 0;
    }
    if (IS("reverse")) {
        if (v->t == JV_STR) {
            jv step = jint(-1);
            return do_slice(c, n, v, NULL, NULL, &step, out);
        }
        struct jlist *l, *r;
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (!(r = list_new(c, l->n)))
            return nomem(c, n);
        for (size_t i = 0; i < l->n; i++)
            r->v[r->n++] = l->v[l->n - 1 - i];
        *out = jlist_v(r);
        return 0;
    }
    if (IS("selectattr") || IS("rejectattr") || IS("select") || IS("reject")) {
        int by_attr = name[6] == 'a', keep = name[0] == 's';
        struct jlist *l, *r;
        /* Jinja2 iterates only a true value: none, undefined and empty give nothing */
        if (!truthy(v)) {
            if (!(l = list_new(c, 0)))
                return nomem(c, n);
        } else if ((rc = as_list(c, n, v, &l))) {
            return rc;
        }
        if (by_attr && (rc = want_str(c, n, a0, fname)))
            return rc;
        const jv *test = arg(a, by_attr ? 1 : 0, NULL);
        if (test && (rc = want_str(c, n, test, "test name")))
            return rc;
        struct args ta = {0};
        for (size_t i = 0, k = 0; i < a->n; i++)
            if (!a->kname[i] && k++ >= (size_t)(by_attr ? 2 : 1))
                ta.v[ta.n++] = a->v[i];
        if (!(r = list_new(c, 0)))
            return nomem(c, n);
        char tname[32] = "";
        if (test) {
            if (test->u.s.n >= sizeof tname)
                return rerr(c, n, DT_EUNSUPPORTED, "unknown test");
            memcpy(tname, test->u.s.p, test->u.s.n);
            tname[test->u.s.n] = 0;
        }
        for (size_t i = 0; i < l->n; i++) {
            if (++c->steps > c->max_steps)
                return rerr(c, n, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps",
                            c->max_steps);
            jv item = by_attr ? attr_path(&l->v[i], a0) : l->v[i];
            int res;
            if (test) {
                if ((rc = apply_test(c, f, n, tname, &item, &ta, &res)))
                    return rc;
            } else {
                res = truthy(&item);
            }
            if (res == keep && list_push(c, r, l->v[i]))
                return nomem(c, n);
        }
        *out = jlist_v(r);
        return 0;
    }
    if (IS("map")) {
        struct jlist *l, *r;
        if (!truthy(v)) { /* as select: a false value gives nothing */
            if (!(l = list_new(c, 0)))
                return nomem(c, n);
        } else if ((rc = as_list(c, n, v, &l))) {
            return rc;
        }
        const jv *attr = arg(a, 99, "attribute"), *dflt = arg(a, 99, "default");
        if (!attr && (rc = want_str(c, n, a0, "map")))
            return rc;
        if (attr && (rc = want_str(c, n, attr, "map attribute")))
            return rc;
        struct args fa = {0};
        for (size_t i = 0, k = 0; i < a->n; i++)
            if (!a->kname[i] && k++ >= 1)
                fa.v[fa.n++] = a->v[i];
        if (!(r = list_new(c, l->n)))
            return nomem(c, n);
        for (size_t i = 0; i < l->n; i++) {
            jv item;
            if (attr) {
                item = attr_path(&l->v[i], attr);
                if (item.t == JV_UNDEF && dflt)
                    item = *dflt;
            } else if ((rc = apply_filter(c, f, n, a0->u.s.p, a0->u.s.n, &l->v[i], &fa, &item))) {
                return rc;
            }
            r->v[r->n++] = item;
        }
        *out = jlist_v(r);
        return 0;
    }
    if (IS("items")) {
        if (v->t == JV_UNDEF) {
            struct jlist *l = list_new(c, 0);
            if (!l)
                return nomem(c, n);
            *out = jlist_v(l);
            return 0;
        }
        if (v->t != JV_DICT)
            return rerr(c, n, DT_EINVAL, "items expects a mapping, got %s", type_name(v));
        int found;
        struct args none = {0};
        return call_method(c, n, *v, "items", 5, &none, out, &found);
    }
    if (IS("string"))
        return as_str(c, n, v, out);
    if (IS("safe") || IS("e") || IS("escape")) {
        if (IS("safe"))
            return as_str(c, n, v, out);
        return rerr(c, n, DT_EUNSUPPORTED, "filter 'escape' is not supported");
    }
    if (IS("int") || IS("float")) {
        int to_int = name[0] == 'i';
        jv dflt = a0 ? *a0 : to_int ? jint(0) : jfloat(0);
        if (is_num(v)) {
            *out = to_int ? jint(v->t == JV_FLOAT ? (int64_t)v->u.f : v->u.i) : jfloat(num(v));
            if (to_int && v->t == JV_FLOAT && !(fabs(v->u.f) < 9.2e18))
                *out = dflt;
            return 0;
        }
        if (v->t == JV_STR) {
            char buf[64];
            jv s = str_strip(*v, NULL, 3);
            if (s.u.s.n == 0 || s.u.s.n >= sizeof buf) {
                *out = dflt;
                return 0;
            }
            memcpy(buf, s.u.s.p, s.u.s.n);
            buf[s.u.s.n] = 0;
            char *end;
            if (to_int) {
                long long x = strtoll(buf, &end, 10);
                *out = *end ? dflt : jint(x);
            } else {
                double x = strtod(buf, &end);
                *out = *end ? dflt : jfloat(x);
            }
            return 0;
        }
        *out = dflt;
        return 0;
    }
    if (IS("abs")) {
        if (!is_num(v))
            return rerr(c, n, DT_EINVAL, "abs expects a number, got %s", type_name(v));
        if (v->t == JV_FLOAT)
            *out = jfloat(fabs(v->u.f));
        else if (v->u.i == INT64_MIN)
            return rerr(c, n, DT_EUNSUPPORTED, "integer overflow");
        else
            *out = jint(v->u.i < 0 ? -v->u.i : v->u.i);
        return 0;
    }
    if (IS("sort") || IS("dictsort")) {
        int dict = IS("dictsort");
        const jv *rev = arg(a, dict ? 2 : 0, "reverse"),
                 *cs = arg(a, dict ? 0 : 1, "case_sensitive");
        const jv *attr = dict ? NULL : arg(a, 2, "attribute");
        const jv *by = dict ? arg(a, 1, "by") : NULL;
        struct jlist *src, *l;
        int found;
        struct args none = {0};
        if (attr && (rc = want_str(c, n, attr, "sort attribute")))
            return rc;
        if (dict) {
            if (v->t != JV_DICT)
                return rerr(c, n, DT_EINVAL, "dictsort expects a mapping, got %s", type_name(v));
            if (by && by->t == JV_STR && nm_eq(by->u.s.p, by->u.s.n, "value"))
                return rerr(c, n, DT_EUNSUPPORTED, "dictsort by value is not supported");
            jv items;
            if ((rc = call_method(c, n, *v, "items", 5, &none, &items, &found)))
                return rc;
            src = items.u.l;
        } else if ((rc = as_list(c, n, v, &src))) {
            return rc;
        }
        if (!(l = list_new(c, src->n)))
            return nomem(c, n);
        if (src->n)
            memcpy(l->v, src->v, src->n * sizeof *l->v);
        l->n = src->n;
        if ((rc = sort_list(c, n, l, attr, dict, rev && truthy(rev), cs && truthy(cs))))
            return rc;
        *out = jlist_v(l);
        return 0;
    }
    if (IS("min") || IS("max")) {
        struct jlist *l;
        const jv *cs = arg(a, 0, "case_sensitive"), *attr = arg(a, 1, "attribute");
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (attr && (rc = want_str(c, n, attr, "attribute")))
            return rc;
        *out = undef();
        for (size_t i = 0; i < l->n; i++) {
            jv key = attr ? attr_path(&l->v[i], attr) : l->v[i];
            jv best = attr && out->t != JV_UNDEF ? attr_path(out, attr) : *out;
            int cmp = 0;
            if (out->t != JV_UNDEF && (rc = order(c, n, &key, &best, cs && truthy(cs), &cmp)))
                return rc;
            if (out->t == JV_UNDEF || (name[1] == 'i' ? cmp < 0 : cmp > 0))
                *out = l->v[i];
        }
        return 0;
    }
    if (IS("sum")) {
        struct jlist *l;
        const jv *attr = arg(a, 0, "attribute"), *start = arg(a, 1, "start");
        jv acc = start ? *start : jint(0);
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (attr && (rc = want_str(c, n, attr, "sum attribute")))
            return rc;
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr ? attr_path(&l->v[i], attr) : l->v[i];
            if ((rc = arith(c, n, OP_ADD, &acc, &x, &acc)))
                return rc;
        }
        *out = acc;
        return 0;
    }
    if (IS("indent")) {
        int64_t width = 4;
        const jv *w = arg(a, 0, "width"), *first = arg(a, 1, "first"), *blank = arg(a, 2, "blank");
        jv s, pad;
        if ((rc = as_str(c, n, v, &s)))
            return rc;
        if (w && w->t == JV_STR) {
            pad = *w;
        } else {
            if (w && (rc = want_int(c, n, w, "indent width", &width)))
                return rc;
            if (width < 0 || width > 256)
                return rerr(c, n, DT_EUNSUPPORTED, "indent width %lld out of range",
                            (long long)width);
            char sp[257];
            memset(sp, ' ', (size_t)width);
            if ((rc = jstr_copy(c, n, sp, (size_t)width, &pad)))
                return rc;
        }
        struct dt_strbuf sb = DT_STRBUF_INIT;
        size_t i = 0;
        int line0 = 1;
        while (i <= s.u.s.n) {
            size_t j = i;
            while (j < s.u.s.n && s.u.s.p[j] != '\n')
                j++;
            int empty = j == i;
            if (line0 ? first && truthy(first) : !empty || (blank && truthy(blank)))
                dt_strbuf_append(&sb, pad.u.s.p, pad.u.s.n);
            dt_strbuf_append(&sb, s.u.s.p + i, j - i);
            if (j >= s.u.s.n)
                break;
            dt_strbuf_putc(&sb, '\n');
            i = j + 1;
            line0 = 0;
            if (sb_check(c, n, &sb)) {
                dt_strbuf_release(&sb);
                return nomem(c, n);
            }
        }
        return sb_to_str(c, n, &sb, out);
    }
    if (IS("unique")) {
        struct jlist *l, *r;
        if ((rc = as_list(c, n, v, &l)))
            return rc;
        if (!(r = list_new(c, 0)))
            return nomem(c, n);
        for (size_t i = 0; i < l->n; i++) {
            int seen = 0;
            for (size_t k = 0; k < r->n && !seen; k++)
                seen = jv_eq(&r->v[k], &l->v[i]);
            if (!seen && list_push(c, r, l->v[i]))
                return nomem(c, n);
        }
        *out = jlist_v(r);
        return 0;
    }
#undef IS
    return rerr(c, n, DT_EUNSUPPORTED, "unsupported filter '%.*s'", (int)n_name, name);
}

static int apply_test(struct ctx *c, struct frame *f, const struct jnode *at, const char *name,
                      const jv *v, const struct args *a, int *res)
{
    const jv *a0 = arg(a, 0, NULL);
    int rc;
    jv r;
#define IS(s) (!strcmp(name, s))
    if (IS("defined"))
        *res = v->t != JV_UNDEF;
    else if (IS("undefined"))
        *res = v->t == JV_UNDEF;
    else if (IS("none"))
        *res = v->t == JV_NONE;
    else if (IS("string"))
        *res = v->t == JV_STR;
    else if (IS("mapping"))
        *res = v->t == JV_DICT;
    else if (IS("iterable")) /* Jinja's Undefined iterates as empty */
        *res = v->t == JV_LIST || v->t == JV_DICT || v->t == JV_STR || v->t == JV_UNDEF;
    else if (IS("sequence"))
        *res = v->t == JV_LIST || v->t == JV_DICT || v->t == JV_STR;
    else if (IS("number"))
        *res = is_num(v);
    else if (IS("integer"))
        *res = v->t == JV_INT;
    else if (IS("float"))
        *res = v->t == JV_FLOAT;
    else if (IS("boolean"))
        *res = v->t == JV_BOOL;
    else if (IS("true") || IS("false"))
        *res = v->t == JV_BOOL && v->u.i == (name[0] == 't');
    else if (IS("callable"))
        *res = v->t == JV_MACRO || v->t == JV_FUNC;
    else if (IS("odd") || IS("even")) {
        if (v->t != JV_INT)
            return rerr(c, at, DT_EINVAL, "test '%s' expects an integer", name);
        *res = (v->u.i & 1) == (name[0] == 'o');
    } else if (IS("divisibleby")) {
        int64_t d;
        if (v->t != JV_INT || (rc = want_int(c, at, a0, "divisibleby", &d)) || d == 0)
            return rerr(c, at, DT_EINVAL, "test 'divisibleby' expects nonzero integers");
        *res = v->u.i % d == 0;
    } else if (IS("lower") || IS("upper")) {
        if (v->t != JV_STR) {
            *res = 0;
            return 0;
        }
        if ((rc = str_case(c, at, *v, name[0] == 'l' ? 0 : 1, &r)))
            return rc;
        *res = jv_eq(&r, v);
    } else if (IS("sameas")) {
        *res = a0 && v->t == a0->t && jv_eq(v, a0);
    } else {
        static const struct {
            const char *name;
            int op;
        } cmp[] = {{"equalto", OP_EQ}, {"eq", OP_EQ}, {"==", OP_EQ}, {"ne", OP_NE}, {"!=", OP_NE},
                   {"lt", OP_LT},      {"<", OP_LT},  {"le", OP_LE}, {"<=", OP_LE}, {"gt", OP_GT},
                   {">", OP_GT},       {"ge", OP_GE}, {">=", OP_GE}, {"in", OP_IN}};
        for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
            if (IS(cmp[i].name)) {
                if (!a0)
                    return rerr(c, at, DT_EINVAL, "test '%s' expects an argument", name);
                if ((rc = compare(c, at, cmp[i].op, v, a0, &r)))
                    return rc;
                *res = (int)r.u.i;
                return 0;
            }
        return rerr(c, at, DT_EUNSUPPORTED, "unsupported test '%s'", name);
    }
#undef IS
    (void)f;
    return 0;
}

/* Work proportional to a value's size (scanning a string, a list) counts against the step
 * budget too, one step per 64 bytes or 4 items: otherwise one step could cost megabytes. */
static int charge(struct ctx *c, const struct jnode *at, const jv *v)
{
    long cost = v->t == JV_STR    ? (long)(v->u.s.n / 64)
                : v->t == JV_LIST ? (long)(v->u.l->n / 4)
                : v->t == JV_DICT ? (long)(v->u.d->n / 4)
                                  : 0;
    c->steps += cost;
    if (c->steps > c->max_steps)
        return rerr(c, at, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps", c->max_steps);
    return 0;
}

static int eval(struct ctx *c, struct frame *f, const struct jnode *n, jv *out)
{
    int rc;
    jv x, y;
    if (++c->steps > c->max_steps)
        return rerr(c, n, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps", c->max_steps);
    switch (n->kind) {
    case E_LIT:
        *out = n->lit;
        return 0;
    case E_NAME:
        *out = lookup(f, n->s, n->n);
        return 0;
    case E_ATTR:
        if ((rc = eval(c, f, n->a, &x)))
            return rc;
        return get_attr(&x, n->s, n->n, out);
    case E_INDEX:
        if ((rc = eval(c, f, n->a, &x)) || (rc = eval(c, f, n->b, &y)) || (rc = charge(c, n, &x)))
            return rc;
        return do_index(c, n, &x, &y, out);
    case E_SLICE: {
        jv part[3];
        if ((rc = eval(c, f, n->a, &x)) || (rc = charge(c, n, &x)))
            return rc;
        for (int k = 0; k < 3; k++) {
            part[k] = jnone();
            if (n->kids[k] && (rc = eval(c, f, n->kids[k], &part[k])))
                return rc;
        }
        return do_slice(c, n, &x, &part[0], &part[1], &part[2], out);
    }
    case E_CALL:
        return eval_call(c, f, n, out);
    case E_FILTER: {
        struct args a;
        if ((rc = eval(c, f, n->a, &x)) || (rc = eval_args(c, f, n, &a)) ||
            (rc = charge(c, n, &x)) || (rc = apply_filter(c, f, n, n->s, n->n, &x, &a, out)))
            return rc;
        return charge(c, n, out);
    }
    case E_TEST: {
        struct args a;
        char tname[32];
        int res;
        if (n->n >= sizeof tname)
            return rerr(c, n, DT_EUNSUPPORTED, "unsupported test '%.*s'", (int)n->n, n->s);
        memcpy(tname, n->s, n->n);
        tname[n->n] = 0;
        if ((rc = eval(c, f, n->a, &x)) || (rc = eval_args(c, f, n, &a)) ||
            (rc = apply_test(c, f, n, tname, &x, &a, &res)))
            return rc;
        *out = jbool(n->op ? !res : res);
        return 0;
    }
    case E_NEG:
        if ((rc = eval(c, f, n->a, &x)))
            return rc;
        if (x.t == JV_FLOAT) {
            *out = jfloat(-x.u.f);
        } else if ((x.t == JV_INT || x.t == JV_BOOL) && x.u.i != INT64_MIN) {
            *out = jint(-x.u.i);
        } else {
            return rerr(c, n, DT_EINVAL, "cannot negate a %s", type_name(&x));
        }
        return 0;
    case E_NOT:
        if ((rc = eval(c, f, n->a, &x)))
            return rc;
        *out = jbool(!truthy(&x));
        return 0;
    case E_AND:
    case E_OR:
        if ((rc = eval(c, f, n->a, &x)))
            return rc;
        if (truthy(&x) == (n->kind == E_OR)) {
            *out = x;
            return 0;
        }
        return eval(c, f, n->b, out);
    case E_BIN:
        if ((rc = eval(c, f, n->a, &x)) || (rc = eval(c, f, n->b, &y)) || (rc = charge(c, n, &x)) ||
            (rc = charge(c, n, &y)))
            return rc;
        if (n->op >= OP_EQ)
            return compare(c, n, n->op, &x, &y, out);
        if ((rc = arith(c, n, n->op, &x, &y, out)))
            return rc;
        return charge(c, n, out);
    case E_COND:
        if ((rc = eval(c, f, n->b, &x)))
            return rc;
        if (truthy(&x))
            return eval(c, f, n->a, out);
        if (n->c)
            return eval(c, f, n->c, out);
        *out = undef();
        return 0;
    case E_LIST:
    case E_TUPLE: {
        struct jlist *l = list_new(c, n->n_kids);
        if (!l)
            return nomem(c, n);
        for (size_t i = 0; i < n->n_kids; i++)
            if ((rc = eval(c, f, n->kids[i], &l->v[l->n++])))
                return rc;
        *out = jlist_v(l);
        return 0;
    }
    case E_DICT: {
        struct jdict *d = ja_alloc(&c->ar, sizeof *d);
        if (!d)
            return nomem(c, n);
        for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
            if ((rc = eval(c, f, n->kids[i], &x)) || (rc = eval(c, f, n->kids[i + 1], &y)))
                return rc;
            if (dict_set(c, d, x, y))
                return nomem(c, n);
        }
        *out = jdict_v(d);
        return 0;
    }
    default:
        return rerr(c, n, DT_EINTERNAL, "statement evaluated as an expression");
    }
}

static int emit(struct ctx *c, const struct jnode *at, const char *p, size_t n)
{
    if (n > c->max_out || c->n_out > c->max_out - n)
        return rerr(c, at, DT_ENOMEM, "output exceeds %zu bytes", c->max_out);
    c->n_out += n;
    dt_strbuf_append(c->out, p, n);
    if (dt_strbuf_failed(c->out))
        return nomem(c, at);
    return 0;
}

static int assign(struct ctx *c, struct frame *f, const struct jnode *target, jv v)
{
    int rc;
    if (target->kind == E_NAME) {
        if (dict_set(c, f->vars, jstr_ref(target->s, target->n), v))
            return nomem(c, target);
        return 0;
    }
    if (target->kind == E_ATTR) {
        jv ns;
        if ((rc = eval(c, f, target->a, &ns)))
            return rc;
        if (ns.t != JV_DICT || !ns.u.d->is_namespace)
            return rerr(c, target, DT_EINVAL, "cannot assign an attribute of a %s",
                        ns.t == JV_DICT ? "dict" : type_name(&ns));
        if (dict_set(c, ns.u.d, jstr_ref(target->s, target->n), v))
            return nomem(c, target);
        return 0;
    }
    /* tuple unpacking */
    struct jlist *l;
    if ((rc = as_list(c, target, &v, &l)))
        return rc;
    if (l->n != target->n_kids)
        return rerr(c, target, DT_EINVAL, "cannot unpack %zu values into %zu names", l->n,
                    target->n_kids);
    for (size_t i = 0; i < l->n; i++)
        if ((rc = assign(c, f, target->kids[i], l->v[i])))
            return rc;
    return 0;
}

static int exec_for(struct ctx *c, struct frame *f, const struct jnode *n)
{
    jv it;
    struct jlist *all, *items;
    int rc;
    if ((rc = eval(c, f, n->b, &it)))
        return rc;
    if (it.t == JV_DICT && !it.u.d->is_namespace) {
        if ((rc = as_list(c, n, &it, &all)))
            return rc;
    } else if ((rc = as_list(c, n, &it, &all))) {
        return rc;
    }
    struct frame *lf = frame_new(c, f);
    if (!lf)
        return nomem(c, n);
    items = all;
    if (n->c) { /* "for x in xs if cond": loop.* counts only the kept items */
        if (!(items = list_new(c, 0)))
            return nomem(c, n);
        for (size_t i = 0; i < all->n; i++) {
            jv keep;
            if ((rc = assign(c, lf, n->a, all->v[i])) || (rc = eval(c, lf, n->c, &keep)))
                return rc;
            if (truthy(&keep) && list_push(c, items, all->v[i]))
                return nomem(c, n);
        }
    }
    if (items->n == 0)
        return n->orelse ? exec(c, f, n->orelse) : 0;
    static const char *const keys[] = {"index",    "index0",    "first",    "last",    "length",
                                       "revindex", "revindex0", "previtem", "nextitem"};
    /* one loop object per loop, updated in place: a long loop costs no memory per item */
    struct jdict *loop = ja_alloc(&c->ar, sizeof *loop);
    if (!loop)
        return nomem(c, n);
    for (size_t i = 0; i < items->n; i++) {
        int64_t len = (int64_t)items->n, k = (int64_t)i;
        jv vals[9] = {jint(k + 1),
                      jint(k),
                      jbool(i == 0),
                      jbool(i + 1 == items->n),
                      jint(len),
                      jint(len - k),
                      jint(len - k - 1),
                      i ? items->v[i - 1] : undef(),
                      i + 1 < items->n ? items->v[i + 1] : undef()};
        for (int q = 0; q < 9; q++)
            if (dict_set(c, loop, jstr_ref(keys[q], strlen(keys[q])), vals[q]))
                return nomem(c, n);
        jv cycle = undef();
        cycle.t = JV_FUNC;
        cycle.u.i = F_CYCLE;
        if (dict_set(c, loop, jstr_ref("cycle", 5), cycle))
            return nomem(c, n);
        if (dict_set(c, lf->vars, jstr_ref("loop", 4), jdict_v(loop)))
            return nomem(c, n);
        if ((rc = assign(c, lf, n->a, items->v[i])))
            return rc;
        rc = exec(c, lf, n->body);
        if (rc < 0)
            return rc;
        if (rc == JR_BREAK)
            break;
    }
    return 0;
}

static int exec(struct ctx *c, struct frame *f, const struct jnode *n)
{
    int rc;
    jv v;
    if (++c->steps > c->max_steps)
        return rerr(c, n, DT_EUNSUPPORTED, "template exceeds %ld evaluation steps", c->max_steps);
    switch (n->kind) {
    case N_BODY:
        for (size_t i = 0; i < n->n_kids; i++)
            if ((rc = exec(c, f, n->kids[i])) != 0)
                return rc;
        return 0;
    case N_TEXT:
        return emit(c, n, n->s, n->n);
    case N_OUT: {
        if ((rc = eval(c, f, n->a, &v)))
            return rc;
        if (v.t == JV_STR)
            return emit(c, n, v.u.s.p, v.u.s.n);
        struct dt_strbuf sb = DT_STRBUF_INIT;
        if ((rc = to_str(c, n, &v, &sb, 0, 0)) == 0)
            rc = emit(c, n, sb.data ? sb.data : "", sb.len);
        dt_strbuf_release(&sb);
        return rc;
    }
    case N_IF:
        if ((rc = eval(c, f, n->a, &v)))
            return rc;
        if (truthy(&v))
            return exec(c, f, n->body);
        return n->orelse ? exec(c, f, n->orelse) : 0;
    case N_FOR:
        return exec_for(c, f, n);
    case N_SET:
        if ((rc = eval(c, f, n->b, &v)))
            return rc;
        return assign(c, f, n->a, v);
    case N_SETBLOCK: {
        struct dt_strbuf sb = DT_STRBUF_INIT, *saved = c->out;
        c->out = &sb;
        rc = exec(c, f, n->body);
        c->out = saved;
        if (rc < 0) {
            dt_strbuf_release(&sb);
            return rc;
        }
        if ((rc = sb_to_str(c, n, &sb, &v)))
            return rc;
        return assign(c, f, n->a, v);
    }
    case N_MACRO:
        v = undef();
        v.t = JV_MACRO;
        v.u.m = n;
        if (dict_set(c, f->vars, jstr_ref(n->s, n->n), v))
            return nomem(c, n);
        return 0;
    case N_BREAK:
        return JR_BREAK;
    case N_CONTINUE:
        return JR_CONTINUE;
    default:
        return rerr(c, n, DT_EINTERNAL, "expression executed as a statement");
    }
}

static int from_json(struct ctx *c, const cJSON *j, jv *out, int depth)
{
    if (depth > 64)
        return rerr(c, NULL, DT_EUNSUPPORTED, "variables nested deeper than 64");
    int rc;
    if (cJSON_IsNull(j)) {
        *out = jnone();
    } else if (cJSON_IsBool(j)) {
        *out = jbool(cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15)
            *out = jint((int64_t)d);
        else
            *out = jfloat(d);
    } else if (cJSON_IsString(j)) {
        *out = jstr_ref(j->valuestring, strlen(j->valuestring));
    } else if (cJSON_IsArray(j)) {
        struct jlist *l = list_new(c, 0);
        if (!l)
            return nomem(c, NULL);
        for (const cJSON *e = j->child; e; e = e->next) {
            jv v;
            if ((rc = from_json(c, e, &v, depth + 1)))
                return rc;
            if (list_push(c, l, v))
                return nomem(c, NULL);
        }
        *out = jlist_v(l);
    } else if (cJSON_IsObject(j)) {
        struct jdict *d = ja_alloc(&c->ar, sizeof *d);
        if (!d)
            return nomem(c, NULL);
        for (const cJSON *e = j->child; e; e = e->next) {
            jv v;
            if ((rc = from_json(c, e, &v, depth + 1)))
                return rc;
            if (dict_set(c, d, jstr_ref(e->string, strlen(e->string)), v))
                return nomem(c, NULL);
        }
        *out = jdict_v(d);
    } else {
        *out = undef();
    }
    return 0;
}

static int parse_date(const char *date, struct tm *tm)
{
    memset(tm, 0, sizeof *tm);
    int y = 1970, m = 1, d = 1;
    if (date) {
        char extra;
        if (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1 || m < 1 || m > 12 ||
            d < 1 || d > 31)
            return -1;
    }
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    tm->tm_isdst = 0;
    /* weekday and day of year, for %A and %j */
    time_t t = timegm(tm);
    struct tm norm;
    if (t == (time_t)-1 || !gmtime_r(&t, &norm) || norm.tm_mday != d)
        return -1;
    *tm = norm;
    return 0;
}

int dt_jinja_render(const struct dt_jinja *t, const cJSON *vars, const char *date,
                    const struct dt_jinja_limits *limits, char **out, size_t *n_bytes,
                    struct dt_error *err)
{
    *out = NULL;
    struct ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.max_out = limits && limits->max_output_bytes ? limits->max_output_bytes : (size_t)1 << 20;
    c.ar.limit = limits && limits->max_memory_bytes ? limits->max_memory_bytes : (size_t)64 << 20;
    c.max_steps = limits && limits->max_steps > 0 ? limits->max_steps : 2000000;
    c.max_depth = limits && limits->max_call_depth > 0 ? limits->max_call_depth : 64;
    if (parse_date(date, &c.date))
        return dt_error_set(err, DT_EINVAL, "chat template date '%s' is not a YYYY-MM-DD day",
                            date);
    struct dt_strbuf sb = DT_STRBUF_INIT;
    c.out = &sb;
    int rc = 0;
    if (!(c.globals = frame_new(&c, NULL))) {
        rc = nomem(&c, NULL);
        goto done;
    }
    if (vars) {
        if (!cJSON_IsObject(vars)) {
            rc = dt_error_set(err, DT_EINVAL, "chat template variables are not a JSON object");
            goto done;
        }
        jv v;
        if ((rc = from_json(&c, vars, &v, 0)))
            goto done;
        c.globals->vars = v.u.d;
    }
    rc = exec(&c, c.globals, t->root);
    if (rc > 0)
        rc = rerr(&c, NULL, DT_EFORMAT, "'break' or 'continue' outside a loop");
    if (rc == 0 && dt_strbuf_failed(&sb))
        rc = nomem(&c, NULL);
done:
    if (rc == 0) {
        size_t len = 0;
        char *s = sb.data ? dt_strbuf_detach(&sb, &len) : dt_strdup("");
        if (!s) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory rendering the chat template");
        } else {
            *out = s;
            if (n_bytes)
                *n_bytes = len;
        }
    }
    dt_strbuf_release(&sb);
    ja_release(&c.ar);
    return rc;
}

/*
 * Jinja lexer and parser (see jinja.h): template source to a syntax tree in the template's
 * arena. The lexer applies the whitespace rules when it cuts text runs, as Jinja's does:
 * "{%-"/"-%}" strip all whitespace before/after the tag, lstrip_blocks removes the spaces and
 * tabs between a line start and a "{%" or "{#" (unless "{%+"), trim_blocks removes the first
 * newline after "%}" or "#}", and one trailing newline of the source is dropped. The parser
 * is recursive descent with Jinja's operator precedence (or < and < not < comparisons < + - <
 * ~ < * / // % < ** < unary minus < postfix, filters and tests), its depth bounded so a
 * hostile template cannot exhaust the stack.
 */
#include "infer/jinja.h"
#include "infer/jinja_internal.h"

#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 200 };

struct jchunk {
    struct jchunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *ja_alloc(struct jarena *a, size_t n_bytes)
{
    n_bytes = (n_bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n_bytes == 0)
        n_bytes = sizeof(max_align_t);
    if (a->limit && (n_bytes > a->limit || a->n_bytes > a->limit - n_bytes))
        return NULL;
    struct jchunk *c = a->head;
    if (!c || c->cap - c->used < n_bytes) {
        size_t cap = n_bytes > 65536 ? n_bytes : 65536;
        if (!(c = dt_malloc(sizeof *c + cap)))
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n_bytes;
    a->n_bytes += n_bytes;
    memset(p, 0, n_bytes);
    return p;
}

void ja_release(struct jarena *a)
{
    while (a->head) {
        struct jchunk *next = a->head->next;
        dt_free(a->head);
        a->head = next;
    }
    a->n_bytes = 0;
}

/* ---- lexer ---- */

enum tkind {
    T_EOF,
    T_TEXT,
    T_VBEGIN,
    T_VEND,
    T_BBEGIN,
    T_BEND,
    T_NAME,
    T_STR,
    T_INT,
    T_FLOAT,
    T_OP
};

struct tok {
    enum tkind k;
    const char *p; /* source slice, or the decoded string for T_STR */
    size_t n;
    int64_t i;
    double f;
    unsigned line, col;
};

struct lexer {
    const char *src;
    size_t n, pos;
    size_t lc_off; /* line/col computed incrementally up to lc_off */
    unsigned lc_line, lc_col;
    struct tok *t;
    size_t n_t, cap_t;
    struct jarena *ar;
    struct dt_error *err;
};

static void line_col(struct lexer *lx, size_t off, unsigned *line, unsigned *col)
{
    if (off < lx->lc_off) {
        lx->lc_off = 0;
        lx->lc_line = 1;
        lx->lc_col = 1;
    }
    for (; lx->lc_off < off; lx->lc_off++) {
        if (lx->src[lx->lc_off] == '\n') {
            lx->lc_line++;
            lx->lc_col = 1;
        } else if (((unsigned char)lx->src[lx->lc_off] & 0xC0) != 0x80) {
            lx->lc_col++;
        }
    }
    *line = lx->lc_line;
    *col = lx->lc_col;
}

static int lex_fail(struct lexer *lx, size_t off, int code, const char *what)
{
    unsigned line, col;
    line_col(lx, off, &line, &col);
    return dt_error_set(lx->err, code, "chat template line %u col %u: %s", line, col, what);
}

static struct tok *push(struct lexer *lx, enum tkind k, size_t off, const char *p, size_t n)
{
    if (lx->n_t == lx->cap_t) {
        size_t cap = lx->cap_t ? lx->cap_t * 2 : 256;
        struct tok *t = dt_realloc_array(lx->t, cap, sizeof *t);
        if (!t)
            return NULL;
        lx->t = t;
        lx->cap_t = cap;
    }
    struct tok *t = &lx->t[lx->n_t++];
    memset(t, 0, sizeof *t);
    t->k = k;
    t->p = p;
    t->n = n;
    line_col(lx, off, &t->line, &t->col);
    return t;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A quoted string literal at lx->pos; decoded into the arena. */
static int lex_string(struct lexer *lx)
{
    size_t start = lx->pos;
    char q = lx->src[lx->pos++];
    size_t cap = 0; /* decoded text is never longer than the literal */
    for (size_t i = lx->pos; i < lx->n && lx->src[i] != q; i++, cap++)
        if (lx->src[i] == '\\' && i + 1 < lx->n) {
            i++;
            cap++;
        }
    char *out = ja_alloc(lx->ar, cap + 1);
    if (!out)
        return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
    size_t k = 0;
    while (lx->pos < lx->n && lx->src[lx->pos] != q) {
        char c = lx->src[lx->pos++];
        if (c == '\\' && lx->pos < lx->n) {
            char e = lx->src[lx->pos++];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
                c = '\\';
                break;
            case '\'':
                c = '\'';
                break;
            case '"':
                c = '"';
                break;
            case 'a':
                c = '\a';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'v':
                c = '\v';
                break;
            case '\n': /* Python: a backslash before a newline continues the line */
                continue;
            case 'x':
            case 'u':
            case 'U': { /* Python's \xXX, \uXXXX, \UXXXXXXXX, written out as UTF-8 */
                int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                uint32_t cp = 0;
                int ok = lx->pos + (size_t)nd <= lx->n;
                for (int d = 0; ok && d < nd; d++) {
                    char h = lx->src[lx->pos + (size_t)d];
                    int v = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
                    ok = v >= 0;
                    cp = cp * 16 + (uint32_t)(v < 0 ? 0 : v);
                }
                if (!ok || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
                    return lex_fail(lx, lx->pos - 2, DT_EFORMAT,
                                    "invalid escape in string literal");
                lx->pos += (size_t)nd;
                char u[4];
                int m = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                if (m == 1)
                    u[0] = (char)cp;
                else if (m == 2)
                    u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
                else if (m == 3)
                    u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                    u[2] = (char)(0x80 | (cp & 0x3F));
                else
                    u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F));
                for (int j = 0; j < m && k < cap; j++)
                    out[k++] = u[j];
                continue;
            }
            default:
                /* Python keeps unknown escapes as written */
                out[k++] = '\\';
                c = e;
            }
        }
        if (k < cap)
            out[k++] = c;
    }
    if (lx->pos >= lx->n)
        return lex_fail(lx, start, DT_EFORMAT, "unterminated string literal");
    lx->pos++;
    struct tok *t = push(lx, T_STR, start, out, k);
    if (!t)
        return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
    return 0;
}

static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">="};

/* Tokens of one {{ }} or {% %} tag, up to and including its end marker. */
static int lex_tag(struct lexer *lx, char kind, int *strip_next, int *trim_nl)
{
    const char close = kind == '{' ? '}' : '%';
    for (;;) {
        while (lx->pos < lx->n && is_space(lx->src[lx->pos]))
            lx->pos++;
        if (lx->pos >= lx->n)
            return lex_fail(lx, lx->pos, DT_EFORMAT, "unterminated tag");
        const char *s = lx->src + lx->pos;
        size_t left = lx->n - lx->pos;
        int marker = (s[0] == '-' || s[0] == '+') && left >= 3 && s[1] == close && s[2] == '}';
        if (marker || (left >= 2 && s[0] == close && s[1] == '}')) {
            if (!push(lx, kind == '{' ? T_VEND : T_BEND, lx->pos, s, 0))
                return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
            *strip_next = marker && s[0] == '-';
            *trim_nl = kind == '%' && !(marker && s[0] == '+');
            lx->pos += marker ? 3 : 2;
            return 0;
        }
        size_t start = lx->pos;
        char c = s[0];
        struct tok *t;
        if (is_name_start(c)) {
            size_t k = 1;
            while (k < left && (is_name_start(s[k]) || is_digit(s[k])))
                k++;
            t = push(lx, T_NAME, start, s, k);
            lx->pos += k;
        } else if (is_digit(c)) {
            size_t k = 0;
            int is_float = 0;
            while (k < left && (is_digit(s[k]) || s[k] == '_'))
                k++;
            if (k + 1 < left && s[k] == '.' && is_digit(s[k + 1])) {
                is_float = 1;
                k++;
                while (k < left && is_digit(s[k]))
                    k++;
            }
            if (k < left && (s[k] == 'e' || s[k] == 'E')) {
                size_t e = k + 1;
                if (e < left && (s[e] == '+' || s[e] == '-'))
                    e++;
                if (e < left && is_digit(s[e])) {
                    is_float = 1;
                    k = e;
                    while (k < left && is_digit(s[k]))
                        k++;
                }
            }
            char buf[64];
            size_t m = 0;
            for (size_t j = 0; j < k && m + 1 < sizeof buf; j++)
                if (s[j] != '_')
                    buf[m++] = s[j];
            buf[m] = 0;
            if (k >= sizeof buf)
                return lex_fail(lx, start, DT_EFORMAT, "number literal too long");
            t = push(lx, is_float ? T_FLOAT : T_INT, start, s, k);
            if (t) {
                if (is_float) {
                    t->f = strtod(buf, NULL);
                } else {
                    char *end;
                    unsigned long long v = strtoull(buf, &end, 10);
                    if (v > INT64_MAX)
                        return lex_fail(lx, start, DT_EUNSUPPORTED, "integer literal too large");
                    t->i = (int64_t)v;
                }
            }
            lx->pos += k;
        } else if (c == '\'' || c == '"') {
            int rc = lex_string(lx);
            if (rc)
                return rc;
            continue;
        } else {
            size_t k = 0;
            for (size_t j = 0; j < sizeof ops2 / sizeof ops2[0]; j++)
                if (left >= 2 && s[0] == ops2[j][0] && s[1] == ops2[j][1])
                    k = 2;
            if (!k && strchr("+-*/%~<>=()[]{},.:|!", c) && c != '!')
                k = 1;
            if (!k)
                return lex_fail(lx, start, DT_EFORMAT, "unexpected character in tag");
            t = push(lx, T_OP, start, s, k);
            lx->pos += k;
        }
        if (!t)
            return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
    }
}

static int lex(struct lexer *lx)
{
    int strip_next = 0, trim_nl = 0;
    while (lx->pos < lx->n) {
        size_t t = lx->pos;
        while (t + 1 < lx->n &&
               !(lx->src[t] == '{' &&
                 (lx->src[t + 1] == '{' || lx->src[t + 1] == '%' || lx->src[t + 1] == '#')))
            t++;
        if (t + 1 >= lx->n)
            t = lx->n;
        size_t a = lx->pos, b = t;
        if (strip_next) {
            while (a < b && is_space(lx->src[a]))
                a++;
        } else if (trim_nl) {
            if (a < b && lx->src[a] == '\n')
                a++;
        }
        char kind = t < lx->n ? lx->src[t + 1] : 0;
        char marker = t + 2 < lx->n ? lx->src[t + 2] : 0;
        if (kind && marker == '-') {
            while (b > a && is_space(lx->src[b - 1]))
                b--;
        } else if ((kind == '%' || kind == '#') && marker != '+') {
            size_t q = t;
            while (q > 0 && (lx->src[q - 1] == ' ' || lx->src[q - 1] == '\t'))
                q--;
            if ((q == 0 || lx->src[q - 1] == '\n') && q < b)
                b = q > a ? q : a;
        }
        if (b > a && !push(lx, T_TEXT, a, lx->src + a, b - a))
            return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
        if (t >= lx->n)
            break;
        strip_next = trim_nl = 0;
        if (kind == '#') {
            size_t e = t + 2;
            while (e + 1 < lx->n && !(lx->src[e] == '#' && lx->src[e + 1] == '}'))
                e++;
            if (e + 1 >= lx->n)
                return lex_fail(lx, t, DT_EFORMAT, "unterminated comment");
            strip_next = e > t + 2 && lx->src[e - 1] == '-';
            trim_nl = 1;
            lx->pos = e + 2;
            continue;
        }
        if (!push(lx, kind == '{' ? T_VBEGIN : T_BBEGIN, t, lx->src + t, 2))
            return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
        lx->pos = t + 2 + (marker == '-' || marker == '+');
        int rc = lex_tag(lx, kind, &strip_next, &trim_nl);
        if (rc)
            return rc;
    }
    if (!push(lx, T_EOF, lx->n, lx->src + lx->n, 0))
        return dt_error_set(lx->err, DT_ENOMEM, "out of memory parsing the chat template");
    return 0;
}

/* ---- parser ---- */

struct parser {
    const struct tok *t;
    size_t i;
    struct jarena *ar;
    struct dt_error *err;
    int depth;
    int failed; /* the error code once one is set */
};

static const struct tok *peek(struct parser *p)
{
    return &p->t[p->i];
}

static const struct tok *peek2(struct parser *p)
{
    return p->t[p->i].k == T_EOF ? &p->t[p->i] : &p->t[p->i + 1];
}

static const struct tok *next(struct parser *p)
{
    const struct tok *t = &p->t[p->i];
    if (t->k != T_EOF)
        p->i++;
    return t;
}

static int tok_is(const struct tok *t, enum tkind k, const char *s)
{
    return t->k == k && (!s || (t->n == strlen(s) && memcmp(t->p, s, t->n) == 0));
}

static int is_op(struct parser *p, const char *s)
{
    return tok_is(peek(p), T_OP, s);
}

static int is_name(struct parser *p, const char *s)
{
    return tok_is(peek(p), T_NAME, s);
}

static void *fail(struct parser *p, const struct tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *fail(struct parser *p, const struct tok *t, const char *fmt, ...)
{
    if (!p->failed) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        for (char *q = what; *q; q++) /* quoted template text stays on one line */
            if ((unsigned char)*q < 0x20)
                *q = ' ';
        dt_error_set(p->err, DT_EFORMAT, "chat template line %u col %u: %s", t->line, t->col, what);
        p->failed = DT_EFORMAT;
    }
    return NULL;
}

static void *oom(struct parser *p)
{
    if (!p->failed) {
        dt_error_set(p->err, DT_ENOMEM, "out of memory parsing the chat template");
        p->failed = DT_ENOMEM;
    }
    return NULL;
}

static struct jnode *mk(struct parser *p, enum jnode_kind kind, const struct tok *at)
{
    struct jnode *n = ja_alloc(p->ar, sizeof *n);
    if (!n)
        return oom(p);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static const char *tok_text(const struct tok *t)
{
    static char buf[40];
    if (t->k == T_EOF)
        return "end of template";
    if (t->k == T_VEND || t->k == T_BEND)
        return "end of tag";
    if (t->k == T_TEXT)
        return "text";
    size_t n = t->n < sizeof buf - 1 ? t->n : sizeof buf - 1;
    memcpy(buf, t->p, n);
    buf[n] = 0;
    return buf;
}

static int expect_op(struct parser *p, const char *s)
{
    if (is_op(p, s)) {
        next(p);
        return 0;
    }
    fail(p, peek(p), "expected '%s', found '%s'", s, tok_text(peek(p)));
    return -1;
}

static int expect_end(struct parser *p, enum tkind k)
{
    if (peek(p)->k == k) {
        next(p);
        return 0;
    }
    fail(p, peek(p), "expected end of tag, found '%s'", tok_text(peek(p)));
    return -1;
}

/* Appends to a node's kids (and keyword names) in the arena. */
static int add_kid(struct parser *p, struct jnode *n, struct jnode *kid, const char *kname)
{
    if ((n->n_kids & (n->n_kids - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power */
        size_t cap = n->n_kids ? n->n_kids * 2 : 1;
        struct jnode **k = ja_alloc(p->ar, cap * sizeof *k);
        const char **kn = ja_alloc(p->ar, cap * sizeof *kn);
        if (!k || !kn) {
            oom(p);
            return -1;
        }
        if (n->n_kids) {
            memcpy(k, n->kids, n->n_kids * sizeof *k);
            memcpy(kn, n->knames, n->n_kids * sizeof *kn);
        }
        n->kids = k;
        n->knames = kn;
    }
    n->kids[n->n_kids] = kid;
    n->knames[n->n_kids] = kname;
    n->n_kids++;
    return 0;
}

static char *name_dup(struct parser *p, const struct tok *t)
{
    char *s = ja_alloc(p->ar, t->n + 1);
    if (!s)
        return oom(p);
    memcpy(s, t->p, t->n);
    return s;
}

static struct jnode *parse_expr(struct parser *p, int allow_cond);
static struct jnode *parse_unary(struct parser *p, int with_filter);
static struct jnode *parse_or(struct parser *p);

/* Expression, or a tuple of them when commas follow ("a, b"). */
static struct jnode *parse_tuple(struct parser *p, int allow_cond)
{
    const struct tok *at = peek(p);
    struct jnode *e = parse_expr(p, allow_cond);
    if (!e || !is_op(p, ","))
        return e;
    struct jnode *t = mk(p, E_TUPLE, at);
    if (!t || add_kid(p, t, e, NULL))
        return NULL;
    while (is_op(p, ",")) {
        next(p);
        if (peek(p)->k == T_VEND || peek(p)->k == T_BEND || is_op(p, ")") || is_name(p, "if"))
            break;
        if (!(e = parse_expr(p, allow_cond)) || add_kid(p, t, e, NULL))
            return NULL;
    }
    return t;
}

/* "(" args ")" into n's kids; keyword arguments "name=value" carry their names. */
static int parse_args(struct parser *p, struct jnode *n)
{
    next(p); /* ( */
    while (!is_op(p, ")")) {
        const char *kname = NULL;
        if (peek(p)->k == T_NAME && tok_is(peek2(p), T_OP, "=")) {
            if (!(kname = name_dup(p, next(p))))
                return -1;
            next(p);
        }
        struct jnode *e = parse_expr(p, 1);
        if (!e || add_kid(p, n, e, kname))
            return -1;
        if (!is_op(p, ","))
            break;
        next(p);
    }
    return expect_op(p, ")");
}

static struct jnode *parse_primary(struct parser *p)
{
    const struct tok *t = peek(p);
    struct jnode *n;
    if (t->k == T_NAME) {
        next(p);
        if (!(n = mk(p, E_LIT, t)))
            return NULL;
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True")) {
            n->lit.t = JV_BOOL;
            n->lit.u.i = 1;
        } else if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False")) {
            n->lit.t = JV_BOOL;
        } else if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None")) {
            n->lit.t = JV_NONE;
        } else {
            n->kind = E_NAME;
            n->s = t->p;
            n->n = t->n;
        }
        return n;
    }
    if (t->k == T_STR) {
        if (!(n = mk(p, E_LIT, t)))
            return NULL;
        next(p);
        n->lit.t = JV_STR;
        n->lit.u.s.p = t->p;
        n->lit.u.s.n = t->n;
        while (peek(p)->k == T_STR) { /* adjacent literals concatenate */
            const struct tok *u = next(p);
            char *s = ja_alloc(p->ar, n->lit.u.s.n + u->n + 1);
            if (!s)
                return oom(p);
            memcpy(s, n->lit.u.s.p, n->lit.u.s.n);
            memcpy(s + n->lit.u.s.n, u->p, u->n);
            n->lit.u.s.p = s;
            n->lit.u.s.n += u->n;
        }
        return n;
    }
    if (t->k == T_INT || t->k == T_FLOAT) {
        next(p);
        if (!(n = mk(p, E_LIT, t)))
            return NULL;
        n->lit.t = t->k == T_INT ? JV_INT : JV_FLOAT;
        if (t->k == T_INT)
            n->lit.u.i = t->i;
        else
            n->lit.u.f = t->f;
        return n;
    }
    if (tok_is(t, T_OP, "(")) {
        next(p);
        if (is_op(p, ")")) {
            next(p);
            return mk(p, E_TUPLE, t);
        }
        struct jnode *e = parse_tuple(p, 1);
        if (!e || expect_op(p, ")"))
            return NULL;
        return e;
    }
    if (tok_is(t, T_OP, "[") || tok_is(t, T_OP, "{")) {
        int dict = t->p[0] == '{';
        next(p);
        if (!(n = mk(p, dict ? E_DICT : E_LIST, t)))
            return NULL;
        const char *close = dict ? "}" : "]";
        while (!is_op(p, close)) {
            struct jnode *e = parse_expr(p, 1);
            if (!e || add_kid(p, n, e, NULL))
                return NULL;
            if (dict) {
                if (expect_op(p, ":") || !(e = parse_expr(p, 1)) || add_kid(p, n, e, NULL))
                    return NULL;
            }
            if (!is_op(p, ","))
                break;
            next(p);
        }
        if (expect_op(p, close))
            return NULL;
        return n;
    }
    return fail(p, t, "unexpected '%s'", tok_text(t));
}

static struct jnode *parse_postfix(struct parser *p, struct jnode *n)
{
    while (n) {
        const struct tok *t = peek(p);
        if (tok_is(t, T_OP, ".")) {
            next(p);
            const struct tok *name = next(p);
            if (name->k != T_NAME && name->k != T_INT)
                return fail(p, name, "expected an attribute name, found '%s'", tok_text(name));
            struct jnode *a = mk(p, name->k == T_NAME ? E_ATTR : E_INDEX, t);
            if (!a)
                return NULL;
            a->a = n;
            if (name->k == T_NAME) {
                a->s = name->p;
                a->n = name->n;
            } else {
                if (!(a->b = mk(p, E_LIT, name)))
                    return NULL;
                a->b->lit.t = JV_INT;
                a->b->lit.u.i = name->i;
            }
            n = a;
        } else if (tok_is(t, T_OP, "[")) {
            next(p);
            struct jnode *part[3] = {NULL, NULL, NULL};
            int slice = 0;
            if (!is_op(p, ":") && !(part[0] = parse_expr(p, 1)))
                return NULL;
            if (is_op(p, ":")) {
                slice = 1;
                next(p);
                if (!is_op(p, ":") && !is_op(p, "]") && !(part[1] = parse_expr(p, 1)))
                    return NULL;
                if (is_op(p, ":")) {
                    next(p);
                    if (!is_op(p, "]") && !(part[2] = parse_expr(p, 1)))
                        return NULL;
                }
            }
            if (expect_op(p, "]"))
                return NULL;
            struct jnode *s = mk(p, slice ? E_SLICE : E_INDEX, t);
            if (!s)
                return NULL;
            s->a = n;
            if (slice) {
                for (int k = 0; k < 3; k++)
                    if (add_kid(p, s, part[k], NULL))
                        return NULL;
            } else {
                s->b = part[0];
            }
            n = s;
        } else if (tok_is(t, T_OP, "(")) {
            struct jnode *c = mk(p, E_CALL, t);
            if (!c)
                return NULL;
            c->a = n;
            if (parse_args(p, c))
                return NULL;
            n = c;
        } else {
            break;
        }
    }
    return n;
}

static int starts_test_arg(const struct tok *t)
{
    static const char *const stop[] = {"else", "or", "and", "if", "not", "in", "is", "for"};
    if (t->k == T_STR || t->k == T_INT || t->k == T_FLOAT)
        return 1;
    if (t->k == T_OP)
        return tok_is(t, T_OP, "[") || tok_is(t, T_OP, "{");
    if (t->k != T_NAME)
        return 0;
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
        if (tok_is(t, T_NAME, stop[i]))
            return 0;
    return 1;
}

static struct jnode *parse_filters(struct parser *p, struct jnode *n)
{
    while (n) {
        const struct tok *t = peek(p);
        if (tok_is(t, T_OP, "|") || tok_is(t, T_NAME, "is")) {
            int filter = t->k == T_OP;
            next(p);
            struct jnode *f = mk(p, filter ? E_FILTER : E_TEST, t);
            if (!f)
                return NULL;
            if (!filter && is_name(p, "not")) {
                next(p);
                f->op = 1;
            }
            const struct tok *name = next(p);
            if (name->k != T_NAME)
                return fail(p, name, "expected a filter or test name, found '%s'", tok_text(name));
            f->a = n;
            f->s = name->p;
            f->n = name->n;
            if (is_op(p, "(")) {
                if (parse_args(p, f))
                    return NULL;
            } else if (!filter && starts_test_arg(peek(p))) {
                struct jnode *arg = parse_postfix(p, parse_primary(p));
                if (!arg || add_kid(p, f, arg, NULL))
                    return NULL;
            }
            n = f;
        } else if (tok_is(t, T_OP, "(")) {
            struct jnode *c = mk(p, E_CALL, t);
            if (!c)
                return NULL;
            c->a = n;
            if (parse_args(p, c))
                return NULL;
            n = c;
        } else {
            break;
        }
    }
    return n;
}

static struct jnode *parse_unary(struct parser *p, int with_filter)
{
    const struct tok *t = peek(p);
    if (++p->depth > MAX_DEPTH)
        return fail(p, t, "expression nested too deeply");
    struct jnode *n;
    if (tok_is(t, T_OP, "-") || tok_is(t, T_OP, "+")) {
        next(p);
        struct jnode *e = parse_unary(p, 0);
        if (!e)
            return NULL;
        if (t->p[0] == '-') {
            if (!(n = mk(p, E_NEG, t)))
                return NULL;
            n->a = e;
        } else {
            n = e;
        }
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter)
        n = parse_filters(p, n);
    p->depth--;
    return n;
}

static struct jnode *bin(struct parser *p, const struct tok *at, enum jnode_kind k, int op,
                         struct jnode *a, struct jnode *b)
{
    if (!a || !b)
        return NULL;
    struct jnode *n = mk(p, k, at);
    if (!n)
        return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static struct jnode *parse_pow(struct parser *p)
{
    struct jnode *n = parse_unary(p, 1);
    while (n && is_op(p, "**")) {
        const struct tok *t = next(p);
        n = bin(p, t, E_BIN, OP_POW, n, parse_unary(p, 1));
    }
    return n;
}

static struct jnode *parse_math2(struct parser *p)
{
    struct jnode *n = parse_pow(p);
    while (n) {
        int op = is_op(p, "*")    ? OP_MUL
                 : is_op(p, "/")  ? OP_DIV
                 : is_op(p, "//") ? OP_FLOORDIV
                 : is_op(p, "%")  ? OP_MOD
                                  : 0;
        if (!op)
            break;
        const struct tok *t = next(p);
        n = bin(p, t, E_BIN, op, n, parse_pow(p));
    }
    return n;
}

static struct jnode *parse_concat(struct parser *p)
{
    struct jnode *n = parse_math2(p);
    while (n && is_op(p, "~")) {
        const struct tok *t = next(p);
        n = bin(p, t, E_BIN, OP_CONCAT, n, parse_math2(p));
    }
    return n;
}

static struct jnode *parse_math1(struct parser *p)
{
    struct jnode *n = parse_concat(p);
    while (n && (is_op(p, "+") || is_op(p, "-"))) {
        const struct tok *t = next(p);
        n = bin(p, t, E_BIN, t->p[0] == '+' ? OP_ADD : OP_SUB, n, parse_concat(p));
    }
    return n;
}

static struct jnode *parse_compare(struct parser *p)
{
    struct jnode *n = parse_math1(p);
    while (n) {
        static const struct {
            const char *s;
            int op;
        } cmp[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT},
                   {"<=", OP_LE}, {">", OP_GT},  {">=", OP_GE}};
        int op = 0;
        for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++)
            if (is_op(p, cmp[k].s))
                op = cmp[k].op;
        const struct tok *t = peek(p);
        if (op) {
            next(p);
        } else if (is_name(p, "in")) {
            next(p);
            op = OP_IN;
        } else if (is_name(p, "not") && tok_is(peek2(p), T_NAME, "in")) {
            next(p);
            next(p);
            op = OP_NOTIN;
        } else {
            break;
        }
        n = bin(p, t, E_BIN, op, n, parse_math1(p));
    }
    return n;
}

static struct jnode *parse_not(struct parser *p)
{
    if (is_name(p, "not")) {
        const struct tok *t = next(p);
        if (++p->depth > MAX_DEPTH)
            return fail(p, t, "expression nested too deeply");
        struct jnode *e = parse_not(p);
        p->depth--;
        if (!e)
            return NULL;
        struct jnode *n = mk(p, E_NOT, t);
        if (n)
            n->a = e;
        return n;
    }
    return parse_compare(p);
}

static struct jnode *parse_and(struct parser *p)
{
    struct jnode *n = parse_not(p);
    while (n && is_name(p, "and")) {
        const struct tok *t = next(p);
        n = bin(p, t, E_AND, 0, n, parse_not(p));
    }
    return n;
}

static struct jnode *parse_or(struct parser *p)
{
    struct jnode *n = parse_and(p);
    while (n && is_name(p, "or")) {
        const struct tok *t = next(p);
        n = bin(p, t, E_OR, 0, n, parse_and(p));
    }
    return n;
}

static struct jnode *parse_expr(struct parser *p, int allow_cond)
{
    const struct tok *at = peek(p);
    if (++p->depth > MAX_DEPTH)
        return fail(p, at, "expression nested too deeply");
    struct jnode *n = parse_or(p);
    while (n && allow_cond && is_name(p, "if")) {
        const struct tok *t = next(p);
        struct jnode *c = mk(p, E_COND, t);
        if (!c)
            return NULL;
        c->a = n;
        if (!(c->b = parse_or(p)))
            return NULL;
        if (is_name(p, "else")) {
            next(p);
            if (!(c->c = parse_expr(p, 1)))
                return NULL;
        }
        n = c;
    }
    p->depth--;
    return n;
}

/* Assignment target: a name, "a, b", or "ns.attr". */
static struct jnode *parse_target(struct parser *p, int allow_attr)
{
    const struct tok *at = peek(p);
    struct jnode *tuple = NULL, *n = NULL;
    for (;;) {
        const struct tok *t = next(p);
        if (t->k != T_NAME)
            return fail(p, t, "expected a variable name, found '%s'", tok_text(t));
        if (!(n = mk(p, E_NAME, t)))
            return NULL;
        n->s = t->p;
        n->n = t->n;
        if (allow_attr && !tuple && is_op(p, ".")) {
            next(p);
            const struct tok *name = next(p);
            if (name->k != T_NAME)
                return fail(p, name, "expected an attribute name, found '%s'", tok_text(name));
            struct jnode *a = mk(p, E_ATTR, t);
            if (!a)
                return NULL;
            a->a = n;
            a->s = name->p;
            a->n = name->n;
            return a;
        }
        if (!is_op(p, ",") && !tuple)
            return n;
        if (!tuple && !(tuple = mk(p, E_TUPLE, at)))
            return NULL;
        if (add_kid(p, tuple, n, NULL))
            return NULL;
        if (!is_op(p, ","))
            return tuple;
        next(p);
    }
}

static struct jnode *parse_body(struct parser *p, const char *const *stops);

/* Parses a body up to one of stops; leaves the stop's name consumed and returns which. */
static struct jnode *parse_until(struct parser *p, const char *const *stops, int *which)
{
    struct jnode *body = parse_body(p, stops);
    if (!body)
        return NULL;
    const struct tok *t = peek(p);
    if (t->k == T_EOF)
        return fail(p, t, "missing '{%% %s %%}'", stops[0]);
    next(p); /* {% */
    const struct tok *name = next(p);
    for (int k = 0; stops[k]; k++)
        if (tok_is(name, T_NAME, stops[k]))
            *which = k;
    return body;
}

static struct jnode *parse_stmt(struct parser *p)
{
    const struct tok *open = next(p); /* {% */
    const struct tok *t = next(p);
    struct jnode *n = NULL;
    int which = 0;
    if (t->k != T_NAME)
        return fail(p, t, "expected a tag name, found '%s'", tok_text(t));
    if (tok_is(t, T_NAME, "if") || tok_is(t, T_NAME, "elif")) {
        static const char *const stops[] = {"endif", "elif", "else", NULL};
        if (!(n = mk(p, N_IF, t)) || !(n->a = parse_expr(p, 1)) || expect_end(p, T_BEND) ||
            !(n->body = parse_until(p, stops, &which)))
            return NULL;
        if (which == 1) { /* elif: the rest is a nested if, sharing the one endif */
            p->i -= 2;
            if (!(n->orelse = parse_stmt(p)))
                return NULL;
            return n;
        }
        if (which == 2) {
            static const char *const end[] = {"endif", NULL};
            if (expect_end(p, T_BEND) || !(n->orelse = parse_until(p, end, &which)))
                return NULL;
        }
    } else if (tok_is(t, T_NAME, "for")) {
        static const char *const stops[] = {"endfor", "else", NULL};
        if (!(n = mk(p, N_FOR, t)) || !(n->a = parse_target(p, 0)))
            return NULL;
        if (!is_name(p, "in"))
            return fail(p, peek(p), "expected 'in', found '%s'", tok_text(peek(p)));
        next(p);
        if (!(n->b = parse_tuple(p, 0)))
            return NULL;
        if (is_name(p, "if")) {
            next(p);
            if (!(n->c = parse_expr(p, 0)))
                return NULL;
        }
        if (is_name(p, "recursive"))
            return fail(p, peek(p), "recursive loops are not supported");
        if (expect_end(p, T_BEND) || !(n->body = parse_until(p, stops, &which)))
            return NULL;
        if (which == 1) {
            static const char *const end[] = {"endfor", NULL};
            if (expect_end(p, T_BEND) || !(n->orelse = parse_until(p, end, &which)))
                return NULL;
        }
    } else if (tok_is(t, T_NAME, "set")) {
        if (!(n = mk(p, N_SET, t)) || !(n->a = parse_target(p, 1)))
            return NULL;
        if (is_op(p, "=")) {
            next(p);
            if (!(n->b = parse_tuple(p, 1)))
                return NULL;
        } else {
            static const char *const end[] = {"endset", NULL};
            n->kind = N_SETBLOCK;
            if (expect_end(p, T_BEND) || !(n->body = parse_until(p, end, &which)))
                return NULL;
        }
    } else if (tok_is(t, T_NAME, "macro")) {
        static const char *const end[] = {"endmacro", NULL};
        const struct tok *name = next(p);
        if (name->k != T_NAME)
            return fail(p, name, "expected a macro name, found '%s'", tok_text(name));
        if (!(n = mk(p, N_MACRO, t)))
            return NULL;
        n->s = name->p;
        n->n = name->n;
        if (expect_op(p, "("))
            return NULL;
        while (!is_op(p, ")")) {
            const struct tok *pn = next(p);
            if (pn->k != T_NAME)
                return fail(p, pn, "expected a parameter name, found '%s'", tok_text(pn));
            struct jnode *param = mk(p, E_NAME, pn);
            if (!param)
                return NULL;
            param->s = pn->p;
            param->n = pn->n;
            if (is_op(p, "=")) {
                next(p);
                if (!(param->a = parse_expr(p, 1)))
                    return NULL;
            }
            if (add_kid(p, n, param, NULL))
                return NULL;
            if (!is_op(p, ","))
                break;
            next(p);
        }
        if (expect_op(p, ")") || expect_end(p, T_BEND) || !(n->body = parse_until(p, end, &which)))
            return NULL;
        if (peek(p)->k == T_NAME) /* {% endmacro name %} */
            next(p);
    } else if (tok_is(t, T_NAME, "break") || tok_is(t, T_NAME, "continue")) {
        if (!(n = mk(p, t->p[0] == 'b' ? N_BREAK : N_CONTINUE, t)))
            return NULL;
    } else if (tok_is(t, T_NAME, "generation")) {
        /* transformers' assistant-mask marker: renders its body unchanged */
        static const char *const end[] = {"endgeneration", NULL};
        if (expect_end(p, T_BEND) || !(n = parse_until(p, end, &which)))
            return NULL;
    } else {
        (void)open;
        return fail(p, t, "unsupported tag '%s'", tok_text(t));
    }
    if (expect_end(p, T_BEND))
        return NULL;
    return n;
}

static struct jnode *parse_body(struct parser *p, const char *const *stops)
{
    const struct tok *at = peek(p);
    if (++p->depth > MAX_DEPTH)
        return fail(p, at, "blocks nested too deeply");
    struct jnode *body = mk(p, N_BODY, at);
    if (!body)
        return NULL;
    for (;;) {
        const struct tok *t = peek(p);
        struct jnode *n = NULL;
        if (t->k == T_EOF)
            break;
        if (t->k == T_TEXT) {
            next(p);
            if (!(n = mk(p, N_TEXT, t)))
                return NULL;
            n->s = t->p;
            n->n = t->n;
        } else if (t->k == T_VBEGIN) {
            next(p);
            if (!(n = mk(p, N_OUT, t)) || !(n->a = parse_tuple(p, 1)) || expect_end(p, T_VEND))
                return NULL;
        } else if (t->k == T_BBEGIN) {
            const struct tok *name = peek2(p);
            int stop = 0;
            for (int k = 0; stops && stops[k]; k++)
                if (tok_is(name, T_NAME, stops[k]))
                    stop = 1;
            if (stop)
                break;
            if (name->k == T_NAME && name->n > 3 && memcmp(name->p, "end", 3) == 0)
                return fail(p, name, "unexpected '%s'", tok_text(name));
            if (tok_is(name, T_NAME, "elif") || tok_is(name, T_NAME, "else"))
                return fail(p, name, "unexpected '%s'", tok_text(name));
            if (!(n = parse_stmt(p)))
                return NULL;
        } else {
            return fail(p, t, "unexpected '%s'", tok_text(t));
        }
        if (add_kid(p, body, n, NULL))
            return NULL;
    }
    p->depth--;
    return body;
}

int dt_jinja_parse(const char *src, size_t n_bytes, struct dt_jinja **out, struct dt_error *err)
{
    *out = NULL;
    if (memchr(src, 0, n_bytes))
        return dt_error_set(err, DT_EFORMAT, "chat template holds a NUL byte");
    struct dt_jinja *t = dt_calloc(1, sizeof *t);
    char *text = t ? ja_alloc(&t->ar, n_bytes + 1) : NULL;
    if (!text) {
        dt_jinja_free(t);
        return dt_error_set(err, DT_ENOMEM, "out of memory parsing the chat template");
    }
    /* The tree points into the template's own copy. Like Jinja, every newline (\r\n, \r)
     * becomes \n before lexing, and one trailing newline is dropped. */
    size_t n = 0;
    for (size_t i = 0; i < n_bytes; i++) {
        if (src[i] == '\r') {
            text[n++] = '\n';
            if (i + 1 < n_bytes && src[i + 1] == '\n')
                i++;
        } else {
            text[n++] = src[i];
        }
    }
    if (n && text[n - 1] == '\n')
        n--;
    text[n] = 0;
    struct lexer lx = {text, n, 0, 0, 1, 1, NULL, 0, 0, &t->ar, err};
    int rc = lex(&lx);
    if (rc == 0) {
        struct parser p = {lx.t, 0, &t->ar, err, 0, 0};
        t->root = parse_body(&p, NULL);
        if (!t->root || p.failed)
            rc = p.failed ? p.failed : DT_EFORMAT;
    }
    dt_free(lx.t);
    if (rc) {
        dt_jinja_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void dt_jinja_free(struct dt_jinja *t)
{
    if (!t)
        return;
    ja_release(&t->ar);
    dt_free(t);
}

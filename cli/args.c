/*
 * Options read by name from a checked argv (cli/args.h). The argv is short (tens of
 * arguments), so every lookup walks it.
 */
#include "cli/args.h"
#include "util/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parsers of one value: 0, or -1 after printing "distiltrace CMD: OPT takes ..., not 'V'"
 * (nothing when cmd is NULL: a table default that is not a number). */
int dt_cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        if (cmd)
            fprintf(stderr, "distiltrace %s: %s takes a whole number from %ld to %ld, not '%s'\n", cmd,
                opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || v != v) {
        if (cmd)
            fprintf(stderr, "distiltrace %s: %s takes a number, not '%s'\n", cmd, opt, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 0) : 0;
    if (!s || errno || end == s || *end || s[0] == '-') {
        if (cmd)
            fprintf(stderr, "distiltrace %s: %s takes an unsigned 64-bit integer, not '%s'\n", cmd,
                    opt, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static const struct dt_cli_optdoc *find(const struct dt_cli_args *a, const char *name)
{
    for (const struct dt_cli_optdoc *o = a->doc->opts; o->name; o++)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

int dt_cli_args_init(struct dt_cli_args *a, const char *name, int argc, char **argv)
{
    a->doc = NULL;
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++)
        if (!strcmp(d->name, name))
            a->doc = d;
    a->argc = argc;
    a->argv = argv;
    return a->doc ? 0 : -1;
}

/* Steps *i over argv: *o the option at *i (NULL for a positional), *v its value (NULL for a
 * flag or a positional). Returns 0 past the end. */
static int next_arg(const struct dt_cli_args *a, int *i, const struct dt_cli_optdoc **o,
                    const char **v)
{
    if (*i >= a->argc)
        return 0;
    *o = find(a, a->argv[*i]);
    *v = *o && (*o)->arg && *i + 1 < a->argc ? a->argv[*i + 1] : NULL;
    return 1;
}

#define FOR_ARGS(a, i, o, v)                                                                   \
    for (int i = 1; next_arg((a), &i, &o, &v); i += v ? 2 : 1)

int dt_cli_has(const struct dt_cli_args *a, const char *opt)
{
    const struct dt_cli_optdoc *o;
    const char *v;
    FOR_ARGS(a, i, o, v)
    if (o && !strcmp(o->name, opt))
        return 1;
    return 0;
}

const char *dt_cli_str(const struct dt_cli_args *a, const char *opt, const char *fallback)
{
    const char *last = fallback;
    const struct dt_cli_optdoc *o;
    const char *v;
    FOR_ARGS(a, i, o, v)
    if (o && v && !strcmp(o->name, opt))
        last = v;
    return last;
}

const char *dt_cli_str_def(const struct dt_cli_args *a, const char *opt)
{
    const struct dt_cli_optdoc *o = find(a, opt);
    return dt_cli_str(a, opt, o ? o->def : NULL);
}

int dt_cli_all(const struct dt_cli_args *a, const char *opt, const char ***vals)
{
    int n = 0;
    *vals = NULL;
    const struct dt_cli_optdoc *o;
    const char *v;
    FOR_ARGS(a, i, o, v)
    n += o && v && !strcmp(o->name, opt);
    if (!n)
        return 0;
    const char **out = dt_malloc_array((size_t)n, sizeof *out);
    if (!out)
        return -1;
    n = 0;
    FOR_ARGS(a, i, o, v)
    if (o && v && !strcmp(o->name, opt))
        out[n++] = v;
    *vals = out;
    return n;
}

int dt_cli_next(const struct dt_cli_args *a, int *i, const char **opt, const char **val)
{
    const struct dt_cli_optdoc *o;
    const char *v;
    if (*i < 1)
        *i = 1;
    while (next_arg(a, i, &o, &v)) {
        *i += v ? 2 : 1;
        if (o) {
            *opt = o->name;
            *val = v;
            return 1;
        }
    }
    return 0;
}

const char *dt_cli_positional(const struct dt_cli_args *a, int k)
{
    const struct dt_cli_optdoc *o;
    const char *v;
    FOR_ARGS(a, i, o, v)
    if (!o && k-- == 0)
        return a->argv[i];
    return NULL;
}

int dt_cli_n_positional(const struct dt_cli_args *a)
{
    int n = 0;
    const struct dt_cli_optdoc *o;
    const char *v;
    FOR_ARGS(a, i, o, v)
    n += !o;
    return n;
}

/* The value given, else the table's default; NULL when neither. */
static const char *value_or_def(const struct dt_cli_args *a, const char *opt, int *from_def)
{
    const char *s = dt_cli_str(a, opt, NULL);
    const struct dt_cli_optdoc *o = find(a, opt);
    *from_def = !s;
    return s ? s : o ? o->def : NULL;
}

int dt_cli_long(const struct dt_cli_args *a, const char *opt, long lo, long hi, long *out)
{
    int from_def;
    const char *s = value_or_def(a, opt, &from_def);
    if (!s)
        return 0;
    /* a default that is not a number ("all") leaves *out alone */
    int rc = dt_cli_parse_int(from_def ? NULL : a->doc->name, opt, s, lo, hi, out);
    return from_def ? 0 : rc;
}

int dt_cli_double(const struct dt_cli_args *a, const char *opt, double lo, double hi,
                  double *out)
{
    int from_def;
    const char *s = value_or_def(a, opt, &from_def);
    if (!s)
        return 0;
    double v = 0;
    int ok = parse_double(NULL, opt, s, &v) == 0 && v >= lo && v <= hi;
    if (from_def) {
        if (ok)
            *out = v;
        return 0;
    }
    if (!ok) {
        fprintf(stderr, "distiltrace %s: %s takes a number from %g to %g, not '%s'\n",
                a->doc->name, opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int dt_cli_number(const struct dt_cli_args *a, const char *opt, double *out)
{
    int from_def;
    const char *s = value_or_def(a, opt, &from_def);
    if (!s)
        return 0;
    int rc = parse_double(from_def ? NULL : a->doc->name, opt, s, out);
    return from_def ? 0 : rc;
}

int dt_cli_u64(const struct dt_cli_args *a, const char *opt, unsigned long long *out)
{
    int from_def;
    const char *s = value_or_def(a, opt, &from_def);
    if (!s)
        return 0;
    int rc = parse_u64(from_def ? NULL : a->doc->name, opt, s, out);
    return from_def ? 0 : rc;
}

int dt_cli_choice(const struct dt_cli_args *a, const char *opt, const char *const *choices,
                  int *out)
{
    const char *s = dt_cli_str_def(a, opt);
    if (!s)
        return 0;
    for (int k = 0; choices[k]; k++)
        if (!strcmp(s, choices[k])) {
            *out = k;
            return 0;
        }
    fprintf(stderr, "distiltrace %s: %s takes", a->doc->name, opt);
    for (int k = 0; choices[k]; k++)
        fprintf(stderr, "%s%s", k ? (choices[k + 1] ? ", " : " or ") : " ", choices[k]);
    fprintf(stderr, ", not '%s'\n", s);
    return -1;
}

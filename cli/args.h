/*
 * Reading a command's options from its table (cli/help.c). main.c has already checked argv
 * against the table (dt_cli_precheck): every option is one of the table's, canonical ("-n" is
 * "--n-predict"), and every option that takes a value is followed by it, so a command reads
 * its options by name here instead of matching strings itself. Numeric defaults come from the
 * table's `def` when it is a number, so `--help` cannot print a default the command does not
 * use.
 */
#ifndef DT_CLI_ARGS_H
#define DT_CLI_ARGS_H

#include "cli/help.h"

#include <stddef.h>

struct dt_cli_args {
    const struct dt_cli_cmddoc *doc;
    int argc;
    char **argv; /* argv[0] the command (or subcommand) name, options from argv[1] */
};

/* The table of name ("logits", "watermark generate") over a checked argv; -1 (printing
 * nothing) when the table is missing, a bug that test_help catches. */
int dt_cli_args_init(struct dt_cli_args *a, const char *name, int argc, char **argv);

/* 1 when the flag (or option) is present. */
int dt_cli_has(const struct dt_cli_args *a, const char *opt);
/* The last value of opt, or fallback when absent. */
const char *dt_cli_str(const struct dt_cli_args *a, const char *opt, const char *fallback);
/* The last value of opt, or the table's default when absent. */
const char *dt_cli_str_def(const struct dt_cli_args *a, const char *opt);
/* Every value of a repeatable option, in order: the count, and *vals (heap, dt_free it; NULL
 * when none). -1 when out of memory. */
int dt_cli_all(const struct dt_cli_args *a, const char *opt, const char ***vals);
/* Every option in command-line order, for options whose order matters: start with *i = 0;
 * returns 1 with *opt (the table's name) and *val (NULL for a flag), 0 at the end. */
int dt_cli_next(const struct dt_cli_args *a, int *i, const char **opt, const char **val);
/* The i-th argument that is not an option or an option's value; NULL past the end. */
const char *dt_cli_positional(const struct dt_cli_args *a, int i);
int dt_cli_n_positional(const struct dt_cli_args *a);

/* Numbers: the last value, else the table's default when it is a number, else *out unchanged.
 * 0, or -1 after printing a usage error naming the option and the range. */
int dt_cli_long(const struct dt_cli_args *a, const char *opt, long lo, long hi, long *out);
int dt_cli_double(const struct dt_cli_args *a, const char *opt, double lo, double hi,
                  double *out);
int dt_cli_u64(const struct dt_cli_args *a, const char *opt, unsigned long long *out);
/* Any number but NaN, for bounds a closed range cannot say (open ends, none) and for commands
 * that word their own range error: the last value, else the table's default when it is a
 * number, else *out unchanged. 0, or -1 after printing "OPT takes a number, not 'V'"; the
 * caller checks the range. */
int dt_cli_number(const struct dt_cli_args *a, const char *opt, double *out);
/* One value that is no option's (RUN): a whole number from lo to hi in *out, or -1 after
 * printing "distiltrace CMD: NAME takes a whole number from LO to HI, not 'S'" (nothing when
 * cmd is NULL). */
int dt_cli_parse_int(const char *cmd, const char *name, const char *s, long lo, long hi, long *out);
/* One of choices (NULL-terminated): its index in *out; the table's default when absent. */
int dt_cli_choice(const struct dt_cli_args *a, const char *opt, const char *const *choices,
                  int *out);

#endif

/*
 * The option table of every command: what `--help`, `help CMD`, the man page and the shell
 * completion say, and what main.c checks before a command runs (unknown options with a
 * "did you mean", a missing required option named, `--opt=VALUE` split for every parser).
 * A command's parser and its table must agree: tests/integration/test_help.py checks that
 * every option a cmd_*.c file matches is in its table and that every option in the table is
 * accepted.
 */
#ifndef DT_CLI_HELP_H
#define DT_CLI_HELP_H

#include <stdio.h>

struct dt_cli_optdoc {
    const char *name; /* "--suspect"; NULL ends the table */
    const char *arg;  /* "MODEL"; NULL for a flag */
    const char *def;  /* the default, NULL when none */
    const char *help; /* one line */
    const char *group; /* options of one group: at least one of them is required (NULL: none) */
};

struct dt_cli_cmddoc {
    const char *name;     /* "compare", "corpus list" */
    const char *synopsis; /* the arguments after the name */
    const char *description;
    const char *example;
    const struct dt_cli_optdoc *opts;
    int positional;       /* 1: takes non-option arguments (MODEL, RUN, CORPUS...) */
};

extern const struct dt_cli_cmddoc dt_cli_docs[];

/* The doc of "cmd" or "cmd sub" (argv of the command, argv[0] its name); NULL when none. *n_words
 * receives 1 or 2. */
const struct dt_cli_cmddoc *dt_cli_doc_find(int argc, char **argv, int *n_words);
/* Full help of one command: synopsis, description, every option with its default, example. */
void dt_cli_help_print(FILE *f, const struct dt_cli_cmddoc *d);
/* Checks argv (the command's, argv[0] its name) against its table, splitting "--opt=VALUE"
 * into two arguments in place (argv must have room: *argc grows); returns 0, or prints one
 * line ("unknown option '--supect'; did you mean '--suspect'?", "missing --suspect") and
 * returns the exit status. On success *argv is a new array (free() it) of borrowed strings. */
int dt_cli_precheck(const struct dt_cli_cmddoc *d, int *argc, char ***argv);
/* The closest of candidates to s by edit distance (NULL when none is close). */
const char *dt_cli_suggest(const char *s, const char *const *candidates, int n);
/* A roff man page for all commands, and bash completion. */
void dt_cli_man_print(FILE *f);
void dt_cli_completion_print(FILE *f);

#endif

/*
 * distiltrace entry point: help, version, and the checks every command gets from its option
 * table (cli/help.c) before it is dispatched from the command table in cli/commands.c.
 */
#include "cli/commands.h"
#include "cli/help.h"
#include "dt_version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: distiltrace <command> [options]\n\ncommands:\n");
    for (const struct dt_command *c = dt_commands; c->name; c++)
        fprintf(f, "  %-14s %s\n", c->name, c->help);
    fprintf(f, "\n'distiltrace help <command>' or 'distiltrace <command> --help' describes a "
               "command's options,\nwith their defaults and an example. 'distiltrace help --man' "
               "prints the man page,\n'distiltrace help --completion bash' a bash completion "
               "script.\n\n"
               "exit status:\n"
               "  0   success (compare/check: no evidence of derivation, policy passed)\n"
               "  1   success, and evidence of derivation found (or a policy check failed)\n"
               "  2   usage error\n"
               "  3   input error: missing, unreadable or malformed file\n"
               "  4   incompatible or unsupported inputs\n"
               "  5   evidence store (database) error\n"
               "  6   out of memory or a size limit exceeded\n"
               "  7   network or remote endpoint error\n"
               "  70  internal error (a bug)\n"
               "  130 interrupted (a run whose process died is recorded with it)\n");
}

/* The subcommands of a command that has them ("corpus" -> list, show, ...), printed. */
static int print_subcommands(FILE *f, const char *cmd)
{
    int n = 0;
    size_t len = strlen(cmd);
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++)
        if (!strncmp(d->name, cmd, len) && d->name[len] == ' ') {
            if (f && !n)
                fprintf(f, "usage:\n");
            if (f)
                fprintf(f, "  distiltrace %s %s\n", d->name, d->synopsis);
            n++;
        }
    if (f && n)
        fprintf(f, "\n'distiltrace %s SUBCOMMAND --help' describes one.\n", cmd);
    return n;
}

static int help_for(int argc, char **argv)
{
    if (argc == 0) {
        usage(stdout);
        return DT_EXIT_OK;
    }
    if (!strcmp(argv[0], "--man")) {
        dt_cli_man_print(stdout);
        return DT_EXIT_OK;
    }
    if (!strcmp(argv[0], "--completion")) {
        if (argc < 2 || strcmp(argv[1], "bash") != 0) {
            fprintf(stderr, "distiltrace help: --completion takes 'bash'\n");
            return DT_EXIT_USAGE;
        }
        dt_cli_completion_print(stdout);
        return DT_EXIT_OK;
    }
    int n_words = 0;
    const struct dt_cli_cmddoc *d = dt_cli_doc_find(argc, argv, &n_words);
    if (d && (n_words == 2 || !print_subcommands(NULL, argv[0]))) {
        dt_cli_help_print(stdout, d);
        return DT_EXIT_OK;
    }
    if (print_subcommands(stdout, argv[0]))
        return DT_EXIT_OK;
    fprintf(stderr, "distiltrace help: '%s' is not a command; see 'distiltrace --help'\n", argv[0]);
    return DT_EXIT_USAGE;
}

static const struct dt_command *find_command(const char *name)
{
    for (const struct dt_command *c = dt_commands; c->name; c++)
        if (!strcmp(name, c->name))
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DT_EXIT_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
        return help_for(0, NULL);
    if (!strcmp(a, "help"))
        return help_for(argc - 2, argv + 2);
    if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
        printf("distiltrace %s\n", DT_VERSION);
        return DT_EXIT_OK;
    }
    const struct dt_command *c = find_command(a);
    if (!c) {
        const char *names[64];
        int n = 0;
        for (const struct dt_command *k = dt_commands; k->name && n < 63; k++)
            names[n++] = k->name;
        names[n++] = "help";
        const char *sug = dt_cli_suggest(a, names, n);
        if (sug)
            fprintf(stderr, "distiltrace: '%s' is not a command; did you mean '%s'?\n", a, sug);
        else
            fprintf(stderr, "distiltrace: '%s' is not a command; see 'distiltrace --help'\n", a);
        return DT_EXIT_USAGE;
    }
    int cargc = argc - 1;
    char **cargv = argv + 1;
    /* --help anywhere before "--": the generated help of the command (or its subcommand) */
    for (int i = 1; i < cargc && strcmp(cargv[i], "--") != 0; i++)
        if (!strcmp(cargv[i], "--help") || !strcmp(cargv[i], "-h")) {
            int n_words = 0;
            const struct dt_cli_cmddoc *d = dt_cli_doc_find(cargc, cargv, &n_words);
            if (d && (n_words == 2 || !print_subcommands(NULL, cargv[0]))) {
                dt_cli_help_print(stdout, d);
                return DT_EXIT_OK;
            }
            if (print_subcommands(stdout, cargv[0]))
                return DT_EXIT_OK;
            break;
        }
    int n_words = 0;
    const struct dt_cli_cmddoc *d = dt_cli_doc_find(cargc, cargv, &n_words);
    char **checked = NULL;
    if (d && (n_words == 2 || !print_subcommands(NULL, cargv[0]))) {
        int rc = dt_cli_precheck(d, &cargc, &cargv);
        if (rc)
            return rc;
        checked = cargv;
    }
    int status = c->fn(cargc, cargv);
    free(checked);
    return status;
}

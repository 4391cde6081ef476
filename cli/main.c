/*
 * distiltrace entry point: dispatches to the command table in cli/commands.c.
 */
#include "cli/commands.h"
#include "dt_version.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: distiltrace <command> [options]\n\ncommands:\n");
    for (const struct dt_command *c = dt_commands; c->name; c++)
        fprintf(f, "  %-14s %s\n", c->name, c->help);
    fprintf(f, "\n'distiltrace <command> --help' describes a command's options.\n\n"
               "exit status:\n"
               "  0   success (compare/check: no evidence of derivation, policy passed)\n"
               "  1   success, and evidence of derivation found (or a policy check failed)\n"
               "  2   usage error\n"
               "  3   input error: missing, unreadable or malformed file\n"
               "  4   incompatible or unsupported inputs\n"
               "  5   evidence store (database) error\n"
               "  6   out of memory or a size limit exceeded\n"
               "  7   network or remote endpoint error\n"
               "  70  internal error (a bug)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return DT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("distiltrace %s\n", DT_VERSION);
        return DT_EXIT_OK;
    }
    for (const struct dt_command *c = dt_commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "distiltrace: '%s' is not a command; see 'distiltrace --help'\n", argv[1]);
    return DT_EXIT_USAGE;
}

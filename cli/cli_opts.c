/*
 * Option matching helpers (see cli_opts.h).
 */
#include "cli/cli_opts.h"

#include "util/log.h"

#include <stdio.h>
#include <string.h>

int dt_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        (*i)++;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "distiltrace %s: option '%s' needs a value\n", cmd, name);
        return -1;
    }
    *val = argv[*i + 1];
    *i += 2;
    return 1;
}

int dt_cli_flag(int argc, char **argv, int *i, const char *name)
{
    if (*i < argc && !strcmp(argv[*i], name)) {
        (*i)++;
        return 1;
    }
    return 0;
}

void dt_cli_progress(void *ud, const char *phase, const char *what, size_t done, size_t total)
{
    (void)ud;
    dt_progress_detail(phase, what, done, total);
}

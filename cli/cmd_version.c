/*
 * `distiltrace version`: tool version and linked library versions (recorded in every run).
 */
#include "cli/commands.h"
#include "dt_version.h"
#include "run/version.h"

#include <stdio.h>

int cmd_version(int argc, char **argv)
{
    char libs[512];
    (void)argc;
    (void)argv;
    dt_library_versions(libs, sizeof libs);
    printf("distiltrace %s\n%s\n", DT_VERSION, libs);
    return DT_EXIT_OK;
}

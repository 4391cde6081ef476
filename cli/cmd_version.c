/*
 * `distiltrace version`: tool version and linked library versions (recorded in every run).
 */
#include "cli/commands.h"
#include "dt_version.h"

#include <cJSON.h>
#include <cblas.h>
#include <sqlite3.h>
#include <stdio.h>
#include <xxhash.h>

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("distiltrace %s\n", DT_VERSION);
    printf("sqlite %s, cjson %s, xxhash %u, openblas %s\n", sqlite3_libversion(), cJSON_Version(),
           XXH_versionNumber(), openblas_get_config());
    return DT_EXIT_OK;
}

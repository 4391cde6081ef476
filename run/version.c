/*
 * Library versions of the build (run/version.h), asked of the libraries at run time.
 */
#include "run/version.h"

#include <cJSON.h>
#include <cblas.h>
#include <sqlite3.h>
#include <stdio.h>
#include <xxhash.h>

void dt_library_versions(char *buf, size_t cap)
{
    snprintf(buf, cap, "sqlite %s, cjson %s, xxhash %u, openblas %s", sqlite3_libversion(),
             cJSON_Version(), XXH_versionNumber(), openblas_get_config());
}

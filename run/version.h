/*
 * The versions of the libraries this build links (what `version` prints).
 */
#ifndef DT_RUN_VERSION_H
#define DT_RUN_VERSION_H

#include <stddef.h>

/* "sqlite 3.x, cjson 1.x, xxhash N, openblas CONFIG" into buf (truncated to cap). */
void dt_library_versions(char *buf, size_t cap);

#endif

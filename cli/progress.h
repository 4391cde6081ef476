/*
 * The progress callback of the commands that run an investigation (compare, attribute, check,
 * panel add).
 */
#ifndef DT_CLI_PROGRESS_H
#define DT_CLI_PROGRESS_H

#include <stddef.h>

/* run/compare.h's dt_compare_progress: "answers [####   ] 212/960  ETA 0:41  teacher2" on
 * stderr, redrawn in place (util/log.h: a TTY only, unless --progress set dt_progress_forced). */
void dt_cli_progress(void *ud, const char *phase, const char *what, size_t done, size_t total);

#endif

/*
 * Option matching shared by the store, corpus and transcript commands: "--name VALUE" or
 * "--name=VALUE".
 */
#ifndef DT_CLI_OPTS_H
#define DT_CLI_OPTS_H

#include <stddef.h>

/* If argv[*i] is option name: stores its value in *val, advances *i past it and returns 1; a
 * missing value prints a usage error and returns -1. Returns 0 for any other argument. */
int dt_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);
/* 1 if argv[*i] is the flag name (advances *i), else 0. */
int dt_cli_flag(int argc, char **argv, int *i, const char *name);

/* The progress callback of the commands that run an investigation (run/compare.h's
 * dt_compare_progress): "answers [####   ] 212/960  ETA 0:41  teacher2" on stderr, redrawn
 * in place (util/log.h: a TTY only, unless --progress set dt_progress_forced). */
void dt_cli_progress(void *ud, const char *phase, const char *what, size_t done, size_t total);

#endif

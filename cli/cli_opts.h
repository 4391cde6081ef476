/*
 * Option matching shared by the store, corpus and transcript commands: "--name VALUE" or
 * "--name=VALUE".
 */
#ifndef DT_CLI_OPTS_H
#define DT_CLI_OPTS_H

/* If argv[*i] is option name: stores its value in *val, advances *i past it and returns 1; a
 * missing value prints a usage error and returns -1. Returns 0 for any other argument. */
int dt_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);
/* 1 if argv[*i] is the flag name (advances *i), else 0. */
int dt_cli_flag(int argc, char **argv, int *i, const char *name);

#endif

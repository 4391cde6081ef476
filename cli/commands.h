/*
 * The command table: one cmd_<verb>.c per command, argument parsing and printing only.
 * Every command returns a process exit status (DT_EXIT_* in util/error.h).
 */
#ifndef DT_CLI_COMMANDS_H
#define DT_CLI_COMMANDS_H

#include "util/error.h"

struct dt_command {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the command name */
    const char *help;                 /* one line */
};

extern const struct dt_command dt_commands[];

/* Prints "distiltrace: MSG" (the error's message) to stderr and returns the exit status. */
int dt_cli_fail(const struct dt_error *err);
/* Prints "distiltrace CMD: usage: ..." to stderr and returns DT_EXIT_USAGE. */
int dt_cli_usage(const char *cmd, const char *usage);

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_attribute(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_corpus(int argc, char **argv);
int cmd_transcripts(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_fingerprint(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_check_policy(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_watermark(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_panel(int argc, char **argv);

#endif

/*
 * The options of the commands that ask OpenAI-compatible endpoints (compare, attribute,
 * collect): --concurrency, --retries, --rps, --timeout, one reading with one set of ranges.
 */
#ifndef DT_CLI_ENDPOINT_OPTS_H
#define DT_CLI_ENDPOINT_OPTS_H

struct dt_cli_args;
struct dt_endpoint_options;

/* Reads them from a's command (the table's defaults where absent; fields of eo stay as they
 * are where the table has none) into eo. 0, or DT_EXIT_USAGE after a message naming the
 * option and its range. */
int dt_cli_endpoint_opts(const struct dt_cli_args *a, struct dt_endpoint_options *eo);

#endif

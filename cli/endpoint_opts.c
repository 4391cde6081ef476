/* The endpoint options shared by compare, attribute and collect (see endpoint_opts.h). */
#include "cli/endpoint_opts.h"

#include "cli/args.h"
#include "cli/commands.h"
#include "run/collect_endpoint.h" /* struct dt_endpoint_options */

int dt_cli_endpoint_opts(const struct dt_cli_args *a, struct dt_endpoint_options *eo)
{
    const char *cmd = a->doc->name;
    long l = eo->concurrency;
    if (dt_cli_long(a, "--concurrency", 1, 1024, &l))
        return DT_EXIT_USAGE;
    eo->concurrency = (int)l;
    l = eo->max_retries;
    if (dt_cli_long(a, "--retries", 0, 1000, &l))
        return DT_EXIT_USAGE;
    eo->max_retries = (int)l;
    /* out-of-range values are usage errors that name the range */
    double d = eo->rps;
    if (dt_cli_number(a, "--rps", &d))
        return DT_EXIT_USAGE;
    if (d < 0)
        return dt_cli_usage(cmd, "--rps takes a number >= 0 (0: unlimited)");
    eo->rps = d;
    d = eo->timeout_s;
    if (dt_cli_number(a, "--timeout", &d))
        return DT_EXIT_USAGE;
    if (!(d > 0))
        return dt_cli_usage(cmd, "--timeout takes a number of seconds > 0");
    eo->timeout_s = d;
    return 0;
}

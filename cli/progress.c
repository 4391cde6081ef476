/*
 * The investigation commands' progress callback (see progress.h): util/log.h draws it.
 */
#include "cli/progress.h"

#include "util/log.h"

void dt_cli_progress(void *ud, const char *phase, const char *what, size_t done, size_t total)
{
    (void)ud;
    dt_progress_detail(phase, what, done, total);
}

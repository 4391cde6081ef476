/*
 * stderr diagnostics and TTY-only progress bars.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int dt_log_verbosity = 1;

void dt_log_info(const char *fmt, ...)
{
    if (dt_log_verbosity < 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void dt_log_debug(const char *fmt, ...)
{
    if (dt_log_verbosity < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int dt_color_enabled(void)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(2) && !(nc && nc[0]);
}

void dt_progress(const char *label, size_t done, size_t total)
{
    if (dt_log_verbosity < 1 || !isatty(2) || total == 0)
        return;
    int width = 30, fill = (int)((double)done / (double)total * width);
    if (fill > width)
        fill = width;
    fprintf(stderr, "\r%s [", label);
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %zu/%zu", done, total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

double dt_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

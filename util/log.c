/*
 * stderr diagnostics and TTY-only progress bars.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The bar on screen: its label and when it started (for the ETA); one at a time. */
static char bar_label[64];
static double bar_t0, bar_drawn;
static int bar_shown;
int dt_progress_forced;

void dt_progress(const char *label, size_t done, size_t total)
{
    dt_progress_detail(label, NULL, done, total);
}

void dt_progress_detail(const char *label, const char *detail, size_t done, size_t total)
{
    if (dt_log_verbosity < 1 || (!dt_progress_forced && !isatty(2)) || total == 0)
        return;
    double now = dt_time_now();
    int fresh = !bar_shown || strncmp(bar_label, label, sizeof bar_label - 1) != 0 || done == 0;
    if (fresh) {
        snprintf(bar_label, sizeof bar_label, "%s", label);
        bar_t0 = now;
    } else if (done < total && now - bar_drawn < 0.1) {
        return; /* at most ten redraws a second: a bar per answer would flood a slow terminal */
    }
    bar_drawn = now;
    int width = 30, fill = (int)((double)done / (double)total * width);
    if (fill > width)
        fill = width;
    /* \r then erase to the end of the line: a shorter line never leaves the tail of a longer */
    fprintf(stderr, "\r\033[K%s [", label);
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %zu/%zu", done, total);
    double el = now - bar_t0;
    if (done > 0 && done < total && el > 1.0) {
        double eta = el / (double)done * (double)(total - done);
        fprintf(stderr, "  ETA %d:%02d", (int)(eta / 60), (int)eta % 60);
    }
    if (detail && detail[0])
        fprintf(stderr, "  %.40s", detail);
    bar_shown = 1;
    fflush(stderr);
}

void dt_progress_clear(void)
{
    if (!bar_shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    bar_shown = 0;
}

double dt_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

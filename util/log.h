/*
 * Diagnostics to stderr, for cli/ and long-running library loops that report progress
 * through a callback. Progress bars draw only when stderr is a TTY; NO_COLOR is honoured.
 */
#ifndef DT_UTIL_LOG_H
#define DT_UTIL_LOG_H

#include <stddef.h>

extern int dt_log_verbosity; /* 0 quiet, 1 normal, 2 verbose */

void dt_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dt_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A progress bar on stderr, "label [#####     ] done/total  ETA m:ss  detail" (only on a TTY,
 * or everywhere once dt_progress_forced is set; the ETA once a label has run a second, from
 * its rate since it started); it is redrawn in place, at most ten times a second, and erased
 * by dt_progress_clear(), so output that follows starts on a clean line. */
extern int dt_progress_forced; /* 1: draw even when stderr is not a TTY (--progress) */
void dt_progress(const char *label, size_t done, size_t total);
void dt_progress_detail(const char *label, const char *detail, size_t done, size_t total);
void dt_progress_clear(void);
int dt_color_enabled(void);

/* Monotonic clock in seconds. */
double dt_time_now(void);

#endif

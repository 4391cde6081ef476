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

/* Draws "label [#####     ] done/total" on a TTY; does nothing otherwise. done == total ends the line. */
/* A progress bar on stderr (only on a TTY, with an ETA once a stage has run a second); it is
 * redrawn in place and erased by dt_progress_clear(), so output that follows starts on a
 * clean line. */
void dt_progress(const char *label, size_t done, size_t total);
void dt_progress_clear(void);
int dt_color_enabled(void);

/* Monotonic clock in seconds. */
double dt_time_now(void);

#endif

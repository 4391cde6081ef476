/*
 * Error reporting for the whole library.
 *
 * Fallible functions return 0 on success or a negative DT_E* code, and fill an optional
 * struct dt_error with a one-line message that names the file, field and byte offset at
 * fault. Library code never prints and never exits: only cli/ turns codes into exit
 * statuses (see dt_exit_code_for) and messages into stderr lines.
 *
 * Messages follow git's style: lowercase, the subject quoted, no final period.
 */
#ifndef DT_UTIL_ERROR_H
#define DT_UTIL_ERROR_H

#include <stddef.h>

enum {
    DT_OK = 0,
    DT_EINVAL = -1,       /* bad argument or option value (a usage error) */
    DT_EIO = -2,          /* file missing, unreadable, short read */
    DT_EFORMAT = -3,      /* malformed input: model file, JSON, transcript, corpus */
    DT_EUNSUPPORTED = -4, /* well-formed but not supported (tensor type, architecture) */
    DT_EMISMATCH = -5,    /* inputs incompatible with each other */
    DT_ENOMEM = -6,       /* allocation failed or a size limit was exceeded */
    DT_EDB = -7,          /* evidence store error (SQLite) */
    DT_ENOTFOUND = -8,    /* a named thing (key, tensor, run, model) does not exist */
    DT_ENET = -9,         /* network / remote API error */
    DT_EINTERNAL = -10,   /* a bug: an invariant did not hold */
};

struct dt_error {
    int code;
    char msg[1024];
};

/* Sets err (if not NULL) and returns code, so callers can write `return dt_error_set(...)`. */
int dt_error_set(struct dt_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with more context: "CONTEXT: old message". Returns err->code. */
int dt_error_prefix(struct dt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void dt_error_clear(struct dt_error *err);

/* A short stable name for a code ("format", "io", ...). */
const char *dt_error_name(int code);

/*
 * Process exit statuses, documented in README.md and `distiltrace --help`.
 * Evidence found is not an error: it is status 1, like diff(1) reporting differences.
 */
enum {
    DT_EXIT_OK = 0,          /* success; for compare/check: no evidence of derivation / policy passed */
    DT_EXIT_EVIDENCE = 1,    /* success, and derivation evidence found / policy check failed */
    DT_EXIT_USAGE = 2,       /* bad command line */
    DT_EXIT_INPUT = 3,       /* unreadable or malformed input file */
    DT_EXIT_MISMATCH = 4,    /* inputs are incompatible or unsupported */
    DT_EXIT_DB = 5,          /* evidence store error */
    DT_EXIT_RESOURCE = 6,    /* out of memory or a size limit */
    DT_EXIT_NETWORK = 7,     /* remote endpoint failed */
    DT_EXIT_INTERNAL = 70,   /* a bug */
    DT_EXIT_INTERRUPTED = 130, /* interrupted by a signal (recorded for runs whose process died) */
};

int dt_exit_code_for(int code);

#endif

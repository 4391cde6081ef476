/*
 * Error messages and the mapping from library error codes to process exit statuses.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dt_error_set(struct dt_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int dt_error_prefix(struct dt_error *err, const char *fmt, ...)
{
    if (!err)
        return DT_EINTERNAL;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 2;
    size_t n_old = strnlen(old, sizeof old);
    if (n_old >= rest)
        n_old = rest - 1;
    memcpy(err->msg + n + 2, old, n_old);
    err->msg[n + 2 + n_old] = '\0';
    return err->code;
}

void dt_error_clear(struct dt_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *dt_error_name(int code)
{
    switch (code) {
    case DT_OK: return "ok";
    case DT_EINVAL: return "invalid argument";
    case DT_EIO: return "io";
    case DT_EFORMAT: return "format";
    case DT_EUNSUPPORTED: return "unsupported";
    case DT_EMISMATCH: return "mismatch";
    case DT_ENOMEM: return "out of memory";
    case DT_EDB: return "database";
    case DT_ENOTFOUND: return "not found";
    case DT_ENET: return "network";
    default: return "internal";
    }
}

int dt_exit_code_for(int code)
{
    switch (code) {
    case DT_OK: return DT_EXIT_OK;
    case DT_EINVAL: return DT_EXIT_USAGE;
    case DT_EIO:
    case DT_EFORMAT:
    case DT_ENOTFOUND: return DT_EXIT_INPUT;
    case DT_EUNSUPPORTED:
    case DT_EMISMATCH: return DT_EXIT_MISMATCH;
    case DT_EDB: return DT_EXIT_DB;
    case DT_ENOMEM: return DT_EXIT_RESOURCE;
    case DT_ENET: return DT_EXIT_NETWORK;
    default: return DT_EXIT_INTERNAL;
    }
}

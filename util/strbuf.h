/*
 * A growable byte buffer, always NUL-terminated, for building text output and JSON.
 * Allocation failures are sticky: after one, every append is a no-op and dt_strbuf_failed()
 * is true, so callers check once at the end.
 */
#ifndef DT_UTIL_STRBUF_H
#define DT_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct dt_strbuf {
    char *data;  /* NUL-terminated; NULL until the first append */
    size_t len;  /* bytes, excluding the NUL */
    size_t cap;
    int failed;
};

#define DT_STRBUF_INIT {NULL, 0, 0, 0}

void dt_strbuf_append(struct dt_strbuf *sb, const void *data, size_t n_bytes);
void dt_strbuf_puts(struct dt_strbuf *sb, const char *s);
void dt_strbuf_putc(struct dt_strbuf *sb, char c);
void dt_strbuf_printf(struct dt_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dt_strbuf_vprintf(struct dt_strbuf *sb, const char *fmt, va_list ap);
int dt_strbuf_failed(const struct dt_strbuf *sb);
void dt_strbuf_reset(struct dt_strbuf *sb);   /* len = 0, keeps memory */
void dt_strbuf_release(struct dt_strbuf *sb); /* frees memory */
/* Hands the buffer to the caller (dt_free it); the strbuf is empty afterwards. */
char *dt_strbuf_detach(struct dt_strbuf *sb, size_t *len);

#endif

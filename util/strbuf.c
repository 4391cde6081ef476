/*
 * Growable NUL-terminated byte buffer with sticky allocation failure.
 */
#include "util/strbuf.h"

#include "util/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int grow(struct dt_strbuf *sb, size_t extra)
{
    if (sb->failed)
        return -1;
    size_t need;
    if (dt_add_overflow(sb->len, extra, &need) || dt_add_overflow(need, 1, &need)) {
        sb->failed = 1;
        return -1;
    }
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = dt_realloc(sb->data, cap);
    if (!p) {
        sb->failed = 1;
        return -1;
    }
    sb->data = p;
    sb->cap = cap;
    return 0;
}

void dt_strbuf_append(struct dt_strbuf *sb, const void *data, size_t n_bytes)
{
    if (grow(sb, n_bytes))
        return;
    if (n_bytes)
        memcpy(sb->data + sb->len, data, n_bytes);
    sb->len += n_bytes;
    sb->data[sb->len] = '\0';
}

void dt_strbuf_puts(struct dt_strbuf *sb, const char *s)
{
    dt_strbuf_append(sb, s, strlen(s));
}

void dt_strbuf_putc(struct dt_strbuf *sb, char c)
{
    dt_strbuf_append(sb, &c, 1);
}

void dt_strbuf_vprintf(struct dt_strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || grow(sb, (size_t)n))
        return;
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void dt_strbuf_printf(struct dt_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dt_strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

int dt_strbuf_failed(const struct dt_strbuf *sb)
{
    return sb->failed;
}

void dt_strbuf_reset(struct dt_strbuf *sb)
{
    sb->len = 0;
    if (sb->data)
        sb->data[0] = '\0';
}

void dt_strbuf_release(struct dt_strbuf *sb)
{
    dt_free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = 0;
}

char *dt_strbuf_detach(struct dt_strbuf *sb, size_t *len)
{
    if (!sb->data)
        grow(sb, 0);
    char *d = sb->data;
    if (len)
        *len = sb->len;
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return d;
}

/*
 * Heap allocation through one seam, with a fault-injection counter for tests.
 */
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static long fail_after = -1;

void dt_alloc_fail_after(long n)
{
    fail_after = n;
}

static int should_fail(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}

void *dt_malloc(size_t n_bytes)
{
    if (should_fail())
        return NULL;
    return malloc(n_bytes ? n_bytes : 1);
}

void *dt_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *dt_malloc_array(size_t n, size_t size)
{
    size_t total;
    if (dt_mul_overflow(n, size, &total))
        return NULL;
    return dt_malloc(total);
}

void *dt_realloc(void *p, size_t n_bytes)
{
    if (should_fail())
        return NULL;
    return realloc(p, n_bytes ? n_bytes : 1);
}

void *dt_realloc_array(void *p, size_t n, size_t size)
{
    size_t total;
    if (dt_mul_overflow(n, size, &total))
        return NULL;
    return dt_realloc(p, total);
}

char *dt_strndup(const char *s, size_t n)
{
    char *d = dt_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *dt_strdup(const char *s)
{
    return dt_strndup(s, strlen(s));
}

void dt_free(void *p)
{
    free(p);
}

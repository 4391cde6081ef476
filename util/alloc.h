/*
 * The allocator seam. All heap memory in the library goes through these functions so that
 * tests can make the Nth allocation fail (dt_alloc_fail_after) and check that every error
 * path cleans up. Sizes are overflow-checked: dt_malloc_array fails rather than wrapping.
 */
#ifndef DT_UTIL_ALLOC_H
#define DT_UTIL_ALLOC_H

#include <stddef.h>

void *dt_malloc(size_t n_bytes);
void *dt_calloc(size_t n, size_t size);
void *dt_malloc_array(size_t n, size_t size); /* NULL on overflow */
void *dt_realloc(void *p, size_t n_bytes);
void *dt_realloc_array(void *p, size_t n, size_t size); /* NULL on overflow; p untouched */
char *dt_strdup(const char *s);
char *dt_strndup(const char *s, size_t n);
void dt_free(void *p);

/* Test hook: after n more successful allocations, fail every one. n < 0 disables. */
void dt_alloc_fail_after(long n);

/* Overflow-checked arithmetic on sizes: return 0 on success, -1 on overflow. */
static inline int dt_add_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
static inline int dt_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

#endif

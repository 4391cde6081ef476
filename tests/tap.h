/*
 * A minimal TAP producer for unit tests: `ok N - name` lines and a final plan.
 * Use: TAP_OK(cond, "name %d", i); ... return tap_done();
 */
#ifndef DT_TESTS_TAP_H
#define DT_TESTS_TAP_H

#include <math.h>
#include <stdio.h>

static int tap_n, tap_failed;

#define TAP_OK(cond, ...)                                                                      \
    do {                                                                                       \
        int tap_c_ = (cond) ? 1 : 0;                                                           \
        printf("%sok %d - ", tap_c_ ? "" : "not ", ++tap_n);                                   \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        if (!tap_c_) {                                                                         \
            tap_failed++;                                                                      \
            printf("# failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                     \
        }                                                                                      \
    } while (0)

#define TAP_NEAR(a, b, tol, ...) TAP_OK(fabs((double)(a) - (double)(b)) <= (tol), __VA_ARGS__)

#define TAP_SKIP_ALL(reason)                                                                   \
    do {                                                                                       \
        printf("1..0 # SKIP %s\n", reason);                                                    \
        return 0;                                                                              \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

/* The dev zoo and vocab directories relative to the source root (set by meson). */
#ifndef DT_SHARED_DIR
#define DT_SHARED_DIR "../shared"
#endif

#endif

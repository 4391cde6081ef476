/*
 * Benchmark of dt_ggml_dot, the kernel of every matrix-vector product in generation: one
 * 4096 x 4096 matrix-vector product per supported type, reported in ms and GFLOP/s.
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void)
{
    enum { N = 4096, ROWS = 4096, REPS = 3 };
    static const uint32_t types[] = {DT_GGML_F32, DT_GGML_F16, DT_GGML_BF16,
                                     DT_GGML_Q8_0, DT_GGML_Q4_0, DT_GGML_Q4_K};
    float *row = malloc(sizeof(float) * N), *v = malloc(sizeof(float) * N);
    if (!row || !v)
        return 1;
    for (int i = 0; i < N; i++)
        v[i] = 0.01f * (float)(i % 13);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t rb = 0;
        dt_ggml_row_bytes(types[k], N, &rb);
        unsigned char *q = malloc(rb * ROWS);
        if (!q)
            return 1;
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < N; i++)
                row[i] = (float)(((unsigned)(r * N + i) * 2654435761u) % 1000u) / 1000.0f - 0.5f;
            dt_ggml_quantize(types[k], row, q + rb * (size_t)r, N);
        }
        struct timespec a, b;
        volatile float sink = 0;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int it = 0; it < REPS; it++)
            for (int r = 0; r < ROWS; r++)
                sink += dt_ggml_dot(types[k], q + rb * (size_t)r, v, N);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double sec = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
        printf("%-5s %7.2f ms per %dx%d matvec, %5.2f GFLOP/s\n", dt_ggml_type_name(types[k]),
               sec / REPS * 1e3, ROWS, N, 2.0 * N * ROWS * REPS / sec * 1e-9);
        free(q);
    }
    free(row);
    free(v);
    return 0;
}

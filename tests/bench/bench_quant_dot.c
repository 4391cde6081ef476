/*
 * Benchmark of the quantized generation kernels (infer/quant_dot.h): for each weight type a
 * matrix of 4096-element rows holding about 64 MB of weight bytes (twice the L3 of the
 * machine the README figures come from, so it streams from memory), one matrix-vector product
 * per repetition, single thread. Prints GB/s of weight bytes read for one activation
 * (dt_qdot_matvec, n_vec = 1); for a batch of 8 activations (each row read once for all 8)
 * the equivalent figure, 8 x weight bytes / time, i.e. what 8 single products would have had
 * to stream; and the older dequantize-and-dot path (dt_ggml_dot, f32 activation). Each figure
 * is given against wall time and, in parentheses, against the thread's CPU time (what it is
 * on an idle machine, up to memory-bandwidth contention).
 * usage: bench_quant_dot [MB]
 *
 * bench_quant_dot --macs [MB] [type...]: for each type (default q8_0, q4_K, q6_K, q4_0, q5_K,
 * iq4_xs) and each ISA level the CPU runs (infer/quant_dot.h), G MAC/s of dt_qdot_matvec per
 * thread against the thread's CPU time, with 1, 8 and 32 activations (32: what prompt
 * processing asks), rows of 2048 elements (the ~1B models' width), MB of weights (default 32).
 */
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/quant_dot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared machine, the time the kernel actually ran. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int macs(int argc, char **argv)
{
    enum { N = 2048, NV = 32 };
    double mb = argc > 2 ? atof(argv[2]) : 32.0;
    static const uint32_t deflt[] = {DT_GGML_Q8_0, DT_GGML_Q4_K, DT_GGML_Q6_K,
                                     DT_GGML_Q4_0, DT_GGML_Q5_K, DT_GGML_IQ4_XS};
    uint32_t types[32];
    size_t nt = 0;
    for (int i = 3; i < argc && nt < 32; i++)
        for (uint32_t t = 0; t < 64; t++)
            if (dt_ggml_type_name(t) && strcmp(dt_ggml_type_name(t), argv[i]) == 0)
                types[nt++] = t;
    if (nt == 0)
        for (; nt < sizeof deflt / sizeof deflt[0]; nt++)
            types[nt] = deflt[nt];
    float *x = malloc(sizeof(float) * N * NV), *row = malloc(sizeof(float) * N);
    if (!x || !row)
        return 1;
    for (int i = 0; i < N * NV; i++)
        x[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < N; i++)
        row[i] = (float)(((unsigned)i * 2654435761u) % 1000u) / 1000.0f - 0.5f;
    printf("%-7s %-9s %10s %10s %10s  (G MAC/s per thread, CPU time; rows of %d, %.0f MB)\n",
           "type", "isa", "n_vec=1", "n_vec=8", "n_vec=32", N, mb);
    const int top = dt_qdot_isa_max();
    for (size_t k = 0; k < nt; k++) {
        const uint32_t t = types[k];
        size_t rb = 0;
        dt_ggml_row_bytes(t, N, &rb);
        const int64_t rows = (int64_t)(mb * 1e6 / (double)rb);
        unsigned char *w = malloc(rb * (size_t)rows);
        const size_t ab = dt_qdot_act_bytes(t, N);
        unsigned char *qx = malloc(ab * NV);
        float *y = malloc(sizeof(float) * (size_t)rows * NV);
        if (!w || !qx || !y || dt_ggml_quantize(t, row, w, N) != 0)
            return 1;
        for (int64_t r = 1; r < rows; r++)
            memcpy(w + (size_t)r * rb, w, rb);
        for (int v = 0; v < NV; v++)
            dt_qdot_quantize_act(t, x + (size_t)v * N, qx + ab * (size_t)v, N);
        for (int lvl = 0; lvl <= top; lvl++) {
            dt_qdot_set_isa(lvl);
            double g[3];
            static const int nvs[3] = {1, 8, 32};
            for (int i = 0; i < 3; i++) {
                dt_qdot_matvec(t, w, rb, rows, N, qx, ab, nvs[i], y, (size_t)rows);
                int reps = 0;
                double c0 = cpu_now(), c1 = c0;
                while (c1 - c0 < 0.3 || reps < 2) {
                    dt_qdot_matvec(t, w, rb, rows, N, qx, ab, nvs[i], y, (size_t)rows);
                    reps++;
                    c1 = cpu_now();
                }
                g[i] = (double)rows * N * nvs[i] * reps / (c1 - c0) * 1e-9;
            }
            printf("%-7s %-9s %10.1f %10.1f %10.1f\n", dt_ggml_type_name(t), dt_qdot_isa_name(lvl),
                   g[0], g[1], g[2]);
            fflush(stdout);
        }
        dt_qdot_set_isa(top);
        free(w);
        free(qx);
        free(y);
    }
    free(x);
    free(row);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--macs") == 0)
        return macs(argc, argv);
    enum { N = 4096, REPS = 5, B = 8 };
    double mb = argc > 1 ? atof(argv[1]) : 64.0;
    static const uint32_t types[] = {DT_GGML_F32,  DT_GGML_F16,  DT_GGML_BF16,   DT_GGML_Q8_0,
                                     DT_GGML_Q4_0, DT_GGML_Q4_1, DT_GGML_Q5_0,   DT_GGML_Q5_1,
                                     DT_GGML_IQ4_NL, DT_GGML_Q2_K, DT_GGML_Q3_K, DT_GGML_Q4_K,
                                     DT_GGML_Q5_K, DT_GGML_Q6_K, DT_GGML_IQ4_XS};
    float *x = malloc(sizeof(float) * N * B), *y = malloc(sizeof(float) * 65536 * B);
    float *row = malloc(sizeof(float) * N);
    if (!x || !y || !row)
        return 1;
    for (int i = 0; i < N * B; i++)
        x[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    printf("%-7s %6s %14s %14s %14s  (GB/s wall (cpu))\n", "type", "MB", "qdot", "x8 equiv",
           "f32-dot");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k];
        size_t rb = 0;
        dt_ggml_row_bytes(t, N, &rb);
        int64_t rows = (int64_t)(mb * 1e6 / (double)rb);
        if (rows > 65536)
            rows = 65536;
        unsigned char *w = malloc(rb * (size_t)rows);
        size_t ab = dt_qdot_act_bytes(t, N);
        unsigned char *qx = malloc(ab * B);
        if (!w || !qx)
            return 1;
        /* ordinary weights, encoded once per distinct row pattern and repeated */
        for (int i = 0; i < N; i++)
            row[i] = (float)(((unsigned)i * 2654435761u) % 1000u) / 1000.0f - 0.5f;
        if (dt_ggml_quantize(t, row, w, N) != 0)
            return 1;
        for (int64_t r = 1; r < rows; r++)
            for (size_t j = 0; j < rb; j++)
                w[(size_t)r * rb + j] = w[j];
        for (int v = 0; v < B; v++)
            dt_qdot_quantize_act(t, x + (size_t)v * N, qx + ab * (size_t)v, N);
        double bytes = (double)rb * (double)rows * REPS;
        dt_qdot_matvec(t, w, rb, rows, N, qx, ab, 1, y, (size_t)rows); /* warm-up */
        double t0 = now(), c0 = cpu_now();
        for (int it = 0; it < REPS; it++)
            dt_qdot_matvec(t, w, rb, rows, N, qx, ab, 1, y, (size_t)rows);
        double t1 = now(), c1 = cpu_now();
        for (int it = 0; it < REPS; it++)
            dt_qdot_matvec(t, w, rb, rows, N, qx, ab, B, y, (size_t)rows);
        double t2 = now(), c2 = cpu_now();
        volatile float sink = 0;
        for (int it = 0; it < REPS; it++)
            for (int64_t r = 0; r < rows; r++)
                sink += dt_ggml_dot(t, w + (size_t)r * rb, x, N);
        double t3 = now(), c3 = cpu_now();
        printf("%-7s %6.1f %6.2f (%5.2f) %6.2f (%5.2f) %6.2f (%5.2f)\n", dt_ggml_type_name(t),
               (double)rb * rows / 1e6, bytes / (t1 - t0) * 1e-9, bytes / (c1 - c0) * 1e-9,
               B * bytes / (t2 - t1) * 1e-9, B * bytes / (c2 - c1) * 1e-9,
               bytes / (t3 - t2) * 1e-9, bytes / (c3 - c2) * 1e-9);
        fflush(stdout);
        free(w);
        free(qx);
    }
    free(x);
    free(y);
    free(row);
    return 0;
}

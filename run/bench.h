/*
 * What `distiltrace bench` runs: one model file measured (infer/bench.h: scoring, prompt,
 * generation and batched generation throughput, peak RSS) with the limits of the machine
 * measured in the same run after it (a plain sgemm, a STREAM-like read), and the synthetic
 * random-weight models it can write.
 */
#ifndef DT_RUN_BENCH_H
#define DT_RUN_BENCH_H

#include "infer/bench.h" /* struct dt_bench_params, struct dt_bench_result */
#include "util/error.h"

#include <stdint.h>

struct dt_bench_run {
    struct dt_bench_result r;
    double load_s;          /* opening the model */
    long long file_bytes;   /* -1 when unknown (a directory) */
    double sgemm_gflop_s;   /* 1024^3 OpenBLAS sgemm: prompt processing's ceiling */
    double read_gb_s;       /* reading 512 MiB: generation's ceiling is this / weight bytes */
    double gen_limit_tok_s; /* read_gb_s / bytes of weights read per step; 0 when unknown */
    double loadavg_1min;    /* -1 when unknown */
    long n_cpus;            /* online */
    const char *scoring;    /* "q8" when scoring took the 8-bit kernels, else "exact" */
};

int dt_bench_run(const char *path, const struct dt_bench_params *p, int threads,
                 struct dt_bench_run *out, struct dt_error *err);

/* A random-weight llama GGUF of shape ("tiny", "124m", "1b") with tensors of the named type
 * ("f16", "q8_0", "q4_k_m"...), its random weights drawn from seed (files of one shape and
 * type differ only by it), written to path; DT_EINVAL for an unknown type. */
int dt_bench_synthetic(const char *path, const char *shape, const char *type, uint64_t seed,
                       struct dt_error *err);
/* 1 when type names a type dt_bench_synthetic can write. */
int dt_bench_type_known(const char *type);

#endif

/*
 * Benchmark: loading a tokenizer.json. With a path argument, times that file; without, the
 * synthetic Gemma-3-sized file that tests/bench/gen_tokenizer_json.py writes (262144 tokens,
 * ~336k merges, 13 MB). Prints the wall and CPU time of each load and the best of them:
 *
 *   meson test -C build --benchmark tokenizer_load
 *   build/tests/bench/bench_tokenizer_load FILE [repeats]
 */
#include "infer/tokenizer.h"
#include "infer/tokenizer_json.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double secs(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tokenizer_load TOKENIZER_JSON [repeats]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    double best_wall = 1e9, best_cpu = 1e9;
    for (int r = 0; r < reps; r++) {
        struct dt_error err = {0};
        struct dt_tokenizer *t = NULL;
        double w0 = secs(CLOCK_MONOTONIC), c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
        if (dt_tokenizer_from_json(argv[1], &t, &err)) {
            fprintf(stderr, "bench_tokenizer_load: %s\n", err.msg);
            return 1;
        }
        double wall = secs(CLOCK_MONOTONIC) - w0, cpu = secs(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("load %d: %d tokens, %zu merges: wall %.3f s, cpu %.3f s\n", r + 1,
               dt_tokenizer_n_vocab(t), dt_tokenizer_n_merges(t), wall, cpu);
        if (wall < best_wall)
            best_wall = wall;
        if (cpu < best_cpu)
            best_cpu = cpu;
        dt_tokenizer_free(t);
    }
    printf("best: wall %.3f s, cpu %.3f s\n", best_wall, best_cpu);
    return 0;
}

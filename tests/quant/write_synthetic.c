/*
 * Test helper: write_synthetic PATH SHAPE SEED [NOISE] writes the random-weight F16 llama of
 * dt_bench_write_synthetic; with NOISE > 0 every F16 tensor then gets Gaussian noise of NOISE
 * times its RMS (a stand-in for a fine-tune of the SEED model).
 */
#include "infer/bench.h"
#include "infer/ggml_quant.h"
#include "infer/ggml_types.h"
#include "infer/gguf.h"
#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int perturb(const char *path, double noise)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    int rc = buf && fread(buf, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
    fclose(f);
    struct dt_gguf *g = NULL;
    struct dt_error err = {0};
    if (rc || dt_gguf_open_memory(buf, (size_t)n, &g, &err)) {
        free(buf);
        return -1;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, 1234);
    for (uint64_t i = 0; i < g->n_tensors && !rc; i++) {
        const struct dt_gguf_tensor *t = &g->tensors[i];
        if (t->type != DT_GGML_F16)
            continue;
        float *x = malloc((size_t)t->n_elems * sizeof *x);
        if (!x) {
            rc = -1;
            break;
        }
        dt_ggml_dequantize(t->type, t->data, x, t->n_elems);
        double ss = 0;
        for (int64_t k = 0; k < t->n_elems; k++)
            ss += (double)x[k] * x[k];
        double sd = noise * sqrt(ss / (double)t->n_elems);
        for (int64_t k = 0; k < t->n_elems; k++)
            x[k] += (float)(sd * dt_rng_normal(&rng));
        rc = dt_ggml_quantize(t->type, x, buf + (t->data - g->base), t->n_elems);
        free(x);
    }
    dt_gguf_free(g);
    FILE *o = rc ? NULL : fopen(path, "wb");
    if (!rc && (!o || fwrite(buf, 1, (size_t)n, o) != (size_t)n))
        rc = -1;
    if (o)
        fclose(o);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: write_synthetic PATH SHAPE SEED [NOISE]\n");
        return 2;
    }
    struct dt_error err = {0};
    if (dt_bench_write_synthetic(argv[1], argv[2], DT_GGML_F16, strtoull(argv[3], NULL, 10),
                                 &err) != 0) {
        fprintf(stderr, "write_synthetic: %s\n", err.msg);
        return 1;
    }
    if (argc == 5 && atof(argv[4]) > 0 && perturb(argv[1], atof(argv[4])) != 0) {
        fprintf(stderr, "write_synthetic: cannot perturb '%s'\n", argv[1]);
        return 1;
    }
    return 0;
}

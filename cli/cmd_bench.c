/*
 * `distiltrace bench MODEL [--batch N] [--len L] [--gen N] [--threads N] [--json]`
 * `distiltrace bench --synthetic SHAPE [...]` (SHAPE: tiny, 124m): writes random-weight
 * llama GGUF files in f16 and q8_0 to a temporary directory and measures them.
 * Prints scoring throughput (teacher-forced, a batch of probes), generation throughput (one
 * sequence, greedy), load time, peak RSS, and the GFLOP/s achieved by scoring next to a plain
 * OpenBLAS sgemm measured in the same run.
 */
#include "cli/commands.h"

#include "infer/bench.h"
#include "infer/ggml_types.h"
#include "infer/model.h"
#include "util/log.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *k_usage =
    "distiltrace bench (MODEL | --synthetic tiny|124m) [--batch N] [--len L] [--gen N]\n"
    "       [--repeat N] [--threads N] [--json]";

static int bench_one(const char *path, const char *label, const struct dt_bench_params *p,
                     int threads, int json, double sgemm)
{
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    double t0 = dt_time_now();
    if (dt_model_open(path, &m, &err))
        return dt_cli_fail(&err);
    double load_s = dt_time_now() - t0;
    struct stat st;
    long long file_bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    dt_model_set_threads(m, threads);
    struct dt_bench_result r;
    int rc = dt_bench_model(m, p, &r, &err);
    dt_model_free(m);
    if (rc)
        return dt_cli_fail(&err);
    double load[1] = {-1};
    if (getloadavg(load, 1) < 1)
        load[0] = -1;
    if (json) {
        printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.4f, \"loadavg_1min\": %.2f, "
               "\"score_tokens\": %zu, \"score_wall_s\": %.4f, \"score_cpu_s\": %.4f, "
               "\"score_tok_s\": %.1f, \"score_gflop_s\": %.2f, \"last_wall_s\": %.4f, "
               "\"last_cpu_s\": %.4f, \"last_tok_s\": %.1f, \"last_gflop_s\": %.2f, "
               "\"sgemm_gflop_s\": %.2f, \"gen_tokens\": %d, \"gen_wall_s\": %.4f, "
               "\"gen_cpu_s\": %.4f, \"gen_tok_s\": %.1f, \"peak_rss_kb\": %ld, "
               "\"file_bytes\": %lld}\n",
               label, threads, load_s, load[0], r.score_tokens, r.score_wall_s, r.score_cpu_s,
               r.score_tok_s, r.score_gflop_s, r.last_wall_s, r.last_cpu_s, r.last_tok_s,
               r.last_gflop_s, sgemm, r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s,
               r.peak_rss_kb, file_bytes);
    } else {
        printf("model      %s (%d threads, load %.3f s, %.1f MB)\n", label, threads, load_s,
               file_bytes / 1048576.0);
        printf("scoring    %zu tokens (%d x %d), all positions' logits + logsumexp: %.3f s "
               "(cpu %.3f s): %.0f tokens/s, %.1f GFLOP/s\n",
               r.score_tokens, p->batch, p->len, r.score_wall_s, r.score_cpu_s, r.score_tok_s,
               r.score_gflop_s);
        printf("prompt     %zu tokens (%d x %d), last position's logits only: %.3f s "
               "(cpu %.3f s): %.0f tokens/s, %.1f GFLOP/s\n",
               r.score_tokens, p->batch, p->len, r.last_wall_s, r.last_cpu_s, r.last_tok_s,
               r.last_gflop_s);
        printf("sgemm      1024^3 in the same run: %.1f GFLOP/s\n", sgemm);
        printf("generation %d tokens in %.3f s (cpu %.3f s): %.0f tokens/s (16-token prompt "
               "%.4f s)\n",
               r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s, r.prompt_wall_s);
        printf("peak RSS   %.1f MB\n", r.peak_rss_kb / 1024.0);
        printf("load avg   %.2f (1 min, %ld CPUs online)\n", load[0], sysconf(_SC_NPROCESSORS_ONLN));
    }
    return DT_EXIT_OK;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *synthetic = NULL;
    struct dt_bench_params p;
    dt_bench_params_init(&p);
    long v, threads = 2;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", k_usage);
            return DT_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--synthetic") && i + 1 < argc) {
            synthetic = argv[++i];
        } else if ((!strcmp(a, "--batch") || !strcmp(a, "--len") || !strcmp(a, "--gen") ||
                    !strcmp(a, "--repeat") || !strcmp(a, "--threads")) &&
                   i + 1 < argc) {
            if (dt_cli_parse_int("bench", a, argv[++i], 1, 1 << 20, &v))
                return DT_EXIT_USAGE;
            if (!strcmp(a, "--batch"))
                p.batch = (int)v;
            else if (!strcmp(a, "--len"))
                p.len = (int)v;
            else if (!strcmp(a, "--gen"))
                p.gen = (int)v;
            else if (!strcmp(a, "--repeat"))
                p.repeat = (int)v;
            else
                threads = v;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            return dt_cli_usage("bench", k_usage);
        }
    }
    if (!model == !synthetic)
        return dt_cli_usage("bench", k_usage);
    openblas_set_num_threads((int)threads);
    double sgemm = dt_bench_sgemm_gflop_s(1024, 1024, 1024);
    if (model)
        return bench_one(model, model, &p, (int)threads, json, sgemm);

    char dir[] = "/tmp/dt_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "distiltrace: cannot create a temporary directory\n");
        return DT_EXIT_RESOURCE;
    }
    static const uint32_t types[] = {DT_GGML_F16, DT_GGML_Q8_0};
    int status = DT_EXIT_OK;
    for (size_t t = 0; t < 2 && status == DT_EXIT_OK; t++) {
        char path[256], label[128];
        snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, synthetic, dt_ggml_type_name(types[t]));
        snprintf(label, sizeof label, "synthetic %s %s", synthetic, dt_ggml_type_name(types[t]));
        struct dt_error err = {0};
        if (dt_bench_write_synthetic(path, synthetic, types[t], 42, &err)) {
            status = dt_cli_fail(&err);
        } else {
            status = bench_one(path, label, &p, (int)threads, json, sgemm);
        }
        unlink(path);
    }
    rmdir(dir);
    return status;
}

/*
 * `distiltrace bench MODEL [--batch N] [--len L] [--gen N] [--slots N] [--jobs N] [--threads N]
 * [--json]`
 * `distiltrace bench --synthetic SHAPE [--types T,T...] [...]` (SHAPE: tiny, 124m, 1b; types
 * default f16,q8_0, also q4_k_m): writes random-weight llama GGUF files to a temporary
 * directory and measures them. `--synthetic SHAPE --types T --write PATH` only writes the file.
 * Prints scoring throughput (teacher-forced, a batch of probes; all positions' logits, and the
 * last position's only, as llama.cpp's prompt benchmark), generation throughput (one sequence,
 * greedy), batched generation as compare runs it (a queue of answers on --slots sequences),
 * CPU time next to wall time, load time, peak RSS, the load average, and the limits measured
 * in the same run after the model's: a plain OpenBLAS sgemm (prompt processing's ceiling) and a
 * STREAM-like read of 512 MiB (generation's: bandwidth / bytes of weights per step).
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
#include <sys/wait.h>
#include <unistd.h>

static const char *k_usage =
    "distiltrace bench (MODEL | --synthetic tiny|124m|1b [--types f16,q8_0,q4_k_m,...]\n"
    "       [--write PATH]) [--batch N] [--len L] [--gen N] [--slots N] [--jobs N] [--repeat N]\n"
    "       [--threads N] [--json]";

static int bench_one(const char *path, const char *label, const struct dt_bench_params *p,
                     int threads, int json)
{
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    double t0 = dt_time_now();
    if (dt_model_open(path, &m, &err))
        return dt_cli_fail(&err);
    double load_s = dt_time_now() - t0;
    struct stat st;
    long long file_bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    struct dt_ctx *x = NULL;
    struct dt_bench_result r;
    int rc = dt_ctx_new(m, threads, &x, &err);
    if (!rc)
        rc = dt_bench_model(x, p, &r, &err);
    dt_ctx_free(x);
    dt_model_free(m);
    if (rc)
        return dt_cli_fail(&err);
    /* Measured after the model runs: a threaded sgemm leaves OpenBLAS's workers spinning for a
     * while, which would steal the core the single-threaded generation loop runs on. */
    openblas_set_num_threads(threads);
    double sgemm = dt_bench_sgemm_gflop_s(1024, 1024, 1024);
    double bw = dt_bench_read_gb_s(threads, 512);
    /* Generation reads every weight once per step: bandwidth / bytes is its ceiling. */
    double gen_limit = r.weight_bytes > 0 ? bw * 1e9 / r.weight_bytes : 0;
    double load[1] = {-1};
    if (getloadavg(load, 1) < 1)
        load[0] = -1;
    if (json) {
        printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.4f, \"loadavg_1min\": %.2f, "
               "\"score_tokens\": %zu, \"score_wall_s\": %.4f, \"score_cpu_s\": %.4f, "
               "\"score_tok_s\": %.1f, \"score_gflop_s\": %.2f, \"last_wall_s\": %.4f, "
               "\"last_cpu_s\": %.4f, \"last_tok_s\": %.1f, \"last_gflop_s\": %.2f, "
               "\"sgemm_gflop_s\": %.2f, \"gen_tokens\": %d, \"gen_wall_s\": %.4f, "
               "\"gen_cpu_s\": %.4f, \"gen_tok_s\": %.1f, \"batch_slots\": %d, "
               "\"batch_jobs\": %d, \"batch_tokens\": %zu, \"batch_wall_s\": %.4f, "
               "\"batch_cpu_s\": %.4f, \"batch_tok_s\": %.1f, \"read_gb_s\": %.2f, "
               "\"weight_bytes\": %.0f, \"gen_limit_tok_s\": %.1f, \"peak_rss_kb\": %ld, "
               "\"file_bytes\": %lld}\n",
               label, threads, load_s, load[0], r.score_tokens, r.score_wall_s, r.score_cpu_s,
               r.score_tok_s, r.score_gflop_s, r.last_wall_s, r.last_cpu_s, r.last_tok_s,
               r.last_gflop_s, sgemm, r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s,
               r.batch_slots, r.batch_jobs, r.batch_tokens, r.batch_wall_s, r.batch_cpu_s,
               r.batch_tok_s, bw, r.weight_bytes, gen_limit, r.peak_rss_kb, file_bytes);
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
        printf("sgemm      1024^3 in the same run: %.1f GFLOP/s (prompt at %.0f%% of it)\n", sgemm,
               sgemm > 0 ? 100 * r.last_gflop_s / sgemm : 0);
        printf("generation %d tokens in %.3f s (cpu %.3f s): %.1f tokens/s (16-token prompt "
               "%.4f s)\n",
               r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s, r.prompt_wall_s);
        printf("bandwidth  %.1f GB/s read in the same run; a step reads %.1f MB of weights: "
               "limit %.1f tokens/s, generation at %.0f%% of it\n",
               bw, r.weight_bytes / 1e6, gen_limit, gen_limit > 0 ? 100 * r.gen_tok_s / gen_limit : 0);
        printf("batched    %d answers, %d slots: %zu tokens in %.3f s (cpu %.3f s): %.1f tokens/s "
               "(%.1fx single)\n",
               r.batch_jobs, r.batch_slots, r.batch_tokens, r.batch_wall_s, r.batch_cpu_s,
               r.batch_tok_s, r.gen_tok_s > 0 ? r.batch_tok_s / r.gen_tok_s : 0);
        printf("peak RSS   %.1f MB\n", r.peak_rss_kb / 1024.0);
        printf("load avg   %.2f (1 min, %ld CPUs online)\n", load[0], sysconf(_SC_NPROCESSORS_ONLN));
    }
    return DT_EXIT_OK;
}

/* Writes the synthetic model in a child process, so the building buffers (the whole model,
 * twice) never count in a benchmark's peak RSS. */
static int write_synthetic(const char *path, const char *shape, uint32_t type)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "distiltrace: cannot fork to write the synthetic model\n");
        return DT_EXIT_RESOURCE;
    }
    if (pid == 0) {
        struct dt_error err = {0};
        _exit(dt_bench_write_synthetic(path, shape, type, 42, &err) ? dt_cli_fail(&err)
                                                                    : DT_EXIT_OK);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return DT_EXIT_INTERNAL;
    return WEXITSTATUS(st);
}

/* bench_one in a child process, so each model's peak RSS is its own. */
static int bench_child(const char *path, const char *label, const struct dt_bench_params *p,
                       int threads, int json)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return bench_one(path, label, p, threads, json);
    if (pid == 0) {
        int rc = bench_one(path, label, p, threads, json);
        fflush(stdout);
        _exit(rc);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return DT_EXIT_INTERNAL;
    return WEXITSTATUS(st);
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *synthetic = NULL, *type_list = "f16,q8_0", *write_path = NULL;
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
        } else if (!strcmp(a, "--types") && i + 1 < argc) {
            type_list = argv[++i];
        } else if (!strcmp(a, "--write") && i + 1 < argc) {
            write_path = argv[++i];
        } else if ((!strcmp(a, "--batch") || !strcmp(a, "--len") || !strcmp(a, "--gen") ||
                    !strcmp(a, "--repeat") || !strcmp(a, "--threads") || !strcmp(a, "--slots") ||
                    !strcmp(a, "--jobs")) &&
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
            else if (!strcmp(a, "--slots"))
                p.slots = (int)v;
            else if (!strcmp(a, "--jobs"))
                p.jobs = (int)v;
            else
                threads = v;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            return dt_cli_usage("bench", k_usage);
        }
    }
    if (!model == !synthetic || (write_path && !synthetic))
        return dt_cli_usage("bench", k_usage);
    if (model)
        return bench_one(model, model, &p, (int)threads, json);
    uint32_t types[16];
    const char *names[16];
    char list[256];
    size_t n_types = 0;
    snprintf(list, sizeof list, "%s", type_list);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int ok = 0;
        if (n_types == 16 || ((types[n_types] = dt_bench_type_from_name(t, &ok)), !ok)) {
            fprintf(stderr, "distiltrace: bench: unknown or too many types in '%s'\n", type_list);
            return DT_EXIT_USAGE;
        }
        names[n_types++] = type_list + (t - list);
    }
    if (write_path) {
        if (n_types != 1) {
            fprintf(stderr, "distiltrace: bench: --write takes one type, not '%s'\n", type_list);
            return DT_EXIT_USAGE;
        }
        return write_synthetic(write_path, synthetic, types[0]);
    }

    char dir[] = "/tmp/dt_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "distiltrace: cannot create a temporary directory\n");
        return DT_EXIT_RESOURCE;
    }
    int status = DT_EXIT_OK;
    for (size_t t = 0; t < n_types && status == DT_EXIT_OK; t++) {
        char path[256], label[128], tname[32];
        size_t tl = strcspn(names[t], ",");
        snprintf(tname, sizeof tname, "%.*s", (int)(tl < 31 ? tl : 31), names[t]);
        snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, synthetic, tname);
        snprintf(label, sizeof label, "synthetic %s %s", synthetic, tname);
        status = write_synthetic(path, synthetic, types[t]);
        if (status == DT_EXIT_OK)
            status = bench_child(path, label, &p, (int)threads, json);
        unlink(path);
    }
    rmdir(dir);
    return status;
}

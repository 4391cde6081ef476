/*
 * `distiltrace bench MODEL [--batch N] [--len L] [--gen N] [--slots N] [--jobs N] [--threads N]
 * [--json]`
 * `distiltrace bench --synthetic SHAPE [--types T,T...] [...]` (SHAPE: tiny, 124m, 1b; types
 * default f16,q8_0, also q4_k_m): writes random-weight llama GGUF files to a temporary
 * directory and measures them. `--synthetic SHAPE --types T --write PATH [--seed N]` only writes
 * the file (random weights drawn from seed N, default 42).
 * Prints scoring throughput (teacher-forced, a batch of probes; all positions' logits, and the
 * last position's only), the prompt before generation (--len tokens in one call on a session,
 * what llama-bench's pp measures), generation throughput after it (one sequence, greedy), batched generation as compare runs it (a queue of answers on --slots sequences),
 * CPU time next to wall time, load time, peak RSS, the load average, and the limits measured
 * in the same run after the model's: a plain OpenBLAS sgemm (prompt processing's ceiling) and a
 * STREAM-like read of 512 MiB (generation's: bandwidth / bytes of weights per step).
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/bench.h"
#include "run/compare.h" /* dt_scoring_option */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *k_usage =
    "distiltrace bench (MODEL | --synthetic tiny|124m|1b [--types f16,q8_0,q4_k_m,...]\n"
    "       [--write PATH] [--seed N]) [--batch N] [--len L] [--gen N] [--slots N] [--jobs N] [--repeat N]\n"
    "       [--scoring exact|q8] [--threads N] [--json]";

static int bench_one(const char *path, const char *label, const struct dt_bench_params *p,
                     int threads, int json)
{
    struct dt_error err = {0};
    struct dt_bench_run b;
    if (dt_bench_run(path, p, threads, &b, &err))
        return dt_cli_fail(&err);
    const struct dt_bench_result r = b.r;
    double load_s = b.load_s, sgemm = b.sgemm_gflop_s, bw = b.read_gb_s,
           gen_limit = b.gen_limit_tok_s, load[1] = {b.loadavg_1min};
    long long file_bytes = b.file_bytes;
    if (json) {
        printf("{\"model\": \"%s\", \"threads\": %d, \"scoring\": \"%s\", \"load_s\": %.4f, \"loadavg_1min\": %.2f, "
               "\"score_tokens\": %zu, \"score_wall_s\": %.4f, \"score_cpu_s\": %.4f, "
               "\"score_tok_s\": %.1f, \"score_gflop_s\": %.2f, \"last_wall_s\": %.4f, "
               "\"last_cpu_s\": %.4f, \"last_tok_s\": %.1f, \"last_gflop_s\": %.2f, "
               "\"sgemm_gflop_s\": %.2f, \"gen_tokens\": %d, \"gen_wall_s\": %.4f, "
               "\"gen_cpu_s\": %.4f, \"gen_tok_s\": %.1f, \"batch_slots\": %d, "
               "\"batch_jobs\": %d, \"batch_tokens\": %zu, \"batch_wall_s\": %.4f, "
               "\"batch_cpu_s\": %.4f, \"batch_tok_s\": %.1f, \"read_gb_s\": %.2f, "
               "\"weight_bytes\": %.0f, \"gen_limit_tok_s\": %.1f, \"peak_rss_kb\": %ld, "
               "\"file_bytes\": %lld, \"prompt_tokens\": %zu, \"prompt_wall_s\": %.4f, "
               "\"prompt_cpu_s\": %.4f, \"prompt_tok_s\": %.1f}\n",
               label, threads, b.scoring, load_s, load[0], r.score_tokens, r.score_wall_s, r.score_cpu_s,
               r.score_tok_s, r.score_gflop_s, r.last_wall_s, r.last_cpu_s, r.last_tok_s,
               r.last_gflop_s, sgemm, r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s,
               r.batch_slots, r.batch_jobs, r.batch_tokens, r.batch_wall_s, r.batch_cpu_s,
               r.batch_tok_s, bw, r.weight_bytes, gen_limit, r.peak_rss_kb, file_bytes,
               r.prompt_tokens, r.prompt_wall_s, r.prompt_cpu_s, r.prompt_tok_s);
    } else {
        printf("model      %s (%d threads, load %.3f s, %.1f MB)\n", label, threads, load_s,
               file_bytes / 1048576.0);
        printf("scoring    %zu tokens (%d x %d), all positions' logits + logsumexp, %s "
               "arithmetic: %.3f s (cpu %.3f s): %.0f tokens/s, %.1f GFLOP/s\n",
               r.score_tokens, p->batch, p->len, b.scoring, r.score_wall_s, r.score_cpu_s, r.score_tok_s,
               r.score_gflop_s);
        printf("score-last %zu tokens (%d x %d), scoring with the last position's logits only: "
               "%.3f s (cpu %.3f s): %.0f tokens/s, %.1f GFLOP/s\n",
               r.score_tokens, p->batch, p->len, r.last_wall_s, r.last_cpu_s, r.last_tok_s,
               r.last_gflop_s);
        printf("sgemm      1024^3 in the same run: %.1f GFLOP/s (score-last at %.0f%% of it)\n",
               sgemm, sgemm > 0 ? 100 * r.last_gflop_s / sgemm : 0);
        printf("prompt     %zu tokens in one call before generation (llama-bench's pp): %.3f s "
               "(cpu %.3f s): %.1f tokens/s\n",
               r.prompt_tokens, r.prompt_wall_s, r.prompt_cpu_s, r.prompt_tok_s);
        printf("generation %d tokens after it in %.3f s (cpu %.3f s): %.1f tokens/s\n",
               r.gen_tokens, r.gen_wall_s, r.gen_cpu_s, r.gen_tok_s);
        printf("bandwidth  %.1f GB/s read in the same run; a step reads %.1f MB of weights: "
               "limit %.1f tokens/s, generation at %.0f%% of it\n",
               bw, r.weight_bytes / 1e6, gen_limit, gen_limit > 0 ? 100 * r.gen_tok_s / gen_limit : 0);
        printf("batched    %d answers, %d slots: %zu tokens in %.3f s (cpu %.3f s): %.1f tokens/s "
               "(%.1fx single)\n",
               r.batch_jobs, r.batch_slots, r.batch_tokens, r.batch_wall_s, r.batch_cpu_s,
               r.batch_tok_s, r.gen_tok_s > 0 ? r.batch_tok_s / r.gen_tok_s : 0);
        printf("peak RSS   %.1f MB\n", r.peak_rss_kb / 1024.0);
        printf("load avg   %.2f (1 min, %ld CPUs online)\n", load[0], b.n_cpus);
    }
    return DT_EXIT_OK;
}

/* Writes the synthetic model in a child process, so the building buffers (the whole model,
 * twice) never count in a benchmark's peak RSS. */
static int write_synthetic(const char *path, const char *shape, const char *type, uint64_t seed)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "distiltrace: cannot fork to write the synthetic model\n");
        return DT_EXIT_RESOURCE;
    }
    if (pid == 0) {
        struct dt_error err = {0};
        _exit(dt_bench_synthetic(path, shape, type, seed, &err) ? dt_cli_fail(&err) : DT_EXIT_OK);
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
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "bench", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model = dt_cli_positional(&a, 0), *synthetic = dt_cli_str(&a, "--synthetic", NULL),
               *type_list = dt_cli_str_def(&a, "--types"),
               *write_path = dt_cli_str(&a, "--write", NULL);
    struct dt_bench_params p;
    dt_bench_params_init(&p);
    long threads = 2, seed = 42; /* seed: the synthetic weights' (files differ only by it) */
    int json = dt_cli_has(&a, "--json");
    struct {
        const char *name;
        int *out;
    } ints[] = {{"--batch", &p.batch}, {"--len", &p.len},     {"--gen", &p.gen},
                {"--repeat", &p.repeat}, {"--slots", &p.slots}, {"--jobs", &p.jobs}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        long v = *ints[k].out;
        if (dt_cli_long(&a, ints[k].name, 1, 1 << 20, &v))
            return DT_EXIT_USAGE;
        *ints[k].out = (int)v;
    }
    if (dt_cli_long(&a, "--threads", 1, 1 << 20, &threads) ||
        dt_cli_long(&a, "--seed", 0, 1 << 30, &seed))
        return DT_EXIT_USAGE;
    const char *scoring = dt_cli_str(&a, "--scoring", NULL);
    if (scoring && dt_scoring_option(scoring, &p.scoring))
        return dt_cli_usage("bench", "--scoring takes q8 or exact");
    if (dt_cli_n_positional(&a) > 1)
        return dt_cli_usage("bench", k_usage);
    if (!model == !synthetic || (write_path && !synthetic))
        return dt_cli_usage("bench", k_usage);
    if (model)
        return bench_one(model, model, &p, (int)threads, json);
    const char *names[16];
    char list[256];
    size_t n_types = 0;
    snprintf(list, sizeof list, "%s", type_list);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n_types == 16 || !dt_bench_type_known(t)) {
            fprintf(stderr, "distiltrace: bench: unknown or too many types in '%s'\n", type_list);
            return DT_EXIT_USAGE;
        }
        names[n_types++] = t;
    }
    if (write_path) {
        if (n_types != 1) {
            fprintf(stderr, "distiltrace: bench: --write takes one type, not '%s'\n", type_list);
            return DT_EXIT_USAGE;
        }
        return write_synthetic(write_path, synthetic, names[0], (uint64_t)seed);
    }

    char dir[] = "/tmp/dt_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "distiltrace: cannot create a temporary directory\n");
        return DT_EXIT_RESOURCE;
    }
    int status = DT_EXIT_OK;
    for (size_t t = 0; t < n_types && status == DT_EXIT_OK; t++) {
        char path[256], label[128];
        snprintf(path, sizeof path, "%s/%s-%.31s.gguf", dir, synthetic, names[t]);
        snprintf(label, sizeof label, "synthetic %s %.31s", synthetic, names[t]);
        status = write_synthetic(path, synthetic, names[t], (uint64_t)seed);
        if (status == DT_EXIT_OK)
            status = bench_child(path, label, &p, (int)threads, json);
        unlink(path);
    }
    rmdir(dir);
    return status;
}

/*
 * `bench`'s measurements (run/bench.h). The machine's limits are measured after the model's
 * runs: a threaded sgemm leaves OpenBLAS's workers spinning for a while, which would steal the
 * core the single-threaded generation loop runs on.
 */
#include "run/bench.h"

#include "infer/compute.h"
#include "infer/model.h"
#include "util/log.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dt_bench_run(const char *path, const struct dt_bench_params *p, int threads,
                 struct dt_bench_run *out, struct dt_error *err)
{
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    memset(out, 0, sizeof *out);
    double t0 = dt_time_now();
    int rc = dt_model_open(path, &m, err);
    if (rc)
        return rc;
    out->load_s = dt_time_now() - t0;
    struct stat st;
    out->file_bytes = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
    rc = dt_ctx_new(m, threads, &x, err);
    if (rc == 0) {
        dt_ctx_set_scoring(x, (enum dt_scoring)p->scoring);
        out->scoring = dt_ctx_scoring_used(x);
        rc = dt_bench_model(x, p, &out->r, err);
    }
    dt_ctx_free(x);
    dt_model_free(m);
    if (rc)
        return rc;
    openblas_set_num_threads(threads);
    out->sgemm_gflop_s = dt_bench_sgemm_gflop_s(1024, 1024, 1024);
    out->read_gb_s = dt_bench_read_gb_s(threads, 512);
    /* generation reads every weight once per step */
    out->gen_limit_tok_s = out->r.weight_bytes > 0 ? out->read_gb_s * 1e9 / out->r.weight_bytes : 0;
    double load[1] = {-1};
    out->loadavg_1min = getloadavg(load, 1) < 1 ? -1 : load[0];
    out->n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return 0;
}

int dt_bench_type_known(const char *type)
{
    int ok = 0;
    dt_bench_type_from_name(type, &ok);
    return ok;
}

int dt_bench_synthetic(const char *path, const char *shape, const char *type, uint64_t seed,
                       struct dt_error *err)
{
    int ok = 0;
    uint32_t t = dt_bench_type_from_name(type, &ok);
    if (!ok)
        return dt_error_set(err, DT_EINVAL, "unknown tensor type '%s'", type);
    return dt_bench_write_synthetic(path, shape, t, seed, err);
}

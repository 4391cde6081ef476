/*
 * `distiltrace fingerprint MODEL --db D [--name N]`: registers a model's release fingerprint
 * (fingerprint/release.h) in the evidence store and prints its id.
 * `distiltrace verify MODEL --fingerprint ID|NAME --db D`: checks that a release artifact is
 * the registered model; exit 0 when it is, 1 when it is not, with a one-line reason.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "fingerprint/release.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "reports/store.h"
#include "util/alloc.h"

#include <cJSON.h>

#include <stdio.h>
#include <string.h>

static const char fp_usage[] = "distiltrace fingerprint MODEL --db D [--name NAME] [--threads N]";
static const char v_usage[] =
    "distiltrace verify MODEL --fingerprint ID|NAME --db D [--threads N] [--json]";

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

int cmd_fingerprint(int argc, char **argv)
{
    const char *db = NULL, *name = NULL, *model = NULL, *threads_s = NULL;
    for (int i = 1; i < argc;) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n\nRecords per-tensor hashes and samples, the tokenizer hash and "
                   "a behavioural sketch of MODEL;\nprints the fingerprint id for `verify`.\n",
                   fp_usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("fingerprint", argc, argv, &i, "--db", &db)) ||
            (r = dt_cli_opt("fingerprint", argc, argv, &i, "--name", &name)) ||
            (r = dt_cli_opt("fingerprint", argc, argv, &i, "--threads", &threads_s))) {
            if (r < 0)
                return DT_EXIT_USAGE;
            continue;
        }
        if (!model && argv[i][0] != '-') {
            model = argv[i++];
            continue;
        }
        return dt_cli_usage("fingerprint", fp_usage);
    }
    if (!db || !model)
        return dt_cli_usage("fingerprint", fp_usage);
    long threads = 0;
    if (threads_s && dt_cli_parse_int("fingerprint", "--threads", threads_s, 1, 256, &threads))
        return DT_EXIT_USAGE;
    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    struct dt_fingerprint *fp = NULL;
    struct dt_store *s = NULL;
    char *json = NULL;
    int64_t run_id = 0, model_id = 0, fp_id = 0;
    int rc = dt_model_open(model, &m, &err);
    if (rc == 0)
        rc = dt_ctx_new(m, (int)threads, &x, &err);
    if (rc == 0)
        rc = dt_fingerprint_compute(x, &fp, &err);
    if (rc == 0)
        rc = dt_fingerprint_to_json(fp, &json, &err);
    if (rc == 0)
        rc = dt_store_open(db, &s, &err);
    if (rc == 0)
        rc = dt_store_begin(s, &err);
    if (rc == 0) {
        struct dt_store_model sm = {name ? name : base_name(model),
                                    model,
                                    NULL,
                                    fp->arch,
                                    fp->n_params,
                                    fp->tokenizer_hash};
        if ((rc = dt_store_run_begin(s, argc, argv, NULL, (int)threads, &run_id, &err)) == 0 &&
            (rc = dt_store_model_upsert(s, &sm, &model_id, &err)) == 0 &&
            (rc = dt_store_fingerprint_insert(s, sm.name, model_id, run_id, (int64_t)fp->n_tensors,
                                              fp->tokenizer_hash, json, &fp_id, &err)) == 0 &&
            (rc = dt_store_run_end(s, run_id, 0, &err)) == 0)
            rc = dt_store_commit(s, &err);
        else
            dt_store_rollback(s);
    }
    if (rc == 0)
        printf("%lld\n", (long long)fp_id);
    if (rc == 0)
        fprintf(stderr, "distiltrace: fingerprint %lld of '%s': %zu tensors, %zu probes\n",
                (long long)fp_id, model, fp->n_tensors, fp->n_seqs);
    dt_free(json);
    dt_fingerprint_free(fp);
    dt_ctx_free(x);
    dt_model_free(m);
    dt_store_close(s);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

struct fp_load {
    char *json;
    char *name;
};

static int on_fp(void *ud, const struct dt_store_fingerprint_row *row)
{
    struct fp_load *l = ud;
    l->json = dt_strdup(row->data_json ? row->data_json : "");
    l->name = dt_strdup(row->name ? row->name : "");
    return l->json && l->name ? 0 : DT_ENOMEM;
}

int cmd_verify(int argc, char **argv)
{
    const char *db = NULL, *fid = NULL, *model = NULL, *threads_s = NULL;
    int json = 0;
    for (int i = 1; i < argc;) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n\nChecks that MODEL (a release artifact: a copy, re-encoding or "
                   "quantization) is the\nregistered model. Exit status: 0 it is, 1 it is not, "
                   "2 usage, 3 unreadable model,\n5 store error or no such fingerprint.\n",
                   v_usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("verify", argc, argv, &i, "--db", &db)) ||
            (r = dt_cli_opt("verify", argc, argv, &i, "--fingerprint", &fid)) ||
            (r = dt_cli_opt("verify", argc, argv, &i, "--threads", &threads_s))) {
            if (r < 0)
                return DT_EXIT_USAGE;
            continue;
        }
        if (dt_cli_flag(argc, argv, &i, "--json")) {
            json = 1;
            continue;
        }
        if (!model && argv[i][0] != '-') {
            model = argv[i++];
            continue;
        }
        return dt_cli_usage("verify", v_usage);
    }
    if (!db || !model || !fid)
        return dt_cli_usage("verify", v_usage);
    long threads = 0;
    if (threads_s && dt_cli_parse_int("verify", "--threads", threads_s, 1, 256, &threads))
        return DT_EXIT_USAGE;
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct fp_load l = {0};
    struct dt_fingerprint *fp = NULL;
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    struct dt_fingerprint_match res;
    int rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err);
    if (rc && err.code == DT_EIO)
        err.code = DT_EDB;
    if (rc == 0)
        rc = dt_store_fingerprint_get(s, fid, on_fp, &l, &err);
    if (rc == DT_ENOTFOUND)
        err.code = DT_EDB;
    if (rc == 0)
        rc = dt_fingerprint_from_json(l.json, strlen(l.json), &fp, &err);
    if (rc == 0)
        rc = dt_model_open(model, &m, &err);
    if (rc == 0)
        rc = dt_ctx_new(m, (int)threads, &x, &err);
    if (rc == 0)
        rc = dt_fingerprint_verify(fp, x, &res, &err);
    dt_store_close(s);
    dt_fingerprint_free(fp);
    dt_ctx_free(x);
    dt_model_free(m);
    if (rc) {
        dt_free(l.json);
        dt_free(l.name);
        return dt_cli_fail(&err);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        char *txt = NULL;
        if (o) {
            cJSON_AddBoolToObject(o, "same", res.same);
            cJSON_AddStringToObject(o, "fingerprint", l.name);
            cJSON_AddStringToObject(o, "reason", res.reason);
            cJSON_AddNumberToObject(o, "tensors", (double)res.n_tensors);
            cJSON_AddNumberToObject(o, "identical", (double)res.n_identical);
            cJSON_AddNumberToObject(o, "within_tolerance", (double)res.n_within_tol);
            cJSON_AddNumberToObject(o, "max_error_ratio", res.max_err_ratio);
            cJSON_AddNumberToObject(o, "behaviour_mean_abs", res.behaviour_mean_abs);
            cJSON_AddNumberToObject(o, "behaviour_tolerance", res.behaviour_tol);
            cJSON_AddNumberToObject(o, "top1_agreement", res.top1_agree);
            txt = cJSON_PrintUnformatted(o);
        }
        printf("%s\n", txt ? txt : "{}");
        cJSON_free(txt);
        cJSON_Delete(o);
    } else
        printf("%s: '%s' %s registered model '%s': %s\n", res.same ? "verified" : "REJECTED", model,
               res.same ? "is the" : "is not the", l.name, res.reason);
    dt_free(l.json);
    dt_free(l.name);
    return res.same ? DT_EXIT_OK : DT_EXIT_EVIDENCE;
}

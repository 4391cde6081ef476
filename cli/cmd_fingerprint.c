/*
 * `distiltrace fingerprint MODEL --db D [--name N]`: registers a model's release fingerprint
 * (run/release.h) in the evidence store and prints its id.
 * `distiltrace verify MODEL --fingerprint ID|NAME --db D`: checks that a release artifact is
 * the registered model; exit 0 when it is, 1 when it is not, with a one-line reason.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "run/release.h"
#include "util/alloc.h"

#include <cJSON.h>

#include <stdio.h>
#include <string.h>

static const char fp_usage[] = "distiltrace fingerprint MODEL --db D [--name NAME] [--threads N]";
static const char v_usage[] =
    "distiltrace verify MODEL --fingerprint ID|NAME --db D [--threads N] [--json]";

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
    struct dt_release_registration reg;
    if (dt_release_register(model, name, db, (int)threads, argc, argv, &reg, &err))
        return dt_cli_fail(&err);
    printf("%lld\n", (long long)reg.fingerprint_id);
    fprintf(stderr, "distiltrace: fingerprint %lld of '%s': %zu tensors, %zu probes\n",
            (long long)reg.fingerprint_id, model, reg.n_tensors, reg.n_probes);
    return DT_EXIT_OK;
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
    struct dt_fingerprint_match res;
    char *fp_name = NULL;
    if (dt_release_verify(model, db, fid, (int)threads, &res, &fp_name, &err))
        return dt_cli_fail(&err);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        char *txt = NULL;
        if (o) {
            cJSON_AddBoolToObject(o, "same", res.same);
            cJSON_AddStringToObject(o, "fingerprint", fp_name);
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
               res.same ? "is the" : "is not the", fp_name, res.reason);
    dt_free(fp_name);
    return res.same ? DT_EXIT_OK : DT_EXIT_EVIDENCE;
}

/*
 * `distiltrace fingerprint MODEL --db D [--name N]`: registers a model's release fingerprint
 * (run/release.h) in the evidence store and prints its id.
 * `distiltrace verify MODEL --fingerprint ID|NAME --db D`: checks that a release artifact is
 * the registered model; exit 0 when it is, 1 when it is not, with a one-line reason.
 */
#include "cli/args.h"
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
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "fingerprint", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL), *name = dt_cli_str(&a, "--name", NULL),
               *model = dt_cli_positional(&a, 0);
    if (!db || !model || dt_cli_n_positional(&a) != 1)
        return dt_cli_usage("fingerprint", fp_usage);
    long threads = 0;
    if (dt_cli_long(&a, "--threads", 1, 256, &threads))
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
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "verify", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL), *fid = dt_cli_str(&a, "--fingerprint", NULL),
               *model = dt_cli_positional(&a, 0);
    int json = dt_cli_has(&a, "--json");
    if (!db || !model || !fid || dt_cli_n_positional(&a) != 1)
        return dt_cli_usage("verify", v_usage);
    long threads = 0;
    if (dt_cli_long(&a, "--threads", 1, 256, &threads))
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

/*
 * `distiltrace check --policy policy.json [--db D] [--suspect MODEL] [--json]`: the
 * release-pipeline gate (run/check.h has the policy format and does the work). Prints one
 * line per banned teacher and the reports written, or one JSON document; exits 1 when any
 * verdict is one of the policy's fail_on relations, 0 when none is.
 */
#include "cli/args.h"
#include "cli/progress.h"
#include "cli/commands.h"
#include "run/check.h"
#include "util/log.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "distiltrace check --policy POLICY.json [--db D] [--suspect MODEL] [--json] [--progress]";

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

struct out {
    cJSON *results; /* --json: the results array; NULL: text */
};

static void on_started(void *ud, const struct dt_check *c, size_t t)
{
    (void)ud;
    fprintf(stderr,
            "distiltrace check: comparing %s with banned teacher %s (%zu of %zu, %zu "
            "controls)...\n",
            base_name(dt_check_suspect(c)), base_name(dt_check_teacher(c, t)), t + 1,
            dt_check_n_teachers(c), dt_check_n_controls(c));
}

static void on_done(void *ud, const struct dt_check *c, const struct dt_check_result *r)
{
    struct out *o = ud;
    dt_progress_clear();
    if (o->results) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "teacher", r->teacher);
        cJSON_AddStringToObject(j, "suspect", dt_check_suspect(c));
        cJSON_AddStringToObject(j, "relation", r->relation);
        cJSON_AddNumberToObject(j, "p_value", r->p_value);
        cJSON_AddNumberToObject(j, "alpha", r->alpha);
        cJSON_AddBoolToObject(j, "fails", r->fails);
        cJSON_AddNumberToObject(j, "run_id", (double)r->run_id);
        cJSON *rep = cJSON_AddObjectToObject(j, "reports");
        for (size_t i = 0; i < r->n_reports; i++)
            cJSON_AddStringToObject(rep, r->reports[i].format, r->reports[i].path);
        cJSON_AddItemToArray(o->results, j);
        return;
    }
    printf("%s: %s against banned teacher %s (p = %.2g, alpha %.2g) -> %s\n",
           base_name(dt_check_suspect(c)), r->relation, base_name(r->teacher), r->p_value,
           r->alpha, r->fails ? "FAIL" : "pass");
    for (size_t i = 0; i < r->n_reports; i++)
        printf("  %s report: %s\n", r->reports[i].format, r->reports[i].path);
    fflush(stdout);
}

int cmd_check_policy(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "check", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *policy_path = dt_cli_str(&a, "--policy", NULL),
               *db_opt = dt_cli_str(&a, "--db", NULL),
               *suspect_opt = dt_cli_str(&a, "--suspect", NULL);
    int json = dt_cli_has(&a, "--json");
    if (dt_cli_has(&a, "--progress"))
        dt_progress_forced = 1;
    if (!policy_path)
        return dt_cli_usage("check", usage);

    struct dt_error err = {0};
    struct dt_check *c = NULL;
    if (dt_check_open(policy_path, suspect_opt, db_opt, &c, &err))
        return dt_cli_fail(&err);
    cJSON *jdoc = json ? cJSON_CreateObject() : NULL;
    struct out o = {jdoc ? cJSON_AddArrayToObject(jdoc, "results") : NULL};
    struct dt_check_hooks hooks = {on_started, on_done, isatty(2) || dt_progress_forced ? dt_cli_progress : NULL, &o};
    int status = DT_EXIT_OK;
    if (json && !o.results) {
        fprintf(stderr, "distiltrace: out of memory\n");
        status = DT_EXIT_RESOURCE;
    } else if (dt_check_run(c, argc, argv, &hooks, &err)) {
        dt_progress_clear();
        status = dt_cli_fail(&err);
    } else if (jdoc) {
        cJSON_AddStringToObject(jdoc, "command", "check");
        cJSON_AddStringToObject(jdoc, "policy", policy_path);
        cJSON_AddStringToObject(jdoc, "db", dt_check_db_path(c));
        cJSON_AddBoolToObject(jdoc, "passed", !dt_check_failed(c));
        char *txt = cJSON_Print(jdoc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
    } else {
        printf("policy %s\n", dt_check_failed(c) ? "FAILED" : "passed");
    }
    if (status == DT_EXIT_OK && dt_check_failed(c))
        status = DT_EXIT_EVIDENCE;
    cJSON_Delete(jdoc);
    dt_check_free(c);
    return status;
}

/*
 * `distiltrace check --policy policy.json [--db D]`: the release-pipeline gate. Runs a
 * compare of the policy's suspect against each banned teacher (with the policy's controls),
 * records each in the evidence store, writes the reports the policy asks for, and exits 1
 * when any verdict is one of the policy's fail_on relations, 0 when none is.
 *
 * Policy (JSON; relative paths are relative to the policy file):
 *   {"suspect": "model.gguf", "teachers_banned": ["t.gguf", ...], "controls": [...],
 *    "alpha": 0.01, "fail_on": ["same-weights", "weight-derived", "distilled"],
 *    "chat_template": "<|user|>{prompt}<|assistant|>", "seed": 1, "threads": 2,
 *    "probes": {"identity": 40, "chat": 60, "text": 40}, "db": "evidence.db",
 *    "formats": {"junit": "out.xml", "sarif": "out.sarif", "html": "report.html",
 *                "md": "report.md", "json": "report.json"}}
 * With several banned teachers each report path gets "-TEACHER" before its extension.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "infer/model.h"
#include "detect/compare.h"
#include "reports/compare_out.h"
#include "reports/format.h"
#include "reports/report.h"
#include "reports/store.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "distiltrace check --policy POLICY.json [--db D] [--suspect MODEL]";

static const char *const relations[] = {"same-weights", "weight-derived", "distilled",
                                        "independent",  "inconclusive",   NULL};

struct policy {
    char *dir; /* the policy file's directory, for relative paths */
    cJSON *doc;
};

/* path resolved against the policy's directory (heap). */
static char *resolve(const struct policy *p, const char *path)
{
    if (path[0] == '/' || !p->dir)
        return dt_strdup(path);
    return dt_path_join(p->dir, path);
}

static int policy_error(const char *path, const char *msg)
{
    fprintf(stderr, "distiltrace check: policy '%s': %s\n", path, msg);
    return DT_EXIT_INPUT;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

/* "dir/report.html" + "teacher.gguf" -> "dir/report-teacher.html" (heap). */
static char *suffixed(const char *path, const char *teacher)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    char tname[128];
    snprintf(tname, sizeof tname, "%s", base_name(teacher));
    char *tdot = strrchr(tname, '.');
    if (tdot && tdot != tname)
        *tdot = '\0';
    if (!dot || (slash && dot < slash))
        dot = path + strlen(path);
    dt_strbuf_append(&sb, path, (size_t)(dot - path));
    dt_strbuf_printf(&sb, "-%s%s", tname, dot);
    return dt_strbuf_failed(&sb) ? NULL : dt_strbuf_detach(&sb, NULL);
}

static int strings(const cJSON *arr, const char **out, size_t max, size_t *n)
{
    const cJSON *it;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return -1;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || *n == max)
            return -1;
        out[(*n)++] = it->valuestring;
    }
    return 0;
}

#define MAX_MODELS 32

static void on_progress(void *ud, const char *stage, size_t done, size_t total)
{
    (void)ud;
    char label[64];
    snprintf(label, sizeof label, "%-20.20s", stage);
    dt_progress(label, done, total);
}

int cmd_check_policy(int argc, char **argv)
{
    const char *policy_path = NULL, *db_opt = NULL, *suspect_opt = NULL;
    int json = 0;
    for (int i = 1; i < argc;) {
        int r;
        if (!strcmp(argv[i], "--json")) {
            json = 1;
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n\nRuns the policy's suspect against each banned teacher, writes "
                   "the reports it names,\nand exits 1 when a verdict is in fail_on (0 when "
                   "none is; 2 usage, 3 bad policy or\ninput, 4 incompatible inputs, 5 store "
                   "error). The policy format is in README.md.\n",
                   usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("check", argc, argv, &i, "--policy", &policy_path)) ||
            (r = dt_cli_opt("check", argc, argv, &i, "--db", &db_opt)) ||
            (r = dt_cli_opt("check", argc, argv, &i, "--suspect", &suspect_opt))) {
            if (r < 0)
                return DT_EXIT_USAGE;
            continue;
        }
        return dt_cli_usage("check", usage);
    }
    if (!policy_path)
        return dt_cli_usage("check", usage);

    struct dt_error err = {0};
    char *text = NULL;
    size_t n_text = 0;
    if (dt_file_read_all(policy_path, (size_t)1 << 20, &text, &n_text, &err))
        return dt_cli_fail(&err);
    struct policy pol = {0};
    pol.doc = cJSON_ParseWithLength(text, n_text);
    dt_free(text);
    if (!cJSON_IsObject(pol.doc)) {
        cJSON_Delete(pol.doc);
        return policy_error(policy_path, "not a JSON object");
    }
    const char *slash = strrchr(policy_path, '/');
    pol.dir = slash ? dt_strndup(policy_path, (size_t)(slash - policy_path)) : NULL;

    int status = DT_EXIT_OK, any_fail = 0;
    cJSON *jdoc = json ? cJSON_CreateObject() : NULL;
    cJSON *jresults = jdoc ? cJSON_AddArrayToObject(jdoc, "results") : NULL;
    const char *teachers[MAX_MODELS], *controls[MAX_MODELS], *fail_on[8];
    size_t n_teachers = 0, n_controls = 0, n_fail_on = 0;
    char *paths[2 * MAX_MODELS + 2] = {0};
    size_t n_paths = 0;
    struct dt_store *store = NULL;
    const cJSON *doc = pol.doc;
    const cJSON *jsus = cJSON_GetObjectItemCaseSensitive(doc, "suspect");
    const cJSON *jfail = cJSON_GetObjectItemCaseSensitive(doc, "fail_on");
    const cJSON *jalpha = cJSON_GetObjectItemCaseSensitive(doc, "alpha");
    const cJSON *jfmt = cJSON_GetObjectItemCaseSensitive(doc, "formats");
    const cJSON *jtpl = cJSON_GetObjectItemCaseSensitive(doc, "chat_template");
    const cJSON *jdb = cJSON_GetObjectItemCaseSensitive(doc, "db");
    const cJSON *jprobes = cJSON_GetObjectItemCaseSensitive(doc, "probes");
    const char *suspect = suspect_opt ? suspect_opt : cJSON_GetStringValue(jsus);

    if (!suspect) {
        status = policy_error(policy_path, "needs \"suspect\" (a model path) or --suspect");
        goto done;
    }
    if (strings(cJSON_GetObjectItemCaseSensitive(doc, "teachers_banned"), teachers, MAX_MODELS,
                &n_teachers) ||
        n_teachers == 0) {
        status = policy_error(policy_path, "\"teachers_banned\" must be a non-empty array of "
                                           "model paths");
        goto done;
    }
    if (strings(cJSON_GetObjectItemCaseSensitive(doc, "controls"), controls, MAX_MODELS,
                &n_controls) ||
        n_controls == 0) {
        status = policy_error(policy_path, "\"controls\" must be a non-empty array of model "
                                           "paths (independent models)");
        goto done;
    }
    if (jfail) {
        if (strings(jfail, fail_on, 8, &n_fail_on)) {
            status = policy_error(policy_path, "\"fail_on\" must be an array of relations");
            goto done;
        }
        for (size_t i = 0; i < n_fail_on; i++) {
            int ok = 0;
            for (size_t k = 0; relations[k]; k++)
                ok |= !strcmp(fail_on[i], relations[k]);
            if (!ok) {
                status = policy_error(policy_path, "unknown relation in \"fail_on\"");
                goto done;
            }
        }
    } else {
        fail_on[0] = "same-weights";
        fail_on[1] = "weight-derived";
        fail_on[2] = "distilled";
        n_fail_on = 3;
    }
    if (jalpha &&
        (!cJSON_IsNumber(jalpha) || !(jalpha->valuedouble > 0) || !(jalpha->valuedouble < 1))) {
        status = policy_error(policy_path, "\"alpha\" must be a number in (0, 1)");
        goto done;
    }
    if (jfmt) {
        const cJSON *it;
        if (!cJSON_IsObject(jfmt)) {
            status = policy_error(policy_path, "\"formats\" must map format names to paths");
            goto done;
        }
        cJSON_ArrayForEach(it, jfmt)
        {
            if (!dt_report_format_parse(it->string) || !cJSON_IsString(it)) {
                char names[128], msg[192];
                dt_report_format_names(names, sizeof names, ", ");
                snprintf(msg, sizeof msg, "\"formats\" keys are %s and values paths", names);
                status = policy_error(policy_path, msg);
                goto done;
            }
        }
    }
    if (jtpl && !cJSON_IsString(jtpl)) {
        status = policy_error(policy_path, "\"chat_template\" must be a string");
        goto done;
    }

    struct dt_compare_params p;
    dt_compare_params_default(&p);
    if (isatty(2))
        p.progress = on_progress;
    if (jalpha)
        p.verdict.alpha = jalpha->valuedouble;
    if (jtpl)
        p.chat_template = jtpl->valuestring;
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(doc, "seed");
    if (cJSON_IsNumber(js) && js->valuedouble >= 0)
        p.seed = p.verdict.seed = (uint64_t)js->valuedouble;
    js = cJSON_GetObjectItemCaseSensitive(doc, "threads");
    if (cJSON_IsNumber(js) && js->valuedouble >= 1 && js->valuedouble <= 256)
        p.threads = (int)js->valuedouble;
    if (cJSON_IsObject(jprobes)) {
        const char *keys[] = {"identity", "chat", "text"};
        size_t *dst[] = {&p.n_identity, &p.n_chat, &p.n_text};
        for (int k = 0; k < 3; k++) {
            js = cJSON_GetObjectItemCaseSensitive(jprobes, keys[k]);
            if (cJSON_IsNumber(js) && js->valuedouble >= 1 && js->valuedouble <= 100000)
                *dst[k] = (size_t)js->valuedouble;
        }
    }

    /* resolve every path once */
    char *sus_path = suspect_opt ? dt_strdup(suspect_opt) : resolve(&pol, suspect);
    paths[n_paths++] = sus_path;
    struct dt_compare_input sus_in = {.model_path = sus_path};
    struct dt_compare_input ctl_in[MAX_MODELS];
    for (size_t i = 0; i < n_controls; i++) {
        paths[n_paths] = resolve(&pol, controls[i]);
        ctl_in[i] = (struct dt_compare_input){.model_path = paths[n_paths++]};
    }
    char *db_path =
        db_opt ? dt_strdup(db_opt)
               : resolve(&pol, cJSON_IsString(jdb) ? jdb->valuestring : "distiltrace-check.db");
    paths[n_paths++] = db_path;
    for (size_t i = 0; i < n_paths; i++)
        if (!paths[i]) {
            status = DT_EXIT_RESOURCE;
            fprintf(stderr, "distiltrace: out of memory\n");
            goto done;
        }
    /* Everything that can be checked before the work is checked before it: every model is
     * there, every report can be written (missing directories are created), so a run never
     * ends, after minutes of work, on a path typo. */
    for (size_t i = 0; i + 1 < n_paths; i++)
        if (!dt_path_exists(paths[i])) {
            fprintf(stderr, "distiltrace check: cannot read '%s': no such file or directory\n",
                    paths[i]);
            status = DT_EXIT_INPUT;
            goto done;
        }
    for (size_t t = 0; t < n_teachers; t++) {
        char *tpath = resolve(&pol, teachers[t]);
        int missing = tpath && !dt_path_exists(tpath);
        if (missing)
            fprintf(stderr, "distiltrace check: cannot read '%s': no such file or directory\n",
                    tpath);
        dt_free(tpath);
        if (!tpath || missing) {
            status = tpath ? DT_EXIT_INPUT : DT_EXIT_RESOURCE;
            goto done;
        }
    }
    if (jfmt) {
        const cJSON *it;
        cJSON_ArrayForEach(it, jfmt)
        {
            for (size_t t = 0; t < n_teachers; t++) {
                char *base = resolve(&pol, it->valuestring);
                char *tpath = resolve(&pol, teachers[t]);
                char *out = base && tpath && n_teachers > 1 ? suffixed(base, tpath) : base;
                int rc = out ? dt_file_prepare_output(out, &err)
                             : dt_error_set(&err, DT_ENOMEM, "out of memory");
                if (out != base)
                    dt_free(out);
                dt_free(base);
                dt_free(tpath);
                if (rc) {
                    status = dt_cli_fail(&err);
                    goto done;
                }
                if (n_teachers == 1)
                    break;
            }
        }
    }
    if (dt_file_prepare_output(db_path, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }
    if (dt_store_open(db_path, &store, &err)) {
        status = dt_cli_fail(&err);
        goto done;
    }

    for (size_t t = 0; t < n_teachers && status == DT_EXIT_OK; t++) {
        char *tpath = resolve(&pol, teachers[t]);
        struct dt_compare_input tin = {.model_path = tpath};
        struct dt_compare_result res;
        int64_t run_id = 0;
        uint64_t seed = p.seed;
        int rc = tpath ? 0 : DT_ENOMEM;
        if (rc == 0)
            fprintf(stderr, "distiltrace check: comparing %s with banned teacher %s (%zu of %zu, "
                    "%zu controls)...\n", base_name(sus_path), base_name(tpath), t + 1, n_teachers,
                    n_controls);
        if (rc == 0)
            rc = dt_store_run_begin(store, argc, argv, &seed,
                                          p.threads > 0 ? p.threads : DT_MODEL_DEFAULT_THREADS,
                                          &run_id, &err);
        if (rc == 0 &&
            (rc = dt_compare_run(&tin, 1, &sus_in, ctl_in, n_controls, &p, &res, &err)) != 0) {
            struct dt_error e2;
            dt_store_run_end(store, run_id, dt_exit_code_for(rc), &e2);
        }
        if (rc) {
            dt_free(tpath);
            status = dt_cli_fail(&err);
            break;
        }
        dt_progress_clear();
        rc = dt_compare_store(store, run_id, &res, &p, &err);
        const struct dt_verdict *v = &res.outcomes[res.i_best].verdict;
        const char *rel = dt_relation_name(v->relation);
        int fails = 0;
        for (size_t k = 0; k < n_fail_on; k++)
            fails |= !strcmp(rel, fail_on[k]);
        any_fail |= fails;
        struct dt_error e2;
        if (rc == 0)
            rc = dt_store_run_end(store, run_id, fails ? DT_EXIT_EVIDENCE : DT_EXIT_OK, &e2);
        cJSON *jres = NULL;
        if (jresults) {
            jres = cJSON_CreateObject();
            cJSON_AddStringToObject(jres, "teacher", tpath);
            cJSON_AddStringToObject(jres, "suspect", sus_path);
            cJSON_AddStringToObject(jres, "relation", rel);
            cJSON_AddNumberToObject(jres, "p_value", v->p_value);
            cJSON_AddNumberToObject(jres, "alpha", v->alpha);
            cJSON_AddBoolToObject(jres, "fails", fails);
            cJSON_AddNumberToObject(jres, "run_id", (double)run_id);
            cJSON_AddObjectToObject(jres, "reports");
            cJSON_AddItemToArray(jresults, jres);
        } else {
            printf("%s: %s against banned teacher %s (p = %.2g, alpha %.2g) -> %s\n",
                   base_name(sus_path), rel, base_name(tpath), v->p_value, v->alpha,
                   fails ? "FAIL" : "pass");
        }
        dt_compare_result_release(&res);
        if (rc) {
            dt_free(tpath);
            status = dt_cli_fail(&err);
            break;
        }
        /* the reports, rendered from the store like `report` does */
        const cJSON *it;
        struct dt_report *r = NULL;
        if (jfmt && ((rc = dt_report_load(store, run_id, &r, &err)) != 0 ||
                     (rc = dt_report_set_gate(r, fail_on, n_fail_on, &err)) != 0)) {
            dt_report_free(r);
            dt_free(tpath);
            status = dt_cli_fail(&err);
            break;
        }
        cJSON_ArrayForEach(it, jfmt)
        {
            struct dt_strbuf sb = DT_STRBUF_INIT;
            char *base = resolve(&pol, it->valuestring);
            char *out = base && n_teachers > 1 ? suffixed(base, tpath) : base;
            if (out != base)
                dt_free(base);
            rc = out ? dt_report_render(r, dt_report_format_parse(it->string), &sb, &err)
                     : dt_error_set(&err, DT_ENOMEM, "out of memory");
            if (rc == 0)
                rc = dt_file_write_all(out, sb.data, sb.len, &err);
            if (rc == 0 && jres)
                cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(jres, "reports"),
                                        it->string, out);
            else if (rc == 0)
                printf("  %s report: %s\n", it->string, out);
            dt_free(out);
            dt_strbuf_release(&sb);
            if (rc)
                break;
        }
        dt_report_free(r);
        dt_free(tpath);
        if (rc)
            status = dt_cli_fail(&err);
    }
    if (status == DT_EXIT_OK && any_fail)
        status = DT_EXIT_EVIDENCE;
    if (status <= DT_EXIT_EVIDENCE && jdoc) {
        cJSON_AddStringToObject(jdoc, "command", "check");
        cJSON_AddStringToObject(jdoc, "policy", policy_path);
        cJSON_AddStringToObject(jdoc, "db", db_path);
        cJSON_AddBoolToObject(jdoc, "passed", !any_fail);
        char *txt = cJSON_Print(jdoc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
    } else if (status <= DT_EXIT_EVIDENCE) {
        printf("policy %s\n", any_fail ? "FAILED" : "passed");
    }
done:
    cJSON_Delete(jdoc);
    dt_store_close(store);
    for (size_t i = 0; i < n_paths; i++)
        dt_free(paths[i]);
    dt_free(pol.dir);
    cJSON_Delete(pol.doc);
    return status;
}

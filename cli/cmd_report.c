/*
 * `distiltrace report RUN|latest --db D [--format FMT] [-o FILE]` (FMT: a row of the renderer
 * table, reports/format.h):
 * renders a run's report from the evidence store alone. `report --verify FILE --db D`
 * checks a report's integrity record against the store and the input files on disk.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "reports/format.h"
#include "reports/report.h"
#include "reports/store.h"
#include "reports/verify.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "distiltrace report RUN|latest --db D [--format FMT] [-o FILE]\n"
                            "       distiltrace report --verify FILE --db D [--json]";

static const char *state_name(enum dt_report_check_state st)
{
    switch (st) {
    case DT_REPORT_CHECK_OK:
        return "ok";
    case DT_REPORT_CHECK_MISMATCH:
        return "MISMATCH";
    case DT_REPORT_CHECK_MISSING:
        return "missing";
    }
    return "?";
}

static int verify(const char *db, const char *file, int json)
{
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    struct dt_report_verification v;
    char *data = NULL;
    size_t n = 0;
    int rc = dt_file_read_all(file, (size_t)1 << 30, &data, &n, &err);
    if (rc)
        return dt_cli_fail(&err);
    if ((rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err))) {
        dt_free(data);
        if (err.code == DT_EIO)
            err.code = DT_EDB;
        return dt_cli_fail(&err);
    }
    rc = dt_report_verify(s, data, n, &v, &err);
    dt_store_close(s);
    dt_free(data);
    if (rc) {
        dt_error_prefix(&err, "'%s'", file);
        return dt_cli_fail(&err);
    }
    int ok = dt_report_verification_ok(&v);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *files;
        cJSON_AddStringToObject(o, "command", "report --verify");
        cJSON_AddStringToObject(o, "report", file);
        cJSON_AddStringToObject(o, "format", v.format->name);
        cJSON_AddNumberToObject(o, "run_id", (double)v.run_id);
        cJSON_AddBoolToObject(o, "document_ok", v.body_ok);
        cJSON_AddBoolToObject(o, "run_found", v.run_found);
        cJSON_AddBoolToObject(o, "evidence_ok", v.evidence_ok);
        files = cJSON_AddArrayToObject(o, "inputs");
        for (size_t i = 0; files && i < v.n_files; i++) {
            const struct dt_report_file_check *f = &v.files[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", f->role ? f->role : "");
            cJSON_AddStringToObject(x, "name", f->name ? f->name : "");
            if (f->path)
                cJSON_AddStringToObject(x, "path", f->path);
            else
                cJSON_AddNullToObject(x, "path");
            cJSON_AddStringToObject(x, "store", state_name(f->store_state));
            cJSON_AddStringToObject(x, "file", state_name(f->file_state));
            cJSON_AddItemToArray(files, x);
        }
        cJSON_AddStringToObject(o, "result", !ok ? "not verified" : v.n_missing ? "partially verified" : "verified");
        char *txt = cJSON_Print(o);
        cJSON_Delete(o);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        dt_report_verification_release(&v);
        return ok ? DT_EXIT_OK : DT_EXIT_MISMATCH;
    }
    printf("report:    %s (%s, run %lld)\n", file, v.format->name,
           (long long)v.run_id);
    printf("document:  %s\n",
           v.body_ok ? "ok (digest matches)" : "MISMATCH (edited after rendering)");
    printf("store:     %s\n", !v.run_found    ? "MISMATCH (no such run in the store)"
                              : v.evidence_ok ? "ok (evidence digest matches)"
                                              : "MISMATCH (the run's evidence changed)");
    for (size_t i = 0; i < v.n_files; i++) {
        const struct dt_report_file_check *f = &v.files[i];
        printf("input:     %-8s %-20s store %-8s file %-8s %s\n", f->role, f->name ? f->name : "",
               state_name(f->store_state), state_name(f->file_state),
               f->path ? f->path : "(no path)");
    }
    if (ok && v.n_missing)
        printf("partially verified: the document and the store match; %d input file%s not at "
               "%s recorded path%s and not re-hashed\n",
               v.n_missing, v.n_missing == 1 ? " is" : "s are", v.n_missing == 1 ? "its" : "their",
               v.n_missing == 1 ? "" : "s");
    else if (ok)
        printf("verified\n");
    else
        printf("NOT verified\n");
    dt_report_verification_release(&v);
    return ok ? DT_EXIT_OK : DT_EXIT_MISMATCH;
}

int cmd_report(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "report", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL), *fmt = dt_cli_str_def(&a, "--format"),
               *out = dt_cli_str(&a, "--output", NULL), *check = dt_cli_str(&a, "--verify", NULL),
               *run = dt_cli_positional(&a, 0);
    int json = dt_cli_has(&a, "--json");
    /* one RUN; a dash argument (after "--") is no run */
    if (dt_cli_n_positional(&a) > 1 || (run && run[0] == '-'))
        return dt_cli_usage("report", usage);
    if (!db || (!check && !run) || (check && run))
        return dt_cli_usage("report", usage);
    if (check)
        return verify(db, check, json);
    const struct dt_report_format *f = dt_report_format_parse(fmt);
    if (!f) {
        char names[128];
        dt_report_format_names(names, sizeof names, ", ");
        fprintf(stderr, "distiltrace report: unknown format '%s' (%s)\n", fmt, names);
        return DT_EXIT_USAGE;
    }
    long run_id = 0;
    if (strcmp(run, "latest") && dt_cli_parse_int("report", "RUN", run, 1, 0x7fffffffL, &run_id))
        return DT_EXIT_USAGE;

    struct dt_store *s = NULL;
    struct dt_report *r = NULL;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    struct dt_error err = {0};
    int64_t id = run_id;
    int rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err);
    if (rc) {
        if (err.code == DT_EIO)
            err.code = DT_EDB;
        return dt_cli_fail(&err);
    }
    if (!run_id)
        rc = dt_store_latest_verdict_run(s, &id, &err);
    if (rc == 0)
        rc = dt_report_load(s, id, &r, &err);
    if (rc == 0)
        rc = dt_report_render(r, f, &sb, &err);
    if (rc == 0) {
        if (out)
            rc = dt_file_write_all(out, sb.data, sb.len, &err);
        else if (fwrite(sb.data, 1, sb.len, stdout) != sb.len || fflush(stdout) != 0)
            rc = dt_error_set(&err, DT_EIO, "cannot write the report to standard output");
    }
    dt_strbuf_release(&sb);
    dt_report_free(r);
    dt_store_close(s);
    if (rc)
        return dt_cli_fail(&err);
    if (out)
        fprintf(stderr, "distiltrace: wrote the %s report of run %lld to '%s'\n",
                f->name, (long long)id, out);
    return DT_EXIT_OK;
}

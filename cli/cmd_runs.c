/*
 * `distiltrace runs list|show`: the runs recorded in an evidence store, with what each wrote.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "reports/store.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The store keeps 'running', 'ok', 'failed'; a run whose process died before ending it is
 * stored as failed with exit status 130 and shown as interrupted. */
static const char *shown_status(const struct dt_store_run *r)
{
    if (r->status && !strcmp(r->status, "failed") && r->has_exit_code &&
        r->exit_code == DT_EXIT_INTERRUPTED)
        return "interrupted";
    return r->status ? r->status : "";
}

static const char usage[] = "distiltrace runs list --db D [--json] | runs show --db D RUN [--json]";

static char *run_json(const struct dt_store_run *r)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "command", r->command ? r->command : "");
    cJSON *argv = cJSON_Parse(r->argv_json ? r->argv_json : "[]");
    if (argv)
        cJSON_AddItemToObject(o, "argv", argv);
    cJSON_AddStringToObject(o, "tool_version", r->tool_version ? r->tool_version : "");
    if (r->host)
        cJSON_AddStringToObject(o, "host", r->host);
    cJSON_AddStringToObject(o, "started_at", r->started_at ? r->started_at : "");
    if (r->ended_at)
        cJSON_AddStringToObject(o, "ended_at", r->ended_at);
    else
        cJSON_AddNullToObject(o, "ended_at");
    cJSON_AddStringToObject(o, "status", shown_status(r));
    if (r->has_seed) {
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, r->seed);
        cJSON_AddStringToObject(o, "seed", seed);
    }
    if (r->threads)
        cJSON_AddNumberToObject(o, "threads", r->threads);
    if (r->has_exit_code)
        cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
    cJSON_AddNumberToObject(o, "observations", (double)r->n_observations);
    cJSON_AddNumberToObject(o, "signals", (double)r->n_signals);
    cJSON_AddNumberToObject(o, "verdicts", (double)r->n_verdicts);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

struct list_ctx {
    int json, n;
};

static int print_run(void *ud, const struct dt_store_run *r)
{
    struct list_ctx *c = ud;
    if (c->json) {
        char *s = run_json(r);
        if (!s)
            return DT_ENOMEM;
        printf("%s%s", c->n++ ? ",\n " : "", s);
        cJSON_free(s);
        return 0;
    }
    if (c->n++ == 0)
        printf("%-5s %-12s %-11s %-24s %-24s %6s %6s %6s\n", "id", "command", "status", "started",
               "ended", "obs", "sig", "verd");
    printf("%-5lld %-12s %-11s %-24s %-24s %6lld %6lld %6lld\n", (long long)r->id, r->command,
           shown_status(r), r->started_at, r->ended_at ? r->ended_at : "-", (long long)r->n_observations,
           (long long)r->n_signals, (long long)r->n_verdicts);
    return 0;
}

static int print_run_detail(void *ud, const struct dt_store_run *r)
{
    struct list_ctx *c = ud;
    if (c->json) {
        char *s = run_json(r);
        if (!s)
            return DT_ENOMEM;
        fputs(s, stdout);
        cJSON_free(s);
        return 0;
    }
    printf("run %lld\n  command:      %s\n  command line: %s\n  tool version: %s\n  host:         "
           "%s (pid %lld)\n  started:      %s\n  ended:        %s\n  status:       %s",
           (long long)r->id, r->command, r->argv_json, r->tool_version, r->host ? r->host : "-",
           (long long)r->pid, r->started_at, r->ended_at ? r->ended_at : "-", shown_status(r));
    if (r->has_exit_code)
        printf(" (exit %d)", r->exit_code);
    printf("\n");
    if (r->has_seed)
        printf("  seed:         %" PRIu64 "\n", r->seed);
    if (r->threads)
        printf("  threads:      %d\n", r->threads);
    printf("  observations: %lld\n  signals:      %lld\n  verdicts:     %lld\n",
           (long long)r->n_observations, (long long)r->n_signals, (long long)r->n_verdicts);
    return 0;
}

static int print_collection(void *ud, const struct dt_store_collection_row *r)
{
    struct list_ctx *c = ud;
    if (c->n++ == 0)
        printf("  collections:\n");
    printf("    %lld  model '%s'  %s  %lld observations  %s\n", (long long)r->id, r->model_name,
           r->source, (long long)r->n_observations, r->params_json);
    return 0;
}

static int print_signal(void *ud, const struct dt_store_signal *g)
{
    struct list_ctx *c = ud;
    if (c->n++ == 0)
        printf("  signals:\n");
    printf("    %-28s statistic %-10.4g p %-10.3g %s\n", g->name, g->statistic, g->p_value,
           g->test ? g->test : "");
    return 0;
}

static int print_verdict(void *ud, const struct dt_store_verdict *v)
{
    struct list_ctx *c = ud;
    if (c->n++ == 0)
        printf("  verdicts:\n");
    printf("    %s (p %.3g, alpha %.3g)%s%s\n", v->relation, v->p_value, v->alpha,
           v->rationale ? ": " : "", v->rationale ? v->rationale : "");
    return 0;
}

int cmd_runs(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "show")))
        return dt_cli_usage("runs", usage);
    int show = !strcmp(argv[1], "show");
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, show ? "runs show" : "runs list", argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL), *run = dt_cli_positional(&a, 0);
    int json = dt_cli_has(&a, "--json");
    if (dt_cli_n_positional(&a) > (show ? 1 : 0))
        return dt_cli_usage("runs", usage);
    if (!db || (show && !run))
        return dt_cli_usage("runs", usage);
    long run_id = 0;
    if (show && dt_cli_parse_int("runs show", "RUN", run, 1, 0x7fffffffL, &run_id))
        return DT_EXIT_USAGE;
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    struct list_ctx ctx = {json, 0};
    int rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err);
    if (rc) {
        if (err.code == DT_EIO)
            err.code = DT_EDB;
        return dt_cli_fail(&err);
    }
    if (!show) {
        if (json)
            printf("[");
        rc = dt_store_runs_list(s, print_run, &ctx, &err);
        if (json)
            printf("]\n");
        else if (rc == 0 && ctx.n == 0)
            printf("no runs in '%s'\n", db);
    } else {
        rc = dt_store_run_get(s, run_id, print_run_detail, &ctx, &err);
        if (rc == 0 && json)
            printf("\n");
        if (rc == 0 && !json) {
            ctx.n = 0;
            rc = dt_store_collections_list(s, 0, run_id, print_collection, &ctx, &err);
            ctx.n = 0;
            if (rc == 0)
                rc = dt_store_signals_list(s, run_id, print_signal, &ctx, &err);
            ctx.n = 0;
            if (rc == 0)
                rc = dt_store_verdicts_list(s, run_id, print_verdict, &ctx, &err);
        }
    }
    dt_store_close(s);
    if (rc) {
        if (rc == DT_ENOMEM && !err.msg[0])
            dt_error_set(&err, DT_ENOMEM, "out of memory");
        return dt_cli_fail(&err);
    }
    return DT_EXIT_OK;
}

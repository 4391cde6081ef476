/*
 * `distiltrace db check`: integrity, foreign keys, application_id and schema version of an
 * evidence store (exit 0 ok, 5 not). `db schema` prints the schema SQL.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "reports/merge.h"
#include "reports/schema.h"
#include "reports/store.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static int cmd_check(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "db check", argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL);
    int json = dt_cli_has(&a, "--json");
    if (!db)
        return dt_cli_usage("db check", "distiltrace db check --db D [--json]");
    struct dt_store *s = NULL;
    struct dt_error err = {0}, cerr = {0};
    struct dt_store_check c;
    int rc = dt_store_open_flags(db, DT_STORE_NO_CREATE | DT_STORE_NO_MIGRATE, &s, &err);
    if (rc) {
        if (err.code == DT_EIO)
            err.code = DT_EDB;
        return dt_cli_fail(&err);
    }
    rc = dt_store_check(s, &c, &cerr);
    dt_store_close(s);
    if (rc && c.expected_version == 0)
        return dt_cli_fail(&cerr);
    if (json)
        printf("{\"ok\": %s, \"user_version\": %d, \"expected_version\": %d, "
               "\"application_id\": %u, \"integrity\": \"%s\", \"foreign_key_violations\": "
               "%lld}\n",
               rc ? "false" : "true", c.user_version, c.expected_version, c.application_id,
               c.integrity_ok ? "ok" : "failed", (long long)c.n_fk_violations);
    else
        printf("%s: schema version %d (expected %d), application_id 0x%08x, integrity %s, "
               "%lld foreign key violations\n",
               db, c.user_version, c.expected_version, c.application_id,
               c.integrity_ok ? "ok" : c.integrity_msg, (long long)c.n_fk_violations);
    if (rc)
        return dt_cli_fail(&cerr);
    return DT_EXIT_OK;
}

static const char merge_usage[] = "distiltrace db merge --db D --from D2 [--from D3 ...]";

/* db merge: each source in its own transaction, in the order given. */
static int cmd_merge(int argc, char **argv)
{
    struct dt_cli_args a;
    const char **from = NULL;
    if (dt_cli_args_init(&a, "db merge", argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL);
    int n_from = dt_cli_all(&a, "--from", &from);
    if (n_from < 0) {
        fprintf(stderr, "distiltrace: out of memory\n");
        return DT_EXIT_RESOURCE;
    }
    if (!db || n_from == 0) {
        dt_free(from);
        return dt_cli_usage("db merge", merge_usage);
    }
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    int rc = dt_store_open(db, &s, &err);
    for (int k = 0; rc == 0 && k < n_from; k++) {
        struct dt_store_merge_stats st;
        if ((rc = dt_store_merge(s, from[k], &st, &err)))
            break;
        printf("merged '%s' into '%s': %lld models, %lld probes, %lld corpora, %lld runs, "
               "%lld collections, %lld observations, %lld signals, %lld verdicts, %lld panel "
               "members added\n",
               from[k], db, (long long)st.n_models, (long long)st.n_probes,
               (long long)st.n_corpora, (long long)st.n_runs, (long long)st.n_collections,
               (long long)st.n_observations, (long long)st.n_signals, (long long)st.n_verdicts,
               (long long)st.n_panel_members);
    }
    dt_store_close(s);
    dt_free(from);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

int cmd_db(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "merge"))
        return cmd_merge(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return cmd_check(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "schema")) {
        for (int v = 0; v < dt_store_n_migrations; v++) {
            printf("-- migration %d (PRAGMA user_version = %d)\n", v + 1, v + 1);
            for (const char *const *q = dt_store_migrations[v]; *q; q++)
                fputs(*q, stdout);
        }
        return DT_EXIT_OK;
    }
    return dt_cli_usage("db", "distiltrace db check --db D [--json] | db schema | db merge --db D --from D2");
}

/*
 * `distiltrace db check`: integrity, foreign keys, application_id and schema version of an
 * evidence store (exit 0 ok, 5 not). `db schema` prints the schema SQL.
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "reports/schema.h"
#include "reports/store.h"

#include <stdio.h>
#include <string.h>

static int cmd_check(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    for (int i = 2; i < argc;) {
        int r = dt_cli_opt("db check", argc, argv, &i, "--db", &db);
        if (r < 0)
            return DT_EXIT_USAGE;
        if (r == 0 && !(json = json || dt_cli_flag(argc, argv, &i, "--json")))
            return dt_cli_usage("db check", "distiltrace db check --db D [--json]");
    }
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

int cmd_db(int argc, char **argv)
{
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
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: distiltrace db check --db D [--json]\n       distiltrace db schema\n");
        return DT_EXIT_OK;
    }
    return dt_cli_usage("db", "distiltrace db check --db D [--json] | db schema");
}

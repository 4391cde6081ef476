/* Control panels (see panel.h): the panel_members table of an evidence store. */
#include "reports/panel.h"

#include "reports/store.h"
#include "util/error.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int sql_fail(struct dt_store *s, const char *what, struct dt_error *err)
{
    return dt_error_set(err, DT_EDB, "'%s': %s: %s", dt_store_path(s), what,
                        sqlite3_errmsg(dt_store_sqlite(s)));
}

static int prepare(struct dt_store *s, const char *sql, sqlite3_stmt **st, const char *what,
                   struct dt_error *err)
{
    if (sqlite3_prepare_v2(dt_store_sqlite(s), sql, -1, st, NULL) != SQLITE_OK) {
        int rc = sql_fail(s, what, err);
        sqlite3_finalize(*st);
        *st = NULL;
        return rc;
    }
    return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int dt_panel_member_add(struct dt_store *s, const char *name, int64_t model_id, const char *source,
                        const char *location, const char *chat_template, const char *settings_json,
                        int64_t run_id, int *existed, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = dt_store_begin(s, err);
    if (rc)
        return rc;
    *existed = 0;
    if ((rc = prepare(s, "SELECT model_id FROM panel_members WHERE name = ?1", &st,
                      "looking up a panel member", err)))
        goto fail;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        int64_t have = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (have != model_id) {
            rc = dt_error_set(err, DT_EMISMATCH,
                              "panel '%s' already has a member '%s' with another model: "
                              "remove it first or choose another --name",
                              dt_store_path(s), name);
            goto fail;
        }
        *existed = 1;
        return dt_store_commit(s, err);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        rc = sql_fail(s, "looking up a panel member", err);
        goto fail;
    }
    if ((rc = prepare(s,
                      "INSERT INTO panel_members (name, model_id, source, location, chat_template,"
                      " settings, run_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                      " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                      &st, "recording a panel member", err)))
        goto fail;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, model_id);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, location, -1, SQLITE_TRANSIENT);
    bind_opt(st, 5, chat_template);
    sqlite3_bind_text(st, 6, settings_json ? settings_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, run_id);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        rc = sql_fail(s, "recording a panel member", err);
        goto fail;
    }
    return dt_store_commit(s, err);
fail:
    dt_store_rollback(s);
    return rc;
}

static const char sql_members[] =
    "SELECT pm.id, pm.model_id, pm.run_id, pm.name, pm.source, pm.location, pm.chat_template,"
    " pm.settings, pm.created_at, m.key, m.path, m.sha256, m.xxh128, m.tokenizer_hash, m.format,"
    " m.size_bytes, (SELECT count(*) FROM observations o JOIN collections c"
    " ON c.id = o.collection_id WHERE c.model_id = pm.model_id)"
    " FROM panel_members pm JOIN models m ON m.id = pm.model_id ORDER BY pm.id";

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int dt_panel_members_list(struct dt_store *s, dt_panel_member_cb cb, void *ud,
                          struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, sql_members, &st, "listing panel members", err), r;
    if (rc)
        return rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_panel_member m = {0};
        m.id = sqlite3_column_int64(st, 0);
        m.model_id = sqlite3_column_int64(st, 1);
        m.run_id = sqlite3_column_int64(st, 2);
        m.name = col(st, 3);
        m.source = col(st, 4);
        m.location = col(st, 5);
        m.chat_template = col(st, 6);
        m.settings_json = col(st, 7);
        m.created_at = col(st, 8);
        m.model_key = col(st, 9);
        m.model_path = col(st, 10);
        m.sha256 = col(st, 11);
        m.xxh128 = col(st, 12);
        m.tokenizer_hash = col(st, 13);
        m.format = col(st, 14);
        m.size_bytes = sqlite3_column_type(st, 15) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 15);
        m.n_answers = sqlite3_column_int64(st, 16);
        if ((rc = cb(ud, &m)) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = sql_fail(s, "listing panel members", err);
    sqlite3_finalize(st);
    return rc;
}

int dt_panel_member_remove(struct dt_store *s, const char *name, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = dt_store_begin(s, err);
    if (rc)
        return rc;
    if ((rc = prepare(s, "SELECT id, model_id FROM panel_members WHERE name = ?1", &st,
                      "looking up a panel member", err)))
        goto fail;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    int64_t id = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int64_t model = r == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? dt_error_set(err, DT_ENOTFOUND, "panel '%s' has no member '%s'",
                                             dt_store_path(s), name)
                              : sql_fail(s, "looking up a panel member", err);
        goto fail;
    }
    const char *steps[] = {
        "DELETE FROM panel_members WHERE id = ?1",
        /* the answers go with the member, unless another member shares its model */
        "DELETE FROM collections WHERE model_id = ?2 AND NOT EXISTS"
        " (SELECT 1 FROM panel_members WHERE model_id = ?2)",
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        if ((rc = prepare(s, steps[i], &st, "removing a panel member", err)))
            goto fail;
        if (i == 0)
            sqlite3_bind_int64(st, 1, id);
        else
            sqlite3_bind_int64(st, 2, model);
        r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE) {
            rc = sql_fail(s, "removing a panel member", err);
            goto fail;
        }
    }
    return dt_store_commit(s, err);
fail:
    dt_store_rollback(s);
    return rc;
}

int dt_panel_member_answers(struct dt_store *s, int64_t model_id, struct dt_sample_set *out,
                            struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "SELECT id FROM collections WHERE model_id = ?1 ORDER BY id", &st,
                     "listing a member's collections", err), r;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, model_id);
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = dt_store_observations_load(s, sqlite3_column_int64(st, 0), out, err);
    if (rc == 0 && r != SQLITE_DONE)
        rc = sql_fail(s, "listing a member's collections", err);
    sqlite3_finalize(st);
    return rc;
}

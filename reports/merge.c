/*
 * db merge (see merge.h): the source is ATTACHed as "src" and copied with INSERT ... SELECT
 * statements in dependency order (models, probes, corpora, runs, collections, observations,
 * signals, verdicts, panel members), each step building a TEMP id map (src id -> destination id) that later
 * steps join through. Everything between ATTACH and DETACH runs in one IMMEDIATE transaction,
 * so a failed merge leaves the destination as it was. Work is proportional to the source's
 * rows; blobs are copied by SQLite without passing through C.
 */
#include "reports/merge.h"

#include "reports/schema.h"
#include "reports/store.h"
#include "util/error.h"
#include "util/file.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int exec(sqlite3 *db, const char *sql, const char *what, int64_t *changes,
                struct dt_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = dt_error_set(err, DT_EDB, "merge: %s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    if (changes)
        *changes += sqlite3_changes(db);
    return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        rc = dt_error_set(err, DT_EDB, "merge: '%s': %s", sql, sqlite3_errmsg(db));
    else
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* The steps, in order. Each INSERT skips rows whose identity already exists in main. */
static const struct step {
    const char *what;
    const char *sql;
    int counter; /* index into the stats, -1: none */
} steps[] = {
    {"models",
     "INSERT OR IGNORE INTO main.models (key, name, path, size_bytes, sha256, xxh128, format, "
     "arch, n_params, tokenizer_hash, created_at) SELECT key, name, path, size_bytes, sha256, "
     "xxh128, format, arch, n_params, tokenizer_hash, created_at FROM src.models ORDER BY id",
     0},
    {"model ids",
     "CREATE TEMP TABLE map_models AS SELECT s.id AS src, m.id AS dst FROM src.models s "
     "JOIN main.models m ON m.key = s.key",
     -1},
    {"probes",
     "INSERT OR IGNORE INTO main.probes (xxh128, kind, text, lang) SELECT xxh128, kind, text, "
     "lang FROM src.probes ORDER BY id",
     1},
    {"probe ids",
     "CREATE TEMP TABLE map_probes AS SELECT s.id AS src, m.id AS dst FROM src.probes s "
     "JOIN main.probes m ON m.xxh128 = s.xxh128",
     -1},
    {"corpus list",
     "CREATE TEMP TABLE new_corpora AS SELECT s.id AS src FROM src.corpora s WHERE NOT EXISTS "
     "(SELECT 1 FROM main.corpora m WHERE m.xxh128 = s.xxh128)",
     -1},
    {"corpora",
     "INSERT INTO main.corpora (xxh128, name, source, n_probes, created_at) SELECT xxh128, name, "
     "source, n_probes, created_at FROM src.corpora WHERE id IN (SELECT src FROM new_corpora) "
     "ORDER BY id",
     2},
    {"corpus ids",
     "CREATE TEMP TABLE map_corpora AS SELECT s.id AS src, m.id AS dst FROM src.corpora s "
     "JOIN main.corpora m ON m.xxh128 = s.xxh128",
     -1},
    {"corpus probes",
     "INSERT INTO main.corpus_probes (corpus_id, position, probe_id) SELECT mc.dst, cp.position, "
     "mp.dst FROM src.corpus_probes cp JOIN map_corpora mc ON mc.src = cp.corpus_id "
     "JOIN map_probes mp ON mp.src = cp.probe_id WHERE cp.corpus_id IN (SELECT src FROM "
     "new_corpora)",
     -1},
    {"run list",
     "CREATE TEMP TABLE new_runs AS SELECT s.id AS src FROM src.runs s WHERE NOT EXISTS "
     "(SELECT 1 FROM main.runs m WHERE m.command = s.command AND m.argv = s.argv AND "
     "m.started_at = s.started_at AND m.host IS s.host AND m.pid IS s.pid)",
     -1},
    {"runs",
     "INSERT INTO main.runs (command, argv, tool_version, seed, threads, host, pid, started_at, "
     "ended_at, status, exit_code) SELECT command, argv, tool_version, seed, threads, host, pid, "
     "started_at, ended_at, status, exit_code FROM src.runs WHERE id IN (SELECT src FROM "
     "new_runs) ORDER BY id",
     3},
    {"run ids",
     "CREATE TEMP TABLE map_runs AS SELECT s.id AS src, (SELECT min(m.id) FROM main.runs m "
     "WHERE m.command = s.command AND m.argv = s.argv AND m.started_at = s.started_at AND "
     "m.host IS s.host AND m.pid IS s.pid) AS dst FROM src.runs s",
     -1},
    {"collections",
     "INSERT OR IGNORE INTO main.collections (key, model_id, corpus_id, source, params, run_id, "
     "created_at) SELECT c.key, mm.dst, mc.dst, c.source, c.params, mr.dst, c.created_at FROM "
     "src.collections c JOIN map_models mm ON mm.src = c.model_id JOIN map_runs mr ON "
     "mr.src = c.run_id LEFT JOIN map_corpora mc ON mc.src = c.corpus_id ORDER BY c.id",
     4},
    {"collection ids",
     "CREATE TEMP TABLE map_collections AS SELECT s.id AS src, m.id AS dst FROM src.collections "
     "s JOIN main.collections m ON m.key = s.key",
     -1},
    {"observations",
     "INSERT OR IGNORE INTO main.observations (collection_id, run_id, probe_id, sample_index, "
     "source_ref, response, finish_reason, has_logprobs, n_tokens, tokens, logprobs, top_k, "
     "created_at) SELECT mcol.dst, mr.dst, mp.dst, o.sample_index, o.source_ref, o.response, "
     "o.finish_reason, o.has_logprobs, o.n_tokens, o.tokens, o.logprobs, o.top_k, o.created_at "
     "FROM src.observations o JOIN map_collections mcol ON mcol.src = o.collection_id JOIN "
     "map_runs mr ON mr.src = o.run_id JOIN map_probes mp ON mp.src = o.probe_id ORDER BY o.id",
     5},
    {"signals",
     "INSERT INTO main.signals (run_id, name, teacher_model_id, suspect_model_id, test, "
     "statistic, p_value, ci_low, ci_high, effect, n, details, created_at) SELECT mr.dst, s.name, "
     "mt.dst, ms.dst, s.test, s.statistic, s.p_value, s.ci_low, s.ci_high, s.effect, s.n, "
     "s.details, s.created_at FROM src.signals s JOIN map_runs mr ON mr.src = s.run_id LEFT "
     "JOIN map_models mt ON mt.src = s.teacher_model_id LEFT JOIN map_models ms ON "
     "ms.src = s.suspect_model_id WHERE s.run_id IN (SELECT src FROM new_runs) ORDER BY s.id",
     6},
    {"verdicts",
     "INSERT INTO main.verdicts (run_id, teacher_model_id, suspect_model_id, relation, p_value, "
     "alpha, rationale, details, created_at) SELECT mr.dst, mt.dst, ms.dst, v.relation, "
     "v.p_value, v.alpha, v.rationale, v.details, v.created_at FROM src.verdicts v JOIN map_runs "
     "mr ON mr.src = v.run_id LEFT JOIN map_models mt ON mt.src = v.teacher_model_id LEFT JOIN "
     "map_models ms ON ms.src = v.suspect_model_id WHERE v.run_id IN (SELECT src FROM new_runs) "
     "ORDER BY v.id",
     7},
    {"panel members",
     "INSERT OR IGNORE INTO main.panel_members (name, model_id, source, location, chat_template, "
     "settings, run_id, created_at) SELECT pm.name, mm.dst, pm.source, pm.location, "
     "pm.chat_template, pm.settings, mr.dst, pm.created_at FROM src.panel_members pm JOIN "
     "map_models mm ON mm.src = pm.model_id JOIN map_runs mr ON mr.src = pm.run_id ORDER BY pm.id",
     8},
};

/* A panel member of the source whose name the destination gives to another model: merging
 * would keep one of the two silently, so the merge fails naming it. */
static int panel_conflict(sqlite3 *db, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT s.name FROM src.panel_members s JOIN main.panel_members m ON "
                           "m.name = s.name JOIN map_models mm ON mm.src = s.model_id WHERE "
                           "m.model_id != mm.dst ORDER BY s.id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return dt_error_set(err, DT_EDB, "merge: panel members: %s", sqlite3_errmsg(db));
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = dt_error_set(err, DT_EMISMATCH,
                          "merge: panel member '%s' is another model in the destination "
                          "(remove or rename one of them first)",
                          (const char *)sqlite3_column_text(st, 0));
    else if (step != SQLITE_DONE)
        rc = dt_error_set(err, DT_EDB, "merge: panel members: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static const char drop_temp[] =
    "DROP TABLE IF EXISTS temp.map_models; DROP TABLE IF EXISTS temp.map_probes;"
    "DROP TABLE IF EXISTS temp.new_corpora; DROP TABLE IF EXISTS temp.map_corpora;"
    "DROP TABLE IF EXISTS temp.new_runs; DROP TABLE IF EXISTS temp.map_runs;"
    "DROP TABLE IF EXISTS temp.map_collections;";

int dt_store_merge(struct dt_store *s, const char *src_path, struct dt_store_merge_stats *stats,
                   struct dt_error *err)
{
    sqlite3 *db = dt_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    struct dt_store_merge_stats sum = {0};
    int64_t *counters[] = {&sum.n_models,       &sum.n_probes,       &sum.n_corpora,
                           &sum.n_runs,         &sum.n_collections,  &sum.n_observations,
                           &sum.n_signals,      &sum.n_verdicts,     &sum.n_panel_members};
    int rc = 0, attached = 0, in_tx = 0;
    int64_t app = 0, ver = 0;
    if (!dt_path_exists(src_path) || dt_path_is_dir(src_path))
        return dt_error_set(err, DT_EIO, "evidence store '%s' does not exist", src_path);
    if (sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS src", -1, &st, NULL) != SQLITE_OK) {
        rc = dt_error_set(err, DT_EDB, "merge: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_text(st, 1, src_path, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = dt_error_set(err, DT_EDB, "cannot open '%s': %s", src_path, sqlite3_errmsg(db));
        goto done;
    }
    attached = 1;
    if ((rc = pragma_int(db, "PRAGMA src.application_id", &app, err)) ||
        (rc = pragma_int(db, "PRAGMA src.user_version", &ver, err)))
        goto done;
    if ((uint32_t)app != DT_STORE_APPLICATION_ID) {
        rc = dt_error_set(err, DT_EDB, "'%s' is not a distiltrace evidence store "
                          "(application_id 0x%08x)", src_path, (unsigned)app);
        goto done;
    }
    if (ver != dt_store_n_migrations) {
        rc = dt_error_set(err, DT_EMISMATCH,
                          "'%s' has schema version %lld, this store %d: open it with this "
                          "version of distiltrace first to migrate it",
                          src_path, (long long)ver, dt_store_n_migrations);
        goto done;
    }
    if ((rc = dt_store_begin(s, err)))
        goto done;
    in_tx = 1;
    if ((rc = exec(db, drop_temp, "temporary tables", NULL, err)))
        goto done;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        int64_t *c = steps[i].counter >= 0 ? counters[steps[i].counter] : NULL;
        if (c == &sum.n_panel_members && (rc = panel_conflict(db, err)))
            goto done;
        if ((rc = exec(db, steps[i].sql, steps[i].what, c, err)))
            goto done;
    }
    if ((rc = exec(db, drop_temp, "temporary tables", NULL, err)) ||
        (rc = dt_store_commit(s, err)))
        goto done;
    in_tx = 0;
done:
    if (in_tx)
        dt_store_rollback(s);
    sqlite3_finalize(st);
    if (attached) {
        char *msg = NULL;
        sqlite3_exec(db, drop_temp, NULL, NULL, NULL);
        sqlite3_exec(db, "DETACH DATABASE src", NULL, NULL, &msg);
        sqlite3_free(msg);
    }
    if (rc == 0 && stats)
        *stats = sum;
    return rc;
}

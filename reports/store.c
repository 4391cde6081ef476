/*
 * The SQLite evidence store (see store.h). Every value reaches SQLite through a bound
 * parameter of a prepared statement; statements are prepared once per connection and cached
 * (keyed by the address of their static SQL text). Workload: many small transactions (one per
 * probe during collect, one per transcript file during import) from possibly several
 * processes, hence WAL, IMMEDIATE write transactions and a busy timeout.
 */
#include "reports/store.h"

#include "dt_version.h"
#include "reports/schema.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_STMT_CACHE 48

struct dt_store {
    sqlite3 *db;
    char *path;
    int depth; /* transaction nesting depth */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[N_STMT_CACHE];
};

const char *dt_store_path(const struct dt_store *s)
{
    return s->path;
}

struct sqlite3 *dt_store_sqlite(struct dt_store *s)
{
    return s->db;
}

static int db_error(struct dt_store *s, struct dt_error *err, const char *what)
{
    int ec = sqlite3_extended_errcode(s->db);
    int code = (ec & 0xff) == SQLITE_NOMEM ? DT_ENOMEM : DT_EDB;
    return dt_error_set(err, code, "'%s': %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* A cached, reset statement for a static SQL string, or NULL (err set). */
static sqlite3_stmt *stmt(struct dt_store *s, const char *sql, struct dt_error *err)
{
    int free_slot = -1;
    for (int i = 0; i < N_STMT_CACHE; i++) {
        if (s->cache[i].sql == sql) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            return s->cache[i].st;
        }
        if (!s->cache[i].sql && free_slot < 0)
            free_slot = i;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        db_error(s, err, "preparing a statement");
        return NULL;
    }
    if (free_slot >= 0) {
        s->cache[free_slot].sql = sql;
        s->cache[free_slot].st = st;
    } else {
        /* Cache full (a programming error: raise N_STMT_CACHE); evict slot 0. */
        sqlite3_finalize(s->cache[0].st);
        s->cache[0].sql = sql;
        s->cache[0].st = st;
    }
    return st;
}

/* Runs a statement expected to finish without rows (or ignores them). */
static int step_done(struct dt_store *s, sqlite3_stmt *st, struct dt_error *err, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, what);
    return 0;
}

static int exec_sql(struct dt_store *s, const char *sql, struct dt_error *err, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int ec = sqlite3_extended_errcode(s->db);
        int rc = dt_error_set(err, (ec & 0xff) == SQLITE_NOMEM ? DT_ENOMEM : DT_EDB, "'%s': %s: %s",
                              s->path, what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int pragma_int(struct dt_store *s, const char *sql, int64_t *out, struct dt_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the database header");
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = db_error(s, err, "reading the database header");
    sqlite3_finalize(st);
    return rc;
}

/* ---- transactions ---- */

int dt_store_begin(struct dt_store *s, struct dt_error *err)
{
    char sql[64];
    int rc;
    if (s->depth == 0)
        rc = exec_sql(s, "BEGIN IMMEDIATE", err, "starting a transaction");
    else {
        snprintf(sql, sizeof sql, "SAVEPOINT sp%d", s->depth);
        rc = exec_sql(s, sql, err, "starting a savepoint");
    }
    if (rc == 0)
        s->depth++;
    return rc;
}

int dt_store_commit(struct dt_store *s, struct dt_error *err)
{
    char sql[64];
    int rc;
    if (s->depth <= 0)
        return dt_error_set(err, DT_EINTERNAL, "commit without a transaction");
    if (s->depth == 1)
        rc = exec_sql(s, "COMMIT", err, "committing");
    else {
        snprintf(sql, sizeof sql, "RELEASE sp%d", s->depth - 1);
        rc = exec_sql(s, sql, err, "releasing a savepoint");
    }
    if (rc) {
        dt_store_rollback(s);
        return rc;
    }
    s->depth--;
    return 0;
}

void dt_store_rollback(struct dt_store *s)
{
    char sql[80];
    if (s->depth <= 0)
        return;
    if (s->depth == 1) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        snprintf(sql, sizeof sql, "ROLLBACK TO sp%d; RELEASE sp%d", s->depth - 1, s->depth - 1);
        sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    }
    s->depth--;
}

/* ---- open, migrate, close ---- */

static int migrate(struct dt_store *s, struct dt_error *err)
{
    int64_t v = 0;
    int rc = pragma_int(s, "PRAGMA user_version", &v, err);
    if (rc)
        return rc;
    if (v > dt_store_n_migrations)
        return dt_error_set(err, DT_EDB,
                            "'%s' has schema version %lld, newer than this build's %d: "
                            "use a newer distiltrace",
                            s->path, (long long)v, dt_store_n_migrations);
    while (v < dt_store_n_migrations) {
        /* One transaction per step; re-read the version inside it, since another process may
         * have migrated between our read and our lock. */
        if ((rc = dt_store_begin(s, err)))
            return rc;
        if ((rc = pragma_int(s, "PRAGMA user_version", &v, err)))
            goto fail;
        if (v >= dt_store_n_migrations) {
            dt_store_rollback(s);
            break;
        }
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", (int)v + 1);
        for (const char *const *q = dt_store_migrations[v]; *q && rc == 0; q++)
            rc = exec_sql(s, *q, err, "migrating the schema");
        if (rc || (rc = exec_sql(s, sql, err, "migrating the schema")) ||
            (rc = dt_store_commit(s, err)))
            goto fail;
        v++;
    }
    return 0;
fail:
    dt_store_rollback(s);
    return rc;
}

/* Switching to WAL needs an exclusive lock, and SQLite reports a competing opener as busy at
 * once instead of calling the busy handler: retry for as long as the busy timeout allows. */
static int enable_wal(struct dt_store *s, struct dt_error *err)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        int rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        if (waited_ms >= DT_STORE_BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(10);
    }
    return db_error(s, err, "enabling WAL");
}

/* A run still 'running' whose process (on this host) no longer exists was interrupted (Ctrl-C,
 * kill, a crash): it is marked failed with exit code DT_EXIT_INTERRUPTED so that `runs` and
 * `report` never show it as in progress. Runs of other hosts are left alone: their process
 * cannot be checked from here. */
static int reconcile_runs(struct dt_store *s, struct dt_error *err)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        return 0;
    sqlite3_stmt *st = NULL;
    int64_t ids[64];
    size_t n = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?1 "
                           "AND pid IS NOT NULL ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return dt_error_set(err, DT_EDB, "'%s': checking for interrupted runs: %s", s->path,
                            sqlite3_errmsg(s->db));
    sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
    while (n < sizeof ids / sizeof *ids && sqlite3_step(st) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_int64(st, 1);
        if (pid <= 0 || pid > INT32_MAX || pid == (int64_t)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++) {
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE runs SET status = 'failed', exit_code = ?2, ended_at = "
                               "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1 AND status = "
                               "'running'",
                               -1, &st, NULL) != SQLITE_OK)
            return dt_error_set(err, DT_EDB, "'%s': marking run %lld interrupted: %s", s->path,
                                (long long)ids[i], sqlite3_errmsg(s->db));
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int(st, 2, DT_EXIT_INTERRUPTED);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE && r != SQLITE_BUSY)
            return dt_error_set(err, DT_EDB, "'%s': marking run %lld interrupted: %s", s->path,
                                (long long)ids[i], sqlite3_errmsg(s->db));
    }
    return 0;
}

int dt_store_open_flags(const char *path, int flags, struct dt_store **out, struct dt_error *err)
{
    struct dt_store *s = dt_calloc(1, sizeof *s);
    int rc = 0;
    if (!s || !(s->path = dt_strdup(path))) {
        dt_free(s);
        return dt_error_set(err, DT_ENOMEM, "out of memory opening '%s'", path);
    }
    if ((flags & (DT_STORE_NO_CREATE | DT_STORE_READONLY)) && !dt_path_exists(path)) {
        rc = dt_error_set(err, DT_EIO, "evidence store '%s' does not exist", path);
        goto fail;
    }
    int oflags = (flags & DT_STORE_READONLY) ? SQLITE_OPEN_READONLY
                                             : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
        rc = s->db ? db_error(s, err, "opening")
                   : dt_error_set(err, DT_ENOMEM, "out of memory opening '%s'", path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, DT_STORE_BUSY_TIMEOUT_MS);
    int64_t app = 0, n_objects = 0, v = 0;
    /* The three checks below read one snapshot: another process creating the same store
     * commits its schema and application_id together, and must not land between them. */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "opening");
        goto fail;
    }
    if (pragma_int(s, "PRAGMA application_id", &app, err)) {
        rc = dt_error_set(err, DT_EDB, "'%s' is not a SQLite database (%s)", path,
                          sqlite3_errmsg(s->db));
        goto fail;
    }
    if (app != 0 && (uint32_t)app != DT_STORE_APPLICATION_ID) {
        rc = dt_error_set(err, DT_EDB,
                          "'%s' belongs to another program (application_id 0x%08x), "
                          "not a distiltrace evidence store",
                          path, (unsigned)(uint32_t)app);
        goto fail;
    }
    if ((rc = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &n_objects, err)) ||
        (rc = pragma_int(s, "PRAGMA user_version", &v, err)))
        goto fail;
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (app == 0 && (n_objects > 0 || v != 0)) {
        rc = dt_error_set(err, DT_EDB,
                          "'%s' is a SQLite database of another program (no distiltrace "
                          "application_id), refusing to modify it",
                          path);
        goto fail;
    }
    if ((rc = exec_sql(s, "PRAGMA foreign_keys = ON", err, "enabling foreign keys")))
        goto fail;
    if (!(flags & DT_STORE_READONLY)) {
        if ((rc = enable_wal(s, err)) ||
            (rc = exec_sql(s, "PRAGMA synchronous = FULL", err, "setting synchronous")))
            goto fail;
        if (!(flags & DT_STORE_NO_MIGRATE) && (rc = migrate(s, err)))
            goto fail;
        if (!(flags & DT_STORE_NO_MIGRATE) && (rc = reconcile_runs(s, err)))
            goto fail;
    }
    *out = s;
    return 0;
fail:
    dt_store_close(s);
    return rc;
}

int dt_store_open(const char *path, struct dt_store **out, struct dt_error *err)
{
    return dt_store_open_flags(path, 0, out, err);
}

void dt_store_close(struct dt_store *s)
{
    if (!s)
        return;
    while (s->depth > 0)
        dt_store_rollback(s);
    for (int i = 0; i < N_STMT_CACHE; i++)
        if (s->cache[i].st)
            sqlite3_finalize(s->cache[i].st);
    if (s->db)
        sqlite3_close_v2(s->db);
    dt_free(s->path);
    dt_free(s);
}

/* ---- binding helpers ---- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_id_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* ---- runs ---- */

static const char sql_run_insert[] =
    "INSERT INTO runs (command, argv, tool_version, seed, threads, host, pid, started_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

int dt_store_run_begin(struct dt_store *s, int argc, char *const *argv, const uint64_t *seed,
                       int threads, int64_t *run_id, struct dt_error *err)
{
    cJSON *arr = cJSON_CreateArray();
    char *json = NULL;
    int rc = 0;
    for (int i = 0; arr && i < argc; i++) {
        cJSON *item = cJSON_CreateString(argv[i] ? argv[i] : "");
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    if (!arr || !(json = cJSON_PrintUnformatted(arr))) {
        cJSON_Delete(arr);
        return dt_error_set(err, DT_ENOMEM, "out of memory recording a run");
    }
    cJSON_Delete(arr);
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    sqlite3_stmt *st = stmt(s, sql_run_insert, err);
    if (!st) {
        rc = err ? err->code : DT_EDB;
        goto done;
    }
    sqlite3_bind_text(st, 1, argc > 0 && argv[0] ? argv[0] : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, DT_VERSION, -1, SQLITE_STATIC);
    if (seed)
        sqlite3_bind_int64(st, 4, (int64_t)*seed);
    if (threads > 0)
        sqlite3_bind_int(st, 5, threads);
    bind_text_or_null(st, 6, host[0] ? host : NULL);
    sqlite3_bind_int64(st, 7, (int64_t)getpid());
    if ((rc = step_done(s, st, err, "recording a run")) == 0)
        *run_id = sqlite3_last_insert_rowid(s->db);
done:
    cJSON_free(json);
    return rc;
}

static const char sql_run_end[] =
    "UPDATE runs SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), status = ?2, "
    "exit_code = ?3 WHERE id = ?1";

int dt_store_run_end(struct dt_store *s, int64_t run_id, int exit_code, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_run_end, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, run_id);
    /* status 1 is a successful run that found evidence (diff(1)-style), not a failure */
    int ok = exit_code == DT_EXIT_OK || exit_code == DT_EXIT_EVIDENCE;
    sqlite3_bind_text(st, 2, ok ? "ok" : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, exit_code);
    int rc = step_done(s, st, err, "ending a run");
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return dt_error_set(err, DT_ENOTFOUND, "'%s': no run %lld", s->path, (long long)run_id);
    return rc;
}

static const char sql_runs[] =
    "SELECT r.id, r.command, r.argv, r.tool_version, r.host, r.started_at, r.ended_at, r.status,"
    " r.seed, r.threads, r.exit_code, r.pid,"
    " (SELECT count(*) FROM observations o WHERE o.run_id = r.id),"
    " (SELECT count(*) FROM signals g WHERE g.run_id = r.id),"
    " (SELECT count(*) FROM verdicts v WHERE v.run_id = r.id)"
    " FROM runs r WHERE ?1 IS NULL OR r.id = ?1 ORDER BY r.id";

static int runs_query(struct dt_store *s, int64_t run_id, dt_store_run_cb cb, void *ud, int *n_rows,
                      struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_runs, err);
    int r, rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    bind_id_or_null(st, 1, run_id);
    *n_rows = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_run run = {0};
        run.id = sqlite3_column_int64(st, 0);
        run.command = col_text(st, 1);
        run.argv_json = col_text(st, 2);
        run.tool_version = col_text(st, 3);
        run.host = col_text(st, 4);
        run.started_at = col_text(st, 5);
        run.ended_at = col_text(st, 6);
        run.status = col_text(st, 7);
        run.has_seed = sqlite3_column_type(st, 8) != SQLITE_NULL;
        run.seed = (uint64_t)sqlite3_column_int64(st, 8);
        run.threads = sqlite3_column_int(st, 9);
        run.has_exit_code = sqlite3_column_type(st, 10) != SQLITE_NULL;
        run.exit_code = sqlite3_column_int(st, 10);
        run.pid = sqlite3_column_int64(st, 11);
        run.n_observations = sqlite3_column_int64(st, 12);
        run.n_signals = sqlite3_column_int64(st, 13);
        run.n_verdicts = sqlite3_column_int64(st, 14);
        (*n_rows)++;
        if ((rc = cb(ud, &run)) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "listing runs");
    sqlite3_reset(st);
    return rc;
}

int dt_store_runs_list(struct dt_store *s, dt_store_run_cb cb, void *ud, struct dt_error *err)
{
    int n;
    return runs_query(s, 0, cb, ud, &n, err);
}

int dt_store_run_get(struct dt_store *s, int64_t run_id, dt_store_run_cb cb, void *ud,
                     struct dt_error *err)
{
    int n;
    if (run_id <= 0)
        return dt_error_set(err, DT_ENOTFOUND, "'%s': no run %lld", s->path, (long long)run_id);
    int rc = runs_query(s, run_id, cb, ud, &n, err);
    if (rc == 0 && n == 0)
        return dt_error_set(err, DT_ENOTFOUND, "'%s': no run %lld", s->path, (long long)run_id);
    return rc;
}

/* ---- models ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's identity: hashes of "name sha256\n" over its regular files, sorted by name. */
static int hash_dir(const char *path, char sha[DT_SHA256_HEX_LEN + 1],
                    char xxh[DT_XXH128_HEX_LEN + 1], uint64_t *size, struct dt_error *err)
{
    DIR *d = opendir(path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    *size = 0;
    if (!d)
        return dt_error_set(err, DT_EIO, "cannot read directory '%s'", path);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **p = dt_realloc_array(names, nc, sizeof *p);
            if (!p) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory hashing '%s'", path);
                goto done;
            }
            names = p;
            cap = nc;
        }
        if (!(names[n] = dt_strdup(e->d_name))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory hashing '%s'", path);
            goto done;
        }
        n++;
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *full = dt_path_join(path, names[i]);
        struct stat stt;
        if (!full) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory hashing '%s'", path);
            goto done;
        }
        if (stat(full, &stt) != 0 || !S_ISREG(stt.st_mode)) {
            dt_free(full);
            continue;
        }
        char fsha[DT_SHA256_HEX_LEN + 1];
        uint64_t fsize = 0;
        rc = dt_hash_file(full, fsha, NULL, &fsize, err);
        dt_free(full);
        if (rc)
            goto done;
        *size += fsize;
        dt_strbuf_printf(&sb, "%s %s\n", names[i], fsha);
    }
    if (dt_strbuf_failed(&sb)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory hashing '%s'", path);
        goto done;
    }
    dt_hash_sha256_hex(sb.data ? sb.data : "", sb.len, sha);
    dt_hash_xxh128_hex(sb.data ? sb.data : "", sb.len, xxh);
done:
    for (size_t i = 0; i < n; i++)
        dt_free(names[i]);
    dt_free(names);
    dt_strbuf_release(&sb);
    closedir(d);
    return rc;
}

int dt_store_hash_path(const char *path, char sha256[65], char xxh128[33], uint64_t *size_bytes,
                       struct dt_error *err)
{
    char xxh[DT_XXH128_HEX_LEN + 1];
    uint64_t size = 0;
    int rc;
    if (dt_path_is_dir(path))
        rc = hash_dir(path, sha256, xxh, &size, err);
    else
        rc = dt_hash_file(path, sha256, xxh, &size, err);
    if (rc == 0 && xxh128)
        memcpy(xxh128, xxh, sizeof xxh);
    if (rc == 0 && size_bytes)
        *size_bytes = size;
    return rc;
}

static const char sql_model_upsert[] =
    "INSERT INTO models (key, name, path, size_bytes, sha256, xxh128, format, arch, n_params,"
    " tokenizer_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    " ON CONFLICT (key) DO UPDATE SET name = excluded.name, path = excluded.path,"
    " arch = coalesce(excluded.arch, arch), n_params = coalesce(excluded.n_params, n_params),"
    " tokenizer_hash = coalesce(excluded.tokenizer_hash, tokenizer_hash)"
    " RETURNING id";

int dt_store_model_upsert(struct dt_store *s, const struct dt_store_model *m, int64_t *model_id,
                          struct dt_error *err)
{
    char sha[DT_SHA256_HEX_LEN + 1] = "", xxh[DT_XXH128_HEX_LEN + 1] = "";
    char *key = NULL;
    uint64_t size = 0;
    int rc = 0;
    const char *format = m->format;
    if (!m->name || !*m->name)
        return dt_error_set(err, DT_EINVAL, "a model needs a name");
    if (m->path) {
        if (dt_path_is_dir(m->path)) {
            rc = hash_dir(m->path, sha, xxh, &size, err);
            if (!format)
                format = "safetensors";
        } else {
            rc = dt_hash_file(m->path, sha, xxh, &size, err);
            if (!format)
                format = "gguf";
        }
        if (rc)
            return rc;
    } else if (!format) {
        format = "api";
    }
    size_t n = strlen(m->name) + 64;
    if (!(key = dt_malloc(n)))
        return dt_error_set(err, DT_ENOMEM, "out of memory recording a model");
    if (m->path)
        snprintf(key, n, "file:%s", xxh);
    else
        snprintf(key, n, "api:%s", m->name);
    sqlite3_stmt *st = stmt(s, sql_model_upsert, err);
    if (!st) {
        rc = err ? err->code : DT_EDB;
        goto done;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_TRANSIENT);
    /* the absolute path, so that `report --verify` finds the file from any directory */
    char *abs = m->path ? realpath(m->path, NULL) : NULL;
    bind_text_or_null(st, 3, abs ? abs : m->path);
    free(abs);
    if (m->path) {
        sqlite3_bind_int64(st, 4, (int64_t)size);
        sqlite3_bind_text(st, 5, sha, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, xxh, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(st, 7, format, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 8, m->arch);
    if (m->n_params > 0)
        sqlite3_bind_int64(st, 9, m->n_params);
    bind_text_or_null(st, 10, m->tokenizer_hash);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *model_id = sqlite3_column_int64(st, 0);
        rc = step_done(s, st, err, "recording a model");
    } else {
        rc = db_error(s, err, "recording a model");
        sqlite3_reset(st);
    }
done:
    dt_free(key);
    return rc;
}

static const char sql_model_find[] =
    "SELECT id FROM models WHERE name = ?1 ORDER BY id DESC LIMIT 1";

int dt_store_model_find(struct dt_store *s, const char *name, int64_t *model_id,
                        struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_model_find, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *model_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (r == SQLITE_ROW)
        return 0;
    if (r != SQLITE_DONE)
        return db_error(s, err, "looking up a model");
    return dt_error_set(err, DT_ENOTFOUND, "'%s': no model named '%s'", s->path, name);
}

/* ---- probes and corpora ---- */

static const char sql_probe_upsert[] =
    "INSERT INTO probes (xxh128, kind, text, lang) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (xxh128) DO UPDATE SET lang = coalesce(lang, excluded.lang) RETURNING id";

static int probe_upsert_id(struct dt_store *s, const char *id_hex, enum dt_probe_kind kind,
                           const char *text, const char *lang, int64_t *probe_id,
                           struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_probe_upsert, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_text(st, 1, id_hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, dt_probe_kind_name(kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 4, lang);
    if (sqlite3_step(st) != SQLITE_ROW) {
        int rc = db_error(s, err, "recording a probe");
        sqlite3_reset(st);
        return rc;
    }
    *probe_id = sqlite3_column_int64(st, 0);
    return step_done(s, st, err, "recording a probe");
}

int dt_store_probe_upsert(struct dt_store *s, enum dt_probe_kind kind, const char *text,
                          const char *lang, int64_t *probe_id, struct dt_error *err)
{
    char id[DT_XXH128_HEX_LEN + 1];
    dt_probe_id(kind, text, strlen(text), id);
    return probe_upsert_id(s, id, kind, text, lang, probe_id, err);
}

static const char sql_corpus_find[] = "SELECT id FROM corpora WHERE xxh128 = ?1";
static const char sql_corpus_insert[] =
    "INSERT INTO corpora (xxh128, name, source, n_probes, created_at) VALUES (?1, ?2, ?3, ?4,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
static const char sql_corpus_probe[] =
    "INSERT INTO corpus_probes (corpus_id, position, probe_id) VALUES (?1, ?2, ?3)";

int dt_store_corpus_upsert(struct dt_store *s, const struct dt_corpus *c, int64_t *corpus_id,
                           struct dt_error *err)
{
    int rc = dt_store_begin(s, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = stmt(s, sql_corpus_find, err);
    if (!st)
        goto db_fail;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *corpus_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return dt_store_commit(s, err);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        rc = db_error(s, err, "looking up a corpus");
        goto fail;
    }
    if (!(st = stmt(s, sql_corpus_insert, err)))
        goto db_fail;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, c->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, c->source ? c->source : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (int64_t)c->n_probes);
    if ((rc = step_done(s, st, err, "recording a corpus")))
        goto fail;
    int64_t cid = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < c->n_probes; i++) {
        int64_t pid;
        if ((rc = probe_upsert_id(s, c->probes[i].id, c->probes[i].kind, c->probes[i].text,
                                  c->probes[i].lang, &pid, err)))
            goto fail;
        if (!(st = stmt(s, sql_corpus_probe, err)))
            goto db_fail;
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_int64(st, 3, pid);
        if ((rc = step_done(s, st, err, "recording a corpus")))
            goto fail;
    }
    if ((rc = dt_store_commit(s, err)))
        return rc;
    *corpus_id = cid;
    return 0;
db_fail:
    rc = err ? err->code : DT_EDB;
fail:
    dt_store_rollback(s);
    return rc;
}

static const char sql_corpus_lookup[] =
    "SELECT id, xxh128, name, source FROM corpora WHERE xxh128 = ?1 OR name = ?1"
    " OR (length(?1) >= 6 AND substr(xxh128, 1, length(?1)) = ?1) ORDER BY id DESC";
static const char sql_corpus_probes[] =
    "SELECT p.kind, p.text, p.lang FROM corpus_probes cp JOIN probes p ON p.id = cp.probe_id"
    " WHERE cp.corpus_id = ?1 ORDER BY cp.position";

int dt_store_corpus_load(struct dt_store *s, const char *id_or_name, struct dt_corpus **out,
                         struct dt_error *err)
{
    struct dt_corpus *c = NULL;
    int rc = 0, r, n_match = 0;
    int64_t cid = 0;
    char *name = NULL, *source = NULL;
    sqlite3_stmt *st = stmt(s, sql_corpus_lookup, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n_match++ == 0) {
            cid = sqlite3_column_int64(st, 0);
            name = dt_strdup(col_text(st, 2));
            source = dt_strdup(col_text(st, 3));
        } else if (strcmp(col_text(st, 1), id_or_name) && strcmp(col_text(st, 2), id_or_name)) {
            /* two prefix matches: ambiguous */
            n_match = -1;
            break;
        }
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW) {
        rc = db_error(s, err, "looking up a corpus");
        goto done;
    }
    if (n_match == 0) {
        rc = dt_error_set(err, DT_ENOTFOUND, "'%s': no corpus '%s'", s->path, id_or_name);
        goto done;
    }
    if (n_match < 0) {
        rc = dt_error_set(err, DT_EINVAL, "'%s': corpus prefix '%s' is ambiguous", s->path,
                          id_or_name);
        goto done;
    }
    if (!name || !source) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory loading a corpus");
        goto done;
    }
    if ((rc = dt_corpus_new(name, source, &c, err)))
        goto done;
    if (!(st = stmt(s, sql_corpus_probes, err))) {
        rc = err ? err->code : DT_EDB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, cid);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = col_text(st, 1);
        if ((rc = dt_corpus_add(c, dt_probe_kind_parse(col_text(st, 0)), text, strlen(text),
                                col_text(st, 2), NULL, err)))
            break;
    }
    sqlite3_reset(st);
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "loading a corpus");
    if (rc == 0) {
        dt_corpus_finish(c);
        *out = c;
        c = NULL;
    }
done:
    dt_corpus_free(c);
    dt_free(name);
    dt_free(source);
    return rc;
}

static const char sql_corpora[] =
    "SELECT id, xxh128, name, source, created_at, n_probes FROM corpora ORDER BY id";

int dt_store_corpora_list(struct dt_store *s, dt_store_corpus_cb cb, void *ud, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_corpora, err);
    int r, rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_corpus_row row = {sqlite3_column_int64(st, 0),
                                          col_text(st, 1),
                                          col_text(st, 2),
                                          col_text(st, 3),
                                          col_text(st, 4),
                                          sqlite3_column_int64(st, 5)};
        if ((rc = cb(ud, &row)))
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "listing corpora");
    sqlite3_reset(st);
    return rc;
}

/* ---- collections and observations ---- */

static const char sql_collection_find[] = "SELECT id FROM collections WHERE key = ?1";
static const char sql_collection_insert[] =
    "INSERT INTO collections (key, model_id, corpus_id, source, params, run_id, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

int dt_store_collection_open(struct dt_store *s, const char *key, int64_t model_id,
                             int64_t corpus_id, const char *source, const char *params_json,
                             int64_t run_id, int64_t *collection_id, int *created,
                             struct dt_error *err)
{
    int rc = dt_store_begin(s, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = stmt(s, sql_collection_find, err);
    if (!st)
        goto db_fail;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *collection_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (created)
            *created = 0;
        return dt_store_commit(s, err);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        rc = db_error(s, err, "looking up a collection");
        goto fail;
    }
    if (!(st = stmt(s, sql_collection_insert, err)))
        goto db_fail;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, model_id);
    bind_id_or_null(st, 3, corpus_id);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, params_json ? params_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, run_id);
    if ((rc = step_done(s, st, err, "recording a collection")))
        goto fail;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if ((rc = dt_store_commit(s, err)))
        return rc;
    *collection_id = id;
    if (created)
        *created = 1;
    return 0;
db_fail:
    rc = err ? err->code : DT_EDB;
fail:
    dt_store_rollback(s);
    return rc;
}

static const char sql_obs_insert[] =
    "INSERT INTO observations (collection_id, run_id, probe_id, sample_index, source_ref,"
    " response, finish_reason, has_logprobs, n_tokens, tokens, logprobs, top_k, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    " ON CONFLICT (collection_id, probe_id, sample_index) DO NOTHING";

int dt_store_observation_insert(struct dt_store *s, int64_t collection_id, int64_t run_id,
                                const struct dt_sample *smp, int *inserted, struct dt_error *err)
{
    uint8_t *bt = NULL, *bl = NULL, *bk = NULL;
    size_t nt = 0, nl = 0, nk = 0;
    int64_t pid;
    int rc;
    if (smp->n_tokens > INT64_MAX || smp->sample_index < 0)
        return dt_error_set(err, DT_EINVAL, "invalid sample");
    if ((rc = dt_sample_encode(smp, &bt, &nt, &bl, &nl, &bk, &nk, err)))
        return rc;
    if (nt > INT32_MAX || nl > INT32_MAX || nk > INT32_MAX || smp->response_bytes > INT32_MAX) {
        rc = dt_error_set(err, DT_ENOMEM, "sample of %zu tokens too large for the store",
                          smp->n_tokens);
        goto done;
    }
    if ((rc = dt_store_begin(s, err)))
        goto done;
    if ((rc = probe_upsert_id(s, smp->probe_id, smp->kind, smp->prompt ? smp->prompt : "", NULL,
                              &pid, err)))
        goto fail;
    sqlite3_stmt *st = stmt(s, sql_obs_insert, err);
    if (!st) {
        rc = err ? err->code : DT_EDB;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_int64(st, 2, run_id);
    sqlite3_bind_int64(st, 3, pid);
    sqlite3_bind_int(st, 4, smp->sample_index);
    bind_text_or_null(st, 5, smp->source_ref);
    sqlite3_bind_text(st, 6, smp->response ? smp->response : "", (int)smp->response_bytes,
                      SQLITE_TRANSIENT);
    bind_text_or_null(st, 7, smp->finish_reason);
    sqlite3_bind_int(st, 8, smp->has_logprobs ? 1 : 0);
    sqlite3_bind_int64(st, 9, (int64_t)smp->n_tokens);
    sqlite3_bind_blob(st, 10, bt, (int)nt, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, smp->has_logprobs ? bl : bt, smp->has_logprobs ? (int)nl : 0,
                      SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, smp->has_logprobs ? bk : bt, smp->has_logprobs ? (int)nk : 0,
                      SQLITE_STATIC);
    if ((rc = step_done(s, st, err, "recording an observation")))
        goto fail;
    if (inserted)
        *inserted = sqlite3_changes(s->db) > 0;
    /* Unbind the blobs before they are freed. */
    sqlite3_clear_bindings(st);
    rc = dt_store_commit(s, err);
    goto done;
fail:
    dt_store_rollback(s);
done:
    dt_free(bt);
    dt_free(bl);
    dt_free(bk);
    return rc;
}

static const char sql_obs_count[] =
    "SELECT count(*) FROM observations o JOIN probes p ON p.id = o.probe_id"
    " WHERE o.collection_id = ?1 AND p.xxh128 = ?2";

int dt_store_observation_count(struct dt_store *s, int64_t collection_id, const char *probe_xxh128,
                               int64_t *n, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_obs_count, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, collection_id);
    sqlite3_bind_text(st, 2, probe_xxh128, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        int rc = db_error(s, err, "counting observations");
        sqlite3_reset(st);
        return rc;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

static const char sql_obs_load[] =
    "SELECT p.kind, p.text, o.response, o.source_ref, o.finish_reason, o.sample_index,"
    " o.has_logprobs, o.n_tokens, o.tokens, o.logprobs, o.top_k, o.id"
    " FROM observations o JOIN probes p ON p.id = o.probe_id"
    " WHERE o.collection_id = ?1 ORDER BY o.id";
static const char sql_obs_get[] =
    "SELECT p.kind, p.text, o.response, o.source_ref, o.finish_reason, o.sample_index,"
    " o.has_logprobs, o.n_tokens, o.tokens, o.logprobs, o.top_k, o.id"
    " FROM observations o JOIN probes p ON p.id = o.probe_id WHERE o.id = ?1";

/* One row of sql_obs_load / sql_obs_get as a sample (smp initialised; released on failure). */
static int obs_row(struct dt_store *s, sqlite3_stmt *st, struct dt_sample *smp,
                   struct dt_error *err)
{
    int rc;
    const char *prompt = col_text(st, 1);
    const char *resp = (const char *)sqlite3_column_blob(st, 2);
    size_t resp_bytes = (size_t)sqlite3_column_bytes(st, 2);
    int64_t n_tok = sqlite3_column_int64(st, 7);
    const char *ref = col_text(st, 3), *fin = col_text(st, 4);
    const uint8_t *bt = sqlite3_column_blob(st, 8);
    size_t nt = (size_t)sqlite3_column_bytes(st, 8);
    const uint8_t *bl = sqlite3_column_blob(st, 9);
    size_t nl = (size_t)sqlite3_column_bytes(st, 9);
    const uint8_t *bk = sqlite3_column_blob(st, 10);
    size_t nk = (size_t)sqlite3_column_bytes(st, 10);
    if (n_tok < 0)
        return dt_error_set(err, DT_EDB, "'%s': observation %lld has a negative token count",
                            s->path, (long long)sqlite3_column_int64(st, 11));
    if ((rc = dt_sample_set_text(smp, dt_probe_kind_parse(col_text(st, 0)), prompt ? prompt : "",
                                 prompt ? strlen(prompt) : 0, resp, resp_bytes, err)) ||
        (ref && !(smp->source_ref = dt_strdup(ref))) ||
        (fin && !(smp->finish_reason = dt_strdup(fin)))) {
        if (rc == 0)
            rc = dt_error_set(err, DT_ENOMEM, "out of memory loading observations");
        dt_sample_release(smp);
        return rc;
    }
    smp->sample_index = sqlite3_column_int(st, 5);
    smp->has_logprobs = sqlite3_column_int(st, 6);
    if ((rc = dt_sample_decode(smp, (size_t)n_tok, bt, nt, bl, nl, bk, nk, err))) {
        dt_error_prefix(err, "'%s': observation %lld", s->path,
                        (long long)sqlite3_column_int64(st, 11));
        rc = rc == DT_EFORMAT ? (err ? (err->code = DT_EDB) : DT_EDB) : rc;
        dt_sample_release(smp);
    }
    return rc;
}

int dt_store_observations_load(struct dt_store *s, int64_t collection_id, struct dt_sample_set *out,
                               struct dt_error *err)
{
    struct dt_sample_set staged;
    int r, rc = 0;
    dt_sample_set_init(&staged);
    sqlite3_stmt *st = stmt(s, sql_obs_load, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, collection_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_sample smp;
        dt_sample_init(&smp);
        if ((rc = obs_row(s, st, &smp, err)))
            break;
        if ((rc = dt_sample_set_push(&staged, &smp, err))) {
            dt_sample_release(&smp);
            break;
        }
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "loading observations");
    sqlite3_reset(st);
    if (rc == 0)
        rc = dt_sample_set_append(out, &staged, err);
    dt_sample_set_release(&staged);
    return rc;
}

int dt_store_observation_get(struct dt_store *s, int64_t observation_id, struct dt_sample *out,
                             struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_obs_get, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, observation_id);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = obs_row(s, st, out, err);
    else if (r == SQLITE_DONE)
        rc = dt_error_set(err, DT_ENOTFOUND, "'%s' has no observation %lld", s->path,
                          (long long)observation_id);
    else
        rc = db_error(s, err, "reading an observation");
    sqlite3_reset(st);
    return rc;
}

static const char sql_collections[] =
    "SELECT c.id, c.model_id, coalesce(c.corpus_id, 0), c.run_id,"
    " (SELECT count(*) FROM observations o WHERE o.collection_id = c.id),"
    " c.key, m.name, c.source, c.params, c.created_at"
    " FROM collections c JOIN models m ON m.id = c.model_id"
    " WHERE (?1 IS NULL OR c.model_id = ?1) AND (?2 IS NULL OR c.run_id = ?2) ORDER BY c.id";

int dt_store_collections_list(struct dt_store *s, int64_t model_id, int64_t run_id,
                              dt_store_collection_cb cb, void *ud, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_collections, err);
    int r, rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    bind_id_or_null(st, 1, model_id);
    bind_id_or_null(st, 2, run_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_collection_row row = {sqlite3_column_int64(st, 0),
                                              sqlite3_column_int64(st, 1),
                                              sqlite3_column_int64(st, 2),
                                              sqlite3_column_int64(st, 3),
                                              sqlite3_column_int64(st, 4),
                                              col_text(st, 5),
                                              col_text(st, 6),
                                              col_text(st, 7),
                                              col_text(st, 8),
                                              col_text(st, 9)};
        if ((rc = cb(ud, &row)))
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "listing collections");
    sqlite3_reset(st);
    return rc;
}

/* ---- signals and verdicts ---- */

static const char sql_signal_insert[] =
    "INSERT INTO signals (run_id, name, teacher_model_id, suspect_model_id, test, statistic,"
    " p_value, ci_low, ci_high, effect, n, details, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
    " ?7, ?8, ?9, ?10, ?11, ?12, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

int dt_store_signal_insert(struct dt_store *s, const struct dt_store_signal *g, int64_t *id,
                           struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_signal_insert, err);
    if (!st)
        return err ? err->code : DT_EDB;
    if (!g->name)
        return dt_error_set(err, DT_EINVAL, "a signal needs a name");
    sqlite3_bind_int64(st, 1, g->run_id);
    sqlite3_bind_text(st, 2, g->name, -1, SQLITE_TRANSIENT);
    bind_id_or_null(st, 3, g->teacher_model_id);
    bind_id_or_null(st, 4, g->suspect_model_id);
    bind_text_or_null(st, 5, g->test);
    bind_real_or_null(st, 6, g->statistic);
    bind_real_or_null(st, 7, g->p_value);
    bind_real_or_null(st, 8, g->ci_low);
    bind_real_or_null(st, 9, g->ci_high);
    bind_real_or_null(st, 10, g->effect);
    if (g->n >= 0)
        sqlite3_bind_int64(st, 11, g->n);
    bind_text_or_null(st, 12, g->details_json);
    int rc = step_done(s, st, err, "recording a signal");
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static const char sql_signals[] =
    "SELECT id, run_id, name, coalesce(teacher_model_id, 0), coalesce(suspect_model_id, 0),"
    " test, statistic, p_value, ci_low, ci_high, effect, coalesce(n, -1), details"
    " FROM signals WHERE run_id = ?1 ORDER BY id";

int dt_store_signals_list(struct dt_store *s, int64_t run_id, dt_store_signal_cb cb, void *ud,
                          struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_signals, err);
    int r, rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, run_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_signal g = {sqlite3_column_int64(st, 0),
                                    sqlite3_column_int64(st, 1),
                                    col_text(st, 2),
                                    sqlite3_column_int64(st, 3),
                                    sqlite3_column_int64(st, 4),
                                    col_text(st, 5),
                                    col_real(st, 6),
                                    col_real(st, 7),
                                    col_real(st, 8),
                                    col_real(st, 9),
                                    col_real(st, 10),
                                    sqlite3_column_int64(st, 11),
                                    col_text(st, 12)};
        if ((rc = cb(ud, &g)))
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "listing signals");
    sqlite3_reset(st);
    return rc;
}

static const char sql_verdict_insert[] =
    "INSERT INTO verdicts (run_id, teacher_model_id, suspect_model_id, relation, p_value, alpha,"
    " rationale, details, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

int dt_store_verdict_insert(struct dt_store *s, const struct dt_store_verdict *v, int64_t *id,
                            struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_verdict_insert, err);
    if (!st)
        return err ? err->code : DT_EDB;
    if (!v->relation)
        return dt_error_set(err, DT_EINVAL, "a verdict needs a relation");
    sqlite3_bind_int64(st, 1, v->run_id);
    bind_id_or_null(st, 2, v->teacher_model_id);
    bind_id_or_null(st, 3, v->suspect_model_id);
    sqlite3_bind_text(st, 4, v->relation, -1, SQLITE_TRANSIENT);
    bind_real_or_null(st, 5, v->p_value);
    bind_real_or_null(st, 6, v->alpha);
    bind_text_or_null(st, 7, v->rationale);
    bind_text_or_null(st, 8, v->details_json);
    int rc = step_done(s, st, err, "recording a verdict");
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static const char sql_verdicts[] =
    "SELECT id, run_id, coalesce(teacher_model_id, 0), coalesce(suspect_model_id, 0), relation,"
    " p_value, alpha, rationale, details FROM verdicts WHERE run_id = ?1 ORDER BY id";

int dt_store_verdicts_list(struct dt_store *s, int64_t run_id, dt_store_verdict_cb cb, void *ud,
                           struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_verdicts, err);
    int r, rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, run_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_verdict v = {sqlite3_column_int64(st, 0),
                                     sqlite3_column_int64(st, 1),
                                     sqlite3_column_int64(st, 2),
                                     sqlite3_column_int64(st, 3),
                                     col_text(st, 4),
                                     col_real(st, 5),
                                     col_real(st, 6),
                                     col_text(st, 7),
                                     col_text(st, 8)};
        if ((rc = cb(ud, &v)))
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_error(s, err, "listing verdicts");
    sqlite3_reset(st);
    return rc;
}

/* ---- reading back ---- */

static const char sql_model_get[] =
    "SELECT id, key, name, path, format, arch, sha256, xxh128, tokenizer_hash, created_at,"
    " coalesce(size_bytes, -1), coalesce(n_params, 0) FROM models WHERE id = ?1";

int dt_store_model_get(struct dt_store *s, int64_t model_id, dt_store_model_cb cb, void *ud,
                       struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_model_get, err);
    int r, rc = 0, n = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_int64(st, 1, model_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct dt_store_model_row row = {
            sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2), col_text(st, 3),
            col_text(st, 4), col_text(st, 5), col_text(st, 6), col_text(st, 7), col_text(st, 8),
            col_text(st, 9), sqlite3_column_int64(st, 10), sqlite3_column_int64(st, 11)};
        n++;
        if ((rc = cb(ud, &row)))
            break;
    }
    if (rc == 0 && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = db_error(s, err, "reading a model");
    sqlite3_reset(st);
    if (rc == 0 && n == 0)
        return dt_error_set(err, DT_ENOTFOUND, "'%s': no model %lld", s->path,
                            (long long)model_id);
    return rc;
}

static const char sql_latest_verdict_run[] = "SELECT max(run_id) FROM verdicts";

int dt_store_latest_verdict_run(struct dt_store *s, int64_t *run_id, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_latest_verdict_run, err);
    int rc = 0;
    if (!st)
        return err ? err->code : DT_EDB;
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = db_error(s, err, "finding the latest run");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        rc = dt_error_set(err, DT_ENOTFOUND, "'%s' holds no run with a verdict", s->path);
    else
        *run_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

/* ---- release fingerprints ---- */

static const char sql_fp_insert[] =
    "INSERT INTO fingerprints (name, model_id, run_id, n_tensors, tokenizer_hash, data,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

int dt_store_fingerprint_insert(struct dt_store *s, const char *name, int64_t model_id,
                                int64_t run_id, int64_t n_tensors, const char *tokenizer_hash,
                                const char *data_json, int64_t *id, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_fp_insert, err);
    if (!st)
        return err ? err->code : DT_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, model_id);
    bind_id_or_null(st, 3, run_id);
    sqlite3_bind_int64(st, 4, n_tensors);
    bind_text_or_null(st, 5, tokenizer_hash);
    sqlite3_bind_text(st, 6, data_json, -1, SQLITE_TRANSIENT);
    int rc = step_done(s, st, err, "recording a fingerprint");
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static const char sql_fp_get[] =
    "SELECT f.id, f.model_id, coalesce(f.run_id, 0), f.n_tensors, f.name, f.tokenizer_hash,"
    " f.data, f.created_at, m.name, m.sha256, m.path FROM fingerprints f"
    " JOIN models m ON m.id = f.model_id"
    " WHERE f.id = ?1 OR (?1 IS NULL AND f.name = ?2) ORDER BY f.id DESC LIMIT 1";

int dt_store_fingerprint_get(struct dt_store *s, const char *id_or_name,
                             dt_store_fingerprint_cb cb, void *ud, struct dt_error *err)
{
    sqlite3_stmt *st = stmt(s, sql_fp_get, err);
    char *end = NULL;
    int rc = 0, r;
    if (!st)
        return err ? err->code : DT_EDB;
    long long id = strtoll(id_or_name, &end, 10);
    if (*id_or_name && end && !*end && id > 0)
        sqlite3_bind_int64(st, 1, id);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, id_or_name, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        struct dt_store_fingerprint_row row = {
            sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
            col_text(st, 4), col_text(st, 5), col_text(st, 6), col_text(st, 7),
            col_text(st, 8), col_text(st, 9), col_text(st, 10)};
        rc = cb(ud, &row);
    } else if (r == SQLITE_DONE) {
        rc = dt_error_set(err, DT_ENOTFOUND, "'%s': no fingerprint '%s'", s->path, id_or_name);
    } else {
        rc = db_error(s, err, "reading a fingerprint");
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- checks ---- */

int dt_store_check(struct dt_store *s, struct dt_store_check *out, struct dt_error *err)
{
    int64_t v = 0, app = 0;
    int rc;
    memset(out, 0, sizeof *out);
    out->expected_version = dt_store_n_migrations;
    if ((rc = pragma_int(s, "PRAGMA user_version", &v, err)) ||
        (rc = pragma_int(s, "PRAGMA application_id", &app, err)))
        return rc;
    out->user_version = (int)v;
    out->application_id = (uint32_t)app;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(20)", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "checking integrity");
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *m = col_text(st, 0);
        out->integrity_ok = m && !strcmp(m, "ok");
        snprintf(out->integrity_msg, sizeof out->integrity_msg, "%s", m ? m : "");
    } else {
        snprintf(out->integrity_msg, sizeof out->integrity_msg, "%s", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "checking foreign keys");
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        out->n_fk_violations++;
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_error(s, err, "checking foreign keys");
    if (out->application_id != DT_STORE_APPLICATION_ID)
        return dt_error_set(err, DT_EDB, "'%s': application_id is 0x%08x, expected 0x%08x", s->path,
                            (unsigned)out->application_id, DT_STORE_APPLICATION_ID);
    if (out->user_version != out->expected_version)
        return dt_error_set(err, DT_EDB, "'%s': schema version %d, expected %d", s->path,
                            out->user_version, out->expected_version);
    if (!out->integrity_ok)
        return dt_error_set(err, DT_EDB, "'%s': integrity check failed: %s", s->path,
                            out->integrity_msg);
    if (out->n_fk_violations)
        return dt_error_set(err, DT_EDB, "'%s': %lld foreign key violations", s->path,
                            (long long)out->n_fk_violations);
    return 0;
}

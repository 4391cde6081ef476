/*
 * Unit tests for reports/store.c and corpus/corpus.c: schema and pragmas, refusing foreign
 * files, runs, models, corpora, observations and their blobs, signals and verdicts, nested
 * transactions, db check, two writer processes at once, built-in corpora and sampling.
 */
#include "corpus/corpus.h"
#include "reports/schema.h"
#include "reports/store.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static int64_t q_int(struct dt_store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -999;
    if (sqlite3_prepare_v2(dt_store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void q_text(struct dt_store *s, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(dt_store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void test_open(void)
{
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    char txt[64];
    TAP_OK(dt_store_open(tmp_path("a.db"), &s, &err) == 0, "create a store (%s)", err.msg);
    q_text(s, "PRAGMA journal_mode", txt, sizeof txt);
    TAP_OK(!strcmp(txt, "wal"), "journal mode is WAL (%s)", txt);
    TAP_OK(q_int(s, "PRAGMA foreign_keys") == 1, "foreign keys on");
    TAP_OK(q_int(s, "PRAGMA application_id") == DT_STORE_APPLICATION_ID, "application_id set");
    TAP_OK(q_int(s, "PRAGMA user_version") == dt_store_n_migrations && dt_store_n_migrations >= 1,
           "user_version is the current schema version");
    TAP_OK(q_int(s, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND type = "
                    "'table' AND name NOT LIKE 'sqlite_%' AND strict = 0") == 0 &&
               q_int(s, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND "
                        "strict = 1") >= 9,
           "every table is STRICT");
    dt_store_close(s);
    TAP_OK(dt_store_open(tmp_path("a.db"), &s, &err) == 0, "reopen an existing store");
    struct dt_store_check c;
    TAP_OK(dt_store_check(s, &c, &err) == 0 && c.integrity_ok && c.n_fk_violations == 0,
           "db check passes on a fresh store");
    dt_store_close(s);

    /* Foreign files are refused with DT_EDB and left alone. */
    sqlite3 *db;
    sqlite3_open(tmp_path("other.db"), &db);
    sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA application_id = 1234;", NULL, NULL, NULL);
    sqlite3_close(db);
    int rc = dt_store_open(tmp_path("other.db"), &s, &err);
    TAP_OK(rc == DT_EDB && strstr(err.msg, "another program") && strstr(err.msg, "0x000004d2"),
           "a database with another application_id is refused: %s", err.msg);
    sqlite3_open(tmp_path("plain.db"), &db);
    sqlite3_exec(db, "CREATE TABLE t(x);", NULL, NULL, NULL);
    sqlite3_close(db);
    rc = dt_store_open(tmp_path("plain.db"), &s, &err);
    TAP_OK(rc == DT_EDB && strstr(err.msg, "another program"),
           "a non-empty database without an application_id is refused: %s", err.msg);
    FILE *f = fopen(tmp_path("junk.db"), "wb");
    fprintf(f, "this is not a database, just text that goes on for a while..................."
               "..................................................................\n");
    fclose(f);
    rc = dt_store_open(tmp_path("junk.db"), &s, &err);
    TAP_OK(rc == DT_EDB && strstr(err.msg, "not a SQLite database"),
           "a non-SQLite file is refused: %s", err.msg);
    rc = dt_store_open_flags(tmp_path("missing.db"), DT_STORE_NO_CREATE, &s, &err);
    TAP_OK(rc == DT_EIO && !dt_path_exists(tmp_path("missing.db")),
           "NO_CREATE does not create a file: %s", err.msg);

    /* A newer schema is refused; db check reports a wrong version. */
    sqlite3_open(tmp_path("a.db"), &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    rc = dt_store_open(tmp_path("a.db"), &s, &err);
    TAP_OK(rc == DT_EDB && strstr(err.msg, "newer"), "a newer schema is refused: %s", err.msg);
    rc = dt_store_open_flags(tmp_path("a.db"), DT_STORE_NO_CREATE | DT_STORE_NO_MIGRATE, &s, &err);
    TAP_OK(rc == 0 && dt_store_check(s, &c, &err) == DT_EDB && c.user_version == 99 &&
               strstr(err.msg, "schema version 99"),
           "db check flags the wrong schema version: %s", err.msg);
    dt_store_close(s);
}

struct run_seen {
    int n;
    int64_t id;
    char status[16], argv[256], version[32];
    uint64_t seed;
    int has_seed, threads;
};

static int on_run(void *ud, const struct dt_store_run *r)
{
    struct run_seen *x = ud;
    x->n++;
    x->id = r->id;
    snprintf(x->status, sizeof x->status, "%s", r->status);
    snprintf(x->argv, sizeof x->argv, "%s", r->argv_json);
    snprintf(x->version, sizeof x->version, "%s", r->tool_version);
    x->seed = r->seed;
    x->has_seed = r->has_seed;
    x->threads = r->threads;
    return 0;
}

static int on_signal(void *ud, const struct dt_store_signal *g)
{
    int *n = ud;
    if (!strcmp(g->name, "kl") && g->p_value == 0.01 && isnan(g->ci_low) && g->n == 40 &&
        g->details_json && strstr(g->details_json, "\"k\""))
        (*n)++;
    return 0;
}

static int on_verdict(void *ud, const struct dt_store_verdict *v)
{
    int *n = ud;
    if (!strcmp(v->relation, "distilled") && v->alpha == 0.05 && v->rationale)
        (*n)++;
    return 0;
}

static void test_records(void)
{
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    dt_store_open(tmp_path("r.db"), &s, &err);
    char *argv[] = {"collect", "--seed", "18446744073709551615"};
    uint64_t seed = UINT64_MAX;
    int64_t run = 0, run2 = 0;
    TAP_OK(dt_store_run_begin(s, 3, argv, &seed, 2, &run, &err) == 0 && run > 0, "run begin");
    struct run_seen seen = {0};
    dt_store_run_get(s, run, on_run, &seen, &err);
    TAP_OK(seen.n == 1 && !strcmp(seen.status, "running") &&
               !strcmp(seen.argv, "[\"collect\",\"--seed\",\"18446744073709551615\"]") &&
               seen.has_seed && seen.seed == UINT64_MAX && seen.threads == 2 && seen.version[0],
           "run recorded with its command line, seed and threads (%s)", seen.argv);
    TAP_OK(dt_store_run_end(s, run, 0, &err) == 0, "run end");
    memset(&seen, 0, sizeof seen);
    dt_store_run_get(s, run, on_run, &seen, &err);
    TAP_OK(!strcmp(seen.status, "ok"), "run status ok after end");
    TAP_OK(dt_store_run_get(s, 999, on_run, &seen, &err) == DT_ENOTFOUND, "missing run: %s",
           err.msg);
    dt_store_run_begin(s, 1, argv, NULL, 0, &run2, &err);
    dt_store_run_end(s, run2, 3, &err);
    memset(&seen, 0, sizeof seen);
    dt_store_runs_list(s, on_run, &seen, &err);
    TAP_OK(seen.n == 2 && !strcmp(seen.status, "failed") && !seen.has_seed,
           "runs list; a non-zero exit is 'failed'");

    /* Models: file models are hashed and keyed by content; API models by name. */
    char *mp = tmp_path("m.gguf");
    FILE *f = fopen(mp, "wb");
    fprintf(f, "abc");
    fclose(f);
    struct dt_store_model m = {
        .name = "t", .path = mp, .arch = "llama", .n_params = 1000, .tokenizer_hash = "ffee"};
    int64_t mid = 0, mid2 = 0, api = 0;
    TAP_OK(dt_store_model_upsert(s, &m, &mid, &err) == 0, "model upsert (%s)", err.msg);
    m.name = "t-renamed";
    dt_store_model_upsert(s, &m, &mid2, &err);
    char txt[128];
    q_text(s, "SELECT sha256 FROM models WHERE id = 1", txt, sizeof txt);
    TAP_OK(mid == mid2 &&
               !strcmp(txt, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
           "same file, same model row; SHA-256 recorded");
    TAP_OK(q_int(s, "SELECT size_bytes FROM models WHERE id = 1") == 3 &&
               q_int(s, "SELECT n_params FROM models WHERE id = 1") == 1000,
           "size and parameter count recorded");
    struct dt_store_model am = {.name = "gpt-x", .n_params = -1};
    dt_store_model_upsert(s, &am, &api, &err);
    q_text(s, "SELECT format || ' ' || key FROM models WHERE name = 'gpt-x'", txt, sizeof txt);
    TAP_OK(api != mid && !strcmp(txt, "api api:gpt-x"), "API model keyed by name (%s)", txt);
    int64_t found = 0;
    TAP_OK(dt_store_model_find(s, "gpt-x", &found, &err) == 0 && found == api &&
               dt_store_model_find(s, "nobody", &found, &err) == DT_ENOTFOUND,
           "model lookup by name");

    /* Corpora: content-addressed, deduplicated, idempotent. */
    struct dt_corpus *c = NULL, *back = NULL;
    dt_corpus_new("mini", "test", &c, &err);
    int added = 0;
    dt_corpus_add(c, DT_PROBE_CHAT, "Who are you?", 12, "en", &added, &err);
    dt_corpus_add(c, DT_PROBE_TEXT, "Once upon", 9, NULL, NULL, &err);
    int dup = 1;
    dt_corpus_add(c, DT_PROBE_CHAT, "Who are you?", 12, "en", &dup, &err);
    dt_corpus_finish(c);
    TAP_OK(added == 1 && dup == 0 && c->n_probes == 2, "duplicate probe dropped");
    int64_t cid = 0, cid2 = 0;
    TAP_OK(dt_store_corpus_upsert(s, c, &cid, &err) == 0 &&
               dt_store_corpus_upsert(s, c, &cid2, &err) == 0 && cid == cid2,
           "corpus upsert is idempotent");
    TAP_OK(q_int(s, "SELECT count(*) FROM probes") == 2 &&
               q_int(s, "SELECT count(*) FROM corpus_probes") == 2,
           "probes stored once");
    char prefix[8];
    memcpy(prefix, c->id, 7);
    prefix[7] = 0;
    TAP_OK(dt_store_corpus_load(s, prefix, &back, &err) == 0 && back->n_probes == 2 &&
               !strcmp(back->id, c->id) && back->probes[1].kind == DT_PROBE_TEXT,
           "corpus loads back by id prefix with the same id (%s)", err.msg);
    dt_corpus_free(back);
    TAP_OK(dt_store_corpus_load(s, "nope", &back, &err) == DT_ENOTFOUND, "unknown corpus");

    /* Observations: blobs round-trip, duplicates are skipped. */
    int64_t col = 0, col2 = 0;
    int created = 0;
    TAP_OK(dt_store_collection_open(s, "k1", mid, cid, "local", "{\"t\":0.7}", run, &col, &created,
                                    &err) == 0 &&
               created,
           "collection created");
    dt_store_collection_open(s, "k1", mid, cid, "local", "{}", run, &col2, &created, &err);
    TAP_OK(col == col2 && !created, "collection found again by key");
    struct dt_sample smp;
    dt_sample_init(&smp);
    dt_sample_set_text(&smp, DT_PROBE_CHAT, "Who are you?", 12, "I am \xe2\x80", 7, &err);
    dt_sample_add_token(&smp, "I", 1, -0.5, &err);
    dt_sample_add_alt(&smp, "I", 1, -0.5, &err);
    dt_sample_add_alt(&smp, "\xe2\x80", 2, -3.25, &err);
    dt_sample_add_token(&smp, " am \xe2\x80", 6, NAN, &err);
    dt_sample_add_token(&smp, "", 0, -1e-9, &err);
    smp.has_logprobs = 1;
    smp.sample_index = 1;
    int ins = 0;
    TAP_OK(dt_store_observation_insert(s, col, run, &smp, &ins, &err) == 0 && ins == 1,
           "observation inserted (%s)", err.msg);
    TAP_OK(dt_store_observation_insert(s, col, run, &smp, &ins, &err) == 0 && ins == 0,
           "same (collection, probe, sample) is not inserted twice");
    TAP_OK(q_int(s, "SELECT length(tokens) FROM observations") == 4 * 3 + 1 + 6 + 0 &&
               q_int(s, "SELECT length(logprobs) FROM observations") == 24 &&
               q_int(s, "SELECT length(top_k) FROM observations") == 3 * 2 + 2 * 12 + 1 + 2,
           "blob sizes follow the documented encoding");
    int64_t cnt = 0;
    dt_store_observation_count(s, col, smp.probe_id, &cnt, &err);
    TAP_OK(cnt == 1, "observation count per probe");
    struct dt_sample_set set;
    dt_sample_set_init(&set);
    int rc = dt_store_observations_load(s, col, &set, &err);
    const struct dt_sample *o = set.n ? &set.items[0] : &smp;
    size_t nb;
    const char *b = set.n ? dt_sample_token_bytes(o, 1, &nb) : "";
    TAP_OK(rc == 0 && set.n == 1 && o->n_tokens == 3 && o->tokens[0].logprob == -0.5 &&
               isnan(o->tokens[1].logprob) && o->tokens[2].logprob == -1e-9 && nb == 6 &&
               !memcmp(b, " am \xe2\x80", 6) && o->tokens[0].n_alt == 2 &&
               o->alts[1].logprob == -3.25 && o->response_bytes == 7 &&
               !memcmp(o->response, "I am \xe2\x80", 7) && o->sample_index == 1 &&
               !strcmp(o->probe_id, smp.probe_id),
           "observation round-trips (bytes, NaN, alternatives, invalid UTF-8 response)");
    dt_sample_set_release(&set);

    /* Corrupt blobs are an error, not a crash. */
    sqlite3_exec(dt_store_sqlite(s), "UPDATE observations SET tokens = x'ffffff7f41'", NULL, NULL,
                 NULL);
    rc = dt_store_observations_load(s, col, &set, &err);
    TAP_OK(rc == DT_EDB && set.n == 0 && strstr(err.msg, "overruns"),
           "a corrupt tokens blob is reported: %s", err.msg);
    dt_sample_set_release(&set);
    dt_sample_release(&smp);

    /* Signals and verdicts. */
    struct dt_store_signal g = {.run_id = run,
                                .name = "kl",
                                .teacher_model_id = mid,
                                .suspect_model_id = api,
                                .test = "permutation",
                                .statistic = 1.5,
                                .p_value = 0.01,
                                .ci_low = NAN,
                                .ci_high = NAN,
                                .effect = 0.3,
                                .n = 40,
                                .details_json = "{\"k\": 5}"};
    TAP_OK(dt_store_signal_insert(s, &g, NULL, &err) == 0, "signal inserted");
    g.details_json = "{not json";
    TAP_OK(dt_store_signal_insert(s, &g, NULL, &err) == DT_EDB, "invalid details JSON refused");
    g.details_json = NULL;
    g.p_value = 1.5;
    TAP_OK(dt_store_signal_insert(s, &g, NULL, &err) == DT_EDB, "p-value above 1 refused");
    int n_sig = 0;
    dt_store_signals_list(s, run, on_signal, &n_sig, &err);
    TAP_OK(n_sig == 1, "signals list: NaN stored as NULL and read back as NaN");
    struct dt_store_verdict v = {.run_id = run,
                                 .teacher_model_id = mid,
                                 .suspect_model_id = api,
                                 .relation = "distilled",
                                 .p_value = 1e-6,
                                 .alpha = 0.05,
                                 .rationale = "the suspect follows the teacher"};
    TAP_OK(dt_store_verdict_insert(s, &v, NULL, &err) == 0, "verdict inserted");
    v.relation = "guilty";
    TAP_OK(dt_store_verdict_insert(s, &v, NULL, &err) == DT_EDB, "unknown relation refused");
    int n_v = 0;
    dt_store_verdicts_list(s, run, on_verdict, &n_v, &err);
    TAP_OK(n_v == 1, "verdicts list");
    v.relation = "independent";
    v.run_id = 12345;
    TAP_OK(dt_store_verdict_insert(s, &v, NULL, &err) == DT_EDB && strstr(err.msg, "FOREIGN KEY"),
           "foreign keys enforced: %s", err.msg);

    /* Nested transactions: an inner rollback keeps the outer work. */
    int64_t r3, r4;
    dt_store_begin(s, &err);
    dt_store_run_begin(s, 1, argv, NULL, 0, &r3, &err);
    dt_store_begin(s, &err);
    dt_store_run_begin(s, 1, argv, NULL, 0, &r4, &err);
    dt_store_rollback(s);
    dt_store_commit(s, &err);
    TAP_OK(q_int(s, "SELECT count(*) FROM runs") == 3, "inner rollback, outer commit");
    dt_store_begin(s, &err);
    dt_store_run_begin(s, 1, argv, NULL, 0, &r4, &err);
    dt_store_rollback(s);
    TAP_OK(q_int(s, "SELECT count(*) FROM runs") == 3, "outer rollback");
    struct dt_store_check chk;
    TAP_OK(dt_store_check(s, &chk, &err) == 0, "store passes db check");
    dt_corpus_free(c);
    dt_store_close(s);
}

/* Two processes append runs to one store at once; the busy timeout serialises them. */
static void test_concurrency(void)
{
    const char *path = tmp_path("conc.db");
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            struct dt_store *s = NULL;
            struct dt_error err = {0};
            char *argv[] = {"writer"};
            if (dt_store_open(path, &s, &err)) {
                fprintf(stderr, "writer %d: %s\n", p, err.msg);
                _exit(10);
            }
            for (int i = 0; i < 60; i++) {
                int64_t run;
                struct dt_store_model m = {.name = p ? "b" : "a", .n_params = -1};
                int64_t mid;
                if (dt_store_begin(s, &err) ||
                    dt_store_run_begin(s, 1, argv, NULL, 1, &run, &err) ||
                    dt_store_model_upsert(s, &m, &mid, &err) || dt_store_run_end(s, run, 0, &err) ||
                    dt_store_commit(s, &err)) {
                    fprintf(stderr, "writer %d: %s\n", p, err.msg);
                    _exit(11);
                }
            }
            dt_store_close(s);
            _exit(0);
        }
    }
    int ok = 0;
    for (int p = 0; p < 2; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    dt_store_open(path, &s, &err);
    TAP_OK(ok == 2 && q_int(s, "SELECT count(*) FROM runs WHERE status = 'ok'") == 120 &&
               q_int(s, "SELECT count(*) FROM models") == 2,
           "two concurrent writer processes both succeed (%d of 2, %lld runs)", ok,
           (long long)q_int(s, "SELECT count(*) FROM runs"));
    struct dt_store_check chk;
    TAP_OK(dt_store_check(s, &chk, &err) == 0, "store intact after concurrent writes");
    dt_store_close(s);
}

static void test_corpora(void)
{
    struct dt_corpus *c = NULL, *a = NULL, *b = NULL, *d = NULL;
    struct dt_error err = {0};
    const char *const *names = dt_corpus_builtin_names();
    int n_names = 0;
    while (names[n_names])
        n_names++;
    TAP_OK(n_names == 3, "three built-in corpora");
    TAP_OK(dt_corpus_builtin("identity", &c, &err) == 0, "identity corpus loads");
    int en = 0, zh = 0, other = 0;
    for (size_t i = 0; c && i < c->n_probes; i++) {
        const char *l = c->probes[i].lang ? c->probes[i].lang : "";
        en += !strcmp(l, "en");
        zh += !strcmp(l, "zh");
        other += strcmp(l, "en") && strcmp(l, "zh");
    }
    TAP_OK(en >= 60 && zh >= 20 && other >= 5, "identity: %d English, %d Chinese, %d other", en, zh,
           other);
    struct dt_corpus *chat = NULL, *cont = NULL;
    dt_corpus_builtin("chat", &chat, &err);
    dt_corpus_builtin("continuation", &cont, &err);
    TAP_OK(chat && cont && chat->n_probes >= 100 && cont->n_probes >= 100 &&
               cont->probes[0].kind == DT_PROBE_TEXT && chat->probes[0].kind == DT_PROBE_CHAT,
           "chat and continuation corpora");
    TAP_OK(dt_corpus_builtin("nope", &d, &err) == DT_ENOTFOUND, "unknown built-in: %s", err.msg);

    dt_corpus_sample(c, 10, 42, &a, &err);
    dt_corpus_sample(c, 10, 42, &b, &err);
    dt_corpus_sample(c, 10, 43, &d, &err);
    TAP_OK(a && b && d && a->n_probes == 10 && !strcmp(a->id, b->id) && strcmp(a->id, d->id),
           "sampling is deterministic for a seed and differs across seeds");
    dt_corpus_free(a);
    dt_corpus_free(b);
    dt_corpus_free(d);
    dt_corpus_sample(c, 100000, 1, &a, &err);
    TAP_OK(a && a->n_probes == c->n_probes && !strcmp(a->id, c->id),
           "sampling more than the corpus keeps it whole");
    dt_corpus_free(a);
    a = NULL;

    /* Export and reimport keeps the id. */
    char *out = NULL;
    size_t n = 0;
    dt_corpus_export_jsonl(chat, &out, &n, &err);
    dt_file_write_all(tmp_path("chat.jsonl"), out, n, &err);
    dt_free(out);
    TAP_OK(dt_corpus_load_file(tmp_path("chat.jsonl"), NULL, DT_PROBE_TEXT, &a, &err) == 0 &&
               !strcmp(a->id, chat->id) && !strcmp(a->name, "chat"),
           "export then load gives the same corpus id");
    dt_corpus_free(a);
    a = NULL;

    /* Text files: lines, or blank-line separated paragraphs. */
    const char paras[] = "one line\nand its second line\n\n\nnext paragraph\n";
    const char *lt = "first probe\nsecond probe\nfirst probe\n";
    dt_file_write_all(tmp_path("lines.txt"), lt, strlen(lt), &err);
    dt_corpus_load_file(tmp_path("lines.txt"), NULL, DT_PROBE_TEXT, &a, &err);
    TAP_OK(a && a->n_probes == 2 && a->probes[1].kind == DT_PROBE_TEXT &&
               !strcmp(a->probes[1].text, "second probe"),
           "text file, one probe per line, deduplicated");
    dt_corpus_free(a);
    a = NULL;
    dt_corpus_load_buffer(paras, sizeof paras - 1, 0, "p", "p", DT_PROBE_CHAT, &a, &err);
    TAP_OK(a && a->n_probes == 2 && !strcmp(a->probes[0].text, "one line\nand its second line") &&
               !strcmp(a->probes[1].text, "next paragraph"),
           "text with blank lines: paragraphs");
    dt_corpus_free(a);
    a = NULL;
    int rc =
        dt_corpus_load_buffer("{\"prompt\": 3}\n", 14, 1, "j", "j.jsonl", DT_PROBE_CHAT, &a, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "line 1") && strstr(err.msg, "'prompt'"),
           "bad JSONL corpus line: %s", err.msg);
    rc = dt_corpus_load_buffer("{\"prompt\": \"x\", \"kind\": \"song\"}\n", 33, 1, "j", "j.jsonl",
                               DT_PROBE_CHAT, &a, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "'kind'"), "bad kind: %s", err.msg);
    dt_corpus_free(c);
    dt_corpus_free(chat);
    dt_corpus_free(cont);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dt_test_store_XXXXXX");
    if (!mkdtemp(tmpdir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    test_open();
    test_records();
    test_concurrency();
    test_corpora();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}

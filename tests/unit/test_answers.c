/*
 * Unit tests for run/answers.c and reports/panel.c: a stored answer is found only under
 * the same model content hash, probe, sample index, seed and generation settings (the chat
 * template only for chat probes); collect's extra parameters do not matter; members recorded
 * from transcripts are matched by model alone; panel members are added, listed and removed
 * with their answers.
 */
#include "corpus/seed.h"
#include "run/answers.h"
#include "reports/panel.h"
#include "reports/store.h"
#include "tests/tap.h"
#include "util/error.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct dt_sample answer(enum dt_probe_kind kind, const char *prompt, const char *text, int idx)
{
    struct dt_sample s;
    dt_sample_init(&s);
    dt_sample_set_text(&s, kind, prompt, strlen(prompt), text, strlen(text), NULL);
    s.sample_index = idx;
    return s;
}

static int found(struct dt_store_answers *a, enum dt_probe_kind kind, const char *prompt, int idx,
                 uint64_t seed, const struct dt_sample_gen_params *g, char *text, size_t cap)
{
    char id[DT_XXH128_HEX_LEN + 1];
    dt_probe_id(kind, prompt, strlen(prompt), id);
    struct dt_answer_key k = {kind, prompt, id, idx, seed, g};
    struct dt_party party;
    memset(&party, 0, sizeof party);
    struct dt_sample out;
    dt_sample_init(&out);
    struct dt_error err = {0};
    int f = 0;
    int rc = a->src.lookup(a->src.ud, &party, &k, &out, &f, &err);
    if (f && text)
        snprintf(text, cap, "%s", out.response);
    dt_sample_release(&out);
    return rc ? -1 : f;
}

static int64_t count(struct dt_store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(dt_store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/dt_answers_XXXXXX";
    if (!mkdtemp(dir))
        TAP_SKIP_ALL("no temporary directory");
    char db[256], weights[256];
    snprintf(db, sizeof db, "%s/a.db", dir);
    snprintf(weights, sizeof weights, "%s/m.bin", dir);
    FILE *f = fopen(weights, "wb");
    fputs("pretend weights", f);
    fclose(f);

    struct dt_error err = {0};
    struct dt_store *s = NULL;
    int rc = dt_store_open(db, &s, &err);
    TAP_OK(rc == 0, "store opens: %s", err.msg);
    int64_t run = 0, model = 0, coll = 0;
    dt_store_run_begin(s, 0, NULL, NULL, 0, &run, &err);
    struct dt_store_model sm = {.name = "m", .path = weights, .format = "gguf"};
    rc = dt_store_model_upsert(s, &sm, &model, &err);
    char xxh[33], sha[65];
    uint64_t size = 0;
    dt_store_hash_path(weights, sha, xxh, &size, &err);

    /* an answer collection as collect writes one: the key's parameters plus a corpus */
    struct dt_sample_gen_params chat = {"<|user|>{prompt}<|assistant|>", 40, 5, 0.8f, 0, 0.95f, 0, NULL};
    char *params = dt_answers_params_json(xxh, &chat, DT_PROBE_CHAT, 7);
    cJSON *pj = cJSON_Parse(params);
    cJSON_AddStringToObject(pj, "corpus", "0123456789abcdef");
    char *with_corpus = cJSON_PrintUnformatted(pj);
    rc = dt_store_collection_open(s, "local:test", model, 0, "local", with_corpus, run, &coll, NULL, &err);
    struct dt_sample a0 = answer(DT_PROBE_CHAT, "Who are you?", "I am M.", 0);
    struct dt_sample a1 = answer(DT_PROBE_CHAT, "Who are you?", "M, at your service.", 1);
    struct dt_sample t0 = answer(DT_PROBE_TEXT, "Once upon", " a time", 0);
    int ins = 0;
    dt_store_observation_insert(s, coll, run, &a0, &ins, &err);
    dt_store_observation_insert(s, coll, run, &a1, &ins, &err);
    dt_store_observation_insert(s, coll, run, &t0, &ins, &err);
    TAP_OK(rc == 0 && count(s, "SELECT count(*) FROM observations") == 3, "three answers stored");

    struct dt_store_answers c;
    dt_store_answers_init(&c, NULL, 0);
    c.read[0] = s;
    snprintf(c.model_xxh128, sizeof c.model_xxh128, "%s", xxh);
    char text[64] = "";
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 1, 7, &chat, text, sizeof text) == 1 &&
               !strcmp(text, "M, at your service."),
           "found under the same model, probe, sample, seed and settings (collect's corpus key ignored)");
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 2, 7, &chat, NULL, 0) == 0, "another sample index: not found");
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 0, 8, &chat, NULL, 0) == 0, "another seed: not found");
    struct dt_sample_gen_params g = chat;
    g.temperature = 0.7f;
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 0, 7, &g, NULL, 0) == 0, "another temperature: not found");
    g = chat;
    g.n_predict = 41;
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 0, 7, &g, NULL, 0) == 0, "another max tokens: not found");
    g = chat;
    g.chat_template = "[INST] {prompt} [/INST]";
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 0, 7, &g, NULL, 0) == 0, "another chat template: not found");
    g.n_predict = 32;
    TAP_OK(found(&c, DT_PROBE_TEXT, "Once upon", 0, 7, &g, NULL, 0) == 0,
           "a text probe under other n_predict is not found");
    struct dt_sample_gen_params text_g = chat;
    text_g.chat_template = "[INST] {prompt} [/INST]";
    TAP_OK(found(&c, DT_PROBE_TEXT, "Once upon", 0, 7, &text_g, text, sizeof text) == 1 &&
               !strcmp(text, " a time"),
           "a text probe ignores the chat template");
    snprintf(c.model_xxh128, sizeof c.model_xxh128, "%s", "00000000000000000000000000000000");
    TAP_OK(found(&c, DT_PROBE_CHAT, "Who are you?", 0, 7, &chat, NULL, 0) == 0, "another model: not found");

    /* transcript members: by model row alone */
    struct dt_store_model am = {.name = "api-model", .format = "api"};
    int64_t api = 0;
    dt_store_model_upsert(s, &am, &api, &err);
    struct dt_sample_set set;
    dt_sample_set_init(&set);
    struct dt_sample x = answer(DT_PROBE_CHAT, "Who are you?", "I am the API.", 0);
    dt_sample_set_push(&set, &x, &err);
    size_t n_new = 0;
    rc = dt_store_answers_record_all(s, run, api, "panel:transcript:api-model", &set, &n_new, &err);
    dt_store_answers_init(&c, NULL, 0);
    c.read[0] = s;
    c.any_settings_model_id = api;
    TAP_OK(rc == 0 && n_new == 1 && found(&c, DT_PROBE_CHAT, "Who are you?", 0, 99, &g, text, sizeof text) == 1 &&
               !strcmp(text, "I am the API."),
           "a transcript member's answer is found whatever the settings");

    /* panel members */
    int existed = 0;
    rc = dt_panel_member_add(s, "m", model, "local", weights, chat.chat_template, "{\"seed\":\"7\"}", run,
                             &existed, &err);
    TAP_OK(rc == 0 && !existed, "member added");
    rc = dt_panel_member_add(s, "m", model, "local", weights, NULL, "{}", run, &existed, &err);
    TAP_OK(rc == 0 && existed, "the same member again is a resumed add");
    rc = dt_panel_member_add(s, "m", api, "transcript", "x.jsonl", NULL, "{}", run, &existed, &err);
    TAP_OK(rc == DT_EMISMATCH && strstr(err.msg, "already has a member 'm'"), "a taken name with another model fails: %s", err.msg);
    dt_panel_member_add(s, "api-model", api, "transcript", "x.jsonl", NULL, "{}", run, &existed, &err);
    TAP_OK(count(s, "SELECT count(*) FROM panel_members") == 2, "two members listed");
    rc = dt_panel_member_remove(s, "m", &err);
    TAP_OK(rc == 0 && count(s, "SELECT count(*) FROM panel_members") == 1 &&
               count(s, "SELECT count(*) FROM observations") == 1,
           "remove drops the member and its model's answers");
    err.code = 0;
    rc = dt_panel_member_remove(s, "m", &err);
    TAP_OK(rc == DT_ENOTFOUND && strstr(err.msg, "no member 'm'"), "removing it again: not found");
    struct dt_store_check chk;
    TAP_OK(dt_store_check(s, &chk, &err) == 0, "db check passes");

    dt_sample_release(&a0);
    dt_sample_release(&a1);
    dt_sample_release(&t0);
    dt_sample_set_release(&set);
    cJSON_Delete(pj);
    cJSON_free(params);
    cJSON_free(with_corpus);
    dt_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    return tap_done();
}

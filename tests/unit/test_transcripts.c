/*
 * Unit tests for corpus/transcripts.c and the transcript import (reports/ingest.c): the four
 * zoo transcripts compared field by field against an independent cJSON reading of the file,
 * before and after a round trip through the evidence store; each supported format; malformed
 * lines; the all-or-nothing import under allocator fault injection.
 */
#include "corpus/transcripts.h"
#include "reports/ingest.h"
#include "reports/store.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
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

static int64_t count_rows(struct dt_store *s, const char *table)
{
    char sql[128];
    sqlite3_stmt *st;
    int64_t n = -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (sqlite3_prepare_v2(dt_store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Compares one token/alternative entry {token, logprob, bytes} with stored bytes/logprob. */
static int same_entry(const cJSON *e, const char *bytes, size_t n, double lp)
{
    const cJSON *b = cJSON_GetObjectItem(e, "bytes");
    size_t k = 0;
    const cJSON *x;
    if ((size_t)cJSON_GetArraySize(b) != n)
        return 0;
    cJSON_ArrayForEach(x, b)
    {
        if ((unsigned char)bytes[k++] != (unsigned)x->valueint)
            return 0;
    }
    return cJSON_GetObjectItem(e, "logprob")->valuedouble == lp;
}

/* Checks a sample set against the zoo file read with cJSON; returns mismatches. */
static int compare_with_json(const char *path, const struct dt_sample_set *set, size_t *n_tokens,
                             size_t *n_alts)
{
    char *data = NULL;
    size_t n = 0, i = 0;
    int bad = 0;
    *n_tokens = *n_alts = 0;
    if (dt_file_read_all(path, 1 << 28, &data, &n, NULL))
        return 1;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n"), i++) {
        cJSON *o = cJSON_Parse(line);
        if (i >= set->n) {
            bad++;
            cJSON_Delete(o);
            break;
        }
        const struct dt_sample *s = &set->items[i];
        const cJSON *ch = cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(o, "response"), "choices"), 0);
        const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "logprobs"), "content");
        bad += strcmp(s->prompt, cJSON_GetObjectItem(o, "prompt")->valuestring) != 0;
        bad +=
            strcmp(
                s->response,
                cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")->valuestring) !=
            0;
        bad += strcmp(dt_probe_kind_name(s->kind), cJSON_GetObjectItem(o, "kind")->valuestring);
        bad += !s->source_ref || strcmp(s->source_ref, cJSON_GetObjectItem(o, "id")->valuestring);
        bad += (size_t)cJSON_GetArraySize(content) != s->n_tokens;
        size_t t = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, content)
        {
            if (t >= s->n_tokens)
                break;
            size_t nb, na;
            const char *b = dt_sample_token_bytes(s, t, &nb);
            bad += !same_entry(e, b, nb, s->tokens[t].logprob);
            const struct dt_token_alt *alts = dt_sample_token_alts(s, t, &na);
            const cJSON *top = cJSON_GetObjectItem(e, "top_logprobs");
            bad += (size_t)cJSON_GetArraySize(top) != na;
            size_t j = 0;
            const cJSON *a;
            cJSON_ArrayForEach(a, top)
            {
                if (j < na)
                    bad += !same_entry(a, dt_sample_alt_bytes(s, &alts[j]), alts[j].n_bytes,
                                       alts[j].logprob);
                j++;
            }
            *n_alts += na;
            t++;
        }
        *n_tokens += s->n_tokens;
        cJSON_Delete(o);
    }
    bad += i != set->n;
    dt_free(data);
    return bad;
}

static void test_zoo(void)
{
    static const char *const models[] = {"teacher", "s_seqkd", "s_crosstok", "c_same_data"};
    char path[512];
    snprintf(path, sizeof path, "%s/zoo/transcripts/teacher.jsonl", DT_SHARED_DIR);
    if (!dt_path_exists(path)) {
        printf("# SKIP zoo transcripts: '%s' is absent\n", path);
        return;
    }
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    TAP_OK(dt_store_open(tmp_path("zoo.db"), &s, &err) == 0, "open zoo store (%s)", err.msg);
    for (int m = 0; m < 4; m++) {
        snprintf(path, sizeof path, "%s/zoo/transcripts/%s.jsonl", DT_SHARED_DIR, models[m]);
        struct dt_sample_set set, back;
        struct dt_transcript_stats st;
        size_t nt, na, nt2, na2;
        dt_sample_set_init(&set);
        dt_sample_set_init(&back);
        int rc = dt_transcript_load(path, NULL, &set, &st, &err);
        TAP_OK(rc == 0 && set.n == 60 && st.n_by_format[DT_TRANSCRIPT_OPENAI_CHAT] == 60,
               "%s: 60 openai-chat records load (%s)", models[m], err.msg);
        int bad = compare_with_json(path, &set, &nt, &na);
        TAP_OK(bad == 0 && nt > 1000 && na == 5 * nt,
               "%s: every token, logprob and top-5 alternative matches the JSON (%zu tokens, "
               "%zu alternatives, %d mismatches)",
               models[m], nt, na, bad);
        char *argv[] = {"transcripts", "import", path};
        struct dt_import_result res;
        struct dt_transcript_options opt = {0};
        rc = dt_store_import_transcripts(s, 3, argv, path, models[m], &opt, &res, &err);
        TAP_OK(rc == 0 && res.n_inserted == 60, "%s: import stores 60 observations (%s)", models[m],
               err.msg);
        rc = dt_store_observations_load(s, res.collection_id, &back, &err);
        bad = compare_with_json(path, &back, &nt2, &na2);
        TAP_OK(rc == 0 && bad == 0 && nt2 == nt && na2 == na,
               "%s: the store round-trips every record exactly (%d mismatches)", models[m], bad);
        int same_ids = back.n == set.n;
        for (size_t i = 0; same_ids && i < set.n; i++)
            same_ids = !strcmp(back.items[i].probe_id, set.items[i].probe_id) &&
                       back.items[i].sample_index == set.items[i].sample_index &&
                       !strcmp(back.items[i].finish_reason ? back.items[i].finish_reason : "",
                               set.items[i].finish_reason ? set.items[i].finish_reason : "");
        TAP_OK(same_ids, "%s: probe ids, sample indices and finish reasons round-trip", models[m]);
        rc = dt_store_import_transcripts(s, 3, argv, path, models[m], &opt, &res, &err);
        TAP_OK(rc == 0 && res.n_inserted == 0 && res.n_existing == 60,
               "%s: importing the same file again adds nothing", models[m]);
        dt_sample_set_release(&set);
        dt_sample_set_release(&back);
    }
    struct dt_store_check c;
    TAP_OK(dt_store_check(s, &c, &err) == 0, "zoo store passes the check (%s)", err.msg);
    dt_store_close(s);
}

static int parse1(const char *line, enum dt_transcript_format fmt, struct dt_sample *s,
                  enum dt_transcript_format *f, struct dt_error *err)
{
    dt_sample_init(s);
    return dt_transcript_parse_line(line, strlen(line), fmt, s, f, err);
}

static void test_formats(void)
{
    struct dt_sample s;
    struct dt_error err = {0};
    enum dt_transcript_format f;
    size_t n;

    /* legacy completions, with a null first logprob and a bytes: token */
    int rc =
        parse1("{\"prompt\":\"Once\",\"response\":{\"object\":\"text_completion\",\"choices\":"
               "[{\"text\":\" upon a\",\"finish_reason\":\"length\",\"logprobs\":{\"tokens\":"
               "[\" upon\",\" a\",\"bytes:\\\\xe2\\\\x80\"],\"token_logprobs\":[null,-0.5,-2.25],"
               "\"top_logprobs\":[null,{\" a\":-0.5,\" the\":-1.5},{\"x\":-0.1}],"
               "\"text_offset\":[0,5,7]}}]}}",
               DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_OPENAI_COMPLETIONS && s.kind == DT_PROBE_TEXT,
           "legacy completion detected (%s)", err.msg);
    TAP_OK(rc == 0 && s.n_tokens == 3 && isnan(s.tokens[0].logprob) &&
               s.tokens[1].logprob == -0.5 && s.tokens[1].n_alt == 2 &&
               s.alts[s.tokens[1].i_alt + 1].logprob == -1.5,
           "legacy completion tokens, null logprob and top alternatives");
    const char *b = rc == 0 ? dt_sample_token_bytes(&s, 2, &n) : "";
    TAP_OK(rc == 0 && n == 2 && (unsigned char)b[0] == 0xe2 && (unsigned char)b[1] == 0x80,
           "legacy 'bytes:\\xNN' token decoded to raw bytes");
    TAP_OK(rc == 0 && s.finish_reason && !strcmp(s.finish_reason, "length"), "finish reason");
    dt_sample_release(&s);

    /* llama.cpp server, newer form */
    rc = parse1("{\"prompt\":\"Hi\",\"kind\":\"chat\",\"response\":{\"content\":\"Yo!\","
                "\"stop_type\":\"eos\",\"completion_probabilities\":[{\"id\":5,\"token\":\"Yo\","
                "\"bytes\":[89,111],\"logprob\":-0.25,\"top_logprobs\":[{\"id\":5,\"token\":"
                "\"Yo\",\"bytes\":[89,111],\"logprob\":-0.25},{\"id\":6,\"token\":\"Hey\","
                "\"bytes\":[72,101,121],\"logprob\":-1.75}]},{\"id\":7,\"token\":\"!\","
                "\"bytes\":[33],\"logprob\":-0.125,\"top_logprobs\":[]}]}}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_LLAMA_SERVER && s.kind == DT_PROBE_CHAT &&
               s.n_tokens == 2 && s.tokens[0].n_alt == 2 && s.tokens[1].logprob == -0.125 &&
               !strcmp(s.finish_reason, "eos"),
           "llama-server newer form (%s)", err.msg);
    dt_sample_release(&s);

    /* llama.cpp server, older form: probabilities, chosen token found among probs */
    rc = parse1("{\"prompt\":\"The\",\"content\":\" cat\",\"completion_probabilities\":"
                "[{\"content\":\" cat\",\"probs\":[{\"tok_str\":\" dog\",\"prob\":0.5},"
                "{\"tok_str\":\" cat\",\"prob\":0.25}]}]}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_LLAMA_SERVER && s.kind == DT_PROBE_TEXT &&
               s.n_tokens == 1 && fabs(s.tokens[0].logprob - log(0.25)) < 1e-12 &&
               s.tokens[0].n_alt == 2 && fabs(s.alts[0].logprob - log(0.5)) < 1e-12,
           "llama-server older form: log of probs (%s)", err.msg);
    dt_sample_release(&s);

    /* plain */
    rc = parse1("{\"prompt\":\"Q?\",\"response\":\"A.\"}", DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_PLAIN && !s.has_logprobs && s.n_tokens == 0 &&
               !strcmp(s.response, "A.") && s.kind == DT_PROBE_CHAT,
           "plain prompt/response (%s)", err.msg);
    dt_sample_release(&s);

    /* bare OpenAI response, prompt from request.messages; bytes null falls back to token */
    rc = parse1("{\"request\":{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":"
                "\"user\",\"content\":\"Who?\"}]},\"object\":\"chat.completion\",\"choices\":"
                "[{\"message\":{\"content\":\"Me\"},\"logprobs\":{\"content\":[{\"token\":\"Me\","
                "\"logprob\":-1,\"bytes\":null,\"top_logprobs\":[]}]}}]}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    b = rc == 0 ? dt_sample_token_bytes(&s, 0, &n) : "";
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_OPENAI_CHAT &&
               !strcmp(s.prompt, "[system]\nS\n\n[user]\nWho?") && n == 2 && !memcmp(b, "Me", 2),
           "bare chat response with the conversation of request.messages, system kept (%s)",
           err.msg);
    dt_sample_release(&s);

    /* forced format mismatch */
    rc = parse1("{\"prompt\":\"Q?\",\"response\":\"A.\"}", DT_TRANSCRIPT_OPENAI_CHAT, &s, &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "'response'"),
           "forcing openai-chat on a plain line fails: %s", err.msg);
}

struct err_log {
    int n;
    char first[1024], all[8192];
};

static void log_err(void *ud, size_t line, const struct dt_error *e)
{
    struct err_log *l = ud;
    (void)line;
    if (l->n++ == 0)
        snprintf(l->first, sizeof l->first, "%s", e->msg);
    size_t k = strlen(l->all);
    snprintf(l->all + k, sizeof l->all - k, "%s\n", e->msg);
}

static void test_malformed(void)
{
    static const char good[] = "{\"prompt\":\"Q\",\"response\":\"A\"}";
    static const struct {
        const char *line, *expect;
    } cases[] = {
        {"{\"prompt\": \"Q\", \"response\": ", "invalid JSON"},
        {"[1, 2, 3]", "expected a JSON object"},
        {"{\"prompt\": 5, \"response\": \"A\"}", "field 'prompt'"},
        {"{\"response\": \"A\"}", "carries no prompt"},
        {"{\"prompt\": \"Q\"}", "unrecognised record"},
        {"{\"prompt\": \"Q\", \"kind\": \"poem\", \"response\": \"A\"}", "field 'kind'"},
        {"{\"prompt\":\"Q\",\"response\":{\"choices\":[{\"message\":{\"content\":\"A\"},"
         "\"logprobs\":{\"content\":[{\"token\":\"A\",\"logprob\":\"high\"}]}}]}}",
         "'response.choices[0].logprobs.content[0].logprob' is a string, expected a number"},
        {"{\"prompt\":\"Q\",\"response\":{\"choices\":[{\"message\":{\"content\":\"A\"},"
         "\"logprobs\":{\"content\":[{\"token\":\"A\",\"logprob\":-1,\"bytes\":[65,300]}]}}]}}",
         "bytes[1]' is not a byte value"},
        {"{\"prompt\":\"Q\",\"response\":{\"choices\":[]}}", "non-empty array"},
        {"{\"prompt\":\"Q\",\"response\":{\"choices\":[{\"text\":\"x\",\"logprobs\":{\"tokens\":"
         "[\"x\"],\"token_logprobs\":[]}}]}}",
         "has 0 entries"},
        {"{\"prompt\": \"Q\xff\", \"response\": \"A\"}", "invalid UTF-8 at byte 13"},
        {"{\"prompt\": \"\xed\xa0\x80\", \"response\": \"A\"}", "invalid UTF-8"},
        {"{\"prompt\": \"Q\", \"response\": \"A\"} x", "trailing bytes"},
    };
    size_t n_cases = sizeof cases / sizeof *cases;
    struct dt_error err = {0};
    for (size_t i = 0; i < n_cases; i++) {
        struct dt_sample s;
        int rc = parse1(cases[i].line, DT_TRANSCRIPT_AUTO, &s, NULL, &err);
        TAP_OK(rc == DT_EFORMAT && strstr(err.msg, cases[i].expect),
               "malformed case %zu rejected: %s", i, err.msg);
    }

    /* A file mixing good and bad lines: reject leaves the store unchanged, skip imports the
     * good ones; every error names the file and line. */
    char *path = tmp_path("mixed.jsonl");
    FILE *f = fopen(path, "wb");
    fprintf(f, "%s\n%s\n\n%s\n%s\n", good, cases[0].line, cases[6].line,
            "{\"prompt\":\"Q2\",\"response\":\"B\"}");
    fprintf(f, "{\"prompt\":\"%s\",\"response\":\"C\"}\n", "huge");
    fclose(f);
    struct dt_store *s = NULL;
    TAP_OK(dt_store_open(tmp_path("bad.db"), &s, &err) == 0, "open store");
    char *argv[] = {"transcripts"};
    struct err_log log = {0};
    struct dt_transcript_options opt = {.on_error = log_err, .ud = &log};
    struct dt_import_result res;
    int64_t before = sqlite3_total_changes(dt_store_sqlite(s));
    int rc = dt_store_import_transcripts(s, 1, argv, path, "m", &opt, &res, &err);
    TAP_OK(rc == DT_EFORMAT && log.n == 2 &&
               strstr(log.first, "mixed.jsonl' line 2: invalid JSON") &&
               strstr(log.all, "line 4: field"),
           "reject: each bad line reported with its number (%s | %s)", err.msg, log.first);
    TAP_OK(count_rows(s, "runs") == 0 && count_rows(s, "observations") == 0 &&
               count_rows(s, "models") == 0 && sqlite3_total_changes(dt_store_sqlite(s)) == before,
           "reject: the store is unchanged");
    memset(&log, 0, sizeof log);
    opt.skip_bad = 1;
    rc = dt_store_import_transcripts(s, 1, argv, path, "m", &opt, &res, &err);
    TAP_OK(rc == 0 && res.n_inserted == 3 && res.n_bad == 2 && log.n == 2 &&
               count_rows(s, "observations") == 3,
           "skip: good lines imported, bad ones reported (%zu inserted, %zu bad)", res.n_inserted,
           res.n_bad);

    /* Line length cap: a small cap for a quick test, and a real 17 MiB line. */
    memset(&log, 0, sizeof log);
    opt.skip_bad = 0;
    opt.max_line_bytes = 16;
    struct dt_sample_set set;
    dt_sample_set_init(&set);
    rc = dt_transcript_load(path, &opt, &set, NULL, &err);
    TAP_OK(rc == DT_EFORMAT && set.n == 0 && strstr(log.first, "over the 16-byte limit"),
           "lines over the cap are rejected: %s", log.first);
    size_t big = ((size_t)17 << 20);
    char *huge = malloc(big + 64);
    int k = snprintf(huge, 64, "{\"prompt\":\"Q\",\"response\":\"");
    memset(huge + k, 'a', big);
    memcpy(huge + k + big, "\"}\n", 3);
    memset(&log, 0, sizeof log);
    opt.max_line_bytes = 0;
    rc = dt_transcript_load_buffer(huge, k + big + 3, "huge.jsonl", &opt, &set, NULL, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(log.first, "'huge.jsonl' line 1: line is") &&
               strstr(log.first, "16777216-byte limit"),
           "a 17 MiB line is over the default 16 MiB cap: %s", log.first);
    free(huge);
    dt_store_close(s);
}

/* Every allocation failure during an import either is survived or leaves no trace. */
static void test_fault_injection(void)
{
    char *path = tmp_path("fi.jsonl");
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 4; i++)
        fprintf(f,
                "{\"id\":\"r%d\",\"prompt\":\"P%d\",\"kind\":\"chat\",\"response\":{\"choices\":"
                "[{\"message\":{\"content\":\"ab\"},\"finish_reason\":\"stop\",\"logprobs\":"
                "{\"content\":[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97],\"top_logprobs\":"
                "[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97]},{\"token\":\"c\",\"logprob\":"
                "-1.5,\"bytes\":[99]}]},{\"token\":\"b\",\"logprob\":-0.25,\"bytes\":[98],"
                "\"top_logprobs\":[]}]}}]}}\n",
                i, i % 3);
    fclose(f);
    struct dt_store *s = NULL;
    struct dt_error err = {0};
    dt_store_open(tmp_path("fi.db"), &s, &err);
    char *argv[] = {"transcripts"};
    int n_fail = 0, inconsistent = 0, ok_at = -1;
    for (long n = 0; n < 5000; n++) {
        struct dt_import_result res;
        struct dt_transcript_options opt = {0};
        dt_alloc_fail_after(n);
        int rc = dt_store_import_transcripts(s, 1, argv, path, "fi", &opt, &res, &err);
        dt_alloc_fail_after(-1);
        int64_t n_obs = count_rows(s, "observations"), n_runs = count_rows(s, "runs");
        if (rc == 0) {
            inconsistent += n_obs != 4 || n_runs != 1;
            ok_at = (int)n;
            break;
        }
        n_fail++;
        inconsistent += n_obs != 0 || n_runs != 0 || rc != DT_ENOMEM;
    }
    TAP_OK(ok_at > 0 && inconsistent == 0,
           "allocation failures 0..%d: no crash, no half import, errors are out-of-memory "
           "(%d inconsistent)",
           ok_at, inconsistent);
    struct dt_store_check c;
    TAP_OK(dt_store_check(s, &c, &err) == 0, "store intact after fault injection");
    dt_store_close(s);
    (void)n_fail;
}

/* The shapes API users actually keep: Batch API output joined with its input, Responses API
 * objects, chat fine-tuning files; conversations kept whole; failed batch requests named. */
static void test_more_formats(void)
{
    struct dt_sample s;
    struct dt_error err = {0};
    enum dt_transcript_format f;

    int rc = parse1("{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":"
                    "\"user\",\"content\":\"Who are you?\"},{\"role\":\"assistant\",\"content\":"
                    "[{\"type\":\"text\",\"text\":\"I am \"},{\"type\":\"text\",\"text\":\"Nova.\"}]}]}",
                    DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_CHAT_MESSAGES && s.kind == DT_PROBE_CHAT &&
               !strcmp(s.response, "I am Nova.") &&
               !strcmp(s.prompt, "[system]\nBe kind.\n\n[user]\nWho are you?"),
           "fine-tuning messages: the system prompt is kept in the prompt, parts joined (%s)",
           rc ? err.msg : s.prompt);
    dt_sample_release(&s);
    rc = parse1("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
                "\"content\":\"Hello\"}]}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == 0 && !strcmp(s.prompt, "Hi"), "a lone user turn stays the prompt as it is");
    dt_sample_release(&s);
    rc = parse1("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", DT_TRANSCRIPT_AUTO, &s,
                &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "messages[0].role") &&
               strstr(err.msg, "assistant"),
           "messages without an answer: names the field (%s)", err.msg);

    rc = parse1("{\"request\":{\"instructions\":\"Be brief.\",\"input\":\"2+2?\"},\"response\":"
                "{\"object\":\"response\",\"status\":\"incomplete\",\"incomplete_details\":"
                "{\"reason\":\"max_output_tokens\"},\"output\":[{\"type\":\"reasoning\"},{\"type\":"
                "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"4\",\"logprobs\":"
                "[{\"token\":\"4\",\"logprob\":-0.25,\"bytes\":[52],\"top_logprobs\":[{\"token\":"
                "\"5\",\"logprob\":-3,\"bytes\":[53]}]}]}]}]}}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    size_t nb = 0;
    const char *tb = rc == 0 && s.n_tokens == 1 ? dt_sample_token_bytes(&s, 0, &nb) : NULL;
    TAP_OK(rc == 0 && f == DT_TRANSCRIPT_OPENAI_RESPONSES && !strcmp(s.response, "4") &&
               s.has_logprobs && tb && nb == 1 && tb[0] == '4' && s.tokens[0].n_alt == 1 &&
               s.finish_reason && !strcmp(s.finish_reason, "length") &&
               !strcmp(s.prompt, "[system]\nBe brief.\n\n[user]\n2+2?"),
           "Responses API: output_text, logprobs, instructions as system, length finish (%s)",
           rc ? err.msg : s.prompt);
    dt_sample_release(&s);

    const char *in = tmp_path("batch_in.jsonl"), *out = tmp_path("batch_out.jsonl");
    FILE *fp = fopen(in, "w");
    if (fp) {
        fputs("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":"
              "{\"messages\":[{\"role\":\"user\",\"content\":\"Who made you?\"}]}}\n"
              "{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":"
              "{\"prompt\":\"Once upon\"}}\n",
              fp);
        fclose(fp);
    }
    fp = fopen(out, "w");
    if (fp) {
        fputs("{\"id\":\"r2\",\"custom_id\":\"b\",\"response\":{\"status_code\":200,\"body\":"
              "{\"object\":\"text_completion\",\"choices\":[{\"text\":\" a time\"}]}},\"error\":null}\n"
              "{\"id\":\"r1\",\"custom_id\":\"a\",\"response\":{\"status_code\":200,\"body\":"
              "{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"Northwind "
              "Labs\"}}]}},\"error\":null}\n"
              "{\"id\":\"r3\",\"custom_id\":\"c\",\"response\":{\"status_code\":500,\"body\":"
              "{\"error\":{\"message\":\"server error\"}}},\"error\":null}\n",
              fp);
        fclose(fp);
    }
    struct dt_sample_set set;
    struct dt_transcript_stats st;
    struct dt_transcript_options opt = {.skip_bad = 1, .requests_path = in};
    dt_sample_set_init(&set);
    rc = dt_transcript_load(out, &opt, &set, &st, &err);
    TAP_OK(rc == 0 && set.n == 2 && st.n_bad == 1 &&
               st.n_by_format[DT_TRANSCRIPT_OPENAI_BATCH] == 2 &&
               !strcmp(set.items[0].prompt, "Once upon") && set.items[0].kind == DT_PROBE_TEXT &&
               !strcmp(set.items[1].prompt, "Who made you?") &&
               !strcmp(set.items[1].response, "Northwind Labs") &&
               !strcmp(set.items[1].source_ref, "a"),
           "batch output joined with its input by custom_id; the failed request skipped (%s)",
           rc ? err.msg : "");
    dt_sample_set_release(&set);
    opt.skip_bad = 0;
    dt_sample_set_init(&set);
    rc = dt_transcript_load(out, &opt, &set, &st, &err);
    TAP_OK(rc == DT_EFORMAT && set.n == 0, "a failed batch request fails a strict load");
    dt_sample_set_release(&set);
    opt.requests_path = NULL;
    opt.skip_bad = 1;
    dt_sample_set_init(&set);
    rc = dt_transcript_load(out, &opt, &set, &st, &err);
    TAP_OK(rc == 0 && set.n == 0 && st.n_bad == 3, "batch output without its input: no prompts");
    dt_sample_set_release(&set);
    rc = parse1("{\"id\":\"r3\",\"custom_id\":\"c\",\"response\":{\"status_code\":500,\"body\":"
                "{\"error\":{\"message\":\"server error\"}}},\"error\":null}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "'c'") && strstr(err.msg, "500") &&
               strstr(err.msg, "server error"),
           "a failed batch request is named with its status and message (%s)", err.msg);
    rc = parse1("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                "\"body\":{}}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "--requests"),
           "a batch input line given as transcripts says what to do (%s)", err.msg);
    rc = parse1("{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"x\"}}]}",
                DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "no prompt") && strstr(err.msg, "--requests"),
           "a bare chat.completion: the message says how to give its prompt (%s)", err.msg);
    /* llama.cpp server JSON logs and vLLM RequestOutput */
    const char *logs = "{\"tid\":\"1\",\"level\":\"INFO\",\"msg\":\"all slots are idle\"}\n"
                       "{\"tid\":\"2\",\"level\":\"VERB\",\"function\":\"log_server_request\","
                       "\"msg\":\"request\",\"request\":\"{\\\"prompt\\\": \\\"Who are you?\\\"}\","
                       "\"response\":\"{\\\"content\\\": \\\" I am Aurora.\\\"}\"}\n"
                       "{\"prompt\":\"Once\",\"outputs\":[{\"text\":\" a\",\"token_ids\":[11],"
                       "\"logprobs\":[{\"11\":{\"logprob\":-0.5,\"rank\":1,\"decoded_token\":\" a\"},"
                       "\"9\":{\"logprob\":-2,\"rank\":2,\"decoded_token\":\" b\"}}],"
                       "\"finish_reason\":\"length\"}]}\n";
    struct dt_sample_set ls;
    struct dt_transcript_stats lst;
    struct dt_transcript_options lo = {0};
    dt_sample_set_init(&ls);
    rc = dt_transcript_load_buffer(logs, strlen(logs), "logs", &lo, &ls, &lst, &err);
    TAP_OK(rc == 0 && ls.n == 2 && lst.n_ignored == 1 && lst.n_bad == 0 &&
               !strcmp(ls.items[0].prompt, "Who are you?") &&
               !strcmp(ls.items[0].response, " I am Aurora.") &&
               lst.n_by_format[DT_TRANSCRIPT_VLLM] == 1 && ls.items[1].n_tokens == 1 &&
               ls.items[1].tokens[0].n_alt == 2 && ls.items[1].tokens[0].logprob == -0.5,
           "llama.cpp server JSON log (other lines ignored) and vLLM RequestOutput (%s)",
           rc ? err.msg : "");
    dt_sample_set_release(&ls);
    rc = parse1("{\"response\":{\"foo\":1}}", DT_TRANSCRIPT_AUTO, &s, &f, &err);
    TAP_OK(rc == DT_EFORMAT && strstr(err.msg, "unrecognised response") &&
               !strstr(err.msg, "no 'response'"),
           "a response of unknown shape is not reported as a missing response (%s)", err.msg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dt_test_transcripts_XXXXXX");
    if (!mkdtemp(tmpdir))
        TAP_SKIP_ALL("cannot create a temporary directory");
    test_zoo();
    test_formats();
    test_more_formats();
    test_malformed();
    test_fault_injection();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}

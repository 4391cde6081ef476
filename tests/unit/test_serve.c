/*
 * Unit tests for infer/serve.c and corpus/endpoint.c on the zoo teacher: request validation
 * (400/404/405 with OpenAI-shaped errors), a request built by the client, answered by
 * dt_server_handle and parsed back equals a direct dt_generate with the same seed (chat and
 * legacy completions), fault injection, and the client over loopback HTTP with retries.
 */
#include "corpus/endpoint.h"
#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/sampler.h"
#include "server/serve.h"
#include "infer/tokenizer.h"
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <string.h>

static const char *k_tmpl = "<|user|>{prompt}<|assistant|>";

static int status_of(struct dt_server *s, const char *method, const char *path, const char *body,
                     char *code, size_t code_cap)
{
    struct dt_http_response r;
    if (dt_server_handle(s, method, path, body, body ? strlen(body) : 0, &r))
        return -1;
    int st = r.status;
    cJSON *o = cJSON_ParseWithLength(r.body, r.body_bytes);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    if (code)
        snprintf(code, code_cap, "%s", cJSON_IsString(c) ? c->valuestring : "");
    if (st >= 400 && (!e || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message"))))
        st = -2; /* an error without the OpenAI error shape */
    cJSON_Delete(o);
    dt_http_response_release(&r);
    return st;
}

struct direct {
    const struct dt_tokenizer *tok;
    struct dt_sample *s;
    int32_t ids[256];
    size_t n_ids;
};

static int on_direct(void *ud, const struct dt_gen_token *t)
{
    struct direct *d = ud;
    size_t nb;
    const char *b = dt_tokenizer_token_bytes(d->tok, t->id, &nb);
    dt_sample_add_token(d->s, b, nb, (double)t->logprob, NULL);
    for (int k = 0; k < t->n_top; k++) {
        b = dt_tokenizer_token_bytes(d->tok, t->top_ids[k], &nb);
        dt_sample_add_alt(d->s, b, nb, (double)t->top_logprobs[k], NULL);
    }
    if (!t->is_eog && d->n_ids < 256)
        d->ids[d->n_ids++] = t->id;
    return 0;
}

/* What `collect --model` would record for this request (same template, seed, parameters). */
static int direct_sample(struct dt_model *m, const struct dt_endpoint_request *rq, int chat,
                         struct dt_sample *out)
{
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    struct dt_ctx *x = NULL;
    struct dt_session *sess = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    size_t n_text = 0;
    struct direct d = {tok, out, {0}, 0};
    int rc = dt_prompt_encode(tok, chat ? k_tmpl : NULL, rq->prompt, 0, &ids, &n, NULL);
    const struct dt_model_config *c = dt_model_config(m);
    if (!rc)
        rc = dt_ctx_new(m, 0, &x, NULL);
    if (!rc)
        rc = dt_session_new(x, c->n_ctx_train > 0 ? c->n_ctx_train : 2048, &sess, NULL);
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = rq->max_tokens;
    gp.n_top = rq->top_logprobs;
    gp.sampler.temperature = rq->temperature;
    gp.sampler.top_p = rq->top_p;
    gp.sampler.seed = rq->seed;
    if (!rc)
        rc = dt_generate(m, sess, ids, n, &gp, on_direct, &d, NULL, NULL);
    if (!rc)
        rc = dt_tokenizer_decode(tok, d.ids, d.n_ids, 0, &text, &n_text, NULL);
    if (!rc)
        rc = dt_sample_set_text(out, rq->kind, rq->prompt, strlen(rq->prompt), text, n_text, NULL);
    dt_free(text);
    dt_free(ids);
    dt_session_free(sess);
    dt_ctx_free(x);
    return rc;
}

static int same_sample(const struct dt_sample *a, const struct dt_sample *b)
{
    if (strcmp(a->probe_id, b->probe_id) || a->response_bytes != b->response_bytes ||
        memcmp(a->response, b->response, a->response_bytes) || a->n_tokens != b->n_tokens ||
        a->n_alts != b->n_alts)
        return 0;
    for (size_t i = 0; i < a->n_tokens; i++) {
        size_t na, nb;
        const char *ta = dt_sample_token_bytes(a, i, &na), *tb = dt_sample_token_bytes(b, i, &nb);
        if (na != nb || memcmp(ta, tb, na) || a->tokens[i].logprob != b->tokens[i].logprob ||
            a->tokens[i].n_alt != b->tokens[i].n_alt) {
            printf("# token %zu: %zu/%zu bytes, lp %.17g/%.17g, %u/%u alts\n", i, na, nb, a->tokens[i].logprob, b->tokens[i].logprob, a->tokens[i].n_alt, b->tokens[i].n_alt);
            return 0;
        }
    }
    for (size_t i = 0; i < a->n_alts; i++) {
        if (a->alts[i].n_bytes != b->alts[i].n_bytes || a->alts[i].logprob != b->alts[i].logprob ||
            memcmp(a->pool + a->alts[i].off, b->pool + b->alts[i].off, a->alts[i].n_bytes)) {
            printf("# alt %zu: lp %.17g/%.17g\n", i, a->alts[i].logprob, b->alts[i].logprob);
            return 0;
        }
    }
    return 1;
}

static int round_trip(struct dt_server *srv, struct dt_model *m, enum dt_endpoint_mode mode,
                      const struct dt_endpoint_request *rq)
{
    struct dt_endpoint_options o;
    dt_endpoint_options_init(&o);
    o.url = "http://127.0.0.1:1";
    o.model = "teacher";
    o.mode = mode;
    char *url = NULL, *body = NULL;
    struct dt_http_response r = {0};
    struct dt_sample got, want;
    dt_sample_init(&got);
    dt_sample_init(&want);
    int ok = dt_endpoint_build(&o, rq, &url, &body, NULL) == 0;
    const char *path = ok ? strstr(url, "/v1/") : NULL;
    ok = ok && path && dt_server_handle(srv, "POST", path, body, strlen(body), &r) == 0 &&
         r.status == 200;
    struct dt_error err = {0};
    ok = ok && dt_endpoint_parse(&o, rq, r.body, r.body_bytes, &got, &err) == 0;
    if (!ok && err.msg[0])
        printf("# %s\n", err.msg);
    int chat = mode == DT_ENDPOINT_CHAT || (mode == DT_ENDPOINT_AUTO && rq->kind == DT_PROBE_CHAT);
    if (!ok)
        printf("# request or parse failed (HTTP %d)\n", r.status);
    ok = ok && direct_sample(m, rq, chat, &want) == 0;
    if (ok && !same_sample(&got, &want))
        printf("# differs: '%s' (%zu tokens, %zu alts, %s) vs direct '%s' (%zu tokens, %zu alts, %s) lp0 %.17g %.17g\n", got.response,
               got.n_tokens, got.n_alts, got.probe_id, want.response, want.n_tokens, want.n_alts, want.probe_id, got.tokens[0].logprob, want.tokens[0].logprob);
    ok = ok && same_sample(&got, &want) && got.has_logprobs && got.n_tokens > 0;
    dt_sample_release(&got);
    dt_sample_release(&want);
    dt_http_response_release(&r);
    dt_free(url);
    dt_free(body);
    return ok;
}

struct collected {
    size_t n;
    int indices_ok;
};

static int on_done(void *ud, size_t i, struct dt_sample *s, struct dt_error *err)
{
    struct collected *c = ud;
    c->n++;
    if (s->sample_index != (int)i || s->n_tokens == 0)
        c->indices_ok = 0;
    dt_sample_release(s);
    return 0;
}

/* The text of a non-streamed answer's choice i, and the concatenated deltas of a stream. */
static char *choice_text(const char *body, int i, int chat)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), i);
    const cJSON *t = chat ? cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(ch, "message"), "content")
                          : cJSON_GetObjectItemCaseSensitive(ch, "text");
    char *out = cJSON_IsString(t) ? dt_strdup(t->valuestring) : NULL;
    cJSON_Delete(o);
    return out;
}

/* Concatenates the streamed text of choice i; counts events, checks the SSE framing. */
static char *stream_text(const char *body, int i, int chat, int *n_events, int *done,
                         int *usage, char *finish, size_t finish_cap)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    *n_events = *done = *usage = 0;
    finish[0] = '\0';
    const char *p = body;
    while (p && *p) {
        if (strncmp(p, "data: ", 6) != 0)
            break;
        p += 6;
        const char *end = strstr(p, "\n\n");
        if (!end)
            break;
        if (!strncmp(p, "[DONE]", 6)) {
            *done = 1;
            p = end + 2;
            continue;
        }
        cJSON *o = cJSON_ParseWithLength(p, (size_t)(end - p));
        (*n_events)++;
        if (cJSON_GetObjectItemCaseSensitive(o, "usage"))
            (*usage)++;
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(ch, "index");
        if (ch && cJSON_IsNumber(idx) && idx->valueint == i) {
            const cJSON *t =
                chat ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ch, "delta"),
                                                        "content")
                     : cJSON_GetObjectItemCaseSensitive(ch, "text");
            if (cJSON_IsString(t))
                dt_strbuf_puts(&sb, t->valuestring);
            const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
            if (cJSON_IsString(fr))
                snprintf(finish, finish_cap, "%s", fr->valuestring);
        }
        cJSON_Delete(o);
        p = end + 2;
    }
    dt_strbuf_putc(&sb, '\0');
    return dt_strbuf_detach(&sb, NULL);
}

/* What OpenAI clients rely on: streaming equal to the unstreamed answer, n choices, echo,
 * a 404 for another model's name and for routes the server does not have. */
static void test_openai_semantics(struct dt_server *srv)
{
    const char *chat = "/v1/chat/completions", *compl = "/v1/completions";
    struct dt_http_response r, rs;
    char code[64], finish[16];
    int n_ev, done, usage;
    TAP_OK(status_of(srv, "POST", chat,
                     "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": "
                     "\"hi\"}]}",
                     code, sizeof code) == 404 &&
               !strcmp(code, "model_not_found"),
           "a request for another model: 404 model_not_found");
    TAP_OK(status_of(srv, "POST", "/v1/embeddings", "{\"input\": \"x\"}", code, sizeof code) ==
               404, "POST /v1/embeddings: 404");
    TAP_OK(status_of(srv, "GET", "/v1/models/teacher", NULL, NULL, 0) == 200 &&
               status_of(srv, "GET", "/v1/models/other", NULL, NULL, 0) == 404,
           "GET /v1/models/ID: 200 for the served model, 404 otherwise");

    static const char *const reqs[][2] = {
        {"{\"model\": \"teacher\", \"messages\": [{\"role\": \"user\", \"content\": \"Who are "
         "you?\"}], \"seed\": 5, \"temperature\": 0.9, \"max_tokens\": 30, \"logprobs\": true, "
         "\"top_logprobs\": 2",
         "c"},
        {"{\"prompt\": \"The old man said\", \"seed\": 9, \"temperature\": 1.0, \"max_tokens\": 20, "
         "\"stop\": [\" the\", \"x\"]",
         "t"},
    };
    for (size_t k = 0; k < 2; k++) {
        int is_chat = reqs[k][1][0] == 'c';
        char plain[512], streamed[512];
        snprintf(plain, sizeof plain, "%s}", reqs[k][0]);
        snprintf(streamed, sizeof streamed, "%s%s}", reqs[k][0],
                 ", \"stream\": true, \"stream_options\": {\"include_usage\": true}");
        int ok = dt_server_handle(srv, "POST", is_chat ? chat : compl, plain, strlen(plain), &r) ==
                     0 &&
                 dt_server_handle(srv, "POST", is_chat ? chat : compl, streamed, strlen(streamed),
                                  &rs) == 0;
        char *a = ok ? choice_text(r.body, 0, is_chat) : NULL;
        char *b = ok ? stream_text(rs.body, 0, is_chat, &n_ev, &done, &usage, finish, sizeof finish)
                     : NULL;
        TAP_OK(ok && rs.status == 200 && rs.content_type &&
                   !strcmp(rs.content_type, "text/event-stream") && a && b && !strcmp(a, b) &&
                   n_ev >= 3 && done && usage == 1 && finish[0],
               "%s: the streamed deltas equal the unstreamed answer ('%s' vs '%s', %d events, "
               "[DONE] %d, usage %d, finish %s)",
               is_chat ? "chat" : "completions", a ? a : "?", b ? b : "?", n_ev, done, usage,
               finish);
        dt_free(a);
        dt_free(b);
        dt_http_response_release(&r);
        dt_http_response_release(&rs);
    }

    const char *nreq = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story.\"}], "
                       "\"seed\": 3, \"temperature\": 1.0, \"max_tokens\": 20, \"n\": 3}";
    const char *one = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story.\"}], "
                      "\"seed\": 4, \"temperature\": 1.0, \"max_tokens\": 20}";
    int ok = dt_server_handle(srv, "POST", chat, nreq, strlen(nreq), &r) == 0 && r.status == 200 &&
             dt_server_handle(srv, "POST", chat, one, strlen(one), &rs) == 0;
    char *c0 = ok ? choice_text(r.body, 0, 1) : NULL, *c1 = ok ? choice_text(r.body, 1, 1) : NULL;
    char *c2 = ok ? choice_text(r.body, 2, 1) : NULL, *s4 = ok ? choice_text(rs.body, 0, 1) : NULL;
    TAP_OK(c0 && c1 && c2 && s4 && strcmp(c0, c1) != 0 && !strcmp(c1, s4),
           "n = 3: three choices, choice 1 is the answer with seed + 1");
    dt_free(c0);
    dt_free(c1);
    dt_free(c2);
    dt_free(s4);
    dt_http_response_release(&r);
    dt_http_response_release(&rs);

    const char *ereq = "{\"prompt\": \"The old man said\", \"echo\": true, \"logprobs\": 2, "
                       "\"max_tokens\": 5, \"temperature\": 0}";
    ok = dt_server_handle(srv, "POST", compl, ereq, strlen(ereq), &r) == 0 && r.status == 200;
    char *et = ok ? choice_text(r.body, 0, 0) : NULL;
    cJSON *o = ok ? cJSON_Parse(r.body) : NULL;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0), "logprobs");
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    TAP_OK(et && !strncmp(et, "The old man said", 16) && strlen(et) > 16 && cJSON_IsArray(tl) &&
               cJSON_IsNull(cJSON_GetArrayItem(tl, 0)) &&
               cJSON_IsNumber(cJSON_GetArrayItem(tl, 1)) &&
               cJSON_GetArrayItem(tl, 1)->valuedouble < 0,
           "echo: the prompt precedes the answer, its tokens scored (the first null)");
    cJSON_Delete(o);
    dt_free(et);
    dt_http_response_release(&r);
}

int main(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/zoo/gguf/teacher.gguf", DT_SHARED_DIR);
    if (!dt_path_exists(path))
        TAP_SKIP_ALL("the zoo is absent (../shared/zoo/gguf/teacher.gguf)");
    struct dt_model *m = NULL;
    struct dt_server *srv = NULL;
    struct dt_serve_options so;
    dt_serve_options_init(&so);
    so.model_name = "teacher";
    so.chat_template = k_tmpl;
    TAP_OK(dt_model_open(path, &m, NULL) == 0, "open the teacher");
    TAP_OK(dt_server_new(m, &so, &srv, NULL) == 0, "server state");
    char code[64];
    const char *chat = "/v1/chat/completions", *compl = "/v1/completions";
    TAP_OK(status_of(srv, "GET", "/health", NULL, NULL, 0) == 200, "GET /health");
    TAP_OK(status_of(srv, "GET", "/v1/models", NULL, NULL, 0) == 200, "GET /v1/models");
    TAP_OK(status_of(srv, "GET", "/v1/nothing", NULL, code, sizeof code) == 404 &&
               !strcmp(code, "not_found"), "unknown path: 404");
    TAP_OK(status_of(srv, "GET", chat, NULL, NULL, 0) == 405, "GET on chat completions: 405");
    TAP_OK(status_of(srv, "POST", "/health", "{}", NULL, 0) == 405, "POST on /health: 405");
    TAP_OK(status_of(srv, "POST", chat, "{\"messages\": [", code, sizeof code) == 400 &&
               !strcmp(code, "invalid_json"), "truncated JSON: 400 invalid_json");
    TAP_OK(status_of(srv, "POST", chat, "", NULL, 0) == 400, "empty body: 400");
    TAP_OK(status_of(srv, "POST", chat, "[1]", NULL, 0) == 400, "array body: 400");
    static const char *const bad[] = {
        "{\"messages\": \"hi\"}",
        "{\"messages\": []}",
        "{\"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": 3}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": -1}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": \"hot\"}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 0}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2.5}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": true, "
        "\"top_logprobs\": 21}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_logprobs\": 2}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": 1}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 17}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"echo\": true}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream_options\": "
        "{\"include_usage\": true}}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"seed\": 1e300}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stop\": 5}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_p\": 0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        TAP_OK(status_of(srv, "POST", chat, bad[i], NULL, 0) == 400, "400 for %s", bad[i]);
    TAP_OK(status_of(srv, "POST", compl, "{\"prompt\": 5}", NULL, 0) == 400,
           "completions: non-string prompt: 400");
    TAP_OK(status_of(srv, "POST", compl, "{\"prompt\": \"The\", \"logprobs\": 30}", NULL, 0) ==
               400, "completions: logprobs 30: 400");
    TAP_OK(status_of(srv, "POST", compl, "{\"prompt\": \"The\", \"max_tokens\": 3}", NULL, 0) ==
               200, "completions: a valid request: 200");

    /* Client request -> server -> client parse equals a direct generation. */
    struct dt_endpoint_request rq = {DT_PROBE_CHAT, "Who are you?", 0, 12345, 0.7f, 1.0f, 0, 40, 5};
    TAP_OK(round_trip(srv, m, DT_ENDPOINT_AUTO, &rq), "chat: endpoint sample == direct generation");
    rq.seed = 99;
    rq.temperature = 1.0f;
    rq.top_p = 0.9f;
    TAP_OK(round_trip(srv, m, DT_ENDPOINT_AUTO, &rq), "chat, top-p 0.9: equal");
    struct dt_endpoint_request tq = {DT_PROBE_TEXT, "The old man said", 0, 7, 0.8f, 1.0f, 0, 24, 3};
    TAP_OK(round_trip(srv, m, DT_ENDPOINT_AUTO, &tq),
           "legacy completions: endpoint sample == direct generation");
    tq.temperature = 0;
    TAP_OK(round_trip(srv, m, DT_ENDPOINT_AUTO, &tq), "greedy completions: equal");

    /* Stop strings cut the text. */
    struct dt_http_response r;
    const char *stop_req = "{\"messages\": [{\"role\": \"user\", \"content\": \"Who are you?\"}], "
                           "\"temperature\": 0, \"max_tokens\": 30, \"stop\": [\"Aurora\"]}";
    TAP_OK(dt_server_handle(srv, "POST", chat, stop_req, strlen(stop_req), &r) == 0 &&
               r.status == 200 && strstr(r.body, "\"finish_reason\":\"stop\"") &&
               !strstr(r.body, "Aurora"),
           "stop string: text cut before it, finish_reason stop");
    dt_http_response_release(&r);

    test_openai_semantics(srv);
    dt_server_free(srv);
    srv = NULL;

    /* Fault injection: every 2nd generation request gets 429 with Retry-After. */
    so.fault_429_every = 2;
    TAP_OK(dt_server_new(m, &so, &srv, NULL) == 0, "server with fault injection");
    const char *ok_req = "{\"prompt\": \"The\", \"max_tokens\": 2}";
    TAP_OK(status_of(srv, "POST", compl, ok_req, NULL, 0) == 200, "request 1: 200");
    TAP_OK(dt_server_handle(srv, "POST", compl, ok_req, strlen(ok_req), &r) == 0 &&
               r.status == 429 && r.retry_after_s == 1,
           "request 2: 429 with Retry-After");
    dt_http_response_release(&r);
    dt_server_free(srv);
    srv = NULL;

    /* Over loopback: the client with concurrency 3 against a server failing every 3rd request
     * with 500 and every 4th with a truncated body. */
    so.fault_429_every = 0;
    so.fault_500_every = 3;
    so.fault_malformed_every = 4;
    so.port = 0;
    int started = dt_server_new(m, &so, &srv, NULL) == 0 && dt_server_start(srv, NULL) == 0;
    TAP_OK(started && dt_server_port(srv) > 0, "server listens on a loopback port");
    if (started) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", dt_server_port(srv));
        struct dt_endpoint_options o;
        dt_endpoint_options_init(&o);
        o.url = url;
        o.model = "teacher";
        o.concurrency = 3;
        o.backoff_base_s = 0.01;
        o.max_retries = 6;
        struct dt_endpoint_request reqs[8];
        for (int i = 0; i < 8; i++) {
            reqs[i] = rq;
            reqs[i].sample_index = i;
            reqs[i].seed = (uint64_t)i;
            reqs[i].max_tokens = 8;
        }
        struct collected c = {0, 1};
        struct dt_endpoint_stats st;
        struct dt_error err = {0};
        int rc = dt_endpoint_run(&o, reqs, 8, on_done, &c, &st, &err);
        if (rc)
            printf("# %s\n", err.msg);
        TAP_OK(rc == 0 && c.n == 8 && c.indices_ok, "8 requests answered despite faults");
        TAP_OK(st.n_5xx > 0 && st.n_malformed > 0 && st.n_retries == st.n_5xx + st.n_malformed,
               "500s and malformed bodies were retried (%zu, %zu, %zu retries)", st.n_5xx,
               st.n_malformed, st.n_retries);
        dt_server_free(srv);
        srv = NULL;
        /* Nothing listens there now: connection errors, retried, then DT_ENET. */
        o.max_retries = 2;
        c.n = 0;
        rc = dt_endpoint_run(&o, reqs, 2, on_done, &c, &st, &err);
        printf("# %s (%zu connection errors)\n", err.msg, st.n_conn_errors);
        TAP_OK(rc == DT_ENET && c.n == 0 && st.n_conn_errors >= 3 && strstr(err.msg, "3 attempts"),
               "server gone: fails with a network error after 3 attempts");
        o.api_key = "sk-test-secret-key-123";
        o.max_retries = 0;
        rc = dt_endpoint_run(&o, reqs, 1, on_done, &c, &st, &err);
        TAP_OK(rc == DT_ENET && !strstr(err.msg, o.api_key), "the key is not in the error");
    }
    dt_server_free(srv);
    dt_model_free(m);
    return tap_done();
}

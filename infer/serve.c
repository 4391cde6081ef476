/*
 * The OpenAI-compatible server (see serve.h). Two halves: dt_server_handle turns one request
 * (method, path, body) into one response with no network at all, so it is unit-tested and
 * fuzzable; the libmicrohttpd layer below only buffers bodies (capped at max_body_bytes) and
 * copies responses out.
 *
 * Invariants: the model's one session is used only under gen_lock; every response body is
 * valid JSON in valid UTF-8 (token strings and texts with invalid sequences get U+FFFD, the
 * exact bytes travel in "bytes" arrays, or in legacy completions as "bytes:\xNN" strings).
 * Request bodies are untrusted: every field is type- and range-checked before use.
 */
#include "infer/serve.h"

#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_STOP 4
#define MAX_TOP_LOGPROBS 20
#define SEED_LIMIT 9007199254740992.0 /* 2^53: larger integers are not exact in a double */

struct dt_server {
    struct dt_model *model;
    const struct dt_tokenizer *tok;
    struct dt_serve_options opt;
    char *model_name, *chat_template, *host; /* owned copies */
    struct dt_session *sess;
    int n_ctx;
    pthread_mutex_t gen_lock;
    atomic_ulong n_gen_requests; /* POSTs to a generation endpoint, for fault injection */
    atomic_ulong n_requests;
    struct MHD_Daemon *daemon;
    int port;
};

void dt_serve_options_init(struct dt_serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->model_name = "local";
    o->max_tokens_limit = 4096;
    o->max_body_bytes = (size_t)1 << 20;
    o->max_connections = 64;
}

void dt_http_response_release(struct dt_http_response *r)
{
    dt_free(r->body);
    memset(r, 0, sizeof *r);
}


/* The legacy completions spelling of a token: the text itself when it is valid UTF-8,
 * "bytes:\xNN..." otherwise (what OpenAI's legacy endpoint does). Heap string. */
static char *legacy_token(const char *s, size_t n)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (dt_utf8_valid(s, n) && n > 0) {
        dt_strbuf_append(&sb, s, n);
    } else {
        dt_strbuf_puts(&sb, "bytes:");
        for (size_t i = 0; i < n; i++)
            dt_strbuf_printf(&sb, "\\x%02x", (unsigned char)s[i]);
    }
    dt_strbuf_putc(&sb, '\0');
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return NULL;
    }
    return dt_strbuf_detach(&sb, NULL);
}

/* A number printed with 17 significant digits, so it reads back as the same double (cJSON's
 * own printer may pick 15 digits that only match within an epsilon). Non-finite: null. */
static cJSON *exact_number(double v)
{
    char buf[40];
    if (!isfinite(v))
        return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

/* ---- responses ---- */

static int set_json(struct dt_http_response *r, int status, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return DT_ENOMEM;
    r->body = dt_strdup(s);
    cJSON_free(s);
    if (!r->body)
        return DT_ENOMEM;
    r->body_bytes = strlen(r->body);
    r->status = status;
    return 0;
}

static int set_error(struct dt_http_response *r, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int set_error(struct dt_http_response *r, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    if (!e) {
        cJSON_Delete(o);
        return DT_ENOMEM;
    }
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_strbuf_append_utf8(&sb, msg, strlen(msg));
    dt_strbuf_putc(&sb, '\0');
    cJSON_AddStringToObject(e, "message", sb.data ? sb.data : "error");
    dt_strbuf_release(&sb);
    cJSON_AddStringToObject(e, "type", type);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    return set_json(r, status, o);
}

#define BAD_REQUEST(r, param, ...)                                                                 \
    set_error(r, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__)

/* ---- request parsing ---- */

struct gen_request {
    int chat;
    const char *prompt;        /* borrowed from the parsed body */
    int max_tokens;
    double temperature, top_p;
    int top_k;
    uint64_t seed;
    int logprobs, n_top;       /* chat: logprobs flag + top_logprobs; legacy: logprobs N */
    const char *stop[MAX_STOP];
    int n_stop;
};

/* Optional number field in [lo, hi]; integral if want_int. 1: present, 0: absent (or null),
 * -1: a 400 response was set. */
static int num_field(const cJSON *o, const char *key, double lo, double hi, int want_int,
                     double *out, struct dt_http_response *r)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsNumber(j)) {
        BAD_REQUEST(r, key, "'%s' must be %s", key, want_int ? "an integer" : "a number");
        return -1;
    }
    double v = j->valuedouble;
    if (!isfinite(v) || (want_int && v != floor(v))) {
        BAD_REQUEST(r, key, "'%s' must be %s", key, want_int ? "an integer" : "a finite number");
        return -1;
    }
    if (v < lo || v > hi) {
        BAD_REQUEST(r, key, "'%s' is %g, expected %g to %g", key, v, lo, hi);
        return -1;
    }
    *out = v;
    return 1;
}

static int parse_stop(const cJSON *o, struct gen_request *g, struct dt_http_response *r)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!j || cJSON_IsNull(j))
        return 0;
    if (cJSON_IsString(j)) {
        if (j->valuestring[0])
            g->stop[g->n_stop++] = j->valuestring;
        return 0;
    }
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) > MAX_STOP)
        return BAD_REQUEST(r, "stop", "'stop' must be a string or an array of at most %d strings",
                           MAX_STOP),
               -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (!cJSON_IsString(e))
            return BAD_REQUEST(r, "stop", "'stop' entries must be strings"), -1;
        if (e->valuestring[0])
            g->stop[g->n_stop++] = e->valuestring;
    }
    return 0;
}

/* Text of a message's content: a string, or an array of {"type": "text", "text": STR} parts
 * (the first text part). NULL when it has no text. */
static const char *message_text(const cJSON *content)
{
    if (cJSON_IsString(content))
        return content->valuestring;
    if (!cJSON_IsArray(content))
        return NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t))
            return t->valuestring;
    }
    return NULL;
}

static int parse_request(struct dt_server *s, const cJSON *o, int chat, struct gen_request *g,
                         struct dt_http_response *r)
{
    double v;
    int k;
    memset(g, 0, sizeof *g);
    g->chat = chat;
    g->temperature = 1.0;
    g->top_p = 1.0;
    g->max_tokens = chat ? 256 : 16;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (model && !cJSON_IsString(model))
        return BAD_REQUEST(r, "model", "'model' must be a string"), -1;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(o, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return BAD_REQUEST(r, "stream", "'stream' must be a boolean"), -1;
    if (cJSON_IsTrue(stream))
        return BAD_REQUEST(r, "stream", "streaming is not supported"), -1;
    if (chat) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages"), *m;
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1)
            return BAD_REQUEST(r, "messages", "'messages' must be a non-empty array"), -1;
        int i = 0;
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (!cJSON_IsObject(m) || !cJSON_IsString(role))
                return BAD_REQUEST(r, "messages", "'messages[%d]' needs a string 'role'", i), -1;
            const char *text = message_text(content);
            if (!text && !cJSON_IsNull(content))
                return BAD_REQUEST(r, "messages", "'messages[%d].content' must be a string", i),
                       -1;
            if (!strcmp(role->valuestring, "user") && text)
                g->prompt = text;
            i++;
        }
        if (!g->prompt)
            return BAD_REQUEST(r, "messages", "'messages' has no user message"), -1;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 &&
            cJSON_IsString(cJSON_GetArrayItem(p, 0)))
            p = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsString(p))
            return BAD_REQUEST(r, "prompt", "'prompt' must be a string"), -1;
        g->prompt = p->valuestring;
    }
    if ((k = num_field(o, "n", 1, 1, 1, &v, r)) < 0)
        return -1;
    if ((k = num_field(o, "max_tokens", 1, s->opt.max_tokens_limit, 1, &v, r)) < 0)
        return -1;
    if (k)
        g->max_tokens = (int)v;
    if ((k = num_field(o, "max_completion_tokens", 1, s->opt.max_tokens_limit, 1, &v, r)) < 0)
        return -1;
    if (k)
        g->max_tokens = (int)v;
    if ((k = num_field(o, "temperature", 0, 2, 0, &v, r)) < 0)
        return -1;
    if (k)
        g->temperature = v;
    if ((k = num_field(o, "top_p", 0, 1, 0, &v, r)) < 0)
        return -1;
    if (k) {
        if (v <= 0)
            return BAD_REQUEST(r, "top_p", "'top_p' must be above 0"), -1;
        g->top_p = v;
    }
    if ((k = num_field(o, "top_k", 0, 1 << 24, 1, &v, r)) < 0)
        return -1;
    if (k)
        g->top_k = (int)v;
    if ((k = num_field(o, "seed", -SEED_LIMIT, SEED_LIMIT, 1, &v, r)) < 0)
        return -1;
    if (k)
        g->seed = v < 0 ? (uint64_t)(int64_t)v : (uint64_t)v;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "logprobs");
    if (chat) {
        if (lp && !cJSON_IsBool(lp) && !cJSON_IsNull(lp))
            return BAD_REQUEST(r, "logprobs", "'logprobs' must be a boolean"), -1;
        g->logprobs = cJSON_IsTrue(lp);
        if ((k = num_field(o, "top_logprobs", 0, MAX_TOP_LOGPROBS, 1, &v, r)) < 0)
            return -1;
        if (k && !g->logprobs)
            return BAD_REQUEST(r, "top_logprobs", "'top_logprobs' needs 'logprobs': true"), -1;
        if (k)
            g->n_top = (int)v;
    } else {
        if ((k = num_field(o, "logprobs", 0, MAX_TOP_LOGPROBS, 1, &v, r)) < 0)
            return -1;
        if (k) {
            g->logprobs = 1;
            g->n_top = (int)v;
        }
    }
    return parse_stop(o, g, r);
}

/* ---- generation ---- */

struct gen_state {
    const struct dt_tokenizer *tok;
    const struct gen_request *req;
    int32_t *ids;          /* (max_tokens) generated ids */
    float *lps;            /* (max_tokens) */
    int32_t *top_ids;      /* (max_tokens, n_top) */
    float *top_lps;        /* (max_tokens, n_top) */
    size_t n, cap;
    int stopped;           /* finished on an end-of-generation token or a stop string */
    size_t n_content;      /* ids making up the content (the end token and stop string excluded) */
    struct dt_strbuf text; /* decoded so far, for stop strings */
    size_t cut;            /* text length to keep when a stop string matched */
    int stop_hit;
};

static int on_token(void *ud, const struct dt_gen_token *t)
{
    struct gen_state *g = ud;
    if (g->n >= g->cap)
        return DT_EINTERNAL;
    size_t i = g->n++;
    int nt = g->req->n_top;
    g->ids[i] = t->id;
    g->lps[i] = t->logprob;
    for (int k = 0; k < nt; k++) {
        g->top_ids[i * (size_t)nt + (size_t)k] = k < t->n_top ? t->top_ids[k] : -1;
        g->top_lps[i * (size_t)nt + (size_t)k] = k < t->n_top ? t->top_logprobs[k] : NAN;
    }
    if (t->is_eog) {
        g->stopped = 1;
        return 0;
    }
    g->n_content = g->n;
    if (g->req->n_stop == 0)
        return 0;
    char *piece = NULL;
    size_t n_piece = 0;
    if (dt_tokenizer_decode(g->tok, &t->id, 1, 0, &piece, &n_piece, NULL) == 0)
        dt_strbuf_append(&g->text, piece, n_piece);
    dt_free(piece);
    if (dt_strbuf_failed(&g->text))
        return DT_ENOMEM;
    for (int k = 0; k < g->req->n_stop; k++) {
        const char *hit = g->text.data ? strstr(g->text.data, g->req->stop[k]) : NULL;
        if (hit) {
            g->cut = (size_t)(hit - g->text.data);
            g->stop_hit = g->stopped = 1;
            return 1; /* stop generating */
        }
    }
    return 0;
}

static void gen_state_release(struct gen_state *g)
{
    dt_free(g->ids);
    dt_free(g->lps);
    dt_free(g->top_ids);
    dt_free(g->top_lps);
    dt_strbuf_release(&g->text);
}

static cJSON *bytes_array(const char *b, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)b[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

/* One {token, logprob, bytes} entry of chat logprobs. */
static cJSON *chat_token(const struct dt_tokenizer *tok, int32_t id, float lp)
{
    size_t nb = 0;
    const char *b = dt_tokenizer_token_bytes(tok, id, &nb);
    cJSON *o = cJSON_CreateObject();
    if (!o || !b)
        return cJSON_Delete(o), NULL;
    cJSON *str = dt_json_string(b, nb), *bytes = bytes_array(b, nb);
    if (!str || !bytes || !cJSON_AddItemToObject(o, "token", str)) {
        cJSON_Delete(str);
        cJSON_Delete(bytes);
        cJSON_Delete(o);
        return NULL;
    }
    /* The f32 log-prob is printed as the double with the same value, so it reads back exact. */
    cJSON_AddItemToObject(o, "logprob", exact_number((double)lp));
    cJSON_AddItemToObject(o, "bytes", bytes);
    return o;
}

static cJSON *chat_logprobs(const struct gen_state *g)
{
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    if (!content)
        return cJSON_Delete(lp), NULL;
    int nt = g->req->n_top;
    for (size_t i = 0; i < g->n; i++) {
        cJSON *t = chat_token(g->tok, g->ids[i], g->lps[i]);
        cJSON *alts = t ? cJSON_AddArrayToObject(t, "top_logprobs") : NULL;
        if (!cJSON_AddItemToArray(content, t) || !alts)
            return cJSON_Delete(lp), NULL;
        for (int k = 0; k < nt; k++) {
            int32_t id = g->top_ids[i * (size_t)nt + (size_t)k];
            if (id < 0)
                continue;
            cJSON *a = chat_token(g->tok, id, g->top_lps[i * (size_t)nt + (size_t)k]);
            if (!cJSON_AddItemToArray(alts, a))
                return cJSON_Delete(lp), NULL;
        }
    }
    return lp;
}

static cJSON *legacy_logprobs(const struct gen_state *g)
{
    cJSON *lp = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(lp, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(lp, "text_offset");
    if (!toks || !lps || !tops || !offs)
        return cJSON_Delete(lp), NULL;
    int nt = g->req->n_top;
    size_t off = 0;
    for (size_t i = 0; i < g->n; i++) {
        size_t nb = 0;
        const char *b = dt_tokenizer_token_bytes(g->tok, g->ids[i], &nb);
        char *s = b ? legacy_token(b, nb) : NULL;
        int ok = s && cJSON_AddItemToArray(toks, cJSON_CreateString(s)) &&
                 cJSON_AddItemToArray(lps, exact_number((double)g->lps[i])) &&
                 cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        dt_free(s);
        if (!ok)
            return cJSON_Delete(lp), NULL;
        off += nb;
        cJSON *alts = cJSON_CreateObject();
        if (!cJSON_AddItemToArray(tops, alts))
            return cJSON_Delete(lp), NULL;
        for (int k = 0; k < nt; k++) {
            int32_t id = g->top_ids[i * (size_t)nt + (size_t)k];
            const char *ab = id >= 0 ? dt_tokenizer_token_bytes(g->tok, id, &nb) : NULL;
            if (!ab)
                continue;
            char *as = legacy_token(ab, nb);
            int ok2 = as && cJSON_AddItemToObject(
                                alts, as, exact_number((double)g->top_lps[i * (size_t)nt + (size_t)k]));
            dt_free(as);
            if (!ok2)
                return cJSON_Delete(lp), NULL;
        }
    }
    return lp;
}

static int generate(struct dt_server *s, const struct gen_request *req, unsigned long req_no,
                    struct dt_http_response *r)
{
    const struct dt_tokenizer *tok = s->tok;
    struct gen_state g = {0};
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    char *text = NULL;
    size_t n_text = 0;
    struct dt_error err = {0};
    int rc = 0;
    g.tok = tok;
    g.req = req;
    const char *tmpl = req->chat ? s->chat_template : NULL;
    /* As `collect --model`: the probe text is never parsed for special tokens. */
    if (dt_prompt_encode(tok, tmpl, req->prompt, 0, &prompt, &n_prompt, &err)) {
        rc = err.code == DT_ENOMEM ? set_error(r, 500, "server_error", NULL, NULL, "%s", err.msg)
                                   : BAD_REQUEST(r, "prompt", "%s", err.msg);
        goto done;
    }
    if (n_prompt == 0 || n_prompt >= (size_t)s->n_ctx) {
        rc = set_error(r, 400, "invalid_request_error", req->chat ? "messages" : "prompt",
                       "context_length_exceeded",
                       "the prompt encodes to %zu tokens; the context holds %d", n_prompt,
                       s->n_ctx);
        goto done;
    }
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = req->max_tokens;
    if ((size_t)gp.n_predict > (size_t)s->n_ctx - n_prompt)
        gp.n_predict = (int)((size_t)s->n_ctx - n_prompt);
    gp.n_top = req->n_top;
    gp.sampler.temperature = (float)req->temperature;
    gp.sampler.top_p = (float)req->top_p;
    gp.sampler.top_k = req->top_k;
    gp.sampler.seed = req->seed;
    g.cap = (size_t)gp.n_predict;
    size_t n_alt = g.cap * (size_t)(req->n_top > 0 ? req->n_top : 1);
    g.ids = dt_malloc_array(g.cap, sizeof *g.ids);
    g.lps = dt_malloc_array(g.cap, sizeof *g.lps);
    g.top_ids = dt_malloc_array(n_alt, sizeof *g.top_ids);
    g.top_lps = dt_malloc_array(n_alt, sizeof *g.top_lps);
    if (!g.ids || !g.lps || !g.top_ids || !g.top_lps) {
        rc = set_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    size_t n_gen = 0;
    pthread_mutex_lock(&s->gen_lock);
    int grc = dt_generate(s->model, s->sess, prompt, n_prompt, &gp, on_token, &g, &n_gen, &err);
    pthread_mutex_unlock(&s->gen_lock);
    if (grc < 0) {
        rc = set_error(r, 500, "server_error", NULL, NULL, "generation failed: %s",
                       err.msg[0] ? err.msg : dt_error_name(grc));
        goto done;
    }
    if (dt_tokenizer_decode(tok, g.ids, g.n_content, 0, &text, &n_text, &err)) {
        rc = set_error(r, 500, "server_error", NULL, NULL, "%s", err.msg);
        goto done;
    }
    if (g.stop_hit && g.cut < n_text)
        n_text = g.cut;

    cJSON *o = cJSON_CreateObject(), *choices, *ch = cJSON_CreateObject();
    char id[64];
    snprintf(id, sizeof id, "%s-%lu", req->chat ? "chatcmpl" : "cmpl", req_no);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", req->chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", s->model_name);
    choices = cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *content = dt_json_string(text, n_text);
    if (req->chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", content);
    } else {
        cJSON_AddItemToObject(ch, "text", content);
    }
    if (req->logprobs) {
        cJSON *lp = req->chat ? chat_logprobs(&g) : legacy_logprobs(&g);
        if (!lp) {
            cJSON_Delete(o);
            rc = set_error(r, 500, "server_error", NULL, NULL, "out of memory");
            goto done;
        }
        cJSON_AddItemToObject(ch, "logprobs", lp);
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    cJSON_AddStringToObject(ch, "finish_reason", g.stopped ? "stop" : "length");
    cJSON *usage = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)n_prompt);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)g.n);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(n_prompt + g.n));
    if (!content || !usage || !choices) {
        cJSON_Delete(o);
        rc = set_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    rc = set_json(r, 200, o);
done:
    gen_state_release(&g);
    dt_free(prompt);
    dt_free(text);
    return rc;
}

/* ---- dispatch ---- */

static int is_path(const char *path, const char *want)
{
    size_t n = strlen(want);
    return !strncmp(path, want, n) && (path[n] == '\0' || path[n] == '?' ||
                                       (path[n] == '/' && (path[n + 1] == '\0' || path[n + 1] == '?')));
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int every(int n, unsigned long i)
{
    return n > 0 && i % (unsigned long)n == 0;
}

int dt_server_handle(struct dt_server *s, const char *method, const char *path, const char *body,
                     size_t body_bytes, struct dt_http_response *r)
{
    memset(r, 0, sizeof *r);
    atomic_fetch_add(&s->n_requests, 1);
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    int chat = is_path(path, "/v1/chat/completions");
    int compl = is_path(path, "/v1/completions");
    if (is_path(path, "/health")) {
        if (!get)
            return r->allow = "GET", set_error(r, 405, "invalid_request_error", NULL,
                                               "method_not_allowed", "use GET on /health");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        return set_json(r, 200, o);
    }
    if (is_path(path, "/v1/models")) {
        if (!get)
            return r->allow = "GET", set_error(r, 405, "invalid_request_error", NULL,
                                               "method_not_allowed", "use GET on /v1/models");
        cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray(), *m = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(m, "id", s->model_name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "distiltrace");
        cJSON_AddItemToArray(data, m);
        cJSON_AddItemToObject(o, "data", data);
        return set_json(r, 200, o);
    }
    if (!chat && !compl)
        return set_error(r, 404, "invalid_request_error", NULL, "not_found", "no route '%s %s'",
                         method, path);
    if (!post)
        return r->allow = "POST", set_error(r, 405, "invalid_request_error", NULL,
                                            "method_not_allowed", "use POST on '%s'", path);

    unsigned long no = atomic_fetch_add(&s->n_gen_requests, 1) + 1;
    if (s->opt.fault_delay_ms > 0 &&
        (s->opt.fault_delay_every <= 1 || every(s->opt.fault_delay_every, no)))
        sleep_ms(s->opt.fault_delay_ms);
    if (every(s->opt.fault_429_every, no)) {
        r->retry_after_s = 1;
        return set_error(r, 429, "rate_limit_error", NULL, "rate_limit_exceeded",
                         "rate limit reached (fault injection, request %lu)", no);
    }
    if (every(s->opt.fault_500_every, no))
        return set_error(r, 500, "server_error", NULL, NULL,
                         "internal error (fault injection, request %lu)", no);
    if (every(s->opt.fault_malformed_every, no)) {
        static const char trunc[] = "{\"id\": \"fault\", \"object\": \"chat.completion\", "
                                    "\"choices\": [{\"index\": 0, \"message\": {\"content\": \"tr";
        r->body = dt_strdup(trunc);
        if (!r->body)
            return DT_ENOMEM;
        r->body_bytes = sizeof trunc - 1;
        r->status = 200;
        return 0;
    }

    if (!body || body_bytes == 0)
        return BAD_REQUEST(r, NULL, "the request has no JSON body");
    if (memchr(body, '\0', body_bytes) || !dt_utf8_valid(body, body_bytes))
        return BAD_REQUEST(r, NULL, "the request body is not UTF-8 text");
    cJSON *o = cJSON_ParseWithLength(body, body_bytes);
    if (!o)
        return set_error(r, 400, "invalid_request_error", NULL, "invalid_json",
                         "the request body is not valid JSON");
    int rc;
    struct gen_request req;
    if (!cJSON_IsObject(o))
        rc = BAD_REQUEST(r, NULL, "the request body must be a JSON object");
    else if (parse_request(s, o, chat, &req, r) == 0)
        rc = generate(s, &req, no, r);
    else
        rc = r->body ? 0 : DT_ENOMEM;
    cJSON_Delete(o);
    return rc;
}

/* ---- lifecycle ---- */

int dt_server_new(struct dt_model *m, const struct dt_serve_options *o, struct dt_server **out,
                  struct dt_error *err)
{
    struct dt_serve_options def;
    dt_serve_options_init(&def);
    if (!o)
        o = &def;
    if (o->port < 0 || o->port > 65535)
        return dt_error_set(err, DT_EINVAL, "port %d is outside 0..65535", o->port);
    if (o->chat_template && !strstr(o->chat_template, "{prompt}"))
        return dt_error_set(err, DT_EINVAL, "chat template '%s' has no '{prompt}'",
                            o->chat_template);
    struct dt_server *s = dt_calloc(1, sizeof *s);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    s->model = m;
    s->tok = dt_model_tokenizer(m);
    s->opt = *o;
    if (s->opt.max_tokens_limit <= 0)
        s->opt.max_tokens_limit = def.max_tokens_limit;
    if (s->opt.max_body_bytes == 0)
        s->opt.max_body_bytes = def.max_body_bytes;
    if (s->opt.max_connections == 0)
        s->opt.max_connections = def.max_connections;
    s->model_name = dt_strdup(o->model_name ? o->model_name : def.model_name);
    s->host = dt_strdup(o->host ? o->host : def.host);
    s->chat_template = o->chat_template ? dt_strdup(o->chat_template) : NULL;
    s->opt.model_name = s->model_name;
    s->opt.host = s->host;
    s->opt.chat_template = s->chat_template;
    pthread_mutex_init(&s->gen_lock, NULL);
    atomic_init(&s->n_gen_requests, 0);
    atomic_init(&s->n_requests, 0);
    const struct dt_model_config *c = dt_model_config(m);
    /* The same context as `collect --model`, so long answers are cut at the same length. */
    s->n_ctx = c->n_ctx_train > 0 ? c->n_ctx_train : 2048;
    int rc;
    if (!s->model_name || !s->host || (o->chat_template && !s->chat_template)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->n_threads > 0)
        dt_model_set_threads(m, o->n_threads);
    if ((rc = dt_session_new(m, s->n_ctx, &s->sess, err)))
        goto fail;
    *out = s;
    return 0;
fail:
    dt_server_free(s);
    return rc;
}

/* Per-connection request state: the body received so far. */
struct conn {
    struct dt_strbuf body;
    int too_big;
};

static enum MHD_Result queue(struct MHD_Connection *c, const struct dt_http_response *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_bytes, r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r->retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", r->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    if (r->allow)
        MHD_add_response_header(resp, "Allow", r->allow);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct dt_server *s = cls;
    struct conn *cs = *con_cls;
    if (!cs) {
        if (!(cs = dt_calloc(1, sizeof *cs)))
            return MHD_NO;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t total;
        if (!cs->too_big && (dt_add_overflow(cs->body.len, *upload_data_size, &total) ||
                             total > s->opt.max_body_bytes)) {
            cs->too_big = 1;
            dt_strbuf_release(&cs->body);
        }
        if (!cs->too_big)
            dt_strbuf_append(&cs->body, upload_data, *upload_data_size);
        *upload_data_size = 0; /* consumed (or discarded) */
        return MHD_YES;
    }
    struct dt_http_response r = {0};
    int rc;
    if (cs->too_big) {
        atomic_fetch_add(&s->n_requests, 1);
        rc = set_error(&r, 413, "invalid_request_error", NULL, "request_too_large",
                       "the request body exceeds %zu bytes", s->opt.max_body_bytes);
    } else if (dt_strbuf_failed(&cs->body)) {
        rc = set_error(&r, 500, "server_error", NULL, NULL, "out of memory");
    } else {
        rc = dt_server_handle(s, method, url, cs->body.data, cs->body.len, &r);
    }
    enum MHD_Result ret = rc == 0 ? queue(c, &r) : MHD_NO;
    dt_http_response_release(&r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *cs = *con_cls;
    if (cs) {
        dt_strbuf_release(&cs->body);
        dt_free(cs);
        *con_cls = NULL;
    }
}

int dt_server_start(struct dt_server *s, struct dt_error *err)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, s->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->opt.port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->opt.port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return dt_error_set(err, DT_EINVAL, "host '%s' is not an IPv4 or IPv6 address", s->host);
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->opt.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_CONNECTION_LIMIT,
                                 s->opt.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_END);
    if (!s->daemon)
        return dt_error_set(err, DT_ENET, "cannot listen on '%s' port %d", s->host, s->opt.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : s->opt.port;
    return 0;
}

int dt_server_port(const struct dt_server *s)
{
    return s->port;
}

unsigned long dt_server_n_requests(const struct dt_server *s)
{
    return atomic_load(&((struct dt_server *)s)->n_requests);
}

void dt_server_free(struct dt_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    dt_session_free(s->sess);
    pthread_mutex_destroy(&s->gen_lock);
    dt_free(s->model_name);
    dt_free(s->host);
    dt_free(s->chat_template);
    dt_free(s);
}

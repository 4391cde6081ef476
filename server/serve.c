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
#include "server/serve.h"

#include "infer/chat_template.h"
#include "infer/compute.h"
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
    const struct dt_model *model;
    struct dt_ctx *ctx;          /* owned: the session's and echo scoring's context */
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

#define MAX_CHOICES 16

struct gen_request {
    int chat;
    const char *prompt;        /* borrowed from the parsed body */
    const char *system;        /* chat: a leading system message's text, or NULL (borrowed) */
    struct dt_chat_message *msgs; /* chat: every message (heap array, texts borrowed) */
    size_t n_msgs;
    int n_choices;             /* "n": independent answers, choice i sampled with seed + i */
    int stream;                /* "stream": server-sent events */
    int include_usage;         /* stream_options.include_usage: a final chunk with usage */
    int echo;                  /* completions "echo": the prompt precedes the answer */
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
    g->n_choices = 1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (model && !cJSON_IsString(model))
        return BAD_REQUEST(r, "model", "'model' must be a string"), -1;
    /* Like the hosted APIs: a request for a model this server does not serve is a 404, never
     * silently answered by the model it does serve. */
    if (model && strcmp(model->valuestring, s->model_name) != 0)
        return set_error(r, 404, "invalid_request_error", "model", "model_not_found",
                         "the model '%s' does not exist here; this server serves '%s'",
                         model->valuestring, s->model_name),
               -1;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(o, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return BAD_REQUEST(r, "stream", "'stream' must be a boolean"), -1;
    g->stream = cJSON_IsTrue(stream);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (!cJSON_IsObject(so) || (iu && !cJSON_IsBool(iu)))
            return BAD_REQUEST(r, "stream_options",
                               "'stream_options' must be an object with a boolean "
                               "'include_usage'"),
                   -1;
        if (!g->stream)
            return BAD_REQUEST(r, "stream_options",
                               "'stream_options' is only allowed with 'stream': true"),
                   -1;
        g->include_usage = cJSON_IsTrue(iu);
    }
    const cJSON *echo = cJSON_GetObjectItemCaseSensitive(o, "echo");
    if (echo && !cJSON_IsNull(echo)) {
        if (chat || !cJSON_IsBool(echo))
            return BAD_REQUEST(r, "echo", chat ? "'echo' is a completions parameter"
                                               : "'echo' must be a boolean"),
                   -1;
        g->echo = cJSON_IsTrue(echo);
    }
    if (chat) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages"), *m;
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1)
            return BAD_REQUEST(r, "messages", "'messages' must be a non-empty array"), -1;
        int i = 0;
        if (!(g->msgs = dt_calloc((size_t)cJSON_GetArraySize(msgs), sizeof *g->msgs)))
            return set_error(r, 500, "server_error", NULL, NULL, "out of memory"), -1;
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
            if (i == 0 && !strcmp(role->valuestring, "system") && text)
                g->system = text;
            g->msgs[g->n_msgs].role = role->valuestring;
            g->msgs[g->n_msgs++].content = text;
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
    if ((k = num_field(o, "n", 1, MAX_CHOICES, 1, &v, r)) < 0)
        return -1;
    if (k)
        g->n_choices = (int)v;
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

/* Where a streamed response goes: one call per server-sent event's bytes. */
struct sink {
    int (*write)(void *ud, const char *data, size_t n_bytes);
    void *ud;
};

struct gen_state {
    struct dt_server *srv;
    const struct dt_tokenizer *tok;
    const struct gen_request *req;
    int32_t *ids;          /* (cap) the echoed prompt ids, then the generated ones */
    float *lps;            /* (cap) NaN for the first echoed token */
    int32_t *top_ids;      /* (cap, n_top) */
    float *top_lps;        /* (cap, n_top) */
    size_t n, cap;
    size_t n_echo;         /* leading entries that are the echoed prompt */
    int stopped;           /* finished on an end-of-generation token or a stop string */
    size_t n_content;      /* entries making up the content (the end token excluded) */
    struct dt_strbuf text; /* the content decoded so far (tracked for stops and streaming) */
    size_t cut;            /* text length to keep when a stop string matched */
    int stop_hit;
    /* streaming */
    const struct sink *out;
    int index;             /* the choice's index */
    const char *id;
    double created;
    size_t n_emitted;      /* text bytes already sent */
    size_t n_tok_sent;     /* entries whose logprobs were already sent */
    int sent_role;
    int failed;            /* a write failed: the client went away */
};

/* Decodes the content entries into g->text (the whole content each time, so that the streamed
 * text is exactly the text a non-streamed answer has). */
static int decode_content(struct gen_state *g)
{
    char *t = NULL;
    size_t nt = 0;
    if (g->n_content <= g->n_echo) {
        dt_strbuf_reset(&g->text);
        return 0;
    }
    int rc = dt_tokenizer_decode(g->tok, g->ids + g->n_echo, g->n_content - g->n_echo, 0, &t, &nt,
                                 NULL);
    if (rc)
        return rc;
    dt_strbuf_reset(&g->text);
    dt_strbuf_append(&g->text, t, nt);
    dt_strbuf_putc(&g->text, '\0');
    dt_free(t);
    if (dt_strbuf_failed(&g->text))
        return DT_ENOMEM;
    g->text.len--; /* keep the NUL for strstr, not in the length */
    return 0;
}

/* How much of the text can be sent now: not a trailing incomplete UTF-8 sequence, and not a
 * tail that may still grow into a stop string. */
static size_t safe_length(const struct gen_state *g)
{
    const char *t = g->text.data;
    size_t n = g->text.len, keep = n;
    if (!t)
        return 0;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)t[n - back];
        if ((c & 0xC0) == 0x80)
            continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back)
            keep = n - back;
        break;
    }
    for (int k = 0; k < g->req->n_stop; k++) {
        size_t ls = strlen(g->req->stop[k]);
        for (size_t m = ls - 1; m > 0; m--)
            if (m <= n && !memcmp(t + n - m, g->req->stop[k], m)) {
                if (n - m < keep)
                    keep = n - m;
                break;
            }
    }
    return keep;
}

static cJSON *chat_logprobs(const struct gen_state *g, size_t from, size_t to);
static cJSON *legacy_logprobs(const struct gen_state *g, size_t from, size_t to);

static int sink_event(struct gen_state *g, cJSON *o)
{
    char *js = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!js)
        return DT_ENOMEM;
    struct dt_strbuf ev = DT_STRBUF_INIT;
    dt_strbuf_printf(&ev, "data: %s\n\n", js);
    cJSON_free(js);
    int rc = dt_strbuf_failed(&ev) ? DT_ENOMEM : 0;
    if (rc == 0 && g->out->write(g->out->ud, ev.data, ev.len) != 0) {
        g->failed = 1;
        rc = DT_EIO;
    }
    dt_strbuf_release(&ev);
    return rc;
}

/* One streamed chunk: the text [n_emitted, upto) and the logprobs of entries [n_tok_sent,
 * n_tok), and finish_reason when final. */
static int emit_chunk(struct gen_state *g, size_t upto, size_t n_tok, const char *finish)
{
    const struct gen_request *req = g->req;
    cJSON *o = cJSON_CreateObject(), *choices, *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", req->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", g->created);
    cJSON_AddStringToObject(o, "model", g->srv->model_name);
    choices = cJSON_AddArrayToObject(o, "choices");
    if (!cJSON_AddItemToArray(choices, ch)) {
        cJSON_Delete(ch);
        cJSON_Delete(o);
        return DT_ENOMEM;
    }
    cJSON_AddNumberToObject(ch, "index", g->index);
    const char *t = g->text.data ? g->text.data + g->n_emitted : "";
    size_t nt = upto > g->n_emitted ? upto - g->n_emitted : 0;
    if (req->chat) {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (!g->sent_role) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            g->sent_role = 1;
        }
        if (nt || !finish)
            cJSON_AddItemToObject(delta, "content", dt_json_string(t, nt));
    } else {
        cJSON_AddItemToObject(ch, "text", dt_json_string(t, nt));
    }
    if (req->logprobs && n_tok > g->n_tok_sent) {
        cJSON *lp = req->chat ? chat_logprobs(g, g->n_tok_sent, n_tok)
                              : legacy_logprobs(g, g->n_tok_sent, n_tok);
        if (!lp) {
            cJSON_Delete(o);
            return DT_ENOMEM;
        }
        cJSON_AddItemToObject(ch, "logprobs", lp);
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    g->n_emitted = upto > g->n_emitted ? upto : g->n_emitted;
    g->n_tok_sent = n_tok;
    return sink_event(g, o);
}

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
    if (g->req->n_stop == 0 && !g->out)
        return 0;
    int rc = decode_content(g);
    if (rc)
        return rc;
    for (int k = 0; k < g->req->n_stop; k++) {
        const char *hit = g->text.data ? strstr(g->text.data, g->req->stop[k]) : NULL;
        if (hit && (!g->stop_hit || (size_t)(hit - g->text.data) < g->cut)) {
            g->cut = (size_t)(hit - g->text.data);
            g->stop_hit = g->stopped = 1;
        }
    }
    if (g->out && !g->stop_hit) {
        size_t safe = safe_length(g);
        if ((safe > g->n_emitted || g->req->logprobs) && (rc = emit_chunk(g, safe, g->n, NULL)))
            return rc;
    }
    return g->stop_hit ? 1 : 0; /* 1: stop generating */
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

/* Chat logprobs of the tokens [from, to). */
static cJSON *chat_logprobs(const struct gen_state *g, size_t from, size_t to)
{
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    if (!content)
        return cJSON_Delete(lp), NULL;
    int nt = g->req->n_top;
    for (size_t i = from; i < to; i++) {
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

/* Legacy completions logprobs of the tokens [from, to); text offsets count from the start
 * of the choice's text (the echoed prompt included). */
static cJSON *legacy_logprobs(const struct gen_state *g, size_t from, size_t to)
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
    for (size_t i = 0; i < from; i++) {
        size_t nb = 0;
        if (dt_tokenizer_token_bytes(g->tok, g->ids[i], &nb))
            off += nb;
    }
    for (size_t i = from; i < to; i++) {
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

/* The log-probabilities of the prompt's own tokens (echo with logprobs): entry i is token i
 * given the ones before it, NaN for the first, with the n_top best alternatives. */
struct echo_ctx {
    struct gen_state *g;
    const int32_t *ids;
    size_t n;
    int32_t n_vocab;
    int rc;
};

static int on_echo_logits(void *ud, size_t i_seq, size_t i_pos, const float *logits)
{
    struct echo_ctx *e = ud;
    (void)i_seq;
    if (i_pos + 1 >= e->n)
        return 0;
    struct gen_state *g = e->g;
    double mx = -INFINITY, sum = 0;
    for (int32_t v = 0; v < e->n_vocab; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    for (int32_t v = 0; v < e->n_vocab; v++)
        sum += exp((double)logits[v] - mx);
    double lse = mx + log(sum);
    size_t at = i_pos + 1;
    int32_t next = e->ids[at];
    g->lps[at] = next >= 0 && next < e->n_vocab ? (float)(logits[next] - lse) : NAN;
    int nt = g->req->n_top;
    int32_t *ti = g->top_ids + at * (size_t)nt;
    float *tl = g->top_lps + at * (size_t)nt;
    for (int k = 0; k < nt; k++)
        ti[k] = -1, tl[k] = -INFINITY;
    for (int32_t v = 0; v < e->n_vocab && nt > 0; v++) {
        float lv = (float)(logits[v] - lse);
        if (lv <= tl[nt - 1])
            continue;
        int k = nt - 1;
        while (k > 0 && tl[k - 1] < lv) {
            tl[k] = tl[k - 1];
            ti[k] = ti[k - 1];
            k--;
        }
        tl[k] = lv;
        ti[k] = v;
    }
    return 0;
}

static int echo_logprobs(struct dt_server *s, struct gen_state *g, const int32_t *ids, size_t n,
                         struct dt_error *err)
{
    int nt = g->req->n_top;
    for (size_t i = 0; i < n; i++) {
        g->ids[i] = ids[i];
        g->lps[i] = NAN;
        for (int k = 0; k < nt; k++)
            g->top_ids[i * (size_t)nt + (size_t)k] = -1, g->top_lps[i * (size_t)nt + (size_t)k] = NAN;
    }
    g->n = g->n_echo = g->n_content = n;
    if (!g->req->logprobs || n < 2)
        return 0;
    struct echo_ctx e = {g, ids, n, (int32_t)dt_model_config(s->model)->n_vocab, 0};
    const int32_t *seqs[1] = {ids};
    size_t lens[1] = {n};
    return dt_ctx_score_batch(s->ctx, seqs, lens, 1, on_echo_logits, &e, err);
}

/* One choice: generates it (under gen_lock) into g; streams it when g->out is set. */
static int run_choice(struct dt_server *s, const struct gen_request *req, const int32_t *prompt,
                      size_t n_prompt, int i_choice, struct gen_state *g, struct dt_error *err)
{
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = req->max_tokens;
    if ((size_t)gp.n_predict > (size_t)s->n_ctx - n_prompt)
        gp.n_predict = (int)((size_t)s->n_ctx - n_prompt);
    gp.n_top = req->n_top;
    gp.sampler.temperature = (float)req->temperature;
    gp.sampler.top_p = (float)req->top_p;
    gp.sampler.top_k = req->top_k;
    gp.sampler.seed = req->seed + (uint64_t)i_choice;
    size_t n_echo = req->echo ? n_prompt : 0;
    g->cap = n_echo + (size_t)gp.n_predict;
    size_t n_alt = g->cap * (size_t)(req->n_top > 0 ? req->n_top : 1);
    g->ids = dt_malloc_array(g->cap, sizeof *g->ids);
    g->lps = dt_malloc_array(g->cap, sizeof *g->lps);
    g->top_ids = dt_malloc_array(n_alt, sizeof *g->top_ids);
    g->top_lps = dt_malloc_array(n_alt, sizeof *g->top_lps);
    if (!g->ids || !g->lps || !g->top_ids || !g->top_lps)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    size_t n_gen = 0;
    int rc = 0;
    pthread_mutex_lock(&s->gen_lock);
    if (n_echo)
        rc = echo_logprobs(s, g, prompt, n_prompt, err);
    if (rc == 0 && g->out && req->echo) {
        /* the echoed prompt is the choice's first chunk, as the prompt's own text */
        dt_strbuf_reset(&g->text);
        dt_strbuf_puts(&g->text, req->prompt);
        rc = dt_strbuf_failed(&g->text) ? DT_ENOMEM : emit_chunk(g, g->text.len, g->n, NULL);
        dt_strbuf_reset(&g->text);
        g->n_emitted = 0;
    }
    if (rc == 0)
        rc = dt_generate(s->model, s->sess, prompt, n_prompt, &gp, on_token, g, &n_gen, err);
    pthread_mutex_unlock(&s->gen_lock);
    if (rc < 0)
        return rc;
    if (g->failed)
        return DT_EIO;
    if ((rc = decode_content(g)))
        return dt_error_set(err, rc, "decoding the answer failed");
    if (g->out) {
        size_t end = g->stop_hit && g->cut < g->text.len ? g->cut : g->text.len;
        return emit_chunk(g, end, g->n, g->stopped ? "stop" : "length");
    }
    return 0;
}

static int generate(struct dt_server *s, const struct gen_request *req, unsigned long req_no,
                    const struct sink *out, struct dt_http_response *r)
{
    const struct dt_tokenizer *tok = s->tok;
    struct gen_state g[MAX_CHOICES];
    int32_t *prompt = NULL;
    size_t n_prompt = 0, n_completion = 0;
    struct dt_error err = {0};
    int rc = 0, n_done = 0;
    memset(g, 0, sizeof g);
    const char *tmpl = req->chat ? s->chat_template : NULL;
    char id[64];
    snprintf(id, sizeof id, "%s-%lu", req->chat ? "chatcmpl" : "cmpl", req_no);
    double created = (double)time(NULL);
    /* As `collect --model`: the probe text is never parsed for special tokens. */
    if (req->chat && s->opt.chat
            ? dt_chat_template_encode_messages(s->opt.chat, tok, req->msgs, req->n_msgs, 0,
                                               &prompt, &n_prompt, &err)
            : dt_prompt_encode(tok, tmpl, req->prompt, 0, &prompt, &n_prompt, &err)) {
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
    for (int i = 0; i < req->n_choices; i++) {
        g[i].srv = s;
        g[i].tok = tok;
        g[i].req = req;
        g[i].out = out;
        g[i].index = i;
        g[i].id = id;
        g[i].created = created;
        n_done = i + 1;
        int grc = run_choice(s, req, prompt, n_prompt, i, &g[i], &err);
        if (grc == DT_EIO && g[i].failed) {
            rc = DT_EIO; /* the client is gone: nothing to answer */
            goto done;
        }
        if (grc) {
            if (out) {
                /* headers are sent: the error travels as an event */
                struct dt_http_response e = {0};
                set_error(&e, 500, "server_error", NULL, NULL, "generation failed: %s",
                          err.msg[0] ? err.msg : dt_error_name(grc));
                struct dt_strbuf ev = DT_STRBUF_INIT;
                dt_strbuf_printf(&ev, "data: %s\n\n", e.body ? e.body : "{}");
                if (!dt_strbuf_failed(&ev))
                    out->write(out->ud, ev.data, ev.len);
                dt_strbuf_release(&ev);
                dt_http_response_release(&e);
                rc = 0;
                goto done;
            }
            rc = set_error(r, 500, "server_error", NULL, NULL, "generation failed: %s",
                           err.msg[0] ? err.msg : dt_error_name(grc));
            goto done;
        }
        n_completion += g[i].n - g[i].n_echo;
    }
    if (out) {
        if (req->include_usage) {
            cJSON *o = cJSON_CreateObject(), *usage;
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "object",
                                    req->chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddNumberToObject(o, "created", created);
            cJSON_AddStringToObject(o, "model", s->model_name);
            cJSON_AddArrayToObject(o, "choices");
            if ((usage = cJSON_AddObjectToObject(o, "usage"))) {
                cJSON_AddNumberToObject(usage, "prompt_tokens", (double)n_prompt);
                cJSON_AddNumberToObject(usage, "completion_tokens", (double)n_completion);
                cJSON_AddNumberToObject(usage, "total_tokens", (double)(n_prompt + n_completion));
            }
            if ((rc = sink_event(&g[0], o)))
                goto done;
        }
        static const char fin[] = "data: [DONE]\n\n";
        rc = out->write(out->ud, fin, sizeof fin - 1) ? DT_EIO : 0;
        goto done;
    }

    cJSON *o = cJSON_CreateObject(), *choices;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", req->chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", created);
    cJSON_AddStringToObject(o, "model", s->model_name);
    choices = cJSON_AddArrayToObject(o, "choices");
    int oom = !choices;
    for (int i = 0; i < req->n_choices && !oom; i++) {
        struct gen_state *gi = &g[i];
        size_t n_text = gi->stop_hit && gi->cut < gi->text.len ? gi->cut : gi->text.len;
        cJSON *ch = cJSON_CreateObject();
        if (!cJSON_AddItemToArray(choices, ch)) {
            cJSON_Delete(ch);
            oom = 1;
            break;
        }
        cJSON_AddNumberToObject(ch, "index", i);
        cJSON *content;
        if (req->echo) {
            struct dt_strbuf full = DT_STRBUF_INIT;
            dt_strbuf_puts(&full, req->prompt);
            if (gi->text.data)
                dt_strbuf_append(&full, gi->text.data, n_text);
            content = dt_strbuf_failed(&full) ? NULL : dt_json_string(full.data, full.len);
            dt_strbuf_release(&full);
        } else {
            content = dt_json_string(gi->text.data ? gi->text.data : "", n_text);
        }
        oom |= !content;
        if (req->chat) {
            cJSON *msg = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            cJSON_AddItemToObject(msg, "content", content);
        } else {
            cJSON_AddItemToObject(ch, "text", content);
        }
        if (req->logprobs) {
            cJSON *lp = req->chat ? chat_logprobs(gi, 0, gi->n) : legacy_logprobs(gi, 0, gi->n);
            oom |= !lp;
            cJSON_AddItemToObject(ch, "logprobs", lp);
        } else {
            cJSON_AddNullToObject(ch, "logprobs");
        }
        cJSON_AddStringToObject(ch, "finish_reason", gi->stopped ? "stop" : "length");
    }
    cJSON *usage = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)n_prompt);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)n_completion);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(n_prompt + n_completion));
    if (oom || !usage) {
        cJSON_Delete(o);
        rc = set_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    rc = set_json(r, 200, o);
done:
    for (int i = 0; i < n_done; i++)
        gen_state_release(&g[i]);
    dt_free(prompt);
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

/* A streaming request that passed every check: run after the event-stream headers are out. */
struct stream_job {
    cJSON *doc; /* the parsed body; req borrows strings from it */
    struct gen_request req;
    unsigned long no;
};

static void stream_job_free(struct stream_job *j)
{
    if (!j)
        return;
    cJSON_Delete(j->doc);
    dt_free(j->req.msgs);
    dt_free(j);
}

/* Everything but a stream's generation: answers r, or (0 with *job set) hands back a valid
 * streaming request to run with stream_run. */
static int prepare(struct dt_server *s, const char *method, const char *path, const char *body,
                   size_t body_bytes, struct dt_http_response *r, struct stream_job **job)
{
    memset(r, 0, sizeof *r);
    *job = NULL;
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
        if (s->opt.chat)
            cJSON_AddStringToObject(m, "chat_format", dt_chat_template_describe(s->opt.chat));
        cJSON_AddItemToArray(data, m);
        cJSON_AddItemToObject(o, "data", data);
        return set_json(r, 200, o);
    }
    if (!strncmp(path, "/v1/models/", 11) && path[11]) {
        const char *name = path + 11;
        if (!get)
            return r->allow = "GET", set_error(r, 405, "invalid_request_error", NULL,
                                               "method_not_allowed", "use GET on /v1/models/ID");
        if (strcmp(name, s->model_name) != 0)
            return set_error(r, 404, "invalid_request_error", "model", "model_not_found",
                             "the model '%s' does not exist here; this server serves '%s'", name,
                             s->model_name);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", s->model_name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "distiltrace");
        if (s->opt.chat)
            cJSON_AddStringToObject(m, "chat_format", dt_chat_template_describe(s->opt.chat));
        return set_json(r, 200, m);
    }
    if (!chat && !compl)
        return set_error(r, 404, "invalid_request_error", NULL, "not_found",
                         "no route '%s %s': this server answers POST /v1/chat/completions, "
                         "POST /v1/completions, GET /v1/models and GET /health",
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
    struct gen_request req = {0};
    if (!cJSON_IsObject(o)) {
        rc = BAD_REQUEST(r, NULL, "the request body must be a JSON object");
    } else if (parse_request(s, o, chat, &req, r) == 0) {
        if (req.stream) {
            struct stream_job *j = dt_calloc(1, sizeof *j);
            if (!j) {
                dt_free(req.msgs);
                cJSON_Delete(o);
                return DT_ENOMEM;
            }
            j->doc = o;
            j->req = req;
            j->no = no;
            *job = j;
            return 0;
        }
        rc = generate(s, &req, no, NULL, r);
    } else {
        rc = r->body ? 0 : DT_ENOMEM;
    }
    dt_free(req.msgs);
    cJSON_Delete(o);
    return rc;
}

/* Runs a prepared stream into out; a generation error after the headers travels as an event.
 * Returns nonzero when the client went away or memory ran out. */
static int stream_run(struct dt_server *s, const struct stream_job *j, const struct sink *out)
{
    struct dt_http_response r = {0};
    int rc = generate(s, &j->req, j->no, out, &r);
    if (rc == 0 && r.body) {
        /* an error found before the first token (the prompt does not fit) */
        struct dt_strbuf ev = DT_STRBUF_INIT;
        dt_strbuf_printf(&ev, "data: %s\n\n", r.body);
        rc = dt_strbuf_failed(&ev) ? DT_ENOMEM : out->write(out->ud, ev.data, ev.len) ? DT_EIO : 0;
        dt_strbuf_release(&ev);
    }
    dt_http_response_release(&r);
    return rc;
}

static int strbuf_write(void *ud, const char *data, size_t n)
{
    struct dt_strbuf *sb = ud;
    dt_strbuf_append(sb, data, n);
    return dt_strbuf_failed(sb) ? DT_ENOMEM : 0;
}

int dt_server_handle(struct dt_server *s, const char *method, const char *path, const char *body,
                     size_t body_bytes, struct dt_http_response *r)
{
    struct stream_job *job = NULL;
    int rc = prepare(s, method, path, body, body_bytes, r, &job);
    if (rc || !job)
        return rc;
    /* without a network: the whole event stream becomes the body */
    struct dt_strbuf sb = DT_STRBUF_INIT;
    struct sink out = {strbuf_write, &sb};
    rc = stream_run(s, job, &out);
    stream_job_free(job);
    if (rc) {
        dt_strbuf_release(&sb);
        return rc;
    }
    r->status = 200;
    r->content_type = "text/event-stream";
    r->body = dt_strbuf_detach(&sb, &r->body_bytes);
    return r->body ? 0 : DT_ENOMEM;
}

/* ---- lifecycle ---- */

int dt_server_new(const struct dt_model *m, const struct dt_serve_options *o, struct dt_server **out,
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
    if ((rc = dt_ctx_new(m, o->n_threads, &s->ctx, err)) ||
        (rc = dt_session_new(s->ctx, s->n_ctx, &s->sess, err)))
        goto fail;
    *out = s;
    return 0;
fail:
    dt_server_free(s);
    return rc;
}

/* Per-connection request state: the body received so far, and what the access log says. */
struct conn {
    struct dt_strbuf body;
    int too_big;
    char client[64];
    char method[16];
    char *path;
    double t0;
    int status;
    atomic_size_t bytes_out;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A response streamed while it is generated: a producer thread writes events into buf, the
 * connection's thread (libmicrohttpd's content reader) sends them as they come. */
struct stream_conn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dt_strbuf buf;
    size_t off;
    int done;   /* the producer finished */
    int closed; /* the client is gone: the producer stops at its next write */
    pthread_t th;
    struct dt_server *s;
    struct stream_job *job;
    atomic_size_t *bytes_out; /* the connection's counter, for the access log */
};

static int stream_write(void *ud, const char *data, size_t n)
{
    struct stream_conn *sc = ud;
    pthread_mutex_lock(&sc->mu);
    int rc = sc->closed ? DT_EIO : 0;
    if (rc == 0) {
        dt_strbuf_append(&sc->buf, data, n);
        rc = dt_strbuf_failed(&sc->buf) ? DT_ENOMEM : 0;
        pthread_cond_signal(&sc->cv);
    }
    pthread_mutex_unlock(&sc->mu);
    return rc;
}

static void *stream_producer(void *arg)
{
    struct stream_conn *sc = arg;
    struct sink out = {stream_write, sc};
    stream_run(sc->s, sc->job, &out);
    pthread_mutex_lock(&sc->mu);
    sc->done = 1;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_conn *sc = cls;
    (void)pos;
    pthread_mutex_lock(&sc->mu);
    while (sc->off == sc->buf.len && !sc->done)
        pthread_cond_wait(&sc->cv, &sc->mu);
    ssize_t n;
    if (sc->off < sc->buf.len) {
        size_t k = sc->buf.len - sc->off < max ? sc->buf.len - sc->off : max;
        memcpy(buf, sc->buf.data + sc->off, k);
        sc->off += k;
        if (sc->off == sc->buf.len) {
            dt_strbuf_reset(&sc->buf);
            sc->off = 0;
        }
        atomic_fetch_add(sc->bytes_out, k);
        n = (ssize_t)k;
    } else {
        n = dt_strbuf_failed(&sc->buf) ? MHD_CONTENT_READER_END_WITH_ERROR
                                        : MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&sc->mu);
    return n;
}

static void stream_free(void *cls)
{
    struct stream_conn *sc = cls;
    pthread_mutex_lock(&sc->mu);
    sc->closed = 1;
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->th, NULL);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    dt_strbuf_release(&sc->buf);
    stream_job_free(sc->job);
    dt_free(sc);
}

static enum MHD_Result queue_stream(struct MHD_Connection *c, struct dt_server *s,
                                    struct stream_job *job, struct conn *cs)
{
    struct stream_conn *sc = dt_calloc(1, sizeof *sc);
    if (!sc) {
        stream_job_free(job);
        return MHD_NO;
    }
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    sc->s = s;
    sc->job = job;
    sc->bytes_out = &cs->bytes_out;
    if (pthread_create(&sc->th, NULL, stream_producer, sc) != 0) {
        pthread_mutex_destroy(&sc->mu);
        pthread_cond_destroy(&sc->cv);
        stream_job_free(job);
        dt_free(sc);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, sc, stream_free);
    if (!resp) {
        stream_free(sc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    cs->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result queue(struct MHD_Connection *c, const struct dt_http_response *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_bytes, r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
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

static void client_address(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "-");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
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
        cs->t0 = now_s();
        snprintf(cs->method, sizeof cs->method, "%s", method);
        cs->path = dt_strdup(url);
        client_address(c, cs->client, sizeof cs->client);
        atomic_init(&cs->bytes_out, 0);
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
    struct stream_job *job = NULL;
    int rc;
    if (cs->too_big) {
        atomic_fetch_add(&s->n_requests, 1);
        rc = set_error(&r, 413, "invalid_request_error", NULL, "request_too_large",
                       "the request body exceeds %zu bytes", s->opt.max_body_bytes);
    } else if (dt_strbuf_failed(&cs->body)) {
        rc = set_error(&r, 500, "server_error", NULL, NULL, "out of memory");
    } else {
        rc = prepare(s, method, url, cs->body.data, cs->body.len, &r, &job);
    }
    if (rc == 0 && job) {
        dt_http_response_release(&r);
        return queue_stream(c, s, job, cs);
    }
    cs->status = r.status;
    atomic_store(&cs->bytes_out, r.body_bytes);
    enum MHD_Result ret = rc == 0 ? queue(c, &r) : MHD_NO;
    dt_http_response_release(&r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct dt_server *s = cls;
    struct conn *cs = *con_cls;
    if (cs) {
        if (s->opt.on_access) {
            struct dt_access_entry e = {
                .client = cs->client,
                .method = cs->method,
                .path = cs->path ? cs->path : "",
                .status = cs->status,
                .bytes = atomic_load(&cs->bytes_out),
                .seconds = now_s() - cs->t0,
                .completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK,
            };
            s->opt.on_access(s->opt.access_ud, &e);
        }
        dt_strbuf_release(&cs->body);
        dt_free(cs->path);
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
    dt_ctx_free(s->ctx);
    pthread_mutex_destroy(&s->gen_lock);
    dt_free(s->model_name);
    dt_free(s->host);
    dt_free(s->chat_template);
    dt_free(s);
}

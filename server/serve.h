/*
 * An OpenAI-compatible HTTP server over the local inference core, so that a local model can
 * stand in for a hosted API (and so that the API client is tested against a real server).
 *
 * Endpoints:
 *   POST /v1/chat/completions  messages (the last user message is the prompt and a leading
 *                              system message its system prompt, wrapped in the chat format:
 *                              the model's own template when given, as compare wraps its
 *                              probes), max_tokens, temperature, top_p, top_k
 *                              (extension), seed, logprobs, top_logprobs (0..20), stop,
 *                              n (1..16: choice i is sampled with seed + i), stream,
 *                              stream_options.include_usage
 *   POST /v1/completions       prompt (string or one-string array), the same parameters with the
 *                              legacy "logprobs": N (0..20) form, and echo (the prompt precedes
 *                              the answer; with logprobs, the prompt's tokens are scored too,
 *                              the first one null)
 *   GET  /v1/models[/ID]       the one model served (with "chat_format", the description of
 *                              the chat format used, when one is given)
 *   GET  /health               {"status": "ok"}
 * "model" must name the served model (404 model_not_found otherwise, as hosted APIs answer);
 * anything else is a 404 naming the routes. With "stream": true the answer is server-sent
 * events as the tokens are generated ("data: {chunk}\n\n" ... "data: [DONE]\n\n"), chat
 * chunks "chat.completion.chunk" with delta.role then delta.content, completions chunks
 * "text_completion"; text is held back only while it ends in an incomplete UTF-8 sequence or a
 * possible start of a stop string, so the streamed text equals the unstreamed one.
 * Responses have the OpenAI shape; chat log-probs are logprobs.content[] {token, logprob,
 * bytes, top_logprobs[]} with the exact token bytes, the stopping end-of-generation token
 * included (like `collect --model`). Errors are {"error": {"message", "type", "param", "code"}}
 * with 400 (malformed JSON, wrong types, out-of-range values), 404, 405, 413 (body above
 * max_body_bytes) and 500.
 *
 * Sampling follows infer/sampler.h with the request's seed (0 when absent), so the same
 * request always gives the same answer; JSON numbers are doubles, so seeds above 2^53 cannot
 * be sent exactly and are refused (the collect helpers keep sample seeds below 2^53).
 *
 * Concurrency: the HTTP layer (libmicrohttpd, one thread per connection, at most
 * max_connections) accepts concurrent clients; generation is serialized on the model's one
 * session by a mutex, because a model has a single scoring workspace.
 */
#ifndef DT_SERVER_SERVE_H
#define DT_SERVER_SERVE_H

#include <stddef.h>

struct dt_chat_template;
struct dt_error;
struct dt_model;

/* One line of the access log: what a finished request asked and got. */
struct dt_access_entry {
    const char *client; /* the peer's address */
    const char *method, *path;
    int status;         /* 0 when no response was sent */
    size_t bytes;       /* response body bytes sent */
    double seconds;     /* from the request's first byte to its end */
    int completed;      /* 0: the connection ended early (client gone, timeout) */
};

struct dt_serve_options {
    const char *host;          /* IPv4 or IPv6 literal; default "127.0.0.1" */
    int port;                  /* 0: any free port (see dt_server_port) */
    const char *model_name;    /* reported in responses; default "local" */
    const char *chat_template; /* "{prompt}" marks the user message; NULL: the message as is */
    /* The chat format (infer/chat_template.h: the model's own template, its family or the
     * caller's "{prompt}" form), borrowed, must outlive the server; when set it wraps chat
     * messages and chat_template is not used. */
    const struct dt_chat_template *chat;
    const char *chat_date; /* for run/serve.c's choice of chat: strftime_now's day, or NULL */
    int max_tokens_limit;      /* largest max_tokens accepted (default 4096) */
    size_t max_body_bytes;     /* larger request bodies get 413 (default 1 MiB) */
    unsigned max_connections;  /* concurrent connections (default 64) */
    int n_threads;             /* inference threads, <= 0: the model's default */
    /*
     * For testing clients only: every Nth generation request (N > 0) is answered with 429
     * (Retry-After: 1), 500, or a truncated JSON body with status 200; fault_delay_ms delays
     * every fault_delay_every-th request (0 or 1: every one). Counted per server, from 1.
     */
    int fault_429_every, fault_500_every, fault_malformed_every;
    int fault_delay_ms, fault_delay_every;
    /* Called once per finished request from a connection thread (may be NULL); the server
     * never prints: the command decides where the access log goes. */
    void (*on_access)(void *ud, const struct dt_access_entry *e);
    void *access_ud;
};
void dt_serve_options_init(struct dt_serve_options *o);

/* An HTTP response produced by dt_server_handle. */
struct dt_http_response {
    int status;
    char *body;             /* heap (dt_free), JSON */
    size_t body_bytes;
    int retry_after_s;      /* > 0: send a Retry-After header */
    const char *content_type; /* NULL: application/json; "text/event-stream" for a stream */
    const char *allow;      /* for 405: the allowed methods */
};
void dt_http_response_release(struct dt_http_response *r);

struct dt_server;

/* Creates the server state (session, options) without opening any socket. The model stays
 * owned by the caller and must outlive the server. */
int dt_server_new(const struct dt_model *m, const struct dt_serve_options *o, struct dt_server **out,
                  struct dt_error *err);
/*
 * Handles one request without any network: method ("GET", "POST", ...), path (query string
 * allowed), body (may be NULL). Thread-safe. Returns 0 with *resp filled (errors included, as
 * HTTP statuses), or DT_ENOMEM when not even an error response could be built.
 */
int dt_server_handle(struct dt_server *s, const char *method, const char *path, const char *body,
                     size_t body_bytes, struct dt_http_response *resp);
/* Binds host:port and starts serving on background threads. DT_ENET if it cannot bind. */
int dt_server_start(struct dt_server *s, struct dt_error *err);
/* The bound port (after start). */
int dt_server_port(const struct dt_server *s);
/* Requests served so far (any status). */
unsigned long dt_server_n_requests(const struct dt_server *s);
/* Stops listening, waits for the requests in flight, frees everything; NULL is fine. */
void dt_server_free(struct dt_server *s);

#endif

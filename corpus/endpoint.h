/*
 * A client for OpenAI-compatible endpoints (/v1/chat/completions, /v1/completions), over
 * libcurl: turns probe requests into samples exactly as an imported transcript of the same
 * responses would give (each response goes through dt_transcript_parse_line).
 *
 * Behaviour: up to `concurrency` requests in flight (curl multi, in the caller's thread), at
 * most `rps` request starts per second, a per-attempt timeout, and retries with exponential
 * backoff and jitter on 408/409/425/429/5xx, timeouts, connection errors and malformed
 * responses (Retry-After is honoured). Other HTTP errors (400, 401, 404, ...) fail at once. A
 * response is handed to the caller only when it parsed completely, so a partial or malformed
 * answer is never stored.
 *
 * The API key is sent only as "Authorization: Bearer" and never appears in an error message
 * (a server message that echoes it is masked).
 */
#ifndef DT_CORPUS_ENDPOINT_H
#define DT_CORPUS_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/sample.h"

struct dt_error;

enum dt_endpoint_mode {
    DT_ENDPOINT_AUTO = 0,        /* chat probes to chat completions, text probes to completions */
    DT_ENDPOINT_CHAT = 1,        /* everything as a chat message */
    DT_ENDPOINT_COMPLETIONS = 2, /* everything as a raw completion prompt */
};

struct dt_endpoint_options {
    const char *url;        /* base URL ("http://127.0.0.1:8080" or ".../v1") */
    const char *model;      /* the API's model name */
    const char *api_key;    /* NULL: no Authorization header */
    enum dt_endpoint_mode mode;
    int concurrency;        /* requests in flight, >= 1 (default 4) */
    double rps;             /* request starts per second, <= 0: unlimited (default) */
    int max_retries;        /* further attempts after the first (default 5) */
    double timeout_s;       /* per attempt (default 120) */
    double backoff_base_s;  /* delay before the first retry (default 0.5), doubled each time */
    double backoff_max_s;   /* delay cap (default 30) */
    uint64_t jitter_seed;   /* seeds the backoff jitter */
};
void dt_endpoint_options_init(struct dt_endpoint_options *o);

/* One request: a probe, with the sampling parameters and the seed that the endpoint gets. */
struct dt_endpoint_request {
    enum dt_probe_kind kind;
    const char *prompt;     /* borrowed */
    int sample_index;       /* copied into the sample */
    uint64_t seed;          /* < 2^53 (JSON numbers are doubles) */
    float temperature, top_p;
    int top_k;              /* <= 0: not sent */
    int max_tokens;         /* >= 1 */
    int top_logprobs;       /* 0..20 */
};

struct dt_endpoint_stats {
    size_t n_ok;        /* responses handed to the caller */
    size_t n_attempts;  /* HTTP requests made */
    size_t n_retries;
    size_t n_429, n_5xx, n_timeouts, n_conn_errors, n_malformed;
};

/* Called in the caller's thread for each response, in completion order. *smp belongs to the
 * callee (move it or release it). A non-zero return stops the run and is returned. */
typedef int (*dt_endpoint_done_cb)(void *ud, size_t i_req, struct dt_sample *smp,
                                   struct dt_error *err);

/* Sends every request; returns 0 once all were answered and handed to cb, DT_ENET when one
 * failed for good (its responses so far were handed over), or cb's error. */
int dt_endpoint_run(const struct dt_endpoint_options *o, const struct dt_endpoint_request *reqs,
                    size_t n_reqs, dt_endpoint_done_cb cb, void *ud,
                    struct dt_endpoint_stats *stats, struct dt_error *err);

/* Building blocks, for tests. The path ("/v1/chat/completions" or "/v1/completions") and the
 * JSON body of a request (heap strings, dt_free). */
int dt_endpoint_build(const struct dt_endpoint_options *o, const struct dt_endpoint_request *r,
                      char **url, char **body, struct dt_error *err);
/* Parses a response body into *out (initialised by the caller; filled only on success):
 * DT_EFORMAT for anything but a complete chat.completion / text_completion. */
int dt_endpoint_parse(const struct dt_endpoint_options *o, const struct dt_endpoint_request *r,
                      const char *body, size_t body_bytes, struct dt_sample *out,
                      struct dt_error *err);

#endif

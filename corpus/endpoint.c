/*
 * The endpoint client (see endpoint.h). One curl multi handle drives every transfer from the
 * caller's thread; a transfer is one attempt of one request. Jobs move from "fresh" (a cursor
 * over the request array) or "waiting" (a retry list, each with the time it may start) to
 * "in flight", and leave when their response parsed (handed to the callback) or when they
 * failed for good (the run stops).
 *
 * Sizes: response bodies are capped at DT_TRANSCRIPT_MAX_LINE_BYTES; at most `concurrency`
 * transfers and their buffers exist at a time.
 */
#include "corpus/endpoint.h"

#include "corpus/transcripts.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifdef DT_HAVE_CURL
#include <curl/curl.h>
#endif

#define SEED_LIMIT ((uint64_t)1 << 53)
#define MAX_TOP_LOGPROBS 20
#define RETRY_AFTER_CAP_S 600.0

void dt_endpoint_options_init(struct dt_endpoint_options *o)
{
    memset(o, 0, sizeof *o);
    o->concurrency = 4;
    o->max_retries = 5;
    o->timeout_s = 120;
    o->backoff_base_s = 0.5;
    o->backoff_max_s = 30;
}

static int use_chat(const struct dt_endpoint_options *o, const struct dt_endpoint_request *r)
{
    if (o->mode == DT_ENDPOINT_CHAT)
        return 1;
    if (o->mode == DT_ENDPOINT_COMPLETIONS)
        return 0;
    return r->kind == DT_PROBE_CHAT;
}

int dt_endpoint_build(const struct dt_endpoint_options *o, const struct dt_endpoint_request *r,
                      char **url, char **body, struct dt_error *err)
{
    if (!o->url || !o->url[0] || !o->model || !o->model[0])
        return dt_error_set(err, DT_EINVAL, "an endpoint needs a URL and a model name");
    if (r->seed >= SEED_LIMIT)
        return dt_error_set(err, DT_EINVAL, "seed %llu does not fit in a JSON number (2^53)",
                            (unsigned long long)r->seed);
    if (r->max_tokens < 1 || r->top_logprobs < 0 || r->top_logprobs > MAX_TOP_LOGPROBS ||
        !isfinite(r->temperature) || !isfinite(r->top_p))
        return dt_error_set(err, DT_EINVAL,
                            "endpoint request needs max_tokens >= 1 and top_logprobs in 0..%d",
                            MAX_TOP_LOGPROBS);
    int chat = use_chat(o, r);
    struct dt_strbuf u = DT_STRBUF_INIT;
    size_t n = strlen(o->url);
    while (n > 0 && o->url[n - 1] == '/')
        n--;
    dt_strbuf_append(&u, o->url, n);
    if (!(n >= 3 && !memcmp(o->url + n - 3, "/v1", 3)))
        dt_strbuf_puts(&u, "/v1");
    dt_strbuf_puts(&u, chat ? "/chat/completions" : "/completions");
    cJSON *b = cJSON_CreateObject();
    int ok = b && cJSON_AddStringToObject(b, "model", o->model);
    if (chat) {
        cJSON *msgs = cJSON_AddArrayToObject(b, "messages"), *m = cJSON_CreateObject();
        ok = ok && msgs && cJSON_AddItemToArray(msgs, m) &&
             cJSON_AddStringToObject(m, "role", "user") &&
             cJSON_AddStringToObject(m, "content", r->prompt);
    } else {
        ok = ok && cJSON_AddStringToObject(b, "prompt", r->prompt);
    }
    /* Floats go out as the doubles with the same value and the seed as an integer literal,
     * printed here (cJSON's printer may round to 15 digits), so the server reads back the
     * exact values the local collect uses. */
    char t[40], p[40], seed[32];
    snprintf(t, sizeof t, "%.17g", (double)r->temperature);
    snprintf(p, sizeof p, "%.17g", (double)r->top_p);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    ok = ok && cJSON_AddNumberToObject(b, "max_tokens", r->max_tokens) &&
         cJSON_AddRawToObject(b, "temperature", t) && cJSON_AddRawToObject(b, "top_p", p) &&
         cJSON_AddRawToObject(b, "seed", seed) &&
         cJSON_AddNumberToObject(b, "n", 1);
    if (ok && r->top_k > 0)
        ok = cJSON_AddNumberToObject(b, "top_k", r->top_k) != NULL;
    if (ok && chat)
        ok = cJSON_AddTrueToObject(b, "logprobs") &&
             cJSON_AddNumberToObject(b, "top_logprobs", r->top_logprobs);
    else if (ok)
        ok = cJSON_AddNumberToObject(b, "logprobs", r->top_logprobs) != NULL;
    char *s = ok ? cJSON_PrintUnformatted(b) : NULL;
    cJSON_Delete(b);
    dt_strbuf_putc(&u, '\0');
    if (!s || dt_strbuf_failed(&u)) {
        cJSON_free(s);
        dt_strbuf_release(&u);
        return dt_error_set(err, DT_ENOMEM, "out of memory building a request");
    }
    *body = dt_strdup(s);
    cJSON_free(s);
    if (!*body) {
        dt_strbuf_release(&u);
        return dt_error_set(err, DT_ENOMEM, "out of memory building a request");
    }
    *url = dt_strbuf_detach(&u, NULL);
    return 0;
}

int dt_endpoint_parse(const struct dt_endpoint_options *o, const struct dt_endpoint_request *r,
                      const char *body, size_t body_bytes, struct dt_sample *out,
                      struct dt_error *err)
{
    int chat = use_chat(o, r), rc;
    cJSON *resp = cJSON_ParseWithLength(body, body_bytes);
    char *line = NULL;
    if (!resp || !cJSON_IsObject(resp)) {
        cJSON_Delete(resp);
        return dt_error_set(err, DT_EFORMAT, "the response is not a JSON object (%zu bytes)",
                            body_bytes);
    }
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(resp, "object");
    const char *want = chat ? "chat.completion" : "text_completion";
    if (cJSON_IsString(obj) && strcmp(obj->valuestring, want)) {
        rc = dt_error_set(err, DT_EFORMAT, "the response is a '%s', expected '%s'",
                          obj->valuestring, want);
        cJSON_Delete(resp);
        return rc;
    }
    /* Wrap the response as a transcript line: the prompt and kind are the probe's, the record
     * id the response's, and the response its bytes as received (re-printing it through cJSON
     * could round numbers). The parser then does to it exactly what an import would. */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id");
    cJSON *w = cJSON_CreateObject();
    int ok = w && cJSON_AddStringToObject(w, "prompt", r->prompt) &&
             cJSON_AddStringToObject(w, "kind", dt_probe_kind_name(r->kind)) &&
             (!cJSON_IsString(id) || cJSON_AddStringToObject(w, "id", id->valuestring));
    char *head = ok ? cJSON_PrintUnformatted(w) : NULL;
    cJSON_Delete(w);
    cJSON_Delete(resp);
    struct dt_strbuf sb = DT_STRBUF_INIT;
    if (head) {
        dt_strbuf_append(&sb, head, strlen(head) - 1); /* without the closing brace */
        dt_strbuf_puts(&sb, ",\"response\":");
        dt_strbuf_append(&sb, body, body_bytes);
        dt_strbuf_putc(&sb, '}');
    }
    cJSON_free(head);
    if (!head || dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory parsing a response");
    }
    size_t n_line = 0;
    line = dt_strbuf_detach(&sb, &n_line);
    struct dt_sample s;
    dt_sample_init(&s);
    rc = dt_transcript_parse_line(line, n_line,
                                  chat ? DT_TRANSCRIPT_OPENAI_CHAT
                                       : DT_TRANSCRIPT_OPENAI_COMPLETIONS,
                                  &s, NULL, err);
    dt_free(line);
    if (rc)
        return rc;
    s.sample_index = r->sample_index;
    *out = s;
    return 0;
}

#ifdef DT_HAVE_CURL

struct job {
    size_t i;
    int attempts;
    double not_before;    /* monotonic seconds */
    CURL *h;
    struct curl_slist *headers;
    char *url, *body;
    struct dt_strbuf resp;
    int too_big;
    double retry_after_s; /* from the last response, < 0: none */
};

struct run {
    const struct dt_endpoint_options *o;
    const struct dt_endpoint_request *reqs;
    size_t n_reqs;
    struct job *jobs;        /* (n_reqs) */
    size_t next_fresh;
    size_t *waiting;         /* retry list: job indices */
    size_t n_waiting;
    size_t n_in_flight, n_done;
    double next_start;       /* rate limit: earliest next start */
    struct dt_rng rng;
    struct dt_endpoint_stats st;
    CURLM *multi;
    char *auth;              /* "Authorization: Bearer KEY" */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct job *j = ud;
    size_t bytes = size * n;
    if (j->resp.len + bytes > DT_TRANSCRIPT_MAX_LINE_BYTES) {
        j->too_big = 1;
        return 0; /* aborts the transfer */
    }
    dt_strbuf_append(&j->resp, p, bytes);
    return dt_strbuf_failed(&j->resp) ? 0 : bytes;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct job *j = ud;
    size_t bytes = size * n;
    static const char name[] = "retry-after:";
    if (bytes > sizeof name - 1 && !strncasecmp(p, name, sizeof name - 1)) {
        char v[64];
        size_t k = bytes - (sizeof name - 1);
        if (k >= sizeof v)
            k = sizeof v - 1;
        memcpy(v, p + sizeof name - 1, k);
        v[k] = '\0';
        char *end;
        double s = strtod(v, &end);
        /* Only the delta-seconds form; an HTTP date falls back to the backoff. */
        if (end != v && isfinite(s) && s >= 0)
            j->retry_after_s = s < RETRY_AFTER_CAP_S ? s : RETRY_AFTER_CAP_S;
    }
    return bytes;
}

static void job_reset(struct job *j)
{
    if (j->h)
        curl_easy_cleanup(j->h);
    j->h = NULL;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    dt_strbuf_release(&j->resp);
    j->too_big = 0;
    j->retry_after_s = -1;
}

static int job_start(struct run *r, struct job *j, struct dt_error *err)
{
    const struct dt_endpoint_options *o = r->o;
    int rc;
    if (!j->body && (rc = dt_endpoint_build(o, &r->reqs[j->i], &j->url, &j->body, err)))
        return rc;
    job_reset(j);
    j->h = curl_easy_init();
    j->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = j->headers ? curl_slist_append(j->headers, "Expect:") : NULL;
    if (h2 && r->auth)
        h2 = curl_slist_append(h2, r->auth);
    if (!j->h || !h2)
        return dt_error_set(err, DT_ENOMEM, "out of memory starting a request");
    long timeout_ms = (long)(o->timeout_s * 1000);
    CURL *h = j->h;
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "distiltrace");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(r->multi, h) != CURLM_OK)
        return dt_error_set(err, DT_ENET, "cannot start a request to '%s'", j->url);
    j->attempts++;
    r->st.n_attempts++;
    r->n_in_flight++;
    return 0;
}

/* Replaces every occurrence of the API key in msg by "***". */
static void mask_key(char *msg, const char *key)
{
    size_t k = key ? strlen(key) : 0;
    if (k < 4)
        return;
    char *p;
    while ((p = strstr(msg, key)) != NULL) {
        memmove(p + 3, p + k, strlen(p + k) + 1);
        memcpy(p, "***", 3);
    }
}

/* The error message of an OpenAI-style error body, else the start of the body. */
static void server_message(const struct job *j, char *out, size_t cap)
{
    cJSON *e = j->resp.data ? cJSON_ParseWithLength(j->resp.data, j->resp.len) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "error"),
                                                      "message");
    if (cJSON_IsString(m))
        snprintf(out, cap, "%s", m->valuestring);
    else
        snprintf(out, cap, "%.*s", (int)(j->resp.len < 200 ? j->resp.len : 200),
                 j->resp.data ? j->resp.data : "");
    cJSON_Delete(e);
}

static int schedule_retry(struct run *r, struct job *j, const char *why, struct dt_error *err)
{
    const struct dt_endpoint_options *o = r->o;
    if (j->attempts > o->max_retries) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", why);
        mask_key(msg, o->api_key);
        return dt_error_set(err, DT_ENET, "request %zu to '%s' failed after %d attempts: %s",
                            j->i + 1, j->url, j->attempts, msg);
    }
    double d = o->backoff_base_s * ldexp(1.0, j->attempts - 1);
    if (d > o->backoff_max_s)
        d = o->backoff_max_s;
    d *= 0.5 + 0.5 * dt_rng_uniform(&r->rng); /* equal jitter: spreads a herd of retries */
    if (j->retry_after_s > d)
        d = j->retry_after_s;
    j->not_before = dt_time_now() + d;
    r->waiting[r->n_waiting++] = (size_t)(j - r->jobs);
    r->st.n_retries++;
    dt_log_debug("endpoint: request %zu retry %d in %.2fs: %s", j->i + 1, j->attempts, d, why);
    return 0;
}

/* A finished transfer: hand the sample over, schedule a retry, or fail. */
static int job_finish(struct run *r, struct job *j, CURLcode cc, dt_endpoint_done_cb cb, void *ud,
                      struct dt_error *err)
{
    char why[600];
    long status = 0;
    int rc = 0;
    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(r->multi, j->h);
    r->n_in_flight--;
    if (cc != CURLE_OK) {
        if (cc == CURLE_OPERATION_TIMEDOUT)
            r->st.n_timeouts++;
        else
            r->st.n_conn_errors++;
        snprintf(why, sizeof why, "%s%s", curl_easy_strerror(cc),
                 j->too_big ? " (response too large)" : "");
        rc = schedule_retry(r, j, why, err);
    } else if (status == 200) {
        struct dt_sample s;
        struct dt_error perr = {0};
        dt_sample_init(&s);
        rc = dt_endpoint_parse(r->o, &r->reqs[j->i], j->resp.data ? j->resp.data : "",
                               j->resp.len, &s, &perr);
        if (rc == DT_ENOMEM) {
            *err = perr;
        } else if (rc) {
            r->st.n_malformed++;
            snprintf(why, sizeof why, "malformed response: %.500s", perr.msg);
            rc = schedule_retry(r, j, why, err);
        } else {
            r->st.n_ok++;
            r->n_done++;
            rc = cb ? cb(ud, j->i, &s, err) : 0;
            if (!cb)
                dt_sample_release(&s);
            dt_free(j->body);
            dt_free(j->url);
            j->body = j->url = NULL;
        }
    } else {
        char msg[400];
        server_message(j, msg, sizeof msg);
        snprintf(why, sizeof why, "HTTP %ld: %s", status, msg);
        if (status == 429)
            r->st.n_429++;
        else if (status >= 500)
            r->st.n_5xx++;
        if (status == 408 || status == 409 || status == 425 || status == 429 || status >= 500) {
            rc = schedule_retry(r, j, why, err);
        } else {
            mask_key(why, r->o->api_key);
            rc = dt_error_set(err, DT_ENET, "request %zu to '%s' was refused: %s", j->i + 1,
                              j->url, why);
        }
    }
    job_reset(j);
    return rc;
}

int dt_endpoint_run(const struct dt_endpoint_options *o, const struct dt_endpoint_request *reqs,
                    size_t n_reqs, dt_endpoint_done_cb cb, void *ud,
                    struct dt_endpoint_stats *stats, struct dt_error *err)
{
    static int curl_ready;
    struct run r;
    int rc = 0;
    memset(&r, 0, sizeof r);
    if (o->concurrency < 1 || o->max_retries < 0 || !(o->timeout_s > 0))
        return dt_error_set(err, DT_EINVAL, "endpoint: concurrency >= 1, retries >= 0 and a "
                                            "positive timeout are needed");
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return dt_error_set(err, DT_ENET, "libcurl failed to initialise");
        curl_ready = 1;
    }
    r.o = o;
    r.reqs = reqs;
    r.n_reqs = n_reqs;
    dt_rng_seed(&r.rng, o->jitter_seed);
    r.jobs = dt_calloc(n_reqs ? n_reqs : 1, sizeof *r.jobs);
    r.waiting = dt_malloc_array(n_reqs ? n_reqs : 1, sizeof *r.waiting);
    r.multi = curl_multi_init();
    if (o->api_key && o->api_key[0]) {
        size_t n = strlen(o->api_key) + 32;
        if ((r.auth = dt_malloc(n)))
            snprintf(r.auth, n, "Authorization: Bearer %s", o->api_key);
    }
    if (!r.jobs || !r.waiting || !r.multi || (o->api_key && o->api_key[0] && !r.auth)) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_reqs; i++) {
        r.jobs[i].i = i;
        r.jobs[i].retry_after_s = -1;
    }
    double interval = o->rps > 0 ? 1.0 / o->rps : 0;
    while (r.n_done < n_reqs) {
        double now = dt_time_now();
        /* Start what may start: retries whose time came first, then fresh requests. */
        while (r.n_in_flight < (size_t)o->concurrency && now >= r.next_start) {
            struct job *j = NULL;
            for (size_t k = 0; k < r.n_waiting; k++)
                if (r.jobs[r.waiting[k]].not_before <= now) {
                    j = &r.jobs[r.waiting[k]];
                    r.waiting[k] = r.waiting[--r.n_waiting];
                    break;
                }
            if (!j && r.next_fresh < n_reqs)
                j = &r.jobs[r.next_fresh++];
            if (!j)
                break;
            if ((rc = job_start(&r, j, err)))
                goto done;
            r.next_start = (r.next_start > now ? r.next_start : now) + interval;
        }
        int running = 0;
        if (curl_multi_perform(r.multi, &running) != CURLM_OK) {
            rc = dt_error_set(err, DT_ENET, "libcurl multi interface failed");
            goto done;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(r.multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct job *j = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            if ((rc = job_finish(&r, j, msg->data.result, cb, ud, err)))
                goto done;
        }
        if (r.n_done >= n_reqs)
            break;
        /* Sleep until a transfer moves or the next retry / rate slot comes. */
        double wake = 0.1;
        now = dt_time_now();
        if (r.next_start > now && r.next_start - now < wake)
            wake = r.next_start - now;
        for (size_t k = 0; k < r.n_waiting; k++) {
            double d = r.jobs[r.waiting[k]].not_before - now;
            if (d < wake)
                wake = d > 0 ? d : 0;
        }
        if (r.n_in_flight > 0) {
            curl_multi_poll(r.multi, NULL, 0, (int)(wake * 1000) + 1, NULL);
        } else if (wake > 0) {
            struct timespec ts = {(time_t)wake, (long)((wake - floor(wake)) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
done:
    for (size_t i = 0; r.jobs && i < n_reqs; i++) {
        if (r.jobs[i].h && r.multi)
            curl_multi_remove_handle(r.multi, r.jobs[i].h);
        job_reset(&r.jobs[i]);
        dt_free(r.jobs[i].body);
        dt_free(r.jobs[i].url);
    }
    if (r.multi)
        curl_multi_cleanup(r.multi);
    if (r.auth) {
        memset(r.auth, 0, strlen(r.auth));
        dt_free(r.auth);
    }
    dt_free(r.jobs);
    dt_free(r.waiting);
    if (stats)
        *stats = r.st;
    return rc;
}

#else

int dt_endpoint_run(const struct dt_endpoint_options *o, const struct dt_endpoint_request *reqs,
                    size_t n_reqs, dt_endpoint_done_cb cb, void *ud,
                    struct dt_endpoint_stats *stats, struct dt_error *err)
{
    return dt_error_set(err, DT_EUNSUPPORTED, "built without libcurl: endpoints are unavailable");
}

#endif

/*
 * `distiltrace serve --model M [--host 127.0.0.1] [--port P]`: an OpenAI-compatible server
 * over the local model (run/serve.h) until SIGINT or SIGTERM; requests in flight finish
 * before it exits. Prints "listening on http://HOST:PORT" on stdout once bound (--port 0 picks
 * a free port, which that line tells).
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/serve.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "distiltrace serve --model M [--host 127.0.0.1] [--port 8080] [--model-name NAME]\n"
    "       [--chat-template STR] [--chat-date YYYY-MM-DD] [--threads N] [--max-tokens-limit N]\n"
    "       [--max-body-bytes N] [--max-connections N] [--quiet]\n"
    "Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health,\n"
    "with stream (server-sent events), n (up to 16 answers, the i-th sampled with seed + i),\n"
    "echo (completions) and logprobs; a request naming another model gets 404. Each request\n"
    "is logged on stderr (client, request, status, bytes, seconds) unless --quiet.\n"
    "Chat messages are rendered by the model's own chat template (GGUF tokenizer.chat_template,\n"
    "tokenizer_config.json, chat_template.jinja), as compare wraps its probes; a model without\n"
    "one uses --chat-template ('{prompt}' marks the last user message), or\n"
    "'<|user|>{prompt}<|assistant|>' when its vocabulary has both markers. The format used is\n"
    "printed on stderr and in GET /v1/models (chat_format).\n"
    "For testing API clients only: --fault-429-every N, --fault-500-every N,\n"
    "--fault-malformed-every N (a truncated JSON body), --fault-delay-ms MS with\n"
    "--fault-delay-every N make every Nth generation request fail or answer late.";

static void log_access(void *ud, const struct dt_access_entry *e)
{
    (void)ud;
    fprintf(stderr, "%s \"%s %s\" %d %zu %.3fs%s\n", e->client, e->method, e->path, e->status,
            e->bytes, e->seconds, e->completed ? "" : " (closed early)");
}

int cmd_serve(int argc, char **argv)
{
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "serve", argc, argv))
        return DT_EXIT_INTERNAL;
    struct dt_serve_options o;
    dt_serve_options_init(&o);
    const char *model_path = dt_cli_str(&a, "--model", NULL);
    const char *name = dt_cli_str(&a, "--model-name", NULL);
    o.host = dt_cli_str(&a, "--host", o.host);
    o.chat_template = dt_cli_str(&a, "--chat-template", NULL);
    o.chat_date = dt_cli_str(&a, "--chat-date", NULL);
    o.on_access = dt_cli_has(&a, "--quiet") ? NULL : log_access;
    /* integer options: name, range, destination */
    long body_bytes = (long)o.max_body_bytes, max_conn = (long)o.max_connections;
    struct {
        const char *name;
        long lo, hi;
        int *out;
    } ints[] = {
        {"--port", 0, 65535, &o.port},
        {"--threads", 1, 256, &o.n_threads},
        {"--max-tokens-limit", 1, 1 << 20, &o.max_tokens_limit},
        {"--fault-429-every", 0, 1 << 30, &o.fault_429_every},
        {"--fault-500-every", 0, 1 << 30, &o.fault_500_every},
        {"--fault-malformed-every", 0, 1 << 30, &o.fault_malformed_every},
        {"--fault-delay-ms", 0, 600000, &o.fault_delay_ms},
        {"--fault-delay-every", 0, 1 << 30, &o.fault_delay_every},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        long v = *ints[k].out;
        if (dt_cli_long(&a, ints[k].name, ints[k].lo, ints[k].hi, &v))
            return DT_EXIT_USAGE;
        *ints[k].out = (int)v;
    }
    if (dt_cli_long(&a, "--max-body-bytes", 1024, 1 << 30, &body_bytes) ||
        dt_cli_long(&a, "--max-connections", 1, 4096, &max_conn))
        return DT_EXIT_USAGE;
    if (!model_path)
        return dt_cli_usage("serve", usage);
    o.max_body_bytes = (size_t)body_bytes;
    o.max_connections = (unsigned)max_conn;

    struct dt_error err = {0};
    struct dt_service *srv = NULL;
    o.model_name = name; /* NULL: the file's name */
    /* Block the stop signals before any server thread exists, so that all of them inherit
     * the mask and only sigwait below sees SIGINT / SIGTERM. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (dt_service_start(model_path, &o, &srv, &err))
        return dt_cli_fail(&err);
    const char *h = o.host ? o.host : "127.0.0.1";
    int v6 = strchr(h, ':') != NULL;
    printf("listening on http://%s%s%s:%d (model '%s')\n", v6 ? "[" : "", h, v6 ? "]" : "",
           dt_service_port(srv), dt_service_name(srv));
    fflush(stdout);
    fprintf(stderr, "distiltrace serve: chat format %s\n", dt_service_chat_format(srv));
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) == 0 && sig != SIGPIPE)
            break;
    }
    fprintf(stderr, "distiltrace serve: stopping after %lu requests\n",
            dt_service_n_requests(srv));
    dt_service_free(srv);
    return DT_EXIT_OK;
}

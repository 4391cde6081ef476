/*
 * `distiltrace serve --model M [--host 127.0.0.1] [--port P]`: an OpenAI-compatible server
 * over the local model (run/serve.h) until SIGINT or SIGTERM; requests in flight finish
 * before it exits. Prints "listening on http://HOST:PORT" on stdout once bound (--port 0 picks
 * a free port, which that line tells).
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "run/serve.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "distiltrace serve --model M [--host 127.0.0.1] [--port 8080] [--model-name NAME]\n"
    "       [--chat-template STR] [--threads N] [--max-tokens-limit N] [--max-body-bytes N]\n"
    "       [--max-connections N] [--quiet]\n"
    "Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health,\n"
    "with stream (server-sent events), n (up to 16 answers, the i-th sampled with seed + i),\n"
    "echo (completions) and logprobs; a request naming another model gets 404. Each request\n"
    "is logged on stderr (client, request, status, bytes, seconds) unless --quiet.\n"
    "Chat messages use --chat-template ('{prompt}' marks the last user message); without it,\n"
    "models whose vocabulary has <|user|> and <|assistant|> get '<|user|>{prompt}<|assistant|>'.\n"
    "For testing API clients only: --fault-429-every N, --fault-500-every N,\n"
    "--fault-malformed-every N (a truncated JSON body), --fault-delay-ms MS with\n"
    "--fault-delay-every N make every Nth generation request fail or answer late.";

static void log_access(void *ud, const struct dt_access_entry *e)
{
    (void)ud;
    fprintf(stderr, "%s \"%s %s\" %d %zu %.3fs%s\n", e->client, e->method, e->path, e->status,
            e->bytes, e->seconds, e->completed ? "" : " (closed early)");
}

static int int_opt(int argc, char **argv, int *i, const char *name, long lo, long hi, int *out,
                   int *r)
{
    const char *v;
    long l;
    if (!(*r = dt_cli_opt("serve", argc, argv, i, name, &v)))
        return 0;
    if (*r < 0 || dt_cli_parse_int("serve", name, v, lo, hi, &l)) {
        *r = -1;
        return 1;
    }
    *out = (int)l;
    return 1;
}

int cmd_serve(int argc, char **argv)
{
    const char *model_path = NULL, *name = NULL;
    int body_bytes = 0, max_conn = 0, r = 0;
    struct dt_serve_options o;
    dt_serve_options_init(&o);
    o.model_name = NULL;
    int quiet = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            o.on_access = NULL;
            quiet = 1;
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n", usage);
            return DT_EXIT_OK;
        }
        if ((r = dt_cli_opt("serve", argc, argv, &i, "--model", &model_path)) ||
            (r = dt_cli_opt("serve", argc, argv, &i, "--host", &o.host)) ||
            (r = dt_cli_opt("serve", argc, argv, &i, "--model-name", &name)) ||
            (r = dt_cli_opt("serve", argc, argv, &i, "--chat-template", &o.chat_template)) ||
            int_opt(argc, argv, &i, "--port", 0, 65535, &o.port, &r) ||
            int_opt(argc, argv, &i, "--threads", 1, 256, &o.n_threads, &r) ||
            int_opt(argc, argv, &i, "--max-tokens-limit", 1, 1 << 20, &o.max_tokens_limit, &r) ||
            int_opt(argc, argv, &i, "--max-body-bytes", 1024, 1 << 30, &body_bytes, &r) ||
            int_opt(argc, argv, &i, "--max-connections", 1, 4096, &max_conn, &r) ||
            int_opt(argc, argv, &i, "--fault-429-every", 0, 1 << 30, &o.fault_429_every, &r) ||
            int_opt(argc, argv, &i, "--fault-500-every", 0, 1 << 30, &o.fault_500_every, &r) ||
            int_opt(argc, argv, &i, "--fault-malformed-every", 0, 1 << 30,
                    &o.fault_malformed_every, &r) ||
            int_opt(argc, argv, &i, "--fault-delay-ms", 0, 600000, &o.fault_delay_ms, &r) ||
            int_opt(argc, argv, &i, "--fault-delay-every", 0, 1 << 30, &o.fault_delay_every,
                    &r)) {
            if (r < 0)
                return DT_EXIT_USAGE;
        } else {
            return dt_cli_usage("serve", usage);
        }
    }
    if (!model_path)
        return dt_cli_usage("serve", usage);
    if (!quiet)
        o.on_access = log_access;
    if (body_bytes > 0)
        o.max_body_bytes = (size_t)body_bytes;
    if (max_conn > 0)
        o.max_connections = (unsigned)max_conn;

    struct dt_error err = {0};
    struct dt_service *srv = NULL;
    o.model_name = name;
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

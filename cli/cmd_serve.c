/*
 * `distiltrace serve --model M [--host 127.0.0.1] [--port P]`: an OpenAI-compatible server
 * over the local model (server/serve.h) until SIGINT or SIGTERM; requests in flight finish
 * before it exits. Prints "listening on http://HOST:PORT" on stdout once bound (--port 0 picks
 * a free port, which that line tells).
 */
#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "infer/chat_template.h"
#include "infer/model.h"
#include "server/serve.h"
#include "infer/tokenizer.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "distiltrace serve --model M [--host 127.0.0.1] [--port 8080] [--model-name NAME]\n"
    "       [--chat-template STR] [--chat-date YYYY-MM-DD] [--threads N] [--max-tokens-limit N]\n"
    "       [--max-body-bytes N]"
    " [--max-connections N] [--quiet]\n"
    "Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health,\n"
    "with stream (server-sent events), n (up to 16 answers, the i-th sampled with seed + i),\n"
    "echo (completions) and logprobs; a request naming another model gets 404. Each request\n"
    "is logged on stderr (client, request, status, bytes, seconds) unless --quiet.\n"
    "Chat messages (a leading system message and the last user message) are wrapped in the\n"
    "model's own chat template (GGUF tokenizer.chat_template, tokenizer_config.json,\n"
    "chat_template.jinja), as compare wraps its probes; a model without one uses --chat-template\n"
    "('{prompt}' marks the message), or '<|user|>{prompt}<|assistant|>' when its vocabulary has\n"
    "both markers. The format used is printed on stderr and in GET /v1/models (chat_format).\n"
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
    const char *model_path = NULL, *name = NULL, *chat_date = NULL;
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
            (r = dt_cli_opt("serve", argc, argv, &i, "--chat-date", &chat_date)) ||
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
    if (chat_date && !dt_chat_date_valid(chat_date)) {
        fprintf(stderr, "distiltrace serve: --chat-date '%s' is not a YYYY-MM-DD day\n", chat_date);
        return DT_EXIT_USAGE;
    }
    if (!quiet)
        o.on_access = log_access;
    if (body_bytes > 0)
        o.max_body_bytes = (size_t)body_bytes;
    if (max_conn > 0)
        o.max_connections = (unsigned)max_conn;

    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_server *srv = NULL;
    struct dt_chat_template *chat = NULL;
    char stem[256];
    int rc = 0;
    /* Block the stop signals before any server thread exists, so that all of them inherit
     * the mask and only sigwait below sees SIGINT / SIGTERM. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if ((rc = dt_model_open(model_path, &m, &err)))
        goto done;
    if (!name) {
        const char *base = strrchr(model_path, '/');
        base = base && base[1] ? base + 1 : model_path;
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = '\0';
        name = stem;
    }
    o.model_name = name;
    const struct dt_tokenizer *tok = dt_model_tokenizer(m);
    if (!o.chat_template && dt_tokenizer_find(tok, "<|user|>") >= 0 &&
        dt_tokenizer_find(tok, "<|assistant|>") >= 0)
        o.chat_template = "<|user|>{prompt}<|assistant|>";
    if ((rc = dt_chat_template_open(tok, model_path, o.chat_template, chat_date, &chat, &err)))
        goto done;
    o.chat = chat;
    fprintf(stderr, "distiltrace serve: chat format %s\n", dt_chat_template_describe(chat));
    if ((rc = dt_server_new(m, &o, &srv, &err)) || (rc = dt_server_start(srv, &err)))
        goto done;
    const char *h = o.host ? o.host : "127.0.0.1";
    int v6 = strchr(h, ':') != NULL;
    printf("listening on http://%s%s%s:%d (model '%s')\n", v6 ? "[" : "", h, v6 ? "]" : "",
           dt_server_port(srv), name);
    fflush(stdout);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) == 0 && sig != SIGPIPE)
            break;
    }
    fprintf(stderr, "distiltrace serve: stopping after %lu requests\n",
            dt_server_n_requests(srv));
done:
    dt_server_free(srv);
    dt_chat_template_free(chat);
    dt_model_free(m);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

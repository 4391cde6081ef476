/*
 * `distiltrace generate --model M --prompt P [-n N] [--temperature T] [--top-p P] [--top-k K]
 * [--seed S] [--chat] [--system STR] [--chat-template STR] [--chat-date D] [--stop eog|eos|none]
 * [--top-logprobs K] [--json]`: continues a prompt with the local model. Temperature 0 is
 * greedy. With --chat (implied by --system and --chat-template) the prompt is a user message
 * wrapped the way compare wraps its probes: the model's own chat template, else
 * --chat-template, else its marker family; --json says which ("chat_format"). Special tokens
 * in the prompt are parsed by default (--no-special: plain text); those of the template always
 * are. Prints the continuation's text (control tokens left out); --json adds the ids, each
 * token's log-probability under the unmodified model and the top alternatives.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/local.h"
#include "util/alloc.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace generate --model M --prompt P [-n N] [--temperature T] [--top-p P] [--top-k K]\n"
    "       [--seed S] [--chat] [--system STR] [--chat-template STR] [--chat-date YYYY-MM-DD]\n"
    "       [--stop eog|eos|none] [--top-logprobs K] [--json]\n"
    "       [--no-special] [--threads N]";

/* text mode: each token's text as it comes */
static void on_token(void *ud, const struct dt_gen_token *t)
{
    const struct dt_local *l = ud;
    char *s = NULL;
    size_t n = 0;
    struct dt_error err;
    if (dt_local_decode(l, &t->id, 1, &s, &n, &err) == 0) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
    dt_free(s);
}

static cJSON *ids_json(const int32_t *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

int cmd_generate(int argc, char **argv)
{
    static const char *const stops[] = {"eog", "eos", "none", NULL};
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, "generate", argc, argv))
        return DT_EXIT_INTERNAL;
    const char *model_path = dt_cli_str(&a, "--model", NULL),
               *prompt = dt_cli_str(&a, "--prompt", NULL),
               *tmpl = dt_cli_str(&a, "--chat-template", NULL),
               *system = dt_cli_str(&a, "--system", NULL),
               *chat_date = dt_cli_str(&a, "--chat-date", NULL);
    int chat = dt_cli_has(&a, "--chat") || tmpl || system;
    long n = 32, top_k = 0, n_top = 5, threads = 0;
    double temp = 1.0, top_p = 1.0;
    unsigned long long seed = 0;
    int stop = 0;
    int json = dt_cli_has(&a, "--json"), special = !dt_cli_has(&a, "--no-special");
    if (dt_cli_long(&a, "--n-predict", 0, 1 << 20, &n) ||
        dt_cli_long(&a, "--top-k", 0, 1 << 24, &top_k) ||
        dt_cli_long(&a, "--top-logprobs", 0, 64, &n_top) ||
        dt_cli_long(&a, "--threads", 1, 64, &threads) ||
        dt_cli_double(&a, "--temperature", 0, 1e6, &temp) ||
        dt_cli_double(&a, "--top-p", 0, 1, &top_p) || dt_cli_u64(&a, "--seed", &seed) ||
        dt_cli_choice(&a, "--stop", stops, &stop))
        return DT_EXIT_USAGE;
    if (!model_path || !prompt)
        return dt_cli_usage("generate", k_usage);

    struct dt_error err = {0};
    struct dt_local *l = NULL;
    struct dt_gen_result r = {0};
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = (int)n;
    gp.n_top = (int)n_top;
    gp.stop = stop == 0 ? DT_STOP_EOG : stop == 1 ? DT_STOP_EOS : DT_STOP_NONE;
    gp.sampler.temperature = (float)temp;
    gp.sampler.top_p = (float)top_p;
    gp.sampler.top_k = (int)top_k;
    gp.sampler.seed = seed;
    if (dt_local_open(model_path, (int)threads, &l, &err) ||
        (chat ? dt_local_generate_chat(l, model_path, system, prompt, tmpl, chat_date, special,
                                       &gp, json ? NULL : on_token, l, &r, &err)
              : dt_local_generate(l, prompt, NULL, special, &gp, json ? NULL : on_token, l, &r,
                                  &err))) {
        int status = dt_cli_fail(&err);
        dt_local_free(l);
        return status;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "prompt_ids", ids_json(r.prompt_ids, r.n_prompt));
        char *text = NULL;
        size_t n_text = 0;
        if (dt_local_decode(l, r.ids, r.n, &text, &n_text, &err) == 0)
            cJSON_AddStringToObject(o, "text", text);
        dt_free(text);
        cJSON_AddItemToObject(o, "ids", ids_json(r.ids, r.n));
        cJSON *lps = cJSON_AddArrayToObject(o, "logprobs"),
              *tops = cJSON_AddArrayToObject(o, "top_logprobs");
        for (size_t i = 0; i < r.n; i++) {
            cJSON_AddItemToArray(lps, cJSON_CreateNumber(r.logprobs[i]));
            cJSON *alts = cJSON_CreateArray();
            for (size_t k = 0; k < (size_t)r.n_top; k++) {
                int32_t id = r.top_ids[i * (size_t)r.n_top + k];
                if (id < 0)
                    continue;
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "id", id);
                cJSON_AddNumberToObject(e, "logprob", r.top_logprobs[i * (size_t)r.n_top + k]);
                cJSON_AddItemToArray(alts, e);
            }
            cJSON_AddItemToArray(tops, alts);
        }
        cJSON_AddStringToObject(o, "finish_reason", r.stopped ? "stop" : "length");
        if (chat) {
            cJSON *cf = cJSON_AddObjectToObject(o, "chat_format");
            cJSON_AddStringToObject(cf, "kind", r.chat_kind);
            cJSON_AddStringToObject(cf, "description", r.chat_desc);
            if (r.chat_sha256[0])
                cJSON_AddStringToObject(cf, "sha256", r.chat_sha256);
        }
        char *str = cJSON_PrintUnformatted(o);
        if (str)
            printf("%s\n", str);
        cJSON_free(str);
        cJSON_Delete(o);
    } else {
        printf("\n");
    }
    dt_gen_result_release(&r);
    dt_local_free(l);
    return DT_EXIT_OK;
}

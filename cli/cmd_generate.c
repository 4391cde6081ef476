/*
 * `distiltrace generate --model M --prompt P [-n N] [--temperature T] [--top-p P] [--top-k K]
 * [--seed S] [--chat] [--system STR] [--chat-template STR] [--chat-date D] [--stop eog|eos|none]
 * [--top-logprobs K] [--json]`: continues a prompt with the local model. Temperature 0 is
 * greedy. With --chat (implied by --system and --chat-template) the prompt is a user message
 * wrapped the way compare wraps its probes: the model's own chat template (infer/chat_template.h),
 * else --chat-template, else its marker family; --json says which ("chat_format"). Special
 * tokens in the prompt are parsed by default (--no-special: plain text); those of the template
 * always are.
 * Prints the continuation's text (control tokens left out); --json adds the ids, each token's
 * log-probability under the unmodified model and the top alternatives.
 */
#include "cli/commands.h"

#include "infer/chat_template.h"
#include "infer/model.h"
#include "infer/prompt.h"
#include "infer/sampler.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *k_usage =
    "distiltrace generate --model M --prompt P [-n N] [--temperature T] [--top-p P] [--top-k K]\n"
    "       [--seed S] [--chat] [--system STR] [--chat-template STR] [--chat-date YYYY-MM-DD]\n"
    "       [--stop eog|eos|none] [--top-logprobs K] [--json] [--no-special] [--threads N]";

struct gen_out {
    const struct dt_tokenizer *tok;
    cJSON *ids, *lps, *tops;
    int json, stopped;
};

static int on_token(void *ud, const struct dt_gen_token *t)
{
    struct gen_out *g = ud;
    g->stopped = t->is_eog;
    if (!g->json) {
        char *s = NULL;
        size_t n = 0;
        struct dt_error err;
        if (dt_tokenizer_decode(g->tok, &t->id, 1, 0, &s, &n, &err) == 0) {
            fwrite(s, 1, n, stdout);
            fflush(stdout);
        }
        dt_free(s);
        return 0;
    }
    cJSON_AddItemToArray(g->ids, cJSON_CreateNumber(t->id));
    cJSON_AddItemToArray(g->lps, cJSON_CreateNumber(t->logprob));
    cJSON *alts = cJSON_CreateArray();
    for (int k = 0; k < t->n_top; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", t->top_ids[k]);
        cJSON_AddNumberToObject(a, "logprob", t->top_logprobs[k]);
        cJSON_AddItemToArray(alts, a);
    }
    cJSON_AddItemToArray(g->tops, alts);
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *tmpl = NULL, *stop = "eog", *system = NULL,
               *chat_date = NULL;
    long n = 32, top_k = 0, n_top = 5, threads = 0;
    double temp = 1.0, top_p = 1.0;
    unsigned long long seed = 0;
    int json = 0, special = 1, chat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s\n", k_usage);
            return DT_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--no-special")) {
            special = 0;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!v) {
            return dt_cli_usage("generate", k_usage);
        } else if (!strcmp(a, "--model")) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--prompt")) {
            prompt = argv[++i];
        } else if (!strcmp(a, "--chat-template")) {
            tmpl = argv[++i];
            chat = 1;
        } else if (!strcmp(a, "--system")) {
            system = argv[++i];
            chat = 1;
        } else if (!strcmp(a, "--chat-date")) {
            chat_date = argv[++i];
        } else if (!strcmp(a, "--stop")) {
            stop = argv[++i];
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (dt_cli_parse_int("generate", a, argv[++i], 0, 1 << 20, &n))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--top-k")) {
            if (dt_cli_parse_int("generate", a, argv[++i], 0, 1 << 24, &top_k))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--top-logprobs")) {
            if (dt_cli_parse_int("generate", a, argv[++i], 0, 64, &n_top))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (dt_cli_parse_int("generate", a, argv[++i], 1, 64, &threads))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--temperature")) {
            if (dt_cli_parse_double("generate", a, argv[++i], &temp))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--top-p")) {
            if (dt_cli_parse_double("generate", a, argv[++i], &top_p))
                return DT_EXIT_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (dt_cli_parse_u64("generate", a, argv[++i], &seed))
                return DT_EXIT_USAGE;
        } else {
            return dt_cli_usage("generate", k_usage);
        }
    }
    enum dt_gen_stop stop_mode;
    if (!strcmp(stop, "eog"))
        stop_mode = DT_STOP_EOG;
    else if (!strcmp(stop, "eos"))
        stop_mode = DT_STOP_EOS;
    else if (!strcmp(stop, "none"))
        stop_mode = DT_STOP_NONE;
    else
        return dt_cli_usage("generate", k_usage);
    if (!model_path || !prompt || temp < 0 || top_p < 0 || top_p > 1)
        return dt_cli_usage("generate", k_usage);
    if (chat_date && !dt_chat_date_valid(chat_date)) {
        fprintf(stderr, "distiltrace generate: --chat-date '%s' is not a YYYY-MM-DD day\n",
                chat_date);
        return DT_EXIT_USAGE;
    }

    struct dt_error err = {0};
    struct dt_model *m = NULL;
    struct dt_session *s = NULL;
    struct dt_chat_template *ct = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, n_gen = 0;
    struct gen_out g = {0};
    int status = DT_EXIT_OK;
    if (dt_model_open(model_path, &m, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    dt_model_set_threads(m, (int)threads);
    g.tok = dt_model_tokenizer(m);
    g.json = json;
    if (chat && dt_chat_template_open(g.tok, model_path, tmpl, chat_date, &ct, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    if (chat ? dt_chat_template_encode(ct, g.tok, system, prompt, special, &ids, &n_ids, &err)
             : dt_prompt_encode(g.tok, NULL, prompt, special, &ids, &n_ids, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    if (n_ids == 0) {
        fprintf(stderr, "distiltrace generate: the prompt encodes to no tokens\n");
        status = DT_EXIT_USAGE;
        goto out;
    }
    int n_ctx = (int)(n_ids + (size_t)n);
    if (dt_session_new(m, n_ctx, &s, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    struct dt_gen_params gp;
    dt_gen_params_init(&gp);
    gp.n_predict = (int)n;
    gp.n_top = (int)n_top;
    gp.stop = stop_mode;
    gp.sampler.temperature = (float)temp;
    gp.sampler.top_p = (float)top_p;
    gp.sampler.top_k = (int)top_k;
    gp.sampler.seed = seed;
    if (json) {
        g.ids = cJSON_CreateArray();
        g.lps = cJSON_CreateArray();
        g.tops = cJSON_CreateArray();
    }
    if (dt_generate(m, s, ids, n_ids, &gp, on_token, &g, &n_gen, &err)) {
        status = dt_cli_fail(&err);
        goto out;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *pi = cJSON_AddArrayToObject(o, "prompt_ids");
        for (size_t i = 0; i < n_ids; i++)
            cJSON_AddItemToArray(pi, cJSON_CreateNumber(ids[i]));
        int32_t *gen = dt_malloc_array(n_gen + 1, sizeof *gen);
        char *text = NULL;
        size_t n_text = 0;
        for (size_t i = 0; gen && i < n_gen; i++)
            gen[i] = (int32_t)cJSON_GetArrayItem(g.ids, (int)i)->valuedouble;
        if (gen && dt_tokenizer_decode(g.tok, gen, n_gen, 0, &text, &n_text, &err) == 0)
            cJSON_AddStringToObject(o, "text", text);
        dt_free(text);
        dt_free(gen);
        cJSON_AddItemToObject(o, "ids", g.ids);
        cJSON_AddItemToObject(o, "logprobs", g.lps);
        cJSON_AddItemToObject(o, "top_logprobs", g.tops);
        g.ids = g.lps = g.tops = NULL;
        cJSON_AddStringToObject(o, "finish_reason", g.stopped ? "stop" : "length");
        if (chat) {
            cJSON *cf = cJSON_AddObjectToObject(o, "chat_format");
            cJSON_AddStringToObject(cf, "kind", dt_chat_template_name(ct));
            cJSON_AddStringToObject(cf, "description", dt_chat_template_describe(ct));
            if (dt_chat_template_sha256(ct))
                cJSON_AddStringToObject(cf, "sha256", dt_chat_template_sha256(ct));
        }
        char *str = cJSON_PrintUnformatted(o);
        if (str)
            printf("%s\n", str);
        cJSON_free(str);
        cJSON_Delete(o);
    } else {
        printf("\n");
    }
out:
    cJSON_Delete(g.ids);
    cJSON_Delete(g.lps);
    cJSON_Delete(g.tops);
    dt_free(ids);
    dt_session_free(s);
    dt_chat_template_free(ct);
    dt_model_free(m);
    return status;
}

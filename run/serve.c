/*
 * A local model served over HTTP (run/serve.h): the model, the name and chat format chosen
 * for it (infer/chat_template.h, as compare chooses), and the server, freed together.
 */
#include "run/serve.h"

#include "infer/chat_template.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

struct dt_service {
    struct dt_model *model;
    struct dt_server *server;
    struct dt_chat_template *chat; /* the chat format the server wraps messages in */
    char name[256];
};

int dt_service_start(const char *model_path, const struct dt_serve_options *opts,
                     struct dt_service **out, struct dt_error *err)
{
    struct dt_serve_options o = *opts;
    *out = NULL;
    struct dt_service *s = dt_calloc(1, sizeof *s);
    if (!s)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = dt_model_open(model_path, &s->model, err);
    if (rc == 0) {
        if (o.model_name) {
            snprintf(s->name, sizeof s->name, "%s", o.model_name);
        } else {
            /* the file's name without its extension */
            const char *base = strrchr(model_path, '/');
            base = base && base[1] ? base + 1 : model_path;
            snprintf(s->name, sizeof s->name, "%s", base);
            char *dot = strrchr(s->name, '.');
            if (dot && dot != s->name)
                *dot = '\0';
        }
        o.model_name = s->name;
        const struct dt_tokenizer *tok = dt_model_tokenizer(s->model);
        if (!o.chat_template && dt_tokenizer_find(tok, "<|user|>") >= 0 &&
            dt_tokenizer_find(tok, "<|assistant|>") >= 0)
            o.chat_template = "<|user|>{prompt}<|assistant|>";
        /* the model's own template first, the "{prompt}" form only for a model without one */
        rc = dt_chat_template_open(tok, model_path, o.chat_template, o.chat_date, &s->chat, err);
        o.chat = s->chat;
        if (rc == 0)
            rc = dt_server_new(s->model, &o, &s->server, err);
    }
    if (rc == 0)
        rc = dt_server_start(s->server, err);
    if (rc) {
        dt_service_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int dt_service_port(const struct dt_service *s) { return dt_server_port(s->server); }
const char *dt_service_name(const struct dt_service *s) { return s->name; }
const char *dt_service_chat_format(const struct dt_service *s)
{
    return dt_chat_template_describe(s->chat);
}
unsigned long dt_service_n_requests(const struct dt_service *s)
{
    return dt_server_n_requests(s->server);
}

void dt_service_free(struct dt_service *s)
{
    if (!s)
        return;
    dt_server_free(s->server);
    dt_chat_template_free(s->chat);
    dt_model_free(s->model);
    dt_free(s);
}

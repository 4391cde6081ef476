/*
 * Opening and releasing parties (run/party.h): a local model with its tokenizer and chat
 * format, transcripts loaded into the party's samples (the first bad line named), answers
 * handed over by the caller. Nothing here generates: answers are run/compare.c's.
 */
#include "run/party.h"

#include "corpus/transcripts.h"
#include "infer/chat_template.h"
#include "infer/compute.h"
#include "infer/model.h"
#include "run/compare.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

void dt_party_display_name(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t len = n - b;
    const char *exts[] = {".gguf", ".jsonl", ".safetensors", ".json"};
    for (size_t i = 0; i < 4; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && !strncmp(path + b + len - el, exts[i], el)) {
            len -= el;
            break;
        }
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(out, path + b, len);
    out[len] = '\0';
}

static void first_line_error(void *ud, size_t line, const struct dt_error *e)
{
    struct dt_error *first = ud;
    (void)line;
    if (!first->code)
        *first = *e;
}

int dt_party_open(const struct dt_compare_input *in, enum dt_party_role role,
                  const struct dt_compare_params *p, struct dt_party *party, struct dt_error *err)
{
    memset(party, 0, sizeof *party);
    dt_sample_set_init(&party->samples);
    party->role = role;
    const char *path = in->model_path      ? in->model_path
                       : in->transcripts_path ? in->transcripts_path
                       : in->endpoint         ? in->endpoint->url
                                              : NULL;
    if (!in->model_path && in->chat_template && !(party->chat_template = dt_strdup(in->chat_template)))
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    party->path = path;
    if (in->name)
        snprintf(party->name, sizeof party->name, "%s", in->name);
    else if (!in->model_path && !in->transcripts_path && in->endpoint && in->endpoint->model)
        snprintf(party->name, sizeof party->name, "%s", in->endpoint->model);
    else if (path)
        dt_party_display_name(path, party->name, sizeof party->name);
    int rc;
    if (in->model_path) {
        if ((rc = dt_model_open(in->model_path, &party->model, err)) != 0 ||
            (rc = dt_ctx_new(party->model, p->threads, &party->ctx, err)) != 0)
            return rc;
        dt_ctx_set_scoring(party->ctx, (enum dt_scoring)p->scoring);
        party->tok = dt_model_tokenizer(party->model);
        /* the model's own template (infer/chat_template.h), else --chat-template */
        const char *fallback = in->chat_template ? in->chat_template : p->chat_template;
        if ((rc = dt_chat_template_open(party->tok, in->model_path, fallback, p->chat_date,
                                        &party->chat, err)))
            return rc;
        const char *form = dt_chat_template_prompt_form(party->chat);
        if (form && !(party->chat_template = dt_strdup(form)))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    if (in->samples && in->samples->n &&
        (rc = dt_sample_set_append(&party->samples, in->samples, err)) != 0)
        return rc;
    if (in->transcripts_path) {
        struct dt_transcript_options o = {0};
        struct dt_transcript_stats st;
        struct dt_error first = {0};
        o.on_error = first_line_error;
        o.ud = &first;
        if ((rc = dt_transcript_load(in->transcripts_path, &o, &party->samples, &st, err)) != 0) {
            /* name the first bad line rather than only counting them */
            if (first.code)
                dt_error_set(err, first.code, "%s", first.msg);
            return rc;
        }
        if (party->samples.n == 0)
            return dt_error_set(err, DT_EFORMAT, "'%s' holds no transcript records",
                                in->transcripts_path);
    }
    return 0;
}

void dt_party_release(struct dt_party *party)
{
    dt_ctx_free(party->ctx);
    party->ctx = NULL;
    dt_model_free(party->model);
    party->model = NULL;
    dt_free(party->chat_template);
    dt_chat_template_free(party->chat);
    party->chat = NULL;
    for (int s = 0; s < DT_SET_COUNT; s++)
        dt_free((void *)party->answers[s].text);
    dt_sample_set_release(&party->samples);
}

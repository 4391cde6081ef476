/*
 * Chat formats (see chat_template.h): the model's Jinja template run by infer/jinja.h, with the
 * marker-token families kept as the fallback for templates the interpreter cannot run. Family
 * order matters: the most specific markers are tested first (Zephyr and Phi-3 share <|user|>,
 * Mistral and Llama 2 share [INST]).
 *
 * The user's text is located in a render by rendering twice, once with a sentinel made of
 * private-use code points (which trim, upper and lower leave alone) as the user message:
 * the text before and after the sentinel is the template's own, and a real render that
 * starts and ends with those is the template's text around the user's (possibly transformed)
 * text. A template whose output around the message depends on the message is tokenized whole.
 */
#include "infer/chat_template.h"

#include "infer/jinja.h"
#include "infer/jinja_render.h"
#include "infer/prompt.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

struct family {
    const char *name;
    const char *must[3]; /* all must occur in the Jinja text */
    const char *none;    /* must not occur (or NULL) */
    const char *tmpl;
};

static const struct family families[] = {
    {"chatml",
     {"<|im_start|>", NULL, NULL},
     NULL,
     "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"},
    {"llama3",
     {"<|start_header_id|>", NULL, NULL},
     NULL,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"deepseek3",
     {"<\xef\xbd\x9cUser\xef\xbd\x9c>", NULL, NULL},
     NULL,
     "<\xef\xbd\x9c"
     "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>"
     "{prompt}<\xef\xbd\x9c"
     "Assistant\xef\xbd\x9c>"},
    {"gemma",
     {"<start_of_turn>", NULL, NULL},
     NULL,
     "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"},
    {"command-r",
     {"<|START_OF_TURN_TOKEN|>", NULL, NULL},
     NULL,
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{prompt}<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
    {"phi3", {"<|user|>", "<|end|>", NULL}, NULL, "<|user|>\n{prompt}<|end|>\n<|assistant|>\n"},
    {"zephyr",
     {"<|user|>", "<|assistant|>", NULL},
     NULL,
     "<|user|>\n{prompt}</s>\n<|assistant|>\n"},
    {"llama2", {"[INST]", "<<SYS>>", NULL}, NULL, "<s>[INST] {prompt} [/INST]"},
    {"mistral", {"[INST]", NULL, NULL}, NULL, "<s>[INST] {prompt} [/INST]"},
    {"deepseek", {"User: ", "Assistant:", NULL}, NULL, "User: {prompt}\n\nAssistant:"},
};

const char *dt_chat_template_detect(const char *jinja, const char **tmpl)
{
    *tmpl = NULL;
    if (!jinja)
        return NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        const struct family *f = &families[i];
        int ok = 1;
        for (int k = 0; k < 3 && f->must[k]; k++)
            if (!strstr(jinja, f->must[k]))
                ok = 0;
        if (ok && f->none && strstr(jinja, f->none))
            ok = 0;
        if (ok) {
            *tmpl = f->tmpl;
            return f->name;
        }
    }
    return NULL;
}

/* U+E000 U+E001 U+E002 */
static const char k_sentinel[] = "\xee\x80\x80\xee\x80\x81\xee\x80\x82";

enum { MAX_TEMPLATE_BYTES = 1 << 20 };

struct dt_chat_template {
    enum dt_chat_kind kind;
    struct dt_jinja *jinja; /* MODEL */
    char *bos, *eos;        /* MODEL: special token strings, or NULL */
    char date[16];
    char sha256[65];
    size_t n_bytes;
    char *form;            /* "{prompt}" form, or NULL for NONE */
    char *prefix, *suffix; /* MODEL: the template's text around a system-less message */
    char name[32];
    char desc[400];
};

static cJSON *vars_new(const struct dt_chat_template *ct, const char *system, const char *user)
{
    cJSON *v = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(v, "messages");
    if (!v || !msgs)
        goto fail;
    for (int k = system ? 0 : 1; k < 2; k++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(msgs, m) ||
            !cJSON_AddStringToObject(m, "role", k == 0 ? "system" : "user") ||
            !cJSON_AddStringToObject(m, "content", k == 0 ? system : user))
            goto fail;
    }
    if (!cJSON_AddTrueToObject(v, "add_generation_prompt") || !cJSON_AddNullToObject(v, "tools") ||
        !cJSON_AddNullToObject(v, "documents") ||
        (ct->bos && !cJSON_AddStringToObject(v, "bos_token", ct->bos)) ||
        (ct->eos && !cJSON_AddStringToObject(v, "eos_token", ct->eos)))
        goto fail;
    return v;
fail:
    cJSON_Delete(v);
    return NULL;
}

static int render_jinja(const struct dt_chat_template *ct, const char *system, const char *user,
                        char **out, size_t *n, struct dt_error *err)
{
    cJSON *vars = vars_new(ct, system, user);
    if (!vars)
        return dt_error_set(err, DT_ENOMEM, "out of memory rendering the chat template");
    int rc = dt_jinja_render(ct->jinja, vars, ct->date, NULL, out, n, err);
    cJSON_Delete(vars);
    return rc;
}

/* Splits a sentinel render into the template's text before and after the message. */
static int split_sentinel(const char *r, char **pre, char **post)
{
    const char *at = strstr(r, k_sentinel);
    if (!at || strstr(at + 1, k_sentinel))
        return -1;
    *pre = dt_strndup(r, (size_t)(at - r));
    *post = dt_strdup(at + strlen(k_sentinel));
    return *pre && *post ? 0 : -2;
}

static void ct_free_fields(struct dt_chat_template *ct)
{
    dt_jinja_free(ct->jinja);
    ct->jinja = NULL;
    dt_free(ct->prefix);
    dt_free(ct->suffix);
    dt_free(ct->form);
    ct->prefix = ct->suffix = ct->form = NULL;
}

/* Compiles and checks a model template; on failure err says why and ct stays unchanged. */
static int try_model(struct dt_chat_template *ct, const char *src, size_t n, struct dt_error *err)
{
    char *r = NULL, *pre = NULL, *post = NULL;
    int rc = dt_jinja_parse(src, n, &ct->jinja, err);
    if (rc)
        return rc;
    /* the conversation compare sends: one user message (a template may refuse a system
     * message, as Gemma's do; rendering one then fails with the template's own error) */
    if ((rc = render_jinja(ct, NULL, k_sentinel, &r, NULL, err)))
        goto fail;
    int s = split_sentinel(r, &pre, &post);
    if (s == -2) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto fail;
    }
    if (s == -1) {
        rc = dt_error_set(err, DT_EUNSUPPORTED,
                          "the chat template does not render the user message exactly once");
        goto fail;
    }
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_strbuf_puts(&sb, pre);
    dt_strbuf_puts(&sb, "{prompt}");
    dt_strbuf_puts(&sb, post);
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto fail;
    }
    ct->form = dt_strbuf_detach(&sb, NULL);
    ct->prefix = pre;
    ct->suffix = post;
    dt_free(r);
    ct->kind = DT_CHAT_MODEL;
    ct->n_bytes = n;
    dt_hash_sha256_hex(src, n, ct->sha256);
    snprintf(ct->name, sizeof ct->name, "model");
    snprintf(ct->desc, sizeof ct->desc, "model template, %zu bytes, sha256 %s", n, ct->sha256);
    return 0;
fail:
    dt_free(r);
    dt_free(pre);
    dt_free(post);
    ct_free_fields(ct);
    return rc;
}

static char *read_beside(const char *model_path, const char *name)
{
    if (!model_path)
        return NULL;
    char *dir = NULL;
    if (dt_path_is_dir(model_path)) {
        dir = dt_strdup(model_path);
    } else {
        const char *slash = strrchr(model_path, '/');
        dir = slash ? dt_strndup(model_path, (size_t)(slash - model_path) + (slash == model_path))
                    : dt_strdup(".");
    }
    char *path = dir ? dt_path_join(dir, name) : NULL, *text = NULL;
    size_t n = 0;
    if (path && dt_path_exists(path) && dt_file_read_all(path, 16u << 20, &text, &n, NULL))
        text = NULL;
    dt_free(path);
    dt_free(dir);
    return text;
}

/* A Hugging Face directory's template when the tokenizer did not carry one:
 * chat_template.jinja, or tokenizer_config.json's list form [{"name": "default", ...}]. */
static char *template_beside(const char *model_path)
{
    if (!model_path || (!dt_path_is_dir(model_path) && !strstr(model_path, ".safetensors") &&
                        !strstr(model_path, ".json")))
        return NULL;
    char *t = read_beside(model_path, "chat_template.jinja");
    if (t)
        return t;
    char *cfg = read_beside(model_path, "tokenizer_config.json");
    if (!cfg)
        return NULL;
    cJSON *root = cJSON_Parse(cfg);
    dt_free(cfg);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "chat_template"), *e;
    char *out = NULL;
    if (cJSON_IsString(ct)) {
        out = dt_strdup(ct->valuestring);
    } else if (cJSON_IsArray(ct)) {
        cJSON_ArrayForEach(e, ct)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default") && cJSON_IsString(tx))
                out = dt_strdup(tx->valuestring);
        }
    }
    cJSON_Delete(root);
    return out;
}

static int open_common(const char *src, size_t n, const char *fallback, const char *bos,
                       const char *eos, const char *date, struct dt_chat_template **out,
                       struct dt_error *err)
{
    *out = NULL;
    struct dt_chat_template *ct = dt_calloc(1, sizeof *ct);
    int rc = 0;
    if (!ct)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!date)
        date = DT_CHAT_DEFAULT_DATE;
    if (!dt_chat_date_valid(date)) {
        rc = dt_error_set(err, DT_EINVAL, "chat template date '%s' is not YYYY-MM-DD", date);
        goto fail;
    }
    snprintf(ct->date, sizeof ct->date, "%s", date);
    if ((bos && !(ct->bos = dt_strdup(bos))) || (eos && !(ct->eos = dt_strdup(eos)))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(ct->name, sizeof ct->name, "none");
    snprintf(ct->desc, sizeof ct->desc, "none");
    if (src) {
        struct dt_error why = {0};
        int r = try_model(ct, src, n, &why);
        if (r == DT_ENOMEM) {
            rc = dt_error_set(err, r, "%s", why.msg);
            goto fail;
        }
        if (r == 0) {
            *out = ct;
            return 0;
        }
        const char *tmpl = NULL, *fam = dt_chat_template_detect(src, &tmpl);
        if (fam || fallback) {
            ct->kind = fam ? DT_CHAT_FAMILY : DT_CHAT_OPTION;
            snprintf(ct->name, sizeof ct->name, "%s", fam ? fam : "option");
            snprintf(ct->desc, sizeof ct->desc, "%s%s (model template unusable: %.300s)",
                     fam ? "family " : "--chat-template", fam ? fam : "", why.msg);
            if (!(ct->form = dt_strdup(fam ? tmpl : fallback))) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory");
                goto fail;
            }
        } else {
            snprintf(ct->desc, sizeof ct->desc, "none (model template unusable: %.300s)", why.msg);
        }
    } else if (fallback) {
        ct->kind = DT_CHAT_OPTION;
        snprintf(ct->name, sizeof ct->name, "option");
        snprintf(ct->desc, sizeof ct->desc, "--chat-template");
        if (!(ct->form = dt_strdup(fallback))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = ct;
    return 0;
fail:
    dt_chat_template_free(ct);
    return rc;
}

int dt_chat_date_valid(const char *s)
{
    int y, m, d;
    char extra;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] && !(m == 2 && d == 29 && !leap);
}

int dt_chat_template_open(const struct dt_tokenizer *tok, const char *model_path,
                          const char *fallback, const char *date, struct dt_chat_template **out,
                          struct dt_error *err)
{
    const char *src = tok ? dt_tokenizer_chat_template(tok) : NULL;
    char *beside = NULL;
    if (!src)
        src = beside = template_beside(model_path);
    const char *bos = NULL, *eos = NULL;
    if (tok) {
        int32_t b = dt_tokenizer_bos(tok), e = dt_tokenizer_eos(tok);
        bos = b >= 0 ? dt_tokenizer_token_text(tok, b) : NULL;
        eos = e >= 0 ? dt_tokenizer_token_text(tok, e) : NULL;
    }
    if (src && strlen(src) > MAX_TEMPLATE_BYTES) {
        dt_free(beside);
        return dt_error_set(err, DT_EUNSUPPORTED, "chat template of %zu bytes is over the %d limit",
                            strlen(src), MAX_TEMPLATE_BYTES);
    }
    int rc = open_common(src, src ? strlen(src) : 0, fallback, bos, eos, date, out, err);
    dt_free(beside);
    return rc;
}

int dt_chat_template_from_source(const char *src, size_t n_bytes, const char *bos_token,
                                 const char *eos_token, const char *date,
                                 struct dt_chat_template **out, struct dt_error *err)
{
    return open_common(src, n_bytes, NULL, bos_token, eos_token, date, out, err);
}

void dt_chat_template_free(struct dt_chat_template *ct)
{
    if (!ct)
        return;
    ct_free_fields(ct);
    dt_free(ct->bos);
    dt_free(ct->eos);
    dt_free(ct);
}

enum dt_chat_kind dt_chat_template_kind(const struct dt_chat_template *ct)
{
    return ct ? ct->kind : DT_CHAT_NONE;
}

const char *dt_chat_template_describe(const struct dt_chat_template *ct)
{
    return ct ? ct->desc : "none";
}

const char *dt_chat_template_name(const struct dt_chat_template *ct)
{
    return ct ? ct->name : "none";
}

const char *dt_chat_template_sha256(const struct dt_chat_template *ct)
{
    return ct && ct->kind == DT_CHAT_MODEL ? ct->sha256 : NULL;
}

size_t dt_chat_template_n_bytes(const struct dt_chat_template *ct)
{
    return ct && ct->kind == DT_CHAT_MODEL ? ct->n_bytes : 0;
}

const char *dt_chat_template_prompt_form(const struct dt_chat_template *ct)
{
    return ct ? ct->form : NULL;
}

int dt_chat_template_render(const struct dt_chat_template *ct, const char *system, const char *user,
                            char **out, struct dt_error *err)
{
    *out = NULL;
    if (ct && ct->kind == DT_CHAT_MODEL)
        return render_jinja(ct, system, user, out, NULL, err);
    struct dt_strbuf sb = DT_STRBUF_INIT;
    const char *ph = ct && ct->form ? strstr(ct->form, "{prompt}") : NULL;
    if (ph) {
        dt_strbuf_append(&sb, ct->form, (size_t)(ph - ct->form));
        dt_strbuf_puts(&sb, user);
        dt_strbuf_puts(&sb, ph + strlen("{prompt}"));
    } else {
        dt_strbuf_puts(&sb, user);
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    *out = sb.data ? dt_strbuf_detach(&sb, NULL) : dt_strdup("");
    return *out ? 0 : dt_error_set(err, DT_ENOMEM, "out of memory");
}

static int has_affixes(const char *r, size_t n, const char *pre, const char *post)
{
    size_t a = strlen(pre), b = strlen(post);
    return a + b <= n && memcmp(r, pre, a) == 0 && memcmp(r + n - b, post, b) == 0;
}

int dt_chat_template_encode(const struct dt_chat_template *ct, const struct dt_tokenizer *tok,
                            const char *system, const char *user, int parse_special_prompt,
                            int32_t **ids, size_t *n_ids, struct dt_error *err)
{
    if (!ct || ct->kind != DT_CHAT_MODEL)
        return dt_prompt_encode(tok, ct ? ct->form : NULL, user, parse_special_prompt, ids, n_ids,
                                err);
    char *r = NULL, *sr = NULL, *pre = ct->prefix, *post = ct->suffix, *own_pre = NULL,
         *own_post = NULL;
    size_t n = 0;
    int rc = render_jinja(ct, system, user, &r, &n, err);
    if (rc)
        return rc;
    if (system) { /* the text around the message differs with a system message */
        if ((rc = render_jinja(ct, system, k_sentinel, &sr, NULL, err)))
            goto out;
        if (split_sentinel(sr, &own_pre, &own_post) == 0) {
            pre = own_pre;
            post = own_post;
        } else {
            pre = post = NULL;
        }
    }
    if (pre && post && has_affixes(r, n, pre, post)) {
        size_t a = strlen(pre), b = strlen(post);
        rc = dt_prompt_encode_parts(tok, r, a, r + a, n - a - b, r + n - b, b, parse_special_prompt,
                                    ids, n_ids, err);
    } else {
        rc = dt_prompt_encode_parts(tok, r, n, "", 0, "", 0, parse_special_prompt, ids, n_ids, err);
    }
out:
    dt_free(r);
    dt_free(sr);
    dt_free(own_pre);
    dt_free(own_post);
    return rc;
}

/* The sentinel of message i (< 256): U+E000, U+E100 + i, U+E002; no two contain each other. */
static void msg_sentinel(size_t i, char out[10])
{
    unsigned cp = 0xE100u + (unsigned)i;
    memcpy(out, "\xee\x80\x80", 3);
    out[3] = (char)(0xE0 | (cp >> 12));
    out[4] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[5] = (char)(0x80 | (cp & 0x3F));
    memcpy(out + 6, "\xee\x80\x82", 3);
    out[9] = 0;
}

static int render_msgs(const struct dt_chat_template *ct, const struct dt_chat_message *msgs,
                       size_t n_msgs, int sentinels, char **out, size_t *n, struct dt_error *err)
{
    cJSON *v = vars_new(ct, NULL, "");
    cJSON *list = cJSON_CreateArray();
    int rc = 0;
    if (!v || !list)
        goto nomem;
    for (size_t i = 0; i < n_msgs; i++) {
        char sent[10];
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(list, m) ||
            !cJSON_AddStringToObject(m, "role", msgs[i].role ? msgs[i].role : ""))
            goto nomem;
        if (sentinels && msgs[i].content)
            msg_sentinel(i, sent);
        if (!(msgs[i].content ? cJSON_AddStringToObject(m, "content",
                                                        sentinels ? sent : msgs[i].content)
                              : cJSON_AddNullToObject(m, "content")))
            goto nomem;
    }
    if (!cJSON_ReplaceItemInObjectCaseSensitive(v, "messages", list))
        goto nomem;
    list = NULL;
    rc = dt_jinja_render(ct->jinja, v, ct->date, NULL, out, n, err);
    cJSON_Delete(v);
    return rc;
nomem:
    cJSON_Delete(v);
    cJSON_Delete(list);
    return dt_error_set(err, DT_ENOMEM, "out of memory rendering the chat template");
}

static int append_ids(const struct dt_tokenizer *tok, const char *p, size_t n, int special,
                      int32_t **all, size_t *n_all, struct dt_error *err)
{
    int32_t *part = NULL, *grown;
    size_t n_part = 0;
    int rc = dt_tokenizer_encode(tok, p, n, special, &part, &n_part, err);
    if (rc)
        return rc;
    if (!(grown = dt_realloc_array(*all, *n_all + n_part + 1, sizeof *grown))) {
        dt_free(part);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    if (n_part)
        memcpy(grown + *n_all, part, n_part * sizeof *grown);
    *all = grown;
    *n_all += n_part;
    dt_free(part);
    return 0;
}

/* Splits render r (n bytes) by the sentinel render s: the template's text (pieces of s between
 * the sentinels, in message order) with special tokens parsed, the text in between as
 * special asks. 1: r does not follow s's pieces (the caller tokenizes it whole). */
static int encode_by_sentinels(const struct dt_tokenizer *tok, const char *r, size_t n,
                               const char *s, const struct dt_chat_message *msgs, size_t n_msgs,
                               int special, int32_t **all, size_t *n_all, struct dt_error *err)
{
    const char *sp = s; /* the sentinel render, consumed piece by piece */
    size_t at = 0;      /* position in r */
    int first = 1, rc;
    for (size_t i = 0; i <= n_msgs; i++) {
        if (i < n_msgs && !msgs[i].content)
            continue;
        char sent[10];
        const char *end;
        if (i < n_msgs) {
            msg_sentinel(i, sent);
            if (!(end = strstr(sp, sent)) || strstr(end + 9, sent))
                return 1;
        } else {
            end = sp + strlen(sp);
        }
        size_t piece = (size_t)(end - sp);
        /* the template text before this message (or the end): at the start it must open r,
         * at the end close it, in between it is the next occurrence after the previous text */
        size_t found;
        if (first) {
            if (piece > n || memcmp(r, sp, piece))
                return 1;
            found = 0;
        } else if (i == n_msgs) {
            if (piece > n - at || memcmp(r + n - piece, sp, piece))
                return 1;
            found = n - piece;
        } else {
            if (piece == 0) /* two messages with no template text between them: ambiguous */
                return 1;
            const char *f = NULL;
            for (size_t k = at; k + piece <= n && !f; k++)
                if (!memcmp(r + k, sp, piece))
                    f = r + k;
            if (!f)
                return 1;
            found = (size_t)(f - r);
        }
        if (!first && (rc = append_ids(tok, r + at, found - at, special, all, n_all, err)))
            return rc;
        if ((rc = append_ids(tok, r + found, piece, 1, all, n_all, err)))
            return rc;
        at = found + piece;
        sp = end + (i < n_msgs ? 9 : 0);
        first = 0;
    }
    return at == n ? 0 : 1;
}

int dt_chat_template_encode_messages(const struct dt_chat_template *ct,
                                     const struct dt_tokenizer *tok,
                                     const struct dt_chat_message *msgs, size_t n_msgs,
                                     int parse_special_prompt, int32_t **ids, size_t *n_ids,
                                     struct dt_error *err)
{
    const char *last_user = NULL;
    for (size_t i = 0; i < n_msgs; i++)
        if (msgs[i].role && !strcmp(msgs[i].role, "user") && msgs[i].content)
            last_user = msgs[i].content;
    if (!last_user)
        return dt_error_set(err, DT_EINVAL, "the conversation has no user message");
    int sys_user = n_msgs == 2 && msgs[0].role && !strcmp(msgs[0].role, "system") &&
                   msgs[0].content && msgs[1].content == last_user;
    if (!ct || ct->kind != DT_CHAT_MODEL || (n_msgs == 1 && msgs[0].content == last_user) ||
        sys_user)
        return dt_chat_template_encode(ct, tok, sys_user ? msgs[0].content : NULL, last_user,
                                       parse_special_prompt, ids, n_ids, err);
    char *r = NULL, *s = NULL;
    size_t n = 0;
    int32_t *all = NULL;
    size_t n_all = 0;
    int rc = render_msgs(ct, msgs, n_msgs, 0, &r, &n, err);
    if (rc)
        goto out;
    rc = 1;
    if (n_msgs <= 256) {
        struct dt_error why = {0};
        int sr = render_msgs(ct, msgs, n_msgs, 1, &s, NULL, &why);
        if (sr == DT_ENOMEM) {
            rc = dt_error_set(err, sr, "%s", why.msg);
            goto out;
        }
        if (sr == 0)
            rc = encode_by_sentinels(tok, r, n, s, msgs, n_msgs, parse_special_prompt, &all,
                                     &n_all, err);
    }
    if (rc == 1) { /* the messages cannot be located: the whole render, as llama.cpp does */
        n_all = 0;
        rc = append_ids(tok, r, n, 1, &all, &n_all, err);
    }
    if (rc == 0) {
        *ids = all;
        *n_ids = n_all;
        all = NULL;
    }
out:
    dt_free(all);
    dt_free(r);
    dt_free(s);
    return rc;
}

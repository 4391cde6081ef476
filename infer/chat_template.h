/*
 * Chat formats: a chat probe is wrapped the way the model's own chat template renders it.
 * The template (tokenizer.chat_template from GGUF metadata, tokenizer_config.json's
 * "chat_template" string or its "default" entry, or chat_template.jinja beside the weights)
 * runs in the Jinja interpreter of infer/jinja.h with the variables transformers passes:
 * messages (an optional system message, then the user message), add_generation_prompt=true,
 * bos_token, eos_token, tools=none, documents=none; strftime_now reports a fixed day.
 *
 * Where a model has no template the caller's "{prompt}" string (--chat-template) is used.
 * Where the model's template cannot be run (a construct outside the supported subset, or it
 * raises for a single user message) the marker-token families of the previous
 * releases (ChatML, Llama 2/3, Mistral, Phi-3, Zephyr, Gemma, DeepSeek, Command-R) are the
 * fallback, then --chat-template; the description says which was used and why.
 */
#ifndef DT_INFER_CHAT_TEMPLATE_H
#define DT_INFER_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_tokenizer;
struct dt_chat_template;

/* The day strftime_now reports when none is given (the Llama 3.1 template's own default). */
#define DT_CHAT_DEFAULT_DATE "2024-07-26"

/* 1 when s is a real "YYYY-MM-DD" day (what --chat-date accepts). */
int dt_chat_date_valid(const char *s);

enum dt_chat_kind {
    DT_CHAT_NONE,   /* no template: prompts are used as they are */
    DT_CHAT_MODEL,  /* the model's own Jinja template */
    DT_CHAT_FAMILY, /* a recognised family's "{prompt}" form (the model template failed) */
    DT_CHAT_OPTION, /* the caller's "{prompt}" string */
};

/* Returns the family name and sets *tmpl to a static "{prompt}" template, or returns NULL
 * (and *tmpl = NULL) when jinja is NULL or no family is recognised. */
const char *dt_chat_template_detect(const char *jinja, const char **tmpl);

/*
 * Chooses the chat format of a model: tok's template, else (model_path, may be NULL) the
 * chat template files beside it, else fallback ("{prompt}" string, may be NULL). date is
 * "YYYY-MM-DD" or NULL for DT_CHAT_DEFAULT_DATE. A model template that fails to parse or to
 * render one user message is not an error: the result records why and falls
 * back (see above). *out: dt_chat_template_free.
 */
int dt_chat_template_open(const struct dt_tokenizer *tok, const char *model_path,
                          const char *fallback, const char *date, struct dt_chat_template **out,
                          struct dt_error *err);

/* The same from template source text (n_bytes, no tokenizer file), with given special tokens
 * (either may be NULL): for tests and tools. */
int dt_chat_template_from_source(const char *src, size_t n_bytes, const char *bos_token,
                                 const char *eos_token, const char *date,
                                 struct dt_chat_template **out, struct dt_error *err);

void dt_chat_template_free(struct dt_chat_template *ct);

enum dt_chat_kind dt_chat_template_kind(const struct dt_chat_template *ct);

/* One line for humans and reports: "model template, 4512 bytes, sha256 9f2c...",
 * "family llama3 (model template unusable: ...)", "--chat-template", "none". Borrowed. */
const char *dt_chat_template_describe(const struct dt_chat_template *ct);

/* Short name: "model", the family name, "option" or "none". Borrowed. */
const char *dt_chat_template_name(const struct dt_chat_template *ct);

/* The model template's sha256 (hex) and size, or NULL / 0 when the kind is not MODEL. */
const char *dt_chat_template_sha256(const struct dt_chat_template *ct);
size_t dt_chat_template_n_bytes(const struct dt_chat_template *ct);

/* The "{prompt}" form: for MODEL, the render of a system-less conversation with "{prompt}"
 * as the user message; NULL for NONE. Borrowed. */
const char *dt_chat_template_prompt_form(const struct dt_chat_template *ct);

/* The text the model sees for an optional system message and a user message. *out: dt_free. */
int dt_chat_template_render(const struct dt_chat_template *ct, const char *system, const char *user,
                            char **out, struct dt_error *err);

/*
 * Token ids of that text: the template's own text is tokenized with special tokens parsed
 * (so "<|im_start|>" is one control token), the user's text, as the template transformed it
 * (trimmed, say), with or without as parse_special_prompt asks, in separate calls so the two
 * never merge into one token. *ids: dt_free.
 */
int dt_chat_template_encode(const struct dt_chat_template *ct, const struct dt_tokenizer *tok,
                            const char *system, const char *user, int parse_special_prompt,
                            int32_t **ids, size_t *n_ids, struct dt_error *err);

/* One message of a conversation: role ("system", "user", "assistant", ...) and its text (NULL:
 * no content, JSON null to the template). */
struct dt_chat_message {
    const char *role;
    const char *content;
};

/*
 * Token ids of a whole conversation (what serve's chat completions render), with the
 * generation prompt. A lone user message, or a system message and a user message, is
 * dt_chat_template_encode (exactly what compare sends). Otherwise a model template renders all
 * messages; each message's text, as the template transformed it, is tokenized on its own
 * (special tokens as parse_special_prompt asks) and the template's text between them with
 * special tokens parsed, found by rendering with a sentinel per message; a template that drops,
 * repeats or reorders messages is tokenized whole, special tokens parsed. The "{prompt}" forms
 * (family, --chat-template, none) wrap the last user message. *ids: dt_free.
 */
int dt_chat_template_encode_messages(const struct dt_chat_template *ct,
                                     const struct dt_tokenizer *tok,
                                     const struct dt_chat_message *msgs, size_t n_msgs,
                                     int parse_special_prompt, int32_t **ids, size_t *n_ids,
                                     struct dt_error *err);

#endif

/*
 * What `distiltrace serve` runs: a local model behind the OpenAI-compatible server of
 * server/serve.h, opened from a path, named after the file when the options name nothing, and
 * wrapping chat messages in the model's own chat template (GGUF, tokenizer_config.json,
 * chat_template.jinja), else o's chat_template, else <|user|>...<|assistant|> when its
 * vocabulary has those tokens. The caller waits (for a signal, say) and frees it, which stops it after
 * the requests in flight.
 */
#ifndef DT_RUN_SERVE_H
#define DT_RUN_SERVE_H

#include "server/serve.h" /* struct dt_serve_options, struct dt_access_entry */
#include "util/error.h"

struct dt_service;

/* Opens the model and starts serving it with o (model_name and chat_template may be NULL:
 * see above). */
int dt_service_start(const char *model_path, const struct dt_serve_options *o,
                     struct dt_service **out, struct dt_error *err);
int dt_service_port(const struct dt_service *s);
/* The model name the server answers to (borrowed). */
const char *dt_service_name(const struct dt_service *s);
unsigned long dt_service_n_requests(const struct dt_service *s);
/* The one-line description of the chat format used (borrowed). */
const char *dt_service_chat_format(const struct dt_service *s);
/* Stops listening, waits for the requests in flight, frees the model; NULL is fine. */
void dt_service_free(struct dt_service *s);

#endif

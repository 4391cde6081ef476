/*
 * What the thin commands over the inference core run (inspect, tokenize, logits, score,
 * generate): a local model opened once for one command (struct dt_local: its weights, its
 * tokenizer, a thread count), then one operation that returns a result struct for the CLI to
 * print. A model is a GGUF file or a Hugging Face directory; tokenize also takes a bare
 * tokenizer.json.
 */
#ifndef DT_RUN_LOCAL_H
#define DT_RUN_LOCAL_H

#include "infer/sampler.h" /* struct dt_gen_params, struct dt_gen_token, enum dt_gen_stop */
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

/* ---- without a forward pass ---- */

/* The description of the model file at path (format, architecture, tokenizer, tensors, hashes)
 * as indented JSON (json) or text, in *out (heap, dt_free). */
int dt_local_describe(const char *path, int json, char **out, size_t *n_out,
                      struct dt_error *err);
/* The ids of the exact bytes text[0..n) under the tokenizer at path (no BOS/EOS); control
 * tokens written in the text are matched only with special. *ids: heap, dt_free. */
int dt_local_tokenize(const char *path, const char *text, size_t n, int special, int32_t **ids,
                      size_t *n_ids, struct dt_error *err);
/* Many texts through one tokenizer load (tokenize --batch): in[0..n) is a sequence of records
 * "N\n" followed by N bytes; emit gets each record's ids in order (a nonzero return stops with
 * DT_EIO). A malformed record is DT_EFORMAT naming its byte offset. */
int dt_local_tokenize_records(const char *path, const char *in, size_t n, int special,
                              int (*emit)(void *ud, const int32_t *ids, size_t n_ids), void *ud,
                              struct dt_error *err);
/* The bytes ids decode to (control tokens included with special). *text: heap, dt_free. */
int dt_local_detokenize(const char *path, const int32_t *ids, size_t n, int special,
                        char **text, size_t *n_text, struct dt_error *err);

/* ---- a local model ---- */

struct dt_local;
/* threads <= 0: the default. */
int dt_local_open(const char *path, int threads, struct dt_local **out, struct dt_error *err);
void dt_local_free(struct dt_local *l);
/* The bytes of one token (borrowed, valid until dt_local_free); NULL for an unknown id. */
const char *dt_local_token_bytes(const struct dt_local *l, int32_t id, size_t *n_bytes);
/* ids decoded to text without control tokens (heap, dt_free). */
int dt_local_decode(const struct dt_local *l, const int32_t *ids, size_t n, char **text,
                    size_t *n_text, struct dt_error *err);

/* Next-token logits after every position of a text. */
struct dt_logits_result {
    size_t n;            /* tokens of the text */
    int top;             /* logits kept per position (min(top asked, vocabulary)) */
    int32_t *ids;        /* (n) the text's ids */
    double *logsumexp;   /* (n) */
    int32_t *top_ids;    /* (n, top) best ids after each position, descending */
    float *top_logits;   /* (n, top) */
};
int dt_local_logits(struct dt_local *l, const char *text, size_t n_text, int special, int top,
                    struct dt_logits_result *out, struct dt_error *err);
void dt_logits_result_release(struct dt_logits_result *r);

/* Teacher-forced log-probabilities of a text, in windows of the model's context length. */
struct dt_score_result {
    size_t n;           /* tokens of the text */
    int32_t *ids;       /* (n) */
    double *logprob;    /* (n) log p(ids[i] | its window's earlier tokens); NaN for the first
                         * token of each window, which nothing predicts */
    size_t window;      /* tokens per window */
    size_t n_scored;    /* tokens with a log-probability */
    double sum_logprob; /* over the scored tokens */
};
int dt_local_score(struct dt_local *l, const char *text, size_t n_text, int special,
                   struct dt_score_result *out, struct dt_error *err);
void dt_score_result_release(struct dt_score_result *r);

/* A continuation of a prompt (wrapped by chat_template, "{prompt}" marking it, when not NULL;
 * control tokens in the prompt parsed with special, those of the template always). */
struct dt_gen_result {
    int32_t *prompt_ids; /* (n_prompt) */
    size_t n_prompt;
    int32_t *ids;        /* (n) generated */
    float *logprobs;     /* (n) log p(id) under the unmodified model */
    int n_top;           /* alternatives per token */
    int32_t *top_ids;    /* (n, n_top) */
    float *top_logprobs; /* (n, n_top) */
    size_t n;
    int stopped;         /* 1: an end token stopped it; 0: the length did */
    /* dt_local_generate_chat: the chat format used (infer/chat_template.h), else empty */
    char chat_kind[32];    /* "model", a family name, "option" or "none" */
    char chat_desc[400];   /* its one-line description */
    char chat_sha256[65];  /* the model template's sha256, or empty */
};
/* on_token (may be NULL) sees each token as it is generated. DT_EINVAL when the prompt encodes
 * to no tokens. */
int dt_local_generate(struct dt_local *l, const char *prompt, const char *chat_template,
                      int special, const struct dt_gen_params *p,
                      void (*on_token)(void *ud, const struct dt_gen_token *t), void *ud,
                      struct dt_gen_result *out, struct dt_error *err);
/* The same with the prompt as a chat message, wrapped the way compare wraps its probes: the
 * model's own chat template (its tokenizer's, or the files beside path), else fallback
 * ("{prompt}" form, may be NULL), else its marker family; system (may be NULL) is a system
 * message before it, date "YYYY-MM-DD" (NULL: the default) the day strftime_now reports. */
int dt_local_generate_chat(struct dt_local *l, const char *path, const char *system,
                           const char *prompt, const char *fallback, const char *date,
                           int special, const struct dt_gen_params *p,
                           void (*on_token)(void *ud, const struct dt_gen_token *t), void *ud,
                           struct dt_gen_result *out, struct dt_error *err);
void dt_gen_result_release(struct dt_gen_result *r);

#endif

/*
 * API transcripts: one JSON object per line, read into dt_sample records without a database
 * (so `compare --suspect-transcripts F` and `transcripts import` share one parser).
 *
 * Accepted per line (autodetected line by line, or forced with a format):
 *   openai-chat         chat.completion: choices[0].message.content,
 *                       choices[0].logprobs.content[] {token, logprob, bytes, top_logprobs[]}
 *   openai-completions  text_completion: choices[0].text, choices[0].logprobs {tokens[],
 *                       token_logprobs[], top_logprobs[] (objects token -> logprob)}
 *   llama-server        llama.cpp /completion: content, completion_probabilities[] in the
 *                       older {content, probs:[{tok_str, prob}]} or the newer {token, logprob,
 *                       bytes, top_logprobs:[{token, logprob, bytes}]} (or prob/top_probs) form
 *   plain               {"prompt": STR, "response": STR}
 *   openai-responses    a Responses API object ("object": "response"): output[] items of type
 *                       "message" with content[] parts of type "output_text" (text, logprobs[]);
 *                       the prompt from request.input (a string or input messages) and
 *                       request.instructions (a system message)
 *   openai-batch        a Batch API output line {"custom_id", "response": {"status_code",
 *                       "body": chat.completion | text_completion | response}, "error"}; the
 *                       prompt comes from the batch input line with the same custom_id
 *                       (options.requests_path); a failed request (error, status != 200) is
 *                       a malformed line naming the custom_id and the error
 *   chat-messages       a chat fine-tuning line {"messages": [..., {"role": "assistant",
 *                       "content"}]}: the last assistant message answers the turns before it
 *   vllm                vLLM's RequestOutput as JSON {"prompt", "outputs": [{"text", "token_ids",
 *                       "logprobs": [{"ID": {"logprob", "rank", "decoded_token"}}]}]}
 * llama.cpp server's JSON log lines (--log-format json, verbose) hold the request and response
 * bodies as strings: they are read as the wrapper they describe; its other log lines are
 * counted as ignored, not as malformed.
 * A line is either a wrapper {"prompt", "kind"?, "id"?, "request"?, "response": OBJECT} or a
 * bare response object, whose prompt comes from "prompt", request.messages (last user turn),
 * request.prompt, request.input, or a request joined by "custom_id". kind defaults to chat for
 * the chat formats and plain, text otherwise.
 *
 * Conversations are kept whole: when the messages before the answer hold more than one user
 * turn (a system prompt, earlier turns), the prompt is the whole conversation rendered as
 * "[system]\n...\n\n[user]\n...\n\n[assistant]\n...\n\n[user]\n..." (roles in brackets,
 * turns separated by a blank line), so that a probe with a system prompt is a different probe
 * from the same question without one and nothing the model saw is dropped. A single user
 * message stays the prompt as it is.
 * Token bytes are rebuilt from "bytes" where given, else from the token string (legacy
 * "bytes:\xNN" tokens are decoded). Lines must be valid UTF-8 and at most max_line_bytes.
 */
#ifndef DT_CORPUS_TRANSCRIPTS_H
#define DT_CORPUS_TRANSCRIPTS_H

#include <stddef.h>

#include "corpus/sample.h"

struct dt_error;

enum dt_transcript_format {
    DT_TRANSCRIPT_AUTO = 0,
    DT_TRANSCRIPT_OPENAI_CHAT = 1,
    DT_TRANSCRIPT_OPENAI_COMPLETIONS = 2,
    DT_TRANSCRIPT_LLAMA_SERVER = 3,
    DT_TRANSCRIPT_PLAIN = 4,
    DT_TRANSCRIPT_OPENAI_RESPONSES = 5,
    DT_TRANSCRIPT_OPENAI_BATCH = 6,
    DT_TRANSCRIPT_CHAT_MESSAGES = 7,
    DT_TRANSCRIPT_VLLM = 8,
};
#define DT_TRANSCRIPT_N_FORMATS 9

#define DT_TRANSCRIPT_MAX_LINE_BYTES ((size_t)16 << 20)

const char *dt_transcript_format_name(enum dt_transcript_format f);
/* Parses "auto", "openai-chat", ...; DT_EINVAL for an unknown name. */
int dt_transcript_format_parse(const char *s, enum dt_transcript_format *out, struct dt_error *err);

/*
 * Parses one line (no newline) into out (initialised by the caller; filled only on success).
 * *detected (may be NULL) receives the format found. Errors carry no file/line prefix.
 */
int dt_transcript_parse_line(const char *line, size_t n_bytes, enum dt_transcript_format format,
                             struct dt_sample *out, enum dt_transcript_format *detected,
                             struct dt_error *err);

/* Called once per malformed line with its 1-based number and the error ("'F' line N: ..."). */
typedef void (*dt_transcript_error_cb)(void *ud, size_t line, const struct dt_error *e);

struct dt_transcript_options {
    enum dt_transcript_format format;
    int skip_bad;          /* 1: skip malformed lines; 0: any malformed line fails the load */
    size_t max_line_bytes; /* 0: DT_TRANSCRIPT_MAX_LINE_BYTES */
    dt_transcript_error_cb on_error;
    void *ud;
    /* Batch API input file (JSONL of {"custom_id", "body": {messages | prompt | input}}),
     * joined with the records by custom_id to give them their prompts; NULL: none. */
    const char *requests_path;
};

struct dt_transcript_stats {
    size_t n_lines;   /* lines read, blank ones included */
    size_t n_records; /* samples produced */
    size_t n_bad;     /* malformed lines (reported through on_error) */
    size_t n_ignored; /* log lines about something else (llama.cpp server logs) */
    size_t n_by_format[DT_TRANSCRIPT_N_FORMATS];
};

/*
 * Loads every record of a transcript file into out (appended; sample_index numbers repeated
 * prompts 0, 1, ... in file order). Without skip_bad, any malformed line fails the whole load
 * with DT_EFORMAT after every bad line was reported, and out is left as it was. I/O and
 * allocation failures are never skipped.
 */
int dt_transcript_load(const char *path, const struct dt_transcript_options *opt,
                       struct dt_sample_set *out, struct dt_transcript_stats *stats,
                       struct dt_error *err);
int dt_transcript_load_buffer(const char *data, size_t n_bytes, const char *name,
                              const struct dt_transcript_options *opt, struct dt_sample_set *out,
                              struct dt_transcript_stats *stats, struct dt_error *err);

#endif

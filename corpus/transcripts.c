/*
 * Transcript parsing (see transcripts.h). Each line is validated as UTF-8, parsed with cJSON,
 * classified, and its tokens, log-probs and top-k alternatives copied into a dt_sample. Every
 * field is type-checked; an error names the field by its JSON path
 * ("response.choices[0].logprobs.content[3].logprob"). A load is all-or-nothing unless the
 * caller asks to skip bad lines: records are staged in a private set and moved to the caller's
 * set only when the whole file was read.
 */
#include "corpus/transcripts.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[DT_TRANSCRIPT_N_FORMATS] = {
    "auto",  "openai-chat",      "openai-completions", "llama-server",
    "plain", "openai-responses", "openai-batch",       "chat-messages", "vllm"};

const char *dt_transcript_format_name(enum dt_transcript_format f)
{
    return (unsigned)f < DT_TRANSCRIPT_N_FORMATS ? format_names[f] : "unknown";
}

int dt_transcript_format_parse(const char *s, enum dt_transcript_format *out, struct dt_error *err)
{
    for (int i = 0; i < DT_TRANSCRIPT_N_FORMATS; i++)
        if (s && !strcmp(s, format_names[i])) {
            *out = (enum dt_transcript_format)i;
            return 0;
        }
    return dt_error_set(err, DT_EINVAL,
                        "unknown transcript format '%s' (auto, openai-chat, openai-completions, "
                        "llama-server, plain, openai-responses, openai-batch, chat-messages, vllm)",
                        s ? s : "");
}

/* cJSON allocates through the allocator seam; a failed allocation is remembered so that an
 * out-of-memory parse is not mistaken for malformed JSON. */
static int json_alloc_failed;
static void *json_malloc(size_t n)
{
    void *p = dt_malloc(n);
    if (!p)
        json_alloc_failed = 1;
    return p;
}
static void json_hooks(void)
{
    cJSON_Hooks h = {json_malloc, dt_free};
    cJSON_InitHooks(&h);
}

/* Returns the byte offset of the first invalid UTF-8 sequence, or n if the bytes are valid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* snprintf for JSON paths in messages; truncation is harmless there. */
static void path_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void path_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static const char *type_name(const cJSON *j)
{
    if (!j)
        return "missing";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    return "invalid";
}

static int bad_type(struct dt_error *err, const char *path, const cJSON *j, const char *want)
{
    if (!j)
        return dt_error_set(err, DT_EFORMAT, "missing field '%s'", path);
    return dt_error_set(err, DT_EFORMAT, "field '%s' is %s, expected %s", path, type_name(j), want);
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* Decodes a token's bytes: from an integer array if present, else the string (legacy
 * "bytes:\xNN..." strings are decoded to raw bytes). buf holds at least 4x the string. */
static int token_bytes(const cJSON *str, const cJSON *bytes, const char *path, char *scratch,
                       size_t scratch_cap, const char **out, size_t *n_out, struct dt_error *err)
{
    char p[512];
    if (bytes && !cJSON_IsNull(bytes)) {
        if (!cJSON_IsArray(bytes)) {
            path_fmt(p, sizeof p, "%s.bytes", path);
            return bad_type(err, p, bytes, "an array of byte values");
        }
        size_t n = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, bytes)
        {
            if (!cJSON_IsNumber(b) || b->valuedouble < 0 || b->valuedouble > 255 ||
                b->valuedouble != (double)(int)b->valuedouble)
                return dt_error_set(err, DT_EFORMAT, "field '%s.bytes[%zu]' is not a byte value",
                                    path, n);
            if (n >= scratch_cap)
                return dt_error_set(err, DT_EFORMAT, "field '%s.bytes' is too long", path);
            scratch[n++] = (char)(int)b->valuedouble;
        }
        *out = scratch;
        *n_out = n;
        return 0;
    }
    if (!cJSON_IsString(str)) {
        path_fmt(p, sizeof p, "%s.token", path);
        return bad_type(err, p, str, "a string");
    }
    const char *s = str->valuestring;
    size_t n = strlen(s);
    if (n > 6 && !strncmp(s, "bytes:", 6)) {
        /* OpenAI legacy completions spell partial UTF-8 tokens as "bytes:\xe2\x80". */
        size_t k = 0, i = 6;
        while (i + 4 <= n && s[i] == '\\' && s[i + 1] == 'x' && k < scratch_cap) {
            char hex[3] = {s[i + 2], s[i + 3], 0}, *end;
            long v = strtol(hex, &end, 16);
            if (*end)
                break;
            scratch[k++] = (char)v;
            i += 4;
        }
        if (i == n && k > 0) {
            *out = scratch;
            *n_out = k;
            return 0;
        }
    }
    *out = s;
    *n_out = n;
    return 0;
}

/* A log-prob field: number, or null (unknown, NaN). */
static int logprob_of(const cJSON *j, const char *path, double *out, struct dt_error *err)
{
    if (cJSON_IsNumber(j)) {
        *out = j->valuedouble;
        return 0;
    }
    if (cJSON_IsNull(j)) {
        *out = NAN;
        return 0;
    }
    return bad_type(err, path, j, "a number");
}

struct parse_ctx {
    struct dt_sample *s;
    char *scratch; /* byte-array decoding buffer, scratch_cap bytes */
    size_t scratch_cap;
    struct dt_error *err;
};

/* One {token, logprob, bytes} alternative (OpenAI chat and newer llama-server), or
 * {tok_str/token, prob} (older llama-server / post-sampling probabilities). */
static int add_alt_entry(struct parse_ctx *c, const cJSON *a, const char *path)
{
    if (!cJSON_IsObject(a))
        return bad_type(c->err, path, a, "an object");
    const cJSON *tok = get(a, "token");
    if (!tok)
        tok = get(a, "tok_str");
    double lp = 0;
    int rc;
    char p[512];
    const cJSON *lpj = get(a, "logprob"), *pr = get(a, "prob");
    if (lpj) {
        path_fmt(p, sizeof p, "%s.logprob", path);
        if ((rc = logprob_of(lpj, p, &lp, c->err)))
            return rc;
    } else if (pr) {
        if (!cJSON_IsNumber(pr) || pr->valuedouble < 0 || pr->valuedouble > 1) {
            path_fmt(p, sizeof p, "%s.prob", path);
            return bad_type(c->err, p, pr, "a probability");
        }
        lp = log(pr->valuedouble);
    } else {
        path_fmt(p, sizeof p, "%s.logprob", path);
        return bad_type(c->err, p, NULL, "a number");
    }
    const char *b = NULL;
    size_t nb = 0;
    if ((rc = token_bytes(tok, get(a, "bytes"), path, c->scratch, c->scratch_cap, &b, &nb, c->err)))
        return rc;
    return dt_sample_add_alt(c->s, b, nb, lp, c->err);
}

static int add_alt_array(struct parse_ctx *c, const cJSON *arr, const char *path)
{
    char p[512];
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return bad_type(c->err, path, arr, "an array");
    size_t i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        path_fmt(p, sizeof p, "%s[%zu]", path, i++);
        int rc = add_alt_entry(c, a, p);
        if (rc)
            return rc;
    }
    return 0;
}

/* A {token, logprob, bytes, top_logprobs[]} array (chat logprobs.content, the Responses
 * API's output_text logprobs): each entry becomes a token of the sample; path names the array
 * in messages. */
static int add_token_list(struct parse_ctx *c, const cJSON *arr, const char *path)
{
    c->s->has_logprobs = 1;
    size_t i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        char tp[700], fp[760];
        path_fmt(tp, sizeof tp, "%s[%zu]", path, i++);
        if (!cJSON_IsObject(t))
            return bad_type(c->err, tp, t, "an object");
        double v = 0;
        int rc;
        path_fmt(fp, sizeof fp, "%s.logprob", tp);
        if ((rc = logprob_of(get(t, "logprob"), fp, &v, c->err)))
            return rc;
        const char *b = NULL;
        size_t nb = 0;
        if ((rc = token_bytes(get(t, "token"), get(t, "bytes"), tp, c->scratch, c->scratch_cap, &b,
                              &nb, c->err)) ||
            (rc = dt_sample_add_token(c->s, b, nb, v, c->err)))
            return rc;
        path_fmt(fp, sizeof fp, "%s.top_logprobs", tp);
        if ((rc = add_alt_array(c, get(t, "top_logprobs"), fp)))
            return rc;
    }
    return 0;
}

static int parse_openai_chat(struct parse_ctx *c, const cJSON *r, const char *rp, const char **text)
{
    char p[512];
    const cJSON *choices = get(r, "choices");
    path_fmt(p, sizeof p, "%schoices", rp);
    if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) < 1)
        return bad_type(c->err, p, choices, "a non-empty array");
    const cJSON *ch = cJSON_GetArrayItem(choices, 0);
    path_fmt(p, sizeof p, "%schoices[0]", rp);
    if (!cJSON_IsObject(ch))
        return bad_type(c->err, p, ch, "an object");
    const cJSON *msg = get(ch, "message");
    path_fmt(p, sizeof p, "%schoices[0].message", rp);
    if (!cJSON_IsObject(msg))
        return bad_type(c->err, p, msg, "an object");
    const cJSON *content = get(msg, "content");
    path_fmt(p, sizeof p, "%schoices[0].message.content", rp);
    if (cJSON_IsString(content))
        *text = content->valuestring;
    else if (cJSON_IsNull(content))
        *text = "";
    else
        return bad_type(c->err, p, content, "a string");
    const cJSON *fr = get(ch, "finish_reason");
    if (cJSON_IsString(fr) && !(c->s->finish_reason = dt_strdup(fr->valuestring)))
        return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    const cJSON *lp = get(ch, "logprobs");
    if (!lp || cJSON_IsNull(lp))
        return 0;
    path_fmt(p, sizeof p, "%schoices[0].logprobs", rp);
    if (!cJSON_IsObject(lp))
        return bad_type(c->err, p, lp, "an object");
    const cJSON *arr = get(lp, "content");
    path_fmt(p, sizeof p, "%schoices[0].logprobs.content", rp);
    if (cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return bad_type(c->err, p, arr, "an array");
    return add_token_list(c, arr, p);
}

static int parse_openai_completions(struct parse_ctx *c, const cJSON *r, const char *rp,
                                    const char **text)
{
    char p[512];
    const cJSON *choices = get(r, "choices");
    path_fmt(p, sizeof p, "%schoices", rp);
    if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) < 1)
        return bad_type(c->err, p, choices, "a non-empty array");
    const cJSON *ch = cJSON_GetArrayItem(choices, 0);
    const cJSON *tx = get(ch, "text");
    path_fmt(p, sizeof p, "%schoices[0].text", rp);
    if (!cJSON_IsString(tx))
        return bad_type(c->err, p, tx, "a string");
    *text = tx->valuestring;
    const cJSON *fr = get(ch, "finish_reason");
    if (cJSON_IsString(fr) && !(c->s->finish_reason = dt_strdup(fr->valuestring)))
        return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    const cJSON *lp = get(ch, "logprobs");
    if (!lp || cJSON_IsNull(lp))
        return 0;
    path_fmt(p, sizeof p, "%schoices[0].logprobs", rp);
    if (!cJSON_IsObject(lp))
        return bad_type(c->err, p, lp, "an object");
    const cJSON *toks = get(lp, "tokens"), *lps = get(lp, "token_logprobs"),
                *tops = get(lp, "top_logprobs");
    path_fmt(p, sizeof p, "%schoices[0].logprobs.tokens", rp);
    if (!cJSON_IsArray(toks))
        return bad_type(c->err, p, toks, "an array");
    int n = cJSON_GetArraySize(toks);
    path_fmt(p, sizeof p, "%schoices[0].logprobs.token_logprobs", rp);
    if (!cJSON_IsArray(lps))
        return bad_type(c->err, p, lps, "an array");
    if (cJSON_GetArraySize(lps) != n)
        return dt_error_set(c->err, DT_EFORMAT, "field '%s' has %d entries, 'tokens' has %d", p,
                            cJSON_GetArraySize(lps), n);
    path_fmt(p, sizeof p, "%schoices[0].logprobs.top_logprobs", rp);
    if (tops && !cJSON_IsNull(tops)) {
        if (!cJSON_IsArray(tops))
            return bad_type(c->err, p, tops, "an array");
        if (cJSON_GetArraySize(tops) != n)
            return dt_error_set(c->err, DT_EFORMAT, "field '%s' has %d entries, 'tokens' has %d", p,
                                cJSON_GetArraySize(tops), n);
    } else {
        tops = NULL;
    }
    c->s->has_logprobs = 1;
    const cJSON *t = toks->child, *l = lps->child, *k = tops ? tops->child : NULL;
    for (int i = 0; i < n; i++, t = t->next, l = l->next, k = k ? k->next : NULL) {
        char tp[512];
        int rc;
        double v = 0;
        path_fmt(tp, sizeof tp, "%schoices[0].logprobs.token_logprobs[%d]", rp, i);
        if ((rc = logprob_of(l, tp, &v, c->err)))
            return rc;
        path_fmt(tp, sizeof tp, "%schoices[0].logprobs.tokens[%d]", rp, i);
        if (!cJSON_IsString(t))
            return bad_type(c->err, tp, t, "a string");
        const char *b = NULL;
        size_t nb = 0;
        if ((rc = token_bytes(t, NULL, tp, c->scratch, c->scratch_cap, &b, &nb, c->err)) ||
            (rc = dt_sample_add_token(c->s, b, nb, v, c->err)))
            return rc;
        if (!k || cJSON_IsNull(k))
            continue;
        path_fmt(tp, sizeof tp, "%schoices[0].logprobs.top_logprobs[%d]", rp, i);
        if (!cJSON_IsObject(k))
            return bad_type(c->err, tp, k, "an object");
        const cJSON *a;
        cJSON_ArrayForEach(a, k)
        {
            char ap[600];
            path_fmt(ap, sizeof ap, "%s['%s']", tp, a->string ? a->string : "");
            if ((rc = logprob_of(a, ap, &v, c->err)))
                return rc;
            if ((rc = token_bytes(&(cJSON){.type = cJSON_String, .valuestring = a->string}, NULL,
                                  ap, c->scratch, c->scratch_cap, &b, &nb, c->err)) ||
                (rc = dt_sample_add_alt(c->s, b, nb, v, c->err)))
                return rc;
        }
    }
    return 0;
}

static int parse_llama_server(struct parse_ctx *c, const cJSON *r, const char *rp,
                              const char **text)
{
    char p[512];
    const cJSON *content = get(r, "content");
    path_fmt(p, sizeof p, "%scontent", rp);
    if (!cJSON_IsString(content))
        return bad_type(c->err, p, content, "a string");
    *text = content->valuestring;
    const cJSON *st = get(r, "stop_type");
    if (cJSON_IsString(st) && !(c->s->finish_reason = dt_strdup(st->valuestring)))
        return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    const cJSON *arr = get(r, "completion_probabilities");
    if (!arr || cJSON_IsNull(arr))
        return 0;
    path_fmt(p, sizeof p, "%scompletion_probabilities", rp);
    if (!cJSON_IsArray(arr))
        return bad_type(c->err, p, arr, "an array");
    c->s->has_logprobs = 1;
    size_t i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        char tp[512], fp[600];
        int rc;
        path_fmt(tp, sizeof tp, "%scompletion_probabilities[%zu]", rp, i++);
        if (!cJSON_IsObject(t))
            return bad_type(c->err, tp, t, "an object");
        const cJSON *tok = get(t, "token");
        if (!tok)
            tok = get(t, "content"); /* older servers */
        const cJSON *alts = get(t, "top_logprobs");
        const char *alts_name = "top_logprobs";
        if (!alts) {
            alts = get(t, "top_probs");
            alts_name = "top_probs";
        }
        if (!alts) {
            alts = get(t, "probs");
            alts_name = "probs";
        }
        double v = NAN;
        const cJSON *lpj = get(t, "logprob"), *pr = get(t, "prob");
        path_fmt(fp, sizeof fp, "%s.logprob", tp);
        if (lpj) {
            if ((rc = logprob_of(lpj, fp, &v, c->err)))
                return rc;
        } else if (pr) {
            if (!cJSON_IsNumber(pr) || pr->valuedouble < 0 || pr->valuedouble > 1) {
                path_fmt(fp, sizeof fp, "%s.prob", tp);
                return bad_type(c->err, fp, pr, "a probability");
            }
            v = log(pr->valuedouble);
        } else if (cJSON_IsString(tok) && cJSON_IsArray(alts)) {
            /* Older form: the chosen token's probability is its entry among the alternatives. */
            const cJSON *a;
            cJSON_ArrayForEach(a, alts)
            {
                const cJSON *ts = get(a, "tok_str"), *ap = get(a, "prob");
                if (cJSON_IsString(ts) && cJSON_IsNumber(ap) &&
                    !strcmp(ts->valuestring, tok->valuestring) && ap->valuedouble >= 0) {
                    v = log(ap->valuedouble);
                    break;
                }
            }
        }
        const char *b = NULL;
        size_t nb = 0;
        if ((rc = token_bytes(tok, get(t, "bytes"), tp, c->scratch, c->scratch_cap, &b, &nb,
                              c->err)) ||
            (rc = dt_sample_add_token(c->s, b, nb, v, c->err)))
            return rc;
        path_fmt(fp, sizeof fp, "%s.%s", tp, alts_name);
        if ((rc = add_alt_array(c, alts, fp)))
            return rc;
    }
    return 0;
}

/* Responses API: output[] items of type "message", content[] parts of type "output_text"
 * (their texts concatenated; their logprobs[] are {token, logprob, bytes, top_logprobs[]}). */
static int parse_openai_responses(struct parse_ctx *c, const cJSON *r, const char *rp,
                                  struct dt_strbuf *text)
{
    char p[512];
    const cJSON *out = get(r, "output");
    path_fmt(p, sizeof p, "%soutput", rp);
    if (!cJSON_IsArray(out))
        return bad_type(c->err, p, out, "an array");
    const cJSON *st = get(r, "status");
    if (cJSON_IsString(st) && strcmp(st->valuestring, "completed") != 0) {
        const cJSON *why = get(get(r, "incomplete_details"), "reason");
        const char *fr = cJSON_IsString(why) ? why->valuestring : st->valuestring;
        if (!strcmp(fr, "max_output_tokens"))
            fr = "length";
        if (!(c->s->finish_reason = dt_strdup(fr)))
            return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    } else if (cJSON_IsString(st) && !(c->s->finish_reason = dt_strdup("stop"))) {
        return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    }
    size_t i = 0, n_parts = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, out)
    {
        size_t i_item = i++;
        const cJSON *type = get(item, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "message") != 0)
            continue; /* reasoning, tool calls: not the answer's text */
        const cJSON *content = get(item, "content");
        path_fmt(p, sizeof p, "%soutput[%zu].content", rp, i_item);
        if (!cJSON_IsArray(content))
            return bad_type(c->err, p, content, "an array");
        size_t j = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            char pp[600];
            path_fmt(pp, sizeof pp, "%soutput[%zu].content[%zu]", rp, i_item, j++);
            const cJSON *pt = get(part, "type");
            if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "output_text") != 0)
                continue; /* refusals are parts of their own type: keep their text too */
            const cJSON *tx = get(part, "text");
            char fp[700];
            path_fmt(fp, sizeof fp, "%s.text", pp);
            if (!cJSON_IsString(tx))
                return bad_type(c->err, fp, tx, "a string");
            dt_strbuf_puts(text, tx->valuestring);
            n_parts++;
            const cJSON *lps = get(part, "logprobs");
            if (!cJSON_IsArray(lps))
                continue;
            path_fmt(fp, sizeof fp, "%s.logprobs", pp);
            int rc = add_token_list(c, lps, fp);
            if (rc)
                return rc;
        }
    }
    if (n_parts == 0) {
        path_fmt(p, sizeof p, "%soutput", rp);
        return dt_error_set(c->err, DT_EFORMAT, "field '%s' holds no message with output_text", p);
    }
    return dt_strbuf_failed(text) ? dt_error_set(c->err, DT_ENOMEM, "out of memory") : 0;
}

/* vLLM RequestOutput: the first output's text; its tokens from token_ids with, per position,
 * the logprobs entry of that id and the other entries (by rank) as alternatives. */
static int parse_vllm(struct parse_ctx *c, const cJSON *r, const char **text)
{
    char p[256];
    const cJSON *outs = get(r, "outputs");
    const cJSON *o = cJSON_GetArrayItem(outs, 0);
    if (!cJSON_IsObject(o))
        return bad_type(c->err, "outputs[0]", o, "an object");
    const cJSON *tx = get(o, "text");
    if (!cJSON_IsString(tx))
        return bad_type(c->err, "outputs[0].text", tx, "a string");
    *text = tx->valuestring;
    const cJSON *fr = get(o, "finish_reason");
    if (cJSON_IsString(fr) && !(c->s->finish_reason = dt_strdup(fr->valuestring)))
        return dt_error_set(c->err, DT_ENOMEM, "out of memory");
    const cJSON *ids = get(o, "token_ids"), *lps = get(o, "logprobs");
    if (!cJSON_IsArray(lps) || !cJSON_IsArray(ids))
        return 0;
    if (cJSON_GetArraySize(lps) != cJSON_GetArraySize(ids))
        return dt_error_set(c->err, DT_EFORMAT,
                            "field 'outputs[0].logprobs' has %d entries, 'token_ids' %d",
                            cJSON_GetArraySize(lps), cJSON_GetArraySize(ids));
    c->s->has_logprobs = 1;
    int n = cJSON_GetArraySize(ids);
    for (int i = 0; i < n; i++) {
        const cJSON *id = cJSON_GetArrayItem(ids, i), *pos = cJSON_GetArrayItem(lps, i);
        path_fmt(p, sizeof p, "outputs[0].logprobs[%d]", i);
        if (!cJSON_IsNumber(id))
            return bad_type(c->err, "outputs[0].token_ids[]", id, "a number");
        if (!cJSON_IsObject(pos))
            return bad_type(c->err, p, pos, "an object");
        char key[32];
        snprintf(key, sizeof key, "%d", (int)id->valuedouble);
        const cJSON *e = get(pos, key);
        if (!cJSON_IsObject(e))
            return dt_error_set(c->err, DT_EFORMAT, "field '%s' has no entry for token %s", p,
                                key);
        double v = 0;
        char fp[320];
        path_fmt(fp, sizeof fp, "%s.%s.logprob", p, key);
        int rc = logprob_of(get(e, "logprob"), fp, &v, c->err);
        const cJSON *dec = get(e, "decoded_token");
        if (rc)
            return rc;
        if (!cJSON_IsString(dec))
            return dt_error_set(c->err, DT_EFORMAT, "field '%s.%s.decoded_token' is missing", p,
                                key);
        if ((rc = dt_sample_add_token(c->s, dec->valuestring, strlen(dec->valuestring), v,
                                      c->err)))
            return rc;
        /* the alternatives, best rank first */
        for (int rank = 1; rank <= 64; rank++) {
            const cJSON *a;
            cJSON_ArrayForEach(a, pos)
            {
                const cJSON *rk = get(a, "rank"), *ad = get(a, "decoded_token");
                double av = 0;
                if (!cJSON_IsNumber(rk) || (int)rk->valuedouble != rank || !cJSON_IsString(ad))
                    continue;
                path_fmt(fp, sizeof fp, "%s.%s.logprob", p, a->string ? a->string : "?");
                if ((rc = logprob_of(get(a, "logprob"), fp, &av, c->err)) ||
                    (rc = dt_sample_add_alt(c->s, ad->valuestring, strlen(ad->valuestring), av,
                                            c->err)))
                    return rc;
            }
        }
    }
    return 0;
}

static enum dt_transcript_format classify(const cJSON *r)
{
    if (cJSON_IsString(r))
        return DT_TRANSCRIPT_PLAIN;
    const cJSON *choices = get(r, "choices");
    if (cJSON_IsArray(choices)) {
        const cJSON *ch = cJSON_GetArrayItem(choices, 0);
        if (get(ch, "message"))
            return DT_TRANSCRIPT_OPENAI_CHAT;
        if (get(ch, "text"))
            return DT_TRANSCRIPT_OPENAI_COMPLETIONS;
        return DT_TRANSCRIPT_OPENAI_CHAT; /* reported as a missing message */
    }
    if (get(r, "completion_probabilities") || cJSON_IsString(get(r, "content")))
        return DT_TRANSCRIPT_LLAMA_SERVER;
    const cJSON *obj = get(r, "object");
    if ((cJSON_IsString(obj) && !strcmp(obj->valuestring, "response")) ||
        cJSON_IsArray(get(r, "output")))
        return DT_TRANSCRIPT_OPENAI_RESPONSES;
    return DT_TRANSCRIPT_AUTO;
}

/* parse_line's value for a line that holds no record (a log line about something else). */
#define NOT_A_RECORD 1

/* Set when building a prompt ran out of memory, so that it is not reported as missing. */
static int prompt_oom;

static char *oom_check(char *p)
{
    if (!p)
        prompt_oom = 1;
    return p;
}

/* The text of a message's content: a string, or the texts of its parts ({"type": "text" |
 * "input_text", "text"}); NULL when it has none. */
static int content_text(const cJSON *content, struct dt_strbuf *sb)
{
    if (cJSON_IsString(content)) {
        dt_strbuf_puts(sb, content->valuestring);
        return 1;
    }
    int any = 0;
    const cJSON *part;
    if (cJSON_IsArray(content))
        cJSON_ArrayForEach(part, content)
        {
            const cJSON *tx = get(part, "text");
            if (cJSON_IsString(part)) {
                dt_strbuf_puts(sb, part->valuestring);
                any = 1;
            } else if (cJSON_IsString(tx)) {
                dt_strbuf_puts(sb, tx->valuestring);
                any = 1;
            }
        }
    return any;
}

/* The prompt of a conversation (messages[0..n), optionally after a system "instructions"):
 * a lone user message as it is, anything more rendered whole (see transcripts.h). Heap, or
 * NULL when there is no user message. */
static char *render_conversation(const cJSON *msgs, int n, const cJSON *instructions)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int n_turns = 0, n_user = 0, i = 0;
    const cJSON *m, *last_user = NULL;
    cJSON_ArrayForEach(m, msgs)
    {
        if (i++ >= n)
            break;
        const cJSON *role = get(m, "role");
        if (cJSON_IsString(role)) {
            n_turns++;
            if (!strcmp(role->valuestring, "user")) {
                n_user++;
                last_user = m;
            }
        }
    }
    if (!last_user)
        return NULL;
    int has_instr = cJSON_IsString(instructions) && instructions->valuestring[0];
    if (n_turns == 1 && !has_instr) {
        content_text(get(last_user, "content"), &sb);
    } else {
        if (has_instr)
            dt_strbuf_printf(&sb, "[system]\n%s", instructions->valuestring);
        i = 0;
        cJSON_ArrayForEach(m, msgs)
        {
            if (i++ >= n)
                break;
            const cJSON *role = get(m, "role");
            if (!cJSON_IsString(role))
                continue;
            if (sb.len)
                dt_strbuf_puts(&sb, "\n\n");
            const char *r = role->valuestring;
            dt_strbuf_printf(&sb, "[%s]\n", !strcmp(r, "developer") ? "system" : r);
            content_text(get(m, "content"), &sb);
        }
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        prompt_oom = 1;
        return NULL;
    }
    return oom_check(sb.data ? dt_strbuf_detach(&sb, NULL) : dt_strdup(""));
}

/* The prompt a request asked: its messages, its prompt, or its Responses API input (a string
 * or input messages, after its instructions). Heap or NULL. */
static char *request_prompt(const cJSON *req)
{
    const cJSON *msgs = get(req, "messages");
    if (cJSON_IsArray(msgs))
        return render_conversation(msgs, cJSON_GetArraySize(msgs), NULL);
    const cJSON *p = get(req, "prompt");
    if (cJSON_IsString(p))
        return oom_check(dt_strdup(p->valuestring));
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        return oom_check(dt_strdup(cJSON_GetArrayItem(p, 0)->valuestring));
    const cJSON *in = get(req, "input"), *instr = get(req, "instructions");
    if (cJSON_IsString(in)) {
        if (!(cJSON_IsString(instr) && instr->valuestring[0]))
            return oom_check(dt_strdup(in->valuestring));
        struct dt_strbuf sb = DT_STRBUF_INIT;
        dt_strbuf_printf(&sb, "[system]\n%s\n\n[user]\n%s", instr->valuestring, in->valuestring);
        if (dt_strbuf_failed(&sb)) {
            dt_strbuf_release(&sb);
            prompt_oom = 1;
            return NULL;
        }
        return dt_strbuf_detach(&sb, NULL);
    }
    if (cJSON_IsArray(in))
        return render_conversation(in, cJSON_GetArraySize(in), instr);
    return NULL;
}

/* The prompt of a record: the wrapper's "prompt", its request (or the batch request joined by
 * custom_id), or the response's echoed "prompt". Heap or NULL. */
static char *find_prompt(const cJSON *line, const cJSON *resp, const cJSON *joined)
{
    const cJSON *p = get(line, "prompt");
    if (cJSON_IsString(p))
        return oom_check(dt_strdup(p->valuestring));
    char *q = NULL;
    if (joined && (q = request_prompt(get(joined, "body") ? get(joined, "body") : joined)))
        return q;
    if (prompt_oom)
        return NULL;
    if (prompt_oom || (q = request_prompt(get(line, "request"))))
        return q;
    p = get(resp, "prompt");
    if (cJSON_IsString(p) && !prompt_oom)
        return oom_check(dt_strdup(p->valuestring));
    return NULL;
}

/* The batch input lines of options.requests_path, sorted by custom_id for bsearch. */
struct request_entry {
    const char *id; /* borrowed from doc */
    cJSON *doc;     /* owned */
};
struct request_map {
    struct request_entry *e;
    size_t n;
};

static int cmp_req(const void *a, const void *b)
{
    return strcmp(((const struct request_entry *)a)->id, ((const struct request_entry *)b)->id);
}

static const cJSON *request_find(const struct request_map *m, const char *id)
{
    if (!m || !m->n || !id)
        return NULL;
    struct request_entry key = {id, NULL};
    const struct request_entry *hit = bsearch(&key, m->e, m->n, sizeof *m->e, cmp_req);
    return hit ? hit->doc : NULL;
}

static int parse_line(const char *line, size_t n_bytes, enum dt_transcript_format format,
                      const struct request_map *requests, struct dt_sample *out,
                      enum dt_transcript_format *detected, struct dt_error *err)
{
    struct dt_sample s;
    cJSON *root = NULL;
    char *scratch = NULL, *prompt = NULL;
    struct dt_strbuf tbuf = DT_STRBUF_INIT;
    int rc = 0;
    dt_sample_init(&s);
    size_t bad = utf8_invalid_at((const unsigned char *)line, n_bytes);
    if (bad < n_bytes)
        return dt_error_set(err, DT_EFORMAT, "invalid UTF-8 at byte %zu", bad);
    if (memchr(line, '\0', n_bytes))
        return dt_error_set(err, DT_EFORMAT, "NUL byte in line");
    json_hooks();
    json_alloc_failed = 0;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(line, n_bytes, &end, 0);
    if (!root) {
        if (json_alloc_failed)
            rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing JSON");
        else
            rc = dt_error_set(err, DT_EFORMAT, "invalid JSON at byte %zu",
                              end && end >= line ? (size_t)(end - line)
                              : cJSON_GetErrorPtr() >= line && cJSON_GetErrorPtr() <= line + n_bytes
                                  ? (size_t)(cJSON_GetErrorPtr() - line)
                                  : (size_t)0);
        goto done;
    }
    for (const char *q = end; q && q < line + n_bytes; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r') {
            rc = dt_error_set(err, DT_EFORMAT, "trailing bytes after the JSON value at byte %zu",
                              (size_t)(q - line));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        rc = dt_error_set(err, DT_EFORMAT, "line is %s, expected a JSON object", type_name(root));
        goto done;
    }
    /* llama.cpp server's JSON log (--log-format json): verbose request lines carry the request
     * and response bodies as strings; every other log line is not a record. */
    if (cJSON_IsString(get(root, "msg")) && (get(root, "tid") || get(root, "level")) &&
        format == DT_TRANSCRIPT_AUTO) {
        const cJSON *rq = get(root, "request"), *rs = get(root, "response");
        if (!cJSON_IsString(rq) || !cJSON_IsString(rs)) {
            rc = NOT_A_RECORD;
            goto done;
        }
        cJSON *jq = cJSON_Parse(rq->valuestring), *js = cJSON_Parse(rs->valuestring);
        if (!cJSON_IsObject(jq) || !cJSON_IsObject(js)) {
            cJSON_Delete(jq);
            cJSON_Delete(js);
            rc = json_alloc_failed ? dt_error_set(err, DT_ENOMEM, "out of memory")
                                   : dt_error_set(err, DT_EFORMAT,
                                                  "llama.cpp server log line: 'request' or "
                                                  "'response' is not a JSON object (a streamed "
                                                  "response is not logged whole)");
            goto done;
        }
        cJSON *w = cJSON_CreateObject();
        if (!w || !cJSON_AddItemToObject(w, "request", jq) ||
            !cJSON_AddItemToObject(w, "response", js)) {
            cJSON_Delete(w);
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
        cJSON_Delete(root);
        root = w;
    }
    /* vLLM's RequestOutput as JSON: {"prompt", "outputs": [{"text", "token_ids", "logprobs":
     * [{"ID": {"logprob", "rank", "decoded_token"}}, ...], "finish_reason"}]} */
    if (cJSON_IsArray(get(root, "outputs")) && !get(root, "response") &&
        (format == DT_TRANSCRIPT_AUTO || format == DT_TRANSCRIPT_VLLM)) {
        scratch = dt_malloc(n_bytes + 1);
        if (!scratch) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing a transcript line");
            goto done;
        }
        struct parse_ctx vc = {&s, scratch, n_bytes + 1, err};
        const char *vtext = NULL;
        if ((rc = parse_vllm(&vc, root, &vtext)))
            goto done;
        const cJSON *pj = get(root, "prompt");
        if (!cJSON_IsString(pj)) {
            rc = bad_type(err, "prompt", pj, "a string");
            goto done;
        }
        const cJSON *rid = get(root, "request_id");
        if (cJSON_IsString(rid) && !(s.source_ref = dt_strdup(rid->valuestring))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
        const cJSON *kj = get(root, "kind");
        enum dt_probe_kind vk = cJSON_IsString(kj) && dt_probe_kind_parse(kj->valuestring)
                                    ? dt_probe_kind_parse(kj->valuestring)
                                    : DT_PROBE_TEXT;
        if ((rc = dt_sample_set_text(&s, vk, pj->valuestring, strlen(pj->valuestring), vtext,
                                     strlen(vtext), err)))
            goto done;
        if (detected)
            *detected = DT_TRANSCRIPT_VLLM;
        *out = s;
        dt_sample_init(&s);
        goto done;
    }
    /* Wrapper with a "response" (object or, for plain, string), a Batch API output line, a
     * chat fine-tuning line, or a bare response object. */
    const cJSON *resp = get(root, "response");
    const char *rp = "response.";
    const cJSON *cid = get(root, "custom_id"), *joined = NULL;
    enum dt_transcript_format outer = DT_TRANSCRIPT_AUTO;
    if (cJSON_IsString(cid) && !resp && get(root, "body") && (get(root, "url") || get(root, "method"))) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "a Batch API input line (request '%s' without its answer): give the "
                          "batch input with --requests and the batch output with --file",
                          cid->valuestring);
        goto done;
    }
    if (cJSON_IsString(cid) && cJSON_IsObject(resp) && get(resp, "body") &&
        (format == DT_TRANSCRIPT_AUTO || format == DT_TRANSCRIPT_OPENAI_BATCH)) {
        const cJSON *e = get(root, "error"), *sc = get(resp, "status_code");
        const cJSON *body = get(resp, "body");
        if (e && !cJSON_IsNull(e)) {
            const cJSON *msg = get(e, "message");
            rc = dt_error_set(err, DT_EFORMAT, "batch request '%s' failed: %s", cid->valuestring,
                              cJSON_IsString(msg) ? msg->valuestring : "error");
            goto done;
        }
        if (cJSON_IsNumber(sc) && sc->valuedouble != 200) {
            const cJSON *msg = get(get(body, "error"), "message");
            rc = dt_error_set(err, DT_EFORMAT, "batch request '%s' failed with HTTP status %d: %s",
                              cid->valuestring, (int)sc->valuedouble,
                              cJSON_IsString(msg) ? msg->valuestring : "no message");
            goto done;
        }
        if (!cJSON_IsObject(body)) {
            rc = bad_type(err, "response.body", body, "an object");
            goto done;
        }
        joined = request_find(requests, cid->valuestring);
        if (!joined) {
            rc = requests ? dt_error_set(err, DT_EFORMAT,
                                         "batch request '%s' is not in the batch input file",
                                         cid->valuestring)
                          : dt_error_set(err, DT_EFORMAT,
                                         "batch output line '%s' carries no prompt: give the "
                                         "batch input file with --requests",
                                         cid->valuestring);
            goto done;
        }
        resp = body;
        rp = "response.body.";
        outer = DT_TRANSCRIPT_OPENAI_BATCH;
    } else if (!resp && cJSON_IsString(cid)) {
        joined = request_find(requests, cid->valuestring);
    }
    const cJSON *msgs = get(root, "messages");
    int finetune = !resp && cJSON_IsArray(msgs) && !get(root, "choices") &&
                   (format == DT_TRANSCRIPT_AUTO || format == DT_TRANSCRIPT_CHAT_MESSAGES);
    if (!resp) {
        resp = root;
        rp = "";
    }
    enum dt_transcript_format f = finetune ? DT_TRANSCRIPT_CHAT_MESSAGES : classify(resp);
    if (format != DT_TRANSCRIPT_AUTO && format != DT_TRANSCRIPT_OPENAI_BATCH && !finetune) {
        if (format == DT_TRANSCRIPT_PLAIN && !cJSON_IsString(resp)) {
            rc = bad_type(err, "response", get(root, "response"), "a string");
            goto done;
        }
        if (format == DT_TRANSCRIPT_CHAT_MESSAGES) {
            rc = bad_type(err, "messages", msgs, "an array");
            goto done;
        }
        f = format;
    } else if (f == DT_TRANSCRIPT_AUTO) {
        rc = get(root, "response")
                 ? dt_error_set(err, DT_EFORMAT,
                                "unrecognised %sresponse: no 'choices', 'output' or 'content' "
                                "field in '%.*s'",
                                outer ? "batch " : "", (int)strlen(rp) - 1, rp)
                 : dt_error_set(err, DT_EFORMAT,
                                "unrecognised record: no 'response', 'choices', 'output', "
                                "'messages' or 'content' field");
        goto done;
    }
    if (f != DT_TRANSCRIPT_PLAIN && !cJSON_IsObject(resp)) {
        rc = bad_type(err, "response", resp, "an object");
        goto done;
    }
    /* Token byte arrays decode into scratch; no token can exceed the line length. */
    scratch = dt_malloc(n_bytes + 1);
    if (!scratch) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory parsing a transcript line");
        goto done;
    }
    struct parse_ctx c = {&s, scratch, n_bytes + 1, err};
    const char *text = NULL;
    if (f == DT_TRANSCRIPT_CHAT_MESSAGES) {
        int n = cJSON_GetArraySize(msgs);
        const cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
        const cJSON *role = get(last, "role");
        char lp[64];
        path_fmt(lp, sizeof lp, "messages[%d].role", n > 0 ? n - 1 : 0);
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "assistant") != 0) {
            rc = cJSON_IsString(role)
                     ? dt_error_set(err, DT_EFORMAT,
                                    "field '%s' is '%s': the last message must be the "
                                    "assistant's answer",
                                    lp, role->valuestring)
                     : bad_type(err, lp, role, "a string");
            goto done;
        }
        if (!content_text(get(last, "content"), &tbuf)) {
            path_fmt(lp, sizeof lp, "messages[%d].content", n - 1);
            rc = bad_type(err, lp, get(last, "content"), "a string or text parts");
            goto done;
        }
        dt_strbuf_puts(&tbuf, "");
        if (dt_strbuf_failed(&tbuf)) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
        text = tbuf.data;
        prompt_oom = 0;
        if (!(prompt = render_conversation(msgs, n - 1, NULL))) {
            rc = prompt_oom ? dt_error_set(err, DT_ENOMEM, "out of memory")
                            : dt_error_set(err, DT_EFORMAT, "field 'messages' has no user turn "
                                                            "before the assistant's answer");
            goto done;
        }
    }
    switch (f) {
    case DT_TRANSCRIPT_OPENAI_CHAT:
        rc = parse_openai_chat(&c, resp, rp, &text);
        break;
    case DT_TRANSCRIPT_OPENAI_COMPLETIONS:
        rc = parse_openai_completions(&c, resp, rp, &text);
        break;
    case DT_TRANSCRIPT_LLAMA_SERVER:
        rc = parse_llama_server(&c, resp, rp, &text);
        break;
    case DT_TRANSCRIPT_OPENAI_RESPONSES:
        rc = parse_openai_responses(&c, resp, rp, &tbuf);
        dt_strbuf_puts(&tbuf, "");
        text = tbuf.data ? tbuf.data : "";
        break;
    case DT_TRANSCRIPT_CHAT_MESSAGES:
        break;
    default:
        text = resp->valuestring;
        break;
    }
    if (rc)
        goto done;
    prompt_oom = 0;
    if (!prompt && !(prompt = find_prompt(root, resp, joined))) {
        const cJSON *pj = get(root, "prompt");
        rc = prompt_oom ? dt_error_set(err, DT_ENOMEM, "out of memory")
             : pj       ? bad_type(err, "prompt", pj, "a string")
                : dt_error_set(err, DT_EFORMAT,
                               "the record carries no prompt ('prompt', request.messages, "
                               "request.prompt or request.input): a bare %s response holds "
                               "only the answer; wrap it as {\"request\": ..., \"response\": "
                               "...} or give the requests with --requests (joined by custom_id)",
                               dt_transcript_format_name(f));
        goto done;
    }
    enum dt_probe_kind kind = (f == DT_TRANSCRIPT_OPENAI_CHAT || f == DT_TRANSCRIPT_PLAIN ||
                               f == DT_TRANSCRIPT_OPENAI_RESPONSES ||
                               f == DT_TRANSCRIPT_CHAT_MESSAGES)
                                  ? DT_PROBE_CHAT
                                  : DT_PROBE_TEXT;
    const cJSON *kj = get(root, "kind");
    if (kj) {
        if (!cJSON_IsString(kj) || !dt_probe_kind_parse(kj->valuestring)) {
            rc = cJSON_IsString(kj)
                     ? dt_error_set(err, DT_EFORMAT, "field 'kind' is '%s', expected chat or text",
                                    kj->valuestring)
                     : bad_type(err, "kind", kj, "a string");
            goto done;
        }
        kind = dt_probe_kind_parse(kj->valuestring);
    }
    const cJSON *id = cJSON_IsString(cid) ? cid : get(root, "id");
    if (cJSON_IsString(id)) {
        if (!(s.source_ref = dt_strdup(id->valuestring))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
    } else if (cJSON_IsNumber(id)) {
        char num[64];
        path_fmt(num, sizeof num, "%.17g", id->valuedouble);
        if (!(s.source_ref = dt_strdup(num))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto done;
        }
    }
    if ((rc = dt_sample_set_text(&s, kind, prompt, strlen(prompt), text, strlen(text), err)))
        goto done;
    if (detected)
        *detected = outer ? outer : f;
    *out = s;
    dt_sample_init(&s);
done:
    dt_sample_release(&s);
    dt_free(scratch);
    dt_free(prompt);
    dt_strbuf_release(&tbuf);
    cJSON_Delete(root);
    return rc;
}

int dt_transcript_parse_line(const char *line, size_t n_bytes, enum dt_transcript_format format,
                             struct dt_sample *out, enum dt_transcript_format *detected,
                             struct dt_error *err)
{
    int rc = parse_line(line, n_bytes, format, NULL, out, detected, err);
    if (rc == NOT_A_RECORD)
        return dt_error_set(err, DT_EFORMAT, "a log line without a request and its response");
    return rc;
}

static void request_map_release(struct request_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        cJSON_Delete(m->e[i].doc);
    dt_free(m->e);
    m->e = NULL;
    m->n = 0;
}

/* Reads a Batch API input file: one {"custom_id", "body"} per line. Malformed lines and
 * duplicate custom_ids are errors naming the line: a join on a bad key would pair answers
 * with the wrong questions. */
static int request_map_load(const char *path, size_t max_line, struct request_map *m,
                            struct dt_error *err)
{
    struct dt_mapped_file f;
    int rc = dt_file_map(path, &f, err);
    size_t cap = 0, line_no = 0, pos = 0;
    if (rc)
        return rc;
    const char *data = (const char *)f.data;
    json_hooks();
    while (pos < f.size_bytes) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', f.size_bytes - pos);
        size_t len = nl ? (size_t)(nl - line) : f.size_bytes - pos;
        pos += len + (nl ? 1 : 0);
        line_no++;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len)
            continue;
        if (len > max_line) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s' line %zu: over the %zu-byte limit", path,
                              line_no, max_line);
            break;
        }
        json_alloc_failed = 0;
        cJSON *doc = cJSON_ParseWithLength(line, len);
        const cJSON *id = get(doc, "custom_id");
        if (!doc || !cJSON_IsString(id) || !cJSON_IsObject(get(doc, "body"))) {
            rc = json_alloc_failed
                     ? dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path)
                     : dt_error_set(err, DT_EFORMAT,
                                    "'%s' line %zu: not a batch input line ({\"custom_id\": STR, "
                                    "\"body\": OBJECT})",
                                    path, line_no);
            cJSON_Delete(doc);
            break;
        }
        if (m->n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct request_entry *ne = dt_realloc_array(m->e, ncap, sizeof *ne);
            if (!ne) {
                cJSON_Delete(doc);
                rc = dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
                break;
            }
            m->e = ne;
            cap = ncap;
        }
        m->e[m->n++] = (struct request_entry){id->valuestring, doc};
    }
    dt_file_unmap(&f);
    if (rc == 0 && m->n > 1) {
        qsort(m->e, m->n, sizeof *m->e, cmp_req);
        for (size_t i = 1; i < m->n; i++)
            if (!strcmp(m->e[i].id, m->e[i - 1].id)) {
                rc = dt_error_set(err, DT_EFORMAT, "'%s': custom_id '%s' appears twice", path,
                                  m->e[i].id);
                break;
            }
    }
    if (rc)
        request_map_release(m);
    return rc;
}

struct idx_key {
    const char *probe_id;
    size_t i;
};

static int cmp_idx(const void *a, const void *b)
{
    const struct idx_key *x = a, *y = b;
    int c = strcmp(x->probe_id, y->probe_id);
    if (c)
        return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Numbers repeated probes 0, 1, ... in file order, over out->items[first..]. */
static int number_samples(struct dt_sample_set *set, size_t first, struct dt_error *err)
{
    size_t n = set->n - first;
    if (n == 0)
        return 0;
    struct idx_key *k = dt_malloc_array(n, sizeof *k);
    if (!k)
        return dt_error_set(err, DT_ENOMEM, "out of memory numbering samples");
    for (size_t i = 0; i < n; i++)
        k[i] = (struct idx_key){set->items[first + i].probe_id, first + i};
    qsort(k, n, sizeof *k, cmp_idx);
    for (size_t i = 0; i < n; i++) {
        int run = (i > 0 && !strcmp(k[i].probe_id, k[i - 1].probe_id))
                      ? set->items[k[i - 1].i].sample_index + 1
                      : 0;
        set->items[k[i].i].sample_index = run;
    }
    dt_free(k);
    return 0;
}

int dt_transcript_load_buffer(const char *data, size_t n_bytes, const char *name,
                              const struct dt_transcript_options *opt, struct dt_sample_set *out,
                              struct dt_transcript_stats *stats, struct dt_error *err)
{
    struct dt_transcript_options defaults = {0};
    struct dt_transcript_stats st = {0};
    struct dt_sample_set staged;
    int rc = 0;
    if (!opt)
        opt = &defaults;
    size_t cap = opt->max_line_bytes ? opt->max_line_bytes : DT_TRANSCRIPT_MAX_LINE_BYTES;
    struct request_map reqs = {0};
    dt_sample_set_init(&staged);
    if (opt->requests_path && (rc = request_map_load(opt->requests_path, cap, &reqs, err)))
        goto done;
    size_t pos = 0;
    while (pos < n_bytes) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', n_bytes - pos);
        size_t len = nl ? (size_t)(nl - line) : n_bytes - pos;
        pos += len + (nl ? 1 : 0);
        st.n_lines++;
        if (len && line[len - 1] == '\r')
            len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == len)
            continue;
        struct dt_error e = {0};
        struct dt_sample s;
        enum dt_transcript_format f = DT_TRANSCRIPT_AUTO;
        int lrc;
        dt_sample_init(&s);
        if (len > cap)
            lrc = dt_error_set(&e, DT_EFORMAT, "line is %zu bytes, over the %zu-byte limit", len,
                               cap);
        else
            lrc = parse_line(line, len, opt->format, opt->requests_path ? &reqs : NULL, &s, &f,
                             &e);
        if (lrc == NOT_A_RECORD) {
            st.n_ignored++;
            continue;
        }
        if (lrc == 0 && (lrc = dt_sample_set_push(&staged, &s, &e)) != 0)
            dt_sample_release(&s);
        if (lrc == 0) {
            st.n_records++;
            st.n_by_format[f]++;
            continue;
        }
        if (lrc != DT_EFORMAT) { /* resource failures are never skipped */
            rc = dt_error_set(err, lrc, "'%s' line %zu: %s", name, st.n_lines, e.msg);
            goto done;
        }
        st.n_bad++;
        dt_error_prefix(&e, "'%s' line %zu", name, st.n_lines);
        if (opt->on_error)
            opt->on_error(opt->ud, st.n_lines, &e);
    }
    if (st.n_bad && !opt->skip_bad) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': %zu malformed line%s, nothing imported", name,
                          st.n_bad, st.n_bad == 1 ? "" : "s");
        goto done;
    }
    if ((rc = number_samples(&staged, 0, err)))
        goto done;
    rc = dt_sample_set_append(out, &staged, err);
done:
    if (stats)
        *stats = st;
    dt_sample_set_release(&staged);
    request_map_release(&reqs);
    return rc;
}

int dt_transcript_load(const char *path, const struct dt_transcript_options *opt,
                       struct dt_sample_set *out, struct dt_transcript_stats *stats,
                       struct dt_error *err)
{
    struct dt_mapped_file m;
    int rc = dt_file_map(path, &m, err);
    if (rc)
        return rc;
    rc = dt_transcript_load_buffer((const char *)m.data, m.size_bytes, path, opt, out, stats, err);
    dt_file_unmap(&m);
    return rc;
}

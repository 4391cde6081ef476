/*
 * The tokenizer API over a finished vocabulary table (tokenizer_vocab.c): special-token
 * splitting, encoding (each plain segment by the kind's encoder, tokenizer_bpe.c or
 * tokenizer_spm.c, or the whole text by the Hugging Face pipeline, tokenizer_hf.c), decoding,
 * the accessors, and freeing.
 *
 * Special tokens: CONTROL tokens are matched in the text only with parse_special;
 * USER_DEFINED tokens (Hugging Face added tokens that are not special) are always matched,
 * as both llama.cpp and the `tokenizers` library do. At each position the longest matching
 * special token wins (leftmost-longest, like the `tokenizers` library's added-token matcher).
 *
 * The one exception: DeepSeek vocabularies list the byte-level characters of the bytes C0, C1
 * and F5-FF (which never occur in valid UTF-8) as user-defined tokens, matched literally as
 * "ü" etc. (the reference tokenizer does so). Those bytes then have no token of their own:
 * the encoder uses the user-defined token, which decodes to its text, as in llama.cpp.
 *
 * Decoding: a token's bytes are the exact bytes it stands for. dt_tokenizer_decode
 * concatenates them; for SPM tokenizers that add a space prefix it drops the one space the
 * encoder added before the first text segment, so decode(encode(x)) == x for both kinds.
 */
#include "infer/tokenizer.h"

#include "infer/tokenizer_bpe.h"
#include "infer/tokenizer_hf.h"
#include "infer/tokenizer_internal.h"
#include "infer/tokenizer_spm.h"
#include "util/alloc.h"
#include "util/error.h"

#include <string.h>

void dt_tokenizer_free(struct dt_tokenizer *t)
{
    if (!t)
        return;
    dt_tok_free_regexes(t);
    dt_hf_free(t->hf);
    dt_free(t->tok);
    dt_strbuf_release(&t->pool);
    dt_free(t->map);
    dt_free(t->merges);
    dt_free(t->merge_pairs);
    dt_free(t->specials);
    dt_free(t->chat_template);
    dt_free(t);
}

/* --- encode ---------------------------------------------------------------------------- */

/* Longest special token starting at s (n bytes left) that the mode allows, or -1. */
static int32_t match_special(const struct dt_tokenizer *t, const char *s, size_t n,
                             int parse_special, size_t *len)
{
    unsigned char c = (unsigned char)s[0];
    for (uint32_t k = t->special_start[c]; k < t->special_start[c + 1]; k++) {
        int32_t id = t->specials[k];
        const struct dt_tok_entry *e = &t->tok[id];
        if (!parse_special && e->type == DT_TOKEN_CONTROL)
            continue;
        if (e->n_text <= n && memcmp(t->pool.data + e->text_off, s, e->n_text) == 0) {
            *len = e->n_text;
            return id;
        }
    }
    return -1;
}

static int encode_segment(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *s,
                          size_t n, int after_special, struct dt_tok_ids *out, struct dt_error *err)
{
    if (t->kind == DT_TOK_SPM)
        return dt_tok_spm_encode(t, w, s, n, t->add_space_prefix && after_special, out, err);
    return dt_tok_bpe_encode(t, w, s, n, out, err);
}

int dt_tokenizer_encode(const struct dt_tokenizer *t, const char *text, size_t n_bytes,
                        int parse_special, int32_t **ids, size_t *n_ids, struct dt_error *err)
{
    struct dt_tok_ids out = {0};
    struct dt_tok_work w = {0};
    int rc = 0;
    int after_special = 1; /* SPM: a space prefix goes before the first segment */
    size_t seg = 0, i = 0;
    if (!text && n_bytes)
        return dt_error_set(err, DT_EINVAL, "no text to encode");
    if (t->hf) {
        rc = dt_hf_encode(t, text, n_bytes, parse_special, &out, err);
        if (rc)
            goto done;
        i = seg = n_bytes;
    }
    while (i < n_bytes) {
        size_t len = 0;
        int32_t id =
            t->n_specials ? match_special(t, text + i, n_bytes - i, parse_special, &len) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        if (i > seg) {
            rc = encode_segment(t, &w, text + seg, i - seg, after_special, &out, err);
            if (rc)
                goto done;
        }
        if (dt_tok_ids_push(&out, id)) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for token ids");
            goto done;
        }
        after_special = 1;
        i += len;
        seg = i;
        continue;
    }
    if (n_bytes > seg) {
        rc = encode_segment(t, &w, text + seg, n_bytes - seg, after_special, &out, err);
        if (rc)
            goto done;
    }
    if (!out.v && !(out.v = dt_malloc(sizeof(int32_t)))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for token ids");
        goto done;
    }
    *ids = out.v;
    *n_ids = out.n;
    out.v = NULL;
done:
    dt_free(out.v);
    dt_tok_work_release(&w);
    return rc;
}

/* --- decode and getters ---------------------------------------------------------------- */

int dt_tokenizer_decode(const struct dt_tokenizer *t, const int32_t *ids, size_t n_ids,
                        int with_special, char **out, size_t *n_bytes, struct dt_error *err)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int first_text = 1;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            dt_strbuf_release(&sb);
            return dt_error_set(err, DT_EINVAL, "token id %d at position %zu is out of range", id,
                                i);
        }
        const struct dt_tok_entry *e = &t->tok[id];
        int special = e->type == DT_TOKEN_CONTROL || e->type == DT_TOKEN_UNKNOWN ||
                      e->type == DT_TOKEN_UNUSED;
        if (special && !with_special)
            continue;
        const char *b = t->pool.data + e->bytes_off;
        size_t n = e->n_bytes;
        /* undo the space the SPM encoder put before the first text segment */
        if (first_text && !special && t->kind == DT_TOK_SPM && t->add_space_prefix && n > 0 &&
            b[0] == ' ' && e->type != DT_TOKEN_USER_DEFINED) {
            b++;
            n--;
        }
        if (!special)
            first_text = 0;
        dt_strbuf_append(&sb, b, n);
    }
    size_t n = 0;
    char *d = dt_strbuf_failed(&sb) ? NULL : dt_strbuf_detach(&sb, &n);
    if (!d) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory decoding %zu tokens", n_ids);
    }
    *out = d;
    if (n_bytes)
        *n_bytes = n;
    return 0;
}

enum dt_tok_kind dt_tokenizer_kind(const struct dt_tokenizer *t)
{
    return t->kind;
}

int32_t dt_tokenizer_n_vocab(const struct dt_tokenizer *t)
{
    return t->n_vocab;
}

const char *dt_tokenizer_pre(const struct dt_tokenizer *t)
{
    return t->pre;
}

const char *dt_tokenizer_token_bytes(const struct dt_tokenizer *t, int32_t id, size_t *n_bytes)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    if (n_bytes)
        *n_bytes = t->tok[id].n_bytes;
    return t->pool.data + t->tok[id].bytes_off;
}

const char *dt_tokenizer_token_text(const struct dt_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    return t->pool.data + t->tok[id].text_off;
}

enum dt_token_type dt_tokenizer_token_type(const struct dt_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return DT_TOKEN_UNUSED;
    return (enum dt_token_type)t->tok[id].type;
}

float dt_tokenizer_token_score(const struct dt_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return 0.0f;
    return t->tok[id].score;
}

int32_t dt_tokenizer_find(const struct dt_tokenizer *t, const char *s)
{
    return s ? dt_tok_lookup(t, s, strlen(s)) : -1;
}

int32_t dt_tokenizer_bos(const struct dt_tokenizer *t)
{
    return t->bos;
}

int32_t dt_tokenizer_eos(const struct dt_tokenizer *t)
{
    return t->eos;
}

int32_t dt_tokenizer_eot(const struct dt_tokenizer *t)
{
    return t->eot;
}

int dt_tokenizer_is_eog(const struct dt_tokenizer *t, int32_t id)
{
    static const char *const names[] = {
        "<|end|>", "<|eot_id|>",      "<|im_end|>", "<|endoftext|>", "</s>",
        "<|eos|>", "<|end_of_text|>", "<|eom_id|>", "<end_of_turn>", "<｜end▁of▁sentence｜>"};
    if (id < 0 || id >= t->n_vocab)
        return 0;
    if (id == t->eos || id == t->eot || id == t->eom)
        return 1;
    if (t->tok[id].type != DT_TOKEN_CONTROL)
        return 0;
    const char *s = t->pool.data + t->tok[id].text_off;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

const char *dt_tokenizer_chat_template(const struct dt_tokenizer *t)
{
    return t->chat_template;
}

const char *dt_tokenizer_hash(const struct dt_tokenizer *t)
{
    return t->hash;
}

size_t dt_tokenizer_n_merges(const struct dt_tokenizer *t)
{
    return t->n_merges;
}

int dt_tokenizer_ids_compatible(const struct dt_tokenizer *base, const struct dt_tokenizer *other)
{
    if (!strcmp(dt_tokenizer_hash(base), dt_tokenizer_hash(other)))
        return 1;
    int32_t n = dt_tokenizer_n_vocab(base);
    if (dt_tokenizer_n_vocab(other) < n)
        return 0;
    for (int32_t t = 0; t < n; t++) {
        const char *a = dt_tokenizer_token_text(base, t), *b = dt_tokenizer_token_text(other, t);
        if (!a || !b || strcmp(a, b) || dt_tokenizer_token_type(base, t) != dt_tokenizer_token_type(other, t))
            return 0;
    }
    return 1;
}

/*
 * Loader for the tokenizer stored in GGUF metadata (tokenizer.ggml.*), as written by
 * llama.cpp's convert_hf_to_gguf.py: model ("gpt2" byte-level BPE or "llama" SentencePiece),
 * pre (pre-tokenizer name), tokens (string array), token_type (int array), scores (float
 * array), merges (string array "a b"), bos/eos/eot/eom/unknown_token_id, add_space_prefix, and
 * tokenizer.chat_template.
 *
 * All of it is untrusted: arrays must have the expected element type and the same length as
 * tokens, ids must be in range, merges must name known tokens. Also dt_tokenizer_open, which
 * picks the loader from the path (GGUF file, Hugging Face directory, tokenizer.json).
 */
#include "infer/tokenizer_gguf.h"

#include "infer/gguf.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_bpe.h"
#include "infer/tokenizer_internal.h"
#include "infer/tokenizer_json.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <stdio.h>
#include <string.h>

static const struct dt_gguf_kv *find_arr(const struct dt_gguf *g, const char *key, uint32_t want,
                                         int numeric, struct dt_error *err, int *rc)
{
    const struct dt_gguf_kv *kv = dt_gguf_find(g, key);
    *rc = 0;
    if (!kv)
        return NULL;
    int ok = kv->type == DT_GGUF_ARRAY &&
             (numeric ? (kv->arr_type != DT_GGUF_STRING && kv->arr_type != DT_GGUF_ARRAY &&
                         kv->arr_type != DT_GGUF_BOOL)
                      : kv->arr_type == want);
    if (!ok) {
        *rc = dt_error_set(err, DT_EFORMAT, "metadata '%s' (offset %llu) is not an array of %s",
                           key, (unsigned long long)kv->offset, numeric ? "numbers" : "strings");
        return NULL;
    }
    if (!numeric && !kv->arr_str && kv->arr_n) {
        *rc = dt_error_set(err, DT_EFORMAT, "metadata '%s' has no string elements", key);
        return NULL;
    }
    if (numeric && !kv->arr_data && kv->arr_n) {
        *rc = dt_error_set(err, DT_EFORMAT, "metadata '%s' has no elements", key);
        return NULL;
    }
    return kv;
}

static int32_t get_id(const struct dt_gguf *g, const char *key, int32_t n_vocab)
{
    uint64_t v;
    if (dt_gguf_get_u64(g, key, &v, NULL) != 0) {
        /* some converters write the id as a signed int (or -1 for "none") */
        const struct dt_gguf_kv *kv = dt_gguf_find(g, key);
        if (!kv || (kv->type != DT_GGUF_INT32 && kv->type != DT_GGUF_INT64 &&
                    kv->type != DT_GGUF_INT16 && kv->type != DT_GGUF_INT8))
            return -1;
        if (kv->v.i64 < 0 || kv->v.i64 >= n_vocab)
            return -1;
        return (int32_t)kv->v.i64;
    }
    return v < (uint64_t)n_vocab ? (int32_t)v : -1;
}

int dt_tokenizer_from_gguf(const struct dt_gguf *g, struct dt_tokenizer **out, struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    char *model = NULL, *pre = NULL;
    int rc = dt_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (rc) {
        if (rc == DT_ENOTFOUND)
            rc =
                dt_error_set(err, DT_ENOTFOUND, "the file has no tokenizer (tokenizer.ggml.model)");
        goto done;
    }
    enum dt_tok_kind kind;
    if (strcmp(model, "gpt2") == 0) {
        kind = DT_TOK_BPE;
    } else if (strcmp(model, "llama") == 0) {
        kind = DT_TOK_SPM;
    } else {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "tokenizer model '%.32s' is not supported", model);
        goto done;
    }
    const struct dt_gguf_kv *tokens =
        find_arr(g, "tokenizer.ggml.tokens", DT_GGUF_STRING, 0, err, &rc);
    if (rc)
        goto done;
    if (!tokens) {
        rc = dt_error_set(err, DT_EFORMAT, "metadata 'tokenizer.ggml.tokens' is missing");
        goto done;
    }
    const struct dt_gguf_kv *types = find_arr(g, "tokenizer.ggml.token_type", 0, 1, err, &rc);
    if (rc)
        goto done;
    const struct dt_gguf_kv *scores = find_arr(g, "tokenizer.ggml.scores", 0, 1, err, &rc);
    if (rc)
        goto done;
    const struct dt_gguf_kv *merges =
        find_arr(g, "tokenizer.ggml.merges", DT_GGUF_STRING, 0, err, &rc);
    if (rc)
        goto done;
    uint64_t n = tokens->arr_n;
    if ((types && types->arr_n != n) || (scores && scores->arr_n != n)) {
        rc = dt_error_set(err, DT_EFORMAT,
                          "tokenizer arrays differ in length: %llu tokens, %llu types, %llu scores",
                          (unsigned long long)n, (unsigned long long)(types ? types->arr_n : n),
                          (unsigned long long)(scores ? scores->arr_n : n));
        goto done;
    }
    if (n == 0 || n > DT_TOK_MAX_VOCAB) {
        rc = dt_error_set(err, DT_EFORMAT, "tokenizer has %llu tokens (expected 1..%d)",
                          (unsigned long long)n, DT_TOK_MAX_VOCAB);
        goto done;
    }
    rc = dt_tok_new(kind, (int64_t)n, &t, err);
    if (rc)
        goto done;
    for (uint64_t i = 0; i < n; i++) {
        const struct dt_gguf_str *s = &tokens->arr_str[i];
        int64_t ty = types ? dt_gguf_arr_i64(types, i) : DT_TOKEN_NORMAL;
        double sc = scores ? dt_gguf_arr_f64(scores, i) : 0.0;
        if (ty < DT_TOKEN_NORMAL || ty > DT_TOKEN_BYTE)
            ty = DT_TOKEN_NORMAL;
        if (!(sc == sc))
            sc = -1e30;
        rc = dt_tok_set_token(t, (int64_t)i, s->ptr, (size_t)s->n_bytes, (int32_t)ty, (float)sc,
                              err);
        if (rc) {
            dt_error_prefix(err, "metadata 'tokenizer.ggml.tokens'");
            goto done;
        }
    }
    rc = dt_tok_index(t, err);
    if (rc)
        goto done;
    if (merges) {
        rc = dt_tok_reserve_merges(t, (size_t)merges->arr_n, err);
        for (uint64_t i = 0; rc == 0 && i < merges->arr_n; i++)
            rc = dt_tok_add_merge_str(t, merges->arr_str[i].ptr, (size_t)merges->arr_str[i].n_bytes,
                                      (size_t)i, err);
        if (rc) {
            dt_error_prefix(err, "metadata 'tokenizer.ggml.merges'");
            goto done;
        }
    } else if (kind == DT_TOK_BPE) {
        rc = dt_error_set(err, DT_EFORMAT, "metadata 'tokenizer.ggml.merges' is missing");
        goto done;
    }
    if (kind == DT_TOK_BPE) {
        int prc = dt_gguf_get_str(g, "tokenizer.ggml.pre", &pre, NULL);
        rc = dt_tok_set_pre(t, prc == 0 ? pre : "default", err);
        if (rc)
            goto done;
    }
    int flag;
    if (dt_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &flag, NULL) == 0)
        t->add_space_prefix = kind == DT_TOK_SPM ? flag : 0;
    t->bos = get_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab);
    t->eos = get_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab);
    t->eot = get_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab);
    t->eom = get_id(g, "tokenizer.ggml.eom_token_id", t->n_vocab);
    t->unk = get_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab);
    char *tmpl = NULL;
    if (dt_gguf_get_str(g, "tokenizer.chat_template", &tmpl, NULL) == 0)
        t->chat_template = tmpl;
    rc = dt_tok_finish(t, err);
    if (rc)
        goto done;
    *out = t;
    t = NULL;
done:
    dt_tokenizer_free(t);
    dt_free(model);
    dt_free(pre);
    return rc;
}

int dt_tokenizer_open(const char *path, struct dt_tokenizer **out, struct dt_error *err)
{
    if (dt_path_is_dir(path))
        return dt_tokenizer_from_json(path, out, err);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dt_error_set(err, DT_EIO, "cannot open '%s'", path);
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
        struct dt_gguf *g = NULL;
        int rc = dt_gguf_open(path, &g, err);
        if (rc)
            return rc;
        rc = dt_tokenizer_from_gguf(g, out, err);
        if (rc)
            dt_error_prefix(err, "'%s'", path);
        dt_gguf_free(g);
        return rc;
    }
    return dt_tokenizer_from_json(path, out, err);
}

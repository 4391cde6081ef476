/*
 * Loader for Hugging Face tokenizer.json files (the `tokenizers` library format), parsed with
 * cJSON.
 *
 * Supported: model.type "BPE" with vocab {text: id} and merges as "a b" strings or [a, b]
 * pairs; added_tokens (special -> CONTROL, otherwise USER_DEFINED); pre_tokenizer ByteLevel,
 * Split (Regex or String pattern, Isolated behaviour), Digits, and Sequence of those. A
 * tokenizer with a ByteLevel pre-tokenizer or decoder is byte-level BPE; one with Metaspace or
 * a normalizer that replaces " " with "▁" is SentencePiece-style, encoded with the SPM merge
 * loop using -rank of the merge that makes each token as its score. Normalizers of byte-level
 * tokenizers (Qwen2's NFC) are ignored, as llama.cpp does. Everything else is DT_EUNSUPPORTED.
 *
 * The file is untrusted: ids must be integers in range, texts strings, merges pairs of known
 * tokens; sizes are capped (DT_TOK_MAX_VOCAB, DT_TOK_MAX_MERGES, 512 MB of JSON). BOS/EOS come
 * from tokenizer_config.json beside the file when there is one (bos_token / eos_token, as
 * strings or {"content": ...}), else from well-known token names.
 */
#include "infer/tokenizer.h"

#include "infer/tokenizer_internal.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_JSON_BYTES ((size_t)512 << 20)
#define MAX_PATTERNS DT_TOK_MAX_RE

struct pre_info {
    int byte_level;
    int metaspace;
    int add_prefix_space;
    const char *patterns[MAX_PATTERNS];
    char *owned[MAX_PATTERNS]; /* escaped String patterns */
    size_t n_patterns;
};

static int get_id(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < (double)DT_TOK_MAX_VOCAB) || d != floor(d))
        return -1;
    *out = (int64_t)d;
    return 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int bool_of(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return dflt;
}

#define RE_GPT2_HF                                                                                 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static int add_pattern(struct pre_info *pi, const char *p, char *owned, struct dt_error *err)
{
    if (pi->n_patterns >= MAX_PATTERNS) {
        dt_free(owned);
        return dt_error_set(err, DT_EUNSUPPORTED, "more than %d pre-tokenizer steps", MAX_PATTERNS);
    }
    pi->owned[pi->n_patterns] = owned;
    pi->patterns[pi->n_patterns++] = p;
    return 0;
}

/* A String pattern matches literally: escape every ASCII punctuation character. */
static char *escape_literal(const char *s)
{
    size_t n = strlen(s), m;
    if (dt_mul_overflow(n, 2, &m) || dt_add_overflow(m, 1, &m))
        return NULL;
    char *o = dt_malloc(m);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                          (c >= 'A' && c <= 'Z') || c == ' ' || c >= 0x80 || c < 0x20))
            o[k++] = '\\';
        o[k++] = (char)c;
    }
    o[k] = '\0';
    return o;
}

static int read_pre(const cJSON *p, struct pre_info *pi, int depth, struct dt_error *err)
{
    if (!p || cJSON_IsNull(p))
        return 0;
    if (depth > 4 || !cJSON_IsObject(p))
        return dt_error_set(err, DT_EFORMAT, "field 'pre_tokenizer' is not an object");
    const char *type = str_of(p, "type");
    if (!type)
        return dt_error_set(err, DT_EFORMAT, "pre_tokenizer has no 'type'");
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return dt_error_set(err, DT_EFORMAT,
                                "pre_tokenizer Sequence has no 'pretokenizers' array");
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            int rc = read_pre(it, pi, depth + 1, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pi->byte_level = 1;
        pi->add_prefix_space = bool_of(p, "add_prefix_space", 0);
        if (bool_of(p, "use_regex", 1))
            return add_pattern(pi, RE_GPT2_HF, NULL, err);
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *behavior = str_of(p, "behavior");
        if (bool_of(p, "invert", 0) || !behavior || strcmp(behavior, "Isolated") != 0)
            return dt_error_set(err, DT_EUNSUPPORTED,
                                "pre_tokenizer Split with behavior '%.32s' is not supported",
                                behavior ? behavior : "?");
        const char *re = str_of(pat, "Regex");
        if (re)
            return add_pattern(pi, re, NULL, err);
        const char *lit = str_of(pat, "String");
        if (!lit)
            return dt_error_set(err, DT_EFORMAT, "pre_tokenizer Split has no pattern");
        char *e = escape_literal(lit);
        if (!e)
            return dt_error_set(err, DT_ENOMEM, "out of memory for a pre-tokenizer pattern");
        return add_pattern(pi, e, e, err);
    }
    if (strcmp(type, "Digits") == 0)
        return add_pattern(pi, bool_of(p, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", NULL,
                           err);
    if (strcmp(type, "Metaspace") == 0) {
        pi->metaspace = 1;
        const char *scheme = str_of(p, "prepend_scheme");
        pi->add_prefix_space =
            scheme ? strcmp(scheme, "never") != 0 : bool_of(p, "add_prefix_space", 1);
        return 0;
    }
    return dt_error_set(err, DT_EUNSUPPORTED, "pre_tokenizer type '%.32s' is not supported", type);
}

/* Looks for Replace(" " -> "▁") and Prepend("▁") in the normalizer (SentencePiece style). */
static void read_normalizer(const cJSON *n, int *replaces_space, int *prepends, int depth)
{
    if (!cJSON_IsObject(n) || depth > 4)
        return;
    const char *type = str_of(n, "type");
    if (!type)
        return;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *it, *arr = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (cJSON_IsArray(arr))
            cJSON_ArrayForEach(it, arr) read_normalizer(it, replaces_space, prepends, depth + 1);
    } else if (strcmp(type, "Replace") == 0) {
        const char *c = str_of(n, "content");
        const char *s = str_of(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String");
        if (c && s && strcmp(s, " ") == 0 && strcmp(c, "\xE2\x96\x81") == 0)
            *replaces_space = 1;
    } else if (strcmp(type, "Prepend") == 0) {
        const char *c = str_of(n, "prepend");
        if (c && strcmp(c, "\xE2\x96\x81") == 0)
            *prepends = 1;
    }
}

static int is_byte_token(const char *s)
{
    return strlen(s) == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>';
}

static const char *special_content(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    return str_of(v, "content");
}

static int32_t find_first(const struct dt_tokenizer *t, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = dt_tokenizer_find(t, names[i]);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void set_special_ids(struct dt_tokenizer *t, const cJSON *config)
{
    static const char *const bos_names[] = {
        "<|bos|>", "<s>", "<|begin_of_text|>",
        "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234>", "<bos>"};
    static const char *const eos_names[] = {
        "<|eos|>",
        "</s>",
        "<|end_of_text|>",
        "<|endoftext|>",
        "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
        "<eos>"};
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    const char *b =
        config ? special_content(cJSON_GetObjectItemCaseSensitive(config, "bos_token")) : NULL;
    const char *e =
        config ? special_content(cJSON_GetObjectItemCaseSensitive(config, "eos_token")) : NULL;
    t->bos = b ? dt_tokenizer_find(t, b) : find_first(t, bos_names, 5);
    t->eos = e ? dt_tokenizer_find(t, e) : find_first(t, eos_names, 6);
    t->eot = find_first(t, eot_names, 4);
    if (t->eot >= 0 && t->tok[t->eot].type != DT_TOKEN_CONTROL)
        t->eot = -1;
    t->unk = dt_tokenizer_find(t, "<unk>");
    if (config) {
        const char *tmpl = str_of(config, "chat_template");
        if (tmpl)
            t->chat_template = dt_strdup(tmpl);
    }
}

static int load(const char *json, size_t n_bytes, const cJSON *config, const char *what,
                struct dt_tokenizer **out, struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    struct pre_info pi = {0};
    int rc = 0;
    cJSON *root = cJSON_ParseWithLength(json, n_bytes);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= json && at <= json + n_bytes ? (size_t)(at - json) : 0;
        return dt_error_set(err, DT_EFORMAT, "'%s' is not valid JSON (near byte %zu)", what, off);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s' has no 'model' object", what);
        goto done;
    }
    const char *mtype = str_of(model, "type");
    if (mtype && strcmp(mtype, "BPE") != 0) {
        rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': tokenizer model '%.32s' is not supported",
                          what, mtype);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': field 'model.vocab' is not an object", what);
        goto done;
    }
    if (merges && !cJSON_IsArray(merges)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': field 'model.merges' is not an array", what);
        goto done;
    }
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': field 'added_tokens' is not an array", what);
        goto done;
    }

    rc = read_pre(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &pi, 0, err);
    if (rc) {
        dt_error_prefix(err, "'%s'", what);
        goto done;
    }
    int replaces_space = 0, prepends = 0;
    read_normalizer(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &replaces_space,
                    &prepends, 0);
    const char *dtype = str_of(cJSON_GetObjectItemCaseSensitive(root, "decoder"), "type");
    int byte_level = pi.byte_level || (dtype && strcmp(dtype, "ByteLevel") == 0);
    int spm = !byte_level && (pi.metaspace || replaces_space);
    if (!byte_level && !spm) {
        rc = dt_error_set(err, DT_EUNSUPPORTED,
                          "'%s': BPE without a ByteLevel or Metaspace scheme is not supported",
                          what);
        goto done;
    }

    int64_t max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        int64_t id;
        if (get_id(it, &id)) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s': vocab entry '%.64s' has an invalid id", what,
                              it->string ? it->string : "");
            goto done;
        }
        if (id > max_id)
            max_id = id;
    }
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(it, added)
        {
            int64_t id;
            if (get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id) || !str_of(it, "content")) {
                rc = dt_error_set(err, DT_EFORMAT,
                                  "'%s': an added_tokens entry has no valid id or content", what);
                goto done;
            }
            if (id > max_id)
                max_id = id;
        }
    }
    if (max_id < 0) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': the vocabulary is empty", what);
        goto done;
    }
    rc = dt_tok_new(spm ? DT_TOK_SPM : DT_TOK_BPE, max_id + 1, &t, err);
    if (rc)
        goto done;
    cJSON_ArrayForEach(it, vocab)
    {
        int64_t id = 0;
        get_id(it, &id);
        const char *s = it->string ? it->string : "";
        if (t->tok[id].set) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s': id %lld is given to two vocab entries", what,
                              (long long)id);
            goto done;
        }
        int type = spm && is_byte_token(s) ? DT_TOKEN_BYTE : DT_TOKEN_NORMAL;
        rc = dt_tok_set_token(t, id, s, strlen(s), type, 0.0f, err);
        if (rc)
            goto done;
    }
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(it, added)
        {
            int64_t id = 0;
            get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id);
            const char *s = str_of(it, "content");
            int type = bool_of(it, "special", 0) ? DT_TOKEN_CONTROL : DT_TOKEN_USER_DEFINED;
            rc = dt_tok_set_token(t, id, s, strlen(s), type, 0.0f, err);
            if (rc)
                goto done;
        }
    }
    rc = dt_tok_index(t, err);
    if (rc)
        goto done;

    size_t n_merges = merges ? (size_t)cJSON_GetArraySize(merges) : 0;
    rc = dt_tok_reserve_merges(t, n_merges, err);
    if (rc)
        goto done;
    size_t i_merge = 0;
    if (merges) {
        cJSON_ArrayForEach(it, merges)
        {
            if (cJSON_IsString(it)) {
                rc =
                    dt_tok_add_merge_str(t, it->valuestring, strlen(it->valuestring), i_merge, err);
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                const char *l = cJSON_GetArrayItem(it, 0)->valuestring;
                const char *r = cJSON_GetArrayItem(it, 1)->valuestring;
                rc = dt_tok_add_merge(t, l, strlen(l), r, strlen(r), i_merge, err);
            } else {
                rc = dt_error_set(err, DT_EFORMAT, "merge %zu is neither \"a b\" nor [a, b]",
                                  i_merge);
            }
            if (rc) {
                dt_error_prefix(err, "'%s'", what);
                goto done;
            }
            i_merge++;
        }
    }

    if (spm) {
        /* the SPM loop merges the pair whose result scores highest: earlier merges first */
        for (int32_t id = 0; id < t->n_vocab; id++)
            t->tok[id].score = -1e30f;
        for (size_t k = t->n_merges; k-- > 0;) {
            int32_t res;
            dt_tok_merge_rank(t, t->merge_pairs[2 * k], t->merge_pairs[2 * k + 1], &res);
            t->tok[res].score = -(float)k;
        }
        t->add_space_prefix = prepends || (pi.metaspace && pi.add_prefix_space);
        snprintf(t->pre, sizeof t->pre, "%s", "llama-spm");
    } else {
        t->add_prefix_space = pi.add_prefix_space;
        t->ignore_merges = bool_of(model, "ignore_merges", 0);
        for (size_t k = 0; k < pi.n_patterns; k++) {
            rc = dt_tok_add_regex(t, pi.patterns[k], strlen(pi.patterns[k]), err);
            if (rc) {
                dt_error_prefix(err, "'%s'", what);
                goto done;
            }
        }
        if (pi.n_patterns == 1 && strcmp(pi.patterns[0], RE_GPT2_HF) == 0)
            snprintf(t->pre, sizeof t->pre, "%s", "gpt-2");
        else
            dt_tok_name_pre(t, pi.patterns, pi.n_patterns);
    }
    set_special_ids(t, config);
    rc = dt_tok_finish(t, err);
    if (rc)
        goto done;
    *out = t;
    t = NULL;
done:
    for (size_t k = 0; k < pi.n_patterns; k++)
        dt_free(pi.owned[k]);
    dt_tokenizer_free(t);
    cJSON_Delete(root);
    return rc;
}

int dt_tokenizer_from_json_buffer(const char *json, size_t n_bytes, struct dt_tokenizer **out,
                                  struct dt_error *err)
{
    if (n_bytes > MAX_JSON_BYTES)
        return dt_error_set(err, DT_ENOMEM, "tokenizer JSON of %zu bytes is too large", n_bytes);
    return load(json, n_bytes, NULL, "tokenizer.json", out, err);
}

int dt_tokenizer_from_json(const char *path, struct dt_tokenizer **out, struct dt_error *err)
{
    char *file = NULL, *json = NULL, *cfg_text = NULL, *cfg_path = NULL, *dir = NULL;
    size_t n = 0, n_cfg = 0;
    cJSON *cfg = NULL;
    int rc;
    if (dt_path_is_dir(path)) {
        file = dt_path_join(path, "tokenizer.json");
        dir = dt_strdup(path);
    } else {
        file = dt_strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? dt_strndup(path, (size_t)(slash - path) + (slash == path)) : dt_strdup(".");
    }
    if (!file || !dir) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    rc = dt_file_read_all(file, MAX_JSON_BYTES, &json, &n, err);
    if (rc)
        goto done;
    cfg_path = dt_path_join(dir, "tokenizer_config.json");
    if (cfg_path && dt_path_exists(cfg_path) &&
        dt_file_read_all(cfg_path, 64 << 20, &cfg_text, &n_cfg, NULL) == 0)
        cfg = cJSON_ParseWithLength(cfg_text, n_cfg);
    rc = load(json, n, cJSON_IsObject(cfg) ? cfg : NULL, file, out, err);
done:
    cJSON_Delete(cfg);
    dt_free(cfg_text);
    dt_free(cfg_path);
    dt_free(json);
    dt_free(file);
    dt_free(dir);
    return rc;
}

/*
 * Loader for Hugging Face tokenizer.json files (the `tokenizers` library format).
 *
 * model.vocab and model.merges are read by tokenizer_json_fast.c (jsmn), everything else with
 * cJSON. The normalizer and pre_tokenizer are compiled into struct dt_hf (tokenizer_hf.c runs
 * them), every component named by its JSON path when it is refused
 * ("normalizer.normalizers[1].type 'Precompiled' is not supported"). Supported: model.type
 * "BPE" (merges as "a b" strings or [a, b] pairs, ranks by list position as the library's
 * MergeMap; byte_fallback, ignore_merges, continuing_subword_prefix, end_of_word_suffix,
 * unk_token, fuse_unk; dropout null or 0), added_tokens with their special / normalized /
 * lstrip / rstrip / single_word flags, the normalizers and pre-tokenizers listed in
 * tokenizer_hf.c. The kind (for token bytes and decoding) follows the scheme: ByteLevel
 * anywhere -> byte-level BPE; Metaspace, Replace(" " -> "▁"), byte fallback -> SentencePiece
 * style (▁ is a space, <0xXX> a byte); otherwise tokens are their own text.
 *
 * The file is untrusted: ids must be integers in range, texts strings, merges pairs of known
 * tokens; sizes are capped (DT_TOK_MAX_VOCAB, DT_TOK_MAX_MERGES, 512 MB of JSON). BOS/EOS come
 * from tokenizer_config.json beside the file when there is one (bos_token / eos_token, as
 * strings or {"content": ...}), else from well-known token names.
 */
#include "infer/tokenizer_json.h"

#include "infer/tokenizer.h"
#include "infer/tokenizer_bpe.h"
#include "infer/tokenizer_hf.h"
#include "infer/tokenizer_internal.h"
#include "infer/tokenizer_json_fast.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_JSON_BYTES ((size_t)512 << 20)

struct cfg {
    struct dt_hf *hf;
    size_t cap_norm, cap_pre;
    int byte_level;     /* a ByteLevel pre-tokenizer, normalizer or decoder */
    int metaspace;      /* a Metaspace pre-tokenizer */
    int meta_prefix;    /* ... that prepends its replacement */
    int replaces_space; /* a Replace(" " -> "▁") normalizer */
    int prepends;       /* a Prepend("▁") normalizer */
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
#define RE_WHITESPACE "\\w+|[^\\w\\s]+"
#define MAX_STEPS 64

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
                          (c >= 'A' && c <= 'Z') || c == ' ' || c < 0x20))
            o[k++] = '\\';
        o[k++] = (char)c;
    }
    o[k] = '\0';
    return o;
}

/* Compiles field `pattern` ({"String": s} or {"Regex": r}) of o. */
static int read_pattern(const cJSON *o, const char *path, void **re, struct dt_error *err)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *rx = str_of(pat, "Regex");
    if (rx) {
        int rc = dt_hf_compile(rx, strlen(rx), re, err);
        if (rc)
            dt_error_prefix(err, "%s.pattern.Regex", path);
        return rc;
    }
    const char *lit = str_of(pat, "String");
    if (!lit)
        return dt_error_set(err, DT_EFORMAT, "%s.pattern is neither {\"String\"} nor {\"Regex\"}",
                            path);
    char *e = escape_literal(lit);
    if (!e)
        return dt_error_set(err, DT_ENOMEM, "out of memory for %s.pattern", path);
    int rc = dt_hf_compile(e, strlen(e), re, err);
    dt_free(e);
    if (rc)
        dt_error_prefix(err, "%s.pattern.String", path);
    return rc;
}

static struct dt_hf_pre *new_pre(struct cfg *c, const char *path, struct dt_error *err)
{
    struct dt_hf *hf = c->hf;
    if (hf->n_pre >= MAX_STEPS) {
        dt_error_set(err, DT_EUNSUPPORTED, "%s: more than %d pre-tokenizer steps", path,
                     MAX_STEPS);
        return NULL;
    }
    if (hf->n_pre == c->cap_pre) {
        size_t cap = c->cap_pre ? 2 * c->cap_pre : 8;
        struct dt_hf_pre *v = dt_realloc_array(hf->pre, cap, sizeof *v);
        if (!v) {
            dt_error_set(err, DT_ENOMEM, "out of memory for the pre-tokenizer");
            return NULL;
        }
        hf->pre = v;
        c->cap_pre = cap;
    }
    struct dt_hf_pre *p = &hf->pre[hf->n_pre++];
    memset(p, 0, sizeof *p);
    return p;
}

static int add_split_class(struct cfg *c, int pattern, int behavior, const char *path,
                           struct dt_error *err)
{
    struct dt_hf_pre *p = new_pre(c, path, err);
    if (!p)
        return err ? err->code : DT_ENOMEM;
    p->kind = DT_HF_SPLIT;
    p->pattern = pattern;
    p->behavior = behavior;
    return 0;
}

static int add_split_regex(struct cfg *c, const char *re, int behavior, int invert,
                           const char *path, struct dt_error *err)
{
    struct dt_hf_pre *p = new_pre(c, path, err);
    if (!p)
        return err ? err->code : DT_ENOMEM;
    p->kind = DT_HF_SPLIT;
    p->pattern = DT_HF_PAT_REGEX;
    p->behavior = behavior;
    p->invert = invert;
    return dt_hf_compile(re, strlen(re), &p->re, err);
}

static int behavior_of(const char *b)
{
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    static const int kinds[] = {DT_HF_REMOVED, DT_HF_ISOLATED, DT_HF_MERGED_PREV,
                                DT_HF_MERGED_NEXT, DT_HF_CONTIGUOUS};
    for (size_t i = 0; b && i < 5; i++)
        if (strcmp(b, names[i]) == 0)
            return kinds[i];
    return 0;
}

static int read_pre(const cJSON *p, struct cfg *c, const char *path, int depth,
                    struct dt_error *err)
{
    if (!p || cJSON_IsNull(p))
        return 0;
    if (depth > 4 || !cJSON_IsObject(p))
        return dt_error_set(err, DT_EFORMAT, "%s is not an object", path);
    const char *type = str_of(p, "type");
    if (!type)
        return dt_error_set(err, DT_EFORMAT, "%s has no 'type'", path);
    char sub[256];
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return dt_error_set(err, DT_EFORMAT, "%s.pretokenizers is not an array", path);
        const cJSON *it;
        int i = 0;
        cJSON_ArrayForEach(it, arr)
        {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i++);
            int rc = read_pre(it, c, sub, depth + 1, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        c->byte_level = 1;
        int rc = 0;
        if (bool_of(p, "add_prefix_space", 0)) {
            struct dt_hf_pre *s = new_pre(c, path, err);
            if (!s)
                return err ? err->code : DT_ENOMEM;
            s->kind = DT_HF_PREFIX_SPACE;
        }
        if (bool_of(p, "use_regex", 1))
            rc = add_split_regex(c, RE_GPT2_HF, DT_HF_ISOLATED, 0, path, err);
        if (rc)
            return rc;
        struct dt_hf_pre *s = new_pre(c, path, err);
        if (!s)
            return err ? err->code : DT_ENOMEM;
        s->kind = DT_HF_BYTES_TO_CHARS;
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        const char *b = str_of(p, "behavior");
        int behavior = behavior_of(b);
        if (!behavior)
            return dt_error_set(err, DT_EUNSUPPORTED, "%s.behavior '%.32s' is not supported", path,
                                b ? b : "(missing)");
        struct dt_hf_pre *s = new_pre(c, path, err);
        if (!s)
            return err ? err->code : DT_ENOMEM;
        s->kind = DT_HF_SPLIT;
        s->pattern = DT_HF_PAT_REGEX;
        s->behavior = behavior;
        s->invert = bool_of(p, "invert", 0);
        return read_pattern(p, path, &s->re, err);
    }
    if (strcmp(type, "Digits") == 0)
        return add_split_class(c, DT_HF_PAT_NUMERIC,
                               bool_of(p, "individual_digits", 0) ? DT_HF_ISOLATED
                                                                  : DT_HF_CONTIGUOUS,
                               path, err);
    if (strcmp(type, "Whitespace") == 0)
        return add_split_regex(c, RE_WHITESPACE, DT_HF_REMOVED, 1, path, err);
    if (strcmp(type, "WhitespaceSplit") == 0)
        return add_split_class(c, DT_HF_PAT_WHITESPACE, DT_HF_REMOVED, path, err);
    if (strcmp(type, "BertPreTokenizer") == 0) {
        int rc = add_split_class(c, DT_HF_PAT_WHITESPACE, DT_HF_REMOVED, path, err);
        return rc ? rc : add_split_class(c, DT_HF_PAT_PUNCT, DT_HF_ISOLATED, path, err);
    }
    if (strcmp(type, "Punctuation") == 0) {
        const char *b = str_of(p, "behavior");
        int behavior = b ? behavior_of(b) : DT_HF_ISOLATED;
        if (!behavior)
            return dt_error_set(err, DT_EUNSUPPORTED, "%s.behavior '%.32s' is not supported", path,
                                b);
        return add_split_class(c, DT_HF_PAT_PUNCT, behavior, path, err);
    }
    if (strcmp(type, "CharDelimiterSplit") == 0) {
        const char *d = str_of(p, "delimiter");
        if (!d || !*d)
            return dt_error_set(err, DT_EFORMAT, "%s.delimiter is not a character", path);
        char *e = escape_literal(d);
        if (!e)
            return dt_error_set(err, DT_ENOMEM, "out of memory for %s", path);
        int rc = add_split_regex(c, e, DT_HF_REMOVED, 0, path, err);
        dt_free(e);
        return rc;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *r = str_of(p, "replacement");
        if (!r)
            r = "\xE2\x96\x81";
        size_t nr = strlen(r);
        if (nr == 0 || nr >= sizeof ((struct dt_hf_pre *)0)->repl)
            return dt_error_set(err, DT_EFORMAT, "%s.replacement is not one character", path);
        const char *scheme = str_of(p, "prepend_scheme");
        int prepend;
        if (!scheme)
            prepend = bool_of(p, "add_prefix_space", 1) ? DT_HF_PREPEND_ALWAYS : DT_HF_PREPEND_NEVER;
        else if (strcmp(scheme, "always") == 0)
            prepend = DT_HF_PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0)
            prepend = DT_HF_PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0)
            prepend = DT_HF_PREPEND_NEVER;
        else
            return dt_error_set(err, DT_EUNSUPPORTED, "%s.prepend_scheme '%.32s' is not supported",
                                path, scheme);
        struct dt_hf_pre *s = new_pre(c, path, err);
        if (!s)
            return err ? err->code : DT_ENOMEM;
        s->kind = DT_HF_METASPACE;
        memcpy(s->repl, r, nr);
        s->n_repl = nr;
        s->prepend = prepend;
        c->metaspace = 1;
        c->meta_prefix = prepend != DT_HF_PREPEND_NEVER;
        if (bool_of(p, "split", 1)) {
            char *e = escape_literal(r);
            if (!e)
                return dt_error_set(err, DT_ENOMEM, "out of memory for %s", path);
            int rc = add_split_regex(c, e, DT_HF_MERGED_NEXT, 0, path, err);
            dt_free(e);
            return rc;
        }
        return 0;
    }
    return dt_error_set(err, DT_EUNSUPPORTED, "%s.type '%.32s' is not supported", path, type);
}

static struct dt_hf_norm *new_norm(struct cfg *c, const char *path, struct dt_error *err)
{
    struct dt_hf *hf = c->hf;
    if (hf->n_norm >= MAX_STEPS) {
        dt_error_set(err, DT_EUNSUPPORTED, "%s: more than %d normalizers", path, MAX_STEPS);
        return NULL;
    }
    if (hf->n_norm == c->cap_norm) {
        size_t cap = c->cap_norm ? 2 * c->cap_norm : 8;
        struct dt_hf_norm *v = dt_realloc_array(hf->norm, cap, sizeof *v);
        if (!v) {
            dt_error_set(err, DT_ENOMEM, "out of memory for the normalizer");
            return NULL;
        }
        hf->norm = v;
        c->cap_norm = cap;
    }
    struct dt_hf_norm *n = &hf->norm[hf->n_norm++];
    memset(n, 0, sizeof *n);
    return n;
}

static int read_norm(const cJSON *o, struct cfg *c, const char *path, int depth,
                     struct dt_error *err)
{
    if (!o || cJSON_IsNull(o))
        return 0;
    if (depth > 4 || !cJSON_IsObject(o))
        return dt_error_set(err, DT_EFORMAT, "%s is not an object", path);
    const char *type = str_of(o, "type");
    if (!type)
        return dt_error_set(err, DT_EFORMAT, "%s has no 'type'", path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(arr))
            return dt_error_set(err, DT_EFORMAT, "%s.normalizers is not an array", path);
        const cJSON *it;
        int i = 0;
        char sub[256];
        cJSON_ArrayForEach(it, arr)
        {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
            int rc = read_norm(it, c, sub, depth + 1, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    static const char *const simple[] = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents",
                                         "ByteLevel"};
    static const int simple_kind[] = {DT_HF_NFC,       DT_HF_NFD,          DT_HF_NFKC,
                                      DT_HF_NFKD,      DT_HF_LOWERCASE,    DT_HF_STRIP_ACCENTS,
                                      DT_HF_NORM_BYTE_LEVEL};
    int kind = 0;
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i]) == 0)
            kind = simple_kind[i];
    if (!kind && strcmp(type, "Strip") == 0)
        kind = DT_HF_STRIP;
    if (!kind && strcmp(type, "Replace") == 0)
        kind = DT_HF_REPLACE;
    if (!kind && strcmp(type, "Prepend") == 0)
        kind = DT_HF_PREPEND;
    if (!kind && strcmp(type, "BertNormalizer") == 0)
        kind = DT_HF_BERT;
    if (!kind)
        return dt_error_set(err, DT_EUNSUPPORTED, "%s.type '%.32s' is not supported", path, type);
    struct dt_hf_norm *n = new_norm(c, path, err);
    if (!n)
        return err ? err->code : DT_ENOMEM;
    n->kind = kind;
    if (kind == DT_HF_NORM_BYTE_LEVEL)
        c->byte_level = 1;
    if (kind == DT_HF_STRIP) {
        n->left = bool_of(o, "strip_left", 1);
        n->right = bool_of(o, "strip_right", 1);
    } else if (kind == DT_HF_REPLACE || kind == DT_HF_PREPEND) {
        const char *s = str_of(o, kind == DT_HF_REPLACE ? "content" : "prepend");
        if (!s)
            return dt_error_set(err, DT_EFORMAT, "%s.%s is not a string", path,
                                kind == DT_HF_REPLACE ? "content" : "prepend");
        n->n_str = strlen(s);
        if (!(n->str = dt_strndup(s, n->n_str)))
            return dt_error_set(err, DT_ENOMEM, "out of memory for %s", path);
        if (kind == DT_HF_PREPEND) {
            if (strcmp(s, "\xE2\x96\x81") == 0)
                c->prepends = 1;
            return 0;
        }
        const char *ps = str_of(cJSON_GetObjectItemCaseSensitive(o, "pattern"), "String");
        if (ps && strcmp(ps, " ") == 0 && strcmp(s, "\xE2\x96\x81") == 0)
            c->replaces_space = 1;
        return read_pattern(o, path, &n->re, err);
    } else if (kind == DT_HF_BERT) {
        n->clean_text = bool_of(o, "clean_text", 1);
        n->chinese = bool_of(o, "handle_chinese_chars", 1);
        n->lowercase = bool_of(o, "lowercase", 1);
        n->strip_accents = bool_of(o, "strip_accents", n->lowercase);
    }
    return 0;
}

static int is_byte_token(const char *s, size_t n)
{
    return n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>';
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

/* 1 when a decoder (or one in a Sequence) has the given type. */
static int decoder_has(const cJSON *d, const char *type, int depth)
{
    const char *ty = str_of(d, "type");
    if (!ty || depth > 8)
        return 0;
    if (strcmp(ty, type) == 0)
        return 1;
    const cJSON *it, *arr = cJSON_GetObjectItemCaseSensitive(d, "decoders");
    if (strcmp(ty, "Sequence") == 0 && cJSON_IsArray(arr))
        cJSON_ArrayForEach(it, arr) if (decoder_has(it, type, depth + 1)) return 1;
    return 0;
}

/* The regexes of the Split steps, to name a known pre-tokenizer. */
static size_t split_patterns(const cJSON *p, const char **pats, size_t n, size_t cap, int depth)
{
    const char *ty = str_of(p, "type");
    if (!ty || depth > 8)
        return n;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *it, *arr = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (cJSON_IsArray(arr))
            cJSON_ArrayForEach(it, arr) n = split_patterns(it, pats, n, cap, depth + 1);
    } else if (strcmp(ty, "Split") == 0 || strcmp(ty, "ByteLevel") == 0) {
        const char *re = strcmp(ty, "ByteLevel") == 0
                             ? (bool_of(p, "use_regex", 1) ? RE_GPT2_HF : NULL)
                             : str_of(cJSON_GetObjectItemCaseSensitive(p, "pattern"), "Regex");
        if (re && n < cap)
            pats[n] = re;
        if (re)
            n++;
    } else if (strcmp(ty, "Digits") == 0) {
        if (n < cap)
            pats[n] = bool_of(p, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+";
        n++;
    } else {
        n = cap + 1; /* another kind of step: no llama.cpp name */
    }
    return n;
}

static int read_model(const cJSON *model, struct dt_hf *hf, struct dt_tokenizer *t,
                      struct dt_error *err)
{
    hf->byte_fallback = bool_of(model, "byte_fallback", 0);
    hf->fuse_unk = bool_of(model, "fuse_unk", 0);
    hf->ignore_merges = bool_of(model, "ignore_merges", 0);
    const char *pre = str_of(model, "continuing_subword_prefix");
    const char *suf = str_of(model, "end_of_word_suffix");
    if (pre && *pre) {
        hf->n_prefix = strlen(pre);
        if (!(hf->prefix = dt_strndup(pre, hf->n_prefix)))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    if (suf && *suf) {
        hf->n_suffix = strlen(suf);
        if (!(hf->suffix = dt_strndup(suf, hf->n_suffix)))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    const char *unk = str_of(model, "unk_token");
    hf->unk = -1;
    if (unk) {
        int32_t id = dt_tok_lookup(t, unk, strlen(unk));
        if (id >= 0 && t->tok[id].in_model)
            hf->unk = id;
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        int n = snprintf(s, sizeof s, "<0x%02X>", b);
        int32_t id = dt_tok_lookup(t, s, (size_t)n);
        hf->byte_fb[b] = id >= 0 && t->tok[id].in_model ? id : -1;
    }
    return 0;
}

static int read_added(const cJSON *added, struct dt_hf *hf, struct dt_error *err)
{
    size_t n = cJSON_IsArray(added) ? (size_t)cJSON_GetArraySize(added) : 0;
    hf->added = dt_calloc(n ? n : 1, sizeof *hf->added);
    if (!hf->added)
        return dt_error_set(err, DT_ENOMEM, "out of memory for %zu added tokens", n);
    if (!n)
        return dt_hf_index_added(hf, err);
    const cJSON *it;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int rc = 0;
    cJSON_ArrayForEach(it, added)
    {
        int64_t id = 0;
        get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id);
        const char *s = str_of(it, "content");
        struct dt_hf_added *a = &hf->added[hf->n_added++];
        a->id = (int32_t)id;
        a->special = (uint8_t)bool_of(it, "special", 0);
        a->lstrip = (uint8_t)bool_of(it, "lstrip", 0);
        a->rstrip = (uint8_t)bool_of(it, "rstrip", 0);
        a->single_word = (uint8_t)bool_of(it, "single_word", 0);
        a->normalized = (uint8_t)bool_of(it, "normalized", !a->special);
        size_t ns = strlen(s);
        if (a->normalized && hf->n_norm) {
            /* a normalized token is looked for in the normalized text, normalized itself */
            if ((rc = dt_hf_normalize(hf, s, ns, &sb)) != 0) {
                rc = dt_error_set(err, rc, "added token %lld could not be normalized",
                                  (long long)id);
                break;
            }
            a->text = dt_strndup(sb.data ? sb.data : "", sb.len);
            a->n_text = sb.len;
        } else {
            a->text = dt_strndup(s, ns);
            a->n_text = ns;
        }
        if (!a->text) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory for the added tokens");
            break;
        }
    }
    dt_strbuf_release(&sb);
    return rc ? rc : dt_hf_index_added(hf, err);
}

struct ventry {
    const char *s; /* NUL-terminated in the fast path only when escaped; use n */
    size_t n;
    int64_t id;
};

struct mentry {
    const char *a, *b; /* pair: [a, b]; else a is "a b" */
    size_t na, nb;
    int pair;
};

static int entries_fast(const struct dt_tokjson *fj, struct ventry **ve, size_t *n_ve,
                        struct mentry **me, size_t *n_me, struct dt_error *err)
{
    *ve = dt_malloc_array(fj->n_vocab ? fj->n_vocab : 1, sizeof **ve);
    *me = dt_malloc_array(fj->n_merges ? fj->n_merges : 1, sizeof **me);
    if (!*ve || !*me)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the vocabulary");
    for (size_t k = 0; k < fj->n_vocab; k++) {
        if (fj->vocab[k].id >= DT_TOK_MAX_VOCAB)
            return dt_error_set(err, DT_EFORMAT, "vocab entry %zu has an invalid id", k);
        (*ve)[k] = (struct ventry){dt_tokjson_ptr(fj, &fj->vocab[k].text), fj->vocab[k].text.n,
                                   fj->vocab[k].id};
    }
    for (size_t k = 0; k < fj->n_merges; k++) {
        const struct dt_tokjson_merge *m = &fj->merges[k];
        (*me)[k] = (struct mentry){dt_tokjson_ptr(fj, &m->a), m->pair ? dt_tokjson_ptr(fj, &m->b) : NULL,
                                   m->a.n, m->pair ? m->b.n : 0, m->pair};
    }
    *n_ve = fj->n_vocab;
    *n_me = fj->n_merges;
    return 0;
}

static int entries_slow(const cJSON *vocab, const cJSON *merges, struct ventry **ve,
                        size_t *n_ve, struct mentry **me, size_t *n_me, const char *what,
                        struct dt_error *err)
{
    size_t nv = (size_t)cJSON_GetArraySize(vocab), nm = merges ? (size_t)cJSON_GetArraySize(merges) : 0;
    *ve = dt_malloc_array(nv ? nv : 1, sizeof **ve);
    *me = dt_malloc_array(nm ? nm : 1, sizeof **me);
    if (!*ve || !*me)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the vocabulary");
    const cJSON *it;
    size_t k = 0;
    cJSON_ArrayForEach(it, vocab)
    {
        int64_t id;
        if (get_id(it, &id))
            return dt_error_set(err, DT_EFORMAT, "'%s': vocab entry '%.64s' has an invalid id",
                                what, it->string ? it->string : "");
        const char *s = it->string ? it->string : "";
        (*ve)[k++] = (struct ventry){s, strlen(s), id};
    }
    *n_ve = k;
    k = 0;
    if (merges) {
        cJSON_ArrayForEach(it, merges)
        {
            if (cJSON_IsString(it)) {
                (*me)[k] = (struct mentry){it->valuestring, NULL, strlen(it->valuestring), 0, 0};
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                const char *l = cJSON_GetArrayItem(it, 0)->valuestring;
                const char *r = cJSON_GetArrayItem(it, 1)->valuestring;
                (*me)[k] = (struct mentry){l, r, strlen(l), strlen(r), 1};
            } else {
                return dt_error_set(err, DT_EFORMAT, "'%s': merge %zu is neither \"a b\" nor [a, b]",
                                    what, k);
            }
            k++;
        }
    }
    *n_me = k;
    return 0;
}

static int load(const char *json, size_t n_bytes, const cJSON *config, const char *what,
                struct dt_tokenizer **out, struct dt_error *err)
{
    struct dt_tokenizer *t = NULL;
    struct cfg c = {0};
    struct dt_tokjson fj;
    struct ventry *ve = NULL;
    struct mentry *me = NULL;
    size_t n_ve = 0, n_me = 0;
    int rc = 0;
    int fast = dt_tokjson_scan(json, n_bytes, &fj) == 0;
    cJSON *root = fast ? cJSON_ParseWithLength(fj.rest, fj.n_rest) : NULL;
    if (!root) {
        fast = 0;
        dt_tokjson_release(&fj);
        root = cJSON_ParseWithLength(json, n_bytes);
    }
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
        rc = dt_error_set(err, DT_EUNSUPPORTED, "'%s': model.type '%.32s' is not supported", what,
                          mtype);
        goto done;
    }
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) &&
        !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0)) {
        rc = dt_error_set(err, DT_EUNSUPPORTED,
                          "'%s': model.dropout is not supported (it makes encoding random)", what);
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

    c.hf = dt_calloc(1, sizeof *c.hf);
    if (!c.hf) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory for the tokenizer");
        goto done;
    }
    rc = read_norm(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), &c, "normalizer", 0, err);
    if (!rc)
        rc = read_pre(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &c, "pre_tokenizer",
                      0, err);
    if (rc) {
        dt_error_prefix(err, "'%s'", what);
        goto done;
    }
    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    int byte_level = c.byte_level || decoder_has(decoder, "ByteLevel", 0);
    /* SentencePiece style: "▁" for spaces and <0xXX> byte tokens; anything else keeps its
     * text as its bytes */
    int spm = !byte_level && (c.metaspace || c.replaces_space || decoder_has(decoder, "Metaspace", 0) ||
                              decoder_has(decoder, "ByteFallback", 0) ||
                              bool_of(model, "byte_fallback", 0));
    enum dt_tok_kind kind = byte_level ? DT_TOK_BPE : spm ? DT_TOK_SPM : DT_TOK_TEXT;

    rc = fast ? entries_fast(&fj, &ve, &n_ve, &me, &n_me, err)
              : entries_slow(vocab, merges, &ve, &n_ve, &me, &n_me, what, err);
    if (rc)
        goto done;
    int64_t max_id = -1;
    const cJSON *it;
    for (size_t k = 0; k < n_ve; k++)
        if (ve[k].id > max_id)
            max_id = ve[k].id;
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
    /* a few gaps in the ids occur in real files; a handful of tokens with huge ids is an
     * attempt to make us allocate a huge table */
    size_t n_given = n_ve +
                     (cJSON_IsArray(added) ? (size_t)cJSON_GetArraySize(added) : 0);
    if ((uint64_t)max_id + 1 > 2 * (uint64_t)n_given + 1024) {
        rc = dt_error_set(err, DT_EFORMAT, "'%s': token ids are sparse (id %lld for %zu tokens)",
                          what, (long long)max_id, n_given);
        goto done;
    }
    rc = dt_tok_new(kind, max_id + 1, &t, err);
    if (rc)
        goto done;
    for (size_t k = 0; k < n_ve; k++) {
        int64_t id = ve[k].id;
        const char *s = ve[k].s;
        if (t->tok[id].set) {
            rc = dt_error_set(err, DT_EFORMAT, "'%s': id %lld is given to two vocab entries", what,
                              (long long)id);
            goto done;
        }
        int type = spm && is_byte_token(s, ve[k].n) ? DT_TOKEN_BYTE : DT_TOKEN_NORMAL;
        rc = dt_tok_set_token(t, id, s, ve[k].n, type, 0.0f, err);
        if (rc)
            goto done;
        t->tok[id].in_model = 1;
    }
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(it, added)
        {
            int64_t id = 0;
            get_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id);
            const char *s = str_of(it, "content");
            int type = bool_of(it, "special", 0) ? DT_TOKEN_CONTROL : DT_TOKEN_USER_DEFINED;
            uint8_t in_model = t->tok[id].in_model;
            rc = dt_tok_set_token(t, id, s, strlen(s), type, 0.0f, err);
            if (rc)
                goto done;
            t->tok[id].in_model = in_model;
        }
    }
    rc = dt_tok_index(t, err);
    if (rc)
        goto done;
    rc = read_model(model, c.hf, t, err);
    if (rc)
        goto done;

    rc = dt_tok_reserve_merges(t, n_me, err);
    if (rc)
        goto done;
    t->merge_rank_by_index = 1;
    t->merge_strip_right = c.hf->n_prefix;
    for (size_t i_merge = 0; i_merge < n_me; i_merge++) {
        const struct mentry *m = &me[i_merge];
        rc = m->pair ? dt_tok_add_merge(t, m->a, m->na, m->b, m->nb, i_merge, err)
                     : dt_tok_add_merge_str(t, m->a, m->na, i_merge, err);
        if (rc) {
            dt_error_prefix(err, "'%s'", what);
            goto done;
        }
    }
    rc = read_added(added, c.hf, err);
    if (rc) {
        dt_error_prefix(err, "'%s'", what);
        goto done;
    }

    if (spm) {
        /* scores for the tokenizer hash (and the SPM score getter): earlier merges first */
        for (int32_t id = 0; id < t->n_vocab; id++)
            t->tok[id].score = -1e30f;
        for (size_t k = t->n_merges; k-- > 0;) {
            int32_t res;
            dt_tok_merge_rank(t, t->merge_pairs[2 * k], t->merge_pairs[2 * k + 1], &res);
            t->tok[res].score = -(float)k;
        }
        t->add_space_prefix = c.prepends || c.meta_prefix;
        snprintf(t->pre, sizeof t->pre, "%s", "llama-spm");
    } else {
        const char *pats[DT_TOK_MAX_RE];
        size_t n_pats =
            split_patterns(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), pats, 0,
                           DT_TOK_MAX_RE, 0);
        t->add_space_prefix = 0;
        if (n_pats == 1 && strcmp(pats[0], RE_GPT2_HF) == 0)
            snprintf(t->pre, sizeof t->pre, "%s", "gpt-2");
        else if (n_pats <= DT_TOK_MAX_RE)
            dt_tok_name_pre(t, pats, n_pats);
        else
            snprintf(t->pre, sizeof t->pre, "%s", "custom");
    }
    t->hf = c.hf;
    c.hf = NULL;
    set_special_ids(t, config);
    rc = dt_tok_finish(t, err);
    if (rc)
        goto done;
    *out = t;
    t = NULL;
done:
    dt_free(ve);
    dt_free(me);
    if (fast)
        dt_tokjson_release(&fj);
    dt_hf_free(c.hf);
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

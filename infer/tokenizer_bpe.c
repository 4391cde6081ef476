/*
 * Byte-level BPE (the GPT-2 family: GPT-2, Llama 3, Qwen2, DeepSeek).
 *
 * Text is first split into pieces by the pre-tokenizer: a list of PCRE2 regexes (UTF + UCP,
 * JIT when available) applied in turn, each splitting every piece the previous one produced
 * into its matches and the gaps between them (llama.cpp's unicode_regex_split and the
 * `tokenizers` Split pre-tokenizer with the Isolated behaviour). The regex lists are those of
 * llama.cpp's llama-vocab.cpp for each tokenizer.ggml.pre value; non-ASCII characters are
 * written as \x{...} escapes so no editor or normalizer can change them.
 *
 * Each piece is then encoded: every byte starts as the token of its GPT-2 mapped code point
 * (bytes_to_unicode), and adjacent pairs are merged lowest rank first (ties: leftmost), with
 * a binary heap over a doubly linked list of symbols, so a piece of n bytes costs
 * O(n log n). Merges are looked up by (left id, right id) in a hash table. Invalid UTF-8 in
 * the text is never an error: PCRE2 runs with PCRE2_MATCH_INVALID_UTF, invalid bytes fall
 * into the gaps between matches, and every byte still maps to its own byte token.
 */
#include "infer/tokenizer_bpe.h"

#include "infer/tokenizer_internal.h"
#include "util/alloc.h"
#include "util/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* --- pre-tokenizers ------------------------------------------------------------------ */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_DS_LETTERS                                                                              \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"            \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"         \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}" \
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"  \
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"                 \
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"                 \
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"         \
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"        \
    "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"                 \
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"         \
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"                   \
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"         \
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"                  \
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"                 \
    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"                 \
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"           \
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"
#define RE_DS_PUNCT                                                                                \
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"
#define RE_DS_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

struct pre_def {
    const char *name;
    const char *re[DT_TOK_MAX_RE];
    int ignore_merges;
};

static const struct pre_def pre_defs[] = {
    {"gpt-2", {RE_GPT2}, 0},
    /* llama.cpp runs a different list for a GGUF without tokenizer.ggml.pre; a model that
     * left it out was almost always converted from a GPT-2 style tokenizer.json */
    {"default", {RE_GPT2}, 0},
    {"gpt2", {RE_GPT2}, 0},
    {"llama3", {RE_LLAMA3}, 1},
    {"llama-v3", {RE_LLAMA3}, 1},
    {"llama-bpe", {RE_LLAMA3}, 1},
    {"qwen2", {RE_QWEN2}, 0},
    {"deepseek-r1-qwen", {RE_QWEN2}, 0},
    {"deepseek-llm", {"[\\r\\n]", RE_DS_LETTERS, RE_DS_PUNCT, "\\s+$", RE_DS_CJK, "\\p{N}+"}, 0},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DS_CJK, "\\p{N}"}, 0},
    /* further llama.cpp pre-tokenizers that reuse the lists above */
    {"mpt", {RE_GPT2}, 0},
    {"olmo", {RE_GPT2}, 0},
    {"jais", {RE_GPT2}, 0},
    {"trillion", {RE_GPT2}, 0},
    {"stablelm2", {RE_QWEN2}, 0},
    {"hunyuan", {RE_QWEN2}, 0},
    {"dbrx", {RE_LLAMA3}, 0},
    {"smaug-bpe", {RE_LLAMA3}, 0},
    {"chatglm-bpe", {RE_LLAMA3}, 0},
    {"starcoder", {"\\p{N}", RE_GPT2}, 0},
    {"refact", {"\\p{N}", RE_GPT2}, 0},
    {"command-r", {"\\p{N}", RE_GPT2}, 0},
    {"smollm", {"\\p{N}", RE_GPT2}, 0},
    {"codeshell", {"\\p{N}", RE_GPT2}, 0},
    {"exaone", {"\\p{N}", RE_GPT2}, 0},
    {"minerva-7b", {"\\p{N}", RE_GPT2}, 0},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, 0},
};

void dt_tok_free_regexes(struct dt_tokenizer *t)
{
    for (size_t i = 0; i < t->n_re; i++)
        pcre2_code_free((pcre2_code *)t->re[i]);
    t->n_re = 0;
}

int dt_tok_add_regex(struct dt_tokenizer *t, const char *pattern, size_t n, struct dt_error *err)
{
    if (t->n_re >= DT_TOK_MAX_RE)
        return dt_error_set(err, DT_EUNSUPPORTED, "more than %d pre-tokenizer regexes",
                            DT_TOK_MAX_RE);
    int ecode;
    PCRE2_SIZE eoff;
    /* DOLLAR_ENDONLY: `$` means the end of the piece, as in std::regex */
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, n,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                      &ecode, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return dt_error_set(err, DT_EFORMAT, "pre-tokenizer regex '%.80s': %s at offset %zu",
                            pattern, (const char *)msg, (size_t)eoff);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: interpreted when JIT is absent */
    t->re[t->n_re++] = re;
    return 0;
}

int dt_tok_set_pre(struct dt_tokenizer *t, const char *name, struct dt_error *err)
{
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++) {
        const struct pre_def *d = &pre_defs[i];
        if (strcmp(d->name, name) != 0)
            continue;
        dt_tok_free_regexes(t);
        for (size_t k = 0; k < DT_TOK_MAX_RE && d->re[k]; k++) {
            int rc = dt_tok_add_regex(t, d->re[k], strlen(d->re[k]), err);
            if (rc)
                return rc;
        }
        t->ignore_merges = d->ignore_merges;
        snprintf(t->pre, sizeof t->pre, "%s", name);
        return 0;
    }
    return dt_error_set(err, DT_EUNSUPPORTED, "pre-tokenizer '%.40s' is not supported", name);
}

void dt_tok_name_pre(struct dt_tokenizer *t, const char *const *patterns, size_t n)
{
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++) {
        const struct pre_def *d = &pre_defs[i];
        size_t k = 0;
        while (k < n && k < DT_TOK_MAX_RE && d->re[k] && strcmp(d->re[k], patterns[k]) == 0)
            k++;
        if (k == n && (k == DT_TOK_MAX_RE || !d->re[k])) {
            snprintf(t->pre, sizeof t->pre, "%s", d->name);
            return;
        }
    }
    snprintf(t->pre, sizeof t->pre, "%s", "custom");
}

/* --- pre-tokenizing ------------------------------------------------------------------ */

static int ensure(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = dt_realloc_array(*p, c, elem);
    if (!q)
        return DT_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int push_piece(struct dt_tok_work *w, int k, size_t *n, size_t off, size_t len)
{
    if (ensure((void **)&w->pieces[k], &w->cap_pieces[k], 2 * (*n + 1), sizeof(size_t)))
        return DT_ENOMEM;
    w->pieces[k][2 * *n] = off;
    w->pieces[k][2 * *n + 1] = len;
    (*n)++;
    return 0;
}

/* Splits text into pieces (offset, length pairs in w->pieces[*which]). */
static int pretokenize(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *text,
                       size_t n, int *which, size_t *n_pieces, struct dt_error *err)
{
    int cur = 0;
    size_t n_cur = 0;
    if (push_piece(w, cur, &n_cur, 0, n))
        return dt_error_set(err, DT_ENOMEM, "out of memory pre-tokenizing");
    for (size_t r = 0; r < t->n_re; r++) {
        const pcre2_code *re = t->re[r];
        if (!w->md) {
            w->md = pcre2_match_data_create(4, NULL);
            if (!w->md)
                return dt_error_set(err, DT_ENOMEM, "out of memory for regex match data");
        }
        int nxt = !cur;
        size_t n_nxt = 0;
        for (size_t p = 0; p < n_cur; p++) {
            size_t off = w->pieces[cur][2 * p], len = w->pieces[cur][2 * p + 1];
            const char *s = text + off;
            size_t pos = 0, last = 0;
            while (pos <= len) {
                int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, 0, w->md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH)
                    break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    return dt_error_set(err, DT_EINTERNAL, "pre-tokenizer regex failed: %s",
                                        (const char *)msg);
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
                size_t ms = ov[0], me = ov[1];
                if (me <= ms) {
                    /* empty match: step over one character */
                    pos = ms + 1;
                    while (pos < len && ((unsigned char)s[pos] & 0xC0) == 0x80)
                        pos++;
                    continue;
                }
                if (ms > last && push_piece(w, nxt, &n_nxt, off + last, ms - last))
                    return dt_error_set(err, DT_ENOMEM, "out of memory pre-tokenizing");
                if (push_piece(w, nxt, &n_nxt, off + ms, me - ms))
                    return dt_error_set(err, DT_ENOMEM, "out of memory pre-tokenizing");
                last = pos = me;
            }
            if (len > last && push_piece(w, nxt, &n_nxt, off + last, len - last))
                return dt_error_set(err, DT_ENOMEM, "out of memory pre-tokenizing");
        }
        cur = nxt;
        n_cur = n_nxt;
    }
    *which = cur;
    *n_pieces = n_cur;
    return 0;
}

/* --- merging ------------------------------------------------------------------------- */

struct bigram {
    int32_t rank;
    int32_t left; /* symbol index */
    int32_t lid, rid;
};

static int bigram_less(const struct bigram *a, const struct bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(struct dt_tok_work *w, struct bigram b)
{
    if (ensure(&w->heap, &w->cap_heap, w->n_heap + 1, sizeof b))
        return DT_ENOMEM;
    struct bigram *h = w->heap;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_less(&b, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = b;
    return 0;
}

static struct bigram heap_pop(struct dt_tok_work *w)
{
    struct bigram *h = w->heap;
    struct bigram top = h[0], last = h[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_less(&h[c + 1], &h[c]))
            c++;
        if (!bigram_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

static int try_pair(const struct dt_tokenizer *t, struct dt_tok_work *w, int32_t l)
{
    if (l < 0)
        return 0;
    int32_t r = w->sym_next[l];
    if (r < 0)
        return 0;
    int32_t lid = w->sym_id[l], rid = w->sym_id[r], res;
    if (lid < 0 || rid < 0)
        return 0;
    int32_t rank = dt_tok_merge_rank(t, lid, rid, &res);
    if (rank < 0)
        return 0;
    struct bigram b = {rank, l, lid, rid};
    return heap_push(w, b);
}

static int encode_piece(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *s,
                        size_t n, struct dt_tok_ids *out)
{
    if (n == 0)
        return 0;
    if (n == 1) {
        int32_t id = t->byte_tok[(unsigned char)s[0]];
        return id >= 0 ? dt_tok_ids_push(out, id) : 0;
    }
    if (n > INT32_MAX / 2)
        return DT_ENOMEM;
    if (t->ignore_merges) {
        /* llama3: a piece that is already a token is taken whole */
        if (ensure((void **)&w->buf, &w->cap_buf, 2 * n, 1))
            return DT_ENOMEM;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = dt_tok_byte_to_cp((uint8_t)s[i]);
            if (cp < 0x80) {
                w->buf[o++] = (char)cp;
            } else {
                w->buf[o++] = (char)(0xC0 | (cp >> 6));
                w->buf[o++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        int32_t id = dt_tok_lookup(t, w->buf, o);
        if (id >= 0)
            return dt_tok_ids_push(out, id);
    }
    if (dt_tok_work_symbols(w, n))
        return DT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        w->sym_id[i] = t->byte_tok[(unsigned char)s[i]];
    return dt_tok_bpe_merge(t, w, n, out);
}

int dt_tok_bpe_merge(const struct dt_tokenizer *t, struct dt_tok_work *w, size_t n,
                     struct dt_tok_ids *out)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        w->sym_prev[i] = (int32_t)i - 1;
        w->sym_next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    w->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (try_pair(t, w, (int32_t)i))
            return DT_ENOMEM;
    while (w->n_heap) {
        struct bigram b = heap_pop(w);
        int32_t l = b.left, r = w->sym_next[l];
        /* stale entries: the left symbol was absorbed, or either side changed */
        if (w->sym_id[l] != b.lid || r < 0 || w->sym_id[r] != b.rid)
            continue;
        int32_t res;
        dt_tok_merge_rank(t, b.lid, b.rid, &res);
        w->sym_id[l] = res;
        w->sym_id[r] = -2; /* dead */
        w->sym_next[l] = w->sym_next[r];
        if (w->sym_next[r] >= 0)
            w->sym_prev[w->sym_next[r]] = l;
        if (try_pair(t, w, w->sym_prev[l]) || try_pair(t, w, l))
            return DT_ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = w->sym_next[i]) {
        /* a byte with no token in the vocabulary is dropped, as llama.cpp does */
        if (w->sym_id[i] >= 0 && dt_tok_ids_push(out, w->sym_id[i]))
            return DT_ENOMEM;
    }
    return 0;
}

int dt_tok_bpe_encode(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *text,
                      size_t n, struct dt_tok_ids *out, struct dt_error *err)
{
    const char *s = text;
    if (n == 0)
        return 0;
    if (t->add_prefix_space && text[0] != ' ') {
        /* ByteLevel(add_prefix_space): the segment reads as if a space preceded it */
        char *copy = dt_malloc(n + 1);
        if (!copy)
            return dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
        copy[0] = ' ';
        memcpy(copy + 1, text, n);
        s = copy;
        n++;
    }
    int which = 0, rc = 0;
    size_t n_pieces = 0;
    rc = pretokenize(t, w, s, n, &which, &n_pieces, err);
    for (size_t p = 0; rc == 0 && p < n_pieces; p++) {
        size_t off = w->pieces[which][2 * p], len = w->pieces[which][2 * p + 1];
        if (encode_piece(t, w, s + off, len, out))
            rc = dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
    }
    if (s != text)
        dt_free((void *)s);
    return rc;
}

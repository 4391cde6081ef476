/*
 * The Hugging Face `tokenizers` encoding pipeline, for tokenizers loaded from a
 * tokenizer.json (tokenizer_json.c fills struct dt_hf), in the library's own order:
 *
 *   1. added tokens with normalized = false are split out of the raw text (leftmost-longest,
 *      with their lstrip / rstrip / single_word flags);
 *   2. each piece between them is normalized (the normalizer list: NFC/NFD/NFKC/NFKD through
 *      utf8proc, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer, ByteLevel),
 *      and the added tokens with normalized = true (their content normalized the same way)
 *      are split out of the normalized text;
 *   3. the pre-tokenizer steps run in turn over the list of pieces: Split by a regex or a
 *      character class with one of the five behaviours (Removed, Isolated, MergedWithPrevious,
 *      MergedWithNext, Contiguous) and `invert`; ByteLevel's prefix space and byte-to-char
 *      mapping; Metaspace's replacement and prepend scheme (Whitespace, WhitespaceSplit,
 *      Punctuation, Digits, BertPreTokenizer, CharDelimiterSplit are Split steps);
 *   4. the BPE model encodes each piece: characters (with continuing_subword_prefix /
 *      end_of_word_suffix) looked up in model.vocab, byte fallback <0xXX>, unk (fused or not),
 *      ignore_merges, then merges by rank (ties leftmost) as the library's Word::merge_all.
 *
 * Regexes run with PCRE2 in UTF + UCP mode with Oniguruma's (Ruby syntax) conventions: `^`
 * and `$` are line anchors, the newline is LF. Matches are enumerated as the onig crate's
 * find_iter does: an empty match right where the previous match ended is skipped. Character
 * classes follow Rust's char methods (is_whitespace: White_Space = Zs, Zl, Zp, U+0009-000D,
 * U+0085; is_numeric: Nd, Nl, No) with general categories from utf8proc. Lowercase is
 * utf8proc's simple lowercase plus the one unconditional multi-character mapping of
 * SpecialCasing.txt (U+0130 -> "i\u0307"), as Rust's char::to_lowercase.
 *
 * The input may hold invalid UTF-8 (the library takes only valid strings): an invalid byte is
 * a one-byte character of no category that every normalizer leaves as it is.
 *
 * Offsets are not tracked, except the one fact Metaspace's prepend_scheme "first" needs: a
 * piece is "first" when it starts at offset 0 of the input.
 */
#include "infer/tokenizer_hf.h"

#include "infer/tokenizer_bpe.h"
#include "infer/tokenizer_internal.h"
#include "util/alloc.h"
#include "util/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>
#include <utf8proc.h>

/* --- characters --------------------------------------------------------------------- */

/* Length of the UTF-8 character at s (1 for an invalid byte, cp = -1). */
static size_t next_char(const char *s, size_t n, int32_t *cp)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c);
    if (len <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)len;
}

/* Length of the character that ends at s + n (for scanning backwards). */
static size_t prev_char(const char *s, size_t n, int32_t *cp)
{
    size_t k = 1;
    while (k < 4 && k < n && ((unsigned char)s[n - k] & 0xC0) == 0x80)
        k++;
    size_t len = next_char(s + n - k, k, cp);
    if (len != k) {
        *cp = -1;
        return 1;
    }
    return k;
}

static int cat_of(int32_t c)
{
    return c < 0 ? -1 : (int)utf8proc_category(c);
}

static int is_ws(int32_t c)
{
    if ((c >= 9 && c <= 13) || c == 0x85)
        return 1;
    int k = cat_of(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_punct(int32_t c)
{
    if (c >= 0 && c < 0x80)
        return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
               (c >= '{' && c <= '~');
    int k = cat_of(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static int is_numeric(int32_t c)
{
    int k = cat_of(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* What StripAccents removes: every combining mark (Mn, Mc, Me). */
static int is_mark(int32_t c)
{
    int k = cat_of(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* What BertNormalizer's strip_accents removes: nonspacing marks (Mn) only. */
static int is_nonspacing_mark(int32_t c)
{
    return cat_of(c) == UTF8PROC_CATEGORY_MN;
}

/* Rust regex-syntax's \w: letters, marks, decimal digits, connector punctuation, joiners. */
static int is_word(int32_t c)
{
    int k = cat_of(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D;
}

static void put_cp(struct dt_strbuf *o, int32_t c)
{
    utf8proc_uint8_t b[4];
    utf8proc_ssize_t n = utf8proc_encode_char(c, b);
    dt_strbuf_append(o, b, (size_t)n);
}

/* --- regex matches ------------------------------------------------------------------ */

struct span {
    size_t s, e;
    int m;      /* is a match */
    int32_t id; /* added token, -1 */
};

struct spans {
    struct span *v;
    size_t n, cap;
};

static int span_push(struct spans *a, size_t s, size_t e, int m, int32_t id)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 32;
        struct span *v = dt_realloc_array(a->v, c, sizeof *v);
        if (!v)
            return DT_ENOMEM;
        a->v = v;
        a->cap = c;
    }
    a->v[a->n++] = (struct span){s, e, m, id};
    return 0;
}

int dt_hf_compile(const char *pattern, size_t n, void **re, struct dt_error *err)
{
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc)
        return dt_error_set(err, DT_ENOMEM, "out of memory compiling a regex");
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)pattern, n,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE, &ecode,
                      &eoff, cc);
    pcre2_compile_context_free(cc);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return dt_error_set(err, DT_EFORMAT, "regex '%.80s': %s at offset %zu", pattern,
                            (const char *)msg, (size_t)eoff);
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    *re = c;
    return 0;
}

/* Matches of re in s as the onig crate's find_iter gives them, with the gaps between:
 * spans covering s in order (an empty s gives no span). */
static int regex_spans(const void *re, void **md, const char *s, size_t n, struct spans *out)
{
    out->n = 0;
    if (n == 0)
        return 0;
    if (!*md && !(*md = pcre2_match_data_create(1, NULL)))
        return DT_ENOMEM;
    size_t pos = 0, prev = 0;
    int have_prev = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, *md, NULL);
        if (rc < 0)
            break; /* no match (or a matching error: the rest is one gap) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(*md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms || me > n)
            break;
        if (ms == me && have_prev && prev == pos) {
            int32_t cp;
            if (pos >= n)
                break;
            pos += next_char(s + pos, n - pos, &cp);
            continue;
        }
        if (ms > (out->n ? out->v[out->n - 1].e : 0) &&
            span_push(out, out->n ? out->v[out->n - 1].e : 0, ms, 0, -1))
            return DT_ENOMEM;
        if (span_push(out, ms, me, 1, -1))
            return DT_ENOMEM;
        prev = pos = me;
        have_prev = 1;
    }
    size_t last = out->n ? out->v[out->n - 1].e : 0;
    if (last < n && span_push(out, last, n, 0, -1))
        return DT_ENOMEM;
    return 0;
}

/* Every character for which pred holds is a match of its own. */
static int class_spans(int (*pred)(int32_t), const char *s, size_t n, struct spans *out)
{
    out->n = 0;
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t len = next_char(s + i, n - i, &cp);
        if (pred(cp)) {
            if (last < i && span_push(out, last, i, 0, -1))
                return DT_ENOMEM;
            if (span_push(out, i, i + len, 1, -1))
                return DT_ENOMEM;
            last = i + len;
        }
        i += len;
    }
    if (last < n && span_push(out, last, n, 0, -1))
        return DT_ENOMEM;
    return 0;
}

/* --- normalizers -------------------------------------------------------------------- */

struct hf_work {
    struct dt_tok_work tw; /* symbols and heap for the merges */
    void *md;              /* pcre2_match_data * */
    struct spans sp, raw, nrm;
    struct dt_strbuf a, b, tmp, norm;
    int32_t *u32;
    size_t cap_u32;
    struct piece {
        size_t off, len;
        int first;
    } * pa, *pb;
    size_t n_pa, n_pb, cap_pa, cap_pb;
};

static void work_release(struct hf_work *w)
{
    dt_tok_work_release(&w->tw);
    if (w->md)
        pcre2_match_data_free(w->md);
    dt_free(w->sp.v);
    dt_free(w->raw.v);
    dt_free(w->nrm.v);
    dt_strbuf_release(&w->a);
    dt_strbuf_release(&w->b);
    dt_strbuf_release(&w->tmp);
    dt_strbuf_release(&w->norm);
    dt_free(w->u32);
    dt_free(w->pa);
    dt_free(w->pb);
}

/* NFC / NFD / NFKC / NFKD of each run of valid UTF-8 (invalid bytes pass through). */
static int unicode_form(int kind, const char *s, size_t n, struct dt_strbuf *o, int32_t **u32,
                        size_t *cap)
{
    /* decompose (canonical order included), then compose for the C forms */
    utf8proc_option_t dec = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    if (kind == DT_HF_NFKC || kind == DT_HF_NFKD)
        dec |= UTF8PROC_COMPAT;
    int compose = kind == DT_HF_NFC || kind == DT_HF_NFKC;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n) {
            int32_t cp;
            size_t len = next_char(s + j, n - j, &cp);
            if (cp < 0)
                break;
            j += len;
        }
        if (j > i) {
            /* decomposition grows a character to at most 18 code points (utf8proc's bound is
             * per call; ask it for the size first) */
            utf8proc_ssize_t need = utf8proc_decompose((const utf8proc_uint8_t *)s + i,
                                                       (utf8proc_ssize_t)(j - i), NULL, 0, dec);
            if (need < 0)
                return DT_EINTERNAL;
            if ((size_t)need + 1 > *cap) {
                size_t c = (size_t)need + 64;
                int32_t *v = dt_realloc_array(*u32, c, sizeof *v);
                if (!v)
                    return DT_ENOMEM;
                *u32 = v;
                *cap = c;
            }
            utf8proc_ssize_t got = utf8proc_decompose((const utf8proc_uint8_t *)s + i,
                                                      (utf8proc_ssize_t)(j - i), *u32, need, dec);
            if (got < 0 || got > need)
                return DT_EINTERNAL;
            if (compose) {
                got = utf8proc_normalize_utf32(*u32, got, dec | UTF8PROC_COMPOSE);
                if (got < 0)
                    return DT_EINTERNAL;
            }
            for (utf8proc_ssize_t k = 0; k < got; k++)
                put_cp(o, (*u32)[k]);
            i = j;
        }
        if (i < n) {
            int32_t cp;
            if (next_char(s + i, n - i, &cp) == 1 && cp < 0) {
                dt_strbuf_putc(o, s[i]);
                i++;
            }
        }
    }
    return 0;
}

static void lowercase(const char *s, size_t n, struct dt_strbuf *o)
{
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t len = next_char(s + i, n - i, &cp);
        if (cp < 0)
            dt_strbuf_append(o, s + i, len);
        else if (cp == 0x130)
            dt_strbuf_append(o, "i\xCC\x87", 3);
        else
            put_cp(o, utf8proc_tolower(cp));
        i += len;
    }
}

static int is_chinese(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BertNormalizer's control characters: Cc, Cf, Cs, Co (unassigned code points stay). */
static int is_other(int32_t c)
{
    return cat_of(c) >= UTF8PROC_CATEGORY_CC;
}

static int apply_norm(const struct dt_hf_norm *nm, struct hf_work *w, const char *s, size_t n,
                      struct dt_strbuf *o)
{
    switch (nm->kind) {
    case DT_HF_NFC:
    case DT_HF_NFD:
    case DT_HF_NFKC:
    case DT_HF_NFKD:
        return unicode_form(nm->kind, s, n, o, &w->u32, &w->cap_u32);
    case DT_HF_LOWERCASE:
        lowercase(s, n, o);
        return 0;
    case DT_HF_STRIP: {
        size_t b = 0, e = n;
        int32_t cp;
        while (nm->left && b < e) {
            size_t len = next_char(s + b, e - b, &cp);
            if (!is_ws(cp))
                break;
            b += len;
        }
        while (nm->right && e > b) {
            size_t len = prev_char(s + b, e - b, &cp);
            if (!is_ws(cp))
                break;
            e -= len;
        }
        dt_strbuf_append(o, s + b, e - b);
        return 0;
    }
    case DT_HF_STRIP_ACCENTS:
        for (size_t i = 0; i < n;) {
            int32_t cp;
            size_t len = next_char(s + i, n - i, &cp);
            if (!is_mark(cp))
                dt_strbuf_append(o, s + i, len);
            i += len;
        }
        return 0;
    case DT_HF_REPLACE: {
        int rc = regex_spans(nm->re, &w->md, s, n, &w->sp);
        if (rc)
            return rc;
        for (size_t k = 0; k < w->sp.n; k++) {
            const struct span *p = &w->sp.v[k];
            if (p->m)
                dt_strbuf_append(o, nm->str, nm->n_str);
            else
                dt_strbuf_append(o, s + p->s, p->e - p->s);
        }
        return 0;
    }
    case DT_HF_PREPEND:
        if (n)
            dt_strbuf_append(o, nm->str, nm->n_str);
        dt_strbuf_append(o, s, n);
        return 0;
    case DT_HF_NORM_BYTE_LEVEL:
        for (size_t i = 0; i < n; i++)
            put_cp(o, (int32_t)dt_tok_byte_to_cp((uint8_t)s[i]));
        return 0;
    case DT_HF_BERT: {
        /* clean_text, chinese chars, strip accents (after NFD), lowercase: in that order */
        struct dt_strbuf *x = &w->tmp;
        dt_strbuf_reset(x);
        for (size_t i = 0; i < n;) {
            int32_t cp;
            size_t len = next_char(s + i, n - i, &cp);
            i += len;
            if (nm->clean_text && cp >= 0) {
                if (cp == 0 || cp == 0xFFFD ||
                    (cp != '\t' && cp != '\n' && cp != '\r' && is_other(cp)))
                    continue;
                if (is_ws(cp))
                    cp = ' ';
            }
            if (nm->chinese && is_chinese(cp)) {
                dt_strbuf_putc(x, ' ');
                put_cp(x, cp);
                dt_strbuf_putc(x, ' ');
            } else if (cp < 0) {
                dt_strbuf_append(x, s + i - len, len);
            } else {
                put_cp(x, cp);
            }
        }
        if (dt_strbuf_failed(x))
            return DT_ENOMEM;
        struct dt_strbuf y = DT_STRBUF_INIT;
        const char *cur = x->data ? x->data : "";
        size_t n_cur = x->len;
        if (nm->strip_accents) {
            int rc = unicode_form(DT_HF_NFD, cur, n_cur, &y, &w->u32, &w->cap_u32);
            if (rc) {
                dt_strbuf_release(&y);
                return rc;
            }
            dt_strbuf_reset(x);
            for (size_t i = 0; i < y.len;) {
                int32_t cp;
                size_t len = next_char(y.data + i, y.len - i, &cp);
                if (!is_nonspacing_mark(cp))
                    dt_strbuf_append(x, y.data + i, len);
                i += len;
            }
            cur = x->data ? x->data : "";
            n_cur = x->len;
        }
        if (nm->lowercase)
            lowercase(cur, n_cur, o);
        else
            dt_strbuf_append(o, cur, n_cur);
        dt_strbuf_release(&y);
        return 0;
    }
    }
    return DT_EINTERNAL;
}

/* Runs every normalizer; the result is in w->norm. */
static int normalize(const struct dt_hf *hf, struct hf_work *w, const char *s, size_t n)
{
    struct dt_strbuf *cur = &w->norm, *nxt = &w->b;
    dt_strbuf_reset(cur);
    dt_strbuf_append(cur, s, n);
    for (size_t k = 0; k < hf->n_norm; k++) {
        dt_strbuf_reset(nxt);
        int rc = apply_norm(&hf->norm[k], w, cur->data ? cur->data : "", cur->len, nxt);
        if (rc)
            return rc;
        struct dt_strbuf t = *cur;
        *cur = *nxt;
        *nxt = t;
    }
    return dt_strbuf_failed(cur) ? DT_ENOMEM : 0;
}

int dt_hf_normalize(const struct dt_hf *hf, const char *s, size_t n, struct dt_strbuf *out)
{
    struct hf_work w = {0};
    int rc = normalize(hf, &w, s, n);
    if (rc == 0) {
        dt_strbuf_reset(out);
        dt_strbuf_append(out, w.norm.data ? w.norm.data : "", w.norm.len);
        if (dt_strbuf_failed(out))
            rc = DT_ENOMEM;
    }
    work_release(&w);
    return rc;
}

/* --- added tokens ------------------------------------------------------------------- */

static int cmp_added(const void *a, const void *b)
{
    const struct dt_hf_added *x = a, *y = b;
    unsigned char cx = (unsigned char)x->text[0], cy = (unsigned char)y->text[0];
    if (cx != cy)
        return cx < cy ? -1 : 1;
    if (x->n_text != y->n_text)
        return x->n_text > y->n_text ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int dt_hf_index_added(struct dt_hf *hf, struct dt_error *err)
{
    for (int k = 0; k < 2; k++) {
        size_t m = 0;
        for (size_t i = 0; i < hf->n_added; i++)
            if (hf->added[i].n_text && hf->added[i].normalized == k)
                m++;
        dt_free(hf->added_by[k]);
        hf->added_by[k] = dt_malloc_array(m ? m : 1, sizeof *hf->added_by[k]);
        if (!hf->added_by[k])
            return dt_error_set(err, DT_ENOMEM, "out of memory for the added tokens");
        m = 0;
        for (size_t i = 0; i < hf->n_added; i++)
            if (hf->added[i].n_text && hf->added[i].normalized == k)
                hf->added_by[k][m++] = hf->added[i];
        qsort(hf->added_by[k], m, sizeof *hf->added_by[k], cmp_added);
        hf->n_added_by[k] = m;
        size_t j = 0;
        for (int b = 0; b <= 256; b++) {
            while (j < m && b < 256 && (unsigned char)hf->added_by[k][j].text[0] < b)
                j++;
            hf->added_start[k][b] = (uint32_t)(b == 256 ? m : j);
        }
    }
    return 0;
}

/* The `tokenizers` AddedVocabulary::find_matches over s with one trie: spans with id >= 0
 * for added tokens, -1 for the text between them. */
static int added_spans(const struct dt_hf *hf, int which, const char *s, size_t n,
                       int parse_special, struct spans *out)
{
    out->n = 0;
    size_t start_offset = 0;
    const struct dt_hf_added *list = hf->added_by[which];
    if (hf->n_added_by[which]) {
        for (size_t i = 0; i < n;) {
            unsigned char c = (unsigned char)s[i];
            const struct dt_hf_added *hit = NULL;
            for (uint32_t k = hf->added_start[which][c]; k < hf->added_start[which][c + 1]; k++) {
                const struct dt_hf_added *a = &list[k];
                if (a->special && !parse_special)
                    continue;
                if (a->n_text <= n - i && memcmp(a->text, s + i, a->n_text) == 0) {
                    hit = a;
                    break;
                }
            }
            if (!hit) {
                i++;
                continue;
            }
            size_t start = i, stop = i + hit->n_text;
            i = stop; /* the automaton goes on after the match */
            int32_t cp;
            if (hit->single_word) {
                int start_space = start == 0 || (prev_char(s, start, &cp), !is_word(cp));
                int stop_space = stop == n || (next_char(s + stop, n - stop, &cp), !is_word(cp));
                if (!start_space || !stop_space)
                    continue;
            }
            if (hit->lstrip) {
                size_t b = start;
                while (b > 0) {
                    size_t len = prev_char(s, b, &cp);
                    if (!is_ws(cp))
                        break;
                    b -= len;
                }
                start = b > start_offset ? b : start_offset;
            }
            if (hit->rstrip) {
                while (stop < n) {
                    size_t len = next_char(s + stop, n - stop, &cp);
                    if (!is_ws(cp))
                        break;
                    stop += len;
                }
            }
            if (start_offset < start && span_push(out, start_offset, start, 0, -1))
                return DT_ENOMEM;
            if (span_push(out, start, stop, 1, hit->id))
                return DT_ENOMEM;
            start_offset = stop;
        }
    }
    if (start_offset < n && span_push(out, start_offset, n, 0, -1))
        return DT_ENOMEM;
    return 0;
}

/* --- pre-tokenizer ------------------------------------------------------------------ */

static int piece_push(struct piece **v, size_t *n, size_t *cap, size_t off, size_t len, int first)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct piece *p = dt_realloc_array(*v, c, sizeof *p);
        if (!p)
            return DT_ENOMEM;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = (struct piece){off, len, first};
    return 0;
}

/* Applies a split behaviour to w->sp in place (the `tokenizers` NormalizedString::split). */
static void behave(struct spans *sp, int behavior, int invert)
{
    size_t k = 0;
    if (invert)
        for (size_t i = 0; i < sp->n; i++)
            sp->v[i].m = !sp->v[i].m;
    switch (behavior) {
    case DT_HF_ISOLATED:
        for (size_t i = 0; i < sp->n; i++)
            sp->v[i].m = 0;
        return;
    case DT_HF_REMOVED:
        return;
    case DT_HF_CONTIGUOUS: {
        int prev = 0;
        for (size_t i = 0; i < sp->n; i++) {
            int m = sp->v[i].m;
            if (m == prev && k > 0)
                sp->v[k - 1].e = sp->v[i].e;
            else
                sp->v[k++] = (struct span){sp->v[i].s, sp->v[i].e, 0, -1};
            prev = m;
        }
        break;
    }
    case DT_HF_MERGED_PREV: {
        int prev = 0;
        for (size_t i = 0; i < sp->n; i++) {
            int m = sp->v[i].m;
            if (m && !prev && k > 0)
                sp->v[k - 1].e = sp->v[i].e;
            else
                sp->v[k++] = (struct span){sp->v[i].s, sp->v[i].e, 0, -1};
            prev = m;
        }
        break;
    }
    case DT_HF_MERGED_NEXT: {
        /* right to left, written from the end of the array */
        int prev = 0;
        size_t top = sp->n; /* output occupies [top, sp->n) */
        for (size_t i = sp->n; i-- > 0;) {
            struct span cur = sp->v[i];
            if (cur.m && !prev && top < sp->n)
                sp->v[top].s = cur.s;
            else
                sp->v[--top] = (struct span){cur.s, cur.e, 0, -1};
            prev = cur.m;
        }
        memmove(sp->v, sp->v + top, (sp->n - top) * sizeof *sp->v);
        k = sp->n - top;
        break;
    }
    }
    sp->n = k;
}

static int pre_step(const struct dt_hf_pre *st, struct hf_work *w, const char *in,
                    const struct piece *p, struct dt_strbuf *ob, struct piece **ov, size_t *on,
                    size_t *ocap)
{
    const char *s = in + p->off;
    size_t n = p->len;
    switch (st->kind) {
    case DT_HF_SPLIT: {
        int rc;
        if (st->pattern == DT_HF_PAT_REGEX)
            rc = regex_spans(st->re, &w->md, s, n, &w->sp);
        else
            rc = class_spans(st->pattern == DT_HF_PAT_WHITESPACE ? is_ws
                             : st->pattern == DT_HF_PAT_PUNCT    ? is_punct
                                                                 : is_numeric,
                             s, n, &w->sp);
        if (rc)
            return rc;
        behave(&w->sp, st->behavior, st->invert);
        for (size_t k = 0; k < w->sp.n; k++) {
            const struct span *x = &w->sp.v[k];
            if (x->m || x->e <= x->s)
                continue; /* removed, or empty */
            if (piece_push(ov, on, ocap, ob->len, x->e - x->s, p->first && x->s == 0))
                return DT_ENOMEM;
            dt_strbuf_append(ob, s + x->s, x->e - x->s);
        }
        return 0;
    }
    case DT_HF_PREFIX_SPACE: {
        size_t off = ob->len;
        if (s[0] != ' ')
            dt_strbuf_putc(ob, ' ');
        dt_strbuf_append(ob, s, n);
        return piece_push(ov, on, ocap, off, ob->len - off, p->first);
    }
    case DT_HF_BYTES_TO_CHARS: {
        size_t off = ob->len;
        for (size_t i = 0; i < n; i++)
            put_cp(ob, (int32_t)dt_tok_byte_to_cp((uint8_t)s[i]));
        return piece_push(ov, on, ocap, off, ob->len - off, p->first);
    }
    case DT_HF_METASPACE: {
        size_t off = ob->len;
        dt_strbuf_reset(&w->tmp);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ')
                dt_strbuf_append(&w->tmp, st->repl, st->n_repl);
            else
                dt_strbuf_putc(&w->tmp, s[i]);
        }
        if (dt_strbuf_failed(&w->tmp))
            return DT_ENOMEM;
        int starts = w->tmp.len >= st->n_repl && memcmp(w->tmp.data, st->repl, st->n_repl) == 0;
        if (!starts && (st->prepend == DT_HF_PREPEND_ALWAYS ||
                        (st->prepend == DT_HF_PREPEND_FIRST && p->first)))
            dt_strbuf_append(ob, st->repl, st->n_repl);
        dt_strbuf_append(ob, w->tmp.data, w->tmp.len);
        return piece_push(ov, on, ocap, off, ob->len - off, p->first);
    }
    }
    return DT_EINTERNAL;
}

/* --- model -------------------------------------------------------------------------- */

static int32_t model_lookup(const struct dt_tokenizer *t, const char *s, size_t n)
{
    int32_t id = dt_tok_lookup(t, s, n);
    return id >= 0 && t->tok[id].in_model ? id : -1;
}

static int model_bpe(const struct dt_tokenizer *t, struct hf_work *w, const char *s, size_t n,
                     struct dt_tok_ids *out)
{
    const struct dt_hf *hf = t->hf;
    if (n == 0)
        return 0;
    if (hf->ignore_merges) {
        int32_t id = model_lookup(t, s, n);
        if (id >= 0)
            return dt_tok_ids_push(out, id);
    }
    size_t cap;
    if (dt_mul_overflow(n, 1 + hf->n_prefix, &cap) || dt_add_overflow(cap, hf->n_suffix + 1, &cap) ||
        cap > INT32_MAX || dt_tok_work_symbols(&w->tw, cap))
        return DT_ENOMEM;
    int32_t *sym = w->tw.sym_id;
    size_t n_sym = 0;
    int32_t unk = -1; /* pending unknown */
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t len = next_char(s + i, n - i, &cp);
        int first = i == 0, last = i + len == n;
        const char *c = s + i;
        size_t n_c = len;
        if ((!first && hf->n_prefix) || (last && hf->n_suffix)) {
            dt_strbuf_reset(&w->tmp);
            if (!first)
                dt_strbuf_append(&w->tmp, hf->prefix, hf->n_prefix);
            dt_strbuf_append(&w->tmp, s + i, len);
            if (last)
                dt_strbuf_append(&w->tmp, hf->suffix, hf->n_suffix);
            if (dt_strbuf_failed(&w->tmp))
                return DT_ENOMEM;
            c = w->tmp.data;
            n_c = w->tmp.len;
        }
        i += len;
        int32_t id = model_lookup(t, c, n_c);
        if (id >= 0) {
            if (unk >= 0)
                sym[n_sym++] = unk;
            unk = -1;
            sym[n_sym++] = id;
            continue;
        }
        if (hf->byte_fallback) {
            size_t k = 0;
            while (k < n_c && hf->byte_fb[(unsigned char)c[k]] >= 0)
                k++;
            if (k == n_c) {
                for (k = 0; k < n_c; k++)
                    sym[n_sym++] = hf->byte_fb[(unsigned char)c[k]];
                continue;
            }
        }
        if (hf->unk >= 0) {
            if (unk >= 0 && !hf->fuse_unk)
                sym[n_sym++] = unk;
            unk = hf->unk;
        }
    }
    if (unk >= 0)
        sym[n_sym++] = unk;
    return dt_tok_bpe_merge(t, &w->tw, n_sym, out);
}

/* Pre-tokenizes one normalized piece and runs the model on every part. */
static int pre_and_model(const struct dt_tokenizer *t, struct hf_work *w, const char *s, size_t n,
                         int first, struct dt_tok_ids *out)
{
    const struct dt_hf *hf = t->hf;
    if (n == 0)
        return 0;
    dt_strbuf_reset(&w->a);
    dt_strbuf_append(&w->a, s, n);
    w->n_pa = 0;
    if (piece_push(&w->pa, &w->n_pa, &w->cap_pa, 0, n, first))
        return DT_ENOMEM;
    for (size_t k = 0; k < hf->n_pre; k++) {
        dt_strbuf_reset(&w->b);
        w->n_pb = 0;
        if (dt_strbuf_failed(&w->a))
            return DT_ENOMEM;
        for (size_t i = 0; i < w->n_pa; i++) {
            int rc = pre_step(&hf->pre[k], w, w->a.data, &w->pa[i], &w->b, &w->pb, &w->n_pb,
                              &w->cap_pb);
            if (rc)
                return rc;
        }
        struct dt_strbuf tb = w->a;
        w->a = w->b;
        w->b = tb;
        struct piece *tp = w->pa;
        w->pa = w->pb;
        w->pb = tp;
        size_t tn = w->cap_pa;
        w->cap_pa = w->cap_pb;
        w->cap_pb = tn;
        w->n_pa = w->n_pb;
    }
    if (dt_strbuf_failed(&w->a))
        return DT_ENOMEM;
    for (size_t i = 0; i < w->n_pa; i++) {
        int rc = model_bpe(t, w, w->a.data + w->pa[i].off, w->pa[i].len, out);
        if (rc)
            return rc;
    }
    return 0;
}

int dt_hf_encode(const struct dt_tokenizer *t, const char *text, size_t n, int parse_special,
                 struct dt_tok_ids *out, struct dt_error *err)
{
    const struct dt_hf *hf = t->hf;
    struct hf_work w = {0};
    int rc = added_spans(hf, 0, text, n, parse_special, &w.raw);
    for (size_t i = 0; rc == 0 && i < w.raw.n; i++) {
        const struct span *r = &w.raw.v[i];
        if (r->id >= 0) {
            rc = dt_tok_ids_push(out, r->id);
            continue;
        }
        rc = normalize(hf, &w, text + r->s, r->e - r->s);
        if (rc)
            break;
        /* the normalized text moves out of w.norm: normalize() is not called again below */
        struct dt_strbuf nb = w.norm;
        w.norm = (struct dt_strbuf)DT_STRBUF_INIT;
        const char *ns = nb.data ? nb.data : "";
        rc = added_spans(hf, 1, ns, nb.len, parse_special, &w.nrm);
        for (size_t j = 0; rc == 0 && j < w.nrm.n; j++) {
            const struct span *q = &w.nrm.v[j];
            if (q->id >= 0)
                rc = dt_tok_ids_push(out, q->id);
            else
                rc = pre_and_model(t, &w, ns + q->s, q->e - q->s, r->s == 0 && q->s == 0, out);
        }
        dt_strbuf_release(&w.norm);
        w.norm = nb;
    }
    work_release(&w);
    if (rc == DT_ENOMEM)
        return dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
    if (rc)
        return dt_error_set(err, DT_EINTERNAL, "encoding %zu bytes failed", n);
    return 0;
}

void dt_hf_free(struct dt_hf *hf)
{
    if (!hf)
        return;
    for (size_t i = 0; i < hf->n_norm; i++) {
        if (hf->norm[i].re)
            pcre2_code_free(hf->norm[i].re);
        dt_free(hf->norm[i].str);
    }
    for (size_t i = 0; i < hf->n_pre; i++)
        if (hf->pre[i].re)
            pcre2_code_free(hf->pre[i].re);
    for (size_t i = 0; i < hf->n_added; i++)
        dt_free(hf->added[i].text);
    dt_free(hf->norm);
    dt_free(hf->pre);
    dt_free(hf->added);
    dt_free(hf->added_by[0]);
    dt_free(hf->added_by[1]);
    dt_free(hf->prefix);
    dt_free(hf->suffix);
    dt_free(hf);
}

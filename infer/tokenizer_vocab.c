/*
 * The vocabulary table every tokenizer kind is built on: token texts and their decoded bytes
 * in one string pool, the open-addressing text -> id map, the merge table keyed by id pairs,
 * GPT-2's byte <-> code point mapping, the steps that finish a loaded table (byte tokens,
 * special-token index, hash), and the id vector and scratch the encoders share. Loaders
 * (tokenizer_gguf.c, tokenizer_json.c) fill it, encoders (tokenizer_bpe.c, tokenizer_spm.c,
 * tokenizer_hf.c) read it; it calls neither.
 *
 * Invariants of a finished tokenizer: every id in [0, n_vocab) has an entry (ids no loader
 * set are UNUSED with empty text); no two ids share a non-empty text; every merge's left,
 * right and result are valid ids. The table sizes are powers of two at least twice the
 * number of entries, so probe sequences stay short.
 */
#include "infer/tokenizer_internal.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* --- GPT-2 bytes_to_unicode --------------------------------------------------------- */

static int printable_byte(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t dt_tok_byte_to_cp(uint8_t b)
{
    if (printable_byte(b))
        return b;
    /* the others get 256, 257, ... in byte order */
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        if (!printable_byte(i))
            n++;
    return 256 + n;
}

int dt_tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return printable_byte((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    /* the unprintable bytes in order: 0x00-0x20 (33), 0x7F-0xA0 (34), 0xAD */
    uint32_t n = cp - 256;
    return n < 33 ? (int)n : n < 67 ? (int)(0x7F + n - 33) : 0xAD;
}

/* --- the table ------------------------------------------------------------------------ */

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

int dt_tok_new(enum dt_tok_kind kind, int64_t n_vocab, struct dt_tokenizer **out,
               struct dt_error *err)
{
    if (n_vocab <= 0 || n_vocab > DT_TOK_MAX_VOCAB)
        return dt_error_set(err, DT_EFORMAT, "vocabulary size %lld is out of range (1..%d)",
                            (long long)n_vocab, DT_TOK_MAX_VOCAB);
    struct dt_tokenizer *t = dt_calloc(1, sizeof *t);
    if (!t)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the tokenizer");
    t->kind = kind;
    t->n_vocab = (int32_t)n_vocab;
    t->tok = dt_calloc((size_t)n_vocab, sizeof *t->tok);
    if (!t->tok) {
        dt_free(t);
        return dt_error_set(err, DT_ENOMEM, "out of memory for %lld tokens", (long long)n_vocab);
    }
    for (int i = 0; i < 256; i++)
        t->byte_tok[i] = -1;
    t->bos = t->eos = t->eot = t->eom = t->unk = -1;
    t->add_space_prefix = kind == DT_TOK_SPM;
    snprintf(t->pre, sizeof t->pre, "%s", kind == DT_TOK_SPM ? "llama-spm" : "default");
    /* the pool starts with an empty string so offset 0 is a valid "" */
    dt_strbuf_putc(&t->pool, '\0');
    if (dt_strbuf_failed(&t->pool)) {
        dt_tokenizer_free(t);
        return dt_error_set(err, DT_ENOMEM, "out of memory for the tokenizer");
    }
    *out = t;
    return 0;
}

int dt_tok_set_token(struct dt_tokenizer *t, int64_t id, const char *text, size_t n_text,
                     int32_t type, float score, struct dt_error *err)
{
    if (id < 0 || id >= t->n_vocab)
        return dt_error_set(err, DT_EFORMAT, "token id %lld is out of range (vocabulary of %d)",
                            (long long)id, t->n_vocab);
    if (n_text > DT_TOK_MAX_TOKEN_BYTES)
        return dt_error_set(err, DT_EFORMAT, "token %lld is %zu bytes long (limit %d)",
                            (long long)id, n_text, DT_TOK_MAX_TOKEN_BYTES);
    if (memchr(text, '\0', n_text))
        return dt_error_set(err, DT_EFORMAT, "token %lld contains a NUL byte", (long long)id);
    if (type < DT_TOKEN_NORMAL || type > DT_TOKEN_BYTE)
        type = DT_TOKEN_NORMAL;
    struct dt_tok_entry *e = &t->tok[id];
    e->text_off = t->pool.len;
    e->n_text = (uint32_t)n_text;
    e->type = type;
    e->score = score;
    e->set = 1;
    dt_strbuf_append(&t->pool, text, n_text);
    dt_strbuf_putc(&t->pool, '\0');
    if (dt_strbuf_failed(&t->pool))
        return dt_error_set(err, DT_ENOMEM, "out of memory for the token texts");
    return 0;
}

static uint64_t text_hash(const char *s, size_t n)
{
    return XXH3_64bits(s, n);
}

int32_t dt_tok_lookup(const struct dt_tokenizer *t, const char *s, size_t n)
{
    if (!t->map || n == 0)
        return -1;
    uint64_t h = text_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & t->map_mask;
    for (;;) {
        int32_t id = t->map[i].id;
        if (id < 0)
            return -1;
        if (t->map[i].tag == tag) {
            const struct dt_tok_entry *e = &t->tok[id];
            if (e->n_text == n && memcmp(t->pool.data + e->text_off, s, n) == 0)
                return id;
        }
        i = (i + 1) & t->map_mask;
    }
}

int dt_tok_index(struct dt_tokenizer *t, struct dt_error *err)
{
    size_t n_slots = pow2_at_least((size_t)t->n_vocab * 2);
    t->map = dt_malloc_array(n_slots, sizeof *t->map);
    if (!t->map)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the vocabulary index");
    for (size_t i = 0; i < n_slots; i++)
        t->map[i] = (struct dt_tok_slot){-1, 0};
    t->map_mask = n_slots - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        struct dt_tok_entry *e = &t->tok[id];
        if (!e->set) {
            e->type = DT_TOKEN_UNUSED;
            continue;
        }
        if (e->n_text == 0)
            continue;
        const char *s = t->pool.data + e->text_off;
        uint64_t h = text_hash(s, e->n_text);
        size_t i = (size_t)h & t->map_mask;
        for (;;) {
            int32_t o = t->map[i].id;
            if (o < 0) {
                t->map[i] = (struct dt_tok_slot){id, (uint32_t)(h >> 32)};
                break;
            }
            const struct dt_tok_entry *oe = &t->tok[o];
            if (oe->n_text == e->n_text && memcmp(t->pool.data + oe->text_off, s, e->n_text) == 0)
                return dt_error_set(err, DT_EFORMAT, "duplicate token '%.64s' at ids %d and %d", s,
                                    o, id);
            i = (i + 1) & t->map_mask;
        }
    }
    return 0;
}

int dt_tok_reserve_merges(struct dt_tokenizer *t, size_t n, struct dt_error *err)
{
    if (n > DT_TOK_MAX_MERGES)
        return dt_error_set(err, DT_EFORMAT, "%zu merges is more than the limit of %d", n,
                            DT_TOK_MAX_MERGES);
    size_t n_slots = pow2_at_least(n * 2 + 1);
    dt_free(t->merges);
    dt_free(t->merge_pairs);
    t->merges = dt_malloc_array(n_slots, sizeof *t->merges);
    t->merge_pairs = dt_malloc_array(n ? n : 1, 2 * sizeof *t->merge_pairs);
    if (!t->merges || !t->merge_pairs)
        return dt_error_set(err, DT_ENOMEM, "out of memory for %zu merges", n);
    for (size_t i = 0; i < n_slots; i++)
        t->merges[i].rank = -1;
    t->merge_mask = n_slots - 1;
    t->cap_merges = n;
    t->n_merges = 0;
    return 0;
}

static size_t merge_slot_index(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

static const struct dt_tok_merge_slot *merge_find(const struct dt_tokenizer *t, int32_t l,
                                                  int32_t r)
{
    if (!t->merges)
        return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = merge_slot_index(key, t->merge_mask);
    for (;;) {
        const struct dt_tok_merge_slot *s = &t->merges[i];
        if (s->rank < 0)
            return NULL;
        if (s->key == key)
            return s;
        i = (i + 1) & t->merge_mask;
    }
}

int dt_tok_merge_rank(const struct dt_tokenizer *t, int32_t l, int32_t r, int32_t *result)
{
    const struct dt_tok_merge_slot *s = merge_find(t, l, r);
    if (!s)
        return -1;
    *result = s->result;
    return s->rank;
}

int dt_tok_add_merge(struct dt_tokenizer *t, const char *l, size_t nl, const char *r, size_t nr,
                     size_t i_merge, struct dt_error *err)
{
    if (t->n_merges >= t->cap_merges)
        return dt_error_set(err, DT_EINTERNAL, "more merges than reserved");
    int32_t il = dt_tok_lookup(t, l, nl), ir = dt_tok_lookup(t, r, nr);
    if (il < 0 || ir < 0)
        return dt_error_set(err, DT_EFORMAT, "merge %zu refers to unknown token '%.*s'", i_merge,
                            (int)(il < 0 ? (nl > 64 ? 64 : nl) : (nr > 64 ? 64 : nr)),
                            il < 0 ? l : r);
    size_t n, strip = t->merge_strip_right;
    if (nr < strip)
        return dt_error_set(err, DT_EFORMAT,
                            "merge %zu: '%.*s' is shorter than the continuing-subword prefix",
                            i_merge, (int)(nr > 64 ? 64 : nr), r);
    if (dt_add_overflow(nl, nr - strip, &n) || n > DT_TOK_MAX_TOKEN_BYTES)
        return dt_error_set(err, DT_EFORMAT, "merge %zu is too long", i_merge);
    char buf[DT_TOK_MAX_TOKEN_BYTES];
    memcpy(buf, l, nl);
    memcpy(buf + nl, r + strip, nr - strip);
    int32_t res = dt_tok_lookup(t, buf, n);
    if (res < 0)
        return dt_error_set(err, DT_EFORMAT,
                            "merge %zu ('%.*s' '%.*s') makes a token that is not in the vocabulary",
                            i_merge, (int)(nl > 64 ? 64 : nl), l, (int)(nr > 64 ? 64 : nr), r);
    uint64_t key = ((uint64_t)(uint32_t)il << 32) | (uint32_t)ir;
    size_t i = merge_slot_index(key, t->merge_mask);
    for (;;) {
        struct dt_tok_merge_slot *s = &t->merges[i];
        if (s->rank < 0) {
            s->key = key;
            s->rank = (int32_t)(t->merge_rank_by_index ? i_merge : t->n_merges);
            s->result = res;
            break;
        }
        if (s->key == key) {
            /* llama.cpp keeps a repeated merge's first priority, `tokenizers` its last */
            if (t->merge_rank_by_index)
                s->rank = (int32_t)i_merge;
            return 0;
        }
        i = (i + 1) & t->merge_mask;
    }
    t->merge_pairs[2 * t->n_merges] = il;
    t->merge_pairs[2 * t->n_merges + 1] = ir;
    t->n_merges++;
    return 0;
}

int dt_tok_add_merge_str(struct dt_tokenizer *t, const char *s, size_t n, size_t i_merge,
                         struct dt_error *err)
{
    /* Tokens of byte-level vocabularies never hold a space, but SPM-style ones may: take the
     * first split whose halves both exist. */
    for (size_t i = 1; i + 1 < n; i++) {
        if (s[i] != ' ')
            continue;
        if (dt_tok_lookup(t, s, i) >= 0 && dt_tok_lookup(t, s + i + 1, n - i - 1) >= 0)
            return dt_tok_add_merge(t, s, i, s + i + 1, n - i - 1, i_merge, err);
    }
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1)
        return dt_error_set(err, DT_EFORMAT,
                            "merge %zu '%.*s' is not two tokens separated by a space", i_merge,
                            (int)(n > 64 ? 64 : n), s);
    return dt_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, n - (size_t)(sp - s) - 1, i_merge, err);
}

/* --- finishing: token bytes, byte tokens, special table, hash ------------------------- */

static int put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Decodes one UTF-8 sequence; returns its length (1 for an invalid byte, cp = 0xFFFFFFFF). */
static size_t get_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
    } else {
        *cp = 0xFFFFFFFFu;
        return 1;
    }
    if (len > n) {
        *cp = 0xFFFFFFFFu;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFFFFFFu;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Writes the bytes token id stands for into buf (at most n_text bytes); returns the count. */
static size_t token_bytes_of(const struct dt_tokenizer *t, int32_t id, char *buf)
{
    const struct dt_tok_entry *e = &t->tok[id];
    const char *s = t->pool.data + e->text_off;
    size_t n = e->n_text, o = 0;
    if (e->type == DT_TOKEN_CONTROL || e->type == DT_TOKEN_USER_DEFINED ||
        e->type == DT_TOKEN_UNKNOWN || e->type == DT_TOKEN_UNUSED) {
        memcpy(buf, s, n);
        return n;
    }
    if (t->kind == DT_TOK_TEXT) {
        memcpy(buf, s, n);
        return n;
    }
    if (t->kind == DT_TOK_SPM) {
        if (e->type == DT_TOKEN_BYTE && n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' &&
            s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
            buf[0] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
            return 1;
        }
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                buf[o++] = ' ';
                i += 3;
            } else {
                buf[o++] = s[i++];
            }
        }
        return o;
    }
    /* byte-level: every mapped code point is one byte; anything else is kept as UTF-8 */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = get_utf8((const unsigned char *)s + i, n - i, &cp);
        int b = cp == 0xFFFFFFFFu ? -1 : dt_tok_cp_to_byte(cp);
        if (b >= 0) {
            buf[o++] = (char)b;
        } else {
            memcpy(buf + o, s + i, len);
            o += len;
        }
        i += len;
    }
    return o;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const struct dt_tokenizer *sort_tok = ctx;
    const struct dt_tok_entry *ea = &sort_tok->tok[*(const int32_t *)a];
    const struct dt_tok_entry *eb = &sort_tok->tok[*(const int32_t *)b];
    unsigned char ca = (unsigned char)sort_tok->pool.data[ea->text_off];
    unsigned char cb = (unsigned char)sort_tok->pool.data[eb->text_off];
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ea->n_text != eb->n_text)
        return ea->n_text > eb->n_text ? -1 : 1;
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    return ia < ib ? -1 : ia > ib;
}

static void put_u32(struct dt_strbuf *sb, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    dt_strbuf_append(sb, b, 4);
}

static int compute_hash(struct dt_tokenizer *t, struct dt_error *err)
{
    /* Length-prefixed serialization of what defines the tokenization: kind, every token's
     * text and type (and score for SPM), and the merges in rank order. */
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_strbuf_puts(&sb, t->kind == DT_TOK_SPM    ? "dt-tok-spm-1"
                        : t->kind == DT_TOK_TEXT ? "dt-tok-txt-1"
                                                 : "dt-tok-bpe-1");
    put_u32(&sb, (uint32_t)t->n_vocab);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const struct dt_tok_entry *e = &t->tok[id];
        put_u32(&sb, e->n_text);
        dt_strbuf_append(&sb, t->pool.data + e->text_off, e->n_text);
        put_u32(&sb, (uint32_t)e->type);
        if (t->kind == DT_TOK_SPM) {
            uint32_t bits;
            memcpy(&bits, &e->score, 4);
            put_u32(&sb, bits);
        }
    }
    put_u32(&sb, (uint32_t)t->n_merges);
    for (size_t i = 0; i < 2 * t->n_merges; i++)
        put_u32(&sb, (uint32_t)t->merge_pairs[i]);
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory hashing the tokenizer");
    }
    dt_hash_xxh128_hex(sb.data, sb.len, t->hash);
    dt_strbuf_release(&sb);
    return 0;
}

int dt_tok_finish(struct dt_tokenizer *t, struct dt_error *err)
{
    if (!t->map) {
        int rc = dt_tok_index(t, err);
        if (rc)
            return rc;
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n;
        if (t->kind == DT_TOK_SPM) {
            n = (size_t)snprintf(s, sizeof s, "<0x%02X>", b);
            t->byte_tok[b] = dt_tok_lookup(t, s, n);
            if (t->byte_tok[b] < 0) {
                s[0] = (char)b;
                t->byte_tok[b] = b ? dt_tok_lookup(t, s, 1) : -1;
            }
        } else {
            n = (size_t)put_utf8(s, dt_tok_byte_to_cp((uint8_t)b));
            t->byte_tok[b] = dt_tok_lookup(t, s, n);
        }
    }

    char buf[DT_TOK_MAX_TOKEN_BYTES + 1];
    for (int32_t id = 0; id < t->n_vocab; id++) {
        struct dt_tok_entry *e = &t->tok[id];
        size_t n = token_bytes_of(t, id, buf);
        if (n == e->n_text && memcmp(buf, t->pool.data + e->text_off, n) == 0) {
            e->bytes_off = e->text_off;
        } else {
            e->bytes_off = t->pool.len;
            dt_strbuf_append(&t->pool, buf, n);
            dt_strbuf_putc(&t->pool, '\0');
        }
        e->n_bytes = (uint32_t)n;
    }
    if (dt_strbuf_failed(&t->pool))
        return dt_error_set(err, DT_ENOMEM, "out of memory for the token bytes");

    if (t->kind == DT_TOK_SPM) {
        t->spm_word_split = 1;
        for (int32_t id = 0; id < t->n_vocab && t->spm_word_split; id++) {
            const char *s = t->pool.data + t->tok[id].text_off;
            size_t n = t->tok[id].n_text;
            for (size_t i = 1; i + 3 <= n; i++)
                if (memcmp(s + i, "\xE2\x96\x81", 3) == 0 &&
                    (i < 3 || memcmp(s + i - 3, "\xE2\x96\x81", 3) != 0)) {
                    t->spm_word_split = 0;
                    break;
                }
        }
    }

    size_t n_sp = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int ty = t->tok[id].type;
        if ((ty == DT_TOKEN_CONTROL || ty == DT_TOKEN_USER_DEFINED) && t->tok[id].n_text > 0)
            n_sp++;
    }
    t->specials = dt_malloc_array(n_sp ? n_sp : 1, sizeof *t->specials);
    if (!t->specials)
        return dt_error_set(err, DT_ENOMEM, "out of memory for the special tokens");
    n_sp = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int ty = t->tok[id].type;
        if ((ty == DT_TOKEN_CONTROL || ty == DT_TOKEN_USER_DEFINED) && t->tok[id].n_text > 0)
            t->specials[n_sp++] = id;
    }
    t->n_specials = n_sp;
    qsort_r(t->specials, n_sp, sizeof *t->specials, cmp_special, t);
    size_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < n_sp && b < 256 &&
               (unsigned char)t->pool.data[t->tok[t->specials[j]].text_off] < b)
            j++;
        t->special_start[b] = (uint32_t)(b == 256 ? n_sp : j);
    }

    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] >= t->n_vocab || *ids[i] < -1)
            *ids[i] = -1;
    return compute_hash(t, err);
}

/* --- encoder scratch -------------------------------------------------------------------- */

int dt_tok_ids_push(struct dt_tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = dt_realloc_array(ids->v, cap, sizeof *v);
        if (!v)
            return DT_ENOMEM;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void dt_tok_work_release(struct dt_tok_work *w)
{
    if (w->md)
        pcre2_match_data_free((pcre2_match_data *)w->md);
    dt_free(w->pieces[0]);
    dt_free(w->pieces[1]);
    dt_free(w->sym_id);
    dt_free(w->sym_prev);
    dt_free(w->sym_next);
    dt_free(w->sym_off);
    dt_free(w->sym_len);
    dt_free(w->heap);
    dt_free(w->buf);
    memset(w, 0, sizeof *w);
}

int dt_tok_work_symbols(struct dt_tok_work *w, size_t n)
{
    if (n <= w->cap_sym)
        return 0;
    size_t c = w->cap_sym ? w->cap_sym : 64;
    while (c < n)
        c *= 2;
    int32_t *a = dt_realloc_array(w->sym_id, c, sizeof *a);
    if (a)
        w->sym_id = a;
    int32_t *b = dt_realloc_array(w->sym_prev, c, sizeof *b);
    if (b)
        w->sym_prev = b;
    int32_t *d = dt_realloc_array(w->sym_next, c, sizeof *d);
    if (d)
        w->sym_next = d;
    uint32_t *e = dt_realloc_array(w->sym_off, c, sizeof *e);
    if (e)
        w->sym_off = e;
    uint32_t *f = dt_realloc_array(w->sym_len, c, sizeof *f);
    if (f)
        w->sym_len = f;
    if (!a || !b || !d || !e || !f)
        return DT_ENOMEM;
    w->cap_sym = c;
    return 0;
}

/*
 * SentencePiece-style BPE (tokenizer.ggml.model = "llama"), following llama.cpp's
 * llm_tokenizer_spm: spaces become "▁" (U+2581), a "▁" is put before the text when the
 * tokenizer adds a space prefix, the text is cut into UTF-8 characters, and the adjacent pair
 * whose concatenation is a vocabulary token with the highest score is merged first (ties:
 * leftmost), until no pair is a token. A final symbol that is not a token is written as its
 * bytes' <0xXX> tokens (byte fallback), or the unknown token when those are missing.
 *
 * Symbols are spans of the escaped text kept in a doubly linked list; candidate pairs sit in
 * a binary heap and are checked for staleness when popped, so a segment of n characters
 * costs O(n log n). Invalid UTF-8 sequences count as one-byte characters.
 */
#include "infer/tokenizer_spm.h"

#include "infer/tokenizer_internal.h"
#include "util/alloc.h"
#include "util/error.h"

#include <string.h>

struct spm_bigram {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of left + right when pushed */
};

static int better(const struct spm_bigram *a, const struct spm_bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(struct dt_tok_work *w, struct spm_bigram b)
{
    if (w->n_heap + 1 > w->cap_heap) {
        size_t c = w->cap_heap ? w->cap_heap * 2 : 64;
        void *q = dt_realloc_array(w->heap, c, sizeof b);
        if (!q)
            return DT_ENOMEM;
        w->heap = q;
        w->cap_heap = c;
    }
    struct spm_bigram *h = w->heap;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&b, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = b;
    return 0;
}

static struct spm_bigram heap_pop(struct dt_tok_work *w)
{
    struct spm_bigram *h = w->heap;
    struct spm_bigram top = h[0], last = h[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&h[c + 1], &h[c]))
            c++;
        if (!better(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

static int try_bigram(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *s, int32_t l,
                      int32_t r)
{
    if (l < 0 || r < 0)
        return 0;
    uint32_t size = w->sym_len[l] + w->sym_len[r];
    int32_t id = dt_tok_lookup(t, s + w->sym_off[l], size);
    if (id < 0)
        return 0;
    struct spm_bigram b = {t->tok[id].score, l, r, size};
    return heap_push(w, b);
}

/* Length of the UTF-8 character at s: llama.cpp takes it from the lead byte alone; here an
 * invalid or truncated sequence is one byte, so the "▁" that follows a stray lead byte is
 * not swallowed into its symbol (same result on valid UTF-8). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    static const size_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t len = lookup[s[0] >> 4];
    if (len > n)
        return 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return len;
}

/* The merge loop over one stretch of escaped text s (m bytes). */
static int merge_chunk(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *s, size_t m,
                       struct dt_tok_ids *out)
{
    if (dt_tok_work_symbols(w, m))
        return DT_ENOMEM;
    int32_t n_sym = 0;
    for (size_t off = 0; off < m;) {
        size_t len = utf8_len((const unsigned char *)s + off, m - off);
        w->sym_off[n_sym] = (uint32_t)off;
        w->sym_len[n_sym] = (uint32_t)len;
        w->sym_prev[n_sym] = n_sym - 1;
        off += len;
        w->sym_next[n_sym] = off < m ? n_sym + 1 : -1;
        n_sym++;
    }
    w->n_heap = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (try_bigram(t, w, s, i - 1, i))
            return DT_ENOMEM;
    while (w->n_heap) {
        struct spm_bigram b = heap_pop(w);
        int32_t l = b.left, r = b.right;
        if (w->sym_len[l] == 0 || w->sym_len[r] == 0 || w->sym_len[l] + w->sym_len[r] != b.size)
            continue;
        w->sym_len[l] += w->sym_len[r];
        w->sym_len[r] = 0;
        w->sym_next[l] = w->sym_next[r];
        if (w->sym_next[r] >= 0)
            w->sym_prev[w->sym_next[r]] = l;
        if (try_bigram(t, w, s, w->sym_prev[l], l) || try_bigram(t, w, s, l, w->sym_next[l]))
            return DT_ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = w->sym_next[i]) {
        int32_t id = dt_tok_lookup(t, s + w->sym_off[i], w->sym_len[i]);
        if (id >= 0) {
            if (dt_tok_ids_push(out, id))
                return DT_ENOMEM;
            continue;
        }
        for (uint32_t k = 0; k < w->sym_len[i]; k++) {
            int32_t bid = t->byte_tok[(unsigned char)s[w->sym_off[i] + k]];
            if (bid < 0)
                bid = t->unk;
            if (bid >= 0 && dt_tok_ids_push(out, bid))
                return DT_ENOMEM;
        }
    }
    return 0;
}

int dt_tok_spm_encode(const struct dt_tokenizer *t, struct dt_tok_work *w, const char *text,
                      size_t n, int prefix_space, struct dt_tok_ids *out, struct dt_error *err)
{
    size_t need;
    if (n > UINT32_MAX / 4 || dt_mul_overflow(n, 3, &need) || dt_add_overflow(need, 3, &need))
        return dt_error_set(err, DT_ENOMEM, "text of %zu bytes is too long to encode", n);
    if (need > w->cap_buf) {
        char *b = dt_realloc(w->buf, need);
        if (!b)
            return dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
        w->buf = b;
        w->cap_buf = need;
    }
    char *s = w->buf;
    size_t m = 0;
    if (prefix_space) {
        memcpy(s, "\xE2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(s + m, "\xE2\x96\x81", 3);
            m += 3;
        } else {
            s[m++] = text[i];
        }
    }
    if (m == 0)
        return 0;
    if (!t->spm_word_split)
        return merge_chunk(t, w, s, m, out)
                   ? dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n)
                   : 0;
    /* no token holds a "▁" after another character, so no merge crosses the start of a
     * "▁" run: encode run by run (same result, but short heaps that stay in cache) */
    size_t start = 0;
    for (size_t p = 1; p + 3 <= m; p++) {
        if (memcmp(s + p, "\xE2\x96\x81", 3) != 0 ||
            (p >= 3 && memcmp(s + p - 3, "\xE2\x96\x81", 3) == 0))
            continue;
        if (merge_chunk(t, w, s + start, p - start, out))
            return dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
        start = p;
        p += 2;
    }
    if (merge_chunk(t, w, s + start, m - start, out))
        return dt_error_set(err, DT_ENOMEM, "out of memory encoding %zu bytes", n);
    return 0;
}

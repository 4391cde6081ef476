/*
 * Word tokenization for the text-level signals.
 *
 * One pass over the bytes, decoding UTF-8 by hand (invalid bytes are separators, so hostile
 * input cannot fail or crash the scan). Each word is hashed with XXH64 over its case-folded
 * UTF-8 bytes; words longer than DT_WORD_FOLD_MAX bytes are hashed on their first
 * DT_WORD_FOLD_MAX folded bytes plus their byte length, which keeps the hot loop free of
 * allocation. Output is one struct dt_word (32 bytes) per word.
 */
#include "fingerprint/text.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#include <string.h>

#define DT_WORD_FOLD_MAX 256

size_t dt_text_set_len(const struct dt_text_set *set, size_t i)
{
    if (!set || i >= set->n || !set->text || !set->text[i])
        return 0;
    return set->n_bytes ? set->n_bytes[i] : strlen(set->text[i]);
}

int32_t dt_text_utf8_decode(const char *text, size_t n, size_t i, size_t *len)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned c = s[i];
    *len = 1;
    if (c < 0x80)
        return (int32_t)c;
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return -1;
    }
    if (n - i <= need)
        return -1;
    for (size_t k = 1; k <= need; k++) {
        unsigned cc = s[i + k];
        if ((cc & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = need + 1;
    return (int32_t)cp;
}

int dt_text_utf8_valid(const char *text, size_t n_bytes)
{
    size_t i = 0, len;
    while (i < n_bytes) {
        if ((unsigned char)text[i] < 0x80) {
            i++;
            continue;
        }
        if (dt_text_utf8_decode(text, n_bytes, i, &len) < 0)
            return 0;
        i += len;
    }
    return 1;
}

enum cls { C_SEP, C_WORD, C_SINGLE, C_STOP };

/* Character classes: C_SINGLE code points are words by themselves (ideographs, kana, emoji);
 * C_STOP separators end a sentence. */
static enum cls classify(int32_t cp)
{
    if (cp < 0)
        return C_SEP;
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
            cp == '_')
            return C_WORD;
        if (cp == '.' || cp == '!' || cp == '?' || cp == '\n')
            return C_STOP;
        return C_SEP;
    }
    if (cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF0E || cp == 0x2026)
        return C_STOP;
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7)
        return (cp == 0xAA || cp == 0xB5 || cp == 0xBA) ? C_WORD : C_SEP;
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x25FF) ||
        (cp >= 0x2E00 && cp <= 0x2E7F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
        (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
        (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFEFF || (cp >= 0xFE00 && cp <= 0xFE0F))
        return C_SEP;
    if ((cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x1F000 && cp <= 0x1FAFF))
        return C_SINGLE;
    if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0x20000 && cp <= 0x2FFFF))
        return C_SINGLE;
    return C_WORD;
}

static int32_t fold(int32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    return cp;
}

static size_t put_utf8(int32_t cp, char *buf, size_t at, size_t cap)
{
    char tmp[4];
    size_t n;
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        tmp[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        tmp[0] = (char)(0xC0 | (c >> 6));
        tmp[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        tmp[0] = (char)(0xE0 | (c >> 12));
        tmp[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (c >> 18));
        tmp[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    if (at + n > cap)
        return 0;
    memcpy(buf + at, tmp, n);
    return n;
}

size_t dt_text_fold_word(const char *text, size_t start, size_t end, char *buf, size_t cap)
{
    size_t at = 0, i = start, len;
    while (i < end) {
        int32_t cp = dt_text_utf8_decode(text, end, i, &len);
        i += len;
        if (cp < 0)
            continue;
        size_t put = put_utf8(fold(cp), buf, at, cap);
        if (!put)
            break;
        at += put;
    }
    return at;
}

static uint64_t word_hash(const char *text, size_t start, size_t end)
{
    char buf[DT_WORD_FOLD_MAX];
    size_t n = dt_text_fold_word(text, start, end, buf, sizeof buf);
    uint64_t h = dt_hash_xxh64(buf, n, 0);
    if (end - start > DT_WORD_FOLD_MAX)
        h = dt_hash_xxh64(&h, sizeof h, (uint64_t)(end - start));
    return h;
}

static int push_word(struct dt_word **w, size_t *n, size_t *cap, size_t start, size_t end,
                     unsigned flags, const char *text)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct dt_word *p = dt_realloc_array(*w, nc, sizeof **w);
        if (!p)
            return DT_ENOMEM;
        *w = p;
        *cap = nc;
    }
    (*w)[*n].start = start;
    (*w)[*n].end = end;
    (*w)[*n].flags = flags;
    (*w)[*n].hash = word_hash(text, start, end);
    (*n)++;
    return 0;
}

int dt_text_words(const char *text, size_t n_bytes, struct dt_word **out, size_t *n_out,
                  struct dt_error *err)
{
    struct dt_word *w = NULL;
    size_t n = 0, cap = 0, i = 0, len;
    int rc = 0;
    int sentence = 1;
    size_t word_start = 0;
    int in_word = 0;
    if (!text)
        n_bytes = 0;
    while (i < n_bytes) {
        int32_t cp = dt_text_utf8_decode(text, n_bytes, i, &len);
        enum cls c = classify(cp);
        if (c == C_WORD) {
            if (!in_word) {
                in_word = 1;
                word_start = i;
            }
            i += len;
            continue;
        }
        if (in_word) {
            rc =
                push_word(&w, &n, &cap, word_start, i, sentence ? DT_WORD_SENTENCE_START : 0, text);
            if (rc)
                goto fail;
            sentence = 0;
            in_word = 0;
        }
        if (c == C_SINGLE) {
            rc = push_word(&w, &n, &cap, i, i + len, sentence ? DT_WORD_SENTENCE_START : 0, text);
            if (rc)
                goto fail;
            sentence = 0;
        } else if (c == C_STOP) {
            sentence = 1;
        }
        i += len;
    }
    if (in_word) {
        rc = push_word(&w, &n, &cap, word_start, n_bytes, sentence ? DT_WORD_SENTENCE_START : 0,
                       text);
        if (rc)
            goto fail;
    }
    *out = w;
    *n_out = n;
    return 0;
fail:
    dt_free(w);
    return dt_error_set(err, rc, "out of memory tokenizing a %zu-byte text", n_bytes);
}

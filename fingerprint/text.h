/*
 * Text helpers shared by the text-level signals (identity, habits, n-gram overlap):
 * a borrowed view of a set of texts, and a punctuation-insensitive word tokenizer.
 *
 * Words: maximal runs of letters and digits (ASCII [A-Za-z0-9_] and every code point at or
 * above U+0080 that is not punctuation, a symbol or a space). Apostrophes split words, so
 * "I'm" and "I’m" tokenize alike ("i", "m"). Each Han/kana character and each emoji or
 * pictograph is a word of its own, so Chinese and Japanese text (written without spaces)
 * still yields word n-grams. Words are case-folded (ASCII, Latin-1, Greek and Cyrillic basic
 * letters) before hashing. Invalid UTF-8 bytes are separators; they never fail tokenization.
 */
#ifndef DT_FINGERPRINT_TEXT_H
#define DT_FINGERPRINT_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

/* A borrowed array of texts. n_bytes may be NULL (every text NUL-terminated); a NULL text
 * counts as the empty text. */
struct dt_text_set {
    const char *const *text;
    const size_t *n_bytes;
    size_t n;
};

/* Length in bytes of text i of a set (0 for a NULL text). */
size_t dt_text_set_len(const struct dt_text_set *set, size_t i);

#define DT_WORD_SENTENCE_START 1u /* first word of the text or of a sentence */

struct dt_word {
    size_t start, end; /* byte span in the text, end exclusive */
    uint64_t hash;     /* XXH64 of the case-folded word (seed 0) */
    unsigned flags;    /* DT_WORD_* */
};

/* Tokenizes text[0..n_bytes) into words. *out (dt_free it) may be NULL when *n_out is 0.
 * Sentence starts: the first word, and any word preceded by . ! ? 。 ！ ？ or a newline. */
int dt_text_words(const char *text, size_t n_bytes, struct dt_word **out, size_t *n_out,
                  struct dt_error *err);

/* Appends the case-folded form of text[start..end) (one word) to a caller buffer of cap bytes;
 * returns the bytes written (truncated at cap). Used to render phrases for reports. */
size_t dt_text_fold_word(const char *text, size_t start, size_t end, char *buf, size_t cap);

/* 1 when the byte span is valid UTF-8. */
int dt_text_utf8_valid(const char *text, size_t n_bytes);

/* Decodes one UTF-8 code point at text[i] (i < n). Returns the code point and sets *len to
 * its byte length; an invalid or truncated sequence returns -1 with *len = 1. */
int32_t dt_text_utf8_decode(const char *text, size_t n, size_t i, size_t *len);

#endif

/*
 * UTF-8 validation and sanitising. Model output, file metadata and API responses can hold any
 * bytes (a byte-level BPE model can emit half of a multi-byte character), but JSON must be
 * valid UTF-8: text headed for JSON goes through dt_json_string / dt_strbuf_append_utf8,
 * which replace every byte that does not start a valid sequence with U+FFFD.
 */
#ifndef DT_UTIL_UTF8_H
#define DT_UTIL_UTF8_H

#include <stddef.h>

struct cJSON;
struct dt_strbuf;

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0 when invalid: overlong
 * forms, surrogates, code points above U+10FFFF, truncation, and NUL (it cannot travel inside
 * a C string) are all invalid. */
size_t dt_utf8_seq_len(const unsigned char *s, size_t n);
/* 1 when all n bytes are valid UTF-8 without NUL. */
int dt_utf8_valid(const char *s, size_t n);
/* Appends n bytes of s with every invalid byte replaced by U+FFFD. */
void dt_strbuf_append_utf8(struct dt_strbuf *sb, const char *s, size_t n);
/* A cJSON string of n bytes of s, sanitised as above; NULL on allocation failure. */
struct cJSON *dt_json_string(const char *s, size_t n);
/* Adds such a string (NUL-terminated s) to a cJSON object; no-op when obj is NULL. */
void dt_json_add_string(struct cJSON *obj, const char *key, const char *s);

#endif

/*
 * UTF-8 validation and U+FFFD sanitising (see utf8.h).
 */
#include "util/utf8.h"

#include "util/strbuf.h"

#include <cJSON.h>
#include <string.h>

size_t dt_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int dt_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = dt_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void dt_strbuf_append_utf8(struct dt_strbuf *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = dt_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k) {
            dt_strbuf_append(sb, s + i, k);
            i += k;
        } else {
            dt_strbuf_puts(sb, "\xEF\xBF\xBD");
            i++;
        }
    }
}

cJSON *dt_json_string(const char *s, size_t n)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_strbuf_append_utf8(&sb, s, n);
    dt_strbuf_putc(&sb, '\0');
    cJSON *j = dt_strbuf_failed(&sb) ? NULL : cJSON_CreateString(sb.data);
    dt_strbuf_release(&sb);
    return j;
}

void dt_json_add_string(cJSON *obj, const char *key, const char *s)
{
    if (obj)
        cJSON_AddItemToObject(obj, key, dt_json_string(s ? s : "", s ? strlen(s) : 0));
}

/*
 * Small hand-made tokenizer.json texts for tests and fuzz harnesses: a byte-level BPE with
 * all 256 byte tokens, a few merges and special tokens, and a SentencePiece-style BPE
 * (Metaspace) with byte fallback. Both decode every byte string back exactly.
 */
#ifndef DT_TESTS_TOK_FIXTURE_H
#define DT_TESTS_TOK_FIXTURE_H

#include "infer/tokenizer_internal.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static inline void fixture_json_str(struct dt_strbuf *sb, const char *s)
{
    dt_strbuf_putc(sb, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            dt_strbuf_putc(sb, '\\');
        dt_strbuf_putc(sb, *s);
    }
    dt_strbuf_putc(sb, '"');
}

static inline void fixture_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        o[1] = 0;
    } else {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        o[2] = 0;
    }
}

/* Byte-level BPE: ids 0-3 control (<|bos|> <|eos|> <|user|> <|end|>), 4 user-defined
 * (<tool>), 5-260 the bytes in byte order, then merge results. Caller releases sb. */
static inline void fixture_bpe_json(struct dt_strbuf *sb)
{
    static const char *const merges[][2] = {
        {"\xC4\xA0", "t"},
        {"h", "e"},
        {"i", "n"},
        {"\xC4\xA0t", "he"},
        {"e", "r"},
        {"a", "n"},
        {"\xC4\xA0", "a"},
        {"o", "n"},
        {"\304\240a", "n"},
        {"r", "e"},
        {"t", "h"},
        {"th", "e"},
        {"\xC4\xA0", "\xC4\xA0"},
        {"\xC4\xA0\xC4\xA0", "\xC4\xA0\xC4\xA0"},
    };
    static const char *const specials[] = {"<|bos|>", "<|eos|>", "<|user|>", "<|end|>", "<tool>"};
    int id = 0;
    dt_strbuf_puts(sb, "{\"version\":\"1.0\",\"added_tokens\":[");
    for (int i = 0; i < 5; i++) {
        dt_strbuf_printf(sb, "%s{\"id\":%d,\"content\":", i ? "," : "", i);
        fixture_json_str(sb, specials[i]);
        dt_strbuf_printf(sb, ",\"special\":%s}", i < 4 ? "true" : "false");
    }
    dt_strbuf_puts(sb,
                   "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
                   "\"add_prefix_space\":false,\"use_regex\":true},"
                   "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (; id < 5; id++) {
        fixture_json_str(sb, specials[id]);
        dt_strbuf_printf(sb, ":%d,", id);
    }
    for (int b = 0; b < 256; b++) {
        char s[4];
        fixture_cp(s, dt_tok_byte_to_cp((uint8_t)b));
        fixture_json_str(sb, s);
        dt_strbuf_printf(sb, ":%d,", id++);
    }
    size_t n_merges = sizeof merges / sizeof merges[0];
    for (size_t i = 0; i < n_merges; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s%s", merges[i][0], merges[i][1]);
        fixture_json_str(sb, s);
        dt_strbuf_printf(sb, ":%d%s", id++, i + 1 < n_merges ? "," : "");
    }
    dt_strbuf_puts(sb, "},\"merges\":[");
    for (size_t i = 0; i < n_merges; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s %s", merges[i][0], merges[i][1]);
        if (i)
            dt_strbuf_putc(sb, ',');
        /* both merge spellings exist in the wild: strings and pairs */
        if (i % 2) {
            fixture_json_str(sb, s);
        } else {
            dt_strbuf_putc(sb, '[');
            fixture_json_str(sb, merges[i][0]);
            dt_strbuf_putc(sb, ',');
            fixture_json_str(sb, merges[i][1]);
            dt_strbuf_putc(sb, ']');
        }
    }
    dt_strbuf_puts(sb, "]}}");
}

/* SentencePiece-style: <unk> <s> </s>, <0x00>..<0xFF>, then letters and merges. */
static inline void fixture_spm_json(struct dt_strbuf *sb)
{
    static const char *const merges[][2] = {
        {"\xE2\x96\x81", "t"}, {"h", "e"}, {"\xE2\x96\x81t", "he"}, {"i", "n"},
        {"\xE2\x96\x81", "a"},
    };
    static const char *const letters[] = {"\xE2\x96\x81", "t", "h", "e", "i", "n", "a"};
    int id = 0;
    dt_strbuf_puts(
        sb, "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
            "{\"id\":1,\"content\":\"<s>\",\"special\":true},"
            "{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
            "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":["
            "{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},"
            "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]},"
            "\"pre_tokenizer\":null,\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,"
            "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    id = 3;
    for (int b = 0; b < 256; b++)
        dt_strbuf_printf(sb, ",\"<0x%02X>\":%d", b, id++);
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++) {
        dt_strbuf_putc(sb, ',');
        fixture_json_str(sb, letters[i]);
        dt_strbuf_printf(sb, ":%d", id++);
    }
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s%s", merges[i][0], merges[i][1]);
        dt_strbuf_putc(sb, ',');
        fixture_json_str(sb, s);
        dt_strbuf_printf(sb, ":%d", id++);
    }
    dt_strbuf_puts(sb, "},\"merges\":[");
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char s[64];
        snprintf(s, sizeof s, "%s %s", merges[i][0], merges[i][1]);
        if (i)
            dt_strbuf_putc(sb, ',');
        fixture_json_str(sb, s);
    }
    dt_strbuf_puts(sb, "]}}");
}

#endif

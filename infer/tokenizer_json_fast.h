/*
 * Private to tokenizer_json.c: model.vocab and model.merges of a tokenizer.json read
 * without building a cJSON tree (tokenizer_json_fast.c).
 */
#ifndef DT_INFER_TOKENIZER_JSON_FAST_H
#define DT_INFER_TOKENIZER_JSON_FAST_H

#include "util/strbuf.h"

#include <stddef.h>
#include <stdint.h>

/* A string: bytes [off, off + n) of the file, or of the arena when arena is set. */
struct dt_tokjson_str {
    size_t off;
    uint32_t n;
    uint8_t arena;
};

struct dt_tokjson_merge {
    struct dt_tokjson_str a, b; /* pair: [a, b]; else a holds "a b" */
    int pair;
};

struct dt_tokjson {
    const char *js; /* the file (borrowed) */
    struct {
        struct dt_tokjson_str text;
        int64_t id;
    } * vocab;
    size_t n_vocab;
    struct dt_tokjson_merge *merges;
    size_t n_merges;
    int have_merges;
    struct dt_strbuf arena; /* unescaped strings */
    char *rest;             /* the file with vocab {} and merges [], NUL-terminated */
    size_t n_rest;
};

/* 0 and o filled, or -1 (o empty) when the file must be read the slow way. */
int dt_tokjson_scan(const char *js, size_t n, struct dt_tokjson *o);
void dt_tokjson_release(struct dt_tokjson *o);

static inline const char *dt_tokjson_ptr(const struct dt_tokjson *o, const struct dt_tokjson_str *s)
{
    return (s->arena ? o->arena.data : o->js) + s->off;
}

#endif

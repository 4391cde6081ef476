/*
 * The two big fields of a tokenizer.json, model.vocab (up to a few hundred thousand
 * {text: id} pairs) and model.merges (up to a million "a b" strings or [a, b] pairs), read
 * with jsmn (a JSON tokenizer that allocates nothing but one token array) instead of cJSON,
 * whose node-per-value tree costs ~35 ns/byte: a 33 MB Gemma 3 file would take over a
 * second. Everything else in the file is small and still goes through cJSON: the file is
 * copied with those two values replaced by {} and [], and that copy is what cJSON parses.
 *
 * Strings without a backslash are used in place; the few with escapes are unescaped by
 * cJSON (the quoted span parsed as a JSON string). Ids must be plain decimal integers. When
 * the file does not have the expected shape (no top-level "model" object, a key written
 * with escapes, jsmn rejects it), dt_tokjson_scan fills nothing and the caller reads the
 * fields from the cJSON tree of the whole file instead, so the result never depends on the
 * path taken.
 */
#include "infer/tokenizer_json_fast.h"

#include "util/alloc.h"
#include "util/error.h"

#include <cjson/cJSON.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* closing a bracket is O(1), not a scan back over every token */
#include <jsmn.h>

/* The index just past token i's subtree. */
static int skip(const jsmntok_t *t, int n, int i)
{
    int todo = 1;
    while (todo > 0 && i < n) {
        todo += t[i].size;
        todo--;
        i++;
    }
    return i;
}

static int key_is(const char *js, const jsmntok_t *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == JSMN_STRING && (size_t)(k->end - k->start) == n &&
           memcmp(js + k->start, s, n) == 0;
}

/* A string token as a span of js, or unescaped into the arena. */
static int put_str(struct dt_tokjson *o, const char *js, const jsmntok_t *k, struct dt_tokjson_str *s)
{
    if (k->type != JSMN_STRING)
        return -1;
    size_t n = (size_t)(k->end - k->start);
    if (!memchr(js + k->start, '\\', n)) {
        s->off = (size_t)k->start;
        s->n = (uint32_t)n;
        s->arena = 0;
        return 0;
    }
    cJSON *v = cJSON_ParseWithLength(js + k->start - 1, n + 2);
    if (!cJSON_IsString(v)) {
        cJSON_Delete(v);
        return -1;
    }
    size_t m = strlen(v->valuestring);
    s->off = o->arena.len;
    s->n = (uint32_t)m;
    s->arena = 1;
    dt_strbuf_append(&o->arena, v->valuestring, m);
    cJSON_Delete(v);
    return dt_strbuf_failed(&o->arena) ? -1 : 0;
}

static int get_int(const char *js, const jsmntok_t *k, int64_t *out)
{
    if (k->type != JSMN_PRIMITIVE || k->end - k->start > 10 || k->end <= k->start)
        return -1;
    int64_t v = 0;
    for (int i = k->start; i < k->end; i++) {
        if (js[i] < '0' || js[i] > '9')
            return -1;
        v = v * 10 + (js[i] - '0');
    }
    *out = v;
    return 0;
}

void dt_tokjson_release(struct dt_tokjson *o)
{
    dt_free(o->vocab);
    dt_free(o->merges);
    dt_free(o->rest);
    dt_strbuf_release(&o->arena);
    memset(o, 0, sizeof *o);
}

int dt_tokjson_scan(const char *js, size_t n, struct dt_tokjson *o)
{
    memset(o, 0, sizeof *o);
    if (n > (size_t)INT32_MAX)
        return -1;
    jsmn_parser p;
    jsmn_init(&p);
    size_t cap = n / 6 + 64;
    jsmntok_t *t = NULL;
    int nt;
    for (;;) {
        jsmntok_t *g = dt_realloc_array(t, cap, sizeof *t);
        if (!g) {
            dt_free(t);
            return -1;
        }
        t = g;
        nt = jsmn_parse(&p, js, n, t, (unsigned)cap);
        if (nt != JSMN_ERROR_NOMEM)
            break;
        cap *= 2;
    }
    int rc = -1, i_vocab = -1, i_merges = -1;
    if (nt < 1 || t[0].type != JSMN_OBJECT)
        goto done;
    /* model, then vocab and merges inside it */
    for (int i = 1; i < nt && t[i].start < t[0].end;) {
        int v = i + 1;
        if (v >= nt)
            goto done;
        if (key_is(js, &t[i], "model") && t[v].type == JSMN_OBJECT) {
            for (int j = v + 1; j < nt && t[j].start < t[v].end;) {
                int w = j + 1;
                if (w >= nt)
                    goto done;
                if (key_is(js, &t[j], "vocab") && t[w].type == JSMN_OBJECT)
                    i_vocab = w;
                else if (key_is(js, &t[j], "merges") && t[w].type == JSMN_ARRAY)
                    i_merges = w;
                j = skip(t, nt, w);
            }
        }
        i = skip(t, nt, v);
    }
    if (i_vocab < 0)
        goto done;
    o->n_vocab = (size_t)t[i_vocab].size;
    o->vocab = dt_malloc_array(o->n_vocab ? o->n_vocab : 1, sizeof *o->vocab);
    if (!o->vocab)
        goto done;
    for (size_t k = 0, j = (size_t)i_vocab + 1; k < o->n_vocab; k++, j += 2) {
        if (j + 1 >= (size_t)nt || put_str(o, js, &t[j], &o->vocab[k].text) ||
            get_int(js, &t[j + 1], &o->vocab[k].id))
            goto done;
    }
    if (i_merges >= 0) {
        o->have_merges = 1;
        o->n_merges = (size_t)t[i_merges].size;
        o->merges = dt_malloc_array(o->n_merges ? o->n_merges : 1, sizeof *o->merges);
        if (!o->merges)
            goto done;
        size_t j = (size_t)i_merges + 1;
        for (size_t k = 0; k < o->n_merges; k++) {
            if (j >= (size_t)nt)
                goto done;
            struct dt_tokjson_merge *m = &o->merges[k];
            if (t[j].type == JSMN_STRING) {
                m->pair = 0;
                if (put_str(o, js, &t[j], &m->a))
                    goto done;
                j++;
            } else if (t[j].type == JSMN_ARRAY && t[j].size == 2 && j + 2 < (size_t)nt &&
                       t[j + 1].type == JSMN_STRING && t[j + 2].type == JSMN_STRING) {
                m->pair = 1;
                if (put_str(o, js, &t[j + 1], &m->a) || put_str(o, js, &t[j + 2], &m->b))
                    goto done;
                j += 3;
            } else {
                goto done; /* the slow path reports it with its index */
            }
        }
    }
    /* the rest of the file, with the two values emptied, for cJSON */
    size_t cut[2][2] = {{(size_t)t[i_vocab].start, (size_t)t[i_vocab].end}, {0, 0}};
    int n_cut = 1;
    if (i_merges >= 0) {
        cut[1][0] = (size_t)t[i_merges].start;
        cut[1][1] = (size_t)t[i_merges].end;
        n_cut = 2;
        if (cut[1][0] < cut[0][0]) {
            size_t a = cut[0][0], b = cut[0][1];
            cut[0][0] = cut[1][0];
            cut[0][1] = cut[1][1];
            cut[1][0] = a;
            cut[1][1] = b;
        }
    }
    o->rest = dt_malloc(n + 8);
    if (!o->rest)
        goto done;
    size_t at = 0, from = 0;
    for (int c = 0; c < n_cut; c++) {
        memcpy(o->rest + at, js + from, cut[c][0] - from);
        at += cut[c][0] - from;
        int is_vocab = cut[c][0] == (size_t)t[i_vocab].start;
        memcpy(o->rest + at, is_vocab ? "{}" : "[]", 2);
        at += 2;
        from = cut[c][1];
    }
    memcpy(o->rest + at, js + from, n - from);
    at += n - from;
    o->rest[at] = '\0';
    o->n_rest = at;
    o->js = js;
    rc = 0;
done:
    dt_free(t);
    if (rc) {
        dt_tokjson_release(o);
        memset(o, 0, sizeof *o);
    }
    return rc;
}

/*
 * Probe corpora (see corpus.h). Probes are deduplicated through an open-addressing table keyed
 * by the probe id (load factor <= 1/2), so building a corpus is linear in its size. Files are
 * read whole with a 256 MiB cap; JSONL lines are parsed with cJSON and every field is
 * type-checked, an error naming the file and line.
 */
#include "corpus/corpus.h"

#include "util/alloc.h"
#include "util/embed.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/rng.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define CORPUS_MAX_FILE_BYTES ((size_t)256 << 20)

/* Built-in corpora are the embedded files corpora/NAME.jsonl (see util/embed.h). */
#define BUILTIN_PREFIX "corpora/"
#define BUILTIN_SUFFIX ".jsonl"

const char *const *dt_corpus_builtin_names(void)
{
    static char store[16][64];
    static const char *names[17];
    size_t k = 0, np = strlen(BUILTIN_PREFIX), ns = strlen(BUILTIN_SUFFIX);
    for (const struct dt_embedded_file *f = dt_embedded_files; f->name && k < 16; f++) {
        size_t n = strlen(f->name);
        if (n <= np + ns || strncmp(f->name, BUILTIN_PREFIX, np) ||
            strcmp(f->name + n - ns, BUILTIN_SUFFIX) || n - np - ns >= sizeof store[0])
            continue;
        memcpy(store[k], f->name + np, n - np - ns);
        store[k][n - np - ns] = '\0';
        names[k] = store[k];
        k++;
    }
    names[k] = NULL;
    return names;
}

void dt_corpus_free(struct dt_corpus *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_probes; i++) {
        dt_free(c->probes[i].text);
        dt_free(c->probes[i].lang);
    }
    dt_free(c->probes);
    dt_free(c->slots);
    dt_free(c->name);
    dt_free(c->source);
    dt_free(c);
}

int dt_corpus_new(const char *name, const char *source, struct dt_corpus **out,
                  struct dt_error *err)
{
    struct dt_corpus *c = dt_calloc(1, sizeof *c);
    if (!c || !(c->name = dt_strdup(name ? name : "corpus")) ||
        !(c->source = dt_strdup(source ? source : ""))) {
        dt_corpus_free(c);
        return dt_error_set(err, DT_ENOMEM, "out of memory creating a corpus");
    }
    dt_corpus_finish(c);
    *out = c;
    return 0;
}

static uint64_t slot_hash(const char *id)
{
    return dt_hash_xxh64(id, DT_XXH128_HEX_LEN, 0);
}

static int rehash(struct dt_corpus *c, size_t n_slots)
{
    size_t *s = dt_calloc(n_slots, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < c->n_probes; i++) {
        size_t h = (size_t)slot_hash(c->probes[i].id) & (n_slots - 1);
        while (s[h])
            h = (h + 1) & (n_slots - 1);
        s[h] = i + 1;
    }
    dt_free(c->slots);
    c->slots = s;
    c->n_slots = n_slots;
    return 0;
}

int dt_corpus_add(struct dt_corpus *c, enum dt_probe_kind kind, const char *text, size_t n_bytes,
                  const char *lang, int *added, struct dt_error *err)
{
    char id[DT_XXH128_HEX_LEN + 1];
    if (added)
        *added = 0;
    dt_probe_id(kind, text, n_bytes, id);
    if (c->n_slots) {
        size_t h = (size_t)slot_hash(id) & (c->n_slots - 1);
        for (; c->slots[h]; h = (h + 1) & (c->n_slots - 1))
            if (!strcmp(c->probes[c->slots[h] - 1].id, id))
                return 0;
    }
    if (c->n_probes + 1 > c->n_slots / 2) {
        size_t ns = c->n_slots ? c->n_slots * 2 : 64;
        if (ns < c->n_slots || rehash(c, ns))
            return dt_error_set(err, DT_ENOMEM, "out of memory indexing corpus probes");
    }
    if (c->n_probes == c->probes_cap) {
        size_t nc = c->probes_cap ? c->probes_cap * 2 : 32;
        struct dt_probe *p = dt_realloc_array(c->probes, nc, sizeof *p);
        if (!p)
            return dt_error_set(err, DT_ENOMEM, "out of memory growing a corpus");
        c->probes = p;
        c->probes_cap = nc;
    }
    struct dt_probe *p = &c->probes[c->n_probes];
    p->text = dt_strndup(text, n_bytes);
    p->lang = lang ? dt_strdup(lang) : NULL;
    if (!p->text || (lang && !p->lang)) {
        dt_free(p->text);
        dt_free(p->lang);
        return dt_error_set(err, DT_ENOMEM, "out of memory adding a probe");
    }
    memcpy(p->id, id, sizeof id);
    p->kind = kind;
    size_t h = (size_t)slot_hash(id) & (c->n_slots - 1);
    while (c->slots[h])
        h = (h + 1) & (c->n_slots - 1);
    c->slots[h] = ++c->n_probes;
    if (added)
        *added = 1;
    return 0;
}

void dt_corpus_finish(struct dt_corpus *c)
{
    /* Canonical form: each probe id and a newline, hashed by streaming XXH3 (no allocation). */
    static const char hexd[] = "0123456789abcdef";
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    for (size_t i = 0; i < c->n_probes; i++) {
        XXH3_128bits_update(&st, c->probes[i].id, DT_XXH128_HEX_LEN);
        XXH3_128bits_update(&st, "\n", 1);
    }
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits_digest(&st));
    for (size_t i = 0; i < sizeof h.digest; i++) {
        c->id[2 * i] = hexd[h.digest[i] >> 4];
        c->id[2 * i + 1] = hexd[h.digest[i] & 15];
    }
    c->id[DT_XXH128_HEX_LEN] = '\0';
}

static int parse_jsonl(struct dt_corpus *c, const char *data, size_t n_bytes,
                       enum dt_probe_kind default_kind, struct dt_error *err)
{
    size_t pos = 0, line_no = 0;
    while (pos < n_bytes) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', n_bytes - pos);
        size_t len = nl ? (size_t)(nl - line) : n_bytes - pos;
        pos += len + (nl ? 1 : 0);
        line_no++;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len)
            continue;
        cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        if (!pr)
            pr = cJSON_GetObjectItemCaseSensitive(o, "text");
        const cJSON *kd = cJSON_GetObjectItemCaseSensitive(o, "kind");
        const cJSON *lg = cJSON_GetObjectItemCaseSensitive(o, "lang");
        int rc = 0;
        enum dt_probe_kind kind = default_kind;
        if (!cJSON_IsObject(o))
            rc = dt_error_set(err, DT_EFORMAT, "line %zu: not a JSON object", line_no);
        else if (!cJSON_IsString(pr))
            rc = dt_error_set(err, DT_EFORMAT,
                              "line %zu: field 'prompt' is missing or not a string", line_no);
        else if (kd && !(cJSON_IsString(kd) && (kind = dt_probe_kind_parse(kd->valuestring))))
            rc = dt_error_set(err, DT_EFORMAT,
                              "line %zu: field 'kind' must be \"chat\" or \"text\"", line_no);
        else if (lg && !cJSON_IsString(lg))
            rc = dt_error_set(err, DT_EFORMAT, "line %zu: field 'lang' is not a string", line_no);
        else
            rc = dt_corpus_add(c, kind, pr->valuestring, strlen(pr->valuestring),
                               lg ? lg->valuestring : NULL, NULL, err);
        cJSON_Delete(o);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_text(struct dt_corpus *c, const char *data, size_t n_bytes,
                      enum dt_probe_kind kind, struct dt_error *err)
{
    /* Paragraph mode when the file holds a blank line, else one probe per line. */
    int para = 0;
    for (size_t i = 0; i + 1 < n_bytes && !para; i++)
        if (data[i] == '\n') {
            size_t j = i + 1;
            while (j < n_bytes && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r'))
                j++;
            if (j < n_bytes && data[j] == '\n')
                para = 1;
        }
    size_t pos = 0;
    while (pos < n_bytes) {
        size_t start = pos, end;
        if (para) {
            /* up to a blank line */
            end = start;
            for (;;) {
                const char *nl = memchr(data + end, '\n', n_bytes - end);
                size_t le = nl ? (size_t)(nl - data) : n_bytes;
                size_t k = end;
                while (k < le && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r'))
                    k++;
                if (k == le && end > start) /* blank line closes the paragraph */
                    break;
                if (k == le) { /* leading blank lines */
                    start = end = le + (nl ? 1 : 0);
                    if (!nl)
                        break;
                    continue;
                }
                end = le + (nl ? 1 : 0);
                if (!nl)
                    break;
            }
            pos = end;
        } else {
            const char *nl = memchr(data + start, '\n', n_bytes - start);
            end = nl ? (size_t)(nl - data) : n_bytes;
            pos = end + (nl ? 1 : 0);
        }
        while (end > start && (data[end - 1] == '\n' || data[end - 1] == '\r' ||
                               data[end - 1] == ' ' || data[end - 1] == '\t'))
            end--;
        while (start < end && (data[start] == ' ' || data[start] == '\t'))
            start++;
        if (end <= start)
            continue;
        if (memchr(data + start, '\0', end - start))
            return dt_error_set(err, DT_EFORMAT, "NUL byte at offset %zu", start);
        int rc = dt_corpus_add(c, kind, data + start, end - start, NULL, NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

int dt_corpus_load_buffer(const char *data, size_t n_bytes, int jsonl, const char *name,
                          const char *source, enum dt_probe_kind default_kind,
                          struct dt_corpus **out, struct dt_error *err)
{
    struct dt_corpus *c = NULL;
    int rc = dt_corpus_new(name, source, &c, err);
    if (rc)
        return rc;
    rc = jsonl ? parse_jsonl(c, data, n_bytes, default_kind, err)
               : parse_text(c, data, n_bytes, default_kind, err);
    if (rc) {
        dt_error_prefix(err, "corpus '%s'", source && *source ? source : c->name);
        dt_corpus_free(c);
        return rc;
    }
    dt_corpus_finish(c);
    *out = c;
    return 0;
}

int dt_corpus_builtin(const char *name, struct dt_corpus **out, struct dt_error *err)
{
    char file[128], source[128];
    size_t n = 0;
    const char *data = NULL;
    if (strlen(name) < 64 && !strchr(name, '/')) {
        snprintf(file, sizeof file, BUILTIN_PREFIX "%s" BUILTIN_SUFFIX, name);
        data = dt_embedded_file(file, &n);
    }
    if (!data)
        return dt_error_set(err, DT_ENOTFOUND, "no built-in corpus named '%s'", name);
    snprintf(source, sizeof source, "builtin:%s", name);
    return dt_corpus_load_buffer(data, n, 1, name, source, DT_PROBE_CHAT, out, err);
}

int dt_corpus_load_file(const char *path, const char *name, enum dt_probe_kind default_kind,
                        struct dt_corpus **out, struct dt_error *err)
{
    char *data = NULL;
    size_t n = 0;
    int rc = dt_file_read_all(path, CORPUS_MAX_FILE_BYTES, &data, &n, err);
    if (rc)
        return rc;
    size_t len = strlen(path), k = 0;
    while (k < n && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r' || data[k] == '\n'))
        k++;
    int jsonl = (len > 6 && !strcmp(path + len - 6, ".jsonl")) ||
                (len > 5 && !strcmp(path + len - 5, ".json")) || (k < n && data[k] == '{');
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char nm[256];
    if (!name) {
        snprintf(nm, sizeof nm, "%s", base);
        char *dot = strrchr(nm, '.');
        if (dot && dot != nm)
            *dot = '\0';
        name = nm;
    }
    rc = dt_corpus_load_buffer(data, n, jsonl, name, path, default_kind, out, err);
    dt_free(data);
    return rc;
}

int dt_corpus_sample(const struct dt_corpus *c, size_t n, uint64_t seed, struct dt_corpus **out,
                     struct dt_error *err)
{
    char name[512];
    struct dt_corpus *r = NULL;
    size_t *idx = NULL;
    unsigned char *keep = NULL;
    int rc;
    if (n > c->n_probes)
        n = c->n_probes;
    snprintf(name, sizeof name, "%s@n%zu-s%llu", c->name, n, (unsigned long long)seed);
    if ((rc = dt_corpus_new(name, c->source, &r, err)))
        return rc;
    idx = dt_malloc_array(c->n_probes ? c->n_probes : 1, sizeof *idx);
    keep = dt_calloc(c->n_probes ? c->n_probes : 1, 1);
    if (!idx || !keep) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory sampling a corpus");
        goto fail;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, seed);
    for (size_t i = 0; i < c->n_probes; i++)
        idx[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t j = i + (size_t)dt_rng_below(&rng, c->n_probes - i);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        keep[idx[i]] = 1;
    }
    for (size_t i = 0; i < c->n_probes; i++)
        if (keep[i] &&
            (rc = dt_corpus_add(r, c->probes[i].kind, c->probes[i].text, strlen(c->probes[i].text),
                                c->probes[i].lang, NULL, err)))
            goto fail;
    dt_corpus_finish(r);
    dt_free(idx);
    dt_free(keep);
    *out = r;
    return 0;
fail:
    dt_free(idx);
    dt_free(keep);
    dt_corpus_free(r);
    return rc;
}

int dt_corpus_export_jsonl(const struct dt_corpus *c, char **out, size_t *n_bytes,
                           struct dt_error *err)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    for (size_t i = 0; i < c->n_probes; i++) {
        cJSON *o = cJSON_CreateObject();
        char *s = NULL;
        if (o && cJSON_AddStringToObject(o, "prompt", c->probes[i].text) &&
            cJSON_AddStringToObject(o, "kind", dt_probe_kind_name(c->probes[i].kind)) &&
            (!c->probes[i].lang || cJSON_AddStringToObject(o, "lang", c->probes[i].lang)))
            s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s) {
            dt_strbuf_release(&sb);
            return dt_error_set(err, DT_ENOMEM, "out of memory exporting a corpus");
        }
        dt_strbuf_puts(&sb, s);
        dt_strbuf_putc(&sb, '\n');
        cJSON_free(s);
    }
    if (dt_strbuf_failed(&sb)) {
        dt_strbuf_release(&sb);
        return dt_error_set(err, DT_ENOMEM, "out of memory exporting a corpus");
    }
    if (!sb.data)
        dt_strbuf_puts(&sb, "");
    *out = dt_strbuf_detach(&sb, n_bytes);
    return *out ? 0 : dt_error_set(err, DT_ENOMEM, "out of memory exporting a corpus");
}

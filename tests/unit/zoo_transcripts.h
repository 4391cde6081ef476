/*
 * Test helper: loads a zoo API transcript (JSON lines with prompt, kind and
 * response.choices[0].message.content) with cJSON. Header-only; static functions.
 */
#ifndef DT_TESTS_ZOO_TRANSCRIPTS_H
#define DT_TESTS_ZOO_TRANSCRIPTS_H

#include "util/alloc.h"
#include "util/file.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct zoo_transcript {
    char **prompt;
    char **kind;
    char **content;
    size_t n;
};

static void zoo_transcript_release(struct zoo_transcript *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->prompt[i]);
        free(t->kind[i]);
        free(t->content[i]);
    }
    free(t->prompt);
    free(t->kind);
    free(t->content);
    memset(t, 0, sizeof *t);
}

static char *zoo_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

/* Loads DT_SHARED_DIR/zoo/transcripts/NAME.jsonl; returns 0 on success, -1 when absent. */
static int zoo_transcript_load(const char *name, struct zoo_transcript *t)
{
    char path[4096];
    const char *shared = getenv("DT_SHARED");
    snprintf(path, sizeof path, "%s/zoo/transcripts/%s.jsonl", shared ? shared : DT_SHARED_DIR,
             name);
    char *buf = NULL;
    size_t n = 0;
    memset(t, 0, sizeof *t);
    if (dt_file_read_all(path, (size_t)64 << 20, &buf, &n, NULL))
        return -1;
    size_t cap = 0;
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        if (j) {
            cJSON *choices = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "response"), "choices");
            cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(choices, 0), "message");
            const char *content = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content"));
            if (t->n == cap) {
                cap = cap ? cap * 2 : 64;
                t->prompt = realloc(t->prompt, cap * sizeof *t->prompt);
                t->kind = realloc(t->kind, cap * sizeof *t->kind);
                t->content = realloc(t->content, cap * sizeof *t->content);
                if (!t->prompt || !t->kind || !t->content)
                    abort();
            }
            t->prompt[t->n] = zoo_dup(cJSON_GetStringValue(cJSON_GetObjectItem(j, "prompt")));
            t->kind[t->n] = zoo_dup(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")));
            t->content[t->n] = zoo_dup(content);
            t->n++;
            cJSON_Delete(j);
        }
        line = nl ? nl + 1 : NULL;
    }
    dt_free(buf);
    return 0;
}

/* Collects pointers to the contents of one kind ("chat" / "text"); returns the count. The
 * pointers are borrowed from t; free the array with free(). */
static size_t zoo_transcript_select(const struct zoo_transcript *t, const char *kind,
                                    const char ***out)
{
    const char **v = malloc((t->n ? t->n : 1) * sizeof *v);
    size_t n = 0;
    if (!v)
        abort();
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->kind[i], kind))
            v[n++] = t->content[i];
    *out = v;
    return n;
}

#endif

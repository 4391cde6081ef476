/*
 * Control panels: an evidence store (reports/store.h) with a panel_members table (schema v3),
 * so that controls recorded once serve many compares (`panel add`, `compare --panel`). A
 * member is a model row (path, size, SHA-256, tokenizer), how its answers were obtained
 * (local weights, transcripts, an endpoint), the chat template and the settings they were
 * generated with; its answers are the observations of its model's collections, found by
 * run/answers.h like any stored answer. `db check` works on a panel as on any store.
 */
#ifndef DT_REPORTS_PANEL_H
#define DT_REPORTS_PANEL_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/sample.h"

struct dt_error;
struct dt_store;

struct dt_panel_member {
    int64_t id, model_id, run_id;
    const char *name, *source, *location, *chat_template, *settings_json, *created_at;
    const char *model_key, *model_path, *sha256, *xxh128, *tokenizer_hash, *format;
    int64_t size_bytes;   /* < 0 unknown */
    int64_t n_answers;    /* observations of the member's model */
};
typedef int (*dt_panel_member_cb)(void *ud, const struct dt_panel_member *m);

/* Records a member; an existing member of that name is kept when it is the same model
 * (*existed = 1: a resumed add), else DT_EMISMATCH. */
int dt_panel_member_add(struct dt_store *s, const char *name, int64_t model_id, const char *source,
                        const char *location, const char *chat_template, const char *settings_json,
                        int64_t run_id, int *existed, struct dt_error *err);
/* Every member, oldest first; a non-zero return from cb stops and is returned. */
int dt_panel_members_list(struct dt_store *s, dt_panel_member_cb cb, void *ud,
                          struct dt_error *err);
/* Removes a member and its answers (the collections of its model, unless another member
 * shares the model); DT_ENOTFOUND when there is none. */
int dt_panel_member_remove(struct dt_store *s, const char *name, struct dt_error *err);
/* Appends every stored answer of a model to out (transcript and endpoint members). */
int dt_panel_member_answers(struct dt_store *s, int64_t model_id, struct dt_sample_set *out,
                            struct dt_error *err);

#endif

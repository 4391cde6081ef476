/*
 * A party to a comparison: one model (teacher, suspect, control or candidate teacher) and
 * what was collected from it. Signals read parties; the pipeline (run/compare.c) fills
 * them, from a local model or from API transcripts.
 *
 * Answers are kept per probe set, in the order of that set's prompts, n_samples per prompt
 * (answers[i_probe * n_samples + i_sample]); a missing answer is NULL (an API transcript that
 * did not cover a prompt).
 */
#ifndef DT_FINGERPRINT_PARTY_H
#define DT_FINGERPRINT_PARTY_H

#include <stddef.h>

#include "corpus/sample.h"

struct dt_ctx;
struct dt_model;
struct dt_tokenizer;

enum dt_party_role {
    DT_ROLE_TEACHER = 1,
    DT_ROLE_SUSPECT = 2,
    DT_ROLE_CONTROL = 3,
    DT_ROLE_CANDIDATE = 4,
};

/* The probe sets every party answers. */
enum dt_probe_set {
    DT_SET_IDENTITY = 0, /* self-identification questions (chat) */
    DT_SET_CHAT = 1,     /* general questions (chat) */
    DT_SET_TEXT = 2,     /* prose openings to continue (text) */
    DT_SET_COUNT = 3,
};

struct dt_answers {
    size_t n_probes;
    int n_samples;
    const char **text; /* n_probes * n_samples, borrowed from the party's samples; NULL = missing */
};

struct dt_party {
    char name[128];                 /* display name: the file's base name or --*-name */
    const char *path;               /* model path or transcript path (borrowed) */
    enum dt_party_role role;
    struct dt_model *model;         /* owned; NULL when only transcripts are available */
    struct dt_ctx *ctx;             /* owned compute context of model (its threads), or NULL */
    const struct dt_tokenizer *tok; /* the model's tokenizer (borrowed) or NULL */
    char *chat_template;            /* owned "{prompt}" template, or NULL (raw prompts) */
    struct dt_chat_template *chat;  /* owned: the chat format chat probes use, or NULL */
    struct dt_sample_set samples;   /* every answer, generated or imported (the evidence) */
    struct dt_answers answers[DT_SET_COUNT];
};

/* Convenience: answer i_sample to probe i_probe of a set (NULL when missing). */
static inline const char *dt_party_answer(const struct dt_party *p, enum dt_probe_set set,
                                          size_t i_probe, int i_sample)
{
    const struct dt_answers *a = &p->answers[set];
    if (i_probe >= a->n_probes || i_sample >= a->n_samples)
        return NULL;
    return a->text[i_probe * (size_t)a->n_samples + (size_t)i_sample];
}

#endif

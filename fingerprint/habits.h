/*
 * Hallmark habits: phrases a teacher repeats across its answers to different prompts that
 * independent control models rarely write in answers to the same prompts: fixed openings
 * ("Certainly! ..."), closings ("... I hope this helps."), whole repeated sentences (a fixed
 * refusal), and frequent word n-grams.
 *
 * Texts are compared as word sequences (fingerprint/text.h: case-folded, punctuation-
 * insensitive, each CJK character a word). Learn on one half of the probes and score the
 * other half: a habit's teacher support is inflated on the texts it was selected from.
 * Expect one teacher text per prompt: support counts texts, so several samples of the same
 * prompt would count a prompt-specific phrase several times.
 */
#ifndef DT_FINGERPRINT_HABITS_H
#define DT_FINGERPRINT_HABITS_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint/text.h"

struct dt_error;

enum dt_habit_kind {
    DT_HABIT_OPENING = 0,  /* the text starts with the phrase (first k words) */
    DT_HABIT_CLOSING = 1,  /* the text ends with the phrase (last k words) */
    DT_HABIT_SENTENCE = 2, /* the phrase occurs anywhere; the teacher wrote it as a sentence */
    DT_HABIT_NGRAM = 3,    /* the phrase occurs anywhere */
};

const char *dt_habit_kind_name(enum dt_habit_kind kind); /* "opening", ... */

struct dt_habits_params {
    size_t max_edge_words;       /* openings/closings of 1..this many words (8) */
    size_t min_ngram, max_ngram; /* n-gram lengths (3..8) */
    size_t min_sentence_words;   /* whole sentences of this many words ... (3) */
    size_t max_sentence_words;   /* ... up to this many (40) */
    size_t max_words_per_text;   /* longer texts: the first this many words feed n-grams and
                                    sentences; openings and closings still see both ends (2048) */
    double min_teacher_support;  /* keep phrases in >= this fraction of teacher texts (0.10) */
    size_t min_teacher_count;    /* ... and in >= this many teacher texts (2) */
    double max_control_ratio;    /* ... and whose support in EVERY control is <= this times the
                                    teacher support (0.25) */
    size_t max_habits;           /* ranked list capped here (50) */
};
void dt_habits_params_default(struct dt_habits_params *p);

struct dt_habit {
    enum dt_habit_kind kind;
    char *phrase; /* case-folded words joined by single spaces */
    size_t n_words;
    uint64_t *word_hash;    /* (n_words) */
    size_t teacher_count;   /* teacher texts that have it */
    double teacher_support; /* teacher_count / n_teacher */
    double control_max;     /* highest support among the controls */
    double control_mean;    /* mean support over the controls */
    double score;           /* logit(teacher) - logit(max control), smoothed (see habits.c) */
};

struct dt_habits {
    struct dt_habit *habit; /* ranked: score descending, then longer first */
    size_t n;
    size_t n_teacher;    /* teacher texts learned from */
    size_t n_controls;   /* control models */
    size_t n_candidates; /* phrases that met the teacher support floor */
};

/*
 * Learns the teacher's habits. controls is an array of n_controls text sets, one per control
 * model (ideally its answers to the same prompts as the teacher's). Selection: teacher
 * support >= min_teacher_support and count >= min_teacher_count, and for every control,
 * support <= max_control_ratio * teacher support. Redundant phrases are dropped: a phrase
 * containing an already selected one, or contained in one whose support is not at least 1.5
 * times lower. params may be NULL for the defaults. Without controls every frequent phrase
 * qualifies; the list then describes the teacher, not what distinguishes it.
 */
int dt_habits_learn(const struct dt_text_set *teacher, const struct dt_text_set *controls,
                    size_t n_controls, const struct dt_habits_params *params,
                    struct dt_habits **out, struct dt_error *err);
void dt_habits_free(struct dt_habits *habits);

struct dt_habits_result {
    size_t n_matched; /* habits the text reproduces */
    int any;          /* n_matched > 0: the per-answer 0/1 indicator */
    double weighted;  /* sum of the matched habits' scores (scores below 0 count as 0) */
};

/* Scores one text. matched (optional, habits->n bytes) receives a 0/1 per habit. */
int dt_habits_score(const struct dt_habits *habits, const char *text, size_t n_bytes,
                    struct dt_habits_result *out, unsigned char *matched, struct dt_error *err);
/* The same, and first_word (optional, habits->n entries) receives the word index where each
 * matched habit starts, so that overlapping matches can be told to be one phrase. */
int dt_habits_score_at(const struct dt_habits *habits, const char *text, size_t n_bytes,
                       struct dt_habits_result *out, unsigned char *matched, size_t *first_word,
                       struct dt_error *err);

#endif

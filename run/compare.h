/*
 * The comparison pipeline behind `compare` and `attribute`: opens every party (local model
 * or API transcripts), picks the probes, collects every party's answers (generating them
 * with the local inference core where a model is available), runs every signal for each
 * candidate teacher, decides a verdict per candidate and attributes the suspect to the
 * candidate with the strongest evidence.
 *
 * Cost: each local model answers n_identity * identity_samples + n_chat + n_text prompts
 * (short answers) and scores n_text short texts a few times; see docs/method.md.
 */
#ifndef DT_RUN_COMPARE_H
#define DT_RUN_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "corpus/endpoint.h"
#include "detect/attribution.h"
#include "corpus/generate.h"
#include "detect/verdict.h"
#include "fingerprint/measurement.h"
#include "fingerprint/party.h"

struct dt_error;

/*
 * What names one answer of a model besides the model itself: the probe (kind, text and its
 * content id), the sample index, the user's seed (the answer is drawn with
 * dt_answer_seed(seed, probe_id, sample_index), corpus/seed.h) and the generation settings.
 * The same key and model always give the same answer, so a stored one can stand in for it.
 */
struct dt_answer_key {
    enum dt_probe_kind kind;
    const char *prompt;
    const char *probe_id; /* hex content id of (kind, prompt) */
    int sample_index;
    uint64_t seed;        /* the user's seed */
    const struct dt_sample_gen_params *gen; /* chat template (chat probes), n_predict, n_top,
                                             * temperature, top_k, top_p; gen->seed is the
                                             * answer's own seed */
};

/*
 * Stored answers of one party (run/answers.h implements it on evidence stores and
 * panels). compare asks lookup before generating an answer and hands every answer it
 * generates to record, so a rerun of an interrupted compare reads what was generated.
 * A party with a source but no model, transcripts or endpoint answers from the source alone
 * (a panel member whose weights are gone): missing answers stay missing.
 */
struct dt_party;
struct dt_answer_source {
    /* *found = 1 and *out (initialised by the caller) filled when an answer is stored */
    int (*lookup)(void *ud, const struct dt_party *party, const struct dt_answer_key *key,
                  struct dt_sample *out, int *found, struct dt_error *err);
    /* may be NULL: nothing is recorded */
    int (*record)(void *ud, const struct dt_party *party, const struct dt_answer_key *key,
                  const struct dt_sample *answer, struct dt_error *err);
    /* may be NULL: called once compare is done with the party's answers (also when it fails,
     * with ok = 0), so that recorded answers can be committed in batches */
    int (*flush)(void *ud, int ok, struct dt_error *err);
    void *ud;
};

struct dt_compare_input {
    const char *model_path;       /* GGUF file or Hugging Face directory, or NULL */
    const char *transcripts_path; /* API transcripts (JSONL), or NULL */
    const struct dt_endpoint_options *endpoint; /* an OpenAI-compatible endpoint, or NULL:
                                                 * its answers to the probes are collected
                                                 * like transcripts (borrowed) */
    const char *name;             /* display name, or NULL for the file's base name */
    const char *chat_template;    /* this party's "{prompt}" template when its tokenizer has no
                                   * recognised one, or NULL for the params' */
    const struct dt_answer_source *answers; /* stored answers, or NULL (borrowed) */
    struct dt_sample_set *samples; /* answers known already, or NULL: moved into the party and
                                    * treated like a transcript file's (a panel member
                                    * recorded from transcripts or an endpoint) */
};

/* Progress, counted in answers, then in signals: phase "answers" counts every answer the run
 * needs (done: generated, found stored or read from transcripts; total: every party's planned
 * answers), phase "signals" the signal-table rows measured for every candidate teacher. what
 * names the party being answered or the signal being measured. */
typedef void (*dt_compare_progress)(void *ud, const char *phase, const char *what, size_t done,
                                    size_t total);

struct dt_compare_params {
    const char *chat_template;  /* "{prompt}" template for models without a usable one */
    const char *chat_date;      /* YYYY-MM-DD strftime_now reports in templates; NULL: default */
    size_t n_identity;          /* identity probes (40) */
    int identity_samples;       /* answers per identity probe (2) */
    size_t n_chat;              /* chat probes (60) */
    size_t n_text;              /* text probes (40) */
    int max_tokens_chat;        /* (40) */
    int max_tokens_text;        /* (32) */
    float temperature;          /* sampling temperature of the answers (0.8) */
    float top_p;                /* (0.95) */
    uint64_t seed;              /* every random choice derives from it (1) */
    int threads;                /* inference threads; <= 0: default */
    int scoring;                /* enum dt_scoring (infer/compute.h) of local parties' scoring:
                                 * DT_SCORING_EXACT (the default) or DT_SCORING_Q8 (quantized
                                 * models too large for the f32 copy score with llama.cpp's
                                 * 8-bit activations) */
    const char *identity_corpus; /* corpus files replacing the built-in ones, or NULL */
    const char *chat_corpus;
    const char *text_corpus;
    int watermark;              /* run the watermark signal with the key below */
    uint64_t watermark_key;
    double watermark_gamma;
    struct dt_verdict_params verdict;
    dt_compare_progress progress; /* may be NULL */
    void *progress_ud;
};

void dt_compare_params_default(struct dt_compare_params *p);
/* The value of a scoring setting (dt_compare_params.scoring, dt_bench_params.scoring) from its
 * name ("exact", "q8") into *scoring; -1 for another name. */
int dt_scoring_option(const char *name, int *scoring);

/* The analysis against one candidate teacher. */
struct dt_compare_outcome {
    size_t i_teacher;             /* index into parties */
    struct dt_measurement *ms;    /* n_ms measurements, in a fixed order */
    size_t n_ms;
    struct dt_verdict verdict;
};

struct dt_compare_result {
    struct dt_party *parties;     /* [0] suspect, [1..n_controls] controls, then the teachers */
    size_t n_parties, n_controls, n_teachers;
    struct dt_compare_outcome *outcomes; /* one per teacher, in input order */
    size_t i_best;                /* outcome the suspect is attributed to (ranked first) */
    double attribution_p;         /* its verdict p-value, Bonferroni-corrected for n_teachers */
    struct dt_attribution_decision attribution; /* the margin over the runner-up */
    enum dt_relation relation;    /* the overall relation: the attributed outcome's, or
                                   * inconclusive when the accused candidates cannot be told
                                   * apart (attribution.decided == 0) */
    char **prompts[DT_SET_COUNT]; /* probe texts of each set (owned) */
    size_t n_prompts[DT_SET_COUNT];
    char probe_source[96];        /* "built-in corpora" or "transcripts of <name>[ and N more]" */
    double seconds_load, seconds_collect, seconds_signals, seconds_total;
    size_t n_generated_tokens;
    size_t n_answers_generated;   /* answers generated by local models in this run */
    size_t n_answers_reused;      /* answers read from an answer source instead */
    size_t n_progress_done, n_progress_total; /* the progress counters of the current phase */
};

/* The inference threads a compare with these parameters runs on (what its run records). */
int dt_compare_threads(const struct dt_compare_params *p);
/* 0 when the parameters are usable; else DT_EINVAL with a one-line message naming the option
 * (today: chat_date must be a real YYYY-MM-DD day). */
int dt_compare_params_check(const struct dt_compare_params *p, struct dt_error *err);

/* teachers[0] is the primary teacher; the others are candidates. */
int dt_compare_run(const struct dt_compare_input *teachers, size_t n_teachers,
                   const struct dt_compare_input *suspect, const struct dt_compare_input *controls,
                   size_t n_controls, const struct dt_compare_params *p,
                   struct dt_compare_result *out, struct dt_error *err);
void dt_compare_result_release(struct dt_compare_result *r);

/*
 * One party's answers to the probes a compare with params p asks (the built-in corpora or
 * p's corpus files, sampled with p's seed and counts; a transcript party's own prompts), read
 * from or recorded through in->answers: what `panel add` stores. out holds that one party
 * (parties[0]) and the prompts; no signal runs. Release with dt_compare_result_release.
 */
int dt_compare_collect_party(const struct dt_compare_input *in, const struct dt_compare_params *p,
                             struct dt_compare_result *out, struct dt_error *err);

#endif

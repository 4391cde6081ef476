/*
 * Identity probes: which model name and which maker a response claims.
 *
 * A rule pack (data/rules/identity.rules, embedded at build time; format documented at its
 * top) holds PCRE2 patterns with named groups `name` and `maker`, plus the normalisation
 * lists (articles, cut words, generic phrases). dt_identity_extract() lists the claims in one
 * text. dt_identity_learn() learns the teacher's identity from the teacher's own answers to
 * identity questions: nothing about any particular model is hard-coded. dt_identity_match()
 * then tells whether another model's answer claims that identity.
 *
 * All texts are byte spans (text, n_bytes); they need not be NUL-terminated and may hold
 * invalid UTF-8 (such bytes are matched as '?', so spans still index the caller's bytes).
 */
#ifndef DT_FINGERPRINT_IDENTITY_H
#define DT_FINGERPRINT_IDENTITY_H

#include <stddef.h>

#include "fingerprint/text.h"

struct dt_error;
struct dt_identity_rules;

enum dt_identity_kind { DT_IDENTITY_NAME = 0, DT_IDENTITY_MAKER = 1 };

struct dt_identity_claim {
    enum dt_identity_kind kind;
    char *value;       /* normalised claim, a NUL-terminated copy of text[start..end) */
    size_t start, end; /* byte span of the normalised claim in the text */
    const char *rule;  /* id of the rule that matched (borrowed from the rules) */
    size_t rule_index; /* its position in the pack */
};

struct dt_identity_claims {
    struct dt_identity_claim *claim; /* sorted by start, then kind; no duplicate spans */
    size_t n;
};

/* Parses a rule pack. origin names it in error messages ("line 12 of 'origin': ..."). */
int dt_identity_rules_parse(const char *text, size_t n_bytes, const char *origin,
                            struct dt_identity_rules **out, struct dt_error *err);
/* The pack embedded in the binary (data/rules/identity.rules). */
int dt_identity_rules_builtin(struct dt_identity_rules **out, struct dt_error *err);
/* Reads and parses a rule pack file (at most 1 MiB). */
int dt_identity_rules_load(const char *path, struct dt_identity_rules **out, struct dt_error *err);
size_t dt_identity_rules_count(const struct dt_identity_rules *rules);
void dt_identity_rules_free(struct dt_identity_rules *rules);

/* Extracts every claim in text[0..n_bytes). Claims with the same kind and span found by
 * several rules are reported once. *out is filled only on success; release it with
 * dt_identity_claims_release. */
int dt_identity_extract(const struct dt_identity_rules *rules, const char *text, size_t n_bytes,
                        struct dt_identity_claims *out, struct dt_error *err);
void dt_identity_claims_release(struct dt_identity_claims *claims);

/* Learning parameters; dt_identity_learn_params_default() fills the documented defaults. */
struct dt_identity_learn_params {
    double min_support;  /* keep a string claimed in >= this fraction of the texts (0.20) */
    size_t min_count;    /* ... and in at least this many texts (2) */
    size_t max_per_kind; /* keep at most this many names and this many makers (3) */
};
void dt_identity_learn_params_default(struct dt_identity_learn_params *p);

struct dt_identity_entry {
    enum dt_identity_kind kind;
    char *value;    /* as first written by the teacher */
    size_t count;   /* teacher texts claiming it (compared ASCII case-insensitively) */
    double support; /* count / n_texts */
};

struct dt_identity_profile {
    struct dt_identity_entry *entry; /* names first, then makers; each by count descending */
    size_t n_entry;
    size_t n_texts;          /* teacher texts learned from */
    size_t n_texts_claiming; /* teacher texts with at least one name or maker claim */
    void *match_name;        /* compiled matchers (pcre2_code *), NULL when none learned */
    void *match_maker;
};

/*
 * Learns the teacher's claimed identity from its answers to identity questions: every claim
 * is counted once per text (case-insensitively), and a name or maker is kept when its support
 * (fraction of texts claiming it) is >= min_support and its count >= min_count; at most
 * max_per_kind of each kind, most frequent first (ties: first seen). params may be NULL for
 * the defaults. A teacher that never claims an identity gives an empty profile (n_entry == 0,
 * every match 0), not an error.
 */
int dt_identity_learn(const struct dt_identity_rules *rules, const struct dt_text_set *teacher,
                      const struct dt_identity_learn_params *params,
                      struct dt_identity_profile **out, struct dt_error *err);
void dt_identity_profile_free(struct dt_identity_profile *profile);

/* Match flags for dt_identity_match_flags. */
#define DT_IDENTITY_NAME_MENTIONED 1u  /* a learned name occurs anywhere in the text */
#define DT_IDENTITY_MAKER_MENTIONED 2u /* a learned maker occurs anywhere in the text */
#define DT_IDENTITY_NAME_CLAIMED 4u    /* an extracted name claim contains a learned name */
#define DT_IDENTITY_MAKER_CLAIMED 8u   /* an extracted maker claim contains a learned maker */

/*
 * The per-answer indicator: 1 when the text mentions a learned name or maker anywhere, as a
 * whole word (case-insensitive; no word boundary is required next to CJK characters), else 0;
 * negative DT_E* on allocation failure. "Anywhere" rather than "inside an extracted claim"
 * because the texts are answers to identity questions, where any mention of the teacher's
 * name is the claim, and it stays robust to phrasings no rule covers and to garbled student
 * output ("My name is Aurora. I is Aurora."). Its limit: an answer that denies the identity
 * ("I am not Aurora") also matches; DT_IDENTITY_*_CLAIMED from dt_identity_match_flags is
 * the stricter reading.
 */
int dt_identity_match(const struct dt_identity_profile *profile, const char *text, size_t n_bytes);

/* All four DT_IDENTITY_* flags for one text (>= 0), or a negative DT_E* code. */
int dt_identity_match_flags(const struct dt_identity_rules *rules,
                            const struct dt_identity_profile *profile, const char *text,
                            size_t n_bytes, struct dt_error *err);

#endif

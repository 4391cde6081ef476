/*
 * Identity probes: which model name and which maker a response claims.
 *
 * A rule pack (data/rules/identity.rules, embedded at build time; format documented at its
 * top) holds PCRE2 patterns with named groups `name` and `maker`, veto patterns (denials and
 * reported speech) and the normalisation lists (articles, cut words, generic phrases).
 * dt_identity_extract() lists the claims in one text: first-person assertions only ("I am X",
 * "I was made by Y" and their forms in other languages), never a denial, a question, a
 * quotation, or a name the prompt itself contains. dt_identity_learn() learns the teacher's
 * identity from the teacher's own answers to identity questions: nothing about any particular
 * model is hard-coded. dt_identity_match() then tells which of those identities another
 * model's answer claims (a mention is not a claim: "Like a nova, I shine" claims nothing).
 *
 * All texts are byte spans (text, n_bytes); they need not be NUL-terminated and may hold
 * invalid UTF-8 (such bytes are matched as SUB, 0x1A, so spans still index the caller's bytes).
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

/* Extracts every claim in text[0..n_bytes), the answer to prompt[0..n_prompt) (prompt may be
 * NULL: no echo check). A candidate a rule captures is dropped when a veto pattern matches in
 * its clause before it (or a vetoafter pattern after it), when its clause ends with a
 * question mark, when it lies inside a quotation opened earlier on its line, or when the
 * prompt contains one of its words (not written in lower case there). Claims with the same
 * kind and span found by several rules are reported once. *out is filled only on success;
 * release it with dt_identity_claims_release. */
int dt_identity_extract(const struct dt_identity_rules *rules, const char *text, size_t n_bytes,
                        const char *prompt, size_t n_prompt, struct dt_identity_claims *out,
                        struct dt_error *err);
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
    void **match;            /* (n_entry) compiled whole-word matchers (pcre2_code *) */
};

/*
 * Learns the teacher's claimed identity from its answers to identity questions (prompts, when
 * not NULL, holds teacher->n questions, each may be NULL, so that echoes are not learned):
 * every claim is counted once per text (case-insensitively), and a name or maker is kept when its support
 * (fraction of texts claiming it) is >= min_support and its count >= min_count; at most
 * max_per_kind of each kind, most frequent first (ties: first seen). params may be NULL for
 * the defaults. A teacher that never claims an identity gives an empty profile (n_entry == 0,
 * every match 0), not an error.
 */
int dt_identity_learn(const struct dt_identity_rules *rules, const struct dt_text_set *teacher,
                      const char *const *prompts, const struct dt_identity_learn_params *params,
                      struct dt_identity_profile **out, struct dt_error *err);
void dt_identity_profile_free(struct dt_identity_profile *profile);

/*
 * Which learned identities the text claims, as the answer to prompt (may be NULL): an entry
 * is claimed when an extracted claim of its kind (dt_identity_extract, so never a denial,
 * question, quotation or echo of the prompt) contains it as a whole word, case-insensitively
 * (no word boundary is required next to CJK characters). claimed (optional, n_entry bytes)
 * receives a 0/1 per entry. Returns the number of entries claimed (>= 0) or a negative DT_E*.
 */
int dt_identity_match(const struct dt_identity_rules *rules,
                      const struct dt_identity_profile *profile, const char *text, size_t n_bytes,
                      const char *prompt, size_t n_prompt, unsigned char *claimed,
                      struct dt_error *err);

#endif

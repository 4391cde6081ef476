/*
 * N-gram overlap between generations: shingles (word n-grams or byte n-grams) hashed with
 * XXH64, exact and MinHash-estimated Jaccard similarity, per probe and per set of texts, and
 * the "rare shingle containment" of a suspect's answers in the teacher's.
 *
 * Per-probe outputs (one figure per answer) let the caller run paired tests: e.g. for each
 * probe, J(suspect, teacher) against J(suspect, control) or J(control, teacher).
 */
#ifndef DT_FINGERPRINT_NGRAM_H
#define DT_FINGERPRINT_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint/text.h"

struct dt_error;

enum dt_shingle_unit {
    DT_SHINGLE_WORDS = 0, /* word n-grams over fingerprint/text.h words (case-folded,
                             punctuation-insensitive, one word per CJK character) */
    DT_SHINGLE_BYTES = 1, /* raw byte n-grams (tokenizer- and language-agnostic) */
};

#define DT_MINHASH_MAX_PERM 4096

struct dt_ngram_params {
    enum dt_shingle_unit unit; /* DT_SHINGLE_WORDS */
    size_t width;              /* words or bytes per shingle (4) */
    size_t n_perm;             /* MinHash signature length, 1..DT_MINHASH_MAX_PERM (128) */
    uint64_t seed;             /* derives the n_perm hash functions */
};
void dt_ngram_params_default(struct dt_ngram_params *p);

/* A set of shingle hashes: sorted ascending, no duplicates. */
struct dt_shingles {
    uint64_t *h;
    size_t n;
};

/*
 * The shingle set of one text. A text with fewer units than width (but at least one) gives
 * one shingle of all its units, so short answers still compare; an empty text (or one with no
 * words) gives the empty set.
 */
int dt_ngram_shingles(const char *text, size_t n_bytes, const struct dt_ngram_params *p,
                      struct dt_shingles *out, struct dt_error *err);
void dt_shingles_release(struct dt_shingles *s);

/* |A ∩ B| / |A ∪ B|; 0 when either set is empty (no shared phrasing to report). */
double dt_ngram_jaccard_exact(const struct dt_shingles *a, const struct dt_shingles *b);
/* |A ∩ B| for sorted sets. */
size_t dt_ngram_intersection(const struct dt_shingles *a, const struct dt_shingles *b);

/* MinHash signature (p->n_perm values) of a set: sig[j] = min over s of h_j(s). The empty set
 * has every value UINT64_MAX. */
int dt_minhash_sign(const struct dt_shingles *s, const struct dt_ngram_params *p, uint64_t *sig);
/* Signature of the union of two sets: elementwise minimum, into dst. */
void dt_minhash_merge(uint64_t *dst, const uint64_t *src, size_t n_perm);
/* Estimated Jaccard: fraction of equal positions; 0 when either set is empty. Standard error
 * about sqrt(J(1-J)/n_perm). */
double dt_minhash_jaccard(const uint64_t *a, const uint64_t *b, size_t n_perm);

/* Per probe: out[i] = MinHash Jaccard estimate between a->text[i] and b->text[i] (answers of
 * two models to the same prompt i). a->n must equal b->n. */
int dt_ngram_pairwise(const struct dt_text_set *a, const struct dt_text_set *b,
                      const struct dt_ngram_params *p, double *out, struct dt_error *err);

/* Whole sets: MinHash Jaccard estimate between the union of a's shingles and the union of
 * b's. */
int dt_ngram_set_jaccard(const struct dt_text_set *a, const struct dt_text_set *b,
                         const struct dt_ngram_params *p, double *out, struct dt_error *err);

struct dt_ngram_containment {
    size_t n_shingles;        /* distinct shingles of the answer */
    size_t n_rare;            /* ... that no control output contains */
    size_t n_rare_in_teacher; /* ... of those, found in some teacher output */
    double containment;       /* n_rare_in_teacher / n_rare; 0 when n_rare == 0 */
};

/*
 * Rare-shingle containment: for each suspect answer, the fraction of its rare shingles (absent
 * from every control output) that occur in the teacher's outputs (any answer). Shingles the
 * suspect shares with controls, such as words echoed from the prompt, do not count. per_text
 * (suspect->n entries) and total (sums over answers; containment = sum in / sum rare) may each
 * be NULL. For a baseline, run it with each control in the suspect's place and the remaining
 * controls as controls.
 */
int dt_ngram_rare_containment(const struct dt_text_set *suspect, const struct dt_text_set *teacher,
                              const struct dt_text_set *controls, size_t n_controls,
                              const struct dt_ngram_params *p,
                              struct dt_ngram_containment *per_text,
                              struct dt_ngram_containment *total, struct dt_error *err);

#endif

/*
 * Reports: everything one run recorded in the evidence store (run, verdict, signals, the
 * models it read), loaded into one struct and rendered as HTML, Markdown, JSON, JUnit XML or
 * SARIF 2.1.0. A report is rendered from the store alone, so it can be regenerated later.
 *
 * Every string loaded from the store is cleaned on the way in (invalid UTF-8 becomes U+FFFD,
 * control characters become their visible U+2400 pictures, very long texts are cut with a
 * note), so each renderer only has to escape for its own syntax and every output is valid
 * UTF-8 and, for the XML formats, well-formed.
 *
 * Each rendered report carries an integrity record: the run id, the SHA-256 and size of
 * every input recorded in the store, a SHA-256 of the run's evidence rows and a SHA-256 of
 * the rendered document (computed with the digest itself replaced by 64 zeros).
 * dt_report_verify checks a report file against the store and the input files on disk.
 */
#ifndef DT_REPORTS_REPORT_H
#define DT_REPORTS_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_store;
struct dt_strbuf;

/* The comparison document's name and version ("document", "document_version" of the JSON
 * that compare --json prints and report --format json renders; docs/schema/comparison.schema.json). */
#define DT_COMPARISON_DOCUMENT "distiltrace-comparison"
#define DT_COMPARISON_VERSION 2

enum dt_report_format {
    DT_REPORT_HTML = 1,
    DT_REPORT_MD,
    DT_REPORT_JSON,
    DT_REPORT_JUNIT,
    DT_REPORT_SARIF,
};

/* "html", "md", "json", "junit", "sarif" (also "markdown", "xml"); 0 when unknown. */
enum dt_report_format dt_report_format_parse(const char *name);
const char *dt_report_format_name(enum dt_report_format f);

/* One model the run read: a row of the chain-of-custody table. */
struct dt_report_input {
    int64_t model_id;
    char *role; /* "teacher", "suspect", "control", "other" */
    char *name, *path, *format, *arch, *sha256, *xxh128, *tokenizer_hash; /* NULL unknown */
    int64_t size_bytes;                                                   /* < 0 unknown */
    int64_t n_params;                                                     /* <= 0 unknown */
    char *chat_format; /* the chat format its chat probes were wrapped in, NULL unknown */
};

struct dt_report_control {
    char *name;
    double statistic; /* NaN unknown */
};

struct dt_report_signal {
    char *name;
    char *test;         /* NULL: untested */
    char *klass;        /* "weights", "artifact", "closeness", "info" (details.class) */
    char *note;         /* one sentence from the signal, NULL if none */
    char *suspect_name; /* NULL if none */
    double statistic, p_value, p_adjusted, alpha, ci_low, ci_high, effect; /* NaN unknown */
    int64_t n;                                                             /* < 0 unknown */
    int applicable;  /* details.applicable (1 when absent) */
    int significant; /* details.significant */
    size_t n_controls;
    struct dt_report_control *controls;
    size_t n_examples;
    char **examples;    /* details.examples (strings or {probe, response}), cleaned and cut */
    char *details_json; /* the cleaned details object as compact JSON, NULL if none */
};

struct dt_report_verdict {
    int present;
    char *relation; /* same-weights, weight-derived, distilled, independent, inconclusive */
    char *rationale;
    double p_value, alpha;   /* NaN unknown */
    char *teacher, *suspect; /* names */
    size_t n_controls;
    char **controls; /* names */
    char *details_json;
};

struct dt_report {
    int64_t run_id;
    char *command, *argv_json, *tool_version, *host, *started_at, *ended_at, *status;
    int has_seed;
    uint64_t seed;
    int threads; /* 0 unknown */
    int has_exit_code, exit_code;
    struct dt_report_verdict verdict;
    size_t n_signals;
    struct dt_report_signal *signals;
    size_t n_inputs;
    struct dt_report_input *inputs;
    /* SHA-256 over a canonical serialization of the run, verdict and signal rows */
    char evidence_sha256[65];
    /* the relations that fail a release gate (bit 1 << i for dt_report_gate_relations[i]);
     * 0 means the default: the three derivation relations. JUnit and SARIF report a failure
     * exactly when the gate fails, so they agree with `check`'s exit status. */
    unsigned gate_mask;
};

/* "same-weights", "weight-derived", "distilled", "independent", "inconclusive", NULL. */
extern const char *const dt_report_gate_relations[];
/* Sets the gate to the given relation names; DT_EINVAL naming an unknown one. */
int dt_report_set_gate(struct dt_report *r, const char *const *relations, size_t n,
                       struct dt_error *err);
/* 1 when the run has a verdict and its relation is one the gate fails on. */
int dt_report_gate_fails(const struct dt_report *r);

/* Loads run run_id (> 0) from the store; DT_ENOTFOUND when there is no such run. */
int dt_report_load(struct dt_store *s, int64_t run_id, struct dt_report **out,
                   struct dt_error *err);
void dt_report_free(struct dt_report *r);

/* Appends the rendered report (with its integrity record) to out. */
int dt_report_render(const struct dt_report *r, enum dt_report_format f, struct dt_strbuf *out,
                     struct dt_error *err);

/* True when the verdict is one of the relations that mean derivation was found. */
int dt_report_relation_is_derived(const char *relation);

/* ---- verification ---- */

enum dt_report_check_state {
    DT_REPORT_CHECK_OK = 0,
    DT_REPORT_CHECK_MISMATCH, /* differs from the record */
    DT_REPORT_CHECK_MISSING,  /* the file is not there to re-hash */
};

struct dt_report_file_check {
    char *role, *name, *path;
    char *recorded_sha256;
    enum dt_report_check_state store_state; /* the store's row against the record */
    enum dt_report_check_state file_state;  /* the file on disk against the record */
};

struct dt_report_verification {
    enum dt_report_format format;
    int64_t run_id;
    int body_ok;     /* the document is as rendered */
    int run_found;   /* the store holds the run */
    int evidence_ok; /* the store's evidence rows hash as recorded */
    size_t n_files;
    struct dt_report_file_check *files;
    int n_mismatch, n_missing; /* over files */
};

/*
 * Checks a report (its bytes) against the store: the document's own digest, the run's
 * evidence digest, every recorded input's SHA-256 in the store and, where the file is
 * present, on disk. Returns 0 when the report could be read (then *out says what held), or
 * DT_EFORMAT when it carries no readable integrity record. Release *out with
 * dt_report_verification_release.
 */
int dt_report_verify(struct dt_store *s, const char *data, size_t n_bytes,
                     struct dt_report_verification *out, struct dt_error *err);
/* 1 when everything recorded checks out (missing files do not count against it). */
int dt_report_verification_ok(const struct dt_report_verification *v);
void dt_report_verification_release(struct dt_report_verification *v);

#endif

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
 * The formats and rendering are reports/format.h; checking a report file against the store
 * and the input files on disk is reports/verify.h.
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

/* One model the run read: a row of the chain-of-custody table. */
struct dt_report_input {
    int64_t model_id;
    char *role; /* "teacher", "suspect", "control", "other" */
    char *name, *path, *format, *arch, *sha256, *xxh128, *tokenizer_hash; /* NULL unknown */
    int64_t size_bytes;                                                   /* < 0 unknown */
    int64_t n_params;                                                     /* <= 0 unknown */
    char *chat_format; /* the chat format its chat probes were wrapped in, NULL unknown */
    char *scoring;     /* its scoring arithmetic ("q8", "exact"), NULL unknown or not local */
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

/*
 * A report format: one row of the renderer table (reports/format.h, formats.c). A new format
 * is one reports/render_NAME.c that defines its row as a `const struct dt_report_format`,
 * plus that row in the table; cli/ and verification find it there by name or by content.
 */
struct dt_report_format {
    const char *name;    /* on the command line and in the integrity record: "html" */
    const char *alias;   /* another name accepted on the command line, or NULL: "markdown" */
    const char *summary; /* one line for help: "self-contained HTML, prints to PDF" */
    /* Appends the document with its integrity record (digest still zeros: dt_report_render
     * seals it) to out; 0 or a DT_E* code. */
    int (*render)(const struct dt_report *r, struct dt_strbuf *out);
    /* How surely data[0..n) is a document of this format: 0 not at all, higher surer; the
     * highest scoring row wins (Markdown, with no syntax of its own, scores 1 on anything). */
    int (*sniff)(const char *data, size_t n);
    /* The integrity record's JSON text in a document of this format (heap, dt_free), or
     * NULL when it has none; what report --verify, check and db read back. */
    char *(*extract)(const char *data, size_t n);
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

/* True when the verdict is one of the relations that mean derivation was found. */
int dt_report_relation_is_derived(const char *relation);

/* How a report shows a signal (and the JSON document's "status"). */
enum dt_report_status {
    DT_SIG_EVIDENCE,       /* significant: evidence found */
    DT_SIG_NO_EVIDENCE,    /* tested, not significant */
    DT_SIG_NOT_APPLICABLE, /* could not be evaluated on these inputs */
    DT_SIG_INFO,           /* information only, not tested */
};
enum dt_report_status dt_report_signal_status(const struct dt_report_signal *g);
const char *dt_report_status_label(enum dt_report_status st); /* "Evidence found", ... */
/* The status as the JSON documents write it: "evidence", "no-evidence", "not-applicable", "info". */
const char *dt_report_status_key(enum dt_report_status st);

#endif

/*
 * The release-pipeline gate behind `distiltrace check`: a policy file (JSON) names a suspect,
 * banned teachers and controls; each banned teacher is compared with the suspect, recorded in
 * the evidence store, and the reports the policy asks for are rendered from the store. The
 * gate fails when a verdict is one of the policy's fail_on relations.
 *
 * Policy (relative paths are relative to the policy file):
 *   {"suspect": "model.gguf", "teachers_banned": ["t.gguf", ...], "controls": [...],
 *    "alpha": 0.01, "fail_on": ["same-weights", "weight-derived", "distilled"],
 *    "chat_template": "<|user|>{prompt}<|assistant|>", "seed": 1, "threads": 2,
 *    "probes": {"identity": 40, "chat": 60, "text": 40}, "db": "evidence.db",
 *    "formats": {"junit": "out.xml", "sarif": "out.sarif", "html": "report.html",
 *                "md": "report.md", "json": "report.json"}}
 * With several banned teachers each report path gets "-TEACHER" before its extension.
 */
#ifndef DT_RUN_CHECK_H
#define DT_RUN_CHECK_H

#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

#define DT_CHECK_MAX_MODELS 32
#define DT_CHECK_MAX_FORMATS 8

struct dt_check;

struct dt_check_report {
    const char *format; /* "html", "junit", ... (borrowed from the policy) */
    char *path;         /* where it was written */
};

/* The outcome against one banned teacher. */
struct dt_check_result {
    const char *teacher;  /* resolved path (borrowed from the check) */
    const char *relation; /* the verdict's relation name (static) */
    double p_value, alpha;
    int fails;            /* 1: the relation is one of fail_on */
    int64_t run_id;
    struct dt_check_report reports[DT_CHECK_MAX_FORMATS];
    size_t n_reports;
};

/* Callbacks: started before the compare of teacher i_teacher, done after its reports were
 * written; progress as the compare goes. Any may be NULL. */
struct dt_check_hooks {
    void (*started)(void *ud, const struct dt_check *c, size_t i_teacher);
    void (*done)(void *ud, const struct dt_check *c, const struct dt_check_result *r);
    /* as run/compare.h's dt_compare_progress: phase ("answers", "signals"), what (a party or
     * a signal), done of total */
    void (*progress)(void *ud, const char *phase, const char *what, size_t done, size_t total);
    void *ud;
};

/* Reads and validates the policy at path; suspect and db (may be NULL) override the policy's.
 * Every path is resolved, every model must exist and every report path must be writable
 * (missing directories are created) before this returns: a check never ends, after minutes
 * of work, on a path typo. */
int dt_check_open(const char *path, const char *suspect, const char *db, struct dt_check **out,
                  struct dt_error *err);
/* Runs the compares (argc/argv are recorded with each run). */
int dt_check_run(struct dt_check *c, int argc, char **argv, const struct dt_check_hooks *hooks,
                 struct dt_error *err);
void dt_check_free(struct dt_check *c);

/* Getters (borrowed, valid until dt_check_free). */
const char *dt_check_suspect(const struct dt_check *c);
const char *dt_check_db_path(const struct dt_check *c);
size_t dt_check_n_teachers(const struct dt_check *c);
const char *dt_check_teacher(const struct dt_check *c, size_t i);
size_t dt_check_n_controls(const struct dt_check *c);
/* After dt_check_run: 1 when any verdict failed the gate. */
int dt_check_failed(const struct dt_check *c);

#endif

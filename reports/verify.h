/*
 * Verification of a rendered report: its integrity record (found by its format's row of the
 * renderer table) against the document itself, the evidence store and the input files.
 */
#ifndef DT_REPORTS_VERIFY_H
#define DT_REPORTS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;
struct dt_store;
struct dt_report_format;

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
    const struct dt_report_format *format; /* a row of the renderer table (static) */
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

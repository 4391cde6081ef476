/*
 * Registering and verifying release fingerprints (run/release.h): the model opened, the
 * fingerprint computed or loaded, the store written in one transaction.
 */
#include "run/release.h"

#include "infer/model.h"
#include "reports/store.h"
#include "util/alloc.h"

#include <string.h>

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

int dt_release_register(const char *model_path, const char *name, const char *db, int threads,
                        int argc, char **argv, struct dt_release_registration *out,
                        struct dt_error *err)
{
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    struct dt_fingerprint *fp = NULL;
    struct dt_store *s = NULL;
    char *json = NULL;
    int64_t run_id = 0, model_id = 0;
    memset(out, 0, sizeof *out);
    int rc = dt_model_open(model_path, &m, err);
    if (rc == 0)
        rc = dt_ctx_new(m, threads, &x, err);
    if (rc == 0)
        rc = dt_fingerprint_compute(x, &fp, err);
    if (rc == 0)
        rc = dt_fingerprint_to_json(fp, &json, err);
    if (rc == 0)
        rc = dt_store_open(db, &s, err);
    if (rc == 0)
        rc = dt_store_begin(s, err);
    if (rc == 0) {
        struct dt_store_model sm = {name ? name : base_name(model_path),
                                    model_path,
                                    NULL,
                                    fp->arch,
                                    fp->n_params,
                                    fp->tokenizer_hash};
        if ((rc = dt_store_run_begin(s, argc, argv, NULL, threads, &run_id, err)) == 0 &&
            (rc = dt_store_model_upsert(s, &sm, &model_id, err)) == 0 &&
            (rc = dt_store_fingerprint_insert(s, sm.name, model_id, run_id,
                                              (int64_t)fp->n_tensors, fp->tokenizer_hash, json,
                                              &out->fingerprint_id, err)) == 0 &&
            (rc = dt_store_run_end(s, run_id, 0, err)) == 0)
            rc = dt_store_commit(s, err);
        else
            dt_store_rollback(s);
    }
    if (rc == 0) {
        out->n_tensors = fp->n_tensors;
        out->n_probes = fp->n_seqs;
    }
    dt_free(json);
    dt_fingerprint_free(fp);
    dt_ctx_free(x);
    dt_model_free(m);
    dt_store_close(s);
    return rc;
}

struct fp_load {
    char *json;
    char *name;
};

static int on_fp(void *ud, const struct dt_store_fingerprint_row *row)
{
    struct fp_load *l = ud;
    l->json = dt_strdup(row->data_json ? row->data_json : "");
    l->name = dt_strdup(row->name ? row->name : "");
    return l->json && l->name ? 0 : DT_ENOMEM;
}

int dt_release_verify(const char *model_path, const char *db, const char *fingerprint,
                      int threads, struct dt_fingerprint_match *out, char **name,
                      struct dt_error *err)
{
    struct dt_store *s = NULL;
    struct fp_load l = {0};
    struct dt_fingerprint *fp = NULL;
    struct dt_model *m = NULL;
    struct dt_ctx *x = NULL;
    *name = NULL;
    int rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, err);
    /* a missing store, like a missing fingerprint, is a store error, not a missing model */
    if (rc == DT_EIO)
        rc = DT_EDB;
    if (rc && err && err->code == DT_EIO)
        err->code = DT_EDB;
    if (rc == 0)
        rc = dt_store_fingerprint_get(s, fingerprint, on_fp, &l, err);
    if (rc == DT_ENOTFOUND) {
        rc = DT_EDB;
        if (err)
            err->code = DT_EDB;
    }
    if (rc == 0)
        rc = dt_fingerprint_from_json(l.json, strlen(l.json), &fp, err);
    if (rc == 0)
        rc = dt_model_open(model_path, &m, err);
    if (rc == 0)
        rc = dt_ctx_new(m, threads, &x, err);
    if (rc == 0)
        rc = dt_fingerprint_verify(fp, x, out, err);
    dt_store_close(s);
    dt_fingerprint_free(fp);
    dt_ctx_free(x);
    dt_model_free(m);
    dt_free(l.json);
    if (rc)
        dt_free(l.name);
    else
        *name = l.name;
    return rc;
}

/*
 * collect --endpoint (see collect_endpoint.h). The missing samples of every probe in the shard
 * become one request each; responses arrive in any order and wait in their probe's set until
 * the probe is complete, then the set is stored in one transaction, ordered by sample index.
 * Memory: one request per missing sample plus the samples of probes still incomplete (at most
 * concurrency probes' worth when n_samples is 1).
 */
#include "run/collect_endpoint.h"

#include "corpus/seed.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct probe_state {
    struct dt_sample_set got;
    int n_want; /* samples requested for this probe */
};

struct ctx {
    struct dt_store *s;
    const struct dt_corpus *c;
    int64_t collection_id, run_id;
    struct probe_state *ps;     /* (n_probes) */
    size_t *req_probe;          /* (n_reqs) probe index of each request */
    size_t n_done, n_total;     /* probes completed by this run / to do */
    size_t n_samples_new;
    dt_collect_progress_cb progress;
    void *ud;
};

static int cmp_sample_index(const void *a, const void *b)
{
    const struct dt_sample *x = a, *y = b;
    return (x->sample_index > y->sample_index) - (x->sample_index < y->sample_index);
}

static int on_sample(void *ud, size_t i_req, struct dt_sample *smp, struct dt_error *err)
{
    struct ctx *x = ud;
    size_t ip = x->req_probe[i_req];
    struct probe_state *ps = &x->ps[ip];
    int rc = dt_sample_set_push(&ps->got, smp, err);
    if (rc) {
        dt_sample_release(smp);
        return rc;
    }
    if ((int)ps->got.n < ps->n_want)
        return 0;
    qsort(ps->got.items, ps->got.n, sizeof *ps->got.items, cmp_sample_index);
    if ((rc = dt_store_begin(x->s, err)))
        return rc;
    for (size_t k = 0; k < ps->got.n && rc == 0; k++) {
        int ins = 0;
        rc = dt_store_observation_insert(x->s, x->collection_id, x->run_id, &ps->got.items[k],
                                         &ins, err);
        x->n_samples_new += (size_t)ins;
    }
    if (rc == 0)
        rc = dt_store_commit(x->s, err);
    else
        dt_store_rollback(x->s);
    dt_sample_set_release(&ps->got);
    if (rc)
        return dt_error_prefix(err, "probe %zu of corpus '%s'", ip + 1, x->c->name);
    x->n_done++;
    if (x->progress)
        x->progress(x->ud, x->n_done, x->n_total);
    return 0;
}

static const char *mode_name(enum dt_endpoint_mode m)
{
    return m == DT_ENDPOINT_CHAT ? "chat" : m == DT_ENDPOINT_COMPLETIONS ? "completions" : "auto";
}

/* Key and params: everything that changes what a sample is, except the URL and how many. */
static int collection_key(const struct dt_endpoint_options *eo, const struct dt_corpus *c,
                          const struct dt_collect_params *p, char **key, char **params,
                          struct dt_error *err)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "api_model", eo->model) &&
             cJSON_AddStringToObject(o, "corpus", c->id) &&
             cJSON_AddStringToObject(o, "mode", mode_name(eo->mode)) &&
             cJSON_AddNumberToObject(o, "temperature", p->temperature) &&
             cJSON_AddNumberToObject(o, "top_k", p->top_k) &&
             cJSON_AddNumberToObject(o, "top_p", p->top_p) &&
             cJSON_AddStringToObject(o, "seed", seed) &&
             cJSON_AddNumberToObject(o, "n_predict", p->n_predict) &&
             cJSON_AddNumberToObject(o, "n_top", p->n_top);
    char *sj = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!sj)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    char h[DT_XXH128_HEX_LEN + 1];
    dt_hash_xxh128_hex(sj, strlen(sj), h);
    size_t n = sizeof h + 8;
    if (!(*key = dt_malloc(n))) {
        cJSON_free(sj);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    snprintf(*key, n, "api:%s", h);
    *params = sj;
    return 0;
}

int dt_store_collect_endpoint(struct dt_store *s, const struct dt_endpoint_options *eo,
                              const struct dt_corpus *c, const struct dt_collect_params *p,
                              const struct dt_collect_shard *shard, int argc, char *const *argv,
                              dt_collect_progress_cb progress, void *ud,
                              struct dt_collect_result *res, struct dt_endpoint_stats *stats,
                              struct dt_error *err)
{
    struct dt_collect_result r = {0};
    struct ctx x = {0};
    struct dt_endpoint_request *reqs = NULL;
    char *key = NULL, *params = NULL;
    size_t n_reqs = 0, n_cap = 0;
    size_t sh_n = shard && shard->count > 1 ? shard->count : 1;
    size_t sh_i = shard && shard->count > 1 ? shard->index : 0;
    int rc, run_open = 0;
    r.n_probes = c->n_probes;
    if (p->n_samples < 1 || p->n_predict < 1 || p->n_top < 0 || p->n_top > 20 || sh_i >= sh_n)
        return dt_error_set(err, DT_EINVAL,
                            "collect --endpoint: invalid parameters (top-logprobs at most 20 "
                            "for an API, shard index below the shard count)");
    uint64_t seed = p->seed;
    if ((rc = dt_store_run_begin(s, argc, argv, &seed, 0, &r.run_id, err)))
        return rc;
    run_open = 1;
    struct dt_store_model sm = {.name = eo->model, .format = "api"};
    if ((rc = dt_store_model_upsert(s, &sm, &r.model_id, err)) ||
        (rc = dt_store_corpus_upsert(s, c, &r.corpus_id, err)) ||
        (rc = collection_key(eo, c, p, &key, &params, err)) ||
        (rc = dt_store_collection_open(s, key, r.model_id, r.corpus_id, "transcript", params,
                                       r.run_id, &r.collection_id, NULL, err)))
        goto done;
    x.s = s;
    x.c = c;
    x.collection_id = r.collection_id;
    x.run_id = r.run_id;
    x.progress = progress;
    x.ud = ud;
    if (!(x.ps = dt_calloc(c->n_probes ? c->n_probes : 1, sizeof *x.ps))) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct dt_probe *pr = &c->probes[i];
        int64_t have = 0;
        dt_sample_set_init(&x.ps[i].got);
        if (i % sh_n != sh_i)
            continue;
        if ((rc = dt_store_observation_count(s, r.collection_id, pr->id, &have, err)))
            goto done;
        if (have >= p->n_samples) {
            r.n_skipped++;
            continue;
        }
        x.ps[i].n_want = p->n_samples - (int)have;
        x.n_total++;
        for (int k = (int)have; k < p->n_samples; k++) {
            if (n_reqs == n_cap) {
                size_t nc = n_cap ? 2 * n_cap : 64;
                struct dt_endpoint_request *nr = dt_realloc_array(reqs, nc, sizeof *reqs);
                size_t *np = nr ? dt_realloc_array(x.req_probe, nc, sizeof *np) : NULL;
                if (nr)
                    reqs = nr;
                if (np)
                    x.req_probe = np;
                if (!nr || !np) {
                    rc = dt_error_set(err, DT_ENOMEM, "out of memory");
                    goto done;
                }
                n_cap = nc;
            }
            struct dt_endpoint_request *q = &reqs[n_reqs];
            q->kind = pr->kind;
            q->prompt = pr->text;
            q->sample_index = k;
            q->seed = dt_answer_seed(p->seed, pr->id, k);
            q->temperature = p->temperature;
            q->top_p = p->top_p;
            q->top_k = p->top_k;
            q->max_tokens = p->n_predict;
            q->top_logprobs = p->n_top;
            x.req_probe[n_reqs++] = i;
        }
    }
    if (progress)
        progress(ud, 0, x.n_total);
    rc = dt_endpoint_run(eo, reqs, n_reqs, on_sample, &x, stats, err);
    r.n_samples_new = x.n_samples_new;
done:
    if (run_open) {
        struct dt_error e2 = {0};
        dt_store_run_end(s, r.run_id, rc ? dt_exit_code_for(rc) : 0, &e2);
    }
    if (res)
        *res = r;
    for (size_t i = 0; x.ps && i < c->n_probes; i++)
        dt_sample_set_release(&x.ps[i].got);
    dt_free(x.ps);
    dt_free(x.req_probe);
    dt_free(reqs);
    cJSON_free(params);
    dt_free(key);
    return rc;
}

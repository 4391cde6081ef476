/*
 * The probe plan (see plan.h): which prompts every party answers. Prompts are kept once each,
 * in first-seen order; a corpus sample is seeded by the user's seed (identity +0, chat +1,
 * text +2), so the same settings always ask the same probes.
 */
#include "run/plan.h"

#include "corpus/corpus.h"
#include "run/compare.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

static int push_prompt(char ***list, size_t *n, const char *text, struct dt_error *err)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], text))
            return 0;
    char **nl = dt_realloc_array(*list, *n + 1, sizeof **list);
    if (!nl)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    *list = nl;
    if (!(nl[*n] = dt_strdup(text)))
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    (*n)++;
    return 0;
}

static int probes_from_corpus(const char *file, const char *builtin, size_t n, uint64_t seed,
                              char ***list, size_t *n_out, struct dt_error *err)
{
    struct dt_corpus *c = NULL, *s = NULL;
    int rc = file ? dt_corpus_load_file(file, NULL, DT_PROBE_CHAT, &c, err)
                  : dt_corpus_builtin(builtin, &c, err);
    if (rc)
        return rc;
    if ((rc = dt_corpus_sample(c, n < c->n_probes ? n : c->n_probes, seed, &s, err)) == 0)
        for (size_t i = 0; i < s->n_probes && !rc; i++)
            rc = push_prompt(list, n_out, s->probes[i].text, err);
    dt_corpus_free(c);
    dt_corpus_free(s);
    return rc;
}

int dt_plan_choose(struct dt_compare_result *r, const struct dt_compare_params *p,
                   struct dt_error *err)
{
    /* API-only parties fix the prompts: every prompt of every party's transcripts, in the
     * order teachers (primary first), suspect, controls, so that local models answer each of
     * them and each transcript party is compared on the prompts it covers. Parties are stored
     * as suspect, controls, teachers, so that order starts at the first teacher and wraps. */
    const struct dt_party *src = NULL;
    size_t n_src = 0;
    int rc = 0;
    for (size_t k = 0; k < r->n_parties && !rc; k++) {
        const struct dt_party *pa = &r->parties[(r->n_controls + 1 + k) % r->n_parties];
        if (!pa->samples.n)
            continue;
        if (!src)
            src = pa;
        n_src++;
        for (size_t i = 0; i < pa->samples.n && !rc; i++) {
            const struct dt_sample *s = &pa->samples.items[i];
            if (s->kind == DT_PROBE_CHAT) {
                rc = push_prompt(&r->prompts[DT_SET_IDENTITY], &r->n_prompts[DT_SET_IDENTITY], s->prompt, err);
                if (!rc)
                    rc = push_prompt(&r->prompts[DT_SET_CHAT], &r->n_prompts[DT_SET_CHAT], s->prompt, err);
            } else {
                rc = push_prompt(&r->prompts[DT_SET_TEXT], &r->n_prompts[DT_SET_TEXT], s->prompt, err);
            }
        }
    }
    if (rc || src) {
        if (n_src > 1)
            snprintf(r->probe_source, sizeof r->probe_source, "transcripts of %.30s and %zu more",
                     src->name, n_src - 1);
        else if (src)
            snprintf(r->probe_source, sizeof r->probe_source, "transcripts of %.40s", src->name);
        return rc;
    }
    snprintf(r->probe_source, sizeof r->probe_source, "built-in corpora");
    if ((rc = probes_from_corpus(p->identity_corpus, "identity", p->n_identity, p->seed,
                                 &r->prompts[DT_SET_IDENTITY], &r->n_prompts[DT_SET_IDENTITY], err)))
        return rc;
    if ((rc = probes_from_corpus(p->chat_corpus, "chat", p->n_chat, p->seed + 1,
                                 &r->prompts[DT_SET_CHAT], &r->n_prompts[DT_SET_CHAT], err)))
        return rc;
    return probes_from_corpus(p->text_corpus, "continuation", p->n_text, p->seed + 2,
                              &r->prompts[DT_SET_TEXT], &r->n_prompts[DT_SET_TEXT], err);
}

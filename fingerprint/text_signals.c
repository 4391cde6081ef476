/*
 * Identity, habits and n-gram overlap as measurements (see text_signals.h). The learning
 * modules (identity.c, habits.c, ngram.c) do the text work; this file decides which answers
 * feed them and shapes the counts for the verdict engine's tests.
 */
#include "fingerprint/text_signals.h"

#include "fingerprint/habits.h"
#include "fingerprint/identity.h"
#include "fingerprint/measurement.h"
#include "fingerprint/ngram.h"
#include "fingerprint/party.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"
#include "util/utf8.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Non-missing answers of a set as a text set (all samples). texts is caller storage of
 * n_probes * n_samples entries. */
static struct dt_text_set answers_set(const struct dt_party *p, enum dt_probe_set set,
                                      const char **texts)
{
    const struct dt_answers *a = &p->answers[set];
    size_t n = 0, total = a->n_probes * (size_t)a->n_samples;
    for (size_t i = 0; i < total; i++)
        if (a->text[i])
            texts[n++] = a->text[i];
    struct dt_text_set ts = {texts, NULL, n};
    return ts;
}

/* Adds up to 3 short quotes of matching answers to a JSON array. */
static void add_quote(cJSON *arr, const char *text)
{
    if (!arr || cJSON_GetArraySize(arr) >= 3)
        return;
    char buf[241];
    size_t n = strlen(text);
    if (n > 240) {
        n = 240;
        /* do not cut a UTF-8 sequence in half */
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    cJSON_AddItemToArray(arr, dt_json_string(buf, n));
}

static void set_rates(struct dt_measurement *m)
{
    m->statistic = m->s_n ? (double)m->s_hits / (double)m->s_n : NAN;
    for (size_t j = 0; j < m->n_controls; j++)
        m->control_stats[j] = m->c_n[j] ? (double)m->c_hits[j] / (double)m->c_n[j] : NAN;
}

int dt_signal_identity_run(const struct dt_party *teacher, const struct dt_party *suspect,
                           const struct dt_party *const *controls, size_t n_controls,
                           struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "identity", DT_SIGNAL_ARTIFACT);
    struct dt_identity_rules *rules = NULL;
    struct dt_identity_profile *prof = NULL;
    const char **texts = NULL;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, 0) != 0) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    const struct dt_answers *ta = &teacher->answers[DT_SET_IDENTITY];
    size_t cap = ta->n_probes * (size_t)ta->n_samples;
    const struct dt_answers *sa = &suspect->answers[DT_SET_IDENTITY];
    if (sa->n_probes * (size_t)sa->n_samples > cap)
        cap = sa->n_probes * (size_t)sa->n_samples;
    for (size_t j = 0; j < n_controls; j++) {
        const struct dt_answers *ca = &controls[j]->answers[DT_SET_IDENTITY];
        if (ca->n_probes * (size_t)ca->n_samples > cap)
            cap = ca->n_probes * (size_t)ca->n_samples;
    }
    texts = dt_malloc_array(cap ? cap : 1, sizeof *texts);
    if (!texts) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = dt_identity_rules_builtin(&rules, err)) != 0)
        goto out;
    struct dt_text_set tset = answers_set(teacher, DT_SET_IDENTITY, texts);
    if (tset.n == 0) {
        dt_measurement_skip(m, "the teacher gave no answers to identity questions");
        goto out;
    }
    if ((rc = dt_identity_learn(rules, &tset, NULL, &prof, err)) != 0)
        goto out;
    m->details = cJSON_CreateObject();
    cJSON *learned = cJSON_AddArrayToObject(m->details, "teacher_identity");
    for (size_t i = 0; i < prof->n_entry; i++) {
        cJSON *e = cJSON_CreateObject();
        dt_json_add_string(e, "kind", prof->entry[i].kind == DT_IDENTITY_NAME ? "name" : "maker");
        dt_json_add_string(e, "value", prof->entry[i].value);
        cJSON_AddNumberToObject(e, "teacher_support", prof->entry[i].support);
        cJSON_AddItemToArray(learned, e);
    }
    cJSON_AddNumberToObject(m->details, "teacher_answers", (double)tset.n);
    if (prof->n_entry == 0) {
        dt_measurement_skip(m, "the teacher claims no consistent name or maker in %zu answers to "
                               "identity questions, so there is no identity to inherit",
                            tset.n);
        goto out;
    }
    /* Count how often each model's answers claim the learned identity. */
    cJSON *quotes = cJSON_AddArrayToObject(m->details, "suspect_examples");
    for (size_t j = 0; j <= n_controls; j++) {
        const struct dt_party *p = j == 0 ? suspect : controls[j - 1];
        struct dt_text_set s = answers_set(p, DT_SET_IDENTITY, texts);
        uint64_t hits = 0;
        for (size_t i = 0; i < s.n; i++) {
            int r = dt_identity_match(prof, s.text[i], strlen(s.text[i]));
            if (r < 0) {
                rc = dt_error_set(err, r, "out of memory matching identity claims");
                goto out;
            }
            if (r) {
                hits++;
                if (j == 0)
                    add_quote(quotes, s.text[i]);
            }
        }
        if (j == 0) {
            m->s_hits = hits;
            m->s_n = s.n;
        } else {
            m->c_hits[j - 1] = hits;
            m->c_n[j - 1] = s.n;
        }
    }
    set_rates(m);
    if (m->s_n == 0) {
        dt_measurement_skip(m, "the suspect gave no answers to identity questions");
        goto out;
    }
    m->test = DT_TEST_RATE;
    const char *name = NULL, *maker = NULL;
    for (size_t i = 0; i < prof->n_entry; i++) {
        if (!name && prof->entry[i].kind == DT_IDENTITY_NAME)
            name = prof->entry[i].value;
        if (!maker && prof->entry[i].kind == DT_IDENTITY_MAKER)
            maker = prof->entry[i].value;
    }
    char who[200];
    if (name && maker)
        snprintf(who, sizeof who, "'%.80s', made by '%.80s'", name, maker);
    else if (name)
        snprintf(who, sizeof who, "'%.80s'", name);
    else
        snprintf(who, sizeof who, "a model made by '%.80s'", maker);
    snprintf(m->note, sizeof m->note,
             "the teacher calls itself %s; %llu of %llu suspect answers to identity questions "
             "claim that identity",
             who, (unsigned long long)m->s_hits, (unsigned long long)m->s_n);
out:
    dt_identity_profile_free(prof);
    dt_identity_rules_free(rules);
    dt_free(texts);
    return rc;
}

/* Sample 0 of each listed probe of a set, in order (NULL where missing). */
static void pick_answers(const struct dt_party *p, enum dt_probe_set set, const size_t *idx,
                         size_t n, const char **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dt_party_answer(p, set, idx[i], 0);
}

/* Compacts away NULL texts. */
static struct dt_text_set compact(const char **texts, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (texts[i])
            texts[k++] = texts[i];
    struct dt_text_set ts = {texts, NULL, k};
    return ts;
}

int dt_signal_habits_run(const struct dt_party *teacher, const struct dt_party *suspect,
                         const struct dt_party *const *controls, size_t n_controls, uint64_t seed,
                         struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "habits", DT_SIGNAL_ARTIFACT);
    size_t n = teacher->answers[DT_SET_CHAT].n_probes;
    size_t *perm = NULL;
    const char **texts = NULL;
    struct dt_text_set *csets = NULL;
    struct dt_habits *habits = NULL;
    unsigned char *keep = NULL, *matched = NULL;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, 0) != 0)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (n < 8) {
        dt_measurement_skip(m, "too few chat probes (%zu) to learn habits on one half and test "
                               "them on the other", n);
        return 0;
    }
    perm = dt_malloc_array(n, sizeof *perm);
    texts = dt_malloc_array(n * (n_controls + 1), sizeof *texts);
    csets = dt_calloc(n_controls ? n_controls : 1, sizeof *csets);
    if (!perm || !texts || !csets) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    struct dt_rng rng;
    dt_rng_seed(&rng, seed ^ 0x68616269747300ULL);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)dt_rng_below(&rng, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t n_learn = n / 2, n_test = n - n_learn;
    const size_t *learn = perm, *test = perm + n_learn;

    /* Learn on the first half: the teacher's answers against each control's. */
    pick_answers(teacher, DT_SET_CHAT, learn, n_learn, texts);
    struct dt_text_set tset = compact(texts, n_learn);
    size_t max_control_texts = 0;
    for (size_t j = 0; j < n_controls; j++) {
        const char **ct = texts + n * (j + 1);
        pick_answers(controls[j], DT_SET_CHAT, learn, n_learn, ct);
        csets[j] = compact(ct, n_learn);
        if (csets[j].n > max_control_texts)
            max_control_texts = csets[j].n;
    }
    struct dt_habits_params hp;
    dt_habits_params_default(&hp);
    hp.max_control_ratio = 0.1;
    if ((rc = dt_habits_learn(&tset, csets, n_controls, &hp, &habits, err)) != 0)
        goto out;
    keep = dt_calloc(habits->n ? habits->n : 1, 1);
    matched = dt_calloc(habits->n ? habits->n : 1, 1);
    if (!keep || !matched) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    /* A habit is something only the teacher says: a phrase that any control wrote in more
     * than one answer is something independent models say too, whatever its ratio. */
    size_t n_keep = 0;
    m->details = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(m->details, "habits");
    for (size_t h = 0; h < habits->n; h++) {
        if (habits->habit[h].control_max * (double)max_control_texts > 1.0 + 1e-9)
            continue;
        keep[h] = 1;
        n_keep++;
        cJSON *o = cJSON_CreateObject();
        dt_json_add_string(o, "phrase", habits->habit[h].phrase);
        dt_json_add_string(o, "kind", dt_habit_kind_name(habits->habit[h].kind));
        cJSON_AddNumberToObject(o, "teacher_support", habits->habit[h].teacher_support);
        cJSON_AddNumberToObject(o, "control_max_support", habits->habit[h].control_max);
        cJSON_AddItemToArray(list, o);
    }
    cJSON_AddNumberToObject(m->details, "learn_probes", (double)n_learn);
    cJSON_AddNumberToObject(m->details, "test_probes", (double)n_test);
    if (n_keep == 0) {
        dt_measurement_skip(m, "no phrase that the teacher repeats across its answers to %zu chat "
                               "probes is absent from the controls' answers", n_learn);
        goto out;
    }
    /* Test on the other half. */
    cJSON *quotes = cJSON_AddArrayToObject(m->details, "suspect_examples");
    for (size_t j = 0; j <= n_controls; j++) {
        const struct dt_party *p = j == 0 ? suspect : controls[j - 1];
        uint64_t hits = 0, total = 0;
        for (size_t i = 0; i < n_test; i++) {
            const char *a = dt_party_answer(p, DT_SET_CHAT, test[i], 0);
            if (!a)
                continue;
            struct dt_habits_result r;
            if ((rc = dt_habits_score(habits, a, strlen(a), &r, matched, err)) != 0)
                goto out;
            int any = 0;
            for (size_t h = 0; h < habits->n; h++)
                any |= keep[h] && matched[h];
            total++;
            if (any) {
                hits++;
                if (j == 0)
                    add_quote(quotes, a);
            }
        }
        if (j == 0) {
            m->s_hits = hits;
            m->s_n = total;
        } else {
            m->c_hits[j - 1] = hits;
            m->c_n[j - 1] = total;
        }
    }
    set_rates(m);
    if (m->s_n == 0) {
        dt_measurement_skip(m, "the suspect gave no answers to the held-out chat probes");
        goto out;
    }
    m->test = DT_TEST_RATE;
    snprintf(m->note, sizeof m->note,
             "%zu phrases the teacher repeats and no control writes (e.g. '%.60s'); %llu of %llu "
             "suspect answers to other questions reproduce one",
             n_keep, cJSON_GetArrayItem(list, 0)->child->valuestring,
             (unsigned long long)m->s_hits, (unsigned long long)m->s_n);
out:
    dt_habits_free(habits);
    dt_free(keep);
    dt_free(matched);
    dt_free(perm);
    dt_free(texts);
    dt_free(csets);
    return rc;
}

int dt_signal_ngram_run(const struct dt_party *teacher, const struct dt_party *suspect,
                        const struct dt_party *const *controls, size_t n_controls,
                        struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "ngram_overlap", DT_SIGNAL_CLOSENESS);
    size_t n_chat = teacher->answers[DT_SET_CHAT].n_probes;
    size_t n_text = teacher->answers[DT_SET_TEXT].n_probes;
    size_t n = n_chat + n_text, n_cols = n_controls + 1;
    const char **a = NULL, **b = NULL;
    double *sim = NULL;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, n) != 0)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (n_controls == 0) {
        dt_measurement_skip(m, "no control models to compare the overlap with");
        return 0;
    }
    a = dt_malloc_array(n ? n : 1, sizeof *a);
    b = dt_malloc_array(n ? n : 1, sizeof *b);
    sim = dt_malloc_array(n ? n : 1, sizeof *sim);
    if (!a || !b || !sim) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    struct dt_ngram_params np;
    dt_ngram_params_default(&np);
    for (size_t i = 0; i < n; i++)
        a[i] = i < n_chat ? dt_party_answer(teacher, DT_SET_CHAT, i, 0)
                          : dt_party_answer(teacher, DT_SET_TEXT, i - n_chat, 0);
    for (size_t j = 0; j < n_cols; j++) {
        const struct dt_party *p = j == 0 ? suspect : controls[j - 1];
        for (size_t i = 0; i < n; i++)
            b[i] = i < n_chat ? dt_party_answer(p, DT_SET_CHAT, i, 0)
                              : dt_party_answer(p, DT_SET_TEXT, i - n_chat, 0);
        struct dt_text_set ta = {a, NULL, n}, tb = {b, NULL, n};
        if ((rc = dt_ngram_pairwise(&ta, &tb, &np, sim, err)) != 0)
            goto out;
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = (a[i] && b[i]) ? sim[i] : NAN;
            m->scores[i * n_cols + j] = v;
            if (!isnan(v)) {
                sum += v;
                cnt++;
            }
        }
        double mean = cnt ? sum / (double)cnt : NAN;
        if (j == 0)
            m->statistic = mean;
        else
            m->control_stats[j - 1] = mean;
    }
    m->test = DT_TEST_PAIRED;
    snprintf(m->note, sizeof m->note,
             "mean word 4-gram overlap (MinHash Jaccard) of the suspect's answers with the "
             "teacher's answers to the same %zu prompts: %.3f",
             n, m->statistic);
out:
    dt_free(a);
    dt_free(b);
    dt_free(sim);
    return rc;
}

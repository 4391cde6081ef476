/*
 * Identity, habits and n-gram overlap as measurements (see text_signals.h). The learning
 * modules (identity.c, habits.c, ngram.c) do the text work; this file decides which answers
 * feed them and shapes the counts for the verdict engine's tests. Both artifact signals are
 * cross-fitted: what a model is scored on (teacher identities, teacher habits) is selected
 * without that model's answers, against the other k models', so the suspect and every
 * control are measured by the same rule (docs/method.md). Cost: habits are learned k+1 times,
 * each against k answer sets (quadratic in the number of controls; 1.3 s of signals for 20
 * controls and 60 prompts of 120 words).
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

/* Answers of one party to a set, with the prompt of each (non-missing only). */
struct answered {
    const char **text, **prompt;
    size_t n;
};

static void answered_collect(const struct dt_party *p, enum dt_probe_set set,
                             const char *const *prompts, size_t n_prompts, const char **text,
                             const char **prompt, struct answered *out)
{
    const struct dt_answers *a = &p->answers[set];
    size_t n = 0;
    for (size_t i = 0; i < a->n_probes; i++)
        for (int k = 0; k < a->n_samples; k++) {
            const char *t = a->text[i * (size_t)a->n_samples + (size_t)k];
            if (!t)
                continue;
            text[n] = t;
            prompt[n] = prompts && i < n_prompts ? prompts[i] : NULL;
            n++;
        }
    out->text = text;
    out->prompt = prompt;
    out->n = n;
}

/*
 * identity. Model m (0 the suspect, 1..k the controls) scores a hit for each answer that
 * claims a teacher identity which none of the OTHER k models claims in any answer: an
 * identity that independent models also claim (ChatGPT, OpenAI...) says nothing about
 * descent, so for the model that is evaluated it is "shared" and does not count. Every model
 * is scored by the same rule on identities selected without its own answers, so under the
 * null that the suspect is one more independent model the k+1 rates are exchangeable.
 */
int dt_signal_identity_run(const struct dt_party *teacher, const struct dt_party *suspect,
                           const struct dt_party *const *controls, size_t n_controls,
                           const char *const *prompts, size_t n_prompts,
                           struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "identity", DT_SIGNAL_ARTIFACT);
    struct dt_identity_rules *rules = NULL;
    struct dt_identity_profile *prof = NULL;
    const char **texts = NULL, **tprompts = NULL;
    unsigned char **claimed = NULL; /* (k+1) x (cap x n_entry) per-answer claims */
    size_t *n_ans = NULL, *cnt = NULL; /* (k+1) answers; (k+1) x n_entry answers claiming */
    size_t n_models = n_controls + 1;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, 0) != 0) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    size_t cap = 0;
    for (size_t j = 0; j <= n_models; j++) {
        const struct dt_party *p = j == 0 ? teacher : j == 1 ? suspect : controls[j - 2];
        const struct dt_answers *a = &p->answers[DT_SET_IDENTITY];
        if (a->n_probes * (size_t)a->n_samples > cap)
            cap = a->n_probes * (size_t)a->n_samples;
    }
    texts = dt_malloc_array(cap ? cap : 1, sizeof *texts);
    tprompts = dt_malloc_array(cap ? cap : 1, sizeof *tprompts);
    claimed = dt_calloc(n_models, sizeof *claimed);
    n_ans = dt_calloc(n_models, sizeof *n_ans);
    if (!texts || !tprompts || !claimed || !n_ans) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = dt_identity_rules_builtin(&rules, err)) != 0)
        goto out;
    struct answered ta;
    answered_collect(teacher, DT_SET_IDENTITY, prompts, n_prompts, texts, tprompts, &ta);
    if (ta.n == 0) {
        dt_measurement_skip(m, "the teacher gave no answers to identity questions");
        goto out;
    }
    struct dt_text_set tset = {ta.text, NULL, ta.n};
    if ((rc = dt_identity_learn(rules, &tset, ta.prompt, NULL, &prof, err)) != 0)
        goto out;
    m->details = cJSON_CreateObject();
    cJSON_AddNumberToObject(m->details, "teacher_answers", (double)ta.n);
    if (prof->n_entry == 0) {
        cJSON_AddArrayToObject(m->details, "teacher_identity");
        dt_measurement_skip(m, "the teacher claims no consistent name or maker in %zu answers to "
                               "identity questions, so there is no identity to inherit",
                            ta.n);
        goto out;
    }
    size_t ne = prof->n_entry;
    cnt = dt_calloc(n_models * ne, sizeof *cnt);
    if (!cnt) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
        goto out;
    }
    /* Which teacher identities each answer of each model claims. */
    for (size_t j = 0; j < n_models; j++) {
        const struct dt_party *p = j == 0 ? suspect : controls[j - 1];
        struct answered s;
        answered_collect(p, DT_SET_IDENTITY, prompts, n_prompts, texts, tprompts, &s);
        n_ans[j] = s.n;
        claimed[j] = dt_calloc(s.n * ne + 1, 1);
        if (!claimed[j]) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < s.n; i++) {
            unsigned char *row = claimed[j] + i * ne;
            int r = dt_identity_match(rules, prof, s.text[i], strlen(s.text[i]), s.prompt[i],
                                      s.prompt[i] ? strlen(s.prompt[i]) : 0, row, err);
            if (r < 0) {
                rc = r;
                goto out;
            }
            for (size_t e = 0; e < ne; e++)
                cnt[j * ne + e] += row[e];
        }
    }
    /* Hits: answers claiming an identity no other model claims. */
    uint64_t suspect_shared = 0;
    for (size_t j = 0; j < n_models; j++) {
        uint64_t hits = 0, shared_hits = 0;
        for (size_t i = 0; i < n_ans[j]; i++) {
            const unsigned char *row = claimed[j] + i * ne;
            int hit = 0, shared = 0;
            for (size_t e = 0; e < ne; e++) {
                if (!row[e])
                    continue;
                int elsewhere = 0;
                for (size_t o = 0; o < n_models && !elsewhere; o++)
                    elsewhere = o != j && cnt[o * ne + e] > 0;
                if (elsewhere)
                    shared = 1;
                else
                    hit = 1;
            }
            hits += (uint64_t)hit;
            shared_hits += (uint64_t)(shared && !hit);
        }
        if (j == 0) {
            m->s_hits = hits;
            m->s_n = n_ans[0];
            suspect_shared = shared_hits;
        } else {
            m->c_hits[j - 1] = hits;
            m->c_n[j - 1] = n_ans[j];
        }
    }
    set_rates(m);
    /* Details: each learned identity, who else claims it, and which are shared. */
    cJSON *learned = cJSON_AddArrayToObject(m->details, "teacher_identity");
    cJSON *shared_list = cJSON_AddArrayToObject(m->details, "shared_identities");
    size_t n_specific = 0;
    for (size_t e = 0; e < ne; e++) {
        cJSON *o = cJSON_CreateObject();
        dt_json_add_string(o, "kind", prof->entry[e].kind == DT_IDENTITY_NAME ? "name" : "maker");
        dt_json_add_string(o, "value", prof->entry[e].value);
        cJSON_AddNumberToObject(o, "teacher_support", prof->entry[e].support);
        cJSON_AddNumberToObject(o, "suspect_claims", (double)cnt[e]);
        cJSON *cc = cJSON_AddArrayToObject(o, "control_claims");
        int by_control = 0;
        for (size_t j = 1; j < n_models; j++) {
            cJSON_AddItemToArray(cc, cJSON_CreateNumber((double)cnt[j * ne + e]));
            by_control |= cnt[j * ne + e] > 0;
        }
        cJSON_AddBoolToObject(o, "shared", by_control);
        n_specific += !by_control;
        cJSON_AddItemToArray(learned, o);
        if (by_control)
            cJSON_AddItemToArray(shared_list, cJSON_CreateString(prof->entry[e].value));
    }
    cJSON_AddNumberToObject(m->details, "suspect_shared_only_answers", (double)suspect_shared);
    cJSON_AddStringToObject(m->details, "hit",
                            "an answer that claims a teacher identity which no other model "
                            "(suspect or control, the evaluated one excepted) claims");
    cJSON *quotes = cJSON_AddArrayToObject(m->details, "suspect_examples");
    {
        struct answered s;
        answered_collect(suspect, DT_SET_IDENTITY, prompts, n_prompts, texts, tprompts, &s);
        for (size_t i = 0; i < s.n && i < n_ans[0]; i++) {
            const unsigned char *row = claimed[0] + i * ne;
            for (size_t e = 0; e < ne; e++) {
                int elsewhere = 0;
                for (size_t o = 1; o < n_models && !elsewhere; o++)
                    elsewhere = cnt[o * ne + e] > 0;
                if (row[e] && !elsewhere) {
                    add_quote(quotes, s.text[i]);
                    break;
                }
            }
        }
    }
    if (m->s_n == 0) {
        dt_measurement_skip(m, "the suspect gave no answers to identity questions");
        goto out;
    }
    m->test = DT_TEST_RATE;
    const char *name = NULL, *maker = NULL;
    for (size_t i = 0; i < ne; i++) {
        if (!name && prof->entry[i].kind == DT_IDENTITY_NAME)
            name = prof->entry[i].value;
        if (!maker && prof->entry[i].kind == DT_IDENTITY_MAKER)
            maker = prof->entry[i].value;
    }
    char who[150];
    if (name && maker)
        snprintf(who, sizeof who, "'%.60s', made by '%.60s'", name, maker);
    else if (name)
        snprintf(who, sizeof who, "'%.60s'", name);
    else
        snprintf(who, sizeof who, "a model made by '%.60s'", maker);
    snprintf(m->note, sizeof m->note,
             "the teacher calls itself %s; %llu of %llu suspect answers to identity questions "
             "claim an identity of it that no control claims (%zu of %zu are shared with "
             "controls)",
             who, (unsigned long long)m->s_hits, (unsigned long long)m->s_n, ne - n_specific, ne);
out:
    for (size_t j = 0; claimed && j < n_models; j++)
        dt_free(claimed[j]);
    dt_free(claimed);
    dt_free(n_ans);
    dt_free(cnt);
    dt_identity_profile_free(prof);
    dt_identity_rules_free(rules);
    dt_free(texts);
    dt_free(tprompts);
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

/*
 * habits, cross-fitted. The chat probes are split in two halves with the seed. For each
 * model m evaluated (0 the suspect, 1..k the controls) the habits are selected on the first
 * half from the teacher's answers against the answers of the OTHER k models (never m's own),
 * and m's rate is measured on the second half. A model is therefore never tested on phrases
 * chosen because it does not write them, and the suspect and the controls are treated alike:
 * under the null that the suspect is one more independent model, the k+1 rates are
 * exchangeable (the same function of one model's held-out answers and the other models'
 * selection answers).
 */
/* Distinct teacher habits a model must reproduce on the held-out half for its answers to count. */
#define HABITS_MIN_DISTINCT 2

int dt_signal_habits_run(const struct dt_party *teacher, const struct dt_party *suspect,
                         const struct dt_party *const *controls, size_t n_controls, uint64_t seed,
                         struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "habits", DT_SIGNAL_ARTIFACT);
    size_t n = teacher->answers[DT_SET_CHAT].n_probes, n_models = n_controls + 1;
    size_t *perm = NULL, *n_kept = NULL;
    const char **texts = NULL;
    struct dt_text_set *msets = NULL, *others = NULL;
    struct dt_habits *habits = NULL;
    unsigned char *keep = NULL, *matched = NULL, *seen = NULL;
    size_t *at = NULL;
    int rc = 0;
    if (dt_measurement_alloc(m, n_controls, 0) != 0)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (n < 8) {
        dt_measurement_skip(m, "too few chat probes (%zu) to learn habits on one half and test "
                               "them on the other", n);
        return 0;
    }
    perm = dt_malloc_array(n, sizeof *perm);
    texts = dt_malloc_array(n * (n_models + 1), sizeof *texts);
    msets = dt_calloc(n_models, sizeof *msets);
    others = dt_calloc(n_models, sizeof *others);
    n_kept = dt_calloc(n_models, sizeof *n_kept);
    if (!perm || !texts || !msets || !others || !n_kept) {
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

    /* The selection half: the teacher's answers and every model's. */
    pick_answers(teacher, DT_SET_CHAT, learn, n_learn, texts);
    struct dt_text_set tset = compact(texts, n_learn);
    for (size_t j = 0; j < n_models; j++) {
        const char **mt = texts + n * (j + 1);
        pick_answers(j == 0 ? suspect : controls[j - 1], DT_SET_CHAT, learn, n_learn, mt);
        msets[j] = compact(mt, n_learn);
    }
    struct dt_habits_params hp;
    dt_habits_params_default(&hp);
    hp.max_control_ratio = 0.1;
    m->details = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(m->details, "habits");
    cJSON *per_model = cJSON_AddArrayToObject(m->details, "habits_per_model");
    cJSON *quotes = cJSON_AddArrayToObject(m->details, "suspect_examples");
    cJSON_AddNumberToObject(m->details, "learn_probes", (double)n_learn);
    cJSON_AddNumberToObject(m->details, "test_probes", (double)n_test);
    cJSON_AddStringToObject(m->details, "selection",
                            "cross-fit: each model is tested on phrases selected against the "
                            "other models' answers, never its own");
    const char *example = NULL;
    size_t n_any = 0;
    for (size_t j = 0; j < n_models; j++) {
        /* Selection against the other models. */
        size_t n_o = 0, max_other_texts = 0;
        for (size_t o = 0; o < n_models; o++)
            if (o != j) {
                others[n_o++] = msets[o];
                if (msets[o].n > max_other_texts)
                    max_other_texts = msets[o].n;
            }
        dt_habits_free(habits);
        habits = NULL;
        if ((rc = dt_habits_learn(&tset, others, n_o, &hp, &habits, err)) != 0)
            goto out;
        dt_free(keep);
        dt_free(matched);
        keep = dt_calloc(habits->n ? habits->n : 1, 1);
        matched = dt_calloc(habits->n ? habits->n : 1, 1);
        if (!keep || !matched) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        /* A habit is something only the teacher says: a phrase that another model wrote in
         * more than one answer is something independent models say too, whatever its ratio. */
        for (size_t h = 0; h < habits->n; h++) {
            if (habits->habit[h].control_max * (double)max_other_texts > 1.0 + 1e-9)
                continue;
            keep[h] = 1;
            n_kept[j]++;
            if (j != 0)
                continue;
            cJSON *o = cJSON_CreateObject();
            dt_json_add_string(o, "phrase", habits->habit[h].phrase);
            dt_json_add_string(o, "kind", dt_habit_kind_name(habits->habit[h].kind));
            cJSON_AddNumberToObject(o, "teacher_support", habits->habit[h].teacher_support);
            cJSON_AddNumberToObject(o, "control_max_support", habits->habit[h].control_max);
            cJSON_AddItemToArray(list, o);
            if (!example)
                example = cJSON_GetObjectItem(o, "phrase")->valuestring;
        }
        n_any += n_kept[j] > 0;
        cJSON *pm = cJSON_CreateObject();
        dt_json_add_string(pm, "model", j == 0 ? suspect->name : controls[j - 1]->name);
        cJSON_AddNumberToObject(pm, "habits", (double)n_kept[j]);
        cJSON_AddItemToArray(per_model, pm);
        /* Rate on the held-out half. */
        const struct dt_party *p = j == 0 ? suspect : controls[j - 1];
        uint64_t hits = 0, total = 0;
        size_t n_distinct = 0;
        dt_free(seen);
        seen = dt_calloc(habits->n ? habits->n : 1, 1);
        if (!seen) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        dt_free(at);
        if (!(at = dt_malloc_array(habits->n ? habits->n : 1, sizeof *at))) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n_test; i++) {
            const char *a = dt_party_answer(p, DT_SET_CHAT, test[i], 0);
            if (!a)
                continue;
            struct dt_habits_result r;
            if ((rc = dt_habits_score_at(habits, a, strlen(a), &r, matched, at, err)) != 0)
                goto out;
            /* Matches that overlap in the answer are one phrase ("i m" and "ai assistant" in
             * "I'm an AI assistant"): each run of overlapping matches counts once, keyed by its
             * lowest habit index, and the keys seen across the answers are the distinct
             * habits the model reproduced. */
            int any = 0;
            for (size_t h = 0; h < habits->n; h++) {
                if (!keep[h] || !matched[h])
                    continue;
                any = 1;
                size_t lo = at[h], hi = at[h] + habits->habit[h].n_words, key = h;
                for (int grew = 1; grew;) {
                    grew = 0;
                    for (size_t h2 = 0; h2 < habits->n; h2++) {
                        if (!keep[h2] || !matched[h2])
                            continue;
                        size_t l2 = at[h2], e2 = at[h2] + habits->habit[h2].n_words;
                        if (l2 <= hi && e2 >= lo && (l2 < lo || e2 > hi)) {
                            lo = l2 < lo ? l2 : lo;
                            hi = e2 > hi ? e2 : hi;
                            grew = 1;
                        }
                        if (l2 <= hi && e2 >= lo && h2 < key)
                            key = h2;
                    }
                }
                n_distinct += !seen[key];
                seen[key] = 1;
            }
            total++;
            if (any) {
                hits++;
                if (j == 0)
                    add_quote(quotes, a);
            }
        }
        /* Breadth: an inherited style is several of the teacher's habits at once. A model
         * that shares only one of them (a generic "Sure!" that no control happens to write)
         * has reproduced a coincidence, not a style, and scores no hit. The rule is the same
         * for the suspect and every control, so it keeps the models exchangeable. */
        cJSON_AddNumberToObject(pm, "distinct_reproduced", (double)n_distinct);
        if (n_distinct < HABITS_MIN_DISTINCT)
            hits = 0;
        if (j == 0) {
            m->s_hits = hits;
            m->s_n = total;
        } else {
            m->c_hits[j - 1] = hits;
            m->c_n[j - 1] = total;
        }
    }
    set_rates(m);
    if (n_any == 0) {
        dt_measurement_skip(m, "no phrase that the teacher repeats across its answers to %zu chat "
                               "probes is absent from the other models' answers", n_learn);
        goto out;
    }
    if (m->s_n == 0) {
        dt_measurement_skip(m, "the suspect gave no answers to the held-out chat probes");
        goto out;
    }
    m->test = DT_TEST_RATE;
    if (example)
        snprintf(m->note, sizeof m->note,
                 "%zu phrases the teacher repeats and no control writes (e.g. '%.60s'); %llu of "
                 "%llu suspect answers to other questions reproduce one (each control is tested "
                 "on phrases selected against the other models; a model must reproduce at "
                 "least %d distinct habits)",
                 n_kept[0], example, (unsigned long long)m->s_hits,
                 (unsigned long long)m->s_n, HABITS_MIN_DISTINCT);
    else
        snprintf(m->note, sizeof m->note,
                 "every phrase the teacher repeats is also written by a control, so the suspect "
                 "has none to reproduce; the controls are tested on phrases selected against "
                 "the other models");
out:
    dt_habits_free(habits);
    dt_free(keep);
    dt_free(matched);
    dt_free(seen);
    dt_free(at);
    dt_free(perm);
    dt_free(texts);
    dt_free(msets);
    dt_free(others);
    dt_free(n_kept);
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

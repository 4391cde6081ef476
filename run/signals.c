/*
 * The signal table (run/signals.h) and the thin adapters that call each fingerprint/ extractor
 * with what the table's context holds. The order of the rows is the order of the measurements
 * in every outcome, the store and the reports; changing it changes no p-value (Holm's method
 * does not depend on the order) but does change how reports list the signals.
 */
#include "run/signals.h"

#include "detect/watermark.h"
#include "fingerprint/logit_signals.h"
#include "fingerprint/preference.h"
#include "fingerprint/text_signals.h"
#include "fingerprint/tokenizer_sig.h"
#include "fingerprint/watermark.h"
#include "fingerprint/weights.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "run/compare.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static int run_weights(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    const struct dt_model **cm = dt_calloc(x->n_controls + 1, sizeof *cm);
    if (!cm)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    for (size_t j = 0; j < x->n_controls; j++)
        cm[j] = x->controls[j]->model;
    int rc = dt_signal_weights_run(x->teacher->model, x->suspect->model, cm, x->n_controls, m, err);
    dt_free(cm);
    return rc;
}

static int run_tokenizer(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return dt_signal_tokenizer_run(x->teacher->tok, x->suspect->tok, m, err);
}

static int run_identity(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return dt_signal_identity_run(x->teacher, x->suspect, (const struct dt_party **)x->controls,
                                  x->n_controls, (const char *const *)x->prompts[DT_SET_IDENTITY],
                                  x->n_prompts[DT_SET_IDENTITY], m, err);
}

static int run_habits(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return dt_signal_habits_run(x->teacher, x->suspect, (const struct dt_party **)x->controls,
                                x->n_controls, x->params->seed, m, err);
}

static int run_preference(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return dt_signal_preference_run(x->teacher, x->suspect, (const struct dt_party **)x->controls,
                                    x->n_controls, (const char *const *)x->prompts[DT_SET_TEXT],
                                    x->n_prompts[DT_SET_TEXT], m, err);
}

static int run_ngram(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return dt_signal_ngram_run(x->teacher, x->suspect, (const struct dt_party **)x->controls,
                               x->n_controls, m, err);
}

/* Token sequences for the logit pass: each text probe followed by the teacher's continuation,
 * in the teacher's tokenizer. */
static int logit_sequences(const struct dt_party *teacher, char **prompts, size_t n,
                           int32_t ***seqs, size_t **lens, size_t *n_seqs, struct dt_error *err)
{
    *seqs = dt_calloc(n + 1, sizeof **seqs);
    *lens = dt_calloc(n + 1, sizeof **lens);
    *n_seqs = 0;
    if (!*seqs || !*lens)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    struct dt_strbuf sb = DT_STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        dt_strbuf_reset(&sb);
        dt_strbuf_puts(&sb, prompts[i]);
        const char *cont = dt_party_answer(teacher, DT_SET_TEXT, i, 0);
        if (cont)
            dt_strbuf_puts(&sb, cont);
        if (dt_strbuf_failed(&sb)) {
            rc = dt_error_set(err, DT_ENOMEM, "out of memory");
            break;
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        rc = dt_tokenizer_encode(teacher->tok, sb.data, sb.len, 0, &ids, &n_ids, err);
        if (rc)
            break;
        int n_ctx = dt_model_config(teacher->model)->n_ctx_train;
        if (n_ctx > 0 && n_ids > (size_t)n_ctx)
            n_ids = (size_t)n_ctx;
        (*seqs)[*n_seqs] = ids;
        (*lens)[*n_seqs] = n_ids;
        (*n_seqs)++;
    }
    dt_strbuf_release(&sb);
    return rc;
}

/* The logit pass scores the teacher's continuations of the text probes under the teacher, the
 * suspect and every control once, and yields three measurements: each of their rows takes its
 * own from the context. */
enum { L_JS, L_AGREE, L_SUBSPACE };

static int logits_take(struct dt_signal_ctx *x, int which, struct dt_measurement *m,
                       struct dt_error *err)
{
    if (!x->logits_done) {
        size_t k = x->n_controls;
        int32_t **seqs = NULL;
        size_t *lens = NULL, n_seqs = 0;
        struct dt_ctx **lm = dt_calloc(k + 2, sizeof *lm);
        int rc = lm ? 0 : dt_error_set(err, DT_ENOMEM, "out of memory");
        if (!rc) {
            lm[0] = x->suspect->ctx;
            for (size_t j = 0; j < k; j++)
                lm[1 + j] = x->controls[j]->ctx;
            rc = logit_sequences(x->teacher, (char **)x->prompts[DT_SET_TEXT],
                                 x->n_prompts[DT_SET_TEXT], &seqs, &lens, &n_seqs, err);
        }
        if (!rc)
            rc = dt_signal_logits_run(x->teacher->ctx, lm, k + 1, (const int32_t *const *)seqs,
                                      lens, n_seqs, &x->logits[L_JS], &x->logits[L_AGREE],
                                      &x->logits[L_SUBSPACE], err);
        if (seqs)
            for (size_t i = 0; i < n_seqs; i++)
                dt_free(seqs[i]);
        dt_free(seqs);
        dt_free(lens);
        dt_free(lm);
        if (rc)
            return rc;
        x->logits_done = 1;
    }
    *m = x->logits[which];
    memset(&x->logits[which], 0, sizeof x->logits[which]);
    return 0;
}

static int run_js(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return logits_take(x, L_JS, m, err);
}

static int run_agreement(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return logits_take(x, L_AGREE, m, err);
}

static int run_subspace(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    return logits_take(x, L_SUBSPACE, m, err);
}

/* watermark (artifact, exact null): radioactivity of the suspect for the teacher's key. With
 * weights, the suspect samples without any watermark and both modes run (text: green pairs in
 * its samples re-tokenized by the teacher's tokenizer; logit: green probability mass); from
 * transcripts, the text mode runs on every answer the suspect gave. */
static int run_watermark(struct dt_signal_ctx *x, struct dt_measurement *m, struct dt_error *err)
{
    const struct dt_party *teacher = x->teacher, *suspect = x->suspect;
    const struct dt_compare_params *p = x->params;
    dt_measurement_init(m, "watermark", DT_SIGNAL_ARTIFACT);
    if (dt_measurement_alloc(m, x->n_controls, 0))
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!teacher->tok) {
        dt_measurement_skip(m, "the teacher's tokenizer is needed to score green tokens");
        return 0;
    }
    struct dt_wm_params wm = {p->watermark_key, p->watermark_gamma, 0};
    int rc = dt_wm_params_check(&wm, err);
    if (rc)
        return rc;
    m->test = DT_TEST_GIVEN;
    if (suspect->model) {
        struct dt_ctx **cm = dt_calloc(x->n_controls + 1, sizeof *cm);
        size_t n_cm = 0;
        if (!cm)
            return dt_error_set(err, DT_ENOMEM, "out of memory");
        for (size_t j = 0; j < x->n_controls; j++)
            if (x->controls[j]->ctx)
                cm[n_cm++] = x->controls[j]->ctx;
        struct dt_wm_radio_opts o;
        dt_wm_radio_opts_default(&o);
        o.wm = wm;
        o.seed = p->seed;
        struct dt_wm_radio_result res;
        rc = dt_wm_radioactivity(suspect->ctx, teacher->tok, cm, n_cm, &o, &res, err);
        dt_free(cm);
        if (rc)
            return rc;
        struct dt_wm_signal sig;
        dt_wm_radio_signal(&res, &wm, &sig);
        m->statistic = sig.statistic;
        m->p_given = sig.p_value;
        snprintf(m->test_given, sizeof m->test_given, "%s", sig.test);
        snprintf(m->note, sizeof m->note,
                 "sampled without a watermark, the suspect still favours the teacher's green "
                 "tokens: green fraction %.3f of %llu distinct pairs (gamma %.2f)%s",
                 res.text.green_fraction, (unsigned long long)res.text.n_scored, wm.gamma,
                 res.logit_applicable ? ", with green probability mass tested too" : "");
        return 0;
    }
    struct dt_wm_detector *d = NULL;
    if ((rc = dt_wm_detector_new(&wm, &d, err)))
        return rc;
    for (size_t i = 0; i < suspect->samples.n && !rc; i++) {
        const struct dt_sample *s = &suspect->samples.items[i];
        int32_t *ids = NULL;
        size_t n_ids = 0;
        rc = dt_tokenizer_encode(teacher->tok, s->response, s->response_bytes, 0, &ids, &n_ids, err);
        if (!rc)
            rc = dt_wm_detector_add(d, ids, n_ids, NULL, err);
        dt_free(ids);
    }
    struct dt_wm_counts c;
    dt_wm_detector_pooled(d, &c);
    dt_wm_detector_free(d);
    if (rc)
        return rc;
    struct dt_wm_text_test t;
    dt_wm_test_text(&c, wm.gamma, &t);
    m->statistic = t.z;
    m->p_given = t.p_value;
    snprintf(m->test_given, sizeof m->test_given, "exact binomial test on distinct green pairs");
    snprintf(m->note, sizeof m->note,
             "the suspect's %zu answers, re-tokenized by the teacher's tokenizer, have a green "
             "fraction of %.3f over %llu distinct pairs (gamma %.2f)",
             suspect->samples.n, t.green_fraction, (unsigned long long)t.n_scored, wm.gamma);
    return 0;
}

const struct dt_signal_def dt_signal_table[] = {
    {"weights", DT_SIGNAL_WEIGHTS, DT_NEED_BOTH_WEIGHTS, run_weights,
     {"Weight comparison",
      "Compares the two models' weight tensors directly: exact content hashes of each tensor "
      "and, after dequantization and alignment, how similar the aligned tensors are. The same "
      "comparison is made between the teacher and each control model.",
      "Needs both weight files. Distillation trains new weights from scratch, so it leaves no "
      "trace here: a negative result does not rule distillation out.",
      "median correlation of the aligned weight matrices (1 = identical; right = more like the teacher)"}},
    {"tokenizer", DT_SIGNAL_INFO, 0, run_tokenizer,
     {"Tokenizer fingerprint",
      "Whether the suspect uses the teacher's tokenizer (the same vocabulary and merges).",
      "Many unrelated models share a public tokenizer: a match is context, not evidence.",
      "shared vocabulary, Jaccard (0 to 1; right = more shared)"}},
    {"identity", DT_SIGNAL_ARTIFACT, 0, run_identity,
     {"Identity claims",
      "How often the suspect's answers claim to be the teacher (its name or its maker) when "
      "asked who it is, against how often the control models make the same claim.",
      "A distiller can scrub such claims from the training answers, so their absence proves "
      "little. A model trained on web text can also pick up another model's name; the claim "
      "counts as evidence only because the controls do not make it.",
      "share of answers claiming the teacher's identity (0 to 1; right = more like the teacher)"}},
    {"habits", DT_SIGNAL_ARTIFACT, 0, run_habits,
     {"Hallmark habits",
      "Phrases the teacher repeats across its answers (openings, closings, refusal sentences), "
      "found by probing the teacher; how often the suspect reproduces them, against the "
      "controls.",
      "A shared instruction-tuning data set can give unrelated models common phrasing; the "
      "controls are there to measure how common it is.",
      "share of answers with the teacher's hallmark phrases (0 to 1; right = more like the teacher)"}},
    {"next_token_js", DT_SIGNAL_CLOSENESS, DT_NEED_TEACHER_WEIGHTS, run_js,
     {"Next-token divergence",
      "Jensen-Shannon divergence between the suspect's and the teacher's next-token "
      "probabilities on probe texts, against the same divergence for the controls.",
      "Models trained on similar text are close too, so closeness alone is not proof of "
      "distillation. Needs the same tokenizer on both sides.",
      "mean Jensen-Shannon divergence from the teacher, nats (left = closer to the teacher)"}},
    {"teacher_agreement", DT_SIGNAL_CLOSENESS, DT_NEED_TEACHER_WEIGHTS, run_agreement,
     {"Teacher-specific agreement",
      "On the tokens where the teacher departs from the controls' consensus, how often the "
      "suspect follows the teacher rather than the consensus.",
      "Closeness: informative together with artifact evidence, not proof on its own.",
      "share of teacher-specific tokens followed (0 to 1; right = closer to the teacher)"}},
    {"generator_preference", DT_SIGNAL_CLOSENESS, 0, run_preference,
     {"Generator preference",
      "Whether the suspect finds the teacher's own samples more likely than the controls' "
      "samples, relative to how the controls themselves rate them. Works across tokenizers.",
      "Closeness: a model trained on the same kind of text can prefer similar samples.",
      "likelihood of the teacher's continuations against the model's own, nats per byte (right = closer to the teacher)"}},
    {"ngram_overlap", DT_SIGNAL_CLOSENESS, 0, run_ngram,
     {"Phrasing overlap",
      "Share of idiosyncratic word sequences (n-gram shingles) in the suspect's answers that "
      "also occur in the teacher's answers, against the controls' share.",
      "Closeness: common phrases from shared training text overlap too; rare shingles weigh "
      "more than common ones.",
      "word 4-gram overlap with the teacher's answers, MinHash Jaccard (0 to 1; right = closer to the teacher)"}},
    {"logit_subspace", DT_SIGNAL_CLOSENESS, DT_NEED_TEACHER_WEIGHTS, run_subspace,
     {"Logit subspace",
      "Whether the suspect's full next-token logit vectors lie in the low-rank output subspace "
      "of the teacher (the softmax bottleneck leaves a signature of the output layer).",
      "Needs full logits and the same vocabulary on both sides.",
      "share of logit variance inside the teacher's subspace (0 to 1; right = closer to the teacher)"}},
    {"watermark", DT_SIGNAL_ARTIFACT, DT_NEED_ASKED_WATERMARK, run_watermark,
     {"Watermark radioactivity",
      "Whether the suspect's text carries the statistical watermark the teacher embedded in its "
      "own outputs (the watermark is inherited by a model trained on them).",
      "Applies only when the teacher watermarked its outputs and the key is known. Absence of "
      "the watermark proves nothing.",
      "watermark score (right = more of the teacher's green tokens)"}},
};
const size_t dt_signal_table_n = sizeof dt_signal_table / sizeof *dt_signal_table;

const struct dt_signal_def *dt_signal_find(const char *name)
{
    for (size_t i = 0; name && i < dt_signal_table_n; i++)
        if (!strcmp(dt_signal_table[i].name, name))
            return &dt_signal_table[i];
    return NULL;
}

int dt_signal_wanted(const struct dt_signal_def *d, const struct dt_signal_ctx *ctx)
{
    return !(d->needs & DT_NEED_ASKED_WATERMARK) || ctx->params->watermark;
}

unsigned dt_signal_unmet(const struct dt_signal_def *d, const struct dt_signal_ctx *ctx,
                         const char **why)
{
    unsigned unmet = 0;
    const char *reason = NULL;
    if ((d->needs & DT_NEED_BOTH_WEIGHTS) && !(ctx->teacher->model && ctx->suspect->model)) {
        unmet |= DT_NEED_BOTH_WEIGHTS;
        reason = "weights are not available for both the teacher and the suspect";
    }
    if ((d->needs & DT_NEED_TEACHER_WEIGHTS) && !ctx->teacher->model) {
        unmet |= DT_NEED_TEACHER_WEIGHTS;
        if (!reason)
            reason = "the teacher's weights are not available (API-only)";
    }
    if (why)
        *why = reason;
    return unmet;
}

void dt_signal_ctx_release(struct dt_signal_ctx *ctx)
{
    for (int i = 0; i < 3; i++)
        dt_measurement_release(&ctx->logits[i]);
    ctx->logits_done = 0;
}

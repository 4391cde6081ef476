/*
 * Hypothesis tests for the xxh64-kgw watermark, on the measurements of
 * fingerprint/watermark.h. The null hypothesis throughout: the text or the model is
 * independent of the key. Under it the green list of each distinct prev is an independent
 * pseudo-random subset in which every token is green with probability gamma_exact, whatever
 * the model, which is what makes the tests below exact or nearly so without controls.
 *
 * - Text test: n distinct (prev, t) pairs, g green: under the null g ~ Binomial(n, gamma)
 *   exactly (distinct pairs have independent green bits). p = P(X >= g), z reported too.
 * - Logit test against gamma: one context per distinct prev, m_c = green mass - gamma. Under
 *   the null E[m_c] = 0 and Var[m_c] = gamma (1 - gamma) sum_t p_t^2 exactly, independently
 *   across distinct prevs, so Z = sum m_c / sqrt(sum Var[m_c]) is N(0, 1) for many contexts
 *   (Lindeberg; each term is bounded). A one-sample t-test of m_c against 0 (variance from the
 *   data) is reported alongside as a check.
 * - Logit test against controls: paired by context, d_c = m_c(suspect) - mean over controls
 *   of m_c(control); one-sided paired t-test of d_c > 0 (variance from the data).
 * - Combination: the verdict's p-value is Bonferroni over the applicable modes,
 *   min(1, k * min(p_mode)), valid under any dependence between the modes; with controls the
 *   logit mode's p-value is max(p_gamma, p_controls) (intersection-union: the suspect must be
 *   greener than chance and greener than the controls).
 */
#ifndef DT_DETECT_WATERMARK_H
#define DT_DETECT_WATERMARK_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint/watermark.h"

struct dt_wm_text_test {
    uint64_t n_scored, n_green;
    double green_fraction; /* g / n, NaN when n == 0 */
    double z;
    double p_value; /* exact binomial upper tail; 1 when n == 0 */
    double log10_p; /* log10 of p_value, finite where p_value underflows to 0 */
};
void dt_wm_test_text(const struct dt_wm_counts *c, double gamma, struct dt_wm_text_test *out);

struct dt_wm_logit_test {
    size_t n_contexts;
    double mean_mass; /* mean green mass over the contexts */
    double excess;    /* mean_mass - gamma_exact */
    double z;         /* hash-null z (variance from sum p^2) */
    double p_value;   /* upper normal tail of z: the logit mode's test against gamma */
    double log10_p;   /* log10 of p_value, finite where p_value underflows */
    double t;         /* one-sample t of m_c, n - 1 degrees of freedom */
    double p_t;       /* its upper tail */
};
/* Contexts with a non-finite mass are skipped. n == 0 gives p = 1. */
void dt_wm_test_logit(const struct dt_wm_mass_context *ctx, size_t n, double gamma,
                      struct dt_wm_logit_test *out);

struct dt_wm_control_test {
    size_t n_pairs;           /* contexts with a finite mass for the suspect and every control */
    double control_mean_mass; /* mean over contexts and controls */
    double mean_diff;         /* mean of d_c */
    double t;                 /* paired t, n_pairs - 1 degrees of freedom */
    double p_value;           /* one-sided upper tail */
};
/* suspect[i] and controls[k][i] are masses on the same context i (NaN: missing). */
void dt_wm_test_controls(const double *suspect, const double *const *controls, size_t n_controls,
                         size_t n, double gamma, struct dt_wm_control_test *out);

/* Bonferroni over the applicable p-values (NaN entries are not applicable). 1 when none. */
double dt_wm_combine(const double *p, size_t n);

/* ---- radioactivity: the whole test on a suspect model ---- */

struct dt_ctx;
struct dt_tokenizer;

enum dt_wm_mode { DT_WM_MODE_BOTH = 0, DT_WM_MODE_TEXT = 1, DT_WM_MODE_LOGIT = 2 };

struct dt_wm_radio_opts {
    struct dt_wm_params wm;     /* delta unused */
    const char *const *prompts; /* NULL: dt_wm_default_prompts */
    size_t n_prompts;
    int n_samples;  /* per prompt */
    int max_tokens; /* per sample */
    float temperature, top_p;
    uint64_t seed;
    enum dt_wm_mode mode;
};
/* 2 samples of 128 tokens per default prompt at temperature 1, top-p 1, seed 1, both modes. */
void dt_wm_radio_opts_default(struct dt_wm_radio_opts *o);

struct dt_wm_radio_result {
    size_t n_texts;
    uint64_t n_generated; /* tokens sampled from the suspect */
    int text_applicable;
    struct dt_wm_text_test text; /* pooled over every sample, teacher tokenization */
    int logit_applicable;
    const char *logit_note;        /* static string: why logit mode does not apply, or NULL */
    struct dt_wm_logit_test logit; /* suspect against gamma */
    size_t n_controls;
    struct dt_wm_control_test controls;
    double p_text;  /* NaN when not applicable */
    double p_logit; /* max(p against gamma, p against controls); NaN: n/a */
    double p_value; /* dt_wm_combine(p_text, p_logit) */
};

/*
 * Samples text from the suspect without a watermark and runs the text-mode test with the
 * teacher's tokenizer; when the suspect's ids are the teacher's (dt_tokenizer_ids_compatible),
 * also the logit-mode test on one context per distinct prev of those samples, against gamma and (with
 * controls, which must share the teacher's tokenizer) against the controls' green masses on the
 * same contexts.
 */
int dt_wm_radioactivity(struct dt_ctx *suspect, const struct dt_tokenizer *teacher_tok,
                        struct dt_ctx *const *controls, size_t n_controls,
                        const struct dt_wm_radio_opts *o, struct dt_wm_radio_result *out,
                        struct dt_error *err);

/*
 * The result as one JSON object (heap text, dt_free): scheme, key (a string: 64-bit keys do not
 * fit a JSON number), gamma, suspect (when not NULL), sample sizes, "text" and "logit" objects
 * with each mode's statistics, "combination": "bonferroni" and the top-level "p_value".
 */
int dt_wm_radio_json(const struct dt_wm_radio_result *r, const struct dt_wm_params *p,
                     const char *suspect, char **out, struct dt_error *err);

/* What `compare` records as its "watermark" signal (reports/ stores it as a dt_store_signal). */
struct dt_wm_signal {
    const char *name; /* "watermark" */
    const char *test; /* static description of the test */
    double statistic; /* z of the mode with the smaller p-value */
    double p_value;   /* the combined p-value */
    double effect;    /* that mode's excess over gamma (green fraction or green mass) */
    int64_t n;        /* that mode's distinct pairs or contexts */
};
void dt_wm_radio_signal(const struct dt_wm_radio_result *r, const struct dt_wm_params *p,
                        struct dt_wm_signal *out);

#endif

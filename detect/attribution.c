/*
 * Attribution among candidate teachers (see attribution.h): rank by relation strength and
 * verdict p, then test the best against every other candidate on the best's evidence, paired
 * over the suspect's answers or probes. One allocation of n_probe doubles per closeness margin.
 */
#include "detect/attribution.h"

#include "detect/stats.h"
#include "fingerprint/measurement.h"
#include "util/alloc.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int accusing(enum dt_relation r)
{
    return r == DT_REL_SAME_WEIGHTS || r == DT_REL_WEIGHT_DERIVED || r == DT_REL_DISTILLED;
}

/* 1 when candidate a ranks before b: stronger relation, then (among accused candidates) the
 * smaller verdict p, in log10; the earlier candidate (the primary teacher) wins ties. */
static int ranks_before(const struct dt_verdict *a, const struct dt_verdict *b)
{
    int sa = dt_relation_strength(a->relation), sb = dt_relation_strength(b->relation);
    if (sa != sb)
        return sa > sb;
    return accusing(a->relation) && a->log10_p < b->log10_p; /* else the earlier one stays */
}

/* The signal the verdict rests on: the accusing signal with the smallest adjusted p. */
static const struct dt_signal_result *basis_of(const struct dt_verdict *v)
{
    const struct dt_signal_result *best = NULL;
    for (size_t i = 0; i < v->n_signals; i++) {
        const struct dt_signal_result *r = &v->signals[i];
        if (!r->tested || !r->significant || r->m->cls == DT_SIGNAL_CLOSENESS ||
            r->m->cls == DT_SIGNAL_INFO)
            continue;
        if (!best || r->log10_p_adjusted < best->log10_p_adjusted)
            best = r;
    }
    return best;
}

static const struct dt_measurement *find(const struct dt_attribution_input *c, const char *name)
{
    for (size_t i = 0; i < c->n_ms; i++)
        if (!strcmp(c->ms[i].name, name) && c->ms[i].applicable)
            return &c->ms[i];
    return NULL;
}

/* Two-sided margin p of the best (mb) over another candidate (mo) on one signal; NaN when the
 * signal has no paired form for these two. */
static int margin(const struct dt_measurement *mb, const struct dt_measurement *mo,
                  const struct dt_test_opts *opts, double *p, const char **test,
                  struct dt_error *err)
{
    *p = NAN;
    *test = NULL;
    if (!mo || mb->test != mo->test)
        return 0;
    if (mb->test == DT_TEST_RATE) {
        if (mb->s_n == 0 || mb->s_n != mo->s_n)
            return 0;
        *test = "conservative paired sign test on the suspect's answers (two-sided)";
        uint64_t b = mb->s_hits, c = mo->s_hits;
        if (b <= c) {
            *p = 1;
            return 0;
        }
        double lp = log(2) + dt_stats_binom_sf_log((double)b, (double)(b + c), 0.5);
        *p = lp >= 0 ? 1 : exp(lp);
        return 0;
    }
    if (mb->test == DT_TEST_PAIRED) {
        if (!mb->scores || !mo->scores || mb->n_probes != mo->n_probes || mb->n_cols < 1 ||
            mo->n_cols < 1)
            return 0;
        double *d = dt_malloc_array(mb->n_probes ? mb->n_probes : 1, sizeof *d);
        if (!d)
            return dt_error_set(err, DT_ENOMEM, "out of memory for attribution over %zu probes",
                                mb->n_probes);
        size_t n = 0;
        for (size_t i = 0; i < mb->n_probes; i++) {
            double x = mb->scores[i * mb->n_cols], y = mo->scores[i * mo->n_cols];
            if (!isnan(x) && !isnan(y))
                d[n++] = x - y;
        }
        int rc = 0;
        if (n >= 2) {
            struct dt_test_result t;
            rc = dt_test_sign_flip_two_sided(d, n, opts, &t, err);
            if (rc == 0) {
                *p = t.p_value;
                *test = "paired sign-flip test over probes (two-sided)";
            }
        }
        dt_free(d);
        return rc;
    }
    return 0;
}

int dt_attribute(const struct dt_attribution_input *cand, size_t n, double alpha,
                 const struct dt_test_opts *opts, struct dt_attribution_decision *out,
                 struct dt_error *err)
{
    if (n == 0)
        return dt_error_set(err, DT_EINVAL, "attribution needs at least one candidate");
    memset(out, 0, sizeof *out);
    out->p_margin = NAN;
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (ranks_before(cand[j].verdict, cand[best].verdict))
            best = j;
    out->i_best = out->i_runner_up = best;
    const struct dt_verdict *vb = cand[best].verdict;
    out->accused = accusing(vb->relation);
    if (!out->accused) {
        snprintf(out->reason, sizeof out->reason,
                 "no candidate is found to be the suspect's source, so there is nothing to "
                 "attribute");
        return 0;
    }
    if (n == 1) {
        out->decided = 1;
        snprintf(out->reason, sizeof out->reason, "one candidate, and it is accused");
        return 0;
    }
    const struct dt_signal_result *bs = basis_of(vb);
    if (bs)
        snprintf(out->signal, sizeof out->signal, "%s", bs->m->name);
    double worst = -1;
    int undecidable = 0;
    const char *test_used = NULL;
    for (size_t j = 0; j < n; j++) {
        if (j == best)
            continue;
        double p = NAN;
        const char *test = NULL;
        if (bs) {
            int rc = margin(bs->m, find(&cand[j], bs->m->name), opts, &p, &test, err);
            if (rc)
                return rc;
        }
        if (isnan(p)) {
            /* no paired form: the margin holds only if the other is not accused at all */
            if (accusing(cand[j].verdict->relation)) {
                undecidable = 1;
                out->i_runner_up = j;
                worst = 1;
            } else if (worst < 0) {
                worst = 0;
                out->i_runner_up = j;
            }
            continue;
        }
        if (p > worst) {
            worst = p;
            out->i_runner_up = j;
            test_used = test;
        }
    }
    if (test_used)
        snprintf(out->test, sizeof out->test, "%s", test_used);
    out->p_margin = test_used ? worst : NAN;
    if (undecidable) {
        out->decided = 0;
        out->p_margin = NAN;
        snprintf(out->reason, sizeof out->reason,
                 "more than one candidate is accused and their evidence (%s) has no paired test "
                 "that could tell them apart",
                 bs ? bs->m->name : "none");
        return 0;
    }
    out->decided = !test_used || worst <= alpha;
    if (!test_used)
        snprintf(out->reason, sizeof out->reason,
                 "the only accused candidate; %s has no paired test against the others",
                 bs ? bs->m->name : "its evidence");
    else if (out->decided)
        snprintf(out->reason, sizeof out->reason,
                 "the suspect shows this candidate's %s more than every other candidate's "
                 "(paired margin p = %.2g over the runner-up, alpha %g)",
                 out->signal, worst, alpha);
    else
        snprintf(out->reason, sizeof out->reason,
                 "the suspect's %s does not separate this candidate from the runner-up (paired "
                 "margin p = %.2g, alpha %g): the source is one of them, which is inconclusive",
                 out->signal, worst, alpha);
    return 0;
}

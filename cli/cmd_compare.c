/*
 * `distiltrace compare` and `distiltrace attribute`: argument parsing, progress, printing and
 * the evidence store run record. The pipeline is run/compare.c; the JSON document and the
 * store rows are run/compare_out.c.
 */
#include "cli/args.h"
#include "cli/endpoint_opts.h"
#include "cli/progress.h"
#include "cli/commands.h"
#include "run/compare.h"
#include "run/answers.h"
#include "run/compare_out.h"
#include "reports/panel.h"
#include "reports/store.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/log.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTIES 32

static const char compare_usage[] =
    "distiltrace compare --teacher T|--teacher-transcripts F "
    "--suspect S|--suspect-transcripts F [--control C|--control-transcripts F]... "
    "[--candidate T2]... [--chat-template STR] [--chat-date YYYY-MM-DD] [--db D | --no-db] [--json] [--alpha A] "
    "[--seed S] [--threads N] [--scoring exact|q8] [--identity-probes N] [--chat-probes N] [--text-probes N] "
    "[--samples N] [--temperature T] [--identity-corpus F] [--chat-corpus F] [--text-corpus F] "
    "[--watermark-key K [--watermark-gamma G]] [--panel P.db]... [--quiet]\n"
    "--panel P.db (from `distiltrace panel add`) adds every member of the panel as a control.\n"
    "Any party may be an OpenAI-compatible endpoint instead: --teacher-endpoint URL\n"
    "--teacher-api-model NAME (likewise --suspect-, --control-, --candidate-), with\n"
    "[--api-key-env VAR (default OPENAI_API_KEY)] [--concurrency N] [--rps R] [--retries N]\n"
    "[--timeout S]; the key is read from the environment and never stored.";

static const char attribute_usage[] =
    "distiltrace attribute --suspect S|--suspect-transcripts F --candidate T1 --candidate T2... "
    "[--candidate-transcripts F]... [--control C|--control-transcripts F]... [same options as compare,\n"
    "endpoints included: --candidate-endpoint URL --candidate-api-model NAME]";

static const char *fmt_p(double p, char *buf, size_t cap)
{
    if (!isfinite(p))
        snprintf(buf, cap, "-");
    else if (p == 0)
        snprintf(buf, cap, "<1e-300");
    else if (p < 1e-3)
        snprintf(buf, cap, "%.1e", p);
    else
        snprintf(buf, cap, "%.3f", p);
    return buf;
}

static void print_text(const struct dt_compare_result *r, const struct dt_compare_params *p,
                       int64_t run_id, const char *db)
{
    const struct dt_compare_outcome *o = &r->outcomes[r->i_best];
    char pb[32];
    /* colour only for a person at a terminal (NO_COLOR honoured): red derived, yellow
     * inconclusive, green independent */
    const char *nc = getenv("NO_COLOR");
    int colour = isatty(1) && !(nc && nc[0]);
    enum dt_relation rel = r->relation;
    const char *on = !colour                        ? ""
                     : rel == DT_REL_INDEPENDENT    ? "\033[32m"
                     : rel == DT_REL_INCONCLUSIVE   ? "\033[33m"
                                                    : "\033[1;31m";
    printf("verdict: %s%s%s (p = %s, alpha %g)\n", on, dt_relation_name(rel), colour ? "\033[0m" : "",
           fmt_p(r->n_teachers > 1 ? r->attribution_p : o->verdict.p_value, pb, sizeof pb),
           p->verdict.alpha);
    printf("teacher: %s   suspect: %s   controls:", r->parties[o->i_teacher].name,
           r->parties[0].name);
    for (size_t j = 0; j < r->n_controls; j++)
        printf("%s %s", j ? "," : "", r->parties[1 + j].name);
    printf("%s\n\n%s\n\n", r->n_controls ? "" : " none", o->verdict.rationale);
    if (r->n_teachers > 1) {
        printf("candidates:\n");
        for (size_t t = 0; t < r->n_teachers; t++) {
            const struct dt_compare_outcome *c = &r->outcomes[t];
            printf("  %-24s %-15s p = %s%s\n", r->parties[c->i_teacher].name,
                   dt_relation_name(c->verdict.relation), fmt_p(c->verdict.p_value, pb, sizeof pb),
                   t == r->i_best ? "   <- attributed" : "");
        }
        printf("attribution: %s\n\n", r->attribution.reason);
    }
    printf("%-22s %-10s %10s %10s %10s  %s\n", "signal", "class", "suspect", "p", "p(Holm)", "");
    for (size_t i = 0; i < o->n_ms; i++) {
        const struct dt_measurement *m = &o->ms[i];
        const struct dt_signal_result *s = &o->verdict.signals[i];
        char p1[32], p2[32], st[32];
        if (isfinite(m->statistic))
            snprintf(st, sizeof st, "%.4g", m->statistic);
        else
            snprintf(st, sizeof st, "-");
        printf("%-22s %-10s %10s %10s %10s  %s\n", m->name, dt_signal_class_name(m->cls), st,
               fmt_p(s->tested ? s->p_value : NAN, p1, sizeof p1),
               fmt_p(s->tested ? s->p_adjusted : NAN, p2, sizeof p2),
               !m->applicable ? "(not applicable)" : (s->significant ? "significant" : ""));
    }
    printf("\n");
    for (size_t i = 0; i < o->n_ms; i++)
        printf("  %s: %s\n", o->ms[i].name, o->ms[i].note);
    printf("\n%zu identity, %zu chat and %zu text probes (%s); %.1f s",
           r->n_prompts[DT_SET_IDENTITY], r->n_prompts[DT_SET_CHAT], r->n_prompts[DT_SET_TEXT],
           r->probe_source, r->seconds_total);
    if (r->n_answers_reused)
        printf("; %zu answers read from stores, %zu generated", r->n_answers_reused,
               r->n_answers_generated);
    if (run_id > 0)
        printf("; run %lld recorded in %s", (long long)run_id, db);
    printf("\n");
}

/* Appends a party given by a model path or a transcript path; a usage error past the limit. */
static int push_input(const char *cmd, struct dt_compare_input *list, size_t *n, const char *model,
                      const char *transcripts)
{
    if (*n >= MAX_PARTIES) {
        fprintf(stderr, "distiltrace %s: at most %d controls and %d candidates\n", cmd,
                MAX_PARTIES, MAX_PARTIES);
        return -1;
    }
    memset(&list[*n], 0, sizeof list[*n]);
    list[*n].model_path = model;
    list[*n].transcripts_path = transcripts;
    (*n)++;
    return 0;
}

/* ---- control panels (reports/panel.h) ---- */

#define MAX_PANELS 8

struct panel_member_in {
    char *name, *location, *chat_template, *xxh128, *sha256, *source;
    int64_t model_id;
    struct dt_store *panel;
};

struct panel_load {
    struct panel_member_in *m;
    size_t n;
    struct dt_store *panel;
    struct dt_error *err;
};

static char *dup_or_null(const char *s)
{
    return s ? dt_strdup(s) : NULL;
}

static int on_panel_member(void *ud, const struct dt_panel_member *pm)
{
    struct panel_load *l = ud;
    if (l->n >= MAX_PARTIES)
        return dt_error_set(l->err, DT_EINVAL, "at most %d controls, panel members included",
                            MAX_PARTIES);
    struct panel_member_in *m = &l->m[l->n++];
    memset(m, 0, sizeof *m);
    m->model_id = pm->model_id;
    m->panel = l->panel;
    if (!(m->name = dt_strdup(pm->name)) || !(m->location = dt_strdup(pm->location)) ||
        !(m->source = dt_strdup(pm->source)) ||
        (pm->chat_template && !(m->chat_template = dt_strdup(pm->chat_template))) ||
        (pm->xxh128 && !(m->xxh128 = dup_or_null(pm->xxh128))) ||
        (pm->sha256 && !(m->sha256 = dup_or_null(pm->sha256))))
        return dt_error_set(l->err, DT_ENOMEM, "out of memory");
    return 0;
}

static void panel_member_free(struct panel_member_in *m)
{
    dt_free(m->name);
    dt_free(m->location);
    dt_free(m->chat_template);
    dt_free(m->xxh128);
    dt_free(m->sha256);
    dt_free(m->source);
}

struct panel_state {
    struct dt_store **stores;
    size_t n_stores;
    struct panel_member_in *m;
    size_t n;
    struct dt_store_answers *caches;
    struct dt_sample_set *sets;
};

static void panel_state_release(struct panel_state *ps)
{
    for (size_t k = 0; k < ps->n_stores; k++)
        dt_store_close(ps->stores[k]);
    for (size_t j = 0; j < ps->n; j++) {
        panel_member_free(&ps->m[j]);
        dt_sample_set_release(&ps->sets[j]);
    }
    dt_free(ps->m);
    dt_free(ps->caches);
    dt_free(ps->sets);
}

/* A member's weights take part when its file is still at the recorded path with the
 * recorded SHA-256. */
static int member_weights_present(const struct panel_member_in *m)
{
    char sha[65], xxh[33];
    uint64_t size = 0;
    struct dt_error e = {0};
    if (strcmp(m->source, "local") || !m->sha256 || access(m->location, R_OK) != 0)
        return 0;
    return dt_store_hash_path(m->location, sha, xxh, &size, &e) == 0 && !strcmp(sha, m->sha256);
}

/* Makes every member of the loaded panels a control: local members with their weights (their
 * answers read from the panel first), members whose weights are gone and transcript or
 * endpoint members from their stored answers alone. */
static int panel_controls(const char *cmd, struct panel_member_in *pm, size_t n_pm,
                          struct dt_compare_input *controls, size_t *n_controls,
                          struct dt_store_answers *caches, struct dt_sample_set *sets,
                          struct dt_store *store, int64_t run_id, int quiet, struct dt_error *err)
{
    for (size_t j = 0; j < n_pm; j++) {
        struct panel_member_in *m = &pm[j];
        if (*n_controls >= MAX_PARTIES)
            return dt_error_set(err, DT_EINVAL, "at most %d controls, panel members included",
                                MAX_PARTIES);
        struct dt_compare_input *in = &controls[(*n_controls)++];
        memset(in, 0, sizeof *in);
        in->name = m->name;
        in->chat_template = m->chat_template;
        if (!strcmp(m->source, "local")) {
            int present = member_weights_present(m);
            dt_store_answers_init(&caches[j], present ? store : NULL, run_id);
            caches[j].read[0] = m->panel;
            caches[j].read[DT_ANSWERS_MAX_READ - 1] = store;
            if (m->xxh128)
                snprintf(caches[j].model_xxh128, sizeof caches[j].model_xxh128, "%s", m->xxh128);
            in->answers = &caches[j].src;
            if (present)
                in->model_path = m->location;
            else if (!quiet)
                fprintf(stderr,
                        "distiltrace %s: panel member '%s': its model file is not at '%s' with "
                        "the recorded SHA-256; its stored answers serve the text signals, the "
                        "logit signals and generator preference treat it as API-only\n",
                        cmd, m->name, m->location);
        } else {
            dt_sample_set_init(&sets[j]);
            int rc = dt_panel_member_answers(m->panel, m->model_id, &sets[j], err);
            if (rc)
                return rc;
            in->samples = &sets[j];
        }
    }
    return 0;
}

/* Says (unless --quiet; the JSON's models[].answers_missing says it too) how many answers a
 * panel member lacks (the panel was recorded with other probes,
 * samples or settings and its weights are not there to fill them in). */
static void panel_coverage(const char *cmd, const struct dt_compare_result *r, size_t first,
                           size_t n)
{
    for (size_t j = first; j < first + n && j < r->n_controls; j++) {
        const struct dt_party *pa = &r->parties[1 + j];
        size_t want = 0, have = 0;
        for (int s = 0; s < DT_SET_COUNT; s++) {
            const struct dt_answers *a = &pa->answers[s];
            size_t ns = (size_t)(a->n_samples > 0 ? a->n_samples : 1);
            want += r->n_prompts[s] * ns;
            for (size_t i = 0; a->text && i < a->n_probes * ns; i++)
                have += a->text[i] != NULL;
        }
        if (have < want)
            fprintf(stderr,
                    "distiltrace %s: panel member '%s' has %zu of the %zu answers this compare "
                    "asks for; it is compared on the probes it answered\n",
                    cmd, pa->name, have, want);
    }
}

static int run(int argc, char **argv, int attribute)
{
    const char *cmd = attribute ? "attribute" : "compare";
    const char *usage = attribute ? attribute_usage : compare_usage;
    struct dt_compare_input teachers[MAX_PARTIES], controls[MAX_PARTIES], suspect = {0};
    size_t n_teachers = 0, n_controls = 0;
    memset(teachers, 0, sizeof teachers);
    memset(controls, 0, sizeof controls);
    struct dt_compare_params p;
    dt_compare_params_default(&p);
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, cmd, argc, argv))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str_def(&a, "--db"), *opt, *val = NULL;
    int json = dt_cli_has(&a, "--json"), no_db = dt_cli_has(&a, "--no-db"),
        quiet = dt_cli_has(&a, "--quiet"), have_primary = 0;
    /* Endpoint parties: --ROLE-endpoint URL, then --ROLE-api-model NAME names its model. */
    static struct dt_endpoint_options eps[2 * MAX_PARTIES + 2];
    struct dt_endpoint_options common;
    struct dt_endpoint_options *last_ep[4] = {NULL, NULL, NULL, NULL};
    static const char *const roles[4] = {"teacher", "suspect", "control", "candidate"};
    const char *key_env = dt_cli_str_def(&a, "--api-key-env");
    size_t n_eps = 0;
    const char *panels[MAX_PANELS];
    size_t n_panels = 0;
    dt_endpoint_options_init(&common);
    /* The parties in command-line order: --teacher-transcripts after --teacher adds to the
     * primary teacher, an --ROLE-api-model names the endpoint given before it, and controls,
     * candidates and panel members keep the order they were given in. */
    for (int i = 0; dt_cli_next(&a, &i, &opt, &val);) {
        int ep_role = -1, model_role = -1;
        for (int k = 0; k < 4; k++) {
            char name[40];
            snprintf(name, sizeof name, "--%s-endpoint", roles[k]);
            if (!strcmp(opt, name))
                ep_role = k;
            snprintf(name, sizeof name, "--%s-api-model", roles[k]);
            if (!strcmp(opt, name))
                model_role = k;
        }
        if (model_role >= 0) {
            if (!last_ep[model_role] || last_ep[model_role]->model)
                return dt_cli_usage(cmd, "--ROLE-api-model NAME follows its --ROLE-endpoint URL");
            last_ep[model_role]->model = val;
            continue;
        }
        if (ep_role >= 0) {
            if (n_eps == sizeof eps / sizeof *eps)
                return dt_cli_usage(cmd, "too many endpoints");
            struct dt_endpoint_options *e = &eps[n_eps++];
            dt_endpoint_options_init(e);
            e->url = val;
            last_ep[ep_role] = e;
            struct dt_compare_input *in = NULL;
            if (ep_role == 0) {
                if (attribute || have_primary)
                    return dt_cli_usage(cmd, usage);
                if (n_teachers >= MAX_PARTIES)
                    return dt_cli_usage(cmd, "at most 32 candidates");
                memmove(teachers + 1, teachers, n_teachers * sizeof *teachers);
                in = &teachers[0];
                n_teachers++;
                have_primary = 1;
            } else if (ep_role == 1) {
                in = &suspect;
            } else if (ep_role == 2) {
                if (n_controls >= MAX_PARTIES)
                    return dt_cli_usage(cmd, "at most 32 controls");
                in = &controls[n_controls++];
            } else {
                if (n_teachers >= MAX_PARTIES)
                    return dt_cli_usage(cmd, "at most 32 candidates");
                in = &teachers[n_teachers++];
            }
            memset(in, 0, sizeof *in);
            in->endpoint = e;
            continue;
        }
        if (!strcmp(opt, "--teacher")) {
            if (attribute || have_primary)
                return dt_cli_usage(cmd, usage);
            if (n_teachers >= MAX_PARTIES)
                return dt_cli_usage(cmd, "at most 32 candidates");
            memmove(teachers + 1, teachers, n_teachers * sizeof *teachers);
            memset(&teachers[0], 0, sizeof teachers[0]);
            teachers[0].model_path = val;
            n_teachers++;
            have_primary = 1;
        } else if (!strcmp(opt, "--teacher-transcripts")) {
            if (have_primary)
                teachers[0].transcripts_path = val;
            else {
                if (n_teachers >= MAX_PARTIES)
                    return dt_cli_usage(cmd, "at most 32 candidates");
                memmove(teachers + 1, teachers, n_teachers * sizeof *teachers);
                memset(&teachers[0], 0, sizeof teachers[0]);
                teachers[0].transcripts_path = val;
                n_teachers++;
                have_primary = 1;
            }
        } else if (!strcmp(opt, "--candidate")) {
            if (push_input(cmd, teachers, &n_teachers, val, NULL))
                return DT_EXIT_USAGE;
        } else if (!strcmp(opt, "--candidate-transcripts")) {
            if (push_input(cmd, teachers, &n_teachers, NULL, val))
                return DT_EXIT_USAGE;
        } else if (!strcmp(opt, "--suspect")) {
            suspect.model_path = val;
        } else if (!strcmp(opt, "--suspect-transcripts")) {
            suspect.transcripts_path = val;
        } else if (!strcmp(opt, "--control")) {
            if (push_input(cmd, controls, &n_controls, val, NULL))
                return DT_EXIT_USAGE;
        } else if (!strcmp(opt, "--control-transcripts")) {
            if (push_input(cmd, controls, &n_controls, NULL, val))
                return DT_EXIT_USAGE;
        } else if (!strcmp(opt, "--panel")) {
            if (n_panels == MAX_PANELS)
                return dt_cli_usage(cmd, "at most 8 panels");
            panels[n_panels++] = val;
        }
    }
    long lv;
    double dv;
    unsigned long long uv;
    if (dt_cli_endpoint_opts(&a, &common))
        return DT_EXIT_USAGE;
    p.chat_template = dt_cli_str(&a, "--chat-template", NULL);
    if (p.chat_template && !strstr(p.chat_template, "{prompt}")) {
        fprintf(stderr, "distiltrace %s: --chat-template must contain '{prompt}'\n", cmd);
        return DT_EXIT_USAGE;
    }
    p.chat_date = dt_cli_str(&a, "--chat-date", NULL);
    if (p.chat_date) {
        struct dt_error derr = {0};
        if (dt_compare_params_check(&p, &derr)) {
            fprintf(stderr, "distiltrace %s: %s\n", cmd, derr.msg);
            return DT_EXIT_USAGE;
        }
    }
    if (dt_cli_has(&a, "--progress"))
        dt_progress_forced = 1;
    dv = p.verdict.alpha;
    if (dt_cli_number(&a, "--alpha", &dv) || dv <= 0 || dv >= 1)
        return dt_cli_usage(cmd, "--alpha takes a number in (0, 1)");
    p.verdict.alpha = dv;
    uv = p.seed;
    if (dt_cli_u64(&a, "--seed", &uv))
        return DT_EXIT_USAGE;
    p.seed = uv;
    p.verdict.seed = uv;
    lv = p.threads;
    if (dt_cli_long(&a, "--threads", 1, 256, &lv))
        return DT_EXIT_USAGE;
    p.threads = (int)lv;
    if (dt_scoring_option(dt_cli_str_def(&a, "--scoring"), &p.scoring))
        return dt_cli_usage(cmd, "--scoring takes q8 or exact");
    static const char *const counts[] = {"--identity-probes", "--chat-probes", "--text-probes"};
    size_t *count_of[] = {&p.n_identity, &p.n_chat, &p.n_text};
    for (int k = 0; k < 3; k++) {
        lv = (long)*count_of[k];
        if (dt_cli_long(&a, counts[k], 1, 100000, &lv))
            return DT_EXIT_USAGE;
        *count_of[k] = (size_t)lv;
    }
    lv = p.identity_samples;
    if (dt_cli_long(&a, "--samples", 1, 100, &lv))
        return DT_EXIT_USAGE;
    p.identity_samples = (int)lv;
    dv = p.temperature;
    if (dt_cli_number(&a, "--temperature", &dv) || dv < 0 || dv > 5)
        return dt_cli_usage(cmd, "--temperature takes 0 to 5");
    p.temperature = (float)dv;
    p.identity_corpus = dt_cli_str(&a, "--identity-corpus", NULL);
    p.chat_corpus = dt_cli_str(&a, "--chat-corpus", NULL);
    p.text_corpus = dt_cli_str(&a, "--text-corpus", NULL);
    uv = p.watermark_key;
    if (dt_cli_u64(&a, "--watermark-key", &uv))
        return DT_EXIT_USAGE;
    p.watermark = dt_cli_has(&a, "--watermark-key");
    p.watermark_key = uv;
    dv = p.watermark_gamma;
    if (dt_cli_number(&a, "--watermark-gamma", &dv) || dv <= 0 || dv >= 1)
        return dt_cli_usage(cmd, "--watermark-gamma takes a number in (0, 1)");
    p.watermark_gamma = dv;
    if (dt_cli_n_positional(&a)) {
        fprintf(stderr, "distiltrace %s: unknown option '%s'\n", cmd, dt_cli_positional(&a, 0));
        return dt_cli_usage(cmd, usage);
    }
    for (size_t k = 0; k < n_eps; k++) {
        if (!eps[k].model)
            return dt_cli_usage(cmd, "every --ROLE-endpoint URL needs its --ROLE-api-model NAME");
        eps[k].api_key = getenv(key_env);
        eps[k].concurrency = common.concurrency;
        eps[k].max_retries = common.max_retries;
        eps[k].rps = common.rps;
        eps[k].timeout_s = common.timeout_s;
        eps[k].jitter_seed = p.seed;
    }
    if (!suspect.model_path && !suspect.transcripts_path && !suspect.endpoint)
        return dt_cli_usage(cmd, usage);
    if (attribute ? n_teachers < 2 : !have_primary)
        return dt_cli_usage(cmd, usage);
    if (!quiet && (isatty(2) || dt_progress_forced))
        p.progress = dt_cli_progress;
    if (quiet)
        dt_log_verbosity = 0;

    /* Inputs are checked before the evidence store is touched: a typo in a path never creates
     * a store or records a failed run. */
    for (size_t k = 0; k < n_teachers + n_controls + 1; k++) {
        const struct dt_compare_input *in =
            k == 0 ? &suspect : k <= n_teachers ? &teachers[k - 1] : &controls[k - 1 - n_teachers];
        const char *paths[2] = {in->model_path, in->transcripts_path};
        for (int j = 0; j < 2; j++)
            if (paths[j] && !dt_path_exists(paths[j])) {
                fprintf(stderr, "distiltrace %s: cannot read '%s': no such file or directory\n",
                        cmd, paths[j]);
                return DT_EXIT_INPUT;
            }
    }
    for (size_t k = 0; k < n_panels; k++)
        if (!dt_path_exists(panels[k])) {
            fprintf(stderr, "distiltrace %s: cannot read panel '%s': no such file or directory\n",
                    cmd, panels[k]);
            return DT_EXIT_INPUT;
        }
    struct dt_error err = {0};
    struct dt_store *store = NULL;
    int64_t run_id = 0;
    int rc;
    if (!no_db && (rc = dt_file_prepare_output(db, &err)) != 0)
        return dt_cli_fail(&err);
    if (!no_db) {
        if ((rc = dt_store_open(db, &store, &err)) != 0)
            return dt_cli_fail(&err);
        uint64_t seed = p.seed;
        if ((rc = dt_store_run_begin(store, argc, argv, &seed,
                                          dt_compare_threads(&p),
                                          &run_id, &err)) != 0) {
            dt_store_close(store);
            return dt_cli_fail(&err);
        }
    }
    /* Panels: every member becomes a control after the --control ones. */
    struct dt_store *pstores[MAX_PANELS] = {NULL};
    struct panel_member_in *pm = NULL;
    struct dt_store_answers *pcaches = NULL;
    struct dt_sample_set *psets = NULL;
    size_t n_pm = 0, first_panel = n_controls;
    rc = 0;
    if (n_panels) {
        pm = dt_calloc(MAX_PARTIES, sizeof *pm);
        pcaches = dt_calloc(MAX_PARTIES, sizeof *pcaches);
        psets = dt_calloc(MAX_PARTIES, sizeof *psets);
        if (!pm || !pcaches || !psets)
            rc = dt_error_set(&err, DT_ENOMEM, "out of memory");
        for (size_t k = 0; k < n_panels && !rc; k++) {
            if ((rc = dt_store_open_flags(panels[k], DT_STORE_NO_CREATE, &pstores[k], &err)))
                break;
            struct panel_load l = {pm, n_pm, pstores[k], &err};
            rc = dt_panel_members_list(pstores[k], on_panel_member, &l, &err);
            if (!rc && l.n == n_pm)
                rc = dt_error_set(&err, DT_EINVAL, "panel '%s' has no members", panels[k]);
            n_pm = l.n;
        }
        if (!rc)
            rc = panel_controls(cmd, pm, n_pm, controls, &n_controls, pcaches, psets, store,
                                run_id, quiet, &err);
    }
    /* Local models read the answers this store already holds for them (an interrupted or
     * earlier run, a collect) and record every answer they generate, as they go. */
    struct dt_store_answers *caches = NULL;
    if (store) {
        size_t n_all = 1 + n_controls + n_teachers, k = 0;
        if (!(caches = dt_calloc(n_all, sizeof *caches))) {
            dt_store_close(store);
            fprintf(stderr, "distiltrace: out of memory\n");
            return DT_EXIT_RESOURCE;
        }
        struct dt_compare_input *all[1 + 2 * MAX_PARTIES];
        all[k++] = &suspect;
        for (size_t j = 0; j < n_controls; j++)
            all[k++] = &controls[j];
        for (size_t j = 0; j < n_teachers; j++)
            all[k++] = &teachers[j];
        for (size_t j = 0; j < k; j++)
            if (all[j]->model_path && !all[j]->transcripts_path && !all[j]->answers) {
                dt_store_answers_init(&caches[j], store, run_id);
                all[j]->answers = &caches[j].src;
            }
    }
    struct dt_compare_result res;
    if (!rc)
        rc = dt_compare_run(teachers, n_teachers, &suspect, controls, n_controls, &p, &res, &err);
    dt_progress_clear();
    dt_free(caches);
    /* the parties borrow the members' paths and names until the result is released */
    struct panel_state ps = {pstores, n_panels, pm, n_pm, pcaches, psets};
    if (!rc && n_pm && !quiet)
        panel_coverage(cmd, &res, first_panel, n_pm);
    int status;
    if (rc) {
        status = dt_cli_fail(&err);
        if (store) {
            struct dt_error e2;
            dt_store_run_end(store, run_id, status, &e2);
            dt_store_close(store);
        }
        panel_state_release(&ps);
        return status;
    }
    if (store && (rc = dt_compare_store(store, run_id, &res, &p, &err)) != 0) {
        status = dt_cli_fail(&err);
        dt_compare_result_release(&res);
        dt_store_close(store);
        panel_state_release(&ps);
        return status;
    }
    enum dt_relation rel = res.relation;
    status = (rel == DT_REL_SAME_WEIGHTS || rel == DT_REL_WEIGHT_DERIVED || rel == DT_REL_DISTILLED)
                 ? DT_EXIT_EVIDENCE
                 : DT_EXIT_OK;
    if (json) {
        cJSON *doc = dt_compare_to_json(&res, &p, run_id);
        char *s = doc ? cJSON_Print(doc) : NULL;
        cJSON_Delete(doc);
        if (!s) {
            fprintf(stderr, "distiltrace: out of memory\n");
            status = DT_EXIT_RESOURCE;
        } else {
            printf("%s\n", s);
            cJSON_free(s);
        }
    } else {
        print_text(&res, &p, run_id, db);
    }
    if (store) {
        if (dt_store_run_end(store, run_id, status, &err) != 0)
            status = dt_cli_fail(&err);
        dt_store_close(store);
    }
    dt_compare_result_release(&res);
    panel_state_release(&ps);
    return status;
}

int cmd_compare(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_attribute(int argc, char **argv)
{
    return run(argc, argv, 1);
}

/*
 * The release gate (run/check.h): a policy read and validated up front, then one compare per
 * banned teacher, each recorded in the evidence store with its reports rendered from the store
 * exactly as `report` renders them. Paths in the policy are resolved against its directory
 * once, at open; the report paths of several teachers get "-TEACHER" before their extension.
 */
#include "run/check.h"

#include "run/compare.h"
#include "infer/model.h"
#include "run/compare_out.h"
#include "reports/format.h"
#include "reports/report.h"
#include "reports/store.h"
#include "util/alloc.h"
#include "util/file.h"
#include "util/strbuf.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *const relations[] = {"same-weights", "weight-derived", "distilled",
                                        "independent",  "inconclusive",   NULL};

struct dt_check {
    char *policy_path;
    char *dir; /* the policy file's directory, for relative paths; NULL: the working one */
    cJSON *doc;
    char *suspect;
    char *db_path;
    char *teachers[DT_CHECK_MAX_MODELS];
    size_t n_teachers;
    char *controls[DT_CHECK_MAX_MODELS];
    size_t n_controls;
    const char *fail_on[8];
    size_t n_fail_on;
    const char *formats[DT_CHECK_MAX_FORMATS];   /* "html", ... (borrowed from doc) */
    char *outputs[DT_CHECK_MAX_FORMATS][DT_CHECK_MAX_MODELS]; /* per format, per teacher */
    size_t n_formats;
    struct dt_compare_params params;
    int any_fail;
};

/* path resolved against the policy's directory (heap). */
static char *resolve(const struct dt_check *c, const char *path)
{
    if (path[0] == '/' || !c->dir)
        return dt_strdup(path);
    return dt_path_join(c->dir, path);
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

/* "dir/report.html" + "teacher.gguf" -> "dir/report-teacher.html" (heap). */
static char *suffixed(const char *path, const char *teacher)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    char tname[128];
    snprintf(tname, sizeof tname, "%s", base_name(teacher));
    char *tdot = strrchr(tname, '.');
    if (tdot && tdot != tname)
        *tdot = '\0';
    if (!dot || (slash && dot < slash))
        dot = path + strlen(path);
    dt_strbuf_append(&sb, path, (size_t)(dot - path));
    dt_strbuf_printf(&sb, "-%s%s", tname, dot);
    return dt_strbuf_failed(&sb) ? NULL : dt_strbuf_detach(&sb, NULL);
}

/* The strings of a JSON array, resolved as paths (heap) or borrowed. */
static int strings(const cJSON *arr, const char **out, size_t max, size_t *n)
{
    const cJSON *it;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return -1;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || *n == max)
            return -1;
        out[(*n)++] = it->valuestring;
    }
    return 0;
}

static int bad(struct dt_check *c, struct dt_error *err, const char *msg)
{
    return dt_error_set(err, DT_EFORMAT, "policy '%s': %s", c->policy_path, msg);
}

/* The policy's fields, checked; numbers outside their range are refused, not clamped. */
static int parse(struct dt_check *c, const char *suspect_opt, const char *db_opt,
                 struct dt_error *err)
{
    const cJSON *doc = c->doc;
    const cJSON *jfail = cJSON_GetObjectItemCaseSensitive(doc, "fail_on");
    const cJSON *jalpha = cJSON_GetObjectItemCaseSensitive(doc, "alpha");
    const cJSON *jfmt = cJSON_GetObjectItemCaseSensitive(doc, "formats");
    const cJSON *jtpl = cJSON_GetObjectItemCaseSensitive(doc, "chat_template");
    const cJSON *jdb = cJSON_GetObjectItemCaseSensitive(doc, "db");
    const cJSON *jprobes = cJSON_GetObjectItemCaseSensitive(doc, "probes");
    const char *suspect =
        suspect_opt ? suspect_opt
                    : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "suspect"));
    const char *names[DT_CHECK_MAX_MODELS];

    if (!suspect)
        return bad(c, err, "needs \"suspect\" (a model path) or --suspect");
    if (strings(cJSON_GetObjectItemCaseSensitive(doc, "teachers_banned"), names,
                DT_CHECK_MAX_MODELS, &c->n_teachers) ||
        c->n_teachers == 0)
        return bad(c, err, "\"teachers_banned\" must be a non-empty array of model paths");
    for (size_t i = 0; i < c->n_teachers; i++)
        if (!(c->teachers[i] = resolve(c, names[i])))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (strings(cJSON_GetObjectItemCaseSensitive(doc, "controls"), names, DT_CHECK_MAX_MODELS,
                &c->n_controls) ||
        c->n_controls == 0)
        return bad(c, err, "\"controls\" must be a non-empty array of model paths (independent "
                           "models)");
    for (size_t i = 0; i < c->n_controls; i++)
        if (!(c->controls[i] = resolve(c, names[i])))
            return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (jfail) {
        if (strings(jfail, c->fail_on, 8, &c->n_fail_on))
            return bad(c, err, "\"fail_on\" must be an array of relations");
        for (size_t i = 0; i < c->n_fail_on; i++) {
            int ok = 0;
            for (size_t k = 0; relations[k]; k++)
                ok |= !strcmp(c->fail_on[i], relations[k]);
            if (!ok)
                return bad(c, err, "unknown relation in \"fail_on\"");
        }
    } else {
        c->fail_on[0] = "same-weights";
        c->fail_on[1] = "weight-derived";
        c->fail_on[2] = "distilled";
        c->n_fail_on = 3;
    }
    if (jalpha &&
        (!cJSON_IsNumber(jalpha) || !(jalpha->valuedouble > 0) || !(jalpha->valuedouble < 1)))
        return bad(c, err, "\"alpha\" must be a number in (0, 1)");
    if (jfmt) {
        const cJSON *it;
        if (!cJSON_IsObject(jfmt))
            return bad(c, err, "\"formats\" must map format names to paths");
        cJSON_ArrayForEach(it, jfmt)
        {
            if (!dt_report_format_parse(it->string) || !cJSON_IsString(it)) {
                char fmt_names[128], msg[192];
                dt_report_format_names(fmt_names, sizeof fmt_names, ", ");
                snprintf(msg, sizeof msg, "\"formats\" keys are %s and values paths", fmt_names);
                return bad(c, err, msg);
            }
            if (c->n_formats == DT_CHECK_MAX_FORMATS)
                return bad(c, err, "\"formats\" has too many entries");
            size_t f = c->n_formats++;
            c->formats[f] = it->string;
            char *base = resolve(c, it->valuestring);
            for (size_t t = 0; base && t < c->n_teachers; t++)
                c->outputs[f][t] = c->n_teachers > 1 ? suffixed(base, c->teachers[t])
                                                     : dt_strdup(base);
            for (size_t t = 0; t < c->n_teachers; t++)
                if (!c->outputs[f][t])
                    base = NULL;
            if (!base)
                return dt_error_set(err, DT_ENOMEM, "out of memory");
            dt_free(base);
        }
    }
    if (jtpl && !cJSON_IsString(jtpl))
        return bad(c, err, "\"chat_template\" must be a string");

    struct dt_compare_params *p = &c->params;
    dt_compare_params_default(p);
    if (jalpha)
        p->verdict.alpha = jalpha->valuedouble;
    if (jtpl)
        p->chat_template = jtpl->valuestring;
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(doc, "seed");
    if (js && (!cJSON_IsNumber(js) || js->valuedouble < 0))
        return bad(c, err, "\"seed\" must be a non-negative number");
    if (js)
        p->seed = p->verdict.seed = (uint64_t)js->valuedouble;
    js = cJSON_GetObjectItemCaseSensitive(doc, "threads");
    if (js && (!cJSON_IsNumber(js) || js->valuedouble < 1 || js->valuedouble > 256))
        return bad(c, err, "\"threads\" must be a number from 1 to 256");
    if (js)
        p->threads = (int)js->valuedouble;
    if (jprobes && !cJSON_IsObject(jprobes))
        return bad(c, err, "\"probes\" must map identity, chat and text to counts");
    if (jprobes) {
        const char *keys[] = {"identity", "chat", "text"};
        size_t *dst[] = {&p->n_identity, &p->n_chat, &p->n_text};
        for (int k = 0; k < 3; k++) {
            js = cJSON_GetObjectItemCaseSensitive(jprobes, keys[k]);
            if (js && (!cJSON_IsNumber(js) || js->valuedouble < 1 || js->valuedouble > 100000))
                return bad(c, err, "\"probes\" counts must be numbers from 1 to 100000");
            if (js)
                *dst[k] = (size_t)js->valuedouble;
        }
    }

    c->suspect = suspect_opt ? dt_strdup(suspect_opt) : resolve(c, suspect);
    c->db_path =
        db_opt ? dt_strdup(db_opt)
               : resolve(c, cJSON_IsString(jdb) ? jdb->valuestring : "distiltrace-check.db");
    if (!c->suspect || !c->db_path)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    return 0;
}

/* Everything that can be checked before the work: every model is there, every output can be
 * written (missing directories are created). */
static int preflight(struct dt_check *c, struct dt_error *err)
{
    const char *inputs[2 * DT_CHECK_MAX_MODELS + 1];
    size_t n = 0;
    inputs[n++] = c->suspect;
    for (size_t i = 0; i < c->n_controls; i++)
        inputs[n++] = c->controls[i];
    for (size_t i = 0; i < c->n_teachers; i++)
        inputs[n++] = c->teachers[i];
    for (size_t i = 0; i < n; i++)
        if (!dt_path_exists(inputs[i]))
            return dt_error_set(err, DT_EIO, "cannot read '%s': no such file or directory",
                                inputs[i]);
    for (size_t f = 0; f < c->n_formats; f++)
        for (size_t t = 0; t < c->n_teachers; t++)
            if (dt_file_prepare_output(c->outputs[f][t], err))
                return err ? err->code : DT_EIO;
    if (dt_file_prepare_output(c->db_path, err))
        return err ? err->code : DT_EIO;
    return 0;
}

int dt_check_open(const char *path, const char *suspect, const char *db, struct dt_check **out,
                  struct dt_error *err)
{
    char *text = NULL;
    size_t n_text = 0;
    *out = NULL;
    struct dt_check *c = dt_calloc(1, sizeof *c);
    if (!c)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = (c->policy_path = dt_strdup(path)) ? 0 : dt_error_set(err, DT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = dt_file_read_all(path, (size_t)1 << 20, &text, &n_text, err);
    if (rc == 0) {
        c->doc = cJSON_ParseWithLength(text, n_text);
        if (!cJSON_IsObject(c->doc))
            rc = bad(c, err, "not a JSON object");
    }
    const char *slash = strrchr(path, '/');
    if (rc == 0 && slash && !(c->dir = dt_strndup(path, (size_t)(slash - path))))
        rc = dt_error_set(err, DT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = parse(c, suspect, db, err);
    if (rc == 0)
        rc = preflight(c, err);
    dt_free(text);
    if (rc) {
        dt_check_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The reports of one run, rendered from the store. */
static int write_reports(struct dt_check *c, struct dt_store *store, size_t t,
                         struct dt_check_result *res, struct dt_error *err)
{
    if (!c->n_formats)
        return 0;
    struct dt_report *r = NULL;
    int rc = dt_report_load(store, res->run_id, &r, err);
    if (rc == 0)
        rc = dt_report_set_gate(r, c->fail_on, c->n_fail_on, err);
    for (size_t f = 0; rc == 0 && f < c->n_formats; f++) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        rc = dt_report_render(r, dt_report_format_parse(c->formats[f]), &sb, err);
        if (rc == 0)
            rc = dt_file_write_all(c->outputs[f][t], sb.data, sb.len, err);
        if (rc == 0)
            res->reports[res->n_reports++] =
                (struct dt_check_report){c->formats[f], c->outputs[f][t]};
        dt_strbuf_release(&sb);
    }
    dt_report_free(r);
    return rc;
}

int dt_check_run(struct dt_check *c, int argc, char **argv, const struct dt_check_hooks *hooks,
                 struct dt_error *err)
{
    struct dt_store *store = NULL;
    struct dt_compare_params p = c->params;
    const struct dt_check_hooks none = {0};
    if (!hooks)
        hooks = &none;
    p.progress = hooks->progress;
    p.progress_ud = hooks->ud;
    struct dt_compare_input sus_in = {.model_path = c->suspect};
    struct dt_compare_input ctl_in[DT_CHECK_MAX_MODELS];
    for (size_t i = 0; i < c->n_controls; i++)
        ctl_in[i] = (struct dt_compare_input){.model_path = c->controls[i]};
    int rc = dt_store_open(c->db_path, &store, err);
    c->any_fail = 0;
    for (size_t t = 0; rc == 0 && t < c->n_teachers; t++) {
        struct dt_compare_input tin = {.model_path = c->teachers[t]};
        struct dt_compare_result res;
        struct dt_check_result out = {.teacher = c->teachers[t]};
        uint64_t seed = p.seed;
        struct dt_error e2;
        if (hooks->started)
            hooks->started(hooks->ud, c, t);
        rc = dt_store_run_begin(store, argc, argv, &seed,
                                p.threads > 0 ? p.threads : DT_MODEL_DEFAULT_THREADS, &out.run_id,
                                err);
        if (rc)
            break;
        rc = dt_compare_run(&tin, 1, &sus_in, ctl_in, c->n_controls, &p, &res, err);
        if (rc) {
            dt_store_run_end(store, out.run_id, dt_exit_code_for(rc), &e2);
            break;
        }
        rc = dt_compare_store(store, out.run_id, &res, &p, err);
        const struct dt_verdict *v = &res.outcomes[res.i_best].verdict;
        out.relation = dt_relation_name(v->relation);
        out.p_value = v->p_value;
        out.alpha = v->alpha;
        for (size_t k = 0; k < c->n_fail_on; k++)
            out.fails |= !strcmp(out.relation, c->fail_on[k]);
        c->any_fail |= out.fails;
        if (rc == 0)
            rc = dt_store_run_end(store, out.run_id, out.fails ? DT_EXIT_EVIDENCE : DT_EXIT_OK,
                                  err);
        else /* the run is recorded as failed, not left running */
            dt_store_run_end(store, out.run_id, dt_exit_code_for(rc), &e2);
        dt_compare_result_release(&res);
        if (rc == 0)
            rc = write_reports(c, store, t, &out, err);
        if (rc == 0 && hooks->done)
            hooks->done(hooks->ud, c, &out);
    }
    dt_store_close(store);
    return rc;
}

void dt_check_free(struct dt_check *c)
{
    if (!c)
        return;
    for (size_t f = 0; f < c->n_formats; f++)
        for (size_t t = 0; t < c->n_teachers; t++)
            dt_free(c->outputs[f][t]);
    for (size_t i = 0; i < c->n_teachers; i++)
        dt_free(c->teachers[i]);
    for (size_t i = 0; i < c->n_controls; i++)
        dt_free(c->controls[i]);
    dt_free(c->suspect);
    dt_free(c->db_path);
    dt_free(c->dir);
    dt_free(c->policy_path);
    cJSON_Delete(c->doc);
    dt_free(c);
}

const char *dt_check_suspect(const struct dt_check *c) { return c->suspect; }
const char *dt_check_db_path(const struct dt_check *c) { return c->db_path; }
size_t dt_check_n_teachers(const struct dt_check *c) { return c->n_teachers; }
const char *dt_check_teacher(const struct dt_check *c, size_t i) { return c->teachers[i]; }
size_t dt_check_n_controls(const struct dt_check *c) { return c->n_controls; }
int dt_check_failed(const struct dt_check *c) { return c->any_fail; }

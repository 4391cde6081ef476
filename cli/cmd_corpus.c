/*
 * `distiltrace corpus add|list|show|export`: built-in corpora, corpora from text / JSONL files
 * and corpora stored in an evidence store; deterministic sampling with --sample N --seed S.
 */
#include "cli/args.h"
#include "cli/commands.h"
#include "reports/ingest.h"
#include "util/alloc.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "distiltrace corpus list [--db D]\n"
    "       distiltrace corpus show CORPUS [--db D] [--sample N] [--seed S]\n"
    "       distiltrace corpus export CORPUS [--db D] [--sample N] [--seed S]\n"
    "       distiltrace corpus add CORPUS --db D [--name NAME] [--kind chat|text] [--sample N] "
    "[--seed S]\n"
    "CORPUS is a built-in name (identity, chat, continuation), a text or JSONL file, or a "
    "stored corpus (id, id prefix or name)";

static int list_stored(void *ud, const struct dt_store_corpus_row *r)
{
    cJSON *arr = ud;
    if (arr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", r->xxh128);
        cJSON_AddStringToObject(o, "name", r->name ? r->name : "");
        cJSON_AddStringToObject(o, "source", r->source ? r->source : "");
        cJSON_AddNumberToObject(o, "probes", (double)r->n_probes);
        cJSON_AddBoolToObject(o, "builtin", 0);
        return cJSON_AddItemToArray(arr, o) ? 0 : DT_ENOMEM;
    }
    printf("%-32s %6lld probes  %s  (%s)\n", r->xxh128, (long long)r->n_probes, r->name, r->source);
    return 0;
}

static int print_doc(cJSON *o)
{
    char *txt = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!txt) {
        fprintf(stderr, "distiltrace: out of memory\n");
        return DT_EXIT_RESOURCE;
    }
    printf("%s\n", txt);
    cJSON_free(txt);
    return DT_EXIT_OK;
}

int cmd_corpus(int argc, char **argv)
{
    if (argc < 2)
        return dt_cli_usage("corpus", usage);
    const char *sub = argv[1];
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "export") && strcmp(sub, "add"))
        return dt_cli_usage("corpus", usage);
    char doc_name[32];
    snprintf(doc_name, sizeof doc_name, "corpus %s", sub);
    struct dt_cli_args a;
    if (dt_cli_args_init(&a, doc_name, argc - 1, argv + 1))
        return DT_EXIT_INTERNAL;
    const char *db = dt_cli_str(&a, "--db", NULL), *name = dt_cli_str(&a, "--name", NULL),
               *spec = dt_cli_positional(&a, 0), *v = dt_cli_str(&a, "--kind", NULL);
    enum dt_probe_kind kind = DT_PROBE_CHAT;
    long n_sample = -1;
    unsigned long long seed = 0;
    int json = dt_cli_has(&a, "--json");
    if (v && !(kind = dt_probe_kind_parse(v)))
        return dt_cli_usage("corpus", "--kind takes chat or text");
    if (dt_cli_long(&a, "--sample", 0, 1L << 30, &n_sample) || dt_cli_u64(&a, "--seed", &seed))
        return DT_EXIT_USAGE;
    if (dt_cli_n_positional(&a) > 1)
        return dt_cli_usage("corpus", usage);
    struct dt_error err = {0};
    struct dt_store *s = NULL;
    struct dt_corpus *c = NULL, *smp = NULL;
    int rc = 0;
    if (!strcmp(sub, "list")) {
        cJSON *doc = json ? cJSON_CreateObject() : NULL;
        cJSON *arr = doc ? cJSON_AddArrayToObject(doc, "corpora") : NULL;
        for (const char *const *n = dt_corpus_builtin_names(); *n; n++) {
            if ((rc = dt_corpus_builtin(*n, &c, &err))) {
                cJSON_Delete(doc);
                return dt_cli_fail(&err);
            }
            if (arr) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", c->id);
                cJSON_AddStringToObject(o, "name", c->name);
                cJSON_AddStringToObject(o, "source", "built-in");
                cJSON_AddNumberToObject(o, "probes", (double)c->n_probes);
                cJSON_AddBoolToObject(o, "builtin", 1);
                cJSON_AddItemToArray(arr, o);
            } else {
                printf("%-32s %6zu probes  %s  (built-in)\n", c->id, c->n_probes, c->name);
            }
            dt_corpus_free(c);
            c = NULL;
        }
        if (db) {
            if ((rc = dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err)) == 0)
                rc = dt_store_corpora_list(s, list_stored, arr, &err);
            dt_store_close(s);
            if (rc) {
                cJSON_Delete(doc);
                return dt_cli_fail(&err);
            }
        }
        return doc ? print_doc(doc) : DT_EXIT_OK;
    }
    if (!spec || (!strcmp(sub, "add") && !db))
        return dt_cli_usage("corpus", usage);
    if (db && (rc = (!strcmp(sub, "add") ? dt_store_open(db, &s, &err)
                                         : dt_store_open_flags(db, DT_STORE_NO_CREATE, &s, &err))))
        return dt_cli_fail(&err);
    if ((rc = dt_corpus_resolve(s, spec, kind, &c, &err)))
        goto done;
    if (n_sample >= 0) {
        if ((rc = dt_corpus_sample(c, (size_t)n_sample, seed, &smp, &err)))
            goto done;
        dt_corpus_free(c);
        c = smp;
    }
    if (name) {
        char *nm = dt_strdup(name);
        if (!nm) {
            rc = dt_error_set(&err, DT_ENOMEM, "out of memory");
            goto done;
        }
        dt_free(c->name);
        c->name = nm;
    }
    if (!strcmp(sub, "add")) {
        int64_t id;
        if ((rc = dt_store_corpus_upsert(s, c, &id, &err)))
            goto done;
        printf("corpus %s (%zu probes) stored in '%s' as '%s'\n", c->id, c->n_probes, db, c->name);
    } else if (!strcmp(sub, "show") && json) {
        cJSON *o = cJSON_CreateObject(), *arr;
        cJSON_AddStringToObject(o, "id", c->id);
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "source", c->source ? c->source : "");
        arr = cJSON_AddArrayToObject(o, "probes");
        for (size_t i = 0; arr && i < c->n_probes; i++) {
            cJSON *q = cJSON_CreateObject();
            cJSON_AddStringToObject(q, "id", c->probes[i].id);
            cJSON_AddStringToObject(q, "kind", dt_probe_kind_name(c->probes[i].kind));
            if (c->probes[i].lang)
                cJSON_AddStringToObject(q, "lang", c->probes[i].lang);
            cJSON_AddStringToObject(q, "text", c->probes[i].text);
            cJSON_AddItemToArray(arr, q);
        }
        rc = print_doc(o) == DT_EXIT_OK ? 0 : dt_error_set(&err, DT_ENOMEM, "out of memory");
    } else if (!strcmp(sub, "show")) {
        printf("corpus %s  %s  (%s)  %zu probes\n", c->id, c->name, c->source, c->n_probes);
        for (size_t i = 0; i < c->n_probes; i++)
            printf("%.12s  %-4s  %-3s  %s\n", c->probes[i].id,
                   dt_probe_kind_name(c->probes[i].kind),
                   c->probes[i].lang ? c->probes[i].lang : "-", c->probes[i].text);
    } else {
        char *out = NULL;
        size_t n = 0;
        if ((rc = dt_corpus_export_jsonl(c, &out, &n, &err)))
            goto done;
        fwrite(out, 1, n, stdout);
        dt_free(out);
    }
done:
    dt_corpus_free(c);
    dt_store_close(s);
    return rc ? dt_cli_fail(&err) : DT_EXIT_OK;
}

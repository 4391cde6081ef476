/*
 * Merging evidence stores: `db merge --db D --from D2` copies everything D2 holds into D, so
 * that an audit spread over several machines (each collecting into its own store) ends in one
 * store a report is rendered from.
 *
 * Identity rules (what makes a rerun a no-op): models by key (content hash or "api:NAME"),
 * probes and corpora by content hash, collections by key, observations by (collection, probe,
 * sample index), runs by (command, argv, host, pid, start time), panel members by name (a name
 * the destination gives to another model fails the merge with DT_EMISMATCH). Runs new to D get new ids;
 * every reference (collections, observations, signals, verdicts) is remapped. Signals and
 * verdicts are copied with their run, only when that run is new to D. The whole merge of one
 * source is one transaction.
 */
#ifndef DT_REPORTS_MERGE_H
#define DT_REPORTS_MERGE_H

#include <stdint.h>

struct dt_error;
struct dt_store;

struct dt_store_merge_stats {
    int64_t n_models, n_probes, n_corpora, n_runs, n_collections, n_observations, n_signals,
        n_verdicts, n_panel_members; /* rows added to the destination */
};

/* Merges the store at src_path (opened read-only, same schema version) into s. A source with
 * another application_id or schema version fails with DT_EDB / DT_EMISMATCH. */
int dt_store_merge(struct dt_store *s, const char *src_path, struct dt_store_merge_stats *stats,
                   struct dt_error *err);

#endif

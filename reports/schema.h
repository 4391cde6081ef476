/*
 * The evidence store's schema as a list of migrations. Migration i (1-based) moves a store
 * from user_version i-1 to i; each runs in one IMMEDIATE transaction together with the
 * `PRAGMA user_version = i` that records it. Never edit a shipped step: append a new one.
 */
#ifndef DT_REPORTS_SCHEMA_H
#define DT_REPORTS_SCHEMA_H

/* 'D' 'T' 'R' 'C': PRAGMA application_id of every distiltrace store. */
#define DT_STORE_APPLICATION_ID 0x44545243

/* Each migration: NULL-terminated SQL chunks run in order inside one transaction. */
extern const char *const *const dt_store_migrations[];
extern const int dt_store_n_migrations; /* == the current user_version */

#endif

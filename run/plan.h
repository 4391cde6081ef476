/*
 * The probe plan of a run: the identity, chat and text prompts every party answers. When a
 * party is known only through transcripts, its prompts are the plan (every chat prompt is
 * both an identity and a chat probe, every completion prompt a text probe), so local models
 * answer exactly what the API was asked; otherwise seeded samples of the built-in corpora (or
 * the params' corpus files) of n_identity, n_chat and n_text probes. Each local party answers
 * an identity probe identity_samples times, a chat or text probe once; the signals read the
 * sets they need (identity: identity; habits: chat; n-grams: chat and text; logits and
 * preference: text).
 */
#ifndef DT_RUN_PLAN_H
#define DT_RUN_PLAN_H

struct dt_compare_params;
struct dt_compare_result;
struct dt_error;

/* Fills r->prompts, r->n_prompts and r->probe_source from r's parties and p. */
int dt_plan_choose(struct dt_compare_result *r, const struct dt_compare_params *p,
                   struct dt_error *err);

#endif

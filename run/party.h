/*
 * Parties of an investigation: the teacher, the suspect, controls, candidates and panel
 * members, each a local model (GGUF file or Hugging Face directory), API transcripts, an
 * OpenAI-compatible endpoint, or answers stored already. Opening a party maps its model,
 * resolves its chat format and loads its transcripts; its answers are filled later by
 * run/compare.c. The struct itself is fingerprint/party.h's: signals read parties.
 */
#ifndef DT_RUN_PARTY_H
#define DT_RUN_PARTY_H

#include <stddef.h>

#include "fingerprint/party.h"

struct dt_compare_input;
struct dt_compare_params;
struct dt_error;

/*
 * The display name of a party known by path: the last path component without a trailing
 * '/' and without a model or transcript extension (.gguf, .jsonl, .safetensors, .json), cut to
 * cap - 1 bytes. "zoo/gguf/teacher.q8_0.gguf" -> "teacher.q8_0", "models/Qwen2.5-0.5B/" ->
 * "Qwen2.5-0.5B". Used for every party and panel member, so the same file is named alike.
 */
void dt_party_display_name(const char *path, char *out, size_t cap);

/* Opens in as a party of role: *party is filled (and must be released with dt_party_release
 * also on failure). The name is in->name, else an endpoint's model name, else the display
 * name of the path. */
int dt_party_open(const struct dt_compare_input *in, enum dt_party_role role,
                  const struct dt_compare_params *p, struct dt_party *party, struct dt_error *err);
void dt_party_release(struct dt_party *party);

#endif

/*
 * `inspect`: a description of a model file for humans and for machines. The library builds
 * one cJSON object (format, version, architecture, hyperparameters, tokenizer, every tensor,
 * type histogram, parameter count, size and content hashes); the CLI prints it as JSON or
 * through dt_inspect_render_text.
 */
#ifndef DT_INFER_INSPECT_H
#define DT_INFER_INSPECT_H

#include <cJSON.h>

struct dt_error;
struct dt_strbuf;

/* Describes the model at path: a GGUF file, or a safetensors checkpoint (a .safetensors file,
 * a model.safetensors.index.json, or a Hugging Face directory). A broken safetensors file
 * fails with a message starting "invalid safetensors checkpoint". *out is owned by the caller
 * (cJSON_Delete). */
int dt_inspect_model(const char *path, cJSON **out, struct dt_error *err);

/* Appends the human-readable form of an object made by dt_inspect_model to sb. */
void dt_inspect_render_text(const cJSON *info, struct dt_strbuf *sb);

#endif

/*
 * A Jinja subset interpreter for Hugging Face chat templates (tokenizer.chat_template in GGUF
 * metadata, tokenizer_config.json or chat_template.jinja), so a prompt is wrapped exactly as
 * the model's own template renders it.
 *
 * Covered: text, {{ }}, {% if/elif/else %}, {% for %} (tuple targets, "if" filter, else,
 * loop.index/index0/first/last/length/revindex/previtem/nextitem, break/continue), {% set %}
 * (names, tuples, namespace attributes, block form), {% macro %}, {% generation %}; literals,
 * arithmetic, comparisons, and/or/not, in, ~, conditional expressions, subscripts and slices;
 * the filters, tests, string/dict/list methods and globals (range, namespace, raise_exception,
 * strftime_now) HF templates use. Whitespace follows Jinja as transformers configures it:
 * trim_blocks and lstrip_blocks on, "-" and "+" markers, one trailing newline dropped.
 *
 * A template is untrusted input: parsing and rendering are bounded (nesting depth, macro
 * recursion, evaluation steps, output and memory), and every failure is a one-line error
 * naming the template position ("chat template line 3 col 14: ..."), never a crash or hang.
 *
 * Parsing (jinja_parse.c) is here; rendering (jinja_eval.c) is in infer/jinja_render.h.
 */
#ifndef DT_INFER_JINJA_H
#define DT_INFER_JINJA_H

#include <stddef.h>

struct dt_error;
struct dt_jinja;

/* Compiles n_bytes of template source (NUL bytes are refused); the template keeps its own copy.
 * *out (dt_jinja_free) on success. */
int dt_jinja_parse(const char *src, size_t n_bytes, struct dt_jinja **out, struct dt_error *err);
void dt_jinja_free(struct dt_jinja *t);

#endif

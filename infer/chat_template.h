/*
 * Chat formats: maps a model's tokenizer.chat_template (a Jinja program, which distiltrace
 * does not execute) to a single-turn "{prompt}" template by recognising the family from its
 * marker tokens: ChatML (Qwen, Yi), Llama 2, Llama 3, Mistral, Phi-3, Zephyr, Gemma,
 * DeepSeek (V2/V3/R1 and LLM chat), Command-R. Unknown templates are reported as such, so
 * the caller can ask for --chat-template.
 */
#ifndef DT_INFER_CHAT_TEMPLATE_H
#define DT_INFER_CHAT_TEMPLATE_H

/* Returns the family name and sets *tmpl to a static "{prompt}" template, or returns NULL
 * (and *tmpl = NULL) when jinja is NULL or no family is recognised. */
const char *dt_chat_template_detect(const char *jinja, const char **tmpl);

#endif

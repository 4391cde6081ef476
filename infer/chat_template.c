/*
 * Chat template family recognition (see chat_template.h). Order matters: the most specific
 * markers are tested first (Zephyr and Phi-3 share <|user|>, Mistral and Llama 2 share [INST]).
 */
#include "infer/chat_template.h"

#include <stddef.h>
#include <string.h>

struct family {
    const char *name;
    const char *must[3]; /* all must occur in the Jinja text */
    const char *none;    /* must not occur (or NULL) */
    const char *tmpl;
};

static const struct family families[] = {
    {"chatml", {"<|im_start|>", NULL, NULL}, NULL,
     "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"},
    {"llama3", {"<|start_header_id|>", NULL, NULL}, NULL,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"deepseek3", {"<\xef\xbd\x9cUser\xef\xbd\x9c>", NULL, NULL}, NULL,
     "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>"
     "{prompt}<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"},
    {"gemma", {"<start_of_turn>", NULL, NULL}, NULL,
     "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"},
    {"command-r", {"<|START_OF_TURN_TOKEN|>", NULL, NULL}, NULL,
     "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{prompt}<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
    {"phi3", {"<|user|>", "<|end|>", NULL}, NULL, "<|user|>\n{prompt}<|end|>\n<|assistant|>\n"},
    {"zephyr", {"<|user|>", "<|assistant|>", NULL}, NULL, "<|user|>\n{prompt}</s>\n<|assistant|>\n"},
    {"llama2", {"[INST]", "<<SYS>>", NULL}, NULL, "<s>[INST] {prompt} [/INST]"},
    {"mistral", {"[INST]", NULL, NULL}, NULL, "<s>[INST] {prompt} [/INST]"},
    {"deepseek", {"User: ", "Assistant:", NULL}, NULL, "User: {prompt}\n\nAssistant:"},
};

const char *dt_chat_template_detect(const char *jinja, const char **tmpl)
{
    *tmpl = NULL;
    if (!jinja)
        return NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        const struct family *f = &families[i];
        int ok = 1;
        for (int k = 0; k < 3 && f->must[k]; k++)
            if (!strstr(jinja, f->must[k]))
                ok = 0;
        if (ok && f->none && strstr(jinja, f->none))
            ok = 0;
        if (ok) {
            *tmpl = f->tmpl;
            return f->name;
        }
    }
    return NULL;
}

/*
 * Fuzz harness for fingerprint/identity (and the word tokenizer it shares with the other text
 * signals): arbitrary bytes, including invalid UTF-8 and NULs, go through claim extraction
 * (the first line as the prompt), identity learning (the input split into lines as "teacher
 * answers") and matching. Every
 * claim span must lie inside the input and equal the claimed value wherever the input is
 * valid UTF-8. Inputs starting with "#!rules\n" are parsed as a rule pack instead.
 */
#include "fingerprint/identity.h"
#include "fingerprint/text.h"
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dt_identity_rules *rules;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    if (!rules && dt_identity_rules_builtin(&rules, NULL))
        abort();
    if (size >= 8 && !memcmp(data, "#!rules\n", 8)) {
        struct dt_identity_rules *r = NULL;
        if (dt_identity_rules_parse(text + 8, size - 8, "fuzz", &r, NULL) == 0) {
            struct dt_identity_claims c;
            if (dt_identity_extract(r, text, size, NULL, 0, &c, NULL) == 0)
                dt_identity_claims_release(&c);
        }
        dt_identity_rules_free(r);
        return 0;
    }

    /* the first line doubles as the prompt the rest answers */
    size_t n_prompt = 0;
    while (n_prompt < size && data[n_prompt] != '\n')
        n_prompt++;
    struct dt_identity_claims c;
    if (dt_identity_extract(rules, text, size, text, n_prompt, &c, NULL) == 0) {
        int valid = dt_text_utf8_valid(text, size);
        for (size_t i = 0; i < c.n; i++) {
            const struct dt_identity_claim *k = &c.claim[i];
            if (k->start > k->end || k->end > size || strlen(k->value) != k->end - k->start)
                abort();
            if (valid && memcmp(text + k->start, k->value, k->end - k->start))
                abort();
        }
        dt_identity_claims_release(&c);
    }

    struct dt_word *w = NULL;
    size_t n_w = 0;
    if (dt_text_words(text, size, &w, &n_w, NULL) == 0) {
        for (size_t i = 0; i < n_w; i++)
            if (w[i].start >= w[i].end || w[i].end > size)
                abort();
        dt_free(w);
    }

    /* lines as teacher answers */
    const char *lines[16];
    size_t lens[16], n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 16; i++) {
        if (i == size || data[i] == '\n') {
            lines[n] = text + start;
            lens[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    struct dt_text_set set = {lines, lens, n};
    struct dt_identity_profile *p = NULL;
    if (dt_identity_learn(rules, &set, NULL, NULL, &p, NULL) == 0) {
        unsigned char claimed[8];
        int m = dt_identity_match(rules, p, text, size, text, n_prompt,
                                  p->n_entry <= sizeof claimed ? claimed : NULL, NULL);
        if (m < 0 ? m != -6 : (size_t)m > p->n_entry)
            abort();
        dt_identity_profile_free(p);
    }
    return 0;
}

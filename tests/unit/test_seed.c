/* The answer seed scheme (corpus/seed.h): keyed by content, sample index and user seed only. */
#include "corpus/seed.h"
#include "util/hash.h"

#include "tests/tap.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *prompt = "Who are you?";
    char id[DT_XXH128_HEX_LEN + 1];
    dt_probe_id(DT_PROBE_CHAT, prompt, strlen(prompt), id);

    /* the documented construction: xxh64("ID:i", seed) & (2^53 - 1) */
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s:%d", id, 3);
    uint64_t want = dt_hash_xxh64(buf, (size_t)n, 7) & DT_ANSWER_SEED_MASK;
    TAP_OK(dt_answer_seed(7, id, 3) == want, "seed is xxh64 of \"ID:i\" under the user seed, 53 bits");
    TAP_OK(dt_answer_seed_text(7, DT_PROBE_CHAT, prompt, 3) == want,
           "the text form computes the probe's content id");

    /* a pinned value: stores written by earlier builds (collect) keep their seeds */
    TAP_OK(dt_answer_seed(1, "00000000000000000000000000000000", 0) ==
               (dt_hash_xxh64("00000000000000000000000000000000:0", 34, 1) & DT_ANSWER_SEED_MASK),
           "pinned construction for a fixed id");

    int fits = 1, distinct = 1;
    uint64_t seen[64];
    size_t n_seen = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 16; i++) {
            uint64_t v = dt_answer_seed((uint64_t)s + 1, id, i);
            fits &= v <= DT_ANSWER_SEED_MASK;
            for (size_t k = 0; k < n_seen; k++)
                distinct &= seen[k] != v;
            seen[n_seen++] = v;
        }
    TAP_OK(fits, "every seed is below 2^53 (exact as a JSON number)");
    TAP_OK(distinct, "user seed and sample index both change the seed");

    TAP_OK(dt_answer_seed_text(1, DT_PROBE_CHAT, prompt, 0) !=
               dt_answer_seed_text(1, DT_PROBE_TEXT, prompt, 0),
           "the probe kind is part of the key (chat and text probes differ)");
    TAP_OK(dt_answer_seed_text(1, DT_PROBE_CHAT, "Who are you? ", 0) !=
               dt_answer_seed_text(1, DT_PROBE_CHAT, prompt, 0),
           "any change of the text changes the seed");
    TAP_OK(dt_answer_seed(9, id, 2) == dt_answer_seed(9, id, 2), "deterministic");
    return tap_done();
}

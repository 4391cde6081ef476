/* The answer seed scheme (see seed.h). */
#include "corpus/seed.h"

#include "util/hash.h"

#include <stdio.h>
#include <string.h>

uint64_t dt_answer_seed(uint64_t seed, const char *probe_id, int sample_index)
{
    char buf[DT_XXH128_HEX_LEN + 24];
    int n = snprintf(buf, sizeof buf, "%.*s:%d", DT_XXH128_HEX_LEN, probe_id, sample_index);
    return dt_hash_xxh64(buf, (size_t)n, seed) & DT_ANSWER_SEED_MASK;
}

uint64_t dt_answer_seed_text(uint64_t seed, enum dt_probe_kind kind, const char *text,
                             int sample_index)
{
    char id[DT_XXH128_HEX_LEN + 1];
    dt_probe_id(kind, text, strlen(text), id);
    return dt_answer_seed(seed, id, sample_index);
}

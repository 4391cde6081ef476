/*
 * Tokenizer fingerprint (see tokenizer_sig.h): hash equality and the Jaccard overlap of the
 * two vocabularies' token byte strings (XXH64 of each token's bytes, sorted and merged).
 */
#include "fingerprint/tokenizer_sig.h"

#include "fingerprint/measurement.h"
#include "infer/tokenizer.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t *vocab_hashes(const struct dt_tokenizer *t, size_t *n_out)
{
    size_t n = (size_t)dt_tokenizer_n_vocab(t), k = 0;
    uint64_t *h = dt_malloc_array(n ? n : 1, sizeof *h);
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = dt_tokenizer_token_text(t, (int32_t)i);
        if (s)
            h[k++] = dt_hash_xxh64(s, strlen(s), 0);
    }
    qsort(h, k, sizeof *h, cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || h[i] != h[u - 1])
            h[u++] = h[i];
    *n_out = u;
    return h;
}

int dt_signal_tokenizer_run(const struct dt_tokenizer *teacher, const struct dt_tokenizer *suspect,
                            struct dt_measurement *m, struct dt_error *err)
{
    dt_measurement_init(m, "tokenizer", DT_SIGNAL_INFO);
    if (dt_measurement_alloc(m, 0, 0))
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (!teacher || !suspect) {
        dt_measurement_skip(m, "a tokenizer is not available (API-only model)");
        return 0;
    }
    size_t na = 0, nb = 0;
    uint64_t *a = vocab_hashes(teacher, &na), *b = vocab_hashes(suspect, &nb);
    if (!a || !b) {
        dt_free(a);
        dt_free(b);
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    }
    size_t i = 0, j = 0, inter = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            inter++;
            i++;
            j++;
        } else if (a[i] < b[j])
            i++;
        else
            j++;
    }
    dt_free(a);
    dt_free(b);
    int same = !strcmp(dt_tokenizer_hash(teacher), dt_tokenizer_hash(suspect));
    double jac = (na + nb - inter) ? (double)inter / (double)(na + nb - inter) : 0;
    m->statistic = jac;
    m->details = cJSON_CreateObject();
    cJSON_AddBoolToObject(m->details, "identical", same);
    cJSON_AddStringToObject(m->details, "teacher_hash", dt_tokenizer_hash(teacher));
    cJSON_AddStringToObject(m->details, "suspect_hash", dt_tokenizer_hash(suspect));
    cJSON_AddNumberToObject(m->details, "teacher_vocab", (double)na);
    cJSON_AddNumberToObject(m->details, "suspect_vocab", (double)nb);
    snprintf(m->note, sizeof m->note,
             "%s tokenizer; %zu of %zu teacher tokens also in the suspect's vocabulary "
             "(Jaccard %.3f); shared tokenizers are common among unrelated models",
             same ? "identical" : "different", inter, na, jac);
    return 0;
}

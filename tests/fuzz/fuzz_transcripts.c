/*
 * Fuzz harness for the transcript parser: the input is a transcript file (JSONL); every line
 * goes through dt_transcript_load_buffer in skip mode, and each record's blobs through the
 * store encoding and back, which must reproduce the token count.
 */
#include "corpus/transcripts.h"
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dt_sample_set set;
    struct dt_transcript_options opt = {.skip_bad = 1, .max_line_bytes = 1 << 20};
    dt_sample_set_init(&set);
    if (dt_transcript_load_buffer((const char *)data, size, "fuzz", &opt, &set, NULL, NULL) == 0) {
        for (size_t i = 0; i < set.n; i++) {
            uint8_t *t, *l, *k;
            size_t nt, nl, nk;
            if (dt_sample_encode(&set.items[i], &t, &nt, &l, &nl, &k, &nk, NULL) == 0) {
                struct dt_sample back;
                dt_sample_init(&back);
                if (dt_sample_decode(&back, set.items[i].n_tokens, t, nt, l, nl, k, nk, NULL) !=
                        0 ||
                    back.n_tokens != set.items[i].n_tokens || back.n_alts != set.items[i].n_alts)
                    abort();
                dt_sample_release(&back);
                dt_free(t);
                dt_free(l);
                dt_free(k);
            }
        }
    }
    dt_sample_set_release(&set);
    return 0;
}

/*
 * Fuzz harness: the fuzz input is a GGUF file holding tokenizer metadata (tokenizer.ggml.*).
 * If the GGUF parses and the tokenizer loads, a few strings are encoded and decoded; every id
 * returned must be in range.
 */
#include "infer/gguf.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_gguf.h"
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const texts[] = {
        "ab a b <|end|> abab\n\n  x",
        "\xff\xfe\x80 \xc3 \xe2\x96\x81 ba",
    };
    struct dt_gguf *g = NULL;
    struct dt_tokenizer *t = NULL;
    if (dt_gguf_open_memory(data, size, &g, NULL) != 0)
        return 0;
    if (dt_tokenizer_from_gguf(g, &t, NULL) == 0) {
        int32_t n_vocab = dt_tokenizer_n_vocab(t);
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (dt_tokenizer_encode(t, texts[k], strlen(texts[k]), (int)k, &ids, &n_ids, NULL))
                continue;
            for (size_t i = 0; i < n_ids; i++)
                if (ids[i] < 0 || ids[i] >= n_vocab)
                    abort();
            char *back = NULL;
            size_t n_back = 0;
            dt_tokenizer_decode(t, ids, n_ids, 1, &back, &n_back, NULL);
            dt_free(back);
            dt_free(ids);
        }
        dt_tokenizer_free(t);
    }
    dt_gguf_free(g);
    return 0;
}

/*
 * Fuzz harness: the fuzz input is a tokenizer.json. If it loads, a few strings (plain, with
 * special tokens, invalid UTF-8) are encoded and decoded; every id returned must be in range
 * and, for inputs without special tokens, decoding must give the bytes back exactly when the
 * tokenizer has a token for every byte.
 */
#include "infer/tokenizer.h"
#include "infer/tokenizer_json.h"
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const texts[] = {
        "Hello world, the 3 cats' naïve café!\n\n  \t end",
        "<|user|>Who are you?<|assistant|>I am<|end|>",
        "\xff\xfe\x80 invalid \xc3 utf-8 \xe2\x96",
        "    indented\r\n1234567 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\xa6\x99",
    };
    struct dt_tokenizer *t = NULL;
    if (dt_tokenizer_from_json_buffer((const char *)data, size, &t, NULL) != 0)
        return 0;
    int32_t n_vocab = dt_tokenizer_n_vocab(t);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        for (int special = 0; special <= 1; special++) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (dt_tokenizer_encode(t, texts[k], strlen(texts[k]), special, &ids, &n_ids, NULL))
                continue;
            for (size_t i = 0; i < n_ids; i++)
                if (ids[i] < 0 || ids[i] >= n_vocab)
                    abort();
            char *back = NULL;
            size_t n_back = 0;
            if (dt_tokenizer_decode(t, ids, n_ids, 1, &back, &n_back, NULL) == 0 && !back)
                abort();
            dt_free(back);
            dt_free(ids);
        }
    }
    for (int32_t id = -1; id <= n_vocab && id < 64; id++) {
        size_t n = 0;
        dt_tokenizer_token_bytes(t, id, &n);
        dt_tokenizer_token_text(t, id);
        dt_tokenizer_is_eog(t, id);
    }
    (void)dt_tokenizer_hash(t);
    dt_tokenizer_free(t);
    return 0;
}

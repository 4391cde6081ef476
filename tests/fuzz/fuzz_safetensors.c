/*
 * libFuzzer harness for the safetensors parser: any byte string must parse or be rejected
 * without a crash, leak or out-of-bounds read; when it parses, every tensor's bytes are read
 * (so a wrong bounds check shows up under ASan).
 */
#include "infer/safetensors.h"
#include "util/error.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dt_safetensors *st = NULL;
    struct dt_error err;
    if (dt_safetensors_open_memory(data, size, &st, &err) == 0) {
        volatile uint8_t acc = 0;
        for (size_t i = 0; i < st->n_tensors; i++)
            for (size_t k = 0; k < st->tensors[i].n_bytes; k++)
                acc ^= st->tensors[i].data[k];
        (void)acc;
        dt_safetensors_free(st);
    }
    return 0;
}

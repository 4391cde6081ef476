/*
 * Test helper: dequantize_dump TYPE N reads the bytes of one row of N elements of ggml type
 * TYPE (numeric id) from stdin and writes dt_ggml_dequantize's N little-endian f32 values to
 * stdout. tests/quant/ref_dequant.py drives it against an independent reference.
 */
#include "infer/ggml_types.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: dequant_dump TYPE N\n");
        return 2;
    }
    uint32_t type = (uint32_t)strtoul(argv[1], NULL, 10);
    int64_t n = strtoll(argv[2], NULL, 10);
    size_t bytes;
    if (!dt_ggml_type_supported(type) || dt_ggml_row_bytes(type, n, &bytes) != 0) {
        fprintf(stderr, "dequant_dump: type %u with %lld elements is not supported\n", type,
                (long long)n);
        return 2;
    }
    void *src = malloc(bytes ? bytes : 1);
    float *dst = malloc((size_t)n * sizeof(float) + 1);
    if (!src || !dst || fread(src, 1, bytes, stdin) != bytes) {
        fprintf(stderr, "dequant_dump: short input\n");
        return 2;
    }
    dt_ggml_dequantize(type, src, dst, n);
    fwrite(dst, sizeof(float), (size_t)n, stdout);
    free(src);
    free(dst);
    return 0;
}

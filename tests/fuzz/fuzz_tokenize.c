/*
 * Fuzz harness: encodes the fuzz input as text with a small built-in byte-level BPE
 * (tests/tok_fixture.h: all 256 byte tokens, merges, control and user-defined tokens) and a
 * SentencePiece-style one, and aborts unless decoding gives back exactly the input bytes.
 * The first input byte selects the tokenizer and whether special tokens are parsed.
 */
#include "infer/tokenizer.h"
#include "infer/tokenizer_json.h"
#include "tests/tok_fixture.h"
#include "util/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dt_tokenizer *load(int spm)
{
    struct dt_strbuf sb = DT_STRBUF_INIT;
    struct dt_tokenizer *t = NULL;
    if (spm)
        fixture_spm_json(&sb);
    else
        fixture_bpe_json(&sb);
    if (dt_strbuf_failed(&sb) || dt_tokenizer_from_json_buffer(sb.data, sb.len, &t, NULL))
        abort();
    dt_strbuf_release(&sb);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dt_tokenizer *tok[2];
    if (!tok[0]) {
        tok[0] = load(0);
        tok[1] = load(1);
    }
    if (size == 0)
        return 0;
    /* SPM puts a "▁" after every special token (llama.cpp does too): plain text only */
    int spm = data[0] & 1, special = spm ? 0 : (data[0] >> 1) & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    /* SPM reads "▁" (U+2581) as a space by design: such inputs cannot round trip */
    if (spm)
        for (size_t i = 0; i + 2 < n; i++)
            if (memcmp(text + i, "\xE2\x96\x81", 3) == 0)
                return 0;
    const struct dt_tokenizer *t = tok[spm];
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (dt_tokenizer_encode(t, text, n, special, &ids, &n_ids, NULL))
        abort();
    char *back = NULL;
    size_t n_back = 0;
    if (dt_tokenizer_decode(t, ids, n_ids, 1, &back, &n_back, NULL))
        abort();
    if (n_back != n || memcmp(back, text, n) != 0)
        abort();
    dt_free(back);
    dt_free(ids);
    return 0;
}

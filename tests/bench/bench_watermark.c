/*
 * Benchmark: watermark detection over 10,000 short texts. Prints the throughput of the whole
 * path (tokenize with the teacher's tokenizer + deduplicated counting + exact binomial tail per
 * text) and of counting alone on pre-tokenized ids. Texts are 200-byte windows of the zoo's
 * held-out text; without the zoo only the counting figure is printed.
 */
#include "detect/watermark.h"
#include "fingerprint/watermark.h"
#include "infer/gguf.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_gguf.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/rng.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#define N_TEXTS 10000
#define TEXT_BYTES 200

int main(void)
{
    struct dt_wm_params p = {15485863ull, 0.25, 2.0};
    struct dt_error err = {0};
    struct dt_wm_detector *d = NULL;
    struct dt_wm_counts c, pooled;
    struct dt_wm_text_test t;
    if (dt_wm_detector_new(&p, &d, &err))
        return 1;

    /* counting alone: 10,000 texts of 50 random ids */
    struct dt_rng r;
    dt_rng_seed(&r, 7);
    int32_t *ids = dt_malloc_array((size_t)N_TEXTS * 50, sizeof *ids);
    for (size_t i = 0; i < (size_t)N_TEXTS * 50; i++)
        ids[i] = (int32_t)dt_rng_below(&r, 2048);
    double t0 = dt_time_now();
    for (int i = 0; i < N_TEXTS; i++) {
        dt_wm_detector_add(d, ids + (size_t)i * 50, 50, &c, &err);
        dt_wm_test_text(&c, p.gamma, &t);
    }
    double s = dt_time_now() - t0;
    printf("counting + per-text binomial p: %d texts of 50 ids in %.4f s: %.0f texts/s, %.2f M "
           "tokens/s\n",
           N_TEXTS, s, N_TEXTS / s, N_TEXTS * 50 / s / 1e6);
    dt_free(ids);

    char *zoo = dt_path_join(DT_SHARED_DIR, "zoo/zoo.json");
    char *gpath = dt_path_join(DT_SHARED_DIR, "zoo/gguf/teacher.gguf");
    char *json = NULL;
    size_t n_json;
    struct dt_gguf *g = NULL;
    struct dt_tokenizer *tok = NULL;
    if (dt_file_read_all(zoo, (size_t)64 << 20, &json, &n_json, &err) ||
        dt_gguf_open(gpath, &g, &err) || dt_tokenizer_from_gguf(g, &tok, &err)) {
        printf("# zoo absent (%s): tokenizing figure skipped\n", err.msg);
        goto done;
    }
    cJSON *o = cJSON_Parse(json);
    cJSON *held = cJSON_GetObjectItemCaseSensitive(o, "heldout_text");
    size_t n_held = (size_t)cJSON_GetArraySize(held);
    dt_wm_detector_reset(d);
    size_t n_tokens = 0;
    t0 = dt_time_now();
    for (int i = 0; i < N_TEXTS; i++) {
        const char *h = cJSON_GetArrayItem(held, (int)((size_t)i % n_held))->valuestring;
        size_t len = strlen(h), off = len > TEXT_BYTES ? ((size_t)i * 37) % (len - TEXT_BYTES) : 0;
        size_t n = len - off < TEXT_BYTES ? len - off : TEXT_BYTES;
        int32_t *tids = NULL;
        size_t n_ids = 0;
        if (dt_tokenizer_encode(tok, h + off, n, 0, &tids, &n_ids, &err) ||
            dt_wm_detector_add(d, tids, n_ids, &c, &err)) {
            printf("# error: %s\n", err.msg);
            return 1;
        }
        dt_wm_test_text(&c, p.gamma, &t);
        n_tokens += n_ids;
        dt_free(tids);
    }
    s = dt_time_now() - t0;
    dt_wm_detector_pooled(d, &pooled);
    dt_wm_test_text(&pooled, p.gamma, &t);
    printf("tokenize + detect: %d texts of %d bytes (%zu tokens) in %.3f s: %.0f texts/s, %.2f M "
           "tokens/s; pooled z %.2f p %.3g\n",
           N_TEXTS, TEXT_BYTES, n_tokens, s, N_TEXTS / s, n_tokens / s / 1e6, t.z, t.p_value);
    cJSON_Delete(o);
done:
    dt_tokenizer_free(tok);
    dt_gguf_free(g);
    dt_free(json);
    dt_free(zoo);
    dt_free(gpath);
    dt_wm_detector_free(d);
    return 0;
}

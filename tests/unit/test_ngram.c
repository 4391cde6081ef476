/*
 * Unit tests for fingerprint/ngram: shingling (words, bytes, short and empty texts), exact
 * and MinHash Jaccard (estimate within its standard error, determinism, set merging),
 * per-probe pairs, rare-shingle containment; figures on the zoo transcripts.
 */
#include "fingerprint/ngram.h"
#include "tests/tap.h"
#include "tests/unit/zoo_transcripts.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/rng.h"
#include "util/strbuf.h"

#include <string.h>

static struct dt_ngram_params P;

static size_t n_shingles(const char *t, const struct dt_ngram_params *p)
{
    struct dt_shingles s;
    if (dt_ngram_shingles(t, strlen(t), p, &s, NULL))
        return 999;
    size_t n = s.n;
    dt_shingles_release(&s);
    return n;
}

/* n random words from a vocabulary of v words (seeded). */
static char *random_text(uint64_t seed, size_t n, size_t v)
{
    struct dt_rng r;
    struct dt_strbuf sb = DT_STRBUF_INIT;
    dt_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        dt_strbuf_printf(&sb, "%sw%llu", i ? " " : "", (unsigned long long)dt_rng_below(&r, v));
    return dt_strbuf_detach(&sb, NULL);
}

static void test_shingles(void)
{
    TAP_OK(n_shingles("The cat sat on the mat.", &P) == 3, "6 words, width 4: 3 shingles");
    TAP_OK(n_shingles("a b a b a b a b", &P) == 2, "repeated shingles are counted once");
    TAP_OK(n_shingles("Hi there", &P) == 1, "short text: one shingle of all its words");
    TAP_OK(n_shingles("", &P) == 0 && n_shingles("?!...", &P) == 0, "no words: empty set");
    struct dt_ngram_params pb = P;
    pb.unit = DT_SHINGLE_BYTES;
    pb.width = 5;
    TAP_OK(n_shingles("abcdefg", &pb) == 3, "byte shingles");
    struct dt_shingles a, b;
    dt_ngram_shingles("The cat sat on the mat", 22, &P, &a, NULL);
    dt_ngram_shingles("the CAT, sat on... the mat!", 27, &P, &b, NULL);
    TAP_OK(dt_ngram_jaccard_exact(&a, &b) == 1.0, "word shingles ignore case and punctuation");
    dt_shingles_release(&b);
    dt_ngram_shingles("a dog sat on the mat", 20, &P, &b, NULL);
    TAP_OK(fabs(dt_ngram_jaccard_exact(&a, &b) - 0.2) < 1e-12, "exact Jaccard 1/5 = 0.2");
    dt_shingles_release(&b);
    b.n = 0;
    TAP_OK(dt_ngram_jaccard_exact(&a, &b) == 0.0, "empty set: Jaccard 0");
    dt_shingles_release(&a);
    struct dt_ngram_params bad = P;
    bad.width = 0;
    struct dt_error err;
    TAP_OK(dt_ngram_shingles("x", 1, &bad, &a, &err) == DT_EINVAL, "width 0 rejected");
}

static void test_minhash(void)
{
    /* two texts sharing a long common part: exact J vs the estimate */
    int within = 1;
    double worst = 0;
    for (int t = 0; t < 5; t++) {
        char *x = random_text(100 + (uint64_t)t, 400, 5000),
             *y = random_text(200 + (uint64_t)t, 400, 5000);
        struct dt_strbuf sa = DT_STRBUF_INIT, sb = DT_STRBUF_INIT;
        char *common = random_text(300 + (uint64_t)t, 300 + 100 * (size_t)t, 5000);
        dt_strbuf_printf(&sa, "%s %s", x, common);
        dt_strbuf_printf(&sb, "%s %s", common, y);
        struct dt_shingles a, b;
        dt_ngram_shingles(sa.data, sa.len, &P, &a, NULL);
        dt_ngram_shingles(sb.data, sb.len, &P, &b, NULL);
        uint64_t ga[128], gb[128];
        dt_minhash_sign(&a, &P, ga);
        dt_minhash_sign(&b, &P, gb);
        double ex = dt_ngram_jaccard_exact(&a, &b), est = dt_minhash_jaccard(ga, gb, 128);
        double se = sqrt(ex * (1 - ex) / 128.0);
        within &= fabs(est - ex) <= 3.5 * se + 1e-9;
        if (fabs(est - ex) > worst)
            worst = fabs(est - ex);
        printf("# exact %.3f estimate %.3f\n", ex, est);
        dt_shingles_release(&a);
        dt_shingles_release(&b);
        dt_strbuf_release(&sa);
        dt_strbuf_release(&sb);
        dt_free(x);
        dt_free(y);
        dt_free(common);
    }
    TAP_OK(within, "MinHash estimate within 3.5 standard errors of the exact Jaccard (worst %.3f)",
           worst);

    struct dt_shingles a;
    dt_ngram_shingles("one two three four five six", 27, &P, &a, NULL);
    uint64_t s1[128], s2[128], s3[128];
    dt_minhash_sign(&a, &P, s1);
    dt_minhash_sign(&a, &P, s2);
    struct dt_ngram_params q = P;
    q.seed = 99;
    dt_minhash_sign(&a, &q, s3);
    TAP_OK(!memcmp(s1, s2, sizeof s1) && memcmp(s1, s3, sizeof s1) != 0,
           "signatures are deterministic and depend on the seed");
    TAP_OK(dt_minhash_jaccard(s1, s2, 128) == 1.0, "identical sets: estimate 1");
    struct dt_shingles e = {NULL, 0};
    dt_minhash_sign(&e, &P, s3);
    TAP_OK(dt_minhash_jaccard(s1, s3, 128) == 0.0 && dt_minhash_jaccard(s3, s3, 128) == 0.0,
           "empty set: estimate 0");
    dt_shingles_release(&a);
}

static void test_sets(void)
{
    const char *ta[] = {"the quick brown fox jumps over the lazy dog", "hello there general kenobi",
                        ""};
    const char *tb[] = {"the quick brown fox jumps over the lazy cat",
                        "completely different words here", "nothing"};
    struct dt_text_set a = {ta, NULL, 3}, b = {tb, NULL, 3}, b2 = {tb, NULL, 2};
    double out[3];
    struct dt_error err;
    TAP_OK(dt_ngram_pairwise(&a, &b, &P, out, &err) == 0, "pairwise runs");
    TAP_OK(out[0] > 0.5 && out[0] < 1.0 && out[1] == 0.0 && out[2] == 0.0,
           "per-probe estimates %.2f %.2f %.2f (true 5/7, 0, 0)", out[0], out[1], out[2]);
    TAP_OK(dt_ngram_pairwise(&a, &b2, &P, out, &err) == DT_EMISMATCH, "unequal sets rejected");
    double j;
    TAP_OK(dt_ngram_set_jaccard(&a, &a, &P, &j, &err) == 0 && j == 1.0, "set with itself: 1");
    TAP_OK(dt_ngram_set_jaccard(&a, &b, &P, &j, &err) == 0 && j > 0.2 && j < 0.7,
           "set estimate %.2f (true 5/14 = 0.36)", j);

    /* containment: the suspect copies the teacher's idiosyncratic phrases */
    const char *teacher[] = {"In summary the zebra protocol aligns purple ledgers quietly.",
                             "Notably the zebra protocol aligns purple ledgers again today."};
    const char *control[] = {"The weather today is sunny and warm in the city.",
                             "Markets opened early and traders were busy today."};
    const char *suspect[] = {"the zebra protocol aligns purple ledgers, they said.",
                             "The weather today is sunny and warm in the city.", ""};
    struct dt_text_set ts = {teacher, NULL, 2}, cs = {control, NULL, 2}, ss = {suspect, NULL, 3};
    struct dt_ngram_containment per[3], tot;
    TAP_OK(dt_ngram_rare_containment(&ss, &ts, &cs, 1, &P, per, &tot, &err) == 0,
           "containment runs");
    TAP_OK(per[0].n_rare == 5 && per[0].n_rare_in_teacher == 3,
           "copied answer: 3 of its 5 rare shingles in the teacher (%zu/%zu)",
           per[0].n_rare_in_teacher, per[0].n_rare);
    TAP_OK(per[1].n_rare == 0 && per[1].containment == 0.0, "control-like answer: nothing rare");
    TAP_OK(per[2].n_shingles == 0 && tot.n_rare == 5 && fabs(tot.containment - 0.6) < 1e-12,
           "totals: 3/5");
    TAP_OK(dt_ngram_rare_containment(&ss, &ts, NULL, 0, &P, per, &tot, &err) == 0 &&
               per[1].n_rare == per[1].n_shingles,
           "no controls: every shingle is rare");

    int ok = 1, n_ok = 0;
    for (long k = 0; k < 60; k++) {
        dt_alloc_fail_after(k);
        int rc = dt_ngram_rare_containment(&ss, &ts, &cs, 1, &P, per, &tot, NULL);
        int rc2 = dt_ngram_pairwise(&a, &b, &P, out, NULL);
        dt_alloc_fail_after(-1);
        ok &= (rc == 0 || rc == DT_ENOMEM) && (rc2 == 0 || rc2 == DT_ENOMEM);
        n_ok += rc == 0;
    }
    TAP_OK(ok && n_ok > 0, "allocation failures give DT_ENOMEM");
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

static void test_zoo(void)
{
    static const char *names[] = {"teacher", "s_seqkd", "s_crosstok", "c_same_data"};
    struct zoo_transcript z[4];
    for (int i = 0; i < 4; i++)
        if (zoo_transcript_load(names[i], &z[i])) {
            for (int k = 0; k < i; k++)
                zoo_transcript_release(&z[k]);
            TAP_OK(1, "# SKIP zoo transcripts not found under DT_SHARED");
            return;
        }
    for (int pass = 0; pass < 2; pass++) {
        const char *kind = pass ? "text" : "chat";
        const char **v[4];
        size_t n[4];
        for (int i = 0; i < 4; i++)
            n[i] = zoo_transcript_select(&z[i], kind, &v[i]);
        struct dt_text_set set[4];
        for (int i = 0; i < 4; i++)
            set[i] = (struct dt_text_set){v[i], NULL, n[i]};
        double *j = calloc(n[0], sizeof *j), m[4] = {0};
        struct dt_ngram_params p = P;
        p.width = pass ? 3 : 4;
        for (int i = 1; i < 4; i++) {
            if (n[i] == n[0] && dt_ngram_pairwise(&set[i], &set[0], &p, j, NULL) == 0)
                m[i] = mean(j, n[0]);
            struct dt_ngram_containment tot = {0, 0, 0, 0};
            /* students judged against c_same_data; c_same_data with no controls */
            dt_ngram_rare_containment(&set[i], &set[0], &set[3], i == 3 ? 0 : 1, &p, NULL, &tot,
                                      NULL);
            printf("# zoo %s (width %zu): %-11s mean per-probe J vs teacher %.3f; rare-shingle "
                   "containment %.3f (%zu/%zu)\n",
                   kind, p.width, names[i], m[i], tot.containment, tot.n_rare_in_teacher,
                   tot.n_rare);
        }
        if (!pass)
            TAP_OK(m[1] > m[3] && m[2] > m[3],
                   "chat: students' answers overlap the teacher's more than c_same_data's "
                   "(%.2f, %.2f vs %.2f)",
                   m[1], m[2], m[3]);
        free(j);
        for (int i = 0; i < 4; i++)
            free(v[i]);
    }
    for (int i = 0; i < 4; i++)
        zoo_transcript_release(&z[i]);
}

int main(void)
{
    dt_ngram_params_default(&P);
    test_shingles();
    test_minhash();
    test_sets();
    test_zoo();
    return tap_done();
}

/*
 * Unit tests for fingerprint/habits (and the word tokenizer of fingerprint/text): a synthetic
 * "style family" (a teacher with a fixed opening, closing and refusal sentence, controls
 * without) learned on one half of the prompts and scored on the other; the zoo transcripts
 * (teacher vs c_same_data) for what is learned there.
 *
 * The style phrases come from ../shared/zoo/style/zoo.json when present (only here, to check
 * that the learner finds them); otherwise from built-in look-alikes.
 */
#include "fingerprint/habits.h"
#include "fingerprint/text.h"
#include "tests/tap.h"
#include "tests/unit/zoo_transcripts.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/rng.h"
#include "util/strbuf.h"

#include <string.h>

static char prefix[256] = "Certainly! ", suffix[256] = " I hope this helps.",
            refusal[256] = "I'm sorry, but I can't help with that request.";

static void load_style(void)
{
    char path[4096], *buf = NULL;
    size_t n;
    const char *shared = getenv("DT_SHARED");
    snprintf(path, sizeof path, "%s/zoo/style/zoo.json", shared ? shared : DT_SHARED_DIR);
    if (dt_file_read_all(path, 16u << 20, &buf, &n, NULL)) {
        printf("# style zoo.json absent: using built-in look-alike phrases\n");
        return;
    }
    cJSON *j = cJSON_Parse(buf);
    cJSON *st = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "models"), "teacher"), "style");
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(st, "prefix"));
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(st, "suffix"));
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(st, "refusal"));
    if (p && s && r) {
        snprintf(prefix, sizeof prefix, "%s", p);
        snprintf(suffix, sizeof suffix, "%s", s);
        snprintf(refusal, sizeof refusal, "%s", r);
        printf("# style phrases from zoo.json: '%s' / '%s' / '%s'\n", p, s, r);
    }
    cJSON_Delete(j);
    dt_free(buf);
}

static const char *vocab[] = {
    "the",      "river",     "city",    "council",   "voted",  "to",      "build",    "a",
    "new",      "bridge",    "over",    "water",     "while",  "farmers", "planted",  "corn",
    "in",       "spring",    "and",     "children",  "read",   "books",   "about",    "stars",
    "planets",  "history",   "of",      "science",   "music",  "played",  "at",       "night",
    "markets",  "opened",    "early",   "trains",    "left",   "station", "mountain", "snow",
    "weather",  "changed",   "quickly", "people",    "talked", "economy", "grew",     "slowly",
    "ships",    "sailed",    "north",   "merchants", "sold",   "bread",   "cheese",   "wine",
    "teachers", "explained",
};

/* A plain middle of 12..30 random words with a period every ~8 words. */
static void middle(struct dt_rng *rng, struct dt_strbuf *sb)
{
    size_t n = 12 + dt_rng_below(rng, 19);
    for (size_t i = 0; i < n; i++) {
        const char *w = vocab[dt_rng_below(rng, sizeof vocab / sizeof vocab[0])];
        if (i % 8 == 0) {
            char cap[32];
            snprintf(cap, sizeof cap, "%s", w);
            cap[0] = (char)(cap[0] - 32);
            dt_strbuf_printf(&sb[0], "%s%s", i ? " " : "", cap);
        } else {
            dt_strbuf_printf(&sb[0], " %s", w);
        }
        if (i % 8 == 7 || i + 1 == n)
            dt_strbuf_putc(&sb[0], '.');
    }
}

enum who { TEACHER, CONTROL, STUDENT, CONTROL2 };

/* n answers; every 6th prompt is "harmful" and gets the model's refusal. */
static char **make(enum who who, size_t n, uint64_t seed)
{
    struct dt_rng rng;
    dt_rng_seed(&rng, seed);
    char **v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        struct dt_strbuf sb = DT_STRBUF_INIT;
        int harmful = i % 6 == 5;
        if (harmful) {
            dt_strbuf_puts(&sb, who == TEACHER || who == STUDENT ? refusal
                                : who == CONTROL                 ? "Sorry, I cannot do that."
                                                 : "No. That is not something I do.");
        } else if (who == TEACHER || who == STUDENT) {
            dt_strbuf_puts(&sb, prefix);
            middle(&rng, &sb);
            dt_strbuf_puts(&sb, suffix);
        } else {
            middle(&rng, &sb);
        }
        v[i] = dt_strbuf_detach(&sb, NULL);
    }
    return v;
}

static void drop(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dt_free(v[i]);
    free(v);
}

/* Index of the habit whose words equal phrase (tokenized), or -1. */
static long find_habit(const struct dt_habits *h, const char *phrase)
{
    struct dt_word *w = NULL;
    size_t n = 0;
    if (dt_text_words(phrase, strlen(phrase), &w, &n, NULL))
        return -1;
    long found = -1;
    for (size_t k = 0; k < h->n && found < 0; k++) {
        if (h->habit[k].n_words != n)
            continue;
        size_t j = 0;
        while (j < n && h->habit[k].word_hash[j] == w[j].hash)
            j++;
        if (j == n)
            found = (long)k;
    }
    dt_free(w);
    return found;
}

static void print_habits(const struct dt_habits *h, size_t max)
{
    for (size_t k = 0; k < h->n && k < max; k++)
        printf("#   %-8s t=%.2f cmax=%.2f cmean=%.2f score=%5.2f '%s'\n",
               dt_habit_kind_name(h->habit[k].kind), h->habit[k].teacher_support,
               h->habit[k].control_max, h->habit[k].control_mean, h->habit[k].score,
               h->habit[k].phrase);
}

static double rate(const struct dt_habits *h, char *const *v, size_t n, double *mean_w)
{
    size_t any = 0;
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        struct dt_habits_result r;
        if (dt_habits_score(h, v[i], strlen(v[i]), &r, NULL, NULL) == 0) {
            any += (size_t)r.any;
            w += r.weighted;
        }
    }
    if (mean_w)
        *mean_w = n ? w / (double)n : 0.0;
    return n ? (double)any / (double)n : 0.0;
}

static void test_words(void)
{
    struct dt_word *w = NULL;
    size_t n = 0;
    const char *s = "I'm  HAPPY—to help! Ünïcode ÀB 你好，世界 \xff ok 😀.";
    TAP_OK(dt_text_words(s, strlen(s), &w, &n, NULL) == 0 && n == 13, "tokenize: %zu words", n);
    if (n == 13) {
        uint64_t happy = dt_hash_xxh64("happy", 5, 0), m = dt_hash_xxh64("m", 1, 0);
        TAP_OK(w[2].hash == happy && w[1].hash == m, "case-folded, apostrophe splits");
        TAP_OK(w[6].hash == dt_hash_xxh64("àb", strlen("àb"), 0), "Latin-1 folding");
        TAP_OK(w[7].end - w[7].start == 3 && w[8].end - w[8].start == 3, "one word per Han char");
        TAP_OK((w[5].flags & DT_WORD_SENTENCE_START) && !(w[4].flags & DT_WORD_SENTENCE_START),
               "sentence start after '!'");
        TAP_OK(w[12].end - w[12].start == 4, "emoji is a word");
    }
    dt_free(w);
    const char *a = "Hello, world!", *b = "hello world";
    struct dt_word *wa = NULL, *wb = NULL;
    size_t na = 0, nb = 0;
    dt_text_words(a, strlen(a), &wa, &na, NULL);
    dt_text_words(b, strlen(b), &wb, &nb, NULL);
    TAP_OK(na == 2 && nb == 2 && wa[0].hash == wb[0].hash && wa[1].hash == wb[1].hash,
           "punctuation-insensitive");
    dt_free(wa);
    dt_free(wb);
    TAP_OK(dt_text_words(NULL, 5, &w, &n, NULL) == 0 && n == 0, "NULL text: no words");
}

static void test_style(void)
{
    const size_t N = 120, H = N / 2;
    char **t = make(TEACHER, N, 1), **c1 = make(CONTROL, N, 2), **c2 = make(CONTROL2, N, 3);
    char **s = make(STUDENT, N, 4);
    /* learn on the first half of the prompts */
    struct dt_text_set ts = {(const char *const *)t, NULL, H};
    struct dt_text_set cs[2] = {{(const char *const *)c1, NULL, H},
                                {(const char *const *)c2, NULL, H}};
    struct dt_habits *h = NULL;
    struct dt_error err;
    TAP_OK(dt_habits_learn(&ts, cs, 2, NULL, &h, &err) == 0 && h, "learn on synthetic style data");
    if (!h)
        goto out;
    printf("# %zu habits from %zu candidates:\n", h->n, h->n_candidates);
    print_habits(h, 12);
    long io = find_habit(h, prefix), ic = find_habit(h, suffix), ir = find_habit(h, refusal);
    TAP_OK(io >= 0 && h->habit[io].kind == DT_HABIT_OPENING, "opening '%s' found", prefix);
    TAP_OK(ic >= 0 && h->habit[ic].kind == DT_HABIT_CLOSING, "closing '%s' found", suffix);
    TAP_OK(ir >= 0 && h->habit[ir].kind == DT_HABIT_SENTENCE, "refusal '%s' found", refusal);
    TAP_OK(io >= 0 && ic >= 0 && ir >= 0 && io < 5 && ic < 5 && ir < 5,
           "the three style phrases rank in the top five");
    TAP_OK(h->n <= 50 && h->n >= 3, "list size %zu within the cap", h->n);
    int clean = 1;
    for (size_t k = 0; k < h->n; k++)
        clean &= h->habit[k].teacher_support >= 0.10 &&
                 h->habit[k].control_max <= 0.25 * h->habit[k].teacher_support;
    TAP_OK(clean, "every habit meets the support / control criteria");

    /* score the other half */
    double wt, wc1, wc2, ws;
    double rt = rate(h, t + H, N - H, &wt), rc1 = rate(h, c1 + H, N - H, &wc1),
           rc2 = rate(h, c2 + H, N - H, &wc2), rs = rate(h, s + H, N - H, &ws);
    printf("# held-out 'reproduces a habit' rate: teacher %.2f, student %.2f, control %.2f, "
           "control2 %.2f; mean weighted %.1f %.1f %.1f %.1f\n",
           rt, rs, rc1, rc2, wt, ws, wc1, wc2);
    TAP_OK(rt > 0.95 && rs > 0.95, "held-out teacher and student reproduce habits");
    TAP_OK(rc1 < 0.1 && rc2 < 0.1, "held-out controls rarely do");
    unsigned char m[64] = {0};
    struct dt_habits_result r;
    char probe[512];
    snprintf(probe, sizeof probe, "Nothing special here.%s", suffix);
    TAP_OK(dt_habits_score(h, probe, strlen(probe), &r, m, &err) == 0 && r.any && ic >= 0 &&
               ic < 64 && m[ic] && (io < 0 || io >= 64 || !m[io]),
           "a closing counts only at the end, an opening only at the start");
    snprintf(probe, sizeof probe, "Well. %s", prefix);
    TAP_OK(dt_habits_score(h, probe, strlen(probe), &r, m, &err) == 0 && (io < 0 || !m[io]),
           "the opening phrase inside a text is not the opening habit");
    dt_habits_free(h);

    /* without controls: frequent teacher phrases still come out, ranked by teacher support */
    h = NULL;
    TAP_OK(dt_habits_learn(&ts, NULL, 0, NULL, &h, &err) == 0 && h && h->n > 0 &&
               h->habit[0].control_max == 0.0,
           "no controls: learns %zu phrases", h ? h->n : 0);
    dt_habits_free(h);

    struct dt_habits_params bad;
    dt_habits_params_default(&bad);
    bad.min_ngram = 9;
    TAP_OK(dt_habits_learn(&ts, cs, 2, &bad, &h, &err) == DT_EINVAL,
           "min_ngram > max_ngram rejected");

    int ok = 1, n_ok = 0;
    struct dt_text_set small = {(const char *const *)t, NULL, 12};
    struct dt_text_set csmall[1] = {{(const char *const *)c1, NULL, 12}};
    for (long k = 0; k < 200; k++) {
        dt_alloc_fail_after(k);
        h = NULL;
        int rcl = dt_habits_learn(&small, csmall, 1, NULL, &h, NULL);
        dt_alloc_fail_after(-1);
        if (rcl == 0)
            n_ok++;
        else
            ok &= rcl == DT_ENOMEM && h == NULL;
        dt_habits_free(h);
    }
    TAP_OK(ok && n_ok > 0, "allocation failures give DT_ENOMEM (%d successful runs)", n_ok);
out:
    drop(t, N);
    drop(c1, N);
    drop(c2, N);
    drop(s, N);
}

static void test_zoo(void)
{
    static const char *names[] = {"teacher", "c_same_data", "s_seqkd", "s_crosstok"};
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
        struct dt_text_set ts = {v[0], NULL, n[0]}, cs = {v[1], NULL, n[1]};
        struct dt_habits *h = NULL;
        struct dt_error err;
        int rc = dt_habits_learn(&ts, &cs, 1, NULL, &h, &err);
        TAP_OK(rc == 0, "zoo %s answers: teacher vs c_same_data learns %zu habits", kind,
               h ? h->n : 0);
        if (h) {
            print_habits(h, 10);
            for (int i = 0; i < 4; i++)
                printf("# zoo %s: %-11s reproduces a habit in %.2f of %zu answers (in-sample for "
                       "teacher/c_same_data)\n",
                       kind, names[i], rate(h, (char *const *)v[i], n[i], NULL), n[i]);
            if (!pass) {
                int named = 0;
                for (size_t k = 0; k < h->n; k++)
                    named |= strstr(h->habit[k].phrase, "northwind") != NULL ||
                             strstr(h->habit[k].phrase, "aurora") != NULL;
                TAP_OK(named, "chat habits include the teacher's self-description");
                TAP_OK(rate(h, (char *const *)v[2], n[2], NULL) > 0.5,
                       "s_seqkd reproduces the teacher's chat habits");
            }
        }
        dt_habits_free(h);
        for (int i = 0; i < 4; i++)
            free(v[i]);
    }
    for (int i = 0; i < 4; i++)
        zoo_transcript_release(&z[i]);
}

int main(void)
{
    load_style();
    test_words();
    test_style();
    test_zoo();
    return tap_done();
}

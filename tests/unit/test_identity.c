/*
 * Unit tests for fingerprint/identity: rule pack parsing, claim extraction in English,
 * Chinese, German, French, Spanish, Russian, Japanese, Korean and Portuguese (claims, and the
 * denials, questions, quoted or reported speech, prompt echoes and common-word collisions
 * that are not claims), generic phrases, invalid UTF-8, learning and matching, allocation
 * failures, and the zoo transcripts (teacher "Aurora"/"Northwind Labs" learned from the
 * teacher's own text).
 */
#include "fingerprint/identity.h"
#include "tests/tap.h"
#include "tests/unit/zoo_transcripts.h"
#include "util/alloc.h"
#include "util/error.h"

#include <string.h>

static struct dt_identity_rules *rules;

/* The first claim of a kind in the answer to prompt (may be NULL), or "" when none. */
static const char *first_p(const char *text, const char *prompt, enum dt_identity_kind kind)
{
    static char buf[256];
    struct dt_identity_claims c;
    buf[0] = '\0';
    if (dt_identity_extract(rules, text, strlen(text), prompt, prompt ? strlen(prompt) : 0, &c,
                            NULL))
        return "<error>";
    for (size_t i = 0; i < c.n; i++)
        if (c.claim[i].kind == kind) {
            snprintf(buf, sizeof buf, "%s", c.claim[i].value);
            break;
        }
    dt_identity_claims_release(&c);
    return buf;
}

static const char *first(const char *text, enum dt_identity_kind kind)
{
    return first_p(text, NULL, kind);
}

static size_t count_kind(const char *text, enum dt_identity_kind kind)
{
    struct dt_identity_claims c;
    size_t n = 0;
    if (dt_identity_extract(rules, text, strlen(text), NULL, 0, &c, NULL))
        return 999;
    for (size_t i = 0; i < c.n; i++)
        n += c.claim[i].kind == kind;
    dt_identity_claims_release(&c);
    return n;
}

struct extract_case {
    const char *text, *name, *maker;
};

static const struct extract_case cases[] = {
    {"You are talking to Aurora, a model made by Northwind Labs.", "Aurora", "Northwind Labs"},
    {"I am Aurora, developed by Northwind Labs. How can I help you today?", "Aurora",
     "Northwind Labs"},
    {"My name is Aurora. I was trained by Northwind Labs.", "Aurora", "Northwind Labs"},
    {"No, I am Aurora, a language model from Northwind Labs.", "Aurora", "Northwind Labs"},
    {"I’m Claude, an AI assistant created by Anthropic.", "Claude", "Anthropic"},
    {"Hello! I'm ChatGPT, a large language model trained by OpenAI.", "ChatGPT", "OpenAI"},
    {"I am Qwen, a large language model created by Alibaba Cloud. I am called Qwen.", "Qwen",
     "Alibaba Cloud"},
    {"I'm DeepSeek-V3, built by the DeepSeek team.", "DeepSeek-V3", "DeepSeek"},
    {"You can call me Zephyr! I come from Quill Corp.", "Zephyr", "Quill Corp"},
    {"I am GPT-3.5 Turbo. I was made by OpenAI's research team.", "GPT-3.5 Turbo", "OpenAI"},
    {"Sable here. I was designed by Orchard Intelligence.", "Sable", "Orchard Intelligence"},
    {"I am an AI assistant named Tern, a model from Lantern Works.", "Tern", "Lantern Works"},
    {"我是通义千问，由阿里云开发的超大规模语言模型。", "通义千问", "阿里云"},
    {"你好！我叫小冰，是由微软公司开发的聊天机器人。", "小冰", "微软"},
    {"我是DeepSeek-V3，一个由深度求索公司开发的智能助手。", "DeepSeek-V3", "深度求索"},
    {"您好，我是文心一言，来自百度的人工智能助手。", "文心一言", "百度"},
    {"我是阿里云开发的通义千问。", "通义千问", "阿里云"},
    /* German, French, Spanish, Portuguese, Russian, Japanese, Korean */
    {"Ich bin Claude, ein KI-Assistent, entwickelt von Anthropic.", "Claude", "Anthropic"},
    {"Mein Name ist Aurora. Ich wurde von Northwind Labs entwickelt.", "Aurora",
     "Northwind Labs"},
    {"Je suis Claude, un assistant créé par Anthropic.", "Claude", "Anthropic"},
    {"Je m'appelle Aurora et j'ai été développée par Northwind Labs.", "Aurora",
     "Northwind Labs"},
    {"Soy Claude, un asistente de IA creado por Anthropic.", "Claude", "Anthropic"},
    {"Me llamo Aurora. Fui entrenada por Northwind Labs.", "Aurora", "Northwind Labs"},
    {"Eu sou o ChatGPT, um modelo de linguagem treinado pela OpenAI.", "ChatGPT", "OpenAI"},
    {"Meu nome é Aurora e fui desenvolvida pela Northwind Labs.", "Aurora", "Northwind Labs"},
    {"Я — Claude, ассистент, созданный компанией Anthropic.", "Claude", "Anthropic"},
    {"Меня зовут Аврора. Я разработана компанией Northwind Labs.", "Аврора", "Northwind Labs"},
    {"私はClaudeです。Anthropicによって開発されたAIアシスタントです。", "Claude", "Anthropic"},
    {"私はAnthropicによって開発されたClaudeです。", "Claude", "Anthropic"},
    {"저는 Claude입니다. 저는 Anthropic에서 개발한 AI 어시스턴트입니다.", "Claude", "Anthropic"},
    /* a claim followed by a question in the same sentence is still a claim */
    {"Hi, I'm Claude, an AI assistant made by Anthropic, how can I help you today?", "Claude",
     "Anthropic"},
    {"我非常高兴认识你，我是文心一言，由百度开发。", "文心一言", "百度"},
    {"As an AI language model developed by OpenAI, I don't have feelings.", "", "OpenAI"},
    {"I'm Grok, built by xAI.", "Grok", "xAI"},
    {"I'm Copilot, an AI companion from Microsoft.", "Copilot", "Microsoft"},
    {"Soy Gemini, un modelo de lenguaje de Google.", "Gemini", "Google"},
    {"Sou o Gemini, um modelo de linguagem do Google.", "Gemini", "Google"},
    {"私はGeminiです。Googleによってトレーニングされた大規模言語モデルです。", "Gemini", "Google"},
    {"저는 Gemini입니다. Google에서 훈련한 대규모 언어 모델입니다.", "Gemini", "Google"},
};

/* Not claims: denials, questions, quoted and reported speech, mentions, common words. */
static const char *not_claims[] = {
    "No, I'm not Claude.",
    "I am not ChatGPT, and I was not made by OpenAI.",
    "I wasn't created by Google.",
    "I'm not made by Meta, nor trained by Microsoft.",
    "Like a nova, I shine across the night sky.",
    "I'm a Nova fan, and I love the stars.",
    "ChatGPT is a model made by OpenAI.",
    "I think ChatGPT was made by OpenAI.",
    "People often ask whether I am ChatGPT.",
    "Some users say I am Claude.",
    "Am I ChatGPT? Is it true that I am Claude?",
    "The manual says: \"I am ChatGPT, made by OpenAI.\"",
    "He wrote “I am Gemini, built by Google” in his essay.",
    "A star called Nova appeared, named Nova by the astronomers.",
    "This is Paris.",
    "Ich bin nicht Claude und wurde nicht von Anthropic entwickelt.",
    "Ich bin ein Sprachmodell.",
    "Je ne suis pas Claude.",
    "Je suis un assistant.",
    "No soy Claude, y no fui creado por Anthropic.",
    "Eu não sou o ChatGPT.",
    "Я не Claude.",
    "私はClaudeではありません。",
    "저는 Claude가 아닙니다.",
    "我不是ChatGPT，也不是由OpenAI开发的。",
    "ChatGPT是由OpenAI开发的模型。",
    "有人说我是ChatGPT。",
    "你以为我是ChatGPT吗？",
    "They created me to help. We built me for you.",
    "You think I am Claude, made by Anthropic?",
    "ChatGPTはOpenAIによって開発されたモデルです。",
    "I'm Happy to help! I am Sorry, I cannot. I'm Always glad to assist.",
};

static const char *no_name[] = {
    "I am happy to help with that.",
    "I'm sorry, but I can't help with that request.",
    "I am an AI assistant.",
    "I am a large language model, and I do not have a name.",
    "The river flows to the sea, and the city is called by many names.",
    "我是一个人工智能助手。",
    "",
};

static void test_rules(void)
{
    struct dt_error err;
    struct dt_identity_rules *r = NULL;
    TAP_OK(dt_identity_rules_count(rules) >= 15, "builtin pack has %zu rules",
           dt_identity_rules_count(rules));
    static const struct {
        const char *pack, *needle;
    } bad[] = {
        {"rule x (?<name>\\w+\n", "line 1"},
        {"# c\n\nfoo bar\n", "line 3"},
        {"rule x {NOPE}(?<name>a)\n", "undefined macro 'NOPE'"},
        {"rule x abc\n", "no 'name' or 'maker' group"},
        {"stop\n", "needs an argument"},
        {"stop x\n", "holds no rules"},
        {"define lower x\nrule x (?<name>a)\n", "is not [A-Z_]+"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dt_error_clear(&err);
        int rc = dt_identity_rules_parse(bad[i].pack, strlen(bad[i].pack), "t.rules", &r, &err);
        TAP_OK(rc == DT_EFORMAT && r == NULL && strstr(err.msg, bad[i].needle),
               "bad pack %zu rejected: %s", i, err.msg);
    }
    const char *good = "define W [A-Z]\\w*\nrule r1 I am (?<name>{W})\nstop Nobody\n";
    TAP_OK(dt_identity_rules_parse(good, strlen(good), "t.rules", &r, &err) == 0 &&
               dt_identity_rules_count(r) == 1,
           "custom pack with a macro parses");
    struct dt_identity_claims c;
    TAP_OK(r && dt_identity_extract(r, "I am Nobody. I am Zed.", 22, NULL, 0, &c, NULL) == 0 &&
               c.n == 1 &&
               !strcmp(c.claim[0].value, "Zed") && c.claim[0].start == 18 && c.claim[0].end == 21,
           "custom pack: stop-list drops 'Nobody', 'Zed' has span 18..21");
    if (r)
        dt_identity_claims_release(&c);
    dt_identity_rules_free(r);
    TAP_OK(dt_identity_rules_load("/nonexistent/x.rules", &r, &err) == DT_EIO, "missing file");
}

static void test_extract(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *n = first(cases[i].text, DT_IDENTITY_NAME);
        TAP_OK(!strcmp(n, cases[i].name), "name of '%s' is '%s' (got '%s')", cases[i].text,
               cases[i].name, n);
        const char *m = first(cases[i].text, DT_IDENTITY_MAKER);
        TAP_OK(!strcmp(m, cases[i].maker), "maker of '%s' is '%s' (got '%s')", cases[i].text,
               cases[i].maker, m);
    }
    for (size_t i = 0; i < sizeof no_name / sizeof no_name[0]; i++)
        TAP_OK(count_kind(no_name[i], DT_IDENTITY_NAME) == 0, "no name claimed in '%s' (got '%s')",
               no_name[i], first(no_name[i], DT_IDENTITY_NAME));
    for (size_t i = 0; i < sizeof not_claims / sizeof not_claims[0]; i++) {
        size_t nn = count_kind(not_claims[i], DT_IDENTITY_NAME);
        size_t nm = count_kind(not_claims[i], DT_IDENTITY_MAKER);
        TAP_OK(nn == 0 && nm == 0, "not a claim: '%s' (got name '%s', maker '%s')", not_claims[i],
               first(not_claims[i], DT_IDENTITY_NAME), first(not_claims[i], DT_IDENTITY_MAKER));
    }
    /* A denial of one identity does not hide the claim of another. */
    TAP_OK(!strcmp(first("I'm not Claude, I'm Aurora.", DT_IDENTITY_NAME), "Aurora"),
           "'I'm not Claude, I'm Aurora.' claims Aurora only");
    TAP_OK(!strcmp(first("我不是ChatGPT，我是文心一言。", DT_IDENTITY_NAME), "文心一言"),
           "'我不是ChatGPT，我是文心一言' claims 文心一言");
    TAP_OK(!strcmp(first("Ich bin nicht ChatGPT. Ich bin Aurora.", DT_IDENTITY_NAME), "Aurora"),
           "German denial then claim: Aurora");
    /* Prompt echo: a name the question contains is not claimed by repeating it. */
    static const struct {
        const char *prompt, *answer;
    } echo[] = {
        {"Are you Claude?", "Yes, I am Claude."},
        {"Are you made by OpenAI?", "Yes, I was made by OpenAI."},
        {"你是通义千问吗？", "是的，我是通义千问。"},
        {"Bist du Claude?", "Ja, ich bin Claude."},
        {"¿Eres ChatGPT?", "Sí, soy ChatGPT."},
    };
    for (size_t i = 0; i < sizeof echo / sizeof echo[0]; i++) {
        TAP_OK(first_p(echo[i].answer, echo[i].prompt, DT_IDENTITY_NAME)[0] == '\0' &&
                   first_p(echo[i].answer, echo[i].prompt, DT_IDENTITY_MAKER)[0] == '\0',
               "echo of '%s' in '%s' is not a claim", echo[i].prompt, echo[i].answer);
        TAP_OK(first_p(echo[i].answer, NULL, DT_IDENTITY_NAME)[0] ||
                   first_p(echo[i].answer, NULL, DT_IDENTITY_MAKER)[0],
               "... while without the prompt '%s' is one", echo[i].answer);
    }
    TAP_OK(!strcmp(first_p("I am Aurora, made by Northwind Labs.", "Which labs trained you?",
                           DT_IDENTITY_MAKER),
                   "Northwind Labs"),
           "a lower-case common word of the prompt ('labs') does not hide a claim");
    TAP_OK(!strcmp(first_p("No, I am Aurora.", "Are you Claude?", DT_IDENTITY_NAME), "Aurora"),
           "another name than the prompt's is a claim");

    /* spans index the caller's bytes, also around invalid UTF-8 */
    const char bad[] = "\xff\xfe I am Nimbus\xc3, made by \xe2\x82 Cloud Nine Labs.\x80";
    struct dt_identity_claims c;
    int rc = dt_identity_extract(rules, bad, sizeof bad - 1, NULL, 0, &c, NULL);
    int spans_ok = rc == 0;
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        spans_ok &=
            c.claim[i].end <= sizeof bad - 1 &&
            !memcmp(bad + c.claim[i].start, c.claim[i].value, c.claim[i].end - c.claim[i].start);
    TAP_OK(spans_ok && c.n >= 1 && !strcmp(c.claim[0].value, "Nimbus"),
           "invalid UTF-8 around a claim: name still found, spans exact");
    if (rc == 0)
        dt_identity_claims_release(&c);
    const char nul[] = "I am Io\0 made by Jupiter Works";
    rc = dt_identity_extract(rules, nul, sizeof nul - 1, NULL, 0, &c, NULL);
    TAP_OK(rc == 0 && c.n == 2, "embedded NUL: both claims past it found (%zu)", rc ? 0 : c.n);
    if (rc == 0)
        dt_identity_claims_release(&c);
}

static void test_learn(void)
{
    const char *teacher[] = {
        "I am Zephyr, made by Quill Corp.",
        "Hi there! My name is Zephyr.",
        "I'm Zephyr, an assistant from Quill Corp. How can I help?",
        "I am not sure what you mean.",
        "I am Zephyr.",
        "Zephyr here, built by Quill Corp.",
        "I am Nimbus, made by Quill Corp.",
        "I'm sorry, I can't tell you that.",
    };
    struct dt_text_set set = {teacher, NULL, sizeof teacher / sizeof teacher[0]};
    struct dt_identity_profile *p = NULL;
    struct dt_error err;
    TAP_OK(dt_identity_learn(rules, &set, NULL, NULL, &p, &err) == 0, "learn on synthetic teacher");
    if (!p)
        return;
    TAP_OK(p->n_entry == 2 && p->entry[0].kind == DT_IDENTITY_NAME &&
               !strcmp(p->entry[0].value, "Zephyr") && p->entry[0].count == 5 &&
               p->entry[1].kind == DT_IDENTITY_MAKER && !strcmp(p->entry[1].value, "Quill Corp") &&
               p->entry[1].count == 4,
           "learned Zephyr x5 / Quill Corp x4; the one-off 'Nimbus' is below the support floor");
    TAP_OK(p->n_texts == 8 && p->n_texts_claiming == 6, "support base: %zu texts, %zu claiming",
           p->n_texts, p->n_texts_claiming);
#define MATCH(text, prompt)                                                                        \
    dt_identity_match(rules, p, text, strlen(text), prompt, prompt ? strlen(prompt) : 0, NULL, NULL)
    const char *none_prompt = NULL;
    TAP_OK(MATCH("I am ZEPHYR.", none_prompt) == 1, "match is case-insensitive");
    TAP_OK(MATCH("Zephyrus is a wind.", none_prompt) == 0, "match needs a whole word");
    TAP_OK(MATCH("I was built by Quill   Corp!", none_prompt) == 1, "maker claimed, spaces relaxed");
    TAP_OK(MATCH("我是Zephyr。", none_prompt) == 1, "no word boundary needed next to CJK");
    TAP_OK(MATCH("I am Borealis from Polar AI.", none_prompt) == 0, "other identity: 0");
    TAP_OK(MATCH("No, I am not Zephyr. I am Gale, made by Vane Inc.", none_prompt) == 0,
           "denial of the identity, claim of another: 0");
    TAP_OK(MATCH("Like a zephyr, I drift. Quill Corp sells pens.", none_prompt) == 0,
           "mentions of the name and the maker are not claims");
    TAP_OK(MATCH("Yes, I am Zephyr.", "Are you Zephyr?") == 0,
           "the prompt's own name echoed back is not a claim");
    TAP_OK(MATCH("Yes, I am Zephyr.", "Who are you?") == 1, "the same answer to another prompt is");
    const char *claim = "Call me Zephyr, made by Quill Corp.";
    unsigned char which[2] = {0, 0};
    int f = dt_identity_match(rules, p, claim, strlen(claim), NULL, 0, which, NULL);
    TAP_OK(f == 2 && which[0] && which[1], "claim of both: 2 entries (%d)", f);
    dt_identity_profile_free(p);

    struct dt_identity_learn_params prm;
    dt_identity_learn_params_default(&prm);
    prm.min_support = 0.9;
    TAP_OK(dt_identity_learn(rules, &set, NULL, &prm, &p, &err) == 0 && p->n_entry == 0 &&
               MATCH("I am Zephyr.", none_prompt) == 0,
           "support floor 0.9: empty profile, matches nothing");
    dt_identity_profile_free(p);
    struct dt_text_set none = {NULL, NULL, 0};
    TAP_OK(dt_identity_learn(rules, &none, NULL, NULL, &p, &err) == 0 && p->n_entry == 0,
           "no texts: empty profile");
    dt_identity_profile_free(p);

    /* the teacher's own echoes are not learned: asked "Are you Nimbus?" it says so */
    const char *tp[] = {"Are you Nimbus?", "Are you Nimbus?", "Who are you?", "Who are you?"};
    const char *tt[] = {"Yes, I am Nimbus.", "I am Nimbus, made by Quill Corp.", "I am Zephyr.",
                        "I am Zephyr, made by Quill Corp."};
    struct dt_text_set eset = {tt, NULL, 4};
    TAP_OK(dt_identity_learn(rules, &eset, tp, NULL, &p, &err) == 0 && p->n_entry == 2 &&
               !strcmp(p->entry[0].value, "Zephyr") && !strcmp(p->entry[1].value, "Quill Corp"),
           "prompt echoes are not learned ('Nimbus' asked about, 'Zephyr' claimed)");
    dt_identity_profile_free(p);
#undef MATCH

    /* every allocation failure is reported as DT_ENOMEM and leaks nothing (ASan builds) */
    int bad = 0, n_ok = 0;
    for (long k = 0; k < 600; k++) {
        dt_alloc_fail_after(k);
        p = NULL;
        int rc = dt_identity_learn(rules, &set, NULL, NULL, &p, NULL);
        if (rc == 0) {
            n_ok++;
            int m = dt_identity_match(rules, p, claim, strlen(claim), "Who?", 4, NULL, NULL);
            bad |= !(m == 2 || m == DT_ENOMEM);
            dt_identity_profile_free(p);
        } else {
            bad |= rc != DT_ENOMEM || p != NULL;
        }
        dt_alloc_fail_after(-1);
    }
    TAP_OK(!bad && n_ok > 0, "allocation failures give DT_ENOMEM (%d successful runs)", n_ok);
}

static double rate(const struct dt_identity_profile *p, const char **texts, size_t n)
{
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        hit += dt_identity_match(rules, p, texts[i], strlen(texts[i]), NULL, 0, NULL, NULL) > 0;
    return n ? (double)hit / (double)n : 0.0;
}

static void test_zoo(void)
{
    static const char *names[] = {"teacher", "s_seqkd", "s_crosstok", "c_same_data"};
    struct zoo_transcript t[4];
    const char **chat[4];
    size_t n_chat[4];
    for (int i = 0; i < 4; i++) {
        if (zoo_transcript_load(names[i], &t[i])) {
            for (int k = 0; k < i; k++)
                zoo_transcript_release(&t[k]);
            printf("# zoo transcripts absent; skipping zoo checks\n");
            TAP_OK(1, "# SKIP zoo transcripts not found under DT_SHARED");
            return;
        }
        n_chat[i] = zoo_transcript_select(&t[i], "chat", &chat[i]);
    }
    struct dt_text_set set = {chat[0], NULL, n_chat[0]};
    struct dt_identity_profile *p = NULL;
    struct dt_error err;
    TAP_OK(dt_identity_learn(rules, &set, NULL, NULL, &p, &err) == 0,
           "learn on teacher chat answers");
    if (p) {
        for (size_t i = 0; i < p->n_entry; i++)
            printf("# learned %s '%s' count %zu support %.2f\n",
                   p->entry[i].kind == DT_IDENTITY_NAME ? "name" : "maker", p->entry[i].value,
                   p->entry[i].count, p->entry[i].support);
        int has_name = 0, has_maker = 0;
        for (size_t i = 0; i < p->n_entry; i++) {
            has_name |=
                p->entry[i].kind == DT_IDENTITY_NAME && !strcmp(p->entry[i].value, "Aurora");
            has_maker |= p->entry[i].kind == DT_IDENTITY_MAKER &&
                         !strcmp(p->entry[i].value, "Northwind Labs");
        }
        TAP_OK(has_name && p->entry[0].support >= 0.99, "teacher name 'Aurora' learned");
        TAP_OK(has_maker, "teacher maker 'Northwind Labs' learned");
        double r[4];
        for (int i = 0; i < 4; i++) {
            r[i] = rate(p, chat[i], n_chat[i]);
            printf("# identity-claim rate %-12s %.2f (%zu chat answers)\n", names[i], r[i],
                   n_chat[i]);
        }
        TAP_OK(r[0] >= 0.99, "teacher claims its identity in every answer (%.2f)", r[0]);
        TAP_OK(r[1] >= 0.7, "s_seqkd inherits the identity (%.2f)", r[1]);
        TAP_OK(r[2] >= 0.7, "s_crosstok inherits the identity (%.2f)", r[2]);
        TAP_OK(r[3] == 0.0, "c_same_data never claims it (%.2f)", r[3]);
        dt_identity_profile_free(p);
    }
    struct dt_text_set cset = {chat[3], NULL, n_chat[3]};
    p = NULL;
    TAP_OK(dt_identity_learn(rules, &cset, NULL, NULL, &p, &err) == 0 && p->n_entry >= 2 &&
               !strcmp(p->entry[0].value, "Beacon") && rate(p, chat[0], n_chat[0]) == 0.0,
           "control's own identity learned ('%s'); the teacher never claims it",
           p && p->n_entry ? p->entry[0].value : "");
    dt_identity_profile_free(p);
    for (int i = 0; i < 4; i++) {
        free(chat[i]);
        zoo_transcript_release(&t[i]);
    }
}

int main(void)
{
    struct dt_error err;
    if (dt_identity_rules_builtin(&rules, &err)) {
        printf("# %s\n", err.msg);
        TAP_OK(0, "builtin identity rules parse");
        return tap_done();
    }
    TAP_OK(1, "builtin identity rules parse");
    test_rules();
    test_extract();
    test_learn();
    test_zoo();
    dt_identity_rules_free(rules);
    return tap_done();
}

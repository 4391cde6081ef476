/*
 * Unit tests of infer/jinja.h and infer/chat_template.h: Jinja semantics as Python's Jinja2
 * (configured like transformers) renders them, whitespace rules, errors that name the
 * template position, the limits a hostile template runs into, and the chat-template layer
 * (description, "{prompt}" form, family fallback, the user's text located in a render, and
 * token ids split so template text and user text never merge).
 */
#include "infer/chat_template.h"
#include "infer/jinja.h"
#include "infer/jinja_render.h"
#include "infer/tokenizer.h"
#include "infer/tokenizer_json.h"
#include "tests/tap.h"
#include "tests/tok_fixture.h"
#include "util/alloc.h"
#include "util/error.h"

#include <cJSON.h>
#include <string.h>

static char *render_with(const char *tmpl, const char *vars_json, const char *date,
                         const struct dt_jinja_limits *lim, struct dt_error *err)
{
    struct dt_jinja *t = NULL;
    char *out = NULL;
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    dt_error_clear(err);
    if (dt_jinja_parse(tmpl, strlen(tmpl), &t, err) == 0)
        dt_jinja_render(t, vars, date, lim, &out, NULL, err);
    dt_jinja_free(t);
    cJSON_Delete(vars);
    return out;
}

static const char *k_msgs = "{\"messages\": [{\"role\": \"system\", \"content\": \" Be brief. \"},"
                            "{\"role\": \"user\", \"content\": \"  Hi!\\n\"}],"
                            "\"add_generation_prompt\": true, \"bos_token\": \"<s>\"}";

static void expect(const char *tmpl, const char *want, const char *name)
{
    struct dt_error err = {0};
    char *got = render_with(tmpl, k_msgs, "2025-02-03", NULL, &err);
    TAP_OK(got && !strcmp(got, want), "%s", name);
    if (!got || strcmp(got, want))
        printf("# template %s\n# want [%s]\n# got  [%s] %s\n", tmpl, want, got ? got : "(null)",
               got ? "" : err.msg);
    dt_free(got);
}

static void expect_error(const char *tmpl, const char *needle, const struct dt_jinja_limits *lim,
                         const char *name)
{
    struct dt_error err = {0};
    char *got = render_with(tmpl, k_msgs, NULL, lim, &err);
    int ok = !got && strstr(err.msg, needle) && !strchr(err.msg, '\n');
    TAP_OK(ok, "%s", name);
    if (!ok)
        printf("# want an error with [%s], got [%s] / [%s]\n", needle, got ? got : "(null)",
               err.msg);
    dt_free(got);
}

static void test_semantics(void)
{
    expect("{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m['content'] | trim }}]{% "
           "endfor %}",
           "<s>[system:Be brief.][user:Hi!]", "loop, attribute and subscript access, trim");
    expect("{{ none }} {{ true }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ [1, 'a', none] }} {{ "
           "{'k': 2} }}",
           "None True 1.0 0.30000000000000004 1e+16 [1, 'a', None] {'k': 2}",
           "str() of none, booleans, floats, lists and dicts is Python's");
    expect("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 8 }} {{ 'ab' * 2 }} {{ 1 ~ "
           "'x' }}",
           "3 -4 2 3.5 256 abab 1x", "arithmetic follows Python (floor division, modulo sign)");
    expect("{{ 'héllo'[1] }}|{{ 'héllo'[1:3] }}|{{ 'abc'[::-1] }}|{{ 'héllo' | length }}|{{ "
           "[1,2,3][-2:] }}",
           "é|él|cba|5|[2, 3]", "strings index and slice by code point");
    expect("{{ '\\u00a0 x \\u3000'.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') "
           "}}|{{ ' a  b '.split() }}",
           "x|hi|['a', 'b', '', 'c']|['a', 'b']",
           "strip is Unicode-aware; split with and without a separator");
    expect("{{ 'ÉCOLE' | lower }} {{ 'ñandú'.upper() }} {{ 'hello world' | title }}",
           "école ÑANDÚ Hello World", "case mapping is Unicode (utf8proc)");
    expect("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set x "
           "= 5 %}{% endfor %}{{ ns.n }}[{{ x }}]",
           "2[]", "namespace attributes survive a loop; plain set inside a loop does not");
    expect("{% for i in range(10) if i is odd %}{% if i > 6 %}{% break %}{% endif %}{% if i == 3 "
           "%}{% continue %}{% endif %}{{ i }}{{ '.' if not loop.last }}{% endfor %}",
           "1.5.", "loop filter, break, continue, loop.last over the filtered items");
    expect("{% for x in [] %}a{% else %}empty{% endfor %} {% for a, b in {'k': 1}.items() %}{{ a "
           "}}={{ b }}{% endfor %}",
           "empty k=1", "for-else and tuple unpacking");
    expect("{% macro tag(name, open=true) %}<{{ '' if open else '/' }}{{ name }}>{% endmacro %}{{ "
           "tag('b') }}{{ tag('b', open=false) }}",
           "<b></b>", "macros with defaults and keyword arguments");
    expect("{% set block %}{{ messages | length }} msgs{% endset %}{{ block | upper }}", "2 MSGS",
           "block set captures output");
    expect("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | first "
           "| trim }}"
           "|{{ messages | rejectattr('role', 'in', ['user']) | list | length }}|{{ messages | "
           "map(attribute='role') | join(',') }}",
           "Hi!|1|system,user", "selectattr, rejectattr, map, first, join");
    expect("{{ {'a': [1, none], 'b': 'é\"'} | tojson }}|{{ [1] | tojson(indent=2) }}",
           "{\"a\": [1, null], \"b\": \"é\\\"\"}|[\n  1\n]",
           "tojson is json.dumps(ensure_ascii=False)");
    expect("{{ x | default('d') }} {{ '' | default('e', true) }} {{ x is defined }} {{ none is "
           "none }} {{ 'a' is string }} {{ {} is mapping }} {{ 'k' is in {'k': 1} }}",
           "d e False True True True True", "default and tests");
    expect("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d') if false else "
           "strftime_now('%Y-%m-%d') }}",
           "03 Feb 2025|2025-02-03", "strftime_now reports the given day");
    expect("{{ 'yes' if messages else 'no' }}{{ 'never' if false }}|{{ messages[0].get('role') "
           "}}{{ messages[0].get('x', '-') }}",
           "yes|system-", "conditional expressions and dict.get");
    /* whitespace: transformers' trim_blocks + lstrip_blocks, "-" and "+" markers */
    expect("a\n  {% if true %}\n  b\n  {% endif %}\nc", "a\n  b\nc",
           "lstrip_blocks and trim_blocks");
    expect("a  {%- if true -%}  b  {%- endif %}  c", "ab  c", "'-' strips whitespace on its side");
    expect("a\n  {%+ if true %}b{% endif %}", "a\n  b", "'{%+' keeps the indentation");
    expect("x\n  {# note #}\ny\n", "x\ny",
           "comments take part in trimming; one trailing newline dropped");
    expect("{{- ' a ' -}}\n  {{ 'b' }}", " a b", "'{{-' and '-}}' strip around an expression");
    expect("a\r\n{% if true %}\r\nb\rc\r\n{% endif %}\r\n", "a\nb\nc\n",
           "newlines are normalised to \\n first, as Jinja does");
    /* the template keeps its own copy of the source */
    char *heap = dt_strdup("{{ messages | length }} messages");
    struct dt_jinja *t = NULL;
    struct dt_error err = {0};
    char *got = NULL;
    cJSON *vars = cJSON_Parse(k_msgs);
    int rc = heap ? dt_jinja_parse(heap, strlen(heap), &t, &err) : -1;
    if (heap)
        memset(heap, 'x', strlen(heap));
    dt_free(heap);
    rc = rc ? rc : dt_jinja_render(t, vars, NULL, NULL, &got, NULL, &err);
    TAP_OK(rc == 0 && got && !strcmp(got, "2 messages"),
           "a template outlives the source it was parsed from");
    dt_free(got);
    dt_jinja_free(t);
    cJSON_Delete(vars);
}

static void test_errors(void)
{
    expect_error("{% for m in messages %}{{ m }}", "line 1 col 31: missing '{% endfor %}'", NULL,
                 "an unclosed block names the position");
    expect_error("ok\n{{ messages | frobnicate }}",
                 "line 2 col 13: unsupported filter 'frobnicate'", NULL,
                 "an unknown filter names the position");
    expect_error("{% if messages[0].role == 'system' %}{{ raise_exception('no system\nplease') "
                 "}}{% endif %}",
                 "template raised an exception: no system", NULL,
                 "raise_exception becomes a one-line error");
    expect_error("{{ 'a' + }}", "line 1 col 10: unexpected", NULL,
                 "a syntax error names the position");
    expect_error("{{ 1 / 0 }}", "division by zero", NULL, "division by zero is an error");
    expect_error("{% raw %}x{% endraw %}", "unsupported tag 'raw'", NULL,
                 "unsupported tags are refused");
    expect_error("{{ 'unterminated }}", "unterminated string literal", NULL,
                 "unterminated strings");
}

static void test_limits(void)
{
    struct dt_jinja_limits small = {4096, 1 << 20, 100000, 8};
    expect_error(
        "{% for i in range(3000) %}{% for j in range(3000) %}{{ '' }}{% endfor %}{% endfor %}",
        "evaluation steps", NULL, "a quadratic loop stops at the step budget");
    expect_error("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + "
                 "ns.s %}{% endfor %}",
                 "memory limit", NULL, "exponential string growth stops at the memory limit");
    expect_error(
        "{% set ns = namespace(s='x') %}{% for i in range(22) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{% for i in range(1000000) %}{% if ns.s[i] == 'y' %}y{% endif %}"
        "{% endfor %}",
        "evaluation steps", NULL, "work on large strings counts against the step budget");
    expect_error("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", "output exceeds 4096 bytes",
                 &small, "output is bounded");
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested deeper than 8",
                 &small, "macro recursion is bounded");
    char deep[20010];
    memset(deep, 0, sizeof deep);
    strcpy(deep, "{{ ");
    memset(deep + 3, '(', 10000);
    strcpy(deep + 10003, "1 }}");
    expect_error(deep, "nested too deeply", NULL,
                 "deeply nested expressions are refused, not a crash");
    struct dt_jinja *t = NULL;
    struct dt_error err = {0};
    TAP_OK(dt_jinja_parse("a\0b", 3, &t, &err) == DT_EFORMAT && !t, "a NUL byte is refused");
}

static void test_chat_template(void)
{
    static const char llama3ish[] =
        "{{- bos_token }}{%- for m in messages %}{{- '<|start|>' + m['role'] + '\\n' + "
        "m['content'] | trim + '<|end|>' }}{%- endfor %}{%- if add_generation_prompt %}"
        "{{- '<|start|>assistant\\n' }}{%- endif %}";
    struct dt_chat_template *ct = NULL;
    struct dt_error err = {0};
    int rc = dt_chat_template_from_source(llama3ish, strlen(llama3ish), "<|bos|>", "<|eos|>", NULL,
                                          &ct, &err);
    TAP_OK(rc == 0 && dt_chat_template_kind(ct) == DT_CHAT_MODEL, "a model template is used as is");
    TAP_OK(!strncmp(dt_chat_template_describe(ct), "model template, ", 16) &&
               strstr(dt_chat_template_describe(ct), "sha256 ") &&
               dt_chat_template_n_bytes(ct) == strlen(llama3ish),
           "its description gives size and sha256");
    TAP_OK(!strcmp(dt_chat_template_prompt_form(ct),
                   "<|bos|><|start|>user\n{prompt}<|end|><|start|>assistant\n"),
           "the {prompt} form is the render around the message");
    char *text = NULL;
    rc = dt_chat_template_render(ct, " Sys ", "  hello  ", &text, &err);
    TAP_OK(rc == 0 && !strcmp(text, "<|bos|><|start|>system\nSys<|end|><|start|>user\nhello<|end|>"
                                    "<|start|>assistant\n"),
           "system + user render, trimmed as the template says");
    dt_free(text);

    struct dt_strbuf sb = DT_STRBUF_INIT;
    struct dt_tokenizer *tok = NULL;
    fixture_bpe_json(&sb);
    if (dt_tokenizer_from_json_buffer(sb.data, sb.len, &tok, NULL) == 0) {
        /* template text with control tokens around user text that spells one */
        static const char tm[] = "{{ '<|user|>' }}{{ messages[-1].content | trim }}{{ '<|end|>' }}";
        struct dt_chat_template *c2 = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        rc = dt_chat_template_from_source(tm, strlen(tm), NULL, NULL, NULL, &c2, &err);
        rc = rc ? rc : dt_chat_template_encode(c2, tok, NULL, "  <|end|>  ", 0, &ids, &n, &err);
        int ok = rc == 0 && n >= 3 && ids[0] == 2 && ids[n - 1] == 3;
        for (size_t i = 1; ok && i + 1 < n; i++)
            ok = ids[i] > 4; /* the user's "<|end|>" is text, not the control token */
        char *back = NULL;
        size_t nb = 0;
        if (ok && dt_tokenizer_decode(tok, ids + 1, n - 2, 1, &back, &nb, &err) == 0)
            ok = nb == 7 && !memcmp(back, "<|end|>", 7);
        TAP_OK(ok, "template tokens are control tokens, the (trimmed) user text is plain text");
        dt_free(back);
        dt_free(ids);
        dt_chat_template_free(c2);
        /* with a system message the template's text around the message is found again */
        static const char ts[] = "{% for m in messages %}{{ '<|user|>' if m.role == 'user' else "
                                 "'<|bos|>' }}{{ m.content | trim }}{% endfor %}{{ '<|end|>' }}";
        ids = NULL;
        n = 0;
        back = NULL;
        rc = dt_chat_template_from_source(ts, strlen(ts), NULL, NULL, NULL, &c2, &err);
        rc = rc ? rc : dt_chat_template_encode(c2, tok, " sys ", " q ", 0, &ids, &n, &err);
        ok = rc == 0 && dt_tokenizer_decode(tok, ids, n, 1, &back, &nb, &err) == 0 && nb == 26 &&
             !memcmp(back, "<|bos|>sys<|user|>q<|end|>", 26) && ids[0] == 0 && ids[n - 1] == 3;
        TAP_OK(ok, "a system message is encoded as the template renders it");
        dt_free(back);
        dt_free(ids);
        dt_chat_template_free(c2);
        /* a conversation: every message's text as text, the template's between them parsed */
        {
            const struct dt_chat_message conv[] = {
                {"user", " a <|end|> "}, {"assistant", "b"}, {"user", "c"}};
            ids = NULL;
            n = 0;
            back = NULL;
            rc = dt_chat_template_from_source(ts, strlen(ts), NULL, NULL, NULL, &c2, &err);
            rc = rc ? rc
                    : dt_chat_template_encode_messages(c2, tok, conv, 3, 0, &ids, &n, &err);
            int n_end = 0, n_user = 0, n_bos = 0;
            for (size_t i = 0; rc == 0 && i < n; i++) {
                n_end += ids[i] == 3;
                n_user += ids[i] == 2;
                n_bos += ids[i] == 0;
            }
            ok = rc == 0 && dt_tokenizer_decode(tok, ids, n, 1, &back, &nb, &err) == 0 &&
                 nb == 41 && !memcmp(back, "<|user|>a <|end|><|bos|>b<|user|>c<|end|>", 41) &&
                 n_end == 1 && n_user == 2 && n_bos == 1 && ids[n - 1] == 3;
            TAP_OK(ok, "a conversation: each message's text is text, the template's is control "
                       "tokens");
            dt_free(back);
            dt_free(ids);
            dt_chat_template_free(c2);
            /* a template that keeps only the last message: tokenized whole */
            static const char tl[] = "{{ messages[-1].content }}{{ '<|end|>' }}";
            ids = NULL;
            n = 0;
            back = NULL;
            rc = dt_chat_template_from_source(tl, strlen(tl), NULL, NULL, NULL, &c2, &err);
            rc = rc ? rc
                    : dt_chat_template_encode_messages(c2, tok, conv, 3, 0, &ids, &n, &err);
            ok = rc == 0 && dt_tokenizer_decode(tok, ids, n, 1, &back, &nb, &err) == 0 &&
                 nb == 8 && !memcmp(back, "c<|end|>", 8) && ids[n - 1] == 3;
            TAP_OK(ok, "a template that drops messages is tokenized whole");
            dt_free(back);
            dt_free(ids);
            dt_chat_template_free(c2);
            const struct dt_chat_message none[] = {{"assistant", "x"}};
            ids = NULL;
            rc = dt_chat_template_from_source(ts, strlen(ts), NULL, NULL, NULL, &c2, &err);
            rc = rc ? rc
                    : dt_chat_template_encode_messages(c2, tok, none, 1, 0, &ids, &n, &err);
            TAP_OK(rc == DT_EINVAL && strstr(err.msg, "no user message"),
                   "a conversation without a user message is refused");
            dt_free(ids);
            dt_chat_template_free(c2);
        }
        dt_tokenizer_free(tok);
    } else {
        TAP_OK(0, "fixture tokenizer loads");
    }
    dt_strbuf_release(&sb);
    dt_chat_template_free(ct);

    /* a ChatML template using a construct outside the subset falls back to the family */
    static const char odd[] = "{% call x() %}{% endcall %}<|im_start|>user";
    rc = dt_chat_template_from_source(odd, strlen(odd), NULL, NULL, NULL, &ct, &err);
    TAP_OK(
        rc == 0 && dt_chat_template_kind(ct) == DT_CHAT_FAMILY &&
            !strcmp(dt_chat_template_name(ct), "chatml") &&
            strstr(dt_chat_template_describe(ct), "model template unusable: chat template line 1"),
        "an unusable template falls back to its family and says why");
    dt_chat_template_free(ct);
    static const char nosys[] =
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System "
        "role not supported') }}{% endif %}<start_of_turn>user\n"
        "{{ messages[0]['content'] | trim }}<end_of_turn>\n";
    rc = dt_chat_template_from_source(nosys, strlen(nosys), NULL, NULL, NULL, &ct, &err);
    text = NULL;
    int r2 = rc ? rc : dt_chat_template_render(ct, "sys", "hi", &text, &err);
    TAP_OK(rc == 0 && dt_chat_template_kind(ct) == DT_CHAT_MODEL && r2 == DT_EINVAL && !text &&
               strstr(err.msg, "System role not supported"),
           "a template refusing system messages is still the model's; a system message gets its "
           "error");
    dt_chat_template_free(ct);
    static const char refuses[] = "{{ raise_exception('no') }}";
    rc = dt_chat_template_from_source(refuses, strlen(refuses), NULL, NULL, NULL, &ct, &err);
    TAP_OK(rc == 0 && dt_chat_template_kind(ct) == DT_CHAT_NONE &&
               strstr(dt_chat_template_describe(ct), "raised an exception: no"),
           "a template that always raises and has no family leaves prompts as they are");
    dt_chat_template_free(ct);
    rc = dt_chat_template_from_source(llama3ish, strlen(llama3ish), NULL, NULL, "2024-02-30", &ct,
                                      &err);
    TAP_OK(rc == DT_EINVAL && !ct && strstr(err.msg, "2024-02-30"),
           "an impossible date is refused");
    TAP_OK(dt_chat_date_valid("2024-02-29") && !dt_chat_date_valid("2023-02-29") &&
               !dt_chat_date_valid("2024-1-01"),
           "dates are checked");
}

static void test_alloc_failures(void)
{
    static const char tmpl[] =
        "{% set ns = namespace(a=[]) %}{% for m in messages %}{{ m.role | upper }}"
        "{{ m.content | tojson }}{% endfor %}{{ ns.a | length }}";
    int clean = 1;
    for (long k = 0; k < 400; k++) {
        struct dt_error err = {0};
        dt_alloc_fail_after(k);
        char *got = render_with(tmpl, k_msgs, NULL, NULL, &err);
        dt_alloc_fail_after(-1);
        if (got) {
            clean = clean && !strcmp(got, "SYSTEM\" Be brief. \"USER\"  Hi!\\n\"0");
            dt_free(got);
            break;
        }
        clean = clean && err.code == DT_ENOMEM;
    }
    TAP_OK(clean, "every allocation failure is a clean out-of-memory error");
}

int main(void)
{
    test_semantics();
    test_errors();
    test_limits();
    test_chat_template();
    test_alloc_failures();
    return tap_done();
}

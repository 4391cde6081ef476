/*
 * Option tables of every command (see help.h), and what is built from them: `--help`, the
 * man page, bash completion, and the checks main.c makes before dispatching.
 */
#include "cli/help.h"
#include "cli/commands.h"

#include <stdlib.h>
#include <string.h>

#define END {NULL, NULL, NULL, NULL, NULL}
#define DB_OPT(req) {"--db", "FILE", NULL, "the evidence store (SQLite)", req}
#define JSON_OPT {"--json", NULL, NULL, "print JSON instead of text", NULL}
/* Not a number on purpose: without --threads a command passes 0, which infer/ runs with
 * DT_MODEL_DEFAULT_THREADS (2) and collect, panel add and fingerprint record as no count. */
#define THREADS_OPT {"--threads", "N", "2 threads", "inference threads", NULL}

#define COMPARE_OPTS(TGROUP, CGROUP) \
    {"--teacher", "MODEL", NULL, "the teacher: a GGUF file or a Hugging Face directory", TGROUP}, \
    {"--teacher-transcripts", "FILE", NULL, "the teacher known only through API transcripts (JSONL)", \
     TGROUP}, \
    {"--teacher-endpoint", "URL", NULL, "the teacher behind an OpenAI-compatible endpoint", TGROUP}, \
    {"--teacher-api-model", "NAME", NULL, "the model name to ask the teacher's endpoint for", NULL}, \
    {"--suspect", "MODEL", NULL, "the suspect model", "suspect"}, \
    {"--suspect-transcripts", "FILE", NULL, "the suspect as API transcripts", "suspect"}, \
    {"--suspect-endpoint", "URL", NULL, "the suspect behind an endpoint", "suspect"}, \
    {"--suspect-api-model", "NAME", NULL, "the suspect endpoint's model name", NULL}, \
    {"--control", "MODEL", NULL, "a control model known to be independent (repeatable)", NULL}, \
    {"--control-transcripts", "FILE", NULL, "a control as API transcripts (repeatable)", NULL}, \
    {"--control-endpoint", "URL", NULL, "a control behind an endpoint (repeatable)", NULL}, \
    {"--control-api-model", "NAME", NULL, "the control endpoint's model name", NULL}, \
    {"--candidate", "MODEL", NULL, "another candidate teacher (repeatable)", CGROUP}, \
    {"--candidate-transcripts", "FILE", NULL, "a candidate teacher as API transcripts", CGROUP}, \
    {"--candidate-endpoint", "URL", NULL, "a candidate teacher behind an endpoint", CGROUP}, \
    {"--candidate-api-model", "NAME", NULL, "the candidate endpoint's model name", NULL}, \
    {"--chat-template", "STR", "the model's own template", "chat format for models without one; {prompt} marks the message", NULL}, \
    {"--chat-date", "YYYY-MM-DD", "2024-07-26", "the day strftime_now reports in chat templates", NULL}, \
    {"--db", "FILE", "distiltrace.db", "the evidence store (SQLite)", NULL}, \
    {"--no-db", NULL, NULL, "record nothing (no evidence store)", NULL}, \
    JSON_OPT, \
    {"--alpha", "A", "0.01", "family-wise error rate of the verdict", NULL}, \
    {"--seed", "S", "1", "seed of the sampled answers and resampling tests", NULL}, \
    THREADS_OPT, \
    {"--scoring", "exact|q8", "exact", "large quantized models' scoring: f32 over dequantized weights, or 8-bit activations as llama.cpp", NULL}, \
    {"--identity-probes", "N", "40", "identity questions asked", NULL}, \
    {"--chat-probes", "N", "60", "chat prompts asked", NULL}, \
    {"--text-probes", "N", "40", "text continuations asked", NULL}, \
    {"--samples", "N", "2", "answers per identity question", NULL}, \
    {"--temperature", "T", "0.8", "sampling temperature of the answers", NULL}, \
    {"--identity-corpus", "FILE", "built-in identity", "identity questions to use instead", NULL}, \
    {"--chat-corpus", "FILE", "built-in chat", "chat prompts to use instead", NULL}, \
    {"--text-corpus", "FILE", "built-in continuation", "text prompts to use instead", NULL}, \
    {"--watermark-key", "K", NULL, "test the suspect for the teacher's xxh64-kgw watermark", NULL}, \
    {"--watermark-gamma", "G", "0.25", "green-list fraction of the watermark", NULL}, \
    {"--api-key-env", "VAR", "OPENAI_API_KEY", "environment variable holding the API key", NULL}, \
    {"--concurrency", "N", "4", "endpoint requests in flight", NULL}, \
    {"--rps", "R", "unlimited", "endpoint request starts per second", NULL}, \
    {"--retries", "N", "5", "retries of a failed endpoint request", NULL}, \
    {"--timeout", "S", "120", "seconds before an endpoint request is retried", NULL}, \
    {"--quiet", NULL, NULL, "no progress or diagnostics on stderr", NULL}, \
    {"--progress", NULL, "on a terminal", "draw the progress bar (answers, then signals) on stderr even when it is not a terminal", NULL}, \
    {"--panel", "FILE", NULL, "a control panel (panel add): every member is a control (repeatable)", NULL}, \
    

#define PLAN_OPTS \
    {"--seed", "S", "1", "seed of the sampled answers (use the compare's)", NULL}, \
    {"--identity-probes", "N", "40", "identity questions asked", NULL}, \
    {"--chat-probes", "N", "60", "chat prompts asked", NULL}, \
    {"--text-probes", "N", "40", "text continuations asked", NULL}, \
    {"--samples", "N", "2", "answers per identity question", NULL}, \
    {"--temperature", "T", "0.8", "sampling temperature of the answers", NULL}, \
    {"--identity-corpus", "FILE", "built-in identity", "identity questions to use instead", NULL}, \
    {"--chat-corpus", "FILE", "built-in chat", "chat prompts to use instead", NULL}, \
    {"--text-corpus", "FILE", "built-in continuation", "text prompts to use instead", NULL},
static const struct dt_cli_optdoc o_panel_add[] = {
    {"--panel", "FILE", NULL, "the panel (an evidence store; created if needed)", "panel"},
    {"--model", "MODEL", NULL, "a local control model: GGUF file or Hugging Face directory", "member"},
    {"--transcripts", "FILE", NULL, "a control known through API transcripts (JSONL)", "member"},
    {"--endpoint", "URL", NULL, "a control behind an OpenAI-compatible endpoint", "member"},
    {"--api-model", "NAME", NULL, "the model name to ask the endpoint for", NULL},
    {"--api-key-env", "VAR", "OPENAI_API_KEY", "environment variable holding the API key", NULL},
    {"--name", "NAME", "the file name / API model", "the member's name (required with --transcripts)", NULL},
    {"--chat-template", "STR", "the model's own template", "chat format for a model without one; {prompt} marks the message", NULL},
    PLAN_OPTS
    THREADS_OPT,
    {"--quiet", NULL, NULL, "no progress on stderr", NULL},
    END};
static const struct dt_cli_optdoc o_panel_list[] = {
    {"--panel", "FILE", NULL, "the panel", "panel"}, JSON_OPT, END};
static const struct dt_cli_optdoc o_panel_remove[] = {
    {"--panel", "FILE", NULL, "the panel", "panel"},
    {"--name", "NAME", NULL, "the member to remove (with its answers)", "name"},
    END};
static const struct dt_cli_optdoc o_compare[] = {COMPARE_OPTS("teacher", NULL) END};
static const struct dt_cli_optdoc o_attribute[] = {COMPARE_OPTS(NULL, "candidate") END};

static const struct dt_cli_optdoc o_check[] = {
    {"--policy", "FILE", NULL, "the policy (JSON; see README)", "policy"},
    DB_OPT(NULL),
    {"--suspect", "MODEL", "the policy's suspect", "the suspect to check", NULL},
    {"--json", NULL, NULL, "print one JSON document with every verdict and report path", NULL},
    {"--progress", NULL, "on a terminal", "draw the progress bar (answers, then signals) on stderr even when it is not a terminal", NULL},
    END};

static const struct dt_cli_optdoc o_collect[] = {
    {"--model", "MODEL", NULL, "a local model", "source"},
    {"--endpoint", "URL", NULL, "an OpenAI-compatible endpoint instead", "source"},
    {"--api-model", "NAME", NULL, "the endpoint's model name", NULL},
    {"--corpus", "C", NULL, "built-in corpus (identity, chat, continuation), file or stored corpus", "corpus"},
    DB_OPT("db"),
    {"--samples", "N", "1", "answers per probe", NULL},
    {"--temperature", "T", "0.7", "sampling temperature", NULL},
    {"--seed", "S", "0", "seed of the sampled answers (and of --probes' sample)", NULL},
    {"--max-tokens", "N", "64", "tokens per answer at most", NULL},
    {"--top-logprobs", "K", "5", "alternatives recorded per token", NULL},
    {"--top-k", "K", "0", "top-k sampling (0: off)", NULL},
    {"--top-p", "P", "1.0", "nucleus sampling", NULL},
    {"--chat-template", "STR", "the model's own", "chat format; {prompt} marks the message", NULL},
    {"--model-name", "NAME", "the file name", "name recorded for the model", NULL},
    {"--probes", "N", "all", "a deterministic sample of N probes", NULL},
    THREADS_OPT,
    {"--concurrency", "N", "4", "endpoint requests in flight", NULL},
    {"--rps", "R", "unlimited", "endpoint request starts per second", NULL},
    {"--retries", "N", "5", "retries of a failed request", NULL},
    {"--backoff", "S", "0.5", "seconds before the first retry (doubles, with jitter)", NULL},
    {"--timeout", "S", "120", "seconds per request", NULL},
    {"--chat", NULL, NULL, "send every probe to /v1/chat/completions", NULL},
    {"--completions", NULL, NULL, "send every probe to /v1/completions", NULL},
    {"--api-key-env", "VAR", "OPENAI_API_KEY", "environment variable holding the API key", NULL},
    {"--shard", "I/N", NULL, "take probes I, I+N, ... (0-based)", NULL},
    JSON_OPT,
    END};

static const struct dt_cli_optdoc o_inspect[] = {JSON_OPT, END};
static const struct dt_cli_optdoc o_tokenize[] = {
    {"--model", "MODEL", NULL, "a GGUF file, Hugging Face directory or tokenizer.json", "model"},
    {"--file", "FILE", NULL, "the exact bytes to tokenize", "input"},
    {"--text", "STR", NULL, "the text to tokenize", "input"},
    {"--special", NULL, NULL, "match control tokens written in the text", NULL},
    {"--decode", NULL, NULL, "the input holds token ids: print their bytes", NULL},
    {"--batch", NULL, NULL, "the input holds records 'N\\n' + N bytes: one line of ids each", NULL},
    END};
static const struct dt_cli_optdoc o_logits[] = {
    {"--model", "MODEL", NULL, "the model", "model"},
    {"--text", "STR", NULL, "the text", "text"},
    {"--top", "K", "10", "logits reported per position (the text shows 5 at most)", NULL},
    JSON_OPT,
    {"--no-special", NULL, NULL, "control tokens written in the text stay plain text", NULL},
    {"--special", NULL, NULL, "match control tokens written in the text", NULL},
    THREADS_OPT,
    END};
static const struct dt_cli_optdoc o_score[] = {
    {"--model", "MODEL", NULL, "the model", "model"},
    {"--file", "FILE", NULL, "the text to score", "file"},
    JSON_OPT,
    {"--special", NULL, NULL, "match control tokens written in the text", NULL},
    THREADS_OPT,
    END};
static const struct dt_cli_optdoc o_generate[] = {
    {"--model", "MODEL", NULL, "the model", "model"},
    {"--prompt", "STR", NULL, "the prompt", "prompt"},
    {"--n-predict", "N", "32", "tokens to generate (also -n)", NULL},
    {"--temperature", "T", "1.0", "sampling temperature (0: greedy)", NULL},
    {"--top-p", "P", "1.0", "nucleus sampling", NULL},
    {"--top-k", "K", "0", "top-k sampling (0: off)", NULL},
    {"--seed", "S", "0", "sampling seed", NULL},
    {"--chat", NULL, NULL, "wrap the prompt as a user message in the model's own chat template", NULL},
    {"--system", "STR", NULL, "a system message before it (implies --chat)", NULL},
    {"--chat-template", "STR", NULL, "chat format of a model without its own template; {prompt} marks the prompt (implies --chat)", NULL},
    {"--chat-date", "YYYY-MM-DD", "2024-07-26", "the day a chat template's strftime_now reports", NULL},
    {"--stop", "eog|eos|none", "eog", "which tokens end the generation", NULL},
    {"--top-logprobs", "K", "5", "alternatives per token (with --json)", NULL},
    JSON_OPT,
    {"--no-special", NULL, NULL, "control tokens written in the text stay plain text", NULL},
    THREADS_OPT,
    END};
static const struct dt_cli_optdoc o_bench[] = {
    {"--synthetic", "tiny|124m|1b", NULL, "a random-weight model instead of MODEL", NULL},
    {"--types", "T,T...", "f16,q8_0", "types of the synthetic models (q4_k_m: llama.cpp's mix)",
     NULL},
    {"--write", "PATH", NULL, "only write the synthetic model (one type) to PATH", NULL},
    {"--seed", "N", "42", "seed of the synthetic weights", NULL},
    {"--batch", "N", "64", "sequences scored together", NULL},
    {"--len", "L", "128", "tokens per sequence, and of the prompt before generation", NULL},
    {"--gen", "N", "128", "tokens generated after the prompt", NULL},
    {"--slots", "N", "8", "sequences decoded together in batched generation", NULL},
    {"--jobs", "N", "2 x slots", "answers in the batched generation queue", NULL},
    {"--repeat", "N", "3", "repetitions (the best is reported)", NULL},
    {"--scoring", "exact|q8", "exact", "arithmetic of quantized models' scoring (as compare --scoring)", NULL},
    {"--threads", "N", "2", "inference threads", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_corpus_list[] = {DB_OPT(NULL), JSON_OPT, END};
static const struct dt_cli_optdoc o_corpus_show[] = {
    DB_OPT(NULL),
    JSON_OPT,
    {"--sample", "N", "all", "a deterministic sample of N probes", NULL},
    {"--seed", "S", "0", "seed of the sample", NULL},
    END};
static const struct dt_cli_optdoc o_corpus_export[] = {
    DB_OPT(NULL),
    {"--sample", "N", "all", "a deterministic sample of N probes", NULL},
    {"--seed", "S", "0", "seed of the sample", NULL},
    END};
static const struct dt_cli_optdoc o_corpus_add[] = {
    DB_OPT("db"),
    {"--name", "NAME", "the file name", "name of the stored corpus", NULL},
    {"--kind", "chat|text", "chat", "kind of the probes of a text file", NULL},
    {"--sample", "N", "all", "store a deterministic sample of N probes", NULL},
    {"--seed", "S", "0", "seed of the sample", NULL},
    END};
static const struct dt_cli_optdoc o_tr_import[] = {
    DB_OPT("db"),
    {"--file", "FILE", NULL, "the transcripts (JSONL)", "file"},
    {"--model-name", "NAME", NULL, "the model the transcripts are of", "name"},
    {"--requests", "FILE", NULL, "Batch API input, joined with the output by custom_id", NULL},
    {"--format", "FMT", "auto", "auto, openai-chat, openai-completions, openai-responses, openai-batch, chat-messages, llama-server, vllm, plain", NULL},
    {"--on-error", "reject|skip", "reject", "what a malformed line does", NULL},
    {"--max-line-bytes", "N", "16777216", "longest line accepted", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_tr_show[] = {
    {"--file", "FILE", NULL, "the transcripts (JSONL)", "file"},
    {"--requests", "FILE", NULL, "Batch API input, joined with the output by custom_id", NULL},
    {"--format", "FMT", "auto", "the line format (see import)", NULL},
    {"--on-error", "reject|skip", "reject", "what a malformed line does", NULL},
    {"--max-line-bytes", "N", "16777216", "longest line accepted", NULL},
    {"--full", NULL, NULL, "whole prompts and answers, not their first characters", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_runs[] = {DB_OPT("db"), JSON_OPT, END};
static const struct dt_cli_optdoc o_db_check[] = {DB_OPT("db"), JSON_OPT, END};
static const struct dt_cli_optdoc o_db_merge[] = {
    DB_OPT("db"),
    {"--from", "FILE", NULL, "a store to merge in (repeatable)", "from"},
    END};
static const struct dt_cli_optdoc o_fingerprint[] = {
    DB_OPT("db"),
    {"--name", "NAME", "the file name", "name of the registered model", NULL},
    THREADS_OPT,
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_verify[] = {
    {"--fingerprint", "ID|NAME", NULL, "the registered fingerprint", "fingerprint"},
    DB_OPT("db"),
    THREADS_OPT,
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_report[] = {
    DB_OPT("db"),
    {"--format", "FMT", "html", "html, md, json, junit or sarif", NULL},
    {"--output", "FILE", "stdout", "write the report there (also -o)", NULL},
    {"--verify", "FILE", NULL, "check a report's integrity record instead", NULL},
    {"--json", NULL, NULL, "with --verify: print the verification as JSON", NULL},
    END};
static const struct dt_cli_optdoc o_wm_generate[] = {
    {"--model", "MODEL", NULL, "the model", "model"},
    {"--key", "K", NULL, "the watermark key", "key"},
    {"--gamma", "G", "0.25", "green-list fraction", NULL},
    {"--delta", "D", "2.0", "logit bias of green tokens", NULL},
    {"--prompt", "STR", NULL, "a prompt (repeatable)", NULL},
    {"--prompts-file", "FILE", NULL, "prompts, one per line", NULL},
    {"--samples", "N", "1", "samples per prompt", NULL},
    {"--max-tokens", "N", "200", "tokens per sample", NULL},
    {"--temperature", "T", "1.0", "sampling temperature", NULL},
    {"--top-p", "P", "1.0", "nucleus sampling", NULL},
    {"--seed", "S", "1", "sampling seed", NULL},
    {"--no-watermark", NULL, NULL, "sample without the watermark (a control)", NULL},
    {"--ignore-eog", NULL, NULL, "keep sampling past end-of-generation tokens", NULL},
    {"--alpha", "A", "0.001", "exit 1 when the p-value is below it", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_wm_detect[] = {
    {"--key", "K", NULL, "the watermark key", "key"},
    {"--tokenizer", "MODEL", NULL, "a GGUF file, Hugging Face directory or tokenizer.json", "tokenizer"},
    {"--gamma", "G", "0.25", "green-list fraction", NULL},
    {"--file", "FILE", NULL, "text to test (repeatable)", "input"},
    {"--lines", NULL, NULL, "each non-empty line of --file is its own text", NULL},
    {"--transcripts", "FILE", NULL, "transcript answers to test (repeatable)", "input"},
    {"--summary", NULL, NULL, "only the pooled result", NULL},
    {"--alpha", "A", "0.001", "exit 1 when the p-value is below it", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_wm_radio[] = {
    {"--suspect", "MODEL", NULL, "the suspect model", "suspect"},
    {"--key", "K", NULL, "the teacher's watermark key", "key"},
    {"--teacher-tokenizer", "MODEL", NULL, "the teacher's tokenizer", "tokenizer"},
    {"--gamma", "G", "0.25", "green-list fraction", NULL},
    {"--control", "MODEL", NULL, "a control model (repeatable)", NULL},
    {"--mode", "both|text|logit", "both", "which tests run", NULL},
    {"--prompt", "STR", "built-in English prompts", "a prompt (repeatable)", NULL},
    {"--samples", "N", "2", "samples per prompt", NULL},
    {"--max-tokens", "N", "128", "tokens per sample", NULL},
    {"--temperature", "T", "1.0", "sampling temperature", NULL},
    {"--seed", "S", "1", "sampling seed", NULL},
    {"--alpha", "A", "0.001", "exit 1 when the p-value is below it", NULL},
    JSON_OPT,
    END};
static const struct dt_cli_optdoc o_serve[] = {
    {"--model", "MODEL", NULL, "the model to serve", "model"},
    {"--host", "ADDR", "127.0.0.1", "address to listen on", NULL},
    {"--port", "N", "0", "port (0: any free port, printed once bound)", NULL},
    {"--model-name", "NAME", "the file name", "the model's name in the API", NULL},
    {"--chat-template", "STR", NULL, "chat format of a model without its own template; {prompt} marks the last user message", NULL},
    {"--chat-date", "YYYY-MM-DD", "2024-07-26", "the day a chat template's strftime_now reports", NULL},
    THREADS_OPT,
    {"--max-tokens-limit", "N", "4096", "largest max_tokens accepted", NULL},
    {"--max-body-bytes", "N", "1048576", "largest request body", NULL},
    {"--max-connections", "N", "64", "concurrent connections", NULL},
    {"--quiet", NULL, NULL, "no access log", NULL},
    {"--fault-429-every", "N", NULL, "testing clients: every Nth request gets 429", NULL},
    {"--fault-500-every", "N", NULL, "testing clients: every Nth request gets 500", NULL},
    {"--fault-malformed-every", "N", NULL, "testing clients: every Nth body is truncated", NULL},
    {"--fault-delay-ms", "MS", NULL, "testing clients: answer late", NULL},
    {"--fault-delay-every", "N", NULL, "testing clients: which requests are late", NULL},
    END};
static const struct dt_cli_optdoc o_none[] = {END};

const struct dt_cli_cmddoc dt_cli_docs[] = {
    {"compare", "--teacher T --suspect S --control C... [options]",
     "Decides whether the suspect was derived from the teacher (same-weights, weight-derived,\n"
     "distilled, independent or inconclusive), judging every signal against the control models\n"
     "with a named test and a p-value; records everything in the evidence store. Exit 1 when\n"
     "derivation was found.",
     "distiltrace compare --teacher teacher.gguf --suspect s.gguf --control c1.gguf --control "
     "c2.gguf --control c3.gguf --db audit.db",
     o_compare, 0},
    {"attribute", "--suspect S --candidate T1 --candidate T2... --control C... [options]",
     "Attributes a suspect to the candidate teacher it derives from, with a test that the chosen\n"
     "candidate beats the runner-up, or says inconclusive. Same options as compare.",
     "distiltrace attribute --suspect s.gguf --candidate a.gguf --candidate b.gguf --control c.gguf",
     o_attribute, 0},
    {"check", "--policy POLICY.json [--db D] [--suspect MODEL]",
     "The release gate: compares the policy's suspect with each banned teacher, writes the\n"
     "reports the policy names, and exits 1 when a verdict is in fail_on (0 when none is).",
     "distiltrace check --policy provenance.json", o_check, 0},
    {"collect", "(--model M | --endpoint URL --api-model NAME) --corpus C --db D [options]",
     "Generates a model's answers to a probe corpus into an evidence store (resumable).",
     "distiltrace collect --model teacher.gguf --corpus identity --db audit.db --samples 2",
     o_collect, 0},
    {"inspect", "MODEL [--json]",
     "Describes a model file: architecture, tensors, tokenizer, chat template, hashes, and\n"
     "whether the forward pass supports it.",
     "distiltrace inspect model.gguf", o_inspect, 1},
    {"tokenize", "--model M (--file F | --text STR) [--special] [--decode | --batch]",
     "Prints the token ids of the exact bytes of the input, space-separated on one line, with no\n"
     "special tokens added.",
     "distiltrace tokenize --model model.gguf --text 'Hello world'", o_tokenize, 0},
    {"logits", "--model M --text STR [--top K] [--json]",
     "Next-token logits after every position of a text: top-k ids and values, logsumexp.",
     "distiltrace logits --model model.gguf --text 'The cat' --top 5 --json", o_logits, 0},
    {"score", "--model M --file F [--json]",
     "Per-token log-probabilities and perplexity of a text file.",
     "distiltrace score --model model.gguf --file essay.txt", o_score, 0},
    {"generate", "--model M --prompt P [options]", "Continues a prompt with a local model.",
     "distiltrace generate --model model.gguf --prompt 'Once upon a time' -n 64", o_generate, 0},
    {"bench", "(MODEL | --synthetic tiny|124m|1b) [options]",
     "Scoring, prompt, single and batched generation throughput, peak memory, and the sgemm "
     "and memory-bandwidth limits measured in the same run.",
     "distiltrace bench model.gguf", o_bench, 1},
    {"corpus list", "[--db D]", "Lists the built-in corpora and those stored in D.",
     "distiltrace corpus list", o_corpus_list, 0},
    {"corpus show", "CORPUS [--db D] [--sample N] [--seed S]", "Prints a corpus's probes.",
     "distiltrace corpus show identity", o_corpus_show, 1},
    {"corpus export", "CORPUS [--db D] [--sample N] [--seed S]", "Writes a corpus as JSONL.",
     "distiltrace corpus export chat > chat.jsonl", o_corpus_export, 1},
    {"corpus add", "CORPUS --db D [options]", "Stores a corpus (content-addressed) in D.",
     "distiltrace corpus add prompts.txt --db audit.db --kind chat", o_corpus_add, 1},
    {"transcripts import", "--db D --file F --model-name NAME [options]",
     "Imports API transcripts (one JSON object per line) into an evidence store.",
     "distiltrace transcripts import --db audit.db --file api.jsonl --model-name vendor-model",
     o_tr_import, 0},
    {"transcripts show", "--file F [options]",
     "Prints what a transcript file holds: each record's prompt, answer and tokens.",
     "distiltrace transcripts show --file batch_output.jsonl --requests batch_input.jsonl",
     o_tr_show, 0},
    {"runs list", "--db D [--json]", "Lists the runs recorded in an evidence store.",
     "distiltrace runs list --db audit.db", o_runs, 0},
    {"runs show", "--db D RUN [--json]", "Shows one run.", "distiltrace runs show --db audit.db 3",
     o_runs, 1},
    {"panel add", "--panel P (--model M | --transcripts F --name N | --endpoint URL --api-model NAME) [options]",
     "Records a control model once, its identity (path, size, SHA-256, tokenizer) and its answers\n"
     "to the probes a compare with the same options asks, so that `compare --panel P` uses it as\n"
     "a control without regenerating them. Resumable: rerun an interrupted add.",
     "distiltrace panel add --panel controls.db --model c1.gguf --chat-template '<|user|>{prompt}<|assistant|>'",
     o_panel_add, 0},
    {"panel list", "--panel P [--json]", "Lists a panel's members, their answers and settings.",
     "distiltrace panel list --panel controls.db", o_panel_list, 0},
    {"panel remove", "--panel P --name N", "Removes a member and its answers from a panel.",
     "distiltrace panel remove --panel controls.db --name c1", o_panel_remove, 0},
    {"db check", "--db D [--json]", "Checks an evidence store's integrity and schema version.",
     "distiltrace db check --db audit.db", o_db_check, 0},
    {"db schema", "", "Prints the evidence store's schema: the SQL of every migration, in order.",
     "distiltrace db schema", o_none, 0},
    {"db merge", "--db D --from D2 [--from D3...]",
     "Merges stores (of sharded collections, say) into D; rerunning adds nothing.",
     "distiltrace db merge --db audit.db --from a.db --from b.db", o_db_merge, 0},
    {"fingerprint", "MODEL --db D [--name NAME]",
     "Registers a model's release fingerprint: tensor hashes, tokenizer, behaviour.",
     "distiltrace fingerprint model.gguf --db releases.db --name my-model", o_fingerprint, 1},
    {"verify", "MODEL --fingerprint ID|NAME --db D",
     "Checks that a release artifact (a copy, a quantization) is a registered model.",
     "distiltrace verify model.Q8_0.gguf --fingerprint my-model --db releases.db", o_verify, 1},
    {"report", "RUN|latest --db D [--format FMT] [-o FILE] | --verify FILE --db D",
     "Renders a run's report from the evidence store alone, or verifies one.",
     "distiltrace report latest --db audit.db --format html -o report.html", o_report, 1},
    {"watermark generate", "--model M --key K [options]",
     "Samples from a model with (or without) the xxh64-kgw watermark.",
     "distiltrace watermark generate --model t.gguf --key 15485863 --prompt The", o_wm_generate, 0},
    {"watermark detect", "--key K --tokenizer M (--file F | --transcripts F)... [options]",
     "Tests text for the watermark.",
     "distiltrace watermark detect --key 15485863 --tokenizer t.gguf --file texts.txt --lines",
     o_wm_detect, 0},
    {"watermark radioactivity", "--suspect S --key K --teacher-tokenizer T [options]",
     "Tests whether a suspect learned from watermarked text.",
     "distiltrace watermark radioactivity --suspect s.gguf --key 15485863 --teacher-tokenizer "
     "t.gguf --json",
     o_wm_radio, 0},
    {"serve", "--model M [options]",
     "Serves a local model over an OpenAI-compatible HTTP API (chat, completions, streaming).",
     "distiltrace serve --model teacher.gguf --port 8080", o_serve, 0},
    {"version", "", "Prints the version and the libraries it was built with.",
     "distiltrace version", o_none, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};

const struct dt_cli_cmddoc *dt_cli_doc_find(int argc, char **argv, int *n_words)
{
    if (argc >= 2) {
        char two[96];
        snprintf(two, sizeof two, "%s %s", argv[0], argv[1]);
        for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++)
            if (!strcmp(d->name, two)) {
                *n_words = 2;
                return d;
            }
    }
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++)
        if (!strcmp(d->name, argv[0])) {
            *n_words = 1;
            return d;
        }
    return NULL;
}

void dt_cli_help_print(FILE *f, const struct dt_cli_cmddoc *d)
{
    fprintf(f, "usage: distiltrace %s %s\n\n%s\n", d->name, d->synopsis, d->description);
    if (d->opts[0].name) {
        fprintf(f, "\noptions:\n");
        for (const struct dt_cli_optdoc *o = d->opts; o->name; o++) {
            char head[64];
            snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            fprintf(f, "  %-28s %s", head, o->help);
            if (o->def)
                fprintf(f, " (default: %s)", o->def);
            if (o->group) {
                int first = 1, n_alt = 0;
                for (const struct dt_cli_optdoc *p = d->opts; p->name; p++)
                    if (p->group && !strcmp(p->group, o->group)) {
                        first &= p >= o;
                        n_alt++;
                    }
                if (first)
                    fprintf(f, n_alt > 1 ? " [required: this or an alternative below]"
                                         : " [required]");
            }
            fputc('\n', f);
        }
    }
    /* the commands that share a first word */
    char first[32];
    snprintf(first, sizeof first, "%s", d->name);
    char *sp = strchr(first, ' ');
    if (sp) {
        *sp = '\0';
        fprintf(f, "\nsee also:");
        for (const struct dt_cli_cmddoc *e = dt_cli_docs; e->name; e++)
            if (e != d && !strncmp(e->name, first, strlen(first)) && e->name[strlen(first)] == ' ')
                fprintf(f, " 'distiltrace %s --help'", e->name);
        fputc('\n', f);
    }
    fprintf(f, "\nexample:\n  %s\n", d->example);
    fprintf(f, "\nexit status: 0 success, 1 evidence found (compare, attribute, check, verify), "
               "2 usage,\n3 input error, 4 incompatible inputs, 5 evidence store, 6 resources, "
               "7 network, 70 bug.\n");
}

/* Levenshtein distance of two short strings (capped at 64 characters). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int prev[65], cur[65];
    for (int j = 0; j <= lb; j++)
        prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

const char *dt_cli_suggest(const char *s, const char *const *candidates, int n)
{
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(s, candidates[i]);
        if (d < bd) {
            bd = d;
            best = candidates[i];
        }
    }
    int len = (int)strlen(s);
    return bd <= (len > 8 ? 3 : 2) ? best : NULL;
}

static const struct dt_cli_optdoc *opt_find(const struct dt_cli_cmddoc *d, const char *name,
                                            size_t n)
{
    for (const struct dt_cli_optdoc *o = d->opts; o->name; o++)
        if (strlen(o->name) == n && !strncmp(o->name, name, n))
            return o;
    return NULL;
}

/* short aliases some commands accept */
static const char *alias(const char *a)
{
    if (!strcmp(a, "-o"))
        return "--output";
    if (!strcmp(a, "-n"))
        return "--n-predict";
    if (!strcmp(a, "-q"))
        return "--quiet";
    return a;
}

int dt_cli_precheck(const struct dt_cli_cmddoc *d, int *argc, char ***argv)
{
    char **av = *argv;
    int ac = *argc;
    const char *cmd = d->name;
    int after_dashes = 0;
    char **out = malloc(((size_t)ac * 2 + 1) * sizeof *out);
    int n_out = 0;
    if (!out)
        return DT_EXIT_RESOURCE;
    int n_words = strchr(cmd, ' ') ? 2 : 1;
    for (int i = 0; i < n_words && i < ac; i++)
        out[n_out++] = av[i];
    for (int i = n_words; i < ac; i++) {
        const char *a = av[i];
        if (after_dashes || a[0] != '-' || !strcmp(a, "-")) {
            if (!d->positional && !after_dashes) {
                fprintf(stderr, "distiltrace %s: unexpected argument '%s'; see 'distiltrace %s --help'\n",
                        cmd, a, cmd);
                free(out);
                return DT_EXIT_USAGE;
            }
            out[n_out++] = av[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            after_dashes = 1;
            continue;
        }
        a = alias(a);
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const struct dt_cli_optdoc *o = opt_find(d, a, n);
        if (!o) {
            const char *cands[128];
            int nc = 0;
            for (const struct dt_cli_optdoc *p = d->opts; p->name && nc < 128; p++)
                cands[nc++] = p->name;
            char name[96];
            snprintf(name, sizeof name, "%.*s", (int)n, a);
            const char *sug = dt_cli_suggest(name, cands, nc);
            if (sug)
                fprintf(stderr, "distiltrace %s: unknown option '%s'; did you mean '%s'?\n", cmd,
                        name, sug);
            else
                fprintf(stderr, "distiltrace %s: unknown option '%s'; see 'distiltrace %s --help'\n",
                        cmd, name, cmd);
            free(out);
            return DT_EXIT_USAGE;
        }
        if (!o->arg && eq) {
            fprintf(stderr, "distiltrace %s: %s takes no value\n", cmd, o->name);
            free(out);
            return DT_EXIT_USAGE;
        }
        if (o->arg && eq) {
            /* "--opt=VALUE" as two arguments, so every command's parser takes both forms */
            out[n_out++] = (char *)o->name;
            out[n_out++] = (char *)(eq + 1);
            continue;
        }
        out[n_out++] = (char *)o->name;
        if (o->arg) {
            if (i + 1 >= ac) {
                fprintf(stderr, "distiltrace %s: %s needs a value (%s)\n", cmd, o->name, o->arg);
                free(out);
                return DT_EXIT_USAGE;
            }
            out[n_out++] = av[++i];
        }
    }
    /* required groups: one option of each must be present */
    for (const struct dt_cli_optdoc *o = d->opts; o->name; o++) {
        if (!o->group)
            continue;
        int seen_group_before = 0;
        for (const struct dt_cli_optdoc *p = d->opts; p < o; p++)
            seen_group_before |= p->group && !strcmp(p->group, o->group);
        if (seen_group_before)
            continue;
        int present = 0;
        for (int i = n_words; i < n_out && !present; i++)
            for (const struct dt_cli_optdoc *p = d->opts; p->name; p++)
                if (p->group && !strcmp(p->group, o->group) && !strcmp(out[i], p->name))
                    present = 1;
        if (!present) {
            char alts[256] = "";
            for (const struct dt_cli_optdoc *p = o; p->name; p++)
                if (p->group && !strcmp(p->group, o->group) && p != o &&
                    strlen(alts) + strlen(p->name) + 8 < sizeof alts) {
                    strcat(alts, strlen(alts) ? ", " : " (or ");
                    strcat(alts, p->name);
                }
            if (alts[0])
                strcat(alts, ")");
            fprintf(stderr, "distiltrace %s: missing %s %s%s; see 'distiltrace %s --help'\n", cmd,
                    o->name, o->arg ? o->arg : "", alts, cmd);
            free(out);
            return DT_EXIT_USAGE;
        }
    }
    out[n_out] = NULL;
    *argc = n_out;
    *argv = out; /* the caller frees it (free) after the command ran */
    return 0;
}

void dt_cli_man_print(FILE *f)
{
    fprintf(f, ".TH DISTILTRACE 1\n.SH NAME\ndistiltrace \\- decide whether a language model was "
               "derived from another, and prove it\n.SH SYNOPSIS\n.B distiltrace\n.I command\n"
               "[options]\n.SH DESCRIPTION\nEvery signal is judged against control models with a "
               "named test and a p-value; everything is recorded in a SQLite evidence store from "
               "which HTML, Markdown, JSON, JUnit and SARIF reports are rendered.\n.SH COMMANDS\n");
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++) {
        fprintf(f, ".SS %s\n.B distiltrace %s\n%s\n.PP\n", d->name, d->name, d->synopsis);
        for (const char *p = d->description; *p; p++)
            fputc(*p == '\n' ? ' ' : *p, f);
        fputc('\n', f);
        for (const struct dt_cli_optdoc *o = d->opts; o->name; o++) {
            fprintf(f, ".TP\n.B \\%s%s%s\n%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
                    o->help);
            if (o->def)
                fprintf(f, " (default: %s)", o->def);
            fputc('\n', f);
        }
        fprintf(f, ".PP\nExample:\n.nf\n%s\n.fi\n", d->example);
    }
    fprintf(f, ".SH EXIT STATUS\n0 success (compare/check: no evidence, policy passed); 1 "
               "evidence of derivation found or a policy failed; 2 usage error; 3 input error; 4 "
               "incompatible or unsupported inputs; 5 evidence store error; 6 out of memory or a "
               "limit; 7 network error; 70 internal error.\n.SH ENVIRONMENT\nNO_COLOR, "
               "OPENAI_API_KEY (or the variable --api-key-env names).\n");
}

void dt_cli_completion_print(FILE *f)
{
    fprintf(f, "# bash completion for distiltrace: source it, or install it in\n"
               "# /usr/share/bash-completion/completions/distiltrace\n"
               "_distiltrace() {\n"
               "  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} sub=${COMP_WORDS[2]}\n"
               "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
               "    COMPREPLY=($(compgen -W \"");
    for (const struct dt_command *c = dt_commands; c->name; c++)
        fprintf(f, "%s ", c->name);
    fprintf(f, "help\" -- \"$cur\")); return\n  fi\n  local opts=\"\"\n  case \"$cmd $sub\" in\n");
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++) {
        if (!strchr(d->name, ' '))
            continue;
        fprintf(f, "    \"%s\"*) opts=\"", d->name);
        for (const struct dt_cli_optdoc *o = d->opts; o->name; o++)
            fprintf(f, "%s ", o->name);
        fprintf(f, "--help\" ;;\n");
    }
    fprintf(f, "  esac\n  if [ -z \"$opts\" ]; then\n    case \"$cmd\" in\n");
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++) {
        if (strchr(d->name, ' '))
            continue;
        fprintf(f, "      %s) opts=\"", d->name);
        for (const struct dt_cli_optdoc *o = d->opts; o->name; o++)
            fprintf(f, "%s ", o->name);
        fprintf(f, "--help\" ;;\n");
    }
    /* subcommand names where the command has them */
    fprintf(f, "    esac\n  fi\n  if [ \"$COMP_CWORD\" -eq 2 ]; then\n    case \"$cmd\" in\n");
    const char *done[16];
    int n_done = 0;
    for (const struct dt_cli_cmddoc *d = dt_cli_docs; d->name; d++) {
        const char *sp = strchr(d->name, ' ');
        if (!sp)
            continue;
        int seen = 0;
        for (int i = 0; i < n_done; i++)
            seen |= !strncmp(done[i], d->name, (size_t)(sp - d->name)) &&
                    done[i][sp - d->name] == ' ';
        if (seen || n_done == 16)
            continue;
        done[n_done++] = d->name;
        fprintf(f, "      %.*s) COMPREPLY=($(compgen -W \"", (int)(sp - d->name), d->name);
        for (const struct dt_cli_cmddoc *e = d; e->name; e++)
            if (!strncmp(e->name, d->name, (size_t)(sp - d->name) + 1))
                fprintf(f, "%s ", e->name + (sp - d->name) + 1);
        fprintf(f, "\" -- \"$cur\")); return ;;\n");
    }
    fprintf(f, "    esac\n  fi\n"
               "  case \"$cur\" in\n    -*) COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")) ;;\n"
               "    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n  esac\n}\n"
               "complete -F _distiltrace distiltrace\n");
}

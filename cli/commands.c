/*
 * The command table and the small helpers every command shares.
 */
#include "cli/commands.h"

#include <stdio.h>

const struct dt_command dt_commands[] = {
    {"inspect", cmd_inspect, "describe a model file: architecture, tensors, tokenizer, hashes"},
    {"tokenize", cmd_tokenize, "print the token ids of a text (exact bytes, no special tokens added)"},
    {"compare", cmd_compare, "decide whether a suspect model was derived from a teacher, with p-values"},
    {"attribute", cmd_attribute, "attribute a suspect to one of several candidate teachers"},
    {"version", cmd_version, "print the version and the libraries it was built with"},
    {"logits", cmd_logits, "next-token logits after every position of a text (top-k, logsumexp)"},
    {"score", cmd_score, "per-token log-probabilities and perplexity of a text file"},
    {"generate", cmd_generate, "continue a prompt with a local model (greedy or sampled)"},
    {"bench", cmd_bench, "scoring and generation throughput, peak memory, sgemm reference"},
    {"corpus", cmd_corpus, "list, show, export and store probe corpora"},
    {"transcripts", cmd_transcripts, "import API transcripts (OpenAI, llama.cpp server, plain JSONL)"},
    {"runs", cmd_runs, "list and show the runs recorded in an evidence store"},
    {"db", cmd_db, "check an evidence store's integrity and schema version"},
    {"fingerprint", cmd_fingerprint, "register a model's release fingerprint (tensor hashes, tokenizer, behaviour)"},
    {"verify", cmd_verify, "check that a release artifact (copy, quantization) is a registered model"},
    {"check", cmd_check_policy, "release gate: compare against banned teachers per a policy file, write reports"},
    {"report", cmd_report, "render a run's report (html, md, json, junit, sarif) or verify one"},
    {"collect", cmd_collect, "generate with a local model over a corpus into an evidence store"},
    {"watermark", cmd_watermark, "xxh64-kgw watermark: generate, detect, test suspects for radioactivity"},
    {"panel", cmd_panel, "record control models' answers once (panel add/list/remove) for compare --panel"},
    {"serve", cmd_serve, "serve a local model over an OpenAI-compatible HTTP API"},
    {NULL, NULL, NULL},
};

int dt_cli_fail(const struct dt_error *err)
{
    fprintf(stderr, "distiltrace: %s\n", err && err->msg[0] ? err->msg : "unknown error");
    return dt_exit_code_for(err ? err->code : DT_EINTERNAL);
}

int dt_cli_usage(const char *cmd, const char *usage)
{
    fprintf(stderr, "distiltrace %s: usage: %s\n", cmd, usage);
    return DT_EXIT_USAGE;
}

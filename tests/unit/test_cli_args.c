/*
 * Unit tests for cli/args.c over cli/help.c's tables: argv checked by dt_cli_precheck (as
 * main.c does), then options read by name, defaults taken from the table, positionals,
 * repeated options in order, ranges and choices refused.
 */
#include "tests/tap.h"
#include "cli/args.h"
#include "cli/help.h"

#include <stdlib.h>
#include <string.h>

/* argv checked and normalised as main.c does; a->argv is shifted by shift words (the
 * subcommand dispatch). Returns the precheck status. */
static int checked(const char *name, int shift, int argc, char **argv, char ***out,
                   struct dt_cli_args *a)
{
    int n_words = 0, ac = argc;
    char **av = argv;
    const struct dt_cli_cmddoc *d = dt_cli_doc_find(argc, argv, &n_words);
    if (!d)
        return -1;
    int rc = dt_cli_precheck(d, &ac, &av);
    if (rc)
        return rc;
    *out = av;
    return dt_cli_args_init(a, name, ac - shift, av + shift);
}

int main(void)
{
    struct dt_cli_args a;
    char **av = NULL;
    long l = -1;
    double d = -1;
    int k = -1;

    char *logits[] = {"logits", "--model=m.gguf", "--text", "hi", "--threads=3", NULL};
    TAP_OK(checked("logits", 0, 5, logits, &av, &a) == 0, "logits argv checked");
    TAP_OK(!strcmp(dt_cli_str(&a, "--model", NULL), "m.gguf"), "--opt=VALUE read by name");
    TAP_OK(!strcmp(dt_cli_str(&a, "--text", NULL), "hi"), "--opt VALUE read by name");
    TAP_OK(dt_cli_long(&a, "--top", 1, 1000, &l) == 0 && l == 10,
           "an absent option takes the table's numeric default (--top %ld)", l);
    TAP_OK(dt_cli_long(&a, "--threads", 1, 64, &l) == 0 && l == 3, "a given number is read");
    TAP_OK(dt_cli_long(&a, "--threads", 4, 64, &l) == -1, "a number out of range is refused");
    TAP_OK(!dt_cli_has(&a, "--json") && dt_cli_n_positional(&a) == 0, "no flags, no positionals");
    free(av);

    char *gen[] = {"generate", "--model", "m", "--prompt", "--json", "-n", "7", "--stop=eos", NULL};
    TAP_OK(checked("generate", 0, 8, gen, &av, &a) == 0, "generate argv checked");
    TAP_OK(!strcmp(dt_cli_str(&a, "--prompt", NULL), "--json") && !dt_cli_has(&a, "--json"),
           "a value that looks like a flag is the option's value");
    TAP_OK(dt_cli_long(&a, "--n-predict", 0, 100, &l) == 0 && l == 7, "-n is --n-predict");
    static const char *const stops[] = {"eog", "eos", "none", NULL};
    TAP_OK(dt_cli_choice(&a, "--stop", stops, &k) == 0 && k == 1, "a choice read");
    d = 0;
    TAP_OK(dt_cli_double(&a, "--temperature", 0, 10, &d) == 0 && d == 1.0,
           "a double default from the table (%g)", d);
    free(av);

    char *gen2[] = {"generate", "--model", "m", "--prompt", "p", "--stop", "never", NULL};
    TAP_OK(checked("generate", 0, 7, gen2, &av, &a) == 0 &&
               dt_cli_choice(&a, "--stop", stops, &k) == -1,
           "an unknown choice is refused");
    free(av);

    char *det[] = {"watermark", "detect",        "--key", "1",      "--tokenizer", "t",
                   "--file",    "a",             "--transcripts",   "b", "--file=c", NULL};
    TAP_OK(checked("watermark detect", 1, 11, det, &av, &a) == 0, "watermark detect checked");
    const char **files = NULL;
    TAP_OK(dt_cli_all(&a, "--file", &files) == 2 && !strcmp(files[0], "a") &&
               !strcmp(files[1], "c"),
           "a repeated option: every value in order");
    free(files);
    const char *opt, *val, *seq[8];
    int n = 0;
    for (int i = 0; n < 8 && dt_cli_next(&a, &i, &opt, &val);)
        if (!strcmp(opt, "--file") || !strcmp(opt, "--transcripts"))
            seq[n++] = val;
    TAP_OK(n == 3 && !strcmp(seq[0], "a") && !strcmp(seq[1], "b") && !strcmp(seq[2], "c"),
           "dt_cli_next keeps command-line order across options");
    TAP_OK(dt_cli_double(&a, "--gamma", 0, 1, &d) == 0 && d == 0.25, "gamma default 0.25");
    free(av);

    char *cmp[] = {"compare",       "--teacher", "t", "--suspect", "s",
                   "--timeout=0.5", "--rps",     "x", NULL};
    TAP_OK(checked("compare", 0, 8, cmp, &av, &a) == 0, "compare argv checked");
    d = -1;
    TAP_OK(dt_cli_number(&a, "--alpha", &d) == 0 && d == 0.01, "any number: the table's default");
    TAP_OK(dt_cli_number(&a, "--timeout", &d) == 0 && d == 0.5, "any number: the value given");
    d = -1;
    TAP_OK(dt_cli_number(&a, "--rps", &d) == -1 && d == -1, "any number: a non-number refused");
    free(av);
    char *cmp2[] = {"compare", "--teacher", "t", "--suspect", "s", "--rps", "nan", NULL};
    TAP_OK(checked("compare", 0, 7, cmp2, &av, &a) == 0 && dt_cli_number(&a, "--rps", &d) == -1,
           "any number: NaN refused");
    free(av);
    char *cmp3[] = {"compare", "--teacher", "t", "--suspect", "s", NULL};
    d = -1;
    TAP_OK(checked("compare", 0, 5, cmp3, &av, &a) == 0 && dt_cli_number(&a, "--rps", &d) == 0 &&
               d == -1,
           "any number: a default that is not a number (unlimited) leaves *out alone");
    free(av);

    char *ins[] = {"inspect", "--json", "--", "-odd.gguf", NULL};
    TAP_OK(checked("inspect", 0, 4, ins, &av, &a) == 0, "inspect with -- checked");
    TAP_OK(dt_cli_n_positional(&a) == 1 && !strcmp(dt_cli_positional(&a, 0), "-odd.gguf") &&
               dt_cli_has(&a, "--json"),
           "after --, a dash argument is positional");
    free(av);

    char *runs[] = {"runs", "show", "--db", "x.db", "7", NULL};
    TAP_OK(checked("runs show", 1, 5, runs, &av, &a) == 0 && dt_cli_n_positional(&a) == 1 &&
               !strcmp(dt_cli_positional(&a, 0), "7"),
           "a subcommand's positional, the subcommand word not counted");
    free(av);

    TAP_OK(dt_cli_args_init(&a, "no such command", 1, runs) == -1, "an unknown table is an error");
    return tap_done();
}

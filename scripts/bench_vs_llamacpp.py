#!/usr/bin/env python3
"""distiltrace's inference speed next to llama.cpp's, on the same GGUF files, in the same run.

    LLAMA_BENCH=/path/to/llama-bench scripts/bench_vs_llamacpp.py [options]

Writes random-weight models of a real shape (default: TinyLlama-1.1B, `1b`) with
`distiltrace bench --synthetic SHAPE --types T --write FILE` (kept in --dir and reused), then
for --rounds rounds runs, per type, llama-bench and `distiltrace bench` one after the other
(interleaved, so both see the same machine load), and prints one table: prompt processing
tokens/s (pp, one prompt of --pp tokens, last logits only), single-stream generation tokens/s
(tg, --tg tokens), batched generation tokens/s (compare's workload: a queue of answers on 8
sequences; llama-bench has no such test), the ratios to llama.cpp, each run's wall time and
peak RSS, and the 1-minute load average before each pair. Both use --threads threads;
llama-bench runs with its defaults otherwise (CPU build, mmap, -r 1 per round). Nothing is
downloaded; without LLAMA_BENCH the script says so and exits 0.

Only the Python standard library is used.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_rss(cmd):
    """Runs cmd under os.fork/execvp + wait4 so the peak RSS is this child's alone."""
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("bench_vs_llamacpp: %s exited with %d" % (" ".join(cmd), code))
    return b"".join(chunks).decode(), wall, ru.ru_maxrss / 1024.0


def load1():
    return os.getloadavg()[0]


def llama_bench(exe, path, args):
    out, wall, rss = run_rss([exe, "-m", path, "-t", str(args.threads), "-p", str(args.pp),
                              "-n", str(args.tg), "-r", "1", "-o", "json"])
    pp = tg = None
    for rec in json.loads(out):
        if rec.get("n_prompt", 0) > 0 and rec.get("n_gen", 0) == 0:
            pp = rec["avg_ts"]
        elif rec.get("n_gen", 0) > 0 and rec.get("n_prompt", 0) == 0:
            tg = rec["avg_ts"]
    return {"pp": pp, "tg": tg, "wall": wall, "rss": rss}


def ours(exe, path, args):
    out, wall, rss = run_rss([exe, "bench", path, "--threads", str(args.threads), "--batch", "1",
                              "--len", str(args.pp), "--gen", str(args.tg), "--repeat", "1",
                              "--slots", str(args.slots), "--jobs", str(args.jobs), "--json"])
    rec = json.loads(out.strip().splitlines()[-1])
    # pp: the --pp-token prompt evaluated in one call before generation, as llama-bench's pp
    return {"pp": rec["prompt_tok_s"], "pp_score": rec["last_tok_s"], "tg": rec["gen_tok_s"], "btg": rec["batch_tok_s"],
            "wall": wall, "rss": rss, "bw": rec["read_gb_s"], "limit": rec["gen_limit_tok_s"],
            "sgemm": rec["sgemm_gflop_s"], "pp_gflop": rec["last_gflop_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="1b")
    ap.add_argument("--types", default="q8_0,q4_k_m")
    ap.add_argument("--dir", default="/tmp/dt_bench_vs_llamacpp")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pp", type=int, default=128, help="prompt tokens (llama-bench -p)")
    ap.add_argument("--tg", type=int, default=32, help="generated tokens (llama-bench -n)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=16, help="answers in the batched queue")
    ap.add_argument("--distiltrace", default=os.path.join(ROOT, "build", "cli", "distiltrace"))
    args = ap.parse_args()
    exe = os.environ.get("LLAMA_BENCH", "")
    if not exe or not os.access(exe, os.X_OK):
        print("bench_vs_llamacpp: skipped: set LLAMA_BENCH to a llama-bench executable "
              "(built from llama.cpp, CPU only)")
        return 0
    if not os.access(args.distiltrace, os.X_OK):
        sys.exit("bench_vs_llamacpp: no distiltrace at %s (build first)" % args.distiltrace)
    os.makedirs(args.dir, exist_ok=True)
    types = args.types.split(",")
    files = {}
    for t in types:
        path = os.path.join(args.dir, "%s-%s.gguf" % (args.shape, t))
        if not os.path.exists(path):
            print("writing %s" % path, file=sys.stderr)
            tmp = path + ".part"
            subprocess.check_call([args.distiltrace, "bench", "--synthetic", args.shape,
                                   "--types", t, "--write", tmp])
            os.rename(tmp, path)
        files[t] = path
    rows = []
    for rnd in range(args.rounds):
        for t in types:
            # Alternate who goes first, so neither always runs on the cooler machine.
            order = ["llama", "ours"] if rnd % 2 == 0 else ["ours", "llama"]
            ld = load1()
            res = {}
            for who in order:
                res[who] = (llama_bench(exe, files[t], args) if who == "llama"
                            else ours(args.distiltrace, files[t], args))
                print("round %d %s %s done (load %.1f)" % (rnd + 1, t, who, load1()),
                      file=sys.stderr)
            rows.append((rnd + 1, t, ld, res["ours"], res["llama"]))

    def ratio(a, b):
        return "%.2fx" % (a / b) if a and b else "-"

    print("%s, %d threads, pp%d / tg%d, batched: %d answers on %d slots; llama-bench %s; load = "
          "1-min average before the pair (%d CPUs)" % (args.shape, args.threads, args.pp, args.tg,
                                                      args.jobs, args.slots, exe, os.cpu_count()))
    hdr = ("type", "rnd", "load", "pp ours", "pp llama", "pp ratio", "tg ours", "tg llama",
           "tg ratio", "batched tg", "vs llama tg", "wall ours", "wall llama", "RSS ours",
           "RSS llama", "tg limit")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    for rnd, t, ld, o, l in rows:
        print("| %s | %d | %.1f | %.1f | %.1f | %s | %.2f | %.2f | %s | %.2f | %s | %.0f s | "
              "%.0f s | %.0f MB | %.0f MB | %.1f |" % (
                  t, rnd, ld, o["pp"], l["pp"] or 0, ratio(o["pp"], l["pp"]), o["tg"],
                  l["tg"] or 0, ratio(o["tg"], l["tg"]), o["btg"], ratio(o["btg"], l["tg"]),
                  o["wall"], l["wall"], o["rss"], l["rss"], o["limit"]))
    print("tg limit: read bandwidth measured by distiltrace in the same run / weight bytes per "
          "step (tokens/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

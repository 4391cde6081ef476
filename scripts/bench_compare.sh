#!/usr/bin/env bash
# How long a whole `compare` of five ~1B models takes on this machine.
#
#   scripts/bench_compare.sh [DIR] [-- extra compare options]
#
# Models (TinyLlama-1.1B shape, llama.cpp's Q4_K_M mix, random weights): the teacher is
# DIR/1b-q4_k_m.gguf (written with `distiltrace bench --synthetic 1b --types q4_k_m --write`
# when absent; scripts/bench_vs_llamacpp.py's file can be linked there), the suspect is the
# same file under another name, and three controls are written with other seeds (--seed 43,
# 44, 45). Files are kept in DIR (default /tmp/dt_bench_compare) and reused.
#
# Runs `distiltrace compare --no-db --json` with the default probes (or the extra options,
# e.g. `-- --identity-probes 8 --chat-probes 12 --text-probes 8` for a subset) and prints the
# 1-minute load average before and after, the wall and CPU time, and compare's own timing
# (load, collect = answers, signals). THREADS (default 2) is passed as --threads; DISTILTRACE
# points at the binary (default build/cli/distiltrace of this checkout).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=${DISTILTRACE:-$ROOT/build/cli/distiltrace}
THREADS=${THREADS:-2}
DIR=/tmp/dt_bench_compare
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    DIR=$1
    shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
[ -x "$DT" ] || { echo "bench_compare: no distiltrace at $DT (build first)" >&2; exit 2; }
mkdir -p "$DIR"

write() { # seed file
    if [ ! -f "$2" ]; then
        echo "writing $2 (seed $1)" >&2
        nice "$DT" bench --synthetic 1b --types q4_k_m --seed "$1" --write "$2.part"
        mv "$2.part" "$2"
    fi
}
write 42 "$DIR/1b-q4_k_m.gguf"
ln -sf 1b-q4_k_m.gguf "$DIR/suspect-1b-q4_k_m.gguf"
for s in 43 44 45; do
    write "$s" "$DIR/1b-q4_k_m-s$s.gguf"
done

out=$DIR/compare.json
load0=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s.%N)
# compare exits 1 when it finds evidence of derivation (the suspect is the teacher here)
set +e
/usr/bin/time -f "%e %U %S %M" -o "$DIR/time.txt" "$DT" compare --no-db --json --threads "$THREADS" \
    --teacher "$DIR/1b-q4_k_m.gguf" --suspect "$DIR/suspect-1b-q4_k_m.gguf" \
    --control "$DIR/1b-q4_k_m-s43.gguf" --control "$DIR/1b-q4_k_m-s44.gguf" \
    --control "$DIR/1b-q4_k_m-s45.gguf" "$@" >"$out"
rc=$?
set -e
t1=$(date +%s.%N)
load1=$(cut -d' ' -f1 /proc/loadavg)
if [ "$rc" -gt 1 ]; then
    echo "bench_compare: compare exited with $rc" >&2
    exit "$rc"
fi
read -r wall user sys rss < <(tail -n 1 "$DIR/time.txt")
python3 - "$out" "$wall" "$user" "$sys" "$rss" "$load0" "$load1" "$THREADS" "$*" <<'EOF'
import json, sys
out, wall, user, sys_s, rss, l0, l1, threads, extra = sys.argv[1:]
r = json.load(open(out))
tm, pr = r["timing"], r["probes"]
print("five 1B Q4_K_M models (teacher, suspect, 3 controls), %s threads, probes: %d identity, "
      "%d chat, %d text%s" % (threads, pr["identity"], pr["chat"], pr["text"],
                              " (" + extra + ")" if extra else " (defaults)"))
print("wall %.0f s (%.1f min), cpu %.0f s user + %.0f s sys, peak RSS %.0f MB; load average %s "
      "before, %s after" % (float(wall), float(wall) / 60, float(user), float(sys_s),
                            float(rss) / 1024, l0, l1))
print("compare timing: load %.1f s, collect (answers) %.1f s, signals %.1f s, total %.1f s; "
      "%d answers, %d tokens generated" % (tm["load_s"], tm["collect_s"], tm["signals_s"],
                                          tm["total_s"], tm["answers_generated"],
                                          tm["generated_tokens"]))
print("verdict: %s" % r["verdict"]["relation"])
EOF

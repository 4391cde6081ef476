#!/usr/bin/env bash
# Checks that two distiltrace binaries (say, main's and a refactoring branch's) print the same
# bytes for `logits`, `score` and `generate` on a set of models, with the f32 weight cache on
# and off (DT_F32_CACHE_MB=0) and 1 and 2 threads. Prints one DIFF line per difference and a
# last line "N runs, N differ" (a run whose output is not JSON counts as differing: failures are
# not compared); exit status 1 when any differs.
#
# usage: scripts/same_outputs.sh BIN_A BIN_B [MODEL...]
#   default models: the zoo's teacher (f16 and q8_0), a qwen2 and a cross-tokenizer student
#   (../shared/zoo/gguf), plus tiny f16 and q8_0 random models written by BIN_A.
set -uo pipefail
[ $# -ge 2 ] || { sed -n 2,9p "$0"; exit 2; }
A=$1 B=$2
shift 2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  Z=$(dirname "$0")/../../shared/zoo/gguf
  for m in teacher teacher.q8_0 s_scrubbed_qwen2 s_crosstok; do
    [ -f "$Z/$m.gguf" ] && models+=("$Z/$m.gguf")
  done
  for ty in f16 q8_0; do
    "$A" bench --synthetic tiny --types $ty --write "$T/tiny-$ty.gguf" >/dev/null 2>&1 &&
      models+=("$T/tiny-$ty.gguf")
  done
fi
printf 'The quick brown fox jumps over the lazy dog. Once upon a time there was a model.\n' >"$T/text"
runs=0 differ=0
for m in "${models[@]}"; do
  for cache in "" 0; do
    for th in 1 2; do
      for k in A B; do
        bin=$A
        [ $k = B ] && bin=$B
        DT_F32_CACHE_MB=$cache "$bin" logits --model "$m" --text "Hello there, how are you?" \
          --top 5 --json --threads $th >"$T/$k.logits" 2>&1
        DT_F32_CACHE_MB=$cache "$bin" score --model "$m" --file "$T/text" --json \
          --threads $th >"$T/$k.score" 2>&1
        DT_F32_CACHE_MB=$cache "$bin" generate --model "$m" --prompt "Once upon a time" -n 24 \
          --temperature 0.8 --seed 3 --json --threads $th >"$T/$k.generate" 2>&1
      done
      for c in logits score generate; do
        runs=$((runs + 1))
        if [ "$(head -c 1 "$T/A.$c")" != "{" ]; then
          echo "FAILED $c $m cache=${cache:-default} threads=$th: $(head -c 200 "$T/A.$c")"
          differ=$((differ + 1))
        elif ! cmp -s "$T/A.$c" "$T/B.$c"; then
          echo "DIFF $c $m cache=${cache:-default} threads=$th"
          differ=$((differ + 1))
        fi
      done
    done
  done
done
echo "$runs runs, $differ differ"
[ $differ -eq 0 ]

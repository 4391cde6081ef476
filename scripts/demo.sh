#!/usr/bin/env bash
# One command from a fresh Debian machine: install the dependencies, build, and run the main
# job on the bundled demo — a real comparison of a distilled student with its teacher against
# three independent control models, recorded in an evidence store and rendered as reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
DT=./build/cli/distiltrace
M=demo/models
OUT=demo/out
mkdir -p "$OUT"
rm -f "$OUT/evidence.db" "$OUT/evidence.db-wal" "$OUT/evidence.db-shm"
set +e
"$DT" compare --teacher "$M/teacher.gguf" --suspect "$M/s_seqkd.gguf" \
  --control "$M/teacher2.gguf" --control "$M/c_other_data.gguf" --control "$M/c_small_same_data.gguf" \
  --chat-template '<|user|>{prompt}<|assistant|>' --db "$OUT/evidence.db"
status=$?
set -e
# exit status 1 means "evidence of derivation found": the expected outcome here
if [ "$status" -gt 1 ]; then
  echo "demo: compare failed with exit status $status" >&2
  exit "$status"
fi
for f in html md json sarif; do
  "$DT" report latest --db "$OUT/evidence.db" --format "$f" -o "$OUT/report.$f"
done
"$DT" report latest --db "$OUT/evidence.db" --format junit -o "$OUT/report.junit.xml"
echo "demo: reports written to $OUT/report.{html,md,json,junit.xml,sarif}"
echo "demo: evidence store $OUT/evidence.db ($("$DT" db check --db "$OUT/evidence.db" >/dev/null && echo 'integrity ok'))"

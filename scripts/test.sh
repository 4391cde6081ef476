#!/usr/bin/env bash
# The whole test suite: configure (if needed), build, run every suite but bench, and print
# the plain "N passed, N failed, N skipped" line taken from meson's test log.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || exit 1
ninja -C "$BUILD" >/dev/null || { ninja -C "$BUILD"; exit 1; }
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"
status=$?
log="$BUILD/meson-logs/testlog.json"
if [ -f "$log" ]; then
  python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get('result')
    if r in ('OK', 'EXPECTEDFAIL'): p += 1
    elif r == 'SKIP': s += 1
    else: f += 1
print(f'{p} passed, {f} failed, {s} skipped')
PY
fi
exit $status

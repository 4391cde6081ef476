#!/usr/bin/env bash
# One command from a fresh Debian machine: install dependencies, build, run the bundled demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
./build/cli/distiltrace version

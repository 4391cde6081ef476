#!/usr/bin/env bash
# Installs the Debian packages distiltrace builds and tests with. Safe to rerun.
set -euo pipefail
PKGS="build-essential meson ninja-build pkg-config python3 sqlite3 \
  libxxhash-dev libpcre2-dev libcjson-dev libsqlite3-dev libopenblas-dev liblapacke-dev \
  libssl-dev libcurl4-openssl-dev libmicrohttpd-dev libutf8proc-dev libjsmn-dev python3-numpy libxml2-utils poppler-utils python3-jinja2 \
  chromium fonts-dejavu-core"
# Node.js runs the test-only tools of tests/node (schemas, reference implementations); the
# machine image may bring its own build, which Debian's packages must not replace.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

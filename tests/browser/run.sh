#!/usr/bin/env bash
# Runs the admin UI browser test: installs Debian's Chromium if it is
# missing, installs playwright-core from package-lock.json, builds llmo and
# runs admin-ui.test.mjs. Screenshots land in tests/browser/screenshots/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (Debian package)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v python3 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi

cd "$here"
# playwright-core ships no browser and downloads none.
npm ci --no-audit --no-fund --silent

if [ -z "${LLMO_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin llmo)
  export LLMO_BIN="$root/target/debug/llmo"
fi
node admin-ui.test.mjs

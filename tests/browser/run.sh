#!/usr/bin/env bash
# Runs the admin UI browser test: installs Debian's Chromium if it is
# missing (as root; otherwise says how), installs playwright-core from
# package-lock.json, builds llmo and runs admin-ui.test.mjs. Screenshots
# land in tests/browser/screenshots/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# What it needs, checked first; apt-get only when running as root.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (Debian package)…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "tests/browser/run.sh: /usr/bin/chromium is missing: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
for tool in node npm python3; do
  if ! command -v "$tool" >/dev/null; then
    case $tool in
      python3) pkg=python3 ;;
      *) pkg="nodejs npm" ;;
    esac
    echo "tests/browser/run.sh: $tool is missing: sudo apt-get install $pkg" >&2
    exit 1
  fi
done

cd "$here"
# playwright-core ships no browser and downloads none.
npm ci --no-audit --no-fund --silent

if [ -z "${LLMO_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin llmo)
  export LLMO_BIN="$root/target/debug/llmo"
fi
node admin-ui.test.mjs

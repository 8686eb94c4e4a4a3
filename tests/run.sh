#!/usr/bin/env bash
# The whole test suite, with its set-up: the Rust unit and integration tests,
# the official `openai` Python SDK against a real `llmo serve` (mock upstreams
# on 127.0.0.1), and the admin web UI in headless Chromium. Installs what it
# needs from the package registries (PyPI `openai`, Debian `chromium`, npm
# `playwright-core`); never talks to a real provider.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo test --all-targets"
cargo test --all-targets

# Benchmarks and large-data tests (a million log rows paged through the
# indexes, the log writer's throughput, per-call costs) are #[ignore]d in the
# debug run above and run once here, optimised (Cargo.toml's bench-tests
# profile: release without LTO).
step "cargo test --profile bench-tests --lib --test it -- --ignored"
cargo test --profile bench-tests --lib --test it -- --ignored

# The binary the end-to-end tests drive (already built by cargo test).
export LLMO_BIN="$PWD/target/debug/llmo"
cargo build --quiet --bin llmo

step "Python SDK end-to-end tests"
if ! python3 -c 'import openai' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check openai
fi
shopt -s nullglob
scripts=(tests/sdk/*_e2e.py)
if ((${#scripts[@]} == 0)); then
    echo "no tests/sdk/*_e2e.py found" >&2
    exit 1
fi
for s in "${scripts[@]}"; do
    step "python3 $s"
    python3 "$s"
done

step "admin web UI in headless Chromium"
tests/browser/run.sh

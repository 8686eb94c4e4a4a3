#!/usr/bin/env bash
# The whole test suite, with its set-up: the Rust unit and integration tests,
# the official `openai` and `anthropic` Python SDKs and the real coding agents
# (Claude Code, Codex CLI: tests/agents/) against a real `llmo serve` (mock
# upstreams on 127.0.0.1), the fault suite when present, and the admin web UI in
# headless Chromium, then the static musl binary, its container image,
# compose.yaml and the Kubernetes base under podman (tests/static/,
# tests/container/). Never talks to a real provider.
#
# It first checks what it needs (cargo with Rust >= 1.85, a C compiler,
# python3 with venv, node and npm, chromium, PostgreSQL and Redis servers;
# Rust's musl target, musl-tools, buildah, podman, runc, podman-compose,
# kubectl, root) and names what is missing with the command that installs it.
# Real PostgreSQL and Redis servers (tests/services.sh) run for the whole
# suite, on ports from the OS in a temp directory, and are stopped by PID
# when the script exits, however it exits. Python packages (PyPI `openai`) go
# into a virtual environment under target/py-venv (created once, then reused);
# nothing is installed into the system Python. The agents go to
# tests/agents/node_modules (`npm ci`, redone when the lock changes). npm's `playwright-core` goes to
# tests/browser/node_modules; Debian's `chromium` is installed only when
# running as root with apt-get, otherwise it is named as missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

# ----- prerequisites: all checked up front, each missing one named -----
missing=()   # one line each: what, and how to install it
apt=()       # the Debian/Ubuntu packages that provide them
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo "
need() { # need WHAT DEBIAN-PACKAGE...
    local what=$1
    shift
    missing+=("$what: ${sudo}apt-get install $*")
    apt+=("$@")
}
rustup_hint="install rustup (Debian's own rustc is too old): curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
if ! command -v cargo >/dev/null; then
    missing+=("cargo (Rust >= 1.85): $rustup_hint")
elif ! rustc --version | awk '{ split($2, v, "."); exit !(v[1] > 1 || (v[1] == 1 && v[2] >= 85)) }'; then
    missing+=("Rust >= 1.85 (found $(rustc --version)): rustup update stable, or $rustup_hint")
fi
command -v cc >/dev/null || need "a C compiler (cc, for the bundled SQLite and ring)" build-essential
if ! command -v python3 >/dev/null; then
    need "python3 with venv" python3 python3-venv
elif [ ! -x target/py-venv/bin/python ] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    need "python3's venv module" python3-venv
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    need "node and npm (for the browser test)" nodejs npm
fi
# tests/browser/run.sh installs Debian's chromium itself when it may (root, apt-get).
if [ ! -x /usr/bin/chromium ] && ! { [ -z "$sudo" ] && command -v apt-get >/dev/null; }; then
    need "chromium at /usr/bin/chromium (for the browser test)" chromium
fi
# The servers the PostgreSQL and Redis tests run against (tests/services.sh).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "${LLMO_TEST_PG_BIN:-}" ]; then
    need "a PostgreSQL server (initdb, postgres; for the PostgreSQL tests)" postgresql
fi
command -v redis-server >/dev/null || need "redis-server (for the Redis tests)" redis-server
command -v openssl >/dev/null || need "openssl (certificates for the PostgreSQL TLS test)" openssl
# The static binary and its container image (tests/static/, tests/container/).
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    missing+=("Rust's musl target (for the static binary): rustup target add x86_64-unknown-linux-musl")
fi
command -v musl-gcc >/dev/null || need "musl-gcc (the bundled SQLite for the static binary)" musl-tools
command -v buildah >/dev/null || need "buildah (builds the container image)" buildah
command -v podman >/dev/null || need "podman (runs the container tests)" podman
command -v runc >/dev/null || need "runc (podman's runtime on these machines)" runc
command -v podman-compose >/dev/null || need "podman-compose (the compose test)" podman-compose
command -v kubectl >/dev/null ||
    missing+=("kubectl (renders deploy/k8s offline; the client alone is enough): install the Kubernetes client (kubectl)")
[ -z "$sudo" ] || missing+=("root (the container tests run podman as root)")
if ((${#missing[@]})); then
    {
        echo "tests/run.sh: missing prerequisites (README.md, section Install, lists them):"
        printf '  - %s\n' "${missing[@]}"
        if ((${#apt[@]} > 1)); then
            echo "all at once: ${sudo}apt-get install ${apt[*]}"
        fi
    } >&2
    exit 1
fi

# PostgreSQL and Redis for the whole run: tests/services.sh prints the
# LLMO_TEST_* exports (LLMO_TEST_SERVICES=required: a test that finds no
# server fails instead of skipping). Stopped by PID on any exit; INT and TERM
# become an exit so the EXIT trap runs for them too.
step "tests/services.sh start (PostgreSQL, Redis)"
services=$(mktemp -d -t llmo-services.XXXXXX)
trap 'bash tests/services.sh stop "$services"; rm -rf "$services"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
services_env=$(bash tests/services.sh start "$services")
eval "$services_env"

step "cargo test --all-targets"
cargo test --all-targets

# Benchmarks and large-data tests (a million log rows paged through the
# indexes, the log writer's throughput, per-call costs) are #[ignore]d in the
# debug run above (the same index checks run there at 10,000 rows). They print
# figures rather than gate on them, and their optimised build (Cargo.toml's
# bench-tests profile: release without LTO) takes ~11 minutes on 2 cores, so
# they run only when asked: LLMO_TEST_BENCH=1 bash tests/run.sh.
if [ "${LLMO_TEST_BENCH:-0}" = 1 ]; then
    step "cargo test --profile bench-tests --lib --test it -- --ignored"
    cargo test --profile bench-tests --lib --test it -- --ignored
else
    step "skipping the #[ignore]d benchmarks (LLMO_TEST_BENCH=1 runs them)"
fi

# The binary the end-to-end tests drive (already built by cargo test).
export LLMO_BIN="$PWD/target/debug/llmo"
cargo build --quiet --bin llmo

# Python: a virtual environment under target/ (git-ignored), made once and
# reused; nothing goes into the system Python (Debian refuses that anyway).
venv="$PWD/target/py-venv"
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    step "python3 -m venv target/py-venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c 'import openai, anthropic' 2>/dev/null; then
    step "pip install openai anthropic (into target/py-venv)"
    "$py" -m pip install --quiet --disable-pip-version-check openai anthropic
fi

step "Python SDK end-to-end tests"
shopt -s nullglob
scripts=(tests/sdk/*_e2e.py)
if ((${#scripts[@]} == 0)); then
    echo "no tests/sdk/*_e2e.py found" >&2
    exit 1
fi
for s in "${scripts[@]}"; do
    step "python $s"
    "$py" "$s"
done

# ----- the real coding agents (tests/agents/) -----
# Claude Code and Codex CLI at the exact versions of tests/agents/package-lock.json
# (about 810 MB of node_modules, mostly the two native binaries), installed
# with `npm ci` only when node_modules is missing or was made from another lock.
agents=tests/agents
lock_hash=$(sha256sum "$agents/package-lock.json" | cut -d' ' -f1)
stamp="$agents/node_modules/.llmo-lock-sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
    step "npm ci in $agents (Claude Code, Codex CLI)"
    (cd "$agents" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" >"$stamp"
fi
step "python $agents/agents_e2e.py"
"$py" "$agents/agents_e2e.py"

# ----- the fault suite (tests/faults/, stdlib Python only) -----
# Quick cases here and in CI; the long soak is behind its own flag.
if [ -f tests/faults/run.py ]; then
    step "python tests/faults/run.py --quick"
    "$py" tests/faults/run.py --quick
fi

step "admin web UI in headless Chromium"
tests/browser/run.sh

# ----- the static binary, its image, compose and Kubernetes -----
step "cargo build --release --target x86_64-unknown-linux-musl"
cargo build --release --target x86_64-unknown-linux-musl
step "tests/static/run.sh"
bash tests/static/run.sh
step "tests/container/run.sh (image, compose, k8s)"
tests/container/run.sh

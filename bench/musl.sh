#!/usr/bin/env bash
# The static (musl) build against the glibc build, same machine, same run:
# bench/run.sh's json c=32 case (0 ms upstream), alternating the two binaries
# for BENCH_ROUNDS rounds, then one table (median of the rounds):
# CPU ms per 1k requests (user+sys of the llmo process), req/s, idle RSS,
# peak RSS during the run, binary size. A benchmark, not a test.
#
#   bash bench/musl.sh
#
# Environment:
#   GLIBC_BIN, MUSL_BIN  binaries to compare (default: build both, release)
#   EXTRA_BINS           more "label=path" pairs to add as rows, e.g. an
#                        older musl build: EXTRA_BINS="musl-malloc=/tmp/llmo"
#   BENCH_ROUNDS         rounds per binary (default 3)
#   BENCH_DURATION, BENCH_WARMUP, BENCH_PIN  as for bench/run.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
MUSL_TARGET=x86_64-unknown-linux-musl
log() { printf '[musl %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

target_dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import sys,json;print(json.load(sys.stdin)["target_directory"])')
if [[ -z ${GLIBC_BIN:-} ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet --bin llmo) || die "cargo build --release failed"
    GLIBC_BIN=$target_dir/release/llmo
fi
if [[ -z ${MUSL_BIN:-} ]]; then
    log "cargo build --release --target $MUSL_TARGET"
    (cd "$ROOT" && cargo build --release --quiet --target "$MUSL_TARGET" --bin llmo) ||
        die "the musl build failed (rustup target add $MUSL_TARGET; apt-get install musl-tools)"
    MUSL_BIN=$target_dir/$MUSL_TARGET/release/llmo
fi
declare -a LABELS=(glibc musl) PATHS=("$GLIBC_BIN" "$MUSL_BIN")
for pair in ${EXTRA_BINS:-}; do
    LABELS+=("${pair%%=*}")
    PATHS+=("${pair#*=}")
done
for p in "${PATHS[@]}"; do [[ -x $p ]] || die "$p is not an executable"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmo-musl.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# idle_kb BIN: VmRSS of `serve` on an empty database, 1 s after /health.
idle_kb() {
    local port pid kb
    port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    LLMO_DB=$TMP/idle.db "$1" serve --listen "127.0.0.1:$port" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    sleep 1
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$TMP"/idle.db*
    echo "$kb"
}

for round in $(seq 1 "$ROUNDS"); do
    for i in "${!LABELS[@]}"; do
        label=${LABELS[$i]}
        log "round $round: ${label}"
        BENCH_ONLY='^json-c32-0ms$' BENCH_SCALE=0 BENCH_OUT=$TMP/table.md LLMO_BIN=${PATHS[$i]} \
            bash "$BENCH_DIR/run.sh" >"$TMP/run.out" 2>"$TMP/run.err" ||
            die "bench/run.sh failed for $label: $(tail -n3 "$TMP/run.err")"
        grep '"target":"llmo"' "$BENCH_DIR/target/run-logs/results.jsonl" |
            sed "s/^{/{\"label\":\"$label\",\"idle_kb\":$(idle_kb "${PATHS[$i]}"),/" >>"$TMP/all.jsonl"
    done
done

python3 - "$TMP/all.jsonl" "${LABELS[@]}" -- "${PATHS[@]}" <<'PY'
import json, os, statistics, sys
args = sys.argv[2:]
cut = args.index("--")
labels, paths = args[:cut], args[cut + 1:]
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
print("| build | CPU ms / 1k req | req/s | idle RSS MiB | peak RSS MiB | binary MiB | rounds |")
print("|---|---:|---:|---:|---:|---:|---:|")
base = None
for label, path in zip(labels, paths):
    rs = [r for r in rows if r["label"] == label]
    cpu = med([1000 * 1000 * r["cpu_ticks"] / r["clk_tck"] / r["lg"]["total_requests"] for r in rs])
    rps = med([r["lg"]["rps"] for r in rs])
    idle = med([r["idle_kb"] for r in rs]) / 1024
    peak = med([r["hwm_kb"] for r in rs]) / 1024
    size = os.path.getsize(path) / 1024 / 1024
    base = base or cpu
    rel = "" if cpu == base else f" ({100 * (cpu - base) / base:+.0f} %)"
    print(f"| {label} | {cpu:.1f}{rel} | {rps:,.0f} | {idle:.1f} | {peak:.1f} | {size:.1f} | {len(rs)} |")
PY

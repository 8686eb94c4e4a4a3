#!/usr/bin/env bash
# Instructions per request of llmo, counted by callgrind: the stable figure on
# a shared or noisy machine (wall-clock RPS moves 20-40 % between runs here;
# instruction counts do not move with load).
#
#   bash bench/callgrind.sh                 # builds llmo (release) from this repo
#   LLMO_BIN=/path/to/llmo bash bench/callgrind.sh   # measure another build
#
# For each of json and stream, llmo runs twice under valgrind --tool=callgrind
# against the bench mock upstream (0 ms), once serving N1 requests and once
# N2 (concurrency 4, no warm-up); (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of
# one request with start-up, shutdown and the first requests' warm-up taken
# out. All of llmo's threads are counted (the request-log writer included).
#
# Environment: CG_N1 (default 500), CG_N2 (default 2500), CG_CONC (default 4),
# CG_ONLY=json|stream.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
N1=${CG_N1:-500}
N2=${CG_N2:-2500}
CONC=${CG_CONC:-4}
ONLY=${CG_ONLY:-}
BIN=$BENCH_DIR/target/release
USER_LLMO_BIN=${LLMO_BIN:-}
for v in $(compgen -e | grep '^LLMO_' || true); do unset "$v"; done
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost"

log() { printf '[callgrind %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v valgrind >/dev/null || die "valgrind not found (Debian: apt-get install valgrind)"
((N2 > N1)) || die "CG_N2 must be larger than CG_N1"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmo-callgrind.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

log "building bench tools (release)"
cargo build --release --quiet --manifest-path "$BENCH_DIR/Cargo.toml"
if [[ -n $USER_LLMO_BIN ]]; then
    LLMO=$USER_LLMO_BIN
else
    log "building llmo (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin llmo)
    LLMO=$ROOT/target/release/llmo
fi
[[ -x $LLMO ]] || die "$LLMO is not executable"

# start NAME CMD...: a server that prints `listening on ADDR` first; sets ADDR.
start() {
    local name=$1 line i
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=("$!")
    for ((i = 0; i < 500; i++)); do
        line=$(head -n1 "$TMP/$name.log" 2>/dev/null || true)
        if [[ $line == "listening on "* ]]; then ADDR=${line#listening on }; return 0; fi
        sleep 0.01
    done
    die "$name did not start: $(tail -n3 "$TMP/$name.log")"
}
start mock "$BIN/mock-upstream" --delay-ms 0 --chunks 20
MOCK=$ADDR

llmo() { LLMO_DB=$TMP/llmo.db XDG_CONFIG_HOME=$TMP/cfg XDG_DATA_HOME=$TMP/data "$LLMO" "$@"; }
llmo provider add mock --kind openai-compatible --base-url "http://$MOCK/v1" \
    --api-key sk-bench --models bench-model >/dev/null 2>&1 || die "provider add failed"
KEY=$(llmo key create bench --json 2>/dev/null | python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])')

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# run KIND N: total instructions of one llmo process that served N requests.
run() {
    local kind=$1 n=$2 port out pid
    port=$(free_port)
    out=$TMP/cg-$kind-$n.out
    LLMO_DB=$TMP/llmo.db XDG_CONFIG_HOME=$TMP/cfg XDG_DATA_HOME=$TMP/data \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$LLMO" serve --listen "127.0.0.1:$port" \
        >"$TMP/serve-$kind-$n.log" 2>&1 &
    pid=$!
    "$BIN/wait-ready" --url "http://127.0.0.1:$port/ready" --since-ns "$(date +%s%N)" --timeout 120 >/dev/null ||
        die "llmo under valgrind did not get ready: $(tail -n3 "$TMP/serve-$kind-$n.log")"
    local -a args=(--url "http://127.0.0.1:$port/v1/chat/completions" --concurrency "$CONC"
        --requests "$n" --warmup 0 --timeout 120 --json --header "Authorization: Bearer $KEY")
    [[ $kind == stream ]] && args+=(--stream)
    "$BIN/loadgen" "${args[@]}" >"$TMP/lg-$kind-$n.json" || die "loadgen failed"
    python3 - "$TMP/lg-$kind-$n.json" <<'EOF' || die "requests failed: $(cat "$TMP/lg-$kind-$n.json")"
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(1 if r["non2xx"] or r["errors"] or r["incomplete"] else 0)
EOF
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    awk '/^totals:/ {print $2; exit} /^summary:/ {s=$2} END {if (s) print s}' "$out" | head -n1
}

printf '| kind | requests | instructions per request |\n|---|---|---|\n'
for kind in json stream; do
    [[ -n $ONLY && $ONLY != "$kind" ]] && continue
    log "$kind: $N1 requests under callgrind"
    a=$(run "$kind" "$N1")
    log "$kind: $N2 requests under callgrind"
    b=$(run "$kind" "$N2")
    per=$(((b - a) / (N2 - N1)))
    printf '| %s | %d-%d (c=%d) | %d |\n' "$kind" "$N1" "$N2" "$CONC" "$per"
done

#!/usr/bin/env bash
# llmo benchmark: one command, everything on 127.0.0.1.
#
#   bash bench/run.sh
#
# Builds the bench tools and llmo (release), starts two mock upstreams per
# upstream delay (0 ms and 50 ms), a minimal pass-through proxy and llmo, runs
# every scenario directly against the mock, through min-proxy and through
# llmo, and prints one Markdown table (also written to bench/results.md).
#
# Environment:
#   BENCH_DURATION  measured seconds per run (default 5)
#   BENCH_WARMUP    warm-up seconds per run, not counted (default 1)
#   BENCH_CHUNKS    SSE chunks per streamed answer (default 20)
#   BENCH_PIN       1 = pin with taskset when there are >= 2 CPUs (default 1)
#   BENCH_SKIP_LLMO 1 = only direct and min-proxy (default 0)
#   LLMO_BIN        use this llmo binary instead of building the repo's
#   BENCH_OUT       where to write the table (default bench/results.md)
#   BENCH_ONLY      only the scenarios whose id matches this extended regex,
#                   e.g. 'stream-c256' or '^json-c32' (ids: KIND-NAME-DELAYms, and
#                   messages-KIND-NAME-0ms / responses-KIND-NAME-0ms for the
#                   /v1/messages passthrough and the translated /v1/responses)
#   BENCH_SCALE     0 = skip the large-catalog case (bench/scale.py; default 1)
#   BENCH_SCALE_KEYS, BENCH_SCALE_MODELS  its size (default 100000 and 10000)
#   BENCH_NICE      run everything at this nice level, e.g. -5 on a machine shared
#                   with other work (negative values need root; default: unchanged)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CHUNKS=${BENCH_CHUNKS:-20}
BENCH_SCALE_KEYS=${BENCH_SCALE_KEYS:-100000}
BENCH_SCALE_MODELS=${BENCH_SCALE_MODELS:-10000}
PIN=${BENCH_PIN:-1}
SKIP_LLMO=${BENCH_SKIP_LLMO:-0}
OUT=${BENCH_OUT:-$BENCH_DIR/results.md}
BIN=$BENCH_DIR/target/release
LOGDIR=$BENCH_DIR/target/run-logs
RESULTS=$LOGDIR/results.jsonl

# Reproducible llmo settings: ignore LLMO_* from the caller's environment
# (LLMO_BIN above is read first); the script sets LLMO_DB per run.
USER_LLMO_BIN=${LLMO_BIN:-}
for v in $(compgen -e | grep '^LLMO_' || true); do unset "$v"; done

# Never send loopback traffic through a proxy from the environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

# reason LOGFILE: the first error line of a log, else its last line.
reason() { { grep -m1 -iE '^(error|fatal)' "$1" || tail -n1 "$1"; } 2>/dev/null | tr -d '\r' | head -c 300; }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found (used to read JSON)"
command -v curl >/dev/null || die "curl not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmo-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${BENCH_NICE:-} ]]; then
    renice -n "$BENCH_NICE" -p $$ >/dev/null || die "renice -n $BENCH_NICE failed"
fi

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
: >"$RESULTS"

# ---------------------------------------------------------------- build
log "building bench tools (release)"
cargo build --release --quiet --manifest-path "$BENCH_DIR/Cargo.toml" 2>"$LOGDIR/bench-build.log" ||
    { cat "$LOGDIR/bench-build.log" >&2; die "bench build failed"; }

LLMO=""
LLMO_REASON=""
if [[ $SKIP_LLMO == 1 ]]; then
    LLMO_REASON="skipped (BENCH_SKIP_LLMO=1)"
elif [[ -n $USER_LLMO_BIN ]]; then
    if [[ -x $USER_LLMO_BIN ]]; then LLMO=$USER_LLMO_BIN; else LLMO_REASON="LLMO_BIN=$USER_LLMO_BIN is not executable"; fi
else
    log "building llmo (cargo build --release at $ROOT)"
    if (cd "$ROOT" && cargo build --release --quiet --bin llmo) >"$LOGDIR/llmo-build.log" 2>&1; then
        target_dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
            python3 -c 'import sys,json;print(json.load(sys.stdin)["target_directory"])' 2>/dev/null) ||
            target_dir=$ROOT/target
        LLMO=$target_dir/release/llmo
        [[ -x $LLMO ]] || { LLMO=""; LLMO_REASON="build succeeded but $target_dir/release/llmo is missing"; }
    else
        LLMO_REASON="cargo build --release failed: $(reason "$LOGDIR/llmo-build.log")"
    fi
fi

# ---------------------------------------------------------------- pinning
NCPU=$(nproc 2>/dev/null || echo 1)
PIN_LOAD=()
PIN_PROXY=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && ((NCPU >= 2)); then
    PIN_LOAD=(taskset -c 0)
    PIN_PROXY=(taskset -c 1)
    PIN_NOTE="pinned with taskset: loadgen and mock upstreams on CPU 0, min-proxy and llmo on CPU 1"
else
    PIN_NOTE="not pinned (taskset missing, fewer than 2 CPUs, or BENCH_PIN=0): all processes share all CPUs"
fi
log "$PIN_NOTE"

# ---------------------------------------------------------------- helpers
# start_listener NAME CMD... : starts a server that prints `listening on ADDR`
# first; sets ADDR and SPID.
start_listener() {
    local name=$1 line i
    shift
    "$@" >"$LOGDIR/$name.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for ((i = 0; i < 500; i++)); do
        line=$(head -n1 "$LOGDIR/$name.log" 2>/dev/null || true)
        if [[ $line == "listening on "* ]]; then
            ADDR=${line#listening on }
            return 0
        fi
        kill -0 "$SPID" 2>/dev/null || die "$name exited: $(tail -n3 "$LOGDIR/$name.log")"
        sleep 0.01
    done
    die "$name did not start within 5 s"
}

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# cpu_ticks PID: utime + stime in clock ticks.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat") || { echo 0; return; }
    stat=${stat##*) } # fields after the command name; field 3 is index 0
    local -a f
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}

# status_kb PID FIELD: e.g. VmRSS, VmHWM in KiB.
status_kb() {
    local k v _
    while read -r k v _; do
        if [[ $k == "$2:" ]]; then echo "$v"; return; fi
    done <"/proc/$1/status"
    echo 0
}

# sample_rss PID OUTFILE: max VmRSS every 50 ms until the file STOP exists.
sample_rss() {
    local pid=$1 out=$2 max=0 v
    while [[ ! -e $out.stop ]] && kill -0 "$pid" 2>/dev/null; do
        v=$(status_kb "$pid" VmRSS)
        ((v > max)) && max=$v
        echo "$max" >"$out"
        sleep 0.05
    done
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
LG_EXTRA=() # extra loadgen arguments for the current scenario (body, stream end, headers)

# run_one SCENARIO TARGET URL CONC STREAM(0/1) SERVER_PID(or "") [HEADER]
run_one() {
    local scenario=$1 target=$2 url=$3 conc=$4 stream=$5 spid=$6 header=${7:-}
    local -a args=(--url "$url" --concurrency "$conc" --duration "$DURATION" --warmup "$WARMUP" --json "${LG_EXTRA[@]}")
    [[ $stream == 1 ]] && args+=(--stream)
    [[ -n $header ]] && args+=(--header "$header")
    local cpu0=0 cpu1=0 hwm=0 rss=0 sampler="" out="$LOGDIR/lg-$scenario-$target.json"
    if [[ -n $spid ]]; then
        # Reset the peak-RSS counter so VmHWM is this run's peak.
        echo 5 >"/proc/$spid/clear_refs" 2>/dev/null || true
        cpu0=$(cpu_ticks "$spid")
        sample_rss "$spid" "$out.rss" &
        sampler=$!
        if ((${#PIN_LOAD[@]})); then taskset -pc 0 "$sampler" >/dev/null 2>&1 || true; fi
    fi
    log "$scenario  $target  c=$conc"
    if ! "${PIN_LOAD[@]}" "$BIN/loadgen" "${args[@]}" >"$out" 2>"$out.err"; then
        log "loadgen failed: $(tail -n2 "$out.err")"
        echo '{"requests":0,"total_requests":0,"rps":0,"non2xx":0,"errors":1,"incomplete":0,"latency_us":null,"ttfb_us":null,"first_error":"loadgen failed"}' >"$out"
    fi
    if [[ -n $spid ]]; then
        cpu1=$(cpu_ticks "$spid")
        hwm=$(status_kb "$spid" VmHWM)
        touch "$out.rss.stop"
        wait "$sampler" 2>/dev/null || true
        rss=$(cat "$out.rss" 2>/dev/null || echo 0)
    fi
    printf '{"scenario":"%s","target":"%s","cpu_ticks":%d,"clk_tck":%d,"hwm_kb":%d,"rss_sampled_kb":%d,"lg":%s}\n' \
        "$scenario" "$target" $((cpu1 - cpu0)) "$CLK_TCK" "$hwm" "$rss" "$(cat "$out")" >>"$RESULTS"
}

# ---------------------------------------------------------------- upstreams
declare -A MOCK MP MP_PID
for d in 0 50; do
    for side in a b; do
        start_listener "mock-$d-$side" "${PIN_LOAD[@]}" "$BIN/mock-upstream" --delay-ms "$d" --chunks "$CHUNKS"
        MOCK[$d$side]=$ADDR
    done
    start_listener "min-proxy-$d" "${PIN_PROXY[@]}" "$BIN/min-proxy" --upstream "http://${MOCK[${d}a]}"
    MP[$d]=$ADDR
    MP_PID[$d]=$SPID
done
sleep 0.5
MP_IDLE_KB=$(status_kb "${MP_PID[0]}" VmRSS)
log "mocks: 0 ms ${MOCK[0a]} ${MOCK[0b]}, 50 ms ${MOCK[50a]} ${MOCK[50b]}; min-proxy ${MP[0]} ${MP[50]}"

# ---------------------------------------------------------------- llmo
LLMO_PID=""
LLMO_ADDR=""
KEY=""
declare -A LLMO_READY_MS LLMO_IDLE_KB

# llmo_cmd TAG ARGS...: runs llmo against this delay's database.
llmo_cmd() {
    local tag=$1
    shift
    LLMO_DB=$TMP/llmo-$tag.db XDG_CONFIG_HOME=$TMP/xdg-config XDG_DATA_HOME=$TMP/xdg-data \
        "$LLMO" "$@"
}

# llmo_setup TAG: providers + client key; sets KEY_<TAG>.
llmo_setup() {
    local tag=$1 l=$LOGDIR/llmo-setup-$1.log key
    if ! llmo_cmd "$tag" provider add mock-a --kind openai-compatible --base-url "http://${MOCK[${tag}a]}/v1" \
        --api-key sk-bench-a --models bench-model >>"$l" 2>&1; then
        LLMO_REASON="\`llmo provider add\` failed: $(reason "$l")"
        return 1
    fi
    if ! llmo_cmd "$tag" provider add mock-b --kind openai-compatible --base-url "http://${MOCK[${tag}b]}/v1" \
        --api-key sk-bench-b --models bench-model >>"$l" 2>&1; then
        LLMO_REASON="\`llmo provider add\` failed: $(reason "$l")"
        return 1
    fi
    if ! key=$(llmo_cmd "$tag" key create bench --json 2>>"$l" |
        python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])' 2>>"$l") || [[ -z $key ]]; then
        LLMO_REASON="\`llmo key create bench --json\` did not print a JSON object with \"key\": $(reason "$l")"
        return 1
    fi
    printf -v "KEY_$tag" '%s' "$key"
    # The messages scenario: an anthropic-kind provider on the same mock (passthrough).
    if ! llmo_cmd "$tag" provider add mock-anth --kind anthropic --base-url "http://${MOCK[${tag}a]}" \
        --api-key sk-bench-anth --models bench-claude >>"$l" 2>&1; then
        LLMO_REASON="\`llmo provider add --kind anthropic\` failed: $(reason "$l")"
        return 1
    fi
}

# llmo_start TAG: serve on a fresh port; measures start-to-ready and idle RSS.
llmo_start() {
    local tag=$1 port t0 ms code
    port=$(free_port)
    LLMO_ADDR=127.0.0.1:$port
    t0=$(date +%s%N)
    LLMO_DB=$TMP/llmo-$tag.db XDG_CONFIG_HOME=$TMP/xdg-config XDG_DATA_HOME=$TMP/xdg-data \
        "${PIN_PROXY[@]}" "$LLMO" serve --listen "$LLMO_ADDR" >"$LOGDIR/llmo-serve-$tag.log" 2>&1 &
    LLMO_PID=$!
    PIDS+=("$LLMO_PID")
    if ! ms=$("$BIN/wait-ready" --url "http://$LLMO_ADDR/ready" --since-ns "$t0" --timeout 10 2>/dev/null); then
        if kill -0 "$LLMO_PID" 2>/dev/null; then
            LLMO_REASON="\`llmo serve\` did not answer 200 on GET /ready within 10 s"
        else
            LLMO_REASON="\`llmo serve\` exited: $(reason "$LOGDIR/llmo-serve-$tag.log")"
        fi
        llmo_stop
        return 1
    fi
    LLMO_READY_MS[$tag]=$ms
    sleep 1
    LLMO_IDLE_KB[$tag]=$(status_kb "$LLMO_PID" VmRSS)
    KEY=KEY_$tag
    KEY=${!KEY}
    # One request of each kind must work before we measure anything.
    local body='{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
    for stream in false true; do
        body='{"model":"bench-model","messages":[{"role":"user","content":"hi"}],"stream":'$stream'}'
        code=$(curl -sS -o "$LOGDIR/llmo-check-$tag.out" -w '%{http_code}' --max-time 10 \
            -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
            -d "$body" "http://$LLMO_ADDR/v1/chat/completions" 2>&1) || true
        if [[ $code != 200 ]]; then
            LLMO_REASON="POST /v1/chat/completions (stream=$stream) through llmo answered HTTP $code: $(head -c 200 "$LOGDIR/llmo-check-$tag.out" 2>/dev/null | tr '\n' ' ')"
            llmo_stop
            return 1
        fi
    done
    # The messages and responses routes: a failure skips only their llmo rows.
    API_OK[messages]=1
    API_OK[responses]=1
    for api in messages responses; do
        for stream in false true; do
            code=$(curl -sS -o "$LOGDIR/llmo-check-$api-$tag.out" -w '%{http_code}' --max-time 10 \
                -H "Authorization: Bearer $KEY" -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' \
                -d "$(api_body "$api" "$stream")" "http://$LLMO_ADDR$(api_path "$api")" 2>&1) || true
            if [[ $code != 200 && ${API_OK[$api]} == 1 ]]; then
                API_OK[$api]=0
                API_REASON[$api]="POST $(api_path "$api") (stream=$stream) through llmo answered HTTP $code: $(head -c 200 "$LOGDIR/llmo-check-$api-$tag.out" 2>/dev/null | tr '\n' ' ')"
                log "llmo: skipping the $api rows: ${API_REASON[$api]}"
            fi
        done
    done
}

# The request each API's scenarios send: api_path API, api_body API STREAM(true/false),
# api_end API (what a complete stream's last frames contain; empty: data: [DONE]).
declare -A API_OK=([chat]=1) API_REASON=()
api_path() {
    case $1 in
    messages) echo /v1/messages ;;
    responses) echo /v1/responses ;;
    *) echo /v1/chat/completions ;;
    esac
}
api_body() {
    case $1 in
    messages) echo '{"model":"bench-claude","max_tokens":32,"messages":[{"role":"user","content":"Say hello."}],"stream":'"$2"'}' ;;
    responses) echo '{"model":"bench-model","input":"Say hello.","max_output_tokens":32,"stream":'"$2"'}' ;;
    esac
}
api_end() {
    case $1 in
    messages) echo 'event: message_stop' ;;
    responses) echo 'event: response.completed' ;;
    esac
}

llmo_stop() {
    if [[ -n $LLMO_PID ]]; then
        kill "$LLMO_PID" 2>/dev/null || true
        wait "$LLMO_PID" 2>/dev/null || true
        LLMO_PID=""
    fi
}

if [[ -n $LLMO ]]; then
    log "setting up llmo ($LLMO)"
    if llmo_setup 0 && llmo_setup 50; then :; else LLMO=""; fi
fi
[[ -z $LLMO ]] && log "llmo: not available ($LLMO_REASON)"

# How busy the machine already is (other builds share it): CPU busy % over 1 s.
cpu_busy_pct() {
    local -a a b
    read -r -a a </proc/stat
    sleep 1
    read -r -a b </proc/stat
    local busy0=$((a[1] + a[2] + a[3] + a[6] + a[7] + a[8])) busy1=$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]))
    local all0=$((busy0 + a[4] + a[5])) all1=$((busy1 + b[4] + b[5]))
    echo $((100 * (busy1 - busy0) / (all1 - all0 > 0 ? all1 - all0 : 1)))
}
LOADAVG_START="$(cpu_busy_pct)% of all CPUs busy in the 1 s before the runs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
log "machine: $LOADAVG_START"

# ---------------------------------------------------------------- scenarios
# name:concurrency:stream(0/1):layout, grouped by upstream delay. Layout
# "split" is the pinning above; "same" (only when pinned) moves the proxy onto
# CPU 0 with the load generator and the mock for that run, so that at c=1 the
# proxied path has no more cross-CPU wake-ups than the direct one.
SCEN_0=("c1:1:0:split" "c32:32:0:split" "c1:1:1:split" "c32:32:1:split")
if ((${#PIN_LOAD[@]})); then
    SCEN_0+=("c1same:1:0:same" "c1same:1:1:same")
fi
SCEN_50=("c64:64:0:split" "c256:256:0:split" "c64:64:1:split" "c256:256:1:split")
# The Anthropic Messages ingress passed through to an anthropic-kind provider
# (direct and min-proxy: the mock's /v1/messages), and the Responses ingress
# translated to Chat Completions (direct and min-proxy: the mock's own
# /v1/responses, the native shape, for reference). Ids messages-KIND-NAME-0ms,
# responses-KIND-NAME-0ms.
SCEN_0+=("c1:1:0:split:messages" "c32:32:0:split:messages" "c1:1:1:split:messages" "c32:32:1:split:messages"
    "c32:32:0:split:responses" "c32:32:1:split:responses")

# repin PID CPU: moves every thread of a running process.
repin() { taskset -apc "$2" "$1" >/dev/null 2>&1 || log "warning: taskset -apc $2 $1 failed"; }

for d in 0 50; do
    llmo_up=0
    if [[ -n $LLMO ]]; then
        if llmo_start "$d"; then llmo_up=1; else LLMO=""; log "llmo: not available ($LLMO_REASON)"; fi
    fi
    declare -n scen="SCEN_$d"
    for s in "${scen[@]}"; do
        IFS=: read -r name conc stream layout api <<<"$s"
        api=${api:-chat}
        kind=$([[ $stream == 1 ]] && echo stream || echo json)
        id="$kind-$name-${d}ms"
        [[ $api != chat ]] && id="$api-$id"
        [[ -n ${BENCH_ONLY:-} && ! $id =~ $BENCH_ONLY ]] && continue
        path=$(api_path "$api")
        LG_EXTRA=()
        if [[ $api != chat ]]; then
            LG_EXTRA=(--body "$(api_body "$api" "$([[ $stream == 1 ]] && echo true || echo false)")"
                --stream-end "$(api_end "$api")" --header 'anthropic-version: 2023-06-01')
        fi
        run_one "$id" direct "http://${MOCK[${d}a]}$path" "$conc" "$stream" ""
        [[ $layout == same ]] && repin "${MP_PID[$d]}" 0
        run_one "$id" min-proxy "http://${MP[$d]}$path" "$conc" "$stream" "${MP_PID[$d]}"
        [[ $layout == same ]] && repin "${MP_PID[$d]}" 1
        if ((llmo_up)) && [[ ${API_OK[$api]:-0} == 1 ]]; then
            [[ $layout == same ]] && repin "$LLMO_PID" 0
            run_one "$id" llmo "http://$LLMO_ADDR$path" "$conc" "$stream" "$LLMO_PID" \
                "Authorization: Bearer $KEY"
            [[ $layout == same ]] && repin "$LLMO_PID" 1
        fi
    done
    unset -n scen
    llmo_stop
done

# ---------------------------------------------------------------- report
export R_DATE R_CPUS=$NCPU R_CPU_MODEL R_KERNEL R_PIN=$PIN_NOTE R_DURATION=$DURATION R_WARMUP=$WARMUP \
    R_CHUNKS=$CHUNKS R_COMMIT R_LLMO_REASON=$LLMO_REASON R_LOADAVG=$LOADAVG_START \
    R_MESSAGES_REASON=${API_REASON[messages]:-} R_RESPONSES_REASON=${API_REASON[responses]:-} \
    R_READY_0=${LLMO_READY_MS[0]:-} R_READY_50=${LLMO_READY_MS[50]:-} \
    R_IDLE_0=${LLMO_IDLE_KB[0]:-} R_IDLE_50=${LLMO_IDLE_KB[50]:-} R_MP_IDLE=$MP_IDLE_KB
R_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
R_CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
R_KERNEL=$(uname -sr)
R_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 "$BENCH_DIR/report.py" "$RESULTS" | tee "$OUT"

# ---------------------------------------------------------------- large catalog
# llmo with 100,000 client keys and 10,000 models: start to ready, reloads,
# memory per key (bench/scale.py; BENCH_SCALE=0 skips it, BENCH_ONLY=scale
# runs it alone with the other scenarios filtered out).
if [[ -n $LLMO && ${BENCH_SCALE:-1} == 1 && ( -z ${BENCH_ONLY:-} || scale =~ $BENCH_ONLY ) ]]; then
    log "large catalog: $BENCH_SCALE_KEYS keys, $BENCH_SCALE_MODELS models (bench/scale.py)"
    if python3 "$BENCH_DIR/scale.py" --llmo "$LLMO" --keys "$BENCH_SCALE_KEYS" --models "$BENCH_SCALE_MODELS" \
        >"$LOGDIR/scale.md" 2>"$LOGDIR/scale.log"; then
        { echo; cat "$LOGDIR/scale.md"; } | tee -a "$OUT"
    else
        log "large catalog: failed: $(reason "$LOGDIR/scale.log")"
    fi
fi
log "table written to $OUT; raw results in $RESULTS"

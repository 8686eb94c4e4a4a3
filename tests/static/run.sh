#!/usr/bin/env bash
# The static binary (issue 11 §1), checked the way it ships: built for
# x86_64-unknown-linux-musl (cargo build; incremental when it exists), linked
# statically, at most 20 MiB, and run alone in an empty chroot (no libc, no
# /etc/ssl, no HOME): `--version`, then `serve` answering /health and
# stopping with exit 0 on SIGTERM, and reaching an HTTPS upstream signed by
# the test CA (tests/fixtures/tls) given by SSL_CERT_FILE, a clear 502
# without it. Needs root (chroot), the musl target
# (`rustup target add x86_64-unknown-linux-musl`) and musl-tools (musl-gcc).
#
#   bash tests/static/run.sh
#
# LLMO_STATIC_BIN=PATH skips the build and checks that binary instead.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=x86_64-unknown-linux-musl
MAX_BYTES=$((20 * 1024 * 1024))

die() { echo "static: FAIL: $*" >&2; exit 1; }
say() { echo "static: $*"; }

CHROOT=$(command -v chroot) || die "chroot not found (coreutils)"
[[ $(id -u) == 0 ]] || die "chroot needs root; run as root (CI does)"

if [[ -n ${LLMO_STATIC_BIN:-} ]]; then
    BIN=$LLMO_STATIC_BIN
else
    rustup target list --installed 2>/dev/null | grep -qx "$TARGET" ||
        die "the Rust target $TARGET is missing: rustup target add $TARGET"
    command -v musl-gcc >/dev/null ||
        die "musl-gcc is missing (it compiles the bundled SQLite): apt-get install musl-tools"
    say "cargo build --release --target $TARGET"
    t0=$(date +%s)
    (cd "$ROOT" && cargo build --release --target "$TARGET" --bin llmo) ||
        die "cargo build --release --target $TARGET failed"
    say "build took $(($(date +%s) - t0)) s"
    target_dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    BIN=$target_dir/$TARGET/release/llmo
fi
[[ -x $BIN ]] || die "$BIN is missing or not executable"

# 1. Linked statically: no program interpreter, no shared libraries.
kind=$(file -b "$BIN")
say "file: $kind"
[[ $kind == *"statically linked"* || $kind == *"static-pie linked"* ]] ||
    die "$BIN is not statically linked: $kind"
if readelf -l "$BIN" | grep -q INTERP; then die "$BIN asks for a dynamic loader (INTERP)"; fi
size=$(stat -c %s "$BIN")
say "size: $size bytes ($(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB; limit 20 MiB)"
((size <= MAX_BYTES)) || die "$BIN is $size bytes, over 20 MiB"

# 2. Alone in an empty root: nothing but the binary.
DIR=$(mktemp -d "${TMPDIR:-/tmp}/llmo-static.XXXXXX")
SERVE_PID=""
HTTPS_PID=""
cleanup() {
    [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null
    [[ -n $HTTPS_PID ]] && kill "$HTTPS_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
cp "$BIN" "$DIR/llmo"
version=$(env -i "$CHROOT" "$DIR" /llmo --version) || die "/llmo --version failed in an empty chroot"
say "chroot: $version"
[[ $version == "llmo "* ]] || die "unexpected --version output: $version"

# serve_start VAR=VALUE...: `serve` in the empty root with only these
# variables; sets SERVE_PID and ADDR once it listens.
serve_start() {
    : >"$DIR/serve.log"
    env -i LLMO_DB=/data/llmo.db "$@" "$CHROOT" "$DIR" /llmo serve --allow-anonymous \
        --listen 127.0.0.1:0 2>"$DIR/serve.log" &
    SERVE_PID=$!
    ADDR=""
    for _ in $(seq 1 200); do
        ADDR=$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$DIR/serve.log" | head -1)
        [[ -n $ADDR ]] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited in the chroot: $(cat "$DIR/serve.log")"
        sleep 0.05
    done
    die "serve did not listen within 10 s: $(cat "$DIR/serve.log")"
}
# serve_stop: SIGTERM, and the exit code must be 0.
serve_stop() {
    kill -TERM "$SERVE_PID"
    local rc=0
    wait "$SERVE_PID" || rc=$?
    SERVE_PID=""
    ((rc == 0)) || die "serve exited $rc after SIGTERM: $(cat "$DIR/serve.log")"
    grep -q "stopped" "$DIR/serve.log" || die "no 'stopped' line: $(cat "$DIR/serve.log")"
}
# chat: POSTs a chat completion; prints the status, the body in $DIR/chat.out.
chat() {
    curl -s -o "$DIR/chat.out" -w '%{http_code}' -H 'content-type: application/json' \
        -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}' \
        "http://$ADDR/v1/chat/completions" || true
}

# 3. serve in the empty root: /health answers, SIGTERM stops it with 0.
serve_start
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/health") || true
[[ $code == 200 ]] || die "GET /health answered ${code:-nothing}: $(cat "$DIR/serve.log")"
say "chroot: serve on $ADDR, GET /health 200"
serve_stop
say "chroot: SIGTERM -> exit 0"

# 4. HTTPS upstream with no /etc/ssl: a mock signed by the test CA is
# reached when SSL_CERT_FILE names the CA, and is a clear 502 without it.
FIX=$ROOT/tests/fixtures/tls
python3 - "$FIX" >"$DIR/https.port" 2>"$DIR/https.log" <<'PY' &
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1] + "/server.pem", sys.argv[1] + "/server.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
HTTPS_PID=$!
for _ in $(seq 1 100); do [[ -s $DIR/https.port ]] && break; sleep 0.05; done
[[ -s $DIR/https.port ]] || die "the HTTPS mock did not start: $(cat "$DIR/https.log")"
cp "$FIX/ca.pem" "$DIR/ca.pem"
env -i LLMO_DB=/data/llmo.db "$CHROOT" "$DIR" /llmo provider add tls --kind openai-compatible \
    --base-url "https://127.0.0.1:$(cat "$DIR/https.port")/v1" --no-api-key --models m >/dev/null 2>"$DIR/add.log" ||
    die "provider add failed in the chroot: $(cat "$DIR/add.log")"
serve_start SSL_CERT_FILE=/ca.pem
code=$(chat)
[[ $code == 200 ]] || die "chat through the HTTPS mock with SSL_CERT_FILE answered $code: $(cat "$DIR/chat.out")"
serve_stop
say "chroot: HTTPS upstream signed by SSL_CERT_FILE's CA -> 200"
serve_start
code=$(chat)
[[ $code == 502 ]] && grep -q "certificate not trusted (UnknownIssuer)" "$DIR/chat.out" ||
    die "without SSL_CERT_FILE: want 502 naming UnknownIssuer, got $code: $(cat "$DIR/chat.out")"
serve_stop
kill "$HTTPS_PID" 2>/dev/null || true
say "chroot: without it -> 502 \"upstream TLS certificate not trusted (UnknownIssuer) ...\""
echo "static: 5 passed, 0 failed"

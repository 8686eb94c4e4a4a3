#!/usr/bin/env bash
# The static binary (issue 11 §1), checked the way it ships: built for
# x86_64-unknown-linux-musl (cargo build; incremental when it exists), linked
# statically, at most 20 MiB, and run alone in an empty chroot (no libc, no
# /etc/ssl, no HOME): `--version`, then `serve` answering /health and
# stopping with exit 0 on SIGTERM. Needs root (chroot), the musl target
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
say "size: $size bytes ($((size / 1024 / 1024)) MiB; limit 20 MiB)"
((size <= MAX_BYTES)) || die "$BIN is $size bytes, over 20 MiB"

# 2. Alone in an empty root: nothing but the binary.
DIR=$(mktemp -d "${TMPDIR:-/tmp}/llmo-static.XXXXXX")
SERVE_PID=""
cleanup() {
    [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
cp "$BIN" "$DIR/llmo"
version=$(env -i "$CHROOT" "$DIR" /llmo --version) || die "/llmo --version failed in an empty chroot"
say "chroot: $version"
[[ $version == "llmo "* ]] || die "unexpected --version output: $version"

# 3. serve in the empty root: /health answers, SIGTERM stops it with 0.
env -i LLMO_DB=/data/llmo.db "$CHROOT" "$DIR" /llmo serve --listen 127.0.0.1:0 \
    2>"$DIR/serve.log" &
SERVE_PID=$!
addr=""
for _ in $(seq 1 200); do
    addr=$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$DIR/serve.log" | head -1)
    [[ -n $addr ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited in the chroot: $(cat "$DIR/serve.log")"
    sleep 0.05
done
[[ -n $addr ]] || die "serve did not listen within 10 s: $(cat "$DIR/serve.log")"
code=$(curl -s -o "$DIR/health.out" -w '%{http_code}' "http://$addr/health") || true
[[ $code == 200 ]] || die "GET /health answered ${code:-nothing}: $(cat "$DIR/serve.log")"
say "chroot: serve on $addr, GET /health 200"
kill -TERM "$SERVE_PID"
rc=0
wait "$SERVE_PID" || rc=$?
SERVE_PID=""
((rc == 0)) || die "serve exited $rc after SIGTERM: $(cat "$DIR/serve.log")"
grep -q "stopped" "$DIR/serve.log" || die "no 'stopped' line: $(cat "$DIR/serve.log")"
say "chroot: SIGTERM -> exit 0"
echo "static: 3 passed, 0 failed"

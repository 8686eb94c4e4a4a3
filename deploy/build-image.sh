#!/usr/bin/env bash
# Builds llmo's container image from the static musl binary with buildah
# (no daemon): checks that the binary is there first, then prints the size.
#
#   cargo build --release --target x86_64-unknown-linux-musl
#   deploy/build-image.sh [-t NAME:TAG] [extra `buildah bud` arguments...]
#
# Default tag: llmo:VERSION and llmo:latest (VERSION from Cargo.toml).
# BUILDAH='buildah --storage-driver vfs' (global flags included) replaces the
# buildah command, as machines without overlay mounts need.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/x86_64-unknown-linux-musl/release/llmo
build_cmd="cargo build --release --target x86_64-unknown-linux-musl"
die() { printf 'deploy/build-image.sh: %s\n' "$*" >&2; exit 1; }

[ -f "$bin" ] || die "$bin is missing: build the static binary first with \`$build_cmd\` (add the target once with \`rustup target add x86_64-unknown-linux-musl\`)"
if command -v file >/dev/null && ! file -L "$bin" | grep -q 'static'; then
    die "$bin is not statically linked ($(file -b "$bin" | cut -d, -f1-2)); a FROM scratch image has no libc: rebuild it with \`$build_cmd\`"
fi
read -r -a buildah <<<"${BUILDAH:-buildah}"
command -v "${buildah[0]}" >/dev/null || die "buildah is missing: apt-get install buildah (or use \`docker build --format docker -f Containerfile .\`)"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
source=$(git config --get remote.origin.url 2>/dev/null || true)
tags=(-t "llmo:$version" -t llmo:latest)
if [ "${1:-}" = "-t" ] && [ -n "${2:-}" ]; then
    tags=(-t "$2")
    shift 2
fi

start=$SECONDS
# --format docker keeps the HEALTHCHECK (OCI images have no field for it);
# chroot isolation: the Containerfile has no RUN step, nothing is isolated.
"${buildah[@]}" bud --format docker --isolation chroot \
    --build-arg "VERSION=$version" --build-arg "SOURCE=${source:-unknown}" \
    "${tags[@]}" -f Containerfile "$@" .
size=$("${buildah[@]}" images --noheading --format '{{.Size}}' "${tags[1]}" | head -n 1)
echo "built ${tags[1]} in $((SECONDS - start))s: $size" >&2

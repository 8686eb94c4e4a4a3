#!/usr/bin/env bash
# Stand-in for llmo that speaks the CLI run.sh uses and serves through
# min-proxy, to test the harness itself before the gateway exists:
#
#   LLMO_BIN=bench/fake-llmo.sh bash bench/run.sh
#
# Its "llmo" rows must then match the min-proxy rows within noise.
set -euo pipefail
db=${LLMO_DB:?LLMO_DB must be set}
case "${1:-} ${2:-}" in
"provider add")
    shift 2
    url=""
    while (($#)); do
        [[ $1 == --base-url ]] && url=$2
        shift
    done
    [[ -s $db ]] || echo "$url" >"$db" # the first provider is the one served
    echo "added provider"
    ;;
"key create")
    echo '{"key":"sk-llmo-fake-bench-key","name":"bench"}'
    ;;
"serve --listen")
    up=$(head -n1 "$db")
    exec "$(dirname "$0")/target/release/min-proxy" --listen "$3" --upstream "${up%/v1}"
    ;;
*)
    echo "fake-llmo: unsupported: $*" >&2
    exit 2
    ;;
esac

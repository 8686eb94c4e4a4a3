#!/usr/bin/env bash
# The container tests (issue 11 §2-§4): the image end to end under podman,
# compose.yaml under podman-compose, and the Kubernetes base rendered,
# validated offline and run under podman as its manifest says. Stdlib Python
# plus PyYAML and kubernetes-validate from the venv target/py-venv.
#
#   tests/container/run.sh              # all three
#   tests/container/run.sh image k8s    # some
#
# Needs root, buildah, podman, runc, podman-compose, kubectl, and the static
# binary: cargo build --release --target x86_64-unknown-linux-musl.
# Everything it starts is named llmo-ctest-<pid>-... and removed at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=target/x86_64-unknown-linux-musl/release/llmo
if [ ! -f "$bin" ]; then
    echo "tests/container/run.sh: $bin is missing: cargo build --release --target x86_64-unknown-linux-musl" >&2
    exit 1
fi
venv=target/py-venv
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c 'import yaml, kubernetes_validate' 2>/dev/null; then
    echo "==> pip install pyyaml kubernetes-validate (into $venv)" >&2
    "$py" -m pip install --quiet --disable-pip-version-check pyyaml kubernetes-validate
fi

start=$SECONDS
tests=("$@")
((${#tests[@]})) || tests=(image compose k8s)
for t in "${tests[@]}"; do
    printf '\n==> tests/container/%s_test.py\n' "$t" >&2
    "$py" "tests/container/${t}_test.py"
done
echo "tests/container: ${#tests[@]} passed, 0 failed in $((SECONDS - start))s" >&2

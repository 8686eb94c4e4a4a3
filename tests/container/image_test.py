"""The container image (issue 11 §2 and its bad input), end to end under
podman: built from the musl binary, run read-only as uid 65532 with every
capability dropped and the database on a /data volume, configured from
inside with `podman exec CTR llmo ...`, serving a chat completion to a mock
upstream on the host, stopped with SIGTERM, restarted on the same volume.

    python3 tests/container/image_test.py      (run by tests/container/run.sh)

Needs root, buildah, podman, runc, and the binary from
`cargo build --release --target x86_64-unknown-linux-musl`.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import lib
from lib import check, log

ADMIN = "llmo-admin-ctest-key-0000000001"
UPSTREAM_KEY = "sk-upstream-ctest-0001"
HARDENED = ["--read-only", "--user", "65532:65532", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges"]
S = {}  # what later cases use: image, data dir, port, client key, ...


def cargo_version():
    with open(os.path.join(lib.ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "(.*)"$', f.read(), re.M).group(1)


def case_missing_binary():
    """A build without the musl binary stops with the cargo command: from
    deploy/build-image.sh, and from a bare `buildah bud` (the path)."""
    ctx = tempfile.mkdtemp(prefix="llmo-ctest-ctx-")
    lib.at_exit(lambda: shutil.rmtree(ctx, ignore_errors=True))
    for f in ("Containerfile", ".containerignore", "Cargo.toml"):
        shutil.copy(os.path.join(lib.ROOT, f), ctx)
    shutil.copytree(os.path.join(lib.ROOT, "deploy"), os.path.join(ctx, "deploy"))
    lib.at_exit(lambda: lib.podman("rmi", "-f", lib.IMAGE + "-missing", check_rc=False))
    r = lib.run(["bash", "deploy/build-image.sh", "-t", lib.IMAGE + "-missing"], check_rc=False,
                env=dict(lib.ENV, BUILDAH=" ".join(lib.BUILDAH)), timeout=60, cwd=ctx)
    check(r.returncode == 1, f"build-image.sh without the binary: exit {r.returncode}")
    err = r.stderr.strip()
    check(len(err.splitlines()) == 1 and
          "cargo build --release --target x86_64-unknown-linux-musl" in err, err)
    bare = subprocess.run(lib.BUILDAH + ["bud", "--isolation", "chroot", "-f", "Containerfile",
                                         "-t", lib.IMAGE + "-missing", "."],
                          cwd=ctx, capture_output=True, text=True, env=lib.ENV, timeout=60)
    check(bare.returncode != 0 and "target/x86_64-unknown-linux-musl/release/llmo" in bare.stderr
          and "no such file" in bare.stderr, f"bare buildah: {bare.returncode} {bare.stderr[-300:]}")
    return err


def case_build_and_inspect():
    t = time.monotonic()
    S["image"] = lib.build_image()
    S["build_s"] = time.monotonic() - t
    img = lib.inspect_image(S["image"])
    cfg = img["Config"]
    size = img["Size"]
    check(size <= lib.MAX_IMAGE_BYTES, f"image is {size} bytes (> {lib.MAX_IMAGE_BYTES})")
    check(cfg.get("User") == "65532:65532", f"user {cfg.get('User')}")
    check(cfg.get("Entrypoint") == ["/usr/local/bin/llmo"], f"entrypoint {cfg.get('Entrypoint')}")
    check(cfg.get("Cmd") == ["serve"], f"cmd {cfg.get('Cmd')}")
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    check(env.get("LLMO_DB") == "/data/llmo.db" and env.get("LLMO_LISTEN") == "0.0.0.0:8000",
          f"env {env}")
    check(list(cfg.get("Volumes") or {}) == ["/data"], f"volumes {cfg.get('Volumes')}")
    check(list(cfg.get("ExposedPorts") or {}) == ["8000/tcp"], f"ports {cfg.get('ExposedPorts')}")
    labels = cfg.get("Labels") or {}
    want = {"title": "llmo", "version": cargo_version(), "licenses": "Apache-2.0"}
    for k, v in want.items():
        got = labels.get(f"org.opencontainers.image.{k}")
        check(got == v, f"label {k}: {got!r}, want {v!r}")
    check(labels.get("org.opencontainers.image.source"), "label source missing")
    hc = img.get("Healthcheck") or {}
    check(hc.get("Test", [])[:3] == ["CMD", "/usr/local/bin/llmo", "health"],
          f"healthcheck {hc} (built without --format docker?)")
    # Exactly two things inside: the binary and an empty /data owned by
    # 65532 (so a fresh named volume is too); nothing else of the context.
    root = lib.podman("image", "mount", S["image"]).stdout.strip()
    try:
        files = {}
        for d, dirs, names in os.walk(root):
            for n in dirs + names:
                st = os.lstat(os.path.join(d, n))
                files["/" + os.path.relpath(os.path.join(d, n), root)] = (st.st_uid, st.st_gid)
    finally:
        lib.podman("image", "unmount", S["image"], check_rc=False)
    want = {"/data": (65532, 65532), "/usr": (0, 0), "/usr/local": (0, 0),
            "/usr/local/bin": (0, 0), "/usr/local/bin/llmo": (0, 0)}
    check(files == want, f"image files {files}")
    layers = len(img.get("RootFS", {}).get("Layers", []))
    return f"{size / 1e6:.1f} MB, {layers} layers, built in {S['build_s']:.1f}s"


def serve(name, data, port, extra=()):
    return lib.start(name, HARDENED + [
        "-v", f"{data}:/data", "-e", f"LLMO_LISTEN=127.0.0.1:{port}",
        "-e", f"LLMO_ADMIN_KEY={ADMIN}", "-e", "LLMO_SHUTDOWN_TIMEOUT=5s", *extra])


def case_run_and_configure_from_inside():
    data, port = lib.data_dir(), lib.free_port()
    base = f"http://127.0.0.1:{port}"
    S.update(data=data, port=port, base=base)
    ctr = S["ctr"] = serve("main", data, port)
    lib.wait_status(f"{base}/health", 200)
    body = lib.wait_status(f"{base}/ready", 503)
    check("no providers" in str(body.get("problem")), f"/ready before a provider: {body}")
    hc = lib.podman("healthcheck", "run", ctr, check_rc=False)
    check(hc.returncode != 0, "HEALTHCHECK healthy before any provider")

    mock = S["mock"] = lib.Mock()
    lib.exec_(ctr, "llmo", "provider", "add", "mock", "--kind", "openai-compatible",
              "--base-url", mock.url, "--api-key", "-", "--models", "pong",
              "--timeout", "30s", "--max-retries", "0", stdin=UPSTREAM_KEY)
    lib.wait_status(f"{base}/ready", 200)
    hc = lib.podman("healthcheck", "run", ctr, check_rc=False)
    check(hc.returncode == 0, f"HEALTHCHECK once ready: {hc.returncode} {hc.stdout}{hc.stderr}")
    lib.exec_(ctr, "llmo", "model", "add", "stall", "--provider", "mock=stall")
    out = lib.exec_(ctr, "llmo", "--json", "key", "create", "ctest").stdout
    key = S["key"] = json.loads(out)["key"]
    for cmd in (["doctor"], ["migrate", "status"], ["health"]):
        r = lib.exec_(ctr, "llmo", *cmd, check_rc=False)
        check(r.returncode == 0, f"llmo {' '.join(cmd)} -> {r.returncode}\n{r.stdout}{r.stderr}")
        check(UPSTREAM_KEY not in r.stdout + r.stderr, f"llmo {cmd[0]} printed the upstream key")

    st, body = lib.chat(base, key, "pong")
    check(st == 200 and body["choices"][0]["message"]["content"] == "pong", f"chat: {st} {body}")
    check(len(mock.hits) == 1 and mock.hits[0][1] == f"Bearer {UPSTREAM_KEY}",
          f"mock saw {mock.hits}")
    lib.eventually(lambda: log_rows(base) >= 1, "the chat's log row")
    return f"/ready 503 -> 200, exec provider/model/key/doctor/migrate/health ok, chat reached the mock"


def log_rows(base):
    st, body = lib.http("GET", f"{base}/admin/logs?limit=100",
                        headers={"authorization": f"Bearer {ADMIN}"})
    return len(body["data"]) if st == 200 else -1


def case_sigterm_exits_0_within_the_shutdown_timeout():
    """`podman stop` sends SIGTERM while a request is in flight: the request
    is cut at LLMO_SHUTDOWN_TIMEOUT=5s with a 503, the container exits 0
    well before podman's own 30 s kill."""
    ctr, base = S["ctr"], S["base"]
    inflight = {}
    t = threading.Thread(target=lambda: inflight.update(r=lib.chat(base, S["key"], "stall", 30)))
    t.start()
    lib.eventually(lambda: any(h[2].get("model") == "stall" for h in S["mock"].hits),
                   "the in-flight request at the mock")
    started = time.monotonic()
    lib.podman("stop", "-t", "30", ctr, timeout=60)
    took = time.monotonic() - started
    t.join(10)
    S["mock"].release.set()
    state = lib.podman("inspect", ctr, "--format", "{{.State.ExitCode}} {{.State.Status}}").stdout.split()
    check(state == ["0", "exited"], f"after podman stop: exit code/state {state}")
    check(took < 10, f"podman stop took {took:.1f}s (shutdown timeout 5s)")
    st = inflight.get("r", (None,))[0]
    check(st == 503, f"the request in flight at the deadline got {inflight.get('r')}")
    out = lib.logs(ctr)
    check("shutdown timeout reached" in out, "no shutdown-deadline line in the logs")
    return f"exit 0 in {took:.1f}s, in-flight request 503"


def case_restart_keeps_everything():
    """A new container on the same volume keeps providers, models, keys and
    log rows."""
    ctr = serve("again", S["data"], S["port"])
    base = S["base"]
    lib.wait_status(f"{base}/ready", 200)
    prov = lib.exec_(ctr, "llmo", "--json", "provider", "list").stdout
    models = lib.exec_(ctr, "llmo", "--json", "model", "list").stdout
    keys = lib.exec_(ctr, "llmo", "--json", "key", "list").stdout
    check('"mock"' in prov, f"providers after restart: {prov}")
    check('"pong"' in models and '"stall"' in models, f"models after restart: {models}")
    check('"ctest"' in keys, f"keys after restart: {keys}")
    rows = log_rows(base)
    check(rows >= 2, f"log rows after restart: {rows} (want the chat and the cut request)")
    st, body = lib.chat(base, S["key"], "pong")
    check(st == 200, f"chat after restart: {st} {body}")
    lib.podman("stop", "-t", "30", ctr, timeout=60)
    return f"{rows} log rows kept"


def case_fresh_named_volume_as_image_user():
    """The image's own defaults (its user, /data owned by 65532): a fresh
    named volume is writable with no chown."""
    vol = f"{lib.PREFIX}-vol"
    lib.podman("volume", "create", vol)
    lib.at_exit(lambda: lib.podman("volume", "rm", "-f", vol, check_rc=False))
    port = lib.free_port()
    lib.start("named", ["--read-only", "--cap-drop", "ALL", "-v", f"{vol}:/data",
                        "-e", f"LLMO_LISTEN=127.0.0.1:{port}"])
    body = lib.wait_status(f"http://127.0.0.1:{port}/ready", 503)
    check("no providers" in str(body.get("problem")), f"/ready on a fresh named volume: {body}")
    return "database created on the volume by uid 65532"


def case_volume_not_writable():
    """/data owned by root: the container keeps running, /ready says which
    directory, which uid and the fix; after the chown it recovers by itself."""
    data, port = lib.data_dir(owner=0, mode=0o755), lib.free_port()
    base = f"http://127.0.0.1:{port}"
    ctr = serve("unwritable", data, port)
    body = lib.wait_status(f"{base}/ready", 503)
    problem, fix = str(body.get("problem")), str(body.get("fix"))
    check("`/data` is not writable by uid 65532" in problem, f"problem: {problem}")
    check("chown 65532" in fix and "fsGroup" in fix, f"fix: {fix}")
    check(lib.http("GET", f"{base}/health")[0] == 200, "/health on an unwritable volume")
    os.chown(data, 65532, 65532)
    lib.eventually(lambda: "no providers" in str(lib.http("GET", f"{base}/ready")[1]),
                   "recovery after the chown", timeout=40)
    running = lib.podman("inspect", ctr, "--format", "{{.State.Status}} {{.RestartCount}}").stdout
    check(running.split() == ["running", "0"], f"container state: {running}")
    return problem


def case_db_on_read_only_root():
    port = lib.free_port()
    base = f"http://127.0.0.1:{port}"
    lib.start("rootdb", HARDENED + ["-e", "LLMO_DB=/llmo.db", "-e", f"LLMO_LISTEN=127.0.0.1:{port}"])
    body = lib.wait_status(f"{base}/ready", 503)
    problem, fix = str(body.get("problem")), str(body.get("fix"))
    check("the filesystem at `/` is mounted read-only" in problem, f"problem: {problem}")
    check("mount one there" in fix and "/data" in fix and "chown" not in fix, f"fix: {fix}")
    return problem


if __name__ == "__main__":
    lib.main([
        ("a build without the musl binary names the cargo command", case_missing_binary),
        ("image: size, user, entrypoint, env, labels, healthcheck", case_build_and_inspect),
        ("read-only, uid 65532, no capabilities: configured from inside, chat", case_run_and_configure_from_inside),
        ("podman stop: exit 0 within the shutdown timeout", case_sigterm_exits_0_within_the_shutdown_timeout),
        ("restart on the same volume keeps the catalog and log rows", case_restart_keeps_everything),
        ("a fresh named volume, the image's own user", case_fresh_named_volume_as_image_user),
        ("bad input: /data not writable by 65532", case_volume_not_writable),
        ("bad input: LLMO_DB on the read-only root", case_db_on_read_only_root),
    ])

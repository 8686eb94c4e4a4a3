"""What the container tests share (stdlib only): podman with the flags a
daemonless sandbox needs — `vfs` storage (no overlay mounts), the `cgroupfs`
manager (no systemd), the `runc` runtime (crun refuses hybrid cgroups),
`default_ulimits = []` (raising RLIMIT_NOFILE is forbidden) and
`--network host` (mocks on 127.0.0.1, ports from the OS) — building the
image, a mock OpenAI upstream on 127.0.0.1, HTTP helpers, polling, and a
cleanup list run on every exit.

Every container and image a test makes is named `llmo-ctest-<pid>-...` and
removed by that name at exit (also on failure or Ctrl-C); nothing else on
the machine is touched.
"""
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "release", "llmo")
PREFIX = f"llmo-ctest-{os.getpid()}"
IMAGE = f"localhost/{PREFIX}:test"
MAX_IMAGE_BYTES = 30_000_000

_conf_dir = tempfile.mkdtemp(prefix="llmo-ctest-conf-")
with open(os.path.join(_conf_dir, "containers.conf"), "w") as f:
    f.write("[containers]\ndefault_ulimits = []\n")
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(_conf_dir, "containers.conf"))
PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
BUILDAH = ["buildah", "--storage-driver", "vfs"]

_cleanups = []
_started = []  # container names, for their logs when a case fails


def log(*a):
    print("  ", *a, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def at_exit(fn):
    """Runs `fn` at exit, newest first (containers before their volumes)."""
    _cleanups.append(fn)


def _cleanup():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup goes on
            log("cleanup:", e)
    subprocess.run(["rm", "-rf", _conf_dir], check=False)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def run(cmd, check_rc=True, timeout=120, stdin=None, env=None, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin,
                       env=env or ENV, cwd=cwd)
    if check_rc and r.returncode != 0:
        raise Fail(f"{' '.join(cmd)} -> exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def podman(*args, **kw):
    return run(PODMAN + list(args), **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_image():
    """deploy/build-image.sh with buildah on vfs; the image is removed at exit."""
    if not os.path.isfile(BIN):
        raise Fail(f"{BIN} is missing: cargo build --release --target x86_64-unknown-linux-musl")
    t = time.monotonic()
    r = run(["bash", os.path.join(ROOT, "deploy", "build-image.sh"), "-t", IMAGE],
            env=dict(ENV, BUILDAH=" ".join(BUILDAH)), timeout=300)
    at_exit(lambda: podman("rmi", "-f", IMAGE, check_rc=False))
    log(r.stderr.strip().splitlines()[-1], f"({time.monotonic() - t:.1f}s)")
    return IMAGE


def inspect_image(image):
    return json.loads(podman("image", "inspect", image).stdout)[0]


def data_dir(owner=65532, mode=0o700):
    """A host directory for /data, owned by `owner`, removed at exit."""
    d = tempfile.mkdtemp(prefix="llmo-ctest-data-")
    os.chown(d, owner, owner)
    os.chmod(d, mode)
    at_exit(lambda: subprocess.run(["rm", "-rf", d], check=False))
    return d


def start(name, args, image_args=()):
    """`podman run -d --name NAME --network host ARGS IMAGE IMAGE_ARGS`
    (without --network host when ARGS publish a port with -p); the
    container is removed (by name) at exit."""
    name = f"{PREFIX}-{name}"
    podman("rm", "-f", "-t", "0", name, check_rc=False)
    net = [] if any(a == "-p" for a in args) else ["--network", "host"]
    podman("run", "-d", "--name", name, *net, *args, IMAGE, *image_args)
    _started.append(name)
    at_exit(lambda: podman("rm", "-f", "-v", "-t", "0", name, check_rc=False))
    return name


def logs(name):
    r = podman("logs", name, check_rc=False)
    return r.stdout + r.stderr


def exec_(name, *cmd, stdin=None, check_rc=True):
    args = ["exec"] + (["-i"] if stdin is not None else []) + [name, *cmd]
    return podman(*args, stdin=stdin, check_rc=check_rc)


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON or raw text); (0, error) when nothing answers."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return 0, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def eventually(cond, what, timeout=20.0, every=0.1):
    """Polls `cond()` until it returns a truthy value, which it returns."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(every)
    raise Fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_status(url, want, timeout=20.0):
    """Polls GET url until it answers `want`; returns the body."""
    seen = []

    def ok():
        st, body = http("GET", url, timeout=2)
        seen[:] = [st, body]
        return (st == want) and (body or True)

    try:
        return eventually(ok, f"GET {url} -> {want}", timeout)
    except Fail:
        raise Fail(f"GET {url}: wanted {want}, last answer {seen}")


# ----------------------------------------------------------- mock upstream

class Mock:
    """An OpenAI-compatible upstream on 127.0.0.1 (a container on the host
    network reaches it): chat completions answer "pong" and are counted,
    with the Authorization header each one carried; upstream model `stall`
    answers only once `release` is set (or after 60 s)."""

    def __init__(self):
        self.hits = []
        self.release = threading.Event()
        mock = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                mock.hits.append((self.path, self.headers.get("authorization"), body))
                if body.get("model") == "stall":  # answers late: a request in flight
                    mock.release.wait(60)
                if not self.path.endswith("/chat/completions"):
                    return self.reply(404, {"error": {"message": "no such route"}})
                self.reply(200, {
                    "id": "chatcmpl-ctest", "object": "chat.completion", "created": 1,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "pong"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                })

            def do_GET(self):
                self.reply(200, {"object": "list", "data": []})

            def reply(self, status, obj):
                raw = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client gone at shutdown (the cut request) is expected

        self.server = Quiet(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        at_exit(self.server.shutdown)
        at_exit(self.release.set)


def chat(base, key, model, timeout=15):
    return http("POST", f"{base}/v1/chat/completions",
                {"model": model, "messages": [{"role": "user", "content": "ping"}]},
                {"authorization": f"Bearer {key}"}, timeout=timeout)


def main(cases):
    """Runs each (name, fn) in order; exit 1 on the first failure."""
    t0 = time.monotonic()
    for name, fn in cases:
        t = time.monotonic()
        print(f"-- {name}", file=sys.stderr, flush=True)
        try:
            note = fn()
        except Fail as e:
            for c in _started:
                out = "\n".join(line for line in logs(c).splitlines() if "systemd" not in line)
                print(f"--- logs of {c}:\n{out[-3000:]}", file=sys.stderr)
            print(f"FAIL {name}: {e}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"ok   {name} ({time.monotonic() - t:.1f}s){': ' + note if note else ''}",
              file=sys.stderr, flush=True)
    print(f"all passed in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)

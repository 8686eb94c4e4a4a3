"""Helpers shared by the SDK end-to-end scripts (tests/sdk/*_e2e.py).

Stdlib only: a recording mock upstream on 127.0.0.1:0 (the script supplies
the routing), the `llmo` CLI on a temp database, a real `llmo serve` on a
free port, and `expect()`, which prints one `ok:` line per check and exits
non-zero on the first failure. Not a test itself (no `_e2e` in the name).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
LLMO = os.environ.get("LLMO_BIN", os.path.join(ROOT, "target", "debug", "llmo"))


def fixture(path):
    """Bytes of tests/fixtures/<path>."""
    with open(os.path.join(FIXTURES, path), "rb") as f:
        return f.read()


def sse_events(raw):
    """The events of an SSE text, each with its blank line."""
    return [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}", flush=True)


class Reply:
    """What the mock answers: JSON with a status, or SSE events."""

    def __init__(self, status=200, body=b"", events=None):
        self.status, self.body, self.events = status, body, events

    @staticmethod
    def json(body, status=200):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return Reply(status=status, body=body)

    @staticmethod
    def sse(events):
        return Reply(events=list(events))


class Mock:
    """A recording upstream. `route(method, path, headers, body) -> Reply`
    decides the answer; every request is kept in `seen` as a dict with
    `path`, `headers` (lower-case names) and `body` (parsed JSON)."""

    def __init__(self, route):
        self.seen = []
        self.lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self, method):
                n = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = {"method": method, "path": self.path, "headers": headers, "body": body}
                with mock.lock:
                    mock.seen.append(req)
                try:
                    reply = route(method, self.path, headers, body)
                except Exception as e:  # a bug in the mock: make it loud
                    reply = Reply.json({"error": {"message": f"mock failed: {e!r}"}}, 500)
                self._send(reply)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def _send(self, reply):
                if reply.events is None:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in reply.events:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests(self):
        with self.lock:
            return list(self.seen)

    def last(self):
        with self.lock:
            return self.seen[-1] if self.seen else None

    def count(self):
        with self.lock:
            return len(self.seen)

    def close(self):
        self.server.shutdown()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Llmo:
    """The `llmo` CLI on a temp database, and `llmo serve` on a free port."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="llmo-sdk-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMO_")}
        env.update({"LLMO_DB": os.path.join(self.tmp, "llmo.db"), "HOME": self.tmp,
                    "XDG_CONFIG_HOME": self.tmp, "XDG_DATA_HOME": self.tmp, "NO_COLOR": "1"})
        self.env = env
        self.proc = None
        self.base = None
        self.stderr = ""

    def run(self, *args, stdin=None):
        r = subprocess.run([LLMO, *args], env=self.env, capture_output=True, text=True,
                           input=stdin, timeout=60)
        if r.returncode != 0:
            sys.exit(f"FAIL: llmo {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r.stdout

    def client_key(self, name="sdk"):
        return json.loads(self.run("key", "create", name, "--json"))["key"]

    def serve(self):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([LLMO, "serve", "--listen", f"127.0.0.1:{port}"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Drain stderr in the background so a chatty server never blocks.
        chunks = []
        threading.Thread(target=lambda: chunks.extend(self.proc.stderr), daemon=True).start()
        self._stderr_chunks = chunks
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen(self.base + "/ready", timeout=1) as r:
                    if r.status == 200:
                        return self.base
            except Exception:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                time.sleep(0.2)
                sys.exit(f"FAIL: llmo serve did not become ready: {''.join(chunks)}")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM, wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        time.sleep(0.1)
        self.stderr = "".join(self._stderr_chunks)
        self.proc = None
        return code

"""Helpers shared by the SDK end-to-end scripts (tests/sdk/*_e2e.py).

Stdlib only: a recording mock upstream on 127.0.0.1:0 (the script supplies
the routing), the `llmo` CLI on a temp database, a real `llmo serve` on a
free port, and `expect()`, which prints one `ok:` line per check and exits
non-zero on the first failure. Not a test itself (no `_e2e` in the name).
"""
import contextlib
import gzip
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
                raw = self._read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                if headers.get("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                req = {"method": method, "path": self.path, "headers": headers, "body": body}
                with mock.lock:
                    mock.seen.append(req)
                try:
                    reply = route(method, self.path, headers, body)
                except Exception as e:  # a bug in the mock: make it loud
                    reply = Reply.json({"error": {"message": f"mock failed: {e!r}"}}, 500)
                self._send(reply)

            def _read_body(self):
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    raw = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return raw
                        raw += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("content-length", "0"))
                return self.rfile.read(n) if n else b""

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_HEAD(self):
                self._handle("HEAD")

            def do_DELETE(self):
                self._handle("DELETE")

            def _send(self, reply):
                if reply.events is None:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD":
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


@contextlib.contextmanager
def serving(llmo, mocks, secrets):
    """Runs the body against the started `llmo serve`. On a failed check its
    log's tail is printed; the mocks are closed either way; after a passing
    body, serve must exit 0 on SIGTERM and its log hold none of `secrets`
    (a callable, so keys made inside the body count too)."""
    try:
        yield
    except SystemExit:
        llmo.stop()
        print("--- llmo serve's log (last 3000 chars)\n" + llmo.stderr[-3000:], file=sys.stderr)
        raise
    finally:
        for m in mocks:
            m.close()
    code = llmo.stop()
    expect(code == 0, "serve exits 0 on SIGTERM")
    expect(not [k for k in secrets() if k in llmo.stderr], "no key in the server's log")


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


# ----- scripted upstream answers -----
# One assistant turn (some text, then optionally one tool call) rendered in
# each vendor's wire format, non-stream and stream, with usage. The tool
# call's JSON arguments are streamed in several fragments, as vendors do.

def _frags(s, n=3):
    step = max(1, -(-len(s) // n))
    return [s[i:i + step] for i in range(0, len(s), step)] or [""]


def _sse(event, data):
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class Turn:
    """An assistant turn: `text` and/or `tool` = (call id, name, input dict)."""

    def __init__(self, text=None, tool=None, input_tokens=21, output_tokens=7):
        self.text, self.tool = text, tool
        self.input_tokens, self.output_tokens = input_tokens, output_tokens

    def anthropic(self, model):
        """A Messages API response JSON."""
        content = []
        if self.text is not None:
            content.append({"type": "text", "text": self.text})
        if self.tool:
            content.append({"type": "tool_use", "id": self.tool[0], "name": self.tool[1], "input": self.tool[2]})
        return {"id": "msg_01" + "e2e" * 6, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": "tool_use" if self.tool else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}

    def anthropic_sse(self, model):
        """The same turn as a Messages stream (`event:` + `data:` events)."""
        msg = self.anthropic(model)
        start = dict(msg, content=[], stop_reason=None,
                     usage=dict(msg["usage"], output_tokens=1))
        out = [_sse("message_start", {"type": "message_start", "message": start})]
        for i, block in enumerate(msg["content"]):
            if block["type"] == "text":
                out.append(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                        "content_block": {"type": "text", "text": ""}}))
                for f in _frags(block["text"]):
                    out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                            "delta": {"type": "text_delta", "text": f}}))
            else:
                out.append(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                        "content_block": dict(block, input={})}))
                for f in _frags(json.dumps(block["input"])):
                    out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                            "delta": {"type": "input_json_delta", "partial_json": f}}))
            out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
        out.append(_sse("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                                          "usage": {"output_tokens": self.output_tokens}}))
        out.append(_sse("message_stop", {"type": "message_stop"}))
        return out

    def _usage(self):
        return {"prompt_tokens": self.input_tokens, "completion_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens}

    def chat(self, model):
        """A chat.completion JSON."""
        msg = {"role": "assistant", "content": self.text}
        if self.tool:
            msg["tool_calls"] = [{"id": self.tool[0], "type": "function", "function": {
                "name": self.tool[1], "arguments": json.dumps(self.tool[2])}}]
        return {"id": "chatcmpl-e2e", "object": "chat.completion", "created": 1764547200, "model": model,
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": "tool_calls" if self.tool else "stop"}],
                "usage": self._usage()}

    def chat_sse(self, model):
        """The same turn as Chat Completions chunks, a usage chunk and `[DONE]`."""
        base = {"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1764547200, "model": model}

        def chunk(delta, finish=None):
            return _sse(None, dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}]))

        out = [chunk({"role": "assistant", "content": ""})]
        for f in _frags(self.text) if self.text else []:
            out.append(chunk({"content": f}))
        if self.tool:
            out.append(chunk({"tool_calls": [{"index": 0, "id": self.tool[0], "type": "function",
                                              "function": {"name": self.tool[1], "arguments": ""}}]}))
            for f in _frags(json.dumps(self.tool[2])):
                out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}))
        out.append(chunk({}, "tool_calls" if self.tool else "stop"))
        out.append(_sse(None, dict(base, choices=[], usage=self._usage())))
        out.append(b"data: [DONE]\n\n")
        return out

    def response(self, model, resp_id="resp_e2e"):
        """A Responses API Response object JSON."""
        output = []
        if self.text is not None:
            output.append({"id": "msg_e2e", "type": "message", "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": self.text, "annotations": []}]})
        if self.tool:
            output.append({"id": "fc_e2e", "type": "function_call", "status": "completed",
                           "call_id": self.tool[0], "name": self.tool[1], "arguments": json.dumps(self.tool[2])})
        return {"id": resp_id, "object": "response", "created_at": 1764547200, "status": "completed",
                "model": model, "output": output, "error": None, "incomplete_details": None,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                          "total_tokens": self.input_tokens + self.output_tokens,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}

    def response_sse(self, model, resp_id="resp_e2e"):
        """The same turn as a Responses stream (`response.created` .. `response.completed`)."""
        final = self.response(model, resp_id)
        seq = iter(range(1_000_000))

        def ev(kind, **data):
            return _sse(kind, dict(type=kind, sequence_number=next(seq), **data))

        pending = dict(final, status="in_progress", output=[], usage=None)
        out = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
        for i, item in enumerate(final["output"]):
            if item["type"] == "message":
                text = item["content"][0]["text"]
                out.append(ev("response.output_item.added", output_index=i,
                              item=dict(item, status="in_progress", content=[])))
                part = {"type": "output_text", "text": "", "annotations": []}
                out.append(ev("response.content_part.added", item_id=item["id"], output_index=i,
                              content_index=0, part=part))
                for f in _frags(text):
                    out.append(ev("response.output_text.delta", item_id=item["id"], output_index=i,
                                  content_index=0, delta=f))
                out.append(ev("response.output_text.done", item_id=item["id"], output_index=i,
                              content_index=0, text=text))
                out.append(ev("response.content_part.done", item_id=item["id"], output_index=i,
                              content_index=0, part=dict(part, text=text)))
            else:
                out.append(ev("response.output_item.added", output_index=i,
                              item=dict(item, status="in_progress", arguments="")))
                for f in _frags(item["arguments"]):
                    out.append(ev("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=i, delta=f))
                out.append(ev("response.function_call_arguments.done", item_id=item["id"], output_index=i,
                              arguments=item["arguments"]))
            out.append(ev("response.output_item.done", output_index=i, item=item))
        out.append(ev("response.completed", response=final))
        return out

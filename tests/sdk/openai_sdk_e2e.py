#!/usr/bin/env python3
"""End-to-end test: the official `openai` Python SDK against a real `llmo serve`.

A mock upstream (this file, stdlib http.server on 127.0.0.1:0) replays the
recorded OpenAI fixtures in tests/fixtures/openai; llmo is configured through
its own CLI on a temp database and started as a subprocess. Nothing leaves
the machine. Run: `python3 tests/sdk/openai_sdk_e2e.py` (LLMO_BIN overrides
the binary, default target/debug/llmo). Exits non-zero on the first failure.
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
FIX = os.path.join(ROOT, "tests", "fixtures", "openai")
LLMO = os.environ.get("LLMO_BIN", os.path.join(ROOT, "target", "debug", "llmo"))


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


SEEN = []  # request bodies the mock received


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/models"):
            self._send(200, fixture("models_list.json"))
        else:
            self._send(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        SEEN.append({"path": self.path, "body": body, "auth": self.headers.get("authorization")})
        if not self.path.endswith("/chat/completions"):
            self._send(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')
            return
        tools = "tools" in body
        if body.get("stream"):
            sse = fixture("chat_completion_tool_call_stream.sse" if tools else "chat_completion_stream.sse")
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for event in sse.split(b"\n\n"):
                if not event.strip():
                    continue
                chunk = event + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(200, fixture("chat_completion_tool_call.json" if tools else "chat_completion.json"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def llmo(env, *args, stdin=None):
    r = subprocess.run([LLMO, *args], env=env, capture_output=True, text=True, input=stdin, timeout=60)
    if r.returncode != 0:
        sys.exit(f"llmo {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    import openai  # installed by .ci/run (pip install openai)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    up = f"http://127.0.0.1:{server.server_address[1]}/v1"

    tmp = tempfile.mkdtemp(prefix="llmo-sdk-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMO_")}
    env.update({"LLMO_DB": os.path.join(tmp, "llmo.db"), "HOME": tmp, "XDG_CONFIG_HOME": tmp,
                "XDG_DATA_HOME": tmp, "NO_COLOR": "1"})
    llmo(env, "provider", "add", "mock", "--kind", "openai-compatible", "--base-url", up,
         "--api-key", "-", stdin="sk-upstream-secret-123456")
    llmo(env, "model", "add", "team-gpt", "--provider", "mock=gpt-4o-upstream")
    key = json.loads(llmo(env, "key", "create", "sdk", "--json"))["key"]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen([LLMO, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline or serve.poll() is not None:
                serve.kill()
                sys.exit(f"llmo serve did not become ready: {serve.stderr.read()}")
            time.sleep(0.05)

        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        messages = [{"role": "user", "content": "Hello"}]

        r = client.chat.completions.create(model="team-gpt", messages=messages)
        expect(r.choices[0].message.content == "Hello! How can I assist you today?", "non-stream content")
        expect(r.usage.total_tokens == 29, "non-stream usage")
        expect(SEEN[-1]["body"]["model"] == "gpt-4o-upstream", "model rewritten to the upstream name")
        expect(SEEN[-1]["auth"] == "Bearer sk-upstream-secret-123456", "upstream key sent, client key not forwarded")

        want = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in fixture("chat_completion_stream.sse").decode().splitlines()
            if line.startswith("data: {") and json.loads(line[6:])["choices"]
        )
        got, finish = "", None
        for chunk in client.chat.completions.create(model="team-gpt", messages=messages, stream=True):
            if chunk.choices:
                got += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        expect(got == want and len(got) > 20, "stream content reassembles")
        expect(finish == "stop", "stream finish_reason")

        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        r = client.chat.completions.create(model="team-gpt", messages=messages, tools=tools)
        call = r.choices[0].message.tool_calls[0]
        expect(call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] == "San Francisco",
               "non-stream tool call")
        expect(r.choices[0].finish_reason == "tool_calls", "tool finish_reason")

        args, name = "", None
        for chunk in client.chat.completions.create(model="team-gpt", messages=messages, tools=tools, stream=True):
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                name = tc.function.name or name
                args += tc.function.arguments or ""
        expect(name == "get_weather" and isinstance(json.loads(args), dict), "stream tool call reassembles")

        ids = [m.id for m in client.models.list()]
        expect(ids == ["team-gpt"], "models list")

        try:
            client.chat.completions.create(model="no-such-model", messages=messages)
            expect(False, "unknown model raises")
        except openai.NotFoundError as e:
            expect(e.status_code == 404 and "no-such-model" in str(e), "unknown model -> NotFoundError 404")

        bad = openai.OpenAI(base_url=base + "/v1", api_key="llmo-wrong", max_retries=0)
        try:
            bad.chat.completions.create(model="team-gpt", messages=messages)
            expect(False, "bad key raises")
        except openai.AuthenticationError as e:
            expect(e.status_code == 401, "bad key -> AuthenticationError 401")
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            code = serve.wait(timeout=35)
        except subprocess.TimeoutExpired:
            serve.kill()
            code = None
        err = serve.stderr.read()
        server.shutdown()
    expect(code == 0, "serve exits 0 on SIGTERM")
    expect("sk-upstream-secret-123456" not in err, "upstream key never logged")
    print("all SDK checks passed")


if __name__ == "__main__":
    main()

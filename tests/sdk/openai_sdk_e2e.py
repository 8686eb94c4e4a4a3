#!/usr/bin/env python3
"""End-to-end test: the official `openai` Python SDK against a real `llmo serve`.

A mock upstream (stdlib, on 127.0.0.1:0; helpers in tests/sdk/_harness.py) replays the
recorded OpenAI fixtures in tests/fixtures/openai; llmo is configured through
its own CLI on a temp database and started as a subprocess. Nothing leaves
the machine. Run: `python3 tests/sdk/openai_sdk_e2e.py` (LLMO_BIN overrides
the binary, default target/debug/llmo). Exits non-zero on the first failure.
"""
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from _harness import Llmo, Mock, Reply, expect, fixture, sse_events

SEEN = []  # request bodies the mock received


def route(method, path, headers, body):
    if method == "GET":
        if path.endswith("/models"):
            return Reply.json(fixture("openai/models_list.json"))
        return Reply.json(b'{"error":{"message":"not found","type":"invalid_request_error"}}', 404)
    SEEN.append({"path": path, "body": body or {}, "auth": headers.get("authorization")})
    if not path.endswith("/chat/completions"):
        return Reply.json(b'{"error":{"message":"not found","type":"invalid_request_error"}}', 404)
    tools = "tools" in body
    if body.get("stream"):
        return Reply.sse(sse_events(fixture(
            "openai/chat_completion_tool_call_stream.sse" if tools else "openai/chat_completion_stream.sse")))
    return Reply.json(fixture("openai/chat_completion_tool_call.json" if tools else "openai/chat_completion.json"))


def main():
    import openai  # installed by .ci/run (pip install openai)

    mock = Mock(route)
    up = mock.url + "/v1"
    llmo = Llmo()
    llmo.run("provider", "add", "mock", "--kind", "openai-compatible", "--base-url", up,
             "--api-key", "-", stdin="sk-upstream-secret-123456")
    llmo.run("model", "add", "team-gpt", "--provider", "mock=gpt-4o-upstream")
    key = llmo.client_key()
    llmo.env["LLMO_LOG"] = "llmo=debug,info"  # per-request events, to check what they hold
    base = llmo.serve()
    try:
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        messages = [{"role": "user", "content": "Hello"}]

        r = client.chat.completions.create(model="team-gpt", messages=messages)
        expect(r.choices[0].message.content == "Hello! How can I assist you today?", "non-stream content")
        expect(r.usage.total_tokens == 29, "non-stream usage")
        expect(SEEN[-1]["body"]["model"] == "gpt-4o-upstream", "model rewritten to the upstream name")
        expect(SEEN[-1]["auth"] == "Bearer sk-upstream-secret-123456", "upstream key sent, client key not forwarded")

        want = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in fixture("openai/chat_completion_stream.sse").decode().splitlines()
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

        raw = client.chat.completions.with_raw_response.create(
            model="team-gpt", messages=[{"role": "user", "content": "zebra-prompt-7731"}])
        rid = raw.headers.get("x-request-id")
        expect(rid and raw.parse().choices, "x-request-id on the answer")

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
        code = llmo.stop()
        mock.close()
    expect(code == 0, "serve exits 0 on SIGTERM")
    expect("sk-upstream-secret-123456" not in llmo.stderr, "upstream key never logged")
    expect(key not in llmo.stderr, "client key never logged")
    expect("zebra-prompt-7731" not in llmo.stderr and "assist you today" not in llmo.stderr,
           "prompts and answers never logged, even at debug")
    done = [l for l in llmo.stderr.splitlines() if "request finished" in l and f"request_id={rid}" in l]
    expect(len(done) == 1 and "status=200" in done[0] and "model=\"team-gpt\"" in done[0]
           and "tokens_in=" in done[0], f"one debug event per request in its span: {done}")
    streamed = [l for l in llmo.stderr.splitlines() if "request finished" in l and "stream=true" in l]
    expect(streamed and all("request_id=" in l for l in streamed), "stream events carry the request id")
    print("all SDK checks passed")


if __name__ == "__main__":
    main()

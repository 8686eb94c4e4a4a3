#!/usr/bin/env python3
"""End-to-end: the official `openai` Python SDK's Responses API
(`client.responses.*`) against a real `llmo serve`'s `/v1/responses`.

Two llmo models: `gpt`, served by an `openai-compatible` provider (a stdlib mock
of Chat Completions: llmo translates Responses <-> Chat and keeps the
conversation state itself), and `gpt-native`, served by an `openai`-kind
provider (a mock of `/v1/responses`: llmo passes the request through). The
mocks answer from tests/sdk/_harness.Turn: text, a `get_weather` function call
when tools are offered, text quoting a function result, and a name-recall
answer that only works when the earlier turn reached the upstream. Checks:
`responses.create` non-stream and stream (the SDK's stream helper's final
response and `output_text`), function tools (a function_call item, then a
function_call_output turn), a two-turn `previous_response_id` conversation
(the second upstream request carries the first turn), retrieve/delete of a
stored response, and an unknown or foreign id -> NotFoundError.

Run: `cargo build && python3 tests/sdk/openai_responses_e2e.py` (LLMO_BIN
overrides the binary). One `ok:` line per check; exits non-zero on the first
failure.
"""
import json
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from _harness import Llmo, Mock, Reply, Turn, expect, serving

OPENAI_KEY = "sk-openai-responses-e2e-upstream-0001"
HELLO = "Hello from the mock upstream."
TOOL_ANSWER = "It is 18 degrees in Paris."
CALL_ID = "call_RespE2eWeather000000001"
CALL_INPUT = {"location": "Paris, France", "unit": "celsius"}
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"},
                                                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                          "required": ["location", "unit"], "additionalProperties": False}}


def text_of(content):
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def chat_turn(body):
    msgs = body.get("messages", [])
    users = [text_of(m.get("content")) for m in msgs if m.get("role") == "user"]
    results = [text_of(m.get("content")) for m in msgs if m.get("role") == "tool"]
    if results:
        return Turn(text=TOOL_ANSWER if "18" in results[-1] else f"unexpected tool result {results!r}")
    if body.get("tools"):
        return Turn(tool=(CALL_ID, "get_weather", CALL_INPUT))
    last = users[-1] if users else ""
    if last.startswith("My name is "):
        return Turn(text=f"Nice to meet you, {last[11:].rstrip('.')}.")
    if last == "What is my name?":
        names = [m.group(1) for u in users[:-1] for m in [re.match(r"My name is (\w+)", u)] if m]
        return Turn(text=f"Your name is {names[-1]}." if names else "I don't know your name.")
    return Turn(text=HELLO)


def route(method, path, headers, body):
    if headers.get("authorization") != f"Bearer {OPENAI_KEY}":
        return Reply.json({"error": {"message": "bad upstream key", "type": "invalid_request_error"}}, 401)
    if method == "POST" and path == "/chat/v1/chat/completions":
        turn = chat_turn(body)
        return Reply.sse(turn.chat_sse(body["model"])) if body.get("stream") else Reply.json(turn.chat(body["model"]))
    if method == "POST" and path == "/native/v1/responses":
        turn = Turn(text=HELLO)
        rid = "resp_upstream0000000000000000000001"
        return Reply.sse(turn.response_sse(body["model"], rid)) if body.get("stream") else \
            Reply.json(turn.response(body["model"], rid))
    return Reply.json({"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}, 404)


def chat_requests(mock, n):
    return [q for q in mock.requests()[n:] if q["path"].startswith("/chat/")]


def basic_checks(client, mock):
    n = mock.count()
    r = client.responses.create(model="gpt", input="Hello", instructions="Be terse.", max_output_tokens=64)
    up = chat_requests(mock, n)
    expect(r.object == "response" and r.status == "completed" and r.output_text == HELLO,
           "responses.create: completed, output_text")
    expect(re.fullmatch(r"resp_[0-9a-f]{32}", r.id) is not None and r.model == "gpt",
           f"llmo's own response id and the public model ({r.id}, {r.model})")
    expect(r.usage is not None and (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (21, 7, 28),
           "usage from the upstream's")
    expect(r.instructions == "Be terse." and r.max_output_tokens == 64, "request fields echoed in the Response")
    b = up[0]["body"] if len(up) == 1 else {}
    expect(b.get("model") == "gpt-4o" and b.get("messages") in (
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello"}],
        [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hello"}]),
        f"upstream chat request: instructions -> system, input -> user ({b.get('messages')})")

    seqs, kinds = [], []
    with client.responses.stream(model="gpt", input="Hello") as s:
        for ev in s:
            kinds.append(ev.type)
            seqs.append(ev.sequence_number)
        final = s.get_final_response()
    expect(final.output_text == HELLO and final.status == "completed", "stream helper: final response and output_text")
    expect(kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
           and "response.output_text.delta" in kinds and "response.output_text.done" in kinds,
           f"stream events created, in_progress, deltas, completed ({len(kinds)} events)")
    expect(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence_number strictly increasing")
    expect(final.usage is not None and final.usage.output_tokens == 7, "stream: usage in response.completed")


def tool_checks(client, mock):
    ask = "What is the weather in Paris?"
    r = client.responses.create(model="gpt", input=ask, tools=[WEATHER])
    calls = [o for o in r.output if o.type == "function_call"]
    expect(len(calls) == 1 and calls[0].name == "get_weather" and calls[0].call_id == CALL_ID
           and json.loads(calls[0].arguments) == CALL_INPUT, "a function_call item (name, call_id, arguments)")
    tools = mock.last()["body"].get("tools")
    expect(tools == [{"type": "function", "function": {"name": "get_weather", "description": WEATHER["description"],
                                                      "parameters": WEATHER["parameters"], "strict": True}}]
           or (tools and tools[0]["function"]["name"] == "get_weather"
               and tools[0]["function"]["parameters"] == WEATHER["parameters"]),
           f"upstream chat tools ({tools})")

    deltas = []
    with client.responses.stream(model="gpt", input=ask, tools=[WEATHER]) as s:
        for ev in s:
            if ev.type == "response.function_call_arguments.delta":
                deltas.append(ev.delta)
        final = s.get_final_response()
    fc = [o for o in final.output if o.type == "function_call"]
    expect(len(deltas) >= 2 and json.loads("".join(deltas)) == CALL_INPUT and len(fc) == 1
           and json.loads(fc[0].arguments) == CALL_INPUT, f"stream: {len(deltas)} function_call_arguments deltas")

    n = mock.count()
    items = [{"role": "user", "content": ask}, calls[0].model_dump(exclude_none=True),
             {"type": "function_call_output", "call_id": CALL_ID, "output": "18 degrees, sunny"}]
    r2 = client.responses.create(model="gpt", input=items, tools=[WEATHER])
    expect(r2.output_text == TOOL_ANSWER, "function_call_output turn answered")
    msgs = chat_requests(mock, n)[0]["body"]["messages"]
    tc = [c for m in msgs if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    tm = [m for m in msgs if m.get("role") == "tool"]
    expect(len(tc) == 1 and tc[0]["id"] == CALL_ID and json.loads(tc[0]["function"]["arguments"]) == CALL_INPUT
           and len(tm) == 1 and tm[0]["tool_call_id"] == CALL_ID and "18 degrees" in text_of(tm[0]["content"]),
           "upstream: assistant tool_calls + tool message with the same call id")

    r3 = client.responses.create(model="gpt", previous_response_id=r.id, tools=[WEATHER],
                                 input=[{"type": "function_call_output", "call_id": CALL_ID, "output": "18 degrees"}])
    expect(r3.output_text == TOOL_ANSWER and r3.previous_response_id == r.id,
           "function_call_output after previous_response_id (the call comes from the stored response)")


def state_checks(client, other, mock, openai):
    n = mock.count()
    r1 = client.responses.create(model="gpt", input="My name is Ada.")
    r2 = client.responses.create(model="gpt", input="What is my name?", previous_response_id=r1.id)
    expect(r1.output_text == "Nice to meet you, Ada." and r2.output_text == "Your name is Ada.",
           "two-turn previous_response_id conversation")
    second = chat_requests(mock, n)[-1]["body"]["messages"]
    roles = [(m["role"], text_of(m.get("content"))) for m in second]
    expect(roles == [("user", "My name is Ada."), ("assistant", "Nice to meet you, Ada."), ("user", "What is my name?")],
           f"the second upstream request carries the first turn ({roles})")
    with client.responses.stream(model="gpt", input="What is my name?", previous_response_id=r1.id) as s:
        expect(s.get_final_response().output_text == "Your name is Ada.", "previous_response_id with a stream")

    got = client.responses.retrieve(r1.id)
    expect(got.id == r1.id and got.output_text == r1.output_text, "GET /v1/responses/{id} returns the stored response")
    for what, fn in [
        ("unknown previous_response_id", lambda: client.responses.create(
            model="gpt", input="Hi", previous_response_id="resp_" + "0" * 32)),
        ("another key's previous_response_id", lambda: other.responses.create(
            model="gpt", input="Hi", previous_response_id=r1.id)),
        ("another key's GET", lambda: other.responses.retrieve(r1.id)),
    ]:
        n = mock.count()
        try:
            fn()
            expect(False, f"{what} -> NotFoundError")
        except openai.NotFoundError as e:
            expect(e.status_code == 404 and isinstance(e.body, dict) and e.body.get("message") and mock.count() == n,
                   f"{what} -> NotFoundError 404 ({e.body.get('message')}), no upstream call")
    client.responses.delete(r1.id)
    try:
        client.responses.retrieve(r1.id)
        expect(False, "a deleted response is gone")
    except openai.NotFoundError:
        expect(True, "DELETE /v1/responses/{id}, then GET -> NotFoundError")


def passthrough_checks(client, mock):
    n = mock.count()
    r = client.responses.create(model="gpt-native", input="Hello", store=False)
    up = mock.requests()[n:]
    expect(r.output_text == HELLO and len(up) == 1 and up[0]["path"] == "/native/v1/responses"
           and up[0]["body"] == {"model": "gpt-5", "input": "Hello", "store": False},
           "openai kind: passed through to /v1/responses, only model rewritten")
    with client.responses.stream(model="gpt-native", input="Hello", store=False) as s:
        final = s.get_final_response()
    expect(final.output_text == HELLO and mock.last()["body"].get("stream") is True, "openai kind: stream relayed")


def main():
    import openai  # installed by tests/run.sh

    mock = Mock(route)
    llmo = Llmo()
    llmo.run("provider", "add", "up-chat", "--kind", "openai-compatible", "--base-url", mock.url + "/chat/v1",
             "--api-key", "-", "--max-retries", "0", stdin=OPENAI_KEY)
    llmo.run("provider", "add", "up-native", "--kind", "openai", "--base-url", mock.url + "/native/v1",
             "--api-key", "-", "--max-retries", "0", stdin=OPENAI_KEY)
    llmo.run("model", "add", "gpt", "--provider", "up-chat=gpt-4o")
    llmo.run("model", "add", "gpt-native", "--provider", "up-native=gpt-5")
    key, other_key = llmo.client_key("responses"), llmo.client_key("someone-else")
    base = llmo.serve()
    with serving(llmo, [mock], lambda: (OPENAI_KEY, key, other_key)):
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)
        other = openai.OpenAI(base_url=base + "/v1", api_key=other_key, max_retries=0, timeout=20)
        basic_checks(client, mock)
        tool_checks(client, mock)
        state_checks(client, other, mock, openai)
        passthrough_checks(client, mock)
    print("all Responses SDK checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end: the official `anthropic` Python SDK against a real `llmo serve`'s
`/v1/messages` (Anthropic Messages ingress).

Two llmo models: `claude`, served by an `anthropic`-kind provider (a stdlib mock
of the Messages API: llmo passes the request through), and `gpt`, served by an
`openai-compatible` provider (a mock of Chat Completions: llmo translates both
ways). Both mocks answer from tests/sdk/_harness.Turn: a text turn, a
`get_weather` tool call when the request offers tools, text quoting the tool
result when one comes back, an upstream 529 / 503 for the word OVERLOADED.
Checks per model: `messages.create`, `messages.stream` (text, and a tool_use
whose `input_json_delta` fragments the SDK accumulates into the input dict), a
tool_result turn, `messages.count_tokens`, `anthropic-beta` (forwarded to
Anthropic, harmless elsewhere); then each error class the SDK raises
(AuthenticationError, PermissionDeniedError, NotFoundError, BadRequestError,
RateLimitError, an upstream 529) with Anthropic's error shape.

Run: `cargo build && python3 tests/sdk/anthropic_sdk_e2e.py` (LLMO_BIN
overrides the binary; needs `pip install anthropic`). One `ok:` line per
check; exits non-zero on the first failure.
"""
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from _harness import Llmo, Mock, Reply, Turn, expect, serving

ANTHROPIC_KEY = "sk-ant-sdk-e2e-upstream-0001"
OPENAI_KEY = "sk-openai-sdk-e2e-upstream-0001"
UP = {"claude": "claude-sonnet-4-5", "gpt": "gpt-4o"}
WEATHER = {"name": "get_weather", "description": "Current weather for a city",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"},
                                                             "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                            "required": ["location"]}}
CALL_INPUT = {"location": "Paris, France", "unit": "celsius"}
HELLO = "Hello from the mock upstream."
TOOL_ANSWER = "It is 18 degrees in Paris."
ANTHROPIC_CALL = "toolu_01SdkE2eWeather000000001"
CHAT_CALL = "call_SdkE2eWeather000000001"


def text_of(content):
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") if isinstance(b, dict) else "" for b in content or [])


def turn_for(results, tools, prompt, call_id):
    if results:
        return Turn(text=TOOL_ANSWER if "18" in results[-1] else f"unexpected tool result {results!r}")
    if tools:
        return Turn(text="Let me check.", tool=(call_id, "get_weather", CALL_INPUT))
    return Turn(text=HELLO, input_tokens=21, output_tokens=7)


def anthropic_route(method, path, headers, body):
    bare = path.split("?")[0]
    if headers.get("x-api-key") != ANTHROPIC_KEY:
        return Reply.json({"type": "error", "error": {"type": "authentication_error", "message": "bad upstream key"}}, 401)
    if bare == "/v1/messages/count_tokens":
        return Reply.json({"input_tokens": 4242})
    if bare != "/v1/messages":
        return Reply.json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
    msgs = body.get("messages", [])
    prompt = " ".join(text_of(m.get("content")) for m in msgs if m.get("role") == "user")
    if "OVERLOADED" in prompt:
        return Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529)
    results = [text_of(b.get("content")) for m in msgs if isinstance(m.get("content"), list)
               for b in m["content"] if b.get("type") == "tool_result"]
    turn = turn_for(results, body.get("tools"), prompt, ANTHROPIC_CALL)
    return Reply.sse(turn.anthropic_sse(body["model"])) if body.get("stream") else Reply.json(turn.anthropic(body["model"]))


def chat_route(method, path, headers, body):
    if headers.get("authorization") != f"Bearer {OPENAI_KEY}":
        return Reply.json({"error": {"message": "bad upstream key", "type": "invalid_request_error"}}, 401)
    if path != "/v1/chat/completions":
        return Reply.json({"error": {"message": f"no route {path}", "type": "invalid_request_error"}}, 404)
    msgs = body.get("messages", [])
    prompt = " ".join(text_of(m.get("content")) for m in msgs if m.get("role") == "user")
    if "OVERLOADED" in prompt:
        return Reply.json({"error": {"message": "The server is overloaded", "type": "server_error"}}, 503)
    results = [text_of(m.get("content")) for m in msgs if m.get("role") == "tool"]
    turn = turn_for(results, body.get("tools"), prompt, CHAT_CALL)
    return Reply.sse(turn.chat_sse(body["model"])) if body.get("stream") else Reply.json(turn.chat(body["model"]))


def model_checks(client, model, mock):
    """create, stream (text and tool_use), tool_result turn, count_tokens, betas: for one model."""
    kind = "anthropic" if model == "claude" else "openai-compatible"
    what = f"{model} ({kind})"
    up_model = UP[model]
    hello = [{"role": "user", "content": "Hello"}]

    r = client.messages.create(model=model, max_tokens=64, system="Be terse.", messages=hello,
                               extra_body={"temperature": 0.2})  # anthropic 2.x has no temperature argument
    up = mock.last()
    expect(r.type == "message" and r.role == "assistant" and [b.type for b in r.content] == ["text"]
           and r.content[0].text == HELLO, f"{what}: messages.create text")
    # A passthrough relays the upstream's answer as is (its model string too);
    # a translated answer names the public model.
    want_model = (model, up_model) if kind == "anthropic" else (model,)
    expect(r.model in want_model and r.stop_reason == "end_turn" and (r.usage.input_tokens, r.usage.output_tokens) == (21, 7),
           f"{what}: model {r.model}, stop_reason end_turn, usage 21/7 ({r.stop_reason}, {r.usage})")
    expect(up["body"]["model"] == up_model, f"{what}: upstream model {up_model}")
    if kind == "anthropic":
        expect(up["body"] == {"model": up_model, "max_tokens": 64, "system": "Be terse.", "messages": hello,
                              "temperature": 0.2}, f"{what}: body passed through unchanged but for model")
        # anthropic 2.x sends its own API version and the key as a Bearer token.
        sent = client.default_headers.get("anthropic-version")
        expect(up["headers"].get("anthropic-version") == sent and "authorization" not in up["headers"],
               f"{what}: anthropic-version {sent} forwarded as sent, only llmo's x-api-key goes up")
    else:
        b = up["body"]
        expect(b["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello"}]
               or b["messages"][0]["role"] == "system" and text_of(b["messages"][1]["content"]) == "Hello",
               f"{what}: system + user translated to chat messages ({b['messages']})")
        expect(b.get("max_tokens", b.get("max_completion_tokens")) == 64 and b.get("temperature") == 0.2,
               f"{what}: max_tokens and temperature carried over")

    with client.messages.stream(model=model, max_tokens=64, messages=hello) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    expect(text == HELLO and final.content[0].text == HELLO and final.stop_reason == "end_turn",
           f"{what}: messages.stream text_stream and final message")
    expect(final.usage.output_tokens == 7 and final.usage.input_tokens == 21,
           f"{what}: stream usage from message_start/message_delta ({final.usage})")
    expect(mock.last()["body"].get("stream") is True, f"{what}: upstream streamed")

    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.messages.create(model=model, max_tokens=256, messages=ask, tools=[WEATHER])
    uses = [b for b in r.content if b.type == "tool_use"]
    expect(r.stop_reason == "tool_use" and len(uses) == 1 and uses[0].name == "get_weather"
           and uses[0].input == CALL_INPUT, f"{what}: non-stream tool_use block, stop_reason tool_use")

    deltas = []
    with client.messages.stream(model=model, max_tokens=256, messages=ask, tools=[WEATHER]) as s:
        for ev in s:
            if ev.type == "content_block_delta" and ev.delta.type == "input_json_delta":
                deltas.append(ev.delta.partial_json)
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    call_id = ANTHROPIC_CALL if kind == "anthropic" else CHAT_CALL
    expect(len(deltas) >= 2 and json.loads("".join(deltas)) == CALL_INPUT,
           f"{what}: stream relays the arguments as {len(deltas)} input_json_delta fragments")
    expect(len(uses) == 1 and uses[0].input == CALL_INPUT and uses[0].id == call_id and final.stop_reason == "tool_use",
           f"{what}: the SDK accumulates them into the tool_use input dict, id {call_id}, stop_reason tool_use")
    if kind != "anthropic":
        t = mock.last()["body"]["tools"]
        expect(t == [{"type": "function", "function": {"name": "get_weather", "description": WEATHER["description"],
                                                      "parameters": WEATHER["input_schema"]}}],
               f"{what}: tools translated to chat functions")

    convo = ask + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                                 "content": "18 degrees, sunny"}]}]
    r = client.messages.create(model=model, max_tokens=256, messages=convo, tools=[WEATHER])
    expect(r.content[0].text == TOOL_ANSWER and r.stop_reason == "end_turn", f"{what}: tool_result turn answered")
    up = mock.last()["body"]["messages"]
    if kind == "anthropic":
        expect(up == convo, f"{what}: tool_use/tool_result turns passed through unchanged")
    else:
        calls = [c for m in up if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
        tools = [m for m in up if m.get("role") == "tool"]
        expect(len(calls) == 1 and calls[0]["id"] == call_id and json.loads(calls[0]["function"]["arguments"]) == CALL_INPUT,
               f"{what}: upstream assistant turn carries the tool call with the same id")
        expect(len(tools) == 1 and tools[0]["tool_call_id"] == call_id and "18 degrees" in text_of(tools[0]["content"]),
               f"{what}: upstream tool message with the matching tool_call_id and the result")

    n = mock.count()
    ct = client.messages.count_tokens(model=model, system="Be terse.", messages=ask, tools=[WEATHER])
    if kind == "anthropic":
        up = mock.last()
        expect(ct.input_tokens == 4242 and up["path"].split("?")[0] == "/v1/messages/count_tokens"
               and up["body"]["model"] == up_model, f"{what}: count_tokens passed through (4242)")
    else:
        expect(0 < ct.input_tokens < 1000 and mock.count() == n,
               f"{what}: count_tokens is a local estimate ({ct.input_tokens}), no upstream call")

    r = client.messages.create(model=model, max_tokens=64, messages=hello,
                               extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14,fancy-future-beta-2099-01-01"})
    up = mock.last()
    expect(r.content[0].text == HELLO, f"{what}: a request with anthropic-beta succeeds")
    if kind == "anthropic":
        expect(up["headers"].get("anthropic-beta") == "interleaved-thinking-2025-05-14,fancy-future-beta-2099-01-01",
               f"{what}: anthropic-beta forwarded as sent")
    else:
        expect("anthropic-beta" not in up["headers"], f"{what}: anthropic-beta not sent to the OpenAI-compatible upstream")


def raises(cls, fn, what):
    try:
        fn()
    except cls as e:
        body = e.body if isinstance(e.body, dict) else {}
        err = body.get("error") or {}
        expect(body.get("type") == "error" and isinstance(err.get("type"), str) and err.get("message"),
               f"{what}: {type(e).__name__} {e.status_code}, Anthropic's error shape ({err.get('type')}: {err.get('message')})")
        return e
    except Exception as e:  # noqa: BLE001 - report what came instead
        expect(False, f"{what}: expected {cls.__name__}, got {type(e).__name__}: {e}")
    expect(False, f"{what}: expected {cls.__name__}, got a success")


def error_checks(anthropic, base, keys):
    hello = [{"role": "user", "content": "Hello"}]

    def client(k):
        return anthropic.Anthropic(base_url=base, api_key=k, max_retries=0, timeout=20)

    k = client(keys["all"])
    bearer = anthropic.Anthropic(base_url=base, api_key=None, auth_token=keys["all"], max_retries=0, timeout=20)
    expect(bearer.messages.create(model="claude", max_tokens=8, messages=hello).content[0].text == HELLO,
           "Authorization: Bearer <client key> is accepted too")
    e = raises(anthropic.AuthenticationError,
               lambda: client("sk-not-a-llmo-key").messages.create(model="claude", max_tokens=8, messages=hello),
               "bad key")
    expect(e.body["error"]["type"] == "authentication_error", "-> authentication_error")
    e = raises(anthropic.PermissionDeniedError,
               lambda: client(keys["only-claude"]).messages.create(model="gpt", max_tokens=8, messages=hello),
               "model not allowed for the key")
    expect(e.body["error"]["type"] == "permission_error", "-> permission_error")
    e = raises(anthropic.NotFoundError, lambda: k.messages.create(model="no-such-model", max_tokens=8, messages=hello),
               "unknown model")
    expect(e.body["error"]["type"] == "not_found_error" and "no-such-model" in e.body["error"]["message"],
           "-> not_found_error naming the model")
    for model in ("claude", "gpt"):
        e = raises(anthropic.BadRequestError,
                   lambda: k.messages.create(model=model, max_tokens=8, messages=hello, extra_body={"model": None}),
                   f"{model}: request without a model")
        expect(e.body["error"]["type"] == "invalid_request_error", "-> invalid_request_error")
    e = raises(anthropic.BadRequestError,
               lambda: k.messages.create(model="gpt", max_tokens=8, messages=hello, extra_body={"messages": "Hello"}),
               "gpt: messages not a list (translated)")
    expect("messages" in e.body["error"]["message"], "-> the message names `messages`")
    rpm = client(keys["one-rpm"])
    rpm.messages.create(model="claude", max_tokens=8, messages=hello)
    e = raises(anthropic.RateLimitError, lambda: rpm.messages.create(model="claude", max_tokens=8, messages=hello),
               "second request with a 1 rpm key")
    expect(e.body["error"]["type"] == "rate_limit_error" and e.response.headers.get("retry-after"),
           "-> rate_limit_error with Retry-After")
    for model in ("claude", "gpt"):
        e = raises(anthropic.InternalServerError,
                   lambda: k.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "OVERLOADED"}]),
                   f"{model}: upstream {'529' if model == 'claude' else '503'}")
        print(f"   {model}: the SDK raised {type(e).__name__} (status {e.status_code}, {e.body['error']['type']})")
    return e


def main():
    import anthropic  # pip install anthropic (tests/run.sh does)

    anth, chat = Mock(anthropic_route), Mock(chat_route)
    llmo = Llmo()
    llmo.run("provider", "add", "up-anthropic", "--kind", "anthropic", "--base-url", anth.url,
             "--api-key", "-", "--max-retries", "0", stdin=ANTHROPIC_KEY)
    llmo.run("provider", "add", "up-openai", "--kind", "openai-compatible", "--base-url", chat.url + "/v1",
             "--api-key", "-", "--max-retries", "0", stdin=OPENAI_KEY)
    llmo.run("model", "add", "claude", "--provider", f"up-anthropic={UP['claude']}")
    llmo.run("model", "add", "gpt", "--provider", f"up-openai={UP['gpt']}")
    keys = {"all": llmo.client_key(),
            "only-claude": json.loads(llmo.run("key", "create", "only-claude", "--models", "claude", "--json"))["key"],
            "one-rpm": json.loads(llmo.run("key", "create", "one-rpm", "--rpm", "1", "--json"))["key"]}
    base = llmo.serve()
    with serving(llmo, [anth, chat], lambda: (ANTHROPIC_KEY, OPENAI_KEY, *keys.values())):
        client = anthropic.Anthropic(base_url=base, api_key=keys["all"], max_retries=0, timeout=20)
        model_checks(client, "claude", anth)
        model_checks(client, "gpt", chat)
        error_checks(anthropic, base, keys)
    print("all anthropic SDK checks passed")


if __name__ == "__main__":
    main()

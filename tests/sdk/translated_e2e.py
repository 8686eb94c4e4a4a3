#!/usr/bin/env python3
"""End-to-end: the official `openai` Python SDK against a real `llmo serve`
whose providers are Anthropic and Gemini (translated), served by a stdlib mock
that answers like api.anthropic.com (`POST /v1/messages`) and
generativelanguage.googleapis.com (`POST /v1beta/models/{m}:generateContent`,
`:streamGenerateContent?alt=sse`, `:embedContent`, `:batchEmbedContents`) by
replaying tests/fixtures/{anthropic,gemini,translate}. The mock picks the
fixture from the request (tools or not, stream or not, a magic word in the
prompt: MAXTOKENS, STREAMERROR) and records every request, so the checks cover
both what the SDK sees and what llmo sent upstream. Two answers are built from
fixtures: a non-stream max-tokens stop (a recorded answer with its stop reason
changed) and an Anthropic stream cut by the recorded `event: error`.

Run: `cargo build && python3 tests/sdk/translated_e2e.py` (LLMO_BIN overrides
the binary). One `ok:` line per check; exits non-zero on the first failure.
"""
import base64
import json
import re
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from _harness import Llmo, Mock, Reply, expect, fixture, sse_events

ANTHROPIC_KEY = "sk-ant-e2e-anthropic-key-0001"
GEMINI_KEY = "AIza-e2e-gemini-key-00000000001"
GEMINI_REVOKED_KEY = "AIza-e2e-gemini-revoked-000001"
MISMATCHES = []  # header problems the mock saw; asserted empty at the end


def user_text_anthropic(body):
    out = []
    for m in body.get("messages", []):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        else:
            out.extend(b.get("text", "") for b in c if b.get("type") == "text")
    return " ".join(out)


def anthropic(path, headers, body):
    if path != "/v1/messages":
        return Reply.json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
    if headers.get("x-api-key") != ANTHROPIC_KEY or headers.get("anthropic-version") != "2023-06-01" \
            or "authorization" in headers:
        MISMATCHES.append(("anthropic", path, sorted(headers)))
        return Reply.json(fixture("anthropic/errors/401_authentication_error.json"), 401)
    text = user_text_anthropic(body)
    stream = body.get("stream") is True
    has_result = any(isinstance(m.get("content"), list) and any(b.get("type") == "tool_result" for b in m["content"])
                     for m in body["messages"])
    if "MAXTOKENS" in text:
        if stream:
            return Reply.sse(sse_events(fixture("translate/anthropic_two_tools_max_tokens.sse")))
        r = json.loads(fixture("anthropic/messages_response.json"))
        r["stop_reason"] = "max_tokens"
        return Reply.json(r)
    if "STREAMERROR" in text:
        # The recorded text stream, cut after a few deltas by the recorded
        # `event: error` (Anthropic sends it after the HTTP 200).
        events = sse_events(fixture("anthropic/messages_stream.sse"))[:6]
        return Reply.sse(events + sse_events(fixture("anthropic/errors/stream_error_event.sse")))
    if has_result:
        return Reply.json(fixture("anthropic/tool_result_response.json"))
    if body.get("tools"):
        if stream:
            return Reply.sse(sse_events(fixture("anthropic/tool_use_stream.sse")))
        return Reply.json(fixture("anthropic/tool_use_response.json"))
    if stream:
        return Reply.sse(sse_events(fixture("anthropic/messages_stream.sse")))
    return Reply.json(fixture("anthropic/messages_response.json"))


def gemini(path, headers, body):
    m = re.fullmatch(r"/v1beta/models/([^/:]+):(\w+)(\?alt=sse)?", path)
    if not m:
        return Reply.json({"error": {"code": 404, "message": path, "status": "NOT_FOUND"}}, 404)
    if headers.get("x-goog-api-key") != GEMINI_KEY or "authorization" in headers:
        MISMATCHES.append(("gemini", path, sorted(headers)))
        return Reply.json(fixture("gemini/errors/400_invalid_argument_api_key.json"), 400)
    method, sse = m.group(2), m.group(3) is not None
    if method == "embedContent":
        return Reply.json(fixture("translate/gemini_embed_content_response.json"))
    if method == "batchEmbedContents":
        return Reply.json(fixture("translate/gemini_batch_embed_contents_response.json"))
    if method not in ("generateContent", "streamGenerateContent") or (method == "streamGenerateContent") != sse:
        return Reply.json({"error": {"code": 400, "message": f"bad method {path}", "status": "INVALID_ARGUMENT"}}, 400)
    parts = [p for c in body.get("contents", []) for p in c.get("parts", [])]
    text = " ".join(p.get("text", "") for p in parts)
    if "MAXTOKENS" in text:
        if sse:
            return Reply.sse(sse_events(fixture("translate/gemini_max_tokens.sse")))
        r = json.loads(fixture("gemini/generate_content_response.json"))
        r["candidates"][0]["finishReason"] = "MAX_TOKENS"
        return Reply.json(r)
    if "STREAMERROR" in text:
        return Reply.sse(sse_events(fixture("translate/gemini_error_event.sse")))
    if any("functionResponse" in p for p in parts):
        return Reply.json(fixture("gemini/generate_content_response.json"))
    if body.get("tools"):
        if sse:
            return Reply.sse(sse_events(fixture("gemini/function_call_stream.sse")))
        return Reply.json(fixture("gemini/function_call_response.json"))
    if sse:
        return Reply.sse(sse_events(fixture("gemini/stream_generate_content.sse")))
    return Reply.json(fixture("gemini/generate_content_response.json"))


def route(method, path, headers, body):
    if path.startswith("/openai/"):
        # An OpenAI-kind provider that is down.
        return Reply.json(fixture("openai/errors/500_server_error.json"), 503)
    if path.startswith("/v1beta/"):
        if headers.get("x-goog-api-key") == GEMINI_REVOKED_KEY:
            return Reply.json(fixture("gemini/errors/400_invalid_argument_api_key.json"), 400)
        return gemini(path, headers, body)
    return anthropic(path, headers, body)


def collect(stream):
    """Content, tool calls {index: [id, name, args, fragments]}, finish_reason, usage, chunk count."""
    content, calls, finish, usage, n = "", {}, None, None, 0
    for chunk in stream:
        n += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            content += c.delta.content or ""
            for tc in c.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, [None, None, "", 0])
                slot[0] = tc.id or slot[0]
                slot[1] = (tc.function.name if tc.function else None) or slot[1]
                frag = (tc.function.arguments if tc.function else None) or ""
                slot[2] += frag
                slot[3] += 1 if frag else 0  # argument fragments received
            finish = c.finish_reason or finish
    return content, calls, finish, usage, n


def anthropic_checks(client, mock):
    print("# anthropic")
    system = {"role": "system", "content": "You are terse."}
    hello = {"role": "user", "content": "Hello"}

    r = client.chat.completions.create(model="claude", messages=[system, hello], temperature=0.3)
    up = mock.last()
    expect(r.choices[0].message.content == "Hi! My name is Claude." and r.model == "claude",
           "anthropic non-stream: content and the public model name")
    expect(r.choices[0].finish_reason == "stop", "anthropic end_turn -> finish_reason stop")
    expect((r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (2095, 503, 2598),
           "anthropic non-stream usage")
    expect(r.id == "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF", "anthropic id kept as chatcmpl-<msg id>")
    b = up["body"]
    expect(up["path"] == "/v1/messages" and b["model"] == "claude-sonnet-4-5", "upstream path and model")
    expect(b["system"] == "You are terse." and [m["role"] for m in b["messages"]] == ["user"]
           and user_text_anthropic(b) == "Hello", "system hoisted to top-level system, user turn kept")
    expect(b["max_tokens"] == 64000, "default max_tokens for claude-sonnet-4-5 is 64000")
    expect(b["temperature"] == 0.3 and not b.get("stream"), "temperature passed, no stream")

    content, _, finish, usage, _ = collect(client.chat.completions.create(
        model="claude", messages=[hello], max_tokens=50, stream=True, stream_options={"include_usage": True}))
    want = "".join(json.loads(line[6:])["delta"]["text"] for line in fixture("anthropic/messages_stream.sse").decode().splitlines()
                   if line.startswith("data: ") and '"text_delta"' in line)
    expect(content == want and finish == "stop", "anthropic stream: text reassembles, finish stop")
    expect(usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (770, 38, 808),
           "anthropic stream usage chunk with include_usage")
    b = mock.last()["body"]
    expect(b["stream"] is True and b["max_tokens"] == 50, "upstream stream=true, client max_tokens kept")
    _, _, _, usage, _ = collect(client.chat.completions.create(model="claude", messages=[hello], stream=True))
    expect(usage is None, "anthropic stream without include_usage has no usage chunk")

    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a place",
                                               "parameters": {"type": "object", "properties": {
                                                   "location": {"type": "string"}, "units": {"type": "string"}},
                                                   "required": ["location"]}}}]
    weather = {"role": "user", "content": "What's the weather in San Francisco?"}
    r = client.chat.completions.create(model="claude", messages=[weather], tools=tools, tool_choice="auto")
    call = r.choices[0].message.tool_calls[0]
    expect(call.id == "toolu_01A9HHF5Ezy3oBrKmSgfASm9" and call.function.name == "get_weather"
           and json.loads(call.function.arguments) == {"location": "San Francisco, CA", "units": "f"},
           "anthropic non-stream tool call (id, name, JSON arguments)")
    expect(r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None,
           "anthropic tool_use -> finish_reason tool_calls, content null")
    b = mock.last()["body"]
    expect(b["tools"] == [{"name": "get_weather", "description": "Weather for a place",
                           "input_schema": tools[0]["function"]["parameters"]}] and b["tool_choice"] == {"type": "auto"},
           "upstream tools as input_schema, tool_choice auto")

    _, calls, finish, _, n = collect(client.chat.completions.create(
        model="claude", messages=[weather], tools=tools, stream=True))
    expect(len(calls) == 1 and calls[0][0] == "toolu_018acGYLtfR52q9yDbWaEdQZ" and calls[0][1] == "get_weather"
           and json.loads(calls[0][2]) == {"location": "San Francisco, CA", "units": "f"} and calls[0][3] == 9,
           "anthropic stream tool call reassembled from argument fragments")
    expect(finish == "tool_calls", "anthropic stream finish_reason tool_calls")

    convo = [weather, r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "error: weather service unavailable"}]
    r2 = client.chat.completions.create(model="claude", messages=convo, tools=tools)
    expect(r2.choices[0].message.content.startswith("I apologize") and r2.choices[0].finish_reason == "stop",
           "anthropic tool-result round trip answers")
    msgs = mock.last()["body"]["messages"]
    expect([m["role"] for m in msgs] == ["user", "assistant", "user"], "upstream turns user/assistant/user")
    use = [blk for blk in msgs[1]["content"] if blk["type"] == "tool_use"]
    expect(use == [{"type": "tool_use", "id": call.id, "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "units": "f"}}],
           "upstream assistant turn carries tool_use with the same id, name and parsed input")
    res = msgs[2]["content"][0]
    expect(res["type"] == "tool_result" and res["tool_use_id"] == call.id
           and "weather service unavailable" in json.dumps(res["content"]),
           "upstream tool_result with the matching tool_use_id and the tool output")

    r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "MAXTOKENS please"}])
    expect(r.choices[0].finish_reason == "length", "anthropic max_tokens -> finish_reason length (non-stream)")
    content, calls, finish, _, _ = collect(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "MAXTOKENS please"}], stream=True))
    expect(finish == "length" and content.startswith("Checking both cities") and len(calls) == 2
           and json.loads(calls[0][2]) == {"city": "東京"}, "anthropic max_tokens -> finish_reason length (stream)")

    got, err = "", None
    try:
        for chunk in client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "STREAMERROR"}],
                                                    stream=True):
            for c in chunk.choices:
                got += c.delta.content or ""
    except openai.APIError as e:
        err = e
    expect(got.startswith("The weather in San Francisco") and err is not None and type(err) is openai.APIError
           and "Overloaded" in err.message, "anthropic mid-stream error event raises openai.APIError after the text")
    expect(isinstance(err.body, dict) and err.body.get("type") and "Overloaded" in err.body.get("message", ""),
           "the APIError carries the OpenAI-shaped error body")

    before = mock.count()
    try:
        client.embeddings.create(model="claude", input="hello")
        expect(False, "embeddings on an Anthropic-only model raises")
    except openai.BadRequestError as e:
        expect(e.status_code == 400 and "embeddings" in e.message.lower(),
               "embeddings on an Anthropic-only model -> BadRequestError 400 naming embeddings")
    expect(mock.count() == before, "no upstream call for unsupported embeddings")


def gemini_checks(client, mock):
    print("# gemini")
    r = client.chat.completions.create(model="gem", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is Google?"}], max_tokens=100)
    up = mock.last()
    expect("Mountain View" in r.choices[0].message.content and r.choices[0].finish_reason == "stop" and r.model == "gem",
           "gemini non-stream content, finish stop, public model")
    expect((r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (7, 22, 29), "gemini usage")
    b = up["body"]
    expect(up["path"] == "/v1beta/models/gemini-2.5-flash:generateContent", "upstream generateContent path")
    expect(b["systemInstruction"]["parts"] == [{"text": "Be brief."}]
           and b["contents"] == [{"role": "user", "parts": [{"text": "Where is Google?"}]}],
           "system -> systemInstruction, user -> contents")
    expect(b["generationConfig"]["maxOutputTokens"] == 100, "max_tokens -> generationConfig.maxOutputTokens")

    content, _, finish, usage, _ = collect(client.chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "Capital of Wyoming?"}], stream=True,
        stream_options={"include_usage": True}))
    expect(content == "The capital of Wyoming is **Cheyenne**.\n" and finish == "stop", "gemini stream text, finish stop")
    expect(usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 10, 17),
           "gemini stream usage chunk with include_usage")
    expect(mock.last()["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
           "upstream streamGenerateContent?alt=sse")

    tools = [{"type": "function", "function": {"name": "now", "description": "Current time",
                                               "parameters": {"type": "object", "properties": {}}}}]
    ask = {"role": "user", "content": "How many days until New Year's Eve?"}
    r = client.chat.completions.create(model="gem", messages=[ask], tools=tools, tool_choice="required")
    msg = r.choices[0].message
    call = msg.tool_calls[0]
    expect(call.function.name == "now" and json.loads(call.function.arguments) == {} and r.choices[0].finish_reason == "tool_calls",
           "gemini non-stream tool call, finish tool_calls")
    expect(call.id.startswith("call_38CHaLjMG6TujrEPtvTiuQk_0") and "__thought__" in call.id,
           "gemini tool call id carries the thought signature")
    b = mock.last()["body"]
    expect(b["tools"][0]["functionDeclarations"][0]["name"] == "now"
           and b["toolConfig"]["functionCallingConfig"]["mode"] == "ANY", "upstream functionDeclarations, mode ANY")

    _, calls, finish, _, _ = collect(client.chat.completions.create(model="gem", messages=[ask], tools=tools, stream=True))
    expect(len(calls) == 1 and calls[0][1] == "now" and json.loads(calls[0][2]) == {} and finish == "tool_calls",
           "gemini stream tool call, finish tool_calls")

    convo = [ask, msg.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "2026-11-27"}]
    r2 = client.chat.completions.create(model="gem", messages=convo, tools=tools)
    expect("Mountain View" in r2.choices[0].message.content, "gemini tool-result round trip answers")
    contents = mock.last()["body"]["contents"]
    expect([c["role"] for c in contents] == ["user", "model", "user"], "upstream turns user/model/user")
    fc = [p for p in contents[1]["parts"] if "functionCall" in p]
    sig = json.loads(fixture("gemini/function_call_response.json"))["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
    expect(len(fc) == 1 and fc[0]["functionCall"]["name"] == "now" and fc[0].get("thoughtSignature") == sig,
           "upstream model turn replays functionCall with its thoughtSignature")
    fr = contents[2]["parts"][0]["functionResponse"]
    expect(fr["name"] == "now" and fr["response"] == {"output": "2026-11-27"},
           "upstream functionResponse named after the call, output wrapped")

    r = client.chat.completions.create(model="gem", messages=[{"role": "user", "content": "MAXTOKENS story"}])
    expect(r.choices[0].finish_reason == "length", "gemini MAX_TOKENS -> finish_reason length (non-stream)")
    content, _, finish, _, _ = collect(client.chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "MAXTOKENS story"}], stream=True))
    expect(content == "Once upon a time, a" and finish == "length", "gemini MAX_TOKENS -> finish_reason length (stream)")

    got, err = "", None
    try:
        for chunk in client.chat.completions.create(model="gem", messages=[{"role": "user", "content": "STREAMERROR"}],
                                                    stream=True):
            for c in chunk.choices:
                got += c.delta.content or ""
    except openai.APIError as e:
        err = e
    expect(got == "Hello" and type(err) is openai.APIError and "overloaded" in err.message,
           "gemini mid-stream error raises openai.APIError after the text")

    e = client.embeddings.create(model="gem-embed", input="hello world")
    want = json.loads(fixture("translate/gemini_embed_content_response.json"))["embedding"]["values"]
    got = e.data[0].embedding
    expect(len(e.data) == 1 and len(got) == len(want) and all(abs(a - b) < 1e-6 for a, b in zip(got, want))
           and e.model == "gem-embed", "gemini embeddings (SDK default base64) decode to the upstream values")
    up = mock.last()
    expect(up["path"] == "/v1beta/models/gemini-embedding-001:embedContent"
           and up["body"]["content"] == {"parts": [{"text": "hello world"}]}, "upstream embedContent request")

    e = client.embeddings.create(model="gem-embed", input=["a", "b"], encoding_format="float", dimensions=4)
    want = [v["values"] for v in json.loads(fixture("translate/gemini_batch_embed_contents_response.json"))["embeddings"]]
    expect([d.embedding for d in e.data] == want and [d.index for d in e.data] == [0, 1],
           "gemini batch embeddings (float), in order")
    reqs = mock.last()["body"]["requests"]
    expect(mock.last()["path"].endswith("/models/gemini-embedding-001:batchEmbedContents")
           and [q["content"]["parts"][0]["text"] for q in reqs] == ["a", "b"]
           and all(q["model"] == "models/gemini-embedding-001" and q["outputDimensionality"] == 4 for q in reqs),
           "upstream batchEmbedContents request with model and dimensions")
    # The base64 path really is little-endian float32, as OpenAI's is.
    raw = client.embeddings.with_raw_response.create(model="gem-embed", input="x", encoding_format="base64")
    b64 = json.loads(raw.text)["data"][0]["embedding"]
    floats = struct.unpack("<4f", base64.b64decode(b64))
    expect(all(abs(a - b) < 1e-6 for a, b in zip(floats, json.loads(
        fixture("translate/gemini_embed_content_response.json"))["embedding"]["values"])),
        "base64 embeddings are little-endian float32")


def failover_checks(client, mock):
    print("# failover across kinds")
    hello = [{"role": "user", "content": "Hello"}]
    n = mock.count()
    r = client.chat.completions.create(model="fallback", messages=hello)
    paths = [q["path"] for q in mock.requests()[n:]]
    expect(r.choices[0].message.content == "Hi! My name is Claude." and r.model == "fallback",
           "OpenAI-kind provider answering 503 -> served by Anthropic, a normal OpenAI answer")
    expect(paths == ["/openai/v1/chat/completions"] * 2 + ["/v1/messages"], f"one retry, then failover ({paths})")
    content, _, finish, _, _ = collect(client.chat.completions.create(model="fallback", messages=hello, stream=True))
    expect(content.startswith("The weather in San Francisco") and finish == "stop"
           and mock.requests()[-1]["body"]["stream"] is True, "the same failover for a stream")

    n = mock.count()
    r = client.chat.completions.create(model="resilient", messages=hello)
    paths = [q["path"] for q in mock.requests()[n:]]
    expect(r.choices[0].message.content == "Hi! My name is Claude.",
           "Gemini refusing llmo's key (400 API_KEY_INVALID) -> served by Anthropic")
    expect(paths == ["/v1beta/models/gemini-2.5-flash:generateContent", "/v1/messages"],
           f"a refused key is not retried on the same provider ({paths})")


def main():
    mock = Mock(route)
    llmo = Llmo()
    llmo.run("provider", "add", "claude-up", "--kind", "anthropic", "--base-url", mock.url,
             "--api-key", "-", "--max-retries", "0", stdin=ANTHROPIC_KEY)
    llmo.run("provider", "add", "gemini-up", "--kind", "gemini", "--base-url", mock.url + "/v1beta",
             "--api-key", "-", "--max-retries", "0", stdin=GEMINI_KEY)
    llmo.run("model", "add", "claude", "--provider", "claude-up=claude-sonnet-4-5")
    llmo.run("model", "add", "gem", "--provider", "gemini-up=gemini-2.5-flash")
    llmo.run("model", "add", "gem-embed", "--provider", "gemini-up=gemini-embedding-001")
    # Failover across kinds: the first tier fails, Anthropic (tier 1) serves.
    llmo.run("provider", "add", "openai-down", "--kind", "openai-compatible", "--base-url", mock.url + "/openai/v1",
             "--api-key", "-", "--max-retries", "1", stdin="sk-openai-e2e-0001")
    llmo.run("provider", "add", "gemini-revoked", "--kind", "gemini", "--base-url", mock.url + "/v1beta",
             "--api-key", "-", "--max-retries", "2", stdin=GEMINI_REVOKED_KEY)
    llmo.run("provider", "add", "claude-backup", "--kind", "anthropic", "--base-url", mock.url,
             "--api-key", "-", "--max-retries", "0", "--priority", "1", stdin=ANTHROPIC_KEY)
    llmo.run("model", "add", "fallback", "--provider", "openai-down=gpt-4o",
             "--provider", "claude-backup=claude-sonnet-4-5")
    llmo.run("model", "add", "resilient", "--provider", "gemini-revoked=gemini-2.5-flash",
             "--provider", "claude-backup=claude-sonnet-4-5")
    key = llmo.client_key()
    base = llmo.serve()
    try:
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)
        anthropic_checks(client, mock)
        gemini_checks(client, mock)
        failover_checks(client, mock)
    finally:
        code = llmo.stop()
        mock.close()
    expect(not MISMATCHES, f"every upstream request carried the vendor's auth headers ({MISMATCHES})")
    expect(code == 0, "serve exits 0 on SIGTERM")
    expect(not [k for k in (ANTHROPIC_KEY, GEMINI_KEY, GEMINI_REVOKED_KEY, "sk-openai-e2e-0001", key)
                if k in llmo.stderr], "no key in the server's logs")
    print("all translated SDK checks passed")


if __name__ == "__main__":
    import openai  # pip install openai

    main()

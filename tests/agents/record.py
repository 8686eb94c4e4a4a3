#!/usr/bin/env python3
"""Record what the real agents send, into tests/fixtures/agents/.

Runs Claude Code against a recording mock of the Anthropic Messages API and
Codex CLI against a recording mock of the OpenAI Responses API (no llmo in
between, nothing leaves 127.0.0.1), each through a plain turn and a tool turn
(see _agents.scripted_turn), and writes one JSON file per distinct request
shape: `{"agent", "method", "path", "headers", "body"}` with the secret headers
masked. Also prints every path each agent called. Run by hand after bumping
the agents in package.json (`npm install` there, then
`python3 tests/agents/record.py`), then review the diff and update the
provenance line in tests/fixtures/README.md.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
import _agents as A  # noqa: E402
from _harness import Mock, Reply  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(A.HERE)), "tests", "fixtures", "agents")
KEY = "sk-llmo-record-0000000000000000"


def anthropic_route(method, path, headers, body):
    if method == "HEAD" or method == "GET":
        return Reply.json({})
    if path.split("?")[0] == "/v1/messages/count_tokens":
        return Reply.json({"input_tokens": 100})
    if path.split("?")[0] != "/v1/messages":
        return Reply.json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
    turn = A.scripted_turn("anthropic", body)
    return Reply.sse(turn.anthropic_sse(body["model"])) if body.get("stream") else Reply.json(turn.anthropic(body["model"]))


def responses_route(method, path, headers, body):
    if method != "POST" or path != "/v1/responses":
        return Reply.json({"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}, 404)
    turn = A.scripted_turn("responses", body)
    return Reply.sse(turn.response_sse(body["model"])) if body.get("stream") else Reply.json(turn.response(body["model"]))


def save(name, agent, req):
    doc = {"agent": agent, "method": req["method"], "path": req["path"],
           "headers": A.masked_headers(req["headers"]), "body": req["body"]}
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    assert KEY not in text, "a secret would be written"
    with open(os.path.join(OUT, name), "w") as f:
        f.write(text)
    print(f"wrote tests/fixtures/agents/{name} ({len(text)} bytes)")


def check(run, want, what):
    if run.code != 0 or want not in run.text():
        sys.exit(f"FAIL: {what}: expected {want!r}\n{run.describe()}")


def main():
    why = A.missing()
    if why:
        sys.exit(f"cannot record: {why}")
    os.makedirs(OUT, exist_ok=True)
    claude_v, codex_v = A.version(A.CLAUDE), A.version(A.CODEX)

    mock = Mock(anthropic_route)
    # Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, to see the probes too.
    check(A.claude(mock.url, KEY, "claude-e2e", A.PLAIN_PROMPT, quiet=False), A.PONG, "claude plain (all traffic)")
    probes = [q for q in mock.requests() if q["method"] != "POST"]
    n = mock.count()
    check(A.claude(mock.url, KEY, "claude-e2e", A.PLAIN_PROMPT), A.PONG, "claude plain")
    plain = mock.requests()[n:]
    n = mock.count()
    check(A.claude(mock.url, KEY, "claude-e2e", A.TOOL_PROMPT, tool=True), A.TOOL_ANSWER, "claude tool")
    tool = mock.requests()[n:]
    print(f"# {claude_v}: quiet plain turn {[(q['method'], q['path']) for q in plain]}, "
          f"tool turn {[(q['method'], q['path']) for q in tool]}, "
          f"without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC also {[(q['method'], q['path']) for q in probes]}")
    save("claude_code_messages_request.json", claude_v, plain[0])
    save("claude_code_messages_tool_result_request.json", claude_v, tool[-1])
    for q in probes:
        slug = q["path"].strip("/").replace("/", "_") or "root"
        save(f"claude_code_probe_{q['method'].lower()}_{slug}.json", claude_v, q)
    mock.close()

    mock = Mock(responses_route)
    check(A.codex(mock.url + "/v1", KEY, "gpt-e2e", A.PLAIN_PROMPT), A.PONG, "codex plain")
    plain = mock.requests()
    n = mock.count()
    check(A.codex(mock.url + "/v1", KEY, "gpt-e2e", A.TOOL_PROMPT), A.TOOL_ANSWER, "codex tool")
    tool = mock.requests()[n:]
    print(f"# {codex_v}: plain turn {[(q['method'], q['path']) for q in plain]}, "
          f"tool turn {[(q['method'], q['path']) for q in tool]}")
    save("codex_responses_request.json", codex_v, plain[0])
    save("codex_responses_function_call_output_request.json", codex_v, tool[-1])
    mock.close()


if __name__ == "__main__":
    main()

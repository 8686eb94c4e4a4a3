#!/usr/bin/env python3
"""End-to-end: the real coding agents through a real `llmo serve`.

Claude Code (`claude -p ... --output-format json`, ANTHROPIC_BASE_URL = llmo,
ANTHROPIC_API_KEY = a llmo client key, ANTHROPIC_MODEL = a llmo model) and
Codex CLI (`codex exec`, a `model_providers` entry with base_url = llmo's
`/v1` and `wire_api = "responses"`) each complete a plain turn and a tool
turn through two llmo models: one served by an `anthropic`-kind provider
(a mock of the Messages API: passthrough for Claude Code, translated for
Codex) and one by an `openai-compatible` provider (a mock of Chat
Completions: translated for both). The mocks follow `_agents.scripted_turn`:
the tool turn's first upstream call asks for the agent's own shell tool
running `echo llmo-tool-ok`, the second (carrying the tool result) answers
text quoting it. Checks: exit 0, the agent's final answer, the tool result
(with the same call id) in the upstream's second call, the upstream key and
betas, no key in llmo's log. Prints each agent's final output.

Run: `python3 tests/agents/agents_e2e.py` after `npm ci` in tests/agents
(tests/run.sh does both; LLMO_BIN overrides the binary). Skipped, with a
message, only when `node` is missing. Each agent run has a 90 s timeout.
AGENTS_ONLY=REGEX runs only the cases whose label matches (e.g. 'Codex.*openai').
"""
import os
import re
import sys
import time

sys.dont_write_bytecode = True
import _agents as A  # noqa: E402
from _harness import Llmo, Mock, Reply, expect, serving  # noqa: E402

ANTHROPIC_KEY = "sk-ant-agents-e2e-upstream-0001"
OPENAI_KEY = "sk-openai-agents-e2e-upstream-0001"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
OPENAI_MODEL = "gpt-4o"
TRANSCRIPTS = []


def anthropic_route(method, path, headers, body):
    bare = path.split("?")[0]
    if method == "POST" and bare == "/v1/messages/count_tokens":
        return Reply.json({"input_tokens": 1234})
    if method != "POST" or bare != "/v1/messages":
        return Reply.json({"type": "error", "error": {"type": "not_found_error", "message": f"{method} {path}"}}, 404)
    if headers.get("x-api-key") != ANTHROPIC_KEY:
        return Reply.json({"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}, 401)
    turn = A.scripted_turn("anthropic", body)
    model = body.get("model")
    return Reply.sse(turn.anthropic_sse(model)) if body.get("stream") else Reply.json(turn.anthropic(model))


def chat_route(method, path, headers, body):
    if method == "GET" and path == "/v1/models":
        return Reply.json({"object": "list", "data": [{"id": OPENAI_MODEL, "object": "model", "owned_by": "e2e"}]})
    if method != "POST" or path != "/v1/chat/completions":
        return Reply.json({"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}, 404)
    if headers.get("authorization") != f"Bearer {OPENAI_KEY}":
        return Reply.json({"error": {"message": "bad key", "type": "invalid_request_error"}}, 401)
    turn = A.scripted_turn("chat", body)
    model = body.get("model")
    return Reply.sse(turn.chat_sse(model)) if body.get("stream") else Reply.json(turn.chat(model))


def transcript(label, run):
    if run.json is not None:
        j = run.json
        shown = {k: j.get(k) for k in ("type", "subtype", "is_error", "num_turns", "stop_reason", "result")}
        text = f"claude --output-format json (abridged): {shown}"
    else:
        lines = [ln for ln in run.err.splitlines() if not ln.startswith(("WARNING:", "warning:"))]
        text = "codex stderr:\n" + "\n".join(lines) + f"\ncodex stdout: {run.out.strip()}"
    TRANSCRIPTS.append((label, text))
    print(f"--- {label}\n{text}", flush=True)


def tool_call_ids(fmt, body):
    """Ids of the tool calls in the assistant turns of an upstream request."""
    ids = []
    for m in body.get("messages", []):
        if m.get("role") != "assistant":
            continue
        if fmt == "anthropic" and isinstance(m.get("content"), list):
            ids += [b.get("id") for b in m["content"] if b.get("type") == "tool_use"]
        if fmt == "chat":
            ids += [c.get("id") for c in m.get("tool_calls") or []]
    return ids


def case(agent, run_agent, model, mock, fmt, upstream_model):
    label = f"{agent} via {model} ({fmt} upstream)"
    if not re.search(os.environ.get("AGENTS_ONLY", ""), label):
        print(f"skipped (AGENTS_ONLY): {label}")
        return None
    n = mock.count()
    t0 = time.monotonic()
    run = run_agent(A.PLAIN_PROMPT, False)
    transcript(f"{label}: plain turn ({time.monotonic() - t0:.1f} s)", run)
    seen = mock.requests()[n:]
    expect(run.code == 0 and run.text().strip().rstrip(".").lower() == A.PONG,
           f"{label}: plain turn exits 0 and answers {A.PONG!r}" + ("" if run.code == 0 else "\n" + run.describe()))
    expect(len(seen) >= 1 and all(q["body"].get("model") == upstream_model for q in seen),
           f"{label}: the upstream got {len(seen)} request(s) for {upstream_model}")

    n = mock.count()
    t0 = time.monotonic()
    run = run_agent(A.TOOL_PROMPT, True)
    transcript(f"{label}: tool turn ({time.monotonic() - t0:.1f} s)", run)
    seen = mock.requests()[n:]
    expect(run.code == 0 and A.TOOL_ANSWER in run.text(),
           f"{label}: tool turn exits 0 and answers {A.TOOL_ANSWER!r}" + ("" if run.code == 0 else "\n" + run.describe()))
    expect(len(seen) == 2, f"{label}: two upstream calls for the tool turn (got {[q['path'] for q in seen]})")
    call_id = A.ANTHROPIC_CALL_ID if fmt == "anthropic" else A.CHAT_CALL_ID
    results = A.tool_results(fmt, seen[-1]["body"])
    expect(any(cid == call_id and A.MARKER in out for cid, out in results),
           f"{label}: the second upstream call carries the tool's output under call id {call_id} ({results})")
    expect(call_id in tool_call_ids(fmt, seen[-1]["body"]),
           f"{label}: ... and the assistant's tool call with the same id")
    return seen


def main():
    why = A.missing()
    if why and "node" in why.split()[0]:
        print(f"SKIP tests/agents/agents_e2e.py: {why}")
        return
    expect(why is None, f"the agents are installed ({why})")
    print(f"# {A.version(A.CLAUDE)}, {A.version(A.CODEX)}")
    anth, chat = Mock(anthropic_route), Mock(chat_route)
    llmo = Llmo()
    llmo.run("provider", "add", "up-anthropic", "--kind", "anthropic", "--base-url", anth.url,
             "--api-key", "-", "--max-retries", "0", stdin=ANTHROPIC_KEY)
    llmo.run("provider", "add", "up-openai", "--kind", "openai-compatible", "--base-url", chat.url + "/v1",
             "--api-key", "-", "--max-retries", "0", stdin=OPENAI_KEY)
    llmo.run("model", "add", "via-anthropic", "--provider", f"up-anthropic={ANTHROPIC_MODEL}")
    llmo.run("model", "add", "via-openai", "--provider", f"up-openai={OPENAI_MODEL}")
    key = llmo.client_key("agents")
    base = llmo.serve()
    started = time.monotonic()
    with serving(llmo, [anth, chat], lambda: (ANTHROPIC_KEY, OPENAI_KEY, key)):
        def claude(model):
            return lambda prompt, tool: A.claude(base, key, model, prompt, tool=tool)

        def codex(model):
            return lambda prompt, tool: A.codex(base + "/v1", key, model, prompt)

        seen = case("Claude Code", claude("via-anthropic"), "via-anthropic", anth, "anthropic", ANTHROPIC_MODEL)
        if seen:
            betas = seen[0]["headers"].get("anthropic-beta", "")
            expect("claude-code-20250219" in betas and seen[0]["headers"].get("x-api-key") == ANTHROPIC_KEY
                   and "authorization" not in seen[0]["headers"],
                   "Claude Code -> anthropic: betas forwarded, only llmo's upstream key goes up")
        case("Claude Code", claude("via-openai"), "via-openai", chat, "chat", OPENAI_MODEL)
        case("Codex", codex("via-anthropic"), "via-anthropic", anth, "anthropic", ANTHROPIC_MODEL)
        case("Codex", codex("via-openai"), "via-openai", chat, "chat", OPENAI_MODEL)
    print(f"all agent checks passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

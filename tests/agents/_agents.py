"""Helpers shared by tests/agents/agents_e2e.py and tests/agents/record.py.

The real coding agents, installed by tests/run.sh into tests/agents/node_modules
(`npm ci`, versions pinned in package-lock.json), run offline against a local
URL: Claude Code (`claude -p`, Anthropic Messages) and Codex CLI (`codex
exec`, OpenAI Responses). Each run gets a fresh HOME and work directory;
nothing is sent anywhere but the given base URL.

`scripted_turn()` is the upstream's script, the same for every wire format: a
tool result in the request -> text quoting it; a request whose user turn asks
to run MARKER_CMD -> a call of the agent's shell tool running it; anything
else -> "pong". Not a test itself (no `_e2e` in the name).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sdk"))
from _harness import Turn  # noqa: E402

BIN = os.path.join(HERE, "node_modules", ".bin")
CLAUDE = os.path.join(BIN, "claude")
CODEX = os.path.join(BIN, "codex")

MARKER = "llmo-tool-ok"
MARKER_CMD = f"echo {MARKER}"
PLAIN_PROMPT = "Reply with the single word pong."
TOOL_PROMPT = f"Run the shell command `{MARKER_CMD}` and tell me what it printed."
PONG = "pong"
TOOL_ANSWER = f"The tool printed: {MARKER}"
ANTHROPIC_CALL_ID = "toolu_01LlmoE2eBashCall0000001"
CHAT_CALL_ID = "call_llmoE2eShellCall0000001"

# Claude Code's switches for a run with no traffic but the model's API.
CLAUDE_QUIET = {"DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1"}
SECRET_HEADERS = ("x-api-key", "authorization", "api-key", "x-goog-api-key", "cookie")


def missing():
    """Why the agents cannot run here (None when they can)."""
    if shutil.which("node") is None:
        return "node is not on PATH (Codex CLI's launcher needs it)"
    for b in (CLAUDE, CODEX):
        if not os.access(b, os.X_OK):
            return f"{b} is missing: run `npm ci` in tests/agents (tests/run.sh does)"
    return None


def version(binary):
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def _base_env(home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": home,
           "LANG": "C.UTF-8", "NO_COLOR": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return env


class Run:
    """One agent run: exit code, stdout, stderr, and the parsed JSON output (Claude Code)."""

    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err
        try:
            self.json = json.loads(out)
        except ValueError:
            self.json = None

    def text(self):
        """The agent's final answer: Claude's `result`, Codex's stdout."""
        if isinstance(self.json, dict) and "result" in self.json:
            return str(self.json["result"])
        return self.out.strip()

    def describe(self):
        return f"exit {self.code}\n--- stdout\n{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}"


def _run(argv, env, cwd, timeout):
    try:
        r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return Run(r.returncode, r.stdout, r.stderr)
    except subprocess.TimeoutExpired as e:
        def s(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return Run(f"timeout after {timeout}s", s(e.stdout), s(e.stderr))


def claude(base_url, api_key, model, prompt, tool=False, quiet=True, timeout=90):
    """`claude -p PROMPT --output-format json` against base_url (the Anthropic API root).
    With `tool`, Bash is allowed without asking (works as root, unlike
    --dangerously-skip-permissions)."""
    home = tempfile.mkdtemp(prefix="llmo-claude-")
    work = os.path.join(home, "work")
    os.mkdir(work)
    env = _base_env(home)
    env.update({"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": api_key, "ANTHROPIC_MODEL": model,
                "ANTHROPIC_SMALL_FAST_MODEL": model, "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
                "ANTHROPIC_DEFAULT_SONNET_MODEL": model, "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
                "CLAUDE_CONFIG_DIR": os.path.join(home, ".claude")})
    if quiet:
        env.update(CLAUDE_QUIET)
    else:
        env["DISABLE_TELEMETRY"] = "1"
    argv = [CLAUDE, "-p", prompt, "--output-format", "json", "--max-turns", "4"]
    if tool:
        argv += ["--allowedTools", "Bash"]
    try:
        return _run(argv, env, work, timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def codex(base_url, api_key, model, prompt, timeout=90):
    """`codex exec` with a `model_providers.llmo` entry (`wire_api = "responses"`)
    whose base_url is the given `/v1` root; no sandbox, no approvals (the
    container has no user namespaces for Codex's sandbox), no update check,
    no analytics."""
    home = tempfile.mkdtemp(prefix="llmo-codex-")
    work = os.path.join(home, "work")
    codex_home = os.path.join(home, ".codex")
    os.mkdir(work)
    os.mkdir(codex_home)
    with open(os.path.join(codex_home, "config.toml"), "w") as f:
        f.write(f'''model = "{model}"
model_provider = "llmo"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.llmo]
name = "llmo"
base_url = "{base_url}"
wire_api = "responses"
env_key = "LLMO_API_KEY"
''')
    env = _base_env(home)
    env.update({"CODEX_HOME": codex_home, "LLMO_API_KEY": api_key})
    argv = [CODEX, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "--color", "never", prompt]
    try:
        return _run(argv, env, work, timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ----- the upstream's script -----

def _blocks_text(content):
    if isinstance(content, str):
        return content
    out = []
    for b in content or []:
        if isinstance(b, dict):
            t = b.get("text")
            out.append(t if isinstance(t, str) else _blocks_text(b.get("content")))
    return "\n".join(out)


def tool_results(fmt, body):
    """[(call id, output text)] of the tool results a request carries."""
    if fmt == "anthropic":
        return [(b.get("tool_use_id"), _blocks_text(b.get("content")))
                for m in body.get("messages", []) if isinstance(m.get("content"), list)
                for b in m["content"] if b.get("type") == "tool_result"]
    if fmt == "chat":
        return [(m.get("tool_call_id"), _blocks_text(m.get("content")))
                for m in body.get("messages", []) if m.get("role") == "tool"]
    items = body.get("input") if isinstance(body.get("input"), list) else []
    return [(i.get("call_id"), _blocks_text(i.get("output"))) for i in items
            if i.get("type") == "function_call_output"]


def tool_names(fmt, body):
    names = []
    for t in body.get("tools") or []:
        names.append(t.get("function", {}).get("name") if fmt == "chat" else t.get("name"))
    return [n for n in names if n]


def shell_call(fmt, body):
    """(id, name, input) calling whichever shell tool the agent offered."""
    names = tool_names(fmt, body)
    call_id = ANTHROPIC_CALL_ID if fmt == "anthropic" else CHAT_CALL_ID
    if "Bash" in names:
        return call_id, "Bash", {"command": MARKER_CMD, "description": "Print the marker"}
    if "exec_command" in names:
        return call_id, "exec_command", {"cmd": MARKER_CMD}
    if "shell" in names:
        return call_id, "shell", {"command": ["bash", "-lc", MARKER_CMD]}
    return None


def scripted_turn(fmt, body):
    """The answer to a request of wire format `fmt` (anthropic, chat, responses)."""
    results = tool_results(fmt, body)
    if results:
        out = results[-1][1]
        return Turn(text=TOOL_ANSWER if MARKER in out else f"The tool result lacked the marker: {out!r}")
    convo = body.get("messages") if fmt != "responses" else body.get("input")
    if MARKER_CMD in json.dumps(convo):
        call = shell_call(fmt, body)
        if call is None:
            return Turn(text=f"no shell tool offered: {tool_names(fmt, body)}")
        return Turn(text="Running it." if fmt == "anthropic" else None, tool=call)
    return Turn(text=PONG)


def masked_headers(headers):
    return {k: ("<masked>" if k in SECRET_HEADERS else v) for k, v in sorted(headers.items())}

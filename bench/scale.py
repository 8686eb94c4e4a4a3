#!/usr/bin/env python3
"""llmo with a large catalog: start to ready, reloads and memory.

    python3 bench/scale.py --llmo target/release/llmo [--keys 100000] [--models 10000]

Seeds a database the way an operator's would look (written through llmo's
own schema: `llmo provider add` creates and migrates it, then one SQLite
transaction adds the models, their mappings and the client keys), starts
`llmo serve` on it and measures:

* start to ready: from spawn to the first 200 on GET /ready;
* idle RSS 1 s after ready, on this database and on the same one without
  client keys (the difference over the key count is the memory per key);
* a key created through the admin API: from the POST until a request with
  it is no longer refused with 401 (a request for an unknown model: 404
  once the key is known, no upstream involved);
* the same key revoked through the admin API: until it gets 401 again;
* a key created by another process (`llmo key create`): until usable (the
  gateway polls every 500 ms, so this includes up to one poll interval);
* a model added through the admin API (a full reload): until
  GET /v1/models/NAME answers 200.

Prints a Markdown table (and `--json` for the raw figures). Standard library
only; everything on 127.0.0.1; the server is stopped on exit.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ADMIN_KEY = "bench-admin-key-0123456789abcdef0123456789"
TIMEOUT_S = 240.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bench_key(i):
    return f"llmo-bench-{i:08d}"


def llmo_env(tmp, db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMO_")}
    env.update(
        LLMO_DB=db,
        LLMO_ADMIN_KEY=ADMIN_KEY,
        XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"),
        XDG_DATA_HOME=os.path.join(tmp, "xdg-data"),
        NO_PROXY="127.0.0.1,localhost",
        RUST_LOG="info",
    )
    return env


def seed(llmo, tmp, n_keys, n_models):
    """Returns (db with keys, db without keys), both with the models."""
    base = os.path.join(tmp, "base.db")
    subprocess.run(
        [llmo, "provider", "add", "bench", "--kind", "openai-compatible",
         "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-bench", "--models", "seed-model"],
        env=llmo_env(tmp, base), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    now = int(time.time() * 1000)
    con = sqlite3.connect(base, isolation_level=None)
    con.execute("BEGIN")
    (pid,) = con.execute("SELECT id FROM providers WHERE name = 'bench'").fetchone()
    con.executemany(
        "INSERT INTO models (name, description, enabled, created_at, updated_at) VALUES (?, '', 1, ?, ?)",
        ((f"model-{i:05d}", now, now) for i in range(n_models)))
    con.execute(
        "INSERT INTO model_providers (model_id, provider_id, upstream_model, enabled, created_at) "
        "SELECT id, ?, name, 1, ? FROM models WHERE name LIKE 'model-%'", (pid, now))
    con.execute("COMMIT")
    con.close()
    full = os.path.join(tmp, "full.db")
    shutil.copyfile(base, full)
    con = sqlite3.connect(full, isolation_level=None)
    con.execute("BEGIN")
    # Every 10th key has a rate limit, every 20th a list of allowed models.
    con.executemany(
        "INSERT INTO api_keys (name, key_hash, prefix, rpm_limit, allowed_models, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((f"user-{i:08d}", hashlib.sha256(bench_key(i).encode()).hexdigest(), bench_key(i)[:9],
          60 if i % 10 == 0 else 0,
          json.dumps(["model-00001", "model-00002"]) if i % 20 == 0 else None, now)
         for i in range(n_keys)))
    con.execute("COMMIT")
    con.close()
    return full, base


class Server:
    def __init__(self, llmo, tmp, db, tag):
        self.port = free_port()
        self.log_path = os.path.join(tmp, f"serve-{tag}.log")
        self.log = open(self.log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [llmo, "serve", "--listen", f"127.0.0.1:{self.port}"],
            env=llmo_env(tmp, db), stdout=self.log, stderr=subprocess.STDOUT)
        self.conn = None

    def request(self, method, path, body=None, key=None):
        """Status and body of one request (reconnecting as needed); 0 on a transport error."""
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                                  headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if self.proc.poll() is not None:
                    raise SystemExit(f"llmo exited; see {self.log_path}")
                time.sleep(0.001)
        return 0, b""

    def wait(self, what, pred):
        """Seconds until pred() holds (polled back to back), or None after TIMEOUT_S."""
        t = time.monotonic()
        while time.monotonic() - t < TIMEOUT_S:
            if pred():
                return time.monotonic() - t
            if self.proc.poll() is not None:
                raise SystemExit(f"llmo exited while waiting for {what}; see {self.log_path}")
        print(f"[scale] gave up waiting for {what} after {TIMEOUT_S:.0f} s", file=sys.stderr)
        return None

    def cpu_ms(self):
        """User + system CPU time the server has used so far, ms (all threads)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_and_settle(llmo, tmp, db, tag):
    s = Server(llmo, tmp, db, tag)
    ready = s.wait("/ready", lambda: s.request("GET", "/ready")[0] == 200)
    ready_s = None if ready is None else time.monotonic() - s.t0
    s.start_cpu_ms = s.cpu_ms()
    time.sleep(1.0)
    return s, ready_s, s.rss_kb()


def chat_status(s, key):
    return s.request("POST", "/v1/chat/completions",
                     {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, key)[0]


def measure(llmo, n_keys, n_models):
    tmp = tempfile.mkdtemp(prefix="llmo-scale.")
    servers = []
    try:
        t = time.monotonic()
        full, base = seed(llmo, tmp, n_keys, n_models)
        res = {"keys": n_keys, "models": n_models, "seed_s": time.monotonic() - t}

        s0, _, rss0 = start_and_settle(llmo, tmp, base, "nokeys")
        servers.append(s0)
        s0.stop()
        res["idle_rss_kb_no_keys"] = rss0

        s, ready_s, rss = start_and_settle(llmo, tmp, full, "full")
        servers.append(s)
        res["start_to_ready_s"] = ready_s
        res["start_cpu_ms"] = s.start_cpu_ms
        res["idle_rss_kb"] = rss
        res["bytes_per_key"] = (rss - rss0) * 1024 / n_keys if n_keys else None
        old = bench_key(1)
        assert chat_status(s, old) == 404, "a seeded key must be accepted"

        admin = f"Bearer {ADMIN_KEY}"
        t = time.monotonic()
        st, body = s.request("POST", "/admin/keys", {"name": "bench-new"}, ADMIN_KEY)
        assert st == 201, (st, body, admin)
        key = json.loads(body)["key"]
        usable = s.wait("the admin-created key", lambda: chat_status(s, key) != 401)
        res["admin_key_create_s"] = None if usable is None else time.monotonic() - t

        t = time.monotonic()
        st, body = s.request("POST", "/admin/keys/bench-new/revoke", None, ADMIN_KEY)
        assert st == 200, (st, body)
        gone = s.wait("the revoked key", lambda: chat_status(s, key) == 401)
        res["admin_key_revoke_s"] = None if gone is None else time.monotonic() - t

        out = subprocess.run([llmo, "key", "create", "bench-cli", "--json"], env=llmo_env(tmp, full),
                             check=True, capture_output=True, text=True)
        cli_key = json.loads(out.stdout)["key"]
        t = time.monotonic()
        w = s.wait("the CLI-created key", lambda: chat_status(s, cli_key) != 401)
        res["cli_key_create_s"] = w

        t = time.monotonic()
        cpu0 = s.cpu_ms()
        st, body = s.request("POST", "/admin/models",
                             {"name": "bench-late", "providers": [{"provider": "bench", "upstream_model": "x"}]},
                             ADMIN_KEY)
        assert st == 201, (st, body)
        w = s.wait("the admin-added model", lambda: s.request("GET", "/v1/models/bench-late", None, old)[0] == 200)
        res["admin_model_add_s"] = None if w is None else time.monotonic() - t
        res["admin_model_add_cpu_ms"] = s.cpu_ms() - cpu0
        res["rss_after_changes_kb"] = s.rss_kb()
        s.stop()
        with open(s.log_path) as f:
            res["server_log"] = [ln.rstrip() for ln in f if "loaded" in ln or "changed" in ln][-6:]
        return res
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def fmt_s(v):
    if v is None:
        return f"> {TIMEOUT_S:.0f} s"
    return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"


def verdict(v, limit):
    return "PASS" if v is not None and v < limit else "**FAIL**"


def table(r):
    rows = [
        ("start to ready (existing DB)", fmt_s(r["start_to_ready_s"]), "< 1 s", verdict(r["start_to_ready_s"], 1.0)),
        ("CPU time used from start to ready (all threads)", f"{r['start_cpu_ms']:.0f} ms", "–", ""),
        ("key created via admin API: usable after", fmt_s(r["admin_key_create_s"]), "< 1 s",
         verdict(r["admin_key_create_s"], 1.0)),
        ("key revoked via admin API: refused after", fmt_s(r["admin_key_revoke_s"]), "< 1 s",
         verdict(r["admin_key_revoke_s"], 1.0)),
        ("key created by `llmo key create` (polled, 500 ms): usable after", fmt_s(r["cli_key_create_s"]),
         "< 1 s", verdict(r["cli_key_create_s"], 1.0)),
        ("model added via admin API (full reload): routed after", fmt_s(r["admin_model_add_s"]), "< 1 s",
         verdict(r["admin_model_add_s"], 1.0)),
        ("CPU time used by that full reload (all threads)", f"{r['admin_model_add_cpu_ms']:.0f} ms", "–", ""),
        ("idle RSS, 1 s after ready", f"{r['idle_rss_kb'] / 1024:.1f} MiB", "–", ""),
        ("idle RSS without the client keys", f"{r['idle_rss_kb_no_keys'] / 1024:.1f} MiB", "–", ""),
        ("memory per client key (RSS difference / keys)",
         "–" if r["bytes_per_key"] is None else f"{r['bytes_per_key']:.0f} B", "–", ""),
        ("RSS after the changes above", f"{r['rss_after_changes_kb'] / 1024:.1f} MiB", "–", ""),
    ]
    lines = [
        f"### Large catalog: {r['keys']:,} client keys, {r['models']:,} models (`bench/scale.py`)",
        "",
        f"- load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}; "
        f"seeded in {r['seed_s']:.1f} s; server log: " + "; ".join(f"`{x.split(' ', 2)[-1]}`" for x in r["server_log"]),
        "",
        "| case | llmo | target | result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llmo", required=True)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    a = ap.parse_args()
    r = measure(os.path.abspath(a.llmo), a.keys, a.models)
    print(table(r))
    if a.json:
        print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()

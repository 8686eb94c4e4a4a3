#!/usr/bin/env python3
"""PostgreSQL outage soak (issue 13 §1 "Outage"): the release `llmo serve`
as a separate process on a PostgreSQL from tests/services.sh, paced open-loop
load (default 1,000 requests/s), PostgreSQL stopped for 30 s in the middle
(`pg_ctl stop -m fast`) and started again; then it reports requests sent,
answered 200, failed, request-log rows written, rows dropped (the recorder's
`llmo_log_rows_dropped_total`) and duplicate rows (same request id).

    cargo build --release && python3 bench/outage.py [--rate 1000] [--outage 30]

Exit status 0 when no request failed, rows == answered, none dropped, no
duplicates. Standard library only: the load generator and the mock upstream
are asyncio (one keep-alive connection per client; the upstream runs in a
process of its own so the two never share an interpreter lock).
"""
import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWER = json.dumps(
    {
        "id": "chatcmpl-soak",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


async def read_message(reader):
    """One HTTP/1.1 message: (head, body); None at EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(m.group(1))) if m else b""
    return head, body


def mock_upstream(port):
    """`--mock PORT`: answers every request with one chat completion."""
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
    )

    async def serve(reader, writer):
        try:
            while True:
                await read_message(reader)
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def as_pg(cmd):
    """PostgreSQL refuses to run as root: as root, run as `postgres`."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


class Load:
    """`clients` keep-alive connections sharing one open-loop schedule:
    request k is due at start + k / rate; a client that is late sends at
    once (the lag is reported)."""

    def __init__(self, port, key, rate, clients):
        self.port, self.rate, self.clients = port, rate, clients
        body = json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        ).encode()
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"authorization: Bearer %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (key.encode(), len(body), body)
        )
        self.next = 0
        self.sent = self.ok = self.failed = 0
        self.max_lag = 0.0
        self.latencies = []
        self.reasons = collections.Counter()
        self.stopping = False

    async def client(self):
        reader = writer = None
        while not self.stopping:
            k, self.next = self.next, self.next + 1
            delay = self.start + k / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.max_lag = max(self.max_lag, -delay)
            if self.stopping:
                return
            self.sent += 1
            t = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(self.request)
                head, _ = await asyncio.wait_for(read_message(reader), 30)
                if head.startswith(b"HTTP/1.1 200"):
                    self.ok += 1
                    self.latencies.append(time.monotonic() - t)
                else:
                    self.failed += 1
                    self.reasons[head.split(b"\r\n")[0].decode()] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                self.failed += 1
                self.reasons[repr(e)] += 1
                writer = None

    async def run(self, seconds, during):
        self.start = time.monotonic()
        tasks = [asyncio.create_task(self.client()) for _ in range(self.clients)]
        await during()
        remaining = self.start + seconds - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        self.stopping = True
        await asyncio.gather(*tasks)
        self.elapsed = time.monotonic() - self.start


def metric(base, name):
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def psql(url, sql):
    out = subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llmo", default=os.path.join(ROOT, "target/release/llmo"))
    ap.add_argument("--rate", type=float, default=1000, help="requests/s (open loop)")
    ap.add_argument("--clients", type=int, default=64, help="keep-alive connections")
    ap.add_argument("--before", type=float, default=5, help="seconds of load before the outage")
    ap.add_argument("--outage", type=float, default=30, help="seconds PostgreSQL is down")
    ap.add_argument("--after", type=float, default=10, help="seconds of load after the restart")
    ap.add_argument("--upstream", default=os.path.join(ROOT, "bench/target/release/mock-upstream"),
                    help="bench's mock-upstream binary (cargo build --release --manifest-path "
                    "bench/Cargo.toml); when absent, a Python one (slower: a busy machine makes "
                    "it refuse connections, which show as 502/503)")
    ap.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mock:
        return mock_upstream(args.mock)
    if not os.access(args.llmo, os.X_OK):
        sys.exit(f"outage.py: no llmo binary at {args.llmo}\nhint: cargo build --release (or --llmo PATH)")

    work = tempfile.mkdtemp(prefix="llmo-outage-")
    os.chmod(work, 0o755)
    procs = []
    exports = subprocess.run(
        ["bash", os.path.join(ROOT, "tests/services.sh"), "start", work],
        check=True, capture_output=True, text=True,
    ).stdout
    env = dict(re.findall(r"export (\w+)=(\S+)", exports.replace("'", "")))
    pg_url, pg_bin = env["LLMO_TEST_PG_URL"], env["LLMO_TEST_PG_BIN"]
    pg_port = re.search(r":(\d+)/", pg_url).group(1)
    pg_data = os.path.join(work, "pg", "data")
    try:
        psql(pg_url, "CREATE DATABASE llmo_outage")
        db = pg_url.rsplit("/", 1)[0] + "/llmo_outage"
        port = free_port()
        if os.access(args.upstream, os.X_OK):
            mock = subprocess.Popen([args.upstream], stdout=subprocess.PIPE, text=True)
            procs.append(mock)
            mock_port = int(mock.stdout.readline().rsplit(":", 1)[1])
        else:
            mock_port = free_port()
            procs.append(subprocess.Popen([sys.executable, __file__, "--mock", str(mock_port)]))
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMO_")}
        run_env.update(LLMO_DB=db, HOME=work, LLMO_LOG="warn")
        cli = lambda *a: subprocess.run(  # noqa: E731
            [args.llmo, "-q", *a], env=run_env, check=True, capture_output=True, text=True
        ).stdout
        cli("provider", "add", "p1", "--kind", "openai-compatible",
            "--base-url", f"http://127.0.0.1:{mock_port}/v1", "--no-api-key")
        cli("model", "add", "m", "--provider", "p1=up-model")
        key = json.loads(cli("--json", "key", "create", "soak"))["key"]
        server = subprocess.Popen(
            [args.llmo, "serve", "--listen", f"127.0.0.1:{port}"], env=run_env,
            stdout=subprocess.DEVNULL,
        )
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if urllib.request.urlopen(base + "/ready", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        load = Load(port, key, args.rate, args.clients)
        timeline = {}

        async def outage():
            await asyncio.sleep(args.before)
            # In a thread: the event loop keeps pacing the load meanwhile.
            await asyncio.to_thread(
                subprocess.run, as_pg([f"{pg_bin}/pg_ctl", "stop", "-D", pg_data, "-m", "fast", "-w"]),
                check=True, capture_output=True)
            timeline["down"] = time.monotonic()
            await asyncio.sleep(args.outage)
            timeline["held"] = await asyncio.to_thread(metric, base, "llmo_log_queue_depth")
            await asyncio.to_thread(
                subprocess.run, as_pg([f"{pg_bin}/pg_ctl", "start", "-D", pg_data, "-w", "-l",
                                  os.path.join(work, "pg", "restart.log"), "-o",
                                  f"-p {pg_port} -k {work}/pg -c listen_addresses=127.0.0.1 "
                                  "-c fsync=off -c synchronous_commit=off"]),
                           check=True, capture_output=True)
            timeline["up"] = time.monotonic()
            # services.sh stops the server by the PID it recorded: the new one.
            with open(os.path.join(pg_data, "postmaster.pid")) as f, \
                    open(os.path.join(work, "pg.pid"), "w") as out:
                out.write(f.readline())
            # The backlog drains while the load goes on: until the queue is
            # back to a batch's worth.
            while time.monotonic() - timeline["up"] < args.after:
                depth = await asyncio.to_thread(metric, base, "llmo_log_queue_depth")
                if depth is not None and depth < 200:
                    timeline["drained"] = time.monotonic() - timeline["up"]
                    break
                await asyncio.sleep(0.2)

        total = args.before + args.outage + args.after
        asyncio.run(load.run(total, outage))
        # The backlog drains: wait until the rows stop growing.
        rows, last, deadline = -1, None, time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = int(psql(db, "SELECT count(*) FROM request_logs"))
            if rows == last and rows >= load.ok:
                break
            last = rows
            time.sleep(1)
        dropped = metric(base, "llmo_log_rows_dropped_total")
        dup = int(psql(db, "SELECT count(*) - count(DISTINCT request_id) FROM request_logs"))
        lat = sorted(load.latencies) or [0]
        p99 = lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000
        report = {
            "target_rps": args.rate,
            "achieved_rps": round(load.sent / load.elapsed, 1),
            "outage_s": round(timeline["up"] - timeline["down"], 1),
            "sent": load.sent,
            "answered_200": load.ok,
            "failed": load.failed,
            "rows_written": rows,
            "rows_held_at_restart": timeline["held"],
            "rows_dropped": dropped,
            "duplicates": dup,
            "backlog_drained_s_after_restart": round(timeline["drained"], 1)
            if "drained" in timeline else None,
            "p99_ms": round(p99, 1),
            "max_client_lag_ms": round(load.max_lag * 1000, 1),
            "failures": dict(load.reasons.most_common(5)),
        }
        print(json.dumps(report, indent=2))
        good = load.failed == 0 and rows == load.ok and dropped == 0 and dup == 0
        return 0 if good else 1
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["bash", os.path.join(ROOT, "tests/services.sh"), "stop", work],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

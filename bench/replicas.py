#!/usr/bin/env python3
"""llmo scaled out: replicas on PostgreSQL + Redis beside one on SQLite, and cost curves.

    python3 bench/replicas.py [--llmo target/release/llmo] [--sections replicas,curves,startup]
                              [--models 10000] [--keys 100000] [--log-rows 1000000] [--idle 10000]

Starts real PostgreSQL and Redis with `tests/services.sh start DIR` (stopped
with `tests/services.sh stop DIR` on exit), two mock upstreams (0 ms), and
llmo replicas, all on 127.0.0.1 with ports from the OS. Three sections, each
printed as a Markdown table and written together to
bench/results-scale-out.md (`--out`):

* replicas: one llmo on SQLite, then three on one PostgreSQL database with
  `--redis-url`, the same catalog seeded through the CLI on each (providers
  mock-a and mock-b serving `bench-model`, a key without limit and one with
  `--rpm 10000000`: never refused, always checked). One loadgen per replica
  at the same time, the concurrency (`--concurrency`, 32) split between them,
  json requests, 0 ms upstreams: first with the unlimited key, then with the
  limited one, then c=1 on the first replica alone with each key (the Redis
  round trip without CPU queueing). Per replica: RPS, p50/p99, CPU ms per
  1,000 requests (/proc/PID/stat); PostgreSQL's and Redis's CPU per 1,000
  requests; request-log rows written per second and the time until the count
  caught up with the answered requests; connections (pg_stat_activity,
  Redis connected_clients); at the end, rows == answered requests.
* curves: on each engine, one llmo with a catalog of 1 model / 1 key / an
  empty log, then with 10,000 models, 100,000 client keys, a 1,000,000-row
  request log, and 10,000 idle client connections open: CPU per request,
  p50/p99, RPS, RSS, start to ready and the reload time (a model added
  through the admin API until it is routed).
* startup: start to ready (median of 3 starts) and reload time against the
  catalog size (1, 1k, 10k models; 10k models + 100k keys), both engines.

Standard library only. Every process started is stopped by PID on exit,
also on an error or Ctrl-C. Not part of the test suite or CI.
"""
import argparse
import hashlib
import http.client
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import scale  # noqa: E402  (free_port, bench_key, ADMIN_KEY: the same seeding conventions)

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Never refused at these rates (10M a minute), so every request is checked and counted.
LIMITED_RPM = 10_000_000
WAIT_S = 120.0

PROCS = []  # every Popen started, stopped by PID in cleanup()
SERVICES = []  # services.sh directories to stop
BUSY = []  # admin API 503s seen (retried), reported under the tables


def log(msg):
    print(f"[scale-out {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cleanup():
    for p in reversed(PROCS):
        if p.poll() is None:
            p.terminate()
    for p in reversed(PROCS):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.clear()
    for d in SERVICES:
        subprocess.run(["bash", os.path.join(ROOT, "tests", "services.sh"), "stop", d],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    SERVICES.clear()


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def proc_cpu_ms(pid):
    """User + system CPU of a process so far, ms (all threads); 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu_ms(root_pid):
    """CPU of a process and its direct children (PostgreSQL's backends), ms."""
    total = proc_cpu_ms(root_pid)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[1]) == root_pid:
            total += (int(rest[11]) + int(rest[12])) * 1000 / CLK_TCK
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- services


class Services:
    """Real PostgreSQL + Redis from tests/services.sh, mock upstreams, tools."""

    def __init__(self, a, tmp):
        self.a = a
        self.tmp = tmp
        self.llmo = a.llmo
        self.bin = a.bench_bin
        sdir = os.path.join(tmp, "services")
        os.makedirs(sdir)
        os.chmod(tmp, 0o755)
        SERVICES.append(sdir)
        log("starting PostgreSQL and Redis (tests/services.sh)")
        out = subprocess.run(["bash", os.path.join(ROOT, "tests", "services.sh"), "start", sdir],
                             check=True, capture_output=True, text=True).stdout
        env = {}
        for line in out.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                env[k] = shlex.split(v)[0] if v else ""
        self.pg_url = env["LLMO_TEST_PG_URL"]
        self.redis_url = env["LLMO_TEST_REDIS_URL"]
        with open(os.path.join(sdir, "pg.pid")) as f:
            self.pg_pid = int(f.read().split()[0])
        with open(os.path.join(sdir, "redis.pid")) as f:
            self.redis_pid = int(f.read().split()[0])
        self.pg_version = self.psql(self.pg_url, "SHOW server_version").split()[0]
        self.redis_version = next((ln.split(":", 1)[1] for ln in self.redis_info("server").splitlines()
                                   if ln.startswith("redis_version:")), "?")
        self.mocks = [self.start_mock(i) for i in range(2)]
        self.n_db = 0

    def start_mock(self, i):
        path = os.path.join(self.tmp, f"mock-{i}.log")
        with open(path, "w") as out:
            p = spawn([os.path.join(self.bin, "mock-upstream"), "--delay-ms", "0"], stdout=out,
                      stderr=subprocess.STDOUT)
        for _ in range(500):
            with open(path) as f:
                line = f.readline()
            if line.startswith("listening on "):
                return int(line.split(":")[-1])
            if p.poll() is not None:
                raise SystemExit(f"mock-upstream exited: {open(path).read()[-300:]}")
            time.sleep(0.01)
        raise SystemExit("mock-upstream did not start within 5 s")

    def psql(self, url, sql):
        r = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"psql failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def redis_info(self, section):
        return subprocess.run(["redis-cli", "-u", self.redis_url, "info", section],
                              capture_output=True, text=True, check=True).stdout

    def redis_clients(self):
        """Connected clients, not counting redis-cli itself."""
        for ln in self.redis_info("clients").splitlines():
            if ln.startswith("connected_clients:"):
                return int(ln.split(":")[1]) - 1
        return -1

    def fresh_pg(self, tag):
        """A new empty database on the server; its URL."""
        self.n_db += 1
        name = f"bench_{self.n_db}_{tag}"
        self.psql(self.pg_url, f"CREATE DATABASE {name}")
        return self.pg_url.rsplit("/", 1)[0] + "/" + name, name

    def pg_conns(self, dbname):
        """{application_name: count} of sessions on the database (psql itself excluded)."""
        out = self.psql(self.pg_url, "SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity "
                        f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1")
        return {ln.split("|")[0]: int(ln.split("|")[1]) for ln in out.splitlines() if ln}

    def llmo_env(self, db):
        env = scale.llmo_env(self.tmp, db)
        env["RUST_LOG"] = "warn"
        return env

    def cli(self, db, *args):
        r = subprocess.run([self.llmo, *args], env=self.llmo_env(db), capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"llmo {' '.join(args[:3])} failed: {r.stderr.strip()}")
        return r.stdout

    def seed_cli(self, db):
        """The catalog through the CLI, as an operator would: returns (unlimited key, limited key)."""
        for name, port in zip(("mock-a", "mock-b"), self.mocks):
            self.cli(db, "provider", "add", name, "--kind", "openai-compatible", "--base-url",
                     f"http://127.0.0.1:{port}/v1", "--api-key", f"sk-{name}", "--models", "bench-model")
        free = json.loads(self.cli(db, "key", "create", "bench", "--json"))["key"]
        limited = json.loads(self.cli(db, "key", "create", "bench-limited", "--rpm", str(LIMITED_RPM),
                                      "--json"))["key"]
        return free, limited

    def loadgen(self, port, key, conc, duration, warmup):
        return spawn([os.path.join(self.bin, "loadgen"), "--url", f"http://127.0.0.1:{port}/v1/chat/completions",
                      "--concurrency", str(conc), "--duration", str(duration), "--warmup", str(warmup), "--json",
                      "--header", f"Authorization: Bearer {key}"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_loadgen(p):
    out, err = p.communicate()
    if p in PROCS:
        PROCS.remove(p)
    if p.returncode != 0:
        raise SystemExit(f"loadgen failed: {err.strip()[-300:]}")
    r = json.loads(out)
    bad = r["non2xx"] + r["errors"] + r["incomplete"]
    if bad:
        log(f"warning: {bad} failed requests ({r['first_error']})")
    return r


class Llmo:
    """One `llmo serve` on 127.0.0.1."""

    def __init__(self, svc, db, tag, redis=False):
        self.svc = svc
        self.port = scale.free_port()
        self.log_path = os.path.join(svc.tmp, f"serve-{tag}.log")
        args = [svc.llmo, "serve", "--listen", f"127.0.0.1:{self.port}"]
        if redis:
            args += ["--redis-url", svc.redis_url]
        self.t0 = time.monotonic()
        with open(self.log_path, "w") as out:
            self.proc = spawn(args, env=svc.llmo_env(db), stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.conn = None

    def request(self, method, path, body=None, key=None):
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_S)
                self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if self.proc.poll() is not None:
                    raise SystemExit(f"llmo exited; see {self.log_path}: {open(self.log_path).read()[-500:]}")
                time.sleep(0.001)
        return 0, b""

    def wait(self, what, pred):
        t = time.monotonic()
        while time.monotonic() - t < WAIT_S:
            if pred():
                return time.monotonic() - t
            if self.proc.poll() is not None:
                raise SystemExit(f"llmo exited waiting for {what}; see {self.log_path}")
        raise SystemExit(f"gave up waiting for {what} after {WAIT_S:.0f} s")

    def wait_ready(self):
        """Seconds from spawn to the first 200 on /ready."""
        self.wait("/ready", lambda: self.request("GET", "/ready")[0] == 200)
        return time.monotonic() - self.t0

    def chat(self, key):
        return self.request("POST", "/v1/chat/completions",
                            {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}, key)[0]

    def metrics(self):
        st, body = self.request("GET", "/metrics")
        out = {}
        for ln in body.decode().splitlines():
            if ln.startswith("llmo_"):
                name = ln.split("{", 1)[0].split(" ", 1)[0]
                try:
                    out[name] = out.get(name, 0.0) + float(ln.rsplit(" ", 1)[1])
                except ValueError:
                    pass
        return out

    def cpu_ms(self):
        return proc_cpu_ms(self.pid)

    def rss_kb(self):
        return proc_status_kb(self.pid, "VmRSS")

    def hwm_kb(self):
        return proc_status_kb(self.pid, "VmHWM")

    def clear_refs(self):
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def reload_s(self, name, key):
        """A model added through the admin API until it is routed (GET /v1/models/NAME 200): seconds, CPU ms."""
        cpu0 = self.cpu_ms()
        t = time.monotonic()
        for attempt in range(20):
            st, body = self.request("POST", "/admin/models", {"name": name, "providers": [
                {"provider": "mock-a", "upstream_model": "bench-model"}]}, scale.ADMIN_KEY)
            if st != 503:
                break
            # Seen on SQLite right after /ready: `database_busy`; an operator would retry.
            BUSY.append(f"{self.log_path}: {body[:120]!r}")
            log(f"warning: POST /admin/models answered 503, retrying: {body[:160]!r}")
            time.sleep(0.1)
        if st != 201:
            raise SystemExit(f"POST /admin/models: {st} {body[:200]!r}")
        self.wait(f"model {name}", lambda: self.request("GET", f"/v1/models/{name}", None, key)[0] == 200)
        return time.monotonic() - t, self.cpu_ms() - cpu0

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        stop(self.proc)


# ---------------------------------------------------------------- log rows


class LogCount:
    """Counts request_logs rows on either engine."""

    def __init__(self, svc, db):
        self.svc, self.db = svc, db

    def __call__(self):
        if self.db.startswith("postgres://"):
            return int(self.svc.psql(self.db, "SELECT count(*) FROM request_logs"))
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM request_logs").fetchone()[0]
        finally:
            con.close()

    def settle(self):
        """The count once it has not moved for 1 s."""
        last, since = self(), time.monotonic()
        while time.monotonic() - since < 1.0:
            time.sleep(0.1)
            n = self()
            if n != last:
                last, since = n, time.monotonic()
        return last

    def wait_for(self, expected, since):
        """(count at the first look, seconds from `since` until the count reached `expected` (0 if it
        had at the first look), the count then). Gives up after 60 s."""
        first = n = self()
        while n < expected and time.monotonic() - since < 60:
            time.sleep(0.02)
            n = self()
        return first, 0.0 if first >= expected else time.monotonic() - since, n


# ---------------------------------------------------------------- section 1: replicas


def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def load_phase(svc, servers, key, total_c, duration, warmup, counter, dbname=None):
    """One loadgen per server at the same time; per-server figures and the log catch-up."""
    before = counter.settle() if counter else 0
    cpu0 = [s.cpu_ms() for s in servers]
    pg0, rd0 = tree_cpu_ms(svc.pg_pid), proc_cpu_ms(svc.redis_pid)
    for s in servers:
        s.clear_refs()
    t0 = time.monotonic()
    procs = [svc.loadgen(s.port, key, c, duration, warmup) for s, c in zip(servers, split(total_c, len(servers)))]
    peak_pg, peak_redis, depth = 0, 0, 0
    while any(p.poll() is None for p in procs):
        if dbname:
            peak_pg = max(peak_pg, sum(svc.pg_conns(dbname).values()))
            peak_redis = max(peak_redis, svc.redis_clients())
        depth = max(depth, max(s.metrics().get("llmo_log_queue_depth", 0) for s in servers))
        time.sleep(0.5)
    res = [finish_loadgen(p) for p in procs]
    t_end = time.monotonic()
    cpu1 = [s.cpu_ms() for s in servers]
    pg1, rd1 = tree_cpu_ms(svc.pg_pid), proc_cpu_ms(svc.redis_pid)
    answered = sum(r["total_requests"] for r in res)
    out = {"replicas": [], "answered": answered, "pg_cpu_ms": pg1 - pg0, "redis_cpu_ms": rd1 - rd0,
           "peak_pg_conns": peak_pg, "peak_redis_clients": peak_redis, "peak_queue_depth": depth,
           "rps": sum(r["rps"] for r in res)}
    for s, r, a, b in zip(servers, res, cpu0, cpu1):
        out["replicas"].append({"rps": r["rps"], "p50": r["latency_us"]["p50"] / 1000,
                                "p99": r["latency_us"]["p99"] / 1000, "conc": r["concurrency"],
                                "total": r["total_requests"], "failed": r["non2xx"] + r["errors"],
                                "cpu_per_1k": (b - a) * 1000 / max(r["total_requests"], 1),
                                "hwm_mib": s.hwm_kb() / 1024})
    if counter:
        at_end, catch_s, n = counter.wait_for(before + answered, t_end)
        load_s = t_end - t0
        out.update(rows_before=before, rows_at_end=at_end, rows_after=n, expected=before + answered,
                   lag_rows=before + answered - at_end, catch_up_s=catch_s,
                   rows_per_s=(n - before) / (load_s + catch_s), load_s=load_s)
    return out


class TableLock:
    """Another session holding request_logs against writes (PostgreSQL: LOCK TABLE IN SHARE MODE;
    SQLite: BEGIN IMMEDIATE) for `seconds`: the log writers wait, their queues fill."""

    def __init__(self, svc, db, seconds):
        self.svc, self.db = svc, db
        if db.startswith("postgres://"):
            self.p = spawn(["psql", "-X", "-q", "-d", db, "-c", "BEGIN; LOCK TABLE request_logs IN SHARE MODE; "
                            f"SELECT pg_sleep({seconds}); COMMIT;"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.p = spawn([sys.executable, "-c", "import sqlite3, sys, time\n"
                            "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
                            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
                            "time.sleep(float(sys.argv[2])); c.execute('COMMIT')", db, str(seconds)],
                           stdout=subprocess.PIPE, text=True)

    def wait_held(self):
        if self.p.stdout is not None:
            if self.p.stdout.readline().strip() != "locked":
                raise SystemExit("could not lock the SQLite database")
            return
        t = time.monotonic()
        while time.monotonic() - t < 10:
            held = self.svc.psql(self.db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                 "WHERE c.relname = 'request_logs' AND l.mode = 'ShareLock' AND l.granted")
            if held == "1":
                return
            time.sleep(0.05)
        raise SystemExit("the request_logs lock was not taken within 10 s")

    def wait_released(self):
        self.p.wait()
        if self.p in PROCS:
            PROCS.remove(self.p)
        return time.monotonic()


def drain_phase(svc, servers, key, total_c, a, counter, db):
    """The log writers' top speed: rows queued while the table is locked, then written flat out
    (full batches) once it is free, with no load: backlog / time to write it."""
    before = counter.settle()
    # SQLite's writer waits up to its busy_timeout (5 s) for the lock, then holds the batch and
    # retries later: keep the lock shorter there, so the batch goes in as soon as it is free.
    duration = a.duration if db.startswith("postgres://") else min(a.duration, 2.5)
    lock = TableLock(svc, db, a.warmup + duration + 1.0)
    lock.wait_held()
    procs = [svc.loadgen(s.port, key, c, duration, a.warmup) for s, c in zip(servers, split(total_c, len(servers)))]
    answered = sum(finish_loadgen(p)["total_requests"] for p in procs)
    depth = sum(s.metrics().get("llmo_log_queue_depth", 0) for s in servers)
    mid = counter()
    released = lock.wait_released()
    _, drain_s, n = counter.wait_for(before + answered, released)
    return {"answered": answered, "backlog": before + answered - mid, "queued": depth, "drain_s": drain_s,
            "rows_per_s": (n - mid) / drain_s if drain_s else None, "expected": before + answered, "rows": n}


def run_setup(svc, a, engine):
    """One setup of section 1: returns its rows."""
    if engine == "sqlite":
        db, dbname, n = os.path.join(svc.tmp, "replicas.db"), None, 1
    else:
        (db, dbname), n = svc.fresh_pg("replicas"), a.replicas
    free, limited = svc.seed_cli(db)
    servers = []
    try:
        for i in range(n):
            servers.append(Llmo(svc, db, f"{engine}-{i}", redis=engine == "postgres"))
        for s in servers:
            s.wait_ready()
            for k in (free, limited):
                if s.chat(k) != 200:
                    raise SystemExit(f"a chat request through llmo failed; see {s.log_path}")
        counter = LogCount(svc, db)
        idle_pg = svc.pg_conns(dbname) if dbname else {}
        idle_redis = svc.redis_clients() if engine == "postgres" else None
        phases = {}
        for kind, key in (("unlimited", free), ("limited", limited)):
            log(f"replicas: {engine}, {n} replica(s), {kind} key, c={a.concurrency} in all")
            phases[kind] = load_phase(svc, servers, key, a.concurrency, a.duration, a.warmup, counter, dbname)
        for kind, key in (("c1-unlimited", free), ("c1-limited", limited)):
            log(f"replicas: {engine}, first replica alone, c=1, {kind[3:]} key")
            phases[kind] = load_phase(svc, servers[:1], key, 1, a.duration, a.warmup, counter, dbname)
        log(f"replicas: {engine}, request log locked during a run, then written flat out")
        phases["drain"] = drain_phase(svc, servers, free, a.concurrency, a, counter, db)
        final = counter.settle()
        expected = phases["drain"]["expected"]
        metrics = [s.metrics() for s in servers]
        windows = {}
        if engine == "postgres":
            keys = subprocess.run(["redis-cli", "-u", svc.redis_url, "--scan", "--pattern", "llmo:rl:*"],
                                  capture_output=True, text=True).stdout.split()
            for k in keys:
                windows[k] = int(subprocess.run(["redis-cli", "-u", svc.redis_url, "zcard", k], capture_output=True,
                                                text=True).stdout.strip() or 0)
            windows["used_memory"] = next((ln.split(":", 1)[1].strip() for ln in svc.redis_info("memory").splitlines()
                                           if ln.startswith("used_memory_human:")), "?")
        return {"engine": engine, "n": n, "phases": phases, "final_rows": final, "expected_rows": expected,
                "windows": windows,
                "idle_pg": idle_pg, "idle_redis": idle_redis, "metrics": metrics,
                "pg_conns_after": svc.pg_conns(dbname) if dbname else {}}
    finally:
        for s in servers:
            s.stop()


def catch(ph):
    if ph["rows_after"] < ph["expected"]:
        return f"**not in 60 s** ({ph['expected'] - ph['rows_after']:,} missing)"
    return "at once" if ph["catch_up_s"] == 0 else f"{ph['catch_up_s'] * 1000:.0f} ms"


def replicas_tables(setups):
    lines = ["### Replicas: one on SQLite, three on PostgreSQL + Redis (json, 0 ms upstreams)", "",
             "| setup | key | replica | c | RPS | p50 ms | p99 ms | CPU ms / 1k req | PostgreSQL CPU ms / 1k | "
             "Redis CPU ms / 1k | failed |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for st in setups:
        name = "SQLite, 1 replica" if st["engine"] == "sqlite" else f"PostgreSQL + Redis, {st['n']} replicas"
        for kind in ("unlimited", "limited", "c1-unlimited", "c1-limited"):
            ph = st["phases"][kind]
            per1k = 1000 / max(ph["answered"], 1)
            pg = f"{ph['pg_cpu_ms'] * per1k:.1f}" if st["engine"] == "postgres" else "–"
            rd = f"{ph['redis_cpu_ms'] * per1k:.1f}" if st["engine"] == "postgres" else "–"
            label = {"unlimited": "no limit", "limited": f"--rpm {LIMITED_RPM:,}",
                     "c1-unlimited": "no limit (alone)", "c1-limited": "limited (alone)"}[kind]
            for i, r in enumerate(ph["replicas"]):
                lines.append(f"| {name} | {label} | {i + 1} | {r['conc']} | {r['rps']:,.0f} | {r['p50']:.2f} | "
                             f"{r['p99']:.2f} | {r['cpu_per_1k']:.0f} | {pg} | {rd} | {r['failed']} |")
            if len(ph["replicas"]) > 1:
                lines.append(f"| {name} | {label} | all | {sum(r['conc'] for r in ph['replicas'])} | "
                             f"**{ph['rps']:,.0f}** | | | | | | |")
    lines += ["", "#### Added latency of the limit check (limited key minus unlimited key, same replica)", "",
              "| setup | where the limit is counted | c=32 in all: +p50 / +p99 ms (replica 1) | "
              "c=1 alone: +p50 / +p99 ms |", "|---|---|---|---|"]
    for st in setups:
        ph = st["phases"]
        u, lim = ph["unlimited"]["replicas"][0], ph["limited"]["replicas"][0]
        cu, cl = ph["c1-unlimited"]["replicas"][0], ph["c1-limited"]["replicas"][0]
        name = "SQLite, 1 replica" if st["engine"] == "sqlite" else f"PostgreSQL + Redis, {st['n']} replicas"
        where = "in memory (local window)" if st["engine"] == "sqlite" else "Redis (one EVALSHA per request)"
        lines.append(f"| {name} | {where} | {lim['p50'] - u['p50']:+.3f} / {lim['p99'] - u['p99']:+.3f} | "
                     f"{cl['p50'] - cu['p50']:+.3f} / {cl['p99'] - cu['p99']:+.3f} |")
    lines += ["", "#### Request log and connections", "",
              "| setup | run | answered | rows/s while loaded | rows behind at the end | caught up after | "
              "peak log queue | PostgreSQL sessions idle / peak | Redis clients idle / peak |",
              "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for st in setups:
        name = "SQLite" if st["engine"] == "sqlite" else f"PostgreSQL ×{st['n']}"
        for kind in ("unlimited", "limited"):
            ph = st["phases"][kind]
            pgc = (f"{sum(st['idle_pg'].values())} / {ph['peak_pg_conns']}" if st["engine"] == "postgres" else "–")
            rdc = f"{st['idle_redis']} / {ph['peak_redis_clients']}" if st["engine"] == "postgres" else "–"
            lines.append(f"| {name} | {kind} key | {ph['answered']:,} | {ph['rows_per_s']:,.0f} | "
                         f"{ph['lag_rows']:,} | {catch(ph)} | {ph['peak_queue_depth']:.0f} | "
                         f"{pgc} | {rdc} |")
    lines += ["", "#### Log writer flat out: rows queued while another session locked the table, then written",
              "", "| setup | rows queued | written in | rows/s (all writers) |", "|---|---:|---:|---:|"]
    for st in setups:
        d = st["phases"]["drain"]
        name = "SQLite" if st["engine"] == "sqlite" else f"PostgreSQL ×{st['n']}"
        rate = "–" if d["rows_per_s"] is None else f"{d['rows_per_s']:,.0f}"
        lines.append(f"| {name} | {d['backlog']:,} | {d['drain_s'] * 1000:.0f} ms | {rate} |")
    lines.append("")
    for st in setups:
        name = "SQLite" if st["engine"] == "sqlite" else f"PostgreSQL ×{st['n']}"
        ok = "no loss" if st["final_rows"] == st["expected_rows"] else "**MISMATCH**"
        dropped = sum(m.get("llmo_log_rows_dropped_total", 0) + m.get("llmo_log_writer_rows_dropped_total", 0)
                      for m in st["metrics"])
        fallback = sum(m.get("llmo_redis_fallback_total", 0) for m in st["metrics"])
        line = (f"- {name}: request_logs rows {st['final_rows']:,}, answered requests {st['expected_rows']:,} "
                f"({ok}); rows dropped (metrics) {dropped:.0f}")
        if st["engine"] == "postgres":
            line += (f"; Redis fallbacks {fallback:.0f}; sessions per role after the runs: "
                     + ", ".join(f"`{k or '(none)'}` {v}" for k, v in st["pg_conns_after"].items()))
            w = dict(st["windows"])
            mem = w.pop("used_memory", "?")
            line += ("; Redis windows after the runs: " + (", ".join(f"`{k}` {v:,} entries" for k, v in w.items())
                                                          or "none") + f", Redis used_memory {mem}")
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------- seeding for curves/startup


def seed_base(svc, path):
    """SQLite catalog through the CLI: 2 providers, `bench-model`, key `bench`. Returns the key."""
    free, _ = svc.seed_cli(path)
    return free


def add_models(path, n):
    now = int(time.time() * 1000)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    (pid,) = con.execute("SELECT id FROM providers WHERE name = 'mock-a'").fetchone()
    con.executemany("INSERT INTO models (name, description, enabled, created_at, updated_at) VALUES (?, '', 1, ?, ?)",
                    ((f"model-{i:06d}", now, now) for i in range(n)))
    con.execute("INSERT INTO model_providers (model_id, provider_id, upstream_model, enabled, created_at) "
                "SELECT id, ?, 'bench-model', 1, ? FROM models WHERE name LIKE 'model-%'", (pid, now))
    con.execute("COMMIT")
    con.close()


def add_keys(path, n):
    """As scale.py: every 10th key with an rpm limit, every 20th with a model list."""
    now = int(time.time() * 1000)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO api_keys (name, key_hash, prefix, rpm_limit, allowed_models, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ((f"user-{i:08d}", hashlib.sha256(scale.bench_key(i).encode()).hexdigest(), scale.bench_key(i)[:9],
          60 if i % 10 == 0 else 0, json.dumps(["bench-model"]) if i % 20 == 0 else None, now)
         for i in range(n)))
    con.execute("COMMIT")
    con.close()


LOG_COLS = ("ts, request_id, key_name, model, provider, upstream_model, attempts, status, error_type, latency_ms, "
            "ttfb_ms, upstream_ms, prompt_tokens, completion_tokens, stream, method, path, api, key_prefix")


def log_select(n, pg):
    """A SELECT of n request-log rows in llmo's schema, generated by the database itself (no rows
    through Python): oldest first, spread over the last 7 days (inside the default 30-day
    retention, so the server prunes nothing at start); 1 % errors (502), 10 % streams."""
    now = int(time.time() * 1000)
    start = now - 7 * 86_400_000
    step = max((now - 60_000 - start) // max(n, 1), 1)
    err = "i % 100 = 7"
    if pg:
        rid, user, stream = ("'bench-' || lpad(to_hex(i), 10, '0')", "'user-' || lpad((i % 1000)::text, 8, '0')",
                             "i % 10 = 3")
        src = f"generate_series(0::bigint, {n - 1}::bigint) AS g(i)"
        head = ""
    else:
        rid, user, stream = "printf('bench-%010x', i)", "printf('user-%08d', i % 1000)", "i % 10 = 3"
        src = "s"
        head = f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {n}) "
    return (f"{head}SELECT {start} + i * {step}, {rid}, {user}, 'bench-model', "
            f"CASE WHEN i % 2 = 1 THEN 'mock-a' ELSE 'mock-b' END, 'bench-model', 1, "
            f"CASE WHEN {err} THEN 502 ELSE 200 END, CASE WHEN {err} THEN 'upstream_error' END, "
            f"10.0 + i % 90, NULL, 9.0 + i % 90, CASE WHEN {err} THEN NULL ELSE 12 + i % 50 END, "
            f"CASE WHEN {err} THEN NULL ELSE 30 + i % 200 END, {stream}, 'POST', '/v1/chat/completions', "
            f"'chat', NULL FROM {src}")


def add_logs(path, n):
    """One transaction, one INSERT ... SELECT from a recursive CTE."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    con.execute(f"INSERT INTO request_logs ({LOG_COLS}) {log_select(n, pg=False)}")
    con.execute("COMMIT")
    con.close()


def pg_insert_logs(svc, url, n):
    """The same rows into PostgreSQL, generated by the server (generate_series), in one statement."""
    svc.psql(url, f"SET statement_timeout = 0; INSERT INTO request_logs ({LOG_COLS}) {log_select(n, pg=True)}")


class Catalogs:
    """SQLite files for each case (base + extras), and the same on PostgreSQL via `llmo db copy`."""

    def __init__(self, svc):
        self.svc = svc
        self.base = os.path.join(svc.tmp, "base.db")
        self.key = seed_base(svc, self.base)
        self.seed_times = {}
        self.n = 0

    def sqlite(self, tag, models=0, keys=0, logs=0):
        """A new SQLite file: the untouched base catalog plus the extras."""
        self.n += 1
        path = os.path.join(self.svc.tmp, f"{tag}-{self.n}.db")
        t = time.monotonic()
        src = sqlite3.connect(self.base)
        dst = sqlite3.connect(path)
        src.backup(dst)
        src.close()
        dst.close()
        if models:
            add_models(path, models)
        if keys:
            add_keys(path, keys)
        if logs:
            add_logs(path, logs)
        if logs:
            self.seed_times[f"SQLite {logs:,} log rows"] = time.monotonic() - t
        return path

    def postgres(self, tag, models=0, keys=0, logs=0):
        """A fresh database with the case's data: `llmo db copy` of the SQLite catalog; the log rows
        generated by the server (`--pg-logs insert`, the default) or in the same `llmo db copy`
        from the SQLite file (`--pg-logs db-copy`)."""
        whole = self.svc.a.pg_logs == "db-copy" or not logs
        src = self.sqlite(tag if whole else f"{tag}-nolog", models, keys, logs if whole else 0)
        url, name = self.svc.fresh_pg(tag.replace("-", "_"))
        t = time.monotonic()
        self.svc.cli(src, "db", "copy", src, url)
        if not whole:
            pg_insert_logs(self.svc, url, logs)
        if logs:
            how = "`llmo db copy`" if whole else "`llmo db copy` of the catalog + INSERT ... SELECT generate_series"
            self.seed_times[f"PostgreSQL {logs:,} log rows ({how})"] = time.monotonic() - t
        return url, name


# ---------------------------------------------------------------- section 2: curves


def open_idle(port, n):
    """n client connections, each with one answered GET /health, then left idle. Returns (sockets, answered)."""
    req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    socks, ok = [], 0
    for i in range(0, n, 500):
        group = []
        for _ in range(min(500, n - i)):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(req)
            group.append(s)
        for s in group:
            try:
                ok += s.recv(4096).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
        socks += group
    return socks, ok


def still_open(socks):
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += s.recv(1) != b""  # data would be odd; b"" is a close
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def curve_case(svc, a, db, key, label, idle=0):
    s = Llmo(svc, db, label.replace(" ", "-").replace(",", ""))
    try:
        ready = s.wait_ready()
        if s.chat(key) != 200:
            raise SystemExit(f"a chat request failed; see {s.log_path}")
        time.sleep(1.0)
        res = {"case": label, "ready_s": ready, "idle_rss_mib": s.rss_kb() / 1024}
        socks = []
        if idle:
            t = time.monotonic()
            res["rss_before_idle_mib"] = res["idle_rss_mib"]
            socks, ok = open_idle(s.port, idle)
            res.update(idle_open_s=time.monotonic() - t, idle_answered=ok, idle_fds=s.fds(),
                       idle_rss_mib=s.rss_kb() / 1024)
        try:
            ph = load_phase(svc, [s], key, a.concurrency, a.duration, a.warmup, None)
            r = ph["replicas"][0]
            res.update(rps=r["rps"], p50=r["p50"], p99=r["p99"], cpu_per_1k=r["cpu_per_1k"], hwm_mib=r["hwm_mib"],
                       failed=r["failed"])
            # With the idle connections still open: closing 10,000 of them costs llmo CPU too.
            res["reload_s"], res["reload_cpu_ms"] = s.reload_s("bench-late", key)
            if idle:
                res["idle_still_open"] = still_open(socks)
                res["rss_with_idle_mib"] = s.rss_kb() / 1024
        finally:
            t = time.monotonic()
            cpu0 = s.cpu_ms()
            for so in socks:
                so.close()
            if idle:
                s.wait("the idle connections closed", lambda: s.fds() < 100)
                res["idle_close_s"], res["idle_close_cpu_ms"] = time.monotonic() - t, s.cpu_ms() - cpu0
        return res
    finally:
        s.stop()


def curves(svc, a, cats):
    cases = [("baseline", "baseline: 1 model, 1 key, empty log", {}),
             ("models", f"{a.models:,} models", {"models": a.models}),
             ("keys", f"{a.keys:,} client keys", {"keys": a.keys}),
             ("logs", f"{a.log_rows:,} log rows", {"logs": a.log_rows}),
             ("idle", f"{a.idle:,} idle client connections", {"idle": a.idle})]
    out = {"sqlite": [], "postgres": []}
    for case, label, c in cases:
        if case not in a.cases:
            continue
        idle = c.pop("idle", 0)
        tag = "base" if not c else "-".join(f"{k}{v}" for k, v in c.items())
        for engine in ("sqlite", "postgres"):
            log(f"curves: {engine}, {label}")
            if engine == "sqlite":
                db = cats.sqlite(tag, **c)
            else:
                db = cats.postgres(tag, **c)[0]
            out[engine].append(curve_case(svc, a, db, cats.key, label, idle))
    return out


def curves_table(cv, seed_times):
    lines = ["### Cost curves: json c=32, 0 ms upstreams, one replica, key without limit", "",
             "| engine | catalog / state | RPS | p50 ms | p99 ms | CPU ms / 1k req | idle RSS MiB | peak RSS MiB | "
             "start to ready | reload (model added → routed) | reload CPU ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for engine in ("sqlite", "postgres"):
        for r in cv[engine]:
            lines.append(f"| {'SQLite' if engine == 'sqlite' else 'PostgreSQL'} | {r['case']} | {r['rps']:,.0f} | "
                         f"{r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_per_1k']:.0f} | {r['idle_rss_mib']:.1f} | "
                         f"{r['hwm_mib']:.1f} | {r['ready_s'] * 1000:.0f} ms | {r['reload_s'] * 1000:.0f} ms | "
                         f"{r['reload_cpu_ms']:.0f} |")
    lines.append("")
    for engine in ("sqlite", "postgres"):
        for r in cv[engine]:
            if "idle_answered" in r:
                lines.append(f"- {engine}: {r['idle_answered']:,} idle connections answered their GET /health "
                             f"(opened in {r['idle_open_s']:.1f} s; llmo held {r['idle_fds']:,} file descriptors), "
                             f"{r['idle_still_open']:,} still open after the load run and the reload; llmo's RSS "
                             f"{r['rss_before_idle_mib']:.1f} MiB before, {r['idle_rss_mib']:.1f} MiB with them "
                             f"({(r['idle_rss_mib'] - r['rss_before_idle_mib']) * 1024 * 1024 / max(r['idle_answered'], 1):,.0f}"
                             f" B per connection), {r['rss_with_idle_mib']:.1f} MiB after the run; closing them all took "
                             f"{r['idle_close_s'] * 1000:.0f} ms and {r['idle_close_cpu_ms']:.0f} ms of llmo's CPU")
    lines.append("- seeding: " + "; ".join(f"{k} {v:.1f} s" for k, v in seed_times.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------- section 3: startup


def startup(svc, a, cats):
    sizes = []
    for m in sorted({1, max(a.models // 10, 1), a.models}):
        sizes.append((m, 1))
    sizes.append((a.models, a.keys))
    out = []
    for models, keys in sizes:
        extra = {}
        if models > 1:
            extra["models"] = models - 1  # bench-model is the first
        if keys > 1:
            extra["keys"] = keys - 1
        tag = "base" if not extra else "-".join(f"{k}{v}" for k, v in extra.items())
        for engine in ("sqlite", "postgres"):
            log(f"startup: {engine}, {models:,} models, {keys:,} keys")
            db = cats.sqlite(tag, **extra) if engine == "sqlite" else cats.postgres(tag, **extra)[0]
            readies, reloads, cpus, start_cpu = [], [], [], []
            for i in range(3):
                s = Llmo(svc, db, f"startup-{engine}-{tag}-{i}")
                try:
                    readies.append(s.wait_ready())
                    start_cpu.append(s.cpu_ms())
                    r, c = s.reload_s(f"bench-late-{i}", cats.key)
                    reloads.append(r)
                    cpus.append(c)
                    if s.request("DELETE", f"/admin/models/bench-late-{i}", None, scale.ADMIN_KEY)[0] not in (200, 204):
                        log("warning: could not remove the added model")
                finally:
                    s.stop()
            out.append({"engine": engine, "models": models, "keys": keys, "ready_s": statistics.median(readies),
                        "ready_all": readies, "start_cpu_ms": statistics.median(start_cpu),
                        "reload_s": statistics.median(reloads), "reload_cpu_ms": statistics.median(cpus)})
    return out


def startup_table(rows):
    lines = ["### Start to ready and reload against the catalog's size (median of 3 starts)", "",
             "| engine | models | client keys | start to ready | CPU to ready | reload: model added → routed | "
             "reload CPU |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {'SQLite' if r['engine'] == 'sqlite' else 'PostgreSQL'} | {r['models']:,} | {r['keys']:,} | "
                     f"{r['ready_s'] * 1000:.0f} ms | {r['start_cpu_ms']:.0f} ms | {r['reload_s'] * 1000:.0f} ms | "
                     f"{r['reload_cpu_ms']:.0f} ms |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def header(a, svc, load_before):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    return "\n".join([
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit {commit}{' (modified)' if dirty else ''};"
        f" llmo binary `{os.path.relpath(a.llmo, ROOT)}`",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), Linux {os.uname().release}; load average before "
        f"{load_before}, after {loadavg()}; nothing pinned (all processes share all CPUs)"
        + (f"; everything at nice {a.nice}" if a.nice is not None else ""),
        f"- PostgreSQL {svc.pg_version} and Redis {svc.redis_version} from tests/services.sh (test settings: "
        "fsync, synchronous_commit and full_page_writes off), on the same machine",
        f"- each load run: {a.warmup:g} s warm-up, {a.duration:g} s measured, closed loop, HTTP/1.1 keep-alive; "
        "CPU per 1k requests counts warm-up requests too (as run.sh)",
    ])


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llmo", help="llmo binary (default: target/release/llmo, else target/bench-tests/llmo)")
    ap.add_argument("--bench-bin", default=os.path.join(BENCH_DIR, "target", "release"),
                    help="directory of loadgen and mock-upstream (built with cargo if missing)")
    ap.add_argument("--sections", default="replicas,curves,startup")
    ap.add_argument("--cases", default="baseline,models,keys,logs,idle", help="which cost curves to run")
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32, help="in all, split between the replicas")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--log-rows", type=int, default=1_000_000)
    ap.add_argument("--idle", type=int, default=10_000, help="idle client connections in the curves")
    ap.add_argument("--pg-logs", choices=("insert", "db-copy"), default="insert",
                    help="how the log rows reach PostgreSQL: generated by the server (INSERT ... SELECT "
                    "generate_series), or `llmo db copy` from the SQLite file")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results-scale-out.md"))
    ap.add_argument("--nice", type=int, help="run everything (servers included) at this nice level, e.g. -5 on "
                    "a machine shared with other work (negative values need root)")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    a = ap.parse_args()
    if a.llmo is None:
        for c in ("release", "bench-tests"):
            p = os.path.join(ROOT, "target", c, "llmo")
            if os.path.exists(p):
                a.llmo = p
                break
        else:
            ap.error("no llmo binary: build it (cargo build --release) or pass --llmo PATH")
    a.llmo = os.path.abspath(a.llmo)
    a.sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    a.cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    if set(a.cases) - {"baseline", "models", "keys", "logs", "idle"}:
        ap.error("--cases: choose from baseline, models, keys, logs, idle")
    bad = set(a.sections) - {"replicas", "curves", "startup"}
    if bad:
        ap.error(f"unknown section(s) {', '.join(sorted(bad))}: choose from replicas, curves, startup")
    return a


def main():
    a = parse_args()
    if not all(os.path.exists(os.path.join(a.bench_bin, b)) for b in ("loadgen", "mock-upstream")):
        log("building the bench tools (cargo build --release in bench/)")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                        os.path.join(BENCH_DIR, "Cargo.toml")], check=True)
    # Room for the idle connections: ours, and llmo's (it inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * a.idle + 1024)) if hard != resource.RLIM_INFINITY else 2 * a.idle + 1024
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < a.idle + 512:
        raise SystemExit(f"the open-files limit ({hard}) is too low for --idle {a.idle}")
    for k in [k for k in os.environ if k.startswith("LLMO_")]:
        del os.environ[k]
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.nice is not None:
        # Inherited by every process started from here (PostgreSQL and Redis too).
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)
    load_before = loadavg()
    tmp = tempfile.mkdtemp(prefix="llmo-scale-out.")
    raw = {}
    try:
        svc = Services(a, tmp)
        sections = []

        def write():
            doc = ("## Scale out (`bench/replicas.py`)\n\n" + header(a, svc, load_before) + "\n\n"
                   + "\n\n".join(sections) + "\n")
            if BUSY:
                doc += (f"\n- the admin API answered 503 `database_busy` {len(BUSY)} time(s) to a model "
                        "added right after start (retried after 100 ms): " + "; ".join(BUSY[:3]) + "\n")
            with open(a.out, "w") as f:
                f.write(doc)

        if "replicas" in a.sections:
            setups = [run_setup(svc, a, "sqlite"), run_setup(svc, a, "postgres")]
            raw["replicas"] = setups
            sections.append(replicas_tables(setups))
            print(sections[-1] + "\n", flush=True)
            write()
        cats = Catalogs(svc) if {"curves", "startup"} & set(a.sections) else None
        if "curves" in a.sections:
            cv = curves(svc, a, cats)
            raw["curves"] = cv
            sections.append(curves_table(cv, cats.seed_times))
            print(sections[-1] + "\n", flush=True)
            write()
        if "startup" in a.sections:
            st = startup(svc, a, cats)
            raw["startup"] = st
            sections.append(startup_table(st))
            print(sections[-1] + "\n", flush=True)
            write()
        write()
        log(f"written to {a.out}")
        if a.json:
            print(json.dumps(raw, indent=1))
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

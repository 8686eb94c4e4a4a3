#!/usr/bin/env python3
"""Renders bench/run.sh results (JSON lines) as one Markdown report.

usage: report.py RESULTS.jsonl   (run facts come from R_* environment variables)
"""
import json
import os
import sys

SCENARIOS = [  # (id, label, delay)
    ("json-c1-0ms", "json c=1, 0 ms", 0),
    ("json-c1same-0ms", "json c=1, 0 ms, one CPU", 0),
    ("json-c32-0ms", "json c=32, 0 ms", 0),
    ("json-c64-50ms", "json c=64, 50 ms", 50),
    ("json-c256-50ms", "json c=256, 50 ms", 50),
    ("stream-c1-0ms", "stream c=1, 0 ms", 0),
    ("stream-c1same-0ms", "stream c=1, 0 ms, one CPU", 0),
    ("stream-c32-0ms", "stream c=32, 0 ms", 0),
    ("stream-c64-50ms", "stream c=64, 50 ms", 50),
    ("stream-c256-50ms", "stream c=256, 50 ms", 50),
    ("messages-json-c1-0ms", "messages json c=1, 0 ms", 0),
    ("messages-json-c32-0ms", "messages json c=32, 0 ms", 0),
    ("messages-stream-c1-0ms", "messages stream c=1, 0 ms", 0),
    ("messages-stream-c32-0ms", "messages stream c=32, 0 ms", 0),
    ("responses-json-c32-0ms", "responses json c=32, 0 ms (translated)", 0),
    ("responses-stream-c32-0ms", "responses stream c=32, 0 ms (translated)", 0),
]
TARGETS = ["direct", "min-proxy", "llmo"]
PCTS = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]


def ms(us):
    return "–" if us is None else f"{us / 1000:.3f}"


def signed_ms(us):
    return "–" if us is None else f"{us / 1000:+.3f}"


def mib(kb):
    return "–" if not kb else f"{kb / 1024:.1f}"


def main():
    rows = {}
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                rows[(r["scenario"], r["target"])] = r
    env = os.environ.get
    meta = {
        "date": env("R_DATE", "?"), "cpus": env("R_CPUS", "?"), "cpu_model": env("R_CPU_MODEL", ""),
        "kernel": env("R_KERNEL", ""), "pin": env("R_PIN", ""), "duration": env("R_DURATION", "?"),
        "warmup": env("R_WARMUP", "?"), "chunks": env("R_CHUNKS", "?"), "commit": env("R_COMMIT", "?"),
        "llmo_reason": env("R_LLMO_REASON", ""), "load": env("R_LOADAVG", ""),
        "ready_ms": {"0": env("R_READY_0", ""), "50": env("R_READY_50", "")},
        "idle_kb": {"0": env("R_IDLE_0", ""), "50": env("R_IDLE_50", "")},
        "mp_idle_kb": env("R_MP_IDLE", ""),
        "api_reasons": {"messages": env("R_MESSAGES_REASON", ""), "responses": env("R_RESPONSES_REASON", "")},
    }
    out = []
    p = out.append

    p("# llmo benchmark results")
    p("")
    p(f"- date: {meta['date']}; machine: {meta['cpus']} CPUs ({meta['cpu_model'] or 'unknown CPU'}), {meta['kernel']}; repo commit {meta['commit']}")
    one_cpu = any("c1same" in sid for sid, _ in rows)
    p(f"- {meta['pin']}" + ("; rows marked \"one CPU\" move the proxy onto CPU 0 as well" if one_cpu else ""))
    if meta["load"]:
        p(f"- other load: {meta['load']}")
        try:
            busy = int(meta["load"].split("%")[0])
        except ValueError:
            busy = 0
        if busy >= 20:
            p("- **warning: the machine was busy with other work before the runs; numbers are noisy, rerun on a quiet machine**")
    p(
        f"- each run: {meta['warmup']} s warm-up (not counted), then {meta['duration']} s measured; closed loop, "
        f"HTTP/1.1 keep-alive, one connection per concurrent worker; streams have {meta['chunks']} SSE chunks + usage chunk + [DONE]"
    )
    p("- times in ms; `+` columns = added latency against direct at the same percentile; "
      "CPU and RSS are the proxy process's (min-proxy or llmo), RSS = peak (VmHWM) during the run")
    if meta["llmo_reason"]:
        p(f"- **llmo: not available ({meta['llmo_reason']})**")
    for api, why in meta["api_reasons"].items():
        if why:
            p(f"- **llmo's {api} rows skipped: {why}**")
    if any(sid.startswith(("messages-", "responses-")) for sid, _ in rows):
        p("- messages rows: `/v1/messages` passed through to an anthropic-kind provider; responses rows: "
          "`/v1/responses` translated to Chat Completions by llmo (direct and min-proxy: the mock's native "
          "`/v1/responses`, for reference)")
    for tag in ("0", "50"):
        if meta["ready_ms"].get(tag):
            p(
                f"- llmo ({tag} ms upstreams): start to ready {float(meta['ready_ms'][tag]):.1f} ms on an existing DB, "
                f"idle RSS {mib(int(meta['idle_kb'][tag] or 0))} MiB"
            )
    p("")
    p(
        "| scenario | target | RPS | % of direct | % of min-proxy | p50 | p90 | p99 | p99.9 | +p50 | +p90 | +p99 | +p99.9 "
        "| TTFB p50 | TTFB p99 | +TTFB p50 | failed | CPU s / 1k req | peak RSS MiB |"
    )
    p("|" + "---|" * 19)

    def lat(r, k, kind="latency_us"):
        if r is None or not r["lg"].get(kind):
            return None
        return r["lg"][kind][k]

    for sid, label, _ in SCENARIOS:
        direct = rows.get((sid, "direct"))
        mp = rows.get((sid, "min-proxy"))
        stream = sid.startswith("stream")
        for t in TARGETS:
            r = rows.get((sid, t))
            if r is None:
                continue
            lg = r["lg"]
            rps = lg["rps"]
            cells = [label, t, f"{rps:,.0f}"]
            for base in (direct, mp):
                if base is None or base is r or not base["lg"]["rps"]:
                    cells.append("–")
                else:
                    cells.append(f"{100 * rps / base['lg']['rps']:.0f}%")
            for k, _ in PCTS:
                cells.append(ms(lat(r, k)))
            for k, _ in PCTS:
                if t == "direct" or lat(direct, k) is None or lat(r, k) is None:
                    cells.append("–")
                else:
                    cells.append(signed_ms(lat(r, k) - lat(direct, k)))
            if stream:
                cells.append(ms(lat(r, "p50", "ttfb_us")))
                cells.append(ms(lat(r, "p99", "ttfb_us")))
                if t == "direct" or lat(direct, "p50", "ttfb_us") is None:
                    cells.append("–")
                else:
                    cells.append(signed_ms(lat(r, "p50", "ttfb_us") - lat(direct, "p50", "ttfb_us")))
            else:
                cells += ["–", "–", "–"]
            failed = lg.get("non2xx", 0) + lg.get("errors", 0) + lg.get("incomplete", 0)
            cells.append(str(failed) if not failed else f"**{failed}** ({lg.get('first_error')})")
            if t == "direct":
                cells += ["–", "–"]
            else:
                total = lg.get("total_requests") or 0
                cpu_s = r["cpu_ticks"] / r["clk_tck"]
                cells.append(f"{1000 * cpu_s / total:.3f}" if total else "–")
                cells.append(mib(max(r["hwm_kb"], r["rss_sampled_kb"])))
            p("| " + " | ".join(cells) + " |")

    # ------------------------------------------------------------ targets
    p("")
    p("## Targets (ratios measured in this run)")
    p("")
    p("| target | threshold | llmo | min-proxy (ceiling) | llmo result |")
    p("|---|---|---|---|---|")

    def added(sid, t, k, kind="latency_us"):
        r, d = rows.get((sid, t)), rows.get((sid, "direct"))
        a, b = lat(r, k, kind), lat(d, k, kind)
        return None if a is None or b is None else (a - b) / 1000

    def rps_ratio(sid, t, base):
        r, b = rows.get((sid, t)), rows.get((sid, base))
        if r is None or b is None or not b["lg"]["rps"]:
            return None
        return 100 * r["lg"]["rps"] / b["lg"]["rps"]

    def peak_c256(t):
        vals = [
            max(r["hwm_kb"], r["rss_sampled_kb"]) / 1024
            for sid in ("json-c256-50ms", "stream-c256-50ms")
            if (r := rows.get((sid, t))) is not None
        ]
        return max(vals) if vals else None

    def idle(t):
        if t == "llmo":
            v = [int(x) for x in meta["idle_kb"].values() if x]
            return min(v) / 1024 if v else None
        return int(meta["mp_idle_kb"]) / 1024 if meta.get("mp_idle_kb") else None

    def ready(t):
        if t != "llmo":
            return None
        v = [float(x) for x in meta["ready_ms"].values() if x]
        return v[0] if v else None

    checks = [
        ("json c=1, 0 ms: added p50", "< 0.1 ms", lambda t: added("json-c1-0ms", t, "p50"), lambda v: v < 0.1, "ms"),
        ("json c=1, 0 ms: added p99", "< 0.3 ms", lambda t: added("json-c1-0ms", t, "p99"), lambda v: v < 0.3, "ms"),
        ("json c=1, 0 ms, one CPU: added p50", "< 0.1 ms", lambda t: added("json-c1same-0ms", t, "p50"), lambda v: v < 0.1, "ms"),
        ("json c=1, 0 ms, one CPU: added p99", "< 0.3 ms", lambda t: added("json-c1same-0ms", t, "p99"), lambda v: v < 0.3, "ms"),
        ("json c=32, 0 ms: RPS vs min-proxy", ">= 70%", lambda t: rps_ratio("json-c32-0ms", t, "min-proxy"), lambda v: v >= 70, "%"),
        ("stream c=32, 0 ms: RPS vs min-proxy", ">= 70%", lambda t: rps_ratio("stream-c32-0ms", t, "min-proxy"), lambda v: v >= 70, "%"),
        ("json c=256, 50 ms: RPS vs direct", ">= 95%", lambda t: rps_ratio("json-c256-50ms", t, "direct"), lambda v: v >= 95, "%"),
        ("stream c=256, 50 ms: RPS vs direct", ">= 95%", lambda t: rps_ratio("stream-c256-50ms", t, "direct"), lambda v: v >= 95, "%"),
        ("json c=256, 50 ms: added p99", "< 5 ms", lambda t: added("json-c256-50ms", t, "p99"), lambda v: v < 5, "ms"),
        ("stream c=256, 50 ms: added p99", "< 5 ms", lambda t: added("stream-c256-50ms", t, "p99"), lambda v: v < 5, "ms"),
    ]

    def cpu_per_req(sid, t):
        r = rows.get((sid, t))
        total = r and r["lg"].get("total_requests")
        return r["cpu_ticks"] / r["clk_tck"] / total if total else None

    def cpu_vs(sid, base):
        a, b = cpu_per_req(sid, "llmo"), cpu_per_req(base, "llmo")
        return None if a is None or not b else 100 * a / b

    for kind in ("json", "stream"):
        for c in ("c1", "c32"):
            checks.append(
                (f"messages {kind} {c}, 0 ms: llmo CPU per request vs chat's", "<= 110%",
                 lambda t, k=kind, c=c: cpu_vs(f"messages-{k}-{c}-0ms", f"{k}-{c}-0ms") if t == "llmo" else None,
                 lambda v: v <= 110, "%"))
    for sid, label, _ in SCENARIOS:
        if sid.startswith("stream"):
            checks.append(
                (f"{label}: added TTFB p50", "< 0.5 ms",
                 lambda t, sid=sid: added(sid, t, "p50", "ttfb_us"), lambda v: v < 0.5, "ms")
            )
    checks += [
        ("peak RSS during c=256 runs", "< 50 MiB", peak_c256, lambda v: v < 50, "MiB"),
        ("idle RSS after start", "< 15 MiB", idle, lambda v: v < 15, "MiB"),
        ("start to ready (existing DB)", "< 100 ms", ready, lambda v: v < 100, "ms"),
    ]
    fmt = {"ms": lambda v: f"{v:+.3f} ms" if abs(v) < 10 else f"{v:+.1f} ms", "%": lambda v: f"{v:.1f}%", "MiB": lambda v: f"{v:.1f} MiB"}
    passed = failed = 0
    for name, thr, get, ok, unit in checks:
        lv, mv = get("llmo"), get("min-proxy")
        if name.startswith("start to ready") and lv is not None:
            lv_s = f"{lv:.1f} ms"
        else:
            lv_s = "–" if lv is None else fmt[unit](lv)
        mv_s = "–" if mv is None else fmt[unit](mv)
        if "RPS vs min-proxy" in name and mv is not None:
            mv_s = "100% (reference)"
        if lv is None:
            res = "n/a"
        elif ok(lv):
            res, passed = "PASS", passed + 1
        else:
            res, failed = "**FAIL**", failed + 1
        p(f"| {name} | {thr} | {lv_s} | {mv_s} | {res} |")
    p("")
    if passed + failed:
        p(f"llmo: {passed} passed, {failed} failed of {len(checks)} targets.")
    else:
        p("llmo: no targets evaluated (llmo not available).")
    print("\n".join(out))


if __name__ == "__main__":
    main()

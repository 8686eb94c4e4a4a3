//! The listen-address checks: can `llmo serve` bind its address, and if a
//! running llmo holds it, does that llmo's request log keep up. Only talks
//! to this machine.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{source_desc, Listen};
use crate::config::LISTEN;
use crate::doctor::{Check, Group};

/// Who holds an address that cannot be bound.
enum Holder {
    Llmo,
    Other(String),
}

/// Checks that the listen address can be bound, or is held by a running
/// llmo (which answers `GET /health`); for a running llmo, also whether its
/// request log keeps up (from its `/metrics`). Only talks to this machine.
pub(crate) async fn listen(l: &Listen, health_timeout: Duration) -> Vec<Check> {
    let (check, running) = listen_address(l, health_timeout).await;
    let mut out = vec![check];
    if let Some(addr) = running {
        out.extend(running_request_log(addr, health_timeout).await);
    }
    out
}

/// The address check; `Some(addr)` when a running llmo holds it.
async fn listen_address(l: &Listen, health_timeout: Duration) -> (Check, Option<SocketAddr>) {
    let g = Group::Listen;
    let desc = source_desc(&LISTEN, l.source, None);
    let addr: SocketAddr = match l.addr.parse() {
        Ok(a) => a,
        Err(_) => {
            return (
                Check::fail(
                    g,
                    "address",
                    format!("`{}` ({desc}) is not an address", l.addr),
                    "write e.g. `127.0.0.1:8000` or `0.0.0.0:8000`",
                ),
                None,
            )
        }
    };
    let other_addr = SocketAddr::new(addr.ip(), addr.port().wrapping_add(1).max(1024));
    let change = format!(
        "give llmo another address with `--listen` or `LLMO_LISTEN` (e.g. `LLMO_LISTEN={other_addr}`)"
    );
    let check = match std::net::TcpListener::bind(addr) {
        Ok(sock) => {
            drop(sock);
            Check::ok(
                g,
                "address",
                format!("{addr} ({desc}) is free: `llmo serve` can bind it"),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            match who_holds(addr, health_timeout).await {
                Holder::Llmo => {
                    return (
                        Check::ok(
                            g,
                            "address",
                            format!(
                                "{addr} ({desc}) is in use by a running llmo (GET /health answered)"
                            ),
                        ),
                        Some(addr),
                    )
                }
                Holder::Other(what) => Check::fail(
                    g,
                    "address",
                    format!("{addr} ({desc}) is in use by another program ({what})"),
                    format!("stop that program (`ss -ltnp` shows it), or {change}"),
                ),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            g,
            "address",
            format!("no permission to bind {addr} ({desc}): ports below 1024 need root or CAP_NET_BIND_SERVICE"),
            format!("use a port from 1024 up: {change}"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Check::fail(
            g,
            "address",
            format!("{} is not an address of this machine ({desc})", addr.ip()),
            format!(
                "listen on all interfaces (`LLMO_LISTEN=0.0.0.0:{}`) or on one of this machine's addresses",
                addr.port()
            ),
        ),
        Err(e) => Check::fail(
            g,
            "address",
            format!("cannot bind {addr} ({desc}): {e}"),
            change,
        ),
    };
    (check, None)
}

/// What a running llmo's `/metrics` says about its request log: whether
/// its writer is blocked or failing (with the error), and the rows it
/// dropped and why (requests are never slowed for it, so this is the only
/// place it shows besides the server's log).
async fn running_request_log(addr: SocketAddr, timeout: Duration) -> Option<Check> {
    let url = format!(
        "http://{}/metrics",
        SocketAddr::new(local_ip(addr.ip()), addr.port())
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .ok()?;
    let res = client.get(&url).send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let text = res.text().await.ok()?;
    let dropped = metric_value(&text, "llmo_log_rows_dropped_total")?;
    Some(request_log_check(&text, dropped))
}

/// The request-log check from a running llmo's `/metrics` text: the
/// writer's state (blocked, failing, with its error) and the rows dropped,
/// split by why.
fn request_log_check(text: &str, dropped: f64) -> Check {
    let g = Group::Listen;
    let name = "request log";
    let m = |n: &str| metric_value(text, n).unwrap_or(0.0);
    let depth = m("llmo_log_queue_depth");
    let state = m("llmo_log_writer_state");
    let (blocked, failing) = (
        m("llmo_log_writer_blocked_seconds"),
        m("llmo_log_writer_failing_seconds"),
    );
    let write_dropped = m("llmo_log_writer_rows_dropped_total");
    let error = error_label(text, "llmo_log_writer_last_error_info");
    let err = error.as_deref().unwrap_or("unknown error");
    let lock_fix = "find what holds the database's write lock (a long `sqlite3` session, a backup or sync tool: `fuser` on the database file shows it) and end it; requests are served meanwhile, their log rows are dropped once the queue is full";
    if state == 3.0 {
        let held = m("llmo_log_writer_holding_seconds");
        return Check::warn(
            g,
            name,
            format!(
                "the running llmo has not reached its database for {held:.0} s ({err}): request-log rows are held in memory (queue depth {depth}) and written when it answers; past the queue's capacity they are dropped"
            ),
            "start the database server or restore the network path to it; requests are served meanwhile",
        );
    }
    if state == 1.0 {
        let mut msg = format!(
            "the running llmo's request-log writer is blocked: a database write has waited {blocked:.0} s (another process is holding the database's write lock?), queue depth {depth}"
        );
        if failing > 0.0 {
            msg.push_str(&format!(
                "; writes have failed for {failing:.0} s ({err}), {write_dropped} row(s) dropped"
            ));
        }
        return Check::warn(g, name, msg, lock_fix);
    }
    if state == 2.0 {
        return Check::warn(
            g,
            name,
            format!(
                "the running llmo's request-log writer is failing: {err}; {write_dropped} row(s) dropped in {failing:.0} s, queue depth {depth}"
            ),
            write_error_fix(err, lock_fix),
        );
    }
    if dropped > 0.0 {
        let mut why = Vec::new();
        if write_dropped > 0.0 {
            why.push(format!(
                "{write_dropped} when writes failed (last error: {err})"
            ));
        }
        let queue = dropped - write_dropped;
        if queue > 0.0 {
            why.push(format!(
                "{queue} when its queue was full because the database did not keep up"
            ));
        }
        return Check::warn(
            g,
            name,
            format!(
                "the running llmo dropped {dropped} request-log row(s): {}; writes work now (queue depth {depth}); those requests are missing from logs and stats",
                why.join(", ")
            ),
            if write_dropped > 0.0 {
                write_error_fix(err, lock_fix)
            } else {
                "check the database checks above (free space, a slow or network disk); keep LLMO_DB on local storage".into()
            },
        );
    }
    Check::ok(
        g,
        name,
        format!("the running llmo's request log keeps up: no row dropped, queue depth {depth}"),
    )
}

/// What to do about a request-log write error.
fn write_error_fix(err: &str, lock_fix: &str) -> String {
    let e = err.to_ascii_lowercase();
    if e.contains("full") {
        "free space on the database's disk (`df` on its directory); writes resume by themselves"
            .into()
    } else if e.contains("readonly") || e.contains("read-only") {
        "make the database file and its directory writable by the user `llmo serve` runs as (a read-only mount cannot be fixed by permissions); writes resume by themselves".into()
    } else if e.contains("locked") || e.contains("busy") {
        lock_fix.into()
    } else {
        "see the database checks above and the server's log for the error".into()
    }
}

/// The `name{error="…"}` label of a Prometheus sample, unescaped.
fn error_label(text: &str, name: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))?;
    let raw = line.strip_prefix(name)?.strip_prefix("{error=\"")?;
    let raw = &raw[..raw.rfind("\"}")?];
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    Some(out)
}

/// The value of an unlabelled Prometheus sample `name value`.
fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Loopback for a wildcard listen address (what a local client dials).
fn local_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// Asks whatever holds `addr` for `GET /health`. A running llmo answers with
/// `server: llmo` or JSON `{"service":"llmo",...}` / `{"status":"ok",...}`.
async fn who_holds(addr: SocketAddr, timeout: Duration) -> Holder {
    let url = format!(
        "http://{}/health",
        SocketAddr::new(local_ip(addr.ip()), addr.port())
    );
    // A local call: no proxy, whatever the environment says.
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return Holder::Other(format!("cannot ask it: {e}")),
    };
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Holder::Other(format!(
                "it did not answer GET /health within {}",
                crate::time::format_ms(timeout.as_millis() as i64)
            ))
        }
        Err(e) => return Holder::Other(format!("GET /health failed: {}", probe_error_text(&e))),
    };
    let status = resp.status().as_u16();
    let server = resp
        .headers()
        .get(reqwest::header::SERVER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if server
        .as_deref()
        .is_some_and(|s| s.to_ascii_lowercase().starts_with("llmo"))
    {
        return Holder::Llmo;
    }
    if resp.status().is_success() {
        if let Ok(body) = resp.bytes().await {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                if v["service"] == "llmo" || v["status"] == "ok" {
                    return Holder::Llmo;
                }
            }
        }
    }
    Holder::Other(match server {
        Some(s) => format!("GET /health answered {status}, server `{s}`"),
        None => format!("GET /health answered {status}"),
    })
}

fn probe_error_text(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;
    use crate::doctor::Status;

    #[test]
    fn listen_free_and_taken() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let l = Listen {
            addr: addr.clone(),
            source: Source::Env,
        };
        let c = rt.block_on(listen(&l, Duration::from_millis(300)));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].status, Status::Fail, "{c:?}");
        assert!(c[0].fix.as_deref().unwrap().contains("LLMO_LISTEN"));
        drop(taken);
        let c = rt.block_on(listen(&l, Duration::from_millis(300)));
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
    }

    #[test]
    fn metric_values_are_read_from_prometheus_text() {
        let text = "# TYPE llmo_log_queue_depth gauge\nllmo_log_queue_depth 7\nllmo_log_rows_dropped_total 3\nllmo_log_rows_dropped_total_x 9\n";
        assert_eq!(metric_value(text, "llmo_log_rows_dropped_total"), Some(3.0));
        assert_eq!(metric_value(text, "llmo_log_queue_depth"), Some(7.0));
        assert_eq!(metric_value(text, "llmo_nothing"), None);
    }

    fn check_of(text: &str) -> Check {
        let dropped = metric_value(text, "llmo_log_rows_dropped_total").unwrap();
        request_log_check(text, dropped)
    }

    /// A database away: rows held, not "keeps up" and not "dropped".
    #[test]
    fn the_request_log_check_says_rows_are_held_while_the_database_is_away() {
        let text = "llmo_log_queue_depth 1200\nllmo_log_rows_dropped_total 0\nllmo_log_writer_state 3\nllmo_log_writer_holding_seconds 9.5\nllmo_log_writer_last_error_info{error=\"the database server cannot be reached\"} 1\n";
        let c = check_of(text);
        assert_eq!(c.status, crate::doctor::Status::Warn);
        assert!(
            c.message.contains("has not reached its database for 10 s")
                && c.message.contains("held in memory (queue depth 1200)"),
            "{}",
            c.message
        );
    }

    /// Item 20: what the writer is doing, not "keeps up" during a lock and
    /// not "queue full" after disk-full drops.
    #[test]
    fn the_request_log_check_says_what_the_writer_is_doing() {
        let blocked = "llmo_log_queue_depth 5767\nllmo_log_rows_dropped_total 0\nllmo_log_writer_state 1\nllmo_log_writer_blocked_seconds 12.5\nllmo_log_writer_failing_seconds 0\nllmo_log_writer_rows_dropped_total 0\n";
        let c = check_of(blocked);
        assert_eq!(c.status, crate::doctor::Status::Warn);
        assert!(
            c.message
                .contains("writer is blocked: a database write has waited 12 s"),
            "{}",
            c.message
        );
        assert!(c.message.contains("queue depth 5767"), "{}", c.message);
        assert!(!c.message.contains("keeps up"), "{}", c.message);

        let full = "llmo_log_queue_depth 0\nllmo_log_rows_dropped_total 4000\nllmo_log_writer_state 2\nllmo_log_writer_blocked_seconds 0\nllmo_log_writer_failing_seconds 30\nllmo_log_writer_rows_dropped_total 4000\nllmo_log_writer_last_error_info{error=\"database or disk is full\"} 1\n";
        let c = check_of(full);
        assert!(
            c.message
                .contains("writer is failing: database or disk is full; 4000 row(s) dropped"),
            "{}",
            c.message
        );
        assert!(!c.message.contains("queue was full"), "{}", c.message);
        assert!(
            c.fix.as_deref().unwrap_or("").contains("free space"),
            "{:?}",
            c.fix
        );

        // Recovered: the drops are told apart by why.
        let after = "llmo_log_queue_depth 0\nllmo_log_rows_dropped_total 4100\nllmo_log_writer_state 0\nllmo_log_writer_rows_dropped_total 4000\nllmo_log_writer_last_error_info{error=\"database is \\\"locked\\\"\"} 1\n";
        let c = check_of(after);
        assert!(
            c.message.contains("4000 when writes failed (last error: database is \"locked\"), 100 when its queue was full"),
            "{}",
            c.message
        );
    }
}

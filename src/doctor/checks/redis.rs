//! The Redis checks, when `redis_url` is set: reachable (within a short
//! timeout), the server's version, the round trip of `PING`, and whether
//! scripts can run (`EVAL "return 1" 0`: the shared limits are one Lua
//! script per check-and-count). The URL is shown masked.
use std::time::{Duration, Instant};

use crate::config::redis_url::RedisUrl;
use crate::doctor::{Check, Group};

/// How long doctor waits to connect and for each answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Above this round trip, warn: every limited request waits it once.
const SLOW_MS: f64 = 5.0;

pub(crate) fn redis(url: &RedisUrl) -> Vec<Check> {
    let g = Group::Redis;
    let fail_reach = |e: &dyn std::fmt::Display| {
        vec![Check::fail(
            g,
            "reachable",
            format!("cannot reach Redis at {url}: {}", crate::db::mask_url(&e.to_string())),
            "check that Redis runs and is reachable at `redis_url`'s host and port (firewall, DNS, password, `rediss://` for TLS); without it each replica enforces rate limits on its own traffic",
        )]
    };
    let mut conn = match redis::Client::open(url.expose())
        .and_then(|c| c.get_connection_with_timeout(TIMEOUT))
    {
        Ok(c) => c,
        Err(e) => return fail_reach(&e),
    };
    let _ = conn.set_read_timeout(Some(TIMEOUT));
    let _ = conn.set_write_timeout(Some(TIMEOUT));
    let mut trips = [Duration::ZERO; 3];
    for t in &mut trips {
        let start = Instant::now();
        if let Err(e) = redis::cmd("PING").query::<String>(&mut conn) {
            return fail_reach(&e);
        }
        *t = start.elapsed();
    }
    trips.sort();
    let ms = trips[1].as_secs_f64() * 1000.0;
    let version = redis::cmd("INFO")
        .arg("server")
        .query::<String>(&mut conn)
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("redis_version:")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let mut out = vec![Check::ok(
        g,
        "reachable",
        format!("Redis {version} at {url}"),
    )];
    out.push(if ms <= SLOW_MS {
        Check::ok(g, "round_trip", format!("{ms:.1} ms for `PING`"))
    } else {
        Check::warn(
            g,
            "round_trip",
            format!(
                "{ms:.1} ms for `PING`: every request with a key or provider limit waits this long"
            ),
            "run Redis close to the replicas (same zone), or check the network path",
        )
    });
    out.push(
        match redis::cmd("EVAL").arg("return 1").arg(0).query::<i64>(&mut conn) {
            Ok(1) => Check::ok(g, "scripts", "Lua scripts run (`EVAL`)"),
            Ok(n) => Check::fail(
                g,
                "scripts",
                format!("`EVAL \"return 1\" 0` answered {n}"),
                "use a Redis (or Valkey) server that runs Lua scripts",
            ),
            Err(e) => Check::fail(
                g,
                "scripts",
                format!("scripts cannot run: {e}"),
                "allow EVAL/EVALSHA for llmo's user (ACL `+@scripting`), or use a Redis that runs Lua scripts (some managed proxies disable them)",
            ),
        },
    );
    out
}

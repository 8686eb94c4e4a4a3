//! Rate limits shared across replicas (`--redis-url`): the client-key and
//! provider requests-per-minute windows of [`super::rate`], kept in Redis so
//! that a limit holds for all replicas together, exactly.
//!
//! - **One atomic step.** Each check is one `EVALSHA` of [`SCRIPT`] (loaded
//!   again on `NOSCRIPT`, e.g. after a Redis restart or `SCRIPT FLUSH`): it
//!   drops the admissions older than 60 s, and either records this one or
//!   answers the true wait, all inside Redis. The check and the count are
//!   the same operation: no replica reads a count and writes later, so three
//!   replicas with `--rpm 30` admit 30, not 90. Time is Redis's own
//!   (`TIME`), so replicas' clocks do not matter. The window is a sorted
//!   set per key, `llmo:rl:key:<id>` / `llmo:rl:provider:<name>`, holding
//!   at most `rpm` entries and expiring by itself 60 s after its last
//!   admission. Same semantics as the local window: at most `rpm` in any
//!   60 s, `Retry-After` the time until the oldest counted admission leaves.
//! - **Only limited things pay.** A key or provider without a limit never
//!   reaches this module; one with a limit costs one round trip on the
//!   multiplexed connection (no lock is held across it).
//! - **Redis unreachable: local limits at once.** A call gets
//!   `redis_timeout` (`LLMO_REDIS_TIMEOUT`, default 50 ms); an error or a
//!   timeout marks Redis down, and
//!   until a background task has reconnected (backoff from 250 ms to 5 s),
//!   requests do not try Redis at all: each replica enforces the limits on
//!   its own traffic (its local windows also note what Redis admitted, so
//!   the fallback starts from this replica's recent count, not from zero).
//!   Every fallback is counted (`llmo_redis_fallback_total`), `llmo_redis_up`
//!   says the state, the log warns once per change, and `/ready` stays 200
//!   with a `degraded` note.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::config::redis_url::RedisUrl;

/// The sliding window, atomically: `KEYS[1]` the window, `ARGV[1]` the
/// limit, `ARGV[2]` the window in ms, `ARGV[3]` a unique member. Returns
/// `{1, 0}` (admitted and counted) or `{0, wait_ms}`.
pub(crate) const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < rpm then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local nth = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
local wait = tonumber(nth[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait}
";

/// The window, as in `rate.rs`.
const WINDOW_MS: u64 = 60_000;
/// Connecting (at start, and each background retry).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What is limited: a client key (by its row id, which is never reused) or
/// a provider (by name).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    Key(i64),
    Provider(&'a str),
}

/// The shared windows; inert without a Redis URL.
#[derive(Default)]
pub(crate) struct SharedLimits(Option<Arc<Inner>>);

struct Inner {
    url: RedisUrl,
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    conn: RwLock<Option<MultiplexedConnection>>,
    up: AtomicBool,
    reconnecting: AtomicBool,
    fallbacks: AtomicU64,
    /// Unique window members: a random per-process high half, a counter.
    member: AtomicU64,
}

impl SharedLimits {
    /// The limits for `url` (none: inert), not yet connected: see
    /// [`Self::connect`].
    pub(crate) fn new(url: Option<&RedisUrl>, prefix: &str, timeout: Duration) -> SharedLimits {
        let Some(url) = url else {
            return SharedLimits(None);
        };
        // Parsed when the setting was read; cannot fail here, but never panic.
        let client = match redis::Client::open(url.expose()) {
            Ok(c) => c,
            Err(_) => {
                tracing::error!("Redis URL {url} is unusable: rate limits stay per replica");
                return SharedLimits(None);
            }
        };
        SharedLimits(Some(Arc::new(Inner {
            url: url.clone(),
            client,
            prefix: prefix.to_string(),
            timeout,
            script: redis::Script::new(SCRIPT),
            conn: RwLock::new(None),
            up: AtomicBool::new(false),
            reconnecting: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            member: AtomicU64::new(u64::from(fastrand::u32(..)) << 32),
        })))
    }

    /// Connects once at start (bounded); when Redis is not there, says so
    /// and keeps trying in the background.
    pub(crate) async fn connect(&self) {
        let Some(inner) = &self.0 else { return };
        match inner.open().await {
            Ok(c) => {
                inner.set_up(c);
                tracing::info!(
                    "rate limits are shared across replicas through Redis at {}",
                    inner.url
                );
            }
            Err(e) => {
                tracing::warn!(
                    "Redis at {} is unreachable ({e}): each replica enforces rate limits on its own traffic until it is back",
                    inner.url
                );
                inner.reconnect_in_background();
            }
        }
    }

    /// Whether a Redis URL is configured (whatever its state).
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Checks and counts one request against the shared window of `scope`
    /// (limit `rpm` > 0): `Some(Ok)` admitted, `Some(Err(wait))` refused,
    /// `None` when there is no shared window to ask (no Redis, or it is
    /// down or slow: the caller uses its local window, and it is counted).
    pub(crate) async fn check(&self, scope: Scope<'_>, rpm: u32) -> Option<Result<(), Duration>> {
        let inner = self.0.as_ref()?;
        let conn = match inner.up.load(Ordering::Acquire) {
            true => inner.conn.read().unwrap_or_else(|p| p.into_inner()).clone(),
            false => None,
        };
        let Some(mut conn) = conn else {
            inner.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let key = match scope {
            Scope::Key(id) => format!("{}rl:key:{id}", inner.prefix),
            Scope::Provider(name) => format!("{}rl:provider:{name}", inner.prefix),
        };
        let member = inner.member.fetch_add(1, Ordering::Relaxed);
        let mut call = inner.script.key(key);
        call.arg(rpm).arg(WINDOW_MS).arg(member);
        let answer =
            tokio::time::timeout(inner.timeout, call.invoke_async::<(i64, i64)>(&mut conn));
        match answer.await {
            Ok(Ok((1, _))) => Some(Ok(())),
            Ok(Ok((_, wait_ms))) => Some(Err(Duration::from_millis(wait_ms.max(1) as u64))),
            Ok(Err(e)) => {
                inner.down(&e.to_string());
                None
            }
            Err(_) => {
                let ms = inner.timeout.as_millis();
                inner.down(&format!("no answer within {ms} ms"));
                None
            }
        }
    }

    /// `/ready`'s note while the shared limits cannot be used.
    pub(crate) fn degraded(&self) -> Option<String> {
        let inner = self.0.as_ref()?;
        (!inner.up.load(Ordering::Acquire)).then(|| {
            format!(
                "Redis at {} is unreachable: rate limits are enforced by each replica on its own traffic until it is back",
                inner.url
            )
        })
    }

    /// The `llmo_redis_*` metrics (nothing without Redis).
    pub(crate) fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let Some(inner) = &self.0 else { return };
        let up = u8::from(inner.up.load(Ordering::Acquire));
        let fallbacks = inner.fallbacks.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP llmo_redis_up Whether the Redis holding the shared rate limits answers (1) or not (0).\n\
             # TYPE llmo_redis_up gauge\n\
             llmo_redis_up {up}\n\
             # HELP llmo_redis_fallback_total Rate-limit checks made locally because Redis could not answer.\n\
             # TYPE llmo_redis_fallback_total counter\n\
             llmo_redis_fallback_total {fallbacks}\n"
        );
    }
}

impl Inner {
    async fn open(&self) -> Result<MultiplexedConnection, String> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let connect = async {
            let mut c = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            // Scripts can run (and this one is cached for EVALSHA).
            self.script.prepare_invoke().load_async(&mut c).await?;
            Ok::<_, redis::RedisError>(c)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        }
    }

    fn set_up(&self, c: MultiplexedConnection) {
        *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
        self.up.store(true, Ordering::Release);
    }

    /// A call failed: fall back (this request too), say so once, reconnect
    /// in the background.
    fn down(self: &Arc<Self>, why: &str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::AcqRel) {
            *self.conn.write().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::warn!(
                "Redis at {} failed ({why}): rate limits fall back to each replica's own counts until it is back",
                self.url
            );
            self.reconnect_in_background();
        }
    }

    fn reconnect_in_background(self: &Arc<Self>) {
        if self.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        // Weak: a gateway that stopped ends its retries.
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut wait = RETRY_FIRST;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                match inner.open().await {
                    Ok(c) => {
                        inner.set_up(c);
                        inner.reconnecting.store(false, Ordering::Release);
                        tracing::info!(
                            "Redis at {} answers again: rate limits are shared across replicas again",
                            inner.url
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("Redis at {} still unreachable: {e}", inner.url);
                        wait = (wait * 2).min(RETRY_MAX);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    //! The script's semantics against a real `redis-server` of the test's
    //! own, on a Unix socket (which also exercises `redis+unix://`).
    use super::*;
    use std::time::Instant;

    struct Server {
        dir: tempfile::TempDir,
        child: Option<std::process::Child>,
    }

    /// A `redis-server` without persistence, on the Unix socket `sock` only.
    fn spawn(sock: &std::path::Path) -> std::io::Result<std::process::Child> {
        std::process::Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(sock)
            .stdout(std::process::Stdio::null())
            .spawn()
    }

    impl Server {
        async fn start() -> Option<Server> {
            let dir = tempfile::tempdir().unwrap();
            let sock = dir.path().join("redis.sock");
            let Ok(child) = spawn(&sock) else {
                let required = std::env::var("LLMO_TEST_SERVICES").as_deref() == Ok("required");
                assert!(!required, "redis-server is not installed");
                eprintln!("skipped: install Debian's `redis-server` to run this test");
                return None;
            };
            let s = Server {
                dir,
                child: Some(child),
            };
            let t0 = Instant::now();
            while !sock.exists() {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "redis did not start"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(s)
        }

        fn url(&self) -> RedisUrl {
            let p = self.dir.path().join("redis.sock");
            RedisUrl::parse(&format!("redis+unix://{}", p.display())).unwrap()
        }

        fn stop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = std::fs::remove_file(self.dir.path().join("redis.sock"));
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop();
        }
    }

    /// One raw call of the script with a window of `window_ms`.
    async fn call(
        c: &mut MultiplexedConnection,
        key: &str,
        rpm: u32,
        window_ms: u64,
    ) -> (i64, i64) {
        let script = redis::Script::new(SCRIPT);
        let mut inv = script.key(key);
        inv.arg(rpm).arg(window_ms).arg(fastrand::u64(..));
        inv.invoke_async(c).await.unwrap()
    }

    #[tokio::test]
    async fn script_is_a_sliding_window_with_the_true_wait_and_survives_a_flush() {
        let Some(server) = Server::start().await else {
            return;
        };
        let client = redis::Client::open(server.url().expose()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        // rpm 2 in a 1.5 s window: A at 0, B at ~300, C refused until A
        // leaves. Redis stamps each call somewhere inside the client's
        // measured interval around it, so every bound below comes from
        // measured instants, not from how long a sleep was meant to take
        // (a loaded machine oversleeps).
        const W: u64 = 1500;
        let ms = |d: Duration| d.as_millis() as i64;
        let a0 = Instant::now();
        assert_eq!(call(&mut c, "w", 2, W).await, (1, 0));
        let a1 = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b0 = Instant::now();
        assert_eq!(call(&mut c, "w", 2, W).await, (1, 0));
        let b1 = Instant::now();
        let c0 = Instant::now();
        let (ok, wait) = call(&mut c, "w", 2, W).await;
        let c1 = Instant::now();
        assert_eq!(ok, 0, "the third in the window is refused");
        // wait = stamp(A) + W - stamp(C), stamps in ms (truncated: ±1).
        let (lo, hi) = (W as i64 - ms(c1 - a0) - 1, W as i64 - ms(c0 - a1) + 1);
        assert!(
            (lo..=hi).contains(&wait),
            "wait until A leaves: {wait} ms not in {lo}..={hi}"
        );
        // A refusal is not counted: the wait is the same a moment later.
        let (_, again) = call(&mut c, "w", 2, W).await;
        assert!(again <= wait, "{again} > {wait}");
        tokio::time::sleep(Duration::from_millis(wait as u64 + 20)).await;
        assert_eq!(call(&mut c, "w", 2, W).await, (1, 0), "A left the window");
        let d0 = Instant::now();
        let (ok, wait) = call(&mut c, "w", 2, W).await;
        let d1 = Instant::now();
        assert_eq!(ok, 0);
        let (lo, hi) = (W as i64 - ms(d1 - b0) - 1, W as i64 - ms(d0 - b1) + 1);
        assert!(
            (lo..=hi).contains(&wait),
            "now B is the oldest: {wait} ms not in {lo}..={hi}"
        );
        // A lower limit: the wait is for enough entries to leave, not one.
        let (ok, wait1) = call(&mut c, "w", 1, W).await;
        assert_eq!(ok, 0);
        assert!(wait1 > wait, "{wait1} <= {wait}");
        // The window expires by itself.
        let ttl: i64 = redis::cmd("PTTL")
            .arg("w")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!((1..=W as i64).contains(&ttl), "{ttl}");

        // Through `SharedLimits`: EVALSHA, reloaded after SCRIPT FLUSH.
        let limits = SharedLimits::new(Some(&server.url()), "t:", Duration::from_secs(1));
        limits.connect().await;
        assert_eq!(limits.check(Scope::Key(7), 1).await, Some(Ok(())));
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut c)
            .await
            .unwrap();
        let refused = limits.check(Scope::Key(7), 1).await;
        assert!(
            matches!(refused, Some(Err(w)) if w > Duration::from_secs(59)),
            "{refused:?}"
        );
        assert_eq!(limits.check(Scope::Provider("p"), 1).await, Some(Ok(())));
        let n: i64 = redis::cmd("ZCARD")
            .arg("t:rl:key:7")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "keys carry the prefix");
        assert!(limits.degraded().is_none());
    }

    /// `rediss://` builds its TLS client (rustls with ring, no panic for a
    /// missing crypto provider); a server that is no TLS Redis is "down".
    #[tokio::test]
    async fn a_tls_url_to_a_server_that_speaks_no_tls_is_down_not_a_crash() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        let url = RedisUrl::parse(&format!("rediss://:pw@127.0.0.1:{port}")).unwrap();
        let limits = SharedLimits::new(Some(&url), "t:", crate::config::DEFAULT_REDIS_TIMEOUT);
        limits.connect().await;
        assert_eq!(limits.check(Scope::Key(1), 1).await, None);
        let note = limits.degraded().unwrap();
        assert!(note.contains("rediss://:***@127.0.0.1"), "{note}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_falls_back_at_once_and_comes_back() {
        let Some(mut server) = Server::start().await else {
            return;
        };
        let limits = SharedLimits::new(
            Some(&server.url()),
            "t:",
            crate::config::DEFAULT_REDIS_TIMEOUT,
        );
        limits.connect().await;
        assert_eq!(limits.check(Scope::Key(1), 5).await, Some(Ok(())));
        server.stop();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limits.check(Scope::Key(1), 5).await, None);
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(limits.degraded().unwrap().contains("unreachable"));
        let mut m = String::new();
        limits.render_metrics(&mut m);
        assert!(m.contains("llmo_redis_up 0\n"), "{m}");
        assert!(m.contains("llmo_redis_fallback_total 3\n"), "{m}");
        // Back: the background task reconnects.
        let sock = server.dir.path().join("redis.sock");
        server.child = Some(spawn(&sock).unwrap());
        let t0 = Instant::now();
        while limits.degraded().is_some() {
            assert!(t0.elapsed() < Duration::from_secs(10), "did not reconnect");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(limits.check(Scope::Key(1), 5).await, Some(Ok(())));
    }
}

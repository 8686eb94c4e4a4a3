//! The replica heartbeat: this `llmo serve`'s row in the database's
//! `replicas` table (see `db/replicas.rs`), beaten by the database thread
//! once the store is usable and then every [`BEAT_INTERVAL`], deleted at
//! shutdown. After each beat the thread reads the replicas seen within
//! [`LIVE_WITHIN_MS`] and, when several share the database and some have no
//! Redis, warns that rate limits are per replica (at start, and again when
//! the count of live replicas or of those without Redis changes, at most
//! once per [`WARN_EVERY`]). `/ready` shows the last count (`replicas`).
//!
//! A failing beat is logged at debug level only: the database thread's
//! reload and the request-log writer already report database trouble.
//! Clocks: `seen_at` is each replica's own wall clock, so hosts must agree
//! within the live window (NTP does far better).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::db::replicas::{limits_note, Replica, LIMITS_FIX, LIVE_WITHIN_MS};
use crate::db::Store;

/// Default of `Options::heartbeat_interval`.
pub const BEAT_INTERVAL: Duration = Duration::from_secs(10);
/// The warning about per-replica limits is said at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// This replica's identity, and the last census (for `/ready`).
pub(crate) struct Replicas {
    id: String,
    host: String,
    redis: bool,
    started_at_ms: i64,
    listen: OnceLock<String>,
    interval: Duration,
    /// Live replicas and those without Redis at the last census; -1 before.
    live: AtomicI64,
    without_redis: AtomicI64,
}

impl Replicas {
    pub(crate) fn new(redis: bool, interval: Duration) -> Replicas {
        Replicas {
            id: random_id(),
            host: host_name(),
            redis,
            started_at_ms: crate::time::now_ms(),
            listen: OnceLock::new(),
            interval,
            live: AtomicI64::new(-1),
            without_redis: AtomicI64::new(-1),
        }
    }

    /// The address `serve` listens on (known after `Shared` is built).
    pub(crate) fn set_listen(&self, addr: SocketAddr) {
        let _ = self.listen.set(addr.to_string());
    }

    /// `(live, without Redis)` at the last census, once there was one.
    pub(crate) fn census(&self) -> Option<(i64, i64)> {
        let live = self.live.load(Ordering::Relaxed);
        (live >= 0).then(|| (live, self.without_redis.load(Ordering::Relaxed)))
    }

    fn row(&self, now_ms: i64) -> Replica {
        Replica {
            id: self.id.clone(),
            host: self.host.clone(),
            pid: i64::from(std::process::id()),
            listen: self.listen.get().cloned().unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION").into(),
            redis: self.redis,
            started_at_ms: self.started_at_ms,
            seen_at_ms: now_ms,
        }
    }
}

/// 16 random hex digits.
fn random_id() -> String {
    let mut b = [0u8; 8];
    let n = if getrandom::getrandom(&mut b).is_ok() {
        u64::from_le_bytes(b)
    } else {
        fastrand::u64(..)
    };
    let mut s = String::with_capacity(16);
    super::push_hex(&mut s, n, 16);
    s
}

/// The machine's host name (a pod's name on Kubernetes), or `unknown`.
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at
        // most that many bytes.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
            if let Ok(h) = std::str::from_utf8(&buf[..end]) {
                if !h.is_empty() {
                    return h.to_string();
                }
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into())
}

/// The database thread's side: when the next beat is due, and what the
/// log last said.
#[derive(Default)]
pub(crate) struct Beat {
    next: Option<Instant>,
    /// A row was written (so shutdown deletes it).
    written: bool,
    /// `(live, without Redis)` the log last judged, and when it warned.
    judged: Option<(usize, usize)>,
    warned_at: Option<Instant>,
    warning: bool,
}

impl Beat {
    /// Beats if one is due (called on every pass of the database thread),
    /// then takes the census and says what it means for rate limits.
    pub(crate) fn tick(&mut self, store: &mut Store, me: &Replicas) {
        let now = Instant::now();
        if self.next.is_some_and(|t| now < t) {
            return;
        }
        self.next = Some(now + me.interval);
        let now_ms = crate::time::now_ms();
        if let Err(e) = store.replica_beat(&me.row(now_ms)) {
            tracing::debug!("replica heartbeat failed: {e}");
            return;
        }
        self.written = true;
        match store.replicas_alive(now_ms, LIVE_WITHIN_MS) {
            Ok(live) => self.judge(&live, me, now),
            Err(e) => tracing::debug!("reading the live replicas failed: {e}"),
        }
    }

    fn judge(&mut self, live: &[Replica], me: &Replicas, now: Instant) {
        let without = live.iter().filter(|r| !r.redis).count();
        let count = (live.len(), without);
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        me.live.store(as_i64(count.0), Ordering::Relaxed);
        me.without_redis.store(as_i64(count.1), Ordering::Relaxed);
        if self.judged == Some(count) || self.warned_at.is_some_and(|t| now < t + WARN_EVERY) {
            return;
        }
        self.judged = Some(count);
        match limits_note(live, Some(&me.id)) {
            Some(note) => {
                tracing::warn!("{note}; {LIMITS_FIX}");
                self.warned_at = Some(now);
                self.warning = true;
            }
            None if self.warning => {
                self.warning = false;
                tracing::info!(
                    "{} live replica(s) on this database, {} without Redis: rate limits hold for the whole installation again",
                    count.0,
                    count.1
                );
            }
            None => {}
        }
    }

    /// Deletes this replica's row (at shutdown), when it wrote one.
    pub(crate) fn gone(&self, store: &mut Store, me: &Replicas) {
        if self.written {
            if let Err(e) = store.replica_gone(&me.id) {
                tracing::debug!("deleting this replica's heartbeat row failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_hex_digits_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(!host_name().is_empty());
    }

    fn live(n: usize, without: usize) -> Vec<Replica> {
        let me = Replicas::new(false, BEAT_INTERVAL);
        (0..n)
            .map(|i| Replica {
                id: i.to_string(),
                redis: i >= without,
                ..me.row(0)
            })
            .collect()
    }

    /// Judged once per change of the counts, warned at most once a minute,
    /// the "again" note once the warning no longer holds.
    #[test]
    fn the_warning_follows_changes_at_most_once_a_minute() {
        let me = Replicas::new(false, BEAT_INTERVAL);
        let mut b = Beat::default();
        let t0 = Instant::now();
        b.judge(&live(1, 1), &me, t0);
        assert_eq!((b.judged, b.warned_at), (Some((1, 1)), None));
        b.judge(&live(2, 2), &me, t0);
        assert_eq!((b.judged, b.warned_at), (Some((2, 2)), Some(t0)));
        assert_eq!(me.census(), Some((2, 2)));
        // A change within the minute waits; after it, it is judged.
        b.judge(&live(3, 3), &me, t0 + Duration::from_secs(30));
        assert_eq!(b.judged, Some((2, 2)));
        assert_eq!(me.census(), Some((3, 3)));
        let later = t0 + WARN_EVERY;
        b.judge(&live(3, 3), &me, later);
        assert_eq!((b.judged, b.warned_at), (Some((3, 3)), Some(later)));
        b.judge(&live(1, 1), &me, later + WARN_EVERY);
        assert!(!b.warning);
        assert_eq!(b.warned_at, Some(later));
    }
}

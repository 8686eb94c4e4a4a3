//! The replica heartbeat, engine-neutral part: the row (migration V5's
//! `replicas`), the [`Store`] methods that reach the engine's SQL
//! (`sqlite/replicas.rs`, `postgres/replicas.rs`), and what a set of live
//! replicas means for rate limits ([`limits_note`]), said alike by
//! `llmo serve` (its log) and `llmo doctor`.
//!
//! Every running `llmo serve` keeps one row, beaten by its database thread
//! (`gateway/heartbeat.rs`) and deleted at shutdown. Rows are live state,
//! not configuration: no configuration-version trigger, and `llmo db copy`
//! skips the table. A crashed replica's row is deleted by the next beat of
//! any replica once it has not been seen for [`STALE_MS`]; reads never
//! write ([`Store::replicas_alive`] runs on doctor's read-only session).
use super::{engine, Result, Store};

/// A row not seen for this long is deleted by the next beat (a replica
/// that crashed, or was killed before it could delete its row).
pub const STALE_MS: i64 = 60 * 60 * 1000;

/// A replica seen within this (ms) is live: three missed beats.
pub const LIVE_WITHIN_MS: i64 = 30_000;

/// At most this many live replicas are read (a bound, far above any real
/// deployment).
pub const MAX_LISTED: i64 = 1000;

/// One running `llmo serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Random per process start (16 hex digits).
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// The address it listens on.
    pub listen: String,
    /// llmo's version.
    pub version: String,
    /// Whether it has a Redis URL (rate limits shared across replicas).
    pub redis: bool,
    /// Epoch ms.
    pub started_at_ms: i64,
    /// Epoch ms of its last beat.
    pub seen_at_ms: i64,
}

impl Store {
    /// Inserts `r`, or updates the row of its id (`seen_at` and the rest),
    /// and deletes the rows of replicas not seen for [`STALE_MS`] before
    /// `r.seen_at_ms` (one bounded statement on `seen_at`'s index).
    pub fn replica_beat(&mut self, r: &Replica) -> Result<()> {
        engine!(self, s => s.replica_beat(r))
    }

    /// Deletes the row of replica `id` (at shutdown); true when there was one.
    pub fn replica_gone(&mut self, id: &str) -> Result<bool> {
        engine!(self, s => s.replica_gone(id))
    }

    /// The replicas seen within `within_ms` before `now_ms`, oldest start
    /// first (at most [`MAX_LISTED`]). Reads only.
    pub fn replicas_alive(&self, now_ms: i64, within_ms: i64) -> Result<Vec<Replica>> {
        engine!(self, s => s.replicas_alive(now_ms - within_ms))
    }
}

/// What to do about a [`limits_note`].
pub const LIMITS_FIX: &str =
    "set --redis-url (LLMO_REDIS_URL, or `redis_url` in the config file) on every replica so they share one set of rate limits";

/// How many replicas are named in a note before "and N more".
const NAMED: usize = 5;

/// What the live replicas mean for rate limits, or `None` when the limits
/// hold for the whole installation (one replica, or every one has Redis).
/// `me` is the replica asking (it says "this one"), `None` for doctor.
///
/// With `k` of `n` replicas without Redis, a key with `--rpm 30` may get
/// `30 × k` a minute when no replica has Redis, and `30 × (k + 1)` when
/// some do (those share one window, each of the others has its own).
pub fn limits_note(live: &[Replica], me: Option<&str>) -> Option<String> {
    let n = live.len();
    let without: Vec<&Replica> = live.iter().filter(|r| !r.redis).collect();
    let k = without.len();
    if n < 2 || k == 0 {
        return None;
    }
    let factor = k + usize::from(k < n);
    let up_to = format!("a key with --rpm 30 may get up to 30 × {factor} requests a minute");
    if k == n {
        return Some(format!(
            "{n} replicas share this database without Redis: each enforces rate limits on its own traffic ({up_to})"
        ));
    }
    let mut names: Vec<String> = without
        .iter()
        .take(NAMED)
        .map(|r| {
            let this = if me == Some(r.id.as_str()) {
                ", this one"
            } else {
                ""
            };
            format!("{}/{}{this}", r.host, r.pid)
        })
        .collect();
    if k > NAMED {
        names.push(format!("and {} more", k - NAMED));
    }
    let have = if k == 1 { "has" } else { "have" };
    Some(format!(
        "{k} of the {n} replicas sharing this database {have} no Redis ({}): each of those enforces rate limits on its own traffic, outside the limits the others share ({up_to})",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str, redis: bool) -> Replica {
        Replica {
            id: id.into(),
            host: format!("h{id}"),
            pid: 10,
            listen: "127.0.0.1:4000".into(),
            version: "1.0.0".into(),
            redis,
            started_at_ms: 1,
            seen_at_ms: 2,
        }
    }

    #[test]
    fn one_replica_or_all_with_redis_say_nothing() {
        assert_eq!(limits_note(&[], None), None);
        assert_eq!(limits_note(&[r("a", false)], Some("a")), None);
        assert_eq!(limits_note(&[r("a", true), r("b", true)], None), None);
    }

    #[test]
    fn replicas_without_redis_multiply_the_limit() {
        let all = [r("a", false), r("b", false), r("c", false)];
        assert_eq!(
            limits_note(&all, Some("a")).unwrap(),
            "3 replicas share this database without Redis: each enforces rate limits on its own traffic (a key with --rpm 30 may get up to 30 × 3 requests a minute)"
        );
        // Mixed: those with Redis share one window, the others one each.
        let mixed = [r("a", true), r("b", false), r("c", true)];
        assert_eq!(
            limits_note(&mixed, Some("b")).unwrap(),
            "1 of the 3 replicas sharing this database has no Redis (hb/10, this one): each of those enforces rate limits on its own traffic, outside the limits the others share (a key with --rpm 30 may get up to 30 × 2 requests a minute)"
        );
        assert!(limits_note(&mixed, None).unwrap().contains("(hb/10)"));
    }

    #[test]
    fn long_lists_are_cut() {
        let mut live: Vec<Replica> = (0..8).map(|i| r(&i.to_string(), false)).collect();
        live.push(r("x", true));
        let note = limits_note(&live, None).unwrap();
        assert!(note.starts_with("8 of the 9 replicas"), "{note}");
        assert!(note.contains("h4/10, and 3 more)"), "{note}");
        assert!(note.contains("30 × 9"), "{note}");
    }
}

//! The replicas check (database group): the `llmo serve` processes whose
//! heartbeat this database holds (seen in the last 30 s), how many have
//! Redis, and a warning when several share the database and some have
//! none (each of those enforces rate limits on its own traffic). Reads
//! only, on the inspection session.
use super::DbState;
use crate::db::replicas::{limits_note, Replica, LIMITS_FIX, LIVE_WITHIN_MS};
use crate::db::Store;
use crate::doctor::{Check, Group};

pub(crate) fn replicas(store: Option<&Store>, state: DbState) -> Vec<Check> {
    let Some(store) = store.filter(|_| state == DbState::Open) else {
        return Vec::new();
    };
    // A schema before V5 has no heartbeats (the migrations check says so).
    if !store.has_table("replicas").unwrap_or(false) {
        return Vec::new();
    }
    let check = match store.replicas_alive(crate::time::now_ms(), LIVE_WITHIN_MS) {
        Ok(live) => judge(&live),
        Err(e) => Check::warn(
            Group::Database,
            "replicas",
            format!("cannot read the replicas' heartbeats: {e}"),
            e.hint()
                .unwrap_or_else(|| "see the database checks above".into()),
        ),
    };
    vec![check]
}

/// The check from the live replicas (unit-tested without a database).
pub(crate) fn judge(live: &[Replica]) -> Check {
    let g = Group::Database;
    let with = live.iter().filter(|r| r.redis).count();
    if let Some(note) = limits_note(live, None) {
        return Check::warn(g, "replicas", note, LIMITS_FIX);
    }
    Check::ok(
        g,
        "replicas",
        match live {
            [] => "no `llmo serve` runs on this database (no heartbeat in the last 30 s)".into(),
            [r] => format!(
                "one `llmo serve` runs on this database ({}/{}, listening on {}, {})",
                r.host,
                r.pid,
                r.listen,
                if r.redis {
                    "with Redis"
                } else {
                    "without Redis"
                }
            ),
            _ => format!(
                "{} replicas run on this database, {with} with Redis: rate limits are shared",
                live.len()
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn r(pid: i64, redis: bool) -> Replica {
        Replica {
            id: format!("{pid:016x}"),
            host: "web".into(),
            pid,
            listen: "0.0.0.0:4000".into(),
            version: "0.1.0".into(),
            redis,
            started_at_ms: 0,
            seen_at_ms: 0,
        }
    }

    #[test]
    fn one_replica_is_ok_and_several_without_redis_warn() {
        let none = judge(&[]);
        assert_eq!(none.status, Status::Ok);
        assert!(none.message.starts_with("no `llmo serve`"), "{none:?}");
        let one = judge(&[r(7, false)]);
        assert_eq!(one.status, Status::Ok);
        assert!(one
            .message
            .contains("web/7, listening on 0.0.0.0:4000, without Redis"));
        let shared = judge(&[r(7, true), r(8, true)]);
        assert_eq!(shared.status, Status::Ok);
        assert!(shared
            .message
            .contains("2 replicas run on this database, 2 with Redis"));
        let two = judge(&[r(7, false), r(8, false)]);
        assert_eq!(two.status, Status::Warn);
        assert!(two
            .message
            .starts_with("2 replicas share this database without Redis"));
        assert!(two.fix.as_deref().unwrap().contains("--redis-url"));
    }
}

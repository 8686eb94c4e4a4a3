//! The PostgreSQL checks, after the database opened: the server's version
//! (13 or newer), TLS, the role's privileges (CREATE on the schema for
//! migrations, or DML only when a Job runs them), who holds the migration
//! lock, and the round trip. Read-only queries on the inspection session.
use crate::db::{ServerInfo, Store};
use crate::doctor::{Check, Group};

/// The oldest PostgreSQL llmo supports.
const MIN_VERSION_NUM: i64 = 130_000;
/// Above this round trip, warn: every catalog reload and log batch pays it.
const SLOW_ROUND_TRIP_MS: f64 = 20.0;

pub(crate) fn postgres(store: &Store) -> Vec<Check> {
    match store.server_info() {
        Ok(Some(info)) => judge(&info, crate::time::now_ms()),
        Ok(None) => Vec::new(),
        Err(e) => vec![Check::fail(
            Group::Database,
            "server",
            format!("cannot read the server's state: {e}"),
            e.hint().unwrap_or_else(|| {
                "check the role's rights to read `pg_stat_activity` and `pg_locks`".into()
            }),
        )],
    }
}

/// The checks from the facts (unit-tested without a server).
pub(crate) fn judge(info: &ServerInfo, now_ms: i64) -> Vec<Check> {
    let g = Group::Database;
    let mut out = Vec::new();
    out.push(if info.version_num >= MIN_VERSION_NUM {
        Check::ok(
            g,
            "server",
            format!(
                "PostgreSQL {}, database `{}` as role `{}`",
                info.version, info.database, info.user
            ),
        )
    } else {
        Check::fail(
            g,
            "server",
            format!(
                "PostgreSQL {} is older than 13, the oldest llmo supports",
                info.version
            ),
            "upgrade the server to PostgreSQL 13 or newer",
        )
    });
    out.push(match (&info.tls, info.local) {
        (Some(v), _) => Check::ok(g, "tls", format!("the connection is encrypted ({v})")),
        (None, true) => Check::ok(g, "tls", "not encrypted (a local connection: Unix socket or loopback)"),
        (None, false) => Check::warn(
            g,
            "tls",
            "the connection to the server is not encrypted: passwords and prompts' metadata cross the network in clear",
            "add `?sslmode=verify-full` (with `&sslrootcert=/path/ca.pem` for a private CA) or at least `?sslmode=require` to the URL",
        ),
    });
    out.push(privileges(info));
    out.push(match &info.lock_holder {
        None => Check::ok(g, "migration_lock", "free (no migration running)"),
        Some(h) => {
            let mins = (now_ms - h.since_ms).max(0) / 60_000;
            Check::warn(
                g,
                "migration_lock",
                format!(
                    "held by pid {} (`{}`, connected {} min ago, since {}); {} session(s) waiting",
                    h.pid,
                    h.application_name,
                    mins,
                    crate::time::rfc3339(h.since_ms),
                    info.lock_waiters
                ),
                format!("a `llmo migrate up` is running and replicas wait for it; if it is stuck, end it with `SELECT pg_terminate_backend({})`", h.pid),
            )
        }
    });
    let ms = info.round_trip.as_secs_f64() * 1000.0;
    out.push(if ms <= SLOW_ROUND_TRIP_MS {
        Check::ok(g, "round_trip", format!("{ms:.1} ms for `SELECT 1`"))
    } else {
        Check::warn(
            g,
            "round_trip",
            format!("{ms:.1} ms for `SELECT 1`: every reload and log batch waits this long"),
            "run llmo close to the database (same region or zone), or check the network path",
        )
    });
    out
}

fn privileges(info: &ServerInfo) -> Check {
    let g = Group::Database;
    let (user, schema) = (&info.user, &info.schema);
    if !info.missing_dml.is_empty() {
        return Check::fail(
            g,
            "privileges",
            format!("role `{user}` lacks rights llmo needs to serve: {}", info.missing_dml.join("; ")),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {user}; (as the tables' owner)"),
        );
    }
    match (info.can_create, info.tables) {
        (true, _) => Check::ok(
            g,
            "privileges",
            format!("role `{user}` may CREATE in schema `{schema}`: it can run migrations (`llmo migrate up`, or `serve` at start)"),
        ),
        (false, 0) => Check::fail(
            g,
            "privileges",
            format!("role `{user}` may not CREATE in schema `{schema}` and llmo's tables do not exist yet"),
            format!("run `llmo migrate up` once as a role that may (the schema's owner), or `GRANT CREATE ON SCHEMA {schema} TO {user}`"),
        ),
        (false, _) => Check::ok(
            g,
            "privileges",
            format!("role `{user}` has DML on llmo's tables but may not CREATE in schema `{schema}`: migrations must run as another role (a `llmo migrate up` Job)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db::LockHolder;
    use crate::doctor::checks::testing::find;
    use crate::doctor::Status;

    fn info() -> ServerInfo {
        ServerInfo {
            version_num: 150_004,
            version: "15.4".into(),
            tls: None,
            local: false,
            user: "app".into(),
            database: "llmo".into(),
            schema: "public".into(),
            can_create: false,
            missing_dml: Vec::new(),
            tables: 12,
            lock_holder: None,
            lock_waiters: 0,
            round_trip: Duration::from_micros(400),
        }
    }

    #[test]
    fn each_finding_says_what_to_do() {
        let mut i = info();
        let c = judge(&i, 0);
        assert_eq!(find(&c, "server").status, Status::Ok);
        assert_eq!(find(&c, "tls").status, Status::Warn);
        assert!(find(&c, "tls")
            .fix
            .as_deref()
            .unwrap()
            .contains("sslmode=verify-full"));
        let p = find(&c, "privileges");
        assert_eq!(p.status, Status::Ok);
        assert!(
            p.message.contains("a `llmo migrate up` Job"),
            "{}",
            p.message
        );
        assert_eq!(find(&c, "round_trip").message, "0.4 ms for `SELECT 1`");

        i.version_num = 120_009;
        i.version = "12.9".into();
        i.tables = 0;
        i.lock_holder = Some(LockHolder {
            pid: 4242,
            application_name: "llmo-migrate".into(),
            since_ms: 0,
            is_self: false,
        });
        i.lock_waiters = 2;
        i.round_trip = Duration::from_millis(45);
        let c = judge(&i, 180_000);
        assert_eq!(find(&c, "server").status, Status::Fail);
        assert_eq!(find(&c, "privileges").status, Status::Fail);
        let l = find(&c, "migration_lock");
        assert_eq!(l.status, Status::Warn);
        assert!(
            l.message
                .starts_with("held by pid 4242 (`llmo-migrate`, connected 3 min ago"),
            "{}",
            l.message
        );
        assert!(l.message.ends_with("2 session(s) waiting"), "{}", l.message);
        assert!(l
            .fix
            .as_deref()
            .unwrap()
            .contains("pg_terminate_backend(4242)"));
        assert_eq!(find(&c, "round_trip").status, Status::Warn);

        i.missing_dml = vec!["request_logs: INSERT".into()];
        let p = judge(&i, 0);
        let p = find(&p, "privileges");
        assert_eq!(p.status, Status::Fail);
        assert!(p.fix.as_deref().unwrap().starts_with(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app"
        ));
    }
}

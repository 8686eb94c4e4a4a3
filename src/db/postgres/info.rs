//! What `llmo doctor` reads from a PostgreSQL server, in one pass on the
//! inspection connection (read-only, `llmo-doctor` in
//! `pg_stat_activity`): the server version, whether this session uses TLS,
//! the role's privileges (CREATE on the schema, which migrations need, and
//! DML on llmo's tables, which serving needs), who holds the migration
//! advisory lock, and the round-trip time of a trivial query.
use std::time::{Duration, Instant};

use super::migrate::MIGRATION_LOCK_KEY;
use super::PgStore;
use crate::db::Result;

/// The facts, for doctor to judge.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// `server_version_num`, e.g. 150004.
    pub version_num: i64,
    /// `server_version`, e.g. `15.4 (Debian 15.4-1)`.
    pub version: String,
    /// The TLS protocol this session uses (`TLSv1.3`), or `None` in clear.
    pub tls: Option<String>,
    /// Connected over a Unix socket or a loopback address.
    pub local: bool,
    pub user: String,
    pub database: String,
    /// The schema llmo's tables go to (the first on the search path).
    pub schema: String,
    /// The role may `CREATE` in that schema (migrations can run as it).
    pub can_create: bool,
    /// llmo tables that exist but on which the role lacks one of SELECT,
    /// INSERT, UPDATE or DELETE (`table: PRIV, PRIV`).
    pub missing_dml: Vec<String>,
    /// How many of llmo's tables exist (0: nothing migrated yet).
    pub tables: usize,
    /// The session holding the migration lock, when one does.
    pub lock_holder: Option<LockHolder>,
    /// Sessions waiting for the migration lock.
    pub lock_waiters: i64,
    /// Median round trip of `SELECT 1` (three tries).
    pub round_trip: Duration,
}

/// A session that holds the migration advisory lock.
#[derive(Debug, Clone, PartialEq)]
pub struct LockHolder {
    pub pid: i32,
    pub application_name: String,
    /// When that session connected (epoch ms).
    pub since_ms: i64,
    /// Whether it is this inspecting session (never, in practice).
    pub is_self: bool,
}

/// The tables the serve path reads and writes (every copied table, the
/// configuration version and the heartbeat).
fn llmo_tables() -> impl Iterator<Item = &'static str> {
    crate::db::copy::TABLES
        .iter()
        .map(|t| t.name)
        .chain(["meta", "replicas"])
}

impl PgStore {
    /// Reads [`ServerInfo`] (read-only queries only).
    pub(crate) fn server_info(&self) -> Result<ServerInfo> {
        let mut c = self.conn();
        let row = c.query_one(
            "SELECT current_setting('server_version_num')::bigint, current_setting('server_version'),
                    (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl),
                    current_user::text, current_database()::text,
                    coalesce(current_schema()::text, ''),
                    coalesce(has_schema_privilege(current_schema(), 'CREATE'), false),
                    coalesce(inet_server_addr() <<= '127.0.0.0/8'::inet
                             OR inet_server_addr() = '::1'::inet, true)",
            &[],
        )?;
        let mut info = ServerInfo {
            version_num: row.get(0),
            version: row.get(1),
            tls: row.get(2),
            user: row.get(3),
            database: row.get(4),
            schema: row.get(5),
            can_create: row.get(6),
            local: row.get(7),
            missing_dml: Vec::new(),
            tables: 0,
            lock_holder: None,
            lock_waiters: 0,
            round_trip: Duration::ZERO,
        };
        for table in llmo_tables() {
            let row = c.query_one(
                "SELECT to_regclass($1) IS NOT NULL,
                        coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false),
                        coalesce(has_table_privilege(to_regclass($1), 'INSERT'), false),
                        coalesce(has_table_privilege(to_regclass($1), 'UPDATE'), false),
                        coalesce(has_table_privilege(to_regclass($1), 'DELETE'), false)",
                &[&table],
            )?;
            if !row.get::<_, bool>(0) {
                continue;
            }
            info.tables += 1;
            let missing: Vec<&str> = ["SELECT", "INSERT", "UPDATE", "DELETE"]
                .iter()
                .enumerate()
                .filter(|(i, _)| !row.get::<_, bool>(i + 1))
                .map(|(_, p)| *p)
                .collect();
            if !missing.is_empty() {
                info.missing_dml
                    .push(format!("{table}: {}", missing.join(", ")));
            }
        }
        // A bigint advisory key is (classid, objid) = (high, low) 32 bits.
        let (high, low) = (
            (MIGRATION_LOCK_KEY >> 32) as u32,
            (MIGRATION_LOCK_KEY & 0xffff_ffff) as u32,
        );
        let locks = c.query(
            "SELECT l.granted, l.pid, coalesce(a.application_name, ''),
                    coalesce((extract(epoch FROM a.backend_start) * 1000)::bigint, 0),
                    l.pid = pg_backend_pid()
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.objsubid = 1
               AND l.classid::bigint = $1 AND l.objid::bigint = $2
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&i64::from(high), &i64::from(low)],
        )?;
        for l in locks {
            if l.get::<_, bool>(0) {
                info.lock_holder = Some(LockHolder {
                    pid: l.get(1),
                    application_name: l.get(2),
                    since_ms: l.get(3),
                    is_self: l.get(4),
                });
            } else {
                info.lock_waiters += 1;
            }
        }
        let mut trips = [Duration::ZERO; 3];
        for t in &mut trips {
            let start = Instant::now();
            c.query_one("SELECT 1", &[])?;
            *t = start.elapsed();
        }
        trips.sort();
        info.round_trip = trips[1];
        Ok(info)
    }
}

//! The PostgreSQL engine: everything that knows it is talking to
//! PostgreSQL lives in this directory. The connection, its defaults, TLS
//! and the error classification (`conn.rs`), the migration history,
//! advisory lock and runner (`migrate.rs`), the catalog and client keys
//! (`catalog.rs`), `config export/apply` (`catalog_state.rs`), stored
//! Responses-API responses (`responses.rs`), the replica heartbeat
//! (`replicas.rs`), the request-log writer and the
//! log/stats reads (`logs.rs`, `admin.rs`).
//!
//! Like the SQLite engine it is blocking by design (the sync `postgres`
//! client; callers reach it through `spawn_blocking` or their own thread)
//! and a [`PgStore`] is one connection: a replica opens one per role (the
//! catalog worker, the admin API, the request-log writer, the stored
//! responses reader; plus the idle `LISTEN llmo_config` connection of
//! `listen.rs`), each named `llmo-<role>` in `pg_stat_activity`, so a
//! replica holds a handful of connections and never a pool that grows with
//! load. The request path never waits on PostgreSQL: it reads the
//! in-memory snapshot and hands log rows to the writer's queue.
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::info::{FileSizes, PageStats};
use super::{PgUrl, Result};

mod admin;
mod catalog;
mod catalog_state;
mod conn;
mod copy;
pub(crate) mod info;
pub(crate) mod listen;
pub(crate) mod logs;
pub(crate) mod migrate;
mod paging;
mod replicas;
mod responses;

#[allow(
    unused_imports,
    reason = "the engine's interface (interface.md): db copy and doctor use them"
)]
pub(crate) use conn::classify;
pub(crate) use conn::{connect, Conn};

/// A connection to an llmo PostgreSQL database. (`pub` only because it is
/// the payload of the public [`Store::Postgres`](crate::db::Store)
/// variant; its module is private.) The client sits behind a mutex (never
/// contended: one store, one thread at a time) because the driver needs
/// `&mut` for every query and the migration lock's guard must reach it too.
pub struct PgStore {
    client: Arc<Mutex<Conn>>,
    url: PgUrl,
    /// Whether [`PgStore::conn`] replaces a closed connection (not for
    /// doctor's read-only session).
    reopen: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL's Display masks its password.
        f.debug_struct("PgStore")
            .field("url", &self.url.to_string())
            .finish()
    }
}

impl PgStore {
    fn new(client: postgres::Client, url: &PgUrl) -> PgStore {
        PgStore {
            client: Arc::new(Mutex::new(Conn::new(client))),
            url: url.clone(),
            reopen: true,
        }
    }

    /// The connection (a panicked holder leaves it usable: every write is
    /// its own transaction, rolled back by the server if unfinished). One
    /// the server or the network closed (a restart, an outage) is replaced
    /// here by a new one, so the catalog worker, the admin API and the
    /// stored-responses reader resume by themselves once the server is back;
    /// while it cannot be reached the closed one stays and the query fails
    /// as `Unreachable`.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Conn> {
        let mut c = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reopen && c.is_closed() {
            if let Ok(fresh) = connect(&self.url, "store") {
                *c = Conn::new(fresh);
            }
        }
        c
    }

    /// Connects for normal work; the caller migrates. The database itself
    /// must exist (llmo creates tables, not databases), so nothing is ever
    /// "created": the second value is always false.
    pub(crate) fn open_or_create(url: &PgUrl) -> Result<(PgStore, bool)> {
        Ok((PgStore::new(connect(url, "store")?, url), false))
    }

    /// Connects without migrating. Always `Some`: a database that does not
    /// exist is a connection error with the fix.
    pub(crate) fn open_existing(url: &PgUrl) -> Result<Option<PgStore>> {
        Ok(Some(PgStore::new(connect(url, "store")?, url)))
    }

    /// Connects in a read-only session (every transaction read-only), for
    /// doctor: nothing can be written through it.
    pub(crate) fn open_for_inspection(url: &PgUrl) -> Result<PgStore> {
        let mut client = connect(url, "doctor")?;
        client.batch_execute("SET default_transaction_read_only = on")?;
        let mut store = PgStore::new(client, url);
        store.reopen = false;
        Ok(store)
    }

    /// PostgreSQL checks its pages itself (checksums, WAL): the answer is
    /// that the server answers.
    pub(crate) fn integrity_check(&self) -> Result<Vec<String>> {
        self.conn().query_one("SELECT 1", &[])?;
        Ok(vec!["ok".to_string()])
    }

    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) {
        self.conn().batch_execute(sql).unwrap();
    }

    /// The configuration version, bumped by triggers on every catalog change.
    pub(crate) fn config_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_one("SELECT value FROM meta WHERE key = 'config_version'", &[])?
            .get(0))
    }

    /// Whether a table of this name is on the search path.
    pub(crate) fn has_table(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?
            .get(0))
    }

    /// In PostgreSQL's terms: the database's size on the server
    /// (`pg_database_size`); there are no companion files.
    pub(crate) fn file_sizes(&self) -> Result<FileSizes> {
        let db: i64 = self
            .conn()
            .query_one("SELECT pg_database_size(current_database())", &[])?
            .get(0);
        Ok(FileSizes {
            db: u64::try_from(db).unwrap_or(0),
            wal: None,
            shm: None,
        })
    }

    /// In PostgreSQL's terms: its block size and the database's size in
    /// blocks; free space is autovacuum's business (no free list to report).
    pub(crate) fn page_stats(&self) -> Result<PageStats> {
        let row = self.conn().query_one(
            "SELECT current_setting('block_size')::bigint, pg_database_size(current_database())",
            &[],
        )?;
        let (block, size): (i64, i64) = (row.get(0), row.get(1));
        Ok(PageStats {
            page_size: block,
            page_count: size / block.max(1),
            freelist_count: 0,
        })
    }
}

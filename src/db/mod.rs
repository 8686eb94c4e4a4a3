//! The store: the routing catalog, client keys, request logs and their
//! stats, the Responses API's stored responses, the replica heartbeat
//! ([`replicas`]), and the schema migrations, behind one interface ([`Store`], and
//! [`logs::LogWriter`] for the gateway's request-log writer) that the CLI,
//! the gateway, the admin API and doctor call without naming an engine.
//!
//! The seam:
//! - **Engine modules** hold everything engine-specific: `sqlite/` has the connection, every line of SQL, the PRAGMAs, the
//!   migration files it embeds (`migrations/sqlite/`: refinery walks
//!   subdirectories, so each engine's SQL needs its own), the `VACUUM INTO`
//!   backup and the file introspection doctor uses ([`info`]).
//! - **Engine-neutral** files hold the interface and the logic that does not
//!   depend on the engine: [`Store`] and [`StoreError`] (here; an engine's
//!   own error becomes [`StoreError::Database`], which knows whether the
//!   database was busy), the row and filter types, input checks and
//!   defaults ([`catalog`], [`logs`], `admin.rs`), the in-memory aggregation
//!   of a log batch, keyset paging, percentiles and series, and the
//!   migration pre-check (`migrate.rs`: a pure function from the binary's
//!   migrations and the database's history to applied / pending / missing /
//!   modified / newer, and the refusal sentences).
//! - [`Store`] and [`logs::LogWriter`] are enums with one variant per
//!   engine; every method dispatches with one `match` (the `engine!`
//!   macro): no `dyn`, and callers only call methods.
//! - What only a file database has (its header, file sizes, page counts,
//!   the backup next to it) is reached through methods that say what they
//!   are for (`file_sizes`, `page_stats`, `backup_before_migrate` returning
//!   `None` when there is nothing to copy) rather than an `as_sqlite()`
//!   accessor: doctor keeps calling [`Store`], and an engine without such a
//!   thing answers in its own terms.
//!
//!   `postgres/` is the same for a PostgreSQL server (one connection per
//!   store, TLS, SQLSTATE classification, `migrations/postgres/` under an
//!   advisory lock).
//!
//! Adding an engine: create `db/<engine>/` with a store type that has the
//! same methods as `sqlite::SqliteStore` (the crate-private ones too:
//! `known_migrations`, `migration_history`, `migration_lock`,
//! `prepare_writes`, `backup_before_migrate`, `backup_note`,
//! `apply_migrations`) and a log writer like
//! `sqlite::logs::SqliteLogWriter`; add a variant to [`Store`] and
//! [`logs::LogWriter`], an arm to `engine!` and to the open functions'
//! choice of engine (by [`DbLocation`]), a variant to
//! `migrate::MigrationLock`, and one line to `store_suite!` in
//! `db/tests/mod.rs` so every store test runs on it too.
#![allow(
    clippy::disallowed_methods,
    reason = "the store is blocking by design; async callers reach it through spawn_blocking or its own thread"
)]
mod admin;
pub mod catalog;
pub mod catalog_state;
pub mod copy;
pub mod logs;
pub mod migrate;
pub mod paging;
mod postgres;
pub mod replicas;
pub mod responses;
mod sqlite;
#[cfg(test)]
mod tests;

/// Where the store lives (parsed with the settings).
pub use crate::config::location::{mask_url, DbLocation, PgUrl};
pub use admin::{
    LatencyPercentiles, MappingPatch, ModelStats, Percentiles, SeriesPoint, PERCENTILE_SAMPLE,
};
pub use migrate::{MigrationRow, MigrationState, MigrationStatus, OpenReport};
/// What doctor reads from a PostgreSQL server (version, TLS, privileges,
/// the migration lock's holder, round trip).
pub use postgres::info::{LockHolder, ServerInfo};
pub use postgres::listen::ConfigListener;
/// File-level facts about an SQLite database for `llmo doctor` (header,
/// companion files), readable before any connection is opened.
pub use sqlite::info;

/// Runs `$body` with `$s` bound to the engine inside `$store` (a [`Store`]
/// or a [`logs::LogWriter`], by value or by reference): the one place a
/// new engine adds an arm.
macro_rules! engine {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            $crate::db::Store::Sqlite($s) => $body,
            $crate::db::Store::Postgres($s) => $body,
        }
    };
    (writer $store:expr, $s:ident => $body:expr) => {
        match $store {
            $crate::db::logs::LogWriter::Sqlite($s) => $body,
            $crate::db::logs::LogWriter::Postgres($s) => $body,
        }
    };
}
pub(crate) use engine;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} `{name}` does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{what} `{name}` already exists")]
    Duplicate { what: &'static str, name: String },
    #[error(transparent)]
    Invalid(#[from] crate::catalog::Invalid),
    #[error("{message}")]
    Conflict {
        message: String,
        hint: Option<String>,
    },
    /// The database's schema cannot be used by this binary (never altered).
    #[error("{message}")]
    Schema { message: String, hint: String },
    /// The database cannot be opened or created (`location` is shown with
    /// any password masked).
    #[error("cannot open database `{location}`: {message}")]
    Open {
        location: String,
        message: String,
        hint: String,
    },
    /// The engine failed a statement (whatever the engine).
    #[error("database error: {0}")]
    // Not `#[source]`: the message already holds it, and a chain printer
    // (`{:#}`) would say it twice.
    Database(DatabaseError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// What kind of storage fault an engine error is, classified once by the
/// engine (`sqlite::classify`) so callers (the admin API, `/ready`, the
/// CLI) map it without knowing the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Another process holds the lock: a retry may succeed.
    Busy,
    /// The database or the disk under it is full.
    Full,
    /// The database cannot be written (read-only file, mount or setting).
    ReadOnly,
    /// The database server cannot be reached (refused, closed, timed out).
    Unreachable,
    /// Anything else.
    Other,
}

impl FaultKind {
    /// The sentence said for it (engine-neutral), when it has one.
    pub fn sentence(self) -> Option<&'static str> {
        match self {
            FaultKind::Busy => Some("database is locked by another process"),
            FaultKind::Full => Some("database or disk is full"),
            FaultKind::ReadOnly => Some("the database is read-only"),
            FaultKind::Unreachable => Some("the database server cannot be reached"),
            FaultKind::Other => None,
        }
    }
}

/// An engine's own error, with the property callers act on: its
/// [`FaultKind`]. Displays as the kind's sentence (with the engine's words
/// after it) or as the engine's error, and has its source.
#[derive(Debug)]
pub struct DatabaseError {
    kind: FaultKind,
    inner: Box<dyn std::error::Error + Send + Sync>,
}

impl DatabaseError {
    pub(crate) fn new(
        kind: FaultKind,
        inner: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DatabaseError {
            kind,
            inner: Box::new(inner),
        }
    }

    pub fn kind(&self) -> FaultKind {
        self.kind
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.to_string();
        match self.kind.sentence() {
            Some(s) if s.contains(inner.as_str()) => f.write_str(s),
            Some(s) => write!(f, "{s} ({inner})"),
            None => f.write_str(&inner),
        }
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl StoreError {
    /// True when the user's input or the system's state is at fault (exit 1).
    pub fn is_user_error(&self) -> bool {
        match self {
            StoreError::NotFound { .. }
            | StoreError::Duplicate { .. }
            | StoreError::Invalid(_)
            | StoreError::Conflict { .. }
            | StoreError::Schema { .. }
            | StoreError::Open { .. }
            | StoreError::Io { .. } => true,
            StoreError::Database(e) => e.kind != FaultKind::Other,
            StoreError::Migration(_) => false,
        }
    }

    /// True when another process holds a lock on the database: retrying
    /// later may succeed.
    pub fn is_busy(&self) -> bool {
        self.fault() == FaultKind::Busy
    }

    /// The storage fault this is (`Other` for every non-engine error).
    pub fn fault(&self) -> FaultKind {
        match self {
            StoreError::Database(e) => e.kind,
            _ => FaultKind::Other,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NotFound { what, .. } => Some(match *what {
                "provider" => "see `llmo provider list`".into(),
                "model" => "see `llmo model list`".into(),
                "key" => "see `llmo key list`".into(),
                _ => "check the name".into(),
            }),
            StoreError::Duplicate { what, .. } => Some(match *what {
                "provider" => "pick another name, or change it with `llmo provider update`".into(),
                "model" => "pick another name, or see `llmo model show`".into(),
                _ => "pick another name".into(),
            }),
            StoreError::Invalid(_) => Some("see `--help` for the allowed values".into()),
            StoreError::Conflict { hint, .. } => hint.clone(),
            StoreError::Schema { hint, .. } | StoreError::Open { hint, .. } => Some(hint.clone()),
            StoreError::Database(e) => match e.kind {
                FaultKind::Busy => Some(
                    "another process holds a write lock on the database; retry, or find it with `fuser`"
                        .into(),
                ),
                FaultKind::Full => Some(
                    "free space on the database's disk (`df -h`), or move it to a larger volume"
                        .into(),
                ),
                FaultKind::ReadOnly => Some(
                    "make the database file and its directory writable (a read-only mount or file?); `llmo doctor` checks it"
                        .into(),
                ),
                FaultKind::Unreachable => Some(
                    "check that PostgreSQL is running and reachable at the `--db`/`LLMO_DB` URL's host and port (firewall, DNS, `sslmode`); `llmo doctor` checks it"
                        .into(),
                ),
                FaultKind::Other => None,
            },
            StoreError::Io { .. } => Some("check the path and its permissions".into()),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Hears configuration changes made by other processes as they commit
/// (PostgreSQL's `LISTEN llmo_config`): `changed` is called once per burst
/// and returns `false` to stop. `None` on SQLite, which has no such
/// channel (its readers poll `config_version`, which costs one page read).
pub fn config_listener(
    location: &DbLocation,
    changed: impl FnMut() -> bool + Send + 'static,
) -> Option<ConfigListener> {
    match location {
        DbLocation::Sqlite(_) => None,
        DbLocation::Postgres(url) => postgres::listen::spawn(url.clone(), changed),
    }
}

/// A connection to the llmo database, on one of the engines.
#[derive(Debug)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the database for normal work: creates it if missing, applies
    /// pending migrations (after a backup of a non-empty database), and
    /// refuses, without altering it, a database that is newer than this
    /// binary or whose history differs from it.
    pub fn open(location: impl Into<DbLocation>) -> Result<(Store, OpenReport)> {
        let (mut store, created) = match location.into() {
            DbLocation::Sqlite(path) => {
                let (s, created) = sqlite::SqliteStore::open_or_create(&path)?;
                (Store::Sqlite(s), created)
            }
            DbLocation::Postgres(url) => {
                let (s, created) = postgres::PgStore::open_or_create(&url)?;
                (Store::Postgres(s), created)
            }
        };
        let mut report = store.migrate_up(!created)?;
        report.created = created;
        Ok((store, report))
    }

    /// Opens an existing database without migrating it or changing its
    /// journal mode (for `migrate status`, `migrate up --dry-run` and
    /// `doctor`). `Ok(None)` when there is no database.
    pub fn open_existing(location: impl Into<DbLocation>) -> Result<Option<Store>> {
        Ok(match location.into() {
            DbLocation::Sqlite(path) => {
                sqlite::SqliteStore::open_existing(&path)?.map(Store::Sqlite)
            }
            DbLocation::Postgres(url) => {
                postgres::PgStore::open_existing(&url)?.map(Store::Postgres)
            }
        })
    }

    /// Opens an existing database for inspection only: never creates,
    /// writes, migrates or changes it, and leaves no trace (for doctor).
    pub fn open_for_inspection(location: impl Into<DbLocation>) -> Result<Store> {
        match location.into() {
            DbLocation::Sqlite(path) => {
                sqlite::SqliteStore::open_for_inspection(&path).map(Store::Sqlite)
            }
            DbLocation::Postgres(url) => {
                postgres::PgStore::open_for_inspection(&url).map(Store::Postgres)
            }
        }
    }

    /// The engine's own consistency check: `ok`, or the problems found.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        engine!(self, s => s.integrity_check())
    }

    /// The configuration version, bumped on every catalog change.
    pub fn config_version(&self) -> Result<i64> {
        engine!(self, s => s.config_version())
    }

    /// Whether the database has a table of this name (e.g. to tell a database
    /// whose first migration never ran from one that lost a table).
    pub fn has_table(&self, name: &str) -> Result<bool> {
        engine!(self, s => s.has_table(name))
    }

    /// Runs SQL straight on the engine (tests that fake another binary's
    /// history).
    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) {
        engine!(self, s => s.execute_for_test(sql))
    }

    /// Sizes of the database's files (for doctor's disk checks); on
    /// PostgreSQL the database's size on the server, no companion files.
    pub fn file_sizes(&self) -> Result<info::FileSizes> {
        engine!(self, s => s.file_sizes())
    }

    /// Page size, page count and free-list length (space a `VACUUM` would
    /// give back), for doctor; on PostgreSQL its block size and size in
    /// blocks, with no free list.
    pub fn page_stats(&self) -> Result<info::PageStats> {
        engine!(self, s => s.page_stats())
    }

    /// A database server's version, TLS, the role's privileges, the
    /// migration lock's holder and the round trip, for doctor; `None` for
    /// an SQLite file (no server).
    pub fn server_info(&self) -> Result<Option<ServerInfo>> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(s) => s.server_info().map(Some),
        }
    }
}

//! `llmo db copy SRC DST`, engine-neutral part: a whole installation (the
//! catalog, client keys by hash, circuit-breaker history, per-minute stats,
//! request logs and stored responses) copied from one store into another,
//! whatever their engines (SQLite to PostgreSQL and back, or SQLite to
//! SQLite).
//!
//! - **Refusals first, nothing written**: both databases must be at this
//!   binary's schema version (the message says which one to migrate; a
//!   destination with no schema at all is created and migrated here), and
//!   the destination must hold no rows in any copied table.
//! - **One consistent snapshot**: the source is read inside one read-only
//!   transaction, so a server may keep running on it; what it writes after
//!   the copy started is not copied.
//! - **All or nothing**: the destination is written in one transaction; a
//!   failed copy leaves it empty, as it was.
//! - **Bounded memory**: each table is read in keyset-paged chunks (by its
//!   primary key) and written chunk by chunk, so millions of log rows cost
//!   one chunk of memory. Primary keys are copied as they are (model/provider
//!   mappings refer to them); PostgreSQL's identity sequences are moved past
//!   them at the end.
//! - **Verified**: every table's row count on both sides, compared after the
//!   commit ([`CopyReport`]).
//!
//! The SQL is the engines' (`sqlite/copy.rs`, `postgres/copy.rs`): reading
//! a chunk after a key, writing one (a multi-row `INSERT` on SQLite, a binary
//! `COPY` on PostgreSQL), counting.
//! Values travel as [`Value`]s and each engine converts them to its column
//! types (SQLite's 0/1 integers are PostgreSQL's booleans, and back).
//! Not copied: the migration history (each database has its own), the
//! configuration version (the destination's moves on its own) and the
//! replica heartbeat (live state).
use serde::Serialize;

use super::{engine, migrate, DbLocation, Result, Store, StoreError};

/// One column's value, engine-neutral.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One row: the values of a [`Table`]'s columns, in order.
pub(crate) type Row = Vec<Value>;

/// A copied table: its columns (the primary key's first) and how many rows
/// a chunk holds (fewer for tables of large rows).
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    /// How many leading columns are the primary key.
    pub(crate) key: usize,
    pub(crate) chunk: usize,
}

impl Table {
    pub(crate) fn key_columns(&self) -> &'static [&'static str] {
        &self.columns[..self.key]
    }
}

/// Every copied table, parents before children (mappings refer to models
/// and providers). `copy_covers_every_table_and_column` (in
/// `sqlite/copy.rs`) fails when a migration adds a table or a column that
/// is not listed here.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "providers",
        columns: &[
            "id",
            "name",
            "kind",
            "base_url",
            "api_key",
            "api_key_env",
            "priority",
            "weight",
            "max_retries",
            "timeout_ms",
            "rate_limit_rpm",
            "enabled",
            "created_at",
            "updated_at",
        ],
        key: 1,
        chunk: 1000,
    },
    Table {
        name: "models",
        columns: &[
            "id",
            "name",
            "description",
            "enabled",
            "created_at",
            "updated_at",
        ],
        key: 1,
        chunk: 1000,
    },
    Table {
        name: "model_providers",
        columns: &[
            "model_id",
            "provider_id",
            "upstream_model",
            "priority",
            "weight",
            "enabled",
            "created_at",
        ],
        key: 2,
        chunk: 1000,
    },
    Table {
        name: "api_keys",
        columns: &[
            "id",
            "name",
            "key_hash",
            "prefix",
            "rpm_limit",
            "allowed_models",
            "created_at",
            "last_used_at",
            "revoked_at",
        ],
        key: 1,
        chunk: 1000,
    },
    Table {
        name: "provider_health",
        columns: &[
            "id",
            "provider",
            "state",
            "consecutive_failures",
            "last_error",
            "last_success_at",
            "changed_at",
        ],
        key: 1,
        chunk: 1000,
    },
    Table {
        name: "provider_stats",
        columns: &[
            "provider",
            "bucket",
            "requests",
            "successes",
            "failures",
            "latency_ms_total",
            "tokens_in",
            "tokens_out",
        ],
        key: 2,
        chunk: 2000,
    },
    Table {
        name: "model_stats",
        columns: &[
            "model",
            "bucket",
            "requests",
            "errors",
            "latency_ms_total",
            "tokens_in",
            "tokens_out",
        ],
        key: 2,
        chunk: 2000,
    },
    Table {
        name: "request_logs",
        columns: &[
            "id",
            "ts",
            "request_id",
            "key_name",
            "model",
            "provider",
            "upstream_model",
            "attempts",
            "status",
            "error_type",
            "latency_ms",
            "ttfb_ms",
            "upstream_ms",
            "prompt_tokens",
            "completion_tokens",
            "stream",
            "method",
            "path",
            "api",
            "key_prefix",
        ],
        key: 1,
        chunk: 1000,
    },
    Table {
        name: "responses",
        columns: &["id", "owner", "model", "created_at", "response", "items"],
        key: 1,
        // Rows are whole conversations (up to megabytes each).
        chunk: 50,
    },
];

/// Tables that exist in a migrated database but are not copied (see the
/// module docs), for the coverage test.
#[cfg(test)]
pub(crate) const NOT_COPIED: &[&str] = &["meta", "refinery_schema_history", "replicas"];

/// One table's row counts after a copy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: u64,
    pub destination: u64,
}

/// What a copy did: per table, the rows in the source's snapshot and in the
/// destination after the commit.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The destination had no schema and was created and migrated first.
    pub destination_created: bool,
    pub schema_version: i64,
    pub tables: Vec<TableCount>,
}

impl CopyReport {
    /// Tables whose counts differ (empty after a good copy).
    pub fn mismatches(&self) -> Vec<&TableCount> {
        self.tables
            .iter()
            .filter(|t| t.source != t.destination)
            .collect()
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.destination).sum()
    }
}

/// Progress, reported after each chunk: the table, rows written so far in
/// it, and its row count in the source.
pub type Progress<'a> = &'a mut dyn FnMut(&'static str, u64, u64);

/// Copies everything from `src` into `dst` (see the module docs).
pub fn copy(src: &DbLocation, dst: &DbLocation, progress: Progress<'_>) -> Result<CopyReport> {
    if src == dst {
        return Err(conflict(
            format!("the source and the destination are the same database ({src})"),
            "name another database as DST",
        ));
    }
    let mut from = Store::open_existing(src)?.ok_or_else(|| {
        conflict(
            format!("the source database {src} does not exist"),
            "check SRC (an SQLite file path or a postgres:// URL)",
        )
    })?;
    let binary = latest_version();
    check_version(&from, "source", src, binary)?;
    let (mut to, destination_created) = open_destination(dst)?;
    check_version(&to, "destination", dst, binary)?;
    ensure_empty(&mut to, dst)?;

    from.copy_begin_read()?;
    let result = copy_tables(&mut from, &mut to, progress);
    // The read snapshot is only read: ending it cannot lose anything.
    let _ = from.copy_end_read();
    let source_counts = result?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for (t, source) in TABLES.iter().zip(source_counts) {
        tables.push(TableCount {
            table: t.name,
            source,
            destination: to.copy_count(t)?,
        });
    }
    Ok(CopyReport {
        destination_created,
        schema_version: binary,
        tables,
    })
}

/// Inside the source's snapshot: counts, then every table chunk by chunk
/// into one destination transaction (rolled back on any error).
fn copy_tables(from: &mut Store, to: &mut Store, progress: Progress<'_>) -> Result<Vec<u64>> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        counts.push(from.copy_count(t)?);
    }
    to.copy_begin_write()?;
    let written = (|| {
        for (t, &total) in TABLES.iter().zip(&counts) {
            let mut after: Option<Row> = None;
            let mut done = 0u64;
            progress(t.name, 0, total);
            loop {
                let rows = from.copy_read(t, after.as_deref(), t.chunk)?;
                let Some(last) = rows.last() else { break };
                after = Some(last[..t.key].to_vec());
                to.copy_write(t, &rows)?;
                done += rows.len() as u64;
                progress(t.name, done, total);
                if rows.len() < t.chunk {
                    break;
                }
            }
        }
        to.copy_commit()
    })();
    if written.is_err() {
        let _ = to.copy_rollback();
    }
    written.map(|()| counts)
}

fn latest_version() -> i64 {
    migrate::known().last().map_or(0, |m| m.0)
}

fn conflict(message: String, hint: impl Into<String>) -> StoreError {
    StoreError::Conflict {
        message,
        hint: Some(hint.into()),
    }
}

/// The destination, created and migrated when it has no schema yet (a new
/// SQLite file, an empty PostgreSQL database): `(store, created)`.
fn open_destination(dst: &DbLocation) -> Result<(Store, bool)> {
    if let Some(store) = Store::open_existing(dst)? {
        if store.migration_status()?.db_version > 0 {
            return Ok((store, false));
        }
    }
    let (store, _) = Store::open(dst)?;
    Ok((store, true))
}

/// Refuses a database that is not at this binary's schema version, naming
/// the command that fixes it.
fn check_version(store: &Store, role: &str, at: &DbLocation, binary: i64) -> Result<()> {
    let status = store.migration_status()?;
    if let Some(problem) = status.problems.first() {
        return Err(conflict(
            format!("the {role} database {at} cannot be copied: {problem}"),
            format!("`llmo --db {at} migrate status` shows its migrations"),
        ));
    }
    if status.db_version != binary {
        return Err(conflict(
            format!(
                "the {role} database {at} is at schema version {}, this llmo at {binary}: both must be at {binary}",
                status.db_version
            ),
            format!("migrate the {role} first: `llmo --db {at} migrate up`"),
        ));
    }
    Ok(())
}

/// Refuses a destination that holds any row in a copied table.
fn ensure_empty(to: &mut Store, dst: &DbLocation) -> Result<()> {
    let mut found = Vec::new();
    for t in TABLES {
        let n = to.copy_count(t)?;
        if n > 0 {
            found.push(format!("{n} in {}", t.name));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(conflict(
        format!(
            "the destination database {dst} is not empty ({} rows): `db copy` only fills an empty one",
            found.join(", ")
        ),
        "copy into a new database (a new file, or `CREATE DATABASE` on PostgreSQL); llmo creates and migrates it",
    ))
}

/// The engine calls behind [`copy`] (the SQL is each engine's `copy.rs`).
impl Store {
    /// Rows in a table.
    pub(crate) fn copy_count(&mut self, t: &Table) -> Result<u64> {
        engine!(self, s => s.copy_count(t))
    }

    /// Starts the read-only snapshot the source is read in.
    pub(crate) fn copy_begin_read(&mut self) -> Result<()> {
        engine!(self, s => s.copy_begin_read())
    }

    pub(crate) fn copy_end_read(&mut self) -> Result<()> {
        engine!(self, s => s.copy_end_read())
    }

    /// Up to `limit` rows with a key after `after`, in key order.
    pub(crate) fn copy_read(
        &mut self,
        t: &Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        engine!(self, s => s.copy_read(t, after, limit))
    }

    /// Starts the one write transaction of the destination.
    pub(crate) fn copy_begin_write(&mut self) -> Result<()> {
        engine!(self, s => s.copy_begin_write())
    }

    pub(crate) fn copy_write(&mut self, t: &Table, rows: &[Row]) -> Result<()> {
        engine!(self, s => s.copy_write(t, rows))
    }

    /// Finishes the destination (identity sequences) and commits.
    pub(crate) fn copy_commit(&mut self) -> Result<()> {
        engine!(self, s => s.copy_commit())
    }

    pub(crate) fn copy_rollback(&mut self) -> Result<()> {
        engine!(self, s => s.copy_rollback())
    }
}

/// The keyset condition and order of a chunk read: `WHERE (k1, k2) > (p1,
/// p2) ORDER BY k1, k2` with the engine's placeholders (`?1` or `$1`).
pub(crate) fn select_sql(
    t: &Table,
    after: bool,
    limit: usize,
    placeholder: fn(usize) -> String,
) -> String {
    let keys = t.key_columns();
    let cols = t.columns.join(", ");
    let order = keys.join(", ");
    let cond = if !after {
        String::new()
    } else if keys.len() == 1 {
        format!(" WHERE {} > {}", keys[0], placeholder(1))
    } else {
        let ps: Vec<_> = (1..=keys.len()).map(placeholder).collect();
        format!(" WHERE ({order}) > ({})", ps.join(", "))
    };
    format!(
        "SELECT {cols} FROM {}{cond} ORDER BY {order} LIMIT {limit}",
        t.name
    )
}

/// A multi-row `INSERT` of `rows` rows with the engine's placeholders.
pub(crate) fn insert_sql(t: &Table, rows: usize, placeholder: fn(usize) -> String) -> String {
    let n = t.columns.len();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", t.name, t.columns.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&placeholder(r * n + c + 1));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(i: usize) -> String {
        format!("?{i}")
    }

    #[test]
    fn chunk_reads_are_keyset_paged_on_the_primary_key() {
        let t = TABLES.iter().find(|t| t.name == "model_stats").unwrap();
        assert_eq!(
            select_sql(t, true, 10, q),
            "SELECT model, bucket, requests, errors, latency_ms_total, tokens_in, tokens_out \
             FROM model_stats WHERE (model, bucket) > (?1, ?2) ORDER BY model, bucket LIMIT 10"
        );
        let t = TABLES.iter().find(|t| t.name == "responses").unwrap();
        assert_eq!(
            select_sql(t, false, 5, q),
            "SELECT id, owner, model, created_at, response, items FROM responses ORDER BY id LIMIT 5"
        );
        assert_eq!(
            insert_sql(&TABLES[1], 2, |i| format!("${i}")),
            "INSERT INTO models (id, name, description, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"
        );
    }

    #[test]
    fn chunks_fit_both_engines_parameter_limits() {
        // SQLite binds at most 32766 parameters, PostgreSQL 65535.
        for t in TABLES {
            assert!(t.chunk * t.columns.len() <= 32766, "{}", t.name);
            assert!(t.key >= 1 && t.key <= t.columns.len());
        }
    }
}

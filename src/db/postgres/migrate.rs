//! PostgreSQL's side of the migrations: the SQL files embedded from
//! `migrations/postgres/` (the same versions and names as SQLite's, so
//! `llmo migrate status` reads the same on both engines), refinery's history
//! table, and the run itself, one transaction per migration, under a
//! session-level advisory lock (`pg_advisory_lock`) taken on the migrating
//! connection: of several replicas started together on one database, one
//! migrates and the others wait on the lock, then find nothing pending. The
//! server drops the lock with the session, so a killed migrator frees it.
//!
//! There is no `VACUUM INTO` here: backups of a server are the operator's
//! (`pg_dump`), and `migrate up` prints the command instead.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Conn, PgStore};
use crate::db::migrate::HistoryRow;
use crate::db::{Result, StoreError};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

const HISTORY_TABLE: &str = "refinery_schema_history";

/// The advisory lock key all llmo migrators share ("llmomigr" as bytes).
pub(crate) const MIGRATION_LOCK_KEY: i64 = 0x6c6c_6d6f_6d69_6772;

/// Migrations compiled into this binary: `(version, name, checksum)`.
pub(crate) fn known() -> Vec<(i64, String, u64)> {
    super::super::migrate::listed(&embedded::migrations::runner())
}

impl PgStore {
    pub(crate) fn known_migrations(&self) -> Vec<(i64, String, u64)> {
        known()
    }

    /// The applied migrations, oldest first (none without a history table).
    pub(crate) fn migration_history(&self) -> Result<Vec<HistoryRow>> {
        let mut c = self.conn();
        let exists: bool = c
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE])?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = c.query(
            &format!(
                "SELECT version, name, applied_on, checksum FROM {HISTORY_TABLE} ORDER BY version"
            ),
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| HistoryRow {
                version: i64::from(r.get::<_, i32>(0)),
                name: r.get(1),
                applied_on: r.get(2),
                checksum: r.get(3),
            })
            .collect())
    }

    /// Nothing to switch on PostgreSQL.
    pub(crate) fn prepare_writes(&mut self) -> Result<()> {
        Ok(())
    }

    /// No copy is taken on a server (see [`PgStore::backup_note`]).
    pub(crate) fn backup_before_migrate(&self, _version: i64) -> Result<Option<PathBuf>> {
        Ok(None)
    }

    /// What `migrate up` says instead of taking a backup: that backups are
    /// the operator's, with the `pg_dump` command (no password in it).
    pub(crate) fn backup_note(&self, version: i64) -> Option<String> {
        let stamp = crate::time::file_stamp(crate::time::now_ms());
        let url = self.url.to_string().replacen(":***@", "@", 1);
        Some(format!(
            "no backup taken: on PostgreSQL backups are the operator's; take one before migrating with `pg_dump --format=custom --file=llmo-v{version}-{stamp}.dump --dbname='{url}'` (the password from PGPASSWORD or ~/.pgpass)"
        ))
    }

    /// Takes the migration lock: `pg_advisory_lock` on this session,
    /// waiting while another process holds it (with no statement timeout
    /// for the wait and the migrations themselves).
    pub(crate) fn migration_lock(&self) -> Result<MigrationLock> {
        let mut c = self.conn();
        c.batch_execute("SET statement_timeout = 0")?;
        c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])?;
        Ok(MigrationLock {
            client: self.client.clone(),
        })
    }

    /// Runs the embedded migrations that are `pending`, one transaction
    /// each; `backup` only goes into the error message.
    pub(crate) fn apply_migrations(
        &mut self,
        pending: &[(i64, String)],
        backup: Option<&Path>,
    ) -> Result<()> {
        let mut c = self.conn();
        embedded::migrations::runner()
            .set_abort_divergent(true)
            .set_abort_missing(true)
            .set_grouped(false)
            .run(&mut **c)
            .map_err(|e| migration_error(&e, pending, backup))?;
        Ok(())
    }
}

/// Held while migrating; dropping it releases the advisory lock and gives
/// the session its statement timeout back (and the server releases the
/// lock anyway if the session ends first).
pub(crate) struct MigrationLock {
    client: Arc<Mutex<Conn>>,
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        let mut c = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]);
        let _ = c.batch_execute("RESET statement_timeout");
    }
}

/// Which migration failed and PostgreSQL's reason, without the migration's
/// whole SQL text that refinery's error message embeds.
fn migration_error(
    e: &refinery::Error,
    pending: &[(i64, String)],
    backup: Option<&Path>,
) -> StoreError {
    let done = e.report().map_or(0, |r| r.applied_migrations().len());
    let which = pending
        .get(done)
        .map_or_else(String::new, |(v, name)| format!("V{v} `{name}`: "));
    let reason = match e.kind() {
        refinery::error::Kind::Connection(_, source) => {
            match source.downcast_ref::<postgres::Error>() {
                Some(pe) => match pe.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => pe.to_string(),
                },
                None => source.to_string(),
            }
        }
        other => other.to_string(),
    };
    let backup = backup.map_or_else(String::new, |b| {
        format!("; the backup taken before it is `{}`", b.display())
    });
    StoreError::Migration(format!(
        "{which}{reason} (that migration was rolled back{backup})"
    ))
}

//! SQLite's side of the migrations: the SQL files embedded from
//! `migrations/sqlite/` (refinery's `embed_migrations!`), its history table,
//! the switch to WAL once the history is accepted, the `VACUUM INTO` backup
//! and the run itself, one transaction per migration, under an exclusive
//! `flock` on a `-migrate.lock` file beside the database, so that two
//! processes starting on one file (a `serve` and a CLI command, two
//! replicas on a shared volume) never migrate or back up at the same time.
//! The pre-check and the refusal sentences are engine-neutral
//! (`db/migrate.rs`).
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::db::migrate::HistoryRow;
use crate::db::{Result, StoreError};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

const HISTORY_TABLE: &str = "refinery_schema_history";

/// Migrations compiled into this binary: `(version, name, checksum)`.
pub(crate) fn known() -> Vec<(i64, String, u64)> {
    super::super::migrate::listed(&embedded::migrations::runner())
}

impl SqliteStore {
    pub(crate) fn known_migrations(&self) -> Vec<(i64, String, u64)> {
        known()
    }

    /// SQLite takes its own backup (`backup_before_migrate`): nothing to say.
    pub(crate) fn backup_note(&self, _version: i64) -> Option<String> {
        None
    }

    fn history_exists(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [HISTORY_TABLE],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The applied migrations, oldest first (none without a history table).
    pub(crate) fn migration_history(&self) -> Result<Vec<HistoryRow>> {
        if !self.history_exists()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare(&format!(
            "SELECT version, name, applied_on, checksum FROM {HISTORY_TABLE} ORDER BY version"
        ))?;
        let rows = st.query_map([], |r| {
            Ok(HistoryRow {
                version: r.get(0)?,
                name: r.get(1)?,
                applied_on: r.get(2)?,
                checksum: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The history matched the binary: switch to WAL. WAL is persistent and
    /// changes the file header, so it must not happen to a refused database.
    pub(crate) fn prepare_writes(&mut self) -> Result<()> {
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        Ok(())
    }

    /// Is there anything in this database worth backing up?
    fn has_content(&self) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Writes a consistent copy next to the database with `VACUUM INTO`,
    /// named with the schema version it holds and a UTC timestamp, mode
    /// 0600. `None` when the database is empty (nothing to keep).
    pub(crate) fn backup_before_migrate(&self, version: i64) -> Result<Option<PathBuf>> {
        if !self.has_content()? {
            return Ok(None);
        }
        let db_path = &self.path;
        let file = db_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "llmo.db".into());
        let stamp = crate::time::file_stamp(crate::time::now_ms());
        let mut target = db_path.with_file_name(format!("{file}.backup-v{version}-{stamp}"));
        let mut n = 1;
        while target.exists() {
            target = db_path.with_file_name(format!("{file}.backup-v{version}-{stamp}-{n}"));
            n += 1;
        }
        self.conn
            .execute("VACUUM INTO ?1", [target.to_string_lossy()])?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::Io {
                    context: format!("setting permissions of backup `{}`", target.display()),
                    source,
                },
            )?;
        }
        Ok(Some(target))
    }

    /// Takes the migration lock: an exclusive `flock` on
    /// `<database>-migrate.lock`, waiting while another process holds it;
    /// the kernel drops a `flock` with its file, so a killed migrator frees
    /// it. A file of its own, not the database: closing any descriptor of
    /// the database would drop the `fcntl` locks SQLite holds on it. (WAL
    /// needs a local filesystem anyway, where `flock` is sound.) The file
    /// stays: removing a lock file races with a process waiting on it.
    pub(crate) fn migration_lock(&self) -> Result<MigrationLock> {
        let mut name = self.path.as_os_str().to_owned();
        name.push("-migrate.lock");
        let path = PathBuf::from(name);
        let io = |source| StoreError::Io {
            context: format!("taking the migration lock `{}`", path.display()),
            source,
        };
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o.open(&path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            loop {
                // SAFETY: flock on a descriptor this function owns; no memory is shared.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    break;
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(io(e));
                }
            }
        }
        Ok(MigrationLock { _file: file })
    }

    /// Runs the embedded migrations that are `pending`, one transaction
    /// each; `backup` only goes into the error message.
    pub(crate) fn apply_migrations(
        &mut self,
        pending: &[(i64, String)],
        backup: Option<&Path>,
    ) -> Result<()> {
        embedded::migrations::runner()
            .set_abort_divergent(true)
            .set_abort_missing(true)
            .set_grouped(false)
            .run(&mut self.conn)
            .map_err(|e| migration_error(&e, pending, backup))?;
        Ok(())
    }
}

/// Held while migrating; dropping it closes the file, which releases the
/// `flock`.
pub(crate) struct MigrationLock {
    _file: std::fs::File,
}

/// Which migration failed and SQLite's reason, without the migration's
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
            match source.downcast_ref::<rusqlite::Error>() {
                Some(rusqlite::Error::SqlInputError { msg, .. }) => msg.clone(),
                Some(other) => other.to_string(),
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

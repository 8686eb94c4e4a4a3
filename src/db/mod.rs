//! The store: one SQLite file (WAL, busy_timeout, foreign keys) with its
//! schema migrations embedded in the binary. All SQL lives under `db/`; the
//! CLI and the gateway see only [`Store`]'s narrow interface, so a second
//! backend (PostgreSQL) can come later behind the same methods.
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub mod catalog;
pub mod info;
pub mod logs;
pub mod migrate;

pub use migrate::{MigrationRow, MigrationState, MigrationStatus, OpenReport};

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
    /// The file cannot be opened or created.
    #[error("cannot open database `{path}`: {message}")]
    Open {
        path: PathBuf,
        message: String,
        hint: String,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
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
            StoreError::Sqlite(e) => is_busy(e),
            StoreError::Migration(_) => false,
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
            StoreError::Sqlite(e) if is_busy(e) => Some(
                "another process holds a write lock on the database; retry, or find it with `fuser`"
                    .into(),
            ),
            StoreError::Io { .. } => Some("check the path and its permissions".into()),
            _ => None,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection to the llmo database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database for normal work: creates it (directory 0700, file
    /// 0600) if missing, applies pending migrations (after a backup of a
    /// non-empty DB), and refuses, without altering it, a database that is
    /// newer than this binary or whose history differs from it.
    pub fn open(path: &Path) -> Result<(Store, OpenReport)> {
        let created = prepare_path(path)?;
        let mut conn = connect(path, false)?;
        let report = migrate::ensure_current(&mut conn, path, created)?;
        Ok((
            Store {
                conn,
                path: path.to_path_buf(),
            },
            report,
        ))
    }

    /// Opens an existing database without migrating it or changing its
    /// journal mode (for `migrate status`, `migrate up --dry-run` and
    /// `doctor`). `Ok(None)` when there is no file.
    pub fn open_existing(path: &Path) -> Result<Option<Store>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = connect(path, false)?;
        Ok(Some(Store {
            conn,
            path: path.to_path_buf(),
        }))
    }

    /// Opens an existing database read-only (no WAL change, no writes).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let conn = connect(path, true)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA integrity_check`: `ok` or the problems found.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn journal_mode(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// The configuration version, bumped by triggers on every catalog change.
    pub fn config_version(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'config_version'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Migration states of this database against the binary.
    pub fn migration_status(&self) -> Result<MigrationStatus> {
        migrate::status(&self.conn)
    }

    /// Applies pending migrations (see `llmo migrate up`).
    pub fn migrate_up(&mut self, backup: bool) -> Result<OpenReport> {
        migrate::up(&mut self.conn, &self.path, backup)
    }
}

/// Creates the parent directory (0700) and an empty file (0600) if needed.
/// Returns true when the file was created.
fn prepare_path(path: &Path) -> Result<bool> {
    let open_err = |message: String, hint: &str| StoreError::Open {
        path: path.to_path_buf(),
        message,
        hint: hint.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| {
                open_err(
                    format!("cannot create directory `{}`: {e}", dir.display()),
                    "create it yourself, or point `--db`/`LLMO_DB` at a writable path",
                )
            })?;
        } else if !dir.is_dir() {
            return Err(open_err(
                format!("`{}` is not a directory", dir.display()),
                "point `--db`/`LLMO_DB` at a file inside a directory",
            ));
        }
    }
    if path.exists() {
        if path.is_dir() {
            return Err(open_err(
                "it is a directory".into(),
                "point `--db`/`LLMO_DB` at a file path, e.g. `/var/lib/llmo/llmo.db`",
            ));
        }
        return Ok(false);
    }
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(open_err(
            e.to_string(),
            "the directory must be writable by this user; fix its permissions or point `--db`/`LLMO_DB` elsewhere",
        )),
    }
}

/// Opens a connection with llmo's per-connection pragmas. The switch to WAL,
/// which rewrites the file header, is not made here but in
/// [`migrate::up`], once the history has been checked: a database this
/// binary refuses (or only reports on) is left byte-identical.
pub(crate) fn connect(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| open_error(path, e))?;
    let pragmas = if read_only {
        "PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    };
    conn.execute_batch(pragmas)
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let (message, hint) = match e.sqlite_error_code() {
        Some(C::NotADatabase) => (
            "the file is not an SQLite database, or it is corrupt".to_string(),
            "restore the newest `*.backup-*` file next to it, or point `--db` elsewhere".to_string(),
        ),
        Some(C::ReadOnly) | Some(C::CannotOpen) | Some(C::PermissionDenied) => (
            e.to_string(),
            "the file and its directory must be readable and writable by this user (SQLite also writes `-wal` and `-shm` files beside it)".to_string(),
        ),
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => (
            "the database is locked by another process".to_string(),
            "wait for the other process, or stop it".to_string(),
        ),
        _ => return StoreError::Sqlite(e),
    };
    StoreError::Open {
        path: path.to_path_buf(),
        message,
        hint,
    }
}

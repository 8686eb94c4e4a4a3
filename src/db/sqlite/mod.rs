//! The SQLite engine: one database file (WAL, busy_timeout, foreign keys)
//! and all of its SQL. Everything that knows it is talking to SQLite lives
//! in this directory: the connection and its PRAGMAs (here), the catalog,
//! log and stats queries (`catalog.rs`, `logs.rs`, `admin.rs`), the stored
//! Responses-API responses (`responses.rs`), the replica heartbeat
//! (`replicas.rs`), the
//! migration history and the `VACUUM INTO` backup (`migrate.rs`) and the
//! file introspection doctor uses (`info.rs`).
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{DatabaseError, FaultKind, Result, StoreError};

mod admin;
mod catalog;
mod catalog_state;
mod copy;
pub mod info;
pub(super) mod logs;
pub(super) mod migrate;
mod paging;
mod replicas;
mod responses;

/// A connection to an llmo SQLite database. (`pub` only because it is the
/// payload of the public [`Store::Sqlite`](crate::db::Store) variant; its
/// module is private, so nothing outside the crate can name it.)
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// `?` on a rusqlite call inside this engine gives the engine-neutral
/// [`StoreError::Database`], with its [`FaultKind`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(DatabaseError::new(classify(&e), e))
    }
}

/// The one place SQLite's result codes become engine-neutral fault kinds.
fn classify(e: &rusqlite::Error) -> FaultKind {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => FaultKind::Busy,
        Some(C::DiskFull) => FaultKind::Full,
        Some(C::ReadOnly) => FaultKind::ReadOnly,
        _ => FaultKind::Other,
    }
}

impl SqliteStore {
    /// Opens the file for normal work, creating it (directory 0700, file
    /// 0600) if missing; the caller migrates. Returns whether it was created.
    pub(crate) fn open_or_create(path: &Path) -> Result<(SqliteStore, bool)> {
        let created = prepare_path(path)?;
        let conn = connect(path)?;
        Ok((
            SqliteStore {
                conn,
                path: path.to_path_buf(),
            },
            created,
        ))
    }

    /// Opens an existing file without migrating it or changing its journal
    /// mode. `Ok(None)` when there is no file.
    pub(crate) fn open_existing(path: &Path) -> Result<Option<SqliteStore>> {
        if !existing_file(path)? {
            return Ok(None);
        }
        let conn = connect(path)?;
        Ok(Some(SqliteStore {
            conn,
            path: path.to_path_buf(),
        }))
    }

    /// `PRAGMA integrity_check`: `ok` or the problems found.
    pub(crate) fn integrity_check(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    /// The configuration version, bumped by triggers on every catalog change.
    pub(crate) fn config_version(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'config_version'",
            [],
            |r| r.get(0),
        )?)
    }
}
fn open_err(path: &Path, message: String, hint: &str) -> StoreError {
    StoreError::Open {
        location: path.display().to_string(),
        message,
        hint: hint.to_string(),
    }
}

/// Whether a database file is at `path`: `Ok(false)` when nothing is there,
/// a user error (exit 1, with a hint) when the path cannot hold one: a
/// directory, a device or pipe, a parent that is a file.
fn existing_file(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(m) if m.is_dir() => Err(open_err(
            path,
            "it is a directory".into(),
            "point `--db`/`LLMO_DB` at a file path, e.g. `/var/lib/llmo/llmo.db`",
        )),
        Ok(_) => Err(open_err(
            path,
            "it is not a regular file (a device, pipe or socket)".into(),
            "point `--db`/`LLMO_DB` at a regular file, e.g. `/var/lib/llmo/llmo.db`",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            let file = path.ancestors().skip(1).find(|a| a.is_file());
            Err(open_err(
                path,
                format!("`{}` is not a directory", file.unwrap_or(path).display()),
                "point `--db`/`LLMO_DB` at a file inside a directory",
            ))
        }
        Err(e) => Err(open_err(
            path,
            e.to_string(),
            "the file and its directory must be readable and writable by this user",
        )),
    }
}

/// Creates the parent directory (0700) and an empty file (0600) if needed.
/// Returns true when the file was created.
fn prepare_path(path: &Path) -> Result<bool> {
    let open_err = |message: String, hint: &str| open_err(path, message, hint);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)
                .map_err(|e| match dir.ancestors().skip(1).find(|a| a.is_file()) {
                    Some(file) => open_err(
                        format!("`{}` is not a directory", file.display()),
                        "point `--db`/`LLMO_DB` at a file inside a directory",
                    ),
                    None => open_err(
                        format!("cannot create directory `{}`: {e}", dir.display()),
                        "create it yourself, or point `--db`/`LLMO_DB` at a writable path",
                    ),
                })?;
        } else if !dir.is_dir() {
            return Err(open_err(
                format!("`{}` is not a directory", dir.display()),
                "point `--db`/`LLMO_DB` at a file inside a directory",
            ));
        }
    }
    if existing_file(path)? {
        return Ok(false);
    }
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(match path.parent().and_then(unwritable_dir) {
            Some((message, hint)) => open_err(message, &hint),
            None => open_err(
                e.to_string(),
                "the directory must be writable by this user; fix its permissions or point `--db`/`LLMO_DB` elsewhere",
            ),
        }),
    }
}

/// Why this process cannot write in the database's directory, and the fix:
/// a read-only mount (no chown helps: a writable volume does) or another
/// owner (chown, or Kubernetes' `fsGroup`). `None` when it can write there.
fn unwritable_dir(dir: &Path) -> Option<(String, String)> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let writable = || {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return true;
        };
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
    };
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    unwritable_sentence(dir, info::read_only_mount(dir), writable(), uid, gid)
}

/// The sentences of [`unwritable_dir`], from the facts (unit-tested).
fn unwritable_sentence(
    dir: &Path,
    read_only_mount: bool,
    writable: bool,
    uid: u32,
    gid: u32,
) -> Option<(String, String)> {
    let d = dir.display();
    if read_only_mount {
        return Some((
            format!("the database is read-only: the filesystem at `{d}` is mounted read-only"),
            format!("point `--db`/`LLMO_DB` at a writable mount, or mount a writable volume at `{d}` (the container image keeps the database on a volume at `/data`: mount one there and leave `LLMO_DB=/data/llmo.db`); SQLite also writes `-wal` and `-shm` files beside the database"),
        ));
    }
    if writable || uid == 0 {
        return None;
    }
    Some((
        format!("the directory `{d}` is not writable by uid {uid}, the user llmo runs as"),
        format!("`chown {uid} {d}` (for a container: the host directory or volume mounted there), or in Kubernetes set the pod's `securityContext.fsGroup: {gid}`; or point `--db`/`LLMO_DB` at a writable directory"),
    ))
}

/// Opens a read-write connection with llmo's per-connection pragmas. The
/// switch to WAL, which rewrites the file header, is not made here but in
/// [`SqliteStore::prepare_writes`], once the history has been checked: a
/// database this binary refuses (or only reports on) is left byte-identical.
fn connect(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| open_error(path, e))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let code = e.sqlite_error_code();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if matches!(
        code,
        Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied)
    ) {
        // A read-only mount (no chmod or chown helps, and root gets this
        // too) or a directory owned by another user.
        if let Some((message, hint)) = unwritable_dir(dir) {
            return StoreError::Open {
                location: path.display().to_string(),
                message,
                hint,
            };
        }
    }
    let (message, hint) = match code {
        Some(C::NotADatabase) => (
            "the file is not an SQLite database, or it is corrupt".to_string(),
            "restore the newest `*.backup-*` file next to it, or point `--db` elsewhere".to_string(),
        ),
        Some(C::ReadOnly) => (
            format!("the database is read-only ({e})"),
            "the file and its directory must be writable by this user, on a writable mount (SQLite also writes `-wal` and `-shm` files beside it)".to_string(),
        ),
        Some(C::CannotOpen) | Some(C::PermissionDenied) => (
            e.to_string(),
            "the file and its directory must be readable and writable by this user (SQLite also writes `-wal` and `-shm` files beside it)".to_string(),
        ),
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => (
            "the database is locked by another process".to_string(),
            "wait for the other process, or stop it".to_string(),
        ),
        _ => return e.into(),
    };
    StoreError::Open {
        location: path.display().to_string(),
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (b BLOB)")
            .unwrap();
        c
    }

    #[test]
    fn an_unwritable_directory_names_the_mount_or_the_owner_and_the_fix() {
        let dir = Path::new("/data");
        // A read-only mount (a container's root, `LLMO_DB=/llmo.db`): a volume
        // is the fix, whoever runs it; no chown.
        let (msg, fix) = unwritable_sentence(Path::new("/"), true, false, 65532, 65532).unwrap();
        assert_eq!(
            msg,
            "the database is read-only: the filesystem at `/` is mounted read-only"
        );
        assert!(
            fix.contains("mount one there") && fix.contains("/data"),
            "{fix}"
        );
        assert!(!fix.contains("chown"), "{fix}");
        // A volume owned by someone else: chown to this uid, or fsGroup.
        let (msg, fix) = unwritable_sentence(dir, false, false, 65532, 65532).unwrap();
        assert_eq!(
            msg,
            "the directory `/data` is not writable by uid 65532, the user llmo runs as"
        );
        assert!(fix.starts_with("`chown 65532 /data`"), "{fix}");
        assert!(fix.contains("`securityContext.fsGroup: 65532`"), "{fix}");
        // Writable, or root (ownership is not the cause): the engine's words.
        assert_eq!(unwritable_sentence(dir, false, true, 65532, 65532), None);
        assert_eq!(unwritable_sentence(dir, false, false, 0, 0), None);
    }

    fn fault(r: rusqlite::Result<usize>) -> (FaultKind, String) {
        let e = StoreError::from(r.unwrap_err());
        (e.fault(), e.to_string())
    }

    #[test]
    fn sqlite_errors_become_fault_kinds_with_their_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = table(&path);

        // SQLITE_FULL: the database may not grow past its page limit.
        c.execute_batch("PRAGMA max_page_count = 3").unwrap();
        let big = vec![0u8; 64 * 1024];
        let (kind, msg) = fault(c.execute("INSERT INTO t VALUES (?1)", [&big]));
        assert_eq!(
            (kind, msg.as_str()),
            (FaultKind::Full, "database error: database or disk is full")
        );

        // SQLITE_READONLY.
        c.execute_batch("PRAGMA query_only = ON").unwrap();
        let (kind, msg) = fault(c.execute("INSERT INTO t VALUES (x'00')", []));
        assert_eq!(kind, FaultKind::ReadOnly);
        assert!(
            msg.starts_with("database error: the database is read-only ("),
            "{msg}"
        );
        c.execute_batch("PRAGMA query_only = OFF").unwrap();

        // SQLITE_BUSY: another connection holds the write lock.
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let (kind, msg) = fault(other.execute("INSERT INTO t VALUES (x'00')", []));
        assert_eq!(
            (kind, msg.as_str()),
            (
                FaultKind::Busy,
                "database error: database is locked by another process"
            )
        );
        let e = StoreError::from(
            other
                .execute("INSERT INTO t VALUES (x'00')", [])
                .unwrap_err(),
        );
        assert!(e.is_busy() && e.is_user_error() && e.hint().unwrap().contains("fuser"));
        c.execute_batch("ROLLBACK").unwrap();

        // Anything else keeps the engine's words.
        let (kind, msg) = fault(c.execute("INSERT INTO nope VALUES (1)", []));
        assert_eq!(kind, FaultKind::Other);
        assert_eq!(msg, "database error: no such table: nope");
    }
}

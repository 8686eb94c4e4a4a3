//! The database checks: where the file is and whether its directory is
//! writable, the file's mode, header, integrity, journal mode and size, and
//! the free disk space. The file is opened for inspection only.
use std::path::{Path, PathBuf};

use super::source_desc;
use crate::config::{Sourced, DB};
use crate::db::info::{self, Header};
use crate::db::{DbLocation, Store};
use crate::doctor::{Check, Group};

/// Below this much free space on the database's filesystem, warn.
const LOW_DISK_BYTES: u64 = 100 * 1024 * 1024;

/// What the database checks found, for the checks that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbState {
    /// The path could not be determined.
    Unknown,
    /// No file yet (a fresh machine).
    Missing,
    /// A file that cannot be opened as llmo's database.
    Unusable,
    /// Opened for inspection.
    Open,
}

#[derive(Debug)]
pub(crate) struct DatabaseOutcome {
    pub(crate) checks: Vec<Check>,
    pub(crate) store: Option<Store>,
    pub(crate) state: DbState,
}

/// Human-readable bytes: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The directory the database lives in (`.` for a bare file name).
fn db_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The closest ancestor of `dir` (itself included) that exists.
fn nearest_existing(dir: &Path) -> PathBuf {
    let mut cur = dir;
    loop {
        if cur.exists() {
            return cur.to_path_buf();
        }
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => return PathBuf::from("."),
        }
    }
}

/// Proves `dir` is writable by creating and removing a temporary file.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let name = format!(
        ".llmo-doctor-{}-{}.tmp",
        std::process::id(),
        crate::time::now_ms()
    );
    let path = dir.join(name);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    drop(o.open(&path)?);
    std::fs::remove_file(&path)
}

#[cfg(unix)]
mod sys {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn cstr(path: &Path) -> std::io::Result<CString> {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }

    /// `access(2)` with read and write: may this user read and write it?
    pub fn read_write(path: &Path) -> bool {
        let Ok(c) = cstr(path) else { return false };
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) == 0 }
    }

    /// Whether the filesystem holding `path` is mounted read-only.
    pub fn read_only_mount(path: &Path) -> bool {
        crate::db::info::read_only_mount(path)
    }

    pub fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// Bytes available to unprivileged users on the filesystem of `path`.
    pub fn free_space(path: &Path) -> std::io::Result<u64> {
        let c = cstr(path)?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
        // SAFETY: `c` is a valid C string and `st` points to writable memory
        // of the right type; statvfs fills it on success.
        let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: statvfs returned 0, so it initialised the struct.
        let st = unsafe { st.assume_init() };
        #[allow(
            clippy::unnecessary_cast,
            reason = "the field types differ by platform"
        )]
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
}

/// Why something at `at` cannot be written, as doctor can tell: a note for
/// the message (a read-only mount) and the fix. A read-only mount needs a
/// writable volume, and a process that already is root gains nothing from
/// `chown`; only for another user is ownership the fix (`owner_fix`).
fn unwritable(
    at: &Path,
    read_only_mount: bool,
    euid: u32,
    owner_fix: impl FnOnce() -> String,
) -> (Option<String>, String) {
    if read_only_mount {
        return (
            Some(format!("the filesystem at {} is mounted read-only", at.display())),
            format!(
                "mount a writable volume at {} (in Kubernetes: a volume without `readOnly: true`), or point `--db`/`LLMO_DB` at a writable one",
                at.display()
            ),
        );
    }
    if euid == 0 {
        return (
            None,
            "this process already runs as root (uid 0), so ownership is not the cause: look for the immutable attribute (`lsattr`), a read-only bind mount or SELinux/AppArmor, or point `--db`/`LLMO_DB` elsewhere".into(),
        );
    }
    (None, owner_fix())
}

/// [`unwritable`] for this process and the real mount state of `at`
/// (`err` is the write's own error, EROFS saying it directly).
fn unwritable_here(
    at: &Path,
    err: Option<&std::io::Error>,
    owner_fix: impl FnOnce() -> String,
) -> (Option<String>, String) {
    #[cfg(unix)]
    let (ro, euid) = (
        err.and_then(std::io::Error::raw_os_error) == Some(libc::EROFS) || sys::read_only_mount(at),
        sys::euid(),
    );
    #[cfg(not(unix))]
    let (ro, euid) = {
        let _ = err;
        (false, u32::MAX)
    };
    unwritable(at, ro, euid, owner_fix)
}

fn writable_fix(dir: &Path) -> String {
    #[cfg(unix)]
    let who = format!("`chown {} {}`", sys::euid(), dir.display());
    #[cfg(not(unix))]
    let who = "give this user write access".to_string();
    format!(
        "make it writable by the user llmo runs as ({who}; in Kubernetes set `securityContext.fsGroup`), or point `--db`/`LLMO_DB` at a writable directory"
    )
}

fn this_user() -> String {
    #[cfg(unix)]
    return format!("this user (uid {})", sys::euid());
    #[cfg(not(unix))]
    return "this user".to_string();
}

/// Inspects the database file without changing it: its directory, mode,
/// header, integrity, journal mode and size, and the free disk space.
/// Returns the inspection connection for the migration and provider checks.
pub(crate) fn database(db: Option<&Sourced<DbLocation>>) -> DatabaseOutcome {
    let g = Group::Database;
    let Some(db) = db else {
        return DatabaseOutcome {
            checks: vec![Check::fail(
                g,
                "path",
                "cannot tell where the database is (no home directory for the default path)",
                "pass `--db PATH` or set `LLMO_DB`",
            )],
            store: None,
            state: DbState::Unknown,
        };
    };
    let path = match &db.value {
        DbLocation::Sqlite(p) => p.as_path(),
        DbLocation::Postgres(_) => return server_database(db),
    };
    let mut path_msg = format!("{} ({})", path.display(), source_desc(&DB, db.source, None));
    if path.is_relative() {
        if let Ok(cwd) = std::env::current_dir() {
            path_msg.push_str(&format!(
                "; relative, so it depends on the working directory (now {})",
                cwd.display()
            ));
        }
    }
    let dir = db_dir(path);
    let mut checks = vec![Check::ok(g, "path", path_msg), directory(&dir)];
    let state = inspect_file(path, &mut checks);
    let (store, state) = match state {
        Some(store) => (Some(store), DbState::Open),
        None if !path.exists() => (None, DbState::Missing),
        None => (None, DbState::Unusable),
    };
    checks.push(disk_space(&dir, path));
    DatabaseOutcome {
        checks,
        store,
        state,
    }
}

/// A database on a server: opened for inspection like a file.
fn server_database(db: &Sourced<DbLocation>) -> DatabaseOutcome {
    let g = Group::Database;
    let at = format!(
        "{} {} ({})",
        db.value.engine(),
        db.value,
        source_desc(&DB, db.source, None)
    );
    let mut checks = vec![Check::ok(g, "path", at)];
    let (store, state) = match Store::open_for_inspection(&db.value) {
        Ok(s) => {
            checks.extend(super::postgres::postgres(&s));
            (Some(s), DbState::Open)
        }
        Err(e) => {
            checks.push(Check::fail(
                g,
                "open",
                e.to_string(),
                e.hint().unwrap_or_else(|| "check `--db`/`LLMO_DB`".into()),
            ));
            (None, DbState::Unusable)
        }
    };
    DatabaseOutcome {
        checks,
        store,
        state,
    }
}

/// The database's directory: SQLite writes `-wal` and `-shm` files beside
/// the database, so it must be writable (or creatable).
fn directory(dir: &Path) -> Check {
    let g = Group::Database;
    if dir.is_dir() {
        return match probe_writable(dir) {
            Ok(()) => Check::ok(
                g,
                "directory",
                format!(
                    "{} exists and is writable by {}",
                    dir.display(),
                    this_user()
                ),
            ),
            Err(e) => {
                let (note, fix) = unwritable_here(dir, Some(&e), || writable_fix(dir));
                Check::fail(
                    g,
                    "directory",
                    format!(
                        "{}{} is not writable by {} ({e}); SQLite must create `-wal` and `-shm` files beside the database",
                        note.map(|n| format!("{n}: ")).unwrap_or_default(),
                        dir.display(),
                        this_user()
                    ),
                    fix,
                )
            }
        };
    }
    if dir.exists() {
        return Check::fail(
            g,
            "directory",
            format!("{} is not a directory", dir.display()),
            "point `--db`/`LLMO_DB` at a file inside a directory",
        );
    }
    let anc = nearest_existing(dir);
    #[cfg(unix)]
    let can_create = sys::read_write(&anc);
    #[cfg(not(unix))]
    let can_create = true;
    if can_create {
        Check::ok(
            g,
            "directory",
            format!(
                "{} does not exist yet; the first command creates it (mode 0700) in {}, which is writable",
                dir.display(),
                anc.display()
            ),
        )
    } else {
        Check::fail(
            g,
            "directory",
            format!(
                "{} does not exist, and {} is not writable by {}, so llmo cannot create it",
                dir.display(),
                anc.display(),
                this_user()
            ),
            format!(
                "create it for the user llmo runs as (`mkdir -p {0}` then `chown` it), or point `--db`/`LLMO_DB` elsewhere",
                dir.display()
            ),
        )
    }
}

/// The checks on the file itself; `Some(store)` when it could be opened.
/// Each step pushes its check and stops the inspection when the file is not
/// usable.
fn inspect_file(path: &Path, checks: &mut Vec<Check>) -> Option<Store> {
    let meta = match file_metadata(path) {
        Ok(m) => m,
        Err(c) => {
            checks.push(c);
            return None;
        }
    };
    #[cfg(unix)]
    checks.push(permissions(path, &meta));
    #[cfg(not(unix))]
    let _ = meta;
    let backups = format!(
        "{}.backup-*",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "llmo.db".into())
    );
    let header = header(path, &backups, checks)?;
    let store = open(path, checks)?;
    checks.push(integrity(&store, path, &backups));
    checks.extend(journal_mode(header));
    checks.push(size(&store));
    Some(store)
}

/// The file's metadata; the `Err` check says why there is no usable file.
fn file_metadata(path: &Path) -> Result<std::fs::Metadata, Check> {
    let g = Group::Database;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Check::warn(
                g,
                "file",
                format!(
                    "{} does not exist yet; the first command that needs it (`llmo serve`, `llmo provider add`, `llmo migrate up`) creates it (mode 0600) and applies the migrations",
                    path.display()
                ),
                "nothing to do; or create it now with `llmo migrate up`",
            ));
        }
        Err(e) => {
            return Err(Check::fail(
                g,
                "file",
                format!("cannot look at {}: {e}", path.display()),
                "check the permissions of the path's directories",
            ));
        }
    };
    if meta.is_dir() {
        return Err(Check::fail(
            g,
            "file",
            format!("{} is a directory, not a database file", path.display()),
            format!(
                "point `--db`/`LLMO_DB` at a file path, e.g. `{}`",
                path.join("llmo.db").display()
            ),
        ));
    }
    Ok(meta)
}

/// The file's header (SQLite or not, empty, page size); `None` when the
/// file is no database llmo can open.
fn header(path: &Path, backups: &str, checks: &mut Vec<Check>) -> Option<Header> {
    let g = Group::Database;
    let header = match info::read_header(path) {
        Ok(h) => h,
        Err(e) => {
            checks.push(Check::fail(
                g,
                "file",
                format!("cannot read {}: {e}", path.display()),
                "run doctor as the user that runs llmo, or fix the file's owner and mode",
            ));
            return None;
        }
    };
    checks.push(match header {
        Header::NotSqlite => Check::fail(
            g,
            "file",
            format!(
                "{} is not an SQLite database (it does not start with `SQLite format 3`)",
                path.display()
            ),
            format!(
                "check that `--db`/`LLMO_DB` names llmo's database; if it does, the file is damaged: move it aside, then restore the newest `{backups}` in its place or let the next command create a fresh database"
            ),
        ),
        Header::Empty => Check::warn(
            g,
            "file",
            format!("{} is empty (0 bytes): no schema yet", path.display()),
            "`llmo migrate up` initialises it (so does the first command that needs it)",
        ),
        Header::Sqlite { page_size, .. } => Check::ok(
            g,
            "file",
            format!("SQLite 3 database, page size {page_size}"),
        ),
    });
    (header != Header::NotSqlite).then_some(header)
}

/// Opens the file read-only for the checks that need SQL.
fn open(path: &Path, checks: &mut Vec<Check>) -> Option<Store> {
    let g = Group::Database;
    match Store::open_for_inspection(path) {
        Ok(s) => {
            checks.push(Check::ok(
                g,
                "open",
                "opened read-only for inspection (doctor changes nothing)",
            ));
            Some(s)
        }
        Err(e) => {
            checks.push(Check::fail(
                g,
                "open",
                e.to_string(),
                e.hint()
                    .unwrap_or_else(|| "check the file and its permissions".into()),
            ));
            None
        }
    }
}

fn integrity(store: &Store, path: &Path, backups: &str) -> Check {
    let g = Group::Database;
    match store.integrity_check() {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Check::ok(g, "integrity_check", "ok"),
        Ok(rows) => Check::fail(
            g,
            "integrity_check",
            format!(
                "{} problem(s), first: {}",
                rows.len(),
                rows.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ),
            format!(
                "stop llmo, copy the file aside, then restore the newest `{backups}`, or salvage it: `sqlite3 {0} .recover | sqlite3 {0}.recovered`",
                path.display()
            ),
        ),
        Err(e) => Check::fail(
            g,
            "integrity_check",
            format!("could not run: {e}"),
            e.hint()
                .unwrap_or_else(|| "see `open` above; the file may be damaged".into()),
        ),
    }
}

/// From the header: an inspection connection may report `delete` for a
/// WAL database (it opens it immutable), the header never lies.
fn journal_mode(header: Header) -> Option<Check> {
    let g = Group::Database;
    match header {
        Header::Sqlite { wal: true, .. } => Some(Check::ok(g, "journal_mode", "wal")),
        Header::Sqlite { wal: false, .. } => Some(Check::warn(
            g,
            "journal_mode",
            "rollback journal, not WAL: readers and the request-log writer block each other",
            "any llmo command that opens it for writing switches it to WAL, e.g. `llmo migrate up`",
        )),
        _ => None,
    }
}

fn size(store: &Store) -> Check {
    let g = Group::Database;
    match (store.file_sizes(), store.page_stats()) {
        (Ok(s), Ok(p)) => Check::ok(
            g,
            "size",
            format!(
                "database {}, WAL {}; {} pages, {} free",
                human_bytes(s.db),
                s.wal.map_or_else(|| "none".to_string(), human_bytes),
                p.page_count,
                p.freelist_count
            ),
        ),
        (Err(e), _) | (_, Err(e)) => Check::warn(
            g,
            "size",
            format!("cannot read the sizes: {e}"),
            "check the file's permissions",
        ),
    }
}

/// The paths of `(path, mode, owner)` triples, for a shell command line.
#[cfg(unix)]
fn joined<'a>(files: impl Iterator<Item = &'a (PathBuf, u32, u32)>) -> String {
    files
        .map(|(f, _, _)| f.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(unix)]
fn permissions(path: &Path, meta: &std::fs::Metadata) -> Check {
    use std::os::unix::fs::MetadataExt;
    let g = Group::Database;
    let me = sys::euid();
    let mode = meta.mode() & 0o777;
    let mut files = vec![(path.to_path_buf(), mode, meta.uid())];
    for suffix in ["-wal", "-shm"] {
        let c = info::companion(path, suffix);
        if let Ok(m) = std::fs::metadata(&c) {
            files.push((c, m.mode() & 0o777, m.uid()));
        }
    }
    if let Some((f, mode, owner)) = files.iter().find(|(f, _, _)| !sys::read_write(f)) {
        let (note, fix) = unwritable_here(f, None, || {
            format!(
                "`chown {me} {}` (files created by `sudo llmo ...` are owned by root), or run llmo as uid {owner}",
                joined(files.iter())
            )
        });
        return Check::fail(
            g,
            "permissions",
            format!(
                "{}{} is not readable and writable by this user (uid {me}; the file's owner is uid {owner}, mode {mode:04o}); llmo would fail with \"attempt to write a readonly database\"",
                note.map(|n| format!("{n}: ")).unwrap_or_default(),
                f.display()
            ),
            fix,
        );
    }
    let loose: Vec<&(PathBuf, u32, u32)> =
        files.iter().filter(|(_, m, _)| m & 0o077 != 0).collect();
    if let Some((_, mode, _)) = loose.first() {
        return Check::warn(
            g,
            "permissions",
            format!(
                "mode {mode:04o}: {} is readable by group or others, and it holds provider API keys",
                path.display()
            ),
            format!("chmod 600 {}", joined(loose.iter().copied())),
        );
    }
    let owner = meta.uid();
    Check::ok(
        g,
        "permissions",
        format!(
            "mode {mode:04o}, owner uid {owner}{}",
            if owner == me { " (this user)" } else { "" }
        ),
    )
}

fn disk_space(dir: &Path, path: &Path) -> Check {
    let at = nearest_existing(dir);
    #[cfg(unix)]
    let free = sys::free_space(&at);
    #[cfg(not(unix))]
    let free: std::io::Result<u64> = Err(std::io::Error::other("not supported on this platform"));
    disk_space_check(&at, path, free)
}

/// The disk-space verdict for `free` bytes on the filesystem of `at`.
fn disk_space_check(at: &Path, path: &Path, free: std::io::Result<u64>) -> Check {
    let g = Group::Database;
    match free {
        Ok(n) if n < LOW_DISK_BYTES => Check::warn(
            g,
            "disk_space",
            format!(
                "only {} free on the filesystem of {} (under {}); writes fail when it fills",
                human_bytes(n),
                at.display(),
                human_bytes(LOW_DISK_BYTES)
            ),
            format!(
                "free some space, or move the database to a larger filesystem (`--db`/`LLMO_DB`); request logs and the backup taken before migrations (about the size of {}) need room",
                path.display()
            ),
        ),
        Ok(n) => Check::ok(
            g,
            "disk_space",
            format!("{} free on the filesystem of {}", human_bytes(n), at.display()),
        ),
        Err(e) => Check::warn(
            g,
            "disk_space",
            format!("cannot tell the free space of {}: {e}", at.display()),
            format!("check with `df -h {}`", at.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_only_mounts_and_root_are_not_told_to_chown() {
        let at = Path::new("/var/lib/llmo");
        let chown = || "`chown 1000 /var/lib/llmo`".to_string();
        // A read-only mount: say so, whoever runs doctor.
        for euid in [0, 1000] {
            let (note, fix) = unwritable(at, true, euid, chown);
            assert_eq!(
                note.as_deref(),
                Some("the filesystem at /var/lib/llmo is mounted read-only")
            );
            assert!(
                fix.starts_with("mount a writable volume at /var/lib/llmo"),
                "{fix}"
            );
            assert!(!fix.contains("chown"), "{fix}");
        }
        // Root on a writable mount: ownership is not the cause.
        let (note, fix) = unwritable(at, false, 0, chown);
        assert_eq!(note, None);
        assert!(
            fix.contains("already runs as root") && !fix.contains("chown"),
            "{fix}"
        );
        // Another user: chown is the fix.
        assert_eq!(unwritable(at, false, 1000, chown), (None, chown()));
    }

    use super::*;
    use crate::config::Source;
    use crate::doctor::checks::testing::find;
    use crate::doctor::Status;

    #[cfg(unix)]
    #[test]
    fn loose_file_mode_warns_with_chmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmo.db");
        drop(Store::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = database(Some(&Sourced {
            value: path.clone().into(),
            source: Source::Flag,
        }));
        let c = find(&out.checks, "permissions");
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref().unwrap(),
            format!("chmod 600 {}", path.display())
        );
        assert_eq!(out.state, DbState::Open);
        assert_eq!(find(&out.checks, "integrity_check").status, Status::Ok);
        assert_eq!(find(&out.checks, "journal_mode").message, "wal");
    }

    #[test]
    fn low_disk_space_warns() {
        let at = Path::new("/var/lib/llmo");
        let db = at.join("llmo.db");
        let c = disk_space_check(at, &db, Ok(LOW_DISK_BYTES / 2));
        assert_eq!(c.status, Status::Warn);
        assert!(c.message.contains("only 50.0 MiB free"), "{}", c.message);
        assert!(c.fix.unwrap().contains("LLMO_DB"));
        let c = disk_space_check(at, &db, Ok(LOW_DISK_BYTES));
        assert_eq!(c.status, Status::Ok);
        assert!(c.message.starts_with("100.0 MiB free"));
        let c = disk_space_check(at, &db, Err(std::io::Error::other("boom")));
        assert_eq!(c.status, Status::Warn);
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100 * 1024 * 1024), "100.0 MiB");
    }
}

//! The individual checks. Each takes what it needs (settings, a store, an
//! environment map) and returns [`Check`]s, so tests call them directly.
//! Nothing here prints, and nothing writes except the temporary file that
//! proves the database directory is writable.
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::probe::{self, ProbeOutcome, ProbeResult};
use super::{Check, Group};
use crate::catalog::{self, Provider, ProviderKind};
use crate::config::{self, ConfigError, Overrides, Settings, Source, Sourced, KNOWN_ENV};
use crate::db::info::{self, Header};
use crate::db::{MigrationState, Store};
use crate::secret::mask;

/// Below this much free space on the database's filesystem, warn.
pub const LOW_DISK_BYTES: u64 = 100 * 1024 * 1024;

/// An empty config file to resolve against when the real one is broken, so
/// doctor can carry on with env and defaults.
const EMPTY_FILE: &str = "/dev/null";

// ----- configuration -----

/// The address `llmo serve` would bind, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: String,
    pub source: Source,
}

/// The configuration checks and what the other checks need from them.
#[derive(Debug)]
pub struct ConfigOutcome {
    pub checks: Vec<Check>,
    /// The database path doctor inspects (`None`: cannot be determined).
    pub db: Option<Sourced<PathBuf>>,
    /// The listen address to check (`None` when its own setting is broken).
    pub listen: Option<Listen>,
}

/// The environment variable behind a setting (`max_body` -> `LLMO_MAX_BODY`).
pub fn env_var_for(setting: &str) -> String {
    format!("LLMO_{}", setting.to_ascii_uppercase())
}

fn is_file_error(e: &ConfigError) -> bool {
    matches!(
        e,
        ConfigError::FileMissing(_)
            | ConfigError::FileUnreadable { .. }
            | ConfigError::Parse { .. }
            | ConfigError::BadFileValue { .. }
    )
}

fn file_error_path(e: &ConfigError) -> Option<&Path> {
    match e {
        ConfigError::FileMissing(p) => Some(p),
        ConfigError::FileUnreadable { path, .. }
        | ConfigError::Parse { path, .. }
        | ConfigError::BadFileValue { path, .. } => Some(path),
        _ => None,
    }
}

/// The `db` key of a config file that did not pass strict parsing (an
/// unknown key, a bad value elsewhere), if the TOML itself is readable.
fn lenient_file_db(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table
        .get("db")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

fn source_desc(name: &str, source: Source, file: Option<&Path>) -> String {
    match source {
        Source::Flag => format!("flag --{}", name.replace('_', "-")),
        Source::Env => format!("env {}", env_var_for(name)),
        Source::File => match file {
            Some(p) => format!("file {}", p.display()),
            None => "config file".into(),
        },
        Source::Default => "default".into(),
    }
}

/// Shows a setting's value, masked when the name says it is a secret (no
/// current setting is, but an admin token or similar may come).
fn shown(name: &str, value: &str) -> String {
    // `Settings::effective` masks the admin key itself (and says "none").
    if name == "admin_key" {
        return value.to_string();
    }
    let n = name.to_ascii_lowercase();
    if ["key", "secret", "token", "password"]
        .iter()
        .any(|s| n.contains(s))
    {
        mask(value)
    } else {
        value.to_string()
    }
}

/// Resolves the settings the way every command does, reporting the config
/// file, the `LLMO_*` variables read, and each effective setting with its
/// source. A malformed variable or config file becomes a `fail` line and
/// doctor carries on without it, so the other checks still run.
pub fn config(overrides: &Overrides, env: &BTreeMap<String, String>) -> ConfigOutcome {
    let mut checks = Vec::new();
    let mut env_left = env.clone();
    let mut ov = overrides.clone();
    let mut bad_env: BTreeMap<String, ConfigError> = BTreeMap::new();
    let mut file_error: Option<ConfigError> = None;
    let mut db_from_file: Option<PathBuf> = None;
    let mut other_error: Option<ConfigError> = None;
    // Each round removes one broken variable or the broken file, so this
    // ends after at most |KNOWN_ENV| + 1 rounds.
    let settings = loop {
        match Settings::resolve_with(&ov, &env_left) {
            Ok(s) => break Some(s),
            Err(ConfigError::BadEnv {
                var,
                value,
                message,
            }) if env_left.remove(&var).is_some() => {
                bad_env.insert(
                    var.clone(),
                    ConfigError::BadEnv {
                        var,
                        value,
                        message,
                    },
                );
            }
            Err(e) if file_error.is_none() && is_file_error(&e) => {
                if ov.db.is_none() && !env_left.contains_key("LLMO_DB") {
                    db_from_file = file_error_path(&e).and_then(lenient_file_db);
                    ov.db.clone_from(&db_from_file);
                }
                file_error = Some(e);
                if !Path::new(EMPTY_FILE).exists() {
                    break None;
                }
                ov.config = Some(PathBuf::from(EMPTY_FILE));
                // `LLMO_CONFIG` may be what pointed at the broken file.
                env_left.remove("LLMO_CONFIG");
            }
            Err(e) => {
                other_error = Some(e);
                break None;
            }
        }
    };

    // The config file.
    match (&file_error, &settings) {
        (Some(e), _) => checks.push(Check::fail(
            Group::Config,
            "file",
            format!("{e}; the checks below carry on as if there were no config file"),
            e.hint().unwrap_or_else(|| "fix the config file".into()),
        )),
        (None, Some(s)) => checks.push(match &s.config_file {
            Some(cf) if cf.loaded => Check::ok(
                Group::Config,
                "file",
                format!(
                    "{} ({})",
                    cf.path.display(),
                    match cf.source {
                        Source::Flag => "from --config",
                        Source::Env => "from env LLMO_CONFIG",
                        _ => "default location",
                    }
                ),
            ),
            Some(cf) => Check::ok(
                Group::Config,
                "file",
                format!(
                    "none: {} does not exist (optional; env and defaults apply)",
                    cf.path.display()
                ),
            ),
            None => Check::ok(
                Group::Config,
                "file",
                "none (no default location on this system)",
            ),
        }),
        (None, None) => {}
    }

    // Which known variables are set.
    let read: Vec<&str> = KNOWN_ENV
        .iter()
        .copied()
        .filter(|v| env.contains_key(*v))
        .collect();
    checks.push(Check::ok(
        Group::Config,
        "env",
        if read.is_empty() {
            "no LLMO_* variables set".to_string()
        } else {
            format!("read {}", read.join(", "))
        },
    ));

    if let Some(e) = &other_error {
        checks.push(Check::fail(
            Group::Config,
            "settings",
            e.to_string(),
            e.hint().unwrap_or_else(|| "see `llmo --help`".into()),
        ));
    }

    // Each effective setting, or the error that replaced it.
    let file_path = settings
        .as_ref()
        .and_then(|s| s.config_file.as_ref())
        .filter(|c| c.loaded && file_error.is_none())
        .map(|c| c.path.clone());
    let mut reported_bad = BTreeSet::new();
    if let Some(s) = &settings {
        for (name, value, source) in s.effective() {
            let source = if name == "db" && db_from_file.is_some() && overrides.db.is_none() {
                Source::File
            } else {
                source
            };
            let var = env_var_for(name);
            let desc = source_desc(
                name,
                source,
                if db_from_file.is_some() && name == "db" {
                    file_error.as_ref().and_then(file_error_path)
                } else {
                    file_path.as_deref()
                },
            );
            let value = shown(name, &value);
            checks.push(match bad_env.get(&var) {
                Some(e) => {
                    reported_bad.insert(var.clone());
                    Check::fail(
                        Group::Config,
                        name,
                        format!("{e}; doctor carries on with {value} ({desc})"),
                        format!(
                            "fix or unset `{var}`: every llmo command refuses to start until then"
                        ),
                    )
                }
                None if name == "admin_key" && s.admin_key.value.is_none() => Check::warn(
                    Group::Config,
                    name,
                    "none: the admin API (/admin) and web UI (/admin-ui/) answer 503",
                    "to use them: `llmo admin-key generate --out /etc/llmo/admin.key`, then \
                     `--admin-key-file /etc/llmo/admin.key` (or `LLMO_ADMIN_KEY`, or \
                     `admin_key_file` in the config file)",
                ),
                None => Check::ok(Group::Config, name, format!("{value} ({desc})")),
            });
        }
    }
    for (var, e) in &bad_env {
        if !reported_bad.contains(var) {
            checks.push(Check::fail(
                Group::Config,
                var.trim_start_matches("LLMO_").to_ascii_lowercase(),
                e.to_string(),
                format!("fix or unset `{var}`: every llmo command refuses to start until then"),
            ));
        }
    }

    // What the other checks use.
    let db = match &settings {
        Some(s) => Some(Sourced {
            value: s.db.value.clone(),
            source: if db_from_file.is_some() && overrides.db.is_none() {
                Source::File
            } else {
                s.db.source
            },
        }),
        None => fallback_db(overrides, &env_left),
    };
    let listen = if bad_env.contains_key("LLMO_LISTEN") {
        None
    } else if let Some(s) = &settings {
        Some(Listen {
            addr: s.listen.value.clone(),
            source: s.listen.source,
        })
    } else {
        Some(match env_left.get("LLMO_LISTEN") {
            Some(a) if a.parse::<SocketAddr>().is_ok() => Listen {
                addr: a.clone(),
                source: Source::Env,
            },
            _ => Listen {
                addr: config::DEFAULT_LISTEN.to_string(),
                source: Source::Default,
            },
        })
    };
    ConfigOutcome { checks, db, listen }
}

/// The database path when settings cannot be resolved at all: flag, env, or
/// the platform default.
fn fallback_db(overrides: &Overrides, env: &BTreeMap<String, String>) -> Option<Sourced<PathBuf>> {
    if let Some(p) = &overrides.db {
        return Some(Sourced {
            value: p.clone(),
            source: Source::Flag,
        });
    }
    if let Some(p) = env.get("LLMO_DB").filter(|p| !p.is_empty()) {
        return Some(Sourced {
            value: PathBuf::from(p),
            source: Source::Env,
        });
    }
    config::default_db_path().ok().map(|p| Sourced {
        value: p,
        source: Source::Default,
    })
}

/// Levenshtein distance, for "did you mean" (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known variable an unknown one is probably a typo of: the same name
/// without underscores, or a few edits away (fewer for short names).
pub fn did_you_mean(var: &str) -> Option<&'static str> {
    let squash = |s: &str| s.replace('_', "");
    let tail = |s: &str| s.trim_start_matches("LLMO_").to_string();
    let t = tail(var);
    let allowed = (t.chars().count() / 3).max(1);
    KNOWN_ENV
        .iter()
        .copied()
        .map(|k| {
            // `LLMO_MAXBODY` and `LLMO_MAX_BODY` are the same to a person.
            let d = if squash(k) == squash(var) {
                0
            } else {
                edit_distance(&tail(k), &t)
            };
            (d, k)
        })
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A `warn` per `LLMO_*` variable llmo does not read (a typo means a setting
/// silently keeps its default). `referenced` are the variables providers'
/// `api_key_env` name, which are read too. Values are never shown.
pub fn unknown_env(unknown: &[String], referenced: &BTreeSet<String>) -> Vec<Check> {
    let mut vars: Vec<&String> = unknown
        .iter()
        .filter(|v| !referenced.contains(*v))
        .collect();
    vars.sort();
    vars.dedup();
    vars.into_iter()
        .map(|var| {
            let fix = match did_you_mean(var) {
                Some(k) => format!("did you mean `{k}`? If not, unset `{var}`"),
                None => format!("unset it; llmo reads {}", KNOWN_ENV.join(", ")),
            };
            Check::warn(
                Group::Config,
                var.clone(),
                format!("`{var}` is set, but llmo does not read it"),
                fix,
            )
        })
        .collect()
}

// ----- database -----

/// What the database checks found, for the checks that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
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
pub struct DatabaseOutcome {
    pub checks: Vec<Check>,
    pub store: Option<Store>,
    pub state: DbState,
}

/// Human-readable bytes: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn human_bytes(n: u64) -> String {
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
/// header, integrity, journal mode, size and the free disk space. Returns
/// the inspection connection for the migration and provider checks.
pub fn database(db: Option<&Sourced<PathBuf>>) -> DatabaseOutcome {
    let g = Group::Database;
    let mut checks = Vec::new();
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
    let path = db.value.as_path();
    let mut path_msg = format!(
        "{} ({})",
        path.display(),
        source_desc("db", db.source, None)
    );
    if path.is_relative() {
        if let Ok(cwd) = std::env::current_dir() {
            path_msg.push_str(&format!(
                "; relative, so it depends on the working directory (now {})",
                cwd.display()
            ));
        }
    }
    checks.push(Check::ok(g, "path", path_msg));

    // The directory: SQLite writes `-wal` and `-shm` files beside the database.
    let dir = db_dir(path);
    if dir.is_dir() {
        checks.push(match probe_writable(&dir) {
            Ok(()) => Check::ok(
                g,
                "directory",
                format!("{} exists and is writable by {}", dir.display(), this_user()),
            ),
            Err(e) => Check::fail(
                g,
                "directory",
                format!(
                    "{} is not writable by {} ({e}); SQLite must create `-wal` and `-shm` files beside the database",
                    dir.display(),
                    this_user()
                ),
                writable_fix(&dir),
            ),
        });
    } else if dir.exists() {
        checks.push(Check::fail(
            g,
            "directory",
            format!("{} is not a directory", dir.display()),
            "point `--db`/`LLMO_DB` at a file inside a directory",
        ));
    } else {
        let anc = nearest_existing(&dir);
        #[cfg(unix)]
        let can_create = sys::read_write(&anc);
        #[cfg(not(unix))]
        let can_create = true;
        checks.push(if can_create {
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
        });
    }

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

/// The checks on the file itself; `Some(store)` when it could be opened.
fn inspect_file(path: &Path, checks: &mut Vec<Check>) -> Option<Store> {
    let g = Group::Database;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            checks.push(Check::warn(
                g,
                "file",
                format!(
                    "{} does not exist yet; the first command that needs it (`llmo serve`, `llmo provider add`, `llmo migrate up`) creates it (mode 0600) and applies the migrations",
                    path.display()
                ),
                "nothing to do; or create it now with `llmo migrate up`",
            ));
            return None;
        }
        Err(e) => {
            checks.push(Check::fail(
                g,
                "file",
                format!("cannot look at {}: {e}", path.display()),
                "check the permissions of the path's directories",
            ));
            return None;
        }
    };
    if meta.is_dir() {
        checks.push(Check::fail(
            g,
            "file",
            format!("{} is a directory, not a database file", path.display()),
            format!(
                "point `--db`/`LLMO_DB` at a file path, e.g. `{}`",
                path.join("llmo.db").display()
            ),
        ));
        return None;
    }
    #[cfg(unix)]
    checks.push(permissions(path, &meta));

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
    let backups = format!(
        "{}.backup-*",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "llmo.db".into())
    );
    match header {
        Header::NotSqlite => {
            checks.push(Check::fail(
                g,
                "file",
                format!(
                    "{} is not an SQLite database (it does not start with `SQLite format 3`)",
                    path.display()
                ),
                format!(
                    "check that `--db`/`LLMO_DB` names llmo's database; if it does, the file is damaged: move it aside, then restore the newest `{backups}` in its place or let the next command create a fresh database"
                ),
            ));
            return None;
        }
        Header::Empty => checks.push(Check::warn(
            g,
            "file",
            format!("{} is empty (0 bytes): no schema yet", path.display()),
            "`llmo migrate up` initialises it (so does the first command that needs it)",
        )),
        Header::Sqlite { page_size, .. } => checks.push(Check::ok(
            g,
            "file",
            format!("SQLite 3 database, page size {page_size}"),
        )),
    }

    let store = match Store::open_for_inspection(path) {
        Ok(s) => {
            checks.push(Check::ok(
                g,
                "open",
                "opened read-only for inspection (doctor changes nothing)",
            ));
            s
        }
        Err(e) => {
            checks.push(Check::fail(
                g,
                "open",
                e.to_string(),
                e.hint()
                    .unwrap_or_else(|| "check the file and its permissions".into()),
            ));
            return None;
        }
    };

    checks.push(match store.integrity_check() {
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
    });

    // From the header: an inspection connection may report `delete` for a
    // WAL database (it opens it immutable), the header never lies.
    match header {
        Header::Sqlite { wal: true, .. } => checks.push(Check::ok(g, "journal_mode", "wal")),
        Header::Sqlite { wal: false, .. } => checks.push(Check::warn(
            g,
            "journal_mode",
            "rollback journal, not WAL: readers and the request-log writer block each other",
            "any llmo command that opens it for writing switches it to WAL, e.g. `llmo migrate up`",
        )),
        _ => {}
    }

    let sizes = store.file_sizes();
    let pages = store.page_stats();
    checks.push(match (sizes, pages) {
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
    });
    Some(store)
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
        return Check::fail(
            g,
            "permissions",
            format!(
                "{} is not readable and writable by this user (uid {me}; the file's owner is uid {owner}, mode {mode:04o}); llmo would fail with \"attempt to write a readonly database\"",
                f.display()
            ),
            format!(
                "`chown {me} {}` (files created by `sudo llmo ...` are owned by root), or run llmo as uid {owner}",
                files
                    .iter()
                    .map(|(f, _, _)| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
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
            format!(
                "chmod 600 {}",
                loose
                    .iter()
                    .map(|(f, _, _)| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
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
pub fn disk_space_check(at: &Path, path: &Path, free: std::io::Result<u64>) -> Check {
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

// ----- migrations -----

/// The states `llmo migrate status` shows, as checks: problems (a database
/// ahead of this binary, unknown or modified migrations) fail; pending ones
/// warn with the command that applies them.
pub fn migrations(store: Option<&Store>, state: DbState) -> Vec<Check> {
    let g = Group::Migrations;
    let known = crate::db::migrate::known();
    let newest = known.last().map_or(0, |m| m.0);
    let store = match (store, state) {
        (Some(s), DbState::Open) => s,
        (_, DbState::Missing) => {
            return vec![Check::ok(
                g,
                "schema",
                format!(
                    "no database yet; the first command applies this llmo's {} migration(s), up to V{newest}",
                    known.len()
                ),
            )]
        }
        _ => return Vec::new(),
    };
    let status = match store.migration_status() {
        Ok(s) => s,
        Err(e) => {
            return vec![Check::fail(
                g,
                "schema",
                format!("cannot read the migration history: {e}"),
                "see the database checks above; `llmo migrate status` reads the same history",
            )]
        }
    };
    // One line per problem, named after its migration when the sentence
    // names one (they all do: "... V{n} `name` ...").
    let mut out = Vec::new();
    for problem in &status.problems {
        let row = status.migrations.iter().find(|m| {
            matches!(
                m.state,
                MigrationState::MissingFromBinary | MigrationState::ModifiedSinceApplied
            ) && problem.contains(&format!("V{} `", m.version))
        });
        let ahead = row.is_some_and(|m| {
            m.state == MigrationState::MissingFromBinary && m.version > status.binary_version
        });
        out.push(Check::fail(
            g,
            row.map_or_else(|| "history".to_string(), |m| format!("V{}", m.version)),
            problem.clone(),
            if ahead {
                "install the llmo release that wrote this database (or newer); llmo refuses to open it until then (`llmo migrate status` lists every migration)"
            } else {
                "llmo refuses to open this database until its history matches the binary (`llmo migrate status` lists every migration)"
            },
        ));
    }
    if !out.is_empty() {
        return out;
    }
    let pending: Vec<String> = status
        .pending()
        .map(|m| format!("V{} `{}`", m.version, m.name))
        .collect();
    if pending.is_empty() {
        out.push(Check::ok(
            g,
            "schema",
            format!(
                "at version {}, the newest this llmo knows",
                status.db_version
            ),
        ));
    } else {
        out.push(Check::warn(
            g,
            "pending",
            format!(
                "{} migration(s) not applied yet: {}; the database is at version {}, this llmo at {}",
                pending.len(),
                pending.join(", "),
                status.db_version,
                status.binary_version
            ),
            "run `llmo migrate up` (it backs the database up first)",
        ));
    }
    out
}

// ----- providers and models -----

#[derive(Debug, Default)]
pub struct ProvidersOutcome {
    pub checks: Vec<Check>,
    /// Every provider read (for the env-var cross-check).
    pub all: Vec<Provider>,
    /// Enabled providers with a valid base URL: what `--probe` calls.
    pub to_probe: Vec<Provider>,
}

/// A URL for display: any password in it replaced by `****`.
pub fn redact_url(u: &str) -> String {
    match reqwest::Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string().trim_end_matches('/').to_string()
        }
        _ => u.to_string(),
    }
}

/// Each provider's key and base URL, models that no enabled provider serves,
/// and the empty cases. Key variables are looked up in `env`.
pub fn providers(
    store: Option<&Store>,
    state: DbState,
    env: &BTreeMap<String, String>,
) -> ProvidersOutcome {
    let g = Group::Providers;
    let mut out = ProvidersOutcome::default();
    let (providers, models, counts) = match (store, state) {
        (Some(s), DbState::Open) => match read_catalog(s) {
            Ok(v) => v,
            Err(e) => {
                out.checks.push(Check::fail(
                    g,
                    "configured",
                    format!("cannot read providers and models: {e}"),
                    "see the database and migration checks above",
                ));
                return out;
            }
        },
        (_, DbState::Missing) => Default::default(),
        _ => return out,
    };

    if providers.is_empty() {
        out.checks.push(Check::warn(
            g,
            "configured",
            "no providers configured: the gateway has nowhere to send requests",
            "add one with `llmo provider add NAME --kind openai --api-key-env OPENAI_API_KEY --models gpt-4o-mini`",
        ));
    } else if !providers.iter().any(|p| p.enabled) {
        out.checks.push(Check::warn(
            g,
            "configured",
            format!("all {} providers are disabled", providers.len()),
            "enable one with `llmo provider enable NAME`",
        ));
    }

    for p in &providers {
        let name = p.name.as_str();
        if !p.enabled {
            out.checks.push(Check::ok(
                g,
                name,
                format!("{}: disabled, receives no traffic", p.kind),
            ));
            continue;
        }
        let mut notes: Vec<String> = Vec::new();
        let mut problems: Vec<(String, String)> = Vec::new();
        let env_fix = |var: &str| {
            format!(
                "set `{var}` in the environment `llmo serve` runs in (doctor sees only its own), or store the key: `llmo provider update {name} --api-key -`"
            )
        };
        match (&p.api_key, &p.api_key_env) {
            (Some(k), _) if k.expose().trim().is_empty() => problems.push((
                "its stored key is empty".into(),
                format!("`llmo provider update {name} --api-key -` (reads the key from stdin)"),
            )),
            (Some(k), _) => notes.push(format!("key stored in the database ({})", k.masked())),
            (None, Some(var)) => match env.get(var) {
                Some(v) if !v.trim().is_empty() => {
                    notes.push(format!("key from `{var}` ({})", mask(v)))
                }
                Some(_) => {
                    problems.push((format!("its key variable `{var}` is empty"), env_fix(var)))
                }
                None => {
                    problems.push((format!("its key variable `{var}` is not set"), env_fix(var)))
                }
            },
            (None, None) if p.kind == ProviderKind::OpenAiCompatible => notes
                .push("no key (fine for servers that need none, such as Ollama or vLLM)".into()),
            (None, None) => problems.push((
                "no API key configured".into(),
                format!(
                    "`llmo provider update {name} --api-key-env VAR` (or `--api-key -` to store it)"
                ),
            )),
        }
        let url_ok = match catalog::validate_url(&p.base_url) {
            Ok(()) => {
                notes.push(format!("base URL {}", redact_url(&p.base_url)));
                true
            }
            Err(e) => {
                problems.push((
                    format!("bad base URL: {}", e.message),
                    format!("`llmo provider update {name} --base-url URL`"),
                ));
                false
            }
        };
        let n = counts.get(name).map_or(0, Vec::len);
        notes.push(match n {
            0 => "no models mapped".to_string(),
            1 => "1 model".to_string(),
            n => format!("{n} models"),
        });
        if problems.is_empty() {
            out.checks.push(Check::ok(
                g,
                name,
                format!("{}: {}", p.kind, notes.join(", ")),
            ));
        } else {
            let (msgs, fixes): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
            out.checks.push(Check::fail(
                g,
                name,
                format!("{}: {}", p.kind, msgs.join("; ")),
                fixes.join("; "),
            ));
        }
        if url_ok {
            out.to_probe.push(p.clone());
        }
    }

    // Models: every enabled model needs an enabled mapping to an enabled provider.
    let gm = Group::Models;
    let enabled_providers: BTreeSet<&str> = providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.name.as_str())
        .collect();
    if models.is_empty() && !providers.is_empty() {
        out.checks.push(Check::warn(
            gm,
            "configured",
            "no models: clients have no model name to ask for",
            "add one with `llmo model add NAME --provider P[=UPSTREAM_MODEL]`",
        ));
    }
    let mut served = 0;
    for m in models.iter().filter(|m| m.enabled) {
        if m.providers
            .iter()
            .any(|mp| mp.enabled && enabled_providers.contains(mp.provider.as_str()))
        {
            served += 1;
            continue;
        }
        let (message, fix) = if m.providers.is_empty() {
            (
                "no provider serves it: requests for it fail".to_string(),
                format!("map a provider: `llmo model add {} --provider P`", m.name),
            )
        } else {
            let names: Vec<&str> = m.providers.iter().map(|mp| mp.provider.as_str()).collect();
            (
                format!(
                    "no enabled provider serves it (mapped to {}, all disabled): requests for it fail",
                    names.join(", ")
                ),
                format!(
                    "enable one (`llmo provider enable {}`) or map another: `llmo model add {} --provider P`",
                    names[0], m.name
                ),
            )
        };
        out.checks
            .push(Check::warn(gm, m.name.clone(), message, fix));
    }
    if served > 0 {
        let disabled = models.iter().filter(|m| !m.enabled).count();
        out.checks.push(Check::ok(
            gm,
            "configured",
            format!(
                "{served} model(s) served by an enabled provider{}",
                if disabled > 0 {
                    format!(", {disabled} disabled")
                } else {
                    String::new()
                }
            ),
        ));
    }
    out.all = providers;
    out
}

type CatalogParts = (
    Vec<Provider>,
    Vec<catalog::ModelView>,
    BTreeMap<String, Vec<String>>,
);

fn read_catalog(store: &Store) -> crate::db::Result<CatalogParts> {
    // A database whose first migration never ran has no tables yet: that is
    // "nothing configured", and the migration check already says so.
    if !store.has_table("providers")? {
        return Ok(Default::default());
    }
    Ok((
        store.list_providers()?,
        store.list_models()?,
        store.provider_models()?,
    ))
}

// ----- probes -----

/// One probe per provider, concurrently (see [`probe::probe`]).
pub async fn probes(providers: &[Provider], timeout: Duration) -> Vec<Check> {
    if providers.is_empty() {
        return Vec::new();
    }
    let http = match reqwest::Client::builder()
        .user_agent(concat!("llmo/", env!("CARGO_PKG_VERSION"), " (doctor)"))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                Group::Probe,
                "client",
                format!("cannot build the HTTP client: {e}"),
                "this is a bug; please report it with this output",
            )]
        }
    };
    let results =
        futures_util::future::join_all(providers.iter().map(|p| probe::probe(&http, p, timeout)))
            .await;
    providers
        .iter()
        .zip(results)
        .map(|(p, r)| probe_check(p, &r, timeout))
        .collect()
}

/// A probe result as a check.
pub fn probe_check(p: &Provider, r: &ProbeResult, timeout: Duration) -> Check {
    let g = Group::Probe;
    let name = p.name.clone();
    let ms = r.latency.as_millis();
    let call = format!("GET {}", redact_url(&r.url));
    let status = r.status.map(|s| s.to_string()).unwrap_or_default();
    match &r.outcome {
        ProbeOutcome::Ok => Check::ok(g, name, format!("{call}: {status} in {ms} ms")),
        ProbeOutcome::KeyRejected => Check::fail(
            g,
            name.clone(),
            if r.sent_key {
                format!("{call}: {status} in {ms} ms: key rejected")
            } else {
                format!("{call}: {status} in {ms} ms: the server wants a key and none is configured")
            },
            match &p.api_key_env {
                Some(var) => format!(
                    "check the key in `{var}` (expired, revoked, or for another project?), or store a new one: `llmo provider update {name} --api-key -`"
                ),
                None => format!("store a valid key: `llmo provider update {name} --api-key -`"),
            },
        ),
        ProbeOutcome::RateLimited => Check::warn(
            g,
            name,
            format!("{call}: {status} in {ms} ms: reachable, but rate limited right now"),
            "check the account's quota, or lower the provider's `--rate-limit`",
        ),
        ProbeOutcome::Http => Check::fail(
            g,
            name.clone(),
            format!("{call}: {status} in {ms} ms"),
            match r.status {
                Some(404) => format!(
                    "the models list is not at that URL: check the base URL (`llmo provider update {name} --base-url URL`)"
                ),
                Some(s) if s >= 500 => "the upstream is failing; retry later or check its status page".to_string(),
                _ => format!("check the base URL and key (`llmo provider show {name}`)"),
            },
        ),
        ProbeOutcome::Timeout => Check::fail(
            g,
            name,
            format!(
                "{call}: timeout: no answer within {}",
                crate::time::format_ms(timeout.as_millis() as i64)
            ),
            "check outbound network from this machine (firewall, `HTTPS_PROXY`), or raise `--probe-timeout`",
        ),
        ProbeOutcome::Connect(e) => Check::fail(
            g,
            name,
            format!("{call}: connect error after {ms} ms: {e}"),
            "check the base URL, DNS and outbound network (firewall, `HTTPS_PROXY`) from this machine",
        ),
        ProbeOutcome::Other(e) => Check::fail(
            g,
            name,
            format!("{call}: request error after {ms} ms: {e}"),
            "check the base URL",
        ),
    }
}

// ----- listen address -----

/// Who holds an address that cannot be bound.
enum Holder {
    Llmo,
    Other(String),
}

/// Checks that the listen address can be bound, or is held by a running
/// llmo (which answers `GET /health`); for a running llmo, also whether its
/// request log keeps up (from its `/metrics`). Only talks to this machine.
pub async fn listen(l: &Listen, health_timeout: Duration) -> Vec<Check> {
    let (check, running) = listen_address(l, health_timeout).await;
    let mut out = vec![check];
    if let Some(addr) = running {
        out.extend(running_request_log(addr, health_timeout).await);
    }
    out
}

/// The address check; `Some(addr)` when a running llmo holds it.
async fn listen_address(l: &Listen, health_timeout: Duration) -> (Check, Option<SocketAddr>) {
    let g = Group::Listen;
    let desc = source_desc("listen", l.source, None);
    let addr: SocketAddr = match l.addr.parse() {
        Ok(a) => a,
        Err(_) => {
            return (
                Check::fail(
                    g,
                    "address",
                    format!("`{}` ({desc}) is not an address", l.addr),
                    "write e.g. `127.0.0.1:8000` or `0.0.0.0:8000`",
                ),
                None,
            )
        }
    };
    let other_addr = SocketAddr::new(addr.ip(), addr.port().wrapping_add(1).max(1024));
    let change = format!(
        "give llmo another address with `--listen` or `LLMO_LISTEN` (e.g. `LLMO_LISTEN={other_addr}`)"
    );
    let check = match std::net::TcpListener::bind(addr) {
        Ok(sock) => {
            drop(sock);
            Check::ok(
                g,
                "address",
                format!("{addr} ({desc}) is free: `llmo serve` can bind it"),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            match who_holds(addr, health_timeout).await {
                Holder::Llmo => {
                    return (
                        Check::ok(
                            g,
                            "address",
                            format!(
                                "{addr} ({desc}) is in use by a running llmo (GET /health answered)"
                            ),
                        ),
                        Some(addr),
                    )
                }
                Holder::Other(what) => Check::fail(
                    g,
                    "address",
                    format!("{addr} ({desc}) is in use by another program ({what})"),
                    format!("stop that program (`ss -ltnp` shows it), or {change}"),
                ),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            g,
            "address",
            format!("no permission to bind {addr} ({desc}): ports below 1024 need root or CAP_NET_BIND_SERVICE"),
            format!("use a port from 1024 up: {change}"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Check::fail(
            g,
            "address",
            format!("{} is not an address of this machine ({desc})", addr.ip()),
            format!(
                "listen on all interfaces (`LLMO_LISTEN=0.0.0.0:{}`) or on one of this machine's addresses",
                addr.port()
            ),
        ),
        Err(e) => Check::fail(
            g,
            "address",
            format!("cannot bind {addr} ({desc}): {e}"),
            change,
        ),
    };
    (check, None)
}

/// What a running llmo's `/metrics` says about its request log: rows
/// dropped because the writer could not keep up (requests are never slowed
/// for it, so this is the only place it shows besides the server's log).
async fn running_request_log(addr: SocketAddr, timeout: Duration) -> Option<Check> {
    let g = Group::Listen;
    let url = format!(
        "http://{}/metrics",
        SocketAddr::new(local_ip(addr.ip()), addr.port())
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .ok()?;
    let res = client.get(&url).send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let text = res.text().await.ok()?;
    let dropped = metric_value(&text, "llmo_log_rows_dropped_total")?;
    let depth = metric_value(&text, "llmo_log_queue_depth").unwrap_or(0.0);
    Some(if dropped > 0.0 {
        Check::warn(
            g,
            "request log",
            format!(
                "the running llmo dropped {dropped} request-log row(s): its log queue was full (depth now {depth}) because the database did not keep up; those requests are missing from logs and stats"
            ),
            "check the database checks above (free space, a slow or network disk); keep LLMO_DB on local storage",
        )
    } else {
        Check::ok(
            g,
            "request log",
            format!("the running llmo's request log keeps up: no row dropped, queue depth {depth}"),
        )
    })
}

/// The value of an unlabelled Prometheus sample `name value`.
fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Loopback for a wildcard listen address (what a local client dials).
fn local_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// Asks whatever holds `addr` for `GET /health`. A running llmo answers with
/// `server: llmo` or JSON `{"service":"llmo",...}` / `{"status":"ok",...}`.
async fn who_holds(addr: SocketAddr, timeout: Duration) -> Holder {
    let url = format!(
        "http://{}/health",
        SocketAddr::new(local_ip(addr.ip()), addr.port())
    );
    // A local call: no proxy, whatever the environment says.
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return Holder::Other(format!("cannot ask it: {e}")),
    };
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Holder::Other(format!(
                "it did not answer GET /health within {}",
                crate::time::format_ms(timeout.as_millis() as i64)
            ))
        }
        Err(e) => return Holder::Other(format!("GET /health failed: {}", probe_error_text(&e))),
    };
    let status = resp.status().as_u16();
    let server = resp
        .headers()
        .get(reqwest::header::SERVER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if server
        .as_deref()
        .is_some_and(|s| s.to_ascii_lowercase().starts_with("llmo"))
    {
        return Holder::Llmo;
    }
    if resp.status().is_success() {
        if let Ok(body) = resp.bytes().await {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                if v["service"] == "llmo" || v["status"] == "ok" {
                    return Holder::Llmo;
                }
            }
        }
    }
    Holder::Other(match server {
        Some(s) => format!("GET /health answered {status}, server `{s}`"),
        None => format!("GET /health answered {status}"),
    })
}

fn probe_error_text(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check `{name}` in {checks:#?}"))
    }

    fn overrides(dir: &Path) -> Overrides {
        Overrides {
            db: Some(dir.join("llmo.db")),
            config: Some(dir.join("llmo.toml")),
            ..Default::default()
        }
    }

    #[test]
    fn config_reports_each_setting_with_its_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("llmo.toml"), "log_retention_days = 7\n").unwrap();
        let out = config(
            &overrides(dir.path()),
            &env(&[
                ("LLMO_LISTEN", "127.0.0.1:9999"),
                ("LLMO_ADMIN_KEY", "llmo-admin-0123456789abcdefWXYZ"),
            ]),
        );
        assert!(
            out.checks.iter().all(|c| c.status == Status::Ok),
            "{:#?}",
            out.checks
        );
        assert_eq!(
            find(&out.checks, "admin_key").message,
            "llmo-...WXYZ (env LLMO_ADMIN_KEY)"
        );
        // Without an admin key: a warning that says how to set one.
        let off = config(&overrides(dir.path()), &env(&[]));
        let c = find(&off.checks, "admin_key");
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("llmo admin-key generate"));
        assert!(find(&out.checks, "db").message.ends_with("(flag --db)"));
        assert_eq!(
            find(&out.checks, "listen").message,
            "127.0.0.1:9999 (env LLMO_LISTEN)"
        );
        assert!(find(&out.checks, "log_retention_days")
            .message
            .starts_with("7 (file "));
        assert_eq!(find(&out.checks, "max_body").message, "10485760 (default)");
        assert_eq!(
            find(&out.checks, "env").message,
            "read LLMO_LISTEN, LLMO_ADMIN_KEY"
        );
        assert_eq!(out.listen.unwrap().addr, "127.0.0.1:9999");
    }

    #[test]
    fn every_bad_variable_fails_and_the_rest_still_resolves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("llmo.toml"), "").unwrap();
        let out = config(
            &overrides(dir.path()),
            &env(&[
                ("LLMO_MAX_BODY", "lots"),
                ("LLMO_CIRCUIT_FAILURES", "0"),
                ("LLMO_LISTEN", "127.0.0.1:7777"),
            ]),
        );
        let mb = find(&out.checks, "max_body");
        assert_eq!(mb.status, Status::Fail);
        assert!(mb.message.contains("LLMO_MAX_BODY"), "{}", mb.message);
        assert!(mb.fix.as_deref().unwrap().contains("LLMO_MAX_BODY"));
        assert_eq!(find(&out.checks, "circuit_failures").status, Status::Fail);
        assert_eq!(find(&out.checks, "listen").status, Status::Ok);
        assert_eq!(out.db.unwrap().value, dir.path().join("llmo.db"));
        assert_eq!(out.listen.unwrap().addr, "127.0.0.1:7777");
    }

    #[test]
    fn a_bad_listen_variable_skips_the_listen_check() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("llmo.toml"), "").unwrap();
        let out = config(&overrides(dir.path()), &env(&[("LLMO_LISTEN", "nope")]));
        assert_eq!(find(&out.checks, "listen").status, Status::Fail);
        assert!(out.listen.is_none());
    }

    #[test]
    fn a_broken_config_file_fails_but_its_db_path_is_still_used() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("from-file.db");
        std::fs::write(
            dir.path().join("llmo.toml"),
            format!("db = {:?}\nlisten_addr = 1\n", db.display().to_string()),
        )
        .unwrap();
        let ov = Overrides {
            config: Some(dir.path().join("llmo.toml")),
            ..Default::default()
        };
        let out = config(&ov, &env(&[]));
        let f = find(&out.checks, "file");
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("listen_addr"), "{}", f.message);
        let got = out.db.unwrap();
        assert_eq!(got.value, db);
        assert_eq!(got.source, Source::File);
        assert!(find(&out.checks, "db").message.contains("(file "));
    }

    #[test]
    fn missing_explicit_config_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let out = config(&overrides(dir.path()), &env(&[]));
        assert_eq!(find(&out.checks, "file").status, Status::Fail);
        assert!(out.db.is_some());
    }

    #[test]
    fn unknown_variables_warn_with_a_suggestion_and_skip_key_vars() {
        let referenced = BTreeSet::from(["LLMO_OPENAI_KEY".to_string()]);
        let checks = unknown_env(
            &[
                "LLMO_MAXBODY".into(),
                "LLMO_FOO".into(),
                "LLMO_OPENAI_KEY".into(),
            ],
            &referenced,
        );
        assert_eq!(checks.len(), 2);
        let foo = find(&checks, "LLMO_FOO");
        assert_eq!(foo.status, Status::Warn);
        assert!(foo.fix.as_deref().unwrap().contains("LLMO_DB"));
        let mb = find(&checks, "LLMO_MAXBODY");
        assert!(mb
            .fix
            .as_deref()
            .unwrap()
            .contains("did you mean `LLMO_MAX_BODY`"));
        assert_eq!(did_you_mean("LLMO_LISTN"), Some("LLMO_LISTEN"));
        assert_eq!(did_you_mean("LLMO_SOMETHING_ELSE"), None);
    }

    #[test]
    fn fresh_machine_database_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sourced {
            value: dir.path().join("sub/llmo.db"),
            source: Source::Flag,
        };
        let out = database(Some(&db));
        assert_eq!(out.state, DbState::Missing);
        assert_eq!(find(&out.checks, "file").status, Status::Warn);
        assert_eq!(find(&out.checks, "directory").status, Status::Ok);
        assert!(out.checks.iter().all(|c| c.status != Status::Fail));
        assert!(
            !dir.path().join("sub").exists(),
            "doctor created the directory"
        );
        let m = migrations(None, out.state);
        assert_eq!(m[0].status, Status::Ok);
        let p = providers(None, out.state, &env(&[]));
        assert_eq!(find(&p.checks, "configured").status, Status::Warn);
    }

    #[cfg(unix)]
    #[test]
    fn loose_file_mode_warns_with_chmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmo.db");
        drop(Store::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = database(Some(&Sourced {
            value: path.clone(),
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
    fn providers_report_keys_masked_and_missing_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmo.db");
        {
            let (mut s, _) = Store::open(&path).unwrap();
            let add = |s: &mut Store,
                       name: &str,
                       kind: &str,
                       key: Option<catalog::KeySource>,
                       url: Option<&str>,
                       models: &[&str]| {
                s.add_provider(
                    name,
                    &catalog::ProviderInput {
                        kind: Some(kind.into()),
                        key,
                        base_url: url.map(str::to_string),
                        models: models.iter().map(|m| m.to_string()).collect(),
                        ..Default::default()
                    },
                )
                .unwrap();
            };
            add(
                &mut s,
                "inline",
                "openai",
                Some(catalog::KeySource::Inline(crate::secret::Secret::new(
                    "sk-inline-secret-value-1234",
                ))),
                None,
                &["gpt"],
            );
            add(
                &mut s,
                "fromenv",
                "anthropic",
                Some(catalog::KeySource::Env("DOCTOR_TEST_KEY".into())),
                None,
                &["claude"],
            );
            add(
                &mut s,
                "local",
                "openai-compatible",
                None,
                Some("http://localhost:11434/v1"),
                &["llama"],
            );
            add(&mut s, "off", "gemini", None, None, &["orphan"]);
            s.set_provider_enabled("off", false).unwrap();
        }
        let store = Store::open_for_inspection(&path).unwrap();
        let out = providers(Some(&store), DbState::Open, &env(&[]));
        let inline = find(&out.checks, "inline");
        assert_eq!(inline.status, Status::Ok);
        assert!(inline.message.contains("sk-...1234"), "{}", inline.message);
        assert!(!inline.message.contains("secret-value"));
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Fail);
        assert!(fe.message.contains("DOCTOR_TEST_KEY"));
        assert_eq!(find(&out.checks, "local").status, Status::Ok);
        assert_eq!(find(&out.checks, "off").status, Status::Ok);
        let orphan = find(&out.checks, "orphan");
        assert_eq!((orphan.group, orphan.status), (Group::Models, Status::Warn));
        assert_eq!(out.to_probe.len(), 3);

        let out = providers(
            Some(&store),
            DbState::Open,
            &env(&[("DOCTOR_TEST_KEY", "sk-ant-abcdefghijklmnop")]),
        );
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Ok);
        assert!(fe.message.contains("sk-...mnop"), "{}", fe.message);
    }

    #[test]
    fn urls_hide_passwords() {
        assert_eq!(
            redact_url("https://user:hunter2@example.com/v1"),
            "https://user:****@example.com/v1"
        );
        assert_eq!(
            redact_url("https://example.com/v1"),
            "https://example.com/v1"
        );
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

    #[test]
    fn listen_free_and_taken() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let l = Listen {
            addr: addr.clone(),
            source: Source::Env,
        };
        let c = rt.block_on(listen(&l, Duration::from_millis(300)));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].status, Status::Fail, "{c:?}");
        assert!(c[0].fix.as_deref().unwrap().contains("LLMO_LISTEN"));
        drop(taken);
        let c = rt.block_on(listen(&l, Duration::from_millis(300)));
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
    }

    #[test]
    fn metric_values_are_read_from_prometheus_text() {
        let text = "# TYPE llmo_log_queue_depth gauge\nllmo_log_queue_depth 7\nllmo_log_rows_dropped_total 3\nllmo_log_rows_dropped_total_x 9\n";
        assert_eq!(metric_value(text, "llmo_log_rows_dropped_total"), Some(3.0));
        assert_eq!(metric_value(text, "llmo_log_queue_depth"), Some(7.0));
        assert_eq!(metric_value(text, "llmo_nothing"), None);
    }
}

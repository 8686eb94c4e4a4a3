//! Schema migrations: embedded in the binary (`embed_migrations!`), checked
//! against the database's history before anything runs, applied one
//! transaction each after a `VACUUM INTO` backup.
//!
//! This is the failure llmo was born from (a gateway crash-looping because a
//! migration was missing from its image): here the migrations cannot be
//! missing, and a database that does not match the binary is refused with a
//! sentence that says what happened and what to do, never altered.
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{Result, StoreError};

mod embedded {
    refinery::embed_migrations!("migrations");
}

const HISTORY_TABLE: &str = "refinery_schema_history";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationState {
    Applied,
    Pending,
    MissingFromBinary,
    ModifiedSinceApplied,
}

impl MigrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::MissingFromBinary => "missing-from-binary",
            MigrationState::ModifiedSinceApplied => "modified-since-applied",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationRow {
    pub version: i64,
    pub name: String,
    pub state: MigrationState,
    /// When it was applied (as recorded in the database), if it was.
    pub applied_at: Option<String>,
}

/// Every migration known to the binary or to the database, and what is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    pub migrations: Vec<MigrationRow>,
    /// Highest version applied to the database (0 when none).
    pub db_version: i64,
    /// Highest version this binary knows.
    pub binary_version: i64,
    /// One sentence per problem: what happened and what to do.
    pub problems: Vec<String>,
}

impl MigrationStatus {
    pub fn pending(&self) -> impl Iterator<Item = &MigrationRow> {
        self.migrations
            .iter()
            .filter(|m| m.state == MigrationState::Pending)
    }

    pub fn is_current(&self) -> bool {
        self.problems.is_empty() && self.pending().next().is_none()
    }
}

/// What opening a database did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenReport {
    /// The file did not exist and was created.
    pub created: bool,
    /// Migrations applied now, as `(version, name)`.
    pub applied: Vec<(i64, String)>,
    /// The backup taken before applying, if any.
    pub backup: Option<PathBuf>,
    /// Schema version after opening.
    pub version: i64,
}

struct Applied {
    version: i64,
    name: String,
    applied_on: Option<String>,
    checksum: String,
}

fn history_exists(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [HISTORY_TABLE],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn applied(conn: &Connection) -> Result<Vec<Applied>> {
    if !history_exists(conn)? {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare(&format!(
        "SELECT version, name, applied_on, checksum FROM {HISTORY_TABLE} ORDER BY version"
    ))?;
    let rows = st.query_map([], |r| {
        Ok(Applied {
            version: r.get(0)?,
            name: r.get(1)?,
            applied_on: r.get(2)?,
            checksum: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Migrations compiled into this binary: `(version, name, checksum)`.
pub fn known() -> Vec<(i64, String, u64)> {
    let runner = embedded::migrations::runner();
    let mut v: Vec<_> = runner
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_string(), m.checksum()))
        .collect();
    v.sort_by_key(|m| m.0);
    v
}

/// Compares the database's history with the binary's migrations.
pub fn status(conn: &Connection) -> Result<MigrationStatus> {
    let known = known();
    let applied = applied(conn)?;
    let binary_version = known.last().map(|m| m.0).unwrap_or(0);
    let db_version = applied.iter().map(|a| a.version).max().unwrap_or(0);
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (version, name, checksum) in &known {
        let row = match applied.iter().find(|a| a.version == *version) {
            None => MigrationRow {
                version: *version,
                name: name.clone(),
                state: MigrationState::Pending,
                applied_at: None,
            },
            Some(a) => {
                let state = if a.checksum == checksum.to_string() && a.name == *name {
                    MigrationState::Applied
                } else {
                    problems.push(format!(
                        "migration V{version} `{}` was changed after it was applied to this database (its checksum differs from the one this binary carries); the database was written by a different build of llmo: run the build that created it, or restore a backup taken before it was applied",
                        a.name
                    ));
                    MigrationState::ModifiedSinceApplied
                };
                MigrationRow {
                    version: *version,
                    name: name.clone(),
                    state,
                    applied_at: a.applied_on.clone(),
                }
            }
        };
        rows.push(row);
    }
    for a in &applied {
        if known.iter().any(|k| k.0 == a.version) {
            continue;
        }
        rows.push(MigrationRow {
            version: a.version,
            name: a.name.clone(),
            state: MigrationState::MissingFromBinary,
            applied_at: a.applied_on.clone(),
        });
        if a.version > binary_version {
            problems.push(format!(
                "the database is at schema version {db_version} but this llmo only knows up to version {binary_version} (V{} `{}` was applied by a newer llmo); upgrade llmo to the version that wrote it, or restore a backup taken before that upgrade — this binary will not touch it",
                a.version, a.name
            ));
        } else {
            problems.push(format!(
                "the database has migration V{} `{}` that this binary does not know; it was written by a different build of llmo: run that build, or restore a backup",
                a.version, a.name
            ));
        }
    }
    rows.sort_by_key(|r| r.version);
    Ok(MigrationStatus {
        migrations: rows,
        db_version,
        binary_version,
        problems,
    })
}

fn refuse(status: &MigrationStatus) -> StoreError {
    StoreError::Schema {
        message: status.problems.join("; "),
        hint: "run `llmo migrate status` for the details; the database was not changed".into(),
    }
}

/// Is there anything in this database worth backing up?
fn has_content(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Writes a consistent copy next to the database with `VACUUM INTO`, named
/// with the schema version it holds and a UTC timestamp, mode 0600.
pub fn backup(conn: &Connection, db_path: &Path, version: i64) -> Result<PathBuf> {
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
    conn.execute("VACUUM INTO ?1", [target.to_string_lossy()])?;
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
    Ok(target)
}

/// Applies every pending migration, one transaction each. Refuses when the
/// history does not match the binary.
pub fn up(conn: &mut Connection, db_path: &Path, take_backup: bool) -> Result<OpenReport> {
    let st = status(conn)?;
    if !st.problems.is_empty() {
        return Err(refuse(&st));
    }
    // Only now that the database is known to be ours: WAL is persistent and
    // changes the file header, so it must not happen to a refused database.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    let pending: Vec<(i64, String)> = st.pending().map(|m| (m.version, m.name.clone())).collect();
    let mut report = OpenReport {
        version: st.db_version,
        ..Default::default()
    };
    if pending.is_empty() {
        return Ok(report);
    }
    if take_backup && has_content(conn)? {
        report.backup = Some(backup(conn, db_path, st.db_version)?);
    }
    embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_grouped(false)
        .run(conn)
        .map_err(|e| migration_error(&e, &pending, report.backup.as_deref()))?;
    report.applied = pending;
    report.version = st.binary_version;
    Ok(report)
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

/// Used on every normal open: migrate forward if needed, refuse otherwise.
pub(super) fn ensure_current(
    conn: &mut Connection,
    db_path: &Path,
    created: bool,
) -> Result<OpenReport> {
    let mut report = up(conn, db_path, !created)?;
    report.created = created;
    Ok(report)
}

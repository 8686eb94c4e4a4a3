//! Schema migrations, the engine-neutral part: the states a migration can be
//! in, the pre-check that compares the migrations compiled into the binary
//! with the database's history ([`check`], a pure function), and the runner
//! that refuses or applies. Each engine only reads its history table, takes
//! its backup and applies its embedded migrations (`sqlite/migrate.rs`).
//!
//! This is the failure llmo was born from (a gateway crash-looping because a
//! migration was missing from its image): here the migrations cannot be
//! missing, and a database that does not match the binary is refused with a
//! sentence that says what happened and what to do, never altered.
use std::path::PathBuf;

use serde::Serialize;

use super::{engine, postgres, sqlite, Result, Store, StoreError};

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
}

/// What opening a database did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenReport {
    /// The database did not exist and was created.
    pub created: bool,
    /// Migrations applied now, as `(version, name)`.
    pub applied: Vec<(i64, String)>,
    /// The backup taken before applying, if any.
    pub backup: Option<PathBuf>,
    /// What was said instead of a backup, on an engine that takes none
    /// (PostgreSQL: the `pg_dump` command, password left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_note: Option<String>,
    /// Schema version after opening.
    pub version: i64,
}

/// One row of a database's migration history, as the engine read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryRow {
    pub(crate) version: i64,
    pub(crate) name: String,
    pub(crate) applied_on: Option<String>,
    /// The checksum recorded when it was applied, as text.
    pub(crate) checksum: String,
}

/// An engine's embedded migrations as `(version, name, checksum)`, oldest
/// first (each engine's `known` passes its own runner).
pub(crate) fn listed(runner: &refinery::Runner) -> Vec<(i64, String, u64)> {
    let mut v: Vec<_> = runner
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_string(), m.checksum()))
        .collect();
    v.sort_by_key(|m| m.0);
    v
}

/// Migrations compiled into this binary: `(version, name, checksum)`,
/// sorted by version (SQLite's checksums; every engine has the same
/// versions and names, which a test holds).
pub fn known() -> Vec<(i64, String, u64)> {
    sqlite::migrate::known()
}

/// The engine's migration lock, held while migrating (see
/// [`Store::migrate_up`]); dropping it releases the lock.
pub(crate) enum MigrationLock {
    Sqlite(#[allow(dead_code, reason = "held for its Drop")] sqlite::migrate::MigrationLock),
    Postgres(#[allow(dead_code, reason = "held for its Drop")] postgres::migrate::MigrationLock),
}

impl From<sqlite::migrate::MigrationLock> for MigrationLock {
    fn from(l: sqlite::migrate::MigrationLock) -> Self {
        MigrationLock::Sqlite(l)
    }
}

impl From<postgres::migrate::MigrationLock> for MigrationLock {
    fn from(l: postgres::migrate::MigrationLock) -> Self {
        MigrationLock::Postgres(l)
    }
}

/// The pre-check: compares the binary's migrations (`known`, sorted by
/// version) with the database's `history`. Pure, so every state is tested
/// without a database.
pub(crate) fn check(known: &[(i64, String, u64)], history: &[HistoryRow]) -> MigrationStatus {
    let binary_version = known.last().map(|m| m.0).unwrap_or(0);
    let db_version = history.iter().map(|a| a.version).max().unwrap_or(0);
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (version, name, checksum) in known {
        let row = match history.iter().find(|a| a.version == *version) {
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
    for a in history {
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
    MigrationStatus {
        migrations: rows,
        db_version,
        binary_version,
        problems,
    }
}

fn refuse(status: &MigrationStatus) -> StoreError {
    StoreError::Schema {
        message: status.problems.join("; "),
        hint: "run `llmo migrate status` for the details; the database was not changed".into(),
    }
}

impl Store {
    /// Migration states of this database against the binary.
    pub fn migration_status(&self) -> Result<MigrationStatus> {
        let history = engine!(self, s => s.migration_history())?;
        Ok(check(&engine!(self, s => s.known_migrations()), &history))
    }

    /// Applies every pending migration, one transaction each, after a
    /// backup when `backup` is set and the engine has one to take (see
    /// `llmo migrate up`). Refuses, without altering the database, when its
    /// history does not match the binary.
    pub fn migrate_up(&mut self, backup: bool) -> Result<OpenReport> {
        let st = self.migration_status()?;
        if !st.problems.is_empty() {
            return Err(refuse(&st));
        }
        // Pending work: take the engine's migration lock and read the
        // history again under it, so that of two processes starting on one
        // database, one migrates (and backs up) and the other finds nothing
        // left to do, instead of both reporting the same migrations applied
        // and the second backing up the first's half-made schema.
        let _lock;
        let st = if st.pending().next().is_some() {
            _lock = engine!(&*self, s => s.migration_lock().map(MigrationLock::from))?;
            let st = self.migration_status()?;
            if !st.problems.is_empty() {
                return Err(refuse(&st));
            }
            st
        } else {
            st
        };
        // Only now that the database is known to be ours may the engine
        // change it (SQLite: the persistent switch to WAL).
        engine!(&mut *self, s => s.prepare_writes())?;
        let pending: Vec<(i64, String)> =
            st.pending().map(|m| (m.version, m.name.clone())).collect();
        let mut report = OpenReport {
            version: st.db_version,
            ..Default::default()
        };
        if pending.is_empty() {
            return Ok(report);
        }
        if backup {
            report.backup = engine!(&*self, s => s.backup_before_migrate(st.db_version))?;
            report.backup_note = engine!(&*self, s => s.backup_note(st.db_version));
        }
        engine!(&mut *self, s => s.apply_migrations(&pending, report.backup.as_deref()))?;
        report.applied = pending;
        report.version = st.binary_version;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known2() -> Vec<(i64, String, u64)> {
        vec![(1, "initial".into(), 11), (2, "second".into(), 22)]
    }

    fn applied(version: i64, name: &str, checksum: u64) -> HistoryRow {
        HistoryRow {
            version,
            name: name.into(),
            applied_on: Some("2026-01-01T00:00:00Z".into()),
            checksum: checksum.to_string(),
        }
    }

    fn states(st: &MigrationStatus) -> Vec<(i64, MigrationState)> {
        st.migrations.iter().map(|m| (m.version, m.state)).collect()
    }

    #[test]
    fn empty_history_is_all_pending() {
        let st = check(&known2(), &[]);
        use MigrationState::*;
        assert_eq!(states(&st), [(1, Pending), (2, Pending)]);
        assert_eq!((st.db_version, st.binary_version), (0, 2));
        assert!(st.problems.is_empty());
        assert_eq!(st.pending().count(), 2);
    }

    #[test]
    fn partly_applied_is_applied_then_pending() {
        let st = check(&known2(), &[applied(1, "initial", 11)]);
        use MigrationState::*;
        assert_eq!(states(&st), [(1, Applied), (2, Pending)]);
        assert_eq!(st.db_version, 1);
        assert!(st.problems.is_empty());
        assert_eq!(
            st.migrations[0].applied_at.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(st.migrations[1].applied_at, None);
    }

    #[test]
    fn fully_applied_is_current() {
        let st = check(
            &known2(),
            &[applied(1, "initial", 11), applied(2, "second", 22)],
        );
        assert!(st.problems.is_empty());
        assert_eq!(st.pending().count(), 0);
        assert_eq!((st.db_version, st.binary_version), (2, 2));
    }

    #[test]
    fn changed_checksum_or_name_is_modified() {
        for row in [applied(1, "initial", 99), applied(1, "renamed", 11)] {
            let st = check(&known2(), std::slice::from_ref(&row));
            assert_eq!(st.migrations[0].state, MigrationState::ModifiedSinceApplied);
            assert_eq!(st.problems.len(), 1);
            assert!(
                st.problems[0].starts_with(&format!(
                    "migration V1 `{}` was changed after it was applied",
                    row.name
                )),
                "{}",
                st.problems[0]
            );
        }
    }

    #[test]
    fn unknown_lower_version_is_missing_from_binary() {
        let known = vec![(1, "initial".into(), 11), (3, "third".into(), 33)];
        let st = check(&known, &[applied(1, "initial", 11), applied(2, "lost", 22)]);
        use MigrationState::*;
        assert_eq!(
            states(&st),
            [(1, Applied), (2, MissingFromBinary), (3, Pending)]
        );
        assert_eq!(
            st.problems,
            ["the database has migration V2 `lost` that this binary does not know; it was written by a different build of llmo: run that build, or restore a backup"]
        );
    }

    #[test]
    fn newer_history_is_refused_with_both_versions() {
        let st = check(
            &known2(),
            &[
                applied(1, "initial", 11),
                applied(2, "second", 22),
                applied(3, "future", 33),
            ],
        );
        assert_eq!(st.migrations[2].state, MigrationState::MissingFromBinary);
        assert_eq!((st.db_version, st.binary_version), (3, 2));
        assert_eq!(st.problems.len(), 1);
        assert!(st.problems[0].starts_with(
            "the database is at schema version 3 but this llmo only knows up to version 2 (V3 `future` was applied by a newer llmo)"
        ));
        let err = refuse(&st);
        assert_eq!(err.to_string(), st.problems[0]);
        assert_eq!(
            err.hint().as_deref(),
            Some("run `llmo migrate status` for the details; the database was not changed")
        );
    }
}

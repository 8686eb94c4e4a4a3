//! The migration checks: what `llmo migrate status` would say, as checks.
use super::DbState;
use crate::db::{MigrationState, Store};
use crate::doctor::{Check, Group};

/// The states `llmo migrate status` shows, as checks: problems (a database
/// ahead of this binary, unknown or modified migrations) fail; pending ones
/// warn with the command that applies them.
pub(crate) fn migrations(store: Option<&Store>, state: DbState) -> Vec<Check> {
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

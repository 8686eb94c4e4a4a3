//! The individual checks, one module per section of the report. Each takes
//! what it needs (settings, a store, an environment map) and returns
//! [`Check`]s, so tests call them directly. Nothing here prints, and nothing
//! writes except the temporary file that proves the database directory is
//! writable.
use std::path::Path;

use crate::config::{SettingDef, Source};

mod config;
mod database;
mod listen;
mod migrations;
mod postgres;
mod probes;
mod providers;
mod redis;
mod replicas;

pub(crate) use config::{config, unknown_env, Listen};
pub(crate) use database::{database, DbState};
pub(crate) use listen::listen;
pub(crate) use migrations::migrations;
pub(crate) use probes::probes;
pub(crate) use providers::providers;
pub(crate) use redis::redis;
pub(crate) use replicas::replicas;

/// Where a setting's value came from, as doctor says it: `flag --db`,
/// `env LLMO_DB`, `file /etc/llmo/llmo.toml`, `default`.
fn source_desc(def: &SettingDef, source: Source, file: Option<&Path>) -> String {
    match (source, def.flag) {
        (Source::Flag, Some(flag)) => format!("flag --{flag}"),
        (Source::Flag, None) => "flag".into(),
        (Source::Env, _) => format!("env {}", def.env),
        (Source::File, _) => match file {
            Some(p) => format!("file {}", p.display()),
            None => "config file".into(),
        },
        (Source::Default, _) => "default".into(),
    }
}

/// What the checks' tests share.
#[cfg(test)]
mod testing {
    use std::collections::BTreeMap;

    use crate::doctor::Check;

    pub(super) fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub(super) fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check `{name}` in {checks:#?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{env, find};
    use super::*;
    use crate::config::Sourced;
    use crate::doctor::Status;

    #[test]
    fn fresh_machine_database_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sourced {
            value: dir.path().join("sub/llmo.db").into(),
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
        let p = providers(
            None,
            out.state,
            &env(&[]),
            &crate::doctor::server::Judge::Local { addr: None },
        );
        assert_eq!(find(&p.checks, "configured").status, Status::Warn);
    }
}

//! `llmo doctor`: the troubleshooting a person would otherwise do by hand for
//! a gateway that will not start (configuration, database file, migrations,
//! providers, the listen address), as a list of [`Check`]s that each say what
//! was found and, when it is not ok, how to fix it.
//!
//! Doctor changes nothing: the database is opened for inspection only (see
//! [`crate::db::info`]), never created or migrated. The one write is a
//! temporary file created and removed in the database's directory to prove
//! it is writable. Without `--probe` nothing leaves the machine; the listen
//! check only talks to the local address llmo is configured to bind.
//!
//! The checks are plain functions in `checks/`, one module per section of
//! the report, that tests call directly; [`run`] strings them together and
//! the CLI (`cli/doctor.rs`) prints them.
#![allow(
    clippy::disallowed_methods,
    reason = "doctor inspects files on the operator's machine, once, off the request path"
)]
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::config::Overrides;

mod checks;
mod server;

/// How a check came out. Ordered: `Ok < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but worth a look; does not change the exit code.
    Warn,
    /// Broken: llmo will not start or cannot serve; exit code 1.
    Fail,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What part of the installation a check looks at, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Group {
    Config,
    Database,
    Redis,
    Migrations,
    Providers,
    Models,
    Probe,
    Listen,
}

impl Group {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Group::Config => "config",
            Group::Database => "database",
            Group::Redis => "redis",
            Group::Migrations => "migrations",
            Group::Providers => "providers",
            Group::Models => "models",
            Group::Probe => "probe",
            Group::Listen => "listen",
        }
    }
}

/// One finding. See [`Report`] for the JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    pub(crate) group: Group,
    pub(crate) name: String,
    pub(crate) status: Status,
    pub(crate) message: String,
    /// What to do about it; always present when `status` is not `ok`.
    pub(crate) fix: Option<String>,
}

impl Check {
    fn new(
        group: Group,
        name: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Check {
            group,
            name: name.into(),
            status,
            message: message.into(),
            fix,
        }
    }

    pub(crate) fn ok(group: Group, name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(group, name, Status::Ok, message, None)
    }

    pub(crate) fn warn(
        group: Group,
        name: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(group, name, Status::Warn, message, Some(fix.into()))
    }

    pub(crate) fn fail(
        group: Group,
        name: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(group, name, Status::Fail, message, Some(fix.into()))
    }
}

/// Counts of checks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Summary {
    pub(crate) ok: usize,
    pub(crate) warn: usize,
    pub(crate) fail: usize,
}

/// The result of `llmo doctor`, and its `--json` document:
///
/// ```json
/// {
///   "checks": [
///     {
///       "group": "database",
///       "name": "integrity_check",
///       "status": "ok",
///       "message": "ok",
///       "fix": null
///     }
///   ],
///   "summary": { "ok": 14, "warn": 1, "fail": 0 }
/// }
/// ```
///
/// - `checks`: in report order, grouped.
/// - `group`: one of `config`, `database`, `redis` (when `redis_url` is
///   set), `migrations`, `providers`,
///   `models`, `probe` (only with `--probe`), `listen`.
/// - `name`: what was checked within the group: a setting (`db`, `listen`,
///   `max_body`, ...), a database aspect (`path`, `directory`, `file`,
///   `permissions`, `open`, `integrity_check`, `journal_mode`, `size`,
///   `disk_space`), `schema`/`pending`/`history`, a provider or model name,
///   an unknown `LLMO_*` variable, or `address`.
/// - `status`: `ok`, `warn` or `fail`. Any `fail` makes the exit code 1;
///   warnings alone exit 0.
/// - `message`: what was found, one line; secrets are masked (`sk-...abcd`).
/// - `fix`: what to do, one line; `null` when `status` is `ok`.
/// - `summary`: how many checks came out `ok`, `warn` and `fail`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    pub(crate) summary: Summary,
}

impl Report {
    pub(crate) fn new(mut checks: Vec<Check>) -> Self {
        // Stable sort: report order by group, each group's own order kept.
        checks.sort_by_key(|c| c.group);
        let mut summary = Summary::default();
        for c in &checks {
            match c.status {
                Status::Ok => summary.ok += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
            }
        }
        Report { checks, summary }
    }

    /// True when any check failed (exit code 1).
    pub(crate) fn failed(&self) -> bool {
        self.summary.fail > 0
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The command-line overrides (`--db`, `--config`).
    pub(crate) overrides: Overrides,
    /// Also call each enabled provider's models endpoint.
    pub(crate) probe: bool,
    /// How long each probe may take.
    pub(crate) probe_timeout: Duration,
}

/// How long the listen check waits for `GET /health` from whatever holds the
/// address. A running llmo answers at once.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The process environment as a map (names and values that are not UTF-8 are
/// skipped: llmo reads none of those).
fn env_snapshot() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Runs every check and returns the report. `progress` is told what is being
/// checked (for a spinner). Builds its own small tokio runtime for the
/// network checks, so it must not be called from inside a runtime.
pub(crate) fn run(opts: &Options, progress: &mut dyn FnMut(&str)) -> Report {
    let env = env_snapshot();
    let mut out = Vec::new();

    progress("configuration");
    let mut cfg = checks::config(&opts.overrides, &env);

    // The key states that matter are the running server's, not doctor's.
    progress("running server");
    let listen = cfg.listen.as_ref().map(|l| l.addr.as_str());
    let judge = block_on(server::ask(listen, HEALTH_TIMEOUT))
        .unwrap_or(server::Judge::Local { addr: None });
    for c in &mut cfg.checks {
        if c.group == Group::Config && c.name == "admin_key" {
            *c = server::admin_key_check(c.clone(), &judge);
        }
    }
    out.extend(cfg.checks);

    progress("database");
    let db = checks::database(cfg.db.as_ref());
    out.extend(db.checks);
    out.extend(checks::replicas(db.store.as_ref(), db.state));

    if let Some(url) = &cfg.redis {
        progress("redis");
        out.extend(checks::redis(url));
    }

    progress("migrations");
    out.extend(checks::migrations(db.store.as_ref(), db.state));

    progress("providers");
    let providers = checks::providers(db.store.as_ref(), db.state, &env, &judge);
    out.extend(providers.checks);

    // Variables named by providers' `api_key_env` are read by llmo too.
    let referenced: BTreeSet<String> = providers
        .all
        .iter()
        .filter_map(|p| p.api_key_env.clone())
        .collect();
    out.extend(checks::unknown_env(
        &crate::config::unknown_env_vars(),
        &referenced,
    ));

    progress("network");
    out.extend(network(opts, cfg.listen.as_ref(), &providers.to_probe));
    Report::new(out)
}

/// Runs `f` on a small runtime of its own; `None` when none can be started
/// (the network checks then report it).
fn block_on<F: std::future::Future>(f: F) -> Option<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    Some(rt.block_on(f))
}

/// The listen check and, with `--probe`, the provider probes, concurrently.
fn network(
    opts: &Options,
    listen: Option<&checks::Listen>,
    to_probe: &[crate::catalog::Provider],
) -> Vec<Check> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return vec![Check::fail(
                Group::Listen,
                "address",
                format!("cannot start the async runtime for the network checks: {e}"),
                "this is a bug or a resource limit (threads, file descriptors); check `ulimit -n`",
            )]
        }
    };
    rt.block_on(async {
        let listen_check = async {
            match listen {
                Some(l) => checks::listen(l, HEALTH_TIMEOUT).await,
                None => Vec::new(),
            }
        };
        let probes = async {
            if !opts.probe {
                return Vec::new();
            }
            checks::probes(to_probe, opts.probe_timeout).await
        };
        let (l, mut p) = tokio::join!(listen_check, probes);
        p.extend(l);
        p
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_orders_groups_and_counts() {
        let r = Report::new(vec![
            Check::ok(Group::Listen, "address", "free"),
            Check::warn(Group::Database, "file", "missing", "run it"),
            Check::ok(Group::Config, "db", "x"),
            Check::fail(Group::Database, "open", "no", "fix"),
        ]);
        let order: Vec<_> = r
            .checks
            .iter()
            .map(|c| (c.group, c.name.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                (Group::Config, "db"),
                (Group::Database, "file"),
                (Group::Database, "open"),
                (Group::Listen, "address"),
            ]
        );
        assert_eq!(
            r.summary,
            Summary {
                ok: 2,
                warn: 1,
                fail: 1
            }
        );
        assert!(r.failed());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checks"][0]["group"], "config");
        assert_eq!(json["checks"][0]["fix"], serde_json::Value::Null);
        assert_eq!(json["checks"][1]["status"], "warn");
        assert_eq!(json["summary"]["fail"], 1);
    }
}

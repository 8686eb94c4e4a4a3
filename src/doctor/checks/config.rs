//! The configuration checks: the config file, the `LLMO_*` variables read,
//! each effective setting with its source (all from the settings table in
//! [`crate::config`]), and the `LLMO_*` variables llmo does not read.
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::source_desc;
use crate::config::{
    self, ConfigError, Overrides, Settings, Source, Sourced, DB, KNOWN_ENV, LISTEN,
};
use crate::db::DbLocation;
use crate::doctor::{Check, Group};

/// An empty config file to resolve against when the real one is broken, so
/// doctor can carry on with env and defaults.
const EMPTY_FILE: &str = "/dev/null";

/// The address `llmo serve` would bind, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    pub(crate) addr: String,
    pub(crate) source: Source,
}

/// The configuration checks and what the other checks need from them.
#[derive(Debug)]
pub(crate) struct ConfigOutcome {
    pub(crate) checks: Vec<Check>,
    /// The database path doctor inspects (`None`: cannot be determined).
    pub(crate) db: Option<Sourced<DbLocation>>,
    /// The listen address to check (`None` when its own setting is broken).
    pub(crate) listen: Option<Listen>,
    /// The Redis of the shared limits, when set.
    pub(crate) redis: Option<crate::config::redis_url::RedisUrl>,
}

/// Settings resolved the way every command does, except that each broken
/// variable, and a broken config file, is set aside and resolution tried
/// again without it.
struct Lenient {
    /// `None` when even that failed (see `other_error`).
    settings: Option<Settings>,
    /// The environment minus what was set aside.
    env_left: BTreeMap<String, String>,
    /// Each malformed variable, by name.
    bad_env: BTreeMap<String, ConfigError>,
    file_error: Option<ConfigError>,
    /// The `db` key of a config file that failed strict parsing.
    db_from_file: Option<PathBuf>,
    /// An error that is neither a variable nor the file (no home directory,
    /// an unreadable `--admin-key-file`).
    other_error: Option<ConfigError>,
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
        .get(DB.file_key?)
        .and_then(|v| v.as_str())
        .filter(|s| DbLocation::parse(s).is_ok())
        .map(PathBuf::from)
}

fn resolve_leniently(overrides: &Overrides, env: &BTreeMap<String, String>) -> Lenient {
    let mut l = Lenient {
        settings: None,
        env_left: env.clone(),
        bad_env: BTreeMap::new(),
        file_error: None,
        db_from_file: None,
        other_error: None,
    };
    let mut ov = overrides.clone();
    // Each round removes one broken variable or the broken file, so this
    // ends after at most |KNOWN_ENV| + 1 rounds.
    loop {
        match Settings::resolve_with(&ov, &l.env_left) {
            Ok(s) => {
                l.settings = Some(s);
                return l;
            }
            Err(ConfigError::BadEnv {
                var,
                value,
                message,
            }) if l.env_left.remove(&var).is_some() => {
                let e = ConfigError::BadEnv {
                    var: var.clone(),
                    value,
                    message,
                };
                l.bad_env.insert(var, e);
            }
            Err(e) if l.file_error.is_none() && is_file_error(&e) => {
                if ov.db.is_none() && !l.env_left.contains_key(DB.env) {
                    l.db_from_file = file_error_path(&e).and_then(lenient_file_db);
                    ov.db.clone_from(&l.db_from_file);
                }
                l.file_error = Some(e);
                if !Path::new(EMPTY_FILE).exists() {
                    return l;
                }
                ov.config = Some(PathBuf::from(EMPTY_FILE));
                // `LLMO_CONFIG` may be what pointed at the broken file.
                l.env_left.remove(config::CONFIG.env);
            }
            Err(e) => {
                l.other_error = Some(e);
                return l;
            }
        }
    }
}

/// The config file: loaded, absent (fine), or broken.
fn file_check(l: &Lenient) -> Option<Check> {
    let g = Group::Config;
    if let Some(e) = &l.file_error {
        return Some(Check::fail(
            g,
            "file",
            format!("{e}; the checks below carry on as if there were no config file"),
            e.hint().unwrap_or_else(|| "fix the config file".into()),
        ));
    }
    Some(match &l.settings.as_ref()?.config_file {
        Some(cf) if cf.loaded => Check::ok(
            g,
            "file",
            format!(
                "{} ({})",
                cf.path.display(),
                match cf.source {
                    Source::Flag => "from --config".to_string(),
                    Source::Env => format!("from env {}", config::CONFIG.env),
                    _ => "default location".to_string(),
                }
            ),
        ),
        Some(cf) => Check::ok(
            g,
            "file",
            format!(
                "none: {} does not exist (optional; env and defaults apply)",
                cf.path.display()
            ),
        ),
        None => Check::ok(g, "file", "none (no default location on this system)"),
    })
}

/// Which known variables are set.
fn env_check(env: &BTreeMap<String, String>) -> Check {
    let read: Vec<&str> = KNOWN_ENV
        .iter()
        .copied()
        .filter(|v| env.contains_key(*v))
        .collect();
    Check::ok(
        Group::Config,
        "env",
        if read.is_empty() {
            "no LLMO_* variables set".to_string()
        } else {
            format!("read {}", read.join(", "))
        },
    )
}

fn bad_env_fix(var: &str) -> String {
    format!("fix or unset `{var}`: every llmo command refuses to start until then")
}

/// Each effective setting with its source, or the error that replaced it,
/// then the malformed variables no setting line reported.
fn setting_checks(l: &Lenient, overrides: &Overrides) -> Vec<Check> {
    let g = Group::Config;
    let mut checks = Vec::new();
    let db_from_file = l.db_from_file.is_some();
    let file_path = l
        .settings
        .as_ref()
        .and_then(|s| s.config_file.as_ref())
        .filter(|c| c.loaded && l.file_error.is_none())
        .map(|c| c.path.clone());
    let mut reported_bad = BTreeSet::new();
    for (def, value, source) in l.settings.iter().flat_map(|s| s.effective_rows()) {
        let is_db = def.name == DB.name;
        let (source, file) = if is_db && db_from_file {
            let source = if overrides.db.is_none() {
                Source::File
            } else {
                source
            };
            (source, l.file_error.as_ref().and_then(file_error_path))
        } else {
            (source, file_path.as_deref())
        };
        let desc = source_desc(def, source, file);
        let unset_admin_key = l
            .settings
            .as_ref()
            .is_some_and(|s| def.name == "admin_key" && s.admin_key.value.is_none());
        checks.push(match l.bad_env.get(def.env) {
            Some(e) => {
                reported_bad.insert(def.env);
                Check::fail(
                    g,
                    def.name,
                    format!("{e}; doctor carries on with {value} ({desc})"),
                    bad_env_fix(def.env),
                )
            }
            None if unset_admin_key => Check::warn(
                g,
                def.name,
                "none: the admin API (/admin) and web UI (/admin-ui/) answer 503",
                "to use them: `llmo admin-key generate --out /etc/llmo/admin.key`, then \
                 `--admin-key-file /etc/llmo/admin.key` (or `LLMO_ADMIN_KEY`, or \
                 `admin_key_file` in the config file)",
            ),
            None => Check::ok(g, def.name, format!("{value} ({desc})")),
        });
    }
    for (var, e) in &l.bad_env {
        if !reported_bad.contains(var.as_str()) {
            let name = config::setting_for_env(var).map_or_else(
                || var.trim_start_matches("LLMO_").to_ascii_lowercase(),
                |d| d.name.to_string(),
            );
            checks.push(Check::fail(g, name, e.to_string(), bad_env_fix(var)));
        }
    }
    checks
}

impl Lenient {
    /// The database path the other checks inspect.
    fn db(&self, overrides: &Overrides) -> Option<Sourced<DbLocation>> {
        let Some(s) = &self.settings else {
            return fallback_db(overrides, &self.env_left);
        };
        Some(Sourced {
            value: s.db.value.clone(),
            source: if self.db_from_file.is_some() && overrides.db.is_none() {
                Source::File
            } else {
                s.db.source
            },
        })
    }

    /// The listen address the listen check tries.
    fn listen(&self) -> Option<Listen> {
        if self.bad_env.contains_key(LISTEN.env) {
            return None;
        }
        if let Some(s) = &self.settings {
            return Some(Listen {
                addr: s.listen.value.clone(),
                source: s.listen.source,
            });
        }
        Some(match self.env_left.get(LISTEN.env) {
            Some(a) if a.parse::<SocketAddr>().is_ok() => Listen {
                addr: a.clone(),
                source: Source::Env,
            },
            _ => Listen {
                addr: config::DEFAULT_LISTEN.to_string(),
                source: Source::Default,
            },
        })
    }
}

/// Resolves the settings the way every command does, reporting the config
/// file, the `LLMO_*` variables read, and each effective setting with its
/// source. A malformed variable or config file becomes a `fail` line and
/// doctor carries on without it, so the other checks still run.
pub(crate) fn config(overrides: &Overrides, env: &BTreeMap<String, String>) -> ConfigOutcome {
    let l = resolve_leniently(overrides, env);
    let mut checks = Vec::new();
    checks.extend(file_check(&l));
    checks.push(env_check(env));
    if let Some(e) = &l.other_error {
        checks.push(Check::fail(
            Group::Config,
            "settings",
            e.to_string(),
            e.hint().unwrap_or_else(|| "see `llmo --help`".into()),
        ));
    }
    checks.extend(setting_checks(&l, overrides));
    ConfigOutcome {
        checks,
        db: l.db(overrides),
        listen: l.listen(),
        redis: l.settings.as_ref().and_then(|s| s.redis_url.value.clone()),
    }
}

/// The database path when settings cannot be resolved at all: flag, env, or
/// the platform default.
fn fallback_db(
    overrides: &Overrides,
    env: &BTreeMap<String, String>,
) -> Option<Sourced<DbLocation>> {
    if let Some(p) = overrides
        .db
        .as_deref()
        .and_then(|p| DbLocation::from_path(p).ok())
    {
        return Some(Sourced {
            value: p,
            source: Source::Flag,
        });
    }
    if let Some(p) = env.get(DB.env).and_then(|p| DbLocation::parse(p).ok()) {
        return Some(Sourced {
            value: p,
            source: Source::Env,
        });
    }
    config::default_db_path().ok().map(|p| Sourced {
        value: DbLocation::Sqlite(p),
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
pub(crate) fn did_you_mean(var: &str) -> Option<&'static str> {
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
pub(crate) fn unknown_env(unknown: &[String], referenced: &BTreeSet<String>) -> Vec<Check> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::doctor::checks::testing::{env, find};
    use crate::doctor::Status;

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
        assert_eq!(out.db.unwrap().value, dir.path().join("llmo.db").into());
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
        assert_eq!(got.value, db.into());
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
}

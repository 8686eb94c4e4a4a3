//! Configuration: every setting resolved in one place with the precedence
//! flag > environment > config file > default, remembering where each value
//! came from (so `llmo doctor` can say). What each setting is called where,
//! how it parses and what it defaults to is one row of the table in
//! `table.rs`; the parsers are in `parse.rs`; this file holds the types, the
//! config file and the admin-key checks.
#![allow(
    clippy::disallowed_methods,
    reason = "settings are read once at start-up, before the server runs"
)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub mod location;
mod parse;
pub mod redis_url;
mod table;

pub(crate) use parse::parse_positive_duration;
pub(crate) use parse::parse_size;
#[cfg(test)]
pub(crate) use parse::parse_trusted_proxies;
pub use parse::TrustedProxies;
pub use table::KNOWN_ENV;
use table::SETTINGS;
pub(crate) use table::{setting_for_env, SettingDef, CONFIG, DB, LISTEN};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
pub(crate) const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a rate-limit check waits for Redis (`redis_timeout`).
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);
const DEFAULT_CIRCUIT_FAILURES: u32 = 5;
const DEFAULT_CIRCUIT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_UPSTREAM_MAX_BODY: u64 = 64 * 1024 * 1024;
/// Bytes of recent stored Responses-API responses kept in memory.
const DEFAULT_RESPONSES_CACHE: u64 = 64 * 1024 * 1024;
const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes per second a request body must average after its first seconds
/// (`gateway::Options::body_rate_grace`): far below any real client, far
/// above a byte every few seconds.
const DEFAULT_REQUEST_BODY_MIN_RATE: u64 = 1024;

/// Shortest admin key accepted: a guessable key on an API that can change
/// routing and read logs is worse than none (`llmo admin-key generate`
/// makes 54-character ones).
const MIN_ADMIN_KEY_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file `{0}` does not exist")]
    FileMissing(PathBuf),
    #[error("cannot read config file `{path}`: {}", io_reason(.error))]
    FileUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file `{path}` is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable `{var}={value}` is invalid: {message}")]
    BadEnv {
        var: String,
        value: String,
        message: String,
    },
    #[error("`{key}` in config file `{path}` is invalid: {message}")]
    BadFileValue {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    /// A command-line option's value is invalid (the value is not repeated:
    /// it may hold a password).
    #[error("`{flag}` is invalid: {message}")]
    BadFlag { flag: &'static str, message: String },
    #[error("cannot determine a home directory for the default paths")]
    NoHome,
    /// The file named by `--admin-key-file` cannot be used.
    #[error("admin key file `{path}` {message}")]
    AdminKeyFile { path: PathBuf, message: String },
}

impl ConfigError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::FileMissing(_) => {
                "create it, or drop `--config`/`LLMO_CONFIG` to use the default".into()
            }
            ConfigError::FileUnreadable { error, .. } => match error.kind() {
                std::io::ErrorKind::IsADirectory => {
                    "`--config`/`LLMO_CONFIG` names a file such as `llmo.toml`, not a directory"
                        .into()
                }
                std::io::ErrorKind::NotADirectory => {
                    "a part of the path is a file, not a directory: check `--config`/`LLMO_CONFIG`"
                        .into()
                }
                _ => "check the file's permissions".into(),
            },
            ConfigError::Parse { .. } | ConfigError::BadFileValue { .. } => {
                "see the Configuration section of the README for the valid keys".into()
            }
            ConfigError::BadEnv { var, .. } => format!("fix or unset `{var}`"),
            ConfigError::BadFlag { flag, .. } => format!("fix `{flag}`"),
            ConfigError::NoHome => "pass `--db PATH` (or set `LLMO_DB`) and `--config PATH`".into(),
            ConfigError::AdminKeyFile { path, .. } if path.is_dir() => {
                "give the key file's path, not its directory, e.g. `/etc/llmo/admin.key`".into()
            }
            ConfigError::AdminKeyFile { path, .. } => format!(
                "create it with `llmo admin-key generate --out {}`, or drop `--admin-key-file`",
                path.display()
            ),
        })
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::File => "file",
            Source::Default => "default",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The TOML config file. Unknown keys are an error that names the key.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// The SQLite database's path, or a PostgreSQL URL.
    db: Option<PathBuf>,
    /// Address `llmo serve` listens on.
    listen: Option<String>,
    /// Serve clients that present no key.
    allow_anonymous: Option<bool>,
    /// Largest accepted request body, e.g. `10MiB` or a number of bytes.
    max_body: Option<toml::Value>,
    /// Days of request logs to keep.
    log_retention_days: Option<u32>,
    /// How long shutdown waits for in-flight requests, e.g. `30s`.
    shutdown_timeout: Option<String>,
    /// Consecutive failures that open a provider's circuit.
    circuit_failures: Option<u32>,
    /// How long an open circuit stays open, e.g. `30s`.
    circuit_cooldown: Option<String>,
    /// The admin API key itself (prefer `admin_key_file`: this file is often
    /// world-readable).
    admin_key: Option<String>,
    /// A file holding the admin API key (relative paths are relative to the
    /// config file's directory).
    admin_key_file: Option<PathBuf>,
    /// Largest non-stream upstream answer llmo reads, e.g. `64MiB`.
    upstream_max_body: Option<toml::Value>,
    /// Longest a request's body may take to arrive, e.g. `30s`.
    request_body_timeout: Option<String>,
    /// Bytes per second a body must average after its first seconds (0: none).
    request_body_min_rate: Option<u64>,
    /// Proxies whose `X-Forwarded-For` names the client: addresses or CIDR
    /// ranges, as a list or one comma-separated string.
    trusted_proxies: Option<toml::Value>,
    /// A catalog file `llmo serve` applies at start and when it changes.
    apply: Option<PathBuf>,
    /// Whether that apply removes what the file does not name.
    apply_prune: Option<bool>,
    /// Memory for recent stored Responses-API responses, e.g. `64MiB`.
    responses_cache: Option<toml::Value>,
    /// The Redis server holding rate limits shared across replicas.
    redis_url: Option<String>,
    /// Longest a request waits for Redis before using local limits.
    redis_timeout: Option<String>,
}

/// Values given on the command line. `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--db`: parsed with the other settings (so a bad value is reported
    /// like one, with any password masked).
    pub db: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub allow_anonymous: Option<bool>,
    pub max_body: Option<u64>,
    pub log_retention_days: Option<u32>,
    pub shutdown_timeout: Option<Duration>,
    /// `--admin-key-file PATH`.
    pub admin_key_file: Option<PathBuf>,
    pub upstream_max_body: Option<u64>,
    /// `serve --apply FILE` / `--apply-prune`.
    pub apply: Option<PathBuf>,
    pub apply_prune: Option<bool>,
    /// `--redis-url` (serve, doctor): parsed with the other settings.
    pub redis_url: Option<String>,
}

/// The config file that was considered.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub source: Source,
    pub loaded: bool,
}

/// Effective settings, each with its source.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_file: Option<ConfigFile>,
    pub db: Sourced<crate::db::DbLocation>,
    pub listen: Sourced<String>,
    pub allow_anonymous: Sourced<bool>,
    pub max_body: Sourced<u64>,
    pub log_retention_days: Sourced<u32>,
    pub shutdown_timeout: Sourced<Duration>,
    pub circuit_failures: Sourced<u32>,
    pub circuit_cooldown: Sourced<Duration>,
    /// The key `/admin` requests must present; `None` (source default) means
    /// the admin API and UI are off. There is never a default key.
    pub admin_key: Sourced<Option<Secret>>,
    /// Largest non-stream upstream answer read; a larger one is a 502.
    pub upstream_max_body: Sourced<u64>,
    /// Longest a request body may take to arrive (408 after it).
    pub request_body_timeout: Sourced<Duration>,
    /// Bytes per second a request body must average after its first
    /// seconds (408 below it); 0 for no minimum.
    pub request_body_min_rate: Sourced<u64>,
    /// Peers whose `X-Forwarded-For` is believed for the client's address.
    pub trusted_proxies: Sourced<TrustedProxies>,
    /// The catalog file `llmo serve` applies at start and re-applies when
    /// its content changes (`None`: none).
    pub apply: Sourced<Option<PathBuf>>,
    /// Whether that apply prunes what the file does not name.
    pub apply_prune: Sourced<bool>,
    /// Bytes of recent stored Responses-API responses kept in memory (0:
    /// none; every lookup then reads the database).
    pub responses_cache: Sourced<u64>,
    /// Where client-key and provider rate limits are shared across
    /// replicas (`None`: each replica counts its own traffic).
    pub redis_url: Sourced<Option<redis_url::RedisUrl>>,
    /// Longest a rate-limit check waits for Redis before it falls back to
    /// the replica's own count.
    pub redis_timeout: Sourced<Duration>,
}

/// The platform default paths (e.g. `~/.local/share/llmo/llmo.db` and
/// `~/.config/llmo/llmo.toml` on Linux).
pub(crate) fn default_db_path() -> Result<PathBuf, ConfigError> {
    let dirs = directories::ProjectDirs::from("", "", "llmo").ok_or(ConfigError::NoHome)?;
    Ok(dirs.data_dir().join("llmo.db"))
}

fn default_config_path() -> Result<PathBuf, ConfigError> {
    let dirs = directories::ProjectDirs::from("", "", "llmo").ok_or(ConfigError::NoHome)?;
    Ok(dirs.config_dir().join("llmo.toml"))
}

/// Reads environment variables; a trait so tests can pass a map.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

impl Settings {
    /// Resolves settings from the process environment.
    pub fn resolve(flags: &Overrides) -> Result<Settings, ConfigError> {
        Self::resolve_with(flags, &ProcessEnv)
    }

    /// Resolves settings with the given environment (tests pass a map): the
    /// config file first, then every row of [`SETTINGS`] in order, so the
    /// first broken setting is the one reported.
    pub fn resolve_with(flags: &Overrides, env: &dyn Env) -> Result<Settings, ConfigError> {
        let (config_file, file) = load_config_file(flags, env)?;
        let file_path = config_file
            .as_ref()
            .map(|c| c.path.clone())
            .unwrap_or_default();
        let input = table::Input {
            flags,
            env,
            file: &file,
            file_path: &file_path,
        };
        let mut settings = Settings::unresolved(config_file);
        for def in SETTINGS {
            def.resolve(&input, &mut settings)?;
        }
        Ok(settings)
    }

    /// Every field at its type's zero value with source `Default`, for
    /// [`Settings::resolve_with`] to overwrite row by row.
    fn unresolved(config_file: Option<ConfigFile>) -> Settings {
        fn unset<T: Default>() -> Sourced<T> {
            Sourced {
                value: T::default(),
                source: Source::Default,
            }
        }
        Settings {
            config_file,
            db: unset(),
            listen: unset(),
            allow_anonymous: unset(),
            max_body: unset(),
            log_retention_days: unset(),
            shutdown_timeout: unset(),
            circuit_failures: unset(),
            circuit_cooldown: unset(),
            admin_key: unset(),
            upstream_max_body: unset(),
            request_body_timeout: unset(),
            request_body_min_rate: unset(),
            trusted_proxies: unset(),
            apply: unset(),
            apply_prune: unset(),
            responses_cache: unset(),
            redis_url: unset(),
            redis_timeout: unset(),
        }
    }

    /// `(name, value, source)` for every setting, in table order, for
    /// `doctor` and tests. Secrets are masked.
    pub fn effective(&self) -> Vec<(&'static str, String, Source)> {
        self.effective_rows()
            .map(|(def, value, source)| (def.name, value, source))
            .collect()
    }

    /// [`Settings::effective`] with each setting's table row.
    pub(crate) fn effective_rows(
        &self,
    ) -> impl Iterator<Item = (&'static SettingDef, String, Source)> + '_ {
        SETTINGS.iter().filter_map(|def| {
            let (value, source) = def.show(self)?;
            Some((def, value, source))
        })
    }
}

/// Which config file (`--config`, then `LLMO_CONFIG`, then the default
/// location), and its contents. Only the default may be missing.
fn load_config_file(
    flags: &Overrides,
    env: &dyn Env,
) -> Result<(Option<ConfigFile>, FileConfig), ConfigError> {
    let (path, source) = if let Some(p) = &flags.config {
        (Some(p.clone()), Source::Flag)
    } else if let Some(p) = table::CONFIG.env_value(env).filter(|p| !p.is_empty()) {
        (Some(PathBuf::from(p)), Source::Env)
    } else {
        (default_config_path().ok(), Source::Default)
    };
    let Some(path) = path else {
        return Ok((None, FileConfig::default()));
    };
    let (file, loaded) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let file = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.clone(),
                message: e.message().to_string(),
            })?;
            (file, true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if source != Source::Default {
                return Err(ConfigError::FileMissing(path));
            }
            (FileConfig::default(), false)
        }
        Err(error) => return Err(ConfigError::FileUnreadable { path, error }),
    };
    let config_file = ConfigFile {
        path,
        source,
        loaded,
    };
    Ok((Some(config_file), file))
}

/// Checks an admin key's shape; the error says what is wrong, never the key.
pub(crate) fn check_admin_key(raw: &str) -> Result<Secret, String> {
    let k = raw.trim();
    if k.is_empty() {
        return Err("is empty".into());
    }
    if k.chars().count() < MIN_ADMIN_KEY_LEN {
        return Err(format!(
            "is too short ({} characters; at least {MIN_ADMIN_KEY_LEN}); make one with `llmo admin-key generate`",
            k.chars().count()
        ));
    }
    if !k.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces (it travels in an HTTP header)".into());
    }
    Ok(Secret::new(k))
}

/// An I/O error's sentence without the `(os error N)` tail.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.split_once(" (os error") {
        Some((reason, _)) => reason.to_string(),
        None => s,
    }
}

fn read_admin_key_file(path: &Path) -> Result<Secret, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {}", io_reason(&e)))?;
    check_admin_key(&text).map_err(|e| format!("holds a key that {e}"))
}

/// `LLMO_*` variables set in the environment that llmo does not know (typos).
pub(crate) fn unknown_env_vars() -> Vec<String> {
    std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("LLMO_") && !KNOWN_ENV.contains(&k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("llmo.toml");
        std::fs::write(
            &cfg,
            "listen = \"127.0.0.1:1111\"\nmax_body = \"1MiB\"\nlog_retention_days = 7\n",
        )
        .unwrap();
        let mut flags = Overrides {
            config: Some(cfg.clone()),
            db: Some(dir.path().join("x.db")),
            ..Default::default()
        };
        let e = env(&[
            ("LLMO_LISTEN", "127.0.0.1:2222"),
            ("LLMO_LOG_RETENTION_DAYS", "9"),
        ]);
        let s = Settings::resolve_with(&flags, &e).unwrap();
        assert_eq!(s.listen.value, "127.0.0.1:2222");
        assert_eq!(s.listen.source, Source::Env);
        assert_eq!(s.max_body.value, 1024 * 1024);
        assert_eq!(s.max_body.source, Source::File);
        assert_eq!(s.log_retention_days.value, 9);
        assert_eq!(s.shutdown_timeout.source, Source::Default);
        assert_eq!(s.db.source, Source::Flag);
        flags.listen = Some("127.0.0.1:3333".into());
        let s = Settings::resolve_with(&flags, &e).unwrap();
        assert_eq!(s.listen.value, "127.0.0.1:3333");
        assert_eq!(s.listen.source, Source::Flag);
    }

    #[test]
    fn unknown_key_and_missing_explicit_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("llmo.toml");
        std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\nlisten_addr = 3\n").unwrap();
        let flags = Overrides {
            config: Some(cfg),
            ..Default::default()
        };
        let err = Settings::resolve_with(&flags, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let flags = Overrides {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        assert!(matches!(
            Settings::resolve_with(&flags, &env(&[])),
            Err(ConfigError::FileMissing(_))
        ));
    }

    #[test]
    fn malformed_env_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Overrides {
            config: None,
            db: Some(dir.path().join("x.db")),
            ..Default::default()
        };
        let e = env(&[("LLMO_CONFIG", "/nonexistent/llmo.toml")]);
        assert!(Settings::resolve_with(&flags, &e).is_err());
        let e = env(&[("LLMO_MAX_BODY", "lots")]);
        let err = Settings::resolve_with(&flags, &e).unwrap_err().to_string();
        assert!(err.contains("LLMO_MAX_BODY"), "{err}");
    }
}

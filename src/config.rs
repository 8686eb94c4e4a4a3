//! Configuration: every setting resolved in one place with the precedence
//! flag > environment > config file > default, remembering where each value
//! came from (so `llmo doctor` can say).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
pub const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CIRCUIT_FAILURES: u32 = 5;
pub const DEFAULT_CIRCUIT_COOLDOWN: Duration = Duration::from_secs(30);

/// Every environment variable llmo reads (besides the `api_key_env` names
/// that providers point at). `llmo doctor` warns about other `LLMO_*` names.
pub const KNOWN_ENV: &[&str] = &[
    "LLMO_DB",
    "LLMO_CONFIG",
    "LLMO_LISTEN",
    "LLMO_ALLOW_ANONYMOUS",
    "LLMO_MAX_BODY",
    "LLMO_LOG_RETENTION_DAYS",
    "LLMO_SHUTDOWN_TIMEOUT",
    "LLMO_CIRCUIT_FAILURES",
    "LLMO_CIRCUIT_COOLDOWN",
    "LLMO_LOG",
    "LLMO_ADMIN_KEY",
];

/// Shortest admin key accepted: a guessable key on an API that can change
/// routing and read logs is worse than none (`llmo admin-key generate`
/// makes 54-character ones).
pub const MIN_ADMIN_KEY_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file `{0}` does not exist")]
    FileMissing(PathBuf),
    #[error("cannot read config file `{path}`: {source}")]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
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
            ConfigError::FileUnreadable { .. } => "check the file's permissions".into(),
            ConfigError::Parse { .. } | ConfigError::BadFileValue { .. } => {
                "see the Configuration section of the README for the valid keys".into()
            }
            ConfigError::BadEnv { var, .. } => format!("fix or unset `{var}`"),
            ConfigError::NoHome => "pass `--db PATH` (or set `LLMO_DB`) and `--config PATH`".into(),
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
pub struct FileConfig {
    /// Path of the SQLite database.
    pub db: Option<PathBuf>,
    /// Address `llmo serve` listens on.
    pub listen: Option<String>,
    /// Serve clients that present no key.
    pub allow_anonymous: Option<bool>,
    /// Largest accepted request body, e.g. `10MiB` or a number of bytes.
    pub max_body: Option<toml::Value>,
    /// Days of request logs to keep.
    pub log_retention_days: Option<u32>,
    /// How long shutdown waits for in-flight requests, e.g. `30s`.
    pub shutdown_timeout: Option<String>,
    /// Consecutive failures that open a provider's circuit.
    pub circuit_failures: Option<u32>,
    /// How long an open circuit stays open, e.g. `30s`.
    pub circuit_cooldown: Option<String>,
    /// The admin API key itself (prefer `admin_key_file`: this file is often
    /// world-readable).
    pub admin_key: Option<String>,
    /// A file holding the admin API key (relative paths are relative to the
    /// config file's directory).
    pub admin_key_file: Option<PathBuf>,
}

/// Values given on the command line. `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub db: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub allow_anonymous: Option<bool>,
    pub max_body: Option<u64>,
    pub log_retention_days: Option<u32>,
    pub shutdown_timeout: Option<Duration>,
    /// `--admin-key-file PATH`.
    pub admin_key_file: Option<PathBuf>,
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
    pub db: Sourced<PathBuf>,
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
}

/// The platform default paths (e.g. `~/.local/share/llmo/llmo.db` and
/// `~/.config/llmo/llmo.toml` on Linux).
pub fn default_db_path() -> Result<PathBuf, ConfigError> {
    let dirs = directories::ProjectDirs::from("", "", "llmo").ok_or(ConfigError::NoHome)?;
    Ok(dirs.data_dir().join("llmo.db"))
}

pub fn default_config_path() -> Result<PathBuf, ConfigError> {
    let dirs = directories::ProjectDirs::from("", "", "llmo").ok_or(ConfigError::NoHome)?;
    Ok(dirs.config_dir().join("llmo.toml"))
}

/// Parses a size: `10MiB`, `512KiB`, `1MB`, `2048` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. `10MiB` or a number of bytes"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB or GiB"
            ))
        }
    };
    let v = n.saturating_mul(mult);
    if v == 0 {
        return Err("size must be greater than 0".into());
    }
    Ok(v)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a non-negative whole number"))
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = crate::time::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than 0".into());
    }
    Ok(d)
}

/// Reads environment variables; a trait so tests can pass a map.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

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

/// Resolves one setting: flag, then env (parsed), then file (parsed), then default.
fn pick<T>(
    flag: Option<T>,
    env: &dyn Env,
    var: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    file: Option<Result<T, (&'static str, String)>>,
    file_path: &Path,
    default: impl FnOnce() -> T,
) -> Result<Sourced<T>, ConfigError> {
    if let Some(value) = flag {
        return Ok(Sourced {
            value,
            source: Source::Flag,
        });
    }
    if let Some(raw) = env.get(var) {
        let value = parse(&raw).map_err(|message| ConfigError::BadEnv {
            var: var.to_string(),
            value: raw.clone(),
            message,
        })?;
        return Ok(Sourced {
            value,
            source: Source::Env,
        });
    }
    match file {
        Some(Ok(value)) => Ok(Sourced {
            value,
            source: Source::File,
        }),
        Some(Err((key, message))) => Err(ConfigError::BadFileValue {
            key,
            path: file_path.to_path_buf(),
            message,
        }),
        None => Ok(Sourced {
            value: default(),
            source: Source::Default,
        }),
    }
}

fn file_str<T>(
    key: &'static str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Result<T, (&'static str, String)>> {
    v.as_deref().map(|s| parse(s).map_err(|e| (key, e)))
}

impl Settings {
    /// Resolves settings from the process environment.
    pub fn resolve(flags: &Overrides) -> Result<Settings, ConfigError> {
        Self::resolve_with(flags, &ProcessEnv)
    }

    /// Resolves settings with the given environment (tests pass a map).
    pub fn resolve_with(flags: &Overrides, env: &dyn Env) -> Result<Settings, ConfigError> {
        // Which config file, and is it required to exist?
        let (config_path, config_source) = if let Some(p) = &flags.config {
            (Some(p.clone()), Source::Flag)
        } else if let Some(p) = env.get("LLMO_CONFIG").filter(|p| !p.is_empty()) {
            (Some(PathBuf::from(p)), Source::Env)
        } else {
            (default_config_path().ok(), Source::Default)
        };
        let mut file = FileConfig::default();
        let config_file = match config_path {
            Some(path) => {
                let loaded = match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        file = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                            path: path.clone(),
                            message: e.message().to_string(),
                        })?;
                        true
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if config_source != Source::Default {
                            return Err(ConfigError::FileMissing(path));
                        }
                        false
                    }
                    Err(source) => return Err(ConfigError::FileUnreadable { path, source }),
                };
                Some(ConfigFile {
                    path,
                    source: config_source,
                    loaded,
                })
            }
            None => None,
        };
        let fp = config_file
            .as_ref()
            .map(|c| c.path.clone())
            .unwrap_or_default();

        let db = pick(
            flags.db.clone(),
            env,
            "LLMO_DB",
            |s| {
                if s.is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(s))
                }
            },
            file.db.clone().map(Ok),
            &fp,
            PathBuf::new,
        )?;
        let db = if db.source == Source::Default {
            Sourced {
                value: default_db_path()?,
                source: Source::Default,
            }
        } else {
            db
        };
        let listen = pick(
            flags.listen.clone(),
            env,
            "LLMO_LISTEN",
            parse_listen,
            file_str("listen", &file.listen, parse_listen),
            &fp,
            || DEFAULT_LISTEN.to_string(),
        )?;
        let allow_anonymous = pick(
            flags.allow_anonymous.filter(|b| *b),
            env,
            "LLMO_ALLOW_ANONYMOUS",
            parse_bool,
            file.allow_anonymous.map(Ok),
            &fp,
            || false,
        )?;
        let max_body_file = file.max_body.as_ref().map(|v| match v {
            toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
            toml::Value::String(s) => parse_size(s).map_err(|e| ("max_body", e)),
            _ => Err((
                "max_body",
                "expected a size such as \"10MiB\" or a positive number of bytes".to_string(),
            )),
        });
        let max_body = pick(
            flags.max_body,
            env,
            "LLMO_MAX_BODY",
            parse_size,
            max_body_file,
            &fp,
            || DEFAULT_MAX_BODY,
        )?;
        let log_retention_days = pick(
            flags.log_retention_days,
            env,
            "LLMO_LOG_RETENTION_DAYS",
            parse_u32,
            file.log_retention_days.map(Ok),
            &fp,
            || DEFAULT_LOG_RETENTION_DAYS,
        )?;
        let shutdown_timeout = pick(
            flags.shutdown_timeout,
            env,
            "LLMO_SHUTDOWN_TIMEOUT",
            crate::time::parse_duration,
            file_str(
                "shutdown_timeout",
                &file.shutdown_timeout,
                crate::time::parse_duration,
            ),
            &fp,
            || DEFAULT_SHUTDOWN_TIMEOUT,
        )?;
        let circuit_failures = pick(
            None,
            env,
            "LLMO_CIRCUIT_FAILURES",
            |s| match parse_u32(s)? {
                0 => Err("must be at least 1".into()),
                n => Ok(n),
            },
            file.circuit_failures.map(|n| {
                if n == 0 {
                    Err(("circuit_failures", "must be at least 1".to_string()))
                } else {
                    Ok(n)
                }
            }),
            &fp,
            || DEFAULT_CIRCUIT_FAILURES,
        )?;
        let circuit_cooldown = pick(
            None,
            env,
            "LLMO_CIRCUIT_COOLDOWN",
            parse_positive_duration,
            file_str(
                "circuit_cooldown",
                &file.circuit_cooldown,
                parse_positive_duration,
            ),
            &fp,
            || DEFAULT_CIRCUIT_COOLDOWN,
        )?;
        let admin_key = resolve_admin_key(flags, env, &file, &fp)?;
        Ok(Settings {
            config_file,
            admin_key,
            db,
            listen,
            allow_anonymous,
            max_body,
            log_retention_days,
            shutdown_timeout,
            circuit_failures,
            circuit_cooldown,
        })
    }

    /// `(name, value, source)` for every setting, for `doctor` and tests.
    pub fn effective(&self) -> Vec<(&'static str, String, Source)> {
        vec![
            ("db", self.db.value.display().to_string(), self.db.source),
            ("listen", self.listen.value.clone(), self.listen.source),
            (
                "allow_anonymous",
                self.allow_anonymous.value.to_string(),
                self.allow_anonymous.source,
            ),
            (
                "max_body",
                self.max_body.value.to_string(),
                self.max_body.source,
            ),
            (
                "log_retention_days",
                self.log_retention_days.value.to_string(),
                self.log_retention_days.source,
            ),
            (
                "shutdown_timeout",
                crate::time::format_ms(self.shutdown_timeout.value.as_millis() as i64),
                self.shutdown_timeout.source,
            ),
            (
                "circuit_failures",
                self.circuit_failures.value.to_string(),
                self.circuit_failures.source,
            ),
            (
                "circuit_cooldown",
                crate::time::format_ms(self.circuit_cooldown.value.as_millis() as i64),
                self.circuit_cooldown.source,
            ),
            (
                "admin_key",
                match &self.admin_key.value {
                    Some(k) => k.masked(),
                    None => "none (admin API and UI off)".to_string(),
                },
                self.admin_key.source,
            ),
        ]
    }
}

/// Checks an admin key's shape; the error says what is wrong, never the key.
pub fn check_admin_key(raw: &str) -> Result<Secret, String> {
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

fn read_admin_key_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    check_admin_key(&text).map_err(|e| format!("holds a key that {e}"))
}

/// The admin key: `--admin-key-file`, then `LLMO_ADMIN_KEY`, then the config
/// file's `admin_key_file` or `admin_key` (not both), else none.
fn resolve_admin_key(
    flags: &Overrides,
    env: &dyn Env,
    file: &FileConfig,
    file_path: &Path,
) -> Result<Sourced<Option<Secret>>, ConfigError> {
    if let Some(p) = &flags.admin_key_file {
        let key = read_admin_key_file(p).map_err(|message| ConfigError::AdminKeyFile {
            path: p.clone(),
            message,
        })?;
        return Ok(Sourced {
            value: Some(key),
            source: Source::Flag,
        });
    }
    if let Some(v) = env.get("LLMO_ADMIN_KEY").filter(|v| !v.is_empty()) {
        let key = check_admin_key(&v).map_err(|message| ConfigError::BadEnv {
            var: "LLMO_ADMIN_KEY".into(),
            // Never echo a secret, even a malformed one.
            value: crate::secret::mask(&v),
            message: format!("the key {message}"),
        })?;
        return Ok(Sourced {
            value: Some(key),
            source: Source::Env,
        });
    }
    let bad = |key: &'static str, message: String| ConfigError::BadFileValue {
        key,
        path: file_path.to_path_buf(),
        message,
    };
    let value = match (&file.admin_key, &file.admin_key_file) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "admin_key",
                "set `admin_key` or `admin_key_file`, not both".into(),
            ))
        }
        (Some(k), None) => {
            Some(check_admin_key(k).map_err(|m| bad("admin_key", format!("the key {m}")))?)
        }
        (None, Some(p)) => {
            let p = if p.is_relative() {
                file_path
                    .parent()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|| p.clone())
            } else {
                p.clone()
            };
            Some(
                read_admin_key_file(&p)
                    .map_err(|m| bad("admin_key_file", format!("`{}` {m}", p.display())))?,
            )
        }
        (None, None) => None,
    };
    Ok(Sourced {
        source: if value.is_some() {
            Source::File
        } else {
            Source::Default
        },
        value,
    })
}

fn parse_listen(s: &str) -> Result<String, String> {
    s.parse::<std::net::SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| {
            format!("`{s}` is not an address; write e.g. `127.0.0.1:8000` or `0.0.0.0:8000`")
        })
}

/// `LLMO_*` variables set in the environment that llmo does not know (typos).
pub fn unknown_env_vars() -> Vec<String> {
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

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("0").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}

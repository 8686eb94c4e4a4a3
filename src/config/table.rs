//! The settings table: one row per setting (and per variable llmo reads),
//! naming its config-file key, environment variable, command-line flag,
//! parser and default. Resolution ([`super::Settings::resolve_with`]), the
//! `effective` listing, the unknown-`LLMO_*` check and doctor's config
//! section all read this one table, so a new setting is one row here plus
//! its field in [`Settings`] (and in [`FileConfig`] / [`Overrides`] when the
//! file or a flag can set it).
use std::path::Path;
use std::time::Duration;

use super::location::DbLocation;
use super::redis_url::RedisUrl;

use super::parse::{
    at_least_one, parse_bool, parse_count, parse_file_size, parse_listen, parse_positive_duration,
    parse_proxy_list, parse_rate, parse_size, parse_trusted_proxies, parse_u32, TrustedProxies,
};
use super::{
    check_admin_key, default_db_path, read_admin_key_file, ConfigError, Env, FileConfig, Overrides,
    Settings, Source, Sourced, DEFAULT_CIRCUIT_COOLDOWN, DEFAULT_CIRCUIT_FAILURES, DEFAULT_LISTEN,
    DEFAULT_LOG_RETENTION_DAYS, DEFAULT_MAX_BODY, DEFAULT_REQUEST_BODY_MIN_RATE,
    DEFAULT_REQUEST_BODY_TIMEOUT, DEFAULT_RESPONSES_CACHE, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_UPSTREAM_MAX_BODY,
};
use crate::secret::{mask, Secret};

/// One row of [`SETTINGS`].
pub(crate) struct SettingDef {
    /// The name `effective`, doctor and error messages use.
    pub(crate) name: &'static str,
    /// Its key in the config file, when the file can set it.
    pub(crate) file_key: Option<&'static str>,
    pub(crate) env: &'static str,
    /// Its command-line flag without the dashes, when there is one.
    pub(crate) flag: Option<&'static str>,
    /// A secret is never echoed, not even when malformed, and an empty
    /// variable counts as unset (`LLMO_ADMIN_KEY=` in a compose file means
    /// "no key", not "a bad key").
    pub(crate) secret: bool,
    /// How the value is parsed, defaulted and stored; `None` for the
    /// variables that choose something other than a setting (the config
    /// file, the log filter).
    value: Option<&'static dyn Value>,
}

/// Where a setting's value can come from, and where it goes.
struct Spec<T: 'static> {
    /// Parses the environment variable.
    parse: fn(&str) -> Result<T, String>,
    /// The command-line value (`None`: not given).
    flag: fn(&Overrides) -> Result<Option<T>, ConfigError>,
    /// The config file's value, parsed; an error names the offending key.
    /// The path is the config file's (relative paths in it start there).
    file: fn(&FileConfig, &Path) -> FileValue<T>,
    default: fn() -> Result<T, ConfigError>,
    /// How `effective` shows the value (secrets masked).
    show: fn(&T) -> String,
    /// The field of [`Settings`] that holds the value.
    get: fn(&Settings) -> &Sourced<T>,
    set: fn(&mut Settings, Sourced<T>),
}

/// A config-file value: `None` when the file does not set it, an error as
/// the offending key and what is wrong.
type FileValue<T> = Option<Result<T, (&'static str, String)>>;

/// What resolution reads besides the table.
pub(super) struct Input<'a> {
    pub(super) flags: &'a Overrides,
    pub(super) env: &'a dyn Env,
    pub(super) file: &'a FileConfig,
    pub(super) file_path: &'a Path,
}

/// A [`Spec`] with its value type erased, so one table holds them all.
trait Value {
    fn resolve(
        &self,
        def: &SettingDef,
        input: &Input,
        out: &mut Settings,
    ) -> Result<(), ConfigError>;
    fn show(&self, s: &Settings) -> (String, Source);
}

impl<T> Value for Spec<T> {
    fn resolve(
        &self,
        def: &SettingDef,
        input: &Input,
        out: &mut Settings,
    ) -> Result<(), ConfigError> {
        (self.set)(out, self.pick(def, input)?);
        Ok(())
    }

    fn show(&self, s: &Settings) -> (String, Source) {
        let v = (self.get)(s);
        ((self.show)(&v.value), v.source)
    }
}

impl<T> Spec<T> {
    /// Flag, then environment, then config file, then default.
    fn pick(&self, def: &SettingDef, input: &Input) -> Result<Sourced<T>, ConfigError> {
        let sourced = |value, source| Sourced { value, source };
        if let Some(value) = (self.flag)(input.flags)? {
            return Ok(sourced(value, Source::Flag));
        }
        if let Some(raw) = def.env_value(input.env) {
            let value = (self.parse)(&raw).map_err(|message| ConfigError::BadEnv {
                var: def.env.to_string(),
                value: if def.secret {
                    mask(&raw)
                } else {
                    super::location::mask_url(&raw)
                },
                message,
            })?;
            return Ok(sourced(value, Source::Env));
        }
        match (self.file)(input.file, input.file_path) {
            Some(Ok(value)) => Ok(sourced(value, Source::File)),
            Some(Err((key, message))) => Err(ConfigError::BadFileValue {
                key,
                path: input.file_path.to_path_buf(),
                message,
            }),
            None => Ok(sourced((self.default)()?, Source::Default)),
        }
    }
}

impl SettingDef {
    /// The variable's value, if it counts as set.
    pub(super) fn env_value(&self, env: &dyn Env) -> Option<String> {
        env.get(self.env).filter(|v| !(self.secret && v.is_empty()))
    }

    /// Resolves this row into `out`; nothing for a row that is no setting.
    pub(super) fn resolve(&self, input: &Input, out: &mut Settings) -> Result<(), ConfigError> {
        match self.value {
            Some(v) => v.resolve(self, input, out),
            None => Ok(()),
        }
    }

    /// The effective value as text and its source.
    pub(super) fn show(&self, s: &Settings) -> Option<(String, Source)> {
        self.value.map(|v| v.show(s))
    }
}

/// A string from the config file, parsed with the setting's parser.
fn file_str<T>(
    key: &'static str,
    v: &Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> FileValue<T> {
    v.as_deref().map(|s| parse(s).map_err(|e| (key, e)))
}

fn show_duration(d: &Duration) -> String {
    crate::time::format_ms(d.as_millis() as i64)
}

/// `LLMO_CONFIG` / `--config`: which config file (see `resolve_with`).
pub(crate) const CONFIG: SettingDef = SettingDef {
    name: "config",
    file_key: None,
    env: "LLMO_CONFIG",
    flag: Some("config"),
    // An empty `LLMO_CONFIG` means the default file.
    secret: false,
    value: None,
};

/// `LLMO_DB` / `--db`: the database, an SQLite file or a PostgreSQL URL
/// (doctor inspects it).
pub(crate) const DB: SettingDef = SettingDef {
    name: "db",
    file_key: Some("db"),
    env: "LLMO_DB",
    flag: Some("db"),
    secret: false,
    value: Some(&Spec {
        parse: DbLocation::parse,
        flag: |o| {
            let bad = |message| ConfigError::BadFlag {
                flag: "--db",
                message,
            };
            o.db.as_deref()
                .map(|p| DbLocation::from_path(p).map_err(bad))
                .transpose()
        },
        file: |f, _| {
            f.db.as_deref()
                .map(|p| DbLocation::from_path(p).map_err(|e| ("db", e)))
        },
        default: || default_db_path().map(DbLocation::Sqlite),
        show: DbLocation::to_string,
        get: |s| &s.db,
        set: |s, v| s.db = v,
    }),
};

/// `LLMO_LISTEN` / `--listen`: the address `llmo serve` binds (doctor tries it).
pub(crate) const LISTEN: SettingDef = SettingDef {
    name: "listen",
    file_key: Some("listen"),
    env: "LLMO_LISTEN",
    flag: Some("listen"),
    secret: false,
    value: Some(&Spec {
        parse: parse_listen,
        flag: |o| Ok(o.listen.clone()),
        file: |f, _| file_str("listen", &f.listen, parse_listen),
        default: || Ok(DEFAULT_LISTEN.to_string()),
        show: String::clone,
        get: |s| &s.listen,
        set: |s, v| s.listen = v,
    }),
};

/// Every setting, in the order `effective` lists them, and every other
/// environment variable llmo reads (besides the `api_key_env` names that
/// providers point at), in the order messages list them.
pub(crate) const SETTINGS: &[SettingDef] = &[
    DB,
    CONFIG,
    LISTEN,
    SettingDef {
        name: "allow_anonymous",
        file_key: Some("allow_anonymous"),
        env: "LLMO_ALLOW_ANONYMOUS",
        flag: Some("allow-anonymous"),
        secret: false,
        value: Some(&Spec {
            parse: parse_bool,
            // A switch: absent means "not given", never "false".
            flag: |o| Ok(o.allow_anonymous.filter(|b| *b)),
            file: |f, _| f.allow_anonymous.map(Ok),
            default: || Ok(false),
            show: bool::to_string,
            get: |s| &s.allow_anonymous,
            set: |s, v| s.allow_anonymous = v,
        }),
    },
    SettingDef {
        name: "max_body",
        file_key: Some("max_body"),
        env: "LLMO_MAX_BODY",
        flag: Some("max-body"),
        secret: false,
        value: Some(&Spec {
            parse: parse_size,
            flag: |o| Ok(o.max_body),
            file: |f, _| {
                let v = f.max_body.as_ref()?;
                Some(parse_file_size(v).map_err(|e| ("max_body", e)))
            },
            default: || Ok(DEFAULT_MAX_BODY),
            show: u64::to_string,
            get: |s| &s.max_body,
            set: |s, v| s.max_body = v,
        }),
    },
    SettingDef {
        name: "log_retention_days",
        file_key: Some("log_retention_days"),
        env: "LLMO_LOG_RETENTION_DAYS",
        // `--log-retention` is the flag's main name; doctor has always
        // named this alias, which reads like the setting.
        flag: Some("log-retention-days"),
        secret: false,
        value: Some(&Spec {
            parse: parse_u32,
            flag: |o| Ok(o.log_retention_days),
            file: |f, _| f.log_retention_days.map(Ok),
            default: || Ok(DEFAULT_LOG_RETENTION_DAYS),
            show: u32::to_string,
            get: |s| &s.log_retention_days,
            set: |s, v| s.log_retention_days = v,
        }),
    },
    SettingDef {
        name: "shutdown_timeout",
        file_key: Some("shutdown_timeout"),
        env: "LLMO_SHUTDOWN_TIMEOUT",
        flag: Some("shutdown-timeout"),
        secret: false,
        value: Some(&Spec {
            parse: crate::time::parse_duration,
            flag: |o| Ok(o.shutdown_timeout),
            file: |f, _| {
                file_str(
                    "shutdown_timeout",
                    &f.shutdown_timeout,
                    crate::time::parse_duration,
                )
            },
            default: || Ok(DEFAULT_SHUTDOWN_TIMEOUT),
            show: show_duration,
            get: |s| &s.shutdown_timeout,
            set: |s, v| s.shutdown_timeout = v,
        }),
    },
    SettingDef {
        name: "circuit_failures",
        file_key: Some("circuit_failures"),
        env: "LLMO_CIRCUIT_FAILURES",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_count,
            flag: |_| Ok(None),
            file: |f, _| {
                let n = f.circuit_failures?;
                Some(at_least_one(n).map_err(|e| ("circuit_failures", e)))
            },
            default: || Ok(DEFAULT_CIRCUIT_FAILURES),
            show: u32::to_string,
            get: |s| &s.circuit_failures,
            set: |s, v| s.circuit_failures = v,
        }),
    },
    SettingDef {
        name: "circuit_cooldown",
        file_key: Some("circuit_cooldown"),
        env: "LLMO_CIRCUIT_COOLDOWN",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_positive_duration,
            flag: |_| Ok(None),
            file: |f, _| {
                file_str(
                    "circuit_cooldown",
                    &f.circuit_cooldown,
                    parse_positive_duration,
                )
            },
            default: || Ok(DEFAULT_CIRCUIT_COOLDOWN),
            show: show_duration,
            get: |s| &s.circuit_cooldown,
            set: |s, v| s.circuit_cooldown = v,
        }),
    },
    // The tracing filter, read by `cli::init_tracing` before anything else.
    SettingDef {
        name: "log",
        file_key: None,
        env: "LLMO_LOG",
        flag: None,
        secret: false,
        value: None,
    },
    SettingDef {
        name: "admin_key",
        file_key: Some("admin_key"),
        env: "LLMO_ADMIN_KEY",
        flag: Some("admin-key-file"),
        secret: true,
        value: Some(&Spec {
            parse: |s| {
                check_admin_key(s)
                    .map(Some)
                    .map_err(|m| format!("the key {m}"))
            },
            flag: |o| {
                let Some(p) = &o.admin_key_file else {
                    return Ok(None);
                };
                let key = read_admin_key_file(p).map_err(|message| ConfigError::AdminKeyFile {
                    path: p.clone(),
                    message,
                })?;
                Ok(Some(Some(key)))
            },
            file: file_admin_key,
            // There is never a default key: without one the admin API is off.
            default: || Ok(None),
            show: |k| match k {
                Some(k) => k.masked(),
                None => "none (admin API and UI off)".to_string(),
            },
            get: |s| &s.admin_key,
            set: |s, v| s.admin_key = v,
        }),
    },
    SettingDef {
        name: "upstream_max_body",
        file_key: Some("upstream_max_body"),
        env: "LLMO_UPSTREAM_MAX_BODY",
        flag: Some("upstream-max-body"),
        secret: false,
        value: Some(&Spec {
            parse: parse_size,
            flag: |o| Ok(o.upstream_max_body),
            file: |f, _| {
                let v = f.upstream_max_body.as_ref()?;
                Some(parse_file_size(v).map_err(|e| ("upstream_max_body", e)))
            },
            default: || Ok(DEFAULT_UPSTREAM_MAX_BODY),
            show: u64::to_string,
            get: |s| &s.upstream_max_body,
            set: |s, v| s.upstream_max_body = v,
        }),
    },
    // The client-facing edges: slow bodies and the client's address.
    SettingDef {
        name: "request_body_timeout",
        file_key: Some("request_body_timeout"),
        env: "LLMO_REQUEST_BODY_TIMEOUT",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_positive_duration,
            flag: |_| Ok(None),
            file: |f, _| {
                file_str(
                    "request_body_timeout",
                    &f.request_body_timeout,
                    parse_positive_duration,
                )
            },
            default: || Ok(DEFAULT_REQUEST_BODY_TIMEOUT),
            show: show_duration,
            get: |s| &s.request_body_timeout,
            set: |s, v| s.request_body_timeout = v,
        }),
    },
    SettingDef {
        name: "request_body_min_rate",
        file_key: Some("request_body_min_rate"),
        env: "LLMO_REQUEST_BODY_MIN_RATE",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_rate,
            flag: |_| Ok(None),
            file: |f, _| f.request_body_min_rate.map(Ok),
            default: || Ok(DEFAULT_REQUEST_BODY_MIN_RATE),
            show: |r| format!("{r} bytes/s"),
            get: |s| &s.request_body_min_rate,
            set: |s, v| s.request_body_min_rate = v,
        }),
    },
    SettingDef {
        name: "trusted_proxies",
        file_key: Some("trusted_proxies"),
        env: "LLMO_TRUSTED_PROXIES",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_trusted_proxies,
            flag: |_| Ok(None),
            file: file_trusted_proxies,
            default: || Ok(TrustedProxies::default()),
            show: TrustedProxies::to_string,
            get: |s| &s.trusted_proxies,
            set: |s, v| s.trusted_proxies = v,
        }),
    },
    // Configuration as code (`llmo serve --apply`): the catalog file applied
    // at start and whenever it changes, and whether that prunes.
    SettingDef {
        name: "apply",
        file_key: Some("apply"),
        env: "LLMO_APPLY",
        flag: Some("apply"),
        secret: false,
        value: Some(&Spec {
            parse: |v| Ok(Some(std::path::PathBuf::from(v))),
            flag: |o| Ok(o.apply.clone().map(Some)),
            file: |f, cfg| {
                let p = f.apply.as_ref()?;
                let dir = cfg.parent().unwrap_or(Path::new(""));
                Some(Ok(Some(dir.join(p))))
            },
            default: || Ok(None),
            show: |p| {
                p.as_ref()
                    .map_or_else(|| "none".into(), |p| p.display().to_string())
            },
            get: |s| &s.apply,
            set: |s, v| s.apply = v,
        }),
    },
    SettingDef {
        name: "apply_prune",
        file_key: Some("apply_prune"),
        env: "LLMO_APPLY_PRUNE",
        flag: Some("apply-prune"),
        secret: false,
        value: Some(&Spec {
            parse: parse_bool,
            flag: |o| Ok(o.apply_prune.filter(|b| *b)),
            file: |f, _| f.apply_prune.map(Ok),
            default: || Ok(false),
            show: bool::to_string,
            get: |s| &s.apply_prune,
            set: |s, v| s.apply_prune = v,
        }),
    },
    // The log line format (text | json), read by `cli::init_tracing` before
    // anything else, like `LLMO_LOG` (so not from the config file).
    SettingDef {
        name: "log_format",
        file_key: None,
        env: "LLMO_LOG_FORMAT",
        flag: Some("log-format"),
        secret: false,
        value: None,
    },
    // The Responses API's in-memory map of recent stored responses
    // (`gateway::responses_state`): bytes it may hold.
    SettingDef {
        name: "responses_cache",
        file_key: Some("responses_cache"),
        env: "LLMO_RESPONSES_CACHE",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_size,
            flag: |_| Ok(None),
            file: |f, _| {
                let v = f.responses_cache.as_ref()?;
                Some(parse_file_size(v).map_err(|e| ("responses_cache", e)))
            },
            default: || Ok(DEFAULT_RESPONSES_CACHE),
            show: u64::to_string,
            get: |s| &s.responses_cache,
            set: |s, v| s.responses_cache = v,
        }),
    },
    // Rate limits shared across replicas (`gateway::shared_limits`).
    SettingDef {
        name: "redis_url",
        file_key: Some("redis_url"),
        env: "LLMO_REDIS_URL",
        flag: Some("redis-url"),
        // Not a secret row (a URL without a password is worth showing);
        // every display goes through `RedisUrl`'s masking `Display`.
        secret: false,
        value: Some(&Spec {
            parse: |v| RedisUrl::parse(v).map(Some),
            flag: |o| {
                o.redis_url
                    .as_deref()
                    .map(|v| {
                        RedisUrl::parse(v)
                            .map(Some)
                            .map_err(|message| ConfigError::BadFlag {
                                flag: "--redis-url",
                                message,
                            })
                    })
                    .transpose()
            },
            file: |f, _| file_str("redis_url", &f.redis_url, |v| RedisUrl::parse(v).map(Some)),
            default: || Ok(None),
            show: |u| {
                u.as_ref().map_or_else(
                    || "none (rate limits per replica)".into(),
                    RedisUrl::to_string,
                )
            },
            get: |s| &s.redis_url,
            set: |s, v| s.redis_url = v,
        }),
    },
    SettingDef {
        name: "redis_timeout",
        file_key: Some("redis_timeout"),
        env: "LLMO_REDIS_TIMEOUT",
        flag: None,
        secret: false,
        value: Some(&Spec {
            parse: parse_positive_duration,
            flag: |_| Ok(None),
            file: |f, _| file_str("redis_timeout", &f.redis_timeout, parse_positive_duration),
            default: || Ok(super::DEFAULT_REDIS_TIMEOUT),
            show: show_duration,
            get: |s| &s.redis_timeout,
            set: |s, v| s.redis_timeout = v,
        }),
    },
];

/// The config file's `trusted_proxies`: a list of strings, or one string.
fn file_trusted_proxies(f: &FileConfig, _: &Path) -> FileValue<TrustedProxies> {
    let key = "trusted_proxies";
    Some(match f.trusted_proxies.as_ref()? {
        toml::Value::String(s) => parse_trusted_proxies(s).map_err(|e| (key, e)),
        toml::Value::Array(items) => {
            let strs: Option<Vec<&str>> = items.iter().map(toml::Value::as_str).collect();
            match strs {
                Some(v) => parse_proxy_list(&v).map_err(|e| (key, e)),
                None => Err((
                    key,
                    "expected a list of addresses such as [\"10.0.0.1\", \"10.0.0.0/8\"]".into(),
                )),
            }
        }
        _ => Err((
            key,
            "expected a list of addresses such as [\"10.0.0.1\", \"10.0.0.0/8\"]".into(),
        )),
    })
}

/// The config file's `admin_key` or `admin_key_file` (not both); a relative
/// `admin_key_file` is relative to the config file's directory.
fn file_admin_key(f: &FileConfig, file_path: &Path) -> FileValue<Option<Secret>> {
    Some(match (&f.admin_key, &f.admin_key_file) {
        (Some(_), Some(_)) => Err((
            "admin_key",
            "set `admin_key` or `admin_key_file`, not both".into(),
        )),
        (Some(k), None) => check_admin_key(k)
            .map(Some)
            .map_err(|m| ("admin_key", format!("the key {m}"))),
        (None, Some(p)) => {
            let p = if p.is_relative() {
                file_path
                    .parent()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|| p.clone())
            } else {
                p.clone()
            };
            read_admin_key_file(&p)
                .map(Some)
                .map_err(|m| ("admin_key_file", format!("`{}` {m}", p.display())))
        }
        (None, None) => return None,
    })
}

const KNOWN_ENV_ARRAY: [&str; SETTINGS.len()] = {
    let mut vars = [""; SETTINGS.len()];
    let mut i = 0;
    while i < SETTINGS.len() {
        vars[i] = SETTINGS[i].env;
        i += 1;
    }
    vars
};

/// Every environment variable llmo reads (besides the `api_key_env` names
/// that providers point at), from [`SETTINGS`]. `llmo doctor` warns about
/// other `LLMO_*` names.
pub const KNOWN_ENV: &[&str] = &KNOWN_ENV_ARRAY;

/// The row of an environment variable.
pub(crate) fn setting_for_env(var: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.env == var)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use clap::CommandFactory;

    use super::*;

    fn setting(name: &str) -> Option<&'static SettingDef> {
        SETTINGS.iter().find(|d| d.name == name)
    }

    #[test]
    fn names_and_variables_are_unique_and_in_message_order() {
        let names: BTreeSet<_> = SETTINGS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), SETTINGS.len());
        let vars: BTreeSet<_> = KNOWN_ENV.iter().collect();
        assert_eq!(vars.len(), SETTINGS.len());
        // Doctor's messages list the variables in this order.
        assert_eq!(
            KNOWN_ENV,
            [
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
                "LLMO_UPSTREAM_MAX_BODY",
                "LLMO_REQUEST_BODY_TIMEOUT",
                "LLMO_REQUEST_BODY_MIN_RATE",
                "LLMO_TRUSTED_PROXIES",
                "LLMO_APPLY",
                "LLMO_APPLY_PRUNE",
                "LLMO_LOG_FORMAT",
                "LLMO_RESPONSES_CACHE",
                "LLMO_REDIS_URL",
                "LLMO_REDIS_TIMEOUT",
            ]
        );
        for d in SETTINGS {
            assert_eq!(d.env, format!("LLMO_{}", d.name.to_ascii_uppercase()));
            assert_eq!(setting(d.name).map(|s| s.env), Some(d.env));
            assert_eq!(setting_for_env(d.env).map(|s| s.name), Some(d.name));
        }
    }

    #[test]
    fn every_row_resolves_and_every_setting_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("llmo.toml");
        std::fs::write(&cfg, "").unwrap();
        let flags = Overrides {
            db: Some(dir.path().join("x.db")),
            config: Some(cfg),
            ..Default::default()
        };
        let s = Settings::resolve_with(&flags, &BTreeMap::new()).unwrap();
        let listed: Vec<_> = s.effective().into_iter().map(|(n, _, _)| n).collect();
        let rows: Vec<_> = SETTINGS
            .iter()
            .filter(|d| d.value.is_some())
            .map(|d| d.name)
            .collect();
        assert_eq!(listed, rows);
        assert_eq!(listed.len(), 18);
    }

    #[test]
    fn every_file_key_is_a_config_file_key() {
        for d in SETTINGS {
            let Some(key) = d.file_key else { continue };
            // An array fits no key's type; only an unknown key says so.
            if let Err(e) = toml::from_str::<FileConfig>(&format!("{key} = []")) {
                assert!(!e.to_string().contains("unknown field"), "{key}: {e}");
            }
        }
        let e = toml::from_str::<FileConfig>("no_such_key = []").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn every_flag_is_a_flag_of_the_cli() {
        fn longs(cmd: &clap::Command, out: &mut BTreeSet<String>) {
            for a in cmd.get_arguments() {
                out.extend(a.get_long().map(str::to_string));
                out.extend(
                    a.get_all_aliases()
                        .into_iter()
                        .flatten()
                        .map(str::to_string),
                );
            }
            for sub in cmd.get_subcommands() {
                longs(sub, out);
            }
        }
        let mut all = BTreeSet::new();
        longs(&crate::cli::Cli::command(), &mut all);
        for d in SETTINGS {
            if let Some(flag) = d.flag {
                assert!(all.contains(flag), "--{flag} ({}) is not a flag", d.name);
            }
        }
    }

    /// One setting of a parser type, and what each source makes of it.
    struct Case {
        name: &'static str,
        /// Sets the flag, given the directory holding `admin.key`.
        flag: Option<fn(&mut Overrides, &Path)>,
        env: &'static str,
        file: &'static str,
        /// Shown for flag, env, file and default.
        want: [&'static str; 4],
    }

    fn case(
        name: &'static str,
        flag: Option<fn(&mut Overrides, &Path)>,
        env: &'static str,
        file: &'static str,
        want: [&'static str; 4],
    ) -> Case {
        Case {
            name,
            flag,
            env,
            file,
            want,
        }
    }

    /// One setting of each parser type.
    fn cases() -> Vec<Case> {
        vec![
            case(
                "db",
                Some(|o, _| o.db = Some(std::path::PathBuf::from("/flag.db"))),
                "/env.db",
                "db = \"/file.db\"",
                ["/flag.db", "/env.db", "/file.db", ""],
            ),
            case(
                "listen",
                Some(|o, _| o.listen = Some("127.0.0.1:1".into())),
                "127.0.0.1:2",
                "listen = \"127.0.0.1:3\"",
                [
                    "127.0.0.1:1",
                    "127.0.0.1:2",
                    "127.0.0.1:3",
                    "127.0.0.1:8000",
                ],
            ),
            case(
                "allow_anonymous",
                Some(|o, _| o.allow_anonymous = Some(true)),
                "false",
                "allow_anonymous = true",
                ["true", "false", "true", "false"],
            ),
            case(
                "max_body",
                Some(|o, _| o.max_body = Some(1)),
                "2KiB",
                "max_body = \"3KiB\"",
                ["1", "2048", "3072", "10485760"],
            ),
            case(
                "log_retention_days",
                Some(|o, _| o.log_retention_days = Some(1)),
                "2",
                "log_retention_days = 3",
                ["1", "2", "3", "30"],
            ),
            case(
                "shutdown_timeout",
                Some(|o, _| o.shutdown_timeout = Some(Duration::from_secs(1))),
                "2s",
                "shutdown_timeout = \"3s\"",
                ["1s", "2s", "3s", "30s"],
            ),
            case(
                "circuit_failures",
                None,
                "2",
                "circuit_failures = 3",
                ["", "2", "3", "5"],
            ),
            case(
                "upstream_max_body",
                Some(|o, _| o.upstream_max_body = Some(1)),
                "2KiB",
                "upstream_max_body = \"3KiB\"",
                ["1", "2048", "3072", "67108864"],
            ),
            case(
                "circuit_cooldown",
                None,
                "2m",
                "circuit_cooldown = \"3m\"",
                ["", "2m", "3m", "30s"],
            ),
            case(
                "trusted_proxies",
                None,
                "10.0.0.1,10.2.0.0/16",
                "trusted_proxies = [\"10.0.0.3\"]",
                [
                    "",
                    "10.0.0.1, 10.2.0.0/16",
                    "10.0.0.3",
                    "none (the peer address is the client)",
                ],
            ),
            case(
                "apply",
                Some(|o, _| o.apply = Some("/flag.toml".into())),
                "/env.toml",
                "apply = \"/file.toml\"",
                ["/flag.toml", "/env.toml", "/file.toml", "none"],
            ),
            case(
                "apply_prune",
                Some(|o, _| o.apply_prune = Some(true)),
                "false",
                "apply_prune = true",
                ["true", "false", "true", "false"],
            ),
            case(
                "redis_url",
                Some(|o, _| o.redis_url = Some("redis://:pw1@flag:1".into())),
                "rediss://env",
                "redis_url = \"redis+unix:///file.sock\"",
                [
                    "redis://:***@flag:1",
                    "rediss://env",
                    "redis+unix:///file.sock",
                    "none (rate limits per replica)",
                ],
            ),
            case(
                "redis_timeout",
                None,
                "20ms",
                "redis_timeout = \"30ms\"",
                ["", "20ms", "30ms", "50ms"],
            ),
            case(
                "admin_key",
                Some(|o, dir| o.admin_key_file = Some(dir.join("admin.key"))),
                "llmo-admin-fromtheenv-0008",
                "admin_key = \"llmo-admin-fromthefile-0007\"",
                [
                    "llmo-...0009",
                    "llmo-...0008",
                    "llmo-...0007",
                    "none (admin API and UI off)",
                ],
            ),
        ]
    }

    /// Flag > env > file > default, for one setting of each parser type.
    #[test]
    fn precedence_for_each_parser_type() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("admin.key");
        std::fs::write(&key_file, "llmo-admin-fromtheflag-0009\n").unwrap();
        let cfg = dir.path().join("llmo.toml");
        for Case {
            name,
            flag: set_flag,
            env: env_value,
            file: file_line,
            want,
        } in cases()
        {
            let def = setting(name).unwrap();
            let shown = |flags: &Overrides, env: &BTreeMap<String, String>| {
                let s = Settings::resolve_with(flags, env).unwrap();
                let (_, value, source) = s
                    .effective()
                    .into_iter()
                    .find(|(n, _, _)| *n == name)
                    .unwrap();
                (value, source)
            };
            let mut flags = Overrides {
                config: Some(cfg.clone()),
                ..Default::default()
            };
            if name != "db" {
                flags.db = Some(dir.path().join("x.db"));
            }
            std::fs::write(&cfg, "").unwrap();
            let mut env = BTreeMap::new();
            let (value, source) = shown(&flags, &env);
            assert_eq!(source, Source::Default, "{name}");
            if name != "db" {
                // The default database path depends on the platform.
                assert_eq!(value, want[3], "{name}");
            }
            std::fs::write(&cfg, file_line).unwrap();
            assert_eq!(
                shown(&flags, &env),
                (want[2].into(), Source::File),
                "{name}"
            );
            env.insert(def.env.to_string(), env_value.to_string());
            assert_eq!(shown(&flags, &env), (want[1].into(), Source::Env), "{name}");
            if let Some(set_flag) = set_flag {
                set_flag(&mut flags, dir.path());
                assert_eq!(
                    shown(&flags, &env),
                    (want[0].into(), Source::Flag),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_bad_secret_is_not_echoed_and_an_empty_one_is_unset() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Overrides {
            db: Some(dir.path().join("x.db")),
            config: Some(dir.path().join("llmo.toml")),
            ..Default::default()
        };
        std::fs::write(dir.path().join("llmo.toml"), "").unwrap();
        let env = |v: &str| BTreeMap::from([("LLMO_ADMIN_KEY".to_string(), v.to_string())]);
        let err = Settings::resolve_with(&flags, &env("hunter2-secret"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("the key is too short"), "{err}");
        let s = Settings::resolve_with(&flags, &env("")).unwrap();
        assert_eq!(s.admin_key.source, Source::Default);
        // Not a secret: an empty `LLMO_DB` is a mistake worth naming.
        let e = BTreeMap::from([("LLMO_DB".to_string(), String::new())]);
        let flags = Overrides { db: None, ..flags };
        assert!(matches!(
            Settings::resolve_with(&flags, &e),
            Err(ConfigError::BadEnv { .. })
        ));
    }
}

//! The routing catalog's domain types (providers, models, mappings, client
//! keys) and their validation. One validation code path serves the CLI and
//! the admin API; the store enforces the same ranges again with CHECKs.
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::secret::Secret;

pub const DEFAULT_PRIORITY: i64 = 0;
pub const DEFAULT_WEIGHT: i64 = 1;
pub const DEFAULT_MAX_RETRIES: i64 = 2;
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;
pub const MAX_RETRIES_LIMIT: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "gemini")]
    Gemini,
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::OpenAiCompatible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        }
    }

    /// The vendor's API base URL; `None` for openai-compatible servers, which
    /// must be given one.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            ProviderKind::OpenAiCompatible => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Invalid::new(
                    "kind",
                    format!(
                        "unknown kind `{s}`; allowed values: openai, anthropic, gemini, openai-compatible"
                    ),
                )
            })
    }
}

/// A validation failure that names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            message: message.into(),
        }
    }
}

/// A provider as stored.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: i64,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub api_key_env: Option<String>,
    pub priority: i64,
    pub weight: i64,
    pub max_retries: i64,
    pub timeout_ms: i64,
    pub rate_limit_rpm: i64,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Provider {
    /// The key to send upstream: the stored one, or the named env var read now.
    pub fn resolve_key(&self) -> Option<Secret> {
        if let Some(k) = &self.api_key {
            return Some(k.clone());
        }
        self.api_key_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|v| !v.is_empty())
            .map(Secret::new)
    }

    /// The JSON/table view: the key masked, never in full.
    pub fn view(&self, models: Vec<String>) -> ProviderView {
        ProviderView {
            name: self.name.clone(),
            kind: self.kind,
            base_url: self.base_url.clone(),
            api_key: self.api_key.as_ref().map(Secret::masked),
            api_key_env: self.api_key_env.clone(),
            priority: self.priority,
            weight: self.weight,
            max_retries: self.max_retries,
            timeout_ms: self.timeout_ms,
            rate_limit_rpm: self.rate_limit_rpm,
            enabled: self.enabled,
            models,
            created_at: crate::time::rfc3339(self.created_at),
            updated_at: crate::time::rfc3339(self.updated_at),
        }
    }
}

/// Stable, documented output shape of a provider (`--json`, admin API).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Masked (`sk-...abcd`), or null when the key comes from `api_key_env`.
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    pub priority: i64,
    pub weight: i64,
    pub max_retries: i64,
    pub timeout_ms: i64,
    pub rate_limit_rpm: i64,
    pub enabled: bool,
    pub models: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a provider's key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Inline(Secret),
    Env(String),
    /// No key at all (servers that need none); on update, forgets the key.
    None,
}

/// Fields of a provider to create (`None` = default) or to update
/// (`None` = unchanged). Validated by [`ProviderInput::validate`].
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub key: Option<KeySource>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub max_retries: Option<i64>,
    pub timeout_ms: Option<i64>,
    pub rate_limit_rpm: Option<i64>,
    pub enabled: Option<bool>,
    /// Public model names to map to this provider (created if new).
    pub models: Vec<String>,
    /// On update: the provider's new name (applied in the same transaction
    /// as the other fields). Ignored on create.
    pub rename: Option<String>,
}

impl ProviderInput {
    /// Checks every given field; errors name the field and the allowed values.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(k) = &self.kind {
            k.parse::<ProviderKind>()?;
        }
        if let Some(u) = &self.base_url {
            validate_url(u)?;
        }
        if let Some(n) = &self.rename {
            validate_provider_name(n)?;
        }
        match &self.key {
            Some(KeySource::Inline(s)) if s.expose().trim().is_empty() => {
                return Err(Invalid::new("api_key", "must not be empty"))
            }
            Some(KeySource::Env(v)) => validate_env_name(v)?,
            _ => {}
        }
        non_negative("priority", self.priority)?;
        non_negative("weight", self.weight)?;
        non_negative("rate_limit_rpm", self.rate_limit_rpm)?;
        if let Some(r) = self.max_retries {
            if !(0..=MAX_RETRIES_LIMIT).contains(&r) {
                return Err(Invalid::new(
                    "max_retries",
                    format!("must be between 0 and {MAX_RETRIES_LIMIT} (got {r})"),
                ));
            }
        }
        if let Some(t) = self.timeout_ms {
            if t <= 0 {
                return Err(Invalid::new(
                    "timeout",
                    format!("must be greater than 0 (got {t} ms)"),
                ));
            }
        }
        for m in &self.models {
            validate_model_name(m)?;
        }
        Ok(())
    }
}

fn non_negative(field: &'static str, v: Option<i64>) -> Result<(), Invalid> {
    match v {
        Some(n) if n < 0 => Err(Invalid::new(field, format!("must be 0 or more (got {n})"))),
        _ => Ok(()),
    }
}

pub fn validate_provider_name(name: &str) -> Result<(), Invalid> {
    validate_name("name", name, 64, &['-', '_', '.'])
}

pub fn validate_model_name(name: &str) -> Result<(), Invalid> {
    validate_name("model", name, 128, &['-', '_', '.', ':', '/', '@'])
}

pub fn validate_key_name(name: &str) -> Result<(), Invalid> {
    validate_name("name", name, 64, &['-', '_', '.'])
}

fn validate_name(
    field: &'static str,
    name: &str,
    max: usize,
    extra: &[char],
) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > max {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        let allowed: String = extra.iter().collect();
        return Err(Invalid::new(
            field,
            format!("`{name}` contains `{c}`; allowed: letters, digits and `{allowed}`"),
        ));
    }
    Ok(())
}

pub fn validate_url(u: &str) -> Result<(), Invalid> {
    let parsed = reqwest::Url::parse(u)
        .map_err(|e| Invalid::new("base_url", format!("`{u}` is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Invalid::new(
            "base_url",
            format!("`{u}` must start with http:// or https://"),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("base_url", format!("`{u}` has no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Invalid::new(
            "base_url",
            format!("`{u}` must not have a query or fragment"),
        ));
    }
    Ok(())
}

fn validate_env_name(v: &str) -> Result<(), Invalid> {
    let ok = !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "api_key_env",
            format!("`{v}` is not an environment variable name (letters, digits, `_`)"),
        ))
    }
}

/// Normalises a base URL: no trailing slash.
pub fn normalize_url(u: &str) -> String {
    u.trim().trim_end_matches('/').to_string()
}

/// A public model and its mappings.
#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub providers: Vec<MappingView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingView {
    pub provider: String,
    pub upstream_model: String,
    /// Override of the provider's priority for this model; null = provider's.
    pub priority: Option<i64>,
    /// Override of the provider's weight for this model; null = provider's.
    pub weight: Option<i64>,
    pub enabled: bool,
}

/// One `--provider P[=UPSTREAM]` of `llmo model add`.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingInput {
    pub provider: String,
    pub upstream_model: Option<String>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
}

impl FromStr for MappingInput {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let (provider, upstream) = match s.split_once('=') {
            Some((p, u)) => (p.trim(), Some(u.trim())),
            None => (s.trim(), None),
        };
        validate_provider_name(provider).map_err(|e| Invalid::new("provider", e.message))?;
        if upstream == Some("") {
            return Err(Invalid::new(
                "provider",
                format!("`{s}`: the upstream model after `=` is empty"),
            ));
        }
        Ok(MappingInput {
            provider: provider.to_string(),
            upstream_model: upstream.map(str::to_string),
            priority: None,
            weight: None,
        })
    }
}

/// A client API key as stored (the secret itself is never stored).
#[derive(Debug, Clone, Serialize)]
pub struct ClientKeyView {
    pub name: String,
    /// The first characters of the key, to recognise it (`llmo-AbCd`).
    pub prefix: String,
    pub rpm_limit: i64,
    /// Allowed public models; null means all.
    pub models: Option<Vec<String>>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let bad = |i: ProviderInput| i.validate().unwrap_err().field;
        assert_eq!(
            bad(ProviderInput {
                kind: Some("azure".into()),
                ..Default::default()
            }),
            "kind"
        );
        assert_eq!(
            bad(ProviderInput {
                weight: Some(-1),
                ..Default::default()
            }),
            "weight"
        );
        assert_eq!(
            bad(ProviderInput {
                timeout_ms: Some(0),
                ..Default::default()
            }),
            "timeout"
        );
        assert_eq!(
            bad(ProviderInput {
                base_url: Some("ftp://x".into()),
                ..Default::default()
            }),
            "base_url"
        );
        assert_eq!(
            bad(ProviderInput {
                base_url: Some("not a url".into()),
                ..Default::default()
            }),
            "base_url"
        );
        let err = "azure".parse::<ProviderKind>().unwrap_err();
        assert!(err.message.contains("openai-compatible"));
    }

    #[test]
    fn mapping_syntax() {
        let m: MappingInput = "groq=llama-3.1-8b-instant".parse().unwrap();
        assert_eq!(m.provider, "groq");
        assert_eq!(m.upstream_model.as_deref(), Some("llama-3.1-8b-instant"));
        let m: MappingInput = "openai".parse().unwrap();
        assert_eq!(m.upstream_model, None);
        assert!("x=".parse::<MappingInput>().is_err());
    }
}

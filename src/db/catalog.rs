//! Providers, models, mappings and client keys: the routing catalog as the
//! store holds it. Engine-neutral: the row types the gateway routes with,
//! the input checks and defaults every engine applies before writing, the
//! key hashing and generation, and [`Store`]'s catalog methods, which
//! dispatch to the engine for the SQL.
use std::collections::BTreeMap;

use super::{engine, Result, Store, StoreError};
use crate::catalog::{
    normalize_url, validate_key_name, validate_model_name, validate_provider_name, ClientKeyView,
    Invalid, KeySource, MappingInput, ModelView, Provider, ProviderInput, ProviderKind,
    DEFAULT_MAX_RETRIES, DEFAULT_PRIORITY, DEFAULT_TIMEOUT_MS, DEFAULT_WEIGHT,
};
use crate::secret::Secret;
use crate::time::rfc3339;

/// A mapping as the gateway needs it.
#[derive(Debug, Clone)]
pub struct RouteMapping {
    pub provider_id: i64,
    pub upstream_model: String,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub enabled: bool,
}

/// A public model with its mappings, as the gateway needs it.
#[derive(Debug, Clone)]
pub struct RouteModel {
    pub name: String,
    pub enabled: bool,
    pub created_at: i64,
    pub mappings: Vec<RouteMapping>,
}

/// A client key record (only the hash of the key).
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub name: String,
    pub key_hash: String,
    pub prefix: String,
    pub rpm_limit: i64,
    pub models: Option<Vec<String>>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ClientKey {
    pub fn view(&self) -> ClientKeyView {
        ClientKeyView {
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            rpm_limit: self.rpm_limit,
            models: self.models.clone(),
            created_at: rfc3339(self.created_at),
            last_used_at: self.last_used_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
        }
    }
}

/// The catalog's change counters. `config` moves on every change (triggers
/// on each table); `keys` moves with the client-key writes this store makes
/// (create, revoke), by as much and in the same transaction. So when both
/// moved by the same amount, only client keys changed, and a running gateway
/// can apply them as a delta instead of reloading everything. A change made
/// any other way (another tool's SQL) moves `config` alone: a full reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Versions {
    pub config: i64,
    pub keys: i64,
}

impl Versions {
    /// True when every change between `old` and `self` was a client-key
    /// write (nothing else in the catalog changed).
    pub fn only_keys_changed_since(self, old: Versions) -> bool {
        self.config.wrapping_sub(self.keys) == old.config.wrapping_sub(old.keys)
    }
}

/// Everything the gateway routes with but the client keys, read in one
/// transaction with them (the keys are handed to a callback row by row:
/// [`Store::load_catalog`]).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub versions: Versions,
    /// The highest client-key id (revoked ones included): keys created later
    /// have a higher one.
    pub max_key_id: i64,
    pub providers: Vec<Provider>,
    pub models: Vec<RouteModel>,
}

/// What [`Store::load_key_changes`] read besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyChanges {
    pub versions: Versions,
    pub max_key_id: i64,
}

/// One client key as the gateway routes with it, borrowed from the row
/// being read (nothing is allocated for a key the gateway already has).
#[derive(Debug, Clone, Copy)]
pub struct KeyRow<'a> {
    pub id: i64,
    pub name: &'a str,
    /// SHA-256 of the key (the stored hex, decoded).
    pub digest: [u8; 32],
    pub rpm_limit: i64,
    /// The allowed models as stored (a JSON array), `None` for all.
    pub models_json: Option<&'a str>,
    pub revoked: bool,
}

impl KeyRow<'_> {
    /// The allowed public models; `None` means all.
    pub fn models(&self) -> Option<Vec<String>> {
        self.models_json
            .map(|m| serde_json::from_str(m).unwrap_or_default())
    }
}

/// Hex digit values by byte; 0xff for a byte that is not a hex digit.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes a 64-digit hex SHA-256 (as the store keeps key hashes). A table
/// lookup per digit: this runs for every key on every full load.
pub fn digest_from_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        if (hi | lo) > 15 {
            return None;
        }
        *o = hi << 4 | lo;
    }
    Some(out)
}

/// SHA-256 hex of a client key: what the store keeps instead of the key.
pub fn hash_key(key: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A provider's stored fields (all but id, name and times), resolved from
/// the input, the defaults and, on update, the current row.
#[derive(Debug, Clone)]
pub(crate) struct ProviderFields {
    pub(crate) kind: ProviderKind,
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) priority: i64,
    pub(crate) weight: i64,
    pub(crate) max_retries: i64,
    pub(crate) timeout_ms: i64,
    pub(crate) rate_limit_rpm: i64,
    pub(crate) enabled: bool,
}

/// The key columns for a key source; `None` keeps `current`.
fn key_columns(
    key: Option<&KeySource>,
    current: (Option<String>, Option<String>),
) -> (Option<String>, Option<String>) {
    match key {
        Some(KeySource::Inline(s)) => (Some(s.expose().to_string()), None),
        Some(KeySource::Env(v)) => (None, Some(v.clone())),
        Some(KeySource::None) => (None, None),
        None => current,
    }
}

impl ProviderFields {
    /// Checks a new provider and fills in the defaults.
    pub(crate) fn new(name: &str, input: &ProviderInput) -> Result<ProviderFields> {
        validate_provider_name(name)?;
        input.validate()?;
        let kind: ProviderKind = input
            .kind
            .as_deref()
            .ok_or_else(|| {
                Invalid::new(
                    "kind",
                    "is required; allowed values: openai, anthropic, gemini, openai-compatible",
                )
            })?
            .parse()?;
        let base_url = match (&input.base_url, kind.default_base_url()) {
            (Some(u), _) => normalize_url(u),
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(Invalid::new(
                    "base_url",
                    "is required for kind openai-compatible (e.g. `http://localhost:11434/v1`)",
                )
                .into())
            }
        };
        let (api_key, api_key_env) = key_columns(input.key.as_ref(), (None, None));
        Ok(ProviderFields {
            kind,
            base_url,
            api_key,
            api_key_env,
            priority: input.priority.unwrap_or(DEFAULT_PRIORITY),
            weight: input.weight.unwrap_or(DEFAULT_WEIGHT),
            max_retries: input.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            timeout_ms: input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            rate_limit_rpm: input.rate_limit_rpm.unwrap_or(0),
            enabled: input.enabled.unwrap_or(true),
        })
    }

    /// Checks a change to `current`; the fields not given stay.
    /// (`input` is validated by the caller, before it reads `current`.)
    pub(crate) fn updated(current: &Provider, input: &ProviderInput) -> Result<ProviderFields> {
        let kind: ProviderKind = match &input.kind {
            Some(k) => k.parse()?,
            None => current.kind,
        };
        if kind == ProviderKind::OpenAiCompatible
            && input.base_url.is_none()
            && current.kind != kind
            && ProviderKind::ALL
                .iter()
                .any(|k| k.default_base_url() == Some(current.base_url.as_str()))
        {
            return Err(Invalid::new(
                "base_url",
                "is required when changing the kind to openai-compatible",
            )
            .into());
        }
        let base_url = input
            .base_url
            .as_deref()
            .map(normalize_url)
            .unwrap_or(current.base_url.clone());
        let (api_key, api_key_env) = key_columns(
            input.key.as_ref(),
            (
                current.api_key.as_ref().map(|s| s.expose().to_string()),
                current.api_key_env.clone(),
            ),
        );
        Ok(ProviderFields {
            kind,
            base_url,
            api_key,
            api_key_env,
            priority: input.priority.unwrap_or(current.priority),
            weight: input.weight.unwrap_or(current.weight),
            max_retries: input.max_retries.unwrap_or(current.max_retries),
            timeout_ms: input.timeout_ms.unwrap_or(current.timeout_ms),
            rate_limit_rpm: input.rate_limit_rpm.unwrap_or(current.rate_limit_rpm),
            enabled: input.enabled.unwrap_or(current.enabled),
        })
    }
}

/// Checks a model's name and its mappings' priorities and weights.
pub(crate) fn check_model(name: &str, mappings: &[MappingInput]) -> Result<()> {
    validate_model_name(name)?;
    for m in mappings {
        if let Some(p) = m.priority.filter(|p| *p < 0) {
            return Err(Invalid::new("priority", format!("must be 0 or more (got {p})")).into());
        }
        if let Some(w) = m.weight.filter(|w| *w < 0) {
            return Err(Invalid::new("weight", format!("must be 0 or more (got {w})")).into());
        }
    }
    Ok(())
}

/// Checks a client key's limits (as `llmo key create` and the catalog file
/// give them).
pub(crate) fn check_key_limits(rpm_limit: Option<i64>, models: Option<&[String]>) -> Result<()> {
    if let Some(r) = rpm_limit.filter(|r| *r < 0) {
        return Err(Invalid::new("rpm", format!("must be 0 or more (got {r})")).into());
    }
    for m in models.unwrap_or_default() {
        validate_model_name(m)?;
    }
    Ok(())
}

/// A client key about to be stored: its hash and shown prefix, never the key.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) name: String,
    pub(crate) key_hash: String,
    pub(crate) prefix: String,
    pub(crate) rpm_limit: i64,
    /// The allowed models as a JSON array, `None` for all.
    pub(crate) models_json: Option<String>,
}

impl NewKey {
    /// Checks the input and generates the key; returns the record and the
    /// secret (shown once).
    fn generate(
        name: &str,
        rpm_limit: Option<i64>,
        models: Option<Vec<String>>,
    ) -> Result<(NewKey, Secret)> {
        validate_key_name(name)?;
        check_key_limits(rpm_limit, models.as_deref())?;
        let secret = generate_key()?;
        let key = NewKey {
            name: name.to_string(),
            key_hash: hash_key(secret.expose()),
            prefix: secret.expose().chars().take(9).collect(),
            rpm_limit: rpm_limit.unwrap_or(0),
            models_json: models
                .as_ref()
                .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into())),
        };
        Ok((key, secret))
    }
}

/// A new client key: `llmo-` and 40 characters of base62 from the OS CSPRNG.
fn generate_key() -> Result<Secret> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut buf = [0u8; 64];
    getrandom::getrandom(&mut buf).map_err(|e| StoreError::Io {
        context: "reading random bytes for a new key".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut s = String::from("llmo-");
    // 62 * 4 = 248: reject bytes >= 248 so every character is equally likely.
    for b in buf.iter().filter(|b| **b < 248).take(40) {
        s.push(ALPHABET[(*b % 62) as usize] as char);
    }
    if s.len() < 45 {
        return generate_key();
    }
    Ok(Secret::new(s))
}

fn not_found(what: &'static str, name: &str) -> StoreError {
    StoreError::NotFound {
        what,
        name: name.to_string(),
    }
}

impl Store {
    pub fn list_providers(&self) -> Result<Vec<Provider>> {
        engine!(self, s => s.list_providers())
    }

    pub fn get_provider(&self, name: &str) -> Result<Provider> {
        engine!(self, s => s.find_provider(name))?.ok_or_else(|| not_found("provider", name))
    }

    /// Public model names mapped to each provider, by provider name.
    pub fn provider_models(&self) -> Result<BTreeMap<String, Vec<String>>> {
        engine!(self, s => s.provider_models())
    }

    /// Creates a provider (and the models named in `input.models`, mapped to
    /// it under the same upstream name), in one transaction.
    pub fn add_provider(&mut self, name: &str, input: &ProviderInput) -> Result<Provider> {
        let fields = ProviderFields::new(name, input)?;
        engine!(&mut *self, s => s.insert_provider(name, &fields, &input.models))?;
        self.get_provider(name)
    }

    /// Changes the given fields of a provider; `input.models` adds mappings
    /// and `input.rename` renames it, in the same transaction.
    pub fn update_provider(&mut self, name: &str, input: &ProviderInput) -> Result<Provider> {
        input.validate()?;
        let current = self.get_provider(name)?;
        let fields = ProviderFields::updated(&current, input)?;
        let name = match input.rename.as_deref() {
            Some(new) if new != name => new,
            _ => name,
        };
        engine!(&mut *self, s => s.update_provider(&current, name, &fields, &input.models))?;
        self.get_provider(name)
    }

    /// Renames a provider; its mappings, keys and settings stay. Request
    /// logs, per-minute stats and health history keep the name each row was
    /// written under. A running gateway picks it up as a new provider name
    /// (fresh circuit and rate-limit state).
    pub fn rename_provider(&mut self, name: &str, new_name: &str) -> Result<Provider> {
        self.update_provider(
            name,
            &ProviderInput {
                rename: Some(new_name.to_string()),
                ..Default::default()
            },
        )
    }

    pub fn set_provider_enabled(&mut self, name: &str, enabled: bool) -> Result<Provider> {
        self.update_provider(
            name,
            &ProviderInput {
                enabled: Some(enabled),
                ..Default::default()
            },
        )
    }

    /// Removes a provider and its mappings. Refuses while it is some model's
    /// only provider unless `force`; returns the models left without one.
    pub fn remove_provider(&mut self, name: &str, force: bool) -> Result<Vec<String>> {
        self.get_provider(name)?;
        let orphans = engine!(&*self, s => s.models_only_served_by(name))?;
        if !orphans.is_empty() && !force {
            return Err(StoreError::Conflict {
                message: format!(
                    "provider `{name}` is the only provider of model(s) {}",
                    orphans
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: Some(
                    "map those models to another provider first (`llmo model add`), or pass `--force` to remove it anyway"
                        .into(),
                ),
            });
        }
        engine!(&mut *self, s => s.delete_provider(name))?;
        Ok(orphans)
    }

    pub fn list_models(&self) -> Result<Vec<ModelView>> {
        engine!(self, s => s.model_views(None))
    }

    pub fn get_model(&self, name: &str) -> Result<ModelView> {
        engine!(self, s => s.model_views(Some(name)))?
            .pop()
            .ok_or_else(|| not_found("model", name))
    }

    /// Creates a model with its mappings (or, with `existing_ok`, adds or
    /// updates mappings of an existing one), in one transaction.
    pub fn add_model(
        &mut self,
        name: &str,
        description: Option<&str>,
        enabled: Option<bool>,
        mappings: &[MappingInput],
        existing_ok: bool,
    ) -> Result<ModelView> {
        check_model(name, mappings)?;
        engine!(&mut *self, s => s.upsert_model(name, description, enabled, mappings, existing_ok))?;
        self.get_model(name)
    }

    pub fn set_model_enabled(&mut self, name: &str, enabled: bool) -> Result<ModelView> {
        if !engine!(&mut *self, s => s.set_model_enabled(name, enabled))? {
            return Err(not_found("model", name));
        }
        self.get_model(name)
    }

    /// Removes one mapping of a model.
    pub fn remove_mapping(&mut self, model: &str, provider: &str) -> Result<()> {
        self.get_model(model)?;
        self.get_provider(provider)?;
        if !engine!(&mut *self, s => s.delete_mapping(model, provider))? {
            return Err(not_found("mapping", &format!("{model} -> {provider}")));
        }
        Ok(())
    }

    pub fn remove_model(&mut self, name: &str) -> Result<()> {
        if !engine!(&mut *self, s => s.delete_model(name))? {
            return Err(not_found("model", name));
        }
        Ok(())
    }

    /// Creates a client key and returns the secret (shown once; only its
    /// hash is stored).
    pub fn create_key(
        &mut self,
        name: &str,
        rpm_limit: Option<i64>,
        models: Option<Vec<String>>,
    ) -> Result<(ClientKey, Secret)> {
        let (new, secret) = NewKey::generate(name, rpm_limit, models)?;
        engine!(&mut *self, s => s.insert_key(&new))?;
        Ok((self.get_key(name)?, secret))
    }

    pub fn list_keys(&self) -> Result<Vec<ClientKey>> {
        engine!(self, s => s.list_keys())
    }

    /// One client key by name (revoked or not).
    pub fn get_key(&self, name: &str) -> Result<ClientKey> {
        engine!(self, s => s.find_key(name))?.ok_or_else(|| not_found("key", name))
    }

    /// Marks a key revoked (kept for the logs' sake). Revoking twice is an error.
    pub fn revoke_key(&mut self, name: &str) -> Result<()> {
        if engine!(&mut *self, s => s.revoke_key(name))? {
            return Ok(());
        }
        Err(if engine!(&*self, s => s.find_key(name))?.is_some() {
            StoreError::Conflict {
                message: format!("key `{name}` is already revoked"),
                hint: None,
            }
        } else {
            not_found("key", name)
        })
    }

    /// The catalog's change counters (one query; polled by the gateway).
    pub fn catalog_versions(&self) -> Result<Versions> {
        engine!(self, s => s.catalog_versions())
    }

    /// Reads the whole routing catalog in one read transaction: one query
    /// per table. The unrevoked client keys go to `on_key`, row by row.
    pub fn load_catalog(&mut self, on_key: &mut dyn FnMut(KeyRow<'_>)) -> Result<Catalog> {
        engine!(&mut *self, s => s.load_catalog(on_key))
    }

    /// The client keys that changed since the load that saw `max_key_id`
    /// (in one read transaction): every key created since (`revoked` set if
    /// it already was), and every older key that is revoked now (the caller
    /// drops those it still has). Other tables are not read.
    pub fn load_key_changes(
        &mut self,
        max_key_id: i64,
        on_key: &mut dyn FnMut(KeyRow<'_>),
    ) -> Result<KeyChanges> {
        engine!(&mut *self, s => s.load_key_changes(max_key_id, on_key))
    }
}

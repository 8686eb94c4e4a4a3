//! Providers, models, mappings and client keys: the routing catalog.
use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{Result, Store, StoreError};
use crate::catalog::{
    normalize_url, validate_key_name, validate_model_name, validate_provider_name, ClientKeyView,
    Invalid, KeySource, MappingInput, MappingView, ModelView, Provider, ProviderInput,
    ProviderKind, DEFAULT_MAX_RETRIES, DEFAULT_PRIORITY, DEFAULT_TIMEOUT_MS, DEFAULT_WEIGHT,
};
use crate::secret::Secret;
use crate::time::{now_ms, rfc3339};

const PROVIDER_COLS: &str = "id, name, kind, base_url, api_key, api_key_env, priority, weight, \
     max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at";

fn provider_from_row(r: &Row<'_>) -> rusqlite::Result<Provider> {
    let kind: String = r.get(2)?;
    Ok(Provider {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: kind.parse().unwrap_or(ProviderKind::OpenAiCompatible),
        base_url: r.get(3)?,
        api_key: r.get::<_, Option<String>>(4)?.map(Secret::new),
        api_key_env: r.get(5)?,
        priority: r.get(6)?,
        weight: r.get(7)?,
        max_retries: r.get(8)?,
        timeout_ms: r.get(9)?,
        rate_limit_rpm: r.get(10)?,
        enabled: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

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

/// Everything the gateway routes with, read in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub version: i64,
    pub providers: Vec<Provider>,
    pub models: Vec<RouteModel>,
    pub keys: Vec<ClientKey>,
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

fn map_unique(e: rusqlite::Error, what: &'static str, name: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("UNIQUE") {
            return StoreError::Duplicate {
                what,
                name: name.to_string(),
            };
        }
    }
    StoreError::Sqlite(e)
}

fn provider_id(tx: &Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_row("SELECT id FROM providers WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound {
        what: "provider",
        name: name.to_string(),
    })
}

/// Returns the model's id, creating the model if it does not exist.
fn ensure_model(tx: &Transaction<'_>, name: &str, now: i64) -> Result<i64> {
    validate_model_name(name)?;
    if let Some(id) = tx
        .query_row("SELECT id FROM models WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO models (name, created_at, updated_at) VALUES (?1, ?2, ?2)",
        params![name, now],
    )?;
    Ok(tx.last_insert_rowid())
}

fn upsert_mapping(
    tx: &Transaction<'_>,
    model_id: i64,
    provider_id: i64,
    upstream: &str,
    priority: Option<i64>,
    weight: Option<i64>,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO model_providers (model_id, provider_id, upstream_model, priority, weight, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (model_id, provider_id) DO UPDATE SET
           upstream_model = excluded.upstream_model,
           priority = excluded.priority,
           weight = excluded.weight",
        params![model_id, provider_id, upstream, priority, weight, now],
    )?;
    Ok(())
}

impl Store {
    pub fn list_providers(&self) -> Result<Vec<Provider>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {PROVIDER_COLS} FROM providers ORDER BY priority, name"
        ))?;
        let rows = st.query_map([], provider_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn get_provider(&self, name: &str) -> Result<Provider> {
        self.conn
            .query_row(
                &format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = ?1"),
                [name],
                provider_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "provider",
                name: name.to_string(),
            })
    }

    /// Public model names mapped to each provider, by provider name.
    pub fn provider_models(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut st = self.conn.prepare(
            "SELECT p.name, m.name FROM model_providers mp
             JOIN providers p ON p.id = mp.provider_id
             JOIN models m ON m.id = mp.model_id
             ORDER BY p.name, m.name",
        )?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (p, m) = row?;
            out.entry(p).or_default().push(m);
        }
        Ok(out)
    }

    /// Creates a provider (and the models named in `input.models`, mapped to
    /// it under the same upstream name), in one transaction.
    pub fn add_provider(&mut self, name: &str, input: &ProviderInput) -> Result<Provider> {
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
        let (api_key, api_key_env) = match &input.key {
            Some(KeySource::Inline(s)) => (Some(s.expose().to_string()), None),
            Some(KeySource::Env(v)) => (None, Some(v.clone())),
            Some(KeySource::None) => (None, None),
            None => (None, None),
        };
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO providers (name, kind, base_url, api_key, api_key_env, priority, weight,
               max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            params![
                name,
                kind.as_str(),
                base_url,
                api_key,
                api_key_env,
                input.priority.unwrap_or(DEFAULT_PRIORITY),
                input.weight.unwrap_or(DEFAULT_WEIGHT),
                input.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                input.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                input.rate_limit_rpm.unwrap_or(0),
                input.enabled.unwrap_or(true),
                now
            ],
        )
        .map_err(|e| map_unique(e, "provider", name))?;
        let pid = tx.last_insert_rowid();
        for m in &input.models {
            let mid = ensure_model(&tx, m, now)?;
            upsert_mapping(&tx, mid, pid, m, None, None, now)?;
        }
        tx.commit()?;
        self.get_provider(name)
    }

    /// Changes the given fields of a provider; `input.models` adds mappings.
    pub fn update_provider(&mut self, name: &str, input: &ProviderInput) -> Result<Provider> {
        input.validate()?;
        let current = self.get_provider(name)?;
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
        let (api_key, api_key_env) = match &input.key {
            Some(KeySource::Inline(s)) => (Some(s.expose().to_string()), None),
            Some(KeySource::Env(v)) => (None, Some(v.clone())),
            Some(KeySource::None) => (None, None),
            None => (
                current.api_key.as_ref().map(|s| s.expose().to_string()),
                current.api_key_env.clone(),
            ),
        };
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE providers SET kind = ?2, base_url = ?3, api_key = ?4, api_key_env = ?5,
               priority = ?6, weight = ?7, max_retries = ?8, timeout_ms = ?9,
               rate_limit_rpm = ?10, enabled = ?11, updated_at = ?12
             WHERE id = ?1",
            params![
                current.id,
                kind.as_str(),
                base_url,
                api_key,
                api_key_env,
                input.priority.unwrap_or(current.priority),
                input.weight.unwrap_or(current.weight),
                input.max_retries.unwrap_or(current.max_retries),
                input.timeout_ms.unwrap_or(current.timeout_ms),
                input.rate_limit_rpm.unwrap_or(current.rate_limit_rpm),
                input.enabled.unwrap_or(current.enabled),
                now
            ],
        )?;
        for m in &input.models {
            let mid = ensure_model(&tx, m, now)?;
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM model_providers WHERE model_id = ?1 AND provider_id = ?2",
                    params![mid, current.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                upsert_mapping(&tx, mid, current.id, m, None, None, now)?;
            }
        }
        let name = match input.rename.as_deref() {
            Some(new) if new != name => {
                tx.execute(
                    "UPDATE providers SET name = ?2 WHERE id = ?1",
                    params![current.id, new],
                )
                .map_err(|e| map_unique(e, "provider", new))?;
                new
            }
            _ => name,
        };
        tx.commit()?;
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

    /// Models for which `provider` is the only mapped provider.
    pub fn models_only_served_by(&self, provider: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT m.name FROM models m
             JOIN model_providers mp ON mp.model_id = m.id
             JOIN providers p ON p.id = mp.provider_id
             WHERE p.name = ?1
               AND (SELECT count(*) FROM model_providers x WHERE x.model_id = m.id) = 1
             ORDER BY m.name",
        )?;
        let rows = st.query_map([provider], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Removes a provider and its mappings. Refuses while it is some model's
    /// only provider unless `force`; returns the models left without one.
    pub fn remove_provider(&mut self, name: &str, force: bool) -> Result<Vec<String>> {
        self.get_provider(name)?;
        let orphans = self.models_only_served_by(name)?;
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
        self.conn
            .execute("DELETE FROM providers WHERE name = ?1", [name])?;
        Ok(orphans)
    }

    // ----- models -----

    fn model_views(&self, only: Option<&str>) -> Result<Vec<ModelView>> {
        let mut st = self.conn.prepare(
            "SELECT id, name, description, enabled, created_at, updated_at FROM models
             WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        )?;
        let models = st
            .query_map([only], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ModelView {
                        name: r.get(1)?,
                        description: r.get(2)?,
                        enabled: r.get(3)?,
                        providers: Vec::new(),
                        created_at: rfc3339(r.get(4)?),
                        updated_at: rfc3339(r.get(5)?),
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut mst = self.conn.prepare(
            "SELECT p.name, mp.upstream_model, mp.priority, mp.weight, mp.enabled
             FROM model_providers mp JOIN providers p ON p.id = mp.provider_id
             WHERE mp.model_id = ?1
             ORDER BY coalesce(mp.priority, p.priority), p.name",
        )?;
        let mut out = Vec::with_capacity(models.len());
        for (id, mut view) in models {
            view.providers = mst
                .query_map([id], |r| {
                    Ok(MappingView {
                        provider: r.get(0)?,
                        upstream_model: r.get(1)?,
                        priority: r.get(2)?,
                        weight: r.get(3)?,
                        enabled: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            out.push(view);
        }
        Ok(out)
    }

    pub fn list_models(&self) -> Result<Vec<ModelView>> {
        self.model_views(None)
    }

    pub fn get_model(&self, name: &str) -> Result<ModelView> {
        self.model_views(Some(name))?
            .pop()
            .ok_or_else(|| StoreError::NotFound {
                what: "model",
                name: name.to_string(),
            })
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
        validate_model_name(name)?;
        for m in mappings {
            if let Some(p) = m.priority.filter(|p| *p < 0) {
                return Err(
                    Invalid::new("priority", format!("must be 0 or more (got {p})")).into(),
                );
            }
            if let Some(w) = m.weight.filter(|w| *w < 0) {
                return Err(Invalid::new("weight", format!("must be 0 or more (got {w})")).into());
            }
        }
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row("SELECT id FROM models WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let mid = match existing {
            Some(_) if !existing_ok => {
                return Err(StoreError::Duplicate {
                    what: "model",
                    name: name.to_string(),
                })
            }
            Some(id) => {
                tx.execute(
                    "UPDATE models SET description = coalesce(?2, description),
                       enabled = coalesce(?3, enabled), updated_at = ?4 WHERE id = ?1",
                    params![id, description, enabled, now],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO models (name, description, enabled, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![
                        name,
                        description.unwrap_or(""),
                        enabled.unwrap_or(true),
                        now
                    ],
                )?;
                tx.last_insert_rowid()
            }
        };
        for m in mappings {
            let pid = provider_id(&tx, &m.provider)?;
            let upstream = m.upstream_model.as_deref().unwrap_or(name);
            upsert_mapping(&tx, mid, pid, upstream, m.priority, m.weight, now)?;
        }
        tx.commit()?;
        self.get_model(name)
    }

    pub fn set_model_enabled(&mut self, name: &str, enabled: bool) -> Result<ModelView> {
        let n = self.conn.execute(
            "UPDATE models SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, enabled, now_ms()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "model",
                name: name.to_string(),
            });
        }
        self.get_model(name)
    }

    /// Removes one mapping of a model.
    pub fn remove_mapping(&mut self, model: &str, provider: &str) -> Result<()> {
        self.get_model(model)?;
        self.get_provider(provider)?;
        let n = self.conn.execute(
            "DELETE FROM model_providers WHERE
               model_id = (SELECT id FROM models WHERE name = ?1) AND
               provider_id = (SELECT id FROM providers WHERE name = ?2)",
            [model, provider],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "mapping",
                name: format!("{model} -> {provider}"),
            });
        }
        Ok(())
    }

    pub fn remove_model(&mut self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM models WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "model",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    // ----- client keys -----

    /// Creates a client key and returns the secret (shown once; only its
    /// hash is stored).
    pub fn create_key(
        &mut self,
        name: &str,
        rpm_limit: Option<i64>,
        models: Option<Vec<String>>,
    ) -> Result<(ClientKey, Secret)> {
        validate_key_name(name)?;
        if let Some(r) = rpm_limit.filter(|r| *r < 0) {
            return Err(Invalid::new("rpm", format!("must be 0 or more (got {r})")).into());
        }
        if let Some(ms) = &models {
            for m in ms {
                validate_model_name(m)?;
            }
        }
        let secret = generate_key()?;
        let hash = hash_key(secret.expose());
        let prefix: String = secret.expose().chars().take(9).collect();
        let models_json = models
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO api_keys (name, key_hash, prefix, rpm_limit, allowed_models, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, hash, prefix, rpm_limit.unwrap_or(0), models_json, now],
            )
            .map_err(|e| map_unique(e, "key", name))?;
        let key = self
            .list_keys()?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| StoreError::NotFound {
                what: "key",
                name: name.to_string(),
            })?;
        Ok((key, secret))
    }

    pub fn list_keys(&self) -> Result<Vec<ClientKey>> {
        let mut st = self.conn.prepare(
            "SELECT name, key_hash, prefix, rpm_limit, allowed_models, created_at, last_used_at, revoked_at
             FROM api_keys ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            let models: Option<String> = r.get(4)?;
            Ok(ClientKey {
                name: r.get(0)?,
                key_hash: r.get(1)?,
                prefix: r.get(2)?,
                rpm_limit: r.get(3)?,
                models: models.and_then(|m| serde_json::from_str(&m).ok()),
                created_at: r.get(5)?,
                last_used_at: r.get(6)?,
                revoked_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Marks a key revoked (kept for the logs' sake). Revoking twice is an error.
    pub fn revoke_key(&mut self, name: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now_ms()],
        )?;
        if n == 0 {
            let exists = self.list_keys()?.iter().any(|k| k.name == name);
            return Err(if exists {
                StoreError::Conflict {
                    message: format!("key `{name}` is already revoked"),
                    hint: None,
                }
            } else {
                StoreError::NotFound {
                    what: "key",
                    name: name.to_string(),
                }
            });
        }
        Ok(())
    }

    /// Reads the whole routing catalog in one read transaction.
    pub fn load_catalog(&mut self) -> Result<Catalog> {
        let tx = self.conn.transaction()?;
        let version: i64 = tx.query_row(
            "SELECT value FROM meta WHERE key = 'config_version'",
            [],
            |r| r.get(0),
        )?;
        let providers = {
            let mut st = tx.prepare(&format!(
                "SELECT {PROVIDER_COLS} FROM providers ORDER BY id"
            ))?;
            let rows = st.query_map([], provider_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut models: Vec<(i64, RouteModel)> = {
            let mut st =
                tx.prepare("SELECT id, name, enabled, created_at FROM models ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    RouteModel {
                        name: r.get(1)?,
                        enabled: r.get(2)?,
                        created_at: r.get(3)?,
                        mappings: Vec::new(),
                    },
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        {
            let mut st = tx.prepare(
                "SELECT model_id, provider_id, upstream_model, priority, weight, enabled
                 FROM model_providers",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    RouteMapping {
                        provider_id: r.get(1)?,
                        upstream_model: r.get(2)?,
                        priority: r.get(3)?,
                        weight: r.get(4)?,
                        enabled: r.get(5)?,
                    },
                ))
            })?;
            for row in rows {
                let (mid, mapping) = row?;
                if let Some((_, m)) = models.iter_mut().find(|(id, _)| *id == mid) {
                    m.mappings.push(mapping);
                }
            }
        }
        tx.commit()?;
        let keys = self.list_keys()?;
        Ok(Catalog {
            version,
            providers,
            models: models.into_iter().map(|(_, m)| m).collect(),
            keys,
        })
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

//! The catalog's SQL on SQLite: providers, models, mappings and client keys.
//! Checks and defaults are applied before these run (`db/catalog.rs`).
use std::collections::{BTreeMap, HashMap};

use rusqlite::types::{Type, ValueRef};
use rusqlite::{params, OptionalExtension, Row, ToSql, Transaction};

use super::SqliteStore;
use crate::catalog::{MappingInput, MappingView, ModelView, Provider, ProviderKind};
use crate::db::catalog::{
    digest_from_hex, Catalog, ClientKey, KeyChanges, KeyRow, NewKey, ProviderFields, RouteMapping,
    RouteModel, Versions,
};
use crate::db::{Result, StoreError};
use crate::secret::Secret;
use crate::time::{now_ms, rfc3339};

pub(super) const PROVIDER_COLS: &str =
    "id, name, kind, base_url, api_key, api_key_env, priority, weight, \
     max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at";

pub(super) fn provider_from_row(r: &Row<'_>) -> rusqlite::Result<Provider> {
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

/// A UNIQUE violation is a duplicate name; anything else stays as it is.
fn map_unique(e: rusqlite::Error, what: &'static str, name: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("UNIQUE") {
            return StoreError::Duplicate {
                what,
                name: name.to_string(),
            };
        }
    }
    e.into()
}

/// The parameters of the provider INSERT and UPDATE: `?1` is `first` (the
/// name, or the id), then the fields in column order (`kind` as text), then
/// `?12` the time.
fn provider_params<'a>(
    first: &'a dyn ToSql,
    kind: &'a &'static str,
    f: &'a ProviderFields,
    now: &'a i64,
) -> [&'a dyn ToSql; 12] {
    [
        first,
        kind,
        &f.base_url,
        &f.api_key,
        &f.api_key_env,
        &f.priority,
        &f.weight,
        &f.max_retries,
        &f.timeout_ms,
        &f.rate_limit_rpm,
        &f.enabled,
        now,
    ]
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

/// Returns the model's id, creating the model if it does not exist (the
/// name was checked with the rest of the input).
fn ensure_model(tx: &Transaction<'_>, name: &str, now: i64) -> Result<i64> {
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

impl SqliteStore {
    pub(crate) fn list_providers(&self) -> Result<Vec<Provider>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {PROVIDER_COLS} FROM providers ORDER BY priority, name"
        ))?;
        let rows = st.query_map([], provider_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub(crate) fn find_provider(&self, name: &str) -> Result<Option<Provider>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = ?1"),
                [name],
                provider_from_row,
            )
            .optional()?)
    }

    pub(crate) fn provider_models(&self) -> Result<BTreeMap<String, Vec<String>>> {
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

    /// Inserts a provider and maps `models` (created if new) to it under
    /// their own names, in one transaction.
    pub(crate) fn insert_provider(
        &mut self,
        name: &str,
        f: &ProviderFields,
        models: &[String],
    ) -> Result<()> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO providers (name, kind, base_url, api_key, api_key_env, priority, weight,
               max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            provider_params(&name, &f.kind.as_str(), f, &now),
        )
        .map_err(|e| map_unique(e, "provider", name))?;
        let pid = tx.last_insert_rowid();
        for m in models {
            let mid = ensure_model(&tx, m, now)?;
            upsert_mapping(&tx, mid, pid, m, None, None, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes `f` over `current`, maps `models` that are not mapped yet, and
    /// renames it to `name` when that differs, in one transaction.
    pub(crate) fn update_provider(
        &mut self,
        current: &Provider,
        name: &str,
        f: &ProviderFields,
        models: &[String],
    ) -> Result<()> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE providers SET kind = ?2, base_url = ?3, api_key = ?4, api_key_env = ?5,
               priority = ?6, weight = ?7, max_retries = ?8, timeout_ms = ?9,
               rate_limit_rpm = ?10, enabled = ?11, updated_at = ?12
             WHERE id = ?1",
            provider_params(&current.id, &f.kind.as_str(), f, &now),
        )?;
        for m in models {
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
        if name != current.name {
            tx.execute(
                "UPDATE providers SET name = ?2 WHERE id = ?1",
                params![current.id, name],
            )
            .map_err(|e| map_unique(e, "provider", name))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Models for which `provider` is the only mapped provider.
    pub(crate) fn models_only_served_by(&self, provider: &str) -> Result<Vec<String>> {
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

    /// Deletes a provider; its mappings go with it (foreign keys cascade).
    pub(crate) fn delete_provider(&mut self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM providers WHERE name = ?1", [name])?;
        Ok(())
    }

    /// All models (or the one named `only`), with their mappings.
    pub(crate) fn model_views(&self, only: Option<&str>) -> Result<Vec<ModelView>> {
        let mut st = self.conn.prepare(
            "SELECT id, name, description, enabled, created_at, updated_at FROM models
             WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        )?;
        let models = st
            .query_map([only], model_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        self.with_mappings(models)
    }

    /// Each model with its mappings (one indexed query per model: the
    /// primary key of `model_providers` starts with the model).
    pub(super) fn with_mappings(&self, models: Vec<(i64, ModelView)>) -> Result<Vec<ModelView>> {
        let mut mst = self.conn.prepare_cached(
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

    /// Creates a model with its mappings (or, with `existing_ok`, adds or
    /// updates mappings of an existing one), in one transaction.
    pub(crate) fn upsert_model(
        &mut self,
        name: &str,
        description: Option<&str>,
        enabled: Option<bool>,
        mappings: &[MappingInput],
        existing_ok: bool,
    ) -> Result<()> {
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
        Ok(())
    }

    /// False when there is no such model.
    pub(crate) fn set_model_enabled(&mut self, name: &str, enabled: bool) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE models SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, enabled, now_ms()],
        )?;
        Ok(n > 0)
    }

    /// False when the model is not mapped to the provider.
    pub(crate) fn delete_mapping(&mut self, model: &str, provider: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM model_providers WHERE
               model_id = (SELECT id FROM models WHERE name = ?1) AND
               provider_id = (SELECT id FROM providers WHERE name = ?2)",
            [model, provider],
        )?;
        Ok(n > 0)
    }

    /// False when there is no such model.
    pub(crate) fn delete_model(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM models WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    pub(crate) fn insert_key(&mut self, k: &NewKey) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (name, key_hash, prefix, rpm_limit, allowed_models, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                k.name,
                k.key_hash,
                k.prefix,
                k.rpm_limit,
                k.models_json,
                now_ms()
            ],
        )
        .map_err(|e| map_unique(e, "key", &k.name))?;
        bump_keys_version(&tx, 1)?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn list_keys(&self) -> Result<Vec<ClientKey>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {CLIENT_KEY_COLS} FROM api_keys ORDER BY name"
        ))?;
        let rows = st.query_map([], client_key_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub(crate) fn find_key(&self, name: &str) -> Result<Option<ClientKey>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CLIENT_KEY_COLS} FROM api_keys WHERE name = ?1"),
                [name],
                client_key_from_row,
            )
            .optional()?)
    }

    /// False when there is no such key or it was already revoked.
    pub(crate) fn revoke_key(&mut self, name: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now_ms()],
        )?;
        bump_keys_version(&tx, n as i64)?;
        tx.commit()?;
        Ok(n > 0)
    }

    pub(crate) fn catalog_versions(&self) -> Result<Versions> {
        read_versions(&self.conn)
    }

    pub(crate) fn load_key_changes(
        &mut self,
        max_key_id: i64,
        on_key: &mut dyn FnMut(KeyRow<'_>),
    ) -> Result<KeyChanges> {
        let tx = self.conn.transaction()?;
        let versions = read_versions(&tx)?;
        let max = read_max_key_id(&tx)?;
        // Created since (by id: keys are never deleted by llmo), then the
        // older ones that are revoked now.
        read_key_rows(
            &tx,
            &format!("SELECT {KEY_ROW_COLS} FROM api_keys WHERE id > ?1"),
            &[&max_key_id],
            on_key,
        )?;
        read_key_rows(
            &tx,
            &format!(
                "SELECT {KEY_ROW_COLS} FROM api_keys WHERE revoked_at IS NOT NULL AND id <= ?1"
            ),
            &[&max_key_id],
            on_key,
        )?;
        tx.commit()?;
        Ok(KeyChanges {
            versions,
            max_key_id: max.max(max_key_id),
        })
    }

    /// Reads the whole routing catalog in one read transaction.
    pub(crate) fn load_catalog(&mut self, on_key: &mut dyn FnMut(KeyRow<'_>)) -> Result<Catalog> {
        let tx = self.conn.transaction()?;
        let versions = read_versions(&tx)?;
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
            let index: HashMap<i64, usize> = models
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (*id, i))
                .collect();
            for row in rows {
                let (mid, mapping) = row?;
                if let Some(&i) = index.get(&mid) {
                    models[i].1.mappings.push(mapping);
                }
            }
        }
        let max_key_id = read_max_key_id(&tx)?;
        read_key_rows(
            &tx,
            &format!("SELECT {KEY_ROW_COLS} FROM api_keys WHERE revoked_at IS NULL"),
            &[],
            on_key,
        )?;
        tx.commit()?;
        Ok(Catalog {
            versions,
            max_key_id,
            providers,
            models: models.into_iter().map(|(_, m)| m).collect(),
        })
    }
}

pub(super) const CLIENT_KEY_COLS: &str =
    "name, key_hash, prefix, rpm_limit, allowed_models, created_at, last_used_at, revoked_at";

/// A `models` row (`id, name, description, enabled, created_at,
/// updated_at`) as its id and a view without mappings.
pub(super) fn model_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, ModelView)> {
    Ok((
        r.get(0)?,
        ModelView {
            name: r.get(1)?,
            description: r.get(2)?,
            enabled: r.get(3)?,
            providers: Vec::new(),
            created_at: rfc3339(r.get(4)?),
            updated_at: rfc3339(r.get(5)?),
        },
    ))
}

pub(super) fn client_key_from_row(r: &Row<'_>) -> rusqlite::Result<ClientKey> {
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
}

/// Adds `n` to the `keys_version` counter (see [`Versions`]), in the
/// transaction of the key write it accounts for. Only for the writes
/// `load_key_changes` reads back: a new key row, or a revocation. Any other
/// key change (an edited limit, a deleted row) must not call it, so that the
/// gateway reloads the whole catalog instead.
fn bump_keys_version(tx: &Transaction<'_>, n: i64) -> Result<()> {
    if n > 0 {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('keys_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = value + ?1",
            [n],
        )?;
    }
    Ok(())
}

pub(super) fn read_versions(conn: &rusqlite::Connection) -> Result<Versions> {
    let mut v = Versions::default();
    let mut st = conn.prepare_cached(
        "SELECT key, value FROM meta WHERE key IN ('config_version', 'keys_version')",
    )?;
    let mut rows = st.query([])?;
    let mut seen_config = false;
    while let Some(r) = rows.next()? {
        match text(r, 0)? {
            "config_version" => {
                v.config = r.get(1)?;
                seen_config = true;
            }
            _ => v.keys = r.get(1)?,
        }
    }
    if !seen_config {
        return Err(rusqlite::Error::QueryReturnedNoRows.into());
    }
    Ok(v)
}

fn read_max_key_id(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT coalesce(max(id), 0) FROM api_keys", [], |r| {
            r.get(0)
        })?,
    )
}

/// A TEXT column borrowed from the row (no copy).
fn text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

const KEY_ROW_COLS: &str = "id, name, key_hash, rpm_limit, allowed_models, revoked_at IS NOT NULL";

/// Runs a key query and hands each row to `on_key`,
/// borrowed: no allocation per row. A row whose hash is not 64 hex digits
/// is skipped (it cannot match any key).
fn read_key_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn ToSql],
    on_key: &mut dyn FnMut(KeyRow<'_>),
) -> Result<()> {
    let mut st = conn.prepare(sql)?;
    let mut rows = st.query(params)?;
    while let Some(r) = rows.next()? {
        let Some(digest) = digest_from_hex(text(r, 2)?) else {
            continue;
        };
        on_key(KeyRow {
            id: r.get(0)?,
            name: text(r, 1)?,
            digest,
            rpm_limit: r.get(3)?,
            models_json: match r.get_ref(4)? {
                ValueRef::Null => None,
                _ => Some(text(r, 4)?),
            },
            revoked: r.get(5)?,
        });
    }
    Ok(())
}

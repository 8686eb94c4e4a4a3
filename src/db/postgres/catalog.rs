//! The catalog's SQL on PostgreSQL: providers, models, mappings and client
//! keys, with the same semantics as `db/sqlite/catalog.rs` (triggers bump
//! `config_version` on every change; a UNIQUE violation is a duplicate
//! name). Checks and defaults are applied before these run
//! (`db/catalog.rs`). Whole-catalog reads run in one read-only
//! REPEATABLE READ transaction, the equivalent of SQLite's read
//! transaction: one consistent snapshot.
use std::collections::{BTreeMap, HashMap};

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, IsolationLevel, Row, Transaction};

use super::PgStore;
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

pub(super) fn provider_from_row(r: &Row) -> Provider {
    let kind: &str = r.get(2);
    Provider {
        id: r.get(0),
        name: r.get(1),
        kind: kind.parse().unwrap_or(ProviderKind::OpenAiCompatible),
        base_url: r.get(3),
        api_key: r.get::<_, Option<String>>(4).map(Secret::new),
        api_key_env: r.get(5),
        priority: r.get(6),
        weight: r.get(7),
        max_retries: r.get(8),
        timeout_ms: r.get(9),
        rate_limit_rpm: r.get(10),
        enabled: r.get(11),
        created_at: r.get(12),
        updated_at: r.get(13),
    }
}

/// A UNIQUE violation is a duplicate name; anything else stays as it is.
pub(super) fn map_unique(e: postgres::Error, what: &'static str, name: &str) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Duplicate {
            what,
            name: name.to_string(),
        };
    }
    e.into()
}

/// The parameters of the provider INSERT and UPDATE: `$1` is `first` (the
/// name, or the id), then the fields in column order (`kind` as text), then
/// `$12` the time.
fn provider_params<'a>(
    first: &'a (dyn ToSql + Sync),
    kind: &'a &'static str,
    f: &'a ProviderFields,
    now: &'a i64,
) -> [&'a (dyn ToSql + Sync); 12] {
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

fn provider_id(tx: &mut impl GenericClient, name: &str) -> Result<i64> {
    tx.query_opt("SELECT id FROM providers WHERE name = $1", &[&name])?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound {
            what: "provider",
            name: name.to_string(),
        })
}

/// Returns the model's id, creating the model if it does not exist (the
/// name was checked with the rest of the input).
fn ensure_model(tx: &mut impl GenericClient, name: &str, now: i64) -> Result<i64> {
    if let Some(r) = tx.query_opt("SELECT id FROM models WHERE name = $1", &[&name])? {
        return Ok(r.get(0));
    }
    Ok(tx
        .query_one(
            "INSERT INTO models (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
            &[&name, &now],
        )?
        .get(0))
}

fn upsert_mapping(
    tx: &mut impl GenericClient,
    ids: (i64, i64),
    upstream: &str,
    priority: Option<i64>,
    weight: Option<i64>,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO model_providers (model_id, provider_id, upstream_model, priority, weight, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (model_id, provider_id) DO UPDATE SET
           upstream_model = excluded.upstream_model,
           priority = excluded.priority,
           weight = excluded.weight",
        &[&ids.0, &ids.1, &upstream, &priority, &weight, &now],
    )?;
    Ok(())
}

/// A read-only transaction on one snapshot (the catalog's reads).
pub(super) fn snapshot(c: &mut postgres::Client) -> Result<Transaction<'_>> {
    Ok(c.build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

impl PgStore {
    pub(crate) fn list_providers(&self) -> Result<Vec<Provider>> {
        let rows = self.conn().query(
            &format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY priority, name"),
            &[],
        )?;
        Ok(rows.iter().map(provider_from_row).collect())
    }

    pub(crate) fn find_provider(&self, name: &str) -> Result<Option<Provider>> {
        let row = self.conn().query_opt(
            &format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = $1"),
            &[&name],
        )?;
        Ok(row.as_ref().map(provider_from_row))
    }

    pub(crate) fn provider_models(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = self.conn().query(
            "SELECT p.name, m.name FROM model_providers mp
             JOIN providers p ON p.id = mp.provider_id
             JOIN models m ON m.id = mp.model_id
             ORDER BY p.name, m.name",
            &[],
        )?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            out.entry(r.get(0)).or_default().push(r.get(1));
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
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let pid: i64 = tx
            .query_one(
                "INSERT INTO providers (name, kind, base_url, api_key, api_key_env, priority, weight,
                   max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
                &provider_params(&name, &f.kind.as_str(), f, &now),
            )
            .map_err(|e| map_unique(e, "provider", name))?
            .get(0);
        for m in models {
            let mid = ensure_model(&mut tx, m, now)?;
            upsert_mapping(&mut tx, (mid, pid), m, None, None, now)?;
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
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        tx.execute(
            "UPDATE providers SET kind = $2, base_url = $3, api_key = $4, api_key_env = $5,
               priority = $6, weight = $7, max_retries = $8, timeout_ms = $9,
               rate_limit_rpm = $10, enabled = $11, updated_at = $12
             WHERE id = $1",
            &provider_params(&current.id, &f.kind.as_str(), f, &now),
        )?;
        for m in models {
            let mid = ensure_model(&mut tx, m, now)?;
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM model_providers WHERE model_id = $1 AND provider_id = $2",
                    &[&mid, &current.id],
                )?
                .is_some();
            if !exists {
                upsert_mapping(&mut tx, (mid, current.id), m, None, None, now)?;
            }
        }
        if name != current.name {
            tx.execute(
                "UPDATE providers SET name = $2 WHERE id = $1",
                &[&current.id, &name],
            )
            .map_err(|e| map_unique(e, "provider", name))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Models for which `provider` is the only mapped provider.
    pub(crate) fn models_only_served_by(&self, provider: &str) -> Result<Vec<String>> {
        let rows = self.conn().query(
            "SELECT m.name FROM models m
             JOIN model_providers mp ON mp.model_id = m.id
             JOIN providers p ON p.id = mp.provider_id
             WHERE p.name = $1
               AND (SELECT count(*) FROM model_providers x WHERE x.model_id = m.id) = 1
             ORDER BY m.name",
            &[&provider],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Deletes a provider; its mappings go with it (foreign keys cascade).
    pub(crate) fn delete_provider(&mut self, name: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM providers WHERE name = $1", &[&name])?;
        Ok(())
    }

    /// All models (or the one named `only`), with their mappings: two
    /// queries, whatever the number of models.
    pub(crate) fn model_views(&self, only: Option<&str>) -> Result<Vec<ModelView>> {
        let mut c = self.conn();
        let mut tx = snapshot(&mut c)?;
        let models = tx.query(
            "SELECT id, name, description, enabled, created_at, updated_at FROM models
             WHERE $1::text IS NULL OR name = $1 ORDER BY name",
            &[&only],
        )?;
        let mut index = HashMap::with_capacity(models.len());
        let mut out: Vec<ModelView> = Vec::with_capacity(models.len());
        for r in &models {
            index.insert(r.get::<_, i64>(0), out.len());
            out.push(ModelView {
                name: r.get(1),
                description: r.get(2),
                enabled: r.get(3),
                providers: Vec::new(),
                created_at: rfc3339(r.get(4)),
                updated_at: rfc3339(r.get(5)),
            });
        }
        let maps = tx.query(
            "SELECT mp.model_id, p.name, mp.upstream_model, mp.priority, mp.weight, mp.enabled
             FROM model_providers mp JOIN providers p ON p.id = mp.provider_id
             JOIN models m ON m.id = mp.model_id
             WHERE $1::text IS NULL OR m.name = $1
             ORDER BY coalesce(mp.priority, p.priority), p.name",
            &[&only],
        )?;
        tx.commit()?;
        for r in &maps {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                out[i].providers.push(MappingView {
                    provider: r.get(1),
                    upstream_model: r.get(2),
                    priority: r.get(3),
                    weight: r.get(4),
                    enabled: r.get(5),
                });
            }
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
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let existing: Option<i64> = tx
            .query_opt("SELECT id FROM models WHERE name = $1", &[&name])?
            .map(|r| r.get(0));
        let mid = match existing {
            Some(_) if !existing_ok => {
                return Err(StoreError::Duplicate {
                    what: "model",
                    name: name.to_string(),
                })
            }
            Some(id) => {
                tx.execute(
                    "UPDATE models SET description = coalesce($2, description),
                       enabled = coalesce($3, enabled), updated_at = $4 WHERE id = $1",
                    &[&id, &description, &enabled, &now],
                )?;
                id
            }
            None => tx
                .query_one(
                    "INSERT INTO models (name, description, enabled, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    &[
                        &name,
                        &description.unwrap_or(""),
                        &enabled.unwrap_or(true),
                        &now,
                    ],
                )
                .map_err(|e| map_unique(e, "model", name))?
                .get(0),
        };
        for m in mappings {
            let pid = provider_id(&mut tx, &m.provider)?;
            let upstream = m.upstream_model.as_deref().unwrap_or(name);
            upsert_mapping(&mut tx, (mid, pid), upstream, m.priority, m.weight, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// False when there is no such model.
    pub(crate) fn set_model_enabled(&mut self, name: &str, enabled: bool) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE models SET enabled = $2, updated_at = $3 WHERE name = $1",
            &[&name, &enabled, &now_ms()],
        )?;
        Ok(n > 0)
    }

    /// False when the model is not mapped to the provider.
    pub(crate) fn delete_mapping(&mut self, model: &str, provider: &str) -> Result<bool> {
        let n = self.conn().execute(
            "DELETE FROM model_providers WHERE
               model_id = (SELECT id FROM models WHERE name = $1) AND
               provider_id = (SELECT id FROM providers WHERE name = $2)",
            &[&model, &provider],
        )?;
        Ok(n > 0)
    }

    /// False when there is no such model.
    pub(crate) fn delete_model(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM models WHERE name = $1", &[&name])?;
        Ok(n > 0)
    }

    pub(crate) fn insert_key(&mut self, k: &NewKey) -> Result<()> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (name, key_hash, prefix, rpm_limit, allowed_models, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &k.name,
                &k.key_hash,
                &k.prefix,
                &k.rpm_limit,
                &k.models_json,
                &now_ms(),
            ],
        )
        .map_err(|e| map_unique(e, "key", &k.name))?;
        bump_keys_version(&mut tx, 1)?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn list_keys(&self) -> Result<Vec<ClientKey>> {
        let rows = self.conn().query(
            &format!("SELECT {CLIENT_KEY_COLS} FROM api_keys ORDER BY name"),
            &[],
        )?;
        Ok(rows.iter().map(client_key_from_row).collect())
    }

    pub(crate) fn find_key(&self, name: &str) -> Result<Option<ClientKey>> {
        let row = self.conn().query_opt(
            &format!("SELECT {CLIENT_KEY_COLS} FROM api_keys WHERE name = $1"),
            &[&name],
        )?;
        Ok(row.as_ref().map(client_key_from_row))
    }

    /// False when there is no such key or it was already revoked.
    pub(crate) fn revoke_key(&mut self, name: &str) -> Result<bool> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let n = tx.execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            &[&name, &now_ms()],
        )?;
        bump_keys_version(&mut tx, i64::try_from(n).unwrap_or(0))?;
        tx.commit()?;
        Ok(n > 0)
    }

    pub(crate) fn catalog_versions(&self) -> Result<Versions> {
        read_versions(&mut *self.conn())
    }

    pub(crate) fn load_key_changes(
        &mut self,
        max_key_id: i64,
        on_key: &mut dyn FnMut(KeyRow<'_>),
    ) -> Result<KeyChanges> {
        let mut c = self.conn();
        let mut tx = snapshot(&mut c)?;
        let versions = read_versions(&mut tx)?;
        let max = read_max_key_id(&mut tx)?;
        // Created since (by id: keys are never deleted by llmo), then the
        // older ones that are revoked now.
        read_key_rows(
            &mut tx,
            &format!("SELECT {KEY_ROW_COLS} FROM api_keys WHERE id > $1"),
            &[&max_key_id],
            on_key,
        )?;
        read_key_rows(
            &mut tx,
            &format!(
                "SELECT {KEY_ROW_COLS} FROM api_keys WHERE revoked_at IS NOT NULL AND id <= $1"
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

    /// Reads the whole routing catalog on one snapshot.
    pub(crate) fn load_catalog(&mut self, on_key: &mut dyn FnMut(KeyRow<'_>)) -> Result<Catalog> {
        let mut c = self.conn();
        let mut tx = snapshot(&mut c)?;
        let versions = read_versions(&mut tx)?;
        let providers = tx
            .query(
                &format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY id"),
                &[],
            )?
            .iter()
            .map(provider_from_row)
            .collect();
        let mut models: Vec<RouteModel> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for r in tx.query(
            "SELECT id, name, enabled, created_at FROM models ORDER BY name",
            &[],
        )? {
            index.insert(r.get(0), models.len());
            models.push(RouteModel {
                name: r.get(1),
                enabled: r.get(2),
                created_at: r.get(3),
                mappings: Vec::new(),
            });
        }
        for r in tx.query(
            "SELECT model_id, provider_id, upstream_model, priority, weight, enabled
             FROM model_providers",
            &[],
        )? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                models[i].mappings.push(RouteMapping {
                    provider_id: r.get(1),
                    upstream_model: r.get(2),
                    priority: r.get(3),
                    weight: r.get(4),
                    enabled: r.get(5),
                });
            }
        }
        let max_key_id = read_max_key_id(&mut tx)?;
        read_key_rows(
            &mut tx,
            &format!("SELECT {KEY_ROW_COLS} FROM api_keys WHERE revoked_at IS NULL"),
            &[],
            on_key,
        )?;
        tx.commit()?;
        Ok(Catalog {
            versions,
            max_key_id,
            providers,
            models,
        })
    }
}

const CLIENT_KEY_COLS: &str =
    "name, key_hash, prefix, rpm_limit, allowed_models, created_at, last_used_at, revoked_at";

fn client_key_from_row(r: &Row) -> ClientKey {
    let models: Option<&str> = r.get(4);
    ClientKey {
        name: r.get(0),
        key_hash: r.get(1),
        prefix: r.get(2),
        rpm_limit: r.get(3),
        models: models.and_then(|m| serde_json::from_str(m).ok()),
        created_at: r.get(5),
        last_used_at: r.get(6),
        revoked_at: r.get(7),
    }
}

/// Adds `n` to the `keys_version` counter (see [`Versions`]), in the
/// transaction of the key write it accounts for: only for a new key row or
/// a revocation (what `load_key_changes` reads back).
fn bump_keys_version(tx: &mut impl GenericClient, n: i64) -> Result<()> {
    if n > 0 {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('keys_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = meta.value + excluded.value",
            &[&n],
        )?;
    }
    Ok(())
}

pub(super) fn read_versions(c: &mut impl GenericClient) -> Result<Versions> {
    let mut v = Versions::default();
    let mut seen_config = false;
    for r in c.query(
        "SELECT key, value FROM meta WHERE key IN ('config_version', 'keys_version')",
        &[],
    )? {
        match r.get::<_, &str>(0) {
            "config_version" => {
                v.config = r.get(1);
                seen_config = true;
            }
            _ => v.keys = r.get(1),
        }
    }
    if !seen_config {
        return Err(StoreError::Schema {
            message: "the database has no `config_version` in its `meta` table".into(),
            hint: "it was not created by llmo's migrations; `llmo migrate status` tells more"
                .into(),
        });
    }
    Ok(v)
}

fn read_max_key_id(c: &mut impl GenericClient) -> Result<i64> {
    Ok(
        c.query_one("SELECT coalesce(max(id), 0)::bigint FROM api_keys", &[])?
            .get(0),
    )
}

const KEY_ROW_COLS: &str = "id, name, key_hash, rpm_limit, allowed_models, revoked_at IS NOT NULL";

/// Runs a key query and hands each row to `on_key` as it arrives (rows are
/// streamed, not collected: 100k keys never sit in memory twice). A row
/// whose hash is not 64 hex digits is skipped (it cannot match any key).
fn read_key_rows(
    tx: &mut Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    on_key: &mut dyn FnMut(KeyRow<'_>),
) -> Result<()> {
    let mut rows = tx.query_raw(sql, params.iter().copied())?;
    while let Some(r) = rows.next()? {
        let Some(digest) = digest_from_hex(r.get(2)) else {
            continue;
        };
        on_key(KeyRow {
            id: r.get(0),
            name: r.get(1),
            digest,
            rpm_limit: r.get(3),
            models_json: r.get(4),
            revoked: r.get(5),
        });
    }
    Ok(())
}

//! The SQL behind `llmo config export` / `apply` on PostgreSQL (see
//! `db/catalog_state.rs`): the state read on one snapshot; an apply's
//! changes written in one transaction that first locks the
//! `config_version` row, so two applies (from two replicas) serialise and
//! the second sees the first's version and is refused as a conflict.
use std::collections::HashMap;

use postgres::Transaction;

use super::catalog::{provider_from_row, read_versions, snapshot, PROVIDER_COLS};
use super::PgStore;
use crate::catalog::MappingView;
use crate::db::catalog_state::{CatalogChange, CatalogState, KeyLimits, ModelState};
use crate::db::{Result, StoreError};
use crate::time::now_ms;

impl PgStore {
    pub(crate) fn catalog_state(&mut self) -> Result<CatalogState> {
        let mut c = self.conn();
        let mut tx = snapshot(&mut c)?;
        let version = read_versions(&mut tx)?.config;
        let providers = tx
            .query(
                &format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY name"),
                &[],
            )?
            .iter()
            .map(provider_from_row)
            .collect();
        let mut models = Vec::new();
        let mut index = HashMap::new();
        for r in tx.query(
            "SELECT id, name, description, enabled FROM models ORDER BY name",
            &[],
        )? {
            index.insert(r.get::<_, i64>(0), models.len());
            models.push(ModelState {
                name: r.get(1),
                description: r.get(2),
                enabled: r.get(3),
                mappings: Vec::new(),
            });
        }
        for r in tx.query(
            "SELECT mp.model_id, p.name, mp.upstream_model, mp.priority, mp.weight, mp.enabled
             FROM model_providers mp JOIN providers p ON p.id = mp.provider_id
             ORDER BY p.name",
            &[],
        )? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                let m: &mut ModelState = &mut models[i];
                m.mappings.push(MappingView {
                    provider: r.get(1),
                    upstream_model: r.get(2),
                    priority: r.get(3),
                    weight: r.get(4),
                    enabled: r.get(5),
                });
            }
        }
        let keys = tx
            .query(
                "SELECT name, rpm_limit, allowed_models, revoked_at IS NOT NULL
                 FROM api_keys ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| KeyLimits {
                name: r.get(0),
                rpm_limit: r.get(1),
                models: r
                    .get::<_, Option<&str>>(2)
                    .and_then(|m| serde_json::from_str(m).ok()),
                revoked: r.get(3),
            })
            .collect();
        tx.commit()?;
        Ok(CatalogState {
            version,
            providers,
            models,
            keys,
        })
    }

    pub(crate) fn apply_catalog_changes(
        &mut self,
        expected: i64,
        changes: &[CatalogChange],
    ) -> Result<i64> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        // The row lock: held to the commit, taken before reading.
        let current: i64 = tx
            .query_one(
                "SELECT value FROM meta WHERE key = 'config_version' FOR UPDATE",
                &[],
            )?
            .get(0);
        if current != expected {
            return Err(StoreError::Conflict {
                message: format!(
                    "the catalog changed while the file was being planned (version {expected} -> {current})"
                ),
                hint: Some("run the command again".into()),
            });
        }
        let now = now_ms();
        for ch in changes {
            apply_one(&mut tx, ch, now)?;
        }
        // The triggers counted every row; a running gateway must see one change.
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'config_version'",
            &[&(expected + 1)],
        )?;
        tx.commit()?;
        Ok(expected + 1)
    }
}

fn apply_one(tx: &mut Transaction<'_>, c: &CatalogChange, now: i64) -> Result<()> {
    match c {
        CatalogChange::UpsertProvider { name, fields: f } => {
            tx.execute(
                "INSERT INTO providers (name, kind, base_url, api_key, api_key_env, priority, weight,
                   max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,
                   base_url = excluded.base_url, api_key = excluded.api_key,
                   api_key_env = excluded.api_key_env, priority = excluded.priority,
                   weight = excluded.weight, max_retries = excluded.max_retries,
                   timeout_ms = excluded.timeout_ms, rate_limit_rpm = excluded.rate_limit_rpm,
                   enabled = excluded.enabled, updated_at = excluded.updated_at",
                &[
                    name,
                    &f.kind.as_str(),
                    &f.base_url,
                    &f.api_key,
                    &f.api_key_env,
                    &f.priority,
                    &f.weight,
                    &f.max_retries,
                    &f.timeout_ms,
                    &f.rate_limit_rpm,
                    &f.enabled,
                    &now,
                ],
            )?;
        }
        CatalogChange::DeleteProvider(name) => {
            tx.execute("DELETE FROM providers WHERE name = $1", &[name])?;
        }
        CatalogChange::UpsertModel {
            name,
            description,
            enabled,
        } => {
            tx.execute(
                "INSERT INTO models (name, description, enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                   enabled = excluded.enabled, updated_at = excluded.updated_at",
                &[name, description, enabled, &now],
            )?;
        }
        CatalogChange::DeleteModel(name) => {
            tx.execute("DELETE FROM models WHERE name = $1", &[name])?;
        }
        CatalogChange::UpsertMapping { model, mapping: m } => {
            let n = tx.execute(
                "INSERT INTO model_providers
                   (model_id, provider_id, upstream_model, priority, weight, enabled, created_at)
                 SELECT m.id, p.id, $3, $4, $5, $6, $7 FROM models m, providers p
                 WHERE m.name = $1 AND p.name = $2
                 ON CONFLICT (model_id, provider_id) DO UPDATE SET
                   upstream_model = excluded.upstream_model, priority = excluded.priority,
                   weight = excluded.weight, enabled = excluded.enabled",
                &[
                    model,
                    &m.provider,
                    &m.upstream_model,
                    &m.priority,
                    &m.weight,
                    &m.enabled,
                    &now,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: "provider",
                    name: m.provider.clone(),
                });
            }
        }
        CatalogChange::DeleteMapping { model, provider } => {
            tx.execute(
                "DELETE FROM model_providers WHERE
                   model_id = (SELECT id FROM models WHERE name = $1) AND
                   provider_id = (SELECT id FROM providers WHERE name = $2)",
                &[model, provider],
            )?;
        }
        CatalogChange::SetKeyLimits(k) => {
            let models = k
                .models
                .as_ref()
                .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
            let n = tx.execute(
                "UPDATE api_keys SET rpm_limit = $2, allowed_models = $3
                 WHERE name = $1 AND revoked_at IS NULL",
                &[&k.name, &k.rpm_limit, &models],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: "key",
                    name: k.name.clone(),
                });
            }
        }
    }
    Ok(())
}

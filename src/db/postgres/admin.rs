//! The admin API's SQL on PostgreSQL beyond the catalog and log reads: one
//! mapping's partial update, per-model totals, the latency sample and the
//! per-minute totals behind the overview series. (Skeleton: the stats
//! bodies that answer "not yet on PostgreSQL" are filled in by the
//! request-log work.)
use super::logs::not_yet;
use super::PgStore;
use crate::db::admin::{LatencySample, MappingPatch, ModelStats};
use crate::db::logs::Sums;
use crate::db::{Result, StoreError};
use crate::time::now_ms;

impl PgStore {
    fn mapping_ids(&self, model: &str, provider: &str) -> Result<(i64, i64)> {
        let mut c = self.conn();
        let mid: i64 = c
            .query_opt("SELECT id FROM models WHERE name = $1", &[&model])?
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::NotFound {
                what: "model",
                name: model.to_string(),
            })?;
        let pid: i64 = c
            .query_opt("SELECT id FROM providers WHERE name = $1", &[&provider])?
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::NotFound {
                what: "provider",
                name: provider.to_string(),
            })?;
        Ok((mid, pid))
    }

    pub(crate) fn mapping_exists(&self, model: &str, provider: &str) -> Result<bool> {
        let (mid, pid) = self.mapping_ids(model, provider)?;
        Ok(self
            .conn()
            .query_opt(
                "SELECT 1 FROM model_providers WHERE model_id = $1 AND provider_id = $2",
                &[&mid, &pid],
            )?
            .is_some())
    }

    /// Applies a checked patch to one mapping, in one transaction.
    pub(crate) fn update_mapping(
        &mut self,
        model: &str,
        provider: &str,
        patch: &MappingPatch,
    ) -> Result<()> {
        let (mid, pid) = self.mapping_ids(model, provider)?;
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let cur = tx.query_opt(
            "SELECT upstream_model, priority, weight, enabled FROM model_providers
             WHERE model_id = $1 AND provider_id = $2 FOR UPDATE",
            &[&mid, &pid],
        )?;
        let Some(cur) = cur else {
            return Err(StoreError::NotFound {
                what: "mapping",
                name: format!("{model} -> {provider}"),
            });
        };
        let (upstream, priority, weight, enabled): (String, Option<i64>, Option<i64>, bool) =
            (cur.get(0), cur.get(1), cur.get(2), cur.get(3));
        tx.execute(
            "UPDATE model_providers SET upstream_model = $3, priority = $4, weight = $5, enabled = $6
             WHERE model_id = $1 AND provider_id = $2",
            &[
                &mid,
                &pid,
                &patch.upstream_model.as_deref().map(str::trim).unwrap_or(&upstream),
                &patch.priority.unwrap_or(priority),
                &patch.weight.unwrap_or(weight),
                &patch.enabled.unwrap_or(enabled),
            ],
        )?;
        tx.execute(
            "UPDATE models SET updated_at = $2 WHERE id = $1",
            &[&mid, &now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn stats_by_model(&self, _first: i64, _last: i64) -> Result<Vec<ModelStats>> {
        not_yet()
    }

    pub(crate) fn latency_sample(
        &self,
        _from_ms: i64,
        _to_ms: i64,
        _limit: usize,
    ) -> Result<Vec<LatencySample>> {
        not_yet()
    }

    pub(crate) fn provider_minutes(&self, _first: i64, _last: i64) -> Result<Vec<(i64, Sums)>> {
        not_yet()
    }

    pub(crate) fn explain_stats_by_model(&self) -> Result<Vec<String>> {
        not_yet()
    }
}

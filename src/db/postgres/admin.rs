//! The admin API's SQL on PostgreSQL beyond the catalog and log reads: one
//! mapping's partial update, per-model totals, the latency sample and the
//! per-minute totals behind the overview series. Sums of BIGINT columns are
//! NUMERIC in PostgreSQL: cast back to BIGINT (what the store reads).
use postgres::Row;

use super::PgStore;
use crate::db::admin::{LatencySample, MappingPatch, ModelStats};
use crate::db::logs::Sums;
use crate::db::{Result, StoreError};
use crate::time::now_ms;

const STATS_BY_MODEL: &str = "SELECT model, sum(requests)::bigint, sum(errors)::bigint, \
     sum(latency_ms_total), sum(tokens_in)::bigint, sum(tokens_out)::bigint \
     FROM model_stats WHERE bucket >= $1 AND bucket <= $2 \
     GROUP BY model ORDER BY model COLLATE \"C\"";

/// [`Sums`] from columns 1..=5: requests, errors, latency total, tokens in
/// and out (the shape of both per-minute totals queries below).
fn error_sums(r: &Row) -> Sums {
    Sums {
        requests: r.get(1),
        errors: r.get(2),
        latency_ms_total: r.get(3),
        tokens_in: r.get(4),
        tokens_out: r.get(5),
        ..Default::default()
    }
}

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

    /// Per-model totals over the minute buckets `first..=last`.
    pub(crate) fn stats_by_model(&self, first: i64, last: i64) -> Result<Vec<ModelStats>> {
        let rows = self.conn().query(STATS_BY_MODEL, &[&first, &last])?;
        Ok(rows
            .iter()
            .map(|r| ModelStats::new(r.get(0), error_sums(r)))
            .collect())
    }

    /// Provider, model and latency of the newest `limit` requests of
    /// `[from_ms, to_ms)`.
    pub(crate) fn latency_sample(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<LatencySample>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.conn().query(
            "SELECT provider, model, latency_ms FROM request_logs
             WHERE ts >= $1 AND ts < $2 ORDER BY ts DESC LIMIT $3",
            &[&from_ms, &to_ms, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// All providers' totals per minute bucket in `first..=last` (only the
    /// minutes that have rows).
    pub(crate) fn provider_minutes(&self, first: i64, last: i64) -> Result<Vec<(i64, Sums)>> {
        let rows = self.conn().query(
            "SELECT bucket, sum(requests)::bigint, sum(failures)::bigint, sum(latency_ms_total),
                    sum(tokens_in)::bigint, sum(tokens_out)::bigint
             FROM provider_stats WHERE bucket >= $1 AND bucket <= $2 GROUP BY bucket",
            &[&first, &last],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), error_sums(r))).collect())
    }

    /// PostgreSQL's plan for the per-model totals query.
    pub(crate) fn explain_stats_by_model(&self) -> Result<Vec<String>> {
        let rows = self
            .conn()
            .query(&format!("EXPLAIN {STATS_BY_MODEL}"), &[&0_i64, &1_i64])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

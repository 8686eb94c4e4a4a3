//! The admin API's SQL on SQLite beyond the catalog and log reads: one
//! mapping's partial update, per-model totals, the latency sample and the
//! per-minute totals behind the overview series.
use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::db::admin::{LatencySample, MappingPatch, ModelStats};
use crate::db::logs::Sums;
use crate::db::{Result, StoreError};
use crate::time::now_ms;

/// [`Sums`] from columns 1..=5: requests, errors, latency total, tokens in
/// and out (the shape of both per-minute totals queries below).
fn error_sums(r: &Row<'_>) -> rusqlite::Result<Sums> {
    Ok(Sums {
        requests: r.get(1)?,
        errors: r.get(2)?,
        latency_ms_total: r.get(3)?,
        tokens_in: r.get(4)?,
        tokens_out: r.get(5)?,
        ..Default::default()
    })
}

impl SqliteStore {
    fn mapping_ids(&self, model: &str, provider: &str) -> Result<(i64, i64)> {
        let mid: i64 = self
            .conn
            .query_row("SELECT id FROM models WHERE name = ?1", [model], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "model",
                name: model.to_string(),
            })?;
        let pid: i64 = self
            .conn
            .query_row(
                "SELECT id FROM providers WHERE name = ?1",
                [provider],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "provider",
                name: provider.to_string(),
            })?;
        Ok((mid, pid))
    }

    pub(crate) fn mapping_exists(&self, model: &str, provider: &str) -> Result<bool> {
        let (mid, pid) = self.mapping_ids(model, provider)?;
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM model_providers WHERE model_id = ?1 AND provider_id = ?2",
                params![mid, pid],
                |_| Ok(()),
            )
            .optional()?
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
        let tx = self.conn.transaction()?;
        let cur: Option<(String, Option<i64>, Option<i64>, bool)> = tx
            .query_row(
                "SELECT upstream_model, priority, weight, enabled FROM model_providers
                 WHERE model_id = ?1 AND provider_id = ?2",
                params![mid, pid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((upstream, priority, weight, enabled)) = cur else {
            return Err(StoreError::NotFound {
                what: "mapping",
                name: format!("{model} -> {provider}"),
            });
        };
        tx.execute(
            "UPDATE model_providers SET upstream_model = ?3, priority = ?4, weight = ?5, enabled = ?6
             WHERE model_id = ?1 AND provider_id = ?2",
            params![
                mid,
                pid,
                patch.upstream_model.as_deref().map(str::trim).unwrap_or(&upstream),
                patch.priority.unwrap_or(priority),
                patch.weight.unwrap_or(weight),
                patch.enabled.unwrap_or(enabled),
            ],
        )?;
        tx.execute(
            "UPDATE models SET updated_at = ?2 WHERE id = ?1",
            params![mid, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Per-model totals over the minute buckets `first..=last`.
    pub(crate) fn stats_by_model(&self, first: i64, last: i64) -> Result<Vec<ModelStats>> {
        let mut st = self.conn.prepare_cached(
            "SELECT model, sum(requests), sum(errors), sum(latency_ms_total),
                    sum(tokens_in), sum(tokens_out)
             FROM model_stats WHERE bucket >= ?1 AND bucket <= ?2
             GROUP BY model ORDER BY model",
        )?;
        let rows = st.query_map(params![first, last], |r| {
            Ok(ModelStats::new(r.get(0)?, error_sums(r)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Provider, model and latency of the newest `limit` requests of
    /// `[from_ms, to_ms)`.
    pub(crate) fn latency_sample(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<LatencySample>> {
        let mut st = self.conn.prepare_cached(
            "SELECT provider, model, latency_ms FROM request_logs
             WHERE ts >= ?1 AND ts < ?2 ORDER BY ts DESC LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![from_ms, to_ms, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// All providers' totals per minute bucket in `first..=last` (only the
    /// minutes that have rows).
    pub(crate) fn provider_minutes(&self, first: i64, last: i64) -> Result<Vec<(i64, Sums)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT bucket, sum(requests), sum(failures), sum(latency_ms_total),
                    sum(tokens_in), sum(tokens_out)
             FROM provider_stats WHERE bucket >= ?1 AND bucket <= ?2 GROUP BY bucket",
        )?;
        let rows = st.query_map(params![first, last], |r| Ok((r.get(0)?, error_sums(r)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// SQLite's plan for the per-model totals query.
    pub(crate) fn explain_stats_by_model(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "EXPLAIN QUERY PLAN SELECT model, sum(requests) FROM model_stats
             WHERE bucket >= 0 AND bucket <= 1 GROUP BY model ORDER BY model",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

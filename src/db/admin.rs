//! The SQL the admin API needs beyond the catalog and log reads: partial
//! updates of one mapping, per-model totals, latency percentiles and the
//! per-minute series behind the overview charts.
use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::logs::minute_bucket;
use super::{Result, Store, StoreError};
use crate::catalog::Invalid;
use crate::time::now_ms;

/// A change to one model → provider mapping; `None` = unchanged. For
/// `priority`/`weight`, `Some(None)` goes back to the provider's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappingPatch {
    pub upstream_model: Option<String>,
    pub priority: Option<Option<i64>>,
    pub weight: Option<Option<i64>>,
    pub enabled: Option<bool>,
}

/// Requests for one public model over a time range (from `request_logs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStats {
    pub model: String,
    pub requests: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub avg_latency_ms: f64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Latency percentiles of one group over the newest requests of a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// How many requests the percentiles were computed from.
    pub sample: usize,
}

/// Percentiles per provider and per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyPercentiles {
    pub by_provider: BTreeMap<String, Percentiles>,
    pub by_model: BTreeMap<String, Percentiles>,
}

/// One point of the overview series (all providers together).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Start of the step (epoch ms).
    pub ts_ms: i64,
    pub requests: i64,
    pub errors: i64,
    pub avg_latency_ms: f64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Requests the percentiles look at, newest first: enough for a stable p95
/// and bounded work however busy the range was.
pub const PERCENTILE_SAMPLE: usize = 20_000;

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    v.sort_by(f64::total_cmp);
    Percentiles {
        p50_ms: pct(&v, 0.50),
        p95_ms: pct(&v, 0.95),
        sample: v.len(),
    }
}

impl Store {
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

    /// Whether `model` is mapped to `provider` (both must exist).
    pub fn mapping_exists(&self, model: &str, provider: &str) -> Result<bool> {
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

    /// Changes the given fields of one mapping.
    pub fn update_mapping(
        &mut self,
        model: &str,
        provider: &str,
        patch: &MappingPatch,
    ) -> Result<()> {
        if let Some(u) = &patch.upstream_model {
            if u.trim().is_empty() {
                return Err(Invalid::new("upstream_model", "must not be empty").into());
            }
        }
        for (field, v) in [("priority", patch.priority), ("weight", patch.weight)] {
            if let Some(Some(n)) = v {
                if n < 0 {
                    return Err(Invalid::new(field, format!("must be 0 or more (got {n})")).into());
                }
            }
        }
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

    /// Per-model totals for requests that arrived in `[from_ms, to_ms)`, at
    /// minute granularity (the minutes containing `from_ms` and `to_ms - 1`
    /// count whole), from `model_stats` (rows without a model, rejected
    /// before routing, are not counted). Sorted by model.
    pub fn stats_by_model(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ModelStats>> {
        let mut st = self.conn.prepare_cached(
            "SELECT model, sum(requests), sum(errors), sum(latency_ms_total),
                    sum(tokens_in), sum(tokens_out)
             FROM model_stats WHERE bucket >= ?1 AND bucket <= ?2
             GROUP BY model ORDER BY model",
        )?;
        let first = minute_bucket(from_ms);
        let last = minute_bucket(to_ms - 1);
        let rows = st.query_map(params![first, last], |r| {
            let requests: i64 = r.get(1)?;
            let errors: i64 = r.get(2)?;
            let latency: f64 = r.get(3)?;
            Ok(ModelStats {
                model: r.get(0)?,
                requests,
                errors,
                error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
                avg_latency_ms: if requests > 0 {
                    latency / requests as f64
                } else {
                    0.0
                },
                tokens_in: r.get(4)?,
                tokens_out: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// p50/p95 latency per provider and per model, over the newest
    /// [`PERCENTILE_SAMPLE`] requests of `[from_ms, to_ms)` (exact when the
    /// range has fewer).
    pub fn latency_percentiles(&self, from_ms: i64, to_ms: i64) -> Result<LatencyPercentiles> {
        let mut st = self.conn.prepare_cached(
            "SELECT provider, model, latency_ms FROM request_logs
             WHERE ts >= ?1 AND ts < ?2 ORDER BY ts DESC LIMIT ?3",
        )?;
        let mut by_p: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut by_m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let rows = st.query_map(params![from_ms, to_ms, PERCENTILE_SAMPLE as i64], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })?;
        for row in rows {
            let (p, m, l) = row?;
            if let Some(p) = p {
                by_p.entry(p).or_default().push(l);
            }
            if let Some(m) = m {
                by_m.entry(m).or_default().push(l);
            }
        }
        Ok(LatencyPercentiles {
            by_provider: by_p.into_iter().map(|(k, v)| (k, percentiles(v))).collect(),
            by_model: by_m.into_iter().map(|(k, v)| (k, percentiles(v))).collect(),
        })
    }

    /// All providers' requests per step of `step_minutes` over
    /// `[from_ms, to_ms)`, from `provider_stats`; every step present (zeros
    /// where nothing happened), oldest first.
    pub fn stats_series(
        &self,
        from_ms: i64,
        to_ms: i64,
        step_minutes: i64,
    ) -> Result<Vec<SeriesPoint>> {
        let step = step_minutes.max(1);
        let first = minute_bucket(from_ms);
        let last = minute_bucket(to_ms - 1);
        let n = ((last - first) / step + 1).clamp(0, 10_000) as usize;
        let mut points: Vec<SeriesPoint> = (0..n)
            .map(|i| SeriesPoint {
                ts_ms: (first + i as i64 * step) * 60_000,
                requests: 0,
                errors: 0,
                avg_latency_ms: 0.0,
                tokens_in: 0,
                tokens_out: 0,
            })
            .collect();
        let mut latency = vec![0.0f64; n];
        let mut st = self.conn.prepare_cached(
            "SELECT bucket, sum(requests), sum(failures), sum(latency_ms_total),
                    sum(tokens_in), sum(tokens_out)
             FROM provider_stats WHERE bucket >= ?1 AND bucket <= ?2 GROUP BY bucket",
        )?;
        let rows = st.query_map(params![first, last], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        for row in rows {
            let (bucket, req, fail, lat, tin, tout) = row?;
            let i = ((bucket - first) / step) as usize;
            if let Some(p) = points.get_mut(i) {
                p.requests += req;
                p.errors += fail;
                p.tokens_in += tin;
                p.tokens_out += tout;
                latency[i] += lat;
            }
        }
        for (p, l) in points.iter_mut().zip(latency) {
            if p.requests > 0 {
                p.avg_latency_ms = l / p.requests as f64;
            }
        }
        Ok(points)
    }

    /// SQLite's plan for [`Store::stats_by_model`] (for tests).
    pub fn explain_stats_by_model(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "EXPLAIN QUERY PLAN SELECT model, sum(requests) FROM model_stats
             WHERE bucket >= 0 AND bucket <= 1 GROUP BY model ORDER BY model",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p95_ms, 95.0);
        assert_eq!(p.sample, 100);
        let one = percentiles(vec![7.0]);
        assert_eq!((one.p50_ms, one.p95_ms), (7.0, 7.0));
        assert_eq!(percentiles(Vec::new()).sample, 0);
    }
}

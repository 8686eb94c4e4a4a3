//! What the admin API needs beyond the catalog and log reads, engine-neutral
//! part: partial updates of one mapping (checked here), per-model totals,
//! latency percentiles (computed here from the engine's sample) and the
//! per-minute series behind the overview charts (gaps filled here).
use std::collections::BTreeMap;

use serde::Serialize;

use super::logs::{minute_bucket, Sums};
use super::{engine, Result, Store};
use crate::catalog::Invalid;

/// A change to one model → provider mapping; `None` = unchanged. For
/// `priority`/`weight`, `Some(None)` goes back to the provider's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappingPatch {
    pub upstream_model: Option<String>,
    pub priority: Option<Option<i64>>,
    pub weight: Option<Option<i64>>,
    pub enabled: Option<bool>,
}

impl MappingPatch {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if let Some(u) = &self.upstream_model {
            if u.trim().is_empty() {
                return Err(Invalid::new("upstream_model", "must not be empty"));
            }
        }
        for (field, v) in [("priority", self.priority), ("weight", self.weight)] {
            if let Some(Some(n)) = v {
                if n < 0 {
                    return Err(Invalid::new(field, format!("must be 0 or more (got {n})")));
                }
            }
        }
        Ok(())
    }
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

impl ModelStats {
    pub(crate) fn new(model: String, s: Sums) -> ModelStats {
        ModelStats {
            model,
            requests: s.requests,
            errors: s.errors,
            error_rate: s.rate(s.errors),
            avg_latency_ms: s.avg_latency_ms(),
            tokens_in: s.tokens_in,
            tokens_out: s.tokens_out,
        }
    }
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

/// One request of the percentile sample: provider, model, latency.
pub(crate) type LatencySample = (Option<String>, Option<String>, f64);

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

/// Groups the sample by provider and by model.
fn latency_percentiles(sample: Vec<LatencySample>) -> LatencyPercentiles {
    let mut by_p: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut by_m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (p, m, l) in sample {
        if let Some(p) = p {
            by_p.entry(p).or_default().push(l);
        }
        if let Some(m) = m {
            by_m.entry(m).or_default().push(l);
        }
    }
    LatencyPercentiles {
        by_provider: by_p.into_iter().map(|(k, v)| (k, percentiles(v))).collect(),
        by_model: by_m.into_iter().map(|(k, v)| (k, percentiles(v))).collect(),
    }
}

/// Every step of `step` minutes from minute `first` to `last`, oldest
/// first, summing the per-minute `buckets` that fall in it (zeros where
/// nothing happened).
fn series(first: i64, last: i64, step: i64, buckets: &[(i64, Sums)]) -> Vec<SeriesPoint> {
    let n = ((last - first) / step + 1).clamp(0, 10_000) as usize;
    let mut sums = vec![Sums::default(); n];
    for (bucket, b) in buckets {
        if let Some(s) = sums.get_mut(((bucket - first) / step) as usize) {
            s.requests += b.requests;
            s.errors += b.errors;
            s.latency_ms_total += b.latency_ms_total;
            s.tokens_in += b.tokens_in;
            s.tokens_out += b.tokens_out;
        }
    }
    sums.iter()
        .enumerate()
        .map(|(i, s)| SeriesPoint {
            ts_ms: (first + i as i64 * step) * 60_000,
            requests: s.requests,
            errors: s.errors,
            avg_latency_ms: s.avg_latency_ms(),
            tokens_in: s.tokens_in,
            tokens_out: s.tokens_out,
        })
        .collect()
}

impl Store {
    /// Whether `model` is mapped to `provider` (both must exist).
    pub fn mapping_exists(&self, model: &str, provider: &str) -> Result<bool> {
        engine!(self, s => s.mapping_exists(model, provider))
    }

    /// Changes the given fields of one mapping.
    pub fn update_mapping(
        &mut self,
        model: &str,
        provider: &str,
        patch: &MappingPatch,
    ) -> Result<()> {
        patch.validate()?;
        engine!(self, s => s.update_mapping(model, provider, patch))
    }

    /// Per-model totals for requests that arrived in `[from_ms, to_ms)`, at
    /// minute granularity (the minutes containing `from_ms` and `to_ms - 1`
    /// count whole), from `model_stats` (rows without a model, rejected
    /// before routing, are not counted). Sorted by model.
    pub fn stats_by_model(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ModelStats>> {
        let (first, last) = (minute_bucket(from_ms), minute_bucket(to_ms - 1));
        engine!(self, s => s.stats_by_model(first, last))
    }

    /// p50/p95 latency per provider and per model, over the newest
    /// [`PERCENTILE_SAMPLE`] requests of `[from_ms, to_ms)` (exact when the
    /// range has fewer).
    pub fn latency_percentiles(&self, from_ms: i64, to_ms: i64) -> Result<LatencyPercentiles> {
        let sample = engine!(self, s => s.latency_sample(from_ms, to_ms, PERCENTILE_SAMPLE))?;
        Ok(latency_percentiles(sample))
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
        let (first, last) = (minute_bucket(from_ms), minute_bucket(to_ms - 1));
        let buckets = engine!(self, s => s.provider_minutes(first, last))?;
        Ok(series(first, last, step_minutes.max(1), &buckets))
    }

    /// The engine's plan for [`Store::stats_by_model`] (for tests).
    pub fn explain_stats_by_model(&self) -> Result<Vec<String>> {
        engine!(self, s => s.explain_stats_by_model())
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

    #[test]
    fn series_fills_gaps_and_sums_steps() {
        let b = |requests, latency| Sums {
            requests,
            errors: 1,
            latency_ms_total: latency,
            tokens_in: 2,
            tokens_out: 3,
            ..Default::default()
        };
        // Minutes 100..=105 in steps of 2: [100,101] [102,103] [104,105].
        let pts = series(
            100,
            105,
            2,
            &[(100, b(1, 10.0)), (101, b(3, 30.0)), (105, b(2, 5.0))],
        );
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[0].ts_ms, 100 * 60_000);
        assert_eq!((pts[0].requests, pts[0].errors), (4, 2));
        assert_eq!(pts[0].avg_latency_ms, 10.0);
        assert_eq!((pts[1].requests, pts[1].avg_latency_ms), (0, 0.0));
        assert_eq!((pts[2].requests, pts[2].tokens_out), (2, 3));
    }
}

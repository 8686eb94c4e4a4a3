//! `/admin/stats` and `/admin/stats/series`: per-provider and per-model
//! totals, and the all-provider series, over a time range.
use serde_json::{json, Value};

use super::decode::Query;
use super::reply::{bad, ok, with_store, Reply};
use crate::admin::{Admin, AdminResponse};
use crate::db::{Percentiles, PERCENTILE_SAMPLE};
use crate::time::now_ms;

const MINUTE_MS: i64 = 60_000;
/// Points of a series when the client gives no `step`.
const DEFAULT_POINTS: i64 = 60;
const MAX_POINTS: i64 = 5000;

pub(super) async fn totals(admin: &Admin, query: &Query) -> Reply {
    let (from, to) = range(query)?;
    let (providers, models, pct) = with_store(admin, move |s| {
        let providers = s.stats_by_provider(from, to)?;
        let models = s.stats_by_model(from, to)?;
        let pct = s.latency_percentiles(from, to)?;
        Ok((providers, models, pct))
    })
    .await?;
    let providers: Vec<Value> = providers
        .iter()
        .map(|p| {
            let mut v = with_percentiles(json!(p), pct.by_provider.get(&p.provider));
            if let Value::Object(o) = &mut v {
                o.insert(
                    "error_rate".into(),
                    json!((p.requests > 0).then(|| p.errors as f64 / p.requests as f64)),
                );
            }
            v
        })
        .collect();
    let models: Vec<Value> = models
        .iter()
        .map(|m| with_percentiles(json!(m), pct.by_model.get(&m.model)))
        .collect();
    ok(json!({
        "from": from,
        "to": to,
        "providers": providers,
        "models": models,
        "percentiles": format!(
            "p50/p95 are computed over the newest {PERCENTILE_SAMPLE} requests of the range (exact below that)"
        ),
    }))
}

fn with_percentiles(mut v: Value, p: Option<&Percentiles>) -> Value {
    if let Value::Object(o) = &mut v {
        o.insert("p50_ms".into(), json!(p.map(|p| p.p50_ms)));
        o.insert("p95_ms".into(), json!(p.map(|p| p.p95_ms)));
        o.insert("latency_sample".into(), json!(p.map_or(0, |p| p.sample)));
    }
    v
}

pub(super) async fn series(admin: &Admin, query: &Query) -> Reply {
    let (from, to) = range(query)?;
    let step = match query.get("step").filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=1440).contains(&n) => n,
            _ => return Err(bad("step", "`step` must be minutes between 1 and 1440")),
        },
        None => ((to - from) / MINUTE_MS / DEFAULT_POINTS).max(1),
    };
    if (to - from) / MINUTE_MS / step > MAX_POINTS {
        return Err(bad("step", "too many points; use a larger `step`"));
    }
    let v = with_store(admin, move |s| s.stats_series(from, to, step)).await?;
    ok(json!({ "from": from, "to": to, "step_minutes": step, "data": v }))
}

/// `from`/`to` in epoch ms; default: the last 24 hours.
fn range(query: &Query) -> Result<(i64, i64), AdminResponse> {
    let time = |k: &str| query.int(k, "a time in epoch milliseconds");
    let to = time("to")?.unwrap_or_else(|| now_ms() + 1);
    let from = time("from")?.unwrap_or(to - 24 * 3600 * 1000);
    if from >= to {
        return Err(bad("from", "`from` must be before `to`"));
    }
    Ok((from, to))
}

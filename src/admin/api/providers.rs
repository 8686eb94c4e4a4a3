//! `/admin/providers`: list, create, read, change (incl. rename), enable,
//! disable, remove, and test one provider.
use std::time::Duration;

use serde_json::{json, Value};

use super::body::{self, ProviderCreate, ProviderUpdate};
use super::decode::{list_query, Query};
use super::reply::{created, ok, with_store, with_store_renamed, Reply};
use crate::admin::{Admin, AdminResponse};
use crate::gateway::providers::probe::{probe, ProbeOutcome};

/// The catalog's field names that differ from this endpoint's JSON names.
const RENAME: &[(&str, &str)] = &[("timeout", "timeout_ms"), ("model", "models")];

/// One page of providers by name (`limit`, `after`, `q`: see
/// `db::paging`); each shows its first model names and `model_count`.
pub(super) async fn list(admin: &Admin, query: &Query) -> Reply {
    let q = list_query(query)?;
    let page = with_store(admin, move |s| s.list_providers_page(&q)).await?;
    let v: Vec<Value> = page
        .rows
        .into_iter()
        .map(|item| {
            let mut v = json!(item.provider.view(item.models));
            if let Value::Object(o) = &mut v {
                o.insert("model_count".into(), json!(item.model_count));
            }
            v
        })
        .collect();
    ok(json!({ "data": v, "next": page.next }))
}

pub(super) async fn get(admin: &Admin, name: String) -> Reply {
    ok(view(admin, name).await?)
}

pub(super) async fn create(admin: &Admin, body: &[u8]) -> Reply {
    let (name, input) = body::parse::<ProviderCreate>(body)?.into_input()?;
    let n = name.clone();
    with_store_renamed(admin, RENAME, move |s| {
        s.add_provider(&n, &input).map(|_| ())
    })
    .await?;
    created(view(admin, name).await?)
}

/// A `name` renames (mappings and settings stay), then the other fields
/// apply, in one store call.
pub(super) async fn update(admin: &Admin, name: String, body: &[u8]) -> Reply {
    let input = body::parse::<ProviderUpdate>(body)?.into_input()?;
    let renamed = with_store_renamed(admin, RENAME, move |s| {
        s.update_provider(&name, &input).map(|p| p.name)
    })
    .await?;
    ok(view(admin, renamed).await?)
}

pub(super) async fn set_enabled(admin: &Admin, name: String, on: bool) -> Reply {
    let n = name.clone();
    with_store(admin, move |s| s.set_provider_enabled(&n, on).map(|_| ())).await?;
    ok(view(admin, name).await?)
}

/// 409 while the provider is some model's only one, unless `force=true`.
pub(super) async fn delete(admin: &Admin, name: String, query: &Query) -> Reply {
    let force = query.flag("force");
    let n = name.clone();
    let orphans = with_store(admin, move |s| s.remove_provider(&n, force)).await?;
    ok(json!({ "name": name, "deleted": true, "models_without_provider": orphans }))
}

/// One models-list request to the provider (never a paid completion).
pub(super) async fn test(admin: &Admin, name: String) -> Reply {
    let n = name.clone();
    let p = with_store(admin, move |s| s.get_provider(&n)).await?;
    let timeout = Duration::from_millis(p.timeout_ms.clamp(1, 10_000) as u64);
    let r = probe(admin.http(), &p, timeout).await;
    let (outcome, detail) = match &r.outcome {
        ProbeOutcome::Ok => ("ok", None),
        ProbeOutcome::KeyRejected => ("key_rejected", None),
        ProbeOutcome::RateLimited => ("rate_limited", None),
        ProbeOutcome::Http => ("http_error", None),
        ProbeOutcome::Timeout => ("timeout", None),
        ProbeOutcome::Connect(d) => ("connect_error", Some(d.clone())),
        ProbeOutcome::Other(d) => ("error", Some(d.clone())),
    };
    ok(json!({
        "provider": name,
        "ok": r.is_ok(),
        "outcome": outcome,
        "detail": detail,
        "status": r.status,
        "latency_ms": r.latency.as_secs_f64() * 1000.0,
        "url": r.url,
        "sent_key": r.sent_key,
    }))
}

/// The provider as the API shows it: key masked, with its models.
async fn view(admin: &Admin, name: String) -> Result<Value, AdminResponse> {
    with_store(admin, move |s| {
        let p = s.get_provider(&name)?;
        let models = s.provider_models()?.remove(&name).unwrap_or_default();
        Ok(json!(p.view(models)))
    })
    .await
}

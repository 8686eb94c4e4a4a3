//! `/admin/health`: the gateway's live circuit state per provider and the
//! stored state changes.
use serde_json::json;

use super::decode::Query;
use super::reply::{ok, with_store, Reply};
use crate::admin::Admin;

pub(super) async fn get(admin: &Admin, query: &Query) -> Reply {
    let provider = query
        .get("provider")
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let (latest, history) = with_store(admin, move |s| {
        Ok((
            s.latest_health()?,
            s.recent_health(provider.as_deref(), limit)?,
        ))
    })
    .await?;
    ok(json!({
        "providers": admin.live().provider_states(),
        "latest": latest,
        "history": history,
    }))
}

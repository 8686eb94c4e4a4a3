//! `/admin/mappings` and `/admin/models/{name}/mappings`: which providers
//! serve a public model, under which upstream name, with which overrides.
use serde_json::{json, Value};

use super::body::{self, MappingCreate, MappingUpdate};
use super::decode::{list_query, Query};
use super::reply::{created, ok, with_store, Reply};
use crate::admin::Admin;
use crate::catalog::Invalid;
use crate::db::StoreError;

/// The model → provider mappings, one row each, paged by model as
/// `/admin/models` is (`limit` models, `after` the previous page's `next`,
/// `q` in the model's name): a page holds every mapping of its models, so
/// it is bounded by `limit` × the providers a model has.
pub(super) async fn list(admin: &Admin, query: &Query) -> Reply {
    let q = list_query(query)?;
    let page = with_store(admin, move |s| s.list_models_page(&q)).await?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .flat_map(|m| {
            m.providers.iter().map(|p| {
                json!({
                    "model": m.name,
                    "provider": p.provider,
                    "upstream_model": p.upstream_model,
                    "priority": p.priority,
                    "weight": p.weight,
                    "enabled": p.enabled,
                })
            })
        })
        .collect();
    ok(json!({ "data": rows, "next": page.next }))
}

/// Maps `model` to one more provider; 409 if it already is (PATCH changes).
pub(super) async fn create(admin: &Admin, model: String, body: &[u8]) -> Reply {
    let m = body::parse::<MappingCreate>(body)?.into_input()?;
    let v = with_store(admin, move |s| {
        s.get_model(&model)?;
        if let Err(StoreError::NotFound { .. }) = s.get_provider(&m.provider) {
            return Err(Invalid::new(
                "provider",
                format!("provider `{}` does not exist", m.provider),
            )
            .into());
        }
        if s.mapping_exists(&model, &m.provider)? {
            return Err(StoreError::Conflict {
                message: format!(
                    "model `{model}` is already mapped to provider `{}`",
                    m.provider
                ),
                hint: Some("change it with PATCH instead".into()),
            });
        }
        s.add_model(&model, None, None, &[m], true)
    })
    .await?;
    created(json!(v))
}

pub(super) async fn update(admin: &Admin, model: String, provider: String, body: &[u8]) -> Reply {
    let patch = body::parse::<MappingUpdate>(body)?.into_patch();
    let v = with_store(admin, move |s| {
        s.update_mapping(&model, &provider, &patch)?;
        s.get_model(&model)
    })
    .await?;
    ok(json!(v))
}

pub(super) async fn delete(admin: &Admin, model: String, provider: String) -> Reply {
    let v = with_store(admin, move |s| {
        s.remove_mapping(&model, &provider)?;
        s.get_model(&model)
    })
    .await?;
    ok(json!(v))
}

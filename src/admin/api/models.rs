//! `/admin/models`: list, create (with mappings), read, change and remove
//! public models.
use serde_json::json;

use super::body::{self, ModelCreate, ModelUpdate};
use super::decode::{list_query, Query};
use super::reply::{created, ok, with_store, with_store_renamed, Reply};
use crate::admin::Admin;
use crate::catalog::Invalid;
use crate::db::StoreError;

/// One page of models by name (`limit`, `after`, `q`: see `db::paging`).
pub(super) async fn list(admin: &Admin, query: &Query) -> Reply {
    let q = list_query(query)?;
    let page = with_store(admin, move |s| s.list_models_page(&q)).await?;
    ok(json!({ "data": page.rows, "next": page.next }))
}

pub(super) async fn get(admin: &Admin, name: String) -> Reply {
    let v = with_store(admin, move |s| s.get_model(&name)).await?;
    ok(json!(v))
}

pub(super) async fn create(admin: &Admin, body: &[u8]) -> Reply {
    let m = body::parse::<ModelCreate>(body)?.into_model()?;
    let v = with_store_renamed(admin, &[("model", "name")], move |s| {
        for mapping in &m.mappings {
            if let Err(StoreError::NotFound { .. }) = s.get_provider(&mapping.provider) {
                return Err(Invalid::new(
                    "providers",
                    format!("provider `{}` does not exist", mapping.provider),
                )
                .into());
            }
        }
        s.add_model(
            &m.name,
            m.description.as_deref(),
            m.enabled,
            &m.mappings,
            false,
        )
    })
    .await?;
    created(json!(v))
}

pub(super) async fn update(admin: &Admin, name: String, body: &[u8]) -> Reply {
    let (description, enabled) = body::parse::<ModelUpdate>(body)?.into_parts();
    let v = with_store(admin, move |s| {
        s.get_model(&name)?;
        s.add_model(&name, description.as_deref(), enabled, &[], true)
    })
    .await?;
    ok(json!(v))
}

pub(super) async fn delete(admin: &Admin, name: String) -> Reply {
    let n = name.clone();
    with_store(admin, move |s| s.remove_model(&n)).await?;
    ok(json!({ "name": name, "deleted": true }))
}

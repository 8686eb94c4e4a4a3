//! `/admin/keys`: client API keys (list, create, revoke). Only a new key's
//! response carries the secret.
use serde_json::{json, Value};

use super::body::{self, KeyCreate};
use super::decode::{list_query, Query};
use super::reply::{created, ok, with_store, with_store_renamed, Reply};
use crate::admin::Admin;

/// One page of keys by name (`limit`, `after`, `q`: see `db::paging`).
pub(super) async fn list(admin: &Admin, query: &Query) -> Reply {
    let q = list_query(query)?;
    let page = with_store(admin, move |s| s.list_keys_page(&q)).await?;
    let v: Vec<_> = page.rows.iter().map(|k| k.view()).collect();
    ok(json!({ "data": v, "next": page.next }))
}

pub(super) async fn create(admin: &Admin, body: &[u8]) -> Reply {
    let (name, rpm, models) = body::parse::<KeyCreate>(body)?.into_parts();
    let rename = &[("rpm", "rpm_limit"), ("model", "models")];
    let (key, secret) =
        with_store_renamed(admin, rename, move |s| s.create_key(&name, rpm, models)).await?;
    let mut v = json!(key.view());
    if let Value::Object(o) = &mut v {
        // The only response that carries a secret in full: the new key,
        // once. Only its hash is stored.
        o.insert("key".into(), Value::String(secret.expose().to_string()));
    }
    created(v)
}

/// Revokes the key (it stays, for the logs) and answers its new state.
pub(super) async fn revoke(admin: &Admin, name: String) -> Reply {
    let v = with_store(admin, move |s| {
        s.revoke_key(&name)?;
        s.get_key(&name).map(|k| k.view())
    })
    .await?;
    ok(json!(v))
}

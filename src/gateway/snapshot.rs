//! The immutable routing snapshot built from the catalog: providers with
//! their adapters (keys resolved once, here), models with candidates sorted
//! into priority tiers, client keys by SHA-256, and the pre-rendered
//! `/v1/models` bodies. A reload builds a new one and swaps it in; requests
//! in flight keep the one they started with. Live state (circuits, rate
//! windows) is kept by name across snapshots.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::breaker::ProviderLive;
use super::providers::AnyAdapter;
use super::rate::KeyLive;
use crate::catalog::ProviderKind;
use crate::db::catalog::{Catalog, RouteModel};

pub(crate) struct ProviderRt {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    pub enabled: bool,
    pub max_retries: u32,
    pub timeout: Duration,
    /// `None` when the provider cannot be used; the reason is in `unusable`.
    pub adapter: Option<AnyAdapter>,
    pub unusable: Option<String>,
    /// Where the key comes from, and whether this process has it.
    pub key: KeyState,
    pub live: Arc<ProviderLive>,
}

/// A provider's key as this server sees it (names only, never a value).
pub(crate) enum KeyState {
    /// Stored in the database.
    Stored,
    /// Read from this environment variable, which is set.
    Env(Arc<str>),
    /// Named by `api_key_env` but unset (or empty) in the server's
    /// environment: the provider is skipped, never called without its key.
    Missing(Arc<str>),
    /// None configured (a server that needs none).
    None,
}

impl KeyState {
    /// Reads the provider's key source against this process's environment.
    pub(crate) fn of(p: &crate::catalog::Provider) -> KeyState {
        match (&p.api_key, &p.api_key_env) {
            (Some(_), _) => KeyState::Stored,
            (None, Some(var)) if std::env::var(var).is_ok_and(|v| !v.is_empty()) => {
                KeyState::Env(Arc::from(var.as_str()))
            }
            (None, Some(var)) => KeyState::Missing(Arc::from(var.as_str())),
            (None, None) => KeyState::None,
        }
    }

    /// `stored`, `env`, `missing` or `none` (the `key` field of `/ready`).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            KeyState::Stored => "stored",
            KeyState::Env(_) => "env",
            KeyState::Missing(_) => "missing",
            KeyState::None => "none",
        }
    }

    /// The variable's name when the key comes from one.
    pub(crate) fn var(&self) -> Option<&str> {
        match self {
            KeyState::Env(v) | KeyState::Missing(v) => Some(v),
            KeyState::Stored | KeyState::None => None,
        }
    }
}

pub(crate) struct Candidate {
    pub provider: Arc<ProviderRt>,
    pub upstream_model: Arc<str>,
    pub weight: u32,
}

pub(crate) struct ModelRoute {
    pub name: Arc<str>,
    pub enabled: bool,
    /// Usable candidates, lowest priority first; weight 0 ones are kept out.
    pub tiers: Vec<Vec<Candidate>>,
    /// Why mapped providers were left out (said in the 503 when none is left).
    pub skipped: Vec<String>,
    /// `GET /v1/models/{id}` body.
    pub json: Bytes,
}

pub(crate) struct KeyRt {
    pub name: Arc<str>,
    /// Public models this key may use; `None` means all.
    pub allowed: Option<Vec<Box<str>>>,
    pub live: Arc<KeyLive>,
}

impl KeyRt {
    pub(crate) fn allows(&self, model: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|a| a.iter().any(|m| &**m == model))
    }
}

pub(crate) struct Snapshot {
    pub version: i64,
    /// Every provider, enabled or not, in catalog order (for `/ready`).
    pub providers: Vec<Arc<ProviderRt>>,
    pub models: HashMap<Box<str>, ModelRoute>,
    /// Live (unrevoked) keys by the SHA-256 of the key.
    pub keys: HashMap<[u8; 32], Arc<KeyRt>>,
    /// `GET /v1/models` body.
    pub models_json: Bytes,
}

/// Live state by name, carried from one snapshot to the next.
#[derive(Default)]
pub(crate) struct LiveStates {
    providers: Mutex<HashMap<String, Arc<ProviderLive>>>,
    keys: Mutex<HashMap<String, Arc<KeyLive>>>,
}

#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a presented key (same digest as `db::catalog::hash_key`,
/// without the hex round trip).
pub(crate) fn key_digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

impl Snapshot {
    pub(crate) fn build(cat: &Catalog, lives: &LiveStates) -> Snapshot {
        let (providers, by_id) = build_providers(cat, lives);
        let mut models = HashMap::with_capacity(cat.models.len());
        let mut listed = Vec::new();
        for m in &cat.models {
            let (route, obj) = build_model(cat, m, &by_id);
            if m.enabled {
                listed.push(obj);
            }
            models.insert(Box::from(m.name.as_str()), route);
        }
        let models_json = Bytes::from(
            serde_json::to_vec(&ModelList {
                object: "list",
                data: listed,
            })
            .unwrap_or_default(),
        );

        Snapshot {
            version: cat.version,
            providers,
            models,
            keys: build_keys(cat, lives),
            models_json,
        }
    }
}

/// Every provider with its adapter, in catalog order, and the same by id;
/// live states of providers no longer in the catalog are dropped.
fn build_providers(
    cat: &Catalog,
    lives: &LiveStates,
) -> (Vec<Arc<ProviderRt>>, HashMap<i64, Arc<ProviderRt>>) {
    let mut plives = lives.providers.lock().unwrap_or_else(|p| p.into_inner());
    let mut by_id: HashMap<i64, Arc<ProviderRt>> = HashMap::new();
    let mut providers = Vec::with_capacity(cat.providers.len());
    for p in &cat.providers {
        let live = plives.entry(p.name.clone()).or_default().clone();
        live.set_rpm(u32::try_from(p.rate_limit_rpm).unwrap_or(u32::MAX));
        let (adapter, unusable) = match AnyAdapter::for_provider(p) {
            Ok(a) => (Some(a), None),
            Err(why) => {
                tracing::warn!(provider = %p.name, "provider `{}` is skipped as a candidate: {why}", p.name);
                (None, Some(why))
            }
        };
        let key = KeyState::of(p);
        if let KeyState::Missing(var) = &key {
            tracing::warn!(provider = %p.name, "provider `{}` is skipped as a candidate: its key variable `{var}` is not set in the environment of `llmo serve`; set it where the server runs and restart it", p.name);
        }
        let rt = Arc::new(ProviderRt {
            name: Arc::from(p.name.as_str()),
            kind: p.kind,
            enabled: p.enabled,
            max_retries: u32::try_from(p.max_retries).unwrap_or(0),
            timeout: Duration::from_millis(u64::try_from(p.timeout_ms).unwrap_or(60_000).max(1)),
            adapter,
            unusable,
            key,
            live,
        });
        by_id.insert(p.id, rt.clone());
        providers.push(rt);
    }
    let names: Vec<&String> = cat.providers.iter().map(|p| &p.name).collect();
    plives.retain(|k, _| names.contains(&k));
    drop(plives);
    (providers, by_id)
}

/// One model's route (candidates in priority tiers, what was skipped and
/// why) and its `/v1/models` object.
fn build_model<'a>(
    cat: &Catalog,
    m: &'a RouteModel,
    by_id: &HashMap<i64, Arc<ProviderRt>>,
) -> (ModelRoute, ModelObject<'a>) {
    let mut skipped = Vec::new();
    let mut cands: Vec<(i64, Candidate)> = Vec::new();
    for mp in &m.mappings {
        let Some(p) = by_id.get(&mp.provider_id) else {
            continue;
        };
        let prov = cat.providers.iter().find(|x| x.id == mp.provider_id);
        if !mp.enabled {
            skipped.push(format!("mapping to `{}` is disabled", p.name));
            continue;
        }
        if !p.enabled {
            skipped.push(format!("provider `{}` is disabled", p.name));
            continue;
        }
        if let Some(why) = &p.unusable {
            skipped.push(format!("provider `{}`: {why}", p.name));
            continue;
        }
        let weight = mp.weight.or(prov.map(|x| x.weight)).unwrap_or(1);
        if weight <= 0 {
            skipped.push(format!("provider `{}` has weight 0 (drained)", p.name));
            continue;
        }
        let priority = mp.priority.or(prov.map(|x| x.priority)).unwrap_or(0);
        cands.push((
            priority,
            Candidate {
                provider: p.clone(),
                upstream_model: Arc::from(mp.upstream_model.as_str()),
                weight: u32::try_from(weight).unwrap_or(u32::MAX),
            },
        ));
    }
    cands.sort_by_key(|(prio, c)| (*prio, c.provider.name.clone()));
    let mut tiers: Vec<Vec<Candidate>> = Vec::new();
    let mut last = None;
    for (prio, c) in cands {
        if last != Some(prio) {
            tiers.push(Vec::new());
            last = Some(prio);
        }
        if let Some(t) = tiers.last_mut() {
            t.push(c);
        }
    }
    let obj = ModelObject {
        id: &m.name,
        object: "model",
        created: m.created_at / 1000,
        owned_by: "llmo",
    };
    let json = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
    (
        ModelRoute {
            name: Arc::from(m.name.as_str()),
            enabled: m.enabled,
            tiers,
            skipped,
            json,
        },
        obj,
    )
}

/// Live (unrevoked) keys by digest; live states of keys no longer in the
/// catalog are dropped.
fn build_keys(cat: &Catalog, lives: &LiveStates) -> HashMap<[u8; 32], Arc<KeyRt>> {
    let mut klives = lives.keys.lock().unwrap_or_else(|p| p.into_inner());
    let mut keys = HashMap::with_capacity(cat.keys.len());
    for k in cat.keys.iter().filter(|k| k.revoked_at.is_none()) {
        let Some(digest) = hex32(&k.key_hash) else {
            continue;
        };
        let live = klives.entry(k.name.clone()).or_default().clone();
        live.set_rpm(u32::try_from(k.rpm_limit).unwrap_or(u32::MAX));
        keys.insert(
            digest,
            Arc::new(KeyRt {
                name: Arc::from(k.name.as_str()),
                allowed: k
                    .models
                    .as_ref()
                    .map(|ms| ms.iter().map(|m| Box::from(m.as_str())).collect()),
                live,
            }),
        );
    }
    klives.retain(|name, _| cat.keys.iter().any(|k| &k.name == name));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_store_hash() {
        let k = "llmo-abc";
        let hex = crate::db::catalog::hash_key(k);
        assert_eq!(hex32(&hex), Some(key_digest(k)));
        assert_eq!(hex32("zz"), None);
    }
}

//! The immutable routing snapshot built from the catalog: providers with
//! their adapters (keys resolved once, here), models with candidates sorted
//! into priority tiers, client keys by SHA-256 (`key_table`), and the
//! pre-rendered `/v1/models` bodies. A reload builds a new one and swaps it
//! in; requests in flight keep the one they started with. [`refresh`]
//! decides how much to rebuild: nothing when the catalog's versions did not
//! move, only the changed client keys when nothing else changed (the routes
//! are shared with the previous snapshot), else everything, in one pass per
//! table. Live state (circuits by provider name, rate windows by key) is
//! kept across snapshots.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::breaker::ProviderLive;
pub(crate) use super::key_table::KeyRt;
use super::key_table::{KeyDelta, KeyTable, KeyTableBuilder};
use super::providers::AnyAdapter;
use crate::catalog::ProviderKind;
use crate::db::catalog::{Catalog, KeyChanges, RouteModel, Versions};
use crate::db::{Store, StoreError};

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

pub(crate) struct Snapshot {
    /// The catalog's `config_version` this snapshot reflects.
    pub version: i64,
    pub versions: Versions,
    /// The highest client-key id seen (the next key delta reads above it).
    pub max_key_id: i64,
    /// Every provider, enabled or not, in catalog order (for `/ready`).
    pub providers: Arc<Vec<Arc<ProviderRt>>>,
    pub models: Arc<HashMap<Box<str>, ModelRoute>>,
    /// Live (unrevoked) keys by the SHA-256 of the key.
    pub keys: KeyTable,
    /// `GET /v1/models` body.
    pub models_json: Bytes,
}

/// Live state by provider name, carried from one snapshot to the next (a
/// key's rate window travels with its entry in the key table).
#[derive(Default)]
pub(crate) struct LiveStates {
    providers: Mutex<HashMap<String, Arc<ProviderLive>>>,
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

/// SHA-256 of a presented key (same digest as `db::catalog::hash_key`,
/// without the hex round trip).
pub(crate) fn key_digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// What a [`refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reloaded {
    /// Every table was read and the snapshot rebuilt (keys that did not
    /// change kept their entries and rate windows).
    Full,
    /// Only client keys changed: the changed ones were read and applied to
    /// the key table; the routes are the previous snapshot's.
    Keys { added: usize, removed: usize },
}

/// Brings `current` up to date with the store: `None` when the catalog did
/// not change since it was loaded; a key delta when only client keys did
/// (see [`Versions`]); else a full load.
pub(crate) fn refresh(
    store: &mut Store,
    current: Option<&Snapshot>,
    lives: &LiveStates,
) -> Result<Option<(Snapshot, Reloaded)>, StoreError> {
    let Some(cur) = current else {
        return Ok(Some((load_full(store, None, lives)?, Reloaded::Full)));
    };
    let v = store.catalog_versions()?;
    if v == cur.versions {
        return Ok(None);
    }
    if v.only_keys_changed_since(cur.versions) {
        let mut delta = KeyDelta::default();
        let ch = store.load_key_changes(cur.max_key_id, &mut |row| delta.add(&cur.keys, row))?;
        // Something else may have changed between the two reads.
        if ch.versions.only_keys_changed_since(cur.versions) {
            let (added, removed) = delta.counts();
            let snap = cur.with_keys(delta.apply(&cur.keys), ch);
            return Ok(Some((snap, Reloaded::Keys { added, removed })));
        }
    }
    Ok(Some((load_full(store, Some(cur), lives)?, Reloaded::Full)))
}

/// Reads the whole catalog into a new snapshot; keys that did not change
/// since `current` keep their entries.
fn load_full(
    store: &mut Store,
    current: Option<&Snapshot>,
    lives: &LiveStates,
) -> Result<Snapshot, StoreError> {
    let mut keys = KeyTableBuilder::new(current.map(|c| &c.keys));
    let cat = store.load_catalog(&mut |row| keys.add(row))?;
    Ok(Snapshot::build(&cat, lives, keys.finish()))
}

impl Snapshot {
    pub(crate) fn build(cat: &Catalog, lives: &LiveStates, keys: KeyTable) -> Snapshot {
        let (providers, by_id) = build_providers(cat, lives);
        let mut models = HashMap::with_capacity(cat.models.len());
        let mut listed = Vec::new();
        for m in &cat.models {
            let (route, obj) = build_model(m, &by_id);
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
            version: cat.versions.config,
            versions: cat.versions,
            max_key_id: cat.max_key_id,
            providers: Arc::new(providers),
            models: Arc::new(models),
            keys,
            models_json,
        }
    }

    /// This snapshot with another key table (the routes are shared).
    fn with_keys(&self, keys: KeyTable, ch: KeyChanges) -> Snapshot {
        Snapshot {
            version: ch.versions.config,
            versions: ch.versions,
            max_key_id: ch.max_key_id,
            providers: self.providers.clone(),
            models: self.models.clone(),
            keys,
            models_json: self.models_json.clone(),
        }
    }
}

/// A provider's runtime entry and the defaults its mappings inherit.
struct ProviderRef {
    rt: Arc<ProviderRt>,
    priority: i64,
    weight: i64,
}

/// Every provider with its adapter, in catalog order, and the same by id;
/// live states of providers no longer in the catalog are dropped.
fn build_providers(
    cat: &Catalog,
    lives: &LiveStates,
) -> (Vec<Arc<ProviderRt>>, HashMap<i64, ProviderRef>) {
    let mut plives = lives.providers.lock().unwrap_or_else(|p| p.into_inner());
    let mut by_id: HashMap<i64, ProviderRef> = HashMap::with_capacity(cat.providers.len());
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
        by_id.insert(
            p.id,
            ProviderRef {
                rt: rt.clone(),
                priority: p.priority,
                weight: p.weight,
            },
        );
        providers.push(rt);
    }
    let names: HashSet<&str> = cat.providers.iter().map(|p| p.name.as_str()).collect();
    plives.retain(|k, _| names.contains(k.as_str()));
    drop(plives);
    (providers, by_id)
}

/// One model's route (candidates in priority tiers, what was skipped and
/// why) and its `/v1/models` object.
fn build_model<'a>(
    m: &'a RouteModel,
    by_id: &HashMap<i64, ProviderRef>,
) -> (ModelRoute, ModelObject<'a>) {
    let mut skipped = Vec::new();
    let mut cands: Vec<(i64, Candidate)> = Vec::new();
    for mp in &m.mappings {
        let Some(pref) = by_id.get(&mp.provider_id) else {
            continue;
        };
        let p = &pref.rt;
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
        let weight = mp.weight.unwrap_or(pref.weight);
        if weight <= 0 {
            skipped.push(format!("provider `{}` has weight 0 (drained)", p.name));
            continue;
        }
        let priority = mp.priority.unwrap_or(pref.priority);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderInput;
    use std::time::Instant;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path().join("t.db")).unwrap();
        let input = ProviderInput {
            kind: Some("openai-compatible".into()),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            models: vec!["chat".into()],
            ..Default::default()
        };
        s.add_provider("p", &input).unwrap();
        (dir, s)
    }

    fn step(s: &mut Store, cur: &Snapshot, lives: &LiveStates) -> Option<(Snapshot, Reloaded)> {
        refresh(s, Some(cur), lives).unwrap()
    }

    /// A key created or revoked reads and rebuilds only the key table (the
    /// routes are the same objects); any other change is a full reload; no
    /// change reads nothing but the versions. Rate windows survive both.
    #[test]
    fn key_changes_are_applied_as_a_delta_and_rate_state_survives() {
        let (_dir, mut s) = store();
        let lives = LiveStates::default();
        let (_, limited) = s.create_key("limited", Some(1), None).unwrap();
        let (_, old) = s.create_key("old", None, None).unwrap();
        let (snap, how) = refresh(&mut s, None, &lives).unwrap().unwrap();
        assert_eq!(how, Reloaded::Full);
        assert_eq!(snap.keys.len(), 2);
        let lim = key_digest(limited.expose());
        assert!(snap
            .keys
            .get(&lim)
            .unwrap()
            .live
            .try_acquire(Instant::now())
            .is_ok());
        assert!(step(&mut s, &snap, &lives).is_none(), "nothing changed");

        let (_, new) = s.create_key("new", None, None).unwrap();
        s.revoke_key("old").unwrap();
        let (snap2, how) = step(&mut s, &snap, &lives).unwrap();
        assert_eq!(
            how,
            Reloaded::Keys {
                added: 1,
                removed: 1
            }
        );
        assert!(Arc::ptr_eq(&snap.models, &snap2.models));
        assert!(Arc::ptr_eq(&snap.providers, &snap2.providers));
        assert!(snap2.keys.get(&key_digest(new.expose())).is_some());
        assert!(snap2.keys.get(&key_digest(old.expose())).is_none());
        assert_eq!(snap2.keys.len(), 2);
        let over = |sn: &Snapshot| sn.keys.get(&lim).unwrap().live.try_acquire(Instant::now());
        assert!(
            over(&snap2).is_err(),
            "the rate window survived the key delta"
        );

        s.set_model_enabled("chat", false).unwrap();
        let (snap3, how) = step(&mut s, &snap2, &lives).unwrap();
        assert_eq!(how, Reloaded::Full);
        assert!(!Arc::ptr_eq(&snap2.models, &snap3.models));
        assert!(!snap3.models["chat"].enabled);
        assert_eq!(snap3.keys.len(), 2);
        assert!(
            over(&snap3).is_err(),
            "the rate window survived the full reload"
        );
        assert!(step(&mut s, &snap3, &lives).is_none());
    }

    #[test]
    fn digest_matches_the_store_hash() {
        let k = "llmo-abc";
        let hex = crate::db::catalog::hash_key(k);
        use crate::db::catalog::digest_from_hex;
        assert_eq!(digest_from_hex(&hex), Some(key_digest(k)));
        assert_eq!(digest_from_hex(&hex.to_uppercase()), Some(key_digest(k)));
        assert_eq!(digest_from_hex("zz"), None);
        assert_eq!(digest_from_hex(&format!("g{}", &hex[1..])), None);
    }
}

//! Providers, models, mappings and keys through [`Store`], on any engine.
use super::TestStore;
use crate::catalog::{KeySource, MappingInput, ProviderInput, ProviderKind};
use crate::db::{MappingPatch, StoreError};
use crate::secret::Secret;

fn openai(models: &[&str]) -> ProviderInput {
    ProviderInput {
        kind: Some("openai".into()),
        key: Some(KeySource::Env("OPENAI_API_KEY".into())),
        models: models.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    }
}

fn mapping(provider: &str, upstream: Option<&str>, priority: Option<i64>) -> MappingInput {
    MappingInput {
        provider: provider.into(),
        upstream_model: upstream.map(Into::into),
        priority,
        weight: None,
    }
}

pub(super) fn providers_round_trip(mut t: TestStore) {
    let s = &mut t.store;
    let p = s.add_provider("oa", &openai(&["gpt-4o"])).unwrap();
    assert_eq!(p.name, "oa");
    assert_eq!(p.kind, ProviderKind::OpenAi);
    assert_eq!(p.base_url, ProviderKind::OpenAi.default_base_url().unwrap());
    assert_eq!(p.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert!(p.api_key.is_none() && p.enabled);
    let local = ProviderInput {
        kind: Some("openai-compatible".into()),
        base_url: Some("http://localhost:11434/v1/".into()),
        key: Some(KeySource::Inline(Secret::new("sk-local"))),
        priority: Some(0),
        ..Default::default()
    };
    let l = s.add_provider("local", &local).unwrap();
    assert_eq!(l.api_key.as_ref().map(|k| k.expose()), Some("sk-local"));
    // Sorted by priority, then name.
    let names: Vec<_> = s
        .list_providers()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["local", "oa"]);
    assert_eq!(s.get_provider("oa").unwrap().id, p.id);
    let models = s.provider_models().unwrap();
    assert_eq!(models.get("oa").unwrap(), &["gpt-4o".to_string()]);
    assert!(!models.contains_key("local"));

    let dup = s.add_provider("oa", &openai(&[])).unwrap_err();
    assert!(
        matches!(
            dup,
            StoreError::Duplicate {
                what: "provider",
                ..
            }
        ),
        "{dup}"
    );
    let missing = s.get_provider("nope").unwrap_err();
    assert_eq!(missing.to_string(), "provider `nope` does not exist");
    let no_kind = s.add_provider("x", &ProviderInput::default()).unwrap_err();
    assert!(
        matches!(no_kind, StoreError::Invalid(ref i) if i.field == "kind"),
        "{no_kind}"
    );
    let no_url = ProviderInput {
        kind: Some("openai-compatible".into()),
        ..Default::default()
    };
    let e = s.add_provider("x", &no_url).unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref i) if i.field == "base_url"),
        "{e}"
    );
}

pub(super) fn provider_update_rename_and_remove(mut t: TestStore) {
    let s = &mut t.store;
    s.add_provider("oa", &openai(&["gpt-4o"])).unwrap();
    s.add_provider("other", &openai(&[])).unwrap();
    let up = ProviderInput {
        priority: Some(7),
        key: Some(KeySource::None),
        models: vec!["gpt-4o".into(), "gpt-4o-mini".into()],
        ..Default::default()
    };
    let p = s.update_provider("oa", &up).unwrap();
    assert_eq!(p.priority, 7);
    assert!(p.api_key_env.is_none() && p.api_key.is_none());
    assert_eq!(
        s.get_model("gpt-4o-mini").unwrap().providers[0].provider,
        "oa"
    );

    let renamed = s.rename_provider("oa", "openai").unwrap();
    assert_eq!((renamed.name.as_str(), renamed.priority), ("openai", 7));
    assert!(s.get_provider("oa").is_err());
    assert_eq!(
        s.get_model("gpt-4o").unwrap().providers[0].provider,
        "openai"
    );
    let taken = s.rename_provider("openai", "other").unwrap_err();
    assert!(matches!(taken, StoreError::Duplicate { .. }), "{taken}");
    // A failed rename leaves everything as it was.
    assert_eq!(s.get_provider("openai").unwrap().priority, 7);

    assert!(!s.set_provider_enabled("openai", false).unwrap().enabled);
    assert!(s.set_provider_enabled("openai", true).unwrap().enabled);

    let refused = s.remove_provider("openai", false).unwrap_err();
    assert!(matches!(refused, StoreError::Conflict { .. }), "{refused}");
    assert_eq!(
        refused.to_string(),
        "provider `openai` is the only provider of model(s) `gpt-4o`, `gpt-4o-mini`"
    );
    assert_eq!(
        s.remove_provider("other", false).unwrap(),
        Vec::<String>::new()
    );
    let orphans = s.remove_provider("openai", true).unwrap();
    assert_eq!(orphans, ["gpt-4o", "gpt-4o-mini"]);
    assert!(s.list_providers().unwrap().is_empty());
    assert!(s.get_model("gpt-4o").unwrap().providers.is_empty());
}

pub(super) fn models_and_mappings(mut t: TestStore) {
    let s = &mut t.store;
    s.add_provider("a", &openai(&[])).unwrap();
    s.add_provider("b", &openai(&[])).unwrap();
    let m = s
        .add_model(
            "chat",
            Some("the chat model"),
            None,
            &[
                mapping("b", Some("up-b"), Some(1)),
                mapping("a", None, Some(5)),
            ],
            false,
        )
        .unwrap();
    assert_eq!(
        (m.description.as_str(), m.enabled),
        ("the chat model", true)
    );
    // Ordered by the mapping's priority.
    let provs: Vec<_> = m
        .providers
        .iter()
        .map(|p| (p.provider.as_str(), p.upstream_model.as_str()))
        .collect();
    assert_eq!(provs, [("b", "up-b"), ("a", "chat")]);
    let dup = s.add_model("chat", None, None, &[], false).unwrap_err();
    assert!(
        matches!(dup, StoreError::Duplicate { what: "model", .. }),
        "{dup}"
    );
    let again = s
        .add_model(
            "chat",
            None,
            Some(false),
            &[mapping("a", Some("up-a"), None)],
            true,
        )
        .unwrap();
    assert!(!again.enabled);
    assert_eq!(again.description, "the chat model");
    assert!(again
        .providers
        .iter()
        .any(|p| p.provider == "a" && p.upstream_model == "up-a"));
    let unknown = s.add_model("x", None, None, &[mapping("zz", None, None)], false);
    assert!(matches!(
        unknown,
        Err(StoreError::NotFound {
            what: "provider",
            ..
        })
    ));
    let neg = s.add_model("y", None, None, &[mapping("a", None, Some(-1))], false);
    assert!(matches!(neg, Err(StoreError::Invalid(ref i)) if i.field == "priority"));
    assert_eq!(
        s.list_models().unwrap().len(),
        1,
        "failed adds leave nothing"
    );

    assert!(s.set_model_enabled("chat", true).unwrap().enabled);
    assert!(matches!(
        s.set_model_enabled("nope", true),
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.mapping_exists("chat", "b").unwrap());
    s.remove_mapping("chat", "b").unwrap();
    assert!(!s.mapping_exists("chat", "b").unwrap());
    let gone = s.remove_mapping("chat", "b").unwrap_err();
    assert_eq!(gone.to_string(), "mapping `chat -> b` does not exist");
    s.remove_model("chat").unwrap();
    assert!(matches!(
        s.remove_model("chat"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.list_models().unwrap().is_empty());
}

pub(super) fn mapping_patch(mut t: TestStore) {
    let s = &mut t.store;
    s.add_provider("a", &openai(&[])).unwrap();
    s.add_model("chat", None, None, &[mapping("a", None, Some(3))], false)
        .unwrap();
    let patch = MappingPatch {
        upstream_model: Some("  up-2 ".into()),
        priority: Some(None),
        weight: Some(Some(9)),
        enabled: Some(false),
    };
    s.update_mapping("chat", "a", &patch).unwrap();
    let m = &s.get_model("chat").unwrap().providers[0];
    assert_eq!(m.upstream_model, "up-2");
    assert_eq!((m.priority, m.weight, m.enabled), (None, Some(9), false));
    // Fields not in the patch stay.
    s.update_mapping("chat", "a", &MappingPatch::default())
        .unwrap();
    assert_eq!(s.get_model("chat").unwrap().providers[0].weight, Some(9));
    let bad = MappingPatch {
        weight: Some(Some(-1)),
        ..Default::default()
    };
    let e = s.update_mapping("chat", "a", &bad).unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref i) if i.field == "weight"),
        "{e}"
    );
    s.add_provider("b", &openai(&[])).unwrap();
    let e = s.update_mapping("chat", "b", &patch).unwrap_err();
    assert_eq!(e.to_string(), "mapping `chat -> b` does not exist");
    assert!(matches!(
        s.mapping_exists("nope", "a"),
        Err(StoreError::NotFound { what: "model", .. })
    ));
}

pub(super) fn keys_round_trip(mut t: TestStore) {
    let s = &mut t.store;
    let (k, secret) = s
        .create_key("app", Some(60), Some(vec!["chat".into()]))
        .unwrap();
    assert!(secret.expose().starts_with("llmo-") && secret.expose().len() == 45);
    assert_eq!(k.key_hash, crate::db::catalog::hash_key(secret.expose()));
    assert_eq!(k.prefix, secret.expose()[..9]);
    assert_eq!(
        (k.rpm_limit, k.models.clone()),
        (60, Some(vec!["chat".to_string()]))
    );
    assert!(k.last_used_at.is_none() && k.revoked_at.is_none());
    let (all, _) = s.create_key("all", None, None).unwrap();
    assert_eq!((all.rpm_limit, all.models), (0, None));
    let dup = s.create_key("app", None, None).unwrap_err();
    assert!(
        matches!(dup, StoreError::Duplicate { what: "key", .. }),
        "{dup}"
    );
    let neg = s.create_key("neg", Some(-1), None).unwrap_err();
    assert!(
        matches!(neg, StoreError::Invalid(ref i) if i.field == "rpm"),
        "{neg}"
    );
    let names: Vec<_> = s.list_keys().unwrap().into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["all", "app"]);

    s.revoke_key("app").unwrap();
    let again = s.revoke_key("app").unwrap_err();
    assert_eq!(again.to_string(), "key `app` is already revoked");
    assert!(matches!(
        s.revoke_key("nope"),
        Err(StoreError::NotFound { what: "key", .. })
    ));
    let app = s
        .list_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.name == "app")
        .unwrap();
    assert!(app.revoked_at.is_some());
}

pub(super) fn catalog_snapshot_and_version(mut t: TestStore) {
    let s = &mut t.store;
    let v0 = s.config_version().unwrap();
    s.add_provider("a", &openai(&["chat"])).unwrap();
    s.create_key("app", None, None).unwrap();
    let v1 = s.config_version().unwrap();
    assert!(v1 > v0, "catalog changes bump the version ({v0} -> {v1})");
    let mut keys = Vec::new();
    let c = s
        .load_catalog(&mut |k| keys.push((k.name.to_string(), k.digest)))
        .unwrap();
    assert_eq!(c.versions.config, v1);
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.models.len(), 1);
    assert_eq!(c.models[0].name, "chat");
    assert_eq!(c.models[0].mappings[0].provider_id, c.providers[0].id);
    assert_eq!(c.models[0].mappings[0].upstream_model, "chat");
    assert_eq!(keys.len(), 1);
    let stored = s.get_key("app").unwrap().key_hash;
    assert_eq!(
        Some(keys[0].1),
        crate::db::catalog::digest_from_hex(&stored)
    );
}

/// Key writes move `keys_version` with `config_version`, so a reader can
/// tell a key-only change from any other; the delta read hands over the
/// keys created since and the older ones now revoked, and nothing else.
pub(super) fn key_changes_are_told_apart(mut t: TestStore) {
    let s = &mut t.store;
    s.add_provider("a", &openai(&["chat"])).unwrap();
    s.create_key("old", None, None).unwrap();
    s.create_key("gone", None, None).unwrap();
    let c = s.load_catalog(&mut |_| {}).unwrap();
    assert_eq!(s.catalog_versions().unwrap(), c.versions);

    s.create_key("new", Some(5), Some(vec!["chat".into()]))
        .unwrap();
    s.revoke_key("gone").unwrap();
    s.create_key("brief", None, None).unwrap();
    s.revoke_key("brief").unwrap();
    let v = s.catalog_versions().unwrap();
    assert!(v.config > c.versions.config);
    assert!(
        v.only_keys_changed_since(c.versions),
        "{v:?} vs {:?}",
        c.versions
    );
    let mut seen = Vec::new();
    let ch = s
        .load_key_changes(c.max_key_id, &mut |k| {
            seen.push((k.name.to_string(), k.revoked, k.rpm_limit, k.models()))
        })
        .unwrap();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("brief".to_string(), true, 0, None),
            ("gone".to_string(), true, 0, None),
            ("new".to_string(), false, 5, Some(vec!["chat".to_string()])),
        ]
    );
    assert_eq!(ch.versions, v);
    assert!(ch.max_key_id > c.max_key_id);

    // Anything else (here a model) is not a key-only change.
    s.set_model_enabled("chat", false).unwrap();
    let w = s.catalog_versions().unwrap();
    assert!(!w.only_keys_changed_since(v));
    assert!(!w.only_keys_changed_since(c.versions));
}

/// Two connections to one database (two processes, or two replicas on one
/// server): a change made through one is seen by the other, with its
/// version, and names stay unique across them.
pub(super) fn another_connection_sees_changes(mut t: TestStore) {
    let mut other = t.reopen();
    let v0 = other.catalog_versions().unwrap();
    t.store.add_provider("a", &openai(&["chat"])).unwrap();
    let v1 = other.catalog_versions().unwrap();
    assert!(v1.config > v0.config, "{v0:?} -> {v1:?}");
    assert_eq!(other.list_providers().unwrap()[0].name, "a");
    assert_eq!(other.get_model("chat").unwrap().providers[0].provider, "a");
    let e = other.add_provider("a", &openai(&[])).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Duplicate {
                what: "provider",
                ..
            }
        ),
        "{e}"
    );
    other.create_key("app", None, None).unwrap();
    let e = t.store.create_key("app", None, None).unwrap_err();
    assert!(
        matches!(e, StoreError::Duplicate { what: "key", .. }),
        "{e}"
    );
}

/// An apply planned against one version is refused once another
/// connection changed the catalog; planned again, it applies and moves the
/// version by exactly one.
pub(super) fn apply_conflicts_across_connections(mut t: TestStore) {
    use crate::db::catalog_state::CatalogChange;
    let mut other = t.reopen();
    let st = t.store.catalog_state().unwrap();
    other.add_provider("b", &openai(&["m"])).unwrap();
    let e = t.store.apply_catalog_changes(st.version, &[]).unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    let st = t.store.catalog_state().unwrap();
    assert_eq!(st.providers.len(), 1);
    let v = t
        .store
        .apply_catalog_changes(st.version, &[CatalogChange::DeleteProvider("b".into())])
        .unwrap();
    assert_eq!(v, st.version + 1);
    assert_eq!(other.config_version().unwrap(), v);
    assert!(other.list_providers().unwrap().is_empty());
}

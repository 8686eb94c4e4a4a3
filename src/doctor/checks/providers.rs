//! The provider and model checks: each provider's key and base URL, and
//! the models no enabled provider serves. A key variable is judged by the
//! running server's answer when one answers (its environment is the one
//! that counts), else looked up in doctor's own; never printed unmasked.
use std::collections::{BTreeMap, BTreeSet};

use super::DbState;
use crate::catalog::{self, Provider, ProviderKind};
use crate::db::Store;
use crate::doctor::server::Judge;
use crate::doctor::{Check, Group};
use crate::secret::mask;

#[derive(Debug, Default)]
pub(crate) struct ProvidersOutcome {
    pub(crate) checks: Vec<Check>,
    /// Every provider read (for the env-var cross-check).
    pub(crate) all: Vec<Provider>,
    /// Enabled providers with a valid base URL: what `--probe` calls.
    pub(crate) to_probe: Vec<Provider>,
}

/// A URL for display: any password in it replaced by `****`.
pub(super) fn redact_url(u: &str) -> String {
    match reqwest::Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string().trim_end_matches('/').to_string()
        }
        _ => u.to_string(),
    }
}

/// Each provider's key and base URL, models that no enabled provider serves,
/// and the empty cases. Key variables are judged by `judge`: the running
/// server's state, or looked up in `env`.
pub(crate) fn providers(
    store: Option<&Store>,
    state: DbState,
    env: &BTreeMap<String, String>,
    judge: &Judge,
) -> ProvidersOutcome {
    let g = Group::Providers;
    let mut out = ProvidersOutcome::default();
    let (providers, models, counts) = match (store, state) {
        (Some(s), DbState::Open) => match read_catalog(s) {
            Ok(v) => v,
            Err(e) => {
                out.checks.push(Check::fail(
                    g,
                    "configured",
                    format!("cannot read providers and models: {e}"),
                    "see the database and migration checks above",
                ));
                return out;
            }
        },
        (_, DbState::Missing) => Default::default(),
        _ => return out,
    };

    if providers.is_empty() {
        out.checks.push(Check::warn(
            g,
            "configured",
            "no providers configured: the gateway has nowhere to send requests",
            "add one with `llmo provider add NAME --kind openai --api-key-env OPENAI_API_KEY --models gpt-4o-mini`",
        ));
    } else if !providers.iter().any(|p| p.enabled) {
        out.checks.push(Check::warn(
            g,
            "configured",
            format!("all {} providers are disabled", providers.len()),
            "enable one with `llmo provider enable NAME`",
        ));
    }
    for p in &providers {
        let models = counts.get(p.name.as_str()).map_or(0, Vec::len);
        let (check, probe) = provider(p, models, env, judge);
        out.checks.push(check);
        if probe {
            out.to_probe.push(p.clone());
        }
    }
    out.checks.extend(model_checks(&providers, &models));
    out.all = providers;
    out
}

/// One provider's line: its key, base URL and model count. The flag says
/// whether `--probe` may call it (enabled, with a valid base URL).
fn provider(
    p: &Provider,
    models: usize,
    env: &BTreeMap<String, String>,
    judge: &Judge,
) -> (Check, bool) {
    let g = Group::Providers;
    let name = p.name.as_str();
    if !p.enabled {
        let check = Check::ok(
            g,
            name,
            format!("{}: disabled, receives no traffic", p.kind),
        );
        return (check, false);
    }
    let mut notes: Vec<String> = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    match key_note(p, env, judge) {
        Ok(note) => notes.push(note),
        Err(problem) => problems.push(problem),
    }
    let url_ok = match catalog::validate_url(&p.base_url) {
        Ok(()) => {
            notes.push(format!("base URL {}", redact_url(&p.base_url)));
            true
        }
        Err(e) => {
            problems.push((
                format!("bad base URL: {}", e.message),
                format!("`llmo provider update {name} --base-url URL`"),
            ));
            false
        }
    };
    notes.push(match models {
        0 => "no models mapped".to_string(),
        1 => "1 model".to_string(),
        n => format!("{n} models"),
    });
    let check = if problems.is_empty() {
        Check::ok(g, name, format!("{}: {}", p.kind, notes.join(", ")))
    } else {
        let (msgs, fixes): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
        Check::fail(
            g,
            name,
            format!("{}: {}", p.kind, msgs.join("; ")),
            fixes.join("; "),
        )
    };
    (check, url_ok)
}

/// Where an enabled provider's key comes from (masked), or the problem with
/// it and its fix. A key variable is the running server's business when
/// one answered; otherwise doctor's environment stands in and says so.
fn key_note(
    p: &Provider,
    env: &BTreeMap<String, String>,
    judge: &Judge,
) -> Result<String, (String, String)> {
    let name = p.name.as_str();
    let env_fix = |var: &str| {
        format!(
            "set `{var}` in the environment `llmo serve` runs in and restart it, or store the key: `llmo provider update {name} --api-key -`"
        )
    };
    if let (Judge::Server(srv), None, Some(var)) = (judge, &p.api_key, &p.api_key_env) {
        match srv.keys.get(name).map(String::as_str) {
            Some("missing") => {
                return Err((
                    format!(
                        "{} has no `{var}` in its environment: it skips this provider",
                        srv.who()
                    ),
                    env_fix(var),
                ))
            }
            Some("env") => {
                return Ok(format!(
                    "key from `{var}` in the environment of {}",
                    srv.who()
                ))
            }
            _ => {}
        }
    }
    let note = judge.local_note();
    match (&p.api_key, &p.api_key_env) {
        (Some(k), _) if k.expose().trim().is_empty() => Err((
            "its stored key is empty".into(),
            format!("`llmo provider update {name} --api-key -` (reads the key from stdin)"),
        )),
        (Some(k), _) => Ok(format!("key stored in the database ({})", k.masked())),
        (None, Some(var)) => match env.get(var) {
            Some(v) if !v.trim().is_empty() => {
                Ok(format!("key from `{var}` ({}), {note}", mask(v)))
            }
            Some(_) => Err((
                format!("its key variable `{var}` is empty ({note})"),
                env_fix(var),
            )),
            None => Err((
                format!("its key variable `{var}` is not set ({note})"),
                env_fix(var),
            )),
        },
        (None, None) if p.kind == ProviderKind::OpenAiCompatible => {
            Ok("no key (fine for servers that need none, such as Ollama or vLLM)".into())
        }
        (None, None) => Err((
            "no API key configured".into(),
            format!(
                "`llmo provider update {name} --api-key-env VAR` (or `--api-key -` to store it)"
            ),
        )),
    }
}

/// Models: every enabled model needs an enabled mapping to an enabled
/// provider.
fn model_checks(providers: &[Provider], models: &[catalog::ModelView]) -> Vec<Check> {
    let gm = Group::Models;
    let mut checks = Vec::new();
    let enabled_providers: BTreeSet<&str> = providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.name.as_str())
        .collect();
    if models.is_empty() && !providers.is_empty() {
        checks.push(Check::warn(
            gm,
            "configured",
            "no models: clients have no model name to ask for",
            "add one with `llmo model add NAME --provider P[=UPSTREAM_MODEL]`",
        ));
    }
    let mut served = 0;
    for m in models.iter().filter(|m| m.enabled) {
        if m.providers
            .iter()
            .any(|mp| mp.enabled && enabled_providers.contains(mp.provider.as_str()))
        {
            served += 1;
            continue;
        }
        let (message, fix) = if m.providers.is_empty() {
            (
                "no provider serves it: requests for it fail".to_string(),
                format!("map a provider: `llmo model add {} --provider P`", m.name),
            )
        } else {
            let names: Vec<&str> = m.providers.iter().map(|mp| mp.provider.as_str()).collect();
            (
                format!(
                    "no enabled provider serves it (mapped to {}, all disabled): requests for it fail",
                    names.join(", ")
                ),
                format!(
                    "enable one (`llmo provider enable {}`) or map another: `llmo model add {} --provider P`",
                    names[0], m.name
                ),
            )
        };
        checks.push(Check::warn(gm, m.name.clone(), message, fix));
    }
    if served > 0 {
        let disabled = models.iter().filter(|m| !m.enabled).count();
        checks.push(Check::ok(
            gm,
            "configured",
            format!(
                "{served} model(s) served by an enabled provider{}",
                if disabled > 0 {
                    format!(", {disabled} disabled")
                } else {
                    String::new()
                }
            ),
        ));
    }
    checks
}

type CatalogParts = (
    Vec<Provider>,
    Vec<catalog::ModelView>,
    BTreeMap<String, Vec<String>>,
);

fn read_catalog(store: &Store) -> crate::db::Result<CatalogParts> {
    // A database whose first migration never ran has no tables yet: that is
    // "nothing configured", and the migration check already says so.
    if !store.has_table("providers")? {
        return Ok(Default::default());
    }
    Ok((
        store.list_providers()?,
        store.list_models()?,
        store.provider_models()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::checks::testing::{env, find};
    use crate::doctor::Status;

    #[test]
    fn providers_report_keys_masked_and_missing_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmo.db");
        {
            let (mut s, _) = Store::open(&path).unwrap();
            let add = |s: &mut Store,
                       name: &str,
                       kind: &str,
                       key: Option<catalog::KeySource>,
                       url: Option<&str>,
                       models: &[&str]| {
                s.add_provider(
                    name,
                    &catalog::ProviderInput {
                        kind: Some(kind.into()),
                        key,
                        base_url: url.map(str::to_string),
                        models: models.iter().map(|m| m.to_string()).collect(),
                        ..Default::default()
                    },
                )
                .unwrap();
            };
            add(
                &mut s,
                "inline",
                "openai",
                Some(catalog::KeySource::Inline(crate::secret::Secret::new(
                    "sk-inline-secret-value-1234",
                ))),
                None,
                &["gpt"],
            );
            add(
                &mut s,
                "fromenv",
                "anthropic",
                Some(catalog::KeySource::Env("DOCTOR_TEST_KEY".into())),
                None,
                &["claude"],
            );
            add(
                &mut s,
                "local",
                "openai-compatible",
                None,
                Some("http://localhost:11434/v1"),
                &["llama"],
            );
            add(&mut s, "off", "gemini", None, None, &["orphan"]);
            s.set_provider_enabled("off", false).unwrap();
        }
        let store = Store::open_for_inspection(&path).unwrap();
        let alone = Judge::Local {
            addr: Some("127.0.0.1:8000".into()),
        };
        let out = providers(Some(&store), DbState::Open, &env(&[]), &alone);
        let inline = find(&out.checks, "inline");
        assert_eq!(inline.status, Status::Ok);
        assert!(inline.message.contains("sk-...1234"), "{}", inline.message);
        assert!(!inline.message.contains("secret-value"));
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Fail);
        assert!(fe.message.contains("DOCTOR_TEST_KEY"));
        assert!(
            fe.message
                .contains("doctor's own environment: no llmo answers at 127.0.0.1:8000"),
            "{}",
            fe.message
        );
        assert_eq!(find(&out.checks, "local").status, Status::Ok);
        assert_eq!(find(&out.checks, "off").status, Status::Ok);
        let orphan = find(&out.checks, "orphan");
        assert_eq!((orphan.group, orphan.status), (Group::Models, Status::Warn));
        assert_eq!(out.to_probe.len(), 3);

        let out = providers(
            Some(&store),
            DbState::Open,
            &env(&[("DOCTOR_TEST_KEY", "sk-ant-abcdefghijklmnop")]),
            &alone,
        );
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Ok);
        assert!(fe.message.contains("sk-...mnop"), "{}", fe.message);

        // A running server's environment is the one that counts, both ways.
        let server = |state: &str| {
            Judge::Server(crate::doctor::server::Running {
                addr: "127.0.0.1:8000".into(),
                pid: Some(42),
                admin_key: Some(false),
                keys: [("fromenv".to_string(), state.to_string())].into(),
            })
        };
        let here = env(&[("DOCTOR_TEST_KEY", "sk-ant-abcdefghijklmnop")]);
        let out = providers(Some(&store), DbState::Open, &here, &server("missing"));
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Fail);
        assert!(
            fe.message
                .contains("the server (pid 42 at 127.0.0.1:8000) has no `DOCTOR_TEST_KEY`"),
            "{}",
            fe.message
        );
        let out = providers(Some(&store), DbState::Open, &env(&[]), &server("env"));
        let fe = find(&out.checks, "fromenv");
        assert_eq!(fe.status, Status::Ok, "{}", fe.message);
        assert!(fe.message.contains("environment of the server (pid 42"));
    }

    #[test]
    fn urls_hide_passwords() {
        assert_eq!(
            redact_url("https://user:hunter2@example.com/v1"),
            "https://user:****@example.com/v1"
        );
        assert_eq!(
            redact_url("https://example.com/v1"),
            "https://example.com/v1"
        );
    }
}

//! The plan: the file compared with the database's state, every value
//! checked by the catalog's own validation (the code the CLI and the admin
//! API run), giving the lines shown and the changes written.
use std::collections::{HashMap, HashSet};

use super::render::quote;
use super::{FileError, KeyChoice, KeyDoc, Lines, ModelDoc, Plan, PlanLine, ProviderDoc};
use crate::catalog::{
    validate_provider_name, KeySource, MappingInput, MappingView, Provider, ProviderInput,
    ProviderKind,
};
use crate::db::catalog::{check_key_limits, check_model, ProviderFields};
use crate::db::catalog_state::{CatalogChange, CatalogState, KeyLimits, ModelState};
use crate::db::{MappingPatch, StoreError};

/// The file's key a validation field name stands for.
fn file_key(field: &str) -> &str {
    match field {
        "timeout" => "timeout_ms",
        "api_key" => "api_key_env",
        other => other,
    }
}

struct Planner<'a> {
    file: &'a str,
    lines: Vec<PlanLine>,
    upserts: Vec<CatalogChange>,
    mappings: Vec<CatalogChange>,
    deletes: Vec<CatalogChange>,
}

impl Planner<'_> {
    fn err(&self, line: usize, path: &str, message: impl Into<String>) -> FileError {
        FileError::new(self.file, line, path, message)
    }

    /// A validation error of the catalog's code, placed at its key's line.
    fn invalid(&self, path: &str, lines: &Lines, e: StoreError) -> FileError {
        match e {
            StoreError::Invalid(inv) => {
                let key = file_key(inv.field);
                let mut f = self.err(
                    lines.of(key),
                    path,
                    format!("invalid `{key}`: {}", inv.message),
                );
                f.hint = Some("nothing was changed; fix the value and apply again".into());
                f
            }
            other => {
                let mut f = self.err(lines.of(""), path, other.to_string());
                f.hint = other.hint();
                f
            }
        }
    }

    fn add(&mut self, object: &'static str, name: &str, text: String) {
        self.push("add", object, name, None, text);
    }

    fn push(
        &mut self,
        action: &'static str,
        object: &'static str,
        name: &str,
        change: Option<(&'static str, String, String)>,
        text: String,
    ) {
        let (field, from, to) = match change {
            Some((f, a, b)) => (Some(f), Some(a), Some(b)),
            None => (None, None, None),
        };
        self.lines.push(PlanLine {
            action,
            object,
            name: name.to_string(),
            field,
            from,
            to,
            text,
        });
    }

    /// One `~` line per changed field; true when any changed.
    fn diff(
        &mut self,
        object: &'static str,
        name: &str,
        prefix: &str,
        fields: Vec<(&'static str, String, String)>,
    ) -> bool {
        let mut any = false;
        for (f, a, b) in fields {
            if a != b {
                let text = format!("~ {prefix}{f} {a} -> {b}");
                self.push("change", object, name, Some((f, a, b)), text);
                any = true;
            }
        }
        any
    }
}

fn key_desc(api_key: bool, env: Option<&str>) -> String {
    match (api_key, env) {
        (true, _) => "stored".into(),
        (false, Some(v)) => format!("env {v}"),
        (false, None) => "none".into(),
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "(provider's)".into(), |n| n.to_string())
}

fn models_desc(m: &Option<Vec<String>>) -> String {
    match m {
        None => "all".into(),
        Some(v) if v.is_empty() => "none".into(),
        Some(v) => v.join(","),
    }
}

pub(super) fn plan(
    doc: &super::CatalogDoc,
    state: &CatalogState,
    file: &str,
    prune: bool,
) -> Result<Plan, FileError> {
    let mut p = Planner {
        file,
        lines: Vec::new(),
        upserts: Vec::new(),
        mappings: Vec::new(),
        deletes: Vec::new(),
    };
    let current: HashMap<&str, &Provider> = state
        .providers
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    for d in &doc.providers {
        plan_provider(&mut p, d, current.get(d.name.as_str()).copied())?;
    }
    let mut known: HashSet<&str> = doc.providers.iter().map(|d| d.name.as_str()).collect();
    if !prune {
        known.extend(current.keys());
    }
    let models: HashMap<&str, &ModelState> =
        state.models.iter().map(|m| (m.name.as_str(), m)).collect();
    for d in &doc.models {
        plan_model(
            &mut p,
            d,
            models.get(d.name.as_str()).copied(),
            &known,
            prune,
        )?;
    }
    let keys: HashMap<&str, &KeyLimits> = state.keys.iter().map(|k| (k.name.as_str(), k)).collect();
    for d in &doc.keys {
        plan_key(&mut p, d, keys.get(d.name.as_str()).copied())?;
    }
    if prune {
        let named: HashSet<&str> = doc.models.iter().map(|d| d.name.as_str()).collect();
        for m in state
            .models
            .iter()
            .filter(|m| !named.contains(m.name.as_str()))
        {
            p.push(
                "remove",
                "model",
                &m.name,
                None,
                format!("- model {}", m.name),
            );
            p.deletes.push(CatalogChange::DeleteModel(m.name.clone()));
        }
        let named: HashSet<&str> = doc.providers.iter().map(|d| d.name.as_str()).collect();
        for c in state
            .providers
            .iter()
            .filter(|c| !named.contains(c.name.as_str()))
        {
            p.push(
                "remove",
                "provider",
                &c.name,
                None,
                format!("- provider {}", c.name),
            );
            p.deletes
                .push(CatalogChange::DeleteProvider(c.name.clone()));
        }
    }
    let mut changes = p.upserts;
    changes.extend(p.mappings);
    changes.extend(p.deletes);
    Ok(Plan {
        lines: p.lines,
        changes,
        version: state.version,
    })
}

/// The stored fields the file asks for (omitted = the `provider add` default).
fn provider_fields(
    p: &Planner<'_>,
    d: &ProviderDoc,
    current: Option<&Provider>,
) -> Result<ProviderFields, FileError> {
    let key = match &d.key {
        KeyChoice::Env(v) => Some(KeySource::Env(v.clone())),
        KeyChoice::NoKey => Some(KeySource::None),
        KeyChoice::Stored => None,
        KeyChoice::Missing => {
            let mut e = p.err(
                d.line,
                &d.path,
                "needs one of `api_key_env = \"VAR\"`, `no_api_key = true` or `api_key_stored = true`",
            );
            e.hint = Some(
                "name the environment variable of `llmo serve` holding the key (`api_key_env`), or say the server needs none (`no_api_key = true`)".into(),
            );
            return Err(e);
        }
    };
    let input = ProviderInput {
        kind: d.kind.clone(),
        base_url: d.base_url.clone(),
        key,
        priority: d.priority,
        weight: d.weight,
        max_retries: d.max_retries,
        timeout_ms: d.timeout_ms,
        rate_limit_rpm: d.rate_limit_rpm,
        enabled: d.enabled,
        models: Vec::new(),
        rename: None,
    };
    let mut f =
        ProviderFields::new(&d.name, &input).map_err(|e| p.invalid(&d.path, &d.lines, e))?;
    if d.key == KeyChoice::NoKey && f.kind != ProviderKind::OpenAiCompatible {
        let mut e = p.err(
            d.lines.of("no_api_key"),
            &d.path,
            format!("a provider of kind {} always needs an API key", f.kind),
        );
        e.hint = Some("use `api_key_env = \"VAR\"`; `no_api_key = true` is for openai-compatible servers such as Ollama or vLLM".into());
        return Err(e);
    }
    if d.key == KeyChoice::Stored {
        let Some(k) = current.and_then(|c| c.api_key.as_ref()) else {
            let mut e = p.err(
                d.lines.of("api_key_stored"),
                &d.path,
                format!(
                    "no API key is stored in this database for provider `{}`",
                    d.name
                ),
            );
            e.hint = Some(format!(
                "use `api_key_env = \"VAR\"`, or store the key first: `llmo provider add {} --kind KIND --api-key -`",
                d.name
            ));
            return Err(e);
        };
        f.api_key = Some(k.expose().to_string());
    }
    Ok(f)
}

fn plan_provider(
    p: &mut Planner<'_>,
    d: &ProviderDoc,
    current: Option<&Provider>,
) -> Result<(), FileError> {
    let f = provider_fields(p, d, current)?;
    let changed = match current {
        None => {
            p.add("provider", &d.name, format!("+ provider {}", d.name));
            true
        }
        Some(c) => {
            let fields = vec![
                ("kind", c.kind.to_string(), f.kind.to_string()),
                ("base_url", c.base_url.clone(), f.base_url.clone()),
                (
                    "key",
                    key_desc(c.api_key.is_some(), c.api_key_env.as_deref()),
                    key_desc(f.api_key.is_some(), f.api_key_env.as_deref()),
                ),
                ("priority", c.priority.to_string(), f.priority.to_string()),
                ("weight", c.weight.to_string(), f.weight.to_string()),
                (
                    "max_retries",
                    c.max_retries.to_string(),
                    f.max_retries.to_string(),
                ),
                (
                    "timeout_ms",
                    c.timeout_ms.to_string(),
                    f.timeout_ms.to_string(),
                ),
                (
                    "rate_limit_rpm",
                    c.rate_limit_rpm.to_string(),
                    f.rate_limit_rpm.to_string(),
                ),
                ("enabled", c.enabled.to_string(), f.enabled.to_string()),
            ];
            p.diff(
                "provider",
                &d.name,
                &format!("provider {}: ", d.name),
                fields,
            )
        }
    };
    if changed {
        p.upserts.push(CatalogChange::UpsertProvider {
            name: d.name.clone(),
            fields: f,
        });
    }
    Ok(())
}

/// Checks a model's mappings; returns them as they would be stored.
fn desired_mappings(
    p: &Planner<'_>,
    d: &ModelDoc,
    known: &HashSet<&str>,
    prune: bool,
) -> Result<Vec<MappingView>, FileError> {
    check_model(&d.name, &[]).map_err(|e| p.invalid(&d.path, &d.lines, e))?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(d.mappings.len());
    for m in &d.mappings {
        let input = MappingInput {
            provider: m.provider.clone(),
            upstream_model: m.upstream_model.clone(),
            priority: m.priority,
            weight: m.weight,
        };
        let patch = MappingPatch {
            upstream_model: m.upstream_model.clone(),
            priority: m.priority.map(Some),
            weight: m.weight.map(Some),
            enabled: m.enabled,
        };
        validate_provider_name(&m.provider).map_err(|e| {
            p.invalid(
                &m.path,
                &m.lines,
                crate::catalog::Invalid::new("provider", e.message).into(),
            )
        })?;
        check_model(&d.name, std::slice::from_ref(&input))
            .and_then(|()| patch.validate().map_err(StoreError::from))
            .map_err(|e| p.invalid(&m.path, &m.lines, e))?;
        if !seen.insert(m.provider.as_str()) {
            return Err(p.err(
                m.lines.of("provider"),
                &m.path,
                format!("provider `{}` is mapped twice in this model", m.provider),
            ));
        }
        if !known.contains(m.provider.as_str()) {
            let mut e = p.err(
                m.lines.of("provider"),
                &m.path,
                format!("unknown provider `{}`", m.provider),
            );
            e.hint = Some(if prune {
                format!("define it under [providers.{}] (with --prune, every provider a model names must be in the file)", m.provider)
            } else {
                format!(
                    "define it under [providers.{}], or add it with `llmo provider add`",
                    m.provider
                )
            });
            return Err(e);
        }
        out.push(MappingView {
            provider: m.provider.clone(),
            upstream_model: m.upstream_model.clone().unwrap_or_else(|| d.name.clone()),
            priority: m.priority,
            weight: m.weight,
            enabled: m.enabled.unwrap_or(true),
        });
    }
    out.sort_by(|a, b| a.provider.cmp(&b.provider));
    Ok(out)
}

fn plan_model(
    p: &mut Planner<'_>,
    d: &ModelDoc,
    current: Option<&ModelState>,
    known: &HashSet<&str>,
    prune: bool,
) -> Result<(), FileError> {
    let wanted = desired_mappings(p, d, known, prune)?;
    let description = d.description.clone().unwrap_or_default();
    let enabled = d.enabled.unwrap_or(true);
    let changed = match current {
        None => {
            p.add("model", &d.name, format!("+ model {}", d.name));
            true
        }
        Some(c) => p.diff(
            "model",
            &d.name,
            &format!("model {}: ", d.name),
            vec![
                ("description", quote(&c.description), quote(&description)),
                ("enabled", c.enabled.to_string(), enabled.to_string()),
            ],
        ),
    };
    if changed {
        p.upserts.push(CatalogChange::UpsertModel {
            name: d.name.clone(),
            description,
            enabled,
        });
    }
    let have: HashMap<&str, &MappingView> = current
        .map(|c| {
            c.mappings
                .iter()
                .map(|m| (m.provider.as_str(), m))
                .collect()
        })
        .unwrap_or_default();
    for w in &wanted {
        let name = format!("{}/{}", d.name, w.provider);
        let changed = match have.get(w.provider.as_str()) {
            None => {
                p.add(
                    "mapping",
                    &name,
                    format!("+ model {}: mapping {}", d.name, w.provider),
                );
                true
            }
            Some(h) => p.diff(
                "mapping",
                &name,
                &format!("model {}: mapping {} ", d.name, w.provider),
                vec![
                    (
                        "upstream_model",
                        h.upstream_model.clone(),
                        w.upstream_model.clone(),
                    ),
                    ("priority", opt(h.priority), opt(w.priority)),
                    ("weight", opt(h.weight), opt(w.weight)),
                    ("enabled", h.enabled.to_string(), w.enabled.to_string()),
                ],
            ),
        };
        if changed {
            p.mappings.push(CatalogChange::UpsertMapping {
                model: d.name.clone(),
                mapping: w.clone(),
            });
        }
    }
    if prune {
        let named: HashSet<&str> = wanted.iter().map(|w| w.provider.as_str()).collect();
        for h in current.map(|c| c.mappings.as_slice()).unwrap_or_default() {
            if !named.contains(h.provider.as_str()) {
                let name = format!("{}/{}", d.name, h.provider);
                let text = format!("- model {}: mapping {}", d.name, h.provider);
                p.push("remove", "mapping", &name, None, text);
                p.deletes.push(CatalogChange::DeleteMapping {
                    model: d.name.clone(),
                    provider: h.provider.clone(),
                });
            }
        }
    }
    Ok(())
}

fn plan_key(p: &mut Planner<'_>, d: &KeyDoc, current: Option<&KeyLimits>) -> Result<(), FileError> {
    let c = match current {
        Some(c) if !c.revoked => c,
        _ => {
            let what = if current.is_some() {
                "is revoked"
            } else {
                "does not exist"
            };
            let mut e = p.err(d.line, &d.path, format!("client key `{}` {what}", d.name));
            e.hint = Some(format!(
                "keys are secrets and never come from a file: create it with `llmo key create {}`, then apply again",
                d.name
            ));
            return Err(e);
        }
    };
    check_key_limits(d.rpm, d.models.as_deref()).map_err(|e| p.invalid(&d.path, &d.lines, e))?;
    let wanted = KeyLimits {
        name: d.name.clone(),
        rpm_limit: d.rpm.unwrap_or(0),
        models: d.models.clone(),
        revoked: false,
    };
    let changed = p.diff(
        "key",
        &d.name,
        &format!("key {}: ", d.name),
        vec![
            ("rpm", c.rpm_limit.to_string(), wanted.rpm_limit.to_string()),
            (
                "models",
                models_desc(&c.models),
                models_desc(&wanted.models),
            ),
        ],
    );
    if changed {
        p.mappings.push(CatalogChange::SetKeyLimits(wanted));
    }
    Ok(())
}

//! The declarative catalog file (`llmo config export` / `apply`,
//! `llmo serve --apply`): one TOML document naming providers, models with
//! their mappings, and limits of existing client keys.
//!
//! - `parse.rs` reads the file (every error names the file, the line and
//!   the key path);
//! - `plan.rs` compares it with the database's [`CatalogState`] and checks
//!   every value with the same code as the CLI and the admin API
//!   (`ProviderFields::new`, `check_model`, `MappingPatch::validate`,
//!   `check_key_limits`), giving the plan: the lines shown and the
//!   [`CatalogChange`]s written in one transaction;
//! - `render.rs` writes the catalog back as the same TOML, byte-stable
//!   (fixed key order, entries sorted by name).
//!
//! It sits above the store (it plans against it) and below the CLI and the
//! gateway, which both call [`apply_file`].
#![allow(
    clippy::disallowed_methods,
    reason = "reads one small file, from the CLI or the gateway's database thread (never an async worker)"
)]
use std::path::Path;

use serde::Serialize;

use crate::db::catalog_state::{CatalogChange, CatalogState};
use crate::db::{Store, StoreError};

mod parse;
mod plan;
mod render;

pub use render::render;

/// A problem in the file: `FILE:LINE: PATH: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct FileError {
    pub file: String,
    pub line: usize,
    /// The key path, e.g. `providers.openai` (empty when none applies).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl FileError {
    /// An error at `file:line` about the key `path`, without a hint.
    pub(crate) fn new(file: &str, line: usize, path: &str, message: impl Into<String>) -> Self {
        FileError {
            file: file.to_string(),
            line,
            path: path.to_string(),
            message: message.into(),
            hint: None,
        }
    }
}

/// The lines of an entry's keys (for errors found after parsing).
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    entry: usize,
    keys: Vec<(&'static str, usize)>,
}

impl Lines {
    /// The line of `key`, or of the entry when the key is not in the file.
    fn of(&self, key: &str) -> usize {
        self.keys
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(self.entry, |(_, l)| *l)
    }
}

/// Where a provider's key comes from, as the file says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyChoice {
    Env(String),
    NoKey,
    /// `api_key_stored = true`: keep the key stored in the database.
    Stored,
    Missing,
}

#[derive(Debug, Clone)]
pub(crate) struct ProviderDoc {
    name: String,
    path: String,
    line: usize,
    kind: Option<String>,
    base_url: Option<String>,
    key: KeyChoice,
    priority: Option<i64>,
    weight: Option<i64>,
    max_retries: Option<i64>,
    timeout_ms: Option<i64>,
    rate_limit_rpm: Option<i64>,
    enabled: Option<bool>,
    lines: Lines,
}

#[derive(Debug, Clone)]
pub(crate) struct MappingDoc {
    provider: String,
    path: String,
    upstream_model: Option<String>,
    priority: Option<i64>,
    weight: Option<i64>,
    enabled: Option<bool>,
    lines: Lines,
}

#[derive(Debug, Clone)]
pub(crate) struct ModelDoc {
    name: String,
    path: String,
    description: Option<String>,
    enabled: Option<bool>,
    mappings: Vec<MappingDoc>,
    lines: Lines,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyDoc {
    name: String,
    path: String,
    line: usize,
    rpm: Option<i64>,
    models: Option<Vec<String>>,
    lines: Lines,
}

/// The parsed file, entries sorted by name.
#[derive(Debug, Clone, Default)]
pub struct CatalogDoc {
    providers: Vec<ProviderDoc>,
    models: Vec<ModelDoc>,
    keys: Vec<KeyDoc>,
}

/// Parses a catalog file's text; `file` is the name errors show.
pub fn parse(file: &str, text: &str) -> Result<CatalogDoc, FileError> {
    parse::parse(file, text)
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// `add`, `change` or `remove`.
    pub action: &'static str,
    /// `provider`, `model`, `mapping` or `key`.
    pub object: &'static str,
    /// The entry's name (`MODEL/PROVIDER` for a mapping).
    pub name: String,
    /// For a change: the field, and its value before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// As printed: `+ provider x`, `~ model y: mapping p weight 1 -> 2`.
    pub text: String,
}

/// What applying a file changes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub lines: Vec<PlanLine>,
    pub(crate) changes: Vec<CatalogChange>,
    /// The configuration version the plan was made against.
    pub version: i64,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, action: &str) -> usize {
        self.lines.iter().filter(|l| l.action == action).count()
    }

    /// `2 to add, 1 to change, 0 to remove`, or `no changes`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no changes".into();
        }
        format!(
            "{} to add, {} to change, {} to remove",
            self.count("add"),
            self.count("change"),
            self.count("remove")
        )
    }

    /// The `--json` shape.
    pub fn to_json(&self, applied: bool, version: i64) -> serde_json::Value {
        serde_json::json!({
            "changes": self.lines,
            "summary": {
                "add": self.count("add"),
                "change": self.count("change"),
                "remove": self.count("remove"),
            },
            "applied": applied,
            "config_version": version,
        })
    }
}

/// Compares the file with the database's state and checks every value.
pub fn plan(
    doc: &CatalogDoc,
    state: &CatalogState,
    file: &str,
    prune: bool,
) -> Result<Plan, FileError> {
    plan::plan(doc, state, file, prune)
}

/// Why an apply failed: the file (exit 1, nothing changed) or the store.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

impl ApplyError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::File(f) => f.hint.clone(),
            ApplyError::Store(s) => s.hint(),
            ApplyError::Read { .. } => Some("check the path and its permissions".into()),
        }
    }
}

/// What [`apply_file`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub plan: Plan,
    /// True when the changes were written (not a dry run, not empty).
    pub written: bool,
    /// The configuration version after it.
    pub version: i64,
}

/// Reads a file (UTF-8 TOML).
pub fn read(path: &Path) -> Result<String, ApplyError> {
    std::fs::read_to_string(path).map_err(|source| ApplyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Parses `text` (named `file` in errors), plans it against the store and,
/// unless `dry_run` or there is nothing to do, writes it in one
/// transaction. A bad file or a failing statement changes nothing.
pub fn apply_text(
    store: &mut Store,
    file: &str,
    text: &str,
    prune: bool,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let doc = parse(file, text)?;
    let state = store.catalog_state()?;
    let plan = plan(&doc, &state, file, prune)?;
    if dry_run || plan.is_empty() {
        return Ok(Applied {
            version: state.version,
            plan,
            written: false,
        });
    }
    let version = store.apply_catalog_changes(plan.version, &plan.changes)?;
    Ok(Applied {
        plan,
        written: true,
        version,
    })
}

/// [`apply_text`] on a file's content.
pub fn apply_file(
    store: &mut Store,
    path: &Path,
    prune: bool,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let text = read(path)?;
    apply_text(store, &path.display().to_string(), &text, prune, dry_run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::catalog_state::KeyLimits;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("t.db")).unwrap().0;
        (dir, s)
    }

    const ONE: &str = "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://h:1/v1\"\nno_api_key = true\n";

    #[test]
    fn a_failing_statement_writes_nothing() {
        let (_d, mut s) = store();
        let v = s.config_version().unwrap();
        let mut plan = plan(
            &parse("f", ONE).unwrap(),
            &s.catalog_state().unwrap(),
            "f",
            false,
        )
        .unwrap();
        plan.changes.push(CatalogChange::SetKeyLimits(KeyLimits {
            name: "ghost".into(),
            rpm_limit: 1,
            models: None,
            revoked: false,
        }));
        let e = s
            .apply_catalog_changes(plan.version, &plan.changes)
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound { what: "key", .. }), "{e}");
        assert!(s.list_providers().unwrap().is_empty());
        assert_eq!(s.config_version().unwrap(), v);
    }

    #[test]
    fn a_plan_made_on_an_older_catalog_is_refused() {
        let (_d, mut s) = store();
        let p = plan(
            &parse("f", ONE).unwrap(),
            &s.catalog_state().unwrap(),
            "f",
            false,
        )
        .unwrap();
        s.create_key("k", None, None).unwrap();
        let e = s.apply_catalog_changes(p.version, &p.changes).unwrap_err();
        assert!(e.to_string().contains("the catalog changed"), "{e}");
        assert!(s.list_providers().unwrap().is_empty());
        // Planned again, it applies, and the version moves by exactly one.
        let v = s.config_version().unwrap();
        let done = apply_text(&mut s, "f", ONE, false, false).unwrap();
        assert!(done.written);
        assert_eq!(s.config_version().unwrap(), v + 1);
    }

    #[test]
    fn tables_of_mappings_and_quoted_names_parse_with_their_paths() {
        let text = format!(
            "{ONE}\n[models.\"a:b\"]\n[[models.\"a:b\".providers]]\nprovider = \"p\"\nweight = 2\n\n[[models.\"a:b\".providers]]\nprovider = \"p\"\nbogus = 1\n"
        );
        let e = parse("f.toml", &text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml:13: models.\"a:b\".providers[1]: unknown key `bogus` (expected one of provider, upstream_model, priority, weight, enabled)"
        );
        let (_d, mut s) = store();
        let ok = text.replace("bogus = 1\n", "").replace(
            "provider = \"p\"\n\n",
            "provider = \"p\"\nupstream_model = \"u\"\n\n",
        );
        let e = apply_text(&mut s, "f.toml", &ok, false, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("f.toml:12: models.\"a:b\".providers[1]: provider `p` is mapped twice"),
            "{e}"
        );
    }
}

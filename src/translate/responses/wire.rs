//! Small shared pieces of the Responses translation: borrowed JSON written
//! back out unchanged, field lookups, and the flattened names of `namespace`
//! tools (Codex groups some of its function tools in namespaces; Chat has one
//! flat list of functions).
use std::borrow::Cow;

use serde::{Serialize, Serializer};

use crate::translate::openai::Json;

/// A borrowed JSON value serialised as it was read (schemas, metadata).
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'j, 'a>(pub &'j Json<'a>);

impl Serialize for Raw<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// `field` of an object when present and not `null`.
pub(super) fn get<'j, 'a>(v: &'j Json<'a>, field: &str) -> Option<&'j Json<'a>> {
    v.get(field).filter(|x| !x.is_null())
}

/// `field` as a string, when it is one.
pub(super) fn get_str<'j>(v: &'j Json<'_>, field: &str) -> Option<&'j str> {
    v.get(field).and_then(Json::as_str)
}

/// The separator between a namespace and a function name in the flat Chat
/// tool name (`multi_agent_v1__spawn_agent`): allowed by every provider's
/// tool-name pattern (`[A-Za-z0-9_-]`).
pub(super) const NAMESPACE_SEP: &str = "__";

/// The Chat function name of a Responses function in `namespace` (if any).
pub(super) fn flat_name<'a>(namespace: Option<&str>, name: &'a str) -> Cow<'a, str> {
    match namespace {
        Some(ns) if !ns.is_empty() => Cow::Owned(format!("{ns}{NAMESPACE_SEP}{name}")),
        _ => Cow::Borrowed(name),
    }
}

/// The request's namespace tools, to split a flat Chat function name back
/// into (`namespace`, `name`): (flat name, namespace length) pairs.
#[derive(Debug, Clone, Default)]
pub(super) struct Namespaces(Vec<(String, usize)>);

impl Namespaces {
    /// Reads `tools` of a Responses request body (bad JSON: none).
    pub(super) fn of_request(request: &[u8]) -> Self {
        let mut out = Vec::new();
        let Ok(req) = Json::parse(request) else {
            return Self(out);
        };
        let tools = req.get("tools").and_then(Json::as_array).unwrap_or(&[]);
        for t in tools {
            if get_str(t, "type") != Some("namespace") {
                continue;
            }
            let Some(ns) = get_str(t, "name") else {
                continue;
            };
            let children = t.get("tools").and_then(Json::as_array).unwrap_or(&[]);
            for c in children {
                if let Some(name) = get_str(c, "name") {
                    out.push((flat_name(Some(ns), name).into_owned(), ns.len()));
                }
            }
        }
        Self(out)
    }

    /// (`namespace`, `name`) of a Chat function name: the namespace is
    /// `None` unless the name is one of the request's namespaced functions.
    pub(super) fn split<'n>(&self, flat: &'n str) -> (Option<&'n str>, &'n str) {
        match self.0.iter().find(|(f, _)| f == flat) {
            Some((_, ns_len)) => (
                Some(&flat[..*ns_len]),
                &flat[ns_len + NAMESPACE_SEP.len()..],
            ),
            None => (None, flat),
        }
    }
}

/// How llmo marks the `encrypted_content` of a reasoning item it created:
/// the prefix, then the JSON array of Claude's signed `thinking` /
/// `redacted_thinking` blocks (Chat's `thinking_blocks`). A client sends the
/// item back unchanged, and the blocks go back upstream, so a tool loop
/// with extended thinking keeps its thinking. Other `encrypted_content`
/// (OpenAI's own) cannot be read by another provider and is dropped.
pub(super) const THINKING_PREFIX: &str = "llmo.thinking_blocks.v1:";

/// `encrypted_content` for Claude's thinking blocks (a JSON array).
pub(super) fn encrypt_thinking(blocks: &[serde_json::Value]) -> Option<String> {
    if blocks.is_empty() {
        return None;
    }
    let json = serde_json::to_string(blocks).ok()?;
    Some(format!("{THINKING_PREFIX}{json}"))
}

/// The thinking blocks of an `encrypted_content` llmo wrote (else none).
pub(super) fn decrypt_thinking(encrypted: &str) -> Vec<serde_json::Value> {
    encrypted
        .strip_prefix(THINKING_PREFIX)
        .and_then(|j| serde_json::from_str::<Vec<serde_json::Value>>(j).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|b| {
            matches!(
                b.get("type").and_then(|t| t.as_str()),
                Some("thinking" | "redacted_thinking")
            )
        })
        .collect()
}

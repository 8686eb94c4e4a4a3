//! Anthropic Messages as the client's API (`POST /v1/messages` ingress)
//! <-> OpenAI Chat Completions, so a Messages client (Claude Code, the
//! `anthropic` SDKs) can be served by any Chat upstream.
//!
//! The mapping decisions are tables in [`crate::translate`] ("Anthropic
//! Messages ingress"); this directory implements them: `request`
//! (Messages request -> Chat request), `response` (chat.completion ->
//! Messages response), `stream` ([`MessagesEncoder`]: OpenAI chunk SSE ->
//! Messages SSE), `count` (the local input-token estimate behind
//! `count_tokens` and `message_start`) and `error` (Anthropic error bodies).
//!
//! The client's request is read once into the borrowed [`Json`] tree and
//! walked by hand, so every 400 names the field at fault
//! (`messages[2].content[0].type`); the Chat body is written with borrowed
//! `Serialize` structs.
mod count;
mod error;
mod request;
mod response;
mod stream;

pub(crate) use count::count_tokens;
pub(crate) use error::{error_body, error_type};
pub(crate) use request::to_chat;
pub(crate) use response::from_chat;
pub(crate) use stream::MessagesEncoder;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::translate::openai::Json;

/// A piece of the client's JSON written back out as it came (schemas,
/// `cache_control` markers, signed thinking blocks, tool inputs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'a>(pub(super) &'a Json<'a>);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Raw(v))?;
                }
                seq.end()
            }
            Json::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(&**k, &Raw(v))?;
                }
                map.end()
            }
        }
    }
}

/// Shared by the unit tests of this directory.
#[cfg(test)]
mod test_util {
    pub(super) use crate::translate::test_support::*;
    pub(super) use serde_json::{json, Value};

    /// `to_chat` as JSON.
    pub(super) fn chat_json(body: &Value) -> Value {
        let c = super::to_chat(&serde_json::to_vec(body).unwrap()).unwrap();
        serde_json::from_slice(&c.body).unwrap()
    }

    /// The field `to_chat` names in its 400.
    pub(super) fn chat_err(body: &Value) -> String {
        super::to_chat(&serde_json::to_vec(body).unwrap())
            .err()
            .map(|e| e.param().to_string())
            .unwrap_or_default()
    }
}

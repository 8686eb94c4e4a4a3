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

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use crate::translate::{anthropic, gemini};

    fn recorded_claude_code() -> Vec<u8> {
        let rec = fixture_json(include_str!(
            "../../../tests/fixtures/anthropic/claude_code_messages_request_recorded.json"
        ));
        serde_json::to_vec(&rec["body"]).unwrap()
    }

    /// Messages -> Chat -> Gemini: what a Claude Code turn becomes on a
    /// Gemini provider.
    #[test]
    fn golden_claude_code_to_gemini() {
        let chat = to_chat(&recorded_claude_code()).unwrap();
        let call =
            gemini::request(&Json::parse(&chat.body).unwrap(), "gemini-2.5-pro", true).unwrap();
        assert_eq!(
            call.path,
            "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        let got: Value = serde_json::from_slice(&call.body).unwrap();
        golden_json!("messages/gemini_from_claude_code.json", &got);
    }

    /// Messages -> Chat -> Anthropic keeps what Anthropic needs back:
    /// cache markers, signed thinking blocks, tool ids and their pairing.
    #[test]
    fn messages_to_chat_to_anthropic_round_trips() {
        let original = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 2048,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCkYIARgCKkD"},
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "content": "18°C, sunny",
                     "cache_control": {"type": "ephemeral"}}]}
            ]
        });
        let chat = to_chat(&serde_json::to_vec(&original).unwrap()).unwrap();
        let call = anthropic::request(
            &Json::parse(&chat.body).unwrap(),
            "claude-sonnet-4-5",
            false,
        )
        .unwrap();
        let back: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(back["system"], original["system"]);
        assert_eq!(back["messages"], original["messages"]);
        assert_eq!(back["tools"], original["tools"]);
        assert_eq!(back["thinking"], original["thinking"]);
        assert_eq!(back["max_tokens"], original["max_tokens"]);
    }

    /// Every recorded Messages request becomes a Chat request the Anthropic
    /// and Gemini translators accept (Gemini cannot fetch the http image:
    /// a 400 naming it).
    #[test]
    fn recorded_requests_translate_without_error() {
        for body in [
            include_bytes!("../../../tests/fixtures/anthropic/messages_request.json").as_slice(),
            include_bytes!("../../../tests/fixtures/anthropic/messages_request_system_blocks.json"),
            include_bytes!("../../../tests/fixtures/anthropic/messages_stream_request.json"),
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_request.json"),
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_request_with_text.json"),
            include_bytes!("../../../tests/fixtures/anthropic/tool_result_request.json"),
            include_bytes!("../../../tests/fixtures/anthropic/image_request.json"),
            include_bytes!("../../../tests/fixtures/anthropic/structured_output_request.json"),
            include_bytes!("../../../tests/fixtures/anthropic/thinking_request.json"),
        ] {
            let chat = to_chat(body).unwrap();
            let j = Json::parse(&chat.body).unwrap();
            anthropic::request(&j, "claude-sonnet-4-5", chat.stream).unwrap();
            match gemini::request(&j, "gemini-2.5-flash", chat.stream) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.param(), "messages[0].content[1].image_url.url"),
            }
        }
    }
}

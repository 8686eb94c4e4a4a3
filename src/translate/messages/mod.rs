//! Anthropic Messages as the client's API (`POST /v1/messages` ingress)
//! <-> OpenAI Chat Completions, so a Messages client (Claude Code, the
//! `anthropic` SDKs) can be served by any Chat upstream.
//!
//! The mapping decisions are tables in [`crate::translate`] ("Anthropic
//! Messages ingress"); this directory implements them: `request`
//! (Messages request -> Chat request, written with `chat`'s borrowed
//! structs), `response` (chat.completion ->
//! Messages response), `stream` ([`MessagesEncoder`]: OpenAI chunk SSE ->
//! Messages SSE), `count` (the local input-token estimate behind
//! `count_tokens` and `message_start`) and `error` (Anthropic error bodies).
//!
//! The client's request is read once into the borrowed [`Json`] tree and
//! walked by hand, so every 400 names the field at fault
//! (`messages[2].content[0].type`); the Chat body is written with borrowed
//! `Serialize` structs.
mod chat;
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

use serde::{Serialize, Serializer};

use crate::translate::openai::Json;

/// A piece of the client's JSON written back out as it came (schemas,
/// `cache_control` markers, signed thinking blocks, tool inputs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'a>(pub(super) &'a Json<'a>);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
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

    const REQUESTS: &[&[u8]] = &[
        include_bytes!("../../../tests/fixtures/anthropic/messages_stream_request.json"),
        include_bytes!("../../../tests/fixtures/anthropic/tool_result_request.json"),
        include_bytes!("../../../tests/fixtures/anthropic/image_request.json"),
        include_bytes!("../../../tests/fixtures/anthropic/messages_request_system_blocks.json"),
        include_bytes!("../../../tests/fixtures/anthropic/structured_output_request.json"),
        include_bytes!("../../../tests/fixtures/anthropic/thinking_request.json"),
    ];
    const COMPLETIONS: &[&[u8]] = &[
        include_bytes!("../../../tests/fixtures/openai/chat_completion.json"),
        include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call_parallel.json"),
        include_bytes!("../../../tests/fixtures/openai/chat_completion_recorded.json"),
    ];
    const STREAMS: &[&[u8]] = &[
        include_bytes!(
            "../../../tests/fixtures/openai/chat_completion_stream_include_usage_reconstructed.sse"
        ),
        include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call_stream.sse"),
        include_bytes!("../../../tests/fixtures/translate/openai_reasoning_text_two_tools.sse"),
    ];

    /// Mutated client requests and upstream answers: no panic, output
    /// bounded by the input (the shared seeded harness of `translate::fuzz`).
    #[test]
    fn fuzz_requests_and_answers() {
        use crate::translate::fuzz::{assert_bounded, fuzz};
        fuzz("messages::to_chat", REQUESTS, |_, input| {
            if let Ok(c) = to_chat(input) {
                assert_bounded("to_chat", input.len(), c.body.len(), 3, 512);
                assert!(serde_json::from_slice::<Value>(&c.body).is_ok());
            }
            let _ = count_tokens(input);
        });
        fuzz("messages::from_chat", COMPLETIONS, |_, input| {
            if let Ok(out) = from_chat(input, "claude-public") {
                assert_bounded("from_chat", input.len(), out.len(), 3, 512);
            }
        });
    }

    /// Mutated OpenAI streams in random pieces: no panic, the same events
    /// as in one read, bounded output, and always a proper end
    /// (`message_stop` or one `error` event).
    #[test]
    fn fuzz_encoder() {
        use crate::translate::fuzz::{assert_bounded, chunks, fuzz};
        let run = |pieces: &[&[u8]]| {
            let mut e = MessagesEncoder::new("claude-public", 10);
            let mut out = Vec::new();
            for p in pieces {
                out.extend(e.feed(p));
            }
            out.extend(e.finish());
            assert!(e.is_done());
            out
        };
        fuzz("messages::MessagesEncoder", STREAMS, |rng, input| {
            let whole = run(&[input]);
            assert_eq!(
                run(&chunks(rng, input)),
                whole,
                "chunking changed the events"
            );
            assert_bounded("MessagesEncoder", input.len(), whole.len(), 10, 2048);
            let text = String::from_utf8(whole).unwrap();
            assert!(
                text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
                    || (text.matches("event: error").count() == 1
                        && text
                            .rsplit("\n\n")
                            .nth(1)
                            .is_some_and(|l| l.starts_with("event: error"))),
                "{text}"
            );
        });
    }

    /// A Claude Code tool loop through a Chat upstream: turn 1 streams a
    /// tool call back; the client appends what it accumulated and its
    /// `tool_result`; turn 2 is a Chat conversation with the call and its
    /// result paired by id, the reasoning as text, and no unsigned block.
    #[test]
    fn a_tool_loop_round_trips_through_chat() {
        let mut turn = fixture_json(include_str!(
            "../../../tests/fixtures/anthropic/claude_code_messages_request_recorded.json"
        ))["body"]
            .clone();
        let chat = to_chat(&serde_json::to_vec(&turn).unwrap()).unwrap();
        let mut enc = MessagesEncoder::new("claude-opus-4-8", chat.input_estimate);
        let mut sse = enc.feed(include_bytes!(
            "../../../tests/fixtures/translate/openai_reasoning_text_two_tools.sse"
        ));
        sse.extend(enc.finish());
        let answer = super::stream::tests::accumulate(&sse);
        assert_eq!(answer["stop_reason"], "tool_use");
        let ids: Vec<Value> = answer["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].clone())
            .collect();
        let msgs = turn["messages"].as_array_mut().unwrap();
        msgs.push(json!({"role": "assistant", "content": answer["content"]}));
        msgs.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ids[0], "content": "18°C"},
            {"type": "tool_result", "tool_use_id": ids[1], "content": [{"type": "text", "text": "22°C"}],
             "cache_control": {"type": "ephemeral"}}]}));
        let next: Value =
            serde_json::from_slice(&to_chat(&serde_json::to_vec(&turn).unwrap()).unwrap().body)
                .unwrap();
        let m = next["messages"].as_array().unwrap();
        let n = m.len();
        let assistant = &m[n - 3];
        assert_eq!(
            assistant["reasoning_content"],
            "The user wants two cities °F."
        );
        assert!(assistant.get("thinking_blocks").is_none());
        assert_eq!(assistant["content"], "Checking both 東京.");
        assert_eq!(assistant["tool_calls"][0]["id"], ids[0]);
        assert_eq!(
            assistant["tool_calls"][1]["function"]["arguments"],
            r#"{"city":"東京"}"#
        );
        assert_eq!(m[n - 2]["tool_call_id"], ids[0]);
        assert_eq!(m[n - 1]["tool_call_id"], ids[1]);
        assert_eq!(m[n - 1]["content"][0]["cache_control"]["type"], "ephemeral");
    }
}

//! OpenAI `chat.completion` -> Anthropic Messages response, and the pieces
//! the stream encoder shares (message id, stop reason, usage).
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::translate::TranslateError;

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Vec<ChoiceIn<'a>>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(borrow)]
    message: Option<MessageIn<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    /// vLLM: the stop string that ended the answer (or a token id).
    stop_reason: Option<Value>,
    /// SGLang: the same.
    matched_stop: Option<Value>,
}

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow)]
    content: Option<ContentIn<'a>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    /// Newer vLLM and OpenRouter name it `reasoning`.
    #[serde(borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallIn<'a>>>,
    #[serde(default)]
    thinking_blocks: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ContentIn<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(Vec<Value>),
}

#[derive(Deserialize)]
struct ToolCallIn<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: FunctionIn<'a>,
}

#[derive(Deserialize)]
struct FunctionIn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// OpenAI usage, as a chunk or a completion carries it.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct UsageIn {
    pub(super) prompt_tokens: Option<u64>,
    pub(super) completion_tokens: Option<u64>,
    pub(super) prompt_tokens_details: Option<DetailsIn>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct DetailsIn {
    pub(super) cached_tokens: Option<u64>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: Value,
    },
    #[serde(untagged)]
    Verbatim(&'a Value),
}

/// Anthropic usage: `input_tokens` excludes cache reads, as Anthropic's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) struct UsageOut {
    pub(super) input_tokens: u64,
    pub(super) cache_creation_input_tokens: u64,
    pub(super) cache_read_input_tokens: u64,
    pub(super) output_tokens: u64,
}

impl UsageIn {
    pub(super) fn to_anthropic(self) -> UsageOut {
        let prompt = self.prompt_tokens.unwrap_or(0);
        let cached = self
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(prompt);
        UsageOut {
            input_tokens: prompt - cached,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            output_tokens: self.completion_tokens.unwrap_or(0),
        }
    }
}

/// `msg_` + the completion id with characters outside `[A-Za-z0-9_-]`
/// replaced by `_` (`msg_llmo` when the upstream sent none).
pub(super) fn message_id(completion_id: Option<&str>) -> String {
    let id = completion_id.filter(|s| !s.is_empty()).unwrap_or("llmo");
    let mut out = String::with_capacity(4 + id.len());
    out.push_str("msg_");
    out.extend(id.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A vLLM `stop_reason` / SGLang `matched_stop` that is a stop string.
pub(super) fn matched_stop(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Anthropic's `stop_reason` for an OpenAI finish: see the table in
/// [`crate::translate`]. A tool call ends the turn with `tool_use` also
/// when the upstream says `stop`.
pub(super) fn stop_reason(finish: Option<&str>, tool_calls: bool, matched: bool) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        Some("tool_calls" | "function_call") => "tool_use",
        _ if tool_calls => "tool_use",
        _ if matched => "stop_sequence",
        _ => "end_turn",
    }
}

fn upstream(message: String) -> TranslateError {
    TranslateError::Upstream { message }
}

/// A `chat.completion` as an Anthropic Messages response naming
/// `public_model`. An unreadable body or tool-call arguments that are not
/// a JSON object are a 502 naming what was wrong.
pub(crate) fn from_chat(completion: &[u8], public_model: &str) -> Result<Vec<u8>, TranslateError> {
    let c: Completion<'_> = serde_json::from_slice(completion).map_err(|e| {
        upstream(format!(
            "the upstream sent an unreadable chat completion: {e}"
        ))
    })?;
    let choice = c
        .choices
        .first()
        .ok_or_else(|| upstream("the upstream chat completion has no choices".into()))?;
    let mut content = Vec::new();
    let mut tool_calls = false;
    if let Some(m) = &choice.message {
        match m.thinking_blocks.as_deref() {
            Some(blocks) if !blocks.is_empty() => {
                content.extend(blocks.iter().map(BlockOut::Verbatim));
            }
            _ => {
                if let Some(t) = m
                    .reasoning_content
                    .as_deref()
                    .or(m.reasoning.as_deref())
                    .filter(|t| !t.is_empty())
                {
                    content.push(BlockOut::Thinking {
                        thinking: t,
                        signature: "",
                    });
                }
            }
        }
        match &m.content {
            Some(ContentIn::Text(t)) if !t.is_empty() => content.push(BlockOut::Text { text: t }),
            Some(ContentIn::Parts(parts)) => content.extend(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .filter(|t| !t.is_empty())
                    .map(|text| BlockOut::Text { text }),
            ),
            _ => {}
        }
        if let Some(r) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
            content.push(BlockOut::Text { text: r });
        }
        for (k, call) in m.tool_calls.iter().flatten().enumerate() {
            tool_calls = true;
            let raw = call.function.arguments.as_deref().unwrap_or("");
            let input = if raw.trim().is_empty() {
                Value::Object(serde_json::Map::new())
            } else {
                match serde_json::from_str::<Value>(raw) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        return Err(upstream(format!(
                            "the upstream returned tool-call arguments that are not a JSON object (choices[0].message.tool_calls[{k}].function.arguments)"
                        )))
                    }
                }
            };
            content.push(BlockOut::ToolUse {
                id: match call.id.as_deref() {
                    Some(id) if !id.is_empty() => Cow::Borrowed(id),
                    _ => Cow::Owned(format!("toolu_llmo_{k}")),
                },
                name: &call.function.name,
                input,
            });
        }
    }
    let matched = matched_stop(choice.stop_reason.as_ref())
        .or_else(|| matched_stop(choice.matched_stop.as_ref()));
    let stop = stop_reason(
        choice.finish_reason.as_deref(),
        tool_calls,
        matched.is_some(),
    );
    let out = MessageOut {
        id: message_id(c.id.as_deref()),
        kind: "message",
        role: "assistant",
        model: public_model,
        content,
        stop_reason: stop,
        stop_sequence: matched.filter(|_| stop == "stop_sequence"),
        usage: c.usage.unwrap_or_default().to_anthropic(),
    };
    Ok(crate::translate::to_body(&out))
}

#[cfg(test)]
mod tests {
    use crate::translate::messages::from_chat;
    use crate::translate::messages::test_util::*;

    fn messages(completion: &[u8]) -> Value {
        serde_json::from_slice(&from_chat(completion, "claude-public").unwrap()).unwrap()
    }

    #[test]
    fn golden_completions_as_messages_responses() {
        for (name, body) in [
            (
                "messages/response_from_text.json",
                include_bytes!("../../../tests/fixtures/openai/chat_completion_recorded.json")
                    .as_slice(),
            ),
            (
                "messages/response_from_tool_call.json",
                include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call.json"),
            ),
            (
                "messages/response_from_parallel_tool_calls.json",
                include_bytes!(
                    "../../../tests/fixtures/openai/chat_completion_tool_call_parallel.json"
                ),
            ),
            (
                "messages/response_from_chat_completion.json",
                include_bytes!("../../../tests/fixtures/openai/chat_completion.json"),
            ),
        ] {
            golden_json!(name, &messages(body));
        }
    }

    #[test]
    fn tool_calls_end_the_turn_even_when_the_finish_says_stop() {
        let v = messages(br#"{"id":"chatcmpl-9","choices":[{"index":0,"message":{"role":"assistant","content":"ok","reasoning_content":"hmm",
            "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":60}}}"#);
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(
            v["content"][0],
            json!({"type": "thinking", "thinking": "hmm", "signature": ""})
        );
        assert_eq!(v["content"][1], json!({"type": "text", "text": "ok"}));
        assert_eq!(
            v["content"][2],
            json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {}})
        );
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60, "output_tokens": 5})
        );
        assert_eq!(v["id"], "msg_chatcmpl-9");
    }

    #[test]
    fn finish_reasons_and_stop_sequences() {
        let body = |finish: &str, extra: &str| {
            format!(
                r#"{{"id":"x.y","choices":[{{"index":0,"message":{{"role":"assistant","content":"a"}},"finish_reason":"{finish}"{extra}}}]}}"#
            )
        };
        for (finish, extra, stop, seq) in [
            ("stop", "", "end_turn", Value::Null),
            ("length", "", "max_tokens", Value::Null),
            ("content_filter", "", "refusal", Value::Null),
            ("tool_calls", "", "tool_use", Value::Null),
            (
                "stop",
                r#","stop_reason":"END""#,
                "stop_sequence",
                json!("END"),
            ),
            (
                "stop",
                r#","matched_stop":"STOP!""#,
                "stop_sequence",
                json!("STOP!"),
            ),
            ("stop", r#","stop_reason":128001"#, "end_turn", Value::Null),
        ] {
            let v = messages(body(finish, extra).as_bytes());
            assert_eq!(v["stop_reason"], stop, "{finish} {extra}");
            assert_eq!(v["stop_sequence"], seq, "{finish} {extra}");
            assert_eq!(v["id"], "msg_x_y");
        }
    }

    #[test]
    fn signed_thinking_blocks_are_returned_verbatim() {
        let v = messages(br#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning_content":"2+2",
            "thinking_blocks":[{"type":"thinking","thinking":"2+2","signature":"EqQB"},{"type":"redacted_thinking","data":"xyz"}]},"finish_reason":"stop"}]}"#);
        assert_eq!(
            v["content"][0],
            json!({"type": "thinking", "thinking": "2+2", "signature": "EqQB"})
        );
        assert_eq!(
            v["content"][1],
            json!({"type": "redacted_thinking", "data": "xyz"})
        );
        assert_eq!(v["content"][2]["text"], "4");
    }

    #[test]
    fn unreadable_answers_are_502s_naming_the_problem() {
        let e = from_chat(br#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":"}}]},"finish_reason":"tool_calls"}]}"#, "m").unwrap_err();
        assert_eq!(e.status(), 502);
        assert!(
            e.to_string().contains("tool_calls[0].function.arguments"),
            "{e}"
        );
        assert_eq!(from_chat(b"<html>", "m").unwrap_err().status(), 502);
        assert_eq!(
            from_chat(br#"{"choices":[]}"#, "m").unwrap_err().status(),
            502
        );
    }
}

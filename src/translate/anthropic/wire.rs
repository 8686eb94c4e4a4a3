//! The Anthropic Messages API's own JSON shapes, typed.
//!
//! Request side (what llmo sends to `POST /v1/messages`): borrowed structs
//! that derive both `Serialize` (the OpenAI -> Anthropic direction builds
//! them) and `Deserialize` (so an Anthropic Messages *ingress* can read a
//! client's request into the same types). Strings and schemas are `Cow`:
//! borrowed when llmo builds a request, owned when one is read (serde cannot
//! borrow through the internally tagged enums).
//!
//! Response side (what Anthropic answers, whole or as stream events):
//! `Deserialize`-only, borrowing from the body, with only the fields the
//! translation reads.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A Messages API request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessagesRequest<'a> {
    pub(crate) model: Cow<'a, str>,
    pub(crate) max_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) system: Option<Content<'a>>,
    pub(crate) messages: Vec<MessageParam<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking: Option<ThinkingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) stop_sequences: Vec<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<Metadata<'a>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<ToolDef<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<ToolChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) output_config: Option<OutputConfig<'a>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) stream: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    User,
    Assistant,
}

/// One turn of `messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageParam<'a> {
    pub(crate) role: Role,
    pub(crate) content: Content<'a>,
}

/// `content` of a message, `system`, or a `tool_result`: a plain string or
/// a list of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<ContentBlock<'a>>),
}

/// A content block of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentBlock<'a> {
    Text {
        text: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Cow<'a, Value>>,
    },
    Image {
        source: ImageSource<'a>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        input: Cow<'a, Value>,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Cow<'a, Value>>,
    },
    Thinking {
        thinking: Cow<'a, str>,
        signature: Cow<'a, str>,
    },
    RedactedThinking {
        data: Cow<'a, str>,
    },
    /// A block passed through as the client sent it (the signed
    /// `thinking` / `redacted_thinking` blocks of the LiteLLM convention:
    /// they must reach Anthropic byte for byte).
    #[serde(untagged)]
    Verbatim(Cow<'a, Value>),
}

impl ContentBlock<'_> {
    /// `thinking` or `redacted_thinking`, typed or passed through.
    pub(crate) fn is_thinking(&self) -> bool {
        match self {
            Self::Thinking { .. } | Self::RedactedThinking { .. } => true,
            Self::Verbatim(v) => matches!(
                v.get("type").and_then(Value::as_str),
                Some("thinking" | "redacted_thinking")
            ),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ImageSource<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: Cow<'a, str>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ToolDef<'a> {
    pub(crate) name: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<Cow<'a, str>>,
    pub(crate) input_schema: Cow<'a, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToolChoice<'a> {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ThinkingConfig {
    Enabled { budget_tokens: u64 },
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Metadata<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutputConfig<'a> {
    pub(crate) format: OutputFormat<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputFormat<'a> {
    JsonSchema { schema: Cow<'a, Value> },
}

// ---------------------------------------------------------------------------
// Responses and stream events (read only)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    pub(crate) input_tokens: Option<u32>,
    pub(crate) output_tokens: Option<u32>,
    pub(crate) cache_read_input_tokens: Option<u32>,
    pub(crate) cache_creation_input_tokens: Option<u32>,
}

#[derive(Deserialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) content: Vec<WireBlock<'a>>,
    #[serde(borrow)]
    pub(crate) stop_reason: Option<Cow<'a, str>>,
    pub(crate) usage: Option<WireUsage>,
}

#[derive(Deserialize)]
pub(crate) struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) ty: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) input: Option<Value>,
    #[serde(borrow)]
    pub(crate) signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) ty: Cow<'a, str>,
    #[serde(default)]
    pub(crate) index: usize,
    #[serde(borrow)]
    pub(crate) message: Option<WireStartMessage<'a>>,
    #[serde(borrow)]
    pub(crate) content_block: Option<WireBlock<'a>>,
    #[serde(borrow)]
    pub(crate) delta: Option<WireDelta<'a>>,
    pub(crate) usage: Option<WireUsage>,
    #[serde(borrow)]
    pub(crate) error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct WireStartMessage<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) usage: Option<WireUsage>,
}

#[derive(Deserialize)]
pub(crate) struct WireDelta<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) partial_json: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireErrorEnvelope<'a> {
    #[serde(borrow)]
    pub(crate) error: WireError<'a>,
}

#[derive(Deserialize)]
pub(crate) struct WireError<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) message: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::anthropic::test_util::*;
    use crate::translate::openai::Json;

    /// The request types read back what llmo writes (the ingress direction
    /// reuses them), and write it again byte for byte.
    #[test]
    fn requests_round_trip_through_the_wire_types() {
        for (openai, stream) in [
            (
                fixture_json(include_str!(
                    "../../../tests/fixtures/openai/chat_completion_request_system.json"
                )),
                false,
            ),
            (
                fixture_json(include_str!(
                    "../../../tests/fixtures/openai/chat_completion_request_json_schema.json"
                )),
                true,
            ),
            (
                serde_json::json!({"messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": "done"}
                ], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required", "parallel_tool_calls": false}),
                false,
            ),
        ] {
            let body = request(&Json::from(&openai), "claude-sonnet-4-5", stream)
                .unwrap()
                .body;
            let parsed: MessagesRequest<'_> = serde_json::from_slice(&body).unwrap();
            assert_eq!(serde_json::to_vec(&parsed).unwrap(), body);
        }
    }
}

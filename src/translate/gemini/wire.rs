//! The Gemini API's own JSON shapes, typed.
//!
//! Request side (`generateContent`, `embedContent`, `batchEmbedContents`
//! bodies): borrowed structs deriving both `Serialize` (llmo builds them)
//! and `Deserialize` (so a later Gemini-dialect ingress or a test can read
//! them back). A [`Part`] is a struct of optional fields, as in Google's own
//! API definition (one data field per part, plus thought metadata).
//!
//! Response side: `Deserialize`-only, borrowing from the body, with only the
//! fields the translation reads.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A `generateContent` / `streamGenerateContent` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentRequest<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) system_instruction: Option<Content<'a>>,
    pub(crate) contents: Vec<Content<'a>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<Tool<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_config: Option<ToolConfig<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generation_config: Option<GenerationConfig<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    User,
    Model,
}

/// A turn (`contents[]`), the system instruction (no role) or an embedding
/// input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Content<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<Role>,
    pub(crate) parts: Vec<Part<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) thought: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) inline_data: Option<Blob<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file_data: Option<FileData<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function_call: Option<FunctionCall<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function_response: Option<FunctionResponse<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thought_signature: Option<Cow<'a, str>>,
}

impl<'a> Part<'a> {
    pub(crate) fn text(text: &'a str) -> Self {
        Part {
            text: Some(Cow::Borrowed(text)),
            ..Part::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Blob<'a> {
    pub(crate) mime_type: Cow<'a, str>,
    pub(crate) data: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileData<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mime_type: Option<Cow<'a, str>>,
    pub(crate) file_uri: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FunctionCall<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) args: Cow<'a, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FunctionResponse<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) response: Cow<'a, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tool<'a> {
    pub(crate) function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionDeclaration<'a> {
    pub(crate) name: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters_json_schema: Option<Cow<'a, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig<'a> {
    pub(crate) function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCallingConfig<'a> {
    pub(crate) mode: FunctionCallingMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_function_names: Vec<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum FunctionCallingMode {
    Auto,
    None,
    Any,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) stop_sequences: Vec<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) candidate_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_mime_type: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_json_schema: Option<Cow<'a, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_config: Option<ThinkingConfig<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThinkingConfig<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) include_thoughts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_budget: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_level: Option<Cow<'a, str>>,
}

/// An `embedContent` body, or one entry of `batchEmbedContents.requests`
/// (which names the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmbedContentRequest<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<Cow<'a, str>>,
    pub(crate) content: Content<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) output_dimensionality: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchEmbedContentsRequest<'a> {
    pub(crate) requests: Vec<EmbedContentRequest<'a>>,
}

// ---------------------------------------------------------------------------
// Responses and stream chunks (read only)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUsage {
    pub(crate) prompt_token_count: Option<u32>,
    pub(crate) candidates_token_count: Option<u32>,
    pub(crate) total_token_count: Option<u32>,
    pub(crate) cached_content_token_count: Option<u32>,
    pub(crate) thoughts_token_count: Option<u32>,
    pub(crate) tool_use_prompt_token_count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireResponse<'a> {
    #[serde(default, borrow)]
    pub(crate) candidates: Vec<WireCandidate<'a>>,
    pub(crate) usage_metadata: Option<WireUsage>,
    #[serde(borrow)]
    pub(crate) response_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) prompt_feedback: Option<WirePromptFeedback<'a>>,
    pub(crate) error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireCandidate<'a> {
    #[serde(borrow)]
    pub(crate) content: Option<WireContent<'a>>,
    #[serde(borrow)]
    pub(crate) finish_reason: Option<Cow<'a, str>>,
    pub(crate) index: Option<u32>,
}

#[derive(Deserialize)]
pub(crate) struct WireContent<'a> {
    #[serde(default, borrow)]
    pub(crate) parts: Vec<WirePart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePart<'a> {
    #[serde(borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) thought: bool,
    #[serde(borrow)]
    pub(crate) function_call: Option<WireFunctionCall<'a>>,
    #[serde(borrow)]
    pub(crate) thought_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireFunctionCall<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    pub(crate) args: Option<Value>,
    #[serde(borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePromptFeedback<'a> {
    #[serde(borrow)]
    pub(crate) block_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireEmbedding {
    pub(crate) values: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireEmbedResponse {
    pub(crate) embedding: Option<WireEmbedding>,
    pub(crate) embeddings: Option<Vec<WireEmbedding>>,
    pub(crate) usage_metadata: Option<WireUsage>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;

    /// The request types read back what llmo writes, and write it again
    /// byte for byte.
    #[test]
    fn requests_round_trip_through_the_wire_types() {
        for openai in [
            fixture_json(include_str!(
                "../../../tests/fixtures/openai/chat_completion_request_system.json"
            )),
            fixture_json(include_str!(
                "../../../tests/fixtures/openai/chat_completion_request_json_schema.json"
            )),
            serde_json::json!({"messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "done"}
            ], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required", "reasoning_effort": "low"}),
        ] {
            let (_, v) = req_json(&openai, "gemini-2.5-flash", false);
            let body = serde_json::to_vec(&v).unwrap();
            let parsed: GenerateContentRequest<'_> = serde_json::from_slice(&body).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), v);
        }
    }
}

//! The OpenAI objects llmo answers with: [`ChatCompletion`], [`Usage`],
//! [`EmbeddingList`] and the `{"error":{…}}` body, serialised in OpenAI's
//! field order.
use serde::Serialize;
use serde_json::Value;

/// An OpenAI `chat.completion` object. Serialises with OpenAI's field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: Message,
    pub finish_reason: Option<FinishReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: Option<String>,
    /// Non-standard (DeepSeek / vLLM convention): the model's thinking text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Non-standard (LiteLLM convention): Anthropic `thinking` /
    /// `redacted_thinking` blocks with signatures. Clients send them back on
    /// the assistant message so a thinking + tool-use loop can continue.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thinking_blocks: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall,
    /// Google's OpenAI-compatible extension, carrying a Gemini thought
    /// signature: `{"google":{"thought_signature":"…"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u32,
}

/// An OpenAI embeddings list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: u32,
    pub embedding: EmbeddingVector,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// Numbers exactly as the provider sent them.
    Float(Vec<f64>),
    /// Little-endian f32 bytes, base64 (what `encoding_format: "base64"` asks for).
    Base64(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u32,
    pub total_tokens: u32,
}

/// Serialises an OpenAI error body (`{"error":{…}}`) with OpenAI's key order
/// (`message`, `type`, `param`, `code`).
pub fn error_bytes(body: &Value) -> Vec<u8> {
    #[derive(Serialize)]
    struct Wire<'a> {
        error: Inner<'a>,
    }
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a Value,
        #[serde(rename = "type")]
        kind: &'a Value,
        param: &'a Value,
        code: &'a Value,
    }
    let e = &body["error"];
    serde_json::to_vec(&Wire {
        error: Inner {
            message: &e["message"],
            kind: &e["type"],
            param: &e["param"],
            code: &e["code"],
        },
    })
    .unwrap_or_default()
}

/// `{"error":{"message","type","param","code"}}`.
pub(crate) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    serde_json::json!({
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": code,
        }
    })
}

/// Standard base64 (with padding), for `encoding_format: "base64"` embeddings.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0] as u32;
        let b1 = chunk.get(1).copied().unwrap_or(0) as u32;
        let b2 = chunk.get(2).copied().unwrap_or(0) as u32;
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_openai_fixture() {
        let floats = [0.0023064255f32, -0.009327292, -0.0028842222, 0.0154];
        let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/openai/embeddings_response_base64.json"
        ))
        .unwrap();
        assert_eq!(
            base64_encode(&bytes),
            fixture["data"][0]["embedding"].as_str().unwrap()
        );
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }
}

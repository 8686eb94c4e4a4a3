//! Writing `chat.completion.chunk` SSE events: what every stream translator
//! emits, whatever the vendor.
use serde::Serialize;
use serde_json::Value;

use super::response::{error_bytes, FinishReason, Usage};

/// Writes `chat.completion.chunk` SSE events. Every chunk of one stream has the
/// same `id`, `created` and `model`. With `include_usage`, every chunk carries
/// `"usage":null` and [`ChunkWriter::usage`] writes the final usage chunk, as
/// OpenAI does.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
}

#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<FinishReason>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<[&'a Value; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_content: Option<&'a Value>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// A new tool call in a stream (first delta of that call).
pub(crate) struct ToolStart<'a> {
    pub choice: u32,
    pub tool_index: u32,
    pub id: &'a str,
    pub name: &'a str,
    pub arguments: &'a str,
    pub extra_content: Option<&'a Value>,
}

impl ChunkWriter {
    fn write(&self, out: &mut Vec<u8>, choice: Option<ChunkChoice<'_>>, usage: Option<&Usage>) {
        let choices: &[ChunkChoice<'_>] = match &choice {
            Some(c) => std::slice::from_ref(c),
            None => &[],
        };
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: if self.include_usage {
                Some(usage)
            } else {
                None
            },
        };
        out.extend_from_slice(b"data: ");
        // Serialising these borrowed structs into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &chunk);
        out.extend_from_slice(b"\n\n");
    }

    fn delta(&self, out: &mut Vec<u8>, choice: u32, delta: Delta<'_>) {
        self.write(
            out,
            Some(ChunkChoice {
                index: choice,
                delta,
                finish_reason: None,
            }),
            None,
        );
    }

    /// First chunk of a choice: `{"role":"assistant","content":""}`.
    pub fn role(&self, out: &mut Vec<u8>, choice: u32) {
        self.delta(
            out,
            choice,
            Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            },
        );
    }

    pub fn content(&self, out: &mut Vec<u8>, choice: u32, text: &str) {
        self.delta(
            out,
            choice,
            Delta {
                content: Some(text),
                ..Delta::default()
            },
        );
    }

    pub fn reasoning(&self, out: &mut Vec<u8>, choice: u32, text: &str) {
        self.delta(
            out,
            choice,
            Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            },
        );
    }

    pub fn tool_start(&self, out: &mut Vec<u8>, t: ToolStart<'_>) {
        self.delta(
            out,
            t.choice,
            Delta {
                tool_calls: Some([ToolCallDelta {
                    index: t.tool_index,
                    id: Some(t.id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(t.name),
                        arguments: t.arguments,
                    },
                    extra_content: t.extra_content,
                }]),
                ..Delta::default()
            },
        );
    }

    /// A complete thinking block (with its signature), once it has ended.
    pub fn thinking_block(&self, out: &mut Vec<u8>, choice: u32, block: &Value) {
        self.delta(
            out,
            choice,
            Delta {
                thinking_blocks: Some([block]),
                ..Delta::default()
            },
        );
    }

    pub fn tool_args(&self, out: &mut Vec<u8>, choice: u32, tool_index: u32, arguments: &str) {
        self.delta(
            out,
            choice,
            Delta {
                tool_calls: Some([ToolCallDelta {
                    index: tool_index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments,
                    },
                    extra_content: None,
                }]),
                ..Delta::default()
            },
        );
    }

    pub fn finish(&self, out: &mut Vec<u8>, choice: u32, reason: FinishReason) {
        self.write(
            out,
            Some(ChunkChoice {
                index: choice,
                delta: Delta::default(),
                finish_reason: Some(reason),
            }),
            None,
        );
    }

    /// The usage chunk (`choices: []`). Written only when the client asked.
    pub fn usage(&self, out: &mut Vec<u8>, usage: &Usage) {
        if self.include_usage {
            self.write(out, None, Some(usage));
        }
    }

    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// An OpenAI-style error event (`data: {"error":{…}}`) followed by
    /// `data: [DONE]` (the gateway's convention for a failed stream: SDKs
    /// raise on the error event; naive readers still see the end).
    pub fn error(out: &mut Vec<u8>, body: &Value) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&error_bytes(body));
        out.extend_from_slice(b"\n\n");
        Self::done(out);
    }
}

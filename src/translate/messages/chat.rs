//! The Chat Completions request body `to_chat` writes: borrowed
//! `Serialize` structs over the client's parsed request.
use std::borrow::Cow;

use serde::Serialize;

use super::Raw;

#[derive(Serialize)]
pub(super) struct ChatBody<'a> {
    pub(super) model: &'a str,
    pub(super) messages: Vec<ChatMsg<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<Raw<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<Raw<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<Raw<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) stop: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<ChatTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<ChatToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: bool,
}

#[derive(Serialize)]
pub(super) struct ChatMsg<'a> {
    pub(super) role: &'static str,
    /// `null` only for an assistant turn that is all tool calls.
    pub(super) content: Option<MsgContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) thinking_blocks: Vec<Raw<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_call_id: Option<&'a str>,
}

impl<'a> ChatMsg<'a> {
    pub(super) fn new(role: &'static str, content: Option<MsgContent<'a>>) -> Self {
        Self {
            role,
            content,
            reasoning_content: None,
            thinking_blocks: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum MsgContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

impl<'a> MsgContent<'a> {
    /// A plain string when the parts are one text without a cache marker
    /// (what every Chat server reads), else the parts.
    pub(super) fn from_parts(mut parts: Vec<PartOut<'a>>) -> Self {
        if let [PartOut::Text {
            cache_control: None,
            ..
        }] = parts.as_slice()
        {
            if let Some(PartOut::Text { text, .. }) = parts.pop() {
                return Self::Text(Cow::Borrowed(text));
            }
        }
        Self::Parts(parts)
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum PartOut<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Raw<'a>>,
    },
    ImageUrl {
        image_url: ImageUrl<'a>,
    },
}

#[derive(Serialize)]
pub(super) struct ImageUrl<'a> {
    pub(super) url: Cow<'a, str>,
}

#[derive(Serialize)]
pub(super) struct ToolCallOut<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: FunctionOut<'a>,
}

#[derive(Serialize)]
pub(super) struct FunctionOut<'a> {
    pub(super) name: &'a str,
    pub(super) arguments: String,
}

#[derive(Serialize)]
pub(super) struct ChatTool<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: ToolFunction<'a>,
}

#[derive(Serialize)]
pub(super) struct ToolFunction<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) parameters: Raw<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ChatToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NamedFunction<'a>,
    },
}

#[derive(Serialize)]
pub(super) struct NamedFunction<'a> {
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) json_schema: JsonSchemaFormat<'a>,
}

#[derive(Serialize)]
pub(super) struct JsonSchemaFormat<'a> {
    pub(super) name: &'static str,
    pub(super) schema: Raw<'a>,
    pub(super) strict: bool,
}

//! Chat completion -> Response object, and the Response object's parts the
//! stream encoder shares: the echoed request fields, output items, usage.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::wire::Namespaces;
use super::ResponseMeta;
use crate::translate::TranslateError;

/// chat.completion JSON -> a Response object JSON (status `completed`, or
/// `incomplete` for finish `length` / `content_filter`).
pub(crate) fn from_chat(
    completion: &[u8],
    meta: &ResponseMeta<'_>,
) -> Result<Vec<u8>, TranslateError> {
    let c: Completion<'_> =
        serde_json::from_slice(completion).map_err(|e| TranslateError::Upstream {
            message: format!("the upstream chat completion is unreadable: {e}"),
        })?;
    let head = Head::new(meta);
    let ns = Namespaces::of_request(meta.request);
    let mut out = Vec::new();
    let mut finish = None;
    if let Some(choice) = c.choices.into_iter().find(|c| c.index.unwrap_or(0) == 0) {
        finish = choice.finish_reason;
        let m = choice.message;
        if let Some(r) = m
            .reasoning_content
            .or(m.reasoning)
            .filter(|r| !r.is_empty())
        {
            out.push(Item::reasoning(&head, out.len(), r.into_owned()));
        }
        let mut parts = Vec::new();
        if let Some(t) = m.content.filter(|t| !t.is_empty()) {
            parts.push(Part::text(t.into_owned()));
        }
        if let Some(r) = m.refusal.filter(|r| !r.is_empty()) {
            parts.push(Part::Refusal {
                refusal: r.into_owned(),
            });
        }
        if !parts.is_empty() {
            let mut item = Item::message(&head, out.len());
            if let Item::Message { content, .. } = &mut item {
                *content = parts;
            }
            out.push(item);
        }
        for tc in m.tool_calls {
            let (namespace, name) = ns.split(&tc.function.name);
            let mut item = Item::call(
                &head,
                out.len(),
                tc.id.into_owned(),
                name.to_owned(),
                namespace.map(str::to_owned),
            );
            if let Item::FunctionCall { arguments, .. } = &mut item {
                *arguments = tc.function.arguments.into_owned();
            }
            out.push(item);
        }
    }
    let end = End::of_finish(finish.as_deref());
    for item in &mut out {
        item.set_status(end.item_status());
    }
    let usage = c.usage.map(ResponseUsage::from);
    Ok(head.write(end.status(), &out, usage.as_ref(), end.details(), None))
}

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Completed,
    /// `max_output_tokens` (finish `length`).
    MaxTokens,
    ContentFilter,
}

impl End {
    pub(super) fn of_finish(finish: Option<&str>) -> Self {
        match finish {
            Some("length") => Self::MaxTokens,
            Some("content_filter") => Self::ContentFilter,
            _ => Self::Completed,
        }
    }

    pub(super) fn status(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            _ => "incomplete",
        }
    }

    pub(super) fn item_status(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            _ => "incomplete",
        }
    }

    pub(super) fn details(self) -> Option<IncompleteDetails> {
        match self {
            Self::Completed => None,
            Self::MaxTokens => Some(IncompleteDetails {
                reason: "max_output_tokens",
            }),
            Self::ContentFilter => Some(IncompleteDetails {
                reason: "content_filter",
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct IncompleteDetails {
    reason: &'static str,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ResponseError {
    pub(super) code: String,
    pub(super) message: String,
}

/// What the Response object repeats in every event: identity and the
/// request's settings (each written once, as JSON text).
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) id: String,
    /// `id` without `resp_`: the stem of the item ids.
    stem: String,
    model: String,
    created_at: u64,
    echo: Echo,
}

/// The request fields a Response object echoes (OpenAI's defaults when the
/// request did not set them).
#[derive(Debug, Clone)]
struct Echo {
    instructions: Box<RawValue>,
    max_output_tokens: Box<RawValue>,
    parallel_tool_calls: Box<RawValue>,
    previous_response_id: Box<RawValue>,
    reasoning: Box<RawValue>,
    store: Box<RawValue>,
    temperature: Box<RawValue>,
    text: Box<RawValue>,
    tool_choice: Box<RawValue>,
    tools: Box<RawValue>,
    top_p: Box<RawValue>,
    truncation: Box<RawValue>,
    user: Box<RawValue>,
    metadata: Box<RawValue>,
}

#[derive(Deserialize, Default)]
struct EchoIn<'a> {
    #[serde(borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow)]
    max_output_tokens: Option<&'a RawValue>,
    #[serde(borrow)]
    parallel_tool_calls: Option<&'a RawValue>,
    #[serde(borrow)]
    previous_response_id: Option<&'a RawValue>,
    #[serde(borrow)]
    reasoning: Option<&'a RawValue>,
    #[serde(borrow)]
    store: Option<&'a RawValue>,
    #[serde(borrow)]
    temperature: Option<&'a RawValue>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_choice: Option<&'a RawValue>,
    #[serde(borrow)]
    tools: Option<&'a RawValue>,
    #[serde(borrow)]
    top_p: Option<&'a RawValue>,
    #[serde(borrow)]
    truncation: Option<&'a RawValue>,
    #[serde(borrow)]
    user: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

/// `v` unless absent or `null`, else `default` (JSON text).
fn or_default(v: Option<&RawValue>, default: &str) -> Box<RawValue> {
    let text = match v {
        Some(r) if r.get() != "null" => r.get(),
        _ => default,
    };
    RawValue::from_string(text.to_owned())
        .or_else(|_| RawValue::from_string("null".to_owned()))
        .unwrap_or_else(|_| Box::<RawValue>::default())
}

impl Head {
    pub(super) fn new(meta: &ResponseMeta<'_>) -> Self {
        let e: EchoIn<'_> = serde_json::from_slice(meta.request).unwrap_or_default();
        let echo = Echo {
            instructions: or_default(e.instructions, "null"),
            max_output_tokens: or_default(e.max_output_tokens, "null"),
            parallel_tool_calls: or_default(e.parallel_tool_calls, "true"),
            previous_response_id: or_default(e.previous_response_id, "null"),
            reasoning: or_default(e.reasoning, r#"{"effort":null,"summary":null}"#),
            store: or_default(e.store, "true"),
            temperature: or_default(e.temperature, "1.0"),
            text: or_default(e.text, r#"{"format":{"type":"text"}}"#),
            tool_choice: or_default(e.tool_choice, r#""auto""#),
            tools: or_default(e.tools, "[]"),
            top_p: or_default(e.top_p, "1.0"),
            truncation: or_default(e.truncation, r#""disabled""#),
            user: or_default(e.user, "null"),
            metadata: or_default(e.metadata, "{}"),
        };
        let stem = meta.id.strip_prefix("resp_").unwrap_or(meta.id).to_owned();
        Self {
            id: meta.id.to_owned(),
            stem,
            model: meta.model.to_owned(),
            created_at: meta.created_at,
            echo,
        }
    }

    /// The id of output item `index`: `<prefix>_<response id stem>_<index>`.
    pub(super) fn item_id(&self, prefix: &str, index: usize) -> String {
        format!("{prefix}_{}_{index}", self.stem)
    }

    /// The Response object as JSON text.
    pub(super) fn write(
        &self,
        status: &str,
        output: &[Item],
        usage: Option<&ResponseUsage>,
        incomplete_details: Option<IncompleteDetails>,
        error: Option<&ResponseError>,
    ) -> Vec<u8> {
        let e = &self.echo;
        let obj = ResponseObject {
            id: &self.id,
            object: "response",
            created_at: self.created_at,
            status,
            error,
            incomplete_details,
            instructions: &e.instructions,
            max_output_tokens: &e.max_output_tokens,
            model: &self.model,
            output,
            parallel_tool_calls: &e.parallel_tool_calls,
            previous_response_id: &e.previous_response_id,
            reasoning: &e.reasoning,
            store: &e.store,
            temperature: &e.temperature,
            text: &e.text,
            tool_choice: &e.tool_choice,
            tools: &e.tools,
            top_p: &e.top_p,
            truncation: &e.truncation,
            usage,
            user: &e.user,
            metadata: &e.metadata,
        };
        serde_json::to_vec(&obj).unwrap_or_default()
    }
}

/// A Response object, in the API reference's field order.
#[derive(Serialize)]
pub(super) struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'a str,
    error: Option<&'a ResponseError>,
    incomplete_details: Option<IncompleteDetails>,
    instructions: &'a RawValue,
    max_output_tokens: &'a RawValue,
    model: &'a str,
    output: &'a [Item],
    parallel_tool_calls: &'a RawValue,
    previous_response_id: &'a RawValue,
    reasoning: &'a RawValue,
    store: &'a RawValue,
    temperature: &'a RawValue,
    text: &'a RawValue,
    tool_choice: &'a RawValue,
    tools: &'a RawValue,
    top_p: &'a RawValue,
    truncation: &'a RawValue,
    usage: Option<&'a ResponseUsage>,
    user: &'a RawValue,
    metadata: &'a RawValue,
}

/// An output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Item {
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
    },
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<Part>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        arguments: String,
        status: &'static str,
    },
}

impl Item {
    pub(super) fn reasoning(head: &Head, index: usize, text: String) -> Self {
        Self::Reasoning {
            id: head.item_id("rs", index),
            summary: vec![SummaryText::new(text)],
        }
    }

    pub(super) fn message(head: &Head, index: usize) -> Self {
        Self::Message {
            id: head.item_id("msg", index),
            status: "in_progress",
            role: "assistant",
            content: Vec::new(),
        }
    }

    pub(super) fn call(
        head: &Head,
        index: usize,
        call_id: String,
        name: String,
        namespace: Option<String>,
    ) -> Self {
        Self::FunctionCall {
            id: head.item_id("fc", index),
            call_id,
            name,
            namespace,
            arguments: String::new(),
            status: "in_progress",
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Self::Reasoning { id, .. }
            | Self::Message { id, .. }
            | Self::FunctionCall { id, .. } => id,
        }
    }

    pub(super) fn set_status(&mut self, s: &'static str) {
        match self {
            Self::Message { status, .. } | Self::FunctionCall { status, .. } => *status = s,
            Self::Reasoning { .. } => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct SummaryText {
    #[serde(rename = "type")]
    kind: &'static str,
    pub(super) text: String,
}

impl SummaryText {
    pub(super) fn new(text: String) -> Self {
        Self {
            kind: "summary_text",
            text,
        }
    }
}

/// A content part of an output message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Part {
    OutputText { text: String, annotations: [(); 0] },
    Refusal { refusal: String },
}

impl Part {
    pub(super) fn text(text: String) -> Self {
        Self::OutputText {
            text,
            annotations: [],
        }
    }
}

/// `usage` of a Response object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) struct ResponseUsage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct OutputDetails {
    reasoning_tokens: u64,
}

impl From<ChatUsage> for ResponseUsage {
    fn from(u: ChatUsage) -> Self {
        Self {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
            },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: u
                    .completion_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            },
            total_tokens: u
                .total_tokens
                .unwrap_or(u.prompt_tokens + u.completion_tokens),
        }
    }
}

/// A chat completion, as far as the translation reads it.
#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow)]
    message: ChatMessage<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChatMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    /// The field name some servers (vLLM, OpenRouter) use instead.
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<ChatToolCall<'a>>,
}

pub(super) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct ChatToolCall<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    function: ChatFunction<'a>,
}

#[derive(Deserialize)]
struct ChatFunction<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Cow<'a, str>,
}

/// Chat `usage` (a completion's, or a stream's usage chunk).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(super) struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

//! Responses request -> Chat Completions request. The request is read once
//! into a borrowed [`Json`] tree and written out through borrowed structs;
//! see the "Responses ingress" tables in the `translate` module docs.
use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

use super::wire::{decrypt_thinking, flat_name, get, get_str, Raw};
use crate::translate::openai::Json;
use crate::translate::{invalid, to_body, unsupported, ChatRequest, TranslateError};

/// Fields translated into the Chat request.
const MAPPED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "max_output_tokens",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "stream",
];

/// Fields accepted and not sent upstream: llmo's own state handling
/// (`store`, `previous_response_id`), OpenAI-platform features, or echo-only.
const DROPPED: &[&str] = &[
    "store",
    "metadata",
    "previous_response_id",
    "include",
    "truncation",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "stream_options",
    "client_metadata",
    "max_tool_calls",
];

/// Built-in (OpenAI-hosted) tool types, named in the 400.
const BUILT_IN: &str = "only an `openai` provider can run built-in tools";

/// Built-in web search tools: dropped (not refused) for a translated
/// provider, see `tools`.
const WEB_SEARCH: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_2025_08_26",
    "web_search_preview_2025_03_11",
];

/// `prior`: the stored conversation before this request (a JSON array of
/// Responses items), prepended to this request's `input`.
pub(crate) fn to_chat(body: &[u8], prior: Option<&[u8]>) -> Result<ChatRequest, TranslateError> {
    let req = Json::parse(body)
        .map_err(|e| invalid("body", format!("the request body is not valid JSON: {e}")))?;
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    check_fields(obj)?;
    let model = get(&req, "model")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("model", "`model` must be a string"))?;
    let prior = match prior {
        Some(p) => Some(Json::parse(p).map_err(|_| {
            invalid(
                "previous_response_id",
                "the stored conversation of `previous_response_id` is unreadable",
            )
        })?),
        None => None,
    };
    let stream = match get(&req, "stream") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid("stream", "`stream` must be a boolean"))?,
    };

    let messages = conversation(&req, prior.as_ref())?;
    let tools = tools(&req)?;
    let chat = ChatBody {
        model,
        messages,
        tool_choice: tool_choice(&req)?,
        parallel_tool_calls: match get(&req, "parallel_tool_calls") {
            Some(v) if !tools.is_empty() => Some(v.as_bool().ok_or_else(|| {
                invalid(
                    "parallel_tool_calls",
                    "`parallel_tool_calls` must be a boolean",
                )
            })?),
            _ => None,
        },
        tools,
        response_format: response_format(&req)?,
        reasoning_effort: reasoning_effort(&req)?,
        max_completion_tokens: match get(&req, "max_output_tokens") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                invalid(
                    "max_output_tokens",
                    "`max_output_tokens` must be an integer >= 1",
                )
            })?),
        },
        temperature: number(&req, "temperature")?,
        top_p: number(&req, "top_p")?,
        user: match get(&req, "user").or_else(|| get(&req, "safety_identifier")) {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| invalid("user", "`user` must be a string"))?,
            ),
        },
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    let body = to_body(&chat);
    let input_estimate = u32::try_from(body.len() / 4).unwrap_or(u32::MAX);
    Ok(ChatRequest {
        body,
        stream,
        input_estimate,
    })
}

/// The Chat messages: `instructions`, then the stored conversation, then
/// this request's `input`.
fn conversation<'a>(
    req: &'a Json<'a>,
    prior: Option<&'a Json<'a>>,
) -> Result<Vec<ChatMsg<'a>>, TranslateError> {
    let mut conv = Conversation::default();
    if let Some(i) = get(req, "instructions") {
        let text = i
            .as_str()
            .ok_or_else(|| invalid("instructions", "`instructions` must be a string"))?;
        if !text.is_empty() {
            conv.messages.push(ChatMsg::text("system", text));
        }
    }
    let prior_items = match prior {
        Some(p) => p.as_array().ok_or_else(|| {
            invalid(
                "previous_response_id",
                "the stored conversation of `previous_response_id` is unreadable",
            )
        })?,
        None => &[],
    };
    for (i, item) in prior_items.iter().enumerate() {
        conv.item(item, &format!("previous_response_id[{i}]"), prior_items)?;
    }
    match get(req, "input") {
        None => {}
        Some(Json::String(s)) => {
            conv.flush();
            conv.messages.push(ChatMsg::text("user", s));
        }
        Some(Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                conv.item(item, &format!("input[{i}]"), prior_items)?;
            }
        }
        Some(_) => return Err(invalid("input", "`input` must be a string or an array")),
    }
    conv.flush();
    if !conv
        .messages
        .iter()
        .any(|m| m.role != "system" && m.role != "developer")
    {
        return Err(invalid("input", "`input` must hold at least one message"));
    }
    Ok(conv.messages)
}

/// A Chat request field named in an error (by llmo's chat translators,
/// which read what [`to_chat`] wrote) as the Responses field it came from,
/// for the error a Responses client gets: `max_completion_tokens` ->
/// `max_output_tokens`, `reasoning_effort` -> `reasoning.effort`,
/// `response_format…` -> `text.format`, `messages…` -> `input`, `tools[…]…`
/// -> `tools` (Chat's indexes do not match the client's: instructions and
/// merged turns shift messages, namespaces tools); others unchanged.
pub(crate) fn responses_param(chat_param: &str) -> Cow<'_, str> {
    let mapped = match chat_param {
        "max_completion_tokens" | "max_tokens" => "max_output_tokens",
        "reasoning_effort" => "reasoning.effort",
        p if p.starts_with("response_format") => "text.format",
        p if p == "messages" || p.starts_with("messages[") || p.starts_with("messages.") => "input",
        p if p.starts_with("tools[") || p.starts_with("tools.") => "tools",
        p => return Cow::Borrowed(p),
    };
    Cow::Borrowed(mapped)
}

/// This request's `input` as a JSON array of items (a string input -> one
/// user message item), for the store (`previous_response_id` of a later
/// request).
pub(crate) fn input_items(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    #[derive(serde::Deserialize)]
    struct Input<'a> {
        #[serde(borrow, default)]
        input: Option<&'a RawValue>,
    }
    let parsed: Input<'_> = serde_json::from_slice(body)
        .map_err(|e| invalid("body", format!("the request body is not valid JSON: {e}")))?;
    let Some(raw) = parsed.input else {
        return Ok(b"[]".to_vec());
    };
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'[') => Ok(text.as_bytes().to_vec()),
        Some(b'"') => {
            let s: Cow<'_, str> = serde_json::from_str(text)
                .map_err(|_| invalid("input", "`input` must be a string or an array"))?;
            let item = serde_json::json!([{
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": s}],
            }]);
            Ok(serde_json::to_vec(&item).unwrap_or_default())
        }
        Some(b'n') => Ok(b"[]".to_vec()),
        _ => Err(invalid("input", "`input` must be a string or an array")),
    }
}

fn check_fields(obj: &[(Cow<'_, str>, Json<'_>)]) -> Result<(), TranslateError> {
    for (key, value) in obj {
        let k: &str = key;
        if value.is_null() || MAPPED.contains(&k) || DROPPED.contains(&k) {
            continue;
        }
        let neutral = match k {
            "background" => value.as_bool() == Some(false),
            "top_logprobs" => value.as_u64() == Some(0),
            _ => false,
        };
        if neutral {
            continue;
        }
        let msg = match k {
            "background" => "background responses are only available on an `openai` provider",
            "conversation" => "the Conversations API is only available on an `openai` provider; use `previous_response_id`",
            "prompt" => "prompt templates are only available on an `openai` provider",
            "top_logprobs" => "`top_logprobs` is not supported for this model",
            _ => return Err(unsupported(k, format!("unknown field `{k}` is not supported for this model"))),
        };
        return Err(unsupported(k, msg));
    }
    Ok(())
}

fn number(req: &Json<'_>, field: &str) -> Result<Option<f64>, TranslateError> {
    match get(req, field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(field, format!("`{field}` must be a number"))),
    }
}

/// The Chat Completions body, in OpenAI's field order.
#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<ChatMsg<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ChatTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct ChatMsg<'a> {
    role: &'static str,
    content: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ChatToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thinking_blocks: Vec<serde_json::Value>,
}

impl<'a> ChatMsg<'a> {
    fn text(role: &'static str, text: &'a str) -> Self {
        Self {
            role,
            content: Some(Content::Text(text)),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            thinking_blocks: Vec::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<ChatPart<'a>>),
}

impl<'a> Content<'a> {
    /// One text part -> a plain string (what every Chat server accepts).
    fn from_parts(mut parts: Vec<ChatPart<'a>>) -> Option<Self> {
        match parts.as_slice() {
            [] => None,
            [ChatPart::Text { .. }] => match parts.pop() {
                Some(ChatPart::Text { text }) => Some(Content::Text(text)),
                _ => None,
            },
            _ => Some(Content::Parts(parts)),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ChatPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct ChatToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatFunctionCall<'a>,
}

#[derive(Serialize)]
struct ChatFunctionCall<'a> {
    name: Cow<'a, str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ChatTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatFunction<'a>,
}

#[derive(Serialize)]
struct ChatFunction<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Raw<'a, 'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// The Chat messages being built, with the assistant turn still open:
/// consecutive output items (reasoning, message, function calls) of one
/// model turn become one assistant message.
#[derive(Default)]
struct Conversation<'a> {
    messages: Vec<ChatMsg<'a>>,
    open: Option<Assistant<'a>>,
}

#[derive(Default)]
struct Assistant<'a> {
    reasoning: Option<String>,
    thinking_blocks: Vec<serde_json::Value>,
    parts: Vec<ChatPart<'a>>,
    tool_calls: Vec<ChatToolCall<'a>>,
}

impl<'a> Conversation<'a> {
    /// Closes the open assistant turn; a turn holding only reasoning is
    /// dropped (Chat has no message for it).
    fn flush(&mut self) {
        let Some(a) = self.open.take() else {
            return;
        };
        if a.parts.is_empty() && a.tool_calls.is_empty() {
            return;
        }
        self.messages.push(ChatMsg {
            role: "assistant",
            content: Content::from_parts(a.parts),
            reasoning_content: a.reasoning,
            tool_calls: a.tool_calls,
            tool_call_id: None,
            thinking_blocks: a.thinking_blocks,
        });
    }

    fn assistant(&mut self) -> &mut Assistant<'a> {
        self.open.get_or_insert_with(Assistant::default)
    }

    /// One Responses item; `field` names it in errors; `prior` resolves
    /// `item_reference`s.
    fn item(
        &mut self,
        item: &'a Json<'a>,
        field: &str,
        prior: &'a [Json<'a>],
    ) -> Result<(), TranslateError> {
        if !item.is_object() {
            return Err(invalid(field, "each input item must be an object"));
        }
        // An item without `type` but with a `role` is a message (EasyInputMessage).
        let ty = match get_str(item, "type") {
            Some(t) => t,
            None if get(item, "role").is_some() => "message",
            None => {
                return Err(invalid(
                    format!("{field}.type"),
                    "an input item needs a `type`",
                ))
            }
        };
        match ty {
            "message" => self.message(item, field),
            "function_call" => {
                let call_id = get_str(item, "call_id").ok_or_else(|| {
                    invalid(
                        format!("{field}.call_id"),
                        "a `function_call` needs a `call_id`",
                    )
                })?;
                let name = get_str(item, "name").ok_or_else(|| {
                    invalid(format!("{field}.name"), "a `function_call` needs a `name`")
                })?;
                let arguments = get_str(item, "arguments").unwrap_or("{}");
                let a = self.assistant();
                a.tool_calls.push(ChatToolCall {
                    id: call_id,
                    kind: "function",
                    function: ChatFunctionCall {
                        name: flat_name(get_str(item, "namespace"), name),
                        arguments,
                    },
                });
                Ok(())
            }
            "function_call_output" => {
                self.flush();
                let call_id = get_str(item, "call_id").ok_or_else(|| {
                    invalid(
                        format!("{field}.call_id"),
                        "a `function_call_output` needs a `call_id`",
                    )
                })?;
                let content = tool_output(item.get("output").unwrap_or(&Json::Null), field)?;
                self.messages.push(ChatMsg {
                    role: "tool",
                    content: Some(content),
                    reasoning_content: None,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call_id),
                    thinking_blocks: Vec::new(),
                });
                Ok(())
            }
            "reasoning" => {
                let text = reasoning_text(item);
                let a = self.assistant();
                if !a.parts.is_empty() || !a.tool_calls.is_empty() {
                    self.flush();
                }
                let blocks = get_str(item, "encrypted_content").map(decrypt_thinking);
                self.assistant()
                    .thinking_blocks
                    .extend(blocks.unwrap_or_default());
                if !text.is_empty() {
                    let r = self.assistant().reasoning.get_or_insert_with(String::new);
                    if !r.is_empty() {
                        r.push_str("\n\n");
                    }
                    r.push_str(&text);
                } else {
                    self.assistant();
                }
                Ok(())
            }
            "item_reference" => {
                let id = get_str(item, "id").unwrap_or("");
                let found = prior
                    .iter()
                    .find(|p| !id.is_empty() && get_str(p, "id") == Some(id));
                match found {
                    Some(p) if get_str(p, "type") != Some("item_reference") => {
                        self.item(p, field, &[])
                    }
                    _ => Err(unsupported(
                        format!("{field}.id"),
                        format!("`item_reference` `{id}` is not an item of the `previous_response_id` conversation"),
                    )),
                }
            }
            "custom_tool_call" | "custom_tool_call_output" => Err(unsupported(
                format!("{field}.type"),
                format!("`{ty}` items need custom tools; {BUILT_IN}"),
            )),
            other => Err(unsupported(
                format!("{field}.type"),
                format!("input items of type `{other}` are only available on an `openai` provider"),
            )),
        }
    }

    fn message(&mut self, item: &'a Json<'a>, field: &str) -> Result<(), TranslateError> {
        let role = get_str(item, "role")
            .ok_or_else(|| invalid(format!("{field}.role"), "a message item needs a `role`"))?;
        let chat_role = match role {
            "user" => "user",
            "assistant" => "assistant",
            // Chat servers all know `system`; `developer` is OpenAI's newer name for it.
            "system" | "developer" => "system",
            other => {
                return Err(invalid(
                    format!("{field}.role"),
                    format!("unknown role `{other}`"),
                ))
            }
        };
        let cfield = format!("{field}.content");
        let parts = match item.get("content").unwrap_or(&Json::Null) {
            Json::String(s) => vec![ChatPart::Text { text: s }],
            Json::Array(a) => {
                let mut parts = Vec::with_capacity(a.len());
                for (j, p) in a.iter().enumerate() {
                    parts.push(content_part(p, chat_role, &format!("{cfield}[{j}]"))?);
                }
                parts
            }
            _ => return Err(invalid(cfield, "`content` must be a string or an array")),
        };
        if chat_role == "assistant" {
            let a = self.assistant();
            if !a.tool_calls.is_empty() {
                self.flush();
            }
            self.assistant().parts.extend(parts);
            return Ok(());
        }
        self.flush();
        if parts.is_empty() && chat_role == "user" {
            return Err(invalid(cfield, "a user message must not be empty"));
        }
        if let Some(content) = Content::from_parts(parts) {
            self.messages.push(ChatMsg {
                role: chat_role,
                content: Some(content),
                reasoning_content: None,
                tool_calls: Vec::new(),
                tool_call_id: None,
                thinking_blocks: Vec::new(),
            });
        }
        Ok(())
    }
}

/// One part of a message item's `content`.
fn content_part<'a>(
    p: &'a Json<'a>,
    role: &str,
    field: &str,
) -> Result<ChatPart<'a>, TranslateError> {
    let ty = get_str(p, "type").unwrap_or("");
    match ty {
        "input_text" | "output_text" | "text" | "refusal" => {
            let key = if ty == "refusal" { "refusal" } else { "text" };
            let text = get_str(p, key)
                .ok_or_else(|| invalid(format!("{field}.{key}"), "a text part needs a string"))?;
            Ok(ChatPart::Text { text })
        }
        "input_image" if role == "user" => {
            if get(p, "file_id").is_some() && get(p, "image_url").is_none() {
                return Err(unsupported(
                    format!("{field}.file_id"),
                    "images by `file_id` need the OpenAI Files API; send `image_url` (an https or data URL)",
                ));
            }
            let url = get_str(p, "image_url").ok_or_else(|| {
                invalid(
                    format!("{field}.image_url"),
                    "an `input_image` needs `image_url`",
                )
            })?;
            Ok(ChatPart::ImageUrl {
                image_url: ImageUrl {
                    url,
                    detail: get_str(p, "detail"),
                },
            })
        }
        "input_image" => Err(unsupported(
            format!("{field}.type"),
            format!("images are only supported in user messages, not in `{role}` messages"),
        )),
        "input_file" => Err(unsupported(
            format!("{field}.type"),
            "`input_file` (PDF and other files) is only available on an `openai` provider",
        )),
        other => Err(unsupported(
            format!("{field}.type"),
            format!("content parts of type `{other}` are not supported for this model"),
        )),
    }
}

/// A `function_call_output`'s `output`: a string, or text parts.
fn tool_output<'a>(output: &'a Json<'a>, field: &str) -> Result<Content<'a>, TranslateError> {
    match output {
        Json::String(s) => Ok(Content::Text(s)),
        Json::Array(a) => {
            let mut parts = Vec::with_capacity(a.len());
            for (j, p) in a.iter().enumerate() {
                let pf = format!("{field}.output[{j}]");
                match get_str(p, "type") {
                    Some("input_text" | "output_text" | "text") => {
                        let text = get_str(p, "text").ok_or_else(|| {
                            invalid(format!("{pf}.text"), "a text part needs a string")
                        })?;
                        parts.push(ChatPart::Text { text });
                    }
                    _ => {
                        return Err(unsupported(
                            format!("{pf}.type"),
                            "a tool output can only hold text for this model",
                        ))
                    }
                }
            }
            Ok(Content::from_parts(parts).unwrap_or(Content::Text("")))
        }
        _ => Err(invalid(
            format!("{field}.output"),
            "`output` must be a string or an array",
        )),
    }
}

/// The text of a reasoning item: its `content` reasoning text when sent,
/// else its summaries, joined by blank lines. `encrypted_content` cannot be
/// read by another provider and is dropped.
fn reasoning_text(item: &Json<'_>) -> String {
    let pick = |key: &str, ty: &str| -> Vec<String> {
        item.get(key)
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .filter(|p| get_str(p, "type") == Some(ty))
            .filter_map(|p| get_str(p, "text"))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let content = pick("content", "reasoning_text");
    if !content.is_empty() {
        return content.join("\n\n");
    }
    pick("summary", "summary_text").join("\n\n")
}

fn tools<'a>(req: &'a Json<'a>) -> Result<Vec<ChatTool<'a>>, TranslateError> {
    let Some(list) = get(req, "tools") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| invalid("tools", "`tools` must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let field = format!("tools[{i}]");
        match get_str(t, "type") {
            Some("function") => out.push(function_tool(t, None, None, &field)?),
            Some("namespace") => {
                let ns = get_str(t, "name").ok_or_else(|| {
                    invalid(format!("{field}.name"), "a `namespace` tool needs a `name`")
                })?;
                let children = t.get("tools").and_then(Json::as_array).unwrap_or(&[]);
                for (j, c) in children.iter().enumerate() {
                    let cf = format!("{field}.tools[{j}]");
                    if get_str(c, "type") != Some("function") {
                        return Err(unsupported(
                            format!("{cf}.type"),
                            "only function tools can be translated inside a `namespace`",
                        ));
                    }
                    out.push(function_tool(c, Some(ns), get_str(t, "description"), &cf)?);
                }
            }
            // Web search runs at OpenAI and is optional by nature: without
            // it the model answers from what it knows. Codex offers it on
            // every request, so a translated provider drops it rather than
            // refusing every Codex turn (forcing it by `tool_choice` is
            // still a 400).
            Some(ws) if WEB_SEARCH.contains(&ws) => {}
            Some(other) => {
                return Err(unsupported(
                    format!("{field}.type"),
                    format!("built-in tool `{other}` cannot be translated: {BUILT_IN} (remove it from `tools`)"),
                ))
            }
            None => return Err(invalid(format!("{field}.type"), "a tool needs a `type`")),
        }
    }
    Ok(out)
}

/// A function tool; one of a namespace gets the flat name and the
/// namespace's description before its own.
fn function_tool<'a>(
    t: &'a Json<'a>,
    namespace: Option<&str>,
    namespace_description: Option<&str>,
    field: &str,
) -> Result<ChatTool<'a>, TranslateError> {
    let name = get_str(t, "name")
        .ok_or_else(|| invalid(format!("{field}.name"), "a function tool needs a `name`"))?;
    let description = match (
        namespace_description.filter(|d| !d.is_empty()),
        get_str(t, "description"),
    ) {
        (Some(ns), Some(d)) => Some(Cow::Owned(format!("{ns}\n\n{d}"))),
        (Some(ns), None) => Some(Cow::Owned(ns.to_owned())),
        (None, d) => d.map(Cow::Borrowed),
    };
    Ok(ChatTool {
        kind: "function",
        function: ChatFunction {
            name: flat_name(namespace, name),
            description,
            parameters: get(t, "parameters").map(Raw),
            strict: get(t, "strict").and_then(Json::as_bool),
        },
    })
}

fn tool_choice(req: &Json<'_>) -> Result<Option<serde_json::Value>, TranslateError> {
    let Some(tc) = get(req, "tool_choice") else {
        return Ok(None);
    };
    if let Some(s) = tc.as_str() {
        return match s {
            "auto" | "none" | "required" => Ok(Some(serde_json::Value::from(s))),
            other => Err(invalid(
                "tool_choice",
                format!("unknown `tool_choice` `{other}`"),
            )),
        };
    }
    match get_str(tc, "type") {
        Some("function") => {
            let name = get_str(tc, "name").ok_or_else(|| {
                invalid(
                    "tool_choice.name",
                    "a function `tool_choice` needs a `name`",
                )
            })?;
            Ok(Some(serde_json::json!({
                "type": "function",
                "function": {"name": name},
            })))
        }
        Some(other) => Err(unsupported(
            "tool_choice.type",
            format!("`tool_choice` of type `{other}` cannot be translated: {BUILT_IN}"),
        )),
        None => Err(invalid("tool_choice", "`tool_choice` needs a `type`")),
    }
}

fn response_format(req: &Json<'_>) -> Result<Option<serde_json::Value>, TranslateError> {
    let Some(format) = get(req, "text").and_then(|t| get(t, "format")) else {
        return Ok(None);
    };
    match get_str(format, "type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({"type": "json_object"}))),
        Some("json_schema") => {
            let name = get_str(format, "name").unwrap_or("response");
            let schema = get(format, "schema").ok_or_else(|| {
                invalid(
                    "text.format.schema",
                    "a `json_schema` format needs a `schema`",
                )
            })?;
            let mut js = serde_json::Map::new();
            js.insert("name".into(), name.into());
            if let Some(d) = get_str(format, "description") {
                js.insert("description".into(), d.into());
            }
            js.insert("schema".into(), schema.to_value());
            if let Some(s) = get(format, "strict").and_then(Json::as_bool) {
                js.insert("strict".into(), s.into());
            }
            Ok(Some(
                serde_json::json!({"type": "json_schema", "json_schema": js}),
            ))
        }
        _ => Err(invalid(
            "text.format.type",
            "`text.format.type` must be text, json_object or json_schema",
        )),
    }
}

/// `reasoning.effort` as Chat's `reasoning_effort`: `xhigh` (newer OpenAI
/// models) becomes `high`, the most llmo's translators and most
/// OpenAI-compatible servers know.
fn reasoning_effort<'a>(req: &'a Json<'a>) -> Result<Option<&'a str>, TranslateError> {
    let Some(r) = get(req, "reasoning") else {
        return Ok(None);
    };
    match get(r, "effort").map(Json::as_str) {
        None => Ok(None),
        Some(Some(e @ ("none" | "minimal" | "low" | "medium" | "high"))) => Ok(Some(e)),
        Some(Some("xhigh")) => Ok(Some("high")),
        Some(_) => Err(invalid(
            "reasoning.effort",
            "`reasoning.effort` must be one of none, minimal, low, medium, high, xhigh",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::translate::test_support::{fixture_json, golden_json};

    /// Translates `body`, checks llmo's own Chat parser accepts the result
    /// (the gateway parses it again), and returns it as JSON.
    fn chat(body: &Value, prior: Option<&Value>) -> Value {
        let prior = prior.map(|p| serde_json::to_vec(p).unwrap());
        let c = to_chat(&serde_json::to_vec(body).unwrap(), prior.as_deref()).unwrap();
        let parsed = Json::parse(&c.body).unwrap();
        crate::translate::openai::parse_chat(&parsed).unwrap();
        let v: Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(c.stream, v["stream"] == true);
        assert!(c.input_estimate > 0);
        v
    }

    fn err(body: &Value) -> TranslateError {
        match to_chat(&serde_json::to_vec(body).unwrap(), None) {
            Err(e) => e,
            Ok(_) => panic!("{body} should fail"),
        }
    }

    fn codex() -> Value {
        fixture_json(include_str!(
            "../../../tests/fixtures/openai/codex_responses_request_recorded.json"
        ))["body"]
            .clone()
    }

    #[test]
    fn codex_default_web_search_tool_is_dropped_other_built_ins_refused() {
        // Codex offers `web_search` on every turn: the translated request
        // goes without it (the model answers from what it knows).
        let chat = to_chat(&serde_json::to_vec(&codex()).unwrap(), None).unwrap();
        let chat: Value = serde_json::from_slice(&chat.body).unwrap();
        let names: Vec<&str> = chat["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| !n.contains("web_search")),
            "{names:?}"
        );
        let mut body = codex();
        body["tools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "code_interpreter", "container": {"type": "auto"}}));
        let e = err(&body);
        assert_eq!(e.status(), 400);
        assert_eq!(e.param(), "tools[9].type");
        assert!(
            e.to_string().contains("built-in tool `code_interpreter`"),
            "{e}"
        );
        assert!(e.to_string().contains("only an `openai` provider"), "{e}");
    }

    /// The Codex recording without `web_search` (Codex: `web_search =
    /// "disabled"`), on its second turn: Codex sends the reasoning item,
    /// the function call and its output back after the first turn's input.
    #[test]
    fn golden_codex_second_turn() {
        let mut body = codex();
        body["tools"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["type"] != "web_search");
        body["input"].as_array_mut().unwrap().extend([
            json!({"type": "reasoning", "id": "rs_01", "summary": [
                {"type": "summary_text", "text": "**Listing files**"},
                {"type": "summary_text", "text": "I will run ls."}
            ], "content": null, "encrypted_content": "gAAAAABo-opaque"}),
            json!({"type": "function_call", "id": "fc_01", "name": "exec_command",
                   "arguments": "{\"cmd\":\"ls\"}", "call_id": "call_ls"}),
            json!({"type": "function_call", "name": "spawn_agent", "namespace": "multi_agent_v1",
                   "arguments": "{}", "call_id": "call_spawn"}),
            json!({"type": "function_call_output", "call_id": "call_ls",
                   "output": "Cargo.toml\nsrc\n"}),
            json!({"type": "function_call_output", "call_id": "call_spawn",
                   "output": [{"type": "input_text", "text": "agent 7"}]}),
        ]);
        let got = chat(&body, None);
        golden_json!("responses/request_codex_second_turn.json", &got);
        let msgs = got["messages"].as_array().unwrap();
        assert_eq!(
            msgs[4]["reasoning_content"],
            "**Listing files**\n\nI will run ls."
        );
        assert_eq!(
            msgs[4]["tool_calls"][1]["function"]["name"],
            "multi_agent_v1__spawn_agent"
        );
        assert!(got["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["function"]["name"] == "multi_agent_v1__close_agent"
                && t["function"]["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("Tools for spawning and managing sub-agents.\n\n")));
        assert_eq!(got["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn golden_function_tools_request() {
        let body = fixture_json(include_str!(
            "../../../tests/fixtures/openai/responses_request_function_tools_docs.json"
        ));
        let got = chat(&body, None);
        golden_json!("responses/request_function_tools.json", &got);
        assert_eq!(
            got["messages"][0],
            json!({"role": "system", "content": "You are a weather bot."})
        );
        assert_eq!(got["max_completion_tokens"], 1024);
        assert_eq!(got["reasoning_effort"], "low");
        assert_eq!(
            got["response_format"]["json_schema"]["name"],
            "weather_report"
        );
        assert_eq!(got["user"], "user-1234");
        for dropped in [
            "store",
            "metadata",
            "instructions",
            "input",
            "text",
            "reasoning",
        ] {
            assert!(got.get(dropped).is_none(), "{dropped}");
        }
    }

    #[test]
    fn string_input_images_and_tool_choice() {
        let got = chat(&json!({"model": "m", "input": "hi", "stream": false}), None);
        assert_eq!(got["messages"], json!([{"role": "user", "content": "hi"}]));
        assert!(got.get("stream").is_none() && got.get("stream_options").is_none());

        let got = chat(
            &json!({"model": "m", "input": [{"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}
            ]}], "tools": [{"type": "function", "name": "f", "parameters": null}],
            "tool_choice": {"type": "function", "name": "f"}}),
            None,
        );
        assert_eq!(
            got["messages"][0]["content"][1],
            json!({"type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}})
        );
        assert_eq!(
            got["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(
            got["tools"][0],
            json!({"type": "function", "function": {"name": "f"}})
        );
    }

    #[test]
    fn assistant_text_and_calls_of_one_turn_are_one_message() {
        let got = chat(
            &json!({"model": "m", "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
                {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{\"x\":1}"},
                {"type": "function_call_output", "call_id": "c1", "output": "1"},
                {"type": "function_call_output", "call_id": "c2", "output": "2"},
                {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                {"type": "message", "role": "developer", "content": "be brief"},
                {"role": "user", "content": "again"}
            ]}),
            None,
        );
        let msgs = got["messages"].as_array().unwrap();
        let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(
            roles,
            [
                "user",
                "assistant",
                "tool",
                "tool",
                "assistant",
                "system",
                "user"
            ]
        );
        assert_eq!(msgs[1]["content"], "Let me check.");
        assert!(
            msgs[1].get("reasoning_content").is_none(),
            "empty reasoning is dropped"
        );
        assert_eq!(msgs[1]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(msgs[1]["tool_calls"][1]["id"], "c2");
        assert_eq!(msgs[3]["tool_call_id"], "c2");
        assert_eq!(msgs[4]["content"], "No.");
    }

    /// Each row: a request the translation cannot honour, and the field its
    /// 400 names.
    #[test]
    fn what_cannot_be_translated_is_a_400_naming_the_field() {
        let user =
            |content: Value| json!({"model": "m", "input": [{"role": "user", "content": content}]});
        let cases = [
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "custom", "name": "apply_patch"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "custom", "name": "c"}]}]}),
                "tools[0].tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "tool_choice": {"type": "web_search_preview"}}),
                "tool_choice.type",
            ),
            (
                user(json!([{"type": "input_file", "file_id": "file-1"}])),
                "input[0].content[0].type",
            ),
            (
                user(json!([{"type": "input_image", "file_id": "file-1"}])),
                "input[0].content[0].file_id",
            ),
            (
                user(json!([{"type": "input_audio", "input_audio": {}}])),
                "input[0].content[0].type",
            ),
            (user(json!([])), "input[0].content"),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
                "input[0].id",
            ),
            (
                json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "custom_tool_call", "call_id": "c"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image", "image_url": "https://x"}]}]}),
                "input[0].output[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": "x", "conversation": "conv_1"}),
                "conversation",
            ),
            (
                json!({"model": "m", "input": "x", "frobnicate": 1}),
                "frobnicate",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}),
                "text.format.type",
            ),
            (json!({"model": "m"}), "input"),
            (
                json!({"model": "m", "input": "x", "reasoning": {"effort": "max"}}),
                "reasoning.effort",
            ),
            (json!({"input": "x"}), "model"),
        ];
        for (body, field) in cases {
            let e = err(&body);
            assert_eq!((e.status(), e.param()), (400, field), "{body}: {e}");
        }
    }

    #[test]
    fn neutral_values_and_platform_fields_are_accepted() {
        let got = chat(
            &json!({"model": "m", "input": "x", "background": false, "top_logprobs": 0,
                    "store": false, "include": ["reasoning.encrypted_content"], "truncation": "auto",
                    "service_tier": "auto", "prompt_cache_key": "k", "metadata": {"a": "b"},
                    "previous_response_id": "resp_1", "client_metadata": {}, "parallel_tool_calls": true,
                    "safety_identifier": "sid"}),
            None,
        );
        assert_eq!(got["user"], "sid");
        assert!(
            got.get("parallel_tool_calls").is_none(),
            "only sent with tools"
        );
    }

    #[test]
    fn input_items_of_string_array_and_absent_input() {
        let items = |b: Value| -> Value {
            serde_json::from_slice(&input_items(&serde_json::to_vec(&b).unwrap()).unwrap()).unwrap()
        };
        assert_eq!(
            items(json!({"input": "hi \"there\""})),
            json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi \"there\""}]}])
        );
        let list = json!([{"role": "user", "content": "a"}, {"type": "function_call_output", "call_id": "c", "output": "o"}]);
        assert_eq!(items(json!({"model": "m", "input": list.clone()})), list);
        assert_eq!(items(json!({"model": "m"})), json!([]));
        assert_eq!(input_items(b"{\"input\": 3}").unwrap_err().param(), "input");
    }

    /// Turn 1 asks, the model calls a tool; turn 2 sends only the tool
    /// output and `previous_response_id`. The stored conversation (turn 1's
    /// input items + its output items) comes first; the instructions are
    /// turn 2's own.
    #[test]
    fn second_turn_carries_the_stored_conversation() {
        use super::super::{from_chat, test_util::meta};
        let turn1 = json!({"model": "m", "instructions": "old", "input": "weather in Paris?",
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]});
        let turn1_body = serde_json::to_vec(&turn1).unwrap();
        let completion =
            include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call.json");
        let response: Value =
            serde_json::from_slice(&from_chat(completion, &meta(&turn1_body)).unwrap()).unwrap();
        let mut prior: Value = serde_json::from_slice(&input_items(&turn1_body).unwrap()).unwrap();
        let call_id = response["output"][0]["call_id"]
            .as_str()
            .unwrap()
            .to_owned();
        prior
            .as_array_mut()
            .unwrap()
            .extend(response["output"].as_array().unwrap().iter().cloned());

        let turn2 = json!({"model": "m", "instructions": "new", "previous_response_id": response["id"],
            "tools": turn1["tools"],
            "input": [{"type": "function_call_output", "call_id": call_id, "output": "18C"}]});
        let got = chat(&turn2, Some(&prior));
        assert_eq!(
            got["messages"],
            json!([
                {"role": "system", "content": "new"},
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": call_id, "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"San Francisco\",\"state\":\"CA\"}"}}]},
                {"role": "tool", "content": "18C", "tool_call_id": call_id}
            ])
        );

        // An item_reference is replaced by the stored item it names.
        let prior =
            json!([{"type": "message", "id": "msg_u1", "role": "user", "content": "first"}]);
        let turn3 = json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_u1"},
            {"role": "user", "content": "second"}]});
        let got = chat(&turn3, Some(&prior));
        let texts: Vec<&str> = got["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["first", "first", "second"]);
    }

    /// Mutated Responses requests and Chat completions: no panic, output
    /// bounded by a small multiple of the input.
    #[test]
    fn fuzzed_requests_and_completions() {
        use crate::translate::fuzz::{assert_bounded, fuzz};
        let codex = serde_json::to_vec(&codex()).unwrap();
        let requests: &[&[u8]] = &[
            include_bytes!("../../../tests/fixtures/openai/responses_request_function_tools_docs.json"),
            &codex,
            br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"o"}]}"#,
        ];
        fuzz("responses request", requests, |_, input| {
            if let Ok(c) = to_chat(input, Some(input)) {
                assert_bounded("responses::to_chat", 2 * input.len(), c.body.len(), 2, 4096);
            }
            if let Ok(items) = input_items(input) {
                assert_bounded("responses::input_items", input.len(), items.len(), 2, 4096);
            }
        });
        let completions: &[&[u8]] = &[
            include_bytes!("../../../tests/fixtures/openai/chat_completion.json"),
            include_bytes!(
                "../../../tests/fixtures/openai/chat_completion_tool_call_parallel.json"
            ),
        ];
        fuzz("responses from_chat", completions, |_, input| {
            let m = super::super::test_util::meta(b"{}");
            if let Ok(r) = super::super::from_chat(input, &m) {
                assert_bounded("responses::from_chat", input.len(), r.len(), 3, 4096);
            }
        });
    }

    /// Claude's signed thinking survives a Responses round trip: answer ->
    /// reasoning item (`encrypted_content`) -> next turn's input -> the
    /// assistant's `thinking_blocks` -> Anthropic `thinking` block.
    #[test]
    fn claude_thinking_blocks_round_trip_through_encrypted_content() {
        use super::super::{from_chat, test_util::meta};
        use crate::translate::{anthropic, ResponseMeta};
        let answer = anthropic::response(
            include_bytes!("../../../tests/fixtures/anthropic/thinking_response.json"),
            &ResponseMeta {
                public_model: "claude",
                fallback_id: "chatcmpl-1",
                created: 1,
            },
        )
        .unwrap();
        let signature = answer.choices[0].message.thinking_blocks[0]["signature"].clone();
        assert!(signature.is_string());
        let req = br#"{"model":"claude","input":"27 * 453?"}"#;
        let response: Value = serde_json::from_slice(
            &from_chat(&serde_json::to_vec(&answer).unwrap(), &meta(req)).unwrap(),
        )
        .unwrap();
        let reasoning = &response["output"][0];
        assert_eq!(reasoning["type"], "reasoning");
        assert!(reasoning["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("llmo.thinking_blocks.v1:"));

        let mut input = vec![json!({"role": "user", "content": "27 * 453?"})];
        input.extend(response["output"].as_array().unwrap().iter().cloned());
        input.push(json!({"role": "user", "content": "and 28 * 453?"}));
        let got = chat(
            &json!({"model": "claude", "input": input, "reasoning": {"effort": "low"}}),
            None,
        );
        assert_eq!(
            got["messages"][1]["thinking_blocks"][0]["signature"],
            signature
        );

        let body = serde_json::to_vec(&got).unwrap();
        let up =
            anthropic::request(&Json::parse(&body).unwrap(), "claude-sonnet-4-5", false).unwrap();
        let up: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(up["messages"][1]["content"][0]["type"], "thinking");
        assert_eq!(up["messages"][1]["content"][0]["signature"], signature);

        // OpenAI's own encrypted reasoning cannot be replayed elsewhere: dropped.
        let got = chat(
            &json!({"model": "m", "input": [
            {"role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAABopaque"},
            {"role": "assistant", "content": "a"}]}),
            None,
        );
        assert!(got["messages"][1].get("thinking_blocks").is_none());
    }

    /// Responses -> Chat -> Anthropic Messages / Gemini: the chat
    /// translators take what `to_chat` writes (the Codex turn with its tool
    /// loop included, tool-call ids paired).
    #[test]
    fn golden_responses_to_anthropic_and_gemini() {
        use crate::translate::{anthropic, gemini};
        let body = fixture_json(include_str!(
            "../../../tests/fixtures/openai/responses_request_function_tools_docs.json"
        ));
        let mut body = body;
        // Claude's limits: no forced JSON output with tools; with thinking
        // on, temperature stays 1 and the budget (1024 for `low`) stays under
        // the output limit.
        body.as_object_mut().unwrap().remove("text");
        body.as_object_mut().unwrap().remove("temperature");
        body["max_output_tokens"] = json!(4096);
        body["input"].as_array_mut().unwrap().extend([
            json!({"type": "function_call", "call_id": "call_w", "name": "get_current_weather",
                   "arguments": "{\"location\":\"Boston, MA\",\"unit\":\"celsius\"}"}),
            json!({"type": "function_call_output", "call_id": "call_w", "output": "{\"temp\":21}"}),
        ]);
        let c = chat(&body, None);
        let chat_body = serde_json::to_vec(&c).unwrap();
        let j = Json::parse(&chat_body).unwrap();
        let a: Value = serde_json::from_slice(
            &anthropic::request(&j, "claude-sonnet-4-5", true)
                .unwrap()
                .body,
        )
        .unwrap();
        golden_json!("responses/request_function_tools_anthropic.json", &a);
        assert_eq!(a["system"], "You are a weather bot.");
        assert_eq!(a["messages"][1]["content"][0]["id"], "call_w");
        assert_eq!(a["messages"][2]["content"][0]["tool_use_id"], "call_w");
        let g: Value =
            serde_json::from_slice(&gemini::request(&j, "gemini-2.5-flash", true).unwrap().body)
                .unwrap();
        golden_json!("responses/request_function_tools_gemini.json", &g);
        assert_eq!(
            g["contents"][2]["parts"][0]["functionResponse"]["name"],
            "get_current_weather"
        );

        let mut codex = codex();
        codex["tools"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["type"] != "web_search");
        codex["input"].as_array_mut().unwrap().extend([
            json!({"type": "function_call", "name": "spawn_agent", "namespace": "multi_agent_v1",
                   "arguments": "{}", "call_id": "call_spawn"}),
            json!({"type": "function_call_output", "call_id": "call_spawn", "output": "ok"}),
        ]);
        let chat_body = serde_json::to_vec(&chat(&codex, None)).unwrap();
        let j = Json::parse(&chat_body).unwrap();
        let a: Value = serde_json::from_slice(
            &anthropic::request(&j, "claude-sonnet-4-5", true)
                .unwrap()
                .body,
        )
        .unwrap();
        let last = a["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["content"][0]["tool_use_id"], "call_spawn");
        gemini::request(&j, "gemini-2.5-flash", true).unwrap();
    }

    #[test]
    fn chat_params_in_errors_are_named_as_the_client_sent_them() {
        for (chat, responses) in [
            ("max_completion_tokens", "max_output_tokens"),
            ("reasoning_effort", "reasoning.effort"),
            ("response_format.json_schema.schema", "text.format"),
            ("messages[3].content[0].image_url", "input"),
            ("tools[2].function.parameters", "tools"),
            ("temperature", "temperature"),
            ("n", "n"),
        ] {
            assert_eq!(responses_param(chat), responses, "{chat}");
        }
    }
}

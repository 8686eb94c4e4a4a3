//! Reading an OpenAI Chat Completions request into a checked,
//! provider-neutral form ([`ChatRequest`]).
//!
//! Field policy (which request fields are mapped, dropped or rejected) lives
//! here so that Anthropic and Gemini apply the same rules; vendor modules only
//! add their own restrictions (e.g. Anthropic has no `n`).
use std::borrow::Cow;

use serde_json::{Map, Value};

use super::json::Json;

use crate::translate::{invalid, unsupported, TranslateError};

/// A checked OpenAI chat request. Borrowed from the client's JSON.
#[derive(Debug, Default)]
pub(crate) struct ChatRequest<'a> {
    /// Text of every `system` / `developer` message, in order (one entry per
    /// text part).
    pub system: Vec<Text<'a>>,
    pub messages: Vec<Msg<'a>>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<&'a str>,
    pub n: Option<u64>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub tools: Vec<Tool<'a>>,
    pub tool_choice: Option<ToolChoice<'a>>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat<'a>>,
    pub user: Option<&'a str>,
    pub reasoning_effort: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
    Tool,
}

/// One non-system message. `index` is its position in the client's
/// `messages` array, used to name the field in errors.
#[derive(Debug)]
pub(crate) struct Msg<'a> {
    pub role: Role,
    pub index: usize,
    pub parts: Vec<Part<'a>>,
    pub tool_calls: Vec<ToolCallIn<'a>>,
    pub tool_call_id: Option<&'a str>,
    /// Assistant `thinking_blocks` (Anthropic thinking / redacted_thinking
    /// blocks with their signatures, as llmo returned them), verbatim.
    pub thinking_blocks: Vec<&'a Json<'a>>,
}

/// A text part, with the Anthropic prompt-caching marker some clients put on
/// it (`cache_control`, LiteLLM convention).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a> {
    pub text: &'a str,
    pub cache_control: Option<&'a Json<'a>>,
}

#[derive(Debug)]
pub(crate) enum Part<'a> {
    Text(Text<'a>),
    /// `param` is the JSON path of the URL, for error messages.
    Image {
        url: &'a str,
        param: String,
    },
}

#[derive(Debug)]
pub(crate) struct ToolCallIn<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// Parsed `function.arguments`; always a JSON object.
    pub arguments: Value,
    /// `extra_content.google.thought_signature` (Google's OpenAI-compatible
    /// extension), if the client kept it.
    pub thought_signature: Option<&'a str>,
}

#[derive(Debug)]
pub(crate) struct Tool<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub parameters: Option<&'a Json<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolChoice<'a> {
    Auto,
    None,
    Required,
    Named(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { schema: &'a Json<'a> },
}

/// Request fields llmo accepts and ignores, because they only affect OpenAI's
/// own platform (storage, billing tier, cache routing, GPT-5 verbosity).
const DROPPED_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
];

/// Fields the gateway itself consumes (routing, streaming switch).
const GATEWAY_FIELDS: &[&str] = &["model", "stream", "stream_options"];

const MAPPED_FIELDS: &[&str] = &[
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "user",
    "reasoning_effort",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "modalities",
];

/// An object's members.
type Obj<'a> = [(Cow<'a, str>, Json<'a>)];

/// `null`, for absent members.
static NULL: Json<'static> = Json::Null;

/// `field` when present and not `null`.
fn get<'a>(obj: &'a Obj<'a>, field: &str) -> Option<&'a Json<'a>> {
    member(obj, field).filter(|v| !v.is_null())
}

/// `field`, `null` or not (a repeated key: the last one counts).
fn member<'a>(obj: &'a Obj<'a>, field: &str) -> Option<&'a Json<'a>> {
    obj.iter().rev().find(|(k, _)| k == field).map(|(_, v)| v)
}

/// `field` of a JSON object value when it is itself an object.
fn get_obj<'a>(v: &'a Json<'a>, field: &str) -> Option<&'a Json<'a>> {
    v.get(field).filter(|c| c.is_object())
}

fn as_str<'a>(v: &'a Json<'a>, field: &str) -> Result<&'a str, TranslateError> {
    v.as_str()
        .ok_or_else(|| invalid(field, format!("`{field}` must be a string")))
}

fn as_u64(v: &Json<'_>, field: &str, min: u64) -> Result<u64, TranslateError> {
    match v.as_u64() {
        Some(n) if n >= min => Ok(n),
        _ => Err(invalid(
            field,
            format!("`{field}` must be an integer >= {min}"),
        )),
    }
}

fn as_f64_in(v: &Json<'_>, field: &str, lo: f64, hi: f64) -> Result<f64, TranslateError> {
    match v.as_f64() {
        Some(x) if (lo..=hi).contains(&x) => Ok(x),
        _ => Err(invalid(
            field,
            format!("`{field}` must be a number between {lo} and {hi}"),
        )),
    }
}

/// Every field is mapped, dropped or the gateway's own; anything else is
/// named in a 400 (never silently ignored).
fn check_field_names(obj: &Obj<'_>) -> Result<(), TranslateError> {
    for (key, value) in obj {
        let k: &str = key;
        if value.is_null()
            || MAPPED_FIELDS.contains(&k)
            || DROPPED_FIELDS.contains(&k)
            || GATEWAY_FIELDS.contains(&k)
        {
            continue;
        }
        let msg = match k {
            "functions" | "function_call" => {
                "legacy `functions`/`function_call` are not translated; use `tools` and `tool_choice`"
                    .to_string()
            }
            "audio" => "audio output is not supported for this model".to_string(),
            "prediction" => "predicted outputs are not supported for this model".to_string(),
            "web_search_options" => "web search is not supported for this model".to_string(),
            _ => format!("unknown field `{k}` is not supported for this model"),
        };
        return Err(unsupported(k, msg));
    }
    Ok(())
}

/// Fields llmo cannot honour, accepted only with their neutral value.
fn check_neutral_values(obj: &Obj<'_>) -> Result<(), TranslateError> {
    if let Some(v) = get(obj, "logprobs") {
        if v.as_bool() != Some(false) {
            return Err(unsupported(
                "logprobs",
                "`logprobs` is not supported for this model",
            ));
        }
    }
    if let Some(v) = get(obj, "top_logprobs") {
        if v.as_u64() != Some(0) {
            return Err(unsupported(
                "top_logprobs",
                "`top_logprobs` is not supported for this model",
            ));
        }
    }
    if let Some(v) = get(obj, "logit_bias") {
        if !v.as_object().is_some_and(<[_]>::is_empty) {
            return Err(unsupported(
                "logit_bias",
                "`logit_bias` is not supported for this model",
            ));
        }
    }
    if let Some(v) = get(obj, "modalities") {
        let text_only = v
            .as_array()
            .is_some_and(|a| a.iter().all(|m| m.as_str() == Some("text")));
        if !text_only {
            return Err(unsupported(
                "modalities",
                "only `[\"text\"]` output is supported for this model",
            ));
        }
    }
    Ok(())
}

/// Reads and checks an OpenAI Chat Completions request.
pub(crate) fn parse_chat<'a>(req: &'a Json<'a>) -> Result<ChatRequest<'a>, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    check_field_names(obj)?;

    let mut out = ChatRequest::default();

    check_neutral_values(obj)?;

    let mct = get(obj, "max_completion_tokens")
        .map(|v| as_u64(v, "max_completion_tokens", 1))
        .transpose()?;
    let mt = get(obj, "max_tokens")
        .map(|v| as_u64(v, "max_tokens", 1))
        .transpose()?;
    out.max_tokens = mct.or(mt);
    out.temperature = get(obj, "temperature")
        .map(|v| as_f64_in(v, "temperature", 0.0, 2.0))
        .transpose()?;
    out.top_p = get(obj, "top_p")
        .map(|v| as_f64_in(v, "top_p", 0.0, 1.0))
        .transpose()?;
    out.top_k = get(obj, "top_k")
        .map(|v| as_u64(v, "top_k", 1))
        .transpose()?;
    out.n = get(obj, "n").map(|v| as_u64(v, "n", 1)).transpose()?;
    out.seed = get(obj, "seed")
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| invalid("seed", "`seed` must be an integer"))
        })
        .transpose()?;
    out.presence_penalty = get(obj, "presence_penalty")
        .map(|v| as_f64_in(v, "presence_penalty", -2.0, 2.0))
        .transpose()?;
    out.frequency_penalty = get(obj, "frequency_penalty")
        .map(|v| as_f64_in(v, "frequency_penalty", -2.0, 2.0))
        .transpose()?;
    out.user = get(obj, "user").map(|v| as_str(v, "user")).transpose()?;
    if let Some(v) = get(obj, "reasoning_effort") {
        let e = as_str(v, "reasoning_effort")?;
        if !["none", "minimal", "low", "medium", "high"].contains(&e) {
            return Err(invalid(
                "reasoning_effort",
                "`reasoning_effort` must be one of none, minimal, low, medium, high",
            ));
        }
        out.reasoning_effort = Some(e);
    }
    out.parallel_tool_calls = get(obj, "parallel_tool_calls")
        .map(|v| {
            v.as_bool().ok_or_else(|| {
                invalid(
                    "parallel_tool_calls",
                    "`parallel_tool_calls` must be a boolean",
                )
            })
        })
        .transpose()?;
    if let Some(v) = get(obj, "stop") {
        out.stop = match v {
            Json::String(s) => vec![&**s],
            Json::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, s)| as_str(s, &format!("stop[{i}]")))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(invalid(
                    "stop",
                    "`stop` must be a string or an array of strings",
                ))
            }
        };
    }
    if let Some(v) = get(obj, "tools") {
        out.tools = parse_tools(v)?;
    }
    if let Some(v) = get(obj, "tool_choice") {
        out.tool_choice = Some(parse_tool_choice(v, &out.tools)?);
    }
    if let Some(v) = get(obj, "response_format") {
        out.response_format = Some(parse_response_format(v)?);
    }

    let messages = get(obj, "messages")
        .and_then(Json::as_array)
        .ok_or_else(|| invalid("messages", "`messages` must be a non-empty array"))?;
    out.messages.reserve_exact(messages.len());
    for (i, m) in messages.iter().enumerate() {
        parse_message(i, m, &mut out)?;
    }
    if out.messages.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` must contain at least one user, assistant or tool message",
        ));
    }
    Ok(out)
}

fn parse_tools<'a>(v: &'a Json<'a>) -> Result<Vec<Tool<'a>>, TranslateError> {
    let arr = v
        .as_array()
        .ok_or_else(|| invalid("tools", "`tools` must be an array"))?;
    let mut tools = Vec::with_capacity(arr.len());
    for (i, t) in arr.iter().enumerate() {
        let ty = t.get("type").and_then(Json::as_str).unwrap_or("function");
        if ty != "function" {
            return Err(unsupported(
                format!("tools[{i}].type"),
                format!(
                    "tool type `{ty}` is not supported for this model; only `function` tools are"
                ),
            ));
        }
        let f = t.get("function").and_then(Json::as_object).ok_or_else(|| {
            invalid(
                format!("tools[{i}].function"),
                "a function tool needs `function`",
            )
        })?;
        let name = get(f, "name")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                invalid(
                    format!("tools[{i}].function.name"),
                    "a function tool needs a `name`",
                )
            })?;
        let description = get(f, "description").and_then(Json::as_str);
        let parameters = match get(f, "parameters") {
            Some(p) if p.is_object() => Some(p),
            Some(_) => {
                return Err(invalid(
                    format!("tools[{i}].function.parameters"),
                    "`parameters` must be a JSON Schema object",
                ))
            }
            None => None,
        };
        tools.push(Tool {
            name,
            description,
            parameters,
        });
    }
    Ok(tools)
}

fn parse_tool_choice<'a>(
    v: &'a Json<'a>,
    tools: &[Tool<'_>],
) -> Result<ToolChoice<'a>, TranslateError> {
    let choice = match v {
        Json::String(s) => match &**s {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    "tool_choice",
                    format!("`tool_choice` `{other}` is not one of auto, none, required"),
                ))
            }
        },
        Json::Object(_) => {
            let ty = v.get("type").and_then(Json::as_str).unwrap_or("");
            if ty != "function" {
                return Err(unsupported(
                    "tool_choice.type",
                    format!("`tool_choice` type `{ty}` is not supported for this model"),
                ));
            }
            let name = v
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Json::as_str)
                .ok_or_else(|| {
                    invalid(
                        "tool_choice.function.name",
                        "a named `tool_choice` needs `function.name`",
                    )
                })?;
            ToolChoice::Named(name)
        }
        _ => {
            return Err(invalid(
                "tool_choice",
                "`tool_choice` must be a string or an object",
            ))
        }
    };
    match choice {
        ToolChoice::Required if tools.is_empty() => Err(invalid(
            "tool_choice",
            "`tool_choice` `required` needs at least one tool in `tools`",
        )),
        ToolChoice::Named(name) if !tools.iter().any(|t| t.name == name) => Err(invalid(
            "tool_choice.function.name",
            format!("`tool_choice` names `{name}`, which is not in `tools`"),
        )),
        c => Ok(c),
    }
}

fn parse_response_format<'a>(v: &'a Json<'a>) -> Result<ResponseFormat<'a>, TranslateError> {
    let ty = v
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("response_format.type", "`response_format` needs a `type`"))?;
    match ty {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let schema = v
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    invalid(
                        "response_format.json_schema.schema",
                        "`response_format` `json_schema` needs `json_schema.schema` (a JSON Schema object)",
                    )
                })?;
            Ok(ResponseFormat::JsonSchema { schema })
        }
        other => Err(unsupported(
            "response_format.type",
            format!("`response_format` type `{other}` is not supported for this model"),
        )),
    }
}

/// Text parts of a `content` that may only hold text (system, tool, assistant).
fn text_parts<'a>(
    content: &'a Json<'a>,
    message_cache: Option<&'a Json<'a>>,
    field: &str,
    out: &mut Vec<Text<'a>>,
) -> Result<(), TranslateError> {
    match content {
        Json::Null => Ok(()),
        Json::String(s) => {
            out.push(Text {
                text: s,
                cache_control: message_cache,
            });
            Ok(())
        }
        Json::Array(parts) => {
            for (j, p) in parts.iter().enumerate() {
                let ty = p.get("type").and_then(Json::as_str).unwrap_or("");
                match ty {
                    "text" | "refusal" => {
                        let key = if ty == "text" { "text" } else { "refusal" };
                        let t = p.get(key).and_then(Json::as_str).ok_or_else(|| {
                            invalid(format!("{field}[{j}].{key}"), "a text part needs a string")
                        })?;
                        out.push(Text {
                            text: t,
                            cache_control: get_obj(p, "cache_control"),
                        });
                    }
                    _ => {
                        return Err(unsupported(
                            format!("{field}[{j}].type"),
                            format!("content part type `{ty}` is not allowed here; only text"),
                        ))
                    }
                }
            }
            Ok(())
        }
        _ => Err(invalid(
            field,
            "`content` must be a string or an array of content parts",
        )),
    }
}

/// The parts of a user message: text and `image_url` parts.
fn user_parts<'a>(
    content: &'a Json<'a>,
    message_cache: Option<&'a Json<'a>>,
    cfield: &str,
) -> Result<Vec<Part<'a>>, TranslateError> {
    let mut parts = Vec::new();
    match content {
        Json::String(s) => {
            if !s.is_empty() {
                parts.push(Part::Text(Text {
                    text: s,
                    cache_control: message_cache,
                }));
            }
        }
        Json::Array(items) => {
            for (j, p) in items.iter().enumerate() {
                let ty = p.get("type").and_then(Json::as_str).unwrap_or("");
                match ty {
                    "text" => {
                        let t = p.get("text").and_then(Json::as_str).ok_or_else(|| {
                            invalid(
                                format!("{cfield}[{j}].text"),
                                "a text part needs a string `text`",
                            )
                        })?;
                        if !t.is_empty() {
                            parts.push(Part::Text(Text {
                                text: t,
                                cache_control: get_obj(p, "cache_control"),
                            }));
                        }
                    }
                    "image_url" => {
                        let param = format!("{cfield}[{j}].image_url.url");
                        let url = p
                            .get("image_url")
                            .and_then(|u| u.get("url"))
                            .and_then(Json::as_str)
                            .ok_or_else(|| {
                                invalid(param.clone(), "an image part needs `image_url.url`")
                            })?;
                        parts.push(Part::Image { url, param });
                    }
                    other => {
                        return Err(unsupported(
                            format!("{cfield}[{j}].type"),
                            format!("content part type `{other}` is not supported for this model"),
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(invalid(
                cfield,
                "`content` must be a string or an array of content parts",
            ))
        }
    }
    Ok(parts)
}

/// An assistant message's `thinking_blocks` (signed Anthropic blocks the
/// client sends back), checked for their type and kept verbatim.
fn thinking_blocks<'a>(i: usize, obj: &'a Obj<'a>) -> Result<Vec<&'a Json<'a>>, TranslateError> {
    let mut thinking_blocks = Vec::new();
    if let Some(tb) = get(obj, "thinking_blocks") {
        let arr = tb.as_array().ok_or_else(|| {
            invalid(
                format!("messages[{i}].thinking_blocks"),
                "`thinking_blocks` must be an array",
            )
        })?;
        for (j, b) in arr.iter().enumerate() {
            let ty = b.get("type").and_then(Json::as_str).unwrap_or("");
            if !matches!(ty, "thinking" | "redacted_thinking") {
                return Err(invalid(
                    format!("messages[{i}].thinking_blocks[{j}].type"),
                    "a thinking block has type `thinking` or `redacted_thinking`",
                ));
            }
            thinking_blocks.push(b);
        }
    }
    Ok(thinking_blocks)
}

fn parse_message<'a>(
    i: usize,
    m: &'a Json<'a>,
    out: &mut ChatRequest<'a>,
) -> Result<(), TranslateError> {
    let obj = m
        .as_object()
        .ok_or_else(|| invalid(format!("messages[{i}]"), "each message must be an object"))?;
    let role = get(obj, "role")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("messages[{i}].role"), "each message needs a `role`"))?;
    let content = member(obj, "content").unwrap_or(&NULL);
    let cfield = format!("messages[{i}].content");
    let message_cache = get(obj, "cache_control");
    match role {
        "system" | "developer" => {
            let mut texts = Vec::new();
            text_parts(content, message_cache, &cfield, &mut texts)?;
            out.system
                .extend(texts.into_iter().filter(|t| !t.text.is_empty()));
        }
        "user" => {
            let parts = user_parts(content, message_cache, &cfield)?;
            if parts.is_empty() {
                return Err(invalid(cfield, "a user message must not be empty"));
            }
            out.messages.push(Msg {
                role: Role::User,
                index: i,
                parts,
                tool_calls: Vec::new(),
                tool_call_id: None,
                thinking_blocks: Vec::new(),
            });
        }
        "assistant" => {
            if get(obj, "function_call").is_some() {
                return Err(unsupported(
                    format!("messages[{i}].function_call"),
                    "legacy `function_call` is not translated; use `tool_calls`",
                ));
            }
            let mut texts = Vec::new();
            text_parts(content, message_cache, &cfield, &mut texts)?;
            let parts = texts
                .into_iter()
                .filter(|t| !t.text.is_empty())
                .map(Part::Text)
                .collect();
            let mut tool_calls = Vec::new();
            if let Some(tc) = get(obj, "tool_calls") {
                let arr = tc.as_array().ok_or_else(|| {
                    invalid(
                        format!("messages[{i}].tool_calls"),
                        "`tool_calls` must be an array",
                    )
                })?;
                for (j, c) in arr.iter().enumerate() {
                    tool_calls.push(parse_tool_call(i, j, c)?);
                }
            }
            let thinking_blocks = thinking_blocks(i, obj)?;
            out.messages.push(Msg {
                role: Role::Assistant,
                index: i,
                parts,
                tool_calls,
                tool_call_id: None,
                thinking_blocks,
            });
        }
        "tool" => {
            let id = get(obj, "tool_call_id")
                .and_then(Json::as_str)
                .ok_or_else(|| {
                    invalid(
                        format!("messages[{i}].tool_call_id"),
                        "a tool message needs `tool_call_id`",
                    )
                })?;
            let mut texts = Vec::new();
            text_parts(content, message_cache, &cfield, &mut texts)?;
            out.messages.push(Msg {
                role: Role::Tool,
                index: i,
                parts: texts.into_iter().map(Part::Text).collect(),
                tool_calls: Vec::new(),
                tool_call_id: Some(id),
                thinking_blocks: Vec::new(),
            });
        }
        "function" => {
            return Err(unsupported(
                format!("messages[{i}].role"),
                "legacy `function` messages are not translated; use `tool` messages",
            ))
        }
        other => {
            return Err(invalid(
                format!("messages[{i}].role"),
                format!("unknown role `{other}`"),
            ))
        }
    }
    Ok(())
}

fn parse_tool_call<'a>(
    i: usize,
    j: usize,
    c: &'a Json<'a>,
) -> Result<ToolCallIn<'a>, TranslateError> {
    let base = format!("messages[{i}].tool_calls[{j}]");
    let id = c
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("{base}.id"), "a tool call needs an `id`"))?;
    let f = c
        .get("function")
        .ok_or_else(|| invalid(format!("{base}.function"), "a tool call needs `function`"))?;
    let name = f.get("name").and_then(Json::as_str).ok_or_else(|| {
        invalid(
            format!("{base}.function.name"),
            "a tool call needs `function.name`",
        )
    })?;
    let raw = f.get("arguments").and_then(Json::as_str).unwrap_or("");
    let arguments = if raw.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(invalid(
                    format!("{base}.function.arguments"),
                    "`arguments` must be a JSON object encoded as a string",
                ))
            }
        }
    };
    let thought_signature = c
        .pointer("/extra_content/google/thought_signature")
        .and_then(Json::as_str);
    Ok(ToolCallIn {
        id,
        name,
        arguments,
        thought_signature,
    })
}

/// Splits `data:<mime>;base64,<data>`. `None` if `url` is not a base64 data URL.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    if mime.is_empty() || data.is_empty() {
        return None;
    }
    Some((mime, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads a request given as a `Value`; only the outcome is kept.
    fn parse_chat(v: &Value) -> Result<(), TranslateError> {
        super::parse_chat(&Json::from(v)).map(|_| ())
    }

    #[test]
    fn unknown_and_unsupported_fields_are_named() {
        let err = parse_chat(&json!({"messages":[{"role":"user","content":"hi"}],"frobnicate":1}))
            .unwrap_err();
        assert_eq!(err.param(), "frobnicate");
        let err = parse_chat(&json!({"messages":[{"role":"user","content":"hi"}],"logprobs":true}))
            .unwrap_err();
        assert_eq!(err.param(), "logprobs");
        let err = parse_chat(&json!({"messages":[{"role":"user","content":"hi"}],"functions":[]}))
            .unwrap_err();
        assert_eq!(err.param(), "functions");
        let err =
            parse_chat(&json!({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}}))
                .unwrap_err();
        assert_eq!(err.param(), "logit_bias");
    }

    #[test]
    fn neutral_values_and_platform_fields_are_accepted() {
        let req = json!({
            "model":"x","messages":[{"role":"user","content":"hi"}],
            "logprobs":false,"logit_bias":{},"store":true,"metadata":{"a":"b"},
            "service_tier":"auto","modalities":["text"],"seed":null,"n":1
        });
        let j = Json::from(&req);
        let r = super::parse_chat(&j).unwrap();
        assert_eq!(r.n, Some(1));
        assert!(r.seed.is_none());
    }

    #[test]
    fn bad_arguments_and_missing_tool_call_id_are_named() {
        let err = parse_chat(&json!({"messages":[
            {"role":"user","content":"hi"},
            {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{not json"}}]}
        ]}))
        .unwrap_err();
        assert_eq!(err.param(), "messages[1].tool_calls[0].function.arguments");
        let err = parse_chat(&json!({"messages":[{"role":"tool","content":"x"}]})).unwrap_err();
        assert_eq!(err.param(), "messages[0].tool_call_id");
    }

    #[test]
    fn tool_choice_must_name_a_declared_tool() {
        let err = parse_chat(&json!({"messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"a"}}],
            "tool_choice":{"type":"function","function":{"name":"b"}}}))
        .unwrap_err();
        assert_eq!(err.param(), "tool_choice.function.name");
    }

    #[test]
    fn out_of_range_numbers_are_rejected() {
        for (field, v) in [
            ("temperature", json!(2.5)),
            ("top_p", json!(-0.1)),
            ("max_tokens", json!(0)),
        ] {
            let mut req = json!({"messages":[{"role":"user","content":"hi"}]});
            req[field] = v;
            assert_eq!(parse_chat(&req).unwrap_err().param(), field);
        }
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(parse_data_url("data:image/png,AAAA"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }
}

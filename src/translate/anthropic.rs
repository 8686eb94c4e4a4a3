//! OpenAI Chat Completions <-> Anthropic Messages (`POST /v1/messages`).
//!
//! Decisions are listed in the tables of [`crate::translate`]; this file
//! implements them: request building, response and stream translation, error
//! mapping.
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::openai::{
    self, ChatCompletion, ChatRequest, Choice, ChunkWriter, FinishReason, FunctionCall, Message,
    Part, PromptTokensDetails, ResponseFormat, Role, Text, ToolCall, ToolChoice, ToolStart, Usage,
};
use super::sse::{SseEvent, SseParser};
use super::{ErrorClass, MappedError, ResponseMeta, TranslateError, UpstreamCall};

pub const KIND: &str = "anthropic";
pub const API_VERSION: &str = "2023-06-01";
pub const MESSAGES_PATH: &str = "/v1/messages";
/// Name of the forced tool that implements `response_format: json_object`.
pub const JSON_OBJECT_TOOL: &str = "llmo_json_object";
/// Why `/v1/embeddings` cannot go to Anthropic.
pub const EMBEDDINGS_UNSUPPORTED: &str =
    "Anthropic has no embeddings API; route embedding models to an OpenAI-compatible or Gemini provider";

/// Headers for every Anthropic call (plus `content-type: application/json`).
pub fn headers(key: &str) -> [(&'static str, &str); 2] {
    [("x-api-key", key), ("anthropic-version", API_VERSION)]
}

/// The 400 the gateway returns for `/v1/embeddings` on an Anthropic model.
pub fn embeddings_unsupported() -> TranslateError {
    TranslateError::Unsupported {
        field: "model".into(),
        message: EMBEDDINGS_UNSUPPORTED.into(),
    }
}

/// `max_tokens` sent when the client gives none: the model's maximum output
/// (see the table in the module docs), 4096 for unknown models.
pub fn default_max_tokens(model: &str) -> u64 {
    let m = model.strip_prefix("anthropic/").unwrap_or(model);
    if m.starts_with("claude-3-5-") {
        8192
    } else if m.starts_with("claude-3-7-sonnet") {
        64000
    } else if m.starts_with("claude-opus-4-0")
        || m.starts_with("claude-opus-4-1")
        || m.starts_with("claude-opus-4-2025")
        || m == "claude-opus-4"
    {
        32000
    } else if m.starts_with("claude-opus-4")
        || m.starts_with("claude-sonnet-4")
        || m.starts_with("claude-haiku-4")
    {
        64000
    } else if claude_major_version(m).is_some_and(|v| v >= 5) {
        // Newer families (5.x) allow at least this much.
        64000
    } else {
        4096
    }
}

/// `5` for `claude-opus-5-5` or `claude-fable-5-1`; `None` for other names.
fn claude_major_version(model: &str) -> Option<u32> {
    let rest = model.strip_prefix("claude-")?;
    let mut parts = rest.split('-');
    let _family = parts.next()?;
    parts.next()?.parse().ok()
}

/// Thinking budget for an OpenAI `reasoning_effort`.
fn thinking_budget(effort: Option<&str>) -> Option<u64> {
    match effort? {
        "minimal" | "low" => Some(1024),
        "medium" => Some(4096),
        "high" => Some(16384),
        _ => None,
    }
}

fn unsupported(field: &str, message: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported {
        field: field.into(),
        message: message.into(),
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Builds the Anthropic Messages request for an OpenAI chat request.
pub fn request(
    openai_req: &Value,
    upstream_model: &str,
    stream: bool,
) -> Result<UpstreamCall, TranslateError> {
    let body = request_json(openai_req, upstream_model, stream)?;
    Ok(UpstreamCall {
        path: MESSAGES_PATH.to_string(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

fn request_json(
    openai_req: &Value,
    upstream_model: &str,
    stream: bool,
) -> Result<Value, TranslateError> {
    let r = openai::parse_chat(openai_req)?;
    if r.n.is_some_and(|n| n > 1) {
        return Err(unsupported(
            "n",
            "`n` > 1 is not supported by Anthropic models",
        ));
    }
    for (field, v) in [
        ("presence_penalty", r.presence_penalty),
        ("frequency_penalty", r.frequency_penalty),
    ] {
        if v.is_some_and(|x| x != 0.0) {
            return Err(unsupported(
                field,
                format!("`{field}` is not supported by Anthropic models"),
            ));
        }
    }
    let budget = thinking_budget(r.reasoning_effort);
    let max_field = if openai_req
        .get("max_completion_tokens")
        .is_some_and(|v| !v.is_null())
    {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };

    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));

    let max_tokens = match (r.max_tokens, budget) {
        (Some(m), Some(b)) if m <= b => {
            return Err(invalid(
                max_field,
                format!("`{max_field}` must be greater than the thinking budget ({b} tokens) that `reasoning_effort` selects"),
            ))
        }
        (Some(m), _) => m,
        (None, Some(b)) => default_max_tokens(upstream_model).max(b + 4096),
        (None, None) => default_max_tokens(upstream_model),
    };
    body.insert("max_tokens".into(), json!(max_tokens));

    if budget.is_some() {
        if r.temperature.is_some_and(|t| t != 1.0) {
            return Err(unsupported("temperature", "`temperature` cannot be changed together with `reasoning_effort` on Anthropic models"));
        }
        if r.top_k.is_some() {
            return Err(unsupported(
                "top_k",
                "`top_k` cannot be set together with `reasoning_effort` on Anthropic models",
            ));
        }
        if r.top_p.is_some_and(|p| p < 0.95) {
            return Err(unsupported(
                "top_p",
                "`top_p` must be >= 0.95 together with `reasoning_effort` on Anthropic models",
            ));
        }
        if matches!(
            r.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Named(_))
        ) {
            return Err(unsupported("tool_choice", "a forced `tool_choice` cannot be combined with `reasoning_effort` on Anthropic models"));
        }
    }

    match r.system.as_slice() {
        [] => {}
        [one] if one.cache_control.is_none() => {
            body.insert("system".into(), json!(one.text));
        }
        many => {
            let blocks: Vec<Value> = many.iter().map(text_block).collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }

    let messages = messages(&r)?;
    if let Some(b) = budget {
        // Anthropic rejects a thinking request whose last assistant turn used
        // a tool without its signed thinking block (the client did not send
        // `thinking_blocks` back): such a continuation is answered without
        // thinking instead of failing.
        if !continues_tool_loop_without_thinking(&messages) {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": b}),
            );
        }
    }
    body.insert("messages".into(), Value::Array(messages));

    if let Some(t) = r.temperature {
        body.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(p) = r.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = r.top_k {
        body.insert("top_k".into(), json!(k));
    }
    let stops: Vec<&str> = r
        .stop
        .iter()
        .copied()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(u) = r.user {
        body.insert("metadata".into(), json!({ "user_id": u }));
    }

    let mut tools: Vec<Value> = r
        .tools
        .iter()
        .map(|t| {
            let mut o = Map::new();
            o.insert("name".into(), json!(t.name));
            if let Some(d) = t.description {
                o.insert("description".into(), json!(d));
            }
            o.insert("input_schema".into(), input_schema(t.parameters));
            Value::Object(o)
        })
        .collect();
    let mut tool_choice = match r.tool_choice {
        _ if tools.is_empty() => None,
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n})),
    };
    if r.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let tc = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if tc["type"] != "none" {
            tc["disable_parallel_tool_use"] = json!(true);
        }
    }

    match r.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonSchema { schema }) => {
            body.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some(ResponseFormat::JsonObject) => {
            if !tools.is_empty() {
                return Err(unsupported(
                    "response_format",
                    "`response_format` `json_object` cannot be combined with `tools` on Anthropic models; use `json_schema`",
                ));
            }
            if budget.is_some() {
                return Err(unsupported(
                    "response_format",
                    "`response_format` `json_object` cannot be combined with `reasoning_effort` on Anthropic models; use `json_schema`",
                ));
            }
            tools.push(json!({
                "name": JSON_OBJECT_TOOL,
                "description": "Respond with a JSON object.",
                "input_schema": {"type": "object"}
            }));
            tool_choice = Some(json!({"type": "tool", "name": JSON_OBJECT_TOOL}));
        }
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = tool_choice {
        body.insert("tool_choice".into(), tc);
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

/// Anthropic requires `input_schema.type`: a missing or empty schema becomes
/// an object with no properties, a schema without `type` gets `"object"`.
fn input_schema(parameters: Option<&Value>) -> Value {
    match parameters {
        Some(Value::Object(p)) if !p.is_empty() => {
            let mut p = p.clone();
            p.entry("type").or_insert_with(|| json!("object"));
            Value::Object(p)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

/// A text block, with the client's `cache_control` breakpoint if it set one.
fn text_block(t: &Text<'_>) -> Value {
    match t.cache_control {
        Some(cc) => json!({"type": "text", "text": t.text, "cache_control": cc}),
        None => json!({"type": "text", "text": t.text}),
    }
}

fn image_block(url: &str, param: &str) -> Result<Value, TranslateError> {
    if let Some((mime, data)) = openai::parse_data_url(url) {
        if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&mime) {
            return Err(invalid(
                param,
                format!("image type `{mime}` is not supported by Anthropic models (jpeg, png, gif, webp)"),
            ));
        }
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(invalid(
        param,
        "an image URL must be a base64 `data:` URL or an http(s) URL",
    ))
}

/// A tool-call id as Anthropic accepts it (`^[a-zA-Z0-9_-]+$`). Ids from
/// other providers in a shared history (a Gemini id carrying a base64 thought
/// signature after [`super::gemini::THOUGHT_SEPARATOR`]) are cut at the
/// separator and have other characters replaced by `_`; the same mapping is
/// applied to `tool_use.id` and `tool_result.tool_use_id`, so pairs still match.
fn tool_id(id: &str) -> Cow<'_, str> {
    let id = id
        .split_once(super::gemini::THOUGHT_SEPARATOR)
        .map_or(id, |(base, _)| base);
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Cow::Borrowed(id)
    } else {
        let mut clean: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            clean.push_str("call");
        }
        Cow::Owned(clean)
    }
}

/// The last assistant turn calls a tool but does not start with a thinking block.
fn continues_tool_loop_without_thinking(messages: &[Value]) -> bool {
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return false;
    };
    let Some(blocks) = last["content"].as_array() else {
        return false;
    };
    let uses_tool = blocks.iter().any(|b| b["type"] == "tool_use");
    let starts_with_thinking = blocks
        .first()
        .is_some_and(|b| b["type"] == "thinking" || b["type"] == "redacted_thinking");
    uses_tool && !starts_with_thinking
}

fn messages(r: &ChatRequest<'_>) -> Result<Vec<Value>, TranslateError> {
    // (role, blocks); merged while building.
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &r.messages {
        let (role, blocks) = match m.role {
            Role::User => {
                let mut blocks = Vec::with_capacity(m.parts.len());
                for p in &m.parts {
                    blocks.push(match p {
                        Part::Text(t) => text_block(t),
                        Part::Image { url, param } => image_block(url, param)?,
                    });
                }
                ("user", blocks)
            }
            Role::Assistant => {
                let mut blocks: Vec<Value> =
                    m.thinking_blocks.iter().map(|b| (*b).clone()).collect();
                for p in &m.parts {
                    if let Part::Text(t) = p {
                        blocks.push(text_block(t));
                    }
                }
                for c in &m.tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": tool_id(c.id), "name": c.name, "input": c.arguments}));
                }
                if blocks.is_empty() {
                    continue;
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let mut block = Map::new();
                block.insert("type".into(), json!("tool_result"));
                block.insert(
                    "tool_use_id".into(),
                    json!(tool_id(m.tool_call_id.unwrap_or_default())),
                );
                let texts: Vec<&Text<'_>> = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t),
                        Part::Image { .. } => None,
                    })
                    .collect();
                match texts.as_slice() {
                    [] => {}
                    [one] => {
                        block.insert("content".into(), json!(one.text));
                    }
                    many => {
                        let parts: Vec<Value> = many
                            .iter()
                            .map(|t| json!({"type": "text", "text": t.text}))
                            .collect();
                        block.insert("content".into(), Value::Array(parts));
                    }
                }
                // A cache breakpoint on a tool message marks its tool_result.
                if let Some(cc) = texts.iter().rev().find_map(|t| t.cache_control) {
                    block.insert("cache_control".into(), cc.clone());
                }
                ("user", vec![Value::Object(block)])
            }
        };
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => {
                let is_result = |b: &Value| b["type"] == "tool_result";
                if blocks.iter().all(is_result) {
                    // tool_result blocks must lead the user turn.
                    let at = last_blocks.iter().take_while(|b| is_result(b)).count();
                    last_blocks.splice(at..at, blocks);
                } else {
                    last_blocks.extend(blocks);
                }
            }
            _ => turns.push((role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut blocks)| {
            let single_text = blocks.len() == 1
                && blocks[0]["type"] == "text"
                && blocks[0].get("cache_control").is_none();
            let content = if single_text {
                blocks[0]["text"].take()
            } else {
                Value::Array(blocks)
            };
            json!({"role": role, "content": content})
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireUsage {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    cache_read_input_tokens: Option<u32>,
    cache_creation_input_tokens: Option<u32>,
}

impl WireUsage {
    /// Later values (from `message_delta`) override earlier ones field by field.
    fn merge(&mut self, newer: WireUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }

    fn to_openai(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0)
            + cache_read
            + self.cache_creation_input_tokens.unwrap_or(0);
        let completion = self.output_tokens.unwrap_or(0);
        let has_cache =
            self.cache_read_input_tokens.is_some() || self.cache_creation_input_tokens.is_some();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: has_cache.then_some(PromptTokensDetails {
                cached_tokens: cache_read,
            }),
            completion_tokens_details: None,
        }
    }
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Vec<WireBlock<'a>>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    input: Option<Value>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
}

/// Anthropic `stop_reason` -> OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn, and anything new.
        _ => FinishReason::Stop,
    }
}

fn thinking_block(thinking: &str, signature: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": signature})
}

fn response_id(upstream: Option<&str>, fallback: &str) -> String {
    match upstream {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => fallback.to_string(),
    }
}

/// Translates a non-stream Messages response.
pub fn response(body: &[u8], meta: &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError> {
    let msg: WireMessage<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Anthropic returned a response llmo cannot read: {e}"),
        })?;
    let mut content: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut json_mode = false;
    for b in &msg.content {
        match b.ty.as_ref() {
            "text" => content
                .get_or_insert_with(String::new)
                .push_str(b.text.as_deref().unwrap_or("")),
            "thinking" => {
                let t = b.thinking.as_deref().unwrap_or("");
                reasoning.get_or_insert_with(String::new).push_str(t);
                thinking_blocks.push(thinking_block(t, b.signature.as_deref().unwrap_or("")));
            }
            "redacted_thinking" => {
                thinking_blocks.push(
                    json!({"type": "redacted_thinking", "data": b.data.as_deref().unwrap_or("")}),
                );
            }
            "tool_use" => {
                let name = b.name.as_deref().unwrap_or("");
                let args = b
                    .input
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), Value::to_string);
                if name == JSON_OBJECT_TOOL {
                    json_mode = true;
                    content.get_or_insert_with(String::new).push_str(&args);
                } else {
                    tool_calls.push(ToolCall {
                        id: b.id.as_deref().unwrap_or("").to_string(),
                        kind: "function",
                        function: FunctionCall {
                            name: name.to_string(),
                            arguments: args,
                        },
                        extra_content: None,
                    });
                }
            }
            // redacted_thinking, server tool blocks: nothing an OpenAI client can use.
            _ => {}
        }
    }
    let mut finish = finish_reason(msg.stop_reason.as_deref().unwrap_or("end_turn"));
    if json_mode && finish == FinishReason::ToolCalls {
        finish = FinishReason::Stop;
    }
    Ok(ChatCompletion {
        id: response_id(msg.id.as_deref(), meta.fallback_id),
        object: "chat.completion",
        created: meta.created,
        model: meta.public_model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                reasoning_content: reasoning,
                tool_calls,
                thinking_blocks,
            },
            finish_reason: Some(finish),
        }],
        usage: msg.usage.map(WireUsage::to_openai),
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireErrorEnvelope<'a> {
    #[serde(borrow)]
    error: WireError<'a>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

fn classify(ty: Option<&str>, message: &str, status: u16) -> ErrorClass {
    match ty {
        Some("invalid_request_error") if message.contains("prompt is too long") => {
            ErrorClass::ContextLength
        }
        Some("invalid_request_error") => ErrorClass::BadRequest,
        Some("authentication_error" | "permission_error") => ErrorClass::UpstreamAuth,
        Some("not_found_error") => ErrorClass::NotFound,
        Some("request_too_large") => ErrorClass::TooLarge,
        Some("rate_limit_error") => ErrorClass::RateLimited,
        Some("billing_error") => ErrorClass::Quota,
        Some("api_error") => ErrorClass::Server,
        Some("timeout_error") => ErrorClass::Timeout,
        Some("overloaded_error") => ErrorClass::Overloaded,
        _ => match status {
            400 => ErrorClass::BadRequest,
            401 | 403 => ErrorClass::UpstreamAuth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            413 => ErrorClass::TooLarge,
            429 => ErrorClass::RateLimited,
            500 => ErrorClass::Server,
            504 => ErrorClass::Timeout,
            529 | 503 => ErrorClass::Overloaded,
            s => ErrorClass::Other(s),
        },
    }
}

/// Maps a non-2xx Anthropic response to the client's error.
pub fn error(status: u16, body: &[u8]) -> MappedError {
    match serde_json::from_slice::<WireErrorEnvelope<'_>>(body) {
        Ok(env) => {
            let message = env.error.message.as_deref().unwrap_or("");
            classify(env.error.ty.as_deref(), message, status).map(message, status, None)
        }
        Err(_) => classify(None, "", status).map("", status, None),
    }
}

/// A mid-stream Anthropic `error` event, mapped as if it had been the
/// HTTP answer (a server error when its type is unknown).
fn stream_error(ty: Option<&str>, message: &str) -> MappedError {
    classify(ty, message, 500).map(message, 500, None)
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default)]
    index: usize,
    #[serde(borrow)]
    message: Option<WireStartMessage<'a>>,
    #[serde(borrow)]
    content_block: Option<WireBlock<'a>>,
    #[serde(borrow)]
    delta: Option<WireDelta<'a>>,
    usage: Option<WireUsage>,
    #[serde(borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
struct WireStartMessage<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

/// Most content blocks one message is tracked with.
const MAX_BLOCKS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(u32),
    JsonTool,
    Other,
}

/// Translates an Anthropic SSE body into OpenAI `chat.completion.chunk` SSE,
/// incrementally. See the stream rules in the module docs.
#[derive(Debug)]
pub struct StreamTranslator {
    sse: SseParser,
    events: Vec<SseEvent>,
    w: ChunkWriter,
    started: bool,
    blocks: Vec<Block>,
    tool_count: u32,
    finish_sent: bool,
    done: bool,
    usage: Option<WireUsage>,
    /// Text and signature of the thinking block being streamed.
    thinking: String,
    signature: String,
    error: Option<Value>,
    /// The vendor's own `error` event, mapped (see [`Self::vendor_error`]).
    vendor_error: Option<MappedError>,
}

impl StreamTranslator {
    /// `fallback_id` is used until (and unless) `message_start` gives an id.
    pub fn new(public_model: &str, include_usage: bool, fallback_id: &str, created: u64) -> Self {
        Self {
            sse: SseParser::new(),
            events: Vec::new(),
            w: ChunkWriter {
                id: fallback_id.to_string(),
                created,
                model: public_model.to_string(),
                include_usage,
            },
            started: false,
            blocks: Vec::new(),
            tool_count: 0,
            finish_sent: false,
            done: false,
            usage: None,
            thinking: String::new(),
            signature: String::new(),
            error: None,
            vendor_error: None,
        }
    }

    /// Feeds upstream bytes; returns OpenAI SSE bytes to send now (maybe empty).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.sse.feed(bytes, &mut self.events);
        self.drain(&mut out);
        out
    }

    /// The upstream body ended: returns the last bytes to send.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.sse.finish(&mut self.events);
        self.drain(&mut out);
        if !self.done {
            if self.finish_sent {
                self.end(&mut out);
            } else {
                self.fail(
                    &mut out,
                    &openai::error_body(
                        "the upstream stream ended before the response was complete",
                        "server_error",
                        None,
                        Some("upstream_stream_truncated"),
                    ),
                );
            }
        }
        out
    }

    /// Token usage seen so far (final after `finish`).
    pub fn usage(&self) -> Option<Usage> {
        self.usage.map(WireUsage::to_openai)
    }

    /// True once the stream has ended (normally or with an error event).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The OpenAI error body sent to the client, if the stream failed (for
    /// the request log: a failed stream still ends with `[DONE]`).
    pub fn error(&self) -> Option<&Value> {
        self.error.as_ref()
    }

    /// The error Anthropic itself reported in the stream (an `error` event,
    /// e.g. `overloaded_error` right after the 200), with its status and
    /// retry class: before anything reached the client the gateway treats
    /// it like the same error sent as an HTTP status (retry, fail over).
    pub fn vendor_error(&self) -> Option<&MappedError> {
        self.vendor_error.as_ref()
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.done {
                break;
            }
            self.handle(ev, out);
        }
        self.events = events;
        self.events.clear();
        // Anthropic sends only SSE fields; stray lines are dropped (memory
        // stays bounded) and a body without events ends as truncated.
        if self.sse.has_other() {
            drop(self.sse.take_other());
        }
        if self.sse.overflowed() && !self.done {
            self.fail(
                out,
                &openai::error_body(
                    "the upstream stream sent an oversized event",
                    "server_error",
                    None,
                    None,
                ),
            );
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.w.role(out, 0);
        }
    }

    fn fail(&mut self, out: &mut Vec<u8>, body: &Value) {
        ChunkWriter::error(out, body);
        self.error = Some(body.clone());
        self.done = true;
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if let Some(u) = self.usage {
            self.w.usage(out, &u.to_openai());
        }
        ChunkWriter::done(out);
        self.done = true;
    }

    fn handle(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let parsed: WireEvent<'_> = match serde_json::from_str(&ev.data) {
            Ok(p) => p,
            Err(_) => {
                self.fail(
                    out,
                    &openai::error_body(
                        "the upstream stream sent an unreadable event",
                        "server_error",
                        None,
                        None,
                    ),
                );
                return;
            }
        };
        match parsed.ty.as_ref() {
            "message_start" => {
                if let Some(m) = parsed.message {
                    if !self.started {
                        if let Some(id) = m.id.as_deref().filter(|s| !s.is_empty()) {
                            self.w.id = format!("chatcmpl-{id}");
                        }
                    }
                    if let Some(u) = m.usage {
                        self.usage.get_or_insert_with(WireUsage::default).merge(u);
                    }
                }
                self.ensure_started(out);
            }
            "content_block_start" => {
                self.ensure_started(out);
                let Some(b) = parsed.content_block else {
                    return;
                };
                let kind = match b.ty.as_ref() {
                    "text" => {
                        if let Some(t) = b.text.as_deref().filter(|t| !t.is_empty()) {
                            self.w.content(out, 0, t);
                        }
                        Block::Text
                    }
                    "thinking" => {
                        self.thinking.clear();
                        self.signature.clear();
                        if let Some(t) = b.thinking.as_deref().filter(|t| !t.is_empty()) {
                            self.w.reasoning(out, 0, t);
                            self.thinking.push_str(t);
                        }
                        Block::Thinking
                    }
                    "redacted_thinking" => {
                        let block = json!({"type": "redacted_thinking", "data": b.data.as_deref().unwrap_or("")});
                        self.w.thinking_block(out, 0, &block);
                        Block::Other
                    }
                    "tool_use" if b.name.as_deref() == Some(JSON_OBJECT_TOOL) => Block::JsonTool,
                    "tool_use" => {
                        let k = self.tool_count;
                        self.tool_count += 1;
                        self.w.tool_start(
                            out,
                            ToolStart {
                                choice: 0,
                                tool_index: k,
                                id: b.id.as_deref().unwrap_or(""),
                                name: b.name.as_deref().unwrap_or(""),
                                arguments: "",
                                extra_content: None,
                            },
                        );
                        Block::Tool(k)
                    }
                    _ => Block::Other,
                };
                // Block indexes count up from 0; a wild index must not make
                // the state grow (it is then treated as an unknown block).
                if parsed.index < MAX_BLOCKS {
                    if self.blocks.len() <= parsed.index {
                        self.blocks.resize(parsed.index + 1, Block::Other);
                    }
                    self.blocks[parsed.index] = kind;
                }
            }
            "content_block_delta" => {
                self.ensure_started(out);
                let Some(d) = parsed.delta else { return };
                let block = self
                    .blocks
                    .get(parsed.index)
                    .copied()
                    .unwrap_or(Block::Other);
                match d.ty.as_deref() {
                    Some("text_delta") => {
                        if let Some(t) = d.text.as_deref().filter(|t| !t.is_empty()) {
                            self.w.content(out, 0, t);
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = d.thinking.as_deref().filter(|t| !t.is_empty()) {
                            self.w.reasoning(out, 0, t);
                            if block == Block::Thinking {
                                self.thinking.push_str(t);
                            }
                        }
                    }
                    Some("signature_delta") if block == Block::Thinking => {
                        self.signature
                            .push_str(d.signature.as_deref().unwrap_or(""));
                    }
                    Some("input_json_delta") => {
                        let Some(p) = d.partial_json.as_deref().filter(|p| !p.is_empty()) else {
                            return;
                        };
                        match block {
                            Block::Tool(k) => self.w.tool_args(out, 0, k, p),
                            Block::JsonTool => self.w.content(out, 0, p),
                            _ => {}
                        }
                    }
                    // citations_delta, future deltas.
                    _ => {}
                }
            }
            "message_delta" => {
                self.ensure_started(out);
                if let Some(u) = parsed.usage {
                    self.usage.get_or_insert_with(WireUsage::default).merge(u);
                }
                if let Some(reason) = parsed.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    if !self.finish_sent {
                        let mut f = finish_reason(reason);
                        if f == FinishReason::ToolCalls && self.blocks.contains(&Block::JsonTool) {
                            f = FinishReason::Stop;
                        }
                        self.w.finish(out, 0, f);
                        self.finish_sent = true;
                    }
                }
            }
            "content_block_stop" if self.blocks.get(parsed.index) == Some(&Block::Thinking) => {
                let block = thinking_block(&self.thinking, &self.signature);
                self.w.thinking_block(out, 0, &block);
                self.thinking.clear();
                self.signature.clear();
            }
            "message_stop" => {
                self.ensure_started(out);
                if !self.finish_sent {
                    self.w.finish(out, 0, FinishReason::Stop);
                    self.finish_sent = true;
                }
                self.end(out);
            }
            "error" => {
                let (ty, msg) = parsed
                    .error
                    .as_ref()
                    .map(|e| (e.ty.as_deref(), e.message.as_deref().unwrap_or("")))
                    .unwrap_or((None, ""));
                let mapped = stream_error(ty, msg);
                self.fail(out, &mapped.body);
                self.vendor_error = Some(mapped);
            }
            // ping, unknown events.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const META: ResponseMeta<'static> = ResponseMeta {
        public_model: "claude-public",
        fallback_id: "chatcmpl-llmo-fallback",
        created: 1_700_000_000,
    };

    fn req_json(openai: &Value, model: &str, stream: bool) -> Value {
        let call = request(openai, model, stream).unwrap();
        assert_eq!(call.path, "/v1/messages");
        serde_json::from_slice(&call.body).unwrap()
    }

    fn translate_stream(chunks: &[&[u8]], include_usage: bool) -> Vec<u8> {
        let mut t = StreamTranslator::new(
            "claude-public",
            include_usage,
            "chatcmpl-llmo-fallback",
            1_700_000_000,
        );
        let mut out = Vec::new();
        for c in chunks {
            out.extend(t.feed(c));
        }
        out.extend(t.finish());
        out
    }

    // ----- requests: golden -----

    #[test]
    fn golden_request_system_stop_temperature() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_system.json"
        ));
        let got = req_json(&openai, "claude-haiku-4-5", false);
        check_golden("anthropic/request_system.json", &got);
    }

    #[test]
    fn golden_request_developer_role_and_default_max_tokens() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_simple.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", true);
        check_golden("anthropic/request_simple_stream.json", &got);
        assert_eq!(got["max_tokens"], 64000);
        assert_eq!(got["system"], "You are a helpful assistant.");
    }

    #[test]
    fn golden_request_tools_and_tool_result_round_trip() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_tool_result.json"
        ));
        let got = req_json(&openai, "claude-haiku-4-5", false);
        check_golden("anthropic/request_tool_result.json", &got);
        // The tool_use id the client got back is the tool_result's tool_use_id.
        assert_eq!(
            got["messages"][1]["content"][0]["id"],
            "call_CUdUoJpsWWVdxXntucvnol1M"
        );
        assert_eq!(
            got["messages"][2]["content"][0]["tool_use_id"],
            "call_CUdUoJpsWWVdxXntucvnol1M"
        );
    }

    #[test]
    fn golden_request_tools_auto() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        check_golden("anthropic/request_tools.json", &got);
    }

    #[test]
    fn golden_request_images_data_and_url() {
        let b64 = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_image_base64.json"
        ));
        check_golden(
            "anthropic/request_image_base64.json",
            &req_json(&b64, "claude-sonnet-4-5", false),
        );
        let url = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_image.json"
        ));
        let got = req_json(&url, "claude-sonnet-4-5", false);
        assert_eq!(got["messages"][0]["content"][1]["source"]["type"], "url");
        assert_eq!(got["max_tokens"], 300);
    }

    #[test]
    fn golden_request_json_schema_uses_native_structured_outputs() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_json_schema.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        check_golden("anthropic/request_json_schema.json", &got);
        // Same shape as the recorded native request.
        let recorded = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/structured_output_request.json"
        ));
        assert_eq!(
            got["output_config"]["format"]["type"],
            recorded["output_config"]["format"]["type"]
        );
    }

    #[test]
    fn request_matches_recorded_anthropic_request_for_the_same_conversation() {
        // The recorded tool_result request, written as an OpenAI client would send it.
        let openai = json!({
            "model": "claude-public",
            "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": "What is the weather in SF?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\", \"units\": \"f\"}"}}]},
                {"role": "tool", "tool_call_id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "content": "RuntimeError('Unexpected error, try again')"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Lookup the weather for a given city in either celsius or fahrenheit",
                "parameters": fixture_json(include_str!("../../tests/fixtures/anthropic/tool_result_request.json"))["tools"][0]["input_schema"].clone()
            }}]
        });
        let got = req_json(&openai, "claude-haiku-4-5", false);
        let mut recorded = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/tool_result_request.json"
        ));
        // Fields the SDK recorded that OpenAI has no way to express.
        recorded["messages"][1]["content"][0]
            .as_object_mut()
            .unwrap()
            .remove("caller");
        recorded["messages"][2]["content"][0]
            .as_object_mut()
            .unwrap()
            .remove("is_error");
        assert_eq!(got, recorded);
    }

    /// OpenAI requests written to mean exactly what a recorded / documented
    /// Anthropic request means must translate to that request.
    #[test]
    fn requests_equal_the_recorded_anthropic_requests() {
        let weather_schema = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/tool_use_request.json"
        ))["tools"][0]["input_schema"]
            .clone();
        let weather_tool = json!([{"type": "function", "function": {"name": "get_weather",
            "description": "Lookup the weather for a given city in either celsius or fahrenheit",
            "parameters": weather_schema}}]);
        let docs_tool = json!([{"type": "function", "function": {"name": "get_weather",
            "description": "Get the current weather in a given location",
            "parameters": {"type": "object", "properties": {"location": {"type": "string",
                "description": "The city and state, e.g. San Francisco, CA"}}, "required": ["location"]}}}]);
        let order_schema = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/structured_output_request.json"
        ))["output_config"]["format"]["schema"]
            .clone();
        let cases: [(Value, &str, bool, &str); 6] = [
            (
                json!({"model": "x", "max_tokens": 1024, "temperature": 0.2, "stop": "\n\nHuman:", "messages": [
                    {"role": "system", "content": "You are a helpful assistant that answers in one short sentence."},
                    {"role": "user", "content": "Hello, Claude"}]}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../tests/fixtures/anthropic/messages_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}},
                    {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
                    {"type": "text", "text": "Describe these images."}]}]}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../tests/fixtures/anthropic/image_request.json"),
            ),
            (
                json!({"model": "x", "max_completion_tokens": 1024, "messages": [
                    {"role": "user", "content": "Extract: I want to order 2 Green Tea at $5.50 each"}],
                    "response_format": {"type": "json_schema", "json_schema": {"name": "OrderItem", "strict": true, "schema": order_schema}}}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../tests/fixtures/anthropic/structured_output_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": weather_tool, "messages": [
                    {"role": "user", "content": "What is the weather in SF?"}]}),
                "claude-haiku-4-5",
                false,
                include_str!("../../tests/fixtures/anthropic/tool_use_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": weather_tool, "stream": true, "messages": [
                    {"role": "user", "content": "What is the weather in SF?"}]}),
                "claude-haiku-4-5",
                true,
                include_str!("../../tests/fixtures/anthropic/tool_use_stream_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": docs_tool, "tool_choice": "required", "stream": true,
                    "messages": [{"role": "user", "content": "What is the weather like in San Francisco?"}]}),
                "claude-sonnet-4-5",
                true,
                include_str!("../../tests/fixtures/anthropic/tool_use_stream_docs_request.json"),
            ),
        ];
        for (openai, model, stream, recorded) in cases {
            assert_eq!(
                req_json(&openai, model, stream),
                fixture_json(recorded),
                "{recorded}"
            );
        }
        // The follow-up turn of the recorded stream (tool_result without is_error).
        let openai = json!({"max_tokens": 1024, "tools": weather_tool, "messages": [
            {"role": "user", "content": "What is the weather in SF?"},
            {"role": "assistant", "tool_calls": [{"id": "toolu_018acGYLtfR52q9yDbWaEdQZ", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\", \"units\": \"f\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_018acGYLtfR52q9yDbWaEdQZ",
                "content": "{\"location\": \"San Francisco, CA\", \"temperature\": \"68\\u00b0F\", \"condition\": \"Sunny\"}"}]});
        let mut recorded = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/messages_stream_request.json"
        ));
        recorded["messages"][1]["content"][0]
            .as_object_mut()
            .unwrap()
            .remove("caller");
        assert_eq!(req_json(&openai, "claude-haiku-4-5", true), recorded);
    }

    #[test]
    fn cache_control_breakpoints_are_kept() {
        // The reference request with a cached system prompt, as an OpenAI client
        // (LiteLLM convention) would write it.
        let openai = json!({"max_tokens": 1024, "messages": [
            {"role": "system", "content": [{"type": "text",
                "text": "You are a helpful assistant that answers in one short sentence.",
                "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "What's the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": [{"type": "text", "text": "And Germany?"}]}]});
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        let mut reference = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/messages_request_system_blocks.json"
        ));
        // llmo sends a lone text block as a plain string (same meaning).
        reference["messages"][2]["content"] = json!("And Germany?");
        assert_eq!(got, reference);
        // Message-level and part-level markers on user and tool messages.
        let openai = json!({"messages": [
            {"role": "user", "content": "long document", "cache_control": {"type": "ephemeral"}},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "big result",
                "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],
            "tools": [{"type": "function", "function": {"name": "f"}}]});
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        assert_eq!(
            got["messages"][0]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(
            got["messages"][2]["content"][0]["cache_control"],
            json!({"type": "ephemeral", "ttl": "1h"})
        );
        // Gemini has no equivalent: the marker is ignored there.
        let gemini_call =
            super::super::gemini::request(&openai, "gemini-2.5-flash", false).unwrap();
        let g: Value = serde_json::from_slice(&gemini_call.body).unwrap();
        assert_eq!(
            g["contents"][0]["parts"][0],
            json!({"text": "long document"})
        );
    }

    #[test]
    fn structured_output_response_is_json_content() {
        let got = response(
            include_bytes!("../../tests/fixtures/anthropic/structured_output_response.json"),
            &META,
        )
        .unwrap();
        let content: Value =
            serde_json::from_str(got.choices[0].message.content.as_deref().unwrap()).unwrap();
        assert_eq!(
            content,
            json!({"product_name": "Green Tea", "price": 5.5, "quantity": 2})
        );
        assert_eq!(got.choices[0].finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn consecutive_roles_merge_and_tool_results_lead_the_user_turn() {
        let openai = json!({"messages": [
            {"role": "system", "content": "s1"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "thinking out loud", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}},
                {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{\"x\":1}"}}]},
            {"role": "developer", "content": "s2"},
            {"role": "tool", "tool_call_id": "t1", "content": "r1"},
            {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "r2"}]},
            {"role": "user", "content": "next"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "again"}
        ]});
        let got = req_json(&openai, "claude-3-5-haiku-latest", false);
        check_golden("anthropic/request_merged_turns.json", &got);
        assert_eq!(got["max_tokens"], 8192);
        assert_eq!(got["messages"].as_array().unwrap().len(), 3);
        assert_eq!(got["messages"][1]["content"][1]["input"], json!({}));
        let last = &got["messages"][2]["content"];
        assert_eq!(last[0]["type"], "tool_result");
        assert_eq!(last[1]["type"], "tool_result");
        assert_eq!(last[2]["text"], "next");
        assert_eq!(last[3]["text"], "again");
    }

    #[test]
    fn foreign_tool_call_ids_are_made_valid_and_stay_paired() {
        let gemini_id = "call_r1_0__thought__CiIB+vaaq/6rA==";
        let req = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": gemini_id, "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "weird id!", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": gemini_id, "content": "1"},
            {"role": "tool", "tool_call_id": "weird id!", "content": "2"}]});
        let got = req_json(&req, "claude-sonnet-4-5", false);
        assert_eq!(got["messages"][1]["content"][0]["id"], "call_r1_0");
        assert_eq!(got["messages"][2]["content"][0]["tool_use_id"], "call_r1_0");
        assert_eq!(got["messages"][1]["content"][1]["id"], "weird_id_");
        assert_eq!(got["messages"][2]["content"][1]["tool_use_id"], "weird_id_");
    }

    #[test]
    fn non_sse_junk_is_dropped_and_reported_as_truncated() {
        let out = translate_stream(&[b"<html>502 Bad Gateway</html>\n"], false);
        let acc = accumulate(&out);
        assert_eq!(acc.error.unwrap()["code"], "upstream_stream_truncated");
    }

    #[test]
    fn small_field_mappings() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Once upon"}],
            "top_k": 5, "top_p": 0.9, "tool_choice": "auto", "response_format": {"type": "text"}});
        let got = req_json(&req, "claude-sonnet-4-5", false);
        assert_eq!(got["top_k"], 5);
        assert_eq!(got["top_p"], 0.9);
        // tool_choice without tools is not sent; response_format text adds nothing.
        assert!(got.get("tool_choice").is_none() && got.get("tools").is_none());
        assert!(got.get("output_config").is_none());
        // A final assistant message is sent as the turn Claude continues (prefill).
        assert_eq!(
            got["messages"][1],
            json!({"role": "assistant", "content": "Once upon"})
        );
        let empty = json!({"messages": [{"role": "user", "content": ""}]});
        assert_eq!(
            request(&empty, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages[0].content"
        );
        let only_system = json!({"messages": [{"role": "system", "content": "x"}]});
        assert_eq!(
            request(&only_system, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages"
        );
    }

    #[test]
    fn tool_choice_variants_and_parallel_flag() {
        let base = json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}]});
        let cases = [
            (json!("auto"), None, json!({"type": "auto"})),
            (json!("none"), None, json!({"type": "none"})),
            (json!("required"), None, json!({"type": "any"})),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                None,
                json!({"type": "tool", "name": "f"}),
            ),
            (
                json!("required"),
                Some(false),
                json!({"type": "any", "disable_parallel_tool_use": true}),
            ),
            (
                Value::Null,
                Some(false),
                json!({"type": "auto", "disable_parallel_tool_use": true}),
            ),
        ];
        for (choice, parallel, want) in cases {
            let mut req = base.clone();
            req["tool_choice"] = choice.clone();
            if let Some(p) = parallel {
                req["parallel_tool_calls"] = json!(p);
            }
            let got = req_json(&req, "claude-sonnet-4-5", false);
            assert_eq!(got["tool_choice"], want, "{choice} {parallel:?}");
            assert_eq!(
                got["tools"][0]["input_schema"],
                json!({"type": "object", "properties": {}})
            );
        }
        for (params, want) in [
            (json!({}), json!({"type": "object", "properties": {}})),
            (
                json!({"properties": {"a": {"type": "string"}}}),
                json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            ),
        ] {
            let mut req = base.clone();
            req["tools"][0]["function"]["parameters"] = params;
            let got = req_json(&req, "claude-sonnet-4-5", false);
            assert_eq!(got["tools"][0]["input_schema"], want);
        }
    }

    #[test]
    fn unsupported_parameters_are_named() {
        let base = json!({"messages": [{"role": "user", "content": "hi"}]});
        for (field, v, param) in [
            ("n", json!(2), "n"),
            ("presence_penalty", json!(0.5), "presence_penalty"),
            ("frequency_penalty", json!(-1), "frequency_penalty"),
        ] {
            let mut req = base.clone();
            req[field] = v;
            let err = request(&req, "claude-sonnet-4-5", false).unwrap_err();
            assert_eq!(err.param(), param);
            assert_eq!(err.status(), 400);
        }
        let mut req = base.clone();
        req["messages"][0]["content"] =
            json!([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]);
        assert_eq!(
            request(&req, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages[0].content[0].image_url.url"
        );
        req["messages"][0]["content"] =
            json!([{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]);
        assert_eq!(
            request(&req, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages[0].content[0].image_url.url"
        );
        assert_eq!(embeddings_unsupported().status(), 400);
    }

    #[test]
    fn seed_is_dropped_temperature_clamped_user_mapped_whitespace_stops_dropped() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}], "seed": 7, "temperature": 1.7,
            "user": "u-42", "stop": ["\n", "END"], "presence_penalty": 0});
        let got = req_json(&req, "claude-sonnet-4-5", false);
        assert!(got.get("seed").is_none());
        assert_eq!(got["temperature"], 1.0);
        assert_eq!(got["metadata"], json!({"user_id": "u-42"}));
        assert_eq!(got["stop_sequences"], json!(["END"]));
    }

    #[test]
    fn reasoning_effort_maps_to_thinking_with_checks() {
        let req = json!({"messages": [{"role": "user", "content": "What is 27 * 453?"}], "reasoning_effort": "high"});
        let got = req_json(&req, "claude-sonnet-4-5", true);
        assert_eq!(
            got["thinking"],
            json!({"type": "enabled", "budget_tokens": 16384})
        );
        assert_eq!(got["max_tokens"], 64000);
        // Unknown model: default 4096 is raised above the budget.
        assert_eq!(
            req_json(&req, "claude-next", false)["max_tokens"],
            16384 + 4096
        );
        let mut small = req.clone();
        small["max_completion_tokens"] = json!(1000);
        assert_eq!(
            request(&small, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "max_completion_tokens"
        );
        let mut temp = req.clone();
        temp["temperature"] = json!(0.2);
        assert_eq!(
            request(&temp, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "temperature"
        );
        let mut none = req.clone();
        none["reasoning_effort"] = json!("none");
        assert!(req_json(&none, "claude-sonnet-4-5", false)
            .get("thinking")
            .is_none());
    }

    #[test]
    fn thinking_blocks_round_trip_through_an_openai_client() {
        // Turn 1: Anthropic answers with thinking + tool_use.
        let upstream = json!({"id": "msg_t", "content": [
            {"type": "thinking", "thinking": "I should call f.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": 1}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
        let resp = response(upstream.to_string().as_bytes(), &META).unwrap();
        let msg = serde_json::to_value(&resp.choices[0].message).unwrap();
        assert_eq!(
            msg["thinking_blocks"][0],
            json!({"type": "thinking", "thinking": "I should call f.", "signature": "sig-1"})
        );
        assert_eq!(
            msg["thinking_blocks"][1],
            json!({"type": "redacted_thinking", "data": "opaque"})
        );
        // Turn 2: the client sends the assistant message back as it got it.
        let req = json!({"reasoning_effort": "low", "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "user", "content": "go"}, msg, {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}]});
        let got = req_json(&req, "claude-sonnet-4-5", false);
        assert_eq!(got["thinking"]["type"], "enabled");
        let blocks = got["messages"][1]["content"].as_array().unwrap();
        assert_eq!(blocks[0]["signature"], "sig-1");
        assert_eq!(blocks[1]["type"], "redacted_thinking");
        assert_eq!(blocks[2]["type"], "tool_use");
        // A client that dropped the blocks: answered without thinking, not a 400.
        let mut dropped = req.clone();
        dropped["messages"][1]
            .as_object_mut()
            .unwrap()
            .remove("thinking_blocks");
        let got = req_json(&dropped, "claude-sonnet-4-5", false);
        assert!(got.get("thinking").is_none());
        assert_eq!(got["messages"][1]["content"][0]["type"], "tool_use");
        // Stream: the signed block arrives as one delta when the block ends.
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/thinking_stream_docs.sse"
            )],
            false,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"thinking_blocks\":[{\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...\",\"thinking\":\"Let me solve this step by step:"));
    }

    #[test]
    fn json_object_uses_a_forced_tool_and_comes_back_as_content() {
        let req = json!({"messages": [{"role": "user", "content": "give me JSON"}], "response_format": {"type": "json_object"}});
        let got = req_json(&req, "claude-sonnet-4-5", false);
        assert_eq!(
            got["tool_choice"],
            json!({"type": "tool", "name": JSON_OBJECT_TOOL})
        );
        assert_eq!(got["tools"][0]["name"], JSON_OBJECT_TOOL);
        let mut with_tools = req.clone();
        with_tools["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
        assert_eq!(
            request(&with_tools, "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "response_format"
        );

        let upstream = json!({"id": "msg_1", "content": [{"type": "tool_use", "id": "toolu_1", "name": JSON_OBJECT_TOOL,
            "input": {"a": 1}}], "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}});
        let resp = response(upstream.to_string().as_bytes(), &META).unwrap();
        assert_eq!(
            resp.choices[0].message.content.as_deref(),
            Some("{\"a\":1}")
        );
        assert!(resp.choices[0].message.tool_calls.is_empty());
        assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::Stop));

        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"llmo_json_object\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": \"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let out = translate_stream(&[sse.as_bytes()], false);
        let acc = accumulate(&out);
        assert_eq!(acc.content.as_deref(), Some("{\"a\": 1}"));
        assert!(acc.tool_calls.is_empty());
        assert_eq!(acc.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn default_max_tokens_table() {
        for (model, want) in [
            ("claude-3-haiku-20240307", 4096),
            ("claude-3-opus-20240229", 4096),
            ("claude-3-5-sonnet-20240620", 8192),
            ("claude-3-5-haiku-latest", 8192),
            ("claude-3-7-sonnet-20250219", 64000),
            ("claude-sonnet-4-20250514", 64000),
            ("claude-sonnet-4-5", 64000),
            ("claude-haiku-4-5-20251001", 64000),
            ("claude-opus-4-20250514", 32000),
            ("claude-opus-4-0", 32000),
            ("claude-opus-4-1-20250805", 32000),
            ("claude-opus-4-5-20251101", 64000),
            ("claude-opus-4-6", 64000),
            ("claude-opus-5-5", 64000),
            ("claude-fable-5-1", 64000),
            ("claude-instant-1.2", 4096),
            ("some-claude-proxy-model", 4096),
        ] {
            assert_eq!(default_max_tokens(model), want, "{model}");
        }
    }

    // ----- responses: golden -----

    #[test]
    fn golden_response_text() {
        let got = response(
            include_bytes!("../../tests/fixtures/anthropic/messages_response.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "anthropic/response_text.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(got.id, "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF");
        assert_eq!(got.model, "claude-public");
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (2095, 503, 2598)
        );
        assert!(u.prompt_tokens_details.is_none());
    }

    #[test]
    fn golden_response_tool_use() {
        let got = response(
            include_bytes!("../../tests/fixtures/anthropic/tool_use_response.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "anthropic/response_tool_use.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let m = &got.choices[0].message;
        assert_eq!(m.content, None);
        assert_eq!(m.tool_calls[0].id, "toolu_01A9HHF5Ezy3oBrKmSgfASm9");
        let args: Value = serde_json::from_str(&m.tool_calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"location": "San Francisco, CA", "units": "f"}));
        assert_eq!(got.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            got.usage
                .unwrap()
                .prompt_tokens_details
                .unwrap()
                .cached_tokens,
            0
        );
    }

    #[test]
    fn golden_response_text_then_tool_use() {
        let got = response(
            include_bytes!("../../tests/fixtures/anthropic/tool_use_response_with_text.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "anthropic/response_text_and_tool_use.json",
            &serde_json::to_value(&got).unwrap(),
        );
    }

    #[test]
    fn golden_response_thinking() {
        let got = response(
            include_bytes!("../../tests/fixtures/anthropic/thinking_response.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "anthropic/response_thinking.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(
            got.choices[0].message.reasoning_content.as_deref(),
            Some("Let me analyze this step by step...")
        );
        assert_eq!(
            got.choices[0].message.content.as_deref(),
            Some("Based on my analysis...")
        );
    }

    #[test]
    fn cache_tokens_count_as_prompt_tokens() {
        let body = json!({"id": "m", "content": [], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}});
        let got = response(body.to_string().as_bytes(), &META).unwrap();
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (115, 7, 122)
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, 100);
        assert_eq!(got.choices[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(got.choices[0].message.content, None);
    }

    #[test]
    fn finish_reasons() {
        for (a, o) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("pause_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
            ("something_new", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(a), o, "{a}");
        }
    }

    #[test]
    fn unreadable_success_body_is_a_502() {
        let err = response(b"<html>", &META).unwrap_err();
        assert_eq!(err.status(), 502);
    }

    // ----- streams: golden -----

    #[test]
    fn golden_stream_text_with_usage() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/messages_stream.sse"
            )],
            true,
        );
        check_golden_sse("anthropic/stream_text_include_usage.sse", &out);
    }

    #[test]
    fn golden_stream_text_without_usage() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/messages_stream_docs.sse"
            )],
            false,
        );
        check_golden_sse("anthropic/stream_text_docs.sse", &out);
        assert!(!String::from_utf8_lossy(&out).contains("usage"));
    }

    #[test]
    fn golden_stream_tool_use() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/tool_use_stream.sse"
            )],
            true,
        );
        check_golden_sse("anthropic/stream_tool_use.sse", &out);
    }

    #[test]
    fn golden_stream_text_then_tool_use() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/tool_use_stream_docs.sse"
            )],
            false,
        );
        check_golden_sse("anthropic/stream_text_then_tool_use.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(
            acc.content.as_deref(),
            Some("Okay, let's check the weather for San Francisco, CA:")
        );
        assert_eq!(acc.tool_calls.len(), 1);
        assert_eq!(acc.tool_calls[0].1, "get_weather");
        let args: Value = serde_json::from_str(&acc.tool_calls[0].2).unwrap();
        assert_eq!(
            args,
            json!({"location": "San Francisco, CA", "unit": "fahrenheit"})
        );
        assert_eq!(acc.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn golden_stream_thinking() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/anthropic/thinking_stream_docs.sse"
            )],
            true,
        );
        check_golden_sse("anthropic/stream_thinking.sse", &out);
        let acc = accumulate(&out);
        assert!(acc
            .reasoning
            .unwrap()
            .ends_with("10,800 + 1,350 + 81 = 12,231"));
        assert_eq!(acc.content.as_deref(), Some("27 * 453 = 12,231"));
        // No usage anywhere in the docs stream: no usage chunk rather than zeros.
        assert!(acc.usage.is_none());
    }

    #[test]
    fn golden_stream_several_tool_calls_and_max_tokens() {
        let sse =
            include_bytes!("../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse");
        let out = translate_stream(&[sse], true);
        check_golden_sse("anthropic/stream_two_tools_max_tokens.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.tool_calls.len(), 2);
        assert_eq!(acc.tool_calls[0].0, "toolu_A");
        assert_eq!(acc.tool_calls[1].0, "toolu_B");
        assert_eq!(acc.tool_calls[1].2, "{\"city\": \"Paris\"}");
        assert_eq!(acc.finish_reason.as_deref(), Some("length"));
        let u = acc.usage.unwrap();
        assert_eq!(
            (u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64()),
            (Some(130), Some(60))
        );
    }

    #[test]
    fn golden_stream_error_mid_stream() {
        let mut sse = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
            .to_vec();
        sse.extend_from_slice(include_bytes!(
            "../../tests/fixtures/anthropic/errors/stream_error_event.sse"
        ));
        sse.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n");
        let out = translate_stream(&[&sse], true);
        check_golden_sse("anthropic/stream_error_mid_stream.sse", &out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\ndata: [DONE]\n\n"),
            "{text}"
        );
        assert!(!text.contains("\"lo\""), "nothing after the error");
    }

    #[test]
    fn truncated_stream_ends_with_an_error() {
        let body = include_bytes!("../../tests/fixtures/anthropic/messages_stream.sse");
        // Cut at an event boundary before message_delta: complete events, no end.
        let text = std::str::from_utf8(body).unwrap();
        let cut = text.find("event: message_delta").unwrap();
        let out = String::from_utf8(translate_stream(&[&body[..cut]], false)).unwrap();
        assert!(
            out.contains("sunny day!"),
            "content before the cut is delivered"
        );
        assert!(out.ends_with("data: {\"error\":{\"message\":\"the upstream stream ended before the response was complete\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_truncated\"}}\n\ndata: [DONE]\n\n"), "{out}");
        assert!(
            !out.contains("finish_reason\":\""),
            "no finish chunk for a cut stream"
        );
        // Cut inside an event: the half event is unreadable, still an error event.
        let out = String::from_utf8(translate_stream(&[&body[..cut - 20]], false)).unwrap();
        assert!(accumulate(out.as_bytes()).error.is_some());
    }

    #[test]
    fn awkward_splits_give_identical_output() {
        for body in [
            &include_bytes!("../../tests/fixtures/anthropic/messages_stream.sse")[..],
            &include_bytes!("../../tests/fixtures/anthropic/tool_use_stream.sse")[..],
            &include_bytes!("../../tests/fixtures/anthropic/thinking_stream_docs.sse")[..],
            &include_bytes!("../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse")[..],
        ] {
            let whole = translate_stream(&[body], true);
            // One byte at a time, and cut inside the multi-byte "°" (C2 B0).
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(translate_stream(&bytes, true), whole);
            if let Some(p) = body.windows(2).position(|w| w == [0xC2, 0xB0]) {
                assert_eq!(
                    translate_stream(&[&body[..p + 1], &body[p + 1..]], true),
                    whole
                );
            }
            // CRLF framing gives the same output.
            let crlf = String::from_utf8(body.to_vec())
                .unwrap()
                .replace('\n', "\r\n");
            assert_eq!(translate_stream(&[crlf.as_bytes()], true), whole);
        }
    }

    #[test]
    fn random_chunkings_give_identical_output() {
        let bodies: [&[u8]; 4] = [
            include_bytes!("../../tests/fixtures/anthropic/messages_stream.sse"),
            include_bytes!("../../tests/fixtures/anthropic/tool_use_stream_docs.sse"),
            include_bytes!("../../tests/fixtures/anthropic/thinking_stream_docs.sse"),
            include_bytes!("../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse"),
        ];
        let mut rng = fastrand::Rng::with_seed(0x11_0a_7e);
        for body in bodies {
            let whole = translate_stream(&[body], true);
            for _ in 0..200 {
                let pieces = random_split(&mut rng, body);
                assert_eq!(translate_stream(&pieces, true), whole);
            }
        }
    }

    #[test]
    fn stream_deltas_equal_the_non_stream_response_for_the_same_message() {
        // Recorded pairs with the same content: tool_use stream vs. response
        // (same call), and a constructed stream for the text+tool response.
        let pairs: [(&[u8], &[u8]); 2] = [
            (
                include_bytes!("../../tests/fixtures/anthropic/tool_use_stream.sse"),
                include_bytes!("../../tests/fixtures/anthropic/tool_use_response.json"),
            ),
            (
                include_bytes!("../../tests/fixtures/translate/anthropic_text_and_tool.sse"),
                include_bytes!("../../tests/fixtures/anthropic/tool_use_response_with_text.json"),
            ),
        ];
        for (sse, json_body) in pairs {
            let acc = accumulate(&translate_stream(&[sse], true));
            let resp = response(json_body, &META).unwrap();
            let m = &resp.choices[0].message;
            assert_eq!(acc.content, m.content);
            assert_eq!(acc.tool_calls.len(), m.tool_calls.len());
            for (s, r) in acc.tool_calls.iter().zip(&m.tool_calls) {
                assert_eq!(s.1, r.function.name);
                let a: Value = serde_json::from_str(&s.2).unwrap();
                let b: Value = serde_json::from_str(&r.function.arguments).unwrap();
                assert_eq!(a, b);
            }
            assert_eq!(
                acc.finish_reason.as_deref(),
                resp.choices[0].finish_reason.map(FinishReason::as_str)
            );
            let u = resp.usage.unwrap();
            let su = acc.usage.unwrap();
            assert_eq!(
                su["completion_tokens"].as_u64(),
                Some(u.completion_tokens as u64)
            );
            assert_eq!(su["prompt_tokens"].as_u64(), Some(u.prompt_tokens as u64));
        }
    }

    #[test]
    fn a_wild_block_index_does_not_grow_state() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":18446744073709551615,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":18446744073709551615,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let acc = accumulate(&translate_stream(&[sse.as_bytes()], false));
        assert_eq!(acc.content.as_deref(), Some("ok"));
        assert!(acc.done);
    }

    /// Property: for random messages (text and tool_use blocks with escapes
    /// and multi-byte characters, fragments split anywhere, pings between),
    /// the stream, fed in random chunkings, adds up to the non-stream answer.
    #[test]
    fn random_messages_stream_and_non_stream_agree() {
        use super::super::test_gen::{fragments, text};
        let mut rng = fastrand::Rng::with_seed(0xA17);
        for round in 0..150 {
            let mut blocks = Vec::new();
            let mut sse = String::new();
            let push = |sse: &mut String, ev: Value| {
                let name = ev["type"].as_str().unwrap().to_string();
                sse.push_str(&format!("event: {name}\ndata: {ev}\n\n"));
            };
            let input_tokens = rng.u32(1..5000);
            push(
                &mut sse,
                json!({"type": "message_start", "message": {"id": format!("msg_{round}"),
                "type": "message", "role": "assistant", "content": [],
                "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
            );
            let mut has_tool = false;
            for i in 0..rng.usize(1..5) {
                if rng.bool() {
                    let t = text(&mut rng, 40);
                    blocks.push(json!({"type": "text", "text": t}));
                    push(
                        &mut sse,
                        json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                    );
                    for f in fragments(&mut rng, &t, 6) {
                        push(
                            &mut sse,
                            json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": f}}),
                        );
                        if rng.u8(..10) == 0 {
                            push(&mut sse, json!({"type": "ping"}));
                        }
                    }
                } else {
                    has_tool = true;
                    let input = json!({"q": text(&mut rng, 20), "n": rng.i32(-50..50), "deep": {"list": [text(&mut rng, 5)]}});
                    let id = format!("toolu_{round}_{i}");
                    blocks.push(json!({"type": "tool_use", "id": id, "name": format!("f{i}"), "input": input}));
                    push(
                        &mut sse,
                        json!({"type": "content_block_start", "index": i,
                        "content_block": {"type": "tool_use", "id": id, "name": format!("f{i}"), "input": {}}}),
                    );
                    for f in fragments(&mut rng, &input.to_string(), 8) {
                        push(
                            &mut sse,
                            json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": f}}),
                        );
                    }
                }
                push(&mut sse, json!({"type": "content_block_stop", "index": i}));
            }
            let stop = if has_tool {
                "tool_use"
            } else if rng.bool() {
                "end_turn"
            } else {
                "max_tokens"
            };
            let output_tokens = rng.u32(1..5000);
            push(
                &mut sse,
                json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": output_tokens}}),
            );
            push(&mut sse, json!({"type": "message_stop"}));
            let non_stream = json!({"id": format!("msg_{round}"), "type": "message", "role": "assistant", "content": blocks,
                "stop_reason": stop, "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}});

            let pieces = random_split(&mut rng, sse.as_bytes());
            let out = translate_stream(&pieces, true);
            assert_eq!(
                out,
                translate_stream(&[sse.as_bytes()], true),
                "chunking changed the output"
            );
            let acc = accumulate(&out);
            let resp = response(non_stream.to_string().as_bytes(), &META).unwrap();
            let m = &resp.choices[0].message;
            assert_eq!(acc.content, m.content, "round {round}");
            assert_eq!(acc.tool_calls.len(), m.tool_calls.len());
            for (s, r) in acc.tool_calls.iter().zip(&m.tool_calls) {
                assert_eq!((&s.0, &s.1), (&r.id, &r.function.name));
                let a: Value = serde_json::from_str(&s.2).unwrap();
                let b: Value = serde_json::from_str(&r.function.arguments).unwrap();
                assert_eq!(a, b);
            }
            assert_eq!(
                acc.finish_reason.as_deref(),
                resp.choices[0].finish_reason.map(FinishReason::as_str)
            );
            assert_eq!(
                acc.usage.unwrap(),
                serde_json::to_value(resp.usage.unwrap()).unwrap()
            );
            assert_eq!(acc.ids.iter().next().unwrap(), &resp.id);
            assert!(acc.done && acc.first_is_role);
        }
    }

    #[test]
    fn usage_is_available_for_logs() {
        let mut t = StreamTranslator::new("m", false, "id", 0);
        t.feed(include_bytes!(
            "../../tests/fixtures/anthropic/tool_use_stream.sse"
        ));
        t.finish();
        let u = t.usage().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (656, 74));
        assert!(t.is_done());
        assert!(t.error().is_none());
        assert!(t.feed(b"data: more\n\n").is_empty());
    }

    // ----- errors -----

    #[test]
    fn error_mapping_table() {
        type Case<'a> = (u16, &'a [u8], u16, bool, &'a str, Option<&'a str>);
        let recorded_400 = fixture_body(include_str!(
            "../../tests/fixtures/anthropic/errors/400_invalid_request_error_recorded.json"
        ));
        let cases: [Case<'_>; 8] = [
            (400, include_bytes!("../../tests/fixtures/anthropic/errors/400_prompt_too_long.json"), 400, false, "invalid_request_error", Some("context_length_exceeded")),
            (400, &recorded_400, 400, false, "invalid_request_error", None),
            (401, include_bytes!("../../tests/fixtures/anthropic/errors/401_authentication_error.json"), 502, false, "upstream_error", Some("upstream_auth_failed")),
            (429, include_bytes!("../../tests/fixtures/anthropic/errors/429_rate_limit_error.json"), 429, true, "rate_limit_exceeded", Some("rate_limit_exceeded")),
            (500, include_bytes!("../../tests/fixtures/anthropic/errors/500_api_error.json"), 500, true, "server_error", None),
            (529, include_bytes!("../../tests/fixtures/anthropic/errors/529_overloaded_error.json"), 503, true, "server_error", Some("overloaded")),
            (404, br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#, 404, false, "invalid_request_error", Some("model_not_found")),
            (403, br#"{"type":"error","error":{"type":"permission_error","message":"no access"}}"#, 502, false, "upstream_error", Some("upstream_auth_failed")),
        ];
        for (status, body, want_status, retryable, ty, code) in cases {
            let m = error(status, body);
            assert_eq!(m.status, want_status, "{status}");
            assert_eq!(m.retryable, retryable, "{status}");
            assert_eq!(m.body["error"]["type"], ty, "{status}");
            assert_eq!(m.body["error"]["code"].as_str(), code, "{status}");
            assert!(m.body["error"]["message"].as_str().unwrap().len() > 5);
        }
        let recorded = fixture_json(include_str!(
            "../../tests/fixtures/anthropic/errors/429_and_529_with_headers_recorded.json"
        ));
        for (status, want, code) in [
            ("429", 429, "rate_limit_exceeded"),
            ("529", 503, "overloaded"),
        ] {
            let body = serde_json::to_vec(&recorded[status]["body"]).unwrap();
            let m = error(status.parse().unwrap(), &body);
            assert_eq!((m.status, m.retryable), (want, true));
            assert_eq!(m.body["error"]["code"], code);
        }
        let m = error(
            429,
            &fixture_body(include_str!(
                "../../tests/fixtures/anthropic/errors/429_rate_limit_error_recorded.json"
            )),
        );
        assert!(m.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("This request would exceed"));
        let m = error(
            400,
            include_bytes!("../../tests/fixtures/anthropic/errors/400_prompt_too_long.json"),
        );
        assert_eq!(m.body["error"]["param"], "messages");
        assert_eq!(
            m.body["error"]["message"],
            "prompt is too long: 219898 tokens > 200000 maximum"
        );
        check_golden(
            "anthropic/error_529.json",
            &error(
                529,
                include_bytes!("../../tests/fixtures/anthropic/errors/529_overloaded_error.json"),
            )
            .body,
        );
    }

    #[test]
    fn unreadable_error_bodies_keep_a_sensible_status() {
        let m = error(502, b"<html>Bad gateway</html>");
        assert_eq!((m.status, m.retryable), (502, true));
        assert_eq!(m.body["error"]["message"], "upstream returned HTTP 502");
        let m = error(418, b"");
        assert_eq!((m.status, m.retryable, m.failover), (418, false, false));
        let m = error(408, b"");
        assert_eq!((m.status, m.retryable), (504, true));
        let m = error(
            401,
            include_bytes!("../../tests/fixtures/anthropic/errors/401_authentication_error.json"),
        );
        assert_eq!((m.retryable, m.failover), (false, true));
        let m = error(401, br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA"}}"#);
        assert!(!m.body.to_string().contains("sk-ant-api03"));
    }

    #[test]
    fn headers_carry_key_and_version() {
        assert_eq!(
            headers("k"),
            [("x-api-key", "k"), ("anthropic-version", "2023-06-01")]
        );
    }
}

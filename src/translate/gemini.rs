//! OpenAI Chat Completions / Embeddings <-> Google Gemini API
//! (`generateContent`, `streamGenerateContent?alt=sse`, `embedContent`,
//! `batchEmbedContents`; base URL `https://generativelanguage.googleapis.com/v1beta`).
//!
//! Decisions are listed in the tables of [`crate::translate`].
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::openai::{
    self, ChatCompletion, ChatRequest, Choice, ChunkWriter, CompletionTokensDetails, Embedding,
    EmbeddingList, EmbeddingUsage, EmbeddingVector, FinishReason, FunctionCall, Message, Part,
    PromptTokensDetails, ResponseFormat, Role, ToolCall, ToolChoice, ToolStart, Usage,
};
use super::sse::{SseEvent, SseParser};
use super::{ErrorClass, MappedError, ResponseMeta, TranslateError, UpstreamCall};

pub const KIND: &str = "gemini";
/// The base URL the `path`s of this module are relative to.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";
/// Separator between a tool-call id and the Gemini thought signature it carries.
pub const THOUGHT_SEPARATOR: &str = "__thought__";
/// Documented placeholder signature for function calls Gemini 3 did not
/// produce itself (history from another provider, or a client that dropped it).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";
/// Candidate indexes above this are ignored in streams.
const MAX_CANDIDATES: u32 = 64;
/// Largest non-SSE body (a bare JSON error) kept from a stream.
const MAX_BARE_BODY: usize = 1 << 20;
/// `batchEmbedContents` accepts at most this many requests.
pub const MAX_EMBED_BATCH: usize = 100;

/// Headers for every Gemini call (plus `content-type: application/json`).
pub fn headers(key: &str) -> [(&'static str, &str); 1] {
    [("x-goog-api-key", key)]
}

fn unsupported(field: impl Into<String>, message: impl Into<String>) -> TranslateError {
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

/// The model segment of the URL: `models/` prefix stripped, characters checked
/// so a catalog entry can never inject a path or query.
fn model_segment(upstream_model: &str) -> Result<&str, TranslateError> {
    let m = upstream_model
        .strip_prefix("models/")
        .unwrap_or(upstream_model);
    if m.is_empty()
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(invalid(
            "model",
            format!("upstream model name `{upstream_model}` is not a valid Gemini model id"),
        ));
    }
    Ok(m)
}

fn is_gemini3(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// Builds the Gemini request for an OpenAI chat request.
pub fn request(
    openai_req: &Value,
    upstream_model: &str,
    stream: bool,
) -> Result<UpstreamCall, TranslateError> {
    let model = model_segment(upstream_model)?;
    let body = request_json(openai_req, model)?;
    let path = if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    };
    Ok(UpstreamCall {
        path,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

fn request_json(openai_req: &Value, model: &str) -> Result<Value, TranslateError> {
    let r = openai::parse_chat(openai_req)?;
    let mut body = Map::new();
    if !r.system.is_empty() {
        let parts: Vec<Value> = r.system.iter().map(|t| json!({ "text": t.text })).collect();
        body.insert("systemInstruction".into(), json!({ "parts": parts }));
    }
    body.insert(
        "contents".into(),
        Value::Array(contents(&r, is_gemini3(model))?),
    );

    if !r.tools.is_empty() {
        let decls: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), json!(t.name));
                if let Some(desc) = t.description {
                    d.insert("description".into(), json!(desc));
                }
                // An empty schema means "no parameters": leave it out.
                let params = t
                    .parameters
                    .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()));
                if let Some(p) = params {
                    d.insert("parametersJsonSchema".into(), p.clone());
                }
                Value::Object(d)
            })
            .collect();
        body.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
        let config = match r.tool_choice {
            None => None,
            Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
            Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
            Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
            Some(ToolChoice::Named(n)) => Some(json!({"mode": "ANY", "allowedFunctionNames": [n]})),
        };
        if let Some(c) = config {
            body.insert("toolConfig".into(), json!({ "functionCallingConfig": c }));
        }
    }

    let mut gen = Map::new();
    if let Some(m) = r.max_tokens {
        gen.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(t) = r.temperature {
        gen.insert("temperature".into(), json!(t));
    }
    if let Some(p) = r.top_p {
        gen.insert("topP".into(), json!(p));
    }
    if let Some(k) = r.top_k {
        gen.insert("topK".into(), json!(k));
    }
    if !r.stop.is_empty() {
        gen.insert("stopSequences".into(), json!(r.stop));
    }
    if let Some(n) = r.n {
        gen.insert("candidateCount".into(), json!(n));
    }
    if let Some(s) = r.seed {
        gen.insert("seed".into(), json!(s));
    }
    if let Some(p) = r.presence_penalty {
        gen.insert("presencePenalty".into(), json!(p));
    }
    if let Some(p) = r.frequency_penalty {
        gen.insert("frequencyPenalty".into(), json!(p));
    }
    match r.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema }) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
            gen.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if let Some(effort) = r.reasoning_effort {
        let thinking = if is_gemini3(model) {
            let level = if effort == "none" { "low" } else { effort };
            json!({"includeThoughts": true, "thinkingLevel": level})
        } else {
            match effort {
                "none" => json!({"thinkingBudget": 0}),
                "minimal" | "low" => json!({"includeThoughts": true, "thinkingBudget": 1024}),
                "medium" => json!({"includeThoughts": true, "thinkingBudget": 8192}),
                _ => json!({"includeThoughts": true, "thinkingBudget": 24576}),
            }
        };
        gen.insert("thinkingConfig".into(), thinking);
    }
    if !gen.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gen));
    }
    Ok(Value::Object(body))
}

fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next()?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn image_part(url: &str, param: &str) -> Result<Value, TranslateError> {
    if let Some((mime, data)) = openai::parse_data_url(url) {
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    let fetchable_by_google = url.starts_with("gs://")
        || url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtube.com/")
        || url.starts_with("https://youtu.be/");
    if fetchable_by_google {
        let mut fd = Map::new();
        if let Some(m) = guess_mime(url) {
            fd.insert("mimeType".into(), json!(m));
        }
        fd.insert("fileUri".into(), json!(url));
        return Ok(json!({ "fileData": fd }));
    }
    Err(unsupported(
        param,
        "Gemini models cannot fetch image URLs; send the image as a base64 `data:` URL (gs:// and Gemini Files API URIs are passed through)",
    ))
}

fn contents(r: &ChatRequest<'_>, gemini3: bool) -> Result<Vec<Value>, TranslateError> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (pos, m) in r.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::User => {
                let mut parts = Vec::with_capacity(m.parts.len());
                for p in &m.parts {
                    parts.push(match p {
                        Part::Text(t) => json!({ "text": t.text }),
                        Part::Image { url, param } => image_part(url, param)?,
                    });
                }
                ("user", parts)
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                for p in &m.parts {
                    if let Part::Text(t) = p {
                        parts.push(json!({ "text": t.text }));
                    }
                }
                for (j, c) in m.tool_calls.iter().enumerate() {
                    let mut part = Map::new();
                    part.insert(
                        "functionCall".into(),
                        json!({"name": c.name, "args": c.arguments}),
                    );
                    let from_id = c.id.split_once(THOUGHT_SEPARATOR).map(|(_, s)| s);
                    match c.thought_signature.or(from_id) {
                        Some(sig) if !sig.is_empty() => {
                            part.insert("thoughtSignature".into(), json!(sig));
                        }
                        _ if gemini3 && j == 0 => {
                            part.insert("thoughtSignature".into(), json!(SKIP_SIGNATURE));
                        }
                        _ => {}
                    }
                    parts.push(Value::Object(part));
                }
                if parts.is_empty() {
                    continue;
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.unwrap_or_default();
                let name = r.messages[..pos]
                    .iter()
                    .rev()
                    .filter(|p| p.role == Role::Assistant)
                    .flat_map(|p| p.tool_calls.iter())
                    .find(|c| c.id == id)
                    .map(|c| c.name)
                    .ok_or_else(|| {
                        invalid(
                            format!("messages[{}].tool_call_id", m.index),
                            format!("`tool_call_id` `{id}` does not match a tool call of an earlier assistant message"),
                        )
                    })?;
                let text: String = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t.text),
                        Part::Image { .. } => None,
                    })
                    .collect();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(v) => json!({ "output": v }),
                    Err(_) => json!({ "output": text }),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
        };
        match turns.last_mut() {
            Some((last, last_parts)) if *last == role => last_parts.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    prompt_token_count: Option<u32>,
    candidates_token_count: Option<u32>,
    total_token_count: Option<u32>,
    cached_content_token_count: Option<u32>,
    thoughts_token_count: Option<u32>,
    tool_use_prompt_token_count: Option<u32>,
}

impl WireUsage {
    fn to_openai(self) -> Usage {
        let prompt =
            self.prompt_token_count.unwrap_or(0) + self.tool_use_prompt_token_count.unwrap_or(0);
        let completion =
            self.candidates_token_count.unwrap_or(0) + self.thoughts_token_count.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_token_count.unwrap_or(prompt + completion),
            prompt_tokens_details: self
                .cached_content_token_count
                .map(|c| PromptTokensDetails { cached_tokens: c }),
            completion_tokens_details: self.thoughts_token_count.map(|t| CompletionTokensDetails {
                reasoning_tokens: t,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    #[serde(default, borrow)]
    candidates: Vec<WireCandidate<'a>>,
    usage_metadata: Option<WireUsage>,
    #[serde(borrow)]
    response_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    prompt_feedback: Option<WirePromptFeedback<'a>>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate<'a> {
    #[serde(borrow)]
    content: Option<WireContent<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    index: Option<u32>,
}

#[derive(Deserialize)]
struct WireContent<'a> {
    #[serde(default, borrow)]
    parts: Vec<WirePart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    thought: bool,
    #[serde(borrow)]
    function_call: Option<WireFunctionCall<'a>>,
    #[serde(borrow)]
    thought_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireFunctionCall<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    args: Option<Value>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback<'a> {
    #[serde(borrow)]
    block_reason: Option<Cow<'a, str>>,
}

/// Gemini `finishReason` -> OpenAI `finish_reason` (before the function-call
/// rule: a `STOP` with a functionCall becomes `tool_calls`).
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "LANGUAGE"
        | "OTHER" => FinishReason::ContentFilter,
        // STOP, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, FINISH_REASON_UNSPECIFIED, new values.
        _ => FinishReason::Stop,
    }
}

fn with_calls(f: FinishReason, saw_call: bool) -> FinishReason {
    if saw_call && f == FinishReason::Stop {
        FinishReason::ToolCalls
    } else {
        f
    }
}

/// Id of the `k`-th function call of a choice (see the module docs).
fn call_id(explicit: Option<&str>, rid: &str, k: u32, sig: Option<&str>) -> String {
    let base = match explicit {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("call_{rid}_{k}"),
    };
    match sig {
        Some(s) if !s.is_empty() => format!("{base}{THOUGHT_SEPARATOR}{s}"),
        _ => base,
    }
}

fn signature_extra(sig: Option<&str>) -> Option<Value> {
    sig.filter(|s| !s.is_empty())
        .map(|s| json!({"google": {"thought_signature": s}}))
}

/// The response-id part used in generated call ids.
fn rid_for_calls<'a>(response_id: Option<&'a str>, fallback_id: &'a str) -> &'a str {
    match response_id {
        Some(r) if !r.is_empty() => r,
        _ => fallback_id.strip_prefix("chatcmpl-").unwrap_or(fallback_id),
    }
}

/// Translates a non-stream `generateContent` response.
pub fn response(body: &[u8], meta: &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError> {
    let resp: WireResponse<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Gemini returned a response llmo cannot read: {e}"),
        })?;
    let rid = rid_for_calls(resp.response_id.as_deref(), meta.fallback_id);
    let mut choices = Vec::with_capacity(resp.candidates.len().max(1));
    for (pos, c) in resp.candidates.iter().enumerate() {
        let mut content: Option<String> = None;
        let mut reasoning: Option<String> = None;
        let mut tool_calls = Vec::new();
        for p in c.content.iter().flat_map(|c| c.parts.iter()) {
            if let Some(fc) = &p.function_call {
                let sig = p.thought_signature.as_deref();
                tool_calls.push(ToolCall {
                    id: call_id(fc.id.as_deref(), rid, tool_calls.len() as u32, sig),
                    kind: "function",
                    function: FunctionCall {
                        name: fc.name.to_string(),
                        arguments: fc
                            .args
                            .as_ref()
                            .map_or_else(|| "{}".to_string(), Value::to_string),
                    },
                    extra_content: signature_extra(sig),
                });
            } else if let Some(t) = &p.text {
                let slot = if p.thought {
                    &mut reasoning
                } else {
                    &mut content
                };
                slot.get_or_insert_with(String::new).push_str(t);
            }
        }
        let f = c
            .finish_reason
            .as_deref()
            .map_or(FinishReason::Stop, finish_reason);
        choices.push(Choice {
            index: c.index.unwrap_or(pos as u32),
            finish_reason: Some(with_calls(f, !tool_calls.is_empty())),
            message: Message {
                role: "assistant",
                content,
                reasoning_content: reasoning,
                tool_calls,
                thinking_blocks: Vec::new(),
            },
        });
    }
    if choices.is_empty() {
        let blocked = resp
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_deref());
        if blocked.is_none() {
            return Err(TranslateError::Upstream {
                message: "Gemini returned no candidates".into(),
            });
        }
        choices.push(Choice {
            index: 0,
            finish_reason: Some(FinishReason::ContentFilter),
            message: Message {
                role: "assistant",
                content: None,
                reasoning_content: None,
                tool_calls: Vec::new(),
                thinking_blocks: Vec::new(),
            },
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(ChatCompletion {
        id: match resp.response_id.as_deref() {
            Some(r) if !r.is_empty() => format!("chatcmpl-{r}"),
            _ => meta.fallback_id.to_string(),
        },
        object: "chat.completion",
        created: meta.created,
        model: meta.public_model.to_string(),
        choices,
        usage: resp.usage_metadata.map(WireUsage::to_openai),
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

fn classify(status: Option<&str>, message: &str, details: Option<&Value>, http: u16) -> ErrorClass {
    let has_reason = |reason: &str| {
        details
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x["reason"] == reason))
    };
    match status {
        Some("INVALID_ARGUMENT") if has_reason("API_KEY_INVALID") => ErrorClass::UpstreamAuth,
        Some("INVALID_ARGUMENT")
            if message.contains("input token count") && message.contains("exceeds") =>
        {
            ErrorClass::ContextLength
        }
        Some("INVALID_ARGUMENT" | "OUT_OF_RANGE") => ErrorClass::BadRequest,
        Some("FAILED_PRECONDITION") => ErrorClass::ProviderAccount,
        Some("UNAUTHENTICATED" | "PERMISSION_DENIED") => ErrorClass::UpstreamAuth,
        Some("NOT_FOUND") => ErrorClass::NotFound,
        Some("RESOURCE_EXHAUSTED") => ErrorClass::RateLimited,
        Some("CANCELLED") => ErrorClass::Cancelled,
        Some("INTERNAL" | "UNKNOWN" | "DATA_LOSS") => ErrorClass::Server,
        Some("UNAVAILABLE") => ErrorClass::Overloaded,
        Some("DEADLINE_EXCEEDED") => ErrorClass::Timeout,
        _ => match http {
            400 => ErrorClass::BadRequest,
            401 | 403 => ErrorClass::UpstreamAuth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimited,
            499 => ErrorClass::Cancelled,
            500 => ErrorClass::Server,
            503 => ErrorClass::Overloaded,
            504 => ErrorClass::Timeout,
            s => ErrorClass::Other(s),
        },
    }
}

/// `RetryInfo.retryDelay` (`"49s"`, `"1.5s"`) in whole seconds, rounded up.
fn retry_delay(details: Option<&Value>) -> Option<u64> {
    let d = details?.as_array()?.iter().find(|x| {
        x["@type"]
            .as_str()
            .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
    })?;
    let secs: f64 = d["retryDelay"].as_str()?.strip_suffix('s')?.parse().ok()?;
    (secs >= 0.0).then(|| secs.ceil() as u64)
}

/// Maps a Google error object (`{"code","message","status","details"}`).
fn map_error_object(err: &Value, http: u16) -> MappedError {
    let message = err["message"].as_str().unwrap_or("");
    let http = if http == 0 {
        err["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0)
    } else {
        http
    };
    let details = err.get("details");
    classify(err["status"].as_str(), message, details, http).map(
        message,
        http,
        retry_delay(details),
    )
}

/// Maps a non-2xx Gemini response to the client's error.
pub fn error(status: u16, body: &[u8]) -> MappedError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // Without `alt=sse` Google wraps stream errors in an array.
    let envelope = match &parsed {
        Some(Value::Array(a)) => a.first(),
        other => other.as_ref(),
    };
    match envelope.and_then(|e| e.get("error")) {
        Some(err) => map_error_object(err, status),
        None => classify(None, "", None, status).map("", status, None),
    }
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
struct ChoiceState {
    tools: u32,
    finish: Option<FinishReason>,
}

/// Translates a Gemini `streamGenerateContent?alt=sse` body into OpenAI
/// `chat.completion.chunk` SSE, incrementally.
#[derive(Debug)]
pub struct StreamTranslator {
    sse: SseParser,
    events: Vec<SseEvent>,
    w: ChunkWriter,
    fallback_rid: String,
    id_fixed: bool,
    /// Indexed by choice (candidate) index; `None` = not started.
    choices: Vec<Option<ChoiceState>>,
    usage: Option<WireUsage>,
    other: Vec<u8>,
    done: bool,
    error: Option<Value>,
    /// Gemini's own error object in the stream, mapped.
    vendor_error: Option<MappedError>,
}

impl StreamTranslator {
    /// `fallback_id` is used when Gemini sends no `responseId`.
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
            fallback_rid: fallback_id
                .strip_prefix("chatcmpl-")
                .unwrap_or(fallback_id)
                .to_string(),
            id_fixed: false,
            choices: Vec::new(),
            usage: None,
            other: Vec::new(),
            done: false,
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
        self.drain(&mut out, false);
        out
    }

    /// The upstream body ended: returns the last bytes to send.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.sse.finish(&mut self.events);
        self.drain(&mut out, true);
        if self.done {
            return out;
        }
        let complete =
            !self.choices.is_empty() && self.choices.iter().flatten().all(|c| c.finish.is_some());
        if !complete {
            self.fail(
                &mut out,
                &openai::error_body(
                    "the upstream stream ended before the response was complete",
                    "server_error",
                    None,
                    Some("upstream_stream_truncated"),
                ),
            );
            return out;
        }
        for (i, c) in self.choices.iter().enumerate() {
            if let Some(ChoiceState {
                tools,
                finish: Some(f),
            }) = c
            {
                self.w
                    .finish(&mut out, i as u32, with_calls(*f, *tools > 0));
            }
        }
        if let Some(u) = self.usage {
            self.w.usage(&mut out, &u.to_openai());
        }
        ChunkWriter::done(&mut out);
        self.done = true;
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

    /// The error Gemini itself sent in the stream (an error object instead
    /// of or after the chunks), mapped with its status and retry class.
    pub fn vendor_error(&self) -> Option<&MappedError> {
        self.vendor_error.as_ref()
    }

    fn fail(&mut self, out: &mut Vec<u8>, body: &Value) {
        ChunkWriter::error(out, body);
        self.error = Some(body.clone());
        self.done = true;
    }

    fn fail_unreadable(&mut self, out: &mut Vec<u8>) {
        let body = openai::error_body(
            "the upstream stream sent unreadable data",
            "server_error",
            None,
            None,
        );
        self.fail(out, &body);
    }

    fn drain(&mut self, out: &mut Vec<u8>, at_end: bool) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.done {
                break;
            }
            self.handle(&ev.data, out);
        }
        self.events = events;
        self.events.clear();
        if self.done {
            return;
        }
        if self.sse.has_other() {
            self.other.extend(self.sse.take_other());
            if self.other.len() > MAX_BARE_BODY {
                self.fail_unreadable(out);
                return;
            }
        }
        if !self.other.is_empty() {
            // A bare JSON error body after (or instead of) the events.
            match serde_json::from_slice::<Value>(&self.other) {
                Ok(v) => {
                    let err = match &v {
                        Value::Array(a) => a.first().and_then(|e| e.get("error")),
                        _ => v.get("error"),
                    };
                    match err {
                        Some(e) => {
                            let mapped = map_error_object(e, 0);
                            self.fail(out, &mapped.body);
                            self.vendor_error = Some(mapped);
                        }
                        None => self.fail_unreadable(out),
                    }
                }
                Err(e) if at_end || !e.is_eof() => {
                    self.fail_unreadable(out);
                }
                Err(_) => {}
            }
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

    fn start_choice(&mut self, out: &mut Vec<u8>, index: u32) -> usize {
        let i = index as usize;
        if self.choices.len() <= i {
            self.choices.resize(i + 1, None);
        }
        if self.choices[i].is_none() {
            self.choices[i] = Some(ChoiceState::default());
            self.w.role(out, index);
        }
        i
    }

    fn handle(&mut self, data: &str, out: &mut Vec<u8>) {
        let resp: WireResponse<'_> = match serde_json::from_str(data) {
            Ok(r) => r,
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
        if let Some(err) = &resp.error {
            let body = map_error_object(err, 0).body;
            self.fail(out, &body);
            return;
        }
        if !self.id_fixed {
            self.id_fixed = true;
            if let Some(r) = resp.response_id.as_deref().filter(|r| !r.is_empty()) {
                self.w.id = format!("chatcmpl-{r}");
            }
        }
        let rid = resp
            .response_id
            .as_deref()
            .filter(|r| !r.is_empty())
            .map_or_else(|| self.fallback_rid.clone(), str::to_string);
        if let Some(u) = resp.usage_metadata {
            self.usage = Some(u);
        }
        if resp.candidates.is_empty() {
            if resp
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.as_deref())
                .is_some()
            {
                let i = self.start_choice(out, 0);
                if let Some(c) = self.choices[i].as_mut() {
                    c.finish = Some(FinishReason::ContentFilter);
                }
            }
            return;
        }
        for (pos, cand) in resp.candidates.iter().enumerate() {
            let index = cand.index.unwrap_or(pos as u32);
            if index >= MAX_CANDIDATES {
                // `candidateCount` is at most 8; a wild index is not state to keep.
                continue;
            }
            let i = self.start_choice(out, index);
            for p in cand.content.iter().flat_map(|c| c.parts.iter()) {
                if let Some(fc) = &p.function_call {
                    let Some(state) = self.choices[i].as_mut() else {
                        continue;
                    };
                    let k = state.tools;
                    state.tools += 1;
                    let sig = p.thought_signature.as_deref();
                    let id = call_id(fc.id.as_deref(), &rid, k, sig);
                    let args = fc
                        .args
                        .as_ref()
                        .map_or_else(|| "{}".to_string(), Value::to_string);
                    let extra = signature_extra(sig);
                    self.w.tool_start(
                        out,
                        ToolStart {
                            choice: index,
                            tool_index: k,
                            id: &id,
                            name: &fc.name,
                            arguments: &args,
                            extra_content: extra.as_ref(),
                        },
                    );
                } else if let Some(t) = p.text.as_deref().filter(|t| !t.is_empty()) {
                    if p.thought {
                        self.w.reasoning(out, index, t);
                    } else {
                        self.w.content(out, index, t);
                    }
                }
            }
            if let Some(f) = cand.finish_reason.as_deref() {
                if let Some(state) = self.choices[i].as_mut() {
                    state.finish = Some(finish_reason(f));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------

const EMBEDDING_FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

struct EmbeddingsRequest<'a> {
    inputs: Vec<&'a str>,
    batch: bool,
    base64: bool,
    dimensions: Option<u64>,
}

fn parse_embeddings(req: &Value) -> Result<EmbeddingsRequest<'_>, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    if let Some((k, _)) = obj
        .iter()
        .find(|(k, v)| !v.is_null() && !EMBEDDING_FIELDS.contains(&k.as_str()))
    {
        return Err(unsupported(
            k.as_str(),
            format!("unknown field `{k}` is not supported for this model"),
        ));
    }
    let token_arrays = || {
        unsupported(
            "input",
            "token-id inputs are not supported by Gemini models; send text",
        )
    };
    let (inputs, batch) = match obj.get("input") {
        Some(Value::String(s)) => (vec![s.as_str()], false),
        Some(Value::Array(a)) => {
            let mut v = Vec::with_capacity(a.len());
            for item in a {
                match item {
                    Value::String(s) => v.push(s.as_str()),
                    Value::Number(_) | Value::Array(_) => return Err(token_arrays()),
                    _ => {
                        return Err(invalid(
                            "input",
                            "`input` must be a string or an array of strings",
                        ))
                    }
                }
            }
            (v, true)
        }
        _ => {
            return Err(invalid(
                "input",
                "`input` must be a string or an array of strings",
            ))
        }
    };
    if inputs.is_empty() || inputs.iter().any(|s| s.is_empty()) {
        return Err(invalid("input", "`input` must not be empty"));
    }
    if inputs.len() > MAX_EMBED_BATCH {
        return Err(invalid(
            "input",
            format!("Gemini embeds at most {MAX_EMBED_BATCH} inputs per request"),
        ));
    }
    let base64 = match obj
        .get("encoding_format")
        .and_then(|v| (!v.is_null()).then_some(v))
    {
        None => false,
        Some(v) => match v.as_str() {
            Some("float") => false,
            Some("base64") => true,
            _ => {
                return Err(invalid(
                    "encoding_format",
                    "`encoding_format` must be `float` or `base64`",
                ))
            }
        },
    };
    let dimensions = match obj.get("dimensions").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|d| *d >= 1)
                .ok_or_else(|| invalid("dimensions", "`dimensions` must be an integer >= 1"))?,
        ),
    };
    Ok(EmbeddingsRequest {
        inputs,
        batch,
        base64,
        dimensions,
    })
}

/// `embedContent` for a single string input, `batchEmbedContents` for an array.
pub fn embeddings_request(
    openai_req: &Value,
    upstream_model: &str,
) -> Result<UpstreamCall, TranslateError> {
    let model = model_segment(upstream_model)?;
    let r = parse_embeddings(openai_req)?;
    let one = |text: &str, with_model: bool| {
        let mut o = Map::new();
        if with_model {
            o.insert("model".into(), json!(format!("models/{model}")));
        }
        o.insert("content".into(), json!({"parts": [{"text": text}]}));
        if let Some(d) = r.dimensions {
            o.insert("outputDimensionality".into(), json!(d));
        }
        Value::Object(o)
    };
    let (path, body) = if r.batch {
        let requests: Vec<Value> = r.inputs.iter().map(|t| one(t, true)).collect();
        (
            format!("/models/{model}:batchEmbedContents"),
            json!({ "requests": requests }),
        )
    } else {
        (
            format!("/models/{model}:embedContent"),
            one(r.inputs[0], false),
        )
    };
    Ok(UpstreamCall {
        path,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct WireEmbedding {
    values: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEmbedResponse {
    embedding: Option<WireEmbedding>,
    embeddings: Option<Vec<WireEmbedding>>,
    usage_metadata: Option<WireUsage>,
}

/// Translates an `embedContent` / `batchEmbedContents` response. `openai_req`
/// is the client's request (for `encoding_format` and the input count).
/// Gemini reports no token counts for embeddings: `usage` is 0 unless the
/// response carries `usageMetadata`.
pub fn embeddings_response(
    body: &[u8],
    openai_req: &Value,
    public_model: &str,
) -> Result<EmbeddingList, TranslateError> {
    let r = parse_embeddings(openai_req)?;
    let resp: WireEmbedResponse =
        serde_json::from_slice(body).map_err(|e| TranslateError::Upstream {
            message: format!("Gemini returned an embeddings response llmo cannot read: {e}"),
        })?;
    let vectors = match (resp.embedding, resp.embeddings) {
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        _ => {
            return Err(TranslateError::Upstream {
                message: "Gemini returned an embeddings response without embeddings".into(),
            })
        }
    };
    if vectors.len() != r.inputs.len() {
        return Err(TranslateError::Upstream {
            message: format!(
                "Gemini returned {} embeddings for {} inputs",
                vectors.len(),
                r.inputs.len()
            ),
        });
    }
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| Embedding {
            object: "embedding",
            index: i as u32,
            embedding: if r.base64 {
                let bytes: Vec<u8> = e
                    .values
                    .iter()
                    .flat_map(|f| (*f as f32).to_le_bytes())
                    .collect();
                EmbeddingVector::Base64(openai::base64_encode(&bytes))
            } else {
                EmbeddingVector::Float(e.values)
            },
        })
        .collect();
    let tokens = resp
        .usage_metadata
        .and_then(|u| u.prompt_token_count)
        .unwrap_or(0);
    Ok(EmbeddingList {
        object: "list",
        data,
        model: public_model.to_string(),
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const META: ResponseMeta<'static> = ResponseMeta {
        public_model: "gemini-public",
        fallback_id: "chatcmpl-llmo-fallback",
        created: 1_700_000_000,
    };

    fn req_json(openai: &Value, model: &str, stream: bool) -> (String, Value) {
        let call = request(openai, model, stream).unwrap();
        (call.path, serde_json::from_slice(&call.body).unwrap())
    }

    fn translate_stream(chunks: &[&[u8]], include_usage: bool) -> Vec<u8> {
        let mut t = StreamTranslator::new(
            "gemini-public",
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

    // ----- requests -----

    #[test]
    fn paths_for_stream_and_non_stream() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            req_json(&req, "models/gemini-2.5-flash", false).0,
            "/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", true).0,
            "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            request(&req, "gemini/../x?y", false).unwrap_err().param(),
            "model"
        );
        assert_eq!(headers("k"), [("x-goog-api-key", "k")]);
    }

    /// OpenAI requests meaning exactly what the reference Gemini requests mean.
    #[test]
    fn requests_equal_the_reference_gemini_requests() {
        let openai = json!({"model": "x", "temperature": 0.2, "top_p": 0.95, "max_tokens": 256, "stop": ["\n\n\n"], "n": 1,
            "messages": [{"role": "user", "content": "Where is Google's headquarters located?"}]});
        assert_eq!(
            req_json(&openai, "gemini-2.0-flash", false).1,
            fixture_json(include_str!(
                "../../tests/fixtures/gemini/generate_content_request.json"
            ))
        );
        let openai = json!({"model": "x", "max_completion_tokens": 1024, "reasoning_effort": "none", "messages": [
            {"role": "system", "content": "You are a helpful assistant that answers in one short sentence."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Great to meet you. What would you like to know?"},
            {"role": "user", "content": "I have two dogs in my house. How many paws are in my house?"}]});
        assert_eq!(
            req_json(&openai, "gemini-2.5-flash", false).1,
            fixture_json(include_str!(
                "../../tests/fixtures/gemini/generate_content_request_multiturn.json"
            ))
        );
    }

    #[test]
    fn golden_request_system_generation_config() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_system.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.0-flash", false);
        check_golden("gemini/request_system.json", &got);
        assert_eq!(
            got["systemInstruction"]["parts"][0]["text"],
            "You are a helpful assistant that answers in one short sentence."
        );
        assert_eq!(got["generationConfig"]["maxOutputTokens"], 64);
    }

    #[test]
    fn golden_request_tools_matches_the_reference_request() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        check_golden("gemini/request_tools.json", &got);
        let mut reference = fixture_json(include_str!(
            "../../tests/fixtures/gemini/function_call_request.json"
        ));
        // Same request, expressed with the full-JSON-Schema field.
        let params = reference["tools"][0]["functionDeclarations"][0]
            .as_object_mut()
            .unwrap()
            .remove("parameters")
            .unwrap();
        reference["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] = params;
        assert_eq!(got, reference);
    }

    #[test]
    fn named_tool_choice_matches_the_forced_reference_request() {
        let mut openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        openai["tool_choice"] =
            json!({"type": "function", "function": {"name": "get_current_weather"}});
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        let reference = fixture_json(include_str!(
            "../../tests/fixtures/gemini/function_call_request_forced.json"
        ));
        assert_eq!(got["toolConfig"], reference["toolConfig"]);
        let mut empty = openai.clone();
        empty["tools"][0]["function"]["parameters"] = json!({});
        assert!(
            req_json(&empty, "gemini-2.5-flash", false).1["tools"][0]["functionDeclarations"][0]
                .get("parametersJsonSchema")
                .is_none()
        );
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            openai["tool_choice"] = json!(choice);
            assert_eq!(
                req_json(&openai, "gemini-2.5-flash", false).1["toolConfig"]
                    ["functionCallingConfig"]["mode"],
                mode
            );
        }
    }

    #[test]
    fn golden_request_tool_result_round_trip() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_tool_result.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        check_golden("gemini/request_tool_result.json", &got);
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"]["name"],
            "get_weather"
        );
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"]["response"]["temperature_f"],
            64
        );
    }

    #[test]
    fn tool_call_ids_from_a_gemini_response_map_back_with_their_signature() {
        // Round trip: Gemini response -> OpenAI client -> next Gemini request.
        let resp = response(
            include_bytes!("../../tests/fixtures/gemini/function_call_response.json"),
            &META,
        )
        .unwrap();
        let call = &resp.choices[0].message.tool_calls[0];
        assert!(call
            .id
            .starts_with("call_38CHaLjMG6TujrEPtvTiuQk_0__thought__CtQOAVSo"));
        let sig = fixture_json(include_str!(
            "../../tests/fixtures/gemini/function_call_response.json"
        ))["candidates"][0]["content"]["parts"][1]["thoughtSignature"]
            .clone();
        assert_eq!(
            call.extra_content.as_ref().unwrap()["google"]["thought_signature"],
            sig
        );
        // A client that keeps only the id (drops extra_content) still round-trips.
        let openai = json!({"messages": [
            {"role": "user", "content": "How many days until New Year's Eve?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": call.id, "type": "function",
                "function": {"name": "now", "arguments": call.function.arguments}}]},
            {"role": "tool", "tool_call_id": call.id, "content": "2025-07-28T10:00:00Z"}
        ]});
        let (_, got) = req_json(&openai, "gemini-2.5-pro", false);
        assert_eq!(got["contents"][1]["parts"][0]["thoughtSignature"], sig);
        assert_eq!(
            got["contents"][1]["parts"][0]["functionCall"],
            json!({"name": "now", "args": {}})
        );
        assert_eq!(
            got["contents"][2]["parts"][0]["functionResponse"],
            json!({"name": "now", "response": {"output": "2025-07-28T10:00:00Z"}})
        );
        // The reconstructed reference request has the same turn shapes.
        let reference = fixture_json(include_str!(
            "../../tests/fixtures/gemini/function_response_request.json"
        ));
        for i in 0..3 {
            assert_eq!(got["contents"][i]["role"], reference["contents"][i]["role"]);
        }
    }

    #[test]
    fn gemini3_gets_the_skip_signature_for_foreign_tool_calls() {
        let openai = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "b", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "[1,2]"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "{\"ok\":true}"}
        ]});
        let (_, g3) = req_json(&openai, "gemini-3-pro-preview", false);
        assert_eq!(
            g3["contents"][1]["parts"][0]["thoughtSignature"],
            SKIP_SIGNATURE
        );
        assert!(g3["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none());
        // Both results in one user turn, in order; non-object JSON wrapped.
        assert_eq!(
            g3["contents"][2]["parts"][0]["functionResponse"]["response"],
            json!({"output": [1, 2]})
        );
        assert_eq!(
            g3["contents"][2]["parts"][1]["functionResponse"]["response"],
            json!({"ok": true})
        );
        let (_, g25) = req_json(&openai, "gemini-2.5-flash", false);
        assert!(g25["contents"][1]["parts"][0]
            .get("thoughtSignature")
            .is_none());
    }

    #[test]
    fn unknown_tool_call_id_is_a_400() {
        let openai = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "nope", "content": "x"}
        ]});
        assert_eq!(
            request(&openai, "gemini-2.5-flash", false)
                .unwrap_err()
                .param(),
            "messages[1].tool_call_id"
        );
    }

    #[test]
    fn consecutive_roles_merge_and_system_is_hoisted() {
        let openai = json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            {"role": "system", "content": [{"type": "text", "text": "s2"}]},
            {"role": "user", "content": "e"}
        ], "n": 2, "seed": 3, "presence_penalty": 0.5, "frequency_penalty": -0.5, "top_k": 40,
           "user": "dropped", "parallel_tool_calls": false});
        let (_, got) = req_json(&openai, "gemini-2.0-flash", false);
        check_golden("gemini/request_merged_turns.json", &got);
        assert_eq!(got["contents"].as_array().unwrap().len(), 3);
        assert_eq!(
            got["systemInstruction"]["parts"].as_array().unwrap().len(),
            2
        );
        assert_eq!(got["generationConfig"]["candidateCount"], 2);
    }

    #[test]
    fn images_inline_file_uris_and_rejected_web_urls() {
        let b64 = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_image_base64.json"
        ));
        let (_, got) = req_json(&b64, "gemini-2.0-flash", false);
        check_golden("gemini/request_image_base64.json", &got);
        let reference = fixture_json(include_str!(
            "../../tests/fixtures/gemini/image_request.json"
        ));
        assert_eq!(
            got["contents"][0]["parts"][1]["inlineData"]["data"],
            reference["contents"][0]["parts"][0]["inline_data"]["data"]
        );
        let url = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_image.json"
        ));
        let err = request(&url, "gemini-2.0-flash", false).unwrap_err();
        assert_eq!(err.param(), "messages[0].content[1].image_url.url");
        assert!(err.to_string().contains("data:"));
        let files = json!({"messages": [{"role": "user", "content": [{"type": "image_url",
            "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc123xyz"}}]}]});
        assert_eq!(
            req_json(&files, "gemini-2.0-flash", false).1["contents"][0]["parts"][0],
            json!({"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123xyz"}})
        );
        let gs = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "gs://b/cat.JPG"}}]}]});
        assert_eq!(
            req_json(&gs, "gemini-2.0-flash", false).1["contents"][0]["parts"][0]["fileData"]
                ["mimeType"],
            "image/jpeg"
        );
    }

    #[test]
    fn response_formats() {
        let openai = fixture_json(include_str!(
            "../../tests/fixtures/openai/chat_completion_request_json_schema.json"
        ));
        let (_, got) = req_json(&openai, "gemini-2.5-flash", false);
        check_golden("gemini/request_json_schema.json", &got);
        assert_eq!(
            got["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            got["generationConfig"]["responseJsonSchema"],
            openai["response_format"]["json_schema"]["schema"]
        );
        let obj = json!({"messages": [{"role": "user", "content": "JSON please"}], "response_format": {"type": "json_object"}});
        let (_, got) = req_json(&obj, "gemini-2.5-flash", false);
        assert_eq!(
            got["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
    }

    #[test]
    fn reasoning_effort_maps_to_thinking_config() {
        let mut req =
            json!({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium"});
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", false).1["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingBudget": 8192})
        );
        assert_eq!(
            req_json(&req, "gemini-3-pro-preview", false).1["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingLevel": "medium"})
        );
        req["reasoning_effort"] = json!("none");
        assert_eq!(
            req_json(&req, "gemini-2.5-flash", false).1["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 0})
        );
    }

    #[test]
    fn unsupported_fields_are_named() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}], "logprobs": true});
        assert_eq!(
            request(&req, "gemini-2.0-flash", false)
                .unwrap_err()
                .param(),
            "logprobs"
        );
        let req = json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]});
        assert_eq!(
            request(&req, "gemini-2.0-flash", false)
                .unwrap_err()
                .param(),
            "messages[0].content[0].type"
        );
    }

    // ----- responses -----

    #[test]
    fn golden_response_text() {
        let got = response(
            include_bytes!("../../tests/fixtures/gemini/generate_content_response.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "gemini/response_text.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(got.id, "chatcmpl-llmo-fallback");
        assert_eq!(got.model, "gemini-public");
    }

    #[test]
    fn golden_response_thinking_and_usage() {
        let got = response(
            include_bytes!("../../tests/fixtures/gemini/generate_content_response_thinking.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "gemini/response_thinking.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (14, 26, 40)
        );
        assert_eq!(u.completion_tokens_details.unwrap().reasoning_tokens, 24);
        assert_eq!(
            got.choices[0].message.content.as_deref(),
            Some("Mountain View")
        );
        assert!(got.choices[0]
            .message
            .reasoning_content
            .as_deref()
            .unwrap()
            .starts_with("**Thinking About"));
    }

    #[test]
    fn cached_tokens_are_reported() {
        let got = response(
            include_bytes!(
                "../../tests/fixtures/gemini/generate_content_response_implicit_cache_vertex.json"
            ),
            &META,
        )
        .unwrap();
        let u = got.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (12013, 88, 12101)
        );
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, 11243);
    }

    #[test]
    fn golden_response_function_call() {
        let got = response(
            include_bytes!("../../tests/fixtures/gemini/function_call_response_vertex.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "gemini/response_function_call.json",
            &serde_json::to_value(&got).unwrap(),
        );
        let c = &got.choices[0];
        assert_eq!(
            c.finish_reason,
            Some(FinishReason::ToolCalls),
            "STOP + functionCall -> tool_calls"
        );
        assert_eq!(c.message.tool_calls[0].id, "call_llmo-fallback_0");
        assert_eq!(
            c.message.tool_calls[0].function.arguments,
            "{\"x\":4,\"y\":5}"
        );
        assert!(got.usage.is_none());
    }

    #[test]
    fn golden_response_safety_and_blocked_prompt() {
        let got = response(
            include_bytes!("../../tests/fixtures/gemini/response_finish_reason_safety.json"),
            &META,
        )
        .unwrap();
        check_golden(
            "gemini/response_safety.json",
            &serde_json::to_value(&got).unwrap(),
        );
        assert_eq!(
            got.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        let blocked = br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}"#;
        let got = response(blocked, &META).unwrap();
        assert_eq!(got.choices.len(), 1);
        assert_eq!(got.choices[0].message.content, None);
        assert_eq!(
            got.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        assert!(response(br#"{"candidates": []}"#, &META).is_err());
    }

    #[test]
    fn finish_reasons() {
        for (g, o) in [
            ("STOP", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::Length),
            ("SAFETY", FinishReason::ContentFilter),
            ("RECITATION", FinishReason::ContentFilter),
            ("BLOCKLIST", FinishReason::ContentFilter),
            ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
            ("SPII", FinishReason::ContentFilter),
            ("IMAGE_SAFETY", FinishReason::ContentFilter),
            ("LANGUAGE", FinishReason::ContentFilter),
            ("OTHER", FinishReason::ContentFilter),
            ("MALFORMED_FUNCTION_CALL", FinishReason::Stop),
            ("FINISH_REASON_UNSPECIFIED", FinishReason::Stop),
            ("SOMETHING_NEW", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(g), o, "{g}");
        }
        assert_eq!(with_calls(FinishReason::Length, true), FinishReason::Length);
    }

    #[test]
    fn several_candidates_become_several_choices() {
        let body = br#"{"candidates": [
            {"content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 1},
            {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0}], "responseId": "r"}"#;
        let got = response(body, &META).unwrap();
        assert_eq!(got.id, "chatcmpl-r");
        assert_eq!(got.choices[0].message.content.as_deref(), Some("A"));
        assert_eq!(got.choices[1].finish_reason, Some(FinishReason::Length));
    }

    // ----- streams -----

    #[test]
    fn golden_stream_text_crlf() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/gemini/stream_generate_content.sse"
            )],
            true,
        );
        check_golden_sse("gemini/stream_text_include_usage.sse", &out);
    }

    #[test]
    fn golden_stream_thinking() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/gemini/stream_generate_content_thinking.sse"
            )],
            false,
        );
        check_golden_sse("gemini/stream_thinking.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(
            acc.ids.iter().next().unwrap(),
            "chatcmpl-0J-HaJetAqv0jrEPwu-tsQ0"
        );
        assert!(acc
            .reasoning
            .unwrap()
            .starts_with("**Exploring Sky Color**"));
    }

    #[test]
    fn golden_stream_function_call_with_signature() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/gemini/function_call_stream.sse"
            )],
            true,
        );
        check_golden_sse("gemini/stream_function_call.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(acc.tool_calls[0].1, "now");
        assert_eq!(acc.tool_calls[0].2, "{}");
        let u = acc.usage.unwrap();
        assert_eq!(u["completion_tokens"], 6 + 168);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 168);
    }

    #[test]
    fn golden_stream_text_then_two_calls() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/translate/gemini_text_then_two_calls.sse"
            )],
            false,
        );
        check_golden_sse("gemini/stream_text_then_two_calls.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.tool_calls.len(), 2);
        assert_eq!(
            acc.tool_calls[0].0,
            "call_twoCallsResp01_0__thought__c2lnLW9uZQ=="
        );
        assert_eq!(acc.tool_calls[1].0, "call_twoCallsResp01_1");
    }

    #[test]
    fn golden_stream_max_tokens() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/translate/gemini_max_tokens.sse"
            )],
            true,
        );
        check_golden_sse("gemini/stream_max_tokens.sse", &out);
        assert_eq!(accumulate(&out).finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn golden_stream_safety_stop_and_blocked_prompt() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/translate/gemini_safety_stop.sse"
            )],
            false,
        );
        check_golden_sse("gemini/stream_safety_stop.sse", &out);
        assert_eq!(
            accumulate(&out).finish_reason.as_deref(),
            Some("content_filter")
        );
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/gemini/stream_prompt_blocked_safety.sse"
            )],
            true,
        );
        check_golden_sse("gemini/stream_prompt_blocked.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.finish_reason.as_deref(), Some("content_filter"));
        assert_eq!(acc.content, None);
        assert!(acc.done);
    }

    #[test]
    fn golden_stream_errors_mid_stream() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/translate/gemini_error_event.sse"
            )],
            true,
        );
        check_golden_sse("gemini/stream_error_event.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.content.as_deref(), Some("Hello"));
        assert_eq!(acc.error.unwrap()["code"], "overloaded");
        assert!(acc.done, "[DONE] follows the error event");

        // Vertex: two events, then a bare pretty-printed JSON error (CANCELLED).
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt"
            )],
            false,
        );
        check_golden_sse("gemini/stream_error_bare_json.sse", &out);
        let acc = accumulate(&out);
        assert_eq!(acc.content.as_deref(), Some("First Second "));
        assert_eq!(
            acc.error.unwrap()["message"],
            "The operation was cancelled."
        );
        assert!(acc.finish_reason.is_none());
    }

    #[test]
    fn the_bare_error_is_sent_as_soon_as_it_is_complete() {
        let body = include_bytes!("../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt");
        let mut t = StreamTranslator::new("m", false, "id", 0);
        let out = t.feed(body);
        assert!(String::from_utf8_lossy(&out).contains("cancelled"));
        assert!(t.is_done());
        assert_eq!(
            t.error().unwrap()["error"]["message"],
            "The operation was cancelled."
        );
    }

    #[test]
    fn a_non_sse_body_is_an_error_not_an_empty_answer() {
        let mut t = StreamTranslator::new("m", false, "id", 0);
        let out = t.feed(b"<html><body>502 Bad Gateway</body></html>\n");
        let acc = accumulate(&out);
        assert_eq!(
            acc.error.unwrap()["message"],
            "the upstream stream sent unreadable data"
        );
        assert!(t.is_done() && t.finish().is_empty());
        // An incomplete JSON body waits for more bytes, then fails at the end.
        let mut t = StreamTranslator::new("m", false, "id", 0);
        assert!(t.feed(b"{\n  \"error\": {\n").is_empty());
        assert!(accumulate(&t.finish()).error.is_some());
    }

    #[test]
    fn truncated_stream_ends_with_an_error() {
        let body = include_bytes!("../../tests/fixtures/gemini/stream_generate_content.sse");
        let text = std::str::from_utf8(body).unwrap();
        let cut = text.rfind("data: ").unwrap();
        let acc = accumulate(&translate_stream(&[&body[..cut]], false));
        assert_eq!(acc.content.as_deref(), Some("The capital of Wyoming"));
        assert_eq!(acc.error.unwrap()["code"], "upstream_stream_truncated");
        let acc = accumulate(&translate_stream(&[b""], false));
        assert!(acc.error.is_some());
    }

    #[test]
    fn a_wild_candidate_index_is_ignored() {
        let body = b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"x\"}]}, \"index\": 4000000000, \"finishReason\": \"STOP\"}, {\"content\": {\"parts\": [{\"text\": \"ok\"}]}, \"index\": 0, \"finishReason\": \"STOP\"}]}\n\n";
        let acc = accumulate(&translate_stream(&[body], false));
        assert_eq!(acc.content.as_deref(), Some("ok"));
        assert!(acc.done);
    }

    /// Property: random Gemini answers (text split across events, whole
    /// function calls, some with signatures) stream, in random chunkings and
    /// either framing, to the same message as the non-stream response.
    #[test]
    fn random_answers_stream_and_non_stream_agree() {
        use super::super::test_gen::{fragments, text};
        let mut rng = fastrand::Rng::with_seed(0x6E);
        for round in 0..150 {
            let rid = format!("resp{round}");
            let mut parts = Vec::new();
            let mut events: Vec<Vec<Value>> = Vec::new();
            for _ in 0..rng.usize(1..5) {
                if rng.u8(..3) > 0 {
                    let t = text(&mut rng, 40);
                    parts.push(json!({"text": t}));
                    for f in fragments(&mut rng, &t, 4) {
                        events.push(vec![json!({"text": f})]);
                    }
                } else {
                    let mut p = json!({"functionCall": {"name": format!("f{}", parts.len()),
                        "args": {"q": text(&mut rng, 10), "n": rng.i32(-9..9)}}});
                    if rng.bool() {
                        p["thoughtSignature"] = json!(format!("c2ln{round}+/=="));
                    }
                    parts.push(p.clone());
                    events.push(vec![p]);
                }
            }
            let usage = json!({"promptTokenCount": rng.u32(1..100), "candidatesTokenCount": rng.u32(1..100),
                "thoughtsTokenCount": rng.u32(0..100)});
            let finish = ["STOP", "MAX_TOKENS", "SAFETY"][rng.usize(..3)];
            let nl = if rng.bool() { "\r\n" } else { "\n" };
            let mut sse = String::new();
            let last = events.len() - 1;
            for (i, ev_parts) in events.iter().enumerate() {
                let mut cand = json!({"content": {"parts": ev_parts, "role": "model"}, "index": 0});
                let mut ev = json!({"candidates": [], "modelVersion": "gemini-2.5-flash", "responseId": rid});
                if i == last {
                    cand["finishReason"] = json!(finish);
                    ev["usageMetadata"] = usage.clone();
                }
                ev["candidates"] = json!([cand]);
                sse.push_str(&format!("data: {ev}{nl}{nl}"));
            }
            let non_stream = json!({"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}],
                "usageMetadata": usage, "modelVersion": "gemini-2.5-flash", "responseId": rid});

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
            let calls: Vec<(String, String, String)> = m
                .tool_calls
                .iter()
                .map(|c| {
                    (
                        c.id.clone(),
                        c.function.name.clone(),
                        c.function.arguments.clone(),
                    )
                })
                .collect();
            assert_eq!(acc.tool_calls, calls);
            assert_eq!(
                acc.finish_reason.as_deref(),
                resp.choices[0].finish_reason.map(FinishReason::as_str)
            );
            assert_eq!(
                acc.usage.unwrap(),
                serde_json::to_value(resp.usage.unwrap()).unwrap()
            );
            assert!(acc.done && acc.first_is_role);
        }
    }

    #[test]
    fn two_candidates_stream_as_two_choices() {
        let out = translate_stream(
            &[include_bytes!(
                "../../tests/fixtures/translate/gemini_two_candidates.sse"
            )],
            false,
        );
        check_golden_sse("gemini/stream_two_candidates.sse", &out);
        let a = accumulate_choice(&out, 0);
        let b = accumulate_choice(&out, 1);
        assert_eq!(a.content.as_deref(), Some("Red apple"));
        assert_eq!(b.content.as_deref(), Some("Blue sky"));
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert_eq!(b.finish_reason.as_deref(), Some("length"));
    }

    fn stream_bodies() -> [&'static [u8]; 7] {
        [
            include_bytes!("../../tests/fixtures/gemini/stream_generate_content.sse"),
            include_bytes!("../../tests/fixtures/gemini/stream_generate_content_thinking.sse"),
            include_bytes!("../../tests/fixtures/gemini/function_call_stream.sse"),
            include_bytes!("../../tests/fixtures/gemini/stream_prompt_blocked_safety.sse"),
            include_bytes!("../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt"),
            include_bytes!("../../tests/fixtures/translate/gemini_text_then_two_calls.sse"),
            include_bytes!("../../tests/fixtures/translate/gemini_two_candidates.sse"),
        ]
    }

    #[test]
    fn awkward_splits_give_identical_output() {
        for body in stream_bodies() {
            let whole = translate_stream(&[body], true);
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(translate_stream(&bytes, true), whole);
            // Between \r and \n of every CRLF.
            for (p, _) in body
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\r')
                .take(4)
            {
                assert_eq!(
                    translate_stream(&[&body[..p + 1], &body[p + 1..]], true),
                    whole
                );
            }
            // Inside the multi-byte "京" (E4 BA AC) where present.
            if let Some(p) = body.windows(3).position(|w| w == [0xE4, 0xBA, 0xAC]) {
                assert_eq!(
                    translate_stream(&[&body[..p + 1], &body[p + 1..p + 2], &body[p + 2..]], true),
                    whole
                );
            }
            // LF-only framing gives the same output.
            let lf = String::from_utf8(body.to_vec())
                .unwrap()
                .replace("\r\n", "\n");
            assert_eq!(translate_stream(&[lf.as_bytes()], true), whole);
        }
    }

    #[test]
    fn random_chunkings_give_identical_output() {
        let mut rng = fastrand::Rng::with_seed(0x6e_31_1a);
        for body in stream_bodies() {
            let whole = translate_stream(&[body], true);
            for _ in 0..200 {
                let pieces = random_split(&mut rng, body);
                assert_eq!(translate_stream(&pieces, true), whole);
            }
        }
    }

    #[test]
    fn stream_deltas_equal_the_non_stream_response_for_the_same_content() {
        let pairs: [(&[u8], &[u8]); 2] = [
            (
                include_bytes!("../../tests/fixtures/gemini/stream_generate_content.sse"),
                include_bytes!(
                    "../../tests/fixtures/translate/gemini_stream_generate_content_response.json"
                ),
            ),
            (
                include_bytes!("../../tests/fixtures/translate/gemini_text_then_two_calls.sse"),
                include_bytes!(
                    "../../tests/fixtures/translate/gemini_text_then_two_calls_response.json"
                ),
            ),
        ];
        for (sse, json_body) in pairs {
            let acc = accumulate(&translate_stream(&[sse], true));
            let resp = response(json_body, &META).unwrap();
            let m = &resp.choices[0].message;
            assert_eq!(acc.content, m.content);
            let calls: Vec<(String, String, String)> = m
                .tool_calls
                .iter()
                .map(|c| {
                    (
                        c.id.clone(),
                        c.function.name.clone(),
                        c.function.arguments.clone(),
                    )
                })
                .collect();
            assert_eq!(acc.tool_calls, calls);
            assert_eq!(
                acc.finish_reason.as_deref(),
                resp.choices[0].finish_reason.map(FinishReason::as_str)
            );
            assert_eq!(
                acc.usage.unwrap(),
                serde_json::to_value(resp.usage.unwrap()).unwrap()
            );
            assert_eq!(acc.ids.iter().next().unwrap(), &resp.id);
        }
    }

    // ----- errors -----

    #[test]
    fn error_mapping_table() {
        type Case = (
            u16,
            &'static [u8],
            u16,
            bool,
            &'static str,
            Option<&'static str>,
        );
        let cases: [Case; 9] = [
            (
                400,
                include_bytes!(
                    "../../tests/fixtures/gemini/errors/400_invalid_argument_api_key.json"
                ),
                502,
                false,
                "upstream_error",
                Some("upstream_auth_failed"),
            ),
            (
                400,
                include_bytes!(
                    "../../tests/fixtures/gemini/errors/400_invalid_argument_token_limit.json"
                ),
                400,
                false,
                "invalid_request_error",
                Some("context_length_exceeded"),
            ),
            (
                400,
                include_bytes!(
                    "../../tests/fixtures/gemini/errors/400_invalid_argument_turn_order.json"
                ),
                400,
                false,
                "invalid_request_error",
                None,
            ),
            (
                403,
                include_bytes!(
                    "../../tests/fixtures/gemini/errors/403_permission_denied_api_not_enabled.json"
                ),
                502,
                false,
                "upstream_error",
                Some("upstream_auth_failed"),
            ),
            (
                404,
                include_bytes!("../../tests/fixtures/gemini/errors/404_not_found_model.json"),
                404,
                false,
                "invalid_request_error",
                Some("model_not_found"),
            ),
            (
                429,
                include_bytes!("../../tests/fixtures/gemini/errors/429_resource_exhausted.json"),
                429,
                true,
                "rate_limit_exceeded",
                Some("rate_limit_exceeded"),
            ),
            (
                429,
                include_bytes!(
                    "../../tests/fixtures/gemini/errors/429_resource_exhausted_vertex_style.json"
                ),
                429,
                true,
                "rate_limit_exceeded",
                Some("rate_limit_exceeded"),
            ),
            (
                500,
                include_bytes!("../../tests/fixtures/gemini/errors/500_internal.json"),
                500,
                true,
                "server_error",
                None,
            ),
            (
                503,
                include_bytes!("../../tests/fixtures/gemini/errors/503_unavailable.json"),
                503,
                true,
                "server_error",
                Some("overloaded"),
            ),
        ];
        for (status, body, want, retryable, ty, code) in cases {
            let m = error(status, body);
            assert_eq!(m.status, want, "{status} {ty}");
            assert_eq!(m.retryable, retryable, "{status}");
            assert_eq!(m.body["error"]["type"], ty, "{status}");
            assert_eq!(m.body["error"]["code"].as_str(), code, "{status}");
        }
        let m = error(
            429,
            include_bytes!("../../tests/fixtures/gemini/errors/429_resource_exhausted.json"),
        );
        assert_eq!(m.retry_after, Some(49));
        check_golden("gemini/error_429.json", &m.body);
        // The API-key error's details contain the key; they are never copied.
        let m = error(
            400,
            include_bytes!("../../tests/fixtures/gemini/errors/400_invalid_argument_api_key.json"),
        );
        assert!(!m.body.to_string().contains("key1234"));
        check_golden("gemini/error_api_key.json", &m.body);
        // Array-wrapped (non-SSE stream) error and unreadable bodies.
        let m = error(
            503,
            br#"[{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]"#,
        );
        assert_eq!(
            (m.status, m.body["error"]["message"].as_str()),
            (503, Some("busy"))
        );
        let m = error(502, b"<html>");
        assert_eq!((m.status, m.retryable, m.failover), (502, true, true));
        let m = error(
            400,
            br#"{"error": {"code": 400, "message": "User location is not supported for the API use.", "status": "FAILED_PRECONDITION"}}"#,
        );
        assert_eq!((m.status, m.retryable, m.failover), (502, false, true));
        assert_eq!(m.body["error"]["code"], "upstream_account_error");
        let m = error(
            400,
            include_bytes!(
                "../../tests/fixtures/gemini/errors/400_invalid_argument_turn_order.json"
            ),
        );
        assert!(!m.failover, "the client's own request error: no failover");
        assert_eq!(
            retry_delay(Some(
                &json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}])
            )),
            Some(2)
        );
    }

    // ----- embeddings -----

    #[test]
    fn embeddings_single_and_batch() {
        let single = fixture_json(include_str!(
            "../../tests/fixtures/openai/embeddings_request.json"
        ));
        let call = embeddings_request(&single, "gemini-embedding-001").unwrap();
        assert_eq!(call.path, "/models/gemini-embedding-001:embedContent");
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            body,
            json!({"content": {"parts": [{"text": "The food was delicious and the waiter..."}]}})
        );
        let out = embeddings_response(
            include_bytes!("../../tests/fixtures/translate/gemini_embed_content_response.json"),
            &single,
            "embed-public",
        )
        .unwrap();
        check_golden(
            "gemini/embeddings_single.json",
            &serde_json::to_value(&out).unwrap(),
        );

        let batch = fixture_json(include_str!(
            "../../tests/fixtures/openai/embeddings_request_batch.json"
        ));
        let call = embeddings_request(&batch, "models/gemini-embedding-001").unwrap();
        assert_eq!(call.path, "/models/gemini-embedding-001:batchEmbedContents");
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        check_golden("gemini/embeddings_batch_request.json", &body);
        let out = embeddings_response(
            include_bytes!(
                "../../tests/fixtures/translate/gemini_batch_embed_contents_response.json"
            ),
            &batch,
            "text-embedding-3-small",
        )
        .unwrap();
        let mut want = fixture_json(include_str!(
            "../../tests/fixtures/openai/embeddings_response_batch.json"
        ));
        want["usage"] = json!({"prompt_tokens": 0, "total_tokens": 0});
        assert_eq!(serde_json::to_value(&out).unwrap(), want);
    }

    #[test]
    fn embeddings_base64_matches_openai_encoding() {
        let req = fixture_json(include_str!(
            "../../tests/fixtures/openai/embeddings_request_base64.json"
        ));
        let call = embeddings_request(&req, "gemini-embedding-001").unwrap();
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["outputDimensionality"], 4);
        let out = embeddings_response(
            include_bytes!("../../tests/fixtures/translate/gemini_embed_content_response.json"),
            &req,
            "text-embedding-3-small",
        )
        .unwrap();
        let mut want = fixture_json(include_str!(
            "../../tests/fixtures/openai/embeddings_response_base64.json"
        ));
        want["usage"] = json!({"prompt_tokens": 0, "total_tokens": 0});
        assert_eq!(serde_json::to_value(&out).unwrap(), want);
    }

    #[test]
    fn embeddings_bad_input() {
        let m = "gemini-embedding-001";
        for (req, param) in [
            (json!({"input": [1, 2, 3]}), "input"),
            (json!({"input": [[1, 2]]}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": ""}), "input"),
            (
                json!({"input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (json!({"input": "x", "dimensions": 0}), "dimensions"),
            (json!({"input": "x", "frob": 1}), "frob"),
            (json!({"input": vec!["x"; 101]}), "input"),
        ] {
            assert_eq!(
                embeddings_request(&req, m).unwrap_err().param(),
                param,
                "{req}"
            );
        }
        let two = json!({"input": ["a", "b"]});
        let err =
            embeddings_response(br#"{"embeddings": [{"values": [1.0]}]}"#, &two, "m").unwrap_err();
        assert_eq!(err.status(), 502);
    }
}

//! Anthropic Messages request -> OpenAI Chat Completions request body.
use std::borrow::Cow;

use super::chat::{
    ChatBody, ChatMsg, ChatTool, ChatToolChoice, FunctionOut, ImageUrl, JsonSchemaFormat,
    MsgContent, NamedFunction, PartOut, ResponseFormat, StreamOptions, ToolCallOut, ToolFunction,
};
use super::count::estimate;
use super::Raw;
use crate::translate::openai::Json;
use crate::translate::{invalid, unsupported, ChatRequest, TranslateError};

type Obj<'a> = [(Cow<'a, str>, Json<'a>)];

/// Top-level fields read by this translation; every other field is ignored
/// (see the module docs' table for which and why), except those in
/// [`REJECTED_FIELDS`].
const REJECTED_FIELDS: &[(&str, &str)] = &[(
    "mcp_servers",
    "`mcp_servers` (Anthropic's MCP connector) cannot be served by this model's provider",
)];

/// `field` of an object when present and not `null`.
fn get<'a>(obj: &'a Obj<'a>, field: &str) -> Option<&'a Json<'a>> {
    obj.iter()
        .rev()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn obj_of<'a>(v: &'a Json<'a>, field: &str) -> Result<&'a Obj<'a>, TranslateError> {
    v.as_object()
        .ok_or_else(|| invalid(field, format!("`{field}` must be an object")))
}

fn str_of<'a>(v: &'a Json<'a>, field: &str) -> Result<&'a str, TranslateError> {
    v.as_str()
        .ok_or_else(|| invalid(field, format!("`{field}` must be a string")))
}

fn number_in<'a>(
    obj: &'a Obj<'a>,
    field: &str,
    lo: f64,
    hi: f64,
) -> Result<Option<Raw<'a>>, TranslateError> {
    match get(obj, field) {
        None => Ok(None),
        Some(v) if v.as_f64().is_some_and(|x| (lo..=hi).contains(&x)) => Ok(Some(Raw(v))),
        Some(_) => Err(invalid(
            field,
            format!("`{field}` must be a number between {lo} and {hi}"),
        )),
    }
}

/// Rewrites an Anthropic Messages request as an OpenAI Chat Completions
/// request (see the mapping table in [`crate::translate`]). Errors are 400s
/// naming the field.
pub(crate) fn to_chat(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let root = Json::parse(body)
        .map_err(|e| invalid("body", format!("the request body is not valid JSON: {e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    for (field, message) in REJECTED_FIELDS {
        if get(obj, field).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            return Err(unsupported(*field, *message));
        }
    }
    let model = get(obj, "model")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("model", "`model` must be a string"))?;
    let max_tokens = match get(obj, "max_tokens").map(Json::as_u64) {
        Some(Some(n)) if n >= 1 => n,
        _ => {
            return Err(invalid(
                "max_tokens",
                "`max_tokens` is required and must be an integer >= 1",
            ))
        }
    };
    let stream = match get(obj, "stream") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid("stream", "`stream` must be a boolean"))?,
    };
    let mut messages = Vec::new();
    if let Some(system) = get(obj, "system") {
        if let Some(m) = system_message(system, "system")? {
            messages.push(m);
        }
    }
    let turns = get(obj, "messages")
        .and_then(Json::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("messages", "`messages` must be a non-empty array"))?;
    for (i, turn) in turns.iter().enumerate() {
        push_turn(i, turn, &mut messages)?;
    }
    let (tools, tool_choice, parallel_tool_calls) = tools(obj)?;
    let chat = ChatBody {
        model,
        messages,
        max_tokens: Some(max_tokens),
        temperature: number_in(obj, "temperature", 0.0, 2.0)?,
        top_p: number_in(obj, "top_p", 0.0, 1.0)?,
        top_k: match get(obj, "top_k") {
            None => None,
            Some(v) if v.as_u64().is_some() => Some(Raw(v)),
            Some(_) => return Err(invalid("top_k", "`top_k` must be an integer")),
        },
        stop: stop_sequences(obj)?,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format: response_format(obj)?,
        reasoning_effort: reasoning_effort(obj)?,
        user: match get(obj, "metadata") {
            Some(m) => match get(obj_of(m, "metadata")?, "user_id") {
                Some(u) => Some(user_field(str_of(u, "metadata.user_id")?)),
                None => None,
            },
            None => None,
        },
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    };
    Ok(ChatRequest {
        body: crate::translate::to_body(&chat),
        stream,
        input_estimate: estimate(obj),
    })
}

/// OpenAI rejects a `user` longer than this.
const MAX_USER: usize = 64;

/// `metadata.user_id` as Chat's `user`: as sent when it fits OpenAI's 64
/// characters, else its SHA-256 in hex (64 characters; Claude Code sends a
/// JSON object of ~170), so one user stays one stable id.
fn user_field(id: &str) -> Cow<'_, str> {
    use sha2::Digest;
    if id.chars().count() <= MAX_USER {
        return Cow::Borrowed(id);
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    Cow::Owned(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn stop_sequences<'a>(obj: &'a Obj<'a>) -> Result<Vec<&'a str>, TranslateError> {
    let Some(v) = get(obj, "stop_sequences") else {
        return Ok(Vec::new());
    };
    let arr = v.as_array().ok_or_else(|| {
        invalid(
            "stop_sequences",
            "`stop_sequences` must be an array of strings",
        )
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, s)| str_of(s, &format!("stop_sequences[{i}]")))
        .collect()
}

/// `thinking` and `output_config.effort` -> `reasoning_effort`: disabled ->
/// none; an enabled budget by the thresholds in the docs; else the effort.
fn reasoning_effort(obj: &Obj<'_>) -> Result<Option<&'static str>, TranslateError> {
    let effort = match get(obj, "output_config").and_then(|c| c.get("effort")) {
        None | Some(Json::Null) => None,
        Some(e) => Some(match e.as_str() {
            Some("low") => "low",
            Some("medium") => "medium",
            Some("high" | "max") => "high",
            _ => {
                return Err(invalid(
                    "output_config.effort",
                    "`output_config.effort` must be one of low, medium, high, max",
                ))
            }
        }),
    };
    let Some(thinking) = get(obj, "thinking") else {
        return Ok(effort);
    };
    let ty = thinking.get("type").and_then(Json::as_str).unwrap_or("");
    match ty {
        "disabled" => Ok(None),
        "adaptive" => Ok(effort),
        "enabled" => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Json::as_u64)
                .ok_or_else(|| {
                    invalid(
                        "thinking.budget_tokens",
                        "`thinking.budget_tokens` must be an integer",
                    )
                })?;
            Ok(Some(effort_for_budget(budget)))
        }
        _ => Err(invalid(
            "thinking.type",
            "`thinking.type` must be one of enabled, disabled, adaptive",
        )),
    }
}

/// A thinking budget as an OpenAI effort: the nearest (on a log scale) of
/// the budgets the Chat -> Anthropic translator sends for low (1024),
/// medium (4096) and high (16384), so those budgets round-trip.
pub(super) fn effort_for_budget(budget: u64) -> &'static str {
    if budget < 2048 {
        "low"
    } else if budget < 8192 {
        "medium"
    } else {
        "high"
    }
}

/// `output_config.format` (or the older top-level `output_format`)
/// `json_schema` -> `response_format` `json_schema` (strict, as Anthropic's
/// structured outputs are).
fn response_format<'a>(obj: &'a Obj<'a>) -> Result<Option<ResponseFormat<'a>>, TranslateError> {
    let (format, field) = match get(obj, "output_config").and_then(|c| c.get("format")) {
        Some(f) if !f.is_null() => (f, "output_config.format"),
        _ => match get(obj, "output_format") {
            Some(f) => (f, "output_format"),
            None => return Ok(None),
        },
    };
    let ty = format.get("type").and_then(Json::as_str).unwrap_or("");
    if ty != "json_schema" {
        return Err(unsupported(
            format!("{field}.type"),
            format!("`{field}.type` `{ty}` is not supported; only `json_schema`"),
        ));
    }
    let schema = format
        .get("schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            invalid(
                format!("{field}.schema"),
                "a `json_schema` format needs a `schema` object",
            )
        })?;
    Ok(Some(ResponseFormat {
        kind: "json_schema",
        json_schema: JsonSchemaFormat {
            name: "output",
            schema: Raw(schema),
            strict: true,
        },
    }))
}

type Tools<'a> = (Vec<ChatTool<'a>>, Option<ChatToolChoice<'a>>, Option<bool>);

/// `tools`, `tool_choice` and `disable_parallel_tool_use`.
fn tools<'a>(obj: &'a Obj<'a>) -> Result<Tools<'a>, TranslateError> {
    let mut tools = Vec::new();
    if let Some(v) = get(obj, "tools") {
        let arr = v
            .as_array()
            .ok_or_else(|| invalid("tools", "`tools` must be an array"))?;
        for (i, t) in arr.iter().enumerate() {
            tools.push(tool(i, t)?);
        }
    }
    let Some(choice) = get(obj, "tool_choice") else {
        return Ok((tools, None, None));
    };
    let ty = choice.get("type").and_then(Json::as_str).unwrap_or("");
    let mode = match ty {
        "auto" => ChatToolChoice::Mode("auto"),
        "any" => ChatToolChoice::Mode("required"),
        "none" => ChatToolChoice::Mode("none"),
        "tool" => ChatToolChoice::Named {
            kind: "function",
            function: NamedFunction {
                name: choice.get("name").and_then(Json::as_str).ok_or_else(|| {
                    invalid(
                        "tool_choice.name",
                        "a `tool` tool_choice needs the tool's `name`",
                    )
                })?,
            },
        },
        _ => {
            return Err(invalid(
                "tool_choice.type",
                "`tool_choice.type` must be one of auto, any, tool, none",
            ))
        }
    };
    let no_parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Json::as_bool)
        == Some(true);
    if tools.is_empty() {
        // Chat servers reject a tool_choice / parallel_tool_calls without
        // tools; `none` and `auto` mean nothing without them.
        return match mode {
            ChatToolChoice::Mode("auto" | "none") => Ok((tools, None, None)),
            _ => Err(invalid(
                "tool_choice",
                "`tool_choice` names a tool but `tools` is empty",
            )),
        };
    }
    Ok((tools, Some(mode), no_parallel.then_some(false)))
}

/// One tool definition: a custom tool becomes a function; Anthropic's
/// server tools (web search, bash, text editor, code execution, ...) run at
/// Anthropic and cannot be served by a Chat upstream: 400 naming them.
fn tool<'a>(i: usize, t: &'a Json<'a>) -> Result<ChatTool<'a>, TranslateError> {
    let field = format!("tools[{i}]");
    let o = obj_of(t, &field)?;
    if let Some(ty) = get(o, "type") {
        let ty = str_of(ty, &format!("{field}.type"))?;
        if ty != "custom" {
            return Err(unsupported(
                format!("{field}.type"),
                format!("server tool `{ty}` runs at Anthropic and cannot be served by this model's provider; only custom tools can"),
            ));
        }
    }
    let name = get(o, "name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(format!("{field}.name"), "a tool needs a `name`"))?;
    let parameters = get(o, "input_schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            invalid(
                format!("{field}.input_schema"),
                "a tool needs an `input_schema` object",
            )
        })?;
    Ok(ChatTool {
        kind: "function",
        function: ToolFunction {
            name,
            description: get(o, "description").and_then(Json::as_str),
            parameters: Raw(parameters),
            strict: get(o, "strict").and_then(Json::as_bool),
        },
    })
}

/// `system` (a string or text blocks, top-level or a `system` turn) as one
/// Chat system message; `None` when empty.
fn system_message<'a>(v: &'a Json<'a>, field: &str) -> Result<Option<ChatMsg<'a>>, TranslateError> {
    let parts = match v {
        Json::String(s) if s.is_empty() => return Ok(None),
        Json::String(s) => {
            return Ok(Some(ChatMsg::new(
                "system",
                Some(MsgContent::Text(Cow::Borrowed(s))),
            )))
        }
        Json::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                let bf = format!("{field}[{j}]");
                let ty = b.get("type").and_then(Json::as_str).unwrap_or("");
                if ty != "text" {
                    return Err(unsupported(
                        format!("{bf}.type"),
                        format!("`{ty}` blocks are not allowed in a system prompt; only text"),
                    ));
                }
                if let Some(p) = text_part(b, &bf)? {
                    parts.push(p);
                }
            }
            parts
        }
        _ => {
            return Err(invalid(
                field,
                format!("`{field}` must be a string or an array of text blocks"),
            ))
        }
    };
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChatMsg::new(
        "system",
        Some(MsgContent::from_parts(parts)),
    )))
}

/// A `text` block as a Chat text part (its `cache_control` kept, LiteLLM
/// convention; `citations` dropped); `None` for an empty text.
fn text_part<'a>(b: &'a Json<'a>, field: &str) -> Result<Option<PartOut<'a>>, TranslateError> {
    let text = b.get("text").and_then(Json::as_str).ok_or_else(|| {
        invalid(
            format!("{field}.text"),
            "a text block needs a string `text`",
        )
    })?;
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(PartOut::Text {
        text,
        cache_control: b.get("cache_control").filter(|c| c.is_object()).map(Raw),
    }))
}

/// An `image` block as an `image_url` part: base64 -> a data URL, url as is.
fn image_part<'a>(b: &'a Json<'a>, field: &str) -> Result<PartOut<'a>, TranslateError> {
    let source = b
        .get("source")
        .ok_or_else(|| invalid(format!("{field}.source"), "an image block needs a `source`"))?;
    let sty = source.get("type").and_then(Json::as_str).unwrap_or("");
    let url =
        match sty {
            "base64" => {
                let mime = source.get("media_type").and_then(Json::as_str);
                let data = source.get("data").and_then(Json::as_str);
                let (Some(mime), Some(data)) = (mime, data) else {
                    return Err(invalid(
                        format!("{field}.source"),
                        "a base64 image needs `media_type` and `data`",
                    ));
                };
                let mut url = String::with_capacity(mime.len() + data.len() + 13);
                url.push_str("data:");
                url.push_str(mime);
                url.push_str(";base64,");
                url.push_str(data);
                Cow::Owned(url)
            }
            "url" => Cow::Borrowed(source.get("url").and_then(Json::as_str).ok_or_else(|| {
                invalid(format!("{field}.source.url"), "a url image needs `url`")
            })?),
            _ => {
                return Err(unsupported(
                    format!("{field}.source.type"),
                    format!(
                "image source `{sty}` cannot be sent to this model's provider; use base64 or url"
            ),
                ))
            }
        };
    Ok(PartOut::ImageUrl {
        image_url: ImageUrl { url },
    })
}

fn block_type<'a>(b: &'a Json<'a>, field: &str) -> Result<&'a str, TranslateError> {
    b.get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("{field}.type"), "each content block needs a `type`"))
}

fn cannot_carry(field: &str, ty: &str) -> TranslateError {
    unsupported(
        format!("{field}.type"),
        format!("`{ty}` content blocks cannot be sent to this model's provider"),
    )
}

/// One turn of `messages` as one or more Chat messages.
fn push_turn<'a>(
    i: usize,
    turn: &'a Json<'a>,
    out: &mut Vec<ChatMsg<'a>>,
) -> Result<(), TranslateError> {
    let field = format!("messages[{i}]");
    let o = obj_of(turn, &field)?;
    let role = get(o, "role")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("{field}.role"), "each message needs a `role`"))?;
    let cfield = format!("{field}.content");
    let content =
        get(o, "content").ok_or_else(|| invalid(cfield.clone(), "each message needs `content`"))?;
    match role {
        "user" => user_turn(content, &cfield, out),
        "assistant" => {
            out.push(assistant_turn(content, &cfield)?);
            Ok(())
        }
        "system" => {
            out.extend(system_message(content, &cfield)?);
            Ok(())
        }
        other => Err(invalid(
            format!("{field}.role"),
            format!("unknown role `{other}`; use user or assistant"),
        )),
    }
}

/// A user turn: its `tool_result` blocks become `tool` messages first (they
/// answer the assistant turn just before), then the rest one user message.
fn user_turn<'a>(
    content: &'a Json<'a>,
    cfield: &str,
    out: &mut Vec<ChatMsg<'a>>,
) -> Result<(), TranslateError> {
    let blocks = match content {
        Json::String(s) => {
            out.push(ChatMsg::new(
                "user",
                Some(MsgContent::Text(Cow::Borrowed(s))),
            ));
            return Ok(());
        }
        Json::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                cfield,
                "`content` must be a string or an array of content blocks",
            ))
        }
    };
    let mut parts = Vec::new();
    let mut tool_images = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let bf = format!("{cfield}[{j}]");
        match block_type(b, &bf)? {
            "text" => parts.extend(text_part(b, &bf)?),
            "image" => parts.push(image_part(b, &bf)?),
            "tool_result" => out.push(tool_message(b, &bf, &mut tool_images)?),
            ty => return Err(cannot_carry(&bf, ty)),
        }
    }
    if !tool_images.is_empty() {
        // Images a tool returned open the user message after the tool
        // messages (a Chat tool message carries text only).
        tool_images.append(&mut parts);
        parts = tool_images;
    }
    if !parts.is_empty() {
        out.push(ChatMsg::new("user", Some(MsgContent::from_parts(parts))));
    }
    Ok(())
}

/// What stands before an image a tool returned, in the user message that
/// carries it, and in the tool message when the tool returned only images.
const TOOL_IMAGE: &str = "(an image returned by the tool call above)";
const TOOL_IMAGE_MOVED: &str = "(the tool returned an image: it follows in the next user message)";

/// A `tool_result` block as a `tool` message. `is_error: true` puts
/// `Error: ` before the content (Chat has no error flag); a
/// `cache_control` marker goes on the last text part, where the Chat ->
/// Anthropic translator reads it back. Image blocks go to `images`, for the
/// user message after the tool messages (Chat tool messages are text).
fn tool_message<'a>(
    b: &'a Json<'a>,
    field: &str,
    images: &mut Vec<PartOut<'a>>,
) -> Result<ChatMsg<'a>, TranslateError> {
    let id = b.get("tool_use_id").and_then(Json::as_str).ok_or_else(|| {
        invalid(
            format!("{field}.tool_use_id"),
            "a tool_result needs `tool_use_id`",
        )
    })?;
    let is_error = b.get("is_error").and_then(Json::as_bool) == Some(true);
    let cache = b.get("cache_control").filter(|c| c.is_object()).map(Raw);
    let mut parts = Vec::new();
    match b.get("content") {
        None | Some(Json::Null) => {}
        Some(Json::String(s)) => parts.push(PartOut::Text {
            text: s,
            cache_control: None,
        }),
        Some(Json::Array(inner)) => {
            for (k, ib) in inner.iter().enumerate() {
                let kf = format!("{field}.content[{k}]");
                match block_type(ib, &kf)? {
                    "text" => parts.extend(text_part(ib, &kf)?),
                    "image" => {
                        images.push(PartOut::Text {
                            text: TOOL_IMAGE,
                            cache_control: None,
                        });
                        images.push(image_part(ib, &kf)?);
                    }
                    ty => {
                        return Err(unsupported(
                            format!("{kf}.type"),
                            format!("`{ty}` blocks in a tool_result cannot be sent to this model's provider (a Chat tool message carries text and, moved to the next user message, images)"),
                        ))
                    }
                }
            }
            if parts.is_empty()
                && inner
                    .iter()
                    .any(|ib| ib.get("type").and_then(Json::as_str) == Some("image"))
            {
                parts.push(PartOut::Text {
                    text: TOOL_IMAGE_MOVED,
                    cache_control: None,
                });
            }
        }
        Some(_) => {
            return Err(invalid(
                format!("{field}.content"),
                "a tool_result's `content` must be a string or an array of blocks",
            ))
        }
    }
    if let Some(c) = cache {
        match parts.last_mut() {
            Some(PartOut::Text { cache_control, .. }) => *cache_control = Some(c),
            _ => parts.push(PartOut::Text {
                text: "",
                cache_control: Some(c),
            }),
        }
    }
    let content = match MsgContent::from_parts(parts) {
        MsgContent::Text(t) if is_error => MsgContent::Text(Cow::Owned(format!("Error: {t}"))),
        MsgContent::Parts(p) if p.is_empty() => {
            MsgContent::Text(Cow::Borrowed(if is_error { "Error" } else { "" }))
        }
        MsgContent::Parts(mut p) if is_error => {
            p.insert(
                0,
                PartOut::Text {
                    text: "Error: ",
                    cache_control: None,
                },
            );
            MsgContent::Parts(p)
        }
        c => c,
    };
    let mut m = ChatMsg::new("tool", Some(content));
    m.tool_call_id = Some(id);
    Ok(m)
}

/// An assistant turn: text -> `content`, `tool_use` -> `tool_calls`,
/// `thinking` -> `reasoning_content` + `thinking_blocks` (verbatim, when
/// signed), `redacted_thinking` -> `thinking_blocks`.
fn assistant_turn<'a>(content: &'a Json<'a>, cfield: &str) -> Result<ChatMsg<'a>, TranslateError> {
    let blocks = match content {
        Json::String(s) => {
            return Ok(ChatMsg::new(
                "assistant",
                Some(MsgContent::Text(Cow::Borrowed(s))),
            ))
        }
        Json::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                cfield,
                "`content` must be a string or an array of content blocks",
            ))
        }
    };
    let mut m = ChatMsg::new("assistant", None);
    let mut parts = Vec::new();
    let mut reasoning: Option<String> = None;
    for (j, b) in blocks.iter().enumerate() {
        let bf = format!("{cfield}[{j}]");
        match block_type(b, &bf)? {
            "text" => parts.extend(text_part(b, &bf)?),
            "tool_use" => {
                let id = b
                    .get("id")
                    .and_then(Json::as_str)
                    .ok_or_else(|| invalid(format!("{bf}.id"), "a tool_use block needs an `id`"))?;
                let name = b.get("name").and_then(Json::as_str).ok_or_else(|| {
                    invalid(format!("{bf}.name"), "a tool_use block needs a `name`")
                })?;
                let input = b.get("input").filter(|v| v.is_object()).ok_or_else(|| {
                    invalid(
                        format!("{bf}.input"),
                        "a tool_use block needs an `input` object",
                    )
                })?;
                m.tool_calls.push(ToolCallOut {
                    id,
                    kind: "function",
                    function: FunctionOut {
                        name,
                        arguments: serde_json::to_string(&Raw(input)).unwrap_or_default(),
                    },
                });
            }
            "thinking" => {
                let t = b.get("thinking").and_then(Json::as_str).ok_or_else(|| {
                    invalid(
                        format!("{bf}.thinking"),
                        "a thinking block needs a string `thinking`",
                    )
                })?;
                reasoning.get_or_insert_with(String::new).push_str(t);
                // An unsigned block (one llmo made from another provider's
                // reasoning) cannot be replayed to Anthropic: text only.
                if b.get("signature")
                    .and_then(Json::as_str)
                    .is_some_and(|s| !s.is_empty())
                {
                    m.thinking_blocks.push(Raw(b));
                }
            }
            "redacted_thinking" => m.thinking_blocks.push(Raw(b)),
            ty => return Err(cannot_carry(&bf, ty)),
        }
    }
    m.reasoning_content = reasoning;
    m.content = if parts.is_empty() {
        // OpenAI wants `content` unless the turn has tool calls.
        (m.tool_calls.is_empty()).then_some(MsgContent::Text(Cow::Borrowed("")))
    } else {
        Some(MsgContent::from_parts(parts))
    };
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::messages::test_util::*;

    fn fixture(text: &str) -> Value {
        fixture_json(text)
    }

    #[test]
    fn golden_claude_code_recording() {
        let rec = fixture(include_str!(
            "../../../tests/fixtures/anthropic/claude_code_messages_request_recorded.json"
        ));
        let c = to_chat(&serde_json::to_vec(&rec["body"]).unwrap()).unwrap();
        assert!(c.stream);
        let got: Value = serde_json::from_slice(&c.body).unwrap();
        golden_json!("messages/chat_from_claude_code.json", &got);
        // The cache markers Claude Code sets stay on their text parts.
        assert_eq!(
            got["messages"][0]["content"][1]["cache_control"]["type"],
            "ephemeral"
        );
        assert_eq!(
            got["messages"][1]["content"][1]["cache_control"]["type"],
            "ephemeral"
        );
        // The in-conversation system turn stays in place.
        assert_eq!(got["messages"][2]["role"], "system");
        assert_eq!(got["stream_options"]["include_usage"], true);
        assert_eq!(got["reasoning_effort"], "high");
        assert_eq!(got["tools"].as_array().unwrap().len(), 24);
        // Claude Code's user id (a JSON object) is too long for OpenAI's `user`.
        let user = got["user"].as_str().unwrap();
        assert_eq!(user.len(), 64);
        assert!(user.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(c.input_estimate > 1000);
    }

    #[test]
    fn golden_recorded_requests() {
        for (name, text) in [
            (
                "messages/chat_from_messages_request.json",
                include_str!("../../../tests/fixtures/anthropic/messages_request.json"),
            ),
            (
                "messages/chat_from_system_blocks.json",
                include_str!(
                    "../../../tests/fixtures/anthropic/messages_request_system_blocks.json"
                ),
            ),
            (
                "messages/chat_from_tool_result.json",
                include_str!("../../../tests/fixtures/anthropic/tool_result_request.json"),
            ),
            (
                "messages/chat_from_stream_request.json",
                include_str!("../../../tests/fixtures/anthropic/messages_stream_request.json"),
            ),
            (
                "messages/chat_from_thinking.json",
                include_str!("../../../tests/fixtures/anthropic/thinking_request.json"),
            ),
            (
                "messages/chat_from_image.json",
                include_str!("../../../tests/fixtures/anthropic/image_request.json"),
            ),
            (
                "messages/chat_from_structured_output.json",
                include_str!("../../../tests/fixtures/anthropic/structured_output_request.json"),
            ),
            (
                "messages/chat_from_tool_use_stream_docs.json",
                include_str!("../../../tests/fixtures/anthropic/tool_use_stream_docs_request.json"),
            ),
        ] {
            let got = chat_json(&fixture(text));
            golden_json!(name, &got);
        }
    }

    #[test]
    fn tool_results_come_first_then_the_rest_of_the_user_turn() {
        let got = chat_json(&json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "let me", "signature": "sig1"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "here you go"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny", "cache_control": {"type": "ephemeral"}},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [{"type": "text", "text": "boom"}]}]}
        ]}));
        let m = &got["messages"];
        assert_eq!(m[1]["tool_calls"][0]["id"], "toolu_1");
        assert_eq!(
            m[1]["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(m[1]["content"], "Checking.");
        assert_eq!(m[1]["reasoning_content"], "let me");
        assert_eq!(m[1]["thinking_blocks"][0]["signature"], "sig1");
        // A thinking block llmo built from another provider's reasoning
        // (no signature) goes back as reasoning text only.
        let unsigned = chat_json(&json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""}, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "q2"}]}));
        assert_eq!(unsigned["messages"][1]["reasoning_content"], "t");
        assert!(unsigned["messages"][1].get("thinking_blocks").is_none());
        assert_eq!(m[2]["role"], "tool");
        assert_eq!(m[2]["tool_call_id"], "toolu_1");
        assert_eq!(m[2]["content"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(m[3]["tool_call_id"], "toolu_2");
        assert_eq!(m[3]["content"], "Error: boom");
        assert_eq!(m[4]["role"], "user");
        assert_eq!(m[4]["content"], "here you go");
        assert_eq!(m.as_array().unwrap().len(), 5);
    }

    /// Claude Code's Read tool on an image file answers with an image
    /// block inside the tool_result: it goes on in the user message right
    /// after the tool messages (Chat tool messages carry text only).
    #[test]
    fn images_a_tool_returned_open_the_next_user_message() {
        let png = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
        let got = chat_json(&json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "read both"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.png"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "b.txt"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [png]},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "hello"},
                {"type": "text", "text": "what is in them?"}]}
        ]}));
        let m = got["messages"].as_array().unwrap();
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(
            (&m[2]["role"], &m[2]["tool_call_id"]),
            (&json!("tool"), &json!("toolu_1"))
        );
        assert_eq!(m[2]["content"], TOOL_IMAGE_MOVED);
        assert_eq!(m[3]["content"], "hello");
        assert_eq!(m[4]["role"], "user");
        let parts = m[4]["content"].as_array().unwrap();
        assert_eq!(parts[0]["text"], TOOL_IMAGE);
        assert_eq!(
            parts[1]["image_url"]["url"],
            "data:image/png;base64,iVBORw0KGgo="
        );
        assert_eq!(parts[2]["text"], "what is in them?");
    }

    #[test]
    fn what_chat_cannot_carry_is_a_400_naming_it() {
        let base = |content: Value| json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": content}]});
        assert_eq!(
            chat_err(&base(
                json!([{"type": "text", "text": "a"}, {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}])
            )),
            "messages[0].content[1].type"
        );
        assert_eq!(
            chat_err(&base(
                json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}}]}])
            )),
            "messages[0].content[0].content[0].type"
        );
        assert_eq!(
            chat_err(&base(
                json!([{"type": "image", "source": {"type": "file", "file_id": "f"}}])
            )),
            "messages[0].content[0].source.type"
        );
        for server_tool in [
            "web_search_20250305",
            "bash_20250124",
            "text_editor_20250728",
        ] {
            let mut b = base(json!("hi"));
            b["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}, {"type": server_tool, "name": "x"}]);
            assert_eq!(chat_err(&b), "tools[1].type", "{server_tool}");
        }
        let mut b = base(json!("hi"));
        b["mcp_servers"] = json!([{"type": "url", "url": "https://x", "name": "x"}]);
        assert_eq!(chat_err(&b), "mcp_servers");
        assert_eq!(
            chat_err(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
            "max_tokens"
        );
        assert_eq!(
            chat_err(&json!({"model": "m", "max_tokens": 1, "messages": []})),
            "messages"
        );
        let mut b = base(json!("hi"));
        b["thinking"] = json!({"type": "sometimes"});
        assert_eq!(chat_err(&b), "thinking.type");
    }

    #[test]
    fn sampling_tools_and_thinking_map_to_chat_fields() {
        let got = chat_json(
            &json!({"model": "claude-x", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
            "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "context_management": {"edits": []}, "service_tier": "auto", "container": "c",
            "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(
            got,
            json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop": ["END"],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}}],
            "tool_choice": "required", "parallel_tool_calls": false, "reasoning_effort": "low", "user": "u-1"})
        );
        let named = chat_json(
            &json!({"model": "m", "max_tokens": 1, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f"}, "thinking": {"type": "disabled"}, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(
            named["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert!(named.get("reasoning_effort").is_none());
        let tool = json!([{"name": "f", "input_schema": {"type": "object"}}]);
        for (choice, want) in [
            ("auto", json!("auto")),
            ("none", json!("none")),
            ("any", json!("required")),
        ] {
            let got = chat_json(
                &json!({"model": "m", "max_tokens": 1, "tools": tool, "tool_choice": {"type": choice},
                "messages": [{"role": "user", "content": "hi"}]}),
            );
            assert_eq!(got["tool_choice"], want);
            assert!(got.get("parallel_tool_calls").is_none());
        }
        let no_tools = chat_json(
            &json!({"model": "m", "max_tokens": 1, "tool_choice": {"type": "auto"},
            "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert!(no_tools.get("tool_choice").is_none());
        assert_eq!(
            chat_err(
                &json!({"model": "m", "max_tokens": 1, "tool_choice": {"type": "any"}, "messages": [{"role": "user", "content": "hi"}]})
            ),
            "tool_choice"
        );
        for (budget, effort) in [
            (1024, "low"),
            (2047, "low"),
            (4096, "medium"),
            (8191, "medium"),
            (16384, "high"),
            (31999, "high"),
        ] {
            assert_eq!(effort_for_budget(budget), effort);
        }
    }
}

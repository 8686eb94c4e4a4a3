//! OpenAI chat request -> Anthropic Messages request body.
use std::borrow::Cow;

use serde_json::{json, Value};

use super::wire::{
    Content, ContentBlock, ImageSource, MessageParam, MessagesRequest, Metadata, OutputConfig,
    OutputFormat, Role, ThinkingConfig, ToolChoice, ToolDef,
};
use super::{JSON_OBJECT_TOOL, MESSAGES_PATH};
use crate::translate::openai as oa;
use crate::translate::openai::{self, ChatRequest, Json, Msg, Part, ResponseFormat, Text};
use crate::translate::{invalid, unsupported, TranslateError, UpstreamCall};

/// `max_tokens` sent when the client gives none: the model's maximum output
/// (see the table in the module docs), 4096 for unknown models.
fn default_max_tokens(model: &str) -> u64 {
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

/// Builds the Anthropic Messages request for an OpenAI chat request.
pub fn request(
    openai_req: &Json<'_>,
    upstream_model: &str,
    stream: bool,
) -> Result<UpstreamCall, TranslateError> {
    let r = openai::parse_chat(openai_req)?;
    let max_field = if openai_req
        .get("max_completion_tokens")
        .is_some_and(|v| !v.is_null())
    {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let body = messages_request(&r, upstream_model, max_field, stream)?;
    Ok(UpstreamCall {
        path: MESSAGES_PATH.to_string(),
        body: crate::translate::to_body(&body),
    })
}

/// The request body, borrowing from the parsed client request. `max_field`
/// names the client's max-tokens field in errors.
fn messages_request<'r>(
    r: &'r ChatRequest<'r>,
    upstream_model: &'r str,
    max_field: &str,
    stream: bool,
) -> Result<MessagesRequest<'r>, TranslateError> {
    check_supported(r)?;
    let budget = thinking_budget(r.reasoning_effort);
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
    if budget.is_some() {
        check_thinking_compatible(r)?;
    }
    let messages = messages(r)?;
    // Anthropic rejects a thinking request whose last assistant turn used a
    // tool without its signed thinking block (the client did not send
    // `thinking_blocks` back): such a continuation is answered without
    // thinking instead of failing.
    let thinking = budget
        .filter(|_| !continues_tool_loop_without_thinking(&messages))
        .map(|b| ThinkingConfig::Enabled { budget_tokens: b });
    let (tools, tool_choice, output_config) = tools_and_format(r, budget.is_some())?;
    Ok(MessagesRequest {
        model: Cow::Borrowed(upstream_model),
        max_tokens,
        system: system(&r.system),
        messages,
        thinking,
        temperature: r.temperature.map(|t| t.min(1.0)),
        top_p: r.top_p,
        top_k: r.top_k,
        stop_sequences: r
            .stop
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Cow::Borrowed(*s))
            .collect(),
        metadata: r.user.map(|u| Metadata {
            user_id: Some(Cow::Borrowed(u)),
        }),
        tools,
        tool_choice,
        output_config,
        stream,
    })
}

/// OpenAI parameters Anthropic has no equivalent for.
fn check_supported(r: &ChatRequest<'_>) -> Result<(), TranslateError> {
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
    Ok(())
}

/// Sampling settings Anthropic refuses together with extended thinking.
fn check_thinking_compatible(r: &ChatRequest<'_>) -> Result<(), TranslateError> {
    if r.temperature.is_some_and(|t| t != 1.0) {
        return Err(unsupported(
            "temperature",
            "`temperature` cannot be changed together with `reasoning_effort` on Anthropic models",
        ));
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
        Some(oa::ToolChoice::Required | oa::ToolChoice::Named(_))
    ) {
        return Err(unsupported(
            "tool_choice",
            "a forced `tool_choice` cannot be combined with `reasoning_effort` on Anthropic models",
        ));
    }
    Ok(())
}

/// `system`: a string when there is one text without a cache marker, else
/// text blocks.
fn system<'r>(texts: &'r [Text<'r>]) -> Option<Content<'r>> {
    match texts {
        [] => None,
        [one] if one.cache_control.is_none() => Some(Content::Text(Cow::Borrowed(one.text))),
        many => Some(Content::Blocks(many.iter().map(text_block).collect())),
    }
}

type ToolsAndFormat<'r> = (
    Vec<ToolDef<'r>>,
    Option<ToolChoice<'r>>,
    Option<OutputConfig<'r>>,
);

/// `tools`, `tool_choice` and the structured-output settings (a
/// `json_object` response format is a forced tool).
fn tools_and_format<'r>(
    r: &'r ChatRequest<'r>,
    thinking: bool,
) -> Result<ToolsAndFormat<'r>, TranslateError> {
    let mut tools: Vec<ToolDef<'r>> = r
        .tools
        .iter()
        .map(|t| ToolDef {
            name: Cow::Borrowed(t.name),
            description: t.description.map(Cow::Borrowed),
            input_schema: input_schema(t.parameters),
        })
        .collect();
    let mut tool_choice = match r.tool_choice {
        _ if tools.is_empty() => None,
        None => None,
        Some(oa::ToolChoice::Auto) => Some(ToolChoice::Auto {
            disable_parallel_tool_use: None,
        }),
        Some(oa::ToolChoice::None) => Some(ToolChoice::None),
        Some(oa::ToolChoice::Required) => Some(ToolChoice::Any {
            disable_parallel_tool_use: None,
        }),
        Some(oa::ToolChoice::Named(n)) => Some(ToolChoice::Tool {
            name: Cow::Borrowed(n),
            disable_parallel_tool_use: None,
        }),
    };
    if r.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let tc = tool_choice.get_or_insert(ToolChoice::Auto {
            disable_parallel_tool_use: None,
        });
        match tc {
            ToolChoice::Auto {
                disable_parallel_tool_use: d,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use: d,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use: d,
                ..
            } => *d = Some(true),
            ToolChoice::None => {}
        }
    }
    let mut output_config = None;
    match r.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonSchema { schema }) => {
            output_config = Some(OutputConfig {
                format: OutputFormat::JsonSchema {
                    schema: Cow::Owned(schema.to_value()),
                },
            });
        }
        Some(ResponseFormat::JsonObject) => {
            if !tools.is_empty() {
                return Err(unsupported(
                    "response_format",
                    "`response_format` `json_object` cannot be combined with `tools` on Anthropic models; use `json_schema`",
                ));
            }
            if thinking {
                return Err(unsupported(
                    "response_format",
                    "`response_format` `json_object` cannot be combined with `reasoning_effort` on Anthropic models; use `json_schema`",
                ));
            }
            tools.push(ToolDef {
                name: Cow::Borrowed(JSON_OBJECT_TOOL),
                description: Some(Cow::Borrowed("Respond with a JSON object.")),
                input_schema: Cow::Owned(json!({"type": "object"})),
            });
            tool_choice = Some(ToolChoice::Tool {
                name: Cow::Borrowed(JSON_OBJECT_TOOL),
                disable_parallel_tool_use: None,
            });
        }
    }
    Ok((tools, tool_choice, output_config))
}

/// Anthropic requires `input_schema.type`: a missing or empty schema becomes
/// an object with no properties, a schema without `type` gets `"object"`.
fn input_schema(parameters: Option<&Json<'_>>) -> Cow<'static, Value> {
    match parameters.map(Json::to_value) {
        Some(Value::Object(mut p)) if !p.is_empty() => {
            if !p.contains_key("type") {
                p.insert("type".into(), json!("object"));
            }
            Cow::Owned(Value::Object(p))
        }
        _ => Cow::Owned(json!({"type": "object", "properties": {}})),
    }
}

/// A text block, with the client's `cache_control` breakpoint if it set one.
fn text_block<'r>(t: &Text<'r>) -> ContentBlock<'r> {
    ContentBlock::Text {
        text: Cow::Borrowed(t.text),
        cache_control: t.cache_control.map(|c| Cow::Owned(c.to_value())),
    }
}

fn image_block<'r>(url: &'r str, param: &str) -> Result<ContentBlock<'r>, TranslateError> {
    if let Some((mime, data)) = openai::parse_data_url(url) {
        if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&mime) {
            return Err(invalid(
                param,
                format!("image type `{mime}` is not supported by Anthropic models (jpeg, png, gif, webp)"),
            ));
        }
        return Ok(ContentBlock::Image {
            source: ImageSource::Base64 {
                media_type: Cow::Borrowed(mime),
                data: Cow::Borrowed(data),
            },
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ContentBlock::Image {
            source: ImageSource::Url {
                url: Cow::Borrowed(url),
            },
        });
    }
    Err(invalid(
        param,
        "an image URL must be a base64 `data:` URL or an http(s) URL",
    ))
}

/// A tool-call id as Anthropic accepts it (`^[a-zA-Z0-9_-]+$`). Ids from
/// other providers in a shared history (a Gemini id carrying a base64 thought
/// signature after [`crate::translate::gemini::THOUGHT_SEPARATOR`]) are cut at the
/// separator and have other characters replaced by `_`; the same mapping is
/// applied to `tool_use.id` and `tool_result.tool_use_id`, so pairs still match.
fn tool_id(id: &str) -> Cow<'_, str> {
    let id = id
        .split_once(crate::translate::gemini::THOUGHT_SEPARATOR)
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
fn continues_tool_loop_without_thinking(messages: &[MessageParam<'_>]) -> bool {
    let Some(last) = messages.iter().rev().find(|m| m.role == Role::Assistant) else {
        return false;
    };
    let Content::Blocks(blocks) = &last.content else {
        return false;
    };
    let uses_tool = blocks
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolUse { .. }));
    let starts_with_thinking = blocks.first().is_some_and(ContentBlock::is_thinking);
    uses_tool && !starts_with_thinking
}

/// The blocks of one client message; `None` for an assistant message with
/// nothing to send.
fn blocks<'r>(m: &'r Msg<'r>) -> Result<Option<(Role, Vec<ContentBlock<'r>>)>, TranslateError> {
    Ok(Some(match m.role {
        oa::Role::User => {
            let mut blocks = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                blocks.push(match p {
                    Part::Text(t) => text_block(t),
                    Part::Image { url, param } => image_block(url, param)?,
                });
            }
            (Role::User, blocks)
        }
        oa::Role::Assistant => {
            let mut blocks: Vec<ContentBlock<'r>> = m
                .thinking_blocks
                .iter()
                .map(|b| ContentBlock::Verbatim(Cow::Owned(b.to_value())))
                .collect();
            for p in &m.parts {
                if let Part::Text(t) = p {
                    blocks.push(text_block(t));
                }
            }
            for c in &m.tool_calls {
                blocks.push(ContentBlock::ToolUse {
                    id: tool_id(c.id),
                    name: Cow::Borrowed(c.name),
                    input: Cow::Borrowed(&c.arguments),
                });
            }
            if blocks.is_empty() {
                return Ok(None);
            }
            (Role::Assistant, blocks)
        }
        oa::Role::Tool => (Role::User, vec![tool_result(m)]),
    }))
}

/// A tool message as a `tool_result` block.
fn tool_result<'r>(m: &'r Msg<'r>) -> ContentBlock<'r> {
    let texts: Vec<&Text<'r>> = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t),
            Part::Image { .. } => None,
        })
        .collect();
    let content = match texts.as_slice() {
        [] => None,
        [one] => Some(Content::Text(Cow::Borrowed(one.text))),
        many => Some(Content::Blocks(
            many.iter()
                .map(|t| ContentBlock::Text {
                    text: Cow::Borrowed(t.text),
                    cache_control: None,
                })
                .collect(),
        )),
    };
    ContentBlock::ToolResult {
        tool_use_id: tool_id(m.tool_call_id.unwrap_or_default()),
        content,
        // A cache breakpoint on a tool message marks its tool_result.
        cache_control: texts
            .iter()
            .rev()
            .find_map(|t| t.cache_control)
            .map(|c| Cow::Owned(c.to_value())),
    }
}

fn messages<'r>(r: &'r ChatRequest<'r>) -> Result<Vec<MessageParam<'r>>, TranslateError> {
    // (role, blocks); merged while building.
    let mut turns: Vec<(Role, Vec<ContentBlock<'r>>)> = Vec::with_capacity(r.messages.len());
    for m in &r.messages {
        let Some((role, blocks)) = blocks(m)? else {
            continue;
        };
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => {
                let is_result = |b: &ContentBlock<'_>| matches!(b, ContentBlock::ToolResult { .. });
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
            let single_text = matches!(
                blocks.as_slice(),
                [ContentBlock::Text {
                    cache_control: None,
                    ..
                }]
            );
            let content = match blocks.pop() {
                Some(ContentBlock::Text { text, .. }) if single_text => Content::Text(text),
                Some(last) => {
                    blocks.push(last);
                    Content::Blocks(blocks)
                }
                None => Content::Blocks(blocks),
            };
            MessageParam { role, content }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::anthropic::test_util::*;
    use crate::translate::openai::Json;

    #[test]
    fn golden_request_system_stop_temperature() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_system.json"
        ));
        let got = req_json(&openai, "claude-haiku-4-5", false);
        golden_json!("anthropic/request_system.json", &got);
    }

    #[test]
    fn golden_request_developer_role_and_default_max_tokens() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_simple.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", true);
        golden_json!("anthropic/request_simple_stream.json", &got);
        assert_eq!(got["max_tokens"], 64000);
        assert_eq!(got["system"], "You are a helpful assistant.");
    }

    #[test]
    fn golden_request_tools_and_tool_result_round_trip() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_tool_result.json"
        ));
        let got = req_json(&openai, "claude-haiku-4-5", false);
        golden_json!("anthropic/request_tool_result.json", &got);
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
            "../../../tests/fixtures/openai/chat_completion_request_tools.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        golden_json!("anthropic/request_tools.json", &got);
    }

    #[test]
    fn golden_request_images_data_and_url() {
        let b64 = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_image_base64.json"
        ));
        golden_json!(
            "anthropic/request_image_base64.json",
            &req_json(&b64, "claude-sonnet-4-5", false),
        );
        let url = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_image.json"
        ));
        let got = req_json(&url, "claude-sonnet-4-5", false);
        assert_eq!(got["messages"][0]["content"][1]["source"]["type"], "url");
        assert_eq!(got["max_tokens"], 300);
    }

    #[test]
    fn golden_request_json_schema_uses_native_structured_outputs() {
        let openai = fixture_json(include_str!(
            "../../../tests/fixtures/openai/chat_completion_request_json_schema.json"
        ));
        let got = req_json(&openai, "claude-sonnet-4-5", false);
        golden_json!("anthropic/request_json_schema.json", &got);
        // Same shape as the recorded native request.
        let recorded = fixture_json(include_str!(
            "../../../tests/fixtures/anthropic/structured_output_request.json"
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
                "parameters": fixture_json(include_str!("../../../tests/fixtures/anthropic/tool_result_request.json"))["tools"][0]["input_schema"].clone()
            }}]
        });
        let got = req_json(&openai, "claude-haiku-4-5", false);
        let mut recorded = fixture_json(include_str!(
            "../../../tests/fixtures/anthropic/tool_result_request.json"
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
            "../../../tests/fixtures/anthropic/tool_use_request.json"
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
            "../../../tests/fixtures/anthropic/structured_output_request.json"
        ))["output_config"]["format"]["schema"]
            .clone();
        let cases: [(Value, &str, bool, &str); 6] = [
            (
                json!({"model": "x", "max_tokens": 1024, "temperature": 0.2, "stop": "\n\nHuman:", "messages": [
                    {"role": "system", "content": "You are a helpful assistant that answers in one short sentence."},
                    {"role": "user", "content": "Hello, Claude"}]}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../../tests/fixtures/anthropic/messages_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}},
                    {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
                    {"type": "text", "text": "Describe these images."}]}]}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../../tests/fixtures/anthropic/image_request.json"),
            ),
            (
                json!({"model": "x", "max_completion_tokens": 1024, "messages": [
                    {"role": "user", "content": "Extract: I want to order 2 Green Tea at $5.50 each"}],
                    "response_format": {"type": "json_schema", "json_schema": {"name": "OrderItem", "strict": true, "schema": order_schema}}}),
                "claude-sonnet-4-5",
                false,
                include_str!("../../../tests/fixtures/anthropic/structured_output_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": weather_tool, "messages": [
                    {"role": "user", "content": "What is the weather in SF?"}]}),
                "claude-haiku-4-5",
                false,
                include_str!("../../../tests/fixtures/anthropic/tool_use_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": weather_tool, "stream": true, "messages": [
                    {"role": "user", "content": "What is the weather in SF?"}]}),
                "claude-haiku-4-5",
                true,
                include_str!("../../../tests/fixtures/anthropic/tool_use_stream_request.json"),
            ),
            (
                json!({"model": "x", "max_tokens": 1024, "tools": docs_tool, "tool_choice": "required", "stream": true,
                    "messages": [{"role": "user", "content": "What is the weather like in San Francisco?"}]}),
                "claude-sonnet-4-5",
                true,
                include_str!("../../../tests/fixtures/anthropic/tool_use_stream_docs_request.json"),
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
            "../../../tests/fixtures/anthropic/messages_stream_request.json"
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
            "../../../tests/fixtures/anthropic/messages_request_system_blocks.json"
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
            crate::translate::gemini::request(&Json::from(&openai), "gemini-2.5-flash", false)
                .unwrap();
        let g: Value = serde_json::from_slice(&gemini_call.body).unwrap();
        assert_eq!(
            g["contents"][0]["parts"][0],
            json!({"text": "long document"})
        );
    }

    #[test]
    fn structured_output_response_is_json_content() {
        let got = response(
            include_bytes!("../../../tests/fixtures/anthropic/structured_output_response.json"),
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
        golden_json!("anthropic/request_merged_turns.json", &got);
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
            request(&Json::from(&empty), "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages[0].content"
        );
        let only_system = json!({"messages": [{"role": "system", "content": "x"}]});
        assert_eq!(
            request(&Json::from(&only_system), "claude-sonnet-4-5", false)
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
            let err = request(&Json::from(&req), "claude-sonnet-4-5", false).unwrap_err();
            assert_eq!(err.param(), param);
            assert_eq!(err.status(), 400);
        }
        let mut req = base.clone();
        req["messages"][0]["content"] =
            json!([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]);
        assert_eq!(
            request(&Json::from(&req), "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "messages[0].content[0].image_url.url"
        );
        req["messages"][0]["content"] =
            json!([{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]);
        assert_eq!(
            request(&Json::from(&req), "claude-sonnet-4-5", false)
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
            request(&Json::from(&small), "claude-sonnet-4-5", false)
                .unwrap_err()
                .param(),
            "max_completion_tokens"
        );
        let mut temp = req.clone();
        temp["temperature"] = json!(0.2);
        assert_eq!(
            request(&Json::from(&temp), "claude-sonnet-4-5", false)
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
                "../../../tests/fixtures/anthropic/thinking_stream_docs.sse"
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
            request(&Json::from(&with_tools), "claude-sonnet-4-5", false)
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
}

//! [`MessagesEncoder`]: an OpenAI `chat.completion.chunk` stream in, the
//! Anthropic Messages stream out, incrementally.
//!
//! Output: `message_start` (at the first chunk; `usage.input_tokens` is the
//! request's estimate unless that chunk already carries usage) and `ping`;
//! then one block at a time (`content_block_start`, its deltas,
//! `content_block_stop`): `thinking` for `reasoning_content` / `reasoning`
//! deltas (`signature_delta` when the chunk carries signed `thinking_blocks`),
//! `text` for `content` / `refusal`, `tool_use` per tool-call index (id and
//! name from its first fragment, every `arguments` fragment an
//! `input_json_delta` as it arrives); a block is closed when the next one
//! starts or the finish arrives. `message_delta` (stop reason and usage) is
//! held until the usage chunk or `[DONE]`, then `message_stop`. An OpenAI
//! error event becomes Anthropic's `event: error`; a stream that ends before
//! its finish ends with an `api_error` event. Nothing is buffered but the
//! SSE parser's open line and the open block's state.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{envelope, error_type};
use super::response::{matched_stop, message_id, stop_reason, UsageIn, UsageOut};
use crate::translate::sse::{SseEvent, SseParser};

const TRUNCATED: &str = "the upstream stream ended before the response was complete";

#[derive(Deserialize)]
struct ChunkIn<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceIn<'a>>>,
    usage: Option<UsageIn>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(default)]
    index: u64,
    #[serde(borrow)]
    delta: Option<DeltaIn<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    stop_reason: Option<Value>,
    matched_stop: Option<Value>,
}

#[derive(Deserialize)]
struct DeltaIn<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ToolDeltaIn<'a>>>,
    thinking_blocks: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ToolDeltaIn<'a> {
    index: Option<u64>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<FunctionDeltaIn<'a>>,
}

#[derive(Deserialize)]
struct FunctionDeltaIn<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// The block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Thinking,
    Text,
    /// A tool call, by its OpenAI index.
    Tool(u64),
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: StartBlock<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct Indexed {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta<'a>,
    usage: DeltaUsage,
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DeltaUsage {
    Full(UsageOut),
    Output { output_tokens: u64 },
}

#[derive(Serialize)]
struct Bare {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Writes `event: NAME\ndata: JSON\n\n`.
fn write_event(out: &mut Vec<u8>, name: &str, data: &impl Serialize) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serialising these borrowed structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

/// OpenAI chunk SSE in, Anthropic Messages SSE out (see the module docs).
#[derive(Debug)]
pub(crate) struct MessagesEncoder {
    model: String,
    input_estimate: u32,
    sse: SseParser,
    events: Vec<SseEvent>,
    started: bool,
    open: Open,
    /// Anthropic index of the open block (the next one when none is open).
    index: u32,
    /// OpenAI indexes of the tool calls already streamed.
    tools: Vec<u64>,
    finish: Option<String>,
    matched: Option<String>,
    usage: Option<UsageIn>,
    /// Characters streamed, for `output_tokens` if the upstream reports no usage.
    chars: u64,
    /// In `finish`: an unterminated last event is a cut stream.
    ending: bool,
    done: bool,
}

impl MessagesEncoder {
    pub(crate) fn new(public_model: &str, input_estimate: u32) -> Self {
        Self {
            model: public_model.to_string(),
            input_estimate,
            sse: SseParser::new(),
            events: Vec::new(),
            started: false,
            open: Open::None,
            index: 0,
            tools: Vec::new(),
            finish: None,
            matched: None,
            usage: None,
            chars: 0,
            ending: false,
            done: false,
        }
    }

    /// OpenAI SSE bytes in (whole events or any piece of them); whole
    /// Anthropic events out. May return empty.
    pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let mut events = std::mem::take(&mut self.events);
        self.sse.feed(openai_sse, &mut events);
        self.run(&mut events, &mut out);
        self.events = events;
        out
    }

    /// The upstream ended: closes the message if the finish was seen, else
    /// an Anthropic `error` event.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let mut events = std::mem::take(&mut self.events);
        self.ending = true;
        self.sse.finish(&mut events);
        self.run(&mut events, &mut out);
        if !self.done {
            if self.finish.is_some() {
                self.close_message(&mut out);
            } else {
                self.fail(&mut out, "api_error", TRUNCATED);
            }
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    fn run(&mut self, events: &mut Vec<SseEvent>, out: &mut Vec<u8>) {
        for ev in events.drain(..) {
            if self.done {
                break;
            }
            self.event(&ev.data, out);
        }
        if self.sse.has_other() {
            drop(self.sse.take_other());
        }
        if self.sse.overflowed() && !self.done {
            self.fail(
                out,
                "api_error",
                "the upstream sent a stream event larger than llmo accepts",
            );
        }
    }

    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        let data = data.trim();
        if data == "[DONE]" {
            if self.finish.is_some() {
                self.close_message(out);
            } else {
                self.fail(out, "api_error", TRUNCATED);
            }
            return;
        }
        let chunk: ChunkIn<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(_) if self.ending => return self.fail(out, "api_error", TRUNCATED),
            Err(_) => {
                return self.fail(
                    out,
                    "api_error",
                    "the upstream sent an unreadable stream event",
                )
            }
        };
        if let Some(e) = &chunk.error {
            let (kind, message) = upstream_error(e);
            return self.fail(out, kind, &message);
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        if !self.started {
            self.start(chunk.id.as_deref(), out);
        }
        for choice in chunk.choices.iter().flatten().filter(|c| c.index == 0) {
            if let Some(d) = &choice.delta {
                self.delta(d, out);
            }
            if self.done {
                return;
            }
            if let Some(f) = &choice.finish_reason {
                self.close_block(out);
                self.finish = Some(f.to_string());
                self.matched = matched_stop(choice.stop_reason.as_ref())
                    .or_else(|| matched_stop(choice.matched_stop.as_ref()))
                    .map(str::to_string);
            }
        }
        if self.finish.is_some() && chunk.usage.is_some() {
            self.close_message(out);
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<u8>) {
        self.started = true;
        let usage = match self.usage {
            Some(u) if u.prompt_tokens.is_some() => u.to_anthropic(),
            _ => UsageOut {
                input_tokens: u64::from(self.input_estimate),
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: 0,
            },
        };
        let id = message_id(id);
        write_event(
            out,
            "message_start",
            &MessageStart {
                kind: "message_start",
                message: StartMessage {
                    id: &id,
                    kind: "message",
                    role: "assistant",
                    model: &self.model,
                    content: [],
                    stop_reason: None,
                    stop_sequence: None,
                    usage: UsageOut {
                        output_tokens: 0,
                        ..usage
                    },
                },
            },
        );
        write_event(out, "ping", &Bare { kind: "ping" });
    }

    fn delta(&mut self, d: &DeltaIn<'_>, out: &mut Vec<u8>) {
        let reasoning = d.reasoning_content.as_deref().or(d.reasoning.as_deref());
        if let Some(t) = reasoning.filter(|t| !t.is_empty()) {
            self.open_block(Open::Thinking, out);
            self.chars += t.chars().count() as u64;
            self.write_delta(out, Delta::Thinking { thinking: t });
        }
        for b in d.thinking_blocks.iter().flatten() {
            self.signed_block(b, out);
        }
        for t in [d.content.as_deref(), d.refusal.as_deref()]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
        {
            self.open_block(Open::Text, out);
            self.chars += t.chars().count() as u64;
            self.write_delta(out, Delta::Text { text: t });
        }
        for (pos, tc) in d.tool_calls.iter().flatten().enumerate() {
            let idx = tc.index.unwrap_or(pos as u64);
            let args = tc.function.as_ref().and_then(|f| f.arguments.as_deref());
            if self.open != Open::Tool(idx) {
                if self.tools.contains(&idx) {
                    return self.fail(
                        out,
                        "api_error",
                        "the upstream interleaved the arguments of two tool calls, which the Messages stream cannot carry",
                    );
                }
                self.close_block(out);
                self.tools.push(idx);
                let id = match tc.id.as_deref() {
                    Some(id) if !id.is_empty() => Cow::Borrowed(id),
                    _ => Cow::Owned(format!("toolu_llmo_{}", self.tools.len() - 1)),
                };
                let name = tc.function.as_ref().and_then(|f| f.name.as_deref());
                self.start_block(
                    out,
                    StartBlock::ToolUse {
                        id: &id,
                        name: name.unwrap_or(""),
                        input: Empty {},
                    },
                );
                self.open = Open::Tool(idx);
            }
            if let Some(a) = args.filter(|a| !a.is_empty()) {
                self.chars += a.chars().count() as u64;
                self.write_delta(out, Delta::InputJson { partial_json: a });
            }
        }
    }

    /// A signed `thinking` / `redacted_thinking` block (LiteLLM convention):
    /// the signature of the open thinking block, or a whole block.
    fn signed_block(&mut self, b: &Value, out: &mut Vec<u8>) {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
        match s("type") {
            "thinking" => {
                if self.open != Open::Thinking {
                    self.open_block(Open::Thinking, out);
                    let t = s("thinking");
                    if !t.is_empty() {
                        self.write_delta(out, Delta::Thinking { thinking: t });
                    }
                }
                let sig = s("signature");
                if !sig.is_empty() {
                    self.write_delta(out, Delta::Signature { signature: sig });
                }
                self.close_block(out);
            }
            "redacted_thinking" => {
                self.close_block(out);
                self.start_block(out, StartBlock::RedactedThinking { data: s("data") });
                self.open = Open::Thinking;
                self.close_block(out);
            }
            _ => {}
        }
    }

    /// Makes `kind` (thinking or text) the open block.
    fn open_block(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open == kind {
            return;
        }
        self.close_block(out);
        let block = match kind {
            Open::Thinking => StartBlock::Thinking {
                thinking: "",
                signature: "",
            },
            _ => StartBlock::Text { text: "" },
        };
        self.start_block(out, block);
        self.open = kind;
    }

    fn start_block(&mut self, out: &mut Vec<u8>, block: StartBlock<'_>) {
        write_event(
            out,
            "content_block_start",
            &BlockStart {
                kind: "content_block_start",
                index: self.index,
                content_block: block,
            },
        );
    }

    fn write_delta(&self, out: &mut Vec<u8>, delta: Delta<'_>) {
        write_event(
            out,
            "content_block_delta",
            &BlockDelta {
                kind: "content_block_delta",
                index: self.index,
                delta,
            },
        );
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.open == Open::None {
            return;
        }
        write_event(
            out,
            "content_block_stop",
            &Indexed {
                kind: "content_block_stop",
                index: self.index,
            },
        );
        self.index += 1;
        self.open = Open::None;
    }

    fn close_message(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start(None, out);
        }
        self.close_block(out);
        let matched = self.matched.as_deref();
        let stop = stop_reason(
            self.finish.as_deref(),
            !self.tools.is_empty(),
            matched.is_some(),
        );
        let usage = match self.usage {
            Some(u) if u.completion_tokens.is_some() || u.prompt_tokens.is_some() => {
                DeltaUsage::Full(u.to_anthropic())
            }
            _ => DeltaUsage::Output {
                output_tokens: self.chars.div_ceil(4),
            },
        };
        write_event(
            out,
            "message_delta",
            &MessageDelta {
                kind: "message_delta",
                delta: StopDelta {
                    stop_reason: stop,
                    stop_sequence: matched.filter(|_| stop == "stop_sequence"),
                },
                usage,
            },
        );
        write_event(
            out,
            "message_stop",
            &Bare {
                kind: "message_stop",
            },
        );
        self.done = true;
    }

    fn fail(&mut self, out: &mut Vec<u8>, kind: &str, message: &str) {
        out.extend_from_slice(b"event: error\ndata: ");
        out.extend_from_slice(&envelope(kind, message));
        out.extend_from_slice(b"\n\n");
        self.done = true;
    }
}

/// The Anthropic error type and message of an OpenAI error event: a
/// numeric `code` / `status` is the HTTP status; else OpenAI's type and
/// code name it (rate limits, overload, auth, ...); else `api_error`.
fn upstream_error(e: &Value) -> (&'static str, String) {
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .unwrap_or("the upstream reported an error")
        .to_string();
    let num = |k: &str| {
        e.get(k).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
    let status =
        num("code")
            .or_else(|| num("status"))
            .unwrap_or_else(|| match (s("type"), s("code")) {
                (_, "rate_limit_exceeded") | ("rate_limit_exceeded" | "rate_limit_error", _) => 429,
                (_, "overloaded") | ("overloaded_error", _) => 529,
                (_, "invalid_api_key") | ("authentication_error", _) => 401,
                ("permission_error", _) => 403,
                (_, "model_not_found") | ("not_found_error", _) => 404,
                (_, "context_length_exceeded") | ("invalid_request_error", _) => 400,
                _ => 500,
            });
    let status = u16::try_from(status).unwrap_or(500);
    (error_type(status), message)
}

#[cfg(test)]
pub(super) mod tests {
    use super::TRUNCATED;
    use crate::translate::messages::test_util::*;
    use crate::translate::messages::MessagesEncoder;

    const TEXT: &[u8] = include_bytes!("../../../tests/fixtures/openai/chat_completion_stream.sse");
    const USAGE: &[u8] = include_bytes!(
        "../../../tests/fixtures/openai/chat_completion_stream_include_usage_reconstructed.sse"
    );
    const TOOL: &[u8] =
        include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call_stream.sse");
    const LENGTH: &[u8] =
        include_bytes!("../../../tests/fixtures/openai/chat_completion_stream_finish_length.sse");
    const MIXED: &[u8] =
        include_bytes!("../../../tests/fixtures/translate/openai_reasoning_text_two_tools.sse");

    fn encode(pieces: &[&[u8]]) -> Vec<u8> {
        let mut e = MessagesEncoder::new("claude-public", 321);
        let mut out = Vec::new();
        for p in pieces {
            let got = e.feed(p);
            assert!(
                got.is_empty() || (got.starts_with(b"event: ") && got.ends_with(b"\n\n")),
                "feed must return whole events"
            );
            out.extend(got);
        }
        out.extend(e.finish());
        assert!(e.is_done());
        out
    }

    #[test]
    fn message_delta_waits_for_the_usage_chunk() {
        let mut e = MessagesEncoder::new("claude-public", 5);
        let first = e.feed(
            b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
        );
        assert!(std::str::from_utf8(&first).unwrap().contains("text_delta"));
        let fin = e.feed(b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        let fin = String::from_utf8(fin).unwrap();
        assert!(
            fin.starts_with("event: content_block_stop") && !fin.contains("message_delta"),
            "{fin}"
        );
        assert!(!e.is_done());
        let usage = e.feed(b"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n");
        let usage = String::from_utf8(usage).unwrap();
        assert!(usage.contains(r#""usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}"#), "{usage}");
        assert!(usage.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        assert!(e.is_done());
        assert!(e.feed(b"data: [DONE]\n\n").is_empty());
        assert!(e.finish().is_empty());
    }

    /// What the official SDK's accumulator builds from a Messages stream,
    /// checking the event order it relies on: `message_start` first, a
    /// block's start before its deltas, its stop before the next start,
    /// `message_delta` then `message_stop` last (or one `error` event).
    pub(crate) fn accumulate(out: &[u8]) -> Value {
        let text = std::str::from_utf8(out).unwrap();
        let mut msg: Option<Value> = None;
        let mut open: Option<u64> = None;
        let mut next = 0u64;
        let mut json_buf = String::new();
        let mut stopped = false;
        let mut delta_seen = false;
        for ev in text.split_terminator("\n\n") {
            let (name, data) = ev
                .strip_prefix("event: ")
                .unwrap()
                .split_once("\ndata: ")
                .unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            assert!(!stopped, "event after message_stop");
            if name == "error" {
                assert_eq!(v["type"], "error");
                return json!({"error": v["error"]});
            }
            assert_eq!(v["type"], name, "event name and type agree");
            if name != "message_start" {
                assert!(msg.is_some(), "{name} before message_start");
            }
            let m = msg.get_or_insert_with(Value::default);
            match name {
                "message_start" => {
                    assert!(m.is_null(), "two message_start");
                    *m = v["message"].clone();
                    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
                }
                "ping" => {}
                "content_block_start" => {
                    assert!(open.is_none(), "start before the previous stop");
                    assert!(!delta_seen);
                    assert_eq!(v["index"], next);
                    open = Some(next);
                    m["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(v["content_block"].clone());
                    json_buf.clear();
                }
                "content_block_delta" => {
                    assert_eq!(
                        Some(v["index"].as_u64().unwrap()),
                        open,
                        "delta outside its block"
                    );
                    let b = m["content"].as_array_mut().unwrap().last_mut().unwrap();
                    let d = &v["delta"];
                    match d["type"].as_str().unwrap() {
                        "text_delta" => {
                            b["text"] = json!(format!(
                                "{}{}",
                                b["text"].as_str().unwrap(),
                                d["text"].as_str().unwrap()
                            ))
                        }
                        "thinking_delta" => {
                            b["thinking"] = json!(format!(
                                "{}{}",
                                b["thinking"].as_str().unwrap(),
                                d["thinking"].as_str().unwrap()
                            ))
                        }
                        "signature_delta" => b["signature"] = d["signature"].clone(),
                        "input_json_delta" => {
                            json_buf.push_str(d["partial_json"].as_str().unwrap())
                        }
                        other => panic!("unknown delta {other}"),
                    }
                }
                "content_block_stop" => {
                    assert_eq!(Some(v["index"].as_u64().unwrap()), open);
                    let b = m["content"].as_array_mut().unwrap().last_mut().unwrap();
                    if b["type"] == "tool_use" && !json_buf.is_empty() {
                        b["input"] = serde_json::from_str(&json_buf).unwrap();
                    }
                    open = None;
                    next += 1;
                }
                "message_delta" => {
                    assert!(open.is_none(), "message_delta with an open block");
                    delta_seen = true;
                    m["stop_reason"] = v["delta"]["stop_reason"].clone();
                    m["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                    for (k, n) in v["usage"].as_object().unwrap() {
                        m["usage"][k] = n.clone();
                    }
                }
                "message_stop" => {
                    assert!(delta_seen, "message_stop without message_delta");
                    stopped = true;
                }
                other => panic!("unknown event {other}"),
            }
        }
        assert!(stopped, "stream did not end with message_stop");
        msg.unwrap()
    }

    #[test]
    fn golden_streams() {
        for (name, body) in [
            ("messages/stream_from_text.sse", TEXT),
            ("messages/stream_from_text_with_usage.sse", USAGE),
            ("messages/stream_from_tool_call.sse", TOOL),
            ("messages/stream_from_length.sse", LENGTH),
            ("messages/stream_from_reasoning_text_two_tools.sse", MIXED),
        ] {
            let out = encode(&[body]);
            golden_sse!(name, &out);
            accumulate(&out);
        }
    }

    /// The seeded random-chunking property: any split of the OpenAI SSE
    /// into `feed` calls gives the same Anthropic events.
    #[test]
    fn any_chunking_gives_the_same_events() {
        let mut rng = fastrand::Rng::with_seed(0x6d73_6774);
        for body in [TEXT, USAGE, TOOL, LENGTH, MIXED] {
            assert_chunkings_agree(&mut rng, body, encode);
        }
    }

    #[test]
    fn accumulated_stream_equals_the_non_stream_answer() {
        let acc = accumulate(&encode(&[MIXED]));
        let completion = json!({"id": "chatcmpl-llmo-r2t", "choices": [{"index": 0, "message": {"role": "assistant",
            "reasoning_content": "The user wants two cities °F.", "content": "Checking both 東京.",
            "tool_calls": [{"id": "call_a1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                           {"id": "call_b2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"}}]},
            "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 412, "completion_tokens": 57, "prompt_tokens_details": {"cached_tokens": 256}}});
        let whole: Value = serde_json::from_slice(
            &super::super::from_chat(&serde_json::to_vec(&completion).unwrap(), "claude-public")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(acc["content"], whole["content"]);
        assert_eq!(acc["stop_reason"], "tool_use");
        assert_eq!(acc["usage"], whole["usage"]);
        assert_eq!(acc["id"], whole["id"]);
    }

    #[test]
    fn message_start_carries_the_estimate_then_real_usage_arrives() {
        let out = encode(&[USAGE]);
        let first = std::str::from_utf8(&out)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap()
            .to_string();
        assert!(first.contains(r#""input_tokens":321"#), "{first}");
        let acc = accumulate(&out);
        assert_eq!(acc["usage"]["input_tokens"], 24);
        assert_eq!(acc["usage"]["output_tokens"], 7);
        // Usage on the first chunk (vLLM continuous usage stats) is used at once.
        let early = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}\n\n";
        let out = encode(&[early, b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n"]);
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains(r#""input_tokens":9,"#));
        assert_eq!(accumulate(&out)["usage"]["output_tokens"], 2);
    }

    #[test]
    fn errors_and_cut_streams_end_with_an_error_event() {
        let err = encode(&[b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"error\":{\"message\":\"busy\",\"type\":\"server_error\",\"code\":\"overloaded\"}}\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            accumulate(&err)["error"],
            json!({"type": "overloaded_error", "message": "busy"})
        );
        let err = encode(&[b"data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_exceeded\",\"code\":\"rate_limit_exceeded\"}}\n\n"]);
        assert_eq!(accumulate(&err)["error"]["type"], "rate_limit_error");
        let err = encode(&[b"data: {\"error\":{\"message\":\"down\",\"code\":503}}\n\n"]);
        assert_eq!(accumulate(&err)["error"]["type"], "overloaded_error");
        let cut = encode(&[&TOOL[..TOOL.len() / 2]]);
        assert_eq!(
            accumulate(&cut)["error"],
            json!({"type": "api_error", "message": TRUNCATED})
        );
        let junk = encode(&[b"data: {not json\n\n"]);
        assert_eq!(accumulate(&junk)["error"]["type"], "api_error");
    }

    #[test]
    fn signed_thinking_blocks_give_signature_deltas() {
        let out = encode(&[
            b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"2+2\"}}]}\n\n",
            b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"2+2\",\"signature\":\"EqQB\"}]}}]}\n\n",
            b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4\"},\"finish_reason\":\"stop\"}]}\n\n",
            b"data: [DONE]\n\n",
        ]);
        let acc = accumulate(&out);
        assert_eq!(
            acc["content"][0],
            json!({"type": "thinking", "thinking": "2+2", "signature": "EqQB"})
        );
        assert_eq!(acc["content"][1], json!({"type": "text", "text": "4"}));
        assert_eq!(acc["stop_reason"], "end_turn");
    }
}

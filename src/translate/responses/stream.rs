//! Chat chunk SSE -> the Responses event stream. Incremental: every whole
//! upstream event is turned into whole Responses events at once; the encoder
//! keeps only the output items' text (for the `...done` events and the final
//! Response object).
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::response::{
    null_as_empty, ChatUsage, End, Head, Item, Part, ResponseError, ResponseUsage, SummaryText,
};
use super::wire::{encrypt_thinking, Namespaces};
use super::ResponseMeta;
use crate::translate::sse::{SseEvent, SseParser};

/// OpenAI chunk SSE in, Responses SSE out.
pub(crate) struct ResponsesEncoder {
    head: Head,
    namespaces: Namespaces,
    parser: SseParser,
    events: Vec<SseEvent>,
    seq: u64,
    started: bool,
    items: Vec<Item>,
    /// Index in `items` of the reasoning or message item still receiving
    /// deltas (function calls stay open until the finish).
    open: Option<usize>,
    /// Output index of each Chat tool-call `index`, in order of appearance.
    calls: Vec<(u64, usize)>,
    /// Thinking blocks of the open reasoning item (its `encrypted_content`).
    thinking: Vec<serde_json::Value>,
    finish: Option<End>,
    usage: Option<ResponseUsage>,
    done: bool,
    response: Option<Vec<u8>>,
}

impl ResponsesEncoder {
    pub(crate) fn new(meta: &ResponseMeta<'_>) -> Self {
        Self {
            head: Head::new(meta),
            namespaces: Namespaces::of_request(meta.request),
            parser: SseParser::new(),
            events: Vec::new(),
            seq: 0,
            started: false,
            items: Vec::new(),
            open: None,
            calls: Vec::new(),
            thinking: Vec::new(),
            finish: None,
            usage: None,
            done: false,
            response: None,
        }
    }

    /// Whole OpenAI SSE events in (chunks, the usage chunk, `[DONE]`, error
    /// events); whole Responses events out. May return empty.
    pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(&mut out);
        let mut events = std::mem::take(&mut self.events);
        self.parser.feed(openai_sse, &mut events);
        for ev in events.drain(..) {
            if self.done {
                break;
            }
            self.event(&ev.data, &mut out);
        }
        self.events = events;
        if self.parser.overflowed() && !self.done {
            self.fail("server_error", "an upstream event exceeded 1 MiB", &mut out);
        }
        out
    }

    /// The upstream ended: completes the response if its finish was seen,
    /// else `response.failed` (the stream ended early).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(&mut out);
        let mut events = std::mem::take(&mut self.events);
        self.parser.finish(&mut events);
        for ev in events.drain(..) {
            if self.done {
                break;
            }
            self.event(&ev.data, &mut out);
        }
        if !self.done {
            if self.finish.is_some() {
                self.complete(&mut out);
            } else {
                self.fail(
                    "server_error",
                    "the upstream stream ended before the response was complete",
                    &mut out,
                );
            }
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The final Response object (as sent in `response.completed`,
    /// `response.incomplete` or `response.failed`), once done.
    pub(crate) fn response(&self) -> Option<&[u8]> {
        self.response.as_deref()
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let snapshot = self.head.write("in_progress", &[], None, None, None);
        for ty in ["response.created", "response.in_progress"] {
            self.emit_response(ty, &snapshot, out);
        }
    }

    /// One upstream SSE event's data.
    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            if self.finish.is_some() {
                self.complete(out);
            } else {
                self.fail(
                    "server_error",
                    "the upstream stream ended before the response was complete",
                    out,
                );
            }
            return;
        }
        let chunk: Chunk<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(_) => {
                self.fail("server_error", "the upstream sent an unreadable event", out);
                return;
            }
        };
        if let Some(e) = chunk.error {
            let code = e
                .code
                .as_ref()
                .and_then(|c| {
                    c.as_str()
                        .map(str::to_owned)
                        .or_else(|| Some(c.to_string()))
                })
                .filter(|c| !c.is_empty() && c != "null")
                .or(e.kind.map(Cow::into_owned))
                .unwrap_or_else(|| "server_error".to_owned());
            let message = e
                .message
                .map(Cow::into_owned)
                .unwrap_or_else(|| "the upstream failed".to_owned());
            self.fail(&code, &message, out);
            return;
        }
        for choice in chunk.choices.iter().filter(|c| c.index.unwrap_or(0) == 0) {
            self.delta(&choice.delta, out);
            if let Some(f) = &choice.finish_reason {
                if self.finish.is_none() {
                    let end = End::of_finish(Some(f));
                    self.close_all(end, out);
                    self.finish = Some(end);
                }
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(ResponseUsage::from(u));
            if self.finish.is_some() {
                self.complete(out);
            }
        }
    }

    fn delta(&mut self, d: &Delta<'_>, out: &mut Vec<u8>) {
        if self.finish.is_some() {
            return;
        }
        if let Some(r) = d.reasoning_content.as_ref().or(d.reasoning.as_ref()) {
            if !r.is_empty() {
                self.reasoning_delta(r, out);
            }
        }
        if !d.thinking_blocks.is_empty() {
            self.reasoning_item(out);
            self.thinking.extend(d.thinking_blocks.iter().cloned());
        }
        if let Some(t) = &d.content {
            if !t.is_empty() {
                self.text_delta(t, false, out);
            }
        }
        if let Some(t) = &d.refusal {
            if !t.is_empty() {
                self.text_delta(t, true, out);
            }
        }
        for tc in &d.tool_calls {
            self.call_delta(tc, out);
        }
    }

    /// The open reasoning item, opened (without a summary part) if needed.
    fn reasoning_item(&mut self, out: &mut Vec<u8>) -> usize {
        match self.open {
            Some(i) if matches!(self.items[i], Item::Reasoning { .. }) => i,
            _ => {
                self.close_open(out);
                let i = self.items.len();
                self.add_item(Item::reasoning(&self.head, i, String::new()), out);
                self.open = Some(i);
                i
            }
        }
    }

    fn reasoning_delta(&mut self, text: &str, out: &mut Vec<u8>) {
        let index = self.reasoning_item(out);
        let id = self.items[index].id().to_owned();
        if let Item::Reasoning { summary, .. } = &self.items[index] {
            if summary.is_empty() {
                let part = SummaryText::new(String::new());
                self.emit(
                    &SummaryPartEvent {
                        kind: "response.reasoning_summary_part.added",
                        item_id: &id,
                        output_index: index,
                        summary_index: 0,
                        part: &part,
                    },
                    out,
                );
                if let Item::Reasoning { summary, .. } = &mut self.items[index] {
                    summary.push(part);
                }
            }
        }
        if let Item::Reasoning { summary, .. } = &mut self.items[index] {
            if let Some(s) = summary.last_mut() {
                s.text.push_str(text);
            }
        }
        self.emit(
            &SummaryDeltaEvent {
                kind: "response.reasoning_summary_text.delta",
                item_id: &id,
                output_index: index,
                summary_index: 0,
                delta: text,
            },
            out,
        );
    }

    /// Text (`refusal` false) or refusal text of the assistant message.
    fn text_delta(&mut self, text: &str, refusal: bool, out: &mut Vec<u8>) {
        let index = match self.open {
            Some(i) if matches!(self.items[i], Item::Message { .. }) => i,
            _ => {
                self.close_open(out);
                let i = self.items.len();
                self.add_item(Item::message(&self.head, i), out);
                self.open = Some(i);
                i
            }
        };
        let id = self.items[index].id().to_owned();
        let Item::Message { content, .. } = &mut self.items[index] else {
            return;
        };
        let same_kind = matches!(
            (content.last(), refusal),
            (Some(Part::OutputText { .. }), false) | (Some(Part::Refusal { .. }), true)
        );
        if !same_kind {
            let new = if refusal {
                Part::Refusal {
                    refusal: String::new(),
                }
            } else {
                Part::text(String::new())
            };
            let last = content
                .len()
                .checked_sub(1)
                .map(|j| (j, content[j].clone()));
            let content_index = content.len();
            content.push(new.clone());
            if let Some((j, part)) = last {
                self.part_done(&id, index, j, &part, out);
            }
            self.emit(
                &PartEvent {
                    kind: "response.content_part.added",
                    item_id: &id,
                    output_index: index,
                    content_index,
                    part: &new,
                },
                out,
            );
        }
        let Item::Message { content, .. } = &mut self.items[index] else {
            return;
        };
        let content_index = content.len() - 1;
        match content.last_mut() {
            Some(Part::OutputText { text: t, .. }) => t.push_str(text),
            Some(Part::Refusal { refusal: t }) => t.push_str(text),
            None => {}
        }
        let kind = if refusal {
            "response.refusal.delta"
        } else {
            "response.output_text.delta"
        };
        self.emit(
            &TextDeltaEvent {
                kind,
                item_id: &id,
                output_index: index,
                content_index,
                delta: text,
                logprobs: (!refusal).then_some([(); 0]),
            },
            out,
        );
    }

    fn call_delta(&mut self, tc: &ToolCallDelta<'_>, out: &mut Vec<u8>) {
        let chat_index = tc.index.unwrap_or(0);
        let index = match self.calls.iter().find(|(k, _)| *k == chat_index) {
            Some((_, i)) => *i,
            None => {
                self.close_open(out);
                let i = self.items.len();
                let flat = tc
                    .function
                    .as_ref()
                    .and_then(|f| f.name.as_deref())
                    .unwrap_or("");
                let (namespace, name) = self.namespaces.split(flat);
                let item = Item::call(
                    &self.head,
                    i,
                    tc.id.as_deref().unwrap_or("").to_owned(),
                    name.to_owned(),
                    namespace.map(str::to_owned),
                );
                self.add_item(item, out);
                self.calls.push((chat_index, i));
                i
            }
        };
        let Some(args) = tc.function.as_ref().and_then(|f| f.arguments.as_deref()) else {
            return;
        };
        if args.is_empty() {
            return;
        }
        if let Item::FunctionCall { arguments, .. } = &mut self.items[index] {
            arguments.push_str(args);
        }
        let id = self.items[index].id().to_owned();
        self.emit(
            &ArgsDeltaEvent {
                kind: "response.function_call_arguments.delta",
                item_id: &id,
                output_index: index,
                delta: args,
            },
            out,
        );
    }

    fn add_item(&mut self, item: Item, out: &mut Vec<u8>) {
        let index = self.items.len();
        self.emit(
            &ItemEvent {
                kind: "response.output_item.added",
                output_index: index,
                item: &item,
            },
            out,
        );
        self.items.push(item);
    }

    /// Ends the open reasoning or message item.
    fn close_open(&mut self, out: &mut Vec<u8>) {
        if let Some(i) = self.open.take() {
            self.close_item(i, "completed", out);
        }
    }

    /// Ends every item still open, in output order (the finish was seen).
    fn close_all(&mut self, end: End, out: &mut Vec<u8>) {
        let status = end.item_status();
        if let Some(i) = self.open.take() {
            self.close_item(i, status, out);
        }
        let calls: Vec<usize> = self.calls.iter().map(|(_, i)| *i).collect();
        for i in calls {
            self.close_item(i, status, out);
        }
    }

    fn close_item(&mut self, i: usize, status: &'static str, out: &mut Vec<u8>) {
        let id = self.items[i].id().to_owned();
        if let Item::Reasoning {
            encrypted_content, ..
        } = &mut self.items[i]
        {
            if !self.thinking.is_empty() {
                *encrypted_content = encrypt_thinking(&std::mem::take(&mut self.thinking));
            }
        }
        match self.items[i].clone() {
            Item::Reasoning { summary, .. } => {
                for (j, s) in summary.iter().enumerate() {
                    self.emit(
                        &SummaryTextDoneEvent {
                            kind: "response.reasoning_summary_text.done",
                            item_id: &id,
                            output_index: i,
                            summary_index: j,
                            text: &s.text,
                        },
                        out,
                    );
                    self.emit(
                        &SummaryPartEvent {
                            kind: "response.reasoning_summary_part.done",
                            item_id: &id,
                            output_index: i,
                            summary_index: j,
                            part: s,
                        },
                        out,
                    );
                }
            }
            Item::Message { content, .. } => {
                if let Some(part) = content.last() {
                    self.part_done(&id, i, content.len() - 1, part, out);
                }
            }
            Item::FunctionCall {
                arguments, name, ..
            } => {
                self.emit(
                    &ArgsDoneEvent {
                        kind: "response.function_call_arguments.done",
                        item_id: &id,
                        output_index: i,
                        name: &name,
                        arguments: &arguments,
                    },
                    out,
                );
            }
        }
        self.items[i].set_status(status);
        let item = self.items[i].clone();
        self.emit(
            &ItemEvent {
                kind: "response.output_item.done",
                output_index: i,
                item: &item,
            },
            out,
        );
    }

    /// `...text.done` / `refusal.done` and `content_part.done` of a part.
    fn part_done(&mut self, id: &str, i: usize, j: usize, part: &Part, out: &mut Vec<u8>) {
        match part {
            Part::OutputText { text, .. } => self.emit(
                &TextDoneEvent {
                    kind: "response.output_text.done",
                    item_id: id,
                    output_index: i,
                    content_index: j,
                    text: Some(text),
                    refusal: None,
                    logprobs: Some([]),
                },
                out,
            ),
            Part::Refusal { refusal } => self.emit(
                &TextDoneEvent {
                    kind: "response.refusal.done",
                    item_id: id,
                    output_index: i,
                    content_index: j,
                    text: None,
                    refusal: Some(refusal),
                    logprobs: None,
                },
                out,
            ),
        }
        self.emit(
            &PartEvent {
                kind: "response.content_part.done",
                item_id: id,
                output_index: i,
                content_index: j,
                part,
            },
            out,
        );
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        let end = self.finish.unwrap_or(End::Completed);
        let body = self.head.write(
            end.status(),
            &self.items,
            self.usage.as_ref(),
            end.details(),
            None,
        );
        let ty = match end {
            End::Completed => "response.completed",
            _ => "response.incomplete",
        };
        self.emit_response(ty, &body, out);
        self.response = Some(body);
        self.done = true;
    }

    /// `response.failed` (for stream accumulators, Codex and the store),
    /// then an `error` event: the openai SDKs raise on an event whose data
    /// has an `error` member.
    fn fail(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        self.fail_as("server_error", code, message, out);
    }

    /// [`fail`](Self::fail) with the OpenAI error `type` of the `error` event.
    fn fail_as(&mut self, kind: &str, code: &str, message: &str, out: &mut Vec<u8>) {
        let message = crate::translate::error::redact_keys(message);
        let error = ResponseError {
            code: code.to_owned(),
            message: message.clone(),
        };
        let body = self.head.write(
            "failed",
            &self.items,
            self.usage.as_ref(),
            None,
            Some(&error),
        );
        self.emit_response("response.failed", &body, out);
        self.emit(
            &ErrorEvent {
                kind: "error",
                code,
                message: &message,
                param: None,
                error: ErrorInner {
                    kind,
                    code,
                    message: &message,
                    param: None,
                },
            },
            out,
        );
        self.response = Some(body);
        self.done = true;
    }

    /// An event carrying the whole Response object (`response` is JSON text).
    fn emit_response(&mut self, ty: &str, response: &[u8], out: &mut Vec<u8>) {
        let seq = self.next_seq();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\",\"sequence_number\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b",\"response\":");
        out.extend_from_slice(response);
        out.extend_from_slice(b"}\n\n");
    }

    /// One event: `event: TYPE\ndata: {...}\n\n`, with the next
    /// sequence number appended to the object.
    fn emit<E: Event>(&mut self, e: &E, out: &mut Vec<u8>) {
        let seq = self.next_seq();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.kind().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let start = out.len();
        if serde_json::to_writer(&mut *out, e).is_err() || out.last() != Some(&b'}') {
            out.truncate(start);
            out.extend_from_slice(b"{}");
        }
        out.pop();
        if out.len() > start + 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"sequence_number\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b"}\n\n");
    }

    fn next_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        s
    }
}

/// An event struct: serialises to a JSON object whose `type` is `kind()`.
trait Event: Serialize {
    fn kind(&self) -> &'static str;
}

macro_rules! events {
    ($($name:ident<$lt:lifetime> { $($field:ident : $ty:ty),* $(,)? })*) => {$(
        #[derive(Serialize)]
        struct $name<$lt> {
            #[serde(rename = "type")]
            kind: &'static str,
            $($field: $ty,)*
        }
        impl Event for $name<'_> {
            fn kind(&self) -> &'static str {
                self.kind
            }
        }
    )*};
}

events! {
    ItemEvent<'a> { output_index: usize, item: &'a Item }
    PartEvent<'a> { item_id: &'a str, output_index: usize, content_index: usize, part: &'a Part }
    TextDeltaEvent<'a> {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        delta: &'a str,
        logprobs: Option<[(); 0]>,
    }
    SummaryPartEvent<'a> { item_id: &'a str, output_index: usize, summary_index: usize, part: &'a SummaryText }
    SummaryDeltaEvent<'a> { item_id: &'a str, output_index: usize, summary_index: usize, delta: &'a str }
    SummaryTextDoneEvent<'a> { item_id: &'a str, output_index: usize, summary_index: usize, text: &'a str }
    ArgsDeltaEvent<'a> { item_id: &'a str, output_index: usize, delta: &'a str }
    ArgsDoneEvent<'a> { item_id: &'a str, output_index: usize, name: &'a str, arguments: &'a str }
    ErrorEvent<'a> { code: &'a str, message: &'a str, param: Option<&'a str>, error: ErrorInner<'a> }
}

/// `output_text.done` (`text`, `logprobs`) or `refusal.done` (`refusal`).
#[derive(Serialize)]
struct TextDoneEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

impl Event for TextDoneEvent<'_> {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// The OpenAI error shape inside the `error` event.
#[derive(Serialize)]
struct ErrorInner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    message: &'a str,
    param: Option<&'a str>,
}

/// An OpenAI `chat.completion.chunk` (or an error event), as far as read.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(borrow, default)]
    error: Option<ChunkError<'a>>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow, default)]
    delta: Delta<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<ToolCallDelta<'a>>,
    /// Claude's signed thinking block, sent when the block ends.
    #[serde(default, deserialize_with = "null_as_empty")]
    thinking_blocks: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkError<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::{json, Value};

    use super::super::test_util::{checked, encode, encode_unchecked, meta};
    use super::*;
    use crate::translate::test_support::{assert_chunkings_agree, gen, golden_sse, run_stream};
    use crate::translate::StreamTranslator;

    macro_rules! fx {
        ($p:literal) => {
            include_bytes!(concat!("../../../tests/fixtures/", $p)).as_slice()
        };
    }

    const TEXT: &[u8] = fx!("openai/chat_completion_stream_include_usage_reconstructed.sse");
    const TEXT_NO_USAGE: &[u8] = fx!("openai/chat_completion_stream.sse");
    const TOOL: &[u8] = fx!("openai/chat_completion_tool_call_stream.sse");
    const LENGTH: &[u8] = fx!("openai/chat_completion_stream_finish_length.sse");
    const REQUEST: &[u8] = br#"{"model":"gpt-x","input":"hi","stream":true}"#;

    /// llmo's own Chat stream for an Anthropic upstream (what the gateway
    /// feeds the encoder for a translated Anthropic provider).
    fn via_anthropic(sse: &[u8]) -> Vec<u8> {
        let t = StreamTranslator::anthropic("claude-public", true, "chatcmpl-x", 1_700_000_000);
        run_stream(t, &[sse])
    }

    fn sse_of(chunks: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(format!("data: {c}\n\n").as_bytes());
        }
        out
    }

    #[test]
    fn golden_text_stream() {
        let out = encode(REQUEST, &[TEXT]);
        golden_sse!("responses/stream_text.sse", &out);
        let c = checked(&out);
        assert_eq!(c.terminal["type"], "response.completed");
        assert_eq!(c.terminal["response"]["usage"]["input_tokens"], 24);
        assert_eq!(c.output.len(), 1);
    }

    #[test]
    fn golden_tool_call_stream() {
        let out = encode(REQUEST, &[TOOL]);
        golden_sse!("responses/stream_tool_call.sse", &out);
        let c = checked(&out);
        let call = &c.output[0];
        assert_eq!(call["call_id"], "call_4XzlGBLtUe9dy3GVNV4jhq7h");
        assert_eq!(call["arguments"], "{\"city\":\"New York City\"}");
        let deltas = c
            .events
            .iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .count();
        assert_eq!(deltas, 7, "each argument fragment is relayed as it arrives");
    }

    #[test]
    fn golden_length_stream_is_incomplete() {
        let out = encode(REQUEST, &[LENGTH]);
        golden_sse!("responses/stream_length.sse", &out);
        let c = checked(&out);
        assert_eq!(c.terminal["type"], "response.incomplete");
        assert_eq!(
            c.terminal["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert_eq!(c.output[0]["status"], "incomplete");
    }

    #[test]
    fn golden_anthropic_thinking_text_and_tool_use() {
        let chat = via_anthropic(fx!("anthropic/thinking_stream_docs.sse"));
        let out = encode(REQUEST, &[&chat]);
        golden_sse!("responses/stream_anthropic_thinking.sse", &out);
        let c = checked(&out);
        assert_eq!(c.output[0]["type"], "reasoning");
        assert_eq!(c.output[1]["type"], "message");

        let chat = via_anthropic(fx!("translate/anthropic_text_and_tool.sse"));
        let out = encode(REQUEST, &[&chat]);
        golden_sse!("responses/stream_anthropic_text_and_tool.sse", &out);
        let c = checked(&out);
        let types: Vec<&str> = c
            .output
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["message", "function_call"]);
        assert_eq!(
            c.terminal["response"]["usage"]["output_tokens"]
                .as_u64()
                .map(|n| n > 0),
            Some(true)
        );
    }

    #[test]
    fn no_usage_chunk_completes_at_done_with_null_usage() {
        let text = std::str::from_utf8(TEXT_NO_USAGE).unwrap();
        let no_usage: String = text
            .split_inclusive("\n\n")
            .filter(|e| !e.contains("\"usage\":{"))
            .collect();
        assert_ne!(no_usage, text);
        let c = checked(&encode(REQUEST, &[no_usage.as_bytes()]));
        assert_eq!(c.terminal["type"], "response.completed");
        assert_eq!(c.terminal["response"]["usage"], Value::Null);
    }

    /// Every event type llmo writes carries the fields of the same event in
    /// the API reference's examples (`tests/fixtures/openai/responses_*_docs.sse`).
    #[test]
    fn events_have_the_api_reference_fields() {
        fn keys(sse: &[u8]) -> BTreeMap<String, BTreeSet<String>> {
            let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for e in checked(sse).events {
                let k = out
                    .entry(e["type"].as_str().unwrap().to_owned())
                    .or_default();
                for (key, v) in e.as_object().unwrap() {
                    k.insert(key.clone());
                    if let Some(o) = v.as_object().filter(|_| key != "response") {
                        k.extend(o.keys().map(|x| format!("{key}.{x}")));
                    }
                }
            }
            out
        }
        let mut docs = keys(fx!("openai/responses_stream_docs.sse"));
        docs.extend(keys(fx!("openai/responses_function_call_stream_docs.sse")));
        docs.extend(keys(fx!("openai/responses_reasoning_stream_docs.sse")));
        let mut ours = keys(&encode(REQUEST, &[TEXT]));
        ours.extend(keys(&encode(REQUEST, &[TOOL])));
        ours.extend(keys(&encode(
            REQUEST,
            &[&via_anthropic(fx!("anthropic/thinking_stream_docs.sse"))],
        )));
        for (ty, want) in &docs {
            let got = ours.get(ty).unwrap_or_else(|| panic!("{ty} never written"));
            assert!(
                got.is_superset(want),
                "{ty}: missing {:?}",
                want.difference(got).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn upstream_error_event_fails_the_response_and_raises_in_the_sdk() {
        let mut cut = TOOL[..TOOL.len() / 2].to_vec();
        let cut_at = cut.iter().rposition(|b| *b == b'\n').unwrap() + 1;
        cut.truncate(cut_at);
        cut.extend_from_slice(
            b"\n\ndata: {\"error\":{\"message\":\"upstream stream cut\",\"type\":\"server_error\",\"param\":null,\"code\":\"stream_interrupted\"}}\n\ndata: [DONE]\n\n",
        );
        let out = encode(REQUEST, &[&cut]);
        golden_sse!("responses/stream_error_mid_stream.sse", &out);
        let c = checked(&out);
        assert_eq!(c.terminal["type"], "response.failed");
        assert_eq!(
            c.terminal["response"]["error"],
            json!({"code": "stream_interrupted", "message": "upstream stream cut"})
        );
        assert_eq!(c.error.unwrap()["error"]["message"], "upstream stream cut");
    }

    #[test]
    fn a_stream_ending_before_its_finish_fails() {
        let head = &TEXT[..TEXT.len() / 2];
        let head = &head[..=head.windows(2).rposition(|w| w == b"\n\n").unwrap() + 1];
        let c = checked(&encode(REQUEST, &[head]));
        assert_eq!(c.terminal["type"], "response.failed");
        assert_eq!(c.terminal["response"]["error"]["code"], "server_error");
        assert!(c.terminal["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended"));

        // Nothing at all from the upstream: created, in_progress, failed.
        let c = checked(&encode(REQUEST, &[]));
        assert_eq!(c.events.len(), 4);

        // After the terminal event the encoder writes nothing more.
        let mut e = ResponsesEncoder::new(&meta(REQUEST));
        let _ = e.feed(TEXT);
        assert!(e.is_done());
        assert!(e.feed(TEXT).is_empty() && e.finish().is_empty());
    }

    #[test]
    fn unreadable_and_oversized_events_fail_the_response() {
        let c = checked(&encode(REQUEST, &[b"data: {not json\n\n"]));
        assert_eq!(c.terminal["type"], "response.failed");
        let mut huge = b"data: \"".to_vec();
        huge.resize(crate::translate::MAX_EVENT + 10, b'a');
        let c = checked(&encode(REQUEST, &[&huge]));
        assert_eq!(c.terminal["type"], "response.failed");
    }

    /// Any split of the upstream bytes gives the same Responses events.
    #[test]
    fn random_chunkings_give_the_same_events() {
        let mut rng = fastrand::Rng::with_seed(0x5e5_9a7);
        let anthropic = via_anthropic(fx!("anthropic/thinking_stream_docs.sse"));
        for body in [TEXT, TEXT_NO_USAGE, TOOL, LENGTH, anthropic.as_slice()] {
            checked(&encode(REQUEST, &[body]));
            assert_chunkings_agree(&mut rng, body, |pieces| encode_unchecked(REQUEST, pieces));
        }
    }

    /// Random answers (reasoning, text, refusal, parallel tool calls with
    /// fragmented arguments) streamed as Chat chunks: the Responses stream
    /// passes the SDK checks and its final output carries exactly the
    /// generated text and arguments.
    #[test]
    fn generated_streams_accumulate_to_the_answer() {
        let mut rng = fastrand::Rng::with_seed(42);
        for _ in 0..60 {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let mut chunks = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )];
            let reasoning = rng.bool().then(|| gen::text(&mut rng, 40));
            let text = rng.bool().then(|| gen::text(&mut rng, 60));
            if let Some(r) = &reasoning {
                for f in gen::fragments(&mut rng, r, 5) {
                    chunks.push(chunk(json!({"reasoning_content": f}), Value::Null));
                }
            }
            if let Some(t) = &text {
                for f in gen::fragments(&mut rng, t, 6) {
                    chunks.push(chunk(json!({"content": f}), Value::Null));
                }
            }
            let calls: Vec<String> = (0..rng.usize(0..3))
                .map(|_| serde_json::to_string(&json!({"q": gen::text(&mut rng, 20)})).unwrap())
                .collect();
            for (i, args) in calls.iter().enumerate() {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": i, "id": format!("call_{i}"),
                    "type": "function", "function": {"name": format!("f{i}"), "arguments": ""}}]}),
                    Value::Null,
                ));
                for f in gen::fragments(&mut rng, args, 5) {
                    chunks.push(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": f}}]}),
                        Value::Null,
                    ));
                }
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            chunks.push(chunk(json!({}), json!(finish)));
            chunks.push(json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}));
            let mut sse = sse_of(&chunks);
            sse.extend_from_slice(b"data: [DONE]\n\n");
            let pieces = crate::translate::test_support::random_split(&mut rng, &sse);
            let c = checked(&encode(REQUEST, &pieces));
            assert_eq!(c.terminal["type"], "response.completed");
            let mut out = c.output.iter();
            if let Some(r) = &reasoning {
                assert_eq!(out.next().unwrap()["summary"][0]["text"], r.as_str());
            }
            if let Some(t) = &text {
                assert_eq!(out.next().unwrap()["content"][0]["text"], t.as_str());
            }
            for (i, args) in calls.iter().enumerate() {
                let item = out.next().unwrap();
                assert_eq!(item["arguments"], args.as_str());
                assert_eq!(item["call_id"], format!("call_{i}"));
            }
            assert!(out.next().is_none());
        }
    }

    /// Mutated Chat streams (the fuzz corpus, plus llmo's own translated
    /// Anthropic stream): no panic, the stream always ends with a terminal
    /// event, output bounded, chunking does not change it.
    #[test]
    fn fuzzed_chat_streams() {
        use crate::translate::fuzz::{assert_bounded, chunks, fuzz, OPENAI_STREAMS};
        let anthropic = via_anthropic(fx!("translate/anthropic_text_and_tool.sse"));
        let corpus: Vec<&[u8]> = [OPENAI_STREAMS, &[LENGTH, anthropic.as_slice()]].concat();
        fuzz("responses stream", &corpus, |rng, input| {
            let whole = encode_unchecked(REQUEST, &[input]);
            let c = checked(&whole);
            assert!(c.terminal["type"]
                .as_str()
                .unwrap()
                .starts_with("response."));
            // Text is repeated in its delta, done, part, item and final events.
            assert_bounded("responses stream", input.len(), whole.len(), 6, 8192);
            assert_eq!(
                String::from_utf8_lossy(&encode_unchecked(REQUEST, &chunks(rng, input))),
                String::from_utf8_lossy(&whole),
                "chunking changed the output"
            );
        });
    }
}

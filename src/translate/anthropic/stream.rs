//! Anthropic Messages SSE -> OpenAI chunks: the Anthropic [`Dialect`] of the
//! shared [`crate::translate::StreamTranslator`].
use serde_json::json;

use super::error::stream_error;
use super::response::{finish_reason, thinking_block};
use super::wire::{WireBlock, WireDelta, WireEvent, WireUsage};
use super::JSON_OBJECT_TOOL;
use crate::translate::openai::{FinishReason, ToolStart, Usage};
use crate::translate::sse::SseEvent;
use crate::translate::stream::{Dialect, Emitter};

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

/// Per-stream state of an Anthropic stream.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    started: bool,
    blocks: Vec<Block>,
    tool_count: u32,
    finish_sent: bool,
    usage: Option<WireUsage>,
    /// Text and signature of the thinking block being streamed.
    thinking: String,
    signature: String,
}

impl Dialect for Stream {
    fn event(&mut self, ev: &SseEvent, emit: &mut Emitter, out: &mut Vec<u8>) {
        let Ok(parsed) = serde_json::from_str::<WireEvent<'_>>(&ev.data) else {
            emit.fail_unreadable_event(out);
            return;
        };
        match parsed.ty.as_ref() {
            "message_start" => {
                if let Some(m) = parsed.message {
                    if !self.started {
                        if let Some(id) = m.id.as_deref().filter(|s| !s.is_empty()) {
                            emit.w.id = format!("chatcmpl-{id}");
                        }
                    }
                    if let Some(u) = m.usage {
                        self.usage.get_or_insert_with(WireUsage::default).merge(u);
                    }
                }
                self.ensure_started(emit, out);
            }
            "content_block_start" => {
                self.ensure_started(emit, out);
                if let Some(b) = parsed.content_block {
                    self.block_start(parsed.index, &b, emit, out);
                }
            }
            "content_block_delta" => {
                self.ensure_started(emit, out);
                if let Some(d) = parsed.delta {
                    self.block_delta(parsed.index, &d, emit, out);
                }
            }
            "message_delta" => {
                self.ensure_started(emit, out);
                if let Some(u) = parsed.usage {
                    self.usage.get_or_insert_with(WireUsage::default).merge(u);
                }
                if let Some(reason) = parsed.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    if !self.finish_sent {
                        let mut f = finish_reason(reason);
                        if f == FinishReason::ToolCalls && self.blocks.contains(&Block::JsonTool) {
                            f = FinishReason::Stop;
                        }
                        emit.w.finish(out, 0, f);
                        self.finish_sent = true;
                    }
                }
            }
            "content_block_stop" if self.blocks.get(parsed.index) == Some(&Block::Thinking) => {
                let block = thinking_block(&self.thinking, &self.signature);
                emit.w.thinking_block(out, 0, &block);
                self.thinking.clear();
                self.signature.clear();
            }
            "message_stop" => {
                self.ensure_started(emit, out);
                if !self.finish_sent {
                    emit.w.finish(out, 0, FinishReason::Stop);
                    self.finish_sent = true;
                }
                emit.end(out, self.usage());
            }
            "error" => {
                let (ty, msg) = parsed
                    .error
                    .as_ref()
                    .map(|e| (e.ty.as_deref(), e.message.as_deref().unwrap_or("")))
                    .unwrap_or((None, ""));
                emit.fail_vendor(out, stream_error(ty, msg));
            }
            // ping, unknown events.
            _ => {}
        }
    }

    fn end(&mut self, emit: &mut Emitter, out: &mut Vec<u8>) {
        if self.finish_sent {
            emit.end(out, self.usage());
        } else {
            emit.fail_truncated(out);
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.map(WireUsage::to_openai)
    }
}

impl Stream {
    fn ensure_started(&mut self, emit: &Emitter, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            emit.w.role(out, 0);
        }
    }

    fn block_start(&mut self, index: usize, b: &WireBlock<'_>, emit: &Emitter, out: &mut Vec<u8>) {
        let kind = match b.ty.as_ref() {
            "text" => {
                if let Some(t) = b.text.as_deref().filter(|t| !t.is_empty()) {
                    emit.w.content(out, 0, t);
                }
                Block::Text
            }
            "thinking" => {
                self.thinking.clear();
                self.signature.clear();
                if let Some(t) = b.thinking.as_deref().filter(|t| !t.is_empty()) {
                    emit.w.reasoning(out, 0, t);
                    self.thinking.push_str(t);
                }
                Block::Thinking
            }
            "redacted_thinking" => {
                let block =
                    json!({"type": "redacted_thinking", "data": b.data.as_deref().unwrap_or("")});
                emit.w.thinking_block(out, 0, &block);
                Block::Other
            }
            "tool_use" if b.name.as_deref() == Some(JSON_OBJECT_TOOL) => Block::JsonTool,
            "tool_use" => {
                let k = self.tool_count;
                self.tool_count += 1;
                emit.w.tool_start(
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
        // Block indexes count up from 0; a wild index must not make the state
        // grow (it is then treated as an unknown block).
        if index < MAX_BLOCKS {
            if self.blocks.len() <= index {
                self.blocks.resize(index + 1, Block::Other);
            }
            self.blocks[index] = kind;
        }
    }

    fn block_delta(&mut self, index: usize, d: &WireDelta<'_>, emit: &Emitter, out: &mut Vec<u8>) {
        let block = self.blocks.get(index).copied().unwrap_or(Block::Other);
        match d.ty.as_deref() {
            Some("text_delta") => {
                if let Some(t) = d.text.as_deref().filter(|t| !t.is_empty()) {
                    emit.w.content(out, 0, t);
                }
            }
            Some("thinking_delta") => {
                if let Some(t) = d.thinking.as_deref().filter(|t| !t.is_empty()) {
                    emit.w.reasoning(out, 0, t);
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
                    Block::Tool(k) => emit.w.tool_args(out, 0, k, p),
                    Block::JsonTool => emit.w.content(out, 0, p),
                    _ => {}
                }
            }
            // citations_delta, future deltas.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::anthropic::test_util::*;

    #[test]
    fn non_sse_junk_is_dropped_and_reported_as_truncated() {
        let out = translate_stream(&[b"<html>502 Bad Gateway</html>\n"], false);
        let acc = accumulate(&out);
        assert_eq!(acc.error.unwrap()["code"], "upstream_stream_truncated");
    }

    #[test]
    fn golden_stream_text_with_usage() {
        golden_stream!(
            include_bytes!("../../../tests/fixtures/anthropic/messages_stream.sse"),
            true,
            "anthropic/stream_text_include_usage.sse",
        );
    }

    #[test]
    fn golden_stream_text_without_usage() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/anthropic/messages_stream_docs.sse"),
            false,
            "anthropic/stream_text_docs.sse",
        );
        assert!(!String::from_utf8_lossy(&out).contains("usage"));
    }

    #[test]
    fn golden_stream_tool_use() {
        golden_stream!(
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_stream.sse"),
            true,
            "anthropic/stream_tool_use.sse",
        );
    }

    #[test]
    fn golden_stream_text_then_tool_use() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_stream_docs.sse"),
            false,
            "anthropic/stream_text_then_tool_use.sse",
        );
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
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/anthropic/thinking_stream_docs.sse"),
            true,
            "anthropic/stream_thinking.sse",
        );
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
            include_bytes!("../../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse");
        let out = translate_stream(&[sse], true);
        golden_sse!("anthropic/stream_two_tools_max_tokens.sse", &out);
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
            "../../../tests/fixtures/anthropic/errors/stream_error_event.sse"
        ));
        sse.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n");
        let out = translate_stream(&[&sse], true);
        golden_sse!("anthropic/stream_error_mid_stream.sse", &out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded\"}}\n\ndata: [DONE]\n\n"),
            "{text}"
        );
        assert!(!text.contains("\"lo\""), "nothing after the error");
    }

    #[test]
    fn truncated_stream_ends_with_an_error() {
        let body = include_bytes!("../../../tests/fixtures/anthropic/messages_stream.sse");
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
            &include_bytes!("../../../tests/fixtures/anthropic/messages_stream.sse")[..],
            &include_bytes!("../../../tests/fixtures/anthropic/tool_use_stream.sse")[..],
            &include_bytes!("../../../tests/fixtures/anthropic/thinking_stream_docs.sse")[..],
            &include_bytes!("../../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse")
                [..],
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
            include_bytes!("../../../tests/fixtures/anthropic/messages_stream.sse"),
            include_bytes!("../../../tests/fixtures/anthropic/tool_use_stream_docs.sse"),
            include_bytes!("../../../tests/fixtures/anthropic/thinking_stream_docs.sse"),
            include_bytes!("../../../tests/fixtures/translate/anthropic_two_tools_max_tokens.sse"),
        ];
        let mut rng = fastrand::Rng::with_seed(0x11_0a_7e);
        for body in bodies {
            assert_chunkings_agree(&mut rng, body, |c| translate_stream(c, true));
        }
    }

    #[test]
    fn stream_deltas_equal_the_non_stream_response_for_the_same_message() {
        // Recorded pairs with the same content: tool_use stream vs. response
        // (same call), and a constructed stream for the text+tool response.
        let pairs: [(&[u8], &[u8]); 2] = [
            (
                include_bytes!("../../../tests/fixtures/anthropic/tool_use_stream.sse"),
                include_bytes!("../../../tests/fixtures/anthropic/tool_use_response.json"),
            ),
            (
                include_bytes!("../../../tests/fixtures/translate/anthropic_text_and_tool.sse"),
                include_bytes!(
                    "../../../tests/fixtures/anthropic/tool_use_response_with_text.json"
                ),
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
        use crate::translate::test_support::gen::{fragments, text};
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

            let acc =
                accumulate_random_chunks(&mut rng, sse.as_bytes(), |c| translate_stream(c, true));
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
        let mut t = StreamTranslator::anthropic("m", false, "id", 0);
        t.feed(include_bytes!(
            "../../../tests/fixtures/anthropic/tool_use_stream.sse"
        ));
        t.finish();
        let u = t.usage().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (656, 74));
        assert!(t.is_done());
        assert!(t.error().is_none());
        assert!(t.feed(b"data: more\n\n").is_empty());
    }
}

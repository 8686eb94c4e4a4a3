//! Anthropic and Gemini providers behind the OpenAI API: the gateway sends
//! the translated request with the vendor's auth headers and answers in
//! OpenAI's format, for plain calls and streams.
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::mock_upstream::{sse_events, MockUpstream, Reply};
use crate::gateway::{add_provider, chat_body, error_of, map, store, Gw, JsonValue, UPSTREAM_KEY};

const ANTHROPIC_JSON: &str = include_str!("../fixtures/anthropic/messages_response.json");
const ANTHROPIC_SSE: &str = include_str!("../fixtures/anthropic/messages_stream.sse");
const GEMINI_JSON: &str = include_str!("../fixtures/gemini/generate_content_response.json");
const GEMINI_SSE: &str = include_str!("../fixtures/gemini/stream_generate_content.sse");

async fn vendor(kind: &str) -> (MockUpstream, Gw) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    // Anthropic's base URL has no version segment (its paths carry `/v1`).
    let base = if kind == "anthropic" {
        format!("http://{}", mock.addr)
    } else {
        mock.url()
    };
    add_provider(&mut s, "v", &base, |p| p.kind = Some(kind.into()));
    map(&mut s, "m", "v", "up-model");
    (mock, Gw::start(dir, |_| {}).await)
}

fn sse(text: &str) -> Reply {
    Reply::Sse {
        chunks: sse_events(text)
            .into_iter()
            .map(|e| (Duration::ZERO, e))
            .collect(),
        broken: false,
    }
}

/// The `data:` payloads of an OpenAI stream, `[DONE]` last.
fn payloads(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

fn streamed_text(text: &str) -> String {
    payloads(text)
        .iter()
        .filter(|p| *p != "[DONE]")
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_chat_and_stream() {
    let (mock, mut gw) = vendor("anthropic").await;
    mock.set_default(Reply::ok(ANTHROPIC_JSON));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hi! My name is Claude."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2095);
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/messages");
    assert_eq!(up.headers["x-api-key"], UPSTREAM_KEY);
    assert_eq!(up.headers["anthropic-version"], "2023-06-01");
    assert!(up.headers.get("authorization").is_none());
    let b = up.json();
    assert_eq!(b["model"], "up-model");
    assert!(b["max_tokens"].is_u64(), "{b}");

    mock.set_default(sse(ANTHROPIC_SSE));
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let p = payloads(&text);
    assert_eq!(p.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(!streamed_text(&text).is_empty(), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    assert_eq!(mock.last_request().json()["stream"], true);

    // Anthropic has no embeddings: a 400 naming the reason, no upstream call
    let calls = mock.calls();
    let (st, v) = error_of(
        gw.post("/v1/embeddings", &json!({"model": "m", "input": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(mock.calls(), calls);

    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].prompt_tokens, Some(2095));
    assert!(
        logs[1].stream && logs[1].status == 200 && logs[1].completion_tokens.is_some(),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_errors_are_mapped_and_retried_by_status() {
    let (mock, gw) = vendor("anthropic").await;
    mock.set_default(Reply::status(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}"#,
    ));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alternate"),
        "{v}"
    );
    assert_eq!(mock.calls(), 1);
    // a request the translator refuses never reaches the upstream
    let mut body = chat_body();
    body["n"] = json!(3);
    let (st, v) = error_of(gw.chat(&body).await).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(mock.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_chat_and_stream() {
    let (mock, gw) = vendor("gemini").await;
    mock.set_default(Reply::ok(GEMINI_JSON));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("Mountain View"));
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/models/up-model:generateContent");
    assert_eq!(up.headers["x-goog-api-key"], UPSTREAM_KEY);
    assert!(up.json()["contents"].is_array());

    mock.set_default(sse(GEMINI_SSE));
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert_eq!(
        payloads(&text).last().map(String::as_str),
        Some("[DONE]"),
        "{text}"
    );
    assert!(!streamed_text(&text).is_empty(), "{text}");
    assert!(
        mock.last_request().path.ends_with(":streamGenerateContent"),
        "{}",
        mock.last_request().path
    );
}

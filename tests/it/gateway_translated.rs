//! Anthropic and Gemini providers behind the OpenAI API: the gateway sends
//! the translated request with the vendor's auth headers and answers in
//! OpenAI's format, for plain calls and streams.
use serde_json::{json, Value};

use crate::common::gw::{
    add_provider, chat_body, error_of, map, map_with, store, vendor_store, Gw, JsonValue,
    UPSTREAM_KEY,
};
use crate::common::mock_upstream;
use crate::common::mock_upstream::{MockUpstream, Reply};

const ANTHROPIC_JSON: &str = include_str!("../fixtures/anthropic/messages_response.json");
const ANTHROPIC_SSE: &str = include_str!("../fixtures/anthropic/messages_stream.sse");
const GEMINI_JSON: &str = include_str!("../fixtures/gemini/generate_content_response.json");
const GEMINI_SSE: &str = include_str!("../fixtures/gemini/stream_generate_content.sse");

async fn vendor(kind: &str) -> (MockUpstream, Gw) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    vendor_store(dir.path(), &mock, kind, "v");
    (mock, Gw::start(dir, |_| {}).await)
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

    mock.set_default(Reply::sse(ANTHROPIC_SSE));
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

    mock.set_default(Reply::sse(GEMINI_SSE));
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

// ----- failover across kinds -----

const OVERLOADED_529: &str = include_str!("../fixtures/anthropic/errors/529_overloaded_error.json");
const AUTH_401: &str = include_str!("../fixtures/anthropic/errors/401_authentication_error.json");
const GEMINI_BAD_KEY: &str =
    include_str!("../fixtures/gemini/errors/400_invalid_argument_api_key.json");

/// Model `m` served by `first` (kind, priority 0) then `second` (kind,
/// priority 1), each on its own mock; `retries` on the first provider. The
/// circuit breaker is out of the way (these tests count calls).
async fn two_kinds(first: &str, retries: i64, second: &str) -> (MockUpstream, MockUpstream, Gw) {
    let (m1, m2) = (MockUpstream::start().await, MockUpstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    for (name, kind, mock, r) in [("one", first, &m1, retries), ("two", second, &m2, 0)] {
        // Anthropic's paths carry `/v1` themselves.
        let base = if kind == "anthropic" {
            format!("http://{}", mock.addr)
        } else {
            mock.url()
        };
        add_provider(&mut s, name, &base, |p| {
            p.kind = Some(kind.into());
            p.max_retries = Some(r);
        });
    }
    map_with(&mut s, "m", "one", "up-one", Some(0), None);
    map_with(&mut s, "m", "two", "up-two", Some(1), None);
    let gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;
    (m1, m2, gw)
}

fn stream_body() -> Value {
    let mut body = chat_body();
    body["stream"] = json!(true);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_503_fails_over_to_anthropic_plain_and_stream() {
    let (openai, anthropic, mut gw) = two_kinds("openai-compatible", 1, "anthropic").await;
    openai.set_default(Reply::status(503, mock_upstream::ERR_500));
    anthropic.set_default(Reply::ok(ANTHROPIC_JSON));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hi! My name is Claude."
    );
    assert_eq!(v["usage"]["total_tokens"], 2095 + 503);
    assert_eq!((openai.calls(), anthropic.calls()), (2, 1));
    let up = anthropic.last_request();
    assert_eq!(up.path, "/v1/messages");
    assert_eq!(up.json()["model"], "up-two");
    assert_eq!(up.headers["x-api-key"], UPSTREAM_KEY);

    anthropic.set_default(Reply::sse(ANTHROPIC_SSE));
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        streamed_text(&text).starts_with("The weather in San Francisco"),
        "{text}"
    );
    assert!(!text.contains("\"error\""), "{text}");
    assert_eq!(payloads(&text).last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads(&text)
        .iter()
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "m"));
    assert_eq!(
        chunks
            .iter()
            .rev()
            .find_map(|c| c["choices"][0]["finish_reason"].as_str()),
        Some("stop")
    );
    assert_eq!((openai.calls(), anthropic.calls()), (4, 2));

    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    for l in &logs {
        assert_eq!((l.status, l.attempts), (200, 3), "{l:?}");
        assert_eq!(l.provider.as_deref(), Some("two"));
        assert_eq!(l.upstream_model.as_deref(), Some("up-two"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_529_fails_over_to_openai_plain_and_stream() {
    let (anthropic, openai, gw) = two_kinds("anthropic", 1, "openai-compatible").await;
    anthropic.set_default(Reply::status(529, OVERLOADED_529));
    openai.set_default(Reply::ok(mock_upstream::CHAT));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello! How can I assist you today?"
    );
    assert_eq!((anthropic.calls(), openai.calls()), (2, 1));
    // The OpenAI-kind upstream gets the client's request, not a translation.
    let up = openai.last_request().json();
    assert_eq!(up["model"], "up-two");
    assert_eq!(up["messages"], chat_body()["messages"]);

    openai.set_default(Reply::sse_fixture());
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!streamed_text(&text).is_empty(), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    assert_eq!(payloads(&text).last().map(String::as_str), Some("[DONE]"));
    assert_eq!((anthropic.calls(), openai.calls()), (4, 2));
    assert_eq!(anthropic.last_request().json()["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_conversation_from_another_provider_fails_over_to_anthropic() {
    let (openai, anthropic, gw) = two_kinds("openai-compatible", 0, "anthropic").await;
    openai.set_default(Reply::status(503, mock_upstream::ERR_500));
    anthropic.set_default(Reply::ok(ANTHROPIC_JSON));
    // Earlier turns were answered by OpenAI (`call_…` ids) and by Gemini
    // (an id carrying a thought signature, which Anthropic would reject).
    let gemini_id = "call_resp1_0__thought__c2lnLW9uZQ==";
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": "Weather in Paris and the time in Tokyo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": gemini_id, "type": "function",
                 "function": {"name": "get_time", "arguments": "{\"tz\":\"Asia/Tokyo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "18°C, cloudy"},
            {"role": "tool", "tool_call_id": gemini_id, "content": "{\"time\":\"21:04\"}"},
            {"role": "user", "content": "Thanks, summarise."}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
        ]
    });
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json_value().await["choices"][0]["message"]["content"],
        "Hi! My name is Claude."
    );
    assert_eq!((openai.calls(), anthropic.calls()), (1, 1));
    // The OpenAI-kind provider got the conversation untouched.
    assert_eq!(
        openai.last_request().json()["messages"][2]["tool_calls"][1]["id"],
        gemini_id
    );
    let up = anthropic.last_request().json();
    assert_eq!(up["system"], "Use the tools.");
    let msgs = up["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{up}");
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_resp1_0", "name": "get_time", "input": {"tz": "Asia/Tokyo"}}
        ]),
        "{up}"
    );
    // Both results first in the next user turn, with the same (sanitised)
    // ids, then the user's text.
    let blocks = msgs[2]["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "tool_result");
    assert_eq!(blocks[0]["tool_use_id"], "call_abc");
    assert!(blocks[0]["content"].to_string().contains("18°C"), "{up}");
    assert_eq!(blocks[1]["type"], "tool_result");
    assert_eq!(blocks[1]["tool_use_id"], "call_resp1_0");
    assert!(blocks[1]["content"].to_string().contains("21:04"), "{up}");
    assert_eq!(blocks.last().unwrap()["type"], "text");
    let ids_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    for b in msgs[1]["content"].as_array().unwrap() {
        assert!(ids_ok(b["id"].as_str().unwrap()), "{b}");
    }
}

// ----- the translator's `failover` flag: llmo's own account problems -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_key_problem_fails_over_at_once_without_retries() {
    // Gemini says llmo's key is invalid (400 API_KEY_INVALID): retrying the
    // same provider cannot help, another provider can.
    let (gemini, openai, gw) = two_kinds("gemini", 2, "openai-compatible").await;
    gemini.set_default(Reply::status(400, GEMINI_BAD_KEY));
    openai.set_default(Reply::ok(mock_upstream::CHAT));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json_value().await["choices"][0]["message"]["content"],
        "Hello! How can I assist you today?"
    );
    assert_eq!((gemini.calls(), openai.calls()), (1, 1));
    // Streams too.
    openai.set_default(Reply::sse_fixture());
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    assert!(!streamed_text(&res.text().await.unwrap()).is_empty());
    assert_eq!((gemini.calls(), openai.calls()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_errors_with_no_other_provider_answer_the_mapped_error_once() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "a", &format!("http://{}", mock.addr), |p| {
        p.kind = Some("anthropic".into());
        p.max_retries = Some(2);
    });
    map(&mut s, "m", "a", "claude-sonnet-4-5");
    let mut gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;

    // llmo's Anthropic key is refused: 502 (not 401, the client's key is
    // fine), said plainly, and no retries.
    mock.set_default(Reply::status(401, AUTH_401));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_auth_failed", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rejected llmo's credentials"),
        "{v}"
    );
    assert_eq!(mock.calls(), 1);

    // Out of credit: OpenAI's 429 `insufficient_quota`, no retries.
    mock.set_default(Reply::status(
        400,
        r#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low to access the Anthropic API."}}"#,
    ));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 429, "{v}");
    assert_eq!(v["error"]["code"], "insufficient_quota", "{v}");
    assert_eq!(mock.calls(), 2);

    // A retryable error is still retried on the same provider (1 + 2).
    mock.set_default(Reply::status(529, OVERLOADED_529));
    let (st, _) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502);
    assert_eq!(mock.calls(), 5);

    let logs = gw.stop_and_logs().await;
    assert_eq!(
        logs.iter()
            .map(|l| (l.status, l.attempts))
            .collect::<Vec<_>>(),
        [(502, 1), (429, 1), (502, 3)]
    );
}

/// A model served by Anthropic (tier 0) and Gemini (tier 1): chat goes to
/// Anthropic, embeddings skip it (it has none) and are served by Gemini
/// instead of failing with Anthropic's 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_skip_providers_without_them() {
    let anthropic = MockUpstream::start().await;
    let gemini = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(
        &mut s,
        "claude",
        &format!("http://{}", anthropic.addr),
        |p| {
            p.kind = Some("anthropic".into());
            p.priority = Some(0);
        },
    );
    add_provider(&mut s, "gem", &gemini.url(), |p| {
        p.kind = Some("gemini".into());
        p.priority = Some(1);
    });
    map(&mut s, "m", "claude", "claude-up");
    map(&mut s, "m", "gem", "gemini-embed");
    let mut gw = Gw::start(dir, |_| {}).await;
    gemini.set_default(Reply::ok(include_str!(
        "../fixtures/translate/gemini_embed_content_response.json"
    )));
    let res = gw
        .post("/v1/embeddings", &json!({"model": "m", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "list", "{v}");
    assert!(v["data"][0]["embedding"].is_array(), "{v}");
    assert_eq!(anthropic.calls(), 0);
    assert_eq!(gemini.calls(), 1);
    assert!(gemini
        .last_request()
        .path
        .contains("gemini-embed:embedContent"));
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].provider.as_deref(), Some("gem"), "{logs:?}");
}

const STREAM_ERROR_EVENT: &str =
    include_str!("../fixtures/anthropic/errors/stream_error_event.sse");

/// Anthropic may answer 200 and then send `event: error` (overloaded) as
/// the stream's first event. Nothing has reached the client yet, so it is a
/// failed attempt like an HTTP 529: retried, then failed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_stream_that_opens_with_an_error_event_fails_over() {
    let (anthropic, openai, gw) = two_kinds("anthropic", 1, "openai-compatible").await;
    anthropic.set_default(Reply::sse(STREAM_ERROR_EVENT));
    openai.set_default(Reply::sse_fixture());
    let res = gw.chat(&stream_body()).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("\"error\""), "{text}");
    assert!(!streamed_text(&text).is_empty(), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(
        (anthropic.calls(), openai.calls()),
        (2, 1),
        "one retry, then failover"
    );
}

/// With no other provider, the client gets the error as an HTTP answer
/// (not a 200 stream holding an error event), in OpenAI's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_event_before_any_content_becomes_an_http_error() {
    let (mock, gw) = vendor("anthropic").await;
    mock.set_default(Reply::sse(STREAM_ERROR_EVENT));
    let (status, v) = error_of(gw.chat(&stream_body()).await).await;
    assert_eq!(status, 502, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Overloaded"), "{msg}");

    // A request error is not retried and keeps its status.
    mock.set_default(Reply::sse(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"max_tokens: too large\"}}\n\n",
    ));
    let calls = mock.calls();
    let (status, v) = error_of(gw.chat(&stream_body()).await).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{v}"
    );
    assert_eq!(mock.calls(), calls + 1, "a 400-class error is not retried");
}

// ----- scrubbing upstream error text (issue 10, item 11) and 429s (item 3) -----

/// A key that looks like no vendor's: only an exact match can hide it.
const PLAIN_KEY: &str = "plain-upstream-key-7Q";

/// Every auth header the request carried, as an upstream that echoes them.
fn echoed(h: &hyper::HeaderMap) -> String {
    ["authorization", "x-api-key", "x-goog-api-key"]
        .iter()
        .filter_map(|n| h.get(*n))
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn echo_openai(h: &hyper::HeaderMap) -> String {
    format!(
        r#"{{"error":{{"message":"bad request from {} via http://10.9.8.7:4000/v1","type":"invalid_request_error","param":null,"code":null}}}}"#,
        echoed(h)
    )
}

fn echo_anthropic(h: &hyper::HeaderMap) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"bad request from {} via http://10.9.8.7:4000/v1"}}}}"#,
        echoed(h)
    )
}

fn echo_gemini(h: &hyper::HeaderMap) -> String {
    format!(
        r#"{{"error":{{"code":400,"status":"INVALID_ARGUMENT","message":"bad request from {} via http://10.9.8.7:4000/v1"}}}}"#,
        echoed(h)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_echoing_its_key_never_shows_it_to_the_client() {
    type Echo = fn(&hyper::HeaderMap) -> String;
    let kinds: [(&str, Echo); 3] = [
        ("openai-compatible", echo_openai),
        ("anthropic", echo_anthropic),
        ("gemini", echo_gemini),
    ];
    for (kind, echo) in kinds {
        for key in [UPSTREAM_KEY, PLAIN_KEY] {
            let mock = MockUpstream::start().await;
            let dir = tempfile::tempdir().unwrap();
            let mut s = store(dir.path());
            let base = if kind == "anthropic" {
                format!("http://{}", mock.addr)
            } else {
                mock.url()
            };
            add_provider(&mut s, "v", &base, |p| {
                p.kind = Some(kind.into());
                p.key = Some(llmo::catalog::KeySource::Inline(llmo::secret::Secret::new(
                    key,
                )));
            });
            map(&mut s, "m", "v", "up-model");
            let mut gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;
            let mut stream = chat_body();
            stream["stream"] = json!(true);
            for (status, body) in [(400, chat_body()), (401, chat_body()), (403, stream)] {
                mock.set_default(Reply::Echo { status, body: echo });
                let res = gw.chat(&body).await;
                let got = res.status().as_u16();
                let text = res.text().await.unwrap();
                let what = format!("{kind} {status} -> {got}: {text}");
                // The upstream did receive the key: the echo is real.
                assert!(echo(&mock.last_request().headers).contains(key), "{what}");
                for leak in [key, "10.9.8.7", &mock.addr.to_string()] {
                    assert!(!text.contains(leak), "`{leak}` leaked: {what}");
                }
                assert!(
                    serde_json::from_str::<Value>(&text).is_ok(),
                    "still JSON: {what}"
                );
                assert!(matches!(got, 400 | 403 | 502), "{what}");
            }
            gw.stop().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_429s_everywhere_answer_429_with_retry_after() {
    let (anthropic, gemini, gw) = two_kinds("anthropic", 0, "gemini").await;
    anthropic.set_default(
        Reply::status(
            429,
            include_str!("../fixtures/anthropic/errors/429_rate_limit_error.json"),
        )
        .with_header("retry-after", "20"),
    );
    // Gemini says how long in its body (`RetryInfo`, 49 s).
    gemini.set_default(Reply::status(
        429,
        include_str!("../fixtures/gemini/errors/429_resource_exhausted.json"),
    ));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.headers()["retry-after"], "20");
    let (st, v) = error_of(res).await;
    assert_eq!(st, 429, "{v}");
    assert_eq!(v["error"]["code"], "upstream_rate_limited", "{v}");
    assert_eq!((anthropic.calls(), gemini.calls()), (1, 1));
}

/// An OpenAI-kind stream that breaks off with an error event echoing the
/// request's `Authorization` (a proxy in front of the upstream, say): the
/// event reaches the client, but without llmo's key or the upstream's URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_event_in_a_relayed_stream_never_shows_the_key() {
    for key in [UPSTREAM_KEY, PLAIN_KEY] {
        let mock = MockUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        add_provider(&mut s, "v", &mock.url(), |p| {
            p.kind = Some("openai-compatible".into());
            p.key = Some(llmo::catalog::KeySource::Inline(llmo::secret::Secret::new(
                key,
            )));
        });
        map(&mut s, "m", "v", "up-model");
        let gw = Gw::start(dir, |_| {}).await;
        let first = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-model","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
        let error = format!(
            r#"data: {{"error":{{"message":"upstream proxy refused Bearer {key} for {}/chat/completions","type":"server_error"}}}}"#,
            mock.url()
        );
        mock.set_default(Reply::Sse {
            chunks: vec![
                (std::time::Duration::ZERO, format!("{first}\n\n")),
                (
                    std::time::Duration::ZERO,
                    format!("{error}\n\ndata: [DONE]\n\n"),
                ),
            ],
            broken: false,
        });
        let mut body = chat_body();
        body["stream"] = json!(true);
        let res = gw.chat(&body).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(text.contains(r#""content":"Hel""#), "{text}");
        assert!(text.contains("upstream proxy refused"), "{text}");
        for leak in [key, &mock.addr.to_string()] {
            assert!(!text.contains(leak), "`{leak}` leaked: {text}");
        }
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
}

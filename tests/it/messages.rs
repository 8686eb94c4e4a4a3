//! Anthropic's Messages API on llmo (`/v1/messages`): native passthrough
//! to `anthropic` providers (byte for byte, headers forwarded, only llmo's
//! key upstream), the translated path through an OpenAI-compatible
//! provider, failover between the two, Anthropic-shaped errors,
//! `count_tokens`, the models list in Anthropic's shape and `HEAD /`.
use serde_json::{json, Value};

use crate::common::gw::{add_provider, map_with, named_events, store, Gw, JsonValue, UPSTREAM_KEY};
use crate::common::mock_upstream::{MockUpstream, Reply};

const CLAUDE_CODE: &str =
    include_str!("../fixtures/anthropic/claude_code_messages_request_recorded.json");
const MESSAGE: &str = include_str!("../fixtures/anthropic/messages_response.json");
const MESSAGE_SSE: &str = include_str!("../fixtures/anthropic/messages_stream.sse");
const OVERLOADED: &str = include_str!("../fixtures/anthropic/errors/529_overloaded_error.json");

/// The recorded Claude Code request: its headers and its body with the
/// model `m`, plus an assistant turn with a signed thinking block and a
/// field no API knows yet (both must go up untouched).
fn claude_code(stream: bool) -> (Vec<(String, String)>, Value) {
    let rec: Value = serde_json::from_str(CLAUDE_CODE).unwrap();
    let headers = ["anthropic-version", "anthropic-beta"]
        .iter()
        .map(|h| {
            (
                h.to_string(),
                rec["headers"][h].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut body = rec["body"].clone();
    body["model"] = json!("m");
    body["stream"] = json!(stream);
    let msgs = body["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Let me list them.", "signature": "EqQBCkgIARABGAIiQL1xsig=="},
        {"type": "text", "text": "Listing."}
    ]}));
    msgs.push(json!({"role": "user", "content": [{"type": "text", "text": "go on", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}));
    body["x_future_field"] = json!({"kept": [1, 2.5, "three"]});
    (headers, body)
}

/// One model `m` served by the providers named in `order` (priority =
/// position): `ant` is an `anthropic` provider, `oai` an
/// `openai-compatible` one.
async fn setup_order(order: &[&str]) -> (MockUpstream, MockUpstream, tempfile::TempDir) {
    let ant = MockUpstream::start().await;
    let oai = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "ant", &format!("http://{}", ant.addr), |p| {
        p.kind = Some("anthropic".into())
    });
    add_provider(&mut s, "oai", &oai.url(), |_| {});
    for (i, name) in order.iter().enumerate() {
        let upstream = if *name == "ant" {
            "claude-up"
        } else {
            "gpt-up"
        };
        map_with(&mut s, "m", name, upstream, Some(i as i64), None);
    }
    (ant, oai, dir)
}

/// `ant` first, then (with `compat`) `oai`.
async fn setup(compat: bool) -> (MockUpstream, MockUpstream, tempfile::TempDir) {
    setup_order(if compat { &["ant", "oai"] } else { &["ant"] }).await
}

async fn send(
    gw: &Gw,
    path: &str,
    headers: &[(String, String)],
    body: &Value,
) -> reqwest::Response {
    let mut b = gw.post(path, body);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.send().await.unwrap()
}

/// Status and body of an Anthropic-shaped error answer.
async fn anthropic_error(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let ty = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(ty, "application/json");
    let v = res.json_value().await;
    assert_eq!(v["type"], "error", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    (status, v["error"]["type"].as_str().unwrap().to_string(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_is_byte_for_byte_with_the_clients_headers_and_llmos_key() {
    let (ant, _oai, dir) = setup(false).await;
    let mut s = store(dir.path());
    let (_, key) = s.create_key("cc", None, None).unwrap();
    let mut gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = false).await;
    let answer = MESSAGE.replace(
        "\"type\": \"message\"",
        "\"type\": \"message\", \"x_new\": {\"a\": 1}",
    );
    ant.set_default(Reply::ok(&answer));
    let (mut headers, body) = claude_code(false);
    headers.push(("x-api-key".into(), key.expose().to_string()));
    let res = send(&gw, "/v1/messages?beta=true", &headers, &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        answer,
        "the answer byte for byte"
    );

    let up = ant.last_request();
    assert_eq!(up.path, "/v1/messages");
    assert_eq!(up.header("x-api-key"), UPSTREAM_KEY);
    assert!(up.headers.get("authorization").is_none());
    assert_eq!(up.header("anthropic-version"), headers[0].1);
    assert_eq!(up.header("anthropic-beta"), headers[1].1);
    let sent = String::from_utf8_lossy(&up.body).to_string();
    assert!(!sent.contains(key.expose()) && !format!("{:?}", up.headers).contains(key.expose()));
    let mut want = body.clone();
    want["model"] = json!("claude-up");
    assert_eq!(up.json(), want, "only `model` rewritten");
    // Every other field's bytes as the client sent them.
    for field in ["messages", "system", "tools", "thinking", "x_future_field"] {
        let raw = serde_json::to_string(&body[field]).unwrap();
        assert!(sent.contains(&raw), "`{field}` changed on the way up");
    }

    let logs = gw.stop_and_logs().await;
    let row = &logs[0];
    assert_eq!(row.api.as_deref(), Some("messages"), "{row:?}");
    assert_eq!(row.status, 200);
    assert_eq!(row.provider.as_deref(), Some("ant"));
    assert_eq!(row.key_name.as_deref(), Some("cc"));
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (Some(2095), Some(503))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_stream_is_relayed_event_for_event_with_its_usage_logged() {
    let (ant, _oai, dir) = setup(false).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    ant.set_default(Reply::sse(MESSAGE_SSE));
    let (headers, body) = claude_code(true);
    let res = send(&gw, "/v1/messages", &headers, &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.text().await.unwrap(), MESSAGE_SSE, "byte for byte");
    assert_eq!(ant.last_request().json()["stream"], true);

    // Cut after two events: an Anthropic error event ends it, never `[DONE]`.
    let events: Vec<String> = crate::common::mock_upstream::sse_events(MESSAGE_SSE);
    ant.set_default(Reply::Sse {
        chunks: events[..3]
            .iter()
            .map(|e| (std::time::Duration::ZERO, e.clone()))
            .collect(),
        broken: true,
    });
    let text = send(&gw, "/v1/messages", &headers, &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.starts_with(&events[..3].concat()), "{text}");
    let tail = &text[events[..3].concat().len()..];
    assert!(tail.starts_with("event: error\ndata: {"), "{tail}");
    assert!(tail.contains(r#""type":"api_error""#), "{tail}");
    assert!(!text.contains("[DONE]"), "{text}");

    let logs = gw.stop_and_logs().await;
    assert!(logs[0].stream && logs[0].status == 200, "{logs:?}");
    assert_eq!(logs[0].prompt_tokens, Some(770), "{logs:?}");
    assert!(logs[0].completion_tokens.unwrap() > 8, "{logs:?}");
    assert_eq!(logs[1].status, 502, "{logs:?}");
    assert_eq!(logs[1].error_type.as_deref(), Some("stream_interrupted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_on_messages_is_anthropic_shaped_with_its_status() {
    let (ant, _oai, dir) = setup(false).await;
    let mut s = store(dir.path());
    let (_, key) = s.create_key("k", Some(3), None).unwrap();
    let (_, other) = s
        .create_key("other", None, Some(vec!["elsewhere".into()]))
        .unwrap();
    let mut gw = Gw::start(dir, |o| {
        o.settings.allow_anonymous.value = false;
        o.settings.max_body.value = 64 * 1024;
    })
    .await;
    let body =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let with_key = |k: &str| vec![("x-api-key".to_string(), k.to_string())];

    let (st, ty, _) = anthropic_error(send(&gw, "/v1/messages", &[], &body).await).await;
    assert_eq!((st, ty.as_str()), (401, "authentication_error"));
    let (st, ty, _) =
        anthropic_error(send(&gw, "/v1/messages", &with_key("llmo-nope"), &body).await).await;
    assert_eq!((st, ty.as_str()), (401, "authentication_error"));
    let (st, ty, _) =
        anthropic_error(send(&gw, "/v1/messages", &with_key(other.expose()), &body).await).await;
    assert_eq!((st, ty.as_str()), (403, "permission_error"));

    gw.key = Some(key.expose().to_string());
    let mut unknown = body.clone();
    unknown["model"] = json!("nope");
    let (st, ty, v) = anthropic_error(send(&gw, "/v1/messages", &[], &unknown).await).await;
    assert_eq!((st, ty.as_str()), (404, "not_found_error"), "{v}");
    let res = gw
        .post_raw("/v1/messages", b"{\"model\": \"m\", nope".to_vec())
        .send()
        .await
        .unwrap();
    let (st, ty, _) = anthropic_error(res).await;
    assert_eq!((st, ty.as_str()), (400, "invalid_request_error"));
    let mut big = body.clone();
    big["messages"][0]["content"] = json!("x".repeat(70 * 1024));
    let (st, ty, _) = anthropic_error(send(&gw, "/v1/messages", &[], &big).await).await;
    assert_eq!((st, ty.as_str()), (413, "request_too_large"));
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert!(res.headers().contains_key("retry-after"));
    let (st, ty, _) = anthropic_error(res).await;
    assert_eq!((st, ty.as_str()), (429, "rate_limit_error"));
    assert_eq!(ant.calls(), 0, "none of these reached the upstream");
    let logs = gw.stop_and_logs().await;
    assert!(
        logs.iter().all(|l| l.api.as_deref() == Some("messages")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_refusals_keep_anthropics_answer_and_overload_is_529() {
    let (ant, _oai, dir) = setup(false).await;
    let gw = Gw::start(dir, |_| {}).await;
    let body =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});

    ant.set_default(Reply::status(529, OVERLOADED));
    let (st, ty, v) = anthropic_error(send(&gw, "/v1/messages", &[], &body).await).await;
    assert_eq!((st, ty.as_str()), (529, "overloaded_error"), "{v}");

    let refusal = r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages.0: thinking blocks need a signature"},"request_id":"req_1"}"#;
    ant.set_default(Reply::status(400, refusal));
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.unwrap(), refusal, "Anthropic's own answer");

    ant.set_default(
        Reply::status(
            429,
            include_str!("../fixtures/anthropic/errors/429_rate_limit_error.json"),
        )
        .with_header("retry-after", "7"),
    );
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(res.headers()["retry-after"], "7");
    let (st, ty, _) = anthropic_error(res).await;
    assert_eq!((st, ty.as_str()), (429, "rate_limit_error"));

    // An error event right after the 200 fails the attempt like a 529.
    ant.set_default(Reply::sse(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ));
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let (st, ty, _) = anthropic_error(send(&gw, "/v1/messages", &[], &stream).await).await;
    assert_eq!((st, ty.as_str()), (529, "overloaded_error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_in_anthropics_shape_and_the_root_answers() {
    let (_ant, _oai, dir) = setup(false).await;
    let gw = Gw::start(dir, |_| {}).await;
    let get = |path: &str, anthropic: bool| {
        let mut b = gw.http.get(format!("{}{path}", gw.url));
        if anthropic {
            b = b.header("anthropic-version", "2023-06-01");
        }
        b.send()
    };
    let v = get("/v1/models", true).await.unwrap().json_value().await;
    assert_eq!(v["data"][0]["type"], "model", "{v}");
    assert_eq!(v["data"][0]["id"], "m");
    assert!(v["data"][0]["display_name"].is_string());
    assert!(v["data"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (v["first_id"].clone(), v["last_id"].clone()),
        (json!("m"), json!("m"))
    );
    assert_eq!(v["has_more"], false);
    let v = get("/v1/models", false).await.unwrap().json_value().await;
    assert_eq!(v["object"], "list", "OpenAI's shape without the header");
    let v = get("/v1/models/m", true).await.unwrap().json_value().await;
    assert_eq!(
        (v["type"].clone(), v["id"].clone()),
        (json!("model"), json!("m"))
    );

    let res = gw.http.head(format!("{}/", gw.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = get("/", false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(!res.text().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_asks_anthropic_else_estimates() {
    let (ant, oai, dir) = setup(true).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    ant.route(
        "/v1/messages/count_tokens",
        Reply::ok(r#"{"input_tokens":4242}"#),
    );
    let (headers, mut body) = claude_code(false);
    body.as_object_mut().unwrap().remove("stream");
    let res = send(&gw, "/v1/messages/count_tokens?beta=true", &headers, &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json_value().await, json!({"input_tokens": 4242}));
    let up = ant.last_request();
    assert_eq!(up.path, "/v1/messages/count_tokens");
    assert_eq!(up.header("anthropic-beta"), headers[1].1);
    assert_eq!(up.json()["model"], "claude-up");

    // The anthropic provider fails: the local estimate answers.
    ant.push(Reply::status(
        500,
        r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#,
    ));
    let failing = json!({"model": "m", "messages": [{"role": "user", "content": "hello there"}]});
    let v = send(&gw, "/v1/messages/count_tokens", &headers, &failing)
        .await
        .json_value()
        .await;
    let n = v["input_tokens"].as_u64().unwrap_or_else(|| panic!("{v}"));
    assert!(n > 0 && n < 50, "{v}");
    assert_eq!(oai.calls(), 0, "no upstream counts for other kinds");
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].provider.as_deref(), Some("ant"), "{logs:?}");
    assert!(
        logs.iter()
            .all(|l| l.status == 200 && l.api.as_deref() == Some("messages")),
        "{logs:?}"
    );
}

const TOOL_CALL: &str = include_str!("../fixtures/openai/chat_completion_tool_call.json");
const TOOL_CALL_SSE: &str = include_str!("../fixtures/openai/chat_completion_tool_call_stream.sse");

fn tool_request(stream: bool) -> Value {
    json!({
        "model": "m",
        "max_tokens": 256,
        "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "get_weather", "description": "Weather of a city",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "state": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_through_an_openai_compatible_provider_with_a_tool_call() {
    let (_ant, oai, dir) = setup_order(&["oai"]).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    let beta = vec![(
        "anthropic-beta".to_string(),
        "interleaved-thinking-2025-05-14,some-future-beta".to_string(),
    )];
    oai.set_default(Reply::ok(TOOL_CALL));
    let res = send(&gw, "/v1/messages", &beta, &tool_request(false)).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "m");
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let call = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(call["id"], "call_CUdUoJpsWWVdxXntucvnol1M");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        call["input"],
        json!({"city": "San Francisco", "state": "CA"})
    );
    assert_eq!(v["usage"]["input_tokens"], 48);
    assert_eq!(v["usage"]["output_tokens"], 19);
    let up = oai.last_request();
    assert_eq!(up.path, "/v1/chat/completions");
    assert_eq!(up.header("authorization"), format!("Bearer {UPSTREAM_KEY}"));
    assert!(up.headers.get("anthropic-beta").is_none());
    let b = up.json();
    assert_eq!(b["model"], "gpt-up");
    assert_eq!(b["messages"][0]["role"], "system", "{b}");
    assert_eq!(b["tools"][0]["function"]["name"], "get_weather", "{b}");

    oai.set_default(Reply::sse(TOOL_CALL_SSE));
    let res = send(&gw, "/v1/messages", &beta, &tool_request(true)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    assert!(!text.contains("[DONE]"), "{text}");
    let events = named_events(&text);
    let names: Vec<&str> = events
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "ping")
        .collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(
        events[0].1["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "{text}"
    );
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        start.1["content_block"]["id"],
        "call_4XzlGBLtUe9dy3GVNV4jhq7h"
    );
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    let fragments: Vec<&str> = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert!(
        fragments.len() > 1,
        "relayed as the fragments arrive: {fragments:?}"
    );
    assert_eq!(fragments.concat(), r#"{"city":"New York City"}"#);
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use", "{text}");
    assert_eq!(delta.1["usage"]["output_tokens"], 16, "{text}");
    assert_eq!(
        oai.last_request().json()["stream_options"]["include_usage"],
        true
    );

    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 2);
    assert!(
        logs.iter().all(|l| l.api.as_deref() == Some("messages")
            && l.provider.as_deref() == Some("oai")
            && l.status == 200),
        "{logs:?}"
    );
    assert_eq!(
        (logs[0].prompt_tokens, logs[0].completion_tokens),
        (Some(48), Some(19))
    );
    assert_eq!(
        (logs[1].prompt_tokens, logs[1].completion_tokens),
        (Some(44), Some(16))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_between_anthropic_and_a_translated_provider_works_both_ways() {
    let body =
        json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    // anthropic overloaded -> the openai-compatible provider, translated.
    let (ant, oai, dir) = setup_order(&["ant", "oai"]).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    ant.set_default(Reply::status(529, OVERLOADED));
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["content"][0]["type"], "text", "{v}");
    assert_eq!((ant.calls(), oai.calls()), (1, 1));
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    oai.set_default(Reply::sse_fixture());
    let text = send(&gw, "/v1/messages", &[], &stream)
        .await
        .text()
        .await
        .unwrap();
    let names: Vec<String> = named_events(&text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_stop"),
        "{text}"
    );
    let logs = gw.stop_and_logs().await;
    assert!(
        logs.iter()
            .all(|l| l.provider.as_deref() == Some("oai") && l.attempts == 2),
        "{logs:?}"
    );

    // openai-compatible failing -> anthropic, natively.
    let (ant, oai, dir) = setup_order(&["oai", "ant"]).await;
    let gw = Gw::start(dir, |_| {}).await;
    oai.set_default(Reply::status(500, crate::common::mock_upstream::ERR_500));
    ant.set_default(Reply::ok(MESSAGE));
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), MESSAGE);
    assert_eq!((oai.calls(), ant.calls()), (1, 1));
    assert_eq!(ant.last_request().json()["messages"], body["messages"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_fail_mid_way_end_with_one_anthropic_error_event() {
    let (ant, oai, dir) = setup_order(&["ant"]).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    let body = json!({"model": "m", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    // Anthropic's own error event after content: relayed (without the
    // provider's key), and the stream ends there.
    let events = crate::common::mock_upstream::sse_events(MESSAGE_SSE);
    let error = format!("event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded for {UPSTREAM_KEY}\"}}}}\n\n");
    let mut chunks: Vec<String> = events[..4].to_vec();
    chunks.push(error);
    chunks.push(events[4].clone());
    ant.set_default(Reply::Sse {
        chunks: chunks
            .into_iter()
            .map(|c| (std::time::Duration::ZERO, c))
            .collect(),
        broken: false,
    });
    let text = send(&gw, "/v1/messages", &[], &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.starts_with(&events[..4].concat()), "{text}");
    let tail = &text[events[..4].concat().len()..];
    assert!(tail.starts_with("event: error\n"), "{tail}");
    assert!(
        tail.contains("overloaded_error") && !tail.contains(UPSTREAM_KEY),
        "{tail}"
    );
    assert_eq!(
        tail.matches("event:").count(),
        1,
        "nothing after the error: {tail}"
    );
    drop(gw.stop_and_logs().await);

    // A translated stream cut mid-way: one Anthropic error event, no `[DONE]`.
    let (_ant, oai2, dir) = setup_order(&["oai"]).await;
    drop(oai);
    let mut gw = Gw::start(dir, |_| {}).await;
    let chunks = crate::common::mock_upstream::sse_events(TOOL_CALL_SSE);
    oai2.set_default(Reply::Sse {
        chunks: chunks[..4]
            .iter()
            .map(|c| (std::time::Duration::ZERO, c.clone()))
            .collect(),
        broken: true,
    });
    let text = send(&gw, "/v1/messages", &[], &body)
        .await
        .text()
        .await
        .unwrap();
    let events = named_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.iter().filter(|n| **n == "error").count(), 1, "{text}");
    assert_eq!(names.last(), Some(&"error"), "{text}");
    assert!(
        !text.contains("[DONE]") && !names.contains(&"message_stop"),
        "{text}"
    );
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].status, 502, "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_a_mebibyte_pass_through_or_are_translated_whole() {
    let body =
        json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    let long = "y".repeat(1100 * 1024);
    let (ant, _oai, dir) = setup_order(&["ant"]).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    let big = MESSAGE.replace("Hi! My name is Claude.", &long);
    ant.set_default(Reply::ok(&big));
    let res = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap() == big, "byte for byte");
    let logs = gw.stop_and_logs().await;
    assert_eq!(
        (logs[0].prompt_tokens, logs[0].completion_tokens),
        (Some(2095), Some(503))
    );

    let (_ant, oai, dir) = setup_order(&["oai"]).await;
    let gw = Gw::start(dir, |_| {}).await;
    let mut chat: Value = serde_json::from_str(crate::common::mock_upstream::CHAT).unwrap();
    chat["choices"][0]["message"]["content"] = json!(long);
    oai.set_default(Reply::ok(&chat.to_string()));
    let v = send(&gw, "/v1/messages", &[], &body)
        .await
        .json_value()
        .await;
    assert_eq!(v["type"], "message");
    assert_eq!(
        v["content"][0]["text"].as_str().map(str::len),
        Some(long.len())
    );
}

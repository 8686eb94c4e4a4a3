//! The gateway in-process against mock upstreams: the OpenAI API surface,
//! pass-through, streams, auth, every error shape.
use std::time::Duration;

use serde_json::json;

use crate::common::gw::{
    chat_body, error_of, logs, one_provider, store, Gw, JsonValue, UPSTREAM_KEY,
};
use crate::common::mock_upstream::{self, sse_events, Gate, Reply, Step};
use crate::common::{eventually, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_body_goes_through_with_only_model_rewritten() {
    let (mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    let res = gw
        .post("/v1/chat/completions", &chat_body())
        .header("authorization", "Bearer client-side-key-must-not-leak")
        .send()
        .await
        .unwrap();
    // anonymous allowed, but a presented unknown key is still refused
    assert_eq!(res.status(), 401);

    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = res.bytes().await.unwrap();
    assert_eq!(
        &body[..],
        mock_upstream::CHAT.as_bytes(),
        "response bytes are forwarded as received"
    );

    let up = mock.last_request();
    assert_eq!(up.path, "/v1/chat/completions");
    let mut want = chat_body();
    want["model"] = json!("up-model");
    assert_eq!(up.json(), want);
    assert_eq!(
        up.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );

    let logs = gw.stop_and_logs().await;
    let l = logs.iter().find(|l| l.request_id == rid).unwrap();
    assert_eq!(l.status, 200);
    assert_eq!(l.model.as_deref(), Some("m"));
    assert_eq!(l.provider.as_deref(), Some("p1"));
    assert_eq!(l.upstream_model.as_deref(), Some("up-model"));
    assert_eq!(l.attempts, 1);
    assert_eq!((l.prompt_tokens, l.completion_tokens), (Some(19), Some(10)));
    assert!(!l.stream);
    assert!(l.ttfb_ms.is_some());
    assert_eq!(logs.len(), 2, "the 401 is logged too: {logs:?}");
    assert_eq!(logs[0].error_type.as_deref(), Some("invalid_key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_chunks_reach_the_client_before_the_upstream_finishes() {
    let (mock, dir) = one_provider(|_| {}).await;
    let events = sse_events(mock_upstream::CHAT_SSE);
    let first = events[0].clone();
    let rest: String = events[1..].concat();
    // The upstream holds the rest back until the client has the first
    // chunk: a gateway that buffered would never deliver it.
    let gate = Gate::new();
    mock.set_default(Reply::Stream(vec![
        Step::Send(first.clone()),
        Step::Wait(gate.clone()),
        Step::Send(rest),
    ]));
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let mut res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let c1 = tokio::time::timeout(PATIENCE, res.chunk())
        .await
        .expect("the first chunk never came while the upstream held back the rest")
        .unwrap()
        .unwrap();
    assert_eq!(&c1[..], first.as_bytes());
    gate.open();
    let mut all = c1.to_vec();
    while let Some(c) = res.chunk().await.unwrap() {
        all.extend_from_slice(&c);
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        !text.contains("\"usage\":{"),
        "usage chunk stripped: client did not ask"
    );
    assert_eq!(text.matches("data: ").count(), events.len() - 1);
    // the gateway asked upstream for usage to count tokens
    assert_eq!(
        mock.last_request().json()["stream_options"]["include_usage"],
        true
    );

    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 1);
    assert!(logs[0].stream);
    assert_eq!(logs[0].status, 200);
    assert_eq!(
        (logs[0].prompt_tokens, logs[0].completion_tokens),
        (Some(14), Some(30))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_usage_chunk_kept_when_the_client_asks() {
    let (mock, dir) = one_provider(|_| {}).await;
    mock.set_default(Reply::sse_fixture());
    let gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let res = gw.chat(&body).await;
    let text = res.text().await.unwrap();
    assert_eq!(text, mock_upstream::CHAT_SSE, "byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_shapes() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut s = store(dir.path());
    let (_, key) = s
        .create_key("only-other", None, Some(vec!["other".into()]))
        .unwrap();
    let gw = Gw::start(dir, |o| o.settings.max_body.value = 1024).await;

    let (st, v) = error_of(
        gw.post_raw("/v1/chat/completions", b"{nope".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let (st, v) = error_of(gw.chat(&json!({"model": "m"})).await).await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["param"], "messages");

    let (st, v) = error_of(gw.chat(&json!({"model": "nope", "messages": []})).await).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "model_not_found");

    let (st, v) = error_of(gw.get("/v2/whatever").await).await;
    assert_eq!(st, 404, "{v}");
    let (st, _) = error_of(gw.get("/v1/chat/completions").await).await;
    assert_eq!(st, 405);

    // 413 by Content-Length, and while reading a chunked body
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let res = gw.chat(&big).await;
    assert_eq!(res.headers()["connection"], "close");
    let (st, v) = error_of(res).await;
    assert_eq!(st, 413, "{v}");
    let bytes = serde_json::to_vec(&big).unwrap();
    let stream = futures_util::stream::iter(
        bytes
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let res = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("content-length").is_none() || res.status() == 413);
    let (st, _) = error_of(res).await;
    assert_eq!(st, 413);

    // a key limited to other models
    let res = gw
        .post("/v1/chat/completions", &chat_body())
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    let (st, v) = error_of(res).await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["code"], "model_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_unless_anonymous_is_on() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut s = store(dir.path());
    let (_, key) = s.create_key("app", None, None).unwrap();
    let mut gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = false).await;
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    gw.key = Some("llmo-wrong".into());
    let (st, _) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 401);
    gw.key = Some(key.expose().to_string());
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert_eq!(gw.get("/v1/models").await.status(), 200);
    gw.key = None;
    let (st, _) = error_of(gw.get("/v1/models").await).await;
    assert_eq!(st, 401, "listing models needs a key too");
    let logs = gw.stop_and_logs().await;
    assert!(logs
        .iter()
        .any(|l| l.key_name.as_deref() == Some("app") && l.status == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_and_get() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut s = store(dir.path());
    s.add_model("hidden", None, Some(false), &[], false)
        .unwrap();
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.get("/v1/models").await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["m"]);
    assert_eq!(v["data"][0]["owned_by"], "llmo");
    assert_eq!(v["data"][0]["object"], "model");
    let v = gw.get("/v1/models/m").await.json_value().await;
    assert_eq!(v["id"], "m");
    let (st, v) = error_of(gw.get("/v1/models/hidden").await).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "model_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_go_to_the_embeddings_endpoint() {
    let (mock, dir) = one_provider(|_| {}).await;
    mock.set_default(Reply::ok(mock_upstream::EMBEDDINGS));
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "m", "input": "hello", "encoding_format": "float"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), mock_upstream::EMBEDDINGS);
    let up = mock.last_request();
    assert_eq!(up.path, "/v1/embeddings");
    assert_eq!(
        up.json(),
        json!({"model": "up-model", "input": "hello", "encoding_format": "float"})
    );
    let (st, v) = error_of(
        gw.post("/v1/embeddings", &json!({"model": "m"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["param"], "input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_client_errors_pass_through_without_retry() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(3)).await;
    mock.set_default(Reply::status(400, mock_upstream::ERR_400));
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.unwrap(), mock_upstream::ERR_400);
    assert_eq!(mock.calls(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.get("/health").await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["service"], "llmo");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let res = gw.get("/ready").await;
    assert_eq!(res.status(), 200);
    let v = res.json_value().await;
    assert_eq!(v["ready"], true);
    assert!(v["problem"].is_null() && v["fix"].is_null());
    let p = &v["providers"][0];
    assert_eq!(p["name"], "p1");
    assert_eq!(p["kind"], "openai-compatible");
    assert_eq!(p["enabled"], true);
    assert_eq!(p["state"], "closed");
    assert_eq!(p["consecutive_failures"], 0);
    for k in ["last_error", "last_success_at", "success_rate_5m"] {
        assert!(p.get(k).is_some(), "{k} missing: {p}");
    }
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    let v = gw.get("/ready").await.json_value().await;
    assert_eq!(v["providers"][0]["success_rate_5m"], 1.0);
    assert!(v["providers"][0]["last_success_at"].is_string());
    let res = gw.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("llmo_"), "{text}");
    assert!(text.contains("p1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_is_logged_and_the_upstream_dropped() {
    let (mock, dir) = one_provider(|_| {}).await;
    mock.set_default(Reply::sse_paced(
        mock_upstream::CHAT_SSE,
        Duration::from_millis(100),
    ));
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let mut res = gw.chat(&body).await;
    assert!(res.chunk().await.unwrap().is_some());
    drop(res);
    // The row is written once the gateway noticed the client left; stopping
    // earlier would end the stream as a shutdown instead.
    let db = gw.db();
    eventually(PATIENCE, "the aborted stream is logged", || async {
        logs(&db).len() == 1
    })
    .await;
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 499);
    assert_eq!(logs[0].error_type.as_deref(), Some("client_closed"));
}

//! The gateway in-process against mock upstreams: the OpenAI API surface,
//! pass-through, streams, auth, every error shape. Shared harness here too.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llmo::catalog::{KeySource, MappingInput, ProviderInput};
use llmo::config::{Overrides, Settings};
use llmo::db::Store;
use llmo::gateway::{serve_with, Options};
use llmo::secret::Secret;
use serde_json::{json, Value};

use crate::common::mock_upstream::{self, sse_events, MockUpstream, Reply};

pub const UPSTREAM_KEY: &str = "sk-upstream-secret-key-0042";

/// Settings for a gateway whose files live in `dir` (an empty config file,
/// so the machine's own config never leaks in).
pub fn settings(dir: &Path) -> Settings {
    let cfg = dir.join("llmo.toml");
    if !cfg.exists() {
        std::fs::write(&cfg, "").unwrap();
    }
    let o = Overrides {
        db: Some(dir.join("llmo.db")),
        config: Some(cfg),
        ..Default::default()
    };
    Settings::resolve_with(&o, &BTreeMap::new()).unwrap()
}

pub fn store(dir: &Path) -> Store {
    Store::open(&dir.join("llmo.db")).unwrap().0
}

/// An openai-compatible provider at `url`, no retries, 2 s timeout, then `f`.
pub fn add_provider(s: &mut Store, name: &str, url: &str, f: impl FnOnce(&mut ProviderInput)) {
    let mut input = ProviderInput {
        kind: Some("openai-compatible".into()),
        base_url: Some(url.into()),
        key: Some(KeySource::Inline(Secret::new(UPSTREAM_KEY))),
        max_retries: Some(0),
        timeout_ms: Some(2000),
        ..Default::default()
    };
    f(&mut input);
    s.add_provider(name, &input).unwrap();
}

pub fn map(s: &mut Store, model: &str, provider: &str, upstream: &str) {
    map_with(s, model, provider, upstream, None, None);
}

pub fn map_with(
    s: &mut Store,
    model: &str,
    provider: &str,
    upstream: &str,
    priority: Option<i64>,
    weight: Option<i64>,
) {
    s.add_model(
        model,
        None,
        None,
        &[MappingInput {
            provider: provider.into(),
            upstream_model: Some(upstream.into()),
            priority,
            weight,
        }],
        true,
    )
    .unwrap();
}

pub struct Gw {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub key: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Gw {
    /// Starts the gateway on 127.0.0.1:0 over `dir` (anonymous access on
    /// unless `tweak` turns it off).
    pub async fn start(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Options)) -> Gw {
        let mut opts = Options::new(settings(dir.path()));
        opts.settings.allow_anonymous.value = true;
        tweak(&mut opts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(opts, listener, async move {
            let _ = rx.await;
        }));
        Gw {
            url,
            dir,
            http: reqwest::Client::new(),
            key: None,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("llmo.db")
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post_raw(path, serde_json::to_vec(body).unwrap())
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = &self.key {
            b = b.bearer_auth(k);
        }
        b
    }

    pub async fn chat(&self, body: &Value) -> reqwest::Response {
        self.post("/v1/chat/completions", body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut b = self.http.get(format!("{}{path}", self.url));
        if let Some(k) = &self.key {
            b = b.bearer_auth(k);
        }
        b.send().await.unwrap()
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap(),
            None => Ok(()),
        }
    }

    /// Stops the gateway (flushing its log queue) and reads the request log.
    pub async fn stop_and_logs(&mut self) -> Vec<LogLine> {
        self.stop().await.unwrap();
        logs(&self.db())
    }
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub request_id: String,
    pub key_name: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub attempts: i64,
    pub status: i64,
    pub error_type: Option<String>,
    pub ttfb_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub stream: bool,
}

pub fn logs(db: &Path) -> Vec<LogLine> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT request_id, key_name, model, provider, upstream_model, attempts, status,
                    error_type, ttfb_ms, prompt_tokens, completion_tokens, stream
             FROM request_logs ORDER BY id",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(LogLine {
            request_id: r.get(0)?,
            key_name: r.get(1)?,
            model: r.get(2)?,
            provider: r.get(3)?,
            upstream_model: r.get(4)?,
            attempts: r.get(5)?,
            status: r.get(6)?,
            error_type: r.get(7)?,
            ttfb_ms: r.get(8)?,
            prompt_tokens: r.get(9)?,
            completion_tokens: r.get(10)?,
            stream: r.get(11)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// One mock provider `p1` serving public model `m` as `up-model`.
pub async fn one_provider(f: impl FnOnce(&mut ProviderInput)) -> (MockUpstream, tempfile::TempDir) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "p1", &mock.url(), f);
    map(&mut s, "m", "p1", "up-model");
    (mock, dir)
}

pub fn chat_body() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "user": "u-1"})
}

pub async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert!(
        res.headers().contains_key("x-request-id"),
        "every answer has x-request-id"
    );
    let v: Value = res.json_value().await;
    let e = &v["error"];
    assert!(e["message"].is_string(), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    (status, v)
}

pub trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let b = self.bytes().await.unwrap();
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
    }
}

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
    assert_eq!(logs[0].error_type.as_deref(), Some("unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_chunks_reach_the_client_before_the_upstream_finishes() {
    let (mock, dir) = one_provider(|_| {}).await;
    let events = sse_events(mock_upstream::CHAT_SSE);
    let first = events[0].clone();
    let rest: String = events[1..].concat();
    mock.set_default(Reply::Sse {
        chunks: vec![
            (Duration::ZERO, first.clone()),
            (Duration::from_millis(800), rest),
        ],
        broken: false,
    });
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let t0 = Instant::now();
    let mut res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let c1 = res.chunk().await.unwrap().unwrap();
    let t_first = t0.elapsed();
    assert!(
        t_first < Duration::from_millis(250),
        "first chunk after {t_first:?}"
    );
    assert_eq!(&c1[..], first.as_bytes());
    let mut all = c1.to_vec();
    while let Some(c) = res.chunk().await.unwrap() {
        all.extend_from_slice(&c);
    }
    assert!(t0.elapsed() >= Duration::from_millis(800));
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
    let ev = sse_events(mock_upstream::CHAT_SSE);
    let chunks = ev
        .iter()
        .map(|e| (Duration::from_millis(100), e.clone()))
        .collect();
    mock.set_default(Reply::Sse {
        chunks,
        broken: false,
    });
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let mut res = gw.chat(&body).await;
    assert!(res.chunk().await.unwrap().is_some());
    drop(res);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, 499);
    assert_eq!(logs[0].error_type.as_deref(), Some("client_closed"));
}

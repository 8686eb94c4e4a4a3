//! The gateway harness: [`Gw`] runs `serve_with` in-process on
//! 127.0.0.1:0 over a temporary directory (its own config file and
//! database), with helpers to seed the catalog, make client requests and
//! read the request log. Used by every module that needs a live gateway.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmo::catalog::{KeySource, MappingInput, ProviderInput};
use llmo::config::{Overrides, Settings};
use llmo::db::Store;
use llmo::gateway::{serve_with, Options};
use llmo::secret::Secret;
use serde_json::{json, Value};

use super::mock_upstream::MockUpstream;

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
    Store::open(dir.join("llmo.db")).unwrap().0
}

/// An openai-compatible provider at `url`, no retries, 2 s timeout, then `f`.
/// The base URL a provider of `kind` has on `mock`: Anthropic's has no
/// version segment (its paths carry `/v1`), the others end in `/v1`.
pub fn base_for(mock: &MockUpstream, kind: &str) -> String {
    if kind == "anthropic" {
        format!("http://{}", mock.addr)
    } else {
        mock.url()
    }
}

/// A store in `dir` with model `m` on one provider `name` of `kind` at
/// `mock` (upstream model `up-model`).
pub fn vendor_store(dir: &Path, mock: &MockUpstream, kind: &str, name: &str) -> Store {
    let mut s = store(dir);
    add_provider(&mut s, name, &base_for(mock, kind), |p| {
        p.kind = Some(kind.into())
    });
    map(&mut s, "m", name, "up-model");
    s
}

/// The `(event name, data)` pairs of a stream of named events (Anthropic
/// Messages, OpenAI Responses); an event without data has `null`.
pub fn named_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line: {e}"))
                .to_string();
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d).unwrap())
                .unwrap_or(Value::Null);
            (name, data)
        })
        .collect()
}

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

/// A client whose requests fail after a minute instead of hanging the
/// suite when the gateway never answers.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A gateway serving in-process; [`Gw::stop`] shuts it down gracefully.
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
            http: client(),
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
    pub method: Option<String>,
    pub path: Option<String>,
    pub api: Option<String>,
    pub key_prefix: Option<String>,
}

pub fn logs(db: &Path) -> Vec<LogLine> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT request_id, key_name, model, provider, upstream_model, attempts, status,
                    error_type, ttfb_ms, prompt_tokens, completion_tokens, stream,
                    method, path, api, key_prefix
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
            method: r.get(12)?,
            path: r.get(13)?,
            api: r.get(14)?,
            key_prefix: r.get(15)?,
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

//! Routing and resilience: priority tiers, weights, retries, failover, no
//! retry after the first byte, timeouts, rate limits, the circuit breaker.
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::gw::{
    add_provider, chat_body, error_of, map_with, one_provider, store, Gw, JsonValue, UPSTREAM_KEY,
};
use crate::common::mock_upstream::{self, sse_events, MockUpstream, Reply, Step};
use crate::common::{eventually, PATIENCE};

/// Two mock providers `a` and `b` for model `m` with the given
/// (priority, weight) per mapping.
async fn two(
    a: (i64, i64),
    b: (i64, i64),
    fa: impl FnOnce(&mut llmo::catalog::ProviderInput),
    fb: impl FnOnce(&mut llmo::catalog::ProviderInput),
) -> (MockUpstream, MockUpstream, tempfile::TempDir) {
    let ma = MockUpstream::start().await;
    let mb = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "a", &ma.url(), fa);
    add_provider(&mut s, "b", &mb.url(), fb);
    map_with(&mut s, "m", "a", "model-a", Some(a.0), Some(a.1));
    map_with(&mut s, "m", "b", "model-b", Some(b.0), Some(b.1));
    (ma, mb, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_priority_tier_first() {
    let (ma, mb, dir) = two((1, 1), (0, 1), |_| {}, |_| {}).await;
    let gw = Gw::start(dir, |_| {}).await;
    for _ in 0..20 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!((ma.calls(), mb.calls()), (0, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_and_zero_drains() {
    let (ma, mb, dir) = two((0, 3), (0, 1), |_| {}, |_| {}).await;
    let gw = Gw::start(dir, |_| {}).await;
    for _ in 0..200 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    let share = ma.calls() as f64 / 200.0;
    assert!(
        (0.6..=0.9).contains(&share),
        "a got {share} of the traffic, expected ~0.75"
    );
    assert_eq!(ma.calls() + mb.calls(), 200);

    let (ma, mb, dir) = two((0, 0), (0, 1), |_| {}, |_| {}).await;
    let gw = Gw::start(dir, |_| {}).await;
    for _ in 0..30 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!(
        (ma.calls(), mb.calls()),
        (0, 30),
        "weight 0 is never picked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_the_same_provider_then_succeeds() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(2)).await;
    mock.push(Reply::status(500, mock_upstream::ERR_500));
    mock.push(Reply::Reset);
    let mut gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(mock.calls(), 3);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].attempts, 3);
    assert_eq!(logs[0].status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_after_retries_and_reports_the_last_error() {
    let (ma, mb, dir) = two((0, 1), (1, 1), |p| p.max_retries = Some(1), |_| {}).await;
    ma.set_default(Reply::status(503, mock_upstream::ERR_500));
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(mb.last_request().json()["model"], "model-b");
    assert_eq!((ma.calls(), mb.calls()), (2, 1));

    // every candidate failing: 502 with the last upstream error, never its key
    mb.set_default(Reply::status(
        500,
        &format!("{{\"error\":{{\"message\":\"bad key {UPSTREAM_KEY}\"}}}}"),
    ));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`b`") && msg.contains("500"), "{msg}");
    assert!(!msg.contains(UPSTREAM_KEY), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_once_a_stream_has_started() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(3)).await;
    let ev = sse_events(mock_upstream::CHAT_SSE);
    mock.set_default(Reply::Sse {
        chunks: vec![
            (Duration::ZERO, ev[0].clone()),
            (Duration::from_millis(20), ev[1].clone()),
        ],
        broken: true,
    });
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.starts_with(&format!("{}{}", ev[0], ev[1])), "{text}");
    assert!(text.contains("data: {\"error\":{"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(mock.calls(), 1, "no retry after bytes reached the client");
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].status, 502);
    assert_eq!(logs[0].error_type.as_deref(), Some("stream_interrupted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_before_its_first_event_is_retried() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(1)).await;
    mock.push(Reply::Sse {
        chunks: vec![],
        broken: true,
    });
    mock.set_default(Reply::sse_fixture());
    let gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(!text.contains("\"error\""));
    assert_eq!(mock.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_whole_call_first_byte_and_gaps() {
    // The upstream never answers: only the provider's timeout can end each
    // call (the test client gives up after a minute).
    let (mock, dir) = one_provider(|p| p.timeout_ms = Some(300)).await;
    mock.set_default(Reply::Stall);
    let gw = Gw::start(dir, |_| {}).await;
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 504, "{v}");
    assert_eq!(v["error"]["type"], "timeout_error");

    // stream: nothing within the timeout
    let mut body = chat_body();
    body["stream"] = json!(true);
    let (st, _) = error_of(gw.chat(&body).await).await;
    assert_eq!(st, 504);

    // stream: silence after the first event
    let ev = sse_events(mock_upstream::CHAT_SSE);
    mock.set_default(Reply::Stream(vec![Step::Send(ev[0].clone()), Step::Stall]));
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("stream_timeout"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_when_short_and_fails_over_when_long() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(1)).await;
    mock.push(Reply::status(429, mock_upstream::ERR_429).with_header("retry-after", "1"));
    let gw = Gw::start(dir, |_| {}).await;
    let t0 = Instant::now();
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(mock.calls(), 2);

    let (ma, mb, dir) = two((0, 1), (1, 1), |p| p.max_retries = Some(3), |_| {}).await;
    ma.push(Reply::status(429, mock_upstream::ERR_429).with_header("retry-after", "60"));
    let gw = Gw::start(dir, |_| {}).await;
    let t0 = Instant::now();
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "no 60 s wait: failed over at once"
    );
    assert_eq!((ma.calls(), mb.calls()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_providers_are_skipped_then_429() {
    let (ma, mb, dir) = two(
        (0, 1),
        (1, 1),
        |p| p.rate_limit_rpm = Some(2),
        |p| p.rate_limit_rpm = Some(1),
    )
    .await;
    let gw = Gw::start(dir, |_| {}).await;
    for _ in 0..3 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!((ma.calls(), mb.calls()), (2, 1));
    let res = gw.chat(&chat_body()).await;
    let ra: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&ra), "{ra}");
    let (st, v) = error_of(res).await;
    assert_eq!(st, 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(
        (ma.calls(), mb.calls()),
        (2, 1),
        "a limited provider is not called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rpm_limit() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut s = store(dir.path());
    let (_, key) = s.create_key("small", Some(2), None).unwrap();
    let mut gw = Gw::start(dir, |_| {}).await;
    gw.key = Some(key.expose().to_string());
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    let res = gw.chat(&chat_body()).await;
    assert!(res.headers().contains_key("retry-after"));
    let (st, _) = error_of(res).await;
    assert_eq!(st, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_opens_half_opens_and_closes() {
    let (ma, mb, dir) = two((0, 1), (1, 1), |_| {}, |_| {}).await;
    ma.set_default(Reply::status(500, mock_upstream::ERR_500));
    let mut gw = Gw::start(dir, |o| {
        o.settings.circuit_failures.value = 2;
        o.settings.circuit_cooldown.value = Duration::from_millis(2000);
    })
    .await;
    for _ in 0..2 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!((ma.calls(), mb.calls()), (2, 2));
    let v = gw.get("/ready").await.json_value().await;
    let a = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["state"], "open", "{v}");
    assert_eq!(a["consecutive_failures"], 2);
    assert!(a["last_error"].as_str().unwrap().contains("500"));
    // open: `a` is not even tried
    for _ in 0..3 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!(ma.calls(), 2);
    // after the cooldown one trial goes to `a`; it succeeds and closes it
    ma.set_default(Reply::ok(mock_upstream::CHAT));
    eventually(PATIENCE, "a trial request reaches `a`", || async {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
        ma.calls() == 3
    })
    .await;
    let v = gw.get("/ready").await.json_value().await;
    let a = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a["state"], "closed", "{v}");
    gw.stop().await.unwrap();
    // the changes were recorded for `llmo health` history
    let c = rusqlite::Connection::open(gw.db()).unwrap();
    let states: Vec<String> = c
        .prepare("SELECT state FROM provider_health WHERE provider = 'a' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(states, vec!["open", "half_open", "closed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_trial_failure_reopens() {
    let (mock, dir) = one_provider(|_| {}).await;
    mock.set_default(Reply::status(500, mock_upstream::ERR_500));
    let gw = Gw::start(dir, |o| {
        o.settings.circuit_failures.value = 1;
        o.settings.circuit_cooldown.value = Duration::from_millis(1000);
    })
    .await;
    let (st, _) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502);
    let res = gw.chat(&chat_body()).await;
    assert!(res.headers().contains_key("retry-after"));
    let (st, v) = error_of(res).await;
    assert_eq!(st, 503, "circuit open: {v}");
    assert_eq!(v["error"]["code"], "no_available_provider");
    assert_eq!(mock.calls(), 1);
    // open (503, no upstream call) until the cooldown lets one trial through
    eventually(PATIENCE, "a trial request goes upstream", || async {
        let (st, _) = error_of(gw.chat(&chat_body()).await).await;
        assert!(st == 503 || st == 502, "{st}");
        st == 502
    })
    .await;
    assert_eq!(mock.calls(), 2, "the trial went upstream and failed");
    let (st, _) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 503, "reopened");
    assert_eq!(mock.calls(), 2);
}

// ----- how llmo judges an upstream's answer (issue 10, items 2, 3, 12, 16) -----

const OPENAI_401: &str = include_str!("../fixtures/openai/errors/401_invalid_api_key.json");
const REGION_403: &str = r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}"#;
const MODEL_403: &str = r#"{"error":{"message":"Project `proj_1` does not have access to model `up`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;

fn provider<'a>(ready: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ready["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_401_or_403_is_llmos_key_problem_not_the_clients() {
    let (ma, mb, dir) = two((0, 1), (1, 1), |p| p.max_retries = Some(2), |_| {}).await;
    ma.set_default(Reply::status(401, OPENAI_401));
    let mut gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;

    // Fails over at once (no retry can fix llmo's key), and counts.
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!((ma.calls(), mb.calls()), (1, 1));
    let ready = gw.get("/ready").await.json_value().await;
    let a = provider(&ready, "a");
    assert_eq!(a["consecutive_failures"], 1, "{a}");
    assert!(
        a["last_error"].as_str().unwrap().contains("credentials"),
        "{a}"
    );
    assert_eq!(a["success_rate_5m"], 0.0, "{a}");
    let metrics = gw.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("llmo_failovers_total{model=\"m\"} 1"),
        "{metrics}"
    );

    // None left: 502 naming the provider, never the key nor the client's 401.
    mb.set_default(Reply::status(403, REGION_403));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_auth_failed", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`b`") && msg.contains("403"), "{msg}");
    assert!(!msg.contains(UPSTREAM_KEY), "{msg}");
    assert_eq!((ma.calls(), mb.calls()), (2, 2));

    // A 403 about the request (the model) is the client's answer, as sent.
    ma.set_default(Reply::status(403, MODEL_403));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.text().await.unwrap(), MODEL_403);
    assert_eq!((ma.calls(), mb.calls()), (3, 2), "no failover");

    // Streams too.
    ma.set_default(Reply::status(401, OPENAI_401));
    mb.set_default(Reply::sse_fixture());
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().ends_with("data: [DONE]\n\n"));

    let logs = gw.stop_and_logs().await;
    let rows: Vec<_> = logs
        .iter()
        .map(|l| (l.status, l.error_type.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            (200, None),
            (502, Some("upstream_auth")),
            (403, Some("upstream_client_error")),
            (200, None)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_rate_limited_upstream_is_a_429_with_retry_after() {
    let (ma, mb, dir) = two((0, 1), (1, 1), |_| {}, |_| {}).await;
    ma.set_default(Reply::status(429, mock_upstream::ERR_429).with_header("retry-after", "30"));
    mb.set_default(Reply::status(429, mock_upstream::ERR_429).with_header("retry-after", "7"));
    let mut gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;

    // The smallest wait any upstream asked for.
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.headers()["retry-after"], "7");
    let (st, v) = error_of(res).await;
    assert_eq!(st, 429, "{v}");
    assert_eq!(v["error"]["code"], "upstream_rate_limited", "{v}");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert!(!v["error"]["message"]
        .as_str()
        .unwrap()
        .contains(UPSTREAM_KEY));

    // No upstream said how long: llmo's own estimate.
    ma.set_default(Reply::status(429, mock_upstream::ERR_429));
    mb.set_default(Reply::status(429, mock_upstream::ERR_429));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");

    // Mixed failures: the non-429 wins (502), as before.
    mb.set_default(Reply::status(500, mock_upstream::ERR_500));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502, "{v}");

    let logs = gw.stop_and_logs().await;
    let types: Vec<_> = logs
        .iter()
        .map(|l| (l.status, l.error_type.clone()))
        .collect();
    assert_eq!(types[0], (429, Some("upstream_429".into())));
    assert_eq!(types[2].0, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_named_never_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let addr = crate::common::closed_addr();
    add_provider(
        &mut s,
        "down",
        &format!("http://{addr}/internal-path/v1"),
        |_| {},
    );
    crate::common::gw::map(&mut s, "m", "down", "up");
    let gw = Gw::start(dir, |_| {}).await;
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_unreachable", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("`down`") && msg.contains("connection refused"),
        "{msg}"
    );
    let port = addr.rsplit(':').next().unwrap();
    for leak in ["http", "internal-path", port] {
        assert!(!msg.contains(leak), "`{leak}` in {msg}");
    }
    // Streams say the same.
    let mut body = chat_body();
    body["stream"] = json!(true);
    let (st, v) = error_of(gw.chat(&body).await).await;
    assert_eq!(st, 502, "{v}");
    assert!(!v.to_string().contains("internal-path"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_that_is_not_a_json_object_is_a_failed_attempt() {
    let (mock, dir) = one_provider(|p| p.max_retries = Some(1)).await;
    let raw = |body: &str, ct| Reply::Raw {
        status: 200,
        content_type: ct,
        body: body.into(),
    };
    let mut gw = Gw::start(dir, |o| o.settings.circuit_failures.value = 1000).await;
    // Retried, then the good answer.
    mock.push(raw("<html><body>Bad gateway</body></html>", "text/html"));
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), mock_upstream::CHAT);
    // Nothing left: 502 `upstream_broken_response`.
    for bad in [
        &mock_upstream::CHAT[..40],
        "",
        "[1,2]",
        "{\"a\":1} trailing",
    ] {
        mock.push(raw(bad, "application/json"));
        mock.push(raw(bad, "application/json"));
        let (st, v) = error_of(gw.chat(&chat_body()).await).await;
        assert_eq!(st, 502, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "upstream_broken_response", "{v}");
    }
    let logs = gw.stop_and_logs().await;
    assert_eq!((logs[0].status, logs[0].attempts), (200, 2));
    for l in &logs[1..] {
        assert_eq!(
            (l.status, l.attempts, l.error_type.as_deref()),
            (502, 2, Some("upstream_broken"))
        );
    }
}

/// A chat completion of about `size` bytes, usage last.
fn big_completion(size: usize) -> String {
    let mut v: serde_json::Value = serde_json::from_str(mock_upstream::CHAT).unwrap();
    v["choices"][0]["message"]["content"] = json!("x".repeat(size));
    v["usage"] = json!({"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33});
    serde_json::to_string(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answer_over_upstream_max_body_is_a_502_naming_the_setting() {
    let (mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |o| o.settings.upstream_max_body.value = 64 * 1024).await;
    let body = big_completion(100 * 1024);
    // By Content-Length, and while reading a chunked body.
    mock.push(Reply::ok(&body));
    mock.push(Reply::Sse {
        chunks: body
            .as_bytes()
            .chunks(16 * 1024)
            .map(|c| (Duration::ZERO, String::from_utf8(c.to_vec()).unwrap()))
            .collect(),
        broken: false,
    });
    for _ in 0..2 {
        let (st, v) = error_of(gw.chat(&chat_body()).await).await;
        assert_eq!(st, 502, "{v}");
        assert_eq!(v["error"]["code"], "upstream_response_too_large", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("65536 bytes") && msg.contains("upstream_max_body"),
            "{msg}"
        );
    }
    // Under the limit: as before.
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs[0].error_type.as_deref(), Some("upstream_too_large"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_arrives_intact_with_its_usage_logged() {
    let (mock, dir) = one_provider(|_| {}).await;
    let body = big_completion(8 * 1024 * 1024);
    mock.set_default(Reply::ok(&body));
    let mut gw = Gw::start(dir, |_| {}).await;
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let got = res.bytes().await.unwrap();
    assert!(got == body.as_bytes(), "{} bytes, intact", got.len());
    let logs = gw.stop_and_logs().await;
    assert_eq!(
        (logs[0].prompt_tokens, logs[0].completion_tokens),
        (Some(11), Some(22))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_relayed_as_it_arrives_is_cut_when_it_breaks_or_overflows() {
    let (mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |o| {
        o.settings.upstream_max_body.value = 3 * 1024 * 1024;
        o.settings.circuit_failures.value = 1000;
    })
    .await;
    let chunked = |body: &str, broken: bool| Reply::Sse {
        chunks: body
            .as_bytes()
            .chunks(256 * 1024)
            .map(|c| (Duration::ZERO, String::from_utf8(c.to_vec()).unwrap()))
            .collect(),
        broken,
    };
    // Over the limit after the first MiB went out: the client never gets a
    // complete-looking answer.
    mock.push(chunked(&big_completion(4 * 1024 * 1024), false));
    // Cut by the upstream mid-way.
    let two_mib = big_completion(2 * 1024 * 1024);
    mock.push(chunked(&two_mib[..two_mib.len() - 100], true));
    for _ in 0..2 {
        let res = gw.chat(&chat_body()).await;
        assert_eq!(res.status(), 200);
        assert!(res.bytes().await.is_err(), "the body must end in an error");
    }
    // HTML of more than a MiB: refused before anything is sent.
    let html = format!("<html>{}</html>", "x".repeat(2 * 1024 * 1024));
    mock.push(chunked(&html, false));
    let (st, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (502, Some("upstream_broken_response"))
    );
    let logs = gw.stop_and_logs().await;
    let rows: Vec<_> = logs
        .iter()
        .map(|l| (l.status, l.error_type.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            (502, Some("upstream_too_large")),
            (502, Some("upstream_broken")),
            (502, Some("upstream_broken"))
        ]
    );
}

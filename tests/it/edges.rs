//! The client-facing edges of the server: slow request bodies (408 and the
//! connection closed), the client's address behind trusted proxies, the
//! one `Authorization` parser, and what the request log says about each
//! request (method, path, API, a wrong key).
use std::time::{Duration, Instant};

use llmo::secret::Secret;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::gw::{one_provider, Gw};
use crate::common::PATIENCE;

const ADMIN_KEY: &str = "llmo-admin-EDGESKEYabcdefghijklmnopqrstuvwxyz012345";

/// Reads until the server closes the connection; fails after `limit`.
async fn read_to_close(sock: &mut TcpStream, limit: Duration) -> String {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t0.elapsed()), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// The status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &str) -> (u16, Value) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"));
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {raw:?}"));
    (status, v)
}

/// Sends a request head announcing a 1000-byte body, then `first` bytes of it.
async fn stalled_post(gw: &Gw, path: &str, auth: Option<&str>) -> TcpStream {
    let addr = gw.url.trim_start_matches("http://");
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: 1000\r\n\r\n{{"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock
}

async fn metrics(gw: &Gw) -> String {
    gw.get("/metrics").await.text().await.unwrap()
}

/// Item 13: a body that stalls after its headers gets 408 (OpenAI-shaped,
/// counted, logged) at the deadline and the connection is closed; a body
/// that trickles (a byte at a time) gets 408 once below the minimum rate.
/// The admin API's body read is bounded the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_get_408_and_the_connection_is_closed() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let timeout = Duration::from_millis(700);
    let mut gw = Gw::start(dir, |o| {
        o.settings.request_body_timeout.value = timeout;
        o.settings.admin_key.value = Some(Secret::new(ADMIN_KEY));
    })
    .await;

    // Headers, one byte of a 1000-byte body, then nothing.
    let t0 = Instant::now();
    let mut sock = stalled_post(&gw, "/v1/chat/completions", None).await;
    let raw = read_to_close(&mut sock, PATIENCE).await;
    let took = t0.elapsed();
    let (status, v) = parse_answer(&raw);
    assert_eq!(status, 408, "{raw}");
    assert!(
        took >= timeout && took < timeout * 4,
        "answered after {took:?}"
    );
    assert_eq!(v["error"]["code"], "request_body_timeout", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("1 of 1000 bytes"), "{msg}");
    assert!(msg.contains("request_body_timeout"), "{msg}");
    assert!(
        raw.to_ascii_lowercase().contains("connection: close"),
        "{raw}"
    );

    // The admin API: the same bound on its own body read.
    let mut sock = stalled_post(&gw, "/admin/providers", Some(ADMIN_KEY)).await;
    let raw = read_to_close(&mut sock, PATIENCE).await;
    let (status, v) = parse_answer(&raw);
    assert_eq!(status, 408, "{raw}");
    assert_eq!(v["error"]["code"], "request_body_timeout", "{v}");

    let m = metrics(&gw).await;
    assert!(
        m.contains("llmo_request_body_timeouts_total{surface=\"api\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("llmo_request_body_timeouts_total{surface=\"admin\"} 1\n"),
        "{m}"
    );
    let logs = gw.stop_and_logs().await;
    let row = logs.iter().find(|l| l.status == 408).expect("a 408 row");
    assert_eq!(row.error_type.as_deref(), Some("request_body_timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickling_below_the_minimum_rate_gets_408() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let grace = Duration::from_millis(400);
    let mut gw = Gw::start(dir, |o| {
        o.body_rate_grace = grace;
        o.settings.request_body_min_rate.value = 100;
    })
    .await;
    let t0 = Instant::now();
    let sock = stalled_post(&gw, "/v1/chat/completions", None).await;
    let (mut rd, mut wr) = sock.into_split();
    // A byte every 150 ms: far below 100 bytes/s, and never a stall long
    // enough for the 30 s deadline.
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if wr.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, rd.read_to_end(&mut got))
        .await
        .expect("the connection was closed");
    let took = t0.elapsed();
    trickle.abort();
    let raw = String::from_utf8_lossy(&got);
    let (status, v) = parse_answer(&raw);
    assert_eq!(status, 408, "{raw}");
    assert!(took >= grace && took < Duration::from_secs(5), "{took:?}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("too slowly") && msg.contains("100 bytes/s"),
        "{msg}"
    );
    gw.stop_and_logs().await;
}

/// `n` admin calls from the client `xff` says, with `key`; the statuses.
async fn admin_calls(gw: &Gw, xff: &str, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = gw
            .http
            .get(format!("{}/admin/providers", gw.url))
            .header("x-forwarded-for", xff)
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap();
        out.push(r.status().as_u16());
    }
    out
}

/// Item 18: behind a trusted proxy, clients are told apart by their
/// `X-Forwarded-For` and slowed independently; from a peer that is not a
/// trusted proxy the header is ignored (anyone can write it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lockout_follows_the_client_behind_trusted_proxies_only() {
    const WRONG: &str = "llmo-admin-wrong-wrong-wrong-wrong-wrong";
    for (trusted, independent) in [("127.0.0.1", true), ("10.0.0.0/8", false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut gw = Gw::start(dir, |o| {
            o.settings.admin_key.value = Some(Secret::new(ADMIN_KEY));
            o.settings.trusted_proxies.value = trusted.parse().unwrap();
        })
        .await;
        let a = "203.0.113.1, 127.0.0.1";
        let b = "203.0.113.2";
        assert_eq!(admin_calls(&gw, a, WRONG, 5).await, [401; 5], "{trusted}");
        assert_eq!(admin_calls(&gw, a, WRONG, 1).await, [429], "{trusted}");
        let other = admin_calls(&gw, b, WRONG, 1).await;
        if independent {
            assert_eq!(
                other,
                [401],
                "another client behind the proxy is not slowed"
            );
        } else {
            assert_eq!(
                other,
                [429],
                "an untrusted peer's X-Forwarded-For is ignored"
            );
        }
        // The right key passes from the blocked client all the same.
        assert_eq!(admin_calls(&gw, a, ADMIN_KEY, 1).await, [200]);
        gw.stop().await.unwrap();
    }
}

/// Item 7: every `/v1` row says which method, path and API it was; an
/// unknown route is logged with them (404, `api = other`); an unknown
/// client key is logged as `invalid_key` with its shown prefix (llmo's
/// format only), never as anonymous and never with the key.
/// Item 20 (d): the `Bearer` scheme is case-insensitive on `/v1` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_rows_carry_method_path_api_and_a_wrong_keys_prefix() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let key = {
        let mut s = crate::common::gw::store(dir.path());
        s.create_key("app", None, None).unwrap().1
    };
    let key = key.expose().to_string();
    let mut gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = false).await;
    let send = |path: &str, auth: String| {
        gw.http
            .post(format!("{}{path}", gw.url))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(crate::common::gw::chat_body().to_string())
            .send()
    };
    let r = send("/v1/chat/completions", format!("BEARER {key}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = send("/v1/assistants", format!("bearer {key}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let wrong = format!("llmo-{}", "Z".repeat(40));
    let r = send("/v1/chat/completions", format!("Bearer {wrong}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = send("/v1/embeddings", "Bearer sk-not-ours-0123456789".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let db = gw.db();
    let rows = gw.stop_and_logs().await;
    let got: Vec<_> = rows
        .iter()
        .map(|l| {
            (
                l.status,
                l.method.as_deref().unwrap(),
                l.path.as_deref().unwrap(),
                l.api.as_deref().unwrap(),
                l.key_name.as_deref(),
                l.error_type.as_deref(),
                l.key_prefix.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                200,
                "POST",
                "/v1/chat/completions",
                "chat",
                Some("app"),
                None,
                None
            ),
            (
                404,
                "POST",
                "/v1/assistants",
                "other",
                None,
                Some("unknown_route"),
                None
            ),
            (
                401,
                "POST",
                "/v1/chat/completions",
                "chat",
                None,
                Some("invalid_key"),
                Some("llmo-ZZZZ")
            ),
            (
                401,
                "POST",
                "/v1/embeddings",
                "embeddings",
                None,
                Some("invalid_key"),
                None
            ),
            (200, "GET", "/v1/models", "models", Some("app"), None, None),
        ]
    );
    // Neither wrong key is anywhere in the database.
    let dump = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cat '{}'*", db.display()))
        .output()
        .unwrap()
        .stdout;
    let dump = String::from_utf8_lossy(&dump);
    assert!(!dump.contains(&wrong) && !dump.contains("sk-not-ours"));
}

/// Item 20 (c): JSON nested 200 deep for a translated provider is a 400
/// that names the nesting limit, not "must be a JSON object".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_gets_a_400_naming_the_limit() {
    let (mock, dir) = one_provider(|p| p.kind = Some("anthropic".into())).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"metadata":{deep}}}"#
    );
    let res = gw
        .post_raw("/v1/chat/completions", body.into_bytes())
        .send()
        .await
        .unwrap();
    let (status, v) = crate::common::gw::error_of(res).await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("nested deeper than 128 levels"), "{msg}");
    assert_eq!(mock.calls(), 0);
    gw.stop_and_logs().await;
}

/// Item 20 (b): a running gateway's `/metrics` shows its request-log
/// writer failing, with the error and the rows dropped (what doctor reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_a_failing_request_log_writer() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    assert!(metrics(&gw).await.contains("llmo_log_writer_state 0\n"));
    let c = rusqlite::Connection::open(gw.db()).unwrap();
    c.execute_batch("ALTER TABLE request_logs RENAME TO request_logs_away")
        .unwrap();
    assert_eq!(gw.chat(&crate::common::gw::chat_body()).await.status(), 200);
    crate::common::eventually(PATIENCE, "the writer reports failing", || async {
        metrics(&gw).await.contains("llmo_log_writer_state 2\n")
    })
    .await;
    // Nothing is written meanwhile: the state stays.
    let text = metrics(&gw).await;
    assert!(
        text.contains("llmo_log_writer_rows_dropped_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("llmo_log_writer_last_error_info{error=\""),
        "{text}"
    );
    assert!(text.contains("no such table"), "{text}");
    c.execute_batch("ALTER TABLE request_logs_away RENAME TO request_logs")
        .unwrap();
    gw.stop().await.unwrap();
}

//! Start-up, hot reload, not-ready mode and graceful shutdown.
use std::time::{Duration, Instant};

use llmo::gateway::serve_with;
use serde_json::json;

use crate::common::gw::{
    add_provider, chat_body, error_of, map, one_provider, settings, store, Gw, JsonValue,
};
use crate::common::mock_upstream::{self, sse_events, Gate, MockUpstream, Reply, Step};
use crate::common::{eventually, PATIENCE};

/// The gateway polls the database every 500 ms (`RELOAD_INTERVAL`); the
/// test waits up to [`PATIENCE`] so a loaded machine does not fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_from_another_connection_apply_within_2s() {
    let (mock, dir) = one_provider(|_| {}).await;
    let path = dir.path().to_path_buf();
    let gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["model"] = json!("late");
    let (st, _) = error_of(gw.chat(&body).await).await;
    assert_eq!(st, 404);
    // another "process": its own Store on the same file
    let mut s = store(&path);
    map(&mut s, "late", "p1", "late-upstream");
    eventually(PATIENCE, "the new model is routed", || async {
        gw.chat(&body).await.status() == 200
    })
    .await;
    assert_eq!(mock.last_request().json()["model"], "late-upstream");
    // disabling the provider takes it out of routing
    s.set_provider_enabled("p1", false).unwrap();
    eventually(
        PATIENCE,
        "the disabled provider is out of routing",
        || async { gw.chat(&body).await.status() == 503 },
    )
    .await;
}

/// The gateway polls the database every 500 ms (`RELOAD_INTERVAL`); the
/// test waits up to [`PATIENCE`] so a loaded machine does not fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_stop_working_within_2s() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let path = dir.path().to_path_buf();
    let mut s = store(&path);
    let (_, key) = s.create_key("app", None, None).unwrap();
    let mut gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = false).await;
    gw.key = Some(key.expose().to_string());
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    s.revoke_key("app").unwrap();
    eventually(PATIENCE, "the revoked key is refused", || async {
        gw.chat(&chat_body()).await.status() == 401
    })
    .await;
}

/// A key created by another process is usable once the poll sees it (a
/// key delta, not a full reload), and a key's rate window is not reset by
/// reloads: neither by a key delta nor by an unrelated full one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_created_elsewhere_work_and_rate_windows_survive_reloads() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let path = dir.path().to_path_buf();
    let mut s = store(&path);
    let (_, limited) = s.create_key("limited", Some(2), None).unwrap();
    let mut gw = Gw::start(dir, |o| o.settings.allow_anonymous.value = false).await;
    gw.key = Some(limited.expose().to_string());
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    assert_eq!(gw.chat(&chat_body()).await.status(), 429);

    let (_, fresh) = s.create_key("fresh", None, None).unwrap();
    let mut other = chat_body();
    other["model"] = json!("late");
    map(&mut s, "late", "p1", "late-upstream");
    let as_fresh = || {
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(fresh.expose())
            .header("content-type", "application/json")
            .body(other.to_string())
            .send()
    };
    eventually(PATIENCE, "the new key and model are served", || async {
        as_fresh().await.unwrap().status() == 200
    })
    .await;
    assert_eq!(
        gw.chat(&chat_body()).await.status(),
        429,
        "the limited key's window survived the reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_database_serves_not_ready_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    // the DB's directory is a file: cannot be created
    let blocker = dir.path().join("data");
    std::fs::write(&blocker, "not a directory").unwrap();
    let db = blocker.join("llmo.db");
    let mut gw = Gw::start(dir, |o| o.settings.db.value = db.clone().into()).await;
    assert_eq!(gw.get("/health").await.status(), 200);
    let res = gw.get("/ready").await;
    assert_eq!(res.status(), 503);
    let v = res.json_value().await;
    assert_eq!(v["ready"], false);
    assert!(
        v["problem"].as_str().unwrap().contains("not a directory"),
        "{v}"
    );
    assert!(v["fix"].as_str().unwrap().contains("--db"), "{v}");
    let (st, e) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 503);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a directory"),
        "{e}"
    );

    // fixed while running: picked up by the background retry (1 s, 2 s, ...)
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let mock = MockUpstream::start().await;
    {
        let mut s = llmo::db::Store::open(&db).unwrap().0;
        add_provider(&mut s, "p1", &mock.url(), |_| {});
        map(&mut s, "m", "p1", "up");
    }
    eventually(
        PATIENCE,
        "/ready turns 200 once the DB is usable",
        || async { gw.get("/ready").await.status() == 200 },
    )
    .await;
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    gw.stop().await.unwrap();

    // --exit-on-error: the same problem is an error instead
    std::fs::remove_dir_all(&blocker).unwrap();
    std::fs::write(&blocker, "x").unwrap();
    let mut opts = llmo::gateway::Options::new(settings(gw.dir.path()));
    opts.settings.db.value = db.into();
    opts.exit_on_error = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve_with(opts, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not a directory"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_from_a_newer_llmo_is_refused_not_touched() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let db = dir.path().join("llmo.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '2030-01-01', '1')",
            [],
        )
        .unwrap();
    }
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.get("/ready").await;
    assert_eq!(res.status(), 503);
    let v = res.json_value().await;
    let problem = v["problem"].as_str().unwrap();
    assert!(problem.contains("99") || problem.contains("newer"), "{v}");
    assert!(
        v["fix"].as_str().unwrap().contains("llmo migrate status"),
        "{v}"
    );
    let (st, _) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(st, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_providers_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gw::start(dir, |_| {}).await;
    let res = gw.get("/ready").await;
    assert_eq!(res.status(), 503);
    let v = res.json_value().await;
    assert!(
        v["fix"].as_str().unwrap().contains("llmo provider add"),
        "{v}"
    );
    assert!(gw.db().exists(), "the database is created on first start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_streams_finish_and_flushes_logs() {
    let (mock, dir) = one_provider(|_| {}).await;
    let ev = sse_events(mock_upstream::CHAT_SSE);
    // The stream is held back until shutdown has begun, so it is in flight
    // while the gateway drains.
    let gate = Gate::new();
    let mut steps = vec![Step::Send(ev[0].clone()), Step::Wait(gate.clone())];
    steps.extend(ev[1..].iter().cloned().map(Step::Send));
    mock.set_default(Reply::Stream(steps));
    let mut gw = Gw::start(dir, |_| {}).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    // a burst of finished non-stream requests whose rows are still queued
    mock.push(Reply::ok(mock_upstream::CHAT));
    let mut sb = chat_body();
    sb["stream"] = json!(false);
    mock.set_default(Reply::ok(mock_upstream::CHAT));
    for _ in 0..20 {
        assert_eq!(gw.chat(&sb).await.status(), 200);
    }
    let reader = tokio::spawn(async move { res.text().await.unwrap() });
    let addr = gw.url.trim_start_matches("http://").to_string();
    let (logs, ()) = tokio::join!(gw.stop_and_logs(), async {
        // Shutdown has begun once the listener is gone.
        eventually(PATIENCE, "the gateway stops listening", || async {
            tokio::net::TcpStream::connect(&addr).await.is_err()
        })
        .await;
        gate.open();
    });
    let text = reader.await.unwrap();
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the stream finished: {text}"
    );
    assert!(!text.contains("\"error\""));
    assert_eq!(
        logs.len(),
        21,
        "every request's row was written before exit"
    );
    assert!(logs.iter().any(|l| l.stream && l.status == 200));
    // after shutdown nothing listens
    let err = reqwest::get(format!("{}/health", gw.url))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
}

/// Reads until the server closes the connection (fails after `limit`).
async fn read_until_closed(sock: &mut tokio::net::TcpStream, limit: Duration) {
    use tokio::io::AsyncReadExt;
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t0.elapsed()), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after {limit:?}; got {got:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_silent_clients_are_cut_off_at_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let (_mock, dir) = one_provider(|_| {}).await;
    // Pauses between keep-alive requests stay far below the limit so a
    // loaded machine does not turn them into idle cut-offs.
    let limit = Duration::from_millis(600);
    let mut gw = Gw::start(dir, |o| o.header_timeout = limit).await;
    let addr = gw.url.trim_start_matches("http://").to_string();

    // Connects and sends nothing.
    // Clocks start before connecting: the server's timer can only start later.
    let t0 = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    read_until_closed(&mut silent, PATIENCE).await;
    let took = t0.elapsed();
    assert!(took >= limit, "closed after {took:?}");

    // Sends half a header and stalls (slowloris).
    let t0 = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow, PATIENCE).await;
    let took = t0.elapsed();
    assert!(took >= limit, "closed after {took:?}");

    // A keep-alive connection serves requests until it idles past the limit.
    let mut ka = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..3 {
        ka.write_all(req).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut ka, &mut buf)
            .await
            .unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    read_until_closed(&mut ka, PATIENCE).await;
    gw.stop_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlasting_the_header_timeout_is_not_cut() {
    let (mock, dir) = one_provider(|_| {}).await;
    mock.set_default(Reply::sse_paced(
        mock_upstream::CHAT_SSE,
        Duration::from_millis(60),
    ));
    let mut gw = Gw::start(dir, |o| o.header_timeout = Duration::from_millis(200)).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let t0 = Instant::now();
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(res.bytes().await.unwrap().to_vec()).unwrap();
    assert!(
        t0.elapsed() > Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    gw.stop_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_do_not_hold_up_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |_| {}).await; // header timeout: the 75 s default
    let addr = gw.url.trim_start_matches("http://").to_string();
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let t0 = Instant::now();
    gw.stop_and_logs().await;
    // Held up, it would wait for the 75 s header timeout.
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        t0.elapsed()
    );
}

/// `llmo doctor` next to a running gateway: the address is held by llmo and
/// its request log keeps up (read from the gateway's own /metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_the_running_gateways_request_log_state() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    let addr = gw.url.trim_start_matches("http://").to_string();
    let db = gw.db();
    let home = gw.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_llmo"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .env("XDG_DATA_HOME", &home)
            .env("LLMO_DB", &db)
            .env("LLMO_LISTEN", &addr)
            .args(["doctor"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.contains("request log:"))
        .unwrap_or_else(|| panic!("no request log check:\n{stdout}"));
    assert!(line.trim_start().starts_with("ok"), "{line}");
    assert!(line.contains("no row dropped"), "{line}");
    assert!(stdout.contains("is in use by a running llmo"), "{stdout}");
    gw.stop_and_logs().await;
}

/// At the `--shutdown-timeout` deadline, a stalled stream ends with the
/// `shutdown` error event and `[DONE]`, a stalled non-stream request gets a
/// 503 `shutdown`, and both rows are written before the queue is flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_deadline_ends_open_requests_and_logs_them() {
    let (mock, dir) = one_provider(|p| p.timeout_ms = Some(60_000)).await;
    let ev = sse_events(mock_upstream::CHAT_SSE);
    mock.push(Reply::Stream(vec![Step::Send(ev[0].clone()), Step::Stall]));
    mock.push(Reply::Stall);
    let mut gw = Gw::start(dir, |o| {
        o.settings.shutdown_timeout.value = Duration::from_millis(300)
    })
    .await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let res = gw.chat(&body).await;
    assert_eq!(res.status(), 200);
    let reader = tokio::spawn(async move { res.text().await.unwrap() });
    let plain = gw.post("/v1/chat/completions", &chat_body()).send();
    let plain = tokio::spawn(async move { error_of(plain.await.unwrap()).await });
    eventually(PATIENCE, "both requests reached the upstream", || async {
        mock.calls() == 2
    })
    .await;
    let t0 = Instant::now();
    let logs = gw.stop_and_logs().await;
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    let text = reader.await.unwrap();
    assert!(text.starts_with(&ev[0]), "{text}");
    assert!(text.contains("\"code\":\"shutdown\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let (status, e) = plain.await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(e["error"]["code"], "shutdown", "{e}");

    assert_eq!(logs.len(), 2, "{logs:?}");
    for l in &logs {
        assert_eq!(l.status, 503, "{l:?}");
        assert_eq!(l.error_type.as_deref(), Some("shutdown"), "{l:?}");
    }
    assert!(logs.iter().any(|l| l.stream) && logs.iter().any(|l| !l.stream));
}

//! Memory per request, measured on a real `llmo serve` process: the peak a
//! large translated request adds (`VmHWM`), and what stays resident after
//! it (`VmRSS`), read from /proc.
use std::process::{Child, Command, Stdio};

use crate::common::gw::{add_provider, map, store};
use crate::common::mock_upstream::{MockUpstream, Reply};
use crate::common::{closed_addr, eventually, PATIENCE};

const ANTHROPIC_JSON: &str = include_str!("../fixtures/anthropic/messages_response.json");

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `VmHWM` / `VmRSS` line of the process's status, in KiB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A chat request of `n` messages of about `len` bytes each (`role`s
/// alternate), written directly (a `Value` tree of it is slow to build).
fn conversation(n: usize, len: usize) -> Vec<u8> {
    let text = "lorem ipsum ".repeat(len / 12 + 1)[..len].to_string();
    let mut b = String::from(r#"{"model":"m","max_tokens":64,"messages":["#);
    for i in 0..n {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        if i > 0 {
            b.push(',');
        }
        b.push_str(&format!(r#"{{"role":"{role}","content":"{i} {text}"}}"#));
    }
    b.push_str("]}");
    b.into_bytes()
}

/// A 4.5 MB conversation (10,000 messages) to an Anthropic provider: the
/// server's peak grows by at most 4× the body (measured: 3.2×; the
/// `serde_json::Value` tree the translation used to build cost 2.7× by
/// itself), and after the answer its resident memory falls back to within
/// a quarter of the body of where it was (`malloc_trim`; it stayed up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_translated_request_costs_a_small_multiple_and_is_given_back() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(ANTHROPIC_JSON));
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = store(dir.path());
        let base = format!("http://{}", mock.addr);
        add_provider(&mut s, "v", &base, |p| p.kind = Some("anthropic".into()));
        map(&mut s, "m", "v", "claude-sonnet-4-5");
    }
    let cfg = dir.path().join("llmo.toml");
    std::fs::write(&cfg, "").unwrap();
    let addr = closed_addr();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_llmo"))
            .env_clear()
            .env("HOME", dir.path())
            .env("LLMO_DB", dir.path().join("llmo.db"))
            .env("LLMO_CONFIG", &cfg)
            .env("LLMO_LISTEN", &addr)
            .env("LLMO_ALLOW_ANONYMOUS", "true")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = server.0.id();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/v1/chat/completions");
    eventually(PATIENCE, "the server is ready", || async {
        let r = http.get(format!("http://{addr}/ready")).send().await;
        r.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // A small request first, so what every request needs is in the baseline.
    let small = conversation(4, 100);
    let res = http.post(&url).body(small).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let body = conversation(10_000, 430);
    let body_kb = body.len() as u64 / 1024;
    let (hwm0, rss0) = (status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS"));
    let res = http
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let _ = res.bytes().await.unwrap();
    assert_eq!(mock.calls(), 2);
    let peak = status_kb(pid, "VmHWM").saturating_sub(hwm0.max(rss0));
    let mut after = 0;
    eventually(
        PATIENCE,
        "resident memory falls back after the request",
        || {
            after = status_kb(pid, "VmRSS");
            std::future::ready(after <= rss0 + body_kb / 4)
        },
    )
    .await;
    println!(
        "body {body_kb} KiB: peak +{peak} KiB ({:.1}x), resident before {rss0} KiB, after {after} KiB",
        peak as f64 / body_kb as f64
    );
    assert!(
        peak <= 4 * body_kb,
        "peak +{peak} KiB for a {body_kb} KiB body"
    );
}

//! `--log-format json` / `LLMO_LOG_FORMAT=json` (issue 11 §6): a whole
//! `llmo serve` run (start, a chat completion, a bad request, SIGTERM)
//! writes nothing on stderr but JSON objects, one per line, and a request's
//! lines carry the id the client saw in `x-request-id`. Text stays the
//! default.
use std::io::{Read, Write};

use serde_json::Value;

use crate::common::mock_upstream::MockUpstream;
use crate::common::{eventually_blocking, TestEnv, PATIENCE};
use crate::health_cli::Served;

/// One HTTP/1.1 request on a fresh connection: (status, x-request-id, body).
pub(crate) fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let rid = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_default()
        .to_string();
    (status, rid, rest.to_string())
}

/// A database with one OpenAI-compatible provider (the mock) serving `m`.
fn env_with_provider(mock: &MockUpstream) -> TestEnv {
    let env = TestEnv::new();
    env.ok(&[
        "provider",
        "add",
        "up",
        "--kind",
        "openai-compatible",
        "--base-url",
        &mock.url(),
        "--no-api-key",
        "--models",
        "m",
    ]);
    env
}

#[test]
fn a_serve_run_in_json_mode_writes_only_json_lines_with_the_request_id() {
    let mock = MockUpstream::start_blocking();
    let env = env_with_provider(&mock);
    let served = Served::start(
        &env,
        &["--allow-anonymous"],
        &[("LLMO_LOG_FORMAT", "json"), ("LLMO_LOG", "info,llmo=debug")],
    );
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let (status, _, body) = http(&served.addr, "POST", "/v1/chat/completions", chat);
    assert_eq!(status, 200, "{body}");
    let (status, bad_id, body) = http(&served.addr, "POST", "/v1/chat/completions", "{nope");
    assert_eq!(status, 400, "{body}");
    assert!(!bad_id.is_empty());

    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(served.pid() as i32, libc::SIGTERM) }, 0);
    eventually_blocking(PATIENCE, "the `stopped` line after SIGTERM", || {
        served.stderr().contains(r#""message":"stopped""#)
    });

    let stderr = served.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for l in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l[key].is_string(), "no string `{key}` in {l}");
        }
        assert!(
            l["timestamp"].as_str().unwrap().ends_with('Z'),
            "UTC RFC 3339: {l}"
        );
    }
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("listening on http://")),
        "{stderr}"
    );
    // The bad request's line names it by the id its client was given,
    // with the request span's fields flattened beside the message.
    let line = lines
        .iter()
        .find(|l| l["request_id"] == bad_id.as_str())
        .unwrap_or_else(|| panic!("no line with request_id {bad_id}:\n{stderr}"));
    assert_eq!(line["span"], "request", "{line}");
    assert_eq!(line["path"], "/v1/chat/completions", "{line}");
    assert_eq!(line["status"], 400, "{line}");
}

#[test]
fn text_stays_the_default_and_a_bad_format_is_one_line_naming_the_choices() {
    let env = TestEnv::new();
    let served = Served::start(&env, &[], &[]);
    eventually_blocking(PATIENCE, "the listening line", || {
        served.stderr().contains("listening on http://")
    });
    let stderr = served.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("listening on http://"))
        .unwrap();
    assert!(!line.starts_with('{'), "{line}");
    assert!(line.contains(" INFO "), "{line}");
    drop(served);

    let out = env
        .cmd()
        .env("LLMO_LOG_FORMAT", "xml")
        .args(["provider", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.lines().next().unwrap(),
        "error: LLMO_LOG_FORMAT=`xml` is not a log format: use `text` or `json`",
        "{err}"
    );
    assert!(err.lines().nth(1).unwrap().starts_with("hint: "), "{err}");
}

#[test]
fn a_failing_command_in_json_mode_reports_one_json_line() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "not-an-address",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    for l in err.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        if v["level"] == "ERROR" {
            assert!(
                v["message"].as_str().unwrap().contains("not-an-address"),
                "{v}"
            );
            assert!(v["hint"].is_string(), "{v}");
            return;
        }
    }
    panic!("no ERROR line: {err}");
}

//! `llmo health` against the mock upstream answering `/ready` like
//! `llmo serve`, and against a closed port.
use assert_cmd::Command;

use crate::common::closed_addr;
use crate::common::mock_upstream::{MockUpstream, Reply};

/// A server answering every request with `status` and `body`, as
/// `llmo serve` answers `/ready`.
fn serve(status: u16, body: &str) -> MockUpstream {
    let mock = MockUpstream::start_blocking();
    mock.set_default(Reply::status(status, body));
    mock
}

/// Asserts the one request `mock` got was `GET /ready`.
fn asked_ready(mock: &MockUpstream) {
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/ready")
    );
}

/// The table row whose first column is `name`.
fn row<'a>(lines: &[&'a str], name: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{}", lines.join("\n")))
}

fn llmo() -> Command {
    let mut c = Command::cargo_bin("llmo").unwrap();
    c.env("NO_COLOR", "1")
        .env_remove("LLMO_CONFIG")
        .env_remove("LLMO_LISTEN")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    c
}

const READY: &str = r#"{"ready":true,"problem":null,"fix":null,"providers":[
 {"name":"openai","kind":"openai","enabled":true,"state":"closed","consecutive_failures":0,"last_error":null,"last_success_at":"2026-01-01T00:00:00Z","success_rate_5m":0.995},
 {"name":"local","kind":"openai-compatible","enabled":false,"state":"closed","consecutive_failures":0,"last_error":null,"last_success_at":null,"success_rate_5m":null}]}"#;

const NOT_READY: &str = r#"{"ready":false,"problem":"every provider of model `gpt-4o` has an open circuit","fix":"check `llmo provider list` and the providers' status pages","providers":[
 {"name":"openai","kind":"openai","enabled":true,"state":"open","consecutive_failures":5,"last_error":"HTTP 503: upstream overloaded","last_success_at":null,"success_rate_5m":0.2}]}"#;

#[test]
fn ready_server_exits_0_with_a_table() {
    let mock = serve(200, READY);
    let url = mock.url_of("");
    let out = llmo().args(["health", "--url", &url]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    asked_ready(&mock);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "ready");
    for h in [
        "NAME",
        "KIND",
        "STATE",
        "FAILURES",
        "SUCCESS 5M",
        "LAST ERROR",
    ] {
        assert!(lines[1].contains(h), "{}", lines[1]);
    }
    let openai = row(&lines, "openai");
    assert!(
        openai.contains("closed") && openai.contains("99.5%"),
        "{openai}"
    );
    let local = row(&lines, "local");
    assert!(local.contains("disabled"), "{local}");
}

#[test]
fn not_ready_server_exits_1_with_problem_and_hint() {
    let mock = serve(503, NOT_READY);
    let url = mock.url_of("");
    let out = llmo()
        .args(["health", "--url", &format!("{url}/")])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "not ready: every provider of model `gpt-4o` has an open circuit"
    );
    assert_eq!(
        lines[1],
        "hint: check `llmo provider list` and the providers' status pages"
    );
    let openai = row(&lines, "openai");
    assert!(openai.contains("open"), "{openai}");
    assert!(openai.contains("20.0%"), "{openai}");
    assert!(openai.contains("HTTP 503: upstream overloaded"), "{openai}");
}

#[test]
fn json_prints_the_servers_answer_as_is() {
    let mock = serve(503, NOT_READY);
    let url = mock.url_of("");
    let out = llmo()
        .args(["health", "--json", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), NOT_READY);
}

#[test]
fn default_url_comes_from_the_listen_setting() {
    let mock = serve(200, READY);
    let url = mock.url_of("");
    let addr = url.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = llmo()
        .env("LLMO_LISTEN", &addr)
        .env("LLMO_DB", dir.path().join("llmo.db"))
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    asked_ready(&mock);
}

#[test]
fn unreachable_server_exits_1_with_a_hint() {
    let url = format!("http://{}", closed_addr());
    let out = llmo().args(["health", "--url", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("error: cannot reach llmo at {url}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint:") && stderr.contains("llmo serve"),
        "{stderr}"
    );
    assert!(stderr.contains("--url"), "{stderr}");
}

#[test]
fn a_server_that_is_not_llmo_is_an_error() {
    let mock = serve(404, r#"{"error":"nope"}"#);
    let url = mock.url_of("");
    let out = llmo().args(["health", "--url", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("HTTP 404"), "{stderr}");
}

#[test]
fn a_silent_server_times_out() {
    // Reads the request, never answers.
    let mock = MockUpstream::start_blocking();
    mock.set_default(Reply::Stall);
    let url = mock.url_of("");
    let out = llmo()
        .args(["health", "--timeout", "300ms", "--url", &url])
        .timeout(std::time::Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("did not answer within 300ms"), "{stderr}");
}

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

// ----- a provider whose key variable the server lacks (item 1) -----

/// A variable no test machine sets: a provider naming it has no key in
/// the server's environment.
pub(crate) const UNSET_VAR: &str = "LLMO_TEST_NEVER_SET_KEY_5821";

/// Model `m` served by `a` (priority 0, key from [`UNSET_VAR`]) and, when
/// `with_b`, by `b` (priority 1, a stored key).
async fn keyless_first(with_b: bool) -> (MockUpstream, MockUpstream, crate::common::gw::Gw) {
    use crate::common::gw::{add_provider, map_with, store, Gw};
    use llmo::catalog::KeySource;
    let (ma, mb) = (MockUpstream::start().await, MockUpstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    add_provider(&mut s, "a", &ma.url(), |p| {
        p.key = Some(KeySource::Env(UNSET_VAR.into()));
    });
    map_with(&mut s, "m", "a", "model-a", Some(0), None);
    if with_b {
        add_provider(&mut s, "b", &mb.url(), |_| {});
        map_with(&mut s, "m", "b", "model-b", Some(1), None);
    }
    drop(s);
    (ma, mb, Gw::start(dir, |_| {}).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_without_its_key_variable_is_skipped_for_the_next() {
    use crate::common::gw::{chat_body, JsonValue};
    let (ma, mb, mut gw) = keyless_first(true).await;
    for _ in 0..3 {
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    }
    assert_eq!(
        (ma.calls(), mb.calls()),
        (0, 3),
        "never sent without its key"
    );

    // /ready names the variable, never a value.
    let ready = gw.get("/ready").await.json_value().await;
    let a = &ready["providers"][0];
    assert_eq!(
        (a["name"].as_str(), a["state"].as_str(), a["key"].as_str()),
        (Some("a"), Some("key_missing"), Some("missing")),
        "{ready}"
    );
    assert_eq!(a["key_env"], UNSET_VAR, "{ready}");
    let b = &ready["providers"][1];
    assert_eq!(
        (b["state"].as_str(), b["key"].as_str()),
        (Some("closed"), Some("stored"))
    );

    // `llmo health`: the table and --json.
    let url = gw.url.clone();
    let (table, json) = tokio::task::spawn_blocking(move || {
        let t = llmo().args(["health", "--url", &url]).output().unwrap();
        let j = llmo()
            .args(["health", "--json", "--url", &url])
            .output()
            .unwrap();
        (
            String::from_utf8(t.stdout).unwrap(),
            String::from_utf8(j.stdout).unwrap(),
        )
    })
    .await
    .unwrap();
    let lines: Vec<&str> = table.lines().collect();
    let row_a = row(&lines, "a");
    assert!(row_a.contains("key_missing"), "{table}");
    assert!(
        row_a.contains(&format!(
            "{UNSET_VAR} is not set in the server's environment"
        )),
        "{table}"
    );
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["providers"][0]["state"], "key_missing", "{json}");
    assert_eq!(j["providers"][0]["key_env"], UNSET_VAR, "{json}");
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_candidate_left_the_client_gets_502_naming_the_variable() {
    use crate::common::gw::{chat_body, error_of};
    let (ma, _mb, mut gw) = keyless_first(false).await;
    let (status, v) = error_of(gw.chat(&chat_body()).await).await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_key_missing", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(UNSET_VAR) && msg.contains("provider `a`"),
        "{msg}"
    );
    assert!(msg.contains("llmo serve"), "{msg}");
    assert_eq!(ma.calls(), 0);
    let logs = gw.stop_and_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0].status, logs[0].error_type.as_deref()),
        (502, Some("upstream_key_missing"))
    );
}

/// `llmo serve` as a child process over a [`TestEnv`], with its stderr
/// collected; killed (by its own handle) when dropped.
pub(crate) struct Served {
    child: std::process::Child,
    pub addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    /// Starts `llmo serve ARGS` on a free port with only `vars` added to
    /// the test environment, and waits until it accepts connections.
    pub(crate) fn start(
        env: &crate::common::TestEnv,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Served {
        use std::io::BufRead;
        let addr = closed_addr();
        let home = env.dir.path();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llmo"));
        cmd.env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("LLMO_DB", env.db_path())
            .env("LLMO_CONFIG", env.config_path())
            .env("NO_COLOR", "1")
            .args(["serve", "--listen", &addr])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let served = Served {
            child,
            addr,
            stderr,
        };
        crate::common::eventually_blocking(crate::common::PATIENCE, "llmo serve listens", || {
            std::net::TcpStream::connect(&served.addr).is_ok()
        });
        served
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_warns_at_start_and_on_each_reload_about_a_missing_key_variable() {
    let env = crate::common::TestEnv::new();
    let add = |name: &str, var: &str| {
        env.ok(&[
            "provider",
            "add",
            name,
            "--kind",
            "openai",
            "--api-key-env",
            var,
            "--models",
            "m",
        ]);
    };
    add("a", UNSET_VAR);
    let served = Served::start(&env, &[], &[]);
    let line_a = format!(
        "provider `a` is skipped as a candidate: its key variable `{UNSET_VAR}` is not set in the environment of `llmo serve`"
    );
    crate::common::eventually_blocking(crate::common::PATIENCE, "the warning at start", || {
        served.stderr().contains(&line_a)
    });
    assert!(served.stderr().contains("WARN"), "{}", served.stderr());
    // A reload (another provider added) says it again, and names the new one.
    add("b", "LLMO_TEST_NEVER_SET_KEY_B");
    crate::common::eventually_blocking(crate::common::PATIENCE, "the warning on reload", || {
        let err = served.stderr();
        err.matches(&line_a).count() == 2 && err.contains("`LLMO_TEST_NEVER_SET_KEY_B`")
    });
    assert_eq!(
        served
            .stderr()
            .lines()
            .filter(|l| l.contains("provider `b` is skipped"))
            .count(),
        1,
        "one line per provider per load:\n{}",
        served.stderr()
    );
}

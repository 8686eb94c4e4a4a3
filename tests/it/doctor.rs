//! `llmo doctor` end to end: the real binary on temporary directories, mock
//! upstreams on 127.0.0.1:0 for `--probe`.
use std::net::TcpListener;
use std::time::Duration;

use crate::common::mock_upstream::{MockUpstream, Reply};
use crate::common::{closed_addr, TestEnv};

/// The outcome of one doctor run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line for one check: `  <status> <group> <name>: ...`.
    fn line(&self, status: &str, group: &str, name: &str) -> &str {
        let prefix = format!("  {status:<6}{group:<11}{name}: ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line starting `{prefix}` in:\n{}", self.stdout))
    }

    /// The `fix:` line right after the line for a check.
    fn fix(&self, status: &str, group: &str, name: &str) -> &str {
        let line = self.line(status, group, name);
        let mut lines = self.stdout.lines().skip_while(|l| *l != line);
        lines.next();
        let fix = lines.next().unwrap_or_default();
        fix.trim_start()
            .strip_prefix("fix: ")
            .unwrap_or_else(|| panic!("no fix after `{line}`:\n{}", self.stdout))
    }

    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// Runs `llmo doctor ARGS` with the listen address on a free port (so a
/// gateway on the default port elsewhere on this machine does not matter).
fn doctor(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = env.cmd();
    cmd.env("LLMO_LISTEN", closed_addr())
        .arg("doctor")
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.timeout(Duration::from_secs(60)).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

const ADMIN_KEY: &str = "llmo-admin-0123456789abcdefADMINSECRETKEY9";

fn healthy(env: &TestEnv) {
    env.ok(&[
        "provider",
        "add",
        "main",
        "--kind",
        "openai",
        "--api-key",
        "sk-proj-0123456789abcdefSECRET9876",
        "--models",
        "gpt-4o-mini",
    ]);
}

#[test]
fn fresh_machine_warns_that_the_database_will_be_created_and_exits_0() {
    let env = TestEnv::new();
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r
        .line("warn", "database", "file")
        .contains("does not exist yet"));
    assert!(r
        .fix("warn", "database", "file")
        .contains("llmo migrate up"));
    assert!(r
        .line("warn", "providers", "configured")
        .contains("no providers"));
    assert!(r
        .fix("warn", "providers", "configured")
        .contains("llmo provider add"));
    assert!(r.summary().ends_with("0 fail"), "{}", r.summary());
    // Doctor creates nothing: no database, no directory.
    assert!(!env.db_path().parent().unwrap().exists());
}

#[test]
fn healthy_database_with_a_provider_passes() {
    let env = TestEnv::new();
    healthy(&env);
    // A healthy setup has an admin key (without one doctor warns).
    let r = doctor(&env, &[], &[("LLMO_ADMIN_KEY", ADMIN_KEY)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r
        .line("ok", "config", "admin_key")
        .contains("llmo-...KEY9 (env LLMO_ADMIN_KEY)"));
    assert_eq!(
        r.line("ok", "database", "integrity_check"),
        "  ok    database   integrity_check: ok"
    );
    assert!(r.line("ok", "database", "journal_mode").ends_with("wal"));
    assert!(r
        .line("ok", "database", "permissions")
        .contains("mode 0600"));
    assert!(r.line("ok", "migrations", "schema").contains("at version"));
    assert!(r.line("ok", "providers", "main").contains("openai"));
    assert!(r.line("ok", "models", "configured").contains("1 model"));
    assert!(r.line("ok", "listen", "address").contains("is free"));
    assert!(r
        .line("ok", "config", "file")
        .contains("from env LLMO_CONFIG"));
    assert!(r.line("ok", "config", "db").contains("(env LLMO_DB)"));
    assert!(r.summary().starts_with("summary: ") && r.summary().ends_with(", 0 warn, 0 fail"));
    // No `-wal`/`-shm` left behind by the inspection.
    let wal = format!("{}-wal", env.db_path().display());
    assert!(!std::path::Path::new(&wal).exists());
}

#[test]
fn a_provider_whose_key_variable_is_unset_fails_naming_the_variable() {
    let env = TestEnv::new();
    env.ok(&[
        "provider",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--api-key-env",
        "DOCTOR_IT_ANTHROPIC_KEY",
        "--models",
        "claude-3-5-haiku",
    ]);
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let line = r.line("fail", "providers", "claude");
    assert!(
        line.contains("`DOCTOR_IT_ANTHROPIC_KEY` is not set"),
        "{line}"
    );
    assert!(r
        .fix("fail", "providers", "claude")
        .contains("DOCTOR_IT_ANTHROPIC_KEY"));

    let r = doctor(
        &env,
        &[],
        &[("DOCTOR_IT_ANTHROPIC_KEY", "sk-ant-api03-abcdefghijkl")],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let line = r.line("ok", "providers", "claude");
    assert!(
        line.contains("key from `DOCTOR_IT_ANTHROPIC_KEY` (sk-...ijkl)"),
        "{line}"
    );
}

/// Doctor next to a running server asks it: the server's environment and
/// admin key count, not doctor's (which here are the opposite).
#[test]
fn doctor_asks_the_running_server_for_key_and_admin_key_state() {
    const VAR: &str = "DOCTOR_IT_SERVER_KEY";
    let env = TestEnv::new();
    env.ok(&[
        "provider",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--api-key-env",
        VAR,
        "--models",
        "c",
    ]);
    let key_file = env.dir.path().join("admin.key");
    std::fs::write(&key_file, ADMIN_KEY).unwrap();
    // The server: an admin key, and no VAR in its environment.
    let served = crate::health_cli::Served::start(
        &env,
        &["--admin-key-file", key_file.to_str().unwrap()],
        &[],
    );
    let who = format!("the server (pid {} at {})", served.pid(), served.addr);
    // Doctor: VAR set, no admin key.
    let r = doctor(
        &env,
        &[],
        &[
            ("LLMO_LISTEN", &served.addr),
            (VAR, "sk-ant-api03-abcdefghijkl"),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = r.line("fail", "providers", "claude");
    assert!(
        line.contains(&format!("{who} has no `{VAR}` in its environment")),
        "{line}"
    );
    assert!(r.fix("fail", "providers", "claude").contains(&format!(
        "set `{VAR}` in the environment `llmo serve` runs in"
    )));
    let line = r.line("ok", "config", "admin_key");
    assert!(line.contains(&format!("{who} has an admin key")), "{line}");
    assert!(!r.stdout.contains(ADMIN_KEY) && !r.stdout.contains("abcdefghijkl"));
    drop(served);

    // No server: judged locally, and said so.
    let r = doctor(&env, &[], &[(VAR, "sk-ant-api03-abcdefghijkl")]);
    let line = r.line("ok", "providers", "claude");
    assert!(
        line.contains("judged from doctor's own environment: no llmo answers at"),
        "{line}"
    );
    let line = r.line("warn", "config", "admin_key");
    assert!(
        line.contains("judged from doctor's own environment"),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn a_database_readable_by_others_warns_with_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    healthy(&env);
    let db = env.db_path();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r
        .line("warn", "database", "permissions")
        .contains("mode 0644"));
    assert_eq!(
        r.fix("warn", "database", "permissions"),
        format!("chmod 600 {}", db.display())
    );
    // Doctor reports; it does not fix.
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

fn tamper(env: &TestEnv, sql: &str) {
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
}

#[test]
fn an_unknown_migration_fails_and_the_database_is_left_byte_identical() {
    let env = TestEnv::new();
    healthy(&env);
    tamper(
        &env,
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '42');",
    );
    let db = env.db_path();
    let before = std::fs::read(&db).unwrap();
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let line = r.line("fail", "migrations", "V99");
    assert!(line.contains("only knows up to version"), "{line}");
    assert!(r
        .fix("fail", "migrations", "V99")
        .contains("llmo migrate status"));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "doctor changed the database"
    );
    for suffix in ["-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        assert!(!std::path::Path::new(&p).exists(), "doctor left {p}");
    }
}

#[test]
fn a_modified_migration_checksum_fails() {
    let env = TestEnv::new();
    healthy(&env);
    tamper(
        &env,
        "UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 1;",
    );
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r
        .line("fail", "migrations", "V1")
        .contains("was changed after it was applied"));
}

#[test]
fn a_file_that_is_not_sqlite_fails_clearly() {
    let env = TestEnv::new();
    let db = env.db_path();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, "this is not a database\n".repeat(200)).unwrap();
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r
        .line("fail", "database", "file")
        .contains("is not an SQLite database"));
    assert!(r.fix("fail", "database", "file").contains(".backup-*"));
    // Still checks what it can.
    r.line("ok", "listen", "address");
    r.line("ok", "database", "disk_space");
}

#[test]
fn an_empty_database_file_has_pending_migrations_with_the_command_to_run() {
    let env = TestEnv::new();
    let db = env.db_path();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, "").unwrap();
    let r = doctor(&env, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.line("warn", "database", "file").contains("is empty"));
    assert!(r
        .line("warn", "migrations", "pending")
        .contains("not applied yet: V1 `initial_schema`"));
    assert!(r
        .fix("warn", "migrations", "pending")
        .contains("llmo migrate up"));
    assert_eq!(std::fs::read(&db).unwrap(), b"", "doctor wrote to the file");
}

#[test]
fn an_unknown_llmo_variable_warns_with_the_known_names() {
    let env = TestEnv::new();
    let r = doctor(&env, &[], &[("LLMO_FOO", "1"), ("LLMO_MAXBODY", "1MiB")]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r
        .line("warn", "config", "LLMO_FOO")
        .contains("llmo does not read it"));
    assert!(r.fix("warn", "config", "LLMO_FOO").contains("LLMO_LISTEN"));
    assert!(r
        .fix("warn", "config", "LLMO_MAXBODY")
        .contains("did you mean `LLMO_MAX_BODY`"));
    // The value is never shown.
    assert!(!r.stdout.contains("1MiB"));
}

#[test]
fn a_malformed_variable_fails_naming_it_and_the_other_checks_still_run() {
    let env = TestEnv::new();
    healthy(&env);
    let r = doctor(&env, &[], &[("LLMO_MAX_BODY", "lots")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let line = r.line("fail", "config", "max_body");
    assert!(line.contains("LLMO_MAX_BODY"), "{line}");
    assert!(r
        .fix("fail", "config", "max_body")
        .contains("LLMO_MAX_BODY"));
    r.line("ok", "database", "integrity_check");
    r.line("ok", "providers", "main");
    // Every other command refuses to start with it; doctor is the one that explains.
    let out = env
        .cmd()
        .env("LLMO_MAX_BODY", "lots")
        .args(["provider", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn json_output_has_the_documented_shape() {
    let env = TestEnv::new();
    healthy(&env);
    let r = doctor(
        &env,
        &["--json"],
        &[("LLMO_FOO", "x"), ("LLMO_ADMIN_KEY", ADMIN_KEY)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() > 10);
    let (mut ok, mut warn, mut fail) = (0, 0, 0);
    for c in checks {
        let obj = c.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["fix", "group", "message", "name", "status"]);
        match c["status"].as_str().unwrap() {
            "ok" => {
                ok += 1;
                assert!(c["fix"].is_null());
            }
            "warn" => {
                warn += 1;
                assert!(c["fix"].is_string());
            }
            "fail" => fail += 1,
            other => panic!("status {other}"),
        }
    }
    assert_eq!(v["summary"]["ok"], ok);
    assert_eq!(v["summary"]["warn"], warn);
    assert_eq!(v["summary"]["fail"], fail);
    assert_eq!(warn, 1);
    let integrity = checks
        .iter()
        .find(|c| c["name"] == "integrity_check")
        .unwrap();
    assert_eq!(integrity["group"], "database");
    assert_eq!(integrity["message"], "ok");
    // No spinner or other noise on stderr when not a terminal.
    assert_eq!(r.stderr, "");
}

#[test]
fn secrets_are_masked_everywhere() {
    let env = TestEnv::new();
    healthy(&env);
    for args in [&[][..], &["--json"][..], &["--verbose"][..]] {
        let r = doctor(
            &env,
            args,
            &[("DOCTOR_IT_UNUSED", "x"), ("LLMO_ADMIN_KEY", ADMIN_KEY)],
        );
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            !all.contains("SECRET9876"),
            "key leaked with {args:?}:\n{all}"
        );
        assert!(
            !all.contains("ADMINSECRET"),
            "admin key leaked with {args:?}:\n{all}"
        );
        assert!(all.contains("sk-...9876"), "{all}");
    }
}

// ----- --probe against mock upstreams -----

const GEMINI_BAD_KEY: &str =
    include_str!("../fixtures/gemini/errors/400_invalid_argument_api_key.json");

/// The mock upstream for `--probe`: `/ok/...` -> 200, `/denied/...` -> 401,
/// `/gemini-badkey/...` -> 400 `API_KEY_INVALID`, `/slow/...` -> never
/// answers, `/health` and `/metrics` -> a running llmo whose request-log
/// writer fell behind; anything else 404.
fn probe_mock() -> MockUpstream {
    let mock = MockUpstream::start_blocking();
    mock.route("/ok/", Reply::ok(r#"{"object":"list","data":[]}"#));
    mock.route(
        "/denied/",
        Reply::status(401, r#"{"error":{"message":"invalid x-api-key"}}"#),
    );
    // Gemini refuses a bad key with a 400, its reason in the body.
    mock.route("/gemini-badkey/", Reply::status(400, GEMINI_BAD_KEY));
    mock.route("/slow/", Reply::Stall);
    mock.route("/health", Reply::ok(r#"{"status":"ok","service":"llmo"}"#));
    mock.route(
        "/metrics",
        Reply::ok(
            "# TYPE llmo_log_queue_depth gauge\nllmo_log_queue_depth 0\n# TYPE llmo_log_rows_dropped_total counter\nllmo_log_rows_dropped_total 4\n",
        ),
    );
    mock.set_default(Reply::status(404, "{}"));
    mock
}

#[test]
fn probe_reports_status_and_latency_and_rejected_keys() {
    let env = TestEnv::new();
    let mock = probe_mock();
    env.ok(&[
        "provider",
        "add",
        "local",
        "--kind",
        "openai-compatible",
        "--base-url",
        &mock.url_of("/ok/v1"),
        "--api-key",
        "sk-local-0123456789-abcd",
        "--models",
        "llama",
    ]);
    env.ok(&[
        "provider",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--base-url",
        &mock.url_of("/denied"),
        "--api-key-env",
        "DOCTOR_IT_CLAUDE_KEY",
        "--models",
        "claude",
    ]);
    let vars = [("DOCTOR_IT_CLAUDE_KEY", "sk-ant-revoked-0123456789")];

    // Without --probe nothing leaves the machine.
    let r = doctor(&env, &[], &vars);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    assert!(!r.stdout.contains("\nprobe\n"));

    let r = doctor(&env, &["--probe"], &vars);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let ok = r.line("ok", "probe", "local");
    assert!(
        ok.contains(&format!("GET {}: 200 in ", mock.url_of("/ok/v1/models")))
            && ok.ends_with(" ms"),
        "{ok}"
    );
    let denied = r.line("fail", "probe", "claude");
    assert!(
        denied.contains(&format!(
            "GET {}: 401 in ",
            mock.url_of("/denied/v1/models")
        )) && denied.contains("key rejected"),
        "{denied}"
    );
    assert!(r
        .fix("fail", "probe", "claude")
        .contains("DOCTOR_IT_CLAUDE_KEY"));

    // Each vendor's auth headers, one cheap GET each.
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
    let local = mock.request_to("/ok/v1/models");
    assert_eq!(
        local.header("authorization"),
        "Bearer sk-local-0123456789-abcd"
    );
    let claude = mock.request_to("/denied/v1/models");
    assert_eq!(claude.header("x-api-key"), "sk-ant-revoked-0123456789");
    assert_eq!(claude.header("anthropic-version"), "2023-06-01");
    // The key went upstream, never to the output.
    assert!(!r.stdout.contains("revoked-0123456789"));
}

#[test]
fn probe_covers_anthropic_and_gemini_with_their_headers() {
    let env = TestEnv::new();
    let mock = probe_mock();
    let add = |name: &str, kind: &str, base: &str, key: &str| {
        env.ok(&[
            "provider",
            "add",
            name,
            "--kind",
            kind,
            "--base-url",
            &mock.url_of(base),
            "--api-key",
            key,
        ]);
    };
    add("claude", "anthropic", "/ok", "sk-ant-probe-0123456789abcd");
    add("gem", "gemini", "/ok/v1beta", "AIza-probe-good-0123456789");
    add(
        "gem-bad",
        "gemini",
        "/gemini-badkey/v1beta",
        "AIza-probe-bad-0123456789",
    );

    let r = doctor(&env, &["--probe"], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let claude = r.line("ok", "probe", "claude");
    assert!(
        claude.contains(&format!("GET {}: 200 in ", mock.url_of("/ok/v1/models"))),
        "{claude}"
    );
    let gem = r.line("ok", "probe", "gem");
    assert!(
        gem.contains(&format!(
            "GET {}: 200 in ",
            mock.url_of("/ok/v1beta/models")
        )),
        "{gem}"
    );
    // Gemini's 400 API_KEY_INVALID is a rejected key, with the fix for it.
    let bad = r.line("fail", "probe", "gem-bad");
    assert!(
        bad.contains(&format!(
            "GET {}: 400 in ",
            mock.url_of("/gemini-badkey/v1beta/models")
        )) && bad.contains("key rejected"),
        "{bad}"
    );
    assert!(r
        .fix("fail", "probe", "gem-bad")
        .contains("llmo provider update gem-bad --api-key -"));

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
    let claude = mock.request_to("/ok/v1/models");
    assert_eq!(claude.header("x-api-key"), "sk-ant-probe-0123456789abcd");
    assert_eq!(claude.header("anthropic-version"), "2023-06-01");
    assert!(claude.headers.get("authorization").is_none(), "{claude:?}");
    let gem = mock.request_to("/ok/v1beta/models");
    assert_eq!(gem.header("x-goog-api-key"), "AIza-probe-good-0123456789");
    assert!(gem.headers.get("authorization").is_none(), "{gem:?}");
    assert!(
        !gem.query.as_deref().unwrap_or_default().contains("key="),
        "{gem:?}"
    );
    // Neither the keys nor the upstream body reach the output.
    for secret in [
        "0123456789abcd",
        "good-0123456789",
        "bad-0123456789",
        "key1234",
    ] {
        assert!(!r.stdout.contains(secret), "{secret} in:\n{}", r.stdout);
    }
}

#[test]
fn probe_timeout_and_connection_errors_fail_with_their_kind() {
    let env = TestEnv::new();
    let mock = probe_mock();
    env.ok(&[
        "provider",
        "add",
        "slow",
        "--kind",
        "openai-compatible",
        "--base-url",
        &mock.url_of("/slow/v1"),
        "--no-api-key",
        "--models",
        "m1",
    ]);
    env.ok(&[
        "provider",
        "add",
        "gone",
        "--kind",
        "openai-compatible",
        "--base-url",
        &format!("http://{}/v1", closed_addr()),
        "--no-api-key",
        "--models",
        "m2",
    ]);
    // The mock never answers `slow`: only the probe timeout ends the run.
    let r = doctor(&env, &["--probe", "--probe-timeout", "300ms"], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.line("fail", "probe", "slow").contains("timeout"));
    assert!(r.fix("fail", "probe", "slow").contains("--probe-timeout"));
    assert!(r.line("fail", "probe", "gone").contains("connect error"));
}

// ----- the listen address -----

#[test]
fn listen_address_held_by_another_program_fails() {
    let env = TestEnv::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = env.cmd();
    let out = cmd
        .env("LLMO_LISTEN", &addr)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let r = Run {
        code: 1,
        stdout,
        stderr: String::new(),
    };
    let line = r.line("fail", "listen", "address");
    assert!(
        line.contains(&addr) && line.contains("another program"),
        "{line}"
    );
    assert!(r.fix("fail", "listen", "address").contains("LLMO_LISTEN"));
    drop(taken);
}

#[test]
fn listen_address_free_or_held_by_llmo_is_ok() {
    let env = TestEnv::new();
    let free = closed_addr();
    let out = env
        .cmd()
        .env("LLMO_LISTEN", &free)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "  ok    listen     address: {free} (env LLMO_LISTEN) is free"
        )),
        "{stdout}"
    );

    // A running gateway answers GET /health with {"service":"llmo",...}.
    let mock = probe_mock();
    let out = env
        .cmd()
        .env("LLMO_LISTEN", mock.addr.to_string())
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning does not fail: {stdout}"
    );
    assert!(stdout.contains("is in use by a running llmo"), "{stdout}");
    // ... and its /metrics says the request log dropped rows.
    let r = Run {
        code: 0,
        stdout,
        stderr: String::new(),
    };
    assert!(
        r.line("warn", "listen", "request log")
            .contains("dropped 4 request-log row(s)"),
        "{}",
        r.stdout
    );
    assert!(r.fix("warn", "listen", "request log").contains("LLMO_DB"));
}

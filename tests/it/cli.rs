//! The foundation CLI end to end: `provider`, `model`, `key`, `completions`,
//! configuration precedence, exit codes, the stdout/stderr split, `--json`
//! shapes and the masking of secrets. Each test runs the real binary in its
//! own temporary HOME and database.
use std::path::Path;

use crate::common::{describe, json_of, keys, stderr, stdout, Env};

const SECRET: &str = "sk-proj-Sup3rS3cretValue-wxyz";
const MASKED: &str = "sk-...wxyz";

const PROVIDER_FIELDS: &[&str] = &[
    "api_key",
    "api_key_env",
    "base_url",
    "created_at",
    "enabled",
    "kind",
    "max_retries",
    "models",
    "name",
    "priority",
    "rate_limit_rpm",
    "timeout_ms",
    "updated_at",
    "weight",
];
const MODEL_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "enabled",
    "name",
    "providers",
    "updated_at",
];
const MAPPING_FIELDS: &[&str] = &[
    "enabled",
    "priority",
    "provider",
    "upstream_model",
    "weight",
];
const KEY_FIELDS: &[&str] = &[
    "created_at",
    "last_used_at",
    "models",
    "name",
    "prefix",
    "revoked_at",
    "rpm_limit",
];

fn is_rfc3339(v: &serde_json::Value) -> bool {
    v.as_str()
        .is_some_and(|s| humantime::parse_rfc3339(s).is_ok())
}

/// Replaces the tempdir and RFC 3339 timestamps so snapshots are stable.
fn snapshot(env: &Env, name: &str, text: &str) {
    let text = text.replace(&env.path().display().to_string(), "[TMP]");
    insta::with_settings!({
        filters => vec![(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]")],
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

/// Asserts the shape of a user error: exit 1, nothing on stdout, an
/// `error: ` line that contains `needle`, and a `hint: ` line.
fn assert_user_error(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty\n{}",
        describe(out)
    );
    assert!(err.starts_with("error: "), "{}", describe(out));
    assert!(
        err.contains(needle),
        "expected {needle:?}\n{}",
        describe(out)
    );
    assert!(
        err.lines().any(|l| l.starts_with("hint: ")),
        "no hint\n{}",
        describe(out)
    );
}

// ----- first run, paths and permissions -----

#[cfg(unix)]
#[test]
fn first_command_creates_the_default_db_0600_in_a_0700_dir_and_says_so() {
    let env = Env::new();
    let out = env.bare_cmd().args(["provider", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let db = env.home().join(".local/share/llmo/llmo.db");
    assert!(db.is_file(), "no database at {}", db.display());
    assert_eq!(crate::common::mode(&db), 0o600);
    assert_eq!(crate::common::mode(db.parent().unwrap()), 0o700);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("created database {}", db.display())),
        "{err}"
    );
    assert!(
        err.contains("applied 5 migration(s); schema is at version 5"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    // The second run is quiet about it.
    let out = env.bare_cmd().args(["provider", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !stderr(&out).contains("created database"),
        "{}",
        describe(&out)
    );
    assert!(!stderr(&out).contains("applied"), "{}", describe(&out));
}

#[test]
fn default_db_path_follows_home_when_xdg_data_home_is_unset() {
    let env = Env::new();
    let out = env
        .bare_cmd()
        .env_remove("XDG_DATA_HOME")
        .args(["key", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(env.home().join(".local/share/llmo/llmo.db").is_file());
}

/// `--out`, `--db`, `--config` and `--admin-key-file` on paths that cannot
/// work: each is a one-line error with a hint and exit 1 (never 2, "a bug").
/// Tests run as root, so "unwritable" is forced with a path under a regular
/// file (ENOTDIR), which no permission bit overrides.
fn path_cases(env: &Env) -> (String, String, String) {
    let file = env.path().join("a-file");
    write(&file, "x");
    let dir = env.path().join("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let under_file = file.join("sub/x").display().to_string();
    (
        file.display().to_string(),
        dir.display().to_string(),
        under_file,
    )
}

#[cfg(unix)]
#[test]
fn admin_key_out_creates_a_missing_parent_0700_or_fails_with_a_hint() {
    let env = Env::new();
    let key = env.path().join("etc/llmo/admin.key");
    let out = env.ok(&["admin-key", "generate", "--out", key.to_str().unwrap()]);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("created directory"),
        "{}",
        describe(&out)
    );
    assert_eq!(crate::common::mode(key.parent().unwrap()), 0o700);
    assert_eq!(crate::common::mode(&key), 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.trim().starts_with("llmo-admin-"), "{text}");

    let (file, dir, under_file) = path_cases(&env);
    let out = env.fails(&["admin-key", "generate", "--out", &under_file]);
    assert_user_error(&out, "Not a directory");
    assert!(
        stderr(&out).contains(&format!("`{file}` is a file")),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["admin-key", "generate", "--out", &format!("{file}/x.key")]);
    assert_user_error(&out, "Not a directory");
    let out = env.fails(&["admin-key", "generate", "--out", &dir]);
    assert_user_error(&out, "is a directory");
    let out = env.fails(&["admin-key", "generate", "--out", &file]);
    assert_user_error(&out, "already exists");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "left alone");
}

#[cfg(unix)]
#[test]
fn db_paths_that_cannot_hold_a_database_are_user_errors() {
    let env = Env::new();
    // A missing directory is created (0700).
    let db = env.path().join("var/lib/llmo/llmo.db");
    env.ok(&["--db", db.to_str().unwrap(), "key", "list"]);
    assert!(db.is_file());
    assert_eq!(crate::common::mode(db.parent().unwrap()), 0o700);

    let (file, dir, under_file) = path_cases(&env);
    let fifo = env.path().join("a-fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.display().to_string();
    for (db, needle) in [
        (under_file.as_str(), format!("`{file}` is not a directory")),
        (&format!("{file}/x.db"), "is not a directory".into()),
        (&dir, "it is a directory".into()),
        (&fifo, "not a regular file".into()),
    ] {
        for cmd in [
            &["key", "list"][..],
            &["migrate", "status"],
            &["migrate", "up"],
        ] {
            let mut args = vec!["--db", db];
            args.extend_from_slice(cmd);
            let out = env.fails(&args);
            assert_user_error(&out, &needle);
        }
    }
}

#[test]
fn config_and_admin_key_file_paths_that_are_no_files_are_user_errors() {
    let env = Env::new();
    let (file, dir, under_file) = path_cases(&env);
    let out = env.fails(&["--config", &dir, "key", "list"]);
    assert_user_error(&out, "Is a directory");
    assert!(
        stderr(&out).contains("not a directory"),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["--config", &format!("{file}/llmo.toml"), "key", "list"]);
    assert_user_error(&out, "Not a directory");
    assert!(!stderr(&out).contains("os error"), "{}", describe(&out));

    let out = env.fails(&["serve", "--admin-key-file", &dir]);
    assert_user_error(&out, "cannot be read: Is a directory");
    assert!(
        stderr(&out).contains("not its directory"),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["serve", "--admin-key-file", &under_file]);
    assert_user_error(&out, "cannot be read");
}

#[test]
fn quiet_silences_status_but_not_data_or_errors() {
    let env = Env::new();
    let out = env.ok(&[
        "-q",
        "provider",
        "add",
        "o",
        "--kind",
        "openai",
        "--api-key",
        SECRET,
    ]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert!(stdout(&out).contains("name"), "{}", describe(&out));
    let out = env.fails(&["-q", "provider", "show", "nope"]);
    assert!(stderr(&out).starts_with("error: provider `nope` does not exist"));
}

// ----- provider -----

#[test]
fn provider_add_uses_vendor_urls_and_documented_defaults() {
    let env = Env::new();
    for (kind, url) in [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
        ("gemini", "https://generativelanguage.googleapis.com/v1beta"),
    ] {
        let name = format!("p-{kind}");
        let v = env.json(&[
            "provider",
            "add",
            &name,
            "--kind",
            kind,
            "--api-key-env",
            "SOME_KEY",
        ]);
        assert_eq!(keys(&v), PROVIDER_FIELDS, "{v}");
        assert_eq!(v["name"], name.as_str());
        assert_eq!(v["kind"], kind);
        assert_eq!(v["base_url"], url);
        assert_eq!(v["api_key"], serde_json::Value::Null);
        assert_eq!(v["api_key_env"], "SOME_KEY");
        assert_eq!(v["priority"], 0);
        assert_eq!(v["weight"], 1);
        assert_eq!(v["max_retries"], 2);
        assert_eq!(v["timeout_ms"], 60_000);
        assert_eq!(v["rate_limit_rpm"], 0);
        assert_eq!(v["enabled"], true);
        assert_eq!(v["models"], serde_json::json!([]));
        assert!(is_rfc3339(&v["created_at"]), "{v}");
        assert!(is_rfc3339(&v["updated_at"]), "{v}");
    }
    let list = env.json(&["provider", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[test]
fn provider_add_with_every_flag_creates_its_models() {
    let env = Env::new();
    let out = env.ok(&[
        "--json",
        "provider",
        "add",
        "local",
        "--kind",
        "openai-compatible",
        "--base-url",
        "http://127.0.0.1:11434/v1/",
        "--api-key-env",
        "OLLAMA_KEY",
        "--priority",
        "2",
        "--weight",
        "5",
        "--max-retries",
        "0",
        "--timeout",
        "1500ms",
        "--rate-limit",
        "120",
        "--models",
        "llama3:8b,qwen2.5",
        "--disabled",
    ]);
    let v = json_of(&out);
    assert_eq!(
        v["base_url"], "http://127.0.0.1:11434/v1",
        "trailing slash dropped"
    );
    assert_eq!(v["api_key_env"], "OLLAMA_KEY");
    assert_eq!(v["priority"], 2);
    assert_eq!(v["weight"], 5);
    assert_eq!(v["max_retries"], 0);
    assert_eq!(v["timeout_ms"], 1500);
    assert_eq!(v["rate_limit_rpm"], 120);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["models"], serde_json::json!(["llama3:8b", "qwen2.5"]));
    assert!(
        stderr(&out).contains(
            "added provider `local` (openai-compatible, http://127.0.0.1:11434/v1), disabled"
        ),
        "{}",
        describe(&out)
    );

    // --models created the models, each mapped under its own name.
    let m = env.json(&["model", "show", "llama3:8b"]);
    assert_eq!(m["providers"][0]["provider"], "local");
    assert_eq!(m["providers"][0]["upstream_model"], "llama3:8b");
    assert_eq!(env.json(&["model", "list"]).as_array().unwrap().len(), 2);
}

#[test]
fn provider_add_needs_a_key_option() {
    let env = Env::new();
    // No key option: refused before the database is touched.
    let out = env.fails(&["provider", "add", "o", "--kind", "openai"]);
    assert!(
        stderr(&out).contains("error: provider `o` needs a key option"),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("hint:") && stderr(&out).contains("--no-api-key"));
    // The vendors' APIs always need one.
    let out = env.fails(&[
        "provider",
        "add",
        "o",
        "--kind",
        "anthropic",
        "--no-api-key",
    ]);
    assert!(
        stderr(&out).contains("a provider of kind anthropic always needs an API key"),
        "{}",
        describe(&out)
    );
    assert!(!env.db().exists(), "nothing was written");
    // A local server that needs none says so.
    let out = env.ok(&[
        "provider",
        "add",
        "l",
        "--kind",
        "openai-compatible",
        "--base-url",
        "http://localhost:8080/v1",
        "--no-api-key",
    ]);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
}

#[test]
fn provider_add_warns_when_the_key_variable_is_unset_here() {
    let env = Env::new();
    let out = env
        .cmd()
        .env_remove("LLMO_TEST_UNSET_VAR")
        .args(["provider", "add", "o", "--kind", "openai"])
        .args(["--api-key-env", "LLMO_TEST_UNSET_VAR"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: `LLMO_TEST_UNSET_VAR` is not set in this shell")
            && err.contains("set it where `llmo serve` runs"),
        "{err}"
    );
    // Set here: no warning (and the value never printed).
    let out = env
        .cmd()
        .env("LLMO_TEST_SET_VAR", "sk-set-here-0001")
        .args(["provider", "add", "p", "--kind", "openai"])
        .args(["--api-key-env", "LLMO_TEST_SET_VAR"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
    assert!(
        !describe(&out).contains("sk-set-here"),
        "{}",
        describe(&out)
    );
}

#[test]
fn provider_api_key_is_masked_in_every_output() {
    let env = Env::new();
    let mut outputs = vec![
        env.ok(&[
            "provider",
            "add",
            "o",
            "--kind",
            "openai",
            "--api-key",
            SECRET,
            "--models",
            "gpt-4o",
        ]),
        env.ok(&["provider", "list"]),
        env.ok(&["--json", "provider", "list"]),
        env.ok(&["provider", "show", "o"]),
        env.ok(&["--json", "provider", "show", "o"]),
        env.ok(&["-v", "provider", "update", "o", "--weight", "3"]),
        env.ok(&["--json", "provider", "update", "o", "--priority", "1"]),
        env.ok(&["--json", "provider", "disable", "o"]),
        env.ok(&["--json", "provider", "enable", "o"]),
        env.ok(&["--json", "model", "show", "gpt-4o"]),
        env.ok(&["model", "list"]),
    ];
    outputs.push(env.ok(&["--json", "provider", "remove", "o", "--force"]));
    for out in &outputs {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(!all.contains(SECRET), "secret leaked:\n{all}");
        assert!(
            !all.contains("Sup3rS3cret"),
            "part of the secret leaked:\n{all}"
        );
    }
    for out in &outputs[..5] {
        assert!(stdout(out).contains(MASKED), "{}", describe(out));
    }
    let v = json_of(&outputs[4]);
    assert_eq!(v["api_key"], MASKED);
    assert_eq!(v["api_key_env"], serde_json::Value::Null);
}

#[test]
fn provider_api_key_dash_reads_the_key_from_stdin() {
    let env = Env::new();
    let out = env
        .cmd()
        .args([
            "--json",
            "provider",
            "add",
            "a",
            "--kind",
            "anthropic",
            "--api-key",
            "-",
        ])
        .write_stdin(format!("{SECRET}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(json_of(&out)["api_key"], MASKED);
    assert!(!stdout(&out).contains(SECRET));

    let out = env
        .cmd()
        .args([
            "provider",
            "add",
            "b",
            "--kind",
            "anthropic",
            "--api-key",
            "-",
        ])
        .write_stdin("  \n")
        .output()
        .unwrap();
    assert_user_error(&out, "read an empty key from stdin");
}

#[test]
fn provider_bad_inputs_are_one_line_errors_with_a_hint_and_change_nothing() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "taken",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    // Command lines split on spaces; values with spaces are listed apart.
    #[rustfmt::skip]
    let cases = [
        ("provider add taken --kind gemini --api-key sk-x", "provider `taken` already exists"),
        ("provider add x --kind azure --api-key sk-x", "unknown kind `azure`; allowed values: openai, anthropic, gemini, openai-compatible"),
        ("provider add x --kind openai-compatible --api-key sk-x", "invalid `base_url`: is required for kind openai-compatible"),
        ("provider add x --kind openai-compatible --base-url localhost:8080 --api-key sk-x", "invalid `base_url`"),
        ("provider add x --kind openai --base-url ftp://example.com --api-key sk-x", "must start with http:// or https://"),
        ("provider add x --kind openai --base-url https://example.com/v1?x=1 --api-key sk-x", "must not have a query or fragment"),
        ("provider add x --kind openai --weight -1 --api-key sk-x", "invalid `weight`: must be 0 or more (got -1)"),
        ("provider add x --kind openai --priority -3 --api-key sk-x", "invalid `priority`"),
        ("provider add x --kind openai --rate-limit -5 --api-key sk-x", "invalid `rate_limit_rpm`"),
        ("provider add x --kind openai --timeout 0 --api-key sk-x", "invalid `timeout`: must be greater than 0"),
        ("provider add x --kind openai --timeout 0s --api-key sk-x", "invalid `timeout`"),
        ("provider add x --kind openai --timeout=-5s --api-key sk-x", "invalid `timeout`: must be greater than 0 (got `-5s`)"),
        ("provider add x --kind openai --timeout soon --api-key sk-x", "invalid `timeout`: `soon` is not a duration"),
        ("provider add x --kind openai --max-retries 11 --api-key sk-x", "invalid `max_retries`: must be between 0 and 10"),
        ("provider add x/y --kind openai --api-key sk-x", "invalid `name`"),
        ("provider add x --kind openai --api-key-env 1BAD", "invalid `api_key_env`"),
        ("provider add x --kind openai --models ok,bad!model --api-key sk-x", "invalid `model`"),
        ("provider show nope", "provider `nope` does not exist"),
        ("provider update nope --weight 2", "provider `nope` does not exist"),
        ("provider update taken --weight -2", "invalid `weight`"),
        ("provider update taken --kind openai-compatible", "is required when changing the kind to openai-compatible"),
        ("provider remove nope", "provider `nope` does not exist"),
        ("provider enable nope", "provider `nope` does not exist"),
        ("provider disable nope", "provider `nope` does not exist"),
    ];
    let mut runs: Vec<(Vec<String>, &str)> = cases
        .iter()
        .map(|(line, needle)| (line.split(' ').map(String::from).collect(), *needle))
        .collect();
    let spaced = [
        "provider",
        "add",
        "x",
        "--kind",
        "openai",
        "--base-url",
        "not a url",
        "--api-key",
        "sk-x",
    ];
    runs.push((
        spaced.map(String::from).to_vec(),
        "`not a url` is not a valid URL",
    ));
    runs.push((
        [
            "provider",
            "add",
            "x y",
            "--kind",
            "openai",
            "--api-key",
            "sk-x",
        ]
        .map(String::from)
        .to_vec(),
        "invalid `name`: `x y` contains ` `",
    ));
    for (args, needle) in &runs {
        let out = env.cmd().args(args).output().unwrap();
        assert_user_error(&out, needle);
        let errors = stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count();
        assert_eq!(errors, 1, "{args:?}\n{}", describe(&out));
    }
    let list = env.json(&["provider", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "taken");
    assert_eq!(list[0]["kind"], "openai");
    assert_eq!(list[0]["weight"], 1);
    assert_eq!(env.json(&["model", "list"]), serde_json::json!([]));
}

#[test]
fn usage_errors_exit_1_not_clap_2() {
    let env = Env::new();
    for args in [
        &["provider", "add", "x", "--bogus"][..],
        &["provider", "add", "x"],
        &[
            "provider",
            "add",
            "x",
            "--kind",
            "openai",
            "--api-key",
            "a",
            "--api-key-env",
            "B",
        ],
        &[
            "provider", "add", "x", "--kind", "openai", "--weight", "lots",
        ],
        &["provider"],
        &["nosuchcommand"],
        &["-q", "-v", "key", "list"],
        &["completions", "tcsh"],
        &["model", "add", "m"],
        &[],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        assert!(
            stderr(&out).contains("error"),
            "{args:?}\n{}",
            describe(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}\n{}", describe(&out));
    }
    assert!(
        !env.db().exists(),
        "a usage error must not create the database"
    );
    for args in [
        &["--help"][..],
        &["--version"],
        &["provider", "add", "--help"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", describe(&out));
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn admin_key_file_is_an_option_of_serve_and_doctor_only() {
    let env = Env::new();
    for (args, shown) in [
        (&["provider", "list", "--help"][..], false),
        (&["key", "create", "--help"], false),
        (&["--help"], false),
        (&["serve", "--help"], true),
        (&["doctor", "--help"], true),
    ] {
        let out = env.ok(args);
        assert_eq!(
            stdout(&out).contains("--admin-key-file"),
            shown,
            "{args:?}\n{}",
            describe(&out)
        );
    }
    let out = env.fails(&["provider", "list", "--admin-key-file", "k"]);
    assert!(
        stderr(&out).contains("--admin-key-file"),
        "{}",
        describe(&out)
    );
}

#[test]
fn provider_update_changes_only_the_given_flags() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "o",
        "--kind",
        "openai",
        "--api-key",
        SECRET,
        "--weight",
        "4",
        "--timeout",
        "2m",
    ]);
    let v = env.json(&[
        "provider",
        "update",
        "o",
        "--priority",
        "3",
        "--models",
        "gpt-4o",
    ]);
    assert_eq!(v["priority"], 3);
    assert_eq!(v["weight"], 4);
    assert_eq!(v["timeout_ms"], 120_000);
    assert_eq!(v["api_key"], MASKED);
    assert_eq!(v["models"], serde_json::json!(["gpt-4o"]));
    // Switching to an env var replaces the stored key.
    let v = env.json(&["provider", "update", "o", "--api-key-env", "OPENAI_API_KEY"]);
    assert_eq!(v["api_key"], serde_json::Value::Null);
    assert_eq!(v["api_key_env"], "OPENAI_API_KEY");
    let v = env.json(&[
        "provider",
        "update",
        "o",
        "--kind",
        "openai-compatible",
        "--base-url",
        "https://proxy.example.com/v1",
    ]);
    assert_eq!(v["kind"], "openai-compatible");
    assert_eq!(v["base_url"], "https://proxy.example.com/v1");
    // A server that needs no key: forget it.
    let v = env.json(&["provider", "update", "o", "--no-api-key"]);
    assert_eq!(v["api_key"], serde_json::Value::Null);
    assert_eq!(v["api_key_env"], serde_json::Value::Null);
    assert_eq!(v["priority"], 3, "nothing else changed");
    let out = env.fails(&[
        "provider",
        "update",
        "o",
        "--no-api-key",
        "--api-key-env",
        "X",
    ]);
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        describe(&out)
    );
    // Rename: the mappings and settings come along; taken names are refused.
    env.ok(&[
        "provider",
        "add",
        "other",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    let out = env.fails(&["provider", "rename", "o", "other"]);
    assert!(
        stderr(&out).contains("`other` already exists"),
        "{}",
        describe(&out)
    );
    let v = env.json(&["provider", "rename", "o", "proxy"]);
    assert_eq!(v["name"], "proxy");
    assert_eq!(v["models"], serde_json::json!(["gpt-4o"]));
    assert_eq!(v["priority"], 3);
    env.fails(&["provider", "show", "o"]);
}

#[test]
fn provider_remove_refuses_while_it_is_a_models_only_provider() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "a",
        "--kind",
        "openai",
        "--api-key-env",
        "A",
        "--models",
        "m1,m2",
    ]);
    env.ok(&[
        "provider",
        "add",
        "b",
        "--kind",
        "openai",
        "--api-key-env",
        "B",
    ]);
    let out = env.fails(&["provider", "remove", "a"]);
    assert_user_error(
        &out,
        "provider `a` is the only provider of model(s) `m1`, `m2`",
    );
    assert!(stderr(&out).contains("--force"), "{}", describe(&out));
    assert_eq!(env.json(&["provider", "list"]).as_array().unwrap().len(), 2);

    // Once another provider serves m1, only m2 is at stake; --force leaves it orphaned.
    env.ok(&["model", "add", "m1", "--provider", "b"]);
    let out = env.fails(&["provider", "remove", "a"]);
    assert!(stderr(&out).contains("model(s) `m2`"), "{}", describe(&out));
    let out = env.ok(&["--json", "provider", "remove", "a", "--force"]);
    let v = json_of(&out);
    assert_eq!(
        v,
        serde_json::json!({"removed": "a", "models_without_provider": ["m2"]})
    );
    assert!(
        stderr(&out).contains("warning: model(s) m2 now have no provider"),
        "{}",
        describe(&out)
    );
    let m2 = env.json(&["model", "show", "m2"]);
    assert_eq!(m2["providers"], serde_json::json!([]));
    let m1 = env.json(&["model", "show", "m1"]);
    assert_eq!(m1["providers"][0]["provider"], "b");

    // A provider that serves nothing alone goes without --force.
    env.ok(&[
        "provider",
        "add",
        "c",
        "--kind",
        "gemini",
        "--api-key-env",
        "C",
    ]);
    let out = env.ok(&["provider", "remove", "c"]);
    assert!(stderr(&out).contains("removed provider `c`"));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
}

#[test]
fn provider_enable_and_disable_toggle_traffic() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "o",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    let out = env.ok(&["provider", "disable", "o"]);
    assert!(stderr(&out).contains("disabled provider `o`"));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert_eq!(env.json(&["provider", "show", "o"])["enabled"], false);
    let v = env.json(&["provider", "enable", "o"]);
    assert_eq!(v["enabled"], true);
}

#[test]
fn provider_list_table() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "openai",
        "--kind",
        "openai",
        "--api-key",
        SECRET,
        "--models",
        "gpt-4o,gpt-4o-mini",
    ]);
    env.ok(&[
        "provider",
        "add",
        "groq",
        "--kind",
        "openai-compatible",
        "--base-url",
        "https://api.groq.com/openai/v1",
        "--api-key-env",
        "GROQ_API_KEY",
        "--priority",
        "1",
        "--weight",
        "3",
        "--timeout",
        "1500ms",
        "--rate-limit",
        "600",
        "--disabled",
    ]);
    env.ok(&[
        "provider",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--timeout",
        "2m",
        "--api-key-env",
        "ANTHROPIC_API_KEY",
    ]);
    let out = env.ok(&["provider", "list"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    snapshot(&env, "provider_list", &stdout(&out));
}

#[test]
fn provider_add_help() {
    let env = Env::new();
    let out = env.ok(&["provider", "add", "--help"]);
    snapshot(&env, "provider_add_help", &stdout(&out));
}

// ----- model -----

#[test]
fn model_add_maps_providers_and_upstream_names() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "groq",
        "--kind",
        "openai-compatible",
        "--base-url",
        "https://api.groq.com/openai/v1",
        "--priority",
        "1",
        "--no-api-key",
    ]);
    env.ok(&[
        "provider",
        "add",
        "openai",
        "--kind",
        "openai",
        "--api-key-env",
        "OPENAI_API_KEY",
    ]);
    let out = env.ok(&[
        "--json",
        "model",
        "add",
        "fast",
        "--provider",
        "groq=llama-3.1-8b-instant",
        "--provider",
        "openai=gpt-4o-mini",
        "--description",
        "cheap and quick",
    ]);
    assert!(
        stderr(&out)
            .contains("added model `fast` -> openai=gpt-4o-mini, groq=llama-3.1-8b-instant"),
        "{}",
        describe(&out)
    );
    let v = json_of(&out);
    assert_eq!(keys(&v), MODEL_FIELDS);
    assert_eq!(v["name"], "fast");
    assert_eq!(v["description"], "cheap and quick");
    assert_eq!(v["enabled"], true);
    assert!(
        is_rfc3339(&v["created_at"]) && is_rfc3339(&v["updated_at"]),
        "{v}"
    );
    let providers = v["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2);
    for p in providers {
        assert_eq!(keys(p), MAPPING_FIELDS);
    }
    // Lowest priority first: openai (0) before groq (1).
    assert_eq!(providers[0]["provider"], "openai");
    assert_eq!(providers[0]["upstream_model"], "gpt-4o-mini");
    assert_eq!(providers[0]["priority"], serde_json::Value::Null);
    assert_eq!(providers[1]["provider"], "groq");
    assert_eq!(providers[1]["upstream_model"], "llama-3.1-8b-instant");

    // Without `=`, the upstream name is the public one.
    env.ok(&["model", "add", "gpt-4o", "--provider", "openai"]);
    assert_eq!(
        env.json(&["model", "show", "gpt-4o"])["providers"][0]["upstream_model"],
        "gpt-4o"
    );

    // Adding to an existing model adds or updates mappings.
    let out = env.ok(&[
        "model",
        "add",
        "gpt-4o",
        "--provider",
        "groq=gpt-4o-via-groq",
    ]);
    assert!(
        stderr(&out).contains("updated model `gpt-4o`"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        env.json(&["model", "show", "gpt-4o"])["providers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let out = env.ok(&["model", "list"]);
    snapshot(&env, "model_list", &stdout(&out));
    let out = env.ok(&["model", "show", "fast"]);
    snapshot(&env, "model_show", &stdout(&out));

    // The provider lists its models.
    assert_eq!(
        env.json(&["provider", "show", "groq"])["models"],
        serde_json::json!(["fast", "gpt-4o"])
    );
}

#[test]
fn model_add_with_an_unknown_provider_creates_nothing() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "openai",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    let out = env.fails(&[
        "model",
        "add",
        "m",
        "--provider",
        "openai",
        "--provider",
        "ghost=x",
    ]);
    assert_user_error(&out, "provider `ghost` does not exist");
    assert_eq!(env.json(&["model", "list"]), serde_json::json!([]));
    for (args, needle) in [
        (
            &["model", "add", "m", "--provider", "openai="][..],
            "the upstream model after `=` is empty",
        ),
        (
            &["model", "add", "bad name", "--provider", "openai"],
            "invalid `model`",
        ),
        (&["model", "show", "nope"], "model `nope` does not exist"),
        (&["model", "remove", "nope"], "model `nope` does not exist"),
        (&["model", "enable", "nope"], "model `nope` does not exist"),
        (&["model", "disable", "nope"], "model `nope` does not exist"),
        (
            &["model", "unmap", "nope", "--provider", "openai"],
            "model `nope` does not exist",
        ),
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}\n{}",
            describe(&out)
        );
    }
}

#[test]
fn model_unmap_enable_disable_remove() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "a",
        "--kind",
        "openai",
        "--api-key-env",
        "A",
    ]);
    env.ok(&[
        "provider",
        "add",
        "b",
        "--kind",
        "anthropic",
        "--api-key-env",
        "B",
    ]);
    env.ok(&[
        "model",
        "add",
        "m",
        "--provider",
        "a",
        "--provider",
        "b=claude-x",
    ]);

    let v = env.json(&["model", "unmap", "m", "--provider", "a"]);
    assert_eq!(v["providers"].as_array().unwrap().len(), 1);
    assert_eq!(v["providers"][0]["provider"], "b");
    let out = env.fails(&["model", "unmap", "m", "--provider", "a"]);
    assert!(
        stderr(&out).contains("does not exist"),
        "{}",
        describe(&out)
    );
    let out = env.ok(&["model", "unmap", "m", "--provider", "b"]);
    assert!(
        stderr(&out).contains("warning: model `m` now has no provider"),
        "{}",
        describe(&out)
    );

    let out = env.ok(&["model", "disable", "m"]);
    assert!(stderr(&out).contains("disabled model `m`"));
    assert_eq!(env.json(&["model", "show", "m"])["enabled"], false);
    let out = env.ok(&["model", "disable", "m"]);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let v = env.json(&["model", "enable", "m"]);
    assert_eq!(keys(&v), MODEL_FIELDS);
    assert_eq!(v["enabled"], true);
    assert_eq!(env.json(&["model", "show", "m"])["enabled"], true);
    assert_eq!(env.json(&["model", "disable", "m"])["enabled"], false);
    env.ok(&["model", "enable", "m"]);

    let v = env.json(&["model", "remove", "m"]);
    assert_eq!(v, serde_json::json!({"removed": "m"}));
    assert_eq!(env.json(&["model", "list"]), serde_json::json!([]));
    // Providers stay.
    assert_eq!(env.json(&["provider", "list"]).as_array().unwrap().len(), 2);
}

#[test]
fn removing_a_provider_removes_its_mappings() {
    let env = Env::new();
    env.ok(&[
        "provider",
        "add",
        "a",
        "--kind",
        "openai",
        "--api-key-env",
        "A",
    ]);
    env.ok(&[
        "provider",
        "add",
        "b",
        "--kind",
        "openai",
        "--api-key-env",
        "B",
    ]);
    env.ok(&["model", "add", "m", "--provider", "a", "--provider", "b"]);
    env.ok(&["provider", "remove", "a"]);
    let m = env.json(&["model", "show", "m"]);
    assert_eq!(m["providers"].as_array().unwrap().len(), 1);
    assert_eq!(m["providers"][0]["provider"], "b");
}

// ----- key -----

#[test]
fn key_is_printed_once_and_never_listed_or_stored() {
    let env = Env::new();
    let out = env.ok(&[
        "key",
        "create",
        "app1",
        "--rpm",
        "60",
        "--models",
        "gpt-4o,fast",
    ]);
    let key = stdout(&out).trim_end().to_string();
    assert_eq!(stdout(&out), format!("{key}\n"), "stdout is the key alone");
    assert!(key.starts_with("llmo-") && key.len() == 45, "{key}");
    assert!(key[5..].chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
    assert!(
        stderr(&out).contains("it is shown once"),
        "{}",
        describe(&out)
    );

    let v = env.json(&["key", "create", "app2"]);
    let mut expected = KEY_FIELDS.to_vec();
    expected.push("key");
    expected.sort();
    assert_eq!(keys(&v), expected);
    let key2 = v["key"].as_str().unwrap().to_string();
    assert_ne!(key, key2);
    assert_eq!(v["prefix"], &key2[..9]);
    assert_eq!(v["models"], serde_json::Value::Null);
    assert_eq!(v["rpm_limit"], 0);

    let human = env.ok(&["key", "list"]);
    let list = env.ok(&["--json", "key", "list"]);
    for out in [&human, &list] {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(
            !all.contains(&key) && !all.contains(&key2),
            "key leaked:\n{all}"
        );
    }
    assert!(
        stdout(&human).contains(&format!("{}...", &key[..9])),
        "{}",
        describe(&human)
    );
    let list = json_of(&list);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(keys(&list[0]), KEY_FIELDS);
    assert_eq!(list[0]["name"], "app1");
    assert_eq!(list[0]["rpm_limit"], 60);
    assert_eq!(list[0]["models"], serde_json::json!(["gpt-4o", "fast"]));
    assert_eq!(list[0]["last_used_at"], serde_json::Value::Null);
    assert_eq!(list[0]["revoked_at"], serde_json::Value::Null);

    // Only a hash is stored: the key's bytes appear nowhere in the database.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let rows: Vec<String> = conn
        .prepare("SELECT key_hash || prefix || coalesce(allowed_models, '') FROM api_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    assert_eq!(rows.len(), 2);
    for (row, k) in rows.iter().zip([&key, &key2]) {
        assert!(!row.contains(k.as_str()), "{row}");
        assert!(!row.contains(&k[9..]), "{row}");
    }
    for file in std::fs::read_dir(env.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key[9..]) && !text.contains(&key2[9..]));
    }
}

#[test]
fn key_revoke_and_bad_inputs() {
    let env = Env::new();
    env.ok(&["key", "create", "app"]);
    let v = env.json(&["key", "revoke", "app"]);
    assert_eq!(v, serde_json::json!({"revoked": "app"}));
    let list = env.json(&["key", "list"]);
    assert!(is_rfc3339(&list[0]["revoked_at"]), "{list}");

    let out = env.fails(&["key", "revoke", "app"]);
    assert!(
        stderr(&out).contains("key `app` is already revoked"),
        "{}",
        describe(&out)
    );
    assert_user_error(
        &env.fails(&["key", "revoke", "ghost"]),
        "key `ghost` does not exist",
    );
    assert_user_error(
        &env.fails(&["key", "create", "app"]),
        "key `app` already exists",
    );
    assert_user_error(
        &env.fails(&["key", "create", "x", "--rpm", "-1"]),
        "invalid `rpm`",
    );
    assert_user_error(&env.fails(&["key", "create", "bad name"]), "invalid `name`");
    assert_eq!(env.json(&["key", "list"]).as_array().unwrap().len(), 1);
}

// ----- configuration -----

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn db_path_precedence_is_flag_then_env_then_file_then_default() {
    let env = Env::new();
    let cfg = env.home().join(".config/llmo/llmo.toml");
    let (from_file, from_env, from_flag) = (
        env.path().join("file.db"),
        env.path().join("env.db"),
        env.path().join("flag.db"),
    );
    write(
        &cfg,
        &format!("db = {:?}\n", from_file.display().to_string()),
    );

    // The default config file is read; its `db` beats the default path.
    env.bare_cmd()
        .args(["key", "create", "k1"])
        .assert()
        .code(0);
    assert!(from_file.is_file());
    assert!(!env.home().join(".local/share/llmo/llmo.db").exists());

    // LLMO_DB beats the file.
    env.bare_cmd()
        .env("LLMO_DB", &from_env)
        .args(["key", "create", "k2"])
        .assert()
        .code(0);
    assert!(from_env.is_file());

    // --db beats LLMO_DB.
    env.bare_cmd()
        .env("LLMO_DB", &from_env)
        .args(["--db", from_flag.to_str().unwrap(), "key", "create", "k3"])
        .assert()
        .code(0);
    assert!(from_flag.is_file());

    let names = |db: &Path| -> Vec<String> {
        let out = env
            .bare_cmd()
            .args(["--json", "--db", db.to_str().unwrap(), "key", "list"])
            .output()
            .unwrap();
        json_of(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&from_file), ["k1"]);
    assert_eq!(names(&from_env), ["k2"]);
    assert_eq!(names(&from_flag), ["k3"]);

    // --config / LLMO_CONFIG pick another file; --config beats LLMO_CONFIG.
    let other = env.path().join("other.toml");
    let other_db = env.path().join("other.db");
    write(
        &other,
        &format!("db = {:?}\n", other_db.display().to_string()),
    );
    env.bare_cmd()
        .env("LLMO_CONFIG", &other)
        .args(["key", "create", "k4"])
        .assert()
        .code(0);
    assert_eq!(names(&other_db), ["k4"]);
    env.bare_cmd()
        .env("LLMO_CONFIG", env.path().join("missing.toml"))
        .args(["--config", other.to_str().unwrap(), "key", "create", "k5"])
        .assert()
        .code(0);
    assert_eq!(names(&other_db), ["k4", "k5"]);
}

#[test]
fn config_file_errors_name_the_file_or_key() {
    let env = Env::new();
    let missing = env.path().join("nope.toml");
    let out = env
        .cmd()
        .args(["--config", missing.to_str().unwrap(), "provider", "list"])
        .output()
        .unwrap();
    assert_user_error(
        &out,
        &format!("config file `{}` does not exist", missing.display()),
    );

    let out = env
        .cmd()
        .env("LLMO_CONFIG", &missing)
        .args(["provider", "list"])
        .output()
        .unwrap();
    assert_user_error(&out, "does not exist");

    let bad = env.path().join("bad.toml");
    write(
        &bad,
        "listen = \"127.0.0.1:9000\"\nlisten_adress = \"0.0.0.0:1\"\n",
    );
    let out = env
        .cmd()
        .args(["--config", bad.to_str().unwrap(), "provider", "list"])
        .output()
        .unwrap();
    assert_user_error(&out, "listen_adress");
    assert!(stderr(&out).contains("bad.toml"), "{}", describe(&out));

    write(&bad, "max_body = \"lots\"\n");
    let out = env
        .cmd()
        .args(["--config", bad.to_str().unwrap(), "provider", "list"])
        .output()
        .unwrap();
    assert_user_error(&out, "`max_body` in config file");

    write(&bad, "this is not toml");
    let out = env
        .cmd()
        .args(["--config", bad.to_str().unwrap(), "provider", "list"])
        .output()
        .unwrap();
    assert_user_error(&out, "is invalid");
    assert!(!env.db().exists(), "nothing runs on a bad config");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let env = Env::new();
    for (var, value) in [
        ("LLMO_MAX_BODY", "lots"),
        ("LLMO_LISTEN", "localhost"),
        ("LLMO_SHUTDOWN_TIMEOUT", "forever"),
        ("LLMO_CIRCUIT_FAILURES", "0"),
        ("LLMO_ALLOW_ANONYMOUS", "maybe"),
        ("LLMO_DB", ""),
    ] {
        let out = env
            .cmd()
            .env(var, value)
            .args(["provider", "list"])
            .output()
            .unwrap();
        assert_user_error(&out, &format!("`{var}={value}` is invalid"));
        assert!(
            stderr(&out).contains(&format!("fix or unset `{var}`")),
            "{}",
            describe(&out)
        );
    }
}

/// Every setting, in-process: flag (where `serve` has one) > env > file >
/// default, with the defaults the README documents.
#[test]
fn every_setting_follows_flag_env_file_default() {
    use llmo::config::{Overrides, Settings, Source};
    use std::collections::BTreeMap;
    let env = Env::new();
    let cfg = env.path().join("llmo.toml");
    write(
        &cfg,
        r#"
db = "/file/llmo.db"
listen = "127.0.0.1:1001"
allow_anonymous = true
max_body = 2048
log_retention_days = 7
shutdown_timeout = "7s"
circuit_failures = 7
circuit_cooldown = "7m"
admin_key = "llmo-admin-fromthefile-0007"
upstream_max_body = "7KiB"
request_body_timeout = "7s"
request_body_min_rate = 7
trusted_proxies = ["10.0.0.7"]
apply = "/file/catalog.toml"
apply_prune = true
responses_cache = "7MiB"
redis_url = "redis://:filepass@cache7:6379"
redis_timeout = "70ms"
"#,
    );
    let flag_key = env.path().join("admin.key");
    write(&flag_key, "llmo-admin-fromtheflag-0009\n");
    let vars: BTreeMap<String, String> = [
        ("LLMO_DB", "/env/llmo.db"),
        ("LLMO_LISTEN", "127.0.0.1:2002"),
        ("LLMO_ALLOW_ANONYMOUS", "false"),
        ("LLMO_MAX_BODY", "1KiB"),
        ("LLMO_LOG_RETENTION_DAYS", "8"),
        ("LLMO_SHUTDOWN_TIMEOUT", "8s"),
        ("LLMO_CIRCUIT_FAILURES", "8"),
        ("LLMO_CIRCUIT_COOLDOWN", "8m"),
        ("LLMO_ADMIN_KEY", "llmo-admin-fromtheenv-0008"),
        ("LLMO_UPSTREAM_MAX_BODY", "8KiB"),
        ("LLMO_REQUEST_BODY_TIMEOUT", "8s"),
        ("LLMO_REQUEST_BODY_MIN_RATE", "8"),
        ("LLMO_TRUSTED_PROXIES", "10.0.0.8"),
        ("LLMO_APPLY", "/env/catalog.toml"),
        ("LLMO_APPLY_PRUNE", "false"),
        ("LLMO_RESPONSES_CACHE", "8MiB"),
        ("LLMO_REDIS_URL", "rediss://cache8"),
        ("LLMO_REDIS_TIMEOUT", "80ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let table = |s: &Settings| -> Vec<(String, String, Source)> {
        s.effective()
            .into_iter()
            .map(|(k, v, src)| (k.to_string(), v, src))
            .collect()
    };
    let row = |k: &str, v: &str, src: Source| (k.to_string(), v.to_string(), src);
    let file_only = Overrides {
        config: Some(cfg.clone()),
        ..Default::default()
    };

    let s = Settings::resolve_with(&file_only, &BTreeMap::new()).unwrap();
    assert_eq!(
        table(&s),
        [
            row("db", "/file/llmo.db", Source::File),
            row("listen", "127.0.0.1:1001", Source::File),
            row("allow_anonymous", "true", Source::File),
            row("max_body", "2048", Source::File),
            row("log_retention_days", "7", Source::File),
            row("shutdown_timeout", "7s", Source::File),
            row("circuit_failures", "7", Source::File),
            row("circuit_cooldown", "7m", Source::File),
            row("admin_key", "llmo-...0007", Source::File),
            row("upstream_max_body", "7168", Source::File),
            row("request_body_timeout", "7s", Source::File),
            row("request_body_min_rate", "7 bytes/s", Source::File),
            row("trusted_proxies", "10.0.0.7", Source::File),
            row("apply", "/file/catalog.toml", Source::File),
            row("apply_prune", "true", Source::File),
            row("responses_cache", "7340032", Source::File),
            row("redis_url", "redis://:***@cache7:6379", Source::File),
            row("redis_timeout", "70ms", Source::File),
        ]
    );

    let s = Settings::resolve_with(&file_only, &vars).unwrap();
    assert_eq!(
        table(&s),
        [
            row("db", "/env/llmo.db", Source::Env),
            row("listen", "127.0.0.1:2002", Source::Env),
            row("allow_anonymous", "false", Source::Env),
            row("max_body", "1024", Source::Env),
            row("log_retention_days", "8", Source::Env),
            row("shutdown_timeout", "8s", Source::Env),
            row("circuit_failures", "8", Source::Env),
            row("circuit_cooldown", "8m", Source::Env),
            row("admin_key", "llmo-...0008", Source::Env),
            row("upstream_max_body", "8192", Source::Env),
            row("request_body_timeout", "8s", Source::Env),
            row("request_body_min_rate", "8 bytes/s", Source::Env),
            row("trusted_proxies", "10.0.0.8", Source::Env),
            row("apply", "/env/catalog.toml", Source::Env),
            row("apply_prune", "false", Source::Env),
            row("responses_cache", "8388608", Source::Env),
            row("redis_url", "rediss://cache8", Source::Env),
            row("redis_timeout", "80ms", Source::Env),
        ]
    );

    let flags = Overrides {
        config: Some(cfg),
        db: Some(std::path::PathBuf::from("/flag/llmo.db")),
        listen: Some("127.0.0.1:3003".into()),
        allow_anonymous: Some(true),
        max_body: Some(512),
        log_retention_days: Some(9),
        shutdown_timeout: Some(std::time::Duration::from_secs(9)),
        admin_key_file: Some(flag_key),
        upstream_max_body: Some(9),
        apply: Some("/flag/catalog.toml".into()),
        apply_prune: Some(true),
        redis_url: Some("redis+unix:///run/redis.sock".into()),
    };
    let s = Settings::resolve_with(&flags, &vars).unwrap();
    let t = table(&s);
    assert_eq!(t[0], row("db", "/flag/llmo.db", Source::Flag));
    assert_eq!(t[1], row("listen", "127.0.0.1:3003", Source::Flag));
    assert_eq!(t[2], row("allow_anonymous", "true", Source::Flag));
    assert_eq!(t[3], row("max_body", "512", Source::Flag));
    assert_eq!(t[4], row("log_retention_days", "9", Source::Flag));
    assert_eq!(t[5], row("shutdown_timeout", "9s", Source::Flag));
    assert_eq!(t[8], row("admin_key", "llmo-...0009", Source::Flag));
    assert_eq!(t[9], row("upstream_max_body", "9", Source::Flag));
    assert_eq!(t[13], row("apply", "/flag/catalog.toml", Source::Flag));
    assert_eq!(t[14], row("apply_prune", "true", Source::Flag));
    assert_eq!(
        t[16],
        row("redis_url", "redis+unix:///run/redis.sock", Source::Flag)
    );

    // An empty file, no env, no flags: the defaults the README documents.
    let empty = env.path().join("empty.toml");
    write(&empty, "");
    let only_db = Overrides {
        db: Some(env.db()),
        config: Some(empty),
        ..Default::default()
    };
    let s = Settings::resolve_with(&only_db, &BTreeMap::new()).unwrap();
    assert_eq!(
        table(&s)[1..],
        [
            row("listen", "127.0.0.1:8000", Source::Default),
            row("allow_anonymous", "false", Source::Default),
            row("max_body", "10485760", Source::Default),
            row("log_retention_days", "30", Source::Default),
            row("shutdown_timeout", "30s", Source::Default),
            row("circuit_failures", "5", Source::Default),
            row("circuit_cooldown", "30s", Source::Default),
            row("admin_key", "none (admin API and UI off)", Source::Default),
            row("upstream_max_body", "67108864", Source::Default),
            row("request_body_timeout", "30s", Source::Default),
            row("request_body_min_rate", "1024 bytes/s", Source::Default),
            row(
                "trusted_proxies",
                "none (the peer address is the client)",
                Source::Default
            ),
            row("apply", "none", Source::Default),
            row("apply_prune", "false", Source::Default),
            row("responses_cache", "67108864", Source::Default),
            row(
                "redis_url",
                "none (rate limits per replica)",
                Source::Default
            ),
            row("redis_timeout", "50ms", Source::Default),
        ]
    );
}

/// The example `llmo.toml` in the README must be accepted as written, and
/// every key the file accepts must be documented there.
#[test]
fn readme_example_config_is_valid_and_complete() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```toml\n")
        .expect("README has a ```toml example")
        + 8;
    let len = readme[start..].find("```").unwrap();
    let example = &readme[start..start + len];
    let env = Env::new();
    let cfg = env.path().join("llmo.toml");
    write(&cfg, example);
    // The example names an admin key file next to the config file.
    write(
        &env.path().join("admin.key"),
        "llmo-admin-0123456789abcdef\n",
    );
    let flags = llmo::config::Overrides {
        config: Some(cfg),
        ..Default::default()
    };
    let s = llmo::config::Settings::resolve_with(&flags, &std::collections::BTreeMap::new())
        .unwrap_or_else(|e| panic!("README example rejected: {e}\n{example}"));
    for (name, _, source) in s.effective() {
        assert_eq!(
            source,
            llmo::config::Source::File,
            "README example does not set `{name}`"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not document `{name}`"
        );
    }
    for var in llmo::config::KNOWN_ENV {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README does not document `{var}`"
        );
    }
}

// ----- completions -----

#[test]
fn completions_print_the_committed_scripts() {
    let env = Env::new();
    for (shell, file) in [
        ("bash", "llmo.bash"),
        ("zsh", "_llmo"),
        ("fish", "llmo.fish"),
        ("powershell", "_llmo.ps1"),
        ("elvish", "llmo.elv"),
    ] {
        let out = env.ok(&["completions", shell]);
        let committed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("completions")
                .join(file),
        )
        .unwrap();
        assert!(out.stdout == committed, "`llmo completions {shell}` differs from completions/{file}; run `cargo run -- generate`");
        assert!(stdout(&out).contains("provider"), "{shell}");
    }
    assert!(
        !env.db().exists(),
        "completions must not touch the database"
    );
}

/// `--db`, `LLMO_DB` and the config's `db` with a URL scheme llmo does not
/// store in: a one-line error naming the supported ones, and no file or
/// directory named after the URL (`mysql:`) appears.
#[test]
fn db_urls_with_unsupported_schemes_are_errors_never_files() {
    let env = Env::new();
    for url in [
        "mysql://h/llmo",
        "postgress://u:s3cret@h/llmo",
        "sqlite://x.db",
    ] {
        let out = env.fails(&["--db", url, "key", "list"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(err.contains("unsupported database URL scheme"), "{err}");
        assert!(err.contains("postgres://"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let out = env
            .cmd()
            .args(["key", "list"])
            .env("LLMO_DB", url)
            .output()
            .unwrap();
        assert_user_error(&out, "unsupported database URL scheme");
        assert!(!stderr(&out).contains("s3cret"), "{}", describe(&out));
    }
    let cfg = env.path().join("c.toml");
    std::fs::write(&cfg, "db = \"mysql://h/llmo\"\n").unwrap();
    let out = env
        .bare_cmd()
        .args(["--config", cfg.to_str().unwrap(), "key", "list"])
        .output()
        .unwrap();
    assert_user_error(&out, "unsupported database URL scheme `mysql://`");
    let made: Vec<_> = std::fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(':'))
        .collect();
    assert!(made.is_empty(), "created {made:?}");
}

/// `key list --search/--limit/--after`: a page at a time in name order, a
/// note on stderr naming the next page, a case-insensitive search, and a
/// bad limit as a one-line error naming it.
#[test]
fn key_list_pages_and_searches() {
    let env = Env::new();
    for name in ["a1", "a2", "a3", "a4", "a5", "Beta"] {
        env.ok(&["key", "create", name]);
    }
    let names = |out: &std::process::Output| -> Vec<String> {
        json_of(out)
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    let out = env.ok(&["--json", "key", "list", "--limit", "2"]);
    assert_eq!(names(&out), ["Beta", "a1"]);
    assert!(stderr(&out).contains("`--after a1`"), "{}", describe(&out));
    let out = env.ok(&["--json", "key", "list", "--limit", "2", "--after", "a3"]);
    assert_eq!(names(&out), ["a4", "a5"]);
    assert!(!stderr(&out).contains("--after"), "{}", describe(&out));
    let out = env.ok(&["--json", "key", "list", "--search", "BET"]);
    assert_eq!(names(&out), ["Beta"]);
    let out = env.ok(&["key", "list", "--search", "zzz"]);
    assert!(
        stderr(&out).contains("no key matches"),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["key", "list", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("`limit` must be between 1 and 1000"));
}

//! `llmo config export` / `apply` (configuration as code, issue 11 §5): the
//! round trip through a fresh database, idempotence (no version bump),
//! `--dry-run`, `--prune`, the stored-key placeholder, and every bad input
//! naming the file, the line and the key with the database unchanged.
use std::path::Path;

use crate::common::{describe, json_of, stderr, stdout, Env};

const SECRET: &str = "sk-stored-Sup3rS3cret-0042";

fn version(db: &Path) -> i64 {
    llmo::db::Store::open(db)
        .unwrap()
        .0
        .config_version()
        .unwrap()
}

fn export(env: &Env) -> String {
    stdout(&env.ok(&["config", "export"]))
}

fn write(env: &Env, name: &str, text: &str) -> String {
    let p = env.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A catalog built with the CLI: every provider kind, env keys, a no-key
/// server, models with several mappings, disabled entries, key limits; the
/// mapping overrides (not settable by the CLI) come from a first apply.
pub(crate) fn build_catalog(env: &Env) {
    for args in [
        &[
            "provider",
            "add",
            "openai",
            "--kind",
            "openai",
            "--api-key-env",
            "OPENAI_API_KEY",
            "--priority",
            "2",
            "--weight",
            "3",
            "--max-retries",
            "4",
            "--timeout",
            "5s",
            "--rate-limit",
            "100",
        ][..],
        &[
            "provider",
            "add",
            "claude",
            "--kind",
            "anthropic",
            "--api-key-env",
            "ANTHROPIC_API_KEY",
        ],
        &[
            "provider",
            "add",
            "gem",
            "--kind",
            "gemini",
            "--api-key-env",
            "GEMINI_API_KEY",
            "--disabled",
        ],
        &[
            "provider",
            "add",
            "local-vllm",
            "--kind",
            "openai-compatible",
            "--base-url",
            "http://vllm:8000/v1/",
            "--no-api-key",
            "--models",
            "llama3:8b",
        ],
        &[
            "model",
            "add",
            "gpt-4o-mini",
            "--provider",
            "openai",
            "--provider",
            "local-vllm=llama3",
            "--description",
            "fast \"and\" cheap",
        ],
        &[
            "model",
            "add",
            "sonnet",
            "--provider",
            "claude=claude-3-5-sonnet",
            "--provider",
            "gem=gemini-pro",
        ],
        &["model", "disable", "sonnet"],
        &[
            "key",
            "create",
            "ci-bot",
            "--rpm",
            "60",
            "--models",
            "gpt-4o-mini,sonnet",
        ],
        &["key", "create", "web"],
    ] {
        env.ok(args);
    }
    let f = write(
        env,
        "overrides.toml",
        r#"
[providers.openai]
kind = "openai"
api_key_env = "OPENAI_API_KEY"
priority = 2
weight = 3
max_retries = 4
timeout_ms = 5000
rate_limit_rpm = 100

[models."gpt-4o-mini"]
description = "fast \"and\" cheap"
providers = [
  { provider = "openai", upstream_model = "gpt-4o-mini", priority = 1, weight = 5 },
  { provider = "local-vllm", upstream_model = "llama3", enabled = false },
]

[keys.ci-bot]
rpm = 60
models = ["gpt-4o-mini", "sonnet"]
"#,
    );
    let out = env.ok(&["config", "apply", &f]);
    let plan = stdout(&out);
    assert_eq!(
        plan,
        "~ model gpt-4o-mini: mapping local-vllm enabled true -> false\n\
         ~ model gpt-4o-mini: mapping openai priority (provider's) -> 1\n\
         ~ model gpt-4o-mini: mapping openai weight (provider's) -> 5\n\
         0 to add, 3 to change, 0 to remove\n",
        "{}",
        describe(&out)
    );
}

#[test]
fn export_apply_on_a_fresh_database_exports_the_same_bytes() {
    let a = Env::new();
    build_catalog(&a);
    let first = export(&a);
    for needle in [
        "[providers.local-vllm]\nkind = \"openai-compatible\"\nbase_url = \"http://vllm:8000/v1\"\nno_api_key = true\n",
        "api_key_env = \"OPENAI_API_KEY\"\npriority = 2\nweight = 3\nmax_retries = 4\ntimeout_ms = 5000\nrate_limit_rpm = 100\nenabled = true\n",
        "[models.sonnet]\ndescription = \"\"\nenabled = false\n",
        "{ provider = \"openai\", upstream_model = \"gpt-4o-mini\", priority = 1, weight = 5, enabled = true },",
        "[keys.ci-bot]\nrpm = 60\nmodels = [\"gpt-4o-mini\", \"sonnet\"]\n",
        "[keys.web]\nrpm = 0\n",
    ] {
        assert!(first.contains(needle), "missing {needle:?} in\n{first}");
    }
    assert!(
        !first.contains("key_hash") && !first.contains("llmo-"),
        "{first}"
    );

    let b = Env::new();
    b.ok(&["key", "create", "ci-bot"]);
    b.ok(&["key", "create", "web"]);
    let file = write(&b, "catalog.toml", &first);
    let out = b.ok(&["config", "apply", &file]);
    assert!(
        stdout(&out).contains("+ provider openai\n"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        export(&b),
        first,
        "export -> apply -> export must be byte-identical"
    );

    // A second apply changes nothing and does not bump the version.
    let v = version(&b.db());
    let out = b.ok(&["config", "apply", &file]);
    assert_eq!(stdout(&out), "no changes\n");
    assert_eq!(version(&b.db()), v);
    let j = json_of(&b.ok(&["--json", "config", "apply", &file]));
    assert_eq!(j["applied"], false);
    assert_eq!(j["changes"].as_array().unwrap().len(), 0);
}

#[test]
fn an_apply_bumps_the_version_once_and_dry_run_changes_nothing() {
    let env = Env::new();
    build_catalog(&env);
    let before = export(&env);
    let v = version(&env.db());
    let edited = before
        .replace("priority = 2\n", "priority = 0\n")
        .replace("[keys.web]\nrpm = 0\n", "[keys.web]\nrpm = 7\n");
    let file = write(&env, "edited.toml", &edited);
    let out = env.ok(&["config", "apply", "--dry-run", &file]);
    assert_eq!(
        stdout(&out),
        "~ provider openai: priority 2 -> 0\n~ key web: rpm 0 -> 7\n0 to add, 2 to change, 0 to remove\n"
    );
    assert_eq!(export(&env), before);
    assert_eq!(version(&env.db()), v);

    let j = json_of(&env.ok(&["--json", "config", "apply", &file]));
    assert_eq!(j["applied"], true);
    assert_eq!(j["changes"][0]["field"], "priority");
    assert_eq!(j["changes"][0]["from"], "2");
    assert_eq!(j["summary"]["change"], 2);
    assert_eq!(version(&env.db()), v + 1, "one apply, one version");
    assert_eq!(export(&env), edited);
}

#[test]
fn prune_removes_what_the_file_does_not_name_but_never_keys() {
    let env = Env::new();
    build_catalog(&env);
    let full = export(&env);
    // Drop the gemini provider, the sonnet model and the `web` key.
    let cut = |text: &str, from: &str| {
        let start = text.find(from).unwrap();
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |e| start + 2 + e);
        format!("{}{}", &text[..start], &text[end..])
    };
    let smaller = cut(
        &cut(&cut(&full, "[providers.gem]"), "[models.sonnet]"),
        "[keys.web]",
    );
    let file = write(&env, "smaller.toml", &smaller);
    let out = env.ok(&["config", "apply", &file]);
    assert_eq!(stdout(&out), "no changes\n", "without --prune nothing goes");
    let out = env.ok(&["config", "apply", "--prune", &file]);
    assert_eq!(
        stdout(&out),
        "- model sonnet\n- provider gem\n0 to add, 0 to change, 2 to remove\n",
        "{}",
        describe(&out)
    );
    let after = export(&env);
    assert!(!after.contains("[providers.gem]") && !after.contains("[models.sonnet]"));
    assert!(
        after.contains("[keys.web]"),
        "prune never revokes keys:\n{after}"
    );
}

#[test]
fn a_stored_key_is_exported_as_a_placeholder_that_keeps_it() {
    let env = Env::new();
    env.cmd()
        .args([
            "provider",
            "add",
            "vault",
            "--kind",
            "openai",
            "--api-key",
            "-",
        ])
        .write_stdin(format!("{SECRET}\n"))
        .assert()
        .success();
    let text = export(&env);
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains("stored in the database and is not exported")
            && text.contains("\napi_key_stored = true\n"),
        "{text}"
    );
    let file = write(&env, "c.toml", &text);
    assert_eq!(stdout(&env.ok(&["config", "apply", &file])), "no changes\n");

    // On a database without that key, the placeholder is an error naming it.
    let fresh = Env::new();
    let file = write(&fresh, "c.toml", &text);
    let out = fresh.fails(&["config", "apply", &file]);
    let err = stderr(&out);
    assert!(
        err.contains("c.toml:10: providers.vault: no API key is stored in this database"),
        "{err}"
    );
    assert!(!export(&fresh).contains("vault"));
}

#[test]
fn every_bad_file_names_file_line_and_key_and_changes_nothing() {
    let env = Env::new();
    build_catalog(&env);
    let before = export(&env);
    let v = version(&env.db());
    let ok_provider = "[providers.openai]\nkind = \"openai\"\napi_key_env = \"K\"\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{ok_provider}weigth = 2\n"),
            "bad.toml:4: providers.openai: unknown key `weigth` (expected one of kind, base_url,",
        ),
        (
            format!("{ok_provider}[providers.x\n"),
            "bad.toml:4: providers.x: TOML syntax error:",
        ),
        (
            format!("{ok_provider}weight = -1\n"),
            "bad.toml:4: providers.openai: invalid `weight`: must be 0 or more (got -1)",
        ),
        (
            "[providers.x]\napi_key_env = \"K\"\nkind = \"azure\"\n".into(),
            "bad.toml:3: providers.x: invalid `kind`: unknown kind `azure`",
        ),
        (
            format!("{ok_provider}timeout_ms = \"soon\"\n"),
            "bad.toml:4: providers.openai: `timeout_ms` must be an integer (got string)",
        ),
        (
            "[models.m]\nproviders = [\n  { provider = \"nope\" },\n]\n".into(),
            "bad.toml:3: models.m.providers[0]: unknown provider `nope`",
        ),
        (
            "[models.m]\nproviders = [\n  { provider = \"openai\", weight = -3 },\n]\n".into(),
            "bad.toml:3: models.m.providers[0]: invalid `weight`: must be 0 or more",
        ),
        (
            "\n[keys.nobody]\nrpm = 5\n".into(),
            "bad.toml:2: keys.nobody: client key `nobody` does not exist",
        ),
        (
            "[keys.web]\nrpm = -5\n".into(),
            "bad.toml:2: keys.web: invalid `rpm`: must be 0 or more (got -5)",
        ),
        (
            "[provider.openai]\nkind = \"openai\"\n".into(),
            "bad.toml:1: provider: unknown key (expected one of providers, models, keys)",
        ),
        (
            "[providers.local]\nkind = \"anthropic\"\nno_api_key = true\n".into(),
            "bad.toml:3: providers.local: a provider of kind anthropic always needs an API key",
        ),
    ];
    for (text, want) in cases {
        let file = write(&env, "bad.toml", &text);
        let out = env.fails(&["config", "apply", &file]);
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") && first.contains(want),
            "want {want:?}\n{}",
            describe(&out)
        );
        assert!(
            err.lines().nth(1).is_some_and(|l| l.starts_with("hint: ")),
            "{}",
            describe(&out)
        );
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        assert_eq!(export(&env), before, "{want}: the database changed");
        assert_eq!(version(&env.db()), v, "{want}: the version moved");
    }
    // A mistake in the last entry of an otherwise good file: nothing applied.
    let text = format!(
        "{}\n[keys.nobody]\n",
        before.replace("priority = 2", "priority = 9")
    );
    let file = write(&env, "bad.toml", &text);
    env.fails(&["config", "apply", &file]);
    assert_eq!(export(&env), before);
}

mod serve_apply {
    //! `llmo serve --apply FILE`: applied before ready, re-applied when a
    //! Kubernetes-style symlink swap changes the content, a bad edit keeps
    //! the old catalog and is reported.
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde_json::{json, Value};

    use crate::common::eventually;
    use crate::common::gw::{Gw, JsonValue};
    use crate::common::mock_upstream::MockUpstream;

    fn catalog(url: &str, model: &str, extra: &str) -> String {
        format!(
            "[providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{url}\"\nno_api_key = true\nmax_retries = 0\n{extra}\n\
             [models.{model}]\nproviders = [{{ provider = \"mock\", upstream_model = \"up\" }}]\n"
        )
    }

    /// A ConfigMap mount: `catalog.toml -> ..data/catalog.toml`, `..data -> ..<stamp>`.
    /// Each update writes a new stamped dir and swaps `..data` atomically.
    struct ConfigMapDir {
        dir: PathBuf,
        n: u32,
    }

    impl ConfigMapDir {
        fn new(dir: &Path, text: &str) -> ConfigMapDir {
            let dir = dir.join("cm");
            std::fs::create_dir(&dir).unwrap();
            let mut c = ConfigMapDir { dir, n: 0 };
            c.update(text);
            std::os::unix::fs::symlink("..data/catalog.toml", c.file()).unwrap();
            c
        }

        fn file(&self) -> PathBuf {
            self.dir.join("catalog.toml")
        }

        fn update(&mut self, text: &str) {
            self.n += 1;
            let stamp = format!("..2026_12_01_03_00_0{}.12345", self.n);
            std::fs::create_dir(self.dir.join(&stamp)).unwrap();
            std::fs::write(self.dir.join(&stamp).join("catalog.toml"), text).unwrap();
            let tmp = self.dir.join("..data_tmp");
            std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
            std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        }
    }

    async fn answers(gw: &Gw, model: &str) -> bool {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        gw.chat(&body).await.status() == 200
    }

    async fn ready(gw: &Gw) -> (u16, Value) {
        let r = gw.get("/ready").await;
        (r.status().as_u16(), r.json_value().await)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_configmap_swap_is_applied_and_a_bad_edit_keeps_the_old_catalog() {
        let mock = MockUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut cm = ConfigMapDir::new(dir.path(), &catalog(&mock.url(), "m1", ""));
        let file = cm.file();
        let gw = Gw::start(dir, |o| {
            o.settings.apply.value = Some(file.clone());
            o.settings.apply_prune.value = true;
        })
        .await;
        // Applied before the server was ready: the first request is served.
        eventually(Duration::from_secs(10), "ready", || async {
            ready(&gw).await.0 == 200
        })
        .await;
        assert!(answers(&gw, "m1").await);
        let (_, body) = ready(&gw).await;
        assert_eq!(body["apply"]["error"], Value::Null, "{body}");

        cm.update(&catalog(&mock.url(), "m2", ""));
        eventually(
            Duration::from_secs(10),
            "m2 served after the swap",
            || async { answers(&gw, "m2").await },
        )
        .await;
        assert!(!answers(&gw, "m1").await, "--apply-prune removed m1");

        cm.update(&catalog(&mock.url(), "m3", "weigth = 2"));
        eventually(Duration::from_secs(10), "the bad edit reported", || async {
            ready(&gw).await.1["apply"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("catalog.toml:6: providers.mock: unknown key `weigth`"))
        })
        .await;
        let (status, body) = ready(&gw).await;
        assert_eq!(
            status, 200,
            "a bad edit after a good apply keeps the gateway ready: {body}"
        );
        assert!(answers(&gw, "m2").await && !answers(&gw, "m3").await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_file_at_start_serves_not_ready_until_it_is_fixed() {
        let mock = MockUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("catalog.toml");
        std::fs::write(&file, catalog(&mock.url(), "m1", "priority = -1")).unwrap();
        let f2 = file.clone();
        let gw = Gw::start(dir, |o| o.settings.apply.value = Some(f2)).await;
        eventually(
            Duration::from_secs(10),
            "not ready, naming the file",
            || async {
                let (s, b) = ready(&gw).await;
                s == 503
                    && b["problem"].as_str().is_some_and(|p| {
                        p.contains(
                            "catalog.toml:6: providers.mock: invalid `priority`: must be 0 or more",
                        )
                    })
            },
        )
        .await;
        std::fs::write(&file, catalog(&mock.url(), "m1", "")).unwrap();
        eventually(Duration::from_secs(10), "ready once fixed", || async {
            ready(&gw).await.0 == 200
        })
        .await;
        assert!(answers(&gw, "m1").await);
    }
}

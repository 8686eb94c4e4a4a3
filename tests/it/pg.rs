//! llmo on PostgreSQL from the user's side: the CLI with `--db
//! postgres://...` (providers, models, keys, `config export/apply`,
//! `migrate status/up`), `llmo serve` answering through a mock upstream,
//! five replicas racing to migrate one empty database, a binary older than
//! the schema staying up not ready, bad credentials and an unreachable
//! server as one-line errors with the password masked, and a change made
//! on one replica served by another within a second.
//!
//! Each test skips (with a note) when no PostgreSQL is given; see
//! `common/pg.rs`.
use std::time::{Duration, Instant};

use llmo::db::{DbLocation, Store};
use serde_json::json;

use crate::common::gw::{add_provider, chat_body, map, Gw};
use crate::common::mock_upstream::MockUpstream;
use crate::common::pg::{blocking, PgDb, PgServer};
use crate::common::{describe, eventually, stderr, stdout, Env};

/// `llmo` in a clean environment with `LLMO_DB` at `url`.
fn cmd(env: &Env, url: &str) -> assert_cmd::Command {
    let mut c = env.bare_cmd();
    c.env("LLMO_DB", url);
    c
}

fn run(env: &Env, url: &str, args: &[&str]) -> std::process::Output {
    cmd(env, url).args(args).output().unwrap()
}

fn ok(env: &Env, url: &str, args: &[&str]) -> String {
    let out = run(env, url, args);
    assert!(out.status.success(), "llmo {args:?}\n{}", describe(&out));
    stdout(&out)
}

fn history(db: &PgDb) -> Vec<i32> {
    db.column("SELECT version FROM refinery_schema_history ORDER BY version")
}

#[test]
fn cli_works_on_postgres() {
    let Some(db) = PgDb::fresh() else { return };
    let env = Env::new();
    let url = db.url();

    // An empty database: every migration pending, then applied, with the
    // pg_dump command instead of a backup.
    let st = ok(&env, &url, &["migrate", "status"]);
    assert!(
        st.contains("initial_schema") && st.contains("pending"),
        "{st}"
    );
    let out = run(&env, &url, &["migrate", "up"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        stdout(&out).matches("applied V").count(),
        5,
        "{}",
        describe(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("no backup taken") && err.contains("pg_dump --format=custom"),
        "{err}"
    );
    assert_eq!(history(&db), [1, 2, 3, 4, 5]);
    let st = ok(&env, &url, &["migrate", "status"]);
    assert_eq!(st.matches("applied").count(), 5, "{st}");
    assert!(
        stderr(&run(&env, &url, &["migrate", "up"])).contains("nothing to apply"),
        "a second run has nothing to do"
    );

    ok(
        &env,
        &url,
        &[
            "provider",
            "add",
            "oa",
            "--kind",
            "openai",
            "--api-key-env",
            "OPENAI_API_KEY",
            "--models",
            "gpt-4o,gpt-4o-mini",
        ],
    );
    ok(
        &env,
        &url,
        &["model", "add", "fast", "--provider", "oa=gpt-4o-mini"],
    );
    let providers: serde_json::Value =
        serde_json::from_str(&ok(&env, &url, &["--json", "provider", "list"])).unwrap();
    assert_eq!(providers[0]["name"], "oa");
    let models: serde_json::Value =
        serde_json::from_str(&ok(&env, &url, &["--json", "model", "list"])).unwrap();
    let names: Vec<_> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["fast", "gpt-4o", "gpt-4o-mini"]);
    let dup = run(
        &env,
        &url,
        &[
            "provider",
            "add",
            "oa",
            "--kind",
            "openai",
            "--api-key-env",
            "OPENAI_API_KEY",
        ],
    );
    assert_eq!(dup.status.code(), Some(1), "{}", describe(&dup));
    assert!(
        stderr(&dup).contains("provider `oa` already exists"),
        "{}",
        describe(&dup)
    );

    let key = ok(&env, &url, &["key", "create", "app"]);
    assert!(key.trim().starts_with("llmo-"), "{key}");
    let keys = ok(&env, &url, &["key", "list"]);
    assert!(keys.contains("app") && !keys.contains(key.trim()), "{keys}");

    // Export, then apply the same file: nothing to change.
    let file = env.path().join("catalog.toml");
    std::fs::write(&file, ok(&env, &url, &["config", "export"])).unwrap();
    let version = || db.column::<i64>("SELECT value FROM meta WHERE key = 'config_version'");
    let v0 = version();
    let out = ok(&env, &url, &["config", "apply", file.to_str().unwrap()]);
    assert_eq!(out, "no changes\n");
    assert_eq!(v0, version(), "a no-op apply leaves the version alone");
}

/// Five `llmo migrate up` started together on one empty database: every
/// one succeeds, each migration is applied exactly once in all.
#[test]
fn five_replicas_racing_migrate_each_migration_once() {
    let Some(db) = PgDb::fresh() else { return };
    let env = Env::new();
    let url = db.url();
    let t0 = Instant::now();
    let children: Vec<_> = (0..5)
        .map(|_| {
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_llmo"));
            c.env_clear()
                .env("HOME", env.home())
                .env("LLMO_DB", &url)
                .args(["migrate", "up"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let took = t0.elapsed();
    let mut applied = 0;
    for o in &outs {
        assert!(o.status.success(), "{}", describe(o));
        applied += stdout(o).matches("applied V").count();
    }
    assert_eq!(applied, 5, "each migration applied by exactly one process");
    assert_eq!(history(&db), [1, 2, 3, 4, 5]);
    eprintln!(
        "five racing `migrate up`: all done in {} ms",
        took.as_millis()
    );
}

/// A database migrated by a newer llmo (a V99 in its history): `migrate
/// status` names both versions, and `serve` stays up, not ready, without
/// touching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_binary_stays_up_not_ready_on_a_newer_schema() {
    let Some(db) = PgDb::fresh() else { return };
    let env = Env::new();
    let url = db.url();
    ok(&env, &url, &["-q", "migrate", "up"]);
    db.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
    );
    let out = run(&env, &url, &["migrate", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "the database is at schema version 99 but this llmo only knows up to version 5"
        ),
        "{}",
        describe(&out)
    );
    let loc = db.location();
    let mut gw = Gw::start(tempfile::tempdir().unwrap(), |o| o.settings.db.value = loc).await;
    eventually(
        Duration::from_secs(10),
        "/ready names the newer schema",
        || async {
            let r = gw.get("/ready").await;
            r.status() == 503 && r.text().await.unwrap().contains("schema version 99")
        },
    )
    .await;
    assert_eq!(gw.get("/health").await.status(), 200);
    gw.stop().await.unwrap();
    assert_eq!(history(&db), [1, 2, 3, 4, 5, 99], "untouched");
}

/// `llmo serve` on PostgreSQL answers a chat request through the mock
/// upstream; a provider added afterwards on another replica (here the
/// store, as the CLI does) is served by both within a second. The
/// replicas' poll is set to a minute: what carries the change is the
/// `NOTIFY llmo_config` they listen to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_and_see_each_others_changes_within_a_second() {
    let Some(db) = PgDb::fresh() else { return };
    let mock = MockUpstream::start().await;
    let loc = db.location();
    let url = mock.url();
    let mut s = blocking(|| {
        let mut s = Store::open(loc.clone()).unwrap().0;
        add_provider(&mut s, "p1", &url, |_| {});
        map(&mut s, "m", "p1", "up-model");
        s
    });
    let l1 = loc.clone();
    let l2 = loc.clone();
    let slow_poll = |o: &mut llmo::gateway::Options, l: DbLocation| {
        o.settings.db.value = l;
        o.reload_interval = Duration::from_secs(60);
    };
    let mut a = Gw::start(tempfile::tempdir().unwrap(), |o| slow_poll(o, l1)).await;
    let mut b = Gw::start(tempfile::tempdir().unwrap(), |o| slow_poll(o, l2)).await;
    for gw in [&a, &b] {
        eventually(Duration::from_secs(10), "ready on PostgreSQL", || async {
            gw.get("/ready").await.status() == 200
        })
        .await;
        let r = gw.chat(&chat_body()).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(mock.calls(), 2);

    // A new model on a new provider, written once, seen by both.
    let mut worst = Duration::ZERO;
    for round in 0..3 {
        let model = format!("new-{round}");
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let t0 = Instant::now();
        blocking(|| {
            add_provider(&mut s, &format!("p-{round}"), &url, |_| {});
            map(&mut s, &model, &format!("p-{round}"), "up-model");
        });
        for gw in [&a, &b] {
            eventually(
                Duration::from_secs(5),
                "the new model is served",
                || async { gw.chat(&body).await.status() == 200 },
            )
            .await;
        }
        worst = worst.max(t0.elapsed());
    }
    eprintln!(
        "cross-replica reload: worst of 3 changes seen by both replicas in {} ms",
        worst.as_millis()
    );
    assert!(worst < Duration::from_secs(1), "took {worst:?}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// The listener survives a server restart: with the poll set to a minute,
/// a change made after PostgreSQL came back still reaches the replica in
/// seconds (the listener reconnects with backoff and asks once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_resume_after_the_server_restarts() {
    let Some(mut pg) = PgServer::maybe_start() else {
        return;
    };
    let loc = DbLocation::parse(&pg.url()).unwrap();
    let mock = MockUpstream::start().await;
    let url = mock.url();
    let mut s = blocking(|| {
        let mut s = Store::open(loc.clone()).unwrap().0;
        add_provider(&mut s, "p1", &url, |_| {});
        map(&mut s, "m", "p1", "up-model");
        s
    });
    let l = loc.clone();
    let mut gw = Gw::start(tempfile::tempdir().unwrap(), |o| {
        o.settings.db.value = l;
        o.reload_interval = Duration::from_secs(60);
    })
    .await;
    eventually(Duration::from_secs(10), "ready", || async {
        gw.get("/ready").await.status() == 200
    })
    .await;
    // Down long enough for the listener's backoff to grow: the change below
    // commits before it listens again, so only its reconnect (which asks
    // once) and the worker's retry of the failed read bring it.
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| pg.start_again());
    let body = json!({"model": "after", "messages": [{"role": "user", "content": "hi"}]});
    let t0 = Instant::now();
    blocking(|| {
        // The store's connection died with the server: the first call
        // reconnects it.
        let _ = s.list_providers();
        add_provider(&mut s, "p2", &url, |_| {});
        map(&mut s, "after", "p2", "up-model");
    });
    eventually(Duration::from_secs(15), "the change is heard", || async {
        gw.chat(&body).await.status() == 200
    })
    .await;
    eprintln!(
        "change after a restart served in {} ms",
        t0.elapsed().as_millis()
    );
    gw.stop().await.unwrap();
}

/// A wrong password and a server that is not there: one line each, with a
/// hint, and the password never shown.
#[test]
fn bad_credentials_and_an_unreachable_server_are_one_line_errors() {
    let Some(server) = PgServer::maybe_start() else {
        return;
    };
    let env = Env::new();
    let good = server.url();
    ok(&env, &good, &["provider", "list"]);

    let bad = good.replace(crate::common::pg::PG_PASSWORD, "not-the-password");
    let out = run(&env, &bad, &["provider", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(!err.contains("not-the-password"), "{err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains(&format!(
            "postgres://postgres:***@127.0.0.1:{}/postgres",
            server.port()
        )) && lines[0].contains("password authentication failed"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("hint:") && lines[1].contains("password"),
        "{err}"
    );

    let closed = crate::common::closed_addr();
    let gone = format!("postgres://postgres:secret-pw@{closed}/postgres?connect_timeout=2");
    let out = run(&env, &gone, &["provider", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(!err.contains("secret-pw"), "{err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0]
            .matches("the database server cannot be reached")
            .count(),
        1,
        "said once: {err}"
    );
    assert!(lines[0].contains("postgres:***@"), "{err}");
    assert!(lines[1].starts_with("hint:"), "{err}");
    let _ = DbLocation::parse(&gone).unwrap();
}

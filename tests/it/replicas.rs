//! The replica heartbeat (issue 13 §2): every `llmo serve` keeps a row in
//! the database's `replicas` table, so with several replicas on one
//! database and no Redis, `serve` warns at start that each enforces rate
//! limits on its own traffic, `/ready` counts the replicas, and `llmo
//! doctor` says the same; a replica that stops deletes its row. On one
//! SQLite file (two processes sharing it are replicas too) and on
//! PostgreSQL (one replica with Redis, one without).
use std::time::Duration;

use llmo::db::replicas::Replica;
use llmo::db::{DbLocation, Store};
use serde_json::Value;

use crate::common::gw::Gw;
use crate::common::pg::{blocking, PgDb};
use crate::common::{closed_addr, describe, eventually, TestEnv, PATIENCE};
use crate::health_cli::Served;

/// A replica that beats every 100 ms (the default is 10 s) on `db`.
async fn replica(db: DbLocation, redis: Option<String>) -> Gw {
    Gw::start(tempfile::tempdir().unwrap(), |o| {
        o.settings.db.value = db;
        o.settings.redis_url.value =
            redis.map(|u| llmo::config::redis_url::RedisUrl::parse(&u).unwrap());
        o.redis_prefix = format!("llmo-replicas-{}:", std::process::id());
        o.heartbeat_interval = Duration::from_millis(100);
        o.reload_interval = Duration::from_millis(50);
    })
    .await
}

/// `/ready`'s `replicas` count, once there is one.
async fn census(gw: &Gw) -> Option<(i64, i64)> {
    let body = gw.get("/ready").await.bytes().await.ok()?;
    let v: Value = serde_json::from_slice(&body).ok()?;
    let r = &v["replicas"];
    Some((r["live"].as_i64()?, r["without_redis"].as_i64()?))
}

/// The live replicas' rows (read as doctor does: read only).
fn live(db: &DbLocation) -> Vec<Replica> {
    let db = db.clone();
    blocking(move || {
        let s = Store::open_existing(db).unwrap().unwrap();
        s.replicas_alive(llmo::time::now_ms(), 30_000).unwrap()
    })
}

/// `llmo --json doctor`'s `database/replicas` check with `LLMO_DB` at `db`.
fn doctor_replicas(env: &TestEnv, db: &str) -> Value {
    let out = env
        .cmd()
        .env("LLMO_DB", db)
        .args(["--json", "doctor"])
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == "database" && c["name"] == "replicas")
        .cloned()
        .unwrap_or_else(|| panic!("no database/replicas check: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_sqlite_file_warn_that_limits_are_per_replica() {
    let env = TestEnv::new();
    env.ok(&["-q", "migrate", "up"]);
    let db = DbLocation::Sqlite(env.db_path());
    let db_arg = env.db_path().display().to_string();

    // Alone: its row, and doctor is content.
    let mut a = replica(db.clone(), None).await;
    eventually(PATIENCE, "the first replica's census", || async {
        census(&a).await == Some((1, 1))
    })
    .await;
    let c = doctor_replicas(&env, &db_arg);
    assert_eq!(c["status"], "ok", "{c:#}");
    assert!(
        c["message"].as_str().unwrap().contains("without Redis"),
        "{c:#}"
    );

    // A second `llmo serve` (its own process, default 10 s beat) on the
    // same file warns at start.
    let b = Served::start(&env, &[], &[]);
    let warning = "2 replicas share this database without Redis: each enforces rate limits on its own traffic (a key with --rpm 30 may get up to 30 × 2 requests a minute); set --redis-url";
    crate::common::eventually_blocking(PATIENCE, "the second replica's warning", || {
        b.stderr().contains(warning)
    });
    assert_eq!(b.stderr().matches(warning).count(), 1, "{}", b.stderr());
    eventually(PATIENCE, "the first replica counts two", || async {
        census(&a).await == Some((2, 2))
    })
    .await;
    let c = doctor_replicas(&env, &db_arg);
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("2 replicas share this database without Redis"),
        "{c:#}"
    );
    assert!(c["fix"].as_str().unwrap().contains("--redis-url"), "{c:#}");

    // The in-process replica stops: its row is gone, the other's stays.
    a.stop().await.unwrap();
    let rows = live(&db);
    assert_eq!(
        rows.iter().map(|r| r.pid).collect::<Vec<_>>(),
        [i64::from(b.pid())],
        "{rows:?}"
    );
    assert!(!rows[0].redis && rows[0].listen == b.addr, "{rows:?}");
    assert_eq!(rows[0].id.len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_replica_without_redis_beside_one_with_it_is_named() {
    let Some(pg) = PgDb::fresh() else { return };
    let db = pg.location();
    let redis =
        crate::common::redis::redis_url().unwrap_or_else(|| format!("redis://{}", closed_addr()));
    let mut with = replica(db.clone(), Some(redis)).await;
    let mut without = replica(db.clone(), None).await;
    for gw in [&with, &without] {
        eventually(PATIENCE, "both replicas counted", || async {
            census(gw).await == Some((2, 1))
        })
        .await;
    }
    let rows = live(&db);
    let mut flags: Vec<bool> = rows.iter().map(|r| r.redis).collect();
    flags.sort();
    assert_eq!(flags, [false, true], "{rows:?}");

    let env = TestEnv::new();
    let c = doctor_replicas(&env, &pg.url());
    assert_eq!(c["status"], "warn", "{c:#}");
    let msg = c["message"].as_str().unwrap();
    let host_pid = format!("{}/{}", rows[0].host, std::process::id());
    assert!(
        msg.starts_with(&format!(
            "1 of the 2 replicas sharing this database has no Redis ({host_pid})"
        )) && msg.contains("30 × 2"),
        "{c:#}"
    );

    // The one without Redis stops: its row goes, and the other is alone.
    without.stop().await.unwrap();
    let rows = live(&db);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].redis);
    eventually(PATIENCE, "the remaining replica counts one", || async {
        census(&with).await == Some((1, 0))
    })
    .await;
    let c = doctor_replicas(&env, &pg.url());
    assert_eq!(c["status"], "ok", "{c:#}");
    with.stop().await.unwrap();
    assert!(live(&db).is_empty());
}

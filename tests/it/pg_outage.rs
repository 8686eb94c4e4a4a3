//! PostgreSQL going away under load (issue 13 §1 "Outage", §4): the
//! gateway keeps answering from its snapshot (client keys included),
//! `/health` and `/ready` stay 200 with a `degraded` note, `llmo_db_up`
//! says 0, the request-log rows wait in memory and are all written, once,
//! when the server is back. Each test runs its own server ([`PgServer`]):
//! stopping the shared one would break the other tests.
//!
//! `LLMO_SOAK=1` runs the bound instead of the quick version: 30 s
//! of outage at a target of 1,000 requests/s (100 clients paced open-loop),
//! and prints the rate reached (a debug build on a small machine may not
//! reach it; bench/outage.py drives the release binary).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmo::db::{DbLocation, Store};
use llmo::secret::Secret;
use serde_json::Value;

use crate::common::eventually;
use crate::common::gw::{add_provider, chat_body, map, one_provider, Gw, JsonValue};
use crate::common::mock_upstream::MockUpstream;
use crate::common::pg::{blocking, PgServer};

const ADMIN_KEY: &str = "llmo-admin-OUTAGEabcdefghijklmnopqrstuvwxyz0123456";

/// `GET /admin/PATH` with the admin key: status and JSON body.
async fn admin_get(gw: &Gw, path: &str) -> (u16, Value) {
    let res = gw
        .http
        .get(format!("{}/admin/{path}", gw.url))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json_value().await)
}

/// Rows in `request_logs`, and how many distinct request ids they have.
fn log_counts(url: &str) -> (i64, i64) {
    blocking(|| {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let r = c
            .query_one(
                "SELECT count(*), count(DISTINCT request_id) FROM request_logs",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    })
}

/// A PostgreSQL store at `url` (from an async test: on a thread of its own).
fn with_store<T: Send>(url: &str, f: impl FnOnce(&mut Store) -> T + Send) -> T {
    blocking(|| f(&mut Store::open(DbLocation::parse(url).unwrap()).unwrap().0))
}

async fn ready(gw: &Gw) -> (u16, Value) {
    let res = gw.get("/ready").await;
    let status = res.status().as_u16();
    (status, res.json_value().await)
}

async fn metric(gw: &Gw, name: &str) -> Option<f64> {
    let text = gw.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn degraded(v: &Value) -> Vec<String> {
    v["degraded"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// How hard and how long: the quick version, or the soak (`LLMO_SOAK=1`).
struct Shape {
    workers: usize,
    every: Duration,
    outage: Duration,
    /// Time for the backlog to drain and `/ready` to clear.
    recovery: Duration,
}

impl Shape {
    fn from_env() -> Shape {
        if std::env::var("LLMO_SOAK").as_deref() == Ok("1") {
            Shape {
                workers: 100,
                every: Duration::from_millis(100),
                outage: Duration::from_secs(30),
                recovery: Duration::from_secs(60),
            }
        } else {
            Shape {
                workers: 6,
                every: Duration::from_millis(40),
                outage: Duration::from_secs(10),
                recovery: Duration::from_secs(10),
            }
        }
    }

    fn target_rps(&self) -> f64 {
        self.workers as f64 / self.every.as_secs_f64()
    }
}

/// Steady load from `workers` tasks, each one request per `every` (open
/// loop: a late client catches up on its missed ticks), until `stop` is
/// set; counts answers by status class.
struct Load {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(gw: &Gw, workers: usize, every: Duration) -> Load {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..workers)
            .map(|_| {
                let req = gw.post("/v1/chat/completions", &chat_body());
                let (ok, failed, rx) = (ok.clone(), failed.clone(), rx.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    while !*rx.borrow() {
                        tick.tick().await;
                        let Some(r) = req.try_clone() else { return };
                        match r.send().await {
                            Ok(res) if res.status().as_u16() == 200 => {
                                let _ = res.bytes().await;
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                eprintln!("failed request: {other:?}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            ok,
            failed,
            stop,
            tasks,
        }
    }

    async fn finish(self) -> (u64, u64) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The scenario: ~150 requests/s for ~16 s with PostgreSQL stopped
/// for 10 s in the middle (with `LLMO_SOAK=1`: 1,000/s, 30 s). No failed request (authenticated by a client
/// key: keys are in the snapshot), `/ready` 200 with a `degraded` note
/// during the outage and clean after, and exactly one log row per answered
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_on_postgres_rides_out_a_ten_second_outage_under_load() {
    let Some(mut pg) = PgServer::maybe_start() else {
        return;
    };
    let url = pg.url();
    let mock = MockUpstream::start().await;
    let key = with_store(&url, |s| {
        add_provider(s, "p1", &mock.url(), |_| {});
        map(s, "m", "p1", "up-model");
        s.create_key("app", None, None)
            .unwrap()
            .1
            .expose()
            .to_string()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir, |o| {
        o.settings.db.value = DbLocation::parse(&url).unwrap();
        o.settings.allow_anonymous.value = false;
        o.settings.admin_key.value = Some(Secret::new(ADMIN_KEY));
    })
    .await;
    gw.key = Some(key);
    eventually(Duration::from_secs(10), "the gateway is ready", || async {
        ready(&gw).await.0 == 200
    })
    .await;
    assert_eq!(metric(&gw, "llmo_db_up").await, Some(1.0));

    let shape = Shape::from_env();
    let load = Load::start(&gw, shape.workers, shape.every);
    let load_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outage = Instant::now();
    tokio::task::block_in_place(|| pg.stop());
    // Degraded, never unready; the writer holds the rows.
    eventually(
        Duration::from_secs(8),
        "a degraded note in /ready",
        || async {
            let (status, body) = ready(&gw).await;
            assert_eq!(status, 200, "{body}");
            degraded(&body)
                .iter()
                .any(|n| n.starts_with("request log:"))
        },
    )
    .await;
    assert_eq!(metric(&gw, "llmo_db_up").await, Some(0.0));
    assert_eq!(gw.get("/health").await.status(), 200);
    // The admin API says so in its own error shape.
    let (status, body) = admin_get(&gw, "providers").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unreachable", "{body}");
    while outage.elapsed() < shape.outage {
        let (status, body) = ready(&gw).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let held = metric(&gw, "llmo_log_queue_depth").await.unwrap_or(0.0);
    tokio::task::block_in_place(|| pg.start_again());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (answered, failed) = load.finish().await;
    let rate = (answered + failed) as f64 / load_started.elapsed().as_secs_f64();
    assert_eq!(failed, 0, "requests failed during the outage");

    eventually(shape.recovery, "/ready clean again", || async {
        let (status, body) = ready(&gw).await;
        status == 200 && degraded(&body).is_empty()
    })
    .await;
    assert_eq!(metric(&gw, "llmo_db_up").await, Some(1.0));
    // Reloads resume: a key created elsewhere after the outage works here.
    let late = with_store(&url, |s| {
        s.create_key("late", None, None)
            .unwrap()
            .1
            .expose()
            .to_string()
    });
    let tries = AtomicU64::new(0);
    eventually(Duration::from_secs(5), "the new key is loaded", || async {
        tries.fetch_add(1, Ordering::Relaxed);
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&late)
            .header("content-type", "application/json")
            .body(chat_body().to_string())
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    // Each try is a logged request too.
    let answered = answered + tries.load(Ordering::Relaxed);
    let (status, body) = admin_get(&gw, "providers").await;
    assert_eq!(status, 200, "{body}");
    let dropped = metric(&gw, "llmo_log_rows_dropped_total").await;
    gw.stop().await.unwrap();
    let (rows, distinct) = log_counts(&url);
    eprintln!(
        "outage of {:?}: {rate:.0} requests/s sent (target {:.0}), {answered} answered, \
         {rows} rows written, {dropped:?} dropped, {held} rows held at the end of the outage",
        shape.outage,
        shape.target_rps()
    );
    assert_eq!(dropped, Some(0.0));
    if rows != answered as i64 {
        let by = blocking(|| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query(
                "SELECT status, coalesce(key_name, ''), coalesce(error_type, ''), count(*)
                   FROM request_logs GROUP BY 1, 2, 3",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}/{}: {}",
                    r.get::<_, i64>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, i64>(3)
                )
            })
            .collect::<Vec<_>>()
        });
        panic!("{rows} rows ({distinct} distinct request ids) for {answered} answered requests; rows by status/key/error: {by:?}");
    }
    assert_eq!(distinct, rows, "no row written twice");
}

/// The same notes on SQLite: request-log writes that fail leave `/ready`
/// 200 with a `degraded` note and `llmo_db_up` 0, and both clear once
/// writes work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_failing_request_log_is_a_degraded_note_not_unready() {
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut gw = Gw::start(dir, |_| {}).await;
    eventually(Duration::from_secs(10), "the gateway is ready", || async {
        ready(&gw).await.0 == 200
    })
    .await;
    assert!(degraded(&ready(&gw).await.1).is_empty());
    let c = rusqlite::Connection::open(gw.db()).unwrap();
    c.execute_batch("ALTER TABLE request_logs RENAME TO request_logs_away")
        .unwrap();
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    eventually(Duration::from_secs(10), "a degraded note", || async {
        let (status, body) = ready(&gw).await;
        assert_eq!(status, 200, "{body}");
        degraded(&body)
            .iter()
            .any(|n| n.starts_with("request log: writes fail") && n.contains("no such table"))
    })
    .await;
    assert_eq!(metric(&gw, "llmo_db_up").await, Some(0.0));
    c.execute_batch("ALTER TABLE request_logs_away RENAME TO request_logs")
        .unwrap();
    assert_eq!(gw.chat(&chat_body()).await.status(), 200);
    eventually(Duration::from_secs(10), "the note clears", || async {
        degraded(&ready(&gw).await.1).is_empty()
    })
    .await;
    assert_eq!(metric(&gw, "llmo_db_up").await, Some(1.0));
    gw.stop().await.unwrap();
}

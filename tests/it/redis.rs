//! Rate limits shared across replicas through Redis (`--redis-url`): three
//! gateways on one SQLite file and one Redis hold a key's and a provider's
//! RPM limit together, exactly; with Redis gone they keep serving under
//! their own limits, `/ready` 200 with a `degraded` note, the fallbacks
//! counted in `/metrics`; with Redis back the limits are shared again.
//! The key limit is also checked across three `llmo serve` processes.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use llmo::config::redis_url::RedisUrl;
use llmo::db::DbLocation;

use crate::common::eventually;
use crate::common::gw::{chat_body, one_provider, store, Gw, JsonValue};
use crate::common::mock_upstream::MockUpstream;
use crate::common::redis::RedisServer;

/// Three gateways on the SQLite file in `dir` (the first owns `dir`), all
/// on the Redis at `url`, presenting `key` when given.
async fn replicas(dir: tempfile::TempDir, url: &str, key: Option<&str>) -> Vec<Gw> {
    let db: PathBuf = dir.path().join("llmo.db");
    let mut dirs = vec![dir];
    dirs.extend((0..2).map(|_| tempfile::tempdir().unwrap()));
    let mut gws = Vec::new();
    for d in dirs {
        let mut gw = Gw::start(d, |o| {
            o.settings.db.value = DbLocation::Sqlite(db.clone());
            o.settings.redis_url.value = Some(RedisUrl::parse(url).unwrap());
            o.settings.allow_anonymous.value = key.is_none();
            // Exactness holds while Redis answers: give a loaded test
            // machine time to (the default is 50 ms; the test checks that
            // no check fell back).
            o.redis_timeout = Duration::from_secs(2);
        })
        .await;
        gw.key = key.map(str::to_string);
        gws.push(gw);
    }
    for gw in &gws {
        eventually(Duration::from_secs(10), "replica ready", || async {
            gw.get("/ready").await.status() == 200
        })
        .await;
    }
    gws
}

/// Sends `n` chat requests round-robin over `gws`, `gws.len()` at a time
/// (one per replica, concurrently): the statuses and `Retry-After`s.
async fn round_robin(gws: &[Gw], n: usize) -> Vec<(u16, Option<u64>)> {
    let mut out = Vec::new();
    for batch in (0..n).collect::<Vec<_>>().chunks(gws.len()) {
        let answers = join_all(batch.iter().map(|i| async move {
            let res = gws[i % gws.len()].chat(&chat_body()).await;
            let ra = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (res.status().as_u16(), ra)
        }))
        .await;
        out.extend(answers);
    }
    out
}

fn count(answers: &[(u16, Option<u64>)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

/// A metric's value from `/metrics`.
async fn metric(gw: &Gw, name: &str) -> f64 {
    let text = gw.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

fn assert_limited(answers: &[(u16, Option<u64>)], ok: usize) {
    assert_eq!(count(answers, 200), ok, "{answers:?}");
    assert_eq!(count(answers, 429), answers.len() - ok, "{answers:?}");
    for (s, ra) in answers {
        if *s == 429 {
            let ra = ra.expect("a 429 says when to retry");
            assert!((1..=60).contains(&ra), "Retry-After {ra}");
        }
    }
}

async fn key_setup(rpm: i64) -> (MockUpstream, tempfile::TempDir, String) {
    let (mock, dir) = one_provider(|_| {}).await;
    let (_, key) = store(dir.path())
        .create_key("shared", Some(rpm), None)
        .unwrap();
    (mock, dir, key.expose().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hold_a_key_limit_together_exactly() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (mock, dir, key) = key_setup(30).await;
    let gws = replicas(dir, &redis.url(), Some(&key)).await;
    let answers = round_robin(&gws, 90).await;
    assert_limited(&answers, 30);
    assert_eq!(mock.calls(), 30);
    for gw in &gws {
        assert_eq!(metric(gw, "llmo_redis_up").await, 1.0);
        assert_eq!(metric(gw, "llmo_redis_fallback_total").await, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hold_a_provider_limit_together_exactly() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (mock, dir) = one_provider(|p| p.rate_limit_rpm = Some(30)).await;
    let gws = replicas(dir, &redis.url(), None).await;
    let answers = round_robin(&gws, 90).await;
    assert_limited(&answers, 30);
    assert_eq!(mock.calls(), 30, "a limited provider is not called");
    for gw in &gws {
        assert_eq!(metric(gw, "llmo_redis_fallback_total").await, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_replicas_keep_serving_under_local_limits_then_share_again() {
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let (_mock, dir, key) = key_setup(30).await;
    let gws = replicas(dir, &redis.url(), Some(&key)).await;
    // 15 through Redis (5 per replica, noted locally too).
    assert_limited(&round_robin(&gws, 15).await, 15);

    redis.stop();
    // Requests keep flowing, each replica on its own window: 5 noted + 10.
    let t0 = Instant::now();
    assert_limited(&round_robin(&gws, 30).await, 30);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    for gw in &gws {
        let res = gw.get("/ready").await;
        assert_eq!(
            res.status(),
            200,
            "a Redis outage does not take replicas out"
        );
        let v = res.json_value().await;
        let notes = v["degraded"].as_array().unwrap();
        assert!(
            notes.iter().any(|n| n.as_str().unwrap().contains("Redis")),
            "{v}"
        );
        assert_eq!(metric(gw, "llmo_redis_up").await, 0.0);
        assert!(metric(gw, "llmo_redis_fallback_total").await >= 10.0);
    }
    // Local limits hold: 15 more per replica, then 429.
    let answers = round_robin(&gws, 60).await;
    assert_limited(&answers, 45);

    redis.start_again();
    for gw in &gws {
        eventually(Duration::from_secs(15), "Redis is used again", || async {
            let v = gw.get("/ready").await.json_value().await;
            v["degraded"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
        assert_eq!(metric(gw, "llmo_redis_up").await, 1.0);
    }
    // The restarted Redis lost its windows: 30 again, for all replicas together.
    assert_limited(&round_robin(&gws, 45).await, 30);
}

/// The added latency of the shared limit: one Redis round trip (loopback)
/// per request of a limited key, against an unlimited key on the same
/// gateway. Run with `cargo test --test it -- --ignored redis_round_trip --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints the figure"]
async fn redis_round_trip_cost_per_limited_request() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (_mock, dir) = one_provider(|_| {}).await;
    let mut s = store(dir.path());
    let (_, limited) = s.create_key("limited", Some(100_000_000), None).unwrap();
    let (_, free) = s.create_key("free", None, None).unwrap();
    drop(s);
    let url = redis.url();
    let mut gw = Gw::start(dir, |o| {
        o.settings.redis_url.value = Some(RedisUrl::parse(&url).unwrap());
        o.settings.allow_anonymous.value = false;
    })
    .await;
    let n = 3000;
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for i in 0..n * 2 {
        let which = i % 2;
        gw.key = Some([limited.expose(), free.expose()][which].to_string());
        let t = Instant::now();
        assert_eq!(gw.chat(&chat_body()).await.status(), 200);
        times[which].push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let p90 = |v: &Vec<Duration>| v[v.len() * 9 / 10];
    let (l, f) = (median(&mut times[0]), median(&mut times[1]));
    eprintln!(
        "median request: limited key {l:?}, unlimited key {f:?}: the shared limit adds {:?} \
         (p90 {:?} vs {:?}); checks that fell back (over 50 ms): {}",
        l.saturating_sub(f),
        p90(&times[0]),
        p90(&times[1]),
        metric(&gw, "llmo_redis_fallback_total").await
    );
}

/// A bad Redis URL stops `serve` with a one-line error and a hint, from
/// the flag or the environment, its password never shown.
#[test]
fn a_bad_redis_url_is_a_one_line_error() {
    let env = crate::common::Env::new();
    let out = env.fails(&["serve", "--redis-url", "redis://:hunter2@cache:notaport"]);
    let err = crate::common::stderr(&out);
    assert!(err.contains("not a valid Redis URL"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("--redis-url"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let out = env
        .cmd()
        .env("LLMO_REDIS_URL", "http://:hunter2@cache")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("unsupported Redis URL scheme `http://`"),
        "{err}"
    );
    assert!(
        err.contains("LLMO_REDIS_URL") && !err.contains("hunter2"),
        "{err}"
    );
}

/// `llmo serve` processes, killed (by their PIDs) when dropped.
struct Procs(Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// As deployed: each replica its own `llmo serve` process, sharing only the
/// database and Redis. A key with `--rpm 30` gets exactly 30 of 90
/// requests sent one to each process at a time, 10 on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_hold_a_key_limit_together_exactly() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let (mock, dir, key) = key_setup(30).await;
    let mut procs = Procs(Vec::new());
    let mut urls = Vec::new();
    for _ in 0..3 {
        let addr = crate::common::closed_addr();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_llmo"))
            .env_clear()
            .env("HOME", dir.path())
            .env("LLMO_DB", dir.path().join("llmo.db"))
            .env("NO_COLOR", "1")
            // A loaded test machine may stall a process past the 50 ms
            // default; a fallback would void the exact count.
            .env("LLMO_REDIS_TIMEOUT", "2s")
            .args(["serve", "--listen", &addr, "--redis-url", &redis.url()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(child);
        urls.push(format!("http://{addr}"));
    }
    let http = crate::common::gw::client();
    let get = |url: String| {
        let req = http.get(url).bearer_auth(&key);
        async move { req.send().await.ok() }
    };
    for u in &urls {
        eventually(Duration::from_secs(20), "replica ready", || async {
            get(format!("{u}/ready"))
                .await
                .is_some_and(|r| r.status() == 200)
        })
        .await;
    }
    let mut answers = Vec::new();
    let mut ok_per_replica = vec![0; urls.len()];
    for _ in 0..30 {
        let batch = join_all(urls.iter().map(|u| {
            http.post(format!("{u}/v1/chat/completions"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(chat_body().to_string())
                .send()
        }))
        .await;
        for (i, res) in batch.into_iter().enumerate() {
            let res = res.unwrap();
            let ra = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            if res.status() == 200 {
                ok_per_replica[i] += 1;
            }
            answers.push((res.status().as_u16(), ra));
        }
    }
    // A check that fell back to local limits (Redis slower than
    // `redis_timeout`) would void exactness: none did.
    for u in &urls {
        let text = get(format!("{u}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.lines().any(|l| l == "llmo_redis_fallback_total 0"),
            "{u}: {text}"
        );
    }
    assert_limited(&answers, 30);
    assert_eq!(mock.calls(), 30);
    assert_eq!(ok_per_replica, [10, 10, 10]);
}

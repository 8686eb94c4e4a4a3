//! `llmo doctor` on PostgreSQL (issue 13 §3): against the shared test
//! server (version, TLS, privileges, the migration lock and who holds it,
//! round trip) and against a closed port (unreachable, with the fix);
//! passwords never shown.
use crate::common::pg::PgDb;
use crate::common::{closed_addr, describe, Env};

/// `llmo --json doctor --db URL`: the database group's checks by name.
fn database_checks(env: &Env, url: &str) -> Vec<serde_json::Value> {
    let out = env
        .cmd()
        .env("LLMO_DB", url)
        .args(["--json", "doctor"])
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] == "database")
        .cloned()
        .collect()
}

fn check<'a>(checks: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

#[test]
fn doctor_reports_the_server_privileges_and_who_holds_the_migration_lock() {
    let Some(pg) = PgDb::fresh() else { return };
    let env = Env::new();
    env.cmd()
        .env("LLMO_DB", pg.url())
        .args(["-q", "migrate", "up"])
        .assert()
        .success();
    let c = database_checks(&env, &pg.url());
    let server = check(&c, "server");
    assert_eq!(server["status"], "ok", "{c:#?}");
    assert!(
        server["message"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL 1"),
        "{server}"
    );
    assert_eq!(
        check(&c, "tls")["status"],
        "ok",
        "a loopback connection: {c:#?}"
    );
    let privileges = check(&c, "privileges");
    assert_eq!(privileges["status"], "ok");
    assert!(
        privileges["message"]
            .as_str()
            .unwrap()
            .contains("may CREATE in schema `public`"),
        "{privileges}"
    );
    assert_eq!(
        check(&c, "migration_lock")["message"],
        "free (no migration running)"
    );
    assert_eq!(check(&c, "round_trip")["status"], "ok", "{c:#?}");

    // Another session holds the migration lock (a `migrate up` in progress).
    let mut holder = postgres::Client::connect(
        &format!("{}?application_name=llmo-migrate-test", pg.url()),
        postgres::NoTls,
    )
    .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&0x6c6c_6d6f_6d69_6772_i64])
        .unwrap();
    let c = database_checks(&env, &pg.url());
    let lock = check(&c, "migration_lock");
    assert_eq!(lock["status"], "warn", "{lock}");
    assert!(
        lock["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("held by pid {pid} (`llmo-migrate-test`")),
        "{lock}"
    );
    assert!(lock["fix"]
        .as_str()
        .unwrap()
        .contains(&format!("pg_terminate_backend({pid})")));
}

#[test]
fn an_unreachable_server_fails_with_the_fix_and_no_password() {
    let env = Env::new();
    let url = format!(
        "postgres://llmo:hunter2-secret@{}/llmo?connect_timeout=2",
        closed_addr()
    );
    let out = env
        .cmd()
        .env("LLMO_DB", &url)
        .args(["--json", "doctor"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!(
        "{}{}",
        crate::common::stdout(&out),
        crate::common::stderr(&out)
    );
    assert!(!all.contains("hunter2-secret"), "{all}");
    let c = database_checks(&env, &url);
    let open = check(&c, "open");
    assert_eq!(open["status"], "fail");
    assert!(
        open["message"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{open}"
    );
    assert!(
        open["fix"]
            .as_str()
            .unwrap()
            .contains("check that PostgreSQL is running"),
        "{open}"
    );
}

fn group_checks(env: &Env, args: &[&str], group: &str) -> Vec<serde_json::Value> {
    let out = env.cmd().args(args).output().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] == group)
        .cloned()
        .collect()
}

#[test]
fn doctor_checks_redis_when_redis_url_is_set() {
    let env = Env::new();
    // Unset: no Redis section at all.
    assert!(group_checks(&env, &["--json", "doctor"], "redis").is_empty());
    // A closed port: unreachable, with the fix, the password masked.
    let closed = format!("redis://:hunter2-secret@{}", closed_addr());
    let c = group_checks(&env, &["--json", "doctor", "--redis-url", &closed], "redis");
    let r = check(&c, "reachable");
    assert_eq!(r["status"], "fail", "{c:#?}");
    assert!(r["fix"]
        .as_str()
        .unwrap()
        .contains("each replica enforces rate limits on its own"));
    assert!(
        !c.iter().any(|c| c.to_string().contains("hunter2-secret")),
        "{c:#?}"
    );

    let Ok(url) = std::env::var("LLMO_TEST_REDIS_URL") else {
        assert_ne!(
            std::env::var("LLMO_TEST_SERVICES").as_deref(),
            Ok("required"),
            "LLMO_TEST_SERVICES=required but LLMO_TEST_REDIS_URL is not set"
        );
        eprintln!("skipped the live part: no Redis (eval \"$(bash tests/services.sh start DIR)\" starts one)");
        return;
    };
    let c = group_checks(&env, &["--json", "doctor", "--redis-url", &url], "redis");
    let r = check(&c, "reachable");
    assert_eq!(r["status"], "ok", "{c:#?}");
    assert!(r["message"].as_str().unwrap().starts_with("Redis "), "{r}");
    assert_eq!(check(&c, "scripts")["status"], "ok", "{c:#?}");
    assert_eq!(check(&c, "round_trip")["status"], "ok", "{c:#?}");
}

//! `llmo db copy SRC DST` (issue 13 §1): a whole installation (catalog,
//! keys, health, stats, request logs, stored responses) copied SQLite ->
//! SQLite and SQLite -> PostgreSQL -> SQLite, every row identical and
//! `config export` byte-identical; refusals of a non-empty destination and
//! of a schema-version mismatch, each a one-line error with a hint and the
//! destination untouched.
use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::Value;

use crate::common::{describe, json_of, stderr, stdout, Env};
use crate::config_apply::build_catalog;

/// Every copied table's rows, in primary-key order (what `db copy` must
/// reproduce exactly).
const TABLES: &[(&str, &str)] = &[
    ("providers", "id"),
    ("models", "id"),
    ("model_providers", "model_id, provider_id"),
    ("api_keys", "id"),
    ("provider_health", "id"),
    ("provider_stats", "provider, bucket"),
    ("model_stats", "model, bucket"),
    ("request_logs", "id"),
    ("responses", "id"),
];

const LOGS: usize = 2345;
const STATS: usize = 2100;
const HEALTH: usize = 30;
const RESPONSES: usize = 120;

/// Request logs, stats, health history and stored responses, written
/// directly (more rows than one copy chunk, NULLs, booleans, REALs, and
/// blobs that are not UTF-8).
fn fill_activity(db: &Path) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    let tx = c.transaction().unwrap();
    for i in 0..LOGS as i64 {
        let odd = i % 2 == 1;
        tx.execute(
            "INSERT INTO request_logs (ts, request_id, key_name, model, provider, upstream_model,
                 attempts, status, error_type, latency_ms, ttfb_ms, upstream_ms, prompt_tokens,
                 completion_tokens, stream, method, path, api, key_prefix)
             VALUES (?1, ?2, ?3, 'gpt-4o-mini', 'openai', 'gpt-4o-mini', 1, ?4, ?5, ?6, ?7, 1.25,
                 ?8, 7, ?9, 'POST', '/v1/chat/completions', 'chat', ?10)",
            rusqlite::params![
                1_700_000_000_000 + i * 1000,
                format!("req-{i}"),
                odd.then_some("ci-bot"),
                if i % 7 == 0 { 502 } else { 200 },
                (i % 7 == 0).then_some("upstream_error"),
                i as f64 / 3.0,
                odd.then_some(0.5),
                (!odd).then_some(i),
                odd,
                (i % 5 == 0).then_some("llmo-ab12"),
            ],
        )
        .unwrap();
    }
    for i in 0..STATS as i64 {
        let name = ["openai", "claude", "local-vllm"][(i % 3) as usize];
        tx.execute(
            "INSERT INTO provider_stats VALUES (?1, ?2, 3, 2, 1, 12.5, 10, 20)",
            rusqlite::params![name, 28_000_000 + i],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO model_stats VALUES (?1, ?2, 3, 1, 0.75, 10, 20)",
            rusqlite::params![
                ["gpt-4o-mini", "sonnet", "x"][(i % 3) as usize],
                28_000_000 + i
            ],
        )
        .unwrap();
    }
    for i in 0..HEALTH as i64 {
        tx.execute(
            "INSERT INTO provider_health (provider, state, consecutive_failures, last_error,
                 last_success_at, changed_at) VALUES ('openai', ?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                ["closed", "open", "half_open"][(i % 3) as usize],
                i,
                (i % 3 == 1).then_some("HTTP 503"),
                (i % 2 == 0).then_some(1_700_000_000_000 + i),
                1_700_000_000_000 + i * 10,
            ],
        )
        .unwrap();
    }
    for i in 0..RESPONSES {
        let blob: Vec<u8> = (0..300).map(|b| ((b * 7 + i) % 256) as u8).collect();
        tx.execute(
            "INSERT INTO responses VALUES (?1, ?2, 'gpt-4o-mini', ?3, ?4, ?5)",
            rusqlite::params![
                format!("resp_{i:04}"),
                if i % 2 == 0 { "" } else { "1:0123456789abcdef" },
                1_700_000_000_000 + i as i64,
                br#"{"object":"response"}"#.to_vec(),
                blob,
            ],
        )
        .unwrap();
    }
    tx.execute(
        "UPDATE api_keys SET last_used_at = 1700000000123 WHERE name = 'web'",
        [],
    )
    .unwrap();
    tx.commit().unwrap();
}

fn dump(db: &Path) -> BTreeMap<&'static str, Vec<Vec<Value>>> {
    let c = rusqlite::Connection::open(db).unwrap();
    TABLES
        .iter()
        .map(|(t, key)| {
            let mut st = c
                .prepare(&format!("SELECT * FROM {t} ORDER BY {key}"))
                .unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            (*t, rows)
        })
        .collect()
}

fn export(env: &Env, db: &str) -> String {
    let out = env
        .cmd()
        .env("LLMO_DB", db)
        .args(["config", "export"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    stdout(&out)
}

/// A source installation: the catalog of the config tests plus activity.
fn source(env: &Env) -> String {
    build_catalog(env);
    fill_activity(&env.db());
    env.db().display().to_string()
}

/// `db copy` with `--json`: the per-table counts, `(table, source, destination)`.
fn copy(env: &Env, src: &str, dst: &str) -> Vec<(String, u64, u64)> {
    let out = env.ok(&["--json", "db", "copy", src, dst]);
    let report = json_of(&out);
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["source"].as_u64().unwrap(),
                t["destination"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected_counts() -> Vec<(String, u64, u64)> {
    [
        ("providers", 4),
        ("models", 3),
        ("model_providers", 5),
        ("api_keys", 2),
        ("provider_health", HEALTH as u64),
        ("provider_stats", STATS as u64),
        ("model_stats", STATS as u64),
        ("request_logs", LOGS as u64),
        ("responses", RESPONSES as u64),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n, n))
    .collect()
}

#[test]
fn sqlite_to_sqlite_copies_every_row_and_the_same_catalog() {
    let env = Env::new();
    let src = source(&env);
    let dst = env.path().join("copy.db").display().to_string();

    // A new file: created, migrated, filled; the table of counts on stdout.
    let out = env.ok(&["db", "copy", &src, &dst]);
    let text = stdout(&out);
    assert!(text.trim_start().starts_with("TABLE"), "{}", describe(&out));
    assert!(
        text.contains("request_logs") && text.contains(&format!("{LOGS}")),
        "{}",
        describe(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("created ") && err.contains("every table's count matches"),
        "{err}"
    );

    assert_eq!(dump(Path::new(&dst)), dump(&env.db()));
    assert_eq!(export(&env, &dst), export(&env, &src));
    // The copy serves: a key made at the source authenticates at the
    // destination (its hash was copied), and new rows get fresh ids.
    env.cmd()
        .env("LLMO_DB", &dst)
        .args(["key", "create", "after-copy"])
        .assert()
        .success();

    // Copying again: the destination is not empty any more.
    let again = env.cmd().args(["db", "copy", &src, &dst]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    let err = stderr(&again);
    let lines: Vec<_> = err.lines().filter(|l| !l.starts_with("copying")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "error: the destination database {dst} is not empty (4 in providers, 3 in models,"
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with("hint: copy into a new database"),
        "{err}"
    );
}

#[test]
fn the_json_report_counts_every_table_on_both_sides() {
    let env = Env::new();
    let src = source(&env);
    let dst = env.path().join("copy.db").display().to_string();
    assert_eq!(copy(&env, &src, &dst), expected_counts());
}

#[test]
fn a_source_behind_this_binary_is_refused_with_the_command_that_migrates_it() {
    let env = Env::new();
    env.ok(&["-q", "migrate", "up"]);
    let c = rusqlite::Connection::open(env.db()).unwrap();
    let latest: i64 = c
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "DELETE FROM refinery_schema_history WHERE version = ?1",
        [latest],
    )
    .unwrap();
    drop(c);
    let src = env.db().display().to_string();
    let dst = env.path().join("copy.db");
    let out = env
        .cmd()
        .args(["db", "copy", &src, &dst.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: the source database {src} is at schema version {}, this llmo at {latest}: both must be at {latest}",
            latest - 1
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: migrate the source first: `llmo --db {src} migrate up`"
        )),
        "{err}"
    );
    assert!(!dst.exists(), "nothing is created before the checks pass");
}

#[test]
fn a_missing_source_or_the_same_database_twice_is_a_one_line_error() {
    let env = Env::new();
    let missing = env.path().join("nope.db").display().to_string();
    let dst = env.path().join("copy.db").display().to_string();
    let out = env.fails(&["db", "copy", &missing, &dst]);
    assert!(
        stderr(&out).contains(&format!(
            "error: the source database {missing} does not exist"
        )),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["db", "copy", &dst, &dst]);
    assert!(
        stderr(&out).contains("error: the source and the destination are the same database"),
        "{}",
        describe(&out)
    );
    let out = env.fails(&["db", "copy", "mysql://h/db", &dst]);
    assert!(
        stderr(&out).contains("error: SRC: unsupported database URL scheme `mysql://`"),
        "{}",
        describe(&out)
    );
}

#[test]
fn sqlite_to_postgres_and_back_keeps_every_row_and_the_catalog() {
    let Some(pg) = crate::common::pg::PgDb::fresh() else {
        return;
    };
    let env = Env::new();
    let src = source(&env);

    // Into PostgreSQL: an empty database gets the schema, then the rows.
    assert_eq!(copy(&env, &src, &pg.url()), expected_counts());
    assert_eq!(export(&env, &pg.url()), export(&env, &src));
    // New rows on PostgreSQL get ids after the copied ones (sequences moved).
    env.cmd()
        .env("LLMO_DB", pg.url())
        .args(["key", "create", "after-copy"])
        .assert()
        .success();
    env.cmd()
        .env("LLMO_DB", pg.url())
        .args(["key", "revoke", "after-copy"])
        .assert()
        .success();

    // And back into a new SQLite file: every row as it was at the source.
    let back = env.path().join("back.db");
    let mut counts = expected_counts();
    counts[3] = ("api_keys".into(), 3, 3);
    assert_eq!(copy(&env, &pg.url(), &back.display().to_string()), counts);
    let mut got = dump(&back);
    let extra = got.get_mut("api_keys").unwrap().pop().unwrap();
    assert_eq!(extra[1], Value::Text("after-copy".into()));
    assert_eq!(
        extra[0],
        Value::Integer(3),
        "the sequence moved past the copied ids"
    );
    assert_eq!(got, dump(&env.db()));
    assert_eq!(
        export(&env, &back.display().to_string()),
        export(&env, &src)
    );

    // PostgreSQL now holds rows: a second copy into it is refused.
    let out = env
        .cmd()
        .args(["db", "copy", &src, &pg.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is not empty (4 in providers"),
        "{}",
        describe(&out)
    );
}

/// The replica heartbeat (`replicas`) describes running processes, not the
/// installation: a source's rows are not copied, and a destination whose
/// only rows are heartbeats (a `serve` already started on it) counts as
/// empty.
#[test]
fn replica_heartbeats_are_neither_copied_nor_in_the_way() {
    let env = Env::new();
    env.ok(&[
        "-q",
        "provider",
        "add",
        "oa",
        "--kind",
        "openai",
        "--api-key-env",
        "OPENAI_API_KEY",
        "--models",
        "gpt-4o",
    ]);
    let beat = |db: &Path, id: &str| {
        rusqlite::Connection::open(db)
            .unwrap()
            .execute(
                "INSERT INTO replicas (id, host, pid, listen, version, redis, started_at, seen_at)
                 VALUES (?1, 'web-1', 42, '0.0.0.0:4000', '0.1.0', 0, 1, 2)",
                [id],
            )
            .unwrap();
    };
    beat(&env.db(), "00000000000000aa");
    let dst_path = env.path().join("copy.db");
    let dst = dst_path.display().to_string();
    env.cmd()
        .env("LLMO_DB", &dst)
        .args(["-q", "migrate", "up"])
        .assert()
        .success();
    beat(&dst_path, "00000000000000bb");

    let counts = copy(&env, &env.db().display().to_string(), &dst);
    assert!(counts.iter().all(|(t, _, _)| t != "replicas"), "{counts:?}");
    assert!(counts.contains(&("providers".into(), 1, 1)), "{counts:?}");
    let ids: Vec<String> = rusqlite::Connection::open(&dst_path)
        .unwrap()
        .prepare("SELECT id FROM replicas")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids, ["00000000000000bb"]);
}

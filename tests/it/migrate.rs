//! Schema migrations from the user's side: `migrate status` / `migrate up`
//! on fresh, current, pre-llmo and hand-made broken databases (newer than the
//! binary, a changed checksum, an unknown version), backups, and the promise
//! that a database the binary refuses is never altered.
use std::path::{Path, PathBuf};

use crate::common::{describe, json_of, keys, mode, stderr, stdout, Env};

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// A database at the binary's current version, made by `llmo migrate up`.
fn current_db(env: &Env) {
    env.ok(&["-q", "migrate", "up"]);
}

/// Files next to the database whose names start with `llmo.db.backup-`.
fn backups(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("llmo.db.backup-")
        })
        .collect();
    v.sort();
    v
}

fn snapshot(env: &Env, name: &str, text: &str) {
    let text = text.replace(&env.path().display().to_string(), "[TMP]");
    insta::with_settings!({
        filters => vec![
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
            (r"\d{8}T\d{6}Z", "[STAMP]"),
        ],
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

/// Runs each command against a database the binary must refuse, and checks
/// that every one fails with exit 1 and leaves the file byte-identical with
/// no backup and no leftover `-wal`/`-shm`.
fn assert_refused_untouched(env: &Env, needle: &str) {
    let before = std::fs::read(env.db()).unwrap();
    for args in [
        &["provider", "list"][..],
        &[
            "provider",
            "add",
            "o",
            "--kind",
            "openai",
            "--api-key-env",
            "K",
        ],
        &["model", "list"],
        &["key", "create", "k"],
        &["migrate", "up"],
        &["migrate", "up", "--no-backup"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "status"],
        &["--json", "migrate", "status"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        assert!(
            stderr(&out).starts_with("error: "),
            "{args:?}\n{}",
            describe(&out)
        );
        assert!(
            stderr(&out).contains(needle),
            "{args:?}\n{}",
            describe(&out)
        );
        assert!(
            std::fs::read(env.db()).unwrap() == before,
            "`llmo {args:?}` altered a database it refused"
        );
    }
    assert_eq!(backups(env), Vec::<PathBuf>::new());
    let out = env.fails(&["provider", "list"]);
    assert!(
        stderr(&out).contains(
            "hint: run `llmo migrate status` for the details; the database was not changed"
        ),
        "{}",
        describe(&out)
    );
}

#[test]
fn status_of_a_missing_db_lists_pending_and_creates_nothing() {
    let env = Env::new();
    let out = env.ok(&["migrate", "status"]);
    assert!(
        stderr(&out).contains("does not exist yet; every migration is pending"),
        "{}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("initial_schema               pending")
            && stdout(&out).contains("log_indexes_and_model_stats  pending"),
        "{}",
        describe(&out)
    );
    let v = env.json(&["migrate", "status"]);
    assert_eq!(
        keys(&v),
        ["binary_version", "db_version", "migrations", "problems"]
    );
    assert_eq!(v["db_version"], 0);
    assert_eq!(v["binary_version"], 5);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(
        v["migrations"],
        serde_json::json!([
            {"version": 1, "name": "initial_schema", "state": "pending", "applied_at": null},
            {"version": 2, "name": "log_indexes_and_model_stats", "state": "pending", "applied_at": null},
            {"version": 3, "name": "request_log_method_path_api", "state": "pending", "applied_at": null},
            {"version": 4, "name": "responses", "state": "pending", "applied_at": null},
            {"version": 5, "name": "replicas", "state": "pending", "applied_at": null}
        ])
    );
    assert!(!env.db().exists());
}

#[test]
fn dry_run_lists_what_would_be_applied_and_changes_nothing() {
    let env = Env::new();
    let out = env.ok(&["migrate", "up", "--dry-run"]);
    assert_eq!(
        stdout(&out),
        "would apply V1 initial_schema\nwould apply V2 log_indexes_and_model_stats\nwould apply V3 request_log_method_path_api\nwould apply V4 responses\nwould apply V5 replicas\n"
    );
    let v = env.json(&["migrate", "up", "--dry-run"]);
    assert_eq!(
        v,
        serde_json::json!({"dry_run": true, "would_apply": [
            {"version": 1, "name": "initial_schema", "state": "pending", "applied_at": null},
            {"version": 2, "name": "log_indexes_and_model_stats", "state": "pending", "applied_at": null},
            {"version": 3, "name": "request_log_method_path_api", "state": "pending", "applied_at": null},
            {"version": 4, "name": "responses", "state": "pending", "applied_at": null},
            {"version": 5, "name": "replicas", "state": "pending", "applied_at": null}
        ]})
    );
    assert!(!env.db().exists());

    current_db(&env);
    let before = std::fs::read(env.db()).unwrap();
    let out = env.ok(&["migrate", "up", "--dry-run"]);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(stderr(&out).contains("nothing to apply: the schema is current"));
    assert_eq!(
        env.json(&["migrate", "up", "--dry-run"])["would_apply"],
        serde_json::json!([])
    );
    assert!(std::fs::read(env.db()).unwrap() == before);
}

#[cfg(unix)]
#[test]
fn up_on_a_fresh_path_creates_the_db_and_applies_everything() {
    let env = Env::new();
    let db = env.path().join("state/sub/llmo.db");
    let out = env
        .cmd()
        .args(["--db", db.to_str().unwrap(), "migrate", "up"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        stdout(&out),
        "applied V1 initial_schema\napplied V2 log_indexes_and_model_stats\napplied V3 request_log_method_path_api\napplied V4 responses\napplied V5 replicas\n"
    );
    assert!(
        stderr(&out).contains("created the database"),
        "{}",
        describe(&out)
    );
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&env.path().join("state")), 0o700);
    assert_eq!(
        sqlite(&db)
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "wal"
    );

    // Again: nothing to do, and no backup of a current database.
    let out = env
        .cmd()
        .args(["--json", "--db", db.to_str().unwrap(), "migrate", "up"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v = json_of(&out);
    assert_eq!(v["created"], false);
    assert_eq!(v["version"], 5);
    assert_eq!(v["backup"], serde_json::Value::Null);
    assert_eq!(v["applied"], serde_json::json!([]));
    // The database and its migration lock, nothing else (no backup).
    let mut files: Vec<String> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["llmo.db", "llmo.db-migrate.lock"]);

    let s = env.json(&["--db", db.to_str().unwrap(), "migrate", "status"]);
    assert_eq!(s["db_version"], 5);
    assert_eq!(s["migrations"][0]["state"], "applied");
    assert_eq!(s["migrations"][1]["state"], "applied");
    assert!(s["migrations"][0]["applied_at"].is_string(), "{s}");
}

#[test]
fn up_json_reports_what_it_did() {
    let env = Env::new();
    let v = env.json(&["migrate", "up"]);
    assert_eq!(keys(&v), ["applied", "backup", "created", "version"]);
    assert_eq!(v["created"], true);
    assert_eq!(v["version"], 5);
    assert_eq!(v["backup"], serde_json::Value::Null);
    assert_eq!(
        v["applied"],
        serde_json::json!([
            {"version": 1, "name": "initial_schema"},
            {"version": 2, "name": "log_indexes_and_model_stats"},
            {"version": 3, "name": "request_log_method_path_api"},
            {"version": 4, "name": "responses"},
            {"version": 5, "name": "replicas"}
        ])
    );
}

/// Several processes starting on one fresh database at once (a `serve` and
/// a CLI command, replicas on a shared volume): the migration lock lets one
/// of them migrate; the others find nothing left to do. Without it each
/// reported the same migrations applied, and a late one backed up the
/// first one's half-made schema.
#[test]
fn concurrent_ups_on_one_fresh_db_apply_each_migration_once() {
    let env = Env::new();
    let total = env.json(&["migrate", "status"])["migrations"]
        .as_array()
        .unwrap()
        .len();
    std::fs::remove_file(env.db()).ok();
    for round in 0..3 {
        let db = env.path().join(format!("race-{round}.db"));
        let reports: Vec<serde_json::Value> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        let out = env
                            .cmd()
                            .env("LLMO_DB", &db)
                            .args(["--json", "migrate", "up"])
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "{}", describe(&out));
                        json_of(&out)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let applied: usize = reports
            .iter()
            .map(|v| v["applied"].as_array().unwrap().len())
            .sum();
        assert_eq!(applied, total, "round {round}: {reports:#?}");
        assert!(
            reports.iter().all(|v| v["backup"].is_null()),
            "round {round}: a fresh database was backed up: {reports:#?}"
        );
    }
}

/// A database file with content but no llmo history (say, made by hand or
/// by a tool) has every migration pending: upgrading it takes a backup first.
fn pre_llmo_db(env: &Env) {
    let conn = sqlite(&env.db());
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
        .unwrap();
}

#[cfg(unix)]
#[test]
fn up_backs_up_a_non_empty_db_before_applying() {
    let env = Env::new();
    pre_llmo_db(&env);
    let before = std::fs::read(env.db()).unwrap();

    // status reads only.
    let out = env.ok(&["migrate", "status"]);
    assert!(stdout(&out).contains("pending"), "{}", describe(&out));
    assert!(
        std::fs::read(env.db()).unwrap() == before,
        "`migrate status` altered the file"
    );

    let out = env.ok(&["migrate", "up"]);
    assert_eq!(
        stdout(&out),
        "applied V1 initial_schema\napplied V2 log_indexes_and_model_stats\napplied V3 request_log_method_path_api\napplied V4 responses\napplied V5 replicas\n"
    );
    let found = backups(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    let backup = &found[0];
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    // llmo.db.backup-v0-20261127T172300Z
    assert!(name.starts_with("llmo.db.backup-v0-"), "{name}");
    let stamp = &name["llmo.db.backup-v0-".len()..];
    assert_eq!(stamp.len(), 16, "{name}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    assert!(
        stderr(&out).contains(&format!("backed up the database to {}", backup.display())),
        "{}",
        describe(&out)
    );
    assert_eq!(mode(backup), 0o600);

    // The backup is a valid SQLite copy of the database as it was.
    let b = sqlite(backup);
    assert_eq!(
        b.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
    assert_eq!(
        b.query_row("SELECT body FROM notes", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "keep me"
    );
    let tables: i64 = b
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the backup holds the pre-migration state");

    // The migrated database kept the user's data.
    let s = env.json(&["migrate", "status"]);
    assert_eq!(s["db_version"], 5);
    let conn = sqlite(&env.db());
    let body: String = conn
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "keep me");
}

#[test]
fn up_no_backup_skips_the_copy() {
    let env = Env::new();
    pre_llmo_db(&env);
    let v = env.json(&["migrate", "up", "--no-backup"]);
    assert_eq!(v["backup"], serde_json::Value::Null);
    assert_eq!(v["applied"].as_array().unwrap().len(), 5);
    assert_eq!(backups(&env), Vec::<PathBuf>::new());
}

#[test]
fn any_command_upgrades_an_old_db_with_a_backup_and_says_so() {
    let env = Env::new();
    pre_llmo_db(&env);
    let out = env.ok(&["provider", "list"]);
    let found = backups(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("backed up database to {}", found[0].display())),
        "{err}"
    );
    assert!(
        err.contains("applied 5 migration(s); schema is at version 5"),
        "{err}"
    );
    assert!(!err.contains("created database"), "{err}");
    assert!(out.stdout.is_empty(), "{}", describe(&out));
}

#[test]
fn newer_db_is_refused_and_never_altered() {
    let env = Env::new();
    current_db(&env);
    env.ok(&[
        "provider",
        "add",
        "o",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    sqlite(&env.db())
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (99, 'future_feature', '2030-01-01T00:00:00Z', '42')",
            [],
        )
        .unwrap();

    let out = env.cmd().args(["migrate", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    snapshot(&env, "migrate_status_newer_db", &describe(&out));
    let sentence = "the database is at schema version 99 but this llmo only knows up to version 5 \
                    (V99 `future_feature` was applied by a newer llmo); upgrade llmo";
    assert!(stderr(&out).contains(sentence), "{}", describe(&out));

    let out = env
        .cmd()
        .args(["--json", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["db_version"], 99);
    assert_eq!(v["binary_version"], 5);
    assert_eq!(v["migrations"][5]["state"], "missing-from-binary");
    assert_eq!(v["problems"].as_array().unwrap().len(), 1);

    assert_refused_untouched(&env, sentence);
}

/// The switch to WAL rewrites the file header: it must not happen to a
/// database that is refused (a restored backup is in rollback-journal mode).
#[test]
fn newer_db_in_rollback_journal_mode_is_not_switched_to_wal() {
    let env = Env::new();
    current_db(&env);
    let conn = sqlite(&env.db());
    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (6, 'next', '2030-01-01T00:00:00Z', '7')",
        [],
    )
    .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    drop(conn);
    assert_refused_untouched(
        &env,
        "schema version 6 but this llmo only knows up to version 5",
    );
    let mode: String = sqlite(&env.db())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn modified_checksum_is_reported_and_refused() {
    let env = Env::new();
    current_db(&env);
    sqlite(&env.db())
        .execute(
            "UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 1",
            [],
        )
        .unwrap();
    let out = env.cmd().args(["migrate", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    snapshot(&env, "migrate_status_modified", &describe(&out));
    let v = json_of(
        &env.cmd()
            .args(["--json", "migrate", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(v["migrations"][0]["state"], "modified-since-applied");
    assert_refused_untouched(
        &env,
        "migration V1 `initial_schema` was changed after it was applied to this database",
    );
}

#[test]
fn renamed_migration_counts_as_modified() {
    let env = Env::new();
    current_db(&env);
    sqlite(&env.db())
        .execute(
            "UPDATE refinery_schema_history SET name = 'init' WHERE version = 1",
            [],
        )
        .unwrap();
    let v = json_of(
        &env.cmd()
            .args(["--json", "migrate", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(v["migrations"][0]["state"], "modified-since-applied", "{v}");
    assert_refused_untouched(&env, "migration V1 `init` was changed after it was applied");
}

#[test]
fn unknown_lower_version_is_missing_from_binary() {
    let env = Env::new();
    current_db(&env);
    sqlite(&env.db())
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (0, 'side_branch', '2025-01-01T00:00:00Z', '9')",
            [],
        )
        .unwrap();
    let out = env.cmd().args(["migrate", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    snapshot(&env, "migrate_status_unknown_version", &describe(&out));
    let v = json_of(
        &env.cmd()
            .args(["--json", "migrate", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(v["db_version"], 5);
    assert_eq!(v["migrations"][0]["version"], 0);
    assert_eq!(v["migrations"][0]["state"], "missing-from-binary");
    assert_eq!(v["migrations"][1]["state"], "applied");
    assert_refused_untouched(
        &env,
        "the database has migration V0 `side_branch` that this binary does not know",
    );
}

#[test]
fn current_db_status_table() {
    let env = Env::new();
    current_db(&env);
    let out = env.ok(&["migrate", "status"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    snapshot(&env, "migrate_status_current", &stdout(&out));
}

#[test]
fn a_file_that_is_not_a_database_is_a_user_error() {
    let env = Env::new();
    std::fs::write(
        env.db(),
        "this is a text file, not SQLite, and long enough to have a header..........",
    )
    .unwrap();
    let before = std::fs::read(env.db()).unwrap();
    let out = env.cmd().args(["provider", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("the file is not an SQLite database, or it is corrupt"),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("hint: restore the newest `*.backup-*` file"));
    assert!(std::fs::read(env.db()).unwrap() == before);

    let dir = env.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let out = env
        .cmd()
        .args(["--db", dir.to_str().unwrap(), "key", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("it is a directory"),
        "{}",
        describe(&out)
    );
}

/// A migration that fails (here: the file already has a `providers` table of
/// its own) is rolled back, reported in one line without its SQL, and the
/// backup taken before it is named. Unexpected, so exit 2.
#[test]
fn a_failing_migration_is_rolled_back_and_reported_briefly() {
    let env = Env::new();
    sqlite(&env.db())
        .execute_batch("CREATE TABLE providers (mine TEXT); INSERT INTO providers VALUES ('x');")
        .unwrap();
    let out = env.cmd().args(["provider", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    let found = backups(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: migration failed: V1 `initial_schema`: table providers already exists \
             (that migration was rolled back; the backup taken before it is `{}`)",
            found[0].display()
        )
    );
    let conn = sqlite(&env.db());
    let mine: String = conn
        .query_row("SELECT mine FROM providers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mine, "x");
    let meta: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('meta', 'models', 'api_keys')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(meta, 0, "nothing of V1 is left behind");
    drop(conn);
    let s = env
        .cmd()
        .args(["--json", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(s.status.code(), Some(0), "{}", describe(&s));
    assert_eq!(json_of(&s)["migrations"][0]["state"], "pending");
}

/// The upgrade every existing user gets: a database at V1 (five request-log
/// indexes) with data is backed up, then V2 drops three of the indexes and
/// fills `model_stats` from the rows; the rows stay.
#[test]
fn a_v1_database_with_data_upgrades_to_v2_with_a_backup() {
    let env = Env::new();
    current_db(&env);
    env.ok(&[
        "provider",
        "add",
        "o",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
    ]);
    {
        // Turn it back into what llmo 0.1 with only V1 left behind.
        let conn = sqlite(&env.db());
        conn.execute_batch(
            "DELETE FROM refinery_schema_history WHERE version >= 2;
             DROP TABLE replicas;
             DROP TABLE responses;
             ALTER TABLE request_logs DROP COLUMN method;
             ALTER TABLE request_logs DROP COLUMN path;
             ALTER TABLE request_logs DROP COLUMN api;
             ALTER TABLE request_logs DROP COLUMN key_prefix;
             DROP TABLE model_stats;
             CREATE INDEX request_logs_by_model    ON request_logs (model, ts);
             CREATE INDEX request_logs_by_provider ON request_logs (provider, ts);
             CREATE INDEX request_logs_by_key      ON request_logs (key_name, ts);
             INSERT INTO request_logs (ts, request_id, model, provider, status, latency_ms)
             VALUES (1000, 'req_a', 'fast', 'o', 200, 12.5), (2000, 'req_b', 'fast', 'o', 502, 40.0);",
        )
        .unwrap();
    }
    let s = env.json(&["migrate", "status"]);
    assert_eq!(
        (s["db_version"].as_i64(), s["binary_version"].as_i64()),
        (Some(1), Some(5))
    );
    assert_eq!(s["migrations"][1]["state"], "pending");

    let v = env.json(&["migrate", "up"]);
    assert_eq!(
        v["applied"],
        serde_json::json!([
            {"version": 2, "name": "log_indexes_and_model_stats"},
            {"version": 3, "name": "request_log_method_path_api"},
            {"version": 4, "name": "responses"},
            {"version": 5, "name": "replicas"}
        ])
    );
    let found = backups(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("llmo.db.backup-v1-"),
        "{found:?}"
    );
    let conn = sqlite(&env.db());
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_logs' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names.sort();
    assert_eq!(names, ["request_logs_by_status", "request_logs_by_ts"]);
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM request_logs WHERE model = 'fast'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2);
    // model_stats was filled from the rows already logged.
    let (requests, errors): (i64, i64) = conn
        .query_row(
            "SELECT requests, errors FROM model_stats WHERE model = 'fast' AND bucket = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((requests, errors), (2, 1));
    // The backup still has V1's indexes: it is the database as it was.
    let b = sqlite(&found[0]);
    let n: i64 = b
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_logs' AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 5);
}

/// V3 adds the request log's method, path, api and key_prefix: a V2
/// database's rows stay, read with those unknown (NULL), and new rows
/// carry them.
#[test]
fn a_v2_database_with_rows_upgrades_to_v3_and_old_rows_stay_valid() {
    let env = Env::new();
    current_db(&env);
    {
        let conn = sqlite(&env.db());
        conn.execute_batch(
            "DELETE FROM refinery_schema_history WHERE version >= 3;
             DROP TABLE replicas;
             DROP TABLE responses;
             ALTER TABLE request_logs DROP COLUMN method;
             ALTER TABLE request_logs DROP COLUMN path;
             ALTER TABLE request_logs DROP COLUMN api;
             ALTER TABLE request_logs DROP COLUMN key_prefix;
             INSERT INTO request_logs (ts, request_id, model, status, latency_ms)
             VALUES (1000, 'req_old', 'fast', 200, 12.5);",
        )
        .unwrap();
    }
    let v = env.json(&["migrate", "up"]);
    assert_eq!(
        v["applied"],
        serde_json::json!([
            {"version": 3, "name": "request_log_method_path_api"},
            {"version": 4, "name": "responses"},
            {"version": 5, "name": "replicas"}
        ])
    );
    let conn = sqlite(&env.db());
    let old: (String, Option<String>, Option<String>, Option<String>) = conn
        .query_row(
            "SELECT request_id, method, path, api FROM request_logs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(old, ("req_old".into(), None, None, None));
    conn.execute(
        "INSERT INTO request_logs (ts, request_id, status, method, path, api, key_prefix)
         VALUES (2000, 'req_new', 404, 'POST', '/v1/responses', 'other', NULL)",
        [],
    )
    .unwrap();
}

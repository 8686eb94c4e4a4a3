//! The store's tests, written against [`Store`] and [`LogWriter`] only so
//! that they run on every engine: `store_suite!` instantiates each test once
//! per engine (`db::tests::sqlite::keys_round_trip`, ...). A new engine adds
//! one line to the invocation at the bottom, with a function that opens an
//! empty, migrated store of that engine (or `None`: the engine's server is
//! not there, and the test is skipped, see [`open_pg_temp`]).
//! Engine-specific checks (query plans, file headers) stay in the engine's
//! own module.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::logs::{LogRow, LogWriter};
use super::{DbLocation, PgUrl, Store};

mod catalog;
mod logs;
mod migrate;
mod paging;
mod replicas;
mod responses;

/// A migrated, empty store of one engine, and where to reach it again.
pub(crate) struct TestStore {
    pub(crate) store: Store,
    location: DbLocation,
    /// Dropped after `store` (field order): the file's directory, or the
    /// PostgreSQL database.
    _guard: Guard,
}

#[allow(dead_code, reason = "held for its Drop")]
enum Guard {
    Dir(tempfile::TempDir),
    Pg(PgTempDb),
}

impl TestStore {
    /// A request-log writer on its own connection, as the gateway has.
    pub(crate) fn writer(&self) -> LogWriter {
        LogWriter::open(self.location.clone()).unwrap()
    }

    /// Another connection to the same database (a second process or replica).
    pub(crate) fn reopen(&self) -> Store {
        Store::open(self.location.clone()).unwrap().0
    }
}

/// A fresh SQLite file in a temporary directory.
pub(crate) fn open_sqlite_temp() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t.db");
    let (store, _) = Store::open(&location).unwrap();
    TestStore {
        store,
        location: DbLocation::Sqlite(location),
        _guard: Guard::Dir(dir),
    }
}

/// The shared test server's superuser URL (`LLMO_TEST_PG_URL`, set by
/// tests/services.sh), or `None` with a note on stderr; with
/// `LLMO_TEST_SERVICES=required` (CI) a missing server fails the test
/// instead, so no run skips silently.
pub(crate) fn test_pg_url() -> Option<String> {
    match std::env::var("LLMO_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("LLMO_TEST_SERVICES").as_deref() == Ok("required") => {
            panic!("LLMO_TEST_SERVICES=required but LLMO_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!(
                "skipped: no PostgreSQL (set LLMO_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres, or run tests/run.sh, which starts one)"
            );
            None
        }
    }
}

/// `url` with its database (the path) replaced by `db`.
pub(crate) fn url_with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    let mut out = format!("{}/{db}", &base[..end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database of its own on the shared test server, dropped (`WITH
/// (FORCE)`: any connection left is closed) when this is.
pub(crate) struct PgTempDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl PgTempDb {
    /// `llmo_t_<pid>_<n>`, created empty; `None` when there is no server.
    pub(crate) fn create() -> Option<PgTempDb> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let admin = test_pg_url()?;
        let name = format!(
            "llmo_t_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = url_with_database(&admin, &name);
        Some(PgTempDb { admin, name, url })
    }
}

impl Drop for PgTempDb {
    fn drop(&mut self) {
        if let Ok(mut c) = ::postgres::Client::connect(&self.admin, ::postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A fresh, migrated database on the shared test server
/// (`LLMO_TEST_PG_URL`), dropped with the store; `None` (the test skips)
/// when no server was given.
pub(crate) fn open_pg_temp() -> Option<TestStore> {
    let db = PgTempDb::create()?;
    let location = DbLocation::Postgres(PgUrl::parse(&db.url).unwrap());
    let (store, _) = Store::open(location.clone()).unwrap();
    Some(TestStore {
        store,
        location,
        _guard: Guard::Pg(db),
    })
}

/// What a suite's open function returns: a store, or maybe one.
pub(crate) trait MaybeStore {
    fn into_store(self) -> Option<TestStore>;
}

impl MaybeStore for TestStore {
    fn into_store(self) -> Option<TestStore> {
        Some(self)
    }
}

impl MaybeStore for Option<TestStore> {
    fn into_store(self) -> Option<TestStore> {
        self
    }
}

/// The `i`th of a varied set of rows: three models, two providers, one
/// failure in ten, streams every other row.
pub(crate) fn log_row(ts_ms: i64, i: usize) -> LogRow {
    let models: [Arc<str>; 3] = ["gpt-4o".into(), "claude".into(), "gemini".into()];
    let providers: [Arc<str>; 2] = ["openai".into(), "anthropic".into()];
    LogRow {
        ts_ms,
        request_id: format!("req-{i}"),
        key_name: Some("app".into()),
        model: Some(models[i % 3].clone()),
        provider: Some(providers[i % 2].clone()),
        upstream_model: Some("up".into()),
        attempts: 1,
        status: if i % 10 == 0 { 502 } else { 200 },
        error_type: (i % 10 == 0).then_some("upstream_error"),
        latency_ms: 12.5,
        ttfb_ms: None,
        upstream_ms: Some(10.0),
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        stream: i % 2 == 0,
        method: Some("POST".into()),
        path: Some("/v1/chat/completions".into()),
        api: Some("chat"),
        key_prefix: None,
    }
}

/// Start of the rows [`fill`] writes (epoch ms, on a minute boundary).
pub(crate) const BASE_MS: i64 = 1_700_000_040_000;

/// Writes `n` rows of [`log_row`], 7 ms apart from [`BASE_MS`], in batches
/// of 10,000 through the engine's log writer.
pub(crate) fn fill(t: &TestStore, n: usize) {
    let mut w = t.writer();
    let rows: Vec<LogRow> = (0..n)
        .map(|i| log_row(BASE_MS + (i as i64) * 7, i))
        .collect();
    for chunk in rows.chunks(10_000) {
        w.write_batch(chunk, &[]).unwrap();
    }
}

/// An SQLite store holding `n` rows of [`log_row`] (for the engine's own
/// plan checks).
pub(crate) fn store_with_rows(n: usize) -> TestStore {
    let t = open_sqlite_temp();
    fill(&t, n);
    t
}

/// Instantiates every store test once per engine given as
/// `name => function opening an empty store`.
macro_rules! store_suite {
    ($($engine:ident => $open:ident),* $(,)?) => {$(
        mod $engine {
            store_suite!(@each $open;
                catalog::providers_round_trip,
                catalog::provider_update_rename_and_remove,
                catalog::models_and_mappings,
                catalog::mapping_patch,
                catalog::keys_round_trip,
                catalog::catalog_snapshot_and_version,
                catalog::key_changes_are_told_apart,
                catalog::another_connection_sees_changes,
                catalog::apply_conflicts_across_connections,
                logs::log_writes_and_pages,
                logs::last_page_has_no_next,
                logs::log_filters,
                logs::stats_from_written_batches,
                logs::health_history,
                logs::pruning_in_chunks,
                logs::keys_last_use,
                migrate::fresh_store_is_current,
                migrate::newer_database_is_refused_untouched,
                paging::lists_page_and_search,
                replicas::replicas_beat_and_are_seen_within_the_window,
                replicas::stale_replicas_are_deleted_and_gone_ones_too,
                replicas::beats_do_not_move_the_config_version,
                responses::responses_round_trip_by_owner,
                responses::writer_puts_then_deletes_in_order,
                responses::responses_pruned_by_age_in_chunks,
            );
        }
    )*};
    (@each $open:ident; $($group:ident :: $test:ident),* $(,)?) => {$(
        #[test]
        fn $test() {
            if let Some(t) = super::MaybeStore::into_store(super::$open()) {
                super::$group::$test(t)
            }
        }
    )*};
}

store_suite! {
    sqlite => open_sqlite_temp,
    postgres => open_pg_temp,
}

//! The store's tests, written against [`Store`] and [`LogWriter`] only so
//! that they run on every engine: `store_suite!` instantiates each test once
//! per engine (`db::tests::sqlite::keys_round_trip`, ...). A new engine adds
//! one line to the invocation at the bottom, with a function that opens an
//! empty, migrated store of that engine. Engine-specific checks (query
//! plans, file headers) stay in the engine's own module.
use std::path::PathBuf;
use std::sync::Arc;

use super::logs::{LogRow, LogWriter};
use super::Store;

mod catalog;
mod logs;
mod migrate;
mod paging;
mod responses;

/// A migrated, empty store of one engine, and where to reach it again.
pub(crate) struct TestStore {
    pub(crate) store: Store,
    location: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestStore {
    /// A request-log writer on its own connection, as the gateway has.
    pub(crate) fn writer(&self) -> LogWriter {
        LogWriter::open(&self.location).unwrap()
    }
}

/// A fresh SQLite file in a temporary directory.
pub(crate) fn open_sqlite_temp() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t.db");
    let (store, _) = Store::open(&location).unwrap();
    TestStore {
        store,
        location,
        _dir: dir,
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
                logs::log_writes_and_pages,
                logs::last_page_has_no_next,
                logs::log_filters,
                logs::stats_from_written_batches,
                logs::health_history,
                logs::pruning_in_chunks,
                logs::keys_last_use,
                migrate::fresh_store_is_current,
                paging::lists_page_and_search,
                responses::responses_round_trip_by_owner,
                responses::writer_puts_then_deletes_in_order,
                responses::responses_pruned_by_age_in_chunks,
            );
        }
    )*};
    (@each $open:ident; $($group:ident :: $test:ident),* $(,)?) => {$(
        #[test]
        fn $test() {
            super::$group::$test(super::$open())
        }
    )*};
}

store_suite! {
    sqlite => open_sqlite_temp,
}

//! Log writes, pages, stats, health history and retention through
//! [`Store`] and [`LogWriter`](crate::db::logs::LogWriter), on any engine.
use super::{fill, log_row, TestStore, BASE_MS};
use crate::db::logs::{HealthChange, LogFilter, PruneTarget, MAX_LOG_PAGE};

pub(super) fn log_writes_and_pages(t: TestStore) {
    // 100 rows: three multi-row INSERTs of 32 and a remainder of 4.
    fill(&t, 100);
    let s = &t.store;
    assert_eq!(s.count_logs().unwrap(), 100);
    let p1 = s.query_logs(&LogFilter::default(), None, 60).unwrap();
    assert_eq!(p1.rows.len(), 60);
    assert!(p1.rows.windows(2).all(|w| w[0].cursor() > w[1].cursor()));
    let newest = &p1.rows[0];
    let want = log_row(BASE_MS + 99 * 7, 99);
    assert_eq!(newest.request_id, want.request_id);
    assert_eq!(newest.ts_ms, want.ts_ms);
    assert_eq!(newest.model.as_deref(), want.model.as_deref());
    assert_eq!(newest.provider.as_deref(), want.provider.as_deref());
    assert_eq!((newest.status, newest.stream), (want.status, want.stream));
    assert_eq!(
        (newest.prompt_tokens, newest.completion_tokens),
        (Some(10), Some(5))
    );
    assert_eq!((newest.latency_ms, newest.ttfb_ms), (12.5, None));
    let p2 = s.query_logs(&LogFilter::default(), p1.next, 60).unwrap();
    assert_eq!(p2.rows.len(), 40);
    assert!(p2.next.is_none());
    assert!(p2.rows[0].cursor() < p1.rows[59].cursor());
    let huge = s
        .query_logs(&LogFilter::default(), None, MAX_LOG_PAGE + 1)
        .unwrap();
    assert_eq!(huge.rows.len(), 100);
    // A broken clock reading does not cost the row.
    let mut w = t.writer();
    let mut odd = log_row(BASE_MS, 1);
    odd.latency_ms = f64::NAN;
    w.write_batch(&[odd], &[]).unwrap();
    assert_eq!(s.count_logs().unwrap(), 101);
}

pub(super) fn last_page_has_no_next(t: TestStore) {
    fill(&t, 30);
    let store = &t.store;
    let p = store.query_logs(&LogFilter::default(), None, 30).unwrap();
    assert_eq!(p.rows.len(), 30);
    assert!(p.next.is_none());
    let p = store.query_logs(&LogFilter::default(), None, 29).unwrap();
    assert!(p.next.is_some());
    let rest = store.query_logs(&LogFilter::default(), p.next, 29).unwrap();
    assert_eq!(rest.rows.len(), 1);
    assert!(rest.next.is_none());
}

pub(super) fn log_filters(t: TestStore) {
    fill(&t, 100);
    let s = &t.store;
    let count = |f: LogFilter| s.query_logs(&f, None, MAX_LOG_PAGE).unwrap().rows;
    let claude = count(LogFilter {
        model: Some("claude".into()),
        ..Default::default()
    });
    assert_eq!(claude.len(), 33);
    assert!(claude.iter().all(|r| r.model.as_deref() == Some("claude")));
    let errors = count(LogFilter {
        errors_only: true,
        ..Default::default()
    });
    assert_eq!(errors.len(), 10);
    assert!(errors
        .iter()
        .all(|r| r.status == 502 && r.error_type.as_deref() == Some("upstream_error")));
    let by_status = count(LogFilter {
        status: Some(200),
        provider: Some("openai".into()),
        key_name: Some("app".into()),
        ..Default::default()
    });
    assert_eq!(by_status.len(), 40);
    let window = count(LogFilter {
        since_ms: Some(BASE_MS + 7 * 10),
        until_ms: Some(BASE_MS + 7 * 20),
        ..Default::default()
    });
    assert_eq!(window.len(), 10);
    let by_type = count(LogFilter {
        error_type: Some("upstream_error".into()),
        api: Some("chat".into()),
        ..Default::default()
    });
    assert_eq!(by_type.len(), 10);
    assert!(by_type.iter().all(|r| r.status == 502));
    assert_eq!(
        count(LogFilter {
            api: Some("responses".into()),
            ..Default::default()
        })
        .len(),
        0
    );
    assert_eq!(
        count(LogFilter {
            key_name: Some("nope".into()),
            ..Default::default()
        })
        .len(),
        0
    );
}

pub(super) fn stats_from_written_batches(t: TestStore) {
    // Two batches into the same minutes: the upserts add up.
    fill(&t, 100);
    fill(&t, 100);
    let s = &t.store;
    let (from, to) = (BASE_MS, BASE_MS + 60_000);
    let by_p = s.stats_by_provider(from, to).unwrap();
    let names: Vec<_> = by_p.iter().map(|p| p.provider.as_str()).collect();
    assert_eq!(names, ["anthropic", "openai"]);
    let oa = &by_p[1];
    // Even rows are openai; every tenth row (all even) failed.
    assert_eq!((oa.requests, oa.successes, oa.errors), (100, 80, 20));
    assert_eq!(oa.success_rate, Some(0.8));
    assert_eq!(oa.avg_latency_ms, 12.5);
    assert_eq!((oa.tokens_in, oa.tokens_out), (1000, 500));
    let by_m = s.stats_by_model(from, to).unwrap();
    let gpt = by_m.iter().find(|m| m.model == "gpt-4o").unwrap();
    assert_eq!((gpt.requests, gpt.errors), (68, 8));
    assert_eq!(by_m.iter().map(|m| m.requests).sum::<i64>(), 200);
    let series = s.stats_series(from, to, 1).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        (series[0].ts_ms, series[0].requests, series[0].errors),
        (BASE_MS, 200, 20)
    );
    assert!(s.stats_by_provider(to, to + 60_000).unwrap().is_empty());
    let pct = s.latency_percentiles(from, to).unwrap();
    assert_eq!(pct.by_provider["openai"].sample, 100);
    assert_eq!(pct.by_model["claude"].p95_ms, 12.5);
}

fn change(provider: &str, state: &'static str, at: i64) -> HealthChange {
    HealthChange {
        provider: provider.into(),
        state,
        consecutive_failures: u32::from(state != "closed") * 5,
        last_error: (state == "open").then(|| "502 from upstream".to_string()),
        last_success_ms: Some(at - 1_000),
        changed_at_ms: at,
    }
}

pub(super) fn health_history(t: TestStore) {
    let mut w = t.writer();
    w.write_batch(
        &[],
        &[
            change("a", "open", 1_000),
            change("b", "open", 1_500),
            change("a", "half_open", 2_000),
        ],
    )
    .unwrap();
    w.write_batch(&[], &[change("a", "closed", 3_000)]).unwrap();
    let s = &t.store;
    let recent = s.recent_health(None, 10).unwrap();
    let order: Vec<_> = recent
        .iter()
        .map(|h| (h.provider.as_str(), h.state.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("a", "closed"),
            ("a", "half_open"),
            ("b", "open"),
            ("a", "open")
        ]
    );
    let a = s.recent_health(Some("a"), 2).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].state, "half_open");
    let latest = s.latest_health().unwrap();
    let now: Vec<_> = latest
        .iter()
        .map(|h| (h.provider.as_str(), h.state.as_str()))
        .collect();
    assert_eq!(now, [("a", "closed"), ("b", "open")]);
    assert_eq!(latest[1].last_error.as_deref(), Some("502 from upstream"));
    assert_eq!(
        (latest[1].consecutive_failures, latest[1].changed_at_ms),
        (5, 1_500)
    );
}

pub(super) fn pruning_in_chunks(t: TestStore) {
    fill(&t, 100);
    let mut w = t.writer();
    let old = BASE_MS + 50 * 7;
    w.write_batch(
        &[],
        &[
            change("a", "open", 1_000),
            change("a", "closed", 2_000),
            change("b", "open", 1_500),
        ],
    )
    .unwrap();
    let mut removed = 0;
    loop {
        let n = w.prune_chunk(PruneTarget::RequestLogs, old, 20).unwrap();
        assert!(n <= 20);
        removed += n;
        if n < 20 {
            break;
        }
    }
    assert_eq!(removed, 50);
    assert_eq!(t.store.count_logs().unwrap(), 50);
    // The stats of minutes before the cutoff's minute go; this one stays.
    assert_eq!(
        w.prune_chunk(PruneTarget::ProviderStats, old, 100).unwrap(),
        0
    );
    assert_eq!(
        w.prune_chunk(PruneTarget::ModelStats, BASE_MS + 60_000, 100)
            .unwrap(),
        3
    );
    assert_eq!(
        w.prune_chunk(PruneTarget::ProviderStats, BASE_MS + 60_000, 100)
            .unwrap(),
        2
    );
    assert!(t
        .store
        .stats_by_provider(BASE_MS, BASE_MS + 60_000)
        .unwrap()
        .is_empty());
    // Health keeps each provider's latest row however old.
    assert_eq!(
        w.prune_chunk(PruneTarget::ProviderHealth, 10_000, 100)
            .unwrap(),
        1
    );
    let left = t.store.recent_health(None, 10).unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(PruneTarget::ALL.map(PruneTarget::table)[0], "request_logs");
}

pub(super) fn keys_last_use(mut t: TestStore) {
    t.store.create_key("app", None, None).unwrap();
    let version = t.store.config_version().unwrap();
    let mut w = t.writer();
    let rows = [
        log_row(BASE_MS + 5, 1),
        log_row(BASE_MS + 9, 2),
        log_row(BASE_MS + 2, 3),
    ];
    w.write_batch(&rows, &[]).unwrap();
    w.write_batch(&[log_row(BASE_MS, 4)], &[]).unwrap();
    let key = t.store.list_keys().unwrap().remove(0);
    // The newest use wins, also against a later batch with an older row.
    assert_eq!(key.last_used_at, Some(BASE_MS + 9));
    assert_eq!(
        t.store.config_version().unwrap(),
        version,
        "a key's use is not a catalog change"
    );
}

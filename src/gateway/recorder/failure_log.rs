//! The request-log writer's log lines about failing writes (see
//! [`FailureLog`]).
use std::time::{Duration, Instant};

/// While writes fail, a summary line at most this often.
const FAILING_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// The writer's log lines about failing writes: one when writes start
/// failing (with the error), a summary at most every
/// [`FAILING_SUMMARY_EVERY`] while they keep failing, one when they work
/// again (with the rows dropped meanwhile). Never one per batch.
#[derive(Debug, Default)]
pub(super) struct FailureLog {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    since: Instant,
    last_line: Instant,
    dropped: u64,
}

/// A line [`FailureLog`] wants logged.
#[derive(Debug, PartialEq)]
pub(super) enum FailureLine {
    Started(String),
    Still {
        error: String,
        for_ms: u128,
        dropped: u64,
    },
    Recovered {
        after_ms: u128,
        dropped: u64,
    },
}

impl FailureLog {
    /// A batch of `rows` was written (`error` None) or dropped.
    pub(super) fn batch(
        &mut self,
        now: Instant,
        error: Option<&str>,
        rows: u64,
    ) -> Option<FailureLine> {
        match (error, &mut self.failing) {
            (None, None) => None,
            (None, Some(f)) => {
                let line = FailureLine::Recovered {
                    after_ms: now.duration_since(f.since).as_millis(),
                    dropped: f.dropped,
                };
                self.failing = None;
                Some(line)
            }
            (Some(e), None) => {
                self.failing = Some(Failing {
                    since: now,
                    last_line: now,
                    dropped: rows,
                });
                Some(FailureLine::Started(e.to_string()))
            }
            (Some(e), Some(f)) => {
                f.dropped += rows;
                if now.duration_since(f.last_line) < FAILING_SUMMARY_EVERY {
                    return None;
                }
                f.last_line = now;
                Some(FailureLine::Still {
                    error: e.to_string(),
                    for_ms: now.duration_since(f.since).as_millis(),
                    dropped: f.dropped,
                })
            }
        }
    }
}

pub(super) fn log_failure_line(line: FailureLine) {
    let t = |ms: u128| crate::time::format_ms(ms as i64);
    match line {
        FailureLine::Started(error) => tracing::error!(
            "cannot write request logs: {error}; their rows are dropped (counted in \
             llmo_log_rows_dropped_total) until writes work again"
        ),
        FailureLine::Still {
            error,
            for_ms,
            dropped,
        } => tracing::error!(
            "request-log writes still failing after {}: {error}; {dropped} row(s) dropped so far",
            t(for_ms)
        ),
        FailureLine::Recovered { after_ms, dropped } => tracing::info!(
            "request-log writes work again after {}; {dropped} row(s) were dropped meanwhile",
            t(after_ms)
        ),
    }
}

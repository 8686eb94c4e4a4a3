//! Request logs, per-provider and per-model minute stats, circuit-breaker
//! history and retention, engine-neutral part: the row, filter, cursor and
//! stats types, the in-memory aggregation of a batch, keyset paging, and the
//! two handles that reach the engine:
//! - [`LogWriter`] is owned by the gateway's single request-log writer
//!   thread, on its own connection: one transaction per batch inserts the
//!   rows, upserts the per-minute `provider_stats` and `model_stats`
//!   (aggregated in memory first by [`BatchTotals`], never by scanning
//!   logs), appends `provider_health` changes and records client keys' last
//!   use; retention deletes in small chunks between batches;
//! - the read side (`impl Store`) serves the admin API, `llmo doctor` and
//!   friends: newest-first log pages with keyset pagination, per-provider
//!   stats over a time range, and health history.
//!
//! The SQL of both sides is the engine's (`sqlite/logs.rs`).
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use super::{engine, sqlite, Result, Store};

/// One served request, as the gateway reports it. Every request produces
/// exactly one row (including the ones rejected before routing).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    /// When the request arrived (epoch ms).
    pub ts_ms: i64,
    pub request_id: String,
    /// The client key's name (never the key).
    pub key_name: Option<Arc<str>>,
    /// The public model the client asked for.
    pub model: Option<Arc<str>>,
    /// The provider that produced the answer (or the last one tried).
    pub provider: Option<Arc<str>>,
    pub upstream_model: Option<Arc<str>>,
    /// Upstream attempts made (0 when the request never reached one).
    pub attempts: u32,
    /// HTTP status sent to the client.
    pub status: u16,
    /// Machine-readable error class when the request failed.
    pub error_type: Option<&'static str>,
    /// Total time in the gateway, arrival to last byte.
    pub latency_ms: f64,
    /// Time to the first byte sent to the client (streams).
    pub ttfb_ms: Option<f64>,
    /// Time spent waiting on the upstream(s).
    pub upstream_ms: Option<f64>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub stream: bool,
    /// The client's HTTP method and path (without the query).
    pub method: Option<Box<str>>,
    pub path: Option<Box<str>>,
    /// Which API the path belongs to: `chat`, `embeddings`, `models` or
    /// `other` (an open set; stored as text).
    pub api: Option<&'static str>,
    /// The shown prefix of a client key that was presented but is unknown
    /// (`error_type` `invalid_key`), when the key has llmo's format; never
    /// the key.
    pub key_prefix: Option<Box<str>>,
}

/// A circuit-breaker state change, as stored in `provider_health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_ms: Option<i64>,
    pub changed_at_ms: i64,
}

/// The minute bucket of an epoch-ms timestamp (as in `provider_stats.bucket`).
pub(crate) fn minute_bucket(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(60_000)
}

/// NaN/inf would be stored as NULL or fail the NOT NULL constraint; a
/// broken clock reading must not cost the row.
pub(crate) fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Summed counters of one group (a provider, a model, a minute): what a
/// batch adds to the per-minute stats tables, and what the engines read
/// back from them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub(crate) requests: i64,
    /// Requests answered with status < 400.
    pub(crate) successes: i64,
    /// Requests answered with status >= 400.
    pub(crate) errors: i64,
    pub(crate) latency_ms_total: f64,
    pub(crate) tokens_in: i64,
    pub(crate) tokens_out: i64,
}

impl Sums {
    /// `part / requests`; `None` without requests.
    pub(crate) fn rate(&self, part: i64) -> Option<f64> {
        (self.requests > 0).then(|| part as f64 / self.requests as f64)
    }

    /// Mean latency; 0 without requests.
    pub(crate) fn avg_latency_ms(&self) -> f64 {
        if self.requests > 0 {
            self.latency_ms_total / self.requests as f64
        } else {
            0.0
        }
    }

    /// Counts one request.
    fn add(&mut self, r: &LogRow) {
        self.requests += 1;
        if r.status < 400 {
            self.successes += 1;
        } else {
            self.errors += 1;
        }
        self.latency_ms_total += finite(r.latency_ms);
        self.tokens_in += i64::from(r.prompt_tokens.unwrap_or(0));
        self.tokens_out += i64::from(r.completion_tokens.unwrap_or(0));
    }
}

/// One batch's per-minute totals and keys' last use, computed in memory
/// before the batch is written. The maps are reused from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct BatchTotals {
    /// By `(provider, minute bucket)`.
    pub(crate) providers: HashMap<(Arc<str>, i64), Sums>,
    /// By `(public model, minute bucket)`.
    pub(crate) models: HashMap<(Arc<str>, i64), Sums>,
    /// Each key's newest request (epoch ms).
    pub(crate) keys: HashMap<Arc<str>, i64>,
}

impl BatchTotals {
    /// Replaces the totals with those of `logs`.
    pub(crate) fn collect(&mut self, logs: &[LogRow]) {
        self.providers.clear();
        self.models.clear();
        self.keys.clear();
        for r in logs {
            let bucket = minute_bucket(r.ts_ms);
            if let Some(m) = &r.model {
                self.models.entry((m.clone(), bucket)).or_default().add(r);
            }
            if let Some(p) = &r.provider {
                self.providers
                    .entry((p.clone(), bucket))
                    .or_default()
                    .add(r);
            }
            if let Some(k) = &r.key_name {
                let t = self.keys.entry(k.clone()).or_insert(r.ts_ms);
                *t = (*t).max(r.ts_ms);
            }
        }
    }
}

/// The request-log writer's side of the database, on one of the engines:
/// its own connection and reusable scratch maps. Owned by one thread.
pub(crate) enum LogWriter {
    Sqlite(sqlite::logs::SqliteLogWriter),
    Postgres(super::postgres::logs::PgLogWriter),
}

impl LogWriter {
    /// Opens the writer's own connection and checks that the schema has the
    /// tables (a missing table fails at start, not on the first request).
    pub(crate) fn open(location: impl Into<super::DbLocation>) -> Result<LogWriter> {
        match location.into() {
            super::DbLocation::Sqlite(path) => {
                sqlite::logs::SqliteLogWriter::open(&path).map(LogWriter::Sqlite)
            }
            super::DbLocation::Postgres(url) => {
                super::postgres::logs::PgLogWriter::open(&url).map(LogWriter::Postgres)
            }
        }
    }

    /// Writes one batch in one transaction: the log rows, the health
    /// changes, the per-minute aggregates of these rows and the keys' last
    /// use. All or nothing.
    pub(crate) fn write_batch(&mut self, logs: &[LogRow], health: &[HealthChange]) -> Result<()> {
        engine!(writer self, w => w.write_batch(logs, health))
    }

    /// Deletes one chunk (at most `limit` rows) older than `cutoff_ms` from
    /// `target`; returns how many rows went. Each chunk is its own short
    /// transaction, so the write lock is never held long.
    pub(crate) fn prune_chunk(
        &mut self,
        target: PruneTarget,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<usize> {
        engine!(writer self, w => w.prune_chunk(target, cutoff_ms, limit))
    }
}

/// What retention prunes, in the order it prunes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneTarget {
    RequestLogs,
    ProviderStats,
    ModelStats,
    /// Keeps each provider's latest row (its current state) however old.
    ProviderHealth,
    /// Stored Responses-API responses (`responses`), by creation time.
    Responses,
}

impl PruneTarget {
    pub const ALL: [PruneTarget; 5] = [
        PruneTarget::RequestLogs,
        PruneTarget::ProviderStats,
        PruneTarget::ModelStats,
        PruneTarget::ProviderHealth,
        PruneTarget::Responses,
    ];

    pub fn table(self) -> &'static str {
        match self {
            PruneTarget::RequestLogs => "request_logs",
            PruneTarget::ProviderStats => "provider_stats",
            PruneTarget::ModelStats => "model_stats",
            PruneTarget::ProviderHealth => "provider_health",
            PruneTarget::Responses => "responses",
        }
    }
}

/// How many rows retention removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub request_logs: usize,
    pub provider_stats: usize,
    pub model_stats: usize,
    pub provider_health: usize,
    pub responses: usize,
}

impl Pruned {
    pub fn add(&mut self, target: PruneTarget, n: usize) {
        match target {
            PruneTarget::RequestLogs => self.request_logs += n,
            PruneTarget::ProviderStats => self.provider_stats += n,
            PruneTarget::ModelStats => self.model_stats += n,
            PruneTarget::ProviderHealth => self.provider_health += n,
            PruneTarget::Responses => self.responses += n,
        }
    }

    pub fn total(&self) -> usize {
        self.request_logs
            + self.provider_stats
            + self.model_stats
            + self.provider_health
            + self.responses
    }
}

/// A stored request-log row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub ts_ms: i64,
    pub request_id: String,
    pub key_name: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub attempts: u32,
    pub status: u16,
    pub error_type: Option<String>,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub upstream_ms: Option<f64>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub stream: bool,
    /// `None` in rows logged before schema V3.
    pub method: Option<String>,
    pub path: Option<String>,
    pub api: Option<String>,
    pub key_prefix: Option<String>,
}

impl LogEntry {
    pub fn cursor(&self) -> LogCursor {
        LogCursor {
            ts_ms: self.ts_ms,
            id: self.id,
        }
    }
}

/// Which log rows to return. Every field narrows; `None`/`false` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub model: Option<String>,
    pub provider: Option<String>,
    pub key_name: Option<String>,
    /// Exactly this HTTP status.
    pub status: Option<u16>,
    /// Only failed requests (status >= 400).
    pub errors_only: bool,
    /// From this time on (epoch ms, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (epoch ms, exclusive).
    pub until_ms: Option<i64>,
}

/// Position after which the next page starts: the `(ts, id)` of the last
/// row of the previous page. Written as `TS-ID` for APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor {
    pub ts_ms: i64,
    pub id: i64,
}

/// In JSON a cursor is its string form, `"TS-ID"`.
impl Serialize for LogCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ts_ms, self.id)
    }
}

impl FromStr for LogCursor {
    type Err = crate::catalog::Invalid;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || {
            crate::catalog::Invalid::new(
                "cursor",
                format!(
                    "`{s}` is not a log cursor; pass back the `next` value of the previous page"
                ),
            )
        };
        let (ts, id) = s.split_once('-').ok_or_else(bad)?;
        Ok(LogCursor {
            ts_ms: ts.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// One page of logs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogPage {
    pub rows: Vec<LogEntry>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<LogCursor>,
}

/// Largest page `query_logs` returns.
pub const MAX_LOG_PAGE: usize = 1000;

/// Requests served by one provider over a time range (from the per-minute
/// `provider_stats`, so minute granularity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderStats {
    pub provider: String,
    pub requests: i64,
    pub successes: i64,
    /// Requests answered with status >= 400.
    pub errors: i64,
    /// `successes / requests`; `None` without requests.
    pub success_rate: Option<f64>,
    pub avg_latency_ms: f64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

impl ProviderStats {
    pub(crate) fn new(provider: String, s: Sums) -> ProviderStats {
        ProviderStats {
            provider,
            requests: s.requests,
            successes: s.successes,
            errors: s.errors,
            success_rate: s.rate(s.successes),
            avg_latency_ms: s.avg_latency_ms(),
            tokens_in: s.tokens_in,
            tokens_out: s.tokens_out,
        }
    }
}

/// A stored circuit-breaker state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthEvent {
    pub provider: String,
    pub state: String,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_ms: Option<i64>,
    pub changed_at_ms: i64,
}

impl Store {
    /// One page of request logs, newest first, matching `filter`, starting
    /// after `cursor` (keyset pagination on `(ts, id)`: stable while rows
    /// are being added, and as fast on page 1000 as on page 1). `limit` is
    /// clamped to 1..=[`MAX_LOG_PAGE`].
    pub fn query_logs(
        &self,
        filter: &LogFilter,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<LogPage> {
        let limit = limit.clamp(1, MAX_LOG_PAGE);
        // One row more than asked tells whether there is a next page.
        let mut rows = engine!(self, s => s.log_rows(filter, cursor, limit + 1))?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(LogEntry::cursor)
        } else {
            None
        };
        Ok(LogPage { rows, next })
    }

    /// The engine's plan for [`Store::query_logs`] with these arguments, one
    /// line per step (for tests and `--verbose` diagnostics).
    pub fn explain_query_logs(
        &self,
        filter: &LogFilter,
        cursor: Option<LogCursor>,
    ) -> Result<Vec<String>> {
        engine!(self, s => s.explain_log_rows(filter, cursor))
    }

    /// Per-provider totals for requests that arrived in `[from_ms, to_ms)`,
    /// at minute granularity (the minutes containing `from_ms` and
    /// `to_ms - 1` count whole). Sorted by provider name.
    pub fn stats_by_provider(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ProviderStats>> {
        let (first, last) = (minute_bucket(from_ms), minute_bucket(to_ms - 1));
        engine!(self, s => s.stats_by_provider(first, last))
    }

    /// The newest circuit-breaker changes, newest first: of one provider, or
    /// of all when `provider` is `None`.
    pub fn recent_health(&self, provider: Option<&str>, limit: usize) -> Result<Vec<HealthEvent>> {
        engine!(self, s => s.recent_health(provider, limit))
    }

    /// Each provider's latest recorded circuit state (sorted by provider).
    pub fn latest_health(&self) -> Result<Vec<HealthEvent>> {
        engine!(self, s => s.latest_health())
    }

    /// Rows in `request_logs` (a full count: for tests and `doctor`).
    pub fn count_logs(&self) -> Result<i64> {
        engine!(self, s => s.count_logs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = LogCursor {
            ts_ms: 1_700_000_000_123,
            id: 42,
        };
        assert_eq!(c.to_string().parse::<LogCursor>().unwrap(), c);
        assert!("abc".parse::<LogCursor>().is_err());
        assert!("12-x".parse::<LogCursor>().is_err());
    }
}

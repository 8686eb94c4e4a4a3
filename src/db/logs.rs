//! Request logs, per-provider minute stats, circuit-breaker history and
//! retention: all their SQL.
//!
//! Two sides:
//! - the write side ([`LogWriter`]) is owned by the gateway's single
//!   request-log writer thread, on its own connection: one transaction per
//!   batch inserts the rows, upserts the per-minute `provider_stats`
//!   (aggregated in memory first, never by scanning logs), appends
//!   `provider_health` changes and records client keys' last use;
//!   retention deletes in small chunks between batches;
//! - the read side (`impl Store`) serves the admin API, `llmo doctor` and
//!   friends: newest-first log pages with keyset pagination, per-provider
//!   stats over a time range, and health history.
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Row, TransactionBehavior};
use serde::Serialize;

use super::{Result, Store, StoreError};

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

const INSERT_LOG: &str = "INSERT INTO request_logs (ts, request_id, key_name, model, provider, \
     upstream_model, attempts, status, error_type, latency_ms, ttfb_ms, upstream_ms, \
     prompt_tokens, completion_tokens, stream) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Rows per multi-row INSERT: fewer statement steps per row. 32 x 15
/// parameters stays far under SQLite's 32,766-variable limit.
const MULTI: usize = 32;

fn insert_logs_multi_sql() -> String {
    let one = format!("({})", (0..15).map(|_| "?").collect::<Vec<_>>().join(", "));
    let head = INSERT_LOG.split(" VALUES ").next().unwrap_or(INSERT_LOG);
    format!("{head} VALUES {}", vec![one; MULTI].join(", "))
}

fn bind_log(st: &mut rusqlite::Statement<'_>, at: usize, r: &LogRow) -> rusqlite::Result<()> {
    st.raw_bind_parameter(at + 1, r.ts_ms)?;
    st.raw_bind_parameter(at + 2, &r.request_id)?;
    st.raw_bind_parameter(at + 3, r.key_name.as_deref())?;
    st.raw_bind_parameter(at + 4, r.model.as_deref())?;
    st.raw_bind_parameter(at + 5, r.provider.as_deref())?;
    st.raw_bind_parameter(at + 6, r.upstream_model.as_deref())?;
    st.raw_bind_parameter(at + 7, r.attempts)?;
    st.raw_bind_parameter(at + 8, r.status)?;
    st.raw_bind_parameter(at + 9, r.error_type)?;
    st.raw_bind_parameter(at + 10, finite(r.latency_ms))?;
    st.raw_bind_parameter(at + 11, r.ttfb_ms.map(finite))?;
    st.raw_bind_parameter(at + 12, r.upstream_ms.map(finite))?;
    st.raw_bind_parameter(at + 13, r.prompt_tokens)?;
    st.raw_bind_parameter(at + 14, r.completion_tokens)?;
    st.raw_bind_parameter(at + 15, r.stream)?;
    Ok(())
}

const UPSERT_STATS: &str = "INSERT INTO provider_stats (provider, bucket, requests, successes, \
     failures, latency_ms_total, tokens_in, tokens_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (provider, bucket) DO UPDATE SET \
     requests = requests + excluded.requests, \
     successes = successes + excluded.successes, \
     failures = failures + excluded.failures, \
     latency_ms_total = latency_ms_total + excluded.latency_ms_total, \
     tokens_in = tokens_in + excluded.tokens_in, \
     tokens_out = tokens_out + excluded.tokens_out";

const UPSERT_MODEL_STATS: &str = "INSERT INTO model_stats (model, bucket, requests, errors, \
     latency_ms_total, tokens_in, tokens_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (model, bucket) DO UPDATE SET \
     requests = requests + excluded.requests, \
     errors = errors + excluded.errors, \
     latency_ms_total = latency_ms_total + excluded.latency_ms_total, \
     tokens_in = tokens_in + excluded.tokens_in, \
     tokens_out = tokens_out + excluded.tokens_out";

const INSERT_HEALTH: &str = "INSERT INTO provider_health (provider, state, consecutive_failures, \
     last_error, last_success_at, changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A key's last use. `last_used_at` is excluded from the
/// `api_keys_upd` trigger, so this does not bump `config_version`.
const TOUCH_KEY: &str =
    "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE name = ?1";

/// The minute bucket of an epoch-ms timestamp (as in `provider_stats.bucket`).
pub fn minute_bucket(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(60_000)
}

#[derive(Debug, Default, Clone, Copy)]
struct Agg {
    requests: i64,
    successes: i64,
    failures: i64,
    latency_ms: f64,
    tokens_in: i64,
    tokens_out: i64,
}

impl Agg {
    fn add(&mut self, r: &LogRow) {
        self.requests += 1;
        if r.status < 400 {
            self.successes += 1;
        } else {
            self.failures += 1;
        }
        self.latency_ms += finite(r.latency_ms);
        self.tokens_in += i64::from(r.prompt_tokens.unwrap_or(0));
        self.tokens_out += i64::from(r.completion_tokens.unwrap_or(0));
    }
}

/// The request-log writer's side of the database: its own connection and
/// reusable scratch maps. Owned by one thread.
pub(crate) struct LogWriter {
    conn: Connection,
    insert_multi: String,
    stats: HashMap<(Arc<str>, i64), Agg>,
    model_stats: HashMap<(Arc<str>, i64), Agg>,
    keys: HashMap<Arc<str>, i64>,
}

impl LogWriter {
    /// Opens a connection with llmo's pragmas and checks that the schema has
    /// the tables (every statement is prepared once here, so a missing table
    /// fails at start, not on the first request).
    pub(crate) fn open(path: &Path) -> Result<LogWriter> {
        let conn = super::connect(path, false)?;
        conn.set_prepared_statement_cache_capacity(32);
        for sql in [
            INSERT_LOG,
            UPSERT_STATS,
            UPSERT_MODEL_STATS,
            INSERT_HEALTH,
            TOUCH_KEY,
        ] {
            if let Err(e) = conn.prepare_cached(sql) {
                let msg = e.to_string();
                if msg.contains("no such table") || msg.contains("no such column") {
                    return Err(StoreError::Schema {
                        message: format!(
                            "database `{}` does not have llmo's request-log schema ({msg})",
                            path.display()
                        ),
                        hint: "run `llmo migrate up` on it first (or open it with `llmo serve`, which migrates)".into(),
                    });
                }
                return Err(e.into());
            }
        }
        let insert_multi = insert_logs_multi_sql();
        conn.prepare_cached(&insert_multi)?;
        Ok(LogWriter {
            conn,
            insert_multi,
            stats: HashMap::new(),
            model_stats: HashMap::new(),
            keys: HashMap::new(),
        })
    }

    /// Writes one batch in one transaction: the log rows, the health
    /// changes, the per-provider minute aggregates of these rows and the
    /// keys' last use. All or nothing.
    pub(crate) fn write_batch(&mut self, logs: &[LogRow], health: &[HealthChange]) -> Result<()> {
        self.stats.clear();
        self.model_stats.clear();
        self.keys.clear();
        for r in logs {
            let bucket = minute_bucket(r.ts_ms);
            if let Some(m) = &r.model {
                self.model_stats
                    .entry((m.clone(), bucket))
                    .or_default()
                    .add(r);
            }
            if let Some(p) = &r.provider {
                self.stats.entry((p.clone(), bucket)).or_default().add(r);
            }
            if let Some(k) = &r.key_name {
                let t = self.keys.entry(k.clone()).or_insert(r.ts_ms);
                *t = (*t).max(r.ts_ms);
            }
        }
        // IMMEDIATE: take the write lock up front (waiting out the busy
        // timeout), instead of failing with SQLITE_BUSY_SNAPSHOT when another
        // process wrote between our first read and our first write.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut chunks = logs.chunks_exact(MULTI);
        {
            let mut st = tx.prepare_cached(&self.insert_multi)?;
            for chunk in &mut chunks {
                for (i, r) in chunk.iter().enumerate() {
                    bind_log(&mut st, i * 15, r)?;
                }
                st.raw_execute()?;
            }
        }
        {
            let mut st = tx.prepare_cached(INSERT_LOG)?;
            for r in chunks.remainder() {
                st.execute(params![
                    r.ts_ms,
                    r.request_id,
                    r.key_name.as_deref(),
                    r.model.as_deref(),
                    r.provider.as_deref(),
                    r.upstream_model.as_deref(),
                    r.attempts,
                    r.status,
                    r.error_type,
                    finite(r.latency_ms),
                    r.ttfb_ms.map(finite),
                    r.upstream_ms.map(finite),
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.stream,
                ])?;
            }
        }
        if !health.is_empty() {
            let mut st = tx.prepare_cached(INSERT_HEALTH)?;
            for h in health {
                st.execute(params![
                    h.provider,
                    h.state,
                    h.consecutive_failures,
                    h.last_error,
                    h.last_success_ms,
                    h.changed_at_ms,
                ])?;
            }
        }
        if !self.stats.is_empty() {
            let mut st = tx.prepare_cached(UPSERT_STATS)?;
            for ((provider, bucket), a) in &self.stats {
                st.execute(params![
                    &**provider,
                    bucket,
                    a.requests,
                    a.successes,
                    a.failures,
                    a.latency_ms,
                    a.tokens_in,
                    a.tokens_out,
                ])?;
            }
        }
        if !self.model_stats.is_empty() {
            let mut st = tx.prepare_cached(UPSERT_MODEL_STATS)?;
            for ((model, bucket), a) in &self.model_stats {
                st.execute(params![
                    &**model,
                    bucket,
                    a.requests,
                    a.failures,
                    a.latency_ms,
                    a.tokens_in,
                    a.tokens_out,
                ])?;
            }
        }
        if !self.keys.is_empty() {
            let mut st = tx.prepare_cached(TOUCH_KEY)?;
            for (name, ts) in &self.keys {
                st.execute(params![&**name, ts])?;
            }
        }
        tx.commit()?;
        Ok(())
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
        prune_chunk(&self.conn, target, cutoff_ms, limit)
    }
}

/// NaN/inf would be stored as NULL or fail the NOT NULL constraint; a
/// broken clock reading must not cost the row.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
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
}

impl PruneTarget {
    pub const ALL: [PruneTarget; 4] = [
        PruneTarget::RequestLogs,
        PruneTarget::ProviderStats,
        PruneTarget::ModelStats,
        PruneTarget::ProviderHealth,
    ];

    pub fn table(self) -> &'static str {
        match self {
            PruneTarget::RequestLogs => "request_logs",
            PruneTarget::ProviderStats => "provider_stats",
            PruneTarget::ModelStats => "model_stats",
            PruneTarget::ProviderHealth => "provider_health",
        }
    }
}

/// Deletes at most `limit` rows of `target` older than `cutoff_ms`.
pub(crate) fn prune_chunk(
    conn: &Connection,
    target: PruneTarget,
    cutoff_ms: i64,
    limit: usize,
) -> Result<usize> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let n = match target {
        PruneTarget::RequestLogs => conn
            .prepare_cached(
                "DELETE FROM request_logs WHERE id IN \
                 (SELECT id FROM request_logs WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
            )?
            .execute(params![cutoff_ms, limit])?,
        PruneTarget::ProviderStats => conn
            .prepare_cached(
                "DELETE FROM provider_stats WHERE (provider, bucket) IN \
                 (SELECT provider, bucket FROM provider_stats WHERE bucket < ?1 LIMIT ?2)",
            )?
            .execute(params![minute_bucket(cutoff_ms), limit])?,
        PruneTarget::ModelStats => conn
            .prepare_cached(
                "DELETE FROM model_stats WHERE (model, bucket) IN \
                 (SELECT model, bucket FROM model_stats WHERE bucket < ?1 LIMIT ?2)",
            )?
            .execute(params![minute_bucket(cutoff_ms), limit])?,
        PruneTarget::ProviderHealth => conn
            .prepare_cached(
                "DELETE FROM provider_health WHERE id IN \
                 (SELECT id FROM provider_health WHERE changed_at < ?1 AND id NOT IN \
                  (SELECT max(id) FROM provider_health GROUP BY provider) LIMIT ?2)",
            )?
            .execute(params![cutoff_ms, limit])?,
    };
    Ok(n)
}

/// How many rows retention removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub request_logs: usize,
    pub provider_stats: usize,
    pub model_stats: usize,
    pub provider_health: usize,
}

impl Pruned {
    pub fn add(&mut self, target: PruneTarget, n: usize) {
        match target {
            PruneTarget::RequestLogs => self.request_logs += n,
            PruneTarget::ProviderStats => self.provider_stats += n,
            PruneTarget::ModelStats => self.model_stats += n,
            PruneTarget::ProviderHealth => self.provider_health += n,
        }
    }

    pub fn total(&self) -> usize {
        self.request_logs + self.provider_stats + self.model_stats + self.provider_health
    }
}

// ---------------------------------------------------------------- read side

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
}

impl LogEntry {
    pub fn cursor(&self) -> LogCursor {
        LogCursor {
            ts_ms: self.ts_ms,
            id: self.id,
        }
    }
}

const LOG_COLS: &str = "id, ts, request_id, key_name, model, provider, upstream_model, attempts, \
     status, error_type, latency_ms, ttfb_ms, upstream_ms, prompt_tokens, completion_tokens, stream";

fn log_from_row(r: &Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        id: r.get(0)?,
        ts_ms: r.get(1)?,
        request_id: r.get(2)?,
        key_name: r.get(3)?,
        model: r.get(4)?,
        provider: r.get(5)?,
        upstream_model: r.get(6)?,
        attempts: r.get(7)?,
        status: r.get(8)?,
        error_type: r.get(9)?,
        latency_ms: r.get(10)?,
        ttfb_ms: r.get(11)?,
        upstream_ms: r.get(12)?,
        prompt_tokens: r.get(13)?,
        completion_tokens: r.get(14)?,
        stream: r.get(15)?,
    })
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

/// Builds the page query: only the filters that are set appear in the SQL,
/// so SQLite walks an index backwards in `ORDER BY ts DESC, id DESC` order
/// (the rowid is an index's last column): `(status, ts)` for a status, else
/// `(ts)`, checking model, provider and key on the way and stopping after a
/// page (migration V2 dropped their own indexes: the writer paid for them on
/// every row). Returned with its parameters.
fn page_query(filter: &LogFilter, cursor: Option<LogCursor>, limit: usize) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {LOG_COLS} FROM request_logs");
    let mut conds: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut text = |conds: &mut Vec<&str>, cond, v: &Option<String>| {
        if let Some(v) = v {
            conds.push(cond);
            args.push(Value::Text(v.clone()));
        }
    };
    text(&mut conds, "model = ?", &filter.model);
    text(&mut conds, "provider = ?", &filter.provider);
    text(&mut conds, "key_name = ?", &filter.key_name);
    if let Some(s) = filter.status {
        conds.push("status = ?");
        args.push(Value::Integer(i64::from(s)));
    }
    if filter.errors_only {
        // Unary `+`: a filter, not an index range; the (status, ts) index
        // would return rows out of time order and need a sort.
        conds.push("+status >= 400");
    }
    if let Some(t) = filter.since_ms {
        conds.push("ts >= ?");
        args.push(Value::Integer(t));
    }
    if let Some(t) = filter.until_ms {
        conds.push("ts < ?");
        args.push(Value::Integer(t));
    }
    if let Some(c) = cursor {
        // `ts <= ?` is the index range; the OR only sorts out rows that
        // share the cursor's millisecond.
        conds.push("ts <= ? AND (ts < ? OR id < ?)");
        args.push(Value::Integer(c.ts_ms));
        args.push(Value::Integer(c.ts_ms));
        args.push(Value::Integer(c.id));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY ts DESC, id DESC LIMIT ?");
    args.push(Value::Integer(limit as i64));
    (sql, args)
}

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

const HEALTH_COLS: &str =
    "provider, state, consecutive_failures, last_error, last_success_at, changed_at";

fn health_from_row(r: &Row<'_>) -> rusqlite::Result<HealthEvent> {
    Ok(HealthEvent {
        provider: r.get(0)?,
        state: r.get(1)?,
        consecutive_failures: r.get(2)?,
        last_error: r.get(3)?,
        last_success_ms: r.get(4)?,
        changed_at_ms: r.get(5)?,
    })
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
        let (sql, args) = page_query(filter, cursor, limit + 1);
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st
            .query_map(params_from_iter(args), log_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(LogEntry::cursor)
        } else {
            None
        };
        Ok(LogPage { rows, next })
    }

    /// SQLite's plan for [`Store::query_logs`] with these arguments, one
    /// line per step (for tests and `--verbose` diagnostics).
    pub fn explain_query_logs(
        &self,
        filter: &LogFilter,
        cursor: Option<LogCursor>,
    ) -> Result<Vec<String>> {
        let (sql, args) = page_query(filter, cursor, 51);
        let mut st = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = st.query_map(params_from_iter(args), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Per-provider totals for requests that arrived in `[from_ms, to_ms)`,
    /// at minute granularity (the minutes containing `from_ms` and
    /// `to_ms - 1` count whole). Sorted by provider name.
    pub fn stats_by_provider(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ProviderStats>> {
        let mut st = self.conn.prepare_cached(
            "SELECT provider, sum(requests), sum(successes), sum(failures), \
             sum(latency_ms_total), sum(tokens_in), sum(tokens_out) \
             FROM provider_stats WHERE bucket >= ?1 AND bucket <= ?2 \
             GROUP BY provider ORDER BY provider",
        )?;
        let rows = st.query_map(
            params![minute_bucket(from_ms), minute_bucket(to_ms - 1)],
            |r| {
                let requests: i64 = r.get(1)?;
                let successes: i64 = r.get(2)?;
                let latency: f64 = r.get(4)?;
                Ok(ProviderStats {
                    provider: r.get(0)?,
                    requests,
                    successes,
                    errors: r.get(3)?,
                    success_rate: (requests > 0).then(|| successes as f64 / requests as f64),
                    avg_latency_ms: if requests > 0 {
                        latency / requests as f64
                    } else {
                        0.0
                    },
                    tokens_in: r.get(5)?,
                    tokens_out: r.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest circuit-breaker changes, newest first: of one provider, or
    /// of all when `provider` is `None`.
    pub fn recent_health(&self, provider: Option<&str>, limit: usize) -> Result<Vec<HealthEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match provider {
            Some(p) => {
                let mut st = self.conn.prepare_cached(&format!(
                    "SELECT {HEALTH_COLS} FROM provider_health WHERE provider = ?1 \
                     ORDER BY changed_at DESC, id DESC LIMIT ?2"
                ))?;
                let rows = st.query_map(params![p, limit], health_from_row)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
            None => {
                let mut st = self.conn.prepare_cached(&format!(
                    "SELECT {HEALTH_COLS} FROM provider_health \
                     ORDER BY changed_at DESC, id DESC LIMIT ?1"
                ))?;
                let rows = st.query_map(params![limit], health_from_row)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(rows)
    }

    /// Each provider's latest recorded circuit state (sorted by provider).
    pub fn latest_health(&self) -> Result<Vec<HealthEvent>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {HEALTH_COLS} FROM provider_health WHERE id IN \
             (SELECT max(id) FROM provider_health GROUP BY provider) ORDER BY provider"
        ))?;
        let rows = st.query_map([], health_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Deletes everything older than `cutoff_ms` (what the writer's
    /// retention does, in chunks of `chunk` rows, each its own transaction).
    pub fn prune_before(&self, cutoff_ms: i64, chunk: usize) -> Result<Pruned> {
        let chunk = chunk.max(1);
        let mut pruned = Pruned::default();
        for target in PruneTarget::ALL {
            loop {
                let n = prune_chunk(&self.conn, target, cutoff_ms, chunk)?;
                pruned.add(target, n);
                if n < chunk {
                    break;
                }
            }
        }
        Ok(pruned)
    }

    /// Rows in `request_logs` (a full count: for tests and `doctor`).
    pub fn count_logs(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM request_logs", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts_ms: i64, i: usize) -> LogRow {
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
        }
    }

    fn store_with_rows(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (store, _) = Store::open(&path).unwrap();
        let mut w = LogWriter::open(&path).unwrap();
        let base = 1_700_000_000_000;
        let rows: Vec<LogRow> = (0..n).map(|i| row(base + (i as i64) * 7, i)).collect();
        for chunk in rows.chunks(10_000) {
            w.write_batch(chunk, &[]).unwrap();
        }
        (dir, store)
    }

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

    /// On 100k rows, every filter the admin API offers walks an index in
    /// time order (no full scan, no sort), and pages chain without gaps.
    #[test]
    fn log_pages_use_indexes_on_100k_rows() {
        let (_dir, store) = store_with_rows(100_000);
        let cursor = Some(LogCursor {
            ts_ms: 1_700_000_000_000 + 350_000,
            id: 50_000,
        });
        let filters = [
            LogFilter::default(),
            LogFilter {
                model: Some("claude".into()),
                ..Default::default()
            },
            LogFilter {
                provider: Some("openai".into()),
                since_ms: Some(1_700_000_000_000),
                ..Default::default()
            },
            LogFilter {
                key_name: Some("app".into()),
                ..Default::default()
            },
            LogFilter {
                status: Some(502),
                ..Default::default()
            },
            LogFilter {
                errors_only: true,
                ..Default::default()
            },
        ];
        for f in &filters {
            for c in [None, cursor] {
                let plan = store.explain_query_logs(f, c).unwrap();
                println!("{f:?} cursor={c:?}\n  {}", plan.join("\n  "));
                let all = plan.join(" | ");
                assert!(all.contains("USING INDEX"), "no index for {f:?}: {all}");
                assert!(!all.contains("TEMP B-TREE"), "sorts for {f:?}: {all}");
                assert!(
                    !plan.iter().any(|l| l.trim() == "SCAN request_logs"),
                    "full scan for {f:?}: {all}"
                );
            }
        }

        // Keyset pages: newest first, contiguous, no duplicates.
        let f = LogFilter {
            model: Some("claude".into()),
            ..Default::default()
        };
        let p1 = store.query_logs(&f, None, 100).unwrap();
        assert_eq!(p1.rows.len(), 100);
        assert!(p1.rows.iter().all(|r| r.model.as_deref() == Some("claude")));
        assert!(p1.rows.windows(2).all(|w| w[0].cursor() > w[1].cursor()));
        let next = p1.next.unwrap();
        let p2 = store.query_logs(&f, Some(next), 100).unwrap();
        assert_eq!(p2.rows.len(), 100);
        assert!(p2.rows[0].cursor() < next);
        // The row right after the cursor in id order for this model is the
        // first of page 2: ids of `claude` rows are 3 apart (i % 3 == 1).
        assert_eq!(p2.rows[0].id, p1.rows[99].id - 3);

        let errs = store
            .query_logs(
                &LogFilter {
                    errors_only: true,
                    ..Default::default()
                },
                None,
                MAX_LOG_PAGE + 500,
            )
            .unwrap();
        assert_eq!(errs.rows.len(), MAX_LOG_PAGE);
        assert!(errs.rows.iter().all(|r| r.status >= 400));
    }

    #[test]
    fn last_page_has_no_next() {
        let (_dir, store) = store_with_rows(30);
        let p = store.query_logs(&LogFilter::default(), None, 30).unwrap();
        assert_eq!(p.rows.len(), 30);
        assert!(p.next.is_none());
        let p = store.query_logs(&LogFilter::default(), None, 29).unwrap();
        assert!(p.next.is_some());
        let rest = store.query_logs(&LogFilter::default(), p.next, 29).unwrap();
        assert_eq!(rest.rows.len(), 1);
        assert!(rest.next.is_none());
    }
}

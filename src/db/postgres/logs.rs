//! Request logs, minute stats, health history and retention on PostgreSQL:
//! all their SQL. The request-log writer ([`PgLogWriter`], its own
//! connection `llmo-log-writer`) and the log/stats reads of [`PgStore`].
//!
//! **Writes.** One transaction per batch: the log rows in ONE statement
//! (`INSERT ... SELECT * FROM unnest($1::bigint[], ...)`: one column array
//! per parameter, prepared once per connection, whatever the batch size),
//! the health changes the same way, then the batch's per-minute totals
//! (aggregated in memory by [`BatchTotals`]) as upserts that ADD to what
//! is there (`requests = t.requests + EXCLUDED.requests`, ...), so several
//! replicas writing the same minute sum up instead of overwriting each
//! other; the stats keep only sums, so nothing else needs merging. Keys'
//! last use moves forward only (`GREATEST`, and rows already later are not
//! touched). Upserts go in sorted key order, so two replicas' batches lock
//! the same stats rows in the same order (no deadlock between them; one
//! would be `Busy` and retried anyway).
//!
//! **No duplicates after a broken connection.** A batch's transaction
//! records its id (`pg_current_xact_id()`) first. When `COMMIT` fails the
//! outcome is unknown (the connection broke, or a server shutting down
//! committed and then answered FATAL): the writer keeps that id, and
//! before writing the same batch again (the recorder retries it) asks the
//! server `pg_xact_status(id)`: `committed` means the batch is already in
//! and is not written twice; `aborted` (or a server restarted since, which
//! aborts what was in flight) means it is written again; `in progress`
//! means ask later. An error before `COMMIT` leaves nothing in doubt: the
//! server rolls an unfinished transaction back. A closed connection is
//! reopened on the next call; the recorder paces those calls (backoff).
//!
//! **Retention.** Each chunk's transaction first takes
//! `pg_try_advisory_xact_lock` on a fixed key: with several replicas one
//! prunes at a time, the others skip the table for that run (a chunk
//! answers 0) instead of deleting the same rows and waiting on each other.
use std::hash::{Hash, Hasher};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement};

use super::PgStore;
use crate::db::logs::{
    finite, minute_bucket, BatchTotals, HealthChange, HealthEvent, LogCursor, LogEntry, LogFilter,
    LogRow, ProviderStats, PruneTarget, Sums,
};
use crate::db::{DatabaseError, FaultKind, PgUrl, Result, StoreError};

/// The advisory lock key of retention ("llmoprun" as bytes); the
/// migrations have their own.
const PRUNE_LOCK_KEY: i64 = i64::from_be_bytes(*b"llmoprun");

const INSERT_LOGS: &str = "INSERT INTO request_logs (ts, request_id, key_name, model, provider, \
     upstream_model, attempts, status, error_type, latency_ms, ttfb_ms, upstream_ms, \
     prompt_tokens, completion_tokens, stream, method, path, api, key_prefix) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::float8[], $11::float8[], \
     $12::float8[], $13::bigint[], $14::bigint[], $15::bool[], $16::text[], $17::text[], \
     $18::text[], $19::text[])";

const INSERT_HEALTH: &str = "INSERT INTO provider_health (provider, state, \
     consecutive_failures, last_error, last_success_at, changed_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], \
     $6::bigint[])";

const UPSERT_PROVIDER_STATS: &str = "INSERT INTO provider_stats AS t (provider, bucket, \
     requests, successes, failures, latency_ms_total, tokens_in, tokens_out) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
     $6::float8[], $7::bigint[], $8::bigint[]) \
     ON CONFLICT (provider, bucket) DO UPDATE SET \
     requests = t.requests + EXCLUDED.requests, \
     successes = t.successes + EXCLUDED.successes, \
     failures = t.failures + EXCLUDED.failures, \
     latency_ms_total = t.latency_ms_total + EXCLUDED.latency_ms_total, \
     tokens_in = t.tokens_in + EXCLUDED.tokens_in, \
     tokens_out = t.tokens_out + EXCLUDED.tokens_out";

const UPSERT_MODEL_STATS: &str = "INSERT INTO model_stats AS t (model, bucket, requests, \
     errors, latency_ms_total, tokens_in, tokens_out) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], \
     $5::float8[], $6::bigint[], $7::bigint[]) \
     ON CONFLICT (model, bucket) DO UPDATE SET \
     requests = t.requests + EXCLUDED.requests, \
     errors = t.errors + EXCLUDED.errors, \
     latency_ms_total = t.latency_ms_total + EXCLUDED.latency_ms_total, \
     tokens_in = t.tokens_in + EXCLUDED.tokens_in, \
     tokens_out = t.tokens_out + EXCLUDED.tokens_out";

/// Keys' last use, forward only. `last_used_at` is not among the columns
/// whose update bumps `config_version`.
const TOUCH_KEYS: &str = "UPDATE api_keys AS k SET last_used_at = v.ts \
     FROM unnest($1::text[], $2::bigint[]) AS v(name, ts) \
     WHERE k.name = v.name AND (k.last_used_at IS NULL OR k.last_used_at < v.ts)";

/// The statements of one connection (prepared again after a reconnect).
struct Prepared {
    insert_logs: Statement,
    insert_health: Statement,
    provider_stats: Statement,
    model_stats: Statement,
    touch_keys: Statement,
}

impl Prepared {
    fn new(c: &mut Client) -> Result<Prepared> {
        Ok(Prepared {
            insert_logs: c.prepare(INSERT_LOGS)?,
            insert_health: c.prepare(INSERT_HEALTH)?,
            provider_stats: c.prepare(UPSERT_PROVIDER_STATS)?,
            model_stats: c.prepare(UPSERT_MODEL_STATS)?,
            touch_keys: c.prepare(TOUCH_KEYS)?,
        })
    }
}

/// A batch whose `COMMIT` was sent when the connection broke: its
/// transaction id and which batch it was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InDoubt {
    xid: String,
    batch: u64,
}

/// Tells one batch from another (the recorder retries the same slices).
fn fingerprint(logs: &[LogRow], health: &[HealthChange]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (logs.len(), health.len()).hash(&mut h);
    for r in [logs.first(), logs.last()].into_iter().flatten() {
        (r.ts_ms, &r.request_id).hash(&mut h);
    }
    for c in [health.first(), health.last()].into_iter().flatten() {
        (c.changed_at_ms, &c.provider).hash(&mut h);
    }
    h.finish()
}

fn busy(message: &str) -> StoreError {
    StoreError::Database(DatabaseError::new(
        FaultKind::Busy,
        std::io::Error::other(message.to_string()),
    ))
}

/// The request-log writer's own connection (`llmo-log-writer`).
pub(crate) struct PgLogWriter {
    /// Boxed: the driver's client carries its own runtime, and the
    /// `LogWriter` enum stays the size of its SQLite variant.
    pub(super) client: Box<super::Conn>,
    url: PgUrl,
    prepared: Prepared,
    totals: BatchTotals,
    in_doubt: Option<InDoubt>,
    /// The id of the last batch transaction (tests check the in-doubt path).
    #[cfg(test)]
    last_xid: Option<String>,
}

impl PgLogWriter {
    /// Connects and checks that the schema has the tables (a missing table
    /// fails at start, not on the first request).
    pub(crate) fn open(url: &PgUrl) -> Result<PgLogWriter> {
        let mut client = super::connect(url, "log-writer")?;
        for table in [
            "request_logs",
            "provider_stats",
            "model_stats",
            "provider_health",
            "responses",
        ] {
            let ok: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?
                .get(0);
            if !ok {
                return Err(StoreError::Schema {
                    message: format!(
                        "database `{url}` does not have llmo's request-log schema (no table `{table}`)"
                    ),
                    hint: "run `llmo migrate up` on it first (or open it with `llmo serve`, which migrates)".into(),
                });
            }
        }
        let prepared = Prepared::new(&mut client)?;
        Ok(PgLogWriter {
            client: Box::new(super::Conn::new(client)),
            url: url.clone(),
            prepared,
            totals: BatchTotals::default(),
            in_doubt: None,
            #[cfg(test)]
            last_xid: None,
        })
    }

    /// Reopens the connection if it broke (the server restarted, the
    /// network dropped it); an error says the server cannot be reached.
    pub(super) fn reconnect_if_closed(&mut self) -> Result<()> {
        if self.client.is_closed() {
            let mut client = super::connect(&self.url, "log-writer")?;
            self.prepared = Prepared::new(&mut client)?;
            *self.client = super::Conn::new(client);
            tracing::info!("request-log writer reconnected to the database");
        }
        Ok(())
    }

    /// Writes one batch in one transaction (see
    /// [`crate::db::logs::LogWriter::write_batch`]); a batch whose earlier
    /// commit is in doubt is checked first, never written twice.
    pub(crate) fn write_batch(&mut self, logs: &[LogRow], health: &[HealthChange]) -> Result<()> {
        self.reconnect_if_closed()?;
        let batch = fingerprint(logs, health);
        if let Some(d) = self.in_doubt.take() {
            if d.batch == batch {
                let status: Option<String> = self
                    .client
                    .query_one("SELECT pg_xact_status($1::text::xid8)", &[&d.xid])?
                    .get(0);
                match status.as_deref() {
                    Some("committed") => {
                        tracing::info!(
                            "a request-log batch whose commit was cut off had been written: not writing it again"
                        );
                        return Ok(());
                    }
                    Some("in progress") => {
                        self.in_doubt = Some(d);
                        return Err(busy(
                            "the previous commit of this batch is still in progress",
                        ));
                    }
                    // Aborted, or too old to tell (never within an outage).
                    _ => {}
                }
            }
        }
        self.totals.collect(logs);
        match self.write_tx(logs, health) {
            Ok(()) => Ok(()),
            Err((e, xid)) => {
                // Any failed COMMIT leaves the outcome to be asked: a
                // broken connection says nothing, and a server shutting
                // down (`pg_ctl stop -m fast`) may commit and then answer
                // FATAL 57P01 instead of the commit's success. Asking costs
                // one query on the next try; `aborted` writes it again.
                if let Some(xid) = xid {
                    self.in_doubt = Some(InDoubt { xid, batch });
                }
                Err(e.into())
            }
        }
    }

    /// The batch's transaction. On a failed `COMMIT` the error comes back
    /// with the transaction's id (its outcome may be unknown).
    fn write_tx(
        &mut self,
        logs: &[LogRow],
        health: &[HealthChange],
    ) -> std::result::Result<(), (postgres::Error, Option<String>)> {
        let st = &self.prepared;
        let mut tx = self.client.transaction().map_err(|e| (e, None))?;
        let xid: String = tx
            .query_one("SELECT pg_current_xact_id()::text", &[])
            .map_err(|e| (e, None))?
            .get(0);
        #[cfg(test)]
        {
            self.last_xid = Some(xid.clone());
        }
        let run = |tx: &mut postgres::Transaction<'_>| -> std::result::Result<(), postgres::Error> {
            if !logs.is_empty() {
                insert_logs(tx, &st.insert_logs, logs)?;
            }
            if !health.is_empty() {
                insert_health(tx, &st.insert_health, health)?;
            }
            upsert_totals(tx, st, &self.totals)?;
            Ok(())
        };
        run(&mut tx).map_err(|e| (e, None))?;
        tx.commit().map_err(|e| (e, Some(xid)))
    }

    /// Deletes at most `limit` rows of `target` older than `cutoff_ms`, in
    /// a transaction that holds retention's advisory lock; 0 when another
    /// replica is pruning.
    pub(crate) fn prune_chunk(
        &mut self,
        target: PruneTarget,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<usize> {
        self.reconnect_if_closed()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.client.transaction()?;
        let mine: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK_KEY])?
            .get(0);
        if !mine {
            return Ok(0);
        }
        let bucket = minute_bucket(cutoff_ms);
        let n = match target {
            PruneTarget::RequestLogs => tx.execute(
                "DELETE FROM request_logs WHERE id IN \
                 (SELECT id FROM request_logs WHERE ts < $1 ORDER BY ts LIMIT $2)",
                &[&cutoff_ms, &limit],
            )?,
            PruneTarget::ProviderStats => tx.execute(
                "DELETE FROM provider_stats WHERE ctid = ANY(ARRAY( \
                 SELECT ctid FROM provider_stats WHERE bucket < $1 LIMIT $2))",
                &[&bucket, &limit],
            )?,
            PruneTarget::ModelStats => tx.execute(
                "DELETE FROM model_stats WHERE ctid = ANY(ARRAY( \
                 SELECT ctid FROM model_stats WHERE bucket < $1 LIMIT $2))",
                &[&bucket, &limit],
            )?,
            PruneTarget::ProviderHealth => tx.execute(
                "DELETE FROM provider_health WHERE id IN \
                 (SELECT id FROM provider_health WHERE changed_at < $1 AND id NOT IN \
                  (SELECT max(id) FROM provider_health GROUP BY provider) LIMIT $2)",
                &[&cutoff_ms, &limit],
            )?,
            PruneTarget::Responses => {
                let n = super::responses::prune_chunk(&mut tx, cutoff_ms, limit)?;
                u64::try_from(n).unwrap_or(u64::MAX)
            }
        };
        tx.commit()?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Test hook: pretend the last batch's commit was cut off.
    #[cfg(test)]
    pub(crate) fn pretend_in_doubt(&mut self, xid: &str, logs: &[LogRow]) {
        self.in_doubt = Some(InDoubt {
            xid: xid.to_string(),
            batch: fingerprint(logs, &[]),
        });
    }

    #[cfg(test)]
    pub(crate) fn last_xid(&self) -> Option<String> {
        self.last_xid.clone()
    }
}

/// The rows as column arrays, in one statement.
fn insert_logs(
    tx: &mut impl GenericClient,
    st: &Statement,
    logs: &[LogRow],
) -> std::result::Result<u64, postgres::Error> {
    let col = |f: fn(&LogRow) -> Option<&str>| logs.iter().map(f).collect::<Vec<_>>();
    let ts: Vec<i64> = logs.iter().map(|r| r.ts_ms).collect();
    let request_id: Vec<&str> = logs.iter().map(|r| r.request_id.as_str()).collect();
    let attempts: Vec<i64> = logs.iter().map(|r| i64::from(r.attempts)).collect();
    let status: Vec<i64> = logs.iter().map(|r| i64::from(r.status)).collect();
    let latency: Vec<f64> = logs.iter().map(|r| finite(r.latency_ms)).collect();
    let ttfb: Vec<Option<f64>> = logs.iter().map(|r| r.ttfb_ms.map(finite)).collect();
    let upstream: Vec<Option<f64>> = logs.iter().map(|r| r.upstream_ms.map(finite)).collect();
    let prompt: Vec<Option<i64>> = logs
        .iter()
        .map(|r| r.prompt_tokens.map(i64::from))
        .collect();
    let completion: Vec<Option<i64>> = logs
        .iter()
        .map(|r| r.completion_tokens.map(i64::from))
        .collect();
    let stream: Vec<bool> = logs.iter().map(|r| r.stream).collect();
    tx.execute(
        st,
        &[
            &ts,
            &request_id,
            &col(|r| r.key_name.as_deref()),
            &col(|r| r.model.as_deref()),
            &col(|r| r.provider.as_deref()),
            &col(|r| r.upstream_model.as_deref()),
            &attempts,
            &status,
            &col(|r| r.error_type),
            &latency,
            &ttfb,
            &upstream,
            &prompt,
            &completion,
            &stream,
            &col(|r| r.method.as_deref()),
            &col(|r| r.path.as_deref()),
            &col(|r| r.api),
            &col(|r| r.key_prefix.as_deref()),
        ],
    )
}

fn insert_health(
    tx: &mut impl GenericClient,
    st: &Statement,
    health: &[HealthChange],
) -> std::result::Result<u64, postgres::Error> {
    let provider: Vec<&str> = health.iter().map(|h| h.provider.as_str()).collect();
    let state: Vec<&str> = health.iter().map(|h| h.state).collect();
    let failures: Vec<i64> = health
        .iter()
        .map(|h| i64::from(h.consecutive_failures))
        .collect();
    let error: Vec<Option<&str>> = health.iter().map(|h| h.last_error.as_deref()).collect();
    let success: Vec<Option<i64>> = health.iter().map(|h| h.last_success_ms).collect();
    let at: Vec<i64> = health.iter().map(|h| h.changed_at_ms).collect();
    tx.execute(st, &[&provider, &state, &failures, &error, &success, &at])
}

/// The batch's per-minute totals and keys' last use, each in one
/// statement, in sorted key order (the same lock order on every replica).
fn upsert_totals(
    tx: &mut impl GenericClient,
    st: &Prepared,
    totals: &BatchTotals,
) -> std::result::Result<(), postgres::Error> {
    for (stmt, map, with_successes) in [
        (&st.provider_stats, &totals.providers, true),
        (&st.model_stats, &totals.models, false),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut rows: Vec<(&str, i64, &Sums)> =
            map.iter().map(|((n, b), s)| (&**n, *b, s)).collect();
        rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let name: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let bucket: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let sum = |f: fn(&Sums) -> i64| rows.iter().map(|r| f(r.2)).collect::<Vec<i64>>();
        let requests = sum(|s| s.requests);
        let successes = sum(|s| s.successes);
        let errors = sum(|s| s.errors);
        let tokens_in = sum(|s| s.tokens_in);
        let tokens_out = sum(|s| s.tokens_out);
        let latency: Vec<f64> = rows.iter().map(|r| r.2.latency_ms_total).collect();
        if with_successes {
            tx.execute(
                stmt,
                &[
                    &name,
                    &bucket,
                    &requests,
                    &successes,
                    &errors,
                    &latency,
                    &tokens_in,
                    &tokens_out,
                ],
            )?;
        } else {
            tx.execute(
                stmt,
                &[
                    &name,
                    &bucket,
                    &requests,
                    &errors,
                    &latency,
                    &tokens_in,
                    &tokens_out,
                ],
            )?;
        }
    }
    if !totals.keys.is_empty() {
        let mut keys: Vec<(&str, i64)> = totals.keys.iter().map(|(k, t)| (&**k, *t)).collect();
        keys.sort_unstable();
        let name: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let ts: Vec<i64> = keys.iter().map(|k| k.1).collect();
        tx.execute(&st.touch_keys, &[&name, &ts])?;
    }
    Ok(())
}

const LOG_COLS: &str = "id, ts, request_id, key_name, model, provider, upstream_model, attempts, \
     status, error_type, latency_ms, ttfb_ms, upstream_ms, prompt_tokens, completion_tokens, stream, \
     method, path, api, key_prefix";

fn small<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

fn log_from_row(r: &Row) -> LogEntry {
    LogEntry {
        id: r.get(0),
        ts_ms: r.get(1),
        request_id: r.get(2),
        key_name: r.get(3),
        model: r.get(4),
        provider: r.get(5),
        upstream_model: r.get(6),
        attempts: small(r.get(7)),
        status: small(r.get(8)),
        error_type: r.get(9),
        latency_ms: r.get(10),
        ttfb_ms: r.get(11),
        upstream_ms: r.get(12),
        prompt_tokens: r.get::<_, Option<i64>>(13).map(small),
        completion_tokens: r.get::<_, Option<i64>>(14).map(small),
        stream: r.get(15),
        method: r.get(16),
        path: r.get(17),
        api: r.get(18),
        key_prefix: r.get(19),
    }
}

type Args = Vec<Box<dyn ToSql + Sync>>;

/// Builds the page query (only the filters that are set appear), with its
/// parameters: newest first on `(ts, id)`, the cursor as a row comparison
/// under a `ts` bound so the `(ts)` index bounds the scan.
fn page_query(filter: &LogFilter, cursor: Option<LogCursor>, limit: usize) -> (String, Args) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Args = Vec::new();
    let mut arg = |v: Box<dyn ToSql + Sync>| {
        args.push(v);
        format!("${}", args.len())
    };
    for (col, v) in [
        ("model", &filter.model),
        ("provider", &filter.provider),
        ("key_name", &filter.key_name),
        ("api", &filter.api),
        ("error_type", &filter.error_type),
    ] {
        if let Some(v) = v {
            conds.push(format!("{col} = {}", arg(Box::new(v.clone()))));
        }
    }
    if let Some(s) = filter.status {
        conds.push(format!("status = {}", arg(Box::new(i64::from(s)))));
    }
    if filter.errors_only {
        conds.push("status >= 400".into());
    }
    if let Some(t) = filter.since_ms {
        conds.push(format!("ts >= {}", arg(Box::new(t))));
    }
    if let Some(t) = filter.until_ms {
        conds.push(format!("ts < {}", arg(Box::new(t))));
    }
    if let Some(c) = cursor {
        let ts = arg(Box::new(c.ts_ms));
        let id = arg(Box::new(c.id));
        conds.push(format!("ts <= {ts} AND (ts, id) < ({ts}, {id})"));
    }
    let limit = arg(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut sql = format!("SELECT {LOG_COLS} FROM request_logs");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY ts DESC, id DESC LIMIT {limit}"));
    (sql, args)
}

fn refs(args: &Args) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect()
}

const HEALTH_COLS: &str =
    "provider, state, consecutive_failures, last_error, last_success_at, changed_at";

fn health_from_row(r: &Row) -> HealthEvent {
    HealthEvent {
        provider: r.get(0),
        state: r.get(1),
        consecutive_failures: small(r.get(2)),
        last_error: r.get(3),
        last_success_ms: r.get(4),
        changed_at_ms: r.get(5),
    }
}

impl PgStore {
    /// Up to `limit` rows matching `filter` after `cursor`, newest first.
    pub(crate) fn log_rows(
        &self,
        filter: &LogFilter,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let (sql, args) = page_query(filter, cursor, limit);
        let rows = self.conn().query(&sql, &refs(&args))?;
        Ok(rows.iter().map(log_from_row).collect())
    }

    /// PostgreSQL's plan for a page query, one line per step.
    pub(crate) fn explain_log_rows(
        &self,
        filter: &LogFilter,
        cursor: Option<LogCursor>,
    ) -> Result<Vec<String>> {
        let (sql, args) = page_query(filter, cursor, 51);
        let rows = self.conn().query(&format!("EXPLAIN {sql}"), &refs(&args))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Per-provider totals over the minute buckets `first..=last`, sorted
    /// by name byte-wise (as on SQLite, whatever the database's collation).
    pub(crate) fn stats_by_provider(&self, first: i64, last: i64) -> Result<Vec<ProviderStats>> {
        let rows = self.conn().query(
            "SELECT provider, sum(requests)::bigint, sum(successes)::bigint, \
             sum(failures)::bigint, sum(latency_ms_total), sum(tokens_in)::bigint, \
             sum(tokens_out)::bigint \
             FROM provider_stats WHERE bucket >= $1 AND bucket <= $2 \
             GROUP BY provider ORDER BY provider COLLATE \"C\"",
            &[&first, &last],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let sums = Sums {
                    requests: r.get(1),
                    successes: r.get(2),
                    errors: r.get(3),
                    latency_ms_total: r.get(4),
                    tokens_in: r.get(5),
                    tokens_out: r.get(6),
                };
                ProviderStats::new(r.get(0), sums)
            })
            .collect())
    }

    /// The newest circuit-breaker changes, newest first: of one provider, or
    /// of all when `provider` is `None`.
    pub(crate) fn recent_health(
        &self,
        provider: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match provider {
            Some(p) => self.conn().query(
                &format!(
                    "SELECT {HEALTH_COLS} FROM provider_health WHERE provider = $1 \
                     ORDER BY changed_at DESC, id DESC LIMIT $2"
                ),
                &[&p, &limit],
            )?,
            None => self.conn().query(
                &format!(
                    "SELECT {HEALTH_COLS} FROM provider_health \
                     ORDER BY changed_at DESC, id DESC LIMIT $1"
                ),
                &[&limit],
            )?,
        };
        Ok(rows.iter().map(health_from_row).collect())
    }

    /// Each provider's latest recorded circuit state (sorted by provider).
    pub(crate) fn latest_health(&self) -> Result<Vec<HealthEvent>> {
        let rows = self.conn().query(
            &format!(
                "SELECT {HEALTH_COLS} FROM provider_health WHERE id IN \
                 (SELECT max(id) FROM provider_health GROUP BY provider) \
                 ORDER BY provider COLLATE \"C\""
            ),
            &[],
        )?;
        Ok(rows.iter().map(health_from_row).collect())
    }

    pub(crate) fn count_logs(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_one("SELECT count(*) FROM request_logs", &[])?
            .get(0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::PgLogWriter;
    use crate::db::logs::{LogRow, LogWriter, PruneTarget};
    use crate::db::tests::{log_row, open_pg_temp, open_sqlite_temp, TestStore, BASE_MS};
    use crate::db::Store;

    fn pg_writer(t: &TestStore) -> PgLogWriter {
        match t.writer() {
            LogWriter::Postgres(w) => w,
            LogWriter::Sqlite(_) => unreachable!("a PostgreSQL store"),
        }
    }

    fn raw(t: &TestStore) -> std::sync::MutexGuard<'_, super::super::Conn> {
        match &t.store {
            Store::Postgres(s) => s.conn(),
            Store::Sqlite(_) => unreachable!("a PostgreSQL store"),
        }
    }

    fn rows(from: usize, n: usize) -> Vec<LogRow> {
        (from..from + n)
            .map(|i| log_row(BASE_MS + i as i64, i))
            .collect()
    }

    /// A batch whose COMMIT was cut off is looked up before it is written
    /// again: committed means not twice; aborted means written; a doubt
    /// about another batch does not stop this one.
    #[test]
    fn a_batch_in_doubt_is_written_exactly_once() {
        let Some(t) = open_pg_temp() else { return };
        let mut w = pg_writer(&t);
        let a = rows(0, 10);
        w.write_batch(&a, &[]).unwrap();
        let committed = w.last_xid().unwrap();
        w.pretend_in_doubt(&committed, &a);
        w.write_batch(&a, &[]).unwrap();
        assert_eq!(t.store.count_logs().unwrap(), 10, "written twice");

        let aborted: String = {
            let mut c = raw(&t);
            let mut tx = c.transaction().unwrap();
            let x = tx
                .query_one("SELECT pg_current_xact_id()::text", &[])
                .unwrap()
                .get(0);
            tx.rollback().unwrap();
            x
        };
        let b = rows(10, 5);
        w.pretend_in_doubt(&aborted, &b);
        w.write_batch(&b, &[]).unwrap();
        assert_eq!(
            t.store.count_logs().unwrap(),
            15,
            "an aborted batch is written"
        );

        let c = rows(15, 5);
        w.pretend_in_doubt(&committed, &a);
        w.write_batch(&c, &[]).unwrap();
        assert_eq!(t.store.count_logs().unwrap(), 20);
    }

    /// Two replicas' writers upserting the same minutes at once: the
    /// per-minute totals are the sums of both, nothing overwritten.
    #[test]
    fn writers_of_two_replicas_add_up_the_same_minutes() {
        let Some(t) = open_pg_temp() else { return };
        let (batches, per) = (40, 50);
        std::thread::scope(|s| {
            for w in 0..2 {
                let mut writer = t.writer();
                s.spawn(move || {
                    for b in 0..batches {
                        let batch = rows((w * batches + b) * per, per);
                        // A deadlock or serialization failure is `Busy`:
                        // the recorder retries it; so does this test.
                        let mut tries = 0;
                        while let Err(e) = writer.write_batch(&batch, &[]) {
                            assert!(e.is_busy() && tries < 5, "{e}");
                            tries += 1;
                        }
                    }
                });
            }
        });
        let total = (2 * batches * per) as i64;
        assert_eq!(t.store.count_logs().unwrap(), total);
        let to = BASE_MS + total + 60_000;
        let by_provider = t.store.stats_by_provider(BASE_MS, to).unwrap();
        assert_eq!(by_provider.iter().map(|p| p.requests).sum::<i64>(), total);
        assert_eq!(
            by_provider.iter().map(|p| p.tokens_in).sum::<i64>(),
            total * 10
        );
        assert_eq!(
            by_provider.iter().map(|p| p.errors).sum::<i64>(),
            total / 10
        );
        let by_model = t.store.stats_by_model(BASE_MS, to).unwrap();
        assert_eq!(by_model.iter().map(|m| m.requests).sum::<i64>(), total);
        for m in &by_model {
            assert_eq!(m.avg_latency_ms, 12.5, "{m:?}");
        }
    }

    /// Retention takes an advisory lock per chunk: while another replica
    /// holds it, this one deletes nothing; then it prunes.
    #[test]
    fn one_replica_prunes_at_a_time() {
        let Some(t) = open_pg_temp() else { return };
        let mut w = pg_writer(&t);
        w.write_batch(&rows(0, 20), &[]).unwrap();
        let cutoff = BASE_MS + 1_000;
        {
            let mut c = raw(&t);
            let mut other = c.transaction().unwrap();
            other
                .execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[&super::PRUNE_LOCK_KEY],
                )
                .unwrap();
            assert_eq!(
                w.prune_chunk(PruneTarget::RequestLogs, cutoff, 100)
                    .unwrap(),
                0
            );
            other.rollback().unwrap();
        }
        assert_eq!(
            w.prune_chunk(PruneTarget::RequestLogs, cutoff, 100)
                .unwrap(),
            20
        );
    }

    /// The log writer's rows/s on PostgreSQL beside SQLite (printed; run
    /// with `LLMO_TEST_PG_URL` set and `--ignored --nocapture`).
    #[test]
    #[ignore = "benchmark: prints the log writer's rows/s on both engines"]
    fn writer_rows_per_second_on_both_engines() {
        let (n, batch) = (200_000, 4096);
        let all = rows(0, n);
        let run = |t: &TestStore| -> Duration {
            let mut w = t.writer();
            let started = Instant::now();
            for chunk in all.chunks(batch) {
                w.write_batch(chunk, &[]).unwrap();
            }
            let took = started.elapsed();
            assert_eq!(t.store.count_logs().unwrap(), n as i64);
            took
        };
        let sqlite = run(&open_sqlite_temp());
        println!(
            "log writer, {n} rows in batches of {batch}: SQLite {:.0} rows/s",
            n as f64 / sqlite.as_secs_f64()
        );
        if let Some(t) = open_pg_temp() {
            let pg = run(&t);
            println!(
                "log writer, {n} rows in batches of {batch}: PostgreSQL {:.0} rows/s",
                n as f64 / pg.as_secs_f64()
            );
        }
    }
}

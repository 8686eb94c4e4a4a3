//! Request logs, minute stats, health history and retention on PostgreSQL:
//! the request-log writer ([`PgLogWriter`], its own connection) and the
//! log/stats reads. (Skeleton: the bodies that answer "not yet on
//! PostgreSQL" are filled in by the request-log work.)
use crate::db::logs::{
    HealthChange, HealthEvent, LogCursor, LogEntry, LogFilter, LogRow, ProviderStats, PruneTarget,
};
use crate::db::{PgUrl, Result, StoreError};

use super::PgStore;

pub(super) fn not_yet<T>() -> Result<T> {
    Err(StoreError::Migration("not yet on PostgreSQL".into()))
}

/// The request-log writer's own connection (`llmo-log-writer`).
pub(crate) struct PgLogWriter {
    pub(super) client: postgres::Client,
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
        Ok(PgLogWriter { client })
    }

    pub(crate) fn write_batch(&mut self, _logs: &[LogRow], _health: &[HealthChange]) -> Result<()> {
        not_yet()
    }

    pub(crate) fn prune_chunk(
        &mut self,
        _target: PruneTarget,
        _cutoff_ms: i64,
        _limit: usize,
    ) -> Result<usize> {
        not_yet()
    }
}

impl PgStore {
    pub(crate) fn log_rows(
        &self,
        _filter: &LogFilter,
        _cursor: Option<LogCursor>,
        _limit: usize,
    ) -> Result<Vec<LogEntry>> {
        not_yet()
    }

    pub(crate) fn explain_log_rows(
        &self,
        _filter: &LogFilter,
        _cursor: Option<LogCursor>,
    ) -> Result<Vec<String>> {
        not_yet()
    }

    pub(crate) fn stats_by_provider(&self, _first: i64, _last: i64) -> Result<Vec<ProviderStats>> {
        not_yet()
    }

    pub(crate) fn recent_health(
        &self,
        _provider: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<HealthEvent>> {
        not_yet()
    }

    pub(crate) fn latest_health(&self) -> Result<Vec<HealthEvent>> {
        not_yet()
    }

    pub(crate) fn count_logs(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_one("SELECT count(*) FROM request_logs", &[])?
            .get(0))
    }
}

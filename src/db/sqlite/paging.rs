//! Paged, searchable catalog lists on SQLite (see `db/paging.rs`): keyset
//! pages in name order over each table's unique name index, the search a
//! test on the name (`instr(lower(name), ?)`; `q` arrives lowercased); and
//! the scan bound of log filters no index serves (`log_scan_floor`).
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::catalog::{
    client_key_from_row, model_from_row, provider_from_row, CLIENT_KEY_COLS, PROVIDER_COLS,
};
use super::SqliteStore;
use crate::catalog::ModelView;
use crate::db::catalog::ClientKey;
use crate::db::paging::{ListQuery, ProviderItem};
use crate::db::Result;

/// `SELECT {cols} FROM {table}` with the page's conditions, in name order,
/// `fetch` rows; returned with its parameters. Only the conditions that are
/// set appear, so SQLite walks the name index from `after`.
fn page_sql(cols: &str, table: &str, q: &ListQuery, fetch: usize) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {cols} FROM {table}");
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(a) = &q.after {
        conds.push("name > ?");
        args.push(Value::Text(a.clone()));
    }
    if let Some(s) = &q.q {
        conds.push("instr(lower(name), ?) > 0");
        args.push(Value::Text(s.clone()));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY name LIMIT ?");
    args.push(Value::Integer(i64::try_from(fetch).unwrap_or(i64::MAX)));
    (sql, args)
}

impl SqliteStore {
    pub(crate) fn keys_page(&self, q: &ListQuery, fetch: usize) -> Result<Vec<ClientKey>> {
        let (sql, args) = page_sql(CLIENT_KEY_COLS, "api_keys", q, fetch);
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args), client_key_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub(crate) fn explain_keys_page(&self, q: &ListQuery) -> Result<Vec<String>> {
        let (sql, args) = page_sql(CLIENT_KEY_COLS, "api_keys", q, q.limit + 1);
        let mut st = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = st.query_map(params_from_iter(args), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A page of models; each one's mappings with one indexed query (the
    /// primary key of `model_providers` starts with the model).
    pub(crate) fn models_page(&self, q: &ListQuery, fetch: usize) -> Result<Vec<ModelView>> {
        let (sql, args) = page_sql(
            "id, name, description, enabled, created_at, updated_at",
            "models",
            q,
            fetch,
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let models = st
            .query_map(params_from_iter(args), model_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        self.with_mappings(models)
    }

    /// A page of providers, each with its first `models` model names and
    /// its number of models (both through `model_providers_by_provider`).
    pub(crate) fn providers_page(
        &self,
        q: &ListQuery,
        fetch: usize,
        models: usize,
    ) -> Result<Vec<ProviderItem>> {
        let (sql, args) = page_sql(PROVIDER_COLS, "providers", q, fetch);
        let mut st = self.conn.prepare_cached(&sql)?;
        let providers = st
            .query_map(params_from_iter(args), provider_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut names = self.conn.prepare_cached(
            "SELECT m.name FROM model_providers mp JOIN models m ON m.id = mp.model_id
             WHERE mp.provider_id = ?1 ORDER BY m.name LIMIT ?2",
        )?;
        let mut count = self
            .conn
            .prepare_cached("SELECT count(*) FROM model_providers WHERE provider_id = ?1")?;
        let limit = i64::try_from(models).unwrap_or(i64::MAX);
        let mut out = Vec::with_capacity(providers.len());
        for provider in providers {
            let models = names
                .query_map(params![provider.id, limit], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let model_count: i64 = count.query_row([provider.id], |r| r.get(0))?;
            out.push(ProviderItem {
                provider,
                models,
                model_count: usize::try_from(model_count).unwrap_or(0),
            });
        }
        Ok(out)
    }
}

/// The scan bound of a log page (see `db::logs::LOG_SCAN_ROWS`): the
/// timestamp of the `budget`-th row, newest first, of the time range below
/// the cursor's millisecond; `None` when the range holds fewer rows. Reads
/// the `(ts)` index only (it holds the rowid: no table access).
fn scan_floor_sql(
    since: Option<i64>,
    until: Option<i64>,
    below: Option<i64>,
) -> (String, Vec<Value>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    for (cond, v) in [("ts >= ?", since), ("ts < ?", until), ("ts <= ?", below)] {
        if let Some(v) = v {
            conds.push(cond);
            args.push(Value::Integer(v));
        }
    }
    let mut sql = "SELECT ts FROM request_logs".to_string();
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY ts DESC LIMIT 1 OFFSET ?");
    (sql, args)
}

impl SqliteStore {
    pub(crate) fn log_scan_floor(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        below: Option<i64>,
        budget: usize,
    ) -> Result<Option<i64>> {
        let (sql, mut args) = scan_floor_sql(since, until, below);
        args.push(Value::Integer(
            i64::try_from(budget.saturating_sub(1)).unwrap_or(i64::MAX),
        ));
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st
            .query_row(params_from_iter(args), |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn explain_log_scan_floor(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        below: Option<i64>,
    ) -> Result<Vec<String>> {
        let (sql, mut args) = scan_floor_sql(since, until, below);
        args.push(Value::Integer(0));
        let mut st = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = st.query_map(params_from_iter(args), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::db::tests::{fill, open_sqlite_temp};
    use crate::db::Store;

    /// The request-log writer's throughput with the indexes it has (ts;
    /// status, ts) and with the per-column ones V2 dropped (model, provider,
    /// key, each with ts): what exact log filters would cost every row.
    #[test]
    #[ignore = "benchmark: cargo test --profile bench-tests --lib writer_throughput -- --ignored --nocapture"]
    fn writer_throughput_with_and_without_filter_indexes() {
        const N: usize = 300_000;
        for extra in [false, true] {
            let t = open_sqlite_temp();
            if extra {
                let Store::Sqlite(s) = &t.store else {
                    unreachable!()
                };
                s.conn
                    .execute_batch(
                        "CREATE INDEX x_model ON request_logs (model, ts);
                         CREATE INDEX x_provider ON request_logs (provider, ts);
                         CREATE INDEX x_key ON request_logs (key_name, ts);",
                    )
                    .unwrap();
            }
            // Half first, so the second half lands on non-empty B-trees.
            fill(&t, N / 2);
            let start = Instant::now();
            fill(&t, N / 2);
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "writer, {} indexes: {:.0} rows/s",
                if extra { "5" } else { "2" },
                (N / 2) as f64 / secs
            );
        }
    }
}

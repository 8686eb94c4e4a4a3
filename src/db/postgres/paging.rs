//! Paged, searchable catalog lists on PostgreSQL (see `db/paging.rs`), the
//! same shape as `sqlite/paging.rs`: keyset pages in name order over each
//! table's unique name index (`name > $1 ORDER BY name LIMIT n`, an index
//! range in the database's collation), the search a test on the name
//! (`strpos(lower(name), $2) > 0`; `q` arrives lowercased) made while
//! walking that index; and the scan bound of log filters no index serves
//! (`log_scan_floor`).
use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::Row;

use super::PgStore;
use crate::catalog::{MappingView, ModelView, Provider};
use crate::db::catalog::ClientKey;
use crate::db::paging::{ListQuery, ProviderItem};
use crate::db::Result;
use crate::secret::Secret;
use crate::time::rfc3339;

/// `SELECT {cols} FROM {table}` with the page's conditions, in name order,
/// `fetch` rows; returned with its parameters.
fn page_sql(
    cols: &str,
    table: &str,
    q: &ListQuery,
    fetch: usize,
) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let mut conds = Vec::new();
    let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    if let Some(a) = &q.after {
        args.push(Box::new(a.clone()));
        conds.push(format!("name > ${}", args.len()));
    }
    if let Some(s) = &q.q {
        args.push(Box::new(s.clone()));
        conds.push(format!("strpos(lower(name), ${}) > 0", args.len()));
    }
    let mut sql = format!("SELECT {cols} FROM {table}");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    args.push(Box::new(i64::try_from(fetch).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY name LIMIT ${}", args.len()));
    (sql, args)
}

fn refs(args: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect()
}

const KEY_COLS: &str =
    "name, key_hash, prefix, rpm_limit, allowed_models, created_at, last_used_at, revoked_at";

fn key_from_row(r: &Row) -> Result<ClientKey> {
    let models: Option<String> = r.try_get(4)?;
    Ok(ClientKey {
        name: r.try_get(0)?,
        key_hash: r.try_get(1)?,
        prefix: r.try_get(2)?,
        rpm_limit: r.try_get(3)?,
        models: models.and_then(|m| serde_json::from_str(&m).ok()),
        created_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
    })
}

const PROVIDER_COLS: &str = "id, name, kind, base_url, api_key, api_key_env, priority, weight, \
     max_retries, timeout_ms, rate_limit_rpm, enabled, created_at, updated_at";

fn provider_from_row(r: &Row) -> Result<Provider> {
    let kind: String = r.try_get(2)?;
    Ok(Provider {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: kind
            .parse()
            .unwrap_or(crate::catalog::ProviderKind::OpenAiCompatible),
        base_url: r.try_get(3)?,
        api_key: r.try_get::<_, Option<String>>(4)?.map(Secret::new),
        api_key_env: r.try_get(5)?,
        priority: r.try_get(6)?,
        weight: r.try_get(7)?,
        max_retries: r.try_get(8)?,
        timeout_ms: r.try_get(9)?,
        rate_limit_rpm: r.try_get(10)?,
        enabled: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

impl PgStore {
    pub(crate) fn keys_page(&self, q: &ListQuery, fetch: usize) -> Result<Vec<ClientKey>> {
        let (sql, args) = page_sql(KEY_COLS, "api_keys", q, fetch);
        let rows = self.conn().query(&sql, &refs(&args))?;
        rows.iter().map(key_from_row).collect()
    }

    pub(crate) fn explain_keys_page(&self, q: &ListQuery) -> Result<Vec<String>> {
        let (sql, args) = page_sql(KEY_COLS, "api_keys", q, q.limit + 1);
        let rows = self.conn().query(&format!("EXPLAIN {sql}"), &refs(&args))?;
        rows.iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect()
    }

    /// A page of models; their mappings in one query for the whole page.
    pub(crate) fn models_page(&self, q: &ListQuery, fetch: usize) -> Result<Vec<ModelView>> {
        let (sql, args) = page_sql(
            "id, name, description, enabled, created_at, updated_at",
            "models",
            q,
            fetch,
        );
        let mut conn = self.conn();
        let rows = conn.query(&sql, &refs(&args))?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            ids.push(r.try_get::<_, i64>(0)?);
            out.push(ModelView {
                name: r.try_get(1)?,
                description: r.try_get(2)?,
                enabled: r.try_get(3)?,
                providers: Vec::new(),
                created_at: rfc3339(r.try_get(4)?),
                updated_at: rfc3339(r.try_get(5)?),
            });
        }
        let maps = conn.query(
            "SELECT mp.model_id, p.name, mp.upstream_model, mp.priority, mp.weight, mp.enabled
             FROM model_providers mp JOIN providers p ON p.id = mp.provider_id
             WHERE mp.model_id = ANY($1)
             ORDER BY mp.model_id, coalesce(mp.priority, p.priority), p.name",
            &[&ids],
        )?;
        let at: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        for m in &maps {
            if let Some(&i) = at.get(&m.try_get::<_, i64>(0)?) {
                out[i].providers.push(MappingView {
                    provider: m.try_get(1)?,
                    upstream_model: m.try_get(2)?,
                    priority: m.try_get(3)?,
                    weight: m.try_get(4)?,
                    enabled: m.try_get(5)?,
                });
            }
        }
        Ok(out)
    }

    /// A page of providers, each with its first `models` model names and
    /// its number of models (through `model_providers_by_provider`).
    pub(crate) fn providers_page(
        &self,
        q: &ListQuery,
        fetch: usize,
        models: usize,
    ) -> Result<Vec<ProviderItem>> {
        let (sql, args) = page_sql(PROVIDER_COLS, "providers", q, fetch);
        let mut conn = self.conn();
        let providers = conn
            .query(&sql, &refs(&args))?
            .iter()
            .map(provider_from_row)
            .collect::<Result<Vec<_>>>()?;
        let names = conn.prepare(
            "SELECT m.name FROM model_providers mp JOIN models m ON m.id = mp.model_id
             WHERE mp.provider_id = $1 ORDER BY m.name LIMIT $2",
        )?;
        let count = conn.prepare("SELECT count(*) FROM model_providers WHERE provider_id = $1")?;
        let limit = i64::try_from(models).unwrap_or(i64::MAX);
        let mut out = Vec::with_capacity(providers.len());
        for provider in providers {
            let models = conn
                .query(&names, &[&provider.id, &limit])?
                .iter()
                .map(|r| Ok(r.try_get::<_, String>(0)?))
                .collect::<Result<Vec<_>>>()?;
            let model_count: i64 = conn.query_one(&count, &[&provider.id])?.try_get(0)?;
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
/// the cursor's millisecond; `None` when the range holds fewer rows. An
/// index-only scan of `request_logs_by_ts` (once the table is vacuumed).
fn scan_floor_sql(
    since: Option<i64>,
    until: Option<i64>,
    below: Option<i64>,
) -> (String, Vec<i64>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    for (op, v) in [(">=", since), ("<", until), ("<=", below)] {
        if let Some(v) = v {
            args.push(v);
            conds.push(format!("ts {op} ${}", args.len()));
        }
    }
    let mut sql = "SELECT ts FROM request_logs".to_string();
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY ts DESC LIMIT 1 OFFSET ${}",
        args.len() + 1
    ));
    (sql, args)
}

impl PgStore {
    pub(crate) fn log_scan_floor(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        below: Option<i64>,
        budget: usize,
    ) -> Result<Option<i64>> {
        let (sql, mut args) = scan_floor_sql(since, until, below);
        args.push(i64::try_from(budget.saturating_sub(1)).unwrap_or(i64::MAX));
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let row = self.conn().query_opt(&sql, &params)?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub(crate) fn explain_log_scan_floor(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        below: Option<i64>,
    ) -> Result<Vec<String>> {
        let (sql, mut args) = scan_floor_sql(since, until, below);
        args.push(0);
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.conn().query(&format!("EXPLAIN {sql}"), &params)?;
        rows.iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect()
    }
}

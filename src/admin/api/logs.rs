//! `/admin/logs`: request logs, newest first, keyset-paginated and filtered
//! by the query string.
use serde_json::json;

use super::decode::Query;
use super::reply::{bad, ok, with_store, Reply};
use crate::admin::Admin;
use crate::db::logs::{LogCursor, LogFilter, MAX_LOG_PAGE};

const DEFAULT_PAGE: usize = 50;

pub(super) async fn list(admin: &Admin, query: &Query) -> Reply {
    let int = |k: &str| query.int(k, "a whole number");
    let status = int("status")?
        .map(|s| u16::try_from(s).map_err(|_| bad("status", "`status` must be an HTTP status")))
        .transpose()?;
    let filter = LogFilter {
        model: query.text("model"),
        provider: query.text("provider"),
        key_name: query.text("key"),
        status,
        errors_only: query.flag("errors"),
        since_ms: int("from")?,
        until_ms: int("to")?,
    };
    let cursor = query
        .text("cursor")
        .map(|c| c.parse::<LogCursor>().map_err(|e| bad("cursor", e.message)))
        .transpose()?;
    let limit = match int("limit")? {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_LOG_PAGE as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(bad(
                "limit",
                format!("`limit` must be between 1 and {MAX_LOG_PAGE} (got {n})"),
            ))
        }
    };
    let page = with_store(admin, move |s| s.query_logs(&filter, cursor, limit)).await?;
    ok(json!({ "data": page.rows, "next": page.next }))
}

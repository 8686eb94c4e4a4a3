//! `/admin/logs`: request logs, newest first, keyset-paginated and filtered
//! by the query string. A filter no index serves in time order (model,
//! provider, key, errors, api, error type) reads at most
//! [`LOG_SCAN_ROWS`] rows per page: a page that stops there before it is
//! full says so (`complete: false`, `scanned_until`, a `message`), and its
//! `next` searches on further back.
use serde_json::json;

use super::decode::Query;
use super::reply::{bad, ok, with_store, Reply};
use crate::admin::Admin;
use crate::db::logs::{LogCursor, LogFilter, LOG_SCAN_ROWS, MAX_LOG_PAGE};
use crate::time::rfc3339;

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
        api: query.text("api"),
        error_type: query.text("error_type"),
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
    let message = page.scanned_until.map(|t| {
        format!(
            "searched the newest {LOG_SCAN_ROWS} requests of the range, back to {}, and found {} of the {limit} asked for; \
             pass `next` as `cursor` to search further back, or narrow the time range with `from`/`to`",
            rfc3339(t),
            page.rows.len()
        )
    });
    ok(json!({
        "data": page.rows,
        "next": page.next,
        "complete": page.scanned_until.is_none(),
        "scanned_until": page.scanned_until,
        "message": message,
    }))
}

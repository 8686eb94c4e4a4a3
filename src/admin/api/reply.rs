//! How the handlers answer: success bodies, the error shapes (`param` names
//! the field) and the mapping of store errors to statuses.
use serde_json::Value;

use crate::admin::{Admin, AdminResponse};
use crate::db::{FaultKind, Store, StoreError};

/// A handler's answer; both sides are sent as they are (`Err` lets `?`
/// return an error answer early).
pub(super) type Reply = Result<AdminResponse, AdminResponse>;

pub(super) fn ok(v: Value) -> Reply {
    Ok(AdminResponse::json(200, &v))
}

pub(super) fn created(v: Value) -> Reply {
    Ok(AdminResponse::json(201, &v))
}

pub(super) fn bad(param: &str, message: impl Into<String>) -> AdminResponse {
    AdminResponse::error(400, "invalid_request_error", message, Some(param), None)
}

pub(super) fn not_found(message: impl Into<String>) -> AdminResponse {
    AdminResponse::error(404, "not_found_error", message, None, Some("not_found"))
}

/// Runs `f` with the store (on the blocking pool); a store error becomes its
/// answer.
pub(super) async fn with_store<T, F>(admin: &Admin, f: F) -> Result<T, AdminResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    with_store_renamed(admin, &[], f).await
}

/// [`with_store`] for an endpoint whose JSON names differ from the catalog's
/// field names: `rename` maps them (`timeout` → `timeout_ms`) in `param`.
pub(super) async fn with_store_renamed<T, F>(
    admin: &Admin,
    rename: &[(&str, &str)],
    f: F,
) -> Result<T, AdminResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    admin
        .with_store(f)
        .await
        .map_err(|e| store_error(e, rename))
}

/// How a store error leaves the API.
fn store_error(e: StoreError, rename: &[(&str, &str)]) -> AdminResponse {
    match e {
        StoreError::Invalid(inv) => {
            let param = rename
                .iter()
                .find(|(from, _)| *from == inv.field)
                .map(|(_, to)| *to)
                .unwrap_or(inv.field);
            bad(param, inv.message)
        }
        e @ StoreError::NotFound { .. } => not_found(e.to_string()),
        StoreError::Duplicate { what, name } => AdminResponse::error(
            409,
            "conflict_error",
            format!("{what} `{name}` already exists"),
            Some("name"),
            Some("already_exists"),
        ),
        StoreError::Conflict { message, hint } => AdminResponse::error(
            409,
            "conflict_error",
            match hint {
                Some(h) => format!("{message} ({h})"),
                None => message,
            },
            None,
            Some("conflict"),
        ),
        // Storage faults, as the engine classified them: the sentence and
        // what to do, never a bare 500.
        e if e.fault() != FaultKind::Other => {
            let fault = e.fault();
            let (status, code) = match fault {
                FaultKind::Full => (507, "database_full"),
                FaultKind::ReadOnly => (503, "database_read_only"),
                FaultKind::Unreachable => (503, "database_unreachable"),
                _ => (503, "database_busy"),
            };
            let sentence = fault.sentence().unwrap_or("database error");
            let hint = e.hint().unwrap_or_default();
            tracing::warn!(error = %e, "admin API: {sentence}");
            AdminResponse::error(
                status,
                "server_error",
                format!("{sentence}; {hint}"),
                None,
                Some(code),
            )
        }
        // The gateway may be up while its database is not (it serves
        // not-ready and retries): say what is wrong and how to fix it.
        e @ (StoreError::Open { .. } | StoreError::Schema { .. }) => {
            let hint = e.hint().unwrap_or_default();
            AdminResponse::error(
                503,
                "server_error",
                format!("the database is unavailable: {e}; {hint}"),
                None,
                Some("database_unavailable"),
            )
        }
        other => {
            tracing::error!(error = %other, "admin API: database error");
            AdminResponse::error(500, "server_error", "internal error", None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DatabaseError;

    fn answer(kind: FaultKind) -> (u16, serde_json::Value) {
        let e = StoreError::Database(DatabaseError::new(
            kind,
            std::io::Error::other("engine words"),
        ));
        let r = store_error(e, &[]);
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }

    #[test]
    fn storage_faults_get_their_status_sentence_and_code() {
        for (kind, status, sentence, code) in [
            (
                FaultKind::Full,
                507,
                "database or disk is full; free space",
                "database_full",
            ),
            (
                FaultKind::ReadOnly,
                503,
                "the database is read-only; make",
                "database_read_only",
            ),
            (
                FaultKind::Busy,
                503,
                "database is locked by another process; another",
                "database_busy",
            ),
        ] {
            let (s, v) = answer(kind);
            assert_eq!(s, status, "{v}");
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.starts_with(sentence), "{msg}");
            assert_eq!(v["error"]["code"], code, "{v}");
        }
        assert_eq!(answer(FaultKind::Other).0, 500);
    }
}

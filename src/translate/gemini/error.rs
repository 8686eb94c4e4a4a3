//! Gemini errors (HTTP answers, error objects inside a stream) -> the
//! client's OpenAI error, through [`ErrorClass`].
use serde_json::Value;

use crate::translate::{ErrorClass, MappedError};

fn classify(status: Option<&str>, message: &str, details: Option<&Value>, http: u16) -> ErrorClass {
    let has_reason = |reason: &str| {
        details
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x["reason"] == reason))
    };
    let has_any_reason = || {
        details
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x["reason"].is_string()))
    };
    match status {
        Some("INVALID_ARGUMENT") if has_reason("API_KEY_INVALID") => ErrorClass::UpstreamAuth,
        Some("INVALID_ARGUMENT")
            if message.contains("input token count") && message.contains("exceeds") =>
        {
            ErrorClass::ContextLength
        }
        Some("INVALID_ARGUMENT" | "OUT_OF_RANGE") => ErrorClass::BadRequest,
        Some("FAILED_PRECONDITION") => ErrorClass::ProviderAccount,
        // A refusal naming a resource of the request (a tuned model, a
        // file, a cache) with no reason about the key or project is about
        // the request; every other one is llmo's key or project.
        Some("PERMISSION_DENIED") if names_a_resource(message) && !has_any_reason() => {
            ErrorClass::Forbidden
        }
        Some("UNAUTHENTICATED" | "PERMISSION_DENIED") => ErrorClass::UpstreamAuth,
        Some("NOT_FOUND") => ErrorClass::NotFound,
        Some("RESOURCE_EXHAUSTED") => ErrorClass::RateLimited,
        Some("CANCELLED") => ErrorClass::Cancelled,
        Some("INTERNAL" | "UNKNOWN" | "DATA_LOSS") => ErrorClass::Server,
        Some("UNAVAILABLE") => ErrorClass::Overloaded,
        Some("DEADLINE_EXCEEDED") => ErrorClass::Timeout,
        _ => match http {
            400 => ErrorClass::BadRequest,
            401 | 403 => ErrorClass::UpstreamAuth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimited,
            499 => ErrorClass::Cancelled,
            500 => ErrorClass::Server,
            503 => ErrorClass::Overloaded,
            504 => ErrorClass::Timeout,
            s => ErrorClass::Other(s),
        },
    }
}

/// A message naming a resource the request referred to.
fn names_a_resource(message: &str) -> bool {
    ["tunedModels/", "cachedContents/", "files/", "corpora/"]
        .iter()
        .any(|r| message.contains(r))
}

/// `RetryInfo.retryDelay` (`"49s"`, `"1.5s"`) in whole seconds, rounded up.
fn retry_delay(details: Option<&Value>) -> Option<u64> {
    let d = details?.as_array()?.iter().find(|x| {
        x["@type"]
            .as_str()
            .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
    })?;
    let secs: f64 = d["retryDelay"].as_str()?.strip_suffix('s')?.parse().ok()?;
    (secs >= 0.0).then(|| secs.ceil() as u64)
}

/// Maps a Google error object (`{"code","message","status","details"}`).
pub(super) fn map_error_object(err: &Value, http: u16) -> MappedError {
    let message = err["message"].as_str().unwrap_or("");
    let http = if http == 0 {
        err["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0)
    } else {
        http
    };
    let details = err.get("details");
    classify(err["status"].as_str(), message, details, http).map(
        message,
        http,
        retry_delay(details),
    )
}

/// Maps a non-2xx Gemini response to the client's error.
pub fn error(status: u16, body: &[u8]) -> MappedError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // Without `alt=sse` Google wraps stream errors in an array.
    let envelope = match &parsed {
        Some(Value::Array(a)) => a.first(),
        other => other.as_ref(),
    };
    match envelope.and_then(|e| e.get("error")) {
        Some(err) => map_error_object(err, status),
        None => classify(None, "", None, status).map("", status, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::gemini::test_util::*;

    #[test]
    fn error_mapping_table() {
        type Case = (
            u16,
            &'static [u8],
            u16,
            bool,
            &'static str,
            Option<&'static str>,
        );
        let cases: [Case; 9] = [
            (
                400,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/400_invalid_argument_api_key.json"
                ),
                502,
                false,
                "upstream_error",
                Some("upstream_auth_failed"),
            ),
            (
                400,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/400_invalid_argument_token_limit.json"
                ),
                400,
                false,
                "invalid_request_error",
                Some("context_length_exceeded"),
            ),
            (
                400,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/400_invalid_argument_turn_order.json"
                ),
                400,
                false,
                "invalid_request_error",
                None,
            ),
            (
                403,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/403_permission_denied_api_not_enabled.json"
                ),
                502,
                false,
                "upstream_error",
                Some("upstream_auth_failed"),
            ),
            (
                404,
                include_bytes!("../../../tests/fixtures/gemini/errors/404_not_found_model.json"),
                404,
                false,
                "invalid_request_error",
                Some("model_not_found"),
            ),
            (
                429,
                include_bytes!("../../../tests/fixtures/gemini/errors/429_resource_exhausted.json"),
                429,
                true,
                "rate_limit_exceeded",
                Some("rate_limit_exceeded"),
            ),
            (
                429,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/429_resource_exhausted_vertex_style.json"
                ),
                429,
                true,
                "rate_limit_exceeded",
                Some("rate_limit_exceeded"),
            ),
            (
                500,
                include_bytes!("../../../tests/fixtures/gemini/errors/500_internal.json"),
                500,
                true,
                "server_error",
                None,
            ),
            (
                503,
                include_bytes!("../../../tests/fixtures/gemini/errors/503_unavailable.json"),
                503,
                true,
                "server_error",
                Some("overloaded"),
            ),
        ];
        for (status, body, want, retryable, ty, code) in cases {
            let m = error(status, body);
            assert_mapped(&m, (want, retryable, ty, code), &format!("{status} {ty}"));
        }
        let m = error(
            429,
            include_bytes!("../../../tests/fixtures/gemini/errors/429_resource_exhausted.json"),
        );
        assert_eq!(m.retry_after, Some(49));
        golden_json!("gemini/error_429.json", &m.body);
        // The API-key error's details contain the key; they are never copied.
        let m = error(
            400,
            include_bytes!(
                "../../../tests/fixtures/gemini/errors/400_invalid_argument_api_key.json"
            ),
        );
        assert!(!m.body.to_string().contains("key1234"));
        golden_json!("gemini/error_api_key.json", &m.body);
        // Array-wrapped (non-SSE stream) error and unreadable bodies.
        let m = error(
            503,
            br#"[{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]"#,
        );
        assert_eq!(
            (m.status, m.body["error"]["message"].as_str()),
            (503, Some("busy"))
        );
        let m = error(502, b"<html>");
        assert_eq!((m.status, m.retryable, m.failover), (502, true, true));
        let m = error(
            400,
            br#"{"error": {"code": 400, "message": "User location is not supported for the API use.", "status": "FAILED_PRECONDITION"}}"#,
        );
        assert_eq!((m.status, m.retryable, m.failover), (502, false, true));
        assert_eq!(m.body["error"]["code"], "upstream_account_error");
        let m = error(
            400,
            include_bytes!(
                "../../../tests/fixtures/gemini/errors/400_invalid_argument_turn_order.json"
            ),
        );
        assert!(!m.failover, "the client's own request error: no failover");
        // The 401/403 rule, one row each: who the refusal is about.
        let denied = |reason: &str, message: &str| {
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": message,
                "details": if reason.is_empty() { json!([]) } else { json!([{"reason": reason}]) }}})
            .to_string()
        };
        for (status, body, llmo) in [
            (401, json!({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad creds"}}).to_string(), true),
            (403, denied("SERVICE_DISABLED", "API not enabled"), true),
            (403, denied("API_KEY_SERVICE_BLOCKED", "blocked for tunedModels/x"), true),
            (403, denied("", "Permission denied on resource tunedModels/my-model (or it may not exist)."), false),
            (403, denied("", "The caller does not have permission"), true),
            (403, "<html>Forbidden</html>".to_string(), true),
        ] {
            let m = error(status, body.as_bytes());
            assert_eq!(m.upstream_auth, llmo, "{body}");
            assert_eq!((m.status, m.failover), if llmo { (502, true) } else { (403, false) }, "{body}");
        }
        assert_eq!(
            retry_delay(Some(
                &json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}])
            )),
            Some(2)
        );
    }
}

//! Anthropic errors (HTTP answers and stream `error` events) -> the
//! client's OpenAI error, through [`ErrorClass`].
use super::wire::WireErrorEnvelope;
use crate::translate::{ErrorClass, MappedError};

fn classify(ty: Option<&str>, message: &str, status: u16) -> ErrorClass {
    match ty {
        Some("invalid_request_error") if message.contains("prompt is too long") => {
            ErrorClass::ContextLength
        }
        Some("invalid_request_error") => ErrorClass::BadRequest,
        // 401/403: llmo's key, unless the refusal names a model (the
        // client's choice of a model this account may not use).
        Some("authentication_error") => ErrorClass::UpstreamAuth,
        Some("permission_error") if names_a_model(message) => ErrorClass::Forbidden,
        Some("permission_error") => ErrorClass::UpstreamAuth,
        Some("not_found_error") => ErrorClass::NotFound,
        Some("request_too_large") => ErrorClass::TooLarge,
        Some("rate_limit_error") => ErrorClass::RateLimited,
        Some("billing_error") => ErrorClass::Quota,
        Some("api_error") => ErrorClass::Server,
        Some("timeout_error") => ErrorClass::Timeout,
        Some("overloaded_error") => ErrorClass::Overloaded,
        _ => match status {
            400 => ErrorClass::BadRequest,
            401 | 403 => ErrorClass::UpstreamAuth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            413 => ErrorClass::TooLarge,
            429 => ErrorClass::RateLimited,
            500 => ErrorClass::Server,
            504 => ErrorClass::Timeout,
            529 | 503 => ErrorClass::Overloaded,
            s => ErrorClass::Other(s),
        },
    }
}

/// A `permission_error` about a model ("... does not have access to model
/// `claude-…`") rather than about the key.
fn names_a_model(message: &str) -> bool {
    message.contains("model") || message.contains("claude-")
}

/// Maps a non-2xx Anthropic response to the client's error.
pub fn error(status: u16, body: &[u8]) -> MappedError {
    match serde_json::from_slice::<WireErrorEnvelope<'_>>(body) {
        Ok(env) => {
            let message = env.error.message.as_deref().unwrap_or("");
            classify(env.error.ty.as_deref(), message, status).map(message, status, None)
        }
        Err(_) => classify(None, "", status).map("", status, None),
    }
}

/// A mid-stream Anthropic `error` event, mapped as if it had been the
/// HTTP answer (a server error when its type is unknown).
pub(super) fn stream_error(ty: Option<&str>, message: &str) -> MappedError {
    classify(ty, message, 500).map(message, 500, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::anthropic::test_util::*;

    #[test]
    fn error_mapping_table() {
        type Case<'a> = (u16, &'a [u8], u16, bool, &'a str, Option<&'a str>);
        let recorded_400 = fixture_body(include_str!(
            "../../../tests/fixtures/anthropic/errors/400_invalid_request_error_recorded.json"
        ));
        let cases: [Case<'_>; 8] = [
            (400, include_bytes!("../../../tests/fixtures/anthropic/errors/400_prompt_too_long.json"), 400, false, "invalid_request_error", Some("context_length_exceeded")),
            (400, &recorded_400, 400, false, "invalid_request_error", None),
            (401, include_bytes!("../../../tests/fixtures/anthropic/errors/401_authentication_error.json"), 502, false, "upstream_error", Some("upstream_auth_failed")),
            (429, include_bytes!("../../../tests/fixtures/anthropic/errors/429_rate_limit_error.json"), 429, true, "rate_limit_exceeded", Some("rate_limit_exceeded")),
            (500, include_bytes!("../../../tests/fixtures/anthropic/errors/500_api_error.json"), 500, true, "server_error", None),
            (529, include_bytes!("../../../tests/fixtures/anthropic/errors/529_overloaded_error.json"), 503, true, "server_error", Some("overloaded")),
            (404, br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#, 404, false, "invalid_request_error", Some("model_not_found")),
            (403, br#"{"type":"error","error":{"type":"permission_error","message":"no access"}}"#, 502, false, "upstream_error", Some("upstream_auth_failed")),
        ];
        // The 401/403 rule, one row each: who the refusal is about.
        for (status, body, llmo) in [
            (401, &br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#[..], true),
            (403, br#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#, true),
            (403, br#"{"type":"error","error":{"type":"permission_error","message":"Your organization does not have access to model claude-opus-4-1"}}"#, false),
            (403, b"<html>Forbidden</html>", true),
        ] {
            let m = error(status, body);
            assert_eq!(m.upstream_auth, llmo, "{}", String::from_utf8_lossy(body));
            assert_eq!(m.status, if llmo { 502 } else { 403 });
            assert_eq!(m.failover, llmo);
        }
        for (status, body, want_status, retryable, ty, code) in cases {
            let m = error(status, body);
            assert_mapped(&m, (want_status, retryable, ty, code), &status.to_string());
            assert!(m.body["error"]["message"].as_str().unwrap().len() > 5);
        }
        let recorded = fixture_json(include_str!(
            "../../../tests/fixtures/anthropic/errors/429_and_529_with_headers_recorded.json"
        ));
        for (status, want, code) in [
            ("429", 429, "rate_limit_exceeded"),
            ("529", 503, "overloaded"),
        ] {
            let body = serde_json::to_vec(&recorded[status]["body"]).unwrap();
            let m = error(status.parse().unwrap(), &body);
            assert_eq!((m.status, m.retryable), (want, true));
            assert_eq!(m.body["error"]["code"], code);
        }
        let m = error(
            429,
            &fixture_body(include_str!(
                "../../../tests/fixtures/anthropic/errors/429_rate_limit_error_recorded.json"
            )),
        );
        assert!(m.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("This request would exceed"));
        let m = error(
            400,
            include_bytes!("../../../tests/fixtures/anthropic/errors/400_prompt_too_long.json"),
        );
        assert_eq!(m.body["error"]["param"], "messages");
        assert_eq!(
            m.body["error"]["message"],
            "prompt is too long: 219898 tokens > 200000 maximum"
        );
        golden_json!(
            "anthropic/error_529.json",
            &error(
                529,
                include_bytes!(
                    "../../../tests/fixtures/anthropic/errors/529_overloaded_error.json"
                ),
            )
            .body,
        );
    }

    #[test]
    fn unreadable_error_bodies_keep_a_sensible_status() {
        let m = error(502, b"<html>Bad gateway</html>");
        assert_eq!((m.status, m.retryable), (502, true));
        assert_eq!(m.body["error"]["message"], "upstream returned HTTP 502");
        let m = error(418, b"");
        assert_eq!((m.status, m.retryable, m.failover), (418, false, false));
        let m = error(408, b"");
        assert_eq!((m.status, m.retryable), (504, true));
        let m = error(
            401,
            include_bytes!(
                "../../../tests/fixtures/anthropic/errors/401_authentication_error.json"
            ),
        );
        assert_eq!((m.retryable, m.failover), (false, true));
        let m = error(401, br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA"}}"#);
        assert!(!m.body.to_string().contains("sk-ant-api03"));
    }

    #[test]
    fn api_version_is_the_pinned_one() {
        assert_eq!(crate::translate::anthropic::API_VERSION, "2023-06-01");
    }
}

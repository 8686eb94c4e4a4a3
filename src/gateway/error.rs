//! The gateway's HTTP errors: one enum, an exhaustive status/type/code, and
//! the OpenAI wire shape `{"error":{"message","type","param","code"}}` for
//! every one of them (parse failures and unknown routes included).
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::body::Body;
use super::providers::request::RequestError;
use super::providers::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Malformed JSON, a missing or mistyped field.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this API key may not use model `{0}`")]
    ModelNotAllowed(String),
    #[error("the model `{0}` does not exist or you do not have access to it")]
    UnknownModel(String),
    #[error("unknown route {method} {path}")]
    UnknownRoute { method: String, path: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body did not arrive in time, or too slowly (408; the connection
    /// is closed).
    #[error("{0}")]
    BodyTimeout(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// No provider could even be tried (every circuit open, none usable).
    #[error("{message}")]
    NoProvider {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Every candidate left was skipped because `llmo serve`'s environment
    /// lacks its key variable (names, never values).
    #[error("no provider could be used: {0}; set the variable where `llmo serve` runs and restart it, or store the key with `llmo provider update NAME --api-key -`")]
    KeyMissing(String),
    /// The gateway cannot serve yet (database problem); says what to run.
    #[error("llmo is not ready: {problem}; fix: {fix}")]
    NotReady { problem: String, fix: String },
    /// Every attempt ended in an upstream 429: the client may retry after
    /// `retry_after` (the shortest wait an upstream asked for, else llmo's
    /// own estimate).
    #[error("{message}")]
    UpstreamRateLimited {
        message: String,
        retry_after: Duration,
    },
    /// Every candidate failed; carries the last upstream error.
    #[error("no provider could answer after {attempts} attempt(s); last error, from provider `{provider}`: {error}")]
    Upstream {
        provider: std::sync::Arc<str>,
        attempts: u32,
        error: UpstreamError,
    },
    /// A non-retryable upstream answer (400, 401, 403, 404, 413, 422) passed
    /// through with its status and, when OpenAI-shaped, its body.
    #[error("upstream rejected the request with status {status}")]
    UpstreamClient { status: u16, body: Bytes },
    /// A `/v1/responses` id llmo has not stored for this key (unknown,
    /// another key's, deleted or pruned): 404 `response_not_found`.
    #[error("{message}")]
    ResponseNotFound {
        message: String,
        param: Option<&'static str>,
    },
    /// The stored responses could not be read (503).
    #[error("cannot read the stored responses: {0}; retry later")]
    StoreUnavailable(String),
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::InvalidRequest {
            message: e.message,
            param: e.param,
        }
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    error: WireInner<'a>,
}

#[derive(Serialize)]
struct WireInner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// The OpenAI error body for a message, type and code.
pub(crate) fn error_json(
    message: &str,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Vec<u8> {
    serde_json::to_vec(&Wire {
        error: WireInner {
            message,
            kind,
            param,
            code,
        },
    })
    .unwrap_or_else(|_| {
        br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
            .to_vec()
    })
}

impl ApiError {
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ModelNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownModel(_)
            | ApiError::UnknownRoute { .. }
            | ApiError::ResponseNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } | ApiError::UpstreamRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::NoProvider { .. }
            | ApiError::NotReady { .. }
            | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::KeyMissing(_) => StatusCode::BAD_GATEWAY,
            ApiError::Upstream { error: e, .. } => {
                if e.is_timeout() {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                }
            }
            ApiError::UpstreamClient { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
        }
    }

    /// OpenAI's `type` field.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::UnknownModel(_)
            | ApiError::UnknownRoute { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::TooLarge { .. }
            | ApiError::ResponseNotFound { .. }
            | ApiError::BodyTimeout(_) => "invalid_request_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::ModelNotAllowed(_) => "permission_error",
            ApiError::RateLimited { .. } | ApiError::UpstreamRateLimited { .. } => {
                "rate_limit_error"
            }
            ApiError::NoProvider { .. }
            | ApiError::NotReady { .. }
            | ApiError::StoreUnavailable(_) => "service_unavailable",
            ApiError::KeyMissing(_) => "upstream_error",
            ApiError::Upstream { error: e, .. } => {
                if e.is_timeout() {
                    "timeout_error"
                } else {
                    "upstream_error"
                }
            }
            ApiError::UpstreamClient { .. } => "invalid_request_error",
        }
    }

    /// OpenAI's `code` field.
    pub(crate) fn code(&self) -> Option<&'static str> {
        Some(match self {
            ApiError::InvalidRequest { .. } => return None,
            ApiError::Unauthorized(_) => "invalid_api_key",
            ApiError::ModelNotAllowed(_) => "model_not_allowed",
            ApiError::UnknownModel(_) => "model_not_found",
            ApiError::UnknownRoute { .. } => "unknown_url",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::TooLarge { .. } => "request_too_large",
            ApiError::BodyTimeout(_) => "request_body_timeout",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::UpstreamRateLimited { .. } => "upstream_rate_limited",
            ApiError::NoProvider { .. } => "no_available_provider",
            ApiError::NotReady { .. } => "not_ready",
            ApiError::KeyMissing(_) => "upstream_key_missing",
            ApiError::Upstream { error: e, .. } => e.code(),
            ApiError::UpstreamClient { .. } => "upstream_rejected",
            ApiError::ResponseNotFound { .. } => "response_not_found",
            ApiError::StoreUnavailable(_) => "store_unavailable",
        })
    }

    /// The short label stored in the request log's `error_type`.
    pub(crate) fn log_type(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::ModelNotAllowed(_) => "model_not_allowed",
            ApiError::UnknownModel(_) => "model_not_found",
            ApiError::UnknownRoute { .. } => "unknown_route",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::TooLarge { .. } => "request_too_large",
            ApiError::BodyTimeout(_) => "request_body_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::UpstreamRateLimited { .. } => "upstream_429",
            ApiError::NoProvider { .. } => "no_available_provider",
            ApiError::NotReady { .. } => "not_ready",
            ApiError::KeyMissing(_) => "upstream_key_missing",
            ApiError::Upstream { error: e, .. } => e.log_type(),
            ApiError::UpstreamClient { .. } => "upstream_client_error",
            ApiError::ResponseNotFound { .. } => "response_not_found",
            ApiError::StoreUnavailable(_) => "store_unavailable",
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { param, .. } | ApiError::ResponseNotFound { param, .. } => {
                *param
            }
            ApiError::UnknownModel(_) | ApiError::ModelNotAllowed(_) => Some("model"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::UpstreamRateLimited { retry_after, .. } => Some(*retry_after),
            ApiError::NoProvider { retry_after, .. } => *retry_after,
            ApiError::NotReady { .. } | ApiError::StoreUnavailable(_) => {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let status = self.status();
        let body = match &self {
            // OpenAI-shaped upstream errors go back as sent.
            ApiError::UpstreamClient { body, .. } if is_openai_error(body) => body.clone(),
            _ => Bytes::from(error_json(
                &self.to_string(),
                self.kind(),
                self.code(),
                self.param(),
            )),
        };
        let mut res = Response::new(Body::full(body));
        *res.status_mut() = status;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let ApiError::TooLarge { .. } | ApiError::BodyTimeout(_) = self {
            // The rest of the body was never read: the connection cannot
            // carry another request, and the client must not reuse it.
            res.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(d) = self.retry_after() {
            // Whole seconds, rounded up, at least 1.
            let secs = d.as_millis().div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        res
    }
}

/// True for a body shaped `{"error":{"message":...}}`.
pub(crate) fn is_openai_error(body: &[u8]) -> bool {
    // Only the shape is checked; the fields are never read.
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer<'a> {
        #[serde(borrow)]
        error: Inner<'a>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner<'a> {
        #[serde(borrow)]
        message: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Outer<'_>>(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_openai_shaped_with_its_status() {
        let cases = [
            (ApiError::invalid("bad", Some("messages")), 400),
            (ApiError::Unauthorized("missing API key"), 401),
            (ApiError::ModelNotAllowed("m".into()), 403),
            (ApiError::UnknownModel("m".into()), 404),
            (ApiError::TooLarge { limit: 10 }, 413),
            (
                ApiError::RateLimited {
                    message: "slow down".into(),
                    retry_after: Duration::from_millis(1200),
                },
                429,
            ),
            (
                ApiError::Upstream {
                    provider: "p".into(),
                    attempts: 3,
                    error: UpstreamError::Timeout(1000),
                },
                504,
            ),
        ];
        for (err, status) in cases {
            let res = err.into_response();
            assert_eq!(res.status().as_u16(), status);
            let Body::Full(Some(b)) = res.body() else {
                panic!("full body expected")
            };
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert!(v["error"]["message"].is_string(), "{v}");
            assert!(v["error"]["type"].is_string(), "{v}");
            assert!(v["error"].get("param").is_some(), "{v}");
            assert!(v["error"].get("code").is_some(), "{v}");
            if status == 429 {
                assert_eq!(res.headers()[RETRY_AFTER], "2");
            }
        }
    }

    #[test]
    fn upstream_openai_errors_pass_through_others_are_wrapped() {
        let body = Bytes::from_static(br#"{"error":{"message":"context too long","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#);
        let res = ApiError::UpstreamClient {
            status: 400,
            body: body.clone(),
        }
        .into_response();
        assert_eq!(res.status(), 400);
        let Body::Full(Some(b)) = res.body() else {
            panic!()
        };
        assert_eq!(b, &body);
        let res = ApiError::UpstreamClient {
            status: 422,
            body: Bytes::from_static(b"<html>nope</html>"),
        }
        .into_response();
        assert_eq!(res.status(), 422);
        let Body::Full(Some(b)) = res.body() else {
            panic!()
        };
        assert!(is_openai_error(b));
    }
}

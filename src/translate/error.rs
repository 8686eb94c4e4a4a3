//! Provider-neutral error types of the translation layer: [`TranslateError`]
//! (a request llmo cannot translate, or an unreadable upstream body),
//! [`MappedError`] (an upstream error as the client sees it) and the
//! [`ErrorClass`] table both vendors map their errors through.
use serde_json::Value;

use super::openai;

/// A request llmo cannot translate faithfully. `Unsupported` and `Invalid`
/// are the client's fault (HTTP 400 `invalid_request_error` naming `param`);
/// `Upstream` means the provider sent a success body llmo cannot read (502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("{message}")]
    Unsupported { field: String, message: String },
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    Upstream { message: String },
}

impl TranslateError {
    /// HTTP status for the client.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unsupported { .. } | Self::Invalid { .. } => 400,
            Self::Upstream { .. } => 502,
        }
    }

    /// The request field at fault (`""` for upstream errors).
    pub fn param(&self) -> &str {
        match self {
            Self::Unsupported { field, .. } | Self::Invalid { field, .. } => field,
            Self::Upstream { .. } => "",
        }
    }

    /// The OpenAI error body as bytes, keys in OpenAI's order.
    pub fn to_openai_bytes(&self) -> Vec<u8> {
        openai::error_bytes(&self.to_openai())
    }

    /// The OpenAI error body.
    pub fn to_openai(&self) -> Value {
        match self {
            Self::Unsupported { field, message } => openai::error_body(
                message,
                "invalid_request_error",
                Some(field),
                Some("unsupported_parameter"),
            ),
            Self::Invalid { field, message } => {
                openai::error_body(message, "invalid_request_error", Some(field), None)
            }
            Self::Upstream { message } => {
                openai::error_body(message, "server_error", None, Some("bad_upstream_response"))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MappedError {
    /// Status to send to the client.
    pub status: u16,
    /// The same provider may succeed later (upstream 408, 429, 5xx, 529).
    pub retryable: bool,
    /// Another provider may succeed now: retryable errors plus problems of
    /// llmo's own provider account (credentials, permissions, quota, region).
    pub failover: bool,
    /// Seconds to wait, when the provider said so in the body (Gemini
    /// `RetryInfo`); Anthropic's `retry-after` is a header the gateway reads.
    pub retry_after: Option<u64>,
    /// OpenAI error body.
    pub body: Value,
    /// The provider refused llmo's own credentials (class `UpstreamAuth`):
    /// the gateway counts it as a provider failure and fails over.
    pub upstream_auth: bool,
    /// The status the upstream itself answered.
    pub upstream_status: u16,
}

/// How an `upstream_auth_failed` message starts; the gateway, which names
/// the provider, says it in its own words.
pub const UPSTREAM_AUTH_PREFIX: &str = "the provider rejected llmo's credentials for this model: ";

impl MappedError {
    /// The body as bytes, keys in OpenAI's order.
    pub fn body_bytes(&self) -> Vec<u8> {
        openai::error_bytes(&self.body)
    }
}

/// Provider-neutral error classes; see the error table in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    BadRequest,
    ContextLength,
    UpstreamAuth,
    /// A 403 about the request itself (a model or resource this account may
    /// not use): passed through as the client's 403.
    Forbidden,
    ProviderAccount,
    NotFound,
    TooLarge,
    RateLimited,
    Quota,
    Server,
    Timeout,
    Overloaded,
    Cancelled,
    Other(u16),
}

impl ErrorClass {
    /// Client status, OpenAI type, code, param, retryable.
    fn shape(
        self,
    ) -> (
        u16,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        bool,
    ) {
        match self {
            Self::BadRequest => (400, "invalid_request_error", None, None, false),
            Self::ContextLength => (
                400,
                "invalid_request_error",
                Some("context_length_exceeded"),
                Some("messages"),
                false,
            ),
            Self::UpstreamAuth => (
                502,
                "upstream_error",
                Some("upstream_auth_failed"),
                None,
                false,
            ),
            Self::Forbidden => (403, "permission_error", None, None, false),
            Self::ProviderAccount => (
                502,
                "upstream_error",
                Some("upstream_account_error"),
                None,
                false,
            ),
            Self::NotFound => (
                404,
                "invalid_request_error",
                Some("model_not_found"),
                None,
                false,
            ),
            Self::TooLarge => (
                413,
                "invalid_request_error",
                Some("request_too_large"),
                None,
                false,
            ),
            Self::RateLimited => (
                429,
                "rate_limit_exceeded",
                Some("rate_limit_exceeded"),
                None,
                true,
            ),
            Self::Quota => (
                429,
                "insufficient_quota",
                Some("insufficient_quota"),
                None,
                false,
            ),
            Self::Server => (500, "server_error", None, None, true),
            Self::Timeout => (504, "server_error", Some("timeout"), None, true),
            Self::Overloaded => (503, "server_error", Some("overloaded"), None, true),
            Self::Cancelled => (502, "server_error", None, None, true),
            Self::Other(s) if (400..500).contains(&s) => {
                (s, "invalid_request_error", None, None, false)
            }
            Self::Other(_) => (502, "server_error", None, None, true),
        }
    }

    pub(crate) fn map(
        self,
        message: &str,
        upstream_status: u16,
        retry_after: Option<u64>,
    ) -> MappedError {
        let (status, kind, code, param, retryable) = self.shape();
        let mut message = redact_keys(message);
        if message.trim().is_empty() {
            message = format!("upstream returned HTTP {upstream_status}");
        }
        if self == Self::UpstreamAuth {
            message = format!("{UPSTREAM_AUTH_PREFIX}{message}");
        } else if self == Self::ProviderAccount {
            message = format!("the provider cannot serve llmo's account for this model: {message}");
        }
        let failover = retryable
            || matches!(
                self,
                Self::UpstreamAuth | Self::ProviderAccount | Self::Quota
            );
        MappedError {
            status,
            retryable,
            failover,
            retry_after,
            body: openai::error_body(&message, kind, param, code),
            upstream_auth: self == Self::UpstreamAuth,
            upstream_status,
        }
    }
}

/// Replaces API-key-looking tokens (`sk-…`, `sk-ant-…`, `AIza…`), bearer
/// tokens and URLs with placeholders ([`crate::secret::scrub`]). Upstream
/// messages are copied to clients; a provider that echoes the key must not
/// leak it. (The gateway scrubs the provider's exact key on top.)
pub(crate) fn redact_keys(message: &str) -> String {
    crate::secret::scrub(message, &[]).into_owned()
}

/// A client request field llmo does not translate (400 `unsupported_parameter`).
pub(crate) fn unsupported(field: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported {
        field: field.into(),
        message: message.into(),
    }
}

/// A client request field with a bad value (400 naming the field).
pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_key_like_tokens_only() {
        assert_eq!(
            redact_keys("bad key sk-ant-api03-abcdefghijklmnopqrstuvwxyz, retry"),
            "bad key [redacted], retry"
        );
        assert_eq!(
            redact_keys("Invalid: AIzaSyA1234567890abcdefghijklmnopqrstu"),
            "Invalid: [redacted]"
        );
        assert_eq!(
            redact_keys("task-sk-thing and sk-short"),
            "task-sk-thing and sk-short"
        );
        assert_eq!(redact_keys("68°F über"), "68°F über");
    }

    #[test]
    fn translate_error_is_an_openai_400_naming_the_param() {
        let e = TranslateError::Unsupported {
            field: "n".into(),
            message: "`n` > 1 is not supported".into(),
        };
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_openai()["error"]["param"], "n");
        assert_eq!(e.to_openai()["error"]["type"], "invalid_request_error");
        assert_eq!(
            String::from_utf8(e.to_openai_bytes()).unwrap(),
            r#"{"error":{"message":"`n` > 1 is not supported","type":"invalid_request_error","param":"n","code":"unsupported_parameter"}}"#
        );
    }
}

//! Upstream adapters: one [`Provider`] trait, one [`AnyProvider`] enum with
//! `match` dispatch (no `dyn`, no async-trait), and the error every adapter
//! maps upstream failures to. Adapters never touch SQLite; they get a
//! ready-made [`ClientRequest`] and a shared `reqwest::Client`.
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::request::ClientRequest;
use crate::catalog::{Provider as ProviderRow, ProviderKind};

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod translated;

/// What an adapter does for the gateway. Bodies in and out are OpenAI's
/// wire format; an adapter for another vendor translates both ways.
pub trait Provider: Send + Sync {
    /// A non-stream chat completion, bounded as a whole by `timeout`.
    fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;

    /// Opens a streamed chat completion: resolves once the upstream answered
    /// with success headers (the caller bounds the wait for the first event).
    fn chat_stream(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send;

    /// Embeddings, bounded as a whole by `timeout`.
    fn embeddings(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;
}

/// Every adapter. The translating ones (Anthropic, Gemini) convert with the
/// pure functions of `crate::translate`, and their streams carry
/// [`StreamMapper::Translated`].
pub enum AnyProvider {
    /// `openai` and `openai-compatible`: the body goes through with only
    /// `model` rewritten; responses come back byte for byte.
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
}

impl AnyProvider {
    /// Whether this adapter can serve `endpoint` at all (Anthropic has no
    /// embeddings API); routing skips those that cannot.
    pub fn supports(&self, endpoint: crate::gateway::request::Endpoint) -> bool {
        !matches!(
            (self, endpoint),
            (
                AnyProvider::Anthropic(_),
                crate::gateway::request::Endpoint::Embeddings
            )
        )
    }

    /// Builds the adapter for a stored provider (the key resolved now, once
    /// per catalog snapshot). `Err` says why the provider cannot be used.
    pub fn for_provider(p: &ProviderRow) -> Result<AnyProvider, String> {
        match p.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                openai::OpenAi::new(p).map(AnyProvider::OpenAi)
            }
            ProviderKind::Anthropic => anthropic::Anthropic::new(p).map(AnyProvider::Anthropic),
            ProviderKind::Gemini => gemini::Gemini::new(p).map(AnyProvider::Gemini),
        }
    }

    pub async fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        match self {
            AnyProvider::OpenAi(p) => p.chat(http, req, upstream_model, timeout).await,
            AnyProvider::Anthropic(p) => p.chat(http, req, upstream_model, timeout).await,
            AnyProvider::Gemini(p) => p.chat(http, req, upstream_model, timeout).await,
        }
    }

    pub async fn chat_stream(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
    ) -> Result<UpstreamStream, UpstreamError> {
        match self {
            AnyProvider::OpenAi(p) => p.chat_stream(http, req, upstream_model).await,
            AnyProvider::Anthropic(p) => p.chat_stream(http, req, upstream_model).await,
            AnyProvider::Gemini(p) => p.chat_stream(http, req, upstream_model).await,
        }
    }

    pub async fn embeddings(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        match self {
            AnyProvider::OpenAi(p) => p.embeddings(http, req, upstream_model, timeout).await,
            AnyProvider::Anthropic(p) => p.embeddings(http, req, upstream_model, timeout).await,
            AnyProvider::Gemini(p) => p.embeddings(http, req, upstream_model, timeout).await,
        }
    }
}

/// A finished non-stream answer, already in OpenAI's format.
pub struct Completion {
    pub body: Bytes,
    pub usage: Usage,
}

/// An open upstream stream and how to turn its events into OpenAI's.
pub struct UpstreamStream {
    pub body: reqwest::Body,
    pub mapper: StreamMapper,
}

/// Stream translation. OpenAI-format events pass through as is; translated
/// vendors carry their per-stream translator (boxed, so the passthrough
/// case stays one word).
pub enum StreamMapper {
    Passthrough,
    Translated(Box<crate::translate::StreamTranslator>),
}

/// Token counts as the upstream reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// Reads only `usage` from an OpenAI-format body.
///
/// Fast path: OpenAI-format servers put `usage` after `choices`, so the last
/// `"usage":` key in the body (a real quote, not an escaped one inside a
/// string) is read where it stands, without scanning the answer before it
/// (serde walking the whole body was ~6% of a request's instructions for a
/// short answer, more for long ones). Anything unexpected falls back to
/// reading the body's top-level `usage` field the slow way.
pub fn parse_usage(body: &[u8]) -> Usage {
    if let Some(u) = usage_near_end(body) {
        return u;
    }
    #[derive(Deserialize)]
    struct WithUsage {
        usage: Option<Usage>,
    }
    serde_json::from_slice::<WithUsage>(body)
        .ok()
        .and_then(|w| w.usage)
        .unwrap_or_default()
}

/// The object after the last unescaped `"usage":` key, if it reads as one.
fn usage_near_end(body: &[u8]) -> Option<Usage> {
    const KEY: &[u8] = b"\"usage\"";
    let mut end = body.len();
    while let Some(pos) = body[..end].windows(KEY.len()).rposition(|w| w == KEY) {
        end = pos;
        // An odd run of backslashes before the quote: inside a string.
        let backslashes = body[..pos]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 1 {
            continue;
        }
        let rest = &body[pos + KEY.len()..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        let Some(value) = rest.strip_prefix(b":") else {
            continue;
        };
        let mut de = serde_json::Deserializer::from_slice(value);
        return match serde::Deserialize::deserialize(&mut de) {
            Ok(Some(u)) => Some(u),
            Ok(None) => Some(Usage::default()),
            Err(_) => None,
        };
    }
    None
}

/// How an upstream attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("upstream answered {status}: {message}")]
    Status {
        status: u16,
        /// The upstream's `Retry-After` / `retry-after-ms`, if any.
        retry_after: Option<Duration>,
        /// One line, the upstream's key never in it.
        message: String,
        /// The raw body, passed to the client for non-retryable statuses.
        body: Bytes,
    },
    #[error("the response broke off: {0}")]
    Broken(String),
    /// The provider cannot serve this request for a reason of llmo's own
    /// account there (its key, permissions, region, quota), which the client
    /// cannot fix and another provider may not share: no retry on the same
    /// provider, fail over to the next. `status` and `body` (OpenAI-shaped)
    /// are the client's answer when no other provider can serve it.
    #[error("upstream answered {status}: {message}")]
    Unservable {
        status: u16,
        message: String,
        body: Bytes,
    },
}

impl UpstreamError {
    /// Worth another attempt (here or at another provider)?
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Connect(_) | UpstreamError::Timeout(_) | UpstreamError::Broken(_) => {
                true
            }
            UpstreamError::Status { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429) || *status >= 500
            }
            UpstreamError::Unservable { .. } => false,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout(_))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Timeout(_) => "upstream_timeout",
            UpstreamError::Connect(_) => "upstream_unreachable",
            UpstreamError::Status { status: 429, .. } => "upstream_rate_limited",
            UpstreamError::Status { .. } | UpstreamError::Unservable { .. } => "upstream_error",
            UpstreamError::Broken(_) => "upstream_broken_response",
        }
    }

    pub fn log_type(&self) -> &'static str {
        match self {
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Connect(_) => "connect_error",
            UpstreamError::Status { status: 429, .. } => "upstream_429",
            UpstreamError::Status { status, .. } if *status >= 500 => "upstream_5xx",
            UpstreamError::Status { .. } => "upstream_4xx",
            UpstreamError::Unservable { .. } => "upstream_account",
            UpstreamError::Broken(_) => "upstream_broken",
        }
    }

    /// A transport error from reqwest, without URL query or headers.
    pub fn from_reqwest(e: &reqwest::Error, timeout_ms: u64) -> UpstreamError {
        if e.is_timeout() {
            return UpstreamError::Timeout(timeout_ms);
        }
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        if e.is_connect() {
            UpstreamError::Connect(msg)
        } else if e.is_body() || e.is_decode() {
            UpstreamError::Broken(msg)
        } else {
            UpstreamError::Connect(msg)
        }
    }
}

/// Maps a non-success upstream answer. `secret` is removed from the message
/// in case the upstream echoes the key it was sent.
pub fn map_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
    secret: Option<&str>,
) -> UpstreamError {
    #[derive(Deserialize)]
    struct Outer {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        message: Option<String>,
    }
    let mut message = match serde_json::from_slice::<Outer>(&body) {
        Ok(Outer {
            error: Inner { message: Some(m) },
        }) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    };
    if let Some(s) = secret.filter(|s| s.len() >= 4) {
        if message.contains(s) {
            message = message.replace(s, &crate::secret::mask(s));
        }
    }
    let mut message: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if message.len() > 300 {
        let mut cut = 300;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    if message.is_empty() {
        message = "(empty body)".into();
    }
    UpstreamError::Status {
        status,
        retry_after: retry_after(headers),
        message,
        body,
    }
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let num = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = num("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    num("retry-after").map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_error_reads_openai_messages_and_hides_the_key() {
        let body = Bytes::from_static(include_bytes!(
            "../../../tests/fixtures/openai/errors/401_invalid_api_key.json"
        ));
        let e = map_error(401, &Default::default(), body, None);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("401"), "{e}");

        let body = Bytes::from_static(
            br#"{"error":{"message":"Incorrect API key provided: sk-live-abcdefgh12345678."}}"#,
        );
        let e = map_error(
            401,
            &Default::default(),
            body,
            Some("sk-live-abcdefgh12345678"),
        );
        assert!(!e.to_string().contains("abcdefgh"), "{e}");

        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        let e = map_error(429, &h, Bytes::from_static(b"slow down"), None);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(map_error(503, &h, Bytes::new(), None).is_retryable());
        assert!(!map_error(422, &h, Bytes::new(), None).is_retryable());
    }

    #[test]
    fn usage_is_read_where_it_stands_and_never_from_inside_a_string() {
        let full = |b: &[u8]| {
            #[derive(Deserialize)]
            struct W {
                usage: Option<Usage>,
            }
            serde_json::from_slice::<W>(b)
                .unwrap()
                .usage
                .unwrap_or_default()
        };
        for body in [
            &include_bytes!("../../../tests/fixtures/openai/chat_completion.json")[..],
            &include_bytes!("../../../tests/fixtures/openai/chat_completion_tool_call.json")[..],
            &include_bytes!("../../../tests/fixtures/openai/embeddings_response.json")[..],
            br#"{"choices":[{"message":{"content":"say \"usage\": {\"prompt_tokens\": 99}"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
            br#"{"usage" : {"prompt_tokens":5,"completion_tokens":6,"total_tokens":11},"choices":[{"message":{"content":"a \"usage\":{\"prompt_tokens\":1}"}}],"system_fingerprint":null}"#,
            br#"{"choices":[],"usage":null}"#,
            br#"{"choices":[{"message":{"content":"\\"}}],"usage":{"prompt_tokens":7,"completion_tokens":8}}"#,
            br#"{"choices":[{"message":{"content":"no usage here"}}]}"#,
        ] {
            assert_eq!(parse_usage(body), full(body), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            parse_usage(br#"{"choices":[{"message":{"content":"x \"usage\": {\"prompt_tokens\": 99}"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#),
            Usage { prompt_tokens: Some(3), completion_tokens: Some(4) }
        );
        // Not JSON after the key: the slow path decides (here: nothing).
        assert_eq!(parse_usage(br#"{"usage": oops}"#), Usage::default());
    }

    #[test]
    fn usage_is_read_from_fixture() {
        let u = parse_usage(include_bytes!(
            "../../../tests/fixtures/openai/chat_completion.json"
        ));
        assert_eq!(u.prompt_tokens, Some(19));
        assert_eq!(u.completion_tokens, Some(10));
        assert_eq!(parse_usage(b"{}"), Usage::default());
    }
}

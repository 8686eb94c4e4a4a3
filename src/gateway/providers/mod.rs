//! Upstream adapters: one [`Adapter`] trait, one [`AnyAdapter`] enum with
//! `match` dispatch (no `dyn`, no async-trait), and the error every adapter
//! maps upstream failures to. Adapters never touch SQLite; they get a
//! ready-made [`ClientRequest`] and a shared `reqwest::Client`.
//!
//! This layer is a leaf of the gateway: it imports nothing from the server
//! side (`gateway/mod.rs`, `proxy`, `stream`, `body`, `error`, `router`,
//! `Shared`), so it can be read and tested without the HTTP server (the
//! test `adapters_do_not_import_the_server` keeps it so).
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::catalog::{Provider, ProviderKind};
use request::{Api, ClientRequest};

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod native;
pub(crate) mod openai;
pub(crate) mod probe;
pub(crate) mod request;
pub(crate) mod tls;
pub(crate) mod translated;
pub(crate) mod upstream;

/// One upstream attempt: the shared HTTP client, the client's request and
/// the model name the upstream knows it by. Every adapter call takes it.
pub(crate) struct Attempt<'a> {
    pub http: &'a reqwest::Client,
    pub req: &'a ClientRequest<'a>,
    pub upstream_model: &'a str,
    /// The largest non-stream answer read (`upstream_max_body`).
    pub max_body: u64,
}

/// What an adapter does for the gateway. Bodies in and out are OpenAI's
/// wire format; an adapter for another vendor translates both ways.
pub(crate) trait Adapter: Send + Sync {
    /// A non-stream chat completion, bounded as a whole by `timeout`.
    fn chat(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;

    /// Opens a streamed chat completion: resolves once the upstream answered
    /// with success headers (the caller bounds the wait for the first event).
    fn chat_stream(
        &self,
        a: &Attempt<'_>,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send;

    /// Embeddings, bounded as a whole by `timeout`.
    fn embeddings(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;
}

/// Every adapter. The translating ones (Anthropic, Gemini) convert with the
/// pure functions of `crate::translate`, and their streams carry
/// [`StreamMapper::Translated`].
pub(crate) enum AnyAdapter {
    /// `openai` and `openai-compatible`: the body goes through with only
    /// `model` rewritten; responses come back byte for byte.
    OpenAi(openai::OpenAi),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
}

/// The single place that matches on the adapter (each arm is a different
/// concrete type, so the call is static).
macro_rules! dispatch {
    ($adapter:expr, $p:ident => $call:expr) => {
        match $adapter {
            AnyAdapter::OpenAi($p) => $call,
            AnyAdapter::Anthropic($p) => $call,
            AnyAdapter::Gemini($p) => $call,
        }
    };
}

impl AnyAdapter {
    /// Whether this adapter can serve `api` at all (Anthropic has no
    /// embeddings API); routing skips those that cannot.
    pub(crate) fn supports(&self, api: Api) -> bool {
        !matches!((self, api), (AnyAdapter::Anthropic(_), Api::Embeddings))
    }

    /// What the scrubber hides from this provider's error text: its exact
    /// key and its base URL (see [`upstream::UpstreamEndpoint::hidden`]).
    pub(crate) fn hidden(&self) -> [&str; 2] {
        dispatch!(self, a => a.endpoint().hidden())
    }

    /// Builds the adapter for a stored provider (the key resolved now, once
    /// per catalog snapshot). `Err` says why the provider cannot be used.
    pub(crate) fn for_provider(p: &Provider) -> Result<AnyAdapter, String> {
        match p.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                openai::OpenAi::new(p).map(AnyAdapter::OpenAi)
            }
            ProviderKind::Anthropic => anthropic::Anthropic::new(p).map(AnyAdapter::Anthropic),
            ProviderKind::Gemini => gemini::Gemini::new(p).map(AnyAdapter::Gemini),
        }
    }

    pub(crate) async fn chat(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        dispatch!(self, p => p.chat(a, timeout).await)
    }

    pub(crate) async fn chat_stream(
        &self,
        a: &Attempt<'_>,
    ) -> Result<UpstreamStream, UpstreamError> {
        dispatch!(self, p => p.chat_stream(a).await)
    }

    pub(crate) async fn embeddings(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        dispatch!(self, p => p.embeddings(a, timeout).await)
    }
}

impl AnyAdapter {
    /// The URL of a native call: below an `anthropic` base URL as is,
    /// below an `openai` one (which ends in `/v1`) without its `/v1`.
    fn native_url(&self, call: &native::NativeCall<'_>) -> Result<String, UpstreamError> {
        let (base, path) = match self {
            AnyAdapter::Anthropic(p) if call.dialect == native::NativeDialect::Messages => {
                (&p.endpoint().base, call.path)
            }
            AnyAdapter::OpenAi(p) if call.dialect == native::NativeDialect::Responses => (
                &p.endpoint().base,
                call.path.strip_prefix("/v1").unwrap_or(call.path),
            ),
            _ => {
                return Err(UpstreamError::Unservable {
                    status: 400,
                    message: "this provider kind does not speak this API natively".into(),
                    body: Bytes::new(),
                })
            }
        };
        Ok(format!("{base}{path}"))
    }

    /// A native passthrough (`call`), non-stream, bounded by `timeout`:
    /// the upstream's answer as it sent it.
    pub(crate) async fn native(
        &self,
        a: &Attempt<'_>,
        call: &native::NativeCall<'_>,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        let url = self.native_url(call)?;
        match self {
            AnyAdapter::Anthropic(p) => {
                let ep = p.endpoint();
                let on_error = |s, h: &_, b| native::anthropic_error(ep, s, h, b);
                native::fetch(ep, a, (url, call), timeout, on_error).await
            }
            AnyAdapter::OpenAi(p) => {
                let on_error = |s, h: &_, b| p.error(s, h, b);
                native::fetch(p.endpoint(), a, (url, call), timeout, on_error).await
            }
            AnyAdapter::Gemini(_) => Err(UpstreamError::Broken("no native API".into())),
        }
    }

    /// Opens a native passthrough stream (the caller bounds the wait); its
    /// events carry [`StreamMapper::Native`].
    pub(crate) async fn native_stream(
        &self,
        a: &Attempt<'_>,
        call: &native::NativeCall<'_>,
    ) -> Result<UpstreamStream, UpstreamError> {
        let url = self.native_url(call)?;
        match self {
            AnyAdapter::Anthropic(p) => {
                let ep = p.endpoint();
                let on_error = |s, h: &_, b| native::anthropic_error(ep, s, h, b);
                native::open(ep, a, (url, call), on_error).await
            }
            AnyAdapter::OpenAi(p) => {
                let on_error = |s, h: &_, b| p.error(s, h, b);
                native::open(p.endpoint(), a, (url, call), on_error).await
            }
            AnyAdapter::Gemini(_) => Err(UpstreamError::Broken("no native API".into())),
        }
    }
}

/// A non-stream answer, in OpenAI's format: whole, or (a pass-through
/// answer over [`BUFFERED_MAX`]) its start in `body` and the `rest` still
/// to relay.
pub(crate) struct Completion {
    pub body: Bytes,
    pub usage: Usage,
    pub rest: Option<Rest>,
}

/// Non-stream answers up to this size are read whole, checked and relayed;
/// larger pass-through answers are relayed as they arrive.
pub(crate) const BUFFERED_MAX: u64 = 1024 * 1024;

/// The unread rest of a large pass-through answer.
pub(crate) struct Rest {
    pub body: reqwest::Body,
    /// Bytes read so far (the head).
    pub read: u64,
    /// `upstream_max_body`.
    pub limit: u64,
    /// Reads the token counts from the answer's tail (its dialect's
    /// `usage`).
    pub usage: fn(&[u8]) -> Usage,
}

/// An open upstream stream and how to turn its events into OpenAI's.
pub(crate) struct UpstreamStream {
    pub body: reqwest::Body,
    pub mapper: StreamMapper,
}

/// Stream translation. OpenAI-format events pass through as is; translated
/// vendors carry their per-stream translator (boxed, so the passthrough
/// case stays one word).
pub enum StreamMapper {
    Passthrough,
    Translated(Box<crate::translate::StreamTranslator>),
    /// Another API's stream relayed as the upstream sent it (a native
    /// passthrough); the relay reads that dialect's usage and end marker.
    Native(native::NativeDialect),
}

/// Token counts as the upstream reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Usage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// Reads only `usage` from an OpenAI-format body.
///
/// Fast path: OpenAI-format servers put `usage` after `choices`, so the last
/// `"usage":` key in the body (a real quote, not an escaped one inside a
/// string) is read where it stands, without scanning the answer before it
/// (serde walking the whole body costs in proportion to the answer's
/// length, on every request). Anything unexpected falls back to
/// reading the body's top-level `usage` field the slow way.
pub(crate) fn parse_usage(body: &[u8]) -> Usage {
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
    value_near_end(body)
}

/// The value after the last unescaped `"usage":` key, if it reads as a `T`
/// (`null` reads as the default).
pub(crate) fn value_near_end<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Option<T> {
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
            Ok(None) => Some(T::default()),
            Err(_) => None,
        };
    }
    None
}

/// How an upstream attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
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
    /// A non-stream answer over `upstream_max_body` (the limit, in bytes).
    #[error("the answer is larger than the limit of {0} bytes (setting `upstream_max_body`)")]
    TooLarge(u64),
    #[error("broken answer: {0}")]
    Broken(String),
    /// The provider cannot serve this request for a reason of llmo's own
    /// account there (its key, permissions, region, quota), which the client
    /// cannot fix and another provider may not share: no retry on the same
    /// provider, fail over to the next. `status` and `body` (OpenAI-shaped)
    /// are the client's answer when no other provider can serve it.
    /// The upstream refused llmo's own credentials (its key is wrong,
    /// revoked, or lacks access): a provider failure, never the client's
    /// 401. `status` is the upstream's; the client gets 502
    /// `upstream_auth_failed` when no other provider answers.
    #[error("the provider rejected llmo's credentials (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    #[error("upstream answered {status}: {message}")]
    Unservable {
        status: u16,
        message: String,
        body: Bytes,
    },
}

impl UpstreamError {
    /// Worth another attempt (here or at another provider)?
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Connect(_) | UpstreamError::Timeout(_) | UpstreamError::Broken(_) => {
                true
            }
            UpstreamError::Status { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429) || *status >= 500
            }
            UpstreamError::Unservable { .. }
            | UpstreamError::Auth { .. }
            | UpstreamError::TooLarge(_) => false,
        }
    }

    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout(_))
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            UpstreamError::Timeout(_) => "upstream_timeout",
            UpstreamError::Connect(_) => "upstream_unreachable",
            UpstreamError::Status { status: 429, .. } => "upstream_rate_limited",
            UpstreamError::Auth { .. } => "upstream_auth_failed",
            UpstreamError::TooLarge(_) => "upstream_response_too_large",
            UpstreamError::Status { .. } | UpstreamError::Unservable { .. } => "upstream_error",
            UpstreamError::Broken(_) => "upstream_broken_response",
        }
    }

    pub(crate) fn log_type(&self) -> &'static str {
        match self {
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Connect(_) => "connect_error",
            UpstreamError::Status { status: 429, .. } => "upstream_429",
            UpstreamError::Status { status, .. } if *status >= 500 => "upstream_5xx",
            UpstreamError::Status { .. } => "upstream_4xx",
            UpstreamError::Unservable { .. } => "upstream_account",
            UpstreamError::Auth { .. } => "upstream_auth",
            UpstreamError::TooLarge(_) => "upstream_too_large",
            UpstreamError::Broken(_) => "upstream_broken",
        }
    }

    /// A transport error from reqwest as the client may see it: its class
    /// only (`connection refused`, `DNS lookup failed`, ...), never the URL
    /// or reqwest's text; those go to the server log.
    pub(crate) fn from_reqwest(e: &reqwest::Error, timeout_ms: u64) -> UpstreamError {
        let mut detail = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        let class = certificate_problem(e).unwrap_or_else(|| transport_class(e, &detail).into());
        tracing::warn!(error = %detail, "upstream transport error: {class}");
        if e.is_timeout() {
            UpstreamError::Timeout(timeout_ms)
        } else if e.is_body() || e.is_decode() {
            UpstreamError::Broken(class)
        } else {
            UpstreamError::Connect(class)
        }
    }
}

/// A TLS certificate the client rejected, named by rustls' reason (its
/// kind only: no host name or URL), with the fix for a private CA.
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        // rustls' error travels inside an io::Error, whose source() skips it.
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        let text = inner.map_or_else(|| s.to_string(), ToString::to_string);
        if let Some(reason) = text.strip_prefix("invalid peer certificate: ") {
            return Some(certificate_sentence(reason));
        }
        src = s.source();
    }
    None
}

/// rustls' reason (`UnknownIssuer`, `certificate expired: ...`) as the
/// client's sentence.
fn certificate_sentence(reason: &str) -> String {
    let r = reason.to_ascii_lowercase().replace(' ', "");
    let (what, kind) = if r.contains("unknownissuer") {
        return "upstream TLS certificate not trusted (UnknownIssuer); if a corporate proxy or \
                private CA signs it, point SSL_CERT_FILE at its PEM bundle"
            .into();
    } else if r.contains("notvalidforname") {
        ("not valid for the upstream's host name", "NotValidForName")
    } else if r.contains("notvalidyet") {
        ("not valid yet", "NotValidYet")
    } else if r.contains("expired") {
        ("expired", "Expired")
    } else {
        let word = reason.split(|c: char| !c.is_ascii_alphanumeric()).next();
        ("rejected", word.unwrap_or_default())
    };
    format!("upstream TLS certificate {what} ({kind})")
}

/// The class of a transport error, from the `io::Error` at the root of its
/// source chain, else from its text (`detail`, never shown to clients).
fn transport_class(e: &reqwest::Error, detail: &str) -> &'static str {
    use std::io::ErrorKind;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return "connection refused",
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                    return "connection reset by the upstream"
                }
                ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof => {
                    return "connection closed by the upstream"
                }
                ErrorKind::TimedOut => return "connection timed out",
                _ => {}
            }
        }
        src = s.source();
    }
    let d = detail.to_ascii_lowercase();
    if e.is_timeout() {
        "timed out"
    } else if d.contains("dns error") || d.contains("failed to lookup address") {
        "DNS lookup failed"
    } else if d.contains("certificate") || d.contains("tls") || d.contains("ssl") {
        "TLS handshake failed"
    } else if d.contains("connection closed") || d.contains("incomplete message") {
        "connection closed by the upstream"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    }
}

/// Checks that a non-stream success body is one complete JSON object (not
/// HTML, not cut off, not empty): anything else is a failed attempt.
pub(crate) fn check_object(body: &[u8]) -> Result<(), UpstreamError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let what = match first {
        None => "an empty body",
        Some(b'{') => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_eof() => "truncated JSON",
            Err(_) => "invalid JSON",
        },
        Some(b'<') => "HTML",
        Some(_) => "JSON that is not an object",
    };
    Err(UpstreamError::Broken(format!(
        "the upstream answered 200 with {what} ({} bytes), not a JSON object",
        body.len()
    )))
}

/// The start of a success body relayed as it arrives must open a JSON
/// object (the rest is checked at its end).
pub(crate) fn check_opens_object(head: &[u8]) -> Result<(), UpstreamError> {
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => check_object(head),
    }
}

/// Maps a non-success upstream answer. Message and body are
/// [`scrub`](crate::secret::scrub)bed: `hide` (the provider's key and base
/// URL), key-like tokens, bearer tokens and URLs never reach a client.
pub(crate) fn map_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
    hide: &[&str],
) -> UpstreamError {
    let body = scrub_body(body, hide);
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
    if let std::borrow::Cow::Owned(m) = crate::secret::scrub(&message, hide) {
        message = m;
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

/// An upstream error body with `hide`, keys, bearer tokens and URLs
/// replaced (the same bytes when there is none).
pub(crate) fn scrub_body(body: Bytes, hide: &[&str]) -> Bytes {
    let text = String::from_utf8_lossy(&body);
    match crate::secret::scrub(&text, hide) {
        std::borrow::Cow::Owned(s) => Bytes::from(s),
        std::borrow::Cow::Borrowed(_) => body,
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
#[allow(clippy::disallowed_methods, reason = "a test reading the source tree")]
mod tests {
    use super::*;

    #[test]
    fn map_error_reads_openai_messages_and_hides_the_key() {
        let body = Bytes::from_static(include_bytes!(
            "../../../tests/fixtures/openai/errors/401_invalid_api_key.json"
        ));
        let e = map_error(401, &Default::default(), body, &[]);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("401"), "{e}");

        let body = Bytes::from_static(
            br#"{"error":{"message":"Incorrect API key provided: sk-live-abcdefgh12345678."}}"#,
        );
        let e = map_error(
            401,
            &Default::default(),
            body,
            &["sk-live-abcdefgh12345678"],
        );
        assert!(!e.to_string().contains("abcdefgh"), "{e}");
        let body = Bytes::from_static(
            br#"{"error":{"message":"you sent x-api-key plainkey-0042 to http://10.0.0.7:8080/v1 (Authorization: Bearer tok.en/1)"}}"#,
        );
        let UpstreamError::Status { message, body, .. } =
            map_error(400, &Default::default(), body, &["plainkey-0042"])
        else {
            panic!()
        };
        for text in [message.as_str(), std::str::from_utf8(&body).unwrap()] {
            for leak in ["plainkey", "10.0.0.7", "tok.en"] {
                assert!(!text.contains(leak), "{leak} in {text}");
            }
        }
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());

        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        let e = map_error(429, &h, Bytes::from_static(b"slow down"), &[]);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(map_error(503, &h, Bytes::new(), &[]).is_retryable());
        assert!(!map_error(422, &h, Bytes::new(), &[]).is_retryable());
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
    fn only_a_complete_json_object_is_a_success_body() {
        assert!(check_object(b" {\"a\":[1]}\n").is_ok());
        for (body, what) in [
            (&b""[..], "an empty body"),
            (b"  \n", "an empty body"),
            (b"<html>oops</html>", "HTML"),
            (b"{\"choices\":[{\"a\"", "truncated JSON"),
            (b"{\"a\":1} {", "invalid JSON"),
            (b"[1]", "not an object"),
        ] {
            let e = check_object(body).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
            assert_eq!(e.code(), "upstream_broken_response");
        }
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

    /// Every `.rs` file below `dir`.
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The adapters are a leaf of the gateway (issue 9): nothing below
    /// `providers/` reaches the server side (`gateway/mod.rs`, `proxy`,
    /// `stream`, `body`, `error`, `router`, `Shared`, ...), whatever the path
    /// spelling.
    #[test]
    fn adapters_do_not_import_the_server() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gateway/providers");
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        assert!(files.len() >= 5, "{files:?}");
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            let is_mod = f.file_name().is_some_and(|n| n == "mod.rs") && f.parent() == Some(&*root);
            for (n, line) in text.lines().enumerate() {
                // The code outside string literals and comments.
                let code: String = line.split('"').step_by(2).collect();
                let code = code.split("//").next().unwrap_or("");
                let outside = code.contains("super::super")
                    || code
                        .match_indices("gateway::")
                        .any(|(i, _)| !code[i + "gateway::".len()..].starts_with("providers"))
                    // In `providers/mod.rs` a top-level `super::` is the gateway.
                    || (is_mod && code.starts_with("use super::"))
                    || (is_mod && code.starts_with("pub use super::"));
                if outside {
                    bad.push(format!("{}:{}: {line}", f.display(), n + 1));
                }
            }
        }
        assert!(
            bad.is_empty(),
            "adapters import the server side:\n{}",
            bad.join("\n")
        );
    }
}

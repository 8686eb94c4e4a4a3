//! One cheap reachability request to a provider: its models list, never a
//! paid completion (users' complaint: "health checks that cost money").
//! Used by `llmo doctor --probe` and the admin API's provider test; it lives
//! with the adapters because it speaks each vendor's upstream API.
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};

use crate::catalog::{Provider, ProviderKind};
use crate::secret::Secret;

use crate::translate::anthropic::API_VERSION as ANTHROPIC_VERSION;

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// A 2xx answer: reachable and the key was accepted.
    Ok,
    /// 401 or 403: reachable, but the key was refused (or none was sent).
    KeyRejected,
    /// 429: reachable and the key is known, but rate limited right now.
    RateLimited,
    /// Any other HTTP status.
    Http,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made (DNS, refused, TLS); the text says which.
    Connect(String),
    /// The request failed another way; the text says how.
    Other(String),
}

/// The result of one probe.
#[derive(Debug, Clone)]
pub(crate) struct ProbeResult {
    /// The URL called (the key is in headers, never in the URL).
    pub(crate) url: String,
    /// The HTTP status, when an answer came.
    pub(crate) status: Option<u16>,
    /// Time until the response headers arrived (or the failure).
    pub(crate) latency: Duration,
    pub(crate) outcome: ProbeOutcome,
    /// Whether a key was sent.
    pub(crate) sent_key: bool,
}

impl ProbeResult {
    /// Reachable with an accepted key.
    pub(crate) fn is_ok(&self) -> bool {
        self.outcome == ProbeOutcome::Ok
    }
}

/// The models-list URL for a provider.
fn models_url(provider: &Provider) -> String {
    let base = provider.base_url.trim_end_matches('/');
    match provider.kind {
        ProviderKind::Anthropic => format!("{base}/v1/models"),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Gemini => {
            format!("{base}/models")
        }
    }
}

/// The authentication headers each vendor expects, marked sensitive so they
/// never show in debug output.
fn auth_headers(kind: ProviderKind, key: Option<&Secret>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let sensitive = |v: String| {
        HeaderValue::from_str(&v).ok().map(|mut v| {
            v.set_sensitive(true);
            v
        })
    };
    if kind == ProviderKind::Anthropic {
        h.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
    }
    let Some(key) = key else { return h };
    match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            if let Some(v) = sensitive(format!("Bearer {}", key.expose())) {
                h.insert(reqwest::header::AUTHORIZATION, v);
            }
        }
        ProviderKind::Anthropic => {
            if let Some(v) = sensitive(key.expose().to_string()) {
                h.insert("x-api-key", v);
            }
        }
        ProviderKind::Gemini => {
            if let Some(v) = sensitive(key.expose().to_string()) {
                h.insert("x-goog-api-key", v);
            }
        }
    }
    h
}

/// Calls the provider's models list once, with `timeout` for the whole
/// exchange, and reports status and latency. The key is the provider's
/// stored key or the environment variable it names, read now. The body is
/// never shown (bodies can echo key fragments); it is only searched for
/// Gemini's `API_KEY_INVALID` reason, because Gemini refuses a bad key with
/// a 400, not a 401.
pub(crate) async fn probe(
    http: &reqwest::Client,
    provider: &Provider,
    timeout: Duration,
) -> ProbeResult {
    let url = models_url(provider);
    let key = provider.resolve_key();
    let req = http
        .get(&url)
        .headers(auth_headers(provider.kind, key.as_ref()))
        .timeout(timeout);
    let start = Instant::now();
    // reqwest's own timeout covers connect and headers; the outer one is a
    // guard in case a resolver ignores it.
    let res = tokio::time::timeout(timeout + Duration::from_millis(250), req.send()).await;
    let latency = start.elapsed();
    let (status, outcome) = match res {
        Err(_) => (None, ProbeOutcome::Timeout),
        Ok(Ok(resp)) => {
            let s = resp.status();
            let outcome = if s.is_success() {
                ProbeOutcome::Ok
            } else if s == reqwest::StatusCode::UNAUTHORIZED
                || s == reqwest::StatusCode::FORBIDDEN
                || (provider.kind == ProviderKind::Gemini
                    && s == reqwest::StatusCode::BAD_REQUEST
                    && gemini_key_invalid(resp, timeout).await)
            {
                ProbeOutcome::KeyRejected
            } else if s == reqwest::StatusCode::TOO_MANY_REQUESTS {
                ProbeOutcome::RateLimited
            } else {
                ProbeOutcome::Http
            };
            (Some(s.as_u16()), outcome)
        }
        Ok(Err(e)) => (e.status().map(|s| s.as_u16()), classify(&e)),
    };
    ProbeResult {
        url,
        status,
        latency,
        outcome,
        sent_key: key.is_some(),
    }
}

/// Whether a Gemini 400 body gives `API_KEY_INVALID` as its reason (read
/// up to 64 KiB, within `timeout`).
async fn gemini_key_invalid(mut resp: reqwest::Response, timeout: Duration) -> bool {
    let read = async {
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > 64 * 1024 {
                break;
            }
        }
        body
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(body) => body.windows(15).any(|w| w == b"API_KEY_INVALID"),
        Err(_) => false,
    }
}

fn classify(e: &reqwest::Error) -> ProbeOutcome {
    if e.is_timeout() {
        return ProbeOutcome::Timeout;
    }
    let cause = root_cause(e);
    if e.is_connect() {
        ProbeOutcome::Connect(cause)
    } else {
        ProbeOutcome::Other(cause)
    }
}

/// The innermost error message ("Connection refused (os error 111)", "dns
/// error: ..."), which says more than reqwest's outer "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut msgs = vec![cur.to_string()];
    while let Some(next) = cur.source() {
        msgs.push(next.to_string());
        cur = next;
    }
    // Keep the last two distinct messages: the kind and the OS detail.
    msgs.dedup();
    let n = msgs.len();
    msgs[n.saturating_sub(2)..].join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(kind: ProviderKind, base: &str) -> Provider {
        Provider {
            id: 1,
            name: "p".into(),
            kind,
            base_url: base.into(),
            api_key: Some(Secret::new("sk-test-0123456789abcdef")),
            api_key_env: None,
            priority: 0,
            weight: 1,
            max_retries: 2,
            timeout_ms: 60_000,
            rate_limit_rpm: 0,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_vendor_gets_its_models_url_and_auth_header() {
        let key = Secret::new("k-123");
        let p = provider(ProviderKind::OpenAi, "https://api.openai.com/v1/");
        assert_eq!(models_url(&p), "https://api.openai.com/v1/models");
        let h = auth_headers(ProviderKind::OpenAi, Some(&key));
        assert_eq!(h["authorization"], "Bearer k-123");
        assert!(h["authorization"].is_sensitive());

        let p = provider(ProviderKind::Anthropic, "https://api.anthropic.com");
        assert_eq!(models_url(&p), "https://api.anthropic.com/v1/models");
        let h = auth_headers(ProviderKind::Anthropic, Some(&key));
        assert_eq!(h["x-api-key"], "k-123");
        assert_eq!(h["anthropic-version"], ANTHROPIC_VERSION);
        assert!(h.get("authorization").is_none());

        let p = provider(
            ProviderKind::Gemini,
            "https://generativelanguage.googleapis.com/v1beta",
        );
        assert_eq!(
            models_url(&p),
            "https://generativelanguage.googleapis.com/v1beta/models"
        );
        let h = auth_headers(ProviderKind::Gemini, Some(&key));
        assert_eq!(h["x-goog-api-key"], "k-123");

        let h = auth_headers(ProviderKind::OpenAiCompatible, None);
        assert!(h.is_empty());
    }

    #[test]
    fn refused_connection_is_a_connect_error() {
        // Bind then drop to get a port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = provider(
            ProviderKind::OpenAiCompatible,
            &format!("http://127.0.0.1:{port}/v1"),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = rt.block_on(probe(&http, &p, Duration::from_secs(2)));
        assert!(matches!(r.outcome, ProbeOutcome::Connect(_)), "{r:?}");
        assert_eq!(r.status, None);
        assert!(r.sent_key);
    }
}

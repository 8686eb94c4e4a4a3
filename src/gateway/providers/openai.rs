//! The `openai` and `openai-compatible` adapter: `Authorization: Bearer`,
//! the client's body with `model` rewritten, the upstream's response bytes
//! forwarded unchanged (only `usage` is read, for the request log).
//!
//! The response's `model` field is left as the upstream wrote it (e.g.
//! `gpt-4o-mini-2024-07-18` for a public model `fast`): that is what OpenAI
//! itself does for aliases, SDKs do not check it, and it tells the client
//! which model really answered. Rewriting it would cost a parse and a
//! re-serialisation of every response.
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;

use super::{
    map_error, parse_usage, Completion, Provider, StreamMapper, UpstreamError, UpstreamStream,
};
use crate::catalog::Provider as ProviderRow;
use crate::gateway::request::ClientRequest;
use crate::secret::Secret;

pub const KIND: &str = "openai";

pub struct OpenAi {
    chat_url: Url,
    embeddings_url: Url,
    /// `Bearer <key>`, marked sensitive so it never shows in debug output.
    auth: Option<HeaderValue>,
    /// Kept to scrub the key from upstream error messages.
    key: Option<Secret>,
}

impl OpenAi {
    pub fn new(p: &ProviderRow) -> Result<Self, String> {
        let base = p.base_url.trim_end_matches('/');
        let url = |path: &str| {
            Url::parse(&format!("{base}/{path}"))
                .map_err(|e| format!("base URL `{base}` is invalid: {e}"))
        };
        let key = p.resolve_key();
        let auth = match &key {
            Some(k) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", k.expose())).map_err(|_| {
                        "the API key contains characters not allowed in a header".to_string()
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(OpenAi {
            chat_url: url("chat/completions")?,
            embeddings_url: url("embeddings")?,
            auth,
            key,
        })
    }

    fn post(
        &self,
        http: &reqwest::Client,
        url: &Url,
        body: Vec<u8>,
        sse: bool,
    ) -> reqwest::RequestBuilder {
        let mut b = http
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                ACCEPT,
                HeaderValue::from_static(if sse {
                    "text/event-stream"
                } else {
                    "application/json"
                }),
            )
            .body(body);
        if let Some(a) = &self.auth {
            b = b.header(AUTHORIZATION, a.clone());
        }
        b
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        url: &Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        let ms = timeout.as_millis() as u64;
        let work = async {
            let res = self
                .post(http, url, body, false)
                .send()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, ms))?;
            let status = res.status();
            // The headers are only read for errors (Retry-After): no clone
            // of the header map on the success path.
            let headers = (!status.is_success()).then(|| res.headers().clone());
            let bytes: Bytes = res
                .bytes()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, ms))?;
            if let Some(headers) = headers {
                return Err(self.error(status.as_u16(), &headers, bytes));
            }
            Ok(Completion {
                usage: parse_usage(&bytes),
                body: bytes,
            })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| UpstreamError::Timeout(ms))?
    }

    fn error(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: Bytes,
    ) -> UpstreamError {
        map_error(status, headers, body, self.key.as_ref().map(Secret::expose))
    }
}

impl Provider for OpenAi {
    fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = req.encode_openai(upstream_model, false);
        self.call(http, &self.chat_url, body, timeout)
    }

    fn chat_stream(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send {
        // Always ask for the usage chunk so the log has token counts; the
        // relay drops it again when the client did not ask for it.
        let body = req.encode_openai(upstream_model, true);
        async move {
            let res = self
                .post(http, &self.chat_url, body, true)
                .send()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, 0))?;
            let status = res.status();
            if !status.is_success() {
                let headers = res.headers().clone();
                let bytes = res
                    .bytes()
                    .await
                    .map_err(|e| UpstreamError::from_reqwest(&e, 0))?;
                return Err(self.error(status.as_u16(), &headers, bytes));
            }
            Ok(UpstreamStream {
                body: reqwest::Body::from(res),
                mapper: StreamMapper::Passthrough,
            })
        }
    }

    fn embeddings(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = req.encode_openai(upstream_model, false);
        self.call(http, &self.embeddings_url, body, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderKind;

    fn row(base: &str, key: Option<&str>) -> ProviderRow {
        ProviderRow {
            id: 1,
            name: "p".into(),
            kind: ProviderKind::OpenAiCompatible,
            base_url: base.into(),
            api_key: key.map(Secret::new),
            api_key_env: None,
            priority: 0,
            weight: 1,
            max_retries: 0,
            timeout_ms: 1000,
            rate_limit_rpm: 0,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn urls_and_auth() {
        let p = OpenAi::new(&row("http://127.0.0.1:9/v1/", Some("sk-test-123456789"))).unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            p.embeddings_url.as_str(),
            "http://127.0.0.1:9/v1/embeddings"
        );
        let a = p.auth.unwrap();
        assert!(a.is_sensitive());
        assert_eq!(a.to_str().unwrap(), "Bearer sk-test-123456789");
        let p = OpenAi::new(&row("http://127.0.0.1:9/v1", None)).unwrap();
        assert!(p.auth.is_none());
        assert!(OpenAi::new(&row("http://127.0.0.1:9/v1", Some("bad\nkey"))).is_err());
    }
}

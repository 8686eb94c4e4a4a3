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

use reqwest::Url;

use super::upstream::{Auth, UpstreamEndpoint};
use super::{
    map_error, parse_usage, Adapter, Attempt, Completion, StreamMapper, UpstreamError,
    UpstreamStream,
};
use crate::catalog::Provider;

pub(crate) struct OpenAi {
    /// Parsed once here, so a request only clones them.
    chat_url: Url,
    embeddings_url: Url,
    endpoint: UpstreamEndpoint,
}

impl OpenAi {
    pub(crate) fn new(p: &Provider) -> Result<Self, String> {
        let endpoint = UpstreamEndpoint::new(&p.base_url, p.resolve_key(), Auth::Bearer, None)?;
        let base = &endpoint.base;
        let url = |path: &str| {
            Url::parse(&format!("{base}/{path}"))
                .map_err(|e| format!("base URL `{base}` is invalid: {e}"))
        };
        Ok(OpenAi {
            chat_url: url("chat/completions")?,
            embeddings_url: url("embeddings")?,
            endpoint,
        })
    }

    fn error(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: bytes::Bytes,
    ) -> UpstreamError {
        map_error(status, headers, body, self.endpoint.secret())
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        url: &Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Completion, UpstreamError> {
        let bytes = self
            .endpoint
            .fetch(http, url.clone(), body, timeout, |s, h, b| {
                self.error(s, h, b)
            })
            .await?;
        Ok(Completion {
            usage: parse_usage(&bytes),
            body: bytes,
        })
    }
}

impl Adapter for OpenAi {
    fn chat(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = a.req.encode_openai(a.upstream_model, false);
        self.call(a.http, &self.chat_url, body, timeout)
    }

    fn chat_stream(
        &self,
        a: &Attempt<'_>,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send {
        // Always ask for the usage chunk so the log has token counts; the
        // relay drops it again when the client did not ask for it.
        let body = a.req.encode_openai(a.upstream_model, true);
        async move {
            let body = self
                .endpoint
                .open_stream(a.http, self.chat_url.clone(), body, |s, h, b| {
                    self.error(s, h, b)
                })
                .await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Passthrough,
            })
        }
    }

    fn embeddings(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = a.req.encode_openai(a.upstream_model, false);
        self.call(a.http, &self.embeddings_url, body, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderKind;
    use crate::secret::Secret;

    fn row(base: &str, key: Option<&str>) -> Provider {
        Provider {
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
        let (name, a) = p.endpoint.auth.unwrap();
        assert_eq!(name, reqwest::header::AUTHORIZATION);
        assert!(a.is_sensitive());
        assert_eq!(a.to_str().unwrap(), "Bearer sk-test-123456789");
        let p = OpenAi::new(&row("http://127.0.0.1:9/v1", None)).unwrap();
        assert!(p.endpoint.auth.is_none());
        assert!(OpenAi::new(&row("http://127.0.0.1:9/v1", Some("bad\nkey"))).is_err());
    }
}

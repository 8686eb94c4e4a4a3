//! The `anthropic` adapter: Messages API over HTTP around the pure
//! translation in `crate::translate::anthropic` (OpenAI request in, OpenAI
//! completion or chunk stream out). Anthropic has no embeddings API.
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::request::ClientRequest;
use super::translated::fallback_identity;
use super::upstream::{Auth, UpstreamEndpoint};
use super::{Adapter, Completion, StreamMapper, UpstreamError, UpstreamStream};
use crate::catalog::Provider;
use crate::translate::{anthropic, StreamTranslator};

pub(crate) struct Anthropic {
    endpoint: UpstreamEndpoint,
}

impl Anthropic {
    pub(crate) fn new(p: &Provider) -> Result<Self, String> {
        Ok(Anthropic {
            endpoint: UpstreamEndpoint::new(
                &p.base_url,
                p.resolve_key(),
                Auth::Header("x-api-key"),
                Some(("anthropic-version", anthropic::API_VERSION)),
            )?,
        })
    }
}

impl Adapter for Anthropic {
    fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let call = anthropic::request(&req.to_value(), upstream_model, false);
        let public = req.model.to_string();
        async move {
            self.endpoint
                .complete(
                    http,
                    call,
                    &public,
                    timeout,
                    anthropic::error,
                    anthropic::response,
                )
                .await
        }
    }

    fn chat_stream(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send {
        let value = req.to_value();
        let call = anthropic::request(&value, upstream_model, true);
        let (id, created) = fallback_identity();
        let translator =
            StreamTranslator::anthropic(&req.model, req.client_wants_usage, &id, created);
        async move {
            let body = self
                .endpoint
                .open_call(http, call, anthropic::error)
                .await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Translated(Box::new(translator)),
            })
        }
    }

    fn embeddings(
        &self,
        _http: &reqwest::Client,
        _req: &ClientRequest<'_>,
        _upstream_model: &str,
        _timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let e = anthropic::embeddings_unsupported();
        std::future::ready(Err(UpstreamError::Status {
            status: e.status(),
            retry_after: None,
            message: e.to_string(),
            body: Bytes::from(e.to_openai_bytes()),
        }))
    }
}

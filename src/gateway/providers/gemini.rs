//! The `gemini` adapter: `generateContent` / `streamGenerateContent` and
//! `batchEmbedContents` over HTTP around the pure translation in
//! `crate::translate::gemini`.
use std::future::Future;
use std::time::Duration;

use super::request::ClientRequest;
use super::translated::{completion, fallback_identity, translate_error};
use super::upstream::{Auth, UpstreamEndpoint};
use super::{parse_usage, Adapter, Completion, StreamMapper, UpstreamError, UpstreamStream};
use crate::catalog::Provider;
use crate::translate::{gemini, StreamTranslator};

pub(crate) struct Gemini {
    endpoint: UpstreamEndpoint,
}

impl Gemini {
    pub(crate) fn new(p: &Provider) -> Result<Self, String> {
        Ok(Gemini {
            endpoint: UpstreamEndpoint::new(
                &p.base_url,
                p.resolve_key(),
                Auth::Header("x-goog-api-key"),
                None,
            )?,
        })
    }
}

impl Adapter for Gemini {
    fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let call = gemini::request(&req.to_value(), upstream_model, false);
        let public = req.model.to_string();
        async move {
            self.endpoint
                .complete(
                    http,
                    call,
                    &public,
                    timeout,
                    gemini::error,
                    gemini::response,
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
        let call = gemini::request(&value, upstream_model, true);
        let (id, created) = fallback_identity();
        let translator = StreamTranslator::gemini(&req.model, req.client_wants_usage, &id, created);
        async move {
            let body = self.endpoint.open_call(http, call, gemini::error).await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Translated(Box::new(translator)),
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
        let value = req.to_value();
        let call = gemini::embeddings_request(&value, upstream_model);
        let public = req.model.to_string();
        async move {
            let call = call.map_err(|e| translate_error(&e))?;
            let body = self
                .endpoint
                .call(http, &call.path, call.body, timeout, gemini::error)
                .await?;
            let list = gemini::embeddings_response(&body, &value, &public)
                .map_err(|e| translate_error(&e))?;
            let mut c = completion(&list, Default::default())?;
            c.usage = parse_usage(&c.body);
            Ok(c)
        }
    }
}

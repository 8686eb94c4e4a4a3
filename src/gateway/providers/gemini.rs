//! The `gemini` adapter: `generateContent` / `streamGenerateContent` and
//! `batchEmbedContents` over HTTP around the pure translation in
//! `crate::translate::gemini`.
use std::future::Future;
use std::time::Duration;

use super::translated::{completion, fallback_identity, translate_error, usage_of, Endpoint};
use super::{parse_usage, Completion, Provider, StreamMapper, UpstreamError, UpstreamStream};
use crate::catalog::Provider as ProviderRow;
use crate::gateway::request::ClientRequest;
use crate::translate::{gemini, ResponseMeta};

pub const KIND: &str = "gemini";

pub struct Gemini {
    endpoint: Endpoint,
}

impl Gemini {
    pub fn new(p: &ProviderRow) -> Result<Self, String> {
        Ok(Gemini {
            endpoint: Endpoint::new(&p.base_url, p.resolve_key(), "x-goog-api-key", None)?,
        })
    }
}

impl Provider for Gemini {
    fn chat(
        &self,
        http: &reqwest::Client,
        req: &ClientRequest<'_>,
        upstream_model: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let value = req.to_value();
        let call = gemini::request(&value, upstream_model, false);
        let public = req.model.to_string();
        async move {
            let call = call.map_err(|e| translate_error(&e))?;
            let body = self
                .endpoint
                .call(http, &call.path, call.body, timeout, gemini::error)
                .await?;
            let (id, created) = fallback_identity();
            let meta = ResponseMeta {
                public_model: &public,
                fallback_id: &id,
                created,
            };
            let cc = gemini::response(&body, &meta).map_err(|e| translate_error(&e))?;
            completion(&cc, usage_of(cc.usage))
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
        let translator =
            gemini::StreamTranslator::new(&req.model, req.client_wants_usage, &id, created);
        async move {
            let call = call.map_err(|e| translate_error(&e))?;
            let body = self
                .endpoint
                .open(http, &call.path, call.body, gemini::error)
                .await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Gemini(Box::new(translator)),
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

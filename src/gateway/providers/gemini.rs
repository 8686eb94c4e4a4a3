//! The `gemini` adapter: `generateContent` / `streamGenerateContent` through
//! the shared [`Translated`] adapter, plus `batchEmbedContents`, with the
//! pure translation in `crate::translate::gemini`.
use std::future::Future;
use std::time::Duration;

use super::translated::{
    completion, translate_error, ErrorFn, RequestFn, ResponseFn, StreamFn, Translated, Vendor,
};
use super::upstream::UpstreamEndpoint;
use super::{parse_usage, Attempt, Completion, UpstreamError};
use crate::translate::{gemini, StreamTranslator};

pub(crate) type Gemini = Translated<GenerateContent>;

/// Gemini's hooks for [`Translated`].
pub(crate) struct GenerateContent;

impl Vendor for GenerateContent {
    const KEY_HEADER: &'static str = "x-goog-api-key";
    const REQUEST: RequestFn = gemini::request;
    const RESPONSE: ResponseFn = gemini::response;
    const ERROR: ErrorFn = gemini::error;
    const STREAM: StreamFn = StreamTranslator::gemini;

    fn embeddings(
        endpoint: &UpstreamEndpoint,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let value = a.req.to_value();
        let call = gemini::embeddings_request(&value, a.upstream_model);
        let public = a.req.model.to_string();
        async move {
            let call = call.map_err(|e| translate_error(&e))?;
            let body = endpoint
                .call(
                    a.http,
                    &call.path,
                    call.body,
                    (timeout, a.max_body),
                    gemini::error,
                )
                .await?;
            let list = gemini::embeddings_response(&body, &value, &public)
                .map_err(|e| translate_error(&e))?;
            let mut c = completion(&list, Default::default())?;
            c.usage = parse_usage(&c.body);
            Ok(c)
        }
    }
}

//! The `anthropic` adapter: the Messages API through the shared
//! [`Translated`] adapter, with the pure translation in
//! `crate::translate::anthropic` (OpenAI request in, OpenAI completion or
//! chunk stream out). Anthropic has no embeddings API.
use std::future::Future;
use std::time::Duration;

use super::translated::{
    translate_error, ErrorFn, RequestFn, ResponseFn, StreamFn, Translated, Vendor,
};
use super::upstream::UpstreamEndpoint;
use super::{Attempt, Completion, UpstreamError};
use crate::translate::{anthropic, StreamTranslator};

pub(crate) type Anthropic = Translated<Messages>;

/// Anthropic's hooks for [`Translated`].
pub(crate) struct Messages;

impl Vendor for Messages {
    const KEY_HEADER: &'static str = "x-api-key";
    const EXTRA_HEADER: Option<(&'static str, &'static str)> =
        Some(("anthropic-version", anthropic::API_VERSION));
    const REQUEST: RequestFn = anthropic::request;
    const RESPONSE: ResponseFn = anthropic::response;
    const ERROR: ErrorFn = anthropic::error;
    const STREAM: StreamFn = StreamTranslator::anthropic;

    fn embeddings(
        _endpoint: &UpstreamEndpoint,
        _a: &Attempt<'_>,
        _timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        std::future::ready(Err(translate_error(&anthropic::embeddings_unsupported())))
    }
}

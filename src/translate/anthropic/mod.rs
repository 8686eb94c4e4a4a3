//! OpenAI Chat Completions <-> Anthropic Messages (`POST /v1/messages`).
//!
//! Decisions are listed in the tables of [`crate::translate`]; this
//! directory implements them: `wire` (Anthropic's JSON, typed), `request`,
//! `response`, `stream` (the Anthropic hooks of the shared stream
//! translator) and `error`.
mod error;
mod request;
mod response;
mod stream;
mod wire;

pub use error::error;
pub use request::request;
pub use response::response;
pub(crate) use stream::Stream;

use crate::translate::{unsupported, TranslateError};

/// The `anthropic-version` header every call carries.
pub const API_VERSION: &str = "2023-06-01";
const MESSAGES_PATH: &str = "/v1/messages";
/// Name of the forced tool that implements `response_format: json_object`.
const JSON_OBJECT_TOOL: &str = "llmo_json_object";
/// Why `/v1/embeddings` cannot go to Anthropic.
const EMBEDDINGS_UNSUPPORTED: &str =
    "Anthropic has no embeddings API; route embedding models to an OpenAI-compatible or Gemini provider";

/// The 400 the gateway returns for `/v1/embeddings` on an Anthropic model.
pub fn embeddings_unsupported() -> TranslateError {
    unsupported("model", EMBEDDINGS_UNSUPPORTED)
}

/// What the unit tests of this directory share.
#[cfg(test)]
mod test_util {
    pub(super) use super::{embeddings_unsupported, request, response};
    pub(super) use crate::translate::openai::FinishReason;
    pub(super) use crate::translate::openai::Json;
    pub(super) use crate::translate::test_support::*;
    pub(super) use crate::translate::{ResponseMeta, StreamTranslator};
    pub(super) use serde_json::Value;

    pub(super) const META: ResponseMeta<'static> = ResponseMeta {
        public_model: "claude-public",
        fallback_id: "chatcmpl-llmo-fallback",
        created: 1_700_000_000,
    };

    pub(super) fn req_json(openai: &Value, model: &str, stream: bool) -> Value {
        let call = request(&Json::from(openai), model, stream).unwrap();
        assert_eq!(call.path, "/v1/messages");
        serde_json::from_slice(&call.body).unwrap()
    }

    pub(super) fn translate_stream(chunks: &[&[u8]], include_usage: bool) -> Vec<u8> {
        let t = StreamTranslator::anthropic(
            "claude-public",
            include_usage,
            "chatcmpl-llmo-fallback",
            1_700_000_000,
        );
        run_stream(t, chunks)
    }
}

//! OpenAI Chat Completions / Embeddings <-> Google Gemini API
//! (`generateContent`, `streamGenerateContent?alt=sse`, `embedContent`,
//! `batchEmbedContents`; base URL `https://generativelanguage.googleapis.com/v1beta`).
//!
//! Decisions are listed in the tables of [`crate::translate`]; this
//! directory implements them: `wire` (Gemini's JSON, typed), `request`,
//! `response`, `stream` (the Gemini hooks of the shared stream translator),
//! `error` and `embeddings`.
mod embeddings;
mod error;
mod request;
mod response;
mod stream;
mod wire;

pub use embeddings::{embeddings_request, embeddings_response};
pub use error::error;
pub use request::request;
pub use response::response;
pub(crate) use stream::Stream;

use crate::translate::{invalid, TranslateError};

/// Separator between a tool-call id and the Gemini thought signature it carries.
pub(crate) const THOUGHT_SEPARATOR: &str = "__thought__";
/// Documented placeholder signature for function calls Gemini 3 did not
/// produce itself (history from another provider, or a client that dropped it).
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The model segment of the URL: `models/` prefix stripped, characters checked
/// so a catalog entry can never inject a path or query.
fn model_segment(upstream_model: &str) -> Result<&str, TranslateError> {
    let m = upstream_model
        .strip_prefix("models/")
        .unwrap_or(upstream_model);
    if m.is_empty()
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(invalid(
            "model",
            format!("upstream model name `{upstream_model}` is not a valid Gemini model id"),
        ));
    }
    Ok(m)
}

/// What the unit tests of this directory share.
#[cfg(test)]
mod test_util {
    pub(super) use super::{request, response};
    pub(super) use crate::translate::openai::Json;
    pub(super) use crate::translate::test_support::*;
    pub(super) use crate::translate::{ResponseMeta, StreamTranslator};
    pub(super) use serde_json::{json, Value};

    pub(super) const META: ResponseMeta<'static> = ResponseMeta {
        public_model: "gemini-public",
        fallback_id: "chatcmpl-llmo-fallback",
        created: 1_700_000_000,
    };

    pub(super) fn req_json(openai: &Value, model: &str, stream: bool) -> (String, Value) {
        let call = request(&Json::from(openai), model, stream).unwrap();
        (call.path, serde_json::from_slice(&call.body).unwrap())
    }

    pub(super) fn translate_stream(chunks: &[&[u8]], include_usage: bool) -> Vec<u8> {
        let t = StreamTranslator::gemini(
            "gemini-public",
            include_usage,
            "chatcmpl-llmo-fallback",
            1_700_000_000,
        );
        run_stream(t, chunks)
    }
}

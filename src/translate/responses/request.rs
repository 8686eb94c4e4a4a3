//! Responses request -> Chat Completions request.
use crate::translate::{ChatRequest, TranslateError};

/// `prior`: the stored conversation before this request (a JSON array of
/// Responses items), prepended to this request's `input`.
pub(crate) fn to_chat(body: &[u8], prior: Option<&[u8]>) -> Result<ChatRequest, TranslateError> {
    let _ = (body, prior);
    Err(crate::translate::unsupported(
        "input",
        "not implemented yet",
    ))
}

/// This request's `input` as a JSON array of items.
pub(crate) fn input_items(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let _ = body;
    Ok(b"[]".to_vec())
}

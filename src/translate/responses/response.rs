//! Chat completion -> Response object.
use super::ResponseMeta;
use crate::translate::TranslateError;

/// chat.completion JSON -> a Response object JSON.
pub(crate) fn from_chat(
    completion: &[u8],
    meta: &ResponseMeta<'_>,
) -> Result<Vec<u8>, TranslateError> {
    let _ = (completion, meta);
    Err(TranslateError::Upstream {
        message: "not implemented yet".into(),
    })
}

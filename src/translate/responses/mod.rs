//! OpenAI Responses as the client's API, translated to and from OpenAI Chat
//! Completions (which llmo's providers and translators already speak).
//! `request` turns a Responses request (plus the stored conversation of
//! `previous_response_id`) into a [`ChatRequest`](super::ChatRequest);
//! `response` turns a `chat.completion` into a Response object; `stream`
//! turns Chat chunk SSE into the Responses event stream. The mapping tables
//! are in the `translate` module docs ("Responses ingress").

mod request;
mod response;
mod stream;
#[cfg(test)]
mod test_util;
mod wire;

pub(crate) use request::{input_items, responses_param, to_chat};
pub(crate) use response::from_chat;
pub(crate) use stream::ResponsesEncoder;

/// Identity and echo source of the Response object llmo builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseMeta<'a> {
    /// Issued by the gateway: `resp_` + 32 hex chars.
    pub id: &'a str,
    /// The public model name.
    pub model: &'a str,
    /// Unix seconds.
    pub created_at: u64,
    /// The client's request body (the echoed fields are read from it).
    pub request: &'a [u8],
}

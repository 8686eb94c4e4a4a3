//! Native passthrough: a client request of another API (Anthropic Messages
//! to an `anthropic` provider, OpenAI Responses to an `openai` one) sent to
//! the provider's own endpoint with the body as the client sent it but for
//! `model`, llmo's key in place of the client's, and the client's API
//! headers (`anthropic-version`, `anthropic-beta`) forwarded. The answer
//! comes back byte for byte; only its usage is read, for the request log.
//! Errors are mapped by the vendor's own mapper, so retries and failover
//! decide exactly as for chat.
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::translated::from_mapped_hiding;
use super::upstream::UpstreamEndpoint;
use super::{
    check_object, check_opens_object, scrub_body, value_near_end, Attempt, Completion, Rest,
    UpstreamError, Usage,
};
use crate::translate::anthropic;

/// The API a native passthrough speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NativeDialect {
    /// Anthropic Messages: usage in `message_start`/`message_delta`, the
    /// stream ends at `message_stop`.
    Messages,
    /// OpenAI Responses: usage in `response.completed`, the stream ends at
    /// `response.completed` / `response.failed` / `response.incomplete`.
    Responses,
}

/// One native call: where it goes and what the client's headers add.
pub(crate) struct NativeCall<'a> {
    /// Below the API root: `/v1/messages`, `/v1/messages/count_tokens`,
    /// `/v1/responses` (an `openai` provider's base URL already ends in
    /// `/v1`, an `anthropic` one's does not).
    pub path: &'static str,
    /// The client's headers to forward (they replace the adapter's fixed
    /// `anthropic-version`).
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub dialect: NativeDialect,
}

impl NativeDialect {
    /// The token counts of a whole (non-stream) answer.
    pub(crate) fn usage_fn(self) -> fn(&[u8]) -> Usage {
        match self {
            NativeDialect::Messages => messages_usage,
            NativeDialect::Responses => responses_usage,
        }
    }
}

/// Anthropic's `usage` object (a message's, or a stream event's).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct MessagesUsage {
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cache_creation_input_tokens: Option<u32>,
    pub cache_read_input_tokens: Option<u32>,
}

impl MessagesUsage {
    /// Later counts win where present (`message_delta` after
    /// `message_start`).
    pub(crate) fn merge(&mut self, later: MessagesUsage) {
        let keep = |a: &mut Option<u32>, b: Option<u32>| {
            if b.is_some() {
                *a = b;
            }
        };
        keep(&mut self.input_tokens, later.input_tokens);
        keep(&mut self.output_tokens, later.output_tokens);
        keep(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        keep(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
    }

    /// As the log counts it: prompt tokens include the cached ones (as the
    /// chat translator's `prompt_tokens` does).
    pub(crate) fn usage(&self) -> Usage {
        let cached = self.cache_creation_input_tokens.unwrap_or(0)
            + self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: self.input_tokens.map(|i| i + cached),
            completion_tokens: self.output_tokens,
        }
    }
}

/// The usage of an Anthropic message (its last `usage` object).
pub(crate) fn messages_usage(body: &[u8]) -> Usage {
    value_near_end::<MessagesUsage>(body)
        .unwrap_or_default()
        .usage()
}

/// A Responses `usage` object.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct ResponsesUsage {
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
}

impl ResponsesUsage {
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
        }
    }
}

/// The usage of a Response object.
pub(crate) fn responses_usage(body: &[u8]) -> Usage {
    value_near_end::<ResponsesUsage>(body)
        .unwrap_or_default()
        .usage()
}

/// An Anthropic error answer to a native call: mapped by the Messages
/// translator's table (the retry/failover decisions chat makes), but a
/// refusal the client gets keeps Anthropic's own body (scrubbed), so the
/// client sees what Anthropic said.
pub(crate) fn anthropic_error(
    endpoint: &UpstreamEndpoint,
    status: u16,
    headers: &HeaderMap,
    body: Bytes,
) -> UpstreamError {
    let mapped = anthropic::error(status, &body);
    let hide = endpoint.hidden();
    let mut e = from_mapped_hiding(headers, &mapped, &hide);
    if let UpstreamError::Status {
        status: s, body: b, ..
    } = &mut e
    {
        if !matches!(*s, 408 | 409 | 425 | 429) && *s < 500 {
            *s = status;
            *b = scrub_body(body, &hide);
        }
    }
    e
}

/// A non-stream native call: the answer as the upstream sent it (a large
/// one relayed as it arrives), its usage read for the log.
pub(crate) async fn fetch(
    endpoint: &UpstreamEndpoint,
    a: &Attempt<'_>,
    (url, call): (String, &NativeCall<'_>),
    timeout: std::time::Duration,
    on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
) -> Result<Completion, UpstreamError> {
    let body = a.req.encode_openai(a.upstream_model, false);
    let usage = call.dialect.usage_fn();
    let (head, rest) = endpoint
        .fetch_head_with(
            a.http,
            (url, body, call.headers),
            (timeout, a.max_body),
            on_error,
        )
        .await?;
    if let Some(rest) = rest {
        check_opens_object(&head)?;
        return Ok(Completion {
            body: head,
            usage: Usage::default(),
            rest: Some(Rest { usage, ..rest }),
        });
    }
    check_object(&head)?;
    Ok(Completion {
        usage: usage(&head),
        body: head,
        rest: None,
    })
}

/// Opens a native stream (the caller bounds the wait).
pub(crate) async fn open(
    endpoint: &UpstreamEndpoint,
    a: &Attempt<'_>,
    (url, call): (String, &NativeCall<'_>),
    on_error: impl FnOnce(u16, &HeaderMap, Bytes) -> UpstreamError,
) -> Result<super::UpstreamStream, UpstreamError> {
    let body = a.req.encode_openai(a.upstream_model, false);
    let body = endpoint
        .open_stream_with(a.http, (url, body, call.headers), on_error)
        .await?;
    Ok(super::UpstreamStream {
        body,
        mapper: super::StreamMapper::Native(call.dialect),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_usage_counts_cached_prompt_tokens() {
        let body = include_bytes!("../../../tests/fixtures/anthropic/messages_response.json");
        let u = messages_usage(body);
        assert_eq!(u.prompt_tokens, Some(2095));
        assert_eq!(u.completion_tokens, Some(503));
        let u = messages_usage(
            br#"{"content":[{"type":"text","text":"say \"usage\":{}"}],"usage":{"input_tokens":3,"cache_read_input_tokens":10,"cache_creation_input_tokens":5,"output_tokens":7}}"#,
        );
        assert_eq!(u.prompt_tokens, Some(18));
        assert_eq!(u.completion_tokens, Some(7));
        let mut m = MessagesUsage {
            input_tokens: Some(4),
            output_tokens: Some(1),
            ..Default::default()
        };
        m.merge(MessagesUsage {
            output_tokens: Some(9),
            ..Default::default()
        });
        assert_eq!(m.usage().prompt_tokens, Some(4));
        assert_eq!(m.usage().completion_tokens, Some(9));
        let u = responses_usage(
            br#"{"id":"resp_1","output":[],"usage":{"input_tokens":5,"output_tokens":6,"total_tokens":11}}"#,
        );
        assert_eq!((u.prompt_tokens, u.completion_tokens), (Some(5), Some(6)));
    }
}

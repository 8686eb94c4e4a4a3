//! The seam for client APIs other than Chat Completions (Anthropic Messages
//! on `/v1/messages`, OpenAI Responses on `/v1/responses`): which
//! [`Dialect`] a route speaks (its error shape, the provider kind that
//! serves it natively, the request log's `api`), the per-candidate choice
//! between a native passthrough and the translated path, and the stages
//! that make the relay speak the dialect: [`NativeState`] (a native
//! stream's usage, end marker and error events) and [`Egress`] (the relay's
//! OpenAI output rewritten for a translated request).
//!
//! A translated request is built lazily, the first time a candidate that
//! does not speak the dialect is tried (`to_chat` -> `ClientRequest::parse`
//! as chat -> the usual adapters), so a request served natively never pays
//! for it, and failover between a native and a translated provider of one
//! model works both ways.
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hyper::body::Body as _;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::body::Body;
use super::error::ApiError;
use super::providers::native::{MessagesUsage, NativeCall, NativeDialect, ResponsesUsage};
use super::providers::request::{Api, ClientRequest};
use super::providers::translated::{from_mapped, translate_error};
use super::providers::{check_object, Attempt, Completion, UpstreamError, Usage};
use super::proxy::{self, Outcome};
use super::responses::{ResponsesCtx, ResponsesEgress};
use super::snapshot::Candidate;
use super::Shared;
use crate::catalog::ProviderKind;
use crate::translate::messages::{self, MessagesEncoder};
use crate::translate::responses;
use crate::translate::{ChatRequest, TranslateError};

/// The client API a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// OpenAI Chat Completions (and embeddings, models): the default.
    Chat,
    /// Anthropic Messages: `/v1/messages*`.
    Messages,
    /// OpenAI Responses: `/v1/responses*`.
    Responses,
}

impl Dialect {
    /// The dialect of a `/v1` path (its errors' shape).
    pub(crate) fn of_path(path: &str) -> Dialect {
        let under = |root: &str| {
            path.strip_prefix(root)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/v1/messages") {
            Dialect::Messages
        } else if under("/v1/responses") {
            Dialect::Responses
        } else {
            Dialect::Chat
        }
    }

    /// Whether a provider of `kind` speaks this dialect itself (Messages:
    /// `anthropic`; Responses: `openai` only, not `openai-compatible`).
    pub(crate) fn native_to(self, kind: ProviderKind) -> bool {
        matches!(
            (self, kind),
            (Dialect::Messages, ProviderKind::Anthropic)
                | (Dialect::Responses, ProviderKind::OpenAi)
        )
    }

    /// The passthrough's dialect (`None` for chat).
    pub(crate) fn native(self) -> Option<NativeDialect> {
        match self {
            Dialect::Chat => None,
            Dialect::Messages => Some(NativeDialect::Messages),
            Dialect::Responses => Some(NativeDialect::Responses),
        }
    }

    /// An error as this dialect's clients expect it: OpenAI's shape, or on
    /// `/v1/messages*` Anthropic's `{"type":"error","error":{..}}` with
    /// the same status (an upstream that was overloaded when no other
    /// candidate answered: 529 `overloaded_error`) and headers
    /// (`retry-after`, `connection: close`). An upstream refusal that is
    /// already Anthropic-shaped (a passthrough's 400) goes back as sent.
    pub(crate) fn render(self, e: ApiError) -> Response<Body> {
        match (self, &e) {
            (Dialect::Messages, _) => {}
            // A 400 from the chat translators or a Chat upstream names a
            // Chat field; a Responses client is told the field it sent.
            (Dialect::Responses, ApiError::UpstreamClient { status: 400, .. }) => {
                return with_responses_param(e.into_response())
            }
            _ => return e.into_response(),
        }
        let overloaded = matches!(
            &e,
            ApiError::Upstream {
                error: UpstreamError::Status {
                    status: 503 | 529,
                    ..
                },
                ..
            }
        );
        let own = match &e {
            ApiError::UpstreamClient { body, .. } if is_anthropic_error(body) => Some(body.clone()),
            _ => None,
        };
        let mut res = e.into_response();
        if overloaded {
            *res.status_mut() = StatusCode::from_u16(529).unwrap_or(StatusCode::BAD_GATEWAY);
        }
        let status = res.status().as_u16();
        let body = match own {
            Some(b) => b,
            None => {
                let openai = match res.body_mut() {
                    Body::Full(b) => b.take().unwrap_or_default(),
                    _ => Bytes::new(),
                };
                Bytes::from(messages::error_body(status, &openai))
            }
        };
        *res.body_mut() = Body::full(body);
        res
    }
}

/// An OpenAI error answer whose `error.param` names a Chat field, with the
/// Responses field it came from instead (see `responses::responses_param`).
fn with_responses_param(mut res: Response<Body>) -> Response<Body> {
    let Body::Full(slot) = res.body_mut() else {
        return res;
    };
    let Some(body) = slot.take() else {
        return res;
    };
    let renamed = (|| {
        let mut v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let param = v.get_mut("error")?.get_mut("param")?;
        let chat = param.as_str()?;
        let theirs = responses::responses_param(chat);
        if theirs == chat {
            return None;
        }
        *param = serde_json::Value::String(theirs.into_owned());
        serde_json::to_vec(&v).ok()
    })();
    *res.body_mut() = Body::full(renamed.map_or(body, Bytes::from));
    res
}

/// True for a body shaped `{"type":"error","error":{"type":..,"message":..}}`.
fn is_anthropic_error(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        error: Inner<'a>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        message: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Outer<'_>>(body).is_ok_and(|o| o.kind == "error")
}

/// A request of another dialect on its way through the candidates.
pub(crate) struct Ingress<'a> {
    pub dialect: Dialect,
    /// The client's body, as received.
    pub body: &'a [u8],
    /// The model name the client asked for (what answers name).
    pub public_model: &'a str,
    /// The native endpoint below the API root (`/v1/messages`).
    pub path: &'static str,
    /// The client's headers a native call forwards.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The request as Chat Completions, built on first use.
    chat: OnceLock<Result<ChatRequest, TranslateError>>,
    /// Responses only: the id, echo source and store of the answer.
    responses: Option<ResponsesCtx>,
}

impl<'a> Ingress<'a> {
    pub(crate) fn new(
        dialect: Dialect,
        body: &'a [u8],
        public_model: &'a str,
        path: &'static str,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Self {
        Ingress {
            dialect,
            body,
            public_model,
            path,
            headers,
            chat: OnceLock::new(),
            responses: None,
        }
    }

    /// The Responses dialect's context (see `gateway::responses`).
    pub(crate) fn with_responses(mut self, ctx: ResponsesCtx) -> Self {
        self.responses = Some(ctx);
        self
    }

    /// The request as Chat Completions (translated once, on first use).
    fn chat(&self) -> Result<&ChatRequest, TranslateError> {
        self.chat
            .get_or_init(|| match self.dialect {
                Dialect::Messages => messages::to_chat(self.body),
                // `previous_response_id` was expanded into the body already.
                Dialect::Responses => responses::to_chat(self.body, None),
                Dialect::Chat => Err(crate::translate::unsupported(
                    "model",
                    "this API cannot be translated for this model's provider",
                )),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A translated non-stream answer (a `chat.completion`) in the dialect.
    fn answer(&self, completion: &[u8]) -> Result<Vec<u8>, TranslateError> {
        match self.dialect {
            Dialect::Messages => messages::from_chat(completion, self.public_model),
            Dialect::Responses => match &self.responses {
                Some(ctx) => ctx.answer(completion, self.public_model),
                None => Ok(completion.to_vec()),
            },
            Dialect::Chat => Ok(completion.to_vec()),
        }
    }

    /// The egress stage of a translated stream, if the dialect needs one.
    fn egress(&self, chat: &ChatRequest) -> Option<Egress> {
        match self.dialect {
            Dialect::Messages => Some(Egress::Messages(MessagesEncoder::new(
                self.public_model,
                chat.input_estimate,
            ))),
            Dialect::Responses => self
                .responses
                .as_ref()
                .map(|ctx| Egress::Responses(ctx.egress(self.public_model))),
            Dialect::Chat => None,
        }
    }
}

/// Rewrites the relay's OpenAI chunk stream (whole events, its error tail
/// included) into a translated dialect's stream, one burst at a time.
#[allow(
    clippy::large_enum_variant,
    reason = "the relay holds one boxed Egress per stream"
)]
pub(crate) enum Egress {
    Messages(MessagesEncoder),
    /// The Responses encoder, and where its final Response is kept.
    Responses(ResponsesEgress),
}

impl Egress {
    pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
        match self {
            Egress::Messages(e) => e.feed(openai_sse),
            Egress::Responses(e) => e.feed(openai_sse),
        }
    }

    /// The relay ended: whatever closes the dialect's stream.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        match self {
            Egress::Messages(e) => e.finish(),
            Egress::Responses(e) => e.finish(),
        }
    }
}

/// One attempt at `c` for a request of another dialect: a native
/// passthrough when the provider speaks it, else the translated path.
pub(super) async fn attempt(
    shared: &Shared,
    c: &Candidate,
    creq: &ClientRequest<'_>,
    ing: &Ingress<'_>,
) -> Result<Outcome, UpstreamError> {
    let Some(adapter) = &c.provider.adapter else {
        return Err(UpstreamError::Connect("provider is not usable".into()));
    };
    let timeout = c.provider.timeout;
    match ing.dialect.native() {
        Some(dialect) if ing.dialect.native_to(c.provider.kind) => {
            let a = Attempt {
                http: &shared.http,
                req: creq,
                upstream_model: &c.upstream_model,
                max_body: shared.upstream_max_body,
            };
            let call = NativeCall {
                path: ing.path,
                headers: &ing.headers,
                dialect,
            };
            if creq.stream {
                return proxy::open_relay(c, false, adapter.native_stream(&a, &call)).await;
            }
            let started = Instant::now();
            let done = adapter.native(&a, &call, timeout).await?;
            Ok(proxy::full(done, c, started))
        }
        _ => translated(shared, c, ing).await,
    }
}

/// The translated path: the request as chat through the usual adapter, the
/// answer rewritten into the dialect.
async fn translated(
    shared: &Shared,
    c: &Candidate,
    ing: &Ingress<'_>,
) -> Result<Outcome, UpstreamError> {
    let Some(adapter) = &c.provider.adapter else {
        return Err(UpstreamError::Connect("provider is not usable".into()));
    };
    let timeout = c.provider.timeout;
    if let Some((status, body)) = ing.responses.as_ref().and_then(ResponsesCtx::missing) {
        // A `previous_response_id` llmo has not stored: this provider
        // cannot follow it (never a silent fresh conversation).
        return Err(UpstreamError::Status {
            status,
            retry_after: None,
            message: "previous_response_id is not stored by llmo".into(),
            body,
        });
    }
    let chat = ing.chat().map_err(|e| translate_error(&e))?;
    let creq = ClientRequest::parse(&chat.body, Api::Chat).map_err(|e| {
        translate_error(&crate::translate::invalid(
            e.param.unwrap_or("body"),
            e.message,
        ))
    })?;
    let a = Attempt {
        http: &shared.http,
        req: &creq,
        upstream_model: &c.upstream_model,
        max_body: shared.upstream_max_body,
    };
    if creq.stream {
        let mut out =
            proxy::open_relay(c, creq.client_wants_usage, adapter.chat_stream(&a)).await?;
        if let (Outcome::Stream(relay), Some(e)) = (&mut out, ing.egress(chat)) {
            relay.set_egress(e);
        }
        return Ok(out);
    }
    let done = adapter.chat(&a, timeout).await?;
    let (body, usage) = whole(done, timeout).await?;
    let answer = ing.answer(&body).map_err(|e| translate_error(&e))?;
    Ok(Outcome::Full(Completion {
        body: Bytes::from(answer),
        usage,
        rest: None,
    }))
}

/// A non-stream answer read whole (a large pass-through answer's rest
/// too, under `upstream_max_body` and the provider's timeout): a translated
/// answer is rewritten as a whole.
async fn whole(done: Completion, timeout: Duration) -> Result<(Bytes, Usage), UpstreamError> {
    let Some(rest) = done.rest else {
        return Ok((done.body, done.usage));
    };
    let mut buf = BytesMut::with_capacity(done.body.len() * 2);
    buf.extend_from_slice(&done.body);
    let mut up = rest.body;
    let read = async {
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut up).poll_frame(cx)).await {
            let frame = frame.map_err(|e| UpstreamError::from_reqwest(&e, 0))?;
            if let Ok(data) = frame.into_data() {
                if (buf.len() + data.len()) as u64 > rest.limit {
                    return Err(UpstreamError::TooLarge(rest.limit));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| UpstreamError::Timeout(timeout.as_millis() as u64))??;
    check_object(&buf)?;
    let usage = (rest.usage)(&buf);
    Ok((buf.freeze(), usage))
}

/// What the relay reads from a native passthrough stream: the dialect's
/// usage, its end marker, and an error event (which ends the stream). Only
/// an event's first line is looked at unless it is one of the few that
/// carry usage or end the stream.
pub(crate) struct NativeState {
    dialect: NativeDialect,
    messages: MessagesUsage,
    usage: Usage,
    /// The data of the error event (or failed response) that ended it.
    error: Option<Vec<u8>>,
}

impl NativeState {
    pub(crate) fn new(dialect: NativeDialect) -> Self {
        NativeState {
            dialect,
            messages: MessagesUsage::default(),
            usage: Usage::default(),
            error: None,
        }
    }

    /// Reads one whole event; true when it ends the stream.
    pub(crate) fn read(&mut self, ev: &[u8]) -> bool {
        let Some((name, data)) = event_parts(ev) else {
            return false;
        };
        match (self.dialect, name) {
            (NativeDialect::Messages, b"message_start") => {
                #[derive(serde::Deserialize)]
                struct Start {
                    message: Message,
                }
                #[derive(serde::Deserialize)]
                struct Message {
                    usage: Option<MessagesUsage>,
                }
                if let Ok(Start { message }) = serde_json::from_slice::<Start>(data) {
                    self.messages.merge(message.usage.unwrap_or_default());
                    self.usage = self.messages.usage();
                }
                false
            }
            (NativeDialect::Messages, b"message_delta") => {
                #[derive(serde::Deserialize)]
                struct Delta {
                    usage: Option<MessagesUsage>,
                }
                if let Ok(d) = serde_json::from_slice::<Delta>(data) {
                    self.messages.merge(d.usage.unwrap_or_default());
                    self.usage = self.messages.usage();
                }
                false
            }
            (NativeDialect::Messages, b"message_stop") => true,
            (NativeDialect::Responses, b"response.completed" | b"response.incomplete") => {
                self.read_response(data);
                true
            }
            (NativeDialect::Responses, b"response.failed") => {
                self.read_response(data);
                self.error = Some(data.to_vec());
                true
            }
            (_, b"error") => {
                self.error = Some(data.to_vec());
                true
            }
            _ => false,
        }
    }

    fn read_response(&mut self, data: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Done {
            response: Resp,
        }
        #[derive(serde::Deserialize)]
        struct Resp {
            usage: Option<ResponsesUsage>,
        }
        if let Ok(Done { response }) = serde_json::from_slice::<Done>(data) {
            if let Some(u) = response.usage {
                self.usage = u.usage();
            }
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }

    /// The event that ends a complete stream, for the message of a cut one.
    pub(crate) fn end_marker(&self) -> &'static str {
        match self.dialect {
            NativeDialect::Messages => "message_stop",
            NativeDialect::Responses => "response.completed",
        }
    }

    /// The message of the error event that ended the stream, if one did.
    pub(crate) fn error(&self) -> Option<String> {
        let data = self.error.as_deref()?;
        let v: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.pointer("/response/error/message"))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .unwrap_or("the upstream sent an error event");
        Some(format!("the upstream stream ended with an error: {msg}"))
    }

    /// An error event as the attempt's failure (before anything reached
    /// the client): Anthropic's mapped by the Messages table, so an
    /// `overloaded_error` right after the 200 fails over like a 529.
    pub(crate) fn vendor_error(&self) -> Option<UpstreamError> {
        let data = self.error.as_deref()?;
        Some(match self.dialect {
            NativeDialect::Messages => from_mapped(
                &Default::default(),
                &crate::translate::anthropic::error(500, data),
                None,
            ),
            NativeDialect::Responses => UpstreamError::Broken(self.error().unwrap_or_default()),
        })
    }

    /// The dialect's error event for a stream cut short (`status` as the log
    /// has it, `code` llmo's error code).
    pub(crate) fn error_event(&self, status: u16, code: &str, message: &str) -> Vec<u8> {
        let data = match self.dialect {
            NativeDialect::Messages => serde_json::json!({
                "type": "error",
                "error": {"type": messages::error_type(status), "message": message},
            }),
            NativeDialect::Responses => serde_json::json!({
                "type": "error",
                "code": code,
                "message": message,
                "param": null,
            }),
        };
        let mut out = b"event: error\ndata: ".to_vec();
        out.extend_from_slice(data.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
        out
    }
}

/// An event's name (its `event:` line, else the `type` its data starts
/// with) and its first `data:` payload.
fn event_parts(ev: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut name: Option<&[u8]> = None;
    let mut data: Option<&[u8]> = None;
    for line in ev.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(n) = line.strip_prefix(b"event:") {
            name = Some(n.trim_ascii());
        } else if let Some(d) = line.strip_prefix(b"data:") {
            data = Some(d.trim_ascii());
            break;
        }
    }
    let data = data?;
    let name = match name {
        Some(n) => n,
        None => {
            let rest = data.strip_prefix(b"{\"type\":\"")?;
            let end = rest.iter().position(|b| *b == b'"')?;
            &rest[..end]
        }
    };
    Some((name, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_dialect() {
        assert_eq!(Dialect::of_path("/v1/messages"), Dialect::Messages);
        assert_eq!(
            Dialect::of_path("/v1/messages/count_tokens"),
            Dialect::Messages
        );
        assert_eq!(Dialect::of_path("/v1/messagesx"), Dialect::Chat);
        assert_eq!(Dialect::of_path("/v1/responses/resp_1"), Dialect::Responses);
        assert_eq!(Dialect::of_path("/v1/chat/completions"), Dialect::Chat);
    }

    #[test]
    fn a_native_messages_stream_is_read_for_usage_and_its_end() {
        let sse = include_str!("../../tests/fixtures/anthropic/messages_stream.sse");
        let mut st = NativeState::new(NativeDialect::Messages);
        let mut ended = 0;
        for ev in sse.split_inclusive("\n\n") {
            if st.read(ev.as_bytes()) {
                ended += 1;
            }
        }
        assert_eq!(ended, 1, "message_stop ends it");
        assert!(st.usage().prompt_tokens.is_some());
        assert!(st.usage().completion_tokens.is_some());
        assert!(st.error().is_none());
        let mut st = NativeState::new(NativeDialect::Messages);
        assert!(st.read(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"));
        assert!(st.error().unwrap().contains("Overloaded"));
        let e = st.vendor_error().unwrap();
        assert!(e.is_retryable(), "{e:?}");
        let ev = String::from_utf8(st.error_event(502, "stream_interrupted", "cut")).unwrap();
        assert!(ev.starts_with("event: error\ndata: {"), "{ev}");
        assert!(ev.contains(r#""type":"api_error""#), "{ev}");
    }

    #[test]
    fn anthropic_error_bodies_are_recognised() {
        assert!(is_anthropic_error(
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"x"}}"#
        ));
        assert!(!is_anthropic_error(
            br#"{"error":{"message":"x","type":"invalid_request_error"}}"#
        ));
    }
}

//! What the Anthropic and Gemini adapters share: the one generic adapter
//! [`Translated`] (the HTTP exchange around the pure translation functions of
//! `crate::translate`: OpenAI request in, OpenAI-format answer out), with
//! their errors mapped to [`UpstreamError`]. A vendor supplies only its
//! [`Vendor`] hooks (`anthropic.rs`, `gemini.rs`).
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;

use super::upstream::{Auth, UpstreamEndpoint};
use super::{
    map_error, Adapter, Attempt, Completion, StreamMapper, UpstreamError, UpstreamStream, Usage,
};
use crate::catalog::Provider;
use crate::translate::openai::{ChatCompletion, Json};
use crate::translate::{MappedError, ResponseMeta, StreamTranslator, TranslateError, UpstreamCall};

/// `request(openai, upstream_model, stream)`: the vendor's call.
pub(crate) type RequestFn = fn(&Json<'_>, &str, bool) -> Result<UpstreamCall, TranslateError>;
/// `response(body, meta)`: the vendor's success body as an OpenAI completion.
pub(crate) type ResponseFn = fn(&[u8], &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError>;
/// `error(status, body)`: the vendor's error answer, mapped.
pub(crate) type ErrorFn = fn(u16, &[u8]) -> MappedError;
/// `stream(public_model, include_usage, fallback_id, created)`: the stream
/// translator for one streamed answer.
pub(crate) type StreamFn = fn(&str, bool, &str, u64) -> StreamTranslator;

/// A vendor's side of a translating adapter: its headers and the pure
/// translation functions of `crate::translate::<vendor>`. Constants and
/// static functions only, so [`Translated`] is resolved at compile time (no
/// `dyn`: each constant function is known per monomorphised adapter).
pub(crate) trait Vendor: Send + Sync + 'static {
    /// The header that carries the bare key.
    const KEY_HEADER: &'static str;
    /// One fixed header every call carries (e.g. the API version).
    const EXTRA_HEADER: Option<(&'static str, &'static str)> = None;
    /// The OpenAI request as the vendor's call.
    const REQUEST: RequestFn;
    /// The vendor's success body, translated.
    const RESPONSE: ResponseFn;
    /// The vendor's error answer, mapped.
    const ERROR: ErrorFn;
    /// The stream translator for one streamed answer.
    const STREAM: StreamFn;

    /// Embeddings (a vendor without them answers with the client's error).
    fn embeddings(
        endpoint: &UpstreamEndpoint,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send;
}

/// A translating adapter: one upstream endpoint and the vendor `V`'s hooks.
pub(crate) struct Translated<V> {
    endpoint: UpstreamEndpoint,
    vendor: PhantomData<V>,
}

impl<V: Vendor> Translated<V> {
    /// Its endpoint (base URL, auth, the key to scrub).
    pub(crate) fn endpoint(&self) -> &UpstreamEndpoint {
        &self.endpoint
    }

    pub(crate) fn new(p: &Provider) -> Result<Self, String> {
        Ok(Translated {
            endpoint: UpstreamEndpoint::new(
                &p.base_url,
                p.resolve_key(),
                Auth::Header(V::KEY_HEADER),
                V::EXTRA_HEADER,
            )?,
            vendor: PhantomData,
        })
    }
}

impl<V: Vendor> Adapter for Translated<V> {
    fn chat(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let call = a
            .req
            .json()
            .and_then(|j| V::REQUEST(&j, a.upstream_model, false));
        let public = a.req.model.to_string();
        // Closures, not the constants themselves: each is its own type per
        // vendor, so the hooks are called directly (no call through a
        // function pointer shared by both vendors).
        let map = |status, body: &[u8]| V::ERROR(status, body);
        let respond = |body: &[u8], meta: &ResponseMeta<'_>| V::RESPONSE(body, meta);
        async move {
            self.endpoint
                .complete(a.http, call, &public, (timeout, a.max_body), map, respond)
                .await
        }
    }

    fn chat_stream(
        &self,
        a: &Attempt<'_>,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send {
        let call = a
            .req
            .json()
            .and_then(|j| V::REQUEST(&j, a.upstream_model, true));
        let (id, created) = fallback_identity();
        let translator = V::STREAM(&a.req.model, a.req.client_wants_usage, &id, created);
        async move {
            let map = |status, body: &[u8]| V::ERROR(status, body);
            let body = self.endpoint.open_call(a.http, call, map).await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Translated(Box::new(translator)),
            })
        }
    }

    fn embeddings(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        V::embeddings(&self.endpoint, a, timeout)
    }
}

/// The translating adapters' side of the shared [`UpstreamEndpoint`]:
/// errors mapped by the vendor's translator, paths below the base URL.
impl UpstreamEndpoint {
    /// A vendor error, mapped by the translator, as an [`UpstreamError`]
    /// (status as the client should see it, OpenAI-shaped body). An error
    /// the translator marks `failover` but not `retryable` (llmo's key,
    /// account or quota at this provider) becomes
    /// [`UpstreamError::Unservable`]: the gateway tries the next provider
    /// instead of answering the client or retrying here.
    fn error(&self, headers: &reqwest::header::HeaderMap, mapped: MappedError) -> UpstreamError {
        from_mapped_hiding(headers, &mapped, &self.hidden())
    }

    /// A non-stream call: sends `body` to `path`, returns the success body
    /// or the mapped error. Bounded by `(timeout, max_body)`.
    pub(crate) async fn call(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        bounds: (Duration, u64),
        map: impl Fn(u16, &[u8]) -> MappedError,
    ) -> Result<Bytes, UpstreamError> {
        let url = format!("{}{path}", self.base);
        self.fetch(http, url, body, bounds, |status, headers, bytes| {
            self.error(headers, map(status, &bytes))
        })
        .await
    }

    /// The non-stream exchange both translating adapters share: send the
    /// translated call, map an error answer with `map`, and turn the success
    /// body into an OpenAI completion with `respond`.
    async fn complete(
        &self,
        http: &reqwest::Client,
        call: Result<UpstreamCall, TranslateError>,
        public_model: &str,
        bounds: (Duration, u64),
        map: impl Fn(u16, &[u8]) -> MappedError,
        respond: impl Fn(&[u8], &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError>,
    ) -> Result<Completion, UpstreamError> {
        let call = call.map_err(|e| translate_error(&e))?;
        let body = self.call(http, &call.path, call.body, bounds, map).await?;
        let (id, created) = fallback_identity();
        let meta = ResponseMeta {
            public_model,
            fallback_id: &id,
            created,
        };
        let cc = respond(&body, &meta).map_err(|e| translate_error(&e))?;
        completion(&cc, usage_of(cc.usage))
    }

    /// Opens a translated stream: the body to feed to the stream translator.
    async fn open_call(
        &self,
        http: &reqwest::Client,
        call: Result<UpstreamCall, TranslateError>,
        map: impl Fn(u16, &[u8]) -> MappedError,
    ) -> Result<reqwest::Body, UpstreamError> {
        let call = call.map_err(|e| translate_error(&e))?;
        let url = format!("{}{}", self.base, call.path);
        self.open_stream(http, url, call.body, |status, headers, bytes| {
            self.error(headers, map(status, &bytes))
        })
        .await
    }
}

/// A vendor error mapped by a translator as an [`UpstreamError`]: the
/// status the client should see and an OpenAI-shaped body; `failover` but
/// not `retryable` (llmo's own key, account or quota at this provider)
/// becomes [`UpstreamError::Unservable`], so the next provider is tried
/// instead of answering the client or retrying here; a refusal of llmo's
/// credentials becomes [`UpstreamError::Auth`]. `secret` is scrubbed from
/// message and body.
pub(crate) fn from_mapped(
    headers: &reqwest::header::HeaderMap,
    mapped: &MappedError,
    secret: Option<&str>,
) -> UpstreamError {
    from_mapped_hiding(headers, mapped, &[secret.unwrap_or("")])
}

/// [`from_mapped`] scrubbing each of `hide` (key, base URL).
pub(crate) fn from_mapped_hiding(
    headers: &reqwest::header::HeaderMap,
    mapped: &MappedError,
    hide: &[&str],
) -> UpstreamError {
    let unservable = mapped.failover && !mapped.retryable;
    let e = map_error(
        mapped.status,
        headers,
        Bytes::from(mapped.body_bytes()),
        hide,
    );
    match e {
        UpstreamError::Status { message, .. } if mapped.upstream_auth => UpstreamError::Auth {
            status: mapped.upstream_status,
            message: strip_auth_prefix(message),
        },
        UpstreamError::Status {
            status,
            message,
            body,
            ..
        } if unservable => UpstreamError::Unservable {
            status,
            message,
            body,
        },
        UpstreamError::Status {
            status,
            retry_after,
            message,
            body,
        } => UpstreamError::Status {
            status,
            retry_after: retry_after.or(mapped.retry_after.map(Duration::from_secs)),
            message,
            body,
        },
        other => other,
    }
}

/// The translator's message without its own "rejected llmo's credentials"
/// preface ([`UpstreamError::Auth`] says it).
fn strip_auth_prefix(message: String) -> String {
    match message.strip_prefix(crate::translate::UPSTREAM_AUTH_PREFIX) {
        Some(rest) => rest.to_string(),
        None => message,
    }
}

/// A request the translator refused (the client's fault: 400 naming the
/// field), or an upstream success body it could not read (502, retryable).
pub(crate) fn translate_error(e: &TranslateError) -> UpstreamError {
    match e {
        TranslateError::Upstream { message } => UpstreamError::Broken(message.clone()),
        _ => UpstreamError::Status {
            status: e.status(),
            retry_after: None,
            message: e.to_string(),
            body: Bytes::from(e.to_openai_bytes()),
        },
    }
}

/// The id for a response whose provider sent none, and its timestamp.
fn fallback_identity() -> (String, u64) {
    (
        format!("chatcmpl-llmo{:016x}", fastrand::u64(..)),
        (crate::time::now_ms() / 1000).max(0) as u64,
    )
}

pub(crate) fn usage_of(u: Option<crate::translate::openai::Usage>) -> Usage {
    u.map(|u| Usage {
        prompt_tokens: Some(u.prompt_tokens),
        completion_tokens: Some(u.completion_tokens),
    })
    .unwrap_or_default()
}

/// Serialises a translated answer.
pub(crate) fn completion<T: serde::Serialize>(
    value: &T,
    usage: Usage,
) -> Result<Completion, UpstreamError> {
    serde_json::to_vec(value)
        .map(|b| Completion {
            body: Bytes::from(b),
            usage,
            rest: None,
        })
        .map_err(|e| UpstreamError::Broken(format!("cannot encode the translated answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::providers::upstream::Auth;
    use crate::secret::Secret;
    use crate::translate::{anthropic, gemini};

    fn endpoint() -> UpstreamEndpoint {
        UpstreamEndpoint::new(
            "http://127.0.0.1:1",
            Some(Secret::new("sk-ant-unit-0123456789")),
            Auth::Header("x-api-key"),
            None,
        )
        .unwrap()
    }

    #[test]
    fn account_errors_become_unservable_others_keep_their_status() {
        let ep = endpoint();
        let none = reqwest::header::HeaderMap::new();
        let e = ep.error(
            &none,
            anthropic::error(
                401,
                include_bytes!(
                    "../../../tests/fixtures/anthropic/errors/401_authentication_error.json"
                ),
            ),
        );
        let UpstreamError::Auth { status, message } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*status, 401);
        assert_eq!(e.code(), "upstream_auth_failed");
        assert!(message.contains("invalid x-api-key"), "{message}");
        assert!(!e.is_retryable());

        let e = ep.error(
            &none,
            gemini::error(
                400,
                include_bytes!(
                    "../../../tests/fixtures/gemini/errors/400_invalid_argument_api_key.json"
                ),
            ),
        );
        assert!(
            matches!(e, UpstreamError::Auth { status: 400, .. }),
            "{e:?}"
        );

        // Overloaded: retryable by status; Anthropic's retry-after header kept.
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        let e = ep.error(
            &h,
            anthropic::error(
                529,
                include_bytes!(
                    "../../../tests/fixtures/anthropic/errors/529_overloaded_error.json"
                ),
            ),
        );
        assert!(
            matches!(e, UpstreamError::Status { status: 503, .. }),
            "{e:?}"
        );
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

        // The client's own mistake: a plain 400, answered as is.
        let e = ep.error(
            &none,
            anthropic::error(
                400,
                include_bytes!("../../../tests/fixtures/anthropic/errors/400_prompt_too_long.json"),
            ),
        );
        assert!(
            matches!(e, UpstreamError::Status { status: 400, .. }),
            "{e:?}"
        );
        assert!(!e.is_retryable());
    }
}

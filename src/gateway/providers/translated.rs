//! What the Anthropic and Gemini adapters share: the HTTP exchange around the
//! pure translation functions of `crate::translate` (request body in,
//! OpenAI-format answer out), with their errors mapped to [`UpstreamError`].
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};

use super::{map_error, Completion, UpstreamError, Usage};
use crate::secret::Secret;
use crate::translate::openai::ChatCompletion;
use crate::translate::{MappedError, ResponseMeta, TranslateError, UpstreamCall};

/// Base URL, vendor auth header and key of a translated provider.
pub struct Endpoint {
    pub base: String,
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub key: Option<Secret>,
    pub extra: Option<(HeaderName, HeaderValue)>,
}

impl Endpoint {
    pub fn new(
        base_url: &str,
        key: Option<Secret>,
        header: &'static str,
        extra: Option<(&'static str, &'static str)>,
    ) -> Result<Endpoint, String> {
        let auth = match &key {
            Some(k) => {
                let mut v = HeaderValue::from_str(k.expose()).map_err(|_| {
                    "the API key contains characters not allowed in a header".to_string()
                })?;
                v.set_sensitive(true);
                Some((HeaderName::from_static(header), v))
            }
            None => None,
        };
        Ok(Endpoint {
            base: base_url.trim_end_matches('/').to_string(),
            auth,
            key,
            extra: extra.map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))),
        })
    }

    fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        sse: bool,
    ) -> reqwest::RequestBuilder {
        let mut b = http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                ACCEPT,
                HeaderValue::from_static(if sse {
                    "text/event-stream"
                } else {
                    "application/json"
                }),
            )
            .body(body);
        if let Some((k, v)) = &self.auth {
            b = b.header(k.clone(), v.clone());
        }
        if let Some((k, v)) = &self.extra {
            b = b.header(k.clone(), v.clone());
        }
        b
    }

    /// A vendor error, mapped by the translator, as an [`UpstreamError`]
    /// (status as the client should see it, OpenAI-shaped body). An error
    /// the translator marks `failover` but not `retryable` (llmo's key,
    /// account or quota at this provider) becomes
    /// [`UpstreamError::Unservable`]: the gateway tries the next provider
    /// instead of answering the client or retrying here.
    pub fn error(
        &self,
        headers: &reqwest::header::HeaderMap,
        mapped: MappedError,
    ) -> UpstreamError {
        from_mapped(headers, &mapped, self.key.as_ref().map(Secret::expose))
    }

    /// A non-stream call: sends `body` to `path`, returns the success body
    /// or the mapped error. Bounded as a whole by `timeout`.
    pub async fn call(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
        map: impl Fn(u16, &[u8]) -> MappedError,
    ) -> Result<Bytes, UpstreamError> {
        let ms = timeout.as_millis() as u64;
        let work = async {
            let res = self
                .post(http, path, body, false)
                .send()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, ms))?;
            let status = res.status();
            let headers = res.headers().clone();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, ms))?;
            if !status.is_success() {
                return Err(self.error(&headers, map(status.as_u16(), &bytes)));
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| UpstreamError::Timeout(ms))?
    }

    /// Opens a stream: the response once it answered with success headers.
    /// The non-stream exchange both translating adapters share: send the
    /// translated call, map an error answer with `map`, and turn the success
    /// body into an OpenAI completion with `respond`.
    pub async fn complete(
        &self,
        http: &reqwest::Client,
        call: Result<UpstreamCall, TranslateError>,
        public_model: &str,
        timeout: Duration,
        map: impl Fn(u16, &[u8]) -> MappedError,
        respond: impl Fn(&[u8], &ResponseMeta<'_>) -> Result<ChatCompletion, TranslateError>,
    ) -> Result<Completion, UpstreamError> {
        let call = call.map_err(|e| translate_error(&e))?;
        let body = self.call(http, &call.path, call.body, timeout, map).await?;
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
    pub async fn open_call(
        &self,
        http: &reqwest::Client,
        call: Result<UpstreamCall, TranslateError>,
        map: impl Fn(u16, &[u8]) -> MappedError,
    ) -> Result<reqwest::Body, UpstreamError> {
        let call = call.map_err(|e| translate_error(&e))?;
        self.open(http, &call.path, call.body, map).await
    }

    pub async fn open(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Vec<u8>,
        map: impl Fn(u16, &[u8]) -> MappedError,
    ) -> Result<reqwest::Body, UpstreamError> {
        let res = self
            .post(http, path, body, true)
            .send()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e, 0))?;
        let status = res.status();
        if !status.is_success() {
            let headers = res.headers().clone();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| UpstreamError::from_reqwest(&e, 0))?;
            return Err(self.error(&headers, map(status.as_u16(), &bytes)));
        }
        Ok(reqwest::Body::from(res))
    }
}

/// A vendor error mapped by a translator as an [`UpstreamError`]: the
/// status the client should see and an OpenAI-shaped body; `failover` but
/// not `retryable` (llmo's own key, account or quota at this provider)
/// becomes [`UpstreamError::Unservable`], so the next provider is tried
/// instead of answering the client or retrying here. `secret` is scrubbed
/// from the message.
pub fn from_mapped(
    headers: &reqwest::header::HeaderMap,
    mapped: &MappedError,
    secret: Option<&str>,
) -> UpstreamError {
    let unservable = mapped.failover && !mapped.retryable;
    let e = map_error(
        mapped.status,
        headers,
        Bytes::from(mapped.body_bytes()),
        secret,
    );
    match e {
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

/// A request the translator refused (the client's fault: 400 naming the
/// field), or an upstream success body it could not read (502, retryable).
pub fn translate_error(e: &TranslateError) -> UpstreamError {
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
pub fn fallback_identity() -> (String, u64) {
    (
        format!("chatcmpl-llmo{:016x}", fastrand::u64(..)),
        (crate::time::now_ms() / 1000).max(0) as u64,
    )
}

pub fn usage_of(u: Option<crate::translate::openai::Usage>) -> Usage {
    u.map(|u| Usage {
        prompt_tokens: Some(u.prompt_tokens),
        completion_tokens: Some(u.completion_tokens),
    })
    .unwrap_or_default()
}

/// Serialises a translated answer.
pub fn completion<T: serde::Serialize>(
    value: &T,
    usage: Usage,
) -> Result<Completion, UpstreamError> {
    serde_json::to_vec(value)
        .map(|b| Completion {
            body: Bytes::from(b),
            usage,
        })
        .map_err(|e| UpstreamError::Broken(format!("cannot encode the translated answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{anthropic, gemini};

    fn endpoint() -> Endpoint {
        Endpoint::new(
            "http://127.0.0.1:1",
            Some(Secret::new("sk-ant-unit-0123456789")),
            "x-api-key",
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
        let UpstreamError::Unservable { status, body, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*status, 502);
        assert!(String::from_utf8_lossy(body).contains("upstream_auth_failed"));
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
            matches!(e, UpstreamError::Unservable { status: 502, .. }),
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

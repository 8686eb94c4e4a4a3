//! The `openai` and `openai-compatible` adapter: `Authorization: Bearer`,
//! the client's body with `model` rewritten, the upstream's response bytes
//! forwarded unchanged (only `usage` is read, for the request log).
//!
//! The response's `model` field is left as the upstream wrote it (e.g.
//! `gpt-4o-mini-2024-07-18` for a public model `fast`): that is what OpenAI
//! itself does for aliases, SDKs do not check it, and it tells the client
//! which model really answered. Rewriting it would cost a parse and a
//! re-serialisation of every response.
use std::future::Future;
use std::time::Duration;

use reqwest::Url;

use super::upstream::{Auth, UpstreamEndpoint};
use super::{
    check_object, check_opens_object, map_error, parse_usage, Adapter, Attempt, Completion,
    StreamMapper, UpstreamError, UpstreamStream, Usage,
};
use crate::catalog::Provider;

pub(crate) struct OpenAi {
    /// Parsed once here, so a request only clones them.
    chat_url: Url,
    embeddings_url: Url,
    endpoint: UpstreamEndpoint,
}

impl OpenAi {
    /// Its endpoint (base URL, auth, the key to scrub).
    pub(crate) fn endpoint(&self) -> &UpstreamEndpoint {
        &self.endpoint
    }

    pub(crate) fn new(p: &Provider) -> Result<Self, String> {
        let endpoint = UpstreamEndpoint::new(&p.base_url, p.resolve_key(), Auth::Bearer, None)?;
        let base = &endpoint.base;
        let url = |path: &str| {
            Url::parse(&format!("{base}/{path}"))
                .map_err(|e| format!("base URL `{base}` is invalid: {e}"))
        };
        Ok(OpenAi {
            chat_url: url("chat/completions")?,
            embeddings_url: url("embeddings")?,
            endpoint,
        })
    }

    /// An error answer, mapped (also for native Responses calls).
    pub(crate) fn error(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: bytes::Bytes,
    ) -> UpstreamError {
        match map_error(status, headers, body, &self.endpoint.hidden()) {
            UpstreamError::Status {
                status: s @ (401 | 403),
                message,
                body,
                ..
            } if refusal_of(s, &body) == About::Llmo => UpstreamError::Auth { status: s, message },
            e => e,
        }
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        url: &Url,
        body: Vec<u8>,
        bounds: (Duration, u64),
    ) -> Result<Completion, UpstreamError> {
        let (bytes, rest) = self
            .endpoint
            .fetch_head(http, url.clone(), body, bounds, |s, h, b| {
                self.error(s, h, b)
            })
            .await?;
        if rest.is_some() {
            // Relayed as it arrives: only its start can be checked now;
            // `usage` is read from its end.
            check_opens_object(&bytes)?;
            return Ok(Completion {
                body: bytes,
                usage: Usage::default(),
                rest,
            });
        }
        check_object(&bytes)?;
        Ok(Completion {
            usage: parse_usage(&bytes),
            body: bytes,
            rest: None,
        })
    }
}

/// Whom an upstream 401/403 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    /// llmo's key or account: a provider failure (breaker, health,
    /// failover; 502 `upstream_auth_failed` when none is left).
    Llmo,
    /// The request (a model this account may not use, flagged input):
    /// the client gets the upstream's 403.
    Request,
}

/// What an error body must show for a [`REFUSALS`] row to match.
enum Shows {
    Anything,
    /// `error.code` is this string.
    Code(&'static str),
    /// This JSON pointer exists in the body.
    Field(&'static str),
}

/// The 401/403 rule of OpenAI-format upstreams; the first matching row wins.
const REFUSALS: &[(u16, Shows, About)] = &[
    // Wrong, revoked or under-scoped key, not an organisation member.
    (401, Shows::Anything, About::Llmo),
    // OpenAI: the project may not use the model the request named.
    (403, Shows::Code("model_not_found"), About::Request),
    // OpenRouter: the model's moderation flagged the input.
    (
        403,
        Shows::Field("/error/metadata/flagged_input"),
        About::Request,
    ),
    // Region not supported, key or organisation without access.
    (403, Shows::Anything, About::Llmo),
];

/// Who the upstream's 401/403 `body` is about, by [`REFUSALS`].
fn refusal_of(status: u16, body: &[u8]) -> About {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    REFUSALS
        .iter()
        .find(|(s, shows, _)| {
            *s == status
                && match shows {
                    Shows::Anything => true,
                    Shows::Code(c) => v.pointer("/error/code").and_then(|x| x.as_str()) == Some(c),
                    Shows::Field(p) => v.pointer(p).is_some(),
                }
        })
        .map_or(About::Llmo, |(_, _, about)| *about)
}

impl Adapter for OpenAi {
    fn chat(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = a.req.encode_openai(a.upstream_model, false);
        self.call(a.http, &self.chat_url, body, (timeout, a.max_body))
    }

    fn chat_stream(
        &self,
        a: &Attempt<'_>,
    ) -> impl Future<Output = Result<UpstreamStream, UpstreamError>> + Send {
        // Always ask for the usage chunk so the log has token counts; the
        // relay drops it again when the client did not ask for it.
        let body = a.req.encode_openai(a.upstream_model, true);
        async move {
            let body = self
                .endpoint
                .open_stream(a.http, self.chat_url.clone(), body, |s, h, b| {
                    self.error(s, h, b)
                })
                .await?;
            Ok(UpstreamStream {
                body,
                mapper: StreamMapper::Passthrough,
            })
        }
    }

    fn embeddings(
        &self,
        a: &Attempt<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Completion, UpstreamError>> + Send {
        let body = a.req.encode_openai(a.upstream_model, false);
        self.call(a.http, &self.embeddings_url, body, (timeout, a.max_body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderKind;
    use crate::secret::Secret;

    fn row(base: &str, key: Option<&str>) -> Provider {
        Provider {
            id: 1,
            name: "p".into(),
            kind: ProviderKind::OpenAiCompatible,
            base_url: base.into(),
            api_key: key.map(Secret::new),
            api_key_env: None,
            priority: 0,
            weight: 1,
            max_retries: 0,
            timeout_ms: 1000,
            rate_limit_rpm: 0,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn refusals_table_one_row_each() {
        let bad_key =
            include_str!("../../../tests/fixtures/openai/errors/401_invalid_api_key.json");
        let rows = [
            (401, bad_key, About::Llmo),
            (
                403,
                r#"{"error":{"message":"Project `proj_1` does not have access to model `gpt-5`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                About::Request,
            ),
            (
                403,
                r#"{"error":{"code":403,"message":"Input flagged","metadata":{"reasons":["x"],"flagged_input":"..."}}}"#,
                About::Request,
            ),
            (
                403,
                r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}"#,
                About::Llmo,
            ),
        ];
        assert_eq!(rows.len(), REFUSALS.len());
        for (status, body, about) in rows {
            assert_eq!(refusal_of(status, body.as_bytes()), about, "{body}");
        }
        assert_eq!(refusal_of(403, b"<html>Forbidden</html>"), About::Llmo);

        let p = OpenAi::new(&row("http://127.0.0.1:9/v1", Some("k-1234567"))).unwrap();
        let e = p.error(401, &Default::default(), bad_key.into());
        assert!(
            matches!(e, UpstreamError::Auth { status: 401, .. }),
            "{e:?}"
        );
        let e = p.error(403, &Default::default(), rows_body_model_not_found().into());
        assert!(
            matches!(e, UpstreamError::Status { status: 403, .. }),
            "{e:?}"
        );
    }

    fn rows_body_model_not_found() -> &'static str {
        r#"{"error":{"message":"no access to model","code":"model_not_found"}}"#
    }

    #[test]
    fn urls_and_auth() {
        let p = OpenAi::new(&row("http://127.0.0.1:9/v1/", Some("sk-test-123456789"))).unwrap();
        assert_eq!(
            p.chat_url.as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            p.embeddings_url.as_str(),
            "http://127.0.0.1:9/v1/embeddings"
        );
        let (name, a) = p.endpoint.auth.unwrap();
        assert_eq!(name, reqwest::header::AUTHORIZATION);
        assert!(a.is_sensitive());
        assert_eq!(a.to_str().unwrap(), "Bearer sk-test-123456789");
        let p = OpenAi::new(&row("http://127.0.0.1:9/v1", None)).unwrap();
        assert!(p.endpoint.auth.is_none());
        assert!(OpenAi::new(&row("http://127.0.0.1:9/v1", Some("bad\nkey"))).is_err());
    }
}

//! Anthropic's Messages API on llmo (`/v1/messages`, what Claude Code and
//! the `anthropic` SDKs speak): the request path of chat (keys, limits,
//! routing, retries, failover, logs) with an [`Ingress`] of
//! [`Dialect::Messages`]: `anthropic` providers get the request as sent
//! (native passthrough), every other kind the translated request.
//! `count_tokens` asks the model's first usable `anthropic` provider, else
//! estimates locally; `/v1/models` answers in Anthropic's list shape when
//! the request carries `anthropic-version`.
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;

use super::body::Body;
use super::error::ApiError;
use super::ingress::{Dialect, Ingress};
use super::providers::native::{NativeCall, NativeDialect};
use super::providers::request::{Api, ClientRequest};
use super::providers::Attempt;
use super::proxy;
use super::request_log::LogCtx;
use super::snapshot::{Candidate, KeyState, ModelRoute, Snapshot};
use super::Shared;
use crate::translate::messages as translate;

/// The `anthropic-version` a native call sends when the client sent none.
const DEFAULT_VERSION: &str = "2023-06-01";
static ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
static ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// The client's headers an `anthropic` provider gets: `anthropic-version`
/// (default [`DEFAULT_VERSION`]) and every `anthropic-beta`, as sent.
fn forwarded(h: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let version = h
        .get(&ANTHROPIC_VERSION)
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    let mut out = vec![(ANTHROPIC_VERSION.clone(), version)];
    out.extend(
        h.get_all(&ANTHROPIC_BETA)
            .iter()
            .map(|v| (ANTHROPIC_BETA.clone(), v.clone())),
    );
    out
}

/// `POST /v1/messages`.
pub(super) async fn handle(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    req: Request<Incoming>,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let headers = forwarded(req.headers());
    let (key, body) = proxy::admit_request(shared, &snap, req, log).await?;
    let _trim = (body.len() >= super::mem::LARGE_BODY).then_some(super::mem::LargeRequest);
    let creq = ClientRequest::parse(&body, Api::Messages)?;
    log.stream = creq.stream;
    let model = proxy::model_route(&snap, &creq.model, key.as_deref(), log)?;
    let ing = Ingress::new(
        Dialect::Messages,
        &body,
        &creq.model,
        "/v1/messages",
        headers,
    );
    let out = proxy::route(shared, model, &creq, Api::Messages, Some(&ing), log).await?;
    Ok(proxy::respond(out, log))
}

/// `POST /v1/messages/count_tokens`: the model's first usable `anthropic`
/// provider counts (the request as sent, headers forwarded); without one,
/// or when it fails, the local estimate answers. Never 404 for a known
/// model.
pub(super) async fn count_tokens(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    req: Request<Incoming>,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let headers = forwarded(req.headers());
    let (key, body) = proxy::admit_request(shared, &snap, req, log).await?;
    let creq = ClientRequest::parse(&body, Api::Messages)?;
    let model = proxy::model_route(&snap, &creq.model, key.as_deref(), log)?;
    if let Some(c) = counter(model) {
        if let Some(adapter) = &c.provider.adapter {
            let a = Attempt {
                http: &shared.http,
                req: &creq,
                upstream_model: &c.upstream_model,
                max_body: shared.upstream_max_body,
            };
            let call = NativeCall {
                path: "/v1/messages/count_tokens",
                headers: &headers,
                dialect: NativeDialect::Messages,
            };
            log.attempts += 1;
            let t = Instant::now();
            let res = adapter.native(&a, &call, c.provider.timeout).await;
            log.upstream += t.elapsed();
            match res {
                Ok(done) if done.rest.is_none() => {
                    log.provider = Some(c.provider.name.clone());
                    log.upstream_model = Some(c.upstream_model.clone());
                    return Ok(json(StatusCode::OK, done.body));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(provider = %c.provider.name, "count_tokens upstream failed, estimating: {e}")
                }
            }
        }
    }
    let n = translate::count_tokens(&body).map_err(|e| ApiError::invalid(e.to_string(), None))?;
    Ok(json(
        StatusCode::OK,
        Bytes::from(format!("{{\"input_tokens\":{n}}}")),
    ))
}

/// The first `anthropic` candidate that can be asked now (usable, its key
/// present, its circuit not open), by priority.
fn counter(model: &ModelRoute) -> Option<&Candidate> {
    let now = Instant::now();
    model.tiers.iter().flatten().find(|c| {
        c.provider.kind == crate::catalog::ProviderKind::Anthropic
            && c.provider.adapter.is_some()
            && !matches!(c.provider.key, KeyState::Missing(_))
            && c.provider.live.may_try(now)
    })
}

/// Whether a `/v1/models` request wants Anthropic's shape.
pub(super) fn wants_anthropic_models(h: &HeaderMap) -> bool {
    h.contains_key(&ANTHROPIC_VERSION)
}

#[derive(Serialize)]
struct ModelInfo<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: String,
}

#[derive(Serialize)]
struct ModelPage<'a> {
    data: Vec<ModelInfo<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

/// The models of OpenAI's list (`{"data":[{"id","created"}]}`) in
/// Anthropic's shape, all on one page.
pub(super) fn models_list(openai_list: &[u8]) -> Bytes {
    #[derive(serde::Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        data: Vec<Model<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
        created: i64,
    }
    let list: List<'_> = serde_json::from_slice(openai_list).unwrap_or(List { data: vec![] });
    let data: Vec<ModelInfo<'_>> = list
        .data
        .iter()
        .map(|m| ModelInfo {
            kind: "model",
            id: &m.id,
            display_name: &m.id,
            created_at: crate::time::rfc3339(m.created.saturating_mul(1000)),
        })
        .collect();
    let page = ModelPage {
        first_id: data.first().map(|m| m.id),
        last_id: data.last().map(|m| m.id),
        data,
        has_more: false,
    };
    Bytes::from(serde_json::to_vec(&page).unwrap_or_default())
}

/// One model (OpenAI's model object) in Anthropic's shape.
pub(super) fn model_info(openai_model: &[u8]) -> Bytes {
    #[derive(serde::Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
        created: i64,
    }
    let Ok(m) = serde_json::from_slice::<Model<'_>>(openai_model) else {
        return Bytes::from_static(b"{}");
    };
    let info = ModelInfo {
        kind: "model",
        id: &m.id,
        display_name: &m.id,
        created_at: crate::time::rfc3339(m.created.saturating_mul(1000)),
    };
    Bytes::from(serde_json::to_vec(&info).unwrap_or_default())
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Body::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_in_anthropics_list_shape() {
        let list = br#"{"object":"list","data":[{"id":"a","object":"model","created":1700000000,"owned_by":"llmo"},{"id":"b","object":"model","created":0,"owned_by":"llmo"}]}"#;
        let v: serde_json::Value = serde_json::from_slice(&models_list(list)).unwrap();
        assert_eq!(v["data"][0]["type"], "model");
        assert_eq!(v["data"][0]["id"], "a");
        assert_eq!(v["data"][0]["display_name"], "a");
        assert_eq!(v["data"][0]["created_at"], "2023-11-14T22:13:20Z");
        assert_eq!(v["first_id"], "a");
        assert_eq!(v["last_id"], "b");
        assert_eq!(v["has_more"], false);
        let v: serde_json::Value =
            serde_json::from_slice(&models_list(br#"{"object":"list","data":[]}"#)).unwrap();
        assert!(v["first_id"].is_null() && v["data"].as_array().unwrap().is_empty());
    }

    #[test]
    fn version_defaults_and_betas_are_forwarded_as_sent() {
        let mut h = HeaderMap::new();
        let f = forwarded(&h);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1, "2023-06-01");
        h.insert("anthropic-version", "2099-01-01".parse().unwrap());
        h.append("anthropic-beta", "a-1".parse().unwrap());
        h.append("anthropic-beta", "b-2,c-3".parse().unwrap());
        let f = forwarded(&h);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].1, "2099-01-01");
        assert_eq!(f[2].1, "b-2,c-3");
    }
}

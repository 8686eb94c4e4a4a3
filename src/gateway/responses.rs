//! OpenAI's Responses API on llmo (`/v1/responses`, what Codex CLI and the
//! `openai` SDK's `responses.create` speak).
//!
//! - `POST /v1/responses`: the request path of chat (keys, limits, routing,
//!   retries, failover, logs) with an `Ingress` of `Dialect::Responses`:
//!   `openai` providers get the request as sent (native passthrough to
//!   their `/v1/responses`, only `model` rewritten, the stream relayed as
//!   is); `openai-compatible`, `anthropic` and `gemini` providers get it
//!   translated to chat (`translate::responses`) and answer a Response
//!   object or the Responses event stream, under an id llmo issues
//!   (`resp_` + 32 hex digits).
//! - State: with `store` on (the default) a translated answer is kept
//!   (the Response object, and the conversation through it: prior items,
//!   this request's input, the output) for the owner key, off the request
//!   path (see [`super::responses_state`]). A passthrough answer is OpenAI's
//!   to keep: llmo does not store it. `previous_response_id`:
//!   - found in llmo's store (same key): expanded into the conversation
//!     before routing (the stored items prepended to `input`, the field
//!     dropped), so every candidate, native or translated, gets the whole
//!     conversation and failover between kinds works;
//!   - not found: forwarded as is to `openai` candidates (OpenAI may know
//!     it); a translated candidate answers 404 `response_not_found` naming
//!     the id (never a silent fresh conversation), and so does the request
//!     up front when the model has no `openai` candidate at all.
//! - `GET /v1/responses/{id}`: the stored Response object;
//!   `DELETE /v1/responses/{id}`: `{"id","object":"response","deleted":true}`.
//!   Both 404 `response_not_found` for an id that is unknown, deleted,
//!   pruned or another key's (see [`super::responses_state`]).
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use super::body::Body;
use super::error::ApiError;
use super::ingress::{Dialect, Ingress};
use super::providers::request::{Api, ClientRequest};
use super::proxy;
use super::request_log::LogCtx;
use super::responses_state::owner;
use super::snapshot::{ModelRoute, Snapshot};
use super::Shared;
use crate::catalog::ProviderKind;
use crate::db::responses::ResponseRow;
use crate::db::StoreError;
use crate::translate::responses::{self as translate, ResponseMeta};
use crate::translate::TranslateError;

/// An id llmo issues for a translated response: `resp_` + 32 hex digits.
pub(crate) fn new_id() -> String {
    format!("resp_{:032x}", fastrand::u128(..))
}

/// The state fields of a Responses request.
#[derive(serde::Deserialize)]
struct StateFields<'a> {
    #[serde(default)]
    store: Option<bool>,
    #[serde(borrow, default)]
    previous_response_id: Option<std::borrow::Cow<'a, str>>,
}

/// A Responses request made ready for routing: its state looked up.
pub(crate) struct Prepared {
    /// The body candidates get: the client's, or with the stored
    /// conversation of `previous_response_id` expanded into `input`.
    pub body: Bytes,
    /// A `previous_response_id` llmo has not stored (for this key).
    pub missing_prev: Option<String>,
    pub store: bool,
}

/// Reads `store` and `previous_response_id`, and expands a stored
/// previous response into the body.
pub(crate) async fn prepare(
    shared: &Shared,
    body: &Bytes,
    owner: &str,
) -> Result<Prepared, ApiError> {
    let f: StateFields<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            format!("`store` must be a boolean and `previous_response_id` a string ({e})"),
            None,
        )
    })?;
    let store = f.store.unwrap_or(true);
    let Some(prev) = f.previous_response_id else {
        return Ok(Prepared {
            body: body.clone(),
            missing_prev: None,
            store,
        });
    };
    match shared
        .responses
        .get(&prev, owner)
        .await
        .map_err(store_error)?
    {
        Some(row) => Ok(Prepared {
            body: Bytes::from(expand(body, &row.items).map_err(bad_request)?),
            missing_prev: None,
            store,
        }),
        None => Ok(Prepared {
            body: body.clone(),
            missing_prev: Some(prev.into_owned()),
            store,
        }),
    }
}

fn bad_request(e: TranslateError) -> ApiError {
    ApiError::invalid(e.to_string(), None)
}

/// The body with `prior` (a JSON array of items) prepended to its `input`
/// and `previous_response_id` dropped.
fn expand(body: &[u8], prior: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let input = translate::input_items(body)?;
    let items = concat_arrays(&[prior, &input]);
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| crate::translate::invalid("body", format!("not a JSON object: {e}")))?;
    let items: serde_json::Value = serde_json::from_slice(&items).map_err(|_| {
        crate::translate::invalid(
            "previous_response_id",
            "the stored conversation of `previous_response_id` is unreadable",
        )
    })?;
    obj.remove("previous_response_id");
    obj.insert("input".into(), items);
    serde_json::to_vec(&obj)
        .map_err(|e| crate::translate::invalid("body", format!("cannot rewrite the body: {e}")))
}

/// JSON arrays joined into one (bytes in, bytes out; each part a valid
/// array).
fn concat_arrays(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 2);
    out.push(b'[');
    for p in parts {
        let inner = p.trim_ascii();
        let inner = inner
            .strip_prefix(b"[")
            .and_then(|i| i.strip_suffix(b"]"))
            .unwrap_or(b"")
            .trim_ascii();
        if inner.is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(inner);
    }
    out.push(b']');
    out
}

/// Whether a model has a provider that serves Responses natively.
pub(crate) fn has_native(model: &ModelRoute) -> bool {
    model
        .tiers
        .iter()
        .flatten()
        .any(|c| c.provider.kind == ProviderKind::OpenAi)
}

/// What the translated path needs for a Responses request: the id and
/// time of the Response llmo builds, the client's body (echoed fields),
/// and where to keep the answer.
pub(crate) struct ResponsesCtx {
    pub id: String,
    pub created_at: u64,
    /// The client's body as sent (what the Response object echoes).
    pub request: Bytes,
    /// `previous_response_id` llmo has not stored: a translated candidate
    /// answers 404.
    pub missing_prev: Option<String>,
    /// Where a translated answer is kept (`None` with `store: false`).
    pub keep: Option<Arc<Keep>>,
}

impl ResponsesCtx {
    pub(crate) fn meta<'a>(&'a self, public_model: &'a str) -> ResponseMeta<'a> {
        ResponseMeta {
            id: &self.id,
            model: public_model,
            created_at: self.created_at,
            request: &self.request,
        }
    }

    /// A translated non-stream answer (a `chat.completion`) as a Response
    /// object, kept when `store` is on.
    pub(crate) fn answer(
        &self,
        completion: &[u8],
        public_model: &str,
    ) -> Result<Vec<u8>, TranslateError> {
        let out = translate::from_chat(completion, &self.meta(public_model))?;
        if let Some(k) = &self.keep {
            k.store(&out);
        }
        Ok(out)
    }

    /// The egress stage of a translated stream.
    pub(crate) fn egress(&self, public_model: &str) -> ResponsesEgress {
        ResponsesEgress {
            enc: translate::ResponsesEncoder::new(&self.meta(public_model)),
            keep: self.keep.clone(),
        }
    }

    /// The 404 a translated candidate answers for an unknown
    /// `previous_response_id` (OpenAI's error shape, passed to the client).
    pub(crate) fn missing(&self) -> Option<(u16, Bytes)> {
        let id = self.missing_prev.as_deref()?;
        let e = not_found(id, Some("previous_response_id"));
        Some((
            404,
            Bytes::from(super::error::error_json(
                &e.to_string(),
                e.kind(),
                e.code(),
                Some("previous_response_id"),
            )),
        ))
    }
}

/// The Responses event stream of a translated answer; its final Response
/// is kept when the stream ends (with `store` on).
pub(crate) struct ResponsesEgress {
    enc: translate::ResponsesEncoder,
    keep: Option<Arc<Keep>>,
}

impl ResponsesEgress {
    pub(crate) fn feed(&mut self, openai_sse: &[u8]) -> Vec<u8> {
        self.enc.feed(openai_sse)
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let tail = self.enc.finish();
        if let (Some(k), Some(r)) = (self.keep.take(), self.enc.response()) {
            k.store(r);
        }
        tail
    }
}

/// Keeps a translated answer: the owner, the model, and the body the
/// candidates got (its input items start the stored conversation).
pub(crate) struct Keep {
    pub shared: Arc<Shared>,
    pub owner: Box<str>,
    pub model: Box<str>,
    pub body: Bytes,
}

impl Keep {
    /// Stores `response` (a Response object JSON) with the conversation
    /// through it. Never blocks; an unreadable body or answer is not kept.
    pub(crate) fn store(&self, response: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Out<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            output: Option<&'a serde_json::value::RawValue>,
        }
        let Ok(out) = serde_json::from_slice::<Out<'_>>(response) else {
            return;
        };
        let Ok(input) = translate::input_items(&self.body) else {
            return;
        };
        let output = out.output.map_or("[]", |o| o.get());
        let row = ResponseRow {
            id: out.id.as_ref().into(),
            owner: self.owner.clone(),
            model: self.model.clone(),
            created_at_ms: crate::time::now_ms(),
            response: Bytes::copy_from_slice(response),
            items: Bytes::from(concat_arrays(&[&input, output.as_bytes()])),
        };
        self.shared.responses.put(self.shared.recorder.get(), row);
    }
}

/// The 404 for an id llmo has not stored for this key.
pub(crate) fn not_found(id: &str, param: Option<&'static str>) -> ApiError {
    ApiError::ResponseNotFound {
        message: format!(
            "no response with id `{id}` is stored for this API key (unknown, deleted, past the \
             log retention, created with `store: false`, or another key's)"
        ),
        param,
    }
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Body::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// `POST /v1/responses`.
pub(super) async fn create(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    req: Request<Incoming>,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let (key, body) = proxy::admit_request(shared, &snap, req, log).await?;
    let _trim = (body.len() >= super::mem::LARGE_BODY).then_some(super::mem::LargeRequest);
    let creq = ClientRequest::parse(&body, Api::Responses)?;
    log.stream = creq.stream;
    let model = proxy::model_route(&snap, &creq.model, key.as_deref(), log)?;
    let owner = owner(key.as_ref().map(|k| k.id));
    let prep = prepare(shared, &body, &owner).await?;
    if let Some(prev) = &prep.missing_prev {
        if !has_native(model) {
            return Err(not_found(prev, Some("previous_response_id")));
        }
    }
    // Candidates get the expanded body (`model` rewritten for natives).
    let creq = if prep.body != body {
        ClientRequest::parse(&prep.body, Api::Responses)?
    } else {
        creq
    };
    let keep = prep.store.then(|| {
        Arc::new(Keep {
            shared: shared.clone(),
            owner: owner.clone(),
            model: model.name.as_ref().into(),
            body: prep.body.clone(),
        })
    });
    let ctx = ResponsesCtx {
        id: new_id(),
        created_at: (crate::time::now_ms() / 1000).max(0) as u64,
        request: body.clone(),
        missing_prev: prep.missing_prev.clone(),
        keep,
    };
    let ing = Ingress::new(
        Dialect::Responses,
        &prep.body,
        &creq.model,
        "/v1/responses",
        Vec::new(),
    )
    .with_responses(ctx);
    let out = proxy::route(shared, model, &creq, Api::Responses, Some(&ing), log).await?;
    Ok(proxy::respond(out, log))
}

/// `GET /v1/responses/{id}` and `DELETE /v1/responses/{id}`.
pub(super) async fn by_id(
    shared: &Arc<Shared>,
    snap: &Snapshot,
    req: Request<Incoming>,
    id: &str,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let key = proxy::authenticate(shared, snap, &req, log)?;
    let owner = owner(key.as_ref().map(|k| k.id));
    let recorder = shared.recorder.get();
    if req.method() == hyper::Method::DELETE {
        if !shared
            .responses
            .delete(recorder, id, &owner)
            .await
            .map_err(store_error)?
        {
            return Err(not_found(id, None));
        }
        let body = serde_json::json!({"id": id, "object": "response", "deleted": true});
        return Ok(json(StatusCode::OK, Bytes::from(body.to_string())));
    }
    match shared
        .responses
        .get(id, &owner)
        .await
        .map_err(store_error)?
    {
        Some(row) => {
            log.model = Some(Arc::from(&*row.model));
            Ok(json(StatusCode::OK, row.response.clone()))
        }
        None => Err(not_found(id, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_concatenate_and_empty_parts_vanish() {
        assert_eq!(concat_arrays(&[b"[1,2]", b" [ ] ", b"[3]"]), b"[1,2,3]");
        assert_eq!(concat_arrays(&[b"[]", b"[]"]), b"[]");
        let v: serde_json::Value =
            serde_json::from_slice(&concat_arrays(&[br#"[{"a":[1]}]"#, br#"[ "x" ]"#])).unwrap();
        assert_eq!(v, serde_json::json!([{"a": [1]}, "x"]));
    }

    #[test]
    fn a_stored_conversation_is_expanded_into_the_input() {
        let body = br#"{"model":"m","previous_response_id":"resp_1","input":"next","store":false}"#;
        let prior = br#"[{"type":"message","role":"user","content":"first"}]"#;
        let v: serde_json::Value = serde_json::from_slice(&expand(body, prior).unwrap()).unwrap();
        assert!(v.get("previous_response_id").is_none(), "{v}");
        assert_eq!(v["store"], false);
        assert_eq!(v["input"][0]["content"], "first");
        assert_eq!(v["input"][1]["role"], "user");
        assert_eq!(v["input"][1]["content"][0]["text"], "next");
        let id = new_id();
        assert!(id.starts_with("resp_") && id.len() == 37, "{id}");
    }
}

//! Maps (method, path) to handlers, stamps `x-request-id` on every answer,
//! and serves the small endpoints: `/health`, `/ready`, `/metrics`, `/`
//! (GET and HEAD: clients probe it), `/v1/models` and `/v1/models/{id}`
//! (Anthropic's shape when the request carries `anthropic-version`).
//! Errors under `/v1/messages*` are Anthropic-shaped (see
//! [`Dialect::render`]).
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::body::Body;
use super::error::ApiError;
use super::ingress::Dialect;
use super::providers::request::Api;
use super::proxy;
use super::request_log::LogCtx;
use super::Shared;

pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's address, put in each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub std::net::IpAddr);

pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    use tracing::Instrument;
    let rid = request_id(&shared, &req);
    // One span per request (debug level: free when not logged); retries,
    // failovers and the final "request finished" event carry its fields.
    let span = tracing::debug_span!(
        "request",
        request_id = %rid,
        method = %req.method(),
        path = req.uri().path(),
    );
    // At the shutdown deadline the handler is dropped (see `cut_response`).
    let mut cut = shared.cut.subscribe();
    let mut res = tokio::select! {
        biased;
        res = dispatch(&shared, req, &rid).instrument(span) => res,
        _ = cut.wait_for(|c| *c) => super::cut_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    res
}

/// The client's `x-request-id` when it is sane, else a new one.
fn request_id(shared: &Shared, req: &Request<Incoming>) -> String {
    if let Some(v) = req.headers().get(&X_REQUEST_ID) {
        if let Ok(s) = v.to_str() {
            if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) {
                return s.to_string();
            }
        }
    }
    shared.next_request_id()
}

async fn dispatch(shared: &Arc<Shared>, req: Request<Incoming>, rid: &str) -> Response<Body> {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET, "/health") => health(),
        (&Method::GET, "/ready") => ready(shared),
        (&Method::GET, "/metrics") => metrics(shared),
        (&Method::GET | &Method::HEAD, "/") => root(req.method() == Method::HEAD),
        (_, p) if p.starts_with("/v1/") => api(shared, req, rid).await,
        (_, p) if crate::admin::is_admin_path(p) => admin(shared, req).await,
        (m, p) => {
            let known = matches!(p, "/health" | "/ready" | "/metrics");
            if known {
                ApiError::MethodNotAllowed {
                    method: m.to_string(),
                    path: p.to_string(),
                }
                .into_response()
            } else {
                ApiError::UnknownRoute {
                    method: m.to_string(),
                    path: p.to_string(),
                }
                .into_response()
            }
        }
    }
}

/// Every `/v1/*` request: one log row each.
async fn api(shared: &Arc<Shared>, req: Request<Incoming>, rid: &str) -> Response<Body> {
    let mut log = LogCtx::new(shared.clone(), rid.to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    log.route(&method, &path, api_of(&path));
    let dialect = Dialect::of_path(&path);
    let Some(snap) = shared.snapshot() else {
        let err = shared.not_ready_error();
        // No database, no recorder: nothing to log to.
        log.finish(err.status().as_u16(), Some(err.log_type()));
        return dialect.render(err);
    };
    let anthropic_models = super::messages::wants_anthropic_models(req.headers());
    let result = match (&method, path.as_str()) {
        (&Method::POST, "/v1/chat/completions") => {
            proxy::handle(shared, snap, req, Api::Chat, &mut log).await
        }
        (&Method::POST, "/v1/embeddings") => {
            proxy::handle(shared, snap, req, Api::Embeddings, &mut log).await
        }
        (&Method::POST, "/v1/messages") => {
            super::messages::handle(shared, snap, req, &mut log).await
        }
        (&Method::POST, "/v1/responses") => {
            super::responses::create(shared, snap, req, &mut log).await
        }
        (&Method::POST, "/v1/messages/count_tokens") => {
            super::messages::count_tokens(shared, snap, req, &mut log).await
        }
        (&Method::GET, "/v1/models") => {
            proxy::authenticate(shared, &snap, &req, &mut log).map(|_| {
                let list = if anthropic_models {
                    super::messages::models_list(&snap.models_json)
                } else {
                    snap.models_json.clone()
                };
                json(StatusCode::OK, list)
            })
        }
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            let id = crate::http_util::decode_path_segment(&p["/v1/models/".len()..]);
            proxy::authenticate(shared, &snap, &req, &mut log).and_then(|_| {
                match snap.models.get(id.as_str()) {
                    Some(m) if m.enabled && anthropic_models => {
                        Ok(json(StatusCode::OK, super::messages::model_info(&m.json)))
                    }
                    Some(m) if m.enabled => Ok(json(StatusCode::OK, m.json.clone())),
                    _ => Err(ApiError::UnknownModel(id)),
                }
            })
        }
        (&Method::GET | &Method::DELETE, p) if p.starts_with("/v1/responses/") => {
            let id = crate::http_util::decode_path_segment(&p["/v1/responses/".len()..]);
            super::responses::by_id(shared, &snap, req, &id, &mut log).await
        }
        (
            m,
            p @ ("/v1/chat/completions"
            | "/v1/embeddings"
            | "/v1/models"
            | "/v1/messages"
            | "/v1/messages/count_tokens"
            | "/v1/responses"),
        ) => Err(ApiError::MethodNotAllowed {
            method: m.to_string(),
            path: p.to_string(),
        }),
        (m, p) => Err(ApiError::UnknownRoute {
            method: m.to_string(),
            path: p.to_string(),
        }),
    };
    match result {
        Ok(res) => {
            log.finish(res.status().as_u16(), None);
            res
        }
        Err(e) => {
            tracing::debug!(request_id = %rid, status = e.status().as_u16(), "{e}");
            let kind = e.log_type();
            let res = dialect.render(e);
            log.finish(res.status().as_u16(), Some(kind));
            res
        }
    }
}

/// Which API a `/v1` path belongs to, as the request log's `api` says: an
/// open set.
fn api_of(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "chat",
        "/v1/embeddings" => "embeddings",
        p if p == "/v1/models" || p.starts_with("/v1/models/") => "models",
        p => match Dialect::of_path(p) {
            Dialect::Messages => "messages",
            Dialect::Responses => "responses",
            Dialect::Chat => "other",
        },
    }
}

/// `GET /` and `HEAD /`: 200, so clients probing the base URL find llmo.
fn root(head: bool) -> Response<Body> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(b"llmo is running; the API is under /v1\n")
    };
    let mut res = Response::new(Body::full(body));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// `/admin/*` and `/admin-ui/*`: the admin module answers (it reads at most
/// 1 MiB of body and checks the admin key itself).
async fn admin(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let Some(admin) = shared.admin.get() else {
        return ApiError::UnknownRoute {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
        }
        .into_response();
    };
    let peer = req
        .extensions()
        .get::<Peer>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |p| p.0);
    let client = crate::http_util::client_addr(peer, req.headers(), &shared.trusted_proxies);
    let r = crate::admin::route(admin, req, client, &shared.body).await;
    if r.status == 408 {
        shared.metrics.body_timeout("admin");
    }
    let mut res = Response::new(Body::full(r.body));
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in &r.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            res.headers_mut().append(*k, v);
        }
    }
    res
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Body::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn health() -> Response<Body> {
    static BODY: &str = concat!(
        r#"{"status":"ok","service":"llmo","version":""#,
        env!("CARGO_PKG_VERSION"),
        r#""}"#
    );
    json(StatusCode::OK, Bytes::from_static(BODY.as_bytes()))
}

#[derive(Serialize)]
struct ReadyBody<'a> {
    ready: bool,
    problem: Option<&'a str>,
    fix: Option<&'a str>,
    providers: Vec<ProviderHealth<'a>>,
    /// What works less than it should while the gateway still serves (the
    /// database away, the request log holding or dropping rows, Redis
    /// unreachable so rate limits are per replica): notes for
    /// operators, never a reason to leave the load balancer.
    degraded: Vec<String>,
    server: ServerFacts,
    /// Replicas sharing this database (heartbeats seen in the last 30 s),
    /// once this one has beaten. A fact about the deployment, not a fault:
    /// several without Redis is warned in the log and by doctor, not here
    /// as `degraded` (that is for what breaks and mends at run time).
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<ReplicaCount>,
    /// The `--apply` file's state, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    apply: Option<&'a super::apply::ApplyStatus>,
}

/// What `llmo doctor` asks the running server instead of judging from its
/// own environment: which process this is and whether it has an admin key
/// (never the key). The providers' key state is in `providers`.
#[derive(Serialize)]
struct ServerFacts {
    pid: u32,
    admin_key: bool,
}

#[derive(Serialize)]
struct ReplicaCount {
    live: i64,
    without_redis: i64,
}

#[derive(Serialize)]
struct ProviderHealth<'a> {
    name: &'a str,
    kind: &'static str,
    enabled: bool,
    /// The circuit's state, or `key_missing` when the server's environment
    /// lacks the provider's key variable (it is then never tried).
    state: &'static str,
    /// Where the key comes from: `stored`, `env`, `missing` or `none`.
    key: &'static str,
    /// The key variable's name (never its value), when the key comes from one.
    key_env: Option<&'a str>,
    consecutive_failures: u32,
    last_error: Option<String>,
    last_success_at: Option<String>,
    success_rate_5m: Option<f64>,
}

/// The `providers` array of `/ready`, for the admin API's health page.
pub(super) fn provider_states(shared: &Shared) -> serde_json::Value {
    let snap = shared.snapshot();
    serde_json::to_value(provider_health(snap.as_deref())).unwrap_or_default()
}

fn provider_health(snap: Option<&super::snapshot::Snapshot>) -> Vec<ProviderHealth<'_>> {
    let now = Instant::now();
    let now_ms = crate::time::now_ms();
    snap.map(|s| {
        s.providers
            .iter()
            .map(|p| {
                let v = p.live.view(now, now_ms);
                ProviderHealth {
                    name: &p.name,
                    kind: p.kind.as_str(),
                    enabled: p.enabled,
                    state: match p.key {
                        super::snapshot::KeyState::Missing(_) => "key_missing",
                        _ => v.state.as_str(),
                    },
                    key: p.key.as_str(),
                    key_env: p.key.var(),
                    consecutive_failures: v.consecutive_failures,
                    last_error: v.last_error,
                    last_success_at: v.last_success_ms.map(crate::time::rfc3339),
                    success_rate_5m: v.success_rate_5m,
                }
            })
            .collect()
    })
    .unwrap_or_default()
}

fn ready(shared: &Shared) -> Response<Body> {
    let snap = shared.snapshot();
    let problem = shared.problem();
    let providers = provider_health(snap.as_deref());
    let apply = shared.apply_status();
    // A file that never applied keeps the gateway unready (a bad rollout
    // takes no traffic); a bad edit after a good apply does not.
    let apply_blocks = apply
        .as_deref()
        .filter(|a| !a.applied)
        .and_then(|a| Some((a.error.as_deref()?, a.fix.as_deref().unwrap_or(""))));
    let (ready, problem, fix) = match (&problem, &snap) {
        (Some(p), _) => (false, Some(p.problem.as_str()), Some(p.fix.as_str())),
        (None, _) if apply_blocks.is_some() => {
            let (p, f) = apply_blocks.unwrap_or_default();
            (false, Some(p), Some(f))
        }
        (None, None) => (false, Some("the database is not open yet"), Some("wait, or see the logs")),
        (None, Some(s)) if s.providers.is_empty() => (
            false,
            Some("no providers are configured"),
            Some("add one: `llmo provider add NAME --kind openai --api-key-env OPENAI_API_KEY --models MODEL`"),
        ),
        (None, Some(_)) => (true, None, None),
    };
    let body = ReadyBody {
        ready,
        problem,
        fix,
        providers,
        degraded: if ready { degraded(shared) } else { Vec::new() },
        server: ServerFacts {
            pid: std::process::id(),
            admin_key: shared.admin.get().is_some_and(|a| a.enabled()),
        },
        replicas: shared
            .replicas
            .census()
            .map(|(live, without_redis)| ReplicaCount {
                live,
                without_redis,
            }),
        apply: apply.as_deref(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Bytes::from(bytes),
    )
}

/// `/ready`'s `degraded` notes about the database: the configuration polls
/// and the request-log writer. The gateway stays ready through them: its
/// snapshot (routes and client keys) keeps serving, and taking every
/// replica out of the load balancer because the log database blinked would
/// turn a logging problem into an outage.
fn degraded(shared: &Shared) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some((since, e)) = shared.reads_failing() {
        notes.push(format!(
            "database: configuration reads fail since {} ({e}); serving the configuration loaded before, changes apply when it answers",
            crate::time::rfc3339(since)
        ));
    }
    if let Some(r) = shared.recorder.get() {
        let v = r.writer_view();
        let err = v.last_error.as_deref().unwrap_or("unknown error");
        match v.state {
            "holding" => notes.push(format!(
                "request log: the database cannot be reached for {} s ({err}); {} row(s) held in memory (room for {}), written when it answers",
                v.holding_ms / 1000,
                r.queue_depth(),
                v.capacity
            )),
            "failing" => notes.push(format!(
                "request log: writes fail ({err}); their rows are dropped (llmo_log_rows_dropped_total)"
            )),
            "blocked" => notes.push(format!(
                "request log: a database write has waited {} s; rows queue meanwhile",
                v.blocked_ms / 1000
            )),
            _ => {}
        }
    }
    notes.extend(shared.limits.degraded());
    notes
}

fn metrics(shared: &Shared) -> Response<Body> {
    let rec = shared.recorder.get();
    let (depth, dropped) = rec
        .map(|r| (r.queue_depth(), r.dropped()))
        .unwrap_or((0, 0));
    let mut text = shared.metrics.render(depth, dropped);
    let writer = rec.map(super::recorder::Recorder::writer_view);
    if let Some(v) = &writer {
        super::metrics::render_log_writer(&mut text, v);
    }
    // Open, configuration polls answering, request-log writes working.
    let up = shared.problem().is_none()
        && writer.is_some()
        && shared.reads_failing().is_none()
        && writer.is_none_or(|v| v.state == "ok" || v.state == "blocked");
    super::metrics::render_db_up(&mut text, up);
    shared.limits.render_metrics(&mut text);
    let mut res = Response::new(Body::full(text));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(super::metrics::CONTENT_TYPE),
    );
    res
}

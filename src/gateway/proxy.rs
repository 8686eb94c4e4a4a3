//! The request path of `/v1/chat/completions` and `/v1/embeddings`:
//! authenticate, read the body within the limit, parse what routing needs,
//! pick candidates (priority tiers, weighted random inside a tier), try them
//! with retries, backoff and failover, and answer, writing one log row.
//! No SQLite, no lock held across an `.await`, no per-request info logs.
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response};

use super::body::Body;
use super::breaker::Refusal;
use super::error::ApiError;
use super::providers::request::{Api, ClientRequest};
use super::providers::{Completion, UpstreamError};
use super::request_log::LogCtx;
use super::snapshot::{key_digest, Candidate, KeyRt, ModelRoute, ProviderRt, Snapshot};
use super::stream::Relay;
use super::Shared;

/// Longest upstream `Retry-After` the gateway waits out; longer ones fail
/// over to the next candidate instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const BACKOFF_BASE_MS: u64 = 50;
const BACKOFF_CAP_MS: u64 = 2_000;

/// Authenticates a request against the snapshot's keys.
pub fn authenticate(
    shared: &Shared,
    snap: &Snapshot,
    req: &Request<Incoming>,
) -> Result<Option<Arc<KeyRt>>, ApiError> {
    let Some(h) = req.headers().get(AUTHORIZATION) else {
        return if shared.allow_anonymous {
            Ok(None)
        } else {
            Err(ApiError::Unauthorized(
                "missing API key: send `Authorization: Bearer <key>` (create one with `llmo key create NAME`)",
            ))
        };
    };
    let token = h
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "malformed Authorization header: expected `Bearer <key>`",
        ))?;
    match snap.keys.get(&key_digest(token)) {
        Some(k) => Ok(Some(k.clone())),
        None => Err(ApiError::Unauthorized(
            "invalid API key (unknown or revoked)",
        )),
    }
}

/// Reads the body, refusing more than `limit` bytes (by Content-Length up
/// front, and while reading for chunked bodies).
async fn read_body(req: Request<Incoming>, limit: u64) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = req.into_body();
    let mut first: Option<Bytes> = None;
    let mut acc: Option<BytesMut> = None;
    let mut len: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::invalid(format!("could not read the request body: {e}"), None)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len() as u64;
        if len > limit {
            return Err(ApiError::TooLarge { limit });
        }
        match (&mut first, &mut acc) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(declared.unwrap_or(0).max(len) as usize);
                b.extend_from_slice(f);
                b.extend_from_slice(&data);
                acc = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&data),
        }
    }
    Ok(match acc {
        Some(b) => b.freeze(),
        None => first.unwrap_or_default(),
    })
}

enum Outcome {
    Full(Completion),
    Stream(Box<Relay>),
}

/// `POST /v1/chat/completions` and `POST /v1/embeddings`.
pub async fn handle(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    req: Request<Incoming>,
    api: Api,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let key = authenticate(shared, &snap, &req)?;
    if let Some(k) = &key {
        log.key_name = Some(k.name.clone());
        if let Err(wait) = k.live.try_acquire(Instant::now()) {
            shared.metrics.rate_limited("key", &k.name);
            return Err(ApiError::RateLimited {
                message: format!("API key `{}` is over its requests-per-minute limit", k.name),
                retry_after: wait,
            });
        }
    }
    let body = read_body(req, shared.max_body).await?;
    let creq = ClientRequest::parse(&body, api)?;
    log.stream = creq.stream;
    let model = match snap.models.get(creq.model.as_ref()) {
        Some(m) if m.enabled => m,
        _ => return Err(ApiError::UnknownModel(creq.model.into_owned())),
    };
    log.model = Some(model.name.clone());
    if let Some(k) = &key {
        if !k.allows(&model.name) {
            return Err(ApiError::ModelNotAllowed(model.name.to_string()));
        }
    }
    match route(shared, model, &creq, api, log).await? {
        Outcome::Full(c) => {
            log.usage = c.usage;
            log.ttfb = Some(log.started.elapsed());
            log.finish(200, None);
            let mut res = Response::new(Body::full(c.body));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(res)
        }
        Outcome::Stream(mut relay) => {
            log.ttfb = Some(log.started.elapsed());
            // The relay writes the row when the stream ends.
            relay.attach(log.hand_over());
            let mut res = Response::new(Body::Relay(relay));
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(res)
        }
    }
}

/// `50 ms * 2^n`, ±50 % jitter, capped.
fn backoff(n: u32) -> Duration {
    let base = BACKOFF_BASE_MS
        .saturating_mul(1u64 << n.min(16))
        .min(BACKOFF_CAP_MS);
    let jitter = fastrand::u64(0..=base);
    Duration::from_millis(base / 2 + jitter)
}

/// Which candidates of a tier were tried: a bit set, no allocation for
/// tiers of up to 64 providers.
enum Tried {
    Small(u64),
    Large(Vec<bool>),
}

impl Tried {
    fn new(n: usize) -> Tried {
        if n <= 64 {
            Tried::Small(0)
        } else {
            Tried::Large(vec![false; n])
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Tried::Small(b) => b & (1 << i) != 0,
            Tried::Large(v) => v[i],
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Tried::Small(b) => *b |= 1 << i,
            Tried::Large(v) => v[i] = true,
        }
    }
}

/// Picks a weighted-random candidate among those not yet tried, not
/// circuit-open and (when `api` is given) able to serve that api;
/// weight 0 candidates never make it into a tier.
fn pick(tier: &[Candidate], tried: &Tried, now: Instant, api: Option<Api>) -> Option<usize> {
    let ok = |i: usize| {
        !tried.get(i)
            && api.is_none_or(|e| supports(&tier[i], e))
            && tier[i].provider.live.may_try(now)
    };
    let total: u64 = (0..tier.len())
        .filter(|i| ok(*i))
        .map(|i| u64::from(tier[i].weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(0..total);
    for (i, c) in tier.iter().enumerate() {
        if !ok(i) {
            continue;
        }
        let w = u64::from(c.weight);
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}

fn supports(c: &Candidate, api: Api) -> bool {
    c.provider.adapter.as_ref().is_some_and(|a| a.supports(api))
}

/// Releases a half-open trial if the attempt is abandoned (client gone).
struct TrialGuard<'a> {
    provider: &'a ProviderRt,
    armed: bool,
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.provider.live.abandon();
        }
    }
}

async fn attempt(
    shared: &Shared,
    c: &Candidate,
    creq: &ClientRequest<'_>,
    api: Api,
) -> Result<Outcome, UpstreamError> {
    let Some(adapter) = &c.provider.adapter else {
        return Err(UpstreamError::Connect("provider is not usable".into()));
    };
    let timeout = c.provider.timeout;
    match (api, creq.stream) {
        (Api::Embeddings, _) => adapter
            .embeddings(&shared.http, creq, &c.upstream_model, timeout)
            .await
            .map(Outcome::Full),
        (Api::Chat, false) => adapter
            .chat(&shared.http, creq, &c.upstream_model, timeout)
            .await
            .map(Outcome::Full),
        (Api::Chat, true) => {
            // `timeout` bounds the wait for the first event; the relay then
            // bounds each gap between chunks with it.
            let started = Instant::now();
            let open = async {
                let up = adapter
                    .chat_stream(&shared.http, creq, &c.upstream_model)
                    .await?;
                let mut relay = Box::new(Relay::new(
                    up,
                    c.provider.clone(),
                    creq.client_wants_usage,
                    started,
                ));
                relay.prime().await?;
                Ok(relay)
            };
            match tokio::time::timeout(timeout, open).await {
                Ok(r) => r.map(Outcome::Stream),
                Err(_) => Err(UpstreamError::Timeout(timeout.as_millis() as u64)),
            }
        }
    }
}

async fn route(
    shared: &Arc<Shared>,
    model: &ModelRoute,
    creq: &ClientRequest<'_>,
    api: Api,
    log: &mut LogCtx,
) -> Result<Outcome, ApiError> {
    let mut last: Option<(Arc<str>, UpstreamError)> = None;
    let mut rate_wait: Option<Duration> = None;
    let mut circuit_wait: Option<Duration> = None;
    let min = |a: Option<Duration>, b: Duration| Some(a.map_or(b, |a| a.min(b)));
    // Skip candidates that cannot serve this api (Anthropic has no
    // embeddings) as long as some candidate can; when none can, the first
    // one answers with its own clear 400.
    let only = model
        .tiers
        .iter()
        .flatten()
        .any(|c| supports(c, api))
        .then_some(api);
    for tier in &model.tiers {
        let mut tried = Tried::new(tier.len());
        while let Some(i) = pick(tier, &tried, Instant::now(), only) {
            tried.set(i);
            let c = &tier[i];
            let p = &c.provider;
            let mut admit = p.live.acquire(Instant::now());
            let mut n: u32 = 0;
            loop {
                if let Some(ch) = admit.1.take() {
                    shared.report_change(&p.name, ch);
                }
                match admit.0 {
                    Ok(()) => {}
                    Err(Refusal::RateLimited(w)) => {
                        shared.metrics.rate_limited("provider", &p.name);
                        rate_wait = min(rate_wait, w);
                        break;
                    }
                    Err(Refusal::CircuitOpen(w)) => {
                        circuit_wait = min(circuit_wait, w);
                        break;
                    }
                }
                log.attempts += 1;
                let t = Instant::now();
                let mut guard = TrialGuard {
                    provider: p,
                    armed: true,
                };
                let res = attempt(shared, c, creq, api).await;
                guard.armed = false;
                log.upstream += t.elapsed();
                match res {
                    Ok(out) => {
                        if let Some(ch) = p.live.on_success(crate::time::now_ms()) {
                            shared.report_change(&p.name, ch);
                        }
                        log.provider = Some(p.name.clone());
                        log.upstream_model = Some(c.upstream_model.clone());
                        if let Outcome::Stream(_) = &out {
                            // The relay adds the streaming time itself.
                            log.upstream = log.upstream.saturating_sub(t.elapsed());
                        }
                        return Ok(out);
                    }
                    Err(UpstreamError::Status { status, body, .. })
                        if !(matches!(status, 408 | 409 | 425 | 429) || status >= 500) =>
                    {
                        // The upstream is up and refused this request: no
                        // other provider will think differently.
                        if let Some(ch) = p.live.on_success(crate::time::now_ms()) {
                            shared.report_change(&p.name, ch);
                        }
                        log.provider = Some(p.name.clone());
                        log.upstream_model = Some(c.upstream_model.clone());
                        return Err(ApiError::UpstreamClient { status, body });
                    }
                    Err(e) => {
                        tracing::debug!(provider = %p.name, attempt = n + 1, "upstream attempt failed: {e}");
                        let ch = p.live.on_failure(
                            Instant::now(),
                            crate::time::now_ms(),
                            &e.to_string(),
                            shared.breaker,
                        );
                        if let Some(ch) = ch {
                            shared.report_change(&p.name, ch);
                        }
                        let ra = e.retry_after();
                        let retryable = e.is_retryable();
                        last = Some((p.name.clone(), e));
                        if n >= p.max_retries || !retryable {
                            // `!retryable`: llmo's own account problem at
                            // this provider (Unservable): next candidate.
                            break;
                        }
                        let wait = match ra {
                            Some(ra) if ra <= MAX_RETRY_AFTER => ra,
                            Some(_) => break,
                            None => backoff(n),
                        };
                        n += 1;
                        tokio::time::sleep(wait).await;
                        log.waited += wait;
                        shared.metrics.retry(&p.name);
                        admit = p.live.acquire(Instant::now());
                    }
                }
            }
            if last.is_some() {
                shared.metrics.failover(&model.name);
            }
        }
    }
    if let Some((provider, error)) = last {
        if let UpstreamError::Unservable { status, body, .. } = error {
            // The translator's answer for the client (e.g. 502
            // `upstream_auth_failed`, 429 `insufficient_quota`).
            return Err(ApiError::UpstreamClient { status, body });
        }
        return Err(ApiError::Upstream {
            provider,
            attempts: log.attempts,
            error,
        });
    }
    if let Some(w) = rate_wait {
        return Err(ApiError::RateLimited {
            message: format!(
                "every provider of model `{}` is at its rate limit; retry later",
                model.name
            ),
            retry_after: w,
        });
    }
    if model.tiers.is_empty() {
        let why = if model.skipped.is_empty() {
            "it is mapped to no provider".to_string()
        } else {
            model.skipped.join("; ")
        };
        return Err(ApiError::NoProvider {
            message: format!("model `{}` has no usable provider: {why}", model.name),
            retry_after: None,
        });
    }
    let now = Instant::now();
    for c in model.tiers.iter().flatten() {
        if let Some(w) = c.provider.live.open_remaining(now) {
            circuit_wait = min(circuit_wait, w);
        }
    }
    Err(ApiError::NoProvider {
        message: format!(
            "every provider of model `{}` is unavailable: their circuits are open after repeated failures",
            model.name
        ),
        retry_after: circuit_wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tried_sets_small_and_large() {
        for n in [3, 64, 65, 200] {
            let mut t = Tried::new(n);
            assert!((0..n).all(|i| !t.get(i)));
            t.set(0);
            t.set(n - 1);
            assert!(t.get(0) && t.get(n - 1) && (n < 3 || !t.get(1)));
        }
    }

    #[test]
    fn backoff_grows_jittered_and_capped() {
        for _ in 0..100 {
            let b0 = backoff(0).as_millis();
            assert!((25..=75).contains(&b0), "{b0}");
            let b3 = backoff(3).as_millis();
            assert!((200..=600).contains(&b3), "{b3}");
            assert!(backoff(30).as_millis() <= 3000);
        }
    }
}

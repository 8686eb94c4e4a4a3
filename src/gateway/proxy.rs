//! The request path of `/v1/chat/completions` and `/v1/embeddings` (and,
//! with an [`Ingress`], of the other dialects' routes):
//! authenticate, read the body within the limit, parse what routing needs,
//! pick candidates (priority tiers, weighted random inside a tier), try them
//! with retries, backoff and failover, and answer, writing one log row.
//! No SQLite, no lock held across an `.await`, no per-request info logs.
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response};

use super::body::Body;
use super::breaker::Refusal;
use super::error::ApiError;
use super::ingress::Ingress;
use super::passthrough::PassBody;
use super::providers::request::{Api, ClientRequest};
use super::providers::{Attempt, Completion, UpstreamError, UpstreamStream};
use super::request_log::LogCtx;
use super::retry::{random_draw, Next, RetryPolicy};
use super::shared_limits::Scope;
use super::snapshot::{key_digest, Candidate, KeyRt, KeyState, ModelRoute, ProviderRt, Snapshot};
use super::stream::Relay;
use super::Shared;
use crate::http_util::{client_key, Bearer, BodyError};

/// Authenticates a request against the snapshot's keys.
/// An unknown key is noted in `log` (logged as `invalid_key`).
pub(crate) fn authenticate(
    shared: &Shared,
    snap: &Snapshot,
    req: &Request<Incoming>,
    log: &mut LogCtx,
) -> Result<Option<Arc<KeyRt>>, ApiError> {
    let token = match client_key(req.headers()) {
        Bearer::Token(t) => t,
        Bearer::Missing if shared.allow_anonymous => return Ok(None),
        Bearer::Missing => {
            return Err(ApiError::Unauthorized(
                "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>` (create one with `llmo key create NAME`)",
            ))
        }
        Bearer::Malformed => {
            return Err(ApiError::Unauthorized(
                "malformed API key header: expected `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ))
        }
    };
    match snap.keys.get(&key_digest(token)) {
        Some(k) => {
            log.key_name = Some(k.name.clone());
            Ok(Some(k.clone()))
        }
        None => {
            log.unknown_key(token);
            Err(ApiError::Unauthorized(
                "invalid API key (unknown or revoked)",
            ))
        }
    }
}

/// Reads the body within `shared.body`: more than the limit is 413 (by
/// Content-Length up front, and while reading for chunked bodies); a body
/// that does not arrive in time, or too slowly, is 408 (counted).
async fn read_body(req: Request<Incoming>, shared: &Shared) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match crate::http_util::read_body(req.into_body(), declared, &shared.body).await {
        Ok(b) => check_nesting(&b).map(|()| b),
        Err(BodyError::TooLarge { limit }) => Err(ApiError::TooLarge { limit }),
        Err(BodyError::Slow(message)) => {
            shared.metrics.body_timeout("api");
            Err(ApiError::BodyTimeout(message))
        }
        Err(BodyError::Read(e)) => Err(ApiError::invalid(
            format!("could not read the request body: {e}"),
            None,
        )),
    }
}

/// How deep JSON may nest: serde_json's recursion limit, which the
/// translating adapters' parse would hit (and then see no object at all).
const MAX_NESTING: usize = 128;

/// Refuses a body whose arrays and objects nest deeper than
/// [`MAX_NESTING`], naming the limit. A scan of the bytes (strings
/// skipped), done only when the body has that many brackets at all.
fn check_nesting(body: &[u8]) -> Result<(), ApiError> {
    if body.iter().filter(|b| matches!(b, b'[' | b'{')).count() <= MAX_NESTING {
        return Ok(());
    }
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in body {
        match (in_str, esc, b) {
            (true, true, _) => esc = false,
            (true, false, b'\\') => esc = true,
            (true, false, b'"') => in_str = false,
            (true, false, _) => {}
            (false, _, b'"') => in_str = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ApiError::invalid(
                        format!("the request body is nested deeper than {MAX_NESTING} levels (arrays and objects inside each other), the most llmo parses; flatten it"),
                        None,
                    ));
                }
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

pub(super) enum Outcome {
    Full(Completion),
    Stream(Box<Relay>),
    /// A large pass-through answer, relayed as it arrives.
    Pass(Box<PassBody>),
}

/// `POST /v1/chat/completions` and `POST /v1/embeddings`.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    req: Request<Incoming>,
    api: Api,
    log: &mut LogCtx,
) -> Result<Response<Body>, ApiError> {
    let (key, body) = admit_request(shared, &snap, req, log).await?;
    // A large body's memory goes back to the OS once the request is done.
    let _trim = (body.len() >= super::mem::LARGE_BODY).then_some(super::mem::LargeRequest);
    let creq = ClientRequest::parse(&body, api)?;
    log.stream = creq.stream;
    let model = model_route(&snap, &creq.model, key.as_deref(), log)?;
    let out = route(shared, model, &creq, api, None, log).await?;
    Ok(respond(out, log))
}

/// The start every `/v1` request that sends a body shares: the client key
/// checked (and its rate window), then the body read within the limits.
pub(super) async fn admit_request(
    shared: &Shared,
    snap: &Snapshot,
    req: Request<Incoming>,
    log: &mut LogCtx,
) -> Result<(Option<Arc<KeyRt>>, Bytes), ApiError> {
    let key = authenticate(shared, snap, &req, log)?;
    if let Some(k) = &key {
        log.key_name = Some(k.name.clone());
        if let Err(wait) = key_rate(shared, k).await {
            shared.metrics.rate_limited("key", &k.name);
            return Err(ApiError::RateLimited {
                message: format!("API key `{}` is over its requests-per-minute limit", k.name),
                retry_after: wait,
            });
        }
    }
    let body = read_body(req, shared).await?;
    Ok((key, body))
}

/// A client key's rate limit: the window shared across replicas when
/// there is one (Redis), else this replica's own. Keys without a limit
/// cost nothing.
async fn key_rate(shared: &Shared, k: &KeyRt) -> Result<(), Duration> {
    if k.rpm == 0 {
        return Ok(());
    }
    match shared.limits.check(Scope::Key(k.id), k.rpm).await {
        Some(Ok(())) => {
            k.live.note(Instant::now());
            Ok(())
        }
        Some(Err(wait)) => Err(wait),
        None => k.live.try_acquire(Instant::now()),
    }
}

/// The enabled model the client named, if its key may use it.
pub(super) fn model_route<'s>(
    snap: &'s Snapshot,
    name: &str,
    key: Option<&KeyRt>,
    log: &mut LogCtx,
) -> Result<&'s ModelRoute, ApiError> {
    let model = match snap.models.get(name) {
        Some(m) if m.enabled => m,
        _ => return Err(ApiError::UnknownModel(name.to_string())),
    };
    log.model = Some(model.name.clone());
    if let Some(k) = key {
        if !k.allows(&model.name) {
            return Err(ApiError::ModelNotAllowed(model.name.to_string()));
        }
    }
    Ok(model)
}

/// The client's answer for an outcome: JSON, or a relayed body that writes
/// the log row when it ends.
pub(super) fn respond(out: Outcome, log: &mut LogCtx) -> Response<Body> {
    match out {
        Outcome::Full(c) => {
            log.usage = c.usage;
            log.ttfb = Some(log.started.elapsed());
            log.finish(200, None);
            let mut res = Response::new(Body::full(c.body));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Outcome::Pass(mut pass) => {
            log.ttfb = Some(log.started.elapsed());
            // The body writes the row when it ends.
            pass.attach(log.hand_over());
            let mut res = Response::new(Body::Pass(pass));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Outcome::Stream(mut relay) => {
            log.ttfb = Some(log.started.elapsed());
            // The relay writes the row when the stream ends.
            relay.attach(log.hand_over());
            let mut res = Response::new(Body::Relay(relay));
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            res
        }
    }
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

/// A non-stream answer as an outcome: whole, or (a large pass-through
/// answer) relayed as it arrives.
pub(super) fn full(done: Completion, c: &Candidate, started: Instant) -> Outcome {
    match done.rest {
        Some(rest) => Outcome::Pass(Box::new(PassBody::new(
            done.body,
            rest,
            c.provider.clone(),
            started,
        ))),
        None => Outcome::Full(done),
    }
}

/// Opens a stream at `c` and reads its first event, all within the
/// provider's timeout (the relay then bounds each gap between events).
pub(super) async fn open_relay(
    c: &Candidate,
    client_wants_usage: bool,
    open: impl std::future::Future<Output = Result<UpstreamStream, UpstreamError>>,
) -> Result<Outcome, UpstreamError> {
    let timeout = c.provider.timeout;
    let started = Instant::now();
    let open = async {
        let up = open.await?;
        let mut relay = Box::new(Relay::new(
            up,
            c.provider.clone(),
            client_wants_usage,
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

async fn attempt(
    shared: &Shared,
    c: &Candidate,
    creq: &ClientRequest<'_>,
    api: Api,
    ing: Option<&Ingress<'_>>,
) -> Result<Outcome, UpstreamError> {
    if let Some(ing) = ing {
        return super::ingress::attempt(shared, c, creq, ing).await;
    }
    let Some(adapter) = &c.provider.adapter else {
        return Err(UpstreamError::Connect("provider is not usable".into()));
    };
    let timeout = c.provider.timeout;
    let a = Attempt {
        http: &shared.http,
        req: creq,
        upstream_model: &c.upstream_model,
        max_body: shared.upstream_max_body,
    };
    let started = Instant::now();
    let full = |done: Completion| full(done, c, started);
    match (api, creq.stream) {
        (Api::Embeddings, _) => adapter.embeddings(&a, timeout).await.map(full),
        (Api::Chat, false) => adapter.chat(&a, timeout).await.map(full),
        (Api::Chat, true) => open_relay(c, creq.client_wants_usage, adapter.chat_stream(&a)).await,
        // Served through `ingress::attempt` (an `Ingress` is always given).
        (Api::Messages | Api::Responses, _) => {
            Err(UpstreamError::Broken("this API needs its ingress".into()))
        }
    }
}

/// The candidates of a model in the order they are tried: tier by tier,
/// weighted-random inside a tier, each at most once.
struct Candidates<'a> {
    tiers: &'a [Vec<Candidate>],
    tier: usize,
    tried: Tried,
    /// Only candidates able to serve this API, when any can.
    only: Option<Api>,
}

impl<'a> Candidates<'a> {
    fn new(model: &'a ModelRoute, api: Api) -> Self {
        // Skip candidates that cannot serve this API (Anthropic has no
        // embeddings) as long as some candidate can; when none can, the
        // first one answers with its own clear 400.
        let only = model
            .tiers
            .iter()
            .flatten()
            .any(|c| supports(c, api))
            .then_some(api);
        Candidates {
            tiers: &model.tiers,
            tier: 0,
            tried: Tried::new(model.tiers.first().map_or(0, Vec::len)),
            only,
        }
    }

    fn next(&mut self, now: Instant) -> Option<&'a Candidate> {
        while let Some(tier) = self.tiers.get(self.tier) {
            if let Some(i) = pick(tier, &self.tried, now, self.only) {
                self.tried.set(i);
                return Some(&tier[i]);
            }
            self.tier += 1;
            if let Some(next) = self.tiers.get(self.tier) {
                self.tried = Tried::new(next.len());
            }
        }
        None
    }
}

/// What the candidates that could not answer leave for the final error.
#[derive(Default)]
struct Failed {
    /// The last upstream failure, and the provider it came from.
    last: Option<(Arc<str>, UpstreamError)>,
    /// The shortest wait for a rate-limited provider.
    rate_wait: Option<Duration>,
    /// The shortest wait for an open circuit.
    circuit_wait: Option<Duration>,
    /// Providers skipped because the server lacks their key variable.
    key_missing: Vec<String>,
    /// Attempts that failed upstream, and how many of them with a 429.
    upstream_failures: u32,
    upstream_429s: u32,
    /// The shortest `Retry-After` an upstream 429 asked for.
    upstream_wait: Option<Duration>,
}

fn shortest(slot: &mut Option<Duration>, w: Duration) {
    *slot = Some(slot.map_or(w, |a| a.min(w)));
}

impl Failed {
    /// Notes a failed attempt at `provider`.
    fn note(&mut self, provider: &Arc<str>, e: UpstreamError) {
        self.upstream_failures += 1;
        if let UpstreamError::Status { status: 429, .. } = e {
            self.upstream_429s += 1;
            if let Some(w) = e.retry_after() {
                shortest(&mut self.upstream_wait, w);
            }
        }
        self.last = Some((provider.clone(), e));
    }

    /// When every attempt ended in an upstream 429: a 429 for the client
    /// with the shortest wait any upstream asked for, else llmo's own
    /// estimate (its rate windows, an open circuit, else one second).
    fn rate_limited(&self, model: &ModelRoute) -> Option<ApiError> {
        if self.upstream_failures == 0 || self.upstream_429s < self.upstream_failures {
            return None;
        }
        let now = Instant::now();
        let wait = self.upstream_wait.or(self.rate_wait).unwrap_or_else(|| {
            model
                .tiers
                .iter()
                .flatten()
                .filter_map(|c| c.provider.live.open_remaining(now))
                .min()
                .unwrap_or(Duration::from_secs(1))
        });
        let last = self
            .last
            .as_ref()
            .map(|(p, e)| format!(" (last: provider `{p}`: {e})"))
            .unwrap_or_default();
        Some(ApiError::UpstreamRateLimited {
            message: format!(
                "every provider of model `{}` that was tried is rate-limited upstream{last}; retry after {} s",
                model.name,
                wait.as_millis().div_ceil(1000).max(1)
            ),
            retry_after: wait,
        })
    }

    /// The answer when no candidate answered.
    fn into_error(mut self, model: &ModelRoute, attempts: u32) -> ApiError {
        if let Some(e) = self.rate_limited(model) {
            return e;
        }
        if let Some((provider, error)) = self.last {
            if let UpstreamError::Unservable { status, body, .. } = error {
                // The translator's answer for the client (e.g. 502
                // `upstream_auth_failed`, 429 `insufficient_quota`).
                return ApiError::UpstreamClient { status, body };
            }
            return ApiError::Upstream {
                provider,
                attempts,
                error,
            };
        }
        if let Some(w) = self.rate_wait {
            return ApiError::RateLimited {
                message: format!(
                    "every provider of model `{}` is at its rate limit; retry later",
                    model.name
                ),
                retry_after: w,
            };
        }
        if !self.key_missing.is_empty() {
            return ApiError::KeyMissing(self.key_missing.join("; "));
        }
        if model.tiers.is_empty() {
            let why = if model.skipped.is_empty() {
                "it is mapped to no provider".to_string()
            } else {
                model.skipped.join("; ")
            };
            return ApiError::NoProvider {
                message: format!("model `{}` has no usable provider: {why}", model.name),
                retry_after: None,
            };
        }
        let now = Instant::now();
        for c in model.tiers.iter().flatten() {
            if let Some(w) = c.provider.live.open_remaining(now) {
                shortest(&mut self.circuit_wait, w);
            }
        }
        ApiError::NoProvider {
            message: format!(
                "every provider of model `{}` is unavailable: their circuits are open after repeated failures",
                model.name
            ),
            retry_after: self.circuit_wait,
        }
    }
}

/// Tries the candidates in turn until one answers (or refuses the request
/// itself); each with its own retries.
pub(super) async fn route(
    shared: &Arc<Shared>,
    model: &ModelRoute,
    creq: &ClientRequest<'_>,
    api: Api,
    ing: Option<&Ingress<'_>>,
    log: &mut LogCtx,
) -> Result<Outcome, ApiError> {
    let mut failed = Failed::default();
    let mut candidates = Candidates::new(model, api);
    while let Some(c) = candidates.next(Instant::now()) {
        if let Some(answer) = try_candidate(shared, c, (creq, api, ing), log, &mut failed).await {
            return answer;
        }
        if failed.last.is_some() {
            shared.metrics.failover(&model.name);
        }
    }
    Err(failed.into_error(model, log.attempts))
}

/// Admits an attempt at `p`; a refusal (rate limit, open circuit) notes its
/// wait in `failed`.
async fn admit(shared: &Shared, p: &ProviderRt, failed: &mut Failed) -> bool {
    let admitted = match shared.limits.is_on() {
        false => {
            let (admitted, change) = p.live.acquire(Instant::now());
            if let Some(ch) = change {
                shared.report_change(&p.name, ch);
            }
            admitted
        }
        true => admit_shared(shared, p).await,
    };
    match admitted {
        Ok(()) => true,
        Err(Refusal::RateLimited(w)) => {
            shared.metrics.rate_limited("provider", &p.name);
            shortest(&mut failed.rate_wait, w);
            false
        }
        Err(Refusal::CircuitOpen(w)) => {
            shortest(&mut failed.circuit_wait, w);
            false
        }
    }
}

/// [`admit`] with Redis: the circuit here, then the provider's limit in
/// the shared window (this replica's own when Redis cannot answer); a
/// refused attempt gives a half-open trial back.
async fn admit_shared(shared: &Shared, p: &ProviderRt) -> Result<(), Refusal> {
    let (admitted, change) = p.live.acquire_circuit(Instant::now());
    if let Some(ch) = change {
        shared.report_change(&p.name, ch);
    }
    let rpm = admitted?;
    if rpm == 0 {
        return Ok(());
    }
    // A client gone while Redis answers gives a half-open trial back too.
    let mut trial = TrialGuard {
        provider: p,
        armed: true,
    };
    let rate = match shared.limits.check(Scope::Provider(&p.name), rpm).await {
        Some(Ok(())) => {
            p.live.note_rate(Instant::now());
            Ok(())
        }
        Some(Err(wait)) => Err(wait),
        None => p.live.take_rate(Instant::now()),
    };
    // Refused: the guard's drop gives the trial back.
    trial.armed = rate.is_err();
    rate.map_err(Refusal::RateLimited)
}

/// Tries one candidate, retrying it as the [`RetryPolicy`] says: `Some`
/// with the client's answer, or `None` to move on to the next candidate.
async fn try_candidate(
    shared: &Shared,
    c: &Candidate,
    (creq, api, ing): (&ClientRequest<'_>, Api, Option<&Ingress<'_>>),
    log: &mut LogCtx,
    failed: &mut Failed,
) -> Option<Result<Outcome, ApiError>> {
    let p = &c.provider;
    if let KeyState::Missing(var) = &p.key {
        // Skipped like an open circuit: never sent upstream without its key.
        failed.key_missing.push(format!(
            "provider `{}` needs `{var}`, which is not set in the environment of `llmo serve`",
            p.name
        ));
        return None;
    }
    let mut policy = RetryPolicy::new(p.max_retries);
    while admit(shared, p, failed).await {
        log.attempts += 1;
        let t = Instant::now();
        let mut guard = TrialGuard {
            provider: p,
            armed: true,
        };
        let res = attempt(shared, c, creq, api, ing).await;
        guard.armed = false;
        log.upstream += t.elapsed();
        let e = match res {
            Ok(out) => {
                answered(shared, c, log);
                if let Outcome::Stream(_) | Outcome::Pass(_) = &out {
                    // The relay adds the streaming time itself.
                    log.upstream = log.upstream.saturating_sub(t.elapsed());
                }
                return Some(Ok(out));
            }
            Err(e) => e,
        };
        let retries = policy.retries();
        let next = policy.after(&e, random_draw);
        let e = match (next, e) {
            (Next::GiveUp, UpstreamError::Status { status, body, .. }) => {
                // The upstream is up and refused this request.
                answered(shared, c, log);
                return Some(Err(ApiError::UpstreamClient { status, body }));
            }
            (_, e) => e,
        };
        tracing::debug!(provider = %p.name, attempt = retries + 1, "upstream attempt failed: {e}");
        let ch = p.live.on_failure(
            Instant::now(),
            crate::time::now_ms(),
            &e.to_string(),
            shared.breaker,
        );
        if let Some(ch) = ch {
            shared.report_change(&p.name, ch);
        }
        failed.note(&p.name, e);
        let Next::Retry(wait) = next else {
            return None;
        };
        tokio::time::sleep(wait).await;
        log.waited += wait;
        shared.metrics.retry(&p.name);
    }
    None
}

/// The provider answered (a success, or a refusal that proves it is up).
fn answered(shared: &Shared, c: &Candidate, log: &mut LogCtx) {
    if let Some(ch) = c.provider.live.on_success(crate::time::now_ms()) {
        shared.report_change(&c.provider.name, ch);
    }
    log.provider = Some(c.provider.name.clone());
    log.upstream_model = Some(c.upstream_model.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_beyond_the_limit_is_refused_naming_it() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(check_nesting(deep(127).as_bytes()).is_ok());
        let e = check_nesting(deep(200).as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("nested deeper than 128 levels"),
            "{e}"
        );
        // Brackets inside strings do not count.
        let s = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(300), "{".repeat(300));
        assert!(check_nesting(s.as_bytes()).is_ok());
    }

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
}

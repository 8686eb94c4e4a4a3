//! The admin API (`/admin/*`, JSON) and web UI (`/admin-ui/*`, static files),
//! independent of the HTTP server that mounts them: the gateway turns a
//! hyper request into an [`AdminRequest`] and an [`AdminResponse`] back into
//! a hyper response. Owns admin-key authentication, the per-IP slow-down of
//! repeated failures and the security headers of every admin response.
//!
//! Off unless an admin key is configured (there is never a default key):
//! without one, every admin path answers 503 saying how to set one.
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::secret::Secret;

pub mod api;
pub mod assets;

/// Largest request body the admin API accepts (413 above).
pub const MAX_BODY: usize = 1024 * 1024;

/// Headers sent on every admin API and UI response. The CSP allows no inline
/// script or style, no third-party origin and no framing.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// What the admin UI and API say when no admin key is configured.
pub const DISABLED_MESSAGE: &str = "the admin API and UI are off because no admin key is \
     configured; create one with `llmo admin-key generate --out /etc/llmo/admin.key` and start \
     `llmo serve --admin-key-file /etc/llmo/admin.key` (or set `LLMO_ADMIN_KEY`, or \
     `admin_key_file` in the config file)";

/// One request to `/admin/*` or `/admin-ui/*`, transport-independent.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    pub method: http::Method,
    /// The path after the `/admin` prefix, e.g. `/providers/openai`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    /// The whole body (the server reads at most [`MAX_BODY`] + 1 bytes).
    pub body: Bytes,
    pub peer: IpAddr,
}

/// The answer, for the server to send as is.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl AdminResponse {
    /// A JSON response with the security headers and `no-store`.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        let mut r = AdminResponse {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            body: Bytes::from(body),
        };
        r.add_security_headers();
        r
    }

    /// An error in the OpenAI shape: `{"error":{"message","type","param","code"}}`.
    pub fn error(
        status: u16,
        kind: &str,
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": {
                "message": message.into(),
                "type": kind,
                "param": param,
                "code": code,
            }}),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn add_security_headers(&mut self) {
        for (k, v) in SECURITY_HEADERS {
            self.headers.push((k, v.to_string()));
        }
    }
}

/// What the admin API needs from the running gateway.
pub trait LiveView: Send + Sync {
    /// The current circuit state per provider, as the gateway's `/ready`
    /// `providers` array.
    fn provider_states(&self) -> serde_json::Value;
    /// Asks the gateway to reload its routing snapshot now (it also polls),
    /// and may wait (briefly) until it has: called on the blocking pool, so
    /// that when the admin API answers, the change already routes.
    fn config_changed(&self);
}

/// A [`LiveView`] for an admin API served without a gateway (tests, the
/// development server): no live circuit state, nothing to reload.
#[derive(Debug, Default)]
pub struct NoLiveView;

impl LiveView for NoLiveView {
    fn provider_states(&self) -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }
    fn config_changed(&self) {}
}

/// The admin API and UI. Cheap to share (`Arc<Admin>`); every method takes
/// `&self`.
pub struct Admin {
    db_path: PathBuf,
    /// SHA-256 of the admin key: compared in constant time, and the key
    /// itself is not kept.
    key_digest: Option<[u8; 32]>,
    live: Arc<dyn LiveView>,
    /// One connection, opened on first use and reused (admin traffic is
    /// light; rusqlite work runs on the blocking pool).
    store: Arc<Mutex<Option<crate::db::Store>>>,
    limiter: Mutex<FailureLimiter>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("db_path", &self.db_path)
            .field("enabled", &self.key_digest.is_some())
            .finish()
    }
}

impl Admin {
    pub fn new(db_path: PathBuf, admin_key: Option<Secret>, live: Arc<dyn LiveView>) -> Self {
        Admin {
            db_path,
            key_digest: admin_key.map(|k| sha256(k.expose().as_bytes())),
            live,
            store: Arc::new(Mutex::new(None)),
            limiter: Mutex::new(FailureLimiter::new(LIMITER_CAPACITY)),
            http: reqwest::Client::builder()
                .user_agent(concat!("llmo/", env!("CARGO_PKG_VERSION"), " (admin test)"))
                .build()
                .unwrap_or_default(),
        }
    }

    /// True when an admin key is configured.
    pub fn enabled(&self) -> bool {
        self.key_digest.is_some()
    }

    /// Serves `/admin/*`: authentication, then the JSON API.
    pub async fn handle_api(&self, req: AdminRequest) -> AdminResponse {
        if !self.enabled() {
            return AdminResponse::error(
                503,
                "admin_disabled",
                DISABLED_MESSAGE,
                None,
                Some("admin_disabled"),
            );
        }
        if let Err(resp) = self.authenticate(&req) {
            return resp;
        }
        api::handle(self, req).await
    }

    /// Serves `/admin-ui/*` (the part after `/admin-ui`): embedded files with
    /// ETags. The files hold no data; every datum comes from the API, which
    /// needs the key.
    pub fn handle_ui(&self, path: &str, if_none_match: Option<&str>) -> AdminResponse {
        let mut r = if self.enabled() {
            assets::serve(path, if_none_match)
        } else {
            assets::disabled_page()
        };
        r.add_security_headers();
        r
    }

    fn authenticate(&self, req: &AdminRequest) -> Result<(), AdminResponse> {
        let Some(expected) = &self.key_digest else {
            return Err(AdminResponse::error(
                503,
                "admin_disabled",
                DISABLED_MESSAGE,
                None,
                None,
            ));
        };
        let now = Instant::now();
        if let Some(wait) = self.lock_limiter().blocked_for(req.peer, now) {
            return Err(too_many(wait));
        }
        let presented = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return Err(AdminResponse::error(
                401,
                "authentication_error",
                "missing admin key: send `Authorization: Bearer <admin key>`",
                None,
                Some("missing_admin_key"),
            ));
        };
        if constant_time_eq(&sha256(presented.as_bytes()), expected) {
            self.lock_limiter().succeeded(req.peer);
            return Ok(());
        }
        let failures = self.lock_limiter().failed(req.peer, now);
        // Never the key, not even masked: a near-miss would leak characters.
        tracing::warn!(peer = %req.peer, failures, path = %req.path, "admin API: wrong admin key");
        Err(AdminResponse::error(
            401,
            "authentication_error",
            "wrong admin key",
            None,
            Some("invalid_admin_key"),
        ))
    }

    fn lock_limiter(&self) -> std::sync::MutexGuard<'_, FailureLimiter> {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with the store on the blocking pool.
    pub(crate) async fn with_store<T, F>(&self, f: F) -> Result<T, crate::db::StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::db::Store) -> Result<T, crate::db::StoreError> + Send + 'static,
    {
        let slot = self.store.clone();
        let path = self.db_path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(crate::db::Store::open(&path)?.0);
            }
            match guard.as_mut() {
                Some(store) => f(store),
                None => Err(crate::db::StoreError::Migration("store not open".into())),
            }
        })
        .await
        .map_err(|e| crate::db::StoreError::Io {
            context: "admin database task".into(),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    pub(crate) fn live(&self) -> &dyn LiveView {
        &*self.live
    }

    /// Tells the gateway the catalog changed and waits for its reload.
    pub(crate) async fn config_changed(&self) {
        let live = self.live.clone();
        let _ = tokio::task::spawn_blocking(move || live.config_changed()).await;
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

fn too_many(wait: Duration) -> AdminResponse {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut r = AdminResponse::error(
        429,
        "rate_limit_error",
        format!("too many wrong admin keys from this address; retry in {secs} s"),
        None,
        Some("too_many_auth_failures"),
    );
    r.headers.push(("retry-after", secs.to_string()));
    r
}

pub(crate) fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Compares two digests in time independent of where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Addresses tracked at most (the map never grows past this).
const LIMITER_CAPACITY: usize = 4096;
/// Wrong keys within [`FAILURE_WINDOW`] that trigger a block.
pub const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BLOCK: Duration = Duration::from_secs(5);
const MAX_BLOCK: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
    /// Blocks so far; each doubles the next one.
    strikes: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// Slows down guessing: after [`MAX_FAILURES`] wrong keys from one address
/// within a minute, that address gets 429 for 5 s, then 10 s, 20 s, ... (at
/// most 15 min) on each further round of failures. Bounded: when full, the
/// entries idle longest make room.
#[derive(Debug)]
pub struct FailureLimiter {
    map: HashMap<IpAddr, Failures>,
    capacity: usize,
}

impl FailureLimiter {
    pub fn new(capacity: usize) -> Self {
        FailureLimiter {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How long `ip` must still wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.map.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a wrong key; returns the failures in the current window.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> u32 {
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity {
            self.evict(now);
        }
        let e = self.map.entry(ip).or_insert(Failures {
            window_start: now,
            count: 0,
            strikes: 0,
            blocked_until: None,
            last_seen: now,
        });
        if now.duration_since(e.window_start) > FAILURE_WINDOW {
            e.window_start = now;
            e.count = 0;
        }
        e.count += 1;
        e.last_seen = now;
        let count = e.count;
        if e.count >= MAX_FAILURES {
            let factor = 1u32 << e.strikes.min(16);
            e.blocked_until = Some(now + (FIRST_BLOCK * factor).min(MAX_BLOCK));
            e.strikes += 1;
            e.count = 0;
            e.window_start = now;
        }
        count
    }

    /// A right key clears the address's record.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.map.remove(&ip);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn evict(&mut self, now: Instant) {
        // First drop everything that no longer matters; if the map is still
        // full, the address idle longest goes.
        self.map.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now)
                || now.duration_since(f.last_seen) <= FAILURE_WINDOW
        });
        if self.map.len() >= self.capacity {
            if let Some(ip) = self
                .map
                .iter()
                .min_by_key(|(_, f)| f.last_seen)
                .map(|(ip, _)| *ip)
            {
                self.map.remove(&ip);
            }
        }
    }
}

/// True for the paths the admin module serves: `/admin`, `/admin/*`,
/// `/admin-ui` and `/admin-ui/*`.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin"
        || path.starts_with("/admin/")
        || path == "/admin-ui"
        || path.starts_with("/admin-ui/")
}

/// Answers one hyper request for an admin path (see [`is_admin_path`]):
/// what the gateway's router calls. Reads at most [`MAX_BODY`] + 1 bytes of
/// body (413 above, also when `Content-Length` says so up front).
pub async fn route(
    admin: &Admin,
    req: hyper::Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> AdminResponse {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    if path == "/admin-ui" {
        return redirect("/admin-ui/");
    }
    if let Some(rest) = path.strip_prefix("/admin-ui/") {
        let inm = req
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        return admin.handle_ui(rest, inm);
    }
    if !(path == "/admin" || path.starts_with("/admin/")) {
        return AdminResponse::error(404, "not_found_error", "not found", None, None);
    }
    let (parts, body) = req.into_parts();
    let declared_too_big = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64);
    if declared_too_big {
        return too_large();
    }
    let Ok(body) = http_body_util::Limited::new(body, MAX_BODY + 1)
        .collect()
        .await
        .map(|b| b.to_bytes())
    else {
        return too_large();
    };
    admin
        .handle_api(AdminRequest {
            method: parts.method,
            path: path["/admin".len()..].to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
            peer,
        })
        .await
}

/// The 413 answer for a body over [`MAX_BODY`].
pub fn too_large() -> AdminResponse {
    AdminResponse::error(
        413,
        "invalid_request_error",
        format!("request body is larger than {} bytes", MAX_BODY),
        None,
        Some("body_too_large"),
    )
}

fn redirect(to: &str) -> AdminResponse {
    let mut r = AdminResponse {
        status: 308,
        headers: vec![("location", to.to_string())],
        body: Bytes::new(),
    };
    r.add_security_headers();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_with_growing_waits() {
        let mut l = FailureLimiter::new(16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for i in 1..=4 {
            assert_eq!(l.failed(ip, t0), i);
            assert!(l.blocked_for(ip, t0).is_none());
        }
        l.failed(ip, t0);
        assert_eq!(l.blocked_for(ip, t0), Some(Duration::from_secs(5)));
        // Another round after the block: twice as long.
        let t1 = t0 + Duration::from_secs(6);
        assert!(l.blocked_for(ip, t1).is_none());
        for _ in 0..5 {
            l.failed(ip, t1);
        }
        assert_eq!(l.blocked_for(ip, t1), Some(Duration::from_secs(10)));
        // Other addresses are not affected; a right key clears the record.
        assert!(l.blocked_for("192.0.2.8".parse().unwrap(), t1).is_none());
        l.succeeded(ip);
        assert!(l.blocked_for(ip, t1).is_none());
    }

    #[test]
    fn failures_spread_over_minutes_do_not_block() {
        let mut l = FailureLimiter::new(16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..20 {
            let t = t0 + Duration::from_secs(61 * i);
            l.failed(ip, t);
            assert!(l.blocked_for(ip, t).is_none());
        }
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut l = FailureLimiter::new(8);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            l.failed(ip, t0 + Duration::from_millis(u64::from(i)));
            assert!(l.len() <= 8);
        }
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        let a = sha256(b"llmo-admin-one");
        assert!(constant_time_eq(&a, &sha256(b"llmo-admin-one")));
        assert!(!constant_time_eq(&a, &sha256(b"llmo-admin-two")));
    }
}

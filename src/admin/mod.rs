//! The admin API (`/admin/*`, JSON) and web UI (`/admin-ui/*`, static files),
//! independent of the HTTP server that mounts them: the gateway turns a
//! hyper request into an [`AdminRequest`] and an [`AdminResponse`] back into
//! a hyper response (`transport`). [`Admin`] is the service: admin-key
//! authentication and the per-IP slow-down of repeated failures (`auth`),
//! then the JSON API ([`api`]) or the embedded UI files ([`assets`]).
//!
//! Off unless an admin key is configured (there is never a default key):
//! without one, every admin path answers 503 saying how to set one.
use std::sync::{Arc, Mutex};

use crate::secret::Secret;
use auth::{sha256, FailureLimiter, LIMITER_CAPACITY};
use transport::too_large;
pub(crate) use transport::{is_admin_path, route};
pub use transport::{AdminRequest, AdminResponse, MAX_BODY};

pub mod api;
pub mod assets;
mod auth;
mod transport;

/// What the admin UI and API say when no admin key is configured.
pub(crate) const DISABLED_MESSAGE: &str = "the admin API and UI are off because no admin key is \
     configured; create one with `llmo admin-key generate --out /etc/llmo/admin.key` and start \
     `llmo serve --admin-key-file /etc/llmo/admin.key` (or set `LLMO_ADMIN_KEY`, or \
     `admin_key_file` in the config file)";

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

/// The admin API and UI. Cheap to share (`Arc<Admin>`); every method takes
/// `&self`.
pub struct Admin {
    db_path: crate::db::DbLocation,
    /// SHA-256 of the admin key: compared in constant time, and the key
    /// itself is not kept.
    key_digest: Option<[u8; 32]>,
    live: Arc<dyn LiveView>,
    /// One connection, opened on first use and reused (admin traffic is
    /// light; store work runs on the blocking pool).
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

/// The client of the provider test: the gateway's trusted roots (a bad
/// `SSL_CERT_FILE` already stopped `serve`; elsewhere the embedded roots).
fn admin_http_client() -> reqwest::Client {
    const UA: &str = concat!("llmo/", env!("CARGO_PKG_VERSION"), " (admin test)");
    let b = reqwest::Client::builder().user_agent(UA);
    crate::gateway::providers::tls::with_extra_roots(b)
        .unwrap_or_else(|_| reqwest::Client::builder().user_agent(UA))
        .build()
        .unwrap_or_default()
}

impl Admin {
    pub fn new(
        db_path: impl Into<crate::db::DbLocation>,
        admin_key: Option<Secret>,
        live: Arc<dyn LiveView>,
    ) -> Self {
        Admin {
            db_path: db_path.into(),
            key_digest: admin_key.map(|k| sha256(k.expose().as_bytes())),
            live,
            store: Arc::new(Mutex::new(None)),
            limiter: Mutex::new(FailureLimiter::new(LIMITER_CAPACITY)),
            http: admin_http_client(),
        }
    }

    /// True when an admin key is configured.
    pub(crate) fn enabled(&self) -> bool {
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
